/*
 * Locks through the chain: POSIX record locks (fcntl F_SETLK, F_SETLKW,
 * F_GETLK, and the open file description locks, which reach a FUSE
 * filesystem the same way with another owner) and flock(2).  The table is
 * the chain's (store_locks.c); this mount keeps what it needs to act for
 * its kernel:
 *
 *   - which owners may hold locks on which inode (fs_lkown), so that a
 *     close releases the closing process's POSIX locks (flush: the kernel
 *     leaves that to us) and the last close of an open file releases its
 *     flocks and OFD locks (release), without a chain round trip for the
 *     closes of files never locked;
 *   - the lock requests under way (fs_lkreq).  One that waits in the
 *     chain's queue is answered when the tail says it is decided
 *     (LKGRANT), or asked after (LKSTATE) when the tail connection was
 *     new; a signal (FUSE_INTERRUPT) takes it out of the queue (LKCANCEL)
 *     and answers EINTR, unless it was granted first;
 *   - with the page cache, a lock is answered only once the recalls that
 *     came before its grant have emptied the kernel's caches (they run on
 *     a worker thread): what the previous holder wrote is what is read;
 *   - the session's lock lease (cfs_client_keep_session) while it holds
 *     or waits for a lock.  If the lease may have run out, the chain may
 *     have given the locks to others: every waiting request fails with
 *     ENOLCK, and the inodes it held locks on answer lock requests with
 *     ENOLCK and writes with EIO until they are closed here.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>

#include "common/log.h"
#include "common/wire.h"
#include "fs/fs_int.h"

#define FS_LK_BUCKETS 256

/* An owner's locks on an inode, as far as this mount knows: it may hold some. */
struct fs_lkown {
	uint64_t ino, owner;
	int posix, flock;
	LIST_ENTRY(fs_lkown) hash;
};
LIST_HEAD(fs_lkown_list, fs_lkown);

enum { LKREQ_SENT, LKREQ_QUEUED };

/* A lock request of the kernel's under way. */
struct fs_lkreq {
	struct fs *fs;
	fuse_req_t req; /* NULL once answered */
	uint64_t ino, owner, seq;
	int flock, type;
	int whole; /* the whole file: an unlock of it leaves nothing of the owner's */
	int state;
	int replied;	 /* the SETLK's own answer came (it may still wait in the queue) */
	int interrupted; /* a signal came: cancel once it is queued */
	int cancel_sent;
	int early;	       /* its LKGRANT came before its own answer */
	int32_t early_status;
	uint64_t after_recalls; /* held until fs->recalls_done reaches it (0: not held) */
	uint64_t tail_ups;	/* fs->lk->tail_ups when it was sent */
	TAILQ_ENTRY(fs_lkreq) link;
};

struct fs_locks {
	struct fs_lkown_list b[FS_LK_BUCKETS];
	size_t nown;
	uint64_t tail_ups; /* new tail connections so far */
	TAILQ_HEAD(, fs_lkreq) reqs;
	size_t nreqs;
};

static void fs_lk_poll(struct fs *, struct fs_lkreq *);

/* A request of ours found by seq when its answer comes. */
struct fs_lkref {
	struct fs *fs;
	uint64_t seq;
};

static struct fs_lkown_list *
fs_lk_bucket(struct fs_locks *lk, uint64_t ino, uint64_t owner)
{
	return &lk->b[((ino ^ (owner * 0x9E3779B97F4A7C15ull)) * 0xC2B2AE3D27D4EB4Full) >> 56];
}

static struct fs_lkown *
fs_lk_own(struct fs *fs, uint64_t ino, uint64_t owner, int create)
{
	struct fs_lkown_list *b = fs_lk_bucket(fs->lk, ino, owner);
	struct fs_lkown *o;

	LIST_FOREACH(o, b, hash)
		if (o->ino == ino && o->owner == owner)
			return o;
	if (!create)
		return NULL;
	o = xcalloc(1, sizeof(*o));
	o->ino = ino;
	o->owner = owner;
	LIST_INSERT_HEAD(b, o, hash);
	fs->lk->nown++;
	return o;
}

static void
fs_lk_own_drop(struct fs *fs, struct fs_lkown *o)
{
	LIST_REMOVE(o, hash);
	fs->lk->nown--;
	free(o);
}

