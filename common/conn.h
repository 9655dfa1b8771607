/*
 * One framed connection: a bufferevent (TLS or, when explicitly asked for,
 * plain TCP) that delivers whole chainfs frames to its owner.  Used by the
 * node for every peer, by the client library and by chainfsctl.
 *
 * Lifetime: a connection is closed exactly once, by cfs_conn_close() or by
 * an error; the owner's down callback runs then and the owner must drop its
 * pointer.  The memory itself is freed later from the event loop, so a
 * connection is never freed inside one of its own callbacks.
 *
 * A malformed frame (bad magic, version, type, flags, oversized length) or a
 * frame callback returning -1 closes that connection only, with a log line
 * naming the peer.
 */
#ifndef CHAINFS_CONN_H
#define CHAINFS_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "common/log.h"
#include "common/tls.h"
#include "common/wire.h"

enum cfs_conn_state {
	CFS_CONN_CONNECTING, /* outgoing: TCP connect and TLS handshake in progress */
	CFS_CONN_ACCEPTING,  /* incoming: TLS handshake in progress */
	CFS_CONN_OPEN,	     /* transport up, peer certificate verified: frames flow */
	CFS_CONN_CLOSING,    /* no more reading: the last frames are being sent */
	CFS_CONN_CLOSED,     /* closed, down callback done; freed from the loop soon */
	CFS_CONN_max
};

struct cfs_conn;

struct cfs_conn_cbs {
	/* The transport is up (after the TLS handshake); optional. */
	void (*up)(struct cfs_conn *, void *arg);
	/*
	 * One whole frame; body is valid during the call only.  Returns 0, or
	 * -1 to close the connection (the callback logs why).
	 */
	int (*frame)(struct cfs_conn *, const struct cfs_header *, const uint8_t *body, void *arg);
	/* The connection closed (any reason); called once.  Optional. */
	void (*down)(struct cfs_conn *, void *arg);
	/* Output fell to the low watermark after having been above high; optional. */
	void (*drained)(struct cfs_conn *, void *arg);
};

struct cfs_conn {
	struct bufferevent *bev;
	struct event_base *base;
	enum cfs_conn_state state;
	uint64_t gen;	     /* unique per process: tells connections apart */
	char peer[320];	     /* for logs: "NAME host:port" */
	int has_tls_peer;    /* tls_peer holds the verified certificate's identity */
	struct cfs_tls_peer tls_peer;
	struct cfs_conn_cbs cbs;
	void *arg;
	int read_paused;     /* the owner stopped reading (backpressure) */
	int above_high;	     /* output went above CFS_CONN_HIGH_WATER */
	/*
	 * The TLS handshake failed: OpenSSL gave a reason, or the peer's
	 * certificate was unusable.  Set before the down callback, which may
	 * count it.  A flag on the connection rather than a process-wide
	 * counter: this file also serves the client and chainfsctl, and only
	 * the owner knows what the connection was for (an accepted peer, the
	 * successor link).
	 */
	int tls_failed;
	int was_open;	     /* reached CFS_CONN_OPEN at some point */
	char close_reason[96]; /* CLOSING: what to log when the output is out */
	struct event *deadline; /* closes the connection when it fires (cfs_conn_deadline) */
	/*
	 * Set by the owner while the peer has not authenticated: this file's
	 * lines about the connection go through it, so that a flood of
	 * connections cannot flood the log.
	 */
	struct log_limit *log_limit;
	void *owner;	     /* free for the owner's use */
};

/* Output buffer sizes that count as full / drained again. */
#define CFS_CONN_HIGH_WATER (8u << 20)
#define CFS_CONN_LOW_WATER (2u << 20)

/*
 * Starts a connection to host:port (numeric or a name, resolved now).  ctx
 * NULL means plaintext.  source, when not NULL or empty, is the numeric
 * address to connect from (a node speaks from the address it listens on).
 * Returns NULL with a log line when the address is unusable; otherwise the
 * outcome arrives through up/down.
 */
struct cfs_conn *cfs_conn_connect(struct event_base *, SSL_CTX *ctx, const char *host,
				  uint16_t port, const char *peername, const char *source,
				  const struct cfs_conn_cbs *, void *arg);
/* Wraps an accepted socket; ctx NULL means plaintext. */
struct cfs_conn *cfs_conn_accept(struct event_base *, SSL_CTX *ctx, int fd,
				 const char *peeraddr, const struct cfs_conn_cbs *, void *arg);
/* Queues bytes (whole frames) for sending. */
void cfs_conn_send(struct cfs_conn *, const void *, size_t);
/* Bytes queued and not yet written to the socket. */
size_t cfs_conn_outq(const struct cfs_conn *);
/*
 * Has the drained callback run once the output is down to the low water
 * mark, as if it had gone above the high one: for an owner that stops
 * reading a peer for reasons of its own (a node's output budget).
 */
void cfs_conn_want_drained(struct cfs_conn *);
/* Stops or resumes reading frames from the peer (backpressure). */
void cfs_conn_pause(struct cfs_conn *, int paused);
/* Closes the connection; reason (may be NULL) is logged at info level. */
void cfs_conn_close(struct cfs_conn *, const char *reason);
/*
 * Stops reading and closes once what is queued has been sent (within 2 s):
 * for a last answer that says why, such as a refused HELLO.
 */
void cfs_conn_close_after_send(struct cfs_conn *, const char *reason);
/*
 * The connection is closed ms milliseconds from now, whatever the peer
 * sends meanwhile (0: no deadline).  Every connection starts with
 * CFS_CONN_HELLO_DEADLINE_MS for its TCP connect, TLS handshake and first
 * exchange; the owner clears it once the peer has said who it is.  An
 * absolute deadline rather than an idle timeout: a peer trickling a byte
 * now and then must not keep a connection for ever.
 */
void cfs_conn_deadline(struct cfs_conn *, unsigned ms);
#define CFS_CONN_HELLO_DEADLINE_MS 10000
/* Logs a warning about the connection, through its log_limit if it has one. */
void cfs_conn_warnx(struct cfs_conn *, const char *, ...) __attribute__((format(printf, 2, 3)));
/* Renames the peer for logs once it has said who it is. */
void cfs_conn_set_peer(struct cfs_conn *, const char *name);
const char *cfs_conn_state_name(enum cfs_conn_state);

#endif
