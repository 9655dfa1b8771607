/*
 * Walks over the whole replicated state: its digest, which replicas compare
 * to show that they agree, and snapshots, which copy it to a node that
 * cannot continue from a log.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <lmdb.h>
#include <openssl/evp.h>

#include "common/log.h"
#include "store/store.h"
#include "store/store_int.h"

/* Feeds a length and the bytes it counts to the digest. */
static int
store_digest_put(EVP_MD_CTX *md, const void *p, size_t len)
{
	uint8_t b[8];

	store_put_be(b, len, 8);
	return EVP_DigestUpdate(md, b, sizeof(b)) == 1 && EVP_DigestUpdate(md, p, len) == 1;
}

/* SHA-256 over every key and value of every database but log, in a fixed order. */
int
store_digest(struct store *s, uint8_t out[CFS_DIGEST_LEN])
{
	EVP_MD_CTX *md;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val key, v;
	unsigned int mdlen = 0;
	int rc = 0, ok, i;

	md = EVP_MD_CTX_new();
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		log_warnx("%s: cannot set up SHA-256", __func__);
		return -EIO;
	}
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0) {
		EVP_MD_CTX_free(md);
		return store_mdb_fail(__func__, "mdb_txn_begin", rc);
	}
	ok = 1;
	for (i = 0; i < STORE_NDB && ok && rc == 0; i++) {
		if (i == STORE_DB_LOG)
			continue;
		ok = store_digest_put(md, store_db_names[i], strlen(store_db_names[i]));
		rc = mdb_cursor_open(txn, s->dbi[i], &cur);
		if (rc != 0)
			break;
		while (ok && (rc = mdb_cursor_get(cur, &key, &v, MDB_NEXT)) == 0)
			ok = store_digest_put(md, key.mv_data, key.mv_size) &&
			     store_digest_put(md, v.mv_data, v.mv_size);
		mdb_cursor_close(cur);
		if (rc == MDB_NOTFOUND)
			rc = 0;
	}
	mdb_txn_abort(txn);
	if (rc == 0 && ok)
		ok = EVP_DigestFinal_ex(md, out, &mdlen) == 1 && mdlen == CFS_DIGEST_LEN;
	EVP_MD_CTX_free(md);
	if (rc != 0)
		return store_mdb_fail(__func__, "cursor", rc);
	if (!ok) {
		log_warnx("%s: SHA-256 failed", __func__);
		return -EIO;
	}
	return 0;
}

/*
 * Snapshots: every record of every database, the log included (its last
 * entry names the history the state belongs to), as
 *   u8 db, u32 key length, u32 value length, key, value
 * (little-endian, like the wire), read from one LMDB read transaction that
 * stays open while the records stream, so the copy is of one sn however
 * long it takes and however much the node applies meanwhile.
 */
struct store_snap {
	struct store *s;
	MDB_txn *txn;
	MDB_cursor *cur;
	int db; /* the database being read; STORE_NDB once done */
	uint64_t sn;
};

/* Opens the read transaction a snapshot is taken from. */
int
store_snap_begin(struct store *s, struct store_snap **out)
{
	struct store_snap *sp = xcalloc(1, sizeof(*sp));
	MDB_val v;
	int rc;

	sp->s = s;
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &sp->txn);
	if (rc != 0) {
		free(sp);
		return store_mdb_fail(__func__, "mdb_txn_begin", rc);
	}
	rc = store_db_get(sp->txn, s->dbi[STORE_DB_META], "applied_sn", strlen("applied_sn"), &v);
	if (rc != 0 || v.mv_size != 8) {
		mdb_txn_abort(sp->txn);
		free(sp);
		return -EIO;
	}
	sp->sn = store_val64(v.mv_data);
	*out = sp;
	return 0;
}

uint64_t
store_snap_sn(const struct store_snap *sp)
{
	return sp->sn;
}

/* Appends records to out until it holds max bytes: 1 when every record is out, 0, or -errno. */
int
store_snap_next(struct store_snap *sp, struct cfs_wbuf *out, size_t max)
{
	MDB_val key, v;
	int rc;

	while (sp->db < STORE_NDB) {
		if (sp->cur == NULL) {
			rc = mdb_cursor_open(sp->txn, sp->s->dbi[sp->db], &sp->cur);
			if (rc != 0)
				return store_mdb_fail(__func__, "mdb_cursor_open", rc);
		}
		while (out->len < max) {
			rc = mdb_cursor_get(sp->cur, &key, &v, MDB_NEXT);
			if (rc == MDB_NOTFOUND)
				break;
			if (rc != 0)
				return store_mdb_fail(__func__, "mdb_cursor_get", rc);
			cfs_put_u8(out, (uint8_t)sp->db);
			cfs_put_u32(out, (uint32_t)key.mv_size);
			cfs_put_u32(out, (uint32_t)v.mv_size);
			cfs_put_bytes(out, key.mv_data, key.mv_size);
			cfs_put_bytes(out, v.mv_data, v.mv_size);
		}
		if (out->len >= max)
			return 0;
		mdb_cursor_close(sp->cur);
		sp->cur = NULL;
		sp->db++;
	}
	return 1;
}

