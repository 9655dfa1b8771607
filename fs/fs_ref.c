/*
 * Open references, the mount's side (the chain's is store_opens.c): a
 * regular file this mount has open is held open on the chain by its
 * session, so that it outlives its last name, on whichever host that
 * name goes, until the last close here.
 *
 * The first open of a file here takes the reference before it answers
 * (OPENREF, or the create itself with CFS_CREATE_OPENREF), so that no
 * unlink ordered after the open can free the file under it.  After the
 * last close the reference is kept a while (FS_REF_IDLE_MS, at most
 * FS_REF_IDLE_MAX files), as CephFS keeps capabilities, so that opening
 * the same file again costs nothing; it goes sooner when the kernel
 * forgets the inode, when another host removes its last name (a recall
 * of kind CFS_RECALL_GONE), or when this mount removes its name (released
 * first, so that the file is freed at once).  Released references are
 * sent in batches (CLOSEREF).
 *
 * Directories take none: a removed directory has nothing to keep, and
 * fstat through an open one answers its last attributes with no links
 * (fs_done_attr).
 *
 * The session must stay alive while references are held: the head ends
 * a silent session's references with its locks (LKEXPIRE), which frees
 * what only it held open.  If this mount's session may have ended
 * (fs_ref_lost), the references of files still open are taken again
 * and the others let go.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "common/log.h"
#include "common/wire.h"
#include "fs/fs.h"
#include "fs/fs_int.h"

struct fs_refs {
	struct fs_ref_list idle; /* held, not open here: the least recently closed first */
	size_t nidle;
	uint64_t held;		 /* inodes whose reference is held */
	uint64_t gen;		 /* changes when the session may have ended (fs_ref_lost) */
	uint64_t *pending;	 /* inodes to let go, not sent yet */
	size_t npending, cappending;
	struct event *tick;
};

/* Whether the session must be kept alive for the references. */
int
fs_ref_any(const struct fs *fs)
{
	return fs->refs != NULL && fs->refs->held > 0;
}

static void
fs_ref_unidle(struct fs *fs, struct fs_inode *n)
{
	if (!n->ref_idle)
		return;
	TAILQ_REMOVE(&fs->refs->idle, n, ref_entry);
	fs->refs->nidle--;
	n->ref_idle = 0;
}

/* The inodes of a CLOSEREF on its way. */
struct fs_closeref {
	struct fs *fs;
	size_t n;
	uint64_t ino[];
};

static void fs_ref_pend(struct fs_refs *, uint64_t);

/* A CLOSEREF that failed is sent again, but for files held again meanwhile. */
static void
fs_done_closeref(void *arg, const struct cfs_reply *r)
{
	struct fs_closeref *cr = arg;

	if (r->status != 0 && cr->fs->refs != NULL) {
		log_warnx("cannot let go of %zu open files on the chain: %s; trying again", cr->n,
			  strerror(fs_errno(r->status)));
		for (size_t i = 0; i < cr->n; i++)
			fs_ref_unsure(cr->fs, cr->ino[i], -1);
	}
	free(cr);
}

/* Sends the references let go, CFS_CLOSEREF_MAX per request. */
void
fs_ref_flush(struct fs *fs)
{
	struct fs_refs *rf = fs->refs;

	while (rf->npending > 0) {
		size_t k = rf->npending < CFS_CLOSEREF_MAX ? rf->npending : CFS_CLOSEREF_MAX;
		uint8_t *buf = xmalloc(8 * k);
		struct fs_closeref *cr = xmalloc(sizeof(*cr) + k * sizeof(cr->ino[0]));
		struct cfs_op op;

		cr->fs = fs;
		cr->n = k;
		for (size_t i = 0; i < k; i++) {
			cr->ino[i] = rf->pending[i];
			for (int b = 0; b < 8; b++)
				buf[8 * i + (size_t)b] = (uint8_t)(rf->pending[i] >> (8 * b));
		}
		memset(&op, 0, sizeof(op));
		op.type = CFS_OP_CLOSEREF;
		op.data = buf;
		op.datalen = (uint32_t)(8 * k);
		fs_send(fs, &op, fs_done_closeref, cr);
		free(buf);
		rf->npending -= k;
		memmove(rf->pending, rf->pending + k, rf->npending * sizeof(*rf->pending));
	}
}

/* Notes ino to be let go with the next flush. */
static void
fs_ref_pend(struct fs_refs *rf, uint64_t ino)
{
	if (rf->npending == rf->cappending) {
		rf->cappending = rf->cappending ? 2 * rf->cappending : 64;
		rf->pending = xrealloc(rf->pending, rf->cappending * sizeof(*rf->pending));
	}
	rf->pending[rf->npending++] = ino;
}

