/*
 * The tail's leases and recalls (DESIGN.md, "Coherent client caching"),
 * over the table of replication/lease.h:
 *
 *   - a read the tail answers (lookup, getattr, readdirplus, read) may
 *     carry a lease on the attributes or data it shows (a lookup's also on
 *     its directory, for the client process to keep the name), an update's
 *     reply one for its writer;
 *   - when the tail applies an entry, what the store says it changed is
 *     recalled from every other holder (RECALL, one frame per client and
 *     entry), the changed inodes are fenced, and the entry's reply is held
 *     until the group is released (every holder acknowledged, or its lease
 *     ran out);
 *   - a read that would show a fenced inode is parked and run again when a
 *     group is released;
 *   - a read sees committed state only (store.h): an inode changed in the
 *     open batch gets no lease from a read, which would otherwise grant the
 *     state before a change whose reply is about to leave;
 *   - a node that becomes the tail answers nothing until every lease an
 *     earlier tail could have granted ran out (node_lease_view): with
 *     failover, leases end when their tail would fence itself, so only an
 *     old tail handed over alive makes the new one wait; in a fixed chain,
 *     the tail restarted waits for the horizon it wrote to its data
 *     directory before its grants (the file "leases": no lease it granted
 *     ends later).
 *
 * Frames to clients go through node_queue_frame/_records, in the order of
 * the replies that the batch produced: a recall never overtakes the reply
 * that granted what it recalls.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "daemon/coord.h"
#include "daemon/node.h"
#include "daemon/node_int.h"
#include "replication/lease.h"

#define NODE_LEASE_BUCKETS 256
/* Inodes changed in the open batch that reads may not lease; past it, none may be. */
#define NODE_BATCH_INOS 512
/* Reads parked behind recalls, in all and per client; past these a read is answered BUSY. */
#define NODE_MAX_PARKED 65536
#define NODE_CLIENT_PARKED 4096
/* A read request is an op with a name: nothing near this (a larger one is answered BUSY). */
#define NODE_PARKED_BODY_MAX 4096

/* One client's RECALL frame of a group. */
struct node_recall_to {
	uint64_t client;
	struct cfs_wbuf frame;
	size_t count_at; /* where the item count is */
	size_t start;	 /* the frame's start */
};

/* A recall group that waits: its held replies and its recalls (to send again). */
struct node_recall {
	uint64_t g;
	struct cfs_wbuf held; /* reply records (node_reply_record) */
	struct node_recall_to *to;
	size_t nto, capto;
	struct node_recall *next; /* hash chain */
};

/* A read waiting until what it shows is no longer being recalled. */
struct node_parked {
	uint64_t client;
	uint64_t ino; /* what it waits for (another may fence it when it runs again) */
	struct cfs_header h;
	uint8_t *body;
	TAILQ_ENTRY(node_parked) link;
};
TAILQ_HEAD(node_parked_list, node_parked);

struct node_leases {
	struct lease_table *t;
	uint32_t max_ms;
	struct store_changes ch;
	/* The entry being applied: its group when it waits (its reply is held then). */
	struct node_recall *cur;
	struct node_recall *recalls[NODE_LEASE_BUCKETS];
	uint64_t batch_ino[NODE_BATCH_INOS];
	uint32_t nbatch;
	int batch_all;
	struct node_parked_list parked;
	uint32_t nparked;
	struct event *timer;
	uint64_t start_fence_ms; /* restart in a fixed chain: wait this long (from the horizon) */
	char horizon_path[PATH_MAX];
	uint64_t horizon_real_ms; /* no lease this node granted ends later (wall clock) */
	int horizon_failed_logged;
	struct coord *coord; /* failover on: leases end by its fresh_until */
	int cur_no_lease;    /* the entry being applied: its reply gets no lease */
	uint64_t granted_until; /* the end of the longest lease granted (kept across epochs) */
};

static uint64_t
node_realtime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct node_recall **
node_recall_bucket(struct node_leases *lz, uint64_t g)
{
	return &lz->recalls[(g * 0x9E3779B97F4A7C15ull) >> 56];
}

