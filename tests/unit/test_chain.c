/* The chain state machine driven without sockets: three nodes over three stores. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "replication/chain.h"
#include "tests/unit/view_of.h"

#define MAXQ 64

/* What a node asked its environment to do. */
struct tnode {
	struct store *st;
	struct chain ch;
	char dir[64];
	int room;
	size_t nfwd;
	struct cfs_wbuf fwd[MAXQ]; /* frames forwarded, in order */
	uint64_t last_ack;
	size_t nacks;
	size_t nreplies;
	uint64_t reply_client[MAXQ];
	uint64_t reply_seq[MAXQ];
	struct cfs_reply replies[MAXQ];
};

struct tchain {
	struct tnode n[3];
};

static void
t_forward(void *arg, const uint8_t *frame, size_t len)
{
	struct tnode *t = arg;

	assert_true(t->nfwd < MAXQ);
	cfs_wbuf_init(&t->fwd[t->nfwd]);
	cfs_put_bytes(&t->fwd[t->nfwd], frame, len);
	t->nfwd++;
}

static void
t_ack(void *arg, uint64_t sn)
{
	struct tnode *t = arg;

	assert_true(sn > t->last_ack);
	t->last_ack = sn;
	t->nacks++;
}

static int
t_room(void *arg)
{
	struct tnode *t = arg;

	return t->room;
}

static void
t_reply(void *arg, uint64_t client_id, uint64_t seq, const struct cfs_reply *r)
{
	struct tnode *t = arg;

	assert_true(t->nreplies < MAXQ);
	t->reply_client[t->nreplies] = client_id;
	t->reply_seq[t->nreplies] = seq;
	t->replies[t->nreplies] = *r;
	t->nreplies++;
}

static const struct chain_io t_io = {
	.forward = t_forward, .ack = t_ack, .room = t_room, .reply = t_reply};

/* A fixed clock so that entries are reproducible. */
static void
t_clock(int64_t *sec, uint32_t *nsec)
{
	*sec = 1700000000;
	*nsec = 5;
}

static int
setup(void **state)
{
	struct tchain *tc = calloc(1, sizeof(*tc));
	static const unsigned roles[3] = {CFS_ROLE_HEAD, 0, CFS_ROLE_TAIL};
	char err[256];

	for (int i = 0; i < 3; i++) {
		struct tnode *t = &tc->n[i];

		snprintf(t->dir, sizeof(t->dir), "/tmp/test_chain.XXXXXX");
		assert_non_null(mkdtemp(t->dir));
		assert_int_equal(store_open(&t->st, t->dir, 64ULL << 20, err, sizeof(err)), 0);
		chain_init(&t->ch, t->st, roles[i], 7, &t_io, t);
		t->ch.clock = t_clock;
		t->room = 1;
	}
	/* Links up from the start: successors at sn 0. */
	assert_int_equal(chain_successor_up(&tc->n[0].ch, 0, 0), CHAIN_CONTINUE);
	assert_int_equal(chain_successor_up(&tc->n[1].ch, 0, 0), CHAIN_CONTINUE);
	*state = tc;
	return 0;
}

static int
teardown(void **state)
{
	struct tchain *tc = *state;
	char cmd[128];

	for (int i = 0; i < 3; i++) {
		struct tnode *t = &tc->n[i];

		for (size_t j = 0; j < t->nfwd; j++)
			cfs_wbuf_free(&t->fwd[j]);
		chain_free(&t->ch);
		store_close(t->st);
		snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
		assert_int_equal(system(cmd), 0);
	}
	free(tc);
	return 0;
}

/* Delivers node i's forwarded frame k to node j; returns chain_entry's result. */
static int
deliver_to(struct tchain *tc, int i, size_t k, int j)
{
	struct cfs_wbuf *f = &tc->n[i].fwd[k];
	struct cfs_header h;

	assert_true(k < tc->n[i].nfwd);
	assert_int_equal(cfs_header_decode(f->p, f->len, &h), CFS_WIRE_OK);
	assert_int_equal(h.type, CFS_MSG_ENTRY);
	assert_true(h.epoch >= 7);
	return chain_entry(&tc->n[j].ch, f->p + CFS_HEADER_SIZE, f->len - CFS_HEADER_SIZE);
}

