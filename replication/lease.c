/*
 * Leases and recall groups at the tail; see lease.h.
 *
 * Tables, all of them chained hashing that doubles and halves with its
 * contents (so memory follows what is held, not a past peak):
 *
 *   - records by (client, inode), and a min-heap of them by expiry: grants
 *     use different lengths, so insertion order is not expiry order, and
 *     the heap makes lease_expire cost only what it frees;
 *   - inodes, each with its records and the memberships of the groups not
 *     released that fence it, in group id order (the first one is the
 *     earliest group on the inode);
 *   - clients, each with its count of records (max_per_client) and the
 *     recalls it owes, by group id (lease_each_pending);
 *   - groups by id, and the groups not released in a list by id;
 *   - holders by (group, client).  A group keeps its holders that have not
 *     acknowledged in a heap by deadline, latest first: the group waits for
 *     its holders until the top's deadline.
 *
 * A group is blocked while an earlier group precedes it on one of its
 * inodes (a count, kept as memberships come and go).  It is released when
 * it is ended, not blocked, past the fence it was begun under, and every
 * holder acknowledged or ran out.  The groups ended and not blocked wait
 * in a heap by the time they are ready at (lease_next_deadline is its
 * top); lease_next_released moves those whose time came to a heap by id
 * and releases the lowest, which can unblock later ones.  So no call
 * walks every group but lease_fence_all, which is rare.
 *
 * Choices the header leaves open:
 *
 *   - an expired record counts as absent: a grant on it is a new grant
 *     (limits apply), and a group does not recall it but frees it;
 *   - an extension keeps the later of the old and the new expiry; a refused
 *     extension (fenced inode) leaves the old record as it was, since the
 *     client may still hold what it was granted;
 *   - a grant of 0 ms grants and counts nothing and returns 0;
 *   - writer 0 exempts no client;
 *   - lease_fence_all only ever lengthens the fence, and holds the groups
 *     not yet released as well as those begun later (they were begun
 *     before `until` too);
 *   - the fence is forgotten by the first call with a clock that sees it
 *     passed (grant, group begin or end, next_released, expire);
 *     lease_next_deadline reports it until then, which wakes the caller
 *     once at that time and no more;
 *   - lease_reset drops records, groups and holders but keeps the fence
 *     (the caller sets it again anyway), the cumulative counters of
 *     lease_stats and the group ids, which keep increasing, so that a late
 *     acknowledgement of a dropped group cannot hit a new one;
 *   - a client named again in a group it already acknowledged (a later
 *     lease_group_add) owes a new acknowledgement;
 *   - groups are meant to be built one at a time, but when a group adds an
 *     inode that a later group (still not released) already holds, it
 *     also recalls every holder that the later group waits for, since
 *     that group took the leases first and is released after it.
 *
 * Callbacks are called after the table is consistent again, from a copy
 * of what they are told, so they may call back into the table.
 */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "common/log.h"
#include "replication/lease.h"

#define LEASE_CONTAINER(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

#define LEASE_DEFAULT_MAX_RECORDS (1u << 20)
#define LEASE_HT_MIN 16   /* buckets, at least */
#define LEASE_HEAP_MIN 16 /* slots, at least, once allocated */

/* Where an ended group that nothing earlier blocks waits (lease_group.sched). */
#define LEASE_UNSCHEDULED 0
#define LEASE_WAITING 1
#define LEASE_READY 2

/* An entry of a chained hash table, embedded in what it indexes. */
struct lease_hnode {
	struct lease_hnode *next;
	uint64_t hv;
};

struct lease_htab {
	struct lease_hnode **b;
	size_t nb; /* a power of two */
	size_t n;
};

/* An entry of a binary min-heap, embedded in what it orders. */
struct lease_hent {
	uint64_t key;
	size_t idx;
};

struct lease_heap {
	struct lease_hent **v;
	size_t n;
	size_t cap;
};

struct lease_holder;

/* A client with records or recalls owed; freed when it has neither. */
struct lease_client {
	struct lease_hnode hn; /* in clients */
	uint64_t client;
	uint32_t n; /* records */
	/* The groups that recalled it, by id. */
	TAILQ_HEAD(lease_client_holders, lease_holder) holders;
};

