/*
 * Applying an entry: store_apply runs one entry in one write transaction
 * (the update in a child transaction, then the result table, next_ino,
 * applied_sn and the log), with one function per update operation.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "common/log.h"
#include "common/wire.h"
#include "store/store.h"
#include "store/store_acl.h"
#include "store/store_int.h"

#ifndef RENAME_WHITEOUT
#define RENAME_WHITEOUT (1 << 2)
#endif
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif
#ifndef FALLOC_FL_ZERO_RANGE
#define FALLOC_FL_ZERO_RANGE 0x10
#endif
#define STORE_XATTR_CREATE 0x1  /* XATTR_CREATE */
#define STORE_XATTR_REPLACE 0x2 /* XATTR_REPLACE */

static int store_set_size(struct store_tx *, struct store_inode *, uint64_t);

/*
 * Whether uid/gid may write a file of these attributes, by its mode bits as
 * the kernel would judge them (supplementary groups are not known here: a
 * caller who may write only through one of them is refused).
 */
static int
store_may_write(const struct cfs_attr *a, uint32_t uid, uint32_t gid)
{
	if (uid == 0)
		return 1;
	if (uid == a->uid)
		return (a->mode & S_IWUSR) != 0;
	if (gid == a->gid)
		return (a->mode & S_IWGRP) != 0;
	return (a->mode & S_IWOTH) != 0;
}


/* xattr name of ino: 0 (found; *v is its value), ENODATA, or < 0. */
static int
store_xattr_find(struct store_tx *tx, uint64_t ino, const char *name, MDB_val *v)
{
	uint8_t k[8 + CFS_NAME_MAX];
	size_t klen = store_key_name(k, ino, name, strlen(name));
	int rc = store_db_get(tx->txn, tx->s->dbi[STORE_DB_XATTRS], k, klen, v);

	return rc > 0 ? ENODATA : rc;
}

/* Sets (len > 0 or value) or removes (value NULL) xattr name of n, counting it in n. */
static int
store_xattr_store(struct store_tx *tx, struct store_inode *n, const char *name,
		  const void *value, size_t len)
{
	uint8_t k[8 + CFS_NAME_MAX];
	size_t klen = store_key_name(k, n->a.ino, name, strlen(name));
	MDB_dbi dbi = tx->s->dbi[STORE_DB_XATTRS];
	MDB_val v;
	int rc = store_db_get(tx->txn, dbi, k, klen, &v), exists;

	if (rc < 0)
		return rc;
	exists = rc == 0;
	if (value == NULL) {
		if (!exists)
			return 0;
		rc = store_db_del(tx->txn, dbi, k, klen);
		if (rc != 0)
			return rc > 0 ? -EIO : rc;
		n->nxattrs--;
		return 0;
	}
	rc = store_db_put(tx->txn, dbi, k, klen, value, len);
	if (rc != 0)
		return rc;
	n->nxattrs += !exists;
	return 0;
}

/* An inode's ACL (name: access or default): 0, ENODATA, or EIO for a bad stored value. */
static int
store_acl_load(struct store_tx *tx, uint64_t ino, const char *name, struct store_acl *a)
{
	MDB_val v;
	int rc = store_xattr_find(tx, ino, name, &v);

	if (rc != 0)
		return rc;
	if (store_acl_decode(v.mv_data, v.mv_size, a) != 0 || a->n == 0) {
		log_warnx("inode %llu: stored %s is not a valid ACL", (unsigned long long)ino, name);
		return EIO;
	}
	return 0;
}

static int
store_acl_save(struct store_tx *tx, struct store_inode *n, const char *name,
	       const struct store_acl *a)
{
	uint8_t buf[STORE_ACL_MAX_SIZE];

	return store_xattr_store(tx, n, name, buf, store_acl_encode(a, buf));
}

/*
 * A new inode n under dir: with a default ACL on dir, the ACL masks the
 * mode and becomes n's access ACL when it says more than the mode (and
 * stays n's default ACL when n is a directory); without one, the umask
 * masks the mode.  Symbolic links take neither.
 */
static int
store_acl_new_inode(struct store_tx *tx, const struct store_inode *dir, struct store_inode *n)
{
	struct store_acl def, acc;
	uint32_t mode = n->a.mode;
	int rc;

	if (S_ISLNK(n->a.mode))
		return 0;
	rc = store_acl_load(tx, dir->a.ino, STORE_ACL_DEFAULT, &def);
	if (rc == ENODATA) {
		n->a.mode &= ~(tx->e->op.valid & CFS_CREATE_UMASK);
		return 0;
	}
	if (rc != 0)
		return rc;
	acc = def;
	if (store_acl_inherit(&acc, &mode) && (rc = store_acl_save(tx, n, STORE_ACL_ACCESS, &acc)) != 0)
		return rc;
	n->a.mode = mode;
	if (S_ISDIR(n->a.mode))
		rc = store_acl_save(tx, n, STORE_ACL_DEFAULT, &def);
	return rc;
}

/* chmod: an access ACL's owner, mask (or group) and other entries follow the mode. */
static int
store_acl_follow_mode(struct store_tx *tx, struct store_inode *n)
{
	struct store_acl a;
	int rc = store_acl_load(tx, n->a.ino, STORE_ACL_ACCESS, &a);

	if (rc != 0)
		return rc == ENODATA ? 0 : rc;
	store_acl_chmod(&a, n->a.mode);
	return store_acl_save(tx, n, STORE_ACL_ACCESS, &a);
}

/*
 * The inode flags of chattr(1), which the kernel does not enforce for a
 * FUSE filesystem, so the store does: EPERM when inode a is immutable, or
 * (fixed) immutable or append-only; else 0.  Immutable forbids any change
 * of the inode and, for a directory, of its names; append-only forbids
 * removing or renaming it, changing its owner, mode or times, its xattrs,
 * and any write but an append, and, for a directory, removing names in it.
 */
