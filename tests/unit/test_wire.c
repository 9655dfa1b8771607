/* Unit tests for the wire codec: round trips, exact layouts, and rejections. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/attr_assert.h"

#include "common/wire.h"

/* Every op type the protocol defines, reads then updates. */
static const uint16_t all_ops[] = {
    CFS_OP_LOOKUP,      CFS_OP_GETATTR,   CFS_OP_READDIR, CFS_OP_READ,  CFS_OP_READLINK,
    CFS_OP_GETXATTR,    CFS_OP_LISTXATTR, CFS_OP_STATFS,  CFS_OP_LSEEK, CFS_OP_CREATE,
    CFS_OP_MKNOD,       CFS_OP_MKDIR,     CFS_OP_SYMLINK, CFS_OP_LINK,  CFS_OP_UNLINK,
    CFS_OP_RMDIR,       CFS_OP_RENAME,    CFS_OP_SETATTR, CFS_OP_WRITE, CFS_OP_SETXATTR,
    CFS_OP_REMOVEXATTR, CFS_OP_FALLOCATE, CFS_OP_FSYNC,  CFS_OP_EXPIRE_SESSIONS,
    CFS_OP_GETLK,       CFS_OP_LKSTATE,   CFS_OP_SETLK,   CFS_OP_UNLOCK, CFS_OP_LKCANCEL,
    CFS_OP_LKEXPIRE,    CFS_OP_OPENREF,   CFS_OP_CLOSEREF,
};
#define NOPS (sizeof(all_ops) / sizeof(all_ops[0]))

static char name255[CFS_NAME_MAX];
static char name2_255[CFS_NAME_MAX];
static uint8_t *bigdata; /* CFS_MAX_IO + CFS_XATTR_SIZE_MAX + 1 patterned bytes */

/* A decoder with its output hidden, for the generic malformed-input checks. */
typedef int (*decode_fn)(const void *, size_t);

/* Fills the shared name and data patterns once. */
static int
setup_patterns(void **state)
{
	size_t n = (size_t)CFS_MAX_IO + CFS_XATTR_SIZE_MAX + 1;

	for (size_t i = 0; i < sizeof(name255); i++) {
		name255[i] = (char)('a' + i % 26);
		name2_255[i] = (char)('A' + i % 26);
	}
	bigdata = malloc(n);
	if (bigdata == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		bigdata[i] = (uint8_t)(i * 7 + 3);
	return 0;
}

/* Frees the shared data pattern. */
static int
teardown_patterns(void **state)
{
	free(bigdata);
	return 0;
}

/* An op of the given type with every field set to something distinctive. */
static struct cfs_op
sample_op(uint16_t type, uint16_t namelen, uint16_t name2len, uint32_t datalen)
{
	struct cfs_op op = {
	    .type = type,
	    .flags = 0xdeadbeef,
	    .ino = 0x0102030405060708ull,
	    .ino2 = 0xf1f2f3f4f5f6f7f8ull,
	    .mode = 0100644,
	    .uid = 1000,
	    .gid = 0xfffffffe,
	    .valid = CFS_SET_MODE | CFS_SET_MTIME_NOW | CFS_SET_KILL_SUID,
	    .caller_uid = 4242,
	    .caller_gid = 0xfffffffd,
	    .rdev = 0x0000000800000001ull,
	    .offset = UINT64_MAX - 1,
	    .length = 0x123456789ull,
	    .atime_sec = -1234567890123ll,
	    .atime_nsec = 999999999,
	    .mtime_sec = INT64_MAX,
	    .mtime_nsec = 1,
	    .namelen = namelen,
	    .name = name255,
	    .name2len = name2len,
	    .name2 = name2_255,
	    .datalen = datalen,
	    .data = bigdata,
	};
	return op;
}

/* Attributes with every field set to something distinctive. */
static struct cfs_attr
sample_attr(uint64_t seed)
{
	struct cfs_attr a = {
	    .ino = seed,
	    .mode = 040755,
	    .nlink = 3,
	    .uid = 0x80000000u,
	    .gid = 7,
	    .rdev = 0x1122334455667788ull,
	    .size = (uint64_t)1 << 40,
	    .blocks = 0xabcdef,
	    .atime_sec = -5,
	    .atime_nsec = 123,
	    .mtime_sec = INT64_MIN,
	    .mtime_nsec = 999999999,
	    .ctime_sec = 1700000000,
	    .ctime_nsec = 42,
	    .version = seed ^ 0xffffull,
	    .flags = CFS_FL_IMMUTABLE | CFS_FL_NODUMP,
	};
	return a;
}

/* Asserts two ops are the same, comparing the bytes behind the pointers. */
static void
assert_op_equal(const struct cfs_op *a, const struct cfs_op *b)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->ino, b->ino);
	assert_int_equal(a->ino2, b->ino2);
	assert_int_equal(a->mode, b->mode);
	assert_int_equal(a->uid, b->uid);
	assert_int_equal(a->gid, b->gid);
	assert_int_equal(a->valid, b->valid);
	assert_int_equal(a->caller_uid, b->caller_uid);
	assert_int_equal(a->caller_gid, b->caller_gid);
	assert_int_equal(a->rdev, b->rdev);
	assert_int_equal(a->offset, b->offset);
	assert_int_equal(a->length, b->length);
	assert_true(a->atime_sec == b->atime_sec);
	assert_int_equal(a->atime_nsec, b->atime_nsec);
	assert_true(a->mtime_sec == b->mtime_sec);
	assert_int_equal(a->mtime_nsec, b->mtime_nsec);
	assert_int_equal(a->namelen, b->namelen);
	assert_memory_equal(a->name, b->name, a->namelen);
	assert_int_equal(a->name2len, b->name2len);
	assert_memory_equal(a->name2, b->name2, a->name2len);
	assert_int_equal(a->datalen, b->datalen);
	if (a->datalen > 0)
		assert_memory_equal(a->data, b->data, a->datalen);
}

/* Asserts that ptr lies within [base, base + len]. */
static void
assert_points_into(const void *ptr, const uint8_t *base, size_t len)
{
	const uint8_t *q = ptr;

	assert_non_null(q);
	assert_true(q >= base && q <= base + len);
}

/*
 * Asserts the body decodes, that every proper prefix is SHORT (each prefix in
 * an exactly sized allocation so ASan sees any over-read) and that one byte
 * more is TRAILING.
 */
static void
check_prefixes_and_trailing(decode_fn dec, const uint8_t *body, size_t len)
{
	uint8_t *copy;

	assert_int_equal(dec(body, len), CFS_WIRE_OK);
	for (size_t i = 0; i < len; i++) {
		copy = malloc(i ? i : 1);
		assert_non_null(copy);
		memcpy(copy, body, i);
		assert_int_equal(dec(i ? copy : NULL, i), CFS_WIRE_SHORT);
		free(copy);
	}
	copy = malloc(len + 1);
	assert_non_null(copy);
	memcpy(copy, body, len);
	copy[len] = 0;
	assert_int_equal(dec(copy, len + 1), CFS_WIRE_TRAILING);
	free(copy);
}

/* Decoder adapters with their outputs discarded. */
static int
dec_hello(const void *p, size_t n)
{
	struct cfs_hello h;

	return cfs_hello_decode(p, n, &h);
}

static int
dec_hello_reply(const void *p, size_t n)
{
	static struct cfs_hello_reply h;

	return cfs_hello_reply_decode(p, n, &h);
}

static int
dec_request(const void *p, size_t n)
{
	struct cfs_op op;
	uint64_t acked;

	return cfs_request_decode(p, n, &acked, &op);
}

static int
dec_reply(const void *p, size_t n)
{
	struct cfs_reply rp;

	return cfs_reply_decode(p, n, &rp);
}

static int
dec_entry(const void *p, size_t n)
{
	struct cfs_entry e;

	return cfs_entry_decode(p, n, &e);
}

static int
dec_ack(const void *p, size_t n)
{
	uint64_t sn;

	return cfs_ack_decode(p, n, &sn);
}

static int
dec_status(const void *p, size_t n)
{
	struct cfs_status s;

	return cfs_status_decode(p, n, &s);
}

static int
dec_snapshot(const void *p, size_t n)
{
	struct cfs_snapshot s;

	return cfs_snapshot_decode(p, n, &s);
}

static int
dec_statfs(const void *p, size_t n)
{
	struct cfs_statfs s;

	return cfs_statfs_decode(p, n, &s);
}

static int
dec_dirent_plus(const void *p, size_t n)
{
	struct cfs_dirent d;
	struct cfs_rbuf r;

	cfs_rbuf_init(&r, p, n);
	if (cfs_dirent_get(&r, &d, 1) != CFS_WIRE_OK)
		return r.err;
	return cfs_rbuf_done(&r);
}

