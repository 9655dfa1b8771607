/*
 * The FUSE INIT exchange as fs/fs_devio.c sees it: the reply accepts
 * FUSE_DIRECT_IO_ALLOW_MMAP exactly when the kernel offered it with an
 * extended INIT and libfuse answered with one; nothing else is touched.
 */
#include <sys/uio.h>

#include <linux/fuse.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fs/fs_int.h"

#define ALLOW_MMAP2 (1u << 4) /* bit 36 of the 64 INIT flags */

/* An INIT request as the kernel writes it: header, then fuse_init_in. */
static size_t
init_request(unsigned char *buf, uint64_t unique, uint32_t flags, uint32_t flags2)
{
	struct fuse_in_header h;
	struct fuse_init_in in;

	memset(&h, 0, sizeof(h));
	memset(&in, 0, sizeof(in));
	h.opcode = FUSE_INIT;
	h.unique = unique;
	h.len = sizeof(h) + sizeof(in);
	in.major = 7;
	in.minor = 38;
	in.flags = flags;
	in.flags2 = flags2;
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), &in, sizeof(in));
	return sizeof(h) + sizeof(in);
}

/* A reply as libfuse writes it: header and argument, two iovecs. */
struct reply {
	struct fuse_out_header h;
	struct fuse_init_out out;
	struct iovec iov[2];
};

static void
init_reply(struct reply *r, uint64_t unique, int32_t error, uint32_t flags, size_t outlen)
{
	memset(r, 0, sizeof(*r));
	r->h.unique = unique;
	r->h.error = error;
	r->h.len = (uint32_t)(sizeof(r->h) + outlen);
	r->out.major = 7;
	r->out.minor = 38;
	r->out.flags = flags;
	r->out.flags2 = 1u; /* something libfuse set: kept */
	r->iov[0].iov_base = &r->h;
	r->iov[0].iov_len = sizeof(r->h);
	r->iov[1].iov_base = &r->out;
	r->iov[1].iov_len = outlen;
}

static void
test_offered_and_accepted(void **state)
{
	struct fs_devio d;
	unsigned char buf[256];
	struct reply r, other;
	struct fuse_init_out copy;

	(void)state;
	memset(&d, 0, sizeof(d));
	fs_devio_request(&d, buf, init_request(buf, 7, FUSE_INIT_EXT | FUSE_ASYNC_READ, ALLOW_MMAP2 | 1u));
	assert_true(d.init_pending);
	assert_true(d.offered);
	/* A reply to something else (a notification has unique 0) passes untouched. */
	init_reply(&other, 0, 0, FUSE_INIT_EXT, sizeof(other.out));
	assert_int_equal(fs_devio_reply(&d, other.iov, 2, &copy), 0);
	assert_true(d.init_pending);
	init_reply(&r, 7, 0, FUSE_INIT_EXT | FUSE_ASYNC_READ, sizeof(r.out));
	assert_int_equal(fs_devio_reply(&d, r.iov, 2, &copy), 1);
	assert_int_equal(copy.flags2, 1u | ALLOW_MMAP2);
	assert_int_equal(copy.flags, FUSE_INIT_EXT | FUSE_ASYNC_READ);
	assert_int_equal(copy.minor, 38);
	assert_int_equal(r.out.flags2, 1u); /* libfuse's own reply is not written to */
	assert_true(d.mmap_allowed);
	assert_false(d.init_pending);
	/* Only once: a later INIT-looking request is not the kernel's INIT. */
	fs_devio_request(&d, buf, init_request(buf, 9, FUSE_INIT_EXT, ALLOW_MMAP2));
	assert_false(d.init_pending);
	init_reply(&r, 9, 0, FUSE_INIT_EXT, sizeof(r.out));
	assert_int_equal(fs_devio_reply(&d, r.iov, 2, &copy), 0);
}

/* A fresh INIT exchange: what fs_devio_reply answers to the reply described. */
static int
exchange(struct fs_devio *d, uint32_t in_flags, uint32_t in_flags2, int32_t error, uint32_t out_flags,
	 size_t outlen, int count)
{
	unsigned char buf[256];
	struct reply r;
	struct fuse_init_out copy;

	memset(d, 0, sizeof(*d));
	fs_devio_request(d, buf, init_request(buf, 5, in_flags, in_flags2));
	init_reply(&r, 5, error, out_flags, outlen);
	return fs_devio_reply(d, r.iov, count, &copy);
}

