/*
 * lockcheck: the lock interfaces, driven from two processes (two hosts
 * when their paths are on two mounts), for locks.sh.
 *
 *   lockcheck cases PATHA PATHB
 *       runs a fixed list of cases of fcntl (F_SETLK, F_SETLKW, F_GETLK,
 *       the OFD commands) and flock: process A works on PATHA, B on PATHB
 *       (the same file).  Prints one line per step: what was asked and
 *       what came back.  Run on a local file with PATHA = PATHB for the
 *       reference, and on two mounts: the outputs must be the same.
 *   lockcheck counter PATH N LOG
 *       N times: flock LOCK_EX, read the decimal counter in PATH, write
 *       it plus one, LOCK_UN; appends "acquired released" (CLOCK_REALTIME,
 *       seconds) of each hold to LOG.
 *   lockcheck intervals LOG...
 *       checks that no two holds in the logs overlap; prints how many.
 *   lockcheck hold PATH
 *       takes flock LOCK_EX, prints "held", sleeps until killed.
 *   lockcheck waitfor PATH
 *       blocks in flock LOCK_EX, prints the CLOCK_REALTIME when it got it.
 *   lockcheck lost PATH
 *       takes flock LOCK_EX, prints "held", and at SIGUSR1 takes it again
 *       and writes, printing how each went: "relock=ERR write=ERR".
 *
 * Exits 1 when a check failed, 2 on bad usage or an unexpected error.
 * Every wait is bounded by alarm().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NFD 4
#define STEP_WAIT 60 /* seconds any one step may take */

static double
now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "lockcheck: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

static void
on_alarm(int sig)
{
	(void)sig; /* only interrupts the call in progress */
}

static const char *
err_name(int e)
{
	switch (e) {
	case 0:
		return "0";
	case EAGAIN:
		return "EAGAIN";
	case EACCES:
		return "EACCES"; /* fcntl may say it instead of EAGAIN */
	case EINTR:
		return "EINTR";
	case EDEADLK:
		return "EDEADLK";
	case ENOLCK:
		return "ENOLCK";
	case EINVAL:
		return "EINVAL";
	case EBADF:
		return "EBADF";
	case EIO:
		return "EIO";
	}
	return strerror(e);
}

/* ---- the two workers of "cases" ---- */

static int fds[NFD] = {-1, -1, -1, -1};
static unsigned next_alarm; /* "alarm S": the next command is interrupted after S s */
static pid_t pid_a, pid_b;

static int
cmd_of(const char *s, int *ofd)
{
	static const struct {
		const char *name;
		int cmd, ofd;
	} cmds[] = {
	    {"SETLK", F_SETLK, 0},	  {"SETLKW", F_SETLKW, 0},	 {"GETLK", F_GETLK, 0},
	    {"OFD_SETLK", F_OFD_SETLK, 1}, {"OFD_SETLKW", F_OFD_SETLKW, 1}, {"OFD_GETLK", F_OFD_GETLK, 1},
	};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(s, cmds[i].name) == 0) {
			*ofd = cmds[i].ofd;
			return cmds[i].cmd;
		}
	die("unknown command %s", s);
	return 0;
}

static short
type_of(const char *s)
{
	if (strcmp(s, "RD") == 0)
		return F_RDLCK;
	if (strcmp(s, "WR") == 0)
		return F_WRLCK;
	if (strcmp(s, "UN") == 0)
		return F_UNLCK;
	die("unknown type %s", s);
	return 0;
}

static const char *
who(pid_t p, int ofd)
{
	static char buf[32];

	if (ofd)
		return "-"; /* an OFD lock's pid is -1 locally; FUSE cannot say that */
	if (p == pid_a)
		return "A";
	if (p == pid_b)
		return "B";
	snprintf(buf, sizeof(buf), "other");
	return buf;
}