static int
store_fl_deny(const struct cfs_attr *a, int fixed)
{
	if (a->flags & CFS_FL_IMMUTABLE)
		return EPERM;
	if (fixed && (a->flags & CFS_FL_APPEND))
		return EPERM;
	return 0;
}

/*
 * Fills n as the entry's new inode (e->new_ino, which the head chose and no
 * inode may have yet): mode, the caller as owner, times now, one link (two
 * for a directory).  Not stored yet.
 */
static int
store_fresh_inode(struct store_tx *tx, struct store_inode *n, uint32_t mode)
{
	const struct cfs_entry *e = tx->e;
	struct store_inode old;
	int rc;

	if (e->new_ino <= STORE_ROOT_INO) {
		log_warnx("%s: entry %llu has new_ino %llu", __func__, (unsigned long long)e->sn,
		          (unsigned long long)e->new_ino);
		return EIO;
	}
	rc = store_inode_get(tx, e->new_ino, &old);
	if (rc <= 0) {
		if (rc == 0)
			log_warnx("%s: entry %llu reuses inode %llu", __func__,
			          (unsigned long long)e->sn, (unsigned long long)e->new_ino);
		return rc == 0 ? EIO : rc;
	}
	memset(n, 0, offsetof(struct store_inode, link));
	n->a.ino = e->new_ino;
	n->a.mode = mode;
	n->a.nlink = S_ISDIR(mode) ? 2 : 1;
	n->a.uid = e->op.uid;
	n->a.gid = e->op.gid;
	n->a.version = e->sn;
	store_touch(tx, &n->a, 1, 1);
	tx->ino_used = 1;
	return 0;
}

/* Creates a new inode named name in directory op->ino; the common part of every create. */
static int
store_new_inode(struct store_tx *tx, uint32_t mode, uint64_t rdev, const void *link,
                uint32_t linklen)
{
	const struct cfs_entry *e = tx->e;
	const struct cfs_op *op = &e->op;
	struct store_inode dir, old, nbuf, *n = &nbuf;
	uint64_t ino, cookie;
	int rc;

	rc = store_dir_get(tx, op->ino, &dir);
	if (rc != 0)
		return rc;
	if ((rc = store_name_check(op->name, op->namelen)) != 0)
		return rc;
	rc = store_dirent_get(tx, op->ino, op->name, op->namelen, &ino, &cookie);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		if (op->type != CFS_OP_CREATE || (op->flags & CFS_CREATE_EXCL))
			return EEXIST;
		rc = store_inode_get_linked(tx, ino, &old);
		if (rc != 0)
			return rc;
		if (S_ISDIR(old.a.mode))
			return EISDIR;
		if (!S_ISREG(old.a.mode))
			return EEXIST;
		if ((op->flags & CFS_CREATE_TRUNC) && (rc = store_fl_deny(&old.a, 1)) != 0)
			return rc;
		if (op->flags & CFS_CREATE_TRUNC) {
			/*
			 * O_CREAT|O_TRUNC found a file that another client made after
			 * the caller's kernel saw none.  That kernel takes the file as
			 * new and will not truncate it: do it here, as open() would
			 * have, if the caller may write the file.
			 */
			if (!store_may_write(&old.a, op->uid, op->gid))
				return EACCES;
			rc = store_set_size(tx, &old, 0);
			if (rc == 0)
				rc = store_inode_put(tx, &old);
			if (rc != 0)
				return rc;
		}
		tx->res->attr = old.a;
		tx->res->flags |= CFS_REPLY_ATTR;
		return 0;
	}
	if ((rc = store_fl_deny(&dir.a, 0)) != 0)
		return rc;
	rc = store_fresh_inode(tx, n, mode);
	if (rc != 0)
		return rc;
	/* A set-gid directory gives its group, and to directories its set-gid bit. */
	if (dir.a.mode & S_ISGID) {
		n->a.gid = dir.a.gid;
		if (S_ISDIR(mode))
			n->a.mode |= S_ISGID;
	}
	n->a.rdev = rdev;
	if (S_ISDIR(mode)) {
		n->a.size = STORE_DIR_SIZE;
		n->parent = op->ino;
		n->next_cookie = STORE_FIRST_COOKIE;
		dir.a.nlink++;
	} else if (S_ISLNK(mode)) {
		n->a.size = linklen;
		n->linklen = linklen;
		memcpy(n->link, link, linklen);
	}
	rc = store_acl_new_inode(tx, &dir, n);
	if (rc == 0)
		rc = store_inode_put(tx, n);
	if (rc == 0)
		rc = store_dirent_add(tx, &dir, op->name, op->namelen, n->a.ino);
	if (rc != 0)
		return rc;
	store_dir_changed(tx, &dir);
	rc = store_inode_put(tx, &dir);
	if (rc != 0)
		return rc;
	tx->res->attr = n->a;
	tx->res->flags |= CFS_REPLY_ATTR;
	return 0;
}

/*
 * CREATE: a regular file, or the existing one without CFS_CREATE_EXCL;
 * with CFS_CREATE_OPENREF the caller's session holds it open (OPENREF).
 */
static int
store_op_create(struct store_tx *tx)
{
	const struct cfs_entry *e = tx->e;
	int rc;

	if ((e->op.flags & CFS_CREATE_OPENREF) && e->client_id == 0)
		return EINVAL;
	rc = store_new_inode(tx, S_IFREG | (e->op.mode & 07777), 0, NULL, 0);
	if (rc == 0 && (e->op.flags & CFS_CREATE_OPENREF))
		rc = store_opens_add(tx, e->client_id, tx->res->attr.ino);
	return rc;
}

