/*
 * The chainfs wire codec; the format itself is declared in wire.h.
 *
 * Every integer is little-endian and written byte by byte; no struct is ever
 * copied to or from the wire.  Signed fields travel as their two's-complement
 * unsigned image of the same width.  A "str" is a u16 length followed by that
 * many bytes with no NUL; a decoded str must fit its array (NUL added) and
 * must not contain a NUL.  Bodies, field by field in this order:
 *
 * attr (96 bytes): ino u64, mode u32, nlink u32, uid u32, gid u32, rdev u64,
 *     size u64, blocks u64, atime_sec i64, atime_nsec u32, mtime_sec i64,
 *     mtime_nsec u32, ctime_sec i64, ctime_nsec u32, version u64, flags u32
 * op: type u16, flags u32, ino u64, ino2 u64, mode u32, uid u32, gid u32,
 *     valid u32, caller_uid u32, caller_gid u32, rdev u64, offset u64,
 *     length u64, atime_sec i64,
 *     atime_nsec u32, mtime_sec i64, mtime_nsec u32,
 *     namelen u16, name[namelen], name2len u16, name2[name2len],
 *     datalen u32, data[datalen]
 *     Every field is sent for every op type, so the codec knows no per-op
 *     rules beyond: type known, namelen and name2len <= CFS_NAME_MAX,
 *     datalen <= CFS_MAX_IO.
 * HELLO: role u8 (1..3), client_id u64, name str (<= CFS_NODE_NAME_MAX),
 *     applied_sn u64, lease_ms u32
 * HELLO_REPLY: status i32, name str, role u8 (CFS_ROLE_* bits only),
 *     applied_sn u64, applied_epoch u64, epoch u64, session_ttl_s u32,
 *     lock_lease_ms u32, nnodes u16 (<= CFS_MAX_NODES),
 *     then nnodes times: name str (<= CFS_NODE_NAME_MAX),
 *     host str (<= CFS_HOST_MAX), port u16
 * REQUEST: acked_below u64, op
 * REPLY: status i32, flags u32, attr, value u64, lease_ms u32, datalen u32
 *     (<= CFS_MAX_IO + CFS_XATTR_SIZE_MAX), data[datalen]
 * ENTRY: sn u64, epoch u64, kind u8 (1 or 2), client_id u64, seq u64, acked_below u64,
 *     new_ino u64, time_sec i64, time_nsec u32, result i32, op
 * ACK: sn u64
 * RECALL: n u16 (<= CFS_RECALL_MAX), then n times: kind u8 (1: inode, 2: an inode
 *   that lost its last name), ino u64
 * RECALL_ACK: empty body
 * LKGRANT: ino u64, seq u64, status i32
 * PING: empty body; PONG: status i32
 * lock (a GETLK reply's data): start u64, end u64 (start..CFS_LK_EOF), pid u32
 * STATUS (request): empty body, checked by the caller with cfs_rbuf_done()
 * STATUS_REPLY: name str, role u8 (CFS_ROLE_* bits only), epoch u64,
 *     applied_sn u64, acked_sn u64, sent_len u64, sent_bytes u64,
 *     clients u32, successor_up u8 (0 or 1), digest[CFS_DIGEST_LEN], flags u32,
 *     applied_epoch u64, master str, syncing str, sync_sn u64, locks u64,
 *     lock_waits u64, nchain u16 (<= CFS_MAX_NODES), nchain times: name str
 * statfs (a STATFS reply's data): bsize u64, blocks u64, bfree u64,
 *     bavail u64, files u64, ffree u64, namemax u32
 * dirent (READDIR reply data, records back to back): ino u64, cookie u64,
 *     type u32, namelen u16 (1..CFS_NAME_MAX), name[namelen],
 *     then attr when READDIR_PLUS
 *
 * Decoders zero their output first, stop at the first error and return it;
 * pointers they return point into the input.  Encoders trust their input:
 * a field over its limit there is a bug in the caller and is fatal.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/wire.h"

/* Encoders die on these; decoders turn them into errors. */
#define CFS_REPLY_DATA_MAX (CFS_MAX_IO + CFS_XATTR_SIZE_MAX)

/* Makes an empty output buffer. */
void
cfs_wbuf_init(struct cfs_wbuf *w)
{
	w->p = NULL;
	w->len = 0;
	w->cap = 0;
}

/* Releases the buffer's memory and leaves it empty. */
void
cfs_wbuf_free(struct cfs_wbuf *w)
{
	free(w->p);
	cfs_wbuf_init(w);
}

/* Empties the buffer, keeping its memory for reuse. */
void
cfs_wbuf_reset(struct cfs_wbuf *w)
{
	w->len = 0;
}

/* Makes room for n more bytes, doubling to keep appends amortised. */
void
cfs_wbuf_reserve(struct cfs_wbuf *w, size_t n)
{
	size_t cap;

	if (n > SIZE_MAX - w->len)
		fatalx("%s: %zu + %zu overflows", __func__, w->len, n);
	if (w->len + n <= w->cap)
		return;
	cap = w->cap ? w->cap : 256;
	while (cap < w->len + n)
		cap = cap > SIZE_MAX / 2 ? w->len + n : cap * 2;
	w->p = xrealloc(w->p, cap);
	w->cap = cap;
}

/* Appends one byte. */
void
cfs_put_u8(struct cfs_wbuf *w, uint8_t v)
{
	cfs_wbuf_reserve(w, 1);
	w->p[w->len++] = v;
}

