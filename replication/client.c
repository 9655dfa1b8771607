/* The client side of the chain: routing, retries, reconnection; see client.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <time.h>

#include "common/conn.h"
#include "common/log.h"
#include "replication/client.h"

#define CLIENT_BUCKETS 1024
#define CLIENT_TICK_MS 50
/*
 * Taken off every lease: both ends count whole milliseconds, and the
 * kernel rounds a timeout up to jiffies and may look at it a little late.
 */
#define CLIENT_LEASE_MARGIN_MS 100

struct client_req {
	uint64_t seq;
	int update;
	struct cfs_wbuf frame;	/* header + body, ready to (re)send */
	cfs_client_done done;
	void *arg;
	uint64_t sent_gen;	/* connection it was last sent on; 0: not sent */
	uint64_t first_sent_ms; /* a lease in its answer counts from here (0: not sent) */
	uint64_t submit_ms;
	uint64_t deadline_ms;
	uint64_t retry_at_ms;	/* after a BUSY answer: not before this */
	int held;		/* its kind is stalled: failed at the next tick, never sent */
	TAILQ_ENTRY(client_req) all;
	TAILQ_ENTRY(client_req) upd;
	TAILQ_ENTRY(client_req) hold;
	TAILQ_ENTRY(client_req) bucket;
};
TAILQ_HEAD(client_req_list, client_req);

/* One node the client knows of, by address; slots never move. */
struct client_node {
	struct cfs_client *cl;
	struct cfs_node_addr addr;
	struct cfs_conn *c;
	int ready;     /* HELLO_REPLY received on c */
	uint64_t gen;  /* c's generation once ready */
	int wanted;    /* keep a connection: head, tail, or a seed while learning */
	unsigned backoff_ms;
	int busy;      /* its last HELLO_REPLY said BUSY: alive, soon serving again */
	struct event *retry;
};

#define CLIENT_MAX_SLOTS (2 * CFS_MAX_NODES)

struct cfs_client {
	struct event_base *base;
	struct cfs_client_opts opts;
	char name[CFS_NODE_NAME_MAX + 1]; /* opts.name is the caller's: keep a copy */
	uint64_t client_id;
	uint64_t next_seq;
	uint64_t epoch;
	struct client_node *head; /* NULL until the chain is known */
	struct client_node *tail;
	size_t nslots;
	struct client_node slots[CLIENT_MAX_SLOTS];
	struct client_req_list reqs;	/* by seq */
	struct client_req_list updates; /* by seq, updates only */
	struct client_req_list held;	/* by seq, held requests only */
	struct client_req_list buckets[CLIENT_BUCKETS];
	size_t nreqs;
	struct event *tick;
	int refused_logged;
	/*
	 * Learning: the head or the tail is unreachable or refused us, or a
	 * node said our epoch is old.  Every known node is asked for its
	 * configuration and the newest epoch wins; it ends when the head and
	 * the tail of the newest configuration are both up.
	 */
	int learning;
	/*
	 * Leases: lease_gen changes whenever the tail connection or the epoch
	 * does, which ends every lease taken before (cfs_client_lease_gen);
	 * lease_until is the end of the lease in the answer being delivered.
	 */
	uint64_t lease_gen;
	uint64_t lease_until;
	/*
	 * An update of ours timed out here, but the chain may still apply it,
	 * and would recall nothing from us (we made it).  No lease is taken
	 * until an update sent after it is answered: the head orders that one
	 * after it, so by then it has happened or never will.  doubt_seq is the
	 * last seq given out when it timed out (0: no doubt); with no update
	 * of ours on its way, the tick sends a barrier (FSYNC of the root).
	 */
	uint64_t doubt_seq;
	int barrier_sent;
	/*
	 * The timeout is a promise about every call (chainfs(8), UNREACHABLE
	 * CHAIN), but the kernel makes calls on one directory wait for each
	 * other, so timeouts one after another would add up.  A request of a
	 * kind (0: read, 1: update) that waited its whole timeout while nothing
	 * of that kind was answered marks the kind stalled: new requests of it
	 * fail at the next tick, unsent (ENOTCONN), while one probe of the kind
	 * stays on its way.  Any answer of the kind ends it (an update's answer
	 * proves the tail answers reads too), and so does a new connection to
	 * the tail, or for updates to the head.
	 */
	uint64_t answered_ms[2];
	int stalled[2];
	int probing[2];
	cfs_client_recall_fn recall;
	void *recall_arg;
	/* Locks: the session's lease (cfs_client_keep_session) and the callbacks. */
	uint32_t lock_lease_ms;
	int keep_session;
	uint64_t keep_since_ms; /* when keep_session was last turned on */
	uint64_t session_until;
	uint64_t last_ping_ms;
	cfs_client_lkgrant_fn lk_grant;
	cfs_client_event_fn lk_tail_up, lk_lost;
	void *lk_arg;
};