struct lease_ino;

/* A lease: client may cache ino until he.key. */
struct lease_rec {
	struct lease_hnode hn; /* in recs, by (client, ino) */
	struct lease_hent he;  /* in expiry, by expiry */
	LIST_ENTRY(lease_rec) by_ino;
	struct lease_ino *in;
	struct lease_client *cl;
	uint64_t client;
};

struct lease_group;

/* Group g fences inode in. */
struct lease_member {
	TAILQ_ENTRY(lease_member) by_ino; /* in->groups, by group id */
	LIST_ENTRY(lease_member) by_group;
	struct lease_group *g;
	struct lease_ino *in;
};

TAILQ_HEAD(lease_members, lease_member);

/* An inode with records or groups; freed when it has neither. */
struct lease_ino {
	struct lease_hnode hn; /* in inos */
	uint64_t ino;
	LIST_HEAD(lease_recs, lease_rec) recs;
	struct lease_members groups; /* not released, by id */
};

/* A client recalled by a group. */
struct lease_holder {
	struct lease_hnode hn; /* in holders, by (group, client) */
	struct lease_hent he;  /* in g->unacked while not acked: UINT64_MAX - deadline */
	LIST_ENTRY(lease_holder) by_group;
	TAILQ_ENTRY(lease_holder) by_client; /* cl->holders */
	struct lease_group *g;
	struct lease_client *cl;
	uint64_t client;
	uint64_t deadline; /* the latest expiry of the leases taken from it */
	int acked;
};

struct lease_group {
	struct lease_hnode hn; /* in groups, by id */
	TAILQ_ENTRY(lease_group) link;
	uint64_t id;
	uint64_t writer;
	uint64_t begin;
	uint64_t fence_until; /* lasts at least until then */
	size_t blocked;       /* inodes on which an earlier group precedes it */
	int ended;
	int sched;                  /* LEASE_WAITING, LEASE_READY: in that heap */
	struct lease_hent sched_he; /* by the time it is ready at, or by id */
	LIST_HEAD(lease_group_members, lease_member) members;
	LIST_HEAD(lease_holders, lease_holder) holders;
	struct lease_heap unacked; /* latest deadline on top */
};

struct lease_table {
	uint32_t max_records;
	uint32_t max_per_client;
	struct lease_htab recs;
	struct lease_htab inos;
	struct lease_htab clients;
	struct lease_htab groups;
	struct lease_htab holders;
	struct lease_heap expiry;
	struct lease_heap waiting; /* ended, unblocked groups, by when they are ready */
	struct lease_heap ready;   /* of them, those found ready, by id */
	TAILQ_HEAD(lease_groups, lease_group) glist; /* not released, by id */
	size_t ngroups;
	uint64_t next_id;
	uint64_t fence_all_until; /* 0: none */
	struct lease_stats st;    /* records and groups: see lease_get_stats */
};

/* Hashing: the finalizer of splitmix64. */
static uint64_t
lease_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static uint64_t
lease_hash2(uint64_t a, uint64_t b)
{
	return lease_mix(lease_mix(a) ^ (b * 0x9e3779b97f4a7c15ull));
}

static void
ht_init(struct lease_htab *t)
{
	t->nb = LEASE_HT_MIN;
	t->b = xcalloc(t->nb, sizeof(*t->b));
	t->n = 0;
}

