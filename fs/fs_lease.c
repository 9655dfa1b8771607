/*
 * The FUSE client's leases (DESIGN.md, "Coherent client caching"): the
 * kernel caches attributes for as long as the tail's lease in the answer
 * lasts, and a recall from the tail drops them before it is acknowledged.
 *
 * The kernel is told to drop a cache with fuse_lowlevel_notify_inval_inode,
 * which must not run where the kernel may wait for this process (libfuse
 * documents the deadlock): a worker thread makes the calls, and holds
 * nothing but its own queue's lock, never across a call.  It hands what it
 * finished back through a pipe; the loop then acknowledges, so a recall is
 * acknowledged only after the kernel has dropped what it names.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/wire.h"
#include "fs/fs.h"
#include "fs/fs_int.h"

/* One recall to carry out. */
struct fs_recall_job {
	uint64_t id, gen;
	uint16_t n;
	uint64_t ino[CFS_RECALL_MAX];
	struct fs_recall_job *next;
};

/* The worker and its two queues (to do, done), under one lock. */
struct fs_recaller {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct fs_recall_job *todo, **todo_tail;
	struct fs_recall_job *done, **done_tail;
	int stop;
	int pipe[2]; /* the worker writes a byte per finished job; the loop reads */
	struct event *ev;
	struct fuse_session *se;
};

/* Seconds the kernel may keep what the answer being delivered shows. */
double
fs_attr_ttl(struct fs *fs)
{
	uint64_t until = cfs_client_lease_until(fs->cl), now = cfs_now_ms();

	/* Never past the lease: the tail recalls nothing after it ends. */
	if (until > now)
		return (double)(until - now) / 1000.0;
	return fs->o.attr_timeout;
}

/* Notes the lease on inode a that came with the answer being delivered. */
void
fs_lease_note(struct fs *fs, const struct cfs_attr *a)
{
	struct fs_inode *n = fs_inode(fs, a->ino, 0);
	uint64_t until = cfs_client_lease_until(fs->cl);

	if (n == NULL)
		return;
	if (until > cfs_now_ms()) {
		n->lease_until = until;
		n->lease_gen = cfs_client_lease_gen(fs->cl);
		n->lease_version = a->version;
	} else {
		n->lease_until = 0;
	}
}

/* Whether this mount holds a lease on n's attributes and data now. */
int
fs_lease_valid(struct fs *fs, const struct fs_inode *n)
{
	return n->lease_until > cfs_now_ms() && n->lease_gen == cfs_client_lease_gen(fs->cl);
}

/* The worker: carries out recalls one by one. */
static void *
fs_recall_thread(void *arg)
{
	struct fs_recaller *rc = arg;
	struct fs_recall_job *j;

	for (;;) {
		pthread_mutex_lock(&rc->lock);
		while (rc->todo == NULL && !rc->stop)
			pthread_cond_wait(&rc->wake, &rc->lock);
		if (rc->todo == NULL) {
			pthread_mutex_unlock(&rc->lock);
			return NULL;
		}
		j = rc->todo;
		rc->todo = j->next;
		if (rc->todo == NULL)
			rc->todo_tail = &rc->todo;
		pthread_mutex_unlock(&rc->lock);

		for (uint16_t i = 0; i < j->n; i++) {
			/* Attributes and every cached page; ENOENT: the kernel has none. */
			int err = fuse_lowlevel_notify_inval_inode(rc->se, j->ino[i], 0, 0);

			if (err != 0 && err != -ENOENT)
				log_debug("invalidating inode %llu: %s",
					  (unsigned long long)j->ino[i], strerror(-err));
		}

		pthread_mutex_lock(&rc->lock);
		j->next = NULL;
		*rc->done_tail = j;
		rc->done_tail = &j->next;
		pthread_mutex_unlock(&rc->lock);
		while (write(rc->pipe[1], "", 1) < 0 && errno == EINTR)
			;
	}
}

