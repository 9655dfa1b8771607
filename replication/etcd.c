/*
 * The etcd client: requests and watches over libevent's evhttp, failover
 * between endpoints, per-request deadlines; see etcd.h.
 *
 * Every request and every watch owns one event.  The evhttp callbacks only
 * record what happened and activate that event; the event's callback moves
 * the request along (next endpoint, result) and is the only place a user
 * callback runs.  So no user callback runs inside evhttp, and evhttp
 * connections are freed only from our own events, never inside evhttp's
 * callbacks (which go on using them after calling us).
 *
 * An attempt (struct etcd_http) is one HTTP exchange on one endpoint over a
 * connection of its own.  Whether its request may have reached etcd is
 * tracked on the connection's output buffer: evhttp writes the request
 * there only once the connection (and the TLS handshake) is up, so a
 * request whose attempt failed before that was certainly not applied.
 *
 * Times are on CLOCK_MONOTONIC.  Allocation failures are fatal (common/log.h).
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "replication/etcd.h"
#include "replication/etcd_json.h"

#define ETCD_DEFAULT_TIMEOUT_MS 5000
/* A connect and TLS handshake slower than this: try the next endpoint. */
#define ETCD_CONNECT_MS 1000
/* Pauses between rounds over every endpoint, doubling. */
#define ETCD_BACKOFF_MIN_MS 50
#define ETCD_BACKOFF_MAX_MS 1000
/* Bounds on what etcd may send (it refuses requests over 1.5 MiB itself). */
#define ETCD_MAX_BODY (64u << 20)
#define ETCD_MAX_LINE (64u << 20)
/*
 * A watch stream may stay quiet for long: evhttp's read timeout is only a
 * backstop (the watch is then made again); TCP keepalives find a dead peer.
 */
#define ETCD_WATCH_IDLE_S 3600
#define ETCD_KEEPIDLE_S 10
#define ETCD_KEEPINTVL_S 5
#define ETCD_KEEPCNT 3

struct etcd_ep {
	char *url;	 /* as given, for logs */
	char *host;	 /* without brackets */
	char *hosthdr;	 /* the Host header: host:port, IPv6 in brackets */
	uint16_t port;
	int tls;
	int ip;		 /* host is an address: verify it against the certificate's IPs */
};

/* One HTTP exchange on one endpoint, over its own connection. */
struct etcd_http {
	struct etcd *e;
	size_t ep;
	struct evhttp_connection *conn;
	struct event *owner;	/* activated when something happened */
	struct evbuffer *in;	/* the answer (or the stream) received so far */
	size_t scanned;		/* bytes of a stream's in known to hold no newline */
	int sent;		/* the request went out: it may have been applied */
	int done;		/* evhttp is done with the request */
	int status;		/* HTTP status; 0: no answer */
	int reqerr;		/* evhttp's reason when the exchange failed, -1: none */
	char tlserr[96];	/* OpenSSL's reason when TLS failed */
};

enum etcd_req_state {
	ETCD_REQ_WAITING,  /* before the next attempt (deferred start or backoff) */
	ETCD_REQ_INFLIGHT, /* an attempt is out */
	ETCD_REQ_DONE,	   /* res is final; delivered from the event */
	ETCD_REQ_max
};

struct etcd_req {
	TAILQ_ENTRY(etcd_req) entry;
	struct etcd *e;
	enum etcd_kind kind;
	const char *path;
	char *body;
	int resend;		/* may be sent again after its answer was lost */
	etcd_cb cb;
	void *arg;
	struct event *ev;
	enum etcd_req_state state;
	struct etcd_http *http;
	uint64_t deadline;	/* ms, monotonic */
	uint64_t connect_by;	/* the attempt's connection must be up by then */
	size_t next_ep;
	unsigned tries;		/* attempts that failed */
	char why[160];		/* why the last attempt failed */
	struct etcd_result res;
};

enum etcd_watch_state {
	ETCD_W_WAITING,	 /* before the next attempt */
	ETCD_W_CREATING, /* an attempt is out, "created" not seen yet */
	ETCD_W_RUNNING,	 /* the stream is up */
	ETCD_W_OVER,	 /* compacted or broken: reported, no more callbacks */
	ETCD_W_max
};

struct etcd_watch {
	TAILQ_ENTRY(etcd_watch) entry;
	struct etcd *e;
	uint8_t *prefix;
	size_t prefixlen;
	int64_t next_rev;	/* the first revision not delivered yet; 0: from creation */
	etcd_watch_cb cb;
	void *arg;
	struct event *ev;
	enum etcd_watch_state state;
	struct etcd_http *http;
	uint64_t deadline;	/* to be (re)created by */
	uint64_t connect_by;
	size_t next_ep;
	unsigned tries;
	int in_cb;		/* its callback is running */
	int dead;		/* etcd_watch_cancel ran inside its callback */
	char why[160];
};

TAILQ_HEAD(etcd_req_list, etcd_req);
TAILQ_HEAD(etcd_watch_list, etcd_watch);

