/*
 * The replicated state of one node in LMDB; the interface is store.h.
 *
 * This file opens and closes the store and holds what is the store's as a
 * whole: batches, sync, the meta counters (applied_sn, next_ino) and the
 * read-fault hook for tests.  The rest is split by part, and what the files
 * share is in store_int.h:
 *   store_db.c        keys and values, the LMDB calls, the attr codec
 *   store_inode.c     inode records and directory entries
 *   store_blocks.c    file contents (write, truncate, punch, read, lseek)
 *   store_apply.c     store_apply and the update operations
 *   store_results.c   the exactly-once result table and client floors
 *   store_read.c      store_read and the other read operations
 *   store_log.c       the log of sent entries
 *   store_snapshot.c  the digest of the whole state
 *   store_locks.c     locks and the requests waiting for them
 *   store_opens.c     open references, and inodes open with no name left
 *
 * Choices made here (the design leaves them to the store):
 *
 * - Every key is big-endian so that LMDB's byte order is numeric order.
 *   Values are big-endian too; nothing here depends on the wire codec except
 *   the log (which holds encoded entries) and the READDIR/STATFS data.
 * - Inode record (inodes DB), format 2, big-endian:
 *     format u8, mode u32, nlink u32, uid u32, gid u32, rdev u64, size u64,
 *     version u64, atime sec i64 nsec u32, mtime sec/nsec, ctime sec/nsec,
 *     parent u64 (directories: the directory holding it; root: itself;
 *     others: 0), next_cookie u64 (directories: the cookie the next dirent
 *     gets), nentries u64 (directories: dirents besides "." and ".."),
 *     nxattrs u64, stored u64 (bytes held in the blocks DB), flags u32
 *     (CFS_FL_*), linklen u32, then the symlink target.  Format 1, read
 *     still, has no flags (they are 0).
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
 * Inside the store's files, functions on the apply and read paths return 0,
 * a positive errno (the operation's status) or a negative errno (the store
 * itself failed: -ENOSPC when the map is full, -EIO otherwise).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <unistd.h>

#include <lmdb.h>

#include "common/log.h"
#include "store/store.h"
#include "store/store_int.h"

/* The name of each database in LMDB, in enum store_db order. */
const char *const store_db_names[STORE_NDB] = {
    "meta", "inodes", "dirents", "cookies", "blocks", "xattrs", "results", "floors", "log",
    "locks", "lkwait", "lkown", "lksess", "opens",
};

/* Reads a u64 from meta; absent reads as dflt. */
int
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
int
store_meta_put(MDB_txn *txn, struct store *s, const char *name, uint64_t val)
{
	uint8_t b[8];

	store_put_be(b, val, 8);
	return store_db_put(txn, s->dbi[STORE_DB_META], name, strlen(name), b, sizeof(b));
}

/* Empties every database in txn: 0 or a negative errno (logged). */
int
store_drop_all(MDB_txn *txn, struct store *s)
{
	int rc = 0;

	for (int i = 0; i < STORE_NDB && rc == 0; i++)
		rc = mdb_drop(txn, s->dbi[i], 0);
	return rc == 0 ? 0 : store_mdb_fail(__func__, "mdb_drop", rc);
}

/* Creates the root directory and the meta counters of a new store. */
int
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
	if (rc == 0)
		rc = store_meta_put(txn, s, "format", STORE_FORMAT);
	return rc;
}

/*
 * Rewrites, in batches of STORE_MIGRATE_BATCH, every record of database db
 * that fix() changes (it returns the new value's length in buf, or 0 to
 * leave the record).  0, or an LMDB error.
 */
