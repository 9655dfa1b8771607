/* A chainfsd node: peers, successor link and the chain over the store; see node.h. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <openssl/evp.h>

#include "common/log.h"
#include "daemon/coord.h"
#include "daemon/node.h"
#include "daemon/node_int.h"

static const char *node_peer_state_names[] = {"hello", "client", "admin", "predecessor"};
static const char *node_succ_state_names[] = {"none", "connecting", "snapshot", "streaming",
					      "backoff"};
/* Records per SNAPSHOT frame. */
#define NODE_SNAP_CHUNK (256 * 1024)


static void node_succ_connect(struct node *);
static void node_batch_end(struct node *);
static void node_io_ack(void *, uint64_t);

/* The successor link's one state setter: logs the change, keeps succ_ready in step. */
static void
node_succ_enter(struct node *n, enum node_succ_state st)
{
	if (n->succ_state != st)
		log_debug("successor %s: %s -> %s", n->succ_name[0] ? n->succ_name : "-",
			  node_succ_state_names[n->succ_state], node_succ_state_names[st]);
	n->succ_state = st;
	n->succ_ready = st == SUCC_STREAMING;
}

/*
 * Whether a client may be answered now.  With failover, freshness is
 * checked on the clock at each answer: after a pause the loop may read a
 * request before the timer that would have fenced the node runs.
 */
int
node_may_answer(struct node *n)
{
	if (!n->serving)
		return 0;
	if (n->coord != NULL)
		coord_update_serving(n->coord); /* may fence it, never starts serving here */
	return n->serving;
}

/* Ends a snapshot being sent (done, or the link went down). */
static void
node_snap_stop(struct node *n)
{
	if (n->snap == NULL)
		return;
	store_snap_end(n->snap);
	n->snap = NULL;
}

/*
 * Sends snapshot chunks while the successor's link has room; after the last
 * one, the successor is at (snap_epoch, snap_sn) and the log takes over.
 */
static int
node_snap_pump(struct node *n)
{
	while (n->snap != NULL && cfs_conn_outq(n->succ) < CFS_CONN_HIGH_WATER) {
		struct cfs_snapshot sn;
		size_t start;
		int rc;

		cfs_wbuf_reset(&n->snap_buf);
		rc = store_snap_next(n->snap, &n->snap_buf, NODE_SNAP_CHUNK);
		if (rc < 0) {
			log_warnx("cannot read the store for a snapshot");
			return -1;
		}
		memset(&sn, 0, sizeof(sn));
		sn.sn = n->snap_sn;
		sn.epoch = n->snap_epoch;
		sn.flags = (n->snap_first ? CFS_SNAP_BEGIN : 0) | (rc == 1 ? CFS_SNAP_END : 0);
		sn.len = (uint32_t)n->snap_buf.len;
		sn.records = n->snap_buf.p;
		n->snap_first = 0;
		cfs_wbuf_reset(&n->out);
		start = cfs_frame_begin(&n->out, CFS_MSG_SNAPSHOT, 0, n->chain.epoch);
		cfs_snapshot_encode(&n->out, &sn);
		cfs_frame_end(&n->out, start);
		cfs_conn_send(n->succ, n->out.p, n->out.len);
		n->snapshot_bytes_sent += sn.len;
		n->snap_bytes += sn.len;
		if (rc == 1) {
			node_snap_stop(n);
			n->snapshots_sent++;
			log_info("snapshot of sn %llu sent to %s: %llu bytes in %llu ms",
				 (unsigned long long)n->snap_sn, n->succ_name,
				 (unsigned long long)n->snap_bytes,
				 (unsigned long long)(cfs_now_ms() - n->snap_started_ms));
			if (chain_successor_up(&n->chain, n->snap_sn, n->snap_epoch) !=
			    CHAIN_CONTINUE)
				return -1;
			/* Sent is not had: progress counts from the joiner's own acks. */
			n->chain.sync_acked_sn = 0;
			node_succ_enter(n, SUCC_STREAMING);
			if (n->coord != NULL)
				coord_sync_progress(n->coord);
		}
	}
	return 0;
}

/* Starts a snapshot for the syncing successor, which cannot continue from our log. */
static int
node_snap_start(struct node *n, const char *succ)
{
	node_batch_end(n); /* the copy is of committed state, at applied_sn */
	if (store_snap_begin(n->st, &n->snap) != 0)
		return -1;
	n->snap_sn = store_snap_sn(n->snap);
	n->snap_epoch = n->chain.applied_epoch;
	if (n->snap_sn != store_applied_sn(n->st)) {
		node_snap_stop(n);
		return -1;
	}
	n->snap_first = 1;
	n->snap_bytes = 0;
	n->snap_started_ms = cfs_now_ms();
	log_info("sending %s a snapshot of sn %llu (epoch %llu) while serving", succ,
		 (unsigned long long)n->snap_sn, (unsigned long long)n->snap_epoch);
	node_succ_enter(n, SUCC_SNAPSHOT);
	return node_snap_pump(n);
}

/* A SNAPSHOT chunk from the predecessor, for this syncing node. */
static int
node_on_snapshot(struct node *n, struct cfs_conn *c, const struct cfs_header *h,
		 const uint8_t *body)
{
	struct cfs_snapshot sn;
	int rc = cfs_snapshot_decode(body, h->length, &sn);

	if (rc != CFS_WIRE_OK) {
		log_warnx("%s: bad SNAPSHOT: %s", c->peer, cfs_wire_strerror(rc));
		return -1;
	}
	if (!n->chain.joining || h->epoch != n->chain.epoch) {
		log_warnx("%s: a snapshot, but this node is not syncing in epoch %llu", c->peer,
			  (unsigned long long)n->chain.epoch);
		return -1;
	}
	if (sn.flags & CFS_SNAP_BEGIN) {
		node_batch_end(n);
		log_info("receiving a snapshot of sn %llu (epoch %llu); this node's store is "
			 "replaced",
			 (unsigned long long)sn.sn, (unsigned long long)sn.epoch);
		if (store_import_begin(n->st) != 0)
			return -1;
		chain_store_replaced(&n->chain);
		n->importing = 1;
		n->snap_bytes = 0;
	}
	if (!n->importing) {
		log_warnx("%s: snapshot chunk without its beginning", c->peer);
		return -1;
	}
	rc = store_import_chunk(n->st, sn.records, sn.len);
	if (rc != 0) {
		log_warnx("%s: snapshot chunk refused (%s)", c->peer,
			  rc == -ENOSPC ? "store full" : rc == -EPROTO ? "malformed" : "store error");
		n->importing = 0;
		return -1;
	}
	n->snapshot_bytes_received += sn.len;
	n->snap_bytes += sn.len;
	if (sn.flags & CFS_SNAP_END) {
		n->importing = 0;
		if (store_import_end(n->st) != 0 || store_applied_sn(n->st) != sn.sn)
			fatalx("the snapshot of sn %llu did not make a whole store; stopping so "
			       "that a restart begins again from an empty one",
			       (unsigned long long)sn.sn);
		chain_store_replaced(&n->chain);
		n->snapshots_received++;
		node_io_ack(n, sn.sn); /* the tail counts our progress from here */
		if (n->coord != NULL)
			coord_applied(n->coord);
		log_info("snapshot in: %llu bytes of records, sn %llu",
			 (unsigned long long)n->snap_bytes, (unsigned long long)sn.sn);
	}
	return 0;
}

/* The address of a node by name: the configuration file's, or etcd's for an added node. */
const struct cfs_node_addr *
node_addr(const struct node *n, const char *name)
{
	int i = cfs_conf_node_index(n->conf, name);

	if (i >= 0)
		return &n->conf->nodes[i].addr;
	return n->coord != NULL ? coord_added_addr(n->coord, name) : NULL;
}

/* Changes a peer's state, tracing it. */
static void
node_peer_set_state(struct node_peer *p, enum node_peer_state s)
{
	log_debug("peer %s: %s -> %s", p->c->peer, node_peer_state_names[p->state],
		  node_peer_state_names[s]);
	p->n->npeers[p->state]--;
	p->n->npeers[s]++;
	p->state = s;
}

/* Reads from a peer only while neither the chain nor its own output is full. */
static void
node_peer_update_pause(struct node_peer *p)
{
	int chain_full = p->n->throttled && (p->state == PEER_CLIENT || p->state == PEER_PRED);

	cfs_conn_pause(p->c, chain_full || p->out_full);
}

/*
 * Stops or resumes reading work from every client and the predecessor: while
 * the successor's link is full, or while too many entries are unacknowledged
 * (the successor is down or slow; resumed at half, so it does not flap).
 * Pausing keeps each client's requests in order; refusing one (BUSY) and
 * taking the next could apply them out of order.
 */
static void
node_check_throttle(struct node *n)
{
	uint64_t sent = chain_sent_len(&n->chain);
	int link_full = n->succ != NULL && n->succ->above_high;
	int on = link_full || sent >= (n->throttled ? NODE_MAX_UNACKED / 2 : NODE_MAX_UNACKED);
	struct node_peer *p;

	if (n->throttled == on)
		return;
	n->throttled = on;
	log_debug("%s reading requests (successor link %s, %llu entries unacknowledged)",
		  on ? "stop" : "resume", link_full ? "full" : "not full",
		  (unsigned long long)sent);
	TAILQ_FOREACH(p, &n->peers, all)
		node_peer_update_pause(p);
}

/* The bucket of client id. */
static struct node_peer_list *
node_bucket(struct node *n, uint64_t id)
{
	return &n->clients[(id * 0x9E3779B97F4A7C15ull) >> 56];
}

