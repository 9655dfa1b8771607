/* The FUSE client's file I/O: open, read, write, flush, release, fsync; see fs_int.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/wire.h"
#include "fs/fs.h"
#include "fs/fs_int.h"

/*
 * How an open file handle reaches the data: directly (every read and write a
 * chain request, exactly what the tail has; see fs.h for the race this
 * avoids), or with the page cache kept only while the data version is the
 * one seen at the last open.
 */
static void
fs_open_mode(struct fs *fs, struct fs_inode *n, const struct cfs_attr *a,
	     struct fuse_file_info *fi)
{
	if (!fs->o.page_cache && S_ISREG(a->mode)) {
		fi->direct_io = 1;
		fi->keep_cache = 0;
	} else {
		fi->keep_cache = n->version != 0 && n->version == a->version;
	}
	n->version = a->version;
}

/* Answers an open (or, with e, a create) with a fresh handle; counts it once the kernel has it. */
static void
fs_reply_opened(struct fs *fs, fuse_req_t req, struct fs_inode *n, struct fuse_file_info *fi,
		const struct fuse_entry_param *e)
{
	struct fs_handle *h = xcalloc(1, sizeof(*h));
	int rc;

	fi->fh = (uint64_t)(uintptr_t)h;
	/*
	 * Nothing is written through it: its close has nothing to wait for or
	 * report, unless locks were asked for on the file here (a close drops
	 * the closer's POSIX locks, which the kernel leaves to our flush).
	 */
	if ((fi->flags & O_ACCMODE) == O_RDONLY && !n->locked)
		fi->noflush = 1;
	rc = e != NULL ? fuse_reply_create(req, e, fi) : fuse_reply_open(req, fi);
	if (rc != 0) {
		free(h); /* the opener was interrupted: no release will come (no owners yet) */
		fs_ref_closed(fs, n);
		return;
	}
	n->opens++;
	fs->nopen++;
	fs_ref_use(fs, n);
}

/* The handle of an open file. */
static struct fs_handle *
fs_handle(const struct fuse_file_info *fi)
{
	return (struct fs_handle *)(uintptr_t)fi->fh;
}

/*
 * Immutable and append-only files (chattr): the kernel checks them only
 * for local filesystems.  The chain refuses the writes anyway (the error
 * then shows at close or fsync); refusing the open says so at once, when
 * the attributes at hand are current.  (O_TRUNC never reaches open here:
 * without ATOMIC_O_TRUNC it comes as a SETATTR of the size, which the chain
 * refuses.)
 */
static int
fs_open_forbidden(const struct cfs_attr *a, int flags)
{
	if ((flags & O_ACCMODE) == O_RDONLY)
		return 0;
	return (a->flags & CFS_FL_IMMUTABLE) || ((a->flags & CFS_FL_APPEND) && !(flags & O_APPEND));
}

/*
 * An open whose file another host removed after the kernel's lookup: 0 when
 * it is to be answered ESTALE, so that the kernel looks the name up again;
 * 1 when it is to succeed instead.  It succeeds when it is that retry (this
 * process was answered ESTALE a moment ago) and raced again, and whenever
 * the retry could not be recognised: an unknown process (pid 0, from
 * outside the mount's pid namespace, or a kernel-internal open that is not
 * retried), or every slot taken by processes whose retries are due.
 */
static int
fs_stale_open_retried(struct fs *fs, fuse_req_t req)
{
	pid_t pid = fuse_req_ctx(req)->pid;
	uint64_t now = cfs_now_ms();
	unsigned free_slot = FS_STALE_OPENS;

	if (pid <= 0)
		return 1;
	for (unsigned i = 0; i < FS_STALE_OPENS; i++) {
		if (fs->stale_open[i].until <= now) {
			free_slot = i;
			continue;
		}
		if (fs->stale_open[i].pid == pid) {
			fs->stale_open[i].until = 0;
			return 1;
		}
	}
	if (free_slot == FS_STALE_OPENS)
		return 1;
	fs->stale_open[free_slot].pid = pid;
	fs->stale_open[free_slot].until = now + FS_STALE_OPEN_MS;
	return 0;
}

