/* The per-key linearizability search, violation witnesses and the report; see lincheck.h. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "tests/lin/lincheck.h"
#include "tests/lin/linhist.h"
#include "tests/lin/linmodel.h"

#define LINCHECK_TAIL 512               /* linearized ops kept with the deepest point */
#define LINCHECK_SHOW_CONCURRENT 8      /* concurrent ops printed in a witness */
#define LINCHECK_OBSERVERS 256          /* later ops a classification looks at */
#define LINCHECK_SHOW_BYTES 80          /* bytes of a value printed */
#define LINCHECK_SHOW_ALSO 5            /* further ops of an incident printed */
#define LINCHECK_ROUNDS_PER_VIOLATION 8 /* searches per reported incident, at most */
#define LINCHECK_ONE_BY_ONE 2           /* ops of an incident dropped singly before the rest */

/* An entry of the search list: an op's call, or its return. */
struct lincheck_node {
	struct lincheck_node *prev, *next;
	struct lincheck_node *match; /* call: its return (NULL: never returns); return: call */
	uint32_t op;                 /* local index */
	int is_call;
};

/* One level of the search: the call linearized there and the state before it. */
struct lincheck_frame {
	struct lincheck_node *call;
	uint32_t prev_state;
	int pass;
	unsigned tried; /* classes of interchangeable indeterminate ops tried at this level */
};

/*
 * A cache entry: the determinate ops linearized (all before `first`, plus the
 * listed exceptions after it, and the settled indeterminate ones decided), the
 * open-ended indeterminate ones linearized, the state.  An entry also covers
 * every larger set of open-ended indeterminate ops with the same rest: having
 * applied more optional ops leaves fewer ways to go on.
 */
struct lincheck_cent {
	uint64_t zh; /* Zobrist hash of the determinate set */
	uint32_t state;
	uint32_t first;
	uint32_t nexc, nind;
	size_t off; /* into the arena: nexc exceptions, then nind indeterminate ops */
};

/* A linearized op and the state before it, as kept with the deepest point. */
struct lincheck_tail {
	uint32_t op;
	uint32_t pre;
};

/* The deepest point the search reached, for the witness. */
struct lincheck_best {
	int set;
	size_t depth;     /* determinate ops linearized */
	uint32_t blocked; /* local op whose return ended the search there */
	uint32_t state;
	size_t ntail;
	struct lincheck_tail tail[LINCHECK_TAIL]; /* oldest first */
};

/* What a key's history says was written and created, for the "nobody wrote" rules. */
struct lincheck_vset {
	const struct linhist_op **tab; /* distinct values, open addressing */
	size_t cap, n;
	size_t *lens; /* distinct value lengths */
	size_t nlens;
	uint64_t *inos; /* inodes created under the key, open addressing */
	size_t icap, nino;
	int unknown_create; /* a create never returned: its inode is unknown */
};

/* The search over one key's ops. */
struct lincheck_search {
	const struct linhist *h;
	const struct lincheck_opts *o;
	size_t n;
	const struct linhist_op **ops; /* by local index: ordered by invocation */
	size_t *hop;                   /* local index -> history index */
	enum linhist_status *st;
	uint64_t *z;
	uint32_t *detbelow; /* determinate ops with a smaller local index */
	uint32_t *indet;    /* local indices of indeterminate ops, ascending */
	size_t nindet;
	uint64_t *lin; /* linearized, a bit per local index */
	struct lincheck_node head;
	struct lincheck_node *nodes;
	struct linmodel md;
	struct lincheck_frame *frames;
	size_t nframes;
	struct lincheck_cent *cache;
	size_t ncache, capcache;
	uint32_t *ctab; /* cache entry + 1 */
	size_t ctabcap;
	uint32_t *arena;
	size_t narena, caparena;
	uint32_t *enc; /* the candidate's encoding */
	uint64_t zh;
	uint32_t first;
	size_t lin_det, remaining_det;
	uint64_t steps;
	struct lincheck_best best;
	const size_t *relaxed; /* history ops relaxed after earlier violations on the key */
	size_t nrelaxed;
};

static const char *const lincheck_class_names[LINCHECK_CLASS_max] = {
    "value nobody wrote",
    "stale read",
    "lost acknowledged write",
    "no order fits",
};

/* Names a class. */
const char *
lincheck_class_name(enum lincheck_class c)
{
	return c < LINCHECK_CLASS_max ? lincheck_class_names[c] : "?";
}

/* Names a verdict. */
const char *
lincheck_verdict_name(enum lincheck_verdict v)
{
	switch (v) {
	case LINCHECK_LINEARIZABLE:
		return "linearizable";
	case LINCHECK_VIOLATION:
		return "NOT linearizable";
	case LINCHECK_UNKNOWN:
		return "unknown (search budget exceeded)";
	}
	return "?";
}

/* Fills in the default options. */
void
lincheck_opts_default(struct lincheck_opts *o)
{
	o->budget = 20000000;
	o->max_memory = (size_t)2 << 30;
	o->max_per_key = 10;
}

/* Seconds on the monotonic clock. */
static double
lincheck_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- what was written ---- */

/* Hash of a byte string. */
static uint64_t
lincheck_hash_bytes(const uint8_t *p, size_t n)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325) ^ n;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return linhist_mix(h);
}

/* Adds a written value (op's v=). */
static void
lincheck_vset_add(struct lincheck_vset *vs, const struct linhist_op *op)
{
	size_t i;

	if (2 * (vs->n + 1) > vs->cap) {
		size_t cap = vs->cap ? 2 * vs->cap : 256;
		const struct linhist_op **tab = xcalloc(cap, sizeof(*tab));

		for (size_t k = 0; k < vs->cap; k++) {
			if (vs->tab[k] == NULL)
				continue;
			i = lincheck_hash_bytes(vs->tab[k]->val, vs->tab[k]->vlen) & (cap - 1);
			while (tab[i] != NULL)
				i = (i + 1) & (cap - 1);
			tab[i] = vs->tab[k];
		}
		free(vs->tab);
		vs->tab = tab;
		vs->cap = cap;
	}
	for (i = lincheck_hash_bytes(op->val, op->vlen) & (vs->cap - 1); vs->tab[i] != NULL;
	     i = (i + 1) & (vs->cap - 1))
		if (vs->tab[i]->vlen == op->vlen && memcmp(vs->tab[i]->val, op->val, op->vlen) == 0)
			return;
	vs->tab[i] = op;
	vs->n++;
	for (size_t k = 0; k < vs->nlens; k++)
		if (vs->lens[k] == op->vlen)
			return;
	vs->lens = xrealloc(vs->lens, (vs->nlens + 1) * sizeof(*vs->lens));
	vs->lens[vs->nlens++] = op->vlen;
}

/* True when these bytes are a written value. */
static int
lincheck_vset_has(const struct lincheck_vset *vs, const uint8_t *p, size_t n)
{
	if (vs->cap == 0)
		return 0;
	for (size_t i = lincheck_hash_bytes(p, n) & (vs->cap - 1); vs->tab[i] != NULL;
	     i = (i + 1) & (vs->cap - 1))
		if (vs->tab[i]->vlen == n && memcmp(vs->tab[i]->val, p, n) == 0)
			return 1;
	return 0;
}

/*
 * The first byte of data that no written value covers (a value occurring at any
 * offset covers its bytes), or len when every byte is covered.
 */
