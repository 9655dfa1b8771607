/*
 * Leases and recall groups (replication/lease.c): grants within limits,
 * expiry, recalls that spare the writer, release on acknowledgement or on
 * the holder's own deadline, fences, release order on shared inodes,
 * lease_fence_all, and a random walk checked against a brute-force model
 * and against what the clients could still have in their caches.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "replication/lease.h"

/* The clients a lease_group_add named, in the order named. */
struct names {
	size_t n;
	uint64_t c[256];
};

static void
name_cb(void *arg, uint64_t client)
{
	struct names *nm = arg;

	assert_true(nm->n < sizeof(nm->c) / sizeof(nm->c[0]));
	nm->c[nm->n++] = client;
}

static size_t
count_named(const struct names *nm, uint64_t client)
{
	size_t k = 0;

	for (size_t i = 0; i < nm->n; i++)
		if (nm->c[i] == client)
			k++;
	return k;
}

/* Groups listed by lease_each_pending. */
struct glist {
	size_t n;
	uint64_t g[256];
};

static void
glist_cb(void *arg, uint64_t g)
{
	struct glist *l = arg;

	assert_true(l->n < sizeof(l->g) / sizeof(l->g[0]));
	l->g[l->n++] = g;
}

static struct glist
pending_of(const struct lease_table *t, uint64_t client)
{
	struct glist l;

	memset(&l, 0, sizeof(l));
	lease_each_pending(t, client, glist_cb, &l);
	return l;
}

static struct lease_stats
stats(const struct lease_table *t)
{
	struct lease_stats st;

	lease_get_stats(t, &st);
	return st;
}

static struct lease_table *
table(uint32_t max_records, uint32_t max_per_client)
{
	struct lease_limits lim = {.max_records = max_records, .max_per_client = max_per_client};

	return lease_new(&lim);
}

/* A group of one inode, ended at once; its holders in *nm. */
static uint64_t
group1(struct lease_table *t, uint64_t writer, uint64_t ino, uint64_t now, struct names *nm,
       int *waits)
{
	uint64_t g = lease_group_begin(t, writer, now);

	memset(nm, 0, sizeof(*nm));
	lease_group_add(t, g, ino, name_cb, nm);
	*waits = lease_group_end(t, g, now);
	return g;
}

/* A grant returns ms; a second one extends; stats count both. */
static void
test_grant_extend(void **state)
{
	struct lease_table *t = table(0, 0);
	struct names nm;
	int waits;

	(void)state;
	assert_int_equal(lease_grant(t, 1, 10, 0, 100), 100);
	assert_int_equal(lease_grant(t, 1, 10, 50, 100), 100); /* now runs to 150 */
	assert_int_equal(lease_grant(t, 2, 10, 0, 30), 30);
	assert_int_equal(stats(t).records, 2);
	assert_int_equal(stats(t).granted, 3);
	assert_int_equal(stats(t).refused, 0);

	/* The extension counts: at 120 client 1 still holds it, client 2 not. */
	lease_group_add(t, 0, 10, name_cb, &nm); /* unknown group: ignored */
	assert_int_equal(stats(t).records, 2);
	group1(t, 0, 10, 120, &nm, &waits);
	assert_int_equal(nm.n, 1);
	assert_int_equal(count_named(&nm, 1), 1);
	assert_int_equal(waits, 1);
	assert_int_equal(lease_next_deadline(t), 150);
	assert_int_equal(lease_next_released(t, 149), 0);
	assert_int_equal(lease_next_released(t, 150), 1);
	assert_int_equal(stats(t).records, 0); /* taken, and the expired one freed */
	lease_free(t);
}

/* A shorter extension does not shorten the lease. */
static void
test_extend_keeps_later_expiry(void **state)
{
	struct lease_table *t = table(0, 0);
	struct names nm;
	int waits;

	(void)state;
	assert_int_equal(lease_grant(t, 1, 10, 0, 100), 100);
	assert_int_equal(lease_grant(t, 1, 10, 50, 10), 10);
	lease_expire(t, 70);
	assert_int_equal(stats(t).records, 1);
	group1(t, 0, 10, 70, &nm, &waits);
	assert_int_equal(nm.n, 1);
	assert_int_equal(waits, 1);
	assert_int_equal(lease_next_deadline(t), 100);
	lease_free(t);
}

/* Limits: in all and per client; an extension never fails on them. */
static void
test_limits(void **state)
{
	struct lease_table *t = table(4, 2);

	(void)state;
	assert_int_equal(lease_grant(t, 1, 1, 0, 100), 100);
	assert_int_equal(lease_grant(t, 1, 2, 0, 100), 100);
	assert_int_equal(lease_grant(t, 1, 3, 0, 100), 0);    /* per client */
	assert_int_equal(lease_grant(t, 1, 1, 10, 100), 100); /* extension */
	assert_int_equal(lease_grant(t, 2, 1, 0, 50), 50);
	assert_int_equal(lease_grant(t, 2, 2, 0, 50), 50);
	assert_int_equal(lease_grant(t, 3, 1, 0, 100), 0);    /* in all */
	assert_int_equal(lease_grant(t, 1, 2, 20, 100), 100); /* extension at the limit */
	assert_int_equal(stats(t).refused, 2);
	assert_int_equal(stats(t).granted, 6);
	assert_int_equal(stats(t).records, 4);

	/* Client 2's leases ran out: a grant frees them to make room. */
	assert_int_equal(lease_grant(t, 3, 1, 50, 100), 100);
	assert_int_equal(stats(t).records, 3);
	assert_int_equal(lease_grant(t, 3, 2, 50, 100), 100);
	assert_int_equal(lease_grant(t, 3, 3, 50, 100), 0); /* per client again */
	assert_int_equal(lease_grant(t, 4, 3, 50, 100), 0); /* in all */
	assert_int_equal(stats(t).refused, 4);

	/* A grant of 0 ms grants nothing. */
	assert_int_equal(lease_grant(t, 5, 5, 50, 0), 0);
	assert_int_equal(stats(t).records, 4);
	lease_free(t);
}

/* Per client: its own leases that ran out do not count against it. */
static void
test_limit_per_client_frees_own_expired(void **state)
{
	struct lease_table *t = table(100, 2);

	(void)state;
	assert_int_equal(lease_grant(t, 1, 1, 0, 10), 10);
	assert_int_equal(lease_grant(t, 1, 2, 0, 100), 100);
	assert_int_equal(lease_grant(t, 1, 3, 5, 100), 0);
	assert_int_equal(lease_grant(t, 1, 3, 10, 100), 100); /* 1 on 1 ran out */
	assert_int_equal(stats(t).records, 2);
	lease_free(t);
}