/*
 * Completion of open's revalidation (GETATTR) or of its open reference
 * (OPENREF, which answers the attributes too): keep the page cache only
 * for an unchanged version.
 */
static void
fs_done_open(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;
	struct fs_inode *n = fs_inode(c->fs, c->ino, 1);

	if (c->type == CFS_OP_OPENREF)
		n->ref_asks--;
	if (c->type == CFS_OP_OPENREF && r->status == ENOENT && !c->fs->o.page_cache &&
	    fs_stale_open_retried(c->fs, c->req)) {
		/*
		 * Another host removed the file between the kernel's lookup and
		 * this open, and nothing held it: it is gone.  The first time,
		 * the open is answered ESTALE (below), and the kernel looks the
		 * name up afresh and opens what it finds: the file that
		 * replaced it, or ENOENT.  This is that retry, and it raced
		 * again (a name replaced over and over): it succeeds, as opens
		 * did before open references (the lookup saw the file), and
		 * reads through it find the file gone (ESTALE).  Failing it
		 * would hand ESTALE to the caller.
		 */
		fs_reply_opened(c->fs, c->req, n, &c->fi, NULL);
		fs_inode_maybe_free(n);
		free(c);
		return;
	}
	if (r->status != 0) {
		fuse_reply_err(c->req, fs_errno_ino(r->status));
		if (c->type == CFS_OP_OPENREF)
			fs_ref_unsure(c->fs, n->ino, r->status);
		else
			fs_ref_closed(c->fs, n); /* taken out of the idle list for this open */
		fs_inode_maybe_free(n);
		free(c);
		return;
	}
	if ((c->type == CFS_OP_OPENREF && !fs_ref_got(c->fs, n, c->hold)) ||
	    (c->type != CFS_OP_OPENREF && n->ref != FS_REF_HELD)) {
		/* The session may have ended meanwhile, taking the reference: again. */
		c->type = CFS_OP_OPENREF;
		fs_ref_ask(c->fs, n, fs_done_open, c);
		return;
	}
	if (c->type != CFS_OP_OPENREF)
		fs_lease_note(c->fs, &r->attr);
	n->last = r->attr;
	if (fs_open_forbidden(&r->attr, c->fi.flags)) {
		/* Fresh attributes (page_cache's GETATTR, an OPENREF): the flags forbid it. */
		fuse_reply_err(c->req, EPERM);
		fs_ref_closed(c->fs, n); /* the open that took or used the reference failed */
		fs_inode_maybe_free(n);
		free(c);
		return;
	}
	if (c->fs->o.page_cache)
		fs_open_mode(c->fs, n, &r->attr, &c->fi);
	fs_reply_opened(c->fs, c->req, n, &c->fi, NULL);
	fs_inode_maybe_free(n);
	free(c);
}

/* The first open here of a file: held open on the chain before it answers (fs_ref.c). */
static void
fs_open_ref(struct fs *fs, fuse_req_t req, struct fs_inode *n, const struct fuse_file_info *fi)
{
	struct fs_call *c = fs_call(fs, req, n->ino);

	c->fi = *fi;
	c->type = CFS_OP_OPENREF;
	fs_ref_ask(fs, n, fs_done_open, c);
}

/* open, once the inode's own writes are in. */
static void
fs_open_run(struct fs *fs, struct fs_wait *w)
{
	struct fs_inode *n = fs_inode(fs, w->ino, 0);
	struct fs_call *c;
	struct cfs_op op;

	if (n != NULL && n->ref == FS_REF_HELD && n->version != 0 &&
	    n->version == n->lease_version && fs_lease_valid(fs, n)) {
		/* Unchanged since the last open, and the tail would recall a change. */
		struct fuse_file_info fi;

		if (n->last.ino == n->ino && fs_open_forbidden(&n->last, w->flags)) {
			fuse_reply_err(w->req, EPERM);
			return;
		}
		memset(&fi, 0, sizeof(fi));
		fi.flags = w->flags;
		fi.keep_cache = 1;
		fs_reply_opened(fs, w->req, n, &fi, NULL);
		return;
	}
	if (n == NULL || n->ref != FS_REF_HELD) {
		struct fuse_file_info fi;

		memset(&fi, 0, sizeof(fi));
		fi.flags = w->flags;
		fs_open_ref(fs, w->req, fs_inode(fs, w->ino, 1), &fi);
		return;
	}
	fs_ref_use(fs, n); /* not let go while the GETATTR is on its way */
	c = fs_call(fs, w->req, w->ino);
	c->fi.flags = w->flags;
	fs_op_name(&op, CFS_OP_GETATTR, w->ino, NULL);
	fs_submit(fs, &op, fs_done_open, c);
}