/* Delivers node i's forwarded frame k to node i+1. */
static int
deliver(struct tchain *tc, int i, size_t k)
{
	return deliver_to(tc, i, k, i + 1);
}

/* Every node of tc takes view v (as "n0".."n2"). */
static void
reconfigure_all(struct tchain *tc, const struct chain_view *v)
{
	char name[8];

	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		chain_reconfigure(&tc->n[i].ch, v, name);
	}
}

/* A mkdir request under the root. */
static struct cfs_op
op_mkdir(const char *name)
{
	struct cfs_op op;

	memset(&op, 0, sizeof(op));
	op.type = CFS_OP_MKDIR;
	op.ino = STORE_ROOT_INO;
	op.mode = S_IFDIR | 0755;
	op.name = name;
	op.namelen = (uint16_t)strlen(name);
	return op;
}

/* An entry goes head -> middle -> tail; the tail replies; acks flow back and trim. */
static void
test_update_flows_down_and_acks_up(void **state)
{
	struct tchain *tc = *state;
	struct cfs_op op = op_mkdir("a");
	uint8_t d0[CFS_DIGEST_LEN], d1[CFS_DIGEST_LEN], d2[CFS_DIGEST_LEN];

	assert_int_equal(chain_update(&tc->n[0].ch, 42, 1, 1, &op), 0);
	assert_int_equal(chain_applied_sn(&tc->n[0].ch), 1);
	assert_int_equal(tc->n[0].nfwd, 1);
	assert_int_equal(tc->n[2].nreplies, 0); /* nobody answers before the tail */
	assert_int_equal(deliver(tc, 0, 0), CHAIN_OK);
	assert_int_equal(tc->n[1].nfwd, 1);
	assert_int_equal(tc->n[2].nreplies, 0);
	assert_int_equal(deliver(tc, 1, 0), CHAIN_OK);
	assert_int_equal(tc->n[2].nreplies, 1);
	assert_int_equal(tc->n[2].reply_client[0], 42);
	assert_int_equal(tc->n[2].reply_seq[0], 1);
	assert_int_equal(tc->n[2].replies[0].status, 0);
	assert_int_equal(tc->n[2].last_ack, 1);
	/* The ack goes up: the middle passes it on, the head's sent list empties. */
	assert_int_equal(chain_sent_len(&tc->n[1].ch), 1);
	chain_ack(&tc->n[1].ch, 1);
	assert_int_equal(tc->n[1].last_ack, 1);
	assert_int_equal(chain_sent_len(&tc->n[1].ch), 0);
	assert_int_equal(chain_sent_len(&tc->n[0].ch), 1);
	chain_ack(&tc->n[0].ch, 1);
	assert_int_equal(chain_sent_len(&tc->n[0].ch), 0);
	assert_int_equal(tc->n[0].nacks, 0); /* the head has nobody to tell */

	assert_int_equal(store_digest(tc->n[0].st, d0), 0);
	assert_int_equal(store_digest(tc->n[1].st, d1), 0);
	assert_int_equal(store_digest(tc->n[2].st, d2), 0);
	assert_memory_equal(d0, d1, CFS_DIGEST_LEN);
	assert_memory_equal(d1, d2, CFS_DIGEST_LEN);
	assert_int_equal(tc->n[1].ch.stats.divergences + tc->n[2].ch.stats.divergences, 0);
}

/*
 * A rename with RENAME_WHITEOUT makes an inode: the head gives the entry a
 * new inode number, as for a create, and every replica makes the same one.
 */
static void
test_whiteout_rename_new_inode(void **state)
{
	struct tchain *tc = *state;
	struct cfs_op op = op_mkdir("a");
	uint8_t d0[CFS_DIGEST_LEN], d2[CFS_DIGEST_LEN];

	assert_int_equal(chain_update(&tc->n[0].ch, 42, 1, 1, &op), 0);
	op.type = CFS_OP_RENAME;
	op.ino2 = STORE_ROOT_INO;
	op.name2 = "b";
	op.name2len = 1;
	op.flags = CFS_RENAME_WHITEOUT;
	assert_int_equal(chain_update(&tc->n[0].ch, 42, 2, 1, &op), 0);
	for (size_t k = 0; k < 2; k++)
		assert_int_equal(deliver(tc, 0, k), CHAIN_OK);
	for (size_t k = 0; k < 2; k++)
		assert_int_equal(deliver(tc, 1, k), CHAIN_OK);
	assert_int_equal(tc->n[2].nreplies, 2);
	assert_int_equal(tc->n[2].replies[1].status, 0);
	assert_int_equal(tc->n[1].ch.stats.divergences + tc->n[2].ch.stats.divergences, 0);
	assert_int_equal(store_digest(tc->n[0].st, d0), 0);
	assert_int_equal(store_digest(tc->n[2].st, d2), 0);
	assert_memory_equal(d0, d2, CFS_DIGEST_LEN);
	/* "a" (the whiteout) and "b" are two inodes, the next number past both. */
	assert_int_equal(store_next_ino(tc->n[2].st), store_next_ino(tc->n[0].st));
	assert_int_equal(store_next_ino(tc->n[0].st), STORE_ROOT_INO + 3);
}

