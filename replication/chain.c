/* The chain-replication state machine of one node; see chain.h. */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "replication/chain.h"

/*
 * A last resort: refuse updates (CFS_ERR_BUSY) when this much is
 * unacknowledged.  The daemon stops reading requests well before
 * (NODE_MAX_UNACKED), which keeps each client's requests in order.
 */
#define CHAIN_MAX_SENT_ENTRIES 200000

/*
 * The clock for entry times decided by the head: the coarse real-time clock,
 * as the kernel stamps inodes with, so that times compare as on ext4 (a file
 * created and written at once has equal times).
 */
static void
chain_realtime(int64_t *sec, uint32_t *nsec)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	*sec = ts.tv_sec;
	*nsec = (uint32_t)ts.tv_nsec;
}

/* Finds the oldest logged sn, to rebuild the sent list after a restart. */
static int
chain_first_logged(uint64_t sn, const void *buf, size_t len, void *arg)
{
	*(uint64_t *)arg = sn;
	return 1;
}

/* The epoch of logged entry sn, found by store_log_foreach from sn - 1. */
struct chain_epoch_arg {
	uint64_t sn;
	uint64_t epoch;
	int found;
};

static int
chain_epoch_of(uint64_t sn, const void *body, size_t len, void *arg)
{
	struct chain_epoch_arg *ea = arg;
	struct cfs_entry e;

	if (sn == ea->sn && cfs_entry_decode(body, len, &e) == CFS_WIRE_OK && e.sn == sn) {
		ea->epoch = e.epoch;
		ea->found = 1;
	}
	return 1;
}

/* The epoch of the logged entry sn: 0, or -1 when the log does not hold it. */
static int
chain_logged_epoch(struct chain *c, uint64_t sn, uint64_t *epoch)
{
	struct chain_epoch_arg ea = {.sn = sn};

	if (sn == 0 || store_log_foreach(c->st, sn - 1, chain_epoch_of, &ea) != 0 || !ea.found)
		return -1;
	*epoch = ea.epoch;
	return 0;
}

/* Sets up a node's chain state over its store. */
void
chain_init(struct chain *c, struct store *st, unsigned role, uint64_t epoch,
	   const struct chain_io *io, void *arg)
{
	uint64_t applied = store_applied_sn(st), first = 0;

	memset(c, 0, sizeof(*c));
	c->st = st;
	c->role = role;
	c->epoch = epoch;
	c->view.epoch = epoch;
	c->io = io;
	c->arg = arg;
	c->clock = chain_realtime;
	cfs_wbuf_init(&c->buf);
	/*
	 * Every node logs what it applies and keeps log_retain entries after
	 * they are acknowledged, for a node that joins behind it.  Everything
	 * logged may be unacknowledged as far as a restarted node knows; the
	 * successor's first ACK corrects that.
	 */
	if (store_log_foreach(st, 0, chain_first_logged, &first) == 0 && first != 0)
		c->trimmed_sn = first - 1;
	else
		c->trimmed_sn = applied;
	c->acked_sn = (role & CFS_ROLE_TAIL) ? applied : c->trimmed_sn;
	c->synced_sn = applied;
	c->sent_sn = c->acked_sn;
	if (chain_logged_epoch(c, applied, &c->applied_epoch) != 0)
		c->applied_epoch = applied == 0 ? 0 : epoch;
}

/* The store holds a snapshot now: everything derived from it is read again. */
void
chain_store_replaced(struct chain *c)
{
	uint64_t applied = store_applied_sn(c->st), first = 0;

	if (store_log_foreach(c->st, 0, chain_first_logged, &first) == 0 && first != 0)
		c->trimmed_sn = first - 1;
	else
		c->trimmed_sn = applied;
	c->acked_sn = applied;
	c->synced_sn = applied;
	c->bg_sync_sn = 0; /* a flush still running covers the old store only */
	c->sent_sn = applied;
	if (chain_logged_epoch(c, applied, &c->applied_epoch) != 0)
		c->applied_epoch = 0;
	log_info("store replaced by a snapshot at sn %llu of epoch %llu",
		 (unsigned long long)applied, (unsigned long long)c->applied_epoch);
}

