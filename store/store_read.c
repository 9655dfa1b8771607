/*
 * Read operations: store_read answers LOOKUP .. LSEEK from committed state in
 * one read transaction, one function per operation.  READ and LSEEK walk file
 * contents and so are in store_blocks.c.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "common/log.h"
#include "common/wire.h"
#include "store/store.h"
#include "store/store_int.h"

/* LOOKUP: name in directory op->ino, "." and ".." included. */
static int
store_rd_lookup(struct store_tx *tx, const struct cfs_op *op)
{
	struct store_inode dir, n;
	uint64_t ino, cookie;
	int rc;

	rc = store_dir_get(tx, op->ino, &dir);
	if (rc != 0)
		return rc;
	if (op->namelen > CFS_NAME_MAX)
		return ENAMETOOLONG;
	if (op->namelen == 0 || op->name == NULL || memchr(op->name, '/', op->namelen) ||
	    memchr(op->name, '\0', op->namelen))
		return EINVAL;
	if (op->namelen == 1 && op->name[0] == '.') {
		n = dir;
	} else if (op->namelen == 2 && op->name[0] == '.' && op->name[1] == '.') {
		rc = store_inode_get(tx, dir.parent, &n);
		if (rc != 0)
			return rc > 0 ? -EIO : rc;
	} else {
		rc = store_dirent_get(tx, op->ino, op->name, op->namelen, &ino, &cookie);
		if (rc == 0)
			rc = store_inode_get_linked(tx, ino, &n);
		if (rc != 0)
			return rc;
	}
	tx->res->attr = n.a;
	tx->res->flags |= CFS_REPLY_ATTR;
	return 0;
}

/*
 * Appends one readdir record if it fits in lim bytes from start: 1 when
 * added, 0 when full.
 */
static int
store_rd_dirent(struct cfs_wbuf *out, size_t start, uint64_t lim, const struct cfs_dirent *d,
                int plus)
{
	size_t pos = out->len;

	cfs_dirent_put(out, d, plus);
	if (out->len - start > lim) {
		out->len = pos;
		return 0;
	}
	return 1;
}

