/* chainfsctl: status of a chainfs chain, node health, certificates. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/conf.h"
#include "common/conn.h"
#include "common/log.h"
#include "common/tls.h"
#include "common/wire.h"
#include "replication/etcd.h"
#include "replication/membership.h"

#define CTL_TIMEOUT_S 5

/* What one node answered, or why it did not. */
struct ctl_node {
	struct event_base *base;
	const struct cfs_node_addr *addr;
	struct cfs_conn *c;
	int hello_done;
	int ok;
	char error[160];
	struct cfs_status st;
	int *pending;
};

static const char *conf_path = CFS_DEFAULT_CONF;
static const char *opt_cert, *opt_key, *opt_ca;
static int opt_json;

/* Prints usage and exits. */
static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: chainfsctl [-c file] [-C cert] [-K key] [-A ca] status [--json]\n"
		"       chainfsctl [-c file] [-C cert] [-K key] [-A ca] ping NODE\n"
		"       chainfsctl [-c file] node list [--json] | node add NODE [HOST:PORT] |\n"
		"                                 node remove NODE\n"
		"       chainfsctl cert ca DIR [--days N] [--cn NAME]\n"
		"       chainfsctl cert node DIR NAME HOST[,HOST...] [--days N]\n"
		"       chainfsctl cert client DIR NAME [--days N]\n");
	exit(status);
}

/* Marks a node done; stops the loop when all are. */
static void
ctl_done(struct ctl_node *cn, const char *error)
{
	if (error != NULL && cn->error[0] == '\0')
		snprintf(cn->error, sizeof(cn->error), "%s", error);
	if (cn->c != NULL) {
		struct cfs_conn *c = cn->c;

		cn->c = NULL;
		c->arg = NULL;
		cfs_conn_close(c, NULL);
	}
	if (--*cn->pending == 0)
		event_base_loopexit(cn->base, NULL);
}

/* Connected: introduce ourselves as an admin tool. */
static void
ctl_up(struct cfs_conn *c, void *arg)
{
	struct ctl_node *cn = arg;
	struct cfs_hello h;
	struct cfs_wbuf f;
	size_t start;
	char why[200];

	if (cn != NULL && c->has_tls_peer &&
	    cfs_tls_is_node(&c->tls_peer, cn->addr->name, why, sizeof(why)) != 0) {
		ctl_done(cn, why);
		return;
	}
	memset(&h, 0, sizeof(h));
	h.role = CFS_PEER_ADMIN;
	snprintf(h.name, sizeof(h.name), "chainfsctl");
	cfs_wbuf_init(&f);
	start = cfs_frame_begin(&f, CFS_MSG_HELLO, 0, 0);
	cfs_hello_encode(&f, &h);
	cfs_frame_end(&f, start);
	start = cfs_frame_begin(&f, CFS_MSG_STATUS, 1, 0);
	cfs_frame_end(&f, start);
	cfs_conn_send(c, f.p, f.len);
	cfs_wbuf_free(&f);
}

/* HELLO_REPLY then STATUS_REPLY. */
static int
ctl_frame(struct cfs_conn *c, const struct cfs_header *h, const uint8_t *body, void *arg)
{
	struct ctl_node *cn = arg;
	struct cfs_hello_reply hr;

	if (cn == NULL)
		return -1;
	if (!cn->hello_done) {
		if (h->type != CFS_MSG_HELLO_REPLY ||
		    cfs_hello_reply_decode(body, h->length, &hr) != CFS_WIRE_OK) {
			ctl_done(cn, "bad answer to HELLO");
			return 0;
		}
		if (hr.status != 0) {
			ctl_done(cn, "refused: not authorized");
			return 0;
		}
		cn->hello_done = 1;
		return 0;
	}
	if (h->type != CFS_MSG_STATUS_REPLY ||
	    cfs_status_decode(body, h->length, &cn->st) != CFS_WIRE_OK) {
		ctl_done(cn, "bad answer to STATUS");
		return 0;
	}
	cn->ok = 1;
	ctl_done(cn, NULL);
	return 0;
}

/* The connection failed or closed before an answer. */
static void
ctl_down(struct cfs_conn *c, void *arg)
{
	struct ctl_node *cn = arg;

	if (cn == NULL)
		return;
	cn->c = NULL;
	/* The connection is closed by now: tell why from what it went through. */
	if (cn->hello_done)
		ctl_done(cn, "connection closed");
	else if (c->tls_failed)
		ctl_done(cn, "TLS handshake failed: certificate not trusted (wrong CA?)");
	else if (!c->was_open)
		ctl_done(cn, "unreachable: cannot connect");
	else
		ctl_done(cn, "closed by the node before answering: certificate or role refused");
}

