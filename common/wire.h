/*
 * chainfs wire protocol: the one binary format spoken between clients and
 * nodes and between nodes.  Every frame is a fixed 32-byte header followed by
 * a body of `length` bytes.  All integers are little-endian.  Message types
 * and operation numbers are explicit and never reused.
 *
 * Header layout (offsets in bytes):
 *   0 magic   u32  CFS_MAGIC
 *   4 version u16  CFS_PROTOCOL_VERSION
 *   6 type    u16  enum cfs_msg_type
 *   8 flags   u32  reserved, must be 0
 *  12 length  u32  body length, at most CFS_MAX_BODY
 *  16 reqid   u64  opaque request id, echoed in the reply
 *  24 epoch   u64  chain configuration epoch of the sender
 */
#ifndef CHAINFS_WIRE_H
#define CHAINFS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define CFS_MAGIC 0x53464843u /* "CHFS" as little-endian bytes */
/*
 * 2: entries carry their epoch; HELLO_REPLY and STATUS grew.  3: HELLO
 * carries applied_sn.  4: ops carry their caller.  5: leases (HELLO asks,
 * REPLY grants) and recalls.  6: REPLY carries the directories a namespace
 * update left, for its writer's lease.  7: locks (ops, LKGRANT, PING/PONG;
 * HELLO_REPLY carries the lock lease).  8: open references.  9: FALLOCATE
 * takes FALLOC_FL_ZERO_RANGE and RENAME RENAME_WHITEOUT (a replica of 8
 * would refuse what 9 applies).  10: attr carries the inode flags (chattr).
 */
#define CFS_PROTOCOL_VERSION 10
#define CFS_HEADER_SIZE 32
#define CFS_MAX_IO (1u << 20)		     /* largest read or write payload */
#define CFS_ROOT_INO 1			     /* the root directory's inode, as FUSE numbers it */
#define CFS_MAX_BODY (CFS_MAX_IO + 64 * 1024) /* largest body of any frame */
#define CFS_NAME_MAX 255
#define CFS_PATH_MAX 4096
#define CFS_XATTR_SIZE_MAX 65536
#define CFS_NODE_NAME_MAX 64
#define CFS_HOST_MAX 255
#define CFS_MAX_NODES 64
#define CFS_DIGEST_LEN 32

/* Message types.  Numbers are part of the protocol: never renumber or reuse. */
enum cfs_msg_type {
	CFS_MSG_HELLO = 1,	  /* first frame on every connection, from the connecting side */
	CFS_MSG_HELLO_REPLY = 2,  /* answer to HELLO: who the node is, the configuration */
	CFS_MSG_REQUEST = 3,	  /* client -> node: one operation; reqid is the request seq */
	CFS_MSG_REPLY = 4,	  /* node -> client: result of a request; reqid echoed */
	CFS_MSG_ENTRY = 5,	  /* node -> successor: one fully determined update entry */
	CFS_MSG_ACK = 6,	  /* node -> predecessor: every entry up to sn is on the tail */
	CFS_MSG_STATUS = 7,	  /* admin -> node: report your state */
	CFS_MSG_STATUS_REPLY = 8, /* node -> admin: role, sequence numbers, digest */
	CFS_MSG_SNAPSHOT = 9,	  /* tail -> syncing node: a chunk of a full copy of the store */
	CFS_MSG_RECALL = 10,	  /* tail -> client: drop these cached things; reqid names the recall */
	CFS_MSG_RECALL_ACK = 11,  /* client -> tail: dropped (reqid of the RECALL); empty body */
	CFS_MSG_LKGRANT = 12,	  /* tail -> client: a queued lock request of its was decided */
	CFS_MSG_PING = 13,	  /* client -> head: its session is alive (locks); empty body */
	CFS_MSG_PONG = 14,	  /* head -> client: answer to PING (reqid echoed): a status */
	CFS_MSG_max
};

/* Who is on the other end of a connection, as said in HELLO. */
enum cfs_peer_role {
	CFS_PEER_CLIENT = 1, /* a filesystem client (chainfs, the client library) */
	CFS_PEER_NODE = 2,   /* the predecessor node in the chain */
	CFS_PEER_ADMIN = 3,  /* chainfsctl: status and health only */
};

/* A node's place in the chain; a chain of one is both head and tail. */
#define CFS_ROLE_HEAD 0x1
#define CFS_ROLE_TAIL 0x2