/* Zero limits take the defaults: max_records / 4 per client. */
static void
test_default_limits(void **state)
{
	struct lease_table *t = table(8, 0);
	struct lease_table *d = lease_new(NULL);

	(void)state;
	assert_int_equal(lease_grant(t, 1, 1, 0, 10), 10);
	assert_int_equal(lease_grant(t, 1, 2, 0, 10), 10);
	assert_int_equal(lease_grant(t, 1, 3, 0, 10), 0);
	for (uint64_t i = 0; i < 1000; i++)
		assert_int_equal(lease_grant(d, 1, i, 0, 10), 10);
	assert_int_equal(stats(d).records, 1000);
	lease_free(t);
	lease_free(d);
}

/* Records run out at their expiry and are freed by lease_expire. */
static void
test_expiry(void **state)
{
	struct lease_table *t = table(0, 0);
	struct names nm;
	int waits;

	(void)state;
	for (uint64_t i = 0; i < 100; i++)
		assert_int_equal(lease_grant(t, 1 + i % 7, i, i, 100), 100);
	lease_expire(t, 99);
	assert_int_equal(stats(t).records, 100);
	lease_expire(t, 100);
	assert_int_equal(stats(t).records, 99);
	lease_expire(t, 149);
	assert_int_equal(stats(t).records, 50);
	lease_expire(t, 1000);
	assert_int_equal(stats(t).records, 0);

	/* A lease that ran out is not recalled, even before lease_expire. */
	assert_int_equal(lease_grant(t, 1, 5, 1000, 100), 100);
	group1(t, 0, 5, 1100, &nm, &waits);
	assert_int_equal(nm.n, 0);
	assert_int_equal(waits, 0);
	assert_int_equal(stats(t).recalled, 0);
	assert_int_equal(stats(t).records, 0);
	lease_free(t);
}

/* A group with no holders is released at once and fences nothing after. */
static void
test_group_no_holders(void **state)
{
	struct lease_table *t = table(0, 0);
	uint64_t g;

	(void)state;
	g = lease_group_begin(t, 3, 10);
	assert_int_equal(g, 1);
	lease_group_add(t, g, 7, name_cb, NULL); /* NULL names are never called */
	lease_group_add(t, g, 8, NULL, NULL);
	assert_true(lease_fenced(t, 7, 10));
	assert_true(lease_fenced(t, 8, 10));
	assert_int_equal(stats(t).groups, 1);
	assert_int_equal(lease_group_end(t, g, 10), 0);
	assert_false(lease_fenced(t, 7, 10));
	assert_false(lease_fenced(t, 8, 10));
	assert_int_equal(stats(t).groups, 0);
	assert_int_equal(stats(t).released, 1);
	assert_int_equal(lease_next_released(t, 10), 0);
	assert_int_equal(lease_next_deadline(t), 0);
	assert_int_equal(lease_group_end(t, g, 11), 0); /* gone */
	assert_int_equal(lease_group_begin(t, 0, 11), 2);
	lease_free(t);
}

/* Every holder but the writer is recalled; the writer keeps its lease. */
static void
test_recall_spares_writer(void **state)
{
	struct lease_table *t = table(0, 0);
	struct names nm;
	int waits;
	uint64_t g;

	(void)state;
	assert_int_equal(lease_grant(t, 1, 10, 0, 100), 100);
	assert_int_equal(lease_grant(t, 2, 10, 0, 100), 100);
	assert_int_equal(lease_grant(t, 3, 10, 0, 100), 100);
	assert_int_equal(lease_grant(t, 1, 11, 0, 100), 100); /* other inode */
	g = group1(t, 2, 10, 10, &nm, &waits);
	assert_int_equal(waits, 1);
	assert_int_equal(nm.n, 2);
	assert_int_equal(count_named(&nm, 1), 1);
	assert_int_equal(count_named(&nm, 3), 1);
	assert_int_equal(count_named(&nm, 2), 0);
	assert_true(lease_pending(t, g, 1));
	assert_true(lease_pending(t, g, 3));
	assert_false(lease_pending(t, g, 2));
	assert_false(lease_pending(t, g + 1, 1));
	assert_int_equal(stats(t).records, 2); /* the writer's, and 1 on 11 */
	assert_int_equal(stats(t).recalled, 2);

	/* Acks release it; then the writer's lease is recalled by the next. */
	lease_ack(t, g, 1, 20);
	lease_ack(t, g, 1, 20);  /* twice: once */
	lease_ack(t, g, 2, 20);  /* not a holder */
	lease_ack(t, 99, 3, 20); /* no such group */
	assert_int_equal(stats(t).acked, 1);
	assert_int_equal(lease_next_released(t, 20), 0);
	lease_ack(t, g, 3, 21);
	assert_int_equal(lease_next_released(t, 21), g);
	assert_int_equal(lease_next_released(t, 21), 0);
	assert_false(lease_pending(t, g, 1));
	g = group1(t, 0, 10, 30, &nm, &waits);
	assert_int_equal(nm.n, 1);
	assert_int_equal(count_named(&nm, 2), 1);
	assert_int_equal(waits, 1);
	assert_int_equal(stats(t).records, 1);
	lease_free(t);
}

/* Acknowledgements release a group; it is fenced until then. */
static void
test_ack_releases(void **state)
{
	struct lease_table *t = table(0, 0);
	struct names nm;
	int waits;
	uint64_t g;
	struct lease_stats st;

	(void)state;
	assert_int_equal(lease_grant(t, 1, 10, 0, 1000), 1000);
	assert_int_equal(lease_grant(t, 2, 10, 0, 1000), 1000);
	g = group1(t, 9, 10, 5, &nm, &waits);
	assert_int_equal(waits, 1);
	assert_int_equal(nm.n, 2);
	assert_true(lease_fenced(t, 10, 5));
	assert_false(lease_fenced(t, 11, 5));
	assert_int_equal(lease_grant(t, 3, 10, 6, 100), 0);
	assert_int_equal(lease_grant(t, 9, 10, 6, 100), 0); /* the writer too */
	assert_int_equal(lease_grant(t, 3, 11, 6, 100), 100);
	lease_ack(t, g, 2, 7);
	assert_int_equal(lease_next_released(t, 7), 0);
	assert_true(lease_fenced(t, 10, 7));
	lease_ack(t, g, 1, 8);
	assert_int_equal(lease_next_released(t, 8), g);
	assert_false(lease_fenced(t, 10, 8));
	assert_int_equal(lease_grant(t, 3, 10, 8, 100), 100);
	st = stats(t);
	assert_int_equal(st.recalled, 2);
	assert_int_equal(st.acked, 2);
	assert_int_equal(st.ran_out, 0);
	assert_int_equal(st.released, 1);
	assert_int_equal(st.refused, 2);
	assert_int_equal(st.groups, 0);
	lease_free(t);
}