#define STORE_MIGRATE_BATCH 4096
static int
store_migrate_db(struct store *s, MDB_dbi db, size_t (*fix)(const MDB_val *, uint8_t *, size_t),
                 uint64_t *fixed)
{
	uint8_t last[64], buf[STORE_INODE_FIXED + CFS_PATH_MAX];
	size_t lastlen = 0;
	int rc = 0, done;

	for (;;) {
		MDB_txn *txn;
		MDB_cursor *cur;
		MDB_val key, v, nv;
		unsigned n = 0;

		if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
			return rc;
		if ((rc = mdb_cursor_open(txn, db, &cur)) != 0) {
			mdb_txn_abort(txn);
			return rc;
		}
		key.mv_data = last;
		key.mv_size = lastlen;
		rc = mdb_cursor_get(cur, &key, &v, lastlen > 0 ? MDB_SET_RANGE : MDB_FIRST);
		for (; rc == 0 && n < STORE_MIGRATE_BATCH; n++) {
			/* The key is copied first: a put of another size moves the page's bytes. */
			if (key.mv_size > sizeof(last)) {
				rc = MDB_BAD_VALSIZE;
				break;
			}
			memcpy(last, key.mv_data, key.mv_size);
			lastlen = key.mv_size;
			key.mv_data = last;
			nv.mv_size = fix(&v, buf, sizeof(buf));
			nv.mv_data = buf;
			if (nv.mv_size > 0) {
				if ((rc = mdb_cursor_put(cur, &key, &nv, MDB_CURRENT)) != 0)
					break;
				(*fixed)++;
			}
			rc = mdb_cursor_get(cur, &key, &v, MDB_NEXT);
		}
		mdb_cursor_close(cur);
		if (rc != 0 && rc != MDB_NOTFOUND) {
			mdb_txn_abort(txn);
			return rc;
		}
		done = rc == MDB_NOTFOUND;
		if ((rc = mdb_txn_commit(txn)) != 0)
			return rc;
		if (done)
			return 0;
	}
}

/* An inode record of format 1: the same with 4 bytes of flags (0) before linklen. */
static size_t
store_fix_inode(const MDB_val *v, uint8_t *buf, size_t room)
{
	const uint8_t *p = v->mv_data;
	size_t at = STORE_INODE_FIXED1 - 4;

	if (v->mv_size < STORE_INODE_FIXED1 || p[0] != 1 || v->mv_size + 4 > room)
		return 0;
	memcpy(buf, p, at);
	buf[0] = STORE_INODE_FORMAT;
	memset(buf + at, 0, 4);
	memcpy(buf + at + 4, p + at, v->mv_size - at);
	return v->mv_size + 4;
}

/* A result of STORE_RESULT_SIZE1 bytes: its attr gains flags (0). */
static size_t
store_fix_result(const MDB_val *v, uint8_t *buf, size_t room)
{
	size_t at = 4 + 4 + STORE_ATTR_SIZE - 4;

	if (v->mv_size != STORE_RESULT_SIZE1 || room < STORE_RESULT_SIZE)
		return 0;
	memcpy(buf, v->mv_data, at);
	memset(buf + at, 0, 4);
	memcpy(buf + at + 4, (const uint8_t *)v->mv_data + at, v->mv_size - at);
	return STORE_RESULT_SIZE;
}

/*
 * Brings a store written by an older chainfs to the current formats
 * before it serves.  Old records are still read, but the digest hashes
 * records as stored: a replica that replayed entries with this code and
 * one that had applied them with the old would disagree.  Done once;
 * meta "format" records it.
 */
