/*
 * One chainfsd node: its listener, its peers (clients, admin tools, the
 * predecessor), its link to the successor, and the chain state machine over
 * its store.  The chain's membership comes from the configuration file
 * (fixed, epoch CFS_STATIC_EPOCH) or, with "coordinator etcd", from etcd
 * through daemon/coord.c, which calls node_set_view and node_set_serving.
 */
#ifndef CHAINFS_NODE_H
#define CHAINFS_NODE_H

#include <stdint.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "common/admit.h"
#include "common/conf.h"
#include "common/conn.h"
#include "daemon/metrics.h"
#include "replication/chain.h"
#include "store/store.h"

#define CFS_STATIC_EPOCH 1
#define NODE_CLIENT_BUCKETS 256
/*
 * Descriptors.  chainfsd raises its soft RLIMIT_NOFILE to the hard limit;
 * of that, NODE_FD_RESERVE are never used by accepted connections, so the
 * node can always open its store, its successor link and its etcd
 * connections.  Of the rest, a quarter (at most NODE_MAX_PENDING) may be
 * pending connections (see common/admit.h), NODE_FD_PEERS more are kept for
 * the predecessor and chainfsctl, and the remainder is the cap on clients.
 */
#define NODE_FD_RESERVE 32
#define NODE_MAX_PENDING 256
#define NODE_MAX_PENDING_PER_SOURCE 64
#define NODE_FD_PEERS 16
/* An admin connection (chainfsctl) is closed this long after its HELLO. */
#define NODE_ADMIN_DEADLINE_MS 60000
/*
 * Output queued for clients and admin tools.  A peer stops being read at
 * CFS_CONN_HIGH_WATER of unsent replies (conn.h); replies to updates it
 * sent to the head still come, so a peer past client-output-max
 * (chainfs.conf), or not read for its output that has not gone down for
 * NODE_PEER_STUCK_MS, does not read its replies and is disconnected.  Across
 * all peers at most output-budget is queued: past it, the peers with the
 * most queued are disconnected until it is met.  A disconnected client
 * loses nothing: it reconnects and asks again, and the result table
 * answers.
 */
#define NODE_PEER_STUCK_MS 60000
/*
 * Updates a client may have in flight at the head: sent, and not below the
 * acked_below of its latest request (the oldest update it has no answer
 * for).  Each costs a result on every node until the client acknowledges
 * it, so a client that writes and never reads its answers would fill the
 * result table and take the chain's whole capacity, ahead of everyone
 * else's requests; at this many it is disconnected.  A mount has at most 1024 writes pipelined
 * (FS_MAX_PIPELINED in fs/fs_int.h) besides its callers' own requests, so an
 * honest client stays far below.  Never BUSY: refusing one update and
 * taking the next would apply a client's updates out of order.
 */
#define NODE_CLIENT_UPDATE_WINDOW 8192
/* Unacknowledged entries at which a node stops reading new work (below CHAIN_MAX_SENT_ENTRIES). */
#define NODE_MAX_UNACKED 100000
/* Acknowledgements upstream are coalesced over this long (microseconds). */
#define NODE_ACK_DELAY_US 2000

/* What an accepted peer said it is in its HELLO. */
enum node_peer_state {
	PEER_HELLO,  /* waiting for HELLO (and the TLS handshake before it) */
	PEER_CLIENT, /* a filesystem client: requests */
	PEER_ADMIN,  /* chainfsctl: status only */
	PEER_PRED,   /* our predecessor: entries */
	PEER_max
};

struct node_peer;
TAILQ_HEAD(node_peer_list, node_peer);
struct coord;
struct node_leases;

/* The successor link's states (node_succ_enter logs each change). */
enum node_succ_state {
	SUCC_NONE,	 /* no successor in this view (tail with nobody syncing, or out) */
	SUCC_CONNECTING, /* TCP and TLS, then our HELLO: waiting for its HELLO_REPLY */
	SUCC_SNAPSHOT,	 /* a syncing successor gets a full copy first (store_snap_*) */
	SUCC_STREAMING,	 /* caught up from our log: entries flow as they are applied */
	SUCC_BACKOFF,	 /* down or refused: a timer connects again */
	SUCC_max
};

struct node {
	struct event_base *base;
	struct cfs_conf *conf;
	int self; /* index of this node in conf->nodes */
	struct store *st;
	struct chain chain;
	SSL_CTX *server_ctx; /* NULL when plaintext */
	SSL_CTX *client_ctx;
	struct evconnlistener *listener;
	struct event *listen_retry;
	/* The address it listens on, when not a wildcard: its links and etcd go out from it. */
	char source[64];

	struct node_peer_list peers;			      /* every accepted connection */
	struct node_peer_list clients[NODE_CLIENT_BUCKETS]; /* by client id, for tail replies */
	struct node_peer *pred;				      /* the predecessor's link */
	uint32_t npeers[PEER_max];			      /* accepted peers by state */
	struct cfs_admit pending;			      /* peers in PEER_HELLO */
	int accept_fd_limit;  /* accepted descriptors from this one up are closed at once */
	uint32_t max_clients; /* clients and admins beyond are refused (BUSY) */
	uint64_t refused;     /* connections closed at accept for want of descriptors */
	uint64_t busy_refused; /* HELLOs refused because max_clients were connected */
	/* Lines about peers that have not authenticated: flood-proof. */
	struct log_limit unauth_log;
	/* Lines about clients that misbehave (not reading, too much in flight). */
	struct log_limit client_log;
	uint64_t closed_since_trim; /* node_trim */
	uint64_t trim_closed_seen;  /* closed_since_trim at the last tick: a quiet second */
	uint64_t second_ms;	    /* node_each_second's last turn */
	uint64_t freed_since_trim;		/* bytes of queued output dropped at closes */
	uint64_t out_queued;			/* bytes queued to all accepted peers */
	uint64_t out_queued_peak;		/* the most it has been */
	struct event *budget_ev;		/* node_budget_cb, from the loop */
	uint64_t budget_cut;			/* peers disconnected for not reading */
	uint64_t swept_ms;			/* node_sweep_sessions */

