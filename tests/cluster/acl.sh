#!/usr/bin/env bash
# POSIX ACLs (issue: POSIX as a local filesystem, item 1): setfacl, getfacl,
# chmod, default ACLs with and without the umask, permission checks as
# another user, all made on one mount and read back through another; the
# output must be byte-identical to the same steps on a local filesystem.
# The kernel checks permissions with the ACLs; the head keeps them and the
# mode in step and applies the umask (chainfs(8), ACLS).
. "${srcdir:-.}/tests/cluster/lib.sh"

command -v setfacl >/dev/null || fail "setfacl is missing (Debian's acl package; tools/install-deps)"
CASES="$srcdir/tests/cluster/aclcases"

# The local reference, on a filesystem with ACLs (not a tmpfs /tmp, maybe
# without them): /var/tmp, as tests/lin/local.sh.
ref=$(mktemp -d "${ACL_LOCAL_BASE:-/var/tmp}/chainfs-acl.XXXXXX")
trap 'rm -rf "$ref"; cleanup' EXIT
chmod 755 "$ref"
if ! setfacl -m u:65534:r "$ref" 2>/dev/null; then
	note "no ACLs on $(df --output=target "$ref" | tail -n 1): skipped"
	rm -rf "$ref"
	failed=0
	exit 77
fi
setfacl -b "$ref"
"$CASES" "$ref" >"$work/local.out" 2>&1

start_cluster c --nodes 3 --mounts 2
m1="$work/c/mnt/m1"
m2="$work/c/mnt/m2"
chmod 755 "$work" "$work/c" "$work/c/mnt"
mkdir "$m1/cases"
chmod 755 "$m1/cases"
"$CASES" "$m1/cases" "$m2/cases" >"$work/chainfs.out" 2>&1
if ! diff -u "$work/local.out" "$work/chainfs.out" >"$work/diff"; then
	head -n 60 "$work/diff"
	fail "ACLs on two chainfs mounts differ from a local filesystem"
fi
note "$(wc -l <"$work/local.out") lines of setfacl/getfacl/permission results identical to a local filesystem"
grep -q '^65534 writes f: yes$' "$work/chainfs.out" || fail "the ACL did not let 65534 write"
grep -q '^65534 writes f after chmod 640 (mask r--): no$' "$work/chainfs.out" ||
	fail "chmod did not narrow the ACL's mask"
passed
