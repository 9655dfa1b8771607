/*
 * Permission checks for an anonymous caller: an op with CFS_OP_CHECK_PERM
 * comes from a caller that a node squashed to an export's anonymous user,
 * whose kernel checked the request as someone else (root, mostly).  So the
 * store judges it as Linux would for op->caller_uid and op->caller_gid with
 * no supplementary groups and no capabilities (uid 0 included: it is never
 * privileged here).  Every replica runs the same check on the same state,
 * so the verdict is as deterministic as the op's own result.
 *
 * A check that cannot find an inode or a name allows the op: its handler
 * then fails it as it always did (ENOENT, ENOTDIR, EEXIST, EINVAL...).
 *
 * Linux checks reads and writes of a file when it is opened; the store sees
 * only the later READ, WRITE or truncate.  As knfsd does
 * (NFSD_MAY_OWNER_OVERRIDE), the owner may do those whatever the mode bits:
 * a file created 0444 and written through the descriptor that created it,
 * as cp and git do, must work.
 *
 * Not judged: POSIX ACLs (kept as xattrs, never interpreted), the
 * protected_hardlinks and protected_regular sysctls, and LISTXATTR, which
 * lists every name (Linux hides trusted.* from the unprivileged; the values
 * stay hidden here by GETXATTR).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/wire.h"
#include "store/store.h"
#include "store/store_int.h"


/* Access masks, as the kernel's MAY_*. */
#define STORE_MAY_EXEC 1u
#define STORE_MAY_WRITE 2u
#define STORE_MAY_READ 4u

/* Whether the caller owns a file of these attributes. */
static int
store_perm_owner(const struct cfs_attr *a, const struct cfs_op *op)
{
	return a->uid == op->caller_uid;
}

/* Whether the caller has every access in mask by a's mode bits (generic_permission). */
static int
store_perm_may(const struct cfs_attr *a, const struct cfs_op *op, unsigned mask)
{
	unsigned bits;

	if (a->uid == op->caller_uid)
		bits = a->mode >> 6;
	else if (a->gid == op->caller_gid)
		bits = a->mode >> 3;
	else
		bits = a->mode;
	return (bits & mask) == mask;
}

/* The same for reading or writing a file's data, where the owner always may. */
static int
store_perm_may_data(const struct cfs_attr *a, const struct cfs_op *op, unsigned mask)
{
	return store_perm_owner(a, op) || store_perm_may(a, op, mask);
}

/* The sticky rule: in a sticky directory only the owner of it or of the victim removes. */
static int
store_perm_sticky(const struct cfs_attr *dir, const struct cfs_attr *victim,
                  const struct cfs_op *op)
{
	if (!(dir->mode & S_ISVTX) || store_perm_owner(dir, op) || store_perm_owner(victim, op))
		return 0;
	return EPERM;
}

/* A load that found nothing allows the op (its handler says why); a broken store fails it. */
static int
store_perm_missing(int rc)
{
	return rc < 0 ? rc : 0;
}

/* Loads what name in directory dir names: 0, ENOENT when absent, or a negative errno. */
static int
store_perm_lookup(struct store_tx *tx, uint64_t dir, const char *name, size_t len,
                  struct store_inode *n)
{
	uint64_t ino, cookie;
	int rc;

	rc = store_dirent_get(tx, dir, name, len, &ino, &cookie);
	if (rc == 0)
		rc = store_inode_get(tx, ino, n);
	return rc > 0 ? ENOENT : rc;
}

/*
 * CREATE, MKNOD, MKDIR, SYMLINK and LINK: a new name in dir.  Finding the
 * name needs search permission; an existing one is the handler's (EEXIST,
 * or CREATE opening it: truncating it needs write permission on it); a new
 * one needs write permission on dir as well.
 */