/* MKNOD: a regular file, FIFO, socket or device node. */
static int
store_op_mknod(struct store_tx *tx)
{
	const struct cfs_op *op = &tx->e->op;
	uint32_t type = op->mode & S_IFMT;
	uint64_t rdev = 0;

	switch (type) {
	case 0:
		type = S_IFREG;
		break;
	case S_IFREG:
	case S_IFIFO:
	case S_IFSOCK:
		break;
	case S_IFCHR:
	case S_IFBLK:
		rdev = op->rdev;
		break;
	default:
		return EINVAL;
	}
	return store_new_inode(tx, type | (op->mode & 07777), rdev, NULL, 0);
}

/* MKDIR: a directory with "." and "..". */
static int
store_op_mkdir(struct store_tx *tx)
{
	return store_new_inode(tx, S_IFDIR | (tx->e->op.mode & 07777), 0, NULL, 0);
}

/* SYMLINK: target in the op's data. */
static int
store_op_symlink(struct store_tx *tx)
{
	const struct cfs_op *op = &tx->e->op;

	if (op->datalen == 0)
		return ENOENT;
	if (op->datalen >= CFS_PATH_MAX)
		return ENAMETOOLONG;
	if (memchr(op->data, '\0', op->datalen) != NULL)
		return EINVAL;
	return store_new_inode(tx, S_IFLNK | 0777, 0, op->data, op->datalen);
}

/* LINK: a new name ino2/name for inode ino. */
static int
store_op_link(struct store_tx *tx)
{
	const struct cfs_op *op = &tx->e->op;
	struct store_inode n, dir;
	uint64_t ino, cookie;
	int rc;

	rc = store_inode_get(tx, op->ino, &n);
	if (rc == 0)
		rc = store_dir_get(tx, op->ino2, &dir);
	if (rc != 0)
		return rc;
	if ((rc = store_name_check(op->name, op->namelen)) != 0)
		return rc;
	rc = store_dirent_get(tx, op->ino2, op->name, op->namelen, &ino, &cookie);
	if (rc <= 0)
		return rc == 0 ? EEXIST : rc;
	if (S_ISDIR(n.a.mode))
		return EPERM;
	if ((rc = store_fl_deny(&n.a, 1)) != 0 || (rc = store_fl_deny(&dir.a, 0)) != 0)
		return rc;
	if (n.a.nlink == 0)
		return ENOENT; /* open, with no name left: linkat(2) refuses it too */
	if (n.a.nlink >= STORE_LINK_MAX)
		return EMLINK;
	n.a.nlink++;
	store_touch(tx, &n.a, 0, 0);
	rc = store_dirent_add(tx, &dir, op->name, op->namelen, n.a.ino);
	if (rc == 0)
		rc = store_inode_put(tx, &n);
	if (rc != 0)
		return rc;
	store_dir_changed(tx, &dir);
	rc = store_inode_put(tx, &dir);
	if (rc != 0)
		return rc;
	tx->res->attr = n.a;
	tx->res->flags |= CFS_REPLY_ATTR;
	return 0;
}

/* UNLINK and RMDIR: removes a name; isdir says which. */
static int
store_op_remove(struct store_tx *tx, int isdir)
{
	const struct cfs_op *op = &tx->e->op;
	struct store_inode dir, n;
	uint64_t ino, cookie;
	int rc;

	if ((rc = store_opens_drop(tx)) != 0)
		return rc;
	rc = store_dir_get(tx, op->ino, &dir);
	if (rc != 0)
		return rc;
	if ((rc = store_name_check(op->name, op->namelen)) != 0)
		return rc;
	rc = store_dirent_get(tx, op->ino, op->name, op->namelen, &ino, &cookie);
	if (rc == 0)
		rc = store_inode_get_linked(tx, ino, &n);
	if (rc != 0)
		return rc;
	if (!isdir && S_ISDIR(n.a.mode))
		return EISDIR;
	if (isdir && !S_ISDIR(n.a.mode))
		return ENOTDIR;
	if ((rc = store_fl_deny(&dir.a, 1)) != 0 || (rc = store_fl_deny(&n.a, 1)) != 0)
		return rc;
	if (isdir && n.nentries > 0)
		return ENOTEMPTY;
	rc = store_dirent_del(tx, &dir, op->name, op->namelen, cookie);
	if (rc != 0)
		return rc;
	if (isdir) {
		dir.a.nlink--;
		store_touch(tx, &n.a, 0, 0);
		rc = store_inode_orphan(tx, &n);
	} else {
		rc = store_inode_unlink(tx, &n);
	}
	if (rc != 0)
		return rc;
	store_dir_changed(tx, &dir);
	return store_inode_put(tx, &dir);
}

/*
 * RENAME: flags 0, RENAME_NOREPLACE, RENAME_EXCHANGE, or RENAME_WHITEOUT
 * (with or without NOREPLACE), which leaves at the source name a whiteout,
 * a new character device 0/0 owned by the caller (and, in a set-gid
 * directory, the directory's group), as ext4 does; overlayfs uses it, and
 * since Linux 5.8 any user may ask.
 */
