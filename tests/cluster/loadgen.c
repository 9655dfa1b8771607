/*
 * loadgen: drives a chain with many concurrent clients through the client
 * library and checks every answer against a model of what was acknowledged.
 *
 * Each client runs `lanes` independent lanes; a lane owns a directory and
 * cycles through create, write, read-back, setxattr, getattr, rename,
 * lookup and (two times in three) unlink, one request in flight per lane, so
 * every answer can be checked exactly.  At the end every kept file is read
 * back and every removed one must be gone.  --model writes what must survive
 * to a file; --check verifies such a file against the chain (after a restart
 * of every node, say).
 *
 * Exit status: 0 when every answer and every final check was right.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
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

enum lane_step {
	STEP_MKDIR,
	STEP_CREATE,
	STEP_WRITE,
	STEP_READ,
	STEP_SETXATTR,
	STEP_GETATTR,
	STEP_RENAME,
	STEP_LOOKUP,
	STEP_UNLINK,
	STEP_max
};

struct kept {
	uint64_t dir;
	char name[64];
	char token[64];
	uint32_t len;
};

struct lane {
	struct lg_client *lc;
	int id;
	enum lane_step step;
	uint64_t dir, ino, gen;
	char token[64];
	uint32_t len;
	uint8_t *buf;
};

struct lg_client {
	struct loadgen *lg;
	struct cfs_client *cl;
	int id;
	struct lane *lanes;
};

struct loadgen {
	struct event_base *base;
	struct lg_client *clients;
	int nclients, nlanes;
	uint64_t ops_target, ops_done, ops_sent, errors, runid;
	int lanes_running;
	struct kept *kept;
	size_t nkept, capkept;
	struct kept *gone;
	size_t ngone, capgone;
};

static int verbose;

/* Fills buf with len bytes derived from token, so content can be rebuilt from the model. */
static void
lg_fill(uint8_t *buf, uint32_t len, const char *token)
{
	size_t tl = strlen(token);

	for (uint32_t i = 0; i < len; i++)
		buf[i] = (uint8_t)token[i % tl];
}

/* Records a failed check. */
static void
lg_fail(struct lane *l, const char *what, int status)
{
	l->lc->lg->errors++;
	if (l->lc->lg->errors <= 20)
		fprintf(stderr, "loadgen: client %d lane %d gen %" PRIu64 ": %s (status %d)\n",
			l->lc->id, l->id, l->gen, what, status);
}

static void lane_next(struct lane *);

/* One answer for a lane: check it, move on. */
static void
lane_done(void *arg, const struct cfs_reply *rep)
{
	struct lane *l = arg;
	struct loadgen *lg = l->lc->lg;

	lg->ops_done++;
	if (rep->status == ECANCELED)
		return;
	switch (l->step) {
	case STEP_MKDIR:
		if (rep->status != 0) {
			lg_fail(l, "mkdir", rep->status);
			lg->lanes_running--;
			return;
		}
		l->dir = rep->attr.ino;
		l->step = STEP_CREATE;
		break;
	case STEP_CREATE:
		if (rep->status != 0 || !(rep->flags & CFS_REPLY_ATTR) || rep->attr.size != 0)
			lg_fail(l, "create", rep->status);
		l->ino = rep->attr.ino;
		l->step = STEP_WRITE;
		break;
	case STEP_WRITE:
		if (rep->status != 0 || rep->value != l->len)
			lg_fail(l, "write", rep->status);
		l->step = STEP_READ;
		break;
	case STEP_READ:
		if (rep->status != 0 || rep->datalen != l->len ||
		    memcmp(rep->data, l->buf, l->len) != 0)
			lg_fail(l, "read back differs from the acknowledged write", rep->status);
		l->step = STEP_SETXATTR;
		break;
	case STEP_SETXATTR:
		if (rep->status != 0)
			lg_fail(l, "setxattr", rep->status);
		l->step = STEP_GETATTR;
		break;
	case STEP_GETATTR:
		if (rep->status != 0 || rep->attr.size != l->len || rep->attr.ino != l->ino)
			lg_fail(l, "getattr size", rep->status);
		l->step = STEP_RENAME;
		break;
	case STEP_RENAME:
		if (rep->status != 0)
			lg_fail(l, "rename", rep->status);
		l->step = STEP_LOOKUP;
		break;
	case STEP_LOOKUP:
		if (rep->status != 0 || rep->attr.ino != l->ino)
			lg_fail(l, "lookup after rename", rep->status);
		l->step = STEP_UNLINK;
		if (l->gen % 3 == 0) {
			struct kept *k;

			if (lg->nkept == lg->capkept) {
				lg->capkept = lg->capkept ? 2 * lg->capkept : 256;
				lg->kept = xrealloc(lg->kept, lg->capkept * sizeof(*lg->kept));
			}
			k = &lg->kept[lg->nkept++];
			k->dir = l->dir;
			snprintf(k->name, sizeof(k->name), "g%" PRIu64, l->gen);
			snprintf(k->token, sizeof(k->token), "%s", l->token);
			k->len = l->len;
			l->gen++;
			l->step = STEP_CREATE;
		}
		break;
	case STEP_UNLINK: {
		struct kept *k;

		if (rep->status != 0)
			lg_fail(l, "unlink", rep->status);
		if (lg->ngone == lg->capgone) {
			lg->capgone = lg->capgone ? 2 * lg->capgone : 256;
			lg->gone = xrealloc(lg->gone, lg->capgone * sizeof(*lg->gone));
		}
		k = &lg->gone[lg->ngone++];
		k->dir = l->dir;
		snprintf(k->name, sizeof(k->name), "g%" PRIu64, l->gen);
		k->token[0] = '\0';
		k->len = 0;
		l->gen++;
		l->step = STEP_CREATE;
		break;
	}
	default:
		break;
	}
	lane_next(l);
}

