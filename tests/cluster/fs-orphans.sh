#!/usr/bin/env bash
# Files open on one host whose last name goes on another (store_opens.c,
# fs/fs_ref.c), on a fixed chain of 3 with two mounts as two hosts:
#   - a file open on m2 and unlinked on m1 stays readable and writable
#     through m2's descriptor, fstat there shows no links, no name is left
#     in the directory on either mount, and the tail counts one orphan,
#     freed as m2 closes it;
#   - the same unlinked on its own mount, and replaced by a rename;
#   - a directory held open and renamed over (xfstests generic/035): fstat
#     answers with a link count of 0;
#   - a user other than root, on both mounts;
#   - a file closed on m2 a moment ago (its reference idles there) and
#     unlinked on m1: the recall lets it go, freed at once;
#   - the mount holding an orphan killed (SIGKILL): the chain frees it when
#     that session's lease runs out;
#   - the replicas' digests agree at the end.
. "${srcdir:-.}/tests/cluster/lib.sh"

command -v curl >/dev/null 2>&1 || fail "curl is not installed (see tools/install-deps)"

LEASE=8 # longer than the 5 s lease an unlink waits out for a dead mount (section 6)
base=$(free_port_base 12)
start_cluster c --nodes 3 --etcd 0 --mounts 2 --port-base "$base" --metrics-base $((base + 8)) \
	--lock-lease $LEASE
dir="$work/c"
conf="$dir/chainfs.conf"
m1="$dir/mnt/m1" m2="$dir/mnt/m2"

# tail_metric NAME: a value from the tail (n3).
tail_metric() {
	curl -sS --max-time 5 "http://127.0.0.1:$((base + 10))/metrics" 2>/dev/null |
		awk -v m="$1" '$1 == m && !done { print $2; done = 1 }'
}
orphans_are() { [ "$(tail_metric chainfs_orphans)" = "$1" ]; }
names_in() { ls -A "$1" | tr '\n' ' '; }
now_s() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%.2f", b - a }'; }

# 1. Open on m2, unlinked on m1.
mkdir "$m1/d"
printf 'first\n' >"$m1/d/f"
exec 7<>"$m2/d/f"
rm "$m1/d/f"
[ -z "$(names_in "$m1/d")" ] || fail "m1 still lists names in d: $(names_in "$m1/d")"
[ -z "$(names_in "$m2/d")" ] || fail "m2 still lists names in d: $(names_in "$m2/d")"
[ "$(stat -L -c %h /proc/$$/fd/7)" = 0 ] || fail "fstat on m2 shows $(stat -L -c %h /proc/$$/fd/7) links"
wait_for 5 orphans_are 1 || fail "the tail counts $(tail_metric chainfs_orphans) orphans, not 1"
got=$(cat <&7)
[ "$got" = first ] || fail "m2 read '$got' through its descriptor after the unlink"
printf 'second\n' >&7
got=$(cat "/proc/$$/fd/7")
[ "$got" = "$(printf 'first\nsecond')" ] || fail "m2 read back '$got' after writing to the orphan"
[ "$(stat -L -c %s /proc/$$/fd/7)" = 13 ] || fail "the orphan's size is $(stat -L -c %s /proc/$$/fd/7)"
t0=$(now_s)
exec 7>&-
wait_for 3 orphans_are 0 || fail "the orphan was not freed within 3 s of its last close"
note "open on m2, unlinked on m1: read and written after; freed $(since "$t0") s after the close"

