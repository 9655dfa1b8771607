/* The file and directory model and its interned states; see linmodel.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "tests/lin/linmodel.h"

/* A change to a state that linmodel_commit() turns into a state. */
struct linmodel_edit {
	uint64_t binding;
	int set; /* contents of set_ino become part1 ++ part2 */
	uint64_t set_ino;
	const uint8_t *part1, *part2;
	size_t len1, len2;
};

/* Hash of n bytes, a word at a time. */
static uint64_t
linmodel_hash(const uint8_t *p, size_t n)
{
	uint64_t h = UINT64_C(0x243f6a8885a308d3) ^ n;
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		h = (h ^ w) * UINT64_C(0x9e3779b97f4a7c15);
		h ^= h >> 29;
	}
	if (i < n) {
		uint64_t w = 0;

		memcpy(&w, p + i, n - i);
		h = (h ^ w) * UINT64_C(0x9e3779b97f4a7c15);
	}
	return linhist_mix(h);
}

/* Size of a state with its entries and bytes. */
static size_t
linmodel_size(const struct linmodel_state *s)
{
	return sizeof(*s) + s->nent * sizeof(s->ent[0]) + s->ndata;
}

/* Adds a state to the intern table's slot array. */
static void
linmodel_tab_put(uint32_t *tab, size_t cap, const struct linmodel_state *s, uint32_t id)
{
	size_t i = s->hash & (cap - 1);

	while (tab[i])
		i = (i + 1) & (cap - 1);
	tab[i] = id + 1;
}

/* Returns the id of a state equal to the one in scratch, adding it if new. */
static uint32_t
linmodel_intern(struct linmodel *md, const struct linmodel_state *s)
{
	size_t size = linmodel_size(s), mask, i;
	struct linmodel_state *copy;

	if (2 * (md->nstates + 1) > md->tabcap) {
		size_t cap = md->tabcap ? 2 * md->tabcap : 1024;
		uint32_t *tab = xcalloc(cap, sizeof(*tab));

		for (uint32_t id = 0; id < md->nstates; id++)
			linmodel_tab_put(tab, cap, md->states[id], id);
		free(md->tab);
		md->tab = tab;
		md->tabcap = cap;
	}
	mask = md->tabcap - 1;
	for (i = s->hash & mask; md->tab[i]; i = (i + 1) & mask) {
		const struct linmodel_state *t = md->states[md->tab[i] - 1];

		/* Entries and bytes are canonical (sorted, packed), so bytes compare. */
		if (t->hash == s->hash && linmodel_size(t) == size && memcmp(t, s, size) == 0)
			return md->tab[i] - 1;
	}
	if (md->nstates == md->capstates) {
		md->capstates = md->capstates ? 2 * md->capstates : 1024;
		md->states = xrealloc(md->states, md->capstates * sizeof(*md->states));
	}
	copy = xmalloc(size);
	memcpy(copy, s, size);
	md->bytes += size + sizeof(*md->states) + 2 * sizeof(*md->tab);
	md->states[md->nstates] = copy;
	md->tab[i] = md->nstates + 1;
	return md->nstates++;
}

/* Sets up the store with the initial state. */
void
linmodel_init(struct linmodel *md)
{
	struct linmodel_state s;

	memset(md, 0, sizeof(*md));
	memset(&s, 0, sizeof(s));
	s.binding = LINMODEL_ABSENT;
	s.hash = linmodel_hash((const uint8_t *)&s + sizeof(s.hash), sizeof(s) - sizeof(s.hash));
	linmodel_intern(md, &s);
}

/* Frees every state. */
void
linmodel_free(struct linmodel *md)
{
	for (uint32_t i = 0; i < md->nstates; i++)
		free(md->states[i]);
	free(md->states);
	free(md->tab);
	free(md->ref_ino);
	free(md->ref_cnt);
	free(md->scratch);
	memset(md, 0, sizeof(*md));
}

/* The state with this id. */
const struct linmodel_state *
linmodel_state(const struct linmodel *md, uint32_t id)
{
	return md->states[id];
}