/* Appends a little-endian u16. */
void
cfs_put_u16(struct cfs_wbuf *w, uint16_t v)
{
	cfs_wbuf_reserve(w, 2);
	w->p[w->len++] = (uint8_t)v;
	w->p[w->len++] = (uint8_t)(v >> 8);
}

/* Appends a little-endian u32. */
void
cfs_put_u32(struct cfs_wbuf *w, uint32_t v)
{
	cfs_wbuf_reserve(w, 4);
	for (int i = 0; i < 4; i++)
		w->p[w->len++] = (uint8_t)(v >> (8 * i));
}

/* Appends a little-endian u64. */
void
cfs_put_u64(struct cfs_wbuf *w, uint64_t v)
{
	cfs_wbuf_reserve(w, 8);
	for (int i = 0; i < 8; i++)
		w->p[w->len++] = (uint8_t)(v >> (8 * i));
}

/* Appends n raw bytes; src may be NULL when n is 0. */
void
cfs_put_bytes(struct cfs_wbuf *w, const void *src, size_t n)
{
	if (n == 0)
		return;
	cfs_wbuf_reserve(w, n);
	memcpy(w->p + w->len, src, n);
	w->len += n;
}

/* Appends a NUL-terminated string of at most max bytes as a str. */
static void
cfs_put_str(struct cfs_wbuf *w, const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n > max)
		fatalx("%s: string longer than %zu bytes", __func__, max);
	cfs_put_u16(w, (uint16_t)n);
	cfs_put_bytes(w, s, n);
}

/* Starts reading len bytes at p. */
void
cfs_rbuf_init(struct cfs_rbuf *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->err = CFS_WIRE_OK;
}

/* Records the first error only: later ones are consequences of it. */
static void
cfs_rbuf_fail(struct cfs_rbuf *r, int err)
{
	if (r->err == CFS_WIRE_OK)
		r->err = err;
}

/* Returns the next n bytes and steps over them, or NULL once failed or short. */
const uint8_t *
cfs_get_bytes(struct cfs_rbuf *r, size_t n)
{
	const uint8_t *q;

	if (r->err != CFS_WIRE_OK)
		return NULL;
	if (n > r->len - r->off) {
		r->err = CFS_WIRE_SHORT;
		return NULL;
	}
	if (r->p == NULL)
		return NULL; /* only reachable with n == 0 on an empty input */
	q = r->p + r->off;
	r->off += n;
	return q;
}

/* Reads one byte. */
uint8_t
cfs_get_u8(struct cfs_rbuf *r)
{
	const uint8_t *q = cfs_get_bytes(r, 1);

	return q ? q[0] : 0;
}

/* Reads a little-endian u16. */
uint16_t
cfs_get_u16(struct cfs_rbuf *r)
{
	const uint8_t *q = cfs_get_bytes(r, 2);

	return q ? (uint16_t)(q[0] | q[1] << 8) : 0;
}

/* Reads a little-endian u32. */
uint32_t
cfs_get_u32(struct cfs_rbuf *r)
{
	const uint8_t *q = cfs_get_bytes(r, 4);
	uint32_t v = 0;

	if (q == NULL)
		return 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | q[i];
	return v;
}

/* Reads a little-endian u64. */
uint64_t
cfs_get_u64(struct cfs_rbuf *r)
{
	const uint8_t *q = cfs_get_bytes(r, 8);
	uint64_t v = 0;

	if (q == NULL)
		return 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | q[i];
	return v;
}

/* Reads a str into dst, which holds max bytes plus the NUL. */
static void
cfs_get_str(struct cfs_rbuf *r, char *dst, size_t max)
{
	uint16_t n = cfs_get_u16(r);
	const uint8_t *q;

	dst[0] = '\0';
	if (n > max) {
		cfs_rbuf_fail(r, CFS_WIRE_TOO_LONG);
		return;
	}
	q = cfs_get_bytes(r, n);
	if (q == NULL)
		return;
	if (memchr(q, '\0', n) != NULL) {
		cfs_rbuf_fail(r, CFS_WIRE_BAD_FIELD);
		return;
	}
	memcpy(dst, q, n);
	dst[n] = '\0';
}

/* Whether the whole input was read without error. */
int
cfs_rbuf_done(const struct cfs_rbuf *r)
{
	if (r->err != CFS_WIRE_OK)
		return r->err;
	return r->off == r->len ? CFS_WIRE_OK : CFS_WIRE_TRAILING;
}

/* Stores v little-endian in the n bytes at p. */
static void
cfs_store_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Writes the 32-byte header. */
void
cfs_header_encode(uint8_t out[CFS_HEADER_SIZE], const struct cfs_header *h)
{
	cfs_store_le(out + 0, h->magic, 4);
	cfs_store_le(out + 4, h->version, 2);
	cfs_store_le(out + 6, h->type, 2);
	cfs_store_le(out + 8, h->flags, 4);
	cfs_store_le(out + 12, h->length, 4);
	cfs_store_le(out + 16, h->reqid, 8);
	cfs_store_le(out + 24, h->epoch, 8);
}

