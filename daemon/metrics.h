/*
 * A node's metrics, served in the Prometheus text exposition format (0.0.4)
 * at http://HOST:PORT/metrics when its node line has "metrics HOST:PORT".
 *
 * What the node counts as it works lives in struct metrics: plain integers,
 * since the node is one thread on one event loop.  What the chain, the store
 * and the connection table already know (entries applied, sent list, peers)
 * is read from the node when the endpoint is scraped, so nothing is counted
 * twice.  The endpoint is libevent's evhttp on the node's loop: a scrape
 * formats a few kilobytes and never blocks.  It has no TLS and no
 * authentication: keep it on loopback, or behind a firewall.
 */
#ifndef CHAINFS_METRICS_H
#define CHAINFS_METRICS_H

#include <stdint.h>

/* Op types are small numbers (common/wire.h); each has a slot. */
#define METRICS_OP_SLOTS 64
/* Latency histogram bounds, 10 us to 10 s; see metrics.c. */
#define METRICS_BUCKETS 19

struct node;
struct evhttp;
struct evconnlistener;
struct event;

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

	struct evhttp *http; /* NULL: no endpoint configured */
	struct evconnlistener *listener;
	struct event *listen_retry;
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
