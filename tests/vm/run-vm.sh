#!/bin/bash
# qemu options are comma lists, not bash lists.
# shellcheck disable=SC2054
# run-vm.sh — run a script inside a throw-away VM that has a real Linux USB
# host (dummy_hcd) and the gadget stack.  See docs/testing.md.
#
#   tests/vm/run-vm.sh [options] GUEST_SCRIPT [ARGS...]
#   tests/vm/run-vm.sh --shell [options]
#
# Options:
#   --kvm            use KVM (default TCG; also NETSTICK_VM_KVM=1)
#   --super-speed    load dummy_hcd with is_super_speed=1 (default high speed)
#   --timeout S      kill the VM after S seconds (default 1200; 0 = none)
#   --results DIR    host directory shared writable with the guest at the same
#                    path (default: a temporary one, removed afterwards)
#   --mem MIB        guest memory (default 2048)
#   --shell          interactive shell in the guest chroot instead of a script
#   --qemu-arg ARG   one more argument for qemu (repeatable; e.g. a chardev
#                    and virtio-serial port, as tests/vm/fwboot.sh does)
# NETSTICK_VM_APPEND adds guest kernel parameters (experiments, e.g.
# "init_on_alloc=0"; tests/vm/bench.sh records it in its report).
#
# The guest sees the host's root read-only under a tmpfs overlay, so
# GUEST_SCRIPT, the repo and every host tool are at the same paths.  The
# script runs as root with cwd = repo root and these variables set:
#   NETSTICK_VM=1  NETSTICK_VM_RESULTS=DIR  NETSTICK_VM_SPEED=high|super
# plus every NETSTICK_* variable of the caller.  Its output goes to our
# stdout and its exit status becomes ours (124 when the VM timed out, 125
# when the VM died before the script finished).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

KVM=${NETSTICK_VM_KVM:-0}
SPEED=high
TIMEOUT=1200
RESULTS=${NETSTICK_VM_RESULTS:-}
MEM=2048
SHELL_MODE=0
KEEP_RESULTS=1
QEMU_EXTRA=()

usage() { sed -n '2,/^set -e/{/^#/s/^# \{0,1\}//p}' "$0" >&2; exit 2; }
die() { echo "run-vm.sh: $*" >&2; exit 2; }

