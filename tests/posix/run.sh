#!/bin/bash
# The chainfs POSIX conformance suite: run.sh [-v] DIR
#
# Runs every check against DIR (a chainfs mount point, or any directory to
# validate the suite itself on ext4 or tmpfs).  Each case gets its own fresh
# subdirectory of DIR/posix.XXXXXX, removed at the end whatever happens.
# Prints "FAIL case/check: expected X, got Y" per failing check, "NOTE ..."
# for optional features a filesystem declined in a way Linux allows, and
# "posix: N checks, M failed"; exits 0 only when nothing failed.  Must run
# as root; permission checks also run as uid/gid 65534 through setpriv.
#
# Environment: POSIXCHECK (a prebuilt posixcheck; else it is compiled from
# posixcheck.c beside this script), POSIX_ONLY (a regex on case names),
# POSIX_OP_TIMEOUT (seconds one posixcheck run may take, default 120),
# POSIX_NAP_MS (pause before a change that must move a timestamp, default 20),
# POSIX_AS=UID[:GID] (run every check as that ordinary user instead of root:
# checks that rely on root's privileges expect what Linux gives a non-root
# caller, or print "SKIP case/check: needs root (why)" and are counted apart).
set -euo pipefail
export LC_ALL=C
umask 022

verbose=0
if [ "${1-}" = -v ]; then
	verbose=1
	shift
