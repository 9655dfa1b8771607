#!/usr/bin/env bash
# 3 nodes, 8 concurrent clients, 20,000 mixed updates and reads checked
# against a model; replicas agree with empty sent lists; then every node is
# SIGKILLed and restarted: same digests, nothing acknowledged lost.
. "${srcdir:-.}/tests/cluster/lib.sh"

start_cluster c --nodes 3
conf="$work/c/chainfs.conf"
"$LOADGEN" -c "$conf" -k 8 -l 8 -n 20000 --model "$work/model" || fail "loadgen found wrong answers"
wait_for 30 settled "$conf" || { "$CTL" -c "$conf" status; fail "replicas did not settle"; }
before=$(digests "$conf")
note "settled: $(echo "$before" | tr '\n' ' ')"
[ "$(echo "$before" | awk '{ print $3 }' | sort -u | wc -l)" -eq 1 ] || fail "digests differ"

for n in n1 n2 n3; do
	"$LC" kill "$work/c" "$n"
done
"$CTL" -c "$conf" status >/dev/null 2>&1 && fail "status succeeded with every node killed"
for n in n3 n2 n1; do
	"$LC" restart "$work/c" "$n" >/dev/null
done
wait_for 30 settled "$conf" || { "$CTL" -c "$conf" status; fail "not settled after restart"; }
after=$(digests "$conf")
[ "$before" = "$after" ] || fail "state changed across SIGKILL: before [$before] after [$after]"
"$LOADGEN" -c "$conf" --check "$work/model" || fail "acknowledged updates lost after SIGKILL"

# The chain still takes work after the restart.
"$LOADGEN" -c "$conf" -k 2 -l 4 -n 2000 || fail "loadgen after restart"
wait_for 30 settled "$conf" || fail "not settled after the second run"
passed
