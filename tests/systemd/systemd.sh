#!/bin/bash
# systemd: chainfs under a real systemd, PID 1 of a throw-away container
# (container.sh), booted twice from the same overlay.
#
# First boot: "make install" inside; etcd.service (Debian's) and three
# chainfsd@ instances start, each READY through sd_notify with a status line
# (role, epoch, sn) that systemctl shows, its log in the journal at the
# right priorities.  Mounts through fstab (mount.chainfs), an explicit
# .mount unit and an .automount, used by two users who are not root.  While
# linwork runs on two of the mounts: kill -9 of the head (Restart= brings it
# back and it rejoins), SIGSTOP of the tail (the watchdog kills it, systemd
# restarts it), "systemctl stop" of the middle (out of the chain at once,
# not after its lease), reloads that apply, fail and need a restart; the
# history must be linearizable, no acknowledged write lost, the replicas
# equal.  Poweroff: every mount unmounted cleanly.
#
# Second boot: everything comes up by itself, the mounts too, n3 now under
# the one-node unit chainfsd.service; what the first boot wrote is there.  Reports the boot-to-serving time and the unit's
# systemd-analyze security exposure (which must stay at most 1.5).
#
# Under the sanitizers, whatever they report in the journal fails the test.
# Needs root, /dev/fuse, systemd-nspawn (Debian:
# systemd-container) and etcd (etcd-server).
. "${srcdir:-.}/tests/cluster/lib.sh"
. "$srcdir/tests/systemd/container.sh"

# The container goes first, then lib.sh's cleanup, with the test's status.
systemd_cleanup() {
	local rc=$?
	set +e
	if [ $rc -ne 0 ] && [ -n "$ct_pid1" ] && [ -n "$ct_nspawn" ]; then
		note "the container's failed units and last journal lines:"
		ct systemctl --failed --no-pager 2>&1 | tail -n 20
		ct journalctl --no-pager -n 60 2>&1
	fi
	ct_teardown >/dev/null 2>&1
	(exit $rc)
	cleanup
}
trap systemd_cleanup EXIT

sanitizers_suffice
[ "$(id -u)" = 0 ] || {
	note "skipped: needs root (a container)"
	failed=0
	exit 77
}
for tool in systemd-nspawn:systemd-container nsenter:util-linux etcd:etcd-server; do
	command -v "${tool%%:*}" >/dev/null 2>&1 ||
		fail "${tool%%:*} is not installed (Debian: apt-get install ${tool#*:})"
done
[ -c /dev/fuse ] || fail "no /dev/fuse"

B=$(cd "$top_builddir" && pwd)
S=$(cd "$srcdir" && pwd)

conf=/etc/chainfs/chainfs.conf
nodes="127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103"
ttl=6
seed=${LIN_SEED:-$RANDOM}
# chainfsctl runs inside the container (its own loopback): lib.sh's helpers use it as $CTL.
cat >"$work/ctl" <<EOF
#!/bin/sh
exec nsenter -t "\$(cat '$work/pid1')" -a env -i PATH=/usr/sbin:/usr/bin chainfsctl "\$@"
EOF
chmod +x "$work/ctl"
CTL=$work/ctl

# The kernel's autofs, which .automount units need (and /dev/autofs inside).
autofs=no
grep -qw autofs /proc/filesystems && autofs=yes

# unit_log UNIT [journalctl options]: the unit's journal, whole (no grep -q
# on a pipe: journalctl would die of SIGPIPE, and pipefail fail the test).
unit_log() {
	local u=$1
	shift
	ct journalctl -u "$u" -o cat --no-pager "$@"
}
# is_chainfs DIR: a chainfs mount is on DIR.
is_chainfs() {
	[ "$(ct findmnt -no FSTYPE "$1")" = fuse.chainfs ]
}
# main_pid UNIT: its main PID, never 0 or 1 (kill 0 would hit the test's own group).
main_pid() {
	local pid
	pid=$(unit_prop "$1" MainPID)
	[ -n "$pid" ] && [ "$pid" -gt 1 ] || fail "$1 has no main process (MainPID '$pid')"
	echo "$pid"
}

