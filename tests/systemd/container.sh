# A real systemd as PID 1 of a throw-away container, for tests/systemd/.
# Sourced after tests/cluster/lib.sh (note, fail, $work).
#
# The container's root is an overlay: this machine's own / below, a tmpfs
# above, so that nothing a test does inside reaches the host, and so that
# what one boot wrote is there at the next boot of the same overlay.
# systemd-nspawn boots it with its own network namespace (its own
# loopback: fixed ports cannot clash with the host's) and its own cgroup
# directory under every hierarchy, since PID 1 of the host is not systemd
# (--register=no --keep-unit).  Commands run inside with nsenter.
#
#   ct_setup        makes the overlay in $ct_dir/root
#   ct_boot LOG DIR...
#                   boots it, with each DIR of the host at the same place
#                   inside (under an overlay of its own: writes stay in the
#                   container); returns once systemd says the boot is over
#   ct CMD...       runs CMD inside as root, in a clean environment
#   ct_poweroff     "systemctl poweroff" and waits for the container to end
#   ct_teardown     kills whatever is left and removes the overlay

ct_dir=$work/ct
ct_root=$ct_dir/root
ct_cgroup=chainfs-test-$$
ct_nspawn=
ct_pid1=

ct_setup() {
	mkdir -p "$ct_dir/up" "$ct_root"
	mount -t tmpfs -o mode=0755,size=4g tmpfs "$ct_dir/up" || fail "cannot mount a tmpfs"
	mkdir "$ct_dir/up/u" "$ct_dir/up/w"
	mount -t overlay overlay -o "lowerdir=/,upperdir=$ct_dir/up/u,workdir=$ct_dir/up/w" "$ct_root" ||
		fail "cannot mount the overlay of / on $ct_root"
	# A machine of its own: its own id, and its own persistent journal.
	local mid f
	mid=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
	echo "$mid" >"$ct_root/etc/machine-id"
	mkdir -p "$ct_root/var/log/journal/$mid"
	# nspawn gives the container no /dev/fuse: systemd-tmpfiles makes one.
	echo 'c! /dev/fuse 0666 root root - 10:229' >"$ct_root/etc/tmpfiles.d/chainfs-test-fuse.conf"
	# The host's own services and timers stay off; etcd and the remote
	# file systems are wanted at boot, whatever the host enables.
	for f in "$ct_root"/etc/systemd/system/*.wants/*; do
		[ -L "$f" ] || [ -e "$f" ] || continue
		case ${f##*/} in
		systemd-*) ;;
		*) rm -f "$f" ;;
		esac
	done
	mkdir -p "$ct_root/etc/systemd/system/multi-user.target.wants"
	ln -sf /lib/systemd/system/etcd.service "$ct_root/etc/systemd/system/multi-user.target.wants/etcd.service"
	ln -sf /lib/systemd/system/remote-fs.target "$ct_root/etc/systemd/system/multi-user.target.wants/remote-fs.target"
	# Nothing of the host's chainfs, etcd data or mounts.
	rm -rf "$ct_root/etc/chainfs" "$ct_root/var/lib/chainfs" "$ct_root/var/lib/etcd/"*
	: >"$ct_root/etc/fstab"
}

# The container's PID 1: the child of systemd-nspawn.
ct_find_pid1() {
	local i
	for ((i = 0; i < 100; i++)); do
		ct_pid1=$(pgrep -P "$ct_nspawn" | head -n 1 || true)
		[ -n "$ct_pid1" ] && [ "$(cat "/proc/$ct_pid1/comm" 2>/dev/null)" = systemd ] && return 0
		kill -0 "$ct_nspawn" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# The cgroup hierarchies: the one of a unified (v2) system, or each of a v1 or hybrid one.
ct_hierarchies() {
	local h
	if [ -e /sys/fs/cgroup/cgroup.procs ]; then
		echo /sys/fs/cgroup
		return
	fi
	for h in /sys/fs/cgroup/*/; do
		[ -e "${h}cgroup.procs" ] && echo "${h%/}"
	done
}

ct() {
	nsenter -t "$ct_pid1" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"
}

ct_boot() {
	local log=$1 state i d binds=()
	shift
	# nspawn mounts a tmpfs on the container's /tmp, and the host's / may
	# hold other file systems: the directories the test needs go in by name.
	for d in "$@"; do
		mkdir -p "$ct_dir/up/dirs$d"
		binds+=("--overlay=$d:$ct_dir/up/dirs$d:$d")
	done
	# A cgroup directory of its own under every hierarchy, then nspawn.
	(
		for h in $(ct_hierarchies); do
			mkdir -p "$h/$ct_cgroup"
			# A v1 cpuset group starts with no CPUs and no memory: give it its parent's.
			if [ -e "$h/$ct_cgroup/cpuset.cpus" ]; then
				cat "$h/cpuset.cpus" >"$h/$ct_cgroup/cpuset.cpus"
				cat "$h/cpuset.mems" >"$h/$ct_cgroup/cpuset.mems"
			fi
			echo "$BASHPID" >"$h/$ct_cgroup/cgroup.procs"
		done
		exec systemd-nspawn --quiet --register=no --keep-unit --private-network \
			"${binds[@]}" -D "$ct_root" --boot systemd.log_color=0
	) </dev/null >"$log" 2>&1 &
	ct_nspawn=$!
	ct_find_pid1 || fail "the container did not start: $(tail -n 20 "$log")"
	echo "$ct_pid1" >"$work/pid1"
	# Until its bus is there, systemctl cannot ask.
	for ((i = 0; i < 300; i++)); do
		state=$(ct timeout 120 systemctl is-system-running --wait 2>&1) || true
		case $state in
		*"connect to bus"*) sleep 0.1 ;;
		*) break ;;
		esac
	done
	if [ "$state" != running ]; then
		ct systemctl --failed --no-pager 2>&1 | sed "s/^/$test_name: /" || true
		fail "the container's boot ended $state"
	fi
}

# Waits (bounded) for the container to end after poweroff; its status is nspawn's.
ct_poweroff() {
	local i
	ct systemctl poweroff || fail "systemctl poweroff failed"
	for ((i = 0; i < 600; i++)); do
		kill -0 "$ct_nspawn" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$ct_nspawn" 2>/dev/null && fail "the container did not power off within 60 s"
	wait "$ct_nspawn" || fail "systemd-nspawn ended with status $?"
	ct_nspawn=
}

ct_teardown() {
	local h i
	if [ -n "$ct_nspawn" ] && kill -0 "$ct_nspawn" 2>/dev/null; then
		kill -KILL "$ct_nspawn" 2>/dev/null
		[ -z "$ct_pid1" ] || kill -KILL "$ct_pid1" 2>/dev/null
		for ((i = 0; i < 100; i++)); do
			kill -0 "$ct_nspawn" 2>/dev/null || break
			sleep 0.1
		done
	fi
	# Whatever is left in the container's cgroups.
	for h in $(ct_hierarchies); do
		h=$h/$ct_cgroup
		[ -d "$h" ] || continue
		find "$h" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null
	done
	for ((i = 0; i < 50; i++)); do
		findmnt -rno TARGET | grep -q "^$ct_root" || break
		umount -R -l "$ct_root" 2>/dev/null
		sleep 0.1
	done
	umount -l "$ct_dir/up" 2>/dev/null
	for h in $(ct_hierarchies); do
		h=$h/$ct_cgroup
		[ -d "$h" ] || continue
		for ((i = 0; i < 50; i++)); do
			find "$h" -depth -type d -exec rmdir {} + 2>/dev/null
			[ -d "$h" ] || break
			sleep 0.1
		done
	done
	return 0
}
