/* Membership records in etcd and the master's decision; see membership.h. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/log.h"
#include "replication/membership.h"

/* Sets err to a formatted reason and returns -1. */
static int
mb_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* A u64 as etcd writes one: a decimal string. */
static json_t *
mb_u64(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return json_string(buf);
}

/* Reads a u64 written as a string or a non-negative integer; -1 otherwise. */
static int
mb_get_u64(const json_t *j, uint64_t *out)
{
	const char *s;
	char *end;

	if (json_is_integer(j)) {
		if (json_integer_value(j) < 0)
			return -1;
		*out = (uint64_t)json_integer_value(j);
		return 0;
	}
	if (!json_is_string(j))
		return -1;
	s = json_string_value(j);
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return *end != '\0' || errno != 0 ? -1 : 0;
}

/* A node name as the configuration file allows them. */
int
membership_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CFS_NODE_NAME_MAX)
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
			return 0;
	return 1;
}

/* Serialises j compactly and frees it. */
static char *
mb_dump(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

	json_decref(j);
	if (s == NULL)
		fatalx("out of memory writing JSON");
	return s;
}

char *
membership_view_json(const struct chain_view *v)
{
	json_t *j = json_object(), *chain = json_array();

	for (uint16_t i = 0; i < v->n; i++)
		json_array_append_new(chain, json_string(v->nodes[i]));
	json_object_set_new(j, "epoch", mb_u64(v->epoch));
	json_object_set_new(j, "chain", chain);
	json_object_set_new(j, "syncing", json_string(v->syncing));
	json_object_set_new(j, "tail_wait_ms", mb_u64(v->tail_wait_ms));
	json_object_set_new(j, "cluster_id", mb_u64(v->cluster_id));
	return mb_dump(j);
}

char *
membership_reg_json(const struct member_reg *r)
{
	json_t *j = json_object();

	json_object_set_new(j, "name", json_string(r->name));
	json_object_set_new(j, "sn", mb_u64(r->sn));
	json_object_set_new(j, "applied_epoch", mb_u64(r->applied_epoch));
	json_object_set_new(j, "epoch", mb_u64(r->epoch));
	json_object_set_new(j, "synced", json_string(r->synced));
	json_object_set_new(j, "synced_epoch", mb_u64(r->synced_epoch));
	json_object_set_new(j, "catching_up", json_boolean(r->catching_up));
	return mb_dump(j);
}

/* Checks that an object has exactly the known keys. */
static int
mb_keys_known(json_t *j, const char *const *known, size_t n, char *err, size_t errlen)
{
	const char *key;
	json_t *val;

	json_object_foreach(j, key, val) {
		size_t i;

		for (i = 0; i < n; i++)
			if (strcmp(key, known[i]) == 0)
				break;
		if (i == n)
			return mb_err(err, errlen, "unknown field '%s'", key);
	}
	return 0;
}

