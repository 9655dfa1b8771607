/*
 * posixcheck: performs filesystem system calls for tests/posix/run.sh and
 * prints what each returned, so that the shell can assert with a plain
 * string comparison.
 *
 *	posixcheck OP ARGS... [: OP ARGS...]... [-e EXPECTED]
 *
 * Operations separated by a lone ":" run in order in one process, so that a
 * descriptor opened by one can be used by the next ("%0" is the first
 * descriptor opened, "%1" the second...; "@0" is the first mapping made by
 * "mmap").  Each operation prints one word:
 * "0" or its value on success, or the errno name ("ENOENT") on failure; the
 * words are joined by spaces on one line and the first failure ends the run.
 * With -e, the exit status is 0 exactly when the last word is EXPECTED;
 * without it, 0 when every operation succeeded.  Usage errors exit 2.
 *
 * Data arguments are literal strings, "hex:HH..." for bytes given in hex, or
 * "@LEN:SEED" for LEN pattern bytes whose values depend only on SEED and the
 * file offset they are written at, so a checksum of any range can be
 * recomputed with "hash".  Sizes and
 * offsets accept K, M and G suffixes (powers of 1024); modes are octal.
 *
 * Only libc.  Allocation failure ends the program: it is a test helper.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <linux/fs.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define PC_MAX_FDS 32
#define PC_MAX_MAPS 8
#define PC_MAX_MAP (64 << 20)
#define PC_MAX_NAP_MS 10000
#define PC_MAX_MKFILES 100000
#define PC_MAX_DEPTH 1000
#define PC_MAX_CHUNK (64 << 20)
#define PC_MAX_VALUE (1 << 20)
/* Bounds on loops a broken filesystem could keep going: entries, bytes. */
#define PC_MAX_ENTRIES 1000000
#define PC_MAX_HASH (64LL << 30)

/* A growing output line. */
struct pc_buf {
	char *s;
	size_t len;
	size_t cap;
};

/* A name for a flag or constant, for the tables below. */
struct pc_name {
	const char *name;
	long long value;
};

/* One operation: its name, how many arguments it takes, what it does. */
struct pc_op {
	const char *name;
	int min_args;
	int max_args;
	int (*fn)(char **argv, int argc, struct pc_buf *out);
	const char *usage;
};

static void pc_usage(const char *, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void pc_buf_printf(struct pc_buf *, const char *, ...) __attribute__((format(printf, 2, 3)));

static int pc_fds[PC_MAX_FDS];
static int pc_nfds;
/* Mappings made by "mmap", named by "@0", "@1"... in order. */
static struct {
	unsigned char *p;
	size_t len;
} pc_maps[PC_MAX_MAPS];
static int pc_nmaps;

/* clang-format off */
#define N(x) {#x, x}
/* clang-format on */
static const struct pc_name pc_errnos[] = {
    N(EPERM),      N(ENOENT),       N(ESRCH),       N(EINTR),      N(EIO),     N(ENXIO),
    N(E2BIG),      N(ENOEXEC),      N(EBADF),       N(ECHILD),     N(EAGAIN),  N(ENOMEM),
    N(EACCES),     N(EFAULT),       N(ENOTBLK),     N(EBUSY),      N(EEXIST),  N(EXDEV),
    N(ENODEV),     N(ENOTDIR),      N(EISDIR),      N(EINVAL),     N(ENFILE),  N(EMFILE),
    N(ENOTTY),     N(ETXTBSY),      N(EFBIG),       N(ENOSPC),     N(ESPIPE),  N(EROFS),
    N(EMLINK),     N(EPIPE),        N(EDOM),        N(ERANGE),     N(EDEADLK), N(ENAMETOOLONG),
    N(ENOLCK),     N(ENOSYS),       N(ENOTEMPTY),   N(ELOOP),      N(ENOMSG),  N(ENODATA),
    N(ENOSTR),     N(ETIME),        N(EOVERFLOW),   N(EBADFD),     N(EILSEQ),  N(ENOTSOCK),
    N(EOPNOTSUPP), N(EADDRINUSE),   N(ENETDOWN),    N(ECONNRESET), N(ENOBUFS), N(ENOTCONN),
    N(ETIMEDOUT),  N(ECONNREFUSED), N(EHOSTDOWN),   N(ESTALE),     N(EDQUOT),  N(ECANCELED),
    N(ENOMEDIUM),  N(EMEDIUMTYPE),  N(EKEYEXPIRED), {NULL, 0},
};

static const struct pc_name pc_open_flags[] = {
    N(O_RDONLY), N(O_WRONLY),    N(O_RDWR),     N(O_CREAT),    N(O_EXCL), N(O_TRUNC),
    N(O_APPEND), N(O_DIRECTORY), N(O_NOFOLLOW), N(O_NONBLOCK), N(O_SYNC), N(O_DSYNC),
    N(O_PATH),   N(O_NOATIME),   N(O_CLOEXEC),  N(O_NOCTTY),   {NULL, 0},
};

static const struct pc_name pc_at_flags[] = {
    N(AT_REMOVEDIR), N(AT_SYMLINK_NOFOLLOW), N(AT_EACCESS), N(AT_SYMLINK_FOLLOW), {NULL, 0},
};

static const struct pc_name pc_rename_flags[] = {
    N(RENAME_NOREPLACE),
    N(RENAME_EXCHANGE),
    N(RENAME_WHITEOUT),
    {NULL, 0},
};

static const struct pc_name pc_xattr_flags[] = {
    N(XATTR_CREATE),
    N(XATTR_REPLACE),
    {NULL, 0},
};

static const struct pc_name pc_falloc_flags[] = {
    {"KEEP_SIZE", FALLOC_FL_KEEP_SIZE},       {"PUNCH_HOLE", FALLOC_FL_PUNCH_HOLE},
    {"ZERO_RANGE", FALLOC_FL_ZERO_RANGE},     {"COLLAPSE_RANGE", FALLOC_FL_COLLAPSE_RANGE},
    {"INSERT_RANGE", FALLOC_FL_INSERT_RANGE}, {NULL, 0},
};

/* Inode flags (chattr), FS_*_FL. */
static const struct pc_name pc_inode_flags[] = {
    {"IMMUTABLE", FS_IMMUTABLE_FL}, {"APPEND", FS_APPEND_FL}, {"NODUMP", FS_NODUMP_FL},
    {"NOATIME", FS_NOATIME_FL},     {"SYNC", FS_SYNC_FL},     {NULL, 0},
};

static const struct pc_name pc_whence[] = {
    N(SEEK_SET), N(SEEK_CUR), N(SEEK_END), N(SEEK_DATA), N(SEEK_HOLE), {NULL, 0},
};

static const struct pc_name pc_access_modes[] = {
    N(F_OK), N(R_OK), N(W_OK), N(X_OK), {NULL, 0},
};
#undef N

/* Prints a usage error and exits 2, leaving a word on stdout for the shell. */
static void
pc_usage(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("posixcheck: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	puts("USAGE");
	exit(2);
}

/* Allocates or dies: this is a short-lived test helper. */
static void *
pc_alloc(size_t n)
{
	void *p = malloc(n == 0 ? 1 : n);

	if (p == NULL) {
		fputs("posixcheck: out of memory\n", stderr);
		exit(3);
	}
	return p;
}

/* Appends n bytes to the output line. */
static void
pc_buf_add(struct pc_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->s, cap);
		if (p == NULL) {
			fputs("posixcheck: out of memory\n", stderr);
			exit(3);
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* Appends formatted text to the output line. */
static void
pc_buf_printf(struct pc_buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		pc_usage("internal: formatted output too long");
	pc_buf_add(b, tmp, (size_t)n);
}

/* Appends file data, escaping control bytes and backslashes in octal. */
static void
pc_buf_escaped(struct pc_buf *b, const unsigned char *p, size_t n)
{
	char esc[8];

	for (size_t i = 0; i < n; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f || p[i] == '\\') {
			snprintf(esc, sizeof(esc), "\\%03o", p[i]);
			pc_buf_add(b, esc, 4);
		} else {
			pc_buf_add(b, (const char *)&p[i], 1);
		}
	}
}

/* The name of an errno value, as the shell expects it. */
static const char *
pc_errno_name(int e)
{
	static char unknown[32];

	for (const struct pc_name *n = pc_errnos; n->name != NULL; n++)
		if (n->value == e)
			return n->name;
	snprintf(unknown, sizeof(unknown), "E#%d", e);
	return unknown;
}

/* Parses a size or offset: decimal, optionally negative, with K/M/G suffix. */
static long long
pc_size(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s)
		pc_usage("bad number \"%s\"", s);
	switch (*end) {
	case 'K':
		v *= 1024LL;
		end++;
		break;
	case 'M':
		v *= 1024LL * 1024;
		end++;
		break;
	case 'G':
		v *= 1024LL * 1024 * 1024;
		end++;
		break;
	default:
		break;
	}
	if (*end != '\0')
		pc_usage("bad number \"%s\"", s);
	return v;
}

/* Parses an octal mode. */
static mode_t
pc_mode(const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 8);
	if (errno != 0 || end == s || *end != '\0' || v > 07777)
		pc_usage("bad mode \"%s\"", s);
	return (mode_t)v;
}

