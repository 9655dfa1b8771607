/* The FUSE operations of the chainfs client; see fs.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/log.h"
#include "common/wire.h"
#include "fs/fs.h"

#define FS_BUCKETS 4096
/*
 * Writes answered before the chain has them, at most (besides max_inflight
 * bytes): each is an update in flight, and the head disconnects a client
 * with NODE_CLIENT_UPDATE_WINDOW of them (daemon/node.h).
 */
#define FS_MAX_PIPELINED 1024
#define FS_HIDDEN_PREFIX ".chainfs-open-" /* open files unlinked by this mount */

struct fs_wait;
struct fs_call;
TAILQ_HEAD(fs_wait_list, fs_wait);

/*
 * What the client knows of an inode the kernel holds: its lookup count (it
 * is forgotten when the kernel forgets it), its pipelined writes, the first
 * error among them, and the data version seen at the last open.
 */
struct fs_inode {
	uint64_t ino;
	uint64_t nlookup;
	uint32_t writes;  /* WRITE requests not acknowledged yet */
	int err;	  /* first error of a pipelined write; flush/fsync return it */
	uint64_t version; /* data version at the last open; 0: unknown */
	struct cfs_attr last; /* attributes at the last create or getattr (last.ino 0: none) */
	uint32_t opens;	  /* open file handles of this mount */
	uint64_t orphan_dir; /* unlinked while open: hidden under this name until released */
	char *orphan_name;
	uint32_t orphan_uid, orphan_gid; /* who unlinked it: the hidden name is removed as them */
	struct fs_wait_list waiters; /* requests waiting until writes == 0 */
	LIST_ENTRY(fs_inode) hash;
};
LIST_HEAD(fs_inode_list, fs_inode);

/* A request held until an inode's writes are acknowledged. */
struct fs_wait {
	void (*run)(struct fs *, struct fs_wait *);
	fuse_req_t req;
	uint64_t ino;
	size_t size;
	off_t off;
	int whence;
	int flags;
	char *name;	      /* lookup: the name, owned */
	struct fs_call *call; /* copy_file_range: the call in progress */
	TAILQ_ENTRY(fs_wait) entry;
};

struct fs {
	struct event_base *base;
	struct cfs_client *cl;
	struct fs_opts o;
	struct fuse_session *se;
	struct fs_inode_list inodes[FS_BUCKETS];
	uint64_t inflight; /* bytes of pipelined writes */
	unsigned pipelined; /* writes answered to the kernel before the chain did */
	uint64_t nopen;	   /* open file handles, all inodes */
	uint64_t orphans;  /* counter for hidden names */
};

/* The context of one chain request made for a kernel request. */
struct fs_call {
	struct fs *fs;
	fuse_req_t req; /* NULL once answered (a pipelined write) */
	uint32_t uid, gid; /* the caller: every op says who asks (the node's export policy) */
	uint64_t ino;
	size_t size;
	int plus;
	struct fuse_file_info fi;
	/* unlink/rename of a name that may be open here: the names, owned */
	uint16_t type;
	uint64_t parent2;
	char *name, *name2;
	unsigned flags;
	/* copy_file_range */
	uint64_t ino_out;
	off_t off_in, off_out;
	size_t done;
	uint8_t *buf;
};

/* Finds an inode's state, creating it when create is set. */
static struct fs_inode *
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
static void
fs_inode_maybe_free(struct fs_inode *n)
{
	if (n->nlookup == 0 && n->writes == 0 && n->opens == 0 && TAILQ_EMPTY(&n->waiters)) {
		LIST_REMOVE(n, hash);
		free(n->orphan_name);
		free(n);
	}
}

