#!/usr/bin/env bash
# Bad input and bad luck around etcd, on a 3-node chain with a 3-member etcd:
#   - one etcd member of three killed under load: nothing stops, the
#     history stays linearizable;
#   - a configuration key written by something else: logged, not followed,
#     the chain goes on in its epoch;
#   - a second node started under a name that is registered: it waits for
#     the name, then refuses to run, and the real node stays in the chain;
#   - a node whose etcd endpoints are dead or are not etcd at all: one clear
#     log line, and it answers no client;
#   - a node whose store holds another cluster's history: it refuses to
#     serve, and with an empty store it joins.
. "${srcdir:-.}/tests/cluster/lib.sh"
sanitizers_suffice

base=$(free_port_base 16)
clusters+=("$work/c")
"$LC" start "$work/c" --port-base "$base" --nodes 3 --mounts 2 --etcd 3 --lease-ttl 2 >/dev/null
dir="$work/c"
conf="$dir/chainfs.conf"
etcd1="http://127.0.0.1:$((base + 3))"

epoch_of() {
	"$CTL" -c "$conf" status 2>/dev/null | awk '/^epoch/ { sub(":", "", $2); print $2 }'
}

# 1. One etcd member of three down under load.
seed=${LIN_SEED:-$RANDOM}
"$top_builddir/linwork" --dir "$dir/mnt/m1" --dir "$dir/mnt/m2" --procs 3 --duration 12 \
	--seed "$seed" --out "$work/history.txt" >"$work/linwork.log" 2>&1 &
linpid=$!
sleep 3
e0=$(epoch_of)
"$LC" etcd-kill "$dir" 1
t0=$(date +%s%N)
echo "written with e1 down" >"$dir/mnt/m1/e1-down" || fail "a write failed with one etcd member down"
t1=$(date +%s%N)
note "etcd e1 killed: a write took $(((t1 - t0) / 1000000)) ms"
wait "$linpid" || fail "linwork failed: $(tail -n 3 "$work/linwork.log")"
check_history "$work/history.txt" "$seed"
[ "$(epoch_of)" = "$e0" ] || fail "the chain reconfigured ($e0 -> $(epoch_of)) though no node failed"
# status tells the dead member from the live ones.
st=$("$CTL" -c "$conf" status 2>&1) || fail "status with e1 down: $st"
echo "$st" | grep -q "^etcd $etcd1: DOWN: " || fail "status does not show e1 down: $st"
[ "$(echo "$st" | grep -c '^etcd http://[0-9.:]*: ok, [0-9]* ms$')" -eq 2 ] ||
	fail "status does not show the two live etcd members: $st"
note "status: $(echo "$st" | grep "^etcd $etcd1")"
"$LC" etcd-start "$dir" 1

# 2. A configuration key written by something else.
key=$(printf '/chainfs/chainfs/config' | base64 -w0)
orig=$(curl -sf -X POST -d "{\"key\":\"$key\"}" "http://127.0.0.1:$((base + 5))/v3/kv/range" |
	sed -n 's/.*"value":"\([^"]*\)".*/\1/p')
[ -n "$orig" ] || fail "cannot read the configuration key"
val=$(printf '{"epoch":"99","chain":["n1","intruder"],"extra":1}' | base64 -w0)
curl -sf -X POST -d "{\"key\":\"$key\",\"value\":\"$val\"}" "http://127.0.0.1:$((base + 5))/v3/kv/put" \
	>/dev/null || fail "cannot write to etcd"
wait_for 10 grep -q "was not written by chainfs" "$dir"/n1.log "$dir"/n2.log "$dir"/n3.log ||
	fail "no node said the configuration key is foreign"
echo after >"$dir/mnt/m2/after-foreign-key" || fail "the chain stopped after a foreign key"
[ "$(epoch_of)" = "$e0" ] || fail "a node followed the foreign key: epoch $(epoch_of)"
note "foreign configuration key: logged, not followed, epoch $e0 kept"
# An operator puts the real one back; the master may change it again.
curl -sf -X POST -d "{\"key\":\"$key\",\"value\":\"$orig\"}" \
	"http://127.0.0.1:$((base + 5))/v3/kv/put" >/dev/null || fail "cannot restore the configuration key"

# 3. A second node claims the registered name n2.
sed -e "s|^node n2 127.0.0.1:[0-9]* data data/n2|node n2 127.0.0.1:$((base + 15)) data data/n2-impostor|" \
	"$conf" >"$dir/impostor.conf"
grep -q "n2-impostor" "$dir/impostor.conf" || fail "could not write the impostor's configuration"
rc=0
timeout 30 "$top_builddir/chainfsd" -c "$dir/impostor.conf" -n n2 -l info \
	>"$work/impostor.log" 2>&1 || rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "the impostor ran (status $rc)"
grep -q "two nodes claim the name n2" "$work/impostor.log" ||
	fail "the impostor did not say why: $(tail -n 3 "$work/impostor.log")"
"$CTL" -c "$conf" status | grep -q '^epoch.*n2' || fail "n2 left the chain"
note "a second n2: refused ($(grep -c . "$work/impostor.log") log lines, status $rc)"

# 4. Endpoints that are dead, or not etcd.
for ep in "http://127.0.0.1:$((base + 14))" "http://127.0.0.1:$((base + 0))"; do
	sed -e "s|^coordinator etcd .*|coordinator etcd $ep|" \
		-e "s|^node n3 127.0.0.1:[0-9]* data data/n3|node n3 127.0.0.1:$((base + 13)) data data/n3-lost|" \
		"$conf" >"$dir/lost.conf"
	"$top_builddir/chainfsd" -c "$dir/lost.conf" -n n3 -l info >"$work/lost.log" 2>&1 &
	lost=$!
	wait_for 10 grep -q "etcd $ep" "$work/lost.log" || {
		kill -KILL $lost
		fail "no log line about etcd at $ep: $(tail -n 3 "$work/lost.log")"
	}
	kill -0 $lost || fail "the node exited at once with etcd unreachable"
	kill -TERM $lost
	wait $lost || true
	note "etcd at $ep: $(grep -m1 "etcd $ep" "$work/lost.log" | sed 's/^[0-9:.]* //')"
done
# 5. A store from another cluster.
other="$work/other"
clusters+=("$other")
"$LC" start "$other" --port-base "$(free_port_base 16)" --nodes 3 --mounts 0 --lease-ttl 2 >/dev/null
"$LC" stop "$other" >/dev/null
"$LC" kill "$dir" n3
rm -rf "$dir/data/n3"
cp -a "$other/data/n3" "$dir/data/n3"
rc=0
timeout 60 "$top_builddir/chainfsd" -c "$conf" -n n3 -l info >"$work/foreign.log" 2>&1 || rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "a store of another cluster was served (status $rc)"
grep -q "holds the history of cluster" "$work/foreign.log" ||
	fail "no reason given: $(tail -n 3 "$work/foreign.log")"
note "a store of another cluster: refused: $(grep -o 'holds the history of cluster [0-9a-f]*' "$work/foreign.log")"
rm -rf "$dir/data/n3"
mkdir -p "$dir/data/n3"
"$LC" restart "$dir" n3 >/dev/null
wait_for 60 settled "$conf" || fail "the replicas do not agree: $("$CTL" -c "$conf" status 2>&1)"
passed