/* The session's lease is kept while anything is held or waited for, or held open. */
void
fs_lk_session(struct fs *fs)
{
	cfs_client_keep_session(fs->cl, fs->lk->nown > 0 || fs->lk->nreqs > 0 || fs_ref_any(fs));
}

static struct fs_lkreq *
fs_lk_find(struct fs *fs, uint64_t seq)
{
	struct fs_lkreq *r;

	TAILQ_FOREACH(r, &fs->lk->reqs, link)
		if (r->seq == seq)
			return r;
	return NULL;
}

static void
fs_lkreq_free(struct fs *fs, struct fs_lkreq *r)
{
	TAILQ_REMOVE(&fs->lk->reqs, r, link);
	fs->lk->nreqs--;
	free(r);
	fs_lk_session(fs);
}

/* Sends LKCANCEL or LKSTATE for queued request r (its inode and seq). */
static void
fs_lk_ask(struct fs *fs, uint16_t type, const struct fs_lkreq *r, cfs_client_done done, void *arg)
{
	struct cfs_op op;

	memset(&op, 0, sizeof(op));
	op.type = type;
	op.ino = r->ino;
	op.offset = r->seq;
	fs_send(fs, &op, done, arg);
}

/* Sends an UNLOCK: owner's locks on ino of the classes in flags, or (CFS_LK_SESSION) all. */
static void
fs_lk_unlock(struct fs *fs, uint64_t ino, uint64_t owner, uint32_t flags, cfs_client_done done,
	     void *arg)
{
	struct cfs_op op;

	memset(&op, 0, sizeof(op));
	op.type = CFS_OP_UNLOCK;
	op.ino = ino;
	op.ino2 = owner;
	op.flags = flags;
	fs_send(fs, &op, done, arg);
}

/* owner may hold a lock of the class on ino: its close releases it. */
static void
fs_lk_note(struct fs *fs, uint64_t ino, uint64_t owner, int flock)
{
	struct fs_lkown *o = fs_lk_own(fs, ino, owner, 1);

	if (flock)
		o->flock = 1;
	else
		o->posix = 1;
}

/* owner (may be NULL) holds no more locks of the class: forgotten once it holds none. */
static void
fs_lk_unnote(struct fs *fs, struct fs_lkown *o, int flock)
{
	if (o == NULL)
		return;
	if (flock)
		o->flock = 0;
	else
		o->posix = 0;
	if (!o->posix && !o->flock)
		fs_lk_own_drop(fs, o);
}

/* A request whose grant cannot be trusted: its file answers as lost. */
static void
fs_lk_mark_lost(struct fs *fs, const struct fs_lkreq *r)
{
	struct fs_inode *n = fs_inode(fs, r->ino, 0);

	if (n != NULL)
		n->lock_lost = 1;
	/*
	 * The owner stays noted, so that the session stays watched (the tick
	 * then says whether it is lost) and its close releases what the chain
	 * may still hold.
	 */
	fs_lk_note(fs, r->ino, r->owner, r->flock);
}

/* Answers the kernel: status 0 means the lock (or unlock) is in place. */
static void
fs_lk_answer(struct fs *fs, struct fs_lkreq *r, int err)
{
	if (r->req == NULL)
		return;
	if (err == 0 && r->type != CFS_LK_UN && cfs_client_session_until(fs->cl) <= cfs_now_ms()) {
		/* Granted, but the lease may have run out already. */
		fs_lk_mark_lost(fs, r);
		fuse_reply_err(r->req, ENOLCK);
		r->req = NULL;
		return;
	}
	if (err == 0 && r->type != CFS_LK_UN && fs->recalls_done < fs->recalls_queued) {
		/* Recalls before the grant are still emptying the page cache: then. */
		r->after_recalls = fs->recalls_queued;
		return;
	}
	r->after_recalls = 0;
	if (err == 0 && r->type != CFS_LK_UN)
		fs_lk_note(fs, r->ino, r->owner, r->flock);
	else if (err == 0 && (r->flock || r->whole)) /* an unlock of a range only may leave others */
		fs_lk_unnote(fs, fs_lk_own(fs, r->ino, r->owner, 0), r->flock);
	fuse_reply_err(r->req, err);
	r->req = NULL;
}

/* Answers the kernel and, once the SETLK's own answer came too, forgets r. */
static void
fs_lk_finish(struct fs *fs, struct fs_lkreq *r, int err)
{
	fs_lk_answer(fs, r, err);
	if (r->replied && r->req == NULL)
		fs_lkreq_free(fs, r);
}

