/*
 * Unit tests for the etcd client's codec: base64, prefix ranges, request
 * bodies, and the parsers over answers captured from a real etcd 3.4.23
 * (Debian 12) with curl, as its JSON gateway sends them.  No network.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <jansson.h>

#include "replication/etcd.h"
#include "replication/etcd_json.h"

/* Parses body as kind, expecting success. */
static void
parse_ok(int kind, const char *body, struct etcd_result *r)
{
	int rc = etcd_parse_reply(kind, body, strlen(body), r);

	if (rc != 0)
		print_error("parse failed: %s\n", r->message ? r->message : "(no message)");
	assert_int_equal(rc, 0);
	assert_int_equal(r->err, ETCD_OK);
	assert_null(r->message);
}

/* Parses body as kind, expecting failure of class err; returns the message. */
static void
parse_fails(int kind, const char *body, int err)
{
	struct etcd_result r;

	assert_int_equal(etcd_parse_reply(kind, body, strlen(body), &r), -1);
	assert_int_equal(r.err, err);
	assert_non_null(r.message);
	assert_true(strlen(r.message) > 0);
	assert_int_equal(r.nkvs, 0);
	assert_null(r.kvs);
	etcd_result_clear(&r);
}

/* Asserts a kv holds exactly these bytes. */
static void
assert_kv(const struct etcd_kv *kv, const void *key, size_t keylen, const void *val,
	  size_t vallen)
{
	assert_int_equal(kv->keylen, keylen);
	assert_memory_equal(kv->key, key, keylen);
	assert_int_equal(kv->key[keylen], '\0');
	assert_int_equal(kv->valuelen, vallen);
	assert_non_null(kv->value);
	if (vallen > 0)
		assert_memory_equal(kv->value, val, vallen);
	assert_int_equal(kv->value[vallen], '\0');
}

/* Encodes then decodes n bytes, checking the text against want when given. */
static void
b64_roundtrip(const void *in, size_t n, const char *want)
{
	char *enc = malloc((n + 2) / 3 * 4 + 1);
	uint8_t *dec = NULL;
	size_t declen = 12345;

	assert_non_null(enc);
	etcd_b64_encode(in, n, enc);
	assert_int_equal(strlen(enc), (n + 2) / 3 * 4);
	if (want != NULL)
		assert_string_equal(enc, want);
	assert_int_equal(etcd_b64_decode(enc, &dec, &declen), 0);
	assert_int_equal(declen, n);
	if (n > 0)
		assert_memory_equal(dec, in, n);
	assert_int_equal(dec[n], '\0');
	free(dec);
	free(enc);
}

/* The RFC 4648 vectors, every padding case, the empty string. */
static void
test_b64_vectors(void **state)
{
	b64_roundtrip("", 0, "");
	b64_roundtrip("f", 1, "Zg==");
	b64_roundtrip("fo", 2, "Zm8=");
	b64_roundtrip("foo", 3, "Zm9v");
	b64_roundtrip("foob", 4, "Zm9vYg==");
	b64_roundtrip("fooba", 5, "Zm9vYmE=");
	b64_roundtrip("foobar", 6, "Zm9vYmFy");
	/* What etcd stored for a binary key and value (see test_parse_range_binary). */
	b64_roundtrip("k\xff\0x", 4, "a/8AeA==");
	b64_roundtrip("\0\1\xffv", 4, "AAH/dg==");
}