/* Without an ack a group waits until the holder's lease runs out, no later. */
static void
test_deadline_release(void **state)
{
	struct lease_table *t = table(0, 0);
	struct names nm;
	int waits;
	uint64_t g;

	(void)state;
	assert_int_equal(lease_grant(t, 1, 10, 0, 100), 100);
	assert_int_equal(lease_grant(t, 2, 10, 0, 300), 300);
	g = group1(t, 0, 10, 50, &nm, &waits);
	assert_int_equal(waits, 1);
	assert_int_equal(lease_next_deadline(t), 300);
	lease_ack(t, g, 2, 60);
	assert_int_equal(lease_next_deadline(t), 100); /* only client 1 is waited for */
	assert_int_equal(lease_next_released(t, 99), 0);
	assert_true(lease_pending(t, g, 1));
	assert_int_equal(lease_next_released(t, 100), g);
	assert_int_equal(lease_next_deadline(t), 0);
	assert_int_equal(stats(t).ran_out, 1);
	assert_int_equal(stats(t).acked, 1);
	lease_ack(t, g, 1, 101); /* late: ignored */
	assert_int_equal(stats(t).acked, 1);

	/* Ending after every holder ran out releases at once. */
	assert_int_equal(lease_grant(t, 1, 20, 200, 10), 10);
	g = lease_group_begin(t, 0, 205);
	lease_group_add(t, g, 20, name_cb, &nm);
	assert_int_equal(lease_group_end(t, g, 210), 0);
	assert_int_equal(stats(t).ran_out, 2);
	lease_free(t);
}

/* A client named for two inodes of one group owes one acknowledgement. */
static void
test_holder_twice(void **state)
{
	struct lease_table *t = table(0, 0);
	struct names nm;
	uint64_t g;

	(void)state;
	memset(&nm, 0, sizeof(nm));
	assert_int_equal(lease_grant(t, 1, 10, 0, 100), 100);
	assert_int_equal(lease_grant(t, 1, 11, 0, 200), 200);
	g = lease_group_begin(t, 0, 10);
	lease_group_add(t, g, 10, name_cb, &nm);
	lease_group_add(t, g, 11, name_cb, &nm);
	lease_group_add(t, g, 11, name_cb, &nm); /* again: nothing new */
	assert_int_equal(count_named(&nm, 1), 2);
	assert_int_equal(lease_group_end(t, g, 10), 1);
	assert_int_equal(stats(t).recalled, 1);
	assert_int_equal(lease_next_deadline(t), 200);
	lease_ack(t, g, 1, 20);
	assert_int_equal(lease_next_released(t, 20), g);
	assert_false(lease_fenced(t, 10, 20));
	assert_false(lease_fenced(t, 11, 20));
	lease_free(t);
}

/* A client that acknowledged and is then named again owes a new ack. */
static void
test_rearm_after_ack(void **state)
{
	struct lease_table *t = table(0, 0);
	struct names nm;
	uint64_t g;

	(void)state;
	memset(&nm, 0, sizeof(nm));
	assert_int_equal(lease_grant(t, 1, 10, 0, 100), 100);
	assert_int_equal(lease_grant(t, 1, 11, 0, 100), 100);
	g = lease_group_begin(t, 0, 10);
	lease_group_add(t, g, 10, name_cb, &nm);
	lease_ack(t, g, 1, 11);
	assert_false(lease_pending(t, g, 1));
	lease_group_add(t, g, 11, name_cb, &nm);
	assert_true(lease_pending(t, g, 1));
	assert_int_equal(lease_group_end(t, g, 12), 1);
	assert_int_equal(stats(t).acked, 0);
	lease_ack(t, g, 1, 13);
	assert_int_equal(lease_next_released(t, 13), g);
	assert_int_equal(stats(t).acked, 1);
	assert_int_equal(stats(t).recalled, 1);
	lease_free(t);
}

/* An inode added after lease_group_end still counts (a caller's lapse). */
static void
test_add_after_end(void **state)
{
	struct lease_table *t = table(0, 0);
	struct names nm;
	int waits;
	uint64_t g1, g2;

	(void)state;
	assert_int_equal(lease_grant(t, 1, 1, 0, 100), 100);
	assert_int_equal(lease_grant(t, 2, 2, 0, 300), 300);
	assert_int_equal(lease_grant(t, 3, 3, 0, 200), 200);
	g1 = group1(t, 0, 1, 10, &nm, &waits);
	assert_int_equal(waits, 1);
	assert_int_equal(lease_next_deadline(t), 100);
	lease_group_add(t, g1, 2, name_cb, &nm);
	assert_int_equal(count_named(&nm, 2), 1);
	assert_int_equal(lease_next_deadline(t), 300);
	assert_int_equal(lease_next_released(t, 100), 0);

	/*
	 * g2 took client 3's lease and waits for it; g1, added to g2's inode
	 * after, comes first there and so waits for client 3 as well.
	 */
	g2 = lease_group_begin(t, 0, 20);
	lease_group_add(t, g2, 6, NULL, NULL);
	lease_group_add(t, g2, 3, NULL, NULL);
	assert_int_equal(lease_group_end(t, g2, 20), 1);
	assert_int_equal(lease_next_deadline(t), 200);
	assert_false(lease_pending(t, g1, 3));
	memset(&nm, 0, sizeof(nm));
	lease_group_add(t, g1, 6, name_cb, &nm);
	assert_int_equal(nm.n, 1);
	assert_int_equal(count_named(&nm, 3), 1);
	assert_true(lease_pending(t, g1, 3));
	assert_int_equal(lease_next_deadline(t), 300); /* g2 is blocked now */
	lease_ack(t, g2, 3, 30);
	assert_int_equal(lease_next_released(t, 200), 0);
	assert_int_equal(lease_next_released(t, 300), g1);
	assert_int_equal(lease_next_released(t, 300), g2);
	lease_free(t);
}

/*
 * Order: group 2 shares an inode with group 1, which waits; group 2 waits
 * for it although it has no holders.  A group on other inodes is not held.
 */
