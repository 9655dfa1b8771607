/*
 * chainbench: throughput of a chain through the client library.
 *
 *   chainbench -c conf updates N DEPTH   N small updates (mkdir/setattr/rmdir
 *                                        cycles), DEPTH in flight: ops/s
 *   chainbench -c conf write MIB DEPTH   MIB writes of 1 MiB to one file,
 *                                        DEPTH in flight, then an fsync: MB/s
 *
 * Prints one line "RESULT <name> <value>" for bench/run to collect.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/tls.h"
#include "replication/client.h"
#include "store/store.h"

struct bench {
	struct event_base *base;
	struct cfs_client *cl;
	int write_mode;
	uint64_t target, sent, done, errors;
	uint64_t dir, ino;
	uint8_t *buf;
};

static void bench_next(struct bench *);

/* One answer: count it and send the slot's next request. */
static void
bench_done(void *arg, const struct cfs_reply *rep)
{
	struct bench *b = arg;

	b->done++;
	if (rep->status != 0 && rep->status != EEXIST && rep->status != ENOENT) {
		if (b->errors++ < 5)
			fprintf(stderr, "chainbench: status %d\n", rep->status);
	}
	if (b->done == b->target)
		event_base_loopexit(b->base, NULL);
	else
		bench_next(b);
}

/* Sends the next request if any are left. */
static void
bench_next(struct bench *b)
{
	struct cfs_op op;
	uint64_t i;
	char name[32];

	if (b->sent >= b->target)
		return;
	i = b->sent++;
	memset(&op, 0, sizeof(op));
	if (b->write_mode) {
		op.type = CFS_OP_WRITE;
		op.ino = b->ino;
		op.offset = i << 20;
		op.data = b->buf;
		op.datalen = 1u << 20;
	} else {
		/* mkdir, chmod, rmdir of one name per three ops: all small updates. */
		snprintf(name, sizeof(name), "d%" PRIu64, i / 3);
		switch (i % 3) {
		case 0:
			op.type = CFS_OP_MKDIR;
			op.ino = b->dir;
			op.mode = S_IFDIR | 0755;
			op.name = name;
			op.namelen = (uint16_t)strlen(name);
			break;
		case 1:
			op.type = CFS_OP_CREATE;
			op.ino = b->dir;
			op.mode = S_IFREG | 0644;
			snprintf(name, sizeof(name), "f%" PRIu64, i / 3);
			op.name = name;
			op.namelen = (uint16_t)strlen(name);
			break;
		default:
			op.type = CFS_OP_RMDIR;
			op.ino = b->dir;
			op.name = name;
			op.namelen = (uint16_t)strlen(name);
			break;
		}
	}
	cfs_client_submit(b->cl, &op, bench_done, b);
}

/* Seconds on the monotonic clock. */
static double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct bench b;
	struct cfs_conf conf;
	struct cfs_client_opts o;
	struct cfs_reply rep;
	struct cfs_op op;
	SSL_CTX *ctx = NULL;
	char err[512], name[64];
	uint64_t depth;
	double t0, t1;

	if (argc != 6 || strcmp(argv[1], "-c") != 0 ||
	    (strcmp(argv[3], "updates") != 0 && strcmp(argv[3], "write") != 0)) {
		fprintf(stderr, "usage: chainbench -c conf updates|write COUNT DEPTH\n");
		return 2;
	}
	log_init("chainbench", 0, LOG_LEVEL_WARN);
	signal(SIGPIPE, SIG_IGN);
	memset(&b, 0, sizeof(b));
	memset(&conf, 0, sizeof(conf));
	if (cfs_conf_load(&conf, argv[2], err, sizeof(err)) != 0) {
		fprintf(stderr, "chainbench: %s\n", err);
		return 2;
	}
	if (!conf.plaintext &&
	    (ctx = cfs_tls_ctx_new(0, conf.ca, conf.cert, conf.key, err, sizeof(err))) == NULL) {
		fprintf(stderr, "chainbench: %s\n", err);
		return 2;
	}
	b.write_mode = strcmp(argv[3], "write") == 0;
	b.target = strtoull(argv[4], NULL, 10);
	depth = strtoull(argv[5], NULL, 10);
	if (b.target == 0 || depth == 0 || depth > 64) {
		fprintf(stderr, "chainbench: COUNT > 0 and DEPTH 1..64\n");
		return 2;
	}
	b.base = event_base_new();
	memset(&o, 0, sizeof(o));
	for (size_t i = 0; i < conf.nnodes; i++)
		o.seeds[i] = conf.nodes[i].addr;
	o.nseeds = conf.nnodes;
	o.tls = ctx;
	o.name = "chainbench";
	b.cl = cfs_client_new(b.base, &o);

	/* A fresh directory (and file) for this run. */
	snprintf(name, sizeof(name), "bench-%ld-%d", (long)time(NULL), (int)getpid());
	memset(&op, 0, sizeof(op));
	op.type = CFS_OP_MKDIR;
	op.ino = STORE_ROOT_INO;
	op.mode = S_IFDIR | 0755;
	op.name = name;
	op.namelen = (uint16_t)strlen(name);
	if (cfs_client_call(b.cl, &op, &rep, NULL) != 0) {
		fprintf(stderr, "chainbench: mkdir: status %d\n", rep.status);
		return 1;
	}
	b.dir = rep.attr.ino;
	if (b.write_mode) {
		op.type = CFS_OP_CREATE;
		op.ino = b.dir;
		op.mode = S_IFREG | 0644;
		op.name = "data";
		op.namelen = 4;
		if (cfs_client_call(b.cl, &op, &rep, NULL) != 0) {
			fprintf(stderr, "chainbench: create: status %d\n", rep.status);
			return 1;
		}
		b.ino = rep.attr.ino;
		b.buf = xmalloc(1u << 20);
		for (size_t i = 0; i < (1u << 20); i++)
			b.buf[i] = (uint8_t)(i * 7 + 3);
	}

	t0 = bench_now();
	for (uint64_t i = 0; i < depth; i++)
		bench_next(&b);
	event_base_dispatch(b.base);
	if (b.write_mode) {
		/* The data is on stable storage on every node before the clock stops. */
		memset(&op, 0, sizeof(op));
		op.type = CFS_OP_FSYNC;
		op.ino = b.ino;
		cfs_client_call(b.cl, &op, &rep, NULL);
	}
	t1 = bench_now();
	if (b.write_mode)
		printf("RESULT write_MBps %.1f\n", (double)b.target / (t1 - t0));
	else
		printf("RESULT updates_per_s %.0f\n", (double)b.target / (t1 - t0));
	if (b.errors)
		fprintf(stderr, "chainbench: %" PRIu64 " failed requests\n", b.errors);
	cfs_client_free(b.cl);
	event_base_loop(b.base, EVLOOP_NONBLOCK);
	event_base_free(b.base);
	free(b.buf);
	if (ctx)
		SSL_CTX_free(ctx);
	cfs_conf_free(&conf);
	return b.errors ? 1 : 0;
}
