# agentbox: disposable, hardware-isolated sandboxes for AI coding agents.
# `make help` lists the targets. Outputs go to build/; the slow kernel build
# is cached outside the checkout (AGENTBOX_CACHE, default ~/.cache/agentbox).

BUILD := build
KERNEL_SRC ?= /usr/src/linux-source-6.1.tar.xz
SOURCE_DATE_EPOCH ?= 1700000000
MUSL_CC := musl-gcc
INIT_CFLAGS := -std=gnu11 -Os -static -Wall -Wextra -Werror -Iinitramfs
AGENT_SRC := $(addprefix guest-agent/,agentboxd.c channel.c protocol.c wire.c sha256.c)
AGENT_HDR := $(wildcard guest-agent/*.h) initramfs/agentbox-abi.h

export KERNEL_SRC SOURCE_DATE_EPOCH

.DELETE_ON_ERROR:
.PHONY: all help image kernel initramfs rootfs deps demo test check fuzz bench \
	loader l1-kernel test-loader bench-loader bootprofile \
	check-config kernel-menuconfig kernel-savefragment clean

all: image

help:
	@echo "agentbox targets:"
	@echo "  make demo        install what is missing, build, boot a sandbox, run a container"
	@echo "  make test        the whole suite (unit, image under QEMU, loader in nested KVM)"
	@echo "  make check       unit tests and fuzz smoke runs, no VMs"
	@echo "  make fuzz        every libFuzzer target for FUZZ_SECONDS (default 300) each"
	@echo "  make bench       print build, boot and guest-agent measurements"
	@echo "  make bootprofile per-phase boot cost in deterministic guest time"
	@echo "                   (PROFILE=\"target and options\", see tools/boot-profile --help;"
	@echo "                   tools/boot-compare A B compares two)"
	@echo "  make test-loader only the loader's nested-KVM suite (15-20 minutes);"
	@echo "                   STEPS=\"snapshot ...\" runs only those steps of tests/l1/tests.sh"
	@echo "  make bench-loader the same run, then its agentbox-vs-QEMU table"
	@echo "  make image       kernel + initramfs + rootfs into $(BUILD)/"
	@echo "  make kernel | initramfs | rootfs"
	@echo "  make check-config         Docker's kernel requirements against the built config"
	@echo "  make kernel-menuconfig    edit the kernel config interactively"
	@echo "  make kernel-savefragment  save that edit as kernel-config/90-local.config"
	@echo "  make clean       remove $(BUILD)/ (the kernel cache stays)"

deps:
	@tools/install-deps

image: kernel initramfs rootfs

# The script itself decides, by the hash of every input, whether anything
# needs building; on a cache hit it returns in about a second.
kernel: | deps
	@tools/build-kernel $(BUILD)

$(BUILD)/vmlinux $(BUILD)/gen_init_cpio: | kernel

$(BUILD)/init: initramfs/init.c initramfs/agentbox-abi.h initramfs/workload.h | deps
	@mkdir -p $(BUILD)
	$(MUSL_CC) $(INIT_CFLAGS) -o $@ $<

# The guest agent rides in the initramfs, so it always matches the init.
$(BUILD)/agentboxd: $(AGENT_SRC) $(AGENT_HDR) | deps
	@mkdir -p $(BUILD)
	$(MUSL_CC) $(INIT_CFLAGS) -Iguest-agent -o $@ $(AGENT_SRC)

$(BUILD)/initramfs.cpio: initramfs/initramfs.list tools/build-initramfs $(BUILD)/init $(BUILD)/agentboxd $(BUILD)/gen_init_cpio
	@tools/build-initramfs $@ $(BUILD)/init $(BUILD)/agentboxd $(BUILD)/gen_init_cpio
	@echo "initramfs: $@ ($$(stat -c %s $@) bytes)"

initramfs: $(BUILD)/initramfs.cpio

$(BUILD)/rootfs.ext4: tools/build-rootfs tools/rootfs-packages tools/lib.sh | deps
	@mkdir -p $(BUILD)
	@tools/build-rootfs $@

rootfs: $(BUILD)/rootfs.ext4

check-config: kernel rootfs
	@tools/check-docker-config $(BUILD)/kernel.config

kernel-menuconfig: | deps
	@tools/kernel-menuconfig $(BUILD)

kernel-savefragment: | deps
	@tools/kernel-menuconfig --save $(BUILD) kernel-config/90-local.config

demo: | deps
	@$(MAKE) --no-print-directory image loader
	@tools/demo $(BUILD)

test: | deps
	@$(MAKE) --no-print-directory image
	@tests/run

# The loader, and the KVM-host kernel of the nested test VM (L1).
loader: | deps
	@$(MAKE) -s -C host loader

l1-kernel: | deps
	@KERNEL_EXTRA_FRAGMENTS=tests/l1/kvm-host.config tools/build-kernel $(BUILD)/l1

# The loader's nested-KVM suite (tests/loader-l1.test), which make test
# runs too; this is the shortcut for it alone. bench-loader runs it with
# the agentbox-vs-QEMU benchmark at the end of the L1 run and prints the
# table whatever the tests said.
test-loader: | deps
	@$(MAKE) --no-print-directory image
	@L1_STEPS="$(STEPS)" tests/run loader-l1

bench-loader: | deps
	@$(MAKE) --no-print-directory image
	@AGENTBOX_BENCH=1 tests/run loader-l1 || true
	@echo "== loader benchmark ($(BUILD)/test-logs/loader-bench.txt)"
	@cat $(BUILD)/test-logs/loader-bench.txt

check: | deps
	@tests/run --check

fuzz: | deps
	@$(MAKE) -C host fuzz

bench: | deps
	@$(MAKE) --no-print-directory image
	@tools/bench-image
	@tools/bench-agent

# Deterministic per-phase boot cost (tools/boot-profile --help); for example
# make bootprofile PROFILE="--no-docker my-fragments/".
bootprofile: | deps
	@$(MAKE) --no-print-directory image
	@tools/boot-profile $(PROFILE)

clean:
	rm -rf $(BUILD)