void
fs_lk_recalls_done(struct fs *fs)
{
	struct fs_lkreq *r, *next;

	for (r = TAILQ_FIRST(&fs->lk->reqs); r != NULL; r = next) {
		next = TAILQ_NEXT(r, link);
		if (r->after_recalls != 0 && r->req != NULL && fs->recalls_done >= r->after_recalls)
			fs_lk_finish(fs, r, 0);
	}
}

static void fs_lk_unknown(struct fs *, struct fs_lkreq *, int err);

/*
 * Writes to files whose locks were lost, answered but not sent yet, are not
 * sent: they could meet another holder's writes; their closes report EIO.
 * All are taken out before any waiter runs (a waiter may send requests,
 * which would send the others' first).
 */
static uint64_t *
fs_lk_drop_held(struct fs *fs, size_t *count)
{
	struct fs_inode *n, *next;
	uint64_t *inos;
	size_t cap = 1;

	TAILQ_FOREACH(n, &fs->held, held_entry)
		cap++;
	inos = xcalloc(cap, sizeof(*inos));
	*count = 0;
	for (n = TAILQ_FIRST(&fs->held); n != NULL; n = next) {
		next = TAILQ_NEXT(n, held_entry);
		if (n->lock_lost) {
			inos[(*count)++] = n->ino;
			fs_held_drop(fs, n, EIO);
		}
	}
	return inos;
}

static void
fs_lk_cancel_done(void *arg, const struct cfs_reply *rep)
{
	struct fs_lkref *ref = arg;
	struct fs_lkreq *r = fs_lk_find(ref->fs, ref->seq);

	/*
	 * Out of the queue: EINTR.  Otherwise it was decided first (the tail
	 * sends the decision before this answer, on one connection): granted,
	 * unless its LKGRANT said otherwise and answered it already.
	 */
	if (r != NULL && r->req != NULL) {
		if (rep->status == 0)
			fs_lk_finish(ref->fs, r, EINTR);
		else if (rep->status == ENOENT)
			fs_lk_finish(ref->fs, r, 0);
		else if (rep->status != ECANCELED) /* ECANCELED: the mount is going away */
			/*
			 * No answer: the cancel may have been applied all the same,
			 * and one sent again would find the wait gone and look like a
			 * grant.  Whatever the owner may hold on the file goes.
			 */
			fs_lk_unknown(ref->fs, r, EINTR);
	}
	free(ref);
}

static void
fs_lk_cancel(struct fs *fs, struct fs_lkreq *r)
{
	struct fs_lkref *ref = xcalloc(1, sizeof(*ref));

	r->cancel_sent = 1;
	ref->fs = fs;
	ref->seq = r->seq;
	fs_lk_ask(fs, CFS_OP_LKCANCEL, r, fs_lk_cancel_done, ref);
}

/*
 * FUSE_INTERRUPT for a waiting request.  libfuse may call this from
 * fuse_req_interrupt_func with the request's lock held: it must not answer
 * the request, only start the cancel.
 */
static void
fs_lk_interrupt(fuse_req_t req, void *data)
{
	struct fs_lkreq *r = data;

	(void)req;
	r->interrupted = 1;
	if (r->state == LKREQ_QUEUED && !r->cancel_sent && r->req != NULL)
		fs_lk_cancel(r->fs, r);
}

static void
fs_lk_forget_done(void *arg, const struct cfs_reply *rep)
{
	(void)arg;
	if (rep->status != 0 && rep->status != ENOENT)
		log_warnx("cannot release a lock whose request timed out: %s (the chain ends it "
			  "when the lock lease runs out, or at the last close)",
			  strerror(fs_errno(rep->status)));
}

/*
 * A lock request timed out: the chain may have applied it (held or queued)
 * or not.  It leaves the queue (LKCANCEL) and the owner's locks of its
 * class on the file go (UNLOCK, after it in the chain's order); the file
 * answers as one whose locks were lost, and the caller gets ENOLCK.
 */