static void
ht_rehash(struct lease_htab *t, size_t nb)
{
	struct lease_hnode **b = xcalloc(nb, sizeof(*b));

	for (size_t i = 0; i < t->nb; i++) {
		struct lease_hnode *e, *next;

		for (e = t->b[i]; e != NULL; e = next) {
			next = e->next;
			e->next = b[e->hv & (nb - 1)];
			b[e->hv & (nb - 1)] = e;
		}
	}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

static void
ht_insert(struct lease_htab *t, struct lease_hnode *e, uint64_t hv)
{
	size_t i;

	if (t->n >= t->nb)
		ht_rehash(t, t->nb * 2);
	i = hv & (t->nb - 1);
	e->hv = hv;
	e->next = t->b[i];
	t->b[i] = e;
	t->n++;
}

static void
ht_remove(struct lease_htab *t, struct lease_hnode *e)
{
	struct lease_hnode **pp = &t->b[e->hv & (t->nb - 1)];

	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	t->n--;
	if (t->nb > LEASE_HT_MIN && t->n < t->nb / 8)
		ht_rehash(t, t->nb / 2);
}

/* The chain that holds the entries of hash hv. */
static struct lease_hnode *
ht_chain(const struct lease_htab *t, uint64_t hv)
{
	return t->b[hv & (t->nb - 1)];
}

static void
heap_set(struct lease_heap *h, size_t i, struct lease_hent *e)
{
	h->v[i] = e;
	e->idx = i;
}

static void
heap_up(struct lease_heap *h, size_t i)
{
	struct lease_hent *e = h->v[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (h->v[p]->key <= e->key)
			break;
		heap_set(h, i, h->v[p]);
		i = p;
	}
	heap_set(h, i, e);
}

static void
heap_down(struct lease_heap *h, size_t i)
{
	struct lease_hent *e = h->v[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->v[c + 1]->key < h->v[c]->key)
			c++;
		if (e->key <= h->v[c]->key)
			break;
		heap_set(h, i, h->v[c]);
		i = c;
	}
	heap_set(h, i, e);
}

static void
heap_resize(struct lease_heap *h, size_t cap)
{
	h->v = xrealloc(h->v, cap * sizeof(*h->v));
	h->cap = cap;
}

static void
heap_push(struct lease_heap *h, struct lease_hent *e)
{
	if (h->n == h->cap)
		heap_resize(h, h->cap > 0 ? h->cap * 2 : LEASE_HEAP_MIN);
	heap_set(h, h->n++, e);
	heap_up(h, e->idx);
}

static void
heap_remove(struct lease_heap *h, struct lease_hent *e)
{
	size_t i = e->idx;
	struct lease_hent *last = h->v[--h->n];

	if (i < h->n) {
		heap_set(h, i, last);
		heap_down(h, i);
		heap_up(h, last->idx);
	}
	if (h->cap > LEASE_HEAP_MIN && h->n < h->cap / 4)
		heap_resize(h, h->cap / 2);
}

static void
heap_rekey(struct lease_heap *h, struct lease_hent *e, uint64_t key)
{
	e->key = key;
	heap_up(h, e->idx);
	heap_down(h, e->idx);
}

static struct lease_hent *
heap_top(const struct lease_heap *h)
{
	return h->n > 0 ? h->v[0] : NULL;
}

static void
heap_free(struct lease_heap *h)
{
	free(h->v);
	memset(h, 0, sizeof(*h));
}

static struct lease_client *
client_find(const struct lease_table *t, uint64_t client)
{
	uint64_t hv = lease_mix(client);
	struct lease_hnode *e;

	for (e = ht_chain(&t->clients, hv); e != NULL; e = e->next) {
		struct lease_client *cl = LEASE_CONTAINER(e, struct lease_client, hn);

		if (e->hv == hv && cl->client == client)
			return cl;
	}
	return NULL;
}

static struct lease_client *
client_get(struct lease_table *t, uint64_t client)
{
	struct lease_client *cl = client_find(t, client);

	if (cl == NULL) {
		cl = xcalloc(1, sizeof(*cl));
		cl->client = client;
		TAILQ_INIT(&cl->holders);
		ht_insert(&t->clients, &cl->hn, lease_mix(client));
	}
	return cl;
}

/* Frees cl when it has no records and owes nothing. */
static void
client_put(struct lease_table *t, struct lease_client *cl)
{
	if (cl->n == 0 && TAILQ_EMPTY(&cl->holders)) {
		ht_remove(&t->clients, &cl->hn);
		free(cl);
	}
}

static struct lease_ino *
ino_find(const struct lease_table *t, uint64_t ino)
{
	uint64_t hv = lease_mix(ino);
	struct lease_hnode *e;

	for (e = ht_chain(&t->inos, hv); e != NULL; e = e->next) {
		struct lease_ino *in = LEASE_CONTAINER(e, struct lease_ino, hn);

		if (e->hv == hv && in->ino == ino)
			return in;
	}
	return NULL;
}