struct etcd {
	struct event_base *base;
	struct etcd_ep ep[ETCD_MAX_ENDPOINTS];
	size_t nep;
	size_t cur;		/* the endpoint in use */
	SSL_CTX *tls;
	unsigned timeout_ms;
	char source[64];	/* connect from this address; "": any */
	struct etcd_req_list reqs;
	struct etcd_watch_list watches;
	int depth;		/* user callbacks running */
	int dead;		/* etcd_free ran inside a callback: free when it returns */
};

static const char *etcd_req_state_names[] = {"waiting", "inflight", "done"};
static const char *etcd_watch_state_names[] = {"waiting", "creating", "running", "over"};

static void etcd_destroy(struct etcd *);

/* A timeval of ms milliseconds. */
static struct timeval
etcd_tv(uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000 * 1000);
	return tv;
}

/* Arms ev to run at time `at` (ms, monotonic), or at once when that has passed. */
static void
etcd_arm(struct event *ev, uint64_t at)
{
	uint64_t now = cfs_now_ms();
	struct timeval tv = etcd_tv(at > now ? at - now : 0);

	if (evtimer_add(ev, &tv) != 0)
		fatalx("evtimer_add failed");
}

/* Parses "http[s]://host[:port][/]" into ep. */
static int
etcd_ep_parse(const char *url, struct etcd_ep *ep, char *err, size_t errlen)
{
	const char *p, *hend, *pstart;
	char host[256];
	struct in6_addr a6;
	struct in_addr a4;
	unsigned long port = 2379;
	size_t hlen;
	int bracket = 0;

	memset(ep, 0, sizeof(*ep));
	if (strncmp(url, "http://", 7) == 0) {
		p = url + 7;
	} else if (strncmp(url, "https://", 8) == 0) {
		p = url + 8;
		ep->tls = 1;
	} else {
		snprintf(err, errlen, "%s: not an http:// or https:// URL", url);
		return -1;
	}
	if (*p == '[') {
		bracket = 1;
		hend = strchr(++p, ']');
		if (hend == NULL) {
			snprintf(err, errlen, "%s: no ']' after an IPv6 address", url);
			return -1;
		}
		pstart = hend + 1;
	} else {
		hend = p + strcspn(p, ":/");
		pstart = hend;
	}
	hlen = (size_t)(hend - p);
	if (hlen == 0 || hlen >= sizeof(host)) {
		snprintf(err, errlen, "%s: no host, or too long a one", url);
		return -1;
	}
	memcpy(host, p, hlen);
	host[hlen] = '\0';
	if (*pstart == ':') {
		char *end;

		errno = 0;
		port = strtoul(pstart + 1, &end, 10);
		if (errno != 0 || end == pstart + 1 || port == 0 || port > 65535 ||
		    (*end != '\0' && strcmp(end, "/") != 0)) {
			snprintf(err, errlen, "%s: bad port", url);
			return -1;
		}
	} else if (*pstart != '\0' && strcmp(pstart, "/") != 0) {
		snprintf(err, errlen, "%s: only scheme, host and port are allowed", url);
		return -1;
	}
	if (bracket && inet_pton(AF_INET6, host, &a6) != 1) {
		snprintf(err, errlen, "%s: bad IPv6 address", url);
		return -1;
	}
	ep->ip = bracket || inet_pton(AF_INET, host, &a4) == 1;
	ep->url = xstrdup(url);
	ep->host = xstrdup(host);
	ep->port = (uint16_t)port;
	ep->hosthdr = xmalloc(hlen + 16);
	snprintf(ep->hosthdr, hlen + 16, "%s%s%s:%lu", bracket ? "[" : "", host,
		 bracket ? "]" : "", port);
	return 0;
}

/* Frees what etcd_ep_parse allocated. */
static void
etcd_ep_clear(struct etcd_ep *ep)
{
	free(ep->url);
	free(ep->host);
	free(ep->hosthdr);
}

struct etcd *
etcd_new(struct event_base *base, const struct etcd_opts *o, char *err, size_t errlen)
{
	struct etcd *e;
	size_t i;

	if (o->nendpoints == 0 || o->nendpoints > ETCD_MAX_ENDPOINTS) {
		snprintf(err, errlen, "%zu etcd endpoints: give 1 to %d", o->nendpoints,
			 ETCD_MAX_ENDPOINTS);
		return NULL;
	}
	e = xcalloc(1, sizeof(*e));
	e->base = base;
	e->timeout_ms = o->timeout_ms ? o->timeout_ms : ETCD_DEFAULT_TIMEOUT_MS;
	if (o->source != NULL)
		snprintf(e->source, sizeof(e->source), "%s", o->source);
	TAILQ_INIT(&e->reqs);
	TAILQ_INIT(&e->watches);
	for (i = 0; i < o->nendpoints; i++) {
		if (o->endpoints[i] == NULL ||
		    etcd_ep_parse(o->endpoints[i], &e->ep[i], err, errlen) != 0)
			goto fail;
		e->nep = i + 1;
		if (e->ep[i].tls && o->tls == NULL) {
			snprintf(err, errlen, "%s: https without a TLS context", o->endpoints[i]);
			goto fail;
		}
	}
	if (o->tls != NULL) {
		SSL_CTX_up_ref(o->tls);
		e->tls = o->tls;
	}
	return e;
fail:
	etcd_destroy(e);
	return NULL;
}

const char *
etcd_endpoint(const struct etcd *e)
{
	return e->ep[e->cur].url;
}