/* Releases what chain_init allocated. */
void
chain_free(struct chain *c)
{
	cfs_wbuf_free(&c->buf);
}

uint64_t
chain_applied_sn(const struct chain *c)
{
	return store_applied_sn(c->st);
}

uint64_t
chain_sent_len(const struct chain *c)
{
	if (c->role & CFS_ROLE_TAIL)
		return 0;
	return store_applied_sn(c->st) - c->acked_sn;
}

int
view_index(const struct chain_view *v, const char *name)
{
	for (uint16_t i = 0; i < v->n; i++)
		if (strcmp(v->nodes[i], name) == 0)
			return i;
	return -1;
}

unsigned
view_role(const struct chain_view *v, const char *name)
{
	int i = view_index(v, name);
	unsigned role = 0;

	if (i < 0)
		return 0;
	if (i == 0)
		role |= CFS_ROLE_HEAD;
	if (i == v->n - 1)
		role |= CFS_ROLE_TAIL;
	return role;
}

const char *
view_pred(const struct chain_view *v, const char *name)
{
	int i = view_index(v, name);

	if (i > 0)
		return v->nodes[i - 1];
	if (i < 0 && v->n > 0 && v->syncing[0] != '\0' && strcmp(v->syncing, name) == 0)
		return v->nodes[v->n - 1];
	return NULL;
}

const char *
view_succ(const struct chain_view *v, const char *name)
{
	int i = view_index(v, name);

	if (i < 0)
		return NULL;
	if (i + 1 < v->n)
		return v->nodes[i + 1];
	return v->syncing[0] != '\0' ? v->syncing : NULL;
}

const char *
view_role_name(const struct chain_view *v, const char *name)
{
	static const char *names[] = {"middle", "head", "tail", "head+tail"};

	if (view_index(v, name) < 0)
		return v->syncing[0] != '\0' && strcmp(v->syncing, name) == 0 ? "syncing" : "out";
	return names[view_role(v, name)];
}

/* Takes a new configuration. */
void
chain_reconfigure(struct chain *c, const struct chain_view *v, const char *self)
{
	unsigned role = view_role(v, self);
	uint64_t applied = store_applied_sn(c->st);
	char was[16];

	assert(v->epoch >= c->epoch);
	snprintf(was, sizeof(was), "%s", c->view.n ? view_role_name(&c->view, self) : "none");
	log_info("epoch %llu -> %llu: %s -> %s", (unsigned long long)c->epoch,
		 (unsigned long long)v->epoch, was, view_role_name(v, self));
	if ((role & CFS_ROLE_TAIL) && !(c->role & CFS_ROLE_TAIL) && c->acked_sn < applied) {
		/* Everything applied here is on the tail now: committed. */
		log_info("entries %llu..%llu are committed (this node is the tail now)",
			 (unsigned long long)c->acked_sn + 1, (unsigned long long)applied);
		c->acked_sn = applied;
	}
	if (!(role & CFS_ROLE_TAIL) && (c->role & CFS_ROLE_TAIL))
		c->acked_sn = applied; /* committed while it was the tail */
	c->view = *v;
	snprintf(c->self, sizeof(c->self), "%s", self);
	c->role = role;
	c->epoch = v->epoch;
	c->joining = view_index(v, self) < 0 && strcmp(v->syncing, self) == 0;
	c->succ_joining = (role & CFS_ROLE_TAIL) && v->syncing[0] != '\0';
	c->sync_acked_sn = 0;
	c->succ_up = 0;
	c->sent_sn = c->acked_sn;
	assert(c->acked_sn <= applied);
}

/* True for ops whose entry carries a new inode number. */
static int
chain_op_creates(const struct cfs_op *op)
{
	return op->type == CFS_OP_CREATE || op->type == CFS_OP_MKNOD || op->type == CFS_OP_MKDIR ||
	       op->type == CFS_OP_SYMLINK ||
	       (op->type == CFS_OP_RENAME && (op->flags & CFS_RENAME_WHITEOUT));
}

