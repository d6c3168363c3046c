#!/usr/bin/env bash
# qemu options are comma lists, not bash lists.
# shellcheck disable=SC2054
# fwboot.sh — real firmware boots from netstickd: SeaBIOS and OVMF (UEFI),
# in a second QEMU that reaches the gadget through its own USB stack.
# Runs on the build machine (make check-vm-fwboot); docs/testing.md.
#
#   tests/vm/fwboot.sh [--results DIR]
#   NETSTICK_FWBOOT_RUNS="seabios-flash ovmf-flash" tests/vm/fwboot.sh
#
# The path, loopback and unix sockets only (VM.md):
#
#   netstickd on dummy_udc.0 (VM1) -> usbredirect --as 127.0.0.1:4000 (VM1)
#     -> fwboot-bridge.py (VM1) -> virtio-serial port "redir" (VM1)
#     -> unix socket $SOCK here -> usb-redir on VM2's xHCI, bootindex=0
#
# One VM1 boot (tests/vm/run-vm.sh + fwboot-guest.sh) serves every run; for
# each, VM2 (qemu-system-x86_64, TCG, no disk, no network) boots SeaBIOS or
# OVMF with nothing but that USB device.  The image, built here at test
# time with grub-mkrescue (BIOS and EFI, El Torito and MBR/GPT: a hybrid
# ISO), prints $MARKER on the serial port and halts.
#
# Runs (name: firmware, what netstickd serves):
#   seabios-flash     SeaBIOS, LUN 0 a removable disk on the image
#   ovmf-flash        OVMF, the same
#   seabios-cd        SeaBIOS, LUN 0 a CD-ROM (type: cdrom) on the image
#   ovmf-cd           OVMF, the same
#   ovmf-cd-lun1      OVMF, LUN 1 the CD-ROM beside an empty LUN 0 disk
#   ovmf-http-slow    OVMF, the image over HTTP (nginx in VM1), inserted
#                     as the firmware starts and 2 s slow to open
# The CD runs are skipped when netstickd refuses `type: cdrom`.
#
# Checks, per run:
#   fwboot-RUN              the marker on VM2's serial port within the bound
#                           (SeaBIOS 60 s, OVMF 150 s); on failure, the end
#                           of VM2's serial output and of netstickd's log
#   fwboot-RUN-no-stall     SeaBIOS runs: netstickd halted no endpoint and
#                           got no Bulk-Only reset during the boot (SeaBIOS
#                           does not recover from stalls)
#   fwboot-RUN-clean-exit   netstickd alive after the boot, exits 0 on SIGTERM
#   fwboot-ovmf-http-slow-02-04-01   the firmware's commands were answered
#                           NOT READY, BECOMING READY while the media loaded
#   fwboot-ovmf-http-slow-under-5s   no command took 5 s or more (UEFI's
#                           limit), CBW to CSW in netstickd's stamped log
# Closing line: "fwboot: N passed, N failed[, N skipped]".  Logs in
# DIR/logs (default build/vm-results/fwboot): vm1.log, RUN-serial.log,
# RUN-seabios.log (SeaBIOS's debug port), netstickd-RUN.log, ctl/RUN.guest.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
RESULTS=$REPO/build/vm-results/fwboot
MARKER=NETSTICK-FWBOOT-OK
OVMF_CODE=/usr/share/OVMF/OVMF_CODE.fd
OVMF_VARS=/usr/share/OVMF/OVMF_VARS.fd
KVM=${NETSTICK_VM_KVM:-0}
ALL_RUNS=(seabios-flash:flash ovmf-flash:flash seabios-cd:cd ovmf-cd:cd
	ovmf-cd-lun1:cd-lun1 ovmf-http-slow:http-slow)
READY_WAIT=180      # VM1's setup of one run (its first includes VM1's boot)
GUEST_WAIT=60       # VM1's analysis after VM2 is gone
LIMIT_SEABIOS=60
LIMIT_OVMF=150
PASSED=0 FAILED=0 SKIPPED=0

while (($#)); do
	case $1 in
	--results) RESULTS=${2:?}; shift ;;
	-h|--help) sed -n '4,/^set -e/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
	*) echo "fwboot.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done

say() { echo "# fwboot: $*"; }

