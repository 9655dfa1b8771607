/*
 * Admission of pending connections (common/admit.c): per-source and total
 * caps enforced by evicting the oldest of the right source, never the
 * newcomer; IPv6 grouped by /64; removal idempotent.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>

#include "common/admit.h"

#define NCONN 64

struct tconn {
	struct cfs_pending p;
	int evicted;
};

static struct tconn conns[NCONN];
static int nevicted;

static void
evict(struct cfs_pending *p, const char *why, void *arg)
{
	struct tconn *c = (struct tconn *)(void *)p;

	(void)arg;
	assert_non_null(why);
	assert_null(p->src); /* already out of the tables */
	c->evicted = 1;
	nevicted++;
}

static struct sockaddr_storage
v4(const char *a)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(1234);
	assert_int_equal(inet_pton(AF_INET, a, &sin->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage
v6(const char *a)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin6->sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, a, &sin6->sin6_addr), 1);
	return ss;
}

static int
setup(void **state)
{
	(void)state;
	memset(conns, 0, sizeof(conns));
	nevicted = 0;
	return 0;
}

/* A source at its cap loses its oldest connection to its newest. */
static void
test_per_source_evicts_oldest(void **state)
{
	struct cfs_admit a;
	struct sockaddr_storage x = v4("10.0.0.1"), y = v4("10.0.0.2");

	(void)state;
	cfs_admit_init(&a, 100, 3, evict, NULL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(cfs_admit_add(&a, &conns[i].p, (struct sockaddr *)&x), 0);
	assert_int_equal(cfs_admit_add(&a, &conns[3].p, (struct sockaddr *)&y), 0);
	assert_int_equal(cfs_admit_count(&a, (struct sockaddr *)&x), 3);
	assert_int_equal(cfs_admit_add(&a, &conns[4].p, (struct sockaddr *)&x), 1);
	assert_true(conns[0].evicted);
	assert_false(conns[1].evicted || conns[2].evicted || conns[3].evicted || conns[4].evicted);
	assert_int_equal(cfs_admit_count(&a, (struct sockaddr *)&x), 3);
	assert_int_equal(a.total, 4);
	assert_int_equal(a.evicted, 1);
	cfs_admit_free(&a);
}

/* At the total cap, the source with the most pending pays, not a small one. */
static void
test_total_evicts_from_largest_source(void **state)
{
	struct cfs_admit a;
	struct sockaddr_storage big = v4("192.0.2.7"), small = v4("198.51.100.1"),
				other = v4("203.0.113.9");

	(void)state;
	cfs_admit_init(&a, 5, 10, evict, NULL);
	assert_int_equal(cfs_admit_add(&a, &conns[0].p, (struct sockaddr *)&small), 0);
	for (int i = 1; i < 5; i++)
		cfs_admit_add(&a, &conns[i].p, (struct sockaddr *)&big);
	assert_int_equal(a.total, 5);
	assert_int_equal(cfs_admit_add(&a, &conns[5].p, (struct sockaddr *)&other), 1);
	assert_false(conns[0].evicted);
	assert_true(conns[1].evicted); /* big's oldest */
	assert_int_equal(cfs_admit_count(&a, (struct sockaddr *)&big), 3);
	assert_int_equal(cfs_admit_count(&a, (struct sockaddr *)&small), 1);
	assert_int_equal(a.total, 5);
	cfs_admit_free(&a);
}

/* Removing frees the slot; removing twice, or after eviction, changes nothing. */
static void
test_remove_idempotent(void **state)
{
	struct cfs_admit a;
	struct sockaddr_storage x = v4("10.1.1.1");

	(void)state;
	cfs_admit_init(&a, 2, 2, evict, NULL);
	cfs_admit_add(&a, &conns[0].p, (struct sockaddr *)&x);
	cfs_admit_add(&a, &conns[1].p, (struct sockaddr *)&x);
	cfs_admit_remove(&a, &conns[0].p);
	cfs_admit_remove(&a, &conns[0].p);
	assert_int_equal(a.total, 1);
	assert_int_equal(cfs_admit_add(&a, &conns[2].p, (struct sockaddr *)&x), 0);
	assert_int_equal(cfs_admit_add(&a, &conns[3].p, (struct sockaddr *)&x), 1);
	assert_true(conns[1].evicted);
	cfs_admit_remove(&a, &conns[1].p); /* the owner's close after the eviction */
	assert_int_equal(a.total, 2);
	cfs_admit_remove(&a, &conns[2].p);
	cfs_admit_remove(&a, &conns[3].p);
	assert_int_equal(a.total, 0);
	assert_int_equal(cfs_admit_count(&a, (struct sockaddr *)&x), 0);
	cfs_admit_free(&a);
}

/* IPv6 addresses of one /64 are one source; an IPv4-mapped one is its IPv4 address. */
static void
test_ipv6_grouped_by_64(void **state)
{
	struct cfs_admit a;
	struct sockaddr_storage p1 = v6("2001:db8:1:2::1"), p2 = v6("2001:db8:1:2:ffff::9"),
				q = v6("2001:db8:1:3::1"), m = v6("::ffff:10.2.3.4"),
				four = v4("10.2.3.4");

	(void)state;
	cfs_admit_init(&a, 100, 1, evict, NULL);
	cfs_admit_add(&a, &conns[0].p, (struct sockaddr *)&p1);
	assert_int_equal(cfs_admit_add(&a, &conns[1].p, (struct sockaddr *)&p2), 1);
	assert_true(conns[0].evicted);
	assert_int_equal(cfs_admit_add(&a, &conns[2].p, (struct sockaddr *)&q), 0);
	cfs_admit_add(&a, &conns[3].p, (struct sockaddr *)&m);
	assert_int_equal(cfs_admit_add(&a, &conns[4].p, (struct sockaddr *)&four), 1);
	assert_true(conns[3].evicted);
	assert_int_equal(nevicted, 2);
	cfs_admit_free(&a);
}

/* Many sources and churn: the counts stay exact and within the caps. */
static void
test_churn_within_caps(void **state)
{
	struct cfs_admit a;
	char addr[32];

	(void)state;
	cfs_admit_init(&a, 16, 4, evict, NULL);
	for (int round = 0; round < 1000; round++) {
		int i = round % NCONN;
		struct sockaddr_storage s;

		if (conns[i].p.src != NULL)
			cfs_admit_remove(&a, &conns[i].p);
		conns[i].evicted = 0;
		snprintf(addr, sizeof(addr), "10.9.0.%d", round % 7);
		s = v4(addr);
		cfs_admit_add(&a, &conns[i].p, (struct sockaddr *)&s);
		assert_true(a.total <= 16);
		assert_true(cfs_admit_count(&a, (struct sockaddr *)&s) <= 4);
	}
	cfs_admit_free(&a);
	assert_int_equal(a.total, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_per_source_evicts_oldest, setup),
		cmocka_unit_test_setup(test_total_evicts_from_largest_source, setup),
		cmocka_unit_test_setup(test_remove_idempotent, setup),
		cmocka_unit_test_setup(test_ipv6_grouped_by_64, setup),
		cmocka_unit_test_setup(test_churn_within_caps, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
