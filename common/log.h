/*
 * Logging for every chainfs program: to stderr in the foreground, to syslog
 * (the journal) as a service.  log_warn appends strerror(errno); every
 * function keeps errno as it was.  Messages about a peer name the peer.
 * Allocation policy: the daemon and the client die on allocation failure
 * through fatal(); nothing tries to run on after malloc has failed.
 */
#ifndef CHAINFS_LOG_H
#define CHAINFS_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_LEVEL_ERR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* name: program name for syslog; to_syslog: 0 = stderr. */
void log_init(const char *name, int to_syslog, int level);
void log_setlevel(int level);
int log_getlevel(void);
/* Parses "error", "warn", "info", "debug"; -1 when unknown. */
int log_level_parse(const char *);

void log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * A peer's string made safe to log: s copied into out (outlen bytes, cut
 * short if need be) with backslashes doubled and every byte that is not
 * printable ASCII as \xNN, so that it cannot forge a line or a terminal
 * escape.  Returns out.
 */
const char *log_escape(const char *s, char *out, size_t outlen);
void fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * A budget for lines a peer can cause, so that a flood of refused
 * connections cannot fill the disk: at most LOG_LIMIT_BURST lines a second
 * pass through one limiter; the rest are counted and the count is logged
 * with the next line that passes.  Zero-initialise.
 */
#define LOG_LIMIT_BURST 10
struct log_limit {
	uint64_t window_ms; /* start of the current second */
	unsigned lines;	    /* written in it */
	unsigned held;	    /* held back since the last line written */
};
void log_limited(struct log_limit *, int level, const char *, ...)
	__attribute__((format(printf, 3, 4)));

/* Milliseconds on the monotonic clock. */
uint64_t cfs_now_ms(void);

/* Allocators that die on failure (see the policy above). */
void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xrealloc(void *, size_t);
char *xstrdup(const char *);

#endif
