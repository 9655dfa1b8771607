/* Unit tests of the store: every entry type applied and read back, in a fresh directory each. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/unit/attr_assert.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#include "common/log.h"
#include "common/wire.h"
#include "store/store.h"
#include "store/store_acl.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif

#define T_CLIENT 7
#define T_MAPSIZE (64ULL << 20)
#define T_BS STORE_BLOCK_SIZE
#define ROOT STORE_ROOT_INO

/* One store in its own temporary directory. */
struct fx {
	char dir[64];
	struct store *s;
	uint64_t client;
	uint64_t seq;
	uint64_t acked;
	struct cfs_wbuf out;
};

/* Removes one file or directory for nftw. */

/* A client's floor; the read must succeed. */
static uint64_t
floor_of(struct store *s, uint64_t client)
{
	uint64_t floor = 99999;

	assert_int_equal(store_client_floor(s, client, &floor), 0);
	return floor;
}
static int
fx_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* Opens a fresh store in a new temporary directory. */
static struct fx *
fx_new(uint64_t mapsize)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_store.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	if (store_open(&f->s, f->dir, mapsize, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	f->client = T_CLIENT;
	cfs_wbuf_init(&f->out);
	return f;
}

/* Closes the store and removes its directory. */
static void
fx_free(struct fx *f)
{
	store_close(f->s);
	cfs_wbuf_free(&f->out);
	nftw(f->dir, fx_rm, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
}

/* Closes and reopens the store in place. */
static void
fx_reopen(struct fx *f, uint64_t mapsize)
{
	char err[256];

	store_close(f->s);
	if (store_open(&f->s, f->dir, mapsize, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
}

/* cmocka setup: one store per test. */
static int
setup(void **state)
{
	*state = fx_new(T_MAPSIZE);
	return 0;
}

/* cmocka teardown. */
static int
teardown(void **state)
{
	fx_free(*state);
	return 0;
}

/* An op of type on ino with an optional name. */
static struct cfs_op
mkop(uint16_t type, uint64_t ino, const char *name)
{
	struct cfs_op op;

	memset(&op, 0, sizeof(op));
	op.type = type;
	op.ino = ino;
	if (name != NULL) {
		op.name = name;
		op.namelen = (uint16_t)strlen(name);
	}
	return op;
}

/* The entry the head would make next for op: times are 1000 + sn. */
static void
entry_init(struct fx *f, struct cfs_entry *e, const struct cfs_op *op)
{
	memset(e, 0, sizeof(*e));
	e->sn = store_applied_sn(f->s) + 1;
	e->kind = CFS_ENTRY_UPDATE;
	e->client_id = f->client;
	e->seq = ++f->seq;
	e->acked_below = f->acked;
	e->new_ino = store_next_ino(f->s);
	e->time_sec = 1000 + (int64_t)e->sn;
	e->time_nsec = 7;
	e->op = *op;
}

/* Applies op as the head would; returns the status. */
static int
apply(struct fx *f, const struct cfs_op *op, struct cfs_reply *res)
{
	struct cfs_entry e;
	struct cfs_reply r;

	if (res == NULL)
		res = &r;
	entry_init(f, &e, op);
	assert_int_equal(store_apply(f->s, &e, STORE_DECIDE, NULL, res), 0);
	assert_int_equal(e.result, res->status);
	assert_int_equal(store_applied_sn(f->s), e.sn);
	return res->status;
}

/* The time the last applied entry carried. */
static int64_t
last_time(struct fx *f)
{
	return 1000 + (int64_t)store_applied_sn(f->s);
}

/* Creates name in parent with op type (CREATE, MKDIR, MKNOD) and mode; returns the inode. */
static uint64_t
mk(struct fx *f, uint16_t type, uint64_t parent, const char *name, uint32_t mode)
{
	struct cfs_op op = mkop(type, parent, name);
	struct cfs_reply r;

	op.mode = mode;
	op.uid = 5;
	op.gid = 6;
	assert_int_equal(apply(f, &op, &r), 0);
	assert_true(r.flags & CFS_REPLY_ATTR);
	return r.attr.ino;
}

/* Creates a regular file. */
static uint64_t
mkfile(struct fx *f, uint64_t parent, const char *name)
{
	return mk(f, CFS_OP_CREATE, parent, name, 0644);
}

/* Creates a directory. */
static uint64_t
mkdir_(struct fx *f, uint64_t parent, const char *name)
{
	return mk(f, CFS_OP_MKDIR, parent, name, 0755);
}

/* Applies an op that takes a parent and a name (UNLINK, RMDIR, ...). */
static int
name_op(struct fx *f, uint16_t type, uint64_t parent, const char *name)
{
	struct cfs_op op = mkop(type, parent, name);

	return apply(f, &op, NULL);
}

/* Applies a RENAME. */
static int
ren(struct fx *f, uint64_t p1, const char *n1, uint64_t p2, const char *n2, uint32_t flags)
{
	struct cfs_op op = mkop(CFS_OP_RENAME, p1, n1);

	op.ino2 = p2;
	op.name2 = n2;
	op.name2len = (uint16_t)strlen(n2);
	op.flags = flags;
	return apply(f, &op, NULL);
}

/* Runs a read op; returns the status, data in f->out. */
static int
rd_op(struct fx *f, const struct cfs_op *op, struct cfs_reply *res)
{
	cfs_wbuf_reset(&f->out);
	assert_int_equal(store_read(f->s, op, res, &f->out), 0);
	if (res->datalen > 0)
		assert_ptr_equal(res->data, f->out.p);
	return res->status;
}

/* LOOKUP; returns the status and the attr. */
static int
lookup(struct fx *f, uint64_t parent, const char *name, struct cfs_attr *a)
{
	struct cfs_op op = mkop(CFS_OP_LOOKUP, parent, name);
	struct cfs_reply r;
	int st = rd_op(f, &op, &r);

	if (a != NULL)
		*a = r.attr;
	return st;
}

/* GETATTR; returns the status. */
static int
getattr(struct fx *f, uint64_t ino, struct cfs_attr *a)
{
	struct cfs_op op = mkop(CFS_OP_GETATTR, ino, NULL);
	struct cfs_reply r;
	int st = rd_op(f, &op, &r);

	if (a != NULL)
		*a = r.attr;
	if (st == 0)
		assert_true(r.flags & CFS_REPLY_ATTR);
	return st;
}

/* The attr of ino, which must exist. */
static struct cfs_attr
attr_of(struct fx *f, uint64_t ino)
{
	struct cfs_attr a;

	assert_int_equal(getattr(f, ino, &a), 0);
	return a;
}

/* The inode that parent/name names, which must exist. */
static uint64_t
ino_of(struct fx *f, uint64_t parent, const char *name)
{
	struct cfs_attr a;

	assert_int_equal(lookup(f, parent, name, &a), 0);
	return a.ino;
}

/* WRITE; returns the status. */
static int
wr(struct fx *f, uint64_t ino, uint64_t off, const void *data, size_t len)
{
	struct cfs_op op = mkop(CFS_OP_WRITE, ino, NULL);
	struct cfs_reply r;
	int st;

	op.offset = off;
	op.data = data;
	op.datalen = (uint32_t)len;
	st = apply(f, &op, &r);
	if (st == 0)
		assert_int_equal(r.value, len);
	return st;
}

/* READ into buf; returns the byte count (status must be 0). */
static size_t
rd(struct fx *f, uint64_t ino, uint64_t off, uint64_t len, void *buf)
{
	struct cfs_op op = mkop(CFS_OP_READ, ino, NULL);
	struct cfs_reply r;

	op.offset = off;
	op.length = len;
	assert_int_equal(rd_op(f, &op, &r), 0);
	assert_int_equal(r.value, r.datalen);
	assert_true(r.flags & CFS_REPLY_ATTR);
	if (r.datalen > 0)
		memcpy(buf, r.data, r.datalen);
	return r.datalen;
}

/* SETATTR of the size. */
static int
setsize(struct fx *f, uint64_t ino, uint64_t size)
{
	struct cfs_op op = mkop(CFS_OP_SETATTR, ino, NULL);

	op.valid = CFS_SET_SIZE;
	op.offset = size;
	return apply(f, &op, NULL);
}

/* SETXATTR with flags. */
static int
setx(struct fx *f, uint64_t ino, const char *name, const void *val, size_t len, uint32_t flags)
{
	struct cfs_op op = mkop(CFS_OP_SETXATTR, ino, name);

	op.data = val;
	op.datalen = (uint32_t)len;
	op.flags = flags;
	return apply(f, &op, NULL);
}

/* GETXATTR or LISTXATTR with a buffer size; returns the status. */
static int
getx(struct fx *f, uint16_t type, uint64_t ino, const char *name, uint64_t size,
     struct cfs_reply *r)
{
	struct cfs_op op = mkop(type, ino, name);

	op.length = size;
	return rd_op(f, &op, r);
}

/* FALLOCATE. */
static int
falloc(struct fx *f, uint64_t ino, uint32_t mode, uint64_t off, uint64_t len)
{
	struct cfs_op op = mkop(CFS_OP_FALLOCATE, ino, NULL);

	op.flags = mode;
	op.offset = off;
	op.length = len;
	return apply(f, &op, NULL);
}

/* LSEEK; returns the status, the offset in *pos. */
static int
seek(struct fx *f, uint64_t ino, uint64_t off, int whence, uint64_t *pos)
{
	struct cfs_op op = mkop(CFS_OP_LSEEK, ino, NULL);
	struct cfs_reply r;
	int st;

	op.offset = off;
	op.flags = (uint32_t)whence;
	st = rd_op(f, &op, &r);
	*pos = r.value;
	return st;
}

/* The digest, which must succeed. */
static void
digest(struct fx *f, uint8_t d[CFS_DIGEST_LEN])
{
	assert_int_equal(store_digest(f->s, d), 0);
}

/* Entries in one named database, read with LMDB directly while the store is closed. */
static size_t
db_count(struct fx *f, const char *name)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_stat st;

	store_close(f->s);
	f->s = NULL;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_open(env, f->dir, MDB_RDONLY, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, name, 0, &dbi), 0);
	assert_int_equal(mdb_stat(txn, dbi, &st), 0);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	fx_reopen(f, T_MAPSIZE);
	return st.ms_entries;
}

/*
 * Rewrites, with LMDB directly while the store is closed, every inode
 * record as format 1 (no flags) and every result as it was before attrs had
 * flags, and forgets the store's format: a store as an older chainfs left
 * it.  Returns how many records it rewrote.
 */
static size_t
downgrade(struct fx *f)
{
	static const char *const dbs[] = {"inodes", "results"};
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val key, v, nv;
	uint8_t buf[4096], kbuf[64];
	size_t n = 0, at;
	int rc;

	store_close(f->s);
	f->s = NULL;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_set_mapsize(env, T_MAPSIZE), 0);
	assert_int_equal(mdb_env_open(env, f->dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(mdb_dbi_open(txn, dbs[i], 0, &dbi), 0);
		assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
		for (rc = mdb_cursor_get(cur, &key, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &key, &v, MDB_NEXT)) {
			/* inodes: the 4 flag bytes before linklen; results: the attr's last 4. */
			at = i == 0 ? 1 + 4 * 4 + 8 * 3 + 12 * 3 + 8 * 5 : 4 + 4 + 92;
			assert_true(v.mv_size <= sizeof(buf) && v.mv_size >= at + 4);
			memcpy(buf, v.mv_data, at);
			memcpy(buf + at, (const uint8_t *)v.mv_data + at + 4, v.mv_size - at - 4);
			if (i == 0)
				buf[0] = 1;
			nv.mv_data = buf;
			nv.mv_size = v.mv_size - 4;
			/* The key copied first: the put moves the page's bytes. */
			assert_true(key.mv_size <= sizeof(kbuf));
			memcpy(kbuf, key.mv_data, key.mv_size);
			key.mv_data = kbuf;
			assert_int_equal(mdb_cursor_put(cur, &key, &nv, MDB_CURRENT), 0);
			n++;
		}
		assert_int_equal(rc, MDB_NOTFOUND);
		mdb_cursor_close(cur);
	}
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	key.mv_data = (void *)"format";
	key.mv_size = 6;
	assert_int_equal(mdb_del(txn, dbi, &key, NULL), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	fx_reopen(f, T_MAPSIZE);
	return n;
}

/*
 * A store an older chainfs wrote (inode records without flags, results
 * without them) opens as the same state: every record is brought to the
 * current format, so its digest is a new store's.
 */
static void
test_format_migration(void **state)
{
	struct fx *f = *state;
	uint8_t before[CFS_DIGEST_LEN], after[CFS_DIGEST_LEN];
	uint64_t file, l;
	struct cfs_op op = mkop(CFS_OP_SYMLINK, ROOT, "l");

	file = mkfile(f, ROOT, "f");
	mkdir_(f, ROOT, "d");
	op.data = (const uint8_t *)"target";
	op.datalen = 6;
	assert_int_equal(apply(f, &op, NULL), 0);
	l = ino_of(f, ROOT, "l");
	assert_int_equal(wr(f, file, 0, "abc", 3), 0);
	digest(f, before);
	assert_true(db_count(f, "results") > 0);
	digest(f, after);
	assert_memory_equal(before, after, CFS_DIGEST_LEN);
	assert_int_equal(downgrade(f), db_count(f, "inodes") + db_count(f, "results"));
	digest(f, after);
	assert_memory_equal(before, after, CFS_DIGEST_LEN);
	assert_int_equal(attr_of(f, file).size, 3);
	assert_int_equal(attr_of(f, l).size, 6);
	/* Once is enough: opening again changes nothing. */
	fx_reopen(f, T_MAPSIZE);
	digest(f, after);
	assert_memory_equal(before, after, CFS_DIGEST_LEN);
}

/* A new store holds the root only. */
static void
test_open_root(void **state)
{
	struct fx *f = *state;
	struct cfs_attr a;

	assert_int_equal(store_applied_sn(f->s), 0);
	assert_int_equal(store_next_ino(f->s), 2);
	a = attr_of(f, ROOT);
	assert_int_equal(a.ino, ROOT);
	assert_int_equal(a.mode, S_IFDIR | 0755);
	assert_int_equal(a.nlink, 2);
	assert_int_equal(a.uid, 0);
	assert_int_equal(a.gid, 0);
	assert_int_equal(a.size, 4096);
	assert_int_equal(a.mtime_sec, 0);
	assert_int_equal(a.ctime_sec, 0);
	assert_int_equal(a.atime_sec, 0);
	assert_int_equal(getattr(f, 99, NULL), ENOENT);
	assert_int_equal(ino_of(f, ROOT, "."), ROOT);
	assert_int_equal(ino_of(f, ROOT, ".."), ROOT);
	assert_int_equal(lookup(f, ROOT, "x", NULL), ENOENT);
	assert_int_equal(lookup(f, ROOT, "", NULL), EINVAL);
	assert_int_equal(lookup(f, ROOT, "a/b", NULL), EINVAL);
	assert_int_equal(lookup(f, 99, "x", NULL), ENOENT);
}

/* Entries apply strictly in sn order; bad kinds and read ops change nothing. */
static void
test_sn_order(void **state)
{
	struct fx *f = *state;
	struct cfs_op op = mkop(CFS_OP_CREATE, ROOT, "a");
	struct cfs_entry e;
	struct cfs_reply r;
	uint8_t d0[CFS_DIGEST_LEN], d1[CFS_DIGEST_LEN];

	digest(f, d0);
	entry_init(f, &e, &op);
	e.sn = 2;
	assert_int_equal(store_apply(f->s, &e, STORE_DECIDE, NULL, &r), -EINVAL);
	assert_int_equal(store_applied_sn(f->s), 0);
	e.sn = 0;
	assert_int_equal(store_apply(f->s, &e, STORE_DECIDE, NULL, &r), -EINVAL);
	e.sn = 1;
	e.kind = 9;
	assert_int_equal(store_apply(f->s, &e, STORE_DECIDE, NULL, &r), -EINVAL);
	e.kind = CFS_ENTRY_UPDATE;
	assert_int_equal(store_apply(f->s, &e, STORE_LOG, NULL, &r), -EINVAL);
	digest(f, d1);
	assert_memory_equal(d0, d1, CFS_DIGEST_LEN);

	assert_int_equal(store_apply(f->s, &e, STORE_DECIDE, NULL, &r), 0);
	assert_int_equal(r.status, 0);
	assert_int_equal(store_applied_sn(f->s), 1);
	/* The same entry again is refused and changes nothing. */
	digest(f, d0);
	assert_int_equal(store_apply(f->s, &e, STORE_DECIDE, NULL, &r), -EINVAL);
	digest(f, d1);
	assert_memory_equal(d0, d1, CFS_DIGEST_LEN);
	assert_int_equal(store_applied_sn(f->s), 1);

	/* A read op in an update entry is a protocol error with no effect. */
	op = mkop(CFS_OP_LOOKUP, ROOT, "a");
	assert_int_equal(apply(f, &op, &r), CFS_ERR_PROTOCOL);
	assert_int_equal(store_applied_sn(f->s), 2);
	/* And an update op is no read. */
	op = mkop(CFS_OP_CREATE, ROOT, "b");
	assert_int_equal(rd_op(f, &op, &r), CFS_ERR_PROTOCOL);
}

/* CREATE: attributes, parent times, EXCL, existing files, bad parents and names. */
static void
test_create(void **state)
{
	struct fx *f = *state;
	struct cfs_op op;
	struct cfs_entry e;
	struct cfs_reply r;
	struct cfs_attr a;
	uint64_t ino, next, sn;
	static const char *bad[] = {".", "..", "a/b", "/"};

	next = store_next_ino(f->s);
	op = mkop(CFS_OP_CREATE, ROOT, "f");
	op.mode = S_IFREG | 0640;
	op.uid = 5;
	op.gid = 6;
	op.flags = CFS_CREATE_EXCL;
	assert_int_equal(apply(f, &op, &r), 0);
	sn = store_applied_sn(f->s);
	ino = r.attr.ino;
	assert_int_equal(ino, next);
	assert_int_equal(store_next_ino(f->s), next + 1);
	assert_int_equal(r.attr.mode, S_IFREG | 0640);
	assert_int_equal(r.attr.nlink, 1);
	assert_int_equal(r.attr.uid, 5);
	assert_int_equal(r.attr.gid, 6);
	assert_int_equal(r.attr.size, 0);
	assert_int_equal(r.attr.blocks, 0);
	assert_int_equal(r.attr.version, sn);
	assert_int_equal(r.attr.mtime_sec, last_time(f));
	assert_int_equal(r.attr.mtime_nsec, 7);
	assert_int_equal(r.attr.ctime_sec, last_time(f));
	assert_int_equal(r.attr.atime_sec, last_time(f));
	a = attr_of(f, ROOT);
	assert_int_equal(a.mtime_sec, last_time(f));
	assert_int_equal(a.ctime_sec, last_time(f));
	assert_int_equal(a.version, sn);
	assert_int_equal(a.nlink, 2);
	assert_int_equal(lookup(f, ROOT, "f", &a), 0);
	assert_int_equal(a.ino, ino);
	assert_attr_equal(&a, &r.attr);

	/* O_CREAT|O_EXCL on an existing name. */
	assert_int_equal(apply(f, &op, &r), EEXIST);
	assert_int_equal(r.flags, 0);
	/* O_CREAT alone returns the file as it is, and uses no inode number. */
	op.flags = 0;
	op.mode = 0600;
	assert_int_equal(apply(f, &op, &r), 0);
	assert_int_equal(r.attr.ino, ino);
	assert_int_equal(r.attr.mode, S_IFREG | 0640);
	assert_int_equal(r.attr.version, sn);
	assert_int_equal(store_next_ino(f->s), next + 1);
	assert_int_equal(attr_of(f, ROOT).mtime_sec, 1000 + sn);

	/*
	 * O_CREAT|O_TRUNC that finds a file (made by another client after this
	 * one's kernel saw none) truncates it, if the caller may write it.
	 */
	assert_int_equal(wr(f, ino, 0, "data", 4), 0);
	op.flags = CFS_CREATE_TRUNC;
	op.uid = 7; /* neither owner nor group, mode 0640 */
	op.gid = 8;
	assert_int_equal(apply(f, &op, &r), EACCES);
	assert_int_equal(attr_of(f, ino).size, 4);
	op.uid = 5; /* the owner */
	assert_int_equal(apply(f, &op, &r), 0);
	assert_int_equal(r.attr.ino, ino);
	assert_int_equal(r.attr.size, 0);
	assert_int_equal(r.attr.version, store_applied_sn(f->s));
	assert_int_equal(attr_of(f, ino).size, 0);
	assert_int_equal(store_next_ino(f->s), next + 1);

	/* On a directory: EISDIR; on another type: EEXIST. */
	mkdir_(f, ROOT, "d");
	op = mkop(CFS_OP_CREATE, ROOT, "d");
	assert_int_equal(apply(f, &op, NULL), EISDIR);
	mk(f, CFS_OP_MKNOD, ROOT, "p", S_IFIFO | 0600);
	op = mkop(CFS_OP_CREATE, ROOT, "p");
	assert_int_equal(apply(f, &op, NULL), EEXIST);

	/* Bad parents. */
	op = mkop(CFS_OP_CREATE, 999, "x");
	assert_int_equal(apply(f, &op, NULL), ENOENT);
	op = mkop(CFS_OP_CREATE, ino, "x");
	assert_int_equal(apply(f, &op, NULL), ENOTDIR);

	/* Bad names. */
	op = mkop(CFS_OP_CREATE, ROOT, "");
	assert_int_equal(apply(f, &op, NULL), EINVAL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		op = mkop(CFS_OP_CREATE, ROOT, bad[i]);
		assert_int_equal(apply(f, &op, NULL), EINVAL);
	}
	op = mkop(CFS_OP_CREATE, ROOT, "a");
	op.name = "a\0b";
	op.namelen = 3;
	assert_int_equal(apply(f, &op, NULL), EINVAL);
	/* Over NAME_MAX (the decoder refuses these; the store must not overflow on them). */
	{
		static char longname[CFS_NAME_MAX + 2];

		memset(longname, 'n', sizeof(longname) - 1);
		op = mkop(CFS_OP_CREATE, ROOT, longname);
		assert_int_equal(apply(f, &op, NULL), ENAMETOOLONG);
		assert_int_equal(lookup(f, ROOT, longname, NULL), ENAMETOOLONG);
		assert_int_equal(ren(f, ROOT, "f", ROOT, longname, 0), ENAMETOOLONG);
		longname[CFS_NAME_MAX] = '\0';
		op = mkop(CFS_OP_CREATE, ROOT, longname);
		assert_int_equal(apply(f, &op, NULL), 0);
		assert_int_equal(lookup(f, ROOT, longname, NULL), 0);
	}

	/* A head that names an inode in use gets EIO, with no effect. */
	op = mkop(CFS_OP_CREATE, ROOT, "x");
	entry_init(f, &e, &op);
	e.new_ino = ino;
	assert_int_equal(store_apply(f->s, &e, STORE_DECIDE, NULL, &r), 0);
	assert_int_equal(r.status, EIO);
	assert_int_equal(e.result, EIO);
	assert_int_equal(lookup(f, ROOT, "x", NULL), ENOENT);
	/* A head that skips numbers moves next_ino past the one it used. */
	entry_init(f, &e, &op);
	e.new_ino = 1000;
	assert_int_equal(store_apply(f->s, &e, STORE_DECIDE, NULL, &r), 0);
	assert_int_equal(r.attr.ino, 1000);
	assert_int_equal(store_next_ino(f->s), 1001);
}

/* MKNOD: every file type it may make, rdev kept for devices only. */
static void
test_mknod(void **state)
{
	struct fx *f = *state;
	struct cfs_op op;
	struct cfs_reply r;
	static const struct {
		const char *name;
		uint32_t mode;
		uint64_t rdev;
	} t[] = {
	    {"fifo", S_IFIFO | 0600, 0},     {"sock", S_IFSOCK | 0644, 0},
	    {"chr", S_IFCHR | 0600, 0x0501}, {"blk", S_IFBLK | 0660, 0x0802},
	    {"reg", S_IFREG | 0644, 0},      {"notype", 0644, 0},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		op = mkop(CFS_OP_MKNOD, ROOT, t[i].name);
		op.mode = t[i].mode;
		op.rdev = 0x1234;
		if (t[i].rdev)
			op.rdev = t[i].rdev;
		assert_int_equal(apply(f, &op, &r), 0);
		assert_int_equal(r.attr.mode,
		                 (t[i].mode & S_IFMT ? t[i].mode : S_IFREG | t[i].mode));
		assert_int_equal(r.attr.rdev, t[i].rdev);
		assert_int_equal(r.attr.nlink, 1);
		assert_int_equal(ino_of(f, ROOT, t[i].name), r.attr.ino);
	}
	op = mkop(CFS_OP_MKNOD, ROOT, "dir");
	op.mode = S_IFDIR | 0755;
	assert_int_equal(apply(f, &op, NULL), EINVAL);
	op.mode = S_IFLNK | 0777;
	assert_int_equal(apply(f, &op, NULL), EINVAL);
	op = mkop(CFS_OP_MKNOD, ROOT, "fifo");
	op.mode = S_IFIFO | 0600;
	assert_int_equal(apply(f, &op, NULL), EEXIST);
	assert_int_equal(attr_of(f, ROOT).nlink, 2);
}

/* MKDIR: link counts, size, "." and "..". */
static void
test_mkdir(void **state)
{
	struct fx *f = *state;
	struct cfs_attr a;
	uint64_t d, e;

	d = mkdir_(f, ROOT, "d");
	a = attr_of(f, d);
	assert_int_equal(a.mode, S_IFDIR | 0755);
	assert_int_equal(a.nlink, 2);
	assert_int_equal(a.size, 4096);
	assert_int_equal(a.uid, 5);
	assert_int_equal(attr_of(f, ROOT).nlink, 3);
	assert_int_equal(name_op(f, CFS_OP_MKDIR, ROOT, "d"), EEXIST);
	assert_int_equal(name_op(f, CFS_OP_MKDIR, ROOT, ".."), EINVAL);
	e = mkdir_(f, d, "e");
	assert_int_equal(attr_of(f, d).nlink, 3);
	assert_int_equal(attr_of(f, ROOT).nlink, 3);
	assert_int_equal(ino_of(f, e, ".."), d);
	assert_int_equal(ino_of(f, e, "."), e);
	assert_int_equal(ino_of(f, d, ".."), ROOT);
	assert_int_equal(ino_of(f, d, "e"), e);
	mkfile(f, ROOT, "file");
	assert_int_equal(name_op(f, CFS_OP_MKDIR, ino_of(f, ROOT, "file"), "x"), ENOTDIR);
	assert_int_equal(name_op(f, CFS_OP_MKDIR, 4242, "x"), ENOENT);
}

/* SYMLINK and READLINK. */
static void
test_symlink(void **state)
{
	struct fx *f = *state;
	struct cfs_op op;
	struct cfs_reply r;
	static char longt[CFS_PATH_MAX];
	const char *target = "some/target";
	uint64_t l, file;

	op = mkop(CFS_OP_SYMLINK, ROOT, "l");
	op.data = (const uint8_t *)target;
	op.datalen = (uint32_t)strlen(target);
	op.uid = 3;
	assert_int_equal(apply(f, &op, &r), 0);
	l = r.attr.ino;
	assert_int_equal(r.attr.mode, S_IFLNK | 0777);
	assert_int_equal(r.attr.size, strlen(target));
	assert_int_equal(r.attr.uid, 3);
	assert_int_equal(r.attr.nlink, 1);
	assert_int_equal(apply(f, &op, NULL), EEXIST);

	op = mkop(CFS_OP_READLINK, l, NULL);
	assert_int_equal(rd_op(f, &op, &r), 0);
	assert_int_equal(r.datalen, strlen(target));
	assert_memory_equal(r.data, target, strlen(target));

	file = mkfile(f, ROOT, "file");
	op = mkop(CFS_OP_READLINK, file, NULL);
	assert_int_equal(rd_op(f, &op, &r), EINVAL);
	assert_int_equal(r.datalen, 0);
	op = mkop(CFS_OP_READLINK, 777, NULL);
	assert_int_equal(rd_op(f, &op, &r), ENOENT);

	op = mkop(CFS_OP_SYMLINK, ROOT, "empty");
	assert_int_equal(apply(f, &op, NULL), ENOENT);
	memset(longt, 'x', sizeof(longt));
	op.data = (const uint8_t *)longt;
	op.datalen = sizeof(longt);
	assert_int_equal(apply(f, &op, NULL), ENAMETOOLONG);
	op.datalen = sizeof(longt) - 1;
	assert_int_equal(apply(f, &op, &r), 0);
	assert_int_equal(r.attr.size, sizeof(longt) - 1);
	op = mkop(CFS_OP_READLINK, r.attr.ino, NULL);
	assert_int_equal(rd_op(f, &op, &r), 0);
	assert_int_equal(r.datalen, sizeof(longt) - 1);
}

/* LINK: counts, ctime, errors; the last unlink frees everything. */
static void
test_link(void **state)
{
	struct fx *f = *state;
	struct cfs_op op;
	struct cfs_reply r;
	struct cfs_attr a;
	uint8_t buf[16];
	uint64_t file, d, sn;

	file = mkfile(f, ROOT, "f");
	d = mkdir_(f, ROOT, "d");
	assert_int_equal(wr(f, file, 0, "data", 4), 0);
	assert_int_equal(setx(f, file, "user.k", "v", 1, 0), 0);
	op = mkop(CFS_OP_LINK, file, "g");
	op.ino2 = d;
	assert_int_equal(apply(f, &op, &r), 0);
	sn = store_applied_sn(f->s);
	assert_int_equal(r.attr.ino, file);
	assert_int_equal(r.attr.nlink, 2);
	assert_int_equal(r.attr.ctime_sec, last_time(f));
	a = attr_of(f, d);
	assert_int_equal(a.mtime_sec, last_time(f));
	assert_int_equal(a.nlink, 2);
	assert_int_equal(ino_of(f, d, "g"), file);
	assert_int_equal(apply(f, &op, NULL), EEXIST);

	op = mkop(CFS_OP_LINK, d, "dlink");
	op.ino2 = ROOT;
	assert_int_equal(apply(f, &op, NULL), EPERM);
	op = mkop(CFS_OP_LINK, 555, "x");
	op.ino2 = ROOT;
	assert_int_equal(apply(f, &op, NULL), ENOENT);
	op = mkop(CFS_OP_LINK, file, "x");
	op.ino2 = 555;
	assert_int_equal(apply(f, &op, NULL), ENOENT);
	op.ino2 = file;
	assert_int_equal(apply(f, &op, NULL), ENOTDIR);
	op.ino2 = ROOT;
	op.name = "..";
	op.namelen = 2;
	assert_int_equal(apply(f, &op, NULL), EINVAL);

	/* One name goes: the data stays. */
	assert_int_equal(name_op(f, CFS_OP_UNLINK, ROOT, "f"), 0);
	a = attr_of(f, file);
	assert_int_equal(a.nlink, 1);
	assert_int_equal(a.ctime_sec, last_time(f));
	assert_int_equal(a.version, sn - 2); /* the write's */
	assert_int_equal(rd(f, file, 0, sizeof(buf), buf), 4);
	assert_memory_equal(buf, "data", 4);
	/* The last one: inode, blocks and xattrs are gone. */
	assert_int_equal(name_op(f, CFS_OP_UNLINK, d, "g"), 0);
	assert_int_equal(getattr(f, file, NULL), ENOENT);
	assert_int_equal(db_count(f, "blocks"), 0);
	assert_int_equal(db_count(f, "xattrs"), 0);
	assert_int_equal(db_count(f, "inodes"), 2);
	assert_int_equal(db_count(f, "dirents"), 1);
	assert_int_equal(db_count(f, "cookies"), 1);
}

/* UNLINK: errors, parent times. */
static void
test_unlink(void **state)
{
	struct fx *f = *state;
	struct cfs_attr a;
	uint64_t file, d;

	file = mkfile(f, ROOT, "f");
	d = mkdir_(f, ROOT, "d");
	assert_int_equal(name_op(f, CFS_OP_UNLINK, ROOT, "nope"), ENOENT);
	assert_int_equal(name_op(f, CFS_OP_UNLINK, ROOT, "d"), EISDIR);
	assert_int_equal(name_op(f, CFS_OP_UNLINK, file, "x"), ENOTDIR);
	assert_int_equal(name_op(f, CFS_OP_UNLINK, 4444, "x"), ENOENT);
	assert_int_equal(name_op(f, CFS_OP_UNLINK, ROOT, "."), EINVAL);
	assert_int_equal(name_op(f, CFS_OP_UNLINK, ROOT, ""), EINVAL);
	assert_int_equal(name_op(f, CFS_OP_UNLINK, ROOT, "d/x"), EINVAL);
	assert_int_equal(name_op(f, CFS_OP_UNLINK, ROOT, "f"), 0);
	a = attr_of(f, ROOT);
	assert_int_equal(a.mtime_sec, last_time(f));
	assert_int_equal(a.ctime_sec, last_time(f));
	assert_int_equal(a.version, store_applied_sn(f->s));
	assert_int_equal(a.nlink, 3);
	assert_int_equal(lookup(f, ROOT, "f", NULL), ENOENT);
	assert_int_equal(getattr(f, file, NULL), ENOENT);
	assert_int_equal(name_op(f, CFS_OP_UNLINK, ROOT, "f"), ENOENT);
	assert_int_equal(getattr(f, d, NULL), 0);
}

/* RMDIR: errors and link counts. */
static void
test_rmdir(void **state)
{
	struct fx *f = *state;
	uint64_t d, e;

	d = mkdir_(f, ROOT, "d");
	e = mkdir_(f, d, "e");
	mkfile(f, ROOT, "file");
	assert_int_equal(attr_of(f, ROOT).nlink, 3);
	assert_int_equal(name_op(f, CFS_OP_RMDIR, ROOT, "nope"), ENOENT);
	assert_int_equal(name_op(f, CFS_OP_RMDIR, ROOT, "file"), ENOTDIR);
	assert_int_equal(name_op(f, CFS_OP_RMDIR, ROOT, "d"), ENOTEMPTY);
	assert_int_equal(name_op(f, CFS_OP_RMDIR, ROOT, "."), EINVAL);
	assert_int_equal(name_op(f, CFS_OP_RMDIR, ROOT, ".."), EINVAL);
	assert_int_equal(name_op(f, CFS_OP_RMDIR, ino_of(f, ROOT, "file"), "x"), ENOTDIR);
	assert_int_equal(name_op(f, CFS_OP_RMDIR, d, "e"), 0);
	assert_int_equal(getattr(f, e, NULL), ENOENT);
	assert_int_equal(attr_of(f, d).nlink, 2);
	assert_int_equal(attr_of(f, d).mtime_sec, last_time(f));
	assert_int_equal(name_op(f, CFS_OP_RMDIR, ROOT, "d"), 0);
	assert_int_equal(attr_of(f, ROOT).nlink, 2);
	assert_int_equal(lookup(f, ROOT, "d", NULL), ENOENT);
}

/* OPENREF for session `client`; returns the status. */
static int
openref(struct fx *f, uint64_t client, uint64_t ino)
{
	struct cfs_op op = mkop(CFS_OP_OPENREF, ino, NULL);
	struct cfs_reply r;
	uint64_t was = f->client;
	int st;

	f->client = client;
	st = apply(f, &op, &r);
	f->client = was;
	if (st == 0)
		assert_int_equal(r.attr.ino, ino);
	return st;
}

/* CLOSEREF of n inodes (little-endian), or with flags; returns the status. */
static int
closeref(struct fx *f, uint64_t client, const uint64_t *inos, size_t n, uint32_t flags)
{
	struct cfs_op op = mkop(CFS_OP_CLOSEREF, 0, NULL);
	uint8_t buf[8 * 4];
	uint64_t was = f->client;
	int st;

	assert_true(n <= 4);
	for (size_t i = 0; i < n; i++)
		for (int b = 0; b < 8; b++)
			buf[i * 8 + (size_t)b] = (uint8_t)(inos[i] >> (8 * b));
	op.data = buf;
	op.datalen = (uint32_t)(8 * n);
	op.flags = flags;
	f->client = client;
	st = apply(f, &op, NULL);
	f->client = was;
	return st;
}

/* The open references and orphans the store counts. */
static void
open_stats(struct fx *f, uint64_t refs, uint64_t orphans)
{
	uint64_t r = 99, o = 99;

	assert_int_equal(store_open_stats(f->s, &r, &o), 0);
	assert_int_equal(r, refs);
	assert_int_equal(o, orphans);
}

static void
collect_session(void *arg, uint64_t session)
{
	uint64_t *seen = arg;

	assert_true(seen[0] < 7);
	seen[++seen[0]] = session;
}

/*
 * Open references: an inode a session holds open outlives its last name
 * (an orphan, nlink 0, still readable and writable) until the last
 * reference goes, by CLOSEREF or the session's LKEXPIRE (bounded per entry).
 */
static void
test_open_refs(void **state)
{
	struct fx *f = *state;
	struct cfs_op op;
	struct cfs_reply r;
	char buf[16];
	uint64_t file, d, g, g2, h, l, seen[8] = {0};
	uint8_t d1[CFS_DIGEST_LEN], d2[CFS_DIGEST_LEN];

	file = mkfile(f, ROOT, "f");
	assert_int_equal(wr(f, file, 0, "hello", 5), 0);
	assert_int_equal(openref(f, 11, file), 0);
	assert_int_equal(openref(f, 11, file), 0); /* again: one reference */
	assert_int_equal(openref(f, 12, file), 0);
	assert_int_equal(openref(f, 11, 4444), ENOENT);
	open_stats(f, 2, 0);
	/* A session that holds only opens is one the head watches. */
	assert_int_equal(store_lock_sessions(f->s, collect_session, seen), 0);
	assert_int_equal(seen[0], 2);
	assert_int_equal(seen[1], 11);
	assert_int_equal(seen[2], 12);

	/* Its last name goes: an orphan, readable and writable, not linkable. */
	assert_int_equal(name_op(f, CFS_OP_UNLINK, ROOT, "f"), 0);
	assert_int_equal(lookup(f, ROOT, "f", NULL), ENOENT);
	assert_int_equal(attr_of(f, file).nlink, 0);
	assert_int_equal(attr_of(f, file).ctime_sec, last_time(f));
	assert_int_equal(attr_of(f, ROOT).nlink, 2);
	open_stats(f, 2, 1);
	assert_int_equal(wr(f, file, 5, " you", 4), 0);
	assert_int_equal(rd(f, file, 0, sizeof(buf), buf), 9);
	assert_memory_equal(buf, "hello you", 9);
	op = mkop(CFS_OP_LINK, file, "again");
	op.ino2 = ROOT;
	assert_int_equal(apply(f, &op, NULL), ENOENT);

	/* One session lets go: still there; the other's lease runs out: freed. */
	assert_int_equal(closeref(f, 11, &file, 1, 0), 0);
	assert_int_equal(closeref(f, 11, &file, 1, 0), 0); /* twice: nothing */
	assert_int_equal(attr_of(f, file).nlink, 0);
	open_stats(f, 1, 1);
	op = mkop(CFS_OP_LKEXPIRE, 0, NULL);
	op.ino2 = 12;
	f->client = 0;
	assert_int_equal(apply(f, &op, NULL), 0);
	f->client = T_CLIENT;
	assert_int_equal(getattr(f, file, NULL), ENOENT);
	open_stats(f, 0, 0);

	/* A removed directory held open: nlink 0, nothing goes in, nothing listed. */
	d = mkdir_(f, ROOT, "d");
	assert_int_equal(openref(f, 11, d), 0);
	assert_int_equal(name_op(f, CFS_OP_RMDIR, ROOT, "d"), 0);
	assert_int_equal(attr_of(f, d).nlink, 0);
	assert_int_equal(attr_of(f, ROOT).nlink, 2);
	op = mkop(CFS_OP_CREATE, d, "x");
	op.mode = 0644;
	assert_int_equal(apply(f, &op, NULL), ENOENT);
	op = mkop(CFS_OP_READDIR, d, NULL);
	op.length = 4096;
	assert_int_equal(rd_op(f, &op, &r), ENOENT);
	mkfile(f, ROOT, "y");
	assert_int_equal(ren(f, ROOT, "y", d, "x", 0), ENOENT);
	assert_int_equal(lookup(f, ROOT, "y", NULL), 0);

	/* A directory renamed over, and a file renamed over, held open. */
	g = mkdir_(f, ROOT, "g");
	h = mkdir_(f, ROOT, "h");
	assert_int_equal(openref(f, 11, h), 0);
	assert_int_equal(ren(f, ROOT, "g", ROOT, "h", 0), 0);
	assert_int_equal(attr_of(f, h).nlink, 0);
	assert_int_equal(attr_of(f, g).nlink, 2);
	assert_int_equal(attr_of(f, ROOT).nlink, 3);
	l = mkfile(f, ROOT, "l");
	mkfile(f, ROOT, "m");
	assert_int_equal(openref(f, 13, l), 0);
	assert_int_equal(ren(f, ROOT, "m", ROOT, "l", 0), 0);
	assert_int_equal(attr_of(f, l).nlink, 0);
	open_stats(f, 3, 3);

	/* CREATE with CFS_CREATE_OPENREF holds what it made, or found. */
	op = mkop(CFS_OP_CREATE, ROOT, "c");
	op.mode = 0644;
	op.flags = CFS_CREATE_OPENREF;
	f->client = 13;
	assert_int_equal(apply(f, &op, &r), 0);
	f->client = T_CLIENT;
	assert_int_equal(name_op(f, CFS_OP_UNLINK, ROOT, "c"), 0);
	assert_int_equal(attr_of(f, r.attr.ino).nlink, 0);
	open_stats(f, 4, 4);

	/* Replicas agree on all of it: the digest does not depend on the order of reads. */
	digest(f, d1);
	digest(f, d2);
	assert_memory_equal(d1, d2, CFS_DIGEST_LEN);

	/* Bad CLOSEREFs; then session 13 lets both go in one. */
	op = mkop(CFS_OP_CLOSEREF, 0, NULL);
	op.data = (const uint8_t *)"1234567";
	op.datalen = 7;
	assert_int_equal(apply(f, &op, NULL), EINVAL);
	assert_int_equal(closeref(f, 13, &l, 1, 0x1), EINVAL);
	{
		uint64_t both[2] = {l, r.attr.ino};

		assert_int_equal(closeref(f, 13, both, 2, 0), 0);
	}
	assert_int_equal(getattr(f, l, NULL), ENOENT);
	assert_int_equal(getattr(f, r.attr.ino, NULL), ENOENT);
	open_stats(f, 2, 2);
	{
		uint64_t both[2] = {d, h};

		assert_int_equal(closeref(f, 11, both, 2, 0), 0);
	}
	assert_int_equal(getattr(f, d, NULL), ENOENT);
	assert_int_equal(getattr(f, h, NULL), ENOENT);
	open_stats(f, 0, 0);
	assert_int_equal(db_count(f, "opens"), 0);
	/* A removal with CFS_REMOVE_DROPREF lets the caller's reference go first. */
	l = mkfile(f, ROOT, "q");
	assert_int_equal(openref(f, T_CLIENT, l), 0);
	op = mkop(CFS_OP_UNLINK, ROOT, "q");
	op.flags = CFS_REMOVE_DROPREF;
	op.offset = l;
	assert_int_equal(apply(f, &op, NULL), 0);
	assert_int_equal(getattr(f, l, NULL), ENOENT);
	/* It names the inode it lets go, whatever the name now leads to, even if
	 * the removal then fails (then nothing of it happens). */
	l = mkfile(f, ROOT, "q");
	g2 = mkfile(f, ROOT, "q2");
	assert_int_equal(openref(f, T_CLIENT, l), 0);
	assert_int_equal(openref(f, T_CLIENT, g2), 0);
	assert_int_equal(name_op(f, CFS_OP_UNLINK, ROOT, "q"), 0); /* another host's */
	assert_int_equal(attr_of(f, l).nlink, 0);
	op = mkop(CFS_OP_UNLINK, ROOT, "q");
	op.flags = CFS_REMOVE_DROPREF;
	op.offset = l;
	assert_int_equal(apply(f, &op, NULL), ENOENT);
	assert_int_equal(attr_of(f, l).nlink, 0); /* rolled back with the failure */
	op = mkop(CFS_OP_UNLINK, ROOT, "q2");
	op.flags = CFS_REMOVE_DROPREF;
	op.offset = l; /* q2 leads to g2, held: it stays, l goes */
	assert_int_equal(apply(f, &op, NULL), 0);
	assert_int_equal(getattr(f, l, NULL), ENOENT);
	assert_int_equal(attr_of(f, g2).nlink, 0);
	assert_int_equal(closeref(f, T_CLIENT, &g2, 1, 0), 0);
	assert_int_equal(getattr(f, g2, NULL), ENOENT);
	l = mkfile(f, ROOT, "q");
	mkfile(f, ROOT, "r");
	assert_int_equal(openref(f, T_CLIENT, l), 0);
	assert_int_equal(openref(f, 11, l), 0); /* another session still holds it */
	op = mkop(CFS_OP_RENAME, ROOT, "r");
	op.ino2 = ROOT;
	op.name2 = "q";
	op.name2len = 1;
	op.flags = CFS_REMOVE_DROPREF;
	op.offset = l;
	assert_int_equal(apply(f, &op, NULL), 0);
	assert_int_equal(attr_of(f, l).nlink, 0);
	open_stats(f, 1, 1);
	assert_int_equal(closeref(f, 11, &l, 1, 0), 0);
	assert_int_equal(getattr(f, l, NULL), ENOENT);
	open_stats(f, 0, 0);
	/* A held inode that keeps its name is not an orphan when let go. */
	assert_int_equal(openref(f, 11, g), 0);
	assert_int_equal(closeref(f, 11, &g, 1, 0), 0);
	assert_int_equal(attr_of(f, g).nlink, 2);

	/* An LKEXPIRE lets go of CFS_CLOSEREF_MAX at most: the head sends more. */
	for (unsigned i = 0; i < CFS_CLOSEREF_MAX + 3; i++) {
		char nm[16];

		snprintf(nm, sizeof(nm), "x%u", i);
		l = mkfile(f, ROOT, nm);
		assert_int_equal(openref(f, 21, l), 0);
		assert_int_equal(name_op(f, CFS_OP_UNLINK, ROOT, nm), 0);
	}
	open_stats(f, CFS_CLOSEREF_MAX + 3, CFS_CLOSEREF_MAX + 3);
	op = mkop(CFS_OP_LKEXPIRE, 0, NULL);
	op.ino2 = 21;
	f->client = 0;
	assert_int_equal(apply(f, &op, NULL), 0);
	open_stats(f, 3, 3);
	assert_int_equal(apply(f, &op, NULL), 0);
	f->client = T_CLIENT;
	open_stats(f, 0, 0);
}

/* RENAME of files: moves, replacement, NOREPLACE, hard links, errors. */
static void
test_rename_files(void **state)
{
	struct fx *f = *state;
	struct cfs_attr a;
	uint64_t fa, d, x, y, p;

	fa = mkfile(f, ROOT, "a");
	d = mkdir_(f, ROOT, "d");
	assert_int_equal(ren(f, ROOT, "a", ROOT, "b", 0), 0);
	assert_int_equal(lookup(f, ROOT, "a", NULL), ENOENT);
	assert_int_equal(ino_of(f, ROOT, "b"), fa);
	assert_int_equal(attr_of(f, fa).ctime_sec, last_time(f));
	assert_int_equal(attr_of(f, ROOT).mtime_sec, last_time(f));

	assert_int_equal(ren(f, ROOT, "b", d, "c", 0), 0);
	assert_int_equal(ino_of(f, d, "c"), fa);
	assert_int_equal(lookup(f, ROOT, "b", NULL), ENOENT);
	assert_int_equal(attr_of(f, d).mtime_sec, last_time(f));
	assert_int_equal(attr_of(f, ROOT).mtime_sec, last_time(f));
	assert_int_equal(attr_of(f, ROOT).nlink, 3);
	assert_int_equal(attr_of(f, d).nlink, 2);

	/* Replacing a file frees it. */
	x = mkfile(f, ROOT, "x");
	y = mkfile(f, ROOT, "y");
	assert_int_equal(wr(f, y, 0, "yy", 2), 0);
	assert_int_equal(ren(f, ROOT, "x", ROOT, "y", RENAME_NOREPLACE), EEXIST);
	assert_int_equal(ren(f, ROOT, "x", ROOT, "y", 0), 0);
	assert_int_equal(ino_of(f, ROOT, "y"), x);
	assert_int_equal(lookup(f, ROOT, "x", NULL), ENOENT);
	assert_int_equal(getattr(f, y, NULL), ENOENT);
	assert_int_equal(ren(f, ROOT, "y", ROOT, "z", RENAME_NOREPLACE), 0);
	assert_int_equal(ino_of(f, ROOT, "z"), x);

	/* A replaced file that has another name keeps it, with one link less. */
	p = mkfile(f, ROOT, "p");
	{
		struct cfs_op op = mkop(CFS_OP_LINK, p, "p2");

		op.ino2 = d;
		assert_int_equal(apply(f, &op, NULL), 0);
	}
	assert_int_equal(ren(f, ROOT, "z", ROOT, "p", 0), 0);
	a = attr_of(f, p);
	assert_int_equal(a.nlink, 1);
	assert_int_equal(a.ctime_sec, last_time(f));
	assert_int_equal(ino_of(f, d, "p2"), p);

	/* Two names of one inode: nothing happens. */
	{
		struct cfs_op op = mkop(CFS_OP_LINK, p, "p3");

		op.ino2 = d;
		assert_int_equal(apply(f, &op, NULL), 0);
	}
	assert_int_equal(ren(f, d, "p2", d, "p3", 0), 0);
	assert_int_equal(ino_of(f, d, "p2"), p);
	assert_int_equal(ino_of(f, d, "p3"), p);
	assert_int_equal(attr_of(f, p).nlink, 2);
	assert_int_equal(ren(f, d, "p2", d, "p2", 0), 0);
	assert_int_equal(ino_of(f, d, "p2"), p);

	/* Errors. */
	assert_int_equal(ren(f, ROOT, "nope", ROOT, "q", 0), ENOENT);
	assert_int_equal(ren(f, 999, "p", ROOT, "q", 0), ENOENT);
	assert_int_equal(ren(f, ROOT, "p", 999, "q", 0), ENOENT);
	assert_int_equal(ren(f, ROOT, "p", p, "q", 0), ENOTDIR);
	assert_int_equal(ren(f, p, "p", ROOT, "q", 0), ENOTDIR);
	assert_int_equal(ren(f, ROOT, "p", ROOT, "..", 0), EINVAL);
	assert_int_equal(ren(f, ROOT, ".", ROOT, "q", 0), EINVAL);
	assert_int_equal(ren(f, ROOT, "p", ROOT, "a/b", 0), EINVAL);
	assert_int_equal(ren(f, ROOT, "p", ROOT, "q", RENAME_NOREPLACE | RENAME_EXCHANGE), EINVAL);
	assert_int_equal(ren(f, ROOT, "p", ROOT, "q", 1 << 3), EINVAL); /* no such flag */
	assert_int_equal(ino_of(f, ROOT, "p"), x);
}

/* RENAME of directories: type rules, subtree rule, '..' and link counts. */
static void
test_rename_dirs(void **state)
{
	struct fx *f = *state;
	uint64_t a, b, x, c, e, ef, g;

	a = mkdir_(f, ROOT, "a");
	b = mkdir_(f, ROOT, "b");
	x = mkdir_(f, a, "x");
	assert_int_equal(attr_of(f, a).nlink, 3);
	assert_int_equal(ren(f, a, "x", b, "x", 0), 0);
	assert_int_equal(attr_of(f, a).nlink, 2);
	assert_int_equal(attr_of(f, b).nlink, 3);
	assert_int_equal(ino_of(f, x, ".."), b);
	assert_int_equal(attr_of(f, x).ctime_sec, last_time(f));

	/* A directory over an empty one. */
	c = mkdir_(f, ROOT, "c");
	assert_int_equal(attr_of(f, ROOT).nlink, 5);
	assert_int_equal(ren(f, b, "x", ROOT, "c", 0), 0);
	assert_int_equal(getattr(f, c, NULL), ENOENT);
	assert_int_equal(ino_of(f, ROOT, "c"), x);
	assert_int_equal(ino_of(f, x, ".."), ROOT);
	assert_int_equal(attr_of(f, ROOT).nlink, 5);
	assert_int_equal(attr_of(f, b).nlink, 2);

	/* Over a non-empty one, over a file, a file over a directory. */
	e = mkdir_(f, ROOT, "e");
	ef = mkdir_(f, e, "f");
	g = mkfile(f, ROOT, "g");
	assert_int_equal(ren(f, ROOT, "a", ROOT, "e", 0), ENOTEMPTY);
	assert_int_equal(ren(f, ROOT, "a", ROOT, "g", 0), ENOTDIR);
	assert_int_equal(ren(f, ROOT, "g", ROOT, "a", 0), EISDIR);
	assert_int_equal(ren(f, ROOT, "a", ROOT, "e", RENAME_NOREPLACE), EEXIST);

	/* Into its own subtree, or onto an ancestor of the source. */
	assert_int_equal(ren(f, ROOT, "e", e, "z", 0), EINVAL);
	assert_int_equal(ren(f, ROOT, "e", ef, "z", 0), EINVAL);
	assert_int_equal(ren(f, e, "f", ROOT, "e", 0), ENOTEMPTY);
	assert_int_equal(ino_of(f, ROOT, "e"), e);
	assert_int_equal(ino_of(f, e, "f"), ef);

	/* A directory moved down and back keeps consistent counts. */
	assert_int_equal(ren(f, ROOT, "a", ef, "a", 0), 0);
	assert_int_equal(ino_of(f, a, ".."), ef);
	assert_int_equal(attr_of(f, ef).nlink, 3);
	assert_int_equal(ren(f, ef, "a", ROOT, "a2", 0), 0);
	assert_int_equal(attr_of(f, ef).nlink, 2);
	assert_int_equal(attr_of(f, ROOT).nlink, 6); /* a2 b c e + . .. */
	assert_int_equal(getattr(f, g, NULL), 0);
}

/* RENAME_EXCHANGE: files, a directory with a file across parents, errors. */
static void
test_rename_exchange(void **state)
{
	struct fx *f = *state;
	uint64_t f1, f2, d, h, g, p, q;
	struct cfs_attr a;

	f1 = mkfile(f, ROOT, "f1");
	f2 = mkfile(f, ROOT, "f2");
	assert_int_equal(ren(f, ROOT, "f1", ROOT, "f2", RENAME_EXCHANGE), 0);
	assert_int_equal(ino_of(f, ROOT, "f1"), f2);
	assert_int_equal(ino_of(f, ROOT, "f2"), f1);
	assert_int_equal(attr_of(f, f1).ctime_sec, last_time(f));
	assert_int_equal(attr_of(f, f2).ctime_sec, last_time(f));

	d = mkdir_(f, ROOT, "d");
	h = mkdir_(f, ROOT, "h");
	g = mkfile(f, h, "g");
	assert_int_equal(attr_of(f, ROOT).nlink, 4);
	assert_int_equal(ren(f, ROOT, "d", h, "g", RENAME_EXCHANGE), 0);
	assert_int_equal(ino_of(f, ROOT, "d"), g);
	assert_int_equal(ino_of(f, h, "g"), d);
	assert_int_equal(ino_of(f, d, ".."), h);
	assert_int_equal(attr_of(f, ROOT).nlink, 3);
	a = attr_of(f, h);
	assert_int_equal(a.nlink, 3);
	assert_int_equal(a.mtime_sec, last_time(f));
	assert_int_equal(attr_of(f, ROOT).mtime_sec, last_time(f));

	/* Two directories across parents: counts unchanged, '..' swapped. */
	p = mkdir_(f, ROOT, "p");
	assert_int_equal(ren(f, ROOT, "p", h, "g", RENAME_EXCHANGE), 0);
	assert_int_equal(ino_of(f, p, ".."), h);
	assert_int_equal(ino_of(f, d, ".."), ROOT);
	assert_int_equal(attr_of(f, ROOT).nlink, 4); /* h and d */
	assert_int_equal(attr_of(f, h).nlink, 3);    /* p */

	/* Errors. */
	assert_int_equal(ren(f, ROOT, "f1", ROOT, "none", RENAME_EXCHANGE), ENOENT);
	assert_int_equal(ren(f, ROOT, "none", ROOT, "f1", RENAME_EXCHANGE), ENOENT);
	q = mkdir_(f, p, "q");
	assert_int_equal(ren(f, h, "g", p, "q", RENAME_EXCHANGE), EINVAL);
	assert_int_equal(ren(f, p, "q", h, "g", RENAME_EXCHANGE), EINVAL);
	assert_int_equal(ino_of(f, p, "q"), q);
	assert_int_equal(ino_of(f, h, "g"), p);
}

/* RENAME_WHITEOUT: the source name then leads to a new character device 0/0. */
static void
test_rename_whiteout(void **state)
{
	struct fx *f = *state;
	uint64_t f1, f2, g, d, e, w, next;
	struct cfs_attr a;

	struct cfs_op op;

	f1 = mkfile(f, ROOT, "f1");
	d = mkdir_(f, ROOT, "d");
	next = store_next_ino(f->s);
	op = mkop(CFS_OP_RENAME, ROOT, "f1");
	op.ino2 = d;
	op.name2 = "x";
	op.name2len = 1;
	op.flags = RENAME_WHITEOUT;
	op.caller_uid = 77;
	op.caller_gid = 78;
	assert_int_equal(apply(f, &op, NULL), 0);
	assert_int_equal(ino_of(f, d, "x"), f1);
	w = ino_of(f, ROOT, "f1");
	assert_int_equal(w, next);
	assert_true(store_next_ino(f->s) > w);
	a = attr_of(f, w);
	assert_int_equal(a.mode, S_IFCHR);
	assert_int_equal(a.rdev, 0);
	assert_int_equal(a.nlink, 1);
	assert_int_equal(a.uid, 77); /* the caller's */
	assert_int_equal(a.gid, 78);
	assert_int_equal(a.ctime_sec, last_time(f));
	assert_int_equal(attr_of(f, ROOT).mtime_sec, last_time(f));
	assert_int_equal(attr_of(f, f1).nlink, 1);

	/* Over an existing target, which goes as in a plain rename. */
	f2 = mkfile(f, ROOT, "f2");
	g = mkfile(f, ROOT, "g");
	assert_int_equal(ren(f, ROOT, "g", ROOT, "f2", RENAME_WHITEOUT), 0);
	assert_int_equal(ino_of(f, ROOT, "f2"), g);
	assert_true(ino_of(f, ROOT, "g") != g);
	assert_int_equal(attr_of(f, ino_of(f, ROOT, "g")).mode, S_IFCHR);
	assert_int_equal(getattr(f, f2, NULL), ENOENT);

	/* A directory moved away: its old parent loses its '..' link, the whiteout is no directory. */
	e = mkdir_(f, ROOT, "e");
	assert_int_equal(attr_of(f, ROOT).nlink, 4);
	assert_int_equal(ren(f, ROOT, "e", d, "e", RENAME_WHITEOUT), 0);
	assert_int_equal(ino_of(f, e, ".."), d);
	assert_int_equal(attr_of(f, ROOT).nlink, 3);
	assert_int_equal(attr_of(f, ino_of(f, ROOT, "e")).mode, S_IFCHR);

	/* Refused, taking no inode number: with EXCHANGE, over a name with NOREPLACE. */
	next = store_next_ino(f->s);
	assert_int_equal(ren(f, ROOT, "f2", d, "x", RENAME_WHITEOUT | RENAME_EXCHANGE), EINVAL);
	assert_int_equal(ren(f, ROOT, "f2", d, "x", RENAME_WHITEOUT | RENAME_NOREPLACE), EEXIST);
	assert_int_equal(ren(f, ROOT, "none", d, "y", RENAME_WHITEOUT), ENOENT);
	assert_int_equal(store_next_ino(f->s), next);
	assert_int_equal(ino_of(f, ROOT, "f2"), g);
	assert_int_equal(ren(f, ROOT, "f2", d, "y", RENAME_WHITEOUT | RENAME_NOREPLACE), 0);
	assert_int_equal(attr_of(f, ino_of(f, ROOT, "f2")).mode, S_IFCHR);
}

/* SETATTR of the inode flags (chattr); returns the status. */
static int
setflags(struct fx *f, uint64_t ino, uint32_t flags)
{
	struct cfs_op op = mkop(CFS_OP_SETATTR, ino, NULL);

	op.valid = CFS_SET_FLAGS;
	op.rdev = flags;
	return apply(f, &op, NULL);
}

/* SETATTR of valid alone (times "now", or explicit ones of 1); returns the status. */
static int
setattr_valid(struct fx *f, uint64_t ino, uint32_t valid)
{
	struct cfs_op op = mkop(CFS_OP_SETATTR, ino, NULL);

	op.valid = valid;
	op.mode = 0600;
	op.atime_sec = op.mtime_sec = 1;
	return apply(f, &op, NULL);
}

/* A WRITE of one byte, appending or at 0; returns the status. */
static int
wr1(struct fx *f, uint64_t ino, int append)
{
	struct cfs_op op = mkop(CFS_OP_WRITE, ino, NULL);

	op.data = (const uint8_t *)"x";
	op.datalen = 1;
	op.flags = append ? CFS_WRITE_APPEND : 0;
	return apply(f, &op, NULL);
}

/* Inode flags: kept, shown, persistent; immutable and append-only enforced. */
static void
test_inode_flags(void **state)
{
	struct fx *f = *state;
	uint64_t file, d, g, h, k;
	uint8_t before[CFS_DIGEST_LEN], after[CFS_DIGEST_LEN];
	struct cfs_op op;

	file = mkfile(f, ROOT, "f");
	d = mkdir_(f, ROOT, "d");
	g = mkfile(f, d, "g");
	assert_int_equal(attr_of(f, file).flags, 0);
	assert_int_equal(setflags(f, file, CFS_FL_NODUMP | CFS_FL_NOATIME), 0);
	assert_int_equal(attr_of(f, file).flags, CFS_FL_NODUMP | CFS_FL_NOATIME);
	assert_int_equal(attr_of(f, file).ctime_sec, last_time(f));
	assert_int_equal(setflags(f, file, 0x8 /* FS_SYNC_FL: not kept */), EOPNOTSUPP);
	fx_reopen(f, 64ULL << 20);
	assert_int_equal(attr_of(f, file).flags, CFS_FL_NODUMP | CFS_FL_NOATIME);

	/* Immutable: nothing changes, not even by root; only the flags themselves. */
	assert_int_equal(setflags(f, file, CFS_FL_IMMUTABLE), 0);
	assert_int_equal(wr1(f, file, 0), EPERM);
	assert_int_equal(wr1(f, file, 1), EPERM);
	assert_int_equal(setsize(f, file, 0), EPERM);
	assert_int_equal(setattr_valid(f, file, CFS_SET_MODE), EPERM);
	assert_int_equal(setattr_valid(f, file, CFS_SET_ATIME_NOW | CFS_SET_MTIME_NOW), EPERM);
	assert_int_equal(falloc(f, file, FALLOC_FL_KEEP_SIZE, 0, 10), EPERM);
	assert_int_equal(setx(f, file, "user.a", "v", 1, 0), EPERM);
	op = mkop(CFS_OP_LINK, file, "f2");
	op.ino2 = ROOT;
	assert_int_equal(apply(f, &op, NULL), EPERM);
	assert_int_equal(name_op(f, CFS_OP_UNLINK, ROOT, "f"), EPERM);
	assert_int_equal(ren(f, ROOT, "f", ROOT, "f3", 0), EPERM);
	assert_int_equal(ren(f, d, "g", ROOT, "f", 0), EPERM); /* replacing it */
	assert_int_equal(ino_of(f, ROOT, "f"), file);
	assert_int_equal(setflags(f, file, 0), 0);
	assert_int_equal(wr1(f, file, 0), 0);

	/* An immutable directory: no name comes or goes; its files may change. */
	assert_int_equal(setflags(f, d, CFS_FL_IMMUTABLE), 0);
	mk(f, CFS_OP_CREATE, ROOT, "outside", 0644); /* the root directory is not immutable */
	op = mkop(CFS_OP_CREATE, d, "new");
	op.mode = S_IFREG | 0644;
	assert_int_equal(apply(f, &op, NULL), EPERM);
	assert_int_equal(name_op(f, CFS_OP_UNLINK, d, "g"), EPERM);
	assert_int_equal(ren(f, ROOT, "f", d, "f", 0), EPERM);
	assert_int_equal(ren(f, d, "g", ROOT, "g", 0), EPERM);
	assert_int_equal(wr1(f, g, 0), 0);
	assert_int_equal(setflags(f, d, 0), 0);

	/* Append-only: appends only; no truncation, removal, rename, chmod or xattr. */
	assert_int_equal(setflags(f, file, CFS_FL_APPEND), 0);
	assert_int_equal(wr1(f, file, 1), 0);
	assert_int_equal(attr_of(f, file).size, 2);
	assert_int_equal(wr1(f, file, 0), EPERM);
	assert_int_equal(setsize(f, file, 0), EPERM);
	assert_int_equal(setattr_valid(f, file, CFS_SET_MODE), EPERM);
	assert_int_equal(setattr_valid(f, file, CFS_SET_MTIME), EPERM);
	assert_int_equal(setattr_valid(f, file, CFS_SET_ATIME_NOW | CFS_SET_MTIME_NOW), 0);
	assert_int_equal(falloc(f, file, FALLOC_FL_KEEP_SIZE, 0, 10), 0);
	assert_int_equal(falloc(f, file, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 1), EPERM);
	assert_int_equal(setx(f, file, "user.a", "v", 1, 0), EPERM);
	assert_int_equal(name_op(f, CFS_OP_UNLINK, ROOT, "f"), EPERM);
	assert_int_equal(ren(f, ROOT, "f", ROOT, "f3", 0), EPERM);
	op = mkop(CFS_OP_CREATE, ROOT, "f");
	op.mode = S_IFREG | 0644;
	op.flags = CFS_CREATE_TRUNC;
	assert_int_equal(apply(f, &op, NULL), EPERM);
	assert_int_equal(attr_of(f, file).size, 2);
	assert_int_equal(setflags(f, file, 0), 0);

	/* An append-only directory: names come, none goes. */
	assert_int_equal(setflags(f, d, CFS_FL_APPEND), 0);
	h = mkfile(f, d, "h");
	assert_int_equal(ino_of(f, d, "h"), h);
	assert_int_equal(name_op(f, CFS_OP_UNLINK, d, "h"), EPERM);
	assert_int_equal(ren(f, d, "h", d, "h2", 0), EPERM);
	assert_int_equal(ren(f, ROOT, "f", d, "h", 0), EPERM); /* replacing a name in it */
	assert_int_equal(ren(f, ROOT, "f", d, "f", 0), 0);
	assert_int_equal(setflags(f, d, 0), 0);
	assert_int_equal(name_op(f, CFS_OP_UNLINK, d, "h"), 0);

	/* The flags travel in every reply's attributes, and change the digest. */
	k = mkfile(f, ROOT, "k");
	digest(f, before);
	assert_int_equal(setflags(f, k, CFS_FL_APPEND), 0);
	assert_int_equal(attr_of(f, k).flags, CFS_FL_APPEND);
	digest(f, after);
	assert_memory_not_equal(before, after, CFS_DIGEST_LEN);

	/* Who may: the owner (5) or root; immutable and append-only, root only. */
	op = mkop(CFS_OP_SETATTR, k, NULL);
	op.valid = CFS_SET_FLAGS;
	op.caller_uid = 5;
	op.rdev = CFS_FL_APPEND | CFS_FL_NODUMP;
	assert_int_equal(apply(f, &op, NULL), 0);
	op.rdev = CFS_FL_NODUMP;
	assert_int_equal(apply(f, &op, NULL), EPERM);
	op.caller_uid = 6;
	op.rdev = CFS_FL_APPEND;
	assert_int_equal(apply(f, &op, NULL), EPERM);
	assert_int_equal(attr_of(f, k).flags, CFS_FL_APPEND | CFS_FL_NODUMP);
	/* While immutable stays, no other flag changes, even for root. */
	assert_int_equal(setflags(f, k, CFS_FL_IMMUTABLE), 0);
	assert_int_equal(setflags(f, k, CFS_FL_IMMUTABLE | CFS_FL_NODUMP), EPERM);
	assert_int_equal(setflags(f, k, CFS_FL_NODUMP), 0);
}

/* SETATTR: mode, owner, times, set-id clearing, size. */
static void
test_setattr(void **state)
{
	struct fx *f = *state;
	struct cfs_op op;
	struct cfs_reply r;
	uint8_t buf[300000];
	uint64_t file, d, l, sn;

	file = mk(f, CFS_OP_CREATE, ROOT, "f", 06755);
	op = mkop(CFS_OP_SETATTR, file, NULL);
	op.valid = CFS_SET_KILL_SUID;
	assert_int_equal(apply(f, &op, &r), 0);
	assert_int_equal(r.attr.mode, S_IFREG | 0755);
	assert_int_equal(r.attr.ctime_sec, last_time(f));

	op.valid = CFS_SET_MODE;
	op.mode = S_IFDIR | 02644;
	assert_int_equal(apply(f, &op, &r), 0);
	assert_int_equal(r.attr.mode, S_IFREG | 02644);
	op.valid = CFS_SET_KILL_SUID; /* no group exec: set-gid is mandatory locking, kept */
	assert_int_equal(apply(f, &op, &r), 0);
	assert_int_equal(r.attr.mode, S_IFREG | 02644);

	op.valid = CFS_SET_UID | CFS_SET_GID;
	op.uid = 100;
	op.gid = 200;
	assert_int_equal(apply(f, &op, &r), 0);
	assert_int_equal(r.attr.uid, 100);
	assert_int_equal(r.attr.gid, 200);
	assert_int_equal(attr_of(f, file).uid, 100);

	op.valid = CFS_SET_ATIME | CFS_SET_MTIME;
	op.atime_sec = 11;
	op.atime_nsec = 12;
	op.mtime_sec = 13;
	op.mtime_nsec = 14;
	assert_int_equal(apply(f, &op, &r), 0);
	assert_int_equal(r.attr.atime_sec, 11);
	assert_int_equal(r.attr.atime_nsec, 12);
	assert_int_equal(r.attr.mtime_sec, 13);
	assert_int_equal(r.attr.mtime_nsec, 14);
	assert_int_equal(r.attr.ctime_sec, last_time(f));
	op.valid = CFS_SET_ATIME | CFS_SET_ATIME_NOW | CFS_SET_MTIME | CFS_SET_MTIME_NOW;
	assert_int_equal(apply(f, &op, &r), 0);
	assert_int_equal(r.attr.atime_sec, last_time(f));
	assert_int_equal(r.attr.mtime_sec, last_time(f));
	assert_int_equal(r.attr.mtime_nsec, 7);
	op.valid = CFS_SET_MTIME;
	op.mtime_nsec = 1000000000;
	assert_int_equal(apply(f, &op, NULL), EINVAL);

	/* Size: shrink, extend with zeros, same size keeps mtime and version. */
	memset(buf, 0xab, 100);
	assert_int_equal(wr(f, file, 0, buf, 100), 0);
	assert_int_equal(setsize(f, file, 10), 0);
	sn = store_applied_sn(f->s);
	assert_int_equal(attr_of(f, file).size, 10);
	assert_int_equal(attr_of(f, file).version, sn);
	assert_int_equal(attr_of(f, file).mtime_sec, last_time(f));
	assert_int_equal(rd(f, file, 0, 100, buf), 10);
	assert_int_equal(setsize(f, file, 200000), 0);
	assert_int_equal(rd(f, file, 0, sizeof(buf), buf), 200000);
	for (size_t i = 0; i < 200000; i++)
		assert_int_equal(buf[i], i < 10 ? 0xab : 0);
	assert_int_equal(attr_of(f, file).blocks, 1);
	sn = store_applied_sn(f->s);
	assert_int_equal(setsize(f, file, 200000), 0);
	assert_int_equal(attr_of(f, file).version, sn);
	assert_int_equal(attr_of(f, file).mtime_sec, 1000 + sn);
	assert_int_equal(attr_of(f, file).ctime_sec, last_time(f));

	d = mkdir_(f, ROOT, "d");
	assert_int_equal(setsize(f, d, 0), EISDIR);
	op = mkop(CFS_OP_SYMLINK, ROOT, "l");
	op.data = (const uint8_t *)"t";
	op.datalen = 1;
	assert_int_equal(apply(f, &op, &r), 0);
	l = r.attr.ino;
	assert_int_equal(setsize(f, l, 0), EINVAL);
	assert_int_equal(setsize(f, 9999, 0), ENOENT);
	assert_int_equal(setsize(f, file, (uint64_t)INT64_MAX + 1), EFBIG);
	/* Setting the mode of a directory keeps it a directory. */
	op = mkop(CFS_OP_SETATTR, d, NULL);
	op.valid = CFS_SET_MODE;
	op.mode = 0700;
	assert_int_equal(apply(f, &op, &r), 0);
	assert_int_equal(r.attr.mode, S_IFDIR | 0700);
}

/* WRITE and READ: extension, sparse holes, block boundaries, big writes, errors. */
static void
test_write_read(void **state)
{
	struct fx *f = *state;
	static uint8_t big[CFS_MAX_IO], back[CFS_MAX_IO + 100];
	struct cfs_op op;
	struct cfs_reply r;
	struct cfs_attr a;
	uint64_t file, d;

	file = mkfile(f, ROOT, "f");
	assert_int_equal(wr(f, file, 0, "hello", 5), 0);
	a = attr_of(f, file);
	assert_int_equal(a.size, 5);
	assert_int_equal(a.version, store_applied_sn(f->s));
	assert_int_equal(a.mtime_sec, last_time(f));
	assert_int_equal(a.ctime_sec, last_time(f));
	assert_int_equal(a.blocks, 1);
	assert_int_equal(rd(f, file, 0, 100, back), 5);
	assert_memory_equal(back, "hello", 5);
	assert_int_equal(rd(f, file, 5, 100, back), 0);
	assert_int_equal(rd(f, file, 1000, 100, back), 0);
	assert_int_equal(rd(f, file, 1, 2, back), 2);
	assert_memory_equal(back, "el", 2);

	/* A write far out leaves a hole that reads as zeros. */
	assert_int_equal(wr(f, file, 200000, "x", 1), 0);
	a = attr_of(f, file);
	assert_int_equal(a.size, 200001);
	assert_int_equal(a.blocks, (5 + 200000 % T_BS + 1 + 511) / 512);
	assert_int_equal(rd(f, file, 0, 200001, back), 200001);
	assert_memory_equal(back, "hello", 5);
	for (size_t i = 5; i < 200000; i++)
		assert_int_equal(back[i], 0);
	assert_int_equal(back[200000], 'x');

	/* Across a block boundary, into a hole and over old data. */
	assert_int_equal(wr(f, file, T_BS - 3, "0123456789", 10), 0);
	assert_int_equal(rd(f, file, T_BS - 5, 14, back), 14);
	assert_memory_equal(back,
	                    "\0\0"
	                    "0123456789\0\0",
	                    14);
	assert_int_equal(wr(f, file, 2, "LL", 2), 0);
	assert_int_equal(rd(f, file, 0, 6, back), 6);
	assert_memory_equal(back, "heLLo\0", 6);

	/* The largest write, unaligned. */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(wr(f, file, 1000, big, sizeof(big)), 0);
	assert_int_equal(attr_of(f, file).size, 1000 + sizeof(big));
	d = store_preads(f->s);
	assert_int_equal(rd(f, file, 1000, CFS_MAX_IO, back), CFS_MAX_IO);
	assert_memory_equal(back, big, sizeof(big));
	/* Whole blocks come with pread from the file, not through the map. */
	assert_true(store_preads(f->s) >= d + CFS_MAX_IO - T_BS);
	assert_int_equal(rd(f, file, 0, 1000, back), 1000);
	assert_memory_equal(back, "heLLo", 5);

	op = mkop(CFS_OP_READ, file, NULL);
	op.length = CFS_MAX_IO + 1;
	assert_int_equal(rd_op(f, &op, &r), EINVAL);

	/* O_APPEND: at the end the store finds, whatever offset the writer's kernel gave. */
	d = mkfile(f, ROOT, "log");
	assert_int_equal(wr(f, d, 0, "abc", 3), 0);
	op = mkop(CFS_OP_WRITE, d, NULL);
	op.offset = 0; /* stale: another host appended since the writer looked */
	op.flags = CFS_WRITE_APPEND;
	op.data = (const uint8_t *)"de";
	op.datalen = 2;
	assert_int_equal(apply(f, &op, &r), 0);
	assert_int_equal(r.value, 2);
	assert_int_equal(r.attr.size, 5);
	assert_int_equal(rd(f, d, 0, 100, back), 5);
	assert_memory_equal(back, "abcde", 5);

	/* A write of nothing changes nothing. */
	a = attr_of(f, file);
	assert_int_equal(wr(f, file, 5000000, "", 0), 0);
	assert_int_equal(attr_of(f, file).size, a.size);
	assert_int_equal(attr_of(f, file).version, a.version);

	/* Writes by another user clear set-uid when asked to. */
	op = mkop(CFS_OP_SETATTR, file, NULL);
	op.valid = CFS_SET_MODE;
	op.mode = 04755;
	assert_int_equal(apply(f, &op, NULL), 0);
	op = mkop(CFS_OP_WRITE, file, NULL);
	op.data = (const uint8_t *)"k";
	op.datalen = 1;
	op.valid = CFS_SET_KILL_SUID;
	assert_int_equal(apply(f, &op, &r), 0);
	assert_int_equal(r.attr.mode, S_IFREG | 0755);

	d = mkdir_(f, ROOT, "d");
	assert_int_equal(wr(f, d, 0, "x", 1), EISDIR);
	assert_int_equal(wr(f, 9999, 0, "x", 1), ENOENT);
	assert_int_equal(wr(f, file, (uint64_t)INT64_MAX, "x", 1), EFBIG);
	op = mkop(CFS_OP_READ, d, NULL);
	op.length = 10;
	assert_int_equal(rd_op(f, &op, &r), EISDIR);
	op.ino = 9999;
	assert_int_equal(rd_op(f, &op, &r), ENOENT);
}

/* Truncation drops whole blocks, cuts the last one, and extension shows zeros. */
static void
test_truncate(void **state)
{
	struct fx *f = *state;
	static uint8_t buf[150000];
	struct cfs_attr a;
	uint64_t file;

	file = mkfile(f, ROOT, "f");
	memset(buf, 0xab, sizeof(buf));
	assert_int_equal(wr(f, file, 0, buf, sizeof(buf)), 0);
	assert_int_equal(attr_of(f, file).blocks, (150000 + 511) / 512);
	assert_int_equal(setsize(f, file, 70000), 0);
	a = attr_of(f, file);
	assert_int_equal(a.size, 70000);
	assert_int_equal(a.blocks, (70000 + 511) / 512);
	assert_int_equal(rd(f, file, 69990, 20, buf), 10);
	assert_int_equal(setsize(f, file, 140000), 0);
	assert_int_equal(attr_of(f, file).blocks, (70000 + 511) / 512);
	assert_int_equal(rd(f, file, T_BS, 140000, buf), 140000 - T_BS);
	for (size_t i = 0; i < 140000 - T_BS; i++)
		assert_int_equal(buf[i], i < 70000 - T_BS ? 0xab : 0);
	assert_int_equal(setsize(f, file, 0), 0);
	a = attr_of(f, file);
	assert_int_equal(a.size, 0);
	assert_int_equal(a.blocks, 0);
	assert_int_equal(setsize(f, file, 5000), 0);
	assert_int_equal(rd(f, file, 0, 6000, buf), 5000);
	for (size_t i = 0; i < 5000; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(db_count(f, "blocks"), 0);
}

/* Extended attributes: flags, sizes, listing, removal. */
static void
test_xattr(void **state)
{
	struct fx *f = *state;
	static uint8_t big[CFS_XATTR_SIZE_MAX + 1];
	struct cfs_reply r;
	uint64_t file;

	file = mkfile(f, ROOT, "f");
	assert_int_equal(setx(f, file, "user.b", "hello", 5, 0), 0);
	assert_int_equal(attr_of(f, file).ctime_sec, last_time(f));
	assert_int_equal(setx(f, file, "user.a", "1", 1, 1 /* XATTR_CREATE on a new name */), 0);
	assert_int_equal(setx(f, file, "user.a", "2", 1, 1 /* XATTR_CREATE */), EEXIST);
	assert_int_equal(setx(f, file, "user.c", "2", 1, 2 /* XATTR_REPLACE */), ENODATA);
	assert_int_equal(setx(f, file, "user.a", "22", 2, 2), 0);
	assert_int_equal(setx(f, file, "user.e", "", 0, 0), 0);
	assert_int_equal(setx(f, file, "", "x", 1, 0), ERANGE);
	assert_int_equal(setx(f, file, "user.x", "x", 1, 4), EINVAL);
	assert_int_equal(setx(f, 9999, "user.x", "x", 1, 0), ENOENT);
	assert_int_equal(setx(f, file, "user.big", big, sizeof(big), 0), E2BIG);
	assert_int_equal(setx(f, file, "user.big", big, sizeof(big) - 1, 0), 0);

	assert_int_equal(getx(f, CFS_OP_GETXATTR, file, "user.a", 0, &r), 0);
	assert_int_equal(r.value, 2);
	assert_int_equal(r.datalen, 0);
	assert_int_equal(getx(f, CFS_OP_GETXATTR, file, "user.a", 100, &r), 0);
	assert_int_equal(r.value, 2);
	assert_int_equal(r.datalen, 2);
	assert_memory_equal(r.data, "22", 2);
	assert_int_equal(getx(f, CFS_OP_GETXATTR, file, "user.b", 4, &r), ERANGE);
	assert_int_equal(r.datalen, 0);
	assert_int_equal(getx(f, CFS_OP_GETXATTR, file, "user.b", 5, &r), 0);
	assert_memory_equal(r.data, "hello", 5);
	assert_int_equal(getx(f, CFS_OP_GETXATTR, file, "user.e", 10, &r), 0);
	assert_int_equal(r.value, 0);
	assert_int_equal(getx(f, CFS_OP_GETXATTR, file, "user.big", CFS_XATTR_SIZE_MAX, &r), 0);
	assert_int_equal(r.datalen, CFS_XATTR_SIZE_MAX);
	assert_int_equal(getx(f, CFS_OP_GETXATTR, file, "user.zz", 10, &r), ENODATA);
	assert_int_equal(getx(f, CFS_OP_GETXATTR, 9999, "user.zz", 10, &r), ENOENT);

	{
		const char want[] = "user.a\0user.b\0user.big\0user.e";

		assert_int_equal(getx(f, CFS_OP_LISTXATTR, file, NULL, 0, &r), 0);
		assert_int_equal(r.value, sizeof(want));
		assert_int_equal(r.datalen, 0);
		assert_int_equal(getx(f, CFS_OP_LISTXATTR, file, NULL, sizeof(want) - 1, &r),
		                 ERANGE);
		assert_int_equal(getx(f, CFS_OP_LISTXATTR, file, NULL, 1000, &r), 0);
		assert_int_equal(r.datalen, sizeof(want));
		assert_memory_equal(r.data, want, sizeof(want));
	}

	assert_int_equal(name_op(f, CFS_OP_REMOVEXATTR, file, "user.a"), 0);
	assert_int_equal(attr_of(f, file).ctime_sec, last_time(f));
	assert_int_equal(name_op(f, CFS_OP_REMOVEXATTR, file, "user.a"), ENODATA);
	assert_int_equal(name_op(f, CFS_OP_REMOVEXATTR, 9999, "user.a"), ENOENT);
	assert_int_equal(getx(f, CFS_OP_GETXATTR, file, "user.a", 10, &r), ENODATA);
	assert_int_equal(getx(f, CFS_OP_LISTXATTR, file, NULL, 0, &r), 0);
	assert_int_equal(r.value, sizeof("user.b\0user.big\0user.e"));
	/* Directories carry xattrs too. */
	assert_int_equal(setx(f, ROOT, "user.r", "r", 1, 0), 0);
	assert_int_equal(getx(f, CFS_OP_LISTXATTR, ROOT, NULL, 100, &r), 0);
	assert_int_equal(r.datalen, sizeof("user.r"));
}

/* An ACL value from (tag, perm, id) triples. */
static size_t
aclv(uint8_t *out, const struct store_acl_entry *e, size_t n)
{
	struct store_acl a;

	a.n = n;
	memcpy(a.e, e, n * sizeof(*e));
	return store_acl_encode(&a, out);
}

/* The stored ACL name of ino, decoded; ENODATA when there is none. */
static int
acl_of(struct fx *f, uint64_t ino, const char *name, struct store_acl *a)
{
	struct cfs_reply r;
	int rc = getx(f, CFS_OP_GETXATTR, ino, name, STORE_ACL_MAX_SIZE, &r);

	if (rc != 0)
		return rc;
	assert_int_equal(store_acl_decode(r.data, r.datalen, a), 0);
	return 0;
}

#define UID STORE_ACL_UNDEFINED_ID

/*
 * ACLs and the mode kept in step by the head (the kernel leaves it to the
 * filesystem): setfacl sets the mode, chmod the ACL, a default ACL is
 * inherited instead of the umask.
 */
static void
test_acl_apply(void **state)
{
	struct fx *f = *state;
	static const struct store_acl_entry named[] = {
	    {STORE_ACL_USER_OBJ, 6, UID}, {STORE_ACL_USER, 4, 1000}, {STORE_ACL_GROUP_OBJ, 4, UID},
	    {STORE_ACL_MASK, 6, UID},     {STORE_ACL_OTHER, 0, UID},
	};
	static const struct store_acl_entry plain[] = {
	    {STORE_ACL_USER_OBJ, 7, UID}, {STORE_ACL_GROUP_OBJ, 5, UID}, {STORE_ACL_OTHER, 4, UID}};
	static const struct store_acl_entry def[] = {
	    {STORE_ACL_USER_OBJ, 7, UID}, {STORE_ACL_USER, 7, 1000}, {STORE_ACL_GROUP_OBJ, 5, UID},
	    {STORE_ACL_MASK, 7, UID},     {STORE_ACL_OTHER, 5, UID},
	};
	uint8_t v[STORE_ACL_MAX_SIZE];
	struct store_acl a;
	struct cfs_op op;
	uint64_t file, dir, sub, in, top;
	size_t len;

	/* setfacl: the group bits become the mask; the value is kept as given. */
	file = mkfile(f, ROOT, "f");
	len = aclv(v, named, 5);
	assert_int_equal(setx(f, file, STORE_ACL_ACCESS, v, len, 0), 0);
	assert_int_equal(attr_of(f, file).mode, S_IFREG | 0660);
	assert_int_equal(acl_of(f, file, STORE_ACL_ACCESS, &a), 0);
	assert_int_equal(a.n, 5);
	/* chmod: the owner, mask and other entries follow; the named entry stays. */
	op = mkop(CFS_OP_SETATTR, file, NULL);
	op.valid = CFS_SET_MODE;
	op.mode = 0640;
	assert_int_equal(apply(f, &op, NULL), 0);
	assert_int_equal(acl_of(f, file, STORE_ACL_ACCESS, &a), 0);
	assert_int_equal(a.e[0].perm, 6);
	assert_int_equal(a.e[1].perm, 4);
	assert_int_equal(a.e[3].perm, 4);
	assert_int_equal(a.e[4].perm, 0);
	/* An ACL the mode says all of sets the mode and is not kept. */
	len = aclv(v, plain, 3);
	assert_int_equal(setx(f, file, STORE_ACL_ACCESS, v, len, 0), 0);
	assert_int_equal(attr_of(f, file).mode, S_IFREG | 0754);
	assert_int_equal(acl_of(f, file, STORE_ACL_ACCESS, &a), ENODATA);
	/* Bad values; a default ACL on a file. */
	assert_int_equal(setx(f, file, STORE_ACL_ACCESS, v, len - 1, 0), EINVAL);
	assert_int_equal(setx(f, file, STORE_ACL_DEFAULT, v, len, 0), EACCES);
	/* Set-gid goes when the client says the caller is outside the group. */
	op = mkop(CFS_OP_SETATTR, file, NULL);
	op.valid = CFS_SET_MODE;
	op.mode = 02770;
	assert_int_equal(apply(f, &op, NULL), 0);
	op = mkop(CFS_OP_SETXATTR, file, STORE_ACL_ACCESS);
	len = aclv(v, named, 5);
	op.data = v;
	op.datalen = (uint32_t)len;
	assert_int_equal(apply(f, &op, NULL), 0);
	assert_int_equal(attr_of(f, file).mode, S_IFREG | 02660);
	op.valid = CFS_SET_KILL_SGID;
	assert_int_equal(apply(f, &op, NULL), 0);
	assert_int_equal(attr_of(f, file).mode, S_IFREG | 0660);

	/* Without a default ACL the umask (valid) masks a new inode's mode. */
	op = mkop(CFS_OP_CREATE, ROOT, "u");
	op.mode = 0666;
	op.valid = 022;
	assert_int_equal(apply(f, &op, NULL), 0);
	assert_int_equal(attr_of(f, ino_of(f, ROOT, "u")).mode, S_IFREG | 0644);

	/* A default ACL: inherited, the umask ignored, the mode masked by the ACL. */
	dir = mkdir_(f, ROOT, "d");
	len = aclv(v, def, 5);
	assert_int_equal(setx(f, dir, STORE_ACL_DEFAULT, v, len, 0), 0);
	op = mkop(CFS_OP_CREATE, dir, "in");
	op.mode = 0666;
	op.valid = 077;
	assert_int_equal(apply(f, &op, NULL), 0);
	in = ino_of(f, dir, "in");
	assert_int_equal(attr_of(f, in).mode, S_IFREG | 0664);
	assert_int_equal(acl_of(f, in, STORE_ACL_ACCESS, &a), 0);
	assert_int_equal(a.e[1].perm, 7); /* the named entry as the default says; the mask limits it */
	assert_int_equal(a.e[3].perm, 6);
	assert_int_equal(a.e[4].perm, 4);
	assert_int_equal(acl_of(f, in, STORE_ACL_DEFAULT, &a), ENODATA);
	op = mkop(CFS_OP_MKDIR, dir, "sub");
	op.mode = 0777;
	op.valid = 077;
	assert_int_equal(apply(f, &op, NULL), 0);
	sub = ino_of(f, dir, "sub");
	assert_int_equal(attr_of(f, sub).mode, S_IFDIR | 0775);
	assert_int_equal(acl_of(f, sub, STORE_ACL_ACCESS, &a), 0);
	assert_int_equal(acl_of(f, sub, STORE_ACL_DEFAULT, &a), 0);
	assert_int_equal(a.n, 5);
	assert_int_equal(a.e[4].perm, 5); /* the default as it was set */
	/* Symbolic links take neither ACL nor umask. */
	op = mkop(CFS_OP_SYMLINK, dir, "ln");
	op.data = (const uint8_t *)"target";
	op.datalen = 6;
	assert_int_equal(apply(f, &op, NULL), 0);
	assert_int_equal(acl_of(f, ino_of(f, dir, "ln"), STORE_ACL_ACCESS, &a), ENODATA);
	/* Removing the default ACL: new inodes take the umask again. */
	assert_int_equal(name_op(f, CFS_OP_REMOVEXATTR, dir, STORE_ACL_DEFAULT), 0);
	op = mkop(CFS_OP_CREATE, dir, "later");
	op.mode = 0666;
	op.valid = 027;
	assert_int_equal(apply(f, &op, NULL), 0);
	assert_int_equal(attr_of(f, ino_of(f, dir, "later")).mode, S_IFREG | 0640);
	/* Freed with their inodes, as every xattr. */
	top = db_count(f, "xattrs");
	assert_int_equal(name_op(f, CFS_OP_UNLINK, dir, "in"), 0);
	assert_int_equal(db_count(f, "xattrs"), top - 1);
}

/* FALLOCATE: extension, KEEP_SIZE, punched holes, zeroed ranges, unsupported modes. */
static void
test_fallocate(void **state)
{
	struct fx *f = *state;
	static uint8_t buf[200000];
	struct cfs_attr a;
	uint64_t file, g, d, p, pos, blocks;

	file = mkfile(f, ROOT, "f");
	assert_int_equal(falloc(f, file, 0, 0, 100000), 0);
	a = attr_of(f, file);
	assert_int_equal(a.size, 100000);
	assert_int_equal(a.version, store_applied_sn(f->s));
	assert_int_equal(a.mtime_sec, last_time(f));
	assert_int_equal(falloc(f, file, 0, 10, 10), 0);
	assert_int_equal(attr_of(f, file).size, 100000);
	assert_int_equal(falloc(f, file, FALLOC_FL_KEEP_SIZE, 0, 300000), 0);
	assert_int_equal(attr_of(f, file).size, 100000);
	assert_int_equal(attr_of(f, file).ctime_sec, last_time(f));
	assert_int_equal(rd(f, file, 0, sizeof(buf), buf), 100000);
	for (size_t i = 0; i < 100000; i++)
		assert_int_equal(buf[i], 0);

	g = mkfile(f, ROOT, "g");
	memset(buf, 0xcd, sizeof(buf));
	assert_int_equal(wr(f, g, 0, buf, sizeof(buf)), 0);
	blocks = attr_of(f, g).blocks;
	assert_int_equal(falloc(f, g, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 139900), 0);
	a = attr_of(f, g);
	assert_int_equal(a.size, 200000);
	assert_int_equal(a.version, store_applied_sn(f->s));
	assert_int_equal(a.mtime_sec, last_time(f));
	assert_true(a.blocks < blocks);
	memset(buf, 0x55, sizeof(buf));
	assert_int_equal(rd(f, g, 0, sizeof(buf), buf), 200000);
	for (size_t i = 0; i < 200000; i++)
		assert_int_equal(buf[i], i < 100 || i >= 140000 ? 0xcd : 0);
	assert_int_equal(seek(f, g, 0, SEEK_HOLE, &pos), 0);
	assert_int_equal(pos, 100);
	assert_int_equal(seek(f, g, 100, SEEK_DATA, &pos), 0);
	assert_int_equal(pos, 2 * T_BS);
	/* Punching past the end changes no size. */
	assert_int_equal(falloc(f, g, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 190000, 1000000),
	                 0);
	assert_int_equal(attr_of(f, g).size, 200000);
	assert_int_equal(rd(f, g, 189999, 20, buf), 20);
	assert_memory_equal(buf, "\xcd\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20);
	/* Punching everything leaves no block. */
	assert_int_equal(falloc(f, g, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 200000), 0);
	assert_int_equal(attr_of(f, g).blocks, 0);

	/* ZERO_RANGE: zeros inside the file, and without KEEP_SIZE a longer file. */
	memset(buf, 0xab, sizeof(buf));
	assert_int_equal(wr(f, g, 0, buf, 100000), 0);
	assert_int_equal(falloc(f, g, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 50, 150000), 0);
	a = attr_of(f, g);
	assert_int_equal(a.size, 200000);
	assert_int_equal(a.version, store_applied_sn(f->s));
	assert_int_equal(a.mtime_sec, last_time(f));
	assert_int_equal(falloc(f, g, FALLOC_FL_ZERO_RANGE, 10, 250000), 0);
	assert_int_equal(attr_of(f, g).size, 250010);
	assert_int_equal(falloc(f, g, FALLOC_FL_ZERO_RANGE, 0, 5), 0);
	assert_int_equal(attr_of(f, g).size, 250010);
	memset(buf, 0x55, sizeof(buf));
	assert_int_equal(rd(f, g, 0, 20, buf), 20);
	assert_memory_equal(buf, "\0\0\0\0\0\xab\xab\xab\xab\xab\0\0\0\0\0\0\0\0\0\0", 20);
	assert_int_equal(falloc(f, g, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0, 10), 0);
	assert_int_equal(attr_of(f, g).blocks, 0);

	assert_int_equal(falloc(f, g, FALLOC_FL_PUNCH_HOLE, 0, 10), EOPNOTSUPP);
	assert_int_equal(falloc(f, g, FALLOC_FL_ZERO_RANGE | FALLOC_FL_PUNCH_HOLE, 0, 10), EOPNOTSUPP);
	assert_int_equal(falloc(f, g, 0x08 /* COLLAPSE_RANGE */, 0, 65536), EOPNOTSUPP);
	assert_int_equal(falloc(f, g, 0, 0, 0), EINVAL);
	assert_int_equal(falloc(f, 9999, 0, 0, 10), ENOENT);
	d = mkdir_(f, ROOT, "d");
	assert_int_equal(falloc(f, d, 0, 0, 10), EISDIR);
	p = mk(f, CFS_OP_MKNOD, ROOT, "p", S_IFIFO | 0600);
	assert_int_equal(falloc(f, p, 0, 0, 10), ENODEV);
	assert_int_equal(falloc(f, g, 0, (uint64_t)INT64_MAX - 5, 10), EFBIG);
	assert_int_equal(db_count(f, "blocks"), 0);
}

/* LSEEK: SEEK_DATA and SEEK_HOLE over blocks and holes. */
static void
test_lseek(void **state)
{
	struct fx *f = *state;
	static uint8_t buf[2 * T_BS];
	uint64_t file, full, d, pos;

	file = mkfile(f, ROOT, "f");
	assert_int_equal(wr(f, file, 0, "abcd", 4), 0);
	assert_int_equal(wr(f, file, 3 * T_BS, "z", 1), 0);
	assert_int_equal(seek(f, file, 0, SEEK_DATA, &pos), 0);
	assert_int_equal(pos, 0);
	assert_int_equal(seek(f, file, 2, SEEK_DATA, &pos), 0);
	assert_int_equal(pos, 2);
	assert_int_equal(seek(f, file, 0, SEEK_HOLE, &pos), 0);
	assert_int_equal(pos, 4);
	assert_int_equal(seek(f, file, 4, SEEK_DATA, &pos), 0);
	assert_int_equal(pos, 3 * T_BS);
	assert_int_equal(seek(f, file, 100, SEEK_HOLE, &pos), 0);
	assert_int_equal(pos, 100);
	assert_int_equal(seek(f, file, 3 * T_BS, SEEK_HOLE, &pos), 0);
	assert_int_equal(pos, 3 * T_BS + 1);
	assert_int_equal(seek(f, file, 3 * T_BS + 1, SEEK_DATA, &pos), ENXIO);
	assert_int_equal(seek(f, file, 3 * T_BS + 1, SEEK_HOLE, &pos), ENXIO);
	assert_int_equal(seek(f, file, 0, SEEK_SET, &pos), EINVAL);

	full = mkfile(f, ROOT, "full");
	memset(buf, 1, sizeof(buf));
	assert_int_equal(wr(f, full, 0, buf, sizeof(buf)), 0);
	assert_int_equal(setsize(f, full, 300000), 0);
	assert_int_equal(seek(f, full, 10, SEEK_HOLE, &pos), 0);
	assert_int_equal(pos, 2 * T_BS);
	assert_int_equal(seek(f, full, 2 * T_BS, SEEK_DATA, &pos), ENXIO);
	assert_int_equal(seek(f, full, 2 * T_BS, SEEK_HOLE, &pos), 0);
	assert_int_equal(pos, 2 * T_BS);
	assert_int_equal(setsize(f, full, T_BS + 10), 0);
	assert_int_equal(seek(f, full, 0, SEEK_HOLE, &pos), 0);
	assert_int_equal(pos, T_BS + 10);

	d = mkdir_(f, ROOT, "d");
	assert_int_equal(seek(f, d, 0, SEEK_DATA, &pos), EISDIR);
	assert_int_equal(seek(f, 9999, 0, SEEK_DATA, &pos), ENOENT);
}

/* Reads every record of one READDIR reply; returns the count. */
static size_t
dirents(const struct cfs_reply *r, int plus, struct cfs_dirent *out, size_t max)
{
	struct cfs_rbuf rb;
	size_t n = 0;

	cfs_rbuf_init(&rb, r->data, r->datalen);
	while (rb.off < rb.len) {
		assert_true(n < max);
		assert_int_equal(cfs_dirent_get(&rb, &out[n], plus), CFS_WIRE_OK);
		n++;
	}
	assert_int_equal(cfs_rbuf_done(&rb), CFS_WIRE_OK);
	return n;
}

/* READDIR: ".", "..", creation order, paging with stable cookies, plus mode. */
static void
test_readdir(void **state)
{
	struct fx *f = *state;
	struct cfs_dirent de[64];
	struct cfs_op op;
	struct cfs_reply r;
	uint64_t d, ino[20], cookie;
	char name[16];
	int seen[21] = {0}, seen_new = 0, pages = 0;
	size_t n;

	d = mkdir_(f, ROOT, "d");
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "f%02d", i);
		ino[i] = i == 7 ? mkdir_(f, d, name) : mkfile(f, d, name);
	}
	op = mkop(CFS_OP_READDIR, d, NULL);
	op.length = 65536;
	assert_int_equal(rd_op(f, &op, &r), 0);
	n = dirents(&r, 0, de, 64);
	assert_int_equal(n, 22);
	assert_int_equal(r.value, 22);
	assert_int_equal(de[0].namelen, 1);
	assert_memory_equal(de[0].name, ".", 1);
	assert_int_equal(de[0].ino, d);
	assert_int_equal(de[0].cookie, 1);
	assert_int_equal(de[0].type, S_IFDIR);
	assert_memory_equal(de[1].name, "..", 2);
	assert_int_equal(de[1].ino, ROOT);
	assert_int_equal(de[1].cookie, 2);
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "f%02d", i);
		assert_int_equal(de[i + 2].ino, ino[i]);
		assert_int_equal(de[i + 2].namelen, 3);
		assert_memory_equal(de[i + 2].name, name, 3);
		assert_int_equal(de[i + 2].type, i == 7 ? S_IFDIR : S_IFREG);
		assert_true(de[i + 2].cookie > de[i + 1].cookie);
	}

	/* Continuing from any cookie gives what follows it. */
	op.offset = de[10].cookie;
	assert_int_equal(rd_op(f, &op, &r), 0);
	n = dirents(&r, 0, de, 64);
	assert_int_equal(n, 11);
	assert_int_equal(de[0].ino, ino[9]);
	op.offset = 1;
	assert_int_equal(rd_op(f, &op, &r), 0);
	assert_int_equal(dirents(&r, 0, de, 64), 21);
	assert_memory_equal(de[0].name, "..", 2);

	/* Paging: 3 records a page, with inserts and removals in between. */
	op.offset = 0;
	op.length = 3 * (8 + 8 + 4 + 2 + 3);
	for (;;) {
		assert_int_equal(rd_op(f, &op, &r), 0);
		n = dirents(&r, 0, de, 64);
		if (n == 0)
			break;
		assert_true(n <= 3);
		for (size_t i = 0; i < n; i++) {
			if (de[i].namelen == 4 && memcmp(de[i].name, "new1", 4) == 0) {
				seen_new++;
			} else if (de[i].name[0] == 'f') {
				int k = (de[i].name[1] - '0') * 10 + (de[i].name[2] - '0');

				seen[k]++;
			}
			op.offset = de[i].cookie;
		}
		if (++pages == 2) {
			assert_int_equal(name_op(f, CFS_OP_UNLINK, d, "f01"), 0);
			assert_int_equal(name_op(f, CFS_OP_UNLINK, d, "f15"), 0);
			mkfile(f, d, "new1");
			assert_int_equal(name_op(f, CFS_OP_RMDIR, d, "f07"), 0);
			mkdir_(f, d, "f07");
		}
		assert_true(pages < 100);
	}
	for (int i = 0; i < 20; i++)
		assert_int_equal(seen[i], i == 15 ? 0 : 1);
	assert_int_equal(seen_new, 1);

	/* Plus: attributes with every record. */
	op.offset = 0;
	op.length = 65536;
	op.flags = CFS_READDIR_PLUS;
	assert_int_equal(rd_op(f, &op, &r), 0);
	n = dirents(&r, 1, de, 64);
	assert_int_equal(n, 2 + 19); /* f01 and f15 gone, new1 added */
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(de[i].attr.ino, de[i].ino);
		assert_int_equal(de[i].attr.mode & S_IFMT, de[i].type);
	}
	assert_int_equal(de[1].attr.ino, ROOT);

	/* A buffer too small for one record; past the end; wrong types. */
	op.flags = 0;
	op.length = 10;
	assert_int_equal(rd_op(f, &op, &r), EINVAL);
	op.length = 65536;
	op.offset = 1000;
	assert_int_equal(rd_op(f, &op, &r), 0);
	assert_int_equal(r.datalen, 0);
	op.offset = UINT64_MAX;
	assert_int_equal(rd_op(f, &op, &r), 0);
	assert_int_equal(r.datalen, 0);
	op = mkop(CFS_OP_READDIR, ino[0], NULL);
	op.length = 65536;
	assert_int_equal(rd_op(f, &op, &r), ENOTDIR);
	op.ino = 9999;
	assert_int_equal(rd_op(f, &op, &r), ENOENT);

	/* The root's ".." is itself; an empty directory has two records. */
	op = mkop(CFS_OP_READDIR, ino_of(f, d, "f07"), NULL);
	op.length = 65536;
	assert_int_equal(rd_op(f, &op, &r), 0);
	assert_int_equal(dirents(&r, 0, de, 64), 2);
	assert_int_equal(de[1].ino, d);
	op.ino = ROOT;
	assert_int_equal(rd_op(f, &op, &r), 0);
	assert_int_equal(dirents(&r, 0, de, 64), 3);
	assert_int_equal(de[1].ino, ROOT);
	cookie = de[2].cookie;
	assert_true(cookie >= 3);
}