static void client_node_connect(struct client_node *);
static void client_retry_cb(evutil_socket_t, short, void *);

/* Starts asking every known node for the configuration. */
static void
client_learn(struct cfs_client *cl, const char *why)
{
	if (!cl->learning)
		log_debug("asking every node for the chain: %s", why);
	cl->learning = 1;
	for (size_t i = 0; i < cl->nslots; i++)
		cl->slots[i].wanted = 1;
}

/* Keeps connections to head and tail only: the others are let go. */
static void
client_keep_only(struct cfs_client *cl, const struct client_node *head,
		 const struct client_node *tail)
{
	for (size_t i = 0; i < cl->nslots; i++) {
		struct client_node *s = &cl->slots[i];

		s->wanted = (s == head || s == tail);
		if (!s->wanted && s->c != NULL) {
			struct cfs_conn *c = s->c;

			s->c = NULL;
			s->ready = 0;
			c->arg = NULL;
			cfs_conn_close(c, NULL);
		}
	}
}

/* Learning is over once the newest head and tail are up: the others are let go. */
static void
client_learn_done(struct cfs_client *cl)
{
	if (!cl->learning || cl->head == NULL || !cl->head->ready || !cl->tail->ready)
		return;
	cl->learning = 0;
	client_keep_only(cl, cl->head, cl->tail);
}

/* The session's lock lease may have run out: the caller's locks may be gone. */
static void
client_session_lost(struct cfs_client *cl)
{
	log_warnx("no word from the head for the lock lease of %u ms: this mount's locks may "
		  "have been released",
		  cl->lock_lease_ms);
	cl->session_until = 0;
	if (cl->lk_lost != NULL)
		cl->lk_lost(cl->lk_arg);
}

/* The head answered a word of ours sent at sent_ms: it heard us then or later. */
static void
client_session_heard(struct cfs_client *cl, uint64_t sent_ms)
{
	uint64_t now = cfs_now_ms(), until;

	if (!cl->keep_session || cl->lock_lease_ms <= CLIENT_LEASE_MARGIN_MS || sent_ms == 0)
		return;
	if (cl->session_until != 0 && now > cl->session_until) {
		client_session_lost(cl); /* it ran out before this answer came */
		return;
	}
	if (sent_ms < cl->keep_since_ms)
		return; /* sent before the lease was wanted: proves nothing of it */
	until = sent_ms + cl->lock_lease_ms - CLIENT_LEASE_MARGIN_MS;
	if (until <= now) {
		/*
		 * Answered only after a whole lease: nothing from it.  Unless a
		 * later word holds the lease, the chain may have ended it.
		 */
		if (cl->session_until <= now)
			client_session_lost(cl);
		return;
	}
	if (until > cl->session_until)
		cl->session_until = until;
}

/* Removes a request from every list and runs its callback. */
static void
client_finish(struct cfs_client *cl, struct client_req *r, const struct cfs_reply *rep)
{
	TAILQ_REMOVE(&cl->reqs, r, all);
	if (r->update)
		TAILQ_REMOVE(&cl->updates, r, upd);
	if (r->held)
		TAILQ_REMOVE(&cl->held, r, hold);
	TAILQ_REMOVE(&cl->buckets[r->seq % CLIENT_BUCKETS], r, bucket);
	cl->nreqs--;
	r->done(r->arg, rep);
	cfs_wbuf_free(&r->frame);
	free(r);
}

static const char *const client_kind[2] = {"reads", "updates"};

/* New requests of kind k are sent again. */
static void
client_unstall(struct cfs_client *cl, int k, const char *why)
{
	if (cl->stalled[k])
		log_info("%s: %s are sent again", why, client_kind[k]);
	cl->stalled[k] = 0;
}

/* An answer of r's kind came: the kind is not stalled (an update's proves reads too). */
static void
client_answered(struct cfs_client *cl, const struct client_req *r, uint64_t now)
{
	for (int k = 0; k <= r->update; k++) {
		cl->answered_ms[k] = now;
		client_unstall(cl, k, "the chain answers");
	}
}

/* Completes a request with a local error. */
static void
client_fail(struct cfs_client *cl, struct client_req *r, int err)
{
	struct cfs_reply rep;

	memset(&rep, 0, sizeof(rep));
	rep.status = err;
	if (r->update && r->first_sent_ms != 0 && cl->opts.lease_ms > 0) {
		if (cl->doubt_seq == 0)
			log_warnx("an update timed out: no lease is taken until the chain has "
				 "answered a later one");
		cl->doubt_seq = cl->next_seq - 1;
		cl->lease_gen++; /* what was learned under a lease may miss it */
	}
	client_finish(cl, r, &rep);
}

/*
 * Writes the epoch into a queued frame's header, and the acked_below of
 * the body (the oldest update still without an answer, now), before
 * (re)sending it: the head counts a client's updates in flight by it.
 */