/* Reads and checks a header; h is filled even when a check fails. */
int
cfs_header_decode(const uint8_t *p, size_t len, struct cfs_header *h)
{
	struct cfs_rbuf r;

	memset(h, 0, sizeof(*h));
	if (len < CFS_HEADER_SIZE)
		return CFS_WIRE_SHORT;
	cfs_rbuf_init(&r, p, CFS_HEADER_SIZE);
	h->magic = cfs_get_u32(&r);
	h->version = cfs_get_u16(&r);
	h->type = cfs_get_u16(&r);
	h->flags = cfs_get_u32(&r);
	h->length = cfs_get_u32(&r);
	h->reqid = cfs_get_u64(&r);
	h->epoch = cfs_get_u64(&r);
	if (h->magic != CFS_MAGIC)
		return CFS_WIRE_BAD_MAGIC;
	if (h->version != CFS_PROTOCOL_VERSION)
		return CFS_WIRE_BAD_VERSION;
	if (h->type < 1 || h->type >= CFS_MSG_max)
		return CFS_WIRE_BAD_TYPE;
	if (h->flags != 0)
		return CFS_WIRE_BAD_FLAGS;
	if (h->length > CFS_MAX_BODY)
		return CFS_WIRE_TOO_LONG;
	return CFS_WIRE_OK;
}

/* Appends a header whose length cfs_frame_end() fills in; returns its offset. */
size_t
cfs_frame_begin(struct cfs_wbuf *w, uint16_t type, uint64_t reqid, uint64_t epoch)
{
	struct cfs_header h = {
	    .magic = CFS_MAGIC,
	    .version = CFS_PROTOCOL_VERSION,
	    .type = type,
	    .reqid = reqid,
	    .epoch = epoch,
	};
	size_t start = w->len;

	cfs_wbuf_reserve(w, CFS_HEADER_SIZE);
	cfs_header_encode(w->p + w->len, &h);
	w->len += CFS_HEADER_SIZE;
	return start;
}

/* Sets the length of the frame begun at start to what has been appended since. */
void
cfs_frame_end(struct cfs_wbuf *w, size_t start)
{
	size_t body;

	if (start > w->len || w->len - start < CFS_HEADER_SIZE)
		fatalx("%s: no frame at %zu", __func__, start);
	body = w->len - start - CFS_HEADER_SIZE;
	if (body > CFS_MAX_BODY)
		fatalx("%s: body of %zu bytes", __func__, body);
	cfs_store_le(w->p + start + 12, body, 4);
}

/* Appends attributes (fixed size). */
void
cfs_attr_put(struct cfs_wbuf *w, const struct cfs_attr *a)
{
	cfs_put_u64(w, a->ino);
	cfs_put_u32(w, a->mode);
	cfs_put_u32(w, a->nlink);
	cfs_put_u32(w, a->uid);
	cfs_put_u32(w, a->gid);
	cfs_put_u64(w, a->rdev);
	cfs_put_u64(w, a->size);
	cfs_put_u64(w, a->blocks);
	cfs_put_u64(w, (uint64_t)a->atime_sec);
	cfs_put_u32(w, a->atime_nsec);
	cfs_put_u64(w, (uint64_t)a->mtime_sec);
	cfs_put_u32(w, a->mtime_nsec);
	cfs_put_u64(w, (uint64_t)a->ctime_sec);
	cfs_put_u32(w, a->ctime_nsec);
	cfs_put_u64(w, a->version);
	cfs_put_u32(w, a->flags);
}

/* Reads attributes; errors are left in r. */
void
cfs_attr_get(struct cfs_rbuf *r, struct cfs_attr *a)
{
	a->ino = cfs_get_u64(r);
	a->mode = cfs_get_u32(r);
	a->nlink = cfs_get_u32(r);
	a->uid = cfs_get_u32(r);
	a->gid = cfs_get_u32(r);
	a->rdev = cfs_get_u64(r);
	a->size = cfs_get_u64(r);
	a->blocks = cfs_get_u64(r);
	a->atime_sec = (int64_t)cfs_get_u64(r);
	a->atime_nsec = cfs_get_u32(r);
	a->mtime_sec = (int64_t)cfs_get_u64(r);
	a->mtime_nsec = cfs_get_u32(r);
	a->ctime_sec = (int64_t)cfs_get_u64(r);
	a->ctime_nsec = cfs_get_u32(r);
	a->version = cfs_get_u64(r);
	a->flags = cfs_get_u32(r);
}

/* Appends an op, every field whatever its type. */
static void
cfs_op_put(struct cfs_wbuf *w, const struct cfs_op *op)
{
	if (op->namelen > CFS_NAME_MAX || op->name2len > CFS_NAME_MAX || op->datalen > CFS_MAX_IO)
		fatalx("%s: %s op with name %u, name2 %u, data %u bytes", __func__,
		       cfs_op_name(op->type), op->namelen, op->name2len, op->datalen);
	cfs_put_u16(w, op->type);
	cfs_put_u32(w, op->flags);
	cfs_put_u64(w, op->ino);
	cfs_put_u64(w, op->ino2);
	cfs_put_u32(w, op->mode);
	cfs_put_u32(w, op->uid);
	cfs_put_u32(w, op->gid);
	cfs_put_u32(w, op->valid);
	cfs_put_u32(w, op->caller_uid);
	cfs_put_u32(w, op->caller_gid);
	cfs_put_u64(w, op->rdev);
	cfs_put_u64(w, op->offset);
	cfs_put_u64(w, op->length);
	cfs_put_u64(w, (uint64_t)op->atime_sec);
	cfs_put_u32(w, op->atime_nsec);
	cfs_put_u64(w, (uint64_t)op->mtime_sec);
	cfs_put_u32(w, op->mtime_nsec);
	cfs_put_u16(w, op->namelen);
	cfs_put_bytes(w, op->name, op->namelen);
	cfs_put_u16(w, op->name2len);
	cfs_put_bytes(w, op->name2, op->name2len);
	cfs_put_u32(w, op->datalen);
	cfs_put_bytes(w, op->data, op->datalen);
}