/* Writes an op field by field in the documented order, lengths as given. */
static void
put_op_raw(struct cfs_wbuf *w, uint16_t type, uint16_t namelen, uint16_t name2len, uint32_t datalen)
{
	struct cfs_op op = sample_op(type, 0, 0, 0);

	cfs_put_u16(w, op.type);
	cfs_put_u32(w, op.flags);
	cfs_put_u64(w, op.ino);
	cfs_put_u64(w, op.ino2);
	cfs_put_u32(w, op.mode);
	cfs_put_u32(w, op.uid);
	cfs_put_u32(w, op.gid);
	cfs_put_u32(w, op.valid);
	cfs_put_u32(w, op.caller_uid);
	cfs_put_u32(w, op.caller_gid);
	cfs_put_u64(w, op.rdev);
	cfs_put_u64(w, op.offset);
	cfs_put_u64(w, op.length);
	cfs_put_u64(w, (uint64_t)op.atime_sec);
	cfs_put_u32(w, op.atime_nsec);
	cfs_put_u64(w, (uint64_t)op.mtime_sec);
	cfs_put_u32(w, op.mtime_nsec);
	cfs_put_u16(w, namelen);
	cfs_put_bytes(w, bigdata, namelen);
	cfs_put_u16(w, name2len);
	cfs_put_bytes(w, bigdata, name2len);
	cfs_put_u32(w, datalen);
	cfs_put_bytes(w, bigdata, datalen);
}

/* Puts write little-endian bytes and the buffer grows, resets and frees. */
static void
test_wbuf(void **state)
{
	static const uint8_t want[] = {0xab, 0x34, 0x12, 0x78, 0x56, 0x34, 0x12, 0x08, 0x07,
	                               0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 'x',  'y'};
	struct cfs_wbuf w;

	cfs_wbuf_init(&w);
	assert_int_equal(w.len, 0);
	cfs_put_u8(&w, 0xab);
	cfs_put_u16(&w, 0x1234);
	cfs_put_u32(&w, 0x12345678);
	cfs_put_u64(&w, 0x0102030405060708ull);
	cfs_put_bytes(&w, "xy", 2);
	cfs_put_bytes(&w, NULL, 0);
	assert_int_equal(w.len, sizeof(want));
	assert_memory_equal(w.p, want, sizeof(want));
	for (int i = 0; i < 100000; i++)
		cfs_put_u32(&w, (uint32_t)i);
	assert_int_equal(w.len, sizeof(want) + 400000);
	assert_true(w.cap >= w.len);
	assert_memory_equal(w.p, want, sizeof(want));
	assert_int_equal(w.p[sizeof(want) + 4 * 99999], 99999 & 0xff);
	cfs_wbuf_reset(&w);
	assert_int_equal(w.len, 0);
	assert_true(w.cap >= 400000);
	cfs_wbuf_reserve(&w, 10);
	assert_true(w.cap - w.len >= 10);
	cfs_wbuf_free(&w);
	assert_null(w.p);
	assert_int_equal(w.len, 0);
	assert_int_equal(w.cap, 0);
}

/* Getters read little-endian and, once short, fail sticky with zeros. */
static void
test_rbuf(void **state)
{
	static const uint8_t in[] = {0xab, 0x34, 0x12, 0x78, 0x56, 0x34, 0x12, 0x08, 0x07, 0x06,
	                             0x05, 0x04, 0x03, 0x02, 0x01, 'x',  'y',  0xff, 0xee};
	struct cfs_rbuf r;
	const uint8_t *q;

	cfs_rbuf_init(&r, in, sizeof(in));
	assert_int_equal(cfs_get_u8(&r), 0xab);
	assert_int_equal(cfs_get_u16(&r), 0x1234);
	assert_int_equal(cfs_get_u32(&r), 0x12345678);
	assert_true(cfs_get_u64(&r) == 0x0102030405060708ull);
	q = cfs_get_bytes(&r, 2);
	assert_ptr_equal(q, in + 15);
	assert_int_equal(cfs_rbuf_done(&r), CFS_WIRE_TRAILING);
	/* a u32 with two bytes left fails without consuming them */
	assert_int_equal(cfs_get_u32(&r), 0);
	assert_int_equal(r.err, CFS_WIRE_SHORT);
	assert_int_equal(r.off, 17);
	/* the failure is sticky even for reads that would fit */
	assert_int_equal(cfs_get_u8(&r), 0);
	assert_int_equal(cfs_get_u16(&r), 0);
	assert_true(cfs_get_u64(&r) == 0);
	assert_null(cfs_get_bytes(&r, 0));
	assert_int_equal(cfs_rbuf_done(&r), CFS_WIRE_SHORT);

	cfs_rbuf_init(&r, in, sizeof(in));
	assert_null(cfs_get_bytes(&r, sizeof(in) + 1));
	assert_int_equal(r.err, CFS_WIRE_SHORT);
	cfs_rbuf_init(&r, in, sizeof(in));
	assert_ptr_equal(cfs_get_bytes(&r, sizeof(in)), in);
	assert_ptr_equal(cfs_get_bytes(&r, 0), in + sizeof(in));
	assert_int_equal(cfs_rbuf_done(&r), CFS_WIRE_OK);
	assert_int_equal(cfs_get_u16(&r), 0);
	assert_int_equal(cfs_rbuf_done(&r), CFS_WIRE_SHORT);

	/* an empty input with no pointer at all */
	cfs_rbuf_init(&r, NULL, 0);
	assert_int_equal(cfs_rbuf_done(&r), CFS_WIRE_OK);
	assert_null(cfs_get_bytes(&r, 0));
	assert_int_equal(cfs_rbuf_done(&r), CFS_WIRE_OK);
	assert_int_equal(cfs_get_u8(&r), 0);
	assert_int_equal(cfs_rbuf_done(&r), CFS_WIRE_SHORT);
}

/* The header has the documented layout and survives a round trip. */
static void
test_header_roundtrip(void **state)
{
	static const uint8_t want[CFS_HEADER_SIZE] = {
	    'C',  'H',  'F',  'S',  10,   0,    CFS_MSG_ENTRY, 0,    0,    0,    0,    0,    0x10,
	    0x20, 0x01, 0x00, 0x88, 0x77, 0x66, 0x55,          0x44, 0x33, 0x22, 0x11, 0x09, 0,
	    0,    0,    0,    0,    0,    0x80,
	};
	struct cfs_header h = {
	    .magic = CFS_MAGIC,
	    .version = CFS_PROTOCOL_VERSION,
	    .type = CFS_MSG_ENTRY,
	    .flags = 0,
	    .length = 0x12010,
	    .reqid = 0x1122334455667788ull,
	    .epoch = 0x8000000000000009ull,
	};
	struct cfs_header g;
	uint8_t out[CFS_HEADER_SIZE + 1];

	cfs_header_encode(out, &h);
	assert_memory_equal(out, want, CFS_HEADER_SIZE);
	assert_int_equal(cfs_header_decode(out, CFS_HEADER_SIZE, &g), CFS_WIRE_OK);
	assert_int_equal(g.magic, CFS_MAGIC);
	assert_int_equal(g.version, CFS_PROTOCOL_VERSION);
	assert_int_equal(g.type, CFS_MSG_ENTRY);
	assert_int_equal(g.flags, 0);
	assert_int_equal(g.length, 0x12010);
	assert_true(g.reqid == h.reqid);
	assert_true(g.epoch == h.epoch);
	/* more bytes than a header (the body follows) are fine */
	out[CFS_HEADER_SIZE] = 0x5a;
	assert_int_equal(cfs_header_decode(out, sizeof(out), &g), CFS_WIRE_OK);

	/* every type is accepted, and both length boundaries */
	for (uint16_t t = 1; t < CFS_MSG_max; t++) {
		h.type = t;
		h.length = t & 1 ? 0 : CFS_MAX_BODY;
		cfs_header_encode(out, &h);
		assert_int_equal(cfs_header_decode(out, CFS_HEADER_SIZE, &g), CFS_WIRE_OK);
		assert_int_equal(g.type, t);
		assert_int_equal(g.length, h.length);
	}
}

/* Encodes h and asserts the decoder answers want. */
static void
check_header_err(const struct cfs_header *h, int want)
{
	uint8_t out[CFS_HEADER_SIZE];
	struct cfs_header g;

	cfs_header_encode(out, h);
	assert_int_equal(cfs_header_decode(out, sizeof(out), &g), want);
}