/* Entries apply strictly in order: a gap is refused, a repeat ignored. */
static void
test_gaps_refused_dups_ignored(void **state)
{
	struct tchain *tc = *state;
	struct cfs_op a = op_mkdir("a"), b = op_mkdir("b");

	assert_int_equal(chain_update(&tc->n[0].ch, 1, 1, 1, &a), 0);
	assert_int_equal(chain_update(&tc->n[0].ch, 1, 2, 1, &b), 0);
	assert_int_equal(tc->n[0].nfwd, 2);
	assert_int_equal(deliver(tc, 0, 1), CHAIN_GAP);
	assert_int_equal(chain_applied_sn(&tc->n[1].ch), 0);
	assert_int_equal(deliver(tc, 0, 0), CHAIN_OK);
	assert_int_equal(deliver(tc, 0, 0), CHAIN_DUP);
	assert_int_equal(deliver(tc, 0, 1), CHAIN_OK);
	assert_int_equal(chain_applied_sn(&tc->n[1].ch), 2);
	/* Garbage is refused without a change. */
	assert_int_equal(chain_entry(&tc->n[1].ch, (const uint8_t *)"junk", 4), CHAIN_BAD);
	assert_int_equal(chain_applied_sn(&tc->n[1].ch), 2);
}

/* Counts log entries. */
static int
count_log(uint64_t sn, const void *buf, size_t len, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

/* Acks trim the sent list and, at maintenance, the log. */
static void
test_acks_trim_sent_list_and_log(void **state)
{
	struct tchain *tc = *state;
	char name[8];
	int n = 0;

	for (int i = 0; i < 5; i++) {
		struct cfs_op op;

		snprintf(name, sizeof(name), "d%d", i);
		op = op_mkdir(name);
		assert_int_equal(chain_update(&tc->n[0].ch, 9, (uint64_t)i + 1, 1, &op), 0);
	}
	assert_int_equal(chain_sent_len(&tc->n[0].ch), 5);
	chain_ack(&tc->n[0].ch, 3);
	assert_int_equal(chain_sent_len(&tc->n[0].ch), 2);
	chain_ack(&tc->n[0].ch, 2); /* old acks change nothing */
	assert_int_equal(chain_sent_len(&tc->n[0].ch), 2);
	chain_ack(&tc->n[0].ch, 99); /* beyond what was sent: ignored */
	assert_int_equal(chain_sent_len(&tc->n[0].ch), 2);
	chain_maintain(&tc->n[0].ch);
	assert_int_equal(store_log_foreach(tc->n[0].st, 0, count_log, &n), 0);
	assert_int_equal(n, 3); /* the acknowledged entry stays: a restarted successor is there */
	chain_ack(&tc->n[0].ch, 5);
	chain_maintain(&tc->n[0].ch);
	n = 0;
	assert_int_equal(store_log_foreach(tc->n[0].st, 0, count_log, &n), 0);
	assert_int_equal(n, 1); /* the last applied entry stays: its epoch names the history */
	assert_int_equal(chain_sent_len(&tc->n[0].ch), 0);
}

/* Runs an entry from the head all the way down. */
static void
flow(struct tchain *tc)
{
	size_t k0 = tc->n[0].nfwd - 1;

	assert_int_equal(deliver(tc, 0, k0), CHAIN_OK);
	assert_int_equal(deliver(tc, 1, tc->n[1].nfwd - 1), CHAIN_OK);
}

/* A retried request is not applied again; the tail answers with the stored result. */
static void
test_duplicate_request_answered_from_table(void **state)
{
	struct tchain *tc = *state;
	struct cfs_op op;
	uint64_t ino;

	memset(&op, 0, sizeof(op));
	op.type = CFS_OP_CREATE;
	op.flags = CFS_CREATE_EXCL;
	op.ino = STORE_ROOT_INO;
	op.mode = S_IFREG | 0644;
	op.name = "f";
	op.namelen = 1;
	assert_int_equal(chain_update(&tc->n[0].ch, 5, 10, 10, &op), 0);
	flow(tc);
	assert_int_equal(tc->n[2].nreplies, 1);
	assert_int_equal(tc->n[2].replies[0].status, 0);
	ino = tc->n[2].replies[0].attr.ino;
	assert_true(ino > STORE_ROOT_INO);

	/* The same (client, seq) again: an exclusive create would say EEXIST if re-run. */
	assert_int_equal(chain_update(&tc->n[0].ch, 5, 10, 10, &op), 0);
	assert_int_equal(tc->n[0].ch.stats.reply_only, 1);
	flow(tc);
	assert_int_equal(tc->n[2].nreplies, 2);
	assert_int_equal(tc->n[2].reply_seq[1], 10);
	assert_int_equal(tc->n[2].replies[1].status, 0);
	assert_int_equal(tc->n[2].replies[1].attr.ino, ino);

	/* A new request of the same client is applied for real: EEXIST now. */
	assert_int_equal(chain_update(&tc->n[0].ch, 5, 11, 11, &op), 0);
	flow(tc);
	assert_int_equal(tc->n[2].replies[2].status, EEXIST);

	/* Below the client's floor: an old duplicate, answered without effect. */
	assert_int_equal(chain_update(&tc->n[0].ch, 5, 3, 11, &op), 0);
	flow(tc);
	assert_int_equal(tc->n[2].replies[3].status, CFS_ERR_PROTOCOL);
	assert_int_equal(tc->n[1].ch.stats.divergences + tc->n[2].ch.stats.divergences, 0);
}

/*
 * The head cannot read its result table or a client's floor: a retry must
 * not pass for a new request.  It is refused with EIO, nothing is applied or
 * forwarded; once the store reads again, the retry is recognised.
 */
static void
test_store_read_error_applies_nothing(void **state)
{
	struct tchain *tc = *state;
	struct cfs_op op = op_mkdir("a"), op2 = op_mkdir("b");
	uint64_t sn;
	size_t nfwd;

	assert_int_equal(chain_update(&tc->n[0].ch, 5, 10, 10, &op), 0);
	flow(tc);
	sn = chain_applied_sn(&tc->n[0].ch);
	nfwd = tc->n[0].nfwd;

	/* The result lookup fails: a retry of seq 10 would be re-applied. */
	store_inject_read_faults(tc->n[0].st, 0, 1);
	assert_int_equal(chain_update(&tc->n[0].ch, 5, 10, 10, &op), EIO);
	/* The result is absent, then the floor cannot be read. */
	store_inject_read_faults(tc->n[0].st, 1, 1);
	assert_int_equal(chain_update(&tc->n[0].ch, 5, 11, 10, &op2), EIO);
	assert_int_equal(chain_applied_sn(&tc->n[0].ch), sn);
	assert_int_equal(tc->n[0].nfwd, nfwd);
	assert_int_equal(tc->n[0].ch.stats.reply_only, 0);

	/* The store reads again: seq 10 is a retry, seq 11 is new. */
	assert_int_equal(chain_update(&tc->n[0].ch, 5, 10, 10, &op), 0);
	assert_int_equal(tc->n[0].ch.stats.reply_only, 1);
	flow(tc);
	assert_int_equal(chain_update(&tc->n[0].ch, 5, 11, 10, &op2), 0);
	flow(tc);
	assert_int_equal(tc->n[2].nreplies, 3);
	assert_int_equal(tc->n[2].replies[1].status, 0); /* answered from the table */
	assert_int_equal(tc->n[2].replies[2].status, 0); /* b created once */
	assert_int_equal(chain_applied_sn(&tc->n[0].ch), sn + 2);
}

/* With the successor down entries wait in the log; when it is back they are resent. */
static void
test_successor_catch_up_from_log(void **state)
{
	struct tchain *tc = *state;
	char name[8];

	chain_successor_down(&tc->n[0].ch);
	for (int i = 0; i < 3; i++) {
		struct cfs_op op;

		snprintf(name, sizeof(name), "x%d", i);
		op = op_mkdir(name);
		assert_int_equal(chain_update(&tc->n[0].ch, 3, (uint64_t)i + 1, 1, &op), 0);
	}
	assert_int_equal(tc->n[0].nfwd, 0);
	/* A full link holds the resend back until it drains. */
	tc->n[0].room = 0;
	assert_int_equal(chain_successor_up(&tc->n[0].ch, 0, 0), CHAIN_CONTINUE);
	assert_int_equal(tc->n[0].nfwd, 0);
	tc->n[0].room = 1;
	assert_int_equal(chain_pump(&tc->n[0].ch), 0);
	assert_int_equal(tc->n[0].nfwd, 3);
	for (size_t k = 0; k < 3; k++)
		assert_int_equal(deliver(tc, 0, k), CHAIN_OK);
	assert_int_equal(chain_applied_sn(&tc->n[1].ch), 3);
	/* A successor claiming more than this node has is refused. */
	chain_successor_down(&tc->n[0].ch);
	assert_int_equal(chain_successor_up(&tc->n[0].ch, 4, 7), CHAIN_SNAPSHOT);
}

/* Updates only at the head, reads only at the tail. */
static void
test_roles_enforced(void **state)
{
	struct tchain *tc = *state;
	struct cfs_op op = op_mkdir("a"), rd;
	struct cfs_reply r;
	struct cfs_wbuf out;

	assert_int_equal(chain_update(&tc->n[1].ch, 1, 1, 1, &op), CFS_ERR_NOT_HEAD);
	assert_int_equal(chain_update(&tc->n[2].ch, 1, 1, 1, &op), CFS_ERR_NOT_HEAD);
	memset(&rd, 0, sizeof(rd));
	rd.type = CFS_OP_GETATTR;
	rd.ino = STORE_ROOT_INO;
	assert_int_equal(chain_update(&tc->n[0].ch, 1, 1, 1, &rd), CFS_ERR_PROTOCOL);
	cfs_wbuf_init(&out);
	assert_int_equal(chain_read(&tc->n[0].ch, &rd, &r, &out), 0);
	assert_int_equal(r.status, CFS_ERR_NOT_TAIL);
	assert_int_equal(chain_read(&tc->n[2].ch, &rd, &r, &out), 0);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.attr.ino, STORE_ROOT_INO);
	cfs_wbuf_free(&out);
}