/* Maps a chain status to what the kernel gets. */
static int
fs_errno(int status)
{
	if (status > 0)
		return status == ETIMEDOUT || status == ECANCELED ? EIO : status;
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
static int
fs_errno_ino(int status)
{
	return status == ENOENT ? ESTALE : fs_errno(status);
}

/* Fills a struct stat from a chain attr. */
static void
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
static void
fs_entry(struct fs *fs, const struct cfs_attr *a, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = a->ino;
	e->generation = 1;
	fs_stat(a, &e->attr);
	e->attr_timeout = fs->o.attr_timeout;
	e->entry_timeout = fs->o.entry_timeout;
	fs_inode(fs, a->ino, 1)->nlookup++;
}

/* A new call context. */
static struct fs_call *
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

/* Sends op for call c, saying who asks. */
static void
fs_submit(struct fs *fs, struct cfs_op *op, cfs_client_done done, struct fs_call *c)
{
	op->caller_uid = c->uid;
	op->caller_gid = c->gid;
	cfs_client_submit(fs->cl, op, done, c);
}

/* An op with a name. */
static void
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
static int
fs_name_ok(fuse_req_t req, const char *name)
{
	if (strlen(name) > CFS_NAME_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return 0;
	}
	return 1;
}

/* Runs the requests that waited for an inode's writes. */
static void
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
static void
fs_after_writes(struct fs *fs, struct fs_wait *w)
{
	struct fs_inode *n = fs_inode(fs, w->ino, 0);

	if (n == NULL || n->writes == 0) {
		w->run(fs, w);
		free(w->name);
		free(w);
		return;
	}
	TAILQ_INSERT_TAIL(&n->waiters, w, entry);
}

/* A waiter for req on ino. */
static struct fs_wait *
fs_wait(void (*run)(struct fs *, struct fs_wait *), fuse_req_t req, uint64_t ino)
{
	struct fs_wait *w = xcalloc(1, sizeof(*w));

	w->run = run;
	w->req = req;
	w->ino = ino;
	return w;
}

/* Completion: reply with an entry (lookup, mknod, mkdir, symlink, link). */
static void
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
static void
fs_done_attr(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;
	struct fs_inode *n;
	struct stat st;

	if (r->status == ENOENT && c->type == CFS_OP_GETATTR &&
	    (n = fs_inode(c->fs, c->ino, 0)) != NULL && n->opens > 0 && n->last.ino == c->ino) {
		/*
		 * Another host removed a file this mount has open.  Answer as a
		 * local filesystem does for an open unlinked file (its last
		 * attributes, no links) rather than ESTALE: the kernel checks a
		 * file it has just created with a getattr, and an ESTALE there
		 * makes it run the whole open() again, creating a second file.
		 */
		fs_stat(&n->last, &st);
		st.st_nlink = 0;
		fuse_reply_attr(c->req, &st, 0);
	} else if (r->status != 0) {
		fuse_reply_err(c->req, fs_errno_ino(r->status));
	} else {
		fs_stat(&r->attr, &st);
		/* An unlinked file held open here: its hidden name is not a link. */
		n = fs_inode(c->fs, r->attr.ino, 0);
		if (n != NULL)
			n->last = r->attr;
		if (n != NULL && n->orphan_name != NULL && st.st_nlink > 0)
			st.st_nlink--;
		fuse_reply_attr(c->req, &st, c->fs->o.attr_timeout);
	}
	free(c);
}

/* Completion: reply with a status only. */
static void
fs_done_err(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;

	fuse_reply_err(c->req, fs_errno_ino(r->status));
	free(c);
}

static void fs_lookup_run(struct fs *, struct fs_wait *);

/* Lookup's answer: if the inode has writes of ours in flight, wait and ask again. */
static void
fs_done_lookup(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;
	struct fs_inode *n;

	if (r->status == 0 && c->buf != NULL && (n = fs_inode(c->fs, r->attr.ino, 0)) != NULL &&
	    n->writes > 0) {
		/* The size it carries may predate our own writes: ask once they are in. */
		struct fs_wait *w = fs_wait(fs_lookup_run, c->req, r->attr.ino);

		w->off = (off_t)c->ino; /* the parent */
		w->name = (char *)c->buf;
		TAILQ_INSERT_TAIL(&n->waiters, w, entry);
		free(c);
		return;
	}
	free(c->buf);
	c->buf = NULL;
	fs_done_entry(arg, r);
}

/* Starts a lookup; again_ok: a second try waits for writes once more. */
static void
fs_lookup_submit(struct fs *fs, fuse_req_t req, uint64_t parent, const char *name, int first)
{
	struct fs_call *c = fs_call(fs, req, parent);
	struct cfs_op op;

	fs_op_name(&op, CFS_OP_LOOKUP, parent, name);
	/* Only the first answer may be held back, so a busy writer cannot starve a lookup. */
	if (first)
		c->buf = (uint8_t *)xstrdup(name);
	fs_submit(fs, &op, fs_done_lookup, c);
}

/* A lookup held until the found inode's writes were in: ask again. */
static void
fs_lookup_run(struct fs *fs, struct fs_wait *w)
{
	fs_lookup_submit(fs, w->req, (uint64_t)w->off, w->name, 0);
}

static void
fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (!fs_name_ok(req, name))
		return;
	fs_lookup_submit(fuse_req_userdata(req), req, parent, name, 1);
}