static int
store_op_rename(struct store_tx *tx)
{
	const struct cfs_op *op = &tx->e->op;
	struct store_inode d1, d2buf, src, tgt, *d2 = &d2buf;
	uint64_t sino, scookie, tino = 0, tcookie = 0;
	struct store_inode wh;
	int rc, exists, exchange = (op->flags & RENAME_EXCHANGE) != 0;
	int whiteout = (op->flags & RENAME_WHITEOUT) != 0;

	if ((op->flags & ~(uint32_t)(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT |
	                             CFS_REMOVE_DROPREF)) != 0 ||
	    ((op->flags & (RENAME_NOREPLACE | RENAME_WHITEOUT)) && exchange))
		return EINVAL;
	if ((rc = store_opens_drop(tx)) != 0)
		return rc;
	rc = store_dir_get(tx, op->ino, &d1);
	if (rc != 0)
		return rc;
	if (op->ino2 == op->ino)
		d2 = &d1;
	else if ((rc = store_dir_get(tx, op->ino2, d2)) != 0)
		return rc;
	if ((rc = store_name_check(op->name, op->namelen)) != 0 ||
	    (rc = store_name_check(op->name2, op->name2len)) != 0)
		return rc;
	rc = store_dirent_get(tx, op->ino, op->name, op->namelen, &sino, &scookie);
	if (rc != 0)
		return rc;
	rc = store_dirent_get(tx, op->ino2, op->name2, op->name2len, &tino, &tcookie);
	if (rc < 0)
		return rc;
	exists = rc == 0;
	if (exists && (op->flags & RENAME_NOREPLACE))
		return EEXIST;
	if (!exists && exchange)
		return ENOENT;
	if (exists && tino == sino)
		return 0;
	rc = store_inode_get_linked(tx, sino, &src);
	if (rc == 0 && exists)
		rc = store_inode_get_linked(tx, tino, &tgt);
	if (rc != 0)
		return rc;
	/* A name leaves d1; one comes into d2, replacing (or exchanging) one there. */
	if ((rc = store_fl_deny(&d1.a, 1)) != 0 || (rc = store_fl_deny(&d2->a, exists)) != 0 ||
	    (rc = store_fl_deny(&src.a, 1)) != 0 || (exists && (rc = store_fl_deny(&tgt.a, 1)) != 0))
		return rc;
	if (S_ISDIR(src.a.mode) && op->ino2 != op->ino) {
		rc = store_is_ancestor(tx, sino, op->ino2);
		if (rc != 0)
			return rc > 0 ? EINVAL : rc;
	}
	if (exists && S_ISDIR(tgt.a.mode) && op->ino2 != op->ino) {
		rc = store_is_ancestor(tx, tino, op->ino);
		if (rc != 0)
			return rc > 0 ? (exchange ? EINVAL : ENOTEMPTY) : rc;
	}
	if (exists && !exchange) {
		if (S_ISDIR(src.a.mode) && !S_ISDIR(tgt.a.mode))
			return ENOTDIR;
		if (!S_ISDIR(src.a.mode) && S_ISDIR(tgt.a.mode))
			return EISDIR;
		if (S_ISDIR(tgt.a.mode) && tgt.nentries > 0)
			return ENOTEMPTY;
	}

	if (exchange) {
		rc = store_dirent_set(tx, op->ino, op->name, op->namelen, tino, scookie);
		if (rc == 0)
			rc = store_dirent_set(tx, op->ino2, op->name2, op->name2len, sino, tcookie);
		if (rc != 0)
			return rc;
		if (op->ino != op->ino2 && S_ISDIR(tgt.a.mode)) {
			tgt.parent = op->ino;
			d2->a.nlink--;
			d1.a.nlink++;
		}
		store_touch(tx, &tgt.a, 0, 0);
		rc = store_inode_put(tx, &tgt);
	} else {
		if (exists) {
			rc = store_dirent_del(tx, d2, op->name2, op->name2len, tcookie);
			if (rc == 0 && S_ISDIR(tgt.a.mode)) {
				d2->a.nlink--;
				store_touch(tx, &tgt.a, 0, 0);
				rc = store_inode_orphan(tx, &tgt);
			} else if (rc == 0) {
				rc = store_inode_unlink(tx, &tgt);
			}
		}
		if (rc == 0 && whiteout) {
			/* The source name stays, leading to the whiteout. */
			rc = store_fresh_inode(tx, &wh, S_IFCHR);
			wh.a.uid = op->caller_uid;
			wh.a.gid = d1.a.mode & S_ISGID ? d1.a.gid : op->caller_gid;
			if (rc == 0)
				rc = store_inode_put(tx, &wh);
			if (rc == 0)
				rc = store_dirent_set(tx, op->ino, op->name, op->namelen, wh.a.ino, scookie);
		} else if (rc == 0) {
			rc = store_dirent_del(tx, &d1, op->name, op->namelen, scookie);
		}
		if (rc == 0)
			rc = store_dirent_add(tx, d2, op->name2, op->name2len, sino);
	}
	if (rc != 0)
		return rc;
	if (op->ino != op->ino2 && S_ISDIR(src.a.mode)) {
		src.parent = op->ino2;
		d1.a.nlink--;
		d2->a.nlink++;
	}
	store_touch(tx, &src.a, 0, 0);
	rc = store_inode_put(tx, &src);
	if (rc != 0)
		return rc;
	store_dir_changed(tx, &d1);
	rc = store_inode_put(tx, &d1);
	if (rc == 0 && d2 != &d1) {
		store_dir_changed(tx, d2);
		rc = store_inode_put(tx, d2);
	}
	if (rc == 0) {
		/* The inode that moved, as it is now: the writer may keep it (leases). */
		tx->res->attr = src.a;
		tx->res->flags |= CFS_REPLY_ATTR;
	}
	return rc;
}

/* Clears set-uid, and set-gid when group-executable, as after a write by another user. */
static void
store_kill_suid(struct cfs_attr *a)
{
	a->mode &= ~(uint32_t)S_ISUID;
	if (a->mode & S_IXGRP)
		a->mode &= ~(uint32_t)S_ISGID;
}

/* Sets the size of a regular file, dropping data past it. */
static int
store_set_size(struct store_tx *tx, struct store_inode *n, uint64_t size)
{
	int rc = 0;

	if (size == n->a.size)
		return 0;
	if (size < n->a.size)
		rc = store_blocks_trunc(tx, n, size);
	if (rc != 0)
		return rc;
	n->a.size = size;
	n->a.version = tx->e->sn;
	store_touch(tx, &n->a, 0, 1);
	return 0;
}

