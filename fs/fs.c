/* The FUSE operations of the chainfs client, their shared core; see fs.h and fs_int.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/wire.h"
#include "fs/fs.h"
#include "fs/fs_int.h"

/* Finds an inode's state, creating it when create is set. */
struct fs_inode *
fs_inode(struct fs *fs, uint64_t ino, int create)
{
	struct fs_inode_list *b = &fs->inodes[(ino * 0x9E3779B97F4A7C15ull) >> 52];
	struct fs_inode *n;

	LIST_FOREACH(n, b, hash)
		if (n->ino == ino)
			return n;
	if (!create)
		return NULL;
	n = xcalloc(1, sizeof(*n));
	n->ino = ino;
	TAILQ_INIT(&n->waiters);
	LIST_INSERT_HEAD(b, n, hash);
	return n;
}

/* Drops an inode's state once nothing refers to it. */
void
fs_inode_maybe_free(struct fs_inode *n)
{
	if (n->nlookup == 0 && n->writes == 0 && n->opens == 0 && n->dir_opens == 0 &&
	    n->upd_inflight == 0 && !n->dc_prefetching && n->ref == FS_REF_NONE &&
	    n->ref_asks == 0 &&
	    TAILQ_EMPTY(&n->waiters) && n->names == NULL) {
		fs_dc_drop(n);
		LIST_REMOVE(n, hash);
		free(n);
	}
}

/* Maps a chain status to what the kernel gets. */
int
fs_errno(int status)
{
	if (status > 0)
		return status == ETIMEDOUT || status == ECANCELED || status == ENOTCONN ? EIO
											: status;
	return status == 0 ? 0 : EIO; /* chain-level statuses never reach applications */
}

/*
 * Maps the status of an operation on an inode (not on a name).  ENOENT there
 * means the inode itself is gone: another host removed or replaced it after
 * the kernel looked the name up.  ESTALE says so, and the kernel then walks
 * the path once more with LOOKUP_REVAL (open, stat, chmod, the xattr calls,
 * ...), as it does for NFS, so an open() racing with a rename-over finds the
 * new file instead of failing with ENOENT while a file was there all along.
 */
int
fs_errno_ino(int status)
{
	return status == ENOENT ? ESTALE : fs_errno(status);
}

/* Fills a struct stat from a chain attr. */
void
fs_stat(const struct cfs_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = a->ino;
	st->st_mode = a->mode;
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_rdev = a->rdev;
	st->st_size = (off_t)a->size;
	st->st_blocks = (blkcnt_t)a->blocks;
	st->st_blksize = 65536;
	st->st_atim.tv_sec = a->atime_sec;
	st->st_atim.tv_nsec = a->atime_nsec;
	st->st_mtim.tv_sec = a->mtime_sec;
	st->st_mtim.tv_nsec = a->mtime_nsec;
	st->st_ctim.tv_sec = a->ctime_sec;
	st->st_ctim.tv_nsec = a->ctime_nsec;
}

/* An entry for the kernel: counts a lookup. */
void
fs_entry(struct fs *fs, const struct cfs_attr *a, struct fuse_entry_param *e)
{
	struct fs_inode *n;

	memset(e, 0, sizeof(*e));
	e->ino = a->ino;
	e->generation = 1;
	fs_stat(a, &e->attr);
	e->attr_timeout = fs_attr_ttl(fs);
	e->entry_timeout = fs->o.entry_timeout;
	n = fs_inode(fs, a->ino, 1);
	n->nlookup++;
	n->last = *a; /* what fstat of an open file removed on another host answers */
	fs_lease_note(fs, a);
}

/* A new call context. */
struct fs_call *
fs_call(struct fs *fs, fuse_req_t req, uint64_t ino)
{
	struct fs_call *c = xcalloc(1, sizeof(*c));

	c->fs = fs;
	c->req = req;
	c->ino = ino;
	if (req != NULL) {
		const struct fuse_ctx *ctx = fuse_req_ctx(req);

		c->uid = ctx->uid;
		c->gid = ctx->gid;
	}
	return c;
}