result() {	# result NAME PASS|FAIL|SKIP [WHY]
	printf '%-4s %s%s\n' "$2" "$1" "${3:+ ($3)}"
	printf '%s\t%s\t%s\n' "$1" "$2" "${3:-}" >>"$RESULTS/results.tsv"
	case $2 in
	PASS) PASSED=$((PASSED + 1)) ;;
	FAIL) FAILED=$((FAILED + 1)) ;;
	*) SKIPPED=$((SKIPPED + 1)) ;;
	esac
}

SUMMARY_DONE=0
summary() {
	SUMMARY_DONE=1
	if ((SKIPPED)); then
		echo "fwboot: $PASSED passed, $FAILED failed, $SKIPPED skipped"
	else
		echo "fwboot: $PASSED passed, $FAILED failed"
	fi
	((FAILED == 0))
}

missing_tools() {
	local c m=()
	for c in qemu-system-x86_64 grub-mkrescue xorriso mformat usbredirect python3 nginx; do
		command -v "$c" >/dev/null || m+=("$c")
	done
	[[ -e $OVMF_CODE && -e $OVMF_VARS ]] || m+=("ovmf ($OVMF_CODE)")
	[[ -e /usr/lib/grub/i386-pc && -e /usr/lib/grub/x86_64-efi ]] ||
		m+=("grub-pc-bin/grub-efi-amd64-bin")
	echo "${m[*]}"
}

# The boot image: grub for BIOS and EFI in one hybrid ISO 9660 image.
build_image() {
	local tree=$RESULTS/image
	rm -rf "$tree"
	mkdir -p "$tree/boot/grub"
	cat >"$tree/boot/grub/grub.cfg" <<-EOF
	serial --unit=0 --speed=115200
	terminal_input serial
	terminal_output serial
	echo "$MARKER root=\$root platform=\$grub_platform"
	halt
	EOF
	grub-mkrescue -o "$RESULTS/fwboot.iso" "$tree" -- -volid NSFWBOOT \
		>"$RESULTS/logs/grub-mkrescue.log" 2>&1
}

# Whether this netstickd has CD-ROM LUNs (`type: cdrom` in a LUN).
has_cdrom() {
	local cfg=$RESULTS/cdrom-probe.yaml
	printf 'gadget:\n  udc: dummy_udc.0\nluns:\n  - media: ""\n    type: cdrom\n' >"$cfg"
	"${NETSTICK_VM_DAEMON:-$REPO/build/netstickd}" --check-config "$cfg" >/dev/null 2>&1
}