/* Syncs the store now (FSYNC entries): every node does before passing one on. */
static void
chain_sync(struct chain *c)
{
	/* In a batch nothing is committed yet: sync right after the commit (chain_committed). */
	if (store_in_batch(c->st)) {
		c->sync_pending = 1;
		return;
	}
	/*
	 * A failed fsync cannot be retried safely (the kernel may have dropped
	 * the dirty pages): stop, and let the restart replay from what is on
	 * disk, rather than answer an fsync that did not happen.
	 */
	if (store_sync(c->st) != 0)
		fatalx("store sync failed: stopping rather than acknowledge an fsync");
	c->synced_sn = store_applied_sn(c->st);
	c->stats.syncs++;
}

/* Forwards the entry just applied if the link is caught up, else leaves it to chain_pump. */
static void
chain_forward_new(struct chain *c, uint64_t sn)
{
	if (!c->succ_up || c->sent_sn != sn - 1 || !c->io->room(c->arg))
		return;
	assert(sn <= store_applied_sn(c->st));
	c->io->forward(c->arg, c->buf.p, c->buf.len);
	c->sent_sn = sn;
	c->stats.bytes_replicated += c->buf.len;
}

/* Sends logged entries after sent_sn to the successor. */
struct chain_pump_arg {
	struct chain *c;
	struct cfs_wbuf frame;
	int err;
};

static int
chain_pump_one(uint64_t sn, const void *body, size_t len, void *arg)
{
	struct chain_pump_arg *pa = arg;
	struct chain *c = pa->c;
	size_t start;

	if (sn != c->sent_sn + 1) {
		log_warnx("log holds sn %llu where %llu was expected", (unsigned long long)sn,
			  (unsigned long long)(c->sent_sn + 1));
		pa->err = -1;
		return 1;
	}
	cfs_wbuf_reset(&pa->frame);
	start = cfs_frame_begin(&pa->frame, CFS_MSG_ENTRY, sn, c->epoch);
	cfs_put_bytes(&pa->frame, body, len);
	cfs_frame_end(&pa->frame, start);
	c->io->forward(c->arg, pa->frame.p, pa->frame.len);
	c->sent_sn = sn;
	c->stats.bytes_replicated += pa->frame.len;
	/* Stop while the link is full: the daemon calls again as it drains. */
	return !c->io->room(c->arg);
}

/* Sends from the log whatever the successor has not been sent yet. */
int
chain_pump(struct chain *c)
{
	struct chain_pump_arg pa = {.c = c, .err = 0};

	if (!c->succ_up || c->sent_sn >= store_applied_sn(c->st) || !c->io->room(c->arg))
		return 0;
	cfs_wbuf_init(&pa.frame);
	if (store_log_foreach(c->st, c->sent_sn, chain_pump_one, &pa) != 0)
		pa.err = -1;
	cfs_wbuf_free(&pa.frame);
	return pa.err;
}

/*
 * Whether (client_id, seq) was applied already: 1 (its result is stored, or
 * it is below the client's floor), 0 (new), or -1 when the store cannot say.
 * An unreadable store must never pass for "new": that would apply a retry twice.
 */
static int
chain_is_retry(struct chain *c, uint64_t client_id, uint64_t seq)
{
	struct cfs_reply old;
	uint64_t floor;
	int rc;

	memset(&old, 0, sizeof(old));
	rc = store_result(c->st, client_id, seq, &old);
	if (rc == 0)
		return 1;
	if (rc != ENOENT || store_client_floor(c->st, client_id, &floor) != 0) {
		log_warnx("cannot tell whether request %llu of client %llx was applied; refused",
			  (unsigned long long)seq, (unsigned long long)client_id);
		return -1;
	}
	return seq < floor;
}