/* STATFS: decodable, sane numbers. */
static void
test_statfs(void **state)
{
	struct fx *f = *state;
	struct cfs_op op = mkop(CFS_OP_STATFS, 0, NULL);
	struct cfs_statfs sf;
	struct cfs_reply r;

	mkfile(f, ROOT, "a");
	assert_int_equal(rd_op(f, &op, &r), 0);
	assert_int_equal(cfs_statfs_decode(r.data, r.datalen, &sf), CFS_WIRE_OK);
	assert_int_equal(sf.namemax, 255);
	assert_true(sf.bsize >= 512);
	assert_int_equal(sf.blocks * sf.bsize, T_MAPSIZE);
	assert_true(sf.bfree < sf.blocks);
	assert_true(sf.bfree > 0);
	assert_true(sf.bavail <= sf.bfree);
	assert_true(sf.files >= 2 + sf.ffree);
	assert_true(sf.ffree > 0);
}

/* FSYNC changes nothing but applied_sn and the result table. */
static void
test_fsync(void **state)
{
	struct fx *f = *state;
	struct cfs_op op;
	struct cfs_attr a;
	uint64_t file;

	file = mkfile(f, ROOT, "f");
	a = attr_of(f, file);
	op = mkop(CFS_OP_FSYNC, file, NULL);
	assert_int_equal(apply(f, &op, NULL), 0);
	{
		struct cfs_attr b = attr_of(f, file);

		assert_attr_equal(&a, &b);
	}
	assert_int_equal(store_sync(f->s), 0);
}