/* Each header check rejects with its own error; fewer than 32 bytes is SHORT. */
static void
test_header_reject(void **state)
{
	const struct cfs_header good = {
	    .magic = CFS_MAGIC,
	    .version = CFS_PROTOCOL_VERSION,
	    .type = CFS_MSG_REQUEST,
	    .length = 100,
	    .reqid = 5,
	    .epoch = 6,
	};
	struct cfs_header h;
	uint8_t out[CFS_HEADER_SIZE];
	uint8_t *copy;

	check_header_err(&good, CFS_WIRE_OK);
	h = good;
	h.magic = 0x53464844;
	check_header_err(&h, CFS_WIRE_BAD_MAGIC);
	h.magic = 0x43484653; /* "CHFS" big-endian */
	check_header_err(&h, CFS_WIRE_BAD_MAGIC);
	h = good;
	h.version = 0;
	check_header_err(&h, CFS_WIRE_BAD_VERSION);
	h.version = 1; /* version 1 entries had no epoch */
	check_header_err(&h, CFS_WIRE_BAD_VERSION);
	h.version = 2; /* version 2 HELLOs had no applied_sn */
	check_header_err(&h, CFS_WIRE_BAD_VERSION);
	h.version = 3; /* version 3 HELLO_REPLYs had no session TTL */
	check_header_err(&h, CFS_WIRE_BAD_VERSION);
	h.version = 4; /* version 4 had no leases */
	check_header_err(&h, CFS_WIRE_BAD_VERSION);
	h.version = 5; /* version 5 REPLYs had no directories */
	check_header_err(&h, CFS_WIRE_BAD_VERSION);
	h.version = 6; /* version 6 had no locks */
	check_header_err(&h, CFS_WIRE_BAD_VERSION);
	h.version = 7; /* version 7 had no open references */
	check_header_err(&h, CFS_WIRE_BAD_VERSION);
	h.version = 8; /* version 8 refused FALLOCATE's ZERO_RANGE */
	check_header_err(&h, CFS_WIRE_BAD_VERSION);
	h.version = 9; /* version 9 attrs had no flags */
	check_header_err(&h, CFS_WIRE_BAD_VERSION);
	h.version = 11;
	check_header_err(&h, CFS_WIRE_BAD_VERSION);
	h = good;
	h.type = 0;
	check_header_err(&h, CFS_WIRE_BAD_TYPE);
	h.type = CFS_MSG_max;
	check_header_err(&h, CFS_WIRE_BAD_TYPE);
	h.type = 0xffff;
	check_header_err(&h, CFS_WIRE_BAD_TYPE);
	h = good;
	h.flags = 1;
	check_header_err(&h, CFS_WIRE_BAD_FLAGS);
	h.flags = 0x80000000u;
	check_header_err(&h, CFS_WIRE_BAD_FLAGS);
	h = good;
	h.length = CFS_MAX_BODY + 1;
	check_header_err(&h, CFS_WIRE_TOO_LONG);
	h.length = UINT32_MAX;
	check_header_err(&h, CFS_WIRE_TOO_LONG);

	cfs_header_encode(out, &good);
	for (size_t i = 0; i < CFS_HEADER_SIZE; i++) {
		copy = malloc(i ? i : 1);
		assert_non_null(copy);
		memcpy(copy, out, i);
		assert_int_equal(cfs_header_decode(copy, i, &h), CFS_WIRE_SHORT);
		free(copy);
	}
}

/* Frames get a header whose length covers exactly their body. */
static void
test_frame(void **state)
{
	struct cfs_wbuf w;
	struct cfs_header h;
	size_t a, b;
	uint64_t sn;

	cfs_wbuf_init(&w);
	a = cfs_frame_begin(&w, CFS_MSG_ACK, 77, 3);
	assert_int_equal(a, 0);
	cfs_ack_encode(&w, 0x1234567890ull);
	cfs_frame_end(&w, a);
	b = cfs_frame_begin(&w, CFS_MSG_STATUS, 78, 4);
	assert_int_equal(b, CFS_HEADER_SIZE + 8);
	cfs_frame_end(&w, b);
	assert_int_equal(w.len, 2 * CFS_HEADER_SIZE + 8);

	assert_int_equal(cfs_header_decode(w.p, w.len, &h), CFS_WIRE_OK);
	assert_int_equal(h.type, CFS_MSG_ACK);
	assert_int_equal(h.length, 8);
	assert_int_equal(h.reqid, 77);
	assert_int_equal(h.epoch, 3);
	assert_int_equal(cfs_ack_decode(w.p + CFS_HEADER_SIZE, h.length, &sn), CFS_WIRE_OK);
	assert_true(sn == 0x1234567890ull);

	assert_int_equal(cfs_header_decode(w.p + b, w.len - b, &h), CFS_WIRE_OK);
	assert_int_equal(h.type, CFS_MSG_STATUS);
	assert_int_equal(h.length, 0);
	assert_int_equal(h.reqid, 78);
	assert_int_equal(h.epoch, 4);
	cfs_wbuf_free(&w);
}

/* HELLO round-trips for every role, with empty and longest names. */
static void
test_hello_roundtrip(void **state)
{
	struct cfs_hello h, g;
	struct cfs_wbuf w;

	for (uint8_t role = CFS_PEER_CLIENT; role <= CFS_PEER_ADMIN; role++) {
		for (int longest = 0; longest < 2; longest++) {
			memset(&h, 0, sizeof(h));
			h.role = role;
			h.client_id = 0xfedcba9876543210ull + role;
			h.applied_sn = 0x0123456789abcdefull - role;
			h.lease_ms = longest ? UINT32_MAX : 5000;
			if (longest)
				memcpy(h.name, name255, CFS_NODE_NAME_MAX);
			cfs_wbuf_init(&w);
			cfs_hello_encode(&w, &h);
			assert_int_equal(w.len, 1 + 8 + 2 + strlen(h.name) + 8 + 4);
			memset(&g, 0x55, sizeof(g));
			assert_int_equal(cfs_hello_decode(w.p, w.len, &g), CFS_WIRE_OK);
			assert_int_equal(g.role, role);
			assert_true(g.client_id == h.client_id);
			assert_string_equal(g.name, h.name);
			assert_true(g.applied_sn == h.applied_sn);
			assert_int_equal(g.lease_ms, h.lease_ms);
			check_prefixes_and_trailing(dec_hello, w.p, w.len);
			cfs_wbuf_free(&w);
		}
	}
}

/* HELLO rejects bad roles and bad names. */
static void
test_hello_reject(void **state)
{
	struct cfs_hello g;
	struct cfs_wbuf w;
	const uint8_t bad_roles[] = {0, 4, 0xff};

	for (size_t i = 0; i < sizeof(bad_roles); i++) {
		cfs_wbuf_init(&w);
		cfs_put_u8(&w, bad_roles[i]);
		cfs_put_u64(&w, 1);
		cfs_put_u16(&w, 1);
		cfs_put_u8(&w, 'n');
		assert_int_equal(cfs_hello_decode(w.p, w.len, &g), CFS_WIRE_BAD_FIELD);
		cfs_wbuf_free(&w);
	}
	/* a name one byte over the array */
	cfs_wbuf_init(&w);
	cfs_put_u8(&w, CFS_PEER_NODE);
	cfs_put_u64(&w, 1);
	cfs_put_u16(&w, CFS_NODE_NAME_MAX + 1);
	cfs_put_bytes(&w, name255, CFS_NODE_NAME_MAX + 1);
	assert_int_equal(cfs_hello_decode(w.p, w.len, &g), CFS_WIRE_TOO_LONG);
	cfs_wbuf_free(&w);
	/* a name with a NUL inside */
	cfs_wbuf_init(&w);
	cfs_put_u8(&w, CFS_PEER_NODE);
	cfs_put_u64(&w, 1);
	cfs_put_u16(&w, 3);
	cfs_put_bytes(&w, "a\0b", 3);
	assert_int_equal(cfs_hello_decode(w.p, w.len, &g), CFS_WIRE_BAD_FIELD);
	cfs_wbuf_free(&w);
}

/* Fills a hello reply with n nodes; odd ones get the longest names and hosts. */
static void
sample_hello_reply(struct cfs_hello_reply *h, uint16_t n)
{
	memset(h, 0, sizeof(*h));
	h->status = CFS_ERR_EPOCH;
	strcpy(h->name, "node-b");
	h->role = CFS_ROLE_HEAD | CFS_ROLE_TAIL;
	h->applied_sn = 0xa0a0a0a0a0a0a0a0ull;
	h->applied_epoch = 0x0b0b0b0b0b0b0b0bull;
	h->epoch = 17;
	h->session_ttl_s = 86400;
	h->lock_lease_ms = 15000;
	h->nnodes = n;
	for (uint16_t i = 0; i < n; i++) {
		if (i % 2) {
			memcpy(h->nodes[i].name, name255, CFS_NODE_NAME_MAX);
			memcpy(h->nodes[i].host, name2_255, CFS_HOST_MAX);
		} else {
			snprintf(h->nodes[i].name, sizeof(h->nodes[i].name), "n%u", i);
			snprintf(h->nodes[i].host, sizeof(h->nodes[i].host), "10.0.0.%u", i);
		}
		h->nodes[i].port = (uint16_t)(65535 - i);
	}
}

