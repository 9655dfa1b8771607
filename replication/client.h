/*
 * The client side of the chain, for the FUSE client, chainfsctl, the load
 * generator and the benchmark: routes updates to the head and reads to the
 * tail, receives every answer from the tail, retries, reconnects by itself.
 *
 * Exactly once: every request carries (client_id, seq).  A request whose
 * connection dropped is sent again with the same seq; the head recognises a
 * request it already applied and the tail answers it from the result table.
 * Each request's callback runs exactly once: with the tail's answer, or with
 * ETIMEDOUT when no answer came within the timeout (for an update this means
 * the outcome is unknown), or ENOTCONN when it was never sent because the
 * chain had answered nothing of its kind (read or update) for a whole
 * timeout (it did nothing), or ECANCELED when the client is freed.
 *
 * Runs on the caller's libevent loop; nothing blocks.  cfs_client_call is a
 * blocking convenience for tools: it runs the loop until its answer arrives.
 */
#ifndef CHAINFS_CLIENT_H
#define CHAINFS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "common/wire.h"

struct cfs_client;

struct cfs_client_opts {
	/* Where to learn the chain from: any of its nodes. */
	struct cfs_node_addr seeds[CFS_MAX_NODES];
	size_t nseeds;
	SSL_CTX *tls;	     /* NULL: plaintext */
	const char *name;    /* for the nodes' logs */
	uint64_t client_id;  /* 0: a random one */
	unsigned timeout_ms; /* per request; 0: 30 s */
	/*
	 * Leases (DESIGN.md, "Coherent client caching"): how long the caller
	 * wants to cache what the tail answers; 0: no leases.  A caller that
	 * asks for them takes recalls (cfs_client_set_recall).
	 */
	uint32_t lease_ms;
};

/*
 * What the tail tells a lease holder to drop.  fn runs on the loop; the
 * caller drops what the items name, then calls cfs_client_recall_ack(id,
 * gen), from the loop.  Until fn is set, recalls are acknowledged at once
 * (nothing can be cached yet).
 */
typedef void (*cfs_client_recall_fn)(void *arg, uint64_t id, uint64_t gen,
				     const struct cfs_recall *);

/*
 * A request's answer.  rep->data points into the client's buffer and is
 * valid during the call only.  status 0 or a positive errno (ETIMEDOUT,
 * ECANCELED, or the operation's own).
 */
typedef void (*cfs_client_done)(void *arg, const struct cfs_reply *rep);

struct cfs_client *cfs_client_new(struct event_base *, const struct cfs_client_opts *);
/* Fails every outstanding request with ECANCELED and frees the client. */
void cfs_client_free(struct cfs_client *);

/*
 * Sends op (copied: the caller's buffers may go away at once); done runs
 * later, exactly once.  Returns the request's seq.
 */
uint64_t cfs_client_submit(struct cfs_client *, const struct cfs_op *, cfs_client_done,
			   void *arg);

/*
 * Blocking: submits op and runs the loop until its answer.  The reply's data
 * is copied into data (when not NULL) and rep->data points there.  Returns
 * rep->status.
 */
int cfs_client_call(struct cfs_client *, const struct cfs_op *, struct cfs_reply *rep,
		    struct cfs_wbuf *data);

/* Requests sent and not answered yet. */
size_t cfs_client_outstanding(const struct cfs_client *);
uint64_t cfs_client_id(const struct cfs_client *);
/* 1 when connections to the head and the tail are up. */
int cfs_client_ready(const struct cfs_client *);
/*
 * Leases.  While a request's callback runs, cfs_client_lease_until is the
 * cfs_now_ms() at which the lease in its answer ends (0: none).  A lease
 * holds only while cfs_client_lease_gen is what it was when it was taken:
 * it changes when the tail's connection or the epoch does.
 */
uint64_t cfs_client_lease_until(const struct cfs_client *);
uint64_t cfs_client_lease_gen(const struct cfs_client *);
void cfs_client_set_recall(struct cfs_client *, cfs_client_recall_fn, void *arg);
/* Acknowledges RECALL id that came on connection generation gen (dropped if it is gone). */
void cfs_client_recall_ack(struct cfs_client *, uint64_t id, uint64_t gen);

/*
 * Locks (DESIGN.md, "Client sessions").  The tail says when a queued lock
 * request is decided (grant); tail_up runs when a new tail connection is
 * ready (a decision sent on the old one may be lost: ask with LKSTATE);
 * lost runs when the session's lock lease may have run out, so that the
 * chain may have released its locks.  All run on the loop.
 */
typedef void (*cfs_client_lkgrant_fn)(void *arg, const struct cfs_lkgrant *);
typedef void (*cfs_client_event_fn)(void *arg);
void cfs_client_set_locks(struct cfs_client *, cfs_client_lkgrant_fn grant,
			  cfs_client_event_fn tail_up, cfs_client_event_fn lost, void *arg);
/*
 * While on, the client keeps its session's lock lease alive: a PING to the
 * head every quarter of lock-lease.  The lease is counted from when a word
 * the head answered (a PING or an update) was sent, and it must be renewed
 * before it runs out: a word answered after the lease ran out does not
 * renew it (the chain may have ended the session meanwhile), lost runs.
 */
void cfs_client_keep_session(struct cfs_client *, int on);
/* Until when (cfs_now_ms) the chain surely keeps this session's locks; 0: not known to. */
uint64_t cfs_client_session_until(const struct cfs_client *);
/* The chain's lock-lease in ms (0: not known yet). */
uint32_t cfs_client_lock_lease(const struct cfs_client *);

#endif