static size_t
lincheck_unwritten(const struct lincheck_vset *vs, const uint8_t *d, size_t len)
{
	size_t reach = 0;

	for (size_t i = 0; i < len; i++) {
		for (size_t k = 0; k < vs->nlens; k++) {
			size_t l = vs->lens[k];

			if (l > 0 && i + l <= len && i + l > reach &&
			    lincheck_vset_has(vs, d + i, l))
				reach = i + l;
		}
		if (reach <= i)
			return i;
	}
	return len;
}

/* Notes an inode made under the key. */
static void
lincheck_vset_ino(struct lincheck_vset *vs, uint64_t ino)
{
	size_t i;

	if (2 * (vs->nino + 1) > vs->icap) {
		size_t cap = vs->icap ? 2 * vs->icap : 256;
		uint64_t *tab = xcalloc(cap, sizeof(*tab));

		for (size_t k = 0; k < vs->icap; k++) {
			if (!vs->inos[k])
				continue;
			i = linhist_mix(vs->inos[k]) & (cap - 1);
			while (tab[i])
				i = (i + 1) & (cap - 1);
			tab[i] = vs->inos[k];
		}
		free(vs->inos);
		vs->inos = tab;
		vs->icap = cap;
	}
	for (i = linhist_mix(ino) & (vs->icap - 1); vs->inos[i]; i = (i + 1) & (vs->icap - 1))
		if (vs->inos[i] == ino)
			return;
	vs->inos[i] = ino;
	vs->nino++;
}

/* True when some op made this inode under the key. */
static int
lincheck_vset_made(const struct lincheck_vset *vs, uint64_t ino)
{
	if (vs->icap == 0)
		return 0;
	for (size_t i = linhist_mix(ino) & (vs->icap - 1); vs->inos[i];
	     i = (i + 1) & (vs->icap - 1))
		if (vs->inos[i] == ino)
			return 1;
	return 0;
}

/* Collects what a key's ops wrote and created. */
static void
lincheck_vset_build(struct lincheck_vset *vs, const struct linhist *h, const size_t *hops, size_t n)
{
	memset(vs, 0, sizeof(*vs));
	for (size_t i = 0; i < n; i++) {
		const struct linhist_op *op = &h->ops[hops[i]];

		if (op->kind == LINHIST_WRITE || op->kind == LINHIST_APPEND ||
		    op->kind == LINHIST_PUT)
			lincheck_vset_add(vs, op);
		if (op->kind == LINHIST_PUT ||
		    ((op->kind == LINHIST_TRUNC || op->kind == LINHIST_CREAT_EXCL) &&
		     op->status == LINHIST_OK))
			lincheck_vset_ino(vs, op->ino);
		if ((op->kind == LINHIST_TRUNC || op->kind == LINHIST_CREAT_EXCL) &&
		    op->status == LINHIST_INDET)
			vs->unknown_create = 1;
	}
}

/* Frees the sets. */
static void
lincheck_vset_free(struct lincheck_vset *vs)
{
	free(vs->tab);
	free(vs->lens);
	free(vs->inos);
}

/* ---- the search ---- */

/* Sort record for a key's ops. */
struct lincheck_sortop {
	uint64_t t0, t1, n;
	uint32_t p;
	size_t hop;
	enum linhist_status st;
};

/* Orders ops by invocation (then return, process, sequence) for local indices. */
static int
lincheck_cmp_op(const void *a, const void *b)
{
	const struct lincheck_sortop *x = a, *y = b;

	if (x->t0 != y->t0)
		return x->t0 < y->t0 ? -1 : 1;
	if (x->t1 != y->t1)
		return x->t1 < y->t1 ? -1 : 1;
	if (x->p != y->p)
		return x->p < y->p ? -1 : 1;
	if (x->n != y->n)
		return x->n < y->n ? -1 : 1;
	return 0;
}

/* A call or return at a time, for building the list. */
struct lincheck_event {
	uint64_t t;
	uint32_t ret; /* 0 call, 1 return: calls first at equal times (more concurrency) */
	uint32_t op;
};

/* Orders events by time, calls before returns. */
static int
lincheck_cmp_event(const void *a, const void *b)
{
	const struct lincheck_event *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	if (x->ret != y->ret)
		return x->ret < y->ret ? -1 : 1;
	if (x->op != y->op)
		return x->op < y->op ? -1 : 1;
	return 0;
}

/* True when local op i is linearized. */
static int
lincheck_is_lin(const struct lincheck_search *ks, uint32_t i)
{
	return (ks->lin[i / 64] >> (i % 64)) & 1;
}

/* Sets up the search over the ops (history indices, statuses) not dropped. */
static void
lincheck_build(struct lincheck_search *ks, const struct linhist *h, const struct lincheck_opts *o,
               const size_t *hops, const enum linhist_status *st, size_t n)
{
	struct lincheck_sortop *so = xcalloc(n ? n : 1, sizeof(*so));
	struct lincheck_event *ev;
	size_t m = 0, nev = 0, ndet = 0;

	memset(ks, 0, sizeof(*ks));
	ks->h = h;
	ks->o = o;
	for (size_t i = 0; i < n; i++) {
		const struct linhist_op *op = &h->ops[hops[i]];

		if (st[i] == LINHIST_DROPPED || st[i] == LINHIST_NOEFFECT)
			continue;
		so[m].t0 = op->t0;
		so[m].t1 = st[i] == LINHIST_INDET && !op->settled ? LINHIST_NEVER : op->t1;
		so[m].n = op->n;
		so[m].p = op->p;
		so[m].hop = hops[i];
		so[m].st = st[i];
		m++;
	}
	qsort(so, m, sizeof(*so), lincheck_cmp_op);
	ks->n = m;
	ks->ops = xcalloc(m + 1, sizeof(*ks->ops));
	ks->hop = xcalloc(m + 1, sizeof(*ks->hop));
	ks->st = xcalloc(m + 1, sizeof(*ks->st));
	ks->z = xcalloc(m + 1, sizeof(*ks->z));
	ks->detbelow = xcalloc(m + 1, sizeof(*ks->detbelow));
	ks->indet = xcalloc(m + 1, sizeof(*ks->indet));
	ks->lin = xcalloc(m / 64 + 1, sizeof(*ks->lin));
	ks->enc = xcalloc(m + 1, sizeof(*ks->enc));
	ks->frames = xcalloc(m + 1, sizeof(*ks->frames));
	ks->nodes = xcalloc(2 * m + 1, sizeof(*ks->nodes));
	ev = xcalloc(2 * m + 1, sizeof(*ev));
	linmodel_init(&ks->md);
	ks->first = (uint32_t)m;
	for (size_t i = 0; i < m; i++) {
		ks->ops[i] = &h->ops[so[i].hop];
		ks->hop[i] = so[i].hop;
		ks->st[i] = so[i].st;
		ks->z[i] =
		    linhist_mix(i * UINT64_C(0x9e3779b97f4a7c15) + UINT64_C(0x632be59bd9b4e019));
		ks->detbelow[i] = (uint32_t)ndet;
		if (ks->st[i] == LINHIST_INDET) {
			ks->indet[ks->nindet++] = (uint32_t)i;
			if (so[i].t1 != LINHIST_NEVER) {
				/* Settled: a return entry where, at the latest, it is decided. */
				ev[nev].t = so[i].t1;
				ev[nev].ret = 1;
				ev[nev].op = (uint32_t)i;
				nev++;
			}
		} else {
			if (ndet == 0)
				ks->first = (uint32_t)i;
			ndet++;
			ev[nev].t = so[i].t1;
			ev[nev].ret = 1;
			ev[nev].op = (uint32_t)i;
			nev++;
		}
		ev[nev].t = so[i].t0;
		ev[nev].ret = 0;
		ev[nev].op = (uint32_t)i;
		nev++;
		if (ks->st[i] != LINHIST_INDET)
			linmodel_ref(&ks->md, ks->ops[i], +1);
	}
	ks->detbelow[m] = (uint32_t)ndet;
	ks->remaining_det = ndet;
	qsort(ev, nev, sizeof(*ev), lincheck_cmp_event);

	/* Nodes: calls at [op], returns at [m + op]. */
	struct lincheck_node *prev = &ks->head;
	for (size_t k = 0; k < nev; k++) {
		struct lincheck_node *nd = &ks->nodes[ev[k].ret ? m + ev[k].op : ev[k].op];

		nd->op = ev[k].op;
		nd->is_call = !ev[k].ret;
		nd->prev = prev;
		prev->next = nd;
		prev = nd;
	}
	prev->next = NULL;
	for (size_t i = 0; i < m; i++)
		if (ks->st[i] != LINHIST_INDET || ks->ops[i]->settled) {
			ks->nodes[i].match = &ks->nodes[m + i];
			ks->nodes[m + i].match = &ks->nodes[i];
		}
	free(ev);
	free(so);
}

