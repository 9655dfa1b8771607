#!/usr/bin/env bash
# When the chain is unreachable the mount stays up, operations fail with EIO
# after the mount's timeout, and once the nodes are back the next operation
# works without remounting; umount never hangs.
. "${srcdir:-.}/tests/cluster/lib.sh"

export CHAINFS_MOUNT_OPTS=timeout=3
start_cluster c --nodes 3 --mounts 1
d="$work/c"
m="$d/mnt/m1"
echo before >"$m/f"

for n in n1 n2 n3; do "$LC" kill "$d" "$n"; done
start=$(date +%s)
rc=0
out=$(timeout 20 stat "$m/f" 2>&1) || rc=$?
took=$(($(date +%s) - start))
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "stat with every node down: exit $rc after $took s"
echo "$out" | grep -q "Input/output error" || fail "stat said: $out"
[ $took -le 10 ] || fail "stat took $took s with timeout=3"
awk -v m="$m" '$2 == m { f = 1 } END { exit !f }' /proc/mounts || fail "the mount went away"
note "with the chain down: EIO after $took s, mount still there"

for n in n3 n2 n1; do "$LC" restart "$d" "$n" >/dev/null; done
# Each restarted node first waits for its old etcd lease to run out, and the
# master may first drop a node whose old registration it still saw, then take
# it back: a write in between may wait longer than timeout=3 and fail, as it
# should.  Once the chain is whole again, the mount must work by itself.
wait_for 60 chain_is "$d/chainfs.conf" 3 ||
	fail "the chain did not come back whole: $("$CTL" -c "$d/chainfs.conf" status 2>&1)"
got=$(cat "$m/f" 2>&1) || fail "read after recovery: $got"
[ "$got" = before ] || fail "read after recovery: '$got', not 'before'"
out=$( (echo after >"$m/f") 2>&1) || fail "write after recovery: $out"
[ "$(cat "$m/f")" = after ] || fail "read of the write after recovery"
note "reconnected by itself"

# umount with the chain down does not hang.
for n in n1 n2 n3; do "$LC" kill "$d" "$n"; done
timeout 20 fusermount3 -u "$m" || fail "umount hung or failed with the chain down"
passed