ms() { echo $((($(date +%s%N) - $1) / 1000000)); }
unit_prop() { ct systemctl show -P "$2" "$1"; }
as_user() {
	local uid=$1
	shift
	ct setpriv --reuid="$uid" --regid="$uid" --clear-groups "$@"
}

# The unit that runs node nK: chainfsd@nK, but n3 runs under the one-node
# unit, chainfsd.service, from the second boot on.
n3_unit=chainfsd@n3.service
unit_of() {
	if [ "$1" = 3 ]; then echo "$n3_unit"; else echo "chainfsd@n$1.service"; fi
}

# Every node active, its status line saying it serves; the chain whole.
all_serving() {
	local k st
	for k in 1 2 3; do
		st=$(unit_prop "$(unit_of $k)" StatusText) || return 1
		[[ $st =~ ^(head|middle|tail),\ epoch\ [0-9]+,\ sn\ [0-9]+,\ serving,\ [0-9]+\ clients$ ]] ||
			return 1
	done
	chain_is "$conf" 3
}

# n1's status line has this text.
status_has() {
	[[ $(unit_prop chainfsd@n1.service StatusText) == *"$1"* ]]
}

# restarted UNIT OLDPID: active again under a new main PID.
restarted() {
	local pid
	[ "$(unit_prop "$1" ActiveState)" = active ] || return 1
	pid=$(unit_prop "$1" MainPID)
	[ "$pid" != 0 ] && [ "$pid" != "$2" ]
}

# probe N TEXT: an acknowledged write, read back at the end.
probes=0
probe() {
	probes=$((probes + 1))
	ct timeout 60 sh -c "echo 'probe $probes $1' >/mnt/shared/probe/p$probes" || fail "probe write $probes ($1) failed"
}

# The journal of the last boot, read from the host after poweroff.
boot_journal() {
	journalctl -D "$ct_root/var/log/journal/$(cat "$ct_root/etc/machine-id")" -b 0 -o cat --no-pager "$@"
}

# check_journal WHEN RESULTS: nothing in the boot's journal from the
# sanitizers, and the nodes' failures exactly RESULTS (sorted, e.g. "signal
# watchdog" for the faults of the first boot): every other stop was clean.
check_journal() {
	local j got
	j=$(boot_journal) || fail "cannot read the container's journal"
	if grep -E -A20 'Sanitizer|runtime error:' <<<"$j"; then
		fail "$1: the sanitizers reported an error"
	fi
	got=$(grep -Eo "^chainfsd(@n[0-9])?\.service: Failed with result '[a-z-]+'" <<<"$j" |
		sed "s/.*'\(.*\)'/\1/" | sort | tr '\n' ' ' || true)
	[ "${got% }" = "$2" ] || fail "$1: the nodes failed with results '${got% }', expected '$2': $(grep -E 'chainfsd(@n[0-9])?\.service: (Main process|Failed)' <<<"$j")"
}

# Every chainfs mount of the boot was unmounted, none failed to be.
check_unmounted() {
	local j u
	j=$(boot_journal) || fail "cannot read the container's journal"
	local list="mnt-shared srv-chainfs"
	[ $autofs = no ] || list="$list srv-auto"
	for u in $list; do
		grep -Eq "^Unmounted $u\.mount|^$u\.mount: Deactivated successfully" <<<"$j" ||
			fail "$1: $u.mount was not unmounted cleanly: $(echo "$j" | grep "$u" | tail -n 5)"
	done
	if echo "$j" | grep -Ei 'failed unmounting|mnt-shared.mount: (failed|mount process exited)'; then
		fail "$1: an unmount failed"
	fi
}

# --- The machine: configuration, certificates, units, before the first boot.
ct_setup
tls=$ct_root/etc/chainfs/tls
mkdir -p "$tls"
"$B/chainfsctl" cert ca "$tls" --cn "chainfs systemd test CA" >/dev/null
for k in 1 2 3; do
	"$B/chainfsctl" cert node "$tls" "n$k" 127.0.0.1,localhost >/dev/null