/*
 * Operations.  Reads are answered by the tail; updates go to the head and
 * travel the whole chain.  Numbers are part of the protocol.
 */
enum cfs_op_type {
	/* reads */
	CFS_OP_LOOKUP = 1,    /* ino=parent name -> attr */
	CFS_OP_GETATTR = 2,   /* ino -> attr */
	CFS_OP_READDIR = 3,   /* ino, offset=cookie, length=max bytes, flags=CFS_READDIR_PLUS */
	CFS_OP_READ = 4,      /* ino, offset, length -> data, attr */
	CFS_OP_READLINK = 5,  /* ino -> data=target */
	CFS_OP_GETXATTR = 6,  /* ino name, length=buffer size (0: size only) -> data/value */
	CFS_OP_LISTXATTR = 7, /* ino, length=buffer size (0: size only) -> data/value */
	CFS_OP_STATFS = 8,    /* -> data=struct cfs_statfs */
	CFS_OP_LSEEK = 9,     /* ino, offset, flags=whence (SEEK_DATA/SEEK_HOLE) -> value */
	/*
	 * ino, ino2=owner, offset=start, length=end (inclusive), mode=type,
	 * flags=CFS_LK_FLOCK -> value=type of the first lock of another
	 * owner in the way (CFS_LK_UN: none), data=struct cfs_lock_desc
	 */
	CFS_OP_GETLK = 10,
	CFS_OP_LKSTATE = 11, /* ino, offset=seq of a queued SETLK -> value=1 still queued, 0 not */

	/* updates */
	CFS_OP_CREATE = 32,	 /* ino=parent name mode uid gid, flags=CFS_CREATE_EXCL -> attr */
	CFS_OP_MKNOD = 33,	 /* ino=parent name mode uid gid rdev -> attr */
	CFS_OP_MKDIR = 34,	 /* ino=parent name mode uid gid -> attr */
	CFS_OP_SYMLINK = 35,	 /* ino=parent name uid gid, data=target -> attr */
	CFS_OP_LINK = 36,	 /* ino=existing inode, ino2=new parent, name=new name -> attr */
	CFS_OP_UNLINK = 37,	 /* ino=parent name */
	CFS_OP_RMDIR = 38,	 /* ino=parent name */
	CFS_OP_RENAME = 39,	 /* ino=parent name, ino2=new parent name2, flags=RENAME_* (linux/fs.h) */
	CFS_OP_SETATTR = 40,	 /* ino valid mode uid gid offset=size atime mtime -> attr */
	CFS_OP_WRITE = 41,	 /* ino offset data flags=CFS_WRITE_APPEND -> value=bytes written, attr */
	CFS_OP_SETXATTR = 42,	 /* ino name data=value flags=XATTR_CREATE/XATTR_REPLACE */
	CFS_OP_REMOVEXATTR = 43, /* ino name */
	CFS_OP_FALLOCATE = 44,	 /* ino flags=mode offset length -> attr */
	CFS_OP_FSYNC = 45,	 /* ino: every node syncs its store before passing it on */
	/*
	 * Internal, made by the head only, never accepted from a client:
	 * drops the result table and floor of every client last heard of
	 * before offset (seconds, the head's clock).  See store_sessions_expire.
	 */
	CFS_OP_EXPIRE_SESSIONS = 46,
	/*
	 * Locks (store_locks.c).  A lock's owner is (the client's session,
	 * ino2): the kernel's lock owner, unique on its host only.
	 * SETLK: ino, ino2=owner, offset=start, length=end (inclusive),
	 * mode=CFS_LK_RD/WR/UN, uid=pid, flags=CFS_LK_FLOCK|CFS_LK_WAIT ->
	 * value=CFS_LK_QUEUED when it waits (a LKGRANT tells the outcome).
	 */
	CFS_OP_SETLK = 47,
	CFS_OP_UNLOCK = 48,   /* ino, ino2=owner, flags=CFS_LK_POSIX|CFS_LK_FLOCK|CFS_LK_SESSION */
	CFS_OP_LKCANCEL = 49, /* ino, offset=seq of a queued SETLK: ENOENT when no longer queued */
	/*
	 * Internal, the head's: ends the locks and waits of session ino2 (its
	 * lease ran out), and its open references (store_opens.c).
	 */
	CFS_OP_LKEXPIRE = 50,
	/*
	 * Open references (store_opens.c): the client's session holds ino open,
	 * so that the inode outlives its last name until the session lets it
	 * go.  OPENREF: ino -> attr.  CLOSEREF: data = inode numbers, 8 bytes
	 * each, little-endian, at most CFS_CLOSEREF_MAX.
	 */
	CFS_OP_OPENREF = 51,
	CFS_OP_CLOSEREF = 52,
};
#define CFS_CLOSEREF_MAX 512
/*
 * UNLINK and RENAME flag: first the caller's session lets go of inode
 * `offset` (the one the removed or replaced name led to when the client
 * looked), as a CLOSEREF of it would, whether or not the op then finds
 * that inode under the name.
 */