/* The result table: REPLY_ONLY answers, acked_below trimming, floors, client 0. */
static void
test_results(void **state)
{
	struct fx *f = *state;
	struct cfs_op op = mkop(CFS_OP_CREATE, ROOT, "a");
	struct cfs_entry e;
	struct cfs_reply r, r1;
	uint8_t d0[CFS_DIGEST_LEN], d1[CFS_DIGEST_LEN];
	uint64_t next;

	memset(&r, 0, sizeof(r));
	op.flags = CFS_CREATE_EXCL;
	assert_int_equal(apply(f, &op, &r1), 0);       /* seq 1 */
	assert_int_equal(apply(f, &op, NULL), EEXIST); /* seq 2 */
	assert_int_equal(store_result(f->s, T_CLIENT, 1, &r), 0);
	assert_int_equal(r.status, 0);
	assert_true(r.flags & CFS_REPLY_ATTR);
	assert_attr_equal(&r.attr, &r1.attr);
	assert_int_equal(store_result(f->s, T_CLIENT, 2, &r), 0);
	assert_int_equal(r.status, EEXIST);
	assert_int_equal(store_result(f->s, T_CLIENT, 3, &r), ENOENT);
	assert_int_equal(store_result(f->s, 8, 1, &r), ENOENT);

	/* A retry of seq 1 travels as REPLY_ONLY and gets the stored answer. */
	next = store_next_ino(f->s);
	entry_init(f, &e, &op);
	e.kind = CFS_ENTRY_REPLY_ONLY;
	e.seq = 1;
	assert_int_equal(store_apply(f->s, &e, STORE_DECIDE, NULL, &r), 0);
	assert_int_equal(r.status, 0);
	assert_int_equal(e.result, 0);
	assert_attr_equal(&r.attr, &r1.attr);
	assert_int_equal(store_next_ino(f->s), next);
	assert_int_equal(store_applied_sn(f->s), 3);
	e.sn++;
	e.seq = 2;
	assert_int_equal(store_apply(f->s, &e, STORE_DECIDE, NULL, &r), 0);
	assert_int_equal(r.status, EEXIST);
	/* Unknown seq: a protocol error. */
	e.sn++;
	e.seq = 99;
	assert_int_equal(store_apply(f->s, &e, STORE_DECIDE, NULL, &r), 0);
	assert_int_equal(r.status, CFS_ERR_PROTOCOL);
	assert_int_equal(e.result, CFS_ERR_PROTOCOL);
	assert_int_equal(store_result(f->s, T_CLIENT, 99, &r), ENOENT);
	/* REPLY_ONLY changes only applied_sn: the digest moves by that alone. */
	digest(f, d0);
	e.sn++;
	e.seq = 1;
	assert_int_equal(store_apply(f->s, &e, 0, NULL, &r), 0);
	digest(f, d1);
	assert_memory_not_equal(d0, d1, CFS_DIGEST_LEN);

	/* acked_below trims results below it and raises the floor. */
	f->seq = 2;
	assert_int_equal(floor_of(f->s, T_CLIENT), 0);
	op = mkop(CFS_OP_MKDIR, ROOT, "d");
	assert_int_equal(apply(f, &op, NULL), 0); /* seq 3 */
	op = mkop(CFS_OP_MKDIR, ROOT, "d2");
	f->acked = 3;
	assert_int_equal(apply(f, &op, NULL), 0); /* seq 4 */
	assert_int_equal(store_result(f->s, T_CLIENT, 1, &r), ENOENT);
	assert_int_equal(store_result(f->s, T_CLIENT, 2, &r), ENOENT);
	assert_int_equal(store_result(f->s, T_CLIENT, 3, &r), 0);
	assert_int_equal(store_result(f->s, T_CLIENT, 4, &r), 0);
	assert_int_equal(floor_of(f->s, T_CLIENT), 3);
	f->acked = 2; /* an older acked_below never lowers the floor */
	assert_int_equal(name_op(f, CFS_OP_RMDIR, ROOT, "d2"), 0); /* seq 5 */
	assert_int_equal(floor_of(f->s, T_CLIENT), 3);
	assert_int_equal(store_result(f->s, T_CLIENT, 3, &r), 0);
	/* REPLY_ONLY trims too. */
	entry_init(f, &e, &op);
	e.kind = CFS_ENTRY_REPLY_ONLY;
	e.seq = 5;
	e.acked_below = 5;
	assert_int_equal(store_apply(f->s, &e, STORE_DECIDE, NULL, &r), 0);
	assert_int_equal(r.status, 0);
	assert_int_equal(floor_of(f->s, T_CLIENT), 5);
	assert_int_equal(store_result(f->s, T_CLIENT, 3, &r), ENOENT);
	assert_int_equal(store_result(f->s, T_CLIENT, 4, &r), ENOENT);
	assert_int_equal(store_result(f->s, T_CLIENT, 5, &r), 0);

	/* Another client's table is its own. */
	f->client = 8;
	f->seq = 0;
	f->acked = 0;
	assert_int_equal(name_op(f, CFS_OP_MKDIR, ROOT, "e"), 0);
	f->acked = 100;
	assert_int_equal(name_op(f, CFS_OP_MKDIR, ROOT, "e"), EEXIST);
	assert_int_equal(store_result(f->s, 8, 1, &r), ENOENT);
	assert_int_equal(store_result(f->s, 8, 2, &r), ENOENT);
	assert_int_equal(floor_of(f->s, 8), 100);
	assert_int_equal(store_result(f->s, T_CLIENT, 5, &r), 0);
	assert_int_equal(floor_of(f->s, T_CLIENT), 5);

	/* Client 0: internal entries store nothing. */
	f->client = 0;
	f->seq = 0;
	assert_int_equal(name_op(f, CFS_OP_MKDIR, ROOT, "z"), 0);
	assert_int_equal(store_result(f->s, 0, 1, &r), ENOENT);
	assert_int_equal(floor_of(f->s, 0), 0);
	entry_init(f, &e, &op);
	e.kind = CFS_ENTRY_REPLY_ONLY;
	e.seq = 1;
	assert_int_equal(store_apply(f->s, &e, STORE_DECIDE, NULL, &r), 0);
	assert_int_equal(r.status, CFS_ERR_PROTOCOL);
	assert_int_equal(db_count(f, "results"), 1);
}