/* HELLO_REPLY round-trips with no nodes and with the most nodes. */
static void
test_hello_reply_roundtrip(void **state)
{
	static struct cfs_hello_reply h, g;
	const uint16_t counts[] = {0, 1, 3, CFS_MAX_NODES};
	struct cfs_wbuf w;

	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		sample_hello_reply(&h, counts[c]);
		cfs_wbuf_init(&w);
		cfs_hello_reply_encode(&w, &h);
		memset(&g, 0x55, sizeof(g));
		assert_int_equal(cfs_hello_reply_decode(w.p, w.len, &g), CFS_WIRE_OK);
		assert_int_equal(g.status, CFS_ERR_EPOCH);
		assert_string_equal(g.name, "node-b");
		assert_int_equal(g.role, CFS_ROLE_HEAD | CFS_ROLE_TAIL);
		assert_true(g.applied_sn == h.applied_sn);
		assert_true(g.applied_epoch == h.applied_epoch);
		assert_int_equal(g.epoch, 17);
		assert_int_equal(g.session_ttl_s, 86400);
		assert_int_equal(g.lock_lease_ms, 15000);
		assert_int_equal(g.nnodes, counts[c]);
		for (uint16_t i = 0; i < counts[c]; i++) {
			assert_string_equal(g.nodes[i].name, h.nodes[i].name);
			assert_string_equal(g.nodes[i].host, h.nodes[i].host);
			assert_int_equal(g.nodes[i].port, h.nodes[i].port);
		}
		if (counts[c] <= 3)
			check_prefixes_and_trailing(dec_hello_reply, w.p, w.len);
		cfs_wbuf_free(&w);
	}
}

/* Writes a hello reply prefix by hand with the given role and node count. */
static void
put_hello_reply_head(struct cfs_wbuf *w, uint8_t role, uint16_t nnodes)
{
	cfs_put_u32(w, 0);
	cfs_put_u16(w, 1);
	cfs_put_u8(w, 'x');
	cfs_put_u8(w, role);
	cfs_put_u64(w, 1);
	cfs_put_u64(w, 3);
	cfs_put_u64(w, 2);
	cfs_put_u32(w, 3600);
	cfs_put_u32(w, 15000);
	cfs_put_u16(w, nnodes);
}

/* HELLO_REPLY rejects too many nodes, unknown role bits and bad strings. */
static void
test_hello_reply_reject(void **state)
{
	static struct cfs_hello_reply g;
	struct cfs_wbuf w;

	/* CFS_MAX_NODES + 1 well-formed nodes are still too many */
	cfs_wbuf_init(&w);
	put_hello_reply_head(&w, 0, CFS_MAX_NODES + 1);
	for (int i = 0; i < CFS_MAX_NODES + 1; i++) {
		cfs_put_u16(&w, 1);
		cfs_put_u8(&w, 'n');
		cfs_put_u16(&w, 1);
		cfs_put_u8(&w, 'h');
		cfs_put_u16(&w, 1);
	}
	assert_int_equal(cfs_hello_reply_decode(w.p, w.len, &g), CFS_WIRE_TOO_LONG);
	cfs_wbuf_free(&w);
	cfs_wbuf_init(&w);
	put_hello_reply_head(&w, 0, 0xffff);
	assert_int_equal(cfs_hello_reply_decode(w.p, w.len, &g), CFS_WIRE_TOO_LONG);
	cfs_wbuf_free(&w);

	cfs_wbuf_init(&w);
	put_hello_reply_head(&w, 4, 0);
	assert_int_equal(cfs_hello_reply_decode(w.p, w.len, &g), CFS_WIRE_BAD_FIELD);
	cfs_wbuf_free(&w);

	/* a host one byte over its array */
	cfs_wbuf_init(&w);
	put_hello_reply_head(&w, CFS_ROLE_TAIL, 1);
	cfs_put_u16(&w, 1);
	cfs_put_u8(&w, 'n');
	cfs_put_u16(&w, CFS_HOST_MAX + 1);
	cfs_put_bytes(&w, bigdata, CFS_HOST_MAX + 1);
	cfs_put_u16(&w, 1);
	assert_int_equal(cfs_hello_reply_decode(w.p, w.len, &g), CFS_WIRE_TOO_LONG);
	cfs_wbuf_free(&w);

	/* a node name one byte over its array */
	cfs_wbuf_init(&w);
	put_hello_reply_head(&w, CFS_ROLE_TAIL, 1);
	cfs_put_u16(&w, CFS_NODE_NAME_MAX + 1);
	cfs_put_bytes(&w, name255, CFS_NODE_NAME_MAX + 1);
	cfs_put_u16(&w, 1);
	cfs_put_u8(&w, 'h');
	cfs_put_u16(&w, 1);
	assert_int_equal(cfs_hello_reply_decode(w.p, w.len, &g), CFS_WIRE_TOO_LONG);
	cfs_wbuf_free(&w);

	/* a host with a NUL inside */
	cfs_wbuf_init(&w);
	put_hello_reply_head(&w, CFS_ROLE_TAIL, 1);
	cfs_put_u16(&w, 1);
	cfs_put_u8(&w, 'n');
	cfs_put_u16(&w, 2);
	cfs_put_bytes(&w, "h\0", 2);
	cfs_put_u16(&w, 1);
	assert_int_equal(cfs_hello_reply_decode(w.p, w.len, &g), CFS_WIRE_BAD_FIELD);
	cfs_wbuf_free(&w);

	/* the node list shorter than nnodes says */
	cfs_wbuf_init(&w);
	put_hello_reply_head(&w, CFS_ROLE_TAIL, 2);
	cfs_put_u16(&w, 1);
	cfs_put_u8(&w, 'n');
	cfs_put_u16(&w, 1);
	cfs_put_u8(&w, 'h');
	cfs_put_u16(&w, 1);
	assert_int_equal(cfs_hello_reply_decode(w.p, w.len, &g), CFS_WIRE_SHORT);
	cfs_wbuf_free(&w);
}

/* Every op type round-trips in a REQUEST with boundary and small sizes. */
static void
test_request_roundtrip(void **state)
{
	struct cfs_op op, got;
	struct cfs_wbuf w;
	uint64_t acked;

	for (size_t i = 0; i < NOPS; i++) {
		/* boundary sizes; the full data size only where data travels */
		uint32_t datalen = all_ops[i] == CFS_OP_WRITE ? CFS_MAX_IO : 300;

		op = sample_op(all_ops[i], CFS_NAME_MAX, CFS_NAME_MAX, datalen);
		cfs_wbuf_init(&w);
		cfs_request_encode(&w, 0x7766554433221100ull + i, &op);
		assert_int_equal(w.len, 8 + 102 + 2 * CFS_NAME_MAX + datalen);
		memset(&got, 0x55, sizeof(got));
		acked = 1;
		assert_int_equal(cfs_request_decode(w.p, w.len, &acked, &got), CFS_WIRE_OK);
		assert_true(acked == 0x7766554433221100ull + i);
		assert_op_equal(&op, &got);
		/* zero-copy: the pointers lie inside the frame */
		assert_points_into(got.name, w.p, w.len);
		assert_points_into(got.name2, w.p, w.len);
		assert_points_into(got.data, w.p, w.len);
		cfs_wbuf_free(&w);

		/* small sizes, with every truncation */
		op = sample_op(all_ops[i], (uint16_t)(i % 4), (uint16_t)(i % 3), (uint32_t)i);
		cfs_wbuf_init(&w);
		cfs_request_encode(&w, i, &op);
		assert_int_equal(cfs_request_decode(w.p, w.len, &acked, &got), CFS_WIRE_OK);
		assert_op_equal(&op, &got);
		check_prefixes_and_trailing(dec_request, w.p, w.len);
		cfs_wbuf_free(&w);
	}
}