static void
client_patch_frame(struct cfs_client *cl, struct client_req *r)
{
	struct client_req *oldest = TAILQ_FIRST(&cl->updates);
	uint64_t acked_below = oldest != NULL && oldest->seq < r->seq ? oldest->seq : r->seq;

	for (int i = 0; i < 8; i++) {
		r->frame.p[24 + i] = (uint8_t)(cl->epoch >> (8 * i));
		r->frame.p[CFS_HEADER_SIZE + i] = (uint8_t)(acked_below >> (8 * i));
	}
}

/* Sends r unless it is on its node's current connection already, or cannot go now. */
static void
client_send(struct cfs_client *cl, struct client_req *r, uint64_t now)
{
	struct client_node *to = r->update ? cl->head : cl->tail;

	/* An update's answer comes from the tail: send only while both are up. */
	if (r->held || !to->ready || (r->update && !cl->tail->ready))
		return;
	if (r->sent_gen == to->gen || r->retry_at_ms > now)
		return;
	client_patch_frame(cl, r);
	cfs_conn_send(to->c, r->frame.p, r->frame.len);
	r->sent_gen = to->gen;
	if (r->first_sent_ms == 0)
		r->first_sent_ms = now;
}

/* Sends every request that is not on its node's current connection. */
static void
client_kick(struct cfs_client *cl)
{
	uint64_t now = cfs_now_ms();
	struct client_req *r;

	if (cl->head == NULL)
		return;
	TAILQ_FOREACH(r, &cl->reqs, all)
		client_send(cl, r, now);
}

/* The slot for an address, added when new. */
static struct client_node *
client_slot(struct cfs_client *cl, const struct cfs_node_addr *a)
{
	struct client_node *s;

	for (size_t i = 0; i < cl->nslots; i++) {
		s = &cl->slots[i];
		if (s->addr.port == a->port && strcmp(s->addr.host, a->host) == 0) {
			if (a->name[0] != '\0')
				snprintf(s->addr.name, sizeof(s->addr.name), "%s", a->name);
			return s;
		}
	}
	if (cl->nslots == CLIENT_MAX_SLOTS)
		return NULL;
	s = &cl->slots[cl->nslots++];
	memset(s, 0, sizeof(*s));
	s->cl = cl;
	s->addr = *a;
	s->retry = evtimer_new(cl->base, client_retry_cb, s);
	return s;
}

/* Reconnect timer. */
static void
client_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client_node *s = arg;

	if (s->c == NULL && s->wanted)
		client_node_connect(s);
}

/* Takes the chain configuration from a HELLO_REPLY: which nodes are head and tail. */
static void
client_adopt_config(struct cfs_client *cl, const struct cfs_hello_reply *hr)
{
	struct client_node *head, *tail;

	if (cl->head != NULL && hr->epoch <= cl->epoch)
		return;
	if (hr->nnodes == 0)
		return;
	head = client_slot(cl, &hr->nodes[0]);
	tail = client_slot(cl, &hr->nodes[hr->nnodes - 1]);
	if (head == NULL || tail == NULL) {
		log_warnx("too many node addresses; cannot follow the chain");
		return;
	}
	/* While learning, every node stays wanted until client_learn_done. */
	if (!cl->learning)
		client_keep_only(cl, head, tail);
	head->wanted = tail->wanted = 1;
	if (cl->head != NULL && (head != cl->head || tail != cl->tail)) {
		/* Everything goes to the new head and tail, with the same seqs. */
		struct client_req *r;

		TAILQ_FOREACH(r, &cl->reqs, all)
			r->sent_gen = 0;
	}
	cl->head = head;
	cl->tail = tail;
	cl->epoch = hr->epoch;
	cl->lease_gen++;
	log_debug("chain of %u nodes, epoch %llu: head %s, tail %s", hr->nnodes,
		  (unsigned long long)cl->epoch, head->addr.name, tail->addr.name);
	if (head->c == NULL)
		client_node_connect(head);
	if (tail->c == NULL)
		client_node_connect(tail);
}

/* Connection up: introduce ourselves. */
static void
client_conn_up(struct cfs_conn *c, void *arg)
{
	struct client_node *s = arg;
	struct cfs_wbuf f;
	struct cfs_hello h;
	size_t start;
	char why[200];

	if (s == NULL)
		return;
	/* Only a node's certificate, naming the node we dialled, may answer as one. */
	if (c->has_tls_peer && cfs_tls_is_node(&c->tls_peer, s->addr.name, why, sizeof(why)) != 0) {
		if (!s->cl->refused_logged++)
			log_warnx("%s: not a chainfs node: %s; refused", c->peer, why);
		cfs_conn_close(c, "not a node's certificate");
		return;
	}
	memset(&h, 0, sizeof(h));
	h.role = CFS_PEER_CLIENT;
	h.client_id = s->cl->client_id;
	h.lease_ms = s->cl->opts.lease_ms;
	snprintf(h.name, sizeof(h.name), "%s", s->cl->name);
	cfs_wbuf_init(&f);
	start = cfs_frame_begin(&f, CFS_MSG_HELLO, 0, 0);
	cfs_hello_encode(&f, &h);
	cfs_frame_end(&f, start);
	cfs_conn_send(c, f.p, f.len);
	cfs_wbuf_free(&f);
}

