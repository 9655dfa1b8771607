/*
 * POSIX ACLs as the kernel hands them to a filesystem: the values of the
 * xattrs system.posix_acl_access and system.posix_acl_default (version 2:
 * a 4-byte header, then 8 bytes per entry, little-endian).  The kernel
 * checks permissions with them but leaves keeping them and the mode bits
 * consistent to the filesystem (fs/fuse/acl.c: "Fuse userspace is
 * responsible for updating access permissions"), so the head does it in
 * the entry that changes either: these are the rules, as acl(5) states
 * them, without any storage.
 */
#ifndef CHAINFS_STORE_ACL_H
#define CHAINFS_STORE_ACL_H

#include <stddef.h>
#include <stdint.h>

#define STORE_ACL_ACCESS "system.posix_acl_access"
#define STORE_ACL_DEFAULT "system.posix_acl_default"

/* Entry tags, as in the xattr format (acl(5)). */
#define STORE_ACL_USER_OBJ 0x01
#define STORE_ACL_USER 0x02
#define STORE_ACL_GROUP_OBJ 0x04
#define STORE_ACL_GROUP 0x08
#define STORE_ACL_MASK 0x10
#define STORE_ACL_OTHER 0x20

#define STORE_ACL_VERSION 2
#define STORE_ACL_UNDEFINED_ID 0xffffffffu
/* What FUSE can carry back in one GETXATTR (a page): (4096 - 4) / 8. */
#define STORE_ACL_MAX_ENTRIES 511
#define STORE_ACL_MAX_SIZE (4 + 8 * STORE_ACL_MAX_ENTRIES)

struct store_acl_entry {
	uint16_t tag;
	uint16_t perm; /* rwx: 4 2 1 */
	uint32_t id;   /* USER and GROUP only; STORE_ACL_UNDEFINED_ID for the others */
};

struct store_acl {
	size_t n;
	struct store_acl_entry e[STORE_ACL_MAX_ENTRIES];
};

/*
 * Decodes and checks a value: version 2, whole entries, tags in acl(5)'s
 * order (USER_OBJ, USER by id, GROUP_OBJ, GROUP by id, MASK, OTHER), one
 * each of USER_OBJ, GROUP_OBJ and OTHER, ids unique, a MASK when there are
 * named entries, perms within rwx.  0 with no entries means "no ACL" (the
 * kernel's way to remove one); 0, or EINVAL (EOPNOTSUPP for another
 * version).
 */
int store_acl_decode(const void *value, size_t len, struct store_acl *);

/* Encodes a into out (STORE_ACL_MAX_SIZE is always enough); returns the size. */
size_t store_acl_encode(const struct store_acl *, uint8_t *out);

/*
 * The permission bits (0777) a valid ACL gives: the owner's from USER_OBJ,
 * the group's from MASK when there is one (else GROUP_OBJ), the others'
 * from OTHER.  Returns 1 when the ACL says more than those bits can (named
 * entries or a mask), 0 when the mode alone says it all (no ACL need be
 * kept).
 */
int store_acl_mode(const struct store_acl *, uint32_t *perms);

/* chmod: USER_OBJ, MASK (or GROUP_OBJ) and OTHER take the new mode's bits. */
void store_acl_chmod(struct store_acl *, uint32_t mode);

/*
 * A new inode under a directory whose default ACL is a (a copy, changed in
 * place): each of owner, group class and others gets what both the asked
 * mode and the ACL allow, in a and in *mode (whose other bits stay).  The
 * umask does not apply.  Returns 1 when a must be kept as the new inode's
 * access ACL, 0 when the mode says it all.
 */
int store_acl_inherit(struct store_acl *, uint32_t *mode);

#endif
