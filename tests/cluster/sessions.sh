#!/usr/bin/env bash
# Client sessions end: with session-ttl 20, the results and floors of
# clients that have gone quiet are dropped by an entry of the head's, on
# every node alike (the digests agree), and a new client is served as
# before.  A client whose request timeout is beyond half the TTL is cut
# down to it, saying so.
. "${srcdir:-.}/tests/cluster/lib.sh"

command -v curl >/dev/null 2>&1 || fail "curl is not installed (see tools/install-deps)"
TTL=20

base=$(free_port_base 11)
start_cluster c --nodes 3 --etcd 0 --port-base "$base" --metrics-base $((base + 8))
dir="$work/c"
conf="$dir/chainfs.conf"
echo "session-ttl $TTL" >>"$conf"
for n in n1 n2 n3; do "$LC" restart "$dir" "$n" >/dev/null; done
wait_for 30 settled "$conf" || fail "not settled after the restart with session-ttl $TTL"

# metric K NAME: one value from node nK.
metric() {
	curl -sS --max-time 5 "http://127.0.0.1:$((base + 8 + $1 - 1))/metrics" 2>/dev/null |
		awk -v m="$2" '$1 == m && !done { print $2; done = 1 }'
}
# all_sessions_gone: every node keeps no session and no result.
all_sessions_gone() {
	local k
	for k in 1 2 3; do
		[ "$(metric $k chainfs_client_sessions)" = 0 ] || return 1
		[ "$(metric $k chainfs_client_results)" = 0 ] || return 1
	done
}

"$LOADGEN" -c "$conf" -k 4 -l 2 -n 2000 -t 5000 >"$work/load.out" || fail "load: $(cat "$work/load.out")"
wait_for 30 settled "$conf" || fail "not settled after the load"
for k in 1 2 3; do
	s=$(metric $k chainfs_client_sessions) r=$(metric $k chainfs_client_results)
	[ -n "$s" ] && [ "$s" -ge 4 ] || fail "n$k keeps $s sessions after 4 clients"
	note "n$k after the load: $s sessions, $r results"
done
start=$SECONDS
wait_for $((3 * TTL + 10)) all_sessions_gone ||
	fail "sessions not dropped within $((3 * TTL + 10)) s: n1 $(metric 1 chainfs_client_sessions), n3 $(metric 3 chainfs_client_sessions)"
note "every node dropped every session $((SECONDS - start)) s after the load ended (TTL $TTL s)"
grep -q "expiring the sessions of clients silent for $TTL s" "$dir/n1.log" || fail "the head did not say it expired sessions"
wait_for 30 settled "$conf" || { "$CTL" -c "$conf" status; fail "the replicas disagree after the expiry"; }

# A client again: served, and its session kept.
"$LOADGEN" -c "$conf" -k 1 -l 1 -n 200 -t 60000 >"$work/again.out" 2>&1 || fail "load after the expiry: $(cat "$work/again.out")"
grep -q "request timeout of 60 s is beyond half the chain's session-ttl of $TTL s" "$work/again.out" ||
	fail "a 60 s timeout was not cut down to half the TTL: $(cat "$work/again.out")"
[ "$(metric 3 chainfs_client_sessions)" -ge 1 ] || fail "the new client has no session"
wait_for 30 settled "$conf" || fail "not settled at the end"
passed