/* Finds an outstanding request by seq. */
static struct client_req *
client_find(struct cfs_client *cl, uint64_t seq)
{
	struct client_req *r;

	TAILQ_FOREACH(r, &cl->buckets[seq % CLIENT_BUCKETS], bucket)
		if (r->seq == seq)
			return r;
	return NULL;
}

/*
 * The chain forgets a silent client's results after its session TTL; an
 * update sent again after that could be applied twice.  So no request
 * lives (and is sent again) beyond half of it: a longer timeout is cut
 * down, for the requests waiting too.
 */
static void
client_clamp_timeout(struct cfs_client *cl, uint32_t ttl_s)
{
	uint64_t max = (uint64_t)ttl_s * 500;
	struct client_req *r;

	if (ttl_s == 0 || cl->opts.timeout_ms <= max)
		return;
	log_warnx("request timeout of %u s is beyond half the chain's session-ttl of %u s: "
		  "requests time out after %llu s",
		  cl->opts.timeout_ms / 1000, ttl_s, (unsigned long long)(max / 1000));
	TAILQ_FOREACH(r, &cl->reqs, all) {
		if (r->deadline_ms > r->submit_ms + max)
			r->deadline_ms = r->submit_ms + max;
	}
	cl->opts.timeout_ms = (unsigned)max;
}

/* Handles an answer from a node. */
static int
client_on_reply(struct cfs_client *cl, struct client_node *s, const struct cfs_header *h,
		const uint8_t *body)
{
	struct cfs_reply rep;
	struct client_req *r;
	int rc = cfs_reply_decode(body, h->length, &rep);

	if (rc != CFS_WIRE_OK) {
		log_warnx("%s: bad REPLY: %s", s->c->peer, cfs_wire_strerror(rc));
		return -1;
	}
	r = client_find(cl, h->reqid);
	if (r == NULL)
		return 0; /* a second answer to a retried request */
	switch (rep.status) {
	case CFS_ERR_BUSY:
		r->sent_gen = 0;
		r->retry_at_ms = cfs_now_ms() + 20;
		return 0;
	case CFS_ERR_NOT_HEAD:
	case CFS_ERR_NOT_TAIL:
	case CFS_ERR_EPOCH:
		/* Our view of the chain is old: ask again, then resend. */
		log_info("%s: %s; re-reading the chain", s->c->peer,
			 rep.status == CFS_ERR_EPOCH ? "epoch changed" : "node changed role");
		r->sent_gen = 0;
		r->retry_at_ms = cfs_now_ms() + 100;
		client_learn(cl, "a node refused our epoch");
		cfs_conn_close(s->c, "re-reading the chain configuration");
		return 0;
	default:
		break;
	}
	/*
	 * The tail granted the lease after it read the request, which was after
	 * we first sent it: counted from then, ours runs out first.  Only the
	 * tail's connection of this generation carries leases.
	 */
	cl->lease_until = 0;
	client_answered(cl, r, cfs_now_ms());
	if (r->update)
		client_session_heard(cl, r->first_sent_ms);
	if (r->update && r->seq > cl->doubt_seq)
		cl->doubt_seq = 0;
	if (rep.lease_ms > CLIENT_LEASE_MARGIN_MS && s == cl->tail && r->first_sent_ms != 0 &&
	    cl->opts.lease_ms > 0 && cl->doubt_seq == 0)
		cl->lease_until = r->first_sent_ms + rep.lease_ms - CLIENT_LEASE_MARGIN_MS;
	client_finish(cl, r, &rep);
	cl->lease_until = 0;
	return 0;
}

/* A RECALL from the tail: the caller drops what it names, then acknowledges. */
static int
client_on_recall(struct cfs_client *cl, struct client_node *s, const struct cfs_header *h,
		 const uint8_t *body)
{
	struct cfs_recall rc;
	int err = cfs_recall_decode(body, h->length, &rc);

	if (err != CFS_WIRE_OK) {
		log_warnx("%s: bad RECALL: %s", s->c->peer, cfs_wire_strerror(err));
		return -1;
	}
	/*
	 * From a node that is no longer our tail: what it names is dropped all
	 * the same, but not acknowledged (generation 0 is none): it waits for
	 * the leases to run out, as for any holder it cannot reach.
	 */
	if (cl->recall != NULL)
		cl->recall(cl->recall_arg, h->reqid, s == cl->tail ? s->gen : 0, &rc);
	else if (s == cl->tail)
		cfs_client_recall_ack(cl, h->reqid, s->gen);
	return 0;
}

