/*
 * fsops: the filesystem phases of bench/fs-run that a shell loop would time
 * badly (process start-up would dominate).  Prints "RESULT name value" lines.
 *
 *   fsops small DIR N        create+write 4 KiB+close, stat, read, delete N files: ops/s
 *   fsops meta DIR N         mkdir, rename, rmdir of N directories: ops/s
 *   fsops xlat DIRA DIRB N   N rounds of write+close in DIRA, open+read in DIRB:
 *                            median round latency in microseconds and stale reads
 *   fsops locks DIRA DIRB N  N fcntl write locks and unlocks of DIRA/lk (median
 *                            microseconds of each), then N hand-overs of the lock
 *                            from a process on DIRA/lk to one waiting on DIRB/lk
 *                            (F_SETLKW): median microseconds from the unlock's call
 *                            to the waiter's return
 *   fsops appends DIR SIZE S one process appends SIZE-byte records to DIR/app
 *                            (O_APPEND) for S seconds, closes, and checks the
 *                            file record by record: appends/s and MiB/s
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Seconds on the monotonic clock. */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Dies with the failing call and path. */
static void
die(const char *what, const char *path)
{
	fprintf(stderr, "fsops: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

/* Writes buf to path with create/truncate, then closes it. */
static void
put(const char *path, const void *buf, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		die("open", path);
	if (write(fd, buf, n) != (ssize_t)n)
		die("write", path);
	if (close(fd) != 0)
		die("close", path);
}

/* Reads up to n bytes of path into buf; returns the count. */
static ssize_t
get(const char *path, void *buf, size_t n)
{
	int fd = open(path, O_RDONLY);
	ssize_t r;

	if (fd < 0)
		die("open", path);
	r = read(fd, buf, n);
	if (r < 0)
		die("read", path);
	close(fd);
	return r;
}

/* Small files: create, stat, read, delete. */
static void
small(const char *dir, int n)
{
	char path[4096], buf[4096];
	struct stat st;
	double t;

	memset(buf, 'x', sizeof(buf));
	t = now();
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/f%d", dir, i);
		put(path, buf, sizeof(buf));
	}
	printf("RESULT create_per_s %.1f\n", n / (now() - t));
	t = now();
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/f%d", dir, i);
		if (stat(path, &st) != 0)
			die("stat", path);
	}
	printf("RESULT stat_per_s %.1f\n", n / (now() - t));
	t = now();
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/f%d", dir, i);
		if (get(path, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			die("short read", path);
	}
	printf("RESULT read_per_s %.1f\n", n / (now() - t));
	t = now();
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/f%d", dir, i);
		if (unlink(path) != 0)
			die("unlink", path);
	}
	printf("RESULT delete_per_s %.1f\n", n / (now() - t));
}

/* Directories: mkdir, rename, rmdir. */
static void
meta(const char *dir, int n)
{
	char a[4096], b[4096];
	double t = now();

	for (int i = 0; i < n; i++) {
		snprintf(a, sizeof(a), "%s/d%d", dir, i);
		if (mkdir(a, 0755) != 0)
			die("mkdir", a);
	}
	for (int i = 0; i < n; i++) {
		snprintf(a, sizeof(a), "%s/d%d", dir, i);
		snprintf(b, sizeof(b), "%s/e%d", dir, i);
		if (rename(a, b) != 0)
			die("rename", a);
	}
	for (int i = 0; i < n; i++) {
		snprintf(b, sizeof(b), "%s/e%d", dir, i);
		if (rmdir(b) != 0)
			die("rmdir", b);
	}
	printf("RESULT mkdir_rename_rmdir_per_s %.1f\n", 3.0 * n / (now() - t));
}

/* qsort comparator for doubles. */
static int
cmp(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return a < b ? -1 : a > b;
}

/* Close on A, open on B: latency and freshness. */
static void
xlat(const char *da, const char *db, int n)
{
	char pa[4096], pb[4096], tok[64], got[64];
	double *lat = calloc((size_t)n, sizeof(double));
	int stale = 0;

	if (lat == NULL)
		die("calloc", "");
	snprintf(pa, sizeof(pa), "%s/xlat", da);
	snprintf(pb, sizeof(pb), "%s/xlat", db);
	for (int i = 0; i < n; i++) {
		double t = now();
		ssize_t r;

		snprintf(tok, sizeof(tok), "token-%d", i);
		put(pa, tok, strlen(tok));
		r = get(pb, got, sizeof(got) - 1);
		lat[i] = now() - t;
		got[r > 0 ? r : 0] = '\0';
		if (strcmp(got, tok) != 0)
			stale++;
	}
	qsort(lat, (size_t)n, sizeof(double), cmp);
	printf("RESULT xlat_median_us %.0f\n", lat[n / 2] * 1e6);
	printf("RESULT xlat_stale %d\n", stale);
	free(lat);
}

/* A whole-file fcntl lock: cmd F_SETLK/F_SETLKW, type F_WRLCK/F_UNLCK. */
static void
lk(int fd, int cmd, short type)
{
	struct flock l;

	memset(&l, 0, sizeof(l));
	l.l_type = type;
	l.l_whence = SEEK_SET;
	if (fcntl(fd, cmd, &l) != 0)
		die("fcntl", "lock");
}