	const char *self_name;
	struct coord *coord; /* NULL: a fixed chain, no failover */
	int serving;	     /* answers clients: fixed chain, or fresh lease and no tail wait */

	enum node_succ_state succ_state;
	char succ_name[CFS_NODE_NAME_MAX + 1]; /* the successor of the current view */
	struct cfs_conn *succ; /* our link to the successor; NULL unless CONNECTING/STREAMING */
	int succ_ready;	       /* == (succ_state == SUCC_STREAMING) */
	int succ_snapshot_logged; /* the successor needs a snapshot: said once */
	struct event *succ_retry;
	unsigned succ_backoff_ms;
	uint64_t epoch_changes;
	struct store_snap *snap; /* SUCC_SNAPSHOT: the read transaction being sent */
	uint64_t snap_sn, snap_epoch;
	int snap_first;
	struct cfs_wbuf snap_buf;
	uint64_t snap_started_ms;
	uint64_t snap_bytes; /* of the snapshot being sent or received */
	uint64_t snapshot_bytes_sent, snapshot_bytes_received, snapshots_sent, snapshots_received;
	int importing; /* a snapshot is being received into the store */

	int throttled; /* the successor's link is full: not reading clients or predecessor */
	uint64_t ack_pending;
	struct event *ack_ev; /* coalesces acks to the predecessor, one per loop turn */
	struct event *maintain_ev;

	/*
	 * Entries applied in one turn of the loop share one store transaction
	 * (store_batch_begin); what they send out waits in pend_* until the
	 * commit, so nothing leaves the node that its disk might not have.
	 */
	int batch_open;
	struct event *batch_ev;
	struct cfs_wbuf pend_fwd;   /* ENTRY frames for the successor */
	/* records: client id u64, req_start u64, req_op u16, length u32, REPLY frame */
	struct cfs_wbuf pend_reply;
	struct cfs_wbuf out; /* scratch for frames */
	struct cfs_wbuf data;

	struct node_leases *lz; /* the tail's leases (node_lease.c); NULL: lease-max 0 */
	struct node_locks *lk;	/* the head's lock leases (node_locks.c) */

	struct metrics metrics;
	/*
	 * While chain_update runs for a request read here: when it was read
	 * (0: no such request) and its op, so that a reply the same node gives
	 * (a chain of one) is timed from the request.
	 */
	uint64_t req_start;
	uint16_t req_op;
};

/* Sets up the node called name from conf (store, TLS, listener, metrics); -1 on error, logged. */
int node_start(struct node *, struct event_base *, struct cfs_conf *, const char *name);
/* Closes every connection and the store. */
void node_stop(struct node *);
/*
 * Takes a configuration read again (SIGHUP): applies what can change while
 * the node runs (certificate, key and CA, read again from their files;
 * output limits; log-retain; exports, at once for connected clients too)
 * and keeps the rest.  Swaps the strings it takes out of fresh.  Writes one
 * line saying what it applied and what it could not in msg; -1 when
 * something could not be applied: a setting that needs a restart, a
 * certificate that does not load (the old one stays), or no line for this
 * node (then nothing changed).
 */
int node_reload(struct node *, struct cfs_conf *fresh, char *msg, size_t len);
/* One line for systemd's STATUS=: role, epoch, applied sn, serving, clients. */
void node_status_line(const struct node *, char *buf, size_t len);

/*
 * A new configuration (from etcd): reconfigures the chain, drops the links
 * of the old epoch and every client connection (clients learn the new
 * configuration when they reconnect), connects to the new successor.
 * Ignored unless the epoch is newer.
 */
void node_set_view(struct node *, const struct chain_view *);
/* Starts or stops answering clients (self-fencing, the new tail's wait). */
void node_set_serving(struct node *, int);
/* Commits the open store batch and lets out what it produced. */
void node_flush(struct node *);
/*
 * For a listener's accept callback: whether the accepted fd leaves the
 * descriptors the node keeps for itself (NODE_FD_RESERVE).  When it does
 * not, closes fd, pauses the listener l and has retry (an evtimer that
 * re-enables it) run in 100 ms, with a rate-limited log line; returns 0.
 */
int node_accept_room(struct node *, int fd, struct evconnlistener *l, struct event *retry,
		     const char *what);
/*
 * The tail's leases (node_lease.c): fills st and the reads parked behind
 * recalls; 0 when leases are off (lease-max 0).
 */
struct lease_stats;
int node_lease_stats(const struct node *, struct lease_stats *st, uint64_t *parked);
/* Sessions whose locks this node released, as the head, when their lock lease ran out. */
uint64_t node_locks_expired(const struct node *);
/* How long the leases this node granted as a tail may still run, in ms (0: none). */
uint32_t node_lease_left(const struct node *);
/* The address of a node by name, from the configuration file; NULL if unknown. */
const struct cfs_node_addr *node_addr(const struct node *, const char *name);

#endif