void
store_snap_end(struct store_snap *sp)
{
	if (sp == NULL)
		return;
	if (sp->cur != NULL)
		mdb_cursor_close(sp->cur);
	mdb_txn_abort(sp->txn);
	free(sp);
}

/*
 * Empties every database, then marks the store as receiving a snapshot
 * (importing) or makes it a new store with its root: one transaction.
 */
static int
store_reset(struct store *s, int importing)
{
	MDB_txn *txn;
	int rc;

	if (s->batch != NULL)
		return -EBUSY;
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_txn_begin", rc);
	rc = store_drop_all(txn, s);
	if (rc == 0)
		rc = importing ? store_meta_put(txn, s, "importing", 1) : store_init(s, txn);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return rc < 0 ? rc : -EIO;
	}
	rc = mdb_txn_commit(txn);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_txn_commit", rc);
	s->applied_sn = 0;
	s->next_ino = STORE_ROOT_INO + 1;
	return 0;
}

/* Empties every database and marks the store as holding a snapshot being received. */
int
store_import_begin(struct store *s)
{
	return store_reset(s, 1);
}

/* Reads a little-endian u32 of the record format. */
static uint32_t
store_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Writes one chunk of records, in one transaction; -EPROTO for a malformed one. */
int
store_import_chunk(struct store *s, const uint8_t *p, size_t len)
{
	size_t off = 0, maxkey = (size_t)mdb_env_get_maxkeysize(s->env);
	MDB_txn *txn;
	int rc;

	if (s->batch != NULL)
		return -EBUSY;
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_txn_begin", rc);
	while (off < len) {
		uint8_t db;
		uint32_t klen, vlen;
		MDB_val k, v;

		if (len - off < 9) {
			rc = -EPROTO;
			break;
		}
		db = p[off];
		klen = store_le32(p + off + 1);
		vlen = store_le32(p + off + 5);
		off += 9;
		if (db >= STORE_NDB || klen == 0 || klen > maxkey || klen > len - off ||
		    vlen > len - off - klen) {
			rc = -EPROTO;
			break;
		}
		k.mv_data = (void *)(uintptr_t)(p + off);
		k.mv_size = klen;
		v.mv_data = (void *)(uintptr_t)(p + off + klen);
		v.mv_size = vlen;
		off += (size_t)klen + vlen;
		rc = mdb_put(txn, s->dbi[db], &k, &v, 0);
		if (rc != 0) {
			rc = rc == MDB_MAP_FULL ? -ENOSPC : store_mdb_fail(__func__, "mdb_put", rc);
			break;
		}
	}
	if (rc != 0) {
		mdb_txn_abort(txn);
		if (rc == -EPROTO)
			log_warnx("snapshot chunk malformed at byte %zu of %zu", off, len);
		return rc;
	}
	rc = mdb_txn_commit(txn);
	return rc == 0 ? 0 : store_mdb_fail(__func__, "mdb_txn_commit", rc);
}

/* The whole snapshot is in: the store is whole again, at the snapshot's sn. */
int
store_import_end(struct store *s)
{
	MDB_txn *txn;
	uint64_t sn, ino;
	int rc;

	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_txn_begin", rc);
	rc = store_db_del(txn, s->dbi[STORE_DB_META], "importing", strlen("importing"));
	if (rc == 0)
		rc = store_meta_get(txn, s, "applied_sn", 0, &sn);
	if (rc == 0)
		rc = store_meta_get(txn, s, "next_ino", STORE_ROOT_INO + 1, &ino);
	if (rc != 0) {
		mdb_txn_abort(txn);
		log_warnx("snapshot lacks its meta records");
		return -EPROTO;
	}
	rc = mdb_txn_commit(txn);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_txn_commit", rc);
	s->applied_sn = sn;
	s->next_ino = ino;
	return store_sync(s);
}

/* Gives up an import: every database emptied, then a new store's root and counters. */
int
store_import_abort(struct store *s)
{
	int rc = store_reset(s, 0);

	if (rc != 0)
		return rc;
	log_info("snapshot import given up: the store is empty, at sn 0");
	return store_sync(s);
}