static struct node_recall *
node_recall_find(struct node_leases *lz, uint64_t g, int unlink)
{
	struct node_recall **pp;

	for (pp = node_recall_bucket(lz, g); *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->g == g) {
			struct node_recall *r = *pp;

			if (unlink)
				*pp = r->next;
			return r;
		}
	return NULL;
}

static void
node_recall_free(struct node_recall *r)
{
	for (size_t i = 0; i < r->nto; i++)
		cfs_wbuf_free(&r->to[i].frame);
	free(r->to);
	cfs_wbuf_free(&r->held);
	free(r);
}

/* Drops every group (their held replies: the clients ask again) and parked read. */
static void
node_lease_clear(struct node_leases *lz)
{
	struct node_parked *pk;

	lease_reset(lz->t);
	for (size_t i = 0; i < NODE_LEASE_BUCKETS; i++)
		while (lz->recalls[i] != NULL) {
			struct node_recall *r = lz->recalls[i];

			lz->recalls[i] = r->next;
			node_recall_free(r);
		}
	while ((pk = TAILQ_FIRST(&lz->parked)) != NULL) {
		TAILQ_REMOVE(&lz->parked, pk, link);
		free(pk->body);
		free(pk);
	}
	lz->nparked = 0;
	lz->cur = NULL;
	lz->nbatch = 0;
	lz->batch_all = 0;
}

/* Reads the horizon a previous run of this node left. */
static void
node_lease_read_horizon(struct node_leases *lz)
{
	char buf[32];
	uint64_t h, now = node_realtime_ms();
	ssize_t len;
	int fd = open(lz->horizon_path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		if (errno != ENOENT) {
			log_warn("%s", lz->horizon_path);
			lz->start_fence_ms = 1000 * (uint64_t)CFS_MAX_LEASE;
		}
		return; /* never granted a lease from this directory */
	}
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0 || (buf[len] = '\0', sscanf(buf, "%" SCNu64, &h) != 1)) {
		log_warnx("%s: unreadable; waiting out the longest lease", lz->horizon_path);
		lz->start_fence_ms = 1000 * (uint64_t)CFS_MAX_LEASE;
		return;
	}
	if (h > now) {
		/*
		 * A clock stepped far back must not make it wait for ever: at most
		 * two of the longest leases any configuration grants.
		 */
		lz->start_fence_ms = h - now > 2000 * (uint64_t)CFS_MAX_LEASE
					 ? 2000 * (uint64_t)CFS_MAX_LEASE
					 : h - now;
	}
	lz->horizon_real_ms = h;
}

/*
 * Makes sure the horizon on disk covers a lease of ms from now, writing a
 * new one (two leases ahead) when it does not.  -1 when it cannot: no lease.
 */
static int
node_lease_horizon(struct node_leases *lz, uint32_t ms)
{
	uint64_t now = node_realtime_ms(), h = now + 2 * (uint64_t)lz->max_ms;
	char buf[32];
	int fd, len, ok;

	if (now + ms <= lz->horizon_real_ms)
		return 0;
	fd = open(lz->horizon_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (!lz->horizon_failed_logged++)
			log_warn("%s: grants no leases", lz->horizon_path);
		return -1;
	}
	len = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", h);
	ok = write(fd, buf, (size_t)len) == len && fdatasync(fd) == 0;
	if (close(fd) != 0)
		ok = 0;
	if (!ok) {
		if (!lz->horizon_failed_logged++)
			log_warn("%s: grants no leases", lz->horizon_path);
		return -1;
	}
	lz->horizon_failed_logged = 0;
	lz->horizon_real_ms = h;
	return 0;
}

