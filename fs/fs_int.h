/*
 * The chainfs FUSE client's private state, shared by the files that
 * implement it (fs.h is the interface):
 *
 *   fs.c        the core: the inode table and forget, errno mapping, call
 *               contexts and submission, the queues of requests waiting for
 *               an inode's writes, the shared completions, init, the
 *               operations table, fs_new/fs_free
 *   fs_names.c  lookup, getattr, setattr, readlink, mknod, mkdir, symlink,
 *               unlink, rmdir, rename, link
 *   fs_io.c     open, create, read, write, flush, release, fsync,
 *               fallocate, lseek, copy_file_range
 *   fs_dir.c    opendir, readdir, readdirplus, releasedir, fsyncdir, statfs
 *   fs_xattr.c  setxattr, getxattr, listxattr, removexattr
 *   fs_lease.c  leases: kernel timeouts from them, recalls carried out
 *               by a worker thread
 *   fs_ra.c     readahead of direct-I/O files under leases
 *   fs_dc.c     the content of small files kept under leases
 *   fs_lock.c   POSIX locks and flocks through the chain
 *   fs_ref.c    open references: inodes kept on the chain while open here
 *   fs_devio.c  the FUSE device's reads and writes: the INIT flag that
 *               lets the kernel map direct-I/O files shared
 *
 * Helpers used by one file only stay static there.
 */
#ifndef CHAINFS_FS_INT_H
#define CHAINFS_FS_INT_H

#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <stdint.h>

#include <fuse_lowlevel.h>

#include "fs/fs.h"
#include "replication/client.h"

#define FS_BUCKETS 4096
/*
 * Writes answered before the chain has them, at most (besides max_inflight
 * bytes): each is an update in flight, and the head disconnects a client
 * with NODE_CLIENT_UPDATE_WINDOW of them (daemon/node.h).
 */
#define FS_MAX_PIPELINED 1024
/* Readahead (fs_ra.c): chunks asked ahead per file, their size, and all files' bytes. */
#define FS_RA_CHUNKS 4
#define FS_RA_CHUNK CFS_MAX_IO
#define FS_RA_SMALL (16u << 10) /* reads up to this size in order start readahead early */
#define FS_RA_TOTAL (32u << 20)
/* Kept content of small files (fs_dc.c): per file, and all files' bytes. */
#define FS_DC_MAX (64u << 10)
#define FS_DC_TOTAL (16u << 20)
#define FS_DC_PREFETCH 4096 /* asked for with a lookup after a recall, at most (fs_dc_prefetch) */
/* Xattrs the kernel asks for by itself, whose absence is kept under a hold (fs_dc.c). */
#define FS_NOX_CAP 1u	      /* security.capability: before every write and truncate */
#define FS_NOX_ACL_ACCESS 2u  /* system.posix_acl_access: every check of another's access */
#define FS_NOX_ACL_DEFAULT 4u /* system.posix_acl_default: every create in a directory */
/*
 * Opens that found their file removed by another host after the kernel's
 * lookup (fs_io.c): the first is answered ESTALE, so the kernel looks the
 * name up again; the kernel's retry, if it races again, succeeds.  Remembered
 * per process for this long, this many processes at once (beyond, opens
 * succeed at once, as retries do).
 */
#define FS_STALE_OPEN_MS 2000
#define FS_STALE_OPENS 16
/* Open references (fs_ref.c): kept after the last close this long, and for at most this many. */
#define FS_REF_IDLE_MS 5000
#define FS_REF_IDLE_MAX 4096
/* Lock requests under way at once (fs_lock.c); ENOLCK beyond, as the chain's own bound. */
#define FS_LK_MAX_REQS 256

struct fs_wait;
struct fs_call;
struct fs_recaller;
struct fs_ra;
struct fs_names;
struct fs_dc;
struct fs_locks;
TAILQ_HEAD(fs_wait_list, fs_wait);
TAILQ_HEAD(fs_dc_list, fs_dc);

/*
 * An open file (fi->fh): the first error of the pipelined writes made through
 * it, which its next flush (close), fsync or release reports.  Per open file,
 * as Linux reports write errors: a close never reports another opener's
 * failed write, so a close that fails tells its caller that its own write
 * did not land.
 */
struct fs_handle {
	int err;
	/* The lock owners that used it (fs_lock.c): its last close releases theirs. */
	uint64_t *owners;
	uint32_t nowners, capowners;
};