/* The kernel dropped nlookup references. */
static void
fs_forget_one(struct fs *fs, uint64_t ino, uint64_t nlookup)
{
	struct fs_inode *n = fs_inode(fs, ino, 0);

	if (n == NULL)
		return;
	n->nlookup = nlookup >= n->nlookup ? 0 : n->nlookup - nlookup;
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

/* getattr, once the inode's own writes are in. */
static void
fs_getattr_run(struct fs *fs, struct fs_wait *w)
{
	struct fs_call *c = fs_call(fs, w->req, w->ino);
	struct cfs_op op;

	c->type = CFS_OP_GETATTR; /* a vanished open file may be answered from memory */
	fs_op_name(&op, CFS_OP_GETATTR, w->ino, NULL);
	fs_submit(fs, &op, fs_done_attr, c);
}

static void
fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fs_after_writes(fuse_req_userdata(req), fs_wait(fs_getattr_run, req, ino));
}

static void
fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
	   struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct cfs_op op;

	fs_op_name(&op, CFS_OP_SETATTR, ino, NULL);
	if (to_set & FUSE_SET_ATTR_MODE) {
		op.valid |= CFS_SET_MODE;
		op.mode = attr->st_mode;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		op.valid |= CFS_SET_UID;
		op.uid = attr->st_uid;
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		op.valid |= CFS_SET_GID;
		op.gid = attr->st_gid;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		op.valid |= CFS_SET_SIZE;
		op.offset = (uint64_t)attr->st_size;
		fs_inode(fs, ino, 1)->version = 0;
	}
	if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
		op.valid |= CFS_SET_ATIME_NOW;
	} else if (to_set & FUSE_SET_ATTR_ATIME) {
		op.valid |= CFS_SET_ATIME;
		op.atime_sec = attr->st_atim.tv_sec;
		op.atime_nsec = (uint32_t)attr->st_atim.tv_nsec;
	}
	if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
		op.valid |= CFS_SET_MTIME_NOW;
	} else if (to_set & FUSE_SET_ATTR_MTIME) {
		op.valid |= CFS_SET_MTIME;
		op.mtime_sec = attr->st_mtim.tv_sec;
		op.mtime_nsec = (uint32_t)attr->st_mtim.tv_nsec;
	}
	if (to_set & FUSE_SET_ATTR_CTIME)
		op.valid |= CFS_SET_CTIME;
	/* Writes before a truncate are ordered before it on the head connection. */
	fs_submit(fs, &op, fs_done_attr, fs_call(fs, req, ino));
}

/* Completion: readlink. */
static void
fs_done_readlink(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;
	char *s;

	if (r->status != 0) {
		fuse_reply_err(c->req, fs_errno_ino(r->status));
	} else {
		s = xmalloc(r->datalen + 1);
		memcpy(s, r->data, r->datalen);
		s[r->datalen] = '\0';
		fuse_reply_readlink(c->req, s);
		free(s);
	}
	free(c);
}

static void
fs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fuse_req_userdata(req);
	struct cfs_op op;

	fs_op_name(&op, CFS_OP_READLINK, ino, NULL);
	fs_submit(fs, &op, fs_done_readlink, fs_call(fs, req, ino));
}

/* Makes a new inode of any kind under parent for the caller. */
static void
fs_make(fuse_req_t req, uint16_t type, fuse_ino_t parent, const char *name, mode_t mode,
	dev_t rdev, const char *target)
{
	struct fs *fs = fuse_req_userdata(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct cfs_op op;

	if (!fs_name_ok(req, name))
		return;
	fs_op_name(&op, type, parent, name);
	op.mode = mode;
	op.uid = ctx->uid;
	op.gid = ctx->gid;
	op.rdev = rdev;
	if (target != NULL) {
		size_t n = strlen(target);

		if (n >= CFS_PATH_MAX) {
			fuse_reply_err(req, ENAMETOOLONG);
			return;
		}
		op.data = (const uint8_t *)target;
		op.datalen = (uint32_t)n;
	}
	fs_submit(fs, &op, fs_done_entry, fs_call(fs, req, parent));
}

static void
fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	fs_make(req, CFS_OP_MKNOD, parent, name, mode, rdev, NULL);
}

