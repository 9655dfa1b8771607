/*
 * A small asynchronous client for etcd's v3 JSON gateway (the /v3/ paths of
 * etcd 3.4 and later), over HTTP with libevent's evhttp, on the caller's
 * event loop.  chainfs uses etcd as its consensus: the chain configuration,
 * node registrations with leases, the master election (DESIGN.md,
 * "Reconfiguration").
 *
 * The gateway's JSON has quirks this module hides (ETCD.md): keys and values
 * are base64, 64-bit numbers are strings, default values are left out (a
 * failed txn has no "succeeded", an empty range no "kvs", a PUT event no
 * "type", an expired lease's keepalive no "TTL").
 *
 * Endpoints: the client talks to one endpoint at a time and moves to the
 * next one when a request fails to get an HTTP answer (connection refused or
 * reset, timeout).  A request whose answer was lost is NOT resent by this
 * module: its outcome is unknown (ETCD_UNKNOWN) and the caller re-reads
 * before retrying a compare-and-swap.  Requests that cannot have changed
 * anything (range, a watch), lease keepalives (a second renewal is
 * harmless) and requests refused before being sent are retried on the next
 * endpoint within the request's timeout, and so is a request a member
 * refused with "etcdserver: no leader" (it asks for that refusal, rather
 * than a hang, with gRPC metadata "hasleader": a member cut off from the
 * majority then answers at once).  Each request has its own connection: a
 * kept-alive one that the server closed while idle would turn a write into
 * an unknown outcome.
 *
 * Every callback runs exactly once per request, from the event loop, never
 * from inside the call that submitted it; after etcd_free no callback runs.
 * A callback may call etcd_free, etcd_watch_cancel and submit requests.
 */
#ifndef CHAINFS_ETCD_H
#define CHAINFS_ETCD_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#define ETCD_MAX_ENDPOINTS 16

/* Outcome classes of a request (etcd_result.err). */
enum etcd_err {
	ETCD_OK = 0,
	ETCD_UNREACHABLE = 1, /* no endpoint answered; nothing was applied */
	ETCD_UNKNOWN = 2,     /* sent, but the answer was lost, or etcd answered that it
			       * timed out (code 1, 4, 14): it may have been applied */
	ETCD_ERROR = 3,	      /* etcd answered with an error (code, message) */
	ETCD_BAD_REPLY = 4,   /* an answer that is not what the gateway sends */
	ETCD_CANCELED = 5,    /* etcd_free ran, or the watch was canceled */
};

struct etcd_kv {
	const uint8_t *key; /* decoded bytes; NUL-terminated for convenience */
	size_t keylen;
	const uint8_t *value; /* decoded bytes; NUL-terminated for convenience */
	size_t valuelen;
	int64_t create_revision;
	int64_t mod_revision;
	int64_t version;
	int64_t lease;
};

/* What a request produced.  Pointers are valid during the callback only. */
struct etcd_result {
	int err;	     /* enum etcd_err */
	int code;	     /* etcd's gRPC code when err is ETCD_ERROR (5: not found,
			      * 11: compacted), or ETCD_UNKNOWN after etcd's own timeout */
	const char *message; /* a human-readable reason when err != 0 */
	int64_t revision;    /* header.revision: the store's revision when answered */
	int succeeded;	     /* txn: the compare held (the success branch ran);
			      * delete: the key existed */
	size_t nkvs;	     /* range, and txn's failure-branch range */
	const struct etcd_kv *kvs;
	int64_t lease_id; /* lease grant */
	int64_t ttl;	  /* lease grant and keepalive: seconds; 0: the lease has expired */
};

typedef void (*etcd_cb)(void *arg, const struct etcd_result *);

struct etcd_opts {
	const char *endpoints[ETCD_MAX_ENDPOINTS]; /* "http://host:port" or "https://host:port" */
	size_t nendpoints;
	SSL_CTX *tls;	     /* for https:// endpoints; NULL: https refused */
	unsigned timeout_ms; /* per request; 0: 5000 */
	const char *source;  /* numeric address to connect from; NULL: any */
};

struct etcd;

/*
 * Checks the endpoints ("http://host:port", "https://host:port", an IPv6
 * host in brackets, port 2379 when left out); NULL with a reason in err.
 * The client holds a reference on opts->tls.
 */
struct etcd *etcd_new(struct event_base *, const struct etcd_opts *, char *err, size_t errlen);
/*
 * Fails outstanding requests with ETCD_CANCELED (without calling back) and
 * frees, watches included: do not etcd_watch_cancel them afterwards.
 */
void etcd_free(struct etcd *);
/* The endpoint currently in use, for logs. */
const char *etcd_endpoint(const struct etcd *);

/*
 * Every request returns 0, and its callback runs later; or -1, and no
 * callback runs, when the arguments are unusable (an empty key, mod_rev 0
 * for etcd_cas_delete) or etcd_free has been called.
 */

/* put key=value, attached to lease (0: none). */
int etcd_put(struct etcd *, const void *key, size_t keylen, const void *val, size_t vallen,
	     int64_t lease, etcd_cb, void *arg);
/*
 * range: one key, or with prefix != 0 every key that starts with key.
 * Linearizable (never "serializable").
 */
