/*
 * The exactly-once table: the result of each client request by (client,
 * seq), and each client's floor (the highest acked_below it has sent), below
 * which its results are dropped.  store_apply writes both as it applies
 * entries; the head reads them to answer a retried request with its result.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "common/log.h"
#include "store/store.h"
#include "store/store_int.h"

/* Encodes a reply without data for the results table. */
void
store_result_enc(uint8_t out[STORE_RESULT_SIZE], const struct cfs_reply *r)
{
	uint8_t *p = out;

	p = store_put_be(p, (uint32_t)r->status, 4);
	p = store_put_be(p, r->flags, 4);
	p = store_attr_enc(p, &r->attr);
	p = store_put_be(p, r->value, 8);
	assert(p == out + STORE_RESULT_SIZE);
}

/* Decodes a stored result: 0, or -EIO for a bad record. */
int
store_result_dec(const MDB_val *v, struct cfs_reply *r)
{
	const uint8_t *p = v->mv_data;

	memset(r, 0, sizeof(*r));
	if (v->mv_size != STORE_RESULT_SIZE && v->mv_size != STORE_RESULT_SIZE1) {
		log_warnx("%s: result of %zu bytes", __func__, v->mv_size);
		return -EIO;
	}
	r->status = (int32_t)(uint32_t)store_get_be(&p, 4);
	r->flags = (uint32_t)store_get_be(&p, 4);
	p = store_attr_dec(p, &r->attr, v->mv_size == STORE_RESULT_SIZE);
	r->value = store_get_be(&p, 8);
	return 0;
}

/*
 * A floor record: the floor, then (since protocol 4) when the client was
 * last heard of, seconds of the head's clock.  A record of 8 bytes, from
 * before, has no time: it counts as heard of at 0.
 */
#define STORE_FLOOR_SIZE 16

/* Decodes a floor record. */
static void
store_floor_dec(const MDB_val *v, uint64_t *floor, int64_t *heard)
{
	*floor = v->mv_size >= 8 ? store_val64(v->mv_data) : 0;
	*heard = v->mv_size >= 16 ? (int64_t)store_val64((const uint8_t *)v->mv_data + 8) : 0;
}

/*
 * Drops a client's results below acked_below, raises its floor to it, and
 * notes that it was heard of at time now.
 */
int
store_results_trim(struct store_tx *tx, uint64_t client, uint64_t acked_below, int64_t now)
{
	MDB_dbi rdbi = tx->s->dbi[STORE_DB_RESULTS], fdbi = tx->s->dbi[STORE_DB_FLOORS];
	uint8_t k[16], fk[8], rec[STORE_FLOOR_SIZE];
	uint64_t floor = 0;
	int64_t heard = 0;
	MDB_val key, v;
	int rc;

	store_put_be(fk, client, 8);
	rc = store_db_get(tx->txn, fdbi, fk, sizeof(fk), &v);
	if (rc < 0)
		return rc;
	if (rc == 0)
		store_floor_dec(&v, &floor, &heard);
	if (acked_below <= floor) {
		if (rc == 0 && heard == now)
			return 0;
		acked_below = floor; /* only the time changes */
	}
	for (;;) {
		store_key2(k, client, 0);
		rc = store_db_seek(tx->txn, rdbi, k, sizeof(k), 8, &key, &v);
		if (rc == ENOENT)
			break;
		if (rc != 0)
			return rc;
		if (key.mv_size != 16 ||
		    store_val64((const uint8_t *)key.mv_data + 8) >= acked_below)
			break;
		memcpy(k, key.mv_data, sizeof(k));
		rc = store_db_del(tx->txn, rdbi, k, sizeof(k));
		if (rc != 0)
			return rc > 0 ? -EIO : rc;
	}
	store_put_be(rec, acked_below, 8);
	store_put_be(rec + 8, (uint64_t)now, 8);
	return store_db_put(tx->txn, fdbi, fk, sizeof(fk), rec, sizeof(rec));
}

/*
 * Drops the results and the floor of every client last heard of before
 * cutoff.  Runs in every replica for the same entry over the same state, so
 * they all drop the same (the digests cover both tables).
 */
