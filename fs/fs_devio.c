/*
 * The FUSE device, read and written through libfuse's custom I/O hooks
 * (fuse_session_custom_io) for one purpose: to accept an INIT flag that
 * libfuse 3.14, Debian 12's, has no way to ask for.
 *
 * Regular files are opened with FOPEN_DIRECT_IO, so every read and write
 * reaches the chain.  Linux (6.6 and later) refuses a MAP_SHARED mapping
 * of such a file with ENODEV unless the filesystem accepted
 * FUSE_DIRECT_IO_ALLOW_MMAP at INIT; it then backs shared mappings with
 * the page cache, writes dirty pages back before every direct read and
 * write of the range, and drops the range's pages after a direct write.
 * That flag lives in fuse_init_out.flags2, which libfuse 3.14 fills only
 * from the capabilities it knows.  So the INIT request is noted on its
 * way in and, if the kernel offered the flag, the reply says yes on its
 * way out.  Every other message passes through untouched.
 *
 * The layout is the kernel's stable ABI (<linux/fuse.h>); the flag's
 * value is defined here because Debian 12's headers predate it.
 */
#include <sys/uio.h>

#include <linux/fuse.h>

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "fs/fs_int.h"

#define FS_INIT_ALLOW_MMAP2 (1u << 4) /* FUSE_DIRECT_IO_ALLOW_MMAP, bit 36, in flags2 */

void
fs_devio_request(struct fs_devio *d, const void *buf, size_t len)
{
	struct fuse_in_header h;
	struct fuse_init_in in;

	if (d->init_done || len < sizeof(h))
		return;
	memcpy(&h, buf, sizeof(h));
	if (h.opcode != FUSE_INIT)
		return;
	memset(&in, 0, sizeof(in));
	memcpy(&in, (const char *)buf + sizeof(h),
	       len - sizeof(h) < sizeof(in) ? len - sizeof(h) : sizeof(in));
	d->init_unique = h.unique;
	d->init_pending = 1;
	d->offered = (in.flags & FUSE_INIT_EXT) != 0 && (in.flags2 & FS_INIT_ALLOW_MMAP2) != 0;
}

int
fs_devio_reply(struct fs_devio *d, struct iovec *iov, int count, struct fuse_init_out *copy)
{
	struct fuse_out_header h;

	if (!d->init_pending || count < 2 || iov[0].iov_len != sizeof(h))
		return 0;
	memcpy(&h, iov[0].iov_base, sizeof(h));
	if (h.unique != d->init_unique)
		return 0;
	d->init_pending = 0;
	d->init_done = 1;
	/* Only a reply that the kernel's struct describes whole is rewritten. */
	if (h.error != 0 || !d->offered || iov[1].iov_len > sizeof(*copy) ||
	    iov[1].iov_len < offsetof(struct fuse_init_out, flags2) + sizeof(copy->flags2))
		return 0;
	memset(copy, 0, sizeof(*copy));
	memcpy(copy, iov[1].iov_base, iov[1].iov_len);
	if (!(copy->flags & FUSE_INIT_EXT))
		return 0;
	copy->flags2 |= FS_INIT_ALLOW_MMAP2;
	d->mmap_allowed = 1;
	return 1;
}

static ssize_t
fs_devio_read(int fd, void *buf, size_t len, void *userdata)
{
	struct fs *fs = userdata;
	ssize_t n = read(fd, buf, len);

	if (n > 0)
		fs_devio_request(&fs->devio, buf, (size_t)n);
	return n;
}

static ssize_t
fs_devio_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct fs *fs = userdata;
	struct fuse_init_out out;
	struct iovec v[8];
	ssize_t n;

	if (!fs->devio.init_pending || count > 8)
		return writev(fd, iov, count);
	if (!fs_devio_reply(&fs->devio, iov, count, &out)) {
		if (fs->devio.init_done && !fs->devio.offered)
			log_info("the kernel does not offer FUSE_DIRECT_IO_ALLOW_MMAP: "
				 "MAP_SHARED needs -o page_cache");
		return writev(fd, iov, count);
	}
	memcpy(v, iov, (size_t)count * sizeof(*v));
	v[1].iov_base = &out;
	n = writev(fd, v, count);
	if (n >= 0)
		log_debug("shared mappings of direct-I/O files allowed (FUSE_DIRECT_IO_ALLOW_MMAP)");
	return n;
}

int
fs_devio_attach(struct fs *fs, struct fuse_session *se)
{
	struct fuse_custom_io io;
	int r;

	memset(&io, 0, sizeof(io));
	io.read = fs_devio_read;
	io.writev = fs_devio_writev;
	r = fuse_session_custom_io(se, &io, fuse_session_fd(se));
	if (r != 0)
		log_warnx("FUSE custom I/O refused (%s): shared mmap of files needs -o page_cache",
			  strerror(-r));
	return r;
}
