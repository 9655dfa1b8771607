#!/usr/bin/env bash
# Close-to-open across hosts: 3 nodes, 3 mounts (each its own chainfs
# process, as separate hosts would have).  1,000 rounds of "write a new token
# on one mount, close, open on another and read it"; namespace changes seen
# at once on the other mounts; a reader never sees an older token after a
# newer one.
. "${srcdir:-.}/tests/cluster/lib.sh"

start_cluster c --nodes 3 --mounts 3
m=("$work/c/mnt/m1" "$work/c/mnt/m2" "$work/c/mnt/m3")

stale=0
for ((i = 1; i <= 1000; i++)); do
	a=$((i % 3))
	b=$(((i + 1 + i / 3 % 2) % 3))
	echo "token-$i" >"${m[$a]}/t"
	got=$(cat "${m[$b]}/t")
	if [ "$got" != "token-$i" ]; then
		stale=$((stale + 1))
		note "round $i: wrote on m$((a + 1)), m$((b + 1)) read '$got'"
	fi
done
[ $stale -eq 0 ] || fail "$stale of 1000 cross-mount opens were stale"
note "1000 rounds of write-close on one mount, open-read on another: all fresh"

# Namespace operations are visible at once everywhere.
mkdir "${m[0]}/dir"
[ -d "${m[1]}/dir" ] || fail "mkdir on m1 not seen on m2"
echo x >"${m[1]}/dir/f"
[ "$(ls "${m[2]}/dir")" = f ] || fail "create on m2 not listed on m3"
mv "${m[2]}/dir/f" "${m[2]}/dir/g"
[ ! -e "${m[0]}/dir/f" ] && [ -f "${m[0]}/dir/g" ] || fail "rename on m3 not seen on m1"
rm "${m[0]}/dir/g"
[ ! -e "${m[1]}/dir/g" ] || fail "unlink on m1 still seen on m2"
[ -z "$(ls -A "${m[2]}/dir")" ] || fail "m3 still lists removed entries"
chmod 700 "${m[1]}/dir"
[ "$(stat -c %a "${m[2]}/dir")" = 700 ] || fail "chmod on m2 not seen on m3"

# A reader that keeps opening the file never goes back in time.
( for ((i = 1; i <= 400; i++)); do echo "$i" >"${m[0]}/mono"; done ) &
writer=$!
last=0 back=0 reads=0
while kill -0 $writer 2>/dev/null && [ $reads -lt 20000 ]; do
	v=$(cat "${m[1]}/mono" 2>/dev/null || echo 0)
	reads=$((reads + 1))
	[ -n "$v" ] || continue # caught between truncate and write: empty, not old
	if [ "$v" -lt "$last" ]; then
		back=$((back + 1))
		note "read $v after $last"
	fi
	last=$v
done
wait $writer
[ $back -eq 0 ] || fail "the reader saw older tokens after newer ones $back times"
[ "$(cat "${m[2]}/mono")" = 400 ] || fail "final token not seen"
note "monotonic reader: $reads reads, never older"
passed
