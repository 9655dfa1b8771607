/*
 * The store's keys and values: big-endian numbers and keys, the LMDB calls
 * the other files go through (get, put, delete, seek, delete by prefix; each
 * maps LMDB's errors to the store's negative errnos), and the codec of a
 * cfs_attr as the results table keeps it.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <lmdb.h>

#include "common/log.h"
#include "store/store.h"
#include "store/store_int.h"

/* Writes v big-endian in n bytes at p and returns the byte after. */
uint8_t *
store_put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
	return p + n;
}

/* Reads n big-endian bytes at *pp and steps past them. */
uint64_t
store_get_be(const uint8_t **pp, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | (*pp)[i];
	*pp += n;
	return v;
}

/* Builds the key (a, b), both big-endian. */
void
store_key2(uint8_t k[16], uint64_t a, uint64_t b)
{
	store_put_be(k, a, 8);
	store_put_be(k + 8, b, 8);
}

/* Builds the key (ino, name) and returns its length. */
size_t
store_key_name(uint8_t *k, uint64_t ino, const char *name, size_t len)
{
	store_put_be(k, ino, 8);
	if (len > 0)
		memcpy(k + 8, name, len);
	return 8 + len;
}

/* Reads the big-endian u64 at the start of a key or value. */
uint64_t
store_val64(const void *p)
{
	const uint8_t *q = p;

	return store_get_be(&q, 8);
}

/* Logs an LMDB failure and maps it to the store's negative errno. */
int
store_mdb_fail(const char *func, const char *what, int rc)
{
	log_warnx("%s: %s: %s", func, what, mdb_strerror(rc));
	return rc == MDB_MAP_FULL ? -ENOSPC : -EIO;
}

/* Fetches a value: 0, ENOENT when absent, or a negative errno. */
int
store_db_get(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, MDB_val *v)
{
	MDB_val key = {klen, (void *)k};
	int rc;

	rc = mdb_get(txn, dbi, &key, v);
	if (rc == MDB_NOTFOUND)
		return ENOENT;
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_get", rc);
	return 0;
}

/* Stores a value: 0 or a negative errno. */
int
store_db_put(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, const void *p, size_t len)
{
	MDB_val key = {klen, (void *)k}, val = {len, (void *)p};
	int rc;

	rc = mdb_put(txn, dbi, &key, &val, 0);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_put", rc);
	return 0;
}

/* Deletes a key: 0, ENOENT when absent, or a negative errno. */
int
store_db_del(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen)
{
	MDB_val key = {klen, (void *)k};
	int rc;

	rc = mdb_del(txn, dbi, &key, NULL);
	if (rc == MDB_NOTFOUND)
		return ENOENT;
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_del", rc);
	return 0;
}

/*
 * Finds the first key >= (k, klen) that starts with the same prefix of plen
 * bytes: 0 with key and value filled, ENOENT when there is none, or a
 * negative errno.
 */
int
store_db_seek(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, size_t plen, MDB_val *key,
              MDB_val *val)
{
	MDB_cursor *cur;
	int rc;

	rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_cursor_open", rc);
	key->mv_size = klen;
	key->mv_data = (void *)k;
	rc = mdb_cursor_get(cur, key, val, MDB_SET_RANGE);
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		return ENOENT;
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_cursor_get", rc);
	if (key->mv_size < plen || memcmp(key->mv_data, k, plen) != 0)
		return ENOENT;
	return 0;
}

/* Deletes every key of dbi that starts with ino. */
int
store_del_prefix(struct store_tx *tx, MDB_dbi dbi, uint64_t ino)
{
	uint8_t k[8];
	MDB_cursor *cur;
	MDB_val key, val;
	int rc;

	store_put_be(k, ino, 8);
	rc = mdb_cursor_open(tx->txn, dbi, &cur);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_cursor_open", rc);
	for (;;) {
		key.mv_size = sizeof(k);
		key.mv_data = k;
		rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
		if (rc == MDB_NOTFOUND ||
		    (rc == 0 && (key.mv_size < 8 || memcmp(key.mv_data, k, 8) != 0))) {
			rc = 0;
			break;
		}
		if (rc == 0)
			rc = mdb_cursor_del(cur, 0);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (rc != 0)
		return store_mdb_fail(__func__, "cursor", rc);
	return 0;
}

/* Encodes a cfs_attr in STORE_ATTR_SIZE bytes. */
uint8_t *
store_attr_enc(uint8_t *p, const struct cfs_attr *a)
{
	p = store_put_be(p, a->ino, 8);
	p = store_put_be(p, a->mode, 4);
	p = store_put_be(p, a->nlink, 4);
	p = store_put_be(p, a->uid, 4);
	p = store_put_be(p, a->gid, 4);
	p = store_put_be(p, a->rdev, 8);
	p = store_put_be(p, a->size, 8);
	p = store_put_be(p, a->blocks, 8);
	p = store_put_be(p, (uint64_t)a->atime_sec, 8);
	p = store_put_be(p, a->atime_nsec, 4);
	p = store_put_be(p, (uint64_t)a->mtime_sec, 8);
	p = store_put_be(p, a->mtime_nsec, 4);
	p = store_put_be(p, (uint64_t)a->ctime_sec, 8);
	p = store_put_be(p, a->ctime_nsec, 4);
	p = store_put_be(p, a->version, 8);
	p = store_put_be(p, a->flags, 4);
	return p;
}

/* Decodes what store_attr_enc wrote (with_flags 0: as it wrote before attr had flags). */
const uint8_t *
store_attr_dec(const uint8_t *p, struct cfs_attr *a, int with_flags)
{
	a->ino = store_get_be(&p, 8);
	a->mode = (uint32_t)store_get_be(&p, 4);
	a->nlink = (uint32_t)store_get_be(&p, 4);
	a->uid = (uint32_t)store_get_be(&p, 4);
	a->gid = (uint32_t)store_get_be(&p, 4);
	a->rdev = store_get_be(&p, 8);
	a->size = store_get_be(&p, 8);
	a->blocks = store_get_be(&p, 8);
	a->atime_sec = (int64_t)store_get_be(&p, 8);
	a->atime_nsec = (uint32_t)store_get_be(&p, 4);
	a->mtime_sec = (int64_t)store_get_be(&p, 8);
	a->mtime_nsec = (uint32_t)store_get_be(&p, 4);
	a->ctime_sec = (int64_t)store_get_be(&p, 8);
	a->ctime_nsec = (uint32_t)store_get_be(&p, 4);
	a->version = store_get_be(&p, 8);
	a->flags = with_flags ? (uint32_t)store_get_be(&p, 4) : 0;
	return p;
}
