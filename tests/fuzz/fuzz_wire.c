/*
 * libFuzzer target for the wire codec.  The input is read as a header and its
 * remainder as every kind of body.  Whatever decodes must re-encode to exactly
 * the bytes it came from (the encoding is canonical) and decode again to the
 * same values; anything else is a bug and aborts.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Aborts unless cond holds. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

/* Aborts unless the encoding in w is byte for byte the input p. */
static void
fuzz_same_bytes(const struct cfs_wbuf *w, const void *p, size_t len)
{
	FUZZ_CHECK(w->len == len);
	FUZZ_CHECK(len == 0 || memcmp(w->p, p, len) == 0);
}

/* Whether n bytes at a and b are equal, either pointer NULL when n is 0. */
static int
fuzz_mem_eq(const void *a, const void *b, size_t n)
{
	return n == 0 || (a != NULL && b != NULL && memcmp(a, b, n) == 0);
}

/* Whether two attrs are the same. */
static int
fuzz_attr_eq(const struct cfs_attr *a, const struct cfs_attr *b)
{
	return a->ino == b->ino && a->mode == b->mode && a->nlink == b->nlink && a->uid == b->uid &&
	       a->gid == b->gid && a->rdev == b->rdev && a->size == b->size &&
	       a->blocks == b->blocks && a->atime_sec == b->atime_sec &&
	       a->atime_nsec == b->atime_nsec && a->mtime_sec == b->mtime_sec &&
	       a->mtime_nsec == b->mtime_nsec && a->ctime_sec == b->ctime_sec &&
	       a->ctime_nsec == b->ctime_nsec && a->version == b->version && a->flags == b->flags;
}

/* Whether two ops are the same, comparing the bytes behind the pointers. */
static int
fuzz_op_eq(const struct cfs_op *a, const struct cfs_op *b)
{
	return a->type == b->type && a->flags == b->flags && a->ino == b->ino &&
	       a->ino2 == b->ino2 && a->mode == b->mode && a->uid == b->uid && a->gid == b->gid &&
	       a->valid == b->valid && a->rdev == b->rdev && a->offset == b->offset &&
	       a->length == b->length && a->atime_sec == b->atime_sec &&
	       a->atime_nsec == b->atime_nsec && a->mtime_sec == b->mtime_sec &&
	       a->mtime_nsec == b->mtime_nsec && a->namelen == b->namelen &&
	       fuzz_mem_eq(a->name, b->name, a->namelen) && a->name2len == b->name2len &&
	       fuzz_mem_eq(a->name2, b->name2, a->name2len) && a->datalen == b->datalen &&
	       fuzz_mem_eq(a->data, b->data, a->datalen);
}

/* Header: a valid one re-encodes to its own 32 bytes. */
static void
fuzz_header(const uint8_t *p, size_t len)
{
	struct cfs_header h, g;
	uint8_t out[CFS_HEADER_SIZE];
	int err = cfs_header_decode(p, len, &h);

	if (len < CFS_HEADER_SIZE) {
		FUZZ_CHECK(err == CFS_WIRE_SHORT);
		return;
	}
	if (err != CFS_WIRE_OK)
		return;
	FUZZ_CHECK(h.type >= 1 && h.type < CFS_MSG_max && h.length <= CFS_MAX_BODY);
	cfs_header_encode(out, &h);
	FUZZ_CHECK(memcmp(out, p, CFS_HEADER_SIZE) == 0);
	FUZZ_CHECK(cfs_header_decode(out, sizeof(out), &g) == CFS_WIRE_OK);
	FUZZ_CHECK(g.magic == h.magic && g.version == h.version && g.type == h.type &&
	           g.flags == h.flags && g.length == h.length && g.reqid == h.reqid &&
	           g.epoch == h.epoch);
}

/* HELLO body. */
static void
fuzz_hello(const uint8_t *p, size_t len)
{
	struct cfs_hello h, g;
	struct cfs_wbuf w;

	if (cfs_hello_decode(p, len, &h) != CFS_WIRE_OK)
		return;
	FUZZ_CHECK(memchr(h.name, '\0', sizeof(h.name)) != NULL);
	cfs_wbuf_init(&w);
	cfs_hello_encode(&w, &h);
	fuzz_same_bytes(&w, p, len);
	FUZZ_CHECK(cfs_hello_decode(w.p, w.len, &g) == CFS_WIRE_OK);
	FUZZ_CHECK(g.role == h.role && g.client_id == h.client_id && strcmp(g.name, h.name) == 0);
	cfs_wbuf_free(&w);
}