/* Moves off endpoint ep after a failure there, if it is still the one in use. */
static void
etcd_ep_failed(struct etcd *e, size_t ep, const char *why)
{
	if (e->cur != ep || e->nep == 1)
		return;
	e->cur = (ep + 1) % e->nep;
	log_warnx("etcd %s: %s; now using %s", e->ep[ep].url, why, e->ep[e->cur].url);
}

/*
 * How the evhttp callbacks wake a request or watch up.  Not EV_TIMEOUT: an
 * evtimer_add on an event active with EV_TIMEOUT takes it off the active
 * list, and the wake-up would be lost.
 */
#define ETCD_WAKE EV_READ

/* Wakes the owner of an attempt up from an evhttp callback. */
static void
http_wake(struct etcd_http *h)
{
	event_active(h->owner, ETCD_WAKE, 0);
}

/* Output buffer callback: bytes of the request were queued, so it may reach etcd. */
static void
http_output_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct etcd_http *h = arg;

	if (info->n_added > 0)
		h->sent = 1;
}

/* Keeps OpenSSL's reason for a failed TLS connection (a certificate refused, say). */
static void
http_tls_reason(struct etcd_http *h)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(h->conn);
	const char *why = NULL;
	unsigned long e;

	/*
	 * bufferevent_openssl keeps a few errors, the latest first, among
	 * them bare SSL_get_error() codes (library 0), which say nothing.
	 */
	while ((e = bufferevent_get_openssl_error(bev)) != 0)
		if (why == NULL && ERR_GET_LIB(e) != 0)
			why = ERR_reason_error_string(e);
	if (why != NULL)
		snprintf(h->tlserr, sizeof(h->tlserr), "TLS: %s", why);
}

/* evhttp: the exchange is over (req NULL, or without a status: no answer). */
static void
http_done_cb(struct evhttp_request *req, void *arg)
{
	struct etcd_http *h = arg;

	h->done = 1;
	if (req != NULL) {
		h->status = evhttp_request_get_response_code(req);
		evbuffer_add_buffer(h->in, evhttp_request_get_input_buffer(req));
	}
	if (h->status == 0 && h->e->ep[h->ep].tls)
		http_tls_reason(h);
	http_wake(h);
}

/* evhttp: why the exchange failed; http_done_cb follows. */
static void
http_error_cb(enum evhttp_request_error err, void *arg)
{
	struct etcd_http *h = arg;

	h->reqerr = (int)err;
}

/* evhttp: a piece of a streamed answer (a watch). */
static void
http_chunk_cb(struct evhttp_request *req, void *arg)
{
	struct etcd_http *h = arg;

	evbuffer_add_buffer(h->in, evhttp_request_get_input_buffer(req));
	http_wake(h);
}

/* Why an exchange got no answer, for messages. */
static const char *
http_failure(const struct etcd_http *h)
{
	if (!h->done)
		return h->sent ? "no answer in time" : "no connection in time";
	if (h->tlserr[0] != '\0')
		return h->tlserr;
	switch (h->reqerr) {
	case EVREQ_HTTP_TIMEOUT:
		return "timed out";
	case EVREQ_HTTP_EOF:
		return h->sent ? "connection closed" : "connection failed";
	case EVREQ_HTTP_INVALID_HEADER:
		return "invalid HTTP header";
	case EVREQ_HTTP_BUFFER_ERROR:
		return "connection failed";
	case EVREQ_HTTP_DATA_TOO_LONG:
		return "answer too long or malformed";
	default:
		return "connection refused or failed";
	}
}

/* Frees an attempt; evhttp frees its request with the connection, without calling back. */
static void
http_free(struct etcd_http *h)
{
	if (h == NULL)
		return;
	if (h->conn != NULL)
		evhttp_connection_free(h->conn);
	evbuffer_free(h->in);
	free(h);
}

/* The TLS session for endpoint ep: the server's certificate and name are verified. */
static SSL *
http_ssl(struct etcd *e, const struct etcd_ep *ep)
{
	SSL *ssl = SSL_new(e->tls);

	if (ssl == NULL)
		fatalx("SSL_new failed");
	SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	if (ep->ip) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ep->host) != 1)
			fatalx("X509_VERIFY_PARAM_set1_ip_asc %s failed", ep->host);
	} else if (SSL_set1_host(ssl, ep->host) != 1 ||
		   SSL_set_tlsext_host_name(ssl, ep->host) != 1) {
		fatalx("SSL_set1_host %s failed", ep->host);
	}
	return ssl;
}

/*
 * Starts POST path with body on endpoint ep; owner is activated when
 * something happens.  A stream's pieces go to h->in as they come.
 */
