/*
 * A client with a valid certificate that never reads its replies, for
 * hog.sh:
 *
 *   hog -c CONF reads HOST PORT INO CONNS SECONDS
 *	CONNS connections to HOST:PORT (the tail), each pipelining reads of
 *	1 MiB of inode INO as fast as the node takes them;
 *   hog -c CONF updates HEAD_PORT TAIL_PORT INO SECONDS
 *	one client id on two connections: 1-byte writes to INO pipelined to
 *	the head, and a connection to the tail, where the replies go, that
 *	is never read.
 *
 * Both read the HELLO_REPLY (for the epoch) and nothing after.  Writes
 * stop when the node stops reading (a 1 s send timeout); the connections
 * are held until SECONDS have passed.  Prints how many requests were sent
 * on each connection.  Exit 0 unless it could not connect at all.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/tls.h"
#include "common/wire.h"

struct hconn {
	int fd;
	SSL *ssl;
	uint64_t epoch;
	uint64_t sent;
	int stalled; /* the node stopped taking our requests */
};

static SSL_CTX *ctx;
static struct cfs_wbuf wb;

/* Reads one whole frame; 0 or -1. */
static int
hog_read_frame(struct hconn *h, struct cfs_header *hd, uint8_t *body, size_t cap)
{
	uint8_t hb[CFS_HEADER_SIZE];
	size_t got = 0;

	while (got < sizeof(hb)) {
		int r = SSL_read(h->ssl, hb + got, (int)(sizeof(hb) - got));

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	if (cfs_header_decode(hb, sizeof(hb), hd) != CFS_WIRE_OK || hd->length > cap)
		return -1;
	for (got = 0; got < hd->length;) {
		int r = SSL_read(h->ssl, body + got, (int)(hd->length - got));

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* Connects, says HELLO as client id, reads the HELLO_REPLY.  0 or -1. */
static int
hog_connect(struct hconn *h, const char *host, int port, uint64_t id, const char *name)
{
	struct sockaddr_in sin;
	struct timeval tv = {.tv_sec = 1, .tv_usec = 0};
	struct cfs_hello hello;
	struct cfs_hello_reply hr;
	struct cfs_header hd;
	static uint8_t body[CFS_MAX_BODY];
	size_t start;

	memset(h, 0, sizeof(*h));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		return -1;
	h->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (h->fd < 0 || connect(h->fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		perror("hog: connect");
		return -1;
	}
	h->ssl = SSL_new(ctx);
	SSL_set_fd(h->ssl, h->fd);
	if (SSL_connect(h->ssl) != 1) {
		fprintf(stderr, "hog: TLS handshake failed\n");
		return -1;
	}
	memset(&hello, 0, sizeof(hello));
	hello.role = CFS_PEER_CLIENT;
	hello.client_id = id;
	snprintf(hello.name, sizeof(hello.name), "%s", name);
	cfs_wbuf_reset(&wb);
	start = cfs_frame_begin(&wb, CFS_MSG_HELLO, 1, 0);
	cfs_hello_encode(&wb, &hello);
	cfs_frame_end(&wb, start);
	if (SSL_write(h->ssl, wb.p, (int)wb.len) != (int)wb.len)
		return -1;
	if (hog_read_frame(h, &hd, body, sizeof(body)) != 0 || hd.type != CFS_MSG_HELLO_REPLY ||
	    cfs_hello_reply_decode(body, hd.length, &hr) != CFS_WIRE_OK || hr.status != 0) {
		fprintf(stderr, "hog: no HELLO_REPLY, or refused\n");
		return -1;
	}
	h->epoch = hd.epoch;
	/* From here on a write that the node does not take within a second gives up. */
	setsockopt(h->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return 0;
}

/* Sends one request unless the node has stopped taking them. */
static void
hog_send(struct hconn *h, const struct cfs_op *op)
{
	size_t start;

	if (h->stalled)
		return;
	cfs_wbuf_reset(&wb);
	start = cfs_frame_begin(&wb, CFS_MSG_REQUEST, h->sent + 1, h->epoch);
	cfs_request_encode(&wb, 1, op);
	cfs_frame_end(&wb, start);
	if (SSL_write(h->ssl, wb.p, (int)wb.len) != (int)wb.len) {
		h->stalled = 1;
		return;
	}
	h->sent++;
}

static time_t
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

int
main(int argc, char **argv)
{
	struct cfs_conf conf;
	struct hconn *hc;
	struct cfs_op op;
	char err[512];
	uint64_t id;
	int n, secs, reads;
	time_t end;
	uint8_t one = 'x';

	if (argc != 9 || strcmp(argv[1], "-c") != 0 ||
	    (strcmp(argv[3], "reads") != 0 && strcmp(argv[3], "updates") != 0)) {
		fprintf(stderr, "usage: hog -c CONF reads HOST PORT INO CONNS SECONDS\n"
				"       hog -c CONF updates HOST HEAD_PORT TAIL_PORT INO SECONDS\n");
		return 2;
	}
	log_init("hog", 0, LOG_LEVEL_WARN);
	signal(SIGPIPE, SIG_IGN);
	memset(&conf, 0, sizeof(conf));
	if (cfs_conf_load(&conf, argv[2], err, sizeof(err)) != 0 || conf.plaintext) {
		fprintf(stderr, "hog: %s\n", conf.plaintext ? "needs TLS" : err);
		return 2;
	}
	ctx = cfs_tls_ctx_new(0, conf.ca, conf.cert, conf.key, err, sizeof(err));
	if (ctx == NULL) {
		fprintf(stderr, "hog: %s\n", err);
		return 2;
	}
	reads = strcmp(argv[3], "reads") == 0;
	n = reads ? atoi(argv[7]) : 2;
	secs = atoi(argv[8]);
	if (n < 1 || n > 1000 || secs < 1 || secs > 600)
		return 2;
	hc = calloc((size_t)n, sizeof(*hc));
	if (hc == NULL || getrandom(&id, sizeof(id), 0) != sizeof(id))
		return 2;
	memset(&op, 0, sizeof(op));
	if (reads) {
		for (int i = 0; i < n; i++)
			if (hog_connect(&hc[i], argv[4], atoi(argv[5]), id + (uint64_t)i, "hog-reads") != 0)
				return 1;
		op.type = CFS_OP_READ;
		op.ino = strtoull(argv[6], NULL, 10);
		op.length = CFS_MAX_IO;
	} else {
		/* The tail connection first, so that no reply finds it missing. */
		if (hog_connect(&hc[1], argv[4], atoi(argv[6]), id, "hog-updates") != 0 ||
		    hog_connect(&hc[0], argv[4], atoi(argv[5]), id, "hog-updates") != 0)
			return 1;
		op.type = CFS_OP_WRITE;
		op.ino = strtoull(argv[7], NULL, 10);
		op.data = &one;
		op.datalen = 1;
		hc[1].stalled = 1; /* nothing is sent there */
	}
	end = now_s() + secs;
	while (now_s() < end) {
		int busy = 0;

		for (int i = 0; i < n; i++) {
			hog_send(&hc[i], &op);
			busy |= !hc[i].stalled;
		}
		if (!busy)
			sleep(1);
	}
	for (int i = 0; i < n; i++) {
		if (reads || i == 0)
			printf("connection %d: %" PRIu64 " requests sent%s\n", i, hc[i].sent,
			       hc[i].stalled ? ", then the node stopped taking them" : "");
		if (hc[i].ssl != NULL)
			SSL_free(hc[i].ssl);
		if (hc[i].fd > 0)
			close(hc[i].fd);
	}
	free(hc);
	SSL_CTX_free(ctx);
	cfs_wbuf_free(&wb);
	cfs_conf_free(&conf);
	return 0;
}