/*
 * What the client knows of an inode the kernel holds: its lookup count (it
 * is forgotten when the kernel forgets it), its pipelined writes, and the
 * data version seen at the last open.
 */
struct fs_inode {
	uint64_t ino;
	uint64_t nlookup;
	uint32_t writes;  /* WRITE requests not acknowledged yet */
	uint64_t version; /* data version at the last open; 0: unknown */
	struct cfs_attr last; /* attributes at the last create or getattr (last.ino 0: none) */
	uint32_t opens;	  /* open file handles of this mount */
	uint32_t dir_opens; /* open directory handles of this mount */
	/*
	 * Its open reference on the chain (fs_ref.c): none or held; OPENREFs
	 * on their way; held but not open here, since ref_idle_ms.
	 */
	int ref;
	uint32_t ref_asks;
	int ref_idle;
	uint64_t ref_idle_ms;
	TAILQ_ENTRY(fs_inode) ref_entry;
	/* A lease on its attributes and data (fs_lease.c): until, taken in gen, of version. */
	uint64_t lease_until, lease_gen, lease_version;
	struct cfs_attr lease_attr; /* the attributes that came with it */
	uint64_t lease_ns;	    /* fs->ns_gen then: see fs_names_lookup */
	/* A directory: names looked up under a lease on it (fs_lease.c), until. */
	uint64_t names_until, names_gen;
	struct fs_names *names;
	uint32_t upd_inflight; /* updates of ours naming it, sent and not answered */
	struct fs_ra *ra; /* readahead of an open direct-I/O file (fs_ra.c); NULL: none */
	/*
	 * What is kept of it under an unbroken hold of leases (fs_dc.c): the
	 * hold's end, generation and id (a new hold, a new id), its whole
	 * content (NULL: not kept) and which of the xattrs the kernel asks
	 * for by itself it is known not to have (FS_NOX_*).
	 */
	uint64_t hold_until, hold_gen, hold_id;
	struct fs_dc *dc;
	unsigned nox;
	int dc_prefetching; /* a read of its content is on its way (fs_dc_prefetch) */
	uint64_t dc_seq;  /* changes with each update of ours on it and each recall */
	struct fs_wait_list waiters; /* requests waiting until writes == 0 */
	int locked;    /* a lock was asked for on it here: every close is a FLUSH (fs_lock.c) */
	int lock_lost; /* the session's locks were lost while it held some: until closed */
	/*
	 * Pipelined writes that came while another write of it was on its way,
	 * joined into one WRITE not sent yet (fs_io.c); counted in writes.
	 */
	struct fs_call *held;
	TAILQ_ENTRY(fs_inode) held_entry;
	LIST_ENTRY(fs_inode) hash;
};
LIST_HEAD(fs_inode_list, fs_inode);
TAILQ_HEAD(fs_held_list, fs_inode);
TAILQ_HEAD(fs_ref_list, fs_inode);
enum { FS_REF_NONE, FS_REF_HELD };
struct fs_refs;

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
	struct fs_handle *h;  /* flush, fsync, release: the open file */
	uint64_t owner;	      /* flush: the closer's lock owner */
	TAILQ_ENTRY(fs_wait) entry;
};

/* The FUSE device's INIT exchange, as seen by fs_devio.c. */
struct fs_devio {
	uint64_t init_unique; /* the INIT request's, while its reply is due */
	int init_pending;
	int init_done;
	int offered;	  /* the kernel offered FUSE_DIRECT_IO_ALLOW_MMAP */
	int mmap_allowed; /* and the reply accepted it */
};