/* Every byte value, and more than one slice of EVP_EncodeBlock's int length. */
static void
test_b64_binary(void **state)
{
	size_t big = (3u << 20) * 2 + 7, i;
	uint8_t all[256], *p = malloc(big);

	for (i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	for (i = 0; i <= 256; i++)
		b64_roundtrip(all, i, NULL);
	assert_non_null(p);
	for (i = 0; i < big; i++)
		p[i] = (uint8_t)(i * 131 + (i >> 9));
	b64_roundtrip(p, big, NULL);
	free(p);
}

/* Input that is not canonical base64 is refused, not half-decoded. */
static void
test_b64_rejects(void **state)
{
	static const char *bad[] = {"Zg=",  "Zg",	"Z===", "Zg=A", "=Zg=", "Zm9v\n",
				    "Zm 9", "@@@@", "Zm9v====", "Zm9-", "Zm9_", "====",
				    "A"};
	uint8_t *out = NULL;
	size_t len = 0, i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (etcd_b64_decode(bad[i], &out, &len) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_null(out);
	}
}

/* The end of a prefix range, 0xff bytes included. */
static void
test_prefix_end(void **state)
{
	uint8_t out[16];

	assert_int_equal(etcd_prefix_end("foo", 3, out), 3);
	assert_memory_equal(out, "fop", 3);
	assert_int_equal(etcd_prefix_end("a\xfe", 2, out), 2);
	assert_memory_equal(out, "a\xff", 2);
	assert_int_equal(etcd_prefix_end("a\xff", 2, out), 1);
	assert_memory_equal(out, "b", 1);
	assert_int_equal(etcd_prefix_end("ab\xff\xff", 4, out), 2);
	assert_memory_equal(out, "ac", 2);
	assert_int_equal(etcd_prefix_end("\x01\0", 2, out), 2);
	assert_memory_equal(out, "\x01\x01", 2);
	/* Nothing to increment: "\0", which etcd reads as "to the end". */
	assert_int_equal(etcd_prefix_end("\xff\xff", 2, out), 1);
	assert_int_equal(out[0], 0);
	assert_int_equal(etcd_prefix_end("", 0, out), 1);
	assert_int_equal(out[0], 0);
}

/* A put: the header's revision. */
static void
test_parse_put(void **state)
{
	struct etcd_result r;

	parse_ok(ETCD_K_PUT,
		 "{\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":"
		 "\"3319814642761637952\",\"revision\":\"3\",\"raft_term\":\"2\"}}",
		 &r);
	assert_int_equal(r.revision, 3);
	assert_int_equal(r.nkvs, 0);
	assert_null(r.kvs);
	assert_int_equal(r.succeeded, 0);
	etcd_result_clear(&r);
}

/* A prefix range: two kvs, the second with an empty value (left out). */
static void
test_parse_range(void **state)
{
	struct etcd_result r;

	parse_ok(ETCD_K_RANGE,
		 "{\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":"
		 "\"3319814642761637952\",\"revision\":\"5\",\"raft_term\":\"2\"},\"kvs\":[{\"key"
		 "\":"
		 "\"Zm9v\",\"create_revision\":\"2\",\"mod_revision\":\"3\",\"version\":\"2\","
		 "\"value\":\"YmFyMg==\"},{\"key\":\"Zm9vL2VtcHR5\",\"create_revision\":\"4\","
		 "\"mod_revision\":\"4\",\"version\":\"1\"}],\"count\":\"2\"}",
		 &r);
	assert_int_equal(r.revision, 5);
	assert_int_equal(r.nkvs, 2);
	assert_kv(&r.kvs[0], "foo", 3, "bar2", 4);
	assert_int_equal(r.kvs[0].create_revision, 2);
	assert_int_equal(r.kvs[0].mod_revision, 3);
	assert_int_equal(r.kvs[0].version, 2);
	assert_int_equal(r.kvs[0].lease, 0);
	assert_kv(&r.kvs[1], "foo/empty", 9, "", 0);
	assert_int_equal(r.kvs[1].create_revision, 4);
	assert_int_equal(r.kvs[1].mod_revision, 4);
	assert_int_equal(r.kvs[1].version, 1);
	etcd_result_clear(&r);
	assert_null(r.kvs);
	assert_int_equal(r.nkvs, 0);
}

/* A binary key and value, and a key attached to a lease. */
static void
test_parse_range_binary(void **state)
{
	struct etcd_result r;

	parse_ok(ETCD_K_RANGE,
		 "{\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":"
		 "\"3319814642761637952\",\"revision\":\"5\",\"raft_term\":\"2\"},\"kvs\":[{\"key"
		 "\":"
		 "\"a/8AeA==\",\"create_revision\":\"5\",\"mod_revision\":\"5\",\"version\":\"1\","
		 "\"value\":\"AAH/dg==\"}],\"count\":\"1\"}",
		 &r);
	assert_int_equal(r.nkvs, 1);
	assert_kv(&r.kvs[0], "k\xff\0x", 4, "\0\1\xffv", 4);
	etcd_result_clear(&r);

	parse_ok(ETCD_K_RANGE,
		 "{\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":"
		 "\"3319814642761637952\",\"revision\":\"10\",\"raft_term\":\"2\"},\"kvs\":[{\"key"
		 "\":"
		 "\"bGVhc2Vk\",\"create_revision\":\"10\",\"mod_revision\":\"10\",\"version\":\"1"
		 "\","
		 "\"value\":\"eA==\",\"lease\":\"2324035818479939861\"}],\"count\":\"1\"}",
		 &r);
	assert_int_equal(r.revision, 10);
	assert_int_equal(r.nkvs, 1);
	assert_kv(&r.kvs[0], "leased", 6, "x", 1);
	assert_true(r.kvs[0].lease == INT64_C(2324035818479939861));
	etcd_result_clear(&r);
}

/* An empty range has neither kvs nor count. */
static void
test_parse_range_empty(void **state)
{
	struct etcd_result r;

	parse_ok(ETCD_K_RANGE,
		 "{\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":"
		 "\"3319814642761637952\",\"revision\":\"5\",\"raft_term\":\"2\"}}",
		 &r);
	assert_int_equal(r.revision, 5);
	assert_int_equal(r.nkvs, 0);
	assert_null(r.kvs);
	etcd_result_clear(&r);
}

/* Compare-and-swap that held: "succeeded":true, no kvs. */
static void
test_parse_txn_succeeded(void **state)
{
	struct etcd_result r;

	parse_ok(ETCD_K_TXN,
		 "{\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":"
		 "\"3319814642761637952\",\"revision\":\"6\",\"raft_term\":\"2\"},\"succeeded\":tr"
		 "ue,"
		 "\"responses\":[{\"response_put\":{\"header\":{\"revision\":\"6\"}}}]}",
		 &r);
	assert_int_equal(r.succeeded, 1);
	assert_int_equal(r.revision, 6);
	assert_int_equal(r.nkvs, 0);
	etcd_result_clear(&r);

	/* A compare-and-delete that held. */
	parse_ok(ETCD_K_TXN,
		 "{\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":"
		 "\"3319814642761637952\",\"revision\":\"8\",\"raft_term\":\"2\"},\"succeeded\":tr"
		 "ue,"
		 "\"responses\":[{\"response_delete_range\":{\"header\":{\"revision\":\"8\"},"
		 "\"deleted\":\"1\"}}]}",
		 &r);
	assert_int_equal(r.succeeded, 1);
	assert_int_equal(r.revision, 8);
	assert_int_equal(r.nkvs, 0);
	etcd_result_clear(&r);
}

/* A stale compare: no "succeeded", the failure branch's range holds the current value. */
static void
test_parse_txn_failed(void **state)
{
	struct etcd_result r;

	parse_ok(ETCD_K_TXN,
		 "{\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":"
		 "\"3319814642761637952\",\"revision\":\"6\",\"raft_term\":\"2\"},\"responses\":[{"
		 "\"response_range\":{\"header\":{\"revision\":\"6\"},\"kvs\":[{\"key\":\"Zm9v\","
		 "\"create_revision\":\"2\",\"mod_revision\":\"6\",\"version\":\"3\",\"value\":"
		 "\"YmFyMw==\"}],\"count\":\"1\"}}]}",
		 &r);
	assert_int_equal(r.succeeded, 0);
	assert_int_equal(r.revision, 6);
	assert_int_equal(r.nkvs, 1);
	assert_kv(&r.kvs[0], "foo", 3, "bar3", 4);
	assert_int_equal(r.kvs[0].mod_revision, 6);
	assert_int_equal(r.kvs[0].version, 3);
	etcd_result_clear(&r);

	/* Create-if-absent on a key that exists. */
	parse_ok(ETCD_K_TXN,
		 "{\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":"
		 "\"3319814642761637952\",\"revision\":\"7\",\"raft_term\":\"2\"},\"responses\":[{"
		 "\"response_range\":{\"header\":{\"revision\":\"7\"},\"kvs\":[{\"key\":\"bmV3MQ=="
		 "\","
		 "\"create_revision\":\"7\",\"mod_revision\":\"7\",\"version\":\"1\",\"value\":"
		 "\"djE=\"}],\"count\":\"1\"}}]}",
		 &r);
	assert_int_equal(r.succeeded, 0);
	assert_int_equal(r.nkvs, 1);
	assert_kv(&r.kvs[0], "new1", 4, "v1", 2);
	assert_int_equal(r.kvs[0].create_revision, 7);
	etcd_result_clear(&r);

	/* A compare on a key that is absent: the failure range is empty. */
	parse_ok(ETCD_K_TXN,
		 "{\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":"
		 "\"3319814642761637952\",\"revision\":\"7\",\"raft_term\":\"2\"},\"responses\":[{"
		 "\"response_range\":{\"header\":{\"revision\":\"7\"}}}]}",
		 &r);
	assert_int_equal(r.succeeded, 0);
	assert_int_equal(r.revision, 7);
	assert_int_equal(r.nkvs, 0);
	etcd_result_clear(&r);
}

/* A delete: "deleted" says whether the key was there. */
static void
test_parse_delete(void **state)
{
	struct etcd_result r;

	parse_ok(ETCD_K_DELETE,
		 "{\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":"
		 "\"3319814642761637952\",\"revision\":\"9\",\"raft_term\":\"2\"},\"deleted\":\"1"
		 "\"}",
		 &r);
	assert_int_equal(r.succeeded, 1);
	assert_int_equal(r.revision, 9);
	etcd_result_clear(&r);
	parse_ok(ETCD_K_DELETE,
		 "{\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":"
		 "\"3319814642761637952\",\"revision\":\"9\",\"raft_term\":\"2\"}}",
		 &r);
	assert_int_equal(r.succeeded, 0);
	assert_int_equal(r.revision, 9);
	etcd_result_clear(&r);
}

/* Lease grant (TTL 1 asked, 2 granted), keepalive, keepalive of an expired lease, revoke. */
static void
test_parse_lease(void **state)
{
	struct etcd_result r;

	parse_ok(ETCD_K_GRANT,
		 "{\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":"
		 "\"3319814642761637952\",\"revision\":\"9\",\"raft_term\":\"2\"},\"ID\":"
		 "\"2324035818479939863\",\"TTL\":\"2\"}",
		 &r);
	assert_true(r.lease_id == INT64_C(2324035818479939863));
	assert_int_equal(r.ttl, 2);
	assert_int_equal(r.revision, 9);
	etcd_result_clear(&r);

	/* keepalive answers as a one-message stream. */
	parse_ok(ETCD_K_KEEPALIVE,
		 "{\"result\":{\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":"
		 "\"3319814642761637952\",\"revision\":\"9\",\"raft_term\":\"2\"},\"ID\":"
		 "\"2324035818479939861\",\"TTL\":\"3\"}}\n",
		 &r);
	assert_true(r.lease_id == INT64_C(2324035818479939861));
	assert_int_equal(r.ttl, 3);
	assert_int_equal(r.revision, 9);
	etcd_result_clear(&r);

	/* Expired: no TTL at all. */
	parse_ok(ETCD_K_KEEPALIVE,
		 "{\"result\":{\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":"
		 "\"3319814642761637952\",\"revision\":\"11\",\"raft_term\":\"2\"},\"ID\":"
		 "\"2324035818479939861\"}}\n",
		 &r);
	assert_true(r.lease_id == INT64_C(2324035818479939861));
	assert_int_equal(r.ttl, 0);
	assert_int_equal(r.revision, 11);
	etcd_result_clear(&r);

	parse_ok(ETCD_K_REVOKE,
		 "{\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":"
		 "\"3319814642761637952\",\"revision\":\"11\",\"raft_term\":\"2\"}}",
		 &r);
	assert_int_equal(r.revision, 11);
	etcd_result_clear(&r);

	/* A grant without an ID cannot be used. */
	parse_fails(ETCD_K_GRANT, "{\"header\":{\"revision\":\"9\"},\"TTL\":\"2\"}",
		    ETCD_BAD_REPLY);
}

/* Numbers as JSON integers are taken as well as strings. */
static void
test_parse_numbers(void **state)
{
	struct etcd_result r;

	parse_ok(ETCD_K_GRANT, "{\"header\":{\"revision\":7},\"ID\":42,\"TTL\":3}", &r);
	assert_int_equal(r.revision, 7);
	assert_int_equal(r.lease_id, 42);
	assert_int_equal(r.ttl, 3);
	etcd_result_clear(&r);
	parse_ok(ETCD_K_GRANT,
		 "{\"header\":{\"revision\":\"9223372036854775807\"},\"ID\":\"-5\",\"TTL\":\"0\"}",
		 &r);
	assert_true(r.revision == INT64_MAX);
	assert_true(r.lease_id == -5);
	etcd_result_clear(&r);
}

/* Parses an error answer, expecting etcd's code and message. */
static void
parse_error(int kind, const char *body, int code, const char *message)
{
	struct etcd_result r;

	assert_int_equal(etcd_parse_reply(kind, body, strlen(body), &r), -1);
	assert_int_equal(r.err, ETCD_ERROR);
	assert_int_equal(r.code, code);
	assert_string_equal(r.message, message);
	assert_int_equal(r.nkvs, 0);
	etcd_result_clear(&r);
}

/* etcd's errors: code and message, whatever the HTTP status was. */
static void
test_parse_errors(void **state)
{
	struct etcd_result r;

	/* A put on an expired lease (HTTP 404). */
	parse_error(ETCD_K_PUT,
		    "{\"error\":\"etcdserver: requested lease not found\",\"message\":"
		    "\"etcdserver: requested lease not found\",\"code\":5}",
		    5, "etcdserver: requested lease not found");
	/* A range at a compacted revision (HTTP 400). */
	parse_error(ETCD_K_RANGE,
		    "{\"error\":\"etcdserver: mvcc: required revision has been compacted\","
		    "\"message\":\"etcdserver: mvcc: required revision has been compacted\","
		    "\"code\":11}",
		    11, "etcdserver: mvcc: required revision has been compacted");
	/* A body etcd could not read (HTTP 400). */
	parse_error(ETCD_K_RANGE,
		    "{\"error\":\"unexpected EOF\",\"message\":\"unexpected EOF\",\"code\":3}", 3,
		    "unexpected EOF");
	/* Newer gateways (etcd 3.5) leave "error" out. */
	parse_error(ETCD_K_PUT,
		    "{\"code\":14,\"message\":\"etcdserver: no leader\",\"details\":[]}", 14,
		    "etcdserver: no leader");
	/* A keepalive's error comes in stream form. */
	parse_error(ETCD_K_KEEPALIVE,
		    "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":"
		    "\"etcdserver: no leader\",\"http_status\":\"Service Unavailable\"}}",
		    14, "etcdserver: no leader");
	/* Only "error": the message is taken from it, the code is "unknown". */
	parse_error(ETCD_K_PUT, "{\"error\":\"boom\"}", 2, "boom");
	/* A grant's empty "error" field is no error. */
	parse_ok(ETCD_K_GRANT, "{\"ID\":\"7\",\"TTL\":\"5\",\"error\":\"\"}", &r);
	assert_int_equal(r.lease_id, 7);
	assert_int_equal(r.ttl, 5);
	etcd_result_clear(&r);
}

/* What the gateway never sends is ETCD_BAD_REPLY, with nothing half-filled. */
static void
test_parse_malformed(void **state)
{
	static const char *bad[] = {
		"",
		"{\"header\":",
		"Not Found\n",
		"[]",
		"\"header\"",
		"{\"header\":[]}",
		"{\"header\":{\"revision\":true}}",
		"{\"header\":{\"revision\":\"3x\"}}",
		"{\"header\":{\"revision\":\" 3\"}}",
		"{\"header\":{\"revision\":\"+3\"}}",
		"{\"header\":{\"revision\":\"\"}}",
		"{\"header\":{\"revision\":3.5}}",
		"{\"header\":{\"revision\":\"99999999999999999999\"}}",
		"{\"header\":{\"revision\":\"5\"},\"error\":7}",
		"{\"error\":\"x\",\"code\":\"five\"}",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct etcd_result r;

		if (etcd_parse_reply(ETCD_K_PUT, bad[i], strlen(bad[i]), &r) != -1)
			fail_msg("accepted %s", bad[i]);
		assert_int_equal(r.err, ETCD_BAD_REPLY);
		assert_non_null(r.message);
		etcd_result_clear(&r);
	}
	parse_fails(ETCD_K_RANGE, "{\"kvs\":{}}", ETCD_BAD_REPLY);
	parse_fails(ETCD_K_RANGE, "{\"kvs\":[5]}", ETCD_BAD_REPLY);
	parse_fails(ETCD_K_RANGE, "{\"kvs\":[{\"key\":5}]}", ETCD_BAD_REPLY);
	parse_fails(ETCD_K_RANGE, "{\"kvs\":[{\"key\":\"!!!!\"}]}", ETCD_BAD_REPLY);
	parse_fails(ETCD_K_RANGE, "{\"kvs\":[{\"key\":\"Zm9v\",\"value\":\"Zm9\"}]}",
		    ETCD_BAD_REPLY);
	/* The second kv is bad: the first one is not leaked or left behind. */
	parse_fails(ETCD_K_RANGE,
		    "{\"kvs\":[{\"key\":\"Zm9v\",\"value\":\"YmFy\"},{\"key\":\"Zm9v\","
		    "\"mod_revision\":{}}]}",
		    ETCD_BAD_REPLY);
	parse_fails(ETCD_K_TXN, "{\"succeeded\":\"true\"}", ETCD_BAD_REPLY);
	parse_fails(ETCD_K_TXN, "{\"responses\":{}}", ETCD_BAD_REPLY);
	parse_fails(ETCD_K_TXN, "{\"responses\":[{\"response_range\":[]}]}", ETCD_BAD_REPLY);
	parse_fails(ETCD_K_DELETE, "{\"deleted\":true}", ETCD_BAD_REPLY);
	parse_fails(ETCD_K_KEEPALIVE, "{\"result\":7}", ETCD_BAD_REPLY);
	parse_fails(ETCD_K_KEEPALIVE, "{\"result\":{\"TTL\":\"3.0\"}}", ETCD_BAD_REPLY);
	parse_fails(ETCD_K_GRANT, "{\"ID\":\"1\",\"TTL\":[3]}", ETCD_BAD_REPLY);
	parse_fails(99, "{}", ETCD_BAD_REPLY);
	/* A NUL inside the key's string is not base64. */
	{
		static const char nul[] = "{\"kvs\":[{\"key\":\"Zm\\u00009v\"}]}";

		parse_fails(ETCD_K_RANGE, nul, ETCD_BAD_REPLY);
	}
}

/* The first line of a watch, then history with a PUT (no "type") and a DELETE. */
static void
test_parse_watch(void **state)
{
	static const char created[] =
		"{\"result\":{\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":"
		"\"3319814642761637952\",\"revision\":\"11\",\"raft_term\":\"2\"},\"created\":true"
		"}}";
	static const char events[] =
		"{\"result\":{\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":"
		"\"3319814642761637952\",\"revision\":\"11\",\"raft_term\":\"2\"},\"events\":[{\"k"
		"v\":"
		"{\"key\":\"Zm9v\",\"create_revision\":\"2\",\"mod_revision\":\"2\",\"version\":\""
		"1\","
		"\"value\":\"YmFy\"}},{\"kv\":{\"key\":\"Zm9v\",\"create_revision\":\"2\","
		"\"mod_revision\":\"3\",\"version\":\"2\",\"value\":\"YmFyMg==\"}},{\"kv\":{\"key"
		"\":"
		"\"Zm9vL2VtcHR5\",\"create_revision\":\"4\",\"mod_revision\":\"4\",\"version\":\"1"
		"\"}},"
		"{\"kv\":{\"key\":\"Zm9v\",\"create_revision\":\"2\",\"mod_revision\":\"6\","
		"\"version\":\"3\",\"value\":\"YmFyMw==\"}},{\"type\":\"DELETE\",\"kv\":{\"key\":"
		"\"Zm9vL2VtcHR5\",\"mod_revision\":\"9\"}}]}}";
	struct etcd_watch_msg m;

	assert_int_equal(etcd_parse_watch(created, strlen(created), &m), 0);
	assert_int_equal(m.created, 1);
	assert_int_equal(m.canceled, 0);
	assert_int_equal(m.revision, 11);
	assert_int_equal(m.nevents, 0);
	assert_null(m.reason);
	etcd_watch_msg_clear(&m);

	assert_int_equal(etcd_parse_watch(events, strlen(events), &m), 0);
	assert_int_equal(m.created, 0);
	assert_int_equal(m.nevents, 5);
	assert_int_equal(m.events[0].type, ETCD_EV_PUT);
	assert_kv(&m.events[0].kv, "foo", 3, "bar", 3);
	assert_int_equal(m.events[0].kv.mod_revision, 2);
	assert_int_equal(m.events[1].type, ETCD_EV_PUT);
	assert_kv(&m.events[1].kv, "foo", 3, "bar2", 4);
	assert_int_equal(m.events[1].kv.mod_revision, 3);
	assert_int_equal(m.events[2].type, ETCD_EV_PUT);
	assert_kv(&m.events[2].kv, "foo/empty", 9, "", 0);
	assert_int_equal(m.events[3].kv.mod_revision, 6);
	assert_int_equal(m.events[4].type, ETCD_EV_DELETE);
	assert_kv(&m.events[4].kv, "foo/empty", 9, "", 0);
	assert_int_equal(m.events[4].kv.mod_revision, 9);
	assert_int_equal(m.events[4].kv.create_revision, 0);
	etcd_watch_msg_clear(&m);
	assert_null(m.events);
}

/* A watch from a compacted revision: canceled, with the compaction's revision. */
static void
test_parse_watch_compacted(void **state)
{
	static const char line[] =
		"{\"result\":{\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":"
		"\"3319814642761637952\",\"raft_term\":\"2\"},\"canceled\":true,"
		"\"compact_revision\":\"6\"}}";
	static const char reason[] =
		"{\"result\":{\"canceled\":true,\"cancel_reason\":\"etcdserver: no leader\"}}";
	struct etcd_watch_msg m;

	assert_int_equal(etcd_parse_watch(line, strlen(line), &m), 0);
	assert_int_equal(m.canceled, 1);
	assert_int_equal(m.compact_revision, 6);
	assert_int_equal(m.revision, 0);
	assert_int_equal(m.nevents, 0);
	etcd_watch_msg_clear(&m);

	assert_int_equal(etcd_parse_watch(reason, strlen(reason), &m), 0);
	assert_int_equal(m.canceled, 1);
	assert_int_equal(m.compact_revision, 0);
	assert_string_equal(m.reason, "etcdserver: no leader");
	etcd_watch_msg_clear(&m);
}

/* Lines a watch cannot use: errors, garbage, wrong types. */
static void
test_parse_watch_bad(void **state)
{
	static const char *bad[] = {
		"{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"etcdserver: no "
		"leader\",\"http_status\":\"Service Unavailable\"}}",
		"{\"result\":",
		"[1]",
		"{}",
		"{\"result\":[]}",
		"{\"result\":{\"created\":\"true\"}}",
		"{\"result\":{\"events\":{}}}",
		"{\"result\":{\"events\":[{\"type\":\"BOGUS\",\"kv\":{\"key\":\"Zm9v\"}}]}}",
		"{\"result\":{\"events\":[{\"type\":\"PUT\"}]}}",
		"{\"result\":{\"events\":[{\"kv\":{\"key\":\"Zm9v\"}},{\"kv\":{\"key\":\"%%%%\"}}]"
		"}}",
		"{\"result\":{\"compact_revision\":\"x\"}}",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct etcd_watch_msg m;

		if (etcd_parse_watch(bad[i], strlen(bad[i]), &m) != -1)
			fail_msg("accepted %s", bad[i]);
		assert_non_null(m.reason);
		assert_int_equal(m.nevents, 0);
		assert_null(m.events);
		if (i == 0)
			assert_string_equal(m.reason, "etcdserver: no leader");
		etcd_watch_msg_clear(&m);
	}
}

/* Parses a request body; the caller decrefs. */
static json_t *
body_json(char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, 0, &err);

	assert_non_null(j);
	free(text);
	return j;
}

