/*
 * What node.c shares with node_lease.c (the tail's leases and recalls):
 * the accepted peer, and the few calls that reach one.
 */
#ifndef CHAINFS_NODE_INT_H
#define CHAINFS_NODE_INT_H

#include <stdint.h>
#include <sys/queue.h>

#include "common/admit.h"
#include "common/conn.h"
#include "common/wire.h"
#include "daemon/node.h"

/* One accepted connection. */
struct node_peer {
	struct node *n;
	struct cfs_conn *c;
	enum node_peer_state state;
	uint64_t client_id; /* what its requests go by: node_client_id */
	uint64_t chosen_id; /* the id it said in its HELLO */
	const struct cfs_export *export; /* a client's policy; NULL: no TLS, callers trusted */
	int in_bucket;
	int out_full; /* its replies are piling up: stop reading its requests */
	/* Its updates in flight, oldest first: a ring that grows to NODE_CLIENT_UPDATE_WINDOW. */
	uint64_t *upd_seq;
	size_t upd_cap, upd_first, upd_count;
	uint64_t last_outq;	 /* its output at the last look (node_check_stuck) */
	uint64_t progress_ms; /* when its output last went down */
	struct evbuffer_cb_entry *out_cb; /* counts its output into n->out_queued */
	struct cfs_pending pend; /* while PEER_HELLO: in n->pending */
	uint32_t lease_ms; /* a client: the leases it asked for (0: none) */
	uint32_t parked;   /* a client: its reads waiting for a recall (node_lease.c) */
	TAILQ_ENTRY(node_peer) all;
	TAILQ_ENTRY(node_peer) bucket;
};

/* node.c */
int node_may_answer(struct node *);
/* Opens the store batch of this turn of the loop (before chain_update). */
void node_batch_begin(struct node *);
struct node_peer *node_find_client(struct node *, uint64_t id);
void node_peer_queued(struct node *, struct node_peer *);
void node_send_reply(struct node *, struct node_peer *, uint64_t reqid, const struct cfs_reply *);
int node_on_request(struct node *, struct node_peer *, const struct cfs_header *,
		    const uint8_t *body);
/* Appends a reply record (as pend_reply holds them) to w. */
void node_reply_record(struct node *, struct cfs_wbuf *w, uint64_t client_id, uint64_t seq,
		       const struct cfs_reply *);
/* Sends reply records, after the open batch's commit when one is open. */
void node_queue_records(struct node *, const uint8_t *p, size_t len);
/*
 * Sends a whole frame (not a reply: a recall) to client id, dropped when it
 * is not connected: after the open batch's commit, in order with its
 * replies, or at once when no batch is open.
 */
void node_queue_frame(struct node *, uint64_t id, const uint8_t *frame, size_t len);

/* node_lease.c: see there. */
void node_lease_start(struct node *);
void node_lease_stop(struct node *);
void node_lease_applied(struct node *, const struct cfs_entry *);
int node_lease_hold(struct node *, uint64_t client_id, uint64_t seq, struct cfs_reply *);
int node_lease_read(struct node *, struct node_peer *, const struct cfs_header *,
		    const uint8_t *body, const struct cfs_op *, struct cfs_reply *);
void node_lease_ack(struct node *, struct node_peer *, uint64_t id);
void node_lease_hello(struct node *, struct node_peer *);
void node_lease_batch_end(struct node *);
void node_lease_view(struct node *, int was_tail, int is_tail);
void node_lease_each_second(struct node *);

/* node_locks.c: see there. */
void node_locks_start(struct node *);
void node_locks_stop(struct node *);
/* At the head: client was heard from now. */
void node_locks_heard(struct node *, uint64_t client);
void node_locks_ping(struct node *, struct node_peer *, const struct cfs_header *);
/* At the tail, after each applied entry: tells waiting clients what it decided. */
void node_locks_applied(struct node *);
/*
 * Each second: at the head, ends the sessions whose lock lease ran out (1
 * when it made entries); elsewhere forgets the clocks, which start afresh
 * when the node is the head again.
 */
int node_locks_each_second(struct node *);

#endif
