/*
 * Kept data of small files, under leases: the whole content of a file of at
 * most FS_DC_MAX bytes, which answers this mount's reads of it without a
 * round trip to the tail, as the kernel's page cache would if direct I/O
 * did not bypass it.
 *
 * The content is learned from a read of the tail that reached the file's
 * end (a short read, or the size in its attributes) and came with a lease, from a create or truncate that left the file
 * empty under a lease, and from this mount's own writes, applied here in
 * the order they are sent (the order the chain takes them; reads wait for
 * them anyway, fs_after_writes).  It stays true while this mount's lease on
 * the inode holds without a gap: another host's change of the file
 * recalls that lease first (fs_dc_drop from fs_recall), and a change of
 * ours other than a write or a metadata-only setattr drops it at once
 * (fs_dc_update).  A lease that ran out, even for a moment, may have let a
 * change go by unrecalled: the next note of a lease then finds the gap and
 * drops the content (fs_dc_note).  A new tail connection or epoch ends
 * every lease (the lease generation).
 *
 * Bounded: FS_DC_TOTAL bytes for all files, the least recently used going
 * first.
 *
 * Under the same unbroken hold, the absence of the xattrs the kernel asks
 * for by itself is kept too (nox): security.capability, asked before every
 * truncate and write to remove it, and the two POSIX ACLs, asked at every
 * check of another user's access and every create, and forgotten by the
 * kernel at each refresh of the attributes.  Only a setxattr can add one
 * to an existing inode.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/wire.h"
#include "fs/fs.h"
#include "fs/fs_int.h"

struct fs_dc {
	struct fs *fs;
	struct fs_inode *n;
	uint8_t *data;
	uint32_t len, cap;
	TAILQ_ENTRY(fs_dc) lru;
};

static size_t
fs_dc_cost(const struct fs_dc *dc)
{
	return sizeof(*dc) + dc->cap;
}

/* Drops n's kept content. */
static void
fs_dc_free(struct fs_inode *n)
{
	struct fs_dc *dc = n->dc;

	if (dc == NULL)
		return;
	dc->fs->dc_bytes -= fs_dc_cost(dc);
	TAILQ_REMOVE(&dc->fs->dc_lru, dc, lru);
	free(dc->data);
	free(dc);
	n->dc = NULL;
}

/* Forgets n's content: an update of ours changes it in a way not applied here. */
void
fs_dc_forget(struct fs_inode *n)
{
	n->dc_seq++;
	fs_dc_free(n);
}

/* Drops everything kept of n; what is learned next starts a new hold. */
void
fs_dc_drop(struct fs_inode *n)
{
	fs_dc_free(n);
	n->nox = 0;
	n->hold_until = 0;
	n->hold_id++;
}

/* Whether the hold on n that kept things came under is still unbroken now. */
static int
fs_dc_held(struct fs *fs, const struct fs_inode *n)
{
	return fs_lease_live(fs, n->hold_until, n->hold_gen);
}

/* Room for need more bytes, the oldest others going; 0 when need alone is too much. */
static int
fs_dc_room(struct fs *fs, const struct fs_dc *keep, size_t need)
{
	while (fs->dc_bytes + need > FS_DC_TOTAL) {
		struct fs_dc *dc = TAILQ_FIRST(&fs->dc_lru);

		if (dc != NULL && dc == keep)
			dc = TAILQ_NEXT(dc, lru);
		if (dc == NULL)
			return 0;
		fs_dc_free(dc->n);
	}
	return 1;
}

/* Makes n's buffer hold len bytes (zeroes past the old end); 0 when it cannot. */
static int
fs_dc_size(struct fs_dc *dc, uint32_t len)
{
	struct fs *fs = dc->fs;

	if (len > dc->cap) {
		uint32_t cap = dc->cap ? dc->cap : 4096;

		while (cap < len)
			cap *= 2;
		if (!fs_dc_room(fs, dc, cap - dc->cap))
			return 0;
		dc->data = xrealloc(dc->data, cap);
		fs->dc_bytes += cap - dc->cap;
		dc->cap = cap;
	}
	if (len > dc->len)
		memset(dc->data + dc->len, 0, len - dc->len);
	dc->len = len;
	return 1;
}

/* Starts keeping n's content under the current hold: len bytes of data (NULL: none). */
static void
fs_dc_start(struct fs *fs, struct fs_inode *n, const uint8_t *data, uint32_t len)
{
	struct fs_dc *dc;

	fs_dc_free(n);
	if (len > FS_DC_MAX || !fs_dc_room(fs, NULL, sizeof(*dc)))
		return;
	dc = xcalloc(1, sizeof(*dc));
	dc->fs = fs;
	dc->n = n;
	fs->dc_bytes += fs_dc_cost(dc);
	TAILQ_INSERT_TAIL(&fs->dc_lru, dc, lru);
	n->dc = dc;
	if (!fs_dc_size(dc, len)) {
		fs_dc_free(n);
		return;
	}
	if (data != NULL && len > 0)
		memcpy(dc->data, data, len);
}