static void
test_order_shared_inode(void **state)
{
	struct lease_table *t = table(0, 0);
	struct names nm;
	uint64_t g1, g2, g3, g4;

	(void)state;
	memset(&nm, 0, sizeof(nm));
	assert_int_equal(lease_grant(t, 1, 10, 0, 100), 100);
	g1 = lease_group_begin(t, 0, 10);
	lease_group_add(t, g1, 10, name_cb, &nm);
	assert_int_equal(lease_group_end(t, g1, 10), 1);

	g2 = lease_group_begin(t, 0, 11);
	lease_group_add(t, g2, 20, name_cb, &nm);
	lease_group_add(t, g2, 10, name_cb, &nm);
	assert_int_equal(lease_group_end(t, g2, 11), 1);
	assert_true(lease_fenced(t, 20, 11)); /* fenced by g2 while it waits */

	g3 = lease_group_begin(t, 0, 12);
	lease_group_add(t, g3, 30, name_cb, &nm);
	assert_int_equal(lease_group_end(t, g3, 12), 0);

	/* g4 waits for g2 through inode 20 only. */
	g4 = lease_group_begin(t, 0, 13);
	lease_group_add(t, g4, 20, name_cb, &nm);
	assert_int_equal(lease_group_end(t, g4, 13), 1);

	/* g1's deadline is the only one that counts while g2 and g4 wait. */
	assert_int_equal(lease_next_deadline(t), 100);
	assert_int_equal(lease_next_released(t, 50), 0);
	lease_ack(t, g1, 1, 60);
	assert_int_equal(lease_next_released(t, 60), g1);
	assert_int_equal(lease_next_released(t, 60), g2);
	assert_int_equal(lease_next_released(t, 60), g4);
	assert_int_equal(lease_next_released(t, 60), 0);
	assert_false(lease_fenced(t, 10, 60));
	assert_false(lease_fenced(t, 20, 60));
	assert_int_equal(stats(t).released, 4);
	lease_free(t);
}

/* A later group on an inode waits even when it was added there first. */
static void
test_order_interleaved_build(void **state)
{
	struct lease_table *t = table(0, 0);
	uint64_t g1, g2;

	(void)state;
	g1 = lease_group_begin(t, 0, 10);
	g2 = lease_group_begin(t, 0, 10);
	lease_group_add(t, g2, 5, NULL, NULL);
	assert_int_equal(lease_group_end(t, g2, 10), 0); /* nothing before it yet */

	g2 = lease_group_begin(t, 0, 10);
	lease_group_add(t, g2, 6, NULL, NULL);
	lease_group_add(t, g1, 6, NULL, NULL);
	assert_int_equal(lease_group_end(t, g2, 10), 1); /* g1 is earlier on 6 */
	assert_int_equal(lease_next_released(t, 10), 0); /* g1 is not ended */
	assert_int_equal(lease_next_deadline(t), 0);
	assert_int_equal(lease_group_end(t, g1, 11), 0);
	assert_int_equal(lease_next_released(t, 11), g2);
	assert_false(lease_fenced(t, 6, 11));
	lease_free(t);
}

/* Among groups releasable at once, the lower id goes first. */
static void
test_order_by_id_among_releasable(void **state)
{
	struct lease_table *t = table(0, 0);
	struct names nm;
	int waits;
	uint64_t g1, g2;

	(void)state;
	assert_int_equal(lease_grant(t, 1, 1, 0, 100), 100);
	assert_int_equal(lease_grant(t, 1, 2, 0, 50), 50);
	g1 = group1(t, 0, 1, 10, &nm, &waits);
	assert_int_equal(waits, 1);
	g2 = group1(t, 0, 2, 10, &nm, &waits);
	assert_int_equal(waits, 1);
	assert_int_equal(lease_next_deadline(t), 50);
	assert_int_equal(lease_next_released(t, 60), g2); /* g1 still waits */
	assert_int_equal(lease_next_released(t, 60), 0);

	assert_int_equal(lease_grant(t, 2, 2, 60, 100), 100);
	g2 = group1(t, 0, 2, 70, &nm, &waits);
	assert_int_equal(waits, 1);
	assert_int_equal(lease_next_deadline(t), 100);
	assert_int_equal(lease_next_released(t, 500), g1);
	assert_int_equal(lease_next_released(t, 500), g2);
	assert_int_equal(lease_next_released(t, 500), 0);

	/* Both found ready at 800; asked at 650 (a clock gone back), g2 waits. */
	assert_int_equal(lease_grant(t, 1, 1, 500, 100), 100);
	assert_int_equal(lease_grant(t, 1, 2, 500, 200), 200);
	g1 = group1(t, 0, 1, 510, &nm, &waits);
	g2 = group1(t, 0, 2, 510, &nm, &waits);
	assert_int_equal(lease_next_released(t, 800), g1);
	assert_int_equal(lease_next_released(t, 650), 0);
	assert_int_equal(lease_next_deadline(t), 700);
	assert_int_equal(lease_next_released(t, 700), g2);
	lease_free(t);
}

/* lease_fence_all: no grants, reads wait, groups last until then. */
static void
test_fence_all(void **state)
{
	struct lease_table *t = table(0, 0);
	uint64_t g1, g2, g3;

	(void)state;
	g1 = lease_group_begin(t, 0, 100); /* before the fence: held too */
	lease_group_add(t, g1, 1, NULL, NULL);
	lease_fence_all(t, 1000);
	lease_fence_all(t, 900); /* never shortens */
	assert_int_equal(lease_grant(t, 1, 5, 500, 100), 0);
	assert_int_equal(stats(t).refused, 1);
	assert_true(lease_fenced(t, 5, 500));
	assert_true(lease_fenced(t, 5, 999));
	assert_false(lease_fenced(t, 5, 1000));
	assert_int_equal(lease_group_end(t, g1, 500), 1);
	g2 = lease_group_begin(t, 0, 500);
	lease_group_add(t, g2, 2, NULL, NULL);
	assert_int_equal(lease_group_end(t, g2, 500), 1);
	assert_int_equal(lease_next_deadline(t), 1000);
	assert_int_equal(lease_next_released(t, 999), 0);
	assert_int_equal(lease_next_released(t, 1000), g1);
	assert_int_equal(lease_next_released(t, 1000), g2);
	assert_int_equal(lease_next_released(t, 1000), 0);
	assert_int_equal(lease_next_deadline(t), 0);
	assert_int_equal(lease_grant(t, 1, 5, 1000, 100), 100);
	g3 = lease_group_begin(t, 0, 1000);
	lease_group_add(t, g3, 3, NULL, NULL);
	assert_int_equal(lease_group_end(t, g3, 1000), 0);

	/* The fence alone: reported until a call with a clock sees it passed. */
	lease_fence_all(t, 2000);
	assert_int_equal(lease_next_deadline(t), 2000);
	assert_int_equal(lease_next_released(t, 1500), 0);
	assert_int_equal(lease_next_deadline(t), 2000);
	assert_int_equal(lease_next_released(t, 2000), 0);
	assert_int_equal(lease_next_deadline(t), 0);

	/* A group with holders waits for the later of the fence and them. */
	assert_int_equal(lease_grant(t, 1, 7, 2000, 500), 500);
	lease_fence_all(t, 2300);
	g1 = lease_group_begin(t, 0, 2100);
	lease_group_add(t, g1, 7, NULL, NULL);
	assert_int_equal(lease_group_end(t, g1, 2100), 1);
	assert_int_equal(lease_next_deadline(t), 2300);
	assert_int_equal(lease_next_released(t, 2300), 0);
	assert_int_equal(lease_next_deadline(t), 2500);
	lease_ack(t, g1, 1, 2301);
	assert_int_equal(lease_next_released(t, 2301), g1);
	lease_free(t);
}

