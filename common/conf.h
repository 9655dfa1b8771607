/*
 * chainfs.conf: the cluster's nodes in chain order and the TLS files.  The
 * grammar is documented in chainfs.conf(5).  One statement per line, '#'
 * starts a comment, words are separated by blanks:
 *
 *   ca PATH                 the cluster CA certificate
 *   cert PATH               this host's certificate (default for every node)
 *   key PATH                its private key
 *   plaintext yes|no        no TLS at all (default no; logged as a warning)
 *   sync-interval MS        group commit period of every node (default 100)
 *   map-size SIZE           LMDB map size, with K/M/G/T suffix (default 64G)
 *   coordinator etcd URL[,URL...]
 *                           failover on: the chain configuration lives in
 *                           etcd (http:// or https:// endpoints); without
 *                           it the chain is the node lines, fixed
 *   cluster NAME            this cluster's keys in etcd: /chainfs/NAME/
 *                           (default "chainfs")
 *   lease-ttl SECONDS       a node is failed when its etcd lease of this
 *                           length runs out (2..60, default 3)
 *   lock-lease SECONDS      a mount's locks outlive its last word to the
 *                           head by this long (2..3600, default 15)
 *   log-retain N            acknowledged entries each node keeps for a
 *                           node that rejoins (default 10000)
 *   node NAME HOST:PORT [data DIR] [cert PATH] [key PATH] [metrics HOST:PORT]
 *                           one node; the order of node lines is the chain
 *                           order, head first (":PORT" may be left out:
 *                           CFS_DEFAULT_PORT; IPv6 hosts in brackets);
 *                           metrics: where the node serves Prometheus
 *                           metrics over HTTP (host and port both required)
 *
 * Relative paths (ca, cert, key, data) are taken relative to the directory
 * of the configuration file, made absolute by cfs_conf_load;
 * cfs_conf_parse, which has no file, keeps them as written.
 *
 * Errors name the file, the line and the problem in one line, e.g.
 * "chainfs.conf:12: unknown keyword 'nod'".
 */
#ifndef CHAINFS_CONF_H
#define CHAINFS_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "common/wire.h"

#define CFS_DEFAULT_CONF "/etc/chainfs/chainfs.conf"
#define CFS_DEFAULT_PORT 7100
#define CFS_DEFAULT_SYNC_MS 100
#define CFS_DEFAULT_LEASE_TTL 3
#define CFS_DEFAULT_LOG_RETAIN 10000
#define CFS_DEFAULT_OUTPUT_BUDGET (128ULL << 20)
#define CFS_DEFAULT_CLIENT_OUTPUT_MAX (32ULL << 20)
#define CFS_DEFAULT_SESSION_TTL 3600
#define CFS_MIN_SESSION_TTL 20
#define CFS_DEFAULT_LOCK_LEASE 15
/* Client cache leases (lease-max): the longest a tail grants, in seconds. */
#define CFS_DEFAULT_LEASE 5
#define CFS_MAX_LEASE 60
#define CFS_MAX_ETCD 16
#define CFS_URL_MAX 300

struct cfs_conf_node {
	struct cfs_node_addr addr; /* name, host, port */
	char *data_dir;		   /* NULL when not given */
	char *cert;		   /* NULL: the global cert */
	char *key;		   /* NULL: the global key */
	struct cfs_node_addr metrics; /* HTTP metrics endpoint; port 0: none */
};

/* A range of uids or gids, both ends included. */
struct cfs_idrange {
	uint32_t lo, hi;
};

#define CFS_MAX_EXPORTS 64
#define CFS_MAX_IDRANGES 16
#define CFS_ANON_ID 65534
#define CFS_EXPORT_PATTERN_MAX 64

/*
 * What a client may do, by its certificate's name: an "export" line (see
 * chainfs.conf(5)).  The first line whose pattern matches the CN applies;
 * with none, cfs_export_default.
 */
struct cfs_export {
	char pattern[CFS_EXPORT_PATTERN_MAX + 1]; /* fnmatch(3) */
	int root_squash;			  /* uid 0 becomes anon_uid, gid 0 anon_gid */
	int all_squash;				  /* every uid and gid becomes the anonymous one */
	int read_only;				  /* updates fail with EROFS */
	uint32_t anon_uid, anon_gid;
	size_t nuids, ngids; /* 0: any */
	struct cfs_idrange uids[CFS_MAX_IDRANGES], gids[CFS_MAX_IDRANGES];
};

/* The policy of a client certificate that no export line names: root squashed. */
extern const struct cfs_export cfs_export_default;

struct cfs_conf {
	char *path; /* the file it was read from, for messages */
	char *ca;
	char *cert;
	char *key;
	int plaintext;
	unsigned sync_interval_ms;
	uint64_t map_size;
	size_t netcd; /* 0: no coordinator, the chain is fixed */
	char etcd[CFS_MAX_ETCD][CFS_URL_MAX + 1];
	char cluster[CFS_NODE_NAME_MAX + 1];
	unsigned lease_ttl_s;
	uint64_t log_retain;
	uint64_t output_budget;	    /* bytes queued to all clients of a node */
	uint64_t client_output_max; /* bytes queued to one client */
	unsigned lease_max_s;	    /* the longest lease a tail grants; 0: none */
	unsigned session_ttl_s;	    /* a silent client's results are dropped after */
	unsigned lock_lease_s;	    /* a silent client's locks are released after */
	size_t nexports;
	struct cfs_export exports[CFS_MAX_EXPORTS];
	size_t nnodes;
	struct cfs_conf_node nodes[CFS_MAX_NODES];
};

/*
 * Reads and checks the file at path.  Returns 0, or -1 with one line in err
 * ("PATH:LINE: problem" or "PATH: problem").  Checks: known keywords, arity,
 * numbers in range, names of at most CFS_NODE_NAME_MAX characters of
 * [A-Za-z0-9._-], ports 1..65535, unique node names and addresses (metrics
 * addresses too, except that loopback ones may repeat across nodes), at
 * least one node, and unless plaintext, ca/cert/key present (per node or
 * global).
 */
int cfs_conf_load(struct cfs_conf *, const char *path, char *err, size_t errlen);
/* The same from a string; name is used in messages in place of a path. */
int cfs_conf_parse(struct cfs_conf *, const char *text, size_t len, const char *name, char *err,
		   size_t errlen);
void cfs_conf_free(struct cfs_conf *);
/* Index of the node called name, or -1. */
int cfs_conf_node_index(const struct cfs_conf *, const char *name);
/* The cert and key a node uses (its own, else the global ones). */
const char *cfs_conf_node_cert(const struct cfs_conf *, size_t i);
const char *cfs_conf_node_key(const struct cfs_conf *, size_t i);

/*
 * Parses "host:port[,host:port...]" (a port may be omitted: CFS_DEFAULT_PORT;
 * IPv6 hosts in brackets; '+' separates as ',' does, for tools that cannot
 * take a comma in a mount's source) into out.  Returns the count, or -1
 * with a reason.
 */
int cfs_parse_node_list(const char *s, struct cfs_node_addr *out, size_t max, char *err,
			size_t errlen);
/* Parses exactly one "host:port" (port optional); 0, or -1 with a reason. */
int cfs_parse_addr(const char *s, struct cfs_node_addr *out, char *err, size_t errlen);
/* Parses "64G"-style sizes; -1 on error. */
int cfs_parse_size(const char *s, uint64_t *out);

/* The export that applies to a client certificate's CN: the first match, else the default. */
const struct cfs_export *cfs_conf_export(const struct cfs_conf *, const char *cn);

#endif
