#!/usr/bin/env bash
# The Jepsen-style check on a real chain: 3 nodes, 3 mounts (each its own
# chainfs process, as three hosts), 3 processes per mount on a dozen files and
# directories for LIN_SECONDS (30) s; lincheck must find the history
# linearizable, with no read of bytes nobody wrote, and the replicas must agree
# afterwards.  The long run is tests/lin/run --duration 600.
. "${srcdir:-.}/tests/cluster/lib.sh"

secs=${LIN_SECONDS:-30}
seed=${LIN_SEED:-$RANDOM}
start_cluster c --nodes 3 --mounts 3
conf="$work/c/chainfs.conf"
note "seed $seed, $secs s"
"$top_builddir/linwork" --dir "$work/c/mnt/m1" --dir "$work/c/mnt/m2" --dir "$work/c/mnt/m3" \
	--procs 3 --duration "$secs" --seed "$seed" --fsync 5 --out "$work/history.txt" ||
	fail "linwork failed"
check_history "$work/history.txt" "$seed"
ops=$(awk '/^operations:/ { print $2 }' "$work/check.txt")
[ "${ops:-0}" -ge 2000 ] || fail "only ${ops:-0} operations in $secs s"
wait_for 20 settled "$conf" || fail "the replicas do not agree after the run"
passed
