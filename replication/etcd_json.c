/*
 * The etcd gateway's encoding: base64 keys and values, JSON request bodies
 * (etcd_json.h) and the parsers of its answers (etcd.h), with jansson.
 *
 * The gateway leaves default values out (ETCD.md): a missing field reads as
 * false, 0 or empty here, never as an error.  A field that is there with
 * the wrong type is an error (ETCD_BAD_REPLY): the answer is not what the
 * gateway sends.  64-bit numbers come as decimal strings, and are accepted
 * as JSON integers too.
 *
 * Allocation failures are fatal, as everywhere in the daemon (common/log.h).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "common/log.h"
#include "replication/etcd.h"
#include "replication/etcd_json.h"

/* EVP_EncodeBlock and EVP_DecodeBlock take an int length: work in slices. */
#define B64_SLICE (3u << 20) /* input bytes per EVP_EncodeBlock call, a multiple of 3 */

/* Base64 of n bytes into out, NUL-terminated. */
void
etcd_b64_encode(const void *in, size_t n, char *out)
{
	const unsigned char *p = in;

	while (n > 0) {
		size_t k = n < B64_SLICE ? n : B64_SLICE;
		int w = EVP_EncodeBlock((unsigned char *)out, p, (int)k);

		out += w;
		p += k;
		n -= k;
	}
	*out = '\0';
}

/* True for the 64 characters of the standard base64 alphabet. */
static int
b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

/*
 * Decodes base64 into a malloc'd NUL-terminated buffer.  EVP_DecodeBlock
 * accepts blanks and stray '=' and counts padding as decoded bytes, so the
 * input is checked here first and the padding subtracted.
 */
int
etcd_b64_decode(const char *in, uint8_t **out, size_t *outlen)
{
	size_t len = strlen(in), pad = 0, i, o = 0, n;
	uint8_t *buf;

	if (len % 4 != 0)
		return -1;
	if (len > 0 && in[len - 1] == '=') {
		pad++;
		if (in[len - 2] == '=')
			pad++;
	}
	for (i = 0; i < len - pad; i++)
		if (!b64_char(in[i]))
			return -1;
	n = len / 4 * 3;
	buf = xmalloc(n + 1);
	for (i = 0; i < len;) {
		size_t k = len - i < B64_SLICE / 3 * 4 ? len - i : B64_SLICE / 3 * 4;
		int w = EVP_DecodeBlock(buf + o, (const unsigned char *)in + i, (int)k);

		if (w < 0 || (size_t)w != k / 4 * 3) {
			free(buf);
			return -1;
		}
		o += (size_t)w;
		i += k;
	}
	*outlen = n - pad;
	buf[*outlen] = '\0';
	*out = buf;
	return 0;
}

/* The end of a prefix range: the shortest key greater than every key with the prefix. */
size_t
etcd_prefix_end(const void *prefix, size_t len, uint8_t *out)
{
	const uint8_t *p = prefix;
	size_t n = len;

	/* Trailing 0xff bytes cannot be incremented: drop them. */
	while (n > 0 && p[n - 1] == 0xff)
		n--;
	if (n == 0) {
		/* Every key from the prefix on: etcd reads "\0" as "to the end". */
		out[0] = '\0';
		return 1;
	}
	memcpy(out, p, n);
	out[n - 1]++;
	return n;
}

/* Dies when jansson could not allocate. */
static json_t *
jnew(json_t *j)
{
	if (j == NULL)
		fatalx("jansson: out of memory");
	return j;
}

/* Sets obj.name = value (a new reference), dying when out of memory. */
static void
jset(json_t *obj, const char *name, json_t *value)
{
	if (json_object_set_new(obj, name, jnew(value)) != 0)
		fatalx("jansson: out of memory");
}

/* Appends value (a new reference) to arr. */
static void
jappend(json_t *arr, json_t *value)
{
	if (json_array_append_new(arr, jnew(value)) != 0)
		fatalx("jansson: out of memory");
}

/* A JSON string holding the base64 of n bytes. */
static json_t *
jb64(const void *p, size_t n)
{
	char *s;
	json_t *j;

	if (n > (SIZE_MAX - 1) / 4 * 3 - 2)
		fatalx("etcd: %zu bytes cannot be base64-encoded", n);
	s = xmalloc((n + 2) / 3 * 4 + 1);
	etcd_b64_encode(p, n, s);
	j = jnew(json_string(s));
	free(s);
	return j;
}

