#!/bin/bash
# tests/l1/run with only the vsock check as the L1's job, for working on
# virtio-vsock without the whole loader suite. Otherwise as tests/l1/run:
# The agentbox loader for real, in nested KVM (make test-loader): an L1 VM
# (our kernel plus kvm_amd) runs under QEMU TCG with -cpu max, whose
# emulated SVM gives it a working /dev/kvm. Inside, tests/l1/tests.sh boots
# the guest image as L2s with the loader. A loader test never skips for
# lack of KVM.
#
# The L1 must be told its TSC rate (see below): without it, KVM in most L1
# boots never enters an L2.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! make -s -C "$top" l1-kernel loader >"$tmp/build.log" 2>&1; then
	fail "build the L1 kernel and the static loader" "$(tail -n 3 "$tmp/build.log" | tr '\n' ' ')"
	exit 1
fi

# The L1's job directory: the test script, the loader, the L2 boot files
# and small job disks for the L2s. The L2 rootfs is the L1's own /dev/vda.
jobdir=$tmp/l1job
mkdir "$jobdir"
cat >"$jobdir/run" <<'JOB'
suite=loader
job=/job
failures=0
pass() { echo "PASS: $suite: $1"; }
fail() {
	echo "FAIL: $suite: $1: $2"
	failures=$((failures + 1))
	[ -z "$3" ] || tail -n 15 "$3" | sed 's/^/  l2: /'
}
. "$job/vsock-check.sh"
exit $failures
JOB
cp "$build/host/agentbox-static" "$jobdir/agentbox"
cp "$build/vmlinux" "$build/bzImage" "$build/initramfs.cpio" "$jobdir/"
if ! gcc -O2 -Wall -Wextra -Werror -o "$tmp/tsc-khz" "$top/tests/l1/tsc-khz.c" ||
	! "$top/tests/l1/vsock-prepare.sh" "$top" "$jobdir" "$tmp"; then
	fail "build tsc-khz and the vsock peer" "see above"
	exit 1
fi

# Under TCG the L1's TSC is this host's TSC, but the L1 kernel has to
# calibrate its rate against the PIT (microvm has no HPET or PM timer),
# and on most TCG boots that fails: tsc_khz stays 0 and the TSC is marked
# unstable. KVM then never enters a guest: kvm_guest_time_update() finds
# cpu_tsc_khz 0 and re-requests KVM_REQ_CLOCK_UPDATE, so KVM_RUN loops
# without one VMRUN (always so with two L1 vCPUs or over 4 GiB, where the
# calibration never succeeds). So hand the L1 the rate, measured here;
# tsc=reliable keeps the L1's jiffies-based clocksource watchdog, itself
# at the mercy of TCG's timing, from marking the TSC unstable later. One
# vCPU keeps the L1 on one host core.
if ! tsc_khz=$("$tmp/tsc-khz") || ! [ "$tsc_khz" -gt 0 ] 2>/dev/null; then
	fail "measure the host's TSC rate for the L1" "tsc-khz printed '$tsc_khz'"
	exit 1
fi
console=$build/test-logs/vsock-l1.console
"$top/tools/run-qemu" --accel tcg --kernel "$build/l1/vmlinux" --no-docker \
	--job "$jobdir" --console "$console" --timeout 1500 --mem 2G --cpus 1 \
	--cmdline "tsc_early_khz=$tsc_khz tsc=reliable"
rc=$?
sed -i 's/\r$//' "$console"
if [ $rc -eq 99 ]; then
	fail "nested KVM" "the L1 could not enter an L2 (look for 'tsc:' lines in $console)"
	exit 1
fi

grep -oE '^\s*pass "[^"]+"' "$top/tests/l1/vsock-check.sh" | sed 's/^[[:space:]]*pass "//; s/"$//' |
while IFS= read -r name; do
	line=$(grep -aE "^(PASS|FAIL): loader: $(printf '%s' "$name" | sed 's/[][\.*^$()+?{}|/]/\\&/g')(:|$)" "$console" | head -n1)
	if [ -n "$line" ]; then
		echo "$line"
		grep -a -A15 -F "$line" "$console" | sed -n '2,$p' | grep -a '^  l2: ' || true
	else
		fail "$name" "never reported (L1 exit status $rc; console: $console)"
	fi
done
