/*
 * What the store's files share, for them alone (nothing outside store/
 * includes this): the format constants, the private structs, and the
 * helpers one file of the store calls in another.  The formats and the
 * return convention of the apply and read paths are described at the top
 * of store.c.
 */
#ifndef CHAINFS_STORE_INT_H
#define CHAINFS_STORE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "common/wire.h"
#include "store/store.h"

/* Linux ABI values carried in op flags, in case the libc headers lack them. */
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

/* Sizes and limits of the formats described at the top of store.c. */
#define STORE_FORMAT 2	     /* meta "format": every record as below (store_migrate) */
#define STORE_INODE_FORMAT 2 /* written; format 1 (no flags) is still read */
#define STORE_INODE_FIXED1 (1 + 4 * 4 + 8 * 3 + 12 * 3 + 8 * 5 + 4)
#define STORE_INODE_FIXED (STORE_INODE_FIXED1 + 4)
#define STORE_ATTR_SIZE (8 * 4 + 4 * 4 + 12 * 3 + 8 + 4) /* what store_attr_enc writes */
#define STORE_RESULT_SIZE (4 + 4 + STORE_ATTR_SIZE + 8)
#define STORE_RESULT_SIZE1 (STORE_RESULT_SIZE - 4) /* before attr had flags */
#define STORE_DIR_SIZE 4096
#define STORE_DIR_BLOCKS 8
#define STORE_FIRST_COOKIE 3
#define STORE_MAX_FILE_SIZE ((uint64_t)INT64_MAX)
#define STORE_LINK_MAX 65000       /* as ext4 */
#define STORE_MAX_DEPTH (1u << 20) /* bounds the parent walk on a corrupt store */
#define STORE_OPENS_MAX (1u << 16) /* open references one session may hold */

/* The named databases; the digest covers them in this order, log excepted. */
enum store_db {
	STORE_DB_META,
	STORE_DB_INODES,
	STORE_DB_DIRENTS,
	STORE_DB_COOKIES,
	STORE_DB_BLOCKS,
	STORE_DB_XATTRS,
	STORE_DB_RESULTS,
	STORE_DB_FLOORS,
	STORE_DB_LOG,
	/* Added with locks: after log, so that older stores' numbers stay. */
	STORE_DB_LOCKS,
	STORE_DB_LKWAIT,
	STORE_DB_LKOWN,
	STORE_DB_LKSESS,
	STORE_DB_OPENS, /* added with open references */
	STORE_NDB
};

/* Their names in LMDB (store.c). */
extern const char *const store_db_names[STORE_NDB];

/* Values at least this big are read with pread (store_put_mapped). */
#define STORE_PREAD_MIN 16384

struct store {
	MDB_env *env;
	MDB_dbi dbi[STORE_NDB];
	uint64_t applied_sn; /* cached copies of meta, changed only by commits */
	uint64_t next_ino;
	MDB_txn *batch;	     /* open between store_batch_begin and _commit */
	uint64_t batch_applied_sn, batch_next_ino; /* the caches when it began */
	uint8_t *buf; /* one block for read-modify-write */
	unsigned ok_reads, fail_reads; /* fault injection (tests): after ok_reads, fail_reads fail */
	struct store_changes *changes; /* store_track; NULL: not collecting */
	struct store_syncer *syncer;   /* store_sync_start's thread; NULL until then */
	const uint8_t *map; /* LMDB's map of the data file, for store_put_mapped */
	size_t mapsize;
	int fd; /* the data file; -1: copy from the map */
	uint64_t preads; /* bytes store_put_mapped read with pread */
	struct store_grant *grants; /* what the entry being applied decided (store_grants) */
	size_t ngrants, capgrants;
};

/* An inode as the store keeps it. */
struct store_inode {
	struct cfs_attr a;
	uint64_t parent;
	uint64_t next_cookie;
	uint64_t nentries;
	uint64_t nxattrs;
	uint64_t stored;
	uint32_t linklen;
	char link[CFS_PATH_MAX];
};

/* One operation being applied or read, in one transaction. */
struct store_tx {
	struct store *s;
	MDB_txn *txn;
	const struct cfs_entry *e; /* NULL for reads */
	struct cfs_reply *res;
	int ino_used; /* the entry's new_ino now names an inode */
};

/* store.c: the meta counters; a read transaction that sees an open batch. */
int store_meta_put(MDB_txn *txn, struct store *s, const char *name, uint64_t val);
int store_meta_get(MDB_txn *txn, struct store *s, const char *name, uint64_t dflt, uint64_t *out);
int store_init(struct store *s, MDB_txn *txn);
int store_drop_all(MDB_txn *txn, struct store *s);
int store_with_read(struct store *s, int (*fn)(struct store_tx *, void *), void *arg);
void store_put_mapped(struct store *s, struct cfs_wbuf *out, const void *p, size_t len);

