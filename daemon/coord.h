/*
 * A node's side of reconfiguration through etcd (DESIGN.md,
 * "Reconfiguration"): registration with a lease, self-fencing, following the
 * configuration, the master election and the master's changes.  The
 * decisions are membership.c's; this file does the talking to etcd.
 *
 * Timing, with T the lease TTL (lease-ttl):
 *   - every T/4 the node renews its lease and reads the configuration
 *     (both linearizable); when both succeed, the node is fresh until T/2
 *     after it sent them, by its own monotonic clock;
 *   - a node that is not fresh answers no client (self-fencing): it cannot
 *     know whether it was removed from the chain;
 *   - the master removes a node only after its lease ran out in etcd, at
 *     least T after the node last renewed it, so the node has fenced itself
 *     T/2 before: its successor in the new configuration serves at once;
 *   - when a synced node is appended as the new tail while the old tail is
 *     alive, the new tail waits T/2 plus a margin (tail_wait_ms in the
 *     configuration), by which time the old tail has either learned the new
 *     epoch or fenced itself.
 */
#ifndef CHAINFS_COORD_H
#define CHAINFS_COORD_H

#include "common/wire.h"

struct node;
struct coord;

/* Starts registration; -1 on a configuration error (logged).  Sets n->coord. */
int coord_start(struct node *);
/*
 * Whether the node may answer a client at this moment: registered, fresh by
 * the monotonic clock now (not only at the last tick: a node that was
 * paused must not answer from before its pause), and not a new tail still
 * waiting.
 */
int coord_fresh(const struct coord *);
/*
 * Until when (cfs_now_ms) this node may answer at most, as its etcd lease
 * stands: it fences itself then unless renewed.  A tail's client leases end
 * by then too, so that a tail that dies leaves none behind it once its
 * registration is gone.  0: not now.
 */
uint64_t coord_fresh_until(const struct coord *);
/* The etcd lease TTL, in ms. */
unsigned coord_ttl_ms(const struct coord *);
/*
 * Checks coord_fresh now and tells the node when serving changes: the one
 * place that fences the node (logged, counted) or lets it serve again.
 */
void coord_update_serving(struct coord *);
/* Revokes the lease (best effort) and frees everything. */
void coord_stop(struct coord *);
/* Something says the configuration moved on: read it now rather than at the next tick. */
void coord_poke(struct coord *);
/* The tail's syncing successor acknowledged more: report it synced once it has everything. */
void coord_sync_progress(struct coord *);
/* The address of a node added by command though not in the file, or NULL. */
const struct cfs_node_addr *coord_added_addr(const struct coord *, const char *name);
/*
 * Our predecessor connected in this epoch, having applied applied_sn; as an
 * old tail it says how long the leases it granted may still run.
 */
void coord_pred_connected(struct coord *, const char *name, uint64_t applied_sn,
			  uint32_t lease_left_ms);
/* Entries were applied: a tail catching up may serve now. */
void coord_applied(struct coord *);
/* Adds master, flags and health to a status reply. */
void coord_fill_status(struct coord *, struct cfs_status *);

/* Counters for the metrics endpoint. */
struct coord_stats {
	uint64_t fenced;	  /* times this node fenced itself */
	uint64_t config_changes;  /* configurations this node wrote as master */
	uint64_t etcd_errors;	  /* etcd requests that failed */
	uint64_t last_failover_ms; /* master: from a node's registration vanishing to its removal */
};
const struct coord_stats *coord_stats(const struct coord *);

#endif
