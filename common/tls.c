/*
 * TLS contexts, peer identity and the small certificate authority behind
 * "chainfsctl cert"; see tls.h.  Nothing here logs: errors go to the
 * caller's buffer, and key material never leaves the key files.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/tls.h"
#include "common/wire.h"

#define TLS_MAX_DAYS 36500
#define TLS_SERIAL_BYTES 16

/* Writes a message to err and returns -1. */
static int __attribute__((format(printf, 3, 4)))
tls_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* The oldest queued OpenSSL error, usually the root cause; the queue is emptied. */
const char *
cfs_tls_error(void)
{
	static __thread char buf[384];
	const char *lib, *reason, *data = NULL;
	unsigned long e;
	int flags = 0;
	size_t n;

	e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags);
	if (e == 0)
		return "no OpenSSL error reported";
	lib = ERR_lib_error_string(e);
	reason = ERR_reason_error_string(e);
	if (reason == NULL && ERR_SYSTEM_ERROR(e))
		reason = strerror((int)ERR_GET_REASON(e));
	if (reason == NULL)
		ERR_error_string_n(e, buf, sizeof(buf));
	else if (lib != NULL)
		snprintf(buf, sizeof(buf), "%s: %s", lib, reason);
	else
		snprintf(buf, sizeof(buf), "%s", reason);
	n = strlen(buf);
	if ((flags & ERR_TXT_STRING) && data != NULL && *data != '\0' && n < sizeof(buf))
		snprintf(buf + n, sizeof(buf) - n, " (%s)", data);
	ERR_clear_error();
	return buf;
}