VM1_PID=
vm1_start() {
	local runs=("$@")
	"$HERE/run-vm.sh" --timeout $((120 + ${#runs[@]} * 240)) --results "$RESULTS" \
		--qemu-arg -device --qemu-arg virtio-serial-pci \
		--qemu-arg -chardev --qemu-arg "socket,id=redir,path=$SOCK,server=on,wait=off" \
		--qemu-arg -device --qemu-arg virtserialport,chardev=redir,name=redir \
		"$HERE/fwboot-guest.sh" "$RESULTS/fwboot.iso" "${runs[@]}" \
		>"$RESULTS/logs/vm1.log" 2>&1 &
	VM1_PID=$!
}

vm1_alive() { kill -0 "$VM1_PID" 2>/dev/null; }

# wait_file PATH SECONDS: 0 once PATH exists; 1 after SECONDS or VM1's end.
wait_file() {
	local end=$((SECONDS + $2))
	while [[ ! -e $1 ]]; do
		((SECONDS < end)) && vm1_alive || { [[ -e $1 ]]; return; }
		sleep 0.1
	done
}

# VM2: the firmware, an xHCI, the gadget on usb-redir, nothing else.
vm2_cmd() {
	local fw=$1 run=$2 accel=(-accel tcg)
	((KVM)) && accel=(-accel kvm)
	VM2=(qemu-system-x86_64 "${accel[@]}" -m 512 -display none -nodefaults
		-no-user-config -nic none -serial "file:$RESULTS/logs/$run-serial.log"
		-device qemu-xhci,id=hc -chardev "socket,id=r,path=$SOCK"
		-device usb-redir,chardev=r,bus=hc.0,bootindex=0)
	case $fw in
	seabios)
		# SeaBIOS gives a USB port 100 ms to show a device; usb-redir
		# attaches later: 1 s (etc/usb-time-sigatt), and retry.
		printf '\xe8\x03\x00\x00' >"$RESULTS/usb-time-sigatt"
		VM2+=(-fw_cfg "name=etc/usb-time-sigatt,file=$RESULTS/usb-time-sigatt"
			-boot strict=on,reboot-timeout=1000
			-chardev "file,id=dbg,path=$RESULTS/logs/$run-seabios.log"
			-device isa-debugcon,iobase=0x402,chardev=dbg) ;;
	ovmf)
		# A fresh variable store each boot: a reused one keeps stale
		# boot entries and drops into the EFI shell.
		cp "$OVMF_VARS" "$RESULTS/$run-vars.fd"
		VM2+=(-no-reboot
			-drive "if=pflash,format=raw,readonly=on,file=$OVMF_CODE"
			-drive "if=pflash,format=raw,file=$RESULTS/$run-vars.fd") ;;
	esac
}

# boot FW RUN: VM2 until the marker (0), a dead end or the bound (1).
# BOOT_SECS: how long it took; BOOT_WHY: why not.
boot() {
	local fw=$1 run=$2 limit pid t0=$EPOCHREALTIME serial rc=1
	serial=$RESULTS/logs/$run-serial.log
	limit=$LIMIT_OVMF
	[[ $fw == seabios ]] && limit=$LIMIT_SEABIOS
	: >"$serial"
	vm2_cmd "$fw" "$run"
	"${VM2[@]}" >"$RESULTS/logs/$run-vm2.log" 2>&1 &
	pid=$!
	BOOT_WHY="no marker in ${limit} s"
	local end=$((SECONDS + limit))
	while ((SECONDS < end)); do
		if grep -aq "$MARKER" "$serial"; then
			rc=0 BOOT_WHY=
			break
		fi
		if grep -aq 'EFI Internal Shell\|Shell> ' "$serial"; then
			BOOT_WHY="OVMF fell into the EFI shell"
			break
		fi
		kill -0 "$pid" 2>/dev/null || { BOOT_WHY="VM2 exited without the marker"; grep -aq "$MARKER" "$serial" && rc=0 BOOT_WHY=; break; }
		sleep 0.1
	done
	BOOT_SECS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	# grub halts the machine after the marker; never wait for it long.
	local i
	for ((i = 0; i < 30; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	return "$rc"
}

# The firmware's last words and netstickd's, for a failed run.
show_logs() {
	local run=$1
	if [[ -e $RESULTS/logs/$run-serial.log ]]; then
		echo "    | VM2 serial (last 15 lines):"
		tr -d '\033' <"$RESULTS/logs/$run-serial.log" | tr '\r' '\n' |
			grep -av '^\s*$' | tail -n 15 | sed 's/^/    |   /'
	fi
	if [[ -s $RESULTS/logs/$run-seabios.log ]]; then
		echo "    | SeaBIOS debug port (last 15 lines):"
		tail -n 15 "$RESULTS/logs/$run-seabios.log" | sed 's/^/    |   /'
	fi
	echo "    | netstickd (last 25 lines):"
	tail -n 25 "$RESULTS/logs/netstickd-$run.log" 2>/dev/null | sed 's/^/    |   /'
	[[ -s $RESULTS/logs/$run-vm2.log ]] && sed 's/^/    | qemu: /' "$RESULTS/logs/$run-vm2.log" | tail -n 5
	return 0
}

gv() { sed -n "s/^$1=//p" "$CTL/$RUN.guest" 2>/dev/null | tail -n 1; }

# The checks on VM1's account of the run (ctl/RUN.guest).
guest_checks() {
	local fw=$1 kind=$2
	if [[ ! -e $CTL/$RUN.guest ]]; then
		result "fwboot-$RUN-clean-exit" FAIL "no report from VM1"
		return
	fi
	say "$RUN: $(gv commands) commands, longest $(gv max_ms) ms (op $(gv max_op)), $(gv halts) halts, $(gv bot_resets) resets, $(gv failed) failed ($(gv becoming_ready) x 02/04/01, $(gv no_medium) x 02/3A/00); ops $(gv ops)"
	if [[ $fw == seabios ]]; then
		if [[ $(gv halts) == 0 && $(gv bot_resets) == 0 ]]; then
			result "fwboot-$RUN-no-stall" PASS
		else
			result "fwboot-$RUN-no-stall" FAIL "$(gv halts) halts, $(gv bot_resets) Bulk-Only resets"
			grep -a 'halt\|Reset\|failed' "$RESULTS/logs/netstickd-$RUN.log" | tail -n 10 | sed 's/^/    | /'
		fi
	fi
	if [[ $kind == http-slow ]]; then
		if (($(gv becoming_ready) > 0)) && (($(gv gate_ms) >= 0)); then
			result "fwboot-$RUN-02-04-01" PASS "$(gv becoming_ready) commands answered 02/04/01"
		else
			result "fwboot-$RUN-02-04-01" FAIL "the firmware was never answered 02/04/01"
		fi
		if (($(gv max_ms) < 5000 && $(gv open_commands) == 0)); then
			result "fwboot-$RUN-under-5s" PASS "longest $(gv max_ms) ms"
		else
			result "fwboot-$RUN-under-5s" FAIL "longest $(gv max_ms) ms (op $(gv max_op)), $(gv open_commands) unanswered"
		fi
	fi
	if [[ $(gv alive) == 1 && $(gv exit) == 0 ]]; then
		result "fwboot-$RUN-clean-exit" PASS
	else
		result "fwboot-$RUN-clean-exit" FAIL "alive=$(gv alive) exit=$(gv exit)"
	fi
}

run_one() {
	local kind=$1 fw=${RUN%%-*} setup
	if ! wait_file "$CTL/$RUN.ready" "$READY_WAIT"; then
		result "fwboot-$RUN" FAIL "VM1 did not get ready"
		tail -n 20 "$RESULTS/logs/vm1.log" | sed 's/^/    | /'
		return 1
	fi
	setup=$(cat "$CTL/$RUN.ready")
	if [[ $setup != ok ]]; then
		result "fwboot-$RUN" FAIL "VM1: $setup"
		show_logs "$RUN"
	elif boot "$fw" "$RUN"; then
		result "fwboot-$RUN" PASS "marker after $BOOT_SECS s"
	else
		result "fwboot-$RUN" FAIL "$BOOT_WHY, $BOOT_SECS s"
		show_logs "$RUN"
	fi
	: >"$CTL/$RUN.done"
	wait_file "$CTL/$RUN.guest" "$GUEST_WAIT" || true
	guest_checks "$fw" "$kind"
}

# An unexpected end (a bug here, a signal) still closes with a count.
on_exit() {
	[[ -z $VM1_PID ]] || kill "$VM1_PID" 2>/dev/null || true
	[[ -z ${SOCKDIR:-} ]] || rm -rf "$SOCKDIR"
	if ((SUMMARY_DONE == 0)); then
		FAILED=$((FAILED + 1))
		echo "fwboot.sh: stopped before the end"
		summary || true
	fi
}

main() {
	local runs=() r name missing
	trap on_exit EXIT
	mkdir -p "$RESULTS"
	RESULTS=$(realpath "$RESULTS")
	rm -rf "$RESULTS/logs" "$RESULTS/ctl" "$RESULTS/results.tsv"
	mkdir -p "$RESULTS/logs"
	CTL=$RESULTS/ctl
	missing=$(missing_tools)
	if [[ -n $missing ]]; then
		result fwboot SKIP "not installed: $missing (tests/install-deps.sh)"
		summary
		return
	fi
	build_image || { result fwboot-image FAIL "grub-mkrescue failed"; tail "$RESULTS/logs/grub-mkrescue.log"; summary; return; }
	local cdrom=1
	has_cdrom || cdrom=0
	for r in "${ALL_RUNS[@]}"; do
		name=${r%%:*}
		[[ -z ${NETSTICK_FWBOOT_RUNS:-} || " $NETSTICK_FWBOOT_RUNS " == *" $name "* ]] || continue
		if [[ $r == *:cd* ]] && ((cdrom == 0)); then
			result "fwboot-$name" SKIP "this netstickd has no type: cdrom LUNs"
			continue
		fi
		runs+=("$r")
	done
	((${#runs[@]})) || { summary; return; }
	SOCKDIR=$(mktemp -d /tmp/netstick-fwboot.XXXXXX)
	SOCK=$SOCKDIR/redir.sock
	say "VM1 boots; runs: ${runs[*]%%:*}"
	vm1_start "${runs[@]}"
	for r in "${runs[@]}"; do
		RUN=${r%%:*}
		run_one "${r#*:}" || break
	done
	local rc=0
	wait "$VM1_PID" || rc=$?
	VM1_PID=
	((rc == 0)) || { say "VM1 exited $rc"; tail -n 20 "$RESULTS/logs/vm1.log" | sed 's/^/    | /'; }
	summary
}

main; exit  # one line: an edit while it runs cannot change what comes next
