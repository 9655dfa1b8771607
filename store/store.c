/*
 * The replicated state of one node in LMDB; the interface is store.h.
 *
 * Choices made here (the design leaves them to the store):
 *
 * - Every key is big-endian so that LMDB's byte order is numeric order.
 *   Values are big-endian too; nothing here depends on the wire codec except
 *   the log (which holds encoded entries) and the READDIR/STATFS data.
 * - Inode record (inodes DB), format 1, big-endian:
 *     format u8, mode u32, nlink u32, uid u32, gid u32, rdev u64, size u64,
 *     version u64, atime sec i64 nsec u32, mtime sec/nsec, ctime sec/nsec,
 *     parent u64 (directories: the directory holding it; root: itself;
 *     others: 0), next_cookie u64 (directories: the cookie the next dirent
 *     gets), nentries u64 (directories: dirents besides "." and ".."),
 *     nxattrs u64, stored u64 (bytes held in the blocks DB),
 *     linklen u32, then the symlink target.
 *   The inode number is the key; st_blocks is derived, never stored.
 * - Directories have size 4096 and 8 blocks whatever they hold, as an
 *   ext4 directory of one block; their nlink is 2 + subdirectories.
 * - Regular files: STORE_BLOCK_SIZE blocks keyed (ino, index).  A block holds
 *   the bytes from its start up to the last byte ever written in it; bytes
 *   past a block's stored length, and absent blocks, read as zeros.  No byte
 *   at or past the file size is ever stored (truncation cuts the last block),
 *   so extending a file always exposes zeros.  st_blocks is the stored
 *   length of all blocks in 512-byte units, rounded up.  FALLOCATE mode 0
 *   only extends the size: LMDB has no way to reserve space for one file.
 * - Symlink targets live in the inode record (no blocks, st_blocks 0).
 * - Readdir cookies: "." is 1, ".." is 2, each new dirent takes the
 *   directory's next_cookie (starting at 3), which only grows.  A rename
 *   gives the name a new cookie in its new place; an exchange keeps both.
 * - attr.version is set to the entry's sn by every change of a file's
 *   contents or size, and of a directory's entries.
 * - Reads never change atime (the store acts as if mounted noatime: reads
 *   do not go down the chain).
 * - Every update runs in a child transaction of the entry's transaction, so
 *   an operation that fails part way leaves nothing behind; the result table
 *   and applied_sn are then written in the parent.
 *
 * Inside this file, functions on the apply and read paths return 0, a
 * positive errno (the operation's status) or a negative errno (the store
 * itself failed: -ENOSPC when the map is full, -EIO otherwise).
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <lmdb.h>
#include <openssl/evp.h>

#include "common/log.h"
#include "common/wire.h"
#include "store/store.h"

/* Linux ABI values carried in op flags, in case the libc headers lack them. */
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef RENAME_WHITEOUT
#define RENAME_WHITEOUT (1 << 2)
#endif
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif
#ifndef SEEK_DATA
#define SEEK_DATA 3
#endif
#ifndef SEEK_HOLE
#define SEEK_HOLE 4
#endif
#define STORE_XATTR_CREATE 0x1  /* XATTR_CREATE */
#define STORE_XATTR_REPLACE 0x2 /* XATTR_REPLACE */

#define STORE_INODE_FORMAT 1
#define STORE_INODE_FIXED (1 + 4 * 4 + 8 * 3 + 12 * 3 + 8 * 5 + 4)
#define STORE_ATTR_SIZE (8 * 4 + 4 * 4 + 12 * 3 + 8) /* what store_attr_enc writes */
#define STORE_RESULT_SIZE (4 + 4 + STORE_ATTR_SIZE + 8)
#define STORE_DIR_SIZE 4096
#define STORE_DIR_BLOCKS 8
#define STORE_FIRST_COOKIE 3
#define STORE_MAX_FILE_SIZE ((uint64_t)INT64_MAX)
#define STORE_LINK_MAX 65000       /* as ext4 */
#define STORE_MAX_DEPTH (1u << 20) /* bounds the parent walk on a corrupt store */

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
	STORE_NDB
};

static const char *const store_db_names[STORE_NDB] = {
    "meta", "inodes", "dirents", "cookies", "blocks", "xattrs", "results", "floors", "log",
};

struct store {
	MDB_env *env;
	MDB_dbi dbi[STORE_NDB];
	uint64_t applied_sn; /* cached copies of meta, changed only by commits */
	uint64_t next_ino;
	MDB_txn *batch;	     /* open between store_batch_begin and _commit */
	uint64_t batch_applied_sn, batch_next_ino; /* the caches when it began */
	uint8_t *buf; /* one block for read-modify-write */
	unsigned ok_reads, fail_reads; /* fault injection (tests): after ok_reads, fail_reads fail */
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

static uint8_t store_zeros[STORE_BLOCK_SIZE];

/* Writes v big-endian in n bytes at p and returns the byte after. */
static uint8_t *
store_put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
	return p + n;
}

/* Reads n big-endian bytes at *pp and steps past them. */
static uint64_t
store_get_be(const uint8_t **pp, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | (*pp)[i];
	*pp += n;
	return v;
}

/* Builds the key (a, b), both big-endian. */
static void
store_key2(uint8_t k[16], uint64_t a, uint64_t b)
{
	store_put_be(k, a, 8);
	store_put_be(k + 8, b, 8);
}

/* Builds the key (ino, name) and returns its length. */
static size_t
store_key_name(uint8_t *k, uint64_t ino, const char *name, size_t len)
{
	store_put_be(k, ino, 8);
	if (len > 0)
		memcpy(k + 8, name, len);
	return 8 + len;
}

/* Reads the big-endian u64 at the start of a key or value. */
static uint64_t
store_val64(const void *p)
{
	const uint8_t *q = p;

	return store_get_be(&q, 8);
}

/* Logs an LMDB failure and maps it to the store's negative errno. */
static int
store_mdb_fail(const char *func, const char *what, int rc)
{
	log_warnx("%s: %s: %s", func, what, mdb_strerror(rc));
	return rc == MDB_MAP_FULL ? -ENOSPC : -EIO;
}

/* Fetches a value: 0, ENOENT when absent, or a negative errno. */
static int
store_db_get(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, MDB_val *v)
{
	MDB_val key = {klen, (void *)k};
	int rc;

	rc = mdb_get(txn, dbi, &key, v);
	if (rc == MDB_NOTFOUND)
		return ENOENT;
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_get", rc);
	return 0;
}

/* Stores a value: 0 or a negative errno. */
static int
store_db_put(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, const void *p, size_t len)
{
	MDB_val key = {klen, (void *)k}, val = {len, (void *)p};
	int rc;

	rc = mdb_put(txn, dbi, &key, &val, 0);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_put", rc);
	return 0;
}

/* Deletes a key: 0, ENOENT when absent, or a negative errno. */
static int
store_db_del(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen)
{
	MDB_val key = {klen, (void *)k};
	int rc;

	rc = mdb_del(txn, dbi, &key, NULL);
	if (rc == MDB_NOTFOUND)
		return ENOENT;
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_del", rc);
	return 0;
}

/*
 * Finds the first key >= (k, klen) that starts with the same prefix of plen
 * bytes: 0 with key and value filled, ENOENT when there is none, or a
 * negative errno.
 */
static int
store_db_seek(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, size_t plen, MDB_val *key,
              MDB_val *val)
{
	MDB_cursor *cur;
	int rc;

	rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_cursor_open", rc);
	key->mv_size = klen;
	key->mv_data = (void *)k;
	rc = mdb_cursor_get(cur, key, val, MDB_SET_RANGE);
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		return ENOENT;
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_cursor_get", rc);
	if (key->mv_size < plen || memcmp(key->mv_data, k, plen) != 0)
		return ENOENT;
	return 0;
}

/* Reads a u64 from meta; absent reads as dflt. */
static int
store_meta_get(MDB_txn *txn, struct store *s, const char *name, uint64_t dflt, uint64_t *out)
{
	MDB_val v;
	int rc;

	rc = store_db_get(txn, s->dbi[STORE_DB_META], name, strlen(name), &v);
	if (rc == ENOENT) {
		*out = dflt;
		return 0;
	}
	if (rc != 0)
		return rc;
	if (v.mv_size != 8) {
		log_warnx("%s: meta %s has %zu bytes", __func__, name, v.mv_size);
		return -EIO;
	}
	*out = store_val64(v.mv_data);
	return 0;
}

/* Writes a u64 to meta. */
static int
store_meta_put(MDB_txn *txn, struct store *s, const char *name, uint64_t val)
{
	uint8_t b[8];

	store_put_be(b, val, 8);
	return store_db_put(txn, s->dbi[STORE_DB_META], name, strlen(name), b, sizeof(b));
}

/* Encodes a cfs_attr in STORE_ATTR_SIZE bytes. */
static uint8_t *
store_attr_enc(uint8_t *p, const struct cfs_attr *a)
{
	p = store_put_be(p, a->ino, 8);
	p = store_put_be(p, a->mode, 4);
	p = store_put_be(p, a->nlink, 4);
	p = store_put_be(p, a->uid, 4);
	p = store_put_be(p, a->gid, 4);
	p = store_put_be(p, a->rdev, 8);
	p = store_put_be(p, a->size, 8);
	p = store_put_be(p, a->blocks, 8);
	p = store_put_be(p, (uint64_t)a->atime_sec, 8);
	p = store_put_be(p, a->atime_nsec, 4);
	p = store_put_be(p, (uint64_t)a->mtime_sec, 8);
	p = store_put_be(p, a->mtime_nsec, 4);
	p = store_put_be(p, (uint64_t)a->ctime_sec, 8);
	p = store_put_be(p, a->ctime_nsec, 4);
	p = store_put_be(p, a->version, 8);
	return p;
}

/* Decodes what store_attr_enc wrote. */
static const uint8_t *
store_attr_dec(const uint8_t *p, struct cfs_attr *a)
{
	a->ino = store_get_be(&p, 8);
	a->mode = (uint32_t)store_get_be(&p, 4);
	a->nlink = (uint32_t)store_get_be(&p, 4);
	a->uid = (uint32_t)store_get_be(&p, 4);
	a->gid = (uint32_t)store_get_be(&p, 4);
	a->rdev = store_get_be(&p, 8);
	a->size = store_get_be(&p, 8);
	a->blocks = store_get_be(&p, 8);
	a->atime_sec = (int64_t)store_get_be(&p, 8);
	a->atime_nsec = (uint32_t)store_get_be(&p, 4);
	a->mtime_sec = (int64_t)store_get_be(&p, 8);
	a->mtime_nsec = (uint32_t)store_get_be(&p, 4);
	a->ctime_sec = (int64_t)store_get_be(&p, 8);
	a->ctime_nsec = (uint32_t)store_get_be(&p, 4);
	a->version = store_get_be(&p, 8);
	return p;
}

