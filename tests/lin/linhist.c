/* Parsing linwork histories; see linhist.h. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "tests/lin/linhist.h"

/* Values and read data live in chunks so that pointers to them stay valid. */
struct linhist_chunk {
	struct linhist_chunk *next;
	size_t used, cap;
	uint8_t data[];
};

enum linhist_field {
	LINHIST_F_P,
	LINHIST_F_M,
	LINHIST_F_N,
	LINHIST_F_K,
	LINHIST_F_OP,
	LINHIST_F_INO,
	LINHIST_F_V,
	LINHIST_F_DATA,
	LINHIST_F_T0,
	LINHIST_F_T1,
	LINHIST_F_RES,
	LINHIST_F_max
};

static const char *const linhist_field_names[LINHIST_F_max] = {
    "p", "m", "n", "k", "op", "ino", "v", "data", "t0", "t1", "res",
};

static const char *const linhist_kind_names[LINHIST_KIND_max] = {
    "open_r",      "read",   "trunc",  "write", "put",   "creat_excl", "unlink",
    "rename_away", "open_a", "append", "mkdir", "rmdir", "stat",  "trunc_data",
};

/* One line's fields, pointing into the text. */
struct linhist_rec {
	int have[LINHIST_F_max];
	const char *val[LINHIST_F_max];
	size_t len[LINHIST_F_max];
	uint64_t p, m, n, ino, t0, t1;
	enum linhist_kind kind;
};

/* The parser's working state. */
struct linhist_pctx {
	struct linhist *h;
	size_t line;
	char *err;
	size_t errlen;
	uint32_t *pn_tab; /* (p, n) -> op index + 1 */
	size_t pn_cap;
	uint32_t *key_tab; /* key name -> key index + 1 */
	size_t key_cap;
	uint64_t *procs; /* distinct p seen, open addressing, value p + 1 */
	size_t procs_cap;
};

/* The op= name of a kind. */
const char *
linhist_kind_name(enum linhist_kind k)
{
	return k < LINHIST_KIND_max ? linhist_kind_names[k] : "?";
}

/* True for kinds that change the filesystem. */
int
linhist_kind_mutates(enum linhist_kind k)
{
	switch (k) {
	case LINHIST_OPEN_R:
	case LINHIST_READ:
	case LINHIST_OPEN_A:
	case LINHIST_STAT:
		return 0;
	default:
		return 1;
	}
}

/* True for kinds that act on a directory key. */
int
linhist_kind_is_dir(enum linhist_kind k)
{
	return k == LINHIST_MKDIR || k == LINHIST_RMDIR || k == LINHIST_STAT;
}

/* The errno a kind may fail with as part of the model; NULL when none. */
static const char *
linhist_expected_errno(enum linhist_kind k)
{
	switch (k) {
	case LINHIST_OPEN_R:
	case LINHIST_OPEN_A:
	case LINHIST_UNLINK:
	case LINHIST_RENAME_AWAY:
	case LINHIST_RMDIR:
	case LINHIST_STAT:
		return "ENOENT";
	case LINHIST_CREAT_EXCL:
	case LINHIST_MKDIR:
		return "EEXIST";
	default:
		return NULL;
	}
}

/* Records a parse error for the current line; always returns -1. */
static int __attribute__((format(printf, 2, 3)))
linhist_error(struct linhist_pctx *pc, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(pc->err, pc->errlen, "line %zu: ", pc->line);
	if (n < 0 || (size_t)n >= pc->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(pc->err + n, pc->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	/* Messages quote the input, which may be any bytes: keep them printable. */
	for (char *p = pc->err; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	return -1;
}

/* Copies len bytes into the history's chunks. */
static uint8_t *
linhist_alloc(struct linhist *h, size_t len)
{
	struct linhist_chunk *c = h->chunks;
	uint8_t *p;

	if (c == NULL || c->cap - c->used < len) {
		size_t cap = len > (1u << 20) ? len : (1u << 20);

		c = xmalloc(sizeof(*c) + cap);
		c->next = h->chunks;
		c->used = 0;
		c->cap = cap;
		h->chunks = c;
	}
	p = c->data + c->used;
	c->used += len;
	return p;
}

/* 64-bit mix (splitmix64's finaliser) for the hash tables of tests/lin. */
uint64_t
linhist_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

/* FNV-1a over a string, mixed. */
static uint64_t
linhist_hash_str(const char *s, size_t len)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)s[i];
		h *= UINT64_C(0x100000001b3);
	}
	return linhist_mix(h);
}