/* lease_each_pending: a client's unacknowledged groups, oldest first. */
static void
test_each_pending(void **state)
{
	struct lease_table *t = table(0, 0);
	struct names nm;
	int waits;
	uint64_t g[4];
	struct glist l;

	(void)state;
	for (uint64_t i = 0; i < 4; i++) {
		assert_int_equal(lease_grant(t, 1, 10 + i, 0, 100 + i), 100 + i);
		assert_int_equal(lease_grant(t, 2, 10 + i, 0, 100), 100);
	}
	for (uint64_t i = 0; i < 4; i++) {
		g[i] = group1(t, i == 2 ? 1 : 0, 10 + i, 5, &nm, &waits);
		assert_int_equal(waits, 1);
	}
	lease_ack(t, g[1], 1, 6);
	l = pending_of(t, 1);
	assert_int_equal(l.n, 2); /* g[2]: client 1 was its writer */
	assert_int_equal(l.g[0], g[0]);
	assert_int_equal(l.g[1], g[3]);
	l = pending_of(t, 2);
	assert_int_equal(l.n, 4);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(l.g[i], g[i]);
	l = pending_of(t, 3);
	assert_int_equal(l.n, 0);

	/* Released groups are not listed. */
	lease_ack(t, g[0], 1, 7);
	lease_ack(t, g[0], 2, 7);
	assert_int_equal(lease_next_released(t, 7), g[0]);
	assert_int_equal(lease_next_released(t, 7), 0);
	l = pending_of(t, 2);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.g[0], g[1]);
	assert_int_equal(lease_next_released(t, 103), g[1]);
	assert_int_equal(lease_next_released(t, 103), g[2]);
	assert_int_equal(lease_next_released(t, 103), g[3]);
	l = pending_of(t, 1);
	assert_int_equal(l.n, 0);
	lease_free(t);
}

/* lease_reset drops every lease and group; ids go on; the fence stays. */
static void
test_reset(void **state)
{
	struct lease_table *t = table(0, 0);
	struct names nm;
	int waits;
	uint64_t g, g2;
	struct lease_stats st;

	(void)state;
	for (uint64_t i = 0; i < 50; i++)
		assert_int_equal(lease_grant(t, 1 + i % 5, i % 10, 0, 100), 100);
	g = group1(t, 0, 3, 5, &nm, &waits);
	assert_int_equal(waits, 1);
	g2 = lease_group_begin(t, 0, 5);
	lease_group_add(t, g2, 3, NULL, NULL);
	lease_fence_all(t, 50);
	lease_reset(t);
	st = stats(t);
	assert_int_equal(st.records, 0);
	assert_int_equal(st.groups, 0);
	assert_int_equal(st.granted, 50);
	assert_false(lease_pending(t, g, 1));
	assert_false(lease_fenced(t, 3, 50));
	assert_true(lease_fenced(t, 4, 49)); /* the fence stays */
	assert_int_equal(lease_next_deadline(t), 50);
	lease_ack(t, g, 1, 50);
	assert_int_equal(lease_group_end(t, g2, 50), 0);
	assert_int_equal(lease_next_released(t, 50), 0);
	assert_int_equal(lease_next_deadline(t), 0);
	assert_int_equal(lease_group_begin(t, 0, 50), g2 + 1);
	assert_int_equal(stats(t).released, 0);

	/* The table works as before. */
	assert_int_equal(lease_grant(t, 1, 3, 60, 100), 100);
	g = group1(t, 0, 3, 70, &nm, &waits);
	assert_int_equal(nm.n, 1);
	assert_int_equal(waits, 1);
	assert_int_equal(lease_next_released(t, 160), g);
	lease_reset(t);
	lease_free(t);
}

/* lease_next_deadline: 0 with nothing to wait for; unended groups do not count. */
static void
test_next_deadline(void **state)
{
	struct lease_table *t = table(0, 0);
	uint64_t g1, g2;

	(void)state;
	assert_int_equal(lease_next_deadline(t), 0);
	assert_int_equal(lease_grant(t, 1, 1, 0, 100), 100);
	assert_int_equal(lease_grant(t, 2, 1, 0, 200), 200);
	assert_int_equal(lease_grant(t, 3, 2, 0, 50), 50);
	g1 = lease_group_begin(t, 0, 10);
	lease_group_add(t, g1, 1, NULL, NULL);
	assert_int_equal(lease_next_deadline(t), 0); /* not ended */
	assert_int_equal(lease_group_end(t, g1, 10), 1);
	assert_int_equal(lease_next_deadline(t), 200);
	lease_ack(t, g1, 2, 20);
	assert_int_equal(lease_next_deadline(t), 100);

	/* g2 (deadline 50) waits behind g1: its deadline would wake no one. */
	g2 = lease_group_begin(t, 0, 20);
	lease_group_add(t, g2, 2, NULL, NULL);
	lease_group_add(t, g2, 1, NULL, NULL);
	assert_int_equal(lease_group_end(t, g2, 20), 1);
	assert_int_equal(lease_next_deadline(t), 100);
	assert_int_equal(lease_next_released(t, 60), 0);
	assert_int_equal(lease_next_deadline(t), 100);
	assert_int_equal(lease_next_released(t, 100), g1);
	assert_int_equal(lease_next_released(t, 100), g2); /* its own ran out at 50 */
	assert_int_equal(lease_next_deadline(t), 0);
	lease_free(t);
}

