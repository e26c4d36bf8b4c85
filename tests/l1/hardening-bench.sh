# What the seccomp filter and the jail cost, sourced by
# tests/l1/snapshot-check.sh in the benchmark (make bench-loader), which
# gives it $snap_warm, restored_ok, now_ms and snap_ms. The warm snapshot is restored
# three ways in turn, bare (--no-seccomp), filtered (the default), and
# filtered and jailed as nobody, each time to the agent's ready (the
# loader's own --timings) and then through 20 execs of true in a row. Prints
# "bench-hard:" lines; asserts nothing.
# shellcheck shell=sh
: "${job:=/job}" "${snap_warm:=/tmp/snap-warm}"
hjail=/tmp/hjail
nobody=65534

# The jail a caller would build: a tmpfs with the snapshot bound in, the
# rootfs as a node nobody can read, and a directory of nobody's for the
# sockets and the console. The snapshot's files become readable by all.
hardening_bench_jail() {
	umount "$hjail/snap" "$hjail" 2>/dev/null
	mkdir -p "$hjail"
	mount -t tmpfs -o mode=755 hjail "$hjail" || return 1
	mkdir "$hjail/run" "$hjail/snap"
	chown "$nobody:$nobody" "$hjail/run"
	chmod a+rx "$snap_warm"
	chmod a+r "$snap_warm"/*
	mount --bind -o ro "$snap_warm" "$hjail/snap" || return 1
	cp -a /dev/vda "$hjail/vda" && chmod 644 "$hjail/vda"
}

# hardening_bench_once HOW: one restore, HOW being bare, filtered or jailed.
hardening_bench_once() {
	case $1 in
	bare) set -- "$1" /tmp "$snap_warm" --no-seccomp ;;
	filtered) set -- "$1" /tmp "$snap_warm" ;;
	jailed) set -- "$1" "$hjail/run" /snap --disk /vda,ro \
		--jail "$hjail" --uid "$nobody" --gid "$nobody" ;;
	esac
	how=$1 dir=$2 snap=$3
	shift 3
	# Inside the jail the loader sees $hjail/run as /run.
	at=$dir
	[ "$how" != jailed ] || at=/run
	rm -f "$dir/hb.sock" "$dir/hb.ctl"
	"$job/agentbox" restore "$snap" --vsock "$at/hb.sock" --control "$at/hb.ctl" \
		--console "$at/hb.log" --timings "$@" 2>/tmp/hb.err &
	hb_pid=$!
	restored_ok hb
	n=0
	t0=$(now_ms)
	while [ $n -lt 20 ]; do
		timeout -s KILL 60 "$job/agentbox" exec "vsock:$dir/hb.sock" -- true || break
		n=$((n + 1))
	done
	t1=$(now_ms)
	"$job/agentbox" stop "$dir/hb.ctl" >/dev/null 2>&1 || kill -KILL "$hb_pid" 2>/dev/null
	wait "$hb_pid" 2>/dev/null
	echo "bench-hard: $how: restore to agent ready $(snap_ms 'agent ready' /tmp/hb.err) ms (loader's own)," \
		"exec true $(((t1 - t0) / (n + (n == 0)))) ms on average over $n"
	grep 'seccomp:' /tmp/hb.err | sed 's/^/bench-hard:   /'
}

if hardening_bench_jail; then
	round=1
	while [ $round -le 3 ]; do
		for how in bare filtered jailed; do
			hardening_bench_once $how
		done
		round=$((round + 1))
	done
else
	echo "bench-hard: cannot build the jail in $hjail"
fi
umount "$hjail/snap" "$hjail" 2>/dev/null