/* Lets n's reference go (sent with the next flush); the caller frees n if it may go. */
static void
fs_ref_drop(struct fs *fs, struct fs_inode *n)
{
	struct fs_refs *rf = fs->refs;

	if (n->ref != FS_REF_HELD)
		return;
	fs_ref_unidle(fs, n);
	n->ref = FS_REF_NONE;
	rf->held--;
	fs_ref_pend(rf, n->ino);
	if (rf->npending >= CFS_CLOSEREF_MAX)
		fs_ref_flush(fs);
	fs_lk_session(fs);
}

/*
 * n's reference is held now: an OPENREF or a create sent in session
 * generation gen answered.  0 when the session may have ended since (the
 * answer may predate that end): the caller asks again.
 */
int
fs_ref_got(struct fs *fs, struct fs_inode *n, uint64_t gen)
{
	if (gen != fs->refs->gen)
		return 0;
	if (n->ref == FS_REF_HELD)
		return 1;
	n->ref = FS_REF_HELD;
	fs->refs->held++;
	fs_lk_session(fs);
	return 1;
}

/* The generation a create's answer is checked against (fs_ref_got). */
uint64_t
fs_ref_gen(const struct fs *fs)
{
	return fs->refs->gen;
}

/*
 * An OPENREF (or a CLOSEREF) failed in a way that leaves open whether the
 * chain applied it (a timeout; status -1: always): let go, in case it did,
 * unless the file is held or asked for meanwhile.
 */
void
fs_ref_unsure(struct fs *fs, uint64_t ino, int status)
{
	struct fs_inode *n = fs_inode(fs, ino, 0);

	if (status > 0 && status != ETIMEDOUT && status != ECANCELED)
		return; /* refused: nothing happened */
	if (n != NULL && (n->ref != FS_REF_NONE || n->ref_asks > 0))
		return;
	fs_ref_pend(fs->refs, ino);
}

/* Whether n's reference is held: an open may answer at once.  It is in use again. */
int
fs_ref_use(struct fs *fs, struct fs_inode *n)
{
	if (n->ref != FS_REF_HELD)
		return 0;
	fs_ref_unidle(fs, n);
	return 1;
}

/*
 * n is not open here (its last open file was closed, or the open that
 * asked for the reference did not reach the kernel): its reference is kept
 * a while.  The caller frees n if it may go.
 */
void
fs_ref_closed(struct fs *fs, struct fs_inode *n)
{
	struct fs_refs *rf = fs->refs;

	if (n->ref != FS_REF_HELD || n->ref_idle || n->opens > 0)
		return;
	if (n->nlookup == 0 || (n->last.ino == n->ino && n->last.nlink == 0)) {
		/* The kernel forgot it (no open comes without a lookup), or it has no name left. */
		fs_ref_drop(fs, n);
		fs_ref_flush(fs);
		return;
	}
	n->ref_idle = 1;
	n->ref_idle_ms = cfs_now_ms();
	TAILQ_INSERT_TAIL(&rf->idle, n, ref_entry);
	rf->nidle++;
	if (rf->nidle > FS_REF_IDLE_MAX) {
		struct fs_inode *old = TAILQ_FIRST(&rf->idle);

		fs_ref_drop(fs, old);
		if (old != n)
			fs_inode_maybe_free(old);
	}
}

/*
 * Something happened to n that makes keeping its reference pointless or
 * wasteful: the kernel forgot it, or another host removed its last name.
 * Let go if it is not open here.
 */
void
fs_ref_maybe_drop(struct fs *fs, struct fs_inode *n)
{
	if (n->ref_idle)
		fs_ref_drop(fs, n);
}

/*
 * This mount is about to remove name in dir: if the file it names is held
 * here but not open, the removal lets it go first (CFS_REMOVE_DROPREF), so
 * that it frees the file at once.  Returns that file's inode, or 0.
 */
uint64_t
fs_ref_unlinking(struct fs *fs, uint64_t dir, const char *name)
{
	struct fs_inode *n;
	uint64_t ino;

	if (!fs_names_known(fs, dir, name, &ino) || ino == 0 ||
	    (n = fs_inode(fs, ino, 0)) == NULL || !n->ref_idle)
		return 0;
	fs_ref_unidle(fs, n);
	n->ref = FS_REF_NONE;
	fs->refs->held--;
	fs_lk_session(fs);
	fs_inode_maybe_free(n);
	return ino;
}

/*
 * A removal that was to let ino go failed, and nothing of it happened: let
 * it go by itself, unless it was opened again meanwhile.
 */
