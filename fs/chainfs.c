/*
 * chainfs: mounts a chainfs chain with FUSE.
 *
 *   chainfs [-f] [-d] [-o option[,option...]] NODES MOUNTPOINT
 *
 * NODES is host:port[,host:port...], any nodes of the chain.  The chain must
 * answer before anything is mounted, so a wrong node list fails at once and
 * leaves no mount behind.  Without -f, chainfs detaches once the mount is
 * ready.  See chainfs(8) for the options.
 */
#include "config.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <fuse_lowlevel.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/tls.h"
#include "fs/fs.h"
#include "replication/client.h"

struct chainfs_cfg {
	char *nodes;
	char *mountpoint;
	char *conf;
	char *ca, *cert, *key;
	int plaintext;
	int foreground;
	int debug;
	int help;
	double attr_timeout, entry_timeout, negative_timeout;
	double lease; /* seconds of the leases to ask for; 0: none */
	int sync;
	int page_cache;
	unsigned timeout;	  /* seconds an operation may wait for the chain */
	unsigned connect_timeout; /* seconds the chain has to answer at mount time */
	int owner_only;	  /* -o owner_only: no allow_other by default */
	int access_opt;	  /* allow_other or allow_root was given */
	int nonopts;
	int bad;
};

enum { CHAINFS_KEY_ACCESS = 1 };

#define CFG(f, v) {f, offsetof(struct chainfs_cfg, v), 1}
#define CFGV(f, v) {f, offsetof(struct chainfs_cfg, v), 0}

static const struct fuse_opt chainfs_opts[] = {
	CFGV("conf=%s", conf),
	CFGV("ca=%s", ca),
	CFGV("cert=%s", cert),
	CFGV("key=%s", key),
	CFG("plaintext", plaintext),
	CFGV("attr_timeout=%lf", attr_timeout),
	CFGV("entry_timeout=%lf", entry_timeout),
	CFGV("negative_timeout=%lf", negative_timeout),
	CFGV("lease=%lf", lease),
	CFG("sync", sync),
	CFG("owner_only", owner_only),
	CFG("page_cache", page_cache),
	FUSE_OPT_KEY("allow_other", CHAINFS_KEY_ACCESS),
	FUSE_OPT_KEY("allow_root", CHAINFS_KEY_ACCESS),
	CFGV("timeout=%u", timeout),
	CFGV("connect_timeout=%u", connect_timeout),
	CFG("-f", foreground),
	CFG("-h", help),
	CFG("--help", help),
	FUSE_OPT_END,
};

/* Prints usage. */
static void
usage(FILE *f)
{
	fprintf(f,
		"usage: chainfs [-f] [-d] [-o option[,option...]] NODES MOUNTPOINT\n"
		"  NODES                   host:port[,host:port...] of the chain\n"
		"  -f                      stay in the foreground\n"
		"  -d                      FUSE debug output (implies -f)\n"
		"  -o conf=FILE            take ca/cert/key from FILE (default %s)\n"
		"  -o ca=FILE,cert=FILE,key=FILE   TLS files of this client\n"
		"  -o plaintext            no TLS (the nodes must be plaintext too)\n"
		"  -o lease=S              cache attributes under leases of S s that the\n"
		"                          tail recalls before any change (5; 0: off)\n"
		"  -o attr_timeout=S, entry_timeout=S, negative_timeout=S   kernel caching\n"
		"                          without leases: may show old state (0)\n"
		"  -o sync                 every write waits for the chain\n"
		"  -o page_cache           use the kernel's page cache for file data\n"
		"                          (see chainfs(8) for what it costs)\n"
		"  -o timeout=S            an operation fails with EIO after S s (30)\n"
		"  -o connect_timeout=S    the chain must answer within S s at mount (10)\n"
		"  -o owner_only           only the mounting user may enter (root's mounts\n"
		"                          default to allow_other: every local user, with\n"
		"                          the kernel's permission checks)\n"
		"  -o allow_root, ro, ...  passed to FUSE\n",
		CFS_DEFAULT_CONF);
}