static struct etcd_http *
http_start(struct etcd *e, size_t ep, const char *path, const char *body, struct event *owner,
	   int stream, uint64_t timeout_ms)
{
	const struct etcd_ep *p = &e->ep[ep];
	struct etcd_http *h = xcalloc(1, sizeof(*h));
	struct evhttp_request *req;
	struct evkeyvalq *hdr;
	struct timeval tv = etcd_tv(timeout_ms);

	h->e = e;
	h->ep = ep;
	h->owner = owner;
	h->reqerr = -1;
	if ((h->in = evbuffer_new()) == NULL)
		fatalx("evbuffer_new failed");
	if (p->tls) {
		SSL *ssl = http_ssl(e, p);
		struct bufferevent *bev = bufferevent_openssl_socket_new(
			e->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
			BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);

		if (bev == NULL)
			fatalx("bufferevent_openssl_socket_new failed");
		/* etcd's Go server may close without close_notify. */
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
		h->conn = evhttp_connection_base_bufferevent_new(e->base, NULL, bev, p->host,
								 p->port);
	} else {
		h->conn = evhttp_connection_base_new(e->base, NULL, p->host, p->port);
	}
	if (h->conn == NULL)
		fatalx("evhttp_connection_base_new failed");
	if (e->source[0] != '\0')
		evhttp_connection_set_local_address(h->conn, e->source);
	evhttp_connection_set_timeout_tv(h->conn, &tv);
	if (!stream)
		evhttp_connection_set_max_body_size(h->conn, ETCD_MAX_BODY);
	if (evbuffer_add_cb(bufferevent_get_output(evhttp_connection_get_bufferevent(h->conn)),
			    http_output_cb, h) == NULL)
		fatalx("evbuffer_add_cb failed");

	if ((req = evhttp_request_new(http_done_cb, h)) == NULL)
		fatalx("evhttp_request_new failed");
	evhttp_request_set_error_cb(req, http_error_cb);
	if (stream)
		evhttp_request_set_chunked_cb(req, http_chunk_cb);
	hdr = evhttp_request_get_output_headers(req);
	if (evhttp_add_header(hdr, "Host", p->hosthdr) != 0 ||
	    evhttp_add_header(hdr, "Content-Type", "application/json") != 0 ||
	    /* gRPC metadata: a member without a leader refuses at once rather than hang. */
	    evhttp_add_header(hdr, "Grpc-Metadata-hasleader", "true") != 0 ||
	    evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body)) != 0)
		fatalx("cannot build an HTTP request");
	/*
	 * On failure evhttp has called http_done_cb already (a connect that
	 * failed at once) or keeps nothing; either way the attempt is over.
	 */
	if (evhttp_make_request(h->conn, req, EVHTTP_REQ_POST, path) != 0 && !h->done) {
		h->done = 1;
		http_wake(h);
	}
	log_debug("etcd %s: POST %s", p->url, path);
	return h;
}

/* Changes a request's state, tracing it. */
static void
req_set_state(struct etcd_req *rq, enum etcd_req_state s)
{
	log_debug("etcd %s request %p: %s -> %s", rq->path, (void *)rq,
		  etcd_req_state_names[rq->state], etcd_req_state_names[s]);
	rq->state = s;
}

/* Ends a request with what rq->res holds; it is delivered from the request's event. */
static void
req_finish(struct etcd_req *rq)
{
	http_free(rq->http);
	rq->http = NULL;
	req_set_state(rq, ETCD_REQ_DONE);
	event_active(rq->ev, ETCD_WAKE, 0);
}

/* Ends a request with an outcome of the module's own. */
static void
req_fail(struct etcd_req *rq, int err, int code, const char *why)
{
	etcd_result_clear(&rq->res);
	rq->res.err = err;
	rq->res.code = code;
	rq->res.message = xstrdup(why);
	req_finish(rq);
}

/* The pause before attempt number tries + 1: none within a round over the endpoints. */
static uint64_t
etcd_backoff(const struct etcd *e, unsigned tries)
{
	unsigned rounds = tries / (unsigned)e->nep;
	uint64_t ms = ETCD_BACKOFF_MIN_MS;

	if (tries == 0 || tries % e->nep != 0)
		return 0;
	while (--rounds > 0 && ms < ETCD_BACKOFF_MAX_MS)
		ms *= 2;
	return ms < ETCD_BACKOFF_MAX_MS ? ms : ETCD_BACKOFF_MAX_MS;
}

/* The attempt failed and nothing was applied (or harmlessly): the next endpoint, in time. */
static void
req_failover(struct etcd_req *rq, const char *why)
{
	struct etcd *e = rq->e;
	size_t ep = rq->http->ep;
	uint64_t at;

	snprintf(rq->why, sizeof(rq->why), "%s: %s", e->ep[ep].url, why);
	etcd_ep_failed(e, ep, why);
	http_free(rq->http);
	rq->http = NULL;
	etcd_result_clear(&rq->res); /* an error answer of this attempt */
	rq->tries++;
	rq->next_ep = (ep + 1) % e->nep;
	at = cfs_now_ms() + etcd_backoff(e, rq->tries);
	if (at >= rq->deadline) {
		char msg[256];

		snprintf(msg, sizeof(msg), "no etcd endpoint answered within %u ms (last: %s)",
			 e->timeout_ms, rq->why);
		req_fail(rq, ETCD_UNREACHABLE, 0, msg);
		return;
	}
	req_set_state(rq, ETCD_REQ_WAITING);
	etcd_arm(rq->ev, at);
}

/* The answer is lost, and the request may have been applied. */
static void
req_unknown(struct etcd_req *rq, const char *why, int code)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "%s: %s: the request may have been applied",
		 rq->e->ep[rq->http->ep].url, why);
	etcd_ep_failed(rq->e, rq->http->ep, why);
	req_fail(rq, ETCD_UNKNOWN, code, msg);
}

