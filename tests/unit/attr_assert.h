/* Comparing inode attributes in cmocka tests; include after <cmocka.h>. */
#ifndef CHAINFS_TEST_ATTR_ASSERT_H
#define CHAINFS_TEST_ATTR_ASSERT_H

#include "common/wire.h"

/* Asserts two attrs are field for field the same (padding is not a field). */
static void
assert_attr_equal(const struct cfs_attr *a, const struct cfs_attr *b)
{
	assert_int_equal(a->ino, b->ino);
	assert_int_equal(a->mode, b->mode);
	assert_int_equal(a->nlink, b->nlink);
	assert_int_equal(a->uid, b->uid);
	assert_int_equal(a->gid, b->gid);
	assert_int_equal(a->rdev, b->rdev);
	assert_int_equal(a->size, b->size);
	assert_int_equal(a->blocks, b->blocks);
	assert_true(a->atime_sec == b->atime_sec);
	assert_int_equal(a->atime_nsec, b->atime_nsec);
	assert_true(a->mtime_sec == b->mtime_sec);
	assert_int_equal(a->mtime_nsec, b->mtime_nsec);
	assert_true(a->ctime_sec == b->ctime_sec);
	assert_int_equal(a->ctime_nsec, b->ctime_nsec);
	assert_int_equal(a->version, b->version);
	assert_int_equal(a->flags, b->flags);
}

#endif