/* Finds the connected client with this id. */
struct node_peer *
node_find_client(struct node *n, uint64_t id)
{
	struct node_peer *p;

	TAILQ_FOREACH(p, node_bucket(n, id), bucket)
		if (p->client_id == id)
			return p;
	return NULL;
}

/*
 * Bytes were queued for a peer: past the high water mark it is not read any
 * more; past its own cap or the node's budget, node_budget_cb disconnects
 * someone from the loop (never here: this runs inside callbacks that still
 * use the peer).
 */
void
node_peer_queued(struct node *n, struct node_peer *p)
{
	if (!p->out_full && n->out_queued > n->conf->output_budget && cfs_conn_outq(p->c) > 0)
		cfs_conn_want_drained(p->c); /* over budget: read nothing more until it drains */
	if (p->c->above_high && !p->out_full) {
		p->out_full = 1;
		p->progress_ms = cfs_now_ms();
		node_peer_update_pause(p);
	}
	if (cfs_conn_outq(p->c) > n->conf->client_output_max ||
	    n->out_queued > n->conf->output_budget)
		event_active(n->budget_ev, EV_TIMEOUT, 0);
}

/* Keeps n->out_queued equal to the bytes in every accepted peer's output buffer. */
static void
node_peer_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct node *n = arg;

	n->out_queued += info->n_added;
	n->out_queued -= info->n_deleted <= n->out_queued ? info->n_deleted : n->out_queued;
	if (n->out_queued > n->out_queued_peak)
		n->out_queued_peak = n->out_queued;
}

/* Disconnects a peer that does not read its replies, saying so. */
static void
node_peer_cut(struct node *n, struct node_peer *p, const char *why)
{
	char reason[160];

	n->budget_cut++;
	snprintf(reason, sizeof(reason), "%s (%zu bytes of answers queued)", why,
		 cfs_conn_outq(p->c));
	/* Not limited: a cut costs the peer a certificate's connection and megabytes. */
	log_warnx("%s: disconnected: %s", p->c->peer, reason);
	cfs_conn_close(p->c, NULL);
}

/*
 * From the loop: disconnects peers past client-output-max, then, while the
 * node's queued output is past output-budget, the peer with the most.
 */
static void
node_budget_cb(evutil_socket_t fd, short what, void *arg)
{
	struct node *n = arg;
	struct node_peer *p, *next, *big;
	int rounds = 0;

	for (p = TAILQ_FIRST(&n->peers); p != NULL; p = next) {
		next = TAILQ_NEXT(p, all);
		if (p->state != PEER_PRED && cfs_conn_outq(p->c) > n->conf->client_output_max)
			node_peer_cut(n, p, "over the limit of one connection");
	}
	while (n->out_queued > n->conf->output_budget && rounds++ < 1000) {
		big = NULL;
		TAILQ_FOREACH(p, &n->peers, all)
			if (p->state != PEER_PRED && p->c->state == CFS_CONN_OPEN &&
			    (big == NULL || cfs_conn_outq(p->c) > cfs_conn_outq(big->c)))
				big = p;
		if (big == NULL || cfs_conn_outq(big->c) == 0)
			break;
		node_peer_cut(n, big, "the node's output budget is spent, and it has the most");
	}
}

/*
 * Once a second: a peer that is not read for its output and whose output
 * has not gone down for NODE_PEER_STUCK_MS reads nothing, and is cut.  A
 * slow reader that makes progress is not.
 */
static void
node_check_stuck(struct node *n, uint64_t now)
{
	struct node_peer *p, *next;

	for (p = TAILQ_FIRST(&n->peers); p != NULL; p = next) {
		uint64_t q = cfs_conn_outq(p->c);

		next = TAILQ_NEXT(p, all);
		if (q < p->last_outq || !p->out_full)
			p->progress_ms = now;
		p->last_outq = q;
		if (p->out_full && p->state != PEER_PRED && now - p->progress_ms > NODE_PEER_STUCK_MS)
			node_peer_cut(n, p, "its output has not gone down for a minute");
	}
}

/* Sends a REPLY frame to a peer. */
void
node_send_reply(struct node *n, struct node_peer *p, uint64_t reqid, const struct cfs_reply *r)
{
	size_t start;

	cfs_wbuf_reset(&n->out);
	start = cfs_frame_begin(&n->out, CFS_MSG_REPLY, reqid, n->chain.epoch);
	cfs_reply_encode(&n->out, r);
	cfs_frame_end(&n->out, start);
	cfs_conn_send(p->c, n->out.p, n->out.len);
	node_peer_queued(n, p);
}

/* Sends a bare status as the reply to reqid. */
static void
node_send_status(struct node *n, struct node_peer *p, uint64_t reqid, int32_t status)
{
	struct cfs_reply r;

	memset(&r, 0, sizeof(r));
	r.status = status;
	node_send_reply(n, p, reqid, &r);
}

/* chain_io: an entry for the successor. */
static void
node_io_forward(void *arg, const uint8_t *frame, size_t len)
{
	struct node *n = arg;

	if (n->succ == NULL || !n->succ_ready)
		return;
	if (n->batch_open) {
		cfs_put_bytes(&n->pend_fwd, frame, len);
		return;
	}
	cfs_conn_send(n->succ, frame, len);
	if (n->succ->above_high)
		node_check_throttle(n);
}

/* chain_io: room on the successor link. */
static int
node_io_room(void *arg)
{
	struct node *n = arg;

	return n->succ != NULL && n->succ_ready &&
	       cfs_conn_outq(n->succ) + n->pend_fwd.len < CFS_CONN_HIGH_WATER;
}

/*
 * chain_io: acknowledge upstream, coalesced to one ACK per NODE_ACK_DELAY_US.
 * Acknowledgements only let the predecessors trim their logs and keep their
 * windows open (NODE_MAX_UNACKED): nobody waits for one to answer a client,
 * so they need not cost a wake-up of every node upstream for every update.
 */
static void
node_io_ack(void *arg, uint64_t sn)
{
	struct node *n = arg;
	const struct timeval delay = {0, NODE_ACK_DELAY_US};

	if (sn > n->ack_pending)
		n->ack_pending = sn;
	if (!evtimer_pending(n->ack_ev, NULL))
		evtimer_add(n->ack_ev, &delay);
}

/* Sends the newest pending ACK to the predecessor. */
static void
node_ack_cb(evutil_socket_t fd, short what, void *arg)
{
	struct node *n = arg;
	size_t start;

	node_batch_end(n); /* never acknowledge what is not committed */
	if (n->pred == NULL || n->ack_pending == 0)
		return;
	cfs_wbuf_reset(&n->out);
	start = cfs_frame_begin(&n->out, CFS_MSG_ACK, 0, n->chain.epoch);
	cfs_ack_encode(&n->out, n->ack_pending);
	cfs_frame_end(&n->out, start);
	cfs_conn_send(n->pred->c, n->out.p, n->out.len);
}

/*
 * Appends the head of a record as pend_reply keeps them (client id u64,
 * req_start u64, req_op u16, length u32, then the frame); returns where
 * the length is.
 */
static size_t
node_record_head(struct cfs_wbuf *w, uint64_t id, uint64_t start, uint16_t op, uint32_t len)
{
	size_t at;

	cfs_put_u64(w, id);
	cfs_put_u64(w, start);
	cfs_put_u16(w, op);
	at = w->len;
	cfs_put_u32(w, len);
	return at;
}

/* Appends to w the record of a reply to (client_id, seq), its length patched in. */
void
node_reply_record(struct node *n, struct cfs_wbuf *w, uint64_t client_id, uint64_t seq,
		  const struct cfs_reply *r)
{
	size_t at = node_record_head(w, client_id, n->req_start, n->req_op, 0), start;

	start = cfs_frame_begin(w, CFS_MSG_REPLY, seq, n->chain.epoch);
	cfs_reply_encode(w, r);
	cfs_frame_end(w, start);
	/* Patch in the frame's length, little-endian like everything else. */
	for (int i = 0; i < 4; i++)
		w->p[at + i] = (uint8_t)((w->len - start) >> (8 * i));
}

/* Sends records (node_reply_record's format) to their clients that are connected here. */
static void
node_send_records(struct node *n, const uint8_t *p, size_t len)
{
	struct cfs_rbuf rb;
	int may_answer = node_may_answer(n);

	cfs_rbuf_init(&rb, p, len);
	while (rb.off < rb.len) {
		uint64_t id = cfs_get_u64(&rb), start = cfs_get_u64(&rb);
		unsigned op = metrics_op_slot(cfs_get_u16(&rb));
		uint32_t flen = cfs_get_u32(&rb);
		const uint8_t *frame = cfs_get_bytes(&rb, flen);
		struct node_peer *peer;

		if (frame == NULL)
			fatalx("pending replies are corrupt");
		peer = may_answer ? node_find_client(n, id) : NULL;
		if (peer != NULL) {
			cfs_conn_send(peer->c, frame, flen);
			if (start != 0)
				metrics_observe(&n->metrics.request[op], start);
			node_peer_queued(n, peer);
		}
	}
}

/* Records to send: after the open batch's commit, in order, or now when none is open. */
void
node_queue_records(struct node *n, const uint8_t *p, size_t len)
{
	if (n->batch_open)
		cfs_put_bytes(&n->pend_reply, p, len);
	else
		node_send_records(n, p, len);
}

/* See node_int.h. */
void
node_queue_frame(struct node *n, uint64_t id, const uint8_t *frame, size_t len)
{
	struct node_peer *peer;

	if (n->batch_open) {
		(void)node_record_head(&n->pend_reply, id, 0, 0, (uint32_t)len);
		cfs_put_bytes(&n->pend_reply, frame, len);
		return;
	}
	if (!node_may_answer(n) || (peer = node_find_client(n, id)) == NULL)
		return;
	cfs_conn_send(peer->c, frame, len);
	node_peer_queued(n, peer);
}