/* Turns a client's request into the next entry, at the head. */
int
chain_update(struct chain *c, uint64_t client_id, uint64_t seq, uint64_t acked_below,
	     const struct cfs_op *op)
{
	struct cfs_entry e;
	struct cfs_reply res;
	unsigned flags = STORE_DECIDE;
	size_t start = 0;
	int rc;

	if (!(c->role & CFS_ROLE_HEAD))
		return CFS_ERR_NOT_HEAD;
	if (!cfs_op_is_update(op->type) || (cfs_op_is_internal(op->type) && client_id != 0))
		return CFS_ERR_PROTOCOL;
	if (chain_sent_len(c) >= CHAIN_MAX_SENT_ENTRIES)
		return CFS_ERR_BUSY;

	memset(&e, 0, sizeof(e));
	e.sn = store_applied_sn(c->st) + 1;
	e.epoch = c->epoch;
	e.client_id = client_id;
	e.seq = seq;
	e.acked_below = acked_below;
	e.op = *op;
	e.kind = CFS_ENTRY_UPDATE;
	if (client_id != 0) {
		rc = chain_is_retry(c, client_id, seq);
		if (rc < 0)
			return EIO; /* not knowing whether it was applied, apply nothing */
		if (rc == 1) {
			/* A retry of something applied: no effect, the tail answers from the table. */
			e.kind = CFS_ENTRY_REPLY_ONLY;
			c->stats.reply_only++;
		}
	}
	if (e.kind == CFS_ENTRY_UPDATE && chain_op_creates(op))
		e.new_ino = store_next_ino(c->st);
	c->clock(&e.time_sec, &e.time_nsec);
	if (e.time_sec < c->last_sec || (e.time_sec == c->last_sec && e.time_nsec < c->last_nsec)) {
		e.time_sec = c->last_sec;
		e.time_nsec = c->last_nsec;
	}
	c->last_sec = e.time_sec;
	c->last_nsec = e.time_nsec;

	cfs_wbuf_reset(&c->buf);
	flags |= STORE_LOG;
	start = cfs_frame_begin(&c->buf, CFS_MSG_ENTRY, e.sn, c->epoch);
	rc = store_apply(c->st, &e, flags, &c->buf, &res);
	if (rc != 0) {
		log_warnx("head cannot apply sn %llu: %s", (unsigned long long)e.sn, strerror(-rc));
		return rc == -ENOSPC ? ENOSPC : EIO;
	}
	cfs_frame_end(&c->buf, start);
	assert(store_applied_sn(c->st) == e.sn);
	c->applied_epoch = e.epoch;
	c->stats.entries_applied++;
	c->stats.updates++;
	if (op->type == CFS_OP_FSYNC && e.kind == CFS_ENTRY_UPDATE)
		chain_sync(c);
	if (c->role & CFS_ROLE_TAIL) {
		c->acked_sn = e.sn;
		if (c->io->applied != NULL)
			c->io->applied(c->arg, &e);
		if (client_id != 0)
			c->io->reply(c->arg, client_id, seq, &res);
	}
	chain_forward_new(c, e.sn);
	return 0;
}

/*
 * At the head: drops the sessions of clients not heard of for ttl_s
 * seconds, through an entry of its own, so that every replica drops the
 * same.  Makes none unless a session is that old (a scan of the floors).
 * Returns 1 when it made the entry, 0 when none was due, -1 on an error.
 */
int
chain_expire_sessions(struct chain *c, unsigned ttl_s)
{
	uint64_t sessions, results;
	int64_t oldest, now;
	uint32_t nsec;
	struct cfs_op op;

	if (!(c->role & CFS_ROLE_HEAD) || ttl_s == 0)
		return 0;
	if (store_sessions(c->st, &sessions, &results, &oldest) != 0)
		return -1;
	c->clock(&now, &nsec);
	if (now < c->last_sec)
		now = c->last_sec; /* the clock the entries' times follow */
	if (oldest == INT64_MAX || oldest >= now - (int64_t)ttl_s)
		return 0;
	memset(&op, 0, sizeof(op));
	op.type = CFS_OP_EXPIRE_SESSIONS;
	op.offset = (uint64_t)(now - (int64_t)ttl_s);
	log_info("expiring the sessions of clients silent for %u s (of %llu sessions, "
		 "%llu results)",
		 ttl_s, (unsigned long long)sessions, (unsigned long long)results);
	return chain_update(c, 0, 0, 0, &op) == 0 ? 1 : -1;
}

