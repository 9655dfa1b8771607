/* A node's side of reconfiguration through etcd; see coord.h. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/log.h"
#include "daemon/coord.h"
#include "daemon/node.h"
#include "replication/etcd.h"
#include "replication/membership.h"

/* How long a node keeps trying to reach etcd at start before it gives up. */
#define COORD_START_GIVEUP_MS 60000
/* A margin on top of T/2 for a new tail's wait (clock rates, scheduling). */
#define COORD_TAIL_MARGIN_MS 300
#define COORD_MAX_REGS (2 * CFS_MAX_NODES)
/* "/chainfs/" CLUSTER "/nodes/" NAME */
#define COORD_KEY_MAX (2 * CFS_NODE_NAME_MAX + 32)

/* Where registration stands. */
enum coord_state {
	CO_GRANT,    /* asking for a lease */
	CO_NAME,     /* checking that nobody holds our name */
	CO_REGISTER, /* creating our registration */
	CO_LOAD,     /* reading everything under the prefix, to watch from there */
	CO_RUNNING,  /* registered and watching */
	CO_max
};
static const char *coord_state_names[] = {"grant", "name", "register", "load", "running"};

struct coord {
	struct node *n;
	struct etcd *etcd;
	char prefix[CFS_NODE_NAME_MAX + 16];
	char k_config[COORD_KEY_MAX];
	char k_master[COORD_KEY_MAX];
	char k_nodes[COORD_KEY_MAX];
	char k_self[COORD_KEY_MAX];
	char k_removed[COORD_KEY_MAX];
	char k_added[COORD_KEY_MAX];
	unsigned ttl_ms;
	enum coord_state state;
	int64_t lease;
	uint64_t started_ms;   /* coord_start, for giving up on an unreachable etcd */
	uint64_t name_wait_ms; /* when we first found our name taken; 0: not */
	int unreachable_logged;
	struct event *tick;
	struct event *retry;   /* a state step to try again */

	/* Freshness: the lease and the configuration confirmed together. */
	int tick_pending;      /* requests of the current tick not answered yet */
	int tick_ok;	       /* both of them succeeded */
	uint64_t tick_sent_ms;
	uint64_t fresh_until_ms;
	/* A new tail's wait for the old one to learn the epoch or fence itself. */
	uint64_t wait_until_ms;
	char wait_old_tail[CFS_NODE_NAME_MAX + 1]; /* "" when not known */
	uint64_t wait_epoch;
	struct event *wait_ev; /* serving starts when the wait is over */
	/*
	 * A tail that joined or restarted may lack entries its predecessor
	 * has (the old tail answered them): it serves once the predecessor of
	 * the current epoch has said how far it is and those entries are here.
	 */
	int catching_up;
	int catchup_known;
	uint64_t catchup_sn;

	/* The configuration as last read from etcd. */
	int have_config;
	struct chain_view config;
	int64_t config_rev;
	int64_t bad_config_rev; /* a key we refused: said once */

	/* Registrations, and which names we saw registered since we started watching. */
	struct member_reg regs[COORD_MAX_REGS];
	size_t nregs;
	char seen[COORD_MAX_REGS][CFS_NODE_NAME_MAX + 1];
	size_t nseen;
	char removed[CFS_MAX_NODES][CFS_NODE_NAME_MAX + 1]; /* by chainfsctl node remove */
	size_t nremoved;
	/* Nodes not in the file, added by chainfsctl node add NAME HOST:PORT. */
	struct cfs_node_addr added[CFS_MAX_NODES];
	size_t nadded;
	uint64_t watch_since_ms;
	struct etcd_watch *watch;
	int64_t rev; /* the revision everything above reflects */

	/* The election. */
	char master[CFS_NODE_NAME_MAX + 1];
	int is_master;
	int campaigning;
	int cas_pending;
	uint64_t gone_ms[COORD_MAX_REGS]; /* when a seen name's registration vanished */
	uint64_t change_since_ms; /* the removal being written: when its node vanished */

	/* What our registration says. */
	char synced[CFS_NODE_NAME_MAX + 1];
	uint64_t synced_epoch;
	int reg_pending;

	struct coord_stats stats;
	int stopping; /* coord_stop runs: no new request, no change of the node */
	int registered_once;
};

static void coord_step(struct coord *);
static void coord_master_step(struct coord *);
static void coord_put_reg(struct coord *);

/* Changes state, tracing it. */
static void
coord_enter(struct coord *co, enum coord_state st)
{
	log_debug("etcd: %s -> %s", coord_state_names[co->state], coord_state_names[st]);
	co->state = st;
}

/* Tries the current state's step again in ms. */
static void
coord_retry(struct coord *co, unsigned ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	evtimer_add(co->retry, &tv);
}

/* An etcd request failed: count it, say it once, give up at start after a while. */
static void
coord_etcd_failed(struct coord *co, const char *what, const struct etcd_result *r)
{
	co->stats.etcd_errors++;
	/* Only a node that never registered gives up; one that was running keeps trying. */
	if (!co->registered_once && cfs_now_ms() - co->started_ms > COORD_START_GIVEUP_MS)
		fatalx("cannot register with etcd at %s for %d s (%s: %s): giving up",
		       etcd_endpoint(co->etcd), COORD_START_GIVEUP_MS / 1000, what,
		       r->message ? r->message : "no answer");
	if (!co->unreachable_logged++)
		log_warnx("etcd %s: %s: %s; trying again", etcd_endpoint(co->etcd), what,
			  r->message ? r->message : "no answer");
}