struct fs {
	struct event_base *base;
	struct cfs_client *cl;
	struct fs_opts o;
	struct fuse_session *se;
	struct fs_inode_list inodes[FS_BUCKETS];
	uint64_t inflight; /* bytes of pipelined writes */
	unsigned pipelined; /* writes answered to the kernel before the chain did */
	/*
	 * The inodes with held writes: every other request goes after them
	 * (fs_held_send_all), so the chain gets this mount's requests in the
	 * order the kernel answered them, as if nothing were held.
	 */
	struct fs_held_list held;
	/*
	 * The kernel checks POSIX ACLs and leaves the umask to us (FUSE's
	 * POSIX_ACL and DONT_MASK): creates send it, and the head applies it
	 * unless a default ACL says otherwise.
	 */
	int acl, dont_mask;
	uint64_t nopen;	   /* open file handles, all inodes */
	struct fs_refs *refs; /* fs_ref.c */
	struct fs_devio devio;
	struct {
		pid_t pid;
		uint64_t until; /* cfs_now_ms() */
	} stale_open[FS_STALE_OPENS]; /* fs_io.c */
	struct fs_recaller *recaller; /* fs_lease.c; NULL until the first recall */
	uint64_t recalls;	     /* recalls taken */
	/* Recalls given to the worker (with the page cache), and those it finished: in order. */
	uint64_t recalls_queued, recalls_done;
	uint64_t ra_bytes;	     /* readahead chunks asked or held, all files */
	uint64_t nnames;	     /* names cached, all directories (fs_lease.c) */
	uint64_t names_hits;	     /* lookups answered from them */
	uint64_t attr_hits;	     /* getattrs answered from leased attributes */
	/*
	 * Changes with each unlink, rmdir and rename of ours, sent or answered:
	 * they change inodes the op does not name (the one removed or moved),
	 * whose attributes this mount was not recalled for.
	 */
	uint64_t ns_gen;
	uint64_t ra_asked, ra_hits;  /* chunks asked ahead; reads they answered */
	struct fs_dc_list dc_lru;    /* kept contents, least recently used first */
	uint64_t dc_bytes, dc_hits;  /* their bytes; reads they answered */
	uint64_t dc_prefetches;	     /* contents asked for with a lookup */
	struct fs_locks *lk;	     /* fs_lock.c */
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
	struct fs_handle *h; /* write, fsync: the open file its error goes to */
	uint64_t cookie;     /* readdir: where the page starts */
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
	/* read, getxattr: where, and the inode's hold_id and dc_seq when it was sent */
	uint64_t off, hold, seq;
	/* A held write (fs_io.c): its op's flags and valid, buf's room, kernel writes in it */
	uint32_t wflags, wvalid;
	size_t cap;
	uint32_t npipe;
};

/* fs.c: the inode table, errno mapping, calls, waiters, shared completions. */
struct fs_inode *fs_inode(struct fs *, uint64_t, int);
void fs_inode_maybe_free(struct fs_inode *);
int fs_errno(int);
int fs_errno_ino(int);
void fs_stat(const struct cfs_attr *, struct stat *);
void fs_entry(struct fs *, const struct cfs_attr *, struct fuse_entry_param *);
struct fs_call *fs_call(struct fs *, fuse_req_t, uint64_t);
void fs_submit(struct fs *, struct cfs_op *, cfs_client_done, struct fs_call *);
void fs_op_name(struct cfs_op *, uint16_t, uint64_t, const char *);
int fs_name_ok(fuse_req_t, const char *);
uint64_t fs_send(struct fs *, const struct cfs_op *, cfs_client_done, void *arg);
void fs_submit_now(struct fs *, struct cfs_op *, cfs_client_done, struct fs_call *);
void fs_run_waiters(struct fs *, struct fs_inode *);
void fs_after_writes(struct fs *, struct fs_wait *);
struct fs_wait *fs_wait(void (*)(struct fs *, struct fs_wait *), fuse_req_t, uint64_t);
void fs_done_entry(void *, const struct cfs_reply *);
void fs_done_attr(void *, const struct cfs_reply *);
void fs_done_err(void *, const struct cfs_reply *);
void fs_call_free(struct fs_call *);

/* fs_lease.c: leases and recalls. */
double fs_attr_ttl(struct fs *);
void fs_lease_note(struct fs *, const struct cfs_attr *);
int fs_lease_valid(struct fs *, const struct fs_inode *);
int fs_lease_live(struct fs *, uint64_t until, uint64_t gen);
int fs_attr_held(struct fs *, const struct fs_inode *);
int fs_attr_lookup(struct fs *, fuse_req_t, uint64_t ino);
/* An update of ours in flight (fs_submit): its answer ends what fs_upd_begin began. */
struct fs_upd {
	struct fs *fs;
	uint64_t ino, ino2;
	uint16_t type;
	char *name, *name2; /* owned: the op's names, for the names of its directories */
	uint32_t flags;
	uint32_t uid, gid; /* the caller */
	/* unlink, rmdir, rename: the inodes its names led to (0: none), if known */
	uint64_t victims[2];
	int victims_known;
	cfs_client_done done;
	void *arg;
};
void fs_upd_begin(struct fs *, struct fs_upd *, const struct cfs_op *);
void fs_upd_end(struct fs *, const struct fs_upd *, const struct cfs_reply *);
void fs_names_note(struct fs *, uint64_t dir, const char *name, const struct cfs_reply *);
int fs_names_lookup(struct fs *, fuse_req_t, uint64_t dir, const char *name);
void fs_names_free(struct fs *, struct fs_inode *);
struct fs_inode *fs_names_page(struct fs *, uint64_t dir, uint64_t off);
void fs_names_page_add(struct fs *, struct fs_inode *, const char *name, uint64_t ino);
void fs_names_page_end(struct fs_inode *, uint64_t last, int eof);
void fs_names_fill(struct fs *, uint64_t ino, uint64_t cookie, uint32_t uid, uint32_t gid,
		   size_t pages);