/* chain_io: the tail answers a client, if it is connected here. */
static void
node_io_reply(void *arg, uint64_t client_id, uint64_t seq, const struct cfs_reply *r0)
{
	struct node *n = arg;
	struct node_peer *p;
	struct cfs_reply r = *r0;

	/* Held until other clients dropped what this changes, or given a lease. */
	if (node_lease_hold(n, client_id, seq, &r))
		return;
	if (n->batch_open) {
		node_reply_record(n, &n->pend_reply, client_id, seq, &r);
		return;
	}
	/* A client that is not connected retries; the result table answers it then. */
	if (!node_may_answer(n))
		return; /* fenced, or a new tail waiting: its clients were disconnected */
	p = node_find_client(n, client_id);
	if (p != NULL) {
		node_send_reply(n, p, seq, &r);
		if (n->req_start != 0)
			metrics_observe(&n->metrics.request[metrics_op_slot(n->req_op)],
					n->req_start);
	}
}

/* chain_io: the tail applied an entry. */
static void
node_io_applied(void *arg, const struct cfs_entry *e)
{
	node_lease_applied(arg, e);
	node_locks_applied(arg);
}

/* Opens the batch for this turn of the loop; it is committed when the turn ends. */
void
node_batch_begin(struct node *n)
{
	if (n->batch_open)
		return;
	if (store_batch_begin(n->st) != 0)
		return; /* entries then commit one by one */
	n->batch_open = 1;
	event_active(n->batch_ev, EV_TIMEOUT, 0);
}

/* Commits the batch, then lets out what it produced. */
static void
node_batch_end(struct node *n)
{
	if (!n->batch_open)
		return;
	n->batch_open = 0;
	if (store_batch_commit(n->st) != 0)
		fatalx("cannot commit applied entries to the store; stopping so that a restart "
		       "resumes from what is on disk");
	chain_committed(&n->chain);
	if (n->coord != NULL)
		coord_applied(n->coord);
	if (n->pend_fwd.len > 0) {
		if (n->succ != NULL && n->succ_ready) {
			cfs_conn_send(n->succ, n->pend_fwd.p, n->pend_fwd.len);
			if (n->succ->above_high)
				node_check_throttle(n);
		}
		cfs_wbuf_reset(&n->pend_fwd);
	}
	node_lease_batch_end(n);
	/* Sent in order: a recall never overtakes a reply that granted what it recalls. */
	node_send_records(n, n->pend_reply.p, n->pend_reply.len);
	cfs_wbuf_reset(&n->pend_reply);
}

/* End of the loop turn in which the batch was opened. */
static void
node_batch_cb(evutil_socket_t fd, short what, void *arg)
{
	node_batch_end(arg);
}

static const struct chain_io node_chain_io = {
	.forward = node_io_forward,
	.ack = node_io_ack,
	.room = node_io_room,
	.reply = node_io_reply,
	.applied = node_io_applied,
};

/* Fills in this node's view of the chain for a HELLO_REPLY. */
static void
node_fill_hello_reply(struct node *n, struct cfs_hello_reply *hr, int32_t status)
{
	const struct chain_view *v = &n->chain.view;

	memset(hr, 0, sizeof(*hr));
	hr->status = status;
	snprintf(hr->name, sizeof(hr->name), "%s", n->self_name);
	hr->role = (uint8_t)n->chain.role;
	hr->applied_sn = store_applied_sn(n->st);
	hr->applied_epoch = n->chain.applied_epoch;
	hr->epoch = n->chain.epoch;
	hr->session_ttl_s = n->conf->session_ttl_s;
	hr->lock_lease_ms = n->conf->lock_lease_s * 1000;
	for (uint16_t i = 0; i < v->n; i++) {
		const struct cfs_node_addr *a = node_addr(n, v->nodes[i]);

		if (a == NULL) {
			/* A node this file does not know: the client cannot reach it through us. */
			hr->nnodes = 0;
			if (hr->status == 0)
				hr->status = CFS_ERR_EPOCH;
			return;
		}
		hr->nodes[hr->nnodes++] = *a;
	}
}

/* Checks that the peer may take the role it claims; returns 0 or CFS_ERR_DENIED. */
static int
node_check_role(struct node *n, struct node_peer *p, const struct cfs_hello *h)
{
	const char *pred;
	char name[4 * CFS_NODE_NAME_MAX + 1], why[200];

	if (h->role == CFS_PEER_NODE) {
		pred = view_pred(&n->chain.view, n->self_name);
		if (pred == NULL) {
			cfs_conn_warnx(p->c, "%s: claims to be a predecessor, but this node has none in epoch "
				  "%llu (%s)",
				  p->c->peer, (unsigned long long)n->chain.epoch,
				  view_role_name(&n->chain.view, n->self_name));
			return CFS_ERR_DENIED;
		}
		if (strcmp(h->name, pred) != 0) {
			cfs_conn_warnx(p->c, "%s: says it is node %s, but the predecessor is %s", p->c->peer,
				  log_escape(h->name, name, sizeof(name)), pred);
			return CFS_ERR_DENIED;
		}
		if (p->c->has_tls_peer &&
		    cfs_tls_is_node(&p->c->tls_peer, pred, why, sizeof(why)) != 0) {
			cfs_conn_warnx(p->c, "%s: not predecessor %s: %s", p->c->peer, pred, why);
			return CFS_ERR_DENIED;
		}
		return 0;
	}
	if (p->c->has_tls_peer && strcmp(p->c->tls_peer.kind, CFS_TLS_KIND_NODE) != 0 &&
	    strcmp(p->c->tls_peer.kind, CFS_TLS_KIND_CLIENT) != 0) {
		cfs_conn_warnx(p->c, "%s: certificate kind '%s' is neither node nor client", p->c->peer,
			  p->c->tls_peer.kind);
		return CFS_ERR_DENIED;
	}
	return 0;
}

/*
 * The id a client's requests go by in the chain (the result table, the
 * tail's replies): derived from the name its certificate proves and the id
 * it chose, so that whoever holds another certificate cannot speak as it,
 * that is, reuse its id and sequence numbers and be answered with its
 * results.  Every node derives the same id from the same pair.  Without
 * TLS there is no identity to bind to, and the chosen id is used as it is.
 */