/* Applies one entry from the predecessor. */
int
chain_entry(struct chain *c, const uint8_t *body, size_t len)
{
	struct cfs_entry e;
	struct cfs_reply res;
	uint64_t applied = store_applied_sn(c->st);
	unsigned flags = 0;
	size_t start = 0;
	int rc;

	if (cfs_entry_decode(body, len, &e) != CFS_WIRE_OK)
		return CHAIN_BAD;
	if (e.sn <= applied)
		return CHAIN_DUP;
	if (e.sn != applied + 1)
		return CHAIN_GAP;

	cfs_wbuf_reset(&c->buf);
	flags = STORE_LOG;
	start = cfs_frame_begin(&c->buf, CFS_MSG_ENTRY, e.sn, c->epoch);
	rc = store_apply(c->st, &e, flags, &c->buf, &res);
	if (rc != 0) {
		log_warnx("cannot apply sn %llu: %s", (unsigned long long)e.sn, strerror(-rc));
		return CHAIN_STORE;
	}
	cfs_frame_end(&c->buf, start);
	assert(store_applied_sn(c->st) == applied + 1);
	c->applied_epoch = e.epoch;
	c->stats.entries_applied++;
	if (e.kind == CFS_ENTRY_UPDATE && res.status != e.result) {
		/* Applying is a pure function of the state: this is a bug, say it loudly. */
		c->stats.divergences++;
		log_warnx("sn %llu (%s): this replica computed status %d, the head %d",
			  (unsigned long long)e.sn, cfs_op_name(e.op.type), res.status, e.result);
	}
	if (e.op.type == CFS_OP_FSYNC && e.kind == CFS_ENTRY_UPDATE)
		chain_sync(c);
	if (c->role & CFS_ROLE_TAIL) {
		c->acked_sn = e.sn;
		if (c->io->applied != NULL)
			c->io->applied(c->arg, &e);
		if (e.client_id != 0)
			c->io->reply(c->arg, e.client_id, e.seq, &res);
		c->io->ack(c->arg, e.sn);
	} else if (c->joining) {
		/* Not in the chain yet: nothing to reply, but the tail tracks our progress. */
		c->acked_sn = e.sn;
		c->io->ack(c->arg, e.sn);
	}
	chain_forward_new(c, e.sn);
	return CHAIN_OK;
}

/* Records the successor's acknowledgement and passes it upstream. */
void
chain_ack(struct chain *c, uint64_t sn)
{
	if (c->succ_joining) {
		/* The syncing node's progress: the tail's own commits are not its business. */
		if (sn > c->sync_acked_sn && sn <= c->sent_sn)
			c->sync_acked_sn = sn;
		chain_pump(c);
		return;
	}
	if (sn <= c->acked_sn)
		return;
	if (sn > c->sent_sn) {
		log_warnx("ack for sn %llu beyond what was sent (%llu): ignored",
			  (unsigned long long)sn, (unsigned long long)c->sent_sn);
		return;
	}
	c->acked_sn = sn;
	if (!(c->role & CFS_ROLE_HEAD))
		c->io->ack(c->arg, sn);
	chain_pump(c);
}

