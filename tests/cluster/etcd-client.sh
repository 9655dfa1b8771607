#!/usr/bin/env bash
# The etcd client (replication/etcd.c, through etcdtool) against a real etcd:
# binary keys and values, compare-and-swap, leases, watches in order from a
# revision and across an etcd restart, compaction, failover past a dead
# endpoint, a clear error when every endpoint is dead, TLS with the server's
# certificate and address verified.
. "${srcdir:-.}/tests/cluster/lib.sh"
sanitizers_suffice

T="$top_builddir/etcdtool"
command -v etcd >/dev/null || fail "no etcd: tools/install-deps installs etcd-server"
command -v etcdctl >/dev/null || fail "no etcdctl: tools/install-deps installs etcd-client"

base=$(free_port_base 6)
cport=$base          # plain HTTP clients
pport=$((base + 1))  # etcd's peer port
dead=$((base + 2))   # nothing listens here
dead2=$((base + 3))
tport=$((base + 4))  # TLS clients on 127.0.0.1
t2port=$((base + 5)) # TLS clients on 127.0.0.2, which the certificate does not name
EP=http://127.0.0.1:$cport
etcd_pid=
bg_pids=() # etcdtool runs in the background

pki="$work/pki"
mkdir -p "$pki"
"$CTL" cert ca "$pki" >/dev/null
"$CTL" cert node "$pki" etcd 127.0.0.1,localhost >/dev/null
"$CTL" cert client "$pki" tool >/dev/null

# Starts etcd in $work/etcd (a restart keeps the data) and waits until it answers.
start_etcd() {
	etcd --name e1 --data-dir "$work/etcd" \
		--listen-client-urls "$EP,https://127.0.0.1:$tport,https://127.0.0.2:$t2port" \
		--advertise-client-urls "$EP" \
		--listen-peer-urls "http://127.0.0.1:$pport" \
		--initial-advertise-peer-urls "http://127.0.0.1:$pport" \
		--initial-cluster "e1=http://127.0.0.1:$pport" \
		--cert-file "$pki/etcd.crt" --key-file "$pki/etcd.key" \
		--trusted-ca-file "$pki/ca.crt" --client-cert-auth \
		>>"$work/etcd.log" 2>&1 &
	etcd_pid=$!
	wait_for 20 "$T" --timeout 500 --endpoints "$EP" get ready || fail "etcd does not answer"
}

# Stops etcd: TERM, and KILL when it is still there after 10 s.
stop_etcd() {
	local i
	[ -n "$etcd_pid" ] || return 0
	kill "$etcd_pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$etcd_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$etcd_pid" 2>/dev/null || true
	wait "$etcd_pid" 2>/dev/null || true
	etcd_pid=
}

# Stops etcd and etcdtool on every exit, shows etcd's log on failure, then lib.sh's cleanup.
etcd_cleanup() {
	local rc=$? p
	for p in "${bg_pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	stop_etcd
	if [ $rc -ne 0 ] || [ $failed -ne 0 ]; then
		echo "--- last lines of $work/etcd.log"
		tail -n 20 "$work/etcd.log" 2>/dev/null || true
	fi
	set +e # so that the status can be handed on to cleanup through $?
	(exit $rc)
	cleanup
}
trap etcd_cleanup EXIT

t() { "$T" --endpoints "$EP" "$@"; }
rev_of() { sed -n 's/^rev=\([0-9]*\)$/\1/p'; }
mod_of() { sed -n 's/.*mod=\([0-9]*\) .*/\1/p'; }
key_absent() { [ "$(t get "$1")" = absent ]; }
lines_at_least() { [ "$(wc -l <"$1")" -ge "$2" ]; }

start_etcd

note "binary keys and values"
k='bin\x00\x01\xff/\x0akey'
v='v\x00\\\xfe\x20end\x7f'
t put "$k" "$v" | grep -q '^rev=' || fail "put"
out=$(t get "$k")
[ "${out##*value=}" = "$v" ] || fail "get returned '$out', want value=$v"
t put empty '' >/dev/null
t get empty | grep -q ' version=1 lease=0 value=$' || fail "an empty value: $(t get empty)"
big=$(head -c 90000 /dev/urandom | base64 -w 0) # 120 kB: one argument holds 128 kB
t put big "$big" >/dev/null || fail "put of 120 kB"
out=$(t get big)
[ "${out##* value=}" = "$big" ] || fail "120 kB did not come back"
[ "$(t get nothere)" = absent ] || fail "an absent key"

