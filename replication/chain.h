/*
 * The chain-replication state machine of one node (van Renesse & Schneider
 * 2004), without sockets: the daemon feeds it requests, entries and acks and
 * carries out what it asks through struct chain_io.  Unit tests drive it
 * directly.
 *
 * Invariants (asserted):
 *   - applied_sn grows by exactly one per applied entry;
 *   - acked_sn <= applied_sn; the sent list is the entries in
 *     (acked_sn, applied_sn], a suffix of what was applied, kept in the
 *     store's log so that it survives a restart;
 *   - only the head creates entries; only the tail replies to clients.
 *
 * The head resolves a request into a fully determined entry (sn, inode
 * number, time, result) by applying it, then forwards it.  A request that was
 * already applied (found in the result table, or below the client's floor)
 * becomes a REPLY_ONLY entry: it changes nothing and the tail answers with
 * the stored result.
 */
#ifndef CHAINFS_CHAIN_H
#define CHAINFS_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "common/wire.h"
#include "store/store.h"

/*
 * The chain configuration as one object: (epoch, [head .. tail], the node
 * syncing behind the tail).  A node's role, predecessor and successor follow
 * from it and from the node's name; it changes only through
 * chain_reconfigure, and its epoch only grows.
 */
struct chain_view {
	uint64_t epoch;
	uint16_t n; /* nodes in the chain; 0: no configuration yet */
	char nodes[CFS_MAX_NODES][CFS_NODE_NAME_MAX + 1];
	char syncing[CFS_NODE_NAME_MAX + 1]; /* joining behind the tail; "" none */
	uint32_t tail_wait_ms; /* a node that becomes tail in this epoch waits this long */
	uint64_t cluster_id;   /* names the cluster's history; a store of another is refused */
};

/* Index of name in the chain, or -1. */
int view_index(const struct chain_view *, const char *name);
/* CFS_ROLE_HEAD|CFS_ROLE_TAIL bits of name; 0 for a middle node or a non-member. */
unsigned view_role(const struct chain_view *, const char *name);
/* Who sends name its entries: the node before it, or the tail for the syncing node; NULL. */
const char *view_pred(const struct chain_view *, const char *name);
/* Whom name sends entries to: the node after it, or the syncing node after the tail; NULL. */
const char *view_succ(const struct chain_view *, const char *name);
/* "head", "middle", "tail", "head+tail", "syncing" or "out" for logs. */
const char *view_role_name(const struct chain_view *, const char *name);

/* What a node does with a successor that says it has applied up to (epoch, sn). */
enum chain_verdict {
	CHAIN_CONTINUE = 0,  /* its history is a prefix of ours: resend from the log after sn */
	CHAIN_SNAPSHOT = -1, /* it holds entries we never had, or ones our log no longer has */
};

/* Results of chain_entry. */
enum chain_result {
	CHAIN_OK = 0,
	CHAIN_DUP = 1,	     /* already applied: ignored (a resend after reconnect) */
	CHAIN_GAP = -1,	     /* sn beyond applied_sn + 1: the predecessor must resend */
	CHAIN_BAD = -2,	     /* undecodable entry */
	CHAIN_STORE = -3,    /* the store could not apply it now (full disk): nothing changed */
	CHAIN_NOT_HEAD = -4, /* chain_update on a node that is not the head */
};

struct chain_io {
	/* Sends one whole ENTRY frame to the successor (when it is up). */
	void (*forward)(void *arg, const uint8_t *frame, size_t len);
	/* Tells the predecessor that every entry up to sn is on the tail. */
	void (*ack)(void *arg, uint64_t sn);
	/* Nonzero while the successor link can take more bytes. */
	int (*room)(void *arg);
	/* Tail: the answer to (client_id, seq). */
	void (*reply)(void *arg, uint64_t client_id, uint64_t seq, const struct cfs_reply *);
	/*
	 * Tail, optional: entry e was applied (before its reply, if it has
	 * one); what it changed is in the store's tracked changes.
	 */
	void (*applied)(void *arg, const struct cfs_entry *e);
};

struct chain_stats {
	uint64_t entries_applied;
	uint64_t bytes_replicated; /* entry bytes forwarded to the successor */
	uint64_t updates;	   /* client requests turned into entries (head) */
	uint64_t reply_only;	   /* of which retries answered from the result table */
	uint64_t divergences;	   /* replica computed a different result than the head */
	uint64_t syncs;
};