/* Sets the derived st_blocks of an inode. */
static void
store_inode_blocks(struct store_inode *n)
{
	if (S_ISDIR(n->a.mode))
		n->a.blocks = STORE_DIR_BLOCKS;
	else
		n->a.blocks = (n->stored + 511) / 512;
}

/* Loads inode ino: 0, ENOENT, or a negative errno for a bad record. */
static int
store_inode_get(struct store_tx *tx, uint64_t ino, struct store_inode *n)
{
	uint8_t k[8];
	const uint8_t *p;
	MDB_val v;
	int rc;

	store_put_be(k, ino, 8);
	rc = store_db_get(tx->txn, tx->s->dbi[STORE_DB_INODES], k, sizeof(k), &v);
	if (rc != 0)
		return rc;
	p = v.mv_data;
	if (v.mv_size < STORE_INODE_FIXED || p[0] != STORE_INODE_FORMAT)
		goto bad;
	memset(n, 0, offsetof(struct store_inode, link));
	p++;
	n->a.ino = ino;
	n->a.mode = (uint32_t)store_get_be(&p, 4);
	n->a.nlink = (uint32_t)store_get_be(&p, 4);
	n->a.uid = (uint32_t)store_get_be(&p, 4);
	n->a.gid = (uint32_t)store_get_be(&p, 4);
	n->a.rdev = store_get_be(&p, 8);
	n->a.size = store_get_be(&p, 8);
	n->a.version = store_get_be(&p, 8);
	n->a.atime_sec = (int64_t)store_get_be(&p, 8);
	n->a.atime_nsec = (uint32_t)store_get_be(&p, 4);
	n->a.mtime_sec = (int64_t)store_get_be(&p, 8);
	n->a.mtime_nsec = (uint32_t)store_get_be(&p, 4);
	n->a.ctime_sec = (int64_t)store_get_be(&p, 8);
	n->a.ctime_nsec = (uint32_t)store_get_be(&p, 4);
	n->parent = store_get_be(&p, 8);
	n->next_cookie = store_get_be(&p, 8);
	n->nentries = store_get_be(&p, 8);
	n->nxattrs = store_get_be(&p, 8);
	n->stored = store_get_be(&p, 8);
	n->linklen = (uint32_t)store_get_be(&p, 4);
	if (n->linklen >= sizeof(n->link) || v.mv_size != STORE_INODE_FIXED + n->linklen)
		goto bad;
	memcpy(n->link, p, n->linklen);
	store_inode_blocks(n);
	return 0;
bad:
	log_warnx("%s: inode %llu: bad record of %zu bytes", __func__, (unsigned long long)ino,
	          v.mv_size);
	return -EIO;
}

/* Writes inode n back and refreshes its derived fields. */
static int
store_inode_put(struct store_tx *tx, struct store_inode *n)
{
	uint8_t k[8], rec[STORE_INODE_FIXED + CFS_PATH_MAX], *p = rec;

	store_inode_blocks(n);
	store_put_be(k, n->a.ino, 8);
	*p++ = STORE_INODE_FORMAT;
	p = store_put_be(p, n->a.mode, 4);
	p = store_put_be(p, n->a.nlink, 4);
	p = store_put_be(p, n->a.uid, 4);
	p = store_put_be(p, n->a.gid, 4);
	p = store_put_be(p, n->a.rdev, 8);
	p = store_put_be(p, n->a.size, 8);
	p = store_put_be(p, n->a.version, 8);
	p = store_put_be(p, (uint64_t)n->a.atime_sec, 8);
	p = store_put_be(p, n->a.atime_nsec, 4);
	p = store_put_be(p, (uint64_t)n->a.mtime_sec, 8);
	p = store_put_be(p, n->a.mtime_nsec, 4);
	p = store_put_be(p, (uint64_t)n->a.ctime_sec, 8);
	p = store_put_be(p, n->a.ctime_nsec, 4);
	p = store_put_be(p, n->parent, 8);
	p = store_put_be(p, n->next_cookie, 8);
	p = store_put_be(p, n->nentries, 8);
	p = store_put_be(p, n->nxattrs, 8);
	p = store_put_be(p, n->stored, 8);
	p = store_put_be(p, n->linklen, 4);
	memcpy(p, n->link, n->linklen);
	p += n->linklen;
	assert(p == rec + STORE_INODE_FIXED + n->linklen);
	return store_db_put(tx->txn, tx->s->dbi[STORE_DB_INODES], k, sizeof(k), rec,
	                    (size_t)(p - rec));
}

/* Loads a directory: ENOENT when absent, ENOTDIR when not a directory. */
static int
store_dir_get(struct store_tx *tx, uint64_t ino, struct store_inode *n)
{
	int rc = store_inode_get(tx, ino, n);

	if (rc == 0 && !S_ISDIR(n->a.mode))
		return ENOTDIR;
	return rc;
}

/*
 * Checks a name to create or remove: EINVAL when empty, ".", "..", or with
 * '/' or NUL; ENAMETOOLONG past CFS_NAME_MAX (the decoder already refuses
 * those, but key buffers here must not trust that).
 */
static int
store_name_check(const char *name, size_t len)
{
	if (len > CFS_NAME_MAX)
		return ENAMETOOLONG;
	if (len == 0 || name == NULL)
		return EINVAL;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return EINVAL;
	if (memchr(name, '/', len) != NULL || memchr(name, '\0', len) != NULL)
		return EINVAL;
	return 0;
}

/* Sets the chosen times of a to the entry's time. */
static void
store_touch(struct store_tx *tx, struct cfs_attr *a, int atime, int mtime)
{
	if (atime) {
		a->atime_sec = tx->e->time_sec;
		a->atime_nsec = tx->e->time_nsec;
	}
	if (mtime) {
		a->mtime_sec = tx->e->time_sec;
		a->mtime_nsec = tx->e->time_nsec;
	}
	a->ctime_sec = tx->e->time_sec;
	a->ctime_nsec = tx->e->time_nsec;
}

/* Marks a directory's entries as changed now. */
static void
store_dir_changed(struct store_tx *tx, struct store_inode *dir)
{
	store_touch(tx, &dir->a, 0, 1);
	dir->a.version = tx->e->sn;
}

/* Looks up name in directory dir: 0 with ino and cookie, ENOENT, or a negative errno. */
static int
store_dirent_get(struct store_tx *tx, uint64_t dir, const char *name, size_t len, uint64_t *ino,
                 uint64_t *cookie)
{
	uint8_t k[8 + CFS_NAME_MAX];
	MDB_val v;
	int rc;

	if (len > CFS_NAME_MAX)
		return ENOENT;
	rc = store_db_get(tx->txn, tx->s->dbi[STORE_DB_DIRENTS], k,
	                  store_key_name(k, dir, name, len), &v);
	if (rc != 0)
		return rc;
	if (v.mv_size != 16) {
		log_warnx("%s: dirent of %llu has %zu bytes", __func__, (unsigned long long)dir,
		          v.mv_size);
		return -EIO;
	}
	*ino = store_val64(v.mv_data);
	*cookie = store_val64((const uint8_t *)v.mv_data + 8);
	return 0;
}

/* Points name in dir at ino with the given cookie (both tables). */
static int
store_dirent_set(struct store_tx *tx, uint64_t dir, const char *name, size_t len, uint64_t ino,
                 uint64_t cookie)
{
	uint8_t k[8 + CFS_NAME_MAX], v[16], ck[16];
	int rc;

	store_key2(v, ino, cookie);
	rc = store_db_put(tx->txn, tx->s->dbi[STORE_DB_DIRENTS], k,
	                  store_key_name(k, dir, name, len), v, sizeof(v));
	if (rc != 0)
		return rc;
	store_key2(ck, dir, cookie);
	return store_db_put(tx->txn, tx->s->dbi[STORE_DB_COOKIES], ck, sizeof(ck), name, len);
}

/* Adds name -> ino to directory d (the caller writes d back). */
static int
store_dirent_add(struct store_tx *tx, struct store_inode *d, const char *name, size_t len,
                 uint64_t ino)
{
	uint64_t cookie = d->next_cookie++;

	d->nentries++;
	return store_dirent_set(tx, d->a.ino, name, len, ino, cookie);
}

/* Removes name from directory d (the caller writes d back). */
static int
store_dirent_del(struct store_tx *tx, struct store_inode *d, const char *name, size_t len,
                 uint64_t cookie)
{
	uint8_t k[8 + CFS_NAME_MAX], ck[16];
	int rc;

	rc = store_db_del(tx->txn, tx->s->dbi[STORE_DB_DIRENTS], k,
	                  store_key_name(k, d->a.ino, name, len));
	if (rc == 0) {
		store_key2(ck, d->a.ino, cookie);
		rc = store_db_del(tx->txn, tx->s->dbi[STORE_DB_COOKIES], ck, sizeof(ck));
	}
	if (rc > 0) {
		log_warnx("%s: directory %llu lost an entry", __func__,
		          (unsigned long long)d->a.ino);
		return -EIO;
	}
	d->nentries--;
	return rc;
}

/* Cuts a file's blocks to size bytes: drops later blocks, shortens the last. */
static int
store_blocks_trunc(struct store_tx *tx, struct store_inode *n, uint64_t size)
{
	MDB_dbi dbi = tx->s->dbi[STORE_DB_BLOCKS];
	uint64_t first = size / STORE_BLOCK_SIZE + (size % STORE_BLOCK_SIZE != 0);
	uint64_t keep = size % STORE_BLOCK_SIZE;
	uint8_t k[16];
	MDB_cursor *cur;
	MDB_val key, val;
	int rc;

	rc = mdb_cursor_open(tx->txn, dbi, &cur);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_cursor_open", rc);
	for (;;) {
		store_key2(k, n->a.ino, first);
		key.mv_size = sizeof(k);
		key.mv_data = k;
		rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
		if (rc == MDB_NOTFOUND ||
		    (rc == 0 && (key.mv_size != 16 || store_val64(key.mv_data) != n->a.ino))) {
			rc = 0;
			break;
		}
		if (rc == 0) {
			n->stored -= val.mv_size < n->stored ? val.mv_size : n->stored;
			rc = mdb_cursor_del(cur, 0);
		}
		if (rc != 0) {
			mdb_cursor_close(cur);
			return store_mdb_fail(__func__, "cursor", rc);
		}
	}
	mdb_cursor_close(cur);
	if (keep == 0)
		return 0;
	store_key2(k, n->a.ino, size / STORE_BLOCK_SIZE);
	rc = store_db_get(tx->txn, dbi, k, sizeof(k), &val);
	if (rc == ENOENT || (rc == 0 && val.mv_size <= keep))
		return 0;
	if (rc != 0)
		return rc;
	memcpy(tx->s->buf, val.mv_data, keep);
	n->stored -= val.mv_size - keep;
	return store_db_put(tx->txn, dbi, k, sizeof(k), tx->s->buf, keep);
}