/* Loads len bytes of JSON that must be an object. */
static json_t *
mb_load(const char *s, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *j = json_loadb(s, len, JSON_REJECT_DUPLICATES, &je);

	if (j == NULL) {
		mb_err(err, errlen, "not JSON: %s", je.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		mb_err(err, errlen, "not a JSON object");
		return NULL;
	}
	return j;
}

int
membership_view_parse(const char *s, size_t len, struct chain_view *v, char *err, size_t errlen)
{
	static const char *const known[] = {"epoch", "chain", "syncing", "tail_wait_ms",
					    "cluster_id"};
	json_t *j = mb_load(s, len, err, errlen), *chain, *syncing, *x;
	uint64_t wait;
	size_t i;
	int rc = -1;

	if (j == NULL)
		return -1;
	memset(v, 0, sizeof(*v));
	if (mb_keys_known(j, known, 5, err, errlen) != 0)
		goto out;
	if (mb_get_u64(json_object_get(j, "cluster_id"), &v->cluster_id) != 0 ||
	    v->cluster_id == 0) {
		mb_err(err, errlen, "no cluster_id, or not a positive number");
		goto out;
	}
	if (mb_get_u64(json_object_get(j, "epoch"), &v->epoch) != 0 || v->epoch == 0) {
		mb_err(err, errlen, "no epoch, or not a positive number");
		goto out;
	}
	chain = json_object_get(j, "chain");
	if (!json_is_array(chain) || json_array_size(chain) == 0 ||
	    json_array_size(chain) > CFS_MAX_NODES) {
		mb_err(err, errlen, "chain: not a list of 1..%d node names", CFS_MAX_NODES);
		goto out;
	}
	json_array_foreach(chain, i, x) {
		if (!json_is_string(x) || !membership_name_ok(json_string_value(x))) {
			mb_err(err, errlen, "chain: element %zu is not a node name", i);
			goto out;
		}
		if (view_index(v, json_string_value(x)) >= 0) {
			mb_err(err, errlen, "chain: node %s twice", json_string_value(x));
			goto out;
		}
		snprintf(v->nodes[v->n++], sizeof(v->nodes[0]), "%s", json_string_value(x));
	}
	syncing = json_object_get(j, "syncing");
	if (syncing != NULL) {
		if (!json_is_string(syncing) ||
		    (json_string_length(syncing) > 0 && !membership_name_ok(json_string_value(syncing)))) {
			mb_err(err, errlen, "syncing: not a node name");
			goto out;
		}
		if (view_index(v, json_string_value(syncing)) >= 0) {
			mb_err(err, errlen, "syncing: %s is in the chain already",
			       json_string_value(syncing));
			goto out;
		}
		snprintf(v->syncing, sizeof(v->syncing), "%s", json_string_value(syncing));
	}
	x = json_object_get(j, "tail_wait_ms");
	if (x != NULL) {
		if (mb_get_u64(x, &wait) != 0 || wait > 600000) {
			mb_err(err, errlen, "tail_wait_ms: not a number of at most 600000");
			goto out;
		}
		v->tail_wait_ms = (uint32_t)wait;
	}
	rc = 0;
out:
	json_decref(j);
	return rc;
}

int
membership_reg_parse(const char *s, size_t len, struct member_reg *r, char *err, size_t errlen)
{
	static const char *const known[] = {"name",	    "sn",	    "applied_epoch", "epoch",
					    "synced",	    "synced_epoch", "catching_up"};
	json_t *j = mb_load(s, len, err, errlen), *x;
	int rc = -1;

	if (j == NULL)
		return -1;
	memset(r, 0, sizeof(*r));
	if (mb_keys_known(j, known, 7, err, errlen) != 0)
		goto out;
	x = json_object_get(j, "name");
	if (!json_is_string(x) || !membership_name_ok(json_string_value(x))) {
		mb_err(err, errlen, "name: not a node name");
		goto out;
	}
	snprintf(r->name, sizeof(r->name), "%s", json_string_value(x));
	if (mb_get_u64(json_object_get(j, "sn"), &r->sn) != 0 ||
	    mb_get_u64(json_object_get(j, "applied_epoch"), &r->applied_epoch) != 0 ||
	    mb_get_u64(json_object_get(j, "epoch"), &r->epoch) != 0) {
		mb_err(err, errlen, "sn, applied_epoch and epoch must be numbers");
		goto out;
	}
	x = json_object_get(j, "synced");
	if (x != NULL) {
		if (!json_is_string(x) ||
		    (json_string_length(x) > 0 && !membership_name_ok(json_string_value(x)))) {
			mb_err(err, errlen, "synced: not a node name");
			goto out;
		}
		snprintf(r->synced, sizeof(r->synced), "%s", json_string_value(x));
		if (mb_get_u64(json_object_get(j, "synced_epoch"), &r->synced_epoch) != 0) {
			mb_err(err, errlen, "synced_epoch: not a number");
			goto out;
		}
	}
	x = json_object_get(j, "catching_up");
	if (x != NULL) {
		if (!json_is_boolean(x)) {
			mb_err(err, errlen, "catching_up: not true or false");
			goto out;
		}
		r->catching_up = json_is_true(x);
	}
	rc = 0;
out:
	json_decref(j);
	return rc;
}

/* The registration of name, or NULL. */
static const struct member_reg *
mb_reg(const struct membership_input *in, const char *name)
{
	for (size_t i = 0; i < in->nregs; i++)
		if (strcmp(in->regs[i].name, name) == 0)
			return &in->regs[i];
	return NULL;
}

/* Whether the tail may lack entries its predecessor has: it says so, or it is gone. */
static int
mb_tail_behind(const struct membership_input *in, const struct chain_view *cur)
{
	const struct member_reg *t = mb_reg(in, cur->nodes[cur->n - 1]);

	return t == NULL || t->catching_up;
}

/* Whether name may be in the chain. */
static int
mb_allowed(const struct membership_input *in, const char *name)
{
	for (size_t i = 0; i < in->nallowed; i++)
		if (strcmp(in->allowed[i], name) == 0)
			return 1;
	return 0;
}

/* The first configuration: the most advanced registered nodes. */
static int
mb_initial(const struct membership_input *in, struct chain_view *next, char *why, size_t whylen)
{
	uint64_t best_epoch = 0, best_sn = 0, top = 0;
	int any = 0;

	if (!in->initial_ready)
		return 0;
	for (size_t i = 0; i < in->nregs; i++) {
		const struct member_reg *r = &in->regs[i];

		if (!mb_allowed(in, r->name))
			continue;
		if (!any || r->applied_epoch > best_epoch ||
		    (r->applied_epoch == best_epoch && r->sn > best_sn)) {
			best_epoch = r->applied_epoch;
			best_sn = r->sn;
		}
		if (r->epoch > top)
			top = r->epoch;
		if (r->applied_epoch > top)
			top = r->applied_epoch;
		any = 1;
	}
	if (!any)
		return 0;
	memset(next, 0, sizeof(*next));
	next->epoch = top + 1;
	next->cluster_id = in->new_cluster_id;
	for (size_t a = 0; a < in->nallowed; a++) {
		const struct member_reg *r = mb_reg(in, in->allowed[a]);

		if (r != NULL && r->applied_epoch == best_epoch && r->sn == best_sn)
			snprintf(next->nodes[next->n++], sizeof(next->nodes[0]), "%s", r->name);
	}
	snprintf(why, whylen, "first configuration: the nodes at sn %" PRIu64 " of epoch %" PRIu64,
		 best_sn, best_epoch);
	return 1;
}

int
membership_next(const struct membership_input *in, struct chain_view *next, char *why,
		size_t whylen)
{
	const struct chain_view *cur = in->cur;
	const char *tail;
	const struct member_reg *tr;

	if (cur == NULL)
		return mb_initial(in, next, why, whylen);
	*next = *cur;
	next->epoch = cur->epoch + 1;
	next->tail_wait_ms = 0;
	/* A member removed by command leaves the chain, though it still runs. */
	for (uint16_t i = 0; i < cur->n && cur->n > 1; i++) {
		if (mb_allowed(in, cur->nodes[i]))
			continue;
		memmove(next->nodes[i], next->nodes[i + 1],
			sizeof(next->nodes[0]) * (size_t)(cur->n - i - 1));
		next->n--;
		if ((uint16_t)i == cur->n - 1) {
			next->syncing[0] = '\0';
			/* The old tail answers until it learns the epoch or fences itself. */
			next->tail_wait_ms = in->tail_wait_ms;
		}
		snprintf(why, whylen, "node %s was removed by command", cur->nodes[i]);
		return 1;
	}
	if (cur->syncing[0] != '\0' && !mb_allowed(in, cur->syncing)) {
		next->syncing[0] = '\0';
		snprintf(why, whylen, "syncing node %s was removed by command", cur->syncing);
		return 1;
	}
	/* A member whose lease ran out leaves the chain. */
	for (uint16_t i = 0; i < cur->n && cur->n > 1; i++) {
		if (mb_reg(in, cur->nodes[i]) != NULL || !in->may_remove(in->arg, cur->nodes[i]))
			continue;
		if (cur->n == 2 && i == 0 && mb_tail_behind(in, cur)) {
			/* It alone may hold what it acknowledged: the tail goes first, or waits. */
			continue;
		}
		memmove(next->nodes[i], next->nodes[i + 1],
			sizeof(next->nodes[0]) * (size_t)(cur->n - i - 1));
		next->n--;
		if ((uint16_t)i == cur->n - 1)
			next->syncing[0] = '\0'; /* it synced from the tail that is gone */
		snprintf(why, whylen, "node %s is gone (no registration): removed", cur->nodes[i]);
		return 1;
	}
	if (cur->syncing[0] != '\0' && mb_reg(in, cur->syncing) == NULL) {
		next->syncing[0] = '\0';
		snprintf(why, whylen, "syncing node %s is gone: sync dropped", cur->syncing);
		return 1;
	}
	tail = cur->nodes[cur->n - 1];
	tr = mb_reg(in, tail);
	if (cur->syncing[0] != '\0' && tr != NULL && strcmp(tr->synced, cur->syncing) == 0 &&
	    tr->synced_epoch == cur->epoch && cur->n < CFS_MAX_NODES) {
		snprintf(next->nodes[next->n++], sizeof(next->nodes[0]), "%s", cur->syncing);
		next->syncing[0] = '\0';
		next->tail_wait_ms = in->tail_wait_ms;
		snprintf(why, whylen, "node %s has synced: it becomes the tail", cur->syncing);
		return 1;
	}
	if (cur->syncing[0] == '\0') {
		for (size_t a = 0; a < in->nallowed; a++) {
			const char *name = in->allowed[a];

			if (view_index(cur, name) >= 0 || mb_reg(in, name) == NULL)
				continue;
			snprintf(next->syncing, sizeof(next->syncing), "%s", name);
			snprintf(why, whylen, "node %s is registered and out of the chain: it syncs "
				 "behind the tail", name);
			return 1;
		}
	}
	return 0;
}
