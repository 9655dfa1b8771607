#!/usr/bin/env bash
# Races that broke chainfs's promises (issue: linearizable under concurrency),
# each of which failed before its fix:
# - a read racing in-place rewrites on the same mount returned NUL bytes
#   (the kernel's page cache; files are now read directly);
# - open() of a file that another mount replaces by rename failed with ENOENT
#   (an inode that vanished now answers ESTALE and the kernel walks the path again);
# - appends from two mounts overwrote each other (the kernel's idea of the end
#   of the file is its last known size; the head now appends at the real end);
# - (no failure before it: it guards the joining of back-to-back writes into
#   one chain request) records streamed through one descriptor per process,
#   two processes per mount, read as they come by a reader on each mount;
# - only root could use a mount (root's mounts now default to allow_other, with
#   the kernel's permission checks; owner_only restores the old behaviour).
. "${srcdir:-.}/tests/cluster/lib.sh"

FSRACE="$top_builddir/fsrace"
start_cluster c --nodes 3 --mounts 2
m1="$work/c/mnt/m1"
m2="$work/c/mnt/m2"
chmod 755 "$work" "$work/c" "$work/c/mnt"

mkdir "$m1/rw" "$m1/rp" "$m1/ra" "$m1/rs"
"$FSRACE" rewrite "$m1/rw" 6 || fail "a read racing same-mount rewrites saw bytes nobody wrote"
"$FSRACE" replace "$m1/rp" "$m2/rp" 6 || fail "open failed while another mount replaced the file"
"$FSRACE" append "$m1/ra" "$m2/ra" 6 || fail "appends from two mounts were lost or overwritten"
"$FSRACE" stream "$m1/rs" "$m2/rs" 3 || fail "streamed appends were lost, doubled or misread"

# Every local user, with the kernel's permission checks.
as() {
	local uid=$1
	shift
	setpriv --reuid="$uid" --regid="$uid" --clear-groups "$@"
}
mkdir "$m1/shared"
chmod 1777 "$m1/shared"
as 65534 sh -c "echo hello >'$m1/shared/nobody.txt'" || fail "uid 65534 cannot create a file on a default mount"
[ "$(as 65534 cat "$m2/shared/nobody.txt")" = hello ] || fail "uid 65534 cannot read it on the other mount"
[ "$(stat -c %u:%g "$m2/shared/nobody.txt")" = 65534:65534 ] || fail "the file does not belong to its creator"
as 65533 sh -c "echo x >>'$m2/shared/nobody.txt'" 2>/dev/null && fail "uid 65533 wrote another user's 0644 file"
as 65533 rm -f "$m2/shared/nobody.txt" 2>/dev/null || true
[ -f "$m1/shared/nobody.txt" ] || fail "uid 65533 removed another user's file from a sticky directory"
as 65534 rm "$m2/shared/nobody.txt" || fail "the owner cannot remove the file"

# owner_only: a mount for its owner alone.
mkdir "$work/own"
conf="$work/c/chainfs.conf"
nodes=$(awk '$1 == "node" { printf "%s%s", sep, $3; sep = "," }' "$conf")
mounts+=("$work/own")
"$top_builddir/chainfs" -o "conf=$conf,owner_only" "$nodes" "$work/own" || fail "owner_only mount"
ls "$work/own/shared" >/dev/null || fail "the owner cannot use an owner_only mount"
as 65534 ls "$work/own/shared" >/dev/null 2>&1 && fail "uid 65534 entered an owner_only mount"
mkdir "$work/own2"
"$top_builddir/chainfs" -o "conf=$conf,owner_only,allow_other" "$nodes" "$work/own2" 2>/dev/null &&
	{ mounts+=("$work/own2"); fail "owner_only with allow_other was accepted"; }
passed
