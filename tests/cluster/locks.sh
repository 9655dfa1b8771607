#!/usr/bin/env bash
# Locks across hosts (chainfs(8), LOCKS), with mounts as hosts:
#   1. every case of fcntl (ranges, splits, merges, upgrade and downgrade,
#      F_GETLK naming the other host's lock, EAGAIN, a wait granted, EINTR,
#      EDEADLK, closes, OFD locks) and flock answers as on a local file,
#      as root and as an unprivileged user;
#   2. flock around read-increment-write of a counter, 4 processes on each
#      of 3 mounts, 1000 increments each: the count is exact and no two
#      holds overlapped;
#   3. SQLite: processes on two mounts insert rows and bump a counter in
#      transactions: the counts are exact, integrity_check says ok;
#   4. the holder's chainfs killed (SIGKILL): a waiter on another mount gets
#      the lock once the lock lease ran out, not before;
#   5. a mount stopped past its lease loses its locks and says so: the
#      relock fails with ENOLCK, the write with EIO;
#   6. with failover: the tail, then the head, killed while processes on
#      two mounts contend: the count is exact, no overlap, digests agree.
. "${srcdir:-.}/tests/cluster/lib.sh"

LK="$top_builddir/lockcheck"
command -v sqlite3 >/dev/null 2>&1 || fail "sqlite3 is not installed (see tools/install-deps)"
# now_s: the time in seconds with a fraction; since T: seconds since then.
now_s() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%.2f", b - a }'; }
LEASE=4
start_cluster c --nodes 3 --etcd 0 --mounts 3 --lock-lease $LEASE
dir="$work/c"
conf="$dir/chainfs.conf"
m1="$dir/mnt/m1" m2="$dir/mnt/m2" m3="$dir/mnt/m3"

# 1. Conformance against a local file, as root and as nobody.
mkdir -p "$work/local"
echo x >"$work/local/f"
"$LK" cases "$work/local/f" "$work/local/f" >"$work/local.out" || fail "lockcheck on a local file"
echo x >"$m1/f"
"$LK" cases "$m1/f" "$m2/f" >"$work/chainfs.out" || fail "lockcheck on two mounts"
diff -u "$work/local.out" "$work/chainfs.out" || fail "two mounts answer unlike one local file"
note "$(grep -c . "$work/chainfs.out") lock steps on two mounts: as on a local file"
mkdir -m 777 "$m1/pub" "$work/local/pub"
chmod a+x "$work" "$work/local" "$dir" "$dir/mnt" # nobody walks to them
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
as_nobody sh -c "echo x >'$work/local/pub/f' && echo x >'$m1/pub/f'" || fail "nobody cannot create"
as_nobody "$LK" cases "$work/local/pub/f" "$work/local/pub/f" >"$work/local-nobody.out" ||
	fail "lockcheck as nobody on a local file"
as_nobody "$LK" cases "$m1/pub/f" "$m2/pub/f" >"$work/chainfs-nobody.out" ||
	fail "lockcheck as nobody on two mounts"
diff -u "$work/local-nobody.out" "$work/chainfs-nobody.out" ||
	fail "as nobody, two mounts answer unlike one local file"
note "as an unprivileged user: the same"

# 2. A counter under flock: 4 processes on each of 3 mounts, 1000 increments
# each (250 under the sanitizers, whose nodes are some ten times slower here).
per=1000
if sanitized_build; then per=250; fi
printf '%020d\n' 0 >"$m1/counter"
start=$(now_s)
pids=()
for m in "$m1" "$m2" "$m3"; do
	for i in 1 2 3 4; do
		"$LK" counter "$m/counter" $per "$work/holds-$(basename "$m")-$i" &
		pids+=($!)
	done
done
for p in "${pids[@]}"; do
	wait "$p" || fail "a counter process failed"
done
secs=$(since "$start")
count=$(tr -d '\n' <"$m2/counter")
[ "$((10#$count))" -eq $((12 * per)) ] || fail "the counter is $count, not $((12 * per))"
"$LK" intervals "$work"/holds-* >"$work/intervals.out" || fail "holds overlapped: $(cat "$work/intervals.out")"
note "counter: $((12 * per)) increments from 12 processes on 3 mounts in $secs s, exact;" \
	"$(cat "$work/intervals.out")"

# 3. SQLite on two mounts.
sql() { sqlite3 -cmd ".timeout 60000" "$@"; }
sql "$m1/db" "CREATE TABLE t(who TEXT, i INTEGER); CREATE TABLE c(n INTEGER); INSERT INTO c VALUES(0);"
start=$(now_s)
pids=()
for m in "$m1" "$m2"; do
	for p in 1 2; do
		(
			for ((i = 0; i < 50; i++)); do
				sql "$m/db" "BEGIN IMMEDIATE; INSERT INTO t VALUES('$(basename "$m")-$p', $i);" \
					"UPDATE c SET n = n + 1; COMMIT;" || exit 1
			done
		) &
		pids+=($!)
	done
done
for p in "${pids[@]}"; do
	wait "$p" || fail "an SQLite writer failed"