int etcd_range(struct etcd *, const void *key, size_t keylen, int prefix, etcd_cb, void *arg);
/* delete one key; result.succeeded says it existed. */
int etcd_delete(struct etcd *, const void *key, size_t keylen, etcd_cb, void *arg);
/*
 * Compare-and-swap: put key=value (with lease, 0: none) only if the key's
 * mod_revision is mod_rev, or, with mod_rev 0, only if the key does not
 * exist.  result.succeeded says which; when it failed, result.kvs holds the
 * key's current value (nkvs 0: absent).
 */
int etcd_cas(struct etcd *, const void *key, size_t keylen, int64_t mod_rev, const void *val,
	     size_t vallen, int64_t lease, etcd_cb, void *arg);
/* Delete key only if its mod_revision is mod_rev; result.succeeded. */
int etcd_cas_delete(struct etcd *, const void *key, size_t keylen, int64_t mod_rev, etcd_cb,
		    void *arg);

/* A new lease of ttl_s seconds (etcd may grant more): result.lease_id, result.ttl. */
int etcd_lease_grant(struct etcd *, int64_t ttl_s, etcd_cb, void *arg);
/* One renewal: result.ttl is the new TTL, 0 when the lease has expired. */
int etcd_lease_keepalive(struct etcd *, int64_t lease, etcd_cb, void *arg);
/* Ends a lease now, deleting its keys (ETCD_ERROR code 5 when it is gone already). */
int etcd_lease_revoke(struct etcd *, int64_t lease, etcd_cb, void *arg);

/*
 * Watch every key under prefix from revision start_rev (0: from now).  Each
 * event calls ev with type ETCD_EV_PUT or ETCD_EV_DELETE and the kv (for a
 * delete, only key and mod_revision are set).  When the watch ends for good
 * (compacted: ETCD_EV_COMPACTED with compact_revision in kv->mod_revision,
 * the caller re-reads with a range and watches again from its
 * revision + 1), or on ETCD_EV_BROKEN (no endpoint keeps the stream up
 * within the timeout; the client has re-created it from the last revision
 * on other endpoints until then), the watch is over and ev is not called
 * again; free it with etcd_watch_cancel.  A broken stream is re-created by
 * the module from the last delivered revision + 1 on the next endpoint, so
 * no event is lost or delivered twice.
 */
enum etcd_ev_type {
	ETCD_EV_PUT = 1,
	ETCD_EV_DELETE = 2,
	ETCD_EV_COMPACTED = 3,
	ETCD_EV_BROKEN = 4,
};
typedef void (*etcd_watch_cb)(void *arg, int type, const struct etcd_kv *kv);
struct etcd_watch;
/* NULL when etcd_free has been called. An empty prefix watches every key. */
struct etcd_watch *etcd_watch(struct etcd *, const void *prefix, size_t prefixlen,
			      int64_t start_rev, etcd_watch_cb ev, void *arg);
/* Ends the watch (no callback after) and frees it; also from inside its callback. */
void etcd_watch_cancel(struct etcd_watch *);

/* Sans-I/O helpers, exposed for the unit tests. */

/* Base64 of n bytes into out (NUL-terminated); out must hold 4*((n+2)/3)+1. */
void etcd_b64_encode(const void *in, size_t n, char *out);
/* Decodes base64 into a malloc'd buffer (NUL-terminated); -1 on bad input. */
int etcd_b64_decode(const char *in, uint8_t **out, size_t *outlen);
/* The end of a prefix range: prefix with its last byte incremented ("\0" if all 0xff). */
size_t etcd_prefix_end(const void *prefix, size_t len, uint8_t *out);
/*
 * Parses a gateway answer body for the given kind of request into r (which
 * it overwrites; kvs and message malloc'd: free with etcd_result_clear).
 * Returns 0, or -1 with r->err = ETCD_BAD_REPLY / ETCD_ERROR and r->message
 * set.
 */
enum etcd_kind {
	ETCD_K_PUT,
	ETCD_K_RANGE,
	ETCD_K_DELETE,
	ETCD_K_TXN,
	ETCD_K_GRANT,
	ETCD_K_KEEPALIVE,
	ETCD_K_REVOKE,
};
int etcd_parse_reply(int kind, const char *body, size_t len, struct etcd_result *r);
void etcd_result_clear(struct etcd_result *);

/* One line of a watch stream, parsed. */
struct etcd_event {
	int type; /* ETCD_EV_PUT or ETCD_EV_DELETE */
	struct etcd_kv kv;
};
struct etcd_watch_msg {
	int created;		  /* the watch exists from now on */
	int canceled;		  /* etcd ended the watch */
	int64_t compact_revision; /* canceled because the start revision was compacted */
	int64_t revision;	  /* header.revision */
	char *reason;		  /* cancel_reason, or the error / why the line is unusable */
	size_t nevents;
	struct etcd_event *events;
};
/*
 * Parses one line of a watch stream ({"result":{...}}) into m (overwritten;
 * free with etcd_watch_msg_clear).  Returns 0, or -1 with m->reason set for
 * malformed lines and the gateway's {"error":...} lines.
 */
int etcd_parse_watch(const char *line, size_t len, struct etcd_watch_msg *m);
void etcd_watch_msg_clear(struct etcd_watch_msg *);

#endif