/* Asserts obj.name is this string. */
static void
assert_field(const json_t *obj, const char *name, const char *want)
{
	const json_t *j = json_object_get(obj, name);

	assert_non_null(j);
	assert_true(json_is_string(j));
	assert_string_equal(json_string_value(j), want);
}

/* Request bodies: the shapes ETCD.md gives, checked against etcd by etcd-client.sh. */
static void
test_request_bodies(void **state)
{
	json_t *j, *c, *o;

	j = body_json(etcd_json_put("foo", 3, "\0\1\xffv", 4, 123));
	assert_field(j, "key", "Zm9v");
	assert_field(j, "value", "AAH/dg==");
	assert_field(j, "lease", "123");
	json_decref(j);
	j = body_json(etcd_json_put("foo", 3, "", 0, 0));
	assert_field(j, "value", "");
	assert_null(json_object_get(j, "lease"));
	json_decref(j);

	j = body_json(etcd_json_range("foo", 3, 1));
	assert_field(j, "key", "Zm9v");
	assert_field(j, "range_end", "Zm9w");
	json_decref(j);
	j = body_json(etcd_json_range("", 0, 1));
	assert_field(j, "key", "AA==");
	assert_field(j, "range_end", "AA==");
	json_decref(j);
	j = body_json(etcd_json_range("foo", 3, 0));
	assert_null(json_object_get(j, "range_end"));
	json_decref(j);

	/* Create-if-absent. */
	j = body_json(etcd_json_cas("k", 1, 0, "v", 1, 0));
	c = json_array_get(json_object_get(j, "compare"), 0);
	assert_field(c, "target", "CREATE");
	assert_field(c, "result", "EQUAL");
	assert_field(c, "key", "aw==");
	assert_field(c, "create_revision", "0");
	o = json_object_get(json_array_get(json_object_get(j, "success"), 0), "request_put");
	assert_field(o, "key", "aw==");
	assert_field(o, "value", "dg==");
	o = json_object_get(json_array_get(json_object_get(j, "failure"), 0), "request_range");
	assert_field(o, "key", "aw==");
	json_decref(j);

	j = body_json(etcd_json_cas_delete("k", 1, 42));
	c = json_array_get(json_object_get(j, "compare"), 0);
	assert_field(c, "target", "MOD");
	assert_field(c, "mod_revision", "42");
	o = json_object_get(json_array_get(json_object_get(j, "success"), 0),
			    "request_delete_range");
	assert_field(o, "key", "aw==");
	json_decref(j);

	j = body_json(etcd_json_number("TTL", 3));
	assert_field(j, "TTL", "3");
	json_decref(j);

	j = body_json(etcd_json_watch("foo", 3, 5));
	o = json_object_get(j, "create_request");
	assert_field(o, "key", "Zm9v");
	assert_field(o, "range_end", "Zm9w");
	assert_field(o, "start_revision", "5");
	json_decref(j);
	j = body_json(etcd_json_watch("foo", 3, 0));
	assert_null(json_object_get(json_object_get(j, "create_request"), "start_revision"));
	json_decref(j);
}