int
coord_fresh(const struct coord *co)
{
	uint64_t now = cfs_now_ms();

	return co->state == CO_RUNNING && now < co->fresh_until_ms && now >= co->wait_until_ms &&
	       !co->catching_up && co->n->chain.view.n > 0;
}

uint64_t
coord_fresh_until(const struct coord *co)
{
	return co->state == CO_RUNNING ? co->fresh_until_ms : 0;
}

unsigned
coord_ttl_ms(const struct coord *co)
{
	return co->ttl_ms;
}

/* Whether we serve clients now; tells the node when it changes. */
void
coord_update_serving(struct coord *co)
{
	struct node *n = co->n;
	int fresh = co->state == CO_RUNNING && cfs_now_ms() < co->fresh_until_ms;
	int on = coord_fresh(co);

	if (co->stopping)
		return;
	if (n->serving && !fresh) {
		co->stats.fenced++;
		log_warnx("no lease renewal and configuration read confirmed for %u ms: this node "
			  "answers no client until etcd confirms it again (self-fencing)",
			  co->ttl_ms / 2);
	}
	if (!n->serving && on)
		log_info("serving clients in epoch %llu as %s",
			 (unsigned long long)n->chain.epoch,
			 view_role_name(&n->chain.view, n->self_name));
	node_set_serving(n, on);
}

/*
 * A store holds one cluster's history: one that holds another's is never
 * served under this configuration (its entries at the same sns are other
 * entries).  An empty or fixed-chain store takes the id.
 */
static void
coord_check_cluster(struct coord *co, const struct chain_view *v)
{
	struct node *n = co->n;
	uint64_t id;

	if (store_cluster_id(n->st, &id) != 0)
		fatalx("cannot read the store's cluster id");
	if (id == v->cluster_id)
		return;
	if (id != 0)
		fatalx("the store in %s holds the history of cluster %016llx, but etcd's "
		       "configuration (%s) is of cluster %016llx: refusing to serve it; a node "
		       "that moves to another cluster needs an empty data directory",
		       n->conf->nodes[n->self].data_dir, (unsigned long long)id, co->k_config,
		       (unsigned long long)v->cluster_id);
	node_flush(n);
	if (store_set_cluster_id(n->st, v->cluster_id) != 0)
		fatalx("cannot record the cluster id in the store");
	log_info("the store now belongs to cluster %016llx", (unsigned long long)v->cluster_id);
}

/*
 * What a new configuration asks of this node before it answers clients:
 * as a new tail, a wait for the old tail to learn the epoch or fence itself
 * (it may still answer reads); as a tail that joined or restarted, the
 * entries its predecessor has (the old tail answered from them).  A node
 * that was already in the chain has every entry the old tail had.
 */
static void
coord_new_view(struct coord *co, const struct chain_view *prev, const struct chain_view *v)
{
	struct node *n = co->n;
	const char *self = n->self_name, *pred = view_pred(v, self);
	int tail = (n->chain.role & CFS_ROLE_TAIL) != 0;
	int was_tail = prev->n > 0 && (view_role(prev, self) & CFS_ROLE_TAIL);
	int was_member = prev->n > 0 && view_index(prev, self) >= 0;

	if (!tail) {
		co->catching_up = 0;
		co->wait_until_ms = 0;
		return;
	}
	if (!was_tail && v->tail_wait_ms > 0) {
		/*
		 * With leases, also until the old tail's leases ran out: they
		 * end when it would fence itself, half a TTL after it renewed.
		 */
		uint32_t wait = v->tail_wait_ms + (n->lz != NULL ? co->ttl_ms / 2 : 0);
		struct timeval tv = {wait / 1000, (wait % 1000) * 1000};

		co->wait_until_ms = cfs_now_ms() + wait;
		co->wait_epoch = v->epoch;
		/* Known only when no epoch went by unseen. */
		co->wait_old_tail[0] = '\0';
		if (prev->n > 0 && prev->epoch + 1 == v->epoch)
			snprintf(co->wait_old_tail, sizeof(co->wait_old_tail), "%s",
				 prev->nodes[prev->n - 1]);
		evtimer_add(co->wait_ev, &tv);
		log_info("new tail: waiting up to %u ms for the old tail %s to learn epoch %llu or "
			 "fence itself, and for its leases to run out",
			 wait, co->wait_old_tail[0] ? co->wait_old_tail : "(unknown)",
			 (unsigned long long)v->epoch);
	}
	if (!was_member && pred != NULL) {
		co->catching_up = 1;
		co->catchup_known = 0;
		log_info("new tail: answering no client until it has every entry its predecessor "
			 "%s has",
			 pred);
	} else if (co->catching_up) {
		co->catchup_known = 0; /* the predecessor of this epoch tells again */
		if (pred == NULL) {
			co->catching_up = 0;
			log_warnx("this node is alone in the chain before it caught up with its "
				  "former predecessor (removed by command?): entries only that node "
				  "had are lost");
		}
	}
}

/*
 * The old tail we wait for is in the new epoch: it answers no read as the
 * tail, and grants no lease.  The leases it granted may still run: for
 * lease_left ms when it said so (its HELLO as our predecessor), else until
 * it would fence itself, at most half a TTL from now.
 */