static struct lease_ino *
ino_get(struct lease_table *t, uint64_t ino)
{
	struct lease_ino *in = ino_find(t, ino);

	if (in == NULL) {
		in = xcalloc(1, sizeof(*in));
		in->ino = ino;
		LIST_INIT(&in->recs);
		TAILQ_INIT(&in->groups);
		ht_insert(&t->inos, &in->hn, lease_mix(ino));
	}
	return in;
}

/* Frees in when nothing refers to it any more. */
static void
ino_put(struct lease_table *t, struct lease_ino *in)
{
	if (LIST_EMPTY(&in->recs) && TAILQ_EMPTY(&in->groups)) {
		ht_remove(&t->inos, &in->hn);
		free(in);
	}
}

static struct lease_rec *
rec_find(const struct lease_table *t, uint64_t client, uint64_t ino)
{
	uint64_t hv = lease_hash2(client, ino);
	struct lease_hnode *e;

	for (e = ht_chain(&t->recs, hv); e != NULL; e = e->next) {
		struct lease_rec *r = LEASE_CONTAINER(e, struct lease_rec, hn);

		if (e->hv == hv && r->client == client && r->in->ino == ino)
			return r;
	}
	return NULL;
}

static void
rec_new(struct lease_table *t, uint64_t client, uint64_t ino, uint64_t expiry)
{
	struct lease_rec *r = xcalloc(1, sizeof(*r));
	struct lease_client *cl = client_get(t, client);

	cl->n++;
	r->cl = cl;
	r->client = client;
	r->in = ino_get(t, ino);
	LIST_INSERT_HEAD(&r->in->recs, r, by_ino);
	r->he.key = expiry;
	heap_push(&t->expiry, &r->he);
	ht_insert(&t->recs, &r->hn, lease_hash2(client, ino));
}

/* Takes r out of every table and frees it (and its inode, if unused). */
static void
rec_free(struct lease_table *t, struct lease_rec *r)
{
	struct lease_ino *in = r->in;

	ht_remove(&t->recs, &r->hn);
	heap_remove(&t->expiry, &r->he);
	LIST_REMOVE(r, by_ino);
	r->cl->n--;
	client_put(t, r->cl);
	free(r);
	ino_put(t, in);
}

static struct lease_group *
group_find(const struct lease_table *t, uint64_t id)
{
	uint64_t hv = lease_mix(id);
	struct lease_hnode *e;

	for (e = ht_chain(&t->groups, hv); e != NULL; e = e->next) {
		struct lease_group *g = LEASE_CONTAINER(e, struct lease_group, hn);

		if (e->hv == hv && g->id == id)
			return g;
	}
	return NULL;
}

static struct lease_holder *
holder_find(const struct lease_table *t, uint64_t g, uint64_t client)
{
	uint64_t hv = lease_hash2(g, client);
	struct lease_hnode *e;

	for (e = ht_chain(&t->holders, hv); e != NULL; e = e->next) {
		struct lease_holder *h = LEASE_CONTAINER(e, struct lease_holder, hn);

		if (e->hv == hv && h->client == client && h->g->id == g)
			return h;
	}
	return NULL;
}

/* Forgets the fence once the clock has passed it. */
static void
fence_observe(struct lease_table *t, uint64_t now)
{
	if (t->fence_all_until != 0 && now >= t->fence_all_until)
		t->fence_all_until = 0;
}

/*
 * When g is released by time alone, given that it is ended and not
 * blocked: past its fence and its latest unacknowledged holder's deadline.
 */
static uint64_t
group_ready_at(const struct lease_group *g)
{
	const struct lease_hent *top = heap_top(&g->unacked);
	uint64_t at = g->fence_until;

	if (top != NULL && UINT64_MAX - top->key > at)
		at = UINT64_MAX - top->key;
	return at;
}

static int
group_releasable(const struct lease_group *g, uint64_t now)
{
	return g->ended && g->blocked == 0 && now >= group_ready_at(g);
}

