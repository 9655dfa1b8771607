/* A node's metrics and the HTTP endpoint that serves them; see metrics.h. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "common/log.h"
#include "daemon/coord.h"
#include "daemon/metrics.h"
#include "daemon/node.h"

/* A scrape is one small request; a client that dawdles longer is dropped. */
#define METRICS_HTTP_TIMEOUT 10
#define METRICS_MAX_HEADERS 8192
#define METRICS_MAX_BODY 1024
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/*
 * Upper bounds of the latency buckets, in nanoseconds and as written in the
 * "le" label.  From 10 us, a read of a warm LMDB page, to 10 s.
 */
static const uint64_t metrics_bounds_ns[METRICS_BUCKETS] = {
    10000,     25000,      50000,      100000,     250000,      500000,    1000000,
    2500000,   5000000,    10000000,   25000000,   50000000,    100000000, 250000000,
    500000000, 1000000000, 2500000000, 5000000000, 10000000000,
};
static const char *metrics_bounds_le[METRICS_BUCKETS] = {
    "1e-05", "2.5e-05", "5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01",
    "0.025", "0.05",    "0.1",   "0.25",   "0.5",     "1",      "2.5",   "5",      "10",
};

/*
 * Label values of chainfs_connections{role}, by node_peer_state.  They are
 * part of the metrics interface, so they live here rather than follow the
 * wording of the log.
 */
static const char *metrics_peer_roles[PEER_max] = {
    [PEER_HELLO] = "pending",
    [PEER_CLIENT] = "client",
    [PEER_ADMIN] = "admin",
    [PEER_PRED] = "predecessor",
};

static const char *metrics_tls_dirs[METRICS_TLS_max] = {
    [METRICS_TLS_IN] = "in",
    [METRICS_TLS_OUT] = "out",
};

/*
 * evhttp owns the endpoint's listener and gives its error callback evhttp's
 * own argument, so that callback finds the endpoint here.  A chainfsd process
 * runs one node, hence one endpoint.
 */
static struct metrics *metrics_endpoint;

/* Monotonic nanoseconds. */
uint64_t
metrics_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Adds now - start to the histogram. */
void
metrics_observe(struct metrics_hist *h, uint64_t start)
{
	uint64_t now = metrics_now(), ns = now > start ? now - start : 0;
	size_t i;

	for (i = 0; i < METRICS_BUCKETS; i++)
		if (ns <= metrics_bounds_ns[i])
			break;
	h->bucket[i]++;
	h->count++;
	h->sum_ns += ns;
}