#define CFS_REMOVE_DROPREF 0x100
/* RENAME's RENAME_WHITEOUT (Linux's value): the entry carries the whiteout's new inode number */
#define CFS_RENAME_WHITEOUT 0x4

/* Lock types (op.mode of SETLK/GETLK, GETLK's value) */
#define CFS_LK_RD 1
#define CFS_LK_WR 2
#define CFS_LK_UN 3
/* SETLK/GETLK/UNLOCK flags */
#define CFS_LK_FLOCK 0x1   /* a BSD flock: the whole file, apart from POSIX locks */
#define CFS_LK_WAIT 0x2	   /* SETLK: queue when in the way (F_SETLKW, blocking flock) */
#define CFS_LK_POSIX 0x4   /* UNLOCK: the owner's POSIX locks */
#define CFS_LK_SESSION 0x8 /* UNLOCK: every lock and wait of the caller's session */
/* SETLK's value when the request waits in the queue */
#define CFS_LK_QUEUED 1
/* The largest end of a lock range (the kernel's OFFSET_MAX) */
#define CFS_LK_EOF ((uint64_t)INT64_MAX)

/* GETLK's data: the lock in the way. */
struct cfs_lock_desc {
	uint64_t start;
	uint64_t end;
	uint32_t pid; /* the process that took it, on its own host */
};
#define CFS_LOCK_DESC_SIZE 20

/* LKGRANT body: the queued SETLK (client's seq) on ino is decided: status 0 (held) or an errno. */
struct cfs_lkgrant {
	uint64_t ino;
	uint64_t seq;
	int32_t status;
};

/*
 * In any op's flags, set by a node only (it clears it in every request it
 * takes from a client): the caller is the anonymous user of an export
 * (root squashed, all squashed, or a uid/gid outside the export's ranges),
 * so the store itself checks its permissions as the kernel would for that
 * uid and gid with no supplementary groups and no capabilities; without
 * it the caller's kernel checked them (default_permissions).
 */
#define CFS_OP_CHECK_PERM 0x80000000u
/*
 * In an update's flags, set by a client for an update its kernel does not
 * know of (one the client makes by itself, such as removing the hidden
 * name of an unlinked file at its last close): the tail recalls what it
 * changes from the writer too, whose kernel would otherwise keep the old
 * attributes.  The store applies the op as if it were not set.
 */
#define CFS_OP_RECALL_WRITER 0x40000000u

/* CFS_OP_CREATE flags */
#define CFS_CREATE_EXCL 0x1
#define CFS_CREATE_TRUNC 0x2 /* O_TRUNC: an existing file found instead is truncated */
#define CFS_CREATE_OPENREF 0x4 /* and the caller's session holds the file open (OPENREF) */
/* CFS_OP_READDIR flags */
#define CFS_READDIR_PLUS 0x1
/* CFS_OP_WRITE flags: at the end of the file as the head finds it (O_APPEND) */
#define CFS_WRITE_APPEND 0x1

/* CFS_OP_SETATTR valid bits */
#define CFS_SET_MODE 0x01
#define CFS_SET_UID 0x02
#define CFS_SET_GID 0x04
#define CFS_SET_SIZE 0x08
#define CFS_SET_ATIME 0x10
#define CFS_SET_MTIME 0x20
#define CFS_SET_ATIME_NOW 0x40 /* use the entry's time, decided by the head */
#define CFS_SET_MTIME_NOW 0x80
#define CFS_SET_CTIME 0x100
#define CFS_SET_KILL_SUID 0x200 /* a write by a non-owner clears set-uid/set-gid */
/* SETXATTR of system.posix_acl_access by a caller outside the file's group, not root */
#define CFS_SET_KILL_SGID 0x400
/* The inode flags (FS_IOC_SETFLAGS): op.rdev, the CFS_FL_* bits only */
#define CFS_SET_FLAGS 0x800