/* Grants client a lease on ino, capped by lease-max; 0 when refused. */
static uint32_t
node_lease_grant(struct node_leases *lz, uint64_t client, uint32_t want, uint64_t ino,
		 uint64_t now)
{
	uint32_t ms = want < lz->max_ms ? want : lz->max_ms;

	if (lz->coord != NULL) {
		/* Never past our own fencing: a dead tail leaves no lease behind. */
		uint64_t until = coord_fresh_until(lz->coord);

		if (until <= now)
			return 0;
		if (until - now < ms)
			ms = (uint32_t)(until - now);
	}
	if (ms == 0 || ino == 0 || node_lease_horizon(lz, ms) != 0)
		return 0;
	ms = lease_grant(lz->t, client, ino, now, ms);
	if (ms > 0 && now + ms > lz->granted_until)
		lz->granted_until = now + ms;
	return ms;
}

/* Whether ino changed in the open batch (reads see the state before it). */
static int
node_batch_changed(const struct node_leases *lz, uint64_t ino)
{
	if (lz->batch_all)
		return 1;
	for (uint32_t i = 0; i < lz->nbatch; i++)
		if (lz->batch_ino[i] == ino)
			return 1;
	return 0;
}

static void
node_batch_note(struct node_leases *lz, uint64_t ino)
{
	if (node_batch_changed(lz, ino))
		return;
	if (lz->nbatch == NODE_BATCH_INOS)
		lz->batch_all = 1;
	else
		lz->batch_ino[lz->nbatch++] = ino;
}

static void node_lease_progress(struct node *);

static void
node_lease_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	node_lease_progress(arg);
}

/* Runs the timer at the next time a wait can end by itself. */
static void
node_lease_arm(struct node *n)
{
	struct node_leases *lz = n->lz;
	uint64_t at = lease_next_deadline(lz->t), now = cfs_now_ms();
	struct timeval tv;

	if (at == 0) {
		evtimer_del(lz->timer);
		return;
	}
	at = at > now ? at - now : 0;
	tv.tv_sec = (time_t)(at / 1000);
	tv.tv_usec = (suseconds_t)(at % 1000) * 1000;
	evtimer_add(lz->timer, &tv);
}

void
node_lease_start(struct node *n)
{
	struct node_leases *lz;
	struct lease_limits lim = {0, 0};
	const char *dir = n->conf->nodes[n->self].data_dir;

	n->lz = NULL;
	if (n->conf->lease_max_s == 0)
		return;
	lz = xcalloc(1, sizeof(*lz));
	lz->t = lease_new(&lim);
	lz->max_ms = n->conf->lease_max_s * 1000;
	TAILQ_INIT(&lz->parked);
	lz->timer = evtimer_new(n->base, node_lease_timer_cb, n);
	snprintf(lz->horizon_path, sizeof(lz->horizon_path), "%s/leases", dir);
	node_lease_read_horizon(lz);
	n->lz = lz;
}

void
node_lease_stop(struct node *n)
{
	struct node_leases *lz = n->lz;

	if (lz == NULL)
		return;
	store_track(n->st, NULL);
	node_lease_clear(lz);
	lease_free(lz->t);
	event_free(lz->timer);
	free(lz);
	n->lz = NULL;
}

void
node_lease_view(struct node *n, int was_tail, int is_tail)
{
	struct node_leases *lz = n->lz;
	uint64_t now = cfs_now_ms(), until;

	if (lz == NULL)
		return;
	if (!is_tail) {
		node_lease_clear(lz);
		store_track(n->st, NULL);
		evtimer_del(lz->timer);
		return;
	}
	store_track(n->st, &lz->ch);
	if (was_tail)
		return; /* the same tail goes on: its leases and groups stand */
	node_lease_clear(lz);
	/*
	 * A fixed chain has one tail, this node: only its own leases from
	 * before a restart can be out there (the horizon file says until
	 * when).  With failover a tail's leases end when it would fence
	 * itself (node_lease_grant), at most half the etcd TTL after it last
	 * renewed: a tail that died did so before its registration ran out and
	 * it was removed.  An old tail handed over alive (removed by command,
	 * or a synced node appended) answers until it learns the epoch or
	 * fences itself (wait_ms), and its leases last half a TTL beyond.
	 */
	lz->coord = n->coord;
	if (n->coord != NULL)
		return; /* coord_new_view makes the handover wait (coord.c) */
	until = now + lz->start_fence_ms;
	lz->start_fence_ms = 0;
	if (until > now) {
		log_info("tail: answering once every lease an earlier tail could have granted ran "
			 "out (%llu ms)",
			 (unsigned long long)(until - now));
		lease_fence_all(lz->t, until);
		node_lease_arm(n);
	}
}

