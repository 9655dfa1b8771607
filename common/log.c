/* Logging to stderr or syslog; see log.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

static int log_to_syslog;
static int log_to_journal; /* stderr is the journal's stream: "<prio>" prefixes, no time */
static int log_level = LOG_LEVEL_INFO;
static const char *log_name = "chainfs";

static const int log_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
static const char *log_names[] = {"error", "warn", "info", "debug"};

/*
 * Whether stderr is the stream systemd gave a service to the journal: it
 * says so in $JOURNAL_STREAM ("device:inode" of that stream), and then a
 * "<N>" prefix sets each line's priority and the journal adds the time.
 */
static int
log_stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) != 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* Sets where logs go and how much is said. */
void
log_init(const char *name, int to_syslog, int level)
{
	log_name = name;
	log_to_journal = !to_syslog && log_stderr_is_journal();
	log_to_syslog = to_syslog;
	log_level = level;
	if (to_syslog)
		openlog(name, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

/* Changes the level at run time (SIGHUP). */
void
log_setlevel(int level)
{
	log_level = level;
}

/* The level in force. */
int
log_getlevel(void)
{
	return log_level;
}

/* Maps a level name to its value. */
int
log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++)
		if (strcmp(s, log_names[i]) == 0)
			return (int)i;
	return -1;
}

/* Writes one line at level, keeping errno. */
static void
log_vwrite(int level, const char *err, const char *fmt, va_list ap)
{
	char msg[2048];
	int saved = errno;

	if (level > log_level) {
		errno = saved;
		return;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_to_syslog) {
		if (err)
			syslog(log_prio[level], "%s: %s", msg, err);
		else
			syslog(log_prio[level], "%s", msg);
	} else if (log_to_journal) {
		fprintf(stderr, "<%d>%s%s%s\n", log_prio[level], msg, err ? ": " : "",
			err ? err : "");
	} else {
		struct timespec ts;
		struct tm tm;
		char when[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld %s[%s]: %s%s%s\n", when, ts.tv_nsec / 1000000, log_name,
			log_names[level], msg, err ? ": " : "", err ? err : "");
	}
	errno = saved;
}

/* A warning with strerror(errno) appended. */
void
log_warn(const char *fmt, ...)
{
	va_list ap;
	const char *err = strerror(errno);

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_WARN, err, fmt, ap);
	va_end(ap);
}

/* A warning. */
void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_WARN, NULL, fmt, ap);
	va_end(ap);
}

/* Information worth keeping in the journal. */
void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_INFO, NULL, fmt, ap);
	va_end(ap);
}

/* Detail for debugging. */
void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_DEBUG, NULL, fmt, ap);
	va_end(ap);
}

/* A line through a limiter: written if the second's budget allows, else counted. */
void
log_limited(struct log_limit *l, int level, const char *fmt, ...)
{
	uint64_t now = cfs_now_ms();
	va_list ap;

	if (level > log_level)
		return;
	if (now - l->window_ms >= 1000) {
		l->window_ms = now;
		l->lines = 0;
	}
	if (l->lines >= LOG_LIMIT_BURST) {
		l->held++;
		return;
	}
	l->lines++;
	if (l->held > 0) {
		log_info("%u more lines like the next were held back", l->held);
		l->held = 0;
	}
	va_start(ap, fmt);
	log_vwrite(level, NULL, fmt, ap);
	va_end(ap);
}

/* Logs an error with strerror(errno) and exits. */
void
fatal(const char *fmt, ...)
{
	va_list ap;
	const char *err = strerror(errno);

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERR, err, fmt, ap);
	va_end(ap);
	exit(1);
}

/* Logs an error and exits. */
void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

/* malloc that dies on failure. */
void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		fatal("malloc %zu", n);
	return p;
}

/* calloc that dies on failure. */
void *
xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);

	if (p == NULL)
		fatal("calloc %zu x %zu", n, m);
	return p;
}

/* realloc that dies on failure. */
void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		fatal("realloc %zu", n);
	return q;
}

/* strdup that dies on failure. */
char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		fatal("strdup");
	return p;
}

const char *
log_escape(const char *s, char *out, size_t outlen)
{
	size_t o = 0;

	if (outlen == 0)
		return out;
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		char esc[5];
		size_t n;

		if (ch == '\\') {
			n = 2;
			memcpy(esc, "\\\\", 2);
		} else if (ch < 0x20 || ch >= 0x7f) {
			n = 4;
			snprintf(esc, sizeof(esc), "\\x%02x", ch);
		} else {
			n = 1;
			esc[0] = (char)ch;
		}
		if (o + n >= outlen)
			break;
		memcpy(out + o, esc, n);
		o += n;
	}
	out[o] = '\0';
	return out;
}

uint64_t
cfs_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