/*
 * True for etcd errors that may come after the request was proposed, so
 * that it may have been applied: etcd's own timeouts, a leader change, the
 * gateway's deadline on its call to etcd.  Not "no leader": a member that
 * was asked for a leader ("hasleader") refuses with it before proposing.
 */
static int
etcd_error_ambiguous(const struct etcd_result *r)
{
	switch (r->code) {
	case 1: /* Canceled */
	case 4: /* DeadlineExceeded */
		return 1;
	case 14: /* Unavailable: request timed out, leader changed, server stopped */
		return strcmp(r->message, "etcdserver: no leader") != 0;
	case 2: /* Unknown: how the 3.4 gateway passes on its own deadline */
		return strstr(r->message, "context deadline exceeded") != NULL ||
		       strstr(r->message, "context canceled") != NULL;
	default:
		return 0;
	}
}

/* evhttp is done with the attempt: an answer to parse, or none. */
static void
req_answered(struct etcd_req *rq)
{
	struct etcd_http *h = rq->http;
	struct etcd_result *r = &rq->res;
	size_t len = evbuffer_get_length(h->in);
	const char *body;
	char why[256];

	if (h->status == 0) {
		if (!h->sent || rq->resend)
			req_failover(rq, http_failure(h));
		else
			req_unknown(rq, http_failure(h), 0);
		return;
	}
	body = len > 0 ? (const char *)evbuffer_pullup(h->in, -1) : "";
	if (etcd_parse_reply(rq->kind, body, len, r) == 0) {
		if (h->status != 200) {
			snprintf(why, sizeof(why), "%s: HTTP status %d with a success body",
				 rq->e->ep[h->ep].url, h->status);
			req_fail(rq, ETCD_BAD_REPLY, 0, why);
			return;
		}
		req_finish(rq);
		return;
	}
	if (r->err == ETCD_ERROR && (r->code == 14 || etcd_error_ambiguous(r))) {
		int code = r->code;

		snprintf(why, sizeof(why), "%s", r->message);
		if (rq->resend || !etcd_error_ambiguous(r))
			req_failover(rq, why); /* another member may do it */
		else
			req_unknown(rq, why, code);
		return;
	}
	if (r->err == ETCD_BAD_REPLY && h->status != 200) {
		/* Not the gateway's JSON: what HTTP said is more telling. */
		snprintf(why, sizeof(why), "%s: HTTP status %d", rq->e->ep[h->ep].url, h->status);
		req_fail(rq, ETCD_BAD_REPLY, 0, why);
		return;
	}
	req_finish(rq); /* etcd's error, or the reply that did not parse */
}

/* Starts an attempt on the request's next endpoint. */
static void
req_attempt(struct etcd_req *rq)
{
	uint64_t now = cfs_now_ms();

	rq->connect_by =
		now + ETCD_CONNECT_MS < rq->deadline ? now + ETCD_CONNECT_MS : rq->deadline;
	req_set_state(rq, ETCD_REQ_INFLIGHT);
	rq->http = http_start(rq->e, rq->next_ep, rq->path, rq->body, rq->ev, 0,
			      rq->deadline > now ? rq->deadline - now : 1);
	etcd_arm(rq->ev, rq->connect_by);
}

/* Frees a request that is off the list. */
static void
req_free(struct etcd_req *rq)
{
	http_free(rq->http);
	event_free(rq->ev);
	free(rq->body);
	etcd_result_clear(&rq->res);
	free(rq);
}

/* Hands the result over, then frees the request (and the client, if etcd_free ran meanwhile). */
static void
req_deliver(struct etcd_req *rq)
{
	struct etcd *e = rq->e;

	TAILQ_REMOVE(&e->reqs, rq, entry);
	e->depth++;
	rq->cb(rq->arg, &rq->res);
	e->depth--;
	req_free(rq);
	if (e->dead && e->depth == 0)
		etcd_destroy(e);
}

/* A request's event: starts attempts, watches the clock, takes the answer, delivers. */
static void
req_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct etcd_req *rq = arg;
	uint64_t now = cfs_now_ms();
	char why[64];

	switch (rq->state) {
	case ETCD_REQ_WAITING:
		req_attempt(rq);
		break;
	case ETCD_REQ_INFLIGHT:
		if (rq->http->done) {
			req_answered(rq);
		} else if (now >= rq->deadline) {
			snprintf(why, sizeof(why), "no answer within %u ms", rq->e->timeout_ms);
			/* A lost range changed nothing, a lost keepalive may have renewed. */
			if (rq->http->sent && rq->kind != ETCD_K_RANGE)
				req_unknown(rq, why, 0);
			else
				req_failover(rq, why); /* past the deadline: ETCD_UNREACHABLE */
		} else if (!rq->http->sent && now >= rq->connect_by) {
			snprintf(why, sizeof(why), "no connection within %d ms", ETCD_CONNECT_MS);
			req_failover(rq, why);
		} else {
			etcd_arm(rq->ev, rq->http->sent ? rq->deadline : rq->connect_by);
		}
		break;
	case ETCD_REQ_DONE:
		req_deliver(rq);
		break;
	default:
		fatalx("etcd request in state %d", rq->state);
	}
}