static void
coord_old_tail_moved(struct coord *co, const char *name, uint64_t epoch, uint64_t lease_left)
{
	uint64_t now = cfs_now_ms(), until;

	if (now >= co->wait_until_ms || co->wait_old_tail[0] == '\0' ||
	    strcmp(name, co->wait_old_tail) != 0 || epoch < co->wait_epoch)
		return;
	until = co->n->lz == NULL ? now : now + (lease_left != UINT64_MAX ? lease_left : co->ttl_ms / 2);
	if (until >= co->wait_until_ms)
		return;
	log_info("old tail %s is in epoch %llu: the wait ends %llu ms early", name,
		 (unsigned long long)epoch, (unsigned long long)(co->wait_until_ms - until));
	co->wait_until_ms = until;
	evtimer_del(co->wait_ev);
	if (until > now) {
		struct timeval tv = {(time_t)((until - now) / 1000),
				     (suseconds_t)((until - now) % 1000) * 1000};

		evtimer_add(co->wait_ev, &tv);
	}
	coord_update_serving(co);
}

void
coord_pred_connected(struct coord *co, const char *name, uint64_t applied_sn,
		     uint32_t lease_left_ms)
{
	coord_old_tail_moved(co, name, co->n->chain.epoch, lease_left_ms);
	if (!co->catching_up)
		return;
	co->catchup_known = 1;
	co->catchup_sn = applied_sn;
	log_info("predecessor %s has sn %llu, this node %llu", name,
		 (unsigned long long)applied_sn, (unsigned long long)store_applied_sn(co->n->st));
	coord_applied(co);
}

void
coord_applied(struct coord *co)
{
	if (!co->catching_up || !co->catchup_known || store_applied_sn(co->n->st) < co->catchup_sn)
		return;
	co->catching_up = 0;
	log_info("caught up with the predecessor at sn %llu", (unsigned long long)co->catchup_sn);
	co->reg_pending = 0; /* the master must know this one */
	coord_put_reg(co);
	coord_update_serving(co);
}

/* The wait of a new tail is over. */
static void
coord_wait_cb(evutil_socket_t fd, short what, void *arg)
{
	coord_update_serving(arg);
}

/* Takes a configuration read from etcd at mod_revision rev. */
static void
coord_take_config(struct coord *co, const struct etcd_kv *kv)
{
	struct node *n = co->n;
	struct chain_view v, prev;
	char err[256];

	if (co->stopping)
		return;
	if (membership_view_parse((const char *)kv->value, kv->valuelen, &v, err, sizeof(err)) !=
	    0) {
		if (co->bad_config_rev != kv->mod_revision)
			log_warnx("etcd key %s (revision %" PRId64 ") was not written by chainfs: "
				  "%s; not followed",
				  co->k_config, kv->mod_revision, err);
		co->bad_config_rev = kv->mod_revision;
		return;
	}
	if (co->have_config && v.epoch < co->config.epoch) {
		log_warnx("etcd key %s went back from epoch %llu to %llu: not followed",
			  co->k_config, (unsigned long long)co->config.epoch,
			  (unsigned long long)v.epoch);
		return;
	}
	co->have_config = 1;
	co->config = v;
	co->config_rev = kv->mod_revision;
	if (v.epoch <= n->chain.epoch && n->chain.view.n > 0)
		return;
	coord_check_cluster(co, &v);
	prev = n->chain.view;
	node_set_view(n, &v);
	coord_new_view(co, &prev, &v);
	coord_put_reg(co); /* our registration names the epoch we know */
	coord_update_serving(co);
}

/* Finds a registration slot by name. */
static struct member_reg *
coord_reg(struct coord *co, const char *name)
{
	for (size_t i = 0; i < co->nregs; i++)
		if (strcmp(co->regs[i].name, name) == 0)
			return &co->regs[i];
	return NULL;
}

/* The index of name among the names seen registered; added when add. */
static int
coord_seen(struct coord *co, const char *name, int add)
{
	for (size_t i = 0; i < co->nseen; i++)
		if (strcmp(co->seen[i], name) == 0)
			return (int)i;
	if (!add || co->nseen == COORD_MAX_REGS)
		return -1;
	snprintf(co->seen[co->nseen], sizeof(co->seen[0]), "%s", name);
	co->gone_ms[co->nseen] = 0;
	return (int)co->nseen++;
}

/* A registration key was put. */
static void
coord_take_reg(struct coord *co, const struct etcd_kv *kv)
{
	struct member_reg r, *slot;
	const char *name = (const char *)kv->key + strlen(co->k_nodes);
	char err[256] = "", ek[512];
	int i;

	if (membership_reg_parse((const char *)kv->value, kv->valuelen, &r, err, sizeof(err)) !=
		0 ||
	    strcmp(r.name, name) != 0) {
		log_warnx("etcd key %s was not written by chainfs (%s): ignored",
			  log_escape((const char *)kv->key, ek, sizeof(ek)),
			  err[0] ? err : "the name inside differs");
		return;
	}
	slot = coord_reg(co, r.name);
	if (slot == NULL) {
		if (co->nregs == COORD_MAX_REGS)
			return;
		slot = &co->regs[co->nregs++];
	}
	*slot = r;
	i = coord_seen(co, r.name, 1);
	if (i >= 0)
		co->gone_ms[i] = 0;
	coord_old_tail_moved(co, r.name, r.epoch, UINT64_MAX);
}