/* Runs one command line; writes the result line to out. */
static void
run_cmd(const char *path, char *line, char *out, size_t outlen)
{
	char *w[8];
	int n = 0, slot, rc, ofd = 0;

	for (char *t = strtok(line, " \n"); t != NULL && n < 8; t = strtok(NULL, " \n"))
		w[n++] = t;
	if (n == 0)
		die("empty command");
	if (strcmp(w[0], "pids") == 0 && n == 3) {
		pid_a = (pid_t)atol(w[1]);
		pid_b = (pid_t)atol(w[2]);
		snprintf(out, outlen, "ok");
		return;
	}
	if (n < 2)
		die("short command %s", w[0]);
	slot = atoi(w[1]);
	if (slot < 0 || slot >= NFD)
		die("bad slot");
	if (strcmp(w[0], "alarm") == 0) {
		next_alarm = (unsigned)slot;
		snprintf(out, outlen, "ok");
		return;
	}
	alarm(next_alarm ? next_alarm : STEP_WAIT);
	next_alarm = 0;
	if (strcmp(w[0], "open") == 0) {
		fds[slot] = open(path, O_RDWR);
		snprintf(out, outlen, "%s", fds[slot] >= 0 ? "0" : err_name(errno));
	} else if (strcmp(w[0], "close") == 0) {
		rc = close(fds[slot]);
		fds[slot] = -1;
		snprintf(out, outlen, "%s", rc == 0 ? "0" : err_name(errno));
	} else if (strcmp(w[0], "flock") == 0 && n == 3) {
		int op = strncmp(w[2], "SH", 2) == 0   ? LOCK_SH
			 : strncmp(w[2], "EX", 2) == 0 ? LOCK_EX
						       : LOCK_UN;

		if (strstr(w[2], "NB") != NULL)
			op |= LOCK_NB;
		rc = flock(fds[slot], op);
		snprintf(out, outlen, "%s",
			 rc == 0 ? "0" : err_name(errno == EWOULDBLOCK ? EAGAIN : errno));
	} else if (strcmp(w[0], "lk") == 0 && n == 6) {
		struct flock l;
		int cmd = cmd_of(w[2], &ofd);

		memset(&l, 0, sizeof(l));
		l.l_type = type_of(w[3]);
		l.l_whence = SEEK_SET;
		l.l_start = atol(w[4]);
		l.l_len = atol(w[5]);
		rc = fcntl(fds[slot], cmd, &l);
		if (rc != 0)
			snprintf(out, outlen, "%s", err_name(errno == EACCES ? EAGAIN : errno));
		else if (cmd == F_GETLK || cmd == F_OFD_GETLK)
			snprintf(out, outlen, "%s %ld %ld %s",
				 l.l_type == F_UNLCK ? "UN" : l.l_type == F_RDLCK ? "RD" : "WR",
				 l.l_type == F_UNLCK ? 0L : (long)l.l_start,
				 l.l_type == F_UNLCK ? 0L : (long)l.l_len,
				 l.l_type == F_UNLCK ? "-" : who(l.l_pid, ofd));
		else
			snprintf(out, outlen, "0");
	} else {
		die("bad command %s", w[0]);
	}
	alarm(0);
}

/* A worker: reads commands from in, answers on out, until EOF. */
static void
worker(const char *path, int in, int out)
{
	char line[256], res[256];
	FILE *f = fdopen(in, "r");
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm; /* no SA_RESTART: a blocking call returns EINTR */
	sigaction(SIGALRM, &sa, NULL);
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t len;

		run_cmd(path, line, res, sizeof(res) - 1);
		len = strlen(res);
		res[len++] = '\n';
		if (write(out, res, len) != (ssize_t)len)
			exit(2);
	}
	exit(0);
}

struct peer {
	pid_t pid;
	int to, from;
	FILE *rf;
	char pending[256]; /* a command whose answer is not read yet */
};

