#!/usr/bin/env bash
# Leases and recalls (DESIGN.md, "Coherent client caching"), on a fixed chain
# of 3 with two mounts as two hosts, and a third mount without leases but
# with attr_timeout=5 as the control that shows what a cache without recalls
# does:
#   - under a lease the kernel answers stat of an open file from its cache:
#     the tail sees (almost) no GETATTR for 200 of them;
#   - a change on m1 is recalled from m2 before chmod returns: m2's very
#     next fstat shows it, 20 times in a row, where the control shows stale
#     attributes;
#   - a holder whose chainfs is stopped (SIGSTOP) delays the writer by at
#     most its lease (5 s), never more, and sees the new state once it is
#     continued;
#   - an answer that depends on a recalled change (EEXIST) waits for it;
#     a recall lets go of a file the holder had closed (fs_ref.c);
#   - readahead kept under a lease is dropped when another mount writes;
#   - names in a directory m1 made and changed itself are answered by m1
#     (hardly a LOOKUP at the tail for 50 creates), and a change on m2 is
#     seen by m1 at once: created, removed and renamed names;
#   - a directory listed to its end by m1 tells it every name there is:
#     existing and missing names are answered without the tail, and m2's
#     changes are seen at once;
#   - small files' content is kept under a lease: read back without the
#     tail, and a change on either mount is seen by the other at once (also
#     by a holder that was stopped); so is the absence of a capability;
#   - a write that timed out on a mount and landed later is read there,
#     not what was read in between;
#   - the tail, restarted, answers only once the leases it granted before
#     could have run out (its "leases" horizon file).
. "${srcdir:-.}/tests/cluster/lib.sh"

command -v curl >/dev/null 2>&1 || fail "curl is not installed (see tools/install-deps)"

base=$(free_port_base 12)
start_cluster c --nodes 3 --etcd 0 --mounts 2 --port-base "$base" --metrics-base $((base + 8))
dir="$work/c"
conf="$dir/chainfs.conf"
m1="$dir/mnt/m1" m2="$dir/mnt/m2" m3="$work/m3"

# tail_metric NAME: a value from the tail (n3).
tail_metric() {
	curl -sS --max-time 5 "http://127.0.0.1:$((base + 10))/metrics" 2>/dev/null |
		awk -v m="$1" '$1 == m && !done { print $2; done = 1 }'
}
getattrs() { tail_metric 'chainfs_requests_total{op="getattr"}'; }

# The control: caches attributes for 5 s with no lease, so nothing recalls them.
mkdir -p "$m3"
setsid "$top_builddir/chainfs" -f -o "conf=$conf,lease=0,attr_timeout=5" \
	"127.0.0.1:$base" "$m3" >"$work/m3.log" 2>&1 </dev/null &
procs+=($!)
mounts+=("$m3")
wait_for 10 mountpoint -q "$m3" || fail "the control mount did not come up: $(cat "$work/m3.log")"

echo hello >"$m1/f"
# Two holders keep f open on m2 and on the control: fstat through /proc does
# no lookup, so it shows the kernel's cached attributes.  (Not this shell's
# own descriptors: every child would inherit them, and closing one on exit
# waits for the stopped m2.)
sleep 600 <"$m2/f" &
h2=$!
procs+=($h2)
sleep 600 <"$m3/f" &
h3=$!
procs+=($h3)
# fmode HOLDER: the mode of f as the holder's kernel has it.
fmode() { stat -L -c %a "/proc/$1/fd/0"; }
holds() { [ "$(readlink "/proc/$1/fd/0")" = "$2" ]; }
in_dir() { [ "$(readlink "/proc/$1/cwd")" = "$2" ]; }
wait_for 10 holds $h2 "$m2/f" || fail "the holder on m2 did not open f"
wait_for 10 holds $h3 "$m3/f" || fail "the holder on the control did not open f"

# 1. Cached under the lease: 200 fstats, hardly a GETATTR at the tail.
[ "$(fmode $h2)" = 644 ] || fail "m2 sees mode $(fmode $h2), not 644"
before=$(getattrs)
for ((i = 0; i < 200; i++)); do fmode $h2 >/dev/null; done
after=$(getattrs)
grants=$(tail_metric chainfs_lease_grants_total)
note "200 fstats on m2 under a lease: $((after - before)) GETATTRs at the tail; $grants leases granted so far"
# A lease lasts 5 s; 200 fstats need a few at most, even under ASan.
[ $((after - before)) -le 20 ] || fail "$((after - before)) GETATTRs for 200 cached fstats"