static void
fs_lk_unknown(struct fs *fs, struct fs_lkreq *r, int err)
{
	log_warnx("a lock request got no answer in time: the locks of its owner on that file "
		  "are released, and the file answers as one whose locks were lost");
	fs_lk_mark_lost(fs, r); /* should the UNLOCK not land, the close sends another */
	fs_lk_ask(fs, CFS_OP_LKCANCEL, r, fs_lk_forget_done, NULL);
	fs_lk_unlock(fs, r->ino, r->owner, r->flock ? CFS_LK_FLOCK : CFS_LK_POSIX,
		     fs_lk_forget_done, NULL);
	r->type = CFS_LK_UN; /* nothing to note when it is answered */
	fs_lk_finish(fs, r, err);
}

static void
fs_lk_set_done(void *arg, const struct cfs_reply *rep)
{
	struct fs_lkreq *r = arg;
	struct fs *fs = r->fs;

	r->replied = 1;
	if (r->req == NULL) { /* answered already: the session was lost meanwhile */
		fs_lkreq_free(fs, r);
		return;
	}
	if (rep->status == ETIMEDOUT && r->type != CFS_LK_UN) {
		fs_lk_unknown(fs, r, ENOLCK);
		return;
	}
	if (rep->status != 0) {
		/* ENOTCONN: never sent (the chain answers nothing): a plain failure. */
		fs_lk_finish(fs, r,
			     rep->status == ETIMEDOUT || rep->status == ENOTCONN
				 ? ENOLCK
				 : fs_errno(rep->status));
		return;
	}
	if (rep->value != CFS_LK_QUEUED) {
		fs_lk_finish(fs, r, 0);
		return;
	}
	if (r->early) {
		fs_lk_finish(fs, r, r->early_status);
		return;
	}
	r->state = LKREQ_QUEUED;
	if (r->interrupted) {
		fs_lk_cancel(fs, r);
		return;
	}
	/*
	 * Sent again on a new tail connection and answered from the result
	 * table: its LKGRANT may have gone to the old one, before fs_lk_tail_up
	 * saw it queued.
	 */
	if (r->tail_ups != fs->lk->tail_ups)
		fs_lk_poll(fs, r);
	fuse_req_interrupt_func(r->req, fs_lk_interrupt, r); /* may cancel at once */
}

/*
 * Whether owner may hold a lock of the class on ino through this mount: it
 * was granted one and has not closed the file since, or asks for one now.
 */
static int
fs_lk_may_hold(struct fs *fs, uint64_t ino, uint64_t owner, int flock)
{
	struct fs_lkown *o = fs_lk_own(fs, ino, owner, 0);
	struct fs_lkreq *r;

	if (o != NULL && (flock ? o->flock : o->posix))
		return 1;
	TAILQ_FOREACH(r, &fs->lk->reqs, link)
		if (r->ino == ino && r->owner == owner && r->flock == flock)
			return 1;
	return 0;
}