static void
spawn(struct peer *p, const char *path)
{
	int down[2], up[2];

	if (pipe(down) != 0 || pipe(up) != 0)
		die("pipe: %s", strerror(errno));
	p->pid = fork();
	if (p->pid < 0)
		die("fork: %s", strerror(errno));
	if (p->pid == 0) {
		close(down[1]);
		close(up[0]);
		worker(path, down[0], up[1]);
	}
	close(down[0]);
	close(up[1]);
	p->to = down[1];
	p->from = up[0];
	p->rf = fdopen(up[0], "r");
}

static void
send_cmd(struct peer *p, const char *name, const char *cmd)
{
	char line[256];
	size_t len;

	snprintf(line, sizeof(line), "%s\n", cmd);
	len = strlen(line);
	if (write(p->to, line, len) != (ssize_t)len)
		die("%s: gone", name);
	snprintf(p->pending, sizeof(p->pending), "%s", cmd);
}

static void
recv_res(struct peer *p, const char *name)
{
	char res[256];

	if (fgets(res, sizeof(res), p->rf) == NULL)
		die("%s: no answer to %s", name, p->pending);
	printf("%s %-30s -> %s", name, p->pending, res);
	fflush(stdout);
}

/* A step: cmd to one process, its answer awaited ("bg": later, with "wait"). */
static struct peer A, B;

static void
step(const char *name, const char *cmd)
{
	struct peer *p = name[0] == 'A' ? &A : &B;

	send_cmd(p, name, cmd);
	recv_res(p, name);
}

static void
step_bg(const char *name, const char *cmd)
{
	send_cmd(name[0] == 'A' ? &A : &B, name, cmd);
	usleep(300000); /* it is in its wait by then (the answer says if not) */
}

static void
step_wait(const char *name)
{
	recv_res(name[0] == 'A' ? &A : &B, name);
}