# 2. Recalled before the writer's chmod returns.
acked0=$(tail_metric 'chainfs_recalls_total{outcome="acked"}')
stale_control=0
for ((i = 0; i < 20; i++)); do
	mode=$(printf '%o' $((0600 + (i % 8) * 8)))
	fmode $h3 >/dev/null # the control caches the old mode
	chmod "$mode" "$m1/f"
	got=$(fmode $h2)
	[ "$got" = "$mode" ] || fail "round $i: m2 shows mode $got after m1's chmod $mode returned"
	[ "$(fmode $h3)" = "$mode" ] || stale_control=$((stale_control + 1))
done
acked=$(($(tail_metric 'chainfs_recalls_total{outcome="acked"}') - acked0))
note "20 chmods on m1: m2 fresh every time ($acked recalls acknowledged); the control without leases was stale $stale_control times"
[ "$acked" -ge 20 ] || fail "only $acked recalls acknowledged for 20 changes m2 held"
[ "$stale_control" -ge 10 ] || fail "the control was stale only $stale_control times: the test does not see the cache"

# 3. A holder that is stopped delays the writer by at most its lease.
fmode $h2 >/dev/null # m2 holds a lease again
pid2=$(cat "$dir/m2.pid")
ranout0=$(tail_metric 'chainfs_recalls_total{outcome="ran_out"}')
kill -STOP "$pid2"
t0=$(date +%s%N)
timeout 30 chmod 600 "$m1/f" || { kill -CONT "$pid2"; fail "chmod did not finish with a holder stopped"; }
t1=$(date +%s%N)
kill -CONT "$pid2"
waited=$(((t1 - t0) / 1000000))
ranout=$(($(tail_metric 'chainfs_recalls_total{outcome="ran_out"}') - ranout0))
note "m2 stopped: chmod on m1 waited $waited ms (lease 5000 ms); $ranout recall(s) ran out"
[ "$ranout" -ge 1 ] || fail "no recall ran out while m2 was stopped"
[ "$waited" -le 15000 ] || fail "the writer waited $waited ms, well past one lease"
[ "$(fmode $h2)" = 600 ] || fail "m2, continued, shows mode $(fmode $h2) instead of 600"
[ "$(cat "$m2/f")" = hello ] || fail "m2 cannot read the file after it was continued"

# 4. An answer that changes nothing waits behind the recall it depends on:
# m2 (stopped) holds directory d; a create of d/x on m1 waits for m2's lease,
# and an O_EXCL create of the same name, answered EEXIST by the tail, must not
# come back before it (it would show d/x to m1 while m2 still has the old d).
mkdir "$m1/d"
(cd "$m2/d" && exec sleep 600) &
hd=$!
procs+=($hd)
wait_for 10 in_dir $hd "$m2/d" || fail "the holder of d did not start"
stat -L -c %Y "/proc/$hd/cwd" >/dev/null # m2 leases d's attributes
kill -STOP "$pid2"
(timeout 30 touch "$m1/d/x"; date +%s%N >"$work/t_create") &
create=$!
sleep 0.5
rc=0
timeout 30 bash -c "set -o noclobber; echo >'$m1/d/x'" 2>/dev/null || rc=$?
t_excl=$(date +%s%N)
wait "$create" || true
kill -CONT "$pid2"
t_create=$(cat "$work/t_create")
note "O_EXCL create behind a recalled create: exit $rc, $(((t_create - t_excl) / 1000000)) ms before the create"
[ "$rc" -ne 0 ] || fail "the O_EXCL create of an existing name succeeded"
[ "$t_excl" -ge $((t_create - 200000000)) ] ||
	fail "EEXIST came $(((t_create - t_excl) / 1000000)) ms before the create it depends on"

# 5. A file m2 closed a moment ago stays held open on the chain there a
# while (fs/fs_ref.c); m1's unlink recalls m2's lease on it, and the recall
# lets it go: freed as the unlink lands, not after m2's idle time (5 s).
echo data >"$m2/d/o"
cat "$m2/d/o" >/dev/null
rm "$m1/d/o"
orphans_are() { [ "$(tail_metric chainfs_orphans)" = "$1" ]; }
wait_for 2 orphans_are 0 || fail "d/o, closed on m2, stayed open on the chain after its unlink"