/* Deletes every key of dbi that starts with ino. */
static int
store_del_prefix(struct store_tx *tx, MDB_dbi dbi, uint64_t ino)
{
	uint8_t k[8];
	MDB_cursor *cur;
	MDB_val key, val;
	int rc;

	store_put_be(k, ino, 8);
	rc = mdb_cursor_open(tx->txn, dbi, &cur);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_cursor_open", rc);
	for (;;) {
		key.mv_size = sizeof(k);
		key.mv_data = k;
		rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
		if (rc == MDB_NOTFOUND ||
		    (rc == 0 && (key.mv_size < 8 || memcmp(key.mv_data, k, 8) != 0))) {
			rc = 0;
			break;
		}
		if (rc == 0)
			rc = mdb_cursor_del(cur, 0);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (rc != 0)
		return store_mdb_fail(__func__, "cursor", rc);
	return 0;
}

/* Removes an inode with its blocks and xattrs. */
static int
store_inode_free(struct store_tx *tx, struct store_inode *n)
{
	uint8_t k[8];
	int rc = 0;

	if (S_ISREG(n->a.mode) && n->stored > 0)
		rc = store_blocks_trunc(tx, n, 0);
	if (rc == 0 && n->nxattrs > 0)
		rc = store_del_prefix(tx, tx->s->dbi[STORE_DB_XATTRS], n->a.ino);
	if (rc != 0)
		return rc;
	store_put_be(k, n->a.ino, 8);
	rc = store_db_del(tx->txn, tx->s->dbi[STORE_DB_INODES], k, sizeof(k));
	return rc > 0 ? -EIO : rc;
}

/* Drops one link to a non-directory, freeing it at nlink 0. */
static int
store_inode_unlink(struct store_tx *tx, struct store_inode *n)
{
	if (n->a.nlink > 0)
		n->a.nlink--;
	store_touch(tx, &n->a, 0, 0);
	if (n->a.nlink == 0)
		return store_inode_free(tx, n);
	return store_inode_put(tx, n);
}

/* Loads the inode a dirent points to; a dangling dirent is corruption. */
static int
store_inode_get_linked(struct store_tx *tx, uint64_t ino, struct store_inode *n)
{
	int rc = store_inode_get(tx, ino, n);

	if (rc == ENOENT) {
		log_warnx("%s: dirent points to missing inode %llu", __func__,
		          (unsigned long long)ino);
		return -EIO;
	}
	return rc;
}

/* Whether anc is ino or one of its ancestors: 1, 0, or a negative errno. */
static int
store_is_ancestor(struct store_tx *tx, uint64_t anc, uint64_t ino)
{
	struct store_inode n;
	int rc;

	for (uint32_t depth = 0; depth < STORE_MAX_DEPTH; depth++) {
		if (ino == anc)
			return 1;
		if (ino == STORE_ROOT_INO)
			return 0;
		rc = store_inode_get(tx, ino, &n);
		if (rc != 0)
			return rc > 0 ? -EIO : rc;
		ino = n.parent;
	}
	log_warnx("%s: parent chain of %llu does not end", __func__, (unsigned long long)ino);
	return -EIO;
}

static int store_set_size(struct store_tx *, struct store_inode *, uint64_t);

/*
 * Whether uid/gid may write a file of these attributes, by its mode bits as
 * the kernel would judge them (supplementary groups are not known here: a
 * caller who may write only through one of them is refused).
 */
static int
store_may_write(const struct cfs_attr *a, uint32_t uid, uint32_t gid)
{
	if (uid == 0)
		return 1;
	if (uid == a->uid)
		return (a->mode & S_IWUSR) != 0;
	if (gid == a->gid)
		return (a->mode & S_IWGRP) != 0;
	return (a->mode & S_IWOTH) != 0;
}

/* Creates a new inode named name in directory op->ino; the common part of every create. */
static int
store_new_inode(struct store_tx *tx, uint32_t mode, uint64_t rdev, const void *link,
                uint32_t linklen)
{
	const struct cfs_entry *e = tx->e;
	const struct cfs_op *op = &e->op;
	struct store_inode dir, old, nbuf, *n = &nbuf;
	uint64_t ino, cookie;
	int rc;

	rc = store_dir_get(tx, op->ino, &dir);
	if (rc != 0)
		return rc;
	if ((rc = store_name_check(op->name, op->namelen)) != 0)
		return rc;
	rc = store_dirent_get(tx, op->ino, op->name, op->namelen, &ino, &cookie);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		if (op->type != CFS_OP_CREATE || (op->flags & CFS_CREATE_EXCL))
			return EEXIST;
		rc = store_inode_get_linked(tx, ino, &old);
		if (rc != 0)
			return rc;
		if (S_ISDIR(old.a.mode))
			return EISDIR;
		if (!S_ISREG(old.a.mode))
			return EEXIST;
		if (op->flags & CFS_CREATE_TRUNC) {
			/*
			 * O_CREAT|O_TRUNC found a file that another client made after
			 * the caller's kernel saw none.  That kernel takes the file as
			 * new and will not truncate it: do it here, as open() would
			 * have, if the caller may write the file.
			 */
			if (!store_may_write(&old.a, op->uid, op->gid))
				return EACCES;
			rc = store_set_size(tx, &old, 0);
			if (rc == 0)
				rc = store_inode_put(tx, &old);
			if (rc != 0)
				return rc;
		}
		tx->res->attr = old.a;
		tx->res->flags |= CFS_REPLY_ATTR;
		return 0;
	}
	if (e->new_ino <= STORE_ROOT_INO) {
		log_warnx("%s: entry %llu has new_ino %llu", __func__, (unsigned long long)e->sn,
		          (unsigned long long)e->new_ino);
		return EIO;
	}
	rc = store_inode_get(tx, e->new_ino, &old);
	if (rc <= 0) {
		if (rc == 0)
			log_warnx("%s: entry %llu reuses inode %llu", __func__,
			          (unsigned long long)e->sn, (unsigned long long)e->new_ino);
		return rc == 0 ? EIO : rc;
	}
	memset(n, 0, offsetof(struct store_inode, link));
	n->a.ino = e->new_ino;
	n->a.mode = mode;
	n->a.nlink = S_ISDIR(mode) ? 2 : 1;
	n->a.uid = op->uid;
	n->a.gid = op->gid;
	/* A set-gid directory gives its group, and to directories its set-gid bit. */
	if (dir.a.mode & S_ISGID) {
		n->a.gid = dir.a.gid;
		if (S_ISDIR(mode))
			n->a.mode |= S_ISGID;
	}
	n->a.rdev = rdev;
	n->a.version = e->sn;
	store_touch(tx, &n->a, 1, 1);
	if (S_ISDIR(mode)) {
		n->a.size = STORE_DIR_SIZE;
		n->parent = op->ino;
		n->next_cookie = STORE_FIRST_COOKIE;
		dir.a.nlink++;
	} else if (S_ISLNK(mode)) {
		n->a.size = linklen;
		n->linklen = linklen;
		memcpy(n->link, link, linklen);
	}
	rc = store_inode_put(tx, n);
	if (rc == 0)
		rc = store_dirent_add(tx, &dir, op->name, op->namelen, n->a.ino);
	if (rc != 0)
		return rc;
	store_dir_changed(tx, &dir);
	rc = store_inode_put(tx, &dir);
	if (rc != 0)
		return rc;
	tx->ino_used = 1;
	tx->res->attr = n->a;
	tx->res->flags |= CFS_REPLY_ATTR;
	return 0;
}

/* CREATE: a regular file, or the existing one without CFS_CREATE_EXCL. */
static int
store_op_create(struct store_tx *tx)
{
	return store_new_inode(tx, S_IFREG | (tx->e->op.mode & 07777), 0, NULL, 0);
}

/* MKNOD: a regular file, FIFO, socket or device node. */
static int
store_op_mknod(struct store_tx *tx)
{
	const struct cfs_op *op = &tx->e->op;
	uint32_t type = op->mode & S_IFMT;
	uint64_t rdev = 0;

	switch (type) {
	case 0:
		type = S_IFREG;
		break;
	case S_IFREG:
	case S_IFIFO:
	case S_IFSOCK:
		break;
	case S_IFCHR:
	case S_IFBLK:
		rdev = op->rdev;
		break;
	default:
		return EINVAL;
	}
	return store_new_inode(tx, type | (op->mode & 07777), rdev, NULL, 0);
}

/* MKDIR: a directory with "." and "..". */
static int
store_op_mkdir(struct store_tx *tx)
{
	return store_new_inode(tx, S_IFDIR | (tx->e->op.mode & 07777), 0, NULL, 0);
}

/* SYMLINK: target in the op's data. */
static int
store_op_symlink(struct store_tx *tx)
{
	const struct cfs_op *op = &tx->e->op;

	if (op->datalen == 0)
		return ENOENT;
	if (op->datalen >= CFS_PATH_MAX)
		return ENAMETOOLONG;
	if (memchr(op->data, '\0', op->datalen) != NULL)
		return EINVAL;
	return store_new_inode(tx, S_IFLNK | 0777, 0, op->data, op->datalen);
}

/* LINK: a new name ino2/name for inode ino. */
static int
store_op_link(struct store_tx *tx)
{
	const struct cfs_op *op = &tx->e->op;
	struct store_inode n, dir;
	uint64_t ino, cookie;
	int rc;

	rc = store_inode_get(tx, op->ino, &n);
	if (rc == 0)
		rc = store_dir_get(tx, op->ino2, &dir);
	if (rc != 0)
		return rc;
	if ((rc = store_name_check(op->name, op->namelen)) != 0)
		return rc;
	rc = store_dirent_get(tx, op->ino2, op->name, op->namelen, &ino, &cookie);
	if (rc <= 0)
		return rc == 0 ? EEXIST : rc;
	if (S_ISDIR(n.a.mode))
		return EPERM;
	if (n.a.nlink >= STORE_LINK_MAX)
		return EMLINK;
	n.a.nlink++;
	store_touch(tx, &n.a, 0, 0);
	rc = store_dirent_add(tx, &dir, op->name, op->namelen, n.a.ino);
	if (rc == 0)
		rc = store_inode_put(tx, &n);
	if (rc != 0)
		return rc;
	store_dir_changed(tx, &dir);
	rc = store_inode_put(tx, &dir);
	if (rc != 0)
		return rc;
	tx->res->attr = n.a;
	tx->res->flags |= CFS_REPLY_ATTR;
	return 0;
}