/* A 64-bit number as the decimal string the gateway expects. */
static json_t *
ji64(int64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%" PRId64, v);
	return jnew(json_string(s));
}

/* The JSON text of root, which it releases. */
static char *
jdump(json_t *root)
{
	char *s = json_dumps(root, JSON_COMPACT);

	json_decref(root);
	if (s == NULL)
		fatalx("jansson: out of memory");
	return s;
}

/* {"key":K} for a single key, with range_end for a prefix ("" meaning every key). */
static json_t *
jrange(const void *key, size_t keylen, int prefix)
{
	json_t *o = jnew(json_object());
	uint8_t *end;
	size_t endlen;

	if (!prefix) {
		jset(o, "key", jb64(key, keylen));
		return o;
	}
	if (keylen == 0) {
		/* etcd refuses an empty key: "\0" to "\0" is the whole key space. */
		jset(o, "key", jb64("", 1));
		jset(o, "range_end", jb64("", 1));
		return o;
	}
	end = xmalloc(keylen);
	endlen = etcd_prefix_end(key, keylen, end);
	jset(o, "key", jb64(key, keylen));
	jset(o, "range_end", jb64(end, endlen));
	free(end);
	return o;
}

/* A put request's fields. */
static json_t *
jput(const void *key, size_t keylen, const void *val, size_t vallen, int64_t lease)
{
	json_t *o = jnew(json_object());

	jset(o, "key", jb64(key, keylen));
	jset(o, "value", jb64(val, vallen));
	if (lease != 0)
		jset(o, "lease", ji64(lease));
	return o;
}

char *
etcd_json_put(const void *key, size_t keylen, const void *val, size_t vallen, int64_t lease)
{
	return jdump(jput(key, keylen, val, vallen, lease));
}

char *
etcd_json_range(const void *key, size_t keylen, int prefix)
{
	return jdump(jrange(key, keylen, prefix));
}

char *
etcd_json_delete(const void *key, size_t keylen)
{
	return jdump(jrange(key, keylen, 0));
}

/* A txn: if the compare holds, do the one success op, else read the key. */
static char *
jtxn(json_t *compare, const void *key, size_t keylen, const char *op, json_t *opbody)
{
	json_t *root = jnew(json_object()), *a, *o;

	a = jnew(json_array());
	jappend(a, compare);
	jset(root, "compare", a);
	a = jnew(json_array());
	o = jnew(json_object());
	jset(o, op, opbody);
	jappend(a, o);
	jset(root, "success", a);
	/* The failure branch tells the caller what is there instead. */
	a = jnew(json_array());
	o = jnew(json_object());
	jset(o, "request_range", jrange(key, keylen, 0));
	jappend(a, o);
	jset(root, "failure", a);
	return jdump(root);
}

/* A compare on the key's mod_revision, or with 0 on its absence (create_revision 0). */
static json_t *
jcompare(const void *key, size_t keylen, int64_t mod_rev)
{
	json_t *c = jnew(json_object());

	jset(c, "key", jb64(key, keylen));
	jset(c, "result", json_string("EQUAL"));
	if (mod_rev == 0) {
		jset(c, "target", json_string("CREATE"));
		jset(c, "create_revision", ji64(0));
	} else {
		jset(c, "target", json_string("MOD"));
		jset(c, "mod_revision", ji64(mod_rev));
	}
	return c;
}

char *
etcd_json_cas(const void *key, size_t keylen, int64_t mod_rev, const void *val, size_t vallen,
	      int64_t lease)
{
	return jtxn(jcompare(key, keylen, mod_rev), key, keylen, "request_put",
		    jput(key, keylen, val, vallen, lease));
}

char *
etcd_json_cas_delete(const void *key, size_t keylen, int64_t mod_rev)
{
	return jtxn(jcompare(key, keylen, mod_rev), key, keylen, "request_delete_range",
		    jrange(key, keylen, 0));
}

char *
etcd_json_number(const char *name, int64_t n)
{
	json_t *o = jnew(json_object());

	jset(o, name, ji64(n));
	return jdump(o);
}

char *
etcd_json_watch(const void *prefix, size_t prefixlen, int64_t start_rev)
{
	json_t *root = jnew(json_object()), *c = jrange(prefix, prefixlen, 1);

	if (start_rev > 0)
		jset(c, "start_revision", ji64(start_rev));
	jset(root, "create_request", c);
	return jdump(root);
}

