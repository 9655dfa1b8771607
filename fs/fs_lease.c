/*
 * The FUSE client's leases (DESIGN.md, "Coherent client caching"): the
 * kernel caches attributes for as long as the tail's lease in the answer
 * lasts, and a recall from the tail drops them before it is acknowledged.
 *
 * The kernel is told to drop a cache with fuse_lowlevel_notify_inval_inode,
 * which must not run where the kernel may wait for this process (libfuse
 * documents the deadlock): dropping cached pages locks them, and a page
 * being read stays locked until this loop answers the read.  With the page
 * cache (-o page_cache) a worker thread makes the calls, and holds nothing
 * but its own queue's lock, never across a call; it hands what it finished
 * back through a pipe, and the loop then acknowledges.  Without it the
 * kernel holds only attributes, whose drop locks nothing: the loop does it
 * itself (fs_recall).  Either way a recall is acknowledged only after the
 * kernel has dropped what it names.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/wire.h"
#include "fs/fs.h"
#include "fs/fs_int.h"

/* One recall to carry out. */
struct fs_recall_job {
	uint64_t id, gen;
	uint16_t n;
	uint64_t ino[CFS_RECALL_MAX];
	struct fs_recall_job *next;
};

/* The worker and its two queues (to do, done), under one lock. */
struct fs_recaller {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct fs_recall_job *todo, **todo_tail;
	struct fs_recall_job *done, **done_tail;
	int stop;
	int pipe[2]; /* the worker writes a byte per finished job; the loop reads */
	struct event *ev;
	struct fuse_session *se;
};

/* Seconds the kernel may keep what the answer being delivered shows. */
double
fs_attr_ttl(struct fs *fs)
{
	uint64_t until = cfs_client_lease_until(fs->cl), now = cfs_now_ms();

	/* Never past the lease: the tail recalls nothing after it ends. */
	if (until > now)
		return (double)(until - now) / 1000.0;
	return fs->o.attr_timeout;
}

/* Names cached per directory, and in all (fs_names_note). */
#define FS_NAMES_BUCKETS 128
#define FS_NAMES_PER_DIR 4096
#define FS_NAMES_MAX 65536

/* One name of a directory: the inode it names, or 0 for none. */
struct fs_name {
	uint64_t ino;
	struct fs_name *next;
	uint16_t len;
	char name[];
};

struct fs_names {
	uint32_t n;
	/*
	 * Every name of the directory is here, so a name that is not has no
	 * inode: kept from the mkdir of ours that made it empty, through our
	 * own changes of it, while its lease holds.
	 */
	int complete;
	/* A listing read in order from cookie 0 (fs_names_page): where it goes on. */
	int listing;
	uint64_t listing_next;
	struct fs_name *b[FS_NAMES_BUCKETS];
};

/* Notes the lease on inode a that came with the answer being delivered. */
void
fs_lease_note(struct fs *fs, const struct cfs_attr *a)
{
	struct fs_inode *n = fs_inode(fs, a->ino, 0);
	uint64_t until = cfs_client_lease_until(fs->cl);

	if (n == NULL)
		return;
	/* An update of ours on it is on its way: what this shows may be older. */
	if (until > cfs_now_ms() && n->upd_inflight == 0) {
		n->lease_until = until;
		n->lease_gen = cfs_client_lease_gen(fs->cl);
		n->lease_version = a->version;
		n->lease_attr = *a;
		n->lease_ns = fs->ns_gen;
	} else {
		n->lease_until = 0;
	}
	/* The tail's record of it holds on all the same: what is kept under it does too. */
	if (until > cfs_now_ms())
		fs_dc_note(fs, n, a, until);
}

/* Drops every name cached in directory n. */
void
fs_names_free(struct fs *fs, struct fs_inode *n)
{
	struct fs_names *ns = n->names;

	n->names_until = 0;
	if (ns == NULL)
		return;
	for (unsigned i = 0; i < FS_NAMES_BUCKETS; i++)
		while (ns->b[i] != NULL) {
			struct fs_name *e = ns->b[i];

			ns->b[i] = e->next;
			free(e);
		}
	fs->nnames -= ns->n;
	free(ns);
	n->names = NULL;
}

static unsigned
fs_names_hash(const char *name, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)name[i]) * 16777619u;
	return h % FS_NAMES_BUCKETS;
}

