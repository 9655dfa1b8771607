/*
 * etcdtool: replication/etcd.c from the command line, for etcd-client.sh.
 * One command per run; keys and values take and print \xHH and \\ escapes
 * so that binary bytes survive the shell.
 *
 *   put K V             prints rev=R
 *   get K               prints mod=M create=C version=V lease=L value=V, or absent
 *   del K               prints deleted or absent
 *   cas K REV V         put if K's mod_revision is REV (0: K absent); prints
 *                       ok rev=R, or failed mod=M value=V / failed absent (exit 3)
 *   lease-put K V TTL S grants a lease, puts K with it, renews it for S
 *                       seconds, then exits without revoking it
 *   watch P REV N       prints the first N events under prefix P from revision
 *                       REV (PUT key=K value=V mod=M, DELETE key=K mod=M);
 *                       COMPACTED rev=R ends it (exit 0), BROKEN too (exit 1)
 *
 * Errors go to stderr as "etcdtool: CLASS: message", exit 1.  Every result
 * callback frees the client from inside itself, as a daemon would.
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/tls.h"
#include "replication/etcd.h"

static struct event_base *base;
static struct etcd *etcd;
static struct etcd_watch *watch;
static int exit_code = 1;

/* Command state. */
static uint8_t *key, *val;
static size_t keylen, vallen;
static int64_t lease_id, lease_ttl;
static struct event *renew_ev;
static uint64_t renew_until_ms;
static long watch_left;

/* Ends the run: frees the client (from inside a callback too) and stops the loop. */
static void
tool_done(int code)
{
	exit_code = code;
	if (renew_ev != NULL) {
		event_free(renew_ev);
		renew_ev = NULL;
	}
	if (watch != NULL) {
		etcd_watch_cancel(watch);
		watch = NULL;
	}
	etcd_free(etcd);
	etcd = NULL;
	event_base_loopbreak(base);
}

/* Class names of etcd_err, for messages. */
static const char *
tool_err_name(int err)
{
	static const char *names[] = {"ok", "unreachable", "unknown", "error", "bad-reply",
				      "canceled"};

	return err >= 0 && err <= ETCD_CANCELED ? names[err] : "?";
}

/* Reports a failed request and ends the run; returns 1 when r failed. */
static int
tool_failed(const struct etcd_result *r)
{
	if (r->err == ETCD_OK)
		return 0;
	if (r->err == ETCD_ERROR)
		fprintf(stderr, "etcdtool: error: code %d: %s\n", r->code, r->message);
	else
		fprintf(stderr, "etcdtool: %s: %s\n", tool_err_name(r->err),
			r->message ? r->message : "");
	tool_done(1);
	return 1;
}

/* Prints bytes with \xHH for anything but printable ASCII. */
static void
tool_print(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\\')
			fputs("\\\\", stdout);
		else if (p[i] > 0x20 && p[i] < 0x7f)
			putchar(p[i]);
		else
			printf("\\x%02x", p[i]);
	}
}

/* Decodes \xHH and \\ in an argument into a malloc'd buffer. */
static uint8_t *
tool_unescape(const char *s, size_t *len)
{
	uint8_t *out = xmalloc(strlen(s) + 1);
	size_t n = 0;
	unsigned x;

	while (*s != '\0') {
		if (s[0] == '\\' && s[1] == '\\') {
			out[n++] = '\\';
			s += 2;
		} else if (s[0] == '\\' && s[1] == 'x' && sscanf(s + 2, "%2x", &x) == 1 &&
			   s[2] != '\0' && s[3] != '\0') {
			out[n++] = (uint8_t)x;
			s += 4;
		} else {
			out[n++] = (uint8_t)*s++;
		}
	}
	out[n] = '\0';
	*len = n;
	return out;
}

/* A decimal argument; dies on junk. */
static int64_t
tool_number(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (*s == '\0' || *end != '\0')
		fatalx("not a number: %s", s);
	return v;
}