void
fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_wait *w;
	struct fs_inode *n = fs_inode(fs, ino, 0);

	/* Under a lease this mount's view of the flags is the chain's (fs_open_forbidden). */
	if (!fs->o.page_cache && n != NULL && n->last.ino == ino && fs_lease_valid(fs, n) &&
	    fs_open_forbidden(&n->last, fi->flags)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (!fs->o.page_cache) {
		/*
		 * Every read and write of a direct-I/O file goes to the chain, so
		 * open has nothing to revalidate: the kernel found the inode by a
		 * lookup at the tail a moment ago, within this same open().  Asking
		 * again would only add a round trip, and a second chance to find
		 * the inode replaced by another host in between (twice in a row
		 * is an ESTALE that the kernel hands to the caller).  FUSE_OPEN
		 * comes only for regular files.
		 */
		fi->direct_io = 1;
		fi->keep_cache = 0;
		n = fs_inode(fs, ino, 1);
		n->version = 0;
		if (!fs_ref_use(fs, n)) {
			fs_open_ref(fs, req, n, fi);
			return;
		}
		fs_reply_opened(fs, req, n, fi, NULL);
		fs_inode_maybe_free(n);
		return;
	}
	w = fs_wait(fs_open_run, req, ino);
	w->flags = fi->flags;
	fs_after_writes(fs, w);
}

/* create's answer: the new file is opened with a fresh version. */
static void
fs_done_create(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;
	struct fs_inode *n;
	struct fuse_entry_param e;

	if (r->status != 0) {
		fuse_reply_err(c->req, fs_errno(r->status));
		free(c);
		return;
	}
	n = fs_inode(c->fs, r->attr.ino, 1);
	n->last = r->attr;
	if (!fs_ref_got(c->fs, n, c->hold)) /* CFS_CREATE_OPENREF */
		fs_ref_again(c->fs, n);     /* the session may have ended since it was sent */
	/*
	 * An existing file that O_CREAT opened may have been truncated (with
	 * O_TRUNC) by an op that named only its directory; the new inode was
	 * not known when the answer's lease was noted (fs_upd_done).
	 */
	fs_dc_forget(n);
	if (r->lease_ms > 0) {
		fs_lease_note(c->fs, &r->attr);
		if (c->fi.flags & O_EXCL)
			fs_dc_created(c->fs, n);
	}
	/* O_CREAT of an existing file opens it: its cache is as good as its version. */
	fs_open_mode(c->fs, n, &r->attr, &c->fi);
	fs_entry(c->fs, &r->attr, &e);
	fs_reply_opened(c->fs, c->req, n, &c->fi, &e);
	free(c);
}

void
fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	  struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fs_call *c;
	struct cfs_op op;

	if (!fs_name_ok(req, name))
		return;
	fs_op_name(&op, CFS_OP_CREATE, parent, name);
	op.mode = S_IFREG | (mode & 07777);
	op.uid = ctx->uid;
	op.gid = ctx->gid;
	if (fs->dont_mask)
		op.valid = ctx->umask & CFS_CREATE_UMASK; /* the head applies it (or a default ACL) */
	if (fi->flags & O_EXCL)
		op.flags = CFS_CREATE_EXCL;
	else if (fi->flags & O_TRUNC)
		op.flags = CFS_CREATE_TRUNC;
	op.flags |= CFS_CREATE_OPENREF;
	c = fs_call(fs, req, parent);
	c->fi = *fi;
	c->hold = fs_ref_gen(fs);
	fs_submit(fs, &op, fs_done_create, c);
}