/* Reads an op; errors are left in r. */
static void
cfs_op_get(struct cfs_rbuf *r, struct cfs_op *op)
{
	op->type = cfs_get_u16(r);
	if (r->err == CFS_WIRE_OK && !cfs_op_is_valid(op->type)) {
		cfs_rbuf_fail(r, CFS_WIRE_BAD_FIELD);
		return;
	}
	op->flags = cfs_get_u32(r);
	op->ino = cfs_get_u64(r);
	op->ino2 = cfs_get_u64(r);
	op->mode = cfs_get_u32(r);
	op->uid = cfs_get_u32(r);
	op->gid = cfs_get_u32(r);
	op->valid = cfs_get_u32(r);
	op->caller_uid = cfs_get_u32(r);
	op->caller_gid = cfs_get_u32(r);
	op->rdev = cfs_get_u64(r);
	op->offset = cfs_get_u64(r);
	op->length = cfs_get_u64(r);
	op->atime_sec = (int64_t)cfs_get_u64(r);
	op->atime_nsec = cfs_get_u32(r);
	op->mtime_sec = (int64_t)cfs_get_u64(r);
	op->mtime_nsec = cfs_get_u32(r);
	op->namelen = cfs_get_u16(r);
	if (op->namelen > CFS_NAME_MAX) {
		cfs_rbuf_fail(r, CFS_WIRE_TOO_LONG);
		return;
	}
	op->name = (const char *)cfs_get_bytes(r, op->namelen);
	op->name2len = cfs_get_u16(r);
	if (op->name2len > CFS_NAME_MAX) {
		cfs_rbuf_fail(r, CFS_WIRE_TOO_LONG);
		return;
	}
	op->name2 = (const char *)cfs_get_bytes(r, op->name2len);
	op->datalen = cfs_get_u32(r);
	if (op->datalen > CFS_MAX_IO) {
		cfs_rbuf_fail(r, CFS_WIRE_TOO_LONG);
		return;
	}
	op->data = cfs_get_bytes(r, op->datalen);
}

/* Appends a HELLO body. */
void
cfs_hello_encode(struct cfs_wbuf *w, const struct cfs_hello *h)
{
	cfs_put_u8(w, h->role);
	cfs_put_u64(w, h->client_id);
	cfs_put_str(w, h->name, CFS_NODE_NAME_MAX);
	cfs_put_u64(w, h->applied_sn);
	cfs_put_u32(w, h->lease_ms);
}

/* Reads a HELLO body. */
int
cfs_hello_decode(const void *p, size_t len, struct cfs_hello *h)
{
	struct cfs_rbuf r;

	memset(h, 0, sizeof(*h));
	cfs_rbuf_init(&r, p, len);
	h->role = cfs_get_u8(&r);
	if (r.err == CFS_WIRE_OK && (h->role < CFS_PEER_CLIENT || h->role > CFS_PEER_ADMIN))
		return CFS_WIRE_BAD_FIELD;
	h->client_id = cfs_get_u64(&r);
	cfs_get_str(&r, h->name, CFS_NODE_NAME_MAX);
	h->applied_sn = cfs_get_u64(&r);
	h->lease_ms = cfs_get_u32(&r);
	return cfs_rbuf_done(&r);
}

/* Appends a HELLO_REPLY body. */
void
cfs_hello_reply_encode(struct cfs_wbuf *w, const struct cfs_hello_reply *h)
{
	if (h->nnodes > CFS_MAX_NODES)
		fatalx("%s: %u nodes", __func__, h->nnodes);
	cfs_put_u32(w, (uint32_t)h->status);
	cfs_put_str(w, h->name, CFS_NODE_NAME_MAX);
	cfs_put_u8(w, h->role);
	cfs_put_u64(w, h->applied_sn);
	cfs_put_u64(w, h->applied_epoch);
	cfs_put_u64(w, h->epoch);
	cfs_put_u32(w, h->session_ttl_s);
	cfs_put_u32(w, h->lock_lease_ms);
	cfs_put_u16(w, h->nnodes);
	for (uint16_t i = 0; i < h->nnodes; i++) {
		cfs_put_str(w, h->nodes[i].name, CFS_NODE_NAME_MAX);
		cfs_put_str(w, h->nodes[i].host, CFS_HOST_MAX);
		cfs_put_u16(w, h->nodes[i].port);
	}
}

/* Reads a HELLO_REPLY body. */
int
cfs_hello_reply_decode(const void *p, size_t len, struct cfs_hello_reply *h)
{
	struct cfs_rbuf r;

	memset(h, 0, sizeof(*h));
	cfs_rbuf_init(&r, p, len);
	h->status = (int32_t)cfs_get_u32(&r);
	cfs_get_str(&r, h->name, CFS_NODE_NAME_MAX);
	h->role = cfs_get_u8(&r);
	if (r.err == CFS_WIRE_OK && (h->role & ~(CFS_ROLE_HEAD | CFS_ROLE_TAIL)) != 0)
		return CFS_WIRE_BAD_FIELD;
	h->applied_sn = cfs_get_u64(&r);
	h->applied_epoch = cfs_get_u64(&r);
	h->epoch = cfs_get_u64(&r);
	h->session_ttl_s = cfs_get_u32(&r);
	h->lock_lease_ms = cfs_get_u32(&r);
	h->nnodes = cfs_get_u16(&r);
	if (h->nnodes > CFS_MAX_NODES) {
		h->nnodes = 0;
		return r.err != CFS_WIRE_OK ? r.err : CFS_WIRE_TOO_LONG;
	}
	for (uint16_t i = 0; i < h->nnodes && r.err == CFS_WIRE_OK; i++) {
		cfs_get_str(&r, h->nodes[i].name, CFS_NODE_NAME_MAX);
		cfs_get_str(&r, h->nodes[i].host, CFS_HOST_MAX);
		h->nodes[i].port = cfs_get_u16(&r);
	}
	return cfs_rbuf_done(&r);
}