/* A registration key vanished: its lease ran out or it was revoked. */
static void
coord_drop_reg(struct coord *co, const char *key)
{
	const char *name = key + strlen(co->k_nodes);
	struct member_reg *slot = coord_reg(co, name);
	int i = coord_seen(co, name, 1);

	if (slot != NULL) {
		*slot = co->regs[--co->nregs];
		log_info("node %s's registration is gone", name);
	}
	if (i >= 0 && co->gone_ms[i] == 0)
		co->gone_ms[i] = cfs_now_ms();
}

/*
 * A node added by command though not in the file: its address, as the
 * administrator gave it.  Its certificate still has to name it.
 */
static void
coord_take_added(struct coord *co, int type, const struct etcd_kv *kv)
{
	const char *name = (const char *)kv->key + strlen(co->k_added);
	struct cfs_node_addr a;
	char val[CFS_HOST_MAX + 16], err[256], ek[512];
	size_t i;

	for (i = 0; i < co->nadded; i++)
		if (strcmp(co->added[i].name, name) == 0)
			break;
	if (type != ETCD_EV_PUT) {
		if (i < co->nadded) {
			co->added[i] = co->added[--co->nadded];
			log_info("node %s is no longer added: only the file's nodes and the other "
				 "added ones may be in the chain",
				 name);
		}
		return;
	}
	if (!membership_name_ok(name) || kv->valuelen >= sizeof(val)) {
		log_warnx("etcd key %s was not written by chainfs: ignored",
			  log_escape((const char *)kv->key, ek, sizeof(ek)));
		return;
	}
	memcpy(val, kv->value, kv->valuelen);
	val[kv->valuelen] = '\0';
	if (cfs_parse_addr(val, &a, err, sizeof(err)) != 0) {
		log_warnx("etcd key %s: '%s' is not one host:port: ignored", kv->key,
			  log_escape(val, ek, sizeof(ek)));
		return;
	}
	if (cfs_conf_node_index(co->n->conf, name) >= 0) {
		log_warnx("etcd key %s: node %s is in %s already; its address there counts", kv->key,
			  name, co->n->conf->path);
		return;
	}
	snprintf(a.name, sizeof(a.name), "%s", name);
	if (i == co->nadded) {
		if (co->nadded == CFS_MAX_NODES) {
			log_warnx("etcd key %s: %d nodes added already: ignored", kv->key,
				  CFS_MAX_NODES);
			return;
		}
		co->nadded++;
		log_info("node %s (%s:%u) is added by command", name, a.host, a.port);
	}
	co->added[i] = a;
}

const struct cfs_node_addr *
coord_added_addr(const struct coord *co, const char *name)
{
	for (size_t i = 0; i < co->nadded; i++)
		if (strcmp(co->added[i].name, name) == 0)
			return &co->added[i];
	return NULL;
}

/* One key under the prefix, as a range or a watch delivers it. */
static void
coord_take_kv(struct coord *co, int type, const struct etcd_kv *kv)
{
	const char *key = (const char *)kv->key;

	if (kv->mod_revision > co->rev)
		co->rev = kv->mod_revision;
	if (strcmp(key, co->k_config) == 0) {
		if (type == ETCD_EV_PUT)
			coord_take_config(co, kv);
		else
			log_warnx("etcd key %s was deleted by something else than chainfs: the "
				  "nodes keep epoch %llu",
				  co->k_config, (unsigned long long)co->n->chain.epoch);
	} else if (strcmp(key, co->k_master) == 0) {
		if (type == ETCD_EV_PUT) {
			snprintf(co->master, sizeof(co->master), "%.*s", (int)kv->valuelen,
				 (const char *)kv->value);
			if (co->is_master && strcmp(co->master, co->n->self_name) != 0) {
				log_warnx("node %s is the master now, not this node", co->master);
				co->is_master = 0;
			}
		} else {
			co->master[0] = '\0';
			co->is_master = 0;
		}
	} else if (strncmp(key, co->k_removed, strlen(co->k_removed)) == 0) {
		const char *name = key + strlen(co->k_removed);
		size_t i;

		for (i = 0; i < co->nremoved; i++)
			if (strcmp(co->removed[i], name) == 0)
				break;
		if (type == ETCD_EV_PUT && i == co->nremoved && co->nremoved < CFS_MAX_NODES) {
			snprintf(co->removed[co->nremoved++], sizeof(co->removed[0]), "%s", name);
			log_info("node %s is removed by command", name);
		} else if (type != ETCD_EV_PUT && i < co->nremoved) {
			memmove(co->removed[i], co->removed[i + 1],
				sizeof(co->removed[0]) * (co->nremoved - i - 1));
			co->nremoved--;
			log_info("node %s may join again", name);
		}
	} else if (strncmp(key, co->k_added, strlen(co->k_added)) == 0) {
		coord_take_added(co, type, kv);
	} else if (strncmp(key, co->k_nodes, strlen(co->k_nodes)) == 0) {
		if (type == ETCD_EV_PUT)
			coord_take_reg(co, kv);
		else
			coord_drop_reg(co, key);
	}
}