/* UNLINK and RMDIR: removes a name; isdir says which. */
static int
store_op_remove(struct store_tx *tx, int isdir)
{
	const struct cfs_op *op = &tx->e->op;
	struct store_inode dir, n;
	uint64_t ino, cookie;
	int rc;

	rc = store_dir_get(tx, op->ino, &dir);
	if (rc != 0)
		return rc;
	if ((rc = store_name_check(op->name, op->namelen)) != 0)
		return rc;
	rc = store_dirent_get(tx, op->ino, op->name, op->namelen, &ino, &cookie);
	if (rc == 0)
		rc = store_inode_get_linked(tx, ino, &n);
	if (rc != 0)
		return rc;
	if (!isdir && S_ISDIR(n.a.mode))
		return EISDIR;
	if (isdir && !S_ISDIR(n.a.mode))
		return ENOTDIR;
	if (isdir && n.nentries > 0)
		return ENOTEMPTY;
	rc = store_dirent_del(tx, &dir, op->name, op->namelen, cookie);
	if (rc != 0)
		return rc;
	if (isdir) {
		dir.a.nlink--;
		rc = store_inode_free(tx, &n);
	} else {
		rc = store_inode_unlink(tx, &n);
	}
	if (rc != 0)
		return rc;
	store_dir_changed(tx, &dir);
	return store_inode_put(tx, &dir);
}

/* RENAME: flags 0, RENAME_NOREPLACE or RENAME_EXCHANGE. */
static int
store_op_rename(struct store_tx *tx)
{
	const struct cfs_op *op = &tx->e->op;
	struct store_inode d1, d2buf, src, tgt, *d2 = &d2buf;
	uint64_t sino, scookie, tino = 0, tcookie = 0;
	int rc, exists, exchange = (op->flags & RENAME_EXCHANGE) != 0;

	if ((op->flags & ~(uint32_t)(RENAME_NOREPLACE | RENAME_EXCHANGE)) != 0 ||
	    ((op->flags & RENAME_NOREPLACE) && exchange))
		return EINVAL;
	rc = store_dir_get(tx, op->ino, &d1);
	if (rc != 0)
		return rc;
	if (op->ino2 == op->ino)
		d2 = &d1;
	else if ((rc = store_dir_get(tx, op->ino2, d2)) != 0)
		return rc;
	if ((rc = store_name_check(op->name, op->namelen)) != 0 ||
	    (rc = store_name_check(op->name2, op->name2len)) != 0)
		return rc;
	rc = store_dirent_get(tx, op->ino, op->name, op->namelen, &sino, &scookie);
	if (rc != 0)
		return rc;
	rc = store_dirent_get(tx, op->ino2, op->name2, op->name2len, &tino, &tcookie);
	if (rc < 0)
		return rc;
	exists = rc == 0;
	if (exists && (op->flags & RENAME_NOREPLACE))
		return EEXIST;
	if (!exists && exchange)
		return ENOENT;
	if (exists && tino == sino)
		return 0;
	rc = store_inode_get_linked(tx, sino, &src);
	if (rc == 0 && exists)
		rc = store_inode_get_linked(tx, tino, &tgt);
	if (rc != 0)
		return rc;
	if (S_ISDIR(src.a.mode) && op->ino2 != op->ino) {
		rc = store_is_ancestor(tx, sino, op->ino2);
		if (rc != 0)
			return rc > 0 ? EINVAL : rc;
	}
	if (exists && S_ISDIR(tgt.a.mode) && op->ino2 != op->ino) {
		rc = store_is_ancestor(tx, tino, op->ino);
		if (rc != 0)
			return rc > 0 ? (exchange ? EINVAL : ENOTEMPTY) : rc;
	}
	if (exists && !exchange) {
		if (S_ISDIR(src.a.mode) && !S_ISDIR(tgt.a.mode))
			return ENOTDIR;
		if (!S_ISDIR(src.a.mode) && S_ISDIR(tgt.a.mode))
			return EISDIR;
		if (S_ISDIR(tgt.a.mode) && tgt.nentries > 0)
			return ENOTEMPTY;
	}

	if (exchange) {
		rc = store_dirent_set(tx, op->ino, op->name, op->namelen, tino, scookie);
		if (rc == 0)
			rc = store_dirent_set(tx, op->ino2, op->name2, op->name2len, sino, tcookie);
		if (rc != 0)
			return rc;
		if (op->ino != op->ino2 && S_ISDIR(tgt.a.mode)) {
			tgt.parent = op->ino;
			d2->a.nlink--;
			d1.a.nlink++;
		}
		store_touch(tx, &tgt.a, 0, 0);
		rc = store_inode_put(tx, &tgt);
	} else {
		if (exists) {
			rc = store_dirent_del(tx, d2, op->name2, op->name2len, tcookie);
			if (rc == 0 && S_ISDIR(tgt.a.mode)) {
				d2->a.nlink--;
				rc = store_inode_free(tx, &tgt);
			} else if (rc == 0) {
				rc = store_inode_unlink(tx, &tgt);
			}
		}
		if (rc == 0)
			rc = store_dirent_del(tx, &d1, op->name, op->namelen, scookie);
		if (rc == 0)
			rc = store_dirent_add(tx, d2, op->name2, op->name2len, sino);
	}
	if (rc != 0)
		return rc;
	if (op->ino != op->ino2 && S_ISDIR(src.a.mode)) {
		src.parent = op->ino2;
		d1.a.nlink--;
		d2->a.nlink++;
	}
	store_touch(tx, &src.a, 0, 0);
	rc = store_inode_put(tx, &src);
	if (rc != 0)
		return rc;
	store_dir_changed(tx, &d1);
	rc = store_inode_put(tx, &d1);
	if (rc == 0 && d2 != &d1) {
		store_dir_changed(tx, d2);
		rc = store_inode_put(tx, d2);
	}
	return rc;
}

/* Clears set-uid, and set-gid when group-executable, as after a write by another user. */
static void
store_kill_suid(struct cfs_attr *a)
{
	a->mode &= ~(uint32_t)S_ISUID;
	if (a->mode & S_IXGRP)
		a->mode &= ~(uint32_t)S_ISGID;
}

/* Sets the size of a regular file, dropping data past it. */
static int
store_set_size(struct store_tx *tx, struct store_inode *n, uint64_t size)
{
	int rc = 0;

	if (size == n->a.size)
		return 0;
	if (size < n->a.size)
		rc = store_blocks_trunc(tx, n, size);
	if (rc != 0)
		return rc;
	n->a.size = size;
	n->a.version = tx->e->sn;
	store_touch(tx, &n->a, 0, 1);
	return 0;
}

/* SETATTR: the fields op->valid names; ctime always. */
static int
store_op_setattr(struct store_tx *tx)
{
	const struct cfs_op *op = &tx->e->op;
	struct store_inode n;
	uint32_t valid = op->valid;
	int rc;

	rc = store_inode_get(tx, op->ino, &n);
	if (rc != 0)
		return rc;
	if (valid & CFS_SET_SIZE) {
		if (S_ISDIR(n.a.mode))
			return EISDIR;
		if (!S_ISREG(n.a.mode))
			return EINVAL;
		if (op->offset > STORE_MAX_FILE_SIZE)
			return EFBIG;
	}
	if (((valid & CFS_SET_ATIME) && !(valid & CFS_SET_ATIME_NOW) &&
	     op->atime_nsec >= 1000000000u) ||
	    ((valid & CFS_SET_MTIME) && !(valid & CFS_SET_MTIME_NOW) &&
	     op->mtime_nsec >= 1000000000u))
		return EINVAL;
	if (valid & CFS_SET_MODE)
		n.a.mode = (n.a.mode & S_IFMT) | (op->mode & 07777);
	if (valid & CFS_SET_UID)
		n.a.uid = op->uid;
	if (valid & CFS_SET_GID)
		n.a.gid = op->gid;
	if (valid & CFS_SET_KILL_SUID)
		store_kill_suid(&n.a);
	if ((valid & CFS_SET_SIZE) && (rc = store_set_size(tx, &n, op->offset)) != 0)
		return rc;
	if (valid & CFS_SET_ATIME_NOW) {
		store_touch(tx, &n.a, 1, 0);
	} else if (valid & CFS_SET_ATIME) {
		n.a.atime_sec = op->atime_sec;
		n.a.atime_nsec = op->atime_nsec;
	}
	if (valid & CFS_SET_MTIME_NOW) {
		store_touch(tx, &n.a, 0, 1);
	} else if (valid & CFS_SET_MTIME) {
		n.a.mtime_sec = op->mtime_sec;
		n.a.mtime_nsec = op->mtime_nsec;
	}
	store_touch(tx, &n.a, 0, 0);
	rc = store_inode_put(tx, &n);
	if (rc != 0)
		return rc;
	tx->res->attr = n.a;
	tx->res->flags |= CFS_REPLY_ATTR;
	return 0;
}

/* Writes len bytes at off into a file's blocks, merging with what is there. */
static int
store_blocks_write(struct store_tx *tx, struct store_inode *n, uint64_t off, const uint8_t *src,
                   size_t len)
{
	MDB_dbi dbi = tx->s->dbi[STORE_DB_BLOCKS];
	uint8_t k[16], *buf = tx->s->buf;
	MDB_val v;
	int rc;

	while (len > 0) {
		uint64_t idx = off / STORE_BLOCK_SIZE;
		size_t boff = off % STORE_BLOCK_SIZE, cnt = STORE_BLOCK_SIZE - boff, oldlen = 0;
		size_t newlen;
		const uint8_t *p = buf;

		if (cnt > len)
			cnt = len;
		store_key2(k, n->a.ino, idx);
		rc = store_db_get(tx->txn, dbi, k, sizeof(k), &v);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			oldlen = v.mv_size > STORE_BLOCK_SIZE ? STORE_BLOCK_SIZE : v.mv_size;
		}
		newlen = boff + cnt > oldlen ? boff + cnt : oldlen;
		if (boff == 0 && cnt >= oldlen) {
			p = src;
		} else {
			if (oldlen > 0)
				memcpy(buf, v.mv_data, oldlen);
			if (boff > oldlen)
				memset(buf + oldlen, 0, boff - oldlen);
			memcpy(buf + boff, src, cnt);
		}
		rc = store_db_put(tx->txn, dbi, k, sizeof(k), p, newlen);
		if (rc != 0)
			return rc;
		n->stored += newlen - oldlen;
		off += cnt;
		src += cnt;
		len -= cnt;
	}
	return 0;
}