/* store_db.c: big-endian keys and values, LMDB calls, the attr codec. */
uint8_t *store_put_be(uint8_t *p, uint64_t v, int n);
uint64_t store_get_be(const uint8_t **pp, int n);
void store_key2(uint8_t k[16], uint64_t a, uint64_t b);
size_t store_key_name(uint8_t *k, uint64_t ino, const char *name, size_t len);
uint64_t store_val64(const void *p);
int store_mdb_fail(const char *func, const char *what, int rc);
int store_db_get(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, MDB_val *v);
int store_db_put(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, const void *p, size_t len);
int store_db_del(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen);
int store_db_seek(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, size_t plen, MDB_val *key,
                  MDB_val *val);
int store_del_prefix(struct store_tx *tx, MDB_dbi dbi, uint64_t ino);
uint8_t *store_attr_enc(uint8_t *p, const struct cfs_attr *a);
const uint8_t *store_attr_dec(const uint8_t *p, struct cfs_attr *a, int with_flags);

/* store_inode.c: inode records, directory entries, names. */
int store_inode_get(struct store_tx *tx, uint64_t ino, struct store_inode *n);
int store_inode_put(struct store_tx *tx, struct store_inode *n);
void store_changed_inode(struct store *s, uint64_t ino);
void store_gone_inode(struct store *s, uint64_t ino);
int store_dir_get(struct store_tx *tx, uint64_t ino, struct store_inode *n);
int store_name_check(const char *name, size_t len);
void store_touch(struct store_tx *tx, struct cfs_attr *a, int atime, int mtime);
void store_dir_changed(struct store_tx *tx, struct store_inode *dir);
int store_dirent_get(struct store_tx *tx, uint64_t dir, const char *name, size_t len, uint64_t *ino,
                     uint64_t *cookie);
int store_dirent_set(struct store_tx *tx, uint64_t dir, const char *name, size_t len, uint64_t ino,
                     uint64_t cookie);
int store_dirent_add(struct store_tx *tx, struct store_inode *d, const char *name, size_t len,
                     uint64_t ino);
int store_dirent_del(struct store_tx *tx, struct store_inode *d, const char *name, size_t len,
                     uint64_t cookie);
int store_inode_free(struct store_tx *tx, struct store_inode *n);
int store_inode_unlink(struct store_tx *tx, struct store_inode *n);
int store_inode_get_linked(struct store_tx *tx, uint64_t ino, struct store_inode *n);
int store_is_ancestor(struct store_tx *tx, uint64_t anc, uint64_t ino);
int store_xattr_name(const struct cfs_op *op);

/* store_blocks.c: file contents, with the READ and LSEEK of store_read. */
int store_blocks_trunc(struct store_tx *tx, struct store_inode *n, uint64_t size);
int store_blocks_write(struct store_tx *tx, struct store_inode *n, uint64_t off, const uint8_t *src,
                       size_t len);
int store_blocks_punch(struct store_tx *tx, struct store_inode *n, uint64_t off, uint64_t end);
int store_rd_read(struct store_tx *tx, const struct cfs_op *op, struct cfs_wbuf *out);
int store_rd_lseek(struct store_tx *tx, const struct cfs_op *op);

/*
 * store_perm.c: the checks of an op with CFS_OP_CHECK_PERM, made for its
 * anonymous caller (op->caller_uid, op->caller_gid) before its handler runs,
 * on an op without the bit.  Return 0 (allowed, also when an inode or name
 * the check needs is missing: the handler fails the op as usual), a positive
 * errno (the op's status), or a negative errno (the store failed).  An
 * update's check may adjust op as Linux would for an unprivileged caller
 * (drop set-gid, clear set-uid on a write, make a create the caller's).
 */
int store_perm_update(struct store_tx *tx, struct cfs_op *op);
int store_perm_read(struct store_tx *tx, const struct cfs_op *op);

/* store_results.c: the result table and client floors. */
void store_result_enc(uint8_t out[STORE_RESULT_SIZE], const struct cfs_reply *r);
int store_result_dec(const MDB_val *v, struct cfs_reply *r);
int store_results_trim(struct store_tx *tx, uint64_t client, uint64_t acked_below, int64_t now);
int store_sessions_expire(struct store_tx *tx, int64_t cutoff);

/* store_locks.c: the lock table and its queue. */
int store_op_setlk(struct store_tx *tx);
int store_op_unlock(struct store_tx *tx);
int store_op_lkcancel(struct store_tx *tx);
int store_op_lkexpire(struct store_tx *tx);
int store_locks_drop_ino(struct store_tx *tx, uint64_t ino);
int store_rd_getlk(struct store_tx *tx, const struct cfs_op *op, struct cfs_wbuf *out);
int store_rd_lkstate(struct store_tx *tx, const struct cfs_op *op);

/* store_opens.c: open references and orphans. */
int store_op_openref(struct store_tx *tx);
int store_op_closeref(struct store_tx *tx);
int store_opens_add(struct store_tx *tx, uint64_t session, uint64_t ino);
int store_opens_end_session(struct store_tx *tx, uint64_t session);
int store_opens_drop(struct store_tx *tx);
int store_opens_sessions(struct store_tx *tx, void (*fn)(void *, uint64_t), void *arg);
int store_inode_orphan(struct store_tx *tx, struct store_inode *n);

#endif
