#!/usr/bin/env bash
# The metrics endpoint of every node: Prometheus text (0.0.4) that parses,
# counters that follow the traffic, 404 and 405 for anything but GET
# /metrics, bad HTTP answered without harm, a refused TLS handshake
# counted, and an endpoint that idle, trickling or oversized requests
# cannot starve: a scrape still answers, and every connection ends by its
# deadline.
. "${srcdir:-.}/tests/cluster/lib.sh"

command -v curl >/dev/null 2>&1 || fail "curl is not installed (see tools/install-deps)"

# Chain and metrics ports from one free range so that they cannot collide;
# this --port-base overrides the one start_cluster picks.
base=$(free_port_base 11)
start_cluster c --nodes 3 --port-base "$base" --metrics-base $((base + 8))
conf="$work/c/chainfs.conf"

# url K [PATH]: node nK's endpoint.
url() { echo "http://127.0.0.1:$((base + 8 + $1 - 1))${2:-/metrics}"; }

# code K PATH [CURL ARGS...]: the HTTP status of one request, bounded.
code() {
	local k=$1 path=$2
	shift 2
	curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "$@" "$(url "$k" "$path")"
}

# scrape K FILE: node nK's metrics into FILE; fails unless 200 and Prometheus text.
scrape() {
	local k=$1 out=$2 got ctype
	got=$(curl -sS --max-time 5 -o "$out" -w '%{http_code} %{content_type}' "$(url "$k")") ||
		fail "n$k: cannot fetch $(url "$k")"
	ctype=${got#* }
	[ "${got%% *}" = 200 ] || fail "n$k: /metrics answered ${got%% *}"
	[ "$ctype" = "text/plain; version=0.0.4; charset=utf-8" ] || fail "n$k: content type '$ctype'"
	check_format "$out" || fail "n$k: not Prometheus text:$(printf '\n'; cat "$out")"
}

# check_format FILE: every sample line is well formed and its metric has
# HELP and TYPE before it; the text ends with a newline.
check_format() {
	[ "$(tail -c 1 "$1" | od -An -c | tr -d ' ')" = '\n' ] || { echo "no final newline"; return 1; }
	awk '
	/^# HELP / { help[$3] = 1; next }
	/^# TYPE / { type[$3] = $4; next }
	/^#/ || /^$/ { next }
	!/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [0-9.eE+-]+$/ { bad = bad "bad line: " $0 "\n"; next }
	{
		name = $0
		sub(/[{ ].*/, "", name)
		base = name
		if (!(base in type)) {
			sub(/_(bucket|sum|count)$/, "", base)
			if (type[base] != "histogram")
				base = name
		}
		if (!(base in type) || !(base in help))
			bad = bad "no HELP or TYPE before " name "\n"
		samples++
	}
	END {
		if (samples == 0)
			bad = bad "no samples\n"
		printf "%s", bad
		exit bad != ""
	}' "$1"
}

# value FILE SAMPLE: the value of one sample, name and labels exactly as written.
value() {
	awk -v s="$2" '$1 == s { v = $2; found = 1 } END { if (!found) v = "missing"; print v }' "$1"
}

# total FILE NAME: the sum of a metric over all its labels.
total() {
	awk -v m="$2" '!/^#/ { n = $1; sub(/\{.*/, "", n); if (n == m) { s += $2; found = 1 } }
		END { if (found) print s; else print "missing" }' "$1"
}

# grew NAME BEFORE AFTER: fails unless the metric (summed) grew.  A labelled
# metric has no samples until its first event: missing before counts as 0.
grew() {
	local b a
	b=$(total "$2" "$1")
	a=$(total "$3" "$1")
	[ "$b" != missing ] || b=0
	if [ "$a" = missing ] || [ "$a" -le "$b" ]; then
		fail "$1 did not grow: $b -> $a ($3)"
	fi
}

for k in 1 2 3; do
	scrape $k "$work/before.$k"
done
[ "$(value "$work/before.1" 'chainfs_node_info{node="n1",role="head"}')" = 1 ] || fail "n1 is not the head"
[ "$(value "$work/before.3" 'chainfs_node_info{node="n3",role="tail"}')" = 1 ] || fail "n3 is not the tail"

timeout 300 "$LOADGEN" -c "$conf" -k 2 -l 4 -n 2000 || fail "loadgen"
wait_for 30 settled "$conf" || fail "not settled"

for k in 1 2 3; do
	scrape $k "$work/after.$k"
	grew chainfs_entries_applied_total "$work/before.$k" "$work/after.$k"
	applied=$(value "$work/after.$k" chainfs_entries_applied_total)
	# Every entry applied was timed, and nothing is left unacknowledged.
	[ "$(value "$work/after.$k" chainfs_apply_seconds_count)" = "$applied" ] ||
		fail "n$k: apply_seconds_count is not the $applied entries applied"
	[ "$(value "$work/after.$k" chainfs_applied_sn)" = "$applied" ] || fail "n$k: applied_sn"
	[ "$(value "$work/after.$k" chainfs_sent_list_entries)" = 0 ] || fail "n$k: sent list not empty"
done
grew chainfs_requests_total "$work/before.1" "$work/after.1"
grew chainfs_requests_total "$work/before.3" "$work/after.3"
grew chainfs_updates_total "$work/before.1" "$work/after.1"
grew chainfs_bytes_replicated_total "$work/before.1" "$work/after.1"
grew chainfs_bytes_replicated_total "$work/before.2" "$work/after.2"
[ "$(total "$work/after.3" chainfs_request_seconds_count)" -gt 0 ] || fail "the tail timed no read"
[ "$(total "$work/after.1" chainfs_request_seconds_count)" = missing ] ||
	fail "the head timed requests it never answered"
[ "$(value "$work/after.2" 'chainfs_connections{role="predecessor"}')" = 1 ] || fail "n2: predecessor"
[ "$(value "$work/after.2" 'chainfs_connections{role="successor"}')" = 1 ] || fail "n2: successor"
[ "$(value "$work/after.3" 'chainfs_connections{role="successor"}')" = 0 ] || fail "n3: successor"
note "after traffic: n1 $(total "$work/after.1" chainfs_requests_total) requests," \
	"n3 $(total "$work/after.3" chainfs_requests_total) requests, $applied entries on each"

# Only GET (or HEAD) /metrics.
[ "$(code 1 /nope)" = 404 ] || fail "/nope did not answer 404"
[ "$(code 2 /)" = 404 ] || fail "/ did not answer 404"
[ "$(code 1 /metrics -X POST -d x=1)" = 405 ] || fail "POST did not answer 405"
[ "$(code 3 /metrics -X DELETE)" = 405 ] || fail "DELETE did not answer 405"
[ "$(code 1 /metrics -I)" = 200 ] || fail "HEAD did not answer 200"

# Garbage is refused by the HTTP parser; the node keeps serving and replicating.
exec 3<>"/dev/tcp/127.0.0.1/$((base + 8))"
printf 'NOT HTTP \001\002\r\n\r\n' >&3
reply=$(timeout 5 head -c 12 <&3 || true)
exec 3<&-
[ "$reply" = "HTTP/1.1 400" ] || fail "garbage got '$reply', want a 400"
scrape 1 "$work/garbage.1"

# Idle and half-sent connections cannot starve the endpoint: a scrape that
# comes after them closes the oldest and is answered.  All of these come
# from 127.0.0.1, one source, so at most 4 stay open.
mport=$((base + 8 + 1))
fds=()
for i in $(seq 1 40); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$mport" || fail "idle connection $i refused"
	fds+=("$fd")
done
for i in $(seq 1 10); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$mport" || fail "partial connection $i refused"
	fds+=("$fd")
	# In a subshell: a write to a connection already closed must not kill the test.
	(printf 'GET /metr' >&"$fd") 2>/dev/null || true
done
scrape 2 "$work/crowd.2"
for fd in "${fds[@]}"; do
	exec {fd}>&-
done
for s in 'chainfs_pending_evicted_total{listener="chain"}' \
	'chainfs_pending_evicted_total{listener="metrics"}' \
	'chainfs_accept_refused_total{reason="descriptors"}' \
	'chainfs_accept_refused_total{reason="clients"}'; do
	[ "$(value "$work/crowd.2" "$s")" != missing ] || fail "n2: no $s"
done
evicted=$(value "$work/crowd.2" 'chainfs_pending_evicted_total{listener="metrics"}')
[ "$evicted" -gt 0 ] || fail "n2: 50 idle connections evicted none"
note "n2 closed $evicted idle metrics connections to answer a scrape"

# A request head over 8 KB gets a 4xx, or at least a close, and no harm.
exec {big}<>"/dev/tcp/127.0.0.1/$mport"
({
	printf 'GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: '
	head -c 9000 /dev/zero | tr '\0' a
	printf '\r\n\r\n'
} >&"$big") 2>/dev/null || true
reply=$(timeout 5 head -c 12 <&"$big" 2>/dev/null || true)
exec {big}>&-
case $reply in
"" | "HTTP/1.1 4"*) ;;
*) fail "an oversized head got '$reply', want a 4xx or a close" ;;
esac
scrape 2 "$work/big.2"