/* READDIR: records after cookie op->offset, at most op->length bytes of them. */
static int
store_rd_readdir(struct store_tx *tx, const struct cfs_op *op, struct cfs_wbuf *out)
{
	int plus = (op->flags & CFS_READDIR_PLUS) != 0;
	uint64_t lim = op->length < CFS_MAX_IO ? op->length : CFS_MAX_IO, cookie = op->offset;
	size_t start = out->len;
	struct store_inode dir, n;
	struct cfs_dirent d;
	MDB_cursor *cur;
	MDB_val key, v;
	uint8_t k[16];
	uint64_t count = 0, ino, c;
	int rc, full = 0;

	rc = store_dir_get(tx, op->ino, &dir);
	if (rc != 0)
		return rc;
	memset(&d, 0, sizeof(d));
	if (cookie < 1) {
		d = (struct cfs_dirent){dir.a.ino, 1, S_IFDIR, 1, ".", dir.a};
		full = !store_rd_dirent(out, start, lim, &d, plus);
		count += !full;
	}
	if (!full && cookie < 2) {
		rc = store_inode_get(tx, dir.parent, &n);
		if (rc != 0)
			return rc > 0 ? -EIO : rc;
		d = (struct cfs_dirent){n.a.ino, 2, S_IFDIR, 2, "..", n.a};
		full = !store_rd_dirent(out, start, lim, &d, plus);
		count += !full;
	}
	if (full)
		return count == 0 ? EINVAL : 0;
	rc = mdb_cursor_open(tx->txn, tx->s->dbi[STORE_DB_COOKIES], &cur);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_cursor_open", rc);
	store_key2(k, dir.a.ino, (cookie < 2 ? 2 : cookie) + 1);
	key.mv_size = sizeof(k);
	key.mv_data = k;
	if (cookie == UINT64_MAX)
		rc = MDB_NOTFOUND;
	else
		rc = mdb_cursor_get(cur, &key, &v, MDB_SET_RANGE);
	while (rc == 0) {
		if (key.mv_size != 16 || store_val64(key.mv_data) != dir.a.ino)
			break;
		c = store_val64((const uint8_t *)key.mv_data + 8);
		if (v.mv_size == 0 || v.mv_size > CFS_NAME_MAX) {
			rc = -EIO;
			break;
		}
		rc = store_dirent_get(tx, dir.a.ino, v.mv_data, v.mv_size, &ino, &cookie);
		if (rc == 0 && cookie != c)
			rc = ENOENT;
		if (rc == 0)
			rc = store_inode_get_linked(tx, ino, &n);
		if (rc != 0) {
			log_warnx("%s: directory %llu, cookie %llu: broken entry", __func__,
			          (unsigned long long)dir.a.ino, (unsigned long long)c);
			rc = -EIO;
			break;
		}
		d = (struct cfs_dirent){ino,       c,  n.a.mode & S_IFMT, (uint16_t)v.mv_size,
		                        v.mv_data, n.a};
		if (!store_rd_dirent(out, start, lim, &d, plus)) {
			full = 1;
			break;
		}
		count++;
		rc = mdb_cursor_get(cur, &key, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	else if (rc != 0 && rc != -EIO)
		return store_mdb_fail(__func__, "mdb_cursor_get", rc);
	if (rc != 0)
		return rc;
	if (full && count == 0)
		return EINVAL;
	tx->res->value = count;
	return 0;
}

/* GETXATTR and LISTXATTR share the size rules: length 0 asks for the size only. */
static int
store_rd_sized(struct store_tx *tx, const struct cfs_op *op, struct cfs_wbuf *out, size_t start,
               uint64_t size)
{
	tx->res->value = size;
	if (op->length == 0) {
		out->len = start;
		return 0;
	}
	if (op->length < size) {
		out->len = start;
		return ERANGE;
	}
	return 0;
}

/* GETXATTR: the value of one xattr. */
static int
store_rd_getxattr(struct store_tx *tx, const struct cfs_op *op, struct cfs_wbuf *out)
{
	struct store_inode n;
	uint8_t k[8 + CFS_NAME_MAX];
	size_t start = out->len;
	MDB_val v;
	int rc;

	rc = store_inode_get(tx, op->ino, &n);
	if (rc != 0)
		return rc;
	if ((rc = store_xattr_name(op)) != 0)
		return rc;
	rc = store_db_get(tx->txn, tx->s->dbi[STORE_DB_XATTRS], k,
	                  store_key_name(k, op->ino, op->name, op->namelen), &v);
	if (rc != 0)
		return rc == ENOENT ? ENODATA : rc;
	cfs_put_bytes(out, v.mv_data, v.mv_size);
	return store_rd_sized(tx, op, out, start, v.mv_size);
}

/* LISTXATTR: the names, each followed by a NUL. */
static int
store_rd_listxattr(struct store_tx *tx, const struct cfs_op *op, struct cfs_wbuf *out)
{
	struct store_inode n;
	size_t start = out->len;
	MDB_cursor *cur;
	MDB_val key, v;
	uint8_t k[8];
	int rc;

	rc = store_inode_get(tx, op->ino, &n);
	if (rc != 0)
		return rc;
	rc = mdb_cursor_open(tx->txn, tx->s->dbi[STORE_DB_XATTRS], &cur);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_cursor_open", rc);
	store_put_be(k, op->ino, 8);
	key.mv_size = sizeof(k);
	key.mv_data = k;
	rc = mdb_cursor_get(cur, &key, &v, MDB_SET_RANGE);
	while (rc == 0 && key.mv_size > 8 && memcmp(key.mv_data, k, 8) == 0) {
		cfs_put_bytes(out, (const uint8_t *)key.mv_data + 8, key.mv_size - 8);
		cfs_put_u8(out, 0);
		rc = mdb_cursor_get(cur, &key, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_mdb_fail(__func__, "mdb_cursor_get", rc);
	return store_rd_sized(tx, op, out, start, out->len - start);
}

/* STATFS: space from the LMDB map, files from the inode count. */
static int
store_rd_statfs(struct store_tx *tx, struct cfs_wbuf *out)
{
	struct cfs_statfs sf;
	MDB_envinfo info;
	MDB_stat st;
	uint64_t used;
	int rc;

	if ((rc = mdb_env_info(tx->s->env, &info)) != 0 ||
	    (rc = mdb_stat(tx->txn, tx->s->dbi[STORE_DB_INODES], &st)) != 0)
		return store_mdb_fail(__func__, "mdb_env_info/mdb_stat", rc);
	memset(&sf, 0, sizeof(sf));
	sf.bsize = st.ms_psize;
	sf.blocks = info.me_mapsize / st.ms_psize;
	used = (uint64_t)info.me_last_pgno + 1;
	sf.bfree = sf.blocks > used ? sf.blocks - used : 0;
	sf.bavail = sf.bfree;
	/* An inode, its dirent and cookie take about 256 bytes of a page. */
	sf.ffree = sf.bfree * (st.ms_psize / 256);
	sf.files = st.ms_entries + sf.ffree;
	sf.namemax = CFS_NAME_MAX;
	cfs_statfs_encode(out, &sf);
	return 0;
}

/* Performs one read op in tx; the status goes in the return value. */
static int
store_rd_op(struct store_tx *tx, const struct cfs_op *op, struct cfs_wbuf *out)
{
	struct store_inode n;
	int rc;

	switch (op->type) {
	case CFS_OP_LOOKUP:
		return store_rd_lookup(tx, op);
	case CFS_OP_GETATTR:
		rc = store_inode_get(tx, op->ino, &n);
		if (rc == 0) {
			tx->res->attr = n.a;
			tx->res->flags |= CFS_REPLY_ATTR;
		}
		return rc;
	case CFS_OP_READDIR:
		return store_rd_readdir(tx, op, out);
	case CFS_OP_READ:
		return store_rd_read(tx, op, out);
	case CFS_OP_READLINK:
		rc = store_inode_get(tx, op->ino, &n);
		if (rc == 0 && !S_ISLNK(n.a.mode))
			rc = EINVAL;
		if (rc == 0) {
			cfs_put_bytes(out, n.link, n.linklen);
			tx->res->value = n.linklen;
		}
		return rc;
	case CFS_OP_GETXATTR:
		return store_rd_getxattr(tx, op, out);
	case CFS_OP_LISTXATTR:
		return store_rd_listxattr(tx, op, out);
	case CFS_OP_STATFS:
		return store_rd_statfs(tx, out);
	case CFS_OP_GETLK:
		return store_rd_getlk(tx, op, out);
	case CFS_OP_LKSTATE:
		return store_rd_lkstate(tx, op);
	default: /* CFS_OP_LSEEK */
		return store_rd_lseek(tx, op);
	}
}

/*
 * Answers a read op from committed state; see store.h.  With
 * CFS_OP_CHECK_PERM the anonymous caller's permissions are checked first
 * (store_perm.c) and the op is read without the bit, which LSEEK (flags are
 * its whence) and READDIR would take for their own.
 */
int
store_read(struct store *s, const struct cfs_op *op, struct cfs_reply *res, struct cfs_wbuf *out)
{
	struct store_tx tx = {.s = s, .res = res};
	size_t start = out->len;
	struct cfs_op copy;
	int rc, check = (op->flags & CFS_OP_CHECK_PERM) != 0;

	memset(res, 0, sizeof(*res));
	if (op->type < CFS_OP_LOOKUP || op->type > CFS_OP_LKSTATE) {
		res->status = CFS_ERR_PROTOCOL;
		return 0;
	}
	if (check) {
		copy = *op;
		copy.flags &= ~CFS_OP_CHECK_PERM;
		op = &copy;
	}
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &tx.txn);
	if (rc != 0)
		return store_mdb_fail(__func__, "mdb_txn_begin", rc);
	if (check)
		rc = store_perm_read(&tx, op);
	if (rc == 0)
		rc = store_rd_op(&tx, op, out);
	mdb_txn_abort(tx.txn);
	if (rc != 0) {
		out->len = start;
		memset(res, 0, sizeof(*res));
		if (rc < 0)
			return rc;
		res->status = rc;
		return 0;
	}
	res->datalen = (uint32_t)(out->len - start);
	res->data = res->datalen > 0 ? out->p + start : NULL;
	return 0;
}
