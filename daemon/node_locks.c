/*
 * The nodes' part in locks (the table itself is the store's, store_locks.c):
 *
 *   - the tail tells a client when a lock request of its that waited in
 *     the queue is decided (LKGRANT), as it applies the entry that
 *     decided it; a client that was not connected asks again (LKSTATE);
 *   - the head keeps each session's lock lease (DESIGN.md, "Client
 *     sessions"): when it last heard from the client, by a request or a
 *     PING.  A session that holds or waits for a lock, or holds an inode
 *     open (store_opens.c), and was not heard from for lock-lease is ended
 *     by an LKEXPIRE entry of the head's, which releases everything it
 *     held on every replica.  The clock is
 *     in memory only: a node that becomes the head (a new epoch, a
 *     restart) starts every session's clock afresh, so no session ends
 *     earlier than its lease, whichever node measures it.
 *
 * A client counts its lease from when it sent what the head answered,
 * which is before the head heard it: its copy runs out first.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "daemon/node.h"
#include "daemon/node_int.h"
#include "store/store.h"

#define NODE_HEARD_BUCKETS 1024

struct node_heard {
	uint64_t client;
	uint64_t ms;
	struct node_heard *next;
};

struct node_locks {
	struct node_heard *b[NODE_HEARD_BUCKETS];
	size_t n;
	uint64_t epoch;	   /* the epoch in which this node became the head (0: not the head) */
	uint64_t since_ms; /* when: every session counts as heard then */
	uint64_t expired;  /* sessions ended by their lease running out */
};

static struct node_heard **
node_heard_bucket(struct node_locks *lk, uint64_t client)
{
	return &lk->b[(client * 0x9E3779B97F4A7C15ull) >> 54];
}

static void
node_heard_clear(struct node_locks *lk)
{
	for (size_t i = 0; i < NODE_HEARD_BUCKETS; i++)
		while (lk->b[i] != NULL) {
			struct node_heard *h = lk->b[i];

			lk->b[i] = h->next;
			free(h);
		}
	lk->n = 0;
}

void
node_locks_start(struct node *n)
{
	n->lk = xcalloc(1, sizeof(*n->lk));
}

void
node_locks_stop(struct node *n)
{
	if (n->lk == NULL)
		return;
	node_heard_clear(n->lk);
	free(n->lk);
	n->lk = NULL;
}

/*
 * Whether this node is the head now; a new head's clocks start afresh.
 * (n->serving, not node_may_answer: that may fence the node and free the
 * peer its caller is handling.)
 */
static int
node_locks_head(struct node *n, uint64_t now)
{
	struct node_locks *lk = n->lk;

	if (!(n->chain.role & CFS_ROLE_HEAD) || !n->serving) {
		if (lk->epoch != 0)
			node_heard_clear(lk);
		lk->epoch = 0;
		return 0;
	}
	if (lk->epoch != n->chain.epoch) {
		node_heard_clear(lk);
		lk->epoch = n->chain.epoch;
		lk->since_ms = now;
	}
	return 1;
}

/* The clock of client; NULL when it has none. */
static struct node_heard *
node_heard_find(struct node_locks *lk, uint64_t client)
{
	struct node_heard *h;

	for (h = *node_heard_bucket(lk, client); h != NULL; h = h->next)
		if (h->client == client)
			return h;
	return NULL;
}

void
node_locks_heard(struct node *n, uint64_t client)
{
	struct node_locks *lk = n->lk;
	uint64_t now = cfs_now_ms();
	struct node_heard **pp, *h;

	if (!node_locks_head(n, now) || client == 0)
		return;
	if ((h = node_heard_find(lk, client)) != NULL) {
		h->ms = now;
		return;
	}
	pp = node_heard_bucket(lk, client);
	h = xcalloc(1, sizeof(*h));
	h->client = client;
	h->ms = now;
	h->next = *pp;
	*pp = h;
	lk->n++;
}