/* Completion: read. */
static void
fs_done_read(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;

	if (r->status != 0)
		fuse_reply_err(c->req, fs_errno_ino(r->status));
	else
		fuse_reply_buf(c->req, (const char *)r->data, r->datalen);
	fs_dc_read_done(c->fs, c->ino, c->seq, c->off, c->size, r);
	free(c);
}

/* Asks the tail for a read of req. */
void
fs_read_submit(struct fs *fs, fuse_req_t req, uint64_t ino, uint64_t off, size_t size)
{
	struct cfs_op op;
	struct fs_inode *n = fs_inode(fs, ino, 0);
	struct fs_call *c = fs_call(fs, req, ino);

	fs_op_name(&op, CFS_OP_READ, ino, NULL);
	op.offset = off;
	op.length = size > CFS_MAX_IO ? CFS_MAX_IO : size;
	c->off = off;
	c->size = op.length;
	c->seq = n != NULL ? n->dc_seq : 0;
	fs_submit(fs, &op, fs_done_read, c);
}

/* read, once the inode's own writes are in. */
static void
fs_read_run(struct fs *fs, struct fs_wait *w)
{
	struct fs_inode *n = fs_inode(fs, w->ino, 0);

	if (n != NULL && fs_dc_read(fs, w->req, n, (uint64_t)w->off, w->size))
		return;
	if (!fs_ra_read(fs, w->req, w->ino, (uint64_t)w->off, w->size))
		fs_read_submit(fs, w->req, w->ino, (uint64_t)w->off, w->size);
}

void
fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs_wait *w = fs_wait(fs_read_run, req, ino);

	w->size = size;
	w->off = off;
	fs_after_writes(fuse_req_userdata(req), w);
}

/* A pipelined write was acknowledged (or failed). */
static void
fs_done_write(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;
	struct fs *fs = c->fs;
	struct fs_inode *n = fs_inode(fs, c->ino, 1);
	int err = fs_errno_ino(r->status);

	n->writes--;
	fs->inflight -= c->size;
	fs->pipelined -= c->npipe;
	if (c->req != NULL) {
		if (err != 0)
			fuse_reply_err(c->req, err);
		else
			fuse_reply_write(c->req, r->value);
	} else if (err != 0 && c->h->err == 0) {
		c->h->err = err; /* for the next flush, fsync or release of its file */
		log_warnx("write to inode %llu failed: %s; reported at close",
			  (unsigned long long)c->ino, strerror(err));
	}
	/* The writes held behind this one go now (not when the client is being freed). */
	if (n->held != NULL && n->writes == 1 && r->status != ECANCELED)
		fs_held_send(fs, n);
	fs_run_waiters(fs, n);
	fs_inode_maybe_free(n);
	free(c);
}

/* Sends the first inode's held writes. */
static void
fs_held_send_first(struct fs *fs)
{
	struct fs_inode *n = TAILQ_FIRST(&fs->held);
	struct fs_call *c = n->held;
	struct cfs_op op;

	TAILQ_REMOVE(&fs->held, n, held_entry);
	n->held = NULL;
	fs_op_name(&op, CFS_OP_WRITE, c->ino, NULL);
	op.offset = c->off;
	op.flags = c->wflags;
	op.valid = c->wvalid;
	op.data = c->buf;
	op.datalen = (uint32_t)c->size;
	fs_submit_now(fs, &op, fs_done_write, c); /* copies the data */
	free(c->buf);
	c->buf = NULL;
}

void
fs_held_send(struct fs *fs, struct fs_inode *n)
{
	while (n->held != NULL)
		fs_held_send_first(fs);
}

void
fs_held_send_all(struct fs *fs)
{
	while (!TAILQ_EMPTY(&fs->held))
		fs_held_send_first(fs);
}

void
fs_held_drop(struct fs *fs, struct fs_inode *n, int err)
{
	struct fs_call *c = n->held;

	if (c == NULL)
		return;
	TAILQ_REMOVE(&fs->held, n, held_entry);
	n->held = NULL;
	if (c->h->err == 0)
		c->h->err = err;
	n->writes--;
	fs->inflight -= c->size;
	fs->pipelined -= c->npipe;
	free(c->buf);
	free(c);
}