static uint64_t
node_client_id(const struct node_peer *p, uint64_t chosen)
{
	static const char label[] = "chainfs client id";
	unsigned char in[sizeof(label) + sizeof(p->c->tls_peer.name) + 8], md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	size_t namelen, len = 0;
	uint64_t id = 0;

	if (!p->c->has_tls_peer)
		return chosen; /* 0 too: a client without exactly-once */
	namelen = strnlen(p->c->tls_peer.name, sizeof(p->c->tls_peer.name) - 1);
	memcpy(in, label, sizeof(label)); /* with its NUL: the fields cannot run together */
	len = sizeof(label);
	memcpy(in + len, p->c->tls_peer.name, namelen);
	len += namelen;
	in[len++] = 0;
	for (int i = 0; i < 8; i++)
		in[len++] = (unsigned char)(chosen >> (8 * i));
	if (EVP_Digest(in, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen < 8)
		fatalx("SHA-256 failed");
	for (int i = 0; i < 8; i++)
		id = id << 8 | md[i];
	return id != 0 ? id : 1;
}

/*
 * Whether another certificate's client connected here already says id: a
 * client reusing another's id is refused, with a line saying so.  (The
 * derived id keeps their results apart anyway; this makes the attempt
 * visible.)
 */
static int
node_client_id_taken(struct node *n, const struct node_peer *p, uint64_t id)
{
	const struct node_peer *q;
	char name[4 * sizeof(q->c->tls_peer.name)], other[sizeof(name)];

	if (!p->c->has_tls_peer || id == 0)
		return 0;
	TAILQ_FOREACH(q, &n->peers, all) {
		if (q->state != PEER_CLIENT || q->chosen_id != id || !q->c->has_tls_peer ||
		    strcmp(q->c->tls_peer.name, p->c->tls_peer.name) == 0)
			continue;
		log_warnx("%s: client id %016llx is in use by a client with certificate %s; this "
			  "one's certificate is %s: refused",
			  p->c->peer, (unsigned long long)id,
			  log_escape(q->c->tls_peer.name, other, sizeof(other)),
			  log_escape(p->c->tls_peer.name, name, sizeof(name)));
		return 1;
	}
	return 0;
}

/* Handles the HELLO that opens every accepted connection. */
static int
node_on_hello(struct node *n, struct node_peer *p, const struct cfs_header *h,
	      const uint8_t *body)
{
	struct cfs_hello hello;
	struct cfs_hello_reply hr;
	char who[600], name[4 * CFS_NODE_NAME_MAX + 1];
	size_t start;
	int rc;

	rc = cfs_hello_decode(body, h->length, &hello);
	if (rc != CFS_WIRE_OK) {
		cfs_conn_warnx(p->c, "%s: bad HELLO: %s", p->c->peer, cfs_wire_strerror(rc));
		return -1;
	}
	/* The name is the peer's word: escaped, so that it cannot forge a log line. */
	snprintf(who, sizeof(who), "%.200s %.250s", log_escape(hello.name, name, sizeof(name)),
		 p->c->peer);
	cfs_conn_set_peer(p->c, who);
	rc = node_check_role(n, p, &hello);
	if (rc == 0 && hello.role == CFS_PEER_NODE && h->epoch != n->chain.epoch) {
		/* Entries only flow between nodes of one epoch. */
		log_info("%s: predecessor is in epoch %llu, this node in %llu: refused for now",
			 p->c->peer, (unsigned long long)h->epoch,
			 (unsigned long long)n->chain.epoch);
		if (h->epoch > n->chain.epoch && n->coord != NULL)
			coord_poke(n->coord);
		rc = CFS_ERR_EPOCH;
	}
	if (rc == 0 && hello.role == CFS_PEER_CLIENT && node_client_id_taken(n, p, hello.client_id))
		rc = CFS_ERR_DENIED;
	if (rc == 0 && hello.role == CFS_PEER_CLIENT && !n->serving)
		rc = CFS_ERR_BUSY; /* fenced or waiting: the client asks other nodes */
	if (rc == 0 && hello.role != CFS_PEER_NODE &&
	    (hello.role == CFS_PEER_CLIENT ? n->npeers[PEER_CLIENT] >= n->max_clients
					   : n->npeers[PEER_ADMIN] >= NODE_FD_PEERS - 1)) {
		/* Their descriptors would eat into the room kept for others. */
		n->busy_refused++;
		cfs_conn_warnx(p->c, "%s: refused: %u %s connected already", p->c->peer,
			       hello.role == CFS_PEER_CLIENT ? n->max_clients : NODE_FD_PEERS - 1,
			       hello.role == CFS_PEER_CLIENT ? "clients" : "admin tools");
		rc = CFS_ERR_BUSY;
	}
	node_fill_hello_reply(n, &hr, rc);
	cfs_wbuf_reset(&n->out);
	start = cfs_frame_begin(&n->out, CFS_MSG_HELLO_REPLY, h->reqid, n->chain.epoch);
	cfs_hello_reply_encode(&n->out, &hr);
	cfs_frame_end(&n->out, start);
	cfs_conn_send(p->c, n->out.p, n->out.len);
	if (rc != 0) {
		/* The answer says why; the peer reads it before the close. */
		cfs_conn_close_after_send(p->c, rc == CFS_ERR_BUSY    ? "not serving clients now"
						: rc == CFS_ERR_EPOCH ? "in another epoch"
								      : "refused");
		return 0;
	}
	/*
	 * Authenticated: no longer pending, logged in full, and no deadline;
	 * but an admin tool asks and goes, so its few slots are not held.
	 */
	cfs_conn_deadline(p->c, hello.role == CFS_PEER_NODE || hello.role == CFS_PEER_CLIENT
					? 0
					: NODE_ADMIN_DEADLINE_MS);
	cfs_admit_remove(&n->pending, &p->pend);
	p->c->log_limit = NULL;
	switch (hello.role) {
	case CFS_PEER_NODE:
		if (n->pred != NULL) {
			log_info("predecessor reconnected; dropping its old link");
			cfs_conn_close(n->pred->c, "replaced by a new link");
		}
		n->pred = p;
		node_peer_set_state(p, PEER_PRED);
		log_info("predecessor %s connected; this node has sn %llu", hello.name,
			 (unsigned long long)hr.applied_sn);
		if (n->coord != NULL)
			coord_pred_connected(n->coord, hello.name, hello.applied_sn,
					     hello.lease_ms);
		/*
		 * Tell it at once what is known to be on the tail: after a
		 * restart its sent list may hold entries that were acknowledged
		 * while it was down, and no later ack would cover them if no
		 * new update comes.
		 */
		if (n->chain.acked_sn > 0)
			node_io_ack(n, n->chain.acked_sn);
		break;
	case CFS_PEER_CLIENT:
		node_peer_set_state(p, PEER_CLIENT);
		p->chosen_id = hello.client_id;
		p->client_id = node_client_id(p, hello.client_id);
		if (p->c->has_tls_peer)
			p->export = cfs_conf_export(n->conf, p->c->tls_peer.name);
		if (p->client_id != 0) {
			struct node_peer *old = node_find_client(n, p->client_id);

			if (old != NULL) {
				TAILQ_REMOVE(node_bucket(n, old->client_id), old, bucket);
				old->in_bucket = 0;
			}
			TAILQ_INSERT_TAIL(node_bucket(n, p->client_id), p, bucket);
			p->in_bucket = 1;
		}
		p->lease_ms = hello.lease_ms;
		node_lease_hello(n, p);
		break;
	default:
		node_peer_set_state(p, PEER_ADMIN);
		break;
	}
	node_peer_update_pause(p);
	return 0;
}

/* Times applying an entry, if the chain applied one since it counted applied. */
static void
node_observe_apply(struct node *n, uint64_t applied, uint64_t start)
{
	if (n->chain.stats.entries_applied != applied)
		metrics_observe(&n->metrics.apply, start);
}

/*
 * Counts an update into its client's window: drops the seqs below the
 * client's acked_below, then takes seq.  Returns -1 when the window is full
 * (the caller cuts the client).
 */
static int
node_window_take(struct node_peer *p, uint64_t seq, uint64_t acked_below)
{
	while (p->upd_count > 0 && p->upd_seq[p->upd_first] < acked_below) {
		p->upd_first = (p->upd_first + 1) % p->upd_cap;
		p->upd_count--;
	}
	if (p->upd_count == NODE_CLIENT_UPDATE_WINDOW)
		return -1;
	if (p->upd_count == p->upd_cap) {
		size_t cap = p->upd_cap == 0 ? 64 : 2 * p->upd_cap;
		uint64_t *ring = xcalloc(cap, sizeof(*ring));

		for (size_t i = 0; i < p->upd_count; i++)
			ring[i] = p->upd_seq[(p->upd_first + i) % p->upd_cap];
		free(p->upd_seq);
		p->upd_seq = ring;
		p->upd_cap = cap;
		p->upd_first = 0;
	}
	p->upd_seq[(p->upd_first + p->upd_count) % p->upd_cap] = seq;
	p->upd_count++;
	return 0;
}

/* Whether id is in one of the ranges (none: any id). */
static int
node_id_allowed(const struct cfs_idrange *r, size_t n, uint32_t id)
{
	if (n == 0)
		return 1;
	for (size_t i = 0; i < n; i++)
		if (id >= r[i].lo && id <= r[i].hi)
			return 1;
	return 0;
}

/*
 * Applies a client's export to a request (see chainfs.conf(5)).  Under an
 * export that trusts the client fully (no-root-squash, no ranges, no
 * all-squash) its kernel's checks stand.  Under any other, the caller,
 * squashed to the anonymous user where the export says, is checked by the
 * store itself for every op, as knfsd checks every AUTH_SYS caller: a
 * client that claims some unsquashed uid must still not chown to root or
 * make a set-uid file of someone else's; and what a create makes is the
 * caller's, whatever owner the op names.  Returns 0, or EROFS for an update
 * under read-only.
 */
static int
node_export_apply(const struct cfs_export *x, struct cfs_op *op)
{
	op->flags &= ~CFS_OP_CHECK_PERM; /* a node's to set, never a client's */
	if (x == NULL)
		return 0;
	if (x->read_only && cfs_op_is_update(op->type) && op->type != CFS_OP_FSYNC &&
	    !cfs_op_is_lock(op->type))
		return EROFS;
	if (!x->root_squash && !x->all_squash && x->nuids == 0 && x->ngids == 0)
		return 0;
	if (x->all_squash || (x->root_squash && op->caller_uid == 0) ||
	    !node_id_allowed(x->uids, x->nuids, op->caller_uid))
		op->caller_uid = x->anon_uid;
	if (x->all_squash || (x->root_squash && op->caller_gid == 0) ||
	    !node_id_allowed(x->gids, x->ngids, op->caller_gid))
		op->caller_gid = x->anon_gid;
	op->flags |= CFS_OP_CHECK_PERM;
	switch (op->type) {
	case CFS_OP_CREATE:
	case CFS_OP_MKNOD:
	case CFS_OP_MKDIR:
	case CFS_OP_SYMLINK:
		/* What the caller makes is the caller's. */
		op->uid = op->caller_uid;
		op->gid = op->caller_gid;
		break;
	default:
		break;
	}
	return 0;
}

/* Handles a client's REQUEST: updates at the head, reads at the tail. */
int
node_on_request(struct node *n, struct node_peer *p, const struct cfs_header *h,
		const uint8_t *body)
{
	uint64_t start = metrics_now(), applying, applied;
	struct cfs_op op;
	struct cfs_reply r;
	uint64_t acked_below;
	int rc;

	rc = cfs_request_decode(body, h->length, &acked_below, &op);
	if (rc != CFS_WIRE_OK) {
		log_warnx("%s: bad REQUEST: %s", p->c->peer, cfs_wire_strerror(rc));
		return -1;
	}
	n->metrics.requests[metrics_op_slot(op.type)]++;
	if (!node_may_answer(n)) {
		/* Fencing just closed every client connection, this one too (p is gone). */
		return -1;
	}
	if (h->epoch != n->chain.epoch) {
		node_send_status(n, p, h->reqid, CFS_ERR_EPOCH);
		return 0;
	}
	if (cfs_op_is_update(op.type))
		node_locks_heard(n, p->client_id); /* whatever the answer: the head heard it */
	if (cfs_op_is_internal(op.type)) {
		cfs_conn_warnx(p->c, "%s: sent %s, which only a node makes: refused", p->c->peer,
			       cfs_op_name(op.type));
		node_send_status(n, p, h->reqid, CFS_ERR_PROTOCOL);
		return 0;
	}
	if ((rc = node_export_apply(p->export, &op)) != 0) {
		node_send_status(n, p, h->reqid, rc);
		return 0;
	}
	if (op.type == CFS_OP_GETLK || op.type == CFS_OP_LKSTATE)
		op.rdev = p->client_id; /* the caller's session: never what it says */
	if (cfs_op_is_update(op.type)) {
		if (node_window_take(p, h->reqid, acked_below) != 0) {
			node_peer_cut(n, p, "8192 updates in flight and no answer acknowledged");
			return 0; /* p is gone */
		}
		node_batch_begin(n);
		/* Only a chain of one replies from inside chain_update: see node_io_reply. */
		n->req_start = start;
		n->req_op = op.type;
		applying = metrics_now();
		applied = n->chain.stats.entries_applied;
		rc = chain_update(&n->chain, p->client_id, h->reqid, acked_below, &op);
		node_check_throttle(n);
		n->req_start = 0;
		node_observe_apply(n, applied, applying);
		if (rc != 0)
			node_send_status(n, p, h->reqid, rc);
		return 0;
	}
	cfs_wbuf_reset(&n->data);
	rc = chain_read(&n->chain, &op, &r, &n->data);
	if (rc != 0)
		r.status = EIO;
	/* What a recall is taking out of caches is not shown until it is out. */
	if (rc == 0 && node_lease_read(n, p, h, body, &op, &r))
		return 0;
	node_send_reply(n, p, h->reqid, &r);
	if (rc == 0)
		metrics_observe(&n->metrics.request[metrics_op_slot(op.type)], start);
	return 0;
}

/* Answers chainfsctl's STATUS. */
static void
node_on_status(struct node *n, struct node_peer *p, const struct cfs_header *h)
{
	struct cfs_status s;
	size_t start;

	memset(&s, 0, sizeof(s));
	snprintf(s.name, sizeof(s.name), "%s", n->self_name);
	s.role = (uint8_t)n->chain.role;
	s.applied_epoch = n->chain.applied_epoch;
	if (view_index(&n->chain.view, n->self_name) >= 0)
		s.flags |= CFS_STATUS_MEMBER;
	snprintf(s.syncing, sizeof(s.syncing), "%s", n->chain.view.syncing);
	s.sync_sn = n->chain.succ_joining ? n->chain.sync_acked_sn : 0;
	if (store_lock_stats(n->st, &s.locks, &s.lock_waits) != 0)
		s.locks = s.lock_waits = 0;
	s.nchain = n->chain.view.n;
	for (uint16_t i = 0; i < s.nchain; i++)
		snprintf(s.chain[i], sizeof(s.chain[i]), "%s", n->chain.view.nodes[i]);
	if (n->coord != NULL)
		coord_fill_status(n->coord, &s);
	s.epoch = n->chain.epoch;
	s.applied_sn = store_applied_sn(n->st);
	s.acked_sn = n->chain.acked_sn;
	s.sent_len = chain_sent_len(&n->chain);
	s.sent_bytes = n->succ != NULL ? cfs_conn_outq(n->succ) : 0;
	s.clients = n->npeers[PEER_CLIENT];
	s.successor_up = n->succ != NULL && n->succ_ready;
	if (store_digest(n->st, s.digest) != 0)
		log_warnx("cannot compute the store digest");
	cfs_wbuf_reset(&n->out);
	start = cfs_frame_begin(&n->out, CFS_MSG_STATUS_REPLY, h->reqid, n->chain.epoch);
	cfs_status_encode(&n->out, &s);
	cfs_frame_end(&n->out, start);
	cfs_conn_send(p->c, n->out.p, n->out.len);
	node_peer_queued(n, p);
}

/* One frame from an accepted connection. */
static int
node_peer_frame(struct cfs_conn *c, const struct cfs_header *h, const uint8_t *body, void *arg)
{
	struct node_peer *p = arg;
	struct node *n = p->n;
	uint64_t start, applied;
	int rc;

	if (p->state == PEER_HELLO) {
		if (h->type != CFS_MSG_HELLO) {
			cfs_conn_warnx(c, "%s: %s before HELLO", c->peer, cfs_msg_name(h->type));
			return -1;
		}
		return node_on_hello(n, p, h, body);
	}
	switch (h->type) {
	case CFS_MSG_REQUEST:
		if (p->state != PEER_CLIENT)
			break;
		return node_on_request(n, p, h, body);
	case CFS_MSG_ENTRY:
		if (p->state != PEER_PRED)
			break;
		if (h->epoch != n->chain.epoch) {
			log_warnx("%s: entry of epoch %llu refused", c->peer,
				  (unsigned long long)h->epoch);
			return -1;
		}
		node_batch_begin(n);
		start = metrics_now();
		applied = n->chain.stats.entries_applied;
		rc = chain_entry(&n->chain, body, h->length);
		node_check_throttle(n);
		node_observe_apply(n, applied, start);
		if (rc == CHAIN_OK || rc == CHAIN_DUP)
			return 0;
		log_warnx("%s: entry sn %llu: %s", c->peer, (unsigned long long)h->reqid,
			  rc == CHAIN_GAP ? "gap in sequence" :
			  rc == CHAIN_BAD ? "undecodable" : "store cannot apply it now");
		return -1;
	case CFS_MSG_SNAPSHOT:
		if (p->state != PEER_PRED)
			break;
		return node_on_snapshot(n, c, h, body);
	case CFS_MSG_STATUS:
		node_on_status(n, p, h);
		return 0;
	case CFS_MSG_RECALL_ACK:
		if (p->state != PEER_CLIENT || h->length != 0)
			break;
		node_lease_ack(n, p, h->reqid);
		return 0;
	case CFS_MSG_PING:
		if (p->state != PEER_CLIENT || h->length != 0)
			break;
		if (!node_may_answer(n))
			return -1; /* fenced: the client asks another node */
		node_locks_ping(n, p, h);
		return 0;
	case CFS_MSG_ACK:
		/* Acks come on our outgoing successor link, never here. */
		break;
	default:
		break;
	}
	log_warnx("%s: unexpected %s from a %s", c->peer, cfs_msg_name(h->type),
		  node_peer_state_names[p->state]);
	return -1;
}

/* An accepted connection ended. */
static void
node_peer_down(struct cfs_conn *c, void *arg)
{
	struct node_peer *p = arg;
	struct node *n = p->n;

	if (n->pred == p) {
		n->pred = NULL;
		log_info("predecessor link down");
		if (n->importing) {
			/* Half a snapshot is no state: start again from an empty store. */
			n->importing = 0;
			if (store_import_abort(n->st) != 0)
				fatalx("cannot empty the store after an interrupted snapshot");
			chain_store_replaced(&n->chain);
		}
	}
	if (c->tls_failed)
		n->metrics.tls_failures[METRICS_TLS_IN]++;
	n->npeers[p->state]--;
	cfs_admit_remove(&n->pending, &p->pend);
	n->closed_since_trim++;
	if (p->out_cb != NULL) {
		struct evbuffer *out = bufferevent_get_output(c->bev);
		size_t q = evbuffer_get_length(out);

		evbuffer_remove_cb_entry(out, p->out_cb);
		n->out_queued -= q <= n->out_queued ? q : n->out_queued;
		n->freed_since_trim += q;
	}
	if (p->in_bucket)
		TAILQ_REMOVE(node_bucket(n, p->client_id), p, bucket);
	TAILQ_REMOVE(&n->peers, p, all);
	free(p->upd_seq);
	free(p);
}

/* A peer's output drained: read its requests again. */
static void
node_peer_drained(struct cfs_conn *c, void *arg)
{
	struct node_peer *p = arg;

	p->out_full = 0;
	node_peer_update_pause(p);
}

static const struct cfs_conn_cbs node_peer_cbs = {
	.frame = node_peer_frame,
	.down = node_peer_down,
	.drained = node_peer_drained,
};

/* The admission limits want room: a pending peer is closed. */
static void
node_pending_evict(struct cfs_pending *pe, const char *why, void *arg)
{
	struct node_peer *p = (struct node_peer *)(void *)((char *)pe - offsetof(struct node_peer, pend));

	cfs_conn_close(p->c, why);
}

int
node_accept_room(struct node *n, int fd, struct evconnlistener *l, struct event *retry,
		 const char *what)
{
	struct timeval tv = {0, 100000};

	if (fd < n->accept_fd_limit)
		return 1;
	close(fd);
	n->refused++;
	log_limited(&n->unauth_log, LOG_LEVEL_WARN,
		    "%s: connection refused: %d descriptors in use, %d kept for the node's own "
		    "links; pausing accept for 100 ms",
		    what, n->accept_fd_limit, NODE_FD_RESERVE);
	evconnlistener_disable(l);
	evtimer_add(retry, &tv);
	return 0;
}

/*
 * Accepts a connection: TLS handshake, then HELLO before the deadline.  Until
 * then it is pending, and what it may cost is bounded (common/admit.h).
 */
static void
node_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
	       void *arg)
{
	struct node *n = arg;
	struct node_peer *p;
	char host[INET6_ADDRSTRLEN + 8] = "?", serv[8] = "?", addr[sizeof(host) + 16];

	if (!node_accept_room(n, fd, l, n->listen_retry, "chain listener"))
		return;
	getnameinfo(sa, (socklen_t)salen, host, sizeof(host), serv, sizeof(serv),
		    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(addr, sizeof(addr), "%s:%s", host, serv);
	p = xcalloc(1, sizeof(*p));
	p->n = n;
	p->state = PEER_HELLO;
	p->c = cfs_conn_accept(n->base, n->server_ctx, fd, addr, &node_peer_cbs, p);
	if (p->c == NULL) {
		log_limited(&n->unauth_log, LOG_LEVEL_WARN, "cannot set up connection from %s",
			    addr);
		free(p);
		return;
	}
	p->c->log_limit = &n->unauth_log;
	p->out_cb = evbuffer_add_cb(bufferevent_get_output(p->c->bev), node_peer_out_cb, n);
	if (p->out_cb == NULL)
		fatalx("evbuffer_add_cb failed");
	TAILQ_INSERT_TAIL(&n->peers, p, all);
	n->npeers[PEER_HELLO]++;
	n->metrics.accepted++;
	cfs_admit_add(&n->pending, &p->pend, sa);
}

/* Re-enables accepting after running out of descriptors. */
static void
node_listen_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct node *n = arg;

	evconnlistener_enable(n->listener);
}

