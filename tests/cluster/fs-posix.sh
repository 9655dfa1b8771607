#!/usr/bin/env bash
# The project's POSIX conformance suite (tests/posix) against a chainfs mount
# of a 3-node chain.  Known deviations are listed here, each with its reason,
# and reported as XFAIL; anything else failing fails the test.
. "${srcdir:-.}/tests/cluster/lib.sh"

# Root's mount lets every user in by default (allow_other), which the
# permission checks as uid 65534 need.
start_cluster c --nodes 3 --mounts 1
chmod 755 "$work" "$work/c" "$work/c/mnt"
# fallocate does not reserve space: an LMDB store cannot set space aside for
#   one file, so st_blocks stays at what is written.
# The kernel's FUSE code clears set-gid on a write by a non-member only with
#   HANDLE_KILLPRIV_V2, whose write flag libfuse 3.14 does not pass on.
# fstat of an open directory after rmdir: the inode is gone from the chain,
#   so it answers ESTALE instead of nlink 0 (open-but-removed inodes: a later issue).
export POSIX_XFAIL="falloc_basic/mode-0-blocks falloc_basic/keep-size-blocks
perm_suid_write/setgid-no-gx rmdir_open/fd"
POSIX_XFAIL=$(echo $POSIX_XFAIL)
export POSIXCHECK="$top_builddir/posixcheck"
"$srcdir/tests/posix/run.sh" "$work/c/mnt/m1" || fail "POSIX conformance on chainfs"
# The whole suite again as an ordinary user, on the same default mount: a
# shared directory serves every user of the host.  Same deviations.
POSIX_AS=4242:4242 "$srcdir/tests/posix/run.sh" "$work/c/mnt/m1" ||
	fail "POSIX conformance on chainfs as uid 4242"
passed