# 6. Readahead under a lease: m2 reads a file in order in small reads (so
# chunks are asked ahead), m1 overwrites a part it has read ahead, and m2,
# reading on, sees the new bytes: the recall dropped its chunks.
head -c $((4 << 20)) /dev/urandom >"$m1/ra"
mkfifo "$work/go"
{
	dd bs=64k count=32 of="$work/ra.1" status=none
	read -r _ <"$work/go"
	dd bs=64k of="$work/ra.2" status=none
} <"$m2/ra" &
reader=$!
procs+=($reader)
has_size() { [ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -eq "$2" ]; }
wait_for 20 has_size "$work/ra.1" $((2 << 20)) || fail "the reader on m2 did not read 2 MiB"
head -c 65536 /dev/urandom | dd of="$m1/ra" bs=64k seek=48 conv=notrunc status=none
echo go >"$work/go"
wait "$reader" || fail "the reader on m2 failed"
tail -c +$(((2 << 20) + 1)) "$m1/ra" >"$work/ra.want"
cmp -s "$work/ra.2" "$work/ra.want" ||
	fail "m2 read on past a write on m1 and got old bytes: $(cmp "$work/ra.2" "$work/ra.want" | head -1)"
note "readahead on m2 dropped by m1's overwrite: the rest read as written"

# 6b. Names under our own changes: m1 makes a directory and creates 50 files
# in it, asking for each first; the tail sees hardly a lookup, since m1
# knows the directory it made is empty and what its own creates put there.
# (It is made in a directory no other mount holds: a reply held for a
# recall from other holders carries no lease.)  Each change on m2 is seen
# by m1 right after it returns.
lookups() { tail_metric 'chainfs_requests_total{op="lookup"}'; }
o1="$m1/mine/own" o2="$m2/mine/own"
mkdir "$m1/mine" "$o1"
l0=$(lookups)
for i in $(seq 1 50); do
	[ -e "$o1/f$i" ] || echo "$i" >"$o1/f$i"
done
l1=$(lookups)
note "50 stat+create in a directory m1 made: $((l1 - l0)) lookups at the tail"
[ $((l1 - l0)) -lt 10 ] || fail "$((l1 - l0)) lookups at the tail for 50 creates in m1's own directory"
[ "$(cat "$o1/f7")" = 7 ] || fail "m1 reads own/f7 as '$(cat "$o1/f7")'"
echo two >"$o2/from2"
[ -e "$o1/from2" ] || fail "m1 does not see own/from2 right after m2 created it"
rm "$o2/f1"
[ ! -e "$o1/f1" ] || fail "m1 still sees own/f1 after m2 removed it"
mv "$o2/f2" "$o2/g2"
[ ! -e "$o1/f2" ] && [ "$(cat "$o1/g2")" = 2 ] ||
	fail "m1 does not see m2's rename of own/f2 to own/g2"
mv "$o1/f3" "$o1/g3"
rm "$o1/f4"
[ ! -e "$o2/f3" ] && [ "$(cat "$o2/g3")" = 3 ] && [ ! -e "$o2/f4" ] ||
	fail "m2 does not see m1's rename of own/f3 and removal of own/f4"
[ ! -e "$o1/f3" ] && [ -e "$o1/g3" ] && [ ! -e "$o1/f4" ] ||
	fail "m1 does not see its own rename of own/f3 and removal of own/f4"
[ "$(ls "$o1" | wc -l)" = 49 ] || fail "m1 lists $(ls "$o1" | wc -l) names in own, not 49"
note "names kept by m1 for its own directory: m2's create, removal and rename seen at once"

# 6c. A listing read to its end under the lease: m2 fills a directory, m1
# lists it (several pages), then asks for 200 names there and 200 that are
# not; the tail sees no lookup.  m2's changes are seen by m1 at once.
mkdir "$m2/listed"
for i in $(seq 1 200); do echo "$i" >"$m2/listed/f$i"; done
[ "$(ls "$m1/listed" | wc -l)" = 200 ] || fail "m1 lists $(ls "$m1/listed" | wc -l) names, not 200"
l0=$(lookups)
for i in $(seq 1 200); do
	[ -e "$m1/listed/f$i" ] || fail "m1 does not see listed/f$i"
	[ ! -e "$m1/listed/g$i" ] || fail "m1 sees listed/g$i, which nobody made"
done
l1=$(lookups)
note "400 stats in a directory m1 listed: $((l1 - l0)) lookups at the tail"
[ $((l1 - l0)) -lt 10 ] || fail "$((l1 - l0)) lookups at the tail for 400 stats after a listing"
echo new >"$m2/listed/g1"
[ "$(cat "$m1/listed/g1")" = new ] || fail "m1 does not see listed/g1 right after m2 made it"
rm "$m2/listed/f9"
[ ! -e "$m1/listed/f9" ] || fail "m1 still sees listed/f9 after m2 removed it"

