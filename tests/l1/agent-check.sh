# The guest agent over the loader's vsock in a real L2, and the boot
# profiler's KVM path; sourced by tests/l1/tests.sh inside the L1 (it uses
# that script's pass, fail, l2 and $job).
# shellcheck shell=sh
# shellcheck disable=SC2034,SC2154 # rc, log and L2_CMDLINE belong to l2()
: "${job:=/job}"
agent_sock=/tmp/agent.sock
agent_log=/tmp/agent.log

rm -f "$agent_sock"
"$job/agentbox" run --console "$agent_log" --kernel "$job/vmlinux" \
	--initrd "$job/initramfs.cpio" --disk /dev/vda,ro --mem 512M \
	--cmdline "agentbox.docker=0" --vsock "$agent_sock" 2>>"$agent_log" &
agent_vm=$!

# agentboxd listens once the init is up; until then the loader refuses.
agent_out=""
i=0
while [ $i -lt 300 ]; do
	agent_out=$(timeout -s KILL 30 "$job/agentbox" exec "vsock:$agent_sock" -- echo hello from agentboxd 2>&1) && break
	sleep 1
	i=$((i + 1))
done
if [ "$agent_out" = "hello from agentboxd" ]; then
	pass "agent: exec through the loader's vsock"
else
	fail "agent: exec through the loader's vsock" "got '$agent_out'" "$agent_log"
fi

timeout -s KILL 60 "$job/agentbox" exec "vsock:$agent_sock" -- sh -c 'exit 255'
agent_rc=$?
timeout -s KILL 60 "$job/agentbox" exec "vsock:$agent_sock" -- sh -c 'kill -TERM $$'
agent_sig=$?
if [ $agent_rc -eq 255 ] && [ $agent_sig -eq 143 ]; then
	pass "agent: exit status and death by signal reach the host over vsock"
else
	fail "agent: exit status and death by signal reach the host over vsock" \
		"exit 255 gave $agent_rc, SIGTERM gave $agent_sig" "$agent_log"
fi

head -c 3000000 /dev/urandom >/tmp/agent-in
if timeout -s KILL 300 "$job/agentbox" cp "vsock:$agent_sock" /tmp/agent-in :/tmp/agent-file &&
	timeout -s KILL 300 "$job/agentbox" cp "vsock:$agent_sock" :/tmp/agent-file /tmp/agent-out &&
	cmp -s /tmp/agent-in /tmp/agent-out; then
	pass "agent: cp round-trips 3 MB over vsock"
else
	fail "agent: cp round-trips 3 MB over vsock" "the copy differs or failed" "$agent_log"
fi

timeout -s KILL 60 "$job/agentbox" shutdown "vsock:$agent_sock" >/dev/null 2>&1
i=0
while kill -0 $agent_vm 2>/dev/null && [ $i -lt 120 ]; do sleep 1; i=$((i + 1)); done
if kill -0 $agent_vm 2>/dev/null; then
	kill -KILL $agent_vm
	fail "agent: shutdown powers the sandbox off" "still running after 120 s" "$agent_log"
else
	wait $agent_vm
	agent_rc=$?
	if [ $agent_rc -eq 0 ]; then
		pass "agent: shutdown powers the sandbox off"
	else
		fail "agent: shutdown powers the sandbox off" "loader status $agent_rc" "$agent_log"
	fi
fi

# tools/boot-profile --accel kvm in miniature: the L2 prints its kernel log
# and powers off; tests/loader-l1.test turns /tmp/profile.log into a
# profile on the host, where Python is.
L2_CMDLINE="agentbox.docker=0 initcall_debug log_buf_len=4M agentbox.profile=1"
l2 profile 300 poweroff.ext4 --kernel "$job/vmlinux" --initrd "$job/initramfs.cpio" --mem 512M
if [ $rc -eq 0 ] && grep -q '^agentbox: kernel log end' "$log"; then
	pass "profile: a profiled boot prints its kernel log and powers off"
else
	fail "profile: a profiled boot prints its kernel log and powers off" "status $rc" "$log"
fi