/* Sends the lane's next request, or stops when the target is reached. */
static void
lane_next(struct lane *l)
{
	struct loadgen *lg = l->lc->lg;
	struct cfs_op op;
	char name[64], name2[64];

	if (lg->ops_sent >= lg->ops_target && l->step != STEP_MKDIR) {
		if (--lg->lanes_running == 0)
			event_base_loopexit(lg->base, NULL);
		return;
	}
	lg->ops_sent++;
	memset(&op, 0, sizeof(op));
	switch (l->step) {
	case STEP_MKDIR:
		snprintf(name, sizeof(name), "r%" PRIx64 "c%dl%d", lg->runid, l->lc->id, l->id);
		op.type = CFS_OP_MKDIR;
		op.ino = STORE_ROOT_INO;
		op.mode = S_IFDIR | 0755;
		break;
	case STEP_CREATE:
		snprintf(name, sizeof(name), "f%" PRIu64, l->gen);
		op.type = CFS_OP_CREATE;
		op.flags = CFS_CREATE_EXCL;
		op.ino = l->dir;
		op.mode = S_IFREG | 0644;
		break;
	case STEP_WRITE:
		snprintf(l->token, sizeof(l->token), "<%" PRIx64 ":%d:%d:%" PRIu64 ">", lg->runid,
			 l->lc->id, l->id, l->gen);
		l->len = 1 + (uint32_t)(random() % 8192);
		lg_fill(l->buf, l->len, l->token);
		op.type = CFS_OP_WRITE;
		op.ino = l->ino;
		op.data = l->buf;
		op.datalen = l->len;
		break;
	case STEP_READ:
		op.type = CFS_OP_READ;
		op.ino = l->ino;
		op.length = 16384;
		break;
	case STEP_SETXATTR:
		snprintf(name, sizeof(name), "user.token");
		op.type = CFS_OP_SETXATTR;
		op.ino = l->ino;
		op.data = (const uint8_t *)l->token;
		op.datalen = (uint32_t)strlen(l->token);
		break;
	case STEP_GETATTR:
		op.type = CFS_OP_GETATTR;
		op.ino = l->ino;
		break;
	case STEP_RENAME:
		snprintf(name, sizeof(name), "f%" PRIu64, l->gen);
		snprintf(name2, sizeof(name2), "g%" PRIu64, l->gen);
		op.type = CFS_OP_RENAME;
		op.ino = l->dir;
		op.ino2 = l->dir;
		op.name2 = name2;
		op.name2len = (uint16_t)strlen(name2);
		break;
	case STEP_LOOKUP:
		snprintf(name, sizeof(name), "g%" PRIu64, l->gen);
		op.type = CFS_OP_LOOKUP;
		op.ino = l->dir;
		break;
	case STEP_UNLINK:
		snprintf(name, sizeof(name), "g%" PRIu64, l->gen);
		op.type = CFS_OP_UNLINK;
		op.ino = l->dir;
		break;
	default:
		return;
	}
	if (l->step != STEP_WRITE && l->step != STEP_READ && l->step != STEP_GETATTR) {
		op.name = name;
		op.namelen = (uint16_t)strlen(name);
	}
	cfs_client_submit(l->lc->cl, &op, lane_done, l);
}