/* Queues a request (body malloc'd, owned from now on); it starts from the loop. */
static int
req_submit(struct etcd *e, enum etcd_kind kind, const char *path, char *body, int resend,
	   etcd_cb cb, void *arg)
{
	struct etcd_req *rq;

	if (e->dead) {
		free(body);
		return -1;
	}
	rq = xcalloc(1, sizeof(*rq));
	rq->e = e;
	rq->kind = kind;
	rq->path = path;
	rq->body = body;
	rq->resend = resend;
	rq->cb = cb;
	rq->arg = arg;
	rq->state = ETCD_REQ_WAITING;
	rq->deadline = cfs_now_ms() + e->timeout_ms;
	rq->next_ep = e->cur;
	if ((rq->ev = evtimer_new(e->base, req_ev_cb, rq)) == NULL)
		fatalx("evtimer_new failed");
	TAILQ_INSERT_TAIL(&e->reqs, rq, entry);
	event_active(rq->ev, ETCD_WAKE, 0);
	return 0;
}

int
etcd_put(struct etcd *e, const void *key, size_t keylen, const void *val, size_t vallen,
	 int64_t lease, etcd_cb cb, void *arg)
{
	if (keylen == 0 || e->dead)
		return -1;
	return req_submit(e, ETCD_K_PUT, "/v3/kv/put",
			  etcd_json_put(key, keylen, val, vallen, lease), 0, cb, arg);
}

int
etcd_range(struct etcd *e, const void *key, size_t keylen, int prefix, etcd_cb cb, void *arg)
{
	if ((keylen == 0 && !prefix) || e->dead)
		return -1;
	return req_submit(e, ETCD_K_RANGE, "/v3/kv/range", etcd_json_range(key, keylen, prefix),
			  1, cb, arg);
}

int
etcd_delete(struct etcd *e, const void *key, size_t keylen, etcd_cb cb, void *arg)
{
	if (keylen == 0 || e->dead)
		return -1;
	return req_submit(e, ETCD_K_DELETE, "/v3/kv/deleterange", etcd_json_delete(key, keylen), 0,
			  cb, arg);
}

int
etcd_cas(struct etcd *e, const void *key, size_t keylen, int64_t mod_rev, const void *val,
	 size_t vallen, int64_t lease, etcd_cb cb, void *arg)
{
	if (keylen == 0 || mod_rev < 0 || e->dead)
		return -1;
	return req_submit(e, ETCD_K_TXN, "/v3/kv/txn",
			  etcd_json_cas(key, keylen, mod_rev, val, vallen, lease), 0, cb, arg);
}

int
etcd_cas_delete(struct etcd *e, const void *key, size_t keylen, int64_t mod_rev, etcd_cb cb,
		void *arg)
{
	if (keylen == 0 || mod_rev <= 0 || e->dead)
		return -1;
	return req_submit(e, ETCD_K_TXN, "/v3/kv/txn", etcd_json_cas_delete(key, keylen, mod_rev),
			  0, cb, arg);
}

int
etcd_lease_grant(struct etcd *e, int64_t ttl_s, etcd_cb cb, void *arg)
{
	if (ttl_s <= 0 || e->dead)
		return -1;
	return req_submit(e, ETCD_K_GRANT, "/v3/lease/grant", etcd_json_number("TTL", ttl_s), 0,
			  cb, arg);
}

int
etcd_lease_keepalive(struct etcd *e, int64_t lease, etcd_cb cb, void *arg)
{
	if (e->dead)
		return -1;
	/* The keepalive stream answers once and ends with the request body. */
	return req_submit(e, ETCD_K_KEEPALIVE, "/v3/lease/keepalive",
			  etcd_json_number("ID", lease), 1, cb, arg);
}

int
etcd_lease_revoke(struct etcd *e, int64_t lease, etcd_cb cb, void *arg)
{
	if (e->dead)
		return -1;
	return req_submit(e, ETCD_K_REVOKE, "/v3/lease/revoke", etcd_json_number("ID", lease), 0,
			  cb, arg);
}

/* Changes a watch's state, tracing it. */
static void
watch_set_state(struct etcd_watch *w, enum etcd_watch_state s)
{
	log_debug("etcd watch %p: %s -> %s", (void *)w, etcd_watch_state_names[w->state],
		  etcd_watch_state_names[s]);
	w->state = s;
}

/* Frees a watch and takes it off the client's list. */
static void
watch_free(struct etcd_watch *w)
{
	TAILQ_REMOVE(&w->e->watches, w, entry);
	http_free(w->http);
	event_free(w->ev);
	free(w->prefix);
	free(w);
}

/*
 * Calls the watch's callback.  Returns -1 when the watch or the whole
 * client is gone afterwards (etcd_watch_cancel, etcd_free inside it): the
 * caller must not touch either then.
 */
static int
watch_call(struct etcd_watch *w, int type, const struct etcd_kv *kv)
{
	struct etcd *e = w->e;

	e->depth++;
	w->in_cb = 1;
	w->cb(w->arg, type, kv);
	w->in_cb = 0;
	e->depth--;
	if (e->dead) {
		if (e->depth == 0)
			etcd_destroy(e);
		return -1;
	}
	if (w->dead) {
		watch_free(w);
		return -1;
	}
	return 0;
}

