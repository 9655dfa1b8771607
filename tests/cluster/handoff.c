/*
 * handoff: the race a shared filesystem exists to prevent (Kleppmann,
 * "Designing Data-Intensive Applications", fig. 9-5).  A writer on one mount
 * writes a file, closes it, and at once sends its name, length and checksum
 * over a socket to a reader on another mount, which opens the file and
 * checks it.  The reader must never see an older version or no file at all.
 *
 *   handoff --writer-dir MOUNT_A/d --reader-dir MOUNT_B/d --rounds N
 *           [--seconds S] [--files K(8)] [--size BYTES(4096)]
 *
 * A write or close that fails (the chain is failing over and the mount's
 * timeout ran out) is indeterminate: the writer writes that round again,
 * and the reader is told only once close() succeeded.  SIGUSR1 ends the run
 * after the current round.  Prints the totals; exits 1 when a read was
 * stale, missing or torn, 2 on a usage or setup error.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HANDOFF_MAX_SIZE (1 << 20)

/* What the writer tells the reader about one round. */
struct handoff_msg {
	uint64_t round;
	uint32_t file;
	uint32_t len;
	uint64_t sum;
};

static volatile sig_atomic_t handoff_end;

static void
handoff_on_usr1(int sig)
{
	handoff_end = 1;
}

