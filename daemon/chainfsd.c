/* chainfsd: one storage node of a chainfs chain. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "common/conf.h"
#include "common/log.h"
#include "daemon/node.h"

static const char *conf_path = CFS_DEFAULT_CONF;

/* Prints the usage line and exits with status. */
static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: chainfsd [-s] [-c file] [-l error|warn|info|debug] -n name\n");
	exit(status);
}

/* SIGTERM, SIGINT: leave the loop; the node syncs and closes its store. */
static void
chainfsd_stop_cb(evutil_socket_t sig, short what, void *arg)
{
	struct event_base *base = arg;

	log_info("signal %d: stopping", (int)sig);
	sd_notify(0, "STOPPING=1");
	event_base_loopexit(base, NULL);
}

/* SIGHUP: re-read the log level from the environment of the next start; say what changes. */
static void
chainfsd_hup_cb(evutil_socket_t sig, short what, void *arg)
{
	struct cfs_conf check;
	char err[512];

	memset(&check, 0, sizeof(check));
	if (cfs_conf_load(&check, conf_path, err, sizeof(err)) != 0)
		log_warnx("reload: %s (keeping the running configuration)", err);
	else
		log_info("reload: %s parses; membership changes need a restart", conf_path);
	cfs_conf_free(&check);
}

/*
 * Raises the soft descriptor limit to the hard one (at most 2^20), as a
 * server that holds a connection per client should: the node then splits
 * what it has (node_fd_limits), and the hard limit, which systemd's
 * LimitNOFILE= or ulimit -Hn sets, is the operator's knob.
 */
static void
chainfsd_raise_nofile(void)
{
	struct rlimit rl;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 1u << 20 ? 1u << 20 : rl.rlim_max;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= want)
		return;
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		log_warn("cannot raise the descriptor limit to %llu", (unsigned long long)want);
}

int
main(int argc, char **argv)
{
	struct event_base *base = NULL;
	struct event *ev_term = NULL, *ev_int = NULL, *ev_hup = NULL;
	struct cfs_conf conf;
	struct node node;
	const char *name = NULL;
	char err[512];
	int ch, level = LOG_LEVEL_INFO, to_syslog = 0, status = 1;

	/*
	 * Every entry is applied in a nested LMDB transaction, and each one
	 * allocates its dirty-page list (2 MiB) and free-page list (1 MiB) and
	 * frees them at its commit.  With glibc's defaults that was a brk up and
	 * down and fresh page faults per update: a third of a lone node's CPU.
	 * Keep such blocks in the heap, and up to 16 MiB of free heap top.
	 */
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	mallopt(M_TRIM_THRESHOLD, 16 << 20);

	while ((ch = getopt(argc, argv, "c:hl:n:s")) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			break;
		case 'l':
			level = log_level_parse(optarg);
			if (level < 0) {
				fprintf(stderr, "chainfsd: unknown log level '%s'\n", optarg);
				usage(2);
			}
			break;
		case 'n':
			name = optarg;
			break;
		case 's':
			to_syslog = 1;
			break;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	if (name == NULL || optind != argc)
		usage(2);
	log_init("chainfsd", to_syslog, level);
	memset(&conf, 0, sizeof(conf));
	if (cfs_conf_load(&conf, conf_path, err, sizeof(err)) != 0) {
		log_warnx("%s", err);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	chainfsd_raise_nofile();
	base = event_base_new();
	if (base == NULL)
		fatalx("event_base_new failed");
	ev_term = evsignal_new(base, SIGTERM, chainfsd_stop_cb, base);
	ev_int = evsignal_new(base, SIGINT, chainfsd_stop_cb, base);
	ev_hup = evsignal_new(base, SIGHUP, chainfsd_hup_cb, NULL);
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);
	event_add(ev_hup, NULL);

	if (node_start(&node, base, &conf, name) == 0) {
		sd_notify(0, "READY=1");
		if (event_base_dispatch(base) < 0)
			log_warnx("event loop failed");
		status = 0;
	}
	node_stop(&node);
	/* Let closed connections free themselves. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_hup);
	event_base_free(base);
	cfs_conf_free(&conf);
	log_info("stopped");
	return status;
}