/* SETATTR: the fields op->valid names; ctime always. */
static int
store_op_setattr(struct store_tx *tx)
{
	const struct cfs_op *op = &tx->e->op;
	struct store_inode n;
	uint32_t valid = op->valid;
	int rc;

	rc = store_inode_get(tx, op->ino, &n);
	if (rc != 0)
		return rc;
	/* chattr -i and -a must work: a change of the flags alone is not refused. */
	if ((valid & ~(uint32_t)(CFS_SET_FLAGS | CFS_SET_CTIME)) != 0 &&
	    (rc = store_fl_deny(&n.a, (valid & (CFS_SET_MODE | CFS_SET_UID | CFS_SET_GID |
	                                        CFS_SET_SIZE)) ||
	                                   ((valid & CFS_SET_ATIME) && !(valid & CFS_SET_ATIME_NOW)) ||
	                                   ((valid & CFS_SET_MTIME) && !(valid & CFS_SET_MTIME_NOW)))) != 0)
		return rc;
	if ((valid & CFS_SET_FLAGS) && (op->rdev & ~(uint64_t)CFS_FL_KEPT) != 0)
		return EOPNOTSUPP;
	/*
	 * Who may change the flags, checked here for every caller (as
	 * fileattr_set_prepare and ext4 do), not only squashed ones: an old
	 * kernel's FUSE passes FS_IOC_SETFLAGS on without its own checks.  The
	 * owner or root; immutable and append-only by root only; and while the
	 * file stays immutable, no other flag changes.  The old flags are the
	 * chain's, so a chattr racing another host's chattr +i is refused.
	 */
	if ((valid & CFS_SET_FLAGS) &&
	    ((op->caller_uid != 0 && op->caller_uid != n.a.uid) ||
	     (op->caller_uid != 0 && ((op->rdev ^ n.a.flags) & (CFS_FL_IMMUTABLE | CFS_FL_APPEND))) ||
	     ((n.a.flags & op->rdev & CFS_FL_IMMUTABLE) && op->rdev != n.a.flags)))
		return EPERM;
	if (valid & CFS_SET_SIZE) {
		if (S_ISDIR(n.a.mode))
			return EISDIR;
		if (!S_ISREG(n.a.mode))
			return EINVAL;
		if (op->offset > STORE_MAX_FILE_SIZE)
			return EFBIG;
	}
	if (((valid & CFS_SET_ATIME) && !(valid & CFS_SET_ATIME_NOW) &&
	     op->atime_nsec >= 1000000000u) ||
	    ((valid & CFS_SET_MTIME) && !(valid & CFS_SET_MTIME_NOW) &&
	     op->mtime_nsec >= 1000000000u))
		return EINVAL;
	if ((valid & CFS_SET_MODE)) {
		n.a.mode = (n.a.mode & S_IFMT) | (op->mode & 07777);
		if ((rc = store_acl_follow_mode(tx, &n)) != 0)
			return rc;
	}
	if (valid & CFS_SET_UID)
		n.a.uid = op->uid;
	if (valid & CFS_SET_GID)
		n.a.gid = op->gid;
	if (valid & CFS_SET_FLAGS)
		n.a.flags = (uint32_t)op->rdev;
	if (valid & CFS_SET_KILL_SUID)
		store_kill_suid(&n.a);
	if ((valid & CFS_SET_SIZE) && (rc = store_set_size(tx, &n, op->offset)) != 0)
		return rc;
	if (valid & CFS_SET_ATIME_NOW) {
		store_touch(tx, &n.a, 1, 0);
	} else if (valid & CFS_SET_ATIME) {
		n.a.atime_sec = op->atime_sec;
		n.a.atime_nsec = op->atime_nsec;
	}
	if (valid & CFS_SET_MTIME_NOW) {
		store_touch(tx, &n.a, 0, 1);
	} else if (valid & CFS_SET_MTIME) {
		n.a.mtime_sec = op->mtime_sec;
		n.a.mtime_nsec = op->mtime_nsec;
	}
	store_touch(tx, &n.a, 0, 0);
	rc = store_inode_put(tx, &n);
	if (rc != 0)
		return rc;
	tx->res->attr = n.a;
	tx->res->flags |= CFS_REPLY_ATTR;
	return 0;
}

/* WRITE: op->data at op->offset. */
static int
store_op_write(struct store_tx *tx)
{
	const struct cfs_op *op = &tx->e->op;
	struct store_inode n;
	uint64_t off;
	int rc;

	rc = store_inode_get(tx, op->ino, &n);
	if (rc != 0)
		return rc;
	if (S_ISDIR(n.a.mode))
		return EISDIR;
	if (!S_ISREG(n.a.mode))
		return EINVAL;
	if ((rc = store_fl_deny(&n.a, !(op->flags & CFS_WRITE_APPEND))) != 0)
		return rc;
	/*
	 * O_APPEND: the end of the file as this entry finds it, not as the
	 * writer's kernel last saw it (another host may have appended since);
	 * a pure function of the state, so every replica writes at the same place.
	 */
	off = op->flags & CFS_WRITE_APPEND ? n.a.size : op->offset;
	if (op->datalen > 0) {
		if (off > STORE_MAX_FILE_SIZE - op->datalen)
			return EFBIG;
		rc = store_blocks_write(tx, &n, off, op->data, op->datalen);
		if (rc != 0)
			return rc;
		if (off + op->datalen > n.a.size)
			n.a.size = off + op->datalen;
		n.a.version = tx->e->sn;
		store_touch(tx, &n.a, 0, 1);
		if (op->valid & CFS_SET_KILL_SUID)
			store_kill_suid(&n.a);
		rc = store_inode_put(tx, &n);
		if (rc != 0)
			return rc;
	}
	tx->res->value = op->datalen;
	tx->res->attr = n.a;
	tx->res->flags |= CFS_REPLY_ATTR;
	return 0;
}

