/* A node's metrics and the HTTP endpoint that serves them; see metrics.h. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "common/log.h"
#include "daemon/coord.h"
#include "daemon/metrics.h"
#include "daemon/node.h"
#include "replication/lease.h"

/*
 * A scrape is one small request: its whole life, from accept to close, is
 * bounded by METRICS_DEADLINE_MS however its peer trickles, and its request
 * head by METRICS_MAX_HEADERS.  A body is never used, only drained while
 * the answer goes out, so it needs no limit of its own.
 */
#define METRICS_DEADLINE_MS 5000
/* How long, within that, an answered client has to close its side. */
#define METRICS_LINGER_MS 1000
#define METRICS_MAX_HEADERS 8192
#define METRICS_BACKLOG 64
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
	uint64_t sessions, results, parked, locks, waits, refs, orphans;
	struct lease_stats ls;
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

	/* Two series, so that an attack on the endpoint is not taken for one on the chain. */
	metrics_put_head(b, "chainfs_pending_evicted_total", "counter",
	                 "Connections not yet done with their handshake and HELLO (chain) or "
	                 "their request (metrics) closed to make room for newer ones, by "
	                 "listener.");
	evbuffer_add_printf(b, "chainfs_pending_evicted_total{listener=\"chain\"} %llu\n",
	                    (unsigned long long)n->pending.evicted);
	evbuffer_add_printf(b, "chainfs_pending_evicted_total{listener=\"metrics\"} %llu\n",
	                    (unsigned long long)m->admit.evicted);
	metrics_put_head(b, "chainfs_accept_refused_total", "counter",
	                 "Connections refused: closed at accept to keep the descriptors the node "
	                 "needs (descriptors), or at HELLO because the node has its maximum of "
	                 "clients (clients).");
	evbuffer_add_printf(b, "chainfs_accept_refused_total{reason=\"descriptors\"} %llu\n",
	                    (unsigned long long)n->refused);
	evbuffer_add_printf(b, "chainfs_accept_refused_total{reason=\"clients\"} %llu\n",
	                    (unsigned long long)n->busy_refused);
	metrics_put_one(b, "chainfs_output_queued_bytes", "gauge",
	                "Replies queued to clients and admin tools and not yet sent (at most "
	                "output-budget).",
	                n->out_queued);
	metrics_put_one(b, "chainfs_output_queued_peak_bytes", "gauge",
	                "The most chainfs_output_queued_bytes has been since the node started.",
	                n->out_queued_peak);
	metrics_put_one(b, "chainfs_clients_cut_total", "counter",
	                "Clients disconnected because they did not read their replies.",
	                n->budget_cut);
	if (node_lease_stats(n, &ls, &parked)) {
		metrics_put_one(b, "chainfs_leases", "gauge",
		                "Leases on cached attributes that this tail's clients hold now.",
		                ls.records);
		metrics_put_one(b, "chainfs_lease_grants_total", "counter",
		                "Leases granted or extended with answers.", ls.granted);
		metrics_put_one(b, "chainfs_lease_refused_total", "counter",
		                "Leases not granted: the inode was being recalled, or a limit.",
		                ls.refused);
		metrics_put_head(b, "chainfs_recalls_total", "counter",
		                 "Recalls sent to lease holders, by how they ended: acknowledged, "
		                 "or the holder's lease ran out first.");
		evbuffer_add_printf(b, "chainfs_recalls_total{outcome=\"sent\"} %llu\n",
		                    (unsigned long long)ls.recalled);
		evbuffer_add_printf(b, "chainfs_recalls_total{outcome=\"acked\"} %llu\n",
		                    (unsigned long long)ls.acked);
		evbuffer_add_printf(b, "chainfs_recalls_total{outcome=\"ran_out\"} %llu\n",
		                    (unsigned long long)ls.ran_out);
		metrics_put_one(b, "chainfs_recall_groups", "gauge",
		                "Updates whose replies wait for recalls now.", ls.groups);
		metrics_put_one(b, "chainfs_reads_parked", "gauge",
		                "Reads waiting until a recall of what they show is over.", parked);
	}
	if (store_sessions(n->st, &sessions, &results, NULL) == 0) {
		metrics_put_one(b, "chainfs_client_sessions", "gauge",
		                "Clients whose results the chain keeps: heard of within "
		                "session-ttl.",
		                sessions);
		metrics_put_one(b, "chainfs_client_results", "gauge",
		                "Results of updates kept for clients that may ask again.", results);
	}
	if (store_lock_stats(n->st, &locks, &waits) == 0) {
		metrics_put_one(b, "chainfs_locks", "gauge",
		                "Lock records held (a POSIX lock's range is one record; a flock "
		                "is one).",
		                locks);
		metrics_put_one(b, "chainfs_lock_waits", "gauge",
		                "Lock requests queued behind a lock held by another owner.", waits);
	}
	if (store_open_stats(n->st, &refs, &orphans) == 0) {
		metrics_put_one(b, "chainfs_open_refs", "gauge",
		                "Inodes held open, counted once per client session that holds each.",
		                refs);
		metrics_put_one(b, "chainfs_orphans", "gauge",
		                "Inodes with no name left that a client still holds open.", orphans);
	}
	metrics_put_one(b, "chainfs_lock_sessions_expired_total", "counter",
	                "Clients whose locks and open references this node, as the head, released "
	                "when their lock lease ran out.",
	                node_locks_expired(n));
}