# 2. Unlinked on its own mount, and replaced by a rename from the other host.
printf 'own\n' >"$m1/d/g"
exec 7<"$m1/d/g"
rm "$m1/d/g"
[ -z "$(names_in "$m1/d")" ] || fail "a name is left in d after unlinking an open file: $(names_in "$m1/d")"
[ "$(cat <&7)" = own ] || fail "the file unlinked on its own mount is not readable"
exec 7<&-
printf 'old\n' >"$m1/d/h"
exec 7<"$m2/d/h"
printf 'new\n' >"$m1/d/h.tmp"
mv "$m1/d/h.tmp" "$m1/d/h"
[ "$(cat <&7)" = old ] || fail "m2's descriptor of the replaced h does not read the old content"
[ "$(cat "$m2/d/h")" = new ] || fail "m2 does not read the new h by name"
[ "$(names_in "$m2/d")" = "h " ] || fail "d lists $(names_in "$m2/d") after the replacing rename"
exec 7<&-
wait_for 3 orphans_are 0 || fail "orphans left after section 2: $(tail_metric chainfs_orphans)"

# 3. A directory open on m2, another renamed over it on m1 (generic/035).
mkdir "$m1/d/a" "$m1/d/b"
exec 8<"$m2/d/b"
mv -T "$m1/d/a" "$m1/d/b"
[ "$(stat -L -c %h /proc/$$/fd/8)" = 0 ] || fail "fstat of the replaced directory shows $(stat -L -c %h /proc/$$/fd/8) links"
exec 8<&-
mkdir "$m1/d/c"
exec 8<"$m1/d/c"
rmdir "$m1/d/c"
[ "$(stat -L -c %h /proc/$$/fd/8)" = 0 ] || fail "fstat of a removed directory shows $(stat -L -c %h /proc/$$/fd/8) links"
exec 8<&-

# 4. Another user: 65534 holds its file open on m2 and removes it on m1.
mkdir "$m1/pub"
chmod 1777 "$m1/pub"
chmod a+x "$work" "$dir" "$dir/mnt"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups bash -c '
	printf "mine\n" >"$1/pub/u" && exec 3<"$2/pub/u" && rm "$1/pub/u" &&
	ls -A "$2/pub" && stat -L -c "links %h" /proc/self/fd/3 && cat <&3' _ "$m1" "$m2" 2>&1) ||
	fail "as 65534: $out"
[ "$out" = "$(printf 'links 0\nmine')" ] || fail "as 65534: got '$out'"

# 5. Closed on m2 a moment ago, its reference idling there; the unlink on m1
# recalls it, which lets it go: freed at once, not after the idle time (5 s).
printf 'idle\n' >"$m2/d/i"
cat "$m2/d/i" >/dev/null
t0=$(now_s)
rm "$m1/d/i"
wait_for 3 orphans_are 0 || fail "the file m2 had closed stayed $(since "$t0") s after its unlink"
note "closed on m2, unlinked on m1: freed within $(since "$t0") s"

# 6. The mount holding an orphan is killed: freed when its session's lease runs out.
printf 'held\n' >"$m1/d/k"
sleep 600 <"$m2/d/k" &
holder=$!
procs+=($holder)
holds() { [ "$(readlink "/proc/$1/fd/0")" = "$2" ]; }
wait_for 10 holds $holder "$m2/d/k" || fail "the holder did not open d/k"
kill -KILL "$(cat "$dir/m2.pid")"
rm "$m1/d/k"
orphans_are 1 || fail "the file held by the killed mount was freed at its unlink"
t0=$(now_s)
wait_for $((LEASE * 3)) orphans_are 0 || fail "the killed mount's orphan stayed $(since "$t0") s"
note "held by a killed mount: freed $(since "$t0") s after the unlink (lock lease $LEASE s)"
kill -KILL $holder 2>/dev/null || true
umount -l "$m2" 2>/dev/null || true

# What m1 closed is let go after its idle time (5 s); m2's went with its session.
refs_are() { [ "$(tail_metric chainfs_open_refs)" = "$1" ]; }
wait_for 10 refs_are 0 || fail "the tail still counts $(tail_metric chainfs_open_refs) open references"
wait_for 20 settled "$conf" || fail "the replicas do not settle (digests: $(digests "$conf"))"
passed