static struct fs_name *
fs_names_find(const struct fs_names *ns, const char *name, size_t len)
{
	struct fs_name *e;

	for (e = ns->b[fs_names_hash(name, len)]; e != NULL; e = e->next)
		if (e->len == len && memcmp(e->name, name, len) == 0)
			return e;
	return NULL;
}

/* Whether d's kept names are still under the lease they came with. */
static int
fs_names_held(struct fs *fs, const struct fs_inode *d)
{
	return d->names != NULL && fs_lease_live(fs, d->names_until, d->names_gen);
}

/* Drops d's kept names and starts an empty table (not known complete). */
static void
fs_names_new(struct fs *fs, struct fs_inode *d)
{
	fs_names_free(fs, d);
	d->names = xcalloc(1, sizeof(*d->names));
}

/*
 * Keeps name -> ino (0: no such name) in d's names, under a lease of the
 * directory until `until` (generation gen).  What was kept under a lease
 * that ran out before this one began goes first: the directory may have
 * changed unseen in between.
 */
static void
fs_names_put(struct fs *fs, struct fs_inode *d, const char *name, uint64_t ino, uint64_t until,
	     uint64_t gen)
{
	size_t len = strlen(name);
	struct fs_name *e;

	if (!fs_names_held(fs, d) || d->names_gen != gen)
		fs_names_new(fs, d);
	d->names_until = until;
	d->names_gen = gen;
	if ((e = fs_names_find(d->names, name, len)) != NULL) {
		e->ino = ino;
		return;
	}
	if (d->names->n >= FS_NAMES_PER_DIR || fs->nnames >= FS_NAMES_MAX) {
		/* A name left out must not read as none, now or at a listing's end. */
		d->names->complete = 0;
		d->names->listing = 0;
		return;
	}
	e = xmalloc(sizeof(*e) + len);
	e->ino = ino;
	e->len = (uint16_t)len;
	memcpy(e->name, name, len);
	e->next = d->names->b[fs_names_hash(name, len)];
	d->names->b[fs_names_hash(name, len)] = e;
	d->names->n++;
	fs->nnames++;
}

/*
 * A page of directory dir read from cookie off came with a lease on the
 * directory (readdirplus): returns the directory whose names it is to go
 * into (fs_names_page_add, then fs_names_page_end), or NULL.  Pages read
 * in order from cookie 0 to the end, with the lease held throughout (a
 * change recalls it, which drops the names), make the names complete.
 */
struct fs_inode *
fs_names_page(struct fs *fs, uint64_t dir, uint64_t off)
{
	uint64_t until = cfs_client_lease_until(fs->cl), gen = cfs_client_lease_gen(fs->cl);
	uint64_t now = cfs_now_ms();
	struct fs_inode *d = fs_inode(fs, dir, off == 0);

	if (d == NULL)
		return NULL;
	/*
	 * Not for a directory the kernel forgot (a listing of ours that came
	 * after an rmdir, say): no lookup comes there, and no forget would
	 * ever drop the names.
	 */
	if (until <= now || d->upd_inflight > 0 || (d->nlookup == 0 && dir != FUSE_ROOT_ID)) {
		fs_inode_maybe_free(d);
		return NULL;
	}
	if (!fs_names_held(fs, d)) {
		if (off != 0)
			return NULL;
		fs_names_free(fs, d);
		if (fs->nnames >= FS_NAMES_MAX)
			return NULL;
		fs_names_new(fs, d);
	}
	d->names_until = until;
	d->names_gen = gen;
	if (off == 0) {
		d->names->listing = 1;
		d->names->listing_next = 0;
	} else if (!d->names->listing || d->names->listing_next != off) {
		d->names->listing = 0; /* out of order, or another reader's: no end to count on */
	}
	return d;
}

/* One name of the page (not "." or ".."). */
void
fs_names_page_add(struct fs *fs, struct fs_inode *d, const char *name, uint64_t ino)
{
	if (d->names != NULL)
		fs_names_put(fs, d, name, ino, d->names_until, d->names_gen);
}

/* The page ended after cookie `last`; eof: it was empty, the listing is over. */
void
fs_names_page_end(struct fs_inode *d, uint64_t last, int eof)
{
	if (d->names == NULL || !d->names->listing)
		return;
	if (eof) {
		d->names->complete = 1;
		d->names->listing = 0;
	} else {
		d->names->listing_next = last;
	}
}

/*
 * A lookup's answer came with a lease on its directory (and on the inode it
 * found): the name is kept until the tail recalls the directory, whose
 * inode every change of its names writes.
 */