/* etcd_new checks its endpoints before anything is sent. */
static void
test_new_endpoints(void **state)
{
	struct event_base *base = event_base_new();
	struct etcd_opts o;
	struct etcd *e;
	char err[256];
	static const char *bad[] = {"ftp://x:1", "127.0.0.1:2379", "http://", "http://:2379",
				    "http://h:0", "http://h:65536", "http://h:12x", "http://h:1/v3",
				    "http://[::1:2379", "http://[nothost]:1", "https://h:1"};
	size_t i;

	assert_non_null(base);
	memset(&o, 0, sizeof(o));
	e = etcd_new(base, &o, err, sizeof(err));
	assert_null(e);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		o.endpoints[0] = "http://127.0.0.1:2379";
		o.endpoints[1] = bad[i];
		o.nendpoints = 2;
		e = etcd_new(base, &o, err, sizeof(err));
		if (e != NULL)
			fail_msg("accepted %s", bad[i]);
		assert_true(strlen(err) > 0);
	}
	o.endpoints[0] = "http://[::1]:2379/";
	o.endpoints[1] = "http://localhost";
	o.nendpoints = 2;
	e = etcd_new(base, &o, err, sizeof(err));
	assert_non_null(e);
	assert_string_equal(etcd_endpoint(e), "http://[::1]:2379/");
	etcd_free(e);
	event_base_free(base);
}

