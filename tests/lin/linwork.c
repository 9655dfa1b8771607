/*
 * linwork: the workload half of tests/lin (see tests/lin/README.md).
 *
 * linwork --dir D1 [--dir D2 ...] --procs P --duration SECS --seed N --out FILE
 *         [--files F] [--dirs K] [--fsync PCT] [--value-len L]
 *
 * Each --dir is one mount of the same shared tree.  P processes per mount
 * pick random operations on the keys f0..f{F-1} and d0..d{K-1} at the top of
 * their mount until the duration ends, and record every step with
 * CLOCK_MONOTONIC times: an invocation record before a mutation (so that an
 * op that hangs or is killed stays in the history as indeterminate), the full
 * record after it.  Records go to one file per process with one write(2) each,
 * so a killed process loses nothing it finished; the parent merges them into
 * FILE.  lincheck reads FILE.
 *
 * Exit status: 0 when the history was written (processes killed for hanging
 * are reported, their unfinished ops are in the history), 1 on setup or I/O
 * errors, 2 on bad usage.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#define LINWORK_GRACE_S 60           /* after the duration, hung processes are killed */
#define LINWORK_REAP_S 10            /* how long to wait for killed processes */
#define LINWORK_READ_MAX (64u << 20) /* a read stops (EFBIG) beyond this */
#define LINWORK_VALUE_MAX 4096

struct linwork_opts {
	char **dirs;
	unsigned ndirs;
	unsigned procs;
	unsigned duration;
	uint64_t seed;
	const char *out;
	unsigned files, dirkeys, fsync_pct, value_len;
};

/* One worker process. */
struct linwork_child {
	const struct linwork_opts *o;
	unsigned p, m; /* global process index, mount index (1-based) */
	int dirfd, recfd;
	uint64_t rng;
	uint64_t n; /* last op sequence number used */
	uint64_t deadline;
	char tmp[48], away[48];
	unsigned tmpgen; /* puts whose rename failed: each made the tmp name a new one */
	char *rec; /* the record being built */
	size_t reclen, reccap;
	uint8_t *buf; /* read buffer */
	size_t bufcap;
	char val[LINWORK_VALUE_MAX + 1];
	int failed; /* the history could not be written */
};

/* One history record; t1 == 0 makes it an invocation. */
struct linwork_rec {
	uint64_t n;
	const char *key, *op;
	int has_ino;
	uint64_t ino;
	const char *v;
	int has_data;
	const uint8_t *data;
	size_t dlen;
	uint64_t t0, t1;
	int err;         /* errno, 0 for ok */
	const char *res; /* overrides err when set */
};

static volatile sig_atomic_t linwork_stop;
/* SIGUSR1: end now as if the duration were over (workers finish their op). */
static volatile sig_atomic_t linwork_end_now;