static const struct cfs_conn_cbs ctl_cbs = {.up = ctl_up, .frame = ctl_frame, .down = ctl_down};

/* Overall deadline. */
static void
ctl_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct event_base *base = arg;

	event_base_loopexit(base, NULL);
}

/* Asks each of the n nodes for its status, in parallel; fills out[]. */
static int
ctl_query(const struct cfs_conf *conf, const int *which, size_t n, struct ctl_node *out)
{
	struct event_base *base = event_base_new();
	struct timeval tv = {CTL_TIMEOUT_S, 0};
	struct event *to;
	SSL_CTX *ctx = NULL;
	char err[512];
	int pending = (int)n;

	if (!conf->plaintext) {
		const char *cert = opt_cert ? opt_cert : conf->cert;
		const char *key = opt_key ? opt_key : conf->key;
		const char *ca = opt_ca ? opt_ca : conf->ca;

		if (cert == NULL || key == NULL || ca == NULL) {
			fprintf(stderr, "chainfsctl: %s names no client cert/key: use -C and -K\n",
				conf->path);
			return -1;
		}
		ctx = cfs_tls_ctx_new(0, ca, cert, key, err, sizeof(err));
		if (ctx == NULL) {
			fprintf(stderr, "chainfsctl: %s\n", err);
			return -1;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct ctl_node *cn = &out[i];
		const struct cfs_node_addr *a = &conf->nodes[which[i]].addr;

		memset(cn, 0, sizeof(*cn));
		cn->base = base;
		cn->addr = a;
		cn->pending = &pending;
		cn->c = cfs_conn_connect(base, ctx, a->host, a->port, a->name, NULL, &ctl_cbs, cn);
		if (cn->c == NULL) {
			snprintf(cn->error, sizeof(cn->error), "cannot resolve %.100s", a->host);
			pending--;
		}
	}
	to = evtimer_new(base, ctl_timeout_cb, base);
	evtimer_add(to, &tv);
	if (pending > 0)
		event_base_dispatch(base);
	for (size_t i = 0; i < n; i++) {
		if (out[i].c != NULL) {
			struct cfs_conn *c = out[i].c;

			out[i].c = NULL;
			c->arg = NULL;
			cfs_conn_close(c, NULL);
		}
		if (!out[i].ok && out[i].error[0] == '\0')
			snprintf(out[i].error, sizeof(out[i].error), "no answer within %d s",
				 CTL_TIMEOUT_S);
	}
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_free(to);
	event_base_free(base);
	if (ctx != NULL)
		SSL_CTX_free(ctx);
	return 0;
}

/* A blocking etcd request: the answer's copy for the caller. */
struct ctl_etcd_wait {
	int done;
	int err;
	int succeeded;
	char message[256];
	/* range: the keys and values, copied */
	size_t n;
	char **keys;
	char **vals;
	size_t *vlens;
};

static void
ctl_etcd_cb(void *arg, const struct etcd_result *r)
{
	struct ctl_etcd_wait *w = arg;

	w->done = 1;
	w->err = r->err;
	w->succeeded = r->succeeded;
	snprintf(w->message, sizeof(w->message), "%s", r->message ? r->message : "");
	w->n = r->nkvs;
	w->keys = xcalloc(r->nkvs + 1, sizeof(char *));
	w->vals = xcalloc(r->nkvs + 1, sizeof(char *));
	w->vlens = xcalloc(r->nkvs + 1, sizeof(size_t));
	for (size_t i = 0; i < r->nkvs; i++) {
		w->keys[i] = xstrdup((const char *)r->kvs[i].key);
		w->vals[i] = xmalloc(r->kvs[i].valuelen + 1);
		memcpy(w->vals[i], r->kvs[i].value, r->kvs[i].valuelen);
		w->vals[i][r->kvs[i].valuelen] = '\0';
		w->vlens[i] = r->kvs[i].valuelen;
	}
}

static void
ctl_etcd_wait_free(struct ctl_etcd_wait *w)
{
	for (size_t i = 0; i < w->n; i++) {
		free(w->keys[i]);
		free(w->vals[i]);
	}
	free(w->keys);
	free(w->vals);
	free(w->vlens);
}

/* Runs the loop until w is answered. */
static int
ctl_etcd_run(struct event_base *base, struct ctl_etcd_wait *w, const char *what)
{
	while (!w->done)
		if (event_base_loop(base, EVLOOP_ONCE) < 0)
			break;
	if (w->err != ETCD_OK) {
		fprintf(stderr, "chainfsctl: etcd: %s: %s\n", what,
			w->message[0] ? w->message : "no answer");
		return -1;
	}
	return 0;
}

/* The TLS context for https:// etcd endpoints, when the file names any; 0 or -1. */
static int
ctl_etcd_tls(const struct cfs_conf *conf, SSL_CTX **ctx)
{
	char err[512];

	*ctx = NULL;
	for (size_t i = 0; i < conf->netcd; i++) {
		if (strncmp(conf->etcd[i], "https:", 6) == 0 && !conf->plaintext) {
			const char *cert = opt_cert ? opt_cert : conf->cert;
			const char *keyf = opt_key ? opt_key : conf->key;
			const char *ca = opt_ca ? opt_ca : conf->ca;

			*ctx = cfs_tls_ctx_new(0, ca, cert, keyf, err, sizeof(err));
			if (*ctx == NULL) {
				fprintf(stderr, "chainfsctl: %s\n", err);
				return -1;
			}
			break;
		}
	}
	return 0;
}

/* An etcd client on every endpoint of the file, with its own loop. */
struct ctl_etcd {
	struct event_base *base;
	struct etcd *e;
	SSL_CTX *ctx;
};

/* Opens ce; -1 with a message on stderr. */
static int
ctl_etcd_open(const struct cfs_conf *conf, unsigned timeout_ms, struct ctl_etcd *ce)
{
	struct etcd_opts o;
	char err[512];

	memset(ce, 0, sizeof(*ce));
	memset(&o, 0, sizeof(o));
	for (size_t i = 0; i < conf->netcd && i < ETCD_MAX_ENDPOINTS; i++)
		o.endpoints[o.nendpoints++] = conf->etcd[i];
	if (ctl_etcd_tls(conf, &ce->ctx) != 0)
		return -1;
	o.tls = ce->ctx;
	o.timeout_ms = timeout_ms;
	ce->base = event_base_new();
	ce->e = etcd_new(ce->base, &o, err, sizeof(err));
	if (ce->e == NULL) {
		fprintf(stderr, "chainfsctl: %s: %s\n", conf->path, err);
		event_base_free(ce->base);
		if (ce->ctx != NULL)
			SSL_CTX_free(ce->ctx);
		return -1;
	}
	return 0;
}

static void
ctl_etcd_close(struct ctl_etcd *ce)
{
	etcd_free(ce->e);
	event_base_free(ce->base);
	if (ce->ctx != NULL)
		SSL_CTX_free(ce->ctx);
}

/* One etcd endpoint's health: whether it answers a linearizable read, and how fast. */
struct ctl_etcd_health {
	struct ctl_etcd_wait w;
	struct etcd *e;
	uint64_t start_ms;
	unsigned ms;
	char error[256];
};

/*
 * Asks every etcd endpoint of the file, in parallel and each on its own,
 * for the configuration key (a linearizable read: only a member that is
 * part of a quorum answers it).  Returns an array of conf->netcd, or NULL.
 */
static struct ctl_etcd_health *
ctl_etcd_check(const struct cfs_conf *conf)
{
	struct ctl_etcd_health *h;
	struct event_base *base;
	SSL_CTX *ctx;
	char key[CFS_NODE_NAME_MAX + 32];
	size_t n = conf->netcd < ETCD_MAX_ENDPOINTS ? conf->netcd : ETCD_MAX_ENDPOINTS;
	int pending = 0;

	if (n == 0 || ctl_etcd_tls(conf, &ctx) != 0)
		return NULL;
	h = xcalloc(n, sizeof(*h));
	base = event_base_new();
	snprintf(key, sizeof(key), "/chainfs/%s/config", conf->cluster);
	for (size_t i = 0; i < n; i++) {
		struct etcd_opts o;
		char err[256];

		memset(&o, 0, sizeof(o));
		o.endpoints[0] = conf->etcd[i];
		o.nendpoints = 1;
		o.tls = ctx;
		o.timeout_ms = 2000;
		h[i].e = etcd_new(base, &o, err, sizeof(err));
		if (h[i].e == NULL) {
			snprintf(h[i].error, sizeof(h[i].error), "%s", err);
			h[i].w.done = 1;
			continue;
		}
		h[i].start_ms = cfs_now_ms();
		etcd_range(h[i].e, key, strlen(key), 0, ctl_etcd_cb, &h[i].w);
		pending++;
	}
	while (pending > 0) {
		if (event_base_loop(base, EVLOOP_ONCE) < 0)
			break;
		pending = 0;
		for (size_t i = 0; i < n; i++) {
			if (!h[i].w.done) {
				pending++;
			} else if (h[i].e != NULL && h[i].ms == 0 && h[i].error[0] == '\0') {
				h[i].ms = (unsigned)(cfs_now_ms() - h[i].start_ms);
				if (h[i].w.err != ETCD_OK)
					snprintf(h[i].error, sizeof(h[i].error), "%s",
						 h[i].w.message[0] ? h[i].w.message : "no answer");
				else if (h[i].ms == 0)
					h[i].ms = 1; /* answered: never 0, which means "not yet" */
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		ctl_etcd_wait_free(&h[i].w);
		if (h[i].e != NULL)
			etcd_free(h[i].e);
	}
	event_base_free(base);
	if (ctx != NULL)
		SSL_CTX_free(ctx);
	return h;
}

static int ctl_status_of(const struct cfs_conf *);

/* Prints s as a JSON string, quoted and escaped. */
static void
ctl_json_str(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

/* A digest as hex. */
static void
ctl_hex(const uint8_t *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/* A node's place as a word: head, middle, tail, head+tail, syncing or out. */
static const char *
ctl_role(const struct cfs_status *st)
{
	if ((st->flags & CFS_STATUS_ETCD) && !(st->flags & CFS_STATUS_MEMBER))
		return strcmp(st->syncing, st->name) == 0 ? "syncing" : "out";
	switch (st->role & (CFS_ROLE_HEAD | CFS_ROLE_TAIL)) {
	case CFS_ROLE_HEAD:
		return "head";
	case CFS_ROLE_TAIL:
		return "tail";
	case CFS_ROLE_HEAD | CFS_ROLE_TAIL:
		return "head+tail";
	default:
		return "middle";
	}
}

/*
 * The newest configuration any node reports, its master, and which nodes
 * are fenced or waiting: "epoch 9: n1 -> n3 (n2 syncing, sn 120), master n1".
 */
static void
ctl_print_epoch(const struct cfs_conf *conf, const struct ctl_node *nodes)
{
	const struct cfs_status *best = NULL;
	const char *master = NULL;

	for (size_t i = 0; i < conf->nnodes; i++) {
		const struct cfs_status *st = &nodes[i].st;

		if (!nodes[i].ok || !(st->flags & CFS_STATUS_ETCD))
			continue;
		if (best == NULL || st->epoch > best->epoch)
			best = st;
		if (st->flags & CFS_STATUS_MASTER)
			master = st->name;
		if (st->flags & CFS_STATUS_FENCED)
			printf("%s is fenced: no fresh etcd lease, answering no client\n", st->name);
		if (st->flags & CFS_STATUS_WAITING)
			printf("%s is a new tail waiting out the old one\n", st->name);
	}
	if (best == NULL)
		return;
	printf("epoch %llu:", (unsigned long long)best->epoch);
	for (uint16_t i = 0; i < best->nchain; i++)
		printf("%s%s", i ? " -> " : " ", best->chain[i]);
	if (best->syncing[0] != '\0')
		printf(" (%s syncing)", best->syncing);
	printf(", master %s\n", master ? master : (best->master[0] ? best->master : "none"));
}

/*
 * The file's nodes and, with failover, those added by command though not
 * in the file (their addresses are in etcd): a copy of conf to free.
 */
static struct cfs_conf *
ctl_all_nodes(const struct cfs_conf *conf)
{
	struct cfs_conf *all = xmalloc(sizeof(*all));
	struct ctl_etcd_wait w;
	struct ctl_etcd ce;
	char prefix[CFS_NODE_NAME_MAX + 32], err[256];

	*all = *conf;
	if (conf->netcd == 0 || ctl_etcd_open(conf, 2000, &ce) != 0)
		return all;
	snprintf(prefix, sizeof(prefix), "/chainfs/%s/added/", conf->cluster);
	memset(&w, 0, sizeof(w));
	etcd_range(ce.e, prefix, strlen(prefix), 1, ctl_etcd_cb, &w);
	while (!w.done)
		if (event_base_loop(ce.base, EVLOOP_ONCE) < 0)
			break;
	for (size_t i = 0; w.err == ETCD_OK && i < w.n && all->nnodes < CFS_MAX_NODES; i++) {
		const char *name = w.keys[i] + strlen(prefix);
		struct cfs_node_addr a;

		if (!membership_name_ok(name) || cfs_conf_node_index(all, name) >= 0 ||
		    cfs_parse_addr(w.vals[i], &a, err, sizeof(err)) != 0)
			continue;
		snprintf(a.name, sizeof(a.name), "%s", name);
		memset(&all->nodes[all->nnodes], 0, sizeof(all->nodes[0]));
		all->nodes[all->nnodes++].addr = a;
	}
	ctl_etcd_wait_free(&w);
	ctl_etcd_close(&ce);
	return all;
}

/* chainfsctl status: one line per node; exit 1 if any node did not answer. */
static int
ctl_status(const struct cfs_conf *file)
{
	struct cfs_conf *conf = ctl_all_nodes(file);
	int rc = ctl_status_of(conf);

	free(conf);
	return rc;
}

/* The status of conf's nodes (the file's and the added ones). */
static int
ctl_status_of(const struct cfs_conf *conf)
{
	struct ctl_node *nodes = xcalloc(conf->nnodes, sizeof(*nodes));
	int *which = xcalloc(conf->nnodes, sizeof(*which));
	uint64_t head_sn = 0;
	int down = 0, agree = 1, first = -1;
	char hex[2 * CFS_DIGEST_LEN + 1];
	struct ctl_etcd_health *etcd;
	size_t netcd = conf->netcd < ETCD_MAX_ENDPOINTS ? conf->netcd : ETCD_MAX_ENDPOINTS;

	for (size_t i = 0; i < conf->nnodes; i++)
		which[i] = (int)i;
	if (ctl_query(conf, which, conf->nnodes, nodes) != 0) {
		free(nodes);
		free(which);
		return 2;
	}
	etcd = ctl_etcd_check(conf);
	for (size_t i = 0; i < conf->nnodes; i++) {
		if (!nodes[i].ok) {
			down++;
			continue;
		}
		if (nodes[i].st.applied_sn > head_sn)
			head_sn = nodes[i].st.applied_sn;
		if (first < 0)
			first = (int)i;
		else if (memcmp(nodes[i].st.digest, nodes[first].st.digest, CFS_DIGEST_LEN) != 0 ||
			 nodes[i].st.applied_sn != nodes[first].st.applied_sn)
			agree = 0;
	}
	if (opt_json) {
		printf("{\"nodes\":[");
		for (size_t i = 0; i < conf->nnodes; i++) {
			const struct ctl_node *cn = &nodes[i];

			printf("%s{\"name\":\"%s\",\"address\":\"%s:%u\",\"up\":%s", i ? "," : "",
			       cn->addr->name, cn->addr->host, cn->addr->port,
			       cn->ok ? "true" : "false");
			if (cn->ok) {
				ctl_hex(cn->st.digest, CFS_DIGEST_LEN, hex);
				printf(",\"role\":\"%s\",\"epoch\":%llu,\"applied_sn\":%llu,"
				       "\"acked_sn\":%llu,\"lag\":%llu,\"sent\":%llu,"
				       "\"sent_bytes\":%llu,\"clients\":%u,\"successor_up\":%s,"
				       "\"digest\":\"%s\"",
				       ctl_role(&cn->st), (unsigned long long)cn->st.epoch,
				       (unsigned long long)cn->st.applied_sn,
				       (unsigned long long)cn->st.acked_sn,
				       (unsigned long long)(head_sn - cn->st.applied_sn),
				       (unsigned long long)cn->st.sent_len,
				       (unsigned long long)cn->st.sent_bytes, cn->st.clients,
				       cn->st.successor_up ? "true" : "false", hex);
				printf(",\"failover\":%s,\"fenced\":%s,\"waiting\":%s,"
				       "\"master\":%s,\"applied_epoch\":%llu",
				       cn->st.flags & CFS_STATUS_ETCD ? "true" : "false",
				       cn->st.flags & CFS_STATUS_FENCED ? "true" : "false",
				       cn->st.flags & CFS_STATUS_WAITING ? "true" : "false",
				       cn->st.flags & CFS_STATUS_MASTER ? "true" : "false",
				       (unsigned long long)cn->st.applied_epoch);
				printf(",\"locks\":%llu,\"lock_waits\":%llu",
				       (unsigned long long)cn->st.locks,
				       (unsigned long long)cn->st.lock_waits);
				if (cn->st.syncing[0] != '\0')
					printf(",\"syncing\":\"%s\",\"sync_sn\":%llu", cn->st.syncing,
					       (unsigned long long)cn->st.sync_sn);
			} else {
				printf(",\"error\":");
				ctl_json_str(cn->error);
			}
			printf("}");
		}
		printf("],\"etcd\":[");
		for (size_t i = 0; etcd != NULL && i < netcd; i++) {
			printf("%s{\"endpoint\":", i ? "," : "");
			ctl_json_str(conf->etcd[i]);
			printf(",\"up\":%s", etcd[i].error[0] ? "false" : "true");
			if (etcd[i].error[0]) {
				printf(",\"error\":");
				ctl_json_str(etcd[i].error);
				printf("}");
			} else
				printf(",\"ms\":%u}", etcd[i].ms);
		}
		printf("],\"down\":%d,\"agree\":%s}\n", down, down == 0 && agree ? "true" : "false");
	} else {
		printf("%-12s %-9s %-22s %10s %6s %6s %7s %6s  %s\n", "NODE", "ROLE", "ADDRESS",
		       "APPLIED", "LAG", "SENT", "CLIENTS", "LOCKS", "DIGEST");
		for (size_t i = 0; i < conf->nnodes; i++) {
			const struct ctl_node *cn = &nodes[i];
			char addr[CFS_HOST_MAX + 8];

			snprintf(addr, sizeof(addr), "%s:%u", cn->addr->host, cn->addr->port);
			if (!cn->ok) {
				printf("%-12s %-9s %-22s  DOWN: %s\n", cn->addr->name, "-", addr,
				       cn->error);
				continue;
			}
			ctl_hex(cn->st.digest, CFS_DIGEST_LEN, hex);
			printf("%-12s %-9s %-22s %10llu %6llu %6llu %7u %6llu  %.16s\n",
			       cn->addr->name, ctl_role(&cn->st), addr,
			       (unsigned long long)cn->st.applied_sn,
			       (unsigned long long)(head_sn - cn->st.applied_sn),
			       (unsigned long long)cn->st.sent_len, cn->st.clients,
			       (unsigned long long)cn->st.locks, hex);
		}
		ctl_print_epoch(conf, nodes);
		for (size_t i = 0; etcd != NULL && i < netcd; i++) {
			if (etcd[i].error[0])
				printf("etcd %s: DOWN: %s\n", conf->etcd[i], etcd[i].error);
			else
				printf("etcd %s: ok, %u ms\n", conf->etcd[i], etcd[i].ms);
		}
		if (down)
			printf("%d of %zu nodes down\n", down, conf->nnodes);
		else
			printf("replicas %s\n", agree ? "agree" : "differ (still catching up?)");
	}
	free(nodes);
	free(which);
	free(etcd);
	return down ? 1 : 0;
}

/* chainfsctl ping NODE: one node's health. */
static int
ctl_ping(const struct cfs_conf *conf, const char *name)
{
	struct ctl_node cn;
	int idx = cfs_conf_node_index(conf, name);

	if (idx < 0) {
		fprintf(stderr, "chainfsctl: %s: no node called '%s'\n", conf->path, name);
		return 2;
	}
	if (ctl_query(conf, &idx, 1, &cn) != 0)
		return 2;
	if (!cn.ok) {
		printf("%s: %s\n", name, cn.error);
		return 1;
	}
	printf("%s: alive, %s, sn %llu\n", name, ctl_role(&cn.st),
	       (unsigned long long)cn.st.applied_sn);
	return 0;
}

/* chainfsctl cert ...: makes the CA and certificates. */
static int
ctl_cert(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"days", required_argument, NULL, 'd'},
		{"cn", required_argument, NULL, 'n'},
		{NULL, 0, NULL, 0},
	};
	const char *cn = "chainfs CA";
	char err[512];
	int days = 3650, ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			days = atoi(optarg);
			if (days <= 0) {
				fprintf(stderr, "chainfsctl: --days wants a positive number\n");
				return 2;
			}
			break;
		case 'n':
			cn = optarg;
			break;
		default:
			usage(2);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 2)
		usage(2);
	if (strcmp(argv[0], "ca") == 0 && argc == 2)
		rc = cfs_cert_make_ca(argv[1], cn, days, err, sizeof(err));
	else if (strcmp(argv[0], "node") == 0 && argc == 4)
		rc = cfs_cert_make(argv[1], argv[2], CFS_TLS_KIND_NODE, argv[3], days, err,
				   sizeof(err));
	else if (strcmp(argv[0], "client") == 0 && argc == 3)
		rc = cfs_cert_make(argv[1], argv[2], CFS_TLS_KIND_CLIENT, NULL, days, err,
				   sizeof(err));
	else
		usage(2);
	if (rc != 0) {
		fprintf(stderr, "chainfsctl: %s\n", err);
		return 1;
	}
	return 0;
}

/* The state of each node of the file, from etcd: the configuration, registrations, removals. */
static int
ctl_node_list(const struct cfs_conf *conf, struct ctl_etcd_wait *w, const char *prefix,
	      size_t file_nodes)
{
	struct chain_view v;
	int have_view = 0;
	char err[256];

	memset(&v, 0, sizeof(v));
	for (size_t i = 0; i < w->n; i++) {
		if (strcmp(w->keys[i] + strlen(prefix), "config") == 0 &&
		    membership_view_parse(w->vals[i], w->vlens[i], &v, err, sizeof(err)) == 0)
			have_view = 1;
	}
	if (opt_json)
		printf("{\"epoch\":%llu,\"nodes\":[", (unsigned long long)v.epoch);
	else
		printf("%-12s %-22s %-9s %-11s %s\n", "NODE", "ADDRESS", "ROLE", "REGISTERED",
		       "REMOVED");
	for (size_t k = 0; k < conf->nnodes; k++) {
		const struct cfs_node_addr *a = &conf->nodes[k].addr;
		char regkey[512], remkey[512], addr[CFS_HOST_MAX + 8];
		int registered = 0, removed = 0;
		const char *role = have_view ? view_role_name(&v, a->name) : "-";

		if (!opt_json && k == file_nodes)
			printf("added by command, not in %s:\n", conf->path);

		snprintf(regkey, sizeof(regkey), "%snodes/%s", prefix, a->name);
		snprintf(remkey, sizeof(remkey), "%sremoved/%s", prefix, a->name);
		for (size_t i = 0; i < w->n; i++) {
			registered |= strcmp(w->keys[i], regkey) == 0;
			removed |= strcmp(w->keys[i], remkey) == 0;
		}
		snprintf(addr, sizeof(addr), "%s:%u", a->host, a->port);
		if (opt_json)
			printf("%s{\"name\":\"%s\",\"address\":\"%s\",\"role\":\"%s\","
			       "\"registered\":%s,\"removed\":%s}",
			       k ? "," : "", a->name, addr, role, registered ? "true" : "false",
			       removed ? "true" : "false");
		else
			printf("%-12s %-22s %-9s %-11s %s\n", a->name, addr, role,
			       registered ? "yes" : "no", removed ? "yes" : "no");
	}
	if (opt_json) {
		printf("]}\n");
	} else if (have_view) {
		printf("epoch %llu:", (unsigned long long)v.epoch);
		for (uint16_t i = 0; i < v.n; i++)
			printf("%s%s", i ? " -> " : " ", v.nodes[i]);
		if (v.syncing[0] != '\0')
			printf(" (%s syncing)", v.syncing);
		printf("\n");
	} else {
		printf("no configuration in etcd yet\n");
	}
	return 0;
}

/* chainfsctl node list|add NAME|remove NAME: membership through etcd. */
static int
ctl_node(const struct cfs_conf *conf, int argc, char **argv)
{
	struct ctl_etcd ce;
	struct event_base *base;
	struct etcd *e;
	struct ctl_etcd_wait w;
	char err[512], prefix[CFS_NODE_NAME_MAX + 16], key[512];
	struct cfs_node_addr added;
	int rc = 0;

	if (conf->netcd == 0) {
		fprintf(stderr, "chainfsctl: %s has no 'coordinator etcd': membership is its node "
				"lines, changed by editing the file on every host\n",
			conf->path);
		return 2;
	}
	if (argc >= 2 && !membership_name_ok(argv[1])) {
		fprintf(stderr, "chainfsctl: '%s' is not a node name\n", argv[1]);
		return 2;
	}
	if (strcmp(argv[0], "add") == 0 && argc == 3) {
		/* A node not in the file: its address goes to etcd, for every host. */
		if (cfs_conf_node_index(conf, argv[1]) >= 0) {
			fprintf(stderr, "chainfsctl: node %s is in %s: its address is there; "
					"'node add %s' without one\n",
				argv[1], conf->path, argv[1]);
			return 2;
		}
		if (cfs_parse_addr(argv[2], &added, err, sizeof(err)) != 0) {
			fprintf(stderr, "chainfsctl: '%s' is not one host:port\n", argv[2]);
			return 2;
		}
	} else if (strcmp(argv[0], "add") == 0 && argc == 2 &&
		   cfs_conf_node_index(conf, argv[1]) < 0) {
		fprintf(stderr, "chainfsctl: %s has no node %s: give its address "
				"('node add %s HOST:PORT'), or add its node line on every host\n",
			conf->path, argv[1], argv[1]);
		return 2;
	}
	if (ctl_etcd_open(conf, CTL_TIMEOUT_S * 1000, &ce) != 0)
		return 2;
	base = ce.base;
	e = ce.e;
	snprintf(prefix, sizeof(prefix), "/chainfs/%s/", conf->cluster);
	memset(&w, 0, sizeof(w));
	if (strcmp(argv[0], "list") == 0 && argc == 1) {
		etcd_range(e, prefix, strlen(prefix), 1, ctl_etcd_cb, &w);
		if (ctl_etcd_run(base, &w, "reading the cluster") == 0) {
			struct cfs_conf *all = ctl_all_nodes(conf);

			rc = ctl_node_list(all, &w, prefix, conf->nnodes);
			free(all);
		} else {
			rc = 1;
		}
	} else if (strcmp(argv[0], "remove") == 0 && argc == 2) {
		static const char why[] = "removed by chainfsctl";

		if (cfs_conf_node_index(conf, argv[1]) < 0) {
			/* Not in the file: it must have been added, or it is a typo. */
			snprintf(key, sizeof(key), "%sadded/%s", prefix, argv[1]);
			etcd_range(e, key, strlen(key), 0, ctl_etcd_cb, &w);
			rc = ctl_etcd_run(base, &w, "reading the added nodes") == 0 ? 0 : 1;
			if (rc == 0 && w.n == 0) {
				fprintf(stderr, "chainfsctl: no node %s in %s, nor added by command\n",
					argv[1], conf->path);
				rc = 2;
			}
			ctl_etcd_wait_free(&w);
			memset(&w, 0, sizeof(w));
		}
		snprintf(key, sizeof(key), "%sremoved/%s", prefix, argv[1]);
		if (rc == 0) {
			etcd_put(e, key, strlen(key), why, strlen(why), 0, ctl_etcd_cb, &w);
			rc = ctl_etcd_run(base, &w, "writing the removal") == 0 ? 0 : 1;
		}
		if (rc == 0)
			printf("node %s removed: the master takes it out of the chain, one change "
			       "at a time; it stays out until 'chainfsctl node add %s'\n",
			       argv[1], argv[1]);
	} else if (strcmp(argv[0], "add") == 0 && (argc == 2 || argc == 3)) {
		if (argc == 3) {
			snprintf(key, sizeof(key), "%sadded/%s", prefix, argv[1]);
			etcd_put(e, key, strlen(key), argv[2], strlen(argv[2]), 0, ctl_etcd_cb, &w);
			rc = ctl_etcd_run(base, &w, "writing the node's address") == 0 ? 0 : 1;
			ctl_etcd_wait_free(&w);
			memset(&w, 0, sizeof(w));
		}
		snprintf(key, sizeof(key), "%sremoved/%s", prefix, argv[1]);
		if (rc == 0) {
			etcd_delete(e, key, strlen(key), ctl_etcd_cb, &w);
			rc = ctl_etcd_run(base, &w, "deleting the removal") == 0 ? 0 : 1;
		}
		if (rc == 0)
			printf("node %s may join: once it runs and registers, it syncs behind the "
			       "tail and becomes the tail\n",
			       argv[1]);
	} else {
		usage(2);
	}
	ctl_etcd_wait_free(&w);
	ctl_etcd_close(&ce);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct cfs_conf conf;
	char err[512];
	int ch, rc;

	log_init("chainfsctl", 0, LOG_LEVEL_ERR);
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && strcmp(argv[1], "cert") == 0)
		return ctl_cert(argc - 1, argv + 1);
	while ((ch = getopt_long(argc, argv, "+A:C:K:c:hv", longopts, NULL)) != -1) {
		switch (ch) {
		case 'A':
			opt_ca = optarg;
			break;
		case 'C':
			opt_cert = optarg;
			break;
		case 'K':
			opt_key = optarg;
			break;
		case 'c':
			conf_path = optarg;
			break;
		case 'j':
			opt_json = 1;
			break;
		case 'v':
			log_setlevel(LOG_LEVEL_DEBUG);
			break;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage(2);
	if (argc >= 2 && strcmp(argv[argc - 1], "--json") == 0) {
		opt_json = 1;
		argc--;
	}
	memset(&conf, 0, sizeof(conf));
	if (cfs_conf_load(&conf, conf_path, err, sizeof(err)) != 0) {
		fprintf(stderr, "chainfsctl: %s\n", err);
		return 2;
	}
	if (strcmp(argv[0], "status") == 0 && argc == 1) {
		rc = ctl_status(&conf);
	} else if (strcmp(argv[0], "ping") == 0 && argc == 2) {
		struct cfs_conf *all = ctl_all_nodes(&conf);

		rc = ctl_ping(all, argv[1]);
		free(all);
	} else if (strcmp(argv[0], "node") == 0 && argc >= 2) {
		rc = ctl_node(&conf, argc - 1, argv + 1);
	} else {
		usage(2);
	}
	cfs_conf_free(&conf);
	return rc;
}