static int
cases(const char *pa, const char *pb)
{
	char pids[64];

	spawn(&A, pa);
	spawn(&B, pb);
	snprintf(pids, sizeof(pids), "pids %ld %ld", (long)A.pid, (long)B.pid);
	send_cmd(&A, "A", pids); /* not printed: they differ from run to run */
	send_cmd(&B, "B", pids);
	if (fgets(pids, sizeof(pids), A.rf) == NULL || fgets(pids, sizeof(pids), B.rf) == NULL)
		die("the workers did not start");
	step("A", "open 0");
	step("B", "open 0");
	/* conflicts, and F_GETLK naming the lock in the way */
	step("A", "lk 0 SETLK WR 0 100");
	step("B", "lk 0 SETLK RD 50 10");
	step("B", "lk 0 GETLK WR 0 0");
	step("B", "lk 0 GETLK RD 100 10");
	step("A", "lk 0 GETLK WR 0 0");
	/* an unlock in the middle splits */
	step("A", "lk 0 SETLK UN 40 20");
	step("B", "lk 0 GETLK WR 0 0");
	step("B", "lk 0 GETLK WR 45 10");
	step("B", "lk 0 GETLK WR 50 20");
	/* downgrade, then an upgrade refused while B reads */
	step("A", "lk 0 SETLK RD 60 40");
	step("B", "lk 0 SETLK RD 50 30");
	step("A", "lk 0 SETLK WR 60 40");
	step("B", "lk 0 GETLK WR 60 1");
	/* merging: A's RD 60..99 and a touching RD 100..119 are one lock */
	step("A", "lk 0 SETLK RD 100 20");
	step("B", "lk 0 GETLK WR 90 40");
	step("B", "lk 0 SETLK UN 0 0");
	/* a waiter is granted when the lock in its way goes */
	step_bg("B", "lk 0 SETLKW WR 0 10");
	step("A", "lk 0 SETLK UN 0 40");
	step_wait("B");
	step("A", "lk 0 GETLK RD 0 0");
	step("B", "lk 0 SETLK UN 0 0");
	/* a signal interrupts a wait (EINTR), and its place in the queue goes */
	step("A", "lk 0 SETLK WR 200 10");
	step("B", "alarm 1");
	step("B", "lk 0 SETLKW WR 200 10");
	step("A", "lk 0 SETLK UN 200 10");
	step("A", "lk 0 GETLK WR 200 10");
	step("B", "lk 0 SETLK WR 200 10");
	step("B", "lk 0 SETLK UN 200 10");
	/* a deadlock between the two is refused to the one that would close it */
	step("A", "lk 0 SETLK WR 300 1");
	step("B", "lk 0 SETLK WR 301 1");
	step_bg("A", "lk 0 SETLKW WR 301 1");
	step("B", "lk 0 SETLKW WR 300 1");
	step("B", "lk 0 SETLK UN 301 1");
	step_wait("A");
	step("A", "lk 0 SETLK UN 0 0");
	/* closing any descriptor of the file drops the process's POSIX locks */
	step("A", "lk 0 SETLK WR 400 10");
	step("A", "open 1");
	step("A", "close 1");
	step("B", "lk 0 GETLK WR 400 10");
	/* OFD locks: per open file, in conflict with each other and with POSIX ones */
	step("A", "open 1");
	step("A", "lk 0 OFD_SETLK WR 500 10");
	step("A", "lk 1 OFD_SETLK WR 505 10");
	step("A", "lk 1 SETLK RD 500 1");
	step("B", "lk 0 OFD_GETLK RD 500 1");
	step("B", "lk 0 SETLK RD 509 1");
	step("A", "close 1");
	step("A", "lk 0 OFD_SETLK UN 500 10");
	step("B", "lk 0 SETLK RD 509 1");
	step("B", "lk 0 SETLK UN 0 0");
	/* flock: apart from POSIX locks; shared and exclusive */
	step("A", "flock 0 EX");
	step("B", "flock 0 EX_NB");
	step("B", "flock 0 SH_NB");
	step("B", "lk 0 SETLK WR 0 0");
	step("B", "lk 0 SETLK UN 0 0");
	step("A", "flock 0 SH");
	step("B", "flock 0 SH_NB");
	step("A", "flock 0 EX_NB");
	step_bg("A", "flock 0 EX");
	step("B", "flock 0 UN");
	step_wait("A");
	step("B", "flock 0 SH_NB");
	/*
	 * closing the last descriptor of an open file drops its flock: through
	 * FUSE just after close returns (the kernel sends RELEASE on its own),
	 * so B waits for it rather than try once
	 */
	step("A", "close 0");
	step("B", "flock 0 EX");
	step("B", "close 0");
	close(A.to);
	close(B.to);
	waitpid(A.pid, NULL, 0);
	waitpid(B.pid, NULL, 0);
	return 0;
}

/* ---- counter, intervals, hold, waitfor ---- */

static int
counter(const char *path, long n, const char *log)
{
	FILE *lf = fopen(log, "a");
	int fd = open(path, O_RDWR);
	char buf[32];

	if (fd < 0 || lf == NULL)
		die("%s: %s", fd < 0 ? path : log, strerror(errno));
	for (long i = 0; i < n; i++) {
		double t0, t1;
		ssize_t got;
		long v;

		alarm(STEP_WAIT);
		if (flock(fd, LOCK_EX) != 0)
			die("flock: %s", strerror(errno));
		t0 = now_real();
		got = pread(fd, buf, sizeof(buf) - 1, 0);
		if (got < 0)
			die("read: %s", strerror(errno));
		buf[got] = '\0';
		v = got > 0 ? atol(buf) : 0;
		snprintf(buf, sizeof(buf), "%020ld\n", v + 1);
		if (pwrite(fd, buf, 21, 0) != 21)
			die("write: %s", strerror(errno));
		t1 = now_real();
		fprintf(lf, "%.6f %.6f\n", t0, t1);
		if (flock(fd, LOCK_UN) != 0)
			die("unlock: %s", strerror(errno));
		alarm(0);
	}
	if (close(fd) != 0)
		die("close: %s", strerror(errno));
	fclose(lf);
	return 0;
}