/* Frees a search. */
static void
lincheck_search_free(struct lincheck_search *ks)
{
	free(ks->ops);
	free(ks->hop);
	free(ks->st);
	free(ks->z);
	free(ks->detbelow);
	free(ks->indet);
	free(ks->lin);
	free(ks->enc);
	free(ks->frames);
	free(ks->nodes);
	free(ks->cache);
	free(ks->ctab);
	free(ks->arena);
	linmodel_free(&ks->md);
}

/* Takes a call (and its return) out of the list. */
static void
lincheck_lift(struct lincheck_node *c)
{
	c->prev->next = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->match) {
		struct lincheck_node *r = c->match;

		r->prev->next = r->next;
		if (r->next)
			r->next->prev = r->prev;
	}
}

/* Puts a lifted call back, in the reverse order of lincheck_lift(). */
static void
lincheck_unlift(struct lincheck_node *c)
{
	if (c->match) {
		struct lincheck_node *r = c->match;

		r->prev->next = r;
		if (r->next)
			r->next->prev = r;
	}
	c->prev->next = c;
	if (c->next)
		c->next->prev = c;
}

/* Writes the linearized set's encoding to ks->enc (see struct lincheck_cent). */
static void
lincheck_encode(struct lincheck_search *ks, uint32_t *nexc, uint32_t *nind)
{
	size_t want = ks->lin_det - ks->detbelow[ks->first], got = 0;
	size_t w = (size_t)ks->first / 64;

	/* Determinate ops linearized after first: all lie in the window after it. */
	while (got < want && w <= ks->n / 64) {
		uint64_t bits = ks->lin[w];

		if (w == ks->first / 64)
			bits &= ~UINT64_C(0) << (ks->first % 64);
		while (bits && got < want) {
			uint32_t i = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(bits));

			bits &= bits - 1;
			if (ks->st[i] != LINHIST_INDET)
				ks->enc[got++] = i;
		}
		w++;
	}
	/*
	 * Settled indeterminate ops (they have a return, where they are decided:
	 * done or never) are matched exactly, like the determinate exceptions: an
	 * entry without one does not cover a set with it, since at its return the
	 * "never" branch leads from the former to the latter.
	 */
	for (size_t k = 0; k < ks->nindet; k++)
		if (ks->ops[ks->indet[k]]->settled && lincheck_is_lin(ks, ks->indet[k]))
			ks->enc[got++] = ks->indet[k];
	*nexc = (uint32_t)got;
	for (size_t k = 0; k < ks->nindet; k++)
		if (!ks->ops[ks->indet[k]]->settled && lincheck_is_lin(ks, ks->indet[k]))
			ks->enc[got++] = ks->indet[k];
	*nind = (uint32_t)(got - *nexc);
}

/* True when sorted array a is a subset of sorted array b. */
static int
lincheck_subset(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
	size_t j = 0;

	for (size_t i = 0; i < na; i++) {
		while (j < nb && b[j] < a[i])
			j++;
		if (j == nb || b[j] != a[i])
			return 0;
		j++;
	}
	return 1;
}

/* Slot hash of a cache entry. */
static uint64_t
lincheck_cache_hash(uint64_t zh, uint32_t state)
{
	return linhist_mix(zh ^ ((uint64_t)state * UINT64_C(0xd6e8feb86659fd93)));
}

/*
 * True when the current linearized set with this state was met before (or a
 * covering entry was); otherwise remembers it and returns 0.
 */
static int
lincheck_cache(struct lincheck_search *ks, uint32_t state, uint32_t nexc, uint32_t nind)
{
	struct lincheck_cent *e;
	size_t mask, i;

	if (2 * (ks->ncache + 1) > ks->ctabcap) {
		size_t cap = ks->ctabcap ? 2 * ks->ctabcap : 4096;

		free(ks->ctab);
		ks->ctab = xcalloc(cap, sizeof(*ks->ctab));
		ks->ctabcap = cap;
		for (size_t k = 0; k < ks->ncache; k++) {
			i = lincheck_cache_hash(ks->cache[k].zh, ks->cache[k].state) & (cap - 1);
			while (ks->ctab[i])
				i = (i + 1) & (cap - 1);
			ks->ctab[i] = (uint32_t)k + 1;
		}
	}
	mask = ks->ctabcap - 1;
	for (i = lincheck_cache_hash(ks->zh, state) & mask; ks->ctab[i]; i = (i + 1) & mask) {
		e = &ks->cache[ks->ctab[i] - 1];
		if (e->zh != ks->zh || e->state != state || e->first != ks->first ||
		    e->nexc != nexc)
			continue;
		if (nexc > 0 && memcmp(ks->arena + e->off, ks->enc, nexc * sizeof(*ks->enc)) != 0)
			continue;
		if (lincheck_subset(ks->arena + e->off + nexc, e->nind, ks->enc + nexc, nind))
			return 1;
	}
	if (ks->ncache == ks->capcache) {
		ks->capcache = ks->capcache ? 2 * ks->capcache : 4096;
		ks->cache = xrealloc(ks->cache, ks->capcache * sizeof(*ks->cache));
	}
	if (ks->caparena - ks->narena < (size_t)nexc + nind) {
		while (ks->caparena - ks->narena < (size_t)nexc + nind)
			ks->caparena = ks->caparena ? 2 * ks->caparena : 65536;
		ks->arena = xrealloc(ks->arena, ks->caparena * sizeof(*ks->arena));
	}
	e = &ks->cache[ks->ncache];
	e->zh = ks->zh;
	e->state = state;
	e->first = ks->first;
	e->nexc = nexc;
	e->nind = nind;
	e->off = ks->narena;
	if (nexc + nind > 0) {
		memcpy(ks->arena + ks->narena, ks->enc, ((size_t)nexc + nind) * sizeof(*ks->enc));
		ks->narena += (size_t)nexc + nind;
	}
	ks->ctab[i] = (uint32_t)++ks->ncache;
	return 0;
}

