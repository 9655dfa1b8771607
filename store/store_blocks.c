/*
 * The contents of regular files: STORE_BLOCK_SIZE blocks in the blocks
 * database, written, truncated, punched, read (READ) and searched for data
 * and holes (LSEEK).  No other file reads or writes a block (store_open and
 * store_digest only go over every database), so keeping file data some other
 * way, per-inode files say, is a change to this file and to the digest.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#include "common/wire.h"
#include "store/store.h"
#include "store/store_int.h"

/* Linux ABI values carried in op flags, in case the libc headers lack them. */
#ifndef SEEK_DATA
#define SEEK_DATA 3
#endif
#ifndef SEEK_HOLE
#define SEEK_HOLE 4
#endif

static uint8_t store_zeros[STORE_BLOCK_SIZE];

/* Cuts a file's blocks to size bytes: drops later blocks, shortens the last. */
int
store_blocks_trunc(struct store_tx *tx, struct store_inode *n, uint64_t size)
{
	MDB_dbi dbi = tx->s->dbi[STORE_DB_BLOCKS];
	uint64_t first = size / STORE_BLOCK_SIZE + (size % STORE_BLOCK_SIZE != 0);
	uint64_t keep = size % STORE_BLOCK_SIZE;
	uint8_t k[16];
	MDB_cursor *cur;
	MDB_val key, val;
	int rc;

	rc = mdb_cursor_open(tx->txn, dbi, &cur);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_cursor_open", rc);
	for (;;) {
		store_key2(k, n->a.ino, first);
		key.mv_size = sizeof(k);
		key.mv_data = k;
		rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
		if (rc == MDB_NOTFOUND ||
		    (rc == 0 && (key.mv_size != 16 || store_val64(key.mv_data) != n->a.ino))) {
			rc = 0;
			break;
		}
		if (rc == 0) {
			n->stored -= val.mv_size < n->stored ? val.mv_size : n->stored;
			rc = mdb_cursor_del(cur, 0);
		}
		if (rc != 0) {
			mdb_cursor_close(cur);
			return store_mdb_fail(__func__, "cursor", rc);
		}
	}
	mdb_cursor_close(cur);
	if (keep == 0)
		return 0;
	store_key2(k, n->a.ino, size / STORE_BLOCK_SIZE);
	rc = store_db_get(tx->txn, dbi, k, sizeof(k), &val);
	if (rc == ENOENT || (rc == 0 && val.mv_size <= keep))
		return 0;
	if (rc != 0)
		return rc;
	memcpy(tx->s->buf, val.mv_data, keep);
	n->stored -= val.mv_size - keep;
	return store_db_put(tx->txn, dbi, k, sizeof(k), tx->s->buf, keep);
}

/* Writes len bytes at off into a file's blocks, merging with what is there. */
int
store_blocks_write(struct store_tx *tx, struct store_inode *n, uint64_t off, const uint8_t *src,
                   size_t len)
{
	MDB_dbi dbi = tx->s->dbi[STORE_DB_BLOCKS];
	uint8_t k[16], *buf = tx->s->buf;
	MDB_val v;
	int rc;

	while (len > 0) {
		uint64_t idx = off / STORE_BLOCK_SIZE;
		size_t boff = off % STORE_BLOCK_SIZE, cnt = STORE_BLOCK_SIZE - boff, oldlen = 0;
		size_t newlen;
		const uint8_t *p = buf;

		if (cnt > len)
			cnt = len;
		store_key2(k, n->a.ino, idx);
		rc = store_db_get(tx->txn, dbi, k, sizeof(k), &v);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			oldlen = v.mv_size > STORE_BLOCK_SIZE ? STORE_BLOCK_SIZE : v.mv_size;
		}
		newlen = boff + cnt > oldlen ? boff + cnt : oldlen;
		if (boff == 0 && cnt >= oldlen) {
			p = src;
		} else {
			if (oldlen > 0)
				memcpy(buf, v.mv_data, oldlen);
			if (boff > oldlen)
				memset(buf + oldlen, 0, boff - oldlen);
			memcpy(buf + boff, src, cnt);
		}
		rc = store_db_put(tx->txn, dbi, k, sizeof(k), p, newlen);
		if (rc != 0)
			return rc;
		n->stored += newlen - oldlen;
		off += cnt;
		src += cnt;
		len -= cnt;
	}
	return 0;
}

