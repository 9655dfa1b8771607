/* Membership records and the master's one-change-at-a-time decision, without etcd. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/log.h"
#include "replication/membership.h"
#include "tests/unit/view_of.h"

static const char *const allowed3[] = {"n1", "n2", "n3"};

static struct member_reg
reg(const char *name, uint64_t sn, uint64_t applied_epoch)
{
	struct member_reg r;

	memset(&r, 0, sizeof(r));
	snprintf(r.name, sizeof(r.name), "%s", name);
	r.sn = sn;
	r.applied_epoch = applied_epoch;
	r.epoch = applied_epoch;
	return r;
}

static int
always(void *arg, const char *name)
{
	return 1;
}

static int
never(void *arg, const char *name)
{
	return 0;
}

/* The records round-trip; numbers are strings, as etcd writes them. */
static void
test_json_roundtrip(void **state)
{
	struct chain_view v = view_of(12345678901234ull, "n1,n2,n3", "n4"), g;
	struct member_reg r = reg("n2", 99, 7), rg;
	char err[128];
	char *s;

	v.tail_wait_ms = 1700;
	v.cluster_id = 0xfedcba9876543210ull;
	s = membership_view_json(&v);
	assert_non_null(strstr(s, "\"epoch\":\"12345678901234\""));
	assert_int_equal(membership_view_parse(s, strlen(s), &g, err, sizeof(err)), 0);
	free(s);
	assert_true(g.epoch == v.epoch);
	assert_int_equal(g.n, 3);
	assert_string_equal(g.nodes[2], "n3");
	assert_string_equal(g.syncing, "n4");
	assert_int_equal(g.tail_wait_ms, 1700);
	assert_true(g.cluster_id == 0xfedcba9876543210ull);
	strcpy(r.synced, "n4");
	r.synced_epoch = 8;
	r.catching_up = 1;
	s = membership_reg_json(&r);
	assert_int_equal(membership_reg_parse(s, strlen(s), &rg, err, sizeof(err)), 0);
	free(s);
	assert_string_equal(rg.name, "n2");
	assert_int_equal(rg.sn, 99);
	assert_int_equal(rg.applied_epoch, 7);
	assert_string_equal(rg.synced, "n4");
	assert_int_equal(rg.synced_epoch, 8);
	assert_int_equal(rg.catching_up, 1);
	/* integers are read too */
	{
		const char *ints = "{\"epoch\":3,\"chain\":[\"a\"],\"cluster_id\":7}";

		assert_int_equal(membership_view_parse(ints, strlen(ints), &g, err, sizeof(err)), 0);
	}
	assert_int_equal(g.epoch, 3);
}

/* A key written by something else is refused with a reason, never guessed at. */
static void
test_json_refused(void **state)
{
	static const char *const bad[] = {
	    "",
	    "[]",
	    "{\"epoch\":\"1\"}",
	    "{\"epoch\":\"1\",\"chain\":[\"a\"]}",
	    "{\"epoch\":\"1\",\"chain\":[\"a\"],\"cluster_id\":\"0\"}",
	    "{\"cluster_id\":\"5\",\"epoch\":\"0\",\"chain\":[\"a\"]}",
	    "{\"cluster_id\":\"5\",\"epoch\":\"-1\",\"chain\":[\"a\"]}",
	    "{\"cluster_id\":\"5\",\"epoch\":\"1x\",\"chain\":[\"a\"]}",
	    "{\"cluster_id\":\"5\",\"epoch\":\"1\",\"chain\":[]}",
	    "{\"cluster_id\":\"5\",\"epoch\":\"1\",\"chain\":[\"a\",\"a\"]}",
	    "{\"cluster_id\":\"5\",\"epoch\":\"1\",\"chain\":[\"a/b\"]}",
	    "{\"cluster_id\":\"5\",\"epoch\":\"1\",\"chain\":[1]}",
	    "{\"cluster_id\":\"5\",\"epoch\":\"1\",\"chain\":[\"a\"],\"syncing\":\"a\"}",
	    "{\"cluster_id\":\"5\",\"epoch\":\"1\",\"chain\":[\"a\"],\"leader\":\"a\"}",
	    "{\"cluster_id\":\"5\",\"epoch\":\"1\",\"epoch\":\"2\",\"chain\":[\"a\"]}",
	    "{\"cluster_id\":\"5\",\"epoch\":\"1\",\"chain\":[\"a\"],\"tail_wait_ms\":\"9999999\"}",
	};
	struct chain_view g;
	struct member_reg r;
	char err[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(membership_view_parse(bad[i], strlen(bad[i]), &g, err, sizeof(err)),
				 -1);
		assert_true(err[0] != '\0');
	}
	{
		const char *noname = "{\"name\":\"\",\"sn\":\"1\",\"applied_epoch\":\"1\",\"epoch\":\"1\"}";
		const char *nosn = "{\"name\":\"a\",\"sn\":1}";
		const char *good = "{\"name\":\"a\",\"sn\":1,\"applied_epoch\":\"1\",\"epoch\":\"1\"}";
		const char *badbool =
		    "{\"name\":\"a\",\"sn\":1,\"applied_epoch\":\"1\",\"epoch\":\"1\",\"catching_up\":1}";

		assert_int_equal(membership_reg_parse(noname, strlen(noname), &r, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "name"));
		assert_int_equal(membership_reg_parse(nosn, strlen(nosn), &r, err, sizeof(err)), -1);
		assert_int_equal(membership_reg_parse(good, strlen(good), &r, err, sizeof(err)), 0);
		assert_int_equal(r.catching_up, 0);
		assert_int_equal(membership_reg_parse(badbool, strlen(badbool), &r, err, sizeof(err)),
				 -1);
		assert_non_null(strstr(err, "catching_up"));
	}
}