/* The encoder writes exactly the documented field order. */
static void
test_request_layout(void **state)
{
	struct cfs_op op = sample_op(CFS_OP_RENAME, 5, 7, 9);
	struct cfs_wbuf w, want;

	/* put_op_raw takes the name bytes from bigdata, so point the op there too */
	op.name = (const char *)bigdata;
	op.name2 = (const char *)bigdata;
	cfs_wbuf_init(&w);
	cfs_wbuf_init(&want);
	cfs_request_encode(&w, 42, &op);
	cfs_put_u64(&want, 42);
	put_op_raw(&want, CFS_OP_RENAME, 5, 7, 9);
	assert_int_equal(w.len, want.len);
	assert_memory_equal(w.p, want.p, w.len);
	cfs_wbuf_free(&w);
	cfs_wbuf_free(&want);
}

/* Builds a REQUEST by hand and asserts what the decoder says about it. */
static void
check_request_raw(uint16_t type, uint16_t namelen, uint16_t name2len, uint32_t datalen, int want)
{
	struct cfs_wbuf w;
	struct cfs_op op;
	uint64_t acked;

	cfs_wbuf_init(&w);
	cfs_put_u64(&w, 1);
	put_op_raw(&w, type, namelen, name2len, datalen);
	assert_int_equal(cfs_request_decode(w.p, w.len, &acked, &op), want);
	cfs_wbuf_free(&w);
}

/* REQUEST rejects unknown ops and over-long names and data. */
static void
test_request_reject(void **state)
{
	const uint16_t bad_types[] = {0, CFS_OP_LKSTATE + 1, CFS_OP_CREATE - 1,
	                              CFS_OP_CLOSEREF + 1, 0xffff};

	/* both sides of each boundary */
	check_request_raw(CFS_OP_WRITE, CFS_NAME_MAX, CFS_NAME_MAX, CFS_MAX_IO, CFS_WIRE_OK);
	for (size_t i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++)
		check_request_raw(bad_types[i], 1, 0, 0, CFS_WIRE_BAD_FIELD);
	check_request_raw(CFS_OP_LOOKUP, CFS_NAME_MAX + 1, 0, 0, CFS_WIRE_TOO_LONG);
	check_request_raw(CFS_OP_RENAME, 1, CFS_NAME_MAX + 1, 0, CFS_WIRE_TOO_LONG);
	check_request_raw(CFS_OP_RENAME, 1, 0xffff, 0, CFS_WIRE_TOO_LONG);
	check_request_raw(CFS_OP_WRITE, 0, 0, CFS_MAX_IO + 1, CFS_WIRE_TOO_LONG);
	check_request_raw(CFS_OP_WRITE, 0, 0, CFS_MAX_IO + CFS_XATTR_SIZE_MAX, CFS_WIRE_TOO_LONG);
}

/* REPLY round-trips, up to the largest data it may carry. */
static void
test_reply_roundtrip(void **state)
{
	const uint32_t sizes[] = {0, 17, CFS_MAX_IO, CFS_MAX_IO + CFS_XATTR_SIZE_MAX};
	const int32_t statuses[] = {0, 2, CFS_ERR_NOT_TAIL, CFS_ERR_DENIED};
	struct cfs_reply rp, got;
	struct cfs_wbuf w;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memset(&rp, 0, sizeof(rp));
		rp.status = statuses[i];
		rp.flags = i % 2 ? CFS_REPLY_ATTR : 0;
		rp.attr = sample_attr(i + 100);
		rp.value = UINT64_MAX - i;
		rp.lease_ms = (uint32_t)(i * 2500);
		rp.ndirs = (uint8_t)(i % (CFS_REPLY_DIRS_MAX + 1));
		for (unsigned d = 0; d < rp.ndirs; d++)
			rp.dirs[d] = sample_attr(i + 200 + d);
		rp.datalen = sizes[i];
		rp.data = bigdata;
		cfs_wbuf_init(&w);
		cfs_reply_encode(&w, &rp);
		assert_int_equal(w.len, 4 + 4 + 96 + 8 + 4 + 1 + 96 * rp.ndirs + 4 + sizes[i]);
		memset(&got, 0x55, sizeof(got));
		assert_int_equal(cfs_reply_decode(w.p, w.len, &got), CFS_WIRE_OK);
		assert_int_equal(got.status, statuses[i]);
		assert_int_equal(got.flags, rp.flags);
		assert_attr_equal(&got.attr, &rp.attr);
		assert_true(got.value == rp.value);
		assert_int_equal(got.lease_ms, rp.lease_ms);
		assert_int_equal(got.ndirs, rp.ndirs);
		for (unsigned d = 0; d < rp.ndirs; d++)
			assert_attr_equal(&got.dirs[d], &rp.dirs[d]);
		assert_int_equal(got.datalen, sizes[i]);
		assert_points_into(got.data, w.p, w.len);
		if (sizes[i] > 0)
			assert_memory_equal(got.data, bigdata, sizes[i]);
		if (sizes[i] < 100)
			check_prefixes_and_trailing(dec_reply, w.p, w.len);
		cfs_wbuf_free(&w);
	}
}

/* Writes a REPLY body by hand up to its directory count, with ndirs copies of a. */
static void
put_reply_head(struct cfs_wbuf *w, const struct cfs_attr *a, uint8_t ndirs)
{
	cfs_put_u32(w, 0);
	cfs_put_u32(w, CFS_REPLY_ATTR);
	cfs_attr_put(w, a);
	cfs_put_u64(w, 0);
	cfs_put_u32(w, 0);
	cfs_put_u8(w, ndirs);
	for (unsigned d = 0; d < ndirs; d++)
		cfs_attr_put(w, a);
}

/* REPLY rejects data over its limit, and more directories than a rename has. */
static void
test_reply_reject(void **state)
{
	struct cfs_attr a = sample_attr(1);
	struct cfs_reply got;
	struct cfs_wbuf w;
	uint32_t n = CFS_MAX_IO + CFS_XATTR_SIZE_MAX + 1;

	cfs_wbuf_init(&w);
	put_reply_head(&w, &a, 0);
	cfs_put_u32(&w, n);
	cfs_put_bytes(&w, bigdata, n);
	assert_int_equal(cfs_reply_decode(w.p, w.len, &got), CFS_WIRE_TOO_LONG);
	/* the same size claimed without the bytes is still too long, not short */
	assert_int_equal(cfs_reply_decode(w.p, w.len - n, &got), CFS_WIRE_TOO_LONG);
	cfs_wbuf_free(&w);

	/* more directories than a rename has */
	cfs_wbuf_init(&w);
	put_reply_head(&w, &a, CFS_REPLY_DIRS_MAX + 1);
	cfs_put_u32(&w, 0);
	assert_int_equal(cfs_reply_decode(w.p, w.len, &got), CFS_WIRE_TOO_LONG);
	assert_int_equal(got.ndirs, 0);
	cfs_wbuf_free(&w);
}

static int
dec_recall(const void *p, size_t len)
{
	struct cfs_recall r;

	return cfs_recall_decode(p, len, &r);
}

/* RECALL: the documented layout, up to the most items, and back. */
static void
test_recall_roundtrip(void **state)
{
	static const uint8_t want[] = {2, 0, 1, 7, 0, 0, 0, 0, 0, 0, 0, 2,
				       0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11};
	struct cfs_recall got;
	struct cfs_wbuf w;
	size_t at;

	cfs_wbuf_init(&w);
	at = cfs_recall_begin(&w);
	cfs_recall_add(&w, at, CFS_RECALL_INODE, 7);
	cfs_recall_add(&w, at, CFS_RECALL_GONE, 0x1122334455667788ull);
	assert_int_equal(w.len, sizeof(want));
	assert_memory_equal(w.p, want, sizeof(want));
	assert_int_equal(cfs_recall_decode(w.p, w.len, &got), CFS_WIRE_OK);
	assert_int_equal(got.n, 2);
	assert_int_equal(got.items[0].kind, CFS_RECALL_INODE);
	assert_true(got.items[0].ino == 7);
	assert_int_equal(got.items[1].kind, CFS_RECALL_GONE);
	assert_true(got.items[1].ino == 0x1122334455667788ull);
	check_prefixes_and_trailing(dec_recall, w.p, w.len);
	cfs_wbuf_free(&w);

	/* no items at all, and the most */
	cfs_wbuf_init(&w);
	at = cfs_recall_begin(&w);
	assert_int_equal(cfs_recall_decode(w.p, w.len, &got), CFS_WIRE_OK);
	assert_int_equal(got.n, 0);
	for (uint64_t i = 0; i < CFS_RECALL_MAX; i++)
		cfs_recall_add(&w, at, CFS_RECALL_INODE, i + 1);
	assert_int_equal(cfs_recall_decode(w.p, w.len, &got), CFS_WIRE_OK);
	assert_int_equal(got.n, CFS_RECALL_MAX);
	for (uint64_t i = 0; i < CFS_RECALL_MAX; i++)
		assert_true(got.items[i].ino == i + 1);
	cfs_wbuf_free(&w);
}