/* A chain of one is head and tail: it answers at once. */
static void
test_single_node_chain(void **state)
{
	struct tchain *tc = *state;
	struct tnode *t = &tc->n[2];
	struct cfs_op op = op_mkdir("solo");

	t->ch.role = CFS_ROLE_HEAD | CFS_ROLE_TAIL;
	assert_int_equal(chain_update(&t->ch, 8, 1, 1, &op), 0);
	assert_int_equal(t->nreplies, 1);
	assert_int_equal(t->replies[0].status, 0);
	assert_int_equal(t->nfwd, 0);
	assert_int_equal(chain_sent_len(&t->ch), 0);
}

/* In a store batch an FSYNC entry's sync waits for the commit, then happens. */
static void
test_fsync_in_batch_syncs_after_commit(void **state)
{
	struct tchain *tc = *state;
	struct cfs_op op = op_mkdir("a"), fs;
	uint64_t syncs = tc->n[0].ch.stats.syncs;

	memset(&fs, 0, sizeof(fs));
	fs.type = CFS_OP_FSYNC;
	fs.ino = STORE_ROOT_INO;
	assert_int_equal(store_batch_begin(tc->n[0].st), 0);
	assert_int_equal(chain_update(&tc->n[0].ch, 4, 1, 1, &op), 0);
	assert_int_equal(chain_update(&tc->n[0].ch, 4, 2, 1, &fs), 0);
	assert_int_equal(tc->n[0].ch.stats.syncs, syncs);
	assert_int_equal(store_batch_commit(tc->n[0].st), 0);
	chain_committed(&tc->n[0].ch);
	assert_int_equal(tc->n[0].ch.stats.syncs, syncs + 1);
	assert_int_equal(tc->n[0].ch.synced_sn, 2);
	/* Both entries went out in order and apply downstream. */
	assert_int_equal(tc->n[0].nfwd, 2);
	assert_int_equal(deliver(tc, 0, 0), CHAIN_OK);
	assert_int_equal(deliver(tc, 0, 1), CHAIN_OK);
	assert_int_equal(tc->n[1].ch.stats.syncs, 1);
}

