/*
 * The log of sent entries: the encoded body of each applied entry by sn,
 * written by store_apply (STORE_LOG) in the entry's own transaction, walked
 * to send entries to the successor, and trimmed once the tail has acked them.
 */
#include "config.h"

#include <errno.h>

#include <lmdb.h>

#include "common/log.h"
#include "store/store.h"
#include "store/store_int.h"

/* Calls fn on each logged entry after sn `after`; see store.h. */
int
store_log_foreach(struct store *s, uint64_t after,
                  int (*fn)(uint64_t sn, const void *buf, size_t len, void *arg), void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val key, v;
	uint8_t k[8];
	int rc;

	if (after == UINT64_MAX)
		return 0;
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_txn_begin", rc);
	rc = mdb_cursor_open(txn, s->dbi[STORE_DB_LOG], &cur);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return store_mdb_fail(__func__, "mdb_cursor_open", rc);
	}
	store_put_be(k, after + 1, 8);
	key.mv_size = sizeof(k);
	key.mv_data = k;
	rc = mdb_cursor_get(cur, &key, &v, MDB_SET_RANGE);
	while (rc == 0) {
		if (key.mv_size != 8) {
			rc = -EIO;
			break;
		}
		if (fn(store_val64(key.mv_data), v.mv_data, v.mv_size, arg) != 0)
			break;
		rc = mdb_cursor_get(cur, &key, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (rc == -EIO) {
		log_warnx("%s: bad log key", __func__);
		return rc;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_mdb_fail(__func__, "mdb_cursor_get", rc);
	return 0;
}

/* Deletes logged entries with sn <= upto. */
int
store_log_trim(struct store *s, uint64_t upto)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val key, v;
	int rc;

	if (s->batch != NULL)
		return -EBUSY; /* one write transaction at a time: commit the batch first */
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_txn_begin", rc);
	rc = mdb_cursor_open(txn, s->dbi[STORE_DB_LOG], &cur);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return store_mdb_fail(__func__, "mdb_cursor_open", rc);
	}
	while ((rc = mdb_cursor_get(cur, &key, &v, MDB_FIRST)) == 0) {
		if (key.mv_size == 8 && store_val64(key.mv_data) > upto)
			break;
		rc = mdb_cursor_del(cur, 0);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return store_mdb_fail(__func__, "cursor", rc);
	}
	rc = mdb_txn_commit(txn);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_txn_commit", rc);
	return 0;
}
