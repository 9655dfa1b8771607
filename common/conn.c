/* Framed connections over libevent bufferevents, TLS or plain; see conn.h. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "common/conn.h"
#include "common/log.h"

static uint64_t conn_next_gen = 1;

static const char *conn_state_names[] = {"connecting", "accepting", "open", "closing", "closed"};

/* Name of a state, for logs. */
const char *
cfs_conn_state_name(enum cfs_conn_state s)
{
	if ((unsigned)s >= CFS_CONN_max)
		return "?";
	return conn_state_names[s];
}

/* Changes state, tracing every transition. */
static void
conn_set_state(struct cfs_conn *c, enum cfs_conn_state s)
{
	log_debug("conn %s #%llu: %s -> %s", c->peer, (unsigned long long)c->gen,
		  cfs_conn_state_name(c->state), cfs_conn_state_name(s));
	c->state = s;
}

/* Frees a closed connection from the loop, outside any of its callbacks. */
static void
conn_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct cfs_conn *c = arg;

	if (c->bev != NULL)
		bufferevent_free(c->bev);
	if (c->deadline != NULL)
		event_free(c->deadline);
	free(c);
}

/* A line at level about c, through its limiter while the peer is unauthenticated. */
static void
conn_vlog(struct cfs_conn *c, int level, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (c->log_limit != NULL)
		log_limited(c->log_limit, level, "%s", msg);
	else if (level == LOG_LEVEL_WARN)
		log_warnx("%s", msg);
	else
		log_info("%s", msg);
}

void
cfs_conn_warnx(struct cfs_conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conn_vlog(c, LOG_LEVEL_WARN, fmt, ap);
	va_end(ap);
}

/* An info line about c, limited like cfs_conn_warnx. */
static void __attribute__((format(printf, 2, 3)))
conn_info(struct cfs_conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conn_vlog(c, LOG_LEVEL_INFO, fmt, ap);
	va_end(ap);
}

/* Closes once: stops I/O, tells the owner, schedules the free. */
void
cfs_conn_close(struct cfs_conn *c, const char *reason)
{
	if (c->state == CFS_CONN_CLOSED)
		return;
	if (reason != NULL)
		conn_info(c, "connection to %s closed: %s", c->peer, reason);
	conn_set_state(c, CFS_CONN_CLOSED);
	if (c->deadline != NULL)
		evtimer_del(c->deadline);
	if (c->bev != NULL) {
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	}
	if (c->cbs.down != NULL)
		c->cbs.down(c, c->arg);
	if (event_base_once(c->base, -1, EV_TIMEOUT, conn_free_cb, c, NULL) != 0)
		fatalx("event_base_once failed");
}

void
cfs_conn_close_after_send(struct cfs_conn *c, const char *reason)
{
	if (c->state != CFS_CONN_OPEN || cfs_conn_outq(c) == 0) {
		cfs_conn_close(c, reason);
		return;
	}
	snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason ? reason : "");
	conn_set_state(c, CFS_CONN_CLOSING);
	bufferevent_disable(c->bev, EV_READ);
	cfs_conn_deadline(c, 2000);
}

/* The deadline passed: closed, with what it was waiting for. */
static void
conn_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct cfs_conn *c = arg;

	if (c->state == CFS_CONN_CLOSING)
		cfs_conn_close(c, c->close_reason[0] ? c->close_reason : "last answer not sent in time");
	else if (c->state == CFS_CONN_OPEN)
		cfs_conn_close(c, "no first message in time");
	else
		cfs_conn_close(c, c->state == CFS_CONN_CONNECTING ? "connect or handshake timed out"
								  : "handshake timed out");
}

void
cfs_conn_deadline(struct cfs_conn *c, unsigned ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	if (c->state == CFS_CONN_CLOSED)
		return;
	if (ms == 0) {
		if (c->deadline != NULL)
			evtimer_del(c->deadline);
		return;
	}
	if (c->deadline == NULL) {
		c->deadline = evtimer_new(c->base, conn_deadline_cb, c);
		if (c->deadline == NULL)
			fatalx("evtimer_new failed");
	}
	evtimer_add(c->deadline, &tv);
}

