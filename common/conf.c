/*
 * The chainfs.conf parser; see config.h and chainfs.conf(5).  Allocation
 * follows log.h: strings are copied with xstrdup, which dies on failure.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/log.h"

#define CONF_DEFAULT_MAP_SIZE (64ULL << 30)
#define CONF_MIN_MAP_SIZE (1ULL << 20)
#define CONF_MAX_SYNC_MS 60000
#define CONF_MAX_WORDS 32
#define CONF_MAX_FILE (1 << 20)
#define CONF_MIN_OUTPUT (1ULL << 20)
#define CONF_MAX_OUTPUT (64ULL << 30)

/* Global statements that may appear once each; indexes into conf_parser.seen. */
enum conf_kw {
	CONF_KW_CA,
	CONF_KW_CERT,
	CONF_KW_KEY,
	CONF_KW_PLAINTEXT,
	CONF_KW_SYNC_INTERVAL,
	CONF_KW_MAP_SIZE,
	CONF_KW_COORDINATOR,
	CONF_KW_CLUSTER,
	CONF_KW_LEASE_TTL,
	CONF_KW_LOG_RETAIN,
	CONF_KW_OUTPUT_BUDGET,
	CONF_KW_CLIENT_OUTPUT_MAX,
	CONF_KW_SESSION_TTL,
	CONF_KW_LOCK_LEASE,
	CONF_KW_LEASE_MAX,
	CONF_KW_EXPORT,
	CONF_KW_NODE,
	CONF_KW_max
};

static const struct {
	const char *word;
	const char *usage;
} conf_keywords[CONF_KW_max] = {
    [CONF_KW_CA] = {"ca", "ca PATH"},
    [CONF_KW_CERT] = {"cert", "cert PATH"},
    [CONF_KW_KEY] = {"key", "key PATH"},
    [CONF_KW_PLAINTEXT] = {"plaintext", "plaintext yes|no"},
    [CONF_KW_SYNC_INTERVAL] = {"sync-interval", "sync-interval MS"},
    [CONF_KW_MAP_SIZE] = {"map-size", "map-size SIZE"},
    [CONF_KW_COORDINATOR] = {"coordinator", "coordinator etcd URL[,URL...]"},
    [CONF_KW_CLUSTER] = {"cluster", "cluster NAME"},
    [CONF_KW_LEASE_TTL] = {"lease-ttl", "lease-ttl SECONDS"},
    [CONF_KW_LOG_RETAIN] = {"log-retain", "log-retain N"},
    [CONF_KW_OUTPUT_BUDGET] = {"output-budget", "output-budget SIZE"},
    [CONF_KW_CLIENT_OUTPUT_MAX] = {"client-output-max", "client-output-max SIZE"},
    [CONF_KW_SESSION_TTL] = {"session-ttl", "session-ttl SECONDS"},
    [CONF_KW_LOCK_LEASE] = {"lock-lease", "lock-lease SECONDS"},
    [CONF_KW_LEASE_MAX] = {"lease-max", "lease-max SECONDS"},
    [CONF_KW_EXPORT] = {"export", "export CERT-PATTERN [root-squash|no-root-squash] [all-squash] "
                                  "[read-only|read-write] [anon-uid N] [anon-gid N] "
                                  "[uids RANGES] [gids RANGES]"},
    [CONF_KW_NODE] = {"node", "node NAME HOST:PORT [data DIR] [cert PATH] [key PATH] "
                              "[metrics HOST:PORT]"},
};

/* What one parse needs besides the result. */
struct conf_parser {
	struct cfs_conf *conf;
	const char *name;    /* file name for messages */
	const char *basedir; /* relative paths are taken from here; NULL: as written */
	char *err;
	size_t errlen;
	size_t line;
	size_t seen[CONF_KW_max];        /* line of the first global statement, 0: not yet */
	size_t node_line[CFS_MAX_NODES]; /* line of each node statement */
};