/* Whether a pipelined write goes into the held one: same open file, caller and kind, adjacent. */
static int
fs_held_joins(const struct fs_call *held, const struct fs_handle *h, uint32_t uid, uint32_t gid,
	      const struct cfs_op *op)
{
	if (held->h != h || held->uid != uid || held->gid != gid || held->wflags != op->flags ||
	    held->wvalid != op->valid || held->size + op->datalen > CFS_MAX_IO)
		return 0;
	return (op->flags & CFS_WRITE_APPEND) != 0 || held->off + held->size == op->offset;
}

/* Adds a write's data to the held one. */
static void
fs_held_add(struct fs_call *held, const void *buf, size_t size)
{
	if (held->size + size > held->cap) {
		size_t cap = held->cap ? held->cap : 4096;

		while (cap < held->size + size)
			cap *= 2;
		held->buf = xrealloc(held->buf, cap);
		held->cap = cap;
	}
	memcpy(held->buf + held->size, buf, size);
	held->size += size;
	held->npipe++;
}

/*
 * write: pipelined, it is answered at once and sent, or, while another
 * write of the file is on its way, held and joined with the next adjacent
 * ones into one WRITE, sent when that one is answered (tiny appends cost one
 * chain entry per round trip, not one each).  Anything else this mount
 * sends goes after the held writes, so nothing is observably reordered.
 */
void
fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
	 struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_inode *n = fs_inode(fs, ino, 1);
	struct fs_call *c = fs_call(fs, req, ino);
	struct cfs_op op;
	int pipe;

	if (size > CFS_MAX_IO || n->lock_lost) {
		/* Its locks were lost: what it writes may meet another holder's writes. */
		fuse_reply_err(req, n->lock_lost ? EIO : EINVAL);
		free(c);
		return;
	}
	fs_ra_drop(fs, n); /* the writer is never recalled: its readahead goes now */
	fs_op_name(&op, CFS_OP_WRITE, ino, NULL);
	op.offset = (uint64_t)off;
	op.data = (const uint8_t *)buf;
	op.datalen = (uint32_t)size;
	/* The kernel's offset is its last known size: the head knows the real end. */
	if (fi->flags & O_APPEND)
		op.flags |= CFS_WRITE_APPEND;
	/*
	 * A write by anyone but root drops set-uid (and set-gid with group
	 * execute), as file_remove_privs() does.  On a direct-I/O file the kernel
	 * leaves that to us: its FUSE_WRITE_KILL_SUIDGID flag does not reach us
	 * through libfuse 3.14.
	 */
	if (fuse_req_ctx(req)->uid != 0)
		op.valid |= CFS_SET_KILL_SUID;
	fs_dc_write(fs, n, op.offset, buf, size, (op.flags & CFS_WRITE_APPEND) != 0);
	n->version = 0; /* our own write: the cache is ours, but others may interleave */
	fs->inflight += size;
	/*
	 * Pipelined: the kernel hears "written" as soon as the chain has the
	 * request; flush/fsync report a failure.  With -o sync, or when too
	 * much is in flight, write() waits for the chain instead.
	 */
	pipe = !fs->o.sync && fs->inflight <= fs->o.max_inflight && fs->pipelined < FS_MAX_PIPELINED;
	/*
	 * Joining a held write that is not the last one puts this write before
	 * other files' held writes: writes to different files that no close
	 * or fsync has waited for yet, whose order no program can see (other
	 * hosts see them after a close; this mount's reads send them first).
	 */
	if (pipe && n->held != NULL && fs_held_joins(n->held, fs_handle(fi), c->uid, c->gid, &op)) {
		fs_held_add(n->held, buf, size);
		fs->pipelined++;
		fuse_reply_write(req, size);
		free(c);
		return;
	}
	if (n->held != NULL)
		fs_held_send(fs, n);
	c->size = size;
	c->h = fs_handle(fi); /* lives until release, which waits for this write */
	n->writes++;
	if (pipe) {
		fuse_reply_write(req, size);
		c->req = NULL;
		fs->pipelined++;
	}
	if (pipe && n->writes > 1) {
		/* Another write of it is on its way: this one waits, and others may join it. */
		c->size = 0;
		c->off = op.offset;
		c->wflags = op.flags;
		c->wvalid = op.valid;
		fs_held_add(c, buf, size);
		n->held = c;
		TAILQ_INSERT_TAIL(&fs->held, n, held_entry);
		return;
	}
	c->npipe = pipe;
	fs_submit(fs, &op, fs_done_write, c);
}

