#!/usr/bin/env bash
# Slowloris against the tail, without a certificate: 1,200 connections from
# eight addresses, half of them trickling a byte of a TLS record every
# second, half idle, reopened a second after the node drops them, and 100 more
# on its metrics port; the node's descriptor limit is 1,024.  Meanwhile a
# mount keeps writing, chainfsctl keeps asking the tail, the metrics are
# scraped, and the middle node is killed and restarted and must get its
# link to the tail back.  The tail's descriptors, pending connections,
# memory and log stay bounded, and its memory goes back down afterwards
# (memory only in a build without AddressSanitizer, see below).
. "${srcdir:-.}/tests/cluster/lib.sh"

command -v curl >/dev/null 2>&1 || fail "curl is not installed (see tools/install-deps)"
TRICKLE="$top_builddir/trickle"
NOFILE=1024
export CHAINFS_NODE_NOFILE=$NOFILE
SECS=${SLOWLORIS_SECS:-40}

base=$(free_port_base 11)
start_cluster c --nodes 3 --mounts 1 --etcd 0 \
	--port-base "$base" --metrics-base $((base + 8))
conf="$work/c/chainfs.conf"
mnt="$work/c/mnt/m1"
tail_port=$((base + 2))
tail_metrics=$((base + 10))
pid=$(cat "$work/c/n3.pid")
log="$work/c/n3.log"