/* Marks op i linearized (or, with on = 0, not). */
static void
lincheck_mark(struct lincheck_search *ks, uint32_t i, int on)
{
	int det = ks->st[i] != LINHIST_INDET;

	ks->lin[i / 64] ^= UINT64_C(1) << (i % 64);
	if (!det)
		return;
	ks->zh ^= ks->z[i];
	if (on) {
		ks->lin_det++;
		while (ks->first < ks->n &&
		       (lincheck_is_lin(ks, ks->first) || ks->st[ks->first] == LINHIST_INDET))
			ks->first++;
	} else {
		ks->lin_det--;
		if (i < ks->first)
			ks->first = i;
	}
}

/* Linearizes op i leading to state, unless the cache says that was tried. */
static int
lincheck_try(struct lincheck_search *ks, uint32_t i, uint32_t state)
{
	uint32_t nexc, nind;

	lincheck_mark(ks, i, 1);
	lincheck_encode(ks, &nexc, &nind);
	if (lincheck_cache(ks, state, nexc, nind)) {
		lincheck_mark(ks, i, 0);
		return 0;
	}
	if (ks->st[i] != LINHIST_INDET) {
		linmodel_ref(&ks->md, ks->ops[i], -1);
		ks->remaining_det--;
	}
	return 1;
}

/* Undoes lincheck_try() for op i. */
static void
lincheck_untry(struct lincheck_search *ks, uint32_t i)
{
	lincheck_mark(ks, i, 0);
	if (ks->st[i] != LINHIST_INDET) {
		linmodel_ref(&ks->md, ks->ops[i], +1);
		ks->remaining_det++;
	}
}

/* Remembers the point where the search got stuck when it is the deepest so far. */
static void
lincheck_note_depth(struct lincheck_search *ks, const struct lincheck_node *ret, uint32_t state)
{
	struct lincheck_best *b = &ks->best;

	if (b->set && ks->lin_det <= b->depth)
		return;
	b->set = 1;
	b->depth = ks->lin_det;
	b->blocked = ret ? ret->op : UINT32_MAX;
	b->state = state;
	b->ntail = ks->nframes < LINCHECK_TAIL ? ks->nframes : LINCHECK_TAIL;
	for (size_t k = 0; k < b->ntail; k++) {
		const struct lincheck_frame *f = &ks->frames[ks->nframes - b->ntail + k];

		b->tail[k].op = f->call->op;
		b->tail[k].pre = f->prev_state;
	}
}

/* Memory a search holds, roughly: cache, its encodings and table, the model's states. */
static size_t
lincheck_memory(const struct lincheck_search *ks)
{
	return ks->capcache * sizeof(*ks->cache) + ks->caparena * sizeof(*ks->arena) +
	       ks->ctabcap * sizeof(*ks->ctab) + ks->md.bytes;
}

/*
 * The class of an indeterminate op whose effect depends on nothing but its kind
 * (a bit), or 0 when it carries its own inode or value or is settled (it has
 * a return).  Ops of one class that are all invoked and never return are
 * interchangeable: trying one is trying all.
 */
static unsigned
lincheck_indet_class(const struct linhist_op *op)
{
	if (op->has_ino) /* a create relaxed after a violation: it names its inode */
		return 0;
	if (op->settled) /* it returns: not interchangeable with one that never does */
		return 0;
	switch (op->kind) {
	case LINHIST_TRUNC:
		return 1;
	case LINHIST_CREAT_EXCL:
		return 2;
	case LINHIST_UNLINK:
	case LINHIST_RENAME_AWAY:
		return 4;
	case LINHIST_MKDIR:
		return 8;
	case LINHIST_RMDIR:
		return 16;
	default:
		return 0;
	}
}

/*
 * The search.  At each level it tries, in list order, the calls before the
 * first return entry: determinate ones first, then indeterminate ones (so that
 * "it did not happen yet" is explored first and the cache's covering rule can
 * prune the rest), one per class of interchangeable ones.  Success when no
 * determinate op is left.
 */
static enum lincheck_verdict
lincheck_search(struct lincheck_search *ks)
{
	struct lincheck_node *cur = ks->head.next;
	uint32_t state = 0;
	int pass = 0;       /* 0: determinate calls, 1: indeterminate calls */
	unsigned tried = 0; /* in pass 1: classes already tried at this level */

	for (;;) {
		struct lincheck_node *nd = cur;
		unsigned cls = 0;
		uint32_t next;

		if (ks->remaining_det == 0)
			return LINCHECK_LINEARIZABLE;
		for (; nd != NULL && nd->is_call; nd = nd->next) {
			if ((ks->st[nd->op] == LINHIST_INDET) != pass)
				continue;
			cls = pass ? lincheck_indet_class(ks->ops[nd->op]) : 0;
			if (!(cls & tried))
				break;
		}
		if (nd == NULL || !nd->is_call) {
			struct lincheck_frame *f;

			if (pass == 0) {
				pass = 1;
				tried = 0;
				cur = ks->head.next;
				continue;
			}
			/*
			 * The first return is a settled indeterminate op's that nobody
			 * linearized: the last option at this level is that it never
			 * took effect (pass 2; backtracking into it ends the level).
			 */
			if (pass == 1 && nd != NULL && ks->st[nd->op] == LINHIST_INDET) {
				struct lincheck_node *call = nd->match;

				pass = 2;
				if (ks->steps++ >= ks->o->budget)
					return LINCHECK_UNKNOWN;
				if (lincheck_try(ks, call->op, state)) {
					struct lincheck_frame *df = &ks->frames[ks->nframes++];

					df->call = call;
					df->prev_state = state;
					df->pass = 2;
					df->tried = tried;
					lincheck_lift(call);
					cur = ks->head.next;
					pass = 0;
					continue;
				}
			}
			lincheck_note_depth(ks, nd, state);
			if (ks->nframes == 0)
				return LINCHECK_VIOLATION;
			f = &ks->frames[--ks->nframes];
			lincheck_unlift(f->call);
			lincheck_untry(ks, f->call->op);
			state = f->prev_state;
			cur = f->call->next;
			pass = f->pass;
			tried = f->tried;
			continue;
		}
		tried |= cls;
		if (ks->steps++ >= ks->o->budget)
			return LINCHECK_UNKNOWN;
		/* Memory grows with the cache and the states; look now and then. */
		if (ks->steps % 4096 == 0 && lincheck_memory(ks) > ks->o->max_memory)
			return LINCHECK_UNKNOWN;
		if (linmodel_step(&ks->md, state, ks->ops[nd->op], ks->st[nd->op], &next) &&
		    lincheck_try(ks, nd->op, next)) {
			struct lincheck_frame *f = &ks->frames[ks->nframes++];

			f->call = nd;
			f->prev_state = state;
			f->pass = pass;
			f->tried = tried;
			lincheck_lift(nd);
			state = next;
			cur = ks->head.next;
			pass = 0;
			continue;
		}
		cur = nd->next;
	}
}

/* ---- witnesses ---- */

/* Prints bytes as a quoted string, escaping what is not printable, cut after a while. */
static void
lincheck_put_bytes(FILE *f, const uint8_t *p, size_t n)
{
	size_t show = n < LINCHECK_SHOW_BYTES ? n : LINCHECK_SHOW_BYTES;

	fputc('"', f);
	for (size_t i = 0; i < show;) {
		size_t run = 1;

		if (p[i] >= 0x20 && p[i] < 0x7f) {
			if (p[i] == '"' || p[i] == '\\')
				fputc('\\', f);
			fputc(p[i], f);
			i++;
			continue;
		}
		while (i + run < show && p[i + run] == p[i])
			run++;
		if (p[i] == 0)
			fputs("\\0", f);
		else
			fprintf(f, "\\x%02x", p[i]);
		/* Runs of NULs are the typical lost-data picture: say how long. */
		if (run >= 4) {
			fprintf(f, "{x%zu}", run);
			i += run;
		} else {
			i++;
		}
	}
	fputc('"', f);
	if (show < n)
		fprintf(f, "...(%zu bytes)", n);
}