/* One RECALL frame names at most every inode an entry changed. */
_Static_assert(STORE_CHANGES_MAX <= CFS_RECALL_MAX, "a recall must fit one frame");

/* A holder of ino is told to drop it. */
struct node_holder_ctx {
	struct node *n;
	struct node_recall *r;
	uint64_t ino;
	uint8_t kind; /* CFS_RECALL_INODE, or _GONE */
};

static struct node_recall_to *
node_recall_to(struct node_recall *r, uint64_t client, uint64_t g, uint64_t epoch)
{
	struct node_recall_to *to;

	for (size_t i = 0; i < r->nto; i++)
		if (r->to[i].client == client)
			return &r->to[i];
	if (r->nto == r->capto) {
		r->capto = r->capto ? 2 * r->capto : 4;
		r->to = xrealloc(r->to, r->capto * sizeof(*r->to));
	}
	to = &r->to[r->nto++];
	memset(to, 0, sizeof(*to));
	to->client = client;
	cfs_wbuf_init(&to->frame);
	to->start = cfs_frame_begin(&to->frame, CFS_MSG_RECALL, g, epoch);
	to->count_at = cfs_recall_begin(&to->frame);
	return to;
}

/* lease_group_add: a holder of ctx->ino, to be told. */
static void
node_lease_holder(void *arg, uint64_t client)
{
	struct node_holder_ctx *ctx = arg;
	struct node_recall_to *to = node_recall_to(ctx->r, client, ctx->r->g, ctx->n->chain.epoch);

	cfs_recall_add(&to->frame, to->count_at, ctx->kind, ctx->ino);
}

void
node_lease_applied(struct node *n, const struct cfs_entry *e)
{
	struct node_leases *lz = n->lz;
	struct store_changes *ch;
	struct node_recall *r;
	uint64_t now;

	if (lz == NULL)
		return;
	ch = &lz->ch;
	lz->cur = NULL;
	/* A retry's stored result may predate later changes: never a lease on it. */
	lz->cur_no_lease = e->kind != CFS_ENTRY_UPDATE;
	now = cfs_now_ms();
	if (ch->ninodes == 0 && !ch->overflow) {
		/*
		 * It changed nothing, but its answer may still show what a
		 * recall is taking out of caches: a retry answered from the
		 * result table, a failure decided by a fenced inode (EEXIST
		 * after a create being recalled).  Such an answer waits behind
		 * the groups on the inodes it names, as a group of its own.
		 */
		if (!lease_fenced(lz->t, e->op.ino, now) &&
		    (e->op.ino2 == 0 || !lease_fenced(lz->t, e->op.ino2, now)))
			return;
		ch->inodes[ch->ninodes++] = e->op.ino;
		if (e->op.ino2 != 0)
			ch->inodes[ch->ninodes++] = e->op.ino2;
	}
	if (ch->overflow) {
		/* Too much to name: nothing is granted or shown until every lease ran out. */
		log_info("sn %llu changed too much to recall by name: waiting out every lease",
			 (unsigned long long)e->sn);
		lz->batch_all = 1;
		lease_fence_all(lz->t, now + lz->max_ms); /* it only ever lengthens the fence */
	}
	r = xcalloc(1, sizeof(*r));
	cfs_wbuf_init(&r->held);
	/* The writer's kernel knows what its own update did, unless the client made it alone. */
	r->g = lease_group_begin(lz->t, (e->op.flags & CFS_OP_RECALL_WRITER) ? 0 : e->client_id,
				 now);
	for (uint32_t i = 0; i < ch->ninodes; i++) {
		struct node_holder_ctx ctx = {n, r, ch->inodes[i],
					      (ch->gone & (1u << i)) ? CFS_RECALL_GONE
								     : CFS_RECALL_INODE};

		if (n->batch_open)
			node_batch_note(lz, ch->inodes[i]);
		lease_group_add(lz->t, r->g, ch->inodes[i], node_lease_holder, &ctx);
	}
	store_track(n->st, ch); /* empty again for the next entry */
	if (lease_group_end(lz->t, r->g, now) == 0) {
		node_recall_free(r);
		return;
	}
	r->next = *node_recall_bucket(lz, r->g);
	*node_recall_bucket(lz, r->g) = r;
	for (size_t i = 0; i < r->nto; i++) {
		struct node_recall_to *to = &r->to[i];

		cfs_frame_end(&to->frame, to->start);
		node_queue_frame(n, to->client, to->frame.p, to->frame.len);
	}
	lz->cur = r;
	node_lease_arm(n);
}

