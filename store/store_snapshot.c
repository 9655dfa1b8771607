/*
 * Walks over the whole replicated state: for now its digest, which replicas
 * compare to show that they agree.  Snapshot export and import go here next.
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