done
"$B/chainfsctl" cert client "$tls" client >/dev/null
write_conf() {
	{
		echo "# chainfs under systemd: three nodes of this host, etcd.service"
		echo "coordinator etcd http://127.0.0.1:2379"
		echo "lease-ttl ${1:-$ttl}"
		echo "ca $conf_dir/tls/ca.crt"
		echo "cert $conf_dir/tls/client.crt"
		echo "key $conf_dir/tls/client.key"
		echo "export client no-root-squash"
		for k in 1 2 3; do
			echo "node n$k 127.0.0.1:710$k data /var/lib/chainfs/n$k cert $conf_dir/tls/n$k.crt key $conf_dir/tls/n$k.key"
		done
		[ -z "${2:-}" ] || echo "$2"
	} >"$ct_root$conf.new"
	chmod 0640 "$ct_root$conf.new"
	# Once the chainfs user exists, the nodes read the file through its group.
	[ -z "$ct_nspawn" ] || ct chgrp chainfs "$conf.new" || fail "cannot chgrp $conf"
	mv "$ct_root$conf.new" "$ct_root$conf"
}
conf_dir=/etc/chainfs
write_conf
cat >"$ct_root/etc/default/etcd" <<'EOF'
ETCD_NAME=e1
ETCD_DATA_DIR=/var/lib/etcd/chainfs-test
ETCD_LISTEN_CLIENT_URLS=http://127.0.0.1:2379
ETCD_ADVERTISE_CLIENT_URLS=http://127.0.0.1:2379
ETCD_LISTEN_PEER_URLS=http://127.0.0.1:2380
ETCD_INITIAL_ADVERTISE_PEER_URLS=http://127.0.0.1:2380
ETCD_INITIAL_CLUSTER=e1=http://127.0.0.1:2380
EOF
# The shipped examples, made concrete: an explicit mount, and an automount.
sed -e "s|^What=.*|What=$nodes|; s|/srv/shared|/srv/chainfs|g; s|^Options=.*|Options=_netdev|" \
	"$srcdir/mount-helpers/chainfs-shared.mount.example" >"$ct_root/etc/systemd/system/srv-chainfs.mount"
sed -e "s|^What=.*|What=$nodes|; s|/srv/shared|/srv/auto|g; s|^Options=.*|Options=_netdev|; /^\[Install\]/,\$d" \
	"$srcdir/mount-helpers/chainfs-shared.mount.example" >"$ct_root/etc/systemd/system/srv-auto.mount"
sed -e "s|/srv/shared|/srv/auto|g" \
	"$srcdir/mount-helpers/chainfs-shared.automount.example" >"$ct_root/etc/systemd/system/srv-auto.automount"

# LeakSanitizer stops the node's threads with ptrace at exit, which the
# units' system call filter refuses: a sanitized node gets @debug too.
if sanitized_build; then
	for u in chainfsd@.service chainfsd.service; do
		mkdir -p "$ct_root/etc/systemd/system/$u.d"
		printf '[Service]\nSystemCallFilter=@debug\n' >"$ct_root/etc/systemd/system/$u.d/sanitizers.conf"
	done
fi
if [ $autofs = yes ]; then
	echo 'c! /dev/autofs 0600 root root - 10:235' >"$ct_root/etc/tmpfiles.d/chainfs-test-autofs.conf"
else
	note "this kernel has no autofs (CONFIG_AUTOFS_FS): the .automount part cannot run here"
fi

# --- First boot.
t0=$(date +%s%N)
ct_boot "$work/boot1.log" "$S" "$B"
note "boot 1: systemd up in $(ms "$t0") ms"
ct sh -c "cd '$B' && rm -f daemon/chainfsd.service daemon/chainfsd@.service mount-helpers/mount.chainfs &&
	make -s install prefix=/usr sysconfdir=/etc localstatedir=/var" >"$work/install.log" 2>&1 ||
	fail "make install inside the container failed: $(tail -n 20 "$work/install.log")"