struct logrec {
	uint64_t sn[16];
	struct cfs_entry e[16];
	uint8_t *buf[16];
	size_t n;
	size_t stop_after;
};

/* Collects logged entries and checks each decodes under its sn. */
static int
log_collect(uint64_t sn, const void *buf, size_t len, void *arg)
{
	struct logrec *l = arg;

	assert_true(l->n < 16);
	l->buf[l->n] = malloc(len);
	assert_non_null(l->buf[l->n]);
	memcpy(l->buf[l->n], buf, len);
	assert_int_equal(cfs_entry_decode(l->buf[l->n], len, &l->e[l->n]), CFS_WIRE_OK);
	assert_int_equal(l->e[l->n].sn, sn);
	l->sn[l->n++] = sn;
	return l->stop_after != 0 && l->n >= l->stop_after;
}

/* Frees what log_collect kept. */
static void
log_clear(struct logrec *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->buf[i]);
	memset(l, 0, sizeof(*l));
}

/* STORE_DECIDE and STORE_LOG: the body, the log, foreach and trim. */
static void
test_decide_log(void **state)
{
	struct fx *f = *state;
	struct cfs_op op = mkop(CFS_OP_MKDIR, ROOT, "d");
	struct cfs_entry e, back;
	struct cfs_reply r;
	struct cfs_wbuf body;
	struct logrec l;
	uint8_t hdr[CFS_HEADER_SIZE];

	memset(&l, 0, sizeof(l));
	cfs_wbuf_init(&body);
	memset(hdr, 0xee, sizeof(hdr));
	cfs_put_bytes(&body, hdr, sizeof(hdr));

	op.mode = 0700;
	entry_init(f, &e, &op);
	e.result = 12345;
	assert_int_equal(store_apply(f->s, &e, STORE_DECIDE | STORE_LOG, &body, &r), 0);
	assert_int_equal(e.result, 0);
	assert_true(body.len > sizeof(hdr));
	assert_memory_equal(body.p, hdr, sizeof(hdr));
	assert_int_equal(cfs_entry_decode(body.p + sizeof(hdr), body.len - sizeof(hdr), &back),
	                 CFS_WIRE_OK);
	assert_int_equal(back.sn, 1);
	assert_int_equal(back.result, 0);
	assert_int_equal(back.op.type, CFS_OP_MKDIR);
	assert_int_equal(back.op.namelen, 1);
	assert_memory_equal(back.op.name, "d", 1);
	assert_int_equal(back.new_ino, e.new_ino);
	assert_int_equal(back.time_sec, e.time_sec);

	/* A failing op is logged with its errno. */
	entry_init(f, &e, &op);
	cfs_wbuf_reset(&body);
	assert_int_equal(store_apply(f->s, &e, STORE_DECIDE | STORE_LOG, &body, &r), 0);
	assert_int_equal(r.status, EEXIST);
	assert_int_equal(cfs_entry_decode(body.p, body.len, &back), CFS_WIRE_OK);
	assert_int_equal(back.result, EEXIST);

	/* Without STORE_DECIDE the entry's result is left as the head set it. */
	op = mkop(CFS_OP_CREATE, ROOT, "f");
	entry_init(f, &e, &op);
	e.result = 77;
	cfs_wbuf_reset(&body);
	assert_int_equal(store_apply(f->s, &e, STORE_LOG, &body, &r), 0);
	assert_int_equal(r.status, 0);
	assert_int_equal(e.result, 77);
	assert_int_equal(cfs_entry_decode(body.p, body.len, &back), CFS_WIRE_OK);
	assert_int_equal(back.result, 77);

	/* Refused entries leave the body as it was. */
	e.sn = 10;
	assert_int_equal(store_apply(f->s, &e, STORE_DECIDE | STORE_LOG, &body, &r), -EINVAL);
	assert_int_equal(e.result, 77);
	{
		size_t len = body.len;

		e.sn = 4;
		e.kind = 0;
		assert_int_equal(store_apply(f->s, &e, STORE_LOG, &body, &r), -EINVAL);
		assert_int_equal(body.len, len);
	}
	/* An entry applied without STORE_LOG is not logged. */
	op = mkop(CFS_OP_FSYNC, ROOT, NULL);
	assert_int_equal(apply(f, &op, NULL), 0);

	assert_int_equal(store_log_foreach(f->s, 0, log_collect, &l), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.sn[0], 1);
	assert_int_equal(l.sn[1], 2);
	assert_int_equal(l.sn[2], 3);
	assert_int_equal(l.e[2].op.type, CFS_OP_CREATE);
	assert_int_equal(l.e[1].result, EEXIST);
	log_clear(&l);
	assert_int_equal(store_log_foreach(f->s, 2, log_collect, &l), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.sn[0], 3);
	log_clear(&l);
	l.stop_after = 1;
	assert_int_equal(store_log_foreach(f->s, 0, log_collect, &l), 0);
	assert_int_equal(l.n, 1);
	log_clear(&l);
	assert_int_equal(store_log_foreach(f->s, UINT64_MAX, log_collect, &l), 0);
	assert_int_equal(l.n, 0);

	assert_int_equal(store_log_trim(f->s, 2), 0);
	assert_int_equal(store_log_foreach(f->s, 0, log_collect, &l), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.sn[0], 3);
	log_clear(&l);
	/* The log survives a restart. */
	fx_reopen(f, T_MAPSIZE);
	assert_int_equal(store_log_foreach(f->s, 0, log_collect, &l), 0);
	assert_int_equal(l.n, 1);
	log_clear(&l);
	assert_int_equal(store_log_trim(f->s, 100), 0);
	assert_int_equal(store_log_foreach(f->s, 0, log_collect, &l), 0);
	assert_int_equal(l.n, 0);
	cfs_wbuf_free(&body);
}