/* The first configuration takes the most advanced registered nodes, in allowed order. */
static void
test_initial(void **state)
{
	struct member_reg regs[3] = {reg("n3", 10, 4), reg("n1", 10, 4), reg("n2", 12, 3)};
	struct membership_input in = {.regs = regs, .nregs = 3, .allowed = allowed3,
				      .nallowed = 3, .may_remove = always, .new_cluster_id = 42};
	struct chain_view next;
	char why[160];

	assert_int_equal(membership_next(&in, &next, why, sizeof(why)), 0); /* not ready */
	in.initial_ready = 1;
	assert_int_equal(membership_next(&in, &next, why, sizeof(why)), 1);
	/* (4, 10) beats (3, 12): an entry of a later epoch is of a later history */
	assert_int_equal(next.n, 2);
	assert_string_equal(next.nodes[0], "n1");
	assert_string_equal(next.nodes[1], "n3");
	assert_int_equal(next.epoch, 5);
	assert_int_equal(next.cluster_id, 42);
	in.nregs = 0;
	assert_int_equal(membership_next(&in, &next, why, sizeof(why)), 0);
}

/* One change per step, in order: removal, dropped sync, promotion, new sync. */
static void
test_steps(void **state)
{
	struct chain_view cur = view_of(8, "n1,n2,n3", ""), next;
	struct member_reg regs[3] = {reg("n1", 5, 8), reg("n3", 5, 8), reg("n2", 5, 8)};
	struct membership_input in = {.cur = &cur, .regs = regs, .nregs = 3, .allowed = allowed3,
				      .nallowed = 3, .may_remove = always, .tail_wait_ms = 1700};
	char why[160];

	assert_int_equal(membership_next(&in, &next, why, sizeof(why)), 0);
	/* n2 (middle) gone */
	in.nregs = 2;
	in.may_remove = never;
	assert_int_equal(membership_next(&in, &next, why, sizeof(why)), 0);
	in.may_remove = always;
	assert_int_equal(membership_next(&in, &next, why, sizeof(why)), 1);
	assert_int_equal(next.epoch, 9);
	assert_int_equal(next.n, 2);
	assert_string_equal(next.nodes[1], "n3");
	assert_int_equal(next.tail_wait_ms, 0);
	assert_non_null(strstr(why, "n2"));
	/* n2 back: it syncs behind the tail */
	cur = next;
	in.nregs = 3;
	assert_int_equal(membership_next(&in, &next, why, sizeof(why)), 1);
	assert_string_equal(next.syncing, "n2");
	assert_int_equal(next.n, 2);
	/* the tail reports it synced, in an older epoch: nothing; in this one: tail */
	cur = next;
	strcpy(regs[1].synced, "n2");
	regs[1].synced_epoch = cur.epoch - 1;
	assert_int_equal(membership_next(&in, &next, why, sizeof(why)), 0);
	regs[1].synced_epoch = cur.epoch;
	assert_int_equal(membership_next(&in, &next, why, sizeof(why)), 1);
	assert_int_equal(next.n, 3);
	assert_string_equal(next.nodes[2], "n2");
	assert_string_equal(next.syncing, "");
	assert_int_equal(next.tail_wait_ms, 1700);
	assert_int_equal(next.epoch, 11);
}

