/*
 * Open references: which client sessions hold which inodes open, so that
 * an inode outlives its last name for as long as any host has it open, as
 * POSIX asks of a local filesystem (and CephFS does with its stray
 * directory).
 *
 * A client's session (its client id) takes a reference with OPENREF, or
 * with a CREATE that has CFS_CREATE_OPENREF, before its first open of the
 * inode answers, and lets it go with CLOSEREF after its last close.  When
 * an unlink, rmdir or rename takes an inode's last name while references
 * are held, the inode stays, with no name and a link count of 0: an
 * orphan, readable and writable through the open files, which the kernel
 * shows as deleted.  The CLOSEREF (or the end of the session: LKEXPIRE,
 * the head's) that drops the last reference frees it.  One entry lets go
 * of at most CFS_CLOSEREF_MAX references: an LKEXPIRE of a session that
 * holds more leaves the rest for the head's next one.
 *
 * The opens database, keys big-endian (store_key2):
 *   (session, ino) -> 1         the session holds ino open;
 *   (0, ino)       -> u32 n     n sessions hold ino open;
 *   (session, 0)   -> u32 n     the session holds n inodes open.
 * Client ids are never 0, inode numbers never 0.  The meta counters
 * "openrefs" and "orphans" count the first kind and the orphans.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "store/store.h"
#include "store/store_int.h"

/* A count in the opens database; absent reads as 0. */
static int
opens_count_get(struct store_tx *tx, uint64_t a, uint64_t b, uint32_t *n)
{
	const uint8_t *p;
	uint8_t k[16];
	MDB_val v;
	int rc;

	store_key2(k, a, b);
	rc = store_db_get(tx->txn, tx->s->dbi[STORE_DB_OPENS], k, sizeof(k), &v);
	*n = 0;
	if (rc == ENOENT)
		return 0;
	if (rc != 0)
		return rc > 0 ? -EIO : rc;
	if (v.mv_size != 4) {
		log_warnx("%s: opens record of %zu bytes", __func__, v.mv_size);
		return -EIO;
	}
	p = v.mv_data;
	*n = (uint32_t)store_get_be(&p, 4);
	return 0;
}

/* Adds d to a count of the opens database; 0 deletes the record. */
static int
opens_count_add(struct store_tx *tx, uint64_t a, uint64_t b, int d, uint32_t *out)
{
	uint8_t k[16], rec[4];
	uint32_t n;
	int rc;

	if ((rc = opens_count_get(tx, a, b, &n)) != 0)
		return rc;
	if (d < 0 && n < (uint32_t)-d) {
		log_warnx("%s: open count of (%016llx, %llu) below zero", __func__,
		          (unsigned long long)a, (unsigned long long)b);
		return -EIO;
	}
	n = (uint32_t)((int64_t)n + d);
	store_key2(k, a, b);
	if (out != NULL)
		*out = n;
	if (n == 0) {
		rc = store_db_del(tx->txn, tx->s->dbi[STORE_DB_OPENS], k, sizeof(k));
		return rc > 0 ? -EIO : rc;
	}
	store_put_be(rec, n, 4);
	return store_db_put(tx->txn, tx->s->dbi[STORE_DB_OPENS], k, sizeof(k), rec, sizeof(rec));
}

/* Adds d to a meta counter. */
static int
opens_meta_add(struct store_tx *tx, const char *name, int d)
{
	uint64_t v;
	int rc = store_meta_get(tx->txn, tx->s, name, 0, &v);

	if (rc != 0)
		return rc;
	if (d < 0 && v < (uint64_t)-d) {
		log_warnx("%s: meta %s below zero", __func__, name);
		return -EIO;
	}
	return store_meta_put(tx->txn, tx->s, name, v + (uint64_t)(int64_t)d);
}

/* Whether session holds ino open: 1, 0, or a negative errno. */
static int
opens_held(struct store_tx *tx, uint64_t session, uint64_t ino)
{
	uint8_t k[16];
	MDB_val v;
	int rc;

	store_key2(k, session, ino);
	rc = store_db_get(tx->txn, tx->s->dbi[STORE_DB_OPENS], k, sizeof(k), &v);
	if (rc == ENOENT)
		return 0;
	return rc == 0 ? 1 : (rc > 0 ? -EIO : rc);
}

/* session holds ino open (again: nothing changes). */
int
store_opens_add(struct store_tx *tx, uint64_t session, uint64_t ino)
{
	static const uint8_t one = 1;
	uint8_t k[16];
	uint32_t held;
	int rc = opens_held(tx, session, ino);

	if (rc != 0)
		return rc < 0 ? rc : 0;
	if ((rc = opens_count_get(tx, session, 0, &held)) != 0)
		return rc;
	if (held >= STORE_OPENS_MAX)
		return EMFILE; /* what any one peer may make every replica keep */
	store_key2(k, session, ino);
	rc = store_db_put(tx->txn, tx->s->dbi[STORE_DB_OPENS], k, sizeof(k), &one, 1);
	if (rc == 0)
		rc = opens_count_add(tx, 0, ino, 1, NULL);
	if (rc == 0)
		rc = opens_count_add(tx, session, 0, 1, NULL);
	if (rc == 0)
		rc = opens_meta_add(tx, "openrefs", 1);
	return rc;
}