/* Nanoseconds on CLOCK_MONOTONIC, comparable across the processes of one host. */
static uint64_t
linwork_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* splitmix64: a small seeded generator, the same sequence for the same seed. */
static uint64_t
linwork_rand(struct linwork_child *c)
{
	uint64_t z = (c->rng += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* A random number below n. */
static unsigned
linwork_below(struct linwork_child *c, unsigned n)
{
	return (unsigned)(linwork_rand(c) % n);
}

/* Appends formatted text to the record being built. */
static void __attribute__((format(printf, 2, 3)))
linwork_put(struct linwork_child *c, const char *fmt, ...)
{
	va_list ap;
	int k;

	for (;;) {
		va_start(ap, fmt);
		k = vsnprintf(c->rec + c->reclen, c->reccap - c->reclen, fmt, ap);
		va_end(ap);
		if (k < 0)
			fatalx("vsnprintf failed");
		if ((size_t)k < c->reccap - c->reclen)
			break;
		c->reccap = 2 * c->reccap + (size_t)k;
		c->rec = xrealloc(c->rec, c->reccap);
	}
	c->reclen += (size_t)k;
}

/* The history's name for an errno. */
static const char *
linwork_errname(int err, char *buf, size_t len)
{
	const char *s = strerrorname_np(err);

	if (s != NULL)
		return s;
	snprintf(buf, len, "E%d", err);
	return buf;
}


/* Writes the record built in c->rec to the process's history file, whole. */
static void
linwork_flush(struct linwork_child *c)
{
	size_t off = 0;

	while (off < c->reclen) {
		ssize_t k = write(c->recfd, c->rec + off, c->reclen - off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (!c->failed)
				log_warn("p=%u: writing the history", c->p);
			c->failed = 1;
			return;
		}
		off += (size_t)k;
	}
}
/* Writes one record with one write(2): a killed process leaves whole lines. */
static void
linwork_emit(struct linwork_child *c, const struct linwork_rec *r)
{
	static const char hex[] = "0123456789abcdef";
	char ebuf[16];

	c->reclen = 0;
	linwork_put(c, "p=%u m=%u n=%" PRIu64 " k=%s op=%s", c->p, c->m, r->n, r->key, r->op);
	if (r->has_ino)
		linwork_put(c, " ino=%" PRIu64, r->ino);
	if (r->v != NULL)
		linwork_put(c, " v=%s", r->v);
	linwork_put(c, " t0=%" PRIu64, r->t0);
	if (r->t1 != 0) {
		linwork_put(c, " t1=%" PRIu64 " res=%s", r->t1,
		            r->res   ? r->res
		            : r->err ? linwork_errname(r->err, ebuf, sizeof(ebuf))
		                     : "ok");
		if (r->has_data) {
			linwork_put(c, " data=");
			if (c->reccap - c->reclen < 2 * r->dlen + 2) {
				c->reccap = c->reclen + 2 * r->dlen + 64;
				c->rec = xrealloc(c->rec, c->reccap);
			}
			for (size_t i = 0; i < r->dlen; i++) {
				c->rec[c->reclen++] = hex[r->data[i] >> 4];
				c->rec[c->reclen++] = hex[r->data[i] & 15];
			}
		}
	}
	linwork_put(c, "\n");
	linwork_flush(c);
}

/* Starts a record for the next op: fresh sequence number, invocation time. */
static void
linwork_begin(struct linwork_child *c, struct linwork_rec *r, const char *key, const char *op)
{
	memset(r, 0, sizeof(*r));
	r->n = ++c->n;
	r->key = key;
	r->op = op;
	r->t0 = linwork_now();
}

/* Completes a record: return time, result, and writes it. */
static void
linwork_end(struct linwork_child *c, struct linwork_rec *r, int err)
{
	r->t1 = linwork_now();
	if (r->t1 <= r->t0)
		r->t1 = r->t0 + 1;
	r->err = err;
	linwork_emit(c, r);
}

/* The unique value op n writes: m<M>p<P>-<n> padded with '-'. */
static const char *
linwork_value(struct linwork_child *c, uint64_t n)
{
	int k = snprintf(c->val, sizeof(c->val), "m%up%02u-%08" PRIu64, c->m, c->p, n);

	memset(c->val + k, '-', c->o->value_len - (size_t)k);
	c->val[c->o->value_len] = '\0';
	return c->val;
}

/* True when this write should be followed by fsync. */
static int
linwork_want_fsync(struct linwork_child *c)
{
	return c->o->fsync_pct > 0 && linwork_below(c, 100) < c->o->fsync_pct;
}

/*
 * The result name of an ESTALE from a call made after the op's effect (fstat
 * after an open that may have created or truncated, fsync after a write): the
 * op may have acted before its object went away.  A plain ESTALE is the op's
 * own call finding its object gone: it did nothing.
 */
#define LINWORK_ESTALE_LATE "ESTALE_LATE"

/*
 * Opens key and reads its inode number; -1 with *err set when either fails,
 * and *res set to LINWORK_ESTALE_LATE when fstat found the opened file gone.
 */
static int
linwork_open(struct linwork_child *c, const char *key, int flags, uint64_t *ino, int *err,
             const char **res)
{
	struct stat st;
	int fd = openat(c->dirfd, key, flags | O_CLOEXEC, 0644);

	*err = 0;
	*res = NULL;
	if (fd < 0) {
		*err = errno;
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		*err = errno;
		if (*err == ESTALE)
			*res = LINWORK_ESTALE_LATE;
		close(fd);
		return -1;
	}
	*ino = st.st_ino;
	return fd;
}

/* Writes a whole value at off (or appending, off < 0), fsyncs maybe, closes: an errno or 0. */
static int
linwork_write_close(struct linwork_child *c, int fd, const char *v, off_t off, const char **res)
{
	size_t len = strlen(v);
	ssize_t k = off < 0 ? write(fd, v, len) : pwrite(fd, v, len, off);
	int err = 0;

	*res = NULL;
	if (k < 0)
		err = errno;
	else if ((size_t)k != len)
		*res = "ESHORT";
	if (err == 0 && *res == NULL && linwork_want_fsync(c) && fsync(fd) != 0) {
		err = errno;
		if (err == ESTALE)
			*res = LINWORK_ESTALE_LATE; /* the write may have landed first */
	}
	/* chainfs reports a pipelined write's failure at close. */
	if (close(fd) != 0 && err == 0 && *res == NULL)
		err = errno;
	return err;
}

/* The write step after trunc or creat_excl: `write ino v`. */
static void
linwork_do_write(struct linwork_child *c, const char *key, int fd, uint64_t ino)
{
	struct linwork_rec r;
	const char *res;
	int err;

	linwork_begin(c, &r, key, "write");
	r.has_ino = 1;
	r.ino = ino;
	r.v = linwork_value(c, r.n);
	linwork_emit(c, &r);
	err = linwork_write_close(c, fd, r.v, 0, &res);
	r.res = res;
	linwork_end(c, &r, err);
}

/* read: `open_r K` then `read ino` to EOF, in one read(2) unless the file outgrows the buffer. */
static void
linwork_do_read(struct linwork_child *c, const char *key)
{
	struct linwork_rec r;
	size_t len = 0;
	uint64_t ino = 0;
	int fd, err;

	linwork_begin(c, &r, key, "open_r");
	fd = linwork_open(c, key, O_RDONLY, &ino, &err, &r.res);
	r.has_ino = fd >= 0;
	r.ino = ino;
	linwork_end(c, &r, err);
	if (fd < 0)
		return;

	linwork_begin(c, &r, key, "read");
	r.has_ino = 1;
	r.ino = ino;
	err = 0;
	for (;;) {
		ssize_t k;

		if (len == c->bufcap) {
			if (c->bufcap >= LINWORK_READ_MAX) {
				err = EFBIG;
				break;
			}
			c->bufcap = c->bufcap ? 2 * c->bufcap : (1u << 20);
			c->buf = xrealloc(c->buf, c->bufcap);
		}
		k = read(fd, c->buf + len, c->bufcap - len);
		if (k < 0) {
			err = errno;
			break;
		}
		len += (size_t)k;
		/*
		 * One read(2) that leaves room in the buffer has met EOF, and is one
		 * observation; reading on would glue bytes from two moments together.
		 */
		if (len < c->bufcap)
			break;
	}
	if (close(fd) != 0 && err == 0)
		err = errno;
	r.has_data = err == 0;
	r.data = c->buf;
	r.dlen = len;
	linwork_end(c, &r, err);
}

/* In-place rewrite: `trunc K` then `write ino v`. */
static void
linwork_do_rewrite(struct linwork_child *c, const char *key)
{
	struct linwork_rec r;
	uint64_t ino = 0;
	int fd, err;

	linwork_begin(c, &r, key, "trunc");
	linwork_emit(c, &r);
	fd = linwork_open(c, key, O_WRONLY | O_CREAT | O_TRUNC, &ino, &err, &r.res);
	r.has_ino = fd >= 0;
	r.ino = ino;
	linwork_end(c, &r, err);
	if (fd >= 0)
		linwork_do_write(c, key, fd, ino);
}

/*
 * Notes the private tmp file a put made, as a comment line the checker skips:
 * no key's model involves it, but an inode that turns up under a key with no
 * op that made it can then be traced to the tmp file it came from.
 */
static void
linwork_note_tmp(struct linwork_child *c, const struct linwork_rec *r, uint64_t ino, int err)
{
	char ebuf[16];
	struct linwork_rec t = *r;

	c->reclen = 0;
	linwork_put(c, "# p=%u m=%u n=%" PRIu64 " tmp=%s ino=%" PRIu64 " t0=%" PRIu64
	            " t1=%" PRIu64 " res=%s\n",
	            c->p, c->m, t.n, c->tmp, ino, t.t0, linwork_now(),
	            err ? linwork_errname(err, ebuf, sizeof(ebuf)) : "ok");
	linwork_flush(c);
}

/* Rename-over rewrite: write the value to the private tmp file, then `put K ino v`. */
static void
linwork_do_put(struct linwork_child *c, const char *key)
{
	struct linwork_rec r;
	const char *res;
	uint64_t ino = 0;
	int fd, err;

	linwork_begin(c, &r, key, "put");
	r.v = linwork_value(c, r.n);
	fd = linwork_open(c, c->tmp, O_WRONLY | O_CREAT | O_TRUNC, &ino, &err, &res);
	linwork_note_tmp(c, &r, fd >= 0 ? ino : 0, err);
	if (fd < 0)
		return;
	if (linwork_write_close(c, fd, r.v, 0, &res) != 0 || res != NULL) {
		/* The tmp file's contents are unknown: no rename, nothing claimed. */
		unlinkat(c->dirfd, c->tmp, 0);
		return;
	}
	r.has_ino = 1;
	r.ino = ino;
	r.t0 = linwork_now();
	linwork_emit(c, &r);
	err = renameat(c->dirfd, c->tmp, c->dirfd, key) != 0 ? errno : 0;
	linwork_end(c, &r, err);
	/*
	 * A rename that failed may still take effect later (EIO: the outcome
	 * is unknown): the tmp name may keep naming the inode just put, which
	 * may become the key's at any time.  Writing the next put's value
	 * through that name would change the key's file with no op saying so:
	 * the next puts use another name.
	 */
	if (err != 0) {
		c->tmpgen++;
		snprintf(c->tmp, sizeof(c->tmp), ".tmp-m%u-p%u-%u", c->m, c->p, c->tmpgen);
	}
}

/* Exclusive create: `creat_excl K` then, when it made the file, `write ino v`. */
static void
linwork_do_creat(struct linwork_child *c, const char *key)
{
	struct linwork_rec r;
	uint64_t ino = 0;
	int fd, err;

	linwork_begin(c, &r, key, "creat_excl");
	linwork_emit(c, &r);
	fd = linwork_open(c, key, O_WRONLY | O_CREAT | O_EXCL, &ino, &err, &r.res);
	r.has_ino = fd >= 0;
	r.ino = ino;
	linwork_end(c, &r, err);
	if (fd >= 0)
		linwork_do_write(c, key, fd, ino);
}

/* Append: `open_a K` then `append ino v`. */
static void
linwork_do_append(struct linwork_child *c, const char *key)
{
	struct linwork_rec r;
	const char *res;
	uint64_t ino = 0;
	int fd, err;

	linwork_begin(c, &r, key, "open_a");
	fd = linwork_open(c, key, O_WRONLY | O_APPEND, &ino, &err, &r.res);
	r.has_ino = fd >= 0;
	r.ino = ino;
	linwork_end(c, &r, err);
	if (fd < 0)
		return;
	linwork_begin(c, &r, key, "append");
	r.has_ino = 1;
	r.ino = ino;
	r.v = linwork_value(c, r.n);
	linwork_emit(c, &r);
	err = linwork_write_close(c, fd, r.v, -1, &res);
	r.res = res;
	linwork_end(c, &r, err);
}

/* A one-syscall namespace op (unlink, rename_away, mkdir, rmdir) with its invocation. */
static void
linwork_do_ns(struct linwork_child *c, const char *key, const char *op)
{
	struct linwork_rec r;
	int rc;

	linwork_begin(c, &r, key, op);
	linwork_emit(c, &r);
	if (strcmp(op, "unlink") == 0)
		rc = unlinkat(c->dirfd, key, 0);
	else if (strcmp(op, "rename_away") == 0)
		rc = renameat(c->dirfd, key, c->dirfd, c->away);
	else if (strcmp(op, "mkdir") == 0)
		rc = mkdirat(c->dirfd, key, 0755);
	else
		rc = unlinkat(c->dirfd, key, AT_REMOVEDIR);
	linwork_end(c, &r, rc != 0 ? errno : 0);
}

/* `stat D -> dir | ENOENT`. */
static void
linwork_do_stat(struct linwork_child *c, const char *key)
{
	struct linwork_rec r;
	struct stat st;
	int err = 0;

	linwork_begin(c, &r, key, "stat");
	if (fstatat(c->dirfd, key, &st, AT_SYMLINK_NOFOLLOW) != 0)
		err = errno;
	else if (!S_ISDIR(st.st_mode))
		err = ENOTDIR;
	linwork_end(c, &r, err);
}

/* One random operation on one random key. */
static void
linwork_step(struct linwork_child *c)
{
	const struct linwork_opts *o = c->o;
	char key[24];
	unsigned w;

	if (o->dirkeys > 0 && (o->files == 0 || linwork_below(c, 100) < 15)) {
		snprintf(key, sizeof(key), "d%u", linwork_below(c, o->dirkeys));
		w = linwork_below(c, 100);
		if (w < 40)
			linwork_do_ns(c, key, "mkdir");
		else if (w < 70)
			linwork_do_ns(c, key, "rmdir");
		else
			linwork_do_stat(c, key);
		return;
	}
	snprintf(key, sizeof(key), "f%u", linwork_below(c, o->files));
	w = linwork_below(c, 100);
	if (w < 34)
		linwork_do_read(c, key);
	else if (w < 48)
		linwork_do_rewrite(c, key);
	else if (w < 62)
		linwork_do_put(c, key);
	else if (w < 70)
		linwork_do_creat(c, key);
	else if (w < 77)
		linwork_do_ns(c, key, "unlink");
	else if (w < 82)
		linwork_do_ns(c, key, "rename_away");
	else
		linwork_do_append(c, key);
}

/* The path of process idx's record file. */
static void
linwork_recpath(const struct linwork_opts *o, unsigned idx, char *buf, size_t len)
{
	snprintf(buf, len, "%s.p%u", o->out, idx);
}

/* A worker: runs operations until the deadline, removes its private names, exits. */
static void __attribute__((noreturn))
linwork_child(const struct linwork_opts *o, unsigned idx, uint64_t deadline)
{
	struct linwork_child c;
	char path[4096];

	memset(&c, 0, sizeof(c));
	c.o = o;
	c.p = idx;
	c.m = idx / o->procs + 1;
	c.rng = o->seed + idx;
	c.deadline = deadline;
	snprintf(c.tmp, sizeof(c.tmp), ".tmp-m%u-p%u", c.m, c.p);
	snprintf(c.away, sizeof(c.away), ".away-m%u-p%u", c.m, c.p);
	c.reccap = 4096;
	c.rec = xmalloc(c.reccap);
	c.dirfd = open(o->dirs[c.m - 1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c.dirfd < 0) {
		log_warn("p=%u: %s", c.p, o->dirs[c.m - 1]);
		_exit(1);
	}
	linwork_recpath(o, idx, path, sizeof(path));
	c.recfd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (c.recfd < 0) {
		log_warn("p=%u: %s", c.p, path);
		_exit(1);
	}
	while (!c.failed && !linwork_end_now && linwork_now() < c.deadline)
		linwork_step(&c);
	unlinkat(c.dirfd, c.tmp, 0);
	unlinkat(c.dirfd, c.away, 0);
	_exit(c.failed ? 1 : 0);
}

/* Removes the keys and private names a previous run left, so every key starts absent. */
static int
linwork_clean(const struct linwork_opts *o)
{
	unsigned total = o->ndirs * o->procs;
	char name[64];
	int fd = open(o->dirs[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0) {
		log_warn("%s", o->dirs[0]);
		return -1;
	}
	for (unsigned i = 0; i < o->files + o->dirkeys + 2 * total && rc == 0; i++) {
		int flags = 0;

		if (i < o->files) {
			snprintf(name, sizeof(name), "f%u", i);
		} else if (i < o->files + o->dirkeys) {
			snprintf(name, sizeof(name), "d%u", i - o->files);
			flags = AT_REMOVEDIR;
		} else {
			unsigned k = i - o->files - o->dirkeys;

			snprintf(name, sizeof(name), ".%s-m%u-p%u", k < total ? "tmp" : "away",
			         (k % total) / o->procs + 1, k % total);
		}
		if (unlinkat(fd, name, flags) != 0 && errno != ENOENT) {
			log_warn("cannot clear %s/%s", o->dirs[0], name);
			rc = -1;
		}
	}
	/* And the tmp names puts moved on from (linwork_do_put): any ".tmp-m" name. */
	if (rc == 0) {
		int dfd = dup(fd);
		DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
		struct dirent *e;

		if (d == NULL) {
			log_warn("%s", o->dirs[0]);
			if (dfd >= 0)
				close(dfd);
			rc = -1;
		}
		while (d != NULL && rc == 0 && (e = readdir(d)) != NULL)
			if (strncmp(e->d_name, ".tmp-m", 6) == 0 && unlinkat(fd, e->d_name, 0) != 0 &&
			    errno != ENOENT) {
				log_warn("cannot clear %s/%s", o->dirs[0], e->d_name);
				rc = -1;
			}
		if (d != NULL)
			closedir(d);
	}
	close(fd);
	return rc;
}

/* Concatenates the record files into the history; counts ops left unfinished. */
static int
linwork_merge(const struct linwork_opts *o, unsigned nchild, size_t *records, size_t *unfinished)
{
	FILE *out = fopen(o->out, "w");
	char path[4096];
	char *line = NULL;
	size_t cap = 0;
	int rc = 0;

	*records = *unfinished = 0;
	if (out == NULL) {
		log_warn("%s", o->out);
		return -1;
	}
	for (unsigned i = 0; i < nchild; i++) {
		FILE *in;
		ssize_t len;
		int last_inv = 0;

		linwork_recpath(o, i, path, sizeof(path));
		in = fopen(path, "r");
		if (in == NULL) {
			log_warn("%s", path);
			rc = -1;
			continue;
		}
		while ((len = getline(&line, &cap, in)) > 0) {
			if (line[len - 1] != '\n') {
				log_warnx("%s: dropping a torn last record", path);
				break;
			}
			fwrite(line, 1, (size_t)len, out);
			if (line[0] == '#')
				continue; /* a note (linwork_note_tmp), not a record */
			(*records)++;
			last_inv = strstr(line, " res=") == NULL;
		}
		*unfinished += last_inv;
		fclose(in);
		unlink(path);
	}
	free(line);
	if (fclose(out) != 0) {
		log_warn("%s", o->out);
		rc = -1;
	}
	return rc;
}

/* Asks the parent's wait loop to stop. */
static void
linwork_on_signal(int sig)
{
	linwork_stop = sig;
}

/* SIGUSR1: the run ends now, normally. */
static void
linwork_on_end(int sig)
{
	linwork_end_now = 1;
}

/* Waits for the workers; kills those still alive after the grace period. */
static int
linwork_wait(pid_t *pids, unsigned n, uint64_t deadline)
{
	uint64_t kill_at = deadline + (uint64_t)LINWORK_GRACE_S * 1000000000u, reap_until = 0;
	unsigned alive = n, killed = 0;
	int rc = 0;

	while (alive > 0) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid > 0) {
			for (unsigned i = 0; i < n; i++)
				if (pids[i] == pid) {
					pids[i] = 0;
					alive--;
					if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
						log_warnx("process p=%u exited with status %d", i,
						          WEXITSTATUS(status));
						rc = -1;
					}
				}
			continue;
		}
		if (pid < 0 && errno != EINTR)
			break;
		if (linwork_end_now == 1) {
			/* Pass the end on to the workers, once; they exit by themselves. */
			linwork_end_now = 2;
			for (unsigned i = 0; i < n; i++)
				if (pids[i] > 0)
					kill(pids[i], SIGUSR1);
			kill_at = linwork_now() + (uint64_t)LINWORK_GRACE_S * 1000000000u;
		}
		if (reap_until == 0 && (linwork_now() >= kill_at || linwork_stop)) {
			if (linwork_stop)
				log_warnx("signal %d: killing the workers", (int)linwork_stop);
			for (unsigned i = 0; i < n; i++)
				if (pids[i] > 0) {
					if (!linwork_stop)
						log_warnx(
						    "p=%u still running %d s after the end: "
						    "killing it (its last op stays unfinished)",
						    i, LINWORK_GRACE_S);
					kill(pids[i], SIGKILL);
					killed++;
				}
			reap_until = linwork_now() + (uint64_t)LINWORK_REAP_S * 1000000000u;
		}
		if (reap_until != 0 && linwork_now() >= reap_until) {
			log_warnx("%u killed process(es) did not exit within %d s", alive,
			          LINWORK_REAP_S);
			rc = -1;
			break;
		}
		usleep(20000);
	}
	if (killed > 0)
		fprintf(stderr, "linwork: killed %u process(es)\n", killed);
	return linwork_stop ? -1 : rc;
}

static void linwork_usage(int) __attribute__((noreturn));

/* Prints usage and exits. */
static void
linwork_usage(int status)
{
	fprintf(status ? stderr : stdout,
	        "usage: linwork --dir D1 [--dir D2 ...] --procs P --duration SECS --seed N "
	        "--out FILE\n"
	        "               [--files F(8)] [--dirs K(4)] [--fsync PCT(0)] "
	        "[--value-len L(24)]\n"
	        "  each --dir is one mount of the same tree (the same directory may repeat)\n"
	        "  SIGUSR1 ends the run early, as if the duration were over\n");
	exit(status);
}

/* Parses a number option within [lo, hi]; exits on nonsense. */
static uint64_t
linwork_number(const char *opt, const char *s, uint64_t lo, uint64_t hi)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s == '\0' || *s == '-' || *end != '\0' || errno != 0 || v < lo || v > hi) {
		fprintf(stderr,
		        "linwork: %s wants a number in %" PRIu64 "..%" PRIu64 ", not '%s'\n", opt,
		        lo, hi, s);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"procs", required_argument, NULL, 'P'},
	    {"duration", required_argument, NULL, 't'},
	    {"seed", required_argument, NULL, 's'},
	    {"out", required_argument, NULL, 'o'},
	    {"files", required_argument, NULL, 'F'},
	    {"dirs", required_argument, NULL, 'K'},
	    {"fsync", required_argument, NULL, 'f'},
	    {"value-len", required_argument, NULL, 'L'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct linwork_opts o;
	struct sigaction sa;
	pid_t *pids;
	uint64_t deadline;
	size_t records, unfinished;
	unsigned total;
	char probe[64];
	int c, have_seed = 0, rc = 0;

	log_init("linwork", 0, LOG_LEVEL_WARN);
	memset(&o, 0, sizeof(o));
	o.files = 8;
	o.dirkeys = 4;
	o.value_len = 24;
	o.dirs = xcalloc((size_t)argc + 1, sizeof(*o.dirs));
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o.dirs[o.ndirs++] = optarg;
			break;
		case 'P':
			o.procs = (unsigned)linwork_number("--procs", optarg, 1, 64);
			break;
		case 't':
			o.duration = (unsigned)linwork_number("--duration", optarg, 1, 86400);
			break;
		case 's':
			o.seed = linwork_number("--seed", optarg, 0, UINT64_MAX);
			have_seed = 1;
			break;
		case 'o':
			o.out = optarg;
			break;
		case 'F':
			o.files = (unsigned)linwork_number("--files", optarg, 0, 1000);
			break;
		case 'K':
			o.dirkeys = (unsigned)linwork_number("--dirs", optarg, 0, 1000);
			break;
		case 'f':
			o.fsync_pct = (unsigned)linwork_number("--fsync", optarg, 0, 100);
			break;
		case 'L':
			o.value_len =
			    (unsigned)linwork_number("--value-len", optarg, 1, LINWORK_VALUE_MAX);
			break;
		case 'h':
			linwork_usage(0);
		default:
			linwork_usage(2);
		}
	}
	if (optind != argc || o.ndirs == 0 || o.procs == 0 || o.duration == 0 || !have_seed ||
	    o.out == NULL)
		linwork_usage(2);
	if (o.files + o.dirkeys == 0) {
		fprintf(stderr, "linwork: --files and --dirs are both 0: nothing to do\n");
		return 2;
	}
	total = o.ndirs * o.procs;
	/* Values must stay unique: the longest token must fit. */
	if ((size_t)snprintf(probe, sizeof(probe), "m%up%02u-%08u", o.ndirs, total - 1, 99999999u) >
	    o.value_len) {
		fprintf(stderr, "linwork: --value-len must be at least %zu\n", strlen(probe));
		return 2;
	}
	if (linwork_clean(&o) != 0)
		return 1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = linwork_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = linwork_on_end;
	sa.sa_flags = SA_RESTART; /* a worker's op in progress completes */
	sigaction(SIGUSR1, &sa, NULL);

	pids = xcalloc(total, sizeof(*pids));
	deadline = linwork_now() + (uint64_t)o.duration * 1000000000u;
	for (unsigned i = 0; i < total; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			log_warn("fork");
			for (unsigned k = 0; k < i; k++)
				kill(pids[k], SIGKILL);
			return 1;
		}
		if (pids[i] == 0) {
			signal(SIGINT, SIG_DFL);
			signal(SIGTERM, SIG_DFL);
			linwork_child(&o, i, deadline);
		}
	}
	if (linwork_wait(pids, total, deadline) != 0)
		rc = 1;
	if (linwork_merge(&o, total, &records, &unfinished) != 0)
		rc = 1;
	fprintf(stderr,
	        "linwork: %u process(es) on %u mount(s) for %u s: %zu records in %s, %zu op(s) "
	        "left unfinished\n",
	        total, o.ndirs, o.duration, records, o.out, unfinished);
	free(pids);
	free(o.dirs);
	return rc;
}
