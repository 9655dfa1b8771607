#!/usr/bin/env bash
# Ordinary shell tools on a mount, results checked from another mount.
. "${srcdir:-.}/tests/cluster/lib.sh"
sanitizers_suffice

start_cluster c --nodes 3 --mounts 2
a="$work/c/mnt/m1"
b="$work/c/mnt/m2"
src=$(mktemp -d "$work/src.XXXXXX")
# A source tree with files, subdirectories, symlinks, hard links, odd names.
cp -a /usr/include/linux "$src/linux"
mkdir -p "$src/deep/$(printf 'd%.0s/' {1..40})"
echo deep >"$src/deep/$(printf 'd%.0s/' {1..40})leaf"
echo "spaces and ü" >"$src/name with spaces ü"
ln -s linux/types.h "$src/sym"
ln "$src/name with spaces ü" "$src/hardlink"
printf '%0255d' 0 >"$src/.longname-probe" && mv "$src/.longname-probe" "$src/$(printf 'n%.0s' {1..255})"

cp -a "$src" "$a/cp"
diff -r --no-dereference "$src" "$b/cp" || fail "cp -a: trees differ"
[ "$(stat -c %h "$b/cp/hardlink")" = 2 ] || fail "cp -a: hard link count"
[ "$(readlink "$b/cp/sym")" = linux/types.h ] || fail "cp -a: symlink target"

tar -C "$src" -cf "$work/t.tar" .
mkdir "$a/tar" && tar -C "$a/tar" -xf "$work/t.tar"
tar -C "$b/tar" -cf - . | tar -tf - | sort >"$work/list2"
tar -tf "$work/t.tar" | sort >"$work/list1"
diff "$work/list1" "$work/list2" || fail "tar: archives differ"
diff -r --no-dereference "$src" "$b/tar" || fail "tar x: trees differ"

rsync -a "$src/" "$a/rsync/"
diff -r --no-dereference "$src" "$b/rsync" || fail "rsync -a: trees differ"
rsync -a --checksum --dry-run --itemize-changes "$src/" "$b/rsync/" | grep -q . &&
	fail "rsync sees differences after rsync -a"

(cd "$a" && mkdir repo && cd repo && git init -q && echo one >f && git add f &&
	git -c user.name=t -c user.email=t@t commit -qm first && echo two >>f &&
	git -c user.name=t -c user.email=t@t commit -qam second) || fail "git on m1"
[ "$(cd "$b/repo" && git log --format=%s | tr '\n' ' ')" = "second first " ] ||
	fail "git log on m2"
git -C "$b/repo" fsck --no-progress >/dev/null 2>&1 || fail "git fsck on m2"
[ -z "$(git -C "$b/repo" status --porcelain)" ] || fail "git status on m2 not clean"

n1=$(find "$src" | wc -l)
n2=$(find "$b/cp" | wc -l)
[ "$n1" = "$n2" ] || fail "find: $n1 vs $n2 entries"
du -s "$b/cp" >/dev/null || fail "du"
mkdir "$a/x" "$a/y" && echo moved >"$a/x/f" && mv "$a/x/f" "$a/y/f"
[ "$(cat "$b/y/f")" = moved ] && [ ! -e "$b/x/f" ] || fail "mv across directories"
ln "$a/y/f" "$a/x/hard" && ln -s ../y/f "$a/x/soft"
[ "$(stat -c %h "$b/y/f")" = 2 ] && [ "$(cat "$b/x/soft")" = moved ] || fail "ln/ln -s"

# 1 GiB with dd, checked by sha256sum from the other mount.
dd if=/dev/urandom of="$work/big" bs=1M count=1024 status=none
want=$(sha256sum <"$work/big" | cut -d' ' -f1)
dd if="$work/big" of="$a/big" bs=1M conv=fsync status=none || fail "dd to the mount"
rm -f "$work/big"
got=$(sha256sum <"$b/big" | cut -d' ' -f1)
[ "$want" = "$got" ] || fail "1 GiB file differs on m2"
note "cp -a, tar, rsync, git, find, du, mv, ln, 1 GiB dd: all agree across mounts"
passed