/* RECALL refuses too many items and unknown kinds. */
static void
test_recall_reject(void **state)
{
	struct cfs_recall got;
	struct cfs_wbuf w;

	cfs_wbuf_init(&w);
	cfs_put_u16(&w, CFS_RECALL_MAX + 1);
	for (int i = 0; i <= CFS_RECALL_MAX; i++) {
		cfs_put_u8(&w, CFS_RECALL_INODE);
		cfs_put_u64(&w, 1);
	}
	assert_int_equal(cfs_recall_decode(w.p, w.len, &got), CFS_WIRE_BAD_FIELD);
	assert_int_equal(got.n, 0);
	cfs_wbuf_reset(&w);
	cfs_put_u16(&w, 1);
	cfs_put_u8(&w, 3);
	cfs_put_u64(&w, 1);
	assert_int_equal(cfs_recall_decode(w.p, w.len, &got), CFS_WIRE_BAD_FIELD);
	cfs_wbuf_reset(&w);
	cfs_put_u16(&w, 1);
	cfs_put_u8(&w, 0);
	cfs_put_u64(&w, 1);
	assert_int_equal(cfs_recall_decode(w.p, w.len, &got), CFS_WIRE_BAD_FIELD);
	cfs_wbuf_free(&w);
}

/* ENTRY round-trips for both kinds and every op type. */
static void
test_entry_roundtrip(void **state)
{
	struct cfs_entry e, got;
	struct cfs_wbuf w;

	for (size_t i = 0; i < NOPS; i++) {
		for (uint8_t kind = CFS_ENTRY_UPDATE; kind <= CFS_ENTRY_REPLY_ONLY; kind++) {
			int big = kind == CFS_ENTRY_UPDATE;

			memset(&e, 0, sizeof(e));
			e.sn = 0x100000000ull + i;
			e.epoch = 0x7000000000000003ull + i;
			e.kind = kind;
			e.client_id = 0xc11e47ull;
			e.seq = 99 + i;
			e.acked_below = 98;
			e.new_ino = 0x8000000000000001ull;
			e.time_sec = -86400;
			e.time_nsec = 500000000;
			e.result = i % 2 ? -CFS_ERR_BUSY : CFS_ERR_NOT_HEAD;
			e.op = big ? sample_op(all_ops[i], CFS_NAME_MAX, CFS_NAME_MAX,
			                       all_ops[i] == CFS_OP_WRITE ? CFS_MAX_IO : 1000)
			           : sample_op(all_ops[i], 3, 2, 5);
			cfs_wbuf_init(&w);
			cfs_entry_encode(&w, &e);
			assert_int_equal(w.len, 8 + 8 + 1 + 8 * 5 + 4 + 4 + 102 + e.op.namelen +
			                            e.op.name2len + e.op.datalen);
			memset(&got, 0x55, sizeof(got));
			assert_int_equal(cfs_entry_decode(w.p, w.len, &got), CFS_WIRE_OK);
			assert_true(got.sn == e.sn);
			assert_true(got.epoch == e.epoch);
			assert_int_equal(got.kind, kind);
			assert_true(got.client_id == e.client_id);
			assert_true(got.seq == e.seq);
			assert_true(got.acked_below == e.acked_below);
			assert_true(got.new_ino == e.new_ino);
			assert_true(got.time_sec == e.time_sec);
			assert_int_equal(got.time_nsec, e.time_nsec);
			assert_int_equal(got.result, e.result);
			assert_op_equal(&e.op, &got.op);
			assert_points_into(got.op.data, w.p, w.len);
			if (!big)
				check_prefixes_and_trailing(dec_entry, w.p, w.len);
			cfs_wbuf_free(&w);
		}
	}
}

/* Writes an entry prefix by hand with the given kind. */
static void
put_entry_head(struct cfs_wbuf *w, uint8_t kind)
{
	cfs_put_u64(w, 1);
	cfs_put_u64(w, 1);
	cfs_put_u8(w, kind);
	for (int i = 0; i < 5; i++)
		cfs_put_u64(w, (uint64_t)i);
	cfs_put_u32(w, 0);
	cfs_put_u32(w, 0);
}

/* ENTRY rejects unknown kinds and the op errors. */
static void
test_entry_reject(void **state)
{
	const uint8_t bad_kinds[] = {0, 3, 0xff};
	struct cfs_entry got;
	struct cfs_wbuf w;

	cfs_wbuf_init(&w);
	put_entry_head(&w, CFS_ENTRY_UPDATE);
	put_op_raw(&w, CFS_OP_MKDIR, 4, 0, 0);
	assert_int_equal(cfs_entry_decode(w.p, w.len, &got), CFS_WIRE_OK);
	cfs_wbuf_free(&w);
	for (size_t i = 0; i < sizeof(bad_kinds); i++) {
		cfs_wbuf_init(&w);
		put_entry_head(&w, bad_kinds[i]);
		put_op_raw(&w, CFS_OP_MKDIR, 4, 0, 0);
		assert_int_equal(cfs_entry_decode(w.p, w.len, &got), CFS_WIRE_BAD_FIELD);
		cfs_wbuf_free(&w);
	}
	cfs_wbuf_init(&w);
	put_entry_head(&w, CFS_ENTRY_UPDATE);
	put_op_raw(&w, CFS_OP_LKSTATE + 1, 4, 0, 0);
	assert_int_equal(cfs_entry_decode(w.p, w.len, &got), CFS_WIRE_BAD_FIELD);
	cfs_wbuf_free(&w);
	cfs_wbuf_init(&w);
	put_entry_head(&w, CFS_ENTRY_UPDATE);
	put_op_raw(&w, CFS_OP_MKDIR, CFS_NAME_MAX + 1, 0, 0);
	assert_int_equal(cfs_entry_decode(w.p, w.len, &got), CFS_WIRE_TOO_LONG);
	cfs_wbuf_free(&w);
	cfs_wbuf_init(&w);
	put_entry_head(&w, CFS_ENTRY_UPDATE);
	put_op_raw(&w, CFS_OP_RENAME, 1, CFS_NAME_MAX + 1, 0);
	assert_int_equal(cfs_entry_decode(w.p, w.len, &got), CFS_WIRE_TOO_LONG);
	cfs_wbuf_free(&w);
	cfs_wbuf_init(&w);
	put_entry_head(&w, CFS_ENTRY_UPDATE);
	put_op_raw(&w, CFS_OP_WRITE, 0, 0, CFS_MAX_IO + 1);
	assert_int_equal(cfs_entry_decode(w.p, w.len, &got), CFS_WIRE_TOO_LONG);
	cfs_wbuf_free(&w);
}

/* ACK round-trips and is exactly eight bytes. */
static void
test_ack(void **state)
{
	const uint64_t sns[] = {0, 1, UINT64_MAX};
	struct cfs_wbuf w;
	uint64_t sn;

	for (size_t i = 0; i < sizeof(sns) / sizeof(sns[0]); i++) {
		cfs_wbuf_init(&w);
		cfs_ack_encode(&w, sns[i]);
		assert_int_equal(w.len, 8);
		sn = 12345;
		assert_int_equal(cfs_ack_decode(w.p, w.len, &sn), CFS_WIRE_OK);
		assert_true(sn == sns[i]);
		check_prefixes_and_trailing(dec_ack, w.p, w.len);
		cfs_wbuf_free(&w);
	}
}

