/* Shared by the unit tests of the chain and of membership: a configuration by hand. */
#ifndef CHAINFS_TEST_VIEW_OF_H
#define CHAINFS_TEST_VIEW_OF_H

#include <stdio.h>
#include <string.h>

#include "replication/chain.h"

/* A configuration of epoch with the nodes of "a,b,c" in order and a syncing node (or ""). */
static inline struct chain_view
view_of(uint64_t epoch, const char *chain, const char *syncing)
{
	struct chain_view v;
	const char *p = chain;

	memset(&v, 0, sizeof(v));
	v.epoch = epoch;
	while (*p != '\0') {
		size_t len = strcspn(p, ",");

		snprintf(v.nodes[v.n++], sizeof(v.nodes[0]), "%.*s", (int)len, p);
		p += len + (p[len] == ',');
	}
	snprintf(v.syncing, sizeof(v.syncing), "%s", syncing);
	return v;
}

#endif
