#!/usr/bin/env bash
# Membership by command under load: chainfsctl node remove takes the tail,
# then the head out of a 3-node chain while they still run (the new tail
# waits out the old one), node list shows it, node add brings them back as
# tails; linwork runs on 2 mounts x 3 processes throughout and lincheck must
# find the history linearizable; the replicas' digests agree at the end.
. "${srcdir:-.}/tests/cluster/lib.sh"

start_cluster c --nodes 3 --mounts 2 --lease-ttl 2
dir="$work/c"
conf="$dir/chainfs.conf"
seed=${LIN_SEED:-$RANDOM}

members() {
	"$CTL" -c "$conf" status 2>/dev/null | awk '/^epoch/ { sub(/^epoch [0-9]*: /, ""); sub(/, master.*/, ""); gsub(/ -> /, " "); print }'
}

# True when the chain is exactly the arguments, in order (evaluated at each poll).
members_are() {
	test "$(members)" = "$*"
}

"$top_builddir/linwork" --dir "$dir/mnt/m1" --dir "$dir/mnt/m2" --procs 3 --duration 600 \
	--seed "$seed" --out "$work/history.txt" >"$work/linwork.log" 2>&1 &
linpid=$!
sleep 2

"$CTL" -c "$conf" node remove n3 >/dev/null || fail "node remove n3 failed"
wait_for 20 members_are n1 n2 || fail "n3 still in the chain: $(members)"
"$CTL" -c "$conf" node list >"$work/list.txt" || fail "node list failed"
grep -Eq '^n3 .* out +yes +yes$' "$work/list.txt" || fail "node list: $(cat "$work/list.txt")"
note "n3 removed: $(members)"
"$CTL" -c "$conf" node remove n1 >/dev/null || fail "node remove n1 failed"
wait_for 20 members_are n2 || fail "n1 still in the chain: $(members)"
note "n1 removed: $(members)"
echo "written by a chain of one" >"$dir/mnt/m1/one" || fail "the chain of one took no write"
"$CTL" -c "$conf" node add n3 >/dev/null || fail "node add n3 failed"
wait_for 30 members_are n2 n3 || fail "n3 did not come back: $(members)"
"$CTL" -c "$conf" node add n1 >/dev/null || fail "node add n1 failed"
wait_for 30 members_are n2 n3 n1 || fail "n1 did not come back: $(members)"
note "both back: $(members)"
"$CTL" -c "$conf" node remove nobody >/dev/null 2>&1 && fail "removing an unknown node worked"
sleep 2
kill -USR1 "$linpid"
wait "$linpid" || fail "linwork failed: $(tail -n 3 "$work/linwork.log")"
check_history "$work/history.txt" "$seed"
grep -q "written by a chain of one" "$dir/mnt/m2/one" || fail "the write to the chain of one is lost"
wait_for 30 settled "$conf" || fail "the replicas do not agree: $("$CTL" -c "$conf" status 2>&1)"
passed
