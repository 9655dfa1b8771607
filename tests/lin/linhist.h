/*
 * The history of a linwork run (format in tests/lin/README.md): one record
 * per line, key=value tokens.  An invocation record (no t1, no res) and the
 * later record with the same (p, n) are merged into one operation; an
 * invocation nobody completed stays as an operation that never returned.
 * Allocation policy: die on failure (xmalloc, common/log.h); a malformed
 * history is an error naming the line, never a crash.
 */
#ifndef LINHIST_H
#define LINHIST_H

#include <stddef.h>
#include <stdint.h>

/* Operation kinds, in the order of linhist_kind_name(); op= in the history. */
enum linhist_kind {
	LINHIST_OPEN_R,      /* open O_RDONLY: observes the binding */
	LINHIST_READ,        /* read an open inode to EOF: observes its contents */
	LINHIST_TRUNC,       /* open O_CREAT|O_TRUNC: creates or empties */
	LINHIST_WRITE,       /* pwrite at 0 on an open inode */
	LINHIST_PUT,         /* rename a private tmp file over the key */
	LINHIST_CREAT_EXCL,  /* open O_CREAT|O_EXCL */
	LINHIST_UNLINK,      /* unlink */
	LINHIST_RENAME_AWAY, /* rename the key to a private name */
	LINHIST_OPEN_A,      /* open O_APPEND without O_CREAT: observes the binding */
	LINHIST_APPEND,      /* write on an O_APPEND descriptor */
	LINHIST_MKDIR,       /* directory key: mkdir */
	LINHIST_RMDIR,       /* directory key: rmdir */
	LINHIST_STAT,        /* directory key: stat */
	LINHIST_TRUNC_DATA,  /* the truncation half of a trunc (see linhist_finish) */
	LINHIST_KIND_max
};

/* What an operation's result means to the checker. */
enum linhist_status {
	LINHIST_OK,       /* res=ok */
	LINHIST_EXPECTED, /* the errno the model can predict (ENOENT, EEXIST) */
	LINHIST_INDET,    /* a mutation that failed otherwise or never returned: it took
	                     effect at some point after its invocation, or never */
	LINHIST_DROPPED,  /* a read-only op that failed otherwise: it claims nothing */
	LINHIST_NOEFFECT, /* a write, append or trunc whose own call found its file gone
	                     (ESTALE): it did nothing, and is left out like a failed read */
};

/* t1 of an operation that never returned. */
#define LINHIST_NEVER UINT64_MAX
/* Inode numbers the history may name: 1 .. LINHIST_INO_MAX. */
#define LINHIST_INO_MAX ((UINT64_C(1) << 63) - 1)

struct linhist_op {
	uint32_t p, m; /* process (global index) and mount */
	uint64_t n;    /* the process's op sequence number */
	uint32_t key;  /* index into linhist.keys */
	enum linhist_kind kind;
	enum linhist_status status;
	char res[24]; /* "ok", an errno name, or "" when it never returned */
	int has_ino;
	uint64_t ino; /* input (read, write, append, put) or result (opens, trunc) */
	int has_val;
	const uint8_t *val; /* v= of write, append, put; data= of read (decoded) */
	size_t vlen;
	uint64_t t0, t1; /* CLOCK_MONOTONIC ns; t1 LINHIST_NEVER when it never returned */
	size_t line;     /* the line that completed it (or invoked it, if nothing did) */
	int synthetic;   /* made by the parser from another op, not counted as one */
	int settled;     /* indeterminate, but any effect it had was over when it returned */
};

struct linhist_key {
	char *name;
	int is_dir;
	size_t nops;
};

struct linhist_chunk;

struct linhist {
	struct linhist_op *ops;
	size_t nops, capops;
	struct linhist_key *keys;
	size_t nkeys, capkeys;
	uint32_t nprocs;              /* distinct p */
	uint64_t tmin, tmax;          /* first invocation, last completion (or invocation) */
	struct linhist_chunk *chunks; /* values and data, never moved */
};

/* Parses a history held in memory; 0, or -1 with "line N: why" in err. */
int linhist_parse(const char *text, size_t len, struct linhist **out, char *err, size_t errlen);
/* Reads and parses a history file ("-" is stdin); 0, or -1 with the reason in err. */
int linhist_load(const char *path, struct linhist **out, char *err, size_t errlen);
void linhist_free(struct linhist *h);

/* splitmix64's finaliser: the one 64-bit mix of every hash table in tests/lin. */
uint64_t linhist_mix(uint64_t x);

/* The op= name of a kind. */
const char *linhist_kind_name(enum linhist_kind k);
/* True for kinds that change the filesystem (their failures are indeterminate). */
int linhist_kind_mutates(enum linhist_kind k);
/* True for kinds that act on a directory key. */
int linhist_kind_is_dir(enum linhist_kind k);

#endif