/* Prints one op: who, what, result, when (ms from the history's start). */
static void
lincheck_put_op(FILE *f, const struct linhist *h, const struct linhist_op *op,
                enum linhist_status st)
{
	enum linhist_kind k = op->kind;

	fprintf(f, "p=%" PRIu32 " m=%" PRIu32 " n=%" PRIu64 " %s %s", op->p, op->m, op->n,
	        linhist_kind_name(k), h->keys[op->key].name);
	if (k == LINHIST_READ || k == LINHIST_WRITE || k == LINHIST_APPEND || k == LINHIST_PUT)
		fprintf(f, " ino=%" PRIu64, op->ino);
	if (k == LINHIST_WRITE || k == LINHIST_APPEND || k == LINHIST_PUT) {
		fputc(' ', f);
		lincheck_put_bytes(f, op->val, op->vlen);
	}
	fputs(" -> ", f);
	if (op->t1 == LINHIST_NEVER)
		fputs("never returned", f);
	else if (st == LINHIST_OK && (k == LINHIST_OPEN_R || k == LINHIST_OPEN_A ||
	                              k == LINHIST_TRUNC || k == LINHIST_CREAT_EXCL))
		fprintf(f, "ino %" PRIu64, op->ino);
	else if (st == LINHIST_OK && k == LINHIST_READ)
		lincheck_put_bytes(f, op->val, op->vlen);
	else if (st == LINHIST_OK && k == LINHIST_STAT)
		fputs("dir", f);
	else
		fputs(op->res, f);
	if (op->t1 != LINHIST_NEVER && st == LINHIST_INDET)
		fputs(" (indeterminate)", f);
	if (st != op->status && op->status != LINHIST_INDET)
		fputs(" (relaxed after an earlier violation)", f);
	fprintf(f, "  [%.3f .. ", (double)(op->t0 - h->tmin) / 1e6);
	if (op->t1 == LINHIST_NEVER)
		fputs("never]", f);
	else
		fprintf(f, "%.3f ms]", (double)(op->t1 - h->tmin) / 1e6);
}

/* Prints a model state, with the contents of one inode of interest. */
static void
lincheck_put_state(FILE *f, const struct linmodel *md, uint32_t id, int is_dir, uint64_t focus)
{
	const struct linmodel_state *s = linmodel_state(md, id);
	const struct linmodel_ent *e;

	if (is_dir) {
		fputs(s->binding == LINMODEL_PRESENT ? "present" : "absent", f);
		return;
	}
	if (s->binding == LINMODEL_ABSENT)
		fputs("absent", f);
	else if (s->binding == LINMODEL_WILD)
		fputs("bound to an inode of unknown number (a create that never returned)", f);
	else
		fprintf(f, "bound to ino %" PRIu64, s->binding);
	if (focus == 0)
		return;
	e = linmodel_find(s, focus);
	if (e == NULL) {
		fprintf(f, "; ino %" PRIu64 " not known there", focus);
		return;
	}
	fprintf(f, "; ino %" PRIu64 " holds ", focus);
	lincheck_put_bytes(f, linmodel_bytes(s, e), e->len);
}

/* True when op with its status is consistent with a state. */
static int
lincheck_fits(struct lincheck_search *ks, uint32_t state, uint32_t i)
{
	uint32_t to;

	return linmodel_step(&ks->md, state, ks->ops[i], ks->st[i], &to);
}

/* The inode whose contents an op observes or changes; 0 when none. */
static uint64_t
lincheck_focus(const struct linhist_op *op)
{
	switch (op->kind) {
	case LINHIST_READ:
	case LINHIST_WRITE:
	case LINHIST_APPEND:
	case LINHIST_PUT:
	case LINHIST_TRUNC_DATA:
		return op->ino;
	case LINHIST_OPEN_R:
	case LINHIST_OPEN_A:
	case LINHIST_TRUNC:
	case LINHIST_CREAT_EXCL:
		return op->status == LINHIST_OK ? op->ino : 0;
	default:
		return 0;
	}
}

/* Post-state of tail entry k of the deepest point. */
static uint32_t
lincheck_tail_post(const struct lincheck_best *b, size_t k)
{
	return k + 1 < b->ntail ? b->tail[k + 1].pre : b->state;
}

/*
 * Among the ops kept with the deepest point, the last that changed the binding
 * and the last that set the contents of ino (-1 when none).
 */
static void
lincheck_setters(struct lincheck_search *ks, uint64_t ino, long *bind, long *cont)
{
	const struct lincheck_best *b = &ks->best;

	*bind = *cont = -1;
	for (size_t k = b->ntail; k-- > 0;) {
		const struct linhist_op *op = ks->ops[b->tail[k].op];
		const struct linmodel_state *pre = linmodel_state(&ks->md, b->tail[k].pre);
		const struct linmodel_state *post =
		    linmodel_state(&ks->md, lincheck_tail_post(b, k));

		if (*bind < 0 && pre->binding != post->binding)
			*bind = (long)k;
		if (*cont < 0 && ino != 0 && op->has_ino && op->ino == ino &&
		    (op->kind == LINHIST_WRITE || op->kind == LINHIST_APPEND ||
		     op->kind == LINHIST_PUT || op->kind == LINHIST_TRUNC ||
		     op->kind == LINHIST_TRUNC_DATA || op->kind == LINHIST_CREAT_EXCL))
			*cont = (long)k;
		if (*bind >= 0 && (*cont >= 0 || ino == 0))
			break;
	}
}

/*
 * Classifies the violation at the deepest point (heuristics; *rule says which fired):
 *  1. a read whose bytes are not made of values written to the key, or to that
 *     inode, or an op that observed an inode no op made under the key: value
 *     nobody wrote;
 *  2. W, the placed op that replaced the state X fits, completed before X began:
 *     lost acknowledged write when W is never observed afterwards and the older
 *     state is (by X, a mutation, or by two observations); else stale read;
 *  3. W was concurrent with X but a read that completed before X began had seen
 *     W's effect: stale read;
 *  4. otherwise: no order fits.
 * W is found by going back from the last placed op through those kept with the
 * deepest point to the first whose prior state X fits.
 */