/* Nothing is called back from inside a call, nor after etcd_free. */
static int called;

static void
count_cb(void *arg, const struct etcd_result *r)
{
	called++;
}

static void
count_watch_cb(void *arg, int type, const struct etcd_kv *kv)
{
	called++;
}

static void
test_free_without_callbacks(void **state)
{
	struct event_base *base = event_base_new();
	struct etcd_opts o;
	struct etcd *e;
	char err[256];

	memset(&o, 0, sizeof(o));
	o.endpoints[0] = "http://127.0.0.1:9";
	o.nendpoints = 1;
	e = etcd_new(base, &o, err, sizeof(err));
	assert_non_null(e);
	called = 0;
	assert_int_equal(etcd_put(e, "k", 1, "v", 1, 0, count_cb, NULL), 0);
	assert_int_equal(etcd_range(e, "k", 1, 1, count_cb, NULL), 0);
	assert_int_equal(etcd_cas(e, "k", 1, 0, "v", 1, 0, count_cb, NULL), 0);
	assert_non_null(etcd_watch(e, "k", 1, 0, count_watch_cb, NULL));
	/* Refused at once: no callback either. */
	assert_int_equal(etcd_put(e, "", 0, "v", 1, 0, count_cb, NULL), -1);
	assert_int_equal(etcd_cas_delete(e, "k", 1, 0, count_cb, NULL), -1);
	assert_int_equal(called, 0);
	etcd_free(e);
	assert_int_equal(event_base_loop(base, EVLOOP_NONBLOCK), 1);
	assert_int_equal(called, 0);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64_vectors),
		cmocka_unit_test(test_b64_binary),
		cmocka_unit_test(test_b64_rejects),
		cmocka_unit_test(test_prefix_end),
		cmocka_unit_test(test_parse_put),
		cmocka_unit_test(test_parse_range),
		cmocka_unit_test(test_parse_range_binary),
		cmocka_unit_test(test_parse_range_empty),
		cmocka_unit_test(test_parse_txn_succeeded),
		cmocka_unit_test(test_parse_txn_failed),
		cmocka_unit_test(test_parse_delete),
		cmocka_unit_test(test_parse_lease),
		cmocka_unit_test(test_parse_numbers),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_parse_watch),
		cmocka_unit_test(test_parse_watch_compacted),
		cmocka_unit_test(test_parse_watch_bad),
		cmocka_unit_test(test_request_bodies),
		cmocka_unit_test(test_new_endpoints),
		cmocka_unit_test(test_free_without_callbacks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