/* Prints one kv as get does. */
static void
tool_print_kv(const struct etcd_kv *kv)
{
	printf("mod=%" PRId64 " create=%" PRId64 " version=%" PRId64 " lease=%" PRId64 " value=",
	       kv->mod_revision, kv->create_revision, kv->version, kv->lease);
	tool_print(kv->value, kv->valuelen);
	putchar('\n');
}

static void
put_cb(void *arg, const struct etcd_result *r)
{
	if (tool_failed(r))
		return;
	printf("rev=%" PRId64 "\n", r->revision);
	tool_done(0);
}

static void
get_cb(void *arg, const struct etcd_result *r)
{
	if (tool_failed(r))
		return;
	if (r->nkvs == 0)
		printf("absent\n");
	else
		tool_print_kv(&r->kvs[0]);
	tool_done(0);
}

static void
del_cb(void *arg, const struct etcd_result *r)
{
	if (tool_failed(r))
		return;
	printf("%s\n", r->succeeded ? "deleted" : "absent");
	tool_done(0);
}

static void
cas_cb(void *arg, const struct etcd_result *r)
{
	if (tool_failed(r))
		return;
	if (r->succeeded) {
		printf("ok rev=%" PRId64 "\n", r->revision);
		tool_done(0);
		return;
	}
	if (r->nkvs == 0) {
		printf("failed absent\n");
	} else {
		printf("failed ");
		tool_print_kv(&r->kvs[0]);
	}
	tool_done(3);
}

static void renew_cb(evutil_socket_t, short, void *);

/* Milliseconds on the monotonic clock. */
static uint64_t
tool_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Schedules the next renewal, a third of the TTL away; or ends when the time is up. */
static void
renew_next(void)
{
	uint64_t ms = (uint64_t)lease_ttl * 1000 / 3;
	struct timeval tv;

	if (tool_now() >= renew_until_ms) {
		printf("stopped renewing\n");
		tool_done(0);
		return;
	}
	if (ms < 200)
		ms = 200;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000 * 1000);
	if (renew_ev == NULL && (renew_ev = evtimer_new(base, renew_cb, NULL)) == NULL)
		fatalx("evtimer_new");
	evtimer_add(renew_ev, &tv);
}

static void
keepalive_cb(void *arg, const struct etcd_result *r)
{
	if (tool_failed(r))
		return;
	if (r->ttl == 0) {
		fprintf(stderr, "etcdtool: lease %" PRId64 " expired\n", lease_id);
		tool_done(1);
		return;
	}
	renew_next();
}

static void
renew_cb(evutil_socket_t fd, short what, void *arg)
{
	if (etcd_lease_keepalive(etcd, lease_id, keepalive_cb, NULL) != 0)
		fatalx("etcd_lease_keepalive refused");
}

static void
lease_put_cb(void *arg, const struct etcd_result *r)
{
	if (tool_failed(r))
		return;
	printf("rev=%" PRId64 "\n", r->revision);
	renew_next();
}

static void
grant_cb(void *arg, const struct etcd_result *r)
{
	if (tool_failed(r))
		return;
	lease_id = r->lease_id;
	lease_ttl = r->ttl;
	printf("lease=%" PRId64 " ttl=%" PRId64 "\n", lease_id, lease_ttl);
	if (etcd_put(etcd, key, keylen, val, vallen, lease_id, lease_put_cb, NULL) != 0)
		fatalx("etcd_put refused");
}

static void
watch_cb(void *arg, int type, const struct etcd_kv *kv)
{
	switch (type) {
	case ETCD_EV_PUT:
	case ETCD_EV_DELETE:
		printf("%s key=", type == ETCD_EV_PUT ? "PUT" : "DELETE");
		tool_print(kv->key, kv->keylen);
		if (type == ETCD_EV_PUT) {
			printf(" value=");
			tool_print(kv->value, kv->valuelen);
		}
		printf(" mod=%" PRId64 "\n", kv->mod_revision);
		if (--watch_left == 0)
			tool_done(0);
		break;
	case ETCD_EV_COMPACTED:
		printf("COMPACTED rev=%" PRId64 "\n", kv->mod_revision);
		tool_done(0);
		break;
	default:
		printf("BROKEN\n");
		tool_done(1);
		break;
	}
}