/* The watch is over for good: says why, once, with the prefix as the key. */
static void
watch_end(struct etcd_watch *w, int type, int64_t rev, const char *why)
{
	struct etcd_kv kv;

	http_free(w->http);
	w->http = NULL;
	event_del(w->ev);
	watch_set_state(w, ETCD_W_OVER);
	log_warnx("etcd watch on %s from revision %" PRId64 " ended: %s", etcd_endpoint(w->e),
		  w->next_rev, why);
	memset(&kv, 0, sizeof(kv));
	kv.key = w->prefix;
	kv.keylen = w->prefixlen;
	kv.value = (const uint8_t *)"";
	kv.mod_revision = rev;
	(void)watch_call(w, type, &kv);
}

/* Asks TCP to notice a dead peer under a quiet stream within about half a minute. */
static void
http_keepalive(struct etcd_http *h)
{
	evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(h->conn));
	int one = 1, idle = ETCD_KEEPIDLE_S, intvl = ETCD_KEEPINTVL_S, cnt = ETCD_KEEPCNT;

	if (fd < 0)
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) != 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)) != 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) != 0)
		log_warn("etcd watch: TCP keepalive");
}

/* Starts an attempt to make the watch on its next endpoint. */
static void
watch_attempt(struct etcd_watch *w)
{
	uint64_t now = cfs_now_ms();
	char *body = etcd_json_watch(w->prefix, w->prefixlen, w->next_rev);

	w->connect_by = now + ETCD_CONNECT_MS < w->deadline ? now + ETCD_CONNECT_MS : w->deadline;
	watch_set_state(w, ETCD_W_CREATING);
	w->http = http_start(w->e, w->next_ep, "/v3/watch", body, w->ev, 1,
			     (uint64_t)ETCD_WATCH_IDLE_S * 1000);
	free(body);
	etcd_arm(w->ev, w->connect_by);
}

/* The stream failed or ended: make it again on the next endpoint, or give up past the deadline. */
static void
watch_broken(struct etcd_watch *w, const char *why)
{
	struct etcd *e = w->e;
	size_t ep = w->http->ep;
	uint64_t now = cfs_now_ms(), at;
	char msg[256];

	snprintf(msg, sizeof(msg), "%s: %s", e->ep[ep].url, why);
	etcd_ep_failed(e, ep, why);
	http_free(w->http);
	w->http = NULL;
	if (w->state == ETCD_W_RUNNING) {
		/* A stream that was up: a whole timeout to make it again. */
		log_warnx("etcd watch broke (%s): making it again from revision %" PRId64, msg,
			  w->next_rev);
		w->deadline = now + e->timeout_ms;
		w->tries = 0;
	}
	w->tries++;
	w->next_ep = (ep + 1) % e->nep;
	at = now + etcd_backoff(e, w->tries);
	if (at >= w->deadline) {
		char end[300];

		snprintf(end, sizeof(end), "no endpoint kept it up within %u ms (last: %s)",
			 e->timeout_ms, msg);
		watch_end(w, ETCD_EV_BROKEN, 0, end);
		return;
	}
	watch_set_state(w, ETCD_W_WAITING);
	etcd_arm(w->ev, at);
}

/*
 * One line of the stream.  Returns 0 to go on, 1 when the watch is over or
 * gone (do not touch it), -1 when the stream is unusable (why in w->why).
 */
static int
watch_msg(struct etcd_watch *w, const struct etcd_watch_msg *m)
{
	int64_t last = 0;
	size_t i;

	if (m->canceled) {
		if (m->compact_revision > 0) {
			char why[80];

			snprintf(why, sizeof(why), "compacted up to revision %" PRId64,
				 m->compact_revision);
			watch_end(w, ETCD_EV_COMPACTED, m->compact_revision, why);
			return 1;
		}
		snprintf(w->why, sizeof(w->why), "canceled by etcd: %s",
			 m->reason != NULL ? m->reason : "no reason given");
		return -1;
	}
	if (m->created && w->state == ETCD_W_CREATING) {
		watch_set_state(w, ETCD_W_RUNNING);
		w->tries = 0;
		/* From now: the first revision after the one it was made at. */
		if (w->next_rev == 0)
			w->next_rev = m->revision + 1;
		http_keepalive(w->http);
		event_del(w->ev);
	}
	if (m->nevents > 0 && w->state != ETCD_W_RUNNING) {
		snprintf(w->why, sizeof(w->why), "events before the watch was created");
		return -1;
	}
	for (i = 0; i < m->nevents; i++) {
		const struct etcd_event *ev = &m->events[i];

		/* Delivered before the stream broke and the watch was made again. */
		if (ev->kv.mod_revision < w->next_rev)
			continue;
		if (ev->kv.mod_revision > last)
			last = ev->kv.mod_revision;
		if (watch_call(w, ev->type, &ev->kv) != 0)
			return 1;
	}
	/* Only now: the events of one revision come in one line, all of them. */
	if (last >= w->next_rev)
		w->next_rev = last + 1;
	return 0;
}

/*
 * Delivers every whole line received; same returns as watch_msg.  A long
 * line comes in many pieces: the search for its end goes on from where it
 * stopped, rather than rescanning the line for each piece.
 */