static void
fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	fs_make(req, CFS_OP_MKDIR, parent, name, S_IFDIR | (mode & 07777), 0, NULL);
}

static void
fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	fs_make(req, CFS_OP_SYMLINK, parent, name, S_IFLNK | 0777, 0, link);
}

/* Frees a call with owned names. */
static void
fs_call_free(struct fs_call *c)
{
	free(c->name);
	free(c->name2);
	free(c);
}

/* Completion of removing the hidden link of a file after a failed rename. */
static void
fs_done_unhide(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;

	if (r->status != 0 && r->status != ENOENT)
		log_warnx("rename failed and the extra name %s could not be removed: %s", c->name,
			  strerror(fs_errno(r->status)));
	fs_call_free(c);
}

/* Completion: unlink, rmdir, rename. */
static void
fs_done_namespace(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;
	struct fs_inode *n;

	fuse_reply_err(c->req, fs_errno(r->status));
	if (r->status != 0 && c->size != 0 && (n = fs_inode(c->fs, c->size, 0)) != NULL &&
	    n->orphan_name != NULL) {
		/* The rename over an open file failed: the file keeps its name, drop the extra one. */
		struct fs_call *u = fs_call(c->fs, NULL, n->orphan_dir);
		struct cfs_op op;

		u->uid = c->uid;
		u->gid = c->gid;
		u->name = n->orphan_name;
		n->orphan_name = NULL;
		fs_op_name(&op, CFS_OP_UNLINK, n->orphan_dir, u->name);
		fs_submit(c->fs, &op, fs_done_unhide, u);
	}
	fs_call_free(c);
}

/* Sends the unlink, rmdir or rename itself. */
static void
fs_namespace_submit(struct fs *fs, struct fs_call *c)
{
	struct cfs_op op;

	fs_op_name(&op, c->type, c->ino, c->name);
	if (c->type == CFS_OP_RENAME) {
		op.ino2 = c->parent2;
		op.name2 = c->name2;
		op.name2len = (uint16_t)strlen(c->name2);
		op.flags = c->flags;
	}
	fs_submit(fs, &op, fs_done_namespace, c);
}

/* The open file has its hidden name: an unlink is done, a rename goes on. */
static void
fs_done_hide(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;
	struct fs_inode *n = fs_inode(c->fs, c->size, 0);

	if (r->status != 0) {
		if (n != NULL) {
			free(n->orphan_name);
			n->orphan_name = NULL;
		}
		c->size = 0;
		if (c->type == CFS_OP_UNLINK) {
			fuse_reply_err(c->req, fs_errno(r->status));
			fs_call_free(c);
			return;
		}
		/* The rename goes on; the open file then goes as on another host. */
		fs_namespace_submit(c->fs, c);
		return;
	}
	if (c->type == CFS_OP_UNLINK) {
		fuse_reply_err(c->req, 0);
		fs_call_free(c);
		return;
	}
	fs_namespace_submit(c->fs, c);
}

/*
 * The name about to disappear (unlinked or replaced) was looked up.  A file
 * this mount has open gets a hidden name instead and is removed at its last
 * release, so that reads and writes through open descriptors go on working,
 * as on a local filesystem (the NFS "silly rename"; a file held open only by
 * another host is removed at once).  Each step is one atomic chain
 * operation and the name never vanishes in between: an unlink renames the
 * file to its hidden name; a rename over it first links the file under its
 * hidden name, then replaces the name, so that no host ever finds neither
 * file under the name.
 */
