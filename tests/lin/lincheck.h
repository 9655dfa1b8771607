/*
 * lincheck: is a linwork history linearizable?
 *
 * Each key is checked on its own (P-compositionality) against linmodel's
 * specification with Wing & Gong's search and Lowe's memoisation, as in
 * Porcupine: a list of call and return entries, linearized calls lifted out of
 * it, a cache of (linearized set, model state) with a hash and a full compare.
 * An operation whose result is unknown may take effect after its invocation or
 * never.  When a key's search fails, the operation that could not be placed
 * at the deepest point reached is reported with a witness and a class; it is
 * then relaxed (a read dropped, a mutation made indeterminate) and the key is
 * searched again, so a key can report several violations.
 * Allocation policy: die on failure (xmalloc, common/log.h).
 */
#ifndef LINCHECK_H
#define LINCHECK_H

#include <stdint.h>
#include <stdio.h>

#include "tests/lin/linhist.h"

struct lincheck_opts {
	uint64_t budget;      /* model steps per search before the key is "unknown" */
	size_t max_memory;    /* bytes a search may hold (states, cache) before "unknown" */
	unsigned max_per_key; /* violations reported per key before moving on */
};

enum lincheck_verdict {
	LINCHECK_LINEARIZABLE,
	LINCHECK_VIOLATION,
	LINCHECK_UNKNOWN, /* search budget (steps or memory) exceeded: counts as a failure */
};

/* What kind of anomaly a violation looks like; see lincheck_classify(). */
enum lincheck_class {
	LINCHECK_NOBODY_WROTE, /* a read returned bytes, or an inode, nobody wrote or made */
	LINCHECK_STALE_READ,   /* it saw a state that a completed write had replaced */
	LINCHECK_LOST_WRITE,   /* an acknowledged write never seen again, older state seen */
	LINCHECK_NO_ORDER,     /* concurrent results that no order explains */
	LINCHECK_CLASS_max
};

/*
 * One incident: the op that could not be linearized at the deepest point, and
 * the ops that, dropped in turn, still could not be placed in the same stretch
 * of time (one anomaly can make several innocent ops the deepest point's
 * culprit: which op is "wrong" is a matter of choice).
 */
struct lincheck_violation {
	uint32_t key;
	enum lincheck_class cls;
	const char *rule;    /* the heuristic that chose cls (static text) */
	size_t op;           /* history index of the op that could not be linearized */
	size_t depth, total; /* determinate ops linearized at the deepest point, and in all */
	char *witness;       /* several lines of text */
	uint64_t w0, w1;     /* the incident's stretch of time */
	size_t *also;        /* history indices of further ops of the same incident */
	size_t nalso;
	size_t bulk; /* read-only ops overlapping the incident dropped at once to move on */
};

struct lincheck_keyres {
	size_t ops, ok, expected, indet, dropped;
	size_t noeffect; /* writes, appends, truncs that found their file gone (ESTALE) */
	size_t reads, nobody_wrote; /* successful reads; of them, with bytes nobody wrote */
	size_t violations;          /* incidents */
	enum lincheck_verdict verdict;
	int unknown; /* a search ran out of budget */
	int stopped; /* max_per_key reached: more violations may exist */
	uint64_t steps;
	size_t states, cache, rounds;
	double seconds;
};

/* Read-only operations that failed with an errno outside the model, by errno. */
struct lincheck_errcount {
	char name[24];
	size_t count;
};

struct lincheck_report {
	size_t nkeys;
	struct lincheck_keyres *keys; /* by key index */
	struct lincheck_keyres total;
	struct lincheck_violation *viol;
	size_t nviol;
	struct lincheck_errcount *dropped;
	size_t ndropped;
	enum lincheck_verdict verdict;
	double seconds;
};

/* Defaults: 20 million steps and 2 GiB per search, 10 violations per key. */
void lincheck_opts_default(struct lincheck_opts *o);
/* Checks every key of a history. */
struct lincheck_report *lincheck_run(const struct linhist *h, const struct lincheck_opts *o);
/* Prints the summary, the per-key table and every witness; verbose adds search statistics. */
void lincheck_print(FILE *f, const struct linhist *h, const struct lincheck_report *r, int verbose);
void lincheck_report_free(struct lincheck_report *r);
const char *lincheck_class_name(enum lincheck_class c);
const char *lincheck_verdict_name(enum lincheck_verdict v);

#endif