/* Appends a REQUEST body. */
void
cfs_request_encode(struct cfs_wbuf *w, uint64_t acked_below, const struct cfs_op *op)
{
	cfs_put_u64(w, acked_below);
	cfs_op_put(w, op);
}

/* Reads a REQUEST body. */
int
cfs_request_decode(const void *p, size_t len, uint64_t *acked_below, struct cfs_op *op)
{
	struct cfs_rbuf r;

	memset(op, 0, sizeof(*op));
	cfs_rbuf_init(&r, p, len);
	*acked_below = cfs_get_u64(&r);
	cfs_op_get(&r, op);
	return cfs_rbuf_done(&r);
}

/* Appends a REPLY body. */
void
cfs_reply_encode(struct cfs_wbuf *w, const struct cfs_reply *rp)
{
	if (rp->datalen > CFS_REPLY_DATA_MAX)
		fatalx("%s: %u bytes of data", __func__, rp->datalen);
	cfs_put_u32(w, (uint32_t)rp->status);
	cfs_put_u32(w, rp->flags);
	cfs_attr_put(w, &rp->attr);
	cfs_put_u64(w, rp->value);
	cfs_put_u32(w, rp->lease_ms);
	if (rp->ndirs > CFS_REPLY_DIRS_MAX)
		fatalx("%s: %u directories", __func__, rp->ndirs);
	cfs_put_u8(w, rp->ndirs);
	for (unsigned i = 0; i < rp->ndirs; i++)
		cfs_attr_put(w, &rp->dirs[i]);
	cfs_put_u32(w, rp->datalen);
	cfs_put_bytes(w, rp->data, rp->datalen);
}

/* Reads a REPLY body. */
int
cfs_reply_decode(const void *p, size_t len, struct cfs_reply *rp)
{
	struct cfs_rbuf r;

	memset(rp, 0, sizeof(*rp));
	cfs_rbuf_init(&r, p, len);
	rp->status = (int32_t)cfs_get_u32(&r);
	rp->flags = cfs_get_u32(&r);
	cfs_attr_get(&r, &rp->attr);
	rp->value = cfs_get_u64(&r);
	rp->lease_ms = cfs_get_u32(&r);
	rp->ndirs = cfs_get_u8(&r);
	if (rp->ndirs > CFS_REPLY_DIRS_MAX) {
		rp->ndirs = 0;
		return r.err != CFS_WIRE_OK ? r.err : CFS_WIRE_TOO_LONG;
	}
	for (unsigned i = 0; i < rp->ndirs; i++)
		cfs_attr_get(&r, &rp->dirs[i]);
	rp->datalen = cfs_get_u32(&r);
	if (rp->datalen > CFS_REPLY_DATA_MAX) {
		rp->datalen = 0;
		return r.err != CFS_WIRE_OK ? r.err : CFS_WIRE_TOO_LONG;
	}
	rp->data = cfs_get_bytes(&r, rp->datalen);
	return cfs_rbuf_done(&r);
}

/* Starts a RECALL body with no items; returns where its count is. */
size_t
cfs_recall_begin(struct cfs_wbuf *w)
{
	size_t at = w->len;

	cfs_put_u16(w, 0);
	return at;
}

/* Appends one item to the RECALL body whose count is at `at`. */
void
cfs_recall_add(struct cfs_wbuf *w, size_t at, uint8_t kind, uint64_t ino)
{
	uint16_t n = (uint16_t)(w->p[at] | (w->p[at + 1] << 8));

	if (n >= CFS_RECALL_MAX || (kind != CFS_RECALL_INODE && kind != CFS_RECALL_GONE))
		fatalx("%s: item %u of kind %u", __func__, n, kind);
	n++;
	w->p[at] = (uint8_t)n;
	w->p[at + 1] = (uint8_t)(n >> 8);
	cfs_put_u8(w, kind);
	cfs_put_u64(w, ino);
}

/* Reads a RECALL body. */
int
cfs_recall_decode(const void *p, size_t len, struct cfs_recall *rc)
{
	struct cfs_rbuf r;

	memset(rc, 0, sizeof(*rc));
	cfs_rbuf_init(&r, p, len);
	rc->n = cfs_get_u16(&r);
	if (rc->n > CFS_RECALL_MAX) {
		rc->n = 0;
		return r.err != CFS_WIRE_OK ? r.err : CFS_WIRE_BAD_FIELD;
	}
	for (uint16_t i = 0; i < rc->n && r.err == CFS_WIRE_OK; i++) {
		struct cfs_recall_item *it = &rc->items[i];

		it->kind = cfs_get_u8(&r);
		it->ino = cfs_get_u64(&r);
		if (r.err == CFS_WIRE_OK && it->kind != CFS_RECALL_INODE &&
		    it->kind != CFS_RECALL_GONE) {
			rc->n = 0;
			return CFS_WIRE_BAD_FIELD;
		}
	}
	if (r.err != CFS_WIRE_OK)
		rc->n = 0;
	return cfs_rbuf_done(&r);
}