void fs_lease_init(struct fs *);
void fs_lease_free(struct fs *);

/* fs_ra.c: readahead. */
int fs_ra_read(struct fs *, fuse_req_t, uint64_t ino, uint64_t off, size_t size);
void fs_ra_drop(struct fs *, struct fs_inode *);
void fs_ra_recalled(struct fs *, struct fs_inode *);
void fs_ra_free(struct fs *, struct fs_inode *);

/* fs_dc.c: kept content of small files. */
void fs_dc_note(struct fs *, struct fs_inode *, const struct cfs_attr *, uint64_t until);
int fs_dc_read(struct fs *, fuse_req_t, struct fs_inode *, uint64_t off, size_t size);
void fs_dc_read_done(struct fs *, uint64_t ino, uint64_t seq, uint64_t off, size_t asked,
		     const struct cfs_reply *);
void fs_dc_write(struct fs *, struct fs_inode *, uint64_t off, const void *, size_t, int append);
void fs_dc_update(struct fs_inode *, const struct cfs_op *);
void fs_dc_recalled(struct fs_inode *);
void fs_dc_drop(struct fs_inode *);
void fs_dc_forget(struct fs_inode *);
void fs_dc_prefetch(struct fs *, fuse_req_t, struct fs_inode *);
unsigned fs_dc_noxbit(const char *);
int fs_dc_nox(struct fs *, fuse_req_t, struct fs_inode *, const char *);
void fs_dc_nox_done(struct fs *, uint64_t ino, unsigned bit, uint64_t hold, uint64_t seq,
		    const struct cfs_reply *);
void fs_dc_created(struct fs *, struct fs_inode *);
void fs_ra_teardown(struct fs *, struct fs_inode *);

/* fs_names.c: the operations on names and attributes. */
void fs_lookup(fuse_req_t, fuse_ino_t, const char *);
void fs_getattr(fuse_req_t, fuse_ino_t, struct fuse_file_info *);
void fs_setattr(fuse_req_t, fuse_ino_t, struct stat *, int, struct fuse_file_info *);
void fs_ioctl(fuse_req_t, fuse_ino_t, unsigned int, void *, struct fuse_file_info *, unsigned,
	      const void *, size_t, size_t);
void fs_readlink(fuse_req_t, fuse_ino_t);
void fs_mknod(fuse_req_t, fuse_ino_t, const char *, mode_t, dev_t);
void fs_mkdir(fuse_req_t, fuse_ino_t, const char *, mode_t);
void fs_symlink(fuse_req_t, const char *, fuse_ino_t, const char *);
void fs_unlink(fuse_req_t, fuse_ino_t, const char *);
void fs_rmdir(fuse_req_t, fuse_ino_t, const char *);
void fs_rename(fuse_req_t, fuse_ino_t, const char *, fuse_ino_t, const char *, unsigned int);
void fs_link(fuse_req_t, fuse_ino_t, fuse_ino_t, const char *);

/* fs_io.c: file I/O; fs_fsync_run serves fsyncdir too. */
void fs_open(fuse_req_t, fuse_ino_t, struct fuse_file_info *);
void fs_create(fuse_req_t, fuse_ino_t, const char *, mode_t, struct fuse_file_info *);
void fs_read(fuse_req_t, fuse_ino_t, size_t, off_t, struct fuse_file_info *);
void fs_read_submit(struct fs *, fuse_req_t, uint64_t ino, uint64_t off, size_t size);
void fs_write(fuse_req_t, fuse_ino_t, const char *, size_t, off_t, struct fuse_file_info *);
/*
 * Sends n's held writes now, and those held before them (in the order the
 * kernel was answered); _all: every inode's (before any other request);
 * _drop: n's are not sent, their open file's next close reports err (the
 * caller then runs n's waiters: no request may be sent in between).
 */
