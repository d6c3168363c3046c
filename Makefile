# netstick — plain Makefile.  See README.md and docs/testing.md.
#
#   make              build build/netstickd
#   make check        unit tests, then the VM end-to-end suite
#   make check-unit   unit tests only (fast, no VM)
#   make check-asan   unit tests under ASan+UBSan
#   make check-tsan   unit and backend tests under ThreadSanitizer
#   make check-valgrind  unit tests under valgrind
#   make fuzz         build and run the libFuzzer targets: FUZZ_RUNS executions
#                     each (default unbounded), at most FUZZ_SECONDS (60)
#   make demo         boot a VM and show a host using the gadget
#   make bench        netstickd vs the kernel gadget, side by side
#   make loadtest-api the admin API under 1,000 slow clients + 100 streams
#   make soak         minutes of host I/O under random faults in the VM
#                     (SOAK_SECONDS=180)
#   make bench-net    network LUNs (http://, nbd://) vs nbdkit + nbd-client +
#                     the kernel gadget, at 0/20/50 ms round trip
#   make deb ARCH=amd64|arm64|armhf   the Debian package, in build/deb/
#   make check-cross ARCH=arm64|armhf unit + backend tests under qemu-user

CC      ?= cc
PKG_CONFIG ?= pkg-config
PREFIX  ?= /usr/local
SYSTEMD_UNITDIR ?= $(PREFIX)/lib/systemd/system
VERSION := 0.1.0

# Cross builds: ARCH (a Debian architecture) other than the machine's picks
# the triplet's gcc, ar and pkg-config (Debian's crossbuild-essential-ARCH
# and multiarch -dev packages) and builds into build-ARCH/.  libnbd comes
# from build-ARCH/libnbd/ (tests/cross-libnbd.sh says why).
NATIVE_ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
ARCH    ?= $(NATIVE_ARCH)
TRIPLET_amd64 := x86_64-linux-gnu
TRIPLET_arm64 := aarch64-linux-gnu
TRIPLET_armhf := arm-linux-gnueabihf
QEMU_amd64 := qemu-x86_64-static
QEMU_arm64 := qemu-aarch64-static
QEMU_armhf := qemu-arm-static
TRIPLET := $(TRIPLET_$(ARCH))
ifeq ($(TRIPLET),)
$(error ARCH=$(ARCH): one of amd64, arm64, armhf)
endif
ifneq ($(ARCH),$(NATIVE_ARCH))
BUILD   ?= build-$(ARCH)
CROSS_LIBNBD := $(CURDIR)/$(BUILD)/libnbd
CC      := $(TRIPLET)-gcc
AR      := $(TRIPLET)-ar
PKG_CONFIG := PKG_CONFIG_PATH=$(CROSS_LIBNBD)/pkgconfig $(TRIPLET)-pkg-config
endif
BUILD   ?= build

WARN    := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes \
           -Wmissing-prototypes -Wvla -Wframe-larger-than=16384
ifneq ($(CI),)
WARN    += -Werror
endif
ifneq ($(WERROR),)
WARN    += -Werror
endif
OPT     ?= -O2 -g
CFLAGS  ?=
CFLAGS  += -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 $(OPT) $(WARN) -pthread \
           -Idaemon -Ibackends -Ilayers -DNETSTICK_VERSION='"$(VERSION)"' \
           $(shell $(PKG_CONFIG) --cflags yaml-0.1)
LDLIBS  += $(shell $(PKG_CONFIG) --libs yaml-0.1 libsystemd) -laio -pthread
# Network backends (backends/nbd*.c, backends/http*.c; uri.c parses NBD
# URIs with libxml2, the parser inside libnbd).
NET_PKGS := libnbd libcurl libxml-2.0
# Admin API (daemon/api*.c, events.c, metrics.c).
API_PKGS := libmicrohttpd json-c libcrypto
# Seed volumes (backends/seed*.c): ISO 9660 images built in memory.
SEED_PKGS := libisofs-1
API_PKGS += $(SEED_PKGS)
# xxHash: block and content checksums (layers/pcache, the NBD identity).
NET_PKGS += libxxhash
CFLAGS  += $(shell $(PKG_CONFIG) --cflags $(NET_PKGS) $(API_PKGS))
LDLIBS  += $(shell $(PKG_CONFIG) --libs $(NET_PKGS) $(API_PKGS))
# Redfish users' password hashes (daemon/redfish_auth.c: crypt_r).
LDLIBS  += -lcrypt
CFLAGS  += -DNETSTICK_WEBUI_DIR='"$(PREFIX)/share/netstick/webui"'