int
store_sessions_expire(struct store_tx *tx, int64_t cutoff)
{
	MDB_dbi fdbi = tx->s->dbi[STORE_DB_FLOORS];
	uint8_t fk[8];
	uint64_t next = 0, client, floor;
	int64_t heard;
	MDB_val key, v;
	int rc;

	for (;;) {
		store_put_be(fk, next, 8);
		rc = store_db_seek(tx->txn, fdbi, fk, sizeof(fk), 0, &key, &v);
		if (rc == ENOENT)
			return 0;
		if (rc != 0)
			return rc > 0 ? -EIO : rc;
		if (key.mv_size != 8)
			return -EIO;
		client = store_val64(key.mv_data);
		store_floor_dec(&v, &floor, &heard);
		if (heard < cutoff) {
			rc = store_del_prefix(tx, tx->s->dbi[STORE_DB_RESULTS], client);
			if (rc == 0) {
				store_put_be(fk, client, 8);
				rc = store_db_del(tx->txn, fdbi, fk, sizeof(fk));
			}
			if (rc != 0)
				return rc > 0 ? -EIO : rc;
		}
		if (client == UINT64_MAX)
			return 0;
		next = client + 1;
	}
}

struct store_sessions_arg {
	uint64_t sessions, results;
	int64_t oldest; /* INT64_MAX when there is no session */
	int scan;
};

/* Counts the tables; with scan, finds the oldest "last heard of" too. */
static int
store_sessions_read(struct store_tx *tx, void *arg)
{
	struct store_sessions_arg *a = arg;
	MDB_stat st;
	MDB_cursor *cur;
	MDB_val key, v;
	uint64_t floor;
	int64_t heard;
	int rc;

	if ((rc = mdb_stat(tx->txn, tx->s->dbi[STORE_DB_FLOORS], &st)) != 0)
		return store_mdb_fail(__func__, "mdb_stat", rc);
	a->sessions = st.ms_entries;
	if ((rc = mdb_stat(tx->txn, tx->s->dbi[STORE_DB_RESULTS], &st)) != 0)
		return store_mdb_fail(__func__, "mdb_stat", rc);
	a->results = st.ms_entries;
	if (!a->scan)
		return 0;
	if ((rc = mdb_cursor_open(tx->txn, tx->s->dbi[STORE_DB_FLOORS], &cur)) != 0)
		return store_mdb_fail(__func__, "mdb_cursor_open", rc);
	while ((rc = mdb_cursor_get(cur, &key, &v, MDB_NEXT)) == 0) {
		store_floor_dec(&v, &floor, &heard);
		if (heard < a->oldest)
			a->oldest = heard;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : store_mdb_fail(__func__, "mdb_cursor_get", rc);
}

int
store_sessions(struct store *s, uint64_t *sessions, uint64_t *results, int64_t *oldest)
{
	struct store_sessions_arg a = {.oldest = INT64_MAX, .scan = oldest != NULL};
	int rc;

	rc = store_with_read(s, store_sessions_read, &a);
	*sessions = a.sessions;
	*results = a.results;
	if (oldest != NULL)
		*oldest = a.oldest;
	return rc < 0 ? EIO : 0;
}

struct store_floor_arg {
	uint64_t client;
	uint64_t floor;
};

/* Reads one client's floor. */
static int
store_floor_get(struct store_tx *tx, void *arg)
{
	struct store_floor_arg *a = arg;
	uint8_t k[8];
	MDB_val v;
	int rc;

	store_put_be(k, a->client, 8);
	rc = store_db_get(tx->txn, tx->s->dbi[STORE_DB_FLOORS], k, sizeof(k), &v);
	if (rc == 0) {
		int64_t heard;

		store_floor_dec(&v, &a->floor, &heard);
	}
	return rc;
}

/* The highest acked_below client_id has sent (0 when unknown): 0, or EIO. */
int
store_client_floor(struct store *s, uint64_t client_id, uint64_t *floor)
{
	struct store_floor_arg a = {client_id, 0};
	int rc;

	rc = store_with_read(s, store_floor_get, &a);
	*floor = a.floor;
	return rc < 0 ? EIO : 0;
}

struct store_result_arg {
	uint64_t client;
	uint64_t seq;
	struct cfs_reply *res;
};

/* Reads one stored result. */
static int
store_result_get(struct store_tx *tx, void *arg)
{
	struct store_result_arg *a = arg;
	uint8_t k[16];
	MDB_val v;
	int rc;

	store_key2(k, a->client, a->seq);
	rc = store_db_get(tx->txn, tx->s->dbi[STORE_DB_RESULTS], k, sizeof(k), &v);
	if (rc == 0)
		rc = store_result_dec(&v, a->res);
	return rc;
}

/* The stored result of (client_id, seq): 0, ENOENT, or EIO when the store failed. */
int
store_result(struct store *s, uint64_t client_id, uint64_t seq, struct cfs_reply *res)
{
	struct store_result_arg a = {client_id, seq, res};
	int rc;

	memset(res, 0, sizeof(*res));
	rc = store_with_read(s, store_result_get, &a);
	return rc < 0 ? EIO : rc;
}