/* Takes g out of the heap it waits in, if any. */
static void
group_unsched(struct lease_table *t, struct lease_group *g)
{
	if (g->sched == LEASE_WAITING)
		heap_remove(&t->waiting, &g->sched_he);
	else if (g->sched == LEASE_READY)
		heap_remove(&t->ready, &g->sched_he);
	g->sched = LEASE_UNSCHEDULED;
}

/*
 * Files g anew after anything that may change whether it waits for an
 * earlier group or when it is ready: ended and unblocked, it waits for
 * its time; else it waits for lease_group_end or for earlier groups.
 */
static void
group_sched(struct lease_table *t, struct lease_group *g)
{
	group_unsched(t, g);
	if (g->ended && g->blocked == 0) {
		g->sched_he.key = group_ready_at(g);
		heap_push(&t->waiting, &g->sched_he);
		g->sched = LEASE_WAITING;
	}
}

/* Frees every holder of g, counting those that ran out. */
static void
group_drop_holders(struct lease_table *t, struct lease_group *g, int count)
{
	struct lease_holder *h;

	while ((h = LIST_FIRST(&g->holders)) != NULL) {
		if (!h->acked && count)
			t->st.ran_out++;
		LIST_REMOVE(h, by_group);
		TAILQ_REMOVE(&h->cl->holders, h, by_client);
		client_put(t, h->cl);
		ht_remove(&t->holders, &h->hn);
		free(h);
	}
	heap_free(&g->unacked);
}

/*
 * Takes g out of the table and frees it; the group that follows it on each
 * of its inodes loses one block.  g must not be blocked (the oldest group
 * never is).
 */
static void
group_free(struct lease_table *t, struct lease_group *g, int released)
{
	struct lease_member *m;

	while ((m = LIST_FIRST(&g->members)) != NULL) {
		struct lease_ino *in = m->in;
		struct lease_member *next;

		if (m == TAILQ_FIRST(&in->groups) && (next = TAILQ_NEXT(m, by_ino)) != NULL &&
		    --next->g->blocked == 0)
			group_sched(t, next->g);
		TAILQ_REMOVE(&in->groups, m, by_ino);
		LIST_REMOVE(m, by_group);
		free(m);
		ino_put(t, in);
	}
	group_unsched(t, g);
	group_drop_holders(t, g, released);
	TAILQ_REMOVE(&t->glist, g, link);
	t->ngroups--;
	ht_remove(&t->groups, &g->hn);
	if (released)
		t->st.released++;
	free(g);
}

struct lease_table *
lease_new(const struct lease_limits *lim)
{
	struct lease_table *t = xcalloc(1, sizeof(*t));

	t->max_records = lim != NULL ? lim->max_records : 0;
	if (t->max_records == 0)
		t->max_records = LEASE_DEFAULT_MAX_RECORDS;
	t->max_per_client = lim != NULL ? lim->max_per_client : 0;
	if (t->max_per_client == 0)
		t->max_per_client = t->max_records / 4;
	if (t->max_per_client == 0)
		t->max_per_client = 1;
	ht_init(&t->recs);
	ht_init(&t->inos);
	ht_init(&t->clients);
	ht_init(&t->groups);
	ht_init(&t->holders);
	TAILQ_INIT(&t->glist);
	t->next_id = 1;
	return t;
}

/* Drops every record and group; the tables stay usable. */
static void
lease_drop_all(struct lease_table *t)
{
	struct lease_group *g;
	struct lease_hent *e;

	/* Oldest first: each is the first group on its inodes by then. */
	while ((g = TAILQ_FIRST(&t->glist)) != NULL)
		group_free(t, g, 0);
	while ((e = heap_top(&t->expiry)) != NULL)
		rec_free(t, LEASE_CONTAINER(e, struct lease_rec, he));
	heap_free(&t->expiry);
	heap_free(&t->waiting);
	heap_free(&t->ready);
}

void
lease_free(struct lease_table *t)
{
	if (t == NULL)
		return;
	lease_drop_all(t);
	free(t->recs.b);
	free(t->inos.b);
	free(t->clients.b);
	free(t->groups.b);
	free(t->holders.b);
	free(t);
}