/* PONG: the head heard the PING sent at reqid (ms), or is not the head. */
static int
client_on_pong(struct cfs_client *cl, struct client_node *s, const struct cfs_header *h,
	       const uint8_t *body)
{
	int32_t status;
	int rc = cfs_status_only_decode(body, h->length, &status);

	if (rc != CFS_WIRE_OK) {
		log_warnx("%s: bad PONG: %s", s->c->peer, cfs_wire_strerror(rc));
		return -1;
	}
	if (status == 0 && s == cl->head && h->reqid <= cfs_now_ms()) {
		client_session_heard(cl, h->reqid);
		return 0;
	}
	if (status == CFS_ERR_NOT_HEAD || status == CFS_ERR_EPOCH) {
		client_learn(cl, "the head moved");
		cfs_conn_close(s->c, "re-reading the chain configuration");
	}
	return 0;
}

/* LKGRANT: a queued lock request of ours was decided. */
static int
client_on_lkgrant(struct cfs_client *cl, struct client_node *s, const struct cfs_header *h,
		  const uint8_t *body)
{
	struct cfs_lkgrant g;
	int rc = cfs_lkgrant_decode(body, h->length, &g);

	if (rc != CFS_WIRE_OK) {
		log_warnx("%s: bad LKGRANT: %s", s->c->peer, cfs_wire_strerror(rc));
		return -1;
	}
	if (cl->lk_grant != NULL)
		cl->lk_grant(cl->lk_arg, &g);
	return 0;
}

/* Every quarter of the lock lease: a PING to the head; and the lease is checked. */
static void
client_session_tick(struct cfs_client *cl, uint64_t now)
{
	struct cfs_wbuf f;
	size_t start;

	if (!cl->keep_session || cl->lock_lease_ms == 0)
		return;
	if (cl->session_until != 0 && now > cl->session_until) {
		client_session_lost(cl);
		return;
	}
	if (cl->head == NULL || !cl->head->ready || now - cl->last_ping_ms < cl->lock_lease_ms / 4)
		return;
	cl->last_ping_ms = now;
	cfs_wbuf_init(&f);
	start = cfs_frame_begin(&f, CFS_MSG_PING, now, cl->epoch);
	cfs_frame_end(&f, start);
	cfs_conn_send(cl->head->c, f.p, f.len);
	cfs_wbuf_free(&f);
}

/* One frame from a node. */
static int
client_conn_frame(struct cfs_conn *c, const struct cfs_header *h, const uint8_t *body, void *arg)
{
	struct client_node *s = arg;
	struct cfs_client *cl;
	struct cfs_hello_reply hr;
	struct client_req *r;
	int rc;

	if (s == NULL)
		return -1;
	cl = s->cl;
	if (!s->ready) {
		if (h->type != CFS_MSG_HELLO_REPLY) {
			log_warnx("%s: %s before HELLO_REPLY", c->peer, cfs_msg_name(h->type));
			return -1;
		}
		rc = cfs_hello_reply_decode(body, h->length, &hr);
		if (rc != CFS_WIRE_OK) {
			log_warnx("%s: bad HELLO_REPLY: %s", c->peer, cfs_wire_strerror(rc));
			return -1;
		}
		if (hr.status == CFS_ERR_BUSY || hr.status == CFS_ERR_EPOCH) {
			/* Fenced, waiting as a new tail, or without a configuration. */
			s->busy = 1;
			client_learn(cl, "a node is not serving");
			return -1;
		}
		if (hr.status != 0) {
			if (!cl->refused_logged++)
				log_warnx("%s: node refused this client (status %d)", c->peer,
					  hr.status);
			return -1;
		}
		if (c->has_tls_peer && strcmp(hr.name, c->tls_peer.name) != 0) {
			char name[4 * CFS_NODE_NAME_MAX + 1];

			if (!cl->refused_logged++)
				log_warnx("%s: says it is node %s, but its certificate names %s; "
					  "refused",
					  c->peer, log_escape(hr.name, name, sizeof(name)),
					  c->tls_peer.name);
			return -1;
		}
		cfs_conn_deadline(c, 0);
		snprintf(s->addr.name, sizeof(s->addr.name), "%s", hr.name);
		s->ready = 1;
		s->gen = c->gen;
		cl->lease_gen++;
		s->backoff_ms = 0;
		s->busy = 0;
		client_clamp_timeout(cl, hr.session_ttl_s);
		/* Nodes could be configured apart: the shortest lease is the one to trust. */
		if (hr.lock_lease_ms != 0 &&
		    (cl->lock_lease_ms == 0 || hr.lock_lease_ms < cl->lock_lease_ms))
			cl->lock_lease_ms = hr.lock_lease_ms;
		client_adopt_config(cl, &hr);
		/*
		 * A new way to the tail: reads and updates (answered by the tail)
		 * are worth trying again at once; to the head: updates.
		 */
		if (s == cl->tail)
			client_unstall(cl, 0, "the tail is connected again");
		if (s == cl->tail || s == cl->head)
			client_unstall(cl, 1, "the head or the tail is connected again");
		/* A new tail connection: answers sent to the old one are lost, ask again. */
		if (s == cl->tail)
			TAILQ_FOREACH(r, &cl->updates, upd)
				r->sent_gen = 0;
		client_learn_done(cl);
		client_kick(cl);
		if (s == cl->tail && cl->lk_tail_up != NULL)
			cl->lk_tail_up(cl->lk_arg);
		return 0;
	}
	if (h->type == CFS_MSG_RECALL)
		return client_on_recall(cl, s, h, body);
	if (h->type == CFS_MSG_PONG)
		return client_on_pong(cl, s, h, body);
	if (h->type == CFS_MSG_LKGRANT)
		return client_on_lkgrant(cl, s, h, body);
	if (h->type != CFS_MSG_REPLY) {
		log_warnx("%s: unexpected %s", c->peer, cfs_msg_name(h->type));
		return -1;
	}
	return client_on_reply(cl, s, h, body);
}

