#!/usr/bin/env bash
# mount(8) with the built mount.chainfs: "mount -t chainfs" mounts and umount
# unmounts; an fstab line with _netdev, nofail, x-systemd.* mounts with
# mount -a, and a second mount -a changes nothing; -o ro is read-only; an
# unknown option is refused with a clear message and leaves no mount; -s and
# -o sloppy drop it instead; -f mounts nothing; an unreachable chain is exit
# status 32.
#
# mount(8) runs helpers from /sbin only, and the test must not install into
# the machine's /sbin.  So everything runs in a private mount namespace where
# /sbin is a bind mount of a directory of symbolic links to the real /sbin,
# plus mount.chainfs.  The FUSE mounts made there exist only there; the
# namespace's shell unmounts them on every way out.  The nodes run outside.
if [ "$(id -u)" -ne 0 ]; then
	echo "fs-mount: SKIP: needs root (mount(8) and unshare -m)"
	exit 77
fi
. "${srcdir:-.}/tests/cluster/lib.sh"

helper="$(cd "$top_builddir" && pwd)/mount-helpers/mount.chainfs"
[ -x "$helper" ] || fail "$helper is not built"
for tool in unshare findmnt; do
	command -v "$tool" >/dev/null || fail "$tool is not installed (Debian: util-linux)"
done

start_cluster c --nodes 3
conf="$work/c/chainfs.conf"
nodes=$(awk '$1 == "node" { printf "%s%s", sep, $3; sep = "," }' "$conf")
[ -n "$nodes" ] || fail "no node lines in $conf"

# The helper runs the chainfs of $CHAINFS_BINDIR (set by lib.sh): the built one.
CHAINFS_BINDIR=$(cd "$CHAINFS_BINDIR" && pwd)
export CHAINFS_BINDIR