static void
fs_done_target(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;
	struct fs *fs = c->fs;
	struct fs_inode *n;
	uint64_t dir = c->type == CFS_OP_RENAME ? c->parent2 : c->ino;
	const char *name = c->type == CFS_OP_RENAME ? c->name2 : c->name;
	char hidden[64];
	struct cfs_op op;

	if (r->status != 0 || !S_ISREG(r->attr.mode) ||
	    (n = fs_inode(fs, r->attr.ino, 0)) == NULL || n->opens == 0 || n->orphan_name != NULL ||
	    r->attr.nlink > 1) {
		fs_namespace_submit(fs, c);
		return;
	}
	snprintf(hidden, sizeof(hidden), FS_HIDDEN_PREFIX "%llx-%llu",
		 (unsigned long long)r->attr.ino, (unsigned long long)++fs->orphans);
	n->orphan_dir = dir;
	n->orphan_name = xstrdup(hidden);
	n->orphan_uid = c->uid;
	n->orphan_gid = c->gid;
	c->size = r->attr.ino;
	if (c->type == CFS_OP_RENAME) {
		fs_op_name(&op, CFS_OP_LINK, r->attr.ino, hidden);
		op.ino2 = dir;
	} else {
		fs_op_name(&op, CFS_OP_RENAME, dir, name);
		op.ino2 = dir;
		op.name2 = hidden;
		op.name2len = (uint16_t)strlen(hidden);
		op.flags = RENAME_NOREPLACE;
	}
	fs_submit(fs, &op, fs_done_hide, c);
}

/* unlink, rmdir, rename: look the doomed name up first while files are open here. */
static void
fs_namespace(fuse_req_t req, uint16_t type, fuse_ino_t parent, const char *name,
	     fuse_ino_t parent2, const char *name2, unsigned flags)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_call *c = fs_call(fs, req, parent);
	struct cfs_op op;

	c->type = type;
	c->name = xstrdup(name);
	c->parent2 = parent2;
	c->name2 = name2 ? xstrdup(name2) : NULL;
	c->flags = flags;
	if (fs->nopen == 0 || type == CFS_OP_RMDIR ||
	    (type == CFS_OP_RENAME && (flags & (RENAME_NOREPLACE | RENAME_EXCHANGE)))) {
		fs_namespace_submit(fs, c);
		return;
	}
	if (type == CFS_OP_RENAME)
		fs_op_name(&op, CFS_OP_LOOKUP, parent2, name2);
	else
		fs_op_name(&op, CFS_OP_LOOKUP, parent, name);
	fs_submit(fs, &op, fs_done_target, c);
}

static void
fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (fs_name_ok(req, name))
		fs_namespace(req, CFS_OP_UNLINK, parent, name, 0, NULL, 0);
}

static void
fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (fs_name_ok(req, name))
		fs_namespace(req, CFS_OP_RMDIR, parent, name, 0, NULL, 0);
}

static void
fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
	  const char *newname, unsigned int flags)
{
	if (!fs_name_ok(req, name) || !fs_name_ok(req, newname))
		return;
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		fuse_reply_err(req, EINVAL); /* RENAME_WHITEOUT: overlayfs only */
		return;
	}
	fs_namespace(req, CFS_OP_RENAME, parent, name, newparent, newname, flags);
}

static void
fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct fs *fs = fuse_req_userdata(req);
	struct cfs_op op;

	if (!fs_name_ok(req, newname))
		return;
	fs_op_name(&op, CFS_OP_LINK, ino, newname);
	op.ino2 = newparent;
	fs_submit(fs, &op, fs_done_entry, fs_call(fs, req, ino));
}

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

/* Completion of open's revalidation: keep the page cache only for an unchanged version. */
static void
fs_done_open(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;
	struct fs_inode *n;

	if (r->status != 0) {
		fuse_reply_err(c->req, fs_errno_ino(r->status));
		free(c);
		return;
	}
	n = fs_inode(c->fs, c->ino, 1);
	fs_open_mode(c->fs, n, &r->attr, &c->fi);
	if (fuse_reply_open(c->req, &c->fi) == 0) {
		n->opens++; /* a release will come for it */
		c->fs->nopen++;
	}
	fs_inode_maybe_free(n);
	free(c);
}

/* open, once the inode's own writes are in. */
static void
fs_open_run(struct fs *fs, struct fs_wait *w)
{
	struct fs_call *c = fs_call(fs, w->req, w->ino);
	struct cfs_op op;

	c->fi.flags = w->flags;
	fs_op_name(&op, CFS_OP_GETATTR, w->ino, NULL);
	fs_submit(fs, &op, fs_done_open, c);
}

static void
fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_wait *w;
	struct fs_inode *n;

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
		if (fuse_reply_open(req, fi) == 0) {
			n = fs_inode(fs, ino, 1);
			n->version = 0;
			n->opens++;
			fs->nopen++;
		}
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
	/* O_CREAT of an existing file opens it: its cache is as good as its version. */
	fs_open_mode(c->fs, n, &r->attr, &c->fi);
	fs_entry(c->fs, &r->attr, &e);
	if (fuse_reply_create(c->req, &e, &c->fi) == 0) {
		n->opens++;
		c->fs->nopen++;
	}
	free(c);
}