static void coord_load(struct coord *);

/* A watch event. */
static void
coord_watch_cb(void *arg, int type, const struct etcd_kv *kv)
{
	struct coord *co = arg;

	if (co->stopping)
		return;
	if (type == ETCD_EV_COMPACTED || type == ETCD_EV_BROKEN) {
		log_warnx("etcd watch %s: reading everything again",
			  type == ETCD_EV_COMPACTED ? "compacted" : "broken");
		etcd_watch_cancel(co->watch);
		co->watch = NULL;
		coord_load(co);
		return;
	}
	coord_take_kv(co, type, kv);
	if (co->is_master)
		coord_master_step(co);
	coord_sync_progress(co);
}

/* The range of everything under the prefix arrived: watch from after it. */
static void
coord_load_cb(void *arg, const struct etcd_result *r)
{
	struct coord *co = arg;

	if (r->err != ETCD_OK) {
		coord_etcd_failed(co, "reading the cluster's keys", r);
		coord_retry(co, 500);
		return;
	}
	co->nregs = 0;
	co->nremoved = 0;
	co->nadded = 0;
	co->master[0] = '\0';
	for (size_t i = 0; i < r->nkvs; i++)
		coord_take_kv(co, ETCD_EV_PUT, &r->kvs[i]);
	co->rev = r->revision;
	co->watch = etcd_watch(co->etcd, co->prefix, strlen(co->prefix), r->revision + 1,
			       coord_watch_cb, co);
	if (co->watch_since_ms == 0)
		co->watch_since_ms = cfs_now_ms();
	coord_enter(co, CO_RUNNING);
	co->unreachable_logged = 0;
	coord_step(co);
	coord_poke(co); /* confirm freshness now, not a quarter lease later */
}

/* Reads every key of the cluster. */
static void
coord_load(struct coord *co)
{
	coord_enter(co, CO_LOAD);
	etcd_range(co->etcd, co->prefix, strlen(co->prefix), 1, coord_load_cb, co);
}

/* Our registration, as JSON. */
static char *
coord_reg_json(struct coord *co)
{
	struct member_reg r;

	memset(&r, 0, sizeof(r));
	snprintf(r.name, sizeof(r.name), "%s", co->n->self_name);
	r.sn = store_applied_sn(co->n->st);
	r.applied_epoch = co->n->chain.applied_epoch;
	r.epoch = co->n->chain.epoch;
	snprintf(r.synced, sizeof(r.synced), "%s", co->synced);
	r.synced_epoch = co->synced_epoch;
	r.catching_up = co->catching_up;
	return membership_reg_json(&r);
}

/* The registration was created (or our name is still taken). */
static void
coord_register_cb(void *arg, const struct etcd_result *r)
{
	struct coord *co = arg;

	if (r->err == ETCD_ERROR && r->code == 5) {
		/* Our lease ran out while we waited for the name: ask for a new one. */
		log_info("lease %" PRId64 " ran out before registering; asking for another",
			 co->lease);
		coord_enter(co, CO_GRANT);
		coord_retry(co, 100);
		return;
	}
	if (r->err != ETCD_OK) {
		coord_etcd_failed(co, "registering", r);
		coord_enter(co, CO_NAME); /* the outcome may be unknown: look again */
		coord_retry(co, 500);
		return;
	}
	if (!r->succeeded) {
		coord_enter(co, CO_NAME);
		coord_retry(co, 500);
		return;
	}
	co->registered_once = 1;
	log_info("registered with etcd at %s as %s (lease %" PRId64 ", %u ms)",
		 etcd_endpoint(co->etcd), co->k_self, co->lease, co->ttl_ms);
	co->name_wait_ms = 0;
	coord_load(co);
}

/* Whether our name is free. */
static void
coord_name_cb(void *arg, const struct etcd_result *r)
{
	struct coord *co = arg;
	uint64_t now = cfs_now_ms();
	char *json;

	if (r->err != ETCD_OK) {
		coord_etcd_failed(co, "reading the registrations", r);
		coord_retry(co, 500);
		return;
	}
	if (r->nkvs > 0 && r->kvs[0].lease == co->lease) {
		coord_register_cb(co, &(struct etcd_result){.succeeded = 1});
		return;
	}
	if (r->nkvs > 0) {
		if (co->name_wait_ms == 0) {
			co->name_wait_ms = now;
			log_warnx("node name %s is registered already (lease %" PRId64 "): an "
				  "earlier run of this node whose lease has not run out, or another "
				  "node using this name; waiting up to %u ms",
				  co->n->self_name, r->kvs[0].lease, 2 * co->ttl_ms + 2000);
		} else if (now - co->name_wait_ms > 2 * co->ttl_ms + 2000) {
			fatalx("two nodes claim the name %s: %s stays registered by another lease; "
			       "refusing to run as it",
			       co->n->self_name, co->k_self);
		}
		coord_retry(co, 500);
		return;
	}
	coord_enter(co, CO_REGISTER);
	json = coord_reg_json(co);
	etcd_cas(co->etcd, co->k_self, strlen(co->k_self), 0, json, strlen(json), co->lease,
		 coord_register_cb, co);
	free(json);
}