static int
store_perm_create(struct store_tx *tx, struct cfs_op *op, uint64_t parent)
{
	struct store_inode dir, n;
	int rc;

	if ((rc = store_dir_get(tx, parent, &dir)) != 0)
		return store_perm_missing(rc);
	if (!store_perm_may(&dir.a, op, STORE_MAY_EXEC))
		return EACCES;
	if (store_name_check(op->name, op->namelen) != 0)
		return 0;
	if (op->type != CFS_OP_LINK) {
		/* What the caller makes is the caller's, whatever the op says. */
		op->uid = op->caller_uid;
		op->gid = op->caller_gid;
	}
	rc = store_perm_lookup(tx, parent, op->name, op->namelen, &n);
	/* The handler checks this too, but lets uid 0 through. */
	if (rc == 0 && op->type == CFS_OP_CREATE &&
	    (op->flags & (CFS_CREATE_TRUNC | CFS_CREATE_EXCL)) == CFS_CREATE_TRUNC &&
	    S_ISREG(n.a.mode) && !store_perm_may(&n.a, op, STORE_MAY_WRITE))
		return EACCES;
	if (rc != ENOENT)
		return store_perm_missing(rc);
	if (!store_perm_may(&dir.a, op, STORE_MAY_WRITE))
		return EACCES;
	/*
	 * A group-executable set-gid file made in a set-gid directory of a
	 * group the caller is not in would run with that group: Linux drops
	 * the bit (mode_strip_sgid).
	 */
	if ((op->type == CFS_OP_CREATE || op->type == CFS_OP_MKNOD) &&
	    (op->mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP) && (dir.a.mode & S_ISGID) &&
	    dir.a.gid != op->caller_gid)
		op->mode &= ~(uint32_t)S_ISGID;
	return 0;
}

/*
 * May the caller remove or replace name in dir (Linux's may_delete, dir
 * searchable already)?  n is what the name names.
 */
static int
store_perm_delete(const struct store_inode *dir, const struct store_inode *n,
                  const struct cfs_op *op)
{
	if (!store_perm_may(&dir->a, op, STORE_MAY_WRITE))
		return EACCES;
	return store_perm_sticky(&dir->a, &n->a, op);
}

/* UNLINK and RMDIR. */
static int
store_perm_remove(struct store_tx *tx, const struct cfs_op *op)
{
	struct store_inode dir, n;
	int rc;

	if ((rc = store_dir_get(tx, op->ino, &dir)) != 0)
		return store_perm_missing(rc);
	if (!store_perm_may(&dir.a, op, STORE_MAY_EXEC))
		return EACCES;
	if (store_name_check(op->name, op->namelen) != 0)
		return 0;
	if ((rc = store_perm_lookup(tx, op->ino, op->name, op->namelen, &n)) != 0)
		return store_perm_missing(rc);
	return store_perm_delete(&dir, &n, op);
}

/*
 * RENAME, in vfs_rename's order: both directories searched, the source
 * removed from the first, the target made or replaced in the second, and
 * a directory moved to another parent written (its ".." changes).
 */
static int
store_perm_rename(struct store_tx *tx, const struct cfs_op *op)
{
	struct store_inode d1, d2, src, tgt;
	int rc, exists, exchange = (op->flags & RENAME_EXCHANGE) != 0;

	if ((op->flags & ~(uint32_t)(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT |
	                             CFS_REMOVE_DROPREF)) != 0)
		return 0; /* refused by store_op_rename (EINVAL) */
	if ((rc = store_dir_get(tx, op->ino, &d1)) != 0)
		return store_perm_missing(rc);
	if (op->ino2 == op->ino)
		d2 = d1;
	else if ((rc = store_dir_get(tx, op->ino2, &d2)) != 0)
		return store_perm_missing(rc);
	if (!store_perm_may(&d1.a, op, STORE_MAY_EXEC) ||
	    !store_perm_may(&d2.a, op, STORE_MAY_EXEC))
		return EACCES;
	if (store_name_check(op->name, op->namelen) != 0 ||
	    store_name_check(op->name2, op->name2len) != 0)
		return 0;
	if ((rc = store_perm_lookup(tx, op->ino, op->name, op->namelen, &src)) != 0)
		return store_perm_missing(rc);
	rc = store_perm_lookup(tx, op->ino2, op->name2, op->name2len, &tgt);
	if (rc < 0)
		return rc;
	exists = rc == 0;
	/* Renaming a file onto itself does nothing, unchecked as in Linux. */
	if (exists && tgt.a.ino == src.a.ino)
		return 0;
	if ((exists && (op->flags & RENAME_NOREPLACE)) || (!exists && exchange))
		return 0;
	if ((rc = store_perm_delete(&d1, &src, op)) != 0)
		return rc;
	if (exists)
		rc = store_perm_delete(&d2, &tgt, op);
	else if (!store_perm_may(&d2.a, op, STORE_MAY_WRITE))
		rc = EACCES;
	if (rc != 0 || op->ino == op->ino2)
		return rc;
	if (S_ISDIR(src.a.mode) && !store_perm_may(&src.a, op, STORE_MAY_WRITE))
		return EACCES;
	if (exchange && exists && S_ISDIR(tgt.a.mode) &&
	    !store_perm_may(&tgt.a, op, STORE_MAY_WRITE))
		return EACCES;
	return 0;
}