/*
 * FALLOCATE: mode 0, FALLOC_FL_KEEP_SIZE, a punched hole, or a zeroed range
 * (with or without KEEP_SIZE) — all the modes the kernel's FUSE code passes
 * on.  Holes read as zeros, so zeroing a range is punching it (the part
 * inside the file) and, without KEEP_SIZE, extending the file to its end.
 */
static int
store_op_fallocate(struct store_tx *tx)
{
	const struct cfs_op *op = &tx->e->op;
	struct store_inode n;
	uint64_t end;
	int rc;

	rc = store_inode_get(tx, op->ino, &n);
	if (rc != 0)
		return rc;
	if (op->length == 0 || op->offset > (uint64_t)INT64_MAX || op->length > (uint64_t)INT64_MAX)
		return EINVAL;
	if (S_ISDIR(n.a.mode))
		return EISDIR;
	if (!S_ISREG(n.a.mode))
		return ENODEV;
	if (op->offset > STORE_MAX_FILE_SIZE - op->length)
		return EFBIG;
	/* Append-only: space may be added, nothing zeroed or punched. */
	if ((rc = store_fl_deny(&n.a, (op->flags & ~(uint32_t)FALLOC_FL_KEEP_SIZE) != 0)) != 0)
		return rc;
	end = op->offset + op->length;
	switch (op->flags) {
	case 0:
		if (end > n.a.size) {
			n.a.size = end;
			n.a.version = tx->e->sn;
			store_touch(tx, &n.a, 0, 1);
		}
		break;
	case FALLOC_FL_KEEP_SIZE:
		break;
	case FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE:
	case FALLOC_FL_ZERO_RANGE:
	case FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE:
		rc = store_blocks_punch(tx, &n, op->offset, end < n.a.size ? end : n.a.size);
		if (rc != 0)
			return rc;
		if (op->flags == FALLOC_FL_ZERO_RANGE && end > n.a.size)
			n.a.size = end;
		n.a.version = tx->e->sn;
		store_touch(tx, &n.a, 0, 1);
		break;
	default:
		return EOPNOTSUPP;
	}
	/* Set only by store_perm_write, for an anonymous caller. */
	if (op->valid & CFS_SET_KILL_SUID)
		store_kill_suid(&n.a);
	store_touch(tx, &n.a, 0, 0);
	rc = store_inode_put(tx, &n);
	if (rc != 0)
		return rc;
	tx->res->attr = n.a;
	tx->res->flags |= CFS_REPLY_ATTR;
	return 0;
}

/* 1: op names system.posix_acl_access; 2: system.posix_acl_default; 0: neither. */
static int
store_acl_kind(const struct cfs_op *op)
{
	if (op->namelen == sizeof(STORE_ACL_ACCESS) - 1 &&
	    memcmp(op->name, STORE_ACL_ACCESS, op->namelen) == 0)
		return 1;
	if (op->namelen == sizeof(STORE_ACL_DEFAULT) - 1 &&
	    memcmp(op->name, STORE_ACL_DEFAULT, op->namelen) == 0)
		return 2;
	return 0;
}

/*
 * SETXATTR of an ACL: checked and kept in one form.  An access ACL sets the
 * mode's permission bits (the group's from the mask), is not kept when the
 * mode says it all, and clears set-gid when the client says the caller is
 * outside the file's group (CFS_SET_KILL_SGID); the kernel leaves all that
 * to the filesystem.  A default ACL is for directories only.  No entries:
 * the ACL goes.
 */
static int
store_op_acl(struct store_tx *tx, struct store_inode *n, int kind)
{
	const struct cfs_op *op = &tx->e->op;
	const char *name = kind == 1 ? STORE_ACL_ACCESS : STORE_ACL_DEFAULT;
	struct store_acl a;
	uint32_t perms;
	int rc = store_acl_decode(op->data, op->datalen, &a);

	if (rc != 0)
		return rc;
	if (kind == 2 && !S_ISDIR(n->a.mode))
		return a.n == 0 ? 0 : EACCES;
	if (a.n == 0)
		return store_xattr_store(tx, n, name, NULL, 0);
	if (kind == 2)
		return store_acl_save(tx, n, name, &a);
	rc = store_acl_mode(&a, &perms);
	n->a.mode = (n->a.mode & ~0777u) | perms;
	if (op->valid & CFS_SET_KILL_SGID)
		n->a.mode &= ~(uint32_t)S_ISGID;
	return rc ? store_acl_save(tx, n, name, &a) : store_xattr_store(tx, n, name, NULL, 0);
}