fds() { ls "/proc/$pid/fd" | wc -l; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"; }
# metric NAME: one value from the tail's metrics, in at most three tries of
# 5 s (a connect may wait in the listen queue behind the attacker's); empty
# when none answers.
metric() {
	local i v
	for i in 1 2 3; do
		v=$(curl -sS --max-time 5 "http://127.0.0.1:$tail_metrics/metrics" 2>/dev/null |
			awk -v m="$1" '$1 == m && !done { print $2; done = 1 }') || true
		[ -z "$v" ] || { echo "$v"; return 0; }
	done
}

# Warm up, so that "before" is a node that has served.
"$LOADGEN" -c "$conf" -k 2 -l 2 -n 2000 >/dev/null || fail "warm-up load"
wait_for 30 settled "$conf" || fail "not settled before the attack"
fds_before=$(fds)
rss_before=$(rss_kb)
log_before=$(stat -c %s "$log")
note "before: $fds_before descriptors, $rss_before kB resident"

srcs=()
for i in 1 2 3 4 5 6 7 8; do srcs+=(-s "127.0.3.$i"); done
"$TRICKLE" "${srcs[@]}" 127.0.0.1 "$tail_port" 600 600 "$SECS" 1000 >"$work/trickle.out" &
attack=$!
procs+=("$attack")
"$TRICKLE" -s 127.0.4.1 -s 127.0.4.2 -s 127.0.4.3 -s 127.0.4.4 127.0.0.1 "$tail_metrics" \
	50 50 "$SECS" 1000 >"$work/trickle-metrics.out" &
attack_m=$!
procs+=("$attack_m")

# The mount writes one file after another; each must complete.
(
	i=0
	end=$((SECONDS + SECS - 5))
	while [ $SECONDS -lt $end ] && [ $i -lt 100000 ]; do
		i=$((i + 1))
		timeout 30 sh -c "echo 'file $i' >'$mnt/f$i'" || { echo "write $i failed" >&2; exit 1; }
		echo "$i" >"$work/written"
	done
) 2>"$work/writer.err" &
writer=$!
procs+=("$writer")

# Sample the tail while the attack runs; ask it with chainfsctl; restart n2.
max_fds=0 max_rss=0 max_pending=0 samples=0 asked=0 restarted=0
end=$((SECONDS + SECS - 3))
while [ $SECONDS -lt $end ] && [ $samples -lt 1000 ]; do
	samples=$((samples + 1))
	f=$(fds) r=$(rss_kb)
	[ "$f" -gt $max_fds ] && max_fds=$f
	[ "$r" -gt $max_rss ] && max_rss=$r
	p=$(metric 'chainfs_connections{role="pending"}')
	[ -n "$p" ] || fail "the tail's metrics did not answer during the attack (sample $samples)"
	[ "${p%.*}" -gt $max_pending ] && max_pending=${p%.*}
	if [ $((samples % 3)) -eq 0 ]; then
		timeout 20 "$CTL" -c "$conf" ping n3 >/dev/null ||
			fail "chainfsctl ping n3 failed during the attack (sample $samples)"
		asked=$((asked + 1))
	fi
	if [ $samples -eq 8 ]; then
		restart_at=$(date +%s.%N)
		"$LC" kill "$work/c" n2
		sleep 0.5
		"$LC" restart "$work/c" n2 >/dev/null
		restarted=1
	fi
	sleep 1
done
[ $restarted -eq 1 ] || fail "the attack ended before n2 was restarted"
kill -0 "$attack" 2>/dev/null || fail "the attacker stopped early: $(cat "$work/trickle.out")"
wait "$attack" || fail "trickle failed"
wait "$attack_m" || fail "trickle (metrics) failed"
note "attack on the chain port: $(cat "$work/trickle.out")"
note "attack on the metrics port: $(cat "$work/trickle-metrics.out")"
wait "$writer" || fail "the mount's writes failed: $(cat "$work/writer.err")"
written=$(cat "$work/written")
note "during: at most $max_fds descriptors, $max_pending pending, $max_rss kB resident;" \
	"$written files written through the mount, n3 asked $asked times"

# The node dropped the attackers, not the reverse.
opened=$(awk '{ print $2 }' "$work/trickle.out")
[ "$opened" -gt 1500 ] || fail "the node did not drop pending connections: $(cat "$work/trickle.out")"
[ "$max_fds" -lt $((NOFILE - 16)) ] || fail "descriptors reached $max_fds of $NOFILE"
[ "$max_pending" -le 256 ] || fail "$max_pending pending connections, more than the cap"
# AddressSanitizer holds freed memory in its quarantine (256 MB) and never
# gives it back, by design: the memory bounds are checked in a plain build
# (distcheck runs this test in one).
sanitized=0
sanitized_build && sanitized=1
[ $sanitized -eq 1 ] || [ "$max_rss" -lt $((rss_before + 65536)) ] ||
	fail "resident memory grew from $rss_before to $max_rss kB"
! grep -q "Too many open files" "$log" || fail "the tail ran out of descriptors"
[ "$written" -ge 10 ] || fail "only $written files written in ${SECS}s"

# The restarted middle node got its link to the tail back while under attack.
awk '/predecessor n2 connected/ { n++ } END { exit n >= 2 ? 0 : 1 }' "$log" ||
	fail "n2 did not reconnect to the tail after its restart"
wait_for 60 settled "$conf" || { "$CTL" -c "$conf" status; fail "not settled after the attack"; }
for ((i = 1; i <= written; i++)); do
	[ "$(cat "$mnt/f$i")" = "file $i" ] || fail "f$i lost or wrong after the attack"
done

# Afterwards: descriptors back, memory given back, the log bounded.
wait_for 20 sh -c "[ \$(ls /proc/$pid/fd | wc -l) -le $((fds_before + 4)) ]" ||
	fail "descriptors did not come back: $(fds), $fds_before before"
sleep 2 # the node trims its heap at most once a second
fds_after=$(fds) rss_after=$(rss_kb)
log_bytes=$(($(stat -c %s "$log") - log_before))
note "after: $fds_after descriptors, $rss_after kB resident; $log_bytes bytes of log during the attack"
[ $sanitized -eq 1 ] || [ "$rss_after" -lt $((rss_before + 16384)) ] ||
	fail "resident memory not returned: $rss_before kB before, $rss_after kB after"
[ "$log_bytes" -lt $((SECS * 4096)) ] || fail "$log_bytes bytes of log in ${SECS}s"
passed