static void
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
	if (fi->flags & O_EXCL)
		op.flags = CFS_CREATE_EXCL;
	else if (fi->flags & O_TRUNC)
		op.flags = CFS_CREATE_TRUNC;
	c = fs_call(fs, req, parent);
	c->fi = *fi;
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
	free(c);
}

/* read, once the inode's own writes are in. */
static void
fs_read_run(struct fs *fs, struct fs_wait *w)
{
	struct cfs_op op;

	fs_op_name(&op, CFS_OP_READ, w->ino, NULL);
	op.offset = (uint64_t)w->off;
	op.length = w->size > CFS_MAX_IO ? CFS_MAX_IO : w->size;
	fs_submit(fs, &op, fs_done_read, fs_call(fs, w->req, w->ino));
}

static void
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
	if (c->req == NULL)
		fs->pipelined--;
	if (c->req != NULL) {
		if (err != 0)
			fuse_reply_err(c->req, err);
		else
			fuse_reply_write(c->req, r->value);
	} else if (err != 0 && n->err == 0) {
		n->err = err; /* for the next flush or fsync */
		log_warnx("write to inode %llu failed: %s; reported at close",
			  (unsigned long long)c->ino, strerror(err));
	}
	fs_run_waiters(fs, n);
	fs_inode_maybe_free(n);
	free(c);
}

static void
fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
	 struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_inode *n = fs_inode(fs, ino, 1);
	struct fs_call *c = fs_call(fs, req, ino);
	struct cfs_op op;

	if (size > CFS_MAX_IO) {
		fuse_reply_err(req, EINVAL);
		free(c);
		return;
	}
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
	c->size = size;
	n->writes++;
	n->version = 0; /* our own write: the cache is ours, but others may interleave */
	fs->inflight += size;
	fs_submit(fs, &op, fs_done_write, c);
	/*
	 * Pipelined: the kernel hears "written" as soon as the chain has the
	 * request; flush/fsync report a failure.  With -o sync, or when too
	 * much is in flight, write() waits for the chain instead.
	 */
	if (!fs->o.sync && fs->inflight <= fs->o.max_inflight && fs->pipelined < FS_MAX_PIPELINED) {
		fuse_reply_write(req, size);
		c->req = NULL;
		fs->pipelined++;
	}
}

/* flush/release: answer once every write of the inode is in, with the first error. */
static void
fs_flush_run(struct fs *fs, struct fs_wait *w)
{
	struct fs_inode *n = fs_inode(fs, w->ino, 0);
	int err = 0;

	if (n != NULL) {
		err = n->err;
		n->err = 0;
	}
	fuse_reply_err(w->req, err);
	if (n != NULL)
		fs_inode_maybe_free(n);
}

static void
fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fs_after_writes(fuse_req_userdata(req), fs_wait(fs_flush_run, req, ino));
}

/* Completion of removing a hidden open-unlinked file. */
static void
fs_done_orphan(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;

	if (r->status != 0 && r->status != ENOENT)
		log_warnx("cannot remove %s: %s", c->name, strerror(fs_errno(r->status)));
	fs_call_free(c);
}

/* release: like flush, and the last release of a hidden unlinked file removes it. */
static void
fs_release_run(struct fs *fs, struct fs_wait *w)
{
	struct fs_inode *n = fs_inode(fs, w->ino, 0);

	if (n != NULL && n->opens > 0) {
		n->opens--;
		fs->nopen--;
		if (n->opens == 0 && n->orphan_name != NULL) {
			struct fs_call *c = fs_call(fs, NULL, n->orphan_dir);
			struct cfs_op op;

			c->uid = n->orphan_uid;
			c->gid = n->orphan_gid;
			c->name = n->orphan_name;
			n->orphan_name = NULL;
			fs_op_name(&op, CFS_OP_UNLINK, n->orphan_dir, c->name);
			fs_submit(fs, &op, fs_done_orphan, c);
		}
	}
	fs_flush_run(fs, w);
}

static void
fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fs_after_writes(fuse_req_userdata(req), fs_wait(fs_release_run, req, ino));
}

