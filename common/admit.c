/* Limits on pending connections, by source and in total; see admit.h. */
#include "config.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "common/admit.h"
#include "common/log.h"

/* One source address with pending connections; freed when it has none. */
struct cfs_admit_src {
	LIST_ENTRY(cfs_admit_src) link;
	uint8_t key[17]; /* family, then the address (IPv6: its /64) */
	unsigned n;
	TAILQ_HEAD(, cfs_pending) pending; /* oldest first */
};

void
cfs_admit_init(struct cfs_admit *a, unsigned max_total, unsigned max_per_source,
	       void (*evict)(struct cfs_pending *, const char *, void *), void *arg)
{
	memset(a, 0, sizeof(*a));
	a->max_total = max_total > 0 ? max_total : 1;
	a->max_per_source = max_per_source > 0 ? max_per_source : 1;
	a->evict = evict;
	a->arg = arg;
	for (size_t i = 0; i < CFS_ADMIT_BUCKETS; i++)
		LIST_INIT(&a->buckets[i]);
}

/* The key of a source address: an IPv4 address (also IPv4-mapped) or an IPv6 /64. */
static void
admit_key(const struct sockaddr *sa, uint8_t key[17])
{
	memset(key, 0, 17);
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			key[0] = 4;
			memcpy(key + 1, a6->s6_addr + 12, 4);
		} else {
			key[0] = 6;
			memcpy(key + 1, a6->s6_addr, 8);
		}
	}
}

/* FNV-1a of the key, for the bucket. */
static unsigned
admit_hash(const uint8_t key[17])
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < 17; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % CFS_ADMIT_BUCKETS;
}

/* The entry of a source, or NULL. */
static struct cfs_admit_src *
admit_find(const struct cfs_admit *a, const uint8_t key[17])
{
	struct cfs_admit_src *s;

	LIST_FOREACH(s, &a->buckets[admit_hash(key)], link)
		if (memcmp(s->key, key, 17) == 0)
			return s;
	return NULL;
}

void
cfs_admit_remove(struct cfs_admit *a, struct cfs_pending *p)
{
	struct cfs_admit_src *s = p->src;

	if (s == NULL)
		return;
	TAILQ_REMOVE(&s->pending, p, link);
	p->src = NULL;
	a->total--;
	if (--s->n == 0) {
		LIST_REMOVE(s, link);
		free(s);
	}
}

/* Takes the oldest pending connection of s out and has the owner close it. */
static void
admit_evict_oldest(struct cfs_admit *a, struct cfs_admit_src *s, const char *why)
{
	struct cfs_pending *old = TAILQ_FIRST(&s->pending);

	cfs_admit_remove(a, old);
	a->evicted++;
	a->evict(old, why, a->arg);
}

/* The source with the most pending connections. */
static struct cfs_admit_src *
admit_largest(const struct cfs_admit *a)
{
	struct cfs_admit_src *s, *best = NULL;

	for (size_t i = 0; i < CFS_ADMIT_BUCKETS; i++)
		LIST_FOREACH(s, &a->buckets[i], link)
			if (best == NULL || s->n > best->n)
				best = s;
	return best;
}

unsigned
cfs_admit_add(struct cfs_admit *a, struct cfs_pending *p, const struct sockaddr *sa)
{
	uint8_t key[17];
	struct cfs_admit_src *s;
	unsigned evicted = 0;

	admit_key(sa, key);
	s = admit_find(a, key);
	while (s != NULL && s->n >= a->max_per_source) {
		admit_evict_oldest(a, s, "too many pending connections from its address");
		evicted++;
		s = admit_find(a, key); /* freed when it was the last */
	}
	while (a->total >= a->max_total) {
		admit_evict_oldest(a, admit_largest(a), "too many pending connections");
		evicted++;
	}
	s = admit_find(a, key);
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		memcpy(s->key, key, sizeof(s->key));
		TAILQ_INIT(&s->pending);
		LIST_INSERT_HEAD(&a->buckets[admit_hash(key)], s, link);
	}
	TAILQ_INSERT_TAIL(&s->pending, p, link);
	p->src = s;
	s->n++;
	a->total++;
	return evicted;
}

unsigned
cfs_admit_count(const struct cfs_admit *a, const struct sockaddr *sa)
{
	uint8_t key[17];
	const struct cfs_admit_src *s;

	admit_key(sa, key);
	s = admit_find(a, key);
	return s != NULL ? s->n : 0;
}

void
cfs_admit_free(struct cfs_admit *a)
{
	for (size_t i = 0; i < CFS_ADMIT_BUCKETS; i++) {
		struct cfs_admit_src *s;

		while ((s = LIST_FIRST(&a->buckets[i])) != NULL) {
			struct cfs_pending *p;

			while ((p = TAILQ_FIRST(&s->pending)) != NULL) {
				TAILQ_REMOVE(&s->pending, p, link);
				p->src = NULL;
			}
			LIST_REMOVE(s, link);
			free(s);
		}
	}
	a->total = 0;
}
