/*
 * Inode records and directory entries: reading and writing an inode record
 * (its format is at the top of store.c), the dirents and cookies databases,
 * times, links, freeing an inode, the parent walk, and the rules for the
 * names of dirents and xattrs.  The operations made of these are in
 * store_apply.c and store_read.c.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "store/store.h"
#include "store/store_int.h"

/* Sets the derived st_blocks of an inode. */
static void
store_inode_blocks(struct store_inode *n)
{
	if (S_ISDIR(n->a.mode))
		n->a.blocks = STORE_DIR_BLOCKS;
	else
		n->a.blocks = (n->stored + 511) / 512;
}

/* Loads inode ino: 0, ENOENT, or a negative errno for a bad record. */
int
store_inode_get(struct store_tx *tx, uint64_t ino, struct store_inode *n)
{
	uint8_t k[8];
	const uint8_t *p;
	size_t fixed;
	MDB_val v;
	int rc;

	store_put_be(k, ino, 8);
	rc = store_db_get(tx->txn, tx->s->dbi[STORE_DB_INODES], k, sizeof(k), &v);
	if (rc != 0)
		return rc;
	p = v.mv_data;
	if (v.mv_size < 1 || (p[0] != 1 && p[0] != STORE_INODE_FORMAT))
		goto bad;
	fixed = p[0] == 1 ? STORE_INODE_FIXED1 : STORE_INODE_FIXED;
	if (v.mv_size < fixed)
		goto bad;
	memset(n, 0, offsetof(struct store_inode, link));
	p++;
	n->a.ino = ino;
	n->a.mode = (uint32_t)store_get_be(&p, 4);
	n->a.nlink = (uint32_t)store_get_be(&p, 4);
	n->a.uid = (uint32_t)store_get_be(&p, 4);
	n->a.gid = (uint32_t)store_get_be(&p, 4);
	n->a.rdev = store_get_be(&p, 8);
	n->a.size = store_get_be(&p, 8);
	n->a.version = store_get_be(&p, 8);
	n->a.atime_sec = (int64_t)store_get_be(&p, 8);
	n->a.atime_nsec = (uint32_t)store_get_be(&p, 4);
	n->a.mtime_sec = (int64_t)store_get_be(&p, 8);
	n->a.mtime_nsec = (uint32_t)store_get_be(&p, 4);
	n->a.ctime_sec = (int64_t)store_get_be(&p, 8);
	n->a.ctime_nsec = (uint32_t)store_get_be(&p, 4);
	n->parent = store_get_be(&p, 8);
	n->next_cookie = store_get_be(&p, 8);
	n->nentries = store_get_be(&p, 8);
	n->nxattrs = store_get_be(&p, 8);
	n->stored = store_get_be(&p, 8);
	if (fixed == STORE_INODE_FIXED)
		n->a.flags = (uint32_t)store_get_be(&p, 4);
	n->linklen = (uint32_t)store_get_be(&p, 4);
	if (n->linklen >= sizeof(n->link) || v.mv_size != fixed + n->linklen)
		goto bad;
	memcpy(n->link, p, n->linklen);
	store_inode_blocks(n);
	return 0;
bad:
	log_warnx("%s: inode %llu: bad record of %zu bytes", __func__, (unsigned long long)ino,
	          v.mv_size);
	return -EIO;
}

/* Notes that ino changed, for store_track. */
void
store_changed_inode(struct store *s, uint64_t ino)
{
	struct store_changes *ch = s->changes;

	if (ch == NULL || ch->overflow)
		return;
	for (uint32_t i = 0; i < ch->ninodes; i++)
		if (ch->inodes[i] == ino)
			return;
	if (ch->ninodes == STORE_CHANGES_MAX)
		ch->overflow = 1;
	else
		ch->inodes[ch->ninodes++] = ino;
}

/* ino changed and lost its last name: its holders may let it go (CFS_RECALL_GONE). */
void
store_gone_inode(struct store *s, uint64_t ino)
{
	struct store_changes *ch = s->changes;

	store_changed_inode(s, ino);
	if (ch == NULL || ch->overflow)
		return;
	for (uint32_t i = 0; i < ch->ninodes; i++)
		if (ch->inodes[i] == ino)
			ch->gone |= 1u << i;
}