/*
 * One scrape: a connection to the endpoint from its accept to its close,
 * for one request.  Its states:
 */
enum metrics_scrape_state {
	SCRAPE_READING, /* reading the request head */
	SCRAPE_WRITING, /* answer queued; input drained */
	SCRAPE_LINGER,  /* answer written, our side shut: closed at the client's end of file */
	SCRAPE_CLOSED,  /* on m->dead, freed by m->reap */
	SCRAPE_max
};

static const char *metrics_scrape_state_names[SCRAPE_max] = {
    [SCRAPE_READING] = "reading",
    [SCRAPE_WRITING] = "writing",
    [SCRAPE_LINGER] = "lingering",
    [SCRAPE_CLOSED] = "closed",
};

struct metrics_scrape {
	TAILQ_ENTRY(metrics_scrape) link; /* on m->scrapes, or m->dead once closed */
	struct cfs_pending pending;       /* in m->admit while open */
	struct node *n;
	enum metrics_scrape_state state;
	struct bufferevent *bev;
	struct event *deadline; /* METRICS_DEADLINE_MS after the accept; sooner to linger */
	uint64_t accepted_ms;   /* cfs_now_ms() at the accept */
	int peer_eof;           /* the client shut its side */
	size_t head_len;        /* bytes of the request head read so far */
	int have_line;          /* the request line was read and is good */
	int is_head;            /* it was a HEAD: no body in the answer */
	int code;               /* the answer due once the head ends */
	char peer[INET6_ADDRSTRLEN + 16];
};

/* Changes a scrape's state, tracing the transition. */
static void
metrics_scrape_set_state(struct metrics_scrape *s, enum metrics_scrape_state st)
{
	log_debug("metrics: %s: %s -> %s", s->peer, metrics_scrape_state_names[s->state],
	          metrics_scrape_state_names[st]);
	s->state = st;
}

/*
 * Closes a scrape at once, whatever its state.  It is freed from the loop
 * by m->reap, never here: this runs inside its own callbacks.  A per-node
 * event rather than event_base_once, as common/conn.c uses, so that
 * metrics_stop can free what is still waiting.
 */
static void
metrics_scrape_close(struct metrics_scrape *s)
{
	struct metrics *m = &s->n->metrics;

	if (s->state == SCRAPE_CLOSED)
		return;
	metrics_scrape_set_state(s, SCRAPE_CLOSED);
	cfs_admit_remove(&m->admit, &s->pending);
	event_del(s->deadline);
	bufferevent_disable(s->bev, EV_READ | EV_WRITE);
	bufferevent_setcb(s->bev, NULL, NULL, NULL, NULL);
	TAILQ_REMOVE(&m->scrapes, s, link);
	TAILQ_INSERT_TAIL(&m->dead, s, link);
	event_active(m->reap, EV_TIMEOUT, 1);
}

/* Frees the closed scrapes; their descriptors close with their bufferevents. */
static void
metrics_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metrics *m = arg;
	struct metrics_scrape *s;

	while ((s = TAILQ_FIRST(&m->dead)) != NULL) {
		TAILQ_REMOVE(&m->dead, s, link);
		bufferevent_free(s->bev);
		event_free(s->deadline);
		free(s);
	}
}

/* Admission closes the oldest scrape to make room for a new one. */
static void
metrics_evict_cb(struct cfs_pending *p, const char *why, void *arg)
{
	struct metrics_scrape *s =
	    (struct metrics_scrape *)(void *)((char *)p - offsetof(struct metrics_scrape, pending));
	struct node *n = arg;

	log_limited(&n->unauth_log, LOG_LEVEL_INFO, "metrics: %s: closed (%s), %s", s->peer,
	            metrics_scrape_state_names[s->state], why);
	metrics_scrape_close(s);
}