/* Starts forwarding to a successor that has applied up to (succ_epoch, succ_sn). */
int
chain_successor_up(struct chain *c, uint64_t succ_sn, uint64_t succ_epoch)
{
	uint64_t applied = store_applied_sn(c->st), mine;

	if (succ_sn > applied) {
		log_warnx("successor has sn %llu, beyond this node's %llu: its extra entries were "
			  "never committed, it needs a snapshot",
			  (unsigned long long)succ_sn, (unsigned long long)applied);
		return CHAIN_SNAPSHOT;
	}
	if (succ_sn < c->trimmed_sn) {
		log_warnx("successor has sn %llu but the log starts after %llu: it needs a "
			  "snapshot",
			  (unsigned long long)succ_sn, (unsigned long long)c->trimmed_sn);
		return CHAIN_SNAPSHOT;
	}
	if (succ_sn == applied)
		mine = c->applied_epoch;
	else if (succ_sn == 0)
		mine = 0;
	else if (chain_logged_epoch(c, succ_sn, &mine) != 0) {
		log_warnx("successor has sn %llu, which this node's log no longer holds: it needs "
			  "a snapshot",
			  (unsigned long long)succ_sn);
		return CHAIN_SNAPSHOT;
	}
	if (mine != succ_epoch) {
		log_warnx("successor's entry %llu is of epoch %llu, this node's of epoch %llu: "
			  "histories differ, it needs a snapshot",
			  (unsigned long long)succ_sn, (unsigned long long)succ_epoch,
			  (unsigned long long)mine);
		return CHAIN_SNAPSHOT;
	}
	c->succ_up = 1;
	c->sent_sn = succ_sn;
	if (c->succ_joining)
		c->sync_acked_sn = succ_sn;
	chain_pump(c);
	return CHAIN_CONTINUE;
}

/* The successor link went down: stop forwarding until it is back. */
void
chain_successor_down(struct chain *c)
{
	c->succ_up = 0;
}

/* Answers a read at the tail. */
int
chain_read(struct chain *c, const struct cfs_op *op, struct cfs_reply *res, struct cfs_wbuf *out)
{
	memset(res, 0, sizeof(*res));
	if (!(c->role & CFS_ROLE_TAIL)) {
		res->status = CFS_ERR_NOT_TAIL;
		return 0;
	}
	if (cfs_op_is_update(op->type) || !cfs_op_is_valid(op->type)) {
		res->status = CFS_ERR_PROTOCOL;
		return 0;
	}
	return store_read(c->st, op, res, out);
}

/* Group commit and log trimming, called on a timer and when idle. */
void
chain_maintain(struct chain *c)
{
	uint64_t applied = store_applied_sn(c->st), upto, keep;
	int err, rc;

	/*
	 * Group commit on the store's thread: this loop goes on applying and
	 * forwarding while the flush writes back, instead of stopping for it.
	 * A failed one stops the node, as chain_sync does.
	 */
	if (c->bg_sync && store_sync_done(c->st, &err)) {
		if (err != 0)
			fatalx("store sync failed: stopping so that a restart resumes from what is "
			       "on disk");
		if (c->bg_sync_sn > c->synced_sn)
			c->synced_sn = c->bg_sync_sn;
		c->bg_sync = 0;
		c->stats.syncs++;
	}
	if (!c->bg_sync && c->synced_sn < applied) {
		rc = store_sync_start(c->st);
		if (rc == 0) {
			c->bg_sync = 1;
			c->bg_sync_sn = applied;
		} else if (rc < 0 && rc != -EBUSY) {
			fatalx("store sync failed: stopping so that a restart resumes from what is "
			       "on disk");
		}
	}
	/*
	 * Keep log_retain acknowledged entries (at least the last applied one,
	 * whose epoch names this node's history), and what a syncing successor
	 * still needs.
	 */
	/*
	 * The entry at the acknowledged point itself stays too: a successor
	 * that restarts has exactly that sn, and its epoch is what tells
	 * whether it can continue from this log (chain_successor_up).
	 */
	upto = c->acked_sn > 0 ? c->acked_sn - 1 : 0;
	keep = c->log_retain > 0 ? c->log_retain : 1;
	if (upto + keep > applied)
		upto = applied > keep ? applied - keep : 0;
	if (c->succ_joining && upto >= c->sync_acked_sn)
		upto = c->sync_acked_sn > 0 ? c->sync_acked_sn - 1 : 0;
	if (upto > c->trimmed_sn) {
		if (store_log_trim(c->st, upto) == 0)
			c->trimmed_sn = upto;
	}
	chain_pump(c);
}

/* The store's batch was committed: do the syncs its FSYNC entries asked for. */
void
chain_committed(struct chain *c)
{
	if (c->sync_pending) {
		c->sync_pending = 0;
		chain_sync(c);
	}
}