/*
 * Inode flags (cfs_attr.flags), Linux's FS_*_FL values, as chattr(1) sets
 * them.  The store enforces immutable and append-only itself: the kernel
 * does not for a FUSE filesystem.
 */
#define CFS_FL_IMMUTABLE 0x10 /* FS_IMMUTABLE_FL: no change at all, no new name, no removal */
#define CFS_FL_APPEND 0x20    /* FS_APPEND_FL: data only appended; no removal, no rename */
#define CFS_FL_NODUMP 0x40    /* FS_NODUMP_FL: kept for dump(8), no effect here */
#define CFS_FL_NOATIME 0x80   /* FS_NOATIME_FL: kept; access times never move here anyway */
#define CFS_FL_KEPT (CFS_FL_IMMUTABLE | CFS_FL_APPEND | CFS_FL_NODUMP | CFS_FL_NOATIME)
/*
 * CREATE, MKNOD, MKDIR: valid is the caller's umask (0777 bits), applied
 * unless the parent directory has a default ACL (then the ACL masks the
 * mode instead); 0 from a client whose kernel applied it already.
 */
#define CFS_CREATE_UMASK 0777

/*
 * Chain-level statuses, carried where an errno would be.  An errno is
 * positive; these are negative and never reach an application.
 */
#define CFS_ERR_NOT_HEAD (-1)  /* an update was sent to a node that is not the head */
#define CFS_ERR_NOT_TAIL (-2)  /* a read was sent to a node that is not the tail */
#define CFS_ERR_EPOCH (-3)     /* the sender's epoch is not the node's */
#define CFS_ERR_BUSY (-4)      /* the node cannot take more work now; retry later */
#define CFS_ERR_PROTOCOL (-5)  /* the request made no sense; do not retry */
#define CFS_ERR_DENIED (-6)    /* the peer's certificate does not allow this role */

/* Why a frame or body was rejected by the decoder. */
enum cfs_wire_err {
	CFS_WIRE_OK = 0,
	CFS_WIRE_SHORT = -1,	/* not enough bytes (header: wait for more) */
	CFS_WIRE_BAD_MAGIC = -2,
	CFS_WIRE_BAD_VERSION = -3,
	CFS_WIRE_BAD_TYPE = -4,
	CFS_WIRE_TOO_LONG = -5, /* length or a field exceeds its limit */
	CFS_WIRE_BAD_FIELD = -6, /* a field has a value outside its domain */
	CFS_WIRE_TRAILING = -7, /* the body has bytes left after the last field */
	CFS_WIRE_BAD_FLAGS = -8,
};

struct cfs_header {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t flags;
	uint32_t length;
	uint64_t reqid;
	uint64_t epoch;
};

/* A growable output buffer.  Encoders append; on allocation failure they abort. */
struct cfs_wbuf {
	uint8_t *p;
	size_t len;
	size_t cap;
};

/* A bounded input cursor.  Getters set err and return zeros once out of bytes. */
struct cfs_rbuf {
	const uint8_t *p;
	size_t len;
	size_t off;
	int err; /* enum cfs_wire_err */
};

/* Inode attributes as the store keeps them and as replies carry them. */
struct cfs_attr {
	uint64_t ino;
	uint32_t mode;
	uint32_t nlink;
	uint32_t uid;
	uint32_t gid;
	uint64_t rdev;
	uint64_t size;
	uint64_t blocks; /* 512-byte units actually stored */
	int64_t atime_sec;
	uint32_t atime_nsec;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	int64_t ctime_sec;
	uint32_t ctime_nsec;
	uint64_t version; /* data version: changes with every change of the contents */
	uint32_t flags;	  /* CFS_FL_*: the inode flags of chattr(1) that chainfs keeps */
};

/*
 * One operation.  Pointers refer into the frame it was decoded from (or to the
 * caller's memory when encoding); they are not NUL-terminated.
 */
