#!/usr/bin/env bash
# Failover under the history checker: a 3-node chain with etcd, 3 mounts x 3
# processes of linwork for the whole test, while the tail, then the middle,
# then the head is SIGKILLed, and then a node is paused with SIGSTOP for
# longer than its lease; each time the chain must reconfigure without the
# node, a write must be acknowledged again (the time from the fault is the
# failover time), and the node, restarted or continued, must rejoin as the
# tail (a paused node must not answer from its old role: lincheck would see
# a stale read).  Beside linwork, handoff runs fig. 9-5's race throughout: a
# writer on m1 closes a file and tells a reader on m3 over a socket, which
# must read exactly that version.  Afterwards: lincheck finds the history
# linearizable, handoff saw nothing stale or missing, no acknowledged probe
# write is lost, and all replicas' digests agree.
# FAILOVER_FAULTS overrides the sequence (default "kill:tail kill:middle
# kill:head stop:tail"); a fault partition:ROLE cuts the node off from the
# other nodes, etcd and the clients with nftables, then heals it: the test
# then runs in a network namespace of its own, every node and etcd member on
# an address of its own (partition.sh);
# FAILOVER_MIN_ROUNDS (200) is how many handoff rounds must have run, and
# FAILOVER_SECONDS (600) bounds linwork and handoff (failover-long);
# FAILOVER_RETAIN sets the nodes' log-retain (failover-snapshot.sh makes it
# small, so that every rejoin needs a snapshot).
case ${FAILOVER_FAULTS:-} in
*partition:*)
	# Firewall rules only in a network namespace of the test's own.
	if [ -z "${CHAINFS_TEST_NETNS:-}" ]; then
		exec unshare -n env CHAINFS_TEST_NETNS=1 bash "$0" "$@"
	fi
	ip link set lo up
	own_addresses=--own-addresses
	;;
esac
. "${srcdir:-.}/tests/cluster/lib.sh"

ttl=${FAILOVER_TTL:-2}
faults=${FAILOVER_FAULTS:-kill:tail kill:middle kill:head stop:tail}
seed=${LIN_SEED:-$RANDOM}
# m4 only reads: nothing it sends to the head tells it of a new epoch, so a
# tail that vanishes without closing its connections (a partition) must be
# found out by the client itself.
start_cluster c --nodes 3 --mounts 4 --lease-ttl "$ttl" ${own_addresses:-} ${FAILOVER_RETAIN:+--log-retain "$FAILOVER_RETAIN"}
dir="$work/c"
conf="$dir/chainfs.conf"

note "seed $seed, lease TTL $ttl s, faults: $faults"
"$top_builddir/linwork" --dir "$dir/mnt/m1" --dir "$dir/mnt/m2" --dir "$dir/mnt/m3" \
	--procs 3 --duration "${FAILOVER_SECONDS:-600}" --seed "$seed" --fsync 5 --out "$work/history.txt" \
	>"$work/linwork.log" 2>&1 &
linpid=$!
mkdir -p "$dir/mnt/m1/handoff"
"$top_builddir/handoff" --writer-dir "$dir/mnt/m1/handoff" --reader-dir "$dir/mnt/m3/handoff" \
	--rounds 1000000 --seconds "${FAILOVER_SECONDS:-600}" >"$work/handoff.out" 2>"$work/handoff.err" &
handoffpid=$!
sleep 3

mkdir -p "$dir/mnt/m1/probe"
echo "probe 0 before the faults" >"$dir/mnt/m1/probe/p0"
probes=0
for fault in $faults; do
	kind=${fault%%:*} role=${fault#*:}
	victim=$(role_node "$conf" "$role")
	[ -n "$victim" ] || fail "no $role in: $("$CTL" -c "$conf" status 2>&1)"
	before=$(epoch_line "$conf")
	grep -q "^probe $probes " "$dir/mnt/m4/probe/p$probes" || fail "m4 cannot read probe $probes"
	t0=$(date +%s%N)
	"$LC" "$kind" "$dir" "$victim"
	# The first write acknowledged after the fault waits through the
	# failover; so does the first read on the mount that only reads.
	probes=$((probes + 1))
	echo "probe $probes after the $kind of $victim" >"$dir/mnt/m2/probe/p$probes" ||
		fail "probe write $probes failed"
	t1=$(date +%s%N)
	note "$kind $role $victim: first acknowledged write after $(((t1 - t0) / 1000000)) ms"
	out=$(cat "$dir/mnt/m4/probe/p0" 2>&1) || fail "a read on m4 after the $kind of $victim: $out"
	t1=$(date +%s%N)
	note "  the first read on the mount that only reads: after $(((t1 - t0) / 1000000)) ms"
	wait_for 30 chain_is "$conf" 2 "$victim" || fail "chain did not drop $victim: $(epoch_line "$conf")"
	note "  $(epoch_line "$conf") (was: $before)"
	if [ "$kind" = stop ]; then
		sleep 1 # reads and writes go on without it, then it wakes up in the old epoch
		"$LC" cont "$dir" "$victim"
	elif [ "$kind" = partition ]; then
		sleep 1 # it fenced itself; it comes back in the old epoch, its links half-open
		"$LC" heal "$dir" "$victim"
	else
		"$LC" restart "$dir" "$victim" >/dev/null
	fi
	wait_for 60 chain_is "$conf" 3 || fail "$victim did not rejoin: $("$CTL" -c "$conf" status 2>&1)"
	[ "$(role_node "$conf" tail)" = "$victim" ] || fail "$victim rejoined, but not as the tail: $("$CTL" -c "$conf" status 2>&1)"
	note "  rejoined: $(epoch_line "$conf")"
	probes=$((probes + 1))
	echo "probe $probes after $victim rejoined" >"$dir/mnt/m3/probe/p$probes" ||
		fail "probe write $probes failed"
done
sleep 2
kill -USR1 "$linpid" "$handoffpid" 2>/dev/null || true
wait "$linpid" || fail "linwork failed: $(tail -n 5 "$work/linwork.log")"
hrc=0
wait "$handoffpid" || hrc=$?
sed "s/^/$test_name: handoff /" "$work/handoff.out"
[ $hrc -eq 0 ] || fail "handoff (status $hrc): $(head -n 5 "$work/handoff.err")"
hrounds=$(awk '/^reader:/ { print $2 }' "$work/handoff.out")
[ "${hrounds:-0}" -ge "${FAILOVER_MIN_ROUNDS:-200}" ] ||
	fail "handoff made only ${hrounds:-0} rounds, fewer than ${FAILOVER_MIN_ROUNDS:-200}"

check_history "$work/history.txt" "$seed"
for ((i = 1; i <= probes; i++)); do
	grep -q "^probe $i " "$dir/mnt/m1/probe/p$i" || fail "acknowledged probe write $i is lost"
done
wait_for 30 settled "$conf" || fail "the replicas do not agree: $("$CTL" -c "$conf" status 2>&1)"
snaps=$(cat "$dir"/n*.log | grep -c 'snapshot in:' || true)
note "rejoins by snapshot: $snaps"
if [ -n "${FAILOVER_RETAIN:-}" ] && [ "$snaps" -lt 1 ]; then
	fail "log-retain $FAILOVER_RETAIN, yet no node rejoined by snapshot"
fi
passed
