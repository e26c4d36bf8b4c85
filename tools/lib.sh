# Shared helpers for the tools/ scripts. Sourced, never run.

die() {
	echo "agentbox: error: $*" >&2
	exit 1
}

step() {
	printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

# The kernel and rootfs caches live outside the checkout so a clean clone
# (and CI) reuses them. ~ rather than $HOME: bash finds the home directory
# in passwd when a bare environment has no HOME.
cache_dir() {
	local home=~
	local d=${AGENTBOX_CACHE:-${XDG_CACHE_HOME:-$home/.cache}/agentbox}
	mkdir -p "$d"
	echo "$d"
}

# Replace DEST with a copy of SRC so that a reader never sees a partial
# file: copy beside it, fsync, then rename over it.
install_atomic() {
	local src=$1 dest=$2 tmp
	tmp=$(mktemp "$dest.tmp.XXXXXX")
	if ! cp "$src" "$tmp" || ! chmod --reference="$src" "$tmp" || ! sync "$tmp" || ! mv -f "$tmp" "$dest"; then
		rm -f "$tmp"
		die "cannot write $dest"
	fi
}

# True when /dev/kvm can run a stock kernel. Some hosts expose a software
# /dev/kvm (PVM: the CPU has no vmx/svm) that only runs specially built
# guests, so the device alone proves nothing.
kvm_usable() {
	[ -r /dev/kvm ] && [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo
}