/* accept() failed: on EMFILE pause accepting for a second instead of spinning. */
static void
node_accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct node *n = arg;
	struct timeval tv = {1, 0};
	int err = EVUTIL_SOCKET_ERROR();

	log_limited(&n->unauth_log, LOG_LEVEL_WARN, "accept: %s; pausing for a second",
		    strerror(err));
	evconnlistener_disable(l);
	event_add(n->listen_retry, &tv);
}

/* Successor link: TLS is up, say who we are. */
static void
node_succ_up(struct cfs_conn *c, void *arg)
{
	struct node *n = arg;
	const char *succ = n->succ_name;
	struct cfs_hello h;
	size_t start;
	char why[200];

	if (c->has_tls_peer && cfs_tls_is_node(&c->tls_peer, succ, why, sizeof(why)) != 0) {
		log_warnx("%s: not successor %s: %s", c->peer, succ, why);
		cfs_conn_close(c, "wrong successor certificate");
		return;
	}
	memset(&h, 0, sizeof(h));
	h.role = CFS_PEER_NODE;
	/* As an old tail: how long leases it granted may still run (coord_pred_connected). */
	h.lease_ms = node_lease_left(n);
	snprintf(h.name, sizeof(h.name), "%s", n->self_name);
	h.applied_sn = store_applied_sn(n->st);
	cfs_wbuf_reset(&n->out);
	start = cfs_frame_begin(&n->out, CFS_MSG_HELLO, 0, n->chain.epoch);
	cfs_hello_encode(&n->out, &h);
	cfs_frame_end(&n->out, start);
	cfs_conn_send(c, n->out.p, n->out.len);
}