/* Reads one file through the chain and compares it with the model. */
static int
lg_check_one(struct cfs_client *cl, const struct kept *k)
{
	struct cfs_reply rep;
	struct cfs_wbuf data;
	struct cfs_op op;
	uint8_t *want;
	int ok = 1;

	cfs_wbuf_init(&data);
	memset(&op, 0, sizeof(op));
	op.type = CFS_OP_LOOKUP;
	op.ino = k->dir;
	op.name = k->name;
	op.namelen = (uint16_t)strlen(k->name);
	cfs_client_call(cl, &op, &rep, &data);
	if (k->token[0] == '\0') {
		ok = rep.status == ENOENT;
		if (!ok)
			fprintf(stderr, "loadgen: %" PRIu64 "/%s was removed but lookup says %d\n",
				k->dir, k->name, rep.status);
		cfs_wbuf_free(&data);
		return ok;
	}
	if (rep.status != 0) {
		fprintf(stderr, "loadgen: %" PRIu64 "/%s lost: lookup %d\n", k->dir, k->name,
			rep.status);
		cfs_wbuf_free(&data);
		return 0;
	}
	memset(&op, 0, sizeof(op));
	op.type = CFS_OP_READ;
	op.ino = rep.attr.ino;
	op.length = 16384;
	cfs_client_call(cl, &op, &rep, &data);
	want = xmalloc(k->len);
	lg_fill(want, k->len, k->token);
	if (rep.status != 0 || rep.datalen != k->len || memcmp(rep.data, want, k->len) != 0) {
		fprintf(stderr, "loadgen: %" PRIu64 "/%s has other content than acknowledged\n",
			k->dir, k->name);
		ok = 0;
	}
	free(want);
	cfs_wbuf_free(&data);
	return ok;
}

/* Makes a client with the config's TLS files. */
static struct cfs_client *
lg_client(struct event_base *base, const struct cfs_conf *conf, SSL_CTX *ctx, const char *name,
	  unsigned timeout_ms)
{
	struct cfs_client_opts o;

	memset(&o, 0, sizeof(o));
	for (size_t i = 0; i < conf->nnodes; i++)
		o.seeds[i] = conf->nodes[i].addr;
	o.nseeds = conf->nnodes;
	o.tls = ctx;
	o.name = name;
	o.timeout_ms = timeout_ms;
	return cfs_client_new(base, &o);
}