/* Applies a mixed history to a store, one entry of it with the given apply flags. */
static void
history(struct fx *f, unsigned flags)
{
	struct cfs_wbuf body;
	struct cfs_entry e;
	struct cfs_reply r;
	struct cfs_op op;
	uint64_t d, file;

	cfs_wbuf_init(&body);
	d = mkdir_(f, ROOT, "d");
	file = mkfile(f, d, "f");
	assert_int_equal(wr(f, file, 100, "payload", 7), 0);
	assert_int_equal(setx(f, file, "user.x", "1", 1, 0), 0);
	op = mkop(CFS_OP_SYMLINK, ROOT, "l");
	op.data = (const uint8_t *)"d/f";
	op.datalen = 3;
	entry_init(f, &e, &op);
	assert_int_equal(store_apply(f->s, &e, flags, &body, &r), 0);
	assert_int_equal(ren(f, d, "f", ROOT, "g", 0), 0);
	assert_int_equal(name_op(f, CFS_OP_MKDIR, ROOT, "d"), EEXIST);
	f->acked = 3;
	assert_int_equal(setsize(f, file, 50), 0);
	cfs_wbuf_free(&body);
}

/* Equal histories give equal digests; one different entry changes it. */
static void
test_digest(void **state)
{
	struct fx *a = *state, *b = fx_new(T_MAPSIZE);
	uint8_t da[CFS_DIGEST_LEN], db[CFS_DIGEST_LEN], d0[CFS_DIGEST_LEN];

	digest(a, da);
	digest(b, db);
	assert_memory_equal(da, db, CFS_DIGEST_LEN);
	history(a, STORE_DECIDE | STORE_LOG);
	history(b, STORE_DECIDE);
	digest(a, da);
	digest(b, db);
	assert_memory_equal(da, db, CFS_DIGEST_LEN);
	/* The digest is stable across a restart. */
	fx_reopen(a, T_MAPSIZE);
	digest(a, d0);
	assert_memory_equal(da, d0, CFS_DIGEST_LEN);

	mkfile(a, ROOT, "x");
	mkfile(b, ROOT, "y");
	digest(a, da);
	digest(b, db);
	assert_memory_not_equal(da, db, CFS_DIGEST_LEN);
	fx_free(b);
}

/* Copies a's store into b by snapshot, in chunks of at most chunk bytes. */
static void
snap_copy(struct fx *a, struct fx *b, size_t chunk, int stop_early)
{
	struct store_snap *sp;
	struct cfs_wbuf w;
	int rc, chunks = 0;

	assert_int_equal(store_snap_begin(a->s, &sp), 0);
	assert_int_equal(store_snap_sn(sp), store_applied_sn(a->s));
	/* The copy is of the sn it began at, whatever is applied meanwhile. */
	mkfile(a, ROOT, "after-the-snapshot-began");
	assert_int_equal(store_import_begin(b->s), 0);
	assert_int_equal(store_applied_sn(b->s), 0);
	cfs_wbuf_init(&w);
	do {
		cfs_wbuf_reset(&w);
		rc = store_snap_next(sp, &w, chunk);
		assert_true(rc >= 0);
		if (w.len > 0)
			assert_int_equal(store_import_chunk(b->s, w.p, w.len), 0);
		chunks++;
		if (stop_early && chunks == 2)
			break;
	} while (rc == 0);
	cfs_wbuf_free(&w);
	if (!stop_early) {
		assert_true(chunks > 1);
		assert_int_equal(store_import_end(b->s), 0);
		assert_int_equal(store_applied_sn(b->s), store_snap_sn(sp));
	}
	store_snap_end(sp);
}