/* HELLO_REPLY body. */
static void
fuzz_hello_reply(const uint8_t *p, size_t len)
{
	static struct cfs_hello_reply h, g;
	struct cfs_wbuf w;

	if (cfs_hello_reply_decode(p, len, &h) != CFS_WIRE_OK)
		return;
	FUZZ_CHECK(h.nnodes <= CFS_MAX_NODES);
	FUZZ_CHECK(memchr(h.name, '\0', sizeof(h.name)) != NULL);
	cfs_wbuf_init(&w);
	cfs_hello_reply_encode(&w, &h);
	fuzz_same_bytes(&w, p, len);
	FUZZ_CHECK(cfs_hello_reply_decode(w.p, w.len, &g) == CFS_WIRE_OK);
	FUZZ_CHECK(g.status == h.status && strcmp(g.name, h.name) == 0 && g.role == h.role &&
	           g.applied_sn == h.applied_sn && g.applied_epoch == h.applied_epoch &&
	           g.epoch == h.epoch && g.nnodes == h.nnodes &&
	           g.session_ttl_s == h.session_ttl_s && g.lock_lease_ms == h.lock_lease_ms);
	for (uint16_t i = 0; i < h.nnodes; i++) {
		FUZZ_CHECK(memchr(h.nodes[i].host, '\0', sizeof(h.nodes[i].host)) != NULL);
		FUZZ_CHECK(strcmp(g.nodes[i].name, h.nodes[i].name) == 0 &&
		           strcmp(g.nodes[i].host, h.nodes[i].host) == 0 &&
		           g.nodes[i].port == h.nodes[i].port);
	}
	cfs_wbuf_free(&w);
}

/* REQUEST body. */
static void
fuzz_request(const uint8_t *p, size_t len)
{
	struct cfs_op op, op2;
	uint64_t acked, acked2;
	struct cfs_wbuf w;

	if (cfs_request_decode(p, len, &acked, &op) != CFS_WIRE_OK)
		return;
	FUZZ_CHECK(cfs_op_is_valid(op.type) && op.namelen <= CFS_NAME_MAX &&
	           op.name2len <= CFS_NAME_MAX && op.datalen <= CFS_MAX_IO);
	cfs_wbuf_init(&w);
	cfs_request_encode(&w, acked, &op);
	fuzz_same_bytes(&w, p, len);
	FUZZ_CHECK(cfs_request_decode(w.p, w.len, &acked2, &op2) == CFS_WIRE_OK);
	FUZZ_CHECK(acked2 == acked && fuzz_op_eq(&op, &op2));
	cfs_wbuf_free(&w);
}

/* REPLY body. */
static void
fuzz_reply(const uint8_t *p, size_t len)
{
	struct cfs_reply rp, rp2;
	struct cfs_wbuf w;

	if (cfs_reply_decode(p, len, &rp) != CFS_WIRE_OK)
		return;
	cfs_wbuf_init(&w);
	cfs_reply_encode(&w, &rp);
	fuzz_same_bytes(&w, p, len);
	FUZZ_CHECK(cfs_reply_decode(w.p, w.len, &rp2) == CFS_WIRE_OK);
	FUZZ_CHECK(rp2.status == rp.status && rp2.flags == rp.flags &&
	           fuzz_attr_eq(&rp2.attr, &rp.attr) && rp2.value == rp.value &&
	           rp2.lease_ms == rp.lease_ms && rp2.datalen == rp.datalen && fuzz_mem_eq(rp2.data, rp.data, rp.datalen));
	cfs_wbuf_free(&w);
}

/* ENTRY body. */
static void
fuzz_entry(const uint8_t *p, size_t len)
{
	struct cfs_entry e, e2;
	struct cfs_wbuf w;

	if (cfs_entry_decode(p, len, &e) != CFS_WIRE_OK)
		return;
	FUZZ_CHECK(e.kind == CFS_ENTRY_UPDATE || e.kind == CFS_ENTRY_REPLY_ONLY);
	cfs_wbuf_init(&w);
	cfs_entry_encode(&w, &e);
	fuzz_same_bytes(&w, p, len);
	FUZZ_CHECK(cfs_entry_decode(w.p, w.len, &e2) == CFS_WIRE_OK);
	FUZZ_CHECK(e2.sn == e.sn && e2.epoch == e.epoch && e2.kind == e.kind && e2.client_id == e.client_id &&
	           e2.seq == e.seq && e2.acked_below == e.acked_below && e2.new_ino == e.new_ino &&
	           e2.time_sec == e.time_sec && e2.time_nsec == e.time_nsec &&
	           e2.result == e.result && fuzz_op_eq(&e.op, &e2.op));
	cfs_wbuf_free(&w);
}