/* Formats "NAME:LINE: problem" (or "NAME: problem" when line is 0) into err. */
static int __attribute__((format(printf, 3, 4)))
conf_error(struct conf_parser *p, size_t line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->err == NULL || p->errlen == 0)
		return -1;
	if (line > 0)
		n = snprintf(p->err, p->errlen, "%s:%zu: ", p->name, line);
	else
		n = snprintf(p->err, p->errlen, "%s: ", p->name);
	if (n < 0 || (size_t)n >= p->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* Formats a reason without a location, for the list and size parsers. */
static int __attribute__((format(printf, 3, 4)))
conf_reason(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Whether s is a usable node name: 1..CFS_NODE_NAME_MAX of [A-Za-z0-9._-]. */
static int
conf_name_ok(const char *s, char *why, size_t whylen)
{
	size_t n = strlen(s);

	if (n == 0)
		return conf_reason(why, whylen, "empty node name");
	if (n > CFS_NODE_NAME_MAX)
		return conf_reason(why, whylen, "node name '%.20s...' is too long (at most %d)", s,
		                   CFS_NODE_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			return conf_reason(
			    why, whylen,
			    "node name '%s' has a bad character (use A-Z a-z 0-9 . _ -)", s);
	}
	return 0;
}

/* Whether host (without brackets) is a plausible host name or address. */
static int
conf_host_ok(const char *host, int bracketed, char *why, size_t whylen)
{
	size_t n = strlen(host);

	if (n == 0)
		return conf_reason(why, whylen, "empty host");
	if (n > CFS_HOST_MAX)
		return conf_reason(why, whylen, "host is too long (at most %d)", CFS_HOST_MAX);
	if (bracketed) {
		struct in6_addr a6;

		if (inet_pton(AF_INET6, host, &a6) != 1)
			return conf_reason(why, whylen, "'[%s]' is not an IPv6 address", host);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)host[i];

		if (!isalnum(c) && c != '.' && c != '-' && c != '_')
			return conf_reason(why, whylen, "host '%s' has a bad character", host);
	}
	return 0;
}

/* Parses a port of 1..65535 made of digits only. */
static int
conf_port(const char *s, uint16_t *port, char *why, size_t whylen)
{
	unsigned long v = 0;

	if (*s == '\0')
		return conf_reason(why, whylen, "missing port after ':'");
	for (const char *c = s; *c; c++) {
		if (*c < '0' || *c > '9')
			return conf_reason(why, whylen, "port '%s' is not a number", s);
		v = v * 10 + (unsigned long)(*c - '0');
		if (v > 65535)
			break;
	}
	if (v == 0 || v > 65535)
		return conf_reason(why, whylen, "port %s is out of range (1..65535)", s);
	*port = (uint16_t)v;
	return 0;
}

/*
 * Parses HOST[:PORT], [V6]:PORT or [V6] into a; a bare IPv6 address without
 * a port is accepted too.
 */
static int
conf_hostport(const char *s, struct cfs_node_addr *a, char *why, size_t whylen)
{
	char host[CFS_HOST_MAX + 2];
	const char *colon, *portstr = NULL;
	size_t hlen;
	int bracketed = 0;

	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL)
			return conf_reason(why, whylen, "'%s': missing ']'", s);
		bracketed = 1;
		hlen = (size_t)(close - s - 1);
		if (close[1] == ':')
			portstr = close + 2;
		else if (close[1] != '\0')
			return conf_reason(why, whylen, "'%s': expected ':PORT' after ']'", s);
		s++;
	} else if ((colon = strchr(s, ':')) != NULL && strchr(colon + 1, ':') != NULL) {
		struct in6_addr a6;

		if (inet_pton(AF_INET6, s, &a6) != 1)
			return conf_reason(why, whylen,
			                   "'%s': write IPv6 addresses in brackets, e.g. [::1]:%d",
			                   s, CFS_DEFAULT_PORT);
		hlen = strlen(s);
		bracketed = 1;
	} else if (colon != NULL) {
		hlen = (size_t)(colon - s);
		portstr = colon + 1;
	} else {
		hlen = strlen(s);
	}
	if (hlen > CFS_HOST_MAX)
		return conf_reason(why, whylen, "host is too long (at most %d)", CFS_HOST_MAX);
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (conf_host_ok(host, bracketed, why, whylen) == -1)
		return -1;
	a->port = CFS_DEFAULT_PORT;
	if (portstr != NULL && conf_port(portstr, &a->port, why, whylen) == -1)
		return -1;
	memcpy(a->host, host, hlen + 1);
	return 0;
}

/*
 * Parses a node's metrics endpoint.  Unlike a node address it has no default
 * port, and the host must be written out, so that where the endpoint listens
 * is always visible in the file.
 */
static int
conf_metrics_addr(const char *s, struct cfs_node_addr *a, char *why, size_t whylen)
{
	const char *colon = strchr(s, ':');
	int has_port;

	if (s[0] == '[')
		has_port = strstr(s, "]:") != NULL;
	else
		has_port = colon != NULL && strchr(colon + 1, ':') == NULL;
	if (conf_hostport(s, a, why, whylen) == -1)
		return -1;
	if (!has_port)
		return conf_reason(why, whylen,
		                   "'%s' has no port: write HOST:PORT, e.g. 127.0.0.1:9100 "
		                   "(IPv6 in brackets)",
		                   s);
	return 0;
}