/* Makes a TLS 1.3-only, mutually authenticated context; see tls.h. */
SSL_CTX *
cfs_tls_ctx_new(int is_server, const char *ca, const char *cert, const char *key, char *err,
                size_t errlen)
{
	SSL_CTX *ctx;
	struct stat st;

	ERR_clear_error();
	if (ca == NULL || cert == NULL || key == NULL) {
		tls_fail(err, errlen, "TLS needs a CA, a certificate and a key");
		return NULL;
	}
	ctx = SSL_CTX_new(is_server ? TLS_server_method() : TLS_client_method());
	if (ctx == NULL) {
		tls_fail(err, errlen, "SSL_CTX_new: %s", cfs_tls_error());
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1) {
		tls_fail(err, errlen, "cannot require TLS 1.3: %s", cfs_tls_error());
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* Connections are long-lived and never resumed: no tickets, no cache. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (is_server)
		SSL_CTX_set_num_tickets(ctx, 0);
	/* Trust exactly the cluster CA, never the system's store. */
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		tls_fail(err, errlen, "cannot load CA '%s': %s", ca, cfs_tls_error());
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		tls_fail(err, errlen, "cannot load certificate '%s': %s", cert, cfs_tls_error());
		goto fail;
	}
	if (stat(key, &st) == 0 && (st.st_mode & 077) != 0) {
		/* As ssh does: a key others can read is no secret. */
		tls_fail(err, errlen,
		         "private key '%s' is readable by group or others (mode %04o): chmod 600 it",
		         key, (unsigned)(st.st_mode & 07777));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		unsigned long e = ERR_peek_error();

		if (ERR_GET_LIB(e) == ERR_LIB_X509 &&
		    ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
			tls_fail(err, errlen, "key '%s' does not match certificate '%s'", key,
			         cert);
		else
			tls_fail(err, errlen, "cannot load key '%s': %s", key, cfs_tls_error());
		ERR_clear_error();
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_fail(err, errlen, "key '%s' does not match certificate '%s': %s", key, cert,
		         cfs_tls_error());
		goto fail;
	}
	/*
	 * Both sides must show a certificate from the CA.  No hostname check:
	 * the caller matches the subject against the configuration (cfs_tls_peer).
	 */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* Copies the only entry nid of name into out; -1 when absent, repeated or too long. */
static int
tls_name_entry(const X509_NAME *name, int nid, char *out, size_t outlen)
{
	const X509_NAME_ENTRY *e;
	unsigned char *utf8 = NULL;
	int idx, n;

	idx = X509_NAME_get_index_by_NID(name, nid, -1);
	if (idx < 0 || X509_NAME_get_index_by_NID(name, nid, idx) >= 0)
		return -1;
	e = X509_NAME_get_entry(name, idx);
	n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
	if (n <= 0)
		return -1;
	/* Never truncate: a cut name could be someone else's. */
	if ((size_t)n >= outlen || memchr(utf8, '\0', (size_t)n) != NULL) {
		OPENSSL_free(utf8);
		return -1;
	}
	memcpy(out, utf8, (size_t)n);
	out[n] = '\0';
	OPENSSL_free(utf8);
	return 0;
}

/*
 * Reads CN and OU of a certificate (NULL: none).  -1 also when either is
 * missing, given twice or does not fit.
 */
static int
tls_identity(X509 *cert, struct cfs_tls_peer *id)
{
	const X509_NAME *subject;

	memset(id, 0, sizeof(*id));
	if (cert == NULL || (subject = X509_get_subject_name(cert)) == NULL ||
	    tls_name_entry(subject, NID_commonName, id->name, sizeof(id->name)) == -1 ||
	    tls_name_entry(subject, NID_organizationalUnitName, id->kind, sizeof(id->kind)) == -1) {
		memset(id, 0, sizeof(*id));
		return -1;
	}
	return 0;
}

/* The verified peer certificate's identity. */
int
cfs_tls_peer(SSL *ssl, struct cfs_tls_peer *peer)
{
	memset(peer, 0, sizeof(*peer));
	if (SSL_get_verify_result(ssl) != X509_V_OK)
		return -1;
	return tls_identity(SSL_get0_peer_certificate(ssl), peer);
}

int
cfs_tls_self(SSL_CTX *ctx, struct cfs_tls_peer *self)
{
	return tls_identity(SSL_CTX_get0_certificate(ctx), self);
}

int
cfs_tls_is_node(const struct cfs_tls_peer *p, const char *name, char *why, size_t whylen)
{
	if (strcmp(p->kind, CFS_TLS_KIND_NODE) != 0) {
		snprintf(why, whylen, "its certificate is a %s's (%s), not a node's", p->kind,
		         p->name);
		return -1;
	}
	if (name != NULL && name[0] != '\0' && strcmp(p->name, name) != 0) {
		snprintf(why, whylen, "its certificate names node %s, not %s", p->name, name);
		return -1;
	}
	return 0;
}

/* Joins dir and file into out. */
static int
tls_path(char *out, size_t outlen, const char *dir, const char *file, const char *ext, char *err,
         size_t errlen)
{
	int n = snprintf(out, outlen, "%s/%s%s", dir, file, ext);

	if (n < 0 || (size_t)n >= outlen)
		return tls_fail(err, errlen, "%s/%s%s: path too long", dir, file, ext);
	return 0;
}

/* Creates a new file with mode; an existing file is never touched. */
static FILE *
tls_create(const char *path, mode_t mode, char *err, size_t errlen)
{
	FILE *fp;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd == -1) {
		if (errno == EEXIST)
			tls_fail(err, errlen, "%s already exists; refusing to overwrite it", path);
		else
			tls_fail(err, errlen, "cannot create %s: %s", path, strerror(errno));
		return NULL;
	}
	if ((fp = fdopen(fd, "w")) == NULL) {
		tls_fail(err, errlen, "fdopen %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return NULL;
	}
	return fp;
}

/* Flushes, syncs and closes a file written by tls_create. */
static int
tls_finish(FILE *fp, const char *path, char *err, size_t errlen)
{
	int bad = fflush(fp) != 0 || fsync(fileno(fp)) != 0;
	int saved = errno;

	if (fclose(fp) != 0 && !bad) {
		bad = 1;
		saved = errno;
	}
	if (bad)
		return tls_fail(err, errlen, "cannot write %s: %s", path, strerror(saved));
	return 0;
}

/* Writes key (0600) and cert (0644) to new files; removes both on failure. */
static int
tls_write_pair(const char *keypath, const char *crtpath, EVP_PKEY *key, X509 *crt, char *err,
               size_t errlen)
{
	FILE *kf, *cf;

	if ((kf = tls_create(keypath, 0600, err, errlen)) == NULL)
		return -1;
	if ((cf = tls_create(crtpath, 0644, err, errlen)) == NULL) {
		fclose(kf);
		unlink(keypath);
		return -1;
	}
	if (PEM_write_PrivateKey(kf, key, NULL, NULL, 0, NULL, NULL) != 1) {
		tls_fail(err, errlen, "cannot write key %s: %s", keypath, cfs_tls_error());
		goto fail;
	}
	if (PEM_write_X509(cf, crt) != 1) {
		tls_fail(err, errlen, "cannot write certificate %s: %s", crtpath, cfs_tls_error());
		goto fail;
	}
	if (tls_finish(kf, keypath, err, errlen) == -1) {
		kf = NULL;
		goto fail;
	}
	kf = NULL;
	if (tls_finish(cf, crtpath, err, errlen) == -1) {
		cf = NULL;
		goto fail;
	}
	return 0;
fail:
	if (kf != NULL)
		fclose(kf);
	if (cf != NULL)
		fclose(cf);
	unlink(keypath);
	unlink(crtpath);
	return -1;
}

/* Adds one extension written in openssl.cnf syntax. */
static int
tls_add_ext(X509 *crt, X509V3_CTX *v3, int nid, const char *value, char *err, size_t errlen)
{
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, v3, nid, value);
	int rc;

	if (ext == NULL)
		return tls_fail(err, errlen, "bad extension %s '%s': %s", OBJ_nid2sn(nid), value,
		                cfs_tls_error());
	rc = X509_add_ext(crt, ext, -1);
	X509_EXTENSION_free(ext);
	if (rc != 1)
		return tls_fail(err, errlen, "cannot add extension %s: %s", OBJ_nid2sn(nid),
		                cfs_tls_error());
	return 0;
}

/*
 * A new v3 certificate for key with a random positive 128-bit serial,
 * subject CN (and OU when given), valid from a little before now for days.
 */
static X509 *
tls_new_cert(EVP_PKEY *key, const char *cn, const char *ou, int days, char *err, size_t errlen)
{
	unsigned char serial[TLS_SERIAL_BYTES];
	X509 *crt = X509_new();
	X509_NAME *subject;
	BIGNUM *bn = NULL;

	if (crt == NULL) {
		tls_fail(err, errlen, "X509_new: %s", cfs_tls_error());
		return NULL;
	}
	if (RAND_bytes(serial, sizeof(serial)) != 1) {
		tls_fail(err, errlen, "no random serial: %s", cfs_tls_error());
		goto fail;
	}
	serial[0] &= 0x7f; /* positive */
	serial[0] |= 0x40; /* and never zero or short */
	if ((bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(crt)) == NULL) {
		tls_fail(err, errlen, "serial: %s", cfs_tls_error());
		goto fail;
	}
	BN_free(bn);
	bn = NULL;
	subject = X509_get_subject_name(crt);
	/* Backdated a little so that a peer whose clock is behind accepts it. */
	if (X509_set_version(crt, X509_VERSION_3) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(crt), -3600) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(crt), days, 0, NULL) == NULL ||
	    X509_set_pubkey(crt, key) != 1 ||
	    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
	                               -1, 0) != 1 ||
	    (ou != NULL && X509_NAME_add_entry_by_txt(subject, "OU", MBSTRING_UTF8,
	                                              (const unsigned char *)ou, -1, -1, 0) != 1)) {
		tls_fail(err, errlen, "cannot fill certificate: %s", cfs_tls_error());
		goto fail;
	}
	return crt;
