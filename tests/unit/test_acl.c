/* store_acl: ACL values and their rules against the mode bits (acl(5)). */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "store/store_acl.h"

/* Builds a value from (tag, perm, id) triples. */
static size_t
acl_value(uint8_t *out, const struct store_acl_entry *e, size_t n, uint32_t version)
{
	struct store_acl a;
	size_t len;

	a.n = n;
	memcpy(a.e, e, n * sizeof(*e));
	len = store_acl_encode(&a, out);
	out[0] = (uint8_t)version;
	return len;
}

#define U STORE_ACL_UNDEFINED_ID

static void
test_acl_roundtrip(void **state)
{
	static const struct store_acl_entry e[] = {
	    {STORE_ACL_USER_OBJ, 7, U}, {STORE_ACL_USER, 5, 1000}, {STORE_ACL_USER, 4, 1001},
	    {STORE_ACL_GROUP_OBJ, 5, U}, {STORE_ACL_GROUP, 6, 50}, {STORE_ACL_MASK, 7, U},
	    {STORE_ACL_OTHER, 4, U},
	};
	uint8_t v[STORE_ACL_MAX_SIZE], w[STORE_ACL_MAX_SIZE];
	struct store_acl a;
	size_t len = acl_value(v, e, 7, 2);

	(void)state;
	assert_int_equal(len, 4 + 7 * 8);
	assert_int_equal(store_acl_decode(v, len, &a), 0);
	assert_int_equal(a.n, 7);
	assert_int_equal(a.e[1].id, 1000);
	assert_int_equal(a.e[4].perm, 6);
	assert_int_equal(store_acl_encode(&a, w), len);
	assert_memory_equal(v, w, len);
	/* No entries: the kernel's way of removing an ACL. */
	assert_int_equal(store_acl_decode(v, 4, &a), 0);
	assert_int_equal(a.n, 0);
}

static void
test_acl_invalid(void **state)
{
	static const struct {
		struct store_acl_entry e[5];
		size_t n;
	} bad[] = {
	    /* no OTHER */
	    {{{STORE_ACL_USER_OBJ, 7, U}, {STORE_ACL_GROUP_OBJ, 5, U}}, 2},
	    /* out of order */
	    {{{STORE_ACL_GROUP_OBJ, 5, U}, {STORE_ACL_USER_OBJ, 7, U}, {STORE_ACL_OTHER, 4, U}}, 3},
	    /* two USER_OBJ */
	    {{{STORE_ACL_USER_OBJ, 7, U},
	      {STORE_ACL_USER_OBJ, 7, U},
	      {STORE_ACL_GROUP_OBJ, 5, U},
	      {STORE_ACL_OTHER, 4, U}},
	     4},
	    /* a named entry without a mask */
	    {{{STORE_ACL_USER_OBJ, 7, U},
	      {STORE_ACL_USER, 7, 9},
	      {STORE_ACL_GROUP_OBJ, 5, U},
	      {STORE_ACL_OTHER, 4, U}},
	     4},
	    /* the same user twice */
	    {{{STORE_ACL_USER_OBJ, 7, U},
	      {STORE_ACL_USER, 7, 9},
	      {STORE_ACL_USER, 5, 9},
	      {STORE_ACL_GROUP_OBJ, 5, U},
	      {STORE_ACL_OTHER, 4, U}},
	     5},
	    /* perm beyond rwx */
	    {{{STORE_ACL_USER_OBJ, 8, U}, {STORE_ACL_GROUP_OBJ, 5, U}, {STORE_ACL_OTHER, 4, U}}, 3},
	    /* unknown tag */
	    {{{STORE_ACL_USER_OBJ, 7, U}, {0x40, 5, U}, {STORE_ACL_OTHER, 4, U}}, 3},
	};
	uint8_t v[STORE_ACL_MAX_SIZE];
	struct store_acl a;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = acl_value(v, bad[i].e, bad[i].n, 2);

		if (store_acl_decode(v, len, &a) != EINVAL)
			fail_msg("bad ACL %zu accepted", i);
	}
	{
		static const struct store_acl_entry ok[] = {
		    {STORE_ACL_USER_OBJ, 6, U}, {STORE_ACL_GROUP_OBJ, 4, U}, {STORE_ACL_OTHER, 0, U}};
		size_t len = acl_value(v, ok, 3, 2);

		assert_int_equal(store_acl_decode(v, len - 1, &a), EINVAL);
		assert_int_equal(store_acl_decode(v, 3, &a), EINVAL);
		len = acl_value(v, ok, 3, 1);
		assert_int_equal(store_acl_decode(v, len, &a), EOPNOTSUPP);
	}
}

