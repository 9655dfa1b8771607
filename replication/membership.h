/*
 * Membership: what chainfs keeps in etcd and how the master changes the
 * chain configuration, without any I/O (daemon/coord.c does the talking).
 *
 * Keys, under /chainfs/CLUSTER/:
 *   config        the configuration (JSON, below); changed only by the
 *                 master, by compare-and-swap on its mod_revision, one
 *                 change at a time, each with epoch + 1
 *   nodes/NAME    a live node's registration (JSON), attached to its lease:
 *                 the key vanishes when the node stops renewing it
 *   master        the master's name, attached to its lease (the election)
 *   removed/NAME  a node taken out by "chainfsctl node remove": it leaves
 *                 the chain and does not join again until "node add"
 *
 * config: {"epoch":"8","chain":["n1","n2"],"syncing":"n3","tail_wait_ms":"1700",
 *          "cluster_id":"1234..."}  (the id is drawn once, by the first master;
 *          a node whose store holds another refuses to serve it)
 * nodes/NAME: {"name":"n1","sn":"120","applied_epoch":"7","epoch":"8",
 *              "synced":"n3","synced_epoch":"8"}
 * Numbers are written as strings, as etcd's own gateway writes 64-bit ones;
 * both forms are read.
 */
#ifndef CHAINFS_MEMBERSHIP_H
#define CHAINFS_MEMBERSHIP_H

#include <stddef.h>
#include <stdint.h>

#include "replication/chain.h"

/* A node's registration. */
struct member_reg {
	char name[CFS_NODE_NAME_MAX + 1];
	uint64_t sn;		/* applied_sn when it registered */
	uint64_t applied_epoch; /* the epoch of that entry */
	uint64_t epoch;		/* the configuration it knew */
	/* Tail only: the syncing node has every entry the tail has, in epoch synced_epoch. */
	char synced[CFS_NODE_NAME_MAX + 1];
	uint64_t synced_epoch;
	/*
	 * A tail that is not serving yet because it may lack entries its
	 * predecessor has (it joined or restarted as the tail): until it has
	 * them, that predecessor must not leave a chain of two.
	 */
	int catching_up;
};

/* Whether s is a node name: 1 to 64 of letters, digits, '.', '_' and '-'. */
int membership_name_ok(const char *s);

/* JSON (malloc'd, NUL-terminated) of a configuration and of a registration. */
char *membership_view_json(const struct chain_view *);
char *membership_reg_json(const struct member_reg *);
/*
 * Parse them; -1 with a reason in err for anything else than what the
 * functions above write (unknown or missing fields, bad names, too many
 * nodes, a node twice): a key written by something else is refused, never
 * guessed at.
 */
int membership_view_parse(const char *json, size_t len, struct chain_view *, char *err,
			  size_t errlen);
int membership_reg_parse(const char *json, size_t len, struct member_reg *, char *err,
			 size_t errlen);

/* What the master knows when it decides. */
struct membership_input {
	const struct chain_view *cur; /* NULL: no configuration in etcd yet */
	const struct member_reg *regs; /* the registered (live) nodes */
	size_t nregs;
	/* May be in the chain, in preference order: the file's nodes less the removed ones. */
	const char *const *allowed;
	size_t nallowed;
	/*
	 * Whether a member that is not registered may be removed now: the
	 * master saw its registration vanish, or has watched long enough
	 * (a lease's length) to know it is not coming back by itself.
	 */
	int (*may_remove)(void *arg, const char *name);
	void *arg;
	int initial_ready;     /* no configuration: every allowed node registered, or waited */
	uint64_t new_cluster_id; /* for the first configuration: a random nonzero id */
	uint32_t tail_wait_ms; /* what a tail appended while the old one lives must wait */
};

/*
 * The master's one step: 1 and the next configuration (epoch + 1, exactly
 * one change, why says which), or 0 when nothing is to change.  In order:
 *   - no configuration: the registered nodes with the most advanced history
 *     (applied_epoch, sn), in allowed order, at an epoch above every one
 *     they hold;
 *   - a member removed by command leaves (never the last one; when it was
 *     the tail, the new tail waits tail_wait_ms, as the old one still runs);
 *   - a member that is not registered is removed (never the last one: a
 *     chain of one waits for its node to come back, as only it holds every
 *     acknowledged write); the new tail need not wait, since a node whose
 *     lease ran out has fenced itself already;
 *   - a syncing node that is not registered is dropped;
 *   - a syncing node the tail reports synced in this epoch becomes the tail
 *     (which waits tail_wait_ms: the old tail may still answer until it
 *     learns the change or fences itself);
 *   - a registered allowed node out of the chain starts syncing.
 */
int membership_next(const struct membership_input *, struct chain_view *next, char *why,
		    size_t whylen);

#endif