/* Writes the HELP and TYPE lines of one metric. */
static void
metrics_put_head(struct evbuffer *b, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Writes one metric without labels, HELP and TYPE included. */
static void
metrics_put_one(struct evbuffer *b, const char *name, const char *type, const char *help,
                uint64_t v)
{
	metrics_put_head(b, name, type, help);
	evbuffer_add_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

/* Writes the samples of one histogram; label is "" or 'key="value"'. */
static void
metrics_put_hist(struct evbuffer *b, const char *name, const char *label,
                 const struct metrics_hist *h)
{
	const char *sep = *label ? "," : "";
	uint64_t cum = 0;

	for (size_t i = 0; i < METRICS_BUCKETS; i++) {
		cum += h->bucket[i];
		evbuffer_add_printf(b, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, label, sep,
		                    metrics_bounds_le[i], (unsigned long long)cum);
	}
	cum += h->bucket[METRICS_BUCKETS];
	evbuffer_add_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, label, sep,
	                    (unsigned long long)cum);
	if (*label) {
		evbuffer_add_printf(b, "%s_sum{%s} %.9f\n", name, label, (double)h->sum_ns / 1e9);
		evbuffer_add_printf(b, "%s_count{%s} %llu\n", name, label,
		                    (unsigned long long)h->count);
	} else {
		evbuffer_add_printf(b, "%s_sum %.9f\n", name, (double)h->sum_ns / 1e9);
		evbuffer_add_printf(b, "%s_count %llu\n", name, (unsigned long long)h->count);
	}
}

/* The op label of a slot: its name, or "other" for slot 0. */
static const char *
metrics_op_label(unsigned slot)
{
	return slot != 0 && cfs_op_is_valid((uint16_t)slot) ? cfs_op_name((uint16_t)slot) : "other";
}

/* Formats every metric of the node. */
static void
metrics_render(struct node *n, struct evbuffer *b)
{
	const struct metrics *m = &n->metrics;
	const struct chain_stats *cs = &n->chain.stats;
	unsigned role = n->chain.role;
	char label[64];

	metrics_put_head(b, "chainfs_node_info", "gauge",
	                 "Always 1; names this node and its place in the chain.");
	evbuffer_add_printf(b, "chainfs_node_info{node=\"%s\",role=\"%s\"} 1\n",
	                    n->conf->nodes[n->self].addr.name,
	                    role == (CFS_ROLE_HEAD | CFS_ROLE_TAIL) ? "head+tail"
	                    : role & CFS_ROLE_HEAD                  ? "head"
	                    : role & CFS_ROLE_TAIL                  ? "tail"
	                                                            : "middle");

	metrics_put_head(b, "chainfs_requests_total", "counter",
	                 "Client REQUEST frames received, by operation.");
	for (unsigned i = 0; i < METRICS_OP_SLOTS; i++)
		if (m->requests[i] != 0)
			evbuffer_add_printf(b, "chainfs_requests_total{op=\"%s\"} %llu\n",
			                    metrics_op_label(i),
			                    (unsigned long long)m->requests[i]);

	metrics_put_head(b, "chainfs_request_seconds", "histogram",
	                 "Time from reading a request to queueing its reply, for the requests "
	                 "this node answers itself: reads at the tail, updates on a chain of "
	                 "one node.");
	for (unsigned i = 0; i < METRICS_OP_SLOTS; i++) {
		if (m->request[i].count == 0)
			continue;
		snprintf(label, sizeof(label), "op=\"%s\"", metrics_op_label(i));
		metrics_put_hist(b, "chainfs_request_seconds", label, &m->request[i]);
	}

	metrics_put_head(b, "chainfs_apply_seconds", "histogram",
	                 "Time to apply one entry to this node's open store transaction, "
	                 "including resolving it at the head; the commit is not included.");
	metrics_put_hist(b, "chainfs_apply_seconds", "", &m->apply);

	metrics_put_one(b, "chainfs_entries_applied_total", "counter",
	                "Entries applied to this node's store.", cs->entries_applied);
	metrics_put_one(b, "chainfs_updates_total", "counter",
	                "Client updates turned into entries (head only).", cs->updates);
	metrics_put_one(b, "chainfs_reply_only_total", "counter",
	                "Of those, retries answered from the result table (head only).",
	                cs->reply_only);
	metrics_put_one(b, "chainfs_bytes_replicated_total", "counter",
	                "Entry bytes forwarded to the successor, resends included.",
	                cs->bytes_replicated);
	metrics_put_one(b, "chainfs_divergences_total", "counter",
	                "Entries whose result here differed from the head's; always a bug.",
	                cs->divergences);
	metrics_put_one(b, "chainfs_syncs_total", "counter",
	                "Flushes of the store to stable storage.", cs->syncs);
	metrics_put_one(b, "chainfs_applied_sn", "gauge",
	                "Sequence number of the last entry applied here.", store_applied_sn(n->st));
	metrics_put_one(b, "chainfs_sent_list_entries", "gauge",
	                "Entries forwarded to the successor and not yet acknowledged.",
	                chain_sent_len(&n->chain));

	metrics_put_one(b, "chainfs_epoch", "gauge", "The configuration epoch this node follows.",
	                n->chain.epoch);
	metrics_put_one(b, "chainfs_epoch_changes_total", "counter",
	                "Configurations this node took since it started.", n->epoch_changes);
	metrics_put_one(b, "chainfs_serving", "gauge",
	                "1 while the node answers clients; 0 while fenced, waiting as a new "
	                "tail, or without a configuration.",
	                (uint64_t)n->serving);
	metrics_put_one(b, "chainfs_sync_acked_sn", "gauge",
	                "Tail: how far the node syncing behind it has acknowledged (0: none).",
	                n->chain.succ_joining ? n->chain.sync_acked_sn : 0);
	metrics_put_one(b, "chainfs_snapshot_bytes_sent_total", "counter",
	                "Bytes of store records sent in snapshots to syncing nodes.",
	                n->snapshot_bytes_sent);
	metrics_put_one(b, "chainfs_snapshot_bytes_received_total", "counter",
	                "Bytes of store records received in snapshots.",
	                n->snapshot_bytes_received);
	if (n->coord != NULL) {
		const struct coord_stats *st = coord_stats(n->coord);

		metrics_put_one(b, "chainfs_fenced_total", "counter",
		                "Times this node fenced itself for want of a fresh etcd lease.",
		                st->fenced);
		metrics_put_one(b, "chainfs_etcd_errors_total", "counter",
		                "etcd requests that failed or went unanswered.", st->etcd_errors);
		metrics_put_one(b, "chainfs_config_changes_total", "counter",
		                "Configurations this node wrote to etcd as the master.",
		                st->config_changes);
		metrics_put_one(b, "chainfs_last_failover_milliseconds", "gauge",
		                "Master: from a member's registration vanishing to the configuration "
		                "without it being written (0: none yet).",
		                st->last_failover_ms);
	}

	metrics_put_head(b, "chainfs_connections", "gauge",
	                 "Open connections: accepted ones by what the peer said it is "
	                 "(pending: before its HELLO), and the link to the successor.");
	for (unsigned i = 0; i < PEER_max; i++)
		evbuffer_add_printf(b, "chainfs_connections{role=\"%s\"} %u\n",
		                    metrics_peer_roles[i], n->npeers[i]);
	evbuffer_add_printf(b, "chainfs_connections{role=\"successor\"} %d\n",
	                    n->succ != NULL && n->succ_ready);
	metrics_put_one(b, "chainfs_connections_accepted_total", "counter",
	                "Connections accepted since the node started.", m->accepted);

	metrics_put_head(b, "chainfs_tls_handshake_failures_total", "counter",
	                 "TLS handshakes that failed, on connections this node accepted (in) "
	                 "or on its link to the successor (out).");
	for (unsigned i = 0; i < METRICS_TLS_max; i++)
		evbuffer_add_printf(b,
		                    "chainfs_tls_handshake_failures_total{direction=\"%s\"} %llu\n",
		                    metrics_tls_dirs[i], (unsigned long long)m->tls_failures[i]);
}

/* Sends a short plain-text answer with status code. */
static void
metrics_http_reply(struct evhttp_request *req, int code, const char *reason, const char *text)
{
	struct evbuffer *body = evbuffer_new();

	if (body == NULL)
		fatalx("evbuffer_new failed");
	evbuffer_add(body, text, strlen(text));
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "text/plain; charset=utf-8");
	evhttp_send_reply(req, code, reason, body);
	evbuffer_free(body);
}