/* ACK body. */
static void
fuzz_ack(const uint8_t *p, size_t len)
{
	uint64_t sn, sn2;
	struct cfs_wbuf w;

	if (cfs_ack_decode(p, len, &sn) != CFS_WIRE_OK)
		return;
	cfs_wbuf_init(&w);
	cfs_ack_encode(&w, sn);
	fuzz_same_bytes(&w, p, len);
	FUZZ_CHECK(cfs_ack_decode(w.p, w.len, &sn2) == CFS_WIRE_OK && sn2 == sn);
	cfs_wbuf_free(&w);
}

/* RECALL body. */
static void
fuzz_recall(const uint8_t *p, size_t len)
{
	struct cfs_recall rc, rc2;
	struct cfs_wbuf w;
	size_t at;

	if (cfs_recall_decode(p, len, &rc) != CFS_WIRE_OK)
		return;
	FUZZ_CHECK(rc.n <= CFS_RECALL_MAX);
	cfs_wbuf_init(&w);
	at = cfs_recall_begin(&w);
	for (uint16_t i = 0; i < rc.n; i++)
		cfs_recall_add(&w, at, rc.items[i].kind, rc.items[i].ino);
	fuzz_same_bytes(&w, p, len);
	FUZZ_CHECK(cfs_recall_decode(w.p, w.len, &rc2) == CFS_WIRE_OK && rc2.n == rc.n);
	for (uint16_t i = 0; i < rc.n; i++)
		FUZZ_CHECK(rc2.items[i].kind == rc.items[i].kind && rc2.items[i].ino == rc.items[i].ino);
	cfs_wbuf_free(&w);
}

/* LKGRANT and PONG bodies, and a GETLK answer's lock. */
static void
fuzz_locks(const uint8_t *p, size_t len)
{
	struct cfs_lkgrant g, g2;
	struct cfs_lock_desc d, d2;
	struct cfs_wbuf w;
	int32_t st, st2;

	cfs_wbuf_init(&w);
	if (cfs_lkgrant_decode(p, len, &g) == CFS_WIRE_OK) {
		cfs_lkgrant_encode(&w, &g);
		fuzz_same_bytes(&w, p, len);
		FUZZ_CHECK(cfs_lkgrant_decode(w.p, w.len, &g2) == CFS_WIRE_OK && g2.ino == g.ino &&
		           g2.seq == g.seq && g2.status == g.status);
	}
	cfs_wbuf_reset(&w);
	if (cfs_lock_desc_decode(p, len, &d) == CFS_WIRE_OK) {
		FUZZ_CHECK(d.start <= d.end && d.end <= CFS_LK_EOF);
		cfs_lock_desc_put(&w, &d);
		fuzz_same_bytes(&w, p, len);
		FUZZ_CHECK(cfs_lock_desc_decode(w.p, w.len, &d2) == CFS_WIRE_OK &&
		           d2.start == d.start && d2.end == d.end && d2.pid == d.pid);
	}
	cfs_wbuf_reset(&w);
	if (cfs_status_only_decode(p, len, &st) == CFS_WIRE_OK) {
		cfs_status_only_encode(&w, st);
		fuzz_same_bytes(&w, p, len);
		FUZZ_CHECK(cfs_status_only_decode(w.p, w.len, &st2) == CFS_WIRE_OK && st2 == st);
	}
	cfs_wbuf_free(&w);
}

/* STATUS_REPLY body. */
static void
fuzz_status(const uint8_t *p, size_t len)
{
	struct cfs_status s, s2;
	struct cfs_wbuf w;

	if (cfs_status_decode(p, len, &s) != CFS_WIRE_OK)
		return;
	FUZZ_CHECK(memchr(s.name, '\0', sizeof(s.name)) != NULL);
	cfs_wbuf_init(&w);
	cfs_status_encode(&w, &s);
	fuzz_same_bytes(&w, p, len);
	FUZZ_CHECK(cfs_status_decode(w.p, w.len, &s2) == CFS_WIRE_OK);
	FUZZ_CHECK(strcmp(s2.name, s.name) == 0 && s2.role == s.role && s2.epoch == s.epoch &&
	           s2.applied_sn == s.applied_sn && s2.acked_sn == s.acked_sn &&
	           s2.sent_len == s.sent_len && s2.sent_bytes == s.sent_bytes &&
	           s2.clients == s.clients && s2.successor_up == s.successor_up &&
	           memcmp(s2.digest, s.digest, CFS_DIGEST_LEN) == 0);
	FUZZ_CHECK(s2.flags == s.flags && s2.applied_epoch == s.applied_epoch &&
	           strcmp(s2.master, s.master) == 0 && strcmp(s2.syncing, s.syncing) == 0 &&
	           s2.sync_sn == s.sync_sn && s2.locks == s.locks &&
	           s2.lock_waits == s.lock_waits && s2.nchain == s.nchain && s.nchain <= CFS_MAX_NODES);
	for (uint16_t i = 0; i < s.nchain; i++)
		FUZZ_CHECK(strcmp(s2.chain[i], s.chain[i]) == 0);
	cfs_wbuf_free(&w);
}

