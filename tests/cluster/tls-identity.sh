#!/usr/bin/env bash
# Who is a node is what its certificate says, checked on both sides:
#   - chainfsd refuses to start with a client's certificate, or with a node
#     certificate naming another node, or with a private key that group or
#     others can read;
#   - a rogue server at a node's address, with a valid client certificate of
#     the cluster's CA (or another node's certificate), is refused by
#     chainfsctl and by the mount, each saying why;
#   - a HELLO whose name holds a newline and an escape code is logged
#     escaped, and cannot forge a log line;
#   - a client id reused by a client with another certificate: refused
#     while the first is connected, and afterwards answered as its own
#     client (its mkdir done), never with the first client's result.
. "${srcdir:-.}/tests/cluster/lib.sh"
sanitizers_suffice

start_cluster c --nodes 3 --mounts 1 --etcd 0
dir="$work/c"
conf="$dir/chainfs.conf"
base=$(awk '$1 == "node" && $2 == "n1" { n = split($3, a, ":"); print a[n] }' "$conf")
rogue_port=$((base + 10))

# 1. chainfsd with the wrong certificate or an exposed key: one line, no start.
starts_refused() { # CONF WANT: chainfsd -n n1 must exit non-zero saying WANT
	local rc=0 out
	out=$(timeout 20 "$top_builddir/chainfsd" -c "$1" -n n1 2>&1) || rc=$?
	[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "chainfsd started with $3 (exit $rc)"
	echo "$out" | grep -q "$2" || fail "chainfsd with $3 said: $out"
	note "chainfsd with $3: $(echo "$out" | grep -m1 "$2" | sed 's/^[0-9:.]* //')"
}
sed "s#^node n1 \(.*\) cert tls/n1.crt key tls/n1.key#node n1 \1 cert tls/client.crt key tls/client.key#" \
	"$conf" >"$dir/bad-client.conf"
grep -q "cert tls/client.crt" "$dir/bad-client.conf" || fail "could not make the test file"
starts_refused "$dir/bad-client.conf" "not a node's" "a client's certificate"
sed "s#^node n1 \(.*\) cert tls/n1.crt key tls/n1.key#node n1 \1 cert tls/n2.crt key tls/n2.key#" \
	"$conf" >"$dir/bad-name.conf"
starts_refused "$dir/bad-name.conf" "names node n2, not n1" "node n2's certificate"
cp "$dir/tls/n1.key" "$dir/tls/n1-open.key"
chmod 644 "$dir/tls/n1-open.key"
sed "s#key tls/n1.key#key tls/n1-open.key#" "$conf" >"$dir/bad-key.conf"
starts_refused "$dir/bad-key.conf" "readable by group or others" "a key of mode 0644"

# 2. A rogue server at n1's address: first with the cluster's client
# certificate, then with n2's node certificate.
rogue_pid=""
rogue() { # CERT KEY
	if [ -n "$rogue_pid" ]; then
		kill "$rogue_pid" 2>/dev/null || true
		wait "$rogue_pid" 2>/dev/null || true # its port must be free again
	fi
	openssl s_server -quiet -accept "127.0.0.1:$rogue_port" -cert "$1" -key "$2" \
		-CAfile "$dir/tls/ca.crt" -Verify 1 -tls1_3 </dev/null >/dev/null 2>&1 &
	rogue_pid=$!
	procs+=("$rogue_pid")
	rogue_up() { (exec 3<>"/dev/tcp/127.0.0.1/$rogue_port") 2>/dev/null; }
	wait_for 10 rogue_up || fail "openssl s_server did not start"
}
sed "s#^node n1 127.0.0.1:[0-9]*#node n1 127.0.0.1:$rogue_port#" "$conf" >"$dir/rogue.conf"
for who in client n2; do
	if [ $who = client ]; then
		rogue "$dir/tls/client.crt" "$dir/tls/client.key"
		want="not a node's"
	else
		rogue "$dir/tls/n2.crt" "$dir/tls/n2.key"
		want="names node n2, not n1"
	fi
	out=$("$CTL" -c "$dir/rogue.conf" status 2>&1) && fail "status trusted a rogue n1 ($who): $out"
	echo "$out" | grep -E "^n1 .*DOWN: .*$want" >/dev/null ||
		fail "status did not refuse the rogue n1 ($who): $out"
	mkdir -p "$dir/mnt/rogue"
	rc=0
	out=$(timeout 30 "$top_builddir/chainfs" -f -o "conf=$dir/rogue.conf,connect_timeout=2" \
		"127.0.0.1:$rogue_port" "$dir/mnt/rogue" 2>&1) || rc=$?
	if awk -v m="$dir/mnt/rogue" '$2 == m { f = 1 } END { exit !f }' /proc/mounts; then
		fusermount3 -u "$dir/mnt/rogue" || true
		fail "a mount went to a rogue n1 ($who)"
	fi
	[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "chainfs against a rogue n1 ($who): exit $rc"
	echo "$out" | grep -q "not a chainfs node: .*$want" ||
		fail "the mount did not say why it refused the rogue n1 ($who): $out"
	note "rogue n1 with $who's certificate: refused by status and by the mount"
done
kill "$rogue_pid" 2>/dev/null || true

# 3. A HELLO name with a newline and an escape code, from a TLS client.
name=$'evil\nFORGED chainfsd[warn]: all data lost\033[2J'
hello_body() {
	printf '\x01'                       # role: client
	printf '\x07\x00\x00\x00\x00\x00\x00\x00' # client id 7
	printf "\\x$(printf %02x ${#name})\\x00"  # name length (u16)
	printf '%s' "$name"
	printf '\x00\x00\x00\x00\x00\x00\x00\x00' # applied_sn
	printf '\x00\x00\x00\x00'                 # lease_ms
}
blen=$(hello_body | wc -c)
version=$(awk '$2 == "CFS_PROTOCOL_VERSION" {print $3}' "$srcdir/common/wire.h")
{
	printf 'CHFS'
	printf "\\x$(printf %02x "$version")\\x00"  # protocol version (u16)
	printf '\x01\x00\x00\x00\x00\x00'       # HELLO
	printf "\\x$(printf %02x "$blen")\\x00\\x00\\x00"
	printf '\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00'
	hello_body
	sleep 1
} | timeout 10 openssl s_client -quiet -connect "127.0.0.1:$base" -cert "$dir/tls/client.crt" \
	-key "$dir/tls/client.key" -CAfile "$dir/tls/ca.crt" >/dev/null 2>&1 || true
sleep 0.5
grep -q '^FORGED' "$dir/n1.log" && fail "a HELLO name forged a log line: $(grep -n FORGED "$dir/n1.log")"
grep -q $'\033' "$dir/n1.log" && fail "a HELLO name put an escape code in the log"
grep -qF 'evil\x0aFORGED' "$dir/n1.log" || fail "the escaped name is not in the log: $(tail -n 5 "$dir/n1.log")"
note "a HELLO name with a newline and ESC is logged as: $(grep -oF 'evil\x0aFORGED chainfsd[warn]: all data lost\x1b[2J' "$dir/n1.log" | head -n 1)"

# 4. A client id reused under another certificate.  "client" makes "a" as
# its first request (seq 1) and stays connected; "intruder", a client
# certificate of the same CA, says the same id.
IDC="$top_builddir/idclient"
"$CTL" cert client "$dir/tls" intruder >/dev/null || fail "cannot make a second client certificate"
sed "s#^cert tls/client.crt#cert tls/intruder.crt#; s#^key tls/client.key#key tls/intruder.key#" \
	"$conf" >"$dir/intruder.conf"
grep -q "^cert tls/intruder.crt" "$dir/intruder.conf" || fail "could not make the intruder's file"
# Its mkdir in the root must be able to succeed: root is squashed for any
# certificate but local-cluster's own unless an export line says otherwise.
echo "export intruder no-root-squash" >>"$conf"
for n in n1 n2 n3; do "$LC" restart "$dir" "$n" >/dev/null; done
wait_for 30 settled "$conf" || fail "not settled after the restart with the intruder's export"
id=0x5eed00c11e47
"$IDC" -c "$conf" -i $id -H 20 a >"$work/first.out" 2>&1 &
first=$!
procs+=("$first")
wait_for 10 grep -q "mkdir a: ok" "$work/first.out" || fail "the first client's mkdir: $(cat "$work/first.out")"
rc=0
out=$("$IDC" -c "$dir/intruder.conf" -i $id -t 3000 b 2>&1) || rc=$?
[ $rc -eq 1 ] || fail "a client id in use by another certificate was not refused (exit $rc): $out"
grep -q "client id 00005eed00c11e47 is in use by a client with certificate client; this one's certificate is intruder: refused" \
	"$dir/n1.log" || fail "no log line names the reused client id: $(tail -n 5 "$dir/n1.log")"
[ ! -e "$dir/mnt/m1/b" ] || fail "the refused client's mkdir was done"
note "a client id in use, said under another certificate: refused ($(echo "$out" | tail -n 1))"
kill "$first" 2>/dev/null || true
wait "$first" 2>/dev/null || true
# With the first client gone, the same id and seq under the other
# certificate are another client's: its own mkdir is done, not answered
# from the first client's result.
"$IDC" -c "$dir/intruder.conf" -i $id b >"$work/second.out" 2>&1 ||
	fail "the intruder's own mkdir failed: $(cat "$work/second.out")"
[ -d "$dir/mnt/m1/b" ] || fail "the intruder was answered with the first client's result: no b"
[ -d "$dir/mnt/m1/a" ] || fail "the first client's a is gone"
note "the same id and seq under another certificate are another client: its mkdir done"

# The real chain was never disturbed.
echo still >"$dir/mnt/m1/f" && [ "$(cat "$dir/mnt/m1/f")" = still ] || fail "the chain stopped working"
passed