/* Connection down: reconnect with backoff while the node is wanted. */
static void
client_conn_down(struct cfs_conn *c, void *arg)
{
	struct client_node *s = arg;
	struct timeval tv;
	unsigned cap;

	if (s == NULL)
		return;
	s->c = NULL;
	s->ready = 0;
	if (s == s->cl->tail)
		s->cl->lease_gen++;
	if (s == s->cl->head || s == s->cl->tail)
		client_learn(s->cl, "the head or the tail is unreachable");
	if (!s->wanted)
		return;
	/* A node that just said BUSY serves again within a lease: ask it often. */
	cap = s->busy ? 200 : 1000;
	s->busy = 0;
	s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : 50;
	if (s->backoff_ms > cap)
		s->backoff_ms = cap;
	tv.tv_sec = s->backoff_ms / 1000;
	tv.tv_usec = (s->backoff_ms % 1000) * 1000;
	evtimer_add(s->retry, &tv);
}

static const struct cfs_conn_cbs client_conn_cbs = {
	.up = client_conn_up,
	.frame = client_conn_frame,
	.down = client_conn_down,
};

/* Opens a connection to a node. */
static void
client_node_connect(struct client_node *s)
{
	s->ready = 0;
	s->c = cfs_conn_connect(s->cl->base, s->cl->opts.tls, s->addr.host, s->addr.port,
				s->addr.name[0] ? s->addr.name : NULL, NULL, &client_conn_cbs, s);
	if (s->c == NULL) {
		struct timeval tv = {1, 0};

			evtimer_add(s->retry, &tv);
	}
}

/* The barrier's answer (client_fail): another is sent if it timed out too. */
static void
client_barrier_done(void *arg, const struct cfs_reply *rep)
{
	struct cfs_client *cl = arg;

	(void)rep;
	cl->barrier_sent = 0;
}

/* A probe's answer, or its timeout: another is sent while the kind is stalled. */
static void
client_probe_done(struct cfs_client *cl, int kind)
{
	cl->probing[kind] = 0;
}

static void
client_probe_read_done(void *arg, const struct cfs_reply *rep)
{
	(void)rep;
	client_probe_done(arg, 0);
}

static void
client_probe_update_done(void *arg, const struct cfs_reply *rep)
{
	(void)rep;
	client_probe_done(arg, 1);
}

static uint64_t client_submit(struct cfs_client *, const struct cfs_op *, cfs_client_done,
			      void *arg, int probe);

/*
 * r waited its whole timeout: with no answer of its kind meanwhile, the
 * kind is stalled.  Then fails it.
 */
static void
client_time_out(struct cfs_client *cl, struct client_req *r)
{
	int k = r->update;

	if (r->held) {
		client_fail(cl, r, ENOTCONN);
		return;
	}
	if (!cl->stalled[k] && cl->answered_ms[k] < r->submit_ms) {
		log_warnx("the chain answered no %s for %u ms: new ones fail at once until it "
			  "answers again",
			  client_kind[k], cl->opts.timeout_ms);
		cl->stalled[k] = 1;
	}
	client_fail(cl, r, ETIMEDOUT);
}