/* Completion: fsync, with a pipelined write's error first. */
static void
fs_done_fsync(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;
	struct fs_inode *n = fs_inode(c->fs, c->ino, 0);
	int err = fs_errno_ino(r->status);

	if (n != NULL && n->err != 0) {
		err = n->err;
		n->err = 0;
	}
	fuse_reply_err(c->req, err);
	if (n != NULL)
		fs_inode_maybe_free(n);
	free(c);
}

/* fsync: every node syncs its store before the chain answers. */
static void
fs_fsync_run(struct fs *fs, struct fs_wait *w)
{
	struct cfs_op op;

	fs_op_name(&op, CFS_OP_FSYNC, w->ino, NULL);
	fs_submit(fs, &op, fs_done_fsync, fs_call(fs, w->req, w->ino));
}

static void
fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fs_after_writes(fuse_req_userdata(req), fs_wait(fs_fsync_run, req, ino));
}

static void
fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fi->cache_readdir = 0;
	fuse_reply_open(req, fi);
}

/* Completion: readdir and readdirplus, records packed as the kernel wants them. */
static void
fs_done_readdir(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;
	struct cfs_rbuf rb;
	struct cfs_dirent d;
	char *buf, name[CFS_NAME_MAX + 1];
	size_t pos = 0;

	if (r->status == ENOENT) {
		/* An open directory that was removed reads as empty, as on Linux. */
		fuse_reply_buf(c->req, NULL, 0);
		free(c);
		return;
	}
	if (r->status != 0) {
		fuse_reply_err(c->req, fs_errno(r->status));
		free(c);
		return;
	}
	buf = xmalloc(c->size);
	cfs_rbuf_init(&rb, r->data, r->datalen);
	while (rb.off < rb.len) {
		size_t need;
		int dot;

		if (cfs_dirent_get(&rb, &d, c->plus) != CFS_WIRE_OK) {
			log_warnx("readdir of %llu: bad record from the node",
				  (unsigned long long)c->ino);
			break;
		}
		memcpy(name, d.name, d.namelen);
		name[d.namelen] = '\0';
		dot = strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
		if (c->plus) {
			struct fuse_entry_param e;

			memset(&e, 0, sizeof(e));
			if (dot) {
				e.attr.st_ino = d.ino;
				e.attr.st_mode = d.type;
			} else {
				e.ino = d.attr.ino;
				e.generation = 1;
				fs_stat(&d.attr, &e.attr);
				e.attr_timeout = c->fs->o.attr_timeout;
				e.entry_timeout = c->fs->o.entry_timeout;
			}
			need = fuse_add_direntry_plus(c->req, buf + pos, c->size - pos, name, &e,
						      (off_t)d.cookie);
			if (need > c->size - pos)
				break;
			if (!dot)
				fs_inode(c->fs, d.attr.ino, 1)->nlookup++;
		} else {
			struct stat st;

			memset(&st, 0, sizeof(st));
			st.st_ino = d.ino;
			st.st_mode = d.type;
			need = fuse_add_direntry(c->req, buf + pos, c->size - pos, name, &st,
						 (off_t)d.cookie);
			if (need > c->size - pos)
				break;
		}
		pos += need;
	}
	fuse_reply_buf(c->req, buf, pos);
	free(buf);
	free(c);
}

/* Reads a directory page from cookie off. */
static void
fs_readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_call *c = fs_call(fs, req, ino);
	struct cfs_op op;

	fs_op_name(&op, CFS_OP_READDIR, ino, NULL);
	op.offset = (uint64_t)off;
	/* Wire records are about as large as the kernel's: ask for as many bytes. */
	op.length = size;
	op.flags = plus ? CFS_READDIR_PLUS : 0;
	c->size = size;
	c->plus = plus;
	fs_submit(fs, &op, fs_done_readdir, c);
}

static void
fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	fs_readdir_common(req, ino, size, off, 0);
}

static void
fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	       struct fuse_file_info *fi)
{
	fs_readdir_common(req, ino, size, off, 1);
}

static void
fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void
fs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fs_fsync_run(fuse_req_userdata(req), &(struct fs_wait){.req = req, .ino = ino});
}

