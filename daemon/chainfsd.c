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

/* The running node and what it tells systemd. */
struct chainfsd {
	struct event_base *base;
	struct node node;
	struct cfs_conf conf;
	struct event *tick;
	uint64_t watchdog_usec; /* WatchdogSec= in microseconds; 0: no watchdog */
	char status[1024];	/* the last STATUS= sent */
	char reload[600];	/* what the last reload said, shown after the status */
};

/* Sends STATUS= when the node's line changed since the last one. */
static void
chainfsd_status(struct chainfsd *d)
{
	char line[256], full[1024];

	node_status_line(&d->node, line, sizeof(line));
	snprintf(full, sizeof(full), "%s%s%s", line, d->reload[0] ? "; " : "", d->reload);
	if (strncmp(full, d->status, sizeof(d->status) - 1) == 0)
		return;
	snprintf(d->status, sizeof(d->status), "%s", full);
	sd_notifyf(0, "STATUS=%s", d->status);
}

/*
 * Every second (or a third of WatchdogSec=, if shorter), from the event
 * loop: WATCHDOG=1, so that a loop that stops turning (a hang, SIGSTOP)
 * stops the pings and systemd kills and restarts the node; and the status.
 */
static void
chainfsd_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct chainfsd *d = arg;

	if (d->watchdog_usec != 0)
		sd_notify(0, "WATCHDOG=1");
	chainfsd_status(d);
}

/* SIGTERM, SIGINT: leave the loop; the node leaves the chain, syncs and closes its store. */
static void
chainfsd_stop_cb(evutil_socket_t sig, short what, void *arg)
{
	struct chainfsd *d = arg;

	log_info("signal %d: stopping", (int)sig);
	sd_notify(0, "STOPPING=1\nSTATUS=stopping: leaving the chain");
	event_base_loopexit(d->base, NULL);
}

/*
 * SIGHUP (systemctl reload): reads the configuration file again and applies
 * what can change while the node runs (node_reload).  A file that does not
 * parse, or a change that needs a restart, is reported in the log and the
 * status line; the node goes on as it was.
 */
static void
chainfsd_hup_cb(evutil_socket_t sig, short what, void *arg)
{
	struct chainfsd *d = arg;
	struct cfs_conf fresh;
	char err[512], msg[512];

	sd_notify(0, "RELOADING=1");
	memset(&fresh, 0, sizeof(fresh));
	if (cfs_conf_load(&fresh, conf_path, err, sizeof(err)) != 0) {
		log_warnx("reload: %s (keeping the running configuration)", err);
		snprintf(d->reload, sizeof(d->reload), "reload failed: %s", err);
	} else if (node_reload(&d->node, &fresh, msg, sizeof(msg)) != 0) {
		log_warnx("%s", msg);
		snprintf(d->reload, sizeof(d->reload), "%s", msg);
	} else {
		log_info("%s", msg);
		d->reload[0] = '\0';
	}
	cfs_conf_free(&fresh);
	d->status[0] = '\0';
	sd_notify(0, "READY=1");
	chainfsd_status(d);
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
	static struct chainfsd d;
	struct event *ev_term = NULL, *ev_int = NULL, *ev_hup = NULL;
	struct timeval tv;
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
	if (cfs_conf_load(&d.conf, conf_path, err, sizeof(err)) != 0) {
		log_warnx("%s", err);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	chainfsd_raise_nofile();
	d.base = event_base_new();
	if (d.base == NULL)
		fatalx("event_base_new failed");
	ev_term = evsignal_new(d.base, SIGTERM, chainfsd_stop_cb, &d);
	ev_int = evsignal_new(d.base, SIGINT, chainfsd_stop_cb, &d);
	ev_hup = evsignal_new(d.base, SIGHUP, chainfsd_hup_cb, &d);
	d.tick = event_new(d.base, -1, EV_PERSIST, chainfsd_tick_cb, &d);
	if (ev_term == NULL || ev_int == NULL || ev_hup == NULL || d.tick == NULL)
		fatalx("cannot make the signal events");
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);
	event_add(ev_hup, NULL);
	if (sd_watchdog_enabled(0, &d.watchdog_usec) <= 0)
		d.watchdog_usec = 0;
	tv.tv_sec = 1;
	tv.tv_usec = 0;
	if (d.watchdog_usec != 0 && d.watchdog_usec / 3 < 1000000) {
		tv.tv_sec = 0;
		tv.tv_usec = (suseconds_t)(d.watchdog_usec / 3);
	}
	event_add(d.tick, &tv);

	if (node_start(&d.node, d.base, &d.conf, name) == 0) {
		node_status_line(&d.node, d.status, sizeof(d.status));
		sd_notifyf(0, "READY=1\nSTATUS=%s", d.status);
		if (event_base_dispatch(d.base) < 0)
			log_warnx("event loop failed");
		status = 0;
	}
	/* No status, ping or reload while the node comes apart (node_stop turns the loop). */
	event_del(d.tick);
	event_del(ev_hup);
	node_stop(&d.node);
	/* Let closed connections free themselves. */
	event_base_loop(d.base, EVLOOP_NONBLOCK);
	event_free(d.tick);
	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_hup);
	event_base_free(d.base);
	cfs_conf_free(&d.conf);
	log_info("stopped");
	return status;
}