/*
 * A snapshot makes another store equal (same digest, counters, contents) at
 * the sn it began at; a store whose import did not finish is emptied when
 * opened; a malformed chunk is refused.
 */
static void
test_snapshot(void **state)
{
	struct fx *a = *state, *b = fx_new(T_MAPSIZE), *c = fx_new(T_MAPSIZE);
	uint8_t da[CFS_DIGEST_LEN], db[CFS_DIGEST_LEN], big[70000];
	uint64_t file, sn;
	static const uint8_t bad[][12] = {
	    {9, 1, 0, 0, 0, 1, 0, 0, 0, 'k', 'v', 0}, /* no such database */
	    {0, 0, 0, 0, 0, 1, 0, 0, 0, 'k', 'v', 0}, /* empty key */
	    {0, 9, 0, 0, 0, 1, 0, 0, 0, 'k', 'v', 0}, /* key longer than the chunk */
	};

	history(a, STORE_DECIDE | STORE_LOG);
	memset(big, 0x5a, sizeof(big));
	file = mkfile(a, ROOT, "big");
	assert_int_equal(wr(a, file, 0, big, sizeof(big)), 0);
	mkfile(b, ROOT, "only-in-b");
	sn = store_applied_sn(a->s);
	digest(a, da);
	snap_copy(a, b, 4096, 0);
	assert_int_equal(store_applied_sn(b->s), sn);
	{
		struct cfs_attr at;

		assert_int_equal(lookup(b, ROOT, "only-in-b", &at), ENOENT);
		assert_int_equal(lookup(b, ROOT, "after-the-snapshot-began", &at), ENOENT);
	}
	assert_true(ino_of(b, ROOT, "big") == file);
	digest(b, db);
	assert_memory_equal(da, db, CFS_DIGEST_LEN);
	fx_reopen(b, T_MAPSIZE);
	digest(b, db);
	assert_memory_equal(da, db, CFS_DIGEST_LEN);
	/* a made one more file after the snapshot began */
	assert_int_equal(store_next_ino(b->s), store_next_ino(a->s) - 1);

	/* An import cut short: the store opens empty, at sn 0. */
	snap_copy(a, c, 512, 1);
	fx_reopen(c, T_MAPSIZE);
	assert_int_equal(store_applied_sn(c->s), 0);
	{
		struct cfs_attr at;

		assert_int_equal(lookup(c, ROOT, "big", &at), ENOENT);
	}
	assert_true(mkfile(c, ROOT, "usable") > ROOT); /* a fresh store, with its root */

	/* Or given up in place: a new, empty store at sn 0. */
	snap_copy(a, b, 512, 1);
	assert_int_equal(store_import_abort(b->s), 0);
	assert_int_equal(store_applied_sn(b->s), 0);
	assert_true(mkfile(b, ROOT, "big") > ROOT);
	fx_reopen(b, T_MAPSIZE);
	assert_int_equal(store_applied_sn(b->s), 1);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(store_import_chunk(c->s, bad[i], sizeof(bad[i])), -EPROTO);
	assert_int_equal(store_import_chunk(c->s, bad[0], 5), -EPROTO); /* cut header */
	fx_free(b);
	fx_free(c);
}

/* Everything survives close and reopen. */
static void
test_persist(void **state)
{
	struct fx *f = *state;
	uint8_t buf[16];
	uint64_t file, sn, next;

	file = mkfile(f, ROOT, "f");
	assert_int_equal(wr(f, file, 70000, "persist", 7), 0);
	sn = store_applied_sn(f->s);
	next = store_next_ino(f->s);
	assert_int_equal(store_sync(f->s), 0);
	fx_reopen(f, T_MAPSIZE);
	assert_int_equal(store_applied_sn(f->s), sn);
	assert_int_equal(store_next_ino(f->s), next);
	assert_int_equal(ino_of(f, ROOT, "f"), file);
	assert_int_equal(rd(f, file, 70000, 16, buf), 7);
	assert_memory_equal(buf, "persist", 7);
	assert_int_equal(rd(f, file, 0, 4, buf), 4);
	assert_memory_equal(buf, "\0\0\0\0", 4);
	assert_int_equal(wr(f, file, 0, "a", 1), 0);
	assert_int_equal(store_applied_sn(f->s), sn + 1);
	/* A smaller map size than the file is allowed: LMDB keeps the larger. */
	fx_reopen(f, 1 << 20);
	assert_int_equal(rd(f, file, 70000, 16, buf), 7);
}

/* A full map refuses the entry with -ENOSPC, changes nothing, and the store goes on. */
static void
test_mapfull(void **state)
{
	struct fx *f = fx_new(1 << 20);
	static uint8_t chunk[T_BS];
	uint8_t d0[CFS_DIGEST_LEN], d1[CFS_DIGEST_LEN];
	struct cfs_wbuf body;
	struct cfs_entry e;
	struct cfs_reply r;
	struct cfs_op op;
	uint64_t file, sn, off = 0;
	int rc = 0, i;

	(void)state;
	cfs_wbuf_init(&body);
	memset(chunk, 0x5a, sizeof(chunk));
	file = mkfile(f, ROOT, "f");
	for (i = 0; i < 100; i++) {
		op = mkop(CFS_OP_WRITE, file, NULL);
		op.offset = off;
		op.data = chunk;
		op.datalen = sizeof(chunk);
		entry_init(f, &e, &op);
		e.result = 42;
		digest(f, d0);
		sn = store_applied_sn(f->s);
		cfs_put_bytes(&body, "hdr", 3);
		rc = store_apply(f->s, &e, STORE_DECIDE | STORE_LOG, &body, &r);
		if (rc != 0)
			break;
		cfs_wbuf_reset(&body);
		off += sizeof(chunk);
	}
	assert_int_equal(rc, -ENOSPC);
	assert_true(i > 2);
	assert_int_equal(store_applied_sn(f->s), sn);
	assert_int_equal(body.len, 3);
	assert_int_equal(e.result, 42);
	digest(f, d1);
	assert_memory_equal(d0, d1, CFS_DIGEST_LEN);
	assert_int_equal(attr_of(f, file).size, off);
	{
		struct logrec l;

		memset(&l, 0, sizeof(l));
		assert_int_equal(store_log_foreach(f->s, sn - 1, log_collect, &l), 0);
		assert_int_equal(l.n, 1); /* the last entry that fitted, not the refused one */
		assert_int_equal(l.sn[0], sn);
		log_clear(&l);
	}
	f->seq--;

	/* The store still answers and applies what fits. */
	assert_int_equal(rd(f, file, off - 4, 10, chunk), 4);
	assert_int_equal(setsize(f, file, T_BS), 0);
	assert_int_equal(store_applied_sn(f->s), sn + 1);
	assert_int_equal(wr(f, file, T_BS, "more", 4), 0);
	fx_reopen(f, 1 << 20);
	assert_int_equal(attr_of(f, file).size, T_BS + 4);
	cfs_wbuf_free(&body);
	fx_free(f);
}

/* Runs every test. */
/* A batch: one commit for many entries; results visible to the head inside it, reads after it. */
/*
 * The group commit on the store's thread: refused inside a batch, one at a
 * time, done once; commits go on while it runs, and what was committed
 * before it survives a reopen.
 */
static void
test_sync_thread(void **state)
{
	struct fx *f = *state;
	uint64_t sn0 = store_applied_sn(f->s);
	int err = -1, rc, done = 0;

	assert_int_equal(store_batch_begin(f->s), 0);
	mkfile(f, ROOT, "a");
	assert_int_equal(store_sync_start(f->s), -EBUSY);
	assert_int_equal(store_batch_commit(f->s), 0);
	assert_int_equal(store_sync_start(f->s), 0);
	/* While it runs: a second start says so (or, if it ended already, starts another). */
	rc = store_sync_start(f->s);
	assert_true(rc == 0 || rc == 1);
	mkfile(f, ROOT, "b");
	/* Ends within a bounded wait, with no error, and says so once. */
	for (int i = 0; i < 5000 && !done; i++) {
		done = store_sync_done(f->s, &err);
		if (!done)
			usleep(1000);
	}
	assert_true(done);
	assert_int_equal(err, 0);
	if (rc == 1)
		assert_int_equal(store_sync_done(f->s, &err), 0);
	fx_reopen(f, T_MAPSIZE);
	assert_int_equal(store_applied_sn(f->s), sn0 + 2);
	assert_int_equal(lookup(f, ROOT, "a", NULL), 0);
	assert_int_equal(lookup(f, ROOT, "b", NULL), 0);
}

static void
test_batch(void **state)
{
	struct fx *f = *state;
	struct cfs_reply r = {0}; /* an output; cppcheck wants it initialised */
	uint64_t sn0 = store_applied_sn(f->s), seq;

	assert_int_equal(store_batch_begin(f->s), 0);
	assert_true(store_in_batch(f->s));
	mkfile(f, ROOT, "a");
	seq = f->seq;
	mkfile(f, ROOT, "b");
	assert_int_equal(store_applied_sn(f->s), sn0 + 2);
	/* The head's duplicate check sees the batch. */
	assert_int_equal(store_result(f->s, f->client, seq, &r), 0);
	assert_int_equal(r.status, 0);
	/* Readers see committed state only; trim and sync wait for the commit. */
	assert_int_equal(lookup(f, ROOT, "a", NULL), ENOENT);
	assert_int_equal(store_log_trim(f->s, 1), -EBUSY);
	assert_int_equal(store_sync(f->s), -EBUSY);
	assert_int_equal(store_batch_commit(f->s), 0);
	assert_false(store_in_batch(f->s));
	assert_int_equal(lookup(f, ROOT, "a", NULL), 0);
	assert_int_equal(lookup(f, ROOT, "b", NULL), 0);
	assert_int_equal(store_sync(f->s), 0);
	/* And it survives a reopen like any commit. */
	fx_reopen(f, T_MAPSIZE);
	assert_int_equal(store_applied_sn(f->s), sn0 + 2);
	assert_int_equal(lookup(f, ROOT, "b", NULL), 0);
	/* An empty batch is harmless. */
	assert_int_equal(store_batch_begin(f->s), 0);
	assert_int_equal(store_batch_commit(f->s), 0);
	assert_int_equal(store_applied_sn(f->s), sn0 + 2);
}

/*
 * Client sessions: each update notes when its client was last heard of
 * (the entry's time); an EXPIRE_SESSIONS entry of the head drops the
 * results and floors of those silent since before its cutoff, and only
 * those; a client's own EXPIRE_SESSIONS changes nothing.
 */
static void
test_sessions_expire(void **state)
{
	struct fx *f = *state;
	uint64_t sessions = 0, results = 0;
	struct cfs_reply res;
	struct cfs_op op;
	int64_t oldest = 0;

	memset(&res, 0, sizeof(res));
	f->client = 11;
	mkdir_(f, STORE_ROOT_INO, "a"); /* time 1001 */
	f->client = 22;
	mkdir_(f, STORE_ROOT_INO, "b"); /* 1002 */
	mkdir_(f, STORE_ROOT_INO, "c"); /* 1003 */
	f->client = 33;
	mkdir_(f, STORE_ROOT_INO, "d"); /* 1004 */
	assert_int_equal(store_sessions(f->s, &sessions, &results, &oldest), 0);
	assert_int_equal(sessions, 3);
	assert_int_equal(results, 4);
	assert_int_equal(oldest, 1001);

	/* A client cannot expire anyone. */
	memset(&op, 0, sizeof(op));
	op.type = CFS_OP_EXPIRE_SESSIONS;
	op.offset = 5000;
	assert_int_equal(apply(f, &op, NULL), EPERM);
	assert_int_equal(store_sessions(f->s, &sessions, &results, NULL), 0);
	assert_int_equal(sessions, 3);

	/* The head's entry: clients last heard of before 1003 go. */
	f->client = 0;
	op.offset = 1003;
	assert_int_equal(apply(f, &op, NULL), 0);
	assert_int_equal(store_sessions(f->s, &sessions, &results, &oldest), 0);
	assert_int_equal(sessions, 2);
	assert_int_equal(oldest, 1003);
	assert_int_equal(store_result(f->s, 11, 1, &res), ENOENT);
	assert_int_equal(floor_of(f->s, 11), 0);
	assert_int_equal(store_result(f->s, 22, 2, &res), 0);
	assert_int_equal(store_result(f->s, 33, 4, &res), 0);
	/* Client 33's own refused EXPIRE (seq 5) left a result; 22 has 2 and 33 has 1 more. */
	assert_int_equal(results, 4);

	/* Everyone, once the cutoff passes them all. */
	op.offset = 999999;
	assert_int_equal(apply(f, &op, NULL), 0);
	assert_int_equal(store_sessions(f->s, &sessions, &results, &oldest), 0);
	assert_int_equal(sessions, 0);
	assert_int_equal(results, 0);
	assert_true(oldest == INT64_MAX);
}

/*
 * Permission checks (CFS_OP_CHECK_PERM): the anonymous user of an export,
 * as a squashing node sends it, against files of others and its own.
 */
#define ANON 65534

/* Makes op the request of an export's anonymous user, as a squashing node does. */
static struct cfs_op
as_anon(struct cfs_op op)
{
	op.flags |= CFS_OP_CHECK_PERM;
	op.caller_uid = ANON;
	op.caller_gid = ANON;
	switch (op.type) {
	case CFS_OP_CREATE:
	case CFS_OP_MKNOD:
	case CFS_OP_MKDIR:
	case CFS_OP_SYMLINK:
		op.uid = ANON;
		op.gid = ANON;
		break;
	}
	return op;
}

/* Applies op as the anonymous user; returns the status. */
static int
anon_apply(struct fx *f, struct cfs_op op, struct cfs_reply *res)
{
	op = as_anon(op);
	return apply(f, &op, res);
}

/* Reads with op as the anonymous user; returns the status. */
static int
anon_read(struct fx *f, struct cfs_op op, struct cfs_reply *res)
{
	struct cfs_reply r;

	op = as_anon(op);
	return rd_op(f, &op, res != NULL ? res : &r);
}

/* Makes name in parent, trusted (no check), owned by uid:gid with mode; returns the inode. */
static uint64_t
mkown(struct fx *f, uint16_t type, uint64_t parent, const char *name, uint32_t mode, uint32_t uid,
      uint32_t gid)
{
	struct cfs_op op = mkop(type, parent, name);
	struct cfs_reply r;

	op.mode = mode;
	op.uid = uid;
	op.gid = gid;
	assert_int_equal(apply(f, &op, &r), 0);
	return r.attr.ino;
}

/* Makes name in parent as the anonymous user with mode; returns the status, attr in *a. */
static int
anon_mk(struct fx *f, uint16_t type, uint64_t parent, const char *name, uint32_t mode,
        struct cfs_attr *a)
{
	struct cfs_op op = mkop(type, parent, name);
	struct cfs_reply r;
	int st;

	op.mode = mode;
	if (type == CFS_OP_SYMLINK) {
		op.data = (const uint8_t *)"target";
		op.datalen = 6;
	}
	st = anon_apply(f, op, &r);
	if (a != NULL)
		*a = r.attr;
	return st;
}

/* A SETATTR op of valid with mode, uid and gid. */
static struct cfs_op
setattr_op(uint64_t ino, uint32_t valid, uint32_t mode, uint32_t uid, uint32_t gid)
{
	struct cfs_op op = mkop(CFS_OP_SETATTR, ino, NULL);

	op.valid = valid;
	op.mode = mode;
	op.uid = uid;
	op.gid = gid;
	return op;
}

/* A RENAME op. */
static struct cfs_op
rename_op(uint64_t p1, const char *n1, uint64_t p2, const char *n2, uint32_t flags)
{
	struct cfs_op op = mkop(CFS_OP_RENAME, p1, n1);

	op.ino2 = p2;
	op.name2 = n2;
	op.name2len = (uint16_t)strlen(n2);
	op.flags = flags;
	return op;
}

/* Makes: new names need a writable and searchable parent; what is made is the caller's. */
static void
test_perm_create(void **state)
{
	struct fx *f = *state;
	uint64_t pub, priv, sg, file;
	struct cfs_attr a;
	struct cfs_op op;

	/* The root is 0755 root's: anon may not make anything in it. */
	assert_int_equal(anon_mk(f, CFS_OP_CREATE, ROOT, "f", 0644, NULL), EACCES);
	assert_int_equal(anon_mk(f, CFS_OP_MKDIR, ROOT, "d", 0755, NULL), EACCES);
	assert_int_equal(anon_mk(f, CFS_OP_MKNOD, ROOT, "n", S_IFIFO | 0644, NULL), EACCES);
	assert_int_equal(anon_mk(f, CFS_OP_SYMLINK, ROOT, "l", 0, NULL), EACCES);
	assert_int_equal(lookup(f, ROOT, "f", NULL), ENOENT);
	/* Nothing changed but the sn (and the result table). */
	assert_int_equal(attr_of(f, ROOT).mtime_sec, 0);

	pub = mkown(f, CFS_OP_MKDIR, ROOT, "pub", 0777, 5, 6);
	assert_int_equal(anon_mk(f, CFS_OP_CREATE, pub, "f", 0644, &a), 0);
	assert_int_equal(a.uid, ANON);
	assert_int_equal(a.gid, ANON);
	assert_int_equal(anon_mk(f, CFS_OP_MKDIR, pub, "d", 0755, &a), 0);
	assert_int_equal(a.uid, ANON);
	assert_int_equal(anon_mk(f, CFS_OP_MKNOD, pub, "n", S_IFIFO | 0644, NULL), 0);
	/* Devices need CAP_MKNOD, even where anyone may create. */
	assert_int_equal(anon_mk(f, CFS_OP_MKNOD, pub, "mem", S_IFCHR | 0666, NULL), EPERM);
	assert_int_equal(anon_mk(f, CFS_OP_MKNOD, pub, "sda", S_IFBLK | 0666, NULL), EPERM);
	assert_int_equal(lookup(f, pub, "mem", NULL), ENOENT);
	assert_int_equal(anon_mk(f, CFS_OP_SYMLINK, pub, "l", 0, NULL), 0);
	/* Whatever owner the op names, what the anonymous user makes is its own. */
	op = as_anon(mkop(CFS_OP_CREATE, pub, "g"));
	op.uid = 0;
	op.gid = 0;
	op.mode = 0644;
	assert_int_equal(apply(f, &op, NULL), 0);
	assert_int_equal(attr_of(f, ino_of(f, pub, "g")).uid, ANON);

	/* An existing name needs search permission only: CREATE opens it, the rest EEXIST. */
	file = mkown(f, CFS_OP_CREATE, ROOT, "x", 0644, 5, 6);
	assert_int_equal(anon_mk(f, CFS_OP_CREATE, ROOT, "x", 0644, &a), 0);
	assert_int_equal(a.ino, file);
	assert_int_equal(a.uid, 5);
	op = mkop(CFS_OP_CREATE, ROOT, "x");
	op.flags = CFS_CREATE_EXCL;
	assert_int_equal(anon_apply(f, op, NULL), EEXIST);
	assert_int_equal(anon_mk(f, CFS_OP_MKDIR, ROOT, "x", 0755, NULL), EEXIST);
	/* O_TRUNC of another's 0644 file: refused by the handler's own check. */
	op = mkop(CFS_OP_CREATE, ROOT, "x");
	op.flags = CFS_CREATE_TRUNC;
	assert_int_equal(anon_apply(f, op, NULL), EACCES);
	/* ... for uid 0 too, which the handler alone would let through. */
	op = as_anon(op);
	op.caller_uid = op.caller_gid = 0;
	assert_int_equal(apply(f, &op, NULL), EACCES);
	op.flags = CFS_CREATE_TRUNC | CFS_OP_CHECK_PERM;
	op.ino = pub;
	op.name = "g";
	op.namelen = 1;
	assert_int_equal(apply(f, &op, NULL), EACCES); /* g is anon's 0644 */
	/* Without search permission not even that. */
	priv = mkown(f, CFS_OP_MKDIR, ROOT, "priv", 0770, 5, 6);
	mkown(f, CFS_OP_CREATE, priv, "x", 0666, 5, 6);
	assert_int_equal(anon_mk(f, CFS_OP_CREATE, priv, "x", 0644, NULL), EACCES);
	/* Missing parents stay the handler's. */
	assert_int_equal(anon_mk(f, CFS_OP_CREATE, 9999, "x", 0644, NULL), ENOENT);
	assert_int_equal(anon_mk(f, CFS_OP_CREATE, file, "x", 0644, NULL), ENOTDIR);

	/* LINK: the new parent must be writable. */
	op = mkop(CFS_OP_LINK, file, "x2");
	op.ino2 = ROOT;
	assert_int_equal(anon_apply(f, op, NULL), EACCES);
	op.ino2 = pub;
	assert_int_equal(anon_apply(f, op, NULL), 0);
	assert_int_equal(attr_of(f, file).nlink, 2);
	assert_int_equal(anon_apply(f, op, NULL), EEXIST);

	/*
	 * A group-executable set-gid file in a set-gid directory of another
	 * group loses set-gid; a directory keeps the one it inherits.
	 */
	sg = mkown(f, CFS_OP_MKDIR, ROOT, "sg", 02777, 5, 6);
	assert_int_equal(anon_mk(f, CFS_OP_CREATE, sg, "f", 02755, &a), 0);
	assert_int_equal(a.gid, 6);
	assert_int_equal(a.mode, S_IFREG | 0755);
	assert_int_equal(anon_mk(f, CFS_OP_CREATE, sg, "g", 02745, &a), 0);
	assert_int_equal(a.mode, S_IFREG | 02745);
	assert_int_equal(anon_mk(f, CFS_OP_MKDIR, sg, "d", 0755, &a), 0);
	assert_int_equal(a.mode, S_IFDIR | 02755);
	/* In a set-gid directory of its own group it keeps it. */
	op = mkop(CFS_OP_SETATTR, sg, NULL);
	op.valid = CFS_SET_GID;
	op.gid = ANON;
	assert_int_equal(apply(f, &op, NULL), 0);
	assert_int_equal(anon_mk(f, CFS_OP_CREATE, sg, "h", 02755, &a), 0);
	assert_int_equal(a.mode, S_IFREG | 02755);

	/* Without the bit the store trusts the caller's kernel, as before. */
	op = mkop(CFS_OP_CREATE, ROOT, "trusted");
	op.uid = op.caller_uid = ANON;
	op.gid = op.caller_gid = ANON;
	op.mode = 0644;
	assert_int_equal(apply(f, &op, NULL), 0);
	assert_int_equal(attr_of(f, ino_of(f, ROOT, "trusted")).uid, ANON);
}

