/*
 * A client that chooses its own client id, for tls-identity.sh's test of a
 * client id reused under another certificate:
 *
 *   idclient -c CONF -i ID [-t TIMEOUT_MS] [-H HOLD_S] [-U CALLER] [-O OWNER]
 *            [-P PARENT_INO] NAME
 *
 * makes directory NAME (mode 04755) in the root, or in PARENT_INO, as the
 * client's first request (seq 1), saying it comes from uid and gid CALLER
 * and names OWNER as its owner (both 0 by default), as a client under its
 * own control could; prints "mkdir NAME: STATUS" and, with -H, stays
 * connected HOLD_S seconds.  (squash.sh uses -U and -O.)
 * Exit 0 when the mkdir succeeded, 1 when it did not, 2 on bad usage.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/tls.h"
#include "replication/client.h"
#include "store/store.h"

/* Ends the hold. */
static void
idclient_hold_cb(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

int
main(int argc, char **argv)
{
	const char *conf_path = NULL;
	uint64_t id = 0;
	unsigned timeout_ms = 10000, hold = 0;
	uint32_t caller = 0, owner = 0;
	uint64_t parent = STORE_ROOT_INO;
	struct cfs_client_opts o;
	struct cfs_conf conf;
	struct cfs_client *cl;
	struct event_base *base;
	struct cfs_op op;
	struct cfs_reply rep;
	SSL_CTX *ctx = NULL;
	char err[512];
	int ch, status;

	while ((ch = getopt(argc, argv, "c:i:t:H:U:O:P:")) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			break;
		case 'i':
			id = strtoull(optarg, NULL, 0);
			break;
		case 't':
			timeout_ms = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'H':
			hold = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'U':
			caller = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'O':
			owner = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'P':
			parent = strtoull(optarg, NULL, 10);
			break;
		default:
			goto usage;
		}
	}
	if (conf_path == NULL || id == 0 || optind != argc - 1 || hold > 600) {
usage:
		fprintf(stderr, "usage: idclient -c CONF -i ID [-t TIMEOUT_MS] [-H HOLD_S] "
				"[-U CALLER] [-O OWNER] [-P PARENT_INO] NAME\n");
		return 2;
	}
	log_init("idclient", 0, LOG_LEVEL_WARN);
	signal(SIGPIPE, SIG_IGN);
	memset(&conf, 0, sizeof(conf));
	if (cfs_conf_load(&conf, conf_path, err, sizeof(err)) != 0) {
		fprintf(stderr, "idclient: %s\n", err);
		return 2;
	}
	if (!conf.plaintext) {
		ctx = cfs_tls_ctx_new(0, conf.ca, conf.cert, conf.key, err, sizeof(err));
		if (ctx == NULL) {
			fprintf(stderr, "idclient: %s\n", err);
			cfs_conf_free(&conf);
			return 2;
		}
	}
	base = event_base_new();
	memset(&o, 0, sizeof(o));
	for (size_t i = 0; i < conf.nnodes; i++)
		o.seeds[i] = conf.nodes[i].addr;
	o.nseeds = conf.nnodes;
	o.tls = ctx;
	o.name = "idclient";
	o.client_id = id;
	o.timeout_ms = timeout_ms;
	cl = cfs_client_new(base, &o);
	memset(&op, 0, sizeof(op));
	op.type = CFS_OP_MKDIR;
	op.ino = parent;
	op.mode = S_IFDIR | 04755;
	op.uid = op.gid = owner;
	op.caller_uid = op.caller_gid = caller;
	op.name = argv[optind];
	op.namelen = (uint16_t)strlen(argv[optind]);
	status = cfs_client_call(cl, &op, &rep, NULL);
	printf("mkdir %s: %s\n", argv[optind], status == 0 ? "ok" : strerror(status));
	fflush(stdout);
	if (hold > 0) {
		struct event *ev = evtimer_new(base, idclient_hold_cb, base);
		struct timeval tv = {.tv_sec = hold, .tv_usec = 0};

		evtimer_add(ev, &tv);
		event_base_dispatch(base);
		event_free(ev);
	}
	cfs_client_free(cl);
	/* Let the connections it closed free themselves. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_free(base);
	if (ctx != NULL)
		SSL_CTX_free(ctx);
	cfs_conf_free(&conf);
	return status == 0 ? 0 : 1;
}