done
secs=$(since "$start")
rows=$(sql "$m2/db" "SELECT count(*) FROM t;")
n=$(sql "$m2/db" "SELECT n FROM c;")
ok=$(sql "$m1/db" "PRAGMA integrity_check;")
[ "$rows" = 200 ] && [ "$n" = 200 ] || fail "SQLite: $rows rows and a counter of $n, not 200"
[ "$ok" = ok ] || fail "SQLite integrity_check: $ok"
note "SQLite: 200 transactions from 4 processes on 2 mounts in $secs s; integrity ok"

# 4. The holder's mount killed: the waiter gets the lock after the lease, not before.
echo x >"$m1/k"
"$LK" hold "$m3/k" >"$work/hold.out" &
holder=$!
procs+=($holder)
wait_for 20 grep -q held "$work/hold.out" || fail "the holder on m3 did not get the lock"
"$LK" waitfor "$m1/k" >"$work/waitfor.out" &
waiter=$!
sleep 1
[ ! -s "$work/waitfor.out" ] || fail "m1 got the lock while m3 held it"
m3pid=$(cat "$dir/m3.pid")
killed=$(now_s)
kill -KILL "$m3pid"
wait "$waiter" || fail "the waiter on m1 failed"
got=$(cat "$work/waitfor.out")
after=$(awk -v a="$killed" -v b="$got" 'BEGIN { printf "%.2f", b - a }')
# The head heard m3 at most a quarter of the lease (and a tick) before the kill.
awk -v t="$after" -v l=$LEASE 'BEGIN { exit !(t >= l * 3 / 4 - 0.2 && t <= l + 3) }' ||
	fail "the waiter got the lock $after s after the holder's mount was killed (lease $LEASE s)"
grep -q "releasing its locks" "$dir/n1.log" || fail "the head did not say it released the locks"
note "holder's mount killed: the waiter got the lock $after s later (lock lease $LEASE s)"
kill -KILL "$holder" 2>/dev/null || true
umount -l "$m3" 2>/dev/null || fusermount3 -u -z "$m3" 2>/dev/null || true

# 5. A mount stopped past its lease loses its locks, and says so when it runs again.
echo x >"$m1/s"
"$LK" lost "$m2/s" >"$work/lost.out" &
loser=$!
procs+=($loser)
wait_for 20 grep -q held "$work/lost.out" || fail "the holder on m2 did not get the lock"
m2pid=$(cat "$dir/m2.pid")
kill -STOP "$m2pid"
"$LK" waitfor "$m1/s" >"$work/waitfor2.out" || { kill -CONT "$m2pid"; fail "m1 did not get the lock"; }
kill -CONT "$m2pid"
sleep 0.5
kill -USR1 "$loser"
wait "$loser" || fail "the holder on m2 failed"
grep -qx "relock=ENOLCK write=EIO" "$work/lost.out" ||
	fail "after losing its lease, m2 answered: $(tail -n 1 "$work/lost.out")"
grep -q "locks lost on 1 files" "$dir/m2.log" || fail "m2 did not log that it lost its locks"
note "m2 stopped past its lease: m1 got the lock; m2 then refused the relock (ENOLCK) and the write (EIO)"
"$CTL" -c "$conf" status >"$work/status.out"
wait_for 10 settled "$conf" || fail "the replicas do not agree: $(cat "$work/status.out")"

# 6. Failover while processes on two mounts contend for a lock.
start_cluster f --nodes 3 --etcd 1 --mounts 2
fdir="$work/f"
fconf="$fdir/chainfs.conf"
printf '%020d\n' 0 >"$fdir/mnt/m1/counter"
pids=()
for m in m1 m2; do
	for i in 1 2; do
		"$LK" counter "$fdir/mnt/$m/counter" 300 "$work/fholds-$m-$i" &
		pids+=($!)
	done
done
sleep 1
tail=$(role_node "$fconf" tail)
"$LC" kill "$fdir" "$tail"
wait_for 30 chain_is "$fconf" 2 "$tail" || fail "the chain did not drop the killed tail $tail"
"$LC" restart "$fdir" "$tail" >/dev/null
head=$(role_node "$fconf" head)
sleep 1
"$LC" kill "$fdir" "$head"
wait_for 30 chain_is "$fconf" 2 "$head" || fail "the chain did not drop the killed head $head"
for p in "${pids[@]}"; do
	wait "$p" || fail "a counter process failed across the failovers"
done
count=$(tr -d '\n' <"$fdir/mnt/m2/counter")
[ "$((10#$count))" -eq 1200 ] || fail "after the failovers the counter is $count, not 1200"
"$LK" intervals "$work"/fholds-* >"$work/fintervals.out" ||
	fail "holds overlapped across the failovers: $(cat "$work/fintervals.out")"
"$LC" restart "$fdir" "$head" >/dev/null
wait_for 60 chain_is "$fconf" 3 || fail "the killed head did not rejoin"
wait_for 30 settled "$fconf" || fail "the replicas do not agree after the failovers"
note "failovers (tail $tail, then head $head) under contention: 1200 exact, $(cat "$work/fintervals.out")," \
	"replicas agree"
passed