/* The view gives roles, predecessors and successors, the syncing node after the tail. */
static void
test_view(void **state)
{
	struct chain_view v = view_of(3, "a,b,c", "d");

	assert_int_equal(view_role(&v, "a"), CFS_ROLE_HEAD);
	assert_int_equal(view_role(&v, "b"), 0);
	assert_int_equal(view_role(&v, "c"), CFS_ROLE_TAIL);
	assert_int_equal(view_role(&v, "d"), 0);
	assert_null(view_pred(&v, "a"));
	assert_string_equal(view_pred(&v, "b"), "a");
	assert_string_equal(view_pred(&v, "d"), "c");
	assert_string_equal(view_succ(&v, "c"), "d");
	assert_null(view_succ(&v, "d"));
	assert_null(view_pred(&v, "zz"));
	assert_string_equal(view_role_name(&v, "d"), "syncing");
	assert_string_equal(view_role_name(&v, "zz"), "out");
	v = view_of(4, "a", "");
	assert_int_equal(view_role(&v, "a"), CFS_ROLE_HEAD | CFS_ROLE_TAIL);
	assert_null(view_succ(&v, "a"));
	assert_string_equal(view_role_name(&v, "a"), "head+tail");
}

/*
 * The tail fails with entries 2 and 3 on the middle only: the middle becomes
 * the tail and they are committed; the clients' retries are answered from
 * the result table, not applied again.
 */