/* WRITE: op->data at op->offset. */
static int
store_op_write(struct store_tx *tx)
{
	const struct cfs_op *op = &tx->e->op;
	struct store_inode n;
	uint64_t off;
	int rc;

	rc = store_inode_get(tx, op->ino, &n);
	if (rc != 0)
		return rc;
	if (S_ISDIR(n.a.mode))
		return EISDIR;
	if (!S_ISREG(n.a.mode))
		return EINVAL;
	/*
	 * O_APPEND: the end of the file as this entry finds it, not as the
	 * writer's kernel last saw it (another host may have appended since);
	 * a pure function of the state, so every replica writes at the same place.
	 */
	off = op->flags & CFS_WRITE_APPEND ? n.a.size : op->offset;
	if (op->datalen > 0) {
		if (off > STORE_MAX_FILE_SIZE - op->datalen)
			return EFBIG;
		rc = store_blocks_write(tx, &n, off, op->data, op->datalen);
		if (rc != 0)
			return rc;
		if (off + op->datalen > n.a.size)
			n.a.size = off + op->datalen;
		n.a.version = tx->e->sn;
		store_touch(tx, &n.a, 0, 1);
		if (op->valid & CFS_SET_KILL_SUID)
			store_kill_suid(&n.a);
		rc = store_inode_put(tx, &n);
		if (rc != 0)
			return rc;
	}
	tx->res->value = op->datalen;
	tx->res->attr = n.a;
	tx->res->flags |= CFS_REPLY_ATTR;
	return 0;
}

/* Zeroes [off, end) of a file, deleting blocks that end up empty. */
static int
store_blocks_punch(struct store_tx *tx, struct store_inode *n, uint64_t off, uint64_t end)
{
	MDB_dbi dbi = tx->s->dbi[STORE_DB_BLOCKS];
	uint8_t k[16], *buf = tx->s->buf;
	MDB_val key, v;
	int rc;

	while (off < end) {
		uint64_t idx, bstart, s, t;
		size_t len, keep;

		store_key2(k, n->a.ino, off / STORE_BLOCK_SIZE);
		rc = store_db_seek(tx->txn, dbi, k, sizeof(k), 8, &key, &v);
		if (rc == ENOENT)
			return 0;
		if (rc != 0)
			return rc;
		idx = store_val64((const uint8_t *)key.mv_data + 8);
		bstart = idx * STORE_BLOCK_SIZE;
		if (bstart >= end)
			return 0;
		len = v.mv_size;
		s = off > bstart ? off - bstart : 0;
		t = end - bstart < STORE_BLOCK_SIZE ? end - bstart : STORE_BLOCK_SIZE;
		store_key2(k, n->a.ino, idx);
		if (s < len) {
			keep = t >= len ? s : len;
			memcpy(buf, v.mv_data, len);
			if (t < len)
				memset(buf + s, 0, t - s);
			while (keep > 0 && buf[keep - 1] == 0)
				keep--;
			if (keep == 0)
				rc = store_db_del(tx->txn, dbi, k, sizeof(k));
			else
				rc = store_db_put(tx->txn, dbi, k, sizeof(k), buf, keep);
			if (rc != 0)
				return rc > 0 ? -EIO : rc;
			n->stored -= len - keep;
		}
		off = bstart + STORE_BLOCK_SIZE;
	}
	return 0;
}

/* FALLOCATE: mode 0, FALLOC_FL_KEEP_SIZE, or a punched hole. */
static int
store_op_fallocate(struct store_tx *tx)
{
	const struct cfs_op *op = &tx->e->op;
	struct store_inode n;
	uint64_t end;
	int rc;

	rc = store_inode_get(tx, op->ino, &n);
	if (rc != 0)
		return rc;
	if (op->length == 0 || op->offset > (uint64_t)INT64_MAX || op->length > (uint64_t)INT64_MAX)
		return EINVAL;
	if (S_ISDIR(n.a.mode))
		return EISDIR;
	if (!S_ISREG(n.a.mode))
		return ENODEV;
	if (op->offset > STORE_MAX_FILE_SIZE - op->length)
		return EFBIG;
	end = op->offset + op->length;
	switch (op->flags) {
	case 0:
		if (end > n.a.size) {
			n.a.size = end;
			n.a.version = tx->e->sn;
			store_touch(tx, &n.a, 0, 1);
		}
		break;
	case FALLOC_FL_KEEP_SIZE:
		break;
	case FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE:
		rc = store_blocks_punch(tx, &n, op->offset, end < n.a.size ? end : n.a.size);
		if (rc != 0)
			return rc;
		n.a.version = tx->e->sn;
		store_touch(tx, &n.a, 0, 1);
		break;
	default:
		return EOPNOTSUPP;
	}
	store_touch(tx, &n.a, 0, 0);
	rc = store_inode_put(tx, &n);
	if (rc != 0)
		return rc;
	tx->res->attr = n.a;
	tx->res->flags |= CFS_REPLY_ATTR;
	return 0;
}

/* Checks an xattr name as the kernel's syscalls would. */
static int
store_xattr_name(const struct cfs_op *op)
{
	if (op->namelen == 0 || op->name == NULL || op->namelen > CFS_NAME_MAX)
		return ERANGE;
	if (memchr(op->name, '\0', op->namelen) != NULL)
		return EINVAL;
	return 0;
}

/* SETXATTR and REMOVEXATTR; remove says which. */
static int
store_op_xattr(struct store_tx *tx, int remove)
{
	const struct cfs_op *op = &tx->e->op;
	MDB_dbi dbi = tx->s->dbi[STORE_DB_XATTRS];
	uint8_t k[8 + CFS_NAME_MAX];
	struct store_inode n;
	size_t klen;
	MDB_val v;
	int rc, exists;

	rc = store_inode_get(tx, op->ino, &n);
	if (rc != 0)
		return rc;
	if ((rc = store_xattr_name(op)) != 0)
		return rc;
	if (!remove && op->datalen > CFS_XATTR_SIZE_MAX)
		return E2BIG;
	if (!remove && (op->flags & ~(uint32_t)(STORE_XATTR_CREATE | STORE_XATTR_REPLACE)) != 0)
		return EINVAL;
	klen = store_key_name(k, op->ino, op->name, op->namelen);
	rc = store_db_get(tx->txn, dbi, k, klen, &v);
	if (rc < 0)
		return rc;
	exists = rc == 0;
	if (remove) {
		if (!exists)
			return ENODATA;
		rc = store_db_del(tx->txn, dbi, k, klen);
		if (rc != 0)
			return rc > 0 ? -EIO : rc;
		n.nxattrs--;
	} else {
		if (exists && (op->flags & STORE_XATTR_CREATE))
			return EEXIST;
		if (!exists && (op->flags & STORE_XATTR_REPLACE))
			return ENODATA;
		rc = store_db_put(tx->txn, dbi, k, klen, op->data, op->datalen);
		if (rc != 0)
			return rc;
		n.nxattrs += !exists;
	}
	store_touch(tx, &n.a, 0, 0);
	return store_inode_put(tx, &n);
}

/* Performs the update e->op; the status goes in the return value. */
static int
store_apply_op(struct store_tx *tx)
{
	switch (tx->e->op.type) {
	case CFS_OP_CREATE:
		return store_op_create(tx);
	case CFS_OP_MKNOD:
		return store_op_mknod(tx);
	case CFS_OP_MKDIR:
		return store_op_mkdir(tx);
	case CFS_OP_SYMLINK:
		return store_op_symlink(tx);
	case CFS_OP_LINK:
		return store_op_link(tx);
	case CFS_OP_UNLINK:
		return store_op_remove(tx, 0);
	case CFS_OP_RMDIR:
		return store_op_remove(tx, 1);
	case CFS_OP_RENAME:
		return store_op_rename(tx);
	case CFS_OP_SETATTR:
		return store_op_setattr(tx);
	case CFS_OP_WRITE:
		return store_op_write(tx);
	case CFS_OP_SETXATTR:
		return store_op_xattr(tx, 0);
	case CFS_OP_REMOVEXATTR:
		return store_op_xattr(tx, 1);
	case CFS_OP_FALLOCATE:
		return store_op_fallocate(tx);
	case CFS_OP_FSYNC:
		/* A barrier: the caller syncs; nothing to change, even for a freed inode. */
		return 0;
	}
	return EINVAL; /* not reached: store_apply checks the type first */
}

/* Encodes a reply without data for the results table. */
static void
store_result_enc(uint8_t out[STORE_RESULT_SIZE], const struct cfs_reply *r)
{
	uint8_t *p = out;

	p = store_put_be(p, (uint32_t)r->status, 4);
	p = store_put_be(p, r->flags, 4);
	p = store_attr_enc(p, &r->attr);
	p = store_put_be(p, r->value, 8);
	assert(p == out + STORE_RESULT_SIZE);
}

/* Decodes a stored result: 0, or -EIO for a bad record. */
static int
store_result_dec(const MDB_val *v, struct cfs_reply *r)
{
	const uint8_t *p = v->mv_data;

	memset(r, 0, sizeof(*r));
	if (v->mv_size != STORE_RESULT_SIZE) {
		log_warnx("%s: result of %zu bytes", __func__, v->mv_size);
		return -EIO;
	}
	r->status = (int32_t)(uint32_t)store_get_be(&p, 4);
	r->flags = (uint32_t)store_get_be(&p, 4);
	p = store_attr_dec(p, &r->attr);
	r->value = store_get_be(&p, 8);
	return 0;
}

/* Drops a client's results below acked_below and raises its floor to it. */
static int
store_results_trim(struct store_tx *tx, uint64_t client, uint64_t acked_below)
{
	MDB_dbi rdbi = tx->s->dbi[STORE_DB_RESULTS], fdbi = tx->s->dbi[STORE_DB_FLOORS];
	uint8_t k[16], fk[8];
	uint64_t floor = 0;
	MDB_val key, v;
	int rc;

	store_put_be(fk, client, 8);
	rc = store_db_get(tx->txn, fdbi, fk, sizeof(fk), &v);
	if (rc < 0)
		return rc;
	if (rc == 0 && v.mv_size == 8)
		floor = store_val64(v.mv_data);
	if (acked_below <= floor)
		return 0;
	for (;;) {
		store_key2(k, client, 0);
		rc = store_db_seek(tx->txn, rdbi, k, sizeof(k), 8, &key, &v);
		if (rc == ENOENT)
			break;
		if (rc != 0)
			return rc;
		if (key.mv_size != 16 ||
		    store_val64((const uint8_t *)key.mv_data + 8) >= acked_below)
			break;
		memcpy(k, key.mv_data, sizeof(k));
		rc = store_db_del(tx->txn, rdbi, k, sizeof(k));
		if (rc != 0)
			return rc > 0 ? -EIO : rc;
	}
	store_put_be(k, acked_below, 8);
	return store_db_put(tx->txn, fdbi, fk, sizeof(fk), k, 8);
}