/* The lease was granted. */
static void
coord_grant_cb(void *arg, const struct etcd_result *r)
{
	struct coord *co = arg;

	if (r->err != ETCD_OK || r->lease_id == 0) {
		coord_etcd_failed(co, "asking for a lease", r);
		coord_retry(co, 1000);
		return;
	}
	co->lease = r->lease_id;
	if ((uint64_t)r->ttl * 1000 > co->ttl_ms)
		log_info("etcd granted a lease of %" PRId64 " s (asked for %u ms): its minimum",
			 r->ttl, co->ttl_ms);
	coord_enter(co, CO_NAME);
	coord_step(co);
}

/* Runs the current state's step. */
static void
coord_step(struct coord *co)
{
	if (co->stopping)
		return;
	switch (co->state) {
	case CO_GRANT:
		etcd_lease_grant(co->etcd, (co->ttl_ms + 999) / 1000, coord_grant_cb, co);
		break;
	case CO_NAME:
	case CO_REGISTER:
		coord_enter(co, CO_NAME);
		etcd_range(co->etcd, co->k_self, strlen(co->k_self), 0, coord_name_cb, co);
		break;
	case CO_LOAD:
		coord_load(co);
		break;
	case CO_RUNNING:
		if (co->master[0] == '\0' || co->is_master)
			coord_master_step(co);
		break;
	default:
		break;
	}
}

/* Retry timer. */
static void
coord_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	coord_step(arg);
}

/* One answer of the tick's pair (keepalive, configuration read). */
static void
coord_tick_done(struct coord *co, int ok)
{
	if (!ok)
		co->tick_ok = 0;
	if (--co->tick_pending > 0)
		return;
	if (co->tick_ok && co->state == CO_RUNNING)
		co->fresh_until_ms = co->tick_sent_ms + co->ttl_ms / 2;
	coord_update_serving(co);
}

/* The lease renewal answered. */
static void
coord_keepalive_cb(void *arg, const struct etcd_result *r)
{
	struct coord *co = arg;

	if (r->err != ETCD_OK) {
		coord_etcd_failed(co, "renewing the lease", r);
		coord_tick_done(co, 0);
		return;
	}
	co->unreachable_logged = 0;
	if (r->ttl <= 0) {
		/* The master may have removed us; our registration is gone. */
		log_warnx("lease %" PRId64 " ran out in etcd: registering again", co->lease);
		co->fresh_until_ms = 0;
		if (co->watch != NULL)
			etcd_watch_cancel(co->watch);
		co->watch = NULL;
		co->is_master = 0;
		coord_enter(co, CO_GRANT);
		coord_tick_done(co, 0);
		coord_step(co);
		return;
	}
	coord_tick_done(co, 1);
}

/* The configuration read answered: the epoch is confirmed, or we learn a newer one. */
static void
coord_config_cb(void *arg, const struct etcd_result *r)
{
	struct coord *co = arg;
	uint64_t before = co->n->chain.epoch;

	if (r->err != ETCD_OK) {
		coord_etcd_failed(co, "reading the configuration", r);
		coord_tick_done(co, 0);
		return;
	}
	if (r->nkvs == 0) {
		/* No configuration yet: nothing to serve, the master makes one. */
		coord_tick_done(co, co->n->chain.view.n == 0);
		return;
	}
	coord_take_config(co, &r->kvs[0]);
	/* Fresh only if what etcd holds is what we follow. */
	coord_tick_done(co, co->have_config && co->config.epoch == co->n->chain.epoch &&
				    co->n->chain.epoch >= before);
}

/* A renewal while waiting for our name: a lease that ran out is replaced. */
static void
coord_wait_keepalive_cb(void *arg, const struct etcd_result *r)
{
	struct coord *co = arg;

	if (r->err == ETCD_OK && r->ttl <= 0 && co->state != CO_RUNNING && !co->stopping) {
		coord_enter(co, CO_GRANT);
		coord_retry(co, 100);
	}
}

/* Every T/4: renew, confirm the configuration, and let the master work. */
static void
coord_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct coord *co = arg;

	coord_update_serving(co);
	if ((co->state == CO_NAME || co->state == CO_REGISTER) && co->lease != 0) {
		/* Keep the lease alive while waiting for the name, without counting on it. */
		etcd_lease_keepalive(co->etcd, co->lease, coord_wait_keepalive_cb, co);
		return;
	}
	if (co->state != CO_RUNNING || co->tick_pending > 0)
		return;
	co->tick_pending = 2;
	co->tick_ok = 1;
	co->tick_sent_ms = cfs_now_ms();
	etcd_lease_keepalive(co->etcd, co->lease, coord_keepalive_cb, co);
	etcd_range(co->etcd, co->k_config, strlen(co->k_config), 0, coord_config_cb, co);
	coord_step(co);
	coord_sync_progress(co);
}

/* The master key answered our campaign. */
static void
coord_campaign_cb(void *arg, const struct etcd_result *r)
{
	struct coord *co = arg;

	co->campaigning = 0;
	if (r->err != ETCD_OK) {
		coord_etcd_failed(co, "campaigning for master", r);
		return;
	}
	if (r->succeeded) {
		co->is_master = 1;
		snprintf(co->master, sizeof(co->master), "%s", co->n->self_name);
		log_info("this node is the master");
		coord_master_step(co);
	} else if (r->nkvs > 0) {
		snprintf(co->master, sizeof(co->master), "%.*s", (int)r->kvs[0].valuelen,
			 (const char *)r->kvs[0].value);
	}
}