struct cfs_op {
	uint16_t type;	/* enum cfs_op_type */
	uint32_t flags; /* per-op flags, see above */
	uint64_t ino;
	uint64_t ino2;
	uint32_t mode;
	uint32_t uid; /* the owner of what a create makes; SETATTR: the new owner */
	uint32_t gid;
	uint32_t valid; /* CFS_SET_* for SETATTR */
	/*
	 * Who asks, for every op: the client's caller.  A node replaces it by
	 * an export's anonymous user when it squashes (and sets
	 * CFS_OP_CHECK_PERM); otherwise only the client's kernel used it.
	 */
	uint32_t caller_uid;
	uint32_t caller_gid;
	uint64_t rdev;
	uint64_t offset;
	uint64_t length;
	int64_t atime_sec;
	uint32_t atime_nsec;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint16_t namelen; /* <= CFS_NAME_MAX */
	const char *name;
	uint16_t name2len; /* <= CFS_NAME_MAX */
	const char *name2;
	uint32_t datalen; /* <= CFS_MAX_IO */
	const uint8_t *data;
};

/* Entry kinds. */
#define CFS_ENTRY_UPDATE 1     /* change the state as op says */
#define CFS_ENTRY_REPLY_ONLY 2 /* a retried request: no effect, the tail answers from the table */

/* One fully determined update, as the head decided it. */
struct cfs_entry {
	uint64_t sn;
	uint64_t epoch; /* the epoch of the head that made it: (epoch, sn) names one history */
	uint8_t kind;
	uint64_t client_id;
	uint64_t seq;	      /* the client's request sequence number */
	uint64_t acked_below; /* the client has every reply below this seq */
	uint64_t new_ino;     /* inode number a create uses, decided by the head */
	int64_t time_sec;     /* the time of this update, decided by the head */
	uint32_t time_nsec;
	int32_t result; /* status the head computed; replicas must compute the same */
	struct cfs_op op;
};

/* Reply flags */
#define CFS_REPLY_ATTR 0x1 /* attr is valid */

#define CFS_REPLY_DIRS_MAX 2
struct cfs_reply {
	int32_t status; /* 0, a positive errno, or a negative CFS_ERR_* */
	uint32_t flags;
	struct cfs_attr attr;
	uint64_t value;
	uint32_t datalen; /* <= CFS_MAX_IO + CFS_XATTR_SIZE_MAX */
	const uint8_t *data;
	/*
	 * A lease the tail grants with this answer, in ms (0: none): on the
	 * op's inode (a lookup's: the directory's entries) and on attr.ino.
	 * Set by the tail as it sends the reply; never stored.
	 */
	uint32_t lease_ms;
	/*
	 * A namespace update's directories (its parent; a rename's two, a
	 * link's new parent) as the update left them, leased to the writer
	 * with lease_ms (ndirs 0 without a lease).  Set by the tail as it
	 * sends the reply, from what the store reported; never stored, so
	 * a retry answered from the result table has none.
	 */
	uint8_t ndirs;
	struct cfs_attr dirs[CFS_REPLY_DIRS_MAX];
};

/*
 * A RECALL: what a client must drop from its kernel's caches before it
 * acknowledges.  CFS_RECALL_INODE: the attributes and data of ino (the
 * only kind so far; names are not leased, see DESIGN.md).
 */
#define CFS_RECALL_INODE 1
#define CFS_RECALL_GONE 2 /* an inode that lost its last name (store_opens.c) */
#define CFS_RECALL_MAX 64
struct cfs_recall_item {
	uint8_t kind;
	uint64_t ino;
};
struct cfs_recall {
	uint16_t n;
	struct cfs_recall_item items[CFS_RECALL_MAX];
};

struct cfs_node_addr {
	char name[CFS_NODE_NAME_MAX + 1];
	char host[CFS_HOST_MAX + 1];
	uint16_t port;
};

struct cfs_hello {
	uint8_t role; /* enum cfs_peer_role */
	uint64_t client_id;
	char name[CFS_NODE_NAME_MAX + 1]; /* node name, or a free-form client name */
	uint64_t applied_sn; /* a predecessor: what it has applied as it connects; else 0 */
	/*
	 * A client: the leases it wants (0: none; the tail may shorten).  A
	 * node: how long the leases it granted as a tail may still run.
	 */
	uint32_t lease_ms;
};

struct cfs_hello_reply {
	int32_t status;
	char name[CFS_NODE_NAME_MAX + 1];
	uint8_t role; /* CFS_ROLE_* bits */
	uint64_t applied_sn;
	uint64_t applied_epoch; /* the epoch of the entry at applied_sn (0: none) */
	uint64_t epoch;
	/*
	 * Seconds after which the chain forgets a silent client's results
	 * (session-ttl): a client must not send an update again later than
	 * half of it after first sending it (see store_sessions).
	 */
	uint32_t session_ttl_s;
	/*
	 * How long a session's locks outlive its last PING or request to
	 * the head (lock-lease), in ms; 0: the chain keeps no locks.
	 */
	uint32_t lock_lease_ms;
	uint16_t nnodes; /* chain order, head first */
	struct cfs_node_addr nodes[CFS_MAX_NODES];
};