static void
fs_upd_done(void *arg, const struct cfs_reply *r)
{
	struct fs_upd *u = arg;

	fs_upd_end(u->fs, u, r);
	/*
	 * What it left, under a lease, until another host changes it (which
	 * recalls the lease): the attributes it shows (a write's too), and the
	 * directories it changed, so that paths through them are walked here.
	 */
	if (r->status == 0 && r->lease_ms > 0) {
		if ((r->flags & CFS_REPLY_ATTR) && r->attr.ino != 0)
			fs_lease_note(u->fs, &r->attr);
		for (unsigned i = 0; i < r->ndirs; i++)
			fs_lease_note(u->fs, &r->dirs[i]);
	}
	u->done(u->arg, r);
	free(u->name);
	free(u->name2);
	free(u);
}

/* Every request of the mount goes through here: after the held writes (fs_held_send_all). */
uint64_t
fs_send(struct fs *fs, const struct cfs_op *op, cfs_client_done done, void *arg)
{
	fs_held_send_all(fs);
	return cfs_client_submit(fs->cl, op, done, arg);
}

/* Sends op for call c, saying who asks, after the held writes. */
void
fs_submit(struct fs *fs, struct cfs_op *op, cfs_client_done done, struct fs_call *c)
{
	fs_held_send_all(fs); /* before anything of this op is noted */
	fs_submit_now(fs, op, done, c);
}

/* fs_submit without sending the held writes first: fs_held_send's own. */
void
fs_submit_now(struct fs *fs, struct cfs_op *op, cfs_client_done done, struct fs_call *c)
{
	struct fs_upd *u;

	op->caller_uid = c->uid;
	op->caller_gid = c->gid;
	/* An open reference changes nothing anyone caches. */
	if (fs->o.lease_ms == 0 || !cfs_op_is_update(op->type) || op->type == CFS_OP_OPENREF) {
		cfs_client_submit(fs->cl, op, done, c);
		return;
	}
	/* The tail never recalls from us what our own update changes: we forget it. */
	u = xcalloc(1, sizeof(*u));
	u->fs = fs;
	u->ino = op->ino;
	u->ino2 = op->ino2;
	u->type = op->type;
	if (op->name != NULL && op->namelen <= CFS_NAME_MAX)
		u->name = xstrdup(op->name);
	if (op->name2 != NULL && op->name2len <= CFS_NAME_MAX)
		u->name2 = xstrdup(op->name2);
	u->flags = op->flags;
	u->uid = op->caller_uid;
	u->gid = op->caller_gid;
	u->done = done;
	u->arg = c;
	fs_upd_begin(fs, u, op);
	cfs_client_submit(fs->cl, op, fs_upd_done, u);
}

/* An op with a name. */
void
fs_op_name(struct cfs_op *op, uint16_t type, uint64_t ino, const char *name)
{
	memset(op, 0, sizeof(*op));
	op->type = type;
	op->ino = ino;
	if (name != NULL) {
		size_t n = strlen(name);

		op->name = name;
		op->namelen = (uint16_t)(n > CFS_NAME_MAX ? CFS_NAME_MAX + 1 : n);
	}
}

/* Checks a name before it goes on the wire: the decoder would refuse a longer one. */
int
fs_name_ok(fuse_req_t req, const char *name)
{
	if (strlen(name) > CFS_NAME_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return 0;
	}
	return 1;
}

/* Runs the requests that waited for an inode's writes. */
void
fs_run_waiters(struct fs *fs, struct fs_inode *n)
{
	struct fs_wait *w;

	while (n->writes == 0 && (w = TAILQ_FIRST(&n->waiters)) != NULL) {
		TAILQ_REMOVE(&n->waiters, w, entry);
		w->run(fs, w);
		free(w->name);
		free(w);
	}
}

/* Runs w now, or once the inode's pipelined writes are acknowledged. */
void
fs_after_writes(struct fs *fs, struct fs_wait *w)
{
	struct fs_inode *n = fs_inode(fs, w->ino, 0);

	if (n != NULL && n->held != NULL)
		fs_held_send(fs, n); /* no reason to wait for the write before it */
	if (n == NULL || n->writes == 0) {
		w->run(fs, w);
		free(w->name);
		free(w);
		return;
	}
	TAILQ_INSERT_TAIL(&n->waiters, w, entry);
}