/* On the loop: acknowledges what the worker finished. */
static void
fs_recall_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fs *fs = arg;
	struct fs_recaller *rc = fs->recaller;
	struct fs_recall_job *j, *next;
	char buf[256];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&rc->lock);
	j = rc->done;
	rc->done = NULL;
	rc->done_tail = &rc->done;
	pthread_mutex_unlock(&rc->lock);
	for (; j != NULL; j = next) {
		next = j->next;
		cfs_client_recall_ack(fs->cl, j->id, j->gen);
		free(j);
	}
}

/* Starts the worker, on the first recall (after fuse_daemonize forked). */
static struct fs_recaller *
fs_recaller_start(struct fs *fs)
{
	struct fs_recaller *rc = xcalloc(1, sizeof(*rc));

	if (pipe2(rc->pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		fatal("pipe2");
	pthread_mutex_init(&rc->lock, NULL);
	pthread_cond_init(&rc->wake, NULL);
	rc->todo_tail = &rc->todo;
	rc->done_tail = &rc->done;
	rc->se = fs->se;
	rc->ev = event_new(fs->base, rc->pipe[0], EV_READ | EV_PERSIST, fs_recall_done_cb, fs);
	event_add(rc->ev, NULL);
	if (pthread_create(&rc->thread, NULL, fs_recall_thread, rc) != 0)
		fatalx("cannot start the recall thread");
	return rc;
}

/* cfs_client recall callback: forget the leases here, have the kernel drop its caches. */
static void
fs_recall(void *arg, uint64_t id, uint64_t gen, const struct cfs_recall *r)
{
	struct fs *fs = arg;
	struct fs_recall_job *j;

	for (uint16_t i = 0; i < r->n; i++) {
		struct fs_inode *n = fs_inode(fs, r->items[i].ino, 0);

		if (n != NULL) {
			n->lease_until = 0;
			fs_ra_recalled(fs, n);
		}
	}
	if (fs->se == NULL) {
		cfs_client_recall_ack(fs->cl, id, gen); /* not mounted: nothing is cached */
		return;
	}
	if (fs->recaller == NULL)
		fs->recaller = fs_recaller_start(fs);
	j = xcalloc(1, sizeof(*j));
	j->id = id;
	j->gen = gen;
	j->n = r->n;
	for (uint16_t i = 0; i < r->n; i++)
		j->ino[i] = r->items[i].ino;
	pthread_mutex_lock(&fs->recaller->lock);
	*fs->recaller->todo_tail = j;
	fs->recaller->todo_tail = &j->next;
	pthread_cond_signal(&fs->recaller->wake);
	pthread_mutex_unlock(&fs->recaller->lock);
	fs->recalls++;
}

/* Takes recalls from the client when leases are on. */
void
fs_lease_init(struct fs *fs)
{
	if (fs->o.lease_ms > 0)
		cfs_client_set_recall(fs->cl, fs_recall, fs);
}

/* Stops the worker; recalls still queued are dropped (the tail waits out the lease). */
void
fs_lease_free(struct fs *fs)
{
	struct fs_recaller *rc = fs->recaller;
	struct fs_recall_job *j;

	if (rc == NULL)
		return;
	pthread_mutex_lock(&rc->lock);
	rc->stop = 1;
	while ((j = rc->todo) != NULL) {
		rc->todo = j->next;
		free(j);
	}
	rc->todo_tail = &rc->todo;
	pthread_cond_signal(&rc->wake);
	pthread_mutex_unlock(&rc->lock);
	pthread_join(rc->thread, NULL);
	while ((j = rc->done) != NULL) {
		rc->done = j->next;
		free(j);
	}
	event_free(rc->ev);
	close(rc->pipe[0]);
	close(rc->pipe[1]);
	pthread_mutex_destroy(&rc->lock);
	pthread_cond_destroy(&rc->wake);
	free(rc);
	fs->recaller = NULL;
}