struct cfs_status {
	char name[CFS_NODE_NAME_MAX + 1];
	uint8_t role;
	uint64_t epoch;
	uint64_t applied_sn;
	uint64_t acked_sn; /* highest sn known to be on the tail */
	uint64_t sent_len; /* entries forwarded and not yet acknowledged */
	uint64_t sent_bytes;
	uint32_t clients;	 /* connected client connections */
	uint8_t successor_up; /* 1 when the link to the successor is established */
	uint8_t digest[CFS_DIGEST_LEN];
	uint32_t flags; /* CFS_STATUS_* */
	uint64_t applied_epoch;
	char master[CFS_NODE_NAME_MAX + 1];  /* the node that rewrites the configuration; "" unknown */
	char syncing[CFS_NODE_NAME_MAX + 1]; /* the node joining behind the tail; "" none */
	uint64_t sync_sn;		     /* how far the syncing node has acknowledged */
	uint64_t locks;			     /* lock records in the node's table */
	uint64_t lock_waits;		     /* lock requests queued */
	uint16_t nchain;		     /* the chain as this node knows it, head first */
	char chain[CFS_MAX_NODES][CFS_NODE_NAME_MAX + 1];
};

/* cfs_status flags */
#define CFS_STATUS_ETCD 0x1	/* failover on: the configuration comes from etcd */
#define CFS_STATUS_FENCED 0x2	/* no fresh etcd lease: answers no client */
#define CFS_STATUS_WAITING 0x4	/* a new tail waiting out the old tail's lease */
#define CFS_STATUS_MASTER 0x8	/* this node is the master */
#define CFS_STATUS_MEMBER 0x10	/* this node is in the chain */

/*
 * One SNAPSHOT frame: the copy is of (epoch, sn); the first chunk has
 * CFS_SNAP_BEGIN, the last CFS_SNAP_END (one chunk may have both); records
 * are the store's (store_snap_next), checked by the receiving store.
 */
#define CFS_SNAP_BEGIN 0x1
#define CFS_SNAP_END 0x2
struct cfs_snapshot {
	uint64_t sn;
	uint64_t epoch;
	uint8_t flags;
	uint32_t len; /* <= CFS_MAX_IO */
	const uint8_t *records;
};

struct cfs_statfs {
	uint64_t bsize;
	uint64_t blocks;
	uint64_t bfree;
	uint64_t bavail;
	uint64_t files;
	uint64_t ffree;
	uint32_t namemax;
};

/* One readdir record; with CFS_READDIR_PLUS the attr is present too. */
struct cfs_dirent {
	uint64_t ino;
	uint64_t cookie; /* offset to pass to continue after this entry */
	uint32_t type;	 /* S_IFMT bits of the mode */
	uint16_t namelen;
	const char *name;
	struct cfs_attr attr;
};

/* Output buffer */
void cfs_wbuf_init(struct cfs_wbuf *);
void cfs_wbuf_free(struct cfs_wbuf *);
void cfs_wbuf_reset(struct cfs_wbuf *);
void cfs_wbuf_reserve(struct cfs_wbuf *, size_t);
void cfs_put_u8(struct cfs_wbuf *, uint8_t);
void cfs_put_u16(struct cfs_wbuf *, uint16_t);
void cfs_put_u32(struct cfs_wbuf *, uint32_t);
void cfs_put_u64(struct cfs_wbuf *, uint64_t);
void cfs_put_bytes(struct cfs_wbuf *, const void *, size_t);

/* Input cursor */
void cfs_rbuf_init(struct cfs_rbuf *, const void *, size_t);
uint8_t cfs_get_u8(struct cfs_rbuf *);
uint16_t cfs_get_u16(struct cfs_rbuf *);
uint32_t cfs_get_u32(struct cfs_rbuf *);
uint64_t cfs_get_u64(struct cfs_rbuf *);
const uint8_t *cfs_get_bytes(struct cfs_rbuf *, size_t);
/* CFS_WIRE_OK when no getter failed and every byte was consumed. */
int cfs_rbuf_done(const struct cfs_rbuf *);