int
node_lease_hold(struct node *n, uint64_t client_id, uint64_t seq, struct cfs_reply *r)
{
	struct node_leases *lz = n->lz;
	struct node_peer *p;
	uint32_t ms = UINT32_MAX, got;
	uint64_t now;

	if (lz == NULL) {
		r->ndirs = 0; /* they come with a lease only */
		return 0;
	}
	if (lz->cur != NULL) {
		/* No lease in a held reply: a later recall could overtake it. */
		r->lease_ms = 0;
		r->ndirs = 0;
		node_reply_record(n, &lz->cur->held, client_id, seq, r);
		return 1;
	}
	if (r->status != 0 || lz->cur_no_lease || (p = node_find_client(n, client_id)) == NULL ||
	    p->lease_ms == 0) {
		r->ndirs = 0;
		return 0;
	}
	/*
	 * The writer may cache the attributes its own update shows, and the
	 * directories it changed as it left them: the next change recalls them.
	 */
	now = cfs_now_ms();
	if (r->attr.ino != 0)
		ms = node_lease_grant(lz, client_id, p->lease_ms, r->attr.ino, now);
	for (unsigned i = 0; i < r->ndirs && ms > 0; i++) {
		got = node_lease_grant(lz, client_id, p->lease_ms, r->dirs[i].ino, now);
		if (got == 0) {
			r->ndirs = 0; /* refused: none of them, the reply's own lease may stay */
			break;
		}
		ms = got < ms ? got : ms;
	}
	r->lease_ms = ms == UINT32_MAX ? 0 : ms;
	if (r->lease_ms == 0)
		r->ndirs = 0;
	return 0;
}

/*
 * Parks a read until the recall of ino (fenced) is over; -1 when too many
 * wait or the request is larger than a read has any need to be (the caller
 * answers BUSY).
 */
static int
node_lease_park(struct node_leases *lz, struct node_peer *p, const struct cfs_header *h,
		const uint8_t *body, uint64_t ino)
{
	struct node_parked *pk;

	if (lz->nparked >= NODE_MAX_PARKED || p->parked >= NODE_CLIENT_PARKED ||
	    h->length > NODE_PARKED_BODY_MAX)
		return -1;
	pk = xcalloc(1, sizeof(*pk));
	pk->client = p->client_id;
	pk->ino = ino;
	pk->h = *h;
	pk->body = xmalloc(h->length > 0 ? h->length : 1);
	memcpy(pk->body, body, h->length);
	TAILQ_INSERT_TAIL(&lz->parked, pk, link);
	lz->nparked++;
	p->parked++;
	return 0;
}