/* SNAPSHOT body: records point into the input. */
static void
fuzz_snapshot(const uint8_t *p, size_t len)
{
	struct cfs_snapshot s, s2;
	struct cfs_wbuf w;

	if (cfs_snapshot_decode(p, len, &s) != CFS_WIRE_OK)
		return;
	FUZZ_CHECK(s.len <= CFS_MAX_IO && (s.flags & ~(CFS_SNAP_BEGIN | CFS_SNAP_END)) == 0);
	FUZZ_CHECK(s.len == 0 || (s.records >= p && s.records + s.len <= p + len));
	cfs_wbuf_init(&w);
	cfs_snapshot_encode(&w, &s);
	fuzz_same_bytes(&w, p, len);
	FUZZ_CHECK(cfs_snapshot_decode(w.p, w.len, &s2) == CFS_WIRE_OK);
	FUZZ_CHECK(s2.sn == s.sn && s2.epoch == s.epoch && s2.flags == s.flags &&
	           s2.len == s.len && fuzz_mem_eq(s2.records, s.records, s.len));
	cfs_wbuf_free(&w);
}

/* statfs record. */
static void
fuzz_statfs(const uint8_t *p, size_t len)
{
	struct cfs_statfs s, s2;
	struct cfs_wbuf w;

	if (cfs_statfs_decode(p, len, &s) != CFS_WIRE_OK)
		return;
	cfs_wbuf_init(&w);
	cfs_statfs_encode(&w, &s);
	fuzz_same_bytes(&w, p, len);
	FUZZ_CHECK(cfs_statfs_decode(w.p, w.len, &s2) == CFS_WIRE_OK);
	FUZZ_CHECK(s2.bsize == s.bsize && s2.blocks == s.blocks && s2.bfree == s.bfree &&
	           s2.bavail == s.bavail && s2.files == s.files && s2.ffree == s.ffree &&
	           s2.namemax == s.namemax);
	cfs_wbuf_free(&w);
}

/* Readdir records back to back; each good one re-encodes to its own bytes. */
static void
fuzz_dirents(const uint8_t *p, size_t len, int plus)
{
	struct cfs_dirent d, d2;
	struct cfs_rbuf r, r2;
	struct cfs_wbuf w;
	size_t start;

	cfs_rbuf_init(&r, p, len);
	while (r.off < r.len) {
		start = r.off;
		if (cfs_dirent_get(&r, &d, plus) != CFS_WIRE_OK) {
			FUZZ_CHECK(r.err != CFS_WIRE_OK);
			return;
		}
		FUZZ_CHECK(d.namelen >= 1 && d.namelen <= CFS_NAME_MAX);
		cfs_wbuf_init(&w);
		cfs_dirent_put(&w, &d, plus);
		fuzz_same_bytes(&w, p + start, r.off - start);
		cfs_rbuf_init(&r2, w.p, w.len);
		FUZZ_CHECK(cfs_dirent_get(&r2, &d2, plus) == CFS_WIRE_OK);
		FUZZ_CHECK(cfs_rbuf_done(&r2) == CFS_WIRE_OK);
		FUZZ_CHECK(d2.ino == d.ino && d2.cookie == d.cookie && d2.type == d.type &&
		           d2.namelen == d.namelen && fuzz_mem_eq(d2.name, d.name, d.namelen) &&
		           (!plus || fuzz_attr_eq(&d2.attr, &d.attr)));
		cfs_wbuf_free(&w);
	}
	FUZZ_CHECK(cfs_rbuf_done(&r) == CFS_WIRE_OK);
}

/* Reads the input as a header, then what follows it as each kind of body. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *body = data;
	size_t len = size;

	fuzz_header(data, size);
	/* short inputs are bodies on their own, so small bodies are reached quickly */
	if (size >= CFS_HEADER_SIZE) {
		body = data + CFS_HEADER_SIZE;
		len = size - CFS_HEADER_SIZE;
	}
	fuzz_hello(body, len);
	fuzz_hello_reply(body, len);
	fuzz_request(body, len);
	fuzz_reply(body, len);
	fuzz_entry(body, len);
	fuzz_ack(body, len);
	fuzz_recall(body, len);
	fuzz_locks(body, len);
	fuzz_status(body, len);
	fuzz_snapshot(body, len);
	fuzz_statfs(body, len);
	fuzz_dirents(body, len, 0);
	fuzz_dirents(body, len, 1);
	return 0;
}