/* Whether n's content can be trusted from what this mount did and was told. */
static int
fs_dc_settled(const struct fs_inode *n)
{
	return n->writes == 0 && n->upd_inflight == 0;
}

/*
 * A lease on n until `until` was granted: the hold goes on if the lease it
 * came under had not run out (the tail extends a live lease and keeps the
 * later end), or a new hold starts and what was kept goes.
 */
static void
fs_dc_hold(struct fs *fs, struct fs_inode *n, uint64_t until)
{
	if (fs_dc_held(fs, n)) {
		if (until > n->hold_until)
			n->hold_until = until;
		return;
	}
	fs_dc_drop(n);
	n->hold_until = until;
	n->hold_gen = cfs_client_lease_gen(fs->cl);
}

/*
 * A lease on n until `until` came with attributes a (fs_lease_note): the
 * hold goes on, and an empty regular file's content is known.
 */
void
fs_dc_note(struct fs *fs, struct fs_inode *n, const struct cfs_attr *a, uint64_t until)
{
	if (fs->o.page_cache)
		return;
	fs_dc_hold(fs, n, until);
	if (!S_ISREG(a->mode) || !fs_dc_settled(n))
		return;
	if (n->dc != NULL && a->size != n->dc->len)
		fs_dc_free(n); /* cannot be: trust the tail */
	else if (n->dc == NULL && a->size == 0)
		fs_dc_start(fs, n, NULL, 0);
}

/* Answers a read of n from its kept content: 1, or 0 when it must go to the tail. */
int
fs_dc_read(struct fs *fs, fuse_req_t req, struct fs_inode *n, uint64_t off, size_t size)
{
	struct fs_dc *dc = n->dc;
	size_t have;

	if (dc == NULL)
		return 0;
	if (!fs_dc_held(fs, n)) {
		fs_dc_drop(n);
		return 0;
	}
	have = off < dc->len ? dc->len - off : 0;
	fuse_reply_buf(req, have > 0 ? (const char *)dc->data + off : NULL, have < size ? have : size);
	TAILQ_REMOVE(&fs->dc_lru, dc, lru);
	TAILQ_INSERT_TAIL(&fs->dc_lru, dc, lru);
	fs->dc_hits++;
	return 1;
}

/*
 * A read of the tail came back: one from the start that reached the end of
 * the file under a lease, with nothing of ours since (seq, asked when it
 * was sent), is the whole content.
 */
void
fs_dc_read_done(struct fs *fs, uint64_t ino, uint64_t seq, uint64_t off, size_t asked,
		const struct cfs_reply *r)
{
	struct fs_inode *n;
	uint64_t until = cfs_client_lease_until(fs->cl);

	if (fs->o.page_cache || fs->o.lease_ms == 0 || r->status != 0 || r->lease_ms == 0 ||
	    until <= cfs_now_ms() || (n = fs_inode(fs, ino, 0)) == NULL)
		return;
	fs_dc_hold(fs, n, until);
	/* The end of the file: a short read, or the size in the answer's attributes. */
	if (off == 0 && r->datalen <= FS_DC_MAX && n->dc_seq == seq && fs_dc_settled(n) &&
	    (r->datalen < asked ||
	     ((r->flags & CFS_REPLY_ATTR) && r->attr.ino == ino && r->attr.size == r->datalen)))
		fs_dc_start(fs, n, r->data, r->datalen);
}

/* A prefetch's answer (fs_dc_prefetch). */
static void
fs_dc_prefetch_done(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;
	struct fs_inode *n = fs_inode(c->fs, c->ino, 0);

	fs_dc_read_done(c->fs, c->ino, c->seq, 0, FS_DC_MAX, r);
	if (n != NULL) {
		n->dc_prefetching = 0;
		fs_inode_maybe_free(n);
	}
	free(c);
}

/*
 * The kernel looks up a name whose inode is known here but whose lease
 * went (another host changed it, most often by writing it): while the
 * lookup goes to the tail, the file's content is asked for too, if it was
 * small, so that the read that usually follows is answered here rather than
 * after a second round trip.  As the caller, whose read the node checks.
 */
void
fs_dc_prefetch(struct fs *fs, fuse_req_t req, struct fs_inode *n)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fs_call *c;
	struct cfs_op op;

	if (fs->o.page_cache || fs->o.lease_ms == 0 || n->dc != NULL || n->dc_prefetching ||
	    !fs_dc_settled(n) || n->lease_attr.ino != n->ino || !S_ISREG(n->lease_attr.mode) ||
	    n->lease_attr.size > FS_DC_PREFETCH)
		return;
	c = fs_call(fs, NULL, n->ino);
	c->uid = ctx->uid;
	c->gid = ctx->gid;
	c->seq = n->dc_seq;
	n->dc_prefetching = 1;
	fs_op_name(&op, CFS_OP_READ, n->ino, NULL);
	op.length = FS_DC_MAX;
	fs_submit(fs, &op, fs_dc_prefetch_done, c);
	fs->dc_prefetches++;
}