/* Parses "NAME,NAME|NAME" or a number against a table of names. */
static long long
pc_flags(const char *s, const struct pc_name *table)
{
	char word[64];
	long long v = 0;
	const char *p = s;

	while (*p != '\0') {
		size_t n = strcspn(p, ",|");
		const struct pc_name *t;

		if (n == 0 || n >= sizeof(word))
			pc_usage("bad flags \"%s\"", s);
		memcpy(word, p, n);
		word[n] = '\0';
		if (isdigit((unsigned char)word[0])) {
			v |= pc_size(word);
		} else {
			for (t = table; t->name != NULL; t++)
				if (strcmp(t->name, word) == 0)
					break;
			if (t->name == NULL)
				pc_usage("unknown flag \"%s\"", word);
			v |= t->value;
		}
		p += n;
		if (*p != '\0')
			p++;
	}
	return v;
}

/* A descriptor argument: "%N" for the Nth one opened, AT_FDCWD, or a number. */
static int
pc_fd(const char *s)
{
	long long i;

	if (strcmp(s, "AT_FDCWD") == 0)
		return AT_FDCWD;
	if (s[0] != '%')
		return (int)pc_size(s);
	i = pc_size(s + 1);
	if (i < 0 || i >= pc_nfds)
		pc_usage("no descriptor %s", s);
	return pc_fds[i];
}

/* Remembers a freshly opened descriptor for later "%N" arguments. */
static void
pc_keep_fd(int fd)
{
	if (pc_nfds == PC_MAX_FDS)
		pc_usage("more than %d descriptors", PC_MAX_FDS);
	pc_fds[pc_nfds++] = fd;
}

/* A uid or gid argument; -1 means "leave unchanged". */
static unsigned int
pc_id(const char *s)
{
	long long v = pc_size(s);

	if (v < -1 || v > UINT32_MAX)
		pc_usage("bad id \"%s\"", s);
	return v == -1 ? (unsigned int)-1 : (unsigned int)v;
}

/* Byte OFF of pattern SEED: a hash of both, so misplaced data shows. */
static unsigned char
pc_pattern_byte(uint64_t seed, uint64_t off)
{
	uint64_t x = (off >> 3) * 0x9e3779b97f4a7c15ULL + (seed + 1) * 0xbf58476d1ce4e5b9ULL;

	x ^= x >> 31;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 29;
	return (unsigned char)(x >> ((off & 7) * 8));
}

/* Fills buf with pattern SEED as it appears from file offset off. */
static void
pc_pattern_fill(unsigned char *buf, size_t n, uint64_t seed, uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = pc_pattern_byte(seed, off + i);
}