static void
test_tail_fails(void **state)
{
	struct tchain *tc = *state;
	struct chain_view v = view_of(8, "n0,n1", "");
	char name[8];

	for (int i = 0; i < 3; i++) {
		struct cfs_op op;

		snprintf(name, sizeof(name), "t%d", i);
		op = op_mkdir(name);
		assert_int_equal(chain_update(&tc->n[0].ch, 4, (uint64_t)i + 1, 1, &op), 0);
		assert_int_equal(deliver(tc, 0, (size_t)i), CHAIN_OK);
	}
	assert_int_equal(deliver(tc, 1, 0), CHAIN_OK); /* only sn 1 reaches the tail */
	assert_int_equal(tc->n[2].nreplies, 1);
	chain_reconfigure(&tc->n[0].ch, &v, "n0");
	chain_reconfigure(&tc->n[1].ch, &v, "n1");
	assert_int_equal(tc->n[1].ch.role, CFS_ROLE_TAIL);
	assert_int_equal(tc->n[1].ch.acked_sn, 3);
	assert_int_equal(chain_sent_len(&tc->n[1].ch), 0);
	/* The head's link comes up in epoch 8 with the new tail at sn 3: nothing to resend. */
	assert_int_equal(chain_successor_up(&tc->n[0].ch, 3, 7), CHAIN_CONTINUE);
	assert_int_equal(tc->n[0].nfwd, 3);
	/* The client retries seq 2 and 3 at the head: reply-only entries, answered by n1. */
	for (uint64_t seq = 2; seq <= 3; seq++) {
		struct cfs_op op;

		snprintf(name, sizeof(name), "t%llu", (unsigned long long)seq - 1);
		op = op_mkdir(name);
		assert_int_equal(chain_update(&tc->n[0].ch, 4, seq, 1, &op), 0);
		assert_int_equal(deliver(tc, 0, tc->n[0].nfwd - 1), CHAIN_OK);
	}
	assert_int_equal(tc->n[0].ch.stats.reply_only, 2);
	assert_int_equal(tc->n[1].nreplies, 2);
	assert_int_equal(tc->n[1].replies[0].status, 0); /* not EEXIST: the stored result */
	assert_int_equal(tc->n[1].replies[1].status, 0);
	assert_int_equal(tc->n[1].reply_seq[1], 3);
	/* Reads now at n1, refused at the old tail's old role. */
	assert_int_equal(tc->n[1].ch.epoch, 8);
}

/*
 * The middle fails: the head's new successor is the old tail, which reports
 * the last sn it applied; the head resends what comes after it, in order.
 */