/*
 * A write of ours to n is being sent: applied to the kept content in the
 * order the chain takes it, or the content goes when it cannot be.
 */
void
fs_dc_write(struct fs *fs, struct fs_inode *n, uint64_t off, const void *buf, size_t size,
	    int append)
{
	struct fs_dc *dc = n->dc;
	uint64_t end;

	if (dc == NULL)
		return;
	if (!fs_dc_held(fs, n)) {
		fs_dc_drop(n);
		return;
	}
	if (append)
		off = dc->len; /* the lease says nobody else changed the end */
	end = off + size;
	if (end > FS_DC_MAX || (end > dc->len && !fs_dc_size(dc, (uint32_t)end))) {
		fs_dc_free(n);
		return;
	}
	memcpy(dc->data + off, buf, size);
}

/*
 * An update of ours on n is being sent.  A write keeps the content
 * (fs_dc_write applies it), a setattr keeps it unless it changes the size;
 * only a setxattr can give the file a capability or an ACL (a truncate, a
 * write and a chown remove a capability; a chmod changes an ACL there is,
 * never makes one); a change of names changes neither the xattrs nor the
 * content of the inodes it names; anything else drops what is kept.
 */
void
fs_dc_update(struct fs_inode *n, const struct cfs_op *op)
{
	n->dc_seq++;
	if (op->ino != n->ino) {
		fs_dc_drop(n);
		return;
	}
	switch (op->type) {
	case CFS_OP_SETXATTR:
		n->nox = 0;
		break;
	case CFS_OP_SETATTR:
		if (op->valid & CFS_SET_SIZE)
			fs_dc_free(n); /* the answer tells the new size: an empty file's is kept again */
		break;
	case CFS_OP_FALLOCATE:
		fs_dc_free(n);
		break;
	case CFS_OP_WRITE:
	case CFS_OP_REMOVEXATTR:
		break;
	case CFS_OP_CREATE:
	case CFS_OP_MKNOD:
	case CFS_OP_MKDIR:
	case CFS_OP_SYMLINK:
	case CFS_OP_LINK:
	case CFS_OP_UNLINK:
	case CFS_OP_RMDIR:
	case CFS_OP_RENAME:
		break; /* n is a directory whose entries change, or a file given a name */
	default:
		fs_dc_drop(n);
	}
}

/* n was recalled: what is kept of it may be changing. */
void
fs_dc_recalled(struct fs_inode *n)
{
	n->dc_seq++;
	fs_dc_drop(n);
}

/* Which FS_NOX_* bit an xattr name is; 0 for the others. */
unsigned
fs_dc_noxbit(const char *name)
{
	if (strcmp(name, "security.capability") == 0)
		return FS_NOX_CAP;
	if (strcmp(name, "system.posix_acl_access") == 0)
		return FS_NOX_ACL_ACCESS;
	if (strcmp(name, "system.posix_acl_default") == 0)
		return FS_NOX_ACL_DEFAULT;
	return 0;
}

/*
 * The kernel asks for one of the FS_NOX_* xattrs: answered ENODATA here
 * when the tail said so under the same unbroken hold.  1 when answered.
 */
int
fs_dc_nox(struct fs *fs, fuse_req_t req, struct fs_inode *n, const char *name)
{
	unsigned bit = fs_dc_noxbit(name);

	if (bit == 0 || !(n->nox & bit))
		return 0;
	if (!fs_dc_held(fs, n)) {
		fs_dc_drop(n);
		return 0;
	}
	fuse_reply_err(req, ENODATA);
	fs->dc_hits++;
	return 1;
}

/*
 * A getxattr of an FS_NOX_* xattr came back ENODATA: asked under hold
 * `hold` with nothing of ours since (seq), and that hold unbroken now, it
 * holds until another host changes the file (which recalls it).
 */
void
fs_dc_nox_done(struct fs *fs, uint64_t ino, unsigned bit, uint64_t hold, uint64_t seq,
	       const struct cfs_reply *r)
{
	struct fs_inode *n = fs_inode(fs, ino, 0);

	if (n != NULL && r->status == ENODATA && n->hold_id == hold && n->dc_seq == seq &&
	    fs_dc_settled(n) && fs_dc_held(fs, n))
		n->nox |= bit;
}

/*
 * Our create made n (O_EXCL: no file was there) and its answer leased it
 * to us: a new file has no extended attributes, so none is a capability
 * until a setxattr, which recalls or is ours.  Saves the kernel's question
 * before the chown that tar and cp -p make of every file they create.  Not
 * its ACLs: the parent's default ACL may have given it some.
 */
void
fs_dc_created(struct fs *fs, struct fs_inode *n)
{
	if (fs_dc_settled(n) && fs_dc_held(fs, n)) /* never held with page_cache */
		n->nox |= FS_NOX_CAP;
}