/* flush/release: answer once every write of the inode is in, with the file's first error. */
static void
fs_flush_run(struct fs *fs, struct fs_wait *w)
{
	int err = w->h->err;

	(void)fs;
	w->h->err = 0;
	fuse_reply_err(w->req, err);
}

/* A wait for an open file's writes (flush, fsync, release). */
static struct fs_wait *
fs_wait_file(void (*run)(struct fs *, struct fs_wait *), fuse_req_t req, fuse_ino_t ino,
	     const struct fuse_file_info *fi)
{
	struct fs_wait *w = fs_wait(run, req, ino);

	w->h = fs_handle(fi);
	return w;
}

/* flush: the closer's POSIX locks go first (fs_lock.c), then the answer. */
static void
fs_flush_locks(struct fs *fs, struct fs_wait *w)
{
	if (!fs_lk_close(fs, w, w->owner, 0, fs_flush_run))
		fs_flush_run(fs, w);
}

void
fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_wait *w = fs_wait_file(fs_flush_locks, req, ino, fi);

	w->owner = fi->lock_owner;
	fs_after_writes(fuse_req_userdata(req), w);
}

/*
 * release: like flush, and the last release here lets the file's open
 * reference go, a while later (fs_ref.c); the file's flocks and OFD locks
 * went before (fs_release).
 */
static void
fs_release_run(struct fs *fs, struct fs_wait *w)
{
	struct fs_inode *n = fs_inode(fs, w->ino, 0);

	if (n != NULL && n->opens > 0) {
		n->opens--;
		fs->nopen--;
		if (n->opens == 0) {
			fs_ra_free(fs, n);
			n->lock_lost = 0; /* closed everywhere here: new locks may be asked for */
		}
		if (n->opens == 0)
			fs_ref_closed(fs, n);
	}
	fs_flush_run(fs, w);
	free(w->h->owners);
	free(w->h); /* every write through it is in: fs_after_writes */
	if (n != NULL)
		fs_inode_maybe_free(n);
}

static void
fs_release_locks(struct fs *fs, struct fs_wait *w)
{
	if (!fs_lk_close(fs, w, 0, 1, fs_release_run))
		fs_release_run(fs, w);
}

void
fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fs_after_writes(fuse_req_userdata(req), fs_wait_file(fs_release_locks, req, ino, fi));
}

/* Completion: fsync, with a pipelined write's error first. */
static void
fs_done_fsync(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;
	int err = fs_errno_ino(r->status);

	if (c->h != NULL && c->h->err != 0) { /* fsyncdir has no file handle */
		err = c->h->err;
		c->h->err = 0;
	}
	fuse_reply_err(c->req, err);
	free(c);
}

/* fsync: every node syncs its store before the chain answers. */
void
fs_fsync_run(struct fs *fs, struct fs_wait *w)
{
	struct cfs_op op;

	struct fs_call *c = fs_call(fs, w->req, w->ino);

	c->h = w->h;
	fs_op_name(&op, CFS_OP_FSYNC, w->ino, NULL);
	fs_submit(fs, &op, fs_done_fsync, c);
}

void
fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fs_after_writes(fuse_req_userdata(req), fs_wait_file(fs_fsync_run, req, ino, fi));
}

void
fs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
	     struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct cfs_op op;

	if (offset < 0 || length <= 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	fs_op_name(&op, CFS_OP_FALLOCATE, ino, NULL);
	op.flags = (uint32_t)mode;
	op.offset = (uint64_t)offset;
	op.length = (uint64_t)length;
	fs_inode(fs, ino, 1)->version = 0;
	fs_ra_drop(fs, fs_inode(fs, ino, 1));
	fs_submit(fs, &op, fs_done_err, fs_call(fs, req, ino));
}

