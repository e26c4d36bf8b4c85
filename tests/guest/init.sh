# In-guest checks of what the init set up, run as a job with agentbox.docker=0.
suite=init
failures=0
check() {
	name=$1 want=$2
	shift 2
	got=$("$@" 2>&1)
	if [ "$got" = "$want" ]; then
		echo "PASS: $suite: $name"
	else
		echo "FAIL: $suite: $name: expected '$want', got '$got'"
		failures=$((failures + 1))
	fi
}

check "PID 1 is the agentbox init in init.scope" "0::/init.scope" cat /proc/1/cgroup
check "the job runs in its own cgroup" "0::/job.scope" cat /proc/self/cgroup
check "controllers delegated to children" "cpuset cpu io memory pids" \
	cat /sys/fs/cgroup/cgroup.subtree_control
check "root is an overlay" "overlay" sh -c "awk '\$2 == \"/\" { print \$3 }' /proc/mounts"
check "/var/lib/docker is not on the overlay" "yes" \
	sh -c "awk '\$2 == \"/var/lib/docker\" && \$3 != \"overlay\" { print \"yes\" }' /proc/mounts"
check "runtime mounts" "cgroup2 devpts tmpfs tmpfs tmpfs" \
	sh -c "for m in /sys/fs/cgroup /dev/pts /dev/shm /run /tmp; do awk -v m=\$m '\$2 == m { print \$3 }' /proc/mounts; done | xargs"
check "hostname" "agentbox" hostname
check "loopback is up" "up" sh -c 'ip link show lo | grep -q "UP" && echo up'
check "the writable layer accepts writes" "written" sh -c 'echo written >/etc/agentbox-test && cat /etc/agentbox-test'
check "init is protected from the OOM killer" "-1000" cat /proc/1/oom_score_adj
check "agentboxd is protected from the OOM killer" "-1000" \
	sh -c 'cat /proc/$(pidof agentboxd)/oom_score_adj'
check "agentboxd runs in its own cgroup" "0::/agentboxd.scope" \
	sh -c 'cat /proc/$(pidof agentboxd)/cgroup'
check "no dockerd with agentbox.docker=0" "" sh -c 'pidof dockerd'
[ -z "$SCRATCH_MARK" ] || echo "$SCRATCH_MARK" >/root/scratch-mark
exit $failures