void
fs_names_note(struct fs *fs, uint64_t dir, const char *name, const struct cfs_reply *r)
{
	uint64_t until = cfs_client_lease_until(fs->cl), gen = cfs_client_lease_gen(fs->cl);
	struct fs_inode *d;

	if (until <= cfs_now_ms() || (r->status != 0 && r->status != ENOENT))
		return;
	d = fs_inode(fs, dir, 1);
	if (d->upd_inflight > 0)
		return; /* our own change of its names is on its way */
	fs_names_put(fs, d, name, r->status == 0 ? r->attr.ino : 0, until, gen);
}

/*
 * The inode `name` leads to in dir, as its kept names say: 1 with *ino
 * (0: no such name) when they know, 0 when they do not.
 */
int
fs_names_known(struct fs *fs, uint64_t dir, const char *name, uint64_t *ino)
{
	struct fs_inode *d = fs_inode(fs, dir, 0);
	struct fs_name *e;

	if (d == NULL || !fs_names_held(fs, d) || d->upd_inflight > 0 || name == NULL)
		return 0;
	e = fs_names_find(d->names, name, strlen(name));
	if (e == NULL && !d->names->complete)
		return 0;
	*ino = e != NULL ? e->ino : 0;
	return 1;
}

/*
 * Answers a lookup from the names of dir when this mount holds a lease on
 * it and on the inode the name leads to: returns 1 when it answered.
 */
int
fs_names_lookup(struct fs *fs, fuse_req_t req, uint64_t dir, const char *name)
{
	uint64_t now = cfs_now_ms(), ino;
	struct fuse_entry_param e;
	struct fs_inode *n;

	if (!fs_names_known(fs, dir, name, &ino))
		return 0;
	if (ino == 0) {
		fs->names_hits++;
		fuse_reply_err(req, ENOENT); /* no negative entry: the kernel asks again */
		return 1;
	}
	n = fs_inode(fs, ino, 0);
	if (n == NULL || !fs_attr_held(fs, n)) {
		if (n != NULL)
			fs_dc_prefetch(fs, req, n);
		return 0;
	}
	memset(&e, 0, sizeof(e));
	e.ino = n->ino;
	e.generation = 1;
	fs_stat(&n->lease_attr, &e.attr);
	e.attr_timeout = (double)(n->lease_until - now) / 1000.0;
	e.entry_timeout = fs->o.entry_timeout;
	if (fuse_reply_entry(req, &e) == 0)
		n->nlookup++;
	fs->names_hits++;
	return 1;
}

/*
 * Whether n's attributes as leased are what the tail would answer now: the
 * lease holds, and nothing of ours since may have changed them unseen: its
 * own updates (writes too), or an unlink, rmdir or rename of ours, which
 * change an inode they do not name.  An open file whose name went (its
 * hidden name is not a link) is left to the tail.
 */
int
fs_attr_held(struct fs *fs, const struct fs_inode *n)
{
	return fs_lease_valid(fs, n) && n->upd_inflight == 0 && n->writes == 0 &&
	       n->lease_ns == fs->ns_gen && n->lease_attr.ino == n->ino;
}

/*
 * Answers a getattr from n's leased attributes: 1 when it did.  The kernel
 * asks while its own copy is valid when it wants a fresh one, as before it
 * clears set-uid on a chown; under the lease that is what it has.
 */
int
fs_attr_lookup(struct fs *fs, fuse_req_t req, uint64_t ino)
{
	struct fs_inode *n = fs_inode(fs, ino, 0);
	uint64_t now = cfs_now_ms(); /* before the test: the lease ends after it */
	struct stat st;

	if (n == NULL || !fs_attr_held(fs, n))
		return 0;
	fs_stat(&n->lease_attr, &st);
	fuse_reply_attr(req, &st, (double)(n->lease_until - now) / 1000.0);
	fs->attr_hits++;
	return 1;
}

/* Counts an update of ours on n: its leased attributes are not used meanwhile. */
static void
fs_upd_hold(struct fs *fs, uint64_t ino)
{
	struct fs_inode *n = fs_inode(fs, ino, 1);

	n->upd_inflight++;
	n->lease_until = 0;
}

/*
 * An update of ours is sent: what it names is not to be trusted from our
 * leases, and the names of a directory it changes are not used, until its
 * answer comes (fs_upd_end).  An unlink, rmdir or rename also changes the
 * inodes its names lead to (their links, their ctime): known from the names
 * kept here, they are held the same way; unknown, every leased attribute
 * of this mount is distrusted (ns_gen).
 */