/* SETXATTR and REMOVEXATTR; remove says which. */
static int
store_op_xattr(struct store_tx *tx, int remove)
{
	const struct cfs_op *op = &tx->e->op;
	MDB_dbi dbi = tx->s->dbi[STORE_DB_XATTRS];
	uint8_t k[8 + CFS_NAME_MAX];
	struct store_inode n;
	size_t klen;
	MDB_val v;
	int rc, exists, acl;

	rc = store_inode_get(tx, op->ino, &n);
	if (rc != 0)
		return rc;
	if ((rc = store_xattr_name(op)) != 0 || (rc = store_fl_deny(&n.a, 1)) != 0)
		return rc;
	if (!remove && op->datalen > CFS_XATTR_SIZE_MAX)
		return E2BIG;
	if (!remove && (op->flags & ~(uint32_t)(STORE_XATTR_CREATE | STORE_XATTR_REPLACE)) != 0)
		return EINVAL;
	klen = store_key_name(k, op->ino, op->name, op->namelen);
	rc = store_db_get(tx->txn, dbi, k, klen, &v);
	if (rc < 0)
		return rc;
	exists = rc == 0;
	if (!remove && (acl = store_acl_kind(op)) != 0) {
		if (exists && (op->flags & STORE_XATTR_CREATE))
			return EEXIST;
		if (!exists && (op->flags & STORE_XATTR_REPLACE))
			return ENODATA;
		rc = store_op_acl(tx, &n, acl);
		if (rc != 0)
			return rc;
		store_touch(tx, &n.a, 0, 0);
		rc = store_inode_put(tx, &n);
		if (rc != 0)
			return rc;
		tx->res->attr = n.a;
		tx->res->flags |= CFS_REPLY_ATTR;
		return 0;
	}
	if (remove) {
		if (!exists)
			return ENODATA;
		rc = store_db_del(tx->txn, dbi, k, klen);
		if (rc != 0)
			return rc > 0 ? -EIO : rc;
		n.nxattrs--;
	} else {
		if (exists && (op->flags & STORE_XATTR_CREATE))
			return EEXIST;
		if (!exists && (op->flags & STORE_XATTR_REPLACE))
			return ENODATA;
		rc = store_db_put(tx->txn, dbi, k, klen, op->data, op->datalen);
		if (rc != 0)
			return rc;
		n.nxattrs += !exists;
	}
	store_touch(tx, &n.a, 0, 0);
	return store_inode_put(tx, &n);
}

/* Performs the update e->op; the status goes in the return value. */
static int
store_apply_op(struct store_tx *tx)
{
	switch (tx->e->op.type) {
	case CFS_OP_CREATE:
		return store_op_create(tx);
	case CFS_OP_MKNOD:
		return store_op_mknod(tx);
	case CFS_OP_MKDIR:
		return store_op_mkdir(tx);
	case CFS_OP_SYMLINK:
		return store_op_symlink(tx);
	case CFS_OP_LINK:
		return store_op_link(tx);
	case CFS_OP_UNLINK:
		return store_op_remove(tx, 0);
	case CFS_OP_RMDIR:
		return store_op_remove(tx, 1);
	case CFS_OP_RENAME:
		return store_op_rename(tx);
	case CFS_OP_SETATTR:
		return store_op_setattr(tx);
	case CFS_OP_WRITE:
		return store_op_write(tx);
	case CFS_OP_SETXATTR:
		return store_op_xattr(tx, 0);
	case CFS_OP_REMOVEXATTR:
		return store_op_xattr(tx, 1);
	case CFS_OP_FALLOCATE:
		return store_op_fallocate(tx);
	case CFS_OP_FSYNC:
		/* A barrier: the caller syncs; nothing to change, even for a freed inode. */
		return 0;
	case CFS_OP_EXPIRE_SESSIONS:
		/* The head's own entry (client 0); a client's was refused before the chain. */
		if (tx->e->client_id != 0)
			return EPERM;
		return store_sessions_expire(tx, (int64_t)tx->e->op.offset);
	case CFS_OP_SETLK:
		return store_op_setlk(tx);
	case CFS_OP_UNLOCK:
		return store_op_unlock(tx);
	case CFS_OP_LKCANCEL:
		return store_op_lkcancel(tx);
	case CFS_OP_LKEXPIRE:
		return store_op_lkexpire(tx);
	case CFS_OP_OPENREF:
		return store_op_openref(tx);
	case CFS_OP_CLOSEREF:
		return store_op_closeref(tx);
	}
	return EINVAL; /* not reached: store_apply checks the type first */
}

/*
 * Performs the update of an entry with CFS_OP_CHECK_PERM: its anonymous
 * caller's permissions are checked first (store_perm.c), and the handlers
 * see a copy of the entry without the bit (some refuse flags they do not
 * know) and with what the check adjusted.  The entry itself keeps the bit,
 * so that it is logged and passed on with it and every replica checks too.
 */
static int
store_apply_checked(struct store_tx *tx)
{
	const struct cfs_entry *e = tx->e;
	struct cfs_entry copy = *e;
	int st;

	copy.op.flags &= ~CFS_OP_CHECK_PERM;
	st = store_perm_update(tx, &copy.op);
	if (st != 0)
		return st;
	tx->e = &copy;
	st = store_apply_op(tx);
	tx->e = e;
	return st;
}