/* Parses "host:port[,host:port...]" (or with '+' between them); see conf.h. */
int
cfs_parse_node_list(const char *s, struct cfs_node_addr *out, size_t max, char *err, size_t errlen)
{
	size_t n = 0;
	const char *p = s;

	if (s == NULL || *s == '\0')
		return conf_reason(err, errlen, "empty node list");
	for (;;) {
		const char *end = strpbrk(p, ",+");
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char item[CFS_HOST_MAX + 16];
		char why[CFS_HOST_MAX + 128];

		if (len == 0)
			return conf_reason(err, errlen, "empty entry in node list '%s'", s);
		if (len >= sizeof(item))
			return conf_reason(err, errlen, "node list entry %zu is too long", n + 1);
		if (n == max)
			return conf_reason(err, errlen, "too many nodes (at most %zu)", max);
		memcpy(item, p, len);
		item[len] = '\0';
		memset(&out[n], 0, sizeof(out[n]));
		if (conf_hostport(item, &out[n], why, sizeof(why)) == -1)
			return conf_reason(err, errlen, "%s", why);
		n++;
		if (end == NULL)
			break;
		p = end + 1;
	}
	return (int)n;
}

/* Parses exactly one "host:port"; see conf.h. */
int
cfs_parse_addr(const char *s, struct cfs_node_addr *out, char *err, size_t errlen)
{
	if (s != NULL && strpbrk(s, ",+") != NULL)
		return conf_reason(err, errlen, "'%s' is more than one address", s);
	return cfs_parse_node_list(s, out, 1, err, errlen) == 1 ? 0 : -1;
}