void
fs_upd_begin(struct fs *fs, struct fs_upd *u, const struct cfs_op *op)
{
	uint64_t inos[2] = {op->ino, op->ino2};
	int known = 1;

	if (op->type == CFS_OP_UNLINK || op->type == CFS_OP_RMDIR || op->type == CFS_OP_RENAME) {
		known = fs_names_known(fs, op->ino, op->name, &u->victims[0]) &&
			(op->type != CFS_OP_RENAME ||
			 fs_names_known(fs, op->ino2, op->name2, &u->victims[1]));
		if (!known)
			u->victims[0] = u->victims[1] = 0;
	}
	u->victims_known = known;
	for (int i = 0; i < 2; i++) {
		if (inos[i] == 0 || (i == 1 && inos[1] == inos[0]))
			continue;
		fs_upd_hold(fs, inos[i]);
		fs_dc_update(fs_inode(fs, inos[i], 0), op);
	}
	for (int i = 0; i < 2; i++)
		if (u->victims[i] != 0)
			fs_upd_hold(fs, u->victims[i]);
	if (!known)
		fs->ns_gen++;
}

/*
 * Brings directory d's names up to date with our update u, answered by r:
 * 1 when done, 0 when they must go.  Only an answer that leased d to us
 * (its attributes in r->dirs) does: every later change of d by another
 * host recalls it, and the names kept before stay true if their lease held
 * until the tail applied u (it ends after now, and u was applied before
 * its answer came).  A rename's are known only when the inodes its names
 * led to were (fs_upd_begin).
 */
static int
fs_names_own(struct fs *fs, struct fs_inode *d, const struct fs_upd *u, const struct cfs_reply *r)
{
	uint64_t dir, target, until = cfs_client_lease_until(fs->cl);
	uint64_t gen = cfs_client_lease_gen(fs->cl);
	int leased = 0;

	if (r->status != 0 || r->lease_ms == 0 || d->upd_inflight > 0 || u->name == NULL)
		return 0;
	for (unsigned i = 0; i < r->ndirs; i++)
		leased |= r->dirs[i].ino == d->ino;
	if (!leased)
		return 0;
	if (u->type == CFS_OP_RENAME) {
		/* The source name now leads to nothing (or, exchanged, to the target's inode). */
		/* Two links of one inode: rename(2) leaves both. */
		/* A whiteout: the source name leads to an inode not known here. */
		if (!u->victims_known || u->victims[0] == 0 || u->name2 == NULL ||
		    u->victims[0] == u->victims[1] || (u->flags & RENAME_WHITEOUT))
			return 0;
		if (d->ino == u->ino)
			fs_names_put(fs, d, u->name,
				     (u->flags & RENAME_EXCHANGE) ? u->victims[1] : 0, until, gen);
		if (d->ino == u->ino2)
			fs_names_put(fs, d, u->name2, u->victims[0], until, gen);
		return 1;
	}
	switch (u->type) {
	case CFS_OP_CREATE:
	case CFS_OP_MKNOD:
	case CFS_OP_MKDIR:
	case CFS_OP_SYMLINK:
		dir = u->ino;
		target = r->attr.ino;
		break;
	case CFS_OP_LINK:
		dir = u->ino2;
		target = r->attr.ino;
		break;
	case CFS_OP_UNLINK:
	case CFS_OP_RMDIR:
		dir = u->ino;
		target = 0;
		break;
	default:
		return 0;
	}
	if (dir != d->ino || (target == 0 && u->type != CFS_OP_UNLINK && u->type != CFS_OP_RMDIR))
		return 0;
	fs_names_put(fs, d, u->name, target, until, gen);
	return 1;
}

/*
 * Our mkdir made directory ino, leased to us with its answer: it is empty,
 * and stays as our own changes make it until another host's recalls it.
 */
static void
fs_names_made(struct fs *fs, uint64_t ino)
{
	struct fs_inode *d = fs_inode(fs, ino, 1);
	uint64_t until = cfs_client_lease_until(fs->cl);

	if (until <= cfs_now_ms() || d->upd_inflight > 0 || fs->nnames >= FS_NAMES_MAX)
		return;
	fs_names_new(fs, d);
	d->names->complete = 1;
	d->names_until = until;
	d->names_gen = cfs_client_lease_gen(fs->cl);
}