void fs_held_send(struct fs *, struct fs_inode *);
void fs_held_send_all(struct fs *);
void fs_held_drop(struct fs *, struct fs_inode *, int err);
void fs_flush(fuse_req_t, fuse_ino_t, struct fuse_file_info *);
void fs_release(fuse_req_t, fuse_ino_t, struct fuse_file_info *);
void fs_fsync_run(struct fs *, struct fs_wait *);
void fs_fsync(fuse_req_t, fuse_ino_t, int, struct fuse_file_info *);
void fs_fallocate(fuse_req_t, fuse_ino_t, int, off_t, off_t, struct fuse_file_info *);
void fs_lseek(fuse_req_t, fuse_ino_t, off_t, int, struct fuse_file_info *);
void fs_copy_file_range(fuse_req_t, fuse_ino_t, off_t, struct fuse_file_info *, fuse_ino_t, off_t,
			struct fuse_file_info *, size_t, int);

/* fs_lock.c: locks. */
void fs_getlk(fuse_req_t, fuse_ino_t, struct fuse_file_info *, struct flock *);
void fs_setlk(fuse_req_t, fuse_ino_t, struct fuse_file_info *, struct flock *, int);
void fs_flock(fuse_req_t, fuse_ino_t, struct fuse_file_info *, int);
void fs_handle_owner(struct fs_handle *, uint64_t owner);
/*
 * At a flush (owner: the closer's) or a release (every owner of w->h): when
 * locks of theirs may be held, releases them and returns 1, then calls
 * then(fs, copy of w) once they are released; else returns 0.
 */
int fs_lk_close(struct fs *, struct fs_wait *w, uint64_t owner, int release,
		void (*then)(struct fs *, struct fs_wait *));
/* The recall worker finished some: locks answered after them may go to the kernel. */
void fs_lk_recalls_done(struct fs *);
void fs_lk_init(struct fs *);
void fs_lk_free(struct fs *);

/* fs_devio.c: the FUSE device. */
struct iovec;
struct fuse_init_out;
void fs_devio_request(struct fs_devio *, const void *, size_t);
int fs_devio_reply(struct fs_devio *, struct iovec *, int, struct fuse_init_out *);

/* fs_ref.c: open references. */
void fs_ref_init(struct fs *);
void fs_ref_free(struct fs *);
int fs_ref_any(const struct fs *);
int fs_ref_use(struct fs *, struct fs_inode *);
void fs_ref_ask(struct fs *, struct fs_inode *, cfs_client_done, struct fs_call *);
int fs_ref_got(struct fs *, struct fs_inode *, uint64_t gen);
uint64_t fs_ref_gen(const struct fs *);
void fs_ref_unsure(struct fs *, uint64_t ino, int status);
void fs_ref_again(struct fs *, struct fs_inode *);
void fs_ref_closed(struct fs *, struct fs_inode *);
void fs_ref_maybe_drop(struct fs *, struct fs_inode *);
uint64_t fs_ref_unlinking(struct fs *, uint64_t dir, const char *name);
void fs_ref_unlink_failed(struct fs *, uint64_t ino);
void fs_ref_flush(struct fs *);
void fs_ref_lost(struct fs *);
void fs_lk_session(struct fs *);
int fs_names_known(struct fs *, uint64_t dir, const char *name, uint64_t *ino);
/* (ino, owner) pairs that may hold locks, and requests under way. */
uint64_t fs_lk_count(const struct fs *, uint64_t *waiting);

/* fs_dir.c: directories and statfs. */
void fs_opendir(fuse_req_t, fuse_ino_t, struct fuse_file_info *);
void fs_readdir(fuse_req_t, fuse_ino_t, size_t, off_t, struct fuse_file_info *);
void fs_readdirplus(fuse_req_t, fuse_ino_t, size_t, off_t, struct fuse_file_info *);
void fs_releasedir(fuse_req_t, fuse_ino_t, struct fuse_file_info *);
void fs_fsyncdir(fuse_req_t, fuse_ino_t, int, struct fuse_file_info *);
void fs_statfs(fuse_req_t, fuse_ino_t);

/* fs_xattr.c: extended attributes. */
void fs_setxattr(fuse_req_t, fuse_ino_t, const char *, const char *, size_t, int);
void fs_getxattr(fuse_req_t, fuse_ino_t, const char *, size_t);
void fs_listxattr(fuse_req_t, fuse_ino_t, size_t);
void fs_removexattr(fuse_req_t, fuse_ino_t, const char *);

#endif