/* session lets ino go; an orphan nobody holds any more is freed. */
static int
opens_del(struct store_tx *tx, uint64_t session, uint64_t ino)
{
	struct store_inode n;
	uint8_t k[16];
	uint32_t left = 1;
	int rc = opens_held(tx, session, ino);

	if (rc <= 0)
		return rc; /* not held: a CLOSEREF sent twice, or after the session ended */
	store_key2(k, session, ino);
	rc = store_db_del(tx->txn, tx->s->dbi[STORE_DB_OPENS], k, sizeof(k));
	if (rc == 0)
		rc = opens_count_add(tx, session, 0, -1, NULL);
	if (rc == 0)
		rc = opens_count_add(tx, 0, ino, -1, &left);
	if (rc == 0)
		rc = opens_meta_add(tx, "openrefs", -1);
	if (rc != 0 || left > 0)
		return rc > 0 ? -EIO : rc;
	rc = store_inode_get(tx, ino, &n);
	if (rc != 0 || n.a.nlink > 0)
		return rc == ENOENT ? 0 : rc;
	rc = opens_meta_add(tx, "orphans", -1);
	return rc != 0 ? rc : store_inode_free(tx, &n);
}

/* UNLINK or RENAME with CFS_REMOVE_DROPREF: the caller lets inode op->offset go first. */
int
store_opens_drop(struct store_tx *tx)
{
	const struct cfs_entry *e = tx->e;

	if (!(e->op.flags & CFS_REMOVE_DROPREF) || e->client_id == 0 || e->op.offset == 0)
		return 0;
	return opens_del(tx, e->client_id, e->op.offset);
}

/*
 * An inode lost its last name (a file's last link, or a removed
 * directory): freed, or kept as an orphan with a link count of 0 while a
 * session holds it open.  n is changed and written in the second case.
 */
int
store_inode_orphan(struct store_tx *tx, struct store_inode *n)
{
	uint32_t held;
	int rc = opens_count_get(tx, 0, n->a.ino, &held);

	if (rc != 0)
		return rc;
	if (held == 0)
		return store_inode_free(tx, n);
	n->a.nlink = 0;
	store_gone_inode(tx->s, n->a.ino);
	rc = opens_meta_add(tx, "orphans", 1);
	return rc != 0 ? rc : store_inode_put(tx, n);
}

/*
 * Drops the references of session, CFS_CLOSEREF_MAX at most, freeing the
 * orphans only it held; the head asks again while any are left.
 */
int
store_opens_end_session(struct store_tx *tx, uint64_t session)
{
	uint8_t k[16];
	MDB_val key, v;
	int rc;

	for (unsigned i = 0; i < CFS_CLOSEREF_MAX; i++) {
		store_key2(k, session, 1);
		rc = store_db_seek(tx->txn, tx->s->dbi[STORE_DB_OPENS], k, sizeof(k), 8, &key, &v);
		if (rc == ENOENT)
			return 0;
		if (rc == 0 && key.mv_size != 16)
			rc = -EIO;
		if (rc == 0)
			rc = opens_del(tx, session, store_val64((const uint8_t *)key.mv_data + 8));
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* OPENREF: the caller's session holds op->ino open; answers its attributes. */
int
store_op_openref(struct store_tx *tx)
{
	const struct cfs_entry *e = tx->e;
	struct store_inode n;
	int rc;

	if (e->client_id == 0 || e->op.flags != 0)
		return EINVAL;
	rc = store_inode_get(tx, e->op.ino, &n);
	if (rc == 0)
		rc = store_opens_add(tx, e->client_id, e->op.ino);
	if (rc != 0)
		return rc;
	tx->res->attr = n.a;
	tx->res->flags |= CFS_REPLY_ATTR;
	return 0;
}

/* CLOSEREF: the caller's session lets the inodes in data go. */
int
store_op_closeref(struct store_tx *tx)
{
	const struct cfs_entry *e = tx->e;
	const struct cfs_op *op = &e->op;
	int rc = 0;

	if (e->client_id == 0 || op->flags != 0 || op->datalen % 8 != 0 ||
	    op->datalen / 8 > CFS_CLOSEREF_MAX)
		return EINVAL;
	for (uint32_t off = 0; off < op->datalen && rc == 0; off += 8) {
		uint64_t ino = 0;

		for (int i = 7; i >= 0; i--)
			ino = ino << 8 | op->data[off + (uint32_t)i]; /* little-endian, as the wire */
		if (ino != 0)
			rc = opens_del(tx, e->client_id, ino);
	}
	return rc;
}

struct opens_stats_arg {
	uint64_t refs, orphans;
};

static int
opens_stats_read(struct store_tx *tx, void *arg)
{
	struct opens_stats_arg *a = arg;
	int rc = store_meta_get(tx->txn, tx->s, "openrefs", 0, &a->refs);

	return rc != 0 ? rc : store_meta_get(tx->txn, tx->s, "orphans", 0, &a->orphans);
}

int
store_open_stats(struct store *s, uint64_t *refs, uint64_t *orphans)
{
	struct opens_stats_arg a = {0, 0};
	int rc = store_with_read(s, opens_stats_read, &a);

	*refs = a.refs;
	*orphans = a.orphans;
	return rc < 0 ? EIO : 0;
}

/* Calls fn for each session that holds an inode open, in order. */
int
store_opens_sessions(struct store_tx *tx, void (*fn)(void *, uint64_t), void *arg)
{
	uint64_t session = 1; /* session 0 holds the inodes' counts */
	uint8_t k[16];
	MDB_val key, v;
	int rc;

	for (;;) {
		store_key2(k, session, 0);
		rc = store_db_seek(tx->txn, tx->s->dbi[STORE_DB_OPENS], k, sizeof(k), 0, &key, &v);
		if (rc == ENOENT)
			return 0;
		if (rc != 0)
			return rc;
		if (key.mv_size != 16)
			return -EIO;
		session = store_val64(key.mv_data);
		fn(arg, session);
		if (session == UINT64_MAX)
			return 0;
		session++;
	}
}
