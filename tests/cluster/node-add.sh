#!/usr/bin/env bash
# chainfsctl node add of a node that no host's configuration file lists,
# under load, with data on the chain: a 3-node chain holds NODEADD_MIB MiB
# of files (64 here; `NODEADD_MIB=1024` by hand for the issue's 1 GiB), then
# linwork runs 3 mounts x 2 processes while a fourth node, n4, starts with a
# file of its own and is added with its address (node add n4 HOST:PORT, in
# etcd for every host).  It must sync while the writes go on and become the
# tail; the mounts, whose files name only n1..n3, must then read from it.
# Afterwards: lincheck finds the history linearizable, every file reads back
# with its checksum through every mount, and the four replicas' digests agree.
. "${srcdir:-.}/tests/cluster/lib.sh"

mib=${NODEADD_MIB:-64}
seed=${LIN_SEED:-$RANDOM}
start_cluster c --nodes 3 --mounts 3 --lease-ttl 2
dir="$work/c"
conf="$dir/chainfs.conf"
base=$(awk '$1 == "node" && $2 == "n1" { n = split($3, a, ":"); print a[n] }' "$conf")
port4=$((base + 12)) # start_cluster reserved 16 ports; 3 nodes and 1 etcd use 5

# Data on the chain before n4 exists.
mkdir "$dir/mnt/m1/data"
files=$(((mib + 15) / 16))
for ((i = 0; i < files; i++)); do
	head -c $((16 << 20)) /dev/urandom >"$dir/mnt/m1/data/f$i" || fail "writing data file $i"
done
(cd "$dir/mnt/m1/data" && md5sum f*) >"$work/sums"

# Bad requests are refused with a reason, and change nothing.
out=$("$CTL" -c "$conf" node add n4 2>&1) && fail "node add of an unknown node without an address worked: $out"
echo "$out" | grep -q "give its address" || fail "node add n4 without an address said: $out"
out=$("$CTL" -c "$conf" node add n4 127.0.0.1:1,127.0.0.1:2 2>&1) && fail "node add with two addresses worked"
echo "$out" | grep -q "not one host:port" || fail "node add with two addresses said: $out"
out=$("$CTL" -c "$conf" node add n1 127.0.0.1:1 2>&1) && fail "node add of a file's node with an address worked"
echo "$out" | grep -q "its address is there" || fail "node add n1 ADDR said: $out"
note "node add without an address, with two, or for a node of the file: refused"

# n4: a certificate from the same CA, a file of its own that lists it.
"$CTL" cert node "$dir/tls" n4 127.0.0.1,localhost >/dev/null
conf4="$dir/n4.conf"
{
	cat "$conf"
	echo "node n4 127.0.0.1:$port4 data data/n4 cert tls/n4.crt key tls/n4.key"
} >"$conf4"
mkdir -p "$dir/data/n4"
setsid "$top_builddir/chainfsd" -c "$conf4" -n n4 >>"$dir/n4.log" 2>&1 </dev/null &
procs+=($!)
n4_registered() { grep -q "registered with etcd" "$dir/n4.log"; }
wait_for 20 n4_registered || fail "n4 did not register: $(tail -n 5 "$dir/n4.log")"
sleep 2
chain_is "$conf" 3 || fail "n4 joined before it was added: $(epoch_line "$conf")"

"$top_builddir/linwork" --dir "$dir/mnt/m1" --dir "$dir/mnt/m2" --dir "$dir/mnt/m3" \
	--procs 2 --duration 600 --seed "$seed" --out "$work/history.txt" \
	>"$work/linwork.log" 2>&1 &
linpid=$!
procs+=($linpid)
sleep 2
t0=$(date +%s%N)
"$CTL" -c "$conf" node add n4 "127.0.0.1:$port4" >/dev/null || fail "node add n4 failed"
wait_for 300 chain_is "$conf" 4 || fail "n4 did not join: $("$CTL" -c "$conf" status 2>&1)"
t1=$(date +%s%N)
[ "$(role_node "$conf" tail)" = n4 ] || fail "n4 joined, not as the tail: $(epoch_line "$conf")"
ms=$(((t1 - t0) / 1000000))
note "n4 added with $mib MiB on the chain, under load: the tail after $ms ms" \
	"($((mib * 1000 / (ms > 0 ? ms : 1))) MiB/s); $(epoch_line "$conf")"
grep -q "snapshot in:" "$dir/n4.log" && note "n4 synced by snapshot" || note "n4 synced from the log"
sleep 2
kill -USR1 "$linpid" 2>/dev/null || true
wait "$linpid" || fail "linwork failed: $(tail -n 5 "$work/linwork.log")"

# The mounts' files name n1..n3 only: they learned n4 from the nodes.
for m in m1 m2 m3; do
	(cd "$dir/mnt/$m/data" && md5sum -c --quiet "$work/sums") >/dev/null 2>&1 ||
		fail "the data files do not read back through $m"
done
"$CTL" -c "$conf" ping n4 >/dev/null || fail "chainfsctl with a file without n4 cannot reach it"
check_history "$work/history.txt" "$seed"
wait_for 30 settled "$conf" || fail "the replicas do not agree: $("$CTL" -c "$conf" status 2>&1)"
[ "$(digests "$conf" | wc -l)" -eq 4 ] || fail "status does not show four nodes: $(digests "$conf")"
# An added node is removed like any other; an unknown name is refused.
"$CTL" -c "$conf" node remove n4 >/dev/null || fail "node remove n4 failed"
wait_for 20 chain_is "$conf" 3 n4 || fail "n4 still in the chain: $(epoch_line "$conf")"
out=$("$CTL" -c "$conf" node remove n5 2>&1) && fail "node remove of an unknown n5 worked"
echo "$out" | grep -q "nor added by command" || fail "node remove n5 said: $out"
note "n4 removed by command: $(epoch_line "$conf"); n5 (unknown): refused"
passed