static enum lincheck_class
lincheck_classify(struct lincheck_search *ks, const struct lincheck_vset *vs, uint32_t x,
                  const char **rule, size_t *unwritten)
{
	const struct linhist_op *xo = ks->ops[x];
	const struct lincheck_best *b = &ks->best;

	*unwritten = SIZE_MAX;
	if (xo->kind == LINHIST_READ && ks->st[x] == LINHIST_OK &&
	    (*unwritten = lincheck_unwritten(vs, xo->val, xo->vlen)) < xo->vlen) {
		*rule = "the read's bytes are not made of values written to the key";
		return LINCHECK_NOBODY_WROTE;
	}
	if (xo->kind == LINHIST_READ && ks->st[x] == LINHIST_OK) {
		struct lincheck_vset iv;
		size_t at;

		/* A value lands in exactly one inode: the fd's, or the tmp file's for a put. */
		memset(&iv, 0, sizeof(iv));
		for (uint32_t i = 0; i < ks->n; i++) {
			const struct linhist_op *o = ks->ops[i];

			if ((o->kind == LINHIST_WRITE || o->kind == LINHIST_APPEND ||
			     o->kind == LINHIST_PUT) &&
			    o->ino == xo->ino)
				lincheck_vset_add(&iv, o);
		}
		at = lincheck_unwritten(&iv, xo->val, xo->vlen);
		lincheck_vset_free(&iv);
		if (at < xo->vlen) {
			*rule = "the read's bytes include a value never written to that inode";
			*unwritten = at;
			return LINCHECK_NOBODY_WROTE;
		}
	}
	if (lincheck_focus(xo) != 0 && !vs->unknown_create &&
	    !lincheck_vset_made(vs, lincheck_focus(xo)) && xo->kind != LINHIST_WRITE &&
	    xo->kind != LINHIST_APPEND && xo->kind != LINHIST_PUT) {
		*rule = "it observed an inode that no op created under the key";
		return LINCHECK_NOBODY_WROTE;
	}
	/* The op that replaced the state X saw: X fits the state before it, not after. */
	long j = (long)b->ntail - 1;
	uint32_t post = b->state;

	while (j >= 0 && !lincheck_fits(ks, b->tail[j].pre, x))
		j--;
	if (j < 0 || lincheck_fits(ks, post, x)) {
		*rule = "it fits no state the last 512 placed ops went through";
		return LINCHECK_NO_ORDER;
	}

	uint32_t wi = b->tail[j].op, pre = b->tail[j].pre;
	const struct linhist_op *wo = ks->ops[wi];

	if (wo->t1 != LINHIST_NEVER && ks->st[wi] != LINHIST_INDET && wo->t1 < xo->t0) {
		size_t seen = 0, older = 1, looked = 0;

		for (uint32_t i = wi + 1; i < ks->n && looked < LINCHECK_OBSERVERS; i++) {
			int now, before;

			if (i == x || ks->ops[i]->t0 <= wo->t1 || ks->st[i] == LINHIST_INDET)
				continue;
			looked++;
			now = lincheck_fits(ks, post, i);
			before = lincheck_fits(ks, pre, i);
			seen += now && !before;
			older += before && !now;
		}
		/* Ops dropped after earlier violations still tell what they saw. */
		for (size_t k = 0; k < ks->nrelaxed; k++) {
			const struct linhist_op *ro = &ks->h->ops[ks->relaxed[k]];
			uint32_t to;
			int now, before;

			if (ro->t0 <= wo->t1 || ro->status == LINHIST_INDET)
				continue;
			now = linmodel_step(&ks->md, post, ro, ro->status, &to);
			before = linmodel_step(&ks->md, pre, ro, ro->status, &to);
			seen += now && !before;
			older += before && !now;
		}
		if (seen == 0 && (linhist_kind_mutates(xo->kind) || older >= 2)) {
			*rule = "a write that completed before it began is never observed later, "
			        "and later ops see the state before it";
			return LINCHECK_LOST_WRITE;
		}
		*rule = "it saw the state from before a write that completed before it began";
		return LINCHECK_STALE_READ;
	}
	for (uint32_t i = 0; i < ks->n; i++) {
		const struct linhist_op *ro = ks->ops[i];

		if (i == x || ks->st[i] == LINHIST_INDET || linhist_kind_mutates(ro->kind) ||
		    ro->t1 >= xo->t0 || ro->t0 < wo->t0)
			continue;
		if (lincheck_fits(ks, post, i) && !lincheck_fits(ks, pre, i)) {
			*rule = "it saw an older state than a read that completed before it began";
			return LINCHECK_STALE_READ;
		}
	}
	*rule = "no order of the concurrent ops explains the results";
	return LINCHECK_NO_ORDER;
}

/*
 * Prints the determinate ops whose intervals overlap op x's, then the latest of
 * the indeterminate ops invoked before x returned (they may act at any later time).
 */
static void
lincheck_put_concurrent(FILE *f, const struct lincheck_search *ks, uint32_t x)
{
	const struct linhist_op *xo = ks->ops[x];
	size_t ndet = 0, nind = 0, shown = 0;

	for (uint32_t i = 0; i < ks->n; i++) {
		const struct linhist_op *o = ks->ops[i];

		if (i == x || o->t0 >= xo->t1)
			continue;
		if (ks->st[i] == LINHIST_INDET)
			nind++;
		else if (o->t1 > xo->t0)
			ndet++;
	}
	fprintf(f, "  concurrent with it: %zu op(s)%s\n", ndet, ndet ? ":" : "");
	for (uint32_t i = 0; i < ks->n && shown < LINCHECK_SHOW_CONCURRENT; i++) {
		const struct linhist_op *o = ks->ops[i];

		if (i == x || o->t0 >= xo->t1 || ks->st[i] == LINHIST_INDET || o->t1 <= xo->t0)
			continue;
		fputs("    ", f);
		lincheck_put_op(f, ks->h, o, ks->st[i]);
		fputc('\n', f);
		shown++;
	}
	if (ndet > shown)
		fprintf(f, "    ... and %zu more\n", ndet - shown);
	if (nind == 0)
		return;
	fprintf(f, "  indeterminate ops invoked before it returned: %zu; the latest:\n", nind);
	shown = 0;
	for (uint32_t i = ks->n; i-- > 0 && shown < 3;) {
		const struct linhist_op *o = ks->ops[i];

		if (i == x || o->t0 >= xo->t1 || ks->st[i] != LINHIST_INDET)
			continue;
		fputs("    ", f);
		lincheck_put_op(f, ks->h, o, ks->st[i]);
		fputc('\n', f);
		shown++;
	}
}

/* The stretch of time from op x and the determinate ops concurrent with it. */
static void
lincheck_window(const struct lincheck_search *ks, uint32_t x, uint64_t *w0, uint64_t *w1)
{
	const struct linhist_op *xo = ks->ops[x];

	*w0 = xo->t0;
	*w1 = xo->t1;
	for (uint32_t i = 0; i < ks->n; i++) {
		const struct linhist_op *o = ks->ops[i];

		if (ks->st[i] == LINHIST_INDET || o->t0 >= xo->t1 || o->t1 <= xo->t0)
			continue;
		if (o->t0 < *w0)
			*w0 = o->t0;
		if (o->t1 > *w1)
			*w1 = o->t1;
	}
}

/* Writes the witness of the violation the search just found. */
static void
lincheck_witness(struct lincheck_search *ks, const struct lincheck_vset *vs,
                 struct lincheck_violation *v)
{
	const struct lincheck_best *b = &ks->best;
	const struct linhist *h = ks->h;
	uint32_t x = b->blocked;
	const struct linhist_op *xo = ks->ops[x];
	int is_dir = h->keys[xo->key].is_dir;
	uint64_t focus = lincheck_focus(xo);
	size_t len = 0, unwritten;
	long bind, cont;
	FILE *f;

	/* Contents matter to ops on an open inode; the others observe the binding. */
	if (xo->kind == LINHIST_READ || xo->kind == LINHIST_WRITE || xo->kind == LINHIST_APPEND)
		lincheck_setters(ks, focus, &bind, &cont);
	else
		lincheck_setters(ks, 0, &bind, &cont);
	v->key = xo->key;
	v->op = ks->hop[x];
	v->depth = b->depth;
	v->total = ks->detbelow[ks->n];
	v->cls = lincheck_classify(ks, vs, x, &v->rule, &unwritten);
	lincheck_window(ks, x, &v->w0, &v->w1);