# A trickle keeps no connection past its deadline (5 s from the accept):
# one byte every half second, and the node closes it all the same.
exec {slow}<>"/dev/tcp/127.0.0.1/$mport"
(
	printf 'GET /' >&"$slow"
	for i in $(seq 1 30); do
		sleep 0.5
		printf 'a' >&"$slow" || exit 0
	done
) 2>/dev/null &
writer=$!
start=$SECONDS
rc=0
timeout 10 cat <&"$slow" >/dev/null 2>&1 || rc=$?
took=$((SECONDS - start))
kill "$writer" 2>/dev/null || true
wait "$writer" 2>/dev/null || true
exec {slow}>&-
[ $rc -ne 124 ] || fail "a trickling connection was still open after 10 s"
[ $took -ge 3 ] || fail "a trickling connection was closed after ${took} s, before its deadline"
scrape 2 "$work/slow.2"

# A client trusting another CA aborts the handshake: every node counts it.
mkdir -p "$work/other"
"$CTL" cert ca "$work/other" --cn "some other CA" >/dev/null
rc=0
"$CTL" -c "$conf" -A "$work/other/ca.crt" status >/dev/null 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "a client trusting another CA reached the nodes (exit $rc)"
tls_counted() {
	local k f
	for k in 1 2 3; do
		f="$work/tls.$k"
		scrape $k "$f"
		[ "$(value "$f" 'chainfs_tls_handshake_failures_total{direction="in"}')" -gt \
			"$(value "$work/after.$k" 'chainfs_tls_handshake_failures_total{direction="in"}')" ] ||
			return 1
	done
}
wait_for 10 tls_counted || fail "a failed handshake was not counted on every node"
[ "$(value "$work/tls.1" 'chainfs_tls_handshake_failures_total{direction="out"}')" = 0 ] ||
	fail "n1 counted failures on its own successor link"

"$LOADGEN" -c "$conf" -k 1 -l 2 -n 200 >/dev/null || fail "chain does not work after the scrapes"
wait_for 30 settled "$conf" || fail "not settled at the end"
passed