/* Takes NODES and MOUNTPOINT; everything else goes on to FUSE. */
static int
chainfs_opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct chainfs_cfg *cfg = data;

	if (key == FUSE_OPT_KEY_NONOPT) {
		if (cfg->nonopts == 0)
			cfg->nodes = xstrdup(arg);
		else if (cfg->nonopts == 1)
			cfg->mountpoint = xstrdup(arg);
		else {
			fprintf(stderr, "chainfs: unexpected argument '%s'\n", arg);
			cfg->bad = 1;
		}
		cfg->nonopts++;
		return 0;
	}
	if (key == CHAINFS_KEY_ACCESS)
		cfg->access_opt = 1;
	if (strcmp(arg, "-d") == 0 || strcmp(arg, "debug") == 0)
		cfg->debug = cfg->foreground = 1;
	return 1;
}

/*
 * Takes the TLS files from a configuration file, where the options did not
 * name them, and the names of the seeds that are nodes of the file.
 */
static int
chainfs_tls_from_conf(struct chainfs_cfg *cfg, struct cfs_node_addr *seeds, size_t nseeds)
{
	struct cfs_conf conf;
	char err[512];
	const char *path = cfg->conf ? cfg->conf : CFS_DEFAULT_CONF;

	if (cfg->plaintext || (cfg->ca && cfg->cert && cfg->key))
		return 0;
	if (cfg->conf == NULL && access(path, R_OK) != 0) {
		fprintf(stderr, "chainfs: no TLS files: give -o ca=,cert=,key= or -o conf=FILE "
				"(or -o plaintext)\n");
		return -1;
	}
	memset(&conf, 0, sizeof(conf));
	if (cfs_conf_load(&conf, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "chainfs: %s\n", err);
		return -1;
	}
	if (conf.plaintext)
		cfg->plaintext = 1;
	if (cfg->ca == NULL && conf.ca)
		cfg->ca = xstrdup(conf.ca);
	if (cfg->cert == NULL && conf.cert)
		cfg->cert = xstrdup(conf.cert);
	if (cfg->key == NULL && conf.key)
		cfg->key = xstrdup(conf.key);
	/* A seed at a node's address is that node: its certificate must name it. */
	for (size_t i = 0; i < nseeds; i++)
		for (size_t k = 0; k < conf.nnodes && seeds[i].name[0] == '\0'; k++)
			if (strcmp(conf.nodes[k].addr.host, seeds[i].host) == 0 &&
			    conf.nodes[k].addr.port == seeds[i].port)
				snprintf(seeds[i].name, sizeof(seeds[i].name), "%s",
					 conf.nodes[k].addr.name);
	cfs_conf_free(&conf);
	if (!cfg->plaintext && (cfg->ca == NULL || cfg->cert == NULL || cfg->key == NULL)) {
		fprintf(stderr, "chainfs: %s names no ca/cert/key for a client\n", path);
		return -1;
	}
	return 0;
}

struct chainfs_loop {
	struct fuse_session *se;
	struct event_base *base;
	struct fuse_buf buf;
};

/* The FUSE device is readable: one kernel request. */
static void
chainfs_fuse_cb(evutil_socket_t fd, short what, void *arg)
{
	struct chainfs_loop *l = arg;
	int res = fuse_session_receive_buf(l->se, &l->buf);

	if (res == -EINTR || res == -EAGAIN)
		return;
	if (res <= 0 || fuse_session_exited(l->se)) {
		/* Unmounted (ENODEV) or the session ended. */
		event_base_loopexit(l->base, NULL);
		return;
	}
	fuse_session_process_buf(l->se, &l->buf);
	if (fuse_session_exited(l->se))
		event_base_loopexit(l->base, NULL);
}

/* SIGTERM, SIGINT, SIGHUP: leave the loop; the mount is removed on the way out. */
static void
chainfs_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct chainfs_loop *l = arg;

	log_info("signal %d: unmounting", (int)sig);
	fuse_session_exit(l->se);
	event_base_loopexit(l->base, NULL);
}

/* Gives up waiting for the chain at mount time. */
static void
chainfs_connect_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	*(int *)arg = 1;
}