/* Completion: statfs. */
static void
fs_done_statfs(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;
	struct cfs_statfs sf;
	struct statvfs st;

	if (r->status != 0) {
		fuse_reply_err(c->req, fs_errno(r->status));
	} else if (cfs_statfs_decode(r->data, r->datalen, &sf) != CFS_WIRE_OK) {
		fuse_reply_err(c->req, EIO);
	} else {
		memset(&st, 0, sizeof(st));
		st.f_bsize = sf.bsize;
		st.f_frsize = sf.bsize;
		st.f_blocks = sf.blocks;
		st.f_bfree = sf.bfree;
		st.f_bavail = sf.bavail;
		st.f_files = sf.files;
		st.f_ffree = sf.ffree;
		st.f_favail = sf.ffree;
		st.f_namemax = sf.namemax;
		fuse_reply_statfs(c->req, &st);
	}
	free(c);
}

static void
fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fuse_req_userdata(req);
	struct cfs_op op;

	fs_op_name(&op, CFS_OP_STATFS, ino, NULL);
	fs_submit(fs, &op, fs_done_statfs, fs_call(fs, req, ino));
}

static void
fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
	    int flags)
{
	struct fs *fs = fuse_req_userdata(req);
	struct cfs_op op;

	if (strlen(name) > CFS_NAME_MAX) {
		fuse_reply_err(req, ERANGE);
		return;
	}
	if (size > CFS_XATTR_SIZE_MAX) {
		fuse_reply_err(req, E2BIG);
		return;
	}
	fs_op_name(&op, CFS_OP_SETXATTR, ino, name);
	op.data = (const uint8_t *)value;
	op.datalen = (uint32_t)size;
	op.flags = (uint32_t)flags;
	fs_submit(fs, &op, fs_done_err, fs_call(fs, req, ino));
}

/* Completion: getxattr/listxattr: the size, or the bytes. */
static void
fs_done_xattr(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;

	if (r->status != 0)
		fuse_reply_err(c->req, fs_errno_ino(r->status));
	else if (c->size == 0)
		fuse_reply_xattr(c->req, r->value);
	else
		fuse_reply_buf(c->req, (const char *)r->data, r->datalen);
	free(c);
}

static void
fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_call *c;
	struct cfs_op op;

	if (strlen(name) > CFS_NAME_MAX) {
		fuse_reply_err(req, ERANGE);
		return;
	}
	fs_op_name(&op, CFS_OP_GETXATTR, ino, name);
	op.length = size;
	c = fs_call(fs, req, ino);
	c->size = size;
	fs_submit(fs, &op, fs_done_xattr, c);
}

static void
fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_call *c = fs_call(fs, req, ino);
	struct cfs_op op;

	fs_op_name(&op, CFS_OP_LISTXATTR, ino, NULL);
	op.length = size;
	c->size = size;
	fs_submit(fs, &op, fs_done_xattr, c);
}

static void
fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct fs *fs = fuse_req_userdata(req);
	struct cfs_op op;

	if (strlen(name) > CFS_NAME_MAX) {
		fuse_reply_err(req, ERANGE);
		return;
	}
	fs_op_name(&op, CFS_OP_REMOVEXATTR, ino, name);
	fs_submit(fs, &op, fs_done_err, fs_call(fs, req, ino));
}

static void
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

static void
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

static void
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
	/* The source's own writes first; the target's are ordered on the head link. */
	w = fs_wait(fs_copy_run, req, ino_in);
	w->call = c;
	fs_after_writes(fs, w);
}

/* Session parameters: big writes and reads, no caching the kernel could get wrong. */
static void
fs_init(void *userdata, struct fuse_conn_info *conn)
{
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
	conn->time_gran = 1;
}

static const struct fuse_lowlevel_ops fs_lowlevel_ops = {
	.init = fs_init,
	.lookup = fs_lookup,
	.forget = fs_forget,
	.forget_multi = fs_forget_multi,
	.getattr = fs_getattr,
	.setattr = fs_setattr,
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
	for (size_t i = 0; i < FS_BUCKETS; i++) {
		while ((n = LIST_FIRST(&fs->inodes[i])) != NULL) {
			struct fs_wait *w;

			while ((w = TAILQ_FIRST(&n->waiters)) != NULL) {
				TAILQ_REMOVE(&n->waiters, w, entry);
				fuse_reply_err(w->req, EIO);
				free(w->name);
				free(w);
			}
			LIST_REMOVE(n, hash);
			free(n);
		}
	}
	free(fs);
}