static void
test_middle_fails(void **state)
{
	struct tchain *tc = *state;
	struct chain_view v = view_of(8, "n0,n2", "");
	uint8_t d0[CFS_DIGEST_LEN], d2[CFS_DIGEST_LEN];
	char name[8];

	for (int i = 0; i < 4; i++) {
		struct cfs_op op;

		snprintf(name, sizeof(name), "m%d", i);
		op = op_mkdir(name);
		assert_int_equal(chain_update(&tc->n[0].ch, 6, (uint64_t)i + 1, 1, &op), 0);
	}
	assert_int_equal(deliver(tc, 0, 0), CHAIN_OK);
	assert_int_equal(deliver(tc, 0, 1), CHAIN_OK);
	assert_int_equal(deliver(tc, 1, 0), CHAIN_OK); /* n2 has sn 1, n1 has 2, n0 has 4 */
	chain_reconfigure(&tc->n[0].ch, &v, "n0");
	chain_reconfigure(&tc->n[2].ch, &v, "n2");
	assert_int_equal(chain_sent_len(&tc->n[0].ch), 4);
	for (size_t k = 0; k < tc->n[0].nfwd; k++)
		cfs_wbuf_free(&tc->n[0].fwd[k]);
	tc->n[0].nfwd = 0;
	assert_int_equal(chain_successor_up(&tc->n[0].ch, 1, 7), CHAIN_CONTINUE);
	assert_int_equal(tc->n[0].nfwd, 3);
	for (size_t k = 0; k < 3; k++)
		assert_int_equal(deliver_to(tc, 0, k, 2), CHAIN_OK);
	assert_int_equal(chain_applied_sn(&tc->n[2].ch), 4);
	assert_int_equal(tc->n[2].nreplies, 4);
	chain_ack(&tc->n[0].ch, 4);
	assert_int_equal(chain_sent_len(&tc->n[0].ch), 0);
	assert_int_equal(store_digest(tc->n[0].st, d0), 0);
	assert_int_equal(store_digest(tc->n[2].st, d2), 0);
	assert_memory_equal(d0, d2, CFS_DIGEST_LEN);
}

/*
 * The head fails after applying entries it never forwarded.  The next node
 * becomes head and makes its own entries at those sns, in the new epoch.
 * When the old head returns, it is not trusted by its sn: its entry at that
 * sn is of another epoch, so it needs a snapshot.  A node whose history is a
 * prefix continues from the log.
 */
static void
test_head_fails_returning_node_checked(void **state)
{
	struct tchain *tc = *state;
	struct chain_view v = view_of(8, "n1,n2", ""), vj = view_of(9, "n1,n2", "n0");
	struct cfs_op op = op_mkdir("h0"), op2 = op_mkdir("h1"), op3 = op_mkdir("other");

	assert_int_equal(chain_update(&tc->n[0].ch, 2, 1, 1, &op), 0);
	flow(tc);
	assert_int_equal(chain_update(&tc->n[0].ch, 2, 2, 1, &op2), 0); /* never forwarded */
	assert_int_equal(chain_applied_sn(&tc->n[0].ch), 2);
	chain_reconfigure(&tc->n[1].ch, &v, "n1");
	chain_reconfigure(&tc->n[2].ch, &v, "n2");
	assert_int_equal(tc->n[1].ch.role, CFS_ROLE_HEAD);
	assert_int_equal(chain_successor_up(&tc->n[1].ch, 1, 7), CHAIN_CONTINUE);
	/* Another client's update takes sn 2 in epoch 8. */
	assert_int_equal(chain_update(&tc->n[1].ch, 3, 1, 1, &op3), 0);
	assert_int_equal(deliver(tc, 1, tc->n[1].nfwd - 1), CHAIN_OK);
	assert_int_equal(tc->n[2].ch.applied_epoch, 8);
	/* The old head rejoins behind the tail: (7, 2) is not in the tail's history. */
	chain_reconfigure(&tc->n[1].ch, &vj, "n1");
	chain_reconfigure(&tc->n[2].ch, &vj, "n2");
	chain_reconfigure(&tc->n[0].ch, &vj, "n0");
	assert_true(tc->n[0].ch.joining);
	assert_true(tc->n[2].ch.succ_joining);
	assert_int_equal(chain_successor_up(&tc->n[2].ch, 2, tc->n[0].ch.applied_epoch),
			 CHAIN_SNAPSHOT);
	assert_int_equal(chain_successor_up(&tc->n[2].ch, 3, 8), CHAIN_SNAPSHOT); /* ahead */
	/* A node at (7, 1) has a prefix of the tail's history: it continues from the log. */
	assert_int_equal(chain_successor_up(&tc->n[2].ch, 1, 7), CHAIN_CONTINUE);
	assert_int_equal(chain_successor_up(&tc->n[2].ch, 1, 6), CHAIN_SNAPSHOT);
}

