/* The FUSE client's namespace operations: names, attributes, links; see fs_int.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include <linux/fs.h>

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

/* The inode flags as the xflags of struct fsxattr (FS_IOC_FSGETXATTR), and back. */
static const struct {
	uint32_t fl, xfl;
} fs_xflags[] = {
    {CFS_FL_IMMUTABLE, FS_XFLAG_IMMUTABLE},
    {CFS_FL_APPEND, FS_XFLAG_APPEND},
    {CFS_FL_NODUMP, FS_XFLAG_NODUMP},
    {CFS_FL_NOATIME, FS_XFLAG_NOATIME},
};

/* Completion of the inode flags' ioctls: GETATTR for the GET ones, SETATTR for the SET ones. */
static void
fs_done_flags(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;
	struct fs_inode *n;
	struct fsxattr fx;
	uint32_t flags = r->attr.flags;

	if (r->status != 0) {
		fuse_reply_err(c->req, fs_errno_ino(r->status));
		free(c);
		return;
	}
	if ((n = fs_inode(c->fs, r->attr.ino, 0)) != NULL)
		n->last = r->attr;
	fs_lease_note(c->fs, &r->attr);
	if (c->type == CFS_OP_SETATTR) {
		fuse_reply_ioctl(c->req, 0, NULL, 0);
	} else if (c->flags == 0) {
		fuse_reply_ioctl(c->req, 0, &flags, sizeof(flags));
	} else {
		memset(&fx, 0, sizeof(fx));
		for (size_t i = 0; i < sizeof(fs_xflags) / sizeof(fs_xflags[0]); i++)
			if (flags & fs_xflags[i].fl)
				fx.fsx_xflags |= fs_xflags[i].xfl;
		fuse_reply_ioctl(c->req, 0, &fx, sizeof(fx));
	}
	free(c);
}

/*
 * ioctl: the inode flags of chattr(1) and lsattr(1).  The kernel checks who
 * may change them (the owner; CAP_LINUX_IMMUTABLE for immutable and
 * append-only) and asks with FS_IOC_GETFLAGS / FS_IOC_SETFLAGS (an unsigned
 * int) or, reading the old flags before a change, FS_IOC_FSGETXATTR (struct
 * fsxattr; FS_IOC_FSSETXATTR from xfs_io).  The store keeps CFS_FL_KEPT and
 * enforces immutable and append-only.  Anything else is not a chainfs
 * request (ENOTTY).
 */
void
fs_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg, struct fuse_file_info *fi,
	 unsigned flags, const void *in_buf, size_t in_bufsz, size_t out_bufsz)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_call *c;
	struct cfs_op op;
	struct fsxattr fx;
	uint32_t v = 0;
	int xattr = cmd == FS_IOC_FSGETXATTR || cmd == FS_IOC_FSSETXATTR;
	size_t want = xattr ? sizeof(fx) : sizeof(v);

	(void)arg;
	(void)fi;
	(void)flags;
	/*
	 * Only the commands the kernel's fileattr code sends, after its own
	 * checks.  FS_IOC32_* from a 64-bit program would reach here unchecked
	 * (the kernel turns a 32-bit program's into FS_IOC_*): ENOTTY.  The
	 * store checks the caller again (store_op_setattr), for kernels whose
	 * FUSE passes FS_IOC_SETFLAGS on unchecked.
	 */
	if (cmd == FS_IOC_GETFLAGS || cmd == FS_IOC_FSGETXATTR) {
		if (out_bufsz < want) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		fs_op_name(&op, CFS_OP_GETATTR, ino, NULL);
	} else if (cmd == FS_IOC_SETFLAGS || cmd == FS_IOC_FSSETXATTR) {
		if (in_bufsz < want) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		if (xattr) {
			memcpy(&fx, in_buf, sizeof(fx));
			for (size_t i = 0; i < sizeof(fs_xflags) / sizeof(fs_xflags[0]); i++)
				if (fx.fsx_xflags & fs_xflags[i].xfl) {
					v |= fs_xflags[i].fl;
					fx.fsx_xflags &= ~fs_xflags[i].xfl;
				}
			if (fx.fsx_xflags != 0 || fx.fsx_extsize != 0 || fx.fsx_projid != 0 ||
			    fx.fsx_cowextsize != 0) {
				fuse_reply_err(req, EOPNOTSUPP);
				return;
			}
		} else {
			memcpy(&v, in_buf, sizeof(v));
		}
		fs_op_name(&op, CFS_OP_SETATTR, ino, NULL);
		op.valid = CFS_SET_FLAGS;
		op.rdev = v;
	} else {
		fuse_reply_err(req, ENOTTY);
		return;
	}
	c = fs_call(fs, req, ino);
	c->type = op.type;
	c->flags = (unsigned)xattr;
	/* Writes before chattr +i are ordered before it on the head connection. */
	fs_submit(fs, &op, fs_done_flags, c);
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

/* Completion: unlink, rmdir, rename. */
static void
fs_done_namespace(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;

	fuse_reply_err(c->req, fs_errno(r->status));
	if (r->status != 0 && c->ino_out != 0)
		fs_ref_unlink_failed(c->fs, c->ino_out);
	fs_call_free(c);
}

/*
 * unlink, rmdir, rename.  A file open anywhere stays, with no name, until
 * its last close anywhere (store_opens.c, fs_ref.c); one this mount holds
 * but has closed is let go first, so that it goes at once.
 */
static void
fs_namespace(fuse_req_t req, uint16_t type, fuse_ino_t parent, const char *name,
	     fuse_ino_t parent2, const char *name2, unsigned flags)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_call *c = fs_call(fs, req, parent);
	struct cfs_op op;

	if (type == CFS_OP_UNLINK)
		c->ino_out = fs_ref_unlinking(fs, parent, name);
	else if (type == CFS_OP_RENAME && !(flags & RENAME_EXCHANGE))
		c->ino_out = fs_ref_unlinking(fs, parent2, name2);
	fs_op_name(&op, type, parent, name);
	if (type == CFS_OP_RENAME) {
		op.ino2 = parent2;
		op.name2 = name2;
		op.name2len = (uint16_t)strlen(name2);
		op.flags = flags;
	}
	if (c->ino_out != 0) {
		op.flags |= CFS_REMOVE_DROPREF;
		op.offset = c->ino_out;
	}
	fs_submit(fs, &op, fs_done_namespace, c);
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
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)) {
		fuse_reply_err(req, EINVAL);
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
