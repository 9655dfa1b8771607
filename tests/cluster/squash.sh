#!/usr/bin/env bash
# Who may be root: export policies by client certificate (chainfs.conf(5)).
#   - "client" (local-cluster's own) is exported no-root-squash: root on
#     that mount chowns, sets set-uid and trusted.* xattrs, reads anything;
#   - "squashed" has no export line, so the default holds: root on its
#     mount is the anonymous user 65534 and fails exactly where an
#     unprivileged user would (creating in a root-owned 0755 directory,
#     chown, set-uid on another's file, trusted.*, reading another's 0600
#     file, removing another's file from a sticky directory), while what
#     it may do works and is owned by 65534;
#   - "ro" is read-only: updates fail with EROFS, reads work;
#   - "ranged" allows uids and gids 1000-1999: uid 1500 is itself, root and
#     uid 3000 are the anonymous user;
#   - "everyone" is all-squash with anon-uid/gid 7000.
. "${srcdir:-.}/tests/cluster/lib.sh"

PC="$top_builddir/posixcheck"
start_cluster c --nodes 3 --mounts 1 --etcd 0
dir="$work/c"
conf="$dir/chainfs.conf"
m1="$dir/mnt/m1"
grep -q "^export client no-root-squash" "$conf" || fail "local-cluster did not export its client no-root-squash"
for cn in squashed ro ranged everyone; do
	"$CTL" cert client "$dir/tls" "$cn" >/dev/null || fail "cannot make certificate $cn"
done
{
	echo "export ro read-only no-root-squash"
	echo "export ranged no-root-squash uids 1000-1999 gids 1000-1999"
	echo "export everyone all-squash anon-uid 7000 anon-gid 7000"
} >>"$conf"
# The same file for every mount, each with its own certificate.
for cn in squashed ro ranged everyone; do
	sed "s#^cert tls/client.crt#cert tls/$cn.crt#; s#^key tls/client.key#key tls/$cn.key#" \
		"$conf" >"$dir/$cn.conf"
	grep -q "^cert tls/$cn.crt" "$dir/$cn.conf" || fail "could not make $cn.conf"
done
for n in n1 n2 n3; do "$LC" restart "$dir" "$n" >/dev/null; done
wait_for 30 settled "$conf" || fail "not settled after the restart with the exports"
nodes=$(awk '$1 == "node" { printf "%s%s", sep, $3; sep = "," }' "$conf")
for cn in squashed ro ranged everyone; do
	mkdir -p "$dir/mnt/$cn"
	setsid "$top_builddir/chainfs" -f -o "conf=$dir/$cn.conf" "$nodes" "$dir/mnt/$cn" \
		>"$dir/$cn.log" 2>&1 </dev/null &
	procs+=("$!")
	mounts+=("$dir/mnt/$cn")
done
for cn in squashed ro ranged everyone; do
	wait_for 20 mountpoint -q "$dir/mnt/$cn" || fail "$cn did not mount: $(cat "$dir/$cn.log")"
done
ms="$dir/mnt/squashed"

# want WORD CMD...: posixcheck's last word must be WORD.
want() {
	local w=$1 out
	shift
	out=$("$@" 2>&1) || true
	[ "${out##* }" = "$w" ] || fail "$(echo "$*" | sed "s#$dir/##g"): got '$out', want $w"
}

# The tree, made through the unsquashed mount.
want 0 "$PC" mkdir "$m1/open" 777 : chmod "$m1/open" 777
want 0 "$PC" mkdir "$m1/sticky" 777 : chmod "$m1/sticky" 1777
want 0 "$PC" writefile "$m1/rootfile" x
want 0 "$PC" writefile "$m1/open/alice" secret : chown "$m1/open/alice" 4242 4242 : chmod "$m1/open/alice" 600
want 0 "$PC" writefile "$m1/sticky/bob" b : chown "$m1/sticky/bob" 4243 4243

# Root on the default (root-squashed) mount is nobody.
want EACCES "$PC" writefile "$ms/new" y
want 0 "$PC" writefile "$ms/open/made" y
want "65534,65534" "$PC" stat "$m1/open/made" uid,gid
want EPERM "$PC" chown "$ms/open/made" 0 0
want EPERM "$PC" chown "$ms/rootfile" 4242 4242
want EPERM "$PC" chmod "$ms/rootfile" 4755
want 0 "$PC" chmod "$ms/open/made" 4755
want EPERM "$PC" setxattr "$ms/open/made" trusted.t v 0
want 0 "$PC" setxattr "$ms/open/made" user.u v 0
want EACCES "$PC" readfile "$ms/open/alice"
want EPERM "$PC" unlink "$ms/sticky/bob"
want EACCES "$PC" mkdir "$ms/sub" 755
note "root on the default mount: create in /, chown, set-uid on another's file, trusted.*, another's 0600 file, sticky unlink all refused; its own file in a 0777 directory is 65534's"

# A client under its own control, with the default policy's certificate:
# claiming a uid that is not squashed does not let it make something
# another's (the store makes it the caller's and checks the caller).
open_ino=$("$PC" stat "$m1/open" ino)
want ok "$top_builddir/idclient" -c "$dir/squashed.conf" -i 77 -U 1500 -O 0 -P "$open_ino" forged
want "1500,1500" "$PC" stat "$m1/open/forged" uid,gid
rc=0
out=$("$top_builddir/idclient" -c "$dir/squashed.conf" -i 78 -U 1500 -O 0 rootdir 2>&1) || rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "mkdir rootdir: Permission denied" ||
	fail "uid 1500 made a directory in the root-owned / (exit $rc): $out"
note "a client claiming uid 1500 and naming root the owner: what it makes is 1500's, and / refuses it"

# The same as root on the no-root-squash mount.
want 0 "$PC" chown "$m1/open/made" 0 0
want 0 "$PC" chmod "$m1/rootfile" 4755
want 0 "$PC" setxattr "$m1/open/made" trusted.t v 0
want secret "$PC" readfile "$m1/open/alice"
want 0 "$PC" unlink "$m1/sticky/bob"
note "root on the no-root-squash mount: all of that works"

# Read-only.
want EROFS "$PC" writefile "$dir/mnt/ro/open/z" z
want EROFS "$PC" mkdir "$dir/mnt/ro/open/d" 755
want x "$PC" readfile "$dir/mnt/ro/rootfile"
note "read-only: updates EROFS, reads work"

# uid and gid ranges.  Users other than root must reach the mount point.
chmod 711 "$work" "$dir" "$dir/mnt"
mr="$dir/mnt/ranged"
want 0 setpriv --reuid 1500 --regid 1500 --clear-groups "$PC" writefile "$mr/open/u1500" a
want "1500,1500" "$PC" stat "$m1/open/u1500" uid,gid
want 0 setpriv --reuid 3000 --regid 3000 --clear-groups "$PC" writefile "$mr/open/u3000" a
want "65534,65534" "$PC" stat "$m1/open/u3000" uid,gid
want 0 "$PC" writefile "$mr/open/root" a
want "65534,65534" "$PC" stat "$m1/open/root" uid,gid
note "uids 1000-1999: uid 1500 is itself; uid 3000 and root are 65534"

# all-squash.
want 0 setpriv --reuid 1500 --regid 1500 --clear-groups "$PC" writefile "$dir/mnt/everyone/open/e" a
want "7000,7000" "$PC" stat "$m1/open/e" uid,gid
note "all-squash anon-uid 7000: uid 1500 writes as 7000"

wait_for 30 settled "$conf" || { "$CTL" -c "$conf" status; fail "replicas disagree"; }
passed
