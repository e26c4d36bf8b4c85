# In-guest Docker checks, run by the init as the job of tests/image-docker.test.
# Prints one PASS/FAIL line per case; the host counts them. Uses only the
# rootfs: busybox for the FROM-scratch image, Debian's docker and
# docker-compose clients.
suite=docker
failures=0

pass() { echo "PASS: $suite: $1"; }
fail() {
	echo "FAIL: $suite: $1: $2"
	failures=$((failures + 1))
	tail -n 5 /run/dockerd.log | sed 's/^/  dockerd: /'
}

# check NAME EXPECTED COMMAND...: COMMAND's stdout must equal EXPECTED.
check() {
	name=$1 want=$2
	shift 2
	got=$("$@" 2>/tmp/check.err)
	if [ "$got" = "$want" ]; then
		pass "$name"
	else
		fail "$name" "expected '$want', got '$(echo $got | tail -c 200)' $(tail -n 3 /tmp/check.err | tr '\n' ' ')"
	fi
}

# retry SECONDS COMMAND...: run COMMAND until it succeeds, at most SECONDS.
retry() {
	deadline=$(($(date +%s) + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$deadline" ] || return 1
		sleep 1
	done
}

check "dockerd answers on /run/docker.sock" "linux" \
	docker -H unix:///run/docker.sock version --format '{{.Server.Os}}'
# State 0A is LISTEN: nothing in the sandbox's own namespace listens on TCP.
check "no TCP listener" "" awk '$4 == "0A"' /proc/net/tcp /proc/net/tcp6
check "dockerd is protected from the OOM killer" "-1000" \
	sh -c 'cat /proc/$(pidof dockerd)/oom_score_adj'
# The defaults of a 2-vCPU guest (initramfs/workload.h): 0.9 of each vCPU,
# RAM less 192M and a sixteenth (memory.max keeps whole pages), the
# kernel's process limit less 1024.
check "default workload limits leave room for the daemons" "180000 100000 memory pids" \
	sh -c 'cd /sys/fs/cgroup/workload
		read -r _ kb _ </proc/meminfo
		ram=$((kb * 1024)) mem=$(cat memory.max) pids=$(cat pids.max)
		max=$(cat /proc/sys/kernel/pid_max) threads=$(cat /proc/sys/kernel/threads-max)
		[ "$threads" -lt "$max" ] && max=$threads
		[ "$mem" -eq $(((ram - (192 << 20) - ram / 16) / 4096 * 4096)) ] && m=memory
		[ "$pids" -eq $((max - 1024)) ] && p=pids
		echo $(cat cpu.max) ${m:-memory:$mem:of:$ram} ${p:-pids:$pids:of:$max}'
check "the init marks dockerd ready for the agent" "ready" \
	sh -c 'test -e /run/agentbox/dockerd-ready && echo ready'
check "docker info: overlay2 on cgroup v2" "overlay2 2" \
	docker info --format '{{.Driver}} {{.CgroupVersion}}'

mkdir -p /tmp/ctx
cp /usr/bin/busybox /tmp/ctx/busybox
# fetch HOST PORT: bounded by timeout(1), since Debian's busybox wget
# crashes on its own -T option.
cat >/tmp/ctx/fetch <<'FETCH'
#!/bin/sh
exec timeout 10 wget -q -O- "http://$1:$2/"
FETCH
chmod +x /tmp/ctx/fetch
cat >/tmp/ctx/Dockerfile <<'DOCKERFILE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY fetch /bin/fetch
CMD ["/bin/sh"]
DOCKERFILE
check "docker build FROM scratch with busybox" "ok" \
	sh -c 'DOCKER_BUILDKIT=0 docker build -q -t agentbox/busybox /tmp/ctx >/dev/null && echo ok'
check "docker run prints output" "hello from a container" \
	docker run --rm agentbox/busybox echo hello from a container
check "docker run propagates exit code" "3" \
	sh -c 'docker run --rm agentbox/busybox sh -c "exit 3"; echo $?'

docker network create agentbox-net >/dev/null
docker run -d --name pong --network agentbox-net agentbox/busybox \
	sh -c 'mkdir /www && echo pong >/www/index.html && exec httpd -f -p 8080 -h /www' >/dev/null
fetch_pong() {
	docker run --rm --network agentbox-net agentbox/busybox fetch pong 8080
}
retry 30 fetch_pong
check "two containers talk over a user-defined bridge" "pong" fetch_pong
docker rm -f pong >/dev/null
docker network rm agentbox-net >/dev/null

mkdir -p /tmp/compose
cat >/tmp/compose/docker-compose.yml <<'COMPOSE'
version: "3"
services:
  server:
    image: agentbox/busybox
    command: sh -c 'mkdir /www && echo compose-pong >/www/index.html && exec httpd -f -p 8080 -h /www'
  client:
    image: agentbox/busybox
    depends_on: [server]
    command: sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do fetch server 8080 && exit 0; sleep 1; done; exit 1'
COMPOSE
check "docker-compose: one service reaches the other by name" "compose-pong" \
	sh -c 'cd /tmp/compose && docker-compose -p agentbox up --abort-on-container-exit --exit-code-from client --no-color 2>/dev/null | sed -n "s/^client[^|]*| //p"'
(cd /tmp/compose && docker-compose -p agentbox down >/dev/null 2>&1)

check "--memory sets memory.max" "33554432" \
	docker run --rm --memory 32m agentbox/busybox cat /sys/fs/cgroup/memory.max
check "--memory is enforced: a hog is OOM-killed" "137 true" \
	sh -c 'docker run --name hog --memory 32m --memory-swap 32m agentbox/busybox sh -c "tail /dev/zero" >/dev/null 2>&1; echo "$? $(docker inspect -f "{{.State.OOMKilled}}" hog)"; docker rm hog >/dev/null'
# Once the limit bites, nothing can fork: count and clean up with builtins.
check "--pids-limit is enforced" "20 limited" \
	docker run --rm --pids-limit 20 agentbox/busybox sh -c '
		(for i in $(seq 40); do sleep 30 & done) 2>/dev/null
		n=0
		while read -r pid; do n=$((n + 1)); done </sys/fs/cgroup/cgroup.procs
		kill -9 -1 2>/dev/null
		read -r max </sys/fs/cgroup/pids.max
		while read -r key val; do [ "$key" = max ] && hit=$val; done </sys/fs/cgroup/pids.events
		[ "$n" -le 20 ] && [ "${hit:-0}" -gt 0 ] && r=limited
		echo "$max ${r:-not-limited:$n:$hit}"'
check "--cpus sets cpu.max" "50000 100000" \
	docker run --rm --cpus 0.5 agentbox/busybox cat /sys/fs/cgroup/cpu.max

old=$(cat /run/docker.pid)
kill -9 "$old"
sleep 1
restarted() {
	new=$(cat /run/docker.pid 2>/dev/null)
	[ -n "$new" ] && [ "$new" != "$old" ] && docker version >/dev/null 2>&1
}
if retry 90 restarted; then
	check "dockerd restarted by init after kill -9" "after restart" \
		docker run --rm agentbox/busybox echo after restart
else
	fail "dockerd restarted by init after kill -9" "no new dockerd answered within 90 s"
fi

exit $failures