int
node_lease_read(struct node *n, struct node_peer *p, const struct cfs_header *h,
		const uint8_t *body, const struct cfs_op *op, struct cfs_reply *r)
{
	struct node_leases *lz = n->lz;
	uint64_t inos[2], now, gino, fenced = 0;
	size_t ninos = 0;
	int grant;
	uint32_t ms = UINT32_MAX;
	struct cfs_rbuf rb;
	struct cfs_dirent d;

	if (lz == NULL)
		return 0;
	now = cfs_now_ms();
	inos[ninos++] = op->ino;
	if (r->attr.ino != 0 && r->attr.ino != op->ino)
		inos[ninos++] = r->attr.ino;
	for (size_t i = 0; i < ninos && !fenced; i++)
		if (lease_fenced(lz->t, inos[i], now))
			fenced = inos[i];
	if (!fenced && op->type == CFS_OP_READDIR && (op->flags & CFS_READDIR_PLUS) &&
	    r->status == 0) {
		cfs_rbuf_init(&rb, r->data, r->datalen);
		while (!fenced && rb.off < rb.len && cfs_dirent_get(&rb, &d, 1) == CFS_WIRE_OK)
			if (lease_fenced(lz->t, d.ino, now))
				fenced = d.ino;
	}
	if (fenced) {
		if (node_lease_park(lz, p, h, body, fenced) == 0)
			return 1;
		memset(r, 0, sizeof(*r));
		r->status = CFS_ERR_BUSY; /* the client asks again in a moment */
		return 0;
	}
	/*
	 * Leases on what the kernel caches: attributes (and with them the
	 * page cache).  Names are not leased to the kernel: dropping a name
	 * from a kernel takes its directory's lock, which a local lookup or
	 * create holds while it waits for this tail (DESIGN.md).
	 */
	grant = p->lease_ms > 0 &&
		((op->type == CFS_OP_LOOKUP && (r->status == 0 || r->status == ENOENT)) ||
		 (r->status == 0 &&
		  (op->type == CFS_OP_GETATTR || op->type == CFS_OP_READ ||
		   (op->type == CFS_OP_READDIR && (op->flags & CFS_READDIR_PLUS)))));
	if (!grant)
		return 0;
	/*
	 * A lookup's name is leased on its directory, whose inode every change
	 * of its names writes: the client keeps the name (not its kernel, see
	 * above) and answers the kernel's next lookups of it.
	 */
	if (op->type == CFS_OP_LOOKUP) {
		if (node_batch_changed(lz, op->ino))
			return 0;
		ms = node_lease_grant(lz, p->client_id, p->lease_ms, op->ino, now);
		if (ms == 0 || r->status != 0)
			goto out;
	}
	/* A read's data is leased on its file (the client's readahead keeps it). */
	gino = op->type == CFS_OP_READ ? op->ino : r->attr.ino;
	if (gino != 0) {
		uint32_t got;

		if (node_batch_changed(lz, gino))
			return 0;
		got = node_lease_grant(lz, p->client_id, p->lease_ms, gino, now);
		ms = got < ms ? got : ms;
	}
	if (op->type == CFS_OP_READDIR) {
		uint32_t got;

		/*
		 * The directory's names too, as for a lookup: the client keeps the
		 * page's names, and a listing read to its end under the lease
		 * tells it every name there is.
		 */
		if (node_batch_changed(lz, op->ino))
			return 0;
		cfs_rbuf_init(&rb, r->data, r->datalen);
		while (rb.off < rb.len && cfs_dirent_get(&rb, &d, 1) == CFS_WIRE_OK)
			if (node_batch_changed(lz, d.ino))
				return 0;
		got = node_lease_grant(lz, p->client_id, p->lease_ms, op->ino, now);
		ms = got < ms ? got : ms;
		cfs_rbuf_init(&rb, r->data, r->datalen);
		while (ms > 0 && rb.off < rb.len && cfs_dirent_get(&rb, &d, 1) == CFS_WIRE_OK) {
			got = node_lease_grant(lz, p->client_id, p->lease_ms, d.ino, now);
			ms = got < ms ? got : ms;
		}
	}
out:
	r->lease_ms = ms == UINT32_MAX ? 0 : ms;
	return 0;
}

