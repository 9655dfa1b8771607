#!/usr/bin/env bash
# A client whose certificate is not from the cluster's CA is refused in the
# TLS handshake, so is a plaintext client; the chain keeps working.
. "${srcdir:-.}/tests/cluster/lib.sh"

start_cluster c --nodes 3
conf="$work/c/chainfs.conf"

mkdir -p "$work/other"
"$CTL" cert ca "$work/other" --cn "some other CA" >/dev/null
"$CTL" cert client "$work/other" intruder >/dev/null
rc=0
out=$("$CTL" -c "$conf" -C "$work/other/intruder.crt" -K "$work/other/intruder.key" status 2>&1) || rc=$?
[ $rc -eq 1 ] || fail "status with a foreign certificate exited $rc, want 1: $out"
[ "$(echo "$out" | grep -c 'DOWN')" -eq 3 ] || fail "a node accepted a foreign certificate: $out"

# A client holding the right CA but a foreign key pair is refused too.
rc=0
"$CTL" -c "$conf" -A "$work/other/ca.crt" status >/dev/null 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "a client trusting another CA reached the nodes (exit $rc)"

# Plaintext against TLS nodes.
sed -e '/^ca /d' -e '/^cert /d' -e '/^key /d' -e 's/ cert .*//' "$conf" >"$work/plain.conf"
sed -i '1i plaintext yes' "$work/plain.conf"
sed -i "s# data data/# data $work/c/data/#" "$work/plain.conf"
rc=0
"$CTL" -c "$work/plain.conf" status >/dev/null 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "a plaintext client reached a TLS node (exit $rc)"

grep -qi 'tls\|certificate\|handshake' "$work/c/n1.log" || fail "node log says nothing about the refusal"
"$LOADGEN" -c "$conf" -k 2 -l 4 -n 1000 || fail "chain does not work after the refusals"
wait_for 30 settled "$conf" || fail "not settled"
passed