void
node_locks_ping(struct node *n, struct node_peer *p, const struct cfs_header *h)
{
	int32_t status = 0;
	size_t start;

	if (!(n->chain.role & CFS_ROLE_HEAD))
		status = CFS_ERR_NOT_HEAD;
	else if (h->epoch != n->chain.epoch)
		status = CFS_ERR_EPOCH;
	else
		node_locks_heard(n, p->client_id);
	cfs_wbuf_reset(&n->out);
	start = cfs_frame_begin(&n->out, CFS_MSG_PONG, h->reqid, n->chain.epoch);
	cfs_status_only_encode(&n->out, status);
	cfs_frame_end(&n->out, start);
	cfs_conn_send(p->c, n->out.p, n->out.len);
	node_peer_queued(n, p);
}

void
node_locks_applied(struct node *n)
{
	const struct store_grant *g;
	struct cfs_wbuf f;
	size_t ng, start;

	g = store_grants(n->st, &ng);
	if (ng == 0)
		return;
	cfs_wbuf_init(&f);
	for (size_t i = 0; i < ng; i++) {
		struct cfs_lkgrant lg = {g[i].ino, g[i].seq, g[i].status};

		cfs_wbuf_reset(&f);
		start = cfs_frame_begin(&f, CFS_MSG_LKGRANT, 0, n->chain.epoch);
		cfs_lkgrant_encode(&f, &lg);
		cfs_frame_end(&f, start);
		node_queue_frame(n, g[i].session, f.p, f.len);
	}
	cfs_wbuf_free(&f);
}

struct node_expire_ctx {
	struct node *n;
	uint64_t now, lease_ms;
	uint64_t due[64]; /* sessions to end in this turn */
	size_t ndue;
};

static void
node_locks_check(void *arg, uint64_t session)
{
	struct node_expire_ctx *x = arg;
	struct node_locks *lk = x->n->lk;
	struct node_heard *h = node_heard_find(lk, session);
	uint64_t heard = h != NULL && h->ms > lk->since_ms ? h->ms : lk->since_ms;

	if (heard + x->lease_ms <= x->now && x->ndue < sizeof(x->due) / sizeof(x->due[0]))
		x->due[x->ndue++] = session;
}

/* Forgets clocks that ran out: a session not found counts as heard at since_ms, earlier. */
static void
node_heard_prune(struct node_locks *lk, uint64_t now, uint64_t lease_ms)
{
	for (size_t i = 0; i < NODE_HEARD_BUCKETS; i++) {
		struct node_heard **pp = &lk->b[i], *h;

		while ((h = *pp) != NULL) {
			if (h->ms + lease_ms < now) {
				*pp = h->next;
				free(h);
				lk->n--;
			} else {
				pp = &h->next;
			}
		}
	}
}

int
node_locks_each_second(struct node *n)
{
	struct node_expire_ctx x = {.n = n};
	struct cfs_op op;
	int made = 0;

	x.now = cfs_now_ms();
	x.lease_ms = (uint64_t)n->conf->lock_lease_s * 1000;
	if (!node_locks_head(n, x.now) || x.now < n->lk->since_ms + x.lease_ms)
		return 0;
	if (store_lock_sessions(n->st, node_locks_check, &x) != 0) {
		log_warnx("cannot read the lock sessions now; trying again in a second");
		return 0;
	}
	node_heard_prune(n->lk, x.now, x.lease_ms);
	for (size_t i = 0; i < x.ndue; i++) {
		memset(&op, 0, sizeof(op));
		op.type = CFS_OP_LKEXPIRE;
		op.ino2 = x.due[i];
		log_info("client %016llx: not heard from for %u s: releasing its locks",
			 (unsigned long long)x.due[i], n->conf->lock_lease_s);
		node_batch_begin(n);
		if (chain_update(&n->chain, 0, 0, 0, &op) != 0) {
			log_warnx("cannot release the locks of client %016llx now; trying again",
				  (unsigned long long)x.due[i]);
			break;
		}
		n->lk->expired++;
		made = 1;
	}
	return made;
}

uint64_t
node_locks_expired(const struct node *n)
{
	return n->lk != NULL ? n->lk->expired : 0;
}