parse_args() {
	while (($#)); do
		case $1 in
		--kvm) KVM=1 ;;
		--super-speed) SPEED=super ;;
		--timeout) TIMEOUT=${2:?}; shift ;;
		--results) RESULTS=${2:?}; shift ;;
		--mem) MEM=${2:?}; shift ;;
		--shell) SHELL_MODE=1 ;;
		--qemu-arg) QEMU_EXTRA+=("${2:?}"); shift ;;
		-h|--help) usage ;;
		--) shift; break ;;
		-*) die "unknown option $1" ;;
		*) break ;;
		esac
		shift
	done
	[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "--timeout wants seconds"
	[[ $MEM =~ ^[0-9]+$ ]] || die "--mem wants MiB"
	if ((SHELL_MODE == 0)); then
		(($#)) || usage
		SCRIPT=$(realpath -e "$1") || die "no such script: $1"
		shift
	fi
	SCRIPT_ARGS=("$@")
}

setup_results() {
	if [[ -z $RESULTS ]]; then
		RESULTS=$(mktemp -d "${TMPDIR:-/tmp}/netstick-vm.XXXXXX")
		KEEP_RESULTS=0
	fi
	mkdir -p "$RESULTS"
	RESULTS=$(realpath "$RESULTS")
	[[ $RESULTS != *[[:space:]]* ]] || die "results path must not contain spaces"
	rm -rf "$RESULTS/.vm"
	mkdir -p "$RESULTS/.vm"
}

# The guest's init runs this with the chroot's bash.
write_job() {
	local v
	{
		echo '#!/bin/bash'
		echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
		echo 'export HOME=/root LANG=C.UTF-8 TERM=dumb'
		for v in $(compgen -e | grep '^NETSTICK_' || true); do
			printf 'export %s=%q\n' "$v" "${!v}"
		done
		printf 'export NETSTICK_VM=1 NETSTICK_VM_RESULTS=%q NETSTICK_VM_SPEED=%q\n' \
			"$RESULTS" "$SPEED"
		printf 'cd %q || exit 125\n' "$REPO"
		if ((SHELL_MODE == 0)); then
			printf 'exec %q' "$SCRIPT"
			printf ' %q' "${SCRIPT_ARGS[@]}"
			echo
		fi
	} >"$RESULTS/.vm/run.sh"
	# --shell: the interactive shell starts with the same environment.
	grep '^export\|^cd' "$RESULTS/.vm/run.sh" >"$RESULTS/.vm/env.sh"
	{
		echo '[ -f /etc/bash.bashrc ] && . /etc/bash.bashrc'
		printf '. %q\n' "$RESULTS/.vm/env.sh"
		echo "PS1='netstick-vm:\w# '"
	} >"$RESULTS/.vm/shellrc"
}

qemu_cmd() {
	local append accel
	append="console=ttyS0 quiet mitigations=off nokaslr tsc=reliable panic=-1"
	append+=" netstick.speed=$SPEED netstick.results=$RESULTS netstick.shell=$SHELL_MODE"
	append+=${NETSTICK_VM_APPEND:+ $NETSTICK_VM_APPEND}
	if ((KVM)); then
		accel=(-accel kvm -cpu host)
	else
		accel=(-accel tcg,thread=multi -cpu max)
	fi
	QEMU=(qemu-system-x86_64 "${accel[@]}" -smp 2 -m "$MEM"
		-nodefaults -no-user-config -display none -nic none -no-reboot
		-kernel "$NETSTICK_VM_KERNEL" -initrd "$NETSTICK_VM_INITRD"
		-append "$append"
		-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
		-virtfs "local,path=$RESULTS,mount_tag=results,security_model=none,multidevs=remap"
		"${QEMU_EXTRA[@]}")
	if ((SHELL_MODE)); then
		QEMU+=(-serial mon:stdio)
	else
		QEMU+=(-chardev stdio,id=con,signal=on -serial chardev:con)
	fi
}

run_qemu() {
	local rc=0
	if ((SHELL_MODE)); then
		echo "run-vm.sh: shell in the guest (cwd: repo root, test environment set); exit powers off, Ctrl-A X kills the VM" >&2
		"${QEMU[@]}" || rc=$?
	else
		local limit=(timeout -k 10 "$TIMEOUT")
		((TIMEOUT > 0)) || limit=()
		# The kernel's last words are not the script's output.
		local st=(0)
		"${limit[@]}" "${QEMU[@]}" </dev/null |
			sed -u '/^\[ *[0-9.]*\] reboot: Power down/d' || st=("${PIPESTATUS[@]}")
		rc=${st[0]}
	fi
	if [[ -s $RESULTS/.vm/rc ]]; then
		return "$(cat "$RESULTS/.vm/rc")"
	fi
	if ((rc == 124 || rc == 137)); then
		echo "run-vm.sh: VM timed out after ${TIMEOUT}s" >&2
		return 124
	fi
	((SHELL_MODE)) && return 0
	echo "run-vm.sh: VM stopped before the script finished (qemu rc=$rc)" >&2
	return 125
}

cleanup() {
	((KEEP_RESULTS)) || rm -rf "$RESULTS"
}

main() {
	local rc=0 env
	parse_args "$@"
	env=$("$HERE/kernel.sh") || die "kernel.sh failed"
	eval "$env"
	setup_results
	trap cleanup EXIT
	write_job
	qemu_cmd
	run_qemu || rc=$?
	return "$rc"
}

main "$@"
