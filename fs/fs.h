/*
 * The chainfs FUSE client's filesystem: libfuse's low-level operations, each
 * turned into chain requests through the client library and answered from
 * their completions, on the same libevent loop as the network.
 *
 * Consistency (DESIGN.md, "The client"): every metadata operation is one
 * chain operation, answered by the tail.  write() is pipelined: it returns
 * once the chain has the request, and flush (close), fsync and release wait
 * until every write of the inode is acknowledged and return the first error.
 * A read, getattr, lookup or open of an inode with writes still in flight
 * waits for them first (read-your-writes).  open() asks the tail for the data
 * version.
 *
 * Regular files bypass the kernel's page cache (FOPEN_DIRECT_IO) unless the
 * page_cache option is set: a page-cache read that overlaps an O_TRUNC
 * rewrite by another process of the same mount can be handed a page that the
 * truncate already dropped, filled with zeros past the short reply, and then
 * copy it out with the size the rewrite set (filemap_read reads i_size after
 * the page is filled): bytes nobody wrote.  Direct reads return exactly what
 * the tail sent.  With page_cache, open() keeps the cache only when the data
 * version is unchanged.  Shared mmap works either way on Linux 6.6 and
 * later: fs_devio.c accepts FUSE_DIRECT_IO_ALLOW_MMAP, which libfuse 3.14
 * cannot ask for, so the kernel backs a shared mapping of a direct-I/O file
 * with its page cache.
 */
#ifndef CHAINFS_FS_H
#define CHAINFS_FS_H

#include <stdint.h>

#include <event2/event.h>
#include <fuse_lowlevel.h>

#include "replication/client.h"

struct fs_opts {
	double attr_timeout;	 /* seconds the kernel may cache attributes (default 0) */
	double entry_timeout;	 /* ... names (default 0) */
	double negative_timeout; /* ... absent names (default 0) */
	int sync;		 /* every write waits for the chain */
	int page_cache;		 /* regular files through the kernel's page cache (see chainfs(8)) */
	uint64_t max_inflight;	 /* bytes of pipelined writes before write() waits */
	uint32_t lease_ms;	 /* leases asked of the tail (the client's lease_ms); 0: none */
};

struct fs;

struct fs *fs_new(struct event_base *, struct cfs_client *, const struct fs_opts *);
void fs_free(struct fs *);
/* The operations table for fuse_session_new; userdata is the struct fs. */
const struct fuse_lowlevel_ops *fs_ops(void);
/* Tells the filesystem its session (for notifications). */
void fs_set_session(struct fs *, struct fuse_session *);
/* After fuse_session_mount: the device I/O that accepts shared mmap of direct-I/O files. */
int fs_devio_attach(struct fs *, struct fuse_session *);

#endif