/* The scrape's time is up, whatever it was doing. */
static void
metrics_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_scrape *s = arg;

	/* A client that keeps its side open after the answer is merely slow to close. */
	log_limited(&s->n->unauth_log, s->state == SCRAPE_LINGER ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO,
	            "metrics: %s: closed (%s) after %llu ms", s->peer,
	            metrics_scrape_state_names[s->state],
	            (unsigned long long)(cfs_now_ms() - s->accepted_ms));
	metrics_scrape_close(s);
}

/* The reason phrase of a status code we answer with. */
static const char *
metrics_reason(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	default:
		return "Error";
	}
}

/*
 * Queues the answer to the request and goes on to writing it.  A HEAD gets
 * the headers of the GET, Content-Length included, and no body.
 */
static void
metrics_scrape_answer(struct metrics_scrape *s, int code)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	struct evbuffer *body = evbuffer_new();
	const char *ctype = "text/plain; charset=utf-8";

	if (body == NULL)
		fatalx("evbuffer_new failed");
	switch (code) {
	case 200:
		metrics_render(s->n, body);
		ctype = METRICS_CONTENT_TYPE;
		break;
	case 404:
		evbuffer_add_printf(body, "not found: try /metrics\n");
		break;
	case 405:
		evbuffer_add_printf(body, "method not allowed: use GET\n");
		break;
	case 431:
		evbuffer_add_printf(body, "request head over %d bytes\n", METRICS_MAX_HEADERS);
		break;
	default:
		evbuffer_add_printf(body, "bad request\n");
		break;
	}
	evbuffer_add_printf(out,
	                    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	                    "%sConnection: close\r\n\r\n",
	                    code, metrics_reason(code), ctype, evbuffer_get_length(body),
	                    code == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (!s->is_head)
		evbuffer_add_buffer(out, body);
	evbuffer_free(body);
	metrics_scrape_set_state(s, SCRAPE_WRITING);
	/*
	 * Reading goes on, into the bin, until the client closes: closing with
	 * unread bytes (a body, pipelined requests) would send a reset, which
	 * can destroy the answer before the client reads it.  The deadline
	 * still bounds it all, and admission can close it any time.
	 */
	evbuffer_drain(bufferevent_get_input(s->bev), (size_t)-1);
	bufferevent_enable(s->bev, EV_WRITE);
}

/* Whether c may be in a method name (a "tchar" of RFC 9110). */
static int
metrics_is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/*
 * Reads the request line "METHOD SP TARGET SP HTTP/1.x" (without its end of
 * line) into the scrape: whether it is a HEAD and the answer it gets.
 * Returns 0, or -1 when the line is malformed.
 */
static int
metrics_parse_request_line(struct metrics_scrape *s, const char *p, size_t len)
{
	static const char mpath[] = "/metrics";
	size_t i = 0, m_len, t_start, t_len, plen;
	const char *path;
	int is_get;

	while (i < len && metrics_is_tchar((unsigned char)p[i]))
		i++;
	m_len = i;
	if (m_len == 0 || i >= len || p[i] != ' ')
		return -1;
	t_start = ++i;
	while (i < len && p[i] > ' ' && p[i] < 0x7f)
		i++;
	t_len = i - t_start;
	if (t_len == 0 || i >= len || p[i] != ' ')
		return -1;
	i++;
	if (len - i != 8 ||
	    (memcmp(p + i, "HTTP/1.0", 8) != 0 && memcmp(p + i, "HTTP/1.1", 8) != 0))
		return -1;

	/* The path: the target up to its query, after the authority of an absolute form. */
	path = p + t_start;
	plen = t_len;
	if (plen >= 7 && strncasecmp(path, "http://", 7) == 0) {
		const char *slash = memchr(path + 7, '/', plen - 7);

		plen = slash != NULL ? plen - (size_t)(slash - path) : 0;
		path = slash != NULL ? slash : path + t_len;
	}
	for (size_t k = 0; k < plen; k++)
		if (path[k] == '?') {
			plen = k;
			break;
		}

	is_get = m_len == 3 && memcmp(p, "GET", 3) == 0;
	s->is_head = m_len == 4 && memcmp(p, "HEAD", 4) == 0;
	if (plen != sizeof(mpath) - 1 || memcmp(path, mpath, plen) != 0)
		s->code = 404;
	else if (!is_get && !s->is_head)
		s->code = 405;
	else
		s->code = 200;
	return 0;
}