void
lease_reset(struct lease_table *t)
{
	lease_drop_all(t);
}

int
lease_fenced(const struct lease_table *t, uint64_t ino, uint64_t now)
{
	const struct lease_ino *in;

	if (t->fence_all_until > now)
		return 1;
	in = ino_find(t, ino);
	return in != NULL && !TAILQ_EMPTY(&in->groups);
}

void
lease_expire(struct lease_table *t, uint64_t now)
{
	struct lease_hent *e;

	fence_observe(t, now);
	while ((e = heap_top(&t->expiry)) != NULL && e->key <= now)
		rec_free(t, LEASE_CONTAINER(e, struct lease_rec, he));
}

uint32_t
lease_grant(struct lease_table *t, uint64_t client, uint64_t ino, uint64_t now, uint32_t ms)
{
	struct lease_rec *r;
	struct lease_client *cl;
	uint64_t expiry = now > UINT64_MAX - ms ? UINT64_MAX : now + ms;

	if (ms == 0)
		return 0;
	fence_observe(t, now);
	if (lease_fenced(t, ino, now)) {
		t->st.refused++;
		return 0;
	}
	r = rec_find(t, client, ino);
	if (r != NULL && r->he.key > now) {
		if (expiry > r->he.key)
			heap_rekey(&t->expiry, &r->he, expiry);
		t->st.granted++;
		return ms;
	}
	if (r != NULL)
		rec_free(t, r); /* ran out: absent, so this is a new grant */
	cl = client_find(t, client);
	if (t->recs.n >= t->max_records || (cl != NULL && cl->n >= t->max_per_client)) {
		lease_expire(t, now);
		cl = client_find(t, client);
		if (t->recs.n >= t->max_records || (cl != NULL && cl->n >= t->max_per_client)) {
			t->st.refused++;
			return 0;
		}
	}
	rec_new(t, client, ino, expiry);
	t->st.granted++;
	return ms;
}

void
lease_fence_all(struct lease_table *t, uint64_t until)
{
	struct lease_group *g;

	if (until > t->fence_all_until)
		t->fence_all_until = until;
	for (g = TAILQ_FIRST(&t->glist); g != NULL; g = TAILQ_NEXT(g, link)) {
		if (until > g->fence_until) {
			g->fence_until = until;
			group_sched(t, g);
		}
	}
}

uint64_t
lease_group_begin(struct lease_table *t, uint64_t writer, uint64_t now)
{
	struct lease_group *g = xcalloc(1, sizeof(*g));

	fence_observe(t, now);
	g->id = t->next_id++;
	g->writer = writer;
	g->begin = now;
	g->fence_until = t->fence_all_until > now ? t->fence_all_until : 0;
	LIST_INIT(&g->members);
	LIST_INIT(&g->holders);
	TAILQ_INSERT_TAIL(&t->glist, g, link);
	t->ngroups++;
	ht_insert(&t->groups, &g->hn, lease_mix(g->id));
	return g->id;
}

/*
 * Makes g a member of in's groups, in id order.  Returns the membership,
 * or NULL when g was one already.
 */
static struct lease_member *
group_fence(struct lease_table *t, struct lease_group *g, struct lease_ino *in)
{
	struct lease_member *m, *at;

	at = TAILQ_LAST(&in->groups, lease_members);
	while (at != NULL && at->g->id > g->id)
		at = TAILQ_PREV(at, lease_members, by_ino);
	if (at != NULL && at->g == g)
		return NULL;
	m = xcalloc(1, sizeof(*m));
	m->g = g;
	m->in = in;
	LIST_INSERT_HEAD(&g->members, m, by_group);
	if (at != NULL) {
		TAILQ_INSERT_AFTER(&in->groups, at, m, by_ino);
		g->blocked++;
	} else {
		struct lease_member *first = TAILQ_FIRST(&in->groups);

		TAILQ_INSERT_HEAD(&in->groups, m, by_ino);
		if (first != NULL) {
			first->g->blocked++; /* a later group that was added first */
			group_sched(t, first->g);
		}
	}
	return m;
}