/* Writes the result table, next_ino, applied_sn and the log for an applied entry. */
static int
store_apply_finish(struct store_tx *tx, struct cfs_entry *e, unsigned flags, struct cfs_wbuf *body,
                   size_t blen)
{
	struct store *s = tx->s;
	uint8_t k[16], rec[STORE_RESULT_SIZE];
	int rc;

	if (e->client_id != 0 && e->kind == CFS_ENTRY_UPDATE) {
		store_key2(k, e->client_id, e->seq);
		store_result_enc(rec, tx->res);
		rc =
		    store_db_put(tx->txn, s->dbi[STORE_DB_RESULTS], k, sizeof(k), rec, sizeof(rec));
		if (rc != 0)
			return rc;
	}
	if (e->client_id != 0 && (rc = store_results_trim(tx, e->client_id, e->acked_below)) != 0)
		return rc;
	if (tx->ino_used && e->new_ino >= s->next_ino &&
	    (rc = store_meta_put(tx->txn, s, "next_ino", e->new_ino + 1)) != 0)
		return rc;
	if ((rc = store_meta_put(tx->txn, s, "applied_sn", e->sn)) != 0)
		return rc;
	if (flags & STORE_DECIDE)
		e->result = tx->res->status;
	if (flags & STORE_LOG) {
		store_put_be(k, e->sn, 8);
		cfs_entry_encode(body, e);
		rc = store_db_put(tx->txn, s->dbi[STORE_DB_LOG], k, 8, body->p + blen,
		                  body->len - blen);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Applies one entry in one write transaction; see store.h. */
int
store_apply(struct store *s, struct cfs_entry *e, unsigned flags, struct cfs_wbuf *body,
            struct cfs_reply *res)
{
	struct store_tx tx = {.s = s, .e = e, .res = res};
	size_t blen = body != NULL ? body->len : 0;
	int32_t result = e->result;
	MDB_txn *child, *parent;
	MDB_val v;
	uint8_t k[16];
	int rc, st;

	memset(res, 0, sizeof(*res));
	if (e->sn != s->applied_sn + 1) {
		log_debug("%s: entry %llu while at %llu", __func__, (unsigned long long)e->sn,
		          (unsigned long long)s->applied_sn);
		return -EINVAL;
	}
	if ((e->kind != CFS_ENTRY_UPDATE && e->kind != CFS_ENTRY_REPLY_ONLY) ||
	    ((flags & STORE_LOG) && body == NULL)) {
		log_warnx("%s: entry %llu: kind %u, flags %#x", __func__, (unsigned long long)e->sn,
		          e->kind, flags);
		return -EINVAL;
	}
	/* In a batch the entry is a child transaction, committed with the batch. */
	rc = mdb_txn_begin(s->env, s->batch, 0, &tx.txn);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_txn_begin", rc);
	if (e->kind == CFS_ENTRY_UPDATE && !cfs_op_is_update(e->op.type)) {
		/* A read op in an update entry: no effect, the same status everywhere. */
		res->status = CFS_ERR_PROTOCOL;
	} else if (e->kind == CFS_ENTRY_UPDATE) {
		rc = mdb_txn_begin(s->env, tx.txn, 0, &child);
		if (rc != 0) {
			rc = store_mdb_fail(__func__, "mdb_txn_begin (child)", rc);
			goto fail;
		}
		parent = tx.txn;
		tx.txn = child;
		st = store_apply_op(&tx);
		tx.txn = parent;
		if (st != 0) {
			mdb_txn_abort(child);
			memset(res, 0, sizeof(*res));
			tx.ino_used = 0;
			if (st < 0) {
				rc = st;
				goto fail;
			}
		} else if ((rc = mdb_txn_commit(child)) != 0) {
			rc = store_mdb_fail(__func__, "mdb_txn_commit (child)", rc);
			goto fail;
		}
		res->status = st;
	} else {
		store_key2(k, e->client_id, e->seq);
		rc = e->client_id == 0
		         ? ENOENT
		         : store_db_get(tx.txn, s->dbi[STORE_DB_RESULTS], k, sizeof(k), &v);
		if (rc == 0)
			rc = store_result_dec(&v, res);
		else if (rc == ENOENT)
			res->status = CFS_ERR_PROTOCOL;
		if (rc < 0)
			goto fail;
	}
	rc = store_apply_finish(&tx, e, flags, body, blen);
	if (rc != 0)
		goto fail;
	rc = mdb_txn_commit(tx.txn);
	tx.txn = NULL;
	if (rc != 0) {
		rc = store_mdb_fail(__func__, "mdb_txn_commit", rc);
		goto fail;
	}
	s->applied_sn = e->sn;
	if (tx.ino_used && e->new_ino >= s->next_ino)
		s->next_ino = e->new_ino + 1;
	return 0;
fail:
	if (tx.txn != NULL)
		mdb_txn_abort(tx.txn);
	if (body != NULL)
		body->len = blen;
	e->result = result;
	memset(res, 0, sizeof(*res));
	return rc;
}

/* LOOKUP: name in directory op->ino, "." and ".." included. */
static int
store_rd_lookup(struct store_tx *tx, const struct cfs_op *op)
{
	struct store_inode dir, n;
	uint64_t ino, cookie;
	int rc;

	rc = store_dir_get(tx, op->ino, &dir);
	if (rc != 0)
		return rc;
	if (op->namelen > CFS_NAME_MAX)
		return ENAMETOOLONG;
	if (op->namelen == 0 || op->name == NULL || memchr(op->name, '/', op->namelen) ||
	    memchr(op->name, '\0', op->namelen))
		return EINVAL;
	if (op->namelen == 1 && op->name[0] == '.') {
		n = dir;
	} else if (op->namelen == 2 && op->name[0] == '.' && op->name[1] == '.') {
		rc = store_inode_get(tx, dir.parent, &n);
		if (rc != 0)
			return rc > 0 ? -EIO : rc;
	} else {
		rc = store_dirent_get(tx, op->ino, op->name, op->namelen, &ino, &cookie);
		if (rc == 0)
			rc = store_inode_get_linked(tx, ino, &n);
		if (rc != 0)
			return rc;
	}
	tx->res->attr = n.a;
	tx->res->flags |= CFS_REPLY_ATTR;
	return 0;
}

/*
 * Appends one readdir record if it fits in lim bytes from start: 1 when
 * added, 0 when full.
 */
static int
store_rd_dirent(struct cfs_wbuf *out, size_t start, uint64_t lim, const struct cfs_dirent *d,
                int plus)
{
	size_t pos = out->len;

	cfs_dirent_put(out, d, plus);
	if (out->len - start > lim) {
		out->len = pos;
		return 0;
	}
	return 1;
}

/* READDIR: records after cookie op->offset, at most op->length bytes of them. */
static int
store_rd_readdir(struct store_tx *tx, const struct cfs_op *op, struct cfs_wbuf *out)
{
	int plus = (op->flags & CFS_READDIR_PLUS) != 0;
	uint64_t lim = op->length < CFS_MAX_IO ? op->length : CFS_MAX_IO, cookie = op->offset;
	size_t start = out->len;
	struct store_inode dir, n;
	struct cfs_dirent d;
	MDB_cursor *cur;
	MDB_val key, v;
	uint8_t k[16];
	uint64_t count = 0, ino, c;
	int rc, full = 0;

	rc = store_dir_get(tx, op->ino, &dir);
	if (rc != 0)
		return rc;
	memset(&d, 0, sizeof(d));
	if (cookie < 1) {
		d = (struct cfs_dirent){dir.a.ino, 1, S_IFDIR, 1, ".", dir.a};
		full = !store_rd_dirent(out, start, lim, &d, plus);
		count += !full;
	}
	if (!full && cookie < 2) {
		rc = store_inode_get(tx, dir.parent, &n);
		if (rc != 0)
			return rc > 0 ? -EIO : rc;
		d = (struct cfs_dirent){n.a.ino, 2, S_IFDIR, 2, "..", n.a};
		full = !store_rd_dirent(out, start, lim, &d, plus);
		count += !full;
	}
	if (full)
		return count == 0 ? EINVAL : 0;
	rc = mdb_cursor_open(tx->txn, tx->s->dbi[STORE_DB_COOKIES], &cur);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_cursor_open", rc);
	store_key2(k, dir.a.ino, (cookie < 2 ? 2 : cookie) + 1);
	key.mv_size = sizeof(k);
	key.mv_data = k;
	if (cookie == UINT64_MAX)
		rc = MDB_NOTFOUND;
	else
		rc = mdb_cursor_get(cur, &key, &v, MDB_SET_RANGE);
	while (rc == 0) {
		if (key.mv_size != 16 || store_val64(key.mv_data) != dir.a.ino)
			break;
		c = store_val64((const uint8_t *)key.mv_data + 8);
		if (v.mv_size == 0 || v.mv_size > CFS_NAME_MAX) {
			rc = -EIO;
			break;
		}
		rc = store_dirent_get(tx, dir.a.ino, v.mv_data, v.mv_size, &ino, &cookie);
		if (rc == 0 && cookie != c)
			rc = ENOENT;
		if (rc == 0)
			rc = store_inode_get_linked(tx, ino, &n);
		if (rc != 0) {
			log_warnx("%s: directory %llu, cookie %llu: broken entry", __func__,
			          (unsigned long long)dir.a.ino, (unsigned long long)c);
			rc = -EIO;
			break;
		}
		d = (struct cfs_dirent){ino,       c,  n.a.mode & S_IFMT, (uint16_t)v.mv_size,
		                        v.mv_data, n.a};
		if (!store_rd_dirent(out, start, lim, &d, plus)) {
			full = 1;
			break;
		}
		count++;
		rc = mdb_cursor_get(cur, &key, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	else if (rc != 0 && rc != -EIO)
		return store_mdb_fail(__func__, "mdb_cursor_get", rc);
	if (rc != 0)
		return rc;
	if (full && count == 0)
		return EINVAL;
	tx->res->value = count;
	return 0;
}

/* Loads a regular file for READ and LSEEK. */
static int
store_rd_file(struct store_tx *tx, uint64_t ino, struct store_inode *n)
{
	int rc = store_inode_get(tx, ino, n);

	if (rc != 0)
		return rc;
	if (S_ISDIR(n->a.mode))
		return EISDIR;
	if (!S_ISREG(n->a.mode))
		return EINVAL;
	return 0;
}

/* READ: up to op->length bytes at op->offset, zeros for holes. */
static int
store_rd_read(struct store_tx *tx, const struct cfs_op *op, struct cfs_wbuf *out)
{
	struct store_inode n;
	uint64_t off = op->offset, end;
	uint8_t k[16];
	MDB_val v;
	int rc;

	rc = store_rd_file(tx, op->ino, &n);
	if (rc != 0)
		return rc;
	if (op->length > CFS_MAX_IO)
		return EINVAL;
	end = off < n.a.size ? off + (n.a.size - off < op->length ? n.a.size - off : op->length)
	                     : off;
	tx->res->value = end - off;
	while (off < end) {
		uint64_t idx = off / STORE_BLOCK_SIZE;
		size_t boff = off % STORE_BLOCK_SIZE, cnt = STORE_BLOCK_SIZE - boff, have = 0;

		if (cnt > end - off)
			cnt = end - off;
		store_key2(k, n.a.ino, idx);
		rc = store_db_get(tx->txn, tx->s->dbi[STORE_DB_BLOCKS], k, sizeof(k), &v);
		if (rc < 0)
			return rc;
		if (rc == 0 && v.mv_size > boff) {
			have = v.mv_size - boff < cnt ? v.mv_size - boff : cnt;
			cfs_put_bytes(out, (const uint8_t *)v.mv_data + boff, have);
		}
		cfs_put_bytes(out, store_zeros, cnt - have);
		off += cnt;
	}
	tx->res->attr = n.a;
	tx->res->flags |= CFS_REPLY_ATTR;
	return 0;
}

/* GETXATTR and LISTXATTR share the size rules: length 0 asks for the size only. */
static int
store_rd_sized(struct store_tx *tx, const struct cfs_op *op, struct cfs_wbuf *out, size_t start,
               uint64_t size)
{
	tx->res->value = size;
	if (op->length == 0) {
		out->len = start;
		return 0;
	}
	if (op->length < size) {
		out->len = start;
		return ERANGE;
	}
	return 0;
}

/* GETXATTR: the value of one xattr. */
static int
store_rd_getxattr(struct store_tx *tx, const struct cfs_op *op, struct cfs_wbuf *out)
{
	struct store_inode n;
	uint8_t k[8 + CFS_NAME_MAX];
	size_t start = out->len;
	MDB_val v;
	int rc;

	rc = store_inode_get(tx, op->ino, &n);
	if (rc != 0)
		return rc;
	if ((rc = store_xattr_name(op)) != 0)
		return rc;
	rc = store_db_get(tx->txn, tx->s->dbi[STORE_DB_XATTRS], k,
	                  store_key_name(k, op->ino, op->name, op->namelen), &v);
	if (rc != 0)
		return rc == ENOENT ? ENODATA : rc;
	cfs_put_bytes(out, v.mv_data, v.mv_size);
	return store_rd_sized(tx, op, out, start, v.mv_size);
}

/* LISTXATTR: the names, each followed by a NUL. */
static int
store_rd_listxattr(struct store_tx *tx, const struct cfs_op *op, struct cfs_wbuf *out)
{
	struct store_inode n;
	size_t start = out->len;
	MDB_cursor *cur;
	MDB_val key, v;
	uint8_t k[8];
	int rc;

	rc = store_inode_get(tx, op->ino, &n);
	if (rc != 0)
		return rc;
	rc = mdb_cursor_open(tx->txn, tx->s->dbi[STORE_DB_XATTRS], &cur);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_cursor_open", rc);
	store_put_be(k, op->ino, 8);
	key.mv_size = sizeof(k);
	key.mv_data = k;
	rc = mdb_cursor_get(cur, &key, &v, MDB_SET_RANGE);
	while (rc == 0 && key.mv_size > 8 && memcmp(key.mv_data, k, 8) == 0) {
		cfs_put_bytes(out, (const uint8_t *)key.mv_data + 8, key.mv_size - 8);
		cfs_put_u8(out, 0);
		rc = mdb_cursor_get(cur, &key, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_mdb_fail(__func__, "mdb_cursor_get", rc);
	return store_rd_sized(tx, op, out, start, out->len - start);
}

/* STATFS: space from the LMDB map, files from the inode count. */
static int
store_rd_statfs(struct store_tx *tx, struct cfs_wbuf *out)
{
	struct cfs_statfs sf;
	MDB_envinfo info;
	MDB_stat st;
	uint64_t used;
	int rc;

	if ((rc = mdb_env_info(tx->s->env, &info)) != 0 ||
	    (rc = mdb_stat(tx->txn, tx->s->dbi[STORE_DB_INODES], &st)) != 0)
		return store_mdb_fail(__func__, "mdb_env_info/mdb_stat", rc);
	memset(&sf, 0, sizeof(sf));
	sf.bsize = st.ms_psize;
	sf.blocks = info.me_mapsize / st.ms_psize;
	used = (uint64_t)info.me_last_pgno + 1;
	sf.bfree = sf.blocks > used ? sf.blocks - used : 0;
	sf.bavail = sf.bfree;
	/* An inode, its dirent and cookie take about 256 bytes of a page. */
	sf.ffree = sf.bfree * (st.ms_psize / 256);
	sf.files = st.ms_entries + sf.ffree;
	sf.namemax = CFS_NAME_MAX;
	cfs_statfs_encode(out, &sf);
	return 0;
}

/* LSEEK: SEEK_DATA or SEEK_HOLE from op->offset; absent blocks are holes. */
static int
store_rd_lseek(struct store_tx *tx, const struct cfs_op *op)
{
	MDB_dbi dbi = tx->s->dbi[STORE_DB_BLOCKS];
	struct store_inode n;
	uint64_t pos = op->offset, bstart;
	MDB_val key, v;
	uint8_t k[16];
	int rc;

	rc = store_rd_file(tx, op->ino, &n);
	if (rc != 0)
		return rc;
	if (op->flags != SEEK_DATA && op->flags != SEEK_HOLE)
		return EINVAL;
	if (pos >= n.a.size)
		return ENXIO;
	if (op->flags == SEEK_DATA) {
		for (;;) {
			store_key2(k, n.a.ino, pos / STORE_BLOCK_SIZE);
			rc = store_db_seek(tx->txn, dbi, k, sizeof(k), 8, &key, &v);
			if (rc != 0)
				return rc == ENOENT ? ENXIO : rc;
			bstart = store_val64((const uint8_t *)key.mv_data + 8) * STORE_BLOCK_SIZE;
			if (bstart > pos)
				pos = bstart;
			if (pos >= n.a.size)
				return ENXIO;
			if (pos < bstart + v.mv_size)
				break;
			pos = bstart + STORE_BLOCK_SIZE;
		}
	} else {
		for (;;) {
			store_key2(k, n.a.ino, pos / STORE_BLOCK_SIZE);
			bstart = pos - pos % STORE_BLOCK_SIZE;
			rc = store_db_get(tx->txn, dbi, k, sizeof(k), &v);
			if (rc < 0)
				return rc;
			if (rc == ENOENT || pos >= bstart + v.mv_size)
				break;
			pos = bstart + v.mv_size;
			if (v.mv_size < STORE_BLOCK_SIZE || pos >= n.a.size)
				break;
		}
		if (pos > n.a.size)
			pos = n.a.size;
	}
	tx->res->value = pos;
	return 0;
}

/* Answers a read op from committed state; see store.h. */
int
store_read(struct store *s, const struct cfs_op *op, struct cfs_reply *res, struct cfs_wbuf *out)
{
	struct store_tx tx = {.s = s, .res = res};
	size_t start = out->len;
	struct store_inode n;
	int rc;

	memset(res, 0, sizeof(*res));
	if (op->type < CFS_OP_LOOKUP || op->type > CFS_OP_LSEEK) {
		res->status = CFS_ERR_PROTOCOL;
		return 0;
	}
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &tx.txn);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_txn_begin", rc);
	switch (op->type) {
	case CFS_OP_LOOKUP:
		rc = store_rd_lookup(&tx, op);
		break;
	case CFS_OP_GETATTR:
		rc = store_inode_get(&tx, op->ino, &n);
		if (rc == 0) {
			res->attr = n.a;
			res->flags |= CFS_REPLY_ATTR;
		}
		break;
	case CFS_OP_READDIR:
		rc = store_rd_readdir(&tx, op, out);
		break;
	case CFS_OP_READ:
		rc = store_rd_read(&tx, op, out);
		break;
	case CFS_OP_READLINK:
		rc = store_inode_get(&tx, op->ino, &n);
		if (rc == 0 && !S_ISLNK(n.a.mode))
			rc = EINVAL;
		if (rc == 0) {
			cfs_put_bytes(out, n.link, n.linklen);
			res->value = n.linklen;
		}
		break;
	case CFS_OP_GETXATTR:
		rc = store_rd_getxattr(&tx, op, out);
		break;
	case CFS_OP_LISTXATTR:
		rc = store_rd_listxattr(&tx, op, out);
		break;
	case CFS_OP_STATFS:
		rc = store_rd_statfs(&tx, out);
		break;
	default: /* CFS_OP_LSEEK */
		rc = store_rd_lseek(&tx, op);
		break;
	}
	mdb_txn_abort(tx.txn);
	if (rc != 0) {
		out->len = start;
		memset(res, 0, sizeof(*res));
		if (rc < 0)
			return rc;
		res->status = rc;
		return 0;
	}
	res->datalen = (uint32_t)(out->len - start);
	res->data = res->datalen > 0 ? out->p + start : NULL;
	return 0;
}

/* Creates the root directory and the meta counters of a new store. */
static int
store_init(struct store *s, MDB_txn *txn)
{
	struct store_tx tx = {.s = s, .txn = txn};
	struct store_inode root;
	int rc;

	memset(&root, 0, offsetof(struct store_inode, link));
	root.a.ino = STORE_ROOT_INO;
	root.a.mode = S_IFDIR | 0755;
	root.a.nlink = 2;
	root.a.size = STORE_DIR_SIZE;
	root.parent = STORE_ROOT_INO;
	root.next_cookie = STORE_FIRST_COOKIE;
	rc = store_inode_put(&tx, &root);
	if (rc == 0)
		rc = store_meta_put(txn, s, "next_ino", STORE_ROOT_INO + 1);
	if (rc == 0)
		rc = store_meta_put(txn, s, "applied_sn", 0);
	return rc;
}

/* Opens the databases and reads the counters, creating a new store's root. */
static int
store_open_dbs(struct store *s, char *err, size_t errlen)
{
	MDB_txn *txn;
	uint64_t sn;
	MDB_val v;
	int rc, i;

	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0) {
		snprintf(err, errlen, "mdb_txn_begin: %s", mdb_strerror(rc));
		return -1;
	}
	for (i = 0; i < STORE_NDB; i++) {
		rc = mdb_dbi_open(txn, store_db_names[i], MDB_CREATE, &s->dbi[i]);
		if (rc != 0) {
			snprintf(err, errlen, "database %s: %s", store_db_names[i],
			         mdb_strerror(rc));
			mdb_txn_abort(txn);
			return -1;
		}
	}
	rc = store_db_get(txn, s->dbi[STORE_DB_META], "applied_sn", strlen("applied_sn"), &v);
	if (rc == ENOENT)
		rc = store_init(s, txn);
	if (rc == 0)
		rc = store_meta_get(txn, s, "applied_sn", 0, &sn);
	if (rc == 0)
		rc = store_meta_get(txn, s, "next_ino", STORE_ROOT_INO + 1, &s->next_ino);
	if (rc != 0) {
		snprintf(err, errlen, "cannot read or create the root: %s",
		         rc == -ENOSPC ? "map full" : "bad store");
		mdb_txn_abort(txn);
		return -1;
	}
	rc = mdb_txn_commit(txn);
	if (rc != 0) {
		snprintf(err, errlen, "mdb_txn_commit: %s", mdb_strerror(rc));
		return -1;
	}
	s->applied_sn = sn;
	return 0;
}

/* Opens or creates the store in dir; see store.h. */
int
store_open(struct store **out, const char *dir, uint64_t mapsize, char *err, size_t errlen)
{
	struct store *s;
	int rc;

	*out = NULL;
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
		return -1;
	}
	s = xcalloc(1, sizeof(*s));
	s->buf = xmalloc(STORE_BLOCK_SIZE);
	rc = mdb_env_create(&s->env);
	if (rc != 0) {
		snprintf(err, errlen, "mdb_env_create: %s", mdb_strerror(rc));
		free(s->buf);
		free(s);
		return -1;
	}
	if ((rc = mdb_env_set_maxdbs(s->env, STORE_NDB + 4)) != 0 ||
	    (rc = mdb_env_set_mapsize(s->env, mapsize ? mapsize : STORE_DEFAULT_MAPSIZE)) != 0 ||
	    (rc = mdb_env_open(s->env, dir, MDB_NOSYNC | MDB_NOTLS, 0600)) != 0) {
		snprintf(err, errlen, "%s: %s", dir, mdb_strerror(rc));
		goto fail;
	}
	if (store_open_dbs(s, err, errlen) != 0)
		goto fail;
	*out = s;
	return 0;
fail:
	mdb_env_close(s->env);
	free(s->buf);
	free(s);
	return -1;
}

/* Closes the store; committed state is flushed first. */
void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	if (s->batch != NULL && store_batch_commit(s) != 0)
		log_warnx("%s: the open batch was lost", __func__);
	mdb_env_sync(s->env, 1);
	mdb_env_close(s->env);
	free(s->buf);
	free(s);
}

/* The sn of the last applied entry. */
uint64_t
store_applied_sn(struct store *s)
{
	return s->applied_sn;
}

/* The inode number for the next entry's new_ino. */
uint64_t
store_next_ino(struct store *s)
{
	return s->next_ino;
}

/* Runs fn in a read transaction; fn returns 0, a positive errno or a negative one. */
static int
store_with_read(struct store *s, int (*fn)(struct store_tx *, void *), void *arg)
{
	struct store_tx tx = {.s = s};
	int rc;

	if (s->ok_reads > 0) {
		s->ok_reads--;
	} else if (s->fail_reads > 0) {
		s->fail_reads--;
		return store_mdb_fail(__func__, "injected fault", MDB_PANIC);
	}
	/* The head asks about results of entries applied in the open batch too. */
	if (s->batch != NULL) {
		tx.txn = s->batch;
		return fn(&tx, arg);
	}
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &tx.txn);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_txn_begin", rc);
	rc = fn(&tx, arg);
	mdb_txn_abort(tx.txn);
	return rc;
}

struct store_floor_arg {
	uint64_t client;
	uint64_t floor;
};

/* Reads one client's floor. */
static int
store_floor_get(struct store_tx *tx, void *arg)
{
	struct store_floor_arg *a = arg;
	uint8_t k[8];
	MDB_val v;
	int rc;

	store_put_be(k, a->client, 8);
	rc = store_db_get(tx->txn, tx->s->dbi[STORE_DB_FLOORS], k, sizeof(k), &v);
	if (rc == 0 && v.mv_size == 8)
		a->floor = store_val64(v.mv_data);
	return rc;
}

/* The highest acked_below client_id has sent (0 when unknown): 0, or EIO. */
int
store_client_floor(struct store *s, uint64_t client_id, uint64_t *floor)
{
	struct store_floor_arg a = {client_id, 0};
	int rc;

	rc = store_with_read(s, store_floor_get, &a);
	*floor = a.floor;
	return rc < 0 ? EIO : 0;
}

/* Makes lookups fail as a broken store would, after `skip` good ones; for tests. */
void
store_inject_read_faults(struct store *s, unsigned skip, unsigned n)
{
	s->ok_reads = n > 0 ? skip : 0;
	s->fail_reads = n;
}

struct store_result_arg {
	uint64_t client;
	uint64_t seq;
	struct cfs_reply *res;
};

/* Reads one stored result. */
static int
store_result_get(struct store_tx *tx, void *arg)
{
	struct store_result_arg *a = arg;
	uint8_t k[16];
	MDB_val v;
	int rc;

	store_key2(k, a->client, a->seq);
	rc = store_db_get(tx->txn, tx->s->dbi[STORE_DB_RESULTS], k, sizeof(k), &v);
	if (rc == 0)
		rc = store_result_dec(&v, a->res);
	return rc;
}

/* The stored result of (client_id, seq): 0, ENOENT, or EIO when the store failed. */
int
store_result(struct store *s, uint64_t client_id, uint64_t seq, struct cfs_reply *res)
{
	struct store_result_arg a = {client_id, seq, res};
	int rc;

	memset(res, 0, sizeof(*res));
	rc = store_with_read(s, store_result_get, &a);
	return rc < 0 ? EIO : rc;
}

/* Calls fn on each logged entry after sn `after`; see store.h. */
int
store_log_foreach(struct store *s, uint64_t after,
                  int (*fn)(uint64_t sn, const void *buf, size_t len, void *arg), void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val key, v;
	uint8_t k[8];
	int rc;

	if (after == UINT64_MAX)
		return 0;
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_txn_begin", rc);
	rc = mdb_cursor_open(txn, s->dbi[STORE_DB_LOG], &cur);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return store_mdb_fail(__func__, "mdb_cursor_open", rc);
	}
	store_put_be(k, after + 1, 8);
	key.mv_size = sizeof(k);
	key.mv_data = k;
	rc = mdb_cursor_get(cur, &key, &v, MDB_SET_RANGE);
	while (rc == 0) {
		if (key.mv_size != 8) {
			rc = -EIO;
			break;
		}
		if (fn(store_val64(key.mv_data), v.mv_data, v.mv_size, arg) != 0)
			break;
		rc = mdb_cursor_get(cur, &key, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (rc == -EIO) {
		log_warnx("%s: bad log key", __func__);
		return rc;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_mdb_fail(__func__, "mdb_cursor_get", rc);
	return 0;
}

/* Deletes logged entries with sn <= upto. */
int
store_log_trim(struct store *s, uint64_t upto)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val key, v;
	int rc;

	if (s->batch != NULL)
		return -EBUSY; /* one write transaction at a time: commit the batch first */
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_txn_begin", rc);
	rc = mdb_cursor_open(txn, s->dbi[STORE_DB_LOG], &cur);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return store_mdb_fail(__func__, "mdb_cursor_open", rc);
	}
	while ((rc = mdb_cursor_get(cur, &key, &v, MDB_FIRST)) == 0) {
		if (key.mv_size == 8 && store_val64(key.mv_data) > upto)
			break;
		rc = mdb_cursor_del(cur, 0);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return store_mdb_fail(__func__, "cursor", rc);
	}
	rc = mdb_txn_commit(txn);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_txn_commit", rc);
	return 0;
}

/* Feeds a length and the bytes it counts to the digest. */
static int
store_digest_put(EVP_MD_CTX *md, const void *p, size_t len)
{
	uint8_t b[8];

	store_put_be(b, len, 8);
	return EVP_DigestUpdate(md, b, sizeof(b)) == 1 && EVP_DigestUpdate(md, p, len) == 1;
}

/* SHA-256 over every key and value of every database but log, in a fixed order. */
int
store_digest(struct store *s, uint8_t out[CFS_DIGEST_LEN])
{
	EVP_MD_CTX *md;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val key, v;
	unsigned int mdlen = 0;
	int rc = 0, ok, i;

	md = EVP_MD_CTX_new();
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		log_warnx("%s: cannot set up SHA-256", __func__);
		return -EIO;
	}
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0) {
		EVP_MD_CTX_free(md);
		return store_mdb_fail(__func__, "mdb_txn_begin", rc);
	}
	ok = 1;
	for (i = 0; i < STORE_NDB && ok && rc == 0; i++) {
		if (i == STORE_DB_LOG)
			continue;
		ok = store_digest_put(md, store_db_names[i], strlen(store_db_names[i]));
		rc = mdb_cursor_open(txn, s->dbi[i], &cur);
		if (rc != 0)
			break;
		while (ok && (rc = mdb_cursor_get(cur, &key, &v, MDB_NEXT)) == 0)
			ok = store_digest_put(md, key.mv_data, key.mv_size) &&
			     store_digest_put(md, v.mv_data, v.mv_size);
		mdb_cursor_close(cur);
		if (rc == MDB_NOTFOUND)
			rc = 0;
	}
	mdb_txn_abort(txn);
	if (rc == 0 && ok)
		ok = EVP_DigestFinal_ex(md, out, &mdlen) == 1 && mdlen == CFS_DIGEST_LEN;
	EVP_MD_CTX_free(md);
	if (rc != 0)
		return store_mdb_fail(__func__, "cursor", rc);
	if (!ok) {
		log_warnx("%s: SHA-256 failed", __func__);
		return -EIO;
	}
	return 0;
}