/* Its answer came (before its own completion runs). */
void
fs_upd_end(struct fs *fs, const struct fs_upd *u, const struct cfs_reply *r)
{
	uint64_t inos[4] = {u->ino, u->ino2, u->victims[0], u->victims[1]};

	for (int i = 0; i < 4; i++) {
		struct fs_inode *n;

		if (inos[i] == 0 || (i == 1 && inos[1] == inos[0]) ||
		    (n = fs_inode(fs, inos[i], 0)) == NULL)
			continue;
		if (n->upd_inflight > 0)
			n->upd_inflight--;
		if (r->status != 0 && i < 2)
			fs_dc_drop(n); /* it may have been applied, or in part */
		/* A lookup answered meanwhile may predate the update: forget it again. */
		n->lease_until = 0;
		if (i >= 2 || !fs_names_own(fs, n, u, r))
			fs_names_free(fs, n); /* a victim directory (rmdir, rename): nothing left */
		fs_inode_maybe_free(n);
	}
	if ((u->type == CFS_OP_UNLINK || u->type == CFS_OP_RMDIR || u->type == CFS_OP_RENAME) &&
	    !u->victims_known)
		fs->ns_gen++;
	if (u->type == CFS_OP_MKDIR && r->status == 0 && r->attr.ino != 0 && fs->o.lease_ms > 0) {
		if (r->lease_ms > 0)
			fs_names_made(fs, r->attr.ino);
		else
			fs_names_fill(fs, r->attr.ino, 0, u->uid, u->gid, 0); /* held: list it */
	}
}

/* Whether this mount holds a lease on n's attributes and data now. */
int
fs_lease_valid(struct fs *fs, const struct fs_inode *n)
{
	return fs_lease_live(fs, n->lease_until, n->lease_gen);
}

/* Whether a lease taken until `until` in generation gen still holds now. */
int
fs_lease_live(struct fs *fs, uint64_t until, uint64_t gen)
{
	return until > cfs_now_ms() && gen == cfs_client_lease_gen(fs->cl);
}

/*
 * Has the kernel drop what it caches of ino: attributes and every page
 * from off, or attributes only when off is negative.  ENOENT: it has none.
 */
static void
fs_inval(struct fuse_session *se, uint64_t ino, off_t off)
{
	int err = fuse_lowlevel_notify_inval_inode(se, ino, off, 0);

	if (err != 0 && err != -ENOENT)
		log_debug("invalidating inode %llu: %s", (unsigned long long)ino, strerror(-err));
}

/* The worker: carries out recalls one by one. */
static void *
fs_recall_thread(void *arg)
{
	struct fs_recaller *rc = arg;
	struct fs_recall_job *j;

	for (;;) {
		pthread_mutex_lock(&rc->lock);
		while (rc->todo == NULL && !rc->stop)
			pthread_cond_wait(&rc->wake, &rc->lock);
		if (rc->todo == NULL) {
			pthread_mutex_unlock(&rc->lock);
			return NULL;
		}
		j = rc->todo;
		rc->todo = j->next;
		if (rc->todo == NULL)
			rc->todo_tail = &rc->todo;
		pthread_mutex_unlock(&rc->lock);

		for (uint16_t i = 0; i < j->n; i++)
			fs_inval(rc->se, j->ino[i], 0);

		pthread_mutex_lock(&rc->lock);
		j->next = NULL;
		*rc->done_tail = j;
		rc->done_tail = &j->next;
		pthread_mutex_unlock(&rc->lock);
		while (write(rc->pipe[1], "", 1) < 0 && errno == EINTR)
			;
	}
}

/* On the loop: acknowledges what the worker finished. */
static void
fs_recall_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fs *fs = arg;
	struct fs_recaller *rc = fs->recaller;
	struct fs_recall_job *j, *next;
	char buf[256];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&rc->lock);
	j = rc->done;
	rc->done = NULL;
	rc->done_tail = &rc->done;
	pthread_mutex_unlock(&rc->lock);
	for (; j != NULL; j = next) {
		next = j->next;
		cfs_client_recall_ack(fs->cl, j->id, j->gen);
		free(j);
		fs->recalls_done++;
	}
	fs_lk_recalls_done(fs); /* locks granted after these recalls may be answered now */
}