/* The first 80 of a peer's bytes as a string safe to log. */
static const char *
metrics_escape(const char *p, size_t len, char *out, size_t outlen)
{
	char raw[81];

	if (len >= sizeof(raw))
		len = sizeof(raw) - 1;
	memcpy(raw, p, len);
	raw[len] = '\0';
	return log_escape(raw, out, outlen);
}

/* Reads the request head line by line; answers once it ends, or at once when it is bad. */
static void
metrics_read_cb(struct bufferevent *bev, void *arg)
{
	struct metrics_scrape *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char esc[4 * 80 + 1];

	if (s->state != SCRAPE_READING) {
		evbuffer_drain(in, (size_t)-1);
		return;
	}
	for (;;) {
		size_t eol_len = 0, len;
		struct evbuffer_ptr eol =
		    evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
		const char *line;

		if (eol.pos < 0) {
			/* The input is held to METRICS_MAX_HEADERS by its watermark. */
			if (s->head_len + evbuffer_get_length(in) >= METRICS_MAX_HEADERS)
				break;
			return;
		}
		len = (size_t)eol.pos;
		if (s->head_len + len + eol_len > METRICS_MAX_HEADERS)
			break;
		s->head_len += len + eol_len;
		if (len == 0 && !s->have_line) {
			/* RFC 9112 2.2: empty lines before the request line are ignored. */
			evbuffer_drain(in, eol_len);
			continue;
		}
		if (len == 0) {
			metrics_scrape_answer(s, s->code);
			return;
		}
		if (!s->have_line) {
			line = (const char *)evbuffer_pullup(in, (ssize_t)len);
			if (line == NULL)
				fatalx("evbuffer_pullup failed");
			if (metrics_parse_request_line(s, line, len) != 0) {
				log_limited(&s->n->unauth_log, LOG_LEVEL_INFO,
				            "metrics: %s: bad request line \"%s\"", s->peer,
				            metrics_escape(line, len, esc, sizeof(esc)));
				s->is_head = 0;
				metrics_scrape_answer(s, 400);
				return;
			}
			log_limited(&s->n->unauth_log, LOG_LEVEL_DEBUG, "metrics: %s: \"%s\": %d",
			            s->peer, metrics_escape(line, len, esc, sizeof(esc)), s->code);
			s->have_line = 1;
		}
		/* Header fields say nothing the answer depends on: skipped. */
		evbuffer_drain(in, len + eol_len);
	}
	log_limited(&s->n->unauth_log, LOG_LEVEL_INFO, "metrics: %s: request head over %d bytes",
	            s->peer, METRICS_MAX_HEADERS);
	metrics_scrape_answer(s, 431);
}

/*
 * The output is empty: the answer is out.  Our side is shut so that the
 * client sees its end; we close at the client's end of file, or after
 * METRICS_LINGER_MS at most.
 */
static void
metrics_write_cb(struct bufferevent *bev, void *arg)
{
	struct metrics_scrape *s = arg;
	uint64_t end = s->accepted_ms + METRICS_DEADLINE_MS, now = cfs_now_ms();
	uint64_t ms = end > now ? end - now : 0;
	struct timeval tv;

	if (s->state != SCRAPE_WRITING)
		return;
	if (s->peer_eof || shutdown(bufferevent_getfd(bev), SHUT_WR) != 0) {
		metrics_scrape_close(s);
		return;
	}
	metrics_scrape_set_state(s, SCRAPE_LINGER);
	if (ms > METRICS_LINGER_MS)
		ms = METRICS_LINGER_MS;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(s->deadline, &tv);
}

/* End of file or an error on a scrape's socket. */
static void
metrics_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct metrics_scrape *s = arg;

	/* A client may shut its side once its request is sent: the answer still goes. */
	if ((what & BEV_EVENT_EOF) && s->state == SCRAPE_WRITING) {
		s->peer_eof = 1;
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (s->state != SCRAPE_LINGER)
			log_limited(&s->n->unauth_log, LOG_LEVEL_DEBUG, "metrics: %s: %s while %s",
			            s->peer,
			            (what & BEV_EVENT_EOF) ? "end of file" : "socket error",
			            metrics_scrape_state_names[s->state]);
		metrics_scrape_close(s);
	}
}