static void
test_acl_mode(void **state)
{
	struct store_acl a = {.n = 3,
			      .e = {{STORE_ACL_USER_OBJ, 6, U},
				    {STORE_ACL_GROUP_OBJ, 4, U},
				    {STORE_ACL_OTHER, 0, U}}};
	uint32_t perms;

	(void)state;
	assert_int_equal(store_acl_mode(&a, &perms), 0);
	assert_int_equal(perms, 0640);
	/* A mask: the group bits are the mask, and the ACL says more than the mode. */
	a.n = 5;
	a.e[1] = (struct store_acl_entry){STORE_ACL_USER, 7, 1000};
	a.e[2] = (struct store_acl_entry){STORE_ACL_GROUP_OBJ, 4, U};
	a.e[3] = (struct store_acl_entry){STORE_ACL_MASK, 5, U};
	a.e[4] = (struct store_acl_entry){STORE_ACL_OTHER, 1, U};
	assert_int_equal(store_acl_mode(&a, &perms), 1);
	assert_int_equal(perms, 0651);
	/* chmod: owner, mask and other follow; GROUP_OBJ and named entries stay. */
	store_acl_chmod(&a, 0100750);
	assert_int_equal(a.e[0].perm, 7);
	assert_int_equal(a.e[1].perm, 7);
	assert_int_equal(a.e[2].perm, 4);
	assert_int_equal(a.e[3].perm, 5);
	assert_int_equal(a.e[4].perm, 0);
	/* Without a mask, GROUP_OBJ takes the group bits. */
	a.n = 3;
	a.e[1] = (struct store_acl_entry){STORE_ACL_GROUP_OBJ, 4, U};
	a.e[2] = (struct store_acl_entry){STORE_ACL_OTHER, 0, U};
	store_acl_chmod(&a, 0604);
	assert_int_equal(a.e[0].perm, 6);
	assert_int_equal(a.e[1].perm, 0);
	assert_int_equal(a.e[2].perm, 4);
}

static void
test_acl_inherit(void **state)
{
	/* generic/099: default u::r-x,g::r--,o::---, touch (0666) under umask 722: -r--r----- */
	struct store_acl a = {.n = 3,
			      .e = {{STORE_ACL_USER_OBJ, 5, U},
				    {STORE_ACL_GROUP_OBJ, 4, U},
				    {STORE_ACL_OTHER, 0, U}}};
	uint32_t mode = 0100666;

	(void)state;
	assert_int_equal(store_acl_inherit(&a, &mode), 0);
	assert_int_equal(mode, 0100440);
	assert_int_equal(a.e[0].perm, 4);
	/* Named entries and a mask: kept as the access ACL; the mask takes the group bits. */
	a.n = 5;
	a.e[0] = (struct store_acl_entry){STORE_ACL_USER_OBJ, 7, U};
	a.e[1] = (struct store_acl_entry){STORE_ACL_USER, 7, 1000};
	a.e[2] = (struct store_acl_entry){STORE_ACL_GROUP_OBJ, 5, U};
	a.e[3] = (struct store_acl_entry){STORE_ACL_MASK, 7, U};
	a.e[4] = (struct store_acl_entry){STORE_ACL_OTHER, 5, U};
	mode = 040750 | 02000; /* a set-gid directory: the bits outside 0777 stay */
	assert_int_equal(store_acl_inherit(&a, &mode), 1);
	assert_int_equal(mode, 042750);
	assert_int_equal(a.e[0].perm, 7);
	assert_int_equal(a.e[1].perm, 7); /* the mask limits it, not the mode */
	assert_int_equal(a.e[2].perm, 5);
	assert_int_equal(a.e[3].perm, 5);
	assert_int_equal(a.e[4].perm, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_acl_roundtrip),
	    cmocka_unit_test(test_acl_invalid),
	    cmocka_unit_test(test_acl_mode),
	    cmocka_unit_test(test_acl_inherit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