/* Runs the parked reads again whose inode is no longer fenced (each parks again if it must). */
static void
node_lease_unpark(struct node *n)
{
	struct node_leases *lz = n->lz;
	struct node_parked_list list;
	struct node_parked *pk, *next;
	uint64_t now = cfs_now_ms();

	/* Only the reads whose inode is free now run again: the others would park again. */
	TAILQ_INIT(&list);
	for (pk = TAILQ_FIRST(&lz->parked); pk != NULL; pk = next) {
		next = TAILQ_NEXT(pk, link);
		if (lease_fenced(lz->t, pk->ino, now))
			continue;
		TAILQ_REMOVE(&lz->parked, pk, link);
		TAILQ_INSERT_TAIL(&list, pk, link);
		lz->nparked--;
	}
	while ((pk = TAILQ_FIRST(&list)) != NULL) {
		struct node_peer *p = node_find_client(n, pk->client);

		TAILQ_REMOVE(&list, pk, link);
		if (p != NULL) {
			if (p->parked > 0)
				p->parked--;
			(void)node_on_request(n, p, &pk->h, pk->body);
		}
		free(pk->body);
		free(pk);
		if (n->lz != lz)
			break; /* cannot happen today: a read changes no view */
	}
	while ((pk = TAILQ_FIRST(&list)) != NULL) {
		TAILQ_REMOVE(&list, pk, link);
		free(pk->body);
		free(pk);
	}
}

/* Releases what can be released, in order, and runs parked reads again. */
static void
node_lease_progress(struct node *n)
{
	struct node_leases *lz = n->lz;
	uint64_t g, now = cfs_now_ms();

	if (lz == NULL)
		return;
	while ((g = lease_next_released(lz->t, now)) != 0) {
		struct node_recall *r = node_recall_find(lz, g, 1);

		if (r == NULL)
			continue;
		if (lz->cur == r)
			lz->cur = NULL;
		node_queue_records(n, r->held.p, r->held.len);
		node_recall_free(r);
	}
	/* A read whose inode a release or the fence's end freed runs again. */
	if (lz->nparked > 0)
		node_lease_unpark(n);
	node_lease_arm(n);
}

void
node_lease_ack(struct node *n, struct node_peer *p, uint64_t id)
{
	if (n->lz == NULL)
		return;
	lease_ack(n->lz->t, id, p->client_id, cfs_now_ms());
	node_lease_progress(n);
}

struct node_resend_ctx {
	struct node *n;
	uint64_t client;
};

static void
node_lease_resend(void *arg, uint64_t g)
{
	struct node_resend_ctx *ctx = arg;
	struct node_recall *r = node_recall_find(ctx->n->lz, g, 0);

	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nto; i++)
		if (r->to[i].client == ctx->client)
			node_queue_frame(ctx->n, ctx->client, r->to[i].frame.p, r->to[i].frame.len);
}

void
node_lease_hello(struct node *n, struct node_peer *p)
{
	struct node_resend_ctx ctx = {n, p->client_id};

	/* A client that reconnects gets the recalls it has not answered again. */
	if (n->lz != NULL && p->client_id != 0)
		lease_each_pending(n->lz->t, p->client_id, node_lease_resend, &ctx);
}

void
node_lease_batch_end(struct node *n)
{
	if (n->lz == NULL)
		return;
	n->lz->nbatch = 0;
	n->lz->batch_all = 0;
	n->lz->cur = NULL;
}

void
node_lease_each_second(struct node *n)
{
	if (n->lz == NULL)
		return;
	lease_expire(n->lz->t, cfs_now_ms());
	node_lease_progress(n);
}

int
node_lease_stats(const struct node *n, struct lease_stats *st, uint64_t *parked)
{
	if (n->lz == NULL)
		return 0;
	lease_get_stats(n->lz->t, st);
	*parked = n->lz->nparked;
	return 1;
}

uint32_t
node_lease_left(const struct node *n)
{
	uint64_t now = cfs_now_ms();

	if (n->lz == NULL || n->lz->granted_until <= now)
		return 0;
	return (uint32_t)(n->lz->granted_until - now);
}