/* A waiter for req on ino. */
struct fs_wait *
fs_wait(void (*run)(struct fs *, struct fs_wait *), fuse_req_t req, uint64_t ino)
{
	struct fs_wait *w = xcalloc(1, sizeof(*w));

	w->run = run;
	w->req = req;
	w->ino = ino;
	return w;
}

/* Completion: reply with an entry (lookup, mknod, mkdir, symlink, link). */
void
fs_done_entry(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;
	struct fuse_entry_param e;

	if (r->status == ENOENT && c->fs->o.negative_timeout > 0) {
		memset(&e, 0, sizeof(e));
		e.entry_timeout = c->fs->o.negative_timeout;
		fuse_reply_entry(c->req, &e);
	} else if (r->status != 0) {
		fuse_reply_err(c->req, fs_errno(r->status));
	} else {
		fs_entry(c->fs, &r->attr, &e);
		fuse_reply_entry(c->req, &e);
	}
	free(c);
}

/* Completion: reply with attributes (getattr, setattr). */
void
fs_done_attr(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;
	struct fs_inode *n;
	struct stat st;

	if (r->status == ENOENT && c->type == CFS_OP_GETATTR &&
	    (n = fs_inode(c->fs, c->ino, 0)) != NULL && (n->opens > 0 || n->dir_opens > 0) &&
	    (n->last.ino == c->ino || n->lease_attr.ino == c->ino)) {
		/*
		 * Another host removed a file or directory this mount has open
		 * (or this mount removed a directory it has open).  Answer as a
		 * local filesystem does for an open unlinked file (its last
		 * attributes, no links) rather than ESTALE: the kernel checks a
		 * file it has just created with a getattr, and an ESTALE there
		 * makes it run the whole open() again, creating a second file.
		 */
		fs_stat(n->last.ino == c->ino ? &n->last : &n->lease_attr, &st);
		st.st_nlink = 0;
		fuse_reply_attr(c->req, &st, 0);
	} else if (r->status != 0) {
		fuse_reply_err(c->req, fs_errno_ino(r->status));
	} else {
		fs_stat(&r->attr, &st);
		n = fs_inode(c->fs, r->attr.ino, 0);
		if (n != NULL)
			n->last = r->attr;
		fs_lease_note(c->fs, &r->attr);
		fuse_reply_attr(c->req, &st, fs_attr_ttl(c->fs));
	}
	free(c);
}

/* Completion: reply with a status only. */
void
fs_done_err(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;

	fuse_reply_err(c->req, fs_errno_ino(r->status));
	free(c);
}

/* The kernel dropped nlookup references. */
static void
fs_forget_one(struct fs *fs, uint64_t ino, uint64_t nlookup)
{
	struct fs_inode *n = fs_inode(fs, ino, 0);

	if (n == NULL)
		return;
	n->nlookup = nlookup >= n->nlookup ? 0 : n->nlookup - nlookup;
	if (n->nlookup == 0) {
		fs_names_free(fs, n); /* no lookup comes in a directory the kernel forgot */
		fs_ref_maybe_drop(fs, n);
	}
	fs_inode_maybe_free(n);
}

static void
fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fs_forget_one(fuse_req_userdata(req), ino, nlookup);
	fuse_reply_none(req);
}

static void
fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *fd)
{
	struct fs *fs = fuse_req_userdata(req);

	for (size_t i = 0; i < count; i++)
		fs_forget_one(fs, fd[i].ino, fd[i].nlookup);
	fuse_reply_none(req);
}

/* Frees a call with owned names. */
void
fs_call_free(struct fs_call *c)
{
	free(c->name);
	free(c->name2);
	free(c);
}