/* Header: decode validates magic, version, type, flags and length. */
void cfs_header_encode(uint8_t out[CFS_HEADER_SIZE], const struct cfs_header *);
int cfs_header_decode(const uint8_t *, size_t, struct cfs_header *);

/*
 * Whole frames: cfs_frame_begin() appends a header with a length to be fixed
 * by cfs_frame_end() once the body has been appended.
 */
size_t cfs_frame_begin(struct cfs_wbuf *, uint16_t type, uint64_t reqid, uint64_t epoch);
void cfs_frame_end(struct cfs_wbuf *, size_t start);

/* Bodies.  Encoders append to a wbuf; decoders return enum cfs_wire_err. */
void cfs_hello_encode(struct cfs_wbuf *, const struct cfs_hello *);
int cfs_hello_decode(const void *, size_t, struct cfs_hello *);
void cfs_hello_reply_encode(struct cfs_wbuf *, const struct cfs_hello_reply *);
int cfs_hello_reply_decode(const void *, size_t, struct cfs_hello_reply *);
/* REQUEST body: acked_below then the op. */
void cfs_request_encode(struct cfs_wbuf *, uint64_t acked_below, const struct cfs_op *);
int cfs_request_decode(const void *, size_t, uint64_t *acked_below, struct cfs_op *);
void cfs_reply_encode(struct cfs_wbuf *, const struct cfs_reply *);
int cfs_reply_decode(const void *, size_t, struct cfs_reply *);
void cfs_entry_encode(struct cfs_wbuf *, const struct cfs_entry *);
int cfs_entry_decode(const void *, size_t, struct cfs_entry *);
/* RECALL body: items appended one by one after cfs_recall_begin; n is patched in. */
size_t cfs_recall_begin(struct cfs_wbuf *);
void cfs_recall_add(struct cfs_wbuf *, size_t at, uint8_t kind, uint64_t ino);
int cfs_recall_decode(const void *, size_t, struct cfs_recall *);
void cfs_lkgrant_encode(struct cfs_wbuf *, const struct cfs_lkgrant *);
int cfs_lkgrant_decode(const void *, size_t, struct cfs_lkgrant *);
void cfs_lock_desc_put(struct cfs_wbuf *, const struct cfs_lock_desc *);
int cfs_lock_desc_decode(const void *, size_t, struct cfs_lock_desc *);
/* PONG body: a status (0: the head heard the session; or CFS_ERR_NOT_HEAD, _EPOCH). */
void cfs_status_only_encode(struct cfs_wbuf *, int32_t status);
int cfs_status_only_decode(const void *, size_t, int32_t *status);
void cfs_ack_encode(struct cfs_wbuf *, uint64_t sn);
int cfs_ack_decode(const void *, size_t, uint64_t *sn);
void cfs_status_encode(struct cfs_wbuf *, const struct cfs_status *);
int cfs_status_decode(const void *, size_t, struct cfs_status *);
/* SNAPSHOT body: the header fields, then the records are appended by the caller. */
void cfs_snapshot_encode(struct cfs_wbuf *, const struct cfs_snapshot *);
int cfs_snapshot_decode(const void *, size_t, struct cfs_snapshot *);
void cfs_statfs_encode(struct cfs_wbuf *, const struct cfs_statfs *);
int cfs_statfs_decode(const void *, size_t, struct cfs_statfs *);
void cfs_attr_put(struct cfs_wbuf *, const struct cfs_attr *);
void cfs_attr_get(struct cfs_rbuf *, struct cfs_attr *);
/* Readdir records, appended one after another in a reply's data. */
void cfs_dirent_put(struct cfs_wbuf *, const struct cfs_dirent *, int plus);
int cfs_dirent_get(struct cfs_rbuf *, struct cfs_dirent *, int plus);

/* True for the op types that are updates (go to the head). */
int cfs_op_is_update(uint16_t type);
/* True for ops only a node makes (CFS_OP_EXPIRE_SESSIONS, _LKEXPIRE): refused from clients. */
int cfs_op_is_internal(uint16_t type);
/* True for the lock updates (SETLK, UNLOCK, LKCANCEL, LKEXPIRE): they change no file. */
int cfs_op_is_lock(uint16_t type);
/* True for any known op type. */
int cfs_op_is_valid(uint16_t type);
const char *cfs_op_name(uint16_t type);
const char *cfs_msg_name(uint16_t type);
const char *cfs_wire_strerror(int err);

#endif