/* A malloc'd message, printf-style. */
static char *msgf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
msgf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return xstrdup(buf);
}

/* obj.name as a 64-bit number, from a decimal string or a JSON integer; missing: 0. */
static int
jget_i64(const json_t *obj, const char *name, int64_t *v)
{
	const json_t *j = json_object_get(obj, name);
	const char *s;
	char *end;
	long long n;

	*v = 0;
	if (j == NULL)
		return 0;
	if (json_is_integer(j)) {
		*v = json_integer_value(j);
		return 0;
	}
	if (!json_is_string(j))
		return -1;
	s = json_string_value(j);
	/* strtoll alone would take blanks, '+' and trailing junk. */
	if (!(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || (size_t)(end - s) != json_string_length(j))
		return -1;
	*v = n;
	return 0;
}

/* obj.name as a boolean; missing: false. */
static int
jget_bool(const json_t *obj, const char *name, int *v)
{
	const json_t *j = json_object_get(obj, name);

	*v = 0;
	if (j == NULL)
		return 0;
	if (!json_is_boolean(j))
		return -1;
	*v = json_is_true(j);
	return 0;
}

/* obj.name as an object, or NULL when missing; -1 when something else. */
static int
jget_obj(const json_t *obj, const char *name, json_t **o)
{
	json_t *j = json_object_get(obj, name);

	*o = NULL;
	if (j == NULL)
		return 0;
	if (!json_is_object(j))
		return -1;
	*o = j;
	return 0;
}

/* obj.name as an array, or NULL when missing; -1 when something else. */
static int
jget_array(const json_t *obj, const char *name, json_t **a)
{
	json_t *j = json_object_get(obj, name);

	*a = NULL;
	if (j == NULL)
		return 0;
	if (!json_is_array(j))
		return -1;
	*a = j;
	return 0;
}

/* obj.name as decoded base64 (malloc'd, NUL-terminated); missing: empty. */
static int
jget_b64(const json_t *obj, const char *name, const uint8_t **p, size_t *n)
{
	const json_t *j = json_object_get(obj, name);
	uint8_t *buf;

	*p = NULL;
	*n = 0;
	if (j == NULL) {
		buf = xcalloc(1, 1);
	} else if (!json_is_string(j) || strlen(json_string_value(j)) != json_string_length(j) ||
		   etcd_b64_decode(json_string_value(j), &buf, n) != 0) {
		return -1;
	}
	*p = buf;
	return 0;
}

/* Frees a kv's decoded key and value. */
static void
kv_clear(struct etcd_kv *kv)
{
	free((void *)kv->key);
	free((void *)kv->value);
	memset(kv, 0, sizeof(*kv));
}

/* One mvccpb.KeyValue: {"key","value","create_revision","mod_revision","version","lease"}. */
static int
parse_kv(const json_t *o, struct etcd_kv *kv)
{
	memset(kv, 0, sizeof(*kv));
	if (!json_is_object(o))
		return -1;
	if (jget_b64(o, "key", &kv->key, &kv->keylen) != 0 ||
	    jget_b64(o, "value", &kv->value, &kv->valuelen) != 0 ||
	    jget_i64(o, "create_revision", &kv->create_revision) != 0 ||
	    jget_i64(o, "mod_revision", &kv->mod_revision) != 0 ||
	    jget_i64(o, "version", &kv->version) != 0 || jget_i64(o, "lease", &kv->lease) != 0) {
		kv_clear(kv);
		return -1;
	}
	return 0;
}

/* Sets r to ETCD_BAD_REPLY with a reason; returns -1. */
static int
reply_bad(struct etcd_result *r, const char *what)
{
	etcd_result_clear(r);
	r->err = ETCD_BAD_REPLY;
	r->message = msgf("unexpected answer from etcd: %s", what);
	return -1;
}

/*
 * An error answer: {"error":"...","code":N,"message":"..."} from a unary
 * call ({"code":N,"message":"..."} from newer gateways), and
 * {"error":{"grpc_code":N,"message":"..."}} inside a stream.  Returns 1 and
 * fills r when obj is one, 0 when it is not, -1 when it is malformed.
 */
static int
reply_error(const json_t *obj, struct etcd_result *r)
{
	const json_t *e = json_object_get(obj, "error"), *m;
	int64_t code = 0;
	const char *text = NULL;

	if (e != NULL && json_is_object(e)) {
		if (jget_i64(e, "grpc_code", &code) != 0)
			return -1;
		m = json_object_get(e, "message");
	} else {
		if ((e != NULL && !json_is_string(e)) || jget_i64(obj, "code", &code) != 0)
			return -1;
		/* LeaseGrantResponse has an "error" field of its own, normally empty. */
		if ((e == NULL || json_string_length(e) == 0) && code == 0)
			return 0;
		if (e != NULL && json_string_length(e) > 0)
			text = json_string_value(e);
		m = json_object_get(obj, "message");
	}
	if (m != NULL && json_is_string(m) && json_string_length(m) > 0)
		text = json_string_value(m);
	r->err = ETCD_ERROR;
	r->code = code > 0 && code < 100 ? (int)code : 2; /* 2: gRPC's "unknown" */
	r->message = xstrdup(text != NULL ? text : "etcd error without a message");
	return 1;
}

/* Decodes an array of kvs into r->kvs. */
static int
parse_kvs(const json_t *a, struct etcd_result *r)
{
	struct etcd_kv *kvs;
	size_t i, n;

	if (a == NULL)
		return 0;
	n = json_array_size(a);
	if (n == 0)
		return 0;
	kvs = xcalloc(n, sizeof(*kvs));
	r->kvs = kvs;
	for (i = 0; i < n; i++) {
		if (parse_kv(json_array_get(a, i), &kvs[i]) != 0)
			return -1;
		r->nkvs = i + 1;
	}
	return 0;
}

/* The kvs of a RangeResponse object. */
static int
parse_range(const json_t *o, struct etcd_result *r)
{
	json_t *a;

	if (jget_array(o, "kvs", &a) != 0)
		return -1;
	return parse_kvs(a, r);
}

/* A TxnResponse: succeeded, and the first response_range's kvs (the failure branch's). */
static int
parse_txn(const json_t *o, struct etcd_result *r)
{
	json_t *a, *rr;
	size_t i;

	if (jget_bool(o, "succeeded", &r->succeeded) != 0 || jget_array(o, "responses", &a) != 0)
		return -1;
	for (i = 0; a != NULL && i < json_array_size(a); i++) {
		const json_t *op = json_array_get(a, i);

		if (!json_is_object(op) || jget_obj(op, "response_range", &rr) != 0)
			return -1;
		if (rr != NULL)
			return parse_range(rr, r);
	}
	return 0;
}

int
etcd_parse_reply(int kind, const char *body, size_t len, struct etcd_result *r)
{
	json_error_t jerr;
	json_t *root, *o, *h;
	int64_t n;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	root = json_loadb(body, len, 0, &jerr);
	if (root == NULL) {
		char why[300];

		snprintf(why, sizeof(why), "malformed JSON (%s)", jerr.text);
		return reply_bad(r, why);
	}
	o = root;
	if (!json_is_object(o)) {
		json_decref(root);
		return reply_bad(r, "not a JSON object");
	}
	/* A keepalive answers as a stream: {"result":{...}} or {"error":{...}}. */
	if (kind == ETCD_K_KEEPALIVE && json_object_get(root, "result") != NULL &&
	    jget_obj(root, "result", &o) != 0) {
		json_decref(root);
		return reply_bad(r, "\"result\" is not an object");
	}
	switch (reply_error(o, r)) {
	case 1:
		json_decref(root);
		return -1;
	case -1:
		json_decref(root);
		return reply_bad(r, "malformed error");
	}
	if (jget_obj(o, "header", &h) != 0 ||
	    (h != NULL && jget_i64(h, "revision", &r->revision) != 0))
		goto bad;
	switch (kind) {
	case ETCD_K_PUT:
	case ETCD_K_REVOKE:
		break;
	case ETCD_K_RANGE:
		rc = parse_range(o, r);
		break;
	case ETCD_K_DELETE:
		rc = jget_i64(o, "deleted", &n);
		r->succeeded = n > 0;
		break;
	case ETCD_K_TXN:
		rc = parse_txn(o, r);
		break;
	case ETCD_K_GRANT:
	case ETCD_K_KEEPALIVE:
		rc = jget_i64(o, "ID", &r->lease_id) | jget_i64(o, "TTL", &r->ttl);
		/* A grant always names its lease; a keepalive without TTL: expired. */
		if (rc == 0 && kind == ETCD_K_GRANT && r->lease_id == 0) {
			json_decref(root);
			return reply_bad(r, "a lease grant without an ID");
		}
		break;
	default:
		json_decref(root);
		return reply_bad(r, "unknown kind of request");
	}
	if (rc != 0)
		goto bad;
	json_decref(root);
	return 0;
bad:
	json_decref(root);
	return reply_bad(r, "a field of the wrong type");
}

void
etcd_result_clear(struct etcd_result *r)
{
	size_t i;

	for (i = 0; i < r->nkvs; i++)
		kv_clear((struct etcd_kv *)&r->kvs[i]);
	free((void *)r->kvs);
	free((void *)r->message);
	memset(r, 0, sizeof(*r));
}

/* Sets m's reason for a line that cannot be used: "why (detail)"; returns -1. */
static int
watch_bad(struct etcd_watch_msg *m, const char *why, const char *detail)
{
	etcd_watch_msg_clear(m);
	if (detail != NULL)
		m->reason = msgf("%s (%s)", why, detail);
	else
		m->reason = xstrdup(why);
	return -1;
}

/* The events array of a watch result. */
static int
parse_events(const json_t *a, struct etcd_watch_msg *m)
{
	size_t i, n = json_array_size(a);

	if (n == 0)
		return 0;
	m->events = xcalloc(n, sizeof(*m->events));
	for (i = 0; i < n; i++) {
		const json_t *ev = json_array_get(a, i), *t;
		json_t *kv;

		if (!json_is_object(ev) || jget_obj(ev, "kv", &kv) != 0 || kv == NULL)
			return -1;
		/* PUT is the default value: the gateway leaves it out. */
		t = json_object_get(ev, "type");
		if (t == NULL || (json_is_string(t) && strcmp(json_string_value(t), "PUT") == 0))
			m->events[i].type = ETCD_EV_PUT;
		else if (json_is_string(t) && strcmp(json_string_value(t), "DELETE") == 0)
			m->events[i].type = ETCD_EV_DELETE;
		else
			return -1;
		if (parse_kv(kv, &m->events[i].kv) != 0)
			return -1;
		m->nevents = i + 1;
	}
	return 0;
}

int
etcd_parse_watch(const char *line, size_t len, struct etcd_watch_msg *m)
{
	json_error_t jerr;
	json_t *root, *res, *h, *a;
	const json_t *reason;
	struct etcd_result er;

	memset(m, 0, sizeof(*m));
	root = json_loadb(line, len, 0, &jerr);
	if (root == NULL)
		return watch_bad(m, "malformed JSON in the watch stream", jerr.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return watch_bad(m, "not a JSON object in the watch stream", NULL);
	}
	memset(&er, 0, sizeof(er));
	if (reply_error(root, &er) != 0) {
		/* The stream ended with an error, say etcd's "no leader". */
		json_decref(root);
		watch_bad(m, er.message != NULL ? er.message : "a malformed error line", NULL);
		etcd_result_clear(&er);
		return -1;
	}
	if (jget_obj(root, "result", &res) != 0 || res == NULL) {
		json_decref(root);
		return watch_bad(m, "no \"result\" object in the watch stream", NULL);
	}
	if (jget_obj(res, "header", &h) != 0 ||
	    (h != NULL && jget_i64(h, "revision", &m->revision) != 0) ||
	    jget_bool(res, "created", &m->created) != 0 ||
	    jget_bool(res, "canceled", &m->canceled) != 0 ||
	    jget_i64(res, "compact_revision", &m->compact_revision) != 0 ||
	    jget_array(res, "events", &a) != 0 || (a != NULL && parse_events(a, m) != 0)) {
		json_decref(root);
		return watch_bad(m, "a field of the wrong type in the watch stream", NULL);
	}
	reason = json_object_get(res, "cancel_reason");
	if (reason != NULL && json_is_string(reason) && json_string_length(reason) > 0)
		m->reason = xstrdup(json_string_value(reason));
	json_decref(root);
	return 0;
}

void
etcd_watch_msg_clear(struct etcd_watch_msg *m)
{
	size_t i;

	for (i = 0; i < m->nevents; i++)
		kv_clear(&m->events[i].kv);
	free(m->events);
	free(m->reason);
	memset(m, 0, sizeof(*m));
}
