#!/usr/bin/env bash
# Nodes fed random bytes and malformed frames close that one connection and
# keep serving everyone else; a TLS cluster and a plaintext one (where the
# bytes reach the frame decoder).
. "${srcdir:-.}/tests/cluster/lib.sh"
sanitizers_suffice

# send PORT: writes stdin to 127.0.0.1:PORT and lets the node close it.
send() {
	timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1; cat >&3; sleep 0.2; exec 3>&-" 2>/dev/null || true
}

# hdr TYPE LENGTH [MAGIC]: a frame header as bytes (little-endian fields).
le32() { printf "\\x$(printf %02x $(($1 & 255)))\\x$(printf %02x $((($1 >> 8) & 255)))\\x$(printf %02x $((($1 >> 16) & 255)))\\x$(printf %02x $((($1 >> 24) & 255)))"; }
hdr() {
	local type=$1 len=$2 magic=${3:-0x53464843}
	le32 "$magic"
	printf '\x01\x00'
	printf "\\x$(printf %02x "$type")\\x00"
	le32 0
	le32 "$len"
	printf '\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00'
}

alive() {
	local dir=$1 n
	for n in n1 n2 n3; do
		kill -0 "$(cat "$dir/$n.pid")" 2>/dev/null || fail "node $n died"
	done
}

for mode in tls plain; do
	if [ $mode = plain ]; then
		start_cluster $mode --nodes 3 --plaintext
	else
		start_cluster $mode --nodes 3
	fi
	dir="$work/$mode"
	conf="$dir/chainfs.conf"
	ports=$(awk '$1 == "node" { split($3, a, ":"); print a[2] }' "$conf")
	"$LOADGEN" -c "$conf" -k 2 -l 4 -n 500 >/dev/null || fail "$mode: warm-up load"
	for p in $ports; do
		head -c 100000 /dev/urandom | send "$p"
		hdr 1 8 0x12345678 | send "$p"                      # bad magic
		hdr 99 0 | send "$p"                                 # unknown type
		hdr 1 $((64 << 20)) | send "$p"                      # oversized length
		{ hdr 1 40; head -c 40 /dev/urandom; } | send "$p"   # HELLO with a garbage body
		{ hdr 3 16; head -c 16 /dev/zero; } | send "$p"      # REQUEST before HELLO
		{ hdr 1 100; head -c 10 /dev/urandom; } | send "$p"  # truncated frame, then EOF
	done
	alive "$dir"
	# Everyone else is still served.
	"$LOADGEN" -c "$conf" -k 4 -l 4 -n 3000 || fail "$mode: chain stopped serving after garbage"
	wait_for 30 settled "$conf" || fail "$mode: not settled"
	alive "$dir"
	grep -q 'malformed frame\|bad frame header\|bad HELLO\|before HELLO\|TLS' "$dir/n1.log" ||
		fail "$mode: n1 logged nothing about the bad input"
	note "$mode: nodes survived garbage"
done
passed
