/* POSIX ACL values and their rules against the mode bits; see store_acl.h. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "store/store_acl.h"

static uint32_t
acl_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t
acl_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void
acl_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void
acl_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* Where a tag stands in acl(5)'s order; 0 for an unknown tag. */
static int
acl_rank(uint16_t tag)
{
	switch (tag) {
	case STORE_ACL_USER_OBJ:
		return 1;
	case STORE_ACL_USER:
		return 2;
	case STORE_ACL_GROUP_OBJ:
		return 3;
	case STORE_ACL_GROUP:
		return 4;
	case STORE_ACL_MASK:
		return 5;
	case STORE_ACL_OTHER:
		return 6;
	default:
		return 0;
	}
}

int
store_acl_decode(const void *value, size_t len, struct store_acl *a)
{
	const uint8_t *p = value;
	int last = 0, named = 0, mask = 0;
	uint32_t last_id = 0;

	a->n = 0;
	if (len < 4 || (len - 4) % 8 != 0)
		return EINVAL;
	if (acl_get32(p) != STORE_ACL_VERSION)
		return EOPNOTSUPP;
	if ((len - 4) / 8 > STORE_ACL_MAX_ENTRIES)
		return EINVAL;
	for (size_t off = 4; off < len; off += 8) {
		struct store_acl_entry *e = &a->e[a->n++];
		int rank;

		e->tag = acl_get16(p + off);
		e->perm = acl_get16(p + off + 2);
		e->id = acl_get32(p + off + 4);
		rank = acl_rank(e->tag);
		if (rank == 0 || e->perm > 7 || rank < last)
			return EINVAL;
		if (e->tag == STORE_ACL_USER || e->tag == STORE_ACL_GROUP) {
			/* Named entries: sorted by id, each id once. */
			if (rank == last && e->id <= last_id)
				return EINVAL;
			last_id = e->id;
			named = 1;
		} else {
			if (rank == last)
				return EINVAL; /* a second USER_OBJ, GROUP_OBJ, MASK or OTHER */
			e->id = STORE_ACL_UNDEFINED_ID;
		}
		mask |= e->tag == STORE_ACL_MASK;
		last = rank;
	}
	if (a->n == 0)
		return 0;
	/* The three base entries must be there; named ones need a mask. */
	{
		int have = 0;

		for (size_t i = 0; i < a->n; i++)
			if (a->e[i].tag == STORE_ACL_USER_OBJ || a->e[i].tag == STORE_ACL_GROUP_OBJ ||
			    a->e[i].tag == STORE_ACL_OTHER)
				have++;
		if (have != 3 || (named && !mask))
			return EINVAL;
	}
	return 0;
}

size_t
store_acl_encode(const struct store_acl *a, uint8_t *out)
{
	acl_put32(out, STORE_ACL_VERSION);
	for (size_t i = 0; i < a->n; i++) {
		uint8_t *p = out + 4 + 8 * i;

		acl_put16(p, a->e[i].tag);
		acl_put16(p + 2, a->e[i].perm);
		acl_put32(p + 4, a->e[i].id);
	}
	return 4 + 8 * a->n;
}

int
store_acl_mode(const struct store_acl *a, uint32_t *perms)
{
	uint32_t u = 0, g = 0, o = 0, m = 0;
	int extended = 0, has_mask = 0;

	for (size_t i = 0; i < a->n; i++) {
		const struct store_acl_entry *e = &a->e[i];

		switch (e->tag) {
		case STORE_ACL_USER_OBJ:
			u = e->perm;
			break;
		case STORE_ACL_GROUP_OBJ:
			g = e->perm;
			break;
		case STORE_ACL_OTHER:
			o = e->perm;
			break;
		case STORE_ACL_MASK:
			m = e->perm;
			has_mask = 1;
			extended = 1;
			break;
		default:
			extended = 1;
			break;
		}
	}
	/* With a mask, the group class bits are the mask: what any group-class entry may get. */
	*perms = u << 6 | (has_mask ? m : g) << 3 | o;
	return extended;
}

void
store_acl_chmod(struct store_acl *a, uint32_t mode)
{
	struct store_acl_entry *group = NULL;

	for (size_t i = 0; i < a->n; i++) {
		struct store_acl_entry *e = &a->e[i];

		if (e->tag == STORE_ACL_USER_OBJ)
			e->perm = (uint16_t)(mode >> 6 & 7);
		else if (e->tag == STORE_ACL_OTHER)
			e->perm = (uint16_t)(mode & 7);
		else if (e->tag == STORE_ACL_MASK || (e->tag == STORE_ACL_GROUP_OBJ && group == NULL))
			group = e; /* the mask when there is one: it comes after GROUP_OBJ */
	}
	if (group != NULL)
		group->perm = (uint16_t)(mode >> 3 & 7);
}

int
store_acl_inherit(struct store_acl *a, uint32_t *mode)
{
	struct store_acl_entry *group = NULL;
	uint32_t m = *mode;
	int extended = 0;

	for (size_t i = 0; i < a->n; i++) {
		struct store_acl_entry *e = &a->e[i];

		switch (e->tag) {
		case STORE_ACL_USER_OBJ:
			e->perm &= (uint16_t)(m >> 6 & 7);
			m = (m & ~0700u) | (uint32_t)e->perm << 6;
			break;
		case STORE_ACL_OTHER:
			e->perm &= (uint16_t)(m & 7);
			m = (m & ~0007u) | e->perm;
			break;
		case STORE_ACL_MASK:
			group = e;
			extended = 1;
			break;
		case STORE_ACL_GROUP_OBJ:
			if (group == NULL)
				group = e; /* a MASK after it takes over */
			break;
		default:
			extended = 1; /* named entries keep their perms: the mask limits them */
			break;
		}
	}
	if (group != NULL) {
		group->perm &= (uint16_t)(m >> 3 & 7);
		m = (m & ~0070u) | (uint32_t)group->perm << 3;
	}
	*mode = m;
	return extended;
}