/* Session parameters: big writes and reads, no caching the kernel could get wrong. */
static void
fs_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs *fs = userdata;

	conn->max_write = CFS_MAX_IO;
	conn->max_readahead = CFS_MAX_IO;
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
	/* Without it the kernel clears set-uid/set-gid itself with a setattr. */
	conn->want &= ~(unsigned)FUSE_CAP_HANDLE_KILLPRIV;
	/* O_TRUNC then arrives as a setattr of the size, one chain operation. */
	conn->want &= ~(unsigned)FUSE_CAP_ATOMIC_O_TRUNC;
	/* Locks go through the chain (fs_lock.c), not the kernel's table of this host. */
	if (conn->capable & FUSE_CAP_POSIX_LOCKS)
		conn->want |= FUSE_CAP_POSIX_LOCKS;
	if (conn->capable & FUSE_CAP_FLOCK_LOCKS)
		conn->want |= FUSE_CAP_FLOCK_LOCKS;
	/*
	 * POSIX ACLs: the kernel checks permissions with them (fetched with
	 * GETXATTR); the head keeps them and the mode in step and applies
	 * the umask, which must therefore reach it unapplied (DONT_MASK).
	 */
	if ((conn->capable & FUSE_CAP_POSIX_ACL) && (conn->capable & FUSE_CAP_DONT_MASK)) {
		conn->want |= FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;
		fs->acl = fs->dont_mask = 1;
	}
	conn->time_gran = 1;
}

static const struct fuse_lowlevel_ops fs_lowlevel_ops = {
	.init = fs_init,
	.lookup = fs_lookup,
	.forget = fs_forget,
	.forget_multi = fs_forget_multi,
	.getattr = fs_getattr,
	.setattr = fs_setattr,
	.ioctl = fs_ioctl,
	.readlink = fs_readlink,
	.mknod = fs_mknod,
	.mkdir = fs_mkdir,
	.unlink = fs_unlink,
	.rmdir = fs_rmdir,
	.symlink = fs_symlink,
	.rename = fs_rename,
	.link = fs_link,
	.open = fs_open,
	.read = fs_read,
	.write = fs_write,
	.flush = fs_flush,
	.release = fs_release,
	.fsync = fs_fsync,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.readdirplus = fs_readdirplus,
	.releasedir = fs_releasedir,
	.fsyncdir = fs_fsyncdir,
	.statfs = fs_statfs,
	.setxattr = fs_setxattr,
	.getxattr = fs_getxattr,
	.listxattr = fs_listxattr,
	.removexattr = fs_removexattr,
	.create = fs_create,
	.fallocate = fs_fallocate,
	.lseek = fs_lseek,
	.copy_file_range = fs_copy_file_range,
	.getlk = fs_getlk,
	.setlk = fs_setlk,
	.flock = fs_flock,
};

const struct fuse_lowlevel_ops *
fs_ops(void)
{
	return &fs_lowlevel_ops;
}

struct fs *
fs_new(struct event_base *base, struct cfs_client *cl, const struct fs_opts *o)
{
	struct fs *fs = xcalloc(1, sizeof(*fs));

	fs->base = base;
	fs->cl = cl;
	fs->o = *o;
	if (fs->o.max_inflight == 0)
		fs->o.max_inflight = 64u << 20;
	for (size_t i = 0; i < FS_BUCKETS; i++)
		LIST_INIT(&fs->inodes[i]);
	TAILQ_INIT(&fs->dc_lru);
	TAILQ_INIT(&fs->held);
	fs_lease_init(fs);
	fs_lk_init(fs);
	fs_ref_init(fs);
	return fs;
}

void
fs_set_session(struct fs *fs, struct fuse_session *se)
{
	fs->se = se;
}

void
fs_free(struct fs *fs)
{
	struct fs_inode *n;

	if (fs == NULL)
		return;
	fs_ref_free(fs);
	fs_lk_free(fs);
	fs_lease_free(fs);
	for (size_t i = 0; i < FS_BUCKETS; i++) {
		while ((n = LIST_FIRST(&fs->inodes[i])) != NULL) {
			struct fs_wait *w;

			while ((w = TAILQ_FIRST(&n->waiters)) != NULL) {
				TAILQ_REMOVE(&n->waiters, w, entry);
				fuse_reply_err(w->req, EIO);
				free(w->name);
				free(w);
			}
			if (n->held != NULL) { /* the client is gone: they cannot go now */
				log_warnx("unmounted with %zu bytes written to inode %llu not sent "
					  "to the chain: lost",
					  n->held->size, (unsigned long long)n->ino);
				free(n->held->buf);
				free(n->held);
			}
			fs_ra_teardown(fs, n);
			fs_names_free(fs, n);
			fs_dc_drop(n);
			LIST_REMOVE(n, hash);
			free(n);
		}
	}
	free(fs);
}