# 6d. A directory with more names than m1 keeps for one (4,096): listed to
# its end, it must not be taken as complete; every name is still found.
mkdir "$m2/big"
(cd "$m2/big" && seq 1 4200 | sed 's/^/n/' | xargs touch)
[ "$(ls "$m1/big" | wc -l)" = 4200 ] || fail "m1 lists $(ls "$m1/big" | wc -l) names in big, not 4200"
for i in $(seq 1 4200); do
	[ -e "$m1/big/n$i" ] || fail "m1 does not find big/n$i after listing big"
done
note "a listing of 4200 names, more than are kept: every name still found"

# 6e. The content of small files, kept under a lease: m1 reads back 50 files
# it wrote and m2 reads one twice, without asking the tail; a change on
# either mount (a rewrite, an append, a truncate) is seen by the other at
# once.
reads() { tail_metric 'chainfs_requests_total{op="read"}'; }
mkdir "$m1/kept"
for i in $(seq 1 50); do echo "content $i" >"$m1/kept/f$i"; done
r0=$(reads)
for i in $(seq 1 50); do
	[ "$(cat "$m1/kept/f$i")" = "content $i" ] || fail "m1 reads kept/f$i as '$(cat "$m1/kept/f$i")'"
done
r1=$(reads)
note "50 small files m1 wrote, read back by m1: $((r1 - r0)) reads at the tail"
[ $((r1 - r0)) -lt 5 ] || fail "$((r1 - r0)) reads at the tail for 50 files m1 wrote itself"
[ "$(cat "$m2/kept/f1")" = "content 1" ] || fail "m2 reads kept/f1 as '$(cat "$m2/kept/f1")'"
r0=$(reads)
[ "$(cat "$m2/kept/f1")" = "content 1" ] || fail "m2 reads kept/f1 again as '$(cat "$m2/kept/f1")'"
r1=$(reads)
[ $((r1 - r0)) = 0 ] || fail "m2 asked the tail $((r1 - r0)) times to read kept/f1 again"
echo changed >"$m1/kept/f1"
[ "$(cat "$m2/kept/f1")" = changed ] || fail "m2 reads kept/f1 as '$(cat "$m2/kept/f1")' after m1 rewrote it"
echo more >>"$m2/kept/f1"
[ "$(cat "$m1/kept/f1")" = "$(printf 'changed\nmore')" ] ||
	fail "m1 reads kept/f1 as '$(cat "$m1/kept/f1")' after m2 appended"
truncate -s 3 "$m2/kept/f2"
[ "$(cat "$m1/kept/f2")" = con ] || fail "m1 reads kept/f2 as '$(cat "$m1/kept/f2")' after m2 truncated it"
echo "content 3" >"$work/f3"
for f in "$m1/kept/f3" "$work/f3"; do
	dd if=/dev/zero of="$f" bs=1 seek=20 count=1 conv=notrunc status=none
done
cmp -s "$m2/kept/f3" "$work/f3" ||
	fail "m2 reads kept/f3 as '$(od -An -c "$m2/kept/f3")' after m1 wrote past its end"
# The holder of kept content stopped: the writer waits at most its lease,
# and the holder, continued, reads the new content.
[ "$(cat "$m2/kept/f4")" = "content 4" ] || fail "m2 reads kept/f4 as '$(cat "$m2/kept/f4")'"
kill -STOP "$pid2"
timeout 30 sh -c "echo rewritten >'$m1/kept/f4'" || { kill -CONT "$pid2"; fail "the rewrite of kept/f4 did not finish with m2 stopped"; }
kill -CONT "$pid2"
[ "$(cat "$m2/kept/f4")" = rewritten ] || fail "m2, continued, reads kept/f4 as '$(cat "$m2/kept/f4")'"
note "small files' content kept: read back without the tail, changes seen at once, also by a holder that was stopped"

# 6f. The absence of security.capability, kept under the lease too (the
# kernel asks for it before every truncate and write): five truncates on m1
# ask the tail once; a capability m2 then sets is seen by m1 at once, and
# m1's next truncate removes it, as m2 sees.
PC="$top_builddir/posixcheck"
cap=hex:0000000200040000000000000000000000000000
getxattrs() { tail_metric 'chainfs_requests_total{op="getxattr"}'; }
g0=$(getxattrs)
for i in 1 2 3 4 5; do truncate -s $i "$m1/kept/f5"; done
g1=$(getxattrs)
note "5 truncates on m1 of a file it holds: $((g1 - g0)) getxattr(security.capability) at the tail"
[ $((g1 - g0)) -le 1 ] || fail "$((g1 - g0)) getxattrs at the tail for 5 truncates of a file m1 holds"
"$PC" setxattr "$m2/kept/f5" security.capability "$cap" 0 >/dev/null ||
	fail "m2 cannot set a capability on kept/f5"
