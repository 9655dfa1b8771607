/*
 * The replicated state of one node, in one LMDB environment.
 *
 * Named databases:
 *   meta     "applied_sn" -> u64, "next_ino" -> u64
 *   inodes   ino (u64 big-endian) -> inode record (attr, parent dir, xattr count)
 *   dirents  parent (u64 BE) + name -> ino (u64), cookie (u64)
 *   cookies  parent (u64 BE) + cookie (u64 BE) -> name   (stable readdir offsets)
 *   blocks   ino (u64 BE) + block index (u64 BE) -> up to STORE_BLOCK_SIZE bytes
 *   xattrs   ino (u64 BE) + name -> value
 *   results  client id (u64 BE) + seq (u64 BE) -> encoded reply (no data)
 *   floors   client id (u64 BE) -> u64 acked_below (see store_client_floor),
 *            i64 when the client was last heard of (seconds, the head's clock)
 *   log      sn (u64 BE) -> encoded entry: the node's sent list, kept on disk
 *   locks, lkwait, lkown, lksess: the lock table and its queue (store_locks.c)
 *
 * Applying an entry is one write transaction that also sets applied_sn, so a
 * node that crashes restarts at exactly the last entry it applied.  Applying
 * is a pure function of the state and the entry: the head decides inode
 * numbers and times and puts them in the entry.
 *
 * Durability: the environment is opened with MDB_NOSYNC.  A committed
 * transaction survives the crash of the process at once, and survives a crash
 * of the machine after store_sync(), which the node calls for every FSYNC
 * entry and on a timer (group commit).
 *
 * Nothing here knows about sockets or FUSE.
 */
#ifndef CHAINFS_STORE_H
#define CHAINFS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/wire.h"

#define STORE_BLOCK_SIZE 65536
#define STORE_ROOT_INO 1
#define STORE_DEFAULT_MAPSIZE (64ULL << 30)

struct store;

/*
 * Opens (creating if needed) the store in directory dir.  A new store holds
 * the root directory (ino 1, mode 040755, uid 0, gid 0, nlink 2, all times 0)
 * and applied_sn 0.  On failure returns -1 and writes a reason to err.
 */
int store_open(struct store **out, const char *dir, uint64_t mapsize, char *err, size_t errlen);
void store_close(struct store *);

uint64_t store_applied_sn(struct store *);
/* The inode number the head should put in the next entry's new_ino. */
uint64_t store_next_ino(struct store *);
/* Bytes of file data read with pread rather than through LMDB's map. */
uint64_t store_preads(const struct store *);

/* store_apply flags */
#define STORE_DECIDE 0x1 /* head: set e->result to the status this apply computed */
#define STORE_LOG 0x2	 /* append e's encoded body to `body` and keep it in the log */

/*
 * Applies entry e, which must have e->sn == applied_sn + 1, in one write
 * transaction: performs e->op (CFS_ENTRY_UPDATE) or nothing
 * (CFS_ENTRY_REPLY_ONLY), stores the reply under (client_id, seq) unless the
 * entry is REPLY_ONLY, deletes the client's results with seq < acked_below
 * and raises the client's floor (store_client_floor) to acked_below, raises
 * next_ino past e->new_ino when it was used, and sets applied_sn.
 *
 * With STORE_DECIDE, e->result is set to the computed status before e is
 * encoded.  With STORE_LOG, cfs_entry_encode(body, e) is appended to body
 * (after any bytes already there, e.g. a frame header) and those bytes are
 * stored in the log under e->sn in the same transaction.  Without
 * STORE_DECIDE a replica computes its own status; the caller compares it with
 * e->result (a difference means the replicas diverged).
 *
 * The version of an inode's attr (data version) is set to e->sn by every
 * entry that changes the file's contents or size.
 *
 * With CFS_OP_CHECK_PERM in e->op.flags the store first checks the op's
 * permissions for its caller (op.caller_uid, op.caller_gid, no
 * supplementary groups, never privileged) as Linux would; a denial is the
 * op's status (EACCES, EPERM) and changes nothing.  The check depends on the
 * state and the entry only, and e keeps the bit (it is logged and passed on
 * with it), so every replica decides the same.
 *
 * *res receives the operation's result (status 0 or a positive errno, attr
 * where the op yields one, value).  For REPLY_ONLY it receives the stored
 * result of (client_id, seq), or status CFS_ERR_PROTOCOL if there is none.
 * res->data is never set.
 *
 * Returns 0, or a negative errno when the store itself failed (-ENOSPC when
 * the map is full, -EINVAL when e->sn is out of order): then nothing changed
 * (body is truncated back to its length on entry).
 */
