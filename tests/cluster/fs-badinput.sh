#!/usr/bin/env bash
# Mount mistakes give one clear error and a non-zero exit, and leave no mount.
. "${srcdir:-.}/tests/cluster/lib.sh"

CHAINFS="$top_builddir/chainfs"
start_cluster c --nodes 1
conf="$work/c/chainfs.conf"
port=$(awk '$1 == "node" { split($3, a, ":"); print a[2] }' "$conf")
mkdir -p "$work/mnt"

# expect_fail WORD ARGS...: chainfs must exit non-zero, say WORD, mount nothing.
expect_fail() {
	local word=$1 rc=0 out
	shift
	out=$(timeout 30 "$CHAINFS" "$@" 2>&1) || rc=$?
	[ $rc -ne 0 ] || fail "chainfs $* succeeded"
	echo "$out" | grep -qi -- "$word" || fail "chainfs $*: no '$word' in: $out"
	if awk -v m="$work/mnt" '$2 == m { f = 1 } END { exit !f }' /proc/mounts; then
		umount -l "$work/mnt"
		fail "chainfs $* left a mount behind"
	fi
	note "refused as expected: $(echo "$out" | head -n 1)"
}

expect_fail "unknown option" -o "conf=$conf,bogus_option=1" "127.0.0.1:$port" "$work/mnt"
expect_fail "did not answer" -o "conf=$conf,connect_timeout=2" "127.0.0.1:1" "$work/mnt"
expect_fail "mount point" -o "conf=$conf" "127.0.0.1:$port" "$work/does-not-exist"
expect_fail "port" -o "conf=$conf" "127.0.0.1:99999" "$work/mnt"
expect_fail "conf" -o "conf=$work/no-such.conf" "127.0.0.1:$port" "$work/mnt"
expect_fail "usage" -o "conf=$conf"
passed
