/*
 * TLS for every chainfs connection: TLS 1.3 only, mutual, trusting exactly
 * the cluster's CA.  A peer's identity is the subject of its certificate:
 * CN is the node or client name, OU is its kind, "node" or "client".
 */
#ifndef CHAINFS_TLS_H
#define CHAINFS_TLS_H

#include <openssl/ssl.h>

#define CFS_TLS_KIND_NODE "node"
#define CFS_TLS_KIND_CLIENT "client"

struct cfs_tls_peer {
	char name[65]; /* CN */
	char kind[16]; /* OU: "node" or "client" */
};

/*
 * Makes a context for a server (is_server) or client that presents cert/key
 * and requires the peer to present a certificate signed by ca.  On error
 * returns NULL and writes a reason, with OpenSSL's, to err.
 */
SSL_CTX *cfs_tls_ctx_new(int is_server, const char *ca, const char *cert, const char *key,
			 char *err, size_t errlen);
/* Reads the verified peer's name and kind; -1 when there is no verified peer cert. */
int cfs_tls_peer(SSL *, struct cfs_tls_peer *);
/* Reads the name and kind of the context's own certificate; -1 when it has none. */
int cfs_tls_self(SSL_CTX *, struct cfs_tls_peer *);
/*
 * Whether a peer that was dialled as node `name` (NULL or "": any node)
 * proved it with its certificate: 0, or -1 with the reason in why.
 */
int cfs_tls_is_node(const struct cfs_tls_peer *, const char *name, char *why, size_t whylen);
/* The last OpenSSL error as text, for logs. */
const char *cfs_tls_error(void);

/*
 * Certificate authority tools, for "chainfsctl cert".  Keys are EC P-256,
 * certificates X.509 v3 valid for `days` days.
 */
/* Writes ca.crt and ca.key in dir (key mode 0600).  Refuses to overwrite. */
int cfs_cert_make_ca(const char *dir, const char *cn, int days, char *err, size_t errlen);
/*
 * Writes NAME.crt and NAME.key in dir, signed by dir/ca.crt and dir/ca.key,
 * with CN=name, OU=kind and, for nodes, subjectAltName IP/DNS for each of
 * the comma-separated hosts.  Refuses to overwrite.
 */
int cfs_cert_make(const char *dir, const char *name, const char *kind, const char *hosts,
		  int days, char *err, size_t errlen);

#endif