/* Parses an unsigned decimal number; 0 on success. */
static int
linhist_number(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* True for "ok" or an errno-like name (E followed by capitals, digits and '_'). */
static int
linhist_valid_res(const char *s, size_t len)
{
	if (len == 2 && memcmp(s, "ok", 2) == 0)
		return 1;
	if (len < 2 || len >= sizeof(((struct linhist_op *)0)->res) || s[0] != 'E')
		return 0;
	for (size_t i = 1; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

/* Value of one hex digit, or -1. */
static int
linhist_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Splits one line into fields and checks each on its own. */
static int
linhist_parse_line(struct linhist_pctx *pc, const char *s, const char *e, struct linhist_rec *r)
{
	memset(r, 0, sizeof(*r));
	while (s < e) {
		const char *tok, *eq;
		size_t klen;
		int f;

		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		if (s == e)
			break;
		tok = s;
		while (s < e && *s != ' ' && *s != '\t')
			s++;
		eq = memchr(tok, '=', (size_t)(s - tok));
		if (eq == NULL)
			return linhist_error(pc, "'%.*s' is not key=value", (int)(s - tok), tok);
		klen = (size_t)(eq - tok);
		for (f = 0; f < LINHIST_F_max; f++)
			if (strlen(linhist_field_names[f]) == klen &&
			    memcmp(tok, linhist_field_names[f], klen) == 0)
				break;
		if (f == LINHIST_F_max)
			return linhist_error(pc, "unknown field '%.*s'", (int)klen, tok);
		if (r->have[f])
			return linhist_error(pc, "field '%s' given twice", linhist_field_names[f]);
		r->have[f] = 1;
		r->val[f] = eq + 1;
		r->len[f] = (size_t)(s - eq - 1);
	}

	static const int needed[] = {LINHIST_F_P, LINHIST_F_M,  LINHIST_F_N,
	                             LINHIST_F_K, LINHIST_F_OP, LINHIST_F_T0};
	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++)
		if (!r->have[needed[i]])
			return linhist_error(pc, "field '%s' missing",
			                     linhist_field_names[needed[i]]);
	if (r->have[LINHIST_F_T1] != r->have[LINHIST_F_RES])
		return linhist_error(pc, "t1 and res come together (a completion) or not at all "
		                         "(an invocation)");

	struct {
		int f;
		uint64_t *out;
		uint64_t max;
	} nums[] = {
	    {LINHIST_F_P, &r->p, UINT32_MAX},       {LINHIST_F_M, &r->m, UINT32_MAX},
	    {LINHIST_F_N, &r->n, UINT64_MAX},       {LINHIST_F_INO, &r->ino, LINHIST_INO_MAX},
	    {LINHIST_F_T0, &r->t0, UINT64_MAX - 1}, {LINHIST_F_T1, &r->t1, UINT64_MAX - 1},
	};
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		int f = nums[i].f;

		if (!r->have[f])
			continue;
		if (linhist_number(r->val[f], r->len[f], nums[i].out) != 0 ||
		    *nums[i].out > nums[i].max)
			return linhist_error(pc, "%s='%.*s' is not a number in range",
			                     linhist_field_names[f], (int)r->len[f], r->val[f]);
	}
	if (r->have[LINHIST_F_INO] && r->ino == 0)
		return linhist_error(pc, "ino=0 names no inode");
	if (r->have[LINHIST_F_T1] && r->t1 < r->t0)
		return linhist_error(pc, "t1 is before t0");
	if (r->len[LINHIST_F_K] == 0)
		return linhist_error(pc, "empty key");

	int k;
	for (k = 0; k < LINHIST_KIND_max; k++)
		if (strlen(linhist_kind_names[k]) == r->len[LINHIST_F_OP] &&
		    memcmp(r->val[LINHIST_F_OP], linhist_kind_names[k], r->len[LINHIST_F_OP]) == 0)
			break;
	if (k == LINHIST_KIND_max)
		return linhist_error(pc, "unknown op '%.*s'", (int)r->len[LINHIST_F_OP],
		                     r->val[LINHIST_F_OP]);
	r->kind = (enum linhist_kind)k;

	if (r->have[LINHIST_F_RES] &&
	    !linhist_valid_res(r->val[LINHIST_F_RES], r->len[LINHIST_F_RES]))
		return linhist_error(pc, "res='%.*s' is neither ok nor an errno name",
		                     (int)r->len[LINHIST_F_RES], r->val[LINHIST_F_RES]);
	if (r->have[LINHIST_F_DATA]) {
		if (r->len[LINHIST_F_DATA] % 2 != 0)
			return linhist_error(pc, "data= holds an odd number of hex digits");
		for (size_t i = 0; i < r->len[LINHIST_F_DATA]; i++)
			if (linhist_hexval(r->val[LINHIST_F_DATA][i]) < 0)
				return linhist_error(pc, "data= holds a non-hex character");
	}
	return 0;
}

/* Finds or adds a key by name. */
static uint32_t
linhist_key(struct linhist_pctx *pc, const char *name, size_t len)
{
	struct linhist *h = pc->h;
	size_t mask, i;

	if (2 * (h->nkeys + 1) > pc->key_cap) {
		size_t cap = pc->key_cap ? 2 * pc->key_cap : 64;
		uint32_t *tab = xcalloc(cap, sizeof(*tab));

		for (size_t k = 0; k < h->nkeys; k++) {
			const char *nm = h->keys[k].name;

			i = linhist_hash_str(nm, strlen(nm)) & (cap - 1);
			while (tab[i])
				i = (i + 1) & (cap - 1);
			tab[i] = (uint32_t)k + 1;
		}
		free(pc->key_tab);
		pc->key_tab = tab;
		pc->key_cap = cap;
	}
	mask = pc->key_cap - 1;
	for (i = linhist_hash_str(name, len) & mask; pc->key_tab[i]; i = (i + 1) & mask) {
		uint32_t k = pc->key_tab[i] - 1;

		if (strlen(h->keys[k].name) == len && memcmp(h->keys[k].name, name, len) == 0)
			return k;
	}
	if (h->nkeys == h->capkeys) {
		h->capkeys = h->capkeys ? 2 * h->capkeys : 16;
		h->keys = xrealloc(h->keys, h->capkeys * sizeof(*h->keys));
	}
	h->keys[h->nkeys].name = xmalloc(len + 1);
	memcpy(h->keys[h->nkeys].name, name, len);
	h->keys[h->nkeys].name[len] = '\0';
	h->keys[h->nkeys].is_dir = -1;
	h->keys[h->nkeys].nops = 0;
	pc->key_tab[i] = (uint32_t)h->nkeys + 1;
	return (uint32_t)h->nkeys++;
}

/* The slot of (p, n) in the merge table; *found tells whether it holds that op. */
static size_t
linhist_pn_slot(struct linhist_pctx *pc, uint64_t p, uint64_t n, int *found)
{
	size_t mask = pc->pn_cap - 1, i;

	for (i = linhist_mix(p * UINT64_C(0x9e3779b97f4a7c15) ^ n) & mask; pc->pn_tab[i];
	     i = (i + 1) & mask) {
		const struct linhist_op *op = &pc->h->ops[pc->pn_tab[i] - 1];

		if (op->p == p && op->n == n) {
			*found = 1;
			return i;
		}
	}
	*found = 0;
	return i;
}

/* Grows the merge table so that it stays at most half full. */
static void
linhist_pn_grow(struct linhist_pctx *pc)
{
	size_t cap = pc->pn_cap ? 2 * pc->pn_cap : 1024;
	uint32_t *old = pc->pn_tab;
	size_t oldcap = pc->pn_cap;

	pc->pn_tab = xcalloc(cap, sizeof(*pc->pn_tab));
	pc->pn_cap = cap;
	for (size_t i = 0; i < oldcap; i++) {
		int found;
		const struct linhist_op *op;

		if (!old[i])
			continue;
		op = &pc->h->ops[old[i] - 1];
		pc->pn_tab[linhist_pn_slot(pc, op->p, op->n, &found)] = old[i];
	}
	free(old);
}

/* Counts distinct processes. */
static void
linhist_note_proc(struct linhist_pctx *pc, uint64_t p)
{
	size_t mask, i;

	if (2 * (pc->h->nprocs + 1) > pc->procs_cap) {
		size_t cap = pc->procs_cap ? 2 * pc->procs_cap : 64;
		uint64_t *tab = xcalloc(cap, sizeof(*tab));

		for (size_t k = 0; k < pc->procs_cap; k++) {
			if (!pc->procs[k])
				continue;
			i = linhist_mix(pc->procs[k]) & (cap - 1);
			while (tab[i])
				i = (i + 1) & (cap - 1);
			tab[i] = pc->procs[k];
		}
		free(pc->procs);
		pc->procs = tab;
		pc->procs_cap = cap;
	}
	mask = pc->procs_cap - 1;
	for (i = linhist_mix(p + 1) & mask; pc->procs[i]; i = (i + 1) & mask)
		if (pc->procs[i] == p + 1)
			return;
	pc->procs[i] = p + 1;
	pc->h->nprocs++;
}

/* Copies the value-like fields of a record into an op. */
static void
linhist_fill(struct linhist_pctx *pc, struct linhist_op *op, const struct linhist_rec *r)
{
	if (r->have[LINHIST_F_INO]) {
		op->has_ino = 1;
		op->ino = r->ino;
	}
	if (r->have[LINHIST_F_V]) {
		uint8_t *v = linhist_alloc(pc->h, r->len[LINHIST_F_V]);

		memcpy(v, r->val[LINHIST_F_V], r->len[LINHIST_F_V]);
		op->has_val = 1;
		op->val = v;
		op->vlen = r->len[LINHIST_F_V];
	}
	if (r->have[LINHIST_F_DATA]) {
		size_t n = r->len[LINHIST_F_DATA] / 2;
		const char *d = r->val[LINHIST_F_DATA];
		uint8_t *v = linhist_alloc(pc->h, n);

		for (size_t i = 0; i < n; i++)
			v[i] =
			    (uint8_t)(linhist_hexval(d[2 * i]) << 4 | linhist_hexval(d[2 * i + 1]));
		op->has_val = 1;
		op->val = v;
		op->vlen = n;
	}
	if (r->have[LINHIST_F_RES]) {
		memcpy(op->res, r->val[LINHIST_F_RES], r->len[LINHIST_F_RES]);
		op->res[r->len[LINHIST_F_RES]] = '\0';
		op->t1 = r->t1;
	}
	op->line = pc->line;
}

/* Adds a record as a new op or completes the invocation it answers. */
static int
linhist_merge(struct linhist_pctx *pc, const struct linhist_rec *r)
{
	struct linhist *h = pc->h;
	struct linhist_op *op;
	uint32_t key;
	size_t slot;
	int found;

	key = linhist_key(pc, r->val[LINHIST_F_K], r->len[LINHIST_F_K]);
	if (h->keys[key].is_dir < 0)
		h->keys[key].is_dir = linhist_kind_is_dir(r->kind);
	else if (h->keys[key].is_dir != linhist_kind_is_dir(r->kind))
		return linhist_error(pc, "%s on key '%s', which other records use as a %s",
		                     linhist_kind_names[r->kind], h->keys[key].name,
		                     h->keys[key].is_dir ? "directory" : "file");

	if (2 * (h->nops + 1) > pc->pn_cap)
		linhist_pn_grow(pc);
	slot = linhist_pn_slot(pc, r->p, r->n, &found);
	if (found) {
		op = &h->ops[pc->pn_tab[slot] - 1];
		if (!r->have[LINHIST_F_RES])
			return linhist_error(pc,
			                     "second invocation of p=%" PRIu64 " n=%" PRIu64
			                     " (first on line %zu)",
			                     r->p, r->n, op->line);
		if (op->t1 != LINHIST_NEVER)
			return linhist_error(
			    pc, "p=%" PRIu64 " n=%" PRIu64 " completed twice (first on line %zu)",
			    r->p, r->n, op->line);
		if (op->key != key || op->kind != r->kind || op->t0 != r->t0 || op->m != r->m)
			return linhist_error(pc,
			                     "completion of p=%" PRIu64 " n=%" PRIu64
			                     " disagrees with its invocation on line %zu",
			                     r->p, r->n, op->line);
		if (op->has_ino && r->have[LINHIST_F_INO] && op->ino != r->ino)
			return linhist_error(pc, "ino differs from the invocation's on line %zu",
			                     op->line);
		if (op->has_val && r->have[LINHIST_F_V] &&
		    (op->vlen != r->len[LINHIST_F_V] ||
		     memcmp(op->val, r->val[LINHIST_F_V], op->vlen) != 0))
			return linhist_error(pc, "v differs from the invocation's on line %zu",
			                     op->line);
		linhist_fill(pc, op, r);
		return 0;
	}

	if (h->nops == h->capops) {
		h->capops = h->capops ? 2 * h->capops : 1024;
		h->ops = xrealloc(h->ops, h->capops * sizeof(*h->ops));
	}
	op = &h->ops[h->nops];
	memset(op, 0, sizeof(*op));
	op->p = (uint32_t)r->p;
	op->m = (uint32_t)r->m;
	op->n = r->n;
	op->key = key;
	op->kind = r->kind;
	op->t0 = r->t0;
	op->t1 = LINHIST_NEVER;
	linhist_fill(pc, op, r);
	pc->pn_tab[slot] = (uint32_t)h->nops + 1;
	h->nops++;
	h->keys[key].nops++;
	linhist_note_proc(pc, r->p);
	return 0;
}

/*
 * open(O_TRUNC) is two steps on Linux, not one: the path is resolved to an
 * inode (and a missing file created) under the directory's lock, and the
 * inode is truncated afterwards, without it, so that a rename can move the
 * file away in between (path_openat: open_last_lookups, then do_open and
 * handle_truncate).  A trunc that returned an inode therefore gets a second,
 * synthetic op over the same interval, trunc_data, which empties that inode
 * and may be ordered anywhere in the interval; the trunc itself only
 * observes the binding (or creates the file, empty).
 */
static void
linhist_split_truncs(struct linhist *h)
{
	size_t n = h->nops, extra = 0;

	for (size_t i = 0; i < n; i++)
		extra += h->ops[i].kind == LINHIST_TRUNC && h->ops[i].status == LINHIST_OK;
	if (extra == 0)
		return;
	if (h->nops + extra > h->capops) {
		h->capops = h->nops + extra;
		h->ops = xrealloc(h->ops, h->capops * sizeof(*h->ops));
	}
	for (size_t i = 0; i < n; i++) {
		struct linhist_op *d;

		if (h->ops[i].kind != LINHIST_TRUNC || h->ops[i].status != LINHIST_OK)
			continue;
		d = &h->ops[h->nops++];
		*d = h->ops[i];
		d->kind = LINHIST_TRUNC_DATA;
		d->synthetic = 1;
		h->keys[d->key].nops++;
	}
}

/* Checks the fields each kind needs, and sets every op's status. */
static int
linhist_finish(struct linhist_pctx *pc)
{
	struct linhist *h = pc->h;

	h->tmin = UINT64_MAX;
	h->tmax = 0;
	for (size_t i = 0; i < h->nops; i++) {
		struct linhist_op *op = &h->ops[i];
		enum linhist_kind k = op->kind;
		int done = op->t1 != LINHIST_NEVER;
		int ok = done && strcmp(op->res, "ok") == 0;
		/*
		 * A write, append or trunc that failed with ESTALE did nothing: the
		 * op's one request found its inode gone (linwork names an ESTALE
		 * of a later call, fsync or fstat, ESTALE_LATE).
		 */
		int stale = done && strcmp(op->res, "ESTALE") == 0;
		const char *exp = linhist_expected_errno(k);
		int wants_val = k == LINHIST_WRITE || k == LINHIST_APPEND || k == LINHIST_PUT;
		int ino_input = wants_val || k == LINHIST_READ || k == LINHIST_TRUNC_DATA;
		int ino_result = k == LINHIST_OPEN_R || k == LINHIST_OPEN_A || k == LINHIST_TRUNC ||
		                 k == LINHIST_CREAT_EXCL;

		pc->line = op->line;
		if (ino_input && !op->has_ino)
			return linhist_error(pc, "%s needs ino=", linhist_kind_names[k]);
		if (ino_result && ok && !op->has_ino)
			return linhist_error(pc, "%s res=ok needs ino=", linhist_kind_names[k]);
		if (!ino_input && !ino_result && op->has_ino)
			return linhist_error(pc, "%s takes no ino=", linhist_kind_names[k]);
		if (wants_val && !op->has_val)
			return linhist_error(pc, "%s needs v=", linhist_kind_names[k]);
		if (k == LINHIST_READ && ok && !op->has_val)
			return linhist_error(pc, "read res=ok needs data=");
		if (!wants_val && k != LINHIST_READ && op->has_val)
			return linhist_error(pc, "%s takes no v= or data=", linhist_kind_names[k]);

		if (ok)
			op->status = LINHIST_OK;
		else if (done && exp != NULL && strcmp(op->res, exp) == 0)
			op->status = LINHIST_EXPECTED;
		else if (stale && (k == LINHIST_WRITE || k == LINHIST_APPEND || k == LINHIST_TRUNC))
			op->status = LINHIST_NOEFFECT;
		else if (linhist_kind_mutates(k))
			op->status = LINHIST_INDET;
		else
			op->status = LINHIST_DROPPED;
		/*
		 * ESTALE is the chain's own answer (the inode was gone), given after
		 * every request of the call was answered: whatever the call did, it
		 * did before it returned.  A timeout (EIO) may leave a request in
		 * flight, to be applied later: that one stays open-ended.
		 */
		op->settled = op->status == LINHIST_INDET &&
		              (stale || (done && strcmp(op->res, "ESTALE_LATE") == 0));
		if (op->t0 < h->tmin)
			h->tmin = op->t0;
		if (op->t0 > h->tmax)
			h->tmax = op->t0;
		if (done && op->t1 > h->tmax)
			h->tmax = op->t1;
	}
	if (h->nops == 0)
		h->tmin = 0;
	linhist_split_truncs(h);
	return 0;
}

/* Parses a history held in memory. */
int
linhist_parse(const char *text, size_t len, struct linhist **out, char *err, size_t errlen)
{
	struct linhist_pctx pc;
	const char *s = text, *end = text + len;
	int rc = 0;

	memset(&pc, 0, sizeof(pc));
	pc.h = xcalloc(1, sizeof(*pc.h));
	pc.err = err;
	pc.errlen = errlen;
	if (errlen > 0)
		err[0] = '\0';
	while (s < end && rc == 0) {
		const char *e = memchr(s, '\n', (size_t)(end - s)), *le, *q;
		struct linhist_rec r;
		size_t llen;

		if (e == NULL)
			e = end;
		pc.line++;
		llen = (size_t)(e - s);
		if (llen > 0 && s[llen - 1] == '\r')
			llen--;
		le = s + llen;
		if (memchr(s, '\0', llen) != NULL) {
			rc = linhist_error(&pc, "NUL byte in the line");
			break;
		}
		for (q = s; q < le && (*q == ' ' || *q == '\t'); q++)
			;
		/* Blank lines and # comments make hand-written histories readable. */
		if (q < le && *q != '#') {
			rc = linhist_parse_line(&pc, s, le, &r);
			if (rc == 0)
				rc = linhist_merge(&pc, &r);
		}
		s = e < end ? e + 1 : end;
	}
	if (rc == 0)
		rc = linhist_finish(&pc);
	free(pc.pn_tab);
	free(pc.key_tab);
	free(pc.procs);
	if (rc != 0) {
		linhist_free(pc.h);
		*out = NULL;
		return -1;
	}
	*out = pc.h;
	return 0;
}

/* Reads a whole history file and parses it. */
int
linhist_load(const char *path, struct linhist **out, char *err, size_t errlen)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int rc;

	*out = NULL;
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		size_t n;

		if (cap - len < (1u << 16)) {
			cap = cap ? 2 * cap : (1u << 20);
			buf = xrealloc(buf, cap);
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		if (f != stdin)
			fclose(f);
		free(buf);
		return -1;
	}
	if (f != stdin)
		fclose(f);
	rc = linhist_parse(buf, len, out, err, errlen);
	if (rc != 0) {
		/* Name the file too: "FILE: line N: why". */
		char tmp[512];

		snprintf(tmp, sizeof(tmp), "%s", err);
		snprintf(err, errlen, "%s: %s", path, tmp);
	}
	free(buf);
	return rc;
}

/* Frees a history and everything it points to. */
void
linhist_free(struct linhist *h)
{
	if (h == NULL)
		return;
	while (h->chunks != NULL) {
		struct linhist_chunk *c = h->chunks;

		h->chunks = c->next;
		free(c);
	}
	for (size_t i = 0; i < h->nkeys; i++)
		free(h->keys[i].name);
	free(h->keys);
	free(h->ops);
	free(h);
}
