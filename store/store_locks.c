/*
 * Locks: POSIX record locks (process and open-file-description owners
 * alike), BSD flocks, and the queue of requests that wait for them.  The
 * table is replicated state like any other: only entries change it, each
 * replica decides the same, and the digest covers it.
 *
 * A lock's owner is (session, owner): the session is the client id of the
 * mount that took it (DESIGN.md, "Client sessions"), the owner the lock
 * owner its kernel named, which is unique on that host only.
 *
 * Databases, keys and values big-endian:
 *   locks   ino, class u8, session, owner, start -> end, type u8, pid u32
 *   lkwait  ino, wsn -> session, owner, seq, class u8, start, end, type u8, pid u32
 *           (wsn: the sn of the entry that queued it, so the queue is in
 *           chain order; seq: the client's request, which LKGRANT names)
 *   lkown   session, owner, wsn -> ino (what an owner waits for: the deadlock walk)
 *   lksess  session, ino -> locks u32, waits u32 (ino 0: the session's totals;
 *           session 0, which no client has: the inode's totals)
 *
 * POSIX locks of one owner never overlap: setting a range splits, trims
 * and merges the owner's others as fcntl(2) says.  A flock is one record
 * covering the whole file, in a class of its own (flock and fcntl locks do
 * not see each other, as on Linux).  When locks are released or
 * downgraded, every queued request that no longer conflicts is granted in
 * queue order, and the grant is noted for the tail to tell the waiter
 * (store_grants).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "common/log.h"
#include "store/store.h"
#include "store/store_int.h"

#define LK_POSIX 0
#define LK_FLOCK 1
#define LK_KEY 33  /* ino, class, session, owner, start */
#define LK_VAL 13  /* end, type, pid */
#define LKW_VAL 46 /* session, owner, seq, class, start, end, type, pid */
/* Owners the deadlock walk visits, and records it reads, at most before it gives up. */
#define LK_WALK_MAX 256
#define LK_WALK_WORK 65536

struct lk {
	uint64_t ino, session, owner, start, end;
	uint8_t cls, type;
	uint32_t pid;
};

struct lkw {
	struct lk l;
	uint64_t wsn, seq;
};

/* A growable list of locks or owners, for changes made after a scan. */
struct lk_list {
	struct lk *v;
	size_t n, cap;
};

static void
lk_list_add(struct lk_list *ls, const struct lk *l)
{
	if (ls->n == ls->cap) {
		ls->cap = ls->cap ? 2 * ls->cap : 16;
		ls->v = xrealloc(ls->v, ls->cap * sizeof(*ls->v));
	}
	ls->v[ls->n++] = *l;
}

static int
lk_overlap(const struct lk *a, const struct lk *b)
{
	return a->start <= b->end && b->start <= a->end;
}

static int
lk_same_owner(const struct lk *a, const struct lk *b)
{
	return a->session == b->session && a->owner == b->owner;
}

/* Whether b, another owner's lock, is in the way of request a. */
static int
lk_conflicts(const struct lk *a, const struct lk *b)
{
	return !lk_same_owner(a, b) && a->cls == b->cls && lk_overlap(a, b) &&
	       (a->type == CFS_LK_WR || b->type == CFS_LK_WR);
}

static void
lk_key(uint8_t k[LK_KEY], const struct lk *l)
{
	uint8_t *p = store_put_be(k, l->ino, 8);

	*p++ = l->cls;
	p = store_put_be(p, l->session, 8);
	p = store_put_be(p, l->owner, 8);
	store_put_be(p, l->start, 8);
}

static int
lk_dec(const MDB_val *key, const MDB_val *v, struct lk *l)
{
	const uint8_t *p = key->mv_data, *q = v->mv_data;

	if (key->mv_size != LK_KEY || v->mv_size != LK_VAL) {
		log_warnx("lock record of %zu and %zu bytes", key->mv_size, v->mv_size);
		return -EIO;
	}
	l->ino = store_get_be(&p, 8);
	l->cls = *p++;
	l->session = store_get_be(&p, 8);
	l->owner = store_get_be(&p, 8);
	l->start = store_get_be(&p, 8);
	l->end = store_get_be(&q, 8);
	l->type = *q++;
	l->pid = (uint32_t)store_get_be(&q, 4);
	return 0;
}