/* Writes inode n back and refreshes its derived fields. */
int
store_inode_put(struct store_tx *tx, struct store_inode *n)
{
	uint8_t k[8], rec[STORE_INODE_FIXED + CFS_PATH_MAX], *p = rec;

	store_inode_blocks(n);
	store_changed_inode(tx->s, n->a.ino);
	store_put_be(k, n->a.ino, 8);
	*p++ = STORE_INODE_FORMAT;
	p = store_put_be(p, n->a.mode, 4);
	p = store_put_be(p, n->a.nlink, 4);
	p = store_put_be(p, n->a.uid, 4);
	p = store_put_be(p, n->a.gid, 4);
	p = store_put_be(p, n->a.rdev, 8);
	p = store_put_be(p, n->a.size, 8);
	p = store_put_be(p, n->a.version, 8);
	p = store_put_be(p, (uint64_t)n->a.atime_sec, 8);
	p = store_put_be(p, n->a.atime_nsec, 4);
	p = store_put_be(p, (uint64_t)n->a.mtime_sec, 8);
	p = store_put_be(p, n->a.mtime_nsec, 4);
	p = store_put_be(p, (uint64_t)n->a.ctime_sec, 8);
	p = store_put_be(p, n->a.ctime_nsec, 4);
	p = store_put_be(p, n->parent, 8);
	p = store_put_be(p, n->next_cookie, 8);
	p = store_put_be(p, n->nentries, 8);
	p = store_put_be(p, n->nxattrs, 8);
	p = store_put_be(p, n->stored, 8);
	p = store_put_be(p, n->a.flags, 4);
	p = store_put_be(p, n->linklen, 4);
	memcpy(p, n->link, n->linklen);
	p += n->linklen;
	assert(p == rec + STORE_INODE_FIXED + n->linklen);
	return store_db_put(tx->txn, tx->s->dbi[STORE_DB_INODES], k, sizeof(k), rec,
	                    (size_t)(p - rec));
}

/* Loads a directory: ENOENT when absent, ENOTDIR when not a directory. */
int
store_dir_get(struct store_tx *tx, uint64_t ino, struct store_inode *n)
{
	int rc = store_inode_get(tx, ino, n);

	if (rc == 0 && !S_ISDIR(n->a.mode))
		return ENOTDIR;
	if (rc == 0 && n->a.nlink == 0)
		return ENOENT; /* removed, open somewhere: nothing goes in, nothing is listed */
	return rc;
}

/*
 * Checks a name to create or remove: EINVAL when empty, ".", "..", or with
 * '/' or NUL; ENAMETOOLONG past CFS_NAME_MAX (the decoder already refuses
 * those, but key buffers here must not trust that).
 */
int
store_name_check(const char *name, size_t len)
{
	if (len > CFS_NAME_MAX)
		return ENAMETOOLONG;
	if (len == 0 || name == NULL)
		return EINVAL;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return EINVAL;
	if (memchr(name, '/', len) != NULL || memchr(name, '\0', len) != NULL)
		return EINVAL;
	return 0;
}

/* Sets the chosen times of a to the entry's time. */
void
store_touch(struct store_tx *tx, struct cfs_attr *a, int atime, int mtime)
{
	if (atime) {
		a->atime_sec = tx->e->time_sec;
		a->atime_nsec = tx->e->time_nsec;
	}
	if (mtime) {
		a->mtime_sec = tx->e->time_sec;
		a->mtime_nsec = tx->e->time_nsec;
	}
	a->ctime_sec = tx->e->time_sec;
	a->ctime_nsec = tx->e->time_nsec;
}

/* Marks a directory's entries as changed now. */
void
store_dir_changed(struct store_tx *tx, struct store_inode *dir)
{
	store_touch(tx, &dir->a, 0, 1);
	dir->a.version = tx->e->sn;
}

/* Looks up name in directory dir: 0 with ino and cookie, ENOENT, or a negative errno. */
int
store_dirent_get(struct store_tx *tx, uint64_t dir, const char *name, size_t len, uint64_t *ino,
                 uint64_t *cookie)
{
	uint8_t k[8 + CFS_NAME_MAX];
	MDB_val v;
	int rc;

	if (len > CFS_NAME_MAX)
		return ENOENT;
	rc = store_db_get(tx->txn, tx->s->dbi[STORE_DB_DIRENTS], k,
	                  store_key_name(k, dir, name, len), &v);
	if (rc != 0)
		return rc;
	if (v.mv_size != 16) {
		log_warnx("%s: dirent of %llu has %zu bytes", __func__, (unsigned long long)dir,
		          v.mv_size);
		return -EIO;
	}
	*ino = store_val64(v.mv_data);
	*cookie = store_val64((const uint8_t *)v.mv_data + 8);
	return 0;
}

