/*
 * The exactly-once table: the result of each client request by (client,
 * seq), and each client's floor (the highest acked_below it has sent), below
 * which its results are dropped.  store_apply writes both as it applies
 * entries; the head reads them to answer a retried request with its result.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
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
	if (v->mv_size != STORE_RESULT_SIZE) {
		log_warnx("%s: result of %zu bytes", __func__, v->mv_size);
		return -EIO;
	}
	r->status = (int32_t)(uint32_t)store_get_be(&p, 4);
	r->flags = (uint32_t)store_get_be(&p, 4);
	p = store_attr_dec(p, &r->attr);
	r->value = store_get_be(&p, 8);
	return 0;
}

/* Drops a client's results below acked_below and raises its floor to it. */
int
store_results_trim(struct store_tx *tx, uint64_t client, uint64_t acked_below)
{
	MDB_dbi rdbi = tx->s->dbi[STORE_DB_RESULTS], fdbi = tx->s->dbi[STORE_DB_FLOORS];
	uint8_t k[16], fk[8];
	uint64_t floor = 0;
	MDB_val key, v;
	int rc;

	store_put_be(fk, client, 8);
	rc = store_db_get(tx->txn, fdbi, fk, sizeof(fk), &v);
	if (rc < 0)
		return rc;
	if (rc == 0 && v.mv_size == 8)
		floor = store_val64(v.mv_data);
	if (acked_below <= floor)
		return 0;
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
	store_put_be(k, acked_below, 8);
	return store_db_put(tx->txn, fdbi, fk, sizeof(fk), k, 8);
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
	if (rc == 0 && v.mv_size == 8)
		a->floor = store_val64(v.mv_data);
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