# The test proper, run by bash in the private namespace: $1 helper, $2 node
# list, $3 chainfs.conf, $4 work directory.
inner=$(
	cat <<'EOF'
set -euo pipefail
helper=$1 nodes=$2 conf=$3 work=$4
note() { printf "%s: %s\n" fs-mount "$*"; }
fail() {
	note "FAIL: $*"
	exit 1
}

# Our mount namespace, to tell the chainfs processes started here.
myns=$(readlink /proc/self/ns/mnt)

# The chainfs processes of this namespace: detached by chainfs itself, so
# found by their namespace rather than remembered.
ns_chainfs_pids() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(cat "$p/comm" 2>/dev/null)" = chainfs ] || continue
		[ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$myns" ] && echo "${p#/proc/}"
	done
	return 0
}

# How many chainfs mounts sit on a directory.
nmounts() {
	findmnt -n -t fuse.chainfs -M "$1" 2>/dev/null | wc -l
}

# Unmounts every chainfs mount of this namespace, lazily if need be; the
# chainfs processes then end.  Those that do not are killed, by pid.
teardown() {
	local m i p
	trap - EXIT INT TERM
	set +e
	for m in $(findmnt -n -l -t fuse.chainfs -o TARGET | grep "^$work/" | sort -r); do
		timeout 20 umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
	for ((i = 0; i < 100; i++)); do
		[ -z "$(ns_chainfs_pids)" ] && return 0
		sleep 0.1
	done
	for p in $(ns_chainfs_pids); do
		note "chainfs $p still running after umount: killed"
		kill -KILL "$p" 2>/dev/null || true
	done
	umount "$sbin" "$work/sbin.real" 2>/dev/null
	return 0
}
trap "rc=\$?; teardown; exit \$rc" EXIT
trap "exit 1" INT TERM

# /sbin of this namespace: links to every entry of the real one, and the helper.
sbin=$(readlink -f /sbin)
mkdir "$work/sbin.real" "$work/sbin"
# Read-only, so that nothing under $work can ever reach the real /sbin.
mount --bind "$sbin" "$work/sbin.real" || fail "bind mount of $sbin"
mount -o remount,bind,ro "$work/sbin.real" || fail "read-only bind mount of $sbin"
for f in "$work/sbin.real"/* "$work/sbin.real"/.[!.]*; do
	[ -e "$f" ] || [ -L "$f" ] || continue
	ln -s "$f" "$work/sbin/${f##*/}"
done
rm -f "$work/sbin/mount.chainfs"
ln -s "$helper" "$work/sbin/mount.chainfs"
mount --bind "$work/sbin" "$sbin" || fail "bind mount over $sbin"
[ "$(readlink -f /sbin/mount.chainfs)" = "$(readlink -f "$helper")" ] || fail "/sbin/mount.chainfs is not the helper"

# Runs mount (or anything) with a bound time; stdout+stderr in $work/out.
run() {
	timeout 60 "$@" >"$work/out" 2>&1
}

m1=$work/m1 m2=$work/m2 m3=$work/m3 m4=$work/m4
mkdir "$m1" "$m2" "$m3" "$m4"

# (a) mount -t chainfs; the data seen through a mount of plain chainfs.
run mount -t chainfs "$nodes" "$m1" -o "conf=$conf" ||
	fail "mount -t chainfs: exit $?: $(cat "$work/out")"
[ "$(nmounts "$m1")" = 1 ] || fail "mount -t chainfs returned, nothing on $m1"
# The second with '+' between its nodes: the source tools without commas can filter.
run "$CHAINFS_BINDIR/chainfs" -o "conf=$conf" "${nodes//,/+}" "$m2" ||
	fail "plain chainfs: $(cat "$work/out")"
[ "$(findmnt -n -o SOURCE -M "$m2")" = "${nodes//,/+}" ] ||
	fail "the mount's source is $(findmnt -n -o SOURCE -M "$m2"), not ${nodes//,/+}"
echo "through mount.chainfs" >"$m1/a" || fail "write through the mount -t chainfs mount"
[ "$(cat "$m2/a")" = "through mount.chainfs" ] || fail "file written on $m1 reads back wrong on $m2"
run umount "$m1" || fail "umount $m1: $(cat "$work/out")"
[ "$(nmounts "$m1")" = 0 ] || fail "umount $m1 left a mount"
note "mount -t chainfs mounts, the data is the chain's, umount unmounts"

# (b) mount -a from an fstab with the options of a real one; twice.
fstab=$work/fstab
printf "# fs-mount test\n%s %s chainfs _netdev,nofail,conf=%s,x-systemd.automount,noatime 0 0\n" \
	"$nodes" "$m3" "$conf" >"$fstab"
run mount -a -T "$fstab" || fail "mount -a: exit $?: $(cat "$work/out")"
[ "$(nmounts "$m3")" = 1 ] || fail "mount -a did not mount $m3"
findmnt -n -o OPTIONS -M "$m3" | grep -qw noatime || fail "noatime did not reach the mount"
[ "$(cat "$m3/a")" = "through mount.chainfs" ] || fail "wrong data on the mount -a mount"
run mount -a -T "$fstab" || fail "second mount -a: exit $?: $(cat "$work/out")"
[ "$(nmounts "$m3")" = 1 ] || fail "second mount -a: $(nmounts "$m3") mounts on $m3"
run umount "$m3" || fail "umount $m3: $(cat "$work/out")"
[ "$(nmounts "$m3")" = 0 ] || fail "umount $m3 left a mount"
note "mount -a with _netdev,nofail,x-systemd.automount,noatime mounts, once"

# (c) -o ro: the mount refuses writes with EROFS.
run mount -t chainfs -o "ro,conf=$conf" "$nodes" "$m4" || fail "mount -o ro: $(cat "$work/out")"
findmnt -n -o OPTIONS -M "$m4" | grep -q "^ro," || fail "-o ro: the mount is not ro"
[ "$(cat "$m4/a")" = "through mount.chainfs" ] || fail "-o ro: cannot read"
if touch "$m4/b" 2>"$work/out"; then
	fail "-o ro: touch succeeded"
fi
grep -q "Read-only file system" "$work/out" || fail "-o ro: touch said $(cat "$work/out")"
run umount "$m4" || fail "umount $m4: $(cat "$work/out")"
note "-o ro is read-only (EROFS)"

# (d) an unknown option: exit status 1, one clear line, no mount.
rc=0
run mount -t chainfs -o "conf=$conf,bogus" "$nodes" "$m4" || rc=$?
[ $rc -eq 1 ] || fail "unknown option: exit $rc, not 1: $(cat "$work/out")"
grep -qx "mount.chainfs: unknown option .bogus." "$work/out" ||
	fail "unknown option: the message was: $(cat "$work/out")"
[ "$(nmounts "$m4")" = 0 ] || fail "unknown option: something got mounted"
note "unknown option: $(cat "$work/out") (exit 1)"

# (e) -s and -o sloppy drop the unknown option and mount.
run mount -s -t chainfs -o "conf=$conf,bogus" "$nodes" "$m4" || fail "mount -s: $(cat "$work/out")"
[ "$(nmounts "$m4")" = 1 ] || fail "mount -s did not mount"
run umount "$m4" || fail "umount after -s"
run mount -t chainfs -o "bogus,sloppy,conf=$conf" "$nodes" "$m4" ||
	fail "mount -o sloppy: $(cat "$work/out")"
[ "$(nmounts "$m4")" = 1 ] || fail "mount -o sloppy did not mount"
run umount "$m4" || fail "umount after -o sloppy"
note "-s and -o sloppy drop unknown options"

# -f mounts nothing; an unreachable chain is a mount failure, 32.
run mount -f -t chainfs -o "conf=$conf" "$nodes" "$m4" || fail "mount -f: $(cat "$work/out")"
[ "$(nmounts "$m4")" = 0 ] || fail "mount -f mounted"
rc=0
run mount -t chainfs -o "conf=$conf,connect_timeout=2" 127.0.0.1:1 "$m4" || rc=$?
[ $rc -eq 32 ] || fail "unreachable chain: exit $rc, not 32: $(cat "$work/out")"
[ "$(nmounts "$m4")" = 0 ] || fail "unreachable chain: something got mounted"
note "-f mounts nothing; an unreachable chain is exit 32"

run umount "$m2" || fail "umount $m2: $(cat "$work/out")"
for ((i = 0; i < 100; i++)); do
	[ -z "$(ns_chainfs_pids)" ] && break
	sleep 0.1
done
[ -z "$(ns_chainfs_pids)" ] || fail "chainfs processes left after umount: $(ns_chainfs_pids)"
EOF
)

rc=0
timeout 600 unshare -m --propagation private bash -c "$inner" fs-mount \
	"$helper" "$nodes" "$conf" "$work" || rc=$?
[ $rc -eq 0 ] || fail "in the mount namespace (status $rc)"
passed