/* A new scrape: room for it first, then at most METRICS_DEADLINE_MS of its life. */
static void
metrics_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                  void *arg)
{
	struct node *n = arg;
	struct metrics *m = &n->metrics;
	struct metrics_scrape *s;
	struct bufferevent *bev;
	struct timeval tv = {METRICS_DEADLINE_MS / 1000, (METRICS_DEADLINE_MS % 1000) * 1000};
	char host[INET6_ADDRSTRLEN] = "?", serv[8] = "?";

	if (!node_accept_room(n, fd, m->listener, m->listen_retry, "metrics"))
		return;
	bev = bufferevent_socket_new(n->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		log_warnx("metrics: bufferevent_socket_new failed");
		evutil_closesocket(fd);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->n = n;
	s->bev = bev;
	s->state = SCRAPE_READING;
	s->accepted_ms = cfs_now_ms();
	s->deadline = evtimer_new(n->base, metrics_deadline_cb, s);
	if (s->deadline == NULL)
		fatalx("evtimer_new failed");
	getnameinfo(sa, (socklen_t)salen, host, sizeof(host), serv, sizeof(serv),
	            NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(s->peer, sizeof(s->peer), "%s%s%s:%s", strchr(host, ':') ? "[" : "", host,
	         strchr(host, ':') ? "]" : "", serv);
	TAILQ_INSERT_TAIL(&m->scrapes, s, link);
	/* May close older scrapes: none of their callbacks is running. */
	cfs_admit_add(&m->admit, &s->pending, sa);
	evtimer_add(s->deadline, &tv);
	bufferevent_setcb(bev, metrics_read_cb, metrics_write_cb, metrics_event_cb, s);
	bufferevent_setwatermark(bev, EV_READ, 0, METRICS_MAX_HEADERS);
	bufferevent_enable(bev, EV_READ);
}

/* Timer: accept scrapes again after a pause. */
static void
metrics_listen_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metrics *m = arg;

	if (m->listener != NULL)
		evconnlistener_enable(m->listener);
}

/* accept() failed: pause for a second instead of spinning, as the node's listener does. */
static void
metrics_accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct node *n = arg;
	struct timeval tv = {1, 0};
	int err = EVUTIL_SOCKET_ERROR();

	log_warnx("metrics: accept: %s; pausing for a second", strerror(err));
	evconnlistener_disable(l);
	event_add(n->metrics.listen_retry, &tv);
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
	struct addrinfo hints, *res = NULL;
	char port[8];
	int rc;

	if (a->port == 0)
		return 0;
	TAILQ_INIT(&m->scrapes);
	TAILQ_INIT(&m->dead);
	cfs_admit_init(&m->admit, METRICS_MAX_SCRAPES, METRICS_MAX_SCRAPES_PER_SOURCE,
	               metrics_evict_cb, n);
	m->reap = event_new(n->base, -1, 0, metrics_reap_cb, m);
	m->listen_retry = evtimer_new(n->base, metrics_listen_retry_cb, m);
	if (m->reap == NULL || m->listen_retry == NULL)
		fatalx("event_new failed");

	/* Like the node's own address: the first address the host resolves to. */
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", a->port);
	rc = getaddrinfo(a->host, port, &hints, &res);
	if (rc != 0) {
		log_warnx("metrics: %s:%u: cannot resolve: %s", a->host, a->port, gai_strerror(rc));
		return -1;
	}
	m->listener = evconnlistener_new_bind(n->base, metrics_accept_cb, n,
	                                      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
	                                          LEV_OPT_CLOSE_ON_EXEC,
	                                      METRICS_BACKLOG, res->ai_addr, (int)res->ai_addrlen);
	freeaddrinfo(res);
	if (m->listener == NULL) {
		log_warn("metrics: cannot listen on %s:%u", a->host, a->port);
		return -1;
	}
	evconnlistener_set_error_cb(m->listener, metrics_accept_error_cb);
	if (!metrics_on_loopback(evconnlistener_get_fd(m->listener)))
		log_warnx("metrics endpoint %s:%u is not on loopback: anyone who can reach it "
		          "reads this node's metrics, without TLS or authentication",
		          a->host, a->port);
	log_info("metrics at http://%s%s%s:%u/metrics", strchr(a->host, ':') ? "[" : "", a->host,
	         strchr(a->host, ':') ? "]" : "", a->port);
	return 0;
}

/* Closes the endpoint and every scrape, open or waiting to be freed. */
void
metrics_stop(struct node *n)
{
	struct metrics *m = &n->metrics;
	struct metrics_scrape *s;

	if (m->reap == NULL)
		return; /* never started */
	if (m->listener != NULL)
		evconnlistener_free(m->listener);
	m->listener = NULL;
	while ((s = TAILQ_FIRST(&m->scrapes)) != NULL)
		metrics_scrape_close(s);
	metrics_reap_cb(-1, 0, m);
	event_free(m->reap);
	m->reap = NULL;
	event_free(m->listen_retry);
	m->listen_retry = NULL;
	cfs_admit_free(&m->admit);
}