/* Feeds bytes into a 64-bit FNV-1a hash. */
static uint64_t
pc_fnv(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define PC_FNV_INIT 0xcbf29ce484222325ULL

/*
 * Turns a data argument into bytes: a literal, "hex:HH..." bytes in hex, or
 * "@LEN:SEED" pattern bytes as they belong at file offset off.  The caller
 * frees *buf.
 */
static size_t
pc_data(const char *s, uint64_t off, unsigned char **buf)
{
	size_t n;

	if (s[0] == '@') {
		const char *colon = strchr(s, ':');
		char len[32];
		long long l, seed;

		if (colon == NULL || (size_t)(colon - s - 1) >= sizeof(len))
			pc_usage("bad pattern \"%s\"", s);
		memcpy(len, s + 1, (size_t)(colon - s - 1));
		len[colon - s - 1] = '\0';
		l = pc_size(len);
		seed = pc_size(colon + 1);
		if (l < 0 || l > PC_MAX_CHUNK)
			pc_usage("pattern too long \"%s\"", s);
		n = (size_t)l;
		*buf = pc_alloc(n);
		pc_pattern_fill(*buf, n, (uint64_t)seed, off);
		return n;
	}
	if (strncmp(s, "hex:", 4) == 0) {
		s += 4;
		n = strlen(s) / 2;
		if (strlen(s) % 2 != 0 || n > PC_MAX_CHUNK)
			pc_usage("bad hex data");
		*buf = pc_alloc(n + 1);
		for (size_t i = 0; i < n; i++) {
			unsigned v;

			if (!isxdigit((unsigned char)s[2 * i]) ||
			    !isxdigit((unsigned char)s[2 * i + 1]) || sscanf(s + 2 * i, "%2x", &v) != 1)
				pc_usage("bad hex data");
			(*buf)[i] = (unsigned char)v;
		}
		return n;
	}
	n = strlen(s);
	*buf = pc_alloc(n);
	memcpy(*buf, s, n);
	return n;
}

/* Writes all of buf at off (or at the file offset if off < 0). */
static int
pc_write_all(int fd, const unsigned char *buf, size_t n, long long off, size_t *done)
{
	*done = 0;
	while (*done < n) {
		ssize_t w;

		if (off < 0)
			w = write(fd, buf + *done, n - *done);
		else
			w = pwrite(fd, buf + *done, n - *done, (off_t)(off + (long long)*done));
		if (w < 0)
			return errno;
		if (w == 0)
			return EIO;
		*done += (size_t)w;
	}
	return 0;
}

/* Appends the requested stat fields, comma-separated. */
static int
pc_stat_fields(const struct stat *st, const char *fields, struct pc_buf *out)
{
	char word[32];
	const char *p = fields;
	int first = 1;

	while (*p != '\0') {
		size_t n = strcspn(p, ",");

		if (n == 0 || n >= sizeof(word))
			pc_usage("bad stat fields \"%s\"", fields);
		memcpy(word, p, n);
		word[n] = '\0';
		if (!first)
			pc_buf_add(out, ",", 1);
		first = 0;
		if (strcmp(word, "type") == 0) {
			const char *t = "?";

			switch (st->st_mode & S_IFMT) {
			case S_IFREG:
				t = "reg";
				break;
			case S_IFDIR:
				t = "dir";
				break;
			case S_IFLNK:
				t = "lnk";
				break;
			case S_IFIFO:
				t = "fifo";
				break;
			case S_IFSOCK:
				t = "sock";
				break;
			case S_IFCHR:
				t = "chr";
				break;
			case S_IFBLK:
				t = "blk";
				break;
			}
			pc_buf_printf(out, "%s", t);
		} else if (strcmp(word, "mode") == 0) {
			pc_buf_printf(out, "%o", (unsigned int)(st->st_mode & 07777));
		} else if (strcmp(word, "nlink") == 0) {
			pc_buf_printf(out, "%ju", (uintmax_t)st->st_nlink);
		} else if (strcmp(word, "uid") == 0) {
			pc_buf_printf(out, "%ju", (uintmax_t)st->st_uid);
		} else if (strcmp(word, "gid") == 0) {
			pc_buf_printf(out, "%ju", (uintmax_t)st->st_gid);
		} else if (strcmp(word, "size") == 0) {
			pc_buf_printf(out, "%jd", (intmax_t)st->st_size);
		} else if (strcmp(word, "blocks") == 0) {
			pc_buf_printf(out, "%jd", (intmax_t)st->st_blocks);
		} else if (strcmp(word, "ino") == 0) {
			pc_buf_printf(out, "%ju", (uintmax_t)st->st_ino);
		} else if (strcmp(word, "rdev") == 0) {
			pc_buf_printf(out, "%u:%u", major(st->st_rdev), minor(st->st_rdev));
		} else if (strcmp(word, "atime") == 0) {
			pc_buf_printf(out, "%jd.%09ld", (intmax_t)st->st_atim.tv_sec,
			              st->st_atim.tv_nsec);
		} else if (strcmp(word, "mtime") == 0) {
			pc_buf_printf(out, "%jd.%09ld", (intmax_t)st->st_mtim.tv_sec,
			              st->st_mtim.tv_nsec);
		} else if (strcmp(word, "ctime") == 0) {
			pc_buf_printf(out, "%jd.%09ld", (intmax_t)st->st_ctim.tv_sec,
			              st->st_ctim.tv_nsec);
		} else {
			pc_usage("unknown stat field \"%s\"", word);
		}
		p += n;
		if (*p != '\0')
			p++;
	}
	return 0;
}

/* open PATH FLAGS [MODE]: keeps the descriptor as the next %N. */
static int
op_open(char **argv, int argc, struct pc_buf *out)
{
	mode_t mode = argc > 2 ? pc_mode(argv[2]) : 0;
	int fd = open(argv[0], (int)pc_flags(argv[1], pc_open_flags), mode);

	if (fd < 0)
		return errno;
	pc_keep_fd(fd);
	pc_buf_add(out, "0", 1);
	return 0;
}

/* openat DIRFD PATH FLAGS [MODE]: like open, relative to a descriptor. */
static int
op_openat(char **argv, int argc, struct pc_buf *out)
{
	mode_t mode = argc > 3 ? pc_mode(argv[3]) : 0;
	int fd = openat(pc_fd(argv[0]), argv[1], (int)pc_flags(argv[2], pc_open_flags), mode);

	if (fd < 0)
		return errno;
	pc_keep_fd(fd);
	pc_buf_add(out, "0", 1);
	return 0;
}

/* creat PATH MODE: keeps the (write-only) descriptor as the next %N. */
static int
op_creat(char **argv, int argc, struct pc_buf *out)
{
	int fd = creat(argv[0], pc_mode(argv[1]));

	(void)argc;
	if (fd < 0)
		return errno;
	pc_keep_fd(fd);
	pc_buf_add(out, "0", 1);
	return 0;
}

/* close FD: close errors matter on a network filesystem, so they are shown. */
static int
op_close(char **argv, int argc, struct pc_buf *out)
{
	(void)argc;
	if (close(pc_fd(argv[0])) < 0)
		return errno;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* The mapping named s ("@0" is the first made), or a usage error. */
static unsigned char *
pc_map(const char *s, long long off, long long len)
{
	char *end;
	long i;

	if (s[0] != '@')
		pc_usage("mapping \"%s\" is not @N", s);
	i = strtol(s + 1, &end, 10);
	if (*end != '\0' || i < 0 || i >= pc_nmaps)
		pc_usage("no mapping %s", s);
	if (off < 0 || len < 0 || (unsigned long long)off + (unsigned long long)len > pc_maps[i].len)
		pc_usage("range outside mapping %s", s);
	return pc_maps[i].p + off;
}

/* mmap FD LEN shared|private: maps the file from offset 0, read and write; prints 0. */
static int
op_mmap(char **argv, int argc, struct pc_buf *out)
{
	int fd = pc_fd(argv[0]);
	long long len = pc_size(argv[1]);
	int flags;
	void *p;

	(void)argc;
	if (strcmp(argv[2], "shared") == 0)
		flags = MAP_SHARED;
	else if (strcmp(argv[2], "private") == 0)
		flags = MAP_PRIVATE;
	else
		pc_usage("mmap wants shared or private, not \"%s\"", argv[2]);
	if (len <= 0 || len > PC_MAX_MAP)
		pc_usage("mapping length out of range");
	if (pc_nmaps == PC_MAX_MAPS)
		pc_usage("too many mappings");
	p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, flags, fd, 0);
	if (p == MAP_FAILED)
		return errno;
	pc_maps[pc_nmaps].p = p;
	pc_maps[pc_nmaps].len = (size_t)len;
	pc_nmaps++;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* mstore @N OFF DATA: copies DATA into the mapping; prints its length. */
static int
op_mstore(char **argv, int argc, struct pc_buf *out)
{
	long long off = pc_size(argv[1]);
	unsigned char *buf;
	size_t n = pc_data(argv[2], off < 0 ? 0 : (uint64_t)off, &buf);

	(void)argc;
	memcpy(pc_map(argv[0], off, (long long)n), buf, n);
	free(buf);
	pc_buf_printf(out, "%zu", n);
	return 0;
}

/* mload @N OFF LEN: prints the mapping's bytes, escaped. */
static int
op_mload(char **argv, int argc, struct pc_buf *out)
{
	long long off = pc_size(argv[1]), len = pc_size(argv[2]);

	(void)argc;
	if (len > PC_MAX_VALUE)
		pc_usage("load length out of range");
	pc_buf_escaped(out, pc_map(argv[0], off, len), (size_t)len);
	return 0;
}

/* msync @N: writes the whole mapping back (MS_SYNC); prints 0. */
static int
op_msync(char **argv, int argc, struct pc_buf *out)
{
	long i;

	(void)argc;
	pc_map(argv[0], 0, 0);
	i = strtol(argv[0] + 1, NULL, 10);
	if (msync(pc_maps[i].p, pc_maps[i].len, MS_SYNC) < 0)
		return errno;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* write FD DATA / pwrite FD OFF DATA: prints the number of bytes written. */
static int
op_write(char **argv, int argc, struct pc_buf *out)
{
	int fd = pc_fd(argv[0]);
	long long off = argc == 3 ? pc_size(argv[1]) : -1;
	unsigned char *buf;
	size_t n, done;
	off_t cur = off >= 0 ? (off_t)off : lseek(fd, 0, SEEK_CUR);
	int e;

	n = pc_data(argv[argc - 1], cur < 0 ? 0 : (uint64_t)cur, &buf);
	e = pc_write_all(fd, buf, n, off, &done);
	free(buf);
	if (e != 0)
		return e;
	pc_buf_printf(out, "%zu", done);
	return 0;
}

/* read FD LEN / pread FD OFF LEN: prints the bytes read, escaped. */
static int
op_read(char **argv, int argc, struct pc_buf *out)
{
	int fd = pc_fd(argv[0]);
	long long len = pc_size(argv[argc - 1]);
	unsigned char *buf;
	ssize_t r;

	if (len < 0 || len > PC_MAX_VALUE)
		pc_usage("read length out of range");
	buf = pc_alloc((size_t)len);
	if (argc == 3)
		r = pread(fd, buf, (size_t)len, (off_t)pc_size(argv[1]));
	else
		r = read(fd, buf, (size_t)len);
	if (r < 0) {
		int e = errno;

		free(buf);
		return e;
	}
	pc_buf_escaped(out, buf, (size_t)r);
	if (r == 0)
		pc_buf_add(out, "<eof>", 5);
	free(buf);
	return 0;
}

/* Hashes up to len bytes read from fd at off (off < 0: file offset), in chunks. */
static int
pc_hash_fd(int fd, long long off, long long len, size_t chunk, struct pc_buf *out)
{
	unsigned char *buf = pc_alloc(chunk);
	uint64_t h = PC_FNV_INIT;
	long long total = 0;

	while ((len < 0 || total < len) && total < PC_MAX_HASH) {
		size_t want = chunk;
		ssize_t r;

		if (len >= 0 && (long long)want > len - total)
			want = (size_t)(len - total);
		if (off >= 0)
			r = pread(fd, buf, want, (off_t)(off + total));
		else
			r = read(fd, buf, want);
		if (r < 0) {
			int e = errno;

			free(buf);
			return e;
		}
		if (r == 0)
			break;
		h = pc_fnv(h, buf, (size_t)r);
		total += r;
	}
	free(buf);
	pc_buf_printf(out, "%lld:%016" PRIx64, total, h);
	return 0;
}

/* preadsum FD OFF LEN: length and hash of what reading the range returns. */
static int
op_preadsum(char **argv, int argc, struct pc_buf *out)
{
	long long len = pc_size(argv[2]);

	(void)argc;
	if (len < 0)
		pc_usage("negative length");
	return pc_hash_fd(pc_fd(argv[0]), pc_size(argv[1]), len, 1 << 20, out);
}

/* hashfile PATH CHUNK: length and hash of the whole file, read CHUNK at a time. */
static int
op_hashfile(char **argv, int argc, struct pc_buf *out)
{
	long long chunk = pc_size(argv[1]);
	int fd, e;

	(void)argc;
	if (chunk <= 0 || chunk > PC_MAX_CHUNK)
		pc_usage("bad chunk size");
	fd = open(argv[0], O_RDONLY);
	if (fd < 0)
		return errno;
	e = pc_hash_fd(fd, -1, -1, (size_t)chunk, out);
	close(fd);
	return e;
}

/* hash LEN SEED [OFF]: length and hash of pattern SEED from offset OFF. */
static int
op_hash(char **argv, int argc, struct pc_buf *out)
{
	long long len = pc_size(argv[0]);
	uint64_t seed = (uint64_t)pc_size(argv[1]);
	uint64_t off = argc > 2 ? (uint64_t)pc_size(argv[2]) : 0;
	uint64_t h = PC_FNV_INIT;

	if (len < 0)
		pc_usage("negative length");
	for (long long i = 0; i < len; i++) {
		unsigned char c = pc_pattern_byte(seed, off + (uint64_t)i);

		h = pc_fnv(h, &c, 1);
	}
	pc_buf_printf(out, "%lld:%016" PRIx64, len, h);
	return 0;
}

/* writepattern PATH SIZE SEED CHUNK: creates PATH holding SIZE pattern bytes. */
static int
op_writepattern(char **argv, int argc, struct pc_buf *out)
{
	long long size = pc_size(argv[1]);
	uint64_t seed = (uint64_t)pc_size(argv[2]);
	long long chunk = pc_size(argv[3]);
	unsigned char *buf;
	long long off = 0;
	int fd, e = 0;

	(void)argc;
	if (size < 0 || chunk <= 0 || chunk > PC_MAX_CHUNK)
		pc_usage("bad size or chunk");
	fd = open(argv[0], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return errno;
	buf = pc_alloc((size_t)chunk);
	while (off < size && e == 0) {
		size_t n = (size_t)(size - off < chunk ? size - off : chunk);
		size_t done;

		pc_pattern_fill(buf, n, seed, (uint64_t)off);
		e = pc_write_all(fd, buf, n, -1, &done);
		off += (long long)done;
	}
	free(buf);
	if (close(fd) < 0 && e == 0)
		e = errno;
	if (e != 0)
		return e;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* writefile PATH DATA: open(O_WRONLY|O_CREAT|O_TRUNC, 0644), write, close. */
static int
op_writefile(char **argv, int argc, struct pc_buf *out)
{
	unsigned char *buf;
	size_t n, done;
	int fd, e;

	(void)argc;
	fd = open(argv[0], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return errno;
	n = pc_data(argv[1], 0, &buf);
	e = pc_write_all(fd, buf, n, -1, &done);
	free(buf);
	if (close(fd) < 0 && e == 0)
		e = errno;
	if (e != 0)
		return e;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* readfile PATH: the whole (small) file, escaped; "<empty>" when empty. */
static int
op_readfile(char **argv, int argc, struct pc_buf *out)
{
	unsigned char buf[4096];
	size_t total = 0;
	int fd, e = 0;

	(void)argc;
	fd = open(argv[0], O_RDONLY);
	if (fd < 0)
		return errno;
	while (total < PC_MAX_VALUE) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r < 0) {
			e = errno;
			break;
		}
		if (r == 0)
			break;
		pc_buf_escaped(out, buf, (size_t)r);
		total += (size_t)r;
	}
	close(fd);
	if (e == 0 && total == 0)
		pc_buf_add(out, "<empty>", 7);
	return e;
}

/* lseek FD OFF WHENCE: prints the resulting offset. */
static int
op_lseek(char **argv, int argc, struct pc_buf *out)
{
	off_t r = lseek(pc_fd(argv[0]), (off_t)pc_size(argv[1]), (int)pc_flags(argv[2], pc_whence));

	(void)argc;
	if (r < 0)
		return errno;
	pc_buf_printf(out, "%jd", (intmax_t)r);
	return 0;
}

/* fsync FD. */
static int
op_fsync(char **argv, int argc, struct pc_buf *out)
{
	(void)argc;
	if (fsync(pc_fd(argv[0])) < 0)
		return errno;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* fdatasync FD. */
static int
op_fdatasync(char **argv, int argc, struct pc_buf *out)
{
	(void)argc;
	if (fdatasync(pc_fd(argv[0])) < 0)
		return errno;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* ftruncate FD SIZE. */
static int
op_ftruncate(char **argv, int argc, struct pc_buf *out)
{
	(void)argc;
	if (ftruncate(pc_fd(argv[0]), (off_t)pc_size(argv[1])) < 0)
		return errno;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* truncate PATH SIZE. */
static int
op_truncate(char **argv, int argc, struct pc_buf *out)
{
	(void)argc;
	if (truncate(argv[0], (off_t)pc_size(argv[1])) < 0)
		return errno;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* fallocate FD MODE OFF LEN, MODE being 0 or KEEP_SIZE,PUNCH_HOLE,... */
static int
op_fallocate(char **argv, int argc, struct pc_buf *out)
{
	int mode = (int)pc_flags(argv[1], pc_falloc_flags);

	(void)argc;
	if (fallocate(pc_fd(argv[0]), mode, (off_t)pc_size(argv[2]), (off_t)pc_size(argv[3])) < 0)
		return errno;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* copy_file_range FDIN OFFIN FDOUT OFFOUT LEN: prints bytes copied ("-": file offset). */
static int
op_copy_file_range(char **argv, int argc, struct pc_buf *out)
{
	int in = pc_fd(argv[0]), outfd = pc_fd(argv[2]);
	loff_t offin = 0, offout = 0;
	loff_t *pin = NULL, *pout = NULL;
	long long len = pc_size(argv[4]), total = 0;

	(void)argc;
	if (strcmp(argv[1], "-") != 0) {
		offin = (loff_t)pc_size(argv[1]);
		pin = &offin;
	}
	if (strcmp(argv[3], "-") != 0) {
		offout = (loff_t)pc_size(argv[3]);
		pout = &offout;
	}
	/* Each call makes progress or ends the loop, so it is bounded by len. */
	while (total < len) {
		ssize_t n = copy_file_range(in, pin, outfd, pout, (size_t)(len - total), 0);

		if (n < 0)
			return errno;
		if (n == 0)
			break;
		total += n;
	}
	pc_buf_printf(out, "%lld", total);
	return 0;
}

/* stat PATH FIELDS. */
static int
op_stat(char **argv, int argc, struct pc_buf *out)
{
	struct stat st;

	(void)argc;
	if (stat(argv[0], &st) < 0)
		return errno;
	return pc_stat_fields(&st, argv[1], out);
}

/* lstat PATH FIELDS. */
static int
op_lstat(char **argv, int argc, struct pc_buf *out)
{
	struct stat st;

	(void)argc;
	if (lstat(argv[0], &st) < 0)
		return errno;
	return pc_stat_fields(&st, argv[1], out);
}

/* fstat FD FIELDS. */
static int
op_fstat(char **argv, int argc, struct pc_buf *out)
{
	struct stat st;

	(void)argc;
	if (fstat(pc_fd(argv[0]), &st) < 0)
		return errno;
	return pc_stat_fields(&st, argv[1], out);
}

/* mkdir PATH MODE. */
static int
op_mkdir(char **argv, int argc, struct pc_buf *out)
{
	(void)argc;
	if (mkdir(argv[0], pc_mode(argv[1])) < 0)
		return errno;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* rmdir PATH. */
static int
op_rmdir(char **argv, int argc, struct pc_buf *out)
{
	(void)argc;
	if (rmdir(argv[0]) < 0)
		return errno;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* unlink PATH. */
static int
op_unlink(char **argv, int argc, struct pc_buf *out)
{
	(void)argc;
	if (unlink(argv[0]) < 0)
		return errno;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* unlinkat DIRFD PATH FLAGS. */
static int
op_unlinkat(char **argv, int argc, struct pc_buf *out)
{
	(void)argc;
	if (unlinkat(pc_fd(argv[0]), argv[1], (int)pc_flags(argv[2], pc_at_flags)) < 0)
		return errno;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* rename FROM TO. */
static int
op_rename(char **argv, int argc, struct pc_buf *out)
{
	(void)argc;
	if (rename(argv[0], argv[1]) < 0)
		return errno;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* renameat2 FROM TO FLAGS, both paths relative to the working directory. */
static int
op_renameat2(char **argv, int argc, struct pc_buf *out)
{
	unsigned int flags = (unsigned int)pc_flags(argv[2], pc_rename_flags);

	(void)argc;
	if (renameat2(AT_FDCWD, argv[0], AT_FDCWD, argv[1], flags) < 0)
		return errno;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* Runs the inode-flags ioctl cmd on path, as chattr(1) does: 0 or an errno. */
static int
pc_flags_ioctl(const char *path, unsigned long cmd, int *flags)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW), e;

	if (fd < 0)
		return errno;
	e = ioctl(fd, cmd, flags) < 0 ? errno : 0;
	close(fd);
	return e;
}

/*
 * getflags PATH: the inode flags (FS_IOC_GETFLAGS) this helper names, joined
 * by ",", or "none"; others (ext4's EXTENTS...) are not shown.
 */
static int
op_getflags(char **argv, int argc, struct pc_buf *out)
{
	int flags = 0, first = 1, e = pc_flags_ioctl(argv[0], FS_IOC_GETFLAGS, &flags);

	(void)argc;
	if (e != 0)
		return e;
	for (const struct pc_name *t = pc_inode_flags; t->name != NULL; t++)
		if (flags & t->value) {
			pc_buf_printf(out, "%s%s", first ? "" : ",", t->name);
			first = 0;
		}
	if (first)
		pc_buf_add(out, "none", 4);
	return 0;
}

/* setflags PATH FLAGS: sets the inode flags (FS_IOC_SETFLAGS) to FLAGS ("0" for none). */
static int
op_setflags(char **argv, int argc, struct pc_buf *out)
{
	int flags = (int)pc_flags(argv[1], pc_inode_flags), e;

	(void)argc;
	e = pc_flags_ioctl(argv[0], FS_IOC_SETFLAGS, &flags);
	if (e != 0)
		return e;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* link FROM TO. */
static int
op_link(char **argv, int argc, struct pc_buf *out)
{
	(void)argc;
	if (link(argv[0], argv[1]) < 0)
		return errno;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* symlink TARGET PATH; a target of "@LEN" is LEN bytes of 'x'. */
static int
op_symlink(char **argv, int argc, struct pc_buf *out)
{
	char *target = argv[0];
	int r;

	(void)argc;
	if (target[0] == '@') {
		long long n = pc_size(target + 1);

		if (n < 0 || n > 2 * PATH_MAX)
			pc_usage("bad target length");
		target = pc_alloc((size_t)n + 1);
		memset(target, 'x', (size_t)n);
		target[n] = '\0';
	}
	r = symlink(target, argv[1]);
	if (target != argv[0])
		free(target);
	if (r < 0)
		return errno;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* readlink PATH [BUFSIZE]: prints the target, or its length when over 64 bytes. */
static int
op_readlink(char **argv, int argc, struct pc_buf *out)
{
	size_t size = argc > 1 ? (size_t)pc_size(argv[1]) : PATH_MAX;
	char *buf;
	ssize_t n;

	if (size > 2 * PATH_MAX)
		pc_usage("bad readlink size");
	buf = pc_alloc(size);
	n = readlink(argv[0], buf, size);
	if (n < 0) {
		int e = errno;

		free(buf);
		return e;
	}
	if (n > 64)
		pc_buf_printf(out, "len=%zd", n);
	else
		pc_buf_escaped(out, (unsigned char *)buf, (size_t)n);
	free(buf);
	return 0;
}

/* chmod PATH MODE. */
static int
op_chmod(char **argv, int argc, struct pc_buf *out)
{
	(void)argc;
	if (chmod(argv[0], pc_mode(argv[1])) < 0)
		return errno;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* fchmod FD MODE. */
static int
op_fchmod(char **argv, int argc, struct pc_buf *out)
{
	(void)argc;
	if (fchmod(pc_fd(argv[0]), pc_mode(argv[1])) < 0)
		return errno;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* chown PATH UID GID (-1 leaves one unchanged). */
static int
op_chown(char **argv, int argc, struct pc_buf *out)
{
	(void)argc;
	if (chown(argv[0], pc_id(argv[1]), pc_id(argv[2])) < 0)
		return errno;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* lchown PATH UID GID. */
static int
op_lchown(char **argv, int argc, struct pc_buf *out)
{
	(void)argc;
	if (lchown(argv[0], pc_id(argv[1]), pc_id(argv[2])) < 0)
		return errno;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* fchown FD UID GID. */
static int
op_fchown(char **argv, int argc, struct pc_buf *out)
{
	(void)argc;
	if (fchown(pc_fd(argv[0]), pc_id(argv[1]), pc_id(argv[2])) < 0)
		return errno;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* A utimensat time: UTIME_NOW, UTIME_OMIT or SEC[.NSEC] with nine digits. */
static struct timespec
pc_timespec(const char *s)
{
	struct timespec ts = {0, 0};
	char sec[32];
	const char *dot;

	if (strcmp(s, "UTIME_NOW") == 0) {
		ts.tv_nsec = UTIME_NOW;
		return ts;
	}
	if (strcmp(s, "UTIME_OMIT") == 0) {
		ts.tv_nsec = UTIME_OMIT;
		return ts;
	}
	dot = strchr(s, '.');
	if (dot == NULL) {
		ts.tv_sec = (time_t)pc_size(s);
		return ts;
	}
	if ((size_t)(dot - s) >= sizeof(sec) || strlen(dot + 1) != 9)
		pc_usage("bad time \"%s\"", s);
	memcpy(sec, s, (size_t)(dot - s));
	sec[dot - s] = '\0';
	ts.tv_sec = (time_t)pc_size(sec);
	ts.tv_nsec = (long)pc_size(dot + 1);
	return ts;
}

/* utimensat PATH ATIME MTIME [FLAGS]. */
static int
op_utimensat(char **argv, int argc, struct pc_buf *out)
{
	struct timespec ts[2];
	int flags = argc > 3 ? (int)pc_flags(argv[3], pc_at_flags) : 0;

	ts[0] = pc_timespec(argv[1]);
	ts[1] = pc_timespec(argv[2]);
	if (utimensat(AT_FDCWD, argv[0], ts, flags) < 0)
		return errno;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* mknod PATH TYPE MODE [MAJOR MINOR], TYPE one of fifo, sock, chr, blk, reg. */
static int
op_mknod(char **argv, int argc, struct pc_buf *out)
{
	mode_t type;
	dev_t dev = 0;

	if (strcmp(argv[1], "fifo") == 0)
		type = S_IFIFO;
	else if (strcmp(argv[1], "sock") == 0)
		type = S_IFSOCK;
	else if (strcmp(argv[1], "chr") == 0)
		type = S_IFCHR;
	else if (strcmp(argv[1], "blk") == 0)
		type = S_IFBLK;
	else if (strcmp(argv[1], "reg") == 0)
		type = S_IFREG;
	else
		pc_usage("unknown node type \"%s\"", argv[1]);
	if (argc == 5)
		dev = makedev((unsigned int)pc_size(argv[3]), (unsigned int)pc_size(argv[4]));
	else if (argc != 3)
		pc_usage("mknod takes MAJOR and MINOR together");
	if (mknod(argv[0], type | pc_mode(argv[2]), dev) < 0)
		return errno;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* setxattr / lsetxattr PATH NAME VALUE FLAGS; a NAME of "@N" is "user." + N bytes. */
static int
pc_setxattr(char **argv, int nofollow, struct pc_buf *out)
{
	unsigned char *val;
	size_t n = pc_data(argv[2], 0, &val);
	int flags = (int)pc_flags(argv[3], pc_xattr_flags);
	char *name = argv[1];
	int r;

	if (name[0] == '@') {
		long long len = pc_size(name + 1);

		if (len < 0 || len > 1024)
			pc_usage("bad xattr name length");
		name = pc_alloc((size_t)len + 6);
		memcpy(name, "user.", 5);
		memset(name + 5, 'n', (size_t)len);
		name[5 + len] = '\0';
	}
	if (nofollow)
		r = lsetxattr(argv[0], name, val, n, flags);
	else
		r = setxattr(argv[0], name, val, n, flags);
	if (name != argv[1])
		free(name);
	free(val);
	if (r < 0)
		return errno;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* setxattr PATH NAME VALUE FLAGS. */
static int
op_setxattr(char **argv, int argc, struct pc_buf *out)
{
	(void)argc;
	return pc_setxattr(argv, 0, out);
}

/* lsetxattr PATH NAME VALUE FLAGS. */
static int
op_lsetxattr(char **argv, int argc, struct pc_buf *out)
{
	(void)argc;
	return pc_setxattr(argv, 1, out);
}

/*
 * getxattr PATH NAME [SIZE]: the value, escaped ("<empty>" when empty);
 * values over 64 bytes print as their length and hash; SIZE 0 prints the
 * size the kernel reports.
 */
static int
op_getxattr(char **argv, int argc, struct pc_buf *out)
{
	size_t size = argc > 2 ? (size_t)pc_size(argv[2]) : 65536;
	unsigned char *buf;
	ssize_t n;

	if (size > PC_MAX_VALUE)
		pc_usage("bad getxattr size");
	buf = pc_alloc(size);
	n = getxattr(argv[0], argv[1], size == 0 ? NULL : buf, size);
	if (n < 0) {
		int e = errno;

		free(buf);
		return e;
	}
	if (size == 0)
		pc_buf_printf(out, "%zd", n);
	else if (n == 0)
		pc_buf_add(out, "<empty>", 7);
	else if (n > 64)
		pc_buf_printf(out, "%zd:%016" PRIx64, n, pc_fnv(PC_FNV_INIT, buf, (size_t)n));
	else
		pc_buf_escaped(out, buf, (size_t)n);
	free(buf);
	return 0;
}

/* Orders C strings for qsort. */
static int
pc_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * listxattr PATH [SIZE]: the user.* names, sorted and joined by "/"; other
 * namespaces (security.*, system.*) depend on the host and are left out.
 */
static int
op_listxattr(char **argv, int argc, struct pc_buf *out)
{
	size_t size = argc > 1 ? (size_t)pc_size(argv[1]) : 65536;
	char *buf, **names;
	size_t count = 0, k = 0;
	ssize_t n;

	if (size > PC_MAX_VALUE)
		pc_usage("bad listxattr size");
	buf = pc_alloc(size + 1);
	n = listxattr(argv[0], size == 0 ? NULL : buf, size);
	if (n < 0) {
		int e = errno;

		free(buf);
		return e;
	}
	if (size == 0) {
		pc_buf_printf(out, "%zd", n);
		free(buf);
		return 0;
	}
	buf[n] = '\0';
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			count++;
	names = pc_alloc(count * sizeof(*names));
	for (char *p = buf; p < buf + n; p += strlen(p) + 1)
		if (strncmp(p, "user.", 5) == 0)
			names[k++] = p;
	qsort(names, k, sizeof(*names), pc_strcmp);
	for (size_t i = 0; i < k; i++) {
		if (i > 0)
			pc_buf_add(out, "/", 1);
		pc_buf_add(out, names[i], strlen(names[i]));
	}
	if (k == 0)
		pc_buf_add(out, "<none>", 6);
	free(names);
	free(buf);
	return 0;
}

/* removexattr PATH NAME. */
static int
op_removexattr(char **argv, int argc, struct pc_buf *out)
{
	(void)argc;
	if (removexattr(argv[0], argv[1]) < 0)
		return errno;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* access PATH MODE, MODE being F_OK or R_OK,W_OK,X_OK. */
static int
op_access(char **argv, int argc, struct pc_buf *out)
{
	(void)argc;
	if (access(argv[0], (int)pc_flags(argv[1], pc_access_modes)) < 0)
		return errno;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* faccessat PATH MODE FLAGS (AT_EACCESS, AT_SYMLINK_NOFOLLOW). */
static int
op_faccessat(char **argv, int argc, struct pc_buf *out)
{
	int mode = (int)pc_flags(argv[1], pc_access_modes);

	(void)argc;
	if (faccessat(AT_FDCWD, argv[0], mode, (int)pc_flags(argv[2], pc_at_flags)) < 0)
		return errno;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* statfs PATH FIELDS: type, bsize, frsize, namelen, blocks, files, sane. */
static int
op_statfs(char **argv, int argc, struct pc_buf *out)
{
	struct statfs sf;
	char word[32];
	const char *p = argv[1];
	int first = 1;

	(void)argc;
	if (statfs(argv[0], &sf) < 0)
		return errno;
	while (*p != '\0') {
		size_t n = strcspn(p, ",");

		if (n == 0 || n >= sizeof(word))
			pc_usage("bad statfs fields");
		memcpy(word, p, n);
		word[n] = '\0';
		if (!first)
			pc_buf_add(out, ",", 1);
		first = 0;
		if (strcmp(word, "type") == 0)
			pc_buf_printf(out, "0x%jx", (uintmax_t)sf.f_type);
		else if (strcmp(word, "bsize") == 0)
			pc_buf_printf(out, "%jd", (intmax_t)sf.f_bsize);
		else if (strcmp(word, "frsize") == 0)
			pc_buf_printf(out, "%jd", (intmax_t)sf.f_frsize);
		else if (strcmp(word, "namelen") == 0)
			pc_buf_printf(out, "%jd", (intmax_t)sf.f_namelen);
		else if (strcmp(word, "blocks") == 0)
			pc_buf_printf(out, "%ju", (uintmax_t)sf.f_blocks);
		else if (strcmp(word, "files") == 0)
			pc_buf_printf(out, "%ju", (uintmax_t)sf.f_files);
		else if (strcmp(word, "sane") == 0)
			/* Free counts never exceed totals; available never exceeds free. */
			pc_buf_printf(out, "%d",
			              sf.f_bsize > 0 && sf.f_bfree <= sf.f_blocks &&
			                  sf.f_bavail <= sf.f_bfree && sf.f_ffree <= sf.f_files);
		else
			pc_usage("unknown statfs field \"%s\"", word);
		p += n;
		if (*p != '\0')
			p++;
	}
	return 0;
}

/* Reads a directory's names (with . and ..) into a sorted array. */
static int
pc_read_names(const char *path, char ***namesp, size_t *countp)
{
	DIR *d = opendir(path);
	char **names = NULL;
	size_t count = 0, cap = 0;
	struct dirent *de;
	int e = 0;

	if (d == NULL)
		return errno;
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			e = errno;
			break;
		}
		if (count == PC_MAX_ENTRIES) {
			/* A directory that never ends: report it rather than loop. */
			e = EOVERFLOW;
			break;
		}
		if (count == cap) {
			char **p;

			cap = cap ? cap * 2 : 64;
			p = realloc(names, cap * sizeof(*names));
			if (p == NULL) {
				fputs("posixcheck: out of memory\n", stderr);
				exit(3);
			}
			names = p;
		}
		names[count] = strdup(de->d_name);
		if (names[count] == NULL) {
			fputs("posixcheck: out of memory\n", stderr);
			exit(3);
		}
		count++;
	}
	closedir(d);
	qsort(names, count, sizeof(*names), pc_strcmp);
	*namesp = names;
	*countp = count;
	return e;
}

/* readdir PATH: every name including . and .., sorted and joined by "/". */
static int
op_readdir(char **argv, int argc, struct pc_buf *out)
{
	char **names = NULL;
	size_t count = 0;
	int e;

	(void)argc;
	e = pc_read_names(argv[0], &names, &count);
	for (size_t i = 0; i < count; i++) {
		if (e == 0) {
			if (i > 0)
				pc_buf_add(out, "/", 1);
			pc_buf_add(out, names[i], strlen(names[i]));
		}
		free(names[i]);
	}
	free(names);
	return e;
}

/* The DT_* value that matches a stat mode. */
static unsigned char
pc_dtype(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return DT_REG;
	case S_IFDIR:
		return DT_DIR;
	case S_IFLNK:
		return DT_LNK;
	case S_IFIFO:
		return DT_FIFO;
	case S_IFSOCK:
		return DT_SOCK;
	case S_IFCHR:
		return DT_CHR;
	case S_IFBLK:
		return DT_BLK;
	}
	return DT_UNKNOWN;
}

/*
 * dtypes PATH: "0" when every entry's d_type agrees with lstat (DT_UNKNOWN
 * is allowed by Linux and accepted) and every d_ino other than ".." equals
 * st_ino; else "MISMATCH:" and the first name that disagrees.
 */
static int
op_dtypes(char **argv, int argc, struct pc_buf *out)
{
	DIR *d = opendir(argv[0]);
	struct dirent *de;
	int e = 0;

	(void)argc;
	if (d == NULL)
		return errno;
	for (long n = 0;; n++) {
		struct stat st;

		if (n == PC_MAX_ENTRIES) {
			e = EOVERFLOW;
			break;
		}

		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			e = errno;
			break;
		}
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			e = errno;
			break;
		}
		if ((de->d_type != DT_UNKNOWN && de->d_type != pc_dtype(st.st_mode)) ||
		    (strcmp(de->d_name, "..") != 0 && de->d_ino != st.st_ino)) {
			pc_buf_printf(out, "MISMATCH:%.200s", de->d_name);
			closedir(d);
			return 0;
		}
	}
	closedir(d);
	if (e == 0)
		pc_buf_add(out, "0", 1);
	return e;
}

/* mkfiles DIR PREFIX N: creates DIR/PREFIX0000 ... empty files; prints N. */
static int
op_mkfiles(char **argv, int argc, struct pc_buf *out)
{
	long long n = pc_size(argv[2]);
	char path[PATH_MAX];

	(void)argc;
	if (n < 0 || n > PC_MAX_MKFILES)
		pc_usage("bad file count");
	for (long long i = 0; i < n; i++) {
		int fd;

		if (snprintf(path, sizeof(path), "%s/%s%04lld", argv[0], argv[1], i) >=
		    (int)sizeof(path))
			return ENAMETOOLONG;
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0)
			return errno;
		if (close(fd) < 0)
			return errno;
	}
	pc_buf_printf(out, "%lld", n);
	return 0;
}

/*
 * deepdir ROOT NAME DEPTH: mkdir ROOT/NAME, ROOT/NAME/NAME, ... each by its
 * full path, so every level is a fresh lookup; prints the deepest path's length.
 */
static int
op_deepdir(char **argv, int argc, struct pc_buf *out)
{
	long long depth = pc_size(argv[2]);
	size_t len = strlen(argv[0]), nlen = strlen(argv[1]);
	char *path;

	(void)argc;
	if (depth < 1 || depth > PC_MAX_DEPTH)
		pc_usage("bad depth");
	path = pc_alloc(len + (size_t)depth * (nlen + 1) + 1);
	memcpy(path, argv[0], len);
	for (long long i = 0; i < depth; i++) {
		path[len++] = '/';
		memcpy(path + len, argv[1], nlen);
		len += nlen;
		path[len] = '\0';
		if (mkdir(path, 0755) < 0) {
			int e = errno;

			free(path);
			return e;
		}
	}
	free(path);
	pc_buf_printf(out, "%zu", len);
	return 0;
}

/* umask MASK: sets the mask for the operations that follow. */
static int
op_umask(char **argv, int argc, struct pc_buf *out)
{
	(void)argc;
	umask(pc_mode(argv[0]));
	pc_buf_add(out, "0", 1);
	return 0;
}

/* nap MS: sleeps, so that the next change gets a later timestamp. */
static int
op_nap(char **argv, int argc, struct pc_buf *out)
{
	long long ms = pc_size(argv[0]);
	struct timespec ts;

	(void)argc;
	if (ms < 0 || ms > PC_MAX_NAP_MS)
		pc_usage("bad nap");
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	pc_buf_add(out, "0", 1);
	return 0;
}

/* now: the current CLOCK_REALTIME, as stat prints times. */
static int
op_now(char **argv, int argc, struct pc_buf *out)
{
	struct timespec ts;

	(void)argv;
	(void)argc;
	clock_gettime(CLOCK_REALTIME, &ts);
	pc_buf_printf(out, "%jd.%09ld", (intmax_t)ts.tv_sec, ts.tv_nsec);
	return 0;
}

static const struct pc_op pc_ops[] = {
    {"open", 2, 3, op_open, "PATH FLAGS [MODE]"},
    {"openat", 3, 4, op_openat, "DIRFD PATH FLAGS [MODE]"},
    {"creat", 2, 2, op_creat, "PATH MODE"},
    {"close", 1, 1, op_close, "FD"},
    {"write", 2, 2, op_write, "FD DATA"},
    {"pwrite", 3, 3, op_write, "FD OFF DATA"},
    {"read", 2, 2, op_read, "FD LEN"},
    {"pread", 3, 3, op_read, "FD OFF LEN"},
    {"preadsum", 3, 3, op_preadsum, "FD OFF LEN"},
    {"hashfile", 2, 2, op_hashfile, "PATH CHUNK"},
    {"hash", 2, 3, op_hash, "LEN SEED [OFF]"},
    {"writepattern", 4, 4, op_writepattern, "PATH SIZE SEED CHUNK"},
    {"writefile", 2, 2, op_writefile, "PATH DATA"},
    {"readfile", 1, 1, op_readfile, "PATH"},
    {"lseek", 3, 3, op_lseek, "FD OFF WHENCE"},
    {"mmap", 3, 3, op_mmap, "FD LEN shared|private"},
    {"mstore", 3, 3, op_mstore, "@N OFF DATA"},
    {"mload", 3, 3, op_mload, "@N OFF LEN"},
    {"msync", 1, 1, op_msync, "@N"},
    {"fsync", 1, 1, op_fsync, "FD"},
    {"fdatasync", 1, 1, op_fdatasync, "FD"},
    {"ftruncate", 2, 2, op_ftruncate, "FD SIZE"},
    {"truncate", 2, 2, op_truncate, "PATH SIZE"},
    {"fallocate", 4, 4, op_fallocate, "FD MODE OFF LEN"},
    {"copy_file_range", 5, 5, op_copy_file_range, "FDIN OFFIN FDOUT OFFOUT LEN"},
    {"stat", 2, 2, op_stat, "PATH FIELDS"},
    {"lstat", 2, 2, op_lstat, "PATH FIELDS"},
    {"fstat", 2, 2, op_fstat, "FD FIELDS"},
    {"mkdir", 2, 2, op_mkdir, "PATH MODE"},
    {"rmdir", 1, 1, op_rmdir, "PATH"},
    {"unlink", 1, 1, op_unlink, "PATH"},
    {"unlinkat", 3, 3, op_unlinkat, "DIRFD PATH FLAGS"},
    {"rename", 2, 2, op_rename, "FROM TO"},
    {"renameat2", 3, 3, op_renameat2, "FROM TO FLAGS"},
    {"link", 2, 2, op_link, "FROM TO"},
    {"getflags", 1, 1, op_getflags, "PATH"},
    {"setflags", 2, 2, op_setflags, "PATH FLAGS"},
    {"symlink", 2, 2, op_symlink, "TARGET PATH"},
    {"readlink", 1, 2, op_readlink, "PATH [BUFSIZE]"},
    {"chmod", 2, 2, op_chmod, "PATH MODE"},
    {"fchmod", 2, 2, op_fchmod, "FD MODE"},
    {"chown", 3, 3, op_chown, "PATH UID GID"},
    {"lchown", 3, 3, op_lchown, "PATH UID GID"},
    {"fchown", 3, 3, op_fchown, "FD UID GID"},
    {"utimensat", 3, 4, op_utimensat, "PATH ATIME MTIME [FLAGS]"},
    {"mknod", 3, 5, op_mknod, "PATH TYPE MODE [MAJOR MINOR]"},
    {"setxattr", 4, 4, op_setxattr, "PATH NAME VALUE FLAGS"},
    {"lsetxattr", 4, 4, op_lsetxattr, "PATH NAME VALUE FLAGS"},
    {"getxattr", 2, 3, op_getxattr, "PATH NAME [SIZE]"},
    {"listxattr", 1, 2, op_listxattr, "PATH [SIZE]"},
    {"removexattr", 2, 2, op_removexattr, "PATH NAME"},
    {"access", 2, 2, op_access, "PATH MODE"},
    {"faccessat", 3, 3, op_faccessat, "PATH MODE FLAGS"},
    {"statfs", 2, 2, op_statfs, "PATH FIELDS"},
    {"readdir", 1, 1, op_readdir, "PATH"},
    {"dtypes", 1, 1, op_dtypes, "PATH"},
    {"mkfiles", 3, 3, op_mkfiles, "DIR PREFIX N"},
    {"deepdir", 3, 3, op_deepdir, "ROOT NAME DEPTH"},
    {"umask", 1, 1, op_umask, "MASK"},
    {"nap", 1, 1, op_nap, "MS"},
    {"now", 0, 0, op_now, ""},
    {NULL, 0, 0, NULL, NULL},
};

/* Prints every operation's synopsis. */
static void
pc_list_ops(void)
{
	fputs("usage: posixcheck OP ARGS... [: OP ARGS...]... [-e EXPECTED]\n", stderr);
	for (const struct pc_op *op = pc_ops; op->name != NULL; op++)
		fprintf(stderr, "\t%s %s\n", op->name, op->usage);
}

/* Runs the operations, prints the line, and exits as the header says. */
int
main(int argc, char **argv)
{
	struct pc_buf out = {NULL, 0, 0};
	const char *expected = NULL;
	size_t last = 0;
	int i = 1, failed = 0;

	if (argc >= 3 && strcmp(argv[argc - 2], "-e") == 0) {
		expected = argv[argc - 1];
		argc -= 2;
	}
	if (argc < 2) {
		pc_list_ops();
		return 2;
	}
	while (i < argc && !failed) {
		const struct pc_op *op;
		int j = i + 1, e;

		while (j < argc && strcmp(argv[j], ":") != 0)
			j++;
		for (op = pc_ops; op->name != NULL; op++)
			if (strcmp(op->name, argv[i]) == 0)
				break;
		if (op->name == NULL)
			pc_usage("unknown operation \"%s\" (run without arguments for a list)",
			         argv[i]);
		if (j - i - 1 < op->min_args || j - i - 1 > op->max_args)
			pc_usage("usage: %s %s", op->name, op->usage);
		if (out.len > 0)
			pc_buf_add(&out, " ", 1);
		last = out.len;
		e = op->fn(argv + i + 1, j - i - 1, &out);
		if (e != 0) {
			/* Drop any partial output of the failed operation. */
			out.len = last;
			pc_buf_printf(&out, "%s", pc_errno_name(e));
			failed = 1;
		}
		i = j + 1;
	}
	if (i == argc && !failed && argc > 1 && strcmp(argv[argc - 1], ":") == 0)
		pc_usage("trailing \":\"");
	printf("%s\n", out.s != NULL ? out.s : "");
	if (expected != NULL)
		failed = strcmp(out.s != NULL ? out.s + last : "", expected) == 0 ? 0 : 1;
	free(out.s);
	return failed;
}