/* Completion: lseek. */
static void
fs_done_lseek(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;

	if (r->status != 0)
		fuse_reply_err(c->req, fs_errno_ino(r->status));
	else
		fuse_reply_lseek(c->req, (off_t)r->value);
	free(c);
}

/* lseek SEEK_DATA/SEEK_HOLE, once the inode's writes are in. */
static void
fs_lseek_run(struct fs *fs, struct fs_wait *w)
{
	struct cfs_op op;

	fs_op_name(&op, CFS_OP_LSEEK, w->ino, NULL);
	op.offset = (uint64_t)w->off;
	op.flags = (uint32_t)w->whence;
	fs_submit(fs, &op, fs_done_lseek, fs_call(fs, w->req, w->ino));
}

void
fs_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
	struct fs_wait *w;

	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		fuse_reply_err(req, EINVAL); /* the kernel does the others itself */
		return;
	}
	w = fs_wait(fs_lseek_run, req, ino);
	w->off = off;
	w->whence = whence;
	fs_after_writes(fuse_req_userdata(req), w);
}

static void fs_copy_next(struct fs_call *);

/* copy_file_range: a chunk was written; go on or answer. */
static void
fs_done_copy_write(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;

	if (r->status != 0) {
		if (c->done > 0)
			fuse_reply_write(c->req, c->done);
		else
			fuse_reply_err(c->req, fs_errno(r->status));
		free(c->buf);
		free(c);
		return;
	}
	c->done += r->value;
	c->off_in += (off_t)r->value;
	c->off_out += (off_t)r->value;
	fs_copy_next(c);
}

/* copy_file_range: a chunk was read; write it. */
static void
fs_done_copy_read(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;
	struct cfs_op op;

	if (r->status != 0 || r->datalen == 0) {
		if (r->status != 0 && c->done == 0)
			fuse_reply_err(c->req, fs_errno(r->status));
		else
			fuse_reply_write(c->req, c->done);
		free(c->buf);
		free(c);
		return;
	}
	memcpy(c->buf, r->data, r->datalen);
	fs_op_name(&op, CFS_OP_WRITE, c->ino_out, NULL);
	op.offset = (uint64_t)c->off_out;
	op.data = c->buf;
	op.datalen = r->datalen;
	/* Not counted as a pipelined write: a read would not wait for it. */
	fs_dc_forget(fs_inode(c->fs, c->ino_out, 1));
	fs_submit(c->fs, &op, fs_done_copy_write, c);
}

/* copy_file_range: the next chunk, or the answer. */
static void
fs_copy_next(struct fs_call *c)
{
	struct cfs_op op;
	size_t left = c->size - c->done;

	if (left == 0) {
		fuse_reply_write(c->req, c->done);
		free(c->buf);
		free(c);
		return;
	}
	fs_op_name(&op, CFS_OP_READ, c->ino, NULL);
	op.offset = (uint64_t)c->off_in;
	op.length = left > CFS_MAX_IO ? CFS_MAX_IO : left;
	fs_submit(c->fs, &op, fs_done_copy_read, c);
}

/* copy_file_range, once the source's own writes are in. */
static void
fs_copy_run(struct fs *fs, struct fs_wait *w)
{
	fs_copy_next(w->call);
}

void
fs_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in, struct fuse_file_info *fi_in,
		   fuse_ino_t ino_out, off_t off_out, struct fuse_file_info *fi_out, size_t len,
		   int flags)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_call *c;
	struct fs_wait *w;

	if (flags != 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	c = fs_call(fs, req, ino_in);
	c->ino_out = ino_out;
	c->off_in = off_in;
	c->off_out = off_out;
	c->size = len;
	c->buf = xmalloc(CFS_MAX_IO);
	fs_inode(fs, ino_out, 1)->version = 0;
	fs_ra_drop(fs, fs_inode(fs, ino_out, 1));
	/* The source's own writes first; the target's are ordered on the head link. */
	w = fs_wait(fs_copy_run, req, ino_in);
	w->call = c;
	fs_after_writes(fs, w);
}