	f = open_memstream(&v->witness, &len);
	if (f == NULL)
		fatal("open_memstream");
	fprintf(f, "key %s: %s\n  rule: %s\n", h->keys[xo->key].name, lincheck_class_name(v->cls),
	        v->rule);
	fprintf(f,
	        "  could not linearize (deepest point: %zu of %zu determinate ops placed):\n    ",
	        v->depth, v->total);
	lincheck_put_op(f, h, xo, ks->st[x]);
	if (unwritten < xo->vlen)
		fprintf(f, "\n    first byte that no value written there covers: offset %zu",
		        unwritten);
	fputs("\n  state there: ", f);
	lincheck_put_state(f, &ks->md, b->state, is_dir, focus);
	fputs("\n  set by:\n", f);
	if (bind < 0 && cont < 0)
		fputs("    (the initial state, or ops older than the last 512 placed)\n", f);
	if (bind >= 0) {
		fputs("    ", f);
		lincheck_put_op(f, h, ks->ops[b->tail[bind].op], ks->st[b->tail[bind].op]);
		fputs(is_dir ? "  (presence)\n" : "  (binding)\n", f);
	}
	if (cont >= 0 && cont != bind) {
		fputs("    ", f);
		lincheck_put_op(f, h, ks->ops[b->tail[cont].op], ks->st[b->tail[cont].op]);
		fprintf(f, "  (contents of ino %" PRIu64 ")\n", focus);
	}
	lincheck_put_concurrent(f, ks, x);
	fclose(f);
}

/* ---- per key and the whole history ---- */

/* Counts a read-only op that failed outside the model, by errno. */
static void
lincheck_count_dropped(struct lincheck_report *r, const char *name)
{
	for (size_t i = 0; i < r->ndropped; i++)
		if (strcmp(r->dropped[i].name, name) == 0) {
			r->dropped[i].count++;
			return;
		}
	r->dropped = xrealloc(r->dropped, (r->ndropped + 1) * sizeof(*r->dropped));
	snprintf(r->dropped[r->ndropped].name, sizeof(r->dropped[0].name), "%s",
	         name[0] ? name : "(never returned)");
	r->dropped[r->ndropped++].count = 1;
}

/* Adds a violation to the report. */
static struct lincheck_violation *
lincheck_add_violation(struct lincheck_report *r)
{
	struct lincheck_violation *v;

	r->viol = xrealloc(r->viol, (r->nviol + 1) * sizeof(*r->viol));
	v = &r->viol[r->nviol++];
	memset(v, 0, sizeof(*v));
	return v;
}

/* Checks one key: counts, then searches until it is linearizable or out of patience. */
static void
lincheck_key(struct lincheck_report *r, const struct linhist *h, const struct lincheck_opts *o,
             uint32_t key, const size_t *hops, size_t n)
{
	struct lincheck_keyres *kr = &r->keys[key];
	enum linhist_status *st = xcalloc(n ? n : 1, sizeof(*st));
	size_t *relaxed = NULL, nrelaxed = 0;
	size_t incident = SIZE_MAX; /* the last violation of this key, in r->viol */
	struct lincheck_vset vs;
	double t0 = lincheck_now();

	lincheck_vset_build(&vs, h, hops, n);
	for (size_t i = 0; i < n; i++) {
		const struct linhist_op *op = &h->ops[hops[i]];

		st[i] = op->status;
		if (op->synthetic)
			continue; /* counted with the op it was made from */
		kr->ops++;
		kr->ok += op->status == LINHIST_OK;
		kr->expected += op->status == LINHIST_EXPECTED;
		kr->indet += op->status == LINHIST_INDET;
		kr->noeffect += op->status == LINHIST_NOEFFECT;
		if (op->status == LINHIST_DROPPED) {
			kr->dropped++;
			lincheck_count_dropped(r, op->res);
		}
		if (op->kind == LINHIST_READ && op->status == LINHIST_OK) {
			kr->reads++;
			kr->nobody_wrote += lincheck_unwritten(&vs, op->val, op->vlen) < op->vlen;
		}
	}

	kr->verdict = LINCHECK_LINEARIZABLE;
	for (;;) {
		struct lincheck_search ks;
		enum lincheck_verdict v;
		size_t hx;

		lincheck_build(&ks, h, o, hops, st, n);
		v = lincheck_search(&ks);
		kr->rounds++;
		kr->steps += ks.steps;
		kr->states += ks.md.nstates;
		kr->cache += ks.ncache;
		if (v == LINCHECK_UNKNOWN)
			kr->unknown = 1;
		if (v != LINCHECK_VIOLATION || ks.best.blocked == UINT32_MAX) {
			lincheck_search_free(&ks);
			break;
		}
		hx = ks.hop[ks.best.blocked];
		if (incident != SIZE_MAX && h->ops[hx].t0 <= r->viol[incident].w1 &&
		    h->ops[hx].t1 >= r->viol[incident].w0) {
			/* The same stretch of time: the same incident, seen from another op. */
			struct lincheck_violation *vi = &r->viol[incident];
			uint64_t w0, w1;

			lincheck_window(&ks, ks.best.blocked, &w0, &w1);
			vi->w0 = w0 < vi->w0 ? w0 : vi->w0;
			vi->w1 = w1 > vi->w1 ? w1 : vi->w1;
			vi->also = xrealloc(vi->also, (vi->nalso + 1) * sizeof(*vi->also));
			vi->also[vi->nalso++] = hx;
			/*
			 * Every search costs a full refutation: after a few single drops,
			 * drop every read-only op of the incident's stretch at once.
			 */
			for (size_t i = 0; i < n && vi->nalso >= LINCHECK_ONE_BY_ONE; i++) {
				const struct linhist_op *op = &h->ops[hops[i]];

				if (st[i] == LINHIST_DROPPED || st[i] == LINHIST_INDET ||
				    linhist_kind_mutates(op->kind) || op->t0 > vi->w1 ||
				    op->t1 < vi->w0 || hops[i] == hx)
					continue;
				st[i] = LINHIST_DROPPED;
				vi->bulk++;
			}
		} else {
			struct lincheck_violation *vi = lincheck_add_violation(r);

			ks.relaxed = relaxed;
			ks.nrelaxed = nrelaxed;
			lincheck_witness(&ks, &vs, vi);
			kr->violations++;
			incident = r->nviol - 1;
		}
		relaxed = xrealloc(relaxed, (nrelaxed + 1) * sizeof(*relaxed));
		relaxed[nrelaxed++] = hx;
		/* Relax the culprit and look for the next violation. */
		for (size_t i = 0; i < n; i++)
			if (hops[i] == hx)
				st[i] = linhist_kind_mutates(h->ops[hx].kind) ? LINHIST_INDET
				                                              : LINHIST_DROPPED;
		lincheck_search_free(&ks);
		if (kr->violations >= o->max_per_key ||
		    kr->rounds >= (size_t)o->max_per_key * LINCHECK_ROUNDS_PER_VIOLATION) {
			kr->stopped = 1;
			break;
		}
	}
	if (kr->violations > 0)
		kr->verdict = LINCHECK_VIOLATION;
	else if (kr->unknown)
		kr->verdict = LINCHECK_UNKNOWN;
	kr->seconds = lincheck_now() - t0;
	lincheck_vset_free(&vs);
	free(relaxed);
	free(st);
}