int store_apply(struct store *, struct cfs_entry *e, unsigned flags, struct cfs_wbuf *body,
		struct cfs_reply *res);

/*
 * The lowest request seq of client_id whose result may still be asked for:
 * the highest acked_below it has sent (0 when unknown).  A request below it
 * is an old duplicate whose reply the client already has.  Returns 0, or EIO
 * when the store could not be read (then *floor means nothing).
 */
int store_client_floor(struct store *, uint64_t client_id, uint64_t *floor);

/*
 * The client sessions: how many clients have a floor (were heard of and not
 * expired), how many results the table holds, and, when oldest is not NULL,
 * the earliest "last heard of" among them (INT64_MAX when none; a scan of
 * every client).  Returns 0 or EIO.  CFS_OP_EXPIRE_SESSIONS drops them.
 */
int store_sessions(struct store *, uint64_t *sessions, uint64_t *results, int64_t *oldest);

/*
 * Fault injection for tests: after `skip` more reads of results and floors,
 * the next n fail as if LMDB had (SQLite's habit: prove the error paths too).
 */
void store_inject_read_faults(struct store *, unsigned skip, unsigned n);

/*
 * Finds the stored result of (client_id, seq).  Returns 0 and fills *res,
 * or ENOENT.
 */
int store_result(struct store *, uint64_t client_id, uint64_t seq, struct cfs_reply *res);

/*
 * Answers a read operation (CFS_OP_LOOKUP .. CFS_OP_LKSTATE) from committed
 * state in one read transaction.  Data (file bytes, link target, xattr value,
 * name list, dirent records, statfs) is appended to out and res->data points
 * into out->p.  Returns 0; the op's own errno is in res->status.  With
 * CFS_OP_CHECK_PERM the caller's permissions are checked first, as for
 * store_apply (search a directory to look up in, read one to list it, read
 * a file or a user.* xattr; trusted.* xattrs are ENODATA; LISTXATTR lists
 * every name).
 */
int store_read(struct store *, const struct cfs_op *op, struct cfs_reply *res,
	       struct cfs_wbuf *out);

/*
 * Calls fn for every logged entry with sn > after, in sn order, stopping when
 * fn returns non-zero.  Returns 0 or a negative errno.
 */
int store_log_foreach(struct store *, uint64_t after,
		      int (*fn)(uint64_t sn, const void *buf, size_t len, void *arg), void *arg);
/* Deletes logged entries with sn <= upto. */
int store_log_trim(struct store *, uint64_t upto);

/*
 * SHA-256 over the whole replicated state in key order (every database but
 * log), so replicas that agree have equal digests.
 */
int store_digest(struct store *, uint8_t out[CFS_DIGEST_LEN]);

/*
 * Snapshots, for a node that cannot continue from a log: the sender opens a
 * read transaction (store_snap_begin; the copy is of store_snap_sn, however
 * much is applied meanwhile) and takes records chunk by chunk; the receiver
 * empties its store (store_import_begin), writes each chunk in one
 * transaction (store_import_chunk: -EPROTO for a malformed record) and ends
 * with store_import_end, which makes the store whole at the snapshot's sn
 * and syncs it.  A store opened with an import unfinished is emptied: half a
 * snapshot is not a state.
 */
