#!/usr/bin/env bash
# Clients with valid certificates that never read their replies: eight
# connections pipelining 1 MiB reads from the tail, and one client that
# pipelines writes to the head while never reading its tail connection,
# where their replies go.  With client-output-max 4M and output-budget 16M
# the tail's queued output and memory stay within the budget (from its
# metrics and /proc), the head cuts the writer at 8192 updates in flight,
# every offender is disconnected with a line saying why, and a
# well-behaved client's load completes meanwhile, every answer right.
. "${srcdir:-.}/tests/cluster/lib.sh"

command -v curl >/dev/null 2>&1 || fail "curl is not installed (see tools/install-deps)"
HOG="$top_builddir/hog"
SECS=${HOG_SECS:-20}
BUDGET_MB=16
MAX_MB=4

base=$(free_port_base 11)
start_cluster c --nodes 3 --mounts 1 --etcd 0 --port-base "$base" --metrics-base $((base + 8))
dir="$work/c"
conf="$dir/chainfs.conf"
mnt="$dir/mnt/m1"
printf 'output-budget %dM\nclient-output-max %dM\n' $BUDGET_MB $MAX_MB >>"$conf"
for n in n1 n2 n3; do "$LC" restart "$dir" "$n" >/dev/null; done
wait_for 30 settled "$conf" || fail "not settled after the restart with the new limits"
grep -q "output-budget" "$conf" || fail "the limits are not in $conf"

dd if=/dev/urandom of="$mnt/big" bs=1M count=4 status=none || fail "cannot write the file to read"
ino=$(stat -c %i "$mnt/big")
pid=$(cat "$dir/n3.pid")
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"; }
metric() {
	curl -sS --max-time 5 "http://127.0.0.1:$((base + 10))/metrics" 2>/dev/null |
		awk -v m="$1" '$1 == m && !done { print $2; done = 1 }'
}

# A well-behaved client alone, for comparison.
"$LOADGEN" -c "$conf" -k 2 -l 2 -n 3000 >"$work/alone.out" || fail "loadgen alone: $(cat "$work/alone.out")"
rss_before=$(rss_kb)

"$HOG" -c "$conf" reads 127.0.0.1 $((base + 2)) "$ino" 8 "$SECS" >"$work/hog-reads.out" 2>&1 &
hr=$!
procs+=("$hr")
"$HOG" -c "$conf" updates 127.0.0.1 "$base" $((base + 2)) "$ino" "$SECS" >"$work/hog-updates.out" 2>&1 &
hu=$!
procs+=("$hu")

# The same client while the hogs run; sample the tail meanwhile.
sleep 1
"$LOADGEN" -c "$conf" -k 2 -l 2 -n 3000 -t 60000 >"$work/during.out" 2>&1 &
lg=$!
procs+=("$lg")
max_rss=0 max_q=0 samples=0
while kill -0 "$hr" 2>/dev/null && [ $samples -lt $((SECS * 10)) ]; do
	samples=$((samples + 1))
	r=$(rss_kb)
	[ "$r" -gt $max_rss ] && max_rss=$r
	q=$(metric chainfs_output_queued_bytes)
	[ -n "$q" ] || fail "the tail's metrics did not answer"
	[ "$q" -gt $max_q ] && max_q=$q
	sleep 0.5
done
wait "$lg" || fail "the well-behaved client failed beside the hogs: $(cat "$work/during.out")"
wait "$hr" || fail "hog reads: $(cat "$work/hog-reads.out")"
wait "$hu" || fail "hog updates: $(cat "$work/hog-updates.out")"
grep -q " 0 wrong" "$work/during.out" || fail "wrong answers beside the hogs: $(cat "$work/during.out")"
rate() { grep -o '([0-9]* ops/s)' "$1" | tr -d '()'; }
note "a well-behaved client alone: $(rate "$work/alone.out"); beside the hogs: $(rate "$work/during.out")"
note "hogs: $(grep -c 'stopped taking' "$work/hog-reads.out") of 8 readers and the writer stalled;" \
	"writer sent $(awk '{ print $3 }' "$work/hog-updates.out") updates"
cut=$(metric chainfs_clients_cut_total)
peak=$(metric chainfs_output_queued_peak_bytes)
by_budget=$(grep -c "hog-reads .*disconnected: the node's output budget is spent" "$dir/n3.log" || true)
by_limit=$(grep -c "hog-reads .*disconnected: over the limit of one connection" "$dir/n3.log" || true)
note "tail: readers cut $by_budget times by the node's budget, $by_limit times by client-output-max"
note "writer, at the head: $(grep -m1 'hog-updates .*disconnected: ' "$dir/n1.log" | sed 's/^.*disconnected: //')"
note "tail: at most $((peak / 1024)) KiB queued (budget ${BUDGET_MB} MiB), resident" \
	"$rss_before -> at most $max_rss kB; $cut clients cut"

# Every offender was cut, with a reason: the readers by the tail, the
# writer by the head once 8192 of its updates were in flight.
grep -q "hog-reads .*disconnected: " "$dir/n3.log" ||
	fail "no reading hog was disconnected: $(tail -n 5 "$dir/n3.log")"
grep -q "hog-updates .*disconnected: 8192 updates in flight and no answer acknowledged" "$dir/n1.log" ||
	fail "the head did not cut the hog that writes and never reads: $(grep hog-updates "$dir/n1.log" | tail -n 3)"
[ "$cut" -ge 1 ] || fail "the tail's chainfs_clients_cut_total is $cut"
# Eight readers growing together pass the budget of 16 MiB before any of
# them passes 4 MiB: the budget must have cut some.
[ "$by_budget" -ge 1 ] || fail "the tail's output budget cut nobody"
# Past the budget no peer with a queue is read any more, so the most ever
# queued is the budget, and a 1 MiB answer for each of the nine peers.
[ "$peak" -le $(((BUDGET_MB + 9) << 20)) ] ||
	fail "$peak bytes queued on the tail at most, over the budget of $BUDGET_MB MiB"
[ "$max_q" -le "$peak" ] || fail "a sample saw $max_q bytes queued, more than the peak $peak"
# Memory: the budget, one connection past it, and room for TLS buffers.
# AddressSanitizer keeps freed memory in its quarantine, so only a plain
# build is held to it (distcheck runs this test in one).
if ! sanitized_build; then
	[ "$max_rss" -lt $((rss_before + (BUDGET_MB + MAX_MB + 24) * 1024)) ] ||
		fail "the tail's resident memory grew from $rss_before to $max_rss kB"
fi

wait_for 60 settled "$conf" || { "$CTL" -c "$conf" status; fail "not settled after the hogs"; }
sleep 2 # the node gives dropped output back at most once a second
rss_after=$(rss_kb)
note "tail afterwards: $rss_after kB resident ($rss_before before the hogs)"
if ! sanitized_build; then
	[ "$rss_after" -lt $((rss_before + 16384)) ] ||
		fail "the tail kept its memory: $rss_before kB before, $rss_after kB after"
fi
"$LOADGEN" -c "$conf" -k 2 -l 2 -n 500 >/dev/null || fail "the chain does not work after the hogs"
passed