/* Reads every whole frame in the input buffer and hands each to the owner. */
static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct cfs_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (c->state == CFS_CONN_OPEN && !c->read_paused) {
		uint8_t hb[CFS_HEADER_SIZE];
		struct cfs_header h;
		size_t avail = evbuffer_get_length(in);
		uint8_t *frame;
		int rc;

		if (avail < CFS_HEADER_SIZE)
			break;
		if (evbuffer_copyout(in, hb, sizeof(hb)) != (ev_ssize_t)sizeof(hb))
			break;
		rc = cfs_header_decode(hb, sizeof(hb), &h);
		if (rc != CFS_WIRE_OK) {
			cfs_conn_warnx(c, "%s: bad frame header: %s", c->peer,
				       cfs_wire_strerror(rc));
			cfs_conn_close(c, "malformed frame");
			return;
		}
		if (avail < CFS_HEADER_SIZE + (size_t)h.length) {
			/* Wake up only once the whole frame is here. */
			bufferevent_setwatermark(bev, EV_READ, CFS_HEADER_SIZE + (size_t)h.length,
						 0);
			return;
		}
		frame = evbuffer_pullup(in, CFS_HEADER_SIZE + (ssize_t)h.length);
		if (frame == NULL)
			fatalx("evbuffer_pullup of %u bytes failed", h.length);
		rc = c->cbs.frame(c, &h, frame + CFS_HEADER_SIZE, c->arg);
		if (c->state != CFS_CONN_OPEN)
			return; /* closed, or closing after a last answer */
		evbuffer_drain(in, CFS_HEADER_SIZE + (size_t)h.length);
		if (rc != 0) {
			cfs_conn_close(c, "protocol error");
			return;
		}
	}
	bufferevent_setwatermark(bev, EV_READ, 0, 0);
}

/* Tells the owner when a full output buffer has drained. */
static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct cfs_conn *c = arg;

	if (c->state == CFS_CONN_CLOSING) {
		if (cfs_conn_outq(c) == 0)
			cfs_conn_close(c, c->close_reason[0] ? c->close_reason : NULL);
		return;
	}
	if (c->above_high && cfs_conn_outq(c) <= CFS_CONN_LOW_WATER) {
		c->above_high = 0;
		if (c->cbs.drained != NULL)
			c->cbs.drained(c, c->arg);
	}
}

/* Checks the peer certificate after the handshake. */
static int
conn_check_peer(struct cfs_conn *c)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);

	if (ssl == NULL)
		return 0; /* plaintext */
	if (cfs_tls_peer(ssl, &c->tls_peer) != 0) {
		cfs_conn_warnx(c, "%s: peer presented no verified certificate", c->peer);
		return -1;
	}
	c->has_tls_peer = 1;
	return 0;
}

/*
 * Logs why a TLS connection failed, with OpenSSL's reasons.  Returns how
 * many of them say the handshake itself failed: a peer that merely hung up
 * (a port probe, a crash) does not count.
 */
static int
conn_log_tls_errors(struct cfs_conn *c)
{
	unsigned long e;
	char buf[256];
	int n = 0, reasons = 0;

	while ((e = bufferevent_get_openssl_error(c->bev)) != 0 && n++ < 4) {
		if (ERR_GET_LIB(e) == 0)
			continue; /* "lib(0)": no reason of OpenSSL's own, errno says it */
		ERR_error_string_n(e, buf, sizeof(buf));
		cfs_conn_warnx(c, "%s: TLS: %s", c->peer, buf);
		if (!(ERR_GET_LIB(e) == ERR_LIB_SSL &&
		      ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING))
			reasons++;
	}
	return reasons;
}

/* Connection events: established, EOF, errors, timeouts. */
static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct cfs_conn *c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		if (conn_check_peer(c) != 0) {
			c->tls_failed = 1;
			cfs_conn_close(c, "certificate refused");
			return;
		}
		conn_set_state(c, CFS_CONN_OPEN);
		c->was_open = 1;
		bufferevent_enable(bev, EV_READ | EV_WRITE);
		if (c->cbs.up != NULL)
			c->cbs.up(c, c->arg);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		int err = EVUTIL_SOCKET_ERROR();

		/* A handshake that fails is worth a warning (wrong CA, no
		 * certificate); a peer that vanishes later is not.  Only a
		 * failure OpenSSL gives a reason for is a handshake failure: a
		 * refused TCP connect or a bare hang-up is not. */
		if (bufferevent_openssl_get_ssl(bev) != NULL && c->state != CFS_CONN_OPEN &&
		    conn_log_tls_errors(c) > 0)
			c->tls_failed = 1;
		if (c->state == CFS_CONN_CONNECTING || c->state == CFS_CONN_ACCEPTING)
			log_debug("%s: %s failed: %s", c->peer,
				  c->state == CFS_CONN_CONNECTING ? "connect" : "handshake",
				  strerror(err));
		cfs_conn_close(c, err ? strerror(err) : "error");
		return;
	}
	if (what & BEV_EVENT_EOF)
		cfs_conn_close(c, "closed by peer");
}

/* Allocates a connection around a bufferevent. */
static struct cfs_conn *
conn_new(struct event_base *base, const char *peer, const struct cfs_conn_cbs *cbs, void *arg)
{
	struct cfs_conn *c = xcalloc(1, sizeof(*c));

	c->base = base;
	c->gen = conn_next_gen++;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->cbs = *cbs;
	c->arg = arg;
	return c;
}

/* Sets the socket options every chainfs connection wants. */
static void
conn_tune_socket(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
}

