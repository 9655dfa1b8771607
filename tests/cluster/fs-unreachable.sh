#!/usr/bin/env bash
# When the chain is unreachable the mount stays up, operations fail with EIO
# after the mount's timeout, and once the nodes are back the next operation
# works without remounting; umount never hangs.
#
# Then the promise with many calls in flight: a fixed chain (no failover),
# linwork on two mounts, one node stopped (SIGSTOP) in each position in
# turn.  The kernel makes calls on one directory wait for each other, so
# without care their timeouts add up.  A call waits at most about two
# timeouts (its own request, and one it queued behind in the kernel), and
# each kind of request (reads, updates) is known stalled within two
# timeouts of the stop; a linwork operation is up to three calls of both
# kinds, so none may take more than three timeouts and a little.  Before
# the fix, with a 12 s stop, the longest took 9.0 s (head stopped) and
# 12.0 s (tail); they grow with the stop, which here is six timeouts.
# The history must be linearizable, every operation must have returned, and
# the replicas must agree afterwards.
. "${srcdir:-.}/tests/cluster/lib.sh"
sanitizers_suffice

export CHAINFS_MOUNT_OPTS=timeout=3
start_cluster c --nodes 3 --mounts 1
d="$work/c"
m="$d/mnt/m1"
echo before >"$m/f"

for n in n1 n2 n3; do "$LC" kill "$d" "$n"; done
start=$(date +%s)
rc=0
out=$(timeout 20 stat "$m/f" 2>&1) || rc=$?
took=$(($(date +%s) - start))
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "stat with every node down: exit $rc after $took s"
echo "$out" | grep -q "Input/output error" || fail "stat said: $out"
[ $took -le 10 ] || fail "stat took $took s with timeout=3"
awk -v m="$m" '$2 == m { f = 1 } END { exit !f }' /proc/mounts || fail "the mount went away"
note "with the chain down: EIO after $took s, mount still there"

for n in n3 n2 n1; do "$LC" restart "$d" "$n" >/dev/null; done
# Each restarted node first waits for its old etcd lease to run out, and the
# master may first drop a node whose old registration it still saw, then take
# it back: a write in between may wait longer than timeout=3 and fail, as it
# should.  Once the chain is whole again, the mount must work by itself:
# until it has reconnected (its backoff is at most a second) a call may
# still fail at once, as the chain was unreachable when it last tried.
wait_for 60 chain_is "$d/chainfs.conf" 3 ||
	fail "the chain did not come back whole: $("$CTL" -c "$d/chainfs.conf" status 2>&1)"
wait_for 5 grep -qx before "$m/f" || fail "read after recovery: $(cat "$m/f" 2>&1)"
out=$( (echo after >"$m/f") 2>&1) || fail "write after recovery: $out"
[ "$(cat "$m/f")" = after ] || fail "read of the write after recovery"
note "reconnected by itself"

# umount with the chain down does not hang.
for n in n1 n2 n3; do "$LC" kill "$d" "$n"; done
timeout 20 fusermount3 -u "$m" || fail "umount hung or failed with the chain down"
"$LC" stop "$d" >/dev/null

# Stopped for six timeouts: long enough for timeouts in line to add up.
tmo=3 stall=18
start_cluster s --nodes 3 --mounts 2 --etcd 0
d="$work/s"
for n in n1 n2 n3; do
	seed=${LIN_SEED:-$RANDOM}
	hist="$work/history-$n.txt"
	# 128 files: a stall leaves many operations indeterminate (EIO), and
	# each one doubles a key's search; ~35 operations per file keep it short.
	"$top_builddir/linwork" --dir "$d/mnt/m1" --dir "$d/mnt/m2" --procs 3 --files 128 --duration 120 \
		--seed "$seed" --out "$hist" >"$work/linwork.log" 2>&1 &
	linpid=$!
	procs+=("$linpid")
	sleep 2
	"$LC" stop "$d" "$n"
	sleep $stall
	"$LC" cont "$d" "$n"
	# Back to work by itself: a write through each mount goes through.
	wait_for 10 sh -c "echo $n >'$d/mnt/m1/after-$n' && echo $n >'$d/mnt/m2/after2-$n'" ||
		fail "the mounts did not work again after $n came back"
	sleep 2
	kill -USR1 "$linpid" 2>/dev/null || true
	wait "$linpid" || fail "linwork failed: $(tail -n 5 "$work/linwork.log")"
	grep -q ' 0 op(s) left unfinished' "$work/linwork.log" ||
		fail "operations never returned: $(tail -n 2 "$work/linwork.log")"
	note "$n stopped for $stall s:"
	check_history "$hist" "$seed" --budget 200000000
	# The longest operation, and how many failed with EIO (the stall was felt).
	read -r longest eio ops < <(awk '/ res=/ {
		for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		ms = (f["t1"] - f["t0"]) / 1000000; if (ms > max) max = ms
		n++; if (f["res"] == "EIO") e++ } END { printf "%d %d %d\n", max, e, n }' "$hist")
	note "  seed $seed: $ops operations, $eio failed with EIO, the longest took $longest ms"
	[ "$eio" -gt 0 ] || fail "no operation failed while $n was stopped"
	[ "$longest" -le $(((3 * tmo + 2) * 1000)) ] ||
		fail "an operation took $longest ms while $n was stopped, with timeout=$tmo"
	[ "$(cat "$d/mnt/m2/after-$n")" = "$n" ] || fail "acknowledged write after-$n is lost"
	[ "$(cat "$d/mnt/m1/after2-$n")" = "$n" ] || fail "acknowledged write after2-$n is lost"
done
wait_for 30 settled "$d/chainfs.conf" ||
	fail "the replicas do not agree: $("$CTL" -c "$d/chainfs.conf" status 2>&1)"
passed
