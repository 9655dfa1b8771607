/*
 * Leases at the tail (DESIGN.md, "Coherent client caching"): which client
 * may cache what of which inode, until when, and the recall groups that
 * hold an update's reply until no other client can still serve the old
 * state from its cache.
 *
 * One lease covers an inode: its attributes, its data, and for a directory
 * its entries (negative ones too).  Times are milliseconds of a monotonic
 * clock, passed in (sans-I/O: unit tests drive it by hand).  A client
 * measures its lease from when it sent the request, which is before the
 * tail granted it, so its copy always runs out first.
 *
 * Recall groups.  When the tail applies an update, the node begins a group,
 * adds every inode the update changed, and ends it:
 *
 *   - adding an inode takes every lease on it out of the table, except the
 *     writer's own (its kernel already knows what its own update did), and
 *     names each holder to the caller, who sends it a RECALL;
 *   - the inode is fenced while the group lasts: no lease on it is granted
 *     and the tail answers no read that touches it (the node parks such
 *     reads), so no one sees the new state before the old is gone from
 *     every cache;
 *   - the group is released when every holder acknowledged or its lease ran
 *     out (the holder's own deadline, never later), and every earlier group
 *     that shares an inode with it was released (replies on one inode leave
 *     in the order the chain applied them).  A group with no holders and no
 *     earlier group on its inodes is released at once by lease_group_end.
 *
 * Everything is bounded: records in all and per client (a refused grant
 * is a lease of 0 ms, which only costs the client its cache), and groups
 * (the caller bounds them by the updates in flight).
 */
#ifndef CHAINFS_LEASE_H
#define CHAINFS_LEASE_H

#include <stddef.h>
#include <stdint.h>

struct lease_table;

struct lease_limits {
	uint32_t max_records;	 /* (client, inode) leases in all; 0: 1 << 20 */
	uint32_t max_per_client; /* of them, one client's; 0: max_records / 4 */
};

struct lease_stats {
	uint64_t records;	  /* leases held now */
	uint64_t groups;	  /* recall groups not released */
	uint64_t granted;	  /* grants (new or extended) */
	uint64_t refused;	  /* grants refused: fenced inode, or a table limit */
	uint64_t recalled;	  /* (client, group) recalls begun */
	uint64_t acked;		  /* of them, acknowledged */
	uint64_t ran_out;	  /* of them, ended by the holder's lease running out */
	uint64_t released;	  /* groups released */
};

struct lease_table *lease_new(const struct lease_limits *);
void lease_free(struct lease_table *);

/*
 * Grants client a lease on ino for ms from now; a second grant extends it.
 * Returns ms, or 0 when refused: ino is fenced (by a group or
 * lease_fence_all), or a limit is reached.
 */
uint32_t lease_grant(struct lease_table *, uint64_t client, uint64_t ino, uint64_t now,
		     uint32_t ms);

/* Whether reads touching ino must wait: a group fences it, or everything is fenced. */
int lease_fenced(const struct lease_table *, uint64_t ino, uint64_t now);

/*
 * Fences everything until `until`: no grants, every read waits, and every
 * group begun before then lasts at least until then.  A new tail calls it
 * with the longest lease the old tail could have granted.
 */
void lease_fence_all(struct lease_table *, uint64_t until);

/* Begins the recall group of an update by writer (0: a node's own entry). */
uint64_t lease_group_begin(struct lease_table *, uint64_t writer, uint64_t now);
/*
 * Adds a changed inode to group g: fences it, takes every lease on it but
 * the writer's out of the table and calls holder(arg, client) once per
 * holder (a client holding it twice in one group is named once per inode).
 */
void lease_group_add(struct lease_table *, uint64_t g, uint64_t ino,
		     void (*holder)(void *arg, uint64_t client), void *arg);
/*
 * Ends building group g.  Returns 0 when it is released already (the reply
 * may go now; g is gone), 1 when it waits (lease_next_released says when).
 */
int lease_group_end(struct lease_table *, uint64_t g, uint64_t now);
/* client acknowledged its recall of group g; unknown pairs are ignored. */
void lease_ack(struct lease_table *, uint64_t g, uint64_t client, uint64_t now);
/* Whether client still owes group g an acknowledgement (to resend its recall). */
int lease_pending(const struct lease_table *, uint64_t g, uint64_t client);
/*
 * The next group that is released, in release order, or 0 when none is
 * yet.  The caller calls it until 0 after every lease_ack and timer.
 */
uint64_t lease_next_released(struct lease_table *, uint64_t now);
/* When the next wait runs out by time (a group's deadline, the fence); 0: none. */
uint64_t lease_next_deadline(const struct lease_table *);
/*
 * Calls fn for every group not released in which client owes an
 * acknowledgement, oldest first (a client that reconnected gets them again).
 */
void lease_each_pending(const struct lease_table *, uint64_t client,
			void (*fn)(void *arg, uint64_t g), void *arg);
/* Frees the records that ran out by now (call it now and then). */
void lease_expire(struct lease_table *, uint64_t now);
/* Drops every lease and group (a new epoch: the node disconnects everyone). */
void lease_reset(struct lease_table *);
void lease_get_stats(const struct lease_table *, struct lease_stats *);

#endif