struct store_snap;
int store_snap_begin(struct store *, struct store_snap **);
uint64_t store_snap_sn(const struct store_snap *);
/* Appends records until out holds max bytes: 1 when all are out, 0 for more, or -errno. */
int store_snap_next(struct store_snap *, struct cfs_wbuf *out, size_t max);
void store_snap_end(struct store_snap *);
int store_import_begin(struct store *);
int store_import_chunk(struct store *, const uint8_t *records, size_t len);
int store_import_end(struct store *);
/* An import that cannot finish: the store becomes a new, empty one at sn 0. */
int store_import_abort(struct store *);

/*
 * Batches: between store_batch_begin and store_batch_commit every
 * store_apply is a child of one write transaction, so a run of entries costs
 * one commit.  Inside a batch store_applied_sn, store_next_ino, store_result
 * and store_client_floor see the batch; store_read, store_log_foreach and
 * store_digest see committed state only; store_log_trim and store_sync
 * return -EBUSY.  Nothing of a batch may leave the node (forwarded, answered)
 * before its commit returned 0.  When the commit fails, none of the batch
 * happened and applied_sn is back where the batch began.
 */
int store_batch_begin(struct store *);
int store_batch_commit(struct store *);
int store_in_batch(const struct store *);

/*
 * The id of the cluster whose history the store holds (0: none yet, a store
 * that never followed a configuration from etcd).  Set once, when the node
 * first follows one; a snapshot brings the sender's.
 */
int store_cluster_id(struct store *, uint64_t *id);
int store_set_cluster_id(struct store *, uint64_t id);

/*
 * What applied entries changed, for the tail's recalls (replication/lease.h):
 * every inode written or freed (a directory whose entries change is written
 * too), as store_track collects them from then on.  Past STORE_CHANGES_MAX,
 * overflow says "assume everything changed".  An entry whose effect was
 * rolled back may still have left its changes here: too many, never too few.
 */
#define STORE_CHANGES_MAX 32
struct store_changes {
	uint32_t ninodes;
	int overflow;
	uint64_t inodes[STORE_CHANGES_MAX];
	uint32_t gone; /* bit i: inodes[i] lost its last name and is kept open (an orphan) */
};
/* Starts collecting into ch (emptied first); NULL stops. */
void store_track(struct store *, struct store_changes *ch);

/*
 * Locks.  The queued lock requests that the entry applied last decided
 * (granted: status 0; ended: an errno), for the tail to tell their clients
 * (LKGRANT).  Valid until the next store_apply.
 */
#define STORE_LOCKS_MAX 4096		  /* lock records of one session; ENOLCK beyond */
#define STORE_LOCK_WAITS_MAX 256	  /* queued requests of one session */
#define STORE_LOCKS_INODE_MAX 16384	  /* lock records on one inode, all sessions */
#define STORE_LOCK_WAITS_INODE_MAX 1024 /* queued requests on one inode */
struct store_grant {
	uint64_t session; /* the client id */
	uint64_t seq;	  /* its SETLK request */
	uint64_t ino;
	int32_t status;
};
const struct store_grant *store_grants(const struct store *, size_t *n);
/* Lock records and queued requests in the table: 0 or EIO. */
int store_lock_stats(struct store *, uint64_t *locks, uint64_t *waits);
/* Calls fn for every session that holds a lock, waits for one or holds an inode open: 0 or EIO. */
int store_lock_sessions(struct store *, void (*fn)(void *arg, uint64_t session), void *arg);
/* Open references held, and orphans (inodes open with no name left); store_opens.c. */
int store_open_stats(struct store *, uint64_t *refs, uint64_t *orphans);

/* Flushes committed transactions to stable storage. */
int store_sync(struct store *);

/*
 * The same, on a thread of the store's, while the caller goes on
 * committing (group commit off the event loop): store_sync_start begins a
 * flush of what is committed now (0), or returns 1 while one is still
 * running and -EBUSY inside a batch; store_sync_done returns 1 once, when
 * the flush begun last has ended, with its error (0, or a negative errno)
 * in *err, and 0 before.  store_close waits for a running one.
 */
int store_sync_start(struct store *);
int store_sync_done(struct store *, int *err);

#endif
