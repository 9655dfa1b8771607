/*
 * A node's metrics, served in the Prometheus text exposition format (0.0.4)
 * at http://HOST:PORT/metrics when its node line has "metrics HOST:PORT".
 *
 * What the node counts as it works lives in struct metrics: plain integers,
 * since the node is one thread on one event loop.  What the chain, the store
 * and the connection table already know (entries applied, sent list, peers)
 * is read from the node when the endpoint is scraped, so nothing is counted
 * twice.  It has no TLS and no authentication: keep it on loopback, or
 * behind a firewall.
 *
 * The endpoint is a minimal HTTP/1.x responder of our own on the node's
 * loop, not libevent's evhttp: in libevent 2.1 evhttp cannot cap its
 * connections (evhttp_set_max_connections is 2.2), its timeout is an idle
 * timeout that every byte resets, and the accept callback of its listener
 * is internal, so a peer trickling bytes into thousands of connections
 * would take the descriptors the node needs.  Here a scrape is one request
 * per connection, its head at most 8 KB, its whole life at most 5 seconds
 * from the accept, and at most METRICS_MAX_SCRAPES are open at once
 * (METRICS_MAX_SCRAPES_PER_SOURCE from one address): a new connection
 * closes the oldest rather than wait (common/admit.h), and the node's
 * descriptor reserve is checked before anything else (node_accept_room).
 */
#ifndef CHAINFS_METRICS_H
#define CHAINFS_METRICS_H

#include <stdint.h>
#include <sys/queue.h>

#include "common/admit.h"

/* Op types are small numbers (common/wire.h); each has a slot. */
#define METRICS_OP_SLOTS 64
/* Latency histogram bounds, 10 us to 10 s; see metrics.c. */
#define METRICS_BUCKETS 19
/* Scrapes open at once, in all and from one address; see above. */
#define METRICS_MAX_SCRAPES 16
#define METRICS_MAX_SCRAPES_PER_SOURCE 4

struct node;
struct evconnlistener;
struct event;
struct metrics_scrape;
TAILQ_HEAD(metrics_scrape_list, metrics_scrape);

/* A latency histogram with the fixed bounds of metrics.c. */
struct metrics_hist {
	uint64_t bucket[METRICS_BUCKETS + 1]; /* not cumulative; the last is above 10 s */
	uint64_t count;
	uint64_t sum_ns;
};

/* Which side of a TLS connection this node was on when its handshake failed. */
enum metrics_tls_dir {
	METRICS_TLS_IN,  /* a connection this node accepted */
	METRICS_TLS_OUT, /* this node's link to its successor */
	METRICS_TLS_max
};

struct metrics {
	uint64_t requests[METRICS_OP_SLOTS];           /* REQUEST frames received, by op */
	struct metrics_hist request[METRICS_OP_SLOTS]; /* requests this node answered */
	struct metrics_hist apply;                     /* one entry applied here */
	uint64_t accepted;                             /* connections accepted */
	uint64_t tls_failures[METRICS_TLS_max];

	/* The endpoint; reap is NULL until metrics_start set it up. */
	struct evconnlistener *listener;    /* NULL: no endpoint listening */
	struct event *listen_retry;         /* re-enables listener after a pause */
	struct event *reap;                 /* frees closed scrapes, outside their callbacks */
	struct cfs_admit admit;             /* every open scrape, for its whole life */
	struct metrics_scrape_list scrapes; /* open */
	struct metrics_scrape_list dead;    /* closed, waiting for reap */
};

/* The slot of an op type in the per-op tables; 0 (no op) for one out of range. */
static inline unsigned
metrics_op_slot(uint16_t op)
{
	return op < METRICS_OP_SLOTS ? op : 0;
}

/* Monotonic nanoseconds, the time base of metrics_observe. */
uint64_t metrics_now(void);
/* Adds the time from start (metrics_now) to now to a histogram. */
void metrics_observe(struct metrics_hist *, uint64_t start);

/*
 * Opens the node's metrics endpoint if its node line asks for one; warns
 * when it is not on loopback.  Returns 0, or -1 (logged) when it cannot
 * listen.
 */
int metrics_start(struct node *);
/* Closes the endpoint and any scrape in progress. */
void metrics_stop(struct node *);

#endif