/* Points name in dir at ino with the given cookie (both tables). */
int
store_dirent_set(struct store_tx *tx, uint64_t dir, const char *name, size_t len, uint64_t ino,
                 uint64_t cookie)
{
	uint8_t k[8 + CFS_NAME_MAX], v[16], ck[16];
	int rc;

	store_changed_inode(tx->s, dir);
	store_key2(v, ino, cookie);
	rc = store_db_put(tx->txn, tx->s->dbi[STORE_DB_DIRENTS], k,
	                  store_key_name(k, dir, name, len), v, sizeof(v));
	if (rc != 0)
		return rc;
	store_key2(ck, dir, cookie);
	return store_db_put(tx->txn, tx->s->dbi[STORE_DB_COOKIES], ck, sizeof(ck), name, len);
}

/* Adds name -> ino to directory d (the caller writes d back). */
int
store_dirent_add(struct store_tx *tx, struct store_inode *d, const char *name, size_t len,
                 uint64_t ino)
{
	uint64_t cookie = d->next_cookie++;

	d->nentries++;
	return store_dirent_set(tx, d->a.ino, name, len, ino, cookie);
}

/* Removes name from directory d (the caller writes d back). */
int
store_dirent_del(struct store_tx *tx, struct store_inode *d, const char *name, size_t len,
                 uint64_t cookie)
{
	uint8_t k[8 + CFS_NAME_MAX], ck[16];
	int rc;

	store_changed_inode(tx->s, d->a.ino);
	rc = store_db_del(tx->txn, tx->s->dbi[STORE_DB_DIRENTS], k,
	                  store_key_name(k, d->a.ino, name, len));
	if (rc == 0) {
		store_key2(ck, d->a.ino, cookie);
		rc = store_db_del(tx->txn, tx->s->dbi[STORE_DB_COOKIES], ck, sizeof(ck));
	}
	if (rc > 0) {
		log_warnx("%s: directory %llu lost an entry", __func__,
		          (unsigned long long)d->a.ino);
		return -EIO;
	}
	d->nentries--;
	return rc;
}

/* Removes an inode with its blocks and xattrs. */
int
store_inode_free(struct store_tx *tx, struct store_inode *n)
{
	uint8_t k[8];
	int rc = 0;

	store_changed_inode(tx->s, n->a.ino);
	if (S_ISREG(n->a.mode) && n->stored > 0)
		rc = store_blocks_trunc(tx, n, 0);
	if (rc == 0 && n->nxattrs > 0)
		rc = store_del_prefix(tx, tx->s->dbi[STORE_DB_XATTRS], n->a.ino);
	if (rc == 0)
		rc = store_locks_drop_ino(tx, n->a.ino);
	if (rc != 0)
		return rc;
	store_put_be(k, n->a.ino, 8);
	rc = store_db_del(tx->txn, tx->s->dbi[STORE_DB_INODES], k, sizeof(k));
	return rc > 0 ? -EIO : rc;
}

/* Drops one link to a non-directory; at nlink 0 it is freed, or an orphan while open. */
int
store_inode_unlink(struct store_tx *tx, struct store_inode *n)
{
	if (n->a.nlink > 0)
		n->a.nlink--;
	store_touch(tx, &n->a, 0, 0);
	if (n->a.nlink == 0)
		return store_inode_orphan(tx, n);
	return store_inode_put(tx, n);
}

/* Loads the inode a dirent points to; a dangling dirent is corruption. */
int
store_inode_get_linked(struct store_tx *tx, uint64_t ino, struct store_inode *n)
{
	int rc = store_inode_get(tx, ino, n);

	if (rc == ENOENT) {
		log_warnx("%s: dirent points to missing inode %llu", __func__,
		          (unsigned long long)ino);
		return -EIO;
	}
	return rc;
}

/* Whether anc is ino or one of its ancestors: 1, 0, or a negative errno. */
int
store_is_ancestor(struct store_tx *tx, uint64_t anc, uint64_t ino)
{
	struct store_inode n;
	int rc;

	for (uint32_t depth = 0; depth < STORE_MAX_DEPTH; depth++) {
		if (ino == anc)
			return 1;
		if (ino == STORE_ROOT_INO)
			return 0;
		rc = store_inode_get(tx, ino, &n);
		if (rc != 0)
			return rc > 0 ? -EIO : rc;
		ino = n.parent;
	}
	log_warnx("%s: parent chain of %llu does not end", __func__, (unsigned long long)ino);
	return -EIO;
}

/* Checks an xattr name as the kernel's syscalls would. */
int
store_xattr_name(const struct cfs_op *op)
{
	if (op->namelen == 0 || op->name == NULL || op->namelen > CFS_NAME_MAX)
		return ERANGE;
	if (memchr(op->name, '\0', op->namelen) != NULL)
		return EINVAL;
	return 0;
}
