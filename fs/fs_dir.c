/* The FUSE client's directory reads and statfs; see fs_int.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "common/log.h"
#include "common/wire.h"
#include "fs/fs.h"
#include "fs/fs_int.h"

void
fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req); /* replying frees req */

	fi->cache_readdir = 0;
	if (fuse_reply_open(req, fi) == 0)
		fs_inode(fs, ino, 1)->dir_opens++; /* see fs_done_attr */
}

/* Copies a record's name into name (NUL-terminated); 1 for "." and "..". */
static int
fs_dirent_name(const struct cfs_dirent *d, char name[CFS_NAME_MAX + 1])
{
	memcpy(name, d->name, d->namelen);
	name[d->namelen] = '\0';
	return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
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
	struct fs_inode *names = NULL;
	uint64_t last = 0;

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
	/* Under a lease on the directory, its names are kept here (fs_names_page). */
	if (c->plus && r->lease_ms > 0)
		names = fs_names_page(c->fs, c->ino, c->cookie);
	cfs_rbuf_init(&rb, r->data, r->datalen);
	while (rb.off < rb.len) {
		size_t need;
		int dot;

		if (cfs_dirent_get(&rb, &d, c->plus) != CFS_WIRE_OK) {
			log_warnx("readdir of %llu: bad record from the node",
				  (unsigned long long)c->ino);
			break;
		}
		dot = fs_dirent_name(&d, name);
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
				e.attr_timeout = fs_attr_ttl(c->fs);
				e.entry_timeout = c->fs->o.entry_timeout;
			}
			need = fuse_add_direntry_plus(c->req, buf + pos, c->size - pos, name, &e,
						      (off_t)d.cookie);
			if (need > c->size - pos)
				break;
			if (!dot) {
				fs_inode(c->fs, d.attr.ino, 1)->nlookup++;
				fs_lease_note(c->fs, &d.attr);
				if (names != NULL)
					fs_names_page_add(c->fs, names, name, d.attr.ino);
			}
			last = d.cookie;
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
	if (names != NULL)
		fs_names_page_end(names, last, r->datalen == 0);
	fuse_reply_buf(c->req, buf, pos);
	free(buf);
	free(c);
}

/*
 * Completion of fs_names_fill: the page's names are kept under its lease;
 * an empty page ends the listing, which makes them complete.
 */
static void
fs_done_fill(void *arg, const struct cfs_reply *r)
{
	struct fs_call *c = arg;
	struct fs_inode *names = NULL;
	struct cfs_rbuf rb;
	struct cfs_dirent d;
	char name[CFS_NAME_MAX + 1];
	uint64_t last = c->cookie;
	size_t others = 0;

	if (r->status == 0 && r->lease_ms > 0)
		names = fs_names_page(c->fs, c->ino, c->cookie);
	if (names != NULL) {
		cfs_rbuf_init(&rb, r->data, r->datalen);
		while (rb.off < rb.len && cfs_dirent_get(&rb, &d, 1) == CFS_WIRE_OK) {
			last = d.cookie;
			if (fs_dirent_name(&d, name))
				continue;
			fs_names_page_add(c->fs, names, name, d.attr.ino);
			others++;
		}
		fs_names_page_end(names, last, r->datalen == 0);
		/* "." and ".." only: the next page says whether that was all. */
		if (r->datalen > 0 && others == 0 && c->done < 2)
			fs_names_fill(c->fs, c->ino, last, c->uid, c->gid, c->done + 1);
	}
	free(c);
}

/*
 * Lists directory ino from cookie, as uid/gid, for the names only (the
 * kernel asked nothing): after a mkdir of ours whose answer carried no
 * lease (it waited for a recall), so that the names not made in the new
 * directory since are known to be missing.  pages: how many came before.
 */
void
fs_names_fill(struct fs *fs, uint64_t ino, uint64_t cookie, uint32_t uid, uint32_t gid,
	      size_t pages)
{
	struct fs_call *c = fs_call(fs, NULL, ino);
	struct cfs_op op;

	c->uid = uid;
	c->gid = gid;
	c->cookie = cookie;
	c->done = pages;
	fs_op_name(&op, CFS_OP_READDIR, ino, NULL);
	op.offset = cookie;
	op.length = 4096;
	op.flags = CFS_READDIR_PLUS;
	fs_submit(fs, &op, fs_done_fill, c);
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
	c->cookie = (uint64_t)off;
	fs_submit(fs, &op, fs_done_readdir, c);
}

void
fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	fs_readdir_common(req, ino, size, off, 0);
}

void
fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	       struct fuse_file_info *fi)
{
	fs_readdir_common(req, ino, size, off, 1);
}

void
fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_inode *n = fs_inode(fuse_req_userdata(req), ino, 0);

	if (n != NULL && n->dir_opens > 0) {
		n->dir_opens--;
		fs_inode_maybe_free(n);
	}
	fuse_reply_err(req, 0);
}

void
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

void
fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fuse_req_userdata(req);
	struct cfs_op op;

	fs_op_name(&op, CFS_OP_STATFS, ino, NULL);
	fs_submit(fs, &op, fs_done_statfs, fs_call(fs, req, ino));
}