/* Appends an ENTRY body. */
void
cfs_entry_encode(struct cfs_wbuf *w, const struct cfs_entry *e)
{
	cfs_put_u64(w, e->sn);
	cfs_put_u64(w, e->epoch);
	cfs_put_u8(w, e->kind);
	cfs_put_u64(w, e->client_id);
	cfs_put_u64(w, e->seq);
	cfs_put_u64(w, e->acked_below);
	cfs_put_u64(w, e->new_ino);
	cfs_put_u64(w, (uint64_t)e->time_sec);
	cfs_put_u32(w, e->time_nsec);
	cfs_put_u32(w, (uint32_t)e->result);
	cfs_op_put(w, &e->op);
}

/* Reads an ENTRY body. */
int
cfs_entry_decode(const void *p, size_t len, struct cfs_entry *e)
{
	struct cfs_rbuf r;

	memset(e, 0, sizeof(*e));
	cfs_rbuf_init(&r, p, len);
	e->sn = cfs_get_u64(&r);
	e->epoch = cfs_get_u64(&r);
	e->kind = cfs_get_u8(&r);
	if (r.err == CFS_WIRE_OK && e->kind != CFS_ENTRY_UPDATE && e->kind != CFS_ENTRY_REPLY_ONLY)
		return CFS_WIRE_BAD_FIELD;
	e->client_id = cfs_get_u64(&r);
	e->seq = cfs_get_u64(&r);
	e->acked_below = cfs_get_u64(&r);
	e->new_ino = cfs_get_u64(&r);
	e->time_sec = (int64_t)cfs_get_u64(&r);
	e->time_nsec = cfs_get_u32(&r);
	e->result = (int32_t)cfs_get_u32(&r);
	cfs_op_get(&r, &e->op);
	return cfs_rbuf_done(&r);
}

/* Appends an ACK body. */
void
cfs_ack_encode(struct cfs_wbuf *w, uint64_t sn)
{
	cfs_put_u64(w, sn);
}

/* Reads an ACK body. */
int
cfs_ack_decode(const void *p, size_t len, uint64_t *sn)
{
	struct cfs_rbuf r;

	cfs_rbuf_init(&r, p, len);
	*sn = cfs_get_u64(&r);
	return cfs_rbuf_done(&r);
}

/* Appends an LKGRANT body. */
void
cfs_lkgrant_encode(struct cfs_wbuf *w, const struct cfs_lkgrant *g)
{
	cfs_put_u64(w, g->ino);
	cfs_put_u64(w, g->seq);
	cfs_put_u32(w, (uint32_t)g->status);
}

/* Reads an LKGRANT body. */
int
cfs_lkgrant_decode(const void *p, size_t len, struct cfs_lkgrant *g)
{
	struct cfs_rbuf r;

	cfs_rbuf_init(&r, p, len);
	g->ino = cfs_get_u64(&r);
	g->seq = cfs_get_u64(&r);
	g->status = (int32_t)cfs_get_u32(&r);
	return cfs_rbuf_done(&r);
}

/* Appends GETLK's data. */
void
cfs_lock_desc_put(struct cfs_wbuf *w, const struct cfs_lock_desc *d)
{
	cfs_put_u64(w, d->start);
	cfs_put_u64(w, d->end);
	cfs_put_u32(w, d->pid);
}

/* Reads GETLK's data; a range that ends before it starts is a bad field. */
int
cfs_lock_desc_decode(const void *p, size_t len, struct cfs_lock_desc *d)
{
	struct cfs_rbuf r;

	cfs_rbuf_init(&r, p, len);
	d->start = cfs_get_u64(&r);
	d->end = cfs_get_u64(&r);
	d->pid = cfs_get_u32(&r);
	if (r.err == CFS_WIRE_OK && (d->end < d->start || d->end > CFS_LK_EOF))
		return CFS_WIRE_BAD_FIELD;
	return cfs_rbuf_done(&r);
}

/* Appends a body that is one status (PONG). */
void
cfs_status_only_encode(struct cfs_wbuf *w, int32_t status)
{
	cfs_put_u32(w, (uint32_t)status);
}

/* Reads a body that is one status. */
int
cfs_status_only_decode(const void *p, size_t len, int32_t *status)
{
	struct cfs_rbuf r;

	cfs_rbuf_init(&r, p, len);
	*status = (int32_t)cfs_get_u32(&r);
	return cfs_rbuf_done(&r);
}

/* Appends a SNAPSHOT body: header fields and records. */
void
cfs_snapshot_encode(struct cfs_wbuf *w, const struct cfs_snapshot *sn)
{
	if (sn->len > CFS_MAX_IO)
		fatalx("%s: %u bytes of records", __func__, sn->len);
	cfs_put_u64(w, sn->sn);
	cfs_put_u64(w, sn->epoch);
	cfs_put_u8(w, sn->flags);
	cfs_put_u32(w, sn->len);
	cfs_put_bytes(w, sn->records, sn->len);
}

/* Reads a SNAPSHOT body; records point into it. */
int
cfs_snapshot_decode(const void *p, size_t len, struct cfs_snapshot *sn)
{
	struct cfs_rbuf r;

	memset(sn, 0, sizeof(*sn));
	cfs_rbuf_init(&r, p, len);
	sn->sn = cfs_get_u64(&r);
	sn->epoch = cfs_get_u64(&r);
	sn->flags = cfs_get_u8(&r);
	if (r.err == CFS_WIRE_OK && (sn->flags & ~(CFS_SNAP_BEGIN | CFS_SNAP_END)) != 0)
		return CFS_WIRE_BAD_FLAGS;
	sn->len = cfs_get_u32(&r);
	if (r.err == CFS_WIRE_OK && sn->len > CFS_MAX_IO)
		return CFS_WIRE_TOO_LONG;
	sn->records = cfs_get_bytes(&r, sn->len);
	return cfs_rbuf_done(&r);
}