/* Successor link: HELLO_REPLY starts the catch-up, ACKs trim the sent list. */
static int
node_succ_frame(struct cfs_conn *c, const struct cfs_header *h, const uint8_t *body, void *arg)
{
	struct node *n = arg;
	struct cfs_hello_reply hr;
	uint64_t sn;
	int rc;

	if (n->succ_state == SUCC_CONNECTING) {
		if (h->type != CFS_MSG_HELLO_REPLY) {
			log_warnx("%s: %s before HELLO_REPLY", c->peer, cfs_msg_name(h->type));
			return -1;
		}
		rc = cfs_hello_reply_decode(body, h->length, &hr);
		if (rc != CFS_WIRE_OK) {
			log_warnx("%s: bad HELLO_REPLY: %s", c->peer, cfs_wire_strerror(rc));
			return -1;
		}
		if (hr.status != 0) {
			if (hr.status == CFS_ERR_EPOCH)
				log_info("%s: successor is not in epoch %llu yet; trying again",
					 c->peer, (unsigned long long)n->chain.epoch);
			else
				log_warnx("%s: successor refused this node (status %d)", c->peer,
					  hr.status);
			return -1;
		}
		if (h->epoch != n->chain.epoch)
			return -1;
		cfs_conn_deadline(c, 0);
		if (chain_successor_up(&n->chain, hr.applied_sn, hr.applied_epoch) !=
		    CHAIN_CONTINUE) {
			if (n->chain.succ_joining && strcmp(hr.name, n->succ_name) == 0)
				return node_snap_start(n, hr.name);
			if (!n->succ_snapshot_logged++)
				log_warnx("successor %s (sn %llu of epoch %llu) cannot continue from "
					  "this node's log; only a syncing node is sent a snapshot",
					  hr.name, (unsigned long long)hr.applied_sn,
					  (unsigned long long)hr.applied_epoch);
			return -1;
		}
		node_succ_enter(n, SUCC_STREAMING);
		n->succ_backoff_ms = 0;
		n->succ_snapshot_logged = 0;
		log_info("successor %s up at sn %llu (epoch %llu); this node has sn %llu", hr.name,
			 (unsigned long long)hr.applied_sn, (unsigned long long)hr.applied_epoch,
			 (unsigned long long)store_applied_sn(n->st));
		if (n->coord != NULL)
			coord_sync_progress(n->coord);
		return 0;
	}
	if (h->epoch != n->chain.epoch) {
		log_warnx("%s: %s of epoch %llu on a link of epoch %llu", c->peer,
			  cfs_msg_name(h->type), (unsigned long long)h->epoch,
			  (unsigned long long)n->chain.epoch);
		return -1;
	}
	if (h->type != CFS_MSG_ACK) {
		log_warnx("%s: unexpected %s from the successor", c->peer, cfs_msg_name(h->type));
		return -1;
	}
	if (cfs_ack_decode(body, h->length, &sn) != CFS_WIRE_OK) {
		log_warnx("%s: bad ACK", c->peer);
		return -1;
	}
	chain_ack(&n->chain, sn);
	if (n->throttled)
		node_check_throttle(n);
	if (n->coord != NULL && n->chain.succ_joining)
		coord_sync_progress(n->coord);
	return 0;
}

/* Successor link down: stop forwarding, reconnect with backoff. */
static void
node_succ_down(struct cfs_conn *c, void *arg)
{
	struct node *n = arg;
	struct timeval tv;

	if (c->tls_failed)
		n->metrics.tls_failures[METRICS_TLS_OUT]++;
	if (n->succ_ready)
		log_warnx("successor link down");
	n->succ = NULL;
	node_snap_stop(n);
	node_succ_enter(n, SUCC_BACKOFF);
	chain_successor_down(&n->chain);
	/* Requests wait in the log now; keep reading them. */
	node_check_throttle(n);
	n->succ_backoff_ms = n->succ_backoff_ms ? n->succ_backoff_ms * 2 : 100;
	if (n->succ_backoff_ms > 2000)
		n->succ_backoff_ms = 2000;
	tv.tv_sec = n->succ_backoff_ms / 1000;
	tv.tv_usec = (n->succ_backoff_ms % 1000) * 1000;
	event_add(n->succ_retry, &tv);
}

/* Successor link drained: resume reading and send what waits in the log. */
static void
node_succ_drained(struct cfs_conn *c, void *arg)
{
	struct node *n = arg;

	if (n->succ_state == SUCC_SNAPSHOT) {
		if (node_snap_pump(n) != 0)
			cfs_conn_close(c, "snapshot failed");
		return;
	}
	node_check_throttle(n);
	chain_pump(&n->chain);
}

static const struct cfs_conn_cbs node_succ_cbs = {
	.up = node_succ_up,
	.frame = node_succ_frame,
	.down = node_succ_down,
	.drained = node_succ_drained,
};

/* Opens the link to the successor. */
static void
node_succ_connect(struct node *n)
{
	const struct cfs_node_addr *a = node_addr(n, n->succ_name);
	struct timeval tv = {2, 0};

	if (a == NULL) {
		log_warnx("successor %s is neither in %s nor added by command: cannot reach it", n->succ_name,
			  n->conf->path);
		node_succ_enter(n, SUCC_BACKOFF);
		event_add(n->succ_retry, &tv);
		return;
	}
	node_succ_enter(n, SUCC_CONNECTING);
	n->succ = cfs_conn_connect(n->base, n->client_ctx, a->host, a->port, a->name, n->source,
				   &node_succ_cbs, n);
	if (n->succ == NULL) {
		node_succ_enter(n, SUCC_BACKOFF);
		event_add(n->succ_retry, &tv);
	}
}

/* Timer: try the successor again. */
static void
node_succ_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct node *n = arg;

	if (n->succ == NULL && n->succ_state == SUCC_BACKOFF)
		node_succ_connect(n);
}

/*
 * Gives the memory of closed connections back to the system: glibc keeps
 * freed TLS and buffer memory in its heap (up to 16 MiB of it at the top:
 * chainfsd.c), and a flood of connections would leave the node holding it.
 * During a flood after NODE_TRIM_AFTER closes or NODE_TRIM_BYTES of dropped
 * output, and once more in the first second without a close.
 */
#define NODE_TRIM_AFTER 256
#define NODE_TRIM_BYTES (8u << 20)
static void
node_trim(struct node *n)
{
	int flood = n->closed_since_trim >= NODE_TRIM_AFTER ||
		    n->freed_since_trim >= NODE_TRIM_BYTES;
	int over = n->closed_since_trim > 0 && n->closed_since_trim == n->trim_closed_seen;

	n->trim_closed_seen = n->closed_since_trim;
	if (!flood && !over)
		return;
	n->closed_since_trim = 0;
	n->trim_closed_seen = 0;
	n->freed_since_trim = 0;
	malloc_trim(0);
}

/* From the maintenance timer, at most once a second: stuck peers, then the heap. */
static void
node_each_second(struct node *n)
{
	uint64_t now = cfs_now_ms();

	if (now - n->second_ms < 1000)
		return;
	n->second_ms = now;
	node_check_stuck(n, now);
	node_trim(n);
	node_lease_each_second(n);
	/* The head ends the sessions whose lock lease ran out; fenced first if it must be. */
	if (n->chain.role & CFS_ROLE_HEAD)
		(void)node_may_answer(n);
	if (node_locks_each_second(n))
		node_check_throttle(n);
}