/* The last member is never removed; a syncing node that vanished is dropped. */
static void
test_last_member_kept(void **state)
{
	struct chain_view cur = view_of(3, "n1", "n2"), next;
	struct member_reg regs[1] = {reg("n3", 0, 0)};
	struct membership_input in = {.cur = &cur, .regs = regs, .nregs = 1, .allowed = allowed3,
				      .nallowed = 3, .may_remove = always};
	char why[160];

	assert_int_equal(membership_next(&in, &next, why, sizeof(why)), 1);
	assert_int_equal(next.n, 1);
	assert_string_equal(next.nodes[0], "n1");
	assert_string_equal(next.syncing, ""); /* n2 dropped, n1 kept though unregistered */
	cur = next;
	/* n3 is registered but the tail n1 is not: n3 syncs from n1 once it is back */
	assert_int_equal(membership_next(&in, &next, why, sizeof(why)), 1);
	assert_string_equal(next.syncing, "n3");
	/* a node not allowed never joins */
	cur = view_of(5, "n1", "");
	regs[0] = reg("zz", 0, 0);
	assert_int_equal(membership_next(&in, &next, why, sizeof(why)), 0);
}

/* Removing the tail while a node syncs behind it drops the sync too. */
static void
test_tail_gone_while_syncing(void **state)
{
	struct chain_view cur = view_of(4, "n1,n2", "n3"), next;
	struct member_reg regs[2] = {reg("n1", 0, 0), reg("n3", 0, 0)};
	struct membership_input in = {.cur = &cur, .regs = regs, .nregs = 2, .allowed = allowed3,
				      .nallowed = 3, .may_remove = always};
	char why[160];

	assert_int_equal(membership_next(&in, &next, why, sizeof(why)), 1);
	assert_int_equal(next.n, 1);
	assert_string_equal(next.syncing, "");
}

/*
 * A tail that joined and has not caught up with its predecessor keeps it in
 * a chain of two even when its lease ran out: it may alone hold entries it
 * acknowledged as the old tail.  Once the tail has caught up, it goes.
 */
static void
test_behind_tail_keeps_its_source(void **state)
{
	struct chain_view cur = view_of(9, "n1,n2", ""), next;
	struct member_reg regs[1] = {reg("n2", 0, 0)};
	struct membership_input in = {.cur = &cur, .regs = regs, .nregs = 1, .allowed = allowed3,
				      .nallowed = 3, .may_remove = always};
	char why[160];

	regs[0].catching_up = 1;
	assert_int_equal(membership_next(&in, &next, why, sizeof(why)), 0);
	regs[0].catching_up = 0;
	assert_int_equal(membership_next(&in, &next, why, sizeof(why)), 1);
	assert_int_equal(next.n, 1);
	assert_string_equal(next.nodes[0], "n2");
	/* in a longer chain the head before it has everything: the middle goes */
	cur = view_of(9, "n1,n3,n2", "");
	regs[0].catching_up = 1;
	{
		struct member_reg r3[2] = {reg("n1", 0, 0), regs[0]};

		in.regs = r3;
		in.nregs = 2;
		assert_int_equal(membership_next(&in, &next, why, sizeof(why)), 1);
		assert_int_equal(next.n, 2);
		assert_string_equal(next.nodes[0], "n1");
		assert_string_equal(next.nodes[1], "n2");
	}
}

/*
 * A node removed by command leaves the chain though registered, the tail
 * with a wait for the new one; never the last; a removed syncing node is
 * dropped; it does not sync in again while removed.
 */
static void
test_removed_by_command(void **state)
{
	static const char *const without_n3[] = {"n1", "n2"};
	struct chain_view cur = view_of(6, "n1,n2,n3", ""), next;
	struct member_reg regs[3] = {reg("n1", 0, 0), reg("n2", 0, 0), reg("n3", 0, 0)};
	struct membership_input in = {.cur = &cur, .regs = regs, .nregs = 3, .allowed = without_n3,
				      .nallowed = 2, .may_remove = never, .tail_wait_ms = 1800};
	char why[160];

	assert_int_equal(membership_next(&in, &next, why, sizeof(why)), 1);
	assert_int_equal(next.n, 2);
	assert_string_equal(next.nodes[1], "n2");
	assert_int_equal(next.tail_wait_ms, 1800);
	assert_non_null(strstr(why, "by command"));
	cur = next;
	assert_int_equal(membership_next(&in, &next, why, sizeof(why)), 0); /* n3 stays out */
	cur = view_of(7, "n1,n2", "n3");
	assert_int_equal(membership_next(&in, &next, why, sizeof(why)), 1);
	assert_string_equal(next.syncing, "");
	cur = view_of(8, "n3", "");
	assert_int_equal(membership_next(&in, &next, why, sizeof(why)), 1);
	assert_string_equal(next.nodes[0], "n3"); /* the last member stays; n1 syncs in */
	assert_string_equal(next.syncing, "n1");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_roundtrip), cmocka_unit_test(test_json_refused),
	    cmocka_unit_test(test_initial),	   cmocka_unit_test(test_steps),
	    cmocka_unit_test(test_last_member_kept), cmocka_unit_test(test_tail_gone_while_syncing),
	    cmocka_unit_test(test_behind_tail_keeps_its_source),
	    cmocka_unit_test(test_removed_by_command),
	};

	log_init("test_membership", 0, LOG_LEVEL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