/* UNLINK and RMDIR: a writable parent, and the sticky rule. */
static void
test_perm_remove(void **state)
{
	struct fx *f = *state;
	uint64_t tmp, pub;
	struct cfs_op op;

	mkown(f, CFS_OP_CREATE, ROOT, "f", 0666, 5, 6);
	mkown(f, CFS_OP_MKDIR, ROOT, "d", 0777, 5, 6);
	assert_int_equal(anon_apply(f, mkop(CFS_OP_UNLINK, ROOT, "f"), NULL), EACCES);
	assert_int_equal(anon_apply(f, mkop(CFS_OP_RMDIR, ROOT, "d"), NULL), EACCES);
	assert_int_equal(lookup(f, ROOT, "f", NULL), 0);
	/* A missing name is the handler's ENOENT. */
	assert_int_equal(anon_apply(f, mkop(CFS_OP_UNLINK, ROOT, "nope"), NULL), ENOENT);

	/* In a sticky directory only the owner of the entry or of the directory removes it. */
	tmp = mkown(f, CFS_OP_MKDIR, ROOT, "tmp", 01777, 5, 6);
	mkown(f, CFS_OP_CREATE, tmp, "theirs", 0666, 7, 7);
	mkown(f, CFS_OP_MKDIR, tmp, "theirdir", 0777, 7, 7);
	assert_int_equal(anon_apply(f, mkop(CFS_OP_UNLINK, tmp, "theirs"), NULL), EPERM);
	assert_int_equal(anon_apply(f, mkop(CFS_OP_RMDIR, tmp, "theirdir"), NULL), EPERM);
	assert_int_equal(anon_mk(f, CFS_OP_CREATE, tmp, "mine", 0600, NULL), 0);
	assert_int_equal(anon_mk(f, CFS_OP_MKDIR, tmp, "minedir", 0700, NULL), 0);
	assert_int_equal(anon_apply(f, mkop(CFS_OP_UNLINK, tmp, "mine"), NULL), 0);
	assert_int_equal(anon_apply(f, mkop(CFS_OP_RMDIR, tmp, "minedir"), NULL), 0);
	assert_int_equal(lookup(f, tmp, "mine", NULL), ENOENT);
	/* The directory's owner removes anything from it. */
	op = setattr_op(tmp, CFS_SET_UID, 0, ANON, 0);
	assert_int_equal(apply(f, &op, NULL), 0);
	assert_int_equal(anon_apply(f, mkop(CFS_OP_UNLINK, tmp, "theirs"), NULL), 0);
	/* Not sticky: any writer removes anything. */
	pub = mkown(f, CFS_OP_MKDIR, ROOT, "pub", 0777, 5, 6);
	mkown(f, CFS_OP_CREATE, pub, "theirs", 0600, 7, 7);
	assert_int_equal(anon_apply(f, mkop(CFS_OP_UNLINK, pub, "theirs"), NULL), 0);

	/* Without the bit, trusted. */
	mkown(f, CFS_OP_CREATE, tmp, "again", 0666, 7, 7);
	op = mkop(CFS_OP_UNLINK, tmp, "again");
	op.caller_uid = op.caller_gid = ANON;
	assert_int_equal(apply(f, &op, NULL), 0);
	assert_int_equal(name_op(f, CFS_OP_UNLINK, ROOT, "f"), 0);
}

/* RENAME: both parents writable, the sticky rule on both names, a moved directory writable. */
static void
test_perm_rename(void **state)
{
	struct fx *f = *state;
	uint64_t pub, pub2, tmp, theirdir;

	pub = mkown(f, CFS_OP_MKDIR, ROOT, "pub", 0777, 5, 6);
	pub2 = mkown(f, CFS_OP_MKDIR, ROOT, "pub2", 0777, 5, 6);
	tmp = mkown(f, CFS_OP_MKDIR, ROOT, "tmp", 01777, 5, 6);
	mkown(f, CFS_OP_CREATE, ROOT, "rootfile", 0666, 5, 6);
	assert_int_equal(anon_mk(f, CFS_OP_CREATE, pub, "mine", 0644, NULL), 0);

	/* Within a writable directory, and between two. */
	assert_int_equal(anon_apply(f, rename_op(pub, "mine", pub, "mine2", 0), NULL), 0);
	assert_int_equal(anon_apply(f, rename_op(pub, "mine2", pub2, "mine", 0), NULL), 0);
	/* Out of or into a directory anon may not write. */
	assert_int_equal(anon_apply(f, rename_op(ROOT, "rootfile", pub, "r", 0), NULL), EACCES);
	assert_int_equal(anon_apply(f, rename_op(pub2, "mine", ROOT, "mine", 0), NULL), EACCES);
	assert_int_equal(lookup(f, pub2, "mine", NULL), 0);
	/* A missing source is the handler's. */
	assert_int_equal(anon_apply(f, rename_op(pub, "nope", pub, "x", 0), NULL), ENOENT);

	/* Sticky: another's file may not leave, nor be replaced. */
	mkown(f, CFS_OP_CREATE, tmp, "theirs", 0666, 7, 7);
	assert_int_equal(anon_apply(f, rename_op(tmp, "theirs", pub, "t", 0), NULL), EPERM);
	assert_int_equal(anon_apply(f, rename_op(tmp, "theirs", tmp, "t", 0), NULL), EPERM);
	assert_int_equal(anon_mk(f, CFS_OP_CREATE, tmp, "mine", 0644, NULL), 0);
	assert_int_equal(anon_apply(f, rename_op(tmp, "mine", tmp, "theirs", 0), NULL), EPERM);
	assert_int_equal(
	    anon_apply(f, rename_op(tmp, "mine", tmp, "theirs", RENAME_EXCHANGE), NULL), EPERM);
	/* A whiteout rename is checked as a rename: another's file stays, anon's may go. */
	assert_int_equal(
	    anon_apply(f, rename_op(tmp, "theirs", tmp, "t", RENAME_WHITEOUT), NULL), EPERM);
	assert_int_equal(
	    anon_apply(f, rename_op(ROOT, "rootfile", pub, "r", RENAME_WHITEOUT), NULL), EACCES);
	assert_int_equal(
	    anon_apply(f, rename_op(tmp, "mine", tmp, "wh", RENAME_WHITEOUT), NULL), 0);
	assert_int_equal(attr_of(f, ino_of(f, tmp, "mine")).mode, S_IFCHR);
	assert_int_equal(attr_of(f, ino_of(f, tmp, "mine")).uid, ANON);
	assert_int_equal(anon_apply(f, rename_op(tmp, "wh", tmp, "mine", 0), NULL), 0);
	assert_int_equal(anon_apply(f, rename_op(tmp, "mine", tmp, "mine3", 0), NULL), 0);
	assert_int_equal(anon_apply(f, rename_op(tmp, "mine3", pub, "mine3", 0), NULL), 0);
	/* Another's file in a non-sticky directory may be replaced. */
	mkown(f, CFS_OP_CREATE, pub, "theirs", 0600, 7, 7);
	assert_int_equal(anon_apply(f, rename_op(pub, "mine3", pub, "theirs", 0), NULL), 0);
	assert_int_equal(attr_of(f, ino_of(f, pub, "theirs")).uid, ANON);

	/* A directory moving to another parent must be writable: its ".." changes. */
	theirdir = mkown(f, CFS_OP_MKDIR, pub, "theirdir", 0755, 7, 7);
	assert_int_equal(anon_apply(f, rename_op(pub, "theirdir", pub2, "theirdir", 0), NULL),
	                 EACCES);
	assert_int_equal(anon_apply(f, rename_op(pub, "theirdir", pub, "renamed", 0), NULL), 0);
	assert_int_equal(ino_of(f, pub, "renamed"), theirdir);
	assert_int_equal(anon_mk(f, CFS_OP_MKDIR, pub, "minedir", 0755, NULL), 0);
	assert_int_equal(anon_apply(f, rename_op(pub, "minedir", pub2, "minedir", 0), NULL), 0);
	/* Exchanged with one: that one moves too. */
	assert_int_equal(
	    anon_apply(f, rename_op(pub2, "minedir", pub, "renamed", RENAME_EXCHANGE), NULL),
	    EACCES);

	/* Without the bit, trusted. */
	assert_int_equal(ren(f, tmp, "theirs", pub2, "theirs", 0), 0);
}

/* SETATTR: owner, group, mode, size and times as Linux lets an unprivileged caller. */
static void
test_perm_setattr(void **state)
{
	struct fx *f = *state;
	uint64_t theirs, shared, pub, sg, mine, ro;
	struct cfs_reply r;
	struct cfs_attr a;
	struct cfs_op op;

	theirs = mkown(f, CFS_OP_CREATE, ROOT, "theirs", 0644, 5, 6);
	shared = mkown(f, CFS_OP_CREATE, ROOT, "shared", 0666, 5, 6);
	pub = mkown(f, CFS_OP_MKDIR, ROOT, "pub", 0777, 5, 6);
	assert_int_equal(anon_mk(f, CFS_OP_CREATE, pub, "mine", 0644, &a), 0);
	mine = a.ino;

	/* Nobody gives a file away, nor takes one. */
	assert_int_equal(anon_apply(f, setattr_op(theirs, CFS_SET_UID, 0, ANON, 0), NULL), EPERM);
	assert_int_equal(anon_apply(f, setattr_op(mine, CFS_SET_UID, 0, 0, 0), NULL), EPERM);
	assert_int_equal(anon_apply(f, setattr_op(mine, CFS_SET_UID, 0, ANON, 0), NULL), 0);
	/* The group: only the owner, only to the caller's group. */
	assert_int_equal(anon_apply(f, setattr_op(theirs, CFS_SET_GID, 0, 0, ANON), NULL), EPERM);
	assert_int_equal(anon_apply(f, setattr_op(mine, CFS_SET_GID, 0, 0, 6), NULL), EPERM);
	assert_int_equal(anon_apply(f, setattr_op(mine, CFS_SET_GID, 0, 0, ANON), NULL), 0);
	/* The mode: only the owner. */
	assert_int_equal(anon_apply(f, setattr_op(theirs, CFS_SET_MODE, 0777, 0, 0), NULL), EPERM);
	assert_int_equal(attr_of(f, theirs).mode, S_IFREG | 0644);
	assert_int_equal(anon_apply(f, setattr_op(mine, CFS_SET_MODE, 06755, 0, 0), &r), 0);
	assert_int_equal(r.attr.mode, S_IFREG | 06755);
	/* Set-gid for a group the caller is not in is dropped, set-uid kept. */
	sg = mkown(f, CFS_OP_MKDIR, ROOT, "sg", 02777, 5, 6);
	assert_int_equal(anon_mk(f, CFS_OP_CREATE, sg, "f", 0644, &a), 0);
	assert_int_equal(a.gid, 6);
	assert_int_equal(anon_apply(f, setattr_op(a.ino, CFS_SET_MODE, 06755, 0, 0), &r), 0);
	assert_int_equal(r.attr.mode, S_IFREG | 04755);
	/* ... judged by the group the same op gives. */
	assert_int_equal(
	    anon_apply(f, setattr_op(a.ino, CFS_SET_MODE | CFS_SET_GID, 02755, 0, ANON), &r), 0);
	assert_int_equal(r.attr.mode, S_IFREG | 02755);
	assert_int_equal(r.attr.gid, ANON);

	/* The size: write permission, or ownership; a truncate drops set-uid. */
	op = setattr_op(theirs, CFS_SET_SIZE, 0, 0, 0);
	assert_int_equal(anon_apply(f, op, NULL), EACCES);
	op.ino = shared;
	assert_int_equal(anon_apply(f, op, NULL), 0);
	ro = mkown(f, CFS_OP_CREATE, pub, "ro", 04555, ANON, ANON);
	op.ino = ro;
	op.offset = 10;
	assert_int_equal(anon_apply(f, op, &r), 0);
	assert_int_equal(r.attr.size, 10);
	assert_int_equal(r.attr.mode, S_IFREG | 0555);

	/* Explicit times: the owner only; "now": the owner or a writer. */
	op = setattr_op(shared, CFS_SET_ATIME | CFS_SET_MTIME, 0, 0, 0);
	op.atime_sec = op.mtime_sec = 5;
	assert_int_equal(anon_apply(f, op, NULL), EPERM);
	op.valid = CFS_SET_MTIME;
	assert_int_equal(anon_apply(f, op, NULL), EPERM);
	op.ino = mine;
	assert_int_equal(anon_apply(f, op, &r), 0);
	assert_int_equal(r.attr.mtime_sec, 5);
	op.ino = shared;
	op.valid = CFS_SET_ATIME_NOW | CFS_SET_MTIME_NOW | CFS_SET_CTIME;
	assert_int_equal(anon_apply(f, op, &r), 0);
	assert_int_equal(r.attr.mtime_sec, last_time(f));
	op.ino = theirs;
	assert_int_equal(anon_apply(f, op, NULL), EACCES);
	op.ino = ro;
	assert_int_equal(anon_apply(f, op, NULL), 0);
	/* A bare ctime or set-uid kill asks nothing. */
	op.ino = theirs;
	op.valid = CFS_SET_CTIME | CFS_SET_KILL_SUID;
	assert_int_equal(anon_apply(f, op, NULL), 0);
	assert_int_equal(anon_apply(f, setattr_op(9999, CFS_SET_MODE, 0, 0, 0), NULL), ENOENT);
	/* Inode flags: the owner's, but immutable and append-only need CAP_LINUX_IMMUTABLE. */
	op = setattr_op(mine, CFS_SET_FLAGS, 0, 0, 0);
	op.rdev = CFS_FL_NODUMP;
	assert_int_equal(anon_apply(f, op, NULL), 0);
	op.ino = theirs;
	assert_int_equal(anon_apply(f, op, NULL), EPERM);
	op.ino = mine;
	op.rdev = CFS_FL_NODUMP | CFS_FL_IMMUTABLE;
	assert_int_equal(anon_apply(f, op, NULL), EPERM);
	op.rdev = CFS_FL_APPEND;
	assert_int_equal(anon_apply(f, op, NULL), EPERM);
	assert_int_equal(attr_of(f, mine).flags, CFS_FL_NODUMP);

	/* Without the bit, trusted. */
	op = setattr_op(theirs, CFS_SET_UID | CFS_SET_MODE | CFS_SET_SIZE, 02777, ANON, 0);
	op.caller_uid = op.caller_gid = ANON;
	assert_int_equal(apply(f, &op, &r), 0);
	assert_int_equal(r.attr.uid, ANON);
	assert_int_equal(r.attr.mode, S_IFREG | 02777);
}

/* OPENREF: only of a file the caller may read or write. */
static void
test_perm_openref(void **state)
{
	struct fx *f = *state;
	uint64_t secret, readable, mine;
	struct cfs_op op;

	secret = mkown(f, CFS_OP_CREATE, ROOT, "secret", 0600, 5, 6);
	readable = mkown(f, CFS_OP_CREATE, ROOT, "readable", 0644, 5, 6);
	mine = mkown(f, CFS_OP_CREATE, ROOT, "mine", 0000, ANON, ANON);
	op = mkop(CFS_OP_OPENREF, secret, NULL);
	assert_int_equal(anon_apply(f, op, NULL), EACCES); /* no pinning of what it cannot open */
	op.ino = readable;
	assert_int_equal(anon_apply(f, op, NULL), 0);
	op.ino = mine;
	assert_int_equal(anon_apply(f, op, NULL), 0);
	op.ino = 9999;
	assert_int_equal(anon_apply(f, op, NULL), ENOENT);
	open_stats(f, 2, 0);
}

/* WRITE and FALLOCATE: write permission or ownership; set-uid dropped. */
static void
test_perm_write(void **state)
{
	struct fx *f = *state;
	uint64_t theirs, shared, pub, ro;
	struct cfs_op op, chmod_op;
	struct cfs_reply r;

	theirs = mkown(f, CFS_OP_CREATE, ROOT, "theirs", 0644, 5, 6);
	shared = mkown(f, CFS_OP_CREATE, ROOT, "shared", 06777, 5, 6);
	pub = mkown(f, CFS_OP_MKDIR, ROOT, "pub", 0777, 5, 6);

	op = mkop(CFS_OP_WRITE, theirs, NULL);
	op.data = (const uint8_t *)"hello";
	op.datalen = 5;
	assert_int_equal(anon_apply(f, op, NULL), EACCES);
	assert_int_equal(attr_of(f, theirs).size, 0);
	op.ino = shared;
	assert_int_equal(anon_apply(f, op, &r), 0);
	assert_int_equal(r.attr.size, 5);
	assert_int_equal(r.attr.mode, S_IFREG | 0777);
	/* A file made 0444 is written through the descriptor that made it. */
	ro = mkown(f, CFS_OP_CREATE, pub, "ro", 0444, ANON, ANON);
	op.ino = ro;
	assert_int_equal(anon_apply(f, op, NULL), 0);
	op.ino = 9999;
	assert_int_equal(anon_apply(f, op, NULL), ENOENT);

	op = mkop(CFS_OP_FALLOCATE, theirs, NULL);
	op.length = 100;
	assert_int_equal(anon_apply(f, op, NULL), EACCES);
	chmod_op = setattr_op(shared, CFS_SET_MODE, 04766, 0, 0);
	assert_int_equal(apply(f, &chmod_op, NULL), 0);
	op.ino = shared;
	assert_int_equal(anon_apply(f, op, &r), 0);
	assert_int_equal(r.attr.size, 100);
	assert_int_equal(r.attr.mode, S_IFREG | 0766);

	/* Without the bit, trusted (and set-uid is the client's to drop). */
	op = mkop(CFS_OP_WRITE, theirs, NULL);
	op.data = (const uint8_t *)"hello";
	op.datalen = 5;
	op.caller_uid = op.caller_gid = ANON;
	assert_int_equal(apply(f, &op, &r), 0);
	assert_int_equal(r.attr.size, 5);
}

/* SETXATTR, REMOVEXATTR, GETXATTR: the namespaces as Linux judges them. */
static void
test_perm_xattr(void **state)
{
	struct fx *f = *state;
	uint64_t theirs, shared, secret, pub, mine, link, tmp;
	struct cfs_reply r;
	struct cfs_op op;

	theirs = mkown(f, CFS_OP_CREATE, ROOT, "theirs", 0644, 5, 6);
	shared = mkown(f, CFS_OP_CREATE, ROOT, "shared", 0666, 5, 6);
	secret = mkown(f, CFS_OP_CREATE, ROOT, "secret", 0600, 5, 6);
	pub = mkown(f, CFS_OP_MKDIR, ROOT, "pub", 0777, 5, 6);
	tmp = mkown(f, CFS_OP_MKDIR, ROOT, "tmp", 01777, 5, 6);
	assert_int_equal(anon_mk(f, CFS_OP_CREATE, pub, "mine", 0644, NULL), 0);
	mine = ino_of(f, pub, "mine");
	assert_int_equal(anon_mk(f, CFS_OP_SYMLINK, pub, "link", 0, NULL), 0);
	link = ino_of(f, pub, "link");
	/* Trusted: the store's test set them without the bit. */
	assert_int_equal(setx(f, theirs, "trusted.t", "t", 1, 0), 0);
	assert_int_equal(setx(f, theirs, "security.s", "s", 1, 0), 0);
	assert_int_equal(setx(f, theirs, "user.u", "u", 1, 0), 0);
	assert_int_equal(setx(f, secret, "user.u", "u", 1, 0), 0);

	op = mkop(CFS_OP_SETXATTR, mine, "trusted.x");
	op.data = (const uint8_t *)"v";
	op.datalen = 1;
	assert_int_equal(anon_apply(f, op, NULL), EPERM);
	op = mkop(CFS_OP_SETXATTR, mine, "security.x");
	op.data = (const uint8_t *)"v";
	op.datalen = 1;
	assert_int_equal(anon_apply(f, op, NULL), EPERM);
	/* The ACLs: the owner's. */
	static const struct store_acl_entry acl3[] = {
	    {STORE_ACL_USER_OBJ, 6, UID}, {STORE_ACL_GROUP_OBJ, 4, UID}, {STORE_ACL_OTHER, 4, UID}};
	static uint8_t aclval[STORE_ACL_MAX_SIZE];

	op = mkop(CFS_OP_SETXATTR, shared, "system.posix_acl_access");
	op.data = aclval;
	op.datalen = (uint32_t)aclv(aclval, acl3, 3);
	assert_int_equal(anon_apply(f, op, NULL), EPERM);
	op.ino = mine;
	assert_int_equal(anon_apply(f, op, NULL), 0);
	/* user.*: write permission, on files and directories only. */
	op = mkop(CFS_OP_SETXATTR, theirs, "user.x");
	op.data = (const uint8_t *)"v";
	op.datalen = 1;
	assert_int_equal(anon_apply(f, op, NULL), EACCES);
	op.ino = shared;
	assert_int_equal(anon_apply(f, op, NULL), 0);
	op.ino = link;
	assert_int_equal(anon_apply(f, op, NULL), EPERM);
	op.ino = pub;
	assert_int_equal(anon_apply(f, op, NULL), 0);
	/* ... and on a sticky directory its owner's only. */
	op.ino = tmp;
	assert_int_equal(anon_apply(f, op, NULL), EPERM);
	op.ino = 9999;
	assert_int_equal(anon_apply(f, op, NULL), ENOENT);
	assert_int_equal(anon_apply(f, mkop(CFS_OP_REMOVEXATTR, theirs, "user.u"), NULL), EACCES);
	assert_int_equal(anon_apply(f, mkop(CFS_OP_REMOVEXATTR, theirs, "trusted.t"), NULL), EPERM);
	assert_int_equal(anon_apply(f, mkop(CFS_OP_REMOVEXATTR, shared, "user.x"), NULL), 0);
	assert_int_equal(anon_apply(f, mkop(CFS_OP_REMOVEXATTR, shared, "user.x"), NULL), ENODATA);

	/* Reading: trusted.* is hidden, security.* open, user.* needs read permission. */
	op = mkop(CFS_OP_GETXATTR, theirs, "trusted.t");
	op.length = 100;
	assert_int_equal(anon_read(f, op, NULL), ENODATA);
	op.name = "security.s";
	op.namelen = (uint16_t)strlen(op.name);
	assert_int_equal(anon_read(f, op, &r), 0);
	assert_int_equal(r.datalen, 1);
	op.name = "user.u";
	op.namelen = (uint16_t)strlen(op.name);
	assert_int_equal(anon_read(f, op, &r), 0);
	assert_memory_equal(r.data, "u", 1);
	op.ino = secret;
	assert_int_equal(anon_read(f, op, NULL), EACCES);
	op.ino = link;
	assert_int_equal(anon_read(f, op, NULL), ENODATA);
	/* LISTXATTR lists every name. */
	op = mkop(CFS_OP_LISTXATTR, theirs, NULL);
	op.length = 100;
	assert_int_equal(anon_read(f, op, &r), 0);
	assert_int_equal(r.datalen, sizeof("security.s\0trusted.t\0user.u"));

	/* Without the bit, trusted. */
	op = mkop(CFS_OP_GETXATTR, theirs, "trusted.t");
	op.length = 100;
	assert_int_equal(rd_op(f, &op, &r), 0);
	assert_int_equal(getx(f, CFS_OP_GETXATTR, secret, "user.u", 100, &r), 0);
	op = mkop(CFS_OP_SETXATTR, theirs, "trusted.x");
	op.data = (const uint8_t *)"v";
	op.datalen = 1;
	op.caller_uid = op.caller_gid = ANON;
	assert_int_equal(apply(f, &op, NULL), 0);
}

/* LOOKUP, READDIR, READ: search, list, read permission; the rest unchecked. */
static void
test_perm_read(void **state)
{
	struct fx *f = *state;
	uint64_t priv, secret, open_, mine;
	uint8_t buf[100];
	struct cfs_reply r;
	struct cfs_op op;

	priv = mkown(f, CFS_OP_MKDIR, ROOT, "priv", 0700, 5, 6);
	mkown(f, CFS_OP_CREATE, priv, "in", 0644, 5, 6);
	secret = mkown(f, CFS_OP_CREATE, ROOT, "secret", 0600, 5, 6);
	open_ = mkown(f, CFS_OP_CREATE, ROOT, "open", 0644, 5, 6);
	mine = mkown(f, CFS_OP_CREATE, ROOT, "mine", 0200, ANON, ANON);
	assert_int_equal(wr(f, secret, 0, "secret", 6), 0);
	assert_int_equal(wr(f, open_, 0, "open", 4), 0);
	assert_int_equal(wr(f, mine, 0, "mine", 4), 0);

	assert_int_equal(anon_read(f, mkop(CFS_OP_LOOKUP, priv, "in"), NULL), EACCES);
	assert_int_equal(anon_read(f, mkop(CFS_OP_LOOKUP, priv, "."), NULL), EACCES);
	assert_int_equal(anon_read(f, mkop(CFS_OP_LOOKUP, ROOT, "priv"), &r), 0);
	assert_int_equal(r.attr.ino, priv);
	assert_int_equal(anon_read(f, mkop(CFS_OP_LOOKUP, ROOT, "nope"), NULL), ENOENT);
	assert_int_equal(anon_read(f, mkop(CFS_OP_LOOKUP, secret, "x"), NULL), ENOTDIR);
	op = mkop(CFS_OP_READDIR, priv, NULL);
	op.length = 4096;
	assert_int_equal(anon_read(f, op, NULL), EACCES);
	op.ino = ROOT;
	op.flags = CFS_READDIR_PLUS;
	assert_int_equal(anon_read(f, op, &r), 0);
	assert_int_equal(r.value, 6);

	op = mkop(CFS_OP_READ, secret, NULL);
	op.length = 100;
	assert_int_equal(anon_read(f, op, NULL), EACCES);
	op.ino = open_;
	assert_int_equal(anon_read(f, op, &r), 0);
	assert_int_equal(r.datalen, 4);
	/* The owner reads what it wrote through a write-only descriptor. */
	op.ino = mine;
	assert_int_equal(anon_read(f, op, &r), 0);
	assert_int_equal(r.datalen, 4);
	op.ino = 9999;
	assert_int_equal(anon_read(f, op, NULL), ENOENT);

	/* Unchecked: attributes, link targets, statfs, and lseek (whose flags are its whence). */
	assert_int_equal(anon_read(f, mkop(CFS_OP_GETATTR, secret, NULL), &r), 0);
	assert_int_equal(r.attr.size, 6);
	assert_int_equal(anon_read(f, mkop(CFS_OP_STATFS, ROOT, NULL), NULL), 0);
	op = mkop(CFS_OP_LSEEK, secret, NULL);
	op.flags = SEEK_DATA;
	assert_int_equal(anon_read(f, op, &r), 0);
	assert_int_equal(r.value, 0);
	op.flags = SEEK_HOLE;
	assert_int_equal(anon_read(f, op, &r), 0);
	assert_int_equal(r.value, 6);

	/* Without the bit, trusted. */
	assert_int_equal(lookup(f, priv, "in", NULL), 0);
	assert_int_equal(rd(f, secret, 0, sizeof(buf), buf), 6);
}

