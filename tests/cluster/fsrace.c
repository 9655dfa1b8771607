/*
 * fsrace: races that once broke chainfs's promises, run against mounts.
 *
 *   fsrace rewrite DIR SECS     three processes rewrite DIR/f in place
 *                               (O_TRUNC, write, close) while a fourth opens
 *                               and reads it: every read must return a value
 *                               that was written, or nothing (the file is
 *                               empty between a truncate and its write)
 *   fsrace replace DIRA DIRB SECS
 *                               a process on mount B replaces DIRB/f the safe
 *                               way (write a temporary, rename it over f)
 *                               while one on mount A opens DIRA/f: there is
 *                               a file at f all the time, so open must never
 *                               fail; every other time the writer holds the
 *                               file it replaces open, and must still read it
 *
 *   fsrace append DIRA DIRB SECS
 *                               a process on each mount appends records to
 *                               the same file (O_APPEND): none may be lost or
 *                               overwritten, whatever size each kernel knew
 *   fsrace stream DIRA DIRB SECS
 *                               two processes on each mount append records to
 *                               one file through a descriptor each, back to
 *                               back (the mount joins them into fewer chain
 *                               requests), while one process on each mount
 *                               reads the file in record-sized reads as it
 *                               grows: every record each reader or the final
 *                               check sees must be its writer's next one
 *
 * Prints what it counted; exits 1 when a promise broke, 2 on bad usage.
 * Every loop ends after SECS seconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define VLEN 24 /* every value is this long: "w<k>-<counter>" padded */

/* Seconds on the monotonic clock. */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A value of writer k: printable, VLEN bytes, unique. */
static void
value(char *v, int k, long i)
{
	char tmp[64];

	snprintf(tmp, sizeof(tmp), "w%d-%021ld", k, i);
	memcpy(v, tmp, VLEN);
}

/* True when buf holds a value some writer could have written. */
static int
value_ok(const char *buf, ssize_t n)
{
	if (n != VLEN || buf[0] != 'w' || buf[2] != '-')
		return 0;
	for (ssize_t i = 3; i < n; i++)
		if (buf[i] < '0' || buf[i] > '9')
			return 0;
	return 1;
}

/* Writes v to path by replacing it in place. */
static int
rewrite(const char *path, const char *v)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, v, VLEN);
	if (close(fd) != 0 || n != VLEN)
		return -1;
	return 0;
}

static int
run_rewrite(const char *dir, double secs)
{
	char path[4096], v[VLEN], buf[4 * VLEN];
	double end = now() + secs;
	long reads = 0, empty = 0, bad = 0, fails = 0;
	pid_t w[3];
	int status, rc = 0;

	snprintf(path, sizeof(path), "%s/f", dir);
	value(v, 0, 0);
	if (rewrite(path, v) != 0) {
		perror(path);
		return 1;
	}
	for (int k = 0; k < 3; k++) {
		w[k] = fork();
		if (w[k] == 0) {
			for (long i = 1; now() < end; i++) {
				value(v, k, i);
				if (rewrite(path, v) != 0)
					_exit(3);
			}
			_exit(0);
		}
	}
	while (now() < end) {
		int fd = open(path, O_RDONLY);
		ssize_t n;

		if (fd < 0) {
			fails++;
			continue;
		}
		n = read(fd, buf, sizeof(buf));
		close(fd);
		reads++;
		if (n < 0) {
			fails++;
		} else if (n == 0) {
			empty++;
		} else if (!value_ok(buf, n)) {
			if (bad++ < 3)
				fprintf(stderr, "fsrace: read %zd bytes that nobody wrote%s\n", n,
					memchr(buf, 0, (size_t)n) ? " (NUL bytes)" : "");
		}
	}
	for (int k = 0; k < 3; k++) {
		if (waitpid(w[k], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "fsrace: writer %d failed\n", k);
			rc = 1;
		}
	}
	printf("rewrite: %ld reads, %ld empty, %ld failed, %ld with bytes nobody wrote\n", reads,
	       empty, fails, bad);
	return rc || bad > 0 || fails > 0 || reads == 0;
}