/* While a kind is stalled, one probe of it stays on its way (GETATTR or FSYNC of the root). */
static void
client_probe(struct cfs_client *cl)
{
	static const cfs_client_done done[2] = {client_probe_read_done,
						client_probe_update_done};

	for (int k = 0; k < 2; k++) {
		struct cfs_op op;

		if (!cl->stalled[k] || cl->probing[k])
			continue;
		memset(&op, 0, sizeof(op));
		op.type = k ? CFS_OP_FSYNC : CFS_OP_GETATTR;
		op.ino = CFS_ROOT_INO;
		cl->probing[k] = 1;
		client_submit(cl, &op, done[k], cl, 1);
	}
}

/* Periodic: time out requests, resend the ones waiting for a retry. */
static void
client_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct cfs_client *cl = arg;
	uint64_t now = cfs_now_ms(), below = cl->next_seq;
	struct client_req *r;

	/* Deadlines grow with seq, but for the held; neither loop fails what a callback adds. */
	while ((r = TAILQ_FIRST(&cl->reqs)) != NULL && r->deadline_ms <= now)
		client_time_out(cl, r);
	/*
	 * Even if their kind was answered since: sent now, they would go after
	 * newer requests that were not held, and the head applies updates in
	 * the order they come.
	 */
	while ((r = TAILQ_FIRST(&cl->held)) != NULL && r->seq < below)
		client_time_out(cl, r);
	client_probe(cl);
	/* While updates are stalled, their probe is the barrier too. */
	if (cl->doubt_seq != 0 && !cl->barrier_sent && !cl->stalled[1] &&
	    ((r = TAILQ_LAST(&cl->updates, client_req_list)) == NULL || r->seq <= cl->doubt_seq)) {
		struct cfs_op op;

		memset(&op, 0, sizeof(op));
		op.type = CFS_OP_FSYNC;
		op.ino = CFS_ROOT_INO;
		cl->barrier_sent = 1;
		cfs_client_submit(cl, &op, client_barrier_done, cl);
	}
	client_session_tick(cl, now);
	/* Learning the chain: if no node answered, keep trying them. */
	if (cl->head == NULL || cl->learning) {
		for (size_t i = 0; i < cl->nslots; i++)
			if (cl->slots[i].c == NULL && !evtimer_pending(cl->slots[i].retry, NULL))
				client_node_connect(&cl->slots[i]);
	}
	client_kick(cl);
}

/* Makes a client and starts learning the chain from the seeds. */
struct cfs_client *
cfs_client_new(struct event_base *base, const struct cfs_client_opts *o)
{
	struct cfs_client *cl = xcalloc(1, sizeof(*cl));
	struct timeval tv = {0, CLIENT_TICK_MS * 1000};

	cl->base = base;
	cl->opts = *o;
	snprintf(cl->name, sizeof(cl->name), "%.*s", CFS_NODE_NAME_MAX, o->name ? o->name : "client");
	cl->opts.name = cl->name;
	if (cl->opts.timeout_ms == 0)
		cl->opts.timeout_ms = 30000;
	cl->client_id = o->client_id;
	while (cl->client_id == 0)
		if (getrandom(&cl->client_id, sizeof(cl->client_id), 0) != sizeof(cl->client_id))
			fatal("getrandom");
	cl->next_seq = 1;
	TAILQ_INIT(&cl->reqs);
	TAILQ_INIT(&cl->updates);
	TAILQ_INIT(&cl->held);
	for (size_t i = 0; i < CLIENT_BUCKETS; i++)
		TAILQ_INIT(&cl->buckets[i]);
	for (size_t i = 0; i < o->nseeds && i < CFS_MAX_NODES; i++) {
		struct client_node *s = client_slot(cl, &o->seeds[i]);

		s->wanted = 1;
		client_node_connect(s);
	}
	cl->tick = event_new(base, -1, EV_PERSIST, client_tick_cb, cl);
	event_add(cl->tick, &tv);
	return cl;
}

/* Fails what is outstanding and frees everything. */
void
cfs_client_free(struct cfs_client *cl)
{
	struct client_req *r;

	if (cl == NULL)
		return;
	while ((r = TAILQ_FIRST(&cl->reqs)) != NULL)
		client_fail(cl, r, ECANCELED);
	for (size_t i = 0; i < cl->nslots; i++) {
		struct client_node *s = &cl->slots[i];

		s->wanted = 0;
		if (s->c != NULL) {
			s->c->arg = NULL;
			cfs_conn_close(s->c, NULL);
		}
		event_free(s->retry);
	}
	event_free(cl->tick);
	free(cl);
}