/* Appends a STATUS_REPLY body. */
void
cfs_status_encode(struct cfs_wbuf *w, const struct cfs_status *s)
{
	cfs_put_str(w, s->name, CFS_NODE_NAME_MAX);
	cfs_put_u8(w, s->role);
	cfs_put_u64(w, s->epoch);
	cfs_put_u64(w, s->applied_sn);
	cfs_put_u64(w, s->acked_sn);
	cfs_put_u64(w, s->sent_len);
	cfs_put_u64(w, s->sent_bytes);
	cfs_put_u32(w, s->clients);
	cfs_put_u8(w, s->successor_up);
	cfs_put_bytes(w, s->digest, CFS_DIGEST_LEN);
	cfs_put_u32(w, s->flags);
	cfs_put_u64(w, s->applied_epoch);
	cfs_put_str(w, s->master, CFS_NODE_NAME_MAX);
	cfs_put_str(w, s->syncing, CFS_NODE_NAME_MAX);
	cfs_put_u64(w, s->sync_sn);
	cfs_put_u64(w, s->locks);
	cfs_put_u64(w, s->lock_waits);
	if (s->nchain > CFS_MAX_NODES)
		fatalx("%s: %u nodes", __func__, s->nchain);
	cfs_put_u16(w, s->nchain);
	for (uint16_t i = 0; i < s->nchain; i++)
		cfs_put_str(w, s->chain[i], CFS_NODE_NAME_MAX);
}

/* Reads a STATUS_REPLY body. */
int
cfs_status_decode(const void *p, size_t len, struct cfs_status *s)
{
	struct cfs_rbuf r;
	const uint8_t *d;

	memset(s, 0, sizeof(*s));
	cfs_rbuf_init(&r, p, len);
	cfs_get_str(&r, s->name, CFS_NODE_NAME_MAX);
	s->role = cfs_get_u8(&r);
	if (r.err == CFS_WIRE_OK && (s->role & ~(CFS_ROLE_HEAD | CFS_ROLE_TAIL)) != 0)
		return CFS_WIRE_BAD_FIELD;
	s->epoch = cfs_get_u64(&r);
	s->applied_sn = cfs_get_u64(&r);
	s->acked_sn = cfs_get_u64(&r);
	s->sent_len = cfs_get_u64(&r);
	s->sent_bytes = cfs_get_u64(&r);
	s->clients = cfs_get_u32(&r);
	s->successor_up = cfs_get_u8(&r);
	if (r.err == CFS_WIRE_OK && s->successor_up > 1)
		return CFS_WIRE_BAD_FIELD;
	d = cfs_get_bytes(&r, CFS_DIGEST_LEN);
	if (d != NULL)
		memcpy(s->digest, d, CFS_DIGEST_LEN);
	s->flags = cfs_get_u32(&r);
	s->applied_epoch = cfs_get_u64(&r);
	cfs_get_str(&r, s->master, CFS_NODE_NAME_MAX);
	cfs_get_str(&r, s->syncing, CFS_NODE_NAME_MAX);
	s->sync_sn = cfs_get_u64(&r);
	s->locks = cfs_get_u64(&r);
	s->lock_waits = cfs_get_u64(&r);
	s->nchain = cfs_get_u16(&r);
	if (s->nchain > CFS_MAX_NODES) {
		s->nchain = 0;
		return r.err != CFS_WIRE_OK ? r.err : CFS_WIRE_TOO_LONG;
	}
	for (uint16_t i = 0; i < s->nchain && r.err == CFS_WIRE_OK; i++)
		cfs_get_str(&r, s->chain[i], CFS_NODE_NAME_MAX);
	return cfs_rbuf_done(&r);
}

/* Appends a statfs record. */
void
cfs_statfs_encode(struct cfs_wbuf *w, const struct cfs_statfs *s)
{
	cfs_put_u64(w, s->bsize);
	cfs_put_u64(w, s->blocks);
	cfs_put_u64(w, s->bfree);
	cfs_put_u64(w, s->bavail);
	cfs_put_u64(w, s->files);
	cfs_put_u64(w, s->ffree);
	cfs_put_u32(w, s->namemax);
}

/* Reads a statfs record. */
int
cfs_statfs_decode(const void *p, size_t len, struct cfs_statfs *s)
{
	struct cfs_rbuf r;

	memset(s, 0, sizeof(*s));
	cfs_rbuf_init(&r, p, len);
	s->bsize = cfs_get_u64(&r);
	s->blocks = cfs_get_u64(&r);
	s->bfree = cfs_get_u64(&r);
	s->bavail = cfs_get_u64(&r);
	s->files = cfs_get_u64(&r);
	s->ffree = cfs_get_u64(&r);
	s->namemax = cfs_get_u32(&r);
	return cfs_rbuf_done(&r);
}

/* Appends one readdir record; the attr only when plus. */
void
cfs_dirent_put(struct cfs_wbuf *w, const struct cfs_dirent *d, int plus)
{
	if (d->namelen == 0 || d->namelen > CFS_NAME_MAX)
		fatalx("%s: name of %u bytes", __func__, d->namelen);
	cfs_put_u64(w, d->ino);
	cfs_put_u64(w, d->cookie);
	cfs_put_u32(w, d->type);
	cfs_put_u16(w, d->namelen);
	cfs_put_bytes(w, d->name, d->namelen);
	if (plus)
		cfs_attr_put(w, &d->attr);
}

