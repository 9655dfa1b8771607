/*
 * The sequential specification one key is checked against, and the store of
 * its states.  A file key's state is its binding (absent, or the inode the
 * name points to) and the contents of the inodes that operations still to be
 * linearized may read or change in place; a directory key's state is absent
 * or present.  States are interned: equal states have equal ids, so the
 * search compares and hashes them as numbers.
 *
 * Contents of an inode that no pending determinate operation reads, writes or
 * appends to are dropped ("pending" as counted by linmodel_ref()): nothing can
 * observe them any more.  That keeps states small and lets the search's cache
 * see that two orders converged; indeterminate ops are not counted, since
 * they may stay pending forever and would keep dead inodes alive.
 * Allocation policy: die on failure (xmalloc, common/log.h).
 */
#ifndef LINMODEL_H
#define LINMODEL_H

#include <stddef.h>
#include <stdint.h>

#include "tests/lin/linhist.h"

#define LINMODEL_ABSENT 0  /* binding: no such name */
#define LINMODEL_PRESENT 1 /* binding of a directory key that exists */
/* Binding to an inode made by a create whose result is unknown: its number is
   learnt from the first operation that observes it. */
#define LINMODEL_WILD (UINT64_C(1) << 63)

struct linmodel_ent {
	uint64_t ino;
	uint32_t off, len; /* bytes at linmodel_bytes() */
};

struct linmodel_state {
	uint64_t hash;
	uint64_t binding;
	uint32_t nent; /* entries sorted by ino */
	uint32_t ndata;
	struct linmodel_ent ent[];
};

struct linmodel {
	struct linmodel_state **states; /* by id; 0 is the initial state */
	uint32_t nstates, capstates;
	uint32_t *tab; /* intern table: state id + 1 */
	size_t tabcap;
	uint64_t *ref_ino; /* inode -> pending operations on its contents */
	uint32_t *ref_cnt;
	size_t refcap, nref;
	uint8_t *scratch;
	size_t scratchcap;
	uint64_t steps; /* linmodel_step() calls */
	size_t bytes;   /* memory the states take, roughly */
};

/* Sets up an empty store whose state 0 is "absent, nothing known". */
void linmodel_init(struct linmodel *md);
void linmodel_free(struct linmodel *md);
/* Counts a determinate op as pending (delta +1) or not (-1) on the inode it uses. */
void linmodel_ref(struct linmodel *md, const struct linhist_op *op, int delta);
/*
 * Applies op, with result status st, to state from: 1 and the resulting state in *to,
 * or 0 when the result contradicts the state.  op itself counts as no longer pending.
 */
int linmodel_step(struct linmodel *md, uint32_t from, const struct linhist_op *op,
                  enum linhist_status st, uint32_t *to);
const struct linmodel_state *linmodel_state(const struct linmodel *md, uint32_t id);
/* The entry of an inode in a state, or NULL when its contents are not tracked. */
const struct linmodel_ent *linmodel_find(const struct linmodel_state *s, uint64_t ino);
const uint8_t *linmodel_bytes(const struct linmodel_state *s, const struct linmodel_ent *e);

#endif