/* Queues a request and sends it when its node is up; held while its kind is stalled. */
static uint64_t
client_submit(struct cfs_client *cl, const struct cfs_op *op, cfs_client_done done, void *arg,
	      int probe)
{
	struct client_req *r = xcalloc(1, sizeof(*r));
	struct client_req *oldest = TAILQ_FIRST(&cl->updates);
	size_t start;

	r->seq = cl->next_seq++;
	r->update = cfs_op_is_update(op->type);
	r->done = done;
	r->arg = arg;
	r->submit_ms = cfs_now_ms();
	r->deadline_ms = r->submit_ms + cl->opts.timeout_ms;
	if (cl->stalled[r->update] && !probe) {
		r->held = 1;
		TAILQ_INSERT_TAIL(&cl->held, r, hold);
	}
	cfs_wbuf_init(&r->frame);
	start = cfs_frame_begin(&r->frame, CFS_MSG_REQUEST, r->seq, cl->epoch);
	/* Every answer below the oldest outstanding update has arrived. */
	cfs_request_encode(&r->frame, oldest ? oldest->seq : r->seq, op);
	cfs_frame_end(&r->frame, start);
	TAILQ_INSERT_TAIL(&cl->reqs, r, all);
	if (r->update)
		TAILQ_INSERT_TAIL(&cl->updates, r, upd);
	TAILQ_INSERT_TAIL(&cl->buckets[r->seq % CLIENT_BUCKETS], r, bucket);
	cl->nreqs++;
	/* Only the new one: the others were sent, or wait for a connection or a retry time. */
	if (cl->head != NULL)
		client_send(cl, r, cfs_now_ms());
	return r->seq;
}

uint64_t
cfs_client_submit(struct cfs_client *cl, const struct cfs_op *op, cfs_client_done done,
		  void *arg)
{
	return client_submit(cl, op, done, arg, 0);
}

struct client_call {
	int done;
	struct cfs_reply *rep;
	struct cfs_wbuf *data;
};

/* Copies a blocking call's answer out. */
static void
client_call_done(void *arg, const struct cfs_reply *rep)
{
	struct client_call *cc = arg;

	*cc->rep = *rep;
	cc->rep->data = NULL;
	if (cc->data != NULL) {
		cfs_wbuf_reset(cc->data);
		if (rep->datalen > 0)
			cfs_put_bytes(cc->data, rep->data, rep->datalen);
		cc->rep->data = cc->data->p;
	} else {
		cc->rep->datalen = 0;
	}
	cc->done = 1;
}

/* Submits and runs the loop until the answer is in. */
int
cfs_client_call(struct cfs_client *cl, const struct cfs_op *op, struct cfs_reply *rep,
		struct cfs_wbuf *data)
{
	struct client_call cc = {.done = 0, .rep = rep, .data = data};

	cfs_client_submit(cl, op, client_call_done, &cc);
	while (!cc.done)
		if (event_base_loop(cl->base, EVLOOP_ONCE) < 0)
			fatalx("event loop failed");
	return rep->status;
}

size_t
cfs_client_outstanding(const struct cfs_client *cl)
{
	return cl->nreqs;
}

uint64_t
cfs_client_id(const struct cfs_client *cl)
{
	return cl->client_id;
}

int
cfs_client_ready(const struct cfs_client *cl)
{
	return cl->head != NULL && cl->head->ready && cl->tail->ready;
}

uint64_t
cfs_client_lease_gen(const struct cfs_client *cl)
{
	return cl->lease_gen;
}

uint64_t
cfs_client_lease_until(const struct cfs_client *cl)
{
	return cl->lease_until;
}

void
cfs_client_recall_ack(struct cfs_client *cl, uint64_t id, uint64_t gen)
{
	struct client_node *t = cl->tail;
	struct cfs_wbuf f;
	size_t start;

	/* Only on the connection the recall came by: another tail numbers its own. */
	if (gen == 0 || t == NULL || !t->ready || t->gen != gen)
		return;
	cfs_wbuf_init(&f);
	start = cfs_frame_begin(&f, CFS_MSG_RECALL_ACK, id, cl->epoch);
	cfs_frame_end(&f, start);
	cfs_conn_send(t->c, f.p, f.len);
	cfs_wbuf_free(&f);
}

void
cfs_client_set_recall(struct cfs_client *cl, cfs_client_recall_fn fn, void *arg)
{
	cl->recall = fn;
	cl->recall_arg = arg;
}

void
cfs_client_set_locks(struct cfs_client *cl, cfs_client_lkgrant_fn grant,
		     cfs_client_event_fn tail_up, cfs_client_event_fn lost, void *arg)
{
	cl->lk_grant = grant;
	cl->lk_tail_up = tail_up;
	cl->lk_lost = lost;
	cl->lk_arg = arg;
}

void
cfs_client_keep_session(struct cfs_client *cl, int on)
{
	if (on && !cl->keep_session) {
		cl->last_ping_ms = 0;
		cl->keep_since_ms = cfs_now_ms();
	}
	cl->keep_session = on;
	if (!on)
		cl->session_until = 0;
}

uint64_t
cfs_client_session_until(const struct cfs_client *cl)
{
	return cl->session_until;
}

uint32_t
cfs_client_lock_lease(const struct cfs_client *cl)
{
	return cl->lock_lease_ms;
}