ct systemd-sysusers || fail "systemd-sysusers failed"
ct id chainfs >/dev/null || fail "no chainfs user after systemd-sysusers"
# The nodes run as the chainfs user: their keys are its own, mode 0600 (a node
# refuses a key others may read); the CA's key and the client's stay root's.
ct sh -c "chgrp -R chainfs $conf_dir && chmod 0750 $conf_dir $conf_dir/tls && chmod 0640 $conf &&
	chown chainfs $conf_dir/tls/n?.key && chmod 0600 $conf_dir/tls/*.key" ||
	fail "cannot set the permissions of $conf_dir"
# The fstab line, as a user writes it once chainfs is installed.
echo "$nodes /mnt/shared chainfs _netdev,nofail 0 0" >"$ct_root/etc/fstab"
ct systemctl daemon-reload
[ "$(unit_prop etcd.service ActiveState)" = active ] || fail "etcd.service is not active"

t0=$(date +%s%N)
ct systemctl enable --now chainfsd@n1.service chainfsd@n2.service chainfsd@n3.service 2>"$work/enable.err" ||
	fail "systemctl enable --now chainfsd@n{1,2,3} failed: $(cat "$work/enable.err"; ct journalctl -u 'chainfsd@*' -o cat --no-pager | tail -n 20)"
ready_ms=$(ms "$t0")
wait_for 60 all_serving || fail "the nodes do not all serve: $(for k in 1 2 3; do
	unit_prop "$(unit_of $k)" StatusText
done) $(epoch_line "$conf")"
note "boot 1: three nodes READY in $ready_ms ms, all serving after $(ms "$t0") ms"
for k in 1 2 3; do
	note "  chainfsd@n$k: $(unit_prop "chainfsd@n$k.service" StatusText)"
done
out=$(ct systemctl status --no-pager chainfsd@n1.service) || fail "systemctl status chainfsd@n1 failed: $out"
grep -Eq '^ +Status: "(head|middle|tail), epoch' <<<"$out" ||
	fail "systemctl status shows no status line: $(head -n 8 <<<"$out")"
# Journal priorities: info lines at info, none with a "<N>" prefix or a time of their own.
grep -q '^node n1 listening on ' <<<"$(unit_log chainfsd@n1.service -p info..info)" ||
	fail "no 'node n1 listening on' line at priority info: $(unit_log chainfsd@n1.service | head -n 5)"
if grep -E '^<[0-9]>|\[(info|warn|error)\]' <<<"$(unit_log chainfsd@n1.service)"; then
	fail "the journal has the node's lines with their prefixes"
fi

# --- Mounts, used by users who are not root.
auto=/srv/chainfs
units=srv-chainfs.mount
if [ $autofs = yes ]; then
	auto=/srv/auto
	units="$units srv-auto.automount"
fi
ct systemctl enable --now $units 2>"$work/enable.err" ||
	fail "cannot enable $units: $(cat "$work/enable.err"; ct journalctl -u srv-chainfs.mount -o cat --no-pager | tail -n 10)"
ct systemctl start mnt-shared.mount || fail "mnt-shared.mount (the fstab line) did not start"
is_chainfs /mnt/shared || fail "/mnt/shared is not a chainfs mount"
is_chainfs /srv/chainfs || fail "/srv/chainfs is not a chainfs mount"
ct mkdir -m 1777 /mnt/shared/pub
ct mkdir /mnt/shared/probe /mnt/shared/lin
as_user 4242 sh -c 'echo "written by 4242" >/mnt/shared/pub/a && chmod 0644 /mnt/shared/pub/a' ||
	fail "user 4242 cannot write in /mnt/shared"
[ "$(as_user 4243 timeout 60 cat "$auto/pub/a")" = "written by 4242" ] ||
	fail "user 4243 does not read 4242's file on $auto"
[ "$(ct stat -c %u /srv/chainfs/pub/a)" = 4242 ] || fail "the file's owner is not 4242 on another mount"
if as_user 4243 sh -c 'echo x >>/srv/chainfs/pub/a' 2>/dev/null; then
	fail "user 4243 could write to 4242's file of mode 0644"
fi
is_chainfs "$auto" || fail "$auto is not mounted"
note "mounts: fstab /mnt/shared, $units; users 4242 and 4243 share files"

# --- Faults under load: linwork on two mounts while systemd handles the nodes.
ct "$B/linwork" --dir /mnt/shared/lin --dir /srv/chainfs/lin --procs 3 --duration 300 --seed "$seed" \
	--fsync 5 --out /root/history.txt >"$work/linwork.log" 2>&1 &
linpid=$!
procs+=("$linpid")
sleep 2
probe "before the faults"

# kill -9 of the head: Restart=on-failure, and it rejoins.
victim=$(role_node "$conf" head)
pid=$(main_pid "chainfsd@$victim.service")
t0=$(date +%s%N)
ct kill -KILL "$pid"
probe "after kill -9 of the head $victim"
note "kill -9 of the head $victim: first acknowledged write after $(ms "$t0") ms"
wait_for 30 restarted "chainfsd@$victim.service" "$pid" || fail "systemd did not restart $victim"
wait_for 60 all_serving || fail "$victim did not rejoin: $(epoch_line "$conf")"
note "  restarted by systemd (NRestarts $(unit_prop "chainfsd@$victim.service" NRestarts)), rejoined after $(ms "$t0") ms: $(epoch_line "$conf")"
probe "after $victim rejoined"

# SIGSTOP of the tail: its loop stops, so do its watchdog pings.
victim=$(role_node "$conf" tail)
pid=$(main_pid "chainfsd@$victim.service")
t0=$(date +%s%N)
ct kill -STOP "$pid"
probe "while the tail $victim is stopped"
wait_for 60 restarted "chainfsd@$victim.service" "$pid" || fail "the watchdog did not restart $victim"
grep -q 'Watchdog timeout' <<<"$(unit_log "chainfsd@$victim.service")" ||
	fail "no watchdog timeout in $victim's journal"
note "SIGSTOP of the tail $victim: the watchdog killed it, systemd restarted it after $(ms "$t0") ms"
wait_for 60 all_serving || fail "$victim did not rejoin: $(epoch_line "$conf")"
probe "after $victim rejoined"

# systemctl stop of the middle: it leaves the chain at once, no lease to run out.
victim=$(role_node "$conf" middle)
before=$(epoch_line "$conf")
t0=$(date +%s%N)
ct systemctl stop "chainfsd@$victim.service" || fail "systemctl stop $victim failed"
stop_ms=$(ms "$t0")
wait_for 30 chain_is "$conf" 2 "$victim" || fail "$victim is still in the chain: $(epoch_line "$conf")"
out_ms=$(ms "$t0")
note "systemctl stop of the middle $victim: took $stop_ms ms, out of the chain after $out_ms ms (lease TTL ${ttl} s): $(epoch_line "$conf") (was: $before)"
[ "$out_ms" -lt $((ttl * 1000 / 2)) ] ||
	fail "$victim left the chain only after $out_ms ms: as late as failure detection"
probe "while $victim is stopped"
ct systemctl start "chainfsd@$victim.service" || fail "systemctl start $victim failed"
wait_for 60 all_serving || fail "$victim did not rejoin: $(epoch_line "$conf")"
probe "after $victim was started again"

# systemctl reload: applies what it can, reports the rest, never stops the node.
pid=$(main_pid chainfsd@n1.service)
ct systemctl reload chainfsd@n1.service || fail "reload failed"
wait_for 10 "$CTL" -c "$conf" status || fail "the chain does not answer after a reload"
grep -q "^reloaded $conf: certificate" <<<"$(unit_log chainfsd@n1.service -p info..info)" ||
	fail "the reload did not say what it applied"
write_conf "$ttl" "bogus-keyword 1"
ct systemctl reload chainfsd@n1.service || fail "reload of a bad file failed"
wait_for 10 status_has 'reload failed' ||
	fail "the status does not show the failed reload: $(unit_prop chainfsd@n1.service StatusText)"
grep -q 'bogus-keyword' <<<"$(unit_log chainfsd@n1.service -p warning..warning)" ||
	fail "the failed reload is not a warning in the journal"
write_conf $((ttl + 1))
ct systemctl reload chainfsd@n1.service || fail "reload failed"
wait_for 10 status_has 'needs a restart: lease-ttl' ||
	fail "the status does not say that lease-ttl needs a restart: $(unit_prop chainfsd@n1.service StatusText)"
note "reload: $(unit_prop chainfsd@n1.service StatusText)"
write_conf
ct systemctl reload chainfsd@n1.service || fail "reload failed"
wait_for 10 all_serving || fail "after the reloads: $(unit_prop chainfsd@n1.service StatusText)"
[ "$(unit_prop chainfsd@n1.service MainPID)" = "$pid" ] || fail "a reload restarted the node"
probe "after the reloads"

ct pkill -USR1 -x linwork || true
for ((i = 0; i < 600; i++)); do
	kill -0 "$linpid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$linpid" 2>/dev/null && fail "linwork did not end within 60 s of SIGUSR1"
wait "$linpid" || fail "linwork failed: $(tail -n 5 "$work/linwork.log")"
check_history "$ct_root/root/history.txt" "$seed"
for ((i = 1; i <= probes; i++)); do
	ct timeout 60 grep -q "^probe $i " "/srv/chainfs/probe/p$i" || fail "acknowledged probe write $i is lost"
done
wait_for 30 settled "$conf" || fail "the replicas do not agree: $("$CTL" -c "$conf" status 2>&1)"
note "history linearizable, $probes probes kept, replicas agree"
restarts=0
for k in 1 2 3; do
	restarts=$((restarts + $(unit_prop "chainfsd@n$k.service" NRestarts)))
done
[ "$restarts" -eq 2 ] || fail "the nodes restarted $restarts times; the faults were 2"

# What must outlive the poweroff.
ct timeout 60 sh -c 'head -c 3000000 /dev/urandom >/mnt/shared/keep' || fail "cannot write /mnt/shared/keep"
sum=$(ct timeout 60 sha256sum /mnt/shared/keep) || fail "cannot read /mnt/shared/keep"
sum=${sum%% *}
# From the next boot on, n3 runs under the one-node unit, chainfsd.service
# (node name in /etc/default/chainfsd), on the same data directory.
ct systemctl disable chainfsd@n3.service 2>/dev/null || fail "cannot disable chainfsd@n3"
echo CHAINFSD_NODE=n3 >"$ct_root/etc/default/chainfsd"
ct systemctl enable chainfsd.service 2>/dev/null || fail "cannot enable chainfsd.service"
n3_unit=chainfsd.service
t0=$(date +%s%N)
ct_poweroff
note "boot 1: powered off in $(ms "$t0") ms"
check_unmounted "boot 1"
check_journal "boot 1" "signal watchdog"

# --- Second boot: everything by itself.
t0=$(date +%s%N)
ct_boot "$work/boot2.log" "$S" "$B"
wait_for 60 all_serving || fail "boot 2: the nodes do not all serve: $(epoch_line "$conf") $(unit_prop chainfsd.service StatusText)"
is_chainfs /mnt/shared || fail "boot 2: fstab did not mount /mnt/shared"
is_chainfs /srv/chainfs || fail "boot 2: srv-chainfs.mount is not mounted"
[ "$(ct timeout 60 sha256sum /mnt/shared/keep)" = "$sum  /mnt/shared/keep" ] || fail "boot 2: /mnt/shared/keep differs"
serving_ms=$(ms "$t0")
[ "$(as_user 4243 timeout 60 cat "$auto/pub/a")" = "written by 4242" ] || fail "boot 2: $auto does not serve 4242's file"
[ "$(ct timeout 60 sha256sum "$auto/keep")" = "$sum  $auto/keep" ] || fail "boot 2: $auto/keep differs"
note "boot 2: from nspawn to three serving nodes (n3 under chainfsd.service: $(unit_prop chainfsd.service StatusText)) and the data read back on the fstab mount: $serving_ms ms"
# Where the time went, by the container's clock from its start.
ct journalctl -b 0 -o short-monotonic --no-pager |
	grep -E 'Started etcd|chainfsd\[[0-9]+\]: (node n[0-9] listening|serving clients)|Mounted |Startup finished|Reached target remote-fs' |
	sed "s/^/$test_name:   /"
# The unit as installed, without the test's drop-ins (sanitizers.conf).
for u in chainfsd@.service chainfsd.service; do
	exposure=$(systemd-analyze security --offline=yes --no-pager "$ct_root/usr/lib/systemd/system/$u" |
		awk '/Overall exposure level/ { print $(NF-2) }')
	note "systemd-analyze security $u (the installed unit): exposure $exposure"
	awk -v e="$exposure" 'BEGIN { exit !(e != "" && e <= 1.5) }' || fail "$u's exposure is $exposure, above 1.5"
done
t0=$(date +%s%N)
ct_poweroff
note "boot 2: powered off in $(ms "$t0") ms"
check_unmounted "boot 2"
check_journal "boot 2" ""
passed