static int
watch_read(struct etcd_watch *w)
{
	struct etcd_http *h = w->http;
	struct evbuffer *in = h->in;
	struct evbuffer_ptr p;
	struct etcd_watch_msg m;
	size_t n, eol;
	char *line;
	int rc;

	for (;;) {
		if (evbuffer_ptr_set(in, &p, h->scanned, EVBUFFER_PTR_SET) != 0)
			fatalx("evbuffer_ptr_set past the end");
		p = evbuffer_search_eol(in, &p, &eol, EVBUFFER_EOL_LF);
		if (p.pos < 0) {
			h->scanned = evbuffer_get_length(in);
			break;
		}
		n = (size_t)p.pos;
		line = xmalloc(n + 1);
		if (evbuffer_remove(in, line, n) != (int)n || evbuffer_drain(in, eol) != 0)
			fatalx("evbuffer_remove failed");
		line[n] = '\0';
		h->scanned = 0;
		if (n == 0) {
			free(line);
			continue;
		}
		rc = etcd_parse_watch(line, n, &m);
		free(line);
		if (rc != 0) {
			snprintf(w->why, sizeof(w->why), "%s", m.reason);
			etcd_watch_msg_clear(&m);
			return -1;
		}
		rc = watch_msg(w, &m);
		etcd_watch_msg_clear(&m);
		if (rc != 0)
			return rc;
	}
	if (evbuffer_get_length(in) > ETCD_MAX_LINE) {
		snprintf(w->why, sizeof(w->why), "a line of the stream over %u bytes",
			 ETCD_MAX_LINE);
		return -1;
	}
	return 0;
}

/* A watch's event: starts attempts, reads the stream, watches the clock. */
static void
watch_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct etcd_watch *w = arg;
	uint64_t now;
	char why[sizeof(w->why)];

	if (w->state == ETCD_W_OVER)
		return;
	if (w->http != NULL) {
		int rc = watch_read(w);

		if (rc > 0)
			return;
		if (rc < 0) {
			snprintf(why, sizeof(why), "%s", w->why);
			watch_broken(w, why);
			return;
		}
		if (w->http->done) {
			watch_broken(w, w->http->status == 0 ? http_failure(w->http)
							     : "the stream ended");
			return;
		}
	}
	now = cfs_now_ms();
	switch (w->state) {
	case ETCD_W_WAITING:
		watch_attempt(w);
		break;
	case ETCD_W_CREATING:
		if (now >= w->deadline) {
			snprintf(why, sizeof(why), "not created within %u ms", w->e->timeout_ms);
			watch_broken(w, why);
		} else if (!w->http->sent && now >= w->connect_by) {
			snprintf(why, sizeof(why), "no connection within %d ms", ETCD_CONNECT_MS);
			watch_broken(w, why);
		} else {
			etcd_arm(w->ev, w->http->sent ? w->deadline : w->connect_by);
		}
		break;
	case ETCD_W_RUNNING:
	case ETCD_W_OVER:
		break;
	default:
		fatalx("etcd watch in state %d", w->state);
	}
}

struct etcd_watch *
etcd_watch(struct etcd *e, const void *prefix, size_t prefixlen, int64_t start_rev,
	   etcd_watch_cb cb, void *arg)
{
	struct etcd_watch *w;

	if (e->dead)
		return NULL;
	w = xcalloc(1, sizeof(*w));
	w->e = e;
	w->prefix = xmalloc(prefixlen + 1);
	if (prefixlen > 0)
		memcpy(w->prefix, prefix, prefixlen);
	w->prefix[prefixlen] = '\0';
	w->prefixlen = prefixlen;
	w->next_rev = start_rev > 0 ? start_rev : 0;
	w->cb = cb;
	w->arg = arg;
	w->state = ETCD_W_WAITING;
	w->deadline = cfs_now_ms() + e->timeout_ms;
	w->next_ep = e->cur;
	if ((w->ev = evtimer_new(e->base, watch_ev_cb, w)) == NULL)
		fatalx("evtimer_new failed");
	TAILQ_INSERT_TAIL(&e->watches, w, entry);
	event_active(w->ev, ETCD_WAKE, 0);
	return w;
}

void
etcd_watch_cancel(struct etcd_watch *w)
{
	if (w == NULL)
		return;
	if (w->in_cb) {
		w->dead = 1; /* freed by watch_call when the callback returns */
		return;
	}
	watch_free(w);
}

/* Frees the client and everything it holds, without calling back. */
static void
etcd_destroy(struct etcd *e)
{
	struct etcd_req *rq;
	struct etcd_watch *w;
	size_t i;

	while ((rq = TAILQ_FIRST(&e->reqs)) != NULL) {
		TAILQ_REMOVE(&e->reqs, rq, entry);
		req_free(rq);
	}
	while ((w = TAILQ_FIRST(&e->watches)) != NULL)
		watch_free(w);
	for (i = 0; i < e->nep; i++)
		etcd_ep_clear(&e->ep[i]);
	SSL_CTX_free(e->tls);
	free(e);
}

void
etcd_free(struct etcd *e)
{
	if (e == NULL)
		return;
	if (e->depth > 0) {
		e->dead = 1; /* inside a callback: freed when it returns */
		return;
	}
	etcd_destroy(e);
}