/* STATUS_REPLY round-trips and rejects bad roles, flags and names. */
static void
test_status(void **state)
{
	struct cfs_status s, got;
	struct cfs_wbuf w;

	memset(&s, 0, sizeof(s));
	memcpy(s.name, name255, CFS_NODE_NAME_MAX);
	s.role = CFS_ROLE_TAIL;
	s.epoch = 3;
	s.applied_sn = 1000;
	s.acked_sn = 990;
	s.sent_len = 10;
	s.sent_bytes = 0x1ffffffffull;
	s.clients = 0xffffffffu;
	s.successor_up = 1;
	for (int i = 0; i < CFS_DIGEST_LEN; i++)
		s.digest[i] = (uint8_t)(0xf0 ^ i);
	s.flags = CFS_STATUS_ETCD | CFS_STATUS_MASTER;
	s.applied_epoch = 2;
	strcpy(s.master, "n1");
	strcpy(s.syncing, "n4");
	s.sync_sn = 977;
	s.locks = 31;
	s.lock_waits = 2;
	s.nchain = 2;
	strcpy(s.chain[0], "n1");
	memcpy(s.chain[1], name255, CFS_NODE_NAME_MAX);
	cfs_wbuf_init(&w);
	cfs_status_encode(&w, &s);
	assert_int_equal(w.len, 2 + CFS_NODE_NAME_MAX + 1 + 5 * 8 + 4 + 1 + CFS_DIGEST_LEN + 4 + 8 +
	                            (2 + 2) + (2 + 2) + 8 + 8 + 8 + 2 + (2 + 2) +
	                            (2 + CFS_NODE_NAME_MAX));
	memset(&got, 0x55, sizeof(got));
	assert_int_equal(cfs_status_decode(w.p, w.len, &got), CFS_WIRE_OK);
	assert_string_equal(got.name, s.name);
	assert_int_equal(got.role, s.role);
	assert_int_equal(got.epoch, s.epoch);
	assert_int_equal(got.applied_sn, s.applied_sn);
	assert_int_equal(got.acked_sn, s.acked_sn);
	assert_int_equal(got.sent_len, s.sent_len);
	assert_true(got.sent_bytes == s.sent_bytes);
	assert_int_equal(got.clients, s.clients);
	assert_int_equal(got.successor_up, 1);
	assert_memory_equal(got.digest, s.digest, CFS_DIGEST_LEN);
	assert_int_equal(got.flags, s.flags);
	assert_int_equal(got.applied_epoch, 2);
	assert_string_equal(got.master, "n1");
	assert_string_equal(got.syncing, "n4");
	assert_int_equal(got.sync_sn, 977);
	assert_int_equal(got.locks, 31);
	assert_int_equal(got.lock_waits, 2);
	assert_int_equal(got.nchain, 2);
	assert_string_equal(got.chain[0], "n1");
	assert_string_equal(got.chain[1], s.chain[1]);
	check_prefixes_and_trailing(dec_status, w.p, w.len);
	cfs_wbuf_free(&w);

	/* role with an unknown bit; successor_up not a boolean */
	strcpy(s.name, "n");
	s.role = 0x4;
	cfs_wbuf_init(&w);
	cfs_status_encode(&w, &s);
	assert_int_equal(cfs_status_decode(w.p, w.len, &got), CFS_WIRE_BAD_FIELD);
	cfs_wbuf_free(&w);
	s.role = 0;
	s.successor_up = 2;
	cfs_wbuf_init(&w);
	cfs_status_encode(&w, &s);
	assert_int_equal(cfs_status_decode(w.p, w.len, &got), CFS_WIRE_BAD_FIELD);
	cfs_wbuf_free(&w);

	/* a name over its array */
	cfs_wbuf_init(&w);
	cfs_put_u16(&w, CFS_NODE_NAME_MAX + 1);
	cfs_put_bytes(&w, name255, CFS_NODE_NAME_MAX + 1);
	cfs_put_u8(&w, 0);
	for (int i = 0; i < 5; i++)
		cfs_put_u64(&w, 0);
	cfs_put_u32(&w, 0);
	cfs_put_u8(&w, 0);
	cfs_put_bytes(&w, s.digest, CFS_DIGEST_LEN);
	assert_int_equal(cfs_status_decode(w.p, w.len, &got), CFS_WIRE_TOO_LONG);
	cfs_wbuf_free(&w);
}

/* statfs round-trips. */
static void
test_statfs(void **state)
{
	struct cfs_statfs s = {4096, 1ull << 40, 12345, 12000, UINT64_MAX, 77, CFS_NAME_MAX};
	struct cfs_statfs got;
	struct cfs_wbuf w;

	cfs_wbuf_init(&w);
	cfs_statfs_encode(&w, &s);
	assert_int_equal(w.len, 6 * 8 + 4);
	memset(&got, 0x55, sizeof(got));
	assert_int_equal(cfs_statfs_decode(w.p, w.len, &got), CFS_WIRE_OK);
	assert_int_equal(got.bsize, s.bsize);
	assert_true(got.blocks == s.blocks);
	assert_int_equal(got.bfree, s.bfree);
	assert_int_equal(got.bavail, s.bavail);
	assert_true(got.files == s.files);
	assert_int_equal(got.ffree, s.ffree);
	assert_int_equal(got.namemax, s.namemax);
	check_prefixes_and_trailing(dec_statfs, w.p, w.len);
	cfs_wbuf_free(&w);
}

/* attr is 96 bytes and round-trips through put/get. */
static void
test_attr(void **state)
{
	struct cfs_attr a = sample_attr(0xfeedfacecafebeefull), got;
	struct cfs_wbuf w;
	struct cfs_rbuf r;

	cfs_wbuf_init(&w);
	cfs_attr_put(&w, &a);
	assert_int_equal(w.len, 96);
	cfs_rbuf_init(&r, w.p, w.len);
	cfs_attr_get(&r, &got);
	assert_int_equal(cfs_rbuf_done(&r), CFS_WIRE_OK);
	assert_attr_equal(&a, &got);
	cfs_rbuf_init(&r, w.p, w.len - 1);
	cfs_attr_get(&r, &got);
	assert_int_equal(cfs_rbuf_done(&r), CFS_WIRE_SHORT);
	assert_int_equal(got.flags, 0);
	cfs_wbuf_free(&w);
}

/* Dirents go back to back, with and without attrs, and read back in order. */
static void
test_dirent_roundtrip(void **state)
{
	const uint16_t lens[] = {1, 2, CFS_NAME_MAX, 7};
	struct cfs_dirent d, got;
	struct cfs_wbuf w;
	struct cfs_rbuf r;

	for (int plus = 0; plus < 2; plus++) {
		cfs_wbuf_init(&w);
		for (size_t i = 0; i < 4; i++) {
			memset(&d, 0, sizeof(d));
			d.ino = 1000 + i;
			d.cookie = UINT64_MAX - i;
			d.type = 0040000;
			d.namelen = lens[i];
			d.name = name255;
			d.attr = sample_attr(i);
			cfs_dirent_put(&w, &d, plus);
		}
		cfs_rbuf_init(&r, w.p, w.len);
		for (size_t i = 0; i < 4; i++) {
			assert_int_equal(cfs_dirent_get(&r, &got, plus), CFS_WIRE_OK);
			assert_int_equal(got.ino, 1000 + i);
			assert_true(got.cookie == UINT64_MAX - i);
			assert_int_equal(got.type, 0040000);
			assert_int_equal(got.namelen, lens[i]);
			assert_memory_equal(got.name, name255, lens[i]);
			assert_points_into(got.name, w.p, w.len);
			if (plus) {
				struct cfs_attr a = sample_attr(i);

				assert_attr_equal(&got.attr, &a);
			} else {
				assert_int_equal(got.attr.ino, 0);
			}
		}
		assert_int_equal(cfs_rbuf_done(&r), CFS_WIRE_OK);
		assert_int_equal(cfs_dirent_get(&r, &got, plus), CFS_WIRE_SHORT);
		cfs_wbuf_free(&w);
	}

	/* a single record with every truncation */
	memset(&d, 0, sizeof(d));
	d.ino = 5;
	d.namelen = 3;
	d.name = "abc";
	d.attr = sample_attr(9);
	cfs_wbuf_init(&w);
	cfs_dirent_put(&w, &d, 1);
	assert_int_equal(w.len, 8 + 8 + 4 + 2 + 3 + 96);
	check_prefixes_and_trailing(dec_dirent_plus, w.p, w.len);
	cfs_wbuf_free(&w);
}

/* Dirents reject empty and over-long names. */
static void
test_dirent_reject(void **state)
{
	struct cfs_dirent got;
	struct cfs_wbuf w;
	struct cfs_rbuf r;

	cfs_wbuf_init(&w);
	cfs_put_u64(&w, 1);
	cfs_put_u64(&w, 2);
	cfs_put_u32(&w, 0100000);
	cfs_put_u16(&w, 0);
	cfs_rbuf_init(&r, w.p, w.len);
	assert_int_equal(cfs_dirent_get(&r, &got, 0), CFS_WIRE_BAD_FIELD);
	assert_int_equal(cfs_rbuf_done(&r), CFS_WIRE_BAD_FIELD);
	cfs_wbuf_free(&w);

	cfs_wbuf_init(&w);
	cfs_put_u64(&w, 1);
	cfs_put_u64(&w, 2);
	cfs_put_u32(&w, 0100000);
	cfs_put_u16(&w, CFS_NAME_MAX + 1);
	cfs_put_bytes(&w, bigdata, CFS_NAME_MAX + 1);
	cfs_rbuf_init(&r, w.p, w.len);
	assert_int_equal(cfs_dirent_get(&r, &got, 0), CFS_WIRE_TOO_LONG);
	assert_int_equal(cfs_rbuf_done(&r), CFS_WIRE_TOO_LONG);
	cfs_wbuf_free(&w);
}