static int
run_replace(const char *dira, const char *dirb, double secs)
{
	char patha[4096], pathb[4096], tmp[4096], v[VLEN], buf[4 * VLEN];
	double end = now() + secs;
	long opens = 0, open_fail = 0, read_stale = 0, bad = 0;
	pid_t w;
	int status, rc = 0;

	snprintf(patha, sizeof(patha), "%s/rf", dira);
	snprintf(pathb, sizeof(pathb), "%s/rf", dirb);
	snprintf(tmp, sizeof(tmp), "%s/rf.tmp", dirb);
	value(v, 0, 0);
	if (rewrite(pathb, v) != 0) {
		perror(pathb);
		return 1;
	}
	w = fork();
	if (w == 0) {
		char prev[VLEN], got[VLEN];

		memcpy(prev, v, VLEN);
		for (long i = 1; now() < end; i++) {
			/* Every other time the file being replaced is open here. */
			int hold = i % 2 ? open(pathb, O_RDONLY) : -1;

			value(v, 1, i);
			if (rewrite(tmp, v) != 0 || rename(tmp, pathb) != 0)
				_exit(3);
			if (hold >= 0) {
				/* As on a local filesystem, the replaced file stays readable. */
				if (pread(hold, got, VLEN, 0) != VLEN || memcmp(got, prev, VLEN) != 0)
					_exit(4);
				close(hold);
			}
			memcpy(prev, v, VLEN);
		}
		_exit(0);
	}
	while (now() < end) {
		int fd = open(patha, O_RDONLY);
		ssize_t n;

		opens++;
		if (fd < 0) {
			if (open_fail++ < 3)
				fprintf(stderr, "fsrace: open: %s while a file was there\n",
					strerror(errno));
			continue;
		}
		n = read(fd, buf, sizeof(buf));
		close(fd);
		if (n < 0 && errno == ESTALE)
			read_stale++; /* removed by the other host after the open */
		else if (n < 0 || !value_ok(buf, n))
			bad++;
	}
	if (waitpid(w, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "fsrace: the replacing writer failed (status %d)\n",
			WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		rc = 1;
	}
	printf("replace: %ld opens, %ld failed, %ld reads found the file removed after the "
	       "open (ESTALE), %ld bad reads\n",
	       opens, open_fail, read_stale, bad);
	return rc || open_fail > 0 || bad > 0 || opens == 0;
}

/* Appends records of writer k to path until end; returns how many, or -1. */
static long
append_loop(const char *path, int k, double end)
{
	char v[VLEN];
	long i;

	for (i = 0; now() < end; i++) {
		int fd = open(path, O_WRONLY | O_APPEND);

		value(v, k, i);
		if (fd < 0 || write(fd, v, VLEN) != VLEN || close(fd) != 0)
			return -1;
	}
	return i;
}

static int
run_append(const char *dira, const char *dirb, double secs)
{
	char patha[4096], pathb[4096], v[VLEN];
	double end = now() + secs;
	long mine, theirs = -1, next[2] = {0, 0}, records = 0, bad = 0;
	int pfd[2], status, fd;
	pid_t w;
	ssize_t n;

	snprintf(patha, sizeof(patha), "%s/log", dira);
	snprintf(pathb, sizeof(pathb), "%s/log", dirb);
	fd = open(patha, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || close(fd) != 0 || pipe(pfd) != 0) {
		perror(patha);
		return 1;
	}
	w = fork();
	if (w == 0) {
		long k = append_loop(pathb, 1, end);

		if (write(pfd[1], &k, sizeof(k)) != sizeof(k))
			_exit(3);
		_exit(k < 0 ? 3 : 0);
	}
	mine = append_loop(patha, 0, end);
	if (read(pfd[0], &theirs, sizeof(theirs)) != sizeof(theirs))
		theirs = -1;
	if (waitpid(w, &status, 0) < 0 || mine < 0 || theirs < 0) {
		fprintf(stderr, "fsrace: an appender failed\n");
		return 1;
	}
	/* Each writer's records appear once each, in its own order. */
	fd = open(pathb, O_RDONLY);
	while (fd >= 0 && (n = read(fd, v, VLEN)) == VLEN) {
		long i = 0;
		int k = v[1] - '0';

		for (size_t j = 3; j < VLEN && v[j] >= '0' && v[j] <= '9'; j++)
			i = i * 10 + (v[j] - '0'); /* v is not NUL-terminated */

		records++;
		if (!value_ok(v, n) || (k != 0 && k != 1) || i != next[k]) {
			if (bad++ < 3)
				fprintf(stderr, "fsrace: record %ld is not the next one\n", records);
		} else {
			next[k]++;
		}
	}
	if (fd >= 0)
		close(fd);
	printf("append: %ld + %ld records appended, %ld found, %ld out of place\n", mine, theirs,
	       records, bad);
	return bad > 0 || records != mine + theirs || records == 0;
}

#define STREAM_WRITERS 4

/* Checks one record against the writers' next ones; counts it; 0 when it is not the next. */
static int
stream_next(const char *v, ssize_t n, long *next)
{
	long i = 0;
	int k = v[1] - '0';

	if (!value_ok(v, n) || k < 0 || k >= STREAM_WRITERS)
		return 0;
	for (size_t j = 3; j < VLEN; j++)
		i = i * 10 + (v[j] - '0');
	if (i != next[k])
		return 0;
	next[k]++;
	return 1;
}

/* Writer k: one descriptor, records back to back until end; how many, or -1. */
static long
stream_write(const char *path, int k, double end)
{
	char v[VLEN];
	long i = 0;
	int fd = open(path, O_WRONLY | O_APPEND);

	if (fd < 0)
		return -1;
	while (now() < end) {
		for (int b = 0; b < 64; b++, i++) {
			value(v, k, i);
			if (write(fd, v, VLEN) != VLEN) {
				close(fd);
				return -1;
			}
		}
	}
	return close(fd) == 0 ? i : -1;
}

/*
 * A reader: record-sized reads in order as the file grows, until the
 * writers are done (after end) and the file ends; 0 when every record was
 * its writer's next; prints what it saw.
 */
static int
stream_read(const char *path, double end, const char *name)
{
	long next[STREAM_WRITERS] = {0}, records = 0, bad = 0, eofs = 0;
	char v[VLEN];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return 1;
	for (;;) {
		n = read(fd, v, VLEN);
		if (n == 0) {
			/* Past end and a second past it: the writers have closed. */
			if (now() > end + 1.0)
				break;
			eofs++;
			usleep(500); /* caught up with the writers: let them write */
			continue;
		}
		if (n < 0 || !stream_next(v, n, next)) {
			if (bad++ < 3)
				fprintf(stderr, "fsrace: %s: record %ld (%zd bytes) is not its "
						"writer's next\n",
					name, records, n);
			if (n < 0)
				break;
		}
		records++;
	}
	close(fd);
	printf("stream: %s read %ld records as they came (%ld reads at the end), %ld out of "
	       "place\n",
	       name, records, eofs, bad);
	return bad > 0;
}

static int
run_stream(const char *dira, const char *dirb, double secs)
{
	char patha[4096], pathb[4096], buf[VLEN * 4096];
	double end = now() + secs;
	long counts[STREAM_WRITERS], total = 0, next[STREAM_WRITERS] = {0}, records = 0, bad = 0;
	pid_t pids[STREAM_WRITERS + 2];
	int pfd[2], fd, rc = 0, status;
	ssize_t n;

	snprintf(patha, sizeof(patha), "%s/stream", dira);
	snprintf(pathb, sizeof(pathb), "%s/stream", dirb);
	fd = open(patha, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || close(fd) != 0 || pipe(pfd) != 0) {
		perror(patha);
		return 1;
	}
	for (int k = 0; k < STREAM_WRITERS + 2; k++) {
		pids[k] = fork();
		if (pids[k] < 0) {
			perror("fork");
			return 1;
		}
		if (pids[k] > 0)
			continue;
		if (k >= STREAM_WRITERS) {
			int r = stream_read(k == STREAM_WRITERS ? patha : pathb, end,
					    k == STREAM_WRITERS ? "reader A" : "reader B");

			fflush(stdout);
			_exit(r);
		}
		/* One write each: the writers share the pipe. */
		long kc[2] = {k, stream_write(k % 2 ? pathb : patha, k, end)};

		if (write(pfd[1], kc, sizeof(kc)) != sizeof(kc))
			_exit(3);
		_exit(kc[1] < 0 ? 3 : 0);
	}
	close(pfd[1]);
	for (int j = 0; j < STREAM_WRITERS; j++) {
		long kc[2];

		if (read(pfd[0], kc, sizeof(kc)) != sizeof(kc) || kc[0] < 0 ||
		    kc[0] >= STREAM_WRITERS || kc[1] < 0) {
			fprintf(stderr, "fsrace: a stream writer failed\n");
			rc = 1;
			break;
		}
		counts[kc[0]] = kc[1];
		total += kc[1];
	}
	for (int k = 0; k < STREAM_WRITERS + 2; k++)
		if (waitpid(pids[k], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			rc = 1;
	if (rc != 0)
		return rc;
	/* From the other mount: all of them, each writer's in its order. */
	fd = open(pathb, O_RDONLY);
	while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t o = 0; o < n; o += VLEN, records++)
			if (!stream_next(buf + o, n - o < VLEN ? n - o : VLEN, next) && bad++ < 3)
				fprintf(stderr,
					"fsrace: record %ld of the file is not its writer's next\n",
					records);
	}
	if (fd >= 0)
		close(fd);
	for (int k = 0; k < STREAM_WRITERS; k++)
		if (next[k] != counts[k]) {
			fprintf(stderr, "fsrace: writer %d wrote %ld records, %ld are there\n", k,
				counts[k], next[k]);
			bad++;
		}
	printf("stream: %ld records by %d writers on two mounts, %ld found, %ld out of place\n",
	       total, STREAM_WRITERS, records, bad);
	return bad > 0 || records != total || records == 0;
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 4 && strcmp(argv[1], "rewrite") == 0)
		return run_rewrite(argv[2], atof(argv[3]));
	if (argc == 5 && strcmp(argv[1], "replace") == 0)
		return run_replace(argv[2], argv[3], atof(argv[4]));
	if (argc == 5 && strcmp(argv[1], "append") == 0)
		return run_append(argv[2], argv[3], atof(argv[4]));
	if (argc == 5 && strcmp(argv[1], "stream") == 0)
		return run_stream(argv[2], argv[3], atof(argv[4]));
	fprintf(stderr, "usage: fsrace rewrite DIR SECS | replace|append|stream DIRA DIRB SECS\n");
	return 2;
}