static void
test_not_offered(void **state)
{
	struct fs_devio d;
	size_t all = sizeof(struct fuse_init_out);

	(void)state;
	/* The flag without an extended INIT means nothing. */
	assert_int_equal(exchange(&d, FUSE_ASYNC_READ, ALLOW_MMAP2, 0, FUSE_INIT_EXT, all, 2), 0);
	assert_false(d.offered);
	assert_true(d.init_done);
	assert_false(d.mmap_allowed);
	/* An extended INIT without the flag (kernels before 6.6). */
	assert_int_equal(exchange(&d, FUSE_INIT_EXT, 0, 0, FUSE_INIT_EXT, all, 2), 0);
	assert_false(d.offered);
	assert_false(d.mmap_allowed);
}

static void
test_reply_declines(void **state)
{
	struct fs_devio d;
	size_t all = sizeof(struct fuse_init_out);

	(void)state;
	/* An INIT that failed. */
	assert_int_equal(exchange(&d, FUSE_INIT_EXT, ALLOW_MMAP2, -EPROTO, FUSE_INIT_EXT, all, 2), 0);
	assert_false(d.mmap_allowed);
	assert_true(d.init_done);
	/* libfuse answered without INIT_EXT: the kernel would not read flags2. */
	assert_int_equal(exchange(&d, FUSE_INIT_EXT, ALLOW_MMAP2, 0, FUSE_ASYNC_READ, all, 2), 0);
	assert_false(d.mmap_allowed);
	/* A reply too short to hold flags2 (an old protocol minor). */
	assert_int_equal(exchange(&d, FUSE_INIT_EXT, ALLOW_MMAP2, 0, FUSE_INIT_EXT,
				  offsetof(struct fuse_init_out, flags2), 2),
			 0);
	assert_false(d.mmap_allowed);
	/* A reply longer than the kernel's struct as this build knows it is left alone. */
	assert_int_equal(exchange(&d, FUSE_INIT_EXT, ALLOW_MMAP2, 0, FUSE_INIT_EXT, all + 1, 2), 0);
	assert_false(d.mmap_allowed);
	/* A reply in one iovec is not recognised as libfuse's and is left alone. */
	assert_int_equal(exchange(&d, FUSE_INIT_EXT, ALLOW_MMAP2, 0, FUSE_INIT_EXT, all, 1), 0);
	assert_true(d.init_pending);
	/* The same exchange, well formed, is accepted. */
	assert_int_equal(exchange(&d, FUSE_INIT_EXT, ALLOW_MMAP2, 0, FUSE_INIT_EXT, all, 2), 1);
	assert_true(d.mmap_allowed);
}

static void
test_short_requests(void **state)
{
	struct fs_devio d;
	unsigned char buf[256];
	size_t n;

	(void)state;
	memset(&d, 0, sizeof(d));
	n = init_request(buf, 11, FUSE_INIT_EXT, ALLOW_MMAP2);
	/* Shorter than a header: nothing is read from it. */
	fs_devio_request(&d, buf, sizeof(struct fuse_in_header) - 1);
	assert_false(d.init_pending);
	/* A header and part of the argument: the missing flags2 counts as 0. */
	fs_devio_request(&d, buf, sizeof(struct fuse_in_header) + offsetof(struct fuse_init_in, flags2));
	assert_true(d.init_pending);
	assert_false(d.offered);
	fs_devio_request(&d, buf, n);
	assert_true(d.offered);
	/* Another opcode is not INIT. */
	memset(&d, 0, sizeof(d));
	buf[offsetof(struct fuse_in_header, opcode)] = FUSE_LOOKUP;
	fs_devio_request(&d, buf, n);
	assert_false(d.init_pending);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_offered_and_accepted),
		cmocka_unit_test(test_not_offered),
		cmocka_unit_test(test_reply_declines),
		cmocka_unit_test(test_short_requests),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