/* Checks every key of a history. */
struct lincheck_report *
lincheck_run(const struct linhist *h, const struct lincheck_opts *o)
{
	struct lincheck_report *r = xcalloc(1, sizeof(*r));
	size_t *start = xcalloc(h->nkeys + 1, sizeof(*start));
	size_t *fill = xcalloc(h->nkeys + 1, sizeof(*fill));
	size_t *hops = xcalloc(h->nops + 1, sizeof(*hops));
	double t0 = lincheck_now();

	/* Group op indices by key (a counting sort keeps history order within a key). */
	for (size_t k = 0; k < h->nkeys; k++)
		start[k + 1] = start[k] + h->keys[k].nops;
	for (size_t i = 0; i < h->nops; i++) {
		uint32_t k = h->ops[i].key;

		hops[start[k] + fill[k]++] = i;
	}
	r->nkeys = h->nkeys;
	r->keys = xcalloc(h->nkeys + 1, sizeof(*r->keys));
	r->verdict = LINCHECK_LINEARIZABLE;
	for (uint32_t k = 0; k < h->nkeys; k++) {
		struct lincheck_keyres *kr = &r->keys[k];

		lincheck_key(r, h, o, k, hops + start[k], h->keys[k].nops);
		r->total.ops += kr->ops;
		r->total.ok += kr->ok;
		r->total.expected += kr->expected;
		r->total.indet += kr->indet;
		r->total.dropped += kr->dropped;
		r->total.noeffect += kr->noeffect;
		r->total.reads += kr->reads;
		r->total.nobody_wrote += kr->nobody_wrote;
		r->total.violations += kr->violations;
		r->total.steps += kr->steps;
		r->total.states += kr->states;
		r->total.cache += kr->cache;
		r->total.rounds += kr->rounds;
		r->total.unknown |= kr->unknown;
		r->total.stopped |= kr->stopped;
		if (kr->verdict == LINCHECK_VIOLATION)
			r->verdict = LINCHECK_VIOLATION;
		else if (kr->verdict == LINCHECK_UNKNOWN && r->verdict == LINCHECK_LINEARIZABLE)
			r->verdict = LINCHECK_UNKNOWN;
	}
	r->total.verdict = r->verdict;
	r->seconds = lincheck_now() - t0;
	r->total.seconds = r->seconds;
	free(start);
	free(fill);
	free(hops);
	return r;
}

/* Orders key indices by name, numbers compared as numbers (f2 before f10). */
static int
lincheck_cmp_key(const void *a, const void *b, void *arg)
{
	const struct linhist *h = arg;
	const uint32_t *x = a, *y = b;

	return strverscmp(h->keys[*x].name, h->keys[*y].name);
}

/* Prints one row of the per-key table. */
static void
lincheck_put_row(FILE *f, const char *name, const struct lincheck_keyres *kr)
{
	const char *res = lincheck_verdict_name(kr->verdict);

	if (kr->verdict == LINCHECK_VIOLATION && kr->unknown)
		res = "NOT linearizable (then budget exceeded)";
	else if (kr->verdict == LINCHECK_VIOLATION && kr->stopped)
		res = "NOT linearizable (stopped counting)";
	fprintf(f, "%-10s %9zu %9zu %9zu %6zu %13zu %11zu  %s\n", name, kr->ops, kr->ok,
	        kr->expected, kr->indet, kr->dropped, kr->violations, res);
}

/* Prints the summary, the per-key table and the witnesses. */
void
lincheck_print(FILE *f, const struct linhist *h, const struct lincheck_report *r, int verbose)
{
	double span = h->tmax > h->tmin ? (double)(h->tmax - h->tmin) / 1e9 : 0;
	uint32_t *order = xcalloc(r->nkeys + 1, sizeof(*order));

	fprintf(f, "operations: %zu by %" PRIu32 " processes over %.3f s: %.0f ops/s\n",
	        r->total.ops, h->nprocs, span, span > 0 ? (double)r->total.ops / span : 0.0);
	fprintf(f, "%-10s %9s %9s %9s %6s %13s %11s  %s\n", "key", "ops", "ok", "expected", "indet",
	        "failed-reads", "violations", "result");
	for (uint32_t k = 0; k < r->nkeys; k++)
		order[k] = k;
	qsort_r(order, r->nkeys, sizeof(*order), lincheck_cmp_key, (void *)h);
	for (uint32_t k = 0; k < r->nkeys; k++)
		lincheck_put_row(f, h->keys[order[k]].name, &r->keys[order[k]]);
	lincheck_put_row(f, "total", &r->total);
	fprintf(f, "indeterminate operations: %zu\n", r->total.indet);
	fprintf(f, "writes, appends and truncs that found their file gone (ESTALE, no effect): %zu\n",
	        r->total.noeffect);
	fputs("failed reads by errno:", f);
	if (r->ndropped == 0)
		fputs(" none", f);
	for (size_t i = 0; i < r->ndropped; i++)
		fprintf(f, "%s %s %zu", i ? "," : "", r->dropped[i].name, r->dropped[i].count);
	fputc('\n', f);
	fprintf(f, "reads that returned bytes nobody wrote: %zu (of %zu reads)\n",
	        r->total.nobody_wrote, r->total.reads);
	fprintf(f, "violations: %zu\n", r->total.violations);
	if (verbose) {
		fprintf(f,
		        "search: %.3f s, %" PRIu64 " model steps, %zu states, %zu cache entries, "
		        "%zu rounds\n",
		        r->seconds, r->total.steps, r->total.states, r->total.cache,
		        r->total.rounds);
		for (uint32_t k = 0; k < r->nkeys; k++) {
			const struct lincheck_keyres *kr = &r->keys[order[k]];

			fprintf(f,
			        "  %-10s %.3f s, %" PRIu64 " steps, %zu states, %zu cache "
			        "entries, %zu rounds\n",
			        h->keys[order[k]].name, kr->seconds, kr->steps, kr->states,
			        kr->cache, kr->rounds);
		}
	}
	fprintf(f, "verdict: %s\n", lincheck_verdict_name(r->verdict));
	for (size_t i = 0; i < r->nviol; i++) {
		const struct lincheck_violation *v = &r->viol[i];

		fprintf(f, "\nviolation %zu: %s", i + 1, v->witness);
		if (v->nalso == 0)
			continue;
		fprintf(f,
		        "  %zu more op(s) of this incident could not be linearized either "
		        "(dropped one by one):\n",
		        v->nalso);
		for (size_t k = 0; k < v->nalso && k < LINCHECK_SHOW_ALSO; k++) {
			fputs("    ", f);
			lincheck_put_op(f, h, &h->ops[v->also[k]], h->ops[v->also[k]].status);
			fputc('\n', f);
		}
		if (v->nalso > LINCHECK_SHOW_ALSO)
			fprintf(f, "    ... and %zu more\n", v->nalso - LINCHECK_SHOW_ALSO);
		if (v->bulk > 0)
			fprintf(f,
			        "  then %zu read-only op(s) overlapping it were dropped at once to "
			        "move on\n",
			        v->bulk);
	}
	free(order);
}

/* Frees a report. */
void
lincheck_report_free(struct lincheck_report *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nviol; i++) {
		free(r->viol[i].witness);
		free(r->viol[i].also);
	}
	free(r->viol);
	free(r->keys);
	free(r->dropped);
	free(r);
}
