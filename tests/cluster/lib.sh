# Shared by the cluster tests: a work directory, free ports, a cluster that is
# always stopped on exit, bounded waits.  Logs are printed only on failure.
set -euo pipefail

top_builddir=${top_builddir:-$(pwd)}
srcdir=${srcdir:-.}
export CHAINFS_BINDIR=${CHAINFS_BINDIR:-$top_builddir}
LC="$srcdir/tools/local-cluster"
LOADGEN="$top_builddir/loadgen"
CTL="$top_builddir/chainfsctl"
test_name=${CHAINFS_TEST_NAME:-$(basename "$0" .sh)}
work=$(mktemp -d "/tmp/chainfs-$test_name.XXXXXX")
clusters=()
mounts=() # extra mounts a test made itself
procs=()  # extra processes a test started itself (killed first)
failed=1

note() { printf '%s: %s\n' "$test_name" "$*"; }
fail() {
	note "FAIL: $*"
	exit 1
}

# Stops every cluster the test started; keeps the logs when the test failed.
cleanup() {
	local rc=$? c
	for c in "${mounts[@]}"; do
		fusermount3 -u "$c" 2>/dev/null || umount -l "$c" 2>/dev/null || true
	done
	for c in "${procs[@]}"; do
		kill -KILL "$c" 2>/dev/null || true
	done
	for c in "${clusters[@]}"; do
		"$LC" stop "$c" >/dev/null 2>&1 || true
	done
	if [ $rc -eq 77 ]; then
		rm -rf "$work"
		exit 77 # skipped (automake's code)
	fi
	if [ $rc -ne 0 ] || [ $failed -ne 0 ]; then
		note "failed (status $rc); last lines of the node logs:"
		for f in "$work"/*/n*.log; do
			[ -f "$f" ] || continue
			echo "--- $f"
			tail -n 20 "$f"
		done
		rm -rf "$work"
		exit 1
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# A base of n free ports outside the kernel's ephemeral range (see local-cluster).
free_port_base() {
	"$LC" ports "$1" || fail "no free ports"
}

# start_cluster NAME ARGS...: starts a cluster in $work/NAME.
start_cluster() {
	local name=$1
	shift
	clusters+=("$work/$name")
	"$LC" start "$work/$name" --port-base "$(free_port_base 16)" "$@" >/dev/null
}

# Polls a command until it succeeds: wait_for SECONDS CMD...
wait_for() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 10; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# True when every node answers, the replicas agree and no sent list holds anything.
settled() {
	local conf=$1 out
	out=$("$CTL" -c "$conf" status) || return 1
	echo "$out" | grep -q '^replicas agree$' || return 1
	echo "$out" | awk 'NR > 1 && $1 ~ /^n[0-9]+$/ && $6 != 0 { bad = 1 } END { exit bad }'
}

# role_node CONF ROLE: the node that has ROLE in the newest configuration.
role_node() {
	"$CTL" -c "$1" status 2>/dev/null | awk -v r="$2" '$2 == r { print $1; exit }'
}

# epoch_line CONF: the newest configuration line, "epoch N: a -> b -> c, master m".
epoch_line() {
	"$CTL" -c "$1" status 2>/dev/null | grep '^epoch' || true
}

# chain_is CONF N [NODE]: true when the chain has N members, none of them
# NODE (when given), and nobody is syncing.
chain_is() {
	local line members
	line=$(epoch_line "$1")
	[ -n "$line" ] || return 1
	case $line in *syncing*) return 1 ;; esac
	members=$(echo "$line" | sed 's/^epoch [0-9]*: //; s/, master.*//; s/ -> / /g')
	[ "$(echo "$members" | wc -w)" -eq "$2" ] || return 1
	[ -z "${3:-}" ] || ! echo " $members " | grep -q " $3 "
}

# The digests column of status, one per node.
digests() {
	"$CTL" -c "$1" status | awk 'NR > 1 && $1 ~ /^n[0-9]+$/ { print $1, $4, $8 }'
}

# check_history FILE SEED: lincheck must find the history linearizable, with
# no read of bytes nobody wrote; prints its totals, keeps them in $work/check.txt.
# check_history HISTORY SEED [LINCHECK OPTIONS...]: the history must be
# linearizable (a key whose search runs out of budget fails too).
check_history() {
	local hist=$1 seed=$2 status=0
	shift 2
	"$top_builddir/lincheck" "$@" "$hist" >"$work/check.txt" || status=$?
	grep -E '^(operations|indeterminate|failed reads|reads that|violations|verdict)' \
		"$work/check.txt" | sed "s/^/$test_name: /"
	if [ $status -ne 0 ]; then
		awk '/^violation [0-9]+:/ { n++ } n <= 3' "$work/check.txt"
		fail "lincheck: the history is not linearizable (status $status, seed $seed)"
	fi
	grep -Eq '^reads that returned bytes nobody wrote: 0( |$)' "$work/check.txt" ||
		fail "a read returned bytes nobody wrote"
}

passed() {
	failed=0
	note "ok (${SECONDS} s)" # how long, for keeping CI inside its time
}

# Called first by a test whose plain-build run adds nothing to its run
# under the sanitizers (no check depends on the build; it mostly waits):
# with CHAINFS_PLAIN_QUICK=1, which tests/run-all sets for the plain
# build's pass (make distcheck) to keep CI inside its time, such a test
# skips itself there.  A plain `make check` runs it.
sanitizers_suffice() {
	if [ "${CHAINFS_PLAIN_QUICK:-0}" = 1 ] && ! sanitized_build; then
		note "skipped in the plain build (CHAINFS_PLAIN_QUICK=1): it runs under the sanitizers"
		failed=0
		exit 77
	fi
}

# True when the nodes are built with AddressSanitizer (which keeps freed
# memory in its quarantine).  Not `ldd | grep -q`: grep stops at the match,
# and ldd's SIGPIPE then fails the pipeline under pipefail.
sanitized_build() {
	case "$(ldd "$CHAINFS_BINDIR/chainfsd" 2>/dev/null)" in
	*libasan*) return 0 ;;
	esac
	return 1
}