/* Answers every HTTP request: GET or HEAD of /metrics, 404 or 405 otherwise. */
static void
metrics_http_cb(struct evhttp_request *req, void *arg)
{
	struct node *n = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evbuffer *body;

	if (path == NULL || strcmp(path, "/metrics") != 0) {
		metrics_http_reply(req, HTTP_NOTFOUND, "Not Found", "not found: try /metrics\n");
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		metrics_http_reply(req, HTTP_BADMETHOD, "Method Not Allowed",
		                   "method not allowed: use GET\n");
		return;
	}
	body = evbuffer_new();
	if (body == NULL)
		fatalx("evbuffer_new failed");
	metrics_render(n, body);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  METRICS_CONTENT_TYPE);
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

/* Timer: accept scrapes again after running out of descriptors. */
static void
metrics_listen_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metrics *m = arg;

	evconnlistener_enable(m->listener);
}

/* accept() failed: pause for a second instead of spinning, as the node's listener does. */
static void
metrics_accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct timeval tv = {1, 0};
	int err = EVUTIL_SOCKET_ERROR();

	if (metrics_endpoint == NULL || metrics_endpoint->listener != l)
		return;
	log_warnx("metrics: accept: %s; pausing for a second", strerror(err));
	evconnlistener_disable(l);
	event_add(metrics_endpoint->listen_retry, &tv);
}

/* Whether the socket is bound to a loopback address. */
static int
metrics_on_loopback(evutil_socket_t fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;

		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)&ss)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return 0;
}

/* Opens the endpoint of the node's "metrics HOST:PORT", if any. */
int
metrics_start(struct node *n)
{
	const struct cfs_node_addr *a = &n->conf->nodes[n->self].metrics;
	struct metrics *m = &n->metrics;
	struct evhttp_bound_socket *bs;

	if (a->port == 0)
		return 0;
	m->http = evhttp_new(n->base);
	if (m->http == NULL) {
		log_warnx("metrics: evhttp_new failed");
		return -1;
	}
	/* Every method reaches metrics_http_cb, which answers 405 itself. */
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	                                        EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	                                        EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
	                                        EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_timeout(m->http, METRICS_HTTP_TIMEOUT);
	evhttp_set_max_headers_size(m->http, METRICS_MAX_HEADERS);
	evhttp_set_max_body_size(m->http, METRICS_MAX_BODY);
	evhttp_set_gencb(m->http, metrics_http_cb, n);
	bs = evhttp_bind_socket_with_handle(m->http, a->host, a->port);
	if (bs == NULL) {
		log_warn("metrics: cannot listen on %s:%u", a->host, a->port);
		return -1;
	}
	m->listener = evhttp_bound_socket_get_listener(bs);
	m->listen_retry = evtimer_new(n->base, metrics_listen_retry_cb, m);
	evconnlistener_set_error_cb(m->listener, metrics_accept_error_cb);
	metrics_endpoint = m;
	if (!metrics_on_loopback(evhttp_bound_socket_get_fd(bs)))
		log_warnx("metrics endpoint %s:%u is not on loopback: anyone who can reach it "
		          "reads this node's metrics, without TLS or authentication",
		          a->host, a->port);
	log_info("metrics at http://%s%s%s:%u/metrics", strchr(a->host, ':') ? "[" : "", a->host,
	         strchr(a->host, ':') ? "]" : "", a->port);
	return 0;
}

/* Closes the endpoint. */
void
metrics_stop(struct node *n)
{
	struct metrics *m = &n->metrics;

	if (metrics_endpoint == m)
		metrics_endpoint = NULL;
	if (m->listen_retry != NULL)
		event_free(m->listen_retry);
	m->listen_retry = NULL;
	m->listener = NULL; /* evhttp's */
	if (m->http != NULL)
		evhttp_free(m->http);
	m->http = NULL;
}