/*
 * SETATTR, as setattr_prepare and its callers judge an unprivileged caller:
 * only the owner changes the mode, the group (to the caller's) and explicit
 * times, nobody gives a file away, truncating and touching need write
 * permission.
 */
static int
store_perm_setattr(struct store_tx *tx, struct cfs_op *op)
{
	uint32_t valid = op->valid, gid;
	struct store_inode n;
	int rc, owner;

	if ((rc = store_inode_get(tx, op->ino, &n)) != 0)
		return store_perm_missing(rc);
	owner = store_perm_owner(&n.a, op);
	gid = n.a.gid;
	if ((valid & CFS_SET_UID) && (!owner || op->uid != n.a.uid))
		return EPERM;
	if (valid & CFS_SET_GID) {
		if (!owner || (op->gid != n.a.gid && op->gid != op->caller_gid))
			return EPERM;
		gid = op->gid;
	}
	if (valid & CFS_SET_MODE) {
		if (!owner)
			return EPERM;
		/* Set-gid for a group the caller is not in is dropped, not refused. */
		if (gid != op->caller_gid)
			op->mode &= ~(uint32_t)S_ISGID;
	}
	if ((valid & CFS_SET_SIZE) && !store_perm_may_data(&n.a, op, STORE_MAY_WRITE))
		return EACCES;
	/* Inode flags: the owner's; immutable and append-only need CAP_LINUX_IMMUTABLE. */
	if ((valid & CFS_SET_FLAGS) &&
	    (!owner || ((op->rdev ^ n.a.flags) & (CFS_FL_IMMUTABLE | CFS_FL_APPEND)) != 0))
		return EPERM;
	/* A _NOW bit wins over its explicit one in store_op_setattr, so here too. */
	if ((((valid & CFS_SET_ATIME) && !(valid & CFS_SET_ATIME_NOW)) ||
	     ((valid & CFS_SET_MTIME) && !(valid & CFS_SET_MTIME_NOW))) &&
	    !owner)
		return EPERM;
	if ((valid & (CFS_SET_ATIME_NOW | CFS_SET_MTIME_NOW)) && !owner &&
	    !store_perm_may(&n.a, op, STORE_MAY_WRITE))
		return EACCES;
	/* Without CAP_FSETID a truncate drops set-uid, as a write does. */
	if (valid & CFS_SET_SIZE)
		op->valid |= CFS_SET_KILL_SUID;
	return 0;
}

/* WRITE and FALLOCATE: writing the file's data. */
static int
store_perm_write(struct store_tx *tx, struct cfs_op *op)
{
	struct store_inode n;
	int rc;

	if ((rc = store_inode_get(tx, op->ino, &n)) != 0)
		return store_perm_missing(rc);
	if (!store_perm_may_data(&n.a, op, STORE_MAY_WRITE))
		return EACCES;
	/* file_remove_privs(): the caller has no CAP_FSETID, whatever its client said. */
	op->valid |= CFS_SET_KILL_SUID;
	return 0;
}

/* Whether the op's xattr name begins with prefix. */
static int
store_perm_prefix(const struct cfs_op *op, const char *prefix)
{
	size_t len = strlen(prefix);

	return op->namelen >= len && memcmp(op->name, prefix, len) == 0;
}

/*
 * An xattr, as xattr_permission and the capability module judge it: mask
 * STORE_MAY_WRITE for SETXATTR and REMOVEXATTR, STORE_MAY_READ for
 * GETXATTR.  trusted.* is hidden and unwritable; security.* and system.*
 * are read by anyone, security.* written by nobody, system.* (the POSIX
 * ACLs) by the owner; user.* belongs to regular files and directories only.
 */