/* Flushes committed transactions to stable storage. */
int
store_sync(struct store *s)
{
	int rc;

	if (s->batch != NULL)
		return -EBUSY; /* the batch is not committed: nothing of it could be synced */
	rc = mdb_env_sync(s->env, 1);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_env_sync", rc);
	return 0;
}

/* Opens a batch: the following applies share one write transaction. */
int
store_batch_begin(struct store *s)
{
	int rc;

	if (s->batch != NULL)
		return 0;
	rc = mdb_txn_begin(s->env, NULL, 0, &s->batch);
	if (rc != 0) {
		s->batch = NULL;
		return store_mdb_fail(__func__, "mdb_txn_begin", rc);
	}
	s->batch_applied_sn = s->applied_sn;
	s->batch_next_ino = s->next_ino;
	return 0;
}

/* Commits the open batch; on failure none of it happened. */
int
store_batch_commit(struct store *s)
{
	int rc;

	if (s->batch == NULL)
		return 0;
	rc = mdb_txn_commit(s->batch);
	s->batch = NULL;
	if (rc != 0) {
		s->applied_sn = s->batch_applied_sn;
		s->next_ino = s->batch_next_ino;
		return store_mdb_fail(__func__, "mdb_txn_commit", rc);
	}
	return 0;
}

/* True while a batch is open. */
int
store_in_batch(const struct store *s)
{
	return s->batch != NULL;
}