static int
lkw_dec(const MDB_val *key, const MDB_val *v, struct lkw *w)
{
	const uint8_t *p = key->mv_data, *q = v->mv_data;

	if (key->mv_size != 16 || v->mv_size != LKW_VAL) {
		log_warnx("lock wait record of %zu and %zu bytes", key->mv_size, v->mv_size);
		return -EIO;
	}
	w->l.ino = store_get_be(&p, 8);
	w->wsn = store_get_be(&p, 8);
	w->l.session = store_get_be(&q, 8);
	w->l.owner = store_get_be(&q, 8);
	w->seq = store_get_be(&q, 8);
	w->l.cls = *q++;
	w->l.start = store_get_be(&q, 8);
	w->l.end = store_get_be(&q, 8);
	w->l.type = *q++;
	w->l.pid = (uint32_t)store_get_be(&q, 4);
	return 0;
}

/*
 * Calls fn for every record of dbi whose key starts with the plen bytes
 * of prefix, in key order, until fn returns non-zero (that is returned;
 * a positive value only stops).  fn must not change dbi.
 */
static int
lk_scan(struct store_tx *tx, MDB_dbi dbi, const uint8_t *prefix, size_t plen,
        int (*fn)(const MDB_val *key, const MDB_val *v, void *arg), void *arg)
{
	MDB_cursor *cur;
	MDB_val key = {plen, (void *)prefix}, v;
	int rc, op = MDB_SET_RANGE;

	rc = mdb_cursor_open(tx->txn, dbi, &cur);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_cursor_open", rc);
	for (;;) {
		rc = mdb_cursor_get(cur, &key, &v, op);
		op = MDB_NEXT;
		if (rc == MDB_NOTFOUND) {
			rc = 0;
			break;
		}
		if (rc != 0) {
			rc = store_mdb_fail(__func__, "mdb_cursor_get", rc);
			break;
		}
		if (key.mv_size < plen || memcmp(key.mv_data, prefix, plen) != 0) {
			rc = 0;
			break;
		}
		if ((rc = fn(&key, &v, arg)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc < 0 ? rc : 0;
}

/* Totals of locks and waits: a session's (ino 0), or an inode's (session 0). */
static int
lk_totals(struct store_tx *tx, uint64_t session, uint64_t ino, uint32_t *nl, uint32_t *nw)
{
	uint8_t k[16];
	const uint8_t *p;
	MDB_val v;
	int rc;

	*nl = *nw = 0;
	store_key2(k, session, ino);
	rc = store_db_get(tx->txn, tx->s->dbi[STORE_DB_LKSESS], k, sizeof(k), &v);
	if (rc == ENOENT)
		return 0;
	if (rc != 0)
		return rc;
	if (v.mv_size != 8)
		return -EIO;
	p = v.mv_data;
	*nl = (uint32_t)store_get_be(&p, 4);
	*nw = (uint32_t)store_get_be(&p, 4);
	return 0;
}

/* Adds dl locks and dw waits to what session holds on ino, its totals and ino's. */
static int
lk_count(struct store_tx *tx, uint64_t session, uint64_t ino, int dl, int dw)
{
	MDB_dbi dbi = tx->s->dbi[STORE_DB_LKSESS];
	const uint64_t keys[3][2] = {{session, ino}, {session, 0}, {0, ino}};
	uint8_t k[16], rec[8];
	uint32_t l, w;
	int64_t nl, nw;
	int rc;

	for (int i = 0; i < 3; i++) {
		if ((rc = lk_totals(tx, keys[i][0], keys[i][1], &l, &w)) != 0)
			return rc;
		nl = (int64_t)l + dl;
		nw = (int64_t)w + dw;
		if (nl < 0 || nw < 0) {
			log_warnx("lock counts of session %016llx below zero",
			          (unsigned long long)session);
			return -EIO;
		}
		store_key2(k, keys[i][0], keys[i][1]);
		if (nl == 0 && nw == 0) {
			rc = store_db_del(tx->txn, dbi, k, sizeof(k));
			if (rc < 0)
				return rc;
			continue;
		}
		store_put_be(rec, (uint64_t)nl, 4);
		store_put_be(rec + 4, (uint64_t)nw, 4);
		if ((rc = store_db_put(tx->txn, dbi, k, sizeof(k), rec, sizeof(rec))) != 0)
			return rc;
	}
	return 0;
}

static int
lk_put(struct store_tx *tx, const struct lk *l)
{
	uint8_t k[LK_KEY], val[LK_VAL], *p;
	MDB_val v;
	int rc;

	lk_key(k, l);
	rc = store_db_get(tx->txn, tx->s->dbi[STORE_DB_LOCKS], k, sizeof(k), &v);
	if (rc < 0)
		return rc;
	p = store_put_be(val, l->end, 8);
	*p++ = l->type;
	store_put_be(p, l->pid, 4);
	if (rc == ENOENT && (rc = lk_count(tx, l->session, l->ino, 1, 0)) != 0)
		return rc;
	return store_db_put(tx->txn, tx->s->dbi[STORE_DB_LOCKS], k, sizeof(k), val, sizeof(val));
}

static int
lk_del(struct store_tx *tx, const struct lk *l)
{
	uint8_t k[LK_KEY];
	int rc;

	lk_key(k, l);
	rc = store_db_del(tx->txn, tx->s->dbi[STORE_DB_LOCKS], k, sizeof(k));
	if (rc != 0)
		return rc > 0 ? -EIO : rc;
	return lk_count(tx, l->session, l->ino, -1, 0);
}

static int
lk_collect_cb(const MDB_val *key, const MDB_val *v, void *arg)
{
	struct lk l;
	int rc;

	if ((rc = lk_dec(key, v, &l)) != 0)
		return rc;
	lk_list_add(arg, &l);
	return 0;
}

/* The locks of ino in class cls, of session (when not 0) and owner (with session). */
static int
lk_collect(struct store_tx *tx, uint64_t ino, uint8_t cls, const uint64_t *session,
           const uint64_t *owner, struct lk_list *out)
{
	uint8_t k[LK_KEY];
	size_t plen = 9;

	store_put_be(k, ino, 8);
	k[8] = cls;
	if (session != NULL) {
		store_put_be(k + 9, *session, 8);
		plen = 17;
		if (owner != NULL) {
			store_put_be(k + 17, *owner, 8);
			plen = 25;
		}
	}
	return lk_scan(tx, tx->s->dbi[STORE_DB_LOCKS], k, plen, lk_collect_cb, out);
}

struct lk_find {
	const struct lk *req;
	struct lk found;
	int any;
	struct lk_list *all; /* when set: every lock in the way, not the first only */
	size_t *work;	     /* when set: counts the records read */
};

static int
lk_find_cb(const MDB_val *key, const MDB_val *v, void *arg)
{
	struct lk_find *f = arg;
	struct lk l;
	int rc;

	if ((rc = lk_dec(key, v, &l)) != 0)
		return rc;
	if (f->work != NULL)
		(*f->work)++;
	if (!lk_conflicts(f->req, &l))
		return 0;
	f->any = 1;
	f->found = l;
	if (f->all == NULL)
		return 1;
	lk_list_add(f->all, &l);
	return 0;
}

/*
 * Finds a lock in req's way: 1 (in *found when not NULL; every one in *all
 * when not NULL), 0 when none, or -errno.  *work counts the records read.
 */
static int
lk_in_way(struct store_tx *tx, const struct lk *req, struct lk *found, struct lk_list *all,
          size_t *work)
{
	struct lk_find f = {.req = req, .all = all, .work = work};
	uint8_t k[9];
	int rc;

	if (req->type == CFS_LK_UN)
		return 0;
	store_put_be(k, req->ino, 8);
	k[8] = req->cls;
	rc = lk_scan(tx, tx->s->dbi[STORE_DB_LOCKS], k, sizeof(k), lk_find_cb, &f);
	if (rc != 0)
		return rc;
	if (f.any && found != NULL)
		*found = f.found;
	return f.any;
}

/*
 * Sets req (CFS_LK_UN: releases it) for its owner, who has no conflict to
 * fear: the owner's locks in the range are cut away, and those of the same
 * type that overlap or touch it are merged into it (fcntl(2)).  *freed
 * (when not NULL) is set when a write lock was cut or a lock released: a
 * release or a downgrade that may let a waiter in (an upgrade does not).
 */
static int
lk_set_own(struct store_tx *tx, const struct lk *req, int *freed)
{
	struct lk_list own = {0};
	struct lk n = *req, piece;
	uint64_t s = req->start, e = req->end;
	int rc = 0;

	rc = lk_collect(tx, req->ino, req->cls, &req->session, &req->owner, &own);
	for (size_t i = 0; rc == 0 && i < own.n; i++) {
		const struct lk *r = &own.v[i];
		int touches = (r->end != UINT64_MAX && r->end + 1 == s) || (e + 1 == r->start);

		if (!lk_overlap(r, &n) && !touches)
			continue;
		if (req->type != CFS_LK_UN && r->type == req->type) {
			if (r->start < s)
				s = r->start;
			if (r->end > e)
				e = r->end;
			rc = lk_del(tx, r);
			continue;
		}
		if (!lk_overlap(r, &n))
			continue; /* touching, of another type: stays */
		/* Others may want what a write lock left, or a read lock released. */
		if (freed != NULL && (r->type == CFS_LK_WR || req->type == CFS_LK_UN))
			*freed = 1;
		if ((rc = lk_del(tx, r)) != 0)
			break;
		if (r->start < req->start) {
			piece = *r;
			piece.end = req->start - 1;
			rc = lk_put(tx, &piece);
		}
		if (rc == 0 && r->end > req->end) {
			piece = *r;
			piece.start = req->end + 1;
			rc = lk_put(tx, &piece);
		}
	}
	free(own.v);
	if (rc != 0 || req->type == CFS_LK_UN)
		return rc;
	n.start = s;
	n.end = e;
	return lk_put(tx, &n);
}

static void
lkw_key(uint8_t k[16], const struct lkw *w)
{
	store_key2(k, w->l.ino, w->wsn);
}

static void
lkown_key(uint8_t k[24], const struct lkw *w)
{
	store_key2(k, w->l.session, w->l.owner);
	store_put_be(k + 16, w->wsn, 8);
}

static int
lkw_put(struct store_tx *tx, const struct lkw *w)
{
	uint8_t k[16], ok[24], ino[8], val[LKW_VAL], *p = val;
	int rc;

	p = store_put_be(p, w->l.session, 8);
	p = store_put_be(p, w->l.owner, 8);
	p = store_put_be(p, w->seq, 8);
	*p++ = w->l.cls;
	p = store_put_be(p, w->l.start, 8);
	p = store_put_be(p, w->l.end, 8);
	*p++ = w->l.type;
	store_put_be(p, w->l.pid, 4);
	lkw_key(k, w);
	lkown_key(ok, w);
	store_put_be(ino, w->l.ino, 8);
	if ((rc = store_db_put(tx->txn, tx->s->dbi[STORE_DB_LKWAIT], k, sizeof(k), val,
	                       sizeof(val))) != 0 ||
	    (rc = store_db_put(tx->txn, tx->s->dbi[STORE_DB_LKOWN], ok, sizeof(ok), ino,
	                       sizeof(ino))) != 0)
		return rc;
	return lk_count(tx, w->l.session, w->l.ino, 0, 1);
}

static int
lkw_del(struct store_tx *tx, const struct lkw *w)
{
	uint8_t k[16], ok[24];
	int rc;

	lkw_key(k, w);
	lkown_key(ok, w);
	if ((rc = store_db_del(tx->txn, tx->s->dbi[STORE_DB_LKWAIT], k, sizeof(k))) != 0 ||
	    (rc = store_db_del(tx->txn, tx->s->dbi[STORE_DB_LKOWN], ok, sizeof(ok))) != 0)
		return rc > 0 ? -EIO : rc;
	return lk_count(tx, w->l.session, w->l.ino, 0, -1);
}

/* Notes that the wait of (session, seq) on ino ended with status, for the tail. */
static void
lk_note_grant(struct store *s, const struct lkw *w, int32_t status)
{
	if (s->ngrants == s->capgrants) {
		s->capgrants = s->capgrants ? 2 * s->capgrants : 16;
		s->grants = xrealloc(s->grants, s->capgrants * sizeof(*s->grants));
	}
	s->grants[s->ngrants].session = w->l.session;
	s->grants[s->ngrants].seq = w->seq;
	s->grants[s->ngrants].ino = w->l.ino;
	s->grants[s->ngrants].status = status;
	s->ngrants++;
}

/* The next waiter of ino from wsn on: 0, ENOENT, or -errno. */
static int
lkw_next(struct store_tx *tx, uint64_t ino, uint64_t wsn, struct lkw *w)
{
	uint8_t k[16];
	MDB_val key, v;
	int rc;

	store_key2(k, ino, wsn);
	rc = store_db_seek(tx->txn, tx->s->dbi[STORE_DB_LKWAIT], k, sizeof(k), 8, &key, &v);
	if (rc != 0)
		return rc;
	return lkw_dec(&key, &v, w);
}

/*
 * Grants, in queue order, every wait on ino that nothing is in the way of
 * now; again while a pass granted one that let go of something (a waiter
 * that downgrades its own lock may let an earlier one in).
 */
static int
lk_grant_waiters(struct store_tx *tx, uint64_t ino)
{
	struct lkw w;
	uint64_t wsn;
	int rc, again = 1;

	while (again) {
		again = 0;
		for (wsn = 0;;) {
			rc = lkw_next(tx, ino, wsn, &w);
			if (rc == ENOENT)
				break;
			if (rc != 0)
				return rc;
			wsn = w.wsn + 1;
			rc = lk_in_way(tx, &w.l, NULL, NULL, NULL);
			if (rc < 0)
				return rc;
			if (rc > 0)
				continue;
			if ((rc = lkw_del(tx, &w)) != 0 || (rc = lk_set_own(tx, &w.l, &again)) != 0)
				return rc;
			lk_note_grant(tx->s, &w, 0);
			if (w.wsn == UINT64_MAX)
				break;
		}
	}
	return 0;
}

/* An owner of the deadlock walk: (session, owner) in a lock record. */
static int
lk_seen(const struct lk_list *seen, const struct lk *l)
{
	for (size_t i = 0; i < seen->n; i++)
		if (lk_same_owner(&seen->v[i], l))
			return 1;
	return 0;
}

struct lk_waits_arg {
	struct store_tx *tx;
	struct lk_list *next; /* owners in the way of what the owner waits for */
	struct lk_list *seen;
	size_t work; /* records read so far */
};

/* lkown record of an owner: what it waits for; its blockers go to the next round. */
static int
lk_waits_cb(const MDB_val *key, const MDB_val *v, void *arg)
{
	struct lk_waits_arg *a = arg;
	struct lk_list way = {0};
	struct lkw w;
	int rc;

	if (key->mv_size != 24 || v->mv_size != 8)
		return -EIO;
	rc = lkw_next(a->tx, store_val64(v->mv_data), store_val64((const uint8_t *)key->mv_data + 16),
	              &w);
	if (rc == ENOENT)
		return -EIO; /* the index names a wait that is not there */
	if (rc != 0)
		return rc;
	if (w.l.cls != LK_POSIX)
		return 0; /* a flock wait is no part of a POSIX cycle */
	if (a->work > LK_WALK_WORK)
		return 1; /* enough: the walk gives up */
	rc = lk_in_way(a->tx, &w.l, NULL, &way, &a->work);
	for (size_t i = 0; rc >= 0 && i < way.n; i++)
		if (!lk_seen(a->seen, &way.v[i]) && !lk_seen(a->next, &way.v[i]))
			lk_list_add(a->next, &way.v[i]);
	free(way.v);
	return rc < 0 ? rc : 0;
}

/*
 * Whether queuing req would close a cycle: an owner in its way waits
 * (transitively) for a lock of req's owner.  1, 0, or -errno.  The walk
 * gives up (0) past LK_WALK_MAX owners, as Linux does past its own bound.
 */
static int
lk_deadlock(struct store_tx *tx, const struct lk *req)
{
	struct lk_list cur = {0}, next = {0}, seen = {0}, tmp;
	struct lk_waits_arg a = {tx, &next, &seen, 0};
	uint8_t k[16];
	int rc, found = 0;

	rc = lk_in_way(tx, req, NULL, &cur, &a.work);
	while (rc >= 0 && cur.n > 0 && !found && seen.n < LK_WALK_MAX && a.work <= LK_WALK_WORK) {
		next.n = 0;
		for (size_t i = 0; i < cur.n && rc >= 0; i++) {
			if (lk_same_owner(&cur.v[i], req)) {
				found = 1;
				break;
			}
			if (lk_seen(&seen, &cur.v[i]))
				continue;
			lk_list_add(&seen, &cur.v[i]);
			store_key2(k, cur.v[i].session, cur.v[i].owner);
			rc = lk_scan(tx, tx->s->dbi[STORE_DB_LKOWN], k, sizeof(k), lk_waits_cb, &a);
		}
		tmp = cur;
		cur = next;
		next = tmp;
	}
	free(cur.v);
	free(next.v);
	free(seen.v);
	return rc < 0 ? rc : found;
}

/* Builds the request of a SETLK/GETLK op: 0 or EINVAL. */
static int
lk_from_op(const struct cfs_op *op, uint64_t session, struct lk *l)
{
	memset(l, 0, sizeof(*l));
	l->ino = op->ino;
	l->session = session;
	l->owner = op->ino2;
	l->type = (uint8_t)op->mode;
	l->pid = op->uid;
	if (op->mode < CFS_LK_RD || op->mode > CFS_LK_UN)
		return EINVAL;
	if (op->flags & CFS_LK_FLOCK) {
		l->cls = LK_FLOCK;
		l->start = 0;
		l->end = CFS_LK_EOF;
		return 0;
	}
	l->cls = LK_POSIX;
	l->start = op->offset;
	l->end = op->length;
	return l->start <= l->end && l->end <= CFS_LK_EOF ? 0 : EINVAL;
}

/* SETLK: take, change or release a lock, or queue for it; see wire.h. */
int
store_op_setlk(struct store_tx *tx)
{
	const struct cfs_entry *e = tx->e;
	const struct cfs_op *op = &e->op;
	struct store_inode n;
	struct lkw w;
	uint32_t nl, nw, il, iw;
	int rc, freed = 0;

	if (e->client_id == 0 || (op->flags & ~(CFS_LK_FLOCK | CFS_LK_WAIT)) != 0)
		return EINVAL;
	if ((rc = lk_from_op(op, e->client_id, &w.l)) != 0)
		return rc;
	if ((rc = store_inode_get(tx, op->ino, &n)) != 0)
		return rc;
	if (w.l.type == CFS_LK_UN) {
		/* Unlocking the middle of a range splits it: the limits hold here too. */
		if ((rc = lk_set_own(tx, &w.l, &freed)) != 0 ||
		    (rc = lk_totals(tx, e->client_id, 0, &nl, &nw)) != 0 ||
		    (rc = lk_totals(tx, 0, op->ino, &il, &iw)) != 0)
			return rc;
		if (nl > STORE_LOCKS_MAX || il > STORE_LOCKS_INODE_MAX)
			return ENOLCK;
		return freed ? lk_grant_waiters(tx, op->ino) : 0;
	}
	rc = lk_in_way(tx, &w.l, NULL, NULL, NULL);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		if ((rc = lk_set_own(tx, &w.l, &freed)) != 0 ||
		    (rc = lk_totals(tx, e->client_id, 0, &nl, &nw)) != 0 ||
		    (rc = lk_totals(tx, 0, op->ino, &il, &iw)) != 0)
			return rc;
		if (nl > STORE_LOCKS_MAX || il > STORE_LOCKS_INODE_MAX)
			return ENOLCK;
		return freed ? lk_grant_waiters(tx, op->ino) : 0; /* a downgrade lets others in */
	}
	if (!(op->flags & CFS_LK_WAIT))
		return EAGAIN;
	if ((rc = lk_totals(tx, e->client_id, 0, &nl, &nw)) != 0 ||
	    (rc = lk_totals(tx, 0, op->ino, &il, &iw)) != 0)
		return rc;
	if (nw >= STORE_LOCK_WAITS_MAX || iw >= STORE_LOCK_WAITS_INODE_MAX)
		return ENOLCK;
	if (w.l.cls == LK_POSIX && (rc = lk_deadlock(tx, &w.l)) != 0)
		return rc < 0 ? rc : EDEADLK;
	if (w.l.cls == LK_FLOCK) {
		/* A flock that waits to change gives up the one it has first (flock(2)). */
		struct lk un = w.l;

		un.type = CFS_LK_UN;
		freed = 0;
		if ((rc = lk_set_own(tx, &un, &freed)) != 0 ||
		    (freed && (rc = lk_grant_waiters(tx, op->ino)) != 0))
			return rc;
	}
	w.wsn = e->sn;
	w.seq = e->seq;
	if ((rc = lkw_put(tx, &w)) != 0)
		return rc;
	tx->res->value = CFS_LK_QUEUED;
	return 0;
}

/* Deletes the locks of ino in class cls: all, of session, or of session's owner. */
static int
lk_del_matching(struct store_tx *tx, uint64_t ino, uint8_t cls, const uint64_t *session,
                const uint64_t *owner)
{
	struct lk_list ls = {0};
	int rc = lk_collect(tx, ino, cls, session, owner, &ls);

	for (size_t i = 0; rc == 0 && i < ls.n; i++)
		rc = lk_del(tx, &ls.v[i]);
	free(ls.v);
	return rc;
}

/* Ends the waits on ino (of session, when not NULL) with status, for the tail to tell. */
static int
lk_end_waits(struct store_tx *tx, uint64_t ino, const uint64_t *session, int32_t status)
{
	struct lkw w;
	uint64_t wsn = 0;
	int rc;

	for (;;) {
		rc = lkw_next(tx, ino, wsn, &w);
		if (rc != 0)
			return rc == ENOENT ? 0 : rc;
		wsn = w.wsn + 1;
		if (session != NULL && w.l.session != *session)
			continue;
		if ((rc = lkw_del(tx, &w)) != 0)
			return rc;
		lk_note_grant(tx->s, &w, status);
	}
}

/* Finds the wait of session's request seq on ino: 0, ENOENT, or -errno. */
static int
lkw_find(struct store_tx *tx, uint64_t ino, uint64_t session, uint64_t seq, struct lkw *w)
{
	uint64_t wsn = 0;
	int rc;

	for (;;) {
		if ((rc = lkw_next(tx, ino, wsn, w)) != 0)
			return rc;
		if (w->l.session == session && w->seq == seq)
			return 0;
		wsn = w->wsn + 1;
	}
}

/* Ends every lock and wait of session: its waits end with status. */
static int
lk_end_session(struct store_tx *tx, uint64_t session, int32_t status)
{
	MDB_dbi sdbi = tx->s->dbi[STORE_DB_LKSESS];
	uint8_t k[16];
	uint64_t ino = 1;
	MDB_val key, v;
	int rc;

	for (;;) {
		store_key2(k, session, ino);
		rc = store_db_seek(tx->txn, sdbi, k, sizeof(k), 8, &key, &v);
		if (rc == ENOENT)
			return 0;
		if (rc == 0 && key.mv_size != 16)
			rc = -EIO;
		if (rc != 0)
			return rc;
		ino = store_val64((const uint8_t *)key.mv_data + 8);
		for (uint8_t cls = LK_POSIX; cls <= LK_FLOCK && rc == 0; cls++)
			rc = lk_del_matching(tx, ino, cls, &session, NULL);
		if (rc == 0)
			rc = lk_end_waits(tx, ino, &session, status);
		if (rc == 0)
			rc = lk_grant_waiters(tx, ino);
		if (rc != 0 || ino == UINT64_MAX)
			return rc;
		ino++;
	}
}

/* UNLOCK: an owner's locks on ino (a close), or everything of the session. */
int
store_op_unlock(struct store_tx *tx)
{
	const struct cfs_entry *e = tx->e;
	const struct cfs_op *op = &e->op;
	int rc = 0;

	if (e->client_id == 0 ||
	    (op->flags & ~(CFS_LK_POSIX | CFS_LK_FLOCK | CFS_LK_SESSION)) != 0)
		return EINVAL;
	if (op->flags & CFS_LK_SESSION)
		return lk_end_session(tx, e->client_id, ENOLCK);
	for (uint8_t cls = LK_POSIX; cls <= LK_FLOCK && rc == 0; cls++)
		if (op->flags & (cls == LK_POSIX ? CFS_LK_POSIX : CFS_LK_FLOCK))
			rc = lk_del_matching(tx, op->ino, cls, &e->client_id, &op->ino2);
	if (rc != 0)
		return rc;
	return lk_grant_waiters(tx, op->ino);
}

/* LKCANCEL: the caller's queued SETLK (seq in offset) on ino leaves the queue. */
int
store_op_lkcancel(struct store_tx *tx)
{
	const struct cfs_entry *e = tx->e;
	struct lkw w;
	int rc;

	if (e->client_id == 0)
		return EINVAL;
	rc = lkw_find(tx, e->op.ino, e->client_id, e->op.offset, &w);
	return rc != 0 ? rc : lkw_del(tx, &w); /* ENOENT: granted or ended already */
}

/* LKEXPIRE: the head's, for a session whose lease ran out. */
int
store_op_lkexpire(struct store_tx *tx)
{
	int rc;

	if (tx->e->client_id != 0)
		return EPERM;
	log_info("session %016llx: lease ran out; its locks and open references are released",
	         (unsigned long long)tx->e->op.ino2);
	rc = lk_end_session(tx, tx->e->op.ino2, ENOLCK);
	return rc != 0 ? rc : store_opens_end_session(tx, tx->e->op.ino2);
}

/* An inode is freed: its locks go, and its waiters are told it is gone. */
int
store_locks_drop_ino(struct store_tx *tx, uint64_t ino)
{
	int rc = 0;

	for (uint8_t cls = LK_POSIX; cls <= LK_FLOCK && rc == 0; cls++)
		rc = lk_del_matching(tx, ino, cls, NULL, NULL);
	return rc != 0 ? rc : lk_end_waits(tx, ino, NULL, ENOENT);
}

/* GETLK: the first lock of another owner in the way of the one described. */
int
store_rd_getlk(struct store_tx *tx, const struct cfs_op *op, struct cfs_wbuf *out)
{
	struct cfs_lock_desc d;
	struct store_inode n;
	struct lk req, found;
	int rc;

	if ((op->flags & ~CFS_LK_FLOCK) != 0 || op->mode == CFS_LK_UN)
		return EINVAL;
	if ((rc = lk_from_op(op, op->rdev, &req)) != 0)
		return rc;
	if ((rc = store_inode_get(tx, op->ino, &n)) != 0)
		return rc;
	rc = lk_in_way(tx, &req, &found, NULL, NULL);
	if (rc <= 0) {
		tx->res->value = CFS_LK_UN;
		return rc;
	}
	tx->res->value = found.type;
	d.start = found.start;
	d.end = found.end;
	d.pid = found.pid;
	cfs_lock_desc_put(out, &d);
	return 0;
}

/* LKSTATE: whether the SETLK seq (offset) of session rdev still waits on ino. */
int
store_rd_lkstate(struct store_tx *tx, const struct cfs_op *op)
{
	struct lkw w;
	int rc = lkw_find(tx, op->ino, op->rdev, op->offset, &w);

	tx->res->value = rc == 0;
	return rc == ENOENT ? 0 : rc;
}

const struct store_grant *
store_grants(const struct store *s, size_t *n)
{
	*n = s->ngrants;
	return s->grants;
}

struct lk_stats_arg {
	uint64_t locks, waits;
};

static int
lk_stats_read(struct store_tx *tx, void *arg)
{
	struct lk_stats_arg *a = arg;
	MDB_stat st;
	int rc;

	if ((rc = mdb_stat(tx->txn, tx->s->dbi[STORE_DB_LOCKS], &st)) != 0)
		return store_mdb_fail(__func__, "mdb_stat", rc);
	a->locks = st.ms_entries;
	if ((rc = mdb_stat(tx->txn, tx->s->dbi[STORE_DB_LKWAIT], &st)) != 0)
		return store_mdb_fail(__func__, "mdb_stat", rc);
	a->waits = st.ms_entries;
	return 0;
}

int
store_lock_stats(struct store *s, uint64_t *locks, uint64_t *waits)
{
	struct lk_stats_arg a = {0, 0};
	int rc = store_with_read(s, lk_stats_read, &a);

	*locks = a.locks;
	*waits = a.waits;
	return rc < 0 ? EIO : 0;
}

struct lk_sessions_arg {
	void (*fn)(void *, uint64_t);
	void *arg;
	struct store_tx *tx;
	int rc;
};

/* A session holding open references: told unless it holds locks too (told already). */
static void
lk_sessions_opens(void *arg, uint64_t session)
{
	struct lk_sessions_arg *a = arg;
	uint32_t nl, nw;

	if (a->rc != 0)
		return;
	a->rc = lk_totals(a->tx, session, 0, &nl, &nw);
	if (a->rc == 0 && nl == 0 && nw == 0)
		a->fn(a->arg, session);
}

static int
lk_sessions_read(struct store_tx *tx, void *arg)
{
	struct lk_sessions_arg *a = arg;
	uint64_t session = 1; /* session 0 holds the inodes' totals */
	uint8_t k[16];
	MDB_val key, v;
	int rc;

	for (;;) {
		store_key2(k, session, 0);
		rc = store_db_seek(tx->txn, tx->s->dbi[STORE_DB_LKSESS], k, sizeof(k), 0, &key, &v);
		if (rc == ENOENT)
			break;
		if (rc != 0)
			return rc;
		if (key.mv_size != 16)
			return -EIO;
		session = store_val64(key.mv_data);
		a->fn(a->arg, session);
		if (session == UINT64_MAX)
			break;
		session++;
	}
	a->tx = tx;
	rc = store_opens_sessions(tx, lk_sessions_opens, a);
	return rc != 0 ? rc : a->rc;
}

int
store_lock_sessions(struct store *s, void (*fn)(void *arg, uint64_t session), void *arg)
{
	struct lk_sessions_arg a = {fn, arg, NULL, 0};

	return store_with_read(s, lk_sessions_read, &a) < 0 ? EIO : 0;
}