struct hold {
	double a, r;
};

static int
cmp_hold(const void *x, const void *y)
{
	const struct hold *p = x, *q = y;

	return p->a < q->a ? -1 : p->a > q->a;
}

static int
intervals(int n, char **logs)
{
	struct hold *h = NULL;
	size_t nh = 0, cap = 0;
	int bad = 0;

	for (int i = 0; i < n; i++) {
		FILE *f = fopen(logs[i], "r");
		double a, r;

		if (f == NULL)
			die("%s: %s", logs[i], strerror(errno));
		while (fscanf(f, "%lf %lf", &a, &r) == 2) {
			if (nh == cap) {
				cap = cap ? 2 * cap : 1024;
				h = realloc(h, cap * sizeof(*h));
				if (h == NULL)
					die("out of memory");
			}
			h[nh].a = a;
			h[nh].r = r;
			nh++;
		}
		fclose(f);
	}
	if (nh > 0)
		qsort(h, nh, sizeof(*h), cmp_hold);
	for (size_t i = 1; i < nh; i++)
		if (h[i].a < h[i - 1].r) {
			if (bad++ < 5)
				printf("overlap: %.6f..%.6f and %.6f..%.6f\n", h[i - 1].a, h[i - 1].r,
				       h[i].a, h[i].r);
		}
	printf("%zu holds, %d overlapping\n", nh, bad);
	free(h);
	return bad ? 1 : 0;
}

static volatile sig_atomic_t got_usr1;

static void
on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

static int
lost(const char *path)
{
	int fd = open(path, O_RDWR), r1, e1 = 0, e2 = 0;
	struct sigaction sa;
	sigset_t none;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX) != 0)
		die("flock: %s", strerror(errno));
	printf("held\n");
	fflush(stdout);
	sigemptyset(&none);
	for (int i = 0; i < 600 && !got_usr1; i++) {
		alarm(1);
		sigsuspend(&none);
	}
	alarm(0);
	r1 = flock(fd, LOCK_EX | LOCK_NB);
	if (r1 != 0)
		e1 = errno;
	if (pwrite(fd, "x", 1, 0) != 1)
		e2 = errno;
	printf("relock=%s write=%s\n", err_name(e1), err_name(e2));
	return 0;
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 4 && strcmp(argv[1], "cases") == 0)
		return cases(argv[2], argv[3]);
	if (argc == 5 && strcmp(argv[1], "counter") == 0)
		return counter(argv[2], atol(argv[3]), argv[4]);
	if (argc == 3 && strcmp(argv[1], "lost") == 0) {
		signal(SIGALRM, on_alarm);
		return lost(argv[2]);
	}
	if (argc >= 3 && strcmp(argv[1], "intervals") == 0)
		return intervals(argc - 2, argv + 2);
	if (argc == 3 && (strcmp(argv[1], "hold") == 0 || strcmp(argv[1], "waitfor") == 0)) {
		int fd = open(argv[2], O_RDWR);

		if (fd < 0)
			die("%s: %s", argv[2], strerror(errno));
		if (argv[1][0] == 'w')
			alarm(STEP_WAIT);
		if (flock(fd, LOCK_EX) != 0)
			die("flock: %s", strerror(errno));
		if (argv[1][0] == 'w') {
			printf("%.6f\n", now_real());
			return 0;
		}
		printf("held\n");
		fflush(stdout);
		for (;;)
			pause();
	}
	fprintf(stderr, "usage: lockcheck cases PATHA PATHB | counter PATH N LOG | "
			"intervals LOG... | hold PATH | waitfor PATH | lost PATH\n");
	return 2;
}