/* Reads the next readdir record; the error is also left in r. */
int
cfs_dirent_get(struct cfs_rbuf *r, struct cfs_dirent *d, int plus)
{
	memset(d, 0, sizeof(*d));
	d->ino = cfs_get_u64(r);
	d->cookie = cfs_get_u64(r);
	d->type = cfs_get_u32(r);
	d->namelen = cfs_get_u16(r);
	if (r->err == CFS_WIRE_OK && d->namelen == 0)
		cfs_rbuf_fail(r, CFS_WIRE_BAD_FIELD);
	else if (d->namelen > CFS_NAME_MAX)
		cfs_rbuf_fail(r, CFS_WIRE_TOO_LONG);
	else
		d->name = (const char *)cfs_get_bytes(r, d->namelen);
	if (plus)
		cfs_attr_get(r, &d->attr);
	return r->err;
}

/* True for the op types that are updates (go to the head). */
int
cfs_op_is_update(uint16_t type)
{
	return type >= CFS_OP_CREATE && type <= CFS_OP_CLOSEREF;
}

/*
 * True for the updates of locks and open references: they change no file,
 * a read-only export allows them.
 */
int
cfs_op_is_lock(uint16_t type)
{
	return type >= CFS_OP_SETLK && type <= CFS_OP_CLOSEREF;
}

/* True for the ops only a node makes; a client's request of one is refused. */
int
cfs_op_is_internal(uint16_t type)
{
	return type == CFS_OP_EXPIRE_SESSIONS || type == CFS_OP_LKEXPIRE;
}

/* True for any known op type. */
int
cfs_op_is_valid(uint16_t type)
{
	return (type >= CFS_OP_LOOKUP && type <= CFS_OP_LKSTATE) || cfs_op_is_update(type);
}

/* The op's name for logs; never NULL. */
const char *
cfs_op_name(uint16_t type)
{
	switch (type) {
	case CFS_OP_LOOKUP:
		return "lookup";
	case CFS_OP_GETATTR:
		return "getattr";
	case CFS_OP_READDIR:
		return "readdir";
	case CFS_OP_READ:
		return "read";
	case CFS_OP_READLINK:
		return "readlink";
	case CFS_OP_GETXATTR:
		return "getxattr";
	case CFS_OP_LISTXATTR:
		return "listxattr";
	case CFS_OP_STATFS:
		return "statfs";
	case CFS_OP_LSEEK:
		return "lseek";
	case CFS_OP_CREATE:
		return "create";
	case CFS_OP_MKNOD:
		return "mknod";
	case CFS_OP_MKDIR:
		return "mkdir";
	case CFS_OP_SYMLINK:
		return "symlink";
	case CFS_OP_LINK:
		return "link";
	case CFS_OP_UNLINK:
		return "unlink";
	case CFS_OP_RMDIR:
		return "rmdir";
	case CFS_OP_RENAME:
		return "rename";
	case CFS_OP_SETATTR:
		return "setattr";
	case CFS_OP_WRITE:
		return "write";
	case CFS_OP_SETXATTR:
		return "setxattr";
	case CFS_OP_REMOVEXATTR:
		return "removexattr";
	case CFS_OP_FALLOCATE:
		return "fallocate";
	case CFS_OP_FSYNC:
		return "fsync";
	case CFS_OP_EXPIRE_SESSIONS:
		return "expire-sessions";
	case CFS_OP_GETLK:
		return "getlk";
	case CFS_OP_LKSTATE:
		return "lkstate";
	case CFS_OP_SETLK:
		return "setlk";
	case CFS_OP_UNLOCK:
		return "unlock";
	case CFS_OP_LKCANCEL:
		return "lkcancel";
	case CFS_OP_LKEXPIRE:
		return "lkexpire";
	case CFS_OP_OPENREF:
		return "openref";
	case CFS_OP_CLOSEREF:
		return "closeref";
	}
	return "unknown";
}

/* The message type's name for logs; never NULL. */
const char *
cfs_msg_name(uint16_t type)
{
	switch (type) {
	case CFS_MSG_HELLO:
		return "hello";
	case CFS_MSG_HELLO_REPLY:
		return "hello-reply";
	case CFS_MSG_REQUEST:
		return "request";
	case CFS_MSG_REPLY:
		return "reply";
	case CFS_MSG_ENTRY:
		return "entry";
	case CFS_MSG_ACK:
		return "ack";
	case CFS_MSG_STATUS:
		return "status";
	case CFS_MSG_STATUS_REPLY:
		return "status-reply";
	case CFS_MSG_SNAPSHOT:
		return "snapshot";
	case CFS_MSG_RECALL:
		return "recall";
	case CFS_MSG_RECALL_ACK:
		return "recall-ack";
	case CFS_MSG_LKGRANT:
		return "lkgrant";
	case CFS_MSG_PING:
		return "ping";
	case CFS_MSG_PONG:
		return "pong";
	}
	return "unknown";
}

/* Says why a frame or body was rejected; never NULL. */
const char *
cfs_wire_strerror(int err)
{
	switch (err) {
	case CFS_WIRE_OK:
		return "no error";
	case CFS_WIRE_SHORT:
		return "truncated";
	case CFS_WIRE_BAD_MAGIC:
		return "bad magic";
	case CFS_WIRE_BAD_VERSION:
		return "unsupported protocol version";
	case CFS_WIRE_BAD_TYPE:
		return "unknown message type";
	case CFS_WIRE_TOO_LONG:
		return "length over its limit";
	case CFS_WIRE_BAD_FIELD:
		return "field out of its domain";
	case CFS_WIRE_TRAILING:
		return "trailing bytes";
	case CFS_WIRE_BAD_FLAGS:
		return "reserved flags set";
	}
	return "unknown wire error";
}