/* A group of many inodes, and many holders: no cap drops any. */
static void
test_large_group(void **state)
{
	struct lease_table *t = table(0, 0);
	struct names *nm = calloc(1, sizeof(*nm));
	uint64_t g;
	struct glist l;

	(void)state;
	assert_non_null(nm);
	for (uint64_t c = 1; c <= 200; c++)
		assert_int_equal(lease_grant(t, c, 1, 0, (uint32_t)(100 + c)), 100 + c);
	g = lease_group_begin(t, 0, 1);
	lease_group_add(t, g, 1, name_cb, nm);
	assert_int_equal(nm->n, 200);
	for (uint64_t i = 2; i < 2000; i++)
		lease_group_add(t, g, i, NULL, NULL);
	assert_int_equal(lease_group_end(t, g, 1), 1);
	for (uint64_t i = 1; i < 2000; i++)
		assert_true(lease_fenced(t, i, 1));
	assert_false(lease_fenced(t, 2000, 1));
	assert_int_equal(lease_next_deadline(t), 300);
	for (uint64_t c = 200; c > 1; c--) {
		lease_ack(t, g, c, 2);
		assert_int_equal(lease_next_deadline(t), 100 + c - 1);
	}
	l = pending_of(t, 1);
	assert_int_equal(l.n, 1);
	assert_int_equal(lease_next_released(t, 100), 0);
	assert_int_equal(lease_next_released(t, 101), g);
	for (uint64_t i = 1; i < 2000; i++)
		assert_false(lease_fenced(t, i, 101));
	assert_int_equal(stats(t).ran_out, 1);
	assert_int_equal(stats(t).acked, 199);
	free(nm);
	lease_free(t);
}

/*
 * The random walk.  The model keeps the same state the naive way (arrays
 * over a few clients and inodes) and decides every answer by the rules of
 * lease.h; besides, "truth" keeps what each client may still have in its
 * cache (granted until, forgotten when it acknowledges a recall), and no
 * group may be released while a client other than its writer may still
 * serve one of its inodes from cache.
 */
#define MC 5        /* clients 1..MC */
#define MI 6        /* inodes 1..MI */
#define MAXG 8192   /* groups begun in one walk */
#define RW_OPS 4000 /* operations in one walk */
#define RW_SEEDS 12

struct mgroup {
	uint64_t writer, begin, fence;
	int alive, ended;
	unsigned inos; /* bit i: inode i */
	int holder[MC + 1], acked[MC + 1];
	uint64_t deadline[MC + 1];
	unsigned named[MC + 1]; /* the inodes recalled from each client */
};

struct model {
	uint64_t rec[MC + 1][MI + 1];   /* expiry; 0: no record */
	uint64_t truth[MC + 1][MI + 1]; /* what the client may cache, until */
	uint64_t fence;
	uint64_t next_id;
	uint32_t max_records, max_per_client;
	struct lease_stats st;
	struct mgroup g[MAXG + 1];
};

static uint64_t rng;

static uint64_t
rnd(uint64_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng % n;
}

static size_t
m_count(const struct model *m, uint64_t client)
{
	size_t n = 0;

	for (uint64_t c = 1; c <= MC; c++)
		for (uint64_t i = 1; i <= MI; i++)
			if (m->rec[c][i] != 0 && (client == 0 || c == client))
				n++;
	return n;
}

static int
m_fenced(const struct model *m, uint64_t ino, uint64_t now)
{
	if (m->fence > now)
		return 1;
	for (uint64_t id = 1; id < m->next_id; id++)
		if (m->g[id].alive && (m->g[id].inos & (1u << ino)))
			return 1;
	return 0;
}

static void
m_expire(struct model *m, uint64_t now)
{
	for (uint64_t c = 1; c <= MC; c++)
		for (uint64_t i = 1; i <= MI; i++)
			if (m->rec[c][i] != 0 && m->rec[c][i] <= now)
				m->rec[c][i] = 0;
}

static uint32_t
m_grant(struct model *m, uint64_t c, uint64_t i, uint64_t now, uint32_t ms)
{
	if (ms == 0)
		return 0;
	if (m_fenced(m, i, now)) {
		m->st.refused++;
		return 0;
	}
	if (m->rec[c][i] > now) {
		if (now + ms > m->rec[c][i])
			m->rec[c][i] = now + ms;
		m->st.granted++;
		return ms;
	}
	m->rec[c][i] = 0;
	if (m_count(m, 0) >= m->max_records || m_count(m, c) >= m->max_per_client) {
		m_expire(m, now);
		if (m_count(m, 0) >= m->max_records || m_count(m, c) >= m->max_per_client) {
			m->st.refused++;
			return 0;
		}
	}
	m->rec[c][i] = now + ms;
	m->st.granted++;
	return ms;
}

static int
m_blocked(const struct model *m, uint64_t id)
{
	for (uint64_t e = 1; e < id; e++)
		if (m->g[e].alive && (m->g[e].inos & m->g[id].inos))
			return 1;
	return 0;
}

/* When group id is released by time alone (0: now), ended and unblocked. */
static uint64_t
m_ready_at(const struct model *m, uint64_t id)
{
	const struct mgroup *g = &m->g[id];
	uint64_t at = g->fence;

	for (uint64_t c = 1; c <= MC; c++)
		if (g->holder[c] && !g->acked[c] && g->deadline[c] > at)
			at = g->deadline[c];
	return at;
}

static int
m_releasable(const struct model *m, uint64_t id, uint64_t now)
{
	return m->g[id].alive && m->g[id].ended && !m_blocked(m, id) && now >= m_ready_at(m, id);
}

/* Releases group id, checking it against what clients may still cache. */
static void
m_release(struct model *m, uint64_t id, uint64_t now)
{
	struct mgroup *g = &m->g[id];

	for (uint64_t i = 1; i <= MI; i++) {
		if (!(g->inos & (1u << i)))
			continue;
		for (uint64_t c = 1; c <= MC; c++)
			if (c != g->writer)
				assert_true(m->truth[c][i] <= now);
		/* and replies on an inode leave in order */
		for (uint64_t e = 1; e < id; e++)
			assert_false(m->g[e].alive && (m->g[e].inos & (1u << i)));
	}
	for (uint64_t c = 1; c <= MC; c++)
		if (g->holder[c] && !g->acked[c]) {
			assert_true(g->deadline[c] <= now);
			m->st.ran_out++;
		}
	g->alive = 0;
	m->st.released++;
}

