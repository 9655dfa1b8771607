/* The FUSE client's namespace operations: names, attributes, links; see fs_int.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/wire.h"
#include "fs/fs.h"
#include "fs/fs_int.h"

static void fs_lookup_run(struct fs *, struct fs_wait *);

/* Lookup's answer: if the inode has writes of ours in flight, wait and ask again. */
static void
fs_done_lookup(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;
	struct fs_inode *n;

	if (c->name != NULL) {
		fs_names_note(c->fs, c->ino, c->name, r);
		free(c->name);
		c->name = NULL;
	}

	if (r->status == 0 && c->buf != NULL && (n = fs_inode(c->fs, r->attr.ino, 0)) != NULL &&
	    n->writes > 0) {
		/* The size it carries may predate our own writes: ask once they are in. */
		struct fs_wait *w = fs_wait(fs_lookup_run, c->req, r->attr.ino);

		struct fs *fs = c->fs;

		w->off = (off_t)c->ino; /* the parent */
		w->name = (char *)c->buf;
		free(c);
		fs_after_writes(fs, w); /* sends the held ones: nothing to wait behind */
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
	if (fs->o.lease_ms > 0)
		c->name = xstrdup(name); /* kept under the lease that may come with the answer */
	fs_submit(fs, &op, fs_done_lookup, c);
}

/* A lookup held until the found inode's writes were in: ask again. */
static void
fs_lookup_run(struct fs *fs, struct fs_wait *w)
{
	fs_lookup_submit(fs, w->req, (uint64_t)w->off, w->name, 0);
}

void
fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fuse_req_userdata(req);

	if (!fs_name_ok(req, name))
		return;
	if (fs_names_lookup(fs, req, parent, name))
		return; /* under leases on the directory and on what the name leads to */
	fs_lookup_submit(fs, req, parent, name, 1);
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

void
fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);

	if (fs_attr_lookup(fs, req, ino))
		return; /* under a lease, with nothing of ours on its way */
	fs_after_writes(fs, fs_wait(fs_getattr_run, req, ino));
}

void
fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
	   struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_inode *n = fs_inode(fs, ino, 0);
	struct cfs_op op;

	if (n != NULL)
		fs_ra_drop(fs, n);
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

void
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
	if (fs->dont_mask && type != CFS_OP_SYMLINK)
		op.valid = ctx->umask & CFS_CREATE_UMASK; /* the head applies it (or a default ACL) */
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

void
fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	fs_make(req, CFS_OP_MKNOD, parent, name, mode, rdev, NULL);
}

void
fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	fs_make(req, CFS_OP_MKDIR, parent, name, S_IFDIR | (mode & 07777), 0, NULL);
}

void
fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	fs_make(req, CFS_OP_SYMLINK, parent, name, S_IFLNK | 0777, 0, link);
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
		op.flags = CFS_OP_RECALL_WRITER; /* the kernel knows nothing of it */
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

void
fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (fs_name_ok(req, name))
		fs_namespace(req, CFS_OP_UNLINK, parent, name, 0, NULL, 0);
}

void
fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (fs_name_ok(req, name))
		fs_namespace(req, CFS_OP_RMDIR, parent, name, 0, NULL, 0);
}

void
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

void
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