[ "$("$PC" getxattr "$m1/kept/f5" security.capability 0)" = 20 ] ||
	fail "m1 does not see the capability m2 set on kept/f5"
truncate -s 0 "$m1/kept/f5"
[ "$("$PC" getxattr "$m2/kept/f5" security.capability 0)" = ENODATA ] ||
	fail "m2 still sees a capability on kept/f5 after m1 truncated it"

# 6g. What tar and cp -p do to every file they make (create O_EXCL, write,
# set times, chown, chmod) asks the tail nothing: the chown's checks (is
# there a capability to remove, the current mode) are answered from the
# create's and the setattrs' leases.  A mode another host set since is not:
# m1's chown then clears the set-uid bit m2 set, and keeps the rest.
mkdir -p "$work/tree"
for i in $(seq 1 20); do echo "file $i" >"$work/tree/t$i"; done
tar -C "$work" -cf "$work/tree.tar" tree
mkdir "$m1/untar"
ga0=$(getattrs) gx0=$(getxattrs)
tar -C "$m1/untar" -xf "$work/tree.tar"
ga1=$(getattrs) gx1=$(getxattrs)
note "tar x of 20 files on m1: $((ga1 - ga0)) getattrs, $((gx1 - gx0)) getxattrs at the tail"
[ $((ga1 - ga0)) -le 2 ] || fail "$((ga1 - ga0)) getattrs at the tail for tar x of 20 files"
[ $((gx1 - gx0)) -le 2 ] || fail "$((gx1 - gx0)) getxattrs at the tail for tar x of 20 files"
cmp -s "$m2/untar/tree/t7" "$work/tree/t7" || fail "m2 reads untar/tree/t7 wrong"
chmod 4755 "$m2/untar/tree/t7"
chown 65534 "$m1/untar/tree/t7"
[ "$(stat -c %a:%u "$m2/untar/tree/t7")" = 755:65534 ] ||
	fail "after m2's chmod 4755 and m1's chown, m2 sees $(stat -c %a:%u "$m2/untar/tree/t7")"
note "tar x asks the tail nothing for its chowns; a mode set by another host is seen by the chown"

# 6h. An update that timed out here may still land later, and nothing
# recalls that from the mount that made it.  m4 (timeout=2) writes to a
# file while the middle node is stopped: the write fails (EIO) at close; a
# read then finds the old content at the tail, which must not be kept as
# the file's content; once the middle is continued the write lands, and
# m4 reads it.
m4="$work/m4"
mkdir -p "$m4"
setsid "$top_builddir/chainfs" -f -o "conf=$conf,timeout=2" "127.0.0.1:$base" "$m4" \
	>"$work/m4.log" 2>&1 </dev/null &
procs+=($!)
mounts+=("$m4")
wait_for 20 mountpoint -q "$m4" || fail "m4 did not mount"
echo old >"$m4/kept/late"
[ "$(cat "$m4/kept/late")" = old ] || fail "m4 reads kept/late as '$(cat "$m4/kept/late")'"
pidn2=$(cat "$dir/n2.pid")
kill -STOP "$pidn2"
if printf new | dd of="$m4/kept/late" conv=notrunc status=none 2>/dev/null; then
	kill -CONT "$pidn2"
	fail "a write with the middle node stopped did not time out"
fi
got=$(cat "$m4/kept/late")
kill -CONT "$pidn2"
[ "$got" = old ] || fail "m4 read kept/late as '$got' before its timed-out write landed"
wait_for 20 sh -c "[ \"\$(cat '$m2/kept/late')\" = new ]" || fail "the timed-out write did not land"
[ "$(cat "$m4/kept/late")" = new ] ||
	fail "m4 reads kept/late as '$(cat "$m4/kept/late")' after its timed-out write landed"
grep -q "an update timed out: no lease is taken" "$work/m4.log" ||
	fail "m4 did not say that it takes no lease after a timed-out update"
note "a write that timed out and landed later: its mount reads it, not what it read in between"

# 7. The tail restarted waits out the leases it granted before.
fmode $h2 >/dev/null
"$LC" restart "$dir" n3 >/dev/null
wait_for 20 grep -q "answering once every lease an earlier tail could have granted ran out" \
	"$dir/n3.log" || fail "the restarted tail did not wait for its old leases"
chmod 640 "$m1/f"
[ "$(fmode $h2)" = 640 ] || fail "m2 shows mode $(fmode $h2) after the restarted tail answered 640"
wait_for 30 settled "$conf" || fail "the replicas do not agree"
passed