/*
 * Splits the descriptor limit (see NODE_FD_RESERVE in node.h).  Returns -1
 * when it is too small to run a node at all.
 */
static int
node_fd_limits(struct node *n)
{
	struct rlimit rl;
	rlim_t lim;
	unsigned room;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		log_warn("getrlimit(RLIMIT_NOFILE)");
		return -1;
	}
	lim = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1u << 20 ? 1u << 20 : rl.rlim_cur;
	if (lim < 4 * NODE_FD_RESERVE) {
		log_warnx("only %llu descriptors allowed (ulimit -n); a node needs at least %d",
			  (unsigned long long)lim, 4 * NODE_FD_RESERVE);
		return -1;
	}
	n->accept_fd_limit = (int)lim - NODE_FD_RESERVE;
	room = (unsigned)n->accept_fd_limit;
	n->max_clients = room - (room / 4 < NODE_MAX_PENDING ? room / 4 : NODE_MAX_PENDING) -
			 NODE_FD_PEERS;
	cfs_admit_init(&n->pending, room / 4 < NODE_MAX_PENDING ? room / 4 : NODE_MAX_PENDING,
		       NODE_MAX_PENDING_PER_SOURCE, node_pending_evict, n);
	log_info("descriptors: %llu; at most %u pending connections, %u clients",
		 (unsigned long long)lim, n->pending.max_total, n->max_clients);
	return 0;
}

/*
 * At the head, now and then (a minute, or half the session TTL if shorter):
 * drops the sessions of clients silent for session-ttl, through an entry.
 */
static void
node_sweep_sessions(struct node *n)
{
	uint64_t now = cfs_now_ms(), every = (uint64_t)n->conf->session_ttl_s * 500;

	if (every > 60000)
		every = 60000;
	if (now - n->swept_ms < every || !(n->chain.role & CFS_ROLE_HEAD) || !node_may_answer(n))
		return;
	n->swept_ms = now;
	node_batch_begin(n);
	if (chain_expire_sessions(&n->chain, n->conf->session_ttl_s) < 0)
		log_warnx("cannot expire old client sessions now; trying again later");
	node_check_throttle(n);
}

/* Timer: group commit and log trimming. */
static void
node_maintain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct node *n = arg;

	node_batch_end(n);
	chain_maintain(&n->chain);
	node_each_second(n);
	node_sweep_sessions(n);
}

/*
 * The address the node listens on, unless a wildcard: it connects from it
 * too, so that its peers, etcd and firewalls see one address per node.
 */
static void
node_find_source(struct node *n)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	const void *addr = NULL;

	n->source[0] = '\0';
	if (getsockname(evconnlistener_get_fd(n->listener), (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;

		if (sin->sin_addr.s_addr != htonl(INADDR_ANY))
			addr = &sin->sin_addr;
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;

		if (!IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr))
			addr = &sin6->sin6_addr;
	}
	if (addr != NULL && inet_ntop(ss.ss_family, addr, n->source, sizeof(n->source)) == NULL)
		n->source[0] = '\0';
}

/* Opens the listening socket on the node's configured address. */
static int
node_listen(struct node *n)
{
	const struct cfs_node_addr *a = &n->conf->nodes[n->self].addr;
	struct addrinfo hints, *res = NULL;
	char port[8];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(port, sizeof(port), "%u", a->port);
	rc = getaddrinfo(a->host, port, &hints, &res);
	if (rc != 0) {
		log_warnx("%s:%u: cannot resolve: %s", a->host, a->port, gai_strerror(rc));
		return -1;
	}
	n->listener = evconnlistener_new_bind(
		n->base, node_accept_cb, n,
		LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 128,
		res->ai_addr, (int)res->ai_addrlen);
	freeaddrinfo(res);
	if (n->listener == NULL) {
		log_warn("cannot listen on %s:%u", a->host, a->port);
		return -1;
	}
	evconnlistener_set_error_cb(n->listener, node_accept_error_cb);
	node_find_source(n);
	return 0;
}

/*
 * Makes the TLS contexts from the certificate of this node, node line i of
 * conf: a server and a client context, both or neither.  -1 with the reason
 * in err.
 */
static int
node_tls_make(const struct node *n, const struct cfs_conf *conf, size_t i, SSL_CTX **server,
	      SSL_CTX **client, char *err, size_t errlen)
{
	struct cfs_tls_peer self;
	char why[200];
	const char *cert = cfs_conf_node_cert(conf, i);
	const char *key = cfs_conf_node_key(conf, i);

	*server = cfs_tls_ctx_new(1, conf->ca, cert, key, err, errlen);
	if (*server == NULL)
		return -1;
	/* Peers check that a node's certificate names it: so does the node itself. */
	if (cfs_tls_self(*server, &self) != 0) {
		snprintf(err, errlen, "%s has no CN and OU: not a chainfs certificate", cert);
		goto fail;
	}
	if (cfs_tls_is_node(&self, n->self_name, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s cannot be node %s's certificate: %s", cert, n->self_name,
			 why);
		goto fail;
	}
	*client = cfs_tls_ctx_new(0, conf->ca, cert, key, err, errlen);
	if (*client == NULL)
		goto fail;
	return 0;
fail:
	SSL_CTX_free(*server);
	*server = NULL;
	return -1;
}

/* Makes the TLS contexts from the node's certificate. */
static int
node_tls(struct node *n)
{
	char err[512];

	if (n->conf->plaintext) {
		log_warnx("plaintext is on (%s): connections are neither encrypted nor "
			  "authenticated",
			  n->conf->path);
		return 0;
	}
	if (node_tls_make(n, n->conf, (size_t)n->self, &n->server_ctx, &n->client_ctx, err,
			  sizeof(err)) != 0) {
		log_warnx("TLS: %s", err);
		return -1;
	}
	return 0;
}

/* Swaps one string of the running configuration with the re-read one's. */
static void
node_swap_str(char **live, char **fresh)
{
	char *t = *live;

	*live = *fresh;
	*fresh = t;
}