fi
if [ $# -ne 1 ] || [ ! -d "$1" ]; then
	echo "usage: $0 [-v] DIR" >&2
	exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "posix: must run as root (the permission checks switch to uid 65534)" >&2
	exit 2
fi
command -v setpriv >/dev/null || {
	echo "posix: setpriv (util-linux) is required" >&2
	exit 2
}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$1" && pwd)
NOBODY=65534
# Who runs `pc`: root (AS=0), or with POSIX_AS the user PC_UID:PC_GID (AS=1).
# SG is the group given to the set-gid directories of t_perm_setgid_dir, and
# me names the checks whose meaning depends on who pc is ("root-...").
AS=0 PC_UID=0 PC_GID=0 SG=4242 me=root
pc_as=()
if [ -n "${POSIX_AS-}" ]; then
	if ! [[ $POSIX_AS =~ ^([0-9]+)(:([0-9]+))?$ ]]; then
		echo "posix: POSIX_AS must be UID or UID:GID (numbers), not '$POSIX_AS'" >&2
		exit 2
	fi
	PC_UID=$((10#${BASH_REMATCH[1]}))
	if [ -n "${BASH_REMATCH[3]}" ]; then
		PC_GID=$((10#${BASH_REMATCH[3]}))
	else
		# The user's primary group, or the uid itself for an unknown user.
		PC_GID=$(getent passwd "$PC_UID" | cut -d: -f4) || PC_GID=
		PC_GID=${PC_GID:-$PC_UID}
	fi
	if [ "$PC_UID" -eq 0 ] || [ "$PC_GID" -eq 0 ]; then
		echo "posix: POSIX_AS wants an ordinary user (uid and gid not 0); run without it to test as root" >&2
		exit 2
	fi
	AS=1 SG=$PC_GID me=user
	pc_as=(setpriv --reuid="$PC_UID" --regid="$PC_GID" --clear-groups)
	# The "other user" of the permission checks shares no id with PC_UID:PC_GID.
	for NOBODY in 65534 65533 65532; do
		if [ "$NOBODY" -ne "$PC_UID" ] && [ "$NOBODY" -ne "$PC_GID" ]; then
			break
		fi
	done
fi
OP_TIMEOUT=${POSIX_OP_TIMEOUT:-120}
NAP=${POSIX_NAP_MS:-20}
tmp=$(mktemp -d /tmp/posix-run.XXXXXX)
work=
results="$tmp/results"

# Removes everything the suite created, on every exit path.
cleanup() {
	local rc=$?
	if [ -n "$work" ] && [ -d "$work" ]; then
		rm -rf -- "$work" || echo "posix: could not remove $work" >&2
	fi
	rm -rf -- "$tmp"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The helper must be reachable by uid 65534 too.
chmod 755 "$tmp"
: >"$results"
if [ -n "${POSIXCHECK-}" ]; then
	PC=$POSIXCHECK
else
	PC="$tmp/posixcheck"
	cc -O2 -Wall -Wextra -Werror -o "$PC" "$here/posixcheck.c" || {
		echo "posix: cannot build posixcheck" >&2
		exit 1
	}
fi
work=$(mktemp -d "$root/posix.XXXXXX")
chmod 755 "$work"
if ((AS)); then
	chown "$PC_UID:$PC_GID" "$work"
fi

case="" group=""

# pc ARGS...: runs posixcheck as root (with POSIX_AS: as that user, with no
# supplementary groups) and prints its one line ("TIMEOUT" if hung).
pc() {
	local out rc=0
	out=$(timeout -k 5 "$OP_TIMEOUT" ${pc_as[@]+"${pc_as[@]}"} "$PC" "$@") || rc=$?
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		out=TIMEOUT
	fi
	printf '%s\n' "$out"
}

# nb ARGS...: runs posixcheck as uid and gid $NOBODY (65534, or 65533 when
# POSIX_AS uses 65534) with no supplementary groups.
nb() {
	local out rc=0
	out=$(timeout -k 5 "$OP_TIMEOUT" setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups \
		"$PC" "$@") || rc=$?
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		out=TIMEOUT
	fi
	printf '%s\n' "$out"
}

# w N LINE: the Nth (from 0) space-separated word of a posixcheck line.
w() {
	local -a a
	read -ra a <<<"$2"
	printf '%s' "${a[$1]-<missing word $1 in: $2>}"
}

# Shortens long values in failure lines.
short() {
	local s=$1
	if [ ${#s} -gt 200 ]; then
		s="${s:0:200}...(${#1} chars)"
	fi
	printf '%s' "$s"
}

pass() {
	echo "P $group" >>"$results"
}

# fail NAME EXPECTED ACTUAL: records and prints one failing check.  A check
# named in $POSIX_XFAIL (space-separated case/check names) is a known
# deviation of the filesystem under test: printed as XFAIL, not counted.
fail() {
	local msg
	if [[ " ${POSIX_XFAIL-} " == *" $case/$1 "* ]]; then
		msg="XFAIL $case/$1: expected $(short "$2"), got $(short "$3")"
		printf '%s\n' "$msg"
		printf 'X %s %s\n' "$group" "$msg" >>"$results"
		return
	fi
	msg="FAIL $case/$1: expected $(short "$2"), got $(short "$3")"
	printf '%s\n' "$msg"
	printf 'F %s %s\n' "$group" "$msg" >>"$results"
}

# note TEXT: an optional feature the filesystem declined in a way Linux allows.
note() {
	printf 'NOTE %s: %s\n' "$case" "$1"
	printf 'N %s %s\n' "$group" "$1" >>"$results"
}

# skip NAME WHY: a check left out under POSIX_AS because only root can do it.
skip() {
	printf 'SKIP %s/%s: needs root (%s)\n' "$case" "$1" "$2"
	printf 'S %s %s/%s\n' "$group" "$case" "$1" >>"$results"
}

# check NAME EXPECTED ACTUAL: one check, by exact string comparison.
check() {
	if [ "$2" = "$3" ]; then
		pass
	else
		fail "$1" "$2" "$3"
	fi
}

# check_any NAME "A|B" ACTUAL: one of the answers POSIX/Linux allow.
check_any() {
	local -a alts
	local a
	IFS='|' read -ra alts <<<"$2"
	for a in "${alts[@]}"; do
		if [ "$a" = "$3" ]; then
			pass
			return 0
		fi
	done
	fail "$1" "one of $2" "$3"
}

# check_num NAME OP BOUND ACTUAL: numeric comparison (OP: -lt -le -gt -ge -ne).
check_num() {
	if [[ $4 =~ ^-?[0-9]+$ ]] && test "$4" "$2" "$3"; then
		pass
	else
		fail "$1" "a number $2 $3" "$4"
	fi
}

# True when timestamp A (sec.nsec) is later than B.
ts_gt() {
	local re='^-?[0-9]+\.[0-9]{9}$'
	[[ $1 =~ $re && $2 =~ $re ]] || return 1
	local as=${1%.*} an=${1#*.} bs=${2%.*} bn=${2#*.}
	((as > bs || (as == bs && 10#$an > 10#$bn)))
}

# check_later NAME BEFORE AFTER: AFTER is a later timestamp than BEFORE.
check_later() {
	if ts_gt "$3" "$2"; then
		pass
	else
		fail "$1" "later than $2" "$3"
	fi
}

# zeros N: N escaped NUL bytes, as posixcheck prints file data.
zeros() {
	local i s=
	for ((i = 0; i < $1; i++)); do
		s+='\000'
	done
	printf '%s' "$s"
}

# Joins lines with "/", as readdir prints names.
joinslash() {
	LC_ALL=C sort | paste -sd/ -
}

# run_case FUNCTION: runs one case in a fresh directory, in a subshell so
# that a setup step that fails ends only this case.
run_case() {
	local fn=$1 d rc out
	case=${fn#t_}
	group=${case%%_*}
	d="$work/$case"
	if ((AS)); then
		# The user makes its own case directory, in the one it owns.
		out=$(cd "$work" && pc mkdir "$case" 0755 : chmod "$case" 755)
		if [ "$out" != "0 0" ]; then
			fail "case" "0 0 (uid $PC_UID makes its case directory)" "$out"
			return 0
		fi
	else
		mkdir "$d"
		chmod 755 "$d"
	fi
	set +e
	(
		set -e
		cd "$d"
		"$fn"
	)
	rc=$?
	set -e
	if [ $rc -ne 0 ]; then
		fail "case" "it to run to the end" "exit status $rc"
	fi
}

# ---------------------------------------------------------------- open, creat

t_open_create() {
	check new "0 reg,644,0,1,$PC_UID,$PC_GID" "$(pc open f O_CREAT,O_WRONLY 0644 : fstat %0 type,mode,size,nlink,uid,gid)"
	check umask "0 0 600" "$(pc umask 077 : open g O_CREAT,O_WRONLY 0666 : stat g mode)"
	check all-bits "0 0 7777" "$(pc umask 0 : open s O_CREAT,O_WRONLY 07777 : stat s mode)"
	check setup "0" "$(pc writefile h abc)"
	# O_CREAT without O_EXCL opens an existing file unchanged.
	check existing "0 644,3" "$(pc open h O_CREAT,O_RDWR 0600 : stat h mode,size)"
	check readback "abc" "$(pc readfile h)"
	check creat-truncates "0 0 0" "$(pc creat h 0600 : fstat %0 size : stat h size)"
	# creat() is open(O_CREAT|O_WRONLY|O_TRUNC): not readable.
	check creat-wronly "0 EBADF" "$(pc creat h 0600 : read %0 1)"
	check creat-new "0 reg,640" "$(pc creat c 0640 : stat c type,mode)"
}

t_open_excl() {
	check setup "0 0 0" "$(pc writefile f x : mkdir d 0755 : symlink nowhere l)"
	check file EEXIST "$(pc open f O_CREAT,O_EXCL,O_WRONLY 0644)"
	check dir EEXIST "$(pc open d O_CREAT,O_EXCL,O_RDONLY 0644)"
	# O_EXCL never follows a symlink, even a dangling one.
	check dangling-symlink EEXIST "$(pc open l O_CREAT,O_EXCL,O_WRONLY 0644)"
	check target-not-made ENOENT "$(pc lstat nowhere type)"
	check content-kept "x" "$(pc readfile f)"
	check new "0 reg" "$(pc open n O_CREAT,O_EXCL,O_WRONLY 0644 : stat n type)"
}

t_open_enoent() {
	check missing ENOENT "$(pc open nope O_RDONLY)"
	check missing-wr ENOENT "$(pc open nope O_WRONLY)"
	check missing-parent ENOENT "$(pc open nodir/f O_CREAT,O_WRONLY 0644)"
	check empty-path ENOENT "$(pc open '' O_RDONLY)"
	check stat ENOENT "$(pc stat nope type)"
}

t_open_enotdir() {
	check setup 0 "$(pc writefile f x)"
	check open ENOTDIR "$(pc open f/x O_RDONLY)"
	check create ENOTDIR "$(pc open f/x O_CREAT,O_WRONLY 0644)"
	check stat ENOTDIR "$(pc stat f/x type)"
	check trailing-slash ENOTDIR "$(pc open f/ O_RDONLY)"
	check o-directory ENOTDIR "$(pc open f O_RDONLY,O_DIRECTORY)"
	check mkdir ENOTDIR "$(pc mkdir f/d 0755)"
}

t_open_eisdir() {
	check setup 0 "$(pc mkdir d 0755)"
	check wronly EISDIR "$(pc open d O_WRONLY)"
	check rdwr EISDIR "$(pc open d O_RDWR)"
	check creat EISDIR "$(pc open d O_CREAT,O_RDWR 0644)"
	check rdonly 0 "$(pc open d O_RDONLY)"
	check o-directory "0 dir" "$(pc open d O_RDONLY,O_DIRECTORY : fstat %0 type)"
	check read "0 EISDIR" "$(pc open d O_RDONLY : read %0 1)"
	check fsync-dir "0 0" "$(pc open d O_RDONLY,O_DIRECTORY : fsync %0)"
}

t_open_names() {
	local n255 n256 u255 out
	n255=$(printf 'n%.0s' {1..255})
	n256=$(printf 'n%.0s' {1..256})
	# 85 three-byte UTF-8 characters: 255 bytes.
	u255=$(printf '\xe2\x82\xac%.0s' {1..85})
	check create-255 "0 reg,5" "$(pc writefile "$n255" hello : stat "$n255" type,size)"
	check readdir-255 "./../$n255" "$(pc readdir .)"
	check read-255 hello "$(pc readfile "$n255")"
	check utf8-255 "0 reg" "$(pc writefile "$u255" x : stat "$u255" type)"
	check rename-255 "0 ENOENT" "$(pc rename "$n255" "${n255%n}m" : stat "$n255" type)"
	check mkdir-255 "0 dir" "$(pc mkdir "d${n255:1}" 0755 : stat "d${n255:1}" type)"
	check symlink-255 0 "$(pc symlink x "s${n255:1}")"
	check create-256 ENAMETOOLONG "$(pc open "$n256" O_CREAT,O_WRONLY 0644)"
	check utf8-256 ENAMETOOLONG "$(pc open "${u255}x" O_CREAT,O_WRONLY 0644)"
	check stat-256 ENAMETOOLONG "$(pc stat "$n256" type)"
	check mkdir-256 ENAMETOOLONG "$(pc mkdir "$n256" 0755)"
	check symlink-256 ENAMETOOLONG "$(pc symlink x "$n256")"
	check link-256 ENAMETOOLONG "$(pc link "${n255%n}m" "$n256")"
	check rename-256 ENAMETOOLONG "$(pc rename "${n255%n}m" "$n256")"
	out=$(pc unlink "${n255%n}m" : unlink "$u255" : rmdir "d${n255:1}" : unlink "s${n255:1}" : readdir .)
	check unlink-255 "0 0 0 0 ./.." "$out"
}

t_open_deep() {
	local name=dddddddddddddddddddd rel="." i long
	for ((i = 0; i < 100; i++)); do
		rel+="/$name"
	done
	check mkdir-100-levels 2101 "$(pc deepdir . "$name" 100)"
	check create-deep "0 reg,4" "$(pc writefile "$rel/f" deep : stat "$rel/f" type,size)"
	check read-abs deep "$(pc readfile "$PWD/${rel#./}/f")"
	check rename-deep "0 deep" "$(pc rename "$rel/f" "$rel/../g" : readfile "$rel/../g")"
	long=$(printf 'a/%.0s' {1..2100})
	check path-max ENAMETOOLONG "$(pc stat "$long" type)"
}

t_open_trunc() {
	local before out
	check setup "0 0" "$(pc writefile f hello : utimensat f 1000000000.000000000 1000000000.000000000)"
	before=$(pc stat f ctime)
	out=$(pc nap "$NAP" : open f O_WRONLY,O_TRUNC : fstat %0 size)
	check truncates "0 0 0" "$out"
	check_later mtime-set 1000000000.000000000 "$(pc stat f mtime)"
	check_later ctime "$before" "$(pc stat f ctime)"
	check empty "<empty>" "$(pc readfile f)"
	check rdwr-keeps "0 0 5" "$(pc writefile f hello : open f O_RDWR : fstat %0 size)"
}

t_open_nofollow() {
	check setup "0 0 0" "$(pc writefile t data : symlink t l : mkdir d 0755)"
	check symlink ELOOP "$(pc open l O_RDONLY,O_NOFOLLOW)"
	check symlink-creat ELOOP "$(pc open l O_CREAT,O_WRONLY,O_NOFOLLOW 0644)"
	check regular 0 "$(pc open t O_RDONLY,O_NOFOLLOW)"
	# O_NOFOLLOW only concerns the last component.
	check through-dir-link "0 0" "$(pc symlink d ld : open ld/../t O_RDONLY,O_NOFOLLOW)"
}

# ------------------------------------------------------------------ mkdir, rmdir

t_mkdir_basic() {
	check new "0 dir,755,2,$PC_UID,$PC_GID" "$(pc mkdir d 0755 : stat d type,mode,nlink,uid,gid)"
	check umask "0 0 750" "$(pc umask 027 : mkdir e 0777 : stat e mode)"
	check sticky "0 0 1777" "$(pc umask 0 : mkdir s 01777 : stat s mode)"
	check empty "./.." "$(pc readdir d)"
	check setup "0 0" "$(pc writefile f x : symlink nowhere l)"
	check exists-dir EEXIST "$(pc mkdir d 0755)"
	check exists-file EEXIST "$(pc mkdir f 0755)"
	check exists-symlink EEXIST "$(pc mkdir l 0755)"
	check missing-parent ENOENT "$(pc mkdir nodir/x 0755)"
	check through-file ENOTDIR "$(pc mkdir f/x 0755)"
	check dotdot-of-new "$(pc stat . ino)" "$(pc stat d/.. ino)"
}

t_mkdir_nlink() {
	check start 2 "$(pc stat . nlink)"
	check mkdir "0 3 0 4" "$(pc mkdir a 0755 : stat . nlink : mkdir b 0755 : stat . nlink)"
	check file-no-change "0 4" "$(pc writefile f x : stat . nlink)"
	check nested "0 3 4" "$(pc mkdir a/x 0755 : stat a nlink : stat . nlink)"
	check rmdir "0 2 0 3 0 2" "$(pc rmdir a/x : stat a nlink : rmdir a : stat . nlink : rmdir b : stat . nlink)"
}

t_mkdir_times() {
	local m c out
	check setup 0 "$(pc utimensat . 1000000000.000000000 1000000000.000000000)"
	c=$(pc stat . ctime)
	out=$(pc nap "$NAP" : mkdir d 0755 : stat . mtime : stat . ctime : stat d atime : stat d mtime : stat d ctime)
	check_later mkdir-parent-mtime 1000000000.000000000 "$(w 2 "$out")"
	check_later mkdir-parent-ctime "$c" "$(w 3 "$out")"
	# A new directory's three times are the same instant.
	check new-times-equal "$(w 4 "$out") $(w 4 "$out")" "$(w 5 "$out") $(w 6 "$out")"
	m=$(w 2 "$out")
	c=$(w 3 "$out")
	out=$(pc nap "$NAP" : rmdir d : stat . mtime : stat . ctime)
	check_later rmdir-parent-mtime "$m" "$(w 2 "$out")"
	check_later rmdir-parent-ctime "$c" "$(w 3 "$out")"
}

t_rmdir_errors() {
	check setup "0 0 0 0 0 0" "$(pc mkdir d 0755 : writefile d/f x : mkdir e 0755 : mkdir e/sub 0755 : writefile f x : mkdir h 0755)"
	check not-empty ENOTEMPTY "$(pc rmdir d)"
	check not-empty-subdir ENOTEMPTY "$(pc rmdir e)"
	check hidden-file "0 ENOTEMPTY" "$(pc writefile h/.hidden x : rmdir h)"
	check file ENOTDIR "$(pc rmdir f)"
	check missing ENOENT "$(pc rmdir nope)"
	check dot EINVAL "$(pc rmdir .)"
	check dir-dot EINVAL "$(pc rmdir d/.)"
	# Linux answers ENOTEMPTY for a last component of "..".
	check dotdot ENOTEMPTY "$(pc rmdir e/sub/..)"
	check symlink-to-dir "0 ENOTDIR" "$(pc symlink e le : rmdir le)"
	check through-file ENOTDIR "$(pc rmdir f/x)"
	check emptied "0 0 ENOENT" "$(pc unlink d/f : rmdir d : stat d type)"
}

t_rmdir_open() {
	# A removed directory stays usable through an open descriptor, but dead.
	check fd "0 0 0 0 ENOENT" "$(pc mkdir d 0755 : open d O_RDONLY,O_DIRECTORY : rmdir d : fstat %0 nlink : openat %0 x O_CREAT,O_WRONLY 0644)"
}

# ------------------------------------------------------------------ unlink

t_unlink_basic() {
	check setup "0 0" "$(pc writefile f x : mkdir d 0755)"
	check unlink "0 ENOENT" "$(pc unlink f : stat f type)"
	check again ENOENT "$(pc unlink f)"
	# Linux answers EISDIR (POSIX would also allow EPERM).
	check dir EISDIR "$(pc unlink d)"
	check through-file "0 ENOTDIR" "$(pc writefile g x : unlink g/x)"
	check missing-parent ENOENT "$(pc unlink nodir/x)"
	check symlink-only "0 0 0 reg" "$(pc writefile t x : symlink t l : unlink l : stat t type)"
	check dangling-symlink "0 0 ENOENT" "$(pc symlink nowhere l2 : unlink l2 : lstat l2 type)"
}

t_unlink_nlink() {
	local c out
	check setup "0 0 0 3" "$(pc writefile f x : link f g : link f h : stat f nlink)"
	c=$(pc stat f ctime)
	out=$(pc nap "$NAP" : unlink g : stat f nlink : stat f ctime)
	check drop "0 0 2" "$(w 0 "$out") $(w 1 "$out") $(w 2 "$out")"
	check_later ctime "$c" "$(w 3 "$out")"
	check drop-again "0 1 x" "$(pc unlink h : stat f nlink : readfile f)"
}

t_unlink_openfd() {
	local out
	check setup 0 "$(pc writefile f hello)"
	out=$(pc open f O_RDWR : unlink f : fstat %0 nlink : pread %0 0 5 : pwrite %0 5 ", world" : pread %0 0 12 : fstat %0 size : stat f type : readdir .)
	check read-after-unlink "0 0 0 hello 7 hello, world 12 ENOENT" "$out"
	# A new file of the same name is another file.
	out=$(pc writefile f old : open f O_RDONLY : unlink f : writefile f new : pread %0 0 3 : readfile f)
	check new-same-name "0 0 0 0 old new" "$out"
}

t_unlink_at() {
	check setup "0 0 0" "$(pc mkdir d 0755 : writefile f x : mkdir e 0755)"
	check removedir-file ENOTDIR "$(pc unlinkat AT_FDCWD f AT_REMOVEDIR)"
	check plain-dir EISDIR "$(pc unlinkat AT_FDCWD d 0)"
	check removedir "0 ENOENT" "$(pc unlinkat AT_FDCWD d AT_REMOVEDIR : stat d type)"
	check relative "0 0 0 ./.." "$(pc writefile e/g x : open e O_RDONLY,O_DIRECTORY : unlinkat %0 g 0 : readdir e)"
}

t_unlink_times() {
	local out m c
	check setup "0 0" "$(pc writefile f x : utimensat . 1000000000.000000000 1000000000.000000000)"
	c=$(pc stat . ctime)
	out=$(pc nap "$NAP" : unlink f : stat . mtime : stat . ctime)
	check_later parent-mtime 1000000000.000000000 "$(w 2 "$out")"
	check_later parent-ctime "$c" "$(w 3 "$out")"
}

# ------------------------------------------------------------------ rename

t_rename_file() {
	local ia out
	check setup "0 0" "$(pc writefile a A : writefile b B)"
	ia=$(pc stat a ino)
	# The descriptor opened on the replaced file still reads its old data.
	out=$(pc open b O_RDONLY : rename a b : stat b ino,nlink : readfile b : pread %0 0 1 : stat a type)
	check over-file "0 0 $ia,1 A B ENOENT" "$out"
	check to-new-name "0 reg ENOENT" "$(pc rename b d : stat d type : stat b type)"
	check missing ENOENT "$(pc rename nope x)"
	check missing-dst-dir ENOENT "$(pc rename d nodir/x)"
	check through-file ENOTDIR "$(pc rename d d/x)"
	check openfd "0 0 1 x" "$(pc open d O_WRONLY : rename d e : pwrite %0 0 x : readfile e)"
}

t_rename_dir() {
	local ia
	check setup "0 0 0" "$(pc mkdir a 0755 : writefile a/x x : mkdir b 0755)"
	ia=$(pc stat a ino)
	check nlink-before 4 "$(pc stat . nlink)"
	check over-empty-dir "0 $ia x 3 ENOENT" "$(pc rename a b : stat b ino : readfile b/x : stat . nlink : stat a type)"
	check setup2 "0 0" "$(pc mkdir c 0755 : writefile c/y y)"
	# rename(2) allows either ENOTEMPTY or EEXIST for a non-empty target; ext4 and tmpfs say ENOTEMPTY.
	check_any over-non-empty "ENOTEMPTY|EEXIST" "$(pc rename b c)"
	check file-over-dir "0 EISDIR" "$(pc writefile f x : rename f c)"
	check dir-over-file ENOTDIR "$(pc rename c f)"
	check into-own-subtree EINVAL "$(pc rename b b/sub)"
	check into-own-deeper "0 0 EINVAL" "$(pc mkdir b/s 0755 : mkdir b/s/t 0755 : rename b b/s/t/u)"
	# rename(2): EBUSY or EINVAL when a path ends in "."; Linux says EBUSY.
	check_any dot "EBUSY|EINVAL" "$(pc rename b/. z)"
}

t_rename_move_dir() {
	local ip2 out
	check setup "0 0 0" "$(pc mkdir p1 0755 : mkdir p2 0755 : mkdir p1/d 0755)"
	ip2=$(pc stat p2 ino)
	out=$(pc rename p1/d p2/d : stat p1 nlink : stat p2 nlink : stat p2/d/.. ino : readdir p1 : readdir p2)
	check across-parents "0 2 3 $ip2 ./.. ./../d" "$out"
}

t_rename_noreplace() {
	check setup "0 0" "$(pc writefile a A : writefile b B)"
	check exists EEXIST "$(pc renameat2 a b RENAME_NOREPLACE)"
	check unchanged "A B" "$(pc readfile a : readfile b)"
	check new "0 A ENOENT" "$(pc renameat2 a c RENAME_NOREPLACE : readfile c : stat a type)"
}

t_rename_exchange() {
	local if id out
	check setup "0 0 0" "$(pc writefile f F : mkdir d 0755 : writefile d/x X)"
	if=$(pc stat f ino)
	id=$(pc stat d ino)
	out=$(pc renameat2 f d RENAME_EXCHANGE : stat f type,ino : stat d type,ino : readfile f/x : readfile d : stat . nlink)
	check file-and-dir "0 dir,$id reg,$if X F 3" "$out"
	check missing-target ENOENT "$(pc renameat2 d nope RENAME_EXCHANGE)"
	check both-flags EINVAL "$(pc renameat2 d f RENAME_EXCHANGE,RENAME_NOREPLACE)"
	# Across directories the ".." links move with the directory.
	check setup2 "0 0 0 0" "$(pc mkdir p1 0755 : mkdir p2 0755 : mkdir p1/d 0755 : writefile p2/f x)"
	out=$(pc renameat2 p1/d p2/f RENAME_EXCHANGE : stat p1 nlink : stat p2 nlink : stat p1/d type : stat p2/f type)
	check across-parents "0 2 3 reg dir" "$out"
	check dotdot "$(pc stat p2 ino)" "$(pc stat p2/f/.. ino)"
}

t_rename_whiteout() {
	local if
	check setup "0 0" "$(pc writefile f F : writefile g G)"
	if=$(pc stat f ino)
	# The source name stays, as a character device 0/0 owned by the caller
	# (what overlayfs uses; Linux 5.8 and later let any user make one).
	check moved "0 reg,$if F chr,0,0:0,$PC_UID" \
		"$(pc renameat2 f h RENAME_WHITEOUT : stat h type,ino : readfile h : lstat f type,mode,rdev,uid)"
	check over-target "0 G chr" "$(pc renameat2 g h RENAME_WHITEOUT : readfile h : lstat g type)"
	check noreplace EEXIST "$(pc renameat2 h f RENAME_WHITEOUT,RENAME_NOREPLACE)"
	check with-exchange EINVAL "$(pc renameat2 h f RENAME_WHITEOUT,RENAME_EXCHANGE)"
	check listed "./../f/g/h" "$(pc readdir .)"
}

t_rename_same() {
	local ia
	check setup 0 "$(pc writefile a A)"
	ia=$(pc stat a ino)
	check same-name "0 $ia,1" "$(pc rename a a : stat a ino,nlink)"
	# Two links to one file: rename does nothing and both names stay.
	check hard-links "0 0 $ia,2 $ia,2" "$(pc link a b : rename a b : stat a ino,nlink : stat b ino,nlink)"
	check same-dir "0 0 dir" "$(pc mkdir d 0755 : rename d d : stat d type)"
}

t_rename_times() {
	local c1 c2 out
	check setup "0 0 0 0" "$(pc writefile f x : mkdir d 0755 : mkdir s 0755 : mkdir t 0755)"
	check setup-times "0 0" "$(pc utimensat s 1000000000.000000000 1000000000.000000000 : \
		utimensat t 1000000000.000000000 1000000000.000000000)"
	c1=$(pc stat f ctime)
	c2=$(pc stat d ctime)
	out=$(pc nap "$NAP" : rename f g : rename d e : stat g ctime : stat e ctime)
	# POSIX leaves this open; Linux filesystems (ext4, tmpfs) change it, and so must chainfs.
	check_later renamed-file-ctime "$c1" "$(w 3 "$out")"
	check_later renamed-dir-ctime "$c2" "$(w 4 "$out")"
	out=$(pc writefile s/x x : utimensat s 1000000000.000000000 1000000000.000000000 : rename s/x t/x : stat s mtime : stat t mtime : stat s ctime)
	check_later src-parent-mtime 1000000000.000000000 "$(w 3 "$out")"
	check_later dst-parent-mtime 1000000000.000000000 "$(w 4 "$out")"
}

t_rename_symlink() {
	check link-itself "0 0 0 lnk target ENOENT" "$(pc writefile target x : symlink target l : rename l m : lstat m type : readlink m : lstat l type)"
	check target-stays reg "$(pc stat target type)"
}

# ------------------------------------------------------------------ link

t_link_basic() {
	local ino c out
	check setup 0 "$(pc writefile f hello)"
	ino=$(pc stat f ino)
	c=$(pc stat f ctime)
	out=$(pc nap "$NAP" : link f g : stat f nlink : stat g nlink,ino : stat f ctime)
	check second "0 0 2 2,$ino" "$(w 0 "$out") $(w 1 "$out") $(w 2 "$out") $(w 3 "$out")"
	check_later ctime "$c" "$(w 4 "$out")"
	check third "0 3 hello" "$(pc link g h : stat f nlink : readfile h)"
	check shared-data "0 5 0 world" "$(pc open g O_WRONLY : pwrite %0 0 world : close %0 : readfile f)"
	check unlink-one "0 2 world" "$(pc unlink f : stat h nlink : readfile g)"
	check to-symlink "0 0 lnk,2 reg" "$(pc symlink g s : link s s2 : lstat s2 type,nlink : stat s2 type)"
}

t_link_errors() {
	check setup "0 0" "$(pc writefile f x : mkdir d 0755)"
	check dir EPERM "$(pc link d e)"
	check exists "0 EEXIST" "$(pc writefile g y : link f g)"
	check exists-dir EEXIST "$(pc link f d)"
	check missing ENOENT "$(pc link nope n)"
	check missing-parent ENOENT "$(pc link f nodir/n)"
	check through-file ENOTDIR "$(pc link f f/n)"
	check unchanged 1 "$(pc stat f nlink)"
}

# ------------------------------------------------------------------ symlink, readlink

t_symlink_dangling() {
	check make "0 lnk,7" "$(pc symlink nowhere l : lstat l type,size)"
	check stat ENOENT "$(pc stat l type)"
	check readlink nowhere "$(pc readlink l)"
	check open ENOENT "$(pc open l O_RDONLY)"
	# O_CREAT through a dangling link creates its target.
	check creat-follows "0 reg lnk" "$(pc open l O_CREAT,O_WRONLY 0644 : stat nowhere type : lstat l type)"
}

t_symlink_follow() {
	local ino
	check setup "0 0 0" "$(pc writefile t data : symlink t l : mkdir d 0755)"
	ino=$(pc stat t ino)
	check stat "reg,$ino" "$(pc stat l type,ino)"
	check lstat-mode "lnk,777,1" "$(pc lstat l type,mode,nlink)"
	check read data "$(pc readfile l)"
	check exists EEXIST "$(pc symlink other l)"
	check exists-dir EEXIST "$(pc symlink other d)"
	check dir-path "0 0 x" "$(pc symlink d ld : writefile ld/x x : readfile d/x)"
	check trailing-slash dir "$(pc stat ld/ type)"
	check rmdir-link ENOTDIR "$(pc rmdir ld)"
	check loop "0 0 ELOOP" "$(pc symlink a b : symlink b a : stat a type)"
	check loop-readlink b "$(pc readlink a)"
	if ((AS)); then
		# Not root: no owner can be given away, through a link or not.  That
		# chown follows the link and lchown does not shows on a dangling one.
		check lchown-other EPERM "$(pc lchown l $NOBODY $NOBODY)"
		check chown-other EPERM "$(pc chown l $NOBODY -1)"
		check lchown-own "0 $PC_UID,$PC_GID" "$(pc lchown l $PC_UID $PC_GID : lstat l uid,gid)"
		check chown-follows "0 ENOENT" "$(pc symlink nowhere dl : chown dl $PC_UID -1)"
		check lchown-dangling "0 lnk,$PC_UID" "$(pc lchown dl $PC_UID $PC_GID : lstat dl type,uid)"
	else
		check lchown "0 65534 0" "$(pc lchown l 65534 65534 : lstat l uid : stat l uid)"
		check chown-follows "0 4242 65534" "$(pc chown l 4242 -1 : stat t uid : lstat l uid)"
	fi
	check relative "0 data" "$(pc symlink ../t d/up : readfile d/up)"
}

t_symlink_readlink() {
	check setup "0 0 0" "$(pc writefile f x : mkdir d 0755 : symlink abcdef l)"
	check regular EINVAL "$(pc readlink f)"
	check dir EINVAL "$(pc readlink d)"
	check missing ENOENT "$(pc readlink nope)"
	# A short buffer truncates silently.
	check short-buffer abc "$(pc readlink l 3)"
	check target-4095 "0 len=4095 lnk,4095" "$(pc symlink @4095 long : readlink long 8192 : lstat long type,size)"
	check target-4096 ENAMETOOLONG "$(pc symlink @4096 toolong)"
	check empty-target ENOENT "$(pc symlink '' empty)"
}

# ------------------------------------------------------------------ chmod, chown

t_chmod_bits() {
	local c m out
	check setup "0 0" "$(pc writefile f x : mkdir d 0755)"
	check zero "0 reg,0" "$(pc chmod f 0 : stat f type,mode)"
	check all "0 reg,7777" "$(pc chmod f 7777 : stat f type,mode)"
	check dir "0 dir,1777" "$(pc chmod d 1777 : stat d type,mode)"
	check dir-sgid "0 dir,2755" "$(pc chmod d 2755 : stat d type,mode)"
	check fchmod "0 0 reg,640" "$(pc open f O_RDONLY : fchmod %0 640 : stat f type,mode)"
	check follows "0 0 reg,600 lnk,777" "$(pc symlink f l : chmod l 600 : stat l type,mode : lstat l type,mode)"
	check missing ENOENT "$(pc chmod nope 644)"
	check through-file ENOTDIR "$(pc chmod f/x 644)"
	c=$(pc stat f ctime)
	m=$(pc stat f mtime)
	out=$(pc nap "$NAP" : chmod f 644 : stat f ctime : stat f mtime)
	check_later ctime "$c" "$(w 2 "$out")"
	check mtime-same "$m" "$(w 3 "$out")"
}

t_chmod_special() {
	check fifo "0 0 fifo,600" "$(pc mknod p fifo 644 : chmod p 600 : stat p type,mode)"
	check sock "0 0 sock,700" "$(pc mknod s sock 644 : chmod s 700 : stat s type,mode)"
}

t_chown_root() {
	local c out
	if ((AS)); then
		user_chown
		return
	fi
	check setup 0 "$(pc writefile f x)"
	check both "0 65534,65534" "$(pc chown f 65534 65534 : stat f uid,gid)"
	check unchanged "0 65534,65534" "$(pc chown f -1 -1 : stat f uid,gid)"
	check gid-only "0 65534,100" "$(pc chown f -1 100 : stat f uid,gid)"
	check uid-only "0 0,100" "$(pc chown f 0 -1 : stat f uid,gid)"
	check fchown "0 0 4242,4343" "$(pc open f O_RDONLY : fchown %0 4242 4343 : stat f uid,gid)"
	check missing ENOENT "$(pc chown nope 0 0)"
	c=$(pc stat f ctime)
	out=$(pc nap "$NAP" : chown f 0 0 : stat f ctime)
	check_later ctime "$c" "$(w 2 "$out")"
}

# t_chown_root under POSIX_AS: the owner may only "change" to its own uid and
# group (it has no other groups); any other id is EPERM, with -1 or not.
user_chown() {
	local c out
	check setup 0 "$(pc writefile f x)"
	check both EPERM "$(pc chown f $NOBODY $NOBODY)"
	check unchanged "0 $PC_UID,$PC_GID" "$(pc chown f -1 -1 : stat f uid,gid)"
	check gid-only EPERM "$(pc chown f -1 $NOBODY)"
	check uid-only EPERM "$(pc chown f $NOBODY -1)"
	check own-ids "0 $PC_UID,$PC_GID" "$(pc chown f $PC_UID $PC_GID : stat f uid,gid)"
	check fchown "0 EPERM" "$(pc open f O_RDONLY : fchown %0 $NOBODY -1)"
	check fchown-own "0 0 $PC_UID,$PC_GID" "$(pc open f O_RDONLY : fchown %0 $PC_UID $PC_GID : stat f uid,gid)"
	check missing ENOENT "$(pc chown nope $PC_UID $PC_GID)"
	# Even a chown that changes no id is a change of the inode.
	c=$(pc stat f ctime)
	out=$(pc nap "$NAP" : chown f $PC_UID $PC_GID : stat f ctime)
	check_later ctime "$c" "$(w 2 "$out")"
}

t_chown_clears_suid() {
	if ((AS)); then
		# The owner's chown to its own ids clears them just the same, but
		# set-gid without group execute stays (the caller is in the group).
		check setuid "0 0 0 755" "$(pc writefile f x : chmod f 4755 : chown f $PC_UID -1 : stat f mode)"
		check setgid "0 0 0 755" "$(pc writefile g x : chmod g 2755 : chown g -1 $PC_GID : stat g mode)"
		check both "0 0 0 755" "$(pc writefile h x : chmod h 6755 : chown h $PC_UID $PC_GID : stat h mode)"
		check setgid-no-gx "0 0 0 2745" "$(pc writefile i x : chmod i 2745 : chown i $PC_UID $PC_GID : stat i mode)"
		check dir "0 0 0 6755" "$(pc mkdir d 0755 : chmod d 6755 : chown d $PC_UID $PC_GID : stat d mode)"
		# Without CAP_FSETID the owner's own write clears set-uid.
		check user-write "0 0 0 777" "$(pc writefile w x : chmod w 4777 : writefile w yy : stat w mode)"
		return 0
	fi
	# Linux clears set-uid, and set-gid with group execute, on chown even by root.
	check setuid "0 0 0 755" "$(pc writefile f x : chmod f 4755 : chown f 65534 -1 : stat f mode)"
	check setgid "0 0 0 755" "$(pc writefile g x : chmod g 2755 : chown g -1 65534 : stat g mode)"
	check both "0 0 0 755" "$(pc writefile h x : chmod h 6755 : chown h 0 0 : stat h mode)"
	# Set-gid without group execute is not a privilege (it marks locking); root keeps it.
	check setgid-no-gx "0 0 0 2745" "$(pc writefile i x : chmod i 2745 : chown i 65534 100 : stat i mode)"
	# Directories keep both bits.
	check dir "0 0 0 6755" "$(pc mkdir d 0755 : chmod d 6755 : chown d 65534 65534 : stat d mode)"
	# A write by root (CAP_FSETID) keeps them.
	check root-write "0 0 0 4777" "$(pc writefile w x : chmod w 4777 : writefile w yy : stat w mode)"
}

# ------------------------------------------------------------------ truncate

t_truncate_basic() {
	check setup 0 "$(pc writefile f abc)"
	check grow "0 10 abc$(zeros 7)" "$(pc truncate f 10 : stat f size : readfile f)"
	check shrink "0 2 ab" "$(pc truncate f 2 : stat f size : readfile f)"
	check grow-again "0 ab$(zeros 3)" "$(pc truncate f 5 : readfile f)"
	check zero "0 <empty>" "$(pc truncate f 0 : readfile f)"
	check ftruncate "0 0 4 $(zeros 4)" "$(pc open f O_RDWR : ftruncate %0 4 : fstat %0 size : pread %0 0 10)"
	check missing ENOENT "$(pc truncate nope 1)"
	check dir "0 EISDIR" "$(pc mkdir d 0755 : truncate d 1)"
	check negative EINVAL "$(pc truncate f -1)"
	# ftruncate(2): EBADF or EINVAL for a descriptor not open for writing; Linux says EINVAL.
	check_any ftruncate-rdonly "0 EINVAL|0 EBADF" "$(pc open f O_RDONLY : ftruncate %0 1)"
}

t_truncate_times() {
	local out
	check setup "0 0" "$(pc writefile f abc : utimensat f 1000000000.000000000 1000000000.000000000)"
	out=$(pc stat f ctime : nap "$NAP" : truncate f 1 : stat f mtime : stat f ctime)
	check_later mtime 1000000000.000000000 "$(w 3 "$out")"
	check_later ctime "$(w 0 "$out")" "$(w 4 "$out")"
}

t_truncate_sparse() {
	local out
	check setup 0 "$(pc writefile f '')"
	check 5gib "0 5368709120" "$(pc truncate f 5G : stat f size)"
	# No data was written: only metadata blocks, if any.
	check_num blocks -le 64 "$(pc stat f blocks)"
	check tail-zeros "0 $(zeros 16)" "$(pc open f O_RDONLY : pread %0 5368709104 16)"
	check at-eof "0 <eof>" "$(pc open f O_RDONLY : pread %0 5G 16)"
	check middle-zeros "0 $(zeros 8)" "$(pc open f O_RDONLY : pread %0 2G 8)"
	out=$(pc open f O_RDWR : pwrite %0 5368709119 z : fstat %0 size : pread %0 5368709118 4)
	check write-last-byte "0 1 5368709120 \\000z" "$out"
	check_num blocks-after-write -le 256 "$(pc stat f blocks)"
	check grow-by-write "0 1 6442450945" "$(pc open f O_WRONLY : pwrite %0 6G y : fstat %0 size)"
	check shrink "0 4096 0 $(zeros 4)" "$(pc truncate f 4096 : stat f size : open f O_RDONLY : pread %0 4092 8)"
}

# ------------------------------------------------------------------ timestamps

t_times_write() {
	local out
	check setup "0 0" "$(pc writefile f x : utimensat f 1000000000.000000000 1000000000.000000000)"
	out=$(pc stat f ctime : nap "$NAP" : open f O_WRONLY,O_APPEND : write %0 y : close %0 : stat f mtime : stat f ctime : stat f atime)
	check_later write-mtime 1000000000.000000000 "$(w 5 "$out")"
	check_later write-ctime "$(w 0 "$out")" "$(w 6 "$out")"
	# Reading may or may not move atime (relatime, noatime); writing must not.
	check write-atime 1000000000.000000000 "$(w 7 "$out")"
	# A new file gets one time for all three (a write after it may tick the clock).
	out=$(pc open g O_CREAT,O_WRONLY 0644 : close %0 : stat g atime : stat g mtime : stat g ctime)
	check new-file-equal "$(w 2 "$out") $(w 2 "$out")" "$(w 3 "$out") $(w 4 "$out")"
}

t_times_utimensat() {
	local c out
	check setup 0 "$(pc writefile f x)"
	c=$(pc stat f ctime)
	out=$(pc nap "$NAP" : utimensat f 1000000000.123456789 1234567890.987654321 : stat f atime : stat f mtime : stat f ctime)
	check explicit-ns "0 0 1000000000.123456789 1234567890.987654321" "$(w 0 "$out") $(w 1 "$out") $(w 2 "$out") $(w 3 "$out")"
	check_later explicit-ctime "$c" "$(w 4 "$out")"
	check omit-atime "0 1000000000.123456789 2000000000.000000001" "$(pc utimensat f UTIME_OMIT 2000000000.000000001 : stat f atime : stat f mtime)"
	check omit-mtime "0 1500000000.500000000 2000000000.000000001" "$(pc utimensat f 1500000000.500000000 UTIME_OMIT : stat f atime : stat f mtime)"
	c=$(pc stat f ctime)
	# Both UTIME_OMIT changes nothing, not even ctime.
	check omit-both "0 0 $c" "$(pc nap "$NAP" : utimensat f UTIME_OMIT UTIME_OMIT : stat f ctime)"
	out=$(pc utimensat f UTIME_NOW UTIME_NOW : stat f atime : stat f mtime)
	check_later now-atime 1600000000.000000000 "$(w 1 "$out")"
	check_later now-mtime 1600000000.000000000 "$(w 2 "$out")"
	check now-equal "$(w 1 "$out")" "$(w 2 "$out")"
	check y2100 "0 4102444800.000000001 4102444800.999999999" "$(pc utimensat f 4102444800.000000001 4102444800.999999999 : stat f atime : stat f mtime)"
	check missing ENOENT "$(pc utimensat nope UTIME_NOW UTIME_NOW)"
}

t_times_nofollow() {
	local out
	check setup "0 0" "$(pc writefile t x : symlink t l)"
	out=$(pc utimensat l 1000000000.000000000 1100000000.000000000 AT_SYMLINK_NOFOLLOW : lstat l mtime : stat t mtime)
	check link-only "0 1100000000.000000000" "$(w 0 "$out") $(w 1 "$out")"
	check target-untouched 1 "$(ts_gt "$(w 2 "$out")" 1100000000.000000000 && echo 1)"
	check dir "0 0 1100000000.000000000" "$(pc mkdir d 0755 : utimensat d 1000000000.000000000 1100000000.000000000 : stat d mtime)"
}

# ------------------------------------------------------------------ mknod

t_mknod_fifo() {
	check make "0 fifo,644,0" "$(pc mknod p fifo 644 : stat p type,mode,size)"
	check exists EEXIST "$(pc mknod p fifo 644)"
	check data "0 1 x" "$(pc open p O_RDWR,O_NONBLOCK : write %0 x : read %0 1)"
	check over-file "0 EEXIST" "$(pc writefile f x : mknod f fifo 644)"
	check dtypes 0 "$(pc dtypes .)"
}

t_mknod_other() {
	check socket "0 sock,755" "$(pc mknod s sock 755 : stat s type,mode)"
	if ((AS)); then
		# Device nodes need CAP_MKNOD; an existing name is EEXIST all the same.
		check chr EPERM "$(pc mknod c chr 600 1 3)"
		check blk EPERM "$(pc mknod b blk 600 7 0)"
		check not-made "ENOENT ENOENT" "$(pc lstat c type) $(pc lstat b type)"
		check reg "0 reg,644" "$(pc mknod r reg 644 : stat r type,mode)"
		check exists EEXIST "$(pc mknod s chr 600 1 3)"
	else
		check chr "0 chr,600,1:3" "$(pc mknod c chr 600 1 3 : stat c type,mode,rdev)"
		check blk "0 blk,600,7:0" "$(pc mknod b blk 600 7 0 : stat b type,mode,rdev)"
		check reg "0 reg,644" "$(pc mknod r reg 644 : stat r type,mode)"
		check exists EEXIST "$(pc mknod c chr 600 1 3)"
	fi
	check missing-parent ENOENT "$(pc mknod nodir/p fifo 644)"
	check dtypes 0 "$(pc dtypes .)"
}

# ------------------------------------------------------------------ xattrs

t_xattr_basic() {
	local c out
	check setup 0 "$(pc writefile f x)"
	check set-get "0 hello" "$(pc setxattr f user.a hello 0 : getxattr f user.a)"
	check empty-value "0 <empty>" "$(pc setxattr f user.b '' 0 : getxattr f user.b)"
	check list "user.a/user.b" "$(pc listxattr f)"
	check size-query 5 "$(pc getxattr f user.a 0)"
	check small-buffer ERANGE "$(pc getxattr f user.a 2)"
	check list-small-buffer ERANGE "$(pc listxattr f 3)"
	check create-exists EEXIST "$(pc setxattr f user.a other XATTR_CREATE)"
	check replace-missing ENODATA "$(pc setxattr f user.c other XATTR_REPLACE)"
	check replace "0 other" "$(pc setxattr f user.a other XATTR_REPLACE : getxattr f user.a)"
	check create "0 new" "$(pc setxattr f user.c new XATTR_CREATE : getxattr f user.c)"
	check remove "0 ENODATA" "$(pc removexattr f user.a : getxattr f user.a)"
	check list-after "user.b/user.c" "$(pc listxattr f)"
	check remove-missing ENODATA "$(pc removexattr f user.zz)"
	check get-missing ENODATA "$(pc getxattr f user.zz)"
	check binary "0 $(pc hash 100 3)" "$(pc setxattr f user.bin @100:3 0 : getxattr f user.bin)"
	check name-255 "0 v" "$(pc setxattr f @250 v 0 : getxattr f "user.$(printf 'n%.0s' {1..250})")"
	check name-256 ERANGE "$(pc setxattr f @251 v 0)"
	check dir "0 0 d" "$(pc mkdir d 0755 : setxattr d user.d d 0 : getxattr d user.d)"
	# user.* is for regular files and directories only.
	check symlink "0 EPERM" "$(pc symlink f l : lsetxattr l user.a v 0)"
	check fifo "0 EPERM" "$(pc mknod p fifo 644 : setxattr p user.a v 0)"
	check missing-file ENOENT "$(pc setxattr nope user.a v 0)"
	c=$(pc stat f ctime)
	out=$(pc nap "$NAP" : setxattr f user.t t 0 : stat f ctime)
	check_later ctime "$c" "$(w 2 "$out")"
	check follows-symlink "t" "$(pc getxattr l user.t)"
}

t_xattr_large() {
	local out fstype
	check setup 0 "$(pc writefile f x)"
	out=$(pc setxattr f user.big @60K:5 0)
	fstype=$(pc statfs . type)
	if [ "$out" != 0 ] && [ "$fstype" = 0xef53 ]; then
		# ext4 without the ea_inode feature keeps all of a file's xattrs in one
		# block and answers ENOSPC (Linux allows per-filesystem limits).  Only
		# ext4 is excused: chainfs must store 60 KiB values.
		check_any ext4-limit "ENOSPC|E2BIG" "$out"
		note "ext4 without ea_inode: 60 KiB xattr refused with $out"
	else
		check set-60k 0 "$out"
		check get-60k "$(pc hash 61440 5)" "$(pc getxattr f user.big)"
		check size-60k 61440 "$(pc getxattr f user.big 0)"
		check remove-60k "0 ENODATA" "$(pc removexattr f user.big : getxattr f user.big)"
	fi
	# XATTR_SIZE_MAX (64 KiB) is enforced by the VFS for everyone.
	check over-64k E2BIG "$(pc setxattr f user.huge @65537:1 0)"
}

# ------------------------------------------------------------------ fallocate, SEEK_DATA/SEEK_HOLE

t_falloc_basic() {
	local out
	check setup "0" "$(pc writefile f '')"
	out=$(pc open f O_RDWR : fallocate %0 0 0 1M : fstat %0 size : pread %0 1000 4)
	check mode-0 "0 0 1048576 $(zeros 4)" "$out"
	check_num mode-0-blocks -ge 2048 "$(pc stat f blocks)"
	out=$(pc open f O_RDWR : fallocate %0 KEEP_SIZE 1M 1M : fstat %0 size)
	if [ "$out" = "0 EOPNOTSUPP" ]; then
		# EOPNOTSUPP allowed here: Linux lets a filesystem refuse KEEP_SIZE
		# (FUSE reports it when the daemon lacks it); callers fall back.
		note "fallocate KEEP_SIZE refused with EOPNOTSUPP"
		pass
	else
		check keep-size "0 0 1048576" "$out"
		check_num keep-size-blocks -ge 4096 "$(pc stat f blocks)"
	fi
	# PUNCH_HOLE requires KEEP_SIZE: the VFS refuses it before the filesystem sees it.
	check punch-without-keep "0 EOPNOTSUPP" "$(pc open f O_RDWR : fallocate %0 PUNCH_HOLE 0 4096)"
	check rdonly-fd "0 EBADF" "$(pc open f O_RDONLY : fallocate %0 0 0 4096)"
	check zero-length "0 EINVAL" "$(pc open f O_RDWR : fallocate %0 0 0 0)"
	check negative "0 EINVAL" "$(pc open f O_RDWR : fallocate %0 0 -1 4096)"
	check grow "0 0 3145728" "$(pc open f O_RDWR : fallocate %0 0 2M 1M : fstat %0 size)"
}

# falloc_declined MODE SEED OUT: true when fallocate MODE answered OUT
# "0 EOPNOTSUPP", which Linux allows for these optional modes (FUSE reports
# it when the daemon lacks one; tmpfs refuses ZERO_RANGE): noted, and f,
# the 3 MiB pattern of SEED, must be intact.
falloc_declined() {
	[ "$3" = "0 EOPNOTSUPP" ] || return 1
	note "fallocate $1 refused with EOPNOTSUPP"
	check untouched "$(pc hash 3M "$2")" "$(pc hashfile f 1M)"
	return 0
}

t_falloc_punch() {
	local out
	check setup 0 "$(pc writepattern f 3M 4 65536)"
	out=$(pc open f O_RDWR : fallocate %0 PUNCH_HOLE,KEEP_SIZE 1M 1M : fstat %0 size)
	falloc_declined PUNCH_HOLE 4 "$out" && return 0
	check punch "0 0 3145728" "$out"
	check hole-zeros "0 $(zeros 8)" "$(pc open f O_RDONLY : pread %0 1048581 8)"
	check before-hole "0 $(pc hash 1M 4 0)" "$(pc open f O_RDONLY : preadsum %0 0 1M)"
	check after-hole "0 $(pc hash 1M 4 2M)" "$(pc open f O_RDONLY : preadsum %0 2M 1M)"
	# Two MiB of data left: 4096 sectors, plus a little filesystem metadata.
	check_num blocks -le 4200 "$(pc stat f blocks)"
	# Either a hole at exactly the punched range, or (generic lseek) all data.
	check_any seek-hole "0 1048576|0 3145728" "$(pc open f O_RDONLY : lseek %0 0 SEEK_HOLE)"
}

t_falloc_zero() {
	local out
	check setup 0 "$(pc writepattern f 3M 6 65536)"
	out=$(pc open f O_RDWR : fallocate %0 ZERO_RANGE,KEEP_SIZE 1M 3M : fstat %0 size)
	falloc_declined ZERO_RANGE 6 "$out" && return 0
	check keep-size "0 0 3145728" "$out"
	check zeros "0 $(zeros 8)" "$(pc open f O_RDONLY : pread %0 2M 8)"
	check before "0 $(pc hash 1M 6 0)" "$(pc open f O_RDONLY : preadsum %0 0 1M)"
	# Without KEEP_SIZE the file grows to the range's end, zeros to it.
	out=$(pc open f O_RDWR : fallocate %0 ZERO_RANGE 100 4M : fstat %0 size : pread %0 4194403 1 : preadsum %0 0 100 : pread %0 100 1)
	check extend "0 0 4194404 $(zeros 1) $(pc hash 100 6 0) $(zeros 1)" "$out"
	check inside "0 0 4194404" "$(pc open f O_RDWR : fallocate %0 ZERO_RANGE 0 10 : fstat %0 size)"
	check zero-start "0 $(zeros 10)" "$(pc open f O_RDONLY : pread %0 0 10)"
	check with-punch "0 EOPNOTSUPP" "$(pc open f O_RDWR : fallocate %0 ZERO_RANGE,PUNCH_HOLE,KEEP_SIZE 0 10)"
}

t_seek_data_hole() {
	local out size=$((8 * 1048576 + 4096))
	out=$(pc open f O_CREAT,O_RDWR 0644 : pwrite %0 0 @4096:1 : pwrite %0 8M @4096:2 : fstat %0 size)
	check setup "0 4096 4096 $size" "$out"
	out=$(pc open f O_RDONLY : lseek %0 0 SEEK_HOLE : lseek %0 4096 SEEK_DATA)
	# A filesystem reports real holes (4096, 8 MiB), or has none to report and
	# answers as the generic Linux lseek does (EOF, the offset itself).
	check_any hole-then-data "0 4096 8388608|0 $size 4096" "$out"
	check data-at-0 "0 0" "$(pc open f O_RDONLY : lseek %0 0 SEEK_DATA)"
	check data-inside "0 8388708" "$(pc open f O_RDONLY : lseek %0 8388708 SEEK_DATA)"
	check hole-at-eof "0 $size" "$(pc open f O_RDONLY : lseek %0 8M SEEK_HOLE)"
	check data-past-eof "0 ENXIO" "$(pc open f O_RDONLY : lseek %0 $size SEEK_DATA)"
	check hole-past-eof "0 ENXIO" "$(pc open f O_RDONLY : lseek %0 $size SEEK_HOLE)"
	check content "0 $(pc hash 4096 2 8M)" "$(pc open f O_RDONLY : preadsum %0 8M 1M)"
	check gap-zeros "0 $(zeros 8)" "$(pc open f O_RDONLY : pread %0 4M 8)"
	check_num blocks -le 64 "$(pc stat f blocks)"
	# All hole: no data at all (ENXIO), or generic: data at 0, hole at EOF.
	out=$(pc writefile e '' : truncate e 1G : open e O_RDONLY : lseek %0 0 SEEK_DATA)
	check_any all-hole "0 0 0 ENXIO|0 0 0 0" "$out"
}

t_seek_sparse_pwrite() {
	local out
	out=$(pc open f O_CREAT,O_RDWR 0644 : pwrite %0 0 a : pwrite %0 1M b : pwrite %0 1G c : fstat %0 size)
	check setup "0 1 1 1 1073741825" "$out"
	check around-1m "0 \\000b\\000" "$(pc open f O_RDONLY : pread %0 1048575 3)"
	check at-1g-read "0 c" "$(pc open f O_RDONLY : pread %0 1G 10)"
	check_num blocks -le 256 "$(pc stat f blocks)"
}

# ------------------------------------------------------------------ copy_file_range

t_copy_basic() {
	local n=$((1048576 + 123))
	check setup 0 "$(pc writepattern src $n 7 65536)"
	check whole "0 0 $n" "$(pc open src O_RDONLY : open dst O_CREAT,O_WRONLY 0644 : copy_file_range %0 0 %1 0 $n)"
	check content "$(pc hash $n 7)" "$(pc hashfile dst 65536)"
	check offsets "0 0 3000 8000" "$(pc open src O_RDONLY : open d2 O_CREAT,O_WRONLY 0644 : copy_file_range %0 1000 %1 5000 3000 : fstat %1 size)"
	check offsets-data "0 $(pc hash 3000 7 1000)" "$(pc open d2 O_RDONLY : preadsum %0 5000 3000)"
	check offsets-gap "0 $(zeros 4)" "$(pc open d2 O_RDONLY : pread %0 0 4)"
	check short-at-eof "0 0 123" "$(pc open src O_RDONLY : open d3 O_CREAT,O_WRONLY 0644 : copy_file_range %0 1M %1 0 1M)"
	check file-offsets "0 0 100 100 200" "$(pc open src O_RDONLY : open d4 O_CREAT,O_WRONLY 0644 : copy_file_range %0 - %1 - 100 : copy_file_range %0 - %1 - 100 : lseek %1 0 SEEK_CUR)"
	check file-offsets-data "$(pc hash 200 7)" "$(pc hashfile d4 7)"
}

t_copy_errors() {
	check setup "0 0" "$(pc writepattern src 8192 1 4096 : writefile dst x)"
	check dst-rdonly "0 0 EBADF" "$(pc open src O_RDONLY : open dst O_RDONLY : copy_file_range %0 0 %1 0 10)"
	check src-wronly "0 0 EBADF" "$(pc open src O_WRONLY : open dst O_WRONLY : copy_file_range %0 0 %1 0 10)"
	check overlap "0 0 EINVAL" "$(pc open src O_RDONLY : open src O_WRONLY : copy_file_range %0 0 %1 100 1000)"
	check dir "0 0 0 EISDIR" "$(pc mkdir d 0755 : open d O_RDONLY : open dst O_WRONLY : copy_file_range %0 0 %1 0 10)"
	check append "0 0 EBADF" "$(pc open src O_RDONLY : open dst O_WRONLY,O_APPEND : copy_file_range %0 0 %1 0 10)"
}

# ------------------------------------------------------------------ readdir

t_readdir_many() {
	local exp i args=()
	check mkfiles 1000 "$(pc mkfiles . f 1000)"
	exp=$({
		printf '%s\n' . ..
		for ((i = 0; i < 1000; i++)); do
			printf 'f%04d\n' $i
		done
	} | joinslash)
	check list-1000 "$exp" "$(pc readdir .)"
	check dtypes 0 "$(pc dtypes .)"
	for ((i = 0; i < 1000; i += 2)); do
		args+=(unlink "$(printf 'f%04d' $i)" :)
	done
	args+=(stat . type)
	check unlink-half "dir" "$(pc "${args[@]}" | awk '{print $NF}')"
	exp=$({
		printf '%s\n' . ..
		for ((i = 1; i < 1000; i += 2)); do
			printf 'f%04d\n' $i
		done
	} | joinslash)
	check list-500 "$exp" "$(pc readdir .)"
}

t_readdir_names() {
	local -a names=("with space" "ünïcødé" "日本語ファイル" "-dash" ".hidden" $'tab\there'
		$'new\nline' "emoji 😀" "a:b" "back\\slash" "trailing " "*star?" "'quote\"")
	local n args=() exp
	for n in "${names[@]}"; do
		args+=(writefile "$n" "$n" :)
	done
	args+=(mkdir "dir with space" 0755 : symlink "with space" "link ü")
	pc "${args[@]}" >/dev/null
	exp=$(printf '%s\0' . .. "${names[@]}" "dir with space" "link ü" | LC_ALL=C sort -z |
		tr '\0' '\n' | paste -sd/ -)
	# paste joins every line, including the one inside "new\nline": undo that.
	exp=${exp//new\/line/new$'\n'line}
	check names "$exp" "$(pc readdir .)"
	check utf8-content "日本語ファイル" "$(pc readfile "日本語ファイル")"
	check space-content "with space" "$(pc readfile "link ü")"
	check dtypes 0 "$(pc dtypes .)"
}

t_readdir_empty() {
	check empty "./.." "$(pc readdir .)"
	check after-remove "0 0 0 0 ./.." "$(pc writefile a x : mkdir b 0755 : unlink a : rmdir b : readdir .)"
	check not-dir "0 ENOTDIR" "$(pc writefile f x : readdir f)"
	check missing ENOENT "$(pc readdir nope)"
}

# ------------------------------------------------------------------ statfs

t_statfs_basic() {
	check namelen 255 "$(pc statfs . namelen)"
	check consistent 1 "$(pc statfs . sane)"
	check_num bsize -gt 0 "$(pc statfs . bsize)"
	check missing ENOENT "$(pc statfs nope namelen)"
	check file "0 255" "$(pc writefile f x : statfs f namelen)"
}

# ------------------------------------------------------------------ O_APPEND

t_append_basic() {
	check setup 0 "$(pc writefile f abc)"
	check after-seek "0 0 3 6 6" "$(pc open f O_WRONLY,O_APPEND : lseek %0 0 SEEK_SET : write %0 def : fstat %0 size : lseek %0 0 SEEK_CUR)"
	check content abcdef "$(pc readfile f)"
	check two-fds "0 0 1 1 1" "$(pc open f O_WRONLY,O_APPEND : open f O_WRONLY,O_APPEND : write %0 1 : write %1 2 : write %0 3)"
	check two-fds-content abcdef123 "$(pc readfile f)"
	# Linux: pwrite on an O_APPEND descriptor appends whatever the offset (pwrite(2) BUGS).
	check pwrite "0 1 abcdef123x" "$(pc open f O_WRONLY,O_APPEND : pwrite %0 0 x : readfile f)"
	check rdwr-read "0 0 abc" "$(pc open f O_RDWR,O_APPEND : lseek %0 0 SEEK_SET : read %0 3)"
	check creat-append "0 1 1 xy" "$(pc open g O_CREAT,O_WRONLY,O_APPEND 0644 : write %0 x : write %0 y : readfile g)"
}

# ------------------------------------------------------------------ large I/O

t_io_large() {
	local n=$((8 * 1048576 + 12345)) h
	h=$(pc hash $n 9)
	check write-odd-chunks 0 "$(pc writepattern f $n 9 65537)"
	check size "$n" "$(pc stat f size)"
	check read-1m-minus-1 "$h" "$(pc hashfile f 1048575)"
	check read-4k "$h" "$(pc hashfile f 4096)"
	check read-4m "$h" "$(pc hashfile f 4M)"
	check across-1m "0 $(pc hash 100 9 1048526)" "$(pc open f O_RDONLY : preadsum %0 1048526 100)"
	check across-7m "0 $(pc hash 1048576 9 7340031)" "$(pc open f O_RDONLY : preadsum %0 7340031 1M)"
	check pwrite-across-2m "0 20 $(pc hash 20 11 2097142)" "$(pc open f O_RDWR : pwrite %0 2097142 @20:11 : preadsum %0 2097142 20)"
	check neighbours "0 $(pc hash 10 9 2097132) $(pc hash 10 9 2097162)" "$(pc open f O_RDONLY : preadsum %0 2097132 10 : preadsum %0 2097162 10)"
	check fsync "0 0 0" "$(pc open f O_RDWR : fsync %0 : fdatasync %0)"
	check eof "0 <eof>" "$(pc open f O_RDONLY : pread %0 $n 10)"
	check rewrite "0 $h" "$(pc writepattern f $n 9 1M : hashfile f 65536)"
}

# ------------------------------------------------------------------ inode flags

t_chattr() {
	local out
	check setup "0 0" "$(pc writefile f data : mkdir d 0755)"
	out=$(pc getflags f)
	if { [ "$out" = ENOTTY ] || [ "$out" = EOPNOTSUPP ]; } && [ "$(pc statfs . type)" != 0x65735546 ]; then
		# Excused for filesystems without inode flags, but not for FUSE
		# ones (0x65735546): chainfs must answer.
		note "inode flags (FS_IOC_GETFLAGS) refused with $out"
		return 0
	fi
	check none none "$out"
	if ((AS)); then
		# Immutable and append-only need CAP_LINUX_IMMUTABLE; other flags, ownership.
		check immutable EPERM "$(pc setflags f IMMUTABLE)"
		check append EPERM "$(pc setflags f APPEND)"
		check nodump "0 NODUMP" "$(pc setflags f NODUMP : getflags f)"
		check others-file EPERM "$(nb setflags f 0)"
		return 0
	fi
	# Immutable: read, but nothing else, not even by root.
	check set-i "0 IMMUTABLE" "$(pc setflags f IMMUTABLE : getflags f)"
	check i-read data "$(pc readfile f)"
	check i-open-write EPERM "$(pc open f O_WRONLY)"
	check i-open-append EPERM "$(pc open f O_WRONLY,O_APPEND)"
	check i-truncate EPERM "$(pc truncate f 0)"
	check i-chmod EPERM "$(pc chmod f 600)"
	check i-xattr EPERM "$(pc setxattr f user.x v 0)"
	check i-link EPERM "$(pc link f g)"
	check i-unlink EPERM "$(pc unlink f)"
	check i-rename EPERM "$(pc rename f g)"
	check clear-i "0 none data" "$(pc setflags f 0 : getflags f : readfile f)"
	# Append-only: appends, nothing else.
	check set-a "0 APPEND" "$(pc setflags f APPEND : getflags f)"
	check a-open-write EPERM "$(pc open f O_WRONLY)"
	check a-append "0 1 datax" "$(pc open f O_WRONLY,O_APPEND : write %0 x : readfile f)"
	check a-truncate EPERM "$(pc truncate f 0)"
	check a-unlink EPERM "$(pc unlink f)"
	check a-rename EPERM "$(pc rename f g)"
	check clear-a "0 none" "$(pc setflags f 0 : getflags f)"
	# An immutable directory takes no new name and loses none.
	check set-dir-i "0 0 IMMUTABLE" "$(pc writefile d/in x : setflags d IMMUTABLE : getflags d)"
	check dir-create EPERM "$(pc writefile d/new x)"
	check dir-unlink EPERM "$(pc unlink d/in)"
	check dir-write-inside "0 1" "$(pc open d/in O_WRONLY : write %0 y)"
	check clear-dir "0 0" "$(pc setflags d 0 : unlink d/in)"
	check nodump "0 NODUMP,NOATIME" "$(pc setflags f NODUMP,NOATIME : getflags f)"
}

# ------------------------------------------------------------------ mmap

t_mmap_shared() {
	local out
	check setup 0 "$(pc writepattern f 64K 5 4096)"
	# Stores through a shared mapping reach the file: read(2) sees them at
	# once (even before msync), and after msync another descriptor does.
	out=$(pc open f O_RDWR : mmap %0 64K shared : mstore @0 5000 hello : pread %0 5000 5 : msync @0)
	check store "0 0 5 hello 0" "$out"
	check other-fd "0 hello" "$(pc open f O_RDONLY : pread %0 5000 5)"
	# A write(2) is seen through a mapping made before it.
	out=$(pc open f O_RDWR : mmap %0 64K shared : mload @0 5000 5 : pwrite %0 5000 HELLO : mload @0 5000 5)
	check sees-write "0 0 hello 5 HELLO" "$out"
	# Two shared mappings of one file share their pages.
	out=$(pc open f O_RDWR : mmap %0 64K shared : mmap %0 64K shared : mstore @0 60000 xyz : mload @1 60000 3)
	check two-maps "0 0 0 3 xyz" "$out"
	# The rest of the file is untouched.
	check rest "0 $(pc hash 4096 5 8192)" "$(pc open f O_RDONLY : preadsum %0 8192 4096)"
	# Mapping needs a descriptor that can read; a shared writable one, a writable one.
	check wronly-fd "0 EACCES" "$(pc open f O_WRONLY : mmap %0 4096 shared)"
	check rdonly-fd "0 EACCES" "$(pc open f O_RDONLY : mmap %0 4096 shared)"
}

t_mmap_private() {
	local out
	check setup 0 "$(pc writefile f 0123456789)"
	out=$(pc open f O_RDWR : mmap %0 4096 private : mstore @0 0 ab : mload @0 0 4 : pread %0 0 4)
	check copy-on-write "0 0 2 ab23 0123" "$out"
	check file-unchanged 0123456789 "$(pc readfile f)"
}

# ------------------------------------------------------------------ as a non-root user

t_perm_dir_access() {
	check setup "0 0 0 0 0 0" "$(pc mkdir priv 0700 : writefile priv/f x : mkdir rw 0755 : chmod rw 766 : writefile rw/f x : mkdir ro 0755)"
	check setup2 0 "$(pc writefile ro/f x)"
	check stat-in-0700 EACCES "$(nb stat priv/f type)"
	check create-in-0700 EACCES "$(nb open priv/g O_CREAT,O_WRONLY 0644)"
	check readdir-0700 EACCES "$(nb readdir priv)"
	check stat-0700-itself dir "$(nb stat priv type)"
	# Read without search: names can be listed, not looked up.
	check readdir-no-x "./../f" "$(nb readdir rw)"
	check stat-no-x EACCES "$(nb stat rw/f type)"
	check create-no-w EACCES "$(nb open ro/g O_CREAT,O_WRONLY 0644)"
	check unlink-no-w EACCES "$(nb unlink ro/f)"
	check mkdir-no-w EACCES "$(nb mkdir ro/d 0755)"
	check rename-no-w EACCES "$(nb rename ro/f ro/g)"
	check symlink-no-w EACCES "$(nb symlink x ro/l)"
	check mknod-no-w EACCES "$(nb mknod ro/p fifo 644)"
	if ((AS)); then
		# Not root: another user's 0700 directory is closed to pc as well.
		check owner-access "reg 0" "$(pc stat priv/f type : access priv/f R_OK,W_OK)"
		check setup3 "0 0" "$(pc mkdir ww 0777 : chmod ww 777)"
		check setup4 "0 0" "$(nb mkdir ww/priv 0700 : writefile ww/priv/f x)"
		check user-limited EACCES "$(pc stat ww/priv/f type)"
		check user-readdir-0700 EACCES "$(pc readdir ww/priv)"
	else
		check root-not-limited "reg 0" "$(pc stat priv/f type : access priv/f R_OK,W_OK)"
	fi
}

t_perm_file_access() {
	check setup "0 0 0 0 0 0" "$(pc writefile r x : chmod r 640 : writefile w x : writefile x x : chmod x 755 : writefile z x)"
	if ((AS)); then
		# Not root, so no chown: pc owns o itself, and $NOBODY makes g in a
		# set-gid directory of pc's group, so that pc is in g's group class.
		check setup2 "0 0 0 0 0" "$(pc chmod z 0 : writefile o x : chmod o 077 : mkdir sg 0777 : chmod sg 2777)"
		check setup3 "0 0" "$(nb writefile sg/g x : chmod sg/g 607)"
	else
		check setup2 "0 0 0 0 0 0 0 0" "$(pc chmod z 0 : writefile o x : chown o $NOBODY 0 : chmod o 077 : \
			writefile g x : chown g 0 $NOBODY : chmod g 607 : writefile zz x)"
	fi
	check read-0640 EACCES "$(nb open r O_RDONLY)"
	check read-0644 0 "$(nb open w O_RDONLY)"
	check write-0644 EACCES "$(nb open w O_WRONLY)"
	check truncate-0644 EACCES "$(nb truncate w 0)"
	check access-r 0 "$(nb access w R_OK)"
	check access-w EACCES "$(nb access w W_OK)"
	check access-x 0 "$(nb access x X_OK)"
	check access-x-none EACCES "$(nb access w X_OK)"
	check faccessat-eaccess EACCES "$(nb faccessat w W_OK AT_EACCESS)"
	if ((AS)); then
		# The owner gets no read/write on mode 0 (only root does).
		check user-rw-0000 EACCES "$(pc access z R_OK,W_OK)"
		check user-x-0644 EACCES "$(pc access w X_OK)"
		check user-x-0755 0 "$(pc access x X_OK)"
		# Only the owner class applies to the owner, even when "other" may do more.
		check owner-class EACCES "$(pc open o O_RDONLY)"
		check group-class "EACCES $NOBODY,$PC_GID" "$(pc open sg/g O_RDONLY) $(pc stat sg/g uid,gid)"
		return 0
	fi
	# Root passes read/write checks on mode 0, but execute needs some x bit.
	check root-rw-0000 0 "$(pc access z R_OK,W_OK)"
	check root-x-0644 EACCES "$(pc access w X_OK)"
	check root-x-0755 0 "$(pc access x X_OK)"
	# Only the owner class applies to the owner, even when "other" may do more.
	check owner-class EACCES "$(nb open o O_RDONLY)"
	check group-class EACCES "$(nb open g O_RDONLY)"
}

t_perm_chown() {
	local sgf=mine
	if ((AS)); then
		# Not root: $NOBODY makes its own file in the (now world-writable) directory.
		check setup "0 0" "$(pc writefile rootf x : chmod . 777)"
		check setup2 0 "$(nb writefile mine x)"
	else
		check setup "0 0 0" "$(pc writefile rootf x : writefile mine x : chown mine $NOBODY $NOBODY)"
	fi
	check chown-other EPERM "$(nb chown rootf $NOBODY $NOBODY)"
	check chmod-other EPERM "$(nb chmod rootf 777)"
	check give-away EPERM "$(nb chown mine $PC_UID -1)"
	check foreign-group EPERM "$(nb chown mine -1 $PC_GID)"
	check own-ids "0 $NOBODY,$NOBODY" "$(nb chown mine $NOBODY $NOBODY : stat mine uid,gid)"
	check noop "0 $NOBODY,$NOBODY" "$(nb chown mine -1 -1 : stat mine uid,gid)"
	check chmod-own "0 600" "$(nb chmod mine 600 : stat mine mode)"
	# Set-gid for a group the caller is not in is dropped silently.
	if ((AS)); then
		# A file of $NOBODY's in pc's group: made in a set-gid directory.
		sgf=sg/m
		check setup3 "0 0" "$(pc mkdir sg 0777 : chmod sg 2777)"
		check setup3b "0 0 $NOBODY,$PC_GID" "$(nb writefile sg/m x : chmod sg/m 755 : stat sg/m uid,gid)"
	else
		check setup3 0 "$(pc chown mine -1 100)"
	fi
	check chmod-sgid-foreign "0 755" "$(nb chmod $sgf 2755 : stat $sgf mode)"
	if ((AS)); then
		check setup4 0 "$(pc symlink rootf l)"
	else
		check setup4 "0 0" "$(pc chown mine -1 $NOBODY : symlink rootf l)"
	fi
	check chmod-sgid-own "0 2755" "$(nb chmod mine 2755 : stat mine mode)"
	check lchown-other EPERM "$(nb lchown l $NOBODY -1)"
}

t_perm_sticky() {
	check setup "0 0 0 0 0" "$(pc mkdir s 0755 : chmod s 1777 : writefile s/rootf x : chmod s/rootf 666 : writefile s/rootg x)"
	check setup2 "0 0 0" "$(pc mkdir n 0777 : chmod n 777 : writefile n/rootf x)"
	check mine 0 "$(nb writefile s/mine x)"
	check unlink-others EPERM "$(nb unlink s/rootf)"
	check rename-others EPERM "$(nb rename s/rootf s/x)"
	check replace-others EPERM "$(nb rename s/mine s/rootg)"
	check unlink-mine "0 ENOENT" "$(nb unlink s/mine : stat s/mine type)"
	check setup4 0 "$(nb writefile s/mine2 x)"
	if ((AS)); then
		# Not root: pc may remove the file because it owns s (see dir-owner).
		check owner-any 0 "$(pc unlink s/mine2)"
	else
		check root-any 0 "$(pc unlink s/mine2)"
	fi
	check no-sticky "0 ENOENT" "$(nb unlink n/rootf : stat n/rootf type)"
	# The directory's owner may remove anything in it.
	if ((AS)); then
		# A sticky directory of $NOBODY's, made in the world-writable n.
		check setup3 "0 0 0" "$(nb mkdir n/o 0755 : chmod n/o 1777 : writefile n/o/nbf x)"
		check setup3b "0 0" "$(pc writefile n/o/userf x : chmod n/o/userf 666)"
		check dir-owner 0 "$(nb unlink n/o/userf)"
		# ... and pc, neither its owner nor the file's, may not (root could).
		check user-unlink-others EPERM "$(pc unlink n/o/nbf)"
		check user-rename-others EPERM "$(pc rename n/o/nbf n/o/x)"
		check user-mine "0 0" "$(pc writefile n/o/m x : unlink n/o/m)"
	else
		check setup3 "0 0 0 0" "$(pc mkdir o 0755 : chmod o 1777 : chown o $NOBODY -1 : writefile o/rootf x)"
		check dir-owner 0 "$(nb unlink o/rootf)"
	fi
}

t_perm_setgid_dir() {
	# The group is 4242 as root; under POSIX_AS it is pc's own group, which
	# its owner may chown to (and, being in it, keep set-gid files in it).
	check setup "0 0 0 2777" "$(pc mkdir g 0777 : chmod g 2777 : chown g $PC_UID $SG : stat g mode)"
	check file-gid "0 $NOBODY,$SG" "$(nb writefile g/f x : stat g/f uid,gid)"
	check subdir "0 $NOBODY,$SG,2755" "$(nb mkdir g/d 0755 : stat g/d uid,gid,mode)"
	check nested-file "0 $SG" "$(nb writefile g/d/f x : stat g/d/f gid)"
	check fifo "0 $SG" "$(nb mknod g/p fifo 644 : stat g/p gid)"
	check symlink "0 $SG" "$(nb symlink f g/l : lstat g/l gid)"
	check $me-subdir "0 $PC_UID,$SG,2755" "$(pc mkdir g/r 0755 : stat g/r uid,gid,mode)"
	# A creator outside the group cannot make a set-gid file there (Linux strips the bit).
	check sgid-file-stripped "0 755,$SG" "$(nb open g/s O_CREAT,O_WRONLY 2755 : stat g/s mode,gid)"
	check $me-sgid-file "0 2755,$SG" "$(pc open g/t O_CREAT,O_WRONLY 2755 : stat g/t mode,gid)"
	check setup2 "0 0 0" "$(pc mkdir p 0777 : chmod p 777 : chown p $PC_UID $SG)"
	check plain-dir "0 $NOBODY" "$(nb writefile p/f x : stat p/f gid)"
	check rename-in "0 $NOBODY" "$(nb rename p/f g/moved : stat g/moved gid)"
}

t_perm_suid_write() {
	check setup "0 0 0 0 0 0 0 0" "$(pc writefile u x : chmod u 4777 : writefile g x : chmod g 2777 : writefile b x : chmod b 6777 : writefile t x : chmod t 4777)"
	check setup2 "0 0" "$(pc writefile m x : chmod m 2767)"
	check setuid "0 1 777" "$(nb open u O_WRONLY : write %0 a : stat u mode)"
	check setgid "0 1 777" "$(nb open g O_WRONLY : pwrite %0 0 a : stat g mode)"
	check both "0 1 777" "$(nb open b O_WRONLY : write %0 a : stat b mode)"
	check truncate "0 777" "$(nb truncate t 0 : stat t mode)"
	# Set-gid without group execute is cleared too when the writer is outside the group.
	check setgid-no-gx "0 1 767" "$(nb open m O_WRONLY : write %0 a : stat m mode)"
	# The owner's own write clears set-uid too: only CAP_FSETID keeps it.
	if ((AS)); then
		# Not root: $NOBODY makes its own file in the (now world-writable) directory.
		check setup3 0 "$(pc chmod . 777)"
		check setup3b "0 0" "$(nb writefile o x : chmod o 4755)"
	else
		check setup3 "0 0 0" "$(pc writefile o x : chown o $NOBODY -1 : chmod o 4755)"
	fi
	check owner-write "0 1 755" "$(nb open o O_WRONLY : write %0 a : stat o mode)"
}

t_perm_utimes() {
	if ((AS)); then
		# Not root: $NOBODY makes "own" itself in the (now world-writable) directory.
		check setup "0 0 0 0 0" "$(pc writefile ww x : chmod ww 666 : writefile ro x : chmod . 777 : utimensat ww 1000000000.000000000 1000000000.000000000)"
		check setup2 "0 0" "$(nb writefile own x : chmod own 444)"
		# Only the owner (or root) may set explicit times.
		check user-explicit-other EPERM "$(pc utimensat own 1000000000.000000000 1000000000.000000000)"
	else
		check setup "0 0 0 0 0 0 0" "$(pc writefile ww x : chmod ww 666 : writefile ro x : writefile own x : chown own $NOBODY -1 : chmod own 444 : utimensat ww 1000000000.000000000 1000000000.000000000)"
	fi
	check now-writer 0 "$(nb utimensat ww UTIME_NOW UTIME_NOW)"
	check_later now-writer-mtime 1000000000.000000000 "$(pc stat ww mtime)"
	check explicit-writer EPERM "$(nb utimensat ww 1000000000.000000000 1000000000.000000000)"
	check now-reader EACCES "$(nb utimensat ro UTIME_NOW UTIME_NOW)"
	check explicit-reader EPERM "$(nb utimensat ro 1000000000.000000000 1000000000.000000000)"
	check explicit-owner "0 1000000000.000000005" "$(nb utimensat own 1000000000.000000005 1000000000.000000005 : stat own mtime)"
	check now-owner-readonly 0 "$(nb utimensat own UTIME_NOW UTIME_NOW)"
}

t_perm_misc() {
	check setup "0 0 0 0" "$(pc mkdir d 0777 : chmod d 777 : writefile f x : setxattr f user.a v 0)"
	check mknod-chr EPERM "$(nb mknod d/c chr 600 1 3)"
	check mknod-fifo "0 fifo,$NOBODY" "$(nb mknod d/p fifo 644 : stat d/p type,uid)"
	check new-file-owner "0 $NOBODY,$NOBODY" "$(nb writefile d/f x : stat d/f uid,gid)"
	check setxattr-other EACCES "$(nb setxattr f user.b v 0)"
	check getxattr-readable v "$(nb getxattr f user.a)"
	check setxattr-own "0 v" "$(nb setxattr d/f user.a v 0 : getxattr d/f user.a)"
	check removexattr-other EACCES "$(nb removexattr f user.a)"
}

# ------------------------------------------------------------------ main

started=$(date +%s)
# uid 65534 must be able to run posixcheck and use DIR (paths are relative
# to each case's directory, so DIR's parents need not be searchable).
if ((AS)); then
	echo "posix: running as uid $PC_UID gid $PC_GID (POSIX_AS), other user $NOBODY"
	# pc must be able to work in DIR/posix.XXXXXX, which it owns.
	if [ "$(cd "$work" && pc stat . type,uid : access . W_OK,X_OK)" != "dir,$PC_UID 0" ]; then
		echo "FAIL setup: uid $PC_UID cannot run $PC in $work (a FUSE mount needs allow_other)"
		echo "F setup setup" >>"$results"
	fi
fi
if [ "$(cd "$work" && nb stat . type)" != dir ]; then
	echo "FAIL setup: uid $NOBODY cannot run $PC in $work (a FUSE mount needs allow_other)"
	echo "F setup setup" >>"$results"
fi
for fn in $(declare -F | awk '$3 ~ /^t_/ {print $3}'); do
	if [ -n "${POSIX_ONLY-}" ] && ! [[ ${fn#t_} =~ $POSIX_ONLY ]]; then
		continue
	fi
	run_case "$fn"
done

total=$(grep -c '^[PFX] ' "$results" || true)
failed=$(grep -c '^F ' "$results" || true)
xfailed=$(grep -c '^X ' "$results" || true)
skipped=$(grep -c '^S ' "$results" || true)
if [ $verbose -eq 1 ]; then
	if ((AS)); then
		awk '$1 == "P" || $1 == "F" {n[$2]++; if ($1 == "F") f[$2]++} $1 == "S" {n[$2] += 0; s[$2]++}
			END {for (g in n) printf "posix: %-8s %4d checks, %d failed, %d skipped\n", g, n[g], f[g] + 0, s[g] + 0}' \
			"$results" | sort
	else
		awk '$1 == "P" || $1 == "F" {n[$2]++; if ($1 == "F") f[$2]++}
			END {for (g in n) printf "posix: %-8s %4d checks, %d failed\n", g, n[g], f[g] + 0}' \
			"$results" | sort
	fi
	echo "posix: $(($(date +%s) - started)) s on $(pc statfs "$work" type)"
fi
if ((AS)); then
	echo "posix: $total checks, $failed failed, $skipped skipped (need root)${POSIX_XFAIL:+, $xfailed known deviations (XFAIL)}"
else
	echo "posix: $total checks, $failed failed${POSIX_XFAIL:+, $xfailed known deviations (XFAIL)}"
fi
[ "$failed" -eq 0 ]