note "compare-and-swap"
r1=$(t put cask one | rev_of)
out=$(t cas cask "$r1" two) || fail "cas on the right revision: $out"
r2=$(echo "$out" | sed -n 's/^ok rev=//p')
[ "$r2" -gt "$r1" ] || fail "cas answered '$out'"
rc=0
out=$(t cas cask "$r1" three) || rc=$?
[ $rc -eq 3 ] || fail "cas on a stale revision exited $rc: $out"
[ "$out" = "failed mod=$r2 create=$r1 version=2 lease=0 value=two" ] || fail "stale cas said '$out'"
[ "$(t get cask | mod_of)" = "$r2" ] || fail "a failed cas changed the key"
out=$(t cas newkey 0 first) || fail "create-if-absent on an absent key: $out"
rc=0
out=$(t cas newkey 0 second) || rc=$?
[ $rc -eq 3 ] && echo "$out" | grep -q '^failed mod=[0-9]* .* value=first$' ||
	fail "create-if-absent on an existing key: exit $rc, '$out'"
[ "$(t del newkey)" = deleted ] && [ "$(t del newkey)" = absent ] || fail "delete"

note "a lease outlives its TTL while renewed, and ends when it is not"
timeout 20 "$T" --endpoints "$EP" lease-put leased held 2 4 >"$work/lease.out" 2>&1 &
lease_pid=$!
bg_pids+=($lease_pid)
wait_for 5 grep -q '^rev=' "$work/lease.out" || fail "lease-put did not put: $(cat "$work/lease.out")"
sleep 3 # past the TTL: only the renewals keep the key
t get leased | grep -q 'value=held$' || fail "a renewed lease's key vanished"
wait $lease_pid || fail "lease-put failed: $(cat "$work/lease.out")"
grep -q '^stopped renewing$' "$work/lease.out" || fail "lease-put: $(cat "$work/lease.out")"
wait_for 8 key_absent leased ||
	fail "the key outlived its lease: $(t get leased)"

note "watch: puts and deletes in order from a revision"
w1=$(t put w/a 1 | rev_of)
t put w/b 2 >/dev/null
t put wx outside >/dev/null
t del w/a >/dev/null
w4=$(t put w/a 3 | rev_of)
out=$(timeout 10 "$T" --endpoints "$EP" watch w/ "$w1" 4) || fail "watch: $out"
want="PUT key=w/a value=1 mod=$w1
PUT key=w/b value=2 mod=$((w1 + 1))
DELETE key=w/a mod=$((w1 + 3))
PUT key=w/a value=3 mod=$w4"
[ "$out" = "$want" ] || fail "watch delivered:
$out
want:
$want"
out=$(timeout 10 "$T" --endpoints "$EP" watch w/ "$((w1 + 2))" 2) || fail "watch: $out"
[ "$out" = "$(echo "$want" | tail -n 2)" ] || fail "watch from a later revision: $out"

note "failover past a dead endpoint"
both="http://127.0.0.1:$dead,$EP"
"$T" --endpoints "$both" put fo 1 2>/dev/null | grep -q '^rev=' || fail "put with the first endpoint dead"
"$T" --endpoints "$both" get fo 2>/dev/null | grep -q 'value=1$' || fail "get with the first endpoint dead"
out=$("$T" --endpoints "$both" cas fo 0 2 2>/dev/null) || true
echo "$out" | grep -q '^failed .*value=1$' || fail "cas with the first endpoint dead: $out"
out=$(timeout 10 "$T" --endpoints "$both" watch w/ "$w4" 1 2>/dev/null) || fail "watch: $out"
[ "$out" = "PUT key=w/a value=3 mod=$w4" ] || fail "watch with the first endpoint dead: $out"