/* Whether two optional strings differ. */
static int
node_str_differ(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

/* Appends ", what" (or "what") to a list in buf. */
static void
node_list_add(char *buf, size_t len, const char *what)
{
	size_t used = strlen(buf);

	if (used < len)
		snprintf(buf + used, len - used, "%s%s", used ? ", " : "", what);
}

/*
 * What a reload cannot change: the node's identity and place, the store,
 * the coordinator and the timings that clients and other nodes were told.
 * Lists each such setting that differs in buf; i is this node's line in fresh.
 */
static void
node_reload_fixed(const struct node *n, const struct cfs_conf *live,
		  const struct cfs_conf *fresh, size_t i, char *buf, size_t len)
{
	int nodes_differ = live->nnodes != fresh->nnodes;

	for (size_t k = 0; !nodes_differ && k < live->nnodes; k++) {
		const struct cfs_conf_node *a = &live->nodes[k], *b = &fresh->nodes[k];

		nodes_differ = memcmp(&a->addr, &b->addr, sizeof(a->addr)) != 0 ||
			       memcmp(&a->metrics, &b->metrics, sizeof(a->metrics)) != 0;
	}
	if (nodes_differ)
		node_list_add(buf, len, "node lines");
	if (node_str_differ(live->nodes[n->self].data_dir, fresh->nodes[i].data_dir))
		node_list_add(buf, len, "data directory");
	if (live->map_size != fresh->map_size)
		node_list_add(buf, len, "map-size");
	if (live->sync_interval_ms != fresh->sync_interval_ms)
		node_list_add(buf, len, "sync-interval");
	if (live->plaintext != fresh->plaintext)
		node_list_add(buf, len, "plaintext");
	if (live->netcd != fresh->netcd || memcmp(live->etcd, fresh->etcd, sizeof(live->etcd)) != 0)
		node_list_add(buf, len, "etcd");
	if (strcmp(live->cluster, fresh->cluster) != 0)
		node_list_add(buf, len, "cluster");
	if (live->lease_ttl_s != fresh->lease_ttl_s)
		node_list_add(buf, len, "lease-ttl");
	if (live->lease_max_s != fresh->lease_max_s)
		node_list_add(buf, len, "lease-max");
	if (live->session_ttl_s != fresh->session_ttl_s)
		node_list_add(buf, len, "session-ttl");
	if (live->lock_lease_s != fresh->lock_lease_s)
		node_list_add(buf, len, "lock-lease");
}

/* Takes a re-read configuration; see node.h. */
int
node_reload(struct node *n, struct cfs_conf *fresh, char *msg, size_t len)
{
	struct cfs_conf *live = n->conf;
	char fixed[256] = "", applied[256] = "", err[512] = "";
	int i = cfs_conf_node_index(fresh, n->self_name), tls_failed = 0;
	struct node_peer *p;

	if (i < 0) {
		snprintf(msg, len, "%s: no node called '%s' any more; nothing changed", fresh->path,
			 n->self_name);
		return -1;
	}
	node_reload_fixed(n, live, fresh, (size_t)i, fixed, sizeof(fixed));
	/*
	 * The certificate, its key and the CA are read again even when their
	 * paths stay: renewing a certificate in place is the usual case.  New
	 * connections use the new contexts; open ones keep theirs.
	 */
	if (!live->plaintext && !fresh->plaintext) {
		SSL_CTX *server, *client;

		if (node_tls_make(n, fresh, (size_t)i, &server, &client, err, sizeof(err)) != 0) {
			tls_failed = 1;
		} else {
			SSL_CTX_free(n->server_ctx);
			SSL_CTX_free(n->client_ctx);
			n->server_ctx = server;
			n->client_ctx = client;
			node_swap_str(&live->ca, &fresh->ca);
			node_swap_str(&live->cert, &fresh->cert);
			node_swap_str(&live->key, &fresh->key);
			node_swap_str(&live->nodes[n->self].cert, &fresh->nodes[i].cert);
			node_swap_str(&live->nodes[n->self].key, &fresh->nodes[i].key);
			node_list_add(applied, sizeof(applied), "certificate");
		}
	}
	if (live->output_budget != fresh->output_budget ||
	    live->client_output_max != fresh->client_output_max) {
		live->output_budget = fresh->output_budget;
		live->client_output_max = fresh->client_output_max;
		node_list_add(applied, sizeof(applied), "output limits");
	}
	if (live->log_retain != fresh->log_retain) {
		live->log_retain = n->chain.log_retain = fresh->log_retain;
		node_list_add(applied, sizeof(applied), "log-retain");
	}
	/* Exports apply to connected clients at once, as to new ones. */
	if (live->nexports != fresh->nexports ||
	    memcmp(live->exports, fresh->exports, sizeof(live->exports)) != 0) {
		live->nexports = fresh->nexports;
		memcpy(live->exports, fresh->exports, sizeof(live->exports));
		TAILQ_FOREACH(p, &n->peers, all)
			if (p->export != NULL)
				p->export = cfs_conf_export(live, p->c->tls_peer.name);
		node_list_add(applied, sizeof(applied), "exports");
	}
	snprintf(msg, len, "reloaded %s: %s%s%s%s%s", fresh->path, applied[0] ? applied : "no change",
		 tls_failed ? "; certificate kept: " : "", tls_failed ? err : "",
		 fixed[0] ? "; needs a restart: " : "", fixed);
	return tls_failed || fixed[0] ? -1 : 0;
}

/* One line for systemd's STATUS=; see node.h. */
void
node_status_line(const struct node *n, char *buf, size_t len)
{
	const char *role, *state;

	if (n->st == NULL) {
		snprintf(buf, len, "stopping");
		return;
	}
	role = n->chain.view.n ? view_role_name(&n->chain.view, n->self_name) : "none";

	if (n->serving)
		state = "serving";
	else if (n->chain.view.n == 0)
		state = "waiting for the configuration";
	else
		state = "not serving";
	snprintf(buf, len, "%s, epoch %llu, sn %llu, %s, %u clients", role,
		 (unsigned long long)n->chain.epoch, (unsigned long long)store_applied_sn(n->st),
		 state, n->npeers[PEER_CLIENT]);
}

/* Sets up the node called name. */
int
node_start(struct node *n, struct event_base *base, struct cfs_conf *conf, const char *name)
{
	struct timeval tv;
	char err[512];
	const char *dir;

	memset(n, 0, sizeof(*n));
	n->base = base;
	n->conf = conf;
	TAILQ_INIT(&n->peers);
	for (size_t i = 0; i < NODE_CLIENT_BUCKETS; i++)
		TAILQ_INIT(&n->clients[i]);
	cfs_wbuf_init(&n->out);
	cfs_wbuf_init(&n->data);
	cfs_wbuf_init(&n->pend_fwd);
	cfs_wbuf_init(&n->pend_reply);
	cfs_wbuf_init(&n->snap_buf);
	n->self = cfs_conf_node_index(conf, name);
	if (n->self < 0) {
		log_warnx("%s: no node called '%s'", conf->path, name);
		return -1;
	}
	n->self_name = conf->nodes[n->self].addr.name;
	dir = conf->nodes[n->self].data_dir;
	if (dir == NULL) {
		log_warnx("%s: node %s has no data directory", conf->path, name);
		return -1;
	}
	if (node_tls(n) != 0)
		return -1;
	if (store_open(&n->st, dir, conf->map_size, err, sizeof(err)) != 0) {
		log_warnx("store %s: %s", dir, err);
		return -1;
	}
	chain_init(&n->chain, n->st, 0, 0, &node_chain_io, n);
	node_lease_start(n);
	node_locks_start(n);
	n->ack_ev = event_new(base, -1, 0, node_ack_cb, n);
	n->batch_ev = event_new(base, -1, 0, node_batch_cb, n);
	n->succ_retry = evtimer_new(base, node_succ_retry_cb, n);
	n->listen_retry = evtimer_new(base, node_listen_retry_cb, n);
	n->budget_ev = event_new(base, -1, 0, node_budget_cb, n);
	n->maintain_ev = event_new(base, -1, EV_PERSIST, node_maintain_cb, n);
	tv.tv_sec = conf->sync_interval_ms / 1000;
	tv.tv_usec = (conf->sync_interval_ms % 1000) * 1000;
	event_add(n->maintain_ev, &tv);
	if (node_fd_limits(n) != 0 || node_listen(n) != 0)
		return -1;
	if (metrics_start(n) != 0)
		return -1;
	log_info("node %s listening on %s:%u, sn %llu of epoch %llu", name,
		 conf->nodes[n->self].addr.host, conf->nodes[n->self].addr.port,
		 (unsigned long long)store_applied_sn(n->st),
		 (unsigned long long)n->chain.applied_epoch);
	n->chain.log_retain = conf->log_retain;
	if (conf->netcd == 0) {
		/* A fixed chain: the node lines, in order, for good. */
		struct chain_view v;

		memset(&v, 0, sizeof(v));
		v.epoch = CFS_STATIC_EPOCH;
		for (size_t i = 0; i < conf->nnodes; i++)
			snprintf(v.nodes[v.n++], sizeof(v.nodes[0]), "%s", conf->nodes[i].addr.name);
		log_info("no coordinator in %s: the chain is fixed to its %zu node lines, and a "
			 "failed node stops it until it is back",
			 conf->path, conf->nnodes);
		node_set_view(n, &v);
		node_set_serving(n, 1);
		return 0;
	}
	if (coord_start(n) != 0)
		return -1;
	return 0;
}

/* Closes connections, syncs and closes the store. */
void
node_stop(struct node *n)
{
	struct node_peer *p;

	metrics_stop(n);
	if (n->coord != NULL)
		coord_stop(n->coord);
	n->coord = NULL;
	if (n->st != NULL)
		node_batch_end(n);
	while ((p = TAILQ_FIRST(&n->peers)) != NULL)
		cfs_conn_close(p->c, NULL); /* node_peer_down unlinks it */
	cfs_admit_free(&n->pending);
	if (n->succ != NULL)
		cfs_conn_close(n->succ, NULL);
	node_snap_stop(n);
	if (n->listener != NULL)
		evconnlistener_free(n->listener);
	node_lease_stop(n);
	node_locks_stop(n);
	if (n->st != NULL) {
		chain_maintain(&n->chain);
		chain_free(&n->chain);
		store_close(n->st);
		n->st = NULL;
	}
	if (n->ack_ev)
		event_free(n->ack_ev);
	if (n->batch_ev)
		event_free(n->batch_ev);
	if (n->succ_retry)
		event_free(n->succ_retry);
	if (n->listen_retry)
		event_free(n->listen_retry);
	if (n->budget_ev)
		event_free(n->budget_ev);
	if (n->maintain_ev)
		event_free(n->maintain_ev);
	/* Connections still closing hold references of their own. */
	SSL_CTX_free(n->server_ctx);
	SSL_CTX_free(n->client_ctx);
	n->server_ctx = n->client_ctx = NULL;
	cfs_wbuf_free(&n->out);
	cfs_wbuf_free(&n->data);
	cfs_wbuf_free(&n->pend_fwd);
	cfs_wbuf_free(&n->pend_reply);
	cfs_wbuf_free(&n->snap_buf);
}

/* Drops every client connection: they reconnect and learn where to go. */
static void
node_drop_clients(struct node *n, const char *why)
{
	struct node_peer *p, *next;

	for (p = TAILQ_FIRST(&n->peers); p != NULL; p = next) {
		next = TAILQ_NEXT(p, all);
		if (p->state == PEER_CLIENT)
			cfs_conn_close(p->c, why);
	}
}

/* Takes a new configuration. */
void
node_set_view(struct node *n, const struct chain_view *v)
{
	const char *succ;
	int was_tail;

	if (n->chain.view.n > 0 && v->epoch <= n->chain.epoch)
		return;
	was_tail = n->chain.view.n > 0 && (n->chain.role & CFS_ROLE_TAIL);

	node_batch_end(n); /* what this epoch applied leaves under this epoch */
	chain_reconfigure(&n->chain, v, n->self_name);
	node_lease_view(n, was_tail, (n->chain.role & CFS_ROLE_TAIL) != 0);
	n->epoch_changes++;
	/* Links of the old epoch go; the new ones resend from the logs by (epoch, sn). */
	if (n->pred != NULL)
		cfs_conn_close(n->pred->c, "new epoch");
	if (n->succ != NULL)
		cfs_conn_close(n->succ, "new epoch"); /* node_succ_down runs: succ is NULL after */
	event_del(n->succ_retry);
	n->succ_backoff_ms = 0;
	n->succ_snapshot_logged = 0;
	node_drop_clients(n, "new epoch");
	succ = view_succ(v, n->self_name);
	if (succ == NULL) {
		n->succ_name[0] = '\0';
		node_succ_enter(n, SUCC_NONE);
	} else {
		snprintf(n->succ_name, sizeof(n->succ_name), "%s", succ);
		node_succ_connect(n);
	}
	node_check_throttle(n);
}

/* Starts or stops answering clients. */
void
node_set_serving(struct node *n, int on)
{
	if (n->serving == on)
		return;
	n->serving = on;
	if (!on) {
		node_batch_end(n);
		node_drop_clients(n, "not serving");
	}
}

void
node_flush(struct node *n)
{
	node_batch_end(n);
}