int
main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct chainfs_cfg cfg;
	struct cfs_client_opts co;
	struct chainfs_loop l;
	struct fs_opts fo;
	struct cfs_client *cl = NULL;
	struct fs *fs = NULL;
	struct event_base *base = NULL;
	struct event *fuse_ev = NULL, *sig[3] = {NULL, NULL, NULL}, *to;
	SSL_CTX *ctx = NULL;
	struct stat st;
	char err[512];
	int n, timed_out = 0, status = 1, mounted = 0;
	struct timeval tv;

	/*
	 * Reads and writes of 1 MiB go through buffers of that size (a
	 * readahead chunk, a frame's body).  With glibc's defaults each was a
	 * fresh mmap, 256 page faults and an munmap: a reader of big files
	 * spent most of its CPU there.  Keep them in the heap, and up to
	 * 16 MiB of free heap top (the client stays well under 64 MiB).
	 */
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	mallopt(M_TRIM_THRESHOLD, 16 << 20);

	memset(&cfg, 0, sizeof(cfg));
	memset(&l, 0, sizeof(l));
	cfg.timeout = 30;
	cfg.connect_timeout = 10;
	cfg.lease = 5;
	if (fuse_opt_parse(&args, &cfg, chainfs_opts, chainfs_opt_proc) != 0) {
		fprintf(stderr, "chainfs: cannot parse the options\n");
		return 2;
	}
	if (cfg.help) {
		usage(stdout);
		return 0;
	}
	if (cfg.bad || cfg.nodes == NULL || cfg.mountpoint == NULL) {
		usage(stderr);
		return 2;
	}
	log_init("chainfs", 0, cfg.debug ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	if (stat(cfg.mountpoint, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "chainfs: mount point %s: %s\n", cfg.mountpoint,
			errno ? strerror(errno) : "not a directory");
		return 1;
	}
	if (cfg.attr_timeout < 0 || cfg.entry_timeout < 0 || cfg.negative_timeout < 0 ||
	    cfg.timeout == 0 || cfg.timeout > 86400 || cfg.connect_timeout == 0 ||
	    cfg.connect_timeout > 3600 || !(cfg.lease >= 0 && cfg.lease <= 60)) {
		fprintf(stderr, "chainfs: timeout=1..86400 and connect_timeout=1..3600 seconds; "
				"attr/entry/negative_timeout >= 0; lease=0..60\n");
		return 2;
	}
	memset(&co, 0, sizeof(co));
	n = cfs_parse_node_list(cfg.nodes, co.seeds, CFS_MAX_NODES, err, sizeof(err));
	if (n <= 0) {
		fprintf(stderr, "chainfs: %s: %s\n", cfg.nodes, n < 0 ? err : "no node");
		return 2;
	}
	co.nseeds = (size_t)n;
	if (chainfs_tls_from_conf(&cfg, co.seeds, co.nseeds) != 0)
		return 2;
	if (!cfg.plaintext) {
		ctx = cfs_tls_ctx_new(0, cfg.ca, cfg.cert, cfg.key, err, sizeof(err));
		if (ctx == NULL) {
			fprintf(stderr, "chainfs: %s\n", err);
			return 1;
		}
	}
	signal(SIGPIPE, SIG_IGN);

	base = event_base_new();
	if (base == NULL)
		fatalx("event_base_new failed");
	co.tls = ctx;
	co.name = "chainfs";
	co.timeout_ms = cfg.timeout * 1000;
	co.lease_ms = (uint32_t)(cfg.lease * 1000);
	cl = cfs_client_new(base, &co);
	memset(&fo, 0, sizeof(fo));
	fo.attr_timeout = cfg.attr_timeout;
	fo.entry_timeout = cfg.entry_timeout;
	fo.negative_timeout = cfg.negative_timeout;
	fo.sync = cfg.sync;
	fo.page_cache = cfg.page_cache;
	fo.lease_ms = co.lease_ms;
	fs = fs_new(base, cl, &fo);
	/* The kernel checks permissions against the attributes it gets from us. */
	fuse_opt_add_arg(&args, "-odefault_permissions");
	/*
	 * A shared directory serves every user of the host, as NFS and CephFS
	 * mounts do: root's mount lets everyone in (the kernel still checks the
	 * mode bits), unless owner_only or allow_root says otherwise.  Others
	 * mount for themselves: fusermount3 allows allow_other to them only with
	 * user_allow_other in /etc/fuse.conf, so they ask for it explicitly.
	 */
	if (cfg.owner_only && cfg.access_opt) {
		fprintf(stderr, "chainfs: owner_only contradicts allow_other/allow_root\n");
		status = 2;
		goto out;
	}
	if (!cfg.owner_only && !cfg.access_opt && geteuid() == 0)
		fuse_opt_add_arg(&args, "-oallow_other");
	/* The node list names the mount (df, and mount -a's "already mounted" check). */
	{
		size_t len = strlen(cfg.nodes), j = 0;
		char *fsname = xmalloc(sizeof("-ofsname=") + 2 * len);

		memcpy(fsname, "-ofsname=", sizeof("-ofsname=") - 1);
		j = sizeof("-ofsname=") - 1;
		for (size_t i = 0; i < len; i++) {
			if (cfg.nodes[i] == ',' || cfg.nodes[i] == '\\')
				fsname[j++] = '\\'; /* FUSE splits -o at unescaped commas */
			fsname[j++] = cfg.nodes[i];
		}
		fsname[j] = '\0';
		fuse_opt_add_arg(&args, fsname);
		free(fsname);
	}
	fuse_opt_add_arg(&args, "-osubtype=chainfs");
	/* The session checks the FUSE options: a bad one fails before any waiting. */
	l.se = fuse_session_new(&args, fs_ops(), sizeof(*fs_ops()), fs);
	if (l.se == NULL) {
		fprintf(stderr, "chainfs: bad mount options (see above)\n");
		status = 2;
		goto out;
	}

	/* The chain must answer before anything is mounted. */
	to = evtimer_new(base, chainfs_connect_timeout_cb, &timed_out);
	tv.tv_sec = cfg.connect_timeout;
	tv.tv_usec = 0;
	evtimer_add(to, &tv);
	while (!cfs_client_ready(cl) && !timed_out)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(to);
	if (!cfs_client_ready(cl)) {
		fprintf(stderr, "chainfs: the chain at %s did not answer within %u s%s\n", cfg.nodes,
			cfg.connect_timeout,
			cfg.plaintext ? "" : " (unreachable, or TLS refused: check ca/cert/key)");
		goto out;
	}
	fs_set_session(fs, l.se);
	if (fuse_session_mount(l.se, cfg.mountpoint) != 0) {
		fprintf(stderr, "chainfs: cannot mount on %s\n", cfg.mountpoint);
		goto out;
	}
	mounted = 1;
	fs_devio_attach(fs, l.se);
	if (fuse_daemonize(cfg.foreground) != 0) {
		fprintf(stderr, "chainfs: cannot detach\n");
		goto out;
	}
	if (!cfg.foreground)
		log_init("chainfs", 1, LOG_LEVEL_WARN);
	if (event_reinit(base) != 0)
		log_warnx("event_reinit failed");

	l.base = base;
	fuse_ev = event_new(base, fuse_session_fd(l.se), EV_READ | EV_PERSIST, chainfs_fuse_cb, &l);
	event_add(fuse_ev, NULL);
	sig[0] = evsignal_new(base, SIGTERM, chainfs_signal_cb, &l);
	sig[1] = evsignal_new(base, SIGINT, chainfs_signal_cb, &l);
	sig[2] = evsignal_new(base, SIGHUP, chainfs_signal_cb, &l);
	for (int i = 0; i < 3; i++)
		event_add(sig[i], NULL);
	event_base_dispatch(base);
	status = 0;
out:
	if (fuse_ev)
		event_free(fuse_ev);
	for (int i = 0; i < 3; i++)
		if (sig[i])
			event_free(sig[i]);
	if (l.se != NULL && mounted)
		fuse_session_unmount(l.se);
	/* Outstanding requests are answered (ECANCELED) while fs and the session exist. */
	cfs_client_free(cl);
	fs_free(fs);
	if (l.se != NULL)
		fuse_session_destroy(l.se);
	if (base != NULL) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		event_base_free(base);
	}
	free(l.buf.mem);
	if (ctx)
		SSL_CTX_free(ctx);
	fuse_opt_free_args(&args);
	free(cfg.nodes);
	free(cfg.mountpoint);
	free(cfg.conf);
	free(cfg.ca);
	free(cfg.cert);
	free(cfg.key);
	return status;
}