note "a watch is made again from the next revision when etcd restarts"
r0=$(t put r/0 x | rev_of)
timeout 30 "$T" --timeout 10000 --endpoints "$EP" watch r/ "$((r0 + 1))" 4 >"$work/watch.out" 2>"$work/watch.err" &
watch_pid=$!
bg_pids+=($watch_pid)
t put r/1 a >/dev/null
t put r/2 b >/dev/null
wait_for 5 lines_at_least "$work/watch.out" 2 || fail "watch: $(cat "$work/watch.out")"
stop_etcd
start_etcd
t put r/3 c >/dev/null
t del r/1 >/dev/null
wait $watch_pid || fail "the watch did not survive the restart: $(cat "$work/watch.out" "$work/watch.err")"
want="PUT key=r/1 value=a mod=$((r0 + 1))
PUT key=r/2 value=b mod=$((r0 + 2))
PUT key=r/3 value=c mod=$((r0 + 3))
DELETE key=r/1 mod=$((r0 + 4))"
[ "$(cat "$work/watch.out")" = "$want" ] || fail "watch across a restart:
$(cat "$work/watch.out")
want:
$want"
grep -q 'making it again from revision' "$work/watch.err" || fail "no sign of the broken stream"

note "a watch from a compacted revision reports the compaction"
etcdctl --endpoints "$EP" compact "$w4" >/dev/null
out=$(timeout 10 "$T" --endpoints "$EP" watch w/ "$w1" 1 2>/dev/null) || fail "watch: $out"
[ "$out" = "COMPACTED rev=$w4" ] || fail "watch from a compacted revision: $out"

note "every endpoint dead: a clear error within the timeout"
start=$(date +%s%N)
rc=0
out=$("$T" --timeout 2000 --endpoints "http://127.0.0.1:$dead,http://127.0.0.1:$dead2" get k 2>&1) || rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
[ $rc -eq 1 ] && echo "$out" | grep -q 'unreachable: no etcd endpoint answered within 2000 ms' ||
	fail "dead endpoints: exit $rc, '$out'"
[ $ms -lt 3000 ] || fail "dead endpoints took $ms ms"
rc=0
out=$(timeout 10 "$T" --timeout 1000 --endpoints "http://127.0.0.1:$dead" watch w/ 0 1 2>/dev/null) || rc=$?
[ $rc -eq 1 ] && [ "$out" = BROKEN ] || fail "a watch on a dead endpoint: exit $rc, '$out'"

note "TLS: the server's certificate and address are verified"
tls=(--cacert "$pki/ca.crt" --cert "$pki/tool.crt" --key "$pki/tool.key")
"$T" "${tls[@]}" --endpoints "https://127.0.0.1:$tport" put tk 'over\x20tls' | grep -q '^rev=' ||
	fail "put over TLS"
"$T" "${tls[@]}" --endpoints "https://127.0.0.1:$tport" get tk | grep -q 'value=over\\x20tls$' ||
	fail "get over TLS"
if [ "$(getent ahosts localhost | awk 'NR == 1 { print $1 }')" = 127.0.0.1 ]; then
	"$T" "${tls[@]}" --endpoints "https://localhost:$tport" get tk | grep -q 'value=over' ||
		fail "get over TLS by name"
fi
rc=0
out=$("$T" "${tls[@]}" --timeout 1000 --endpoints "https://127.0.0.2:$t2port" get tk 2>&1) || rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q 'TLS: certificate verify failed' ||
	fail "a certificate for another address was accepted: exit $rc, '$out'"
mkdir -p "$work/other"
"$CTL" cert ca "$work/other" --cn "another CA" >/dev/null
rc=0
out=$("$T" --cacert "$work/other/ca.crt" --cert "$pki/tool.crt" --key "$pki/tool.key" \
	--timeout 1000 --endpoints "https://127.0.0.1:$tport" get tk 2>&1) || rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q 'TLS: certificate verify failed' ||
	fail "a server from another CA was accepted: exit $rc, '$out'"
rc=0
out=$("$T" --timeout 1000 --endpoints "https://127.0.0.1:$tport" get tk 2>&1) || rc=$?
[ $rc -ne 0 ] && echo "$out" | grep -q 'https without a TLS context' ||
	fail "https without a TLS context: exit $rc, '$out'"

passed
