#!/usr/bin/env bash
# chainfsctl status against a running 3-node chain: three nodes, equal
# digests, exit 0; with one node stopped it names that node and exits 1.
. "${srcdir:-.}/tests/cluster/lib.sh"

start_cluster c --nodes 3
conf="$work/c/chainfs.conf"
"$LOADGEN" -c "$conf" -k 2 -l 2 -n 500 >/dev/null || fail "load"
wait_for 30 settled "$conf" || fail "not settled"
out=$("$CTL" -c "$conf" status) || fail "status exit $? with every node up"
[ "$(echo "$out" | awk '$1 ~ /^n[0-9]$/ { print $8 }' | sort -u | wc -l)" -eq 1 ] || fail "digests differ: $out"
[ "$(echo "$out" | grep -c '^n[1-3] ')" -eq 3 ] || fail "not three nodes: $out"
echo "$out" | grep -q '^n1  *head ' && echo "$out" | grep -q '^n2  *middle ' &&
	echo "$out" | grep -q '^n3  *tail ' || fail "roles: $out"
json=$("$CTL" -c "$conf" status --json) || fail "status --json"
echo "$json" | grep -q '"agree":true' || fail "json does not say the replicas agree: $json"
[ "$(echo "$json" | grep -Eo '"address":"[^"]*","up":true' | wc -l)" -eq 3 ] ||
	fail "json: not three nodes up: $json"
[ "$(echo "$json" | grep -Eo '"endpoint":"[^"]*","up":true' | wc -l)" -eq 1 ] ||
	fail "json: not one etcd endpoint up: $json"
echo "$out" | grep -Eq '^etcd http://[0-9.:]+: ok, [0-9]+ ms$' || fail "no etcd health line: $out"

"$LC" kill "$work/c" n2
rc=0
out=$("$CTL" -c "$conf" status) || rc=$?
[ $rc -eq 1 ] || fail "status exit $rc with n2 down, want 1"
echo "$out" | grep -q '^n2 .*DOWN' || fail "status does not name n2: $out"
echo "$out" | grep -q '1 of 3 nodes down' || fail "no summary: $out"
rc=0
"$CTL" -c "$conf" ping n2 >/dev/null || rc=$?
[ $rc -eq 1 ] || fail "ping n2 exit $rc, want 1"
"$CTL" -c "$conf" ping n1 >/dev/null || fail "ping n1"
rc=0
"$CTL" -c "$conf" ping nosuch >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "ping of an unknown node exit $rc, want 2"
"$LC" restart "$work/c" n2 >/dev/null
wait_for 30 settled "$conf" || fail "not settled after n2 came back"
passed