/* Splits "a,b,c" into the options' endpoints. */
static void
tool_endpoints(char *list, struct etcd_opts *o)
{
	char *s;

	o->nendpoints = 0;
	while ((s = strsep(&list, ",")) != NULL) {
		if (*s == '\0')
			continue;
		if (o->nendpoints == ETCD_MAX_ENDPOINTS)
			fatalx("more than %d endpoints", ETCD_MAX_ENDPOINTS);
		o->endpoints[o->nendpoints++] = s;
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: etcdtool [--endpoints URL,...] [--timeout MS]\n"
			"                [--cacert F --cert F --key F] [-v]\n"
			"                put K V | get K | del K | cas K REV V |\n"
			"                lease-put K V TTL S | watch PREFIX REV N\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"endpoints", required_argument, NULL, 'e'},
		{"timeout", required_argument, NULL, 't'},
		{"cacert", required_argument, NULL, 'A'},
		{"cert", required_argument, NULL, 'C'},
		{"key", required_argument, NULL, 'K'},
		{"verbose", no_argument, NULL, 'v'},
		{NULL, 0, NULL, 0},
	};
	char defep[] = "http://127.0.0.1:2379", err[512];
	const char *cacert = NULL, *cert = NULL, *keyf = NULL, *cmd;
	struct etcd_opts o;
	SSL_CTX *ctx = NULL;
	int ch, verbose = 0, rc = 0;

	memset(&o, 0, sizeof(o));
	tool_endpoints(defep, &o);
	while ((ch = getopt_long(argc, argv, "e:t:v", longopts, NULL)) != -1) {
		switch (ch) {
		case 'e':
			tool_endpoints(optarg, &o);
			break;
		case 't':
			o.timeout_ms = (unsigned)tool_number(optarg);
			break;
		case 'A':
			cacert = optarg;
			break;
		case 'C':
			cert = optarg;
			break;
		case 'K':
			keyf = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	log_init("etcdtool", 0, verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (cacert != NULL) {
		ctx = cfs_tls_ctx_new(0, cacert, cert, keyf, err, sizeof(err));
		if (ctx == NULL)
			fatalx("%s", err);
	}
	o.tls = ctx;
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if ((etcd = etcd_new(base, &o, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	SSL_CTX_free(ctx); /* the client holds its own reference */

	cmd = argv[0];
	if (argc >= 2)
		key = tool_unescape(argv[1], &keylen);
	if (strcmp(cmd, "put") == 0 && argc == 3) {
		val = tool_unescape(argv[2], &vallen);
		rc = etcd_put(etcd, key, keylen, val, vallen, 0, put_cb, NULL);
	} else if (strcmp(cmd, "get") == 0 && argc == 2) {
		rc = etcd_range(etcd, key, keylen, 0, get_cb, NULL);
	} else if (strcmp(cmd, "del") == 0 && argc == 2) {
		rc = etcd_delete(etcd, key, keylen, del_cb, NULL);
	} else if (strcmp(cmd, "cas") == 0 && argc == 4) {
		val = tool_unescape(argv[3], &vallen);
		rc = etcd_cas(etcd, key, keylen, tool_number(argv[2]), val, vallen, 0, cas_cb,
			      NULL);
	} else if (strcmp(cmd, "lease-put") == 0 && argc == 5) {
		val = tool_unescape(argv[2], &vallen);
		renew_until_ms = tool_now() + (uint64_t)tool_number(argv[4]) * 1000;
		rc = etcd_lease_grant(etcd, tool_number(argv[3]), grant_cb, NULL);
	} else if (strcmp(cmd, "watch") == 0 && argc == 4) {
		watch_left = (long)tool_number(argv[3]);
		watch = etcd_watch(etcd, key, keylen, tool_number(argv[2]), watch_cb, NULL);
		rc = watch == NULL ? -1 : 0;
	} else {
		usage();
	}
	if (rc != 0)
		fatalx("the request was refused at once");
	event_base_dispatch(base);
	if (etcd != NULL) /* the loop ran dry without a result: a bug */
		fatalx("no result");
	event_base_free(base);
	free(key);
	free(val);
	return exit_code;
}
