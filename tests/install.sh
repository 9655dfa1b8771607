#!/bin/sh
# install: "make install DESTDIR=tmp" from the build tree must put the
# programs, the manual pages, the systemd units and the sysusers.d entry
# where the configured directories say; each page must render, and
# systemd-analyze verify must accept the units.  man and systemd-analyze
# (and systemd-sysusers) are required, CI installs man-db and systemd:
# without them this test fails rather than skips.
top_builddir=${top_builddir:-.}
make=${MAKE:-make}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/chainfs-install.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

status=0

# Reports a failed check; the test goes on to report the others.
fail() {
	echo "install: FAIL: $*" >&2
	status=1
}

# Prints the values of the named make variables of the build tree, one a line.
# The make running this test is not ours: drop its flags and jobserver.
mkvars() {
	{
		echo 'print-install-vars:'
		# shellcheck disable=SC2016 # $(v) is for make, not the shell
		for v in "$@"; do printf '\t@echo "$(%s)"\n' "$v"; done
	} | MAKEFLAGS='' MFLAGS='' "$make" -s --no-print-directory -C "$top_builddir" -f Makefile -f - \
		print-install-vars
}

for tool in man systemd-analyze systemd-sysusers; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		case $tool in
		man) pkg=man-db ;;
		*) pkg=systemd ;;
		esac
		echo "install: FAIL: $tool is not installed (Debian: apt-get install $pkg)" >&2
		exit 1
	fi
done

vars=$(mkvars sbindir bindir man5dir man8dir systemdsystemunitdir sysusersdir) || {
	echo "install: FAIL: cannot read the install directories from $top_builddir/Makefile" >&2
	exit 1
}
# The values are absolute paths without blanks: the prefix configure took.
set -f
# shellcheck disable=SC2086 # one word per directory
set -- $vars
set +f
if [ $# -ne 6 ]; then
	echo "install: FAIL: expected 6 install directories, got: $vars" >&2
	exit 1
fi
sbindir=$1 bindir=$2 man5dir=$3 man8dir=$4 unitdir=$5 sysusersdir=$6

dest=$tmp/dest
if ! MAKEFLAGS='' MFLAGS='' "$make" -s -C "$top_builddir" install DESTDIR="$dest" >"$tmp/install.log" 2>&1; then
	cat "$tmp/install.log" >&2
	echo "install: FAIL: make install DESTDIR=$dest" >&2
	exit 1
fi

for f in "$sbindir/chainfsd" "$bindir/chainfsctl" "$bindir/chainfs" "$bindir/local-cluster" \
	"$sbindir/mount.chainfs"; do
	if [ -f "$dest$f" ] && [ -x "$dest$f" ]; then
		echo "install: ok $f"
	else
		fail "$f is not installed or not executable"
	fi
done

for f in "$unitdir/chainfsd.service" "$unitdir/chainfsd@.service" "$sysusersdir/chainfs.conf" \
	"$sbindir/mount.chainfs"; do
	if [ ! -f "$dest$f" ]; then
		fail "$f is not installed"
	elif grep -n '@[a-z_]*dir@' "$dest$f" >&2; then
		fail "$f has unsubstituted @variables@"
	else
		echo "install: ok $f"
	fi
done

for f in "$man5dir/chainfs.conf.5" "$man8dir/chainfsd.8" "$man8dir/chainfsctl.8" \
	"$man8dir/chainfs.8" "$man8dir/mount.chainfs.8"; do
	if [ ! -f "$dest$f" ]; then
		fail "$f is not installed"
		continue
	fi
	if ! MANWIDTH=80 man -l "$dest$f" >"$tmp/page.txt" 2>"$tmp/page.err"; then
		cat "$tmp/page.err" >&2
		fail "man -l $f exits with an error"
	elif ! grep -q '[A-Za-z]' "$tmp/page.txt"; then
		cat "$tmp/page.err" >&2
		fail "man -l $f renders no text"
	else
		echo "install: ok $f renders ($(wc -l <"$tmp/page.txt") lines)"
	fi
done

# systemd-analyze verify wants ExecStart= to name an existing binary: verify
# copies of the units that point into the DESTDIR tree.  A template cannot be
# verified as such, so the template is verified as an instance.  MANPATH
# makes the units' Documentation= pages resolve to the installed ones.
vdir=$tmp/verify
mkdir "$vdir"
for u in chainfsd.service chainfsd@.service; do
	[ -f "$dest$unitdir/$u" ] || continue
	case $u in
	*@.service) copy=${u%@.service}@n1.service ;;
	*) copy=$u ;;
	esac
	sed "s|$sbindir/|$dest$sbindir/|g" "$dest$unitdir/$u" >"$vdir/$copy"
	if ! grep -q "^ExecStart=$dest$sbindir/chainfsd " "$vdir/$copy"; then
		fail "$u: ExecStart does not run $sbindir/chainfsd"
		continue
	fi
	SYSTEMD_LOG_LEVEL=warning MANPATH="$dest${man8dir%/man8}" \
		systemd-analyze verify "$vdir/$copy" >"$tmp/verify.out" 2>&1
	rc=$?
	# Complaints about other units of this machine are not ours to fix;
	# every line that names chainfs is.
	if [ -s "$tmp/verify.out" ]; then
		sed 's/^/systemd-analyze: /' "$tmp/verify.out" >&2
	fi
	if grep -qi chainfs "$tmp/verify.out"; then
		fail "systemd-analyze verify complains about $u"
	elif [ "$rc" -ne 0 ]; then
		fail "systemd-analyze verify $u exits $rc"
	else
		echo "install: ok systemd-analyze verify $u"
	fi
done

# The sysusers.d entry must parse, without a complaint, into the chainfs
# user; --dry-run on an empty root changes nothing anywhere.
if [ -f "$dest$sysusersdir/chainfs.conf" ]; then
	mkdir -p "$tmp/root/etc"
	if systemd-sysusers --dry-run --root="$tmp/root" "$dest$sysusersdir/chainfs.conf" \
		>"$tmp/sysusers.out" 2>&1 &&
		grep -q "^Creating user 'chainfs' (chainfs storage node)" "$tmp/sysusers.out" &&
		! grep -Eqi 'fail|ignor|invalid|warn' "$tmp/sysusers.out"; then
		echo "install: ok systemd-sysusers accepts chainfs.conf"
	else
		cat "$tmp/sysusers.out" >&2
		fail "systemd-sysusers rejects $sysusersdir/chainfs.conf"
	fi
fi

exit $status