/* Sends a SETLK for the kernel's request. */
static void
fs_lk_set(fuse_req_t req, uint64_t ino, const struct fuse_file_info *fi, int type,
	  uint64_t start, uint64_t end, uint32_t pid, int flock, int wait)
{
	struct fs *fs = fuse_req_userdata(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fs_inode *n = fs_inode(fs, ino, 1);
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
	struct fs_lkreq *r;
	struct cfs_op op;

	if (n->lock_lost) {
		fuse_reply_err(req, ENOLCK);
		return;
	}
	if (type == CFS_LK_UN && !fs_lk_may_hold(fs, ino, fi->lock_owner, flock)) {
		fuse_reply_err(req, 0); /* nothing to release: no round trip */
		return;
	}
	if (type != CFS_LK_UN && fs->lk->nreqs >= FS_LK_MAX_REQS) {
		fuse_reply_err(req, ENOLCK);
		return;
	}
	n->locked = 1;
	if (h != NULL)
		fs_handle_owner(h, fi->lock_owner);
	r = xcalloc(1, sizeof(*r));
	r->fs = fs;
	r->req = req;
	r->ino = ino;
	r->owner = fi->lock_owner;
	r->flock = flock;
	r->type = type;
	r->whole = start == 0 && end == CFS_LK_EOF;
	r->tail_ups = fs->lk->tail_ups;
	TAILQ_INSERT_TAIL(&fs->lk->reqs, r, link);
	fs->lk->nreqs++;
	fs_lk_session(fs);
	memset(&op, 0, sizeof(op));
	op.type = CFS_OP_SETLK;
	op.ino = ino;
	op.ino2 = fi->lock_owner;
	op.mode = (uint32_t)type;
	op.offset = start;
	op.length = end;
	op.uid = pid;
	op.flags = (flock ? CFS_LK_FLOCK : 0) | (wait ? CFS_LK_WAIT : 0);
	op.caller_uid = ctx->uid;
	op.caller_gid = ctx->gid;
	r->seq = fs_send(fs, &op, fs_lk_set_done, r);
}

/* The kernel's range: l_len 0 is to the end of any file. */
static int
fs_lk_range(const struct flock *l, uint64_t *start, uint64_t *end)
{
	if (l->l_start < 0 || l->l_len < 0)
		return EINVAL; /* the kernel made them absolute and positive already */
	*start = (uint64_t)l->l_start;
	if (l->l_len == 0 || (uint64_t)l->l_len - 1 > CFS_LK_EOF - *start)
		*end = CFS_LK_EOF;
	else
		*end = *start + (uint64_t)l->l_len - 1;
	return 0;
}

static int
fs_lk_type(short t)
{
	return t == F_RDLCK ? CFS_LK_RD : t == F_WRLCK ? CFS_LK_WR : t == F_UNLCK ? CFS_LK_UN : 0;
}

void
fs_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock,
	 int sleep)
{
	uint64_t start, end;
	int type = fs_lk_type(lock->l_type), err;

	if (type == 0 || (err = fs_lk_range(lock, &start, &end)) != 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	fs_lk_set(req, ino, fi, type, start, end, (uint32_t)lock->l_pid, 0, sleep);
}

void
fs_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op)
{
	int how = op & ~LOCK_NB;
	int type = how == LOCK_SH   ? CFS_LK_RD
		   : how == LOCK_EX ? CFS_LK_WR
		   : how == LOCK_UN ? CFS_LK_UN
				    : 0;

	if (type == 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	fs_lk_set(req, ino, fi, type, 0, CFS_LK_EOF, 0, 1, !(op & LOCK_NB));
}

static void
fs_lk_getlk_done(void *arg, const struct cfs_reply *rep)
{
	struct fs_call *c = arg;
	struct cfs_lock_desc d;
	struct flock l;

	memset(&l, 0, sizeof(l));
	l.l_whence = SEEK_SET;
	if (rep->status != 0) {
		fuse_reply_err(c->req, fs_errno_ino(rep->status));
	} else if (rep->value == CFS_LK_UN) {
		l.l_type = F_UNLCK;
		fuse_reply_lock(c->req, &l);
	} else if ((rep->value != CFS_LK_RD && rep->value != CFS_LK_WR) ||
		   cfs_lock_desc_decode(rep->data, rep->datalen, &d) != CFS_WIRE_OK) {
		log_warnx("a malformed lock description from the tail");
		fuse_reply_err(c->req, EIO);
	} else {
		l.l_type = rep->value == CFS_LK_RD ? F_RDLCK : F_WRLCK;
		l.l_start = (off_t)d.start;
		l.l_len = d.end == CFS_LK_EOF ? 0 : (off_t)(d.end - d.start + 1);
		l.l_pid = (pid_t)d.pid;
		fuse_reply_lock(c->req, &l);
	}
	free(c);
}

void
fs_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_inode *n = fs_inode(fs, ino, 0);
	uint64_t start, end;
	int type = fs_lk_type(lock->l_type);
	struct fs_call *c;
	struct cfs_op op;

	if (type == 0 || type == CFS_LK_UN || fs_lk_range(lock, &start, &end) != 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (n != NULL && n->lock_lost) {
		fuse_reply_err(req, ENOLCK);
		return;
	}
	c = fs_call(fs, req, ino);
	memset(&op, 0, sizeof(op));
	op.type = CFS_OP_GETLK;
	op.ino = ino;
	op.ino2 = fi->lock_owner;
	op.mode = (uint32_t)type;
	op.offset = start;
	op.length = end;
	op.caller_uid = c->uid;
	op.caller_gid = c->gid;
	fs_send(fs, &op, fs_lk_getlk_done, c);
}

/* The tail decided a queued request of ours. */
static void
fs_lk_granted(void *arg, const struct cfs_lkgrant *g)
{
	struct fs *fs = arg;
	struct fs_lkreq *r = fs_lk_find(fs, g->seq);

	if (r == NULL || r->ino != g->ino || r->req == NULL)
		return; /* answered already (a cancel that lost the race said so) */
	if (r->state == LKREQ_SENT) {
		r->early = 1; /* its own answer ("queued") is still on its way */
		r->early_status = g->status;
		return;
	}
	fs_lk_finish(fs, r, g->status >= 0 ? g->status : ENOLCK);
}

static void
fs_lk_state_done(void *arg, const struct cfs_reply *rep)
{
	struct fs_lkref *ref = arg;
	struct fs_lkreq *r = fs_lk_find(ref->fs, ref->seq);

	free(ref);
	if (r == NULL || r->state != LKREQ_QUEUED || r->req == NULL || r->cancel_sent)
		return; /* decided meanwhile, or its cancel will say */
	if (rep->status == ETIMEDOUT || rep->status == ENOTCONN)
		fs_lk_poll(r->fs, r); /* no answer: ask again (a read: no harm) */
	else if (rep->status == 0 && rep->value == 0)
		fs_lk_finish(r->fs, r, 0); /* its LKGRANT went to a connection that is gone */
}

/* Asks the tail whether a queued request still waits (LKSTATE). */
static void
fs_lk_poll(struct fs *fs, struct fs_lkreq *r)
{
	struct fs_lkref *ref = xcalloc(1, sizeof(*ref));

	ref->fs = fs;
	ref->seq = r->seq;
	fs_lk_ask(fs, CFS_OP_LKSTATE, r, fs_lk_state_done, ref);
}

/* A new tail connection: a decision sent on the old one may be lost; ask. */
static void
fs_lk_tail_up(void *arg)
{
	struct fs *fs = arg;
	struct fs_lkreq *r;

	fs->lk->tail_ups++;
	TAILQ_FOREACH(r, &fs->lk->reqs, link)
		if (r->state == LKREQ_QUEUED && r->req != NULL && !r->cancel_sent)
			fs_lk_poll(fs, r);
}

static void
fs_lk_reset_done(void *arg, const struct cfs_reply *rep)
{
	(void)arg;
	if (rep->status != 0)
		log_warnx("cannot release this mount's locks: %s (the chain ends them when the "
			  "lock lease runs out)",
			  strerror(fs_errno(rep->status)));
}

/* The session's lock lease may have run out: nothing held here can be trusted. */
static void
fs_lk_lost(void *arg)
{
	struct fs *fs = arg;
	struct fs_lkreq *r, *next;
	struct fs_lkown *o;
	size_t inodes = 0, ndropped;
	uint64_t *inos;

	for (size_t i = 0; i < FS_LK_BUCKETS; i++)
		while ((o = LIST_FIRST(&fs->lk->b[i])) != NULL) {
			struct fs_inode *n = fs_inode(fs, o->ino, 0);

			if (n != NULL && !n->lock_lost) {
				n->lock_lost = 1;
				inodes++;
			}
			fs_lk_own_drop(fs, o);
		}
	for (r = TAILQ_FIRST(&fs->lk->reqs); r != NULL; r = next) {
		next = TAILQ_NEXT(r, link);
		fs_lk_finish(fs, r, ENOLCK);
	}
	log_warnx("locks lost on %zu files: their lock calls fail with ENOLCK and their "
		  "writes with EIO until they are closed",
		  inodes);
	/*
	 * Whatever the chain still holds of ours goes, before any new request
	 * of ours; not after writes held for the files that lost their locks.
	 */
	inos = fs_lk_drop_held(fs, &ndropped);
	fs_lk_unlock(fs, 0, 0, CFS_LK_SESSION, fs_lk_reset_done, NULL);
	fs_ref_lost(fs);
	fs_lk_session(fs);
	/* Their flushes and fsyncs may go on now (they report EIO). */
	for (size_t i = 0; i < ndropped; i++) {
		struct fs_inode *n = fs_inode(fs, inos[i], 0);

		if (n != NULL) {
			fs_run_waiters(fs, n);
			fs_inode_maybe_free(n);
		}
	}
	free(inos);
}

/* Releasing an owner's locks at a close, then the close's own answer. */
struct fs_lkclose {
	struct fs *fs;
	struct fs_wait *w;
	void (*then)(struct fs *, struct fs_wait *);
	unsigned pending;
};

static void
fs_lk_close_done(void *arg, const struct cfs_reply *rep)
{
	struct fs_lkclose *x = arg;

	if (rep->status != 0)
		log_warnx("cannot release locks at a close: %s", strerror(fs_errno(rep->status)));
	if (--x->pending > 0)
		return;
	x->then(x->fs, x->w);
	free(x->w->name);
	free(x->w);
	free(x);
}

static void
fs_lk_close_send(struct fs *fs, struct fs_lkclose *x, uint64_t ino, uint64_t owner,
		 uint32_t flags)
{
	x->pending++;
	fs_lk_unlock(fs, ino, owner, flags, fs_lk_close_done, x);
}

int
fs_lk_close(struct fs *fs, struct fs_wait *w, uint64_t owner, int release,
	    void (*then)(struct fs *, struct fs_wait *))
{
	struct fs_lkclose *x = NULL;
	struct fs_handle *h = w->h;
	struct fs_lkown *o;

	/*
	 * The owner a flush names is a process's: its locks go now, and the
	 * handle's last close must not release a later lock of the same
	 * process, taken through another descriptor (flock and OFD owners,
	 * the open file's, never flush).
	 */
	if (!release)
		for (uint32_t i = 0; i < h->nowners; i++)
			if (h->owners[i] == owner) {
				h->owners[i] = h->owners[--h->nowners];
				break;
			}
	if (fs->lk->nown == 0)
		return 0;
	for (uint32_t i = 0; i < (release ? h->nowners : 1); i++) {
		uint64_t who = release ? h->owners[i] : owner;

		o = fs_lk_own(fs, w->ino, who, 0);
		if (o == NULL || (!release && !o->posix))
			continue;
		if (x == NULL) {
			x = xcalloc(1, sizeof(*x));
			x->fs = fs;
			x->w = xcalloc(1, sizeof(*x->w)); /* w is its caller's, freed on return */
			*x->w = *w;
			x->w->name = NULL;
			x->then = then;
			x->pending = 1; /* until every UNLOCK is sent */
		}
		/* A close drops the closer's POSIX locks; the last close, flocks and OFD locks. */
		fs_lk_close_send(fs, x, w->ino, who,
				 release ? CFS_LK_POSIX | CFS_LK_FLOCK : CFS_LK_POSIX);
		if (release)
			o->flock = 0;
		fs_lk_unnote(fs, o, 0);
	}
	if (x == NULL)
		return 0;
	fs_lk_session(fs);
	{
		struct cfs_reply none;

		memset(&none, 0, sizeof(none));
		fs_lk_close_done(x, &none); /* the count's own hold */
	}
	return 1;
}

void
fs_handle_owner(struct fs_handle *h, uint64_t owner)
{
	for (uint32_t i = 0; i < h->nowners; i++)
		if (h->owners[i] == owner)
			return;
	if (h->nowners == h->capowners) {
		h->capowners = h->capowners ? 2 * h->capowners : 2;
		h->owners = xrealloc(h->owners, h->capowners * sizeof(*h->owners));
	}
	h->owners[h->nowners++] = owner;
}

void
fs_lk_init(struct fs *fs)
{
	fs->lk = xcalloc(1, sizeof(*fs->lk));
	for (size_t i = 0; i < FS_LK_BUCKETS; i++)
		LIST_INIT(&fs->lk->b[i]);
	TAILQ_INIT(&fs->lk->reqs);
	cfs_client_set_locks(fs->cl, fs_lk_granted, fs_lk_tail_up, fs_lk_lost, fs);
}

void
fs_lk_free(struct fs *fs)
{
	struct fs_lkreq *r;
	struct fs_lkown *o;

	if (fs->lk == NULL)
		return;
	cfs_client_set_locks(fs->cl, NULL, NULL, NULL, NULL);
	while ((r = TAILQ_FIRST(&fs->lk->reqs)) != NULL) {
		if (r->req != NULL)
			fuse_reply_err(r->req, EIO);
		TAILQ_REMOVE(&fs->lk->reqs, r, link);
		free(r);
	}
	for (size_t i = 0; i < FS_LK_BUCKETS; i++)
		while ((o = LIST_FIRST(&fs->lk->b[i])) != NULL) {
			LIST_REMOVE(o, hash);
			free(o);
		}
	free(fs->lk);
	fs->lk = NULL;
}

uint64_t
fs_lk_count(const struct fs *fs, uint64_t *waiting)
{
	*waiting = fs->lk != NULL ? fs->lk->nreqs : 0;
	return fs->lk != NULL ? fs->lk->nown : 0;
}