static int
store_perm_xattr(struct store_tx *tx, const struct cfs_op *op, unsigned mask)
{
	int write = (mask & STORE_MAY_WRITE) != 0;
	struct store_inode n;
	int rc;

	if ((rc = store_inode_get(tx, op->ino, &n)) != 0)
		return store_perm_missing(rc);
	if (store_xattr_name(op) != 0)
		return 0;
	if (store_perm_prefix(op, "trusted."))
		return write ? EPERM : ENODATA;
	if (store_perm_prefix(op, "security."))
		return write ? EPERM : 0;
	if (store_perm_prefix(op, "system."))
		return write && !store_perm_owner(&n.a, op) ? EPERM : 0;
	if (store_perm_prefix(op, "user.")) {
		if (!S_ISREG(n.a.mode) && !S_ISDIR(n.a.mode))
			return write ? EPERM : ENODATA;
		if (write && S_ISDIR(n.a.mode) && (n.a.mode & S_ISVTX) &&
		    !store_perm_owner(&n.a, op))
			return EPERM;
	}
	return store_perm_may(&n.a, op, mask) ? 0 : EACCES;
}

/*
 * OPENREF: keeping a file after its last name goes is for those who may
 * read or write it; anyone else could pin other users' removed files.
 */
static int
store_perm_openref(struct store_tx *tx, const struct cfs_op *op)
{
	struct store_inode n;
	int rc;

	if ((rc = store_inode_get(tx, op->ino, &n)) != 0)
		return store_perm_missing(rc);
	if (store_perm_may_data(&n.a, op, STORE_MAY_READ) ||
	    store_perm_may_data(&n.a, op, STORE_MAY_WRITE))
		return 0;
	return EACCES;
}

/* Checks an update for an anonymous caller; see store_int.h. */
int
store_perm_update(struct store_tx *tx, struct cfs_op *op)
{
	switch (op->type) {
	case CFS_OP_MKNOD:
		/* Device nodes need CAP_MKNOD: /dev/mem on a mount without nodev. */
		if (S_ISCHR(op->mode) || S_ISBLK(op->mode))
			return EPERM;
		return store_perm_create(tx, op, op->ino);
	case CFS_OP_CREATE:
	case CFS_OP_MKDIR:
	case CFS_OP_SYMLINK:
		return store_perm_create(tx, op, op->ino);
	case CFS_OP_LINK:
		return store_perm_create(tx, op, op->ino2);
	case CFS_OP_UNLINK:
	case CFS_OP_RMDIR:
		return store_perm_remove(tx, op);
	case CFS_OP_RENAME:
		return store_perm_rename(tx, op);
	case CFS_OP_SETATTR:
		return store_perm_setattr(tx, op);
	case CFS_OP_WRITE:
	case CFS_OP_FALLOCATE:
		return store_perm_write(tx, op);
	case CFS_OP_SETXATTR:
	case CFS_OP_REMOVEXATTR:
		return store_perm_xattr(tx, op, STORE_MAY_WRITE);
	case CFS_OP_OPENREF:
		return store_perm_openref(tx, op);
	default: /* FSYNC changes nothing; EXPIRE_SESSIONS is the head's own */
		return 0;
	}
}

/* Checks a read for an anonymous caller; see store_int.h. */
int
store_perm_read(struct store_tx *tx, const struct cfs_op *op)
{
	struct store_inode n;
	unsigned mask;
	int rc;

	switch (op->type) {
	case CFS_OP_LOOKUP:
		mask = STORE_MAY_EXEC;
		break;
	case CFS_OP_READDIR:
	case CFS_OP_READ:
		mask = STORE_MAY_READ;
		break;
	case CFS_OP_GETXATTR:
		return store_perm_xattr(tx, op, STORE_MAY_READ);
	default: /* GETATTR, READLINK, LISTXATTR, STATFS, LSEEK: anyone */
		return 0;
	}
	if ((rc = store_inode_get(tx, op->ino, &n)) != 0)
		return store_perm_missing(rc);
	if (op->type == CFS_OP_READ)
		return store_perm_may_data(&n.a, op, mask) ? 0 : EACCES;
	/* LOOKUP and READDIR of a non-directory: the handler's ENOTDIR. */
	if (!S_ISDIR(n.a.mode))
		return 0;
	return store_perm_may(&n.a, op, mask) ? 0 : EACCES;
}