/* Parses a size of digits with an optional K, M, G or T suffix (powers of 1024). */
int
cfs_parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	unsigned shift = 0;
	const char *c = s;

	if (s == NULL || *c < '0' || *c > '9')
		return -1;
	for (; *c >= '0' && *c <= '9'; c++) {
		if (v > (UINT64_MAX - (uint64_t)(*c - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*c - '0');
	}
	switch (*c) {
	case '\0':
		break;
	case 'K':
	case 'k':
		shift = 10;
		break;
	case 'M':
	case 'm':
		shift = 20;
		break;
	case 'G':
	case 'g':
		shift = 30;
		break;
	case 'T':
	case 't':
		shift = 40;
		break;
	default:
		return -1;
	}
	if (*c != '\0' && c[1] != '\0')
		return -1;
	if (shift > 0 && v > (UINT64_MAX >> shift))
		return -1;
	*out = v << shift;
	return 0;
}

/* A path from the file, made relative to the file's directory when needed. */
static char *
conf_path(const struct conf_parser *p, const char *word)
{
	size_t n;
	char *s;

	if (word[0] == '/' || p->basedir == NULL)
		return xstrdup(word);
	n = strlen(p->basedir) + strlen(word) + 2;
	s = xmalloc(n);
	snprintf(s, n, "%s/%s", p->basedir, word);
	return s;
}

/* Parses yes or no. */
static int
conf_yesno(const char *s, int *out)
{
	if (strcmp(s, "yes") == 0)
		*out = 1;
	else if (strcmp(s, "no") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

/* Parses a decimal number in [min, max]. */
static int
conf_number(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (*s == '\0')
		return -1;
	for (const char *c = s; *c; c++) {
		if (*c < '0' || *c > '9')
			return -1;
		v = v * 10 + (unsigned long)(*c - '0');
		if (v > max)
			return -1;
	}
	if (v < min)
		return -1;
	*out = v;
	return 0;
}

/*
 * "coordinator etcd URL[,URL...]": the etcd endpoints, http:// or https://
 * with a host and a port, and nothing after them.
 */
static int
conf_coordinator(struct conf_parser *p, char **w, size_t nw)
{
	struct cfs_conf *conf = p->conf;
	const char *usage = conf_keywords[CONF_KW_COORDINATOR].usage;
	char *list, *url, *save = NULL;

	if (nw != 3)
		return conf_error(p, p->line, "%s: %s", nw < 3 ? "missing argument" : "extra argument",
		                  usage);
	if (strcmp(w[1], "etcd") != 0)
		return conf_error(p, p->line, "coordinator: unknown kind '%s' (only etcd)", w[1]);
	if (p->seen[CONF_KW_COORDINATOR])
		return conf_error(p, p->line, "'coordinator' given twice (first on line %zu)",
		                  p->seen[CONF_KW_COORDINATOR]);
	p->seen[CONF_KW_COORDINATOR] = p->line;
	list = xstrdup(w[2]);
	for (url = strtok_r(list, ",", &save); url != NULL; url = strtok_r(NULL, ",", &save)) {
		const char *rest = NULL, *colon;
		unsigned long port;
		char *end;
		int rc = 0;

		if (strncmp(url, "http://", 7) == 0)
			rest = url + 7;
		else if (strncmp(url, "https://", 8) == 0)
			rest = url + 8;
		colon = rest != NULL ? strrchr(rest, ':') : NULL;
		if (rest == NULL || colon == NULL || colon == rest) {
			rc = conf_error(p, p->line,
			                "coordinator: '%s' is not http://HOST:PORT or https://HOST:PORT",
			                url);
		} else {
			port = strtoul(colon + 1, &end, 10);
			if (*end != '\0' || port == 0 || port > 65535 || colon[1] == '\0')
				rc = conf_error(p, p->line, "coordinator: bad port in '%s'", url);
			else if (conf->netcd == CFS_MAX_ETCD || strlen(url) > CFS_URL_MAX)
				rc = conf_error(p, p->line,
				                "coordinator: at most %d endpoints of %d characters",
				                CFS_MAX_ETCD, CFS_URL_MAX);
		}
		if (rc != 0) {
			free(list); /* after the message: url points into it */
			return rc;
		}
		snprintf(conf->etcd[conf->netcd++], sizeof(conf->etcd[0]), "%s", url);
	}
	free(list);
	if (conf->netcd == 0)
		return conf_error(p, p->line, "coordinator: no endpoint given");
	return 0;
}

/* Handles "node NAME HOST:PORT [data DIR] [cert PATH] [key PATH] [metrics HOST:PORT]". */
static int
conf_node(struct conf_parser *p, char **w, size_t nw)
{
	struct cfs_conf *conf = p->conf;
	struct cfs_conf_node *node;
	char why[CFS_HOST_MAX + 128];
	size_t opt_line[4] = {0, 0, 0, 0};

	if (nw < 3)
		return conf_error(p, p->line, "'node' needs a name and an address: %s",
		                  conf_keywords[CONF_KW_NODE].usage);
	if (conf->nnodes == CFS_MAX_NODES)
		return conf_error(p, p->line, "too many nodes (at most %d)", CFS_MAX_NODES);
	if (conf_name_ok(w[1], why, sizeof(why)) == -1)
		return conf_error(p, p->line, "%s", why);
	for (size_t i = 0; i < conf->nnodes; i++)
		if (strcmp(conf->nodes[i].addr.name, w[1]) == 0)
			return conf_error(p, p->line,
			                  "duplicate node name '%s' (first on line %zu)", w[1],
			                  p->node_line[i]);
	node = &conf->nodes[conf->nnodes];
	memset(node, 0, sizeof(*node));
	if (conf_hostport(w[2], &node->addr, why, sizeof(why)) == -1)
		return conf_error(p, p->line, "node '%s': bad address: %s", w[1], why);
	for (size_t i = 0; i < conf->nnodes; i++)
		if (conf->nodes[i].addr.port == node->addr.port &&
		    strcasecmp(conf->nodes[i].addr.host, node->addr.host) == 0)
			return conf_error(p, p->line,
			                  "duplicate address '%s' (node '%s' on line %zu)", w[2],
			                  conf->nodes[i].addr.name, p->node_line[i]);
	memcpy(node->addr.name, w[1], strlen(w[1]) + 1);
	/* The node counts from here so that conf_free releases its options on error. */
	p->node_line[conf->nnodes] = p->line;
	conf->nnodes++;
	for (size_t i = 3; i < nw; i += 2) {
		static const char *opts[] = {"data", "cert", "key", "metrics"};
		char **slot[] = {&node->data_dir, &node->cert, &node->key, NULL};
		size_t o;

		for (o = 0; o < 4; o++)
			if (strcmp(w[i], opts[o]) == 0)
				break;
		if (o == 4)
			return conf_error(p, p->line,
			                  "unknown node option '%s' (expected data, cert, key or "
			                  "metrics)",
			                  w[i]);
		if (i + 1 == nw)
			return conf_error(p, p->line, "node option '%s' needs an argument",
			                  opts[o]);
		if (opt_line[o])
			return conf_error(p, p->line, "node option '%s' given twice", opts[o]);
		opt_line[o] = p->line;
		if (slot[o] != NULL)
			*slot[o] = conf_path(p, w[i + 1]);
		else if (conf_metrics_addr(w[i + 1], &node->metrics, why, sizeof(why)) == -1)
			return conf_error(p, p->line, "node '%s': bad metrics address: %s", w[1],
			                  why);
	}
	return 0;
}

const struct cfs_export cfs_export_default = {
    .pattern = "*",
    .root_squash = 1,
    .anon_uid = CFS_ANON_ID,
    .anon_gid = CFS_ANON_ID,
};

/* Parses "N" or "A-B", comma-separated, into at most CFS_MAX_IDRANGES ranges. */
static int
conf_idranges(const char *s, struct cfs_idrange *r, size_t *n)
{
	char buf[512], *save = NULL, *tok;
	unsigned long lo, hi;

	if (strlen(s) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", s);
	*n = 0;
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		char *dash = strchr(tok, '-');

		if (*n == CFS_MAX_IDRANGES)
			return -1;
		if (dash != NULL)
			*dash = '\0';
		if (conf_number(tok, 0, UINT32_MAX - 1, &lo) == -1)
			return -1;
		hi = lo;
		if (dash != NULL && (conf_number(dash + 1, 0, UINT32_MAX - 1, &hi) == -1 || hi < lo))
			return -1;
		r[*n].lo = (uint32_t)lo;
		r[*n].hi = (uint32_t)hi;
		(*n)++;
	}
	return *n > 0 ? 0 : -1;
}

/* export PATTERN OPTIONS...: one client policy. */
static int
conf_export(struct conf_parser *p, char **w, size_t nw)
{
	struct cfs_conf *conf = p->conf;
	struct cfs_export *x;
	unsigned long num;
	int squash_set = 0, mode_set = 0;

	if (nw < 2)
		return conf_error(p, p->line, "missing argument: %s",
		                  conf_keywords[CONF_KW_EXPORT].usage);
	if (conf->nexports == CFS_MAX_EXPORTS)
		return conf_error(p, p->line, "export: more than %d export lines", CFS_MAX_EXPORTS);
	if (strlen(w[1]) > CFS_EXPORT_PATTERN_MAX)
		return conf_error(p, p->line, "export: pattern longer than %d characters",
		                  CFS_EXPORT_PATTERN_MAX);
	for (size_t i = 0; i < conf->nexports; i++)
		if (strcmp(conf->exports[i].pattern, w[1]) == 0)
			return conf_error(p, p->line, "export: '%s' given twice", w[1]);
	x = &conf->exports[conf->nexports];
	*x = cfs_export_default;
	snprintf(x->pattern, sizeof(x->pattern), "%s", w[1]);
	for (size_t i = 2; i < nw; i++) {
		const char *o = w[i];

		if (strcmp(o, "root-squash") == 0 || strcmp(o, "no-root-squash") == 0) {
			if (squash_set++)
				return conf_error(p, p->line, "export: root-squash given twice");
			x->root_squash = o[0] == 'r';
		} else if (strcmp(o, "all-squash") == 0) {
			x->all_squash = 1;
		} else if (strcmp(o, "read-only") == 0 || strcmp(o, "read-write") == 0) {
			if (mode_set++)
				return conf_error(p, p->line, "export: read-only or read-write given twice");
			x->read_only = o[5] == 'o';
		} else if (strcmp(o, "anon-uid") == 0 || strcmp(o, "anon-gid") == 0) {
			if (i + 1 == nw || conf_number(w[i + 1], 1, UINT32_MAX - 1, &num) == -1)
				return conf_error(p, p->line,
				                  "export: %s wants a number from 1 to %u (not 0: "
				                  "the anonymous user is never root)",
				                  o, UINT32_MAX - 1);
			if (o[5] == 'u')
				x->anon_uid = (uint32_t)num;
			else
				x->anon_gid = (uint32_t)num;
			i++;
		} else if (strcmp(o, "uids") == 0 || strcmp(o, "gids") == 0) {
			int u = o[0] == 'u';

			if (i + 1 == nw ||
			    conf_idranges(w[i + 1], u ? x->uids : x->gids, u ? &x->nuids : &x->ngids) == -1)
				return conf_error(p, p->line,
				                  "export: %s wants ranges such as 1000-1999,3000 (at "
				                  "most %d)",
				                  o, CFS_MAX_IDRANGES);
			i++;
		} else {
			return conf_error(p, p->line, "export: unknown option '%s': %s", o,
			                  conf_keywords[CONF_KW_EXPORT].usage);
		}
	}
	conf->nexports++;
	return 0;
}

const struct cfs_export *
cfs_conf_export(const struct cfs_conf *conf, const char *cn)
{
	for (size_t i = 0; i < conf->nexports; i++)
		if (fnmatch(conf->exports[i].pattern, cn, 0) == 0)
			return &conf->exports[i];
	return &cfs_export_default;
}

/* Handles one statement already split into words. */
static int
conf_statement(struct conf_parser *p, char **w, size_t nw)
{
	struct cfs_conf *conf = p->conf;
	unsigned long num;
	size_t kw;

	for (kw = 0; kw < CONF_KW_max; kw++)
		if (strcmp(w[0], conf_keywords[kw].word) == 0)
			break;
	if (kw == CONF_KW_max)
		return conf_error(p, p->line, "unknown keyword '%s'", w[0]);
	if (kw == CONF_KW_NODE)
		return conf_node(p, w, nw);
	if (kw == CONF_KW_COORDINATOR)
		return conf_coordinator(p, w, nw);
	if (kw == CONF_KW_EXPORT)
		return conf_export(p, w, nw);
	if (nw < 2)
		return conf_error(p, p->line, "missing argument: %s", conf_keywords[kw].usage);
	if (nw > 2)
		return conf_error(p, p->line, "extra argument '%s': %s", w[2],
		                  conf_keywords[kw].usage);
	if (p->seen[kw])
		return conf_error(p, p->line, "'%s' given twice (first on line %zu)", w[0],
		                  p->seen[kw]);
	p->seen[kw] = p->line;
	switch (kw) {
	case CONF_KW_CA:
		conf->ca = conf_path(p, w[1]);
		break;
	case CONF_KW_CERT:
		conf->cert = conf_path(p, w[1]);
		break;
	case CONF_KW_KEY:
		conf->key = conf_path(p, w[1]);
		break;
	case CONF_KW_PLAINTEXT:
		if (conf_yesno(w[1], &conf->plaintext) == -1)
			return conf_error(p, p->line, "plaintext: expected yes or no, not '%s'",
			                  w[1]);
		break;
	case CONF_KW_SYNC_INTERVAL:
		if (conf_number(w[1], 1, CONF_MAX_SYNC_MS, &num) == -1)
			return conf_error(p, p->line,
			                  "sync-interval: bad number '%s' (milliseconds, 1..%d)",
			                  w[1], CONF_MAX_SYNC_MS);
		conf->sync_interval_ms = (unsigned)num;
		break;
	case CONF_KW_MAP_SIZE:
		if (cfs_parse_size(w[1], &conf->map_size) == -1)
			return conf_error(p, p->line,
			                  "map-size: bad size '%s' (a number with K, M, G or T)",
			                  w[1]);
		if (conf->map_size < CONF_MIN_MAP_SIZE)
			return conf_error(p, p->line, "map-size: '%s' is below the minimum 1M",
			                  w[1]);
		break;
	case CONF_KW_CLUSTER: {
		char why[128];

		if (conf_name_ok(w[1], why, sizeof(why)) == -1)
			return conf_error(p, p->line, "cluster: %s", why);
		snprintf(conf->cluster, sizeof(conf->cluster), "%s", w[1]);
		break;
	}
	case CONF_KW_LEASE_TTL:
		if (conf_number(w[1], 2, 60, &num) == -1)
			return conf_error(p, p->line, "lease-ttl: bad number '%s' (seconds, 2..60)",
			                  w[1]);
		conf->lease_ttl_s = (unsigned)num;
		break;
	case CONF_KW_LOG_RETAIN:
		if (conf_number(w[1], 1, 100000000, &num) == -1)
			return conf_error(p, p->line,
			                  "log-retain: bad number '%s' (entries, 1..100000000)", w[1]);
		conf->log_retain = num;
		break;
	case CONF_KW_SESSION_TTL:
		if (conf_number(w[1], CFS_MIN_SESSION_TTL, 31536000, &num) == -1)
			return conf_error(p, p->line,
			                  "session-ttl: bad number '%s' (seconds, %d..31536000)", w[1],
			                  CFS_MIN_SESSION_TTL);
		conf->session_ttl_s = (unsigned)num;
		break;
	case CONF_KW_LOCK_LEASE:
		if (conf_number(w[1], 2, 3600, &num) == -1)
			return conf_error(p, p->line, "lock-lease: bad number '%s' (seconds, 2..3600)",
			                  w[1]);
		conf->lock_lease_s = (unsigned)num;
		break;
	case CONF_KW_LEASE_MAX:
		if (conf_number(w[1], 0, CFS_MAX_LEASE, &num) == -1)
			return conf_error(p, p->line,
			                  "lease-max: bad number '%s' (seconds, 0..%d; 0: no leases)",
			                  w[1], CFS_MAX_LEASE);
		conf->lease_max_s = (unsigned)num;
		break;
	case CONF_KW_OUTPUT_BUDGET:
	case CONF_KW_CLIENT_OUTPUT_MAX: {
		uint64_t v;

		if (cfs_parse_size(w[1], &v) == -1 || v < CONF_MIN_OUTPUT || v > CONF_MAX_OUTPUT)
			return conf_error(p, p->line, "%s: bad size '%s' (a number with K, M or G, "
			                  "1M..64G)", w[0], w[1]);
		if (kw == CONF_KW_OUTPUT_BUDGET)
			conf->output_budget = v;
		else
			conf->client_output_max = v;
		break;
	}
	default:
		break;
	}
	return 0;
}

/* Splits one line into words in place; '#' starts a comment.  Returns the count or -1. */
static int
conf_split(char *line, char **w, size_t maxw)
{
	size_t n = 0;
	char *c = line;

	for (;;) {
		while (*c == ' ' || *c == '\t' || *c == '\r' || *c == '\v' || *c == '\f')
			c++;
		if (*c == '\0' || *c == '#')
			break;
		if (n == maxw)
			return -1;
		w[n++] = c;
		while (*c != '\0' && *c != '#' && *c != ' ' && *c != '\t' && *c != '\r' &&
		       *c != '\v' && *c != '\f')
			c++;
		if (*c == '#') {
			*c = '\0';
			break;
		}
		if (*c == '\0')
			break;
		*c++ = '\0';
	}
	return (int)n;
}

/* Whether host is written as a loopback address or name. */
static int
conf_host_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/* The checks that need the whole file. */
static int
conf_check(struct conf_parser *p)
{
	struct cfs_conf *conf = p->conf;

	if (conf->nnodes == 0)
		return conf_error(p, 0, "no node defined");
	/*
	 * A metrics endpoint must not take its node's address, nor another
	 * node's or endpoint's.  A loopback endpoint names a different machine
	 * on each host, so "127.0.0.1:9100" on every node line is fine; nodes
	 * sharing one machine find out when the second cannot listen.
	 */
	for (size_t i = 0; i < conf->nnodes; i++) {
		const struct cfs_node_addr *m = &conf->nodes[i].metrics;
		int loopback = conf_host_loopback(m->host);

		if (m->port == 0)
			continue;
		for (size_t j = 0; j < conf->nnodes; j++) {
			const struct cfs_conf_node *o = &conf->nodes[j];
			const char *what = NULL;

			if (j != i && loopback)
				continue;
			if (o->addr.port == m->port && strcasecmp(o->addr.host, m->host) == 0)
				what = "the address";
			else if (j < i && o->metrics.port == m->port &&
			         strcasecmp(o->metrics.host, m->host) == 0)
				what = "the metrics address";
			if (what != NULL)
				return conf_error(
				    p, p->node_line[i],
				    "node '%s': duplicate metrics address '%s:%u' (%s "
				    "of node '%s' on line %zu)",
				    conf->nodes[i].addr.name, m->host, m->port, what, o->addr.name,
				    p->node_line[j]);
		}
	}
	if (conf->plaintext)
		return 0;
	if (conf->ca == NULL)
		return conf_error(p, 0, "no 'ca' given (required unless 'plaintext yes')");
	for (size_t i = 0; i < conf->nnodes; i++) {
		const char *missing = NULL;

		if (cfs_conf_node_cert(conf, i) == NULL)
			missing = "cert";
		else if (cfs_conf_node_key(conf, i) == NULL)
			missing = "key";
		if (missing != NULL)
			return conf_error(p, p->node_line[i],
			                  "node '%s' has no %s: give a global '%s PATH' or "
			                  "'%s PATH' on its node line",
			                  conf->nodes[i].addr.name, missing, missing, missing);
	}
	return 0;
}

/* Parses text with relative paths resolved from basedir (NULL: as written). */
static int
conf_parse_in(struct cfs_conf *conf, const char *text, size_t len, const char *name,
              const char *basedir, char *err, size_t errlen)
{
	struct conf_parser *p;
	const char *s = text, *end = text + len;
	char *buf = NULL;
	int rc = 0;

	memset(conf, 0, sizeof(*conf));
	conf->path = xstrdup(name);
	conf->sync_interval_ms = CFS_DEFAULT_SYNC_MS;
	conf->map_size = CONF_DEFAULT_MAP_SIZE;
	conf->lease_ttl_s = CFS_DEFAULT_LEASE_TTL;
	conf->log_retain = CFS_DEFAULT_LOG_RETAIN;
	conf->output_budget = CFS_DEFAULT_OUTPUT_BUDGET;
	conf->client_output_max = CFS_DEFAULT_CLIENT_OUTPUT_MAX;
	conf->session_ttl_s = CFS_DEFAULT_SESSION_TTL;
	conf->lock_lease_s = CFS_DEFAULT_LOCK_LEASE;
	conf->lease_max_s = CFS_DEFAULT_LEASE;
	snprintf(conf->cluster, sizeof(conf->cluster), "chainfs");
	/* The parser state holds a table per node; keep it off the stack. */
	p = xcalloc(1, sizeof(*p));
	p->conf = conf;
	p->name = name;
	p->basedir = basedir;
	p->err = err;
	p->errlen = errlen;
	buf = xmalloc(len + 1);
	while (s < end && rc == 0) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t llen = nl ? (size_t)(nl - s) : (size_t)(end - s);
		char *w[CONF_MAX_WORDS];
		int nw;

		p->line++;
		if (memchr(s, '\0', llen) != NULL) {
			rc = conf_error(p, p->line, "NUL character in line");
			break;
		}
		memcpy(buf, s, llen);
		buf[llen] = '\0';
		s += llen + (nl ? 1 : 0);
		nw = conf_split(buf, w, CONF_MAX_WORDS);
		if (nw == -1)
			rc = conf_error(p, p->line, "too many words (at most %d)", CONF_MAX_WORDS);
		else if (nw > 0)
			rc = conf_statement(p, w, (size_t)nw);
	}
	if (rc == 0)
		rc = conf_check(p);
	free(buf);
	free(p);
	if (rc == -1)
		cfs_conf_free(conf);
	return rc;
}

/* Parses a configuration held in memory; relative paths are kept as written. */
int
cfs_conf_parse(struct cfs_conf *conf, const char *text, size_t len, const char *name, char *err,
               size_t errlen)
{
	return conf_parse_in(conf, text, len, name, NULL, err, errlen);
}

/* The absolute directory holding path, for resolving relative paths. */
static char *
conf_basedir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir, *abs;

	if (slash == NULL)
		dir = xstrdup(".");
	else if (slash == path)
		dir = xstrdup("/");
	else {
		dir = xstrdup(path);
		dir[slash - path] = '\0';
	}
	/* Absolute, so that a daemon that changes directory still finds its files. */
	abs = realpath(dir, NULL);
	if (abs == NULL)
		return dir;
	free(dir);
	return abs;
}

/* Reads and parses the file at path. */
int
cfs_conf_load(struct cfs_conf *conf, const char *path, char *err, size_t errlen)
{
	char *text = NULL, *base;
	size_t len = 0, cap = 0;
	int fd, rc;

	memset(conf, 0, sizeof(*conf));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		goto fail;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			if (cap >= CONF_MAX_FILE) {
				close(fd);
				free(text);
				return conf_reason(err, errlen,
				                   "%s: file is too large (over %d bytes)", path,
				                   CONF_MAX_FILE);
			}
			cap = cap ? cap * 2 : 4096;
			text = xrealloc(text, cap);
		}
		n = read(fd, text + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			int saved = errno;

			close(fd);
			free(text);
			errno = saved;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	base = conf_basedir(path);
	rc = conf_parse_in(conf, text ? text : "", len, path, base, err, errlen);
	free(base);
	free(text);
	return rc;
fail:
	return conf_reason(err, errlen, "%s: cannot read: %s", path, strerror(errno));
}

/* Releases what a successful parse allocated; safe on a zeroed or freed conf. */
void
cfs_conf_free(struct cfs_conf *conf)
{
	free(conf->path);
	free(conf->ca);
	free(conf->cert);
	free(conf->key);
	for (size_t i = 0; i < conf->nnodes; i++) {
		free(conf->nodes[i].data_dir);
		free(conf->nodes[i].cert);
		free(conf->nodes[i].key);
	}
	memset(conf, 0, sizeof(*conf));
}

/* Finds a node by name. */
int
cfs_conf_node_index(const struct cfs_conf *conf, const char *name)
{
	for (size_t i = 0; i < conf->nnodes; i++)
		if (strcmp(conf->nodes[i].addr.name, name) == 0)
			return (int)i;
	return -1;
}

/* The certificate node i presents. */
const char *
cfs_conf_node_cert(const struct cfs_conf *conf, size_t i)
{
	if (i >= conf->nnodes)
		return NULL;
	return conf->nodes[i].cert ? conf->nodes[i].cert : conf->cert;
}

/* The private key of node i. */
const char *
cfs_conf_node_key(const struct cfs_conf *conf, size_t i)
{
	if (i >= conf->nnodes)
		return NULL;
	return conf->nodes[i].key ? conf->nodes[i].key : conf->key;
}