/* Whether the master may remove a member that is not registered. */
static int
coord_may_remove(void *arg, const char *name)
{
	struct coord *co = arg;
	int i = coord_seen(co, name, 0);

	/* Saw it go, or watched a lease's length without seeing it come. */
	if (i >= 0 && co->gone_ms[i] != 0)
		return 1;
	return cfs_now_ms() - co->watch_since_ms >= co->ttl_ms + 1000;
}

/* The master's compare-and-swap of the configuration answered. */
static void
coord_cas_cb(void *arg, const struct etcd_result *r)
{
	struct coord *co = arg;

	co->cas_pending = 0;
	if (r->err != ETCD_OK) {
		/* Unknown outcome: the next tick reads the configuration before trying again. */
		coord_etcd_failed(co, "writing the configuration", r);
		return;
	}
	if (!r->succeeded) {
		log_info("the configuration changed under the master; reading it again");
		if (r->nkvs > 0)
			coord_take_config(co, &r->kvs[0]);
		return;
	}
	co->stats.config_changes++;
	if (co->change_since_ms != 0)
		co->stats.last_failover_ms = cfs_now_ms() - co->change_since_ms;
	co->change_since_ms = 0;
}

/* The master's one step, when nothing else is in flight. */
static void
coord_master_step(struct coord *co)
{
	struct node *n = co->n;
	const char *allowed[CFS_MAX_NODES];
	struct membership_input in;
	struct chain_view next;
	char why[256], *json;
	uint64_t now = cfs_now_ms();
	size_t registered = 0, nallowed = 0;

	if (co->state != CO_RUNNING || co->stopping)
		return;
	if (!co->is_master) {
		if (co->master[0] == '\0' && !co->campaigning) {
			co->campaigning = 1;
			etcd_cas(co->etcd, co->k_master, strlen(co->k_master), 0, n->self_name,
				 strlen(n->self_name), co->lease, coord_campaign_cb, co);
		}
		return;
	}
	if (co->cas_pending)
		return;
	for (size_t i = 0; i < n->conf->nnodes + co->nadded && nallowed < CFS_MAX_NODES; i++) {
		const char *name = i < n->conf->nnodes ? n->conf->nodes[i].addr.name
						       : co->added[i - n->conf->nnodes].name;
		size_t k;

		for (k = 0; k < co->nremoved; k++)
			if (strcmp(co->removed[k], name) == 0)
				break;
		if (k < co->nremoved)
			continue;
		allowed[nallowed++] = name;
		if (coord_reg(co, name) != NULL)
			registered++;
	}
	memset(&in, 0, sizeof(in));
	in.cur = co->have_config ? &co->config : NULL;
	in.regs = co->regs;
	in.nregs = co->nregs;
	in.allowed = allowed;
	in.nallowed = nallowed;
	in.may_remove = coord_may_remove;
	in.arg = co;
	in.initial_ready = registered == nallowed ||
			   now - co->watch_since_ms >= co->ttl_ms + 2000;
	in.tail_wait_ms = co->ttl_ms / 2 + COORD_TAIL_MARGIN_MS;
	while (in.new_cluster_id == 0)
		if (getrandom(&in.new_cluster_id, sizeof(in.new_cluster_id), 0) !=
		    sizeof(in.new_cluster_id))
			fatal("getrandom");
	if (membership_next(&in, &next, why, sizeof(why)) != 1)
		return;
	log_info("master: epoch %llu -> %llu: %s", (unsigned long long)(in.cur ? in.cur->epoch : 0),
		 (unsigned long long)next.epoch, why);
	co->change_since_ms = 0;
	if (in.cur != NULL && next.n < in.cur->n) {
		for (uint16_t i = 0; i < in.cur->n; i++) {
			int k = coord_seen(co, in.cur->nodes[i], 0);

			if (view_index(&next, in.cur->nodes[i]) < 0 && k >= 0)
				co->change_since_ms = co->gone_ms[k];
		}
	}
	json = membership_view_json(&next);
	co->cas_pending = 1;
	etcd_cas(co->etcd, co->k_config, strlen(co->k_config), in.cur ? co->config_rev : 0, json,
		 strlen(json), 0, coord_cas_cb, co);
	free(json);
}

/* Our registration was rewritten. */
static void
coord_put_reg_cb(void *arg, const struct etcd_result *r)
{
	struct coord *co = arg;

	co->reg_pending = 0;
	if (r->err != ETCD_OK)
		coord_etcd_failed(co, "updating the registration", r);
}

/* Rewrites our registration (epoch, synced). */
static void
coord_put_reg(struct coord *co)
{
	char *json;

	if (co->state != CO_RUNNING || co->reg_pending || co->stopping)
		return;
	co->reg_pending = 1;
	json = coord_reg_json(co);
	etcd_put(co->etcd, co->k_self, strlen(co->k_self), json, strlen(json), co->lease,
		 coord_put_reg_cb, co);
	free(json);
}