void
fs_ref_unlink_failed(struct fs *fs, uint64_t ino)
{
	fs_ref_unsure(fs, ino, -1);
}

/* Completion of an OPENREF taken again after the session may have ended. */
static void
fs_done_reref(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;
	struct fs_inode *n = fs_inode(c->fs, c->ino, 0);

	if (n != NULL)
		n->ref_asks--;
	if (r->status == 0 && n != NULL && !fs_ref_got(c->fs, n, c->hold)) {
		fs_ref_ask(c->fs, n, fs_done_reref, c); /* the session may have ended again */
		return;
	}
	if (r->status == 0 && n != NULL) {
		fs_ref_closed(c->fs, n); /* closed meanwhile: kept a while, as any */
	} else if (r->status != 0) {
		log_warnx("inode %llu, open here, cannot be held open on the chain again: %s",
			  (unsigned long long)c->ino, strerror(fs_errno(r->status)));
		fs_ref_unsure(c->fs, c->ino, r->status);
	}
	if (n != NULL)
		fs_inode_maybe_free(n);
	free(c);
}

/* Sends an OPENREF for n; done gets a struct fs_call with ino set. */
void
fs_ref_ask(struct fs *fs, struct fs_inode *n, cfs_client_done done, struct fs_call *c)
{
	struct fs_refs *rf = fs->refs;
	struct cfs_op op;

	/*
	 * A CLOSEREF of it not sent yet would come after this OPENREF and
	 * undo it: it is not sent (the chain still holds the reference).
	 */
	for (size_t i = 0; i < rf->npending; i++)
		if (rf->pending[i] == n->ino) {
			rf->pending[i] = rf->pending[--rf->npending];
			break;
		}
	c->hold = rf->gen;
	n->ref_asks++;
	fs_op_name(&op, CFS_OP_OPENREF, n->ino, NULL);
	fs_submit(fs, &op, done, c);
}

/* Takes n's reference again, not for an open waiting on it. */
void
fs_ref_again(struct fs *fs, struct fs_inode *n)
{
	fs_ref_ask(fs, n, fs_done_reref, fs_call(fs, NULL, n->ino));
}

/*
 * The session may have ended on the chain (its lease ran out): what it
 * held open may be let go already.  Files open here are held again (one
 * removed meanwhile is gone: its reads fail), the others let go.
 */
void
fs_ref_lost(struct fs *fs)
{
	size_t again = 0;

	fs->refs->gen++; /* answers to what was asked before prove nothing now */
	for (size_t i = 0; i < FS_BUCKETS; i++) {
		struct fs_inode *n, *next;

		for (n = LIST_FIRST(&fs->inodes[i]); n != NULL; n = next) {
			next = LIST_NEXT(n, hash);
			if (n->ref != FS_REF_HELD)
				continue;
			if (n->opens == 0) {
				fs_ref_drop(fs, n);
				fs_inode_maybe_free(n); /* next was taken before */
				continue;
			}
			n->ref = FS_REF_NONE;
			fs->refs->held--;
			fs_ref_again(fs, n);
			again++;
		}
	}
	fs_ref_flush(fs);
	if (again > 0)
		log_warnx("holding %zu open files on the chain again", again);
}

/* Every half second: references idle for FS_REF_IDLE_MS go, and what was let go is sent. */
static void
fs_ref_tick(evutil_socket_t fd, short what, void *arg)
{
	struct fs *fs = arg;
	struct fs_refs *rf = fs->refs;
	uint64_t now = cfs_now_ms();
	struct fs_inode *n;

	(void)fd;
	(void)what;
	while ((n = TAILQ_FIRST(&rf->idle)) != NULL && n->ref_idle_ms + FS_REF_IDLE_MS <= now) {
		fs_ref_drop(fs, n);
		fs_inode_maybe_free(n);
	}
	fs_ref_flush(fs);
}

void
fs_ref_init(struct fs *fs)
{
	struct timeval tv = {0, 500 * 1000};

	fs->refs = xcalloc(1, sizeof(*fs->refs));
	TAILQ_INIT(&fs->refs->idle);
	fs->refs->tick = event_new(fs->base, -1, EV_PERSIST, fs_ref_tick, fs);
	if (fs->refs->tick == NULL)
		fatalx("event_new failed");
	event_add(fs->refs->tick, &tv);
}

/*
 * At unmount, the client is gone already: what is still held goes when
 * the session's lease runs out on the chain (LKEXPIRE).
 */
void
fs_ref_free(struct fs *fs)
{
	struct fs_refs *rf = fs->refs;

	if (rf == NULL)
		return;
	event_free(rf->tick);
	free(rf->pending);
	free(rf);
	fs->refs = NULL;
}
