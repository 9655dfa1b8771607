#!/usr/bin/env bash
# A node frozen with SIGSTOP in the middle of a load, first the middle, then
# the tail: the chain waits for it, nothing is answered wrongly, and once it
# runs again every request completes and the replicas agree.
. "${srcdir:-.}/tests/cluster/lib.sh"

start_cluster c --nodes 3
conf="$work/c/chainfs.conf"
for n in n2 n3; do
	pid=$(cat "$work/c/$n.pid")
	"$LOADGEN" -c "$conf" -k 4 -l 4 -n 20000 -t 60000 >"$work/load.$n" 2>&1 &
	load=$!
	sleep 0.3
	kill -STOP "$pid"
	kill -0 $load 2>/dev/null || { kill -CONT "$pid"; fail "the load ended before $n was frozen"; }
	sleep 2
	# Frozen, it answers nothing; the others still do.
	"$CTL" -c "$conf" ping n1 >/dev/null || { kill -CONT "$pid"; fail "n1 stopped answering while $n was frozen"; }
	kill -CONT "$pid"
	rc=0
	timeout 120 tail --pid=$load -f /dev/null || rc=$?
	wait $load || rc=$?
	cat "$work/load.$n"
	[ $rc -eq 0 ] || fail "load with $n frozen for 2 s: exit $rc"
	wait_for 30 settled "$conf" || { "$CTL" -c "$conf" status; fail "not settled after $n ran again"; }
	note "$n frozen for 2 s under load: every answer right, replicas agree"
done
passed