fail:
	BN_free(bn);
	X509_free(crt);
	return NULL;
}

/* A new EC P-256 key. */
static EVP_PKEY *
tls_new_key(char *err, size_t errlen)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	if (key == NULL)
		tls_fail(err, errlen, "cannot make an EC P-256 key: %s", cfs_tls_error());
	return key;
}

/* Checks the validity period asked for. */
static int
tls_days_ok(int days, char *err, size_t errlen)
{
	if (days < 1 || days > TLS_MAX_DAYS)
		return tls_fail(err, errlen, "validity of %d days is out of range (1..%d)", days,
		                TLS_MAX_DAYS);
	return 0;
}

/* Creates the cluster CA in dir; see tls.h. */
int
cfs_cert_make_ca(const char *dir, const char *cn, int days, char *err, size_t errlen)
{
	char crtpath[PATH_MAX], keypath[PATH_MAX];
	EVP_PKEY *key = NULL;
	X509 *crt = NULL;
	X509V3_CTX v3;
	int rc = -1;

	ERR_clear_error();
	if (cn == NULL || *cn == '\0' || strlen(cn) > 64)
		return tls_fail(err, errlen, "CA name must be 1 to 64 characters");
	if (tls_days_ok(days, err, errlen) == -1 ||
	    tls_path(crtpath, sizeof(crtpath), dir, "ca", ".crt", err, errlen) == -1 ||
	    tls_path(keypath, sizeof(keypath), dir, "ca", ".key", err, errlen) == -1)
		return -1;
	/* Fail before the costly part when either file is already there. */
	if (access(keypath, F_OK) == 0 || access(crtpath, F_OK) == 0)
		return tls_fail(err, errlen, "%s already exists; refusing to overwrite it",
		                access(keypath, F_OK) == 0 ? keypath : crtpath);
	if ((key = tls_new_key(err, errlen)) == NULL)
		goto out;
	if ((crt = tls_new_cert(key, cn, NULL, days, err, errlen)) == NULL)
		goto out;
	if (X509_set_issuer_name(crt, X509_get_subject_name(crt)) != 1) {
		tls_fail(err, errlen, "cannot set issuer: %s", cfs_tls_error());
		goto out;
	}
	X509V3_set_ctx(&v3, crt, crt, NULL, NULL, 0);
	if (tls_add_ext(crt, &v3, NID_basic_constraints, "critical,CA:TRUE", err, errlen) == -1 ||
	    tls_add_ext(crt, &v3, NID_key_usage, "critical,keyCertSign,cRLSign", err, errlen) ==
	        -1 ||
	    tls_add_ext(crt, &v3, NID_subject_key_identifier, "hash", err, errlen) == -1)
		goto out;
	if (X509_sign(crt, key, EVP_sha256()) <= 0) {
		tls_fail(err, errlen, "cannot sign CA certificate: %s", cfs_tls_error());
		goto out;
	}
	rc = tls_write_pair(keypath, crtpath, key, crt, err, errlen);
out:
	X509_free(crt);
	EVP_PKEY_free(key);
	return rc;
}

