# SPDX-License-Identifier: GPL-2.0
# fastsocket: `make` builds the module for every supported kernel whose headers
# are installed (or KVER=<release>), the selftests and the tools;
# `make check` installs what is missing, builds, lints and runs every test.

TOP := $(CURDIR)
BUILD := $(TOP)/build
VERSION := $(shell cat $(TOP)/VERSION)
KVER ?= $(shell $(TOP)/tools/kernels.sh)
KVERS := $(KVER)

MODULE_SRCS := $(wildcard src/*.c src/*.h) src/Kbuild
KMOD_SRCS := $(wildcard selftests/kmod/*.c) selftests/kmod/Kbuild
HEADERS := $(wildcard include/fastsocket/*.h)

.PHONY: all module kmod bpf tools selftests check check-debug stress lint unit deps vm-demo bench \
	cost cost-plugin \
	dkms-install dkms-uninstall clean help

all: module kmod bpf tools selftests

help:
	@echo "make [KVER=<release>]   build fastsocket.ko for $(if $(KVERS),$(KVERS),no installed kernel)"
	@echo "make check              install packages, build, lint, unit tests, selftests in a VM per kernel"
	@echo "make check-debug        the same on the debug kernel (KASAN, lockdep, kmemleak) only"
	@echo "make stress             heavy variants: netns churn, 1,000 listeners, 4 vCPUs, sparse CPUs"
	@echo "make lint               hooking rules (IBT safety) and kernel coding style"
	@echo "make vm-demo            boot a kernel, load the module, flip the sysctl in two netns"
	@echo "make bench              connections per second, stock vs fastsocket, per kernel"
	@echo "make cost               instructions per connection under icount (tools/cost)"
	@echo "make dkms-install       install through DKMS for every installed kernel"
	@echo "make dkms-uninstall     remove it again"

# kbuild builds in build/<kernel>/ through links to src/, so that every kernel
# keeps its own objects.
define kernel_rules
$(BUILD)/$(1)/fastsocket.ko: $(MODULE_SRCS) $(HEADERS) VERSION
	@mkdir -p $(BUILD)/$(1)
	@for f in $(MODULE_SRCS); do ln -sf $(TOP)/$$$$f $(BUILD)/$(1)/; done
	$$(MAKE) -C /lib/modules/$(1)/build M=$(BUILD)/$(1) FSK_TOP=$(TOP) \
		FSK_WERROR=1 modules

$(BUILD)/$(1)/kmod/fsk_kprobe_holder.ko: $(KMOD_SRCS)
	@mkdir -p $(BUILD)/$(1)/kmod
	@for f in $(KMOD_SRCS); do ln -sf $(TOP)/$$$$f $(BUILD)/$(1)/kmod/; done
	$$(MAKE) -C /lib/modules/$(1)/build M=$(BUILD)/$(1)/kmod modules
endef
$(foreach k,$(KVERS),$(eval $(call kernel_rules,$(k))))

module: $(foreach k,$(KVERS),$(BUILD)/$(k)/fastsocket.ko)
	@[ -n "$(KVERS)" ] || { echo "no supported kernel headers installed (6.1 to 6.12): run tools/install-deps.sh"; exit 1; }

kmod: $(foreach k,$(KVERS),$(BUILD)/$(k)/kmod/fsk_kprobe_holder.ko)

bpf:
	$(MAKE) -C bpf O=$(BUILD)/bpf

tools: bpf
	$(MAKE) -C tools/fastsocketctl O=$(BUILD)/tools BPF_O=$(BUILD)/bpf
	$(MAKE) -C tools/bench O=$(BUILD)/bench

selftests: bpf
	$(MAKE) -C selftests O=$(BUILD)/selftests
	$(MAKE) -C selftests/llt O=$(BUILD)/selftests/llt
	$(MAKE) -C selftests/rfd O=$(BUILD)/selftests/rfd BPF_O=$(BUILD)/bpf

deps:
	tools/install-deps.sh

lint: module
	tools/lint.sh $(foreach k,$(KVERS),$(BUILD)/$(k)/fastsocket.ko)

unit: selftests
	tools/run-unit.sh $(BUILD)/selftests

check:
	tools/check.sh

# Every suite on the debug kernel (KASAN, lockdep, kmemleak) only: before
# resolving anything that touches src/.
check-debug:
	FSK_CHECK_DEBUG_KERNEL=only tools/check.sh

# The heavy variants, outside make check's budget (tools/stress.sh).
stress:
	tools/stress.sh

vm-demo: module
	tools/vm-demo.sh $(firstword $(KVERS))

cost-plugin:
	$(MAKE) -C tools/cost

# Instructions per connection, counted under icount by a TCG plugin.
cost: module tools cost-plugin
	tools/cost/cost.sh

bench: module tools
	tools/bench/bench.sh

bench-bundle: module tools
	tools/bench/bundle.sh

dkms-install:
	tools/dkms.sh install $(VERSION)

dkms-uninstall:
	tools/dkms.sh uninstall $(VERSION)

clean:
	rm -rf $(BUILD)
	$(MAKE) -C selftests O=$(BUILD)/selftests clean 2>/dev/null || true