# Everything but main.c goes into a library the tests link against.
DAEMON_SRC  := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
BACKEND_SRC := $(wildcard backends/*.c)
# Layers: layers/registry.c and one folder per layer (layers/NAME/*.c).
LAYER_SRC   := $(wildcard layers/*.c layers/*/*.c)
LIB_SRC     := $(DAEMON_SRC) $(BACKEND_SRC) $(LAYER_SRC)
LIB_OBJ     := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC))
HDRS        := $(wildcard daemon/*.h backends/*.h layers/*.h layers/*/*.h tests/unit/*.h)

UNIT_SRC    := $(wildcard tests/unit/test-*.c)
UNIT_BIN    := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
UNIT_HELP   := $(filter-out $(UNIT_SRC),$(wildcard tests/unit/*.c))
UNIT_HOBJ   := $(patsubst %.c,$(BUILD)/obj/%.o,$(UNIT_HELP))

FUZZ_SRC    := $(wildcard tests/fuzz/fuzz-*.c)
ifneq ($(FUZZ_ONLY),)
FUZZ_SRC    := tests/fuzz/$(FUZZ_ONLY).c
endif
FUZZ_SECONDS ?= 60
FUZZ_RUNS    ?= -1

.PHONY: all deps check check-unit check-backends check-vm check-vm-api check-vm-media-io check-vm-overlay check-vm-writeback check-vm-seed check-vm-redfish check-vm-fwboot check-asan check-tsan \
        check-api check-redfish check-webui check-vm-cdrom loadtest-api soak \
        check-valgrind check-cross deb fuzz fuzz-build demo bench bench-net clean install

all: $(BUILD)/netstickd $(BUILD)/netstick

$(BUILD)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/libnetstick.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/netstickd: $(BUILD)/obj/daemon/main.o $(BUILD)/libnetstick.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# The `netstick` CLI (cli/): libcurl + json-c (+ libcrypto: base64 for
# seed files), nothing from the daemon.
CLI_SRC := $(wildcard cli/*.c)
CLI_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(CLI_SRC))
$(BUILD)/obj/cli/%.o: cli/%.c cli/cli.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/netstick: $(CLI_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(shell $(PKG_CONFIG) --libs libcurl json-c libcrypto)

$(BUILD)/tests/%: tests/unit/%.c $(UNIT_HOBJ) $(BUILD)/libnetstick.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/unit -o $@ $< $(UNIT_HOBJ) $(BUILD)/libnetstick.a \
		$(LDFLAGS) $(LDLIBS)

# Installs the Debian packages needed (no-op when all are there).
deps:
	@tests/install-deps.sh

check-unit: $(UNIT_BIN)
	@tests/unit/run-unit.sh $(UNIT_BIN)

# Backends against real servers on loopback (tests/backends/).
$(BUILD)/tests/betool: tests/backends/betool.c $(BUILD)/libnetstick.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libnetstick.a $(LDFLAGS) $(LDLIBS)

check-backends: $(BUILD)/tests/betool
	@tests/backends/run-backends.sh $(BUILD)/tests/betool

# The conformance battery (both speeds, then behind NBD), the network LUNs,
# the persistent cache across a daemon restart, media swaps through the
# admin API while a real host reads, and real firmware (SeaBIOS, OVMF)
# booting from the gadget.
check-vm: $(BUILD)/netstickd $(BUILD)/netstick
	@rc=0; tests/vm/check.sh || rc=1; \
	tests/vm/run-vm.sh --timeout 600 tests/backends/vm-network-luns.sh || \
		{ rc=1; echo "vm-network-luns: 0 passed, 1 failed"; }; \
	tests/vm/run-vm.sh --timeout 600 tests/backends/vm-pcache.sh || \
		{ rc=1; echo "vm-pcache: 0 passed, 1 failed"; }; \
	$(MAKE) --no-print-directory check-vm-api || rc=1; \
	$(MAKE) --no-print-directory check-vm-media-io || rc=1; \
	$(MAKE) --no-print-directory check-vm-seed || rc=1; \
	$(MAKE) --no-print-directory check-vm-cdrom || rc=1; \
	$(MAKE) --no-print-directory check-vm-overlay || rc=1; \
	$(MAKE) --no-print-directory check-vm-writeback || rc=1; \
	$(MAKE) --no-print-directory check-vm-redfish || rc=1; \
	$(MAKE) --no-print-directory check-vm-fwboot || rc=1; exit $$rc

check-vm-api: $(BUILD)/netstickd $(BUILD)/netstick
	@mkdir -p $(BUILD)/vm-results/api-swap
	@tests/vm/run-vm.sh --timeout 600 --results $(BUILD)/vm-results/api-swap \
		tests/vm/api-swap.sh || { echo "api-swap: 0 passed, 1 failed"; exit 1; }

# Slow media (the inject layer) never holds up the API or the host.
check-vm-media-io: $(BUILD)/netstickd
	@rm -rf $(BUILD)/vm-results/media-io && mkdir -p $(BUILD)/vm-results/media-io
	@tests/vm/run-vm.sh --timeout 600 --results $(BUILD)/vm-results/media-io \
		tests/vm/media-io.sh || { echo "media-io: 0 passed, 1 failed"; exit 1; }

# Seed volumes (docs/seed.md) as the host sees them: blkid, mount, swaps.
check-vm-seed: $(BUILD)/netstickd $(BUILD)/netstick
	@rm -rf $(BUILD)/vm-results/seed && mkdir -p $(BUILD)/vm-results/seed
	@tests/vm/run-vm.sh --timeout 600 --results $(BUILD)/vm-results/seed \
		tests/vm/seed.sh || { echo "vm-seed: 0 passed, 1 failed"; exit 1; }

# CD/DVD drives (LUN type cdrom) in front of Linux's sr driver.
check-vm-cdrom: $(BUILD)/netstickd
	@rm -rf $(BUILD)/vm-results/cdrom && mkdir -p $(BUILD)/vm-results/cdrom
	@tests/vm/run-vm.sh --timeout 600 --results $(BUILD)/vm-results/cdrom \
		tests/vm/cdrom.sh || { echo "cdrom: 0 passed, 1 failed"; exit 1; }

# Redfish InsertMedia/EjectMedia (sushy) while a real host watches.
check-vm-redfish: $(BUILD)/netstickd
	@rm -rf $(BUILD)/vm-results/redfish && mkdir -p $(BUILD)/vm-results/redfish
	@tests/vm/run-vm.sh --timeout 600 --results $(BUILD)/vm-results/redfish \
		tests/vm/redfish.sh || { echo "vm-redfish: 0 passed, 1 failed"; exit 1; }

# The soak test in the VM (tests/vm/soak.sh): host I/O on two LUNs under
# random faults, nothing flushed lost, nothing stale read, fds and RSS flat.
SOAK_SECONDS ?= 180
soak: $(BUILD)/netstickd
	@rm -rf $(BUILD)/vm-results/soak && mkdir -p $(BUILD)/vm-results/soak
	NETSTICK_SOAK_SECONDS=$(SOAK_SECONDS) tests/vm/run-vm.sh \
		--results $(BUILD)/vm-results/soak \
		--timeout $$(($(SOAK_SECONDS) + 420)) tests/vm/soak.sh

# The admin API under hostile clients (docs/performance.md); no pass/fail.
loadtest-api: $(BUILD)/netstickd
	NETSTICKD=$(CURDIR)/$(BUILD)/netstickd python3 tests/api/loadtest.py --seconds 60

# An HTTP image behind cache + overlay, written by the host (mkfs, files).
check-vm-overlay: $(BUILD)/netstickd
	@rm -rf $(BUILD)/vm-results/overlay && mkdir -p $(BUILD)/vm-results/overlay
	@tests/vm/run-vm.sh --timeout 600 --results $(BUILD)/vm-results/overlay \
		tests/vm/overlay.sh || { echo "overlay: 0 passed, 1 failed"; exit 1; }

# A writable NBD export behind cache write=back, written by the host:
# held until SYNCHRONIZE CACHE, a full dirty set or eject.
check-vm-writeback: $(BUILD)/netstickd
	@rm -rf $(BUILD)/vm-results/writeback && mkdir -p $(BUILD)/vm-results/writeback
	@tests/vm/run-vm.sh --timeout 600 --results $(BUILD)/vm-results/writeback \
		tests/vm/writeback.sh || { echo "writeback: 0 passed, 1 failed"; exit 1; }

# SeaBIOS and OVMF in a second QEMU boot from netstickd over usb-redir
# (tests/vm/fwboot.sh); closing line "fwboot: N passed, N failed".
check-vm-fwboot: $(BUILD)/netstickd
	@NETSTICK_VM_DAEMON=$${NETSTICK_VM_DAEMON:-$(CURDIR)/$(BUILD)/netstickd} \
		tests/vm/fwboot.sh --results $(BUILD)/vm-results/fwboot

# The admin API against a running netstickd --no-usb (tests/api/), and the
# web UI in headless Chromium (tests/webui/).
check-api: $(BUILD)/netstickd $(BUILD)/netstick $(BUILD)/tests/betool
	@NETSTICKD=$(BUILD)/netstickd NETSTICK_CLI=$(BUILD)/netstick \
		BETOOL=$(BUILD)/tests/betool tests/api/run-api.sh

check-webui: $(BUILD)/netstickd
	@NETSTICKD=$(BUILD)/netstickd tests/webui/run-webui.sh

# Redfish (docs/redfish.md) with python3-sushy and redfishtool.
check-redfish: $(BUILD)/netstickd
	@NETSTICKD=$(BUILD)/netstickd tests/api/run-redfish.sh

# Every stage runs even if an earlier one failed; the exit status says
# whether all passed.
CHECK_STAGES := check-unit check-api check-redfish check-webui check-backends check-vm

check: deps
	@rc=0; for t in $(CHECK_STAGES); do \
		$(MAKE) --no-print-directory $$t || rc=1; \
	done; exit $$rc

check-asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		LDFLAGS="-fsanitize=address,undefined" check-unit

# Every test that runs threads, under ThreadSanitizer in build-tsan: the
# unit tests, the backend tests against real servers with a TSan
# betool, and the Redfish tests against a TSan netstickd.  Reports go to build-tsan/tsan/ (a race also makes the program
# exit 66); any report fails the target, after the closing lines
# "unit: ...", "backends: ..." and "tsan: N reports".
TSAN_MAKE := $(MAKE) --no-print-directory BUILD=build-tsan \
	OPT="-O1 -g -fsanitize=thread -fno-omit-frame-pointer" \
	LDFLAGS="-fsanitize=thread"
check-tsan:
	@rm -rf build-tsan/tsan && mkdir -p build-tsan/tsan
	@rc=0; export TSAN_OPTIONS="log_path=$(CURDIR)/build-tsan/tsan/report second_deadlock_stack=1"; \
	$(TSAN_MAKE) check-unit || rc=1; \
	$(TSAN_MAKE) check-backends || rc=1; \
	$(TSAN_MAKE) check-redfish || rc=1; \
	n=$$(ls build-tsan/tsan | wc -l); \
	[ "$$n" -eq 0 ] || { cat build-tsan/tsan/* | head -n 300; rc=1; }; \
	echo "tsan: $$n reports"; exit $$rc

# The unit tests and the backend tests for ARCH (arm64, armhf), cross-built
# into build-ARCH/ and run under qemu-user (qemu-user-static, called
# directly: no binfmt_misc needed).  The backend tests use a cross betool
# (betool-qemu, a wrapper) against the machine's own nbdkit/nginx on
# loopback.  Closing lines
# "unit-ARCH: ..." and "backends-ARCH: ...".
QEMU_RUN = env LD_LIBRARY_PATH=$(CROSS_LIBNBD)/usr/lib/$(TRIPLET) $(QEMU_$(ARCH))
check-cross:
	@[ "$(ARCH)" != "$(NATIVE_ARCH)" ] || { echo "check-cross: ARCH=arm64 or armhf"; exit 2; }
	@tests/cross-libnbd.sh $(ARCH) $(CROSS_LIBNBD)
	@$(MAKE) --no-print-directory $(UNIT_BIN) $(BUILD)/tests/betool
	@printf '#!/bin/sh\nexec $(QEMU_RUN) $(CURDIR)/$(BUILD)/tests/betool "$$@"\n' \
		>$(BUILD)/tests/betool-qemu && chmod +x $(BUILD)/tests/betool-qemu
	@rc=0; RUNNER="$(QEMU_RUN)" UNIT_NAME=unit-$(ARCH) \
		tests/unit/run-unit.sh $(UNIT_BIN) || rc=1; \
	BACKENDS_NAME=backends-$(ARCH) \
		tests/backends/run-backends.sh $(BUILD)/tests/betool-qemu || rc=1; exit $$rc

check-valgrind: $(UNIT_BIN)
	@RUNNER="valgrind -q --error-exitcode=99 --leak-check=full" \
		tests/unit/run-unit.sh $(UNIT_BIN)

# libFuzzer targets (clang).  Each runs FUZZ_SECONDS on its seed corpus.
# The library is compiled once (build-fuzz/obj, with the fuzzer's coverage
# but not its main), so `make -j2 fuzz-build` builds every target in the
# time of about one; each target then links its own.
FUZZ_OBJ := $(patsubst %.c,build-fuzz/obj/%.o,$(LIB_SRC) $(UNIT_HELP))
FUZZ_BIN := $(patsubst tests/fuzz/%.c,build-fuzz/%,$(FUZZ_SRC))
FUZZ_CC  := clang -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -g -O1 \
	-Idaemon -Ibackends -Ilayers -Itests/unit \
	-DNETSTICK_VERSION='"$(VERSION)"' -DBOT_SEG_MIN='(16u * 1024)' \
	-fno-sanitize-recover=all \
	$$(pkg-config --cflags yaml-0.1 $(NET_PKGS) $(API_PKGS))

build-fuzz/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<

build-fuzz/fuzz-%: tests/fuzz/fuzz-%.c $(FUZZ_OBJ)
	$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_OBJ) \
		$$(pkg-config --libs yaml-0.1 libsystemd $(NET_PKGS) $(API_PKGS)) \
		-laio -lcrypt -pthread

fuzz-build: $(FUZZ_BIN)

fuzz: fuzz-build
	@set -e; for f in $(FUZZ_SRC); do \
		n=$$(basename $$f .c); \
		mkdir -p build-fuzz/$$n.corpus; \
		cp -n tests/fuzz/corpus/$$n/* build-fuzz/$$n.corpus/ 2>/dev/null || true; \
		echo "fuzz: $$n for $(FUZZ_RUNS) runs, at most $(FUZZ_SECONDS)s"; \
		build-fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -runs=$(FUZZ_RUNS) \
			-print_final_stats=1 \
			-artifact_prefix=build-fuzz/$$n- \
			build-fuzz/$$n.corpus; \
	done

# demo.sh drives the API part with the netstick CLI.
demo: deps
	@$(MAKE) --no-print-directory $(BUILD)/netstickd $(BUILD)/netstick
	tests/vm/demo.sh

bench: deps
	@$(MAKE) --no-print-directory $(BUILD)/netstickd
	tests/vm/bench.sh

bench-net: deps
	@$(MAKE) --no-print-directory $(BUILD)/netstickd
	tests/vm/bench-net.sh

# PREFIX=/usr/local by default; the unit's paths follow PREFIX, the unit
# goes to SYSTEMD_UNITDIR (PREFIX/lib/systemd/system); DESTDIR stages it
# all (debian/rules: DESTDIR=debian/netstick PREFIX=/usr).  The
# config example goes to /etc/netstick (config.yaml itself is the
# operator's and is never overwritten).
install: $(BUILD)/netstickd $(BUILD)/netstick
	install -D -m 0755 $(BUILD)/netstickd $(DESTDIR)$(PREFIX)/sbin/netstickd
	install -D -m 0755 $(BUILD)/netstick $(DESTDIR)$(PREFIX)/bin/netstick
	install -d -m 0755 $(DESTDIR)$(PREFIX)/share/netstick/webui
	install -m 0644 webui/*.html webui/*.js webui/*.css webui/*.svg \
		$(DESTDIR)$(PREFIX)/share/netstick/webui/
	install -D -m 0644 config.yaml $(DESTDIR)/etc/netstick/config.yaml.example
	install -d -m 0700 $(DESTDIR)/var/lib/netstick
	install -d -m 0755 $(DESTDIR)/var/lib/netstick/images
	sed 's|/usr/local|$(PREFIX)|g' systemd/netstickd.service > $(BUILD)/netstickd.service
	install -D -m 0644 $(BUILD)/netstickd.service \
		$(DESTDIR)$(SYSTEMD_UNITDIR)/netstickd.service
	install -D -m 0644 docs/man/netstickd.8 $(DESTDIR)$(PREFIX)/share/man/man8/netstickd.8
	install -D -m 0644 docs/man/netstick.1 $(DESTDIR)$(PREFIX)/share/man/man1/netstick.1
	install -D -m 0644 docs/api.md $(DESTDIR)$(PREFIX)/share/doc/netstick/api.md
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/netstick/README.md

# The Debian package for ARCH (default: this machine's) in build/deb/:
# dpkg-buildpackage on a copy of the tree (git's files, not build*/), so
# nothing is written next to the clone.  Foreign ARCH: the host's
# crossbuild-essential and multiarch -dev packages (install-deps.sh
# --cross), libnbd unpacked by tests/cross-libnbd.sh.
DEB_DIR := build/deb
DEB_SRC := $(DEB_DIR)/src-$(ARCH)
ifneq ($(ARCH),$(NATIVE_ARCH))
DEB_LIBNBD := $(CURDIR)/$(DEB_DIR)/libnbd-$(ARCH)
DEB_CROSS := -Ppkg.netstick.libnbd-unpacked
endif
deb:
	@rm -rf $(DEB_SRC) && mkdir -p $(DEB_SRC)/netstick-$(VERSION)
	@git ls-files -co --exclude-standard -z | \
		tar -c --null -T - | tar -x -C $(DEB_SRC)/netstick-$(VERSION)
	$(if $(DEB_LIBNBD),tests/cross-libnbd.sh $(ARCH) $(DEB_LIBNBD))
	cd $(DEB_SRC)/netstick-$(VERSION) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		DEB_BUILD_OPTIONS="nocheck parallel=2 $(DEB_BUILD_OPTIONS)" \
		NETSTICK_LIBNBD=$(DEB_LIBNBD) \
		dpkg-buildpackage -us -uc -B -a$(ARCH) $(DEB_CROSS)
	mv $(DEB_SRC)/netstick*_$(ARCH).* $(DEB_DIR)/
	@rm -rf $(DEB_SRC)
	@ls $(DEB_DIR)/netstick_$(VERSION)_$(ARCH).deb

clean:
	rm -rf build build-asan build-tsan build-fuzz build-arm64 build-armhf

# Keep intermediate objects (tests/unit helpers) between runs.
.SECONDARY:
