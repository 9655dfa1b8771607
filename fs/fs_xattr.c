/* The FUSE client's extended attributes; see fs_int.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "common/log.h"
#include "common/wire.h"
#include "fs/fs.h"
#include "fs/fs_int.h"

/*
 * Setting an access ACL clears set-gid when the caller is neither root nor
 * in the file's group (as chmod does); the kernel's flag for it needs a
 * FUSE feature libfuse 3.14 cannot ask for, so the client decides, from
 * the attributes it last saw (none seen: it is left alone).
 */
static int
fs_acl_kills_sgid(struct fs *fs, fuse_req_t req, fuse_ino_t ino)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fs_inode *n = fs_inode(fs, ino, 0);
	gid_t groups[64];
	int ngroups;

	if (ctx->uid == 0 || n == NULL || n->last.ino != ino || !(n->last.mode & S_ISGID) ||
	    ctx->gid == n->last.gid)
		return 0;
	ngroups = fuse_req_getgroups(req, (int)(sizeof(groups) / sizeof(groups[0])), groups);
	for (int i = 0; i < ngroups && i < (int)(sizeof(groups) / sizeof(groups[0])); i++)
		if (groups[i] == n->last.gid)
			return 0;
	return 1;
}

void
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
	if (strcmp(name, "system.posix_acl_access") == 0 && fs_acl_kills_sgid(fs, req, ino))
		op.valid |= CFS_SET_KILL_SGID;
	fs_submit(fs, &op, fs_done_err, fs_call(fs, req, ino));
}

/* Completion: getxattr/listxattr: the size, or the bytes. */
static void
fs_done_xattr(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;

	if (c->flags)
		fs_dc_nox_done(c->fs, c->ino, c->flags, c->hold, c->seq, r);
	if (r->status != 0)
		fuse_reply_err(c->req, fs_errno_ino(r->status));
	else if (c->size == 0)
		fuse_reply_xattr(c->req, r->value);
	else
		fuse_reply_buf(c->req, (const char *)r->data, r->datalen);
	free(c);
}

void
fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_inode *n = fs_inode(fs, ino, 0);
	struct fs_call *c;
	struct cfs_op op;

	if (strlen(name) > CFS_NAME_MAX) {
		fuse_reply_err(req, ERANGE);
		return;
	}
	if (n != NULL && fs_dc_nox(fs, req, n, name))
		return;
	fs_op_name(&op, CFS_OP_GETXATTR, ino, name);
	op.length = size;
	c = fs_call(fs, req, ino);
	c->size = size;
	if (n != NULL && fs_dc_noxbit(name) != 0) {
		c->flags = fs_dc_noxbit(name);
		c->hold = n->hold_id;
		c->seq = n->dc_seq;
	}
	fs_submit(fs, &op, fs_done_xattr, c);
}

void
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

void
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