/* Zeroes [off, end) of a file, deleting blocks that end up empty. */
int
store_blocks_punch(struct store_tx *tx, struct store_inode *n, uint64_t off, uint64_t end)
{
	MDB_dbi dbi = tx->s->dbi[STORE_DB_BLOCKS];
	uint8_t k[16], *buf = tx->s->buf;
	MDB_val key, v;
	int rc;

	while (off < end) {
		uint64_t idx, bstart, s, t;
		size_t len, keep;

		store_key2(k, n->a.ino, off / STORE_BLOCK_SIZE);
		rc = store_db_seek(tx->txn, dbi, k, sizeof(k), 8, &key, &v);
		if (rc == ENOENT)
			return 0;
		if (rc != 0)
			return rc;
		idx = store_val64((const uint8_t *)key.mv_data + 8);
		bstart = idx * STORE_BLOCK_SIZE;
		if (bstart >= end)
			return 0;
		len = v.mv_size;
		s = off > bstart ? off - bstart : 0;
		t = end - bstart < STORE_BLOCK_SIZE ? end - bstart : STORE_BLOCK_SIZE;
		store_key2(k, n->a.ino, idx);
		if (s < len) {
			keep = t >= len ? s : len;
			memcpy(buf, v.mv_data, len);
			if (t < len)
				memset(buf + s, 0, t - s);
			while (keep > 0 && buf[keep - 1] == 0)
				keep--;
			if (keep == 0)
				rc = store_db_del(tx->txn, dbi, k, sizeof(k));
			else
				rc = store_db_put(tx->txn, dbi, k, sizeof(k), buf, keep);
			if (rc != 0)
				return rc > 0 ? -EIO : rc;
			n->stored -= len - keep;
		}
		off = bstart + STORE_BLOCK_SIZE;
	}
	return 0;
}

/* Loads a regular file for READ and LSEEK. */
static int
store_rd_file(struct store_tx *tx, uint64_t ino, struct store_inode *n)
{
	int rc = store_inode_get(tx, ino, n);

	if (rc != 0)
		return rc;
	if (S_ISDIR(n->a.mode))
		return EISDIR;
	if (!S_ISREG(n->a.mode))
		return EINVAL;
	return 0;
}

/* READ: up to op->length bytes at op->offset, zeros for holes. */
int
store_rd_read(struct store_tx *tx, const struct cfs_op *op, struct cfs_wbuf *out)
{
	struct store_inode n;
	uint64_t off = op->offset, end;
	uint8_t k[16];
	MDB_val v;
	int rc;

	rc = store_rd_file(tx, op->ino, &n);
	if (rc != 0)
		return rc;
	if (op->length > CFS_MAX_IO)
		return EINVAL;
	end = off < n.a.size ? off + (n.a.size - off < op->length ? n.a.size - off : op->length)
	                     : off;
	tx->res->value = end - off;
	while (off < end) {
		uint64_t idx = off / STORE_BLOCK_SIZE;
		size_t boff = off % STORE_BLOCK_SIZE, cnt = STORE_BLOCK_SIZE - boff, have = 0;

		if (cnt > end - off)
			cnt = end - off;
		store_key2(k, n.a.ino, idx);
		rc = store_db_get(tx->txn, tx->s->dbi[STORE_DB_BLOCKS], k, sizeof(k), &v);
		if (rc < 0)
			return rc;
		if (rc == 0 && v.mv_size > boff) {
			have = v.mv_size - boff < cnt ? v.mv_size - boff : cnt;
			store_put_mapped(tx->s, out, (const uint8_t *)v.mv_data + boff, have);
		}
		cfs_put_bytes(out, store_zeros, cnt - have);
		off += cnt;
	}
	tx->res->attr = n.a;
	tx->res->flags |= CFS_REPLY_ATTR;
	return 0;
}

/* LSEEK: SEEK_DATA or SEEK_HOLE from op->offset; absent blocks are holes. */
int
store_rd_lseek(struct store_tx *tx, const struct cfs_op *op)
{
	MDB_dbi dbi = tx->s->dbi[STORE_DB_BLOCKS];
	struct store_inode n;
	uint64_t pos = op->offset, bstart;
	MDB_val key, v;
	uint8_t k[16];
	int rc;

	rc = store_rd_file(tx, op->ino, &n);
	if (rc != 0)
		return rc;
	if (op->flags != SEEK_DATA && op->flags != SEEK_HOLE)
		return EINVAL;
	if (pos >= n.a.size)
		return ENXIO;
	if (op->flags == SEEK_DATA) {
		for (;;) {
			store_key2(k, n.a.ino, pos / STORE_BLOCK_SIZE);
			rc = store_db_seek(tx->txn, dbi, k, sizeof(k), 8, &key, &v);
			if (rc != 0)
				return rc == ENOENT ? ENXIO : rc;
			bstart = store_val64((const uint8_t *)key.mv_data + 8) * STORE_BLOCK_SIZE;
			if (bstart > pos)
				pos = bstart;
			if (pos >= n.a.size)
				return ENXIO;
			if (pos < bstart + v.mv_size)
				break;
			pos = bstart + STORE_BLOCK_SIZE;
		}
	} else {
		for (;;) {
			store_key2(k, n.a.ino, pos / STORE_BLOCK_SIZE);
			bstart = pos - pos % STORE_BLOCK_SIZE;
			rc = store_db_get(tx->txn, dbi, k, sizeof(k), &v);
			if (rc < 0)
				return rc;
			if (rc == ENOENT || pos >= bstart + v.mv_size)
				break;
			pos = bstart + v.mv_size;
			if (v.mv_size < STORE_BLOCK_SIZE || pos >= n.a.size)
				break;
		}
		if (pos > n.a.size)
			pos = n.a.size;
	}
	tx->res->value = pos;
	return 0;
}
