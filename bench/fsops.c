/*
 * fsops: the filesystem phases of bench/fs-run that a shell loop would time
 * badly (process start-up would dominate).  Prints "RESULT name value" lines.
 *
 *   fsops small DIR N        create+write 4 KiB+close, stat, read, delete N files: ops/s
 *   fsops meta DIR N         mkdir, rename, rmdir of N directories: ops/s
 *   fsops xlat DIRA DIRB N   N rounds of write+close in DIRA, open+read in DIRB:
 *                            median round latency in microseconds and stale reads
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "small") == 0)
		small(argv[2], atoi(argv[3]));
	else if (argc == 4 && strcmp(argv[1], "meta") == 0)
		meta(argv[2], atoi(argv[3]));
	else if (argc == 5 && strcmp(argv[1], "xlat") == 0)
		xlat(argv[2], argv[3], atoi(argv[4]));
	else {
		fprintf(stderr, "usage: fsops small|meta DIR N | fsops xlat DIRA DIRB N\n");
		return 2;
	}
	return 0;
}