/* Reads dir/ca.crt and dir/ca.key and checks that they belong together. */
static int
tls_load_ca(const char *dir, X509 **crt, EVP_PKEY **key, char *err, size_t errlen)
{
	char crtpath[PATH_MAX], keypath[PATH_MAX];
	FILE *fp;

	*crt = NULL;
	*key = NULL;
	if (tls_path(crtpath, sizeof(crtpath), dir, "ca", ".crt", err, errlen) == -1 ||
	    tls_path(keypath, sizeof(keypath), dir, "ca", ".key", err, errlen) == -1)
		return -1;
	if ((fp = fopen(crtpath, "re")) == NULL)
		return tls_fail(err, errlen, "cannot read %s: %s", crtpath, strerror(errno));
	*crt = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	if (*crt == NULL)
		return tls_fail(err, errlen, "%s: not a PEM certificate: %s", crtpath,
		                cfs_tls_error());
	if ((fp = fopen(keypath, "re")) == NULL) {
		tls_fail(err, errlen, "cannot read %s: %s", keypath, strerror(errno));
		goto fail;
	}
	*key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	if (*key == NULL) {
		tls_fail(err, errlen, "%s: not a PEM private key: %s", keypath, cfs_tls_error());
		goto fail;
	}
	if (X509_check_private_key(*crt, *key) != 1) {
		tls_fail(err, errlen, "%s does not match %s: %s", keypath, crtpath,
		         cfs_tls_error());
		goto fail;
	}
	if (X509_check_ca(*crt) == 0) {
		tls_fail(err, errlen, "%s is not a CA certificate", crtpath);
		goto fail;
	}
	return 0;
fail:
	X509_free(*crt);
	EVP_PKEY_free(*key);
	*crt = NULL;
	*key = NULL;
	return -1;
}

/*
 * Builds "IP:a,DNS:b" from comma-separated hosts; an address in brackets or
 * one that parses as IPv4/IPv6 is an IP entry.  Returns NULL on a bad host.
 */
static char *
tls_san(const char *hosts, char *err, size_t errlen)
{
	/* Each entry grows by at most "DNS:" and stays under 3x a one-letter "a,". */
	size_t cap = strlen(hosts) * 3 + 16, len = 0;
	char *out = malloc(cap);
	const char *p = hosts;

	if (out == NULL) {
		tls_fail(err, errlen, "out of memory");
		return NULL;
	}
	out[0] = '\0';
	for (;;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char host[CFS_HOST_MAX + 1];
		unsigned char addr[sizeof(struct in6_addr)];
		int is_ip;

		if (n >= 2 && p[0] == '[' && p[n - 1] == ']') {
			p++;
			n -= 2;
		}
		if (n == 0 || n > CFS_HOST_MAX) {
			tls_fail(err, errlen, "bad host list '%s': empty or overlong entry", hosts);
			goto fail;
		}
		memcpy(host, p, n);
		host[n] = '\0';
		is_ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
		for (size_t i = 0; !is_ip && i < n; i++) {
			unsigned char c = (unsigned char)host[i];

			if (!isalnum(c) && c != '.' && c != '-' && c != '*') {
				tls_fail(err, errlen, "bad host name '%s'", host);
				goto fail;
			}
		}
		len += (size_t)snprintf(out + len, cap - len, "%s%s:%s", len ? "," : "",
		                        is_ip ? "IP" : "DNS", host);
		if (end == NULL)
			break;
		p = end + 1;
	}
	return out;
fail:
	free(out);
	return NULL;
}