/* Creates the bufferevent for fd (or -1 to connect later). */
static int
conn_make_bev(struct cfs_conn *c, SSL_CTX *ctx, int fd, int accepting)
{
	int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;

	if (ctx != NULL) {
		SSL *ssl = SSL_new(ctx);

		if (ssl == NULL) {
			log_warnx("SSL_new: %s", cfs_tls_error());
			return -1;
		}
		c->bev = bufferevent_openssl_socket_new(
			c->base, fd, ssl,
			accepting ? BUFFEREVENT_SSL_ACCEPTING : BUFFEREVENT_SSL_CONNECTING, opts);
		if (c->bev == NULL) {
			SSL_free(ssl);
			return -1;
		}
		bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	} else {
		c->bev = bufferevent_socket_new(c->base, fd, opts);
		if (c->bev == NULL)
			return -1;
	}
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	/* Handshakes must finish: a peer that stalls is dropped. */
	cfs_conn_deadline(c, CFS_CONN_HELLO_DEADLINE_MS);
	return 0;
}

/* Binds fd to the numeric address source, any port, when of the family. */
static int
conn_bind_source(int fd, int family, const char *source)
{
	struct sockaddr_storage ss;
	socklen_t len;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		if (inet_pton(AF_INET, source, &sin->sin_addr) != 1)
			return 0; /* an IPv6 source for an IPv4 peer: the kernel chooses */
		len = sizeof(*sin);
	} else if (family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, source, &sin6->sin6_addr) != 1)
			return 0;
		len = sizeof(*sin6);
	} else {
		return 0;
	}
	return bind(fd, (struct sockaddr *)&ss, len);
}

/* Starts an outgoing connection. */
struct cfs_conn *
cfs_conn_connect(struct event_base *base, SSL_CTX *ctx, const char *host, uint16_t port,
		 const char *peername, const char *source, const struct cfs_conn_cbs *cbs,
		 void *arg)
{
	struct addrinfo hints, *res = NULL;
	char portstr[8], name[320];
	struct cfs_conn *c;
	int fd, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(portstr, sizeof(portstr), "%u", port);
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0) {
		log_warnx("%s:%u: cannot resolve: %s", host, port, gai_strerror(rc));
		return NULL;
	}
	snprintf(name, sizeof(name), "%s%s%s:%u", peername ? peername : "",
		 peername ? " " : "", host, port);
	c = conn_new(base, name, cbs, arg);
	c->state = CFS_CONN_CONNECTING;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn("%s: socket", c->peer);
		goto fail;
	}
	conn_tune_socket(fd);
	if (source != NULL && source[0] != '\0' && conn_bind_source(fd, res->ai_family, source) != 0) {
		log_warn("%s: cannot connect from %s", c->peer, source);
		close(fd);
		goto fail;
	}
	if (conn_make_bev(c, ctx, fd, 0) != 0) {
		close(fd);
		goto fail;
	}
	if (bufferevent_socket_connect(c->bev, res->ai_addr, (int)res->ai_addrlen) != 0) {
		/* The bufferevent reports the error through the event callback. */
		log_debug("%s: connect failed at once", c->peer);
	}
	freeaddrinfo(res);
	return c;
fail:
	freeaddrinfo(res);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	free(c);
	return NULL;
}

/* Wraps an accepted socket. */
struct cfs_conn *
cfs_conn_accept(struct event_base *base, SSL_CTX *ctx, int fd, const char *peeraddr,
		const struct cfs_conn_cbs *cbs, void *arg)
{
	struct cfs_conn *c = conn_new(base, peeraddr, cbs, arg);

	conn_tune_socket(fd);
	if (conn_make_bev(c, ctx, fd, 1) != 0) {
		close(fd);
		free(c);
		return NULL;
	}
	if (ctx == NULL) {
		c->state = CFS_CONN_OPEN;
		c->was_open = 1;
		bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	} else {
		c->state = CFS_CONN_ACCEPTING;
		bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	}
	return c;
}

/* Queues bytes for the peer. */
void
cfs_conn_send(struct cfs_conn *c, const void *p, size_t n)
{
	if (c->state == CFS_CONN_CLOSED)
		return;
	if (bufferevent_write(c->bev, p, n) != 0)
		fatalx("bufferevent_write of %zu bytes failed", n);
	if (cfs_conn_outq(c) > CFS_CONN_HIGH_WATER)
		c->above_high = 1;
}

/* Bytes waiting in the output buffer. */
size_t
cfs_conn_outq(const struct cfs_conn *c)
{
	if (c->bev == NULL)
		return 0;
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

void
cfs_conn_want_drained(struct cfs_conn *c)
{
	c->above_high = 1;
}

/* Pauses or resumes reading; resuming processes frames already buffered. */
void
cfs_conn_pause(struct cfs_conn *c, int paused)
{
	if (c->state == CFS_CONN_CLOSED || c->state == CFS_CONN_CLOSING ||
	    c->read_paused == paused)
		return;
	c->read_paused = paused;
	if (paused) {
		bufferevent_disable(c->bev, EV_READ);
	} else {
		bufferevent_enable(c->bev, EV_READ);
		bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
	}
}

/* Renames the peer in log lines. */
void
cfs_conn_set_peer(struct cfs_conn *c, const char *name)
{
	snprintf(c->peer, sizeof(c->peer), "%s", name);
}