/* The op classification agrees with the header's enum for every number. */
static void
test_op_names(void **state)
{
	for (uint32_t t = 0; t <= 0xffff; t++) {
		int known = 0, update = 0;

		for (size_t i = 0; i < NOPS; i++) {
			if (all_ops[i] == t) {
				known = 1;
				update = t >= 32;
			}
		}
		assert_int_equal(!!cfs_op_is_valid((uint16_t)t), known);
		assert_int_equal(!!cfs_op_is_update((uint16_t)t), update);
		assert_int_equal(!!cfs_op_is_internal((uint16_t)t),
				 t == CFS_OP_EXPIRE_SESSIONS || t == CFS_OP_LKEXPIRE);
		assert_int_equal(!!cfs_op_is_lock((uint16_t)t),
				 t == CFS_OP_SETLK || t == CFS_OP_UNLOCK || t == CFS_OP_LKCANCEL ||
				     t == CFS_OP_LKEXPIRE || t == CFS_OP_OPENREF ||
				     t == CFS_OP_CLOSEREF);
		assert_non_null(cfs_op_name((uint16_t)t));
		assert_int_equal(strcmp(cfs_op_name((uint16_t)t), "unknown") != 0, known);
	}
	assert_string_equal(cfs_op_name(CFS_OP_WRITE), "write");
	assert_string_equal(cfs_op_name(CFS_OP_LOOKUP), "lookup");
	for (size_t i = 0; i < NOPS; i++)
		for (size_t j = i + 1; j < NOPS; j++)
			assert_string_not_equal(cfs_op_name(all_ops[i]), cfs_op_name(all_ops[j]));
}

/* LKGRANT, a GETLK answer and PONG round-trip; a lock range backwards is refused. */
static void
test_lock_bodies(void **state)
{
	struct cfs_lkgrant g = {.ino = 0x0102030405060708ull, .seq = 99, .status = 35}, gg;
	struct cfs_lock_desc d = {.start = 10, .end = CFS_LK_EOF, .pid = 4242}, dd;
	struct cfs_wbuf w;
	int32_t st;

	(void)state;
	cfs_wbuf_init(&w);
	cfs_lkgrant_encode(&w, &g);
	assert_int_equal(w.len, 20);
	assert_int_equal(cfs_lkgrant_decode(w.p, w.len, &gg), CFS_WIRE_OK);
	assert_true(gg.ino == g.ino && gg.seq == 99 && gg.status == 35);
	assert_int_equal(cfs_lkgrant_decode(w.p, w.len - 1, &gg), CFS_WIRE_SHORT);
	cfs_wbuf_reset(&w);
	cfs_lock_desc_put(&w, &d);
	assert_int_equal(w.len, CFS_LOCK_DESC_SIZE);
	assert_int_equal(cfs_lock_desc_decode(w.p, w.len, &dd), CFS_WIRE_OK);
	assert_true(dd.start == 10 && dd.end == CFS_LK_EOF && dd.pid == 4242);
	cfs_put_u8(&w, 0);
	assert_int_equal(cfs_lock_desc_decode(w.p, w.len, &dd), CFS_WIRE_TRAILING);
	cfs_wbuf_reset(&w);
	d.start = 11;
	d.end = 10;
	cfs_lock_desc_put(&w, &d);
	assert_int_equal(cfs_lock_desc_decode(w.p, w.len, &dd), CFS_WIRE_BAD_FIELD);
	cfs_wbuf_reset(&w);
	d.start = 0;
	d.end = CFS_LK_EOF + 1;
	cfs_lock_desc_put(&w, &d);
	assert_int_equal(cfs_lock_desc_decode(w.p, w.len, &dd), CFS_WIRE_BAD_FIELD);
	cfs_wbuf_reset(&w);
	cfs_status_only_encode(&w, CFS_ERR_NOT_HEAD);
	assert_int_equal(cfs_status_only_decode(w.p, w.len, &st), CFS_WIRE_OK);
	assert_int_equal(st, CFS_ERR_NOT_HEAD);
	assert_int_equal(cfs_status_only_decode(w.p, 0, &st), CFS_WIRE_SHORT);
	cfs_wbuf_free(&w);
}

/* Message names and error strings are distinct and never NULL. */
static void
test_msg_and_err_names(void **state)
{
	for (uint16_t t = 1; t < CFS_MSG_max; t++) {
		assert_string_not_equal(cfs_msg_name(t), "unknown");
		for (uint16_t u = t + 1; u < CFS_MSG_max; u++)
			assert_string_not_equal(cfs_msg_name(t), cfs_msg_name(u));
	}
	assert_string_equal(cfs_msg_name(0), "unknown");
	assert_string_equal(cfs_msg_name(CFS_MSG_max), "unknown");
	assert_string_equal(cfs_msg_name(CFS_MSG_HELLO), "hello");
	for (int e = CFS_WIRE_BAD_FLAGS; e <= CFS_WIRE_OK; e++) {
		assert_non_null(cfs_wire_strerror(e));
		assert_string_not_equal(cfs_wire_strerror(e), "unknown wire error");
		for (int f = e + 1; f <= CFS_WIRE_OK; f++)
			assert_string_not_equal(cfs_wire_strerror(e), cfs_wire_strerror(f));
	}
	assert_string_equal(cfs_wire_strerror(-100), "unknown wire error");
	assert_string_equal(cfs_wire_strerror(1), "unknown wire error");
}

/* SNAPSHOT round-trips and refuses unknown flags and oversized chunks. */
static void
test_snapshot(void **state)
{
	static const uint8_t recs[] = {1, 2, 3, 4, 5};
	struct cfs_snapshot s = {.sn = 0x1122334455667788ull, .epoch = 9,
				 .flags = CFS_SNAP_BEGIN | CFS_SNAP_END, .len = 5, .records = recs};
	struct cfs_snapshot g;
	struct cfs_wbuf w;

	cfs_wbuf_init(&w);
	cfs_snapshot_encode(&w, &s);
	assert_int_equal(w.len, 8 + 8 + 1 + 4 + 5);
	assert_int_equal(cfs_snapshot_decode(w.p, w.len, &g), CFS_WIRE_OK);
	assert_true(g.sn == s.sn);
	assert_int_equal(g.epoch, 9);
	assert_int_equal(g.flags, CFS_SNAP_BEGIN | CFS_SNAP_END);
	assert_int_equal(g.len, 5);
	assert_memory_equal(g.records, recs, 5);
	assert_points_into(g.records, w.p, w.len);
	check_prefixes_and_trailing(dec_snapshot, w.p, w.len);
	w.p[16] = 0x4;
	assert_int_equal(cfs_snapshot_decode(w.p, w.len, &g), CFS_WIRE_BAD_FLAGS);
	cfs_wbuf_reset(&w);
	cfs_put_u64(&w, 1);
	cfs_put_u64(&w, 1);
	cfs_put_u8(&w, 0);
	cfs_put_u32(&w, CFS_MAX_IO + 1);
	assert_int_equal(cfs_snapshot_decode(w.p, w.len, &g), CFS_WIRE_TOO_LONG);
	cfs_wbuf_free(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_wbuf),
	    cmocka_unit_test(test_rbuf),
	    cmocka_unit_test(test_header_roundtrip),
	    cmocka_unit_test(test_header_reject),
	    cmocka_unit_test(test_frame),
	    cmocka_unit_test(test_hello_roundtrip),
	    cmocka_unit_test(test_hello_reject),
	    cmocka_unit_test(test_hello_reply_roundtrip),
	    cmocka_unit_test(test_hello_reply_reject),
	    cmocka_unit_test(test_request_roundtrip),
	    cmocka_unit_test(test_request_layout),
	    cmocka_unit_test(test_request_reject),
	    cmocka_unit_test(test_reply_roundtrip),
	    cmocka_unit_test(test_reply_reject),
	    cmocka_unit_test(test_recall_roundtrip),
	    cmocka_unit_test(test_lock_bodies),
	    cmocka_unit_test(test_recall_reject),
	    cmocka_unit_test(test_entry_roundtrip),
	    cmocka_unit_test(test_entry_reject),
	    cmocka_unit_test(test_ack),
	    cmocka_unit_test(test_status),
	    cmocka_unit_test(test_statfs),
	    cmocka_unit_test(test_attr),
	    cmocka_unit_test(test_dirent_roundtrip),
	    cmocka_unit_test(test_dirent_reject),
	    cmocka_unit_test(test_op_names),
	    cmocka_unit_test(test_msg_and_err_names),
	    cmocka_unit_test(test_snapshot),
	};

	return cmocka_run_group_tests(tests, setup_patterns, teardown_patterns);
}