/* A lock op by client on ino for owner: SETLK (type RD/WR/UN) with flags. */
static int
lk(struct fx *f, uint64_t client, uint64_t ino, uint64_t owner, uint32_t type, uint64_t start,
   uint64_t end, uint32_t flags, struct cfs_reply *r)
{
	struct cfs_op op = mkop(CFS_OP_SETLK, ino, NULL);
	uint64_t was = f->client;
	int st;

	op.ino2 = owner;
	op.mode = type;
	op.offset = start;
	op.length = end;
	op.flags = flags;
	op.uid = (uint32_t)(1000 + owner);
	f->client = client;
	st = apply(f, &op, r);
	f->client = was;
	return st;
}

/* GETLK as client's owner: the type in the way (CFS_LK_UN: none), and its range and pid. */
static uint32_t
getlk(struct fx *f, uint64_t client, uint64_t ino, uint64_t owner, uint32_t type,
      uint64_t start, uint64_t end, uint32_t flags, struct cfs_lock_desc *d)
{
	struct cfs_op op = mkop(CFS_OP_GETLK, ino, NULL);
	struct cfs_reply r;

	op.ino2 = owner;
	op.mode = type;
	op.offset = start;
	op.length = end;
	op.flags = flags;
	op.rdev = client;
	assert_int_equal(rd_op(f, &op, &r), 0);
	if (r.value == CFS_LK_UN) {
		assert_int_equal(r.datalen, 0);
		return CFS_LK_UN;
	}
	assert_int_equal(cfs_lock_desc_decode(r.data, r.datalen, d), CFS_WIRE_OK);
	return (uint32_t)r.value;
}

/* Whether client's SETLK seq still waits on ino (LKSTATE). */
static uint64_t
lkstate(struct fx *f, uint64_t client, uint64_t ino, uint64_t seq)
{
	struct cfs_op op = mkop(CFS_OP_LKSTATE, ino, NULL);
	struct cfs_reply r;

	op.offset = seq;
	op.rdev = client;
	assert_int_equal(rd_op(f, &op, &r), 0);
	return r.value;
}

/* An op of client (UNLOCK, LKCANCEL, LKEXPIRE) on ino with ino2, offset and flags. */
static int
lkop(struct fx *f, uint64_t client, uint16_t type, uint64_t ino, uint64_t ino2, uint64_t offset,
     uint32_t flags)
{
	struct cfs_op op = mkop(type, ino, NULL);
	uint64_t was = f->client;
	int st;

	op.ino2 = ino2;
	op.offset = offset;
	op.flags = flags;
	f->client = client;
	st = apply(f, &op, NULL);
	f->client = was;
	return st;
}

#define CA 7 /* two clients, as two hosts */
#define CB 8

/*
 * POSIX record locks: conflicts, GETLK naming the lock in the way, an
 * unlock that splits, a downgrade, merging of an owner's touching ranges,
 * and bad requests.
 */
static void
test_lock_posix(void **state)
{
	struct fx *f = *state;
	uint64_t ino = mkfile(f, ROOT, "f");
	struct cfs_lock_desc d;
	size_t n;

	assert_int_equal(lk(f, CA, ino, 1, CFS_LK_WR, 0, 99, 0, NULL), 0);
	/* The same owner number on another host is another owner. */
	assert_int_equal(lk(f, CB, ino, 1, CFS_LK_RD, 50, 60, 0, NULL), EAGAIN);
	assert_int_equal(getlk(f, CB, ino, 1, CFS_LK_RD, 50, 60, 0, &d), CFS_LK_WR);
	assert_true(d.start == 0 && d.end == 99 && d.pid == 1001);
	/* Its own lock is never in an owner's way; another owner of the same host's is. */
	assert_int_equal(getlk(f, CA, ino, 1, CFS_LK_WR, 0, 10, 0, &d), CFS_LK_UN);
	assert_int_equal(getlk(f, CA, ino, 2, CFS_LK_RD, 99, 99, 0, &d), CFS_LK_WR);
	assert_int_equal(lk(f, CB, ino, 1, CFS_LK_RD, 100, CFS_LK_EOF, 0, NULL), 0);
	/* Unlocking the middle splits the lock in two. */
	assert_int_equal(lk(f, CA, ino, 1, CFS_LK_UN, 40, 59, 0, NULL), 0);
	assert_int_equal(lk(f, CB, ino, 1, CFS_LK_RD, 45, 55, 0, NULL), 0);
	assert_int_equal(lk(f, CB, ino, 1, CFS_LK_RD, 50, 70, 0, NULL), EAGAIN);
	assert_int_equal(getlk(f, CB, ino, 3, CFS_LK_RD, 0, CFS_LK_EOF, 0, &d), CFS_LK_WR);
	assert_true(d.start == 0 && d.end == 39);
	/* A downgrade lets readers in. */
	assert_int_equal(lk(f, CA, ino, 1, CFS_LK_RD, 60, 99, 0, NULL), 0);
	assert_int_equal(lk(f, CB, ino, 1, CFS_LK_RD, 50, 70, 0, NULL), 0);
	/* ... and an upgrade of a range a reader shares is refused, the old lock kept. */
	assert_int_equal(lk(f, CA, ino, 1, CFS_LK_WR, 60, 99, 0, NULL), EAGAIN);
	assert_int_equal(getlk(f, CB, ino, 1, CFS_LK_WR, 60, 60, 0, &d), CFS_LK_RD);
	assert_true(d.start == 60 && d.end == 99);
	/* CB's RD ranges 45..55, 50..70 and 100.. are one owner's: 45..70 merged, 100..EOF. */
	assert_int_equal(getlk(f, CA, ino, 9, CFS_LK_WR, 41, 44, 0, &d), CFS_LK_UN);
	assert_int_equal(getlk(f, CA, ino, 9, CFS_LK_WR, 71, 71, 0, &d), CFS_LK_RD);
	assert_true(d.start == 60 && d.end == 99 && d.pid == 1001); /* CA's own, first in key order */
	assert_int_equal(lk(f, CB, ino, 1, CFS_LK_RD, 71, 99, 0, NULL), 0);
	/* Touching ranges of one type become one: 45..EOF. */
	assert_int_equal(getlk(f, CA, ino, 9, CFS_LK_WR, 44, 44, 0, &d), CFS_LK_UN);
	n = db_count(f, "locks");
	/* CA: 0..39 WR, 60..99 RD; CB: 45..EOF RD. */
	assert_int_equal(n, 3);
	assert_int_equal(getlk(f, CA, ino, 9, CFS_LK_WR, 45, 45, 0, &d), CFS_LK_RD);
	assert_true(d.start == 45 && d.end == CFS_LK_EOF);
	/* Bad requests change nothing. */
	assert_int_equal(lk(f, CA, ino, 1, CFS_LK_WR, 10, 9, 0, NULL), EINVAL);
	assert_int_equal(lk(f, CA, ino, 1, CFS_LK_WR, 0, CFS_LK_EOF + 1, 0, NULL), EINVAL);
	assert_int_equal(lk(f, CA, ino, 1, 0, 0, 1, 0, NULL), EINVAL);
	assert_int_equal(lk(f, CA, ino, 1, CFS_LK_WR, 0, 1, 0x100, NULL), EINVAL);
	assert_int_equal(lk(f, 0, ino, 1, CFS_LK_WR, 0, 1, 0, NULL), EINVAL);
	assert_int_equal(lk(f, CA, 999, 1, CFS_LK_WR, 0, 1, 0, NULL), ENOENT);
}

/*
 * Waiting: a queued request is granted when the lock in its way goes, the
 * grant is reported once, LKSTATE follows it; a cancelled one leaves the
 * queue; a cycle between two hosts' owners is EDEADLK.
 */
static void
test_lock_wait(void **state)
{
	struct fx *f = *state;
	uint64_t ino = mkfile(f, ROOT, "f"), seq;
	const struct store_grant *g;
	struct cfs_lock_desc d;
	struct cfs_reply r;
	size_t n;

	assert_int_equal(lk(f, CA, ino, 1, CFS_LK_WR, 0, 9, 0, NULL), 0);
	assert_int_equal(lk(f, CB, ino, 5, CFS_LK_WR, 5, 5, CFS_LK_WAIT, &r), 0);
	assert_int_equal(r.value, CFS_LK_QUEUED);
	seq = f->seq;
	(void)store_grants(f->s, &n);
	assert_int_equal(n, 0);
	assert_int_equal(lkstate(f, CB, ino, seq), 1);
	assert_int_equal(lkstate(f, CA, ino, seq), 0);
	/* Releasing 0..4 does not free 5. */
	assert_int_equal(lk(f, CA, ino, 1, CFS_LK_UN, 0, 4, 0, NULL), 0);
	(void)store_grants(f->s, &n);
	assert_int_equal(n, 0);
	assert_int_equal(lkop(f, CA, CFS_OP_UNLOCK, ino, 1, 0, CFS_LK_POSIX), 0);
	g = store_grants(f->s, &n);
	assert_int_equal(n, 1);
	assert_true(g[0].session == CB && g[0].seq == seq && g[0].ino == ino && g[0].status == 0);
	assert_int_equal(lkstate(f, CB, ino, seq), 0);
	assert_int_equal(getlk(f, CA, ino, 1, CFS_LK_RD, 0, CFS_LK_EOF, 0, &d), CFS_LK_WR);
	assert_true(d.start == 5 && d.end == 5 && d.pid == 1005);
	/* Cancel: out of the queue once; then ENOENT. */
	assert_int_equal(lk(f, CA, ino, 1, CFS_LK_RD, 0, 9, CFS_LK_WAIT, &r), 0);
	assert_int_equal(r.value, CFS_LK_QUEUED);
	seq = f->seq;
	assert_int_equal(lkop(f, CB, CFS_OP_LKCANCEL, ino, 0, seq, 0), ENOENT); /* not CB's */
	assert_int_equal(lkop(f, CA, CFS_OP_LKCANCEL, ino, 0, seq, 0), 0);
	assert_int_equal(lkop(f, CA, CFS_OP_LKCANCEL, ino, 0, seq, 0), ENOENT);
	assert_int_equal(lkop(f, CB, CFS_OP_UNLOCK, ino, 5, 0, CFS_LK_POSIX), 0);
	(void)store_grants(f->s, &n);
	assert_int_equal(n, 0);
	/* Deadlock: CA holds 0, CB holds 1; CA waits for 1; CB asking for 0 would close the cycle. */
	assert_int_equal(lk(f, CA, ino, 1, CFS_LK_WR, 0, 0, 0, NULL), 0);
	assert_int_equal(lk(f, CB, ino, 1, CFS_LK_WR, 1, 1, 0, NULL), 0);
	assert_int_equal(lk(f, CA, ino, 1, CFS_LK_WR, 1, 1, CFS_LK_WAIT, &r), 0);
	assert_int_equal(r.value, CFS_LK_QUEUED);
	assert_int_equal(lk(f, CB, ino, 1, CFS_LK_WR, 0, 0, CFS_LK_WAIT, NULL), EDEADLK);
	/* Not through a third owner that waits for nothing. */
	assert_int_equal(lk(f, CB, ino, 2, CFS_LK_WR, 0, 0, CFS_LK_WAIT, &r), 0);
	assert_int_equal(r.value, CFS_LK_QUEUED);
	/* CB's owner 1 releases: CA gets 1, then nothing else moves (CB 2 still waits for 0). */
	assert_int_equal(lk(f, CB, ino, 1, CFS_LK_UN, 0, CFS_LK_EOF, 0, NULL), 0);
	g = store_grants(f->s, &n);
	assert_int_equal(n, 1);
	assert_true(g[0].session == CA);
	assert_int_equal(lk(f, CA, ino, 1, CFS_LK_UN, 0, CFS_LK_EOF, 0, NULL), 0);
	(void)store_grants(f->s, &n);
	assert_int_equal(n, 1); /* CB 2 gets 0 */
	assert_int_equal(lk(f, CB, ino, 2, CFS_LK_UN, 0, CFS_LK_EOF, 0, NULL), 0);
	/*
	 * A grant that downgrades its owner's own lock lets an earlier waiter
	 * in: CB holds 20 WR; CA waits to read 20 (queued first); CC holds 21;
	 * CB waits to read 20..21.  CC's release grants CB, whose lock on 20
	 * becomes RD, and then CA.
	 */
	assert_int_equal(lk(f, CB, ino, 1, CFS_LK_WR, 20, 20, 0, NULL), 0);
	assert_int_equal(lk(f, CA, ino, 1, CFS_LK_RD, 20, 20, CFS_LK_WAIT, &r), 0);
	assert_int_equal(r.value, CFS_LK_QUEUED);
	assert_int_equal(lk(f, 9, ino, 1, CFS_LK_WR, 21, 21, 0, NULL), 0);
	assert_int_equal(lk(f, CB, ino, 1, CFS_LK_RD, 20, 21, CFS_LK_WAIT, &r), 0);
	assert_int_equal(r.value, CFS_LK_QUEUED);
	assert_int_equal(lk(f, 9, ino, 1, CFS_LK_UN, 21, 21, 0, NULL), 0);
	g = store_grants(f->s, &n);
	assert_int_equal(n, 2);
	assert_true(g[0].session == CB && g[1].session == CA);
	assert_int_equal(getlk(f, 9, ino, 1, CFS_LK_WR, 20, 20, 0, &d), CFS_LK_RD);
}

/*
 * flocks are apart from POSIX locks; a session's end (the head's LKEXPIRE)
 * releases everything it held and ends its waits; freeing an inode ends
 * the waits on it; the limits answer ENOLCK.
 */
static void
test_lock_flock_expire(void **state)
{
	struct fx *f = *state;
	uint64_t ino = mkfile(f, ROOT, "f"), ino2 = mkfile(f, ROOT, "g"), seq;
	const struct store_grant *g;
	struct cfs_lock_desc d;
	struct cfs_reply r;
	size_t n;
	uint8_t d1[CFS_DIGEST_LEN], d2[CFS_DIGEST_LEN];

	digest(f, d1);
	assert_int_equal(lk(f, CA, ino, 1, CFS_LK_WR, 0, 0, CFS_LK_FLOCK, NULL), 0);
	assert_int_equal(lk(f, CB, ino, 1, CFS_LK_WR, 0, CFS_LK_EOF, 0, NULL), 0);
	assert_int_equal(lk(f, CB, ino, 2, CFS_LK_RD, 0, 0, CFS_LK_FLOCK, NULL), EAGAIN);
	assert_int_equal(getlk(f, CB, ino, 2, CFS_LK_RD, 0, 0, CFS_LK_FLOCK, &d), CFS_LK_WR);
	assert_true(d.start == 0 && d.end == CFS_LK_EOF);
	assert_int_equal(lk(f, CA, ino, 1, CFS_LK_RD, 0, 0, CFS_LK_FLOCK, NULL), 0);
	assert_int_equal(lk(f, CB, ino, 2, CFS_LK_RD, 0, 0, CFS_LK_FLOCK, NULL), 0);
	/* A waiting upgrade gives up its shared lock first, so CA is not stuck behind it. */
	assert_int_equal(lk(f, CB, ino, 2, CFS_LK_WR, 0, 0, CFS_LK_FLOCK | CFS_LK_WAIT, &r), 0);
	assert_int_equal(r.value, CFS_LK_QUEUED);
	seq = f->seq;
	assert_int_equal(lk(f, CA, ino, 1, CFS_LK_WR, 0, 0, CFS_LK_FLOCK, NULL), 0);
	/* CA's session ends: CB's flock is granted, its POSIX lock stays. */
	assert_int_equal(lkop(f, CA, CFS_OP_LKEXPIRE, 0, CA, 0, 0), EPERM);
	assert_int_equal(lkop(f, 0, CFS_OP_LKEXPIRE, 0, CA, 0, 0), 0);
	g = store_grants(f->s, &n);
	assert_int_equal(n, 1);
	assert_true(g[0].session == CB && g[0].seq == seq && g[0].status == 0);
	assert_int_equal(getlk(f, CA, ino, 1, CFS_LK_RD, 0, 0, CFS_LK_FLOCK, &d), CFS_LK_WR);
	assert_int_equal(getlk(f, CA, ino, 1, CFS_LK_RD, 7, 7, 0, &d), CFS_LK_WR);
	/* Freeing the inode drops its locks and ends its waits. */
	assert_int_equal(lk(f, CA, ino, 1, CFS_LK_RD, 0, 0, CFS_LK_WAIT, &r), 0);
	assert_int_equal(r.value, CFS_LK_QUEUED);
	seq = f->seq;
	assert_int_equal(name_op(f, CFS_OP_UNLINK, ROOT, "f"), 0);
	g = store_grants(f->s, &n);
	assert_int_equal(n, 1);
	assert_true(g[0].session == CA && g[0].seq == seq && g[0].status == ENOENT);
	/* Limits: waits, then locks, of one session. */
	assert_int_equal(lk(f, CB, ino2, 1, CFS_LK_WR, 0, CFS_LK_EOF, 0, NULL), 0);
	for (uint64_t i = 0; i < STORE_LOCK_WAITS_MAX; i++)
		assert_int_equal(lk(f, CA, ino2, 100 + i, CFS_LK_RD, 0, 0, CFS_LK_WAIT, NULL), 0);
	assert_int_equal(lk(f, CA, ino2, 99, CFS_LK_RD, 0, 0, CFS_LK_WAIT, NULL), ENOLCK);
	assert_int_equal(lkop(f, CB, CFS_OP_UNLOCK, 0, 0, 0, CFS_LK_SESSION), 0);
	(void)store_grants(f->s, &n);
	assert_int_equal(n, STORE_LOCK_WAITS_MAX);
	assert_int_equal(lkop(f, CA, CFS_OP_UNLOCK, 0, 0, 0, CFS_LK_SESSION), 0);
	for (uint64_t i = 0; i < STORE_LOCKS_MAX; i++)
		assert_int_equal(lk(f, CB, ino2, 1, CFS_LK_RD, 2 * i, 2 * i, 0, NULL), 0);
	assert_int_equal(lk(f, CB, ino2, 1, CFS_LK_RD, 2 * STORE_LOCKS_MAX, 2 * STORE_LOCKS_MAX, 0,
	                    NULL),
	                 ENOLCK);
	/* Closing the gaps merges them all into one. */
	assert_int_equal(lk(f, CB, ino2, 1, CFS_LK_RD, 0, 2 * STORE_LOCKS_MAX, 0, NULL), 0);
	assert_int_equal(getlk(f, CA, ino2, 1, CFS_LK_WR, 5, 5, 0, &d), CFS_LK_RD);
	assert_true(d.start == 0 && d.end == 2 * STORE_LOCKS_MAX);
	/* Everything released: the lock tables are as before. */
	assert_int_equal(lkop(f, CB, CFS_OP_UNLOCK, ino2, 1, 0, CFS_LK_POSIX), 0);
	assert_int_equal(db_count(f, "locks"), 0);
	assert_int_equal(db_count(f, "lkwait"), 0);
	assert_int_equal(db_count(f, "lkown"), 0);
	assert_int_equal(db_count(f, "lksess"), 0);
	digest(f, d2);
	assert_memory_not_equal(d1, d2, CFS_DIGEST_LEN); /* the files and results differ */
}

/*
 * The bit travels in the entry: the head logs it, and a replica applying
 * the logged entries (without STORE_DECIDE, as replicas do) checks the same
 * and reaches the same results and the same state.
 */
static void
test_perm_replay(void **state)
{
	struct fx *a = *state, *b = fx_new(T_MAPSIZE), *c = fx_new(T_MAPSIZE);
	uint8_t da[CFS_DIGEST_LEN], db[CFS_DIGEST_LEN], dc[CFS_DIGEST_LEN];
	struct cfs_op ops[8];
	struct cfs_wbuf body;
	struct cfs_entry e;
	struct cfs_reply r;
	struct logrec l;
	size_t n = 0, denied = 0;

	memset(&l, 0, sizeof(l));
	cfs_wbuf_init(&body);
	ops[n] = mkop(CFS_OP_MKDIR, ROOT, "tmp");
	ops[n].mode = 01777;
	ops[n++].uid = 5;
	ops[n] = as_anon(mkop(CFS_OP_CREATE, 2, "mine"));
	ops[n++].mode = 02755;
	ops[n] = as_anon(mkop(CFS_OP_CREATE, ROOT, "denied"));
	ops[n++].mode = 0644;
	ops[n] = as_anon(mkop(CFS_OP_WRITE, 3, NULL));
	ops[n].data = (const uint8_t *)"abc";
	ops[n++].datalen = 3;
	ops[n++] = as_anon(setattr_op(3, CFS_SET_UID, 0, 0, 0));
	ops[n++] = as_anon(setattr_op(3, CFS_SET_MODE, 06777, 0, 0));
	ops[n++] = as_anon(rename_op(2, "mine", ROOT, "moved", 0));
	ops[n++] = as_anon(rename_op(2, "mine", 2, "renamed", 0));
	for (size_t i = 0; i < n; i++) {
		entry_init(a, &e, &ops[i]);
		cfs_wbuf_reset(&body);
		assert_int_equal(store_apply(a->s, &e, STORE_DECIDE | STORE_LOG, &body, &r), 0);
		assert_int_equal(e.op.flags, ops[i].flags);
		denied += e.result != 0;
	}
	assert_int_equal(denied, 3);
	assert_int_equal(attr_of(a, 3).mode, S_IFREG | 06777);

	assert_int_equal(store_log_foreach(a->s, 0, log_collect, &l), 0);
	assert_int_equal(l.n, n);
	for (size_t i = 0; i < l.n; i++) {
		assert_int_equal(l.e[i].op.flags, ops[i].flags);
		assert_int_equal(l.e[i].op.caller_uid, ops[i].caller_uid);
		assert_int_equal(store_apply(b->s, &l.e[i], 0, NULL, &r), 0);
		assert_int_equal(r.status, l.e[i].result);
	}
	assert_int_equal(l.e[2].result, EACCES);
	assert_int_equal(l.e[4].result, EPERM);
	assert_int_equal(l.e[6].result, EACCES);
	digest(a, da);
	digest(b, db);
	assert_memory_equal(da, db, CFS_DIGEST_LEN);
	/* A replica that ignored the bit would diverge. */
	for (size_t i = 0; i < l.n; i++) {
		e = l.e[i];
		e.op.flags &= ~CFS_OP_CHECK_PERM;
		assert_int_equal(store_apply(c->s, &e, 0, NULL, &r), 0);
	}
	digest(c, dc);
	assert_memory_not_equal(da, dc, CFS_DIGEST_LEN);
	log_clear(&l);
	cfs_wbuf_free(&body);
	fx_free(c);
	fx_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_open_root, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_format_migration, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sn_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_create, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mknod, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mkdir, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_symlink, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_link, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unlink, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rmdir, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_refs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_perm_openref, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rename_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rename_dirs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rename_exchange, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rename_whiteout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_inode_flags, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_setattr, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_read, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_truncate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_xattr, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_acl_apply, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fallocate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lseek, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_readdir, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_statfs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fsync, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_results, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_decide_log, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_digest, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_persist, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sync_thread, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sessions_expire, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_perm_create, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_perm_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_perm_rename, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_perm_setattr, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_perm_write, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_perm_xattr, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_perm_read, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_perm_replay, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lock_posix, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lock_wait, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lock_flock_expire, setup, teardown),
	    cmocka_unit_test(test_mapfull),
	};

	log_init("test_store", 0, LOG_LEVEL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