/* Client is recalled by g from a lease that runs out at expiry. */
static void
group_recall(struct lease_table *t, struct lease_group *g, uint64_t client, uint64_t expiry)
{
	struct lease_holder *h = holder_find(t, g->id, client);

	if (h == NULL) {
		struct lease_holder *at;

		h = xcalloc(1, sizeof(*h));
		h->g = g;
		h->cl = client_get(t, client);
		h->client = client;
		h->deadline = expiry;
		h->he.key = UINT64_MAX - expiry;
		LIST_INSERT_HEAD(&g->holders, h, by_group);
		/* In group order; groups are built one at a time, so at the end. */
		at = TAILQ_LAST(&h->cl->holders, lease_client_holders);
		while (at != NULL && at->g->id > g->id)
			at = TAILQ_PREV(at, lease_client_holders, by_client);
		if (at != NULL)
			TAILQ_INSERT_AFTER(&h->cl->holders, at, h, by_client);
		else
			TAILQ_INSERT_HEAD(&h->cl->holders, h, by_client);
		ht_insert(&t->holders, &h->hn, lease_hash2(g->id, client));
		heap_push(&g->unacked, &h->he);
		t->st.recalled++;
	} else if (h->acked) {
		/* It let go of what it had; this lease it must give back anew. */
		h->acked = 0;
		h->deadline = expiry;
		h->he.key = UINT64_MAX - expiry;
		heap_push(&g->unacked, &h->he);
		t->st.acked--;
	} else if (expiry > h->deadline) {
		h->deadline = expiry;
		heap_rekey(&g->unacked, &h->he, UINT64_MAX - expiry);
	}
}

/* The clients one lease_group_add names. */
struct lease_names {
	uint64_t *v;
	size_t n;
	size_t cap;
};

static void
names_add(struct lease_names *nm, uint64_t client)
{
	if (nm->n == nm->cap) {
		nm->cap = nm->cap > 0 ? nm->cap * 2 : 16;
		nm->v = xrealloc(nm->v, nm->cap * sizeof(*nm->v));
	}
	nm->v[nm->n++] = client;
}

static int
names_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Each client once. */
static void
names_unique(struct lease_names *nm)
{
	size_t k = 0;

	if (nm->n < 2)
		return;
	qsort(nm->v, nm->n, sizeof(*nm->v), names_cmp);
	for (size_t i = 0; i < nm->n; i++)
		if (k == 0 || nm->v[i] != nm->v[k - 1])
			nm->v[k++] = nm->v[i];
	nm->n = k;
}

void
lease_group_add(struct lease_table *t, uint64_t gid, uint64_t ino,
		void (*holder)(void *arg, uint64_t client), void *arg)
{
	struct lease_group *g = group_find(t, gid);
	struct lease_ino *in;
	struct lease_member *m, *later;
	struct lease_rec *r, *next;
	struct lease_names nm = {NULL, 0, 0};
	int adopted = 0;

	if (g == NULL)
		return;
	in = ino_get(t, ino);
	m = group_fence(t, g, in); /* in stays while g fences it */
	for (r = LIST_FIRST(&in->recs); r != NULL; r = next) {
		uint64_t client = r->client, expiry = r->he.key;

		next = LIST_NEXT(r, by_ino);
		if (g->writer != 0 && client == g->writer)
			continue;
		rec_free(t, r);
		if (expiry <= g->begin)
			continue; /* ran out: nothing to recall */
		group_recall(t, g, client, expiry);
		names_add(&nm, client);
	}
	/*
	 * Groups built side by side: a later group already on ino took the
	 * leases g would have, and g is released first.  So g waits for
	 * every holder such a group still waits for (whichever inode it was
	 * recalled from: more than needed, never less).
	 */
	for (later = m != NULL ? TAILQ_NEXT(m, by_ino) : NULL; later != NULL;
	     later = TAILQ_NEXT(later, by_ino)) {
		struct lease_holder *h;

		for (h = LIST_FIRST(&later->g->holders); h != NULL; h = LIST_NEXT(h, by_group)) {
			if (h->acked || (g->writer != 0 && h->client == g->writer) ||
			    h->deadline <= g->begin)
				continue;
			group_recall(t, g, h->client, h->deadline);
			names_add(&nm, h->client);
			adopted = 1;
		}
	}
	group_sched(t, g); /* when it is ready, and whether it is blocked */
	if (adopted)
		names_unique(&nm); /* records are one per client: no duplicates else */
	if (holder != NULL)
		for (size_t i = 0; i < nm.n; i++)
			holder(arg, nm.v[i]);
	free(nm.v);
}