/* Issues NAME.crt/NAME.key in dir from the CA there; see tls.h. */
int
cfs_cert_make(const char *dir, const char *name, const char *kind, const char *hosts, int days,
              char *err, size_t errlen)
{
	char crtpath[PATH_MAX], keypath[PATH_MAX];
	EVP_PKEY *cakey = NULL, *key = NULL;
	X509 *cacrt = NULL, *crt = NULL;
	X509V3_CTX v3;
	char *san = NULL;
	size_t nlen = name ? strlen(name) : 0;
	int rc = -1;

	ERR_clear_error();
	if (nlen == 0 || nlen > CFS_NODE_NAME_MAX)
		return tls_fail(err, errlen, "name must be 1 to %d characters", CFS_NODE_NAME_MAX);
	for (size_t i = 0; i < nlen; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			return tls_fail(err, errlen,
			                "name '%s' has a bad character (use A-Z a-z "
			                "0-9 . _ -)",
			                name);
	}
	if (name[0] == '.' || strcmp(name, "ca") == 0)
		return tls_fail(err, errlen, "'%s' cannot be used as a certificate name", name);
	if (kind == NULL ||
	    (strcmp(kind, CFS_TLS_KIND_NODE) != 0 && strcmp(kind, CFS_TLS_KIND_CLIENT) != 0))
		return tls_fail(err, errlen, "kind must be '%s' or '%s'", CFS_TLS_KIND_NODE,
		                CFS_TLS_KIND_CLIENT);
	if (tls_days_ok(days, err, errlen) == -1 ||
	    tls_path(crtpath, sizeof(crtpath), dir, name, ".crt", err, errlen) == -1 ||
	    tls_path(keypath, sizeof(keypath), dir, name, ".key", err, errlen) == -1)
		return -1;
	if (access(keypath, F_OK) == 0 || access(crtpath, F_OK) == 0)
		return tls_fail(err, errlen, "%s already exists; refusing to overwrite it",
		                access(keypath, F_OK) == 0 ? keypath : crtpath);
	if (hosts != NULL && *hosts != '\0' && (san = tls_san(hosts, err, errlen)) == NULL)
		return -1;
	if (tls_load_ca(dir, &cacrt, &cakey, err, errlen) == -1)
		goto out;
	if ((key = tls_new_key(err, errlen)) == NULL)
		goto out;
	if ((crt = tls_new_cert(key, name, kind, days, err, errlen)) == NULL)
		goto out;
	if (X509_set_issuer_name(crt, X509_get_subject_name(cacrt)) != 1) {
		tls_fail(err, errlen, "cannot set issuer: %s", cfs_tls_error());
		goto out;
	}
	X509V3_set_ctx(&v3, cacrt, crt, NULL, NULL, 0);
	if (tls_add_ext(crt, &v3, NID_basic_constraints, "critical,CA:FALSE", err, errlen) == -1 ||
	    tls_add_ext(crt, &v3, NID_key_usage, "critical,digitalSignature", err, errlen) == -1 ||
	    tls_add_ext(crt, &v3, NID_ext_key_usage, "serverAuth,clientAuth", err, errlen) == -1 ||
	    tls_add_ext(crt, &v3, NID_subject_key_identifier, "hash", err, errlen) == -1 ||
	    tls_add_ext(crt, &v3, NID_authority_key_identifier, "keyid:always", err, errlen) ==
	        -1 ||
	    (san != NULL && tls_add_ext(crt, &v3, NID_subject_alt_name, san, err, errlen) == -1))
		goto out;
	if (X509_sign(crt, cakey, EVP_sha256()) <= 0) {
		tls_fail(err, errlen, "cannot sign certificate: %s", cfs_tls_error());
		goto out;
	}
	rc = tls_write_pair(keypath, crtpath, key, crt, err, errlen);
out:
	free(san);
	X509_free(crt);
	X509_free(cacrt);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
	return rc;
}