/* Starts the worker, on the first recall (after fuse_daemonize forked). */
static struct fs_recaller *
fs_recaller_start(struct fs *fs)
{
	struct fs_recaller *rc = xcalloc(1, sizeof(*rc));

	if (pipe2(rc->pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		fatal("pipe2");
	pthread_mutex_init(&rc->lock, NULL);
	pthread_cond_init(&rc->wake, NULL);
	rc->todo_tail = &rc->todo;
	rc->done_tail = &rc->done;
	rc->se = fs->se;
	rc->ev = event_new(fs->base, rc->pipe[0], EV_READ | EV_PERSIST, fs_recall_done_cb, fs);
	event_add(rc->ev, NULL);
	if (pthread_create(&rc->thread, NULL, fs_recall_thread, rc) != 0)
		fatalx("cannot start the recall thread");
	return rc;
}

/* cfs_client recall callback: forget the leases here, have the kernel drop its caches. */
static void
fs_recall(void *arg, uint64_t id, uint64_t gen, const struct cfs_recall *r)
{
	struct fs *fs = arg;
	struct fs_recall_job *j;

	for (uint16_t i = 0; i < r->n; i++) {
		struct fs_inode *n = fs_inode(fs, r->items[i].ino, 0);

		if (n != NULL) {
			n->lease_until = 0;
			fs_names_free(fs, n);
			fs_ra_recalled(fs, n);
			fs_dc_recalled(n);
			/* Left with no name by another host: not kept open here for nothing. */
			if (r->items[i].kind == CFS_RECALL_GONE && n->ref_idle) {
				fs_ref_maybe_drop(fs, n);
				fs_inode_maybe_free(n);
			}
		}
	}
	fs_ref_flush(fs); /* what the recall let go: freed now if it has no name left */
	if (fs->se == NULL) {
		cfs_client_recall_ack(fs->cl, id, gen); /* not mounted: nothing is cached */
		return;
	}
	if (!fs->o.page_cache) {
		/*
		 * Without the page cache the kernel keeps nothing of these inodes
		 * but attributes: names are not leased to it, and it caches no
		 * directory listing and no symlink.  Dropping attributes alone
		 * takes no page and no directory lock that a request waiting
		 * for this loop could hold, so it is done here, at once, and
		 * acknowledged: two thread hand-offs less on every recall.  (A
		 * MAP_PRIVATE mapping keeps what it has, as POSIX allows; the
		 * next open drops the file's pages, keep_cache being off.)
		 */
		for (uint16_t i = 0; i < r->n; i++)
			fs_inval(fs->se, r->items[i].ino, -1);
		cfs_client_recall_ack(fs->cl, id, gen);
		fs->recalls++;
		return;
	}
	if (fs->recaller == NULL)
		fs->recaller = fs_recaller_start(fs);
	j = xcalloc(1, sizeof(*j));
	j->id = id;
	j->gen = gen;
	j->n = r->n;
	for (uint16_t i = 0; i < r->n; i++)
		j->ino[i] = r->items[i].ino;
	pthread_mutex_lock(&fs->recaller->lock);
	*fs->recaller->todo_tail = j;
	fs->recaller->todo_tail = &j->next;
	pthread_cond_signal(&fs->recaller->wake);
	pthread_mutex_unlock(&fs->recaller->lock);
	fs->recalls++;
	fs->recalls_queued++;
}

/* Takes recalls from the client when leases are on. */
void
fs_lease_init(struct fs *fs)
{
	if (fs->o.lease_ms > 0)
		cfs_client_set_recall(fs->cl, fs_recall, fs);
}

/* Stops the worker; recalls still queued are dropped (the tail waits out the lease). */
void
fs_lease_free(struct fs *fs)
{
	struct fs_recaller *rc = fs->recaller;
	struct fs_recall_job *j;

	if (rc == NULL)
		return;
	pthread_mutex_lock(&rc->lock);
	rc->stop = 1;
	while ((j = rc->todo) != NULL) {
		rc->todo = j->next;
		free(j);
	}
	rc->todo_tail = &rc->todo;
	pthread_cond_signal(&rc->wake);
	pthread_mutex_unlock(&rc->lock);
	pthread_join(rc->thread, NULL);
	while ((j = rc->done) != NULL) {
		rc->done = j->next;
		free(j);
	}
	event_free(rc->ev);
	close(rc->pipe[0]);
	close(rc->pipe[1]);
	pthread_mutex_destroy(&rc->lock);
	pthread_cond_destroy(&rc->wake);
	free(rc);
	fs->recaller = NULL;
}