static int
store_migrate(struct store *s, char *err, size_t errlen)
{
	uint64_t fmt, fixed = 0;
	MDB_txn *txn;
	int rc;

	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
		goto fail;
	if ((rc = store_meta_get(txn, s, "format", 1, &fmt)) != 0 || fmt >= STORE_FORMAT) {
		mdb_txn_abort(txn);
		if (rc == 0)
			return 0;
		goto fail;
	}
	mdb_txn_abort(txn);
	if ((rc = store_migrate_db(s, s->dbi[STORE_DB_INODES], store_fix_inode, &fixed)) != 0 ||
	    (rc = store_migrate_db(s, s->dbi[STORE_DB_RESULTS], store_fix_result, &fixed)) != 0)
		goto fail;
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
		goto fail;
	if ((rc = store_meta_put(txn, s, "format", STORE_FORMAT)) != 0) {
		mdb_txn_abort(txn);
		goto fail;
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		goto fail;
	if (fixed > 0)
		log_info("store brought to format %d: %llu records rewritten", STORE_FORMAT,
		         (unsigned long long)fixed);
	return 0;
fail:
	snprintf(err, errlen, "cannot bring the store to format %d: %s", STORE_FORMAT,
	         mdb_strerror(rc < 0 ? -rc : rc));
	return -1;
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
	rc = store_db_get(txn, s->dbi[STORE_DB_META], "importing", strlen("importing"), &v);
	if (rc == 0) {
		/* A snapshot was being received when the node stopped: it is not a state. */
		log_warnx("the store holds an incomplete snapshot: emptying it");
		rc = store_drop_all(txn, s);
		if (rc != 0) {
			snprintf(err, errlen, "cannot empty the store");
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

/*
 * Where LMDB maps the data file, for store_put_mapped.  LMDB tells the map's
 * address only with MDB_FIXEDMAP, so it is found in /proc/self/maps: the
 * mapping of the data file's device and inode from offset 0, of the map's
 * size.  Not found, values are copied through the map as before.
 */
static void
store_map_info(struct store *s)
{
	MDB_envinfo info;
	mdb_filehandle_t fd;
	struct stat st;
	unsigned long long lo, hi, off, ino;
	unsigned maj, min;
	char line[512];
	FILE *f;

	s->fd = -1;
	if (mdb_env_info(s->env, &info) != 0 || mdb_env_get_fd(s->env, &fd) != 0 ||
	    fstat(fd, &st) != 0 || (f = fopen("/proc/self/maps", "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%llx-%llx %*s %llx %x:%x %llu", &lo, &hi, &off, &maj, &min,
			   &ino) != 6 ||
		    off != 0 || ino != (unsigned long long)st.st_ino ||
		    makedev(maj, min) != st.st_dev || hi - lo != info.me_mapsize)
			continue;
		s->map = (const uint8_t *)(uintptr_t)lo;
		s->mapsize = info.me_mapsize;
		s->fd = fd;
		break;
	}
	fclose(f);
}

/*
 * Appends len bytes at p, a value found in a read transaction.  A big value
 * in the map comes with pread from the file instead of a copy through the
 * map: the same bytes (one page cache, and the transaction keeps its pages
 * from reuse), but a cold file is read with the kernel's readahead instead
 * of a page fault every few pages, which made the first read of data after
 * it was written cost the tail twice the CPU of the next.  Anything else (a
 * page dirty in a write transaction is not in the map) is copied.
 */
void
store_put_mapped(struct store *s, struct cfs_wbuf *out, const void *p, size_t len)
{
	const uint8_t *b = p;
	ssize_t r;

	if (len >= STORE_PREAD_MIN && s->fd >= 0 && b >= s->map && len <= s->mapsize &&
	    (size_t)(b - s->map) <= s->mapsize - len) {
		cfs_wbuf_reserve(out, len);
		r = pread(s->fd, out->p + out->len, len, (off_t)(b - s->map));
		if (r == (ssize_t)len) {
			out->len += len;
			s->preads += len;
			return;
		}
	}
	cfs_put_bytes(out, p, len);
}

/* See store.h. */
uint64_t
store_preads(const struct store *s)
{
	return s->preads;
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
	if (store_open_dbs(s, err, errlen) != 0 || store_migrate(s, err, errlen) != 0)
		goto fail;
	store_map_info(s);
	*out = s;
	return 0;
fail:
	mdb_env_close(s->env);
	free(s->buf);
	free(s->grants);
	free(s);
	return -1;
}

/*
 * The thread of store_sync_start: one flush per request, its outcome for
 * store_sync_done.  mdb_env_sync only calls fdatasync on the environment's
 * file here (no MDB_WRITEMAP), which commits on the caller's thread do not
 * disturb: what was committed when the flush began is durable when it ends.
 */
struct store_syncer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int want, running, finished, stop, err;
};

static void *
store_syncer_main(void *arg)
{
	struct store *s = arg;
	struct store_syncer *y = s->syncer;

	pthread_mutex_lock(&y->lock);
	for (;;) {
		int rc;

		while (!y->want && !y->stop)
			pthread_cond_wait(&y->wake, &y->lock);
		if (y->stop)
			break;
		y->want = 0;
		pthread_mutex_unlock(&y->lock);
		rc = mdb_env_sync(s->env, 1);
		pthread_mutex_lock(&y->lock);
		y->err = rc > 0 ? -rc : rc;
		y->running = 0;
		y->finished = 1;
	}
	pthread_mutex_unlock(&y->lock);
	return NULL;
}

int
store_sync_start(struct store *s)
{
	struct store_syncer *y = s->syncer;

	if (s->batch != NULL)
		return -EBUSY;
	if (y == NULL) {
		y = xcalloc(1, sizeof(*y));
		pthread_mutex_init(&y->lock, NULL);
		pthread_cond_init(&y->wake, NULL);
		s->syncer = y;
		if (pthread_create(&y->thread, NULL, store_syncer_main, s) != 0) {
			s->syncer = NULL;
			pthread_cond_destroy(&y->wake);
			pthread_mutex_destroy(&y->lock);
			free(y);
			return store_sync(s) == 0 ? 0 : -EIO; /* no thread: flush here */
		}
	}
	pthread_mutex_lock(&y->lock);
	if (y->running) {
		pthread_mutex_unlock(&y->lock);
		return 1;
	}
	y->running = 1;
	y->want = 1;
	y->finished = 0;
	pthread_cond_signal(&y->wake);
	pthread_mutex_unlock(&y->lock);
	return 0;
}

int
store_sync_done(struct store *s, int *err)
{
	struct store_syncer *y = s->syncer;
	int done = 0;

	*err = 0;
	if (y == NULL)
		return 1; /* none running: a flush made here, if any, has ended */
	pthread_mutex_lock(&y->lock);
	if (y->finished) {
		y->finished = 0;
		*err = y->err;
		done = 1;
	}
	pthread_mutex_unlock(&y->lock);
	if (done && *err != 0)
		log_warnx("store sync: %s", mdb_strerror(-*err));
	return done;
}

/* Stops the thread of store_sync_start, after the flush it is making. */
static void
store_syncer_stop(struct store *s)
{
	struct store_syncer *y = s->syncer;

	if (y == NULL)
		return;
	pthread_mutex_lock(&y->lock);
	y->stop = 1;
	pthread_cond_signal(&y->wake);
	pthread_mutex_unlock(&y->lock);
	pthread_join(y->thread, NULL);
	pthread_cond_destroy(&y->wake);
	pthread_mutex_destroy(&y->lock);
	free(y);
	s->syncer = NULL;
}

/* Closes the store; committed state is flushed first. */
void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	store_syncer_stop(s);
	if (s->batch != NULL && store_batch_commit(s) != 0)
		log_warnx("%s: the open batch was lost", __func__);
	mdb_env_sync(s->env, 1);
	mdb_env_close(s->env);
	free(s->buf);
	free(s->grants);
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
int
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

/* Makes lookups fail as a broken store would, after `skip` good ones; for tests. */
void
store_inject_read_faults(struct store *s, unsigned skip, unsigned n)
{
	s->ok_reads = n > 0 ? skip : 0;
	s->fail_reads = n;
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

/* See store.h. */
void
store_track(struct store *s, struct store_changes *ch)
{
	if (ch != NULL)
		memset(ch, 0, sizeof(*ch));
	s->changes = ch;
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

/* Reads the cluster id from meta; 0 when none was set. */
static int
store_cluster_id_in(struct store_tx *tx, void *arg)
{
	return store_meta_get(tx->txn, tx->s, "cluster_id", 0, arg);
}

int
store_cluster_id(struct store *s, uint64_t *id)
{
	*id = 0;
	return store_with_read(s, store_cluster_id_in, id);
}

/* Records the cluster id, in its own transaction, and syncs it. */
int
store_set_cluster_id(struct store *s, uint64_t id)
{
	MDB_txn *txn;
	int rc;

	if (s->batch != NULL)
		return -EBUSY;
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_txn_begin", rc);
	rc = store_meta_put(txn, s, "cluster_id", id);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	rc = mdb_txn_commit(txn);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_txn_commit", rc);
	return store_sync(s);
}