static uint64_t
m_next_released(struct model *m, uint64_t now)
{
	for (uint64_t id = 1; id < m->next_id; id++)
		if (m_releasable(m, id, now)) {
			m_release(m, id, now);
			return id;
		}
	return 0;
}

static uint64_t
m_next_deadline(const struct model *m, uint64_t now)
{
	uint64_t next = m->fence > now ? m->fence : 0;

	for (uint64_t id = 1; id < m->next_id; id++) {
		uint64_t at;

		if (!m->g[id].alive || !m->g[id].ended || m_blocked(m, id))
			continue;
		at = m_ready_at(m, id);
		if (at != 0 && (next == 0 || at < next))
			next = at;
	}
	return next;
}

/* Group id recalls client c from a lease until e. */
static void
m_recall(struct model *m, uint64_t id, uint64_t c, uint64_t e)
{
	struct mgroup *g = &m->g[id];

	if (!g->holder[c]) {
		g->holder[c] = 1;
		g->deadline[c] = e;
		m->st.recalled++;
	} else if (g->acked[c]) {
		g->acked[c] = 0;
		g->deadline[c] = e;
		m->st.acked--;
	} else if (e > g->deadline[c])
		g->deadline[c] = e;
}

/*
 * lease_group_add on the model; the clients named, in order, in *nm.  A
 * group added to an inode that later groups hold already also recalls
 * every holder they wait for (they took the leases first).
 */
