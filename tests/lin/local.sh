#!/usr/bin/env bash
# linwork on a local directory given three times (three "mounts" of one tree),
# three processes each, for about 10 s; lincheck must find no violation in at
# least a few thousand operations.  A check of the workload and the checker
# together: a local filesystem is the reference they must agree on.
#
# The directory is made under /tmp, or under /var/tmp when /tmp is a tmpfs:
# Linux tmpfs lets a read(2) that races with a truncate and rewrite of the
# same file return bytes from before and after them (a torn read), which
# lincheck rightly reports (tests/lin/README.md).  LIN_LOCAL_BASE overrides.
set -euo pipefail

top_builddir=${top_builddir:-$(pwd)}
LINWORK="$top_builddir/linwork"
LINCHECK="$top_builddir/lincheck"
name=local.sh
min_ops=5000

note() { printf 'lin-%s: %s\n' "$name" "$*"; }

base=${LIN_LOCAL_BASE:-/tmp}
if [ -z "${LIN_LOCAL_BASE:-}" ] && [ "$(stat -f -c %T /tmp)" = tmpfs ]; then
	base=/var/tmp
fi
work=$(mktemp -d "$base/chainfs-lin-local.XXXXXX")
# Everything goes on every exit path; the history is shown only on failure.
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	local rc=$?
	if [ $rc -ne 0 ] && [ -f "$work/check.txt" ]; then
		note "failed (status $rc); lincheck said:"
		head -n 80 "$work/check.txt"
	fi
	rm -rf "$work"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

for p in "$LINWORK" "$LINCHECK"; do
	[ -x "$p" ] || { note "FAIL: $p is not built"; exit 1; }
done
mkdir "$work/tree"
seed=${LIN_SEED:-$RANDOM}
note "seed $seed, $(stat -f -c %T "$work") at $work/tree"
"$LINWORK" --dir "$work/tree" --dir "$work/tree" --dir "$work/tree" --procs 3 \
	--duration 10 --seed "$seed" --out "$work/history.txt"
status=0
"$LINCHECK" "$work/history.txt" >"$work/check.txt" || status=$?
grep -E '^(operations|indeterminate|failed reads|reads that|violations|verdict)' \
	"$work/check.txt" | sed "s/^/lin-$name: /"
if [ $status -ne 0 ]; then
	note "FAIL: lincheck exited with $status (seed $seed)"
	exit 1
fi
ops=$(awk '/^operations:/ { print $2 }' "$work/check.txt")
if [ "${ops:-0}" -lt $min_ops ]; then
	note "FAIL: only ${ops:-0} operations (want at least $min_ops)"
	exit 1
fi
left=$(find "$work/tree" -mindepth 1 -maxdepth 1 ! -regex '.*/[fd][0-9]+' -printf '%f ')
[ -z "$left" ] || { note "FAIL: private names left behind: $left"; exit 1; }
note "ok: $ops operations, no violation"