/* Lock latency alone, then hand-overs between two processes (two mounts). */
static void
locks(const char *da, const char *db, int n)
{
	char pa[4096], pb[4096];
	double *on = calloc((size_t)n, sizeof(double)), *off = calloc((size_t)n, sizeof(double));
	int fa, fb, go[2], back[2];
	pid_t kid;

	if (on == NULL || off == NULL)
		die("calloc", "");
	snprintf(pa, sizeof(pa), "%s/lk", da);
	snprintf(pb, sizeof(pb), "%s/lk", db);
	put(pa, "x", 1);
	if ((fa = open(pa, O_RDWR)) < 0)
		die("open", pa);
	for (int i = 0; i < n; i++) {
		double t = now();

		lk(fa, F_SETLKW, F_WRLCK);
		on[i] = now() - t;
		t = now();
		lk(fa, F_SETLK, F_UNLCK);
		off[i] = now() - t;
	}
	qsort(on, (size_t)n, sizeof(double), cmp);
	qsort(off, (size_t)n, sizeof(double), cmp);
	printf("RESULT lock_median_us %.0f\n", on[n / 2] * 1e6);
	printf("RESULT unlock_median_us %.0f\n", off[n / 2] * 1e6);
	/*
	 * Hand-over: the parent holds the lock, the child waits for it on the
	 * other mount; the parent notes the time and unlocks; the child sends
	 * the time it got it, unlocks, and says so.  Both clocks are this host's.
	 */
	if (pipe(go) != 0 || pipe(back) != 0)
		die("pipe", "");
	kid = fork();
	if (kid < 0)
		die("fork", "");
	if (kid == 0) {
		if ((fb = open(pb, O_RDWR)) < 0)
			die("open", pb);
		for (int i = 0; i < n; i++) {
			char c;
			double t;

			if (read(go[0], &c, 1) != 1)
				_exit(1);
			lk(fb, F_SETLKW, F_WRLCK);
			t = now();
			lk(fb, F_SETLK, F_UNLCK);
			if (write(back[1], &t, sizeof(t)) != sizeof(t))
				_exit(1);
		}
		_exit(0);
	}
	for (int i = 0; i < n; i++) {
		double t, got;

		lk(fa, F_SETLKW, F_WRLCK);
		if (write(go[1], "g", 1) != 1)
			die("write", "pipe");
		usleep(2000); /* the child is waiting in F_SETLKW by then */
		t = now();
		lk(fa, F_SETLK, F_UNLCK);
		if (read(back[0], &got, sizeof(got)) != sizeof(got))
			die("read", "pipe");
		on[i] = got - t;
	}
	waitpid(kid, NULL, 0);
	qsort(on, (size_t)n, sizeof(double), cmp);
	printf("RESULT handover_median_us %.0f\n", on[n / 2] * 1e6);
	close(fa);
	free(on);
	free(off);
}

/* One record: its number in every byte's low bits, so a lost or doubled one shows. */
static void
record(unsigned char *buf, size_t size, unsigned long i)
{
	for (size_t k = 0; k < size; k++)
		buf[k] = (unsigned char)('A' + (i + k) % 26);
}

static void
appends(const char *dir, size_t size, double secs)
{
	char path[4096];
	unsigned char *buf = malloc(size), *got = malloc(size);
	unsigned long n = 0;
	double t0, t1;
	int fd;

	if (buf == NULL || got == NULL)
		die("malloc", dir);
	snprintf(path, sizeof(path), "%s/app", dir);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd < 0)
		die("open", path);
	t0 = now();
	do {
		/* Check the clock every 64 records: it is not free either. */
		for (int k = 0; k < 64; k++, n++) {
			record(buf, size, n);
			if (write(fd, buf, size) != (ssize_t)size)
				die("write", path);
		}
	} while (now() - t0 < secs);
	if (close(fd) != 0)
		die("close", path);
	t1 = now();
	fd = open(path, O_RDONLY);
	if (fd < 0)
		die("open", path);
	for (unsigned long i = 0; i < n; i++) {
		record(buf, size, i);
		if (read(fd, got, size) != (ssize_t)size || memcmp(buf, got, size) != 0) {
			fprintf(stderr, "fsops: %s: record %lu of %lu is wrong\n", path, i, n);
			exit(1);
		}
	}
	if (read(fd, got, size) != 0) {
		fprintf(stderr, "fsops: %s: more than %lu records\n", path, n);
		exit(1);
	}
	close(fd);
	unlink(path);
	printf("RESULT appends_per_s %.0f\n", (double)n / (t1 - t0));
	printf("RESULT append_mib_per_s %.2f\n", (double)n * (double)size / (t1 - t0) / 1048576);
	free(buf);
	free(got);
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "small") == 0)
		small(argv[2], atoi(argv[3]));
	else if (argc == 4 && strcmp(argv[1], "meta") == 0)
		meta(argv[2], atoi(argv[3]));
	else if (argc == 5 && strcmp(argv[1], "xlat") == 0)
		xlat(argv[2], argv[3], atoi(argv[4]));
	else if (argc == 5 && strcmp(argv[1], "locks") == 0 && atoi(argv[4]) > 0)
		locks(argv[2], argv[3], atoi(argv[4]));
	else if (argc == 5 && strcmp(argv[1], "appends") == 0 && atoi(argv[3]) > 0 &&
		 atof(argv[4]) > 0)
		appends(argv[2], (size_t)atoi(argv[3]), atof(argv[4]));
	else {
		fprintf(stderr, "usage: fsops small|meta DIR N | fsops xlat|locks DIRA DIRB N | "
				"fsops appends DIR SIZE SECONDS\n");
		return 2;
	}
	return 0;
}