static void
m_add(struct model *m, uint64_t id, uint64_t i, struct names *nm)
{
	struct mgroup *g = &m->g[id];
	unsigned named = 0;

	memset(nm, 0, sizeof(*nm));
	for (uint64_t c = 1; c <= MC; c++) {
		uint64_t e = m->rec[c][i];

		if (e == 0 || c == g->writer)
			continue;
		m->rec[c][i] = 0;
		if (e <= g->begin)
			continue;
		m_recall(m, id, c, e);
		named |= 1u << c;
	}
	if (!(g->inos & (1u << i)))
		for (uint64_t h = id + 1; h < m->next_id; h++) {
			const struct mgroup *later = &m->g[h];

			if (!later->alive || !(later->inos & (1u << i)))
				continue;
			for (uint64_t c = 1; c <= MC; c++)
				if (later->holder[c] && !later->acked[c] && c != g->writer &&
				    later->deadline[c] > g->begin) {
					m_recall(m, id, c, later->deadline[c]);
					named |= 1u << c;
				}
		}
	g->inos |= 1u << i;
	for (uint64_t c = 1; c <= MC; c++)
		if (named & (1u << c)) {
			g->named[c] |= 1u << i;
			nm->c[nm->n++] = c;
		}
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Everything observable agrees with the model. */
static void
check_all(const struct lease_table *t, const struct model *m, uint64_t now)
{
	struct lease_stats st = stats(t);
	size_t alive = 0;

	for (uint64_t i = 0; i <= MI + 1; i++)
		assert_int_equal(lease_fenced(t, i, now), m_fenced(m, i, now));
	for (uint64_t id = 1; id < m->next_id; id++) {
		alive += m->g[id].alive;
		for (uint64_t c = 1; c <= MC; c++) {
			const struct mgroup *g = &m->g[id];
			int owed = g->alive && g->holder[c] && !g->acked[c];

			assert_int_equal(lease_pending(t, id, c), owed);
		}
	}
	for (uint64_t c = 1; c <= MC; c++) {
		struct glist l = pending_of(t, c);
		size_t k = 0;

		for (uint64_t id = 1; id < m->next_id; id++)
			if (m->g[id].alive && m->g[id].holder[c] && !m->g[id].acked[c]) {
				assert_true(k < l.n);
				assert_int_equal(l.g[k], id);
				k++;
			}
		assert_int_equal(k, l.n);
	}
	assert_int_equal(st.records, m_count(m, 0));
	assert_int_equal(st.groups, alive);
	assert_int_equal(st.granted, m->st.granted);
	assert_int_equal(st.refused, m->st.refused);
	assert_int_equal(st.recalled, m->st.recalled);
	assert_int_equal(st.acked, m->st.acked);
	assert_int_equal(st.ran_out, m->st.ran_out);
	assert_int_equal(st.released, m->st.released);
}

/* A random group among those the model has alive (and not ended, if asked). */
static uint64_t
pick_group(const struct model *m, int building)
{
	static uint64_t ids[MAXG];
	size_t n = 0;

	for (uint64_t id = 1; id < m->next_id; id++)
		if (m->g[id].alive && (!building || !m->g[id].ended))
			ids[n++] = id;
	return n > 0 ? ids[rnd(n)] : 0;
}

/* The counts of one walk, to see that it went through every case. */
struct walk {
	size_t begun, released, waited, adopted;
};

static uint64_t
rw_begin(struct lease_table *t, struct model *m, uint64_t now, struct walk *w)
{
	size_t alive = 0;
	uint64_t id, writer = rnd(MC + 1);

	for (id = 1; id < m->next_id; id++)
		alive += m->g[id].alive;
	if (alive >= 6 || m->next_id >= MAXG)
		return 0;
	id = lease_group_begin(t, writer, now);
	assert_int_equal(id, m->next_id);
	m->next_id++;
	memset(&m->g[id], 0, sizeof(m->g[id]));
	m->g[id].alive = 1;
	m->g[id].writer = writer;
	m->g[id].begin = now;
	m->g[id].fence = m->fence > now ? m->fence : 0;
	w->begun++;
	return id;
}

static void
rw_add(struct lease_table *t, struct model *m, uint64_t id, uint64_t ino, struct walk *w)
{
	struct names nm, mn;

	memset(&nm, 0, sizeof(nm));
	lease_group_add(t, id, ino, name_cb, &nm);
	if (id == 0 || id >= m->next_id || !m->g[id].alive) {
		assert_int_equal(nm.n, 0); /* a released or unknown group */
		return;
	}
	for (uint64_t h = id + 1; h < m->next_id; h++)
		if (m->g[h].alive && (m->g[h].inos & (1u << ino)) && !(m->g[id].inos & (1u << ino)))
			w->adopted++;
	m_add(m, id, ino, &mn);
	qsort(nm.c, nm.n, sizeof(nm.c[0]), cmp_u64);
	assert_int_equal(nm.n, mn.n);
	for (size_t k = 0; k < nm.n; k++)
		assert_int_equal(nm.c[k], mn.c[k]);
}

static void
rw_end(struct lease_table *t, struct model *m, uint64_t id, uint64_t now, struct walk *w)
{
	int waits = lease_group_end(t, id, now);

	m->g[id].ended = 1;
	if (m_releasable(m, id, now)) {
		m_release(m, id, now);
		assert_int_equal(waits, 0);
		w->released++;
	} else {
		assert_int_equal(waits, 1);
		w->waited++;
	}
}

/* An acknowledgement: mostly one that is owed, else any pair. */
static void
rw_ack(struct lease_table *t, struct model *m, uint64_t now)
{
	uint64_t id = 0, c = 1 + rnd(MC);
	struct mgroup *g;

	if (rnd(4) != 0) {
		uint64_t owed[MAXG][2];
		size_t n = 0;

		for (uint64_t e = 1; e < m->next_id && n < MAXG; e++)
			for (uint64_t k = 1; k <= MC && n < MAXG; k++)
				if (m->g[e].alive && m->g[e].holder[k] && !m->g[e].acked[k]) {
					owed[n][0] = e;
					owed[n][1] = k;
					n++;
				}
		if (n > 0) {
			size_t pick = rnd(n);

			id = owed[pick][0];
			c = owed[pick][1];
		}
	}
	if (id == 0)
		id = rnd(m->next_id + 2);
	lease_ack(t, id, c, now);
	if (id == 0 || id >= m->next_id)
		return;
	g = &m->g[id];
	if (!g->alive || !g->holder[c] || g->acked[c])
		return;
	g->acked[c] = 1;
	m->st.acked++;
	for (uint64_t k = 1; k <= MI; k++)
		if (g->named[c] & (1u << k))
			m->truth[c][k] = 0; /* it dropped what was recalled */
	g->named[c] = 0;
}

static void
random_walk(uint64_t seed)
{
	static struct model m;
	struct lease_table *t;
	struct walk w;
	uint64_t now = 1;

	memset(&m, 0, sizeof(m));
	memset(&w, 0, sizeof(w));
	rng = seed * 0x9e3779b97f4a7c15ull + 1;
	m.max_records = 12;
	m.max_per_client = 4;
	m.next_id = 1;
	t = table(m.max_records, m.max_per_client);
	for (int op = 0; op < RW_OPS; op++) {
		uint64_t r = rnd(400), c = 1 + rnd(MC), i = 1 + rnd(MI), id;

		if (r < 120) {
			uint32_t ms = rnd(8) == 0 ? 0 : 1 + (uint32_t)rnd(200);
			uint32_t got = lease_grant(t, c, i, now, ms);

			assert_int_equal(got, m_grant(&m, c, i, now, ms));
			if (got > 0 && now + got > m.truth[c][i])
				m.truth[c][i] = now + got;
		} else if (r < 170) {
			now += rnd(40);
		} else if (r < 180) {
			lease_expire(t, now);
			m_expire(&m, now);
		} else if (r < 200) {
			/* an update as the node makes it: begin, add, end at once */
			id = rw_begin(t, &m, now, &w);
			if (id != 0) {
				for (uint64_t k = 1 + rnd(3); k > 0; k--)
					rw_add(t, &m, id, 1 + rnd(MI), &w);
				rw_end(t, &m, id, now, &w);
			}
		} else if (r < 220) {
			rw_begin(t, &m, now, &w);
		} else if (r < 260) {
			/* mostly to a group being built; now and then to any */
			uint64_t k = rnd(20);

			id = k == 0 ? rnd(m.next_id + 2) : pick_group(&m, k > 2);
			rw_add(t, &m, id, i, &w);
		} else if (r < 290) {
			id = pick_group(&m, 1);
			if (id != 0)
				rw_end(t, &m, id, now, &w);
		} else if (r < 370) {
			rw_ack(t, &m, now);
		} else if (r < 374) {
			uint64_t until = now + rnd(300);

			lease_fence_all(t, until);
			if (until > m.fence)
				m.fence = until;
			for (id = 1; id < m.next_id; id++)
				if (m.g[id].alive && until > m.g[id].fence)
					m.g[id].fence = until;
		} else if (r == 374) {
			lease_reset(t);
			memset(m.rec, 0, sizeof(m.rec));
			memset(m.truth, 0, sizeof(m.truth));
			for (id = 1; id < m.next_id; id++)
				m.g[id].alive = 0;
		} else {
			now += rnd(200);
		}

		/* The caller's loop: release until none, then check. */
		for (;;) {
			uint64_t got = lease_next_released(t, now);

			assert_int_equal(got, m_next_released(&m, now));
			if (got == 0)
				break;
			w.released++;
		}
		assert_int_equal(lease_next_deadline(t), m_next_deadline(&m, now));
		/* Nothing that could be released now is left: no busy loop. */
		assert_true(lease_next_deadline(t) == 0 || lease_next_deadline(t) > now);
		check_all(t, &m, now);
	}
	/* The walk went through every case. */
	assert_true(w.begun > 300);
	assert_true(w.released > 200);
	assert_true(w.waited > 50);
	assert_true(w.adopted > 0);
	assert_true(m.st.recalled > 100);
	assert_true(m.st.ran_out > 20);
	assert_true(m.st.acked > 20);
	assert_true(m.st.refused > 50);
	assert_true(m.st.granted > 500);
	lease_free(t);
}

static void
test_random_vs_model(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= RW_SEEDS; seed++)
		random_walk(seed);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grant_extend),
		cmocka_unit_test(test_extend_keeps_later_expiry),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_limit_per_client_frees_own_expired),
		cmocka_unit_test(test_default_limits),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_group_no_holders),
		cmocka_unit_test(test_recall_spares_writer),
		cmocka_unit_test(test_ack_releases),
		cmocka_unit_test(test_deadline_release),
		cmocka_unit_test(test_holder_twice),
		cmocka_unit_test(test_rearm_after_ack),
		cmocka_unit_test(test_add_after_end),
		cmocka_unit_test(test_order_shared_inode),
		cmocka_unit_test(test_order_interleaved_build),
		cmocka_unit_test(test_order_by_id_among_releasable),
		cmocka_unit_test(test_fence_all),
		cmocka_unit_test(test_each_pending),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_next_deadline),
		cmocka_unit_test(test_large_group),
		cmocka_unit_test(test_random_vs_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