/* Verifies a model file written by --model. */
static int
lg_check_model(struct cfs_client *cl, const char *path, uint64_t *nchecked)
{
	FILE *f = fopen(path, "r");
	struct kept k;
	char tok[64];
	int bad = 0;

	if (f == NULL) {
		fprintf(stderr, "loadgen: %s: %s\n", path, strerror(errno));
		return 1;
	}
	while (fscanf(f, "%" SCNu64 " %63s %63s %" SCNu32, &k.dir, k.name, tok, &k.len) == 4) {
		snprintf(k.token, sizeof(k.token), "%s", strcmp(tok, "-") == 0 ? "" : tok);
		if (!lg_check_one(cl, &k))
			bad++;
		(*nchecked)++;
	}
	fclose(f);
	return bad;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"model", required_argument, NULL, 'm'},
		{"check", required_argument, NULL, 'C'},
		{NULL, 0, NULL, 0},
	};
	const char *conf_path = NULL, *model = NULL, *check = NULL;
	struct loadgen lg;
	struct cfs_conf conf;
	SSL_CTX *ctx = NULL;
	struct timespec t0, t1;
	char err[512];
	unsigned timeout_ms = 30000;
	int ch, bad = 0;
	double secs;

	memset(&lg, 0, sizeof(lg));
	lg.nclients = 8;
	lg.nlanes = 8;
	lg.ops_target = 20000;
	while ((ch = getopt_long(argc, argv, "c:k:l:n:t:v", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			break;
		case 'C':
			check = optarg;
			break;
		case 'k':
			lg.nclients = atoi(optarg);
			break;
		case 'l':
			lg.nlanes = atoi(optarg);
			break;
		case 'm':
			model = optarg;
			break;
		case 'n':
			lg.ops_target = strtoull(optarg, NULL, 10);
			break;
		case 't':
			timeout_ms = (unsigned)atoi(optarg);
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			fprintf(stderr, "usage: loadgen -c conf [-k clients] [-l lanes] [-n ops] "
					"[-t timeout_ms] [--model FILE | --check FILE]\n");
			return 2;
		}
	}
	if (conf_path == NULL || lg.nclients < 1 || lg.nlanes < 1) {
		fprintf(stderr, "loadgen: -c conf is required\n");
		return 2;
	}
	log_init("loadgen", 0, verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	signal(SIGPIPE, SIG_IGN);
	memset(&conf, 0, sizeof(conf));
	if (cfs_conf_load(&conf, conf_path, err, sizeof(err)) != 0) {
		fprintf(stderr, "loadgen: %s\n", err);
		return 2;
	}
	if (!conf.plaintext) {
		ctx = cfs_tls_ctx_new(0, conf.ca, conf.cert, conf.key, err, sizeof(err));
		if (ctx == NULL) {
			fprintf(stderr, "loadgen: %s\n", err);
			return 2;
		}
	}
	lg.base = event_base_new();
	srandom((unsigned)time(NULL));
	lg.runid = ((uint64_t)time(NULL) << 16) ^ (uint64_t)getpid();

	if (check != NULL) {
		struct cfs_client *cl = lg_client(lg.base, &conf, ctx, "loadgen-check", timeout_ms);
		uint64_t n = 0;

		bad = lg_check_model(cl, check, &n);
		printf("loadgen: checked %" PRIu64 " files from %s: %d wrong\n", n, check, bad);
		cfs_client_free(cl);
		goto out;
	}

	lg.clients = xcalloc((size_t)lg.nclients, sizeof(*lg.clients));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < lg.nclients; i++) {
		struct lg_client *lc = &lg.clients[i];
		char name[32];

		snprintf(name, sizeof(name), "loadgen-%d", i);
		lc->lg = &lg;
		lc->id = i;
		lc->cl = lg_client(lg.base, &conf, ctx, name, timeout_ms);
		lc->lanes = xcalloc((size_t)lg.nlanes, sizeof(*lc->lanes));
		for (int j = 0; j < lg.nlanes; j++) {
			struct lane *l = &lc->lanes[j];

			l->lc = lc;
			l->id = j;
			l->buf = xmalloc(8192);
			l->step = STEP_MKDIR;
			lg.lanes_running++;
			lane_next(l);
		}
	}
	event_base_dispatch(lg.base);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("loadgen: %d clients x %d lanes: %" PRIu64 " ops in %.2f s (%.0f ops/s), %" PRIu64
	       " wrong answers\n",
	       lg.nclients, lg.nlanes, lg.ops_done, secs, (double)lg.ops_done / secs, lg.errors);

	/* Every acknowledged update must be visible at the tail. */
	{
		uint64_t wrong = 0;

		for (size_t i = 0; i < lg.nkept; i++)
			wrong += !lg_check_one(lg.clients[0].cl, &lg.kept[i]);
		for (size_t i = 0; i < lg.ngone; i++)
			wrong += !lg_check_one(lg.clients[0].cl, &lg.gone[i]);
		printf("loadgen: final check of %zu kept and %zu removed files: %" PRIu64
		       " wrong\n",
		       lg.nkept, lg.ngone, wrong);
		bad = (lg.errors != 0 || wrong != 0);
	}
	if (model != NULL) {
		FILE *f = fopen(model, "w");

		if (f == NULL) {
			fprintf(stderr, "loadgen: %s: %s\n", model, strerror(errno));
			bad = 1;
		} else {
			for (size_t i = 0; i < lg.nkept; i++)
				fprintf(f, "%" PRIu64 " %s %s %" PRIu32 "\n", lg.kept[i].dir,
					lg.kept[i].name, lg.kept[i].token, lg.kept[i].len);
			for (size_t i = 0; i < lg.ngone; i++)
				fprintf(f, "%" PRIu64 " %s - 0\n", lg.gone[i].dir, lg.gone[i].name);
			fclose(f);
		}
	}
	for (int i = 0; i < lg.nclients; i++) {
		cfs_client_free(lg.clients[i].cl);
		for (int j = 0; j < lg.nlanes; j++)
			free(lg.clients[i].lanes[j].buf);
		free(lg.clients[i].lanes);
	}
	free(lg.clients);
	free(lg.kept);
	free(lg.gone);
out:
	event_base_loop(lg.base, EVLOOP_NONBLOCK);
	event_base_free(lg.base);
	if (ctx != NULL)
		SSL_CTX_free(ctx);
	cfs_conf_free(&conf);
	return bad ? 1 : 0;
}