void
coord_sync_progress(struct coord *co)
{
	struct node *n = co->n;
	const char *syncing = n->chain.view.syncing;

	if (!n->chain.succ_joining || !n->succ_ready || !n->serving)
		return;
	if (n->chain.sync_acked_sn < store_applied_sn(n->st))
		return;
	if (strcmp(co->synced, syncing) == 0 && co->synced_epoch == n->chain.epoch)
		return;
	snprintf(co->synced, sizeof(co->synced), "%s", syncing);
	co->synced_epoch = n->chain.epoch;
	log_info("node %s has every entry up to sn %llu: reporting it synced", syncing,
		 (unsigned long long)n->chain.sync_acked_sn);
	co->reg_pending = 0; /* this one must go out */
	coord_put_reg(co);
}

void
coord_poke(struct coord *co)
{
	if (co->state == CO_RUNNING && co->tick_pending == 0)
		event_active(co->tick, EV_TIMEOUT, 0);
}

void
coord_fill_status(struct coord *co, struct cfs_status *s)
{
	uint64_t now = cfs_now_ms();

	s->flags |= CFS_STATUS_ETCD;
	if (now >= co->fresh_until_ms)
		s->flags |= CFS_STATUS_FENCED;
	if (now < co->wait_until_ms || co->catching_up)
		s->flags |= CFS_STATUS_WAITING;
	if (co->is_master)
		s->flags |= CFS_STATUS_MASTER;
	snprintf(s->master, sizeof(s->master), "%s", co->master);
}

const struct coord_stats *
coord_stats(const struct coord *co)
{
	return &co->stats;
}

int
coord_start(struct node *n)
{
	struct coord *co = xcalloc(1, sizeof(*co));
	struct etcd_opts o;
	struct timeval tv;
	char err[256];

	memset(&o, 0, sizeof(o));
	for (size_t i = 0; i < n->conf->netcd && i < ETCD_MAX_ENDPOINTS; i++)
		o.endpoints[o.nendpoints++] = n->conf->etcd[i];
	o.tls = n->client_ctx;
	o.source = n->source;
	co->ttl_ms = n->conf->lease_ttl_s * 1000;
	/* A request must not outlive the freshness it would confirm. */
	o.timeout_ms = co->ttl_ms / 2;
	co->etcd = etcd_new(n->base, &o, err, sizeof(err));
	if (co->etcd == NULL) {
		log_warnx("%s: coordinator: %s", n->conf->path, err);
		free(co);
		return -1;
	}
	co->n = n;
	snprintf(co->prefix, sizeof(co->prefix), "/chainfs/%s/", n->conf->cluster);
	snprintf(co->k_config, sizeof(co->k_config), "%sconfig", co->prefix);
	snprintf(co->k_master, sizeof(co->k_master), "%smaster", co->prefix);
	snprintf(co->k_nodes, sizeof(co->k_nodes), "%snodes/", co->prefix);
	snprintf(co->k_self, sizeof(co->k_self), "%s%s", co->k_nodes, n->self_name);
	snprintf(co->k_removed, sizeof(co->k_removed), "%sremoved/", co->prefix);
	snprintf(co->k_added, sizeof(co->k_added), "%sadded/", co->prefix);
	co->started_ms = cfs_now_ms();
	co->tick = event_new(n->base, -1, EV_PERSIST, coord_tick_cb, co);
	co->retry = evtimer_new(n->base, coord_retry_cb, co);
	co->wait_ev = evtimer_new(n->base, coord_wait_cb, co);
	tv.tv_sec = co->ttl_ms / 4 / 1000;
	tv.tv_usec = (co->ttl_ms / 4 % 1000) * 1000;
	event_add(co->tick, &tv);
	n->coord = co;
	log_info("failover on: etcd at %s, cluster %s, lease %u s; answering no client until "
		 "registered and given a configuration",
		 n->conf->etcd[0], n->conf->cluster, n->conf->lease_ttl_s);
	coord_enter(co, CO_GRANT);
	coord_step(co);
	return 0;
}

/* The revocation at shutdown answered. */
static void
coord_revoke_cb(void *arg, const struct etcd_result *r)
{
	int *done = arg;

	*done = r->err == ETCD_OK ? 1 : -1;
}

void
coord_stop(struct coord *co)
{
	struct timespec until;
	int done = 0;

	if (co == NULL)
		return;
	/* Nothing of ours runs from here on but the revocation's answer. */
	co->stopping = 1;
	event_del(co->tick);
	event_del(co->retry);
	event_del(co->wait_ev);
	if (co->watch != NULL)
		etcd_watch_cancel(co->watch);
	co->watch = NULL;
	if (co->state == CO_RUNNING && co->lease != 0) {
		/*
		 * A planned stop: answer nobody, then give the lease back, so that
		 * the master removes this node now instead of a lease later.
		 */
		node_set_serving(co->n, 0);
		co->state = CO_GRANT;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += 2;
		etcd_lease_revoke(co->etcd, co->lease, coord_revoke_cb, &done);
		while (done == 0) {
			struct timespec now;

			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec > until.tv_sec ||
			    (now.tv_sec == until.tv_sec && now.tv_nsec >= until.tv_nsec))
				break;
			if (event_base_loop(co->n->base, EVLOOP_ONCE) < 0)
				break;
		}
		if (done == 1)
			log_info("lease %" PRId64 " given back: the chain goes on without this node",
				 co->lease);
		else
			log_warnx("could not give the lease back; the chain drops this node when it "
				  "runs out");
	}
	event_free(co->tick);
	event_free(co->retry);
	event_free(co->wait_ev);
	etcd_free(co->etcd);
	free(co);
}