/* The entry of ino, by binary search. */
const struct linmodel_ent *
linmodel_find(const struct linmodel_state *s, uint64_t ino)
{
	uint32_t lo = 0, hi = s->nent;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (s->ent[mid].ino == ino)
			return &s->ent[mid];
		if (s->ent[mid].ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The bytes an entry describes. */
const uint8_t *
linmodel_bytes(const struct linmodel_state *s, const struct linmodel_ent *e)
{
	return (const uint8_t *)&s->ent[s->nent] + e->off;
}

/* The inode whose contents op reads or changes in place; 0 for none. */
static uint64_t
linmodel_op_ref(const struct linhist_op *op)
{
	switch (op->kind) {
	case LINHIST_READ:
	case LINHIST_WRITE:
	case LINHIST_APPEND:
		return op->ino;
	default:
		return 0;
	}
}

/* The slot of ino in the reference table. */
static size_t
linmodel_ref_slot(const struct linmodel *md, uint64_t ino)
{
	size_t mask = md->refcap - 1, i;

	for (i = linhist_mix(ino) & mask; md->ref_ino[i] && md->ref_ino[i] != ino;
	     i = (i + 1) & mask)
		;
	return i;
}

/* Pending operations on the contents of ino. */
static uint32_t
linmodel_refs(const struct linmodel *md, uint64_t ino)
{
	size_t i;

	if (md->refcap == 0)
		return 0;
	i = linmodel_ref_slot(md, ino);
	return md->ref_ino[i] == ino ? md->ref_cnt[i] : 0;
}

/* Counts op as pending or done on the inode it uses. */
void
linmodel_ref(struct linmodel *md, const struct linhist_op *op, int delta)
{
	uint64_t ino = linmodel_op_ref(op);
	size_t i;

	if (ino == 0)
		return;
	if (2 * (md->nref + 1) > md->refcap) {
		size_t cap = md->refcap ? 2 * md->refcap : 256;
		uint64_t *oino = md->ref_ino;
		uint32_t *ocnt = md->ref_cnt;
		size_t ocap = md->refcap;

		md->ref_ino = xcalloc(cap, sizeof(*md->ref_ino));
		md->ref_cnt = xcalloc(cap, sizeof(*md->ref_cnt));
		md->refcap = cap;
		for (size_t k = 0; k < ocap; k++) {
			if (!oino[k])
				continue;
			i = linmodel_ref_slot(md, oino[k]);
			md->ref_ino[i] = oino[k];
			md->ref_cnt[i] = ocnt[k];
		}
		free(oino);
		free(ocnt);
	}
	i = linmodel_ref_slot(md, ino);
	if (md->ref_ino[i] == 0) {
		md->ref_ino[i] = ino;
		md->nref++;
	}
	md->ref_cnt[i] = (uint32_t)((int64_t)md->ref_cnt[i] + delta);
}

/* Makes room for n bytes of scratch. */
static void
linmodel_scratch(struct linmodel *md, size_t n)
{
	if (md->scratchcap < n) {
		md->scratchcap = n > 2 * md->scratchcap ? n : 2 * md->scratchcap;
		md->scratch = xrealloc(md->scratch, md->scratchcap);
	}
}

/*
 * Builds the state an edit of s gives, keeping only contents that pending ops
 * (other than op) may use, and interns it.
 */
static uint32_t
linmodel_commit(struct linmodel *md, uint32_t from, const struct linmodel_edit *ed,
                const struct linhist_op *op, enum linhist_status st)
{
	const struct linmodel_state *s = md->states[from];
	uint64_t self = st != LINHIST_INDET ? linmodel_op_ref(op) : 0;
	uint32_t nent = 0, ndata = 0, off = 0, kept = 0;
	int set_kept = 0;
	struct linmodel_state *t;
	uint8_t *data;

#define LINMODEL_LIVE(ino) (linmodel_refs(md, (ino)) > ((ino) == self ? 1u : 0u))
	if (ed->set && LINMODEL_LIVE(ed->set_ino)) {
		set_kept = 1;
		nent++;
		ndata += (uint32_t)(ed->len1 + ed->len2);
	}
	for (uint32_t i = 0; i < s->nent; i++) {
		if (ed->set && s->ent[i].ino == ed->set_ino)
			continue;
		if (LINMODEL_LIVE(s->ent[i].ino)) {
			kept++;
			ndata += s->ent[i].len;
		}
	}
	if (!ed->set && ed->binding == s->binding && kept == s->nent)
		return from;
	nent += kept;

	linmodel_scratch(md, sizeof(*t) + nent * sizeof(t->ent[0]) + ndata);
	t = (struct linmodel_state *)md->scratch;
	memset(t, 0, sizeof(*t));
	t->binding = ed->binding;
	t->nent = nent;
	t->ndata = ndata;
	data = (uint8_t *)&t->ent[nent];
	nent = 0;
	for (uint32_t i = 0; i <= s->nent; i++) {
		const struct linmodel_ent *e = i < s->nent ? &s->ent[i] : NULL;

		/* The set inode goes in its sorted place. */
		if (set_kept && (e == NULL || e->ino > ed->set_ino)) {
			t->ent[nent].ino = ed->set_ino;
			t->ent[nent].off = off;
			t->ent[nent].len = (uint32_t)(ed->len1 + ed->len2);
			if (ed->len1)
				memcpy(data + off, ed->part1, ed->len1);
			if (ed->len2)
				memcpy(data + off + ed->len1, ed->part2, ed->len2);
			off += t->ent[nent].len;
			nent++;
			set_kept = 0;
		}
		if (e == NULL || (ed->set && e->ino == ed->set_ino) || !LINMODEL_LIVE(e->ino))
			continue;
		t->ent[nent].ino = e->ino;
		t->ent[nent].off = off;
		t->ent[nent].len = e->len;
		memcpy(data + off, linmodel_bytes(s, e), e->len);
		off += e->len;
		nent++;
	}
#undef LINMODEL_LIVE
	t->hash =
	    linmodel_hash((const uint8_t *)t + sizeof(t->hash), linmodel_size(t) - sizeof(t->hash));
	return linmodel_intern(md, t);
}

/* Sets the edit to give ino the contents a ++ b. */
static void
linmodel_set(struct linmodel_edit *ed, uint64_t ino, const uint8_t *a, size_t la, const uint8_t *b,
             size_t lb)
{
	ed->set = 1;
	ed->set_ino = ino;
	ed->part1 = a;
	ed->len1 = la;
	ed->part2 = b;
	ed->len2 = lb;
}

/*
 * An observation of inode ino where the state binds an inode of unknown number:
 * that inode is ino.  Any number will do, even one the state knows: filesystems
 * reuse the numbers of freed inodes at once, and ops on the old inode that
 * returned before the create began are placed before it by real time anyway.
 */
static int
linmodel_unify(const struct linmodel_state *s, uint64_t ino, struct linmodel_edit *ed)
{
	if (s->binding != LINMODEL_WILD)
		return 0;
	ed->binding = ino;
	/* Creates make empty files; nobody else held the unknown inode to change it. */
	linmodel_set(ed, ino, NULL, 0, NULL, 0);
	return 1;
}

/* Applies one operation to a state; see linmodel.h. */
int
linmodel_step(struct linmodel *md, uint32_t from, const struct linhist_op *op,
              enum linhist_status st, uint32_t *to)
{
	const struct linmodel_state *s = md->states[from];
	const struct linmodel_ent *cur;
	const uint8_t *cb = NULL;
	size_t cl = 0;
	uint64_t b = s->binding;
	struct linmodel_edit ed;
	int ok = st == LINHIST_OK, indet = st == LINHIST_INDET;

	md->steps++;
	memset(&ed, 0, sizeof(ed));
	ed.binding = b;
	if (op->has_ino && (cur = linmodel_find(s, op->ino)) != NULL) {
		cb = linmodel_bytes(s, cur);
		cl = cur->len;
	}
	switch (op->kind) {
	case LINHIST_OPEN_R:
	case LINHIST_OPEN_A:
		if (!ok) {
			if (b != LINMODEL_ABSENT)
				return 0;
			break;
		}
		if (b != op->ino && !linmodel_unify(s, op->ino, &ed))
			return 0;
		break;
	case LINHIST_READ:
		if (linmodel_find(s, op->ino) == NULL || cl != op->vlen ||
		    (cl > 0 && memcmp(cb, op->val, cl) != 0))
			return 0;
		break;
	case LINHIST_TRUNC:
		if (indet && !op->has_ino) {
			/* A create of unknown inode, or an unknown descriptor that emptied b. */
			if (b == LINMODEL_ABSENT)
				ed.binding = LINMODEL_WILD;
			else
				linmodel_set(&ed, b, NULL, 0, NULL, 0);
			break;
		}
		/* Determinate, or relaxed after a violation: if it acted, it was on ino. */
		if (b == LINMODEL_ABSENT) {
			ed.binding = op->ino; /* created, empty */
			linmodel_set(&ed, op->ino, NULL, 0, NULL, 0);
		} else if (b != op->ino && !linmodel_unify(s, op->ino, &ed)) {
			return 0;
		} else if (!ok) {
			/* Relaxed: no trunc_data of its own, so it empties here. */
			linmodel_set(&ed, op->ino, NULL, 0, NULL, 0);
		}
		/* A determinate trunc's emptying is its trunc_data (linhist_split_truncs). */
		break;
	case LINHIST_TRUNC_DATA:
		linmodel_set(&ed, op->ino, NULL, 0, NULL, 0);
		break;
	case LINHIST_CREAT_EXCL:
		if (indet) {
			/* Relaxed after a violation, it names its inode; else it is unknown. */
			if (b == LINMODEL_ABSENT && op->has_ino) {
				ed.binding = op->ino;
				linmodel_set(&ed, op->ino, NULL, 0, NULL, 0);
			} else if (b == LINMODEL_ABSENT) {
				ed.binding = LINMODEL_WILD;
			}
			break;
		}
		if (!ok) {
			if (b == LINMODEL_ABSENT)
				return 0;
			break;
		}
		if (b != LINMODEL_ABSENT)
			return 0;
		ed.binding = op->ino;
		linmodel_set(&ed, op->ino, NULL, 0, NULL, 0);
		break;
	case LINHIST_WRITE:
		/* pwrite at 0 overlays the old bytes; the inode may be bound or not. */
		if (cl > op->vlen)
			linmodel_set(&ed, op->ino, op->val, op->vlen, cb + op->vlen, cl - op->vlen);
		else
			linmodel_set(&ed, op->ino, op->val, op->vlen, NULL, 0);
		break;
	case LINHIST_APPEND:
		linmodel_set(&ed, op->ino, cb, cl, op->val, op->vlen);
		break;
	case LINHIST_PUT:
		ed.binding = op->ino;
		linmodel_set(&ed, op->ino, op->val, op->vlen, NULL, 0);
		break;
	case LINHIST_UNLINK:
	case LINHIST_RENAME_AWAY:
		if (!ok && !indet) {
			if (b != LINMODEL_ABSENT)
				return 0;
			break;
		}
		if (ok && b == LINMODEL_ABSENT)
			return 0;
		ed.binding = LINMODEL_ABSENT;
		break;
	case LINHIST_MKDIR:
		if (!ok && !indet) {
			if (b != LINMODEL_PRESENT)
				return 0;
			break;
		}
		if (ok && b != LINMODEL_ABSENT)
			return 0;
		ed.binding = LINMODEL_PRESENT;
		break;
	case LINHIST_RMDIR:
		if (!ok && !indet) {
			if (b != LINMODEL_ABSENT)
				return 0;
			break;
		}
		if (ok && b != LINMODEL_PRESENT)
			return 0;
		ed.binding = LINMODEL_ABSENT;
		break;
	case LINHIST_STAT:
		if ((ok && b != LINMODEL_PRESENT) || (!ok && b != LINMODEL_ABSENT))
			return 0;
		break;
	case LINHIST_KIND_max:
		return 0;
	}
	*to = linmodel_commit(md, from, &ed, op, st);
	return 1;
}