/* Writes the result table, next_ino, applied_sn and the log for an applied entry. */
static int
store_apply_finish(struct store_tx *tx, struct cfs_entry *e, unsigned flags, struct cfs_wbuf *body,
                   size_t blen)
{
	struct store *s = tx->s;
	uint8_t k[16], rec[STORE_RESULT_SIZE];
	int rc;

	if (e->client_id != 0 && e->kind == CFS_ENTRY_UPDATE) {
		store_key2(k, e->client_id, e->seq);
		store_result_enc(rec, tx->res);
		rc =
		    store_db_put(tx->txn, s->dbi[STORE_DB_RESULTS], k, sizeof(k), rec, sizeof(rec));
		if (rc != 0)
			return rc;
	}
	if (e->client_id != 0 &&
	    (rc = store_results_trim(tx, e->client_id, e->acked_below, e->time_sec)) != 0)
		return rc;
	if (tx->ino_used && e->new_ino >= s->next_ino &&
	    (rc = store_meta_put(tx->txn, s, "next_ino", e->new_ino + 1)) != 0)
		return rc;
	if ((rc = store_meta_put(tx->txn, s, "applied_sn", e->sn)) != 0)
		return rc;
	if (flags & STORE_DECIDE)
		e->result = tx->res->status;
	if (flags & STORE_LOG) {
		store_put_be(k, e->sn, 8);
		cfs_entry_encode(body, e);
		rc = store_db_put(tx->txn, s->dbi[STORE_DB_LOG], k, 8, body->p + blen,
		                  body->len - blen);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/*
 * After a namespace update: the directories it changed as it left them, for
 * the tail to lease to the writer with its reply (wire.h).  0, or a negative
 * errno for a bad record.
 */
static int
store_reply_dirs(struct store_tx *tx)
{
	const struct cfs_op *op = &tx->e->op;
	uint64_t dirs[CFS_REPLY_DIRS_MAX] = {0, 0};
	struct store_inode n;
	int rc;

	switch (op->type) {
	case CFS_OP_CREATE:
	case CFS_OP_MKNOD:
	case CFS_OP_MKDIR:
	case CFS_OP_SYMLINK:
	case CFS_OP_UNLINK:
	case CFS_OP_RMDIR:
		dirs[0] = op->ino;
		break;
	case CFS_OP_LINK:
		dirs[0] = op->ino2;
		break;
	case CFS_OP_RENAME:
		dirs[0] = op->ino;
		if (op->ino2 != op->ino)
			dirs[1] = op->ino2;
		break;
	default:
		return 0;
	}
	tx->res->ndirs = 0;
	for (int i = 0; i < CFS_REPLY_DIRS_MAX && dirs[i] != 0; i++) {
		rc = store_inode_get(tx, dirs[i], &n);
		if (rc == ENOENT)
			continue; /* not reached: a directory an update changed is there */
		if (rc != 0)
			return rc < 0 ? rc : -EIO;
		tx->res->dirs[tx->res->ndirs++] = n.a;
	}
	return 0;
}

/* Applies one entry in one write transaction; see store.h. */
int
store_apply(struct store *s, struct cfs_entry *e, unsigned flags, struct cfs_wbuf *body,
            struct cfs_reply *res)
{
	struct store_tx tx = {.s = s, .e = e, .res = res};
	size_t blen = body != NULL ? body->len : 0;
	int32_t result = e->result;
	MDB_txn *child, *parent;
	MDB_val v;
	struct cfs_entry plain;
	uint8_t k[16];
	int rc, st;

	memset(res, 0, sizeof(*res));
	s->ngrants = 0;
	if (e->sn != s->applied_sn + 1) {
		log_debug("%s: entry %llu while at %llu", __func__, (unsigned long long)e->sn,
		          (unsigned long long)s->applied_sn);
		return -EINVAL;
	}
	if ((e->kind != CFS_ENTRY_UPDATE && e->kind != CFS_ENTRY_REPLY_ONLY) ||
	    ((flags & STORE_LOG) && body == NULL)) {
		log_warnx("%s: entry %llu: kind %u, flags %#x", __func__, (unsigned long long)e->sn,
		          e->kind, flags);
		return -EINVAL;
	}
	/* In a batch the entry is a child transaction, committed with the batch. */
	rc = mdb_txn_begin(s->env, s->batch, 0, &tx.txn);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_txn_begin", rc);
	if (e->kind == CFS_ENTRY_UPDATE && !cfs_op_is_update(e->op.type)) {
		/* A read op in an update entry: no effect, the same status everywhere. */
		res->status = CFS_ERR_PROTOCOL;
	} else if (e->kind == CFS_ENTRY_UPDATE) {
		rc = mdb_txn_begin(s->env, tx.txn, 0, &child);
		if (rc != 0) {
			rc = store_mdb_fail(__func__, "mdb_txn_begin (child)", rc);
			goto fail;
		}
		parent = tx.txn;
		tx.txn = child;
		if (e->op.flags & CFS_OP_RECALL_WRITER) {
			/* The tail's business only: the op itself is applied without it. */
			plain = *e;
			plain.op.flags &= ~CFS_OP_RECALL_WRITER;
			tx.e = &plain;
		}
		if (e->op.flags & CFS_OP_CHECK_PERM)
			st = store_apply_checked(&tx);
		else
			st = store_apply_op(&tx);
		tx.e = e;
		tx.txn = parent;
		if (st != 0) {
			mdb_txn_abort(child);
			memset(res, 0, sizeof(*res));
			tx.ino_used = 0;
			s->ngrants = 0; /* what the op decided is undone */
			if (st < 0) {
				rc = st;
				goto fail;
			}
		} else if ((rc = mdb_txn_commit(child)) != 0) {
			rc = store_mdb_fail(__func__, "mdb_txn_commit (child)", rc);
			goto fail;
		} else if ((rc = store_reply_dirs(&tx)) != 0) {
			goto fail;
		}
		res->status = st;
	} else {
		store_key2(k, e->client_id, e->seq);
		rc = e->client_id == 0
		         ? ENOENT
		         : store_db_get(tx.txn, s->dbi[STORE_DB_RESULTS], k, sizeof(k), &v);
		if (rc == 0)
			rc = store_result_dec(&v, res);
		else if (rc == ENOENT)
			res->status = CFS_ERR_PROTOCOL;
		if (rc < 0)
			goto fail;
	}
	rc = store_apply_finish(&tx, e, flags, body, blen);
	if (rc != 0)
		goto fail;
	rc = mdb_txn_commit(tx.txn);
	tx.txn = NULL;
	if (rc != 0) {
		rc = store_mdb_fail(__func__, "mdb_txn_commit", rc);
		goto fail;
	}
	s->applied_sn = e->sn;
	if (tx.ino_used && e->new_ino >= s->next_ino)
		s->next_ino = e->new_ino + 1;
	return 0;
fail:
	if (tx.txn != NULL)
		mdb_txn_abort(tx.txn);
	if (body != NULL)
		body->len = blen;
	e->result = result;
	memset(res, 0, sizeof(*res));
	s->ngrants = 0;
	return rc;
}