int
lease_group_end(struct lease_table *t, uint64_t gid, uint64_t now)
{
	struct lease_group *g = group_find(t, gid);

	if (g == NULL)
		return 0;
	fence_observe(t, now);
	g->ended = 1;
	if (group_releasable(g, now)) {
		group_free(t, g, 1);
		return 0;
	}
	group_sched(t, g);
	return 1;
}

void
lease_ack(struct lease_table *t, uint64_t g, uint64_t client, uint64_t now)
{
	struct lease_holder *h = holder_find(t, g, client);

	(void)now;
	if (h == NULL || h->acked)
		return;
	h->acked = 1;
	heap_remove(&h->g->unacked, &h->he);
	t->st.acked++;
	group_sched(t, h->g);
}

int
lease_pending(const struct lease_table *t, uint64_t g, uint64_t client)
{
	const struct lease_holder *h = holder_find(t, g, client);

	return h != NULL && !h->acked;
}

/*
 * The ended groups that no earlier group blocks wait in t->waiting by the
 * time they are ready at.  Those whose time came move to t->ready, by id,
 * the lowest of which is released.  Whatever changes a group files it
 * anew in t->waiting (group_sched), so a group in t->ready is ready.
 */
uint64_t
lease_next_released(struct lease_table *t, uint64_t now)
{
	struct lease_hent *e;

	fence_observe(t, now);
	for (;;) {
		struct lease_group *g;
		uint64_t id;

		while ((e = heap_top(&t->waiting)) != NULL && e->key <= now) {
			g = LEASE_CONTAINER(e, struct lease_group, sched_he);
			heap_remove(&t->waiting, e);
			e->key = g->id;
			heap_push(&t->ready, e);
			g->sched = LEASE_READY;
		}
		if ((e = heap_top(&t->ready)) == NULL)
			return 0;
		g = LEASE_CONTAINER(e, struct lease_group, sched_he);
		if (!group_releasable(g, now)) {
			group_sched(t, g); /* found ready by a later clock */
			continue;
		}
		id = g->id;
		group_free(t, g, 1);
		return id;
	}
}

uint64_t
lease_next_deadline(const struct lease_table *t)
{
	const struct lease_hent *e;
	uint64_t next = t->fence_all_until, at;

	/*
	 * Only groups that time alone can release count: a blocked group
	 * waits for the one before it, whatever its own deadline says.
	 */
	if ((e = heap_top(&t->waiting)) != NULL && (at = e->key) != 0 && (next == 0 || at < next))
		next = at;
	if ((e = heap_top(&t->ready)) != NULL &&
	    (at = group_ready_at(LEASE_CONTAINER(e, const struct lease_group, sched_he))) != 0 &&
	    (next == 0 || at < next))
		next = at;
	return next;
}

void
lease_each_pending(const struct lease_table *t, uint64_t client, void (*fn)(void *arg, uint64_t g),
		   void *arg)
{
	const struct lease_client *cl = client_find(t, client);
	const struct lease_holder *h;
	uint64_t *ids = NULL;
	size_t n = 0, cap = 0;

	if (cl == NULL)
		return;
	for (h = TAILQ_FIRST(&cl->holders); h != NULL; h = TAILQ_NEXT(h, by_client)) {
		if (h->acked)
			continue;
		if (n == cap) {
			cap = cap > 0 ? cap * 2 : 16;
			ids = xrealloc(ids, cap * sizeof(*ids));
		}
		ids[n++] = h->g->id;
	}
	for (size_t i = 0; i < n; i++)
		fn(arg, ids[i]);
	free(ids);
}

void
lease_get_stats(const struct lease_table *t, struct lease_stats *st)
{
	*st = t->st;
	st->records = t->recs.n;
	st->groups = t->ngroups;
}
