/*
 * Admission of accepted connections that have not yet proved who they are
 * ("pending": TLS handshake and first message not done).  Anyone who can
 * reach a listener can open them, so what they may cost is bounded here:
 *
 *  - at most max_per_source pending connections from one source (an IPv4
 *    address, or an IPv6 /64, which one host usually owns whole);
 *  - at most max_total pending connections in all.
 *
 * A new connection is never refused for these limits: the oldest pending
 * connection of its source (or, when the total is reached, of the source
 * that has the most) is evicted instead.  Refusing newcomers would let a
 * slow attacker who holds every slot lock out the node's predecessor and
 * chainfsctl; evicting the oldest leaves a slot held only as long as the
 * connection rate of others allows, and an honest handshake takes
 * milliseconds.  Together with the absolute deadline of a pending
 * connection (cfs_conn_deadline) this bounds the descriptors and memory of
 * pending connections, whatever their peers do.
 *
 * The owner embeds a struct cfs_pending in its per-connection state and is
 * told through evict() to close one; the entry is already out of the
 * tables then.
 */
#ifndef CHAINFS_ADMIT_H
#define CHAINFS_ADMIT_H

#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#define CFS_ADMIT_BUCKETS 64

struct cfs_admit_src;

struct cfs_pending {
	TAILQ_ENTRY(cfs_pending) link; /* in its source's list, oldest first */
	struct cfs_admit_src *src;     /* NULL: not (or no longer) pending */
};

struct cfs_admit {
	unsigned max_total, max_per_source;
	unsigned total;	       /* pending connections now */
	uint64_t evicted;      /* since start, for metrics */
	LIST_HEAD(, cfs_admit_src) buckets[CFS_ADMIT_BUCKETS];
	void (*evict)(struct cfs_pending *, const char *why, void *arg);
	void *arg;
};

void cfs_admit_init(struct cfs_admit *, unsigned max_total, unsigned max_per_source,
		    void (*evict)(struct cfs_pending *, const char *why, void *arg), void *arg);
/*
 * Counts a new pending connection from sa, first evicting older ones if a
 * limit would be passed.  Returns the number evicted.
 */
unsigned cfs_admit_add(struct cfs_admit *, struct cfs_pending *, const struct sockaddr *sa);
/* The connection is no longer pending (it authenticated, or closed); idempotent. */
void cfs_admit_remove(struct cfs_admit *, struct cfs_pending *);
/* Pending connections from the source of sa. */
unsigned cfs_admit_count(const struct cfs_admit *, const struct sockaddr *sa);
/* Frees the tables; every entry must have been removed. */
void cfs_admit_free(struct cfs_admit *);

#endif