/* FNV-1a, 64 bits: enough to tell versions apart, which carry their round too. */
static uint64_t
handoff_sum(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static double
handoff_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Writes all of buf to fd; -1 with errno. */
static int
handoff_write_all(int fd, const uint8_t *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, buf, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Fills the round's contents: its number first, then bytes that depend on it. */
static void
handoff_fill(uint8_t *buf, size_t n, uint64_t round, uint32_t file)
{
	uint64_t x = round * 0x9E3779B97F4A7C15ull ^ file;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
	if (n >= 16) {
		memcpy(buf, &round, 8);
		memcpy(buf + 8, &file, 4);
	}
}

/* The writer: one round after another; a failed round is written again. */
static int
handoff_writer(const char *dir, int sock, uint64_t rounds, double seconds, uint32_t files,
	       size_t size)
{
	uint8_t *buf = malloc(size);
	double end = handoff_now() + seconds, slowest = 0;
	uint64_t retries = 0, r;
	char path[4096];

	if (buf == NULL)
		return 2;
	for (r = 1; r <= rounds && handoff_now() < end && !handoff_end; r++) {
		struct handoff_msg m = {.round = r, .file = (uint32_t)(r % files), .len = (uint32_t)size};
		double t0 = handoff_now();

		handoff_fill(buf, size, r, m.file);
		m.sum = handoff_sum(buf, size);
		snprintf(path, sizeof(path), "%s/f%u", dir, m.file);
		for (;;) {
			int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

			if (fd >= 0 && handoff_write_all(fd, buf, size) == 0 && close(fd) == 0)
				break;
			if (fd >= 0)
				close(fd);
			retries++;
			fprintf(stderr, "handoff: round %llu: %s: %s; writing it again\n",
				(unsigned long long)r, path, strerror(errno));
			if (handoff_now() > end + 120) {
				free(buf);
				return 2;
			}
			usleep(100000);
		}
		if (handoff_now() - t0 > slowest)
			slowest = handoff_now() - t0;
		if (send(sock, &m, sizeof(m), 0) != (ssize_t)sizeof(m)) {
			perror("handoff: send");
			free(buf);
			return 2;
		}
		/* Wait for the reader, so rounds do not overlap on one file. */
		if (recv(sock, &m, sizeof(m), MSG_WAITALL) != (ssize_t)sizeof(m)) {
			perror("handoff: recv");
			free(buf);
			return 2;
		}
	}
	free(buf);
	printf("writer: %llu rounds, %llu writes done again after an error, slowest round %.3f s\n",
	       (unsigned long long)(r - 1), (unsigned long long)retries, slowest);
	return 0;
}

/* The reader: opens and checks what the writer says it has closed. */
static int
handoff_reader(const char *dir, int sock, size_t size)
{
	uint8_t *buf = malloc(size + 1);
	uint64_t rounds = 0, stale = 0, missing = 0, torn = 0, errors = 0;
	struct handoff_msg m;
	char path[4096];

	if (buf == NULL)
		return 2;
	while (recv(sock, &m, sizeof(m), MSG_WAITALL) == (ssize_t)sizeof(m)) {
		ssize_t got = 0, n;
		uint64_t seen = 0;
		int fd;

		rounds++;
		snprintf(path, sizeof(path), "%s/f%u", dir, m.file);
		fd = open(path, O_RDONLY);
		if (fd < 0) {
			if (errno == ENOENT) {
				missing++;
				fprintf(stderr, "handoff: round %llu: %s missing\n",
					(unsigned long long)m.round, path);
			} else {
				errors++;
				fprintf(stderr, "handoff: round %llu: open %s: %s\n",
					(unsigned long long)m.round, path, strerror(errno));
			}
		} else {
			while ((size_t)got <= size && (n = read(fd, buf + got, size + 1 - (size_t)got)) > 0)
				got += n;
			if (n < 0 && (size_t)got <= size) {
				errors++;
				fprintf(stderr, "handoff: round %llu: read %s: %s\n",
					(unsigned long long)m.round, path, strerror(errno));
			} else if ((size_t)got != m.len || handoff_sum(buf, (size_t)got) != m.sum) {
				if (got >= 8)
					memcpy(&seen, buf, 8);
				if (seen < m.round && (size_t)got == m.len)
					stale++;
				else
					torn++;
				fprintf(stderr, "handoff: round %llu: %s holds %zd bytes of round %llu\n",
					(unsigned long long)m.round, path, got, (unsigned long long)seen);
			}
			close(fd);
		}
		if (send(sock, &m, sizeof(m), 0) != (ssize_t)sizeof(m))
			break;
	}
	free(buf);
	printf("reader: %llu rounds, %llu stale, %llu missing, %llu torn, %llu read errors\n",
	       (unsigned long long)rounds, (unsigned long long)stale, (unsigned long long)missing,
	       (unsigned long long)torn, (unsigned long long)errors);
	return stale + missing + torn + errors > 0 ? 1 : 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: handoff --writer-dir D --reader-dir D --rounds N [--seconds S] "
			"[--files K] [--size BYTES]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *wdir = NULL, *rdir = NULL;
	uint64_t rounds = 0;
	double seconds = 1e9;
	uint32_t files = 8;
	size_t size = 4096;
	struct sigaction sa;
	int sv[2], status, rc;
	pid_t pid;

	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--writer-dir") == 0)
			wdir = argv[++i];
		else if (strcmp(argv[i], "--reader-dir") == 0)
			rdir = argv[++i];
		else if (strcmp(argv[i], "--rounds") == 0)
			rounds = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--seconds") == 0)
			seconds = strtod(argv[++i], NULL);
		else if (strcmp(argv[i], "--files") == 0)
			files = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--size") == 0)
			size = strtoul(argv[++i], NULL, 10);
		else
			usage();
	}
	if (wdir == NULL || rdir == NULL || rounds == 0 || files == 0 || size < 16 ||
	    size > HANDOFF_MAX_SIZE || seconds <= 0)
		usage();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handoff_on_usr1;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
		perror("handoff: socketpair");
		return 2;
	}
	pid = fork();
	if (pid < 0) {
		perror("handoff: fork");
		return 2;
	}
	if (pid == 0) {
		close(sv[0]);
		signal(SIGUSR1, SIG_IGN);
		rc = handoff_reader(rdir, sv[1], size);
		fflush(stdout);
		_exit(rc);
	}
	close(sv[1]);
	fflush(stdout);
	rc = handoff_writer(wdir, sv[0], rounds, seconds, files, size);
	shutdown(sv[0], SHUT_RDWR);
	close(sv[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return 2;
	fflush(stdout);
	return rc != 0 ? rc : WEXITSTATUS(status);
}