/*
 * A node syncing behind the tail gets the tail's log and then its new
 * entries; its acks track its progress at the tail and go no further; it
 * never replies to a client.
 */
static void
test_join_behind_tail(void **state)
{
	struct tchain *tc = *state;
	struct chain_view v = view_of(8, "n0,n1", "n2"), vt = view_of(9, "n0,n1,n2", "");
	uint64_t acks_before;
	char name[8];

	/* n2 starts empty as a joiner: fresh store, so reopen it. */
	for (int i = 0; i < 3; i++) {
		struct cfs_op op;

		snprintf(name, sizeof(name), "j%d", i);
		op = op_mkdir(name);
		assert_int_equal(chain_update(&tc->n[0].ch, 1, (uint64_t)i + 1, 1, &op), 0);
		assert_int_equal(deliver(tc, 0, (size_t)i), CHAIN_OK);
	}
	chain_reconfigure(&tc->n[0].ch, &v, "n0");
	chain_reconfigure(&tc->n[1].ch, &v, "n1");
	chain_reconfigure(&tc->n[2].ch, &v, "n2");
	assert_int_equal(tc->n[1].ch.role, CFS_ROLE_TAIL);
	assert_true(tc->n[2].ch.joining);
	acks_before = tc->n[1].nacks;
	for (size_t k = 0; k < tc->n[1].nfwd; k++)
		cfs_wbuf_free(&tc->n[1].fwd[k]);
	tc->n[1].nfwd = 0;
	assert_int_equal(chain_successor_up(&tc->n[1].ch, 0, 0), CHAIN_CONTINUE);
	assert_int_equal(tc->n[1].nfwd, 3);
	for (size_t k = 0; k < 3; k++)
		assert_int_equal(deliver(tc, 1, k), CHAIN_OK);
	assert_int_equal(tc->n[2].nreplies, 0);
	assert_int_equal(tc->n[2].last_ack, 3);
	chain_ack(&tc->n[1].ch, 3);
	assert_int_equal(tc->n[1].ch.sync_acked_sn, 3);
	assert_int_equal(tc->n[1].nacks, acks_before); /* not passed upstream */
	assert_int_equal(chain_successor_up(&tc->n[0].ch, 3, 7), CHAIN_CONTINUE);
	/* A new update reaches the tail, which replies, and the joiner. */
	{
		struct cfs_op op = op_mkdir("j3");

		assert_int_equal(chain_update(&tc->n[0].ch, 1, 4, 4, &op), 0);
		assert_int_equal(deliver(tc, 0, tc->n[0].nfwd - 1), CHAIN_OK);
		assert_int_equal(tc->n[1].nfwd, 4);
		assert_int_equal(deliver(tc, 1, 3), CHAIN_OK);
	}
	/* The joiner becomes the tail. */
	reconfigure_all(tc, &vt);
	assert_int_equal(tc->n[2].ch.role, CFS_ROLE_TAIL);
	assert_false(tc->n[2].ch.joining);
	assert_int_equal(tc->n[1].ch.role, 0);
	assert_int_equal(tc->n[2].ch.applied_epoch, 8); /* j3 was made in epoch 8 */
	assert_int_equal(chain_successor_up(&tc->n[1].ch, 4, 8), CHAIN_CONTINUE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_update_flows_down_and_acks_up, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_whiteout_rename_new_inode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gaps_refused_dups_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_acks_trim_sent_list_and_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_request_answered_from_table, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_store_read_error_applies_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_successor_catch_up_from_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roles_enforced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_single_node_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsync_in_batch_syncs_after_commit, setup,
						teardown),
		cmocka_unit_test(test_view),
		cmocka_unit_test_setup_teardown(test_tail_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_middle_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_head_fails_returning_node_checked, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_join_behind_tail, setup, teardown),
	};

	log_init("test_chain", 0, LOG_LEVEL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