struct chain {
	struct store *st;
	unsigned role;	    /* CFS_ROLE_HEAD | CFS_ROLE_TAIL bits, from the view */
	uint64_t epoch;	    /* the view's epoch */
	struct chain_view view;
	char self[CFS_NODE_NAME_MAX + 1];
	int joining;	    /* this node is the syncing one: applies and acks, never replies */
	int succ_joining;   /* tail: the successor is a syncing node, its acks stay here */
	uint64_t sync_acked_sn; /* tail: how far the syncing successor has acknowledged */
	uint64_t applied_epoch; /* epoch of the entry at applied_sn */
	uint64_t log_retain;	/* acknowledged entries kept in the log for joining nodes */
	uint64_t acked_sn;  /* every entry up to here is on the tail */
	uint64_t trimmed_sn; /* the log holds nothing at or below this */
	uint64_t synced_sn; /* applied entries known to be on stable storage */
	/* A group commit on the store's thread is running (bg_sync); it covers bg_sync_sn (0: nothing) */
	int bg_sync;
	uint64_t bg_sync_sn;
	int sync_pending;   /* an FSYNC entry was applied in the open store batch */
	int succ_up;	    /* the successor link is up: forward as we go */
	uint64_t sent_sn;   /* highest sn written to the current successor link */
	uint64_t sent_bytes;
	int64_t last_sec;   /* time of the last entry made here (head): never goes back */
	uint32_t last_nsec;
	struct cfs_wbuf buf;
	const struct chain_io *io;
	void *arg;
	struct chain_stats stats;
	/* Clock for entry times; tests replace it.  */
	void (*clock)(int64_t *sec, uint32_t *nsec);
};

void chain_init(struct chain *, struct store *, unsigned role, uint64_t epoch,
		const struct chain_io *, void *arg);
void chain_free(struct chain *);

/*
 * Head: turns a client's update request into the next entry, applies,
 * forwards it and (when also tail) replies.  Returns 0, or a status to
 * answer at once because nothing was applied: CFS_ERR_NOT_HEAD,
 * CFS_ERR_PROTOCOL (not an update), ENOSPC (store full).
 */
int chain_update(struct chain *, uint64_t client_id, uint64_t seq, uint64_t acked_below,
		 const struct cfs_op *);
/*
 * At the head: drops, through an entry, the results of every client not
 * heard of for ttl_s seconds; 1 when an entry was made, 0 when none was
 * due, -1 on a store error.
 */
int chain_expire_sessions(struct chain *, unsigned ttl_s);

/* Middle or tail: one ENTRY body from the predecessor; enum chain_result. */
int chain_entry(struct chain *, const uint8_t *body, size_t len);

/* The successor acknowledged every entry up to sn; passed on upstream. */
void chain_ack(struct chain *, uint64_t sn);

/*
 * Takes a new configuration: role, predecessor and successor follow from it
 * and self.  The epoch never goes back (asserted).  Becoming tail commits
 * everything applied here (it is on the tail now); the successor link is
 * down until the daemon brings it up again in the new epoch.
 */
void chain_reconfigure(struct chain *, const struct chain_view *, const char *self);

/*
 * The successor link is up and the successor has applied up to
 * (succ_epoch, succ_sn).  CHAIN_CONTINUE: resends the logged entries after
 * it, then forwards new ones as they come.  CHAIN_SNAPSHOT: its history is
 * not a prefix of ours (an entry we do not have at that sn, or one our log no
 * longer holds); nothing is sent.  A returning node is never trusted by its
 * sn alone.
 */
int chain_successor_up(struct chain *, uint64_t succ_sn, uint64_t succ_epoch);
void chain_successor_down(struct chain *);
/*
 * The store was replaced by a snapshot (a syncing node): re-reads applied_sn,
 * the log and the epoch of the last entry from it.
 */
void chain_store_replaced(struct chain *);

/* Forwards logged entries the successor lacks, as far as its link has room. */
int chain_pump(struct chain *);

/* Tail: answers a read from committed state; CFS_ERR_NOT_TAIL elsewhere. */
int chain_read(struct chain *, const struct cfs_op *, struct cfs_reply *, struct cfs_wbuf *out);

/*
 * The store batch in which entries were applied has been committed; call
 * before anything the batch produced leaves the node (an FSYNC entry's sync
 * happens here).
 */
void chain_committed(struct chain *);

/* Periodic work: group commit (sync) and trimming acknowledged log entries. */
void chain_maintain(struct chain *);

/* Entries forwarded and not yet acknowledged. */
uint64_t chain_sent_len(const struct chain *);
uint64_t chain_applied_sn(const struct chain *);

#endif
