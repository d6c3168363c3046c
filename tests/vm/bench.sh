#!/bin/bash
# bench.sh — netstickd vs the kernel's f_mass_storage, in one VM boot, at
# high speed and SuperSpeed (tests/vm/bench-guest.sh does the measuring).
#
#   tests/vm/bench.sh [--kvm] [--results DIR]
#
# Writes DIR/bench.json and DIR/bench.md (default build/vm-results/bench);
# the markdown table can be pasted into docs/performance.md.  Figures are
# only comparable within one run: under TCG the guest CPU is the ceiling.
# NETSTICK_BENCH_SECONDS (per fio job, default 5), NETSTICK_BENCH_REPS
# (turns per side, default 3; medians are reported) and NETSTICK_BENCH_MIB
# (image size, default 512) are passed to the guest.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench-lib.sh
source "$HERE/bench-lib.sh"
RESULTS=$(cd "$HERE/../.." && pwd)/build/vm-results/bench
KVM=()

bench_args "$@"

# bench.tsv -> markdown table with the netstickd/kernel ratio.
to_markdown() {
	echo "| speed | figure | netstickd | kernel | netstickd/kernel |"
	echo "| --- | --- | ---: | ---: | ---: |"
	awk -F'\t' '
		BEGIN { nf = split("seq-read-MBps seq-write-MBps rand-read-4k-qd1-IOPS cpu-s-per-GiB guest-cpu-s-per-GiB", fig, " ") }
		!($1 in seen) { seen[$1] = 1; speed[++ns] = $1 }
		{ v[$1, $3, $2] = $4 }
		END {
			for (i = 1; i <= ns; i++) for (j = 1; j <= nf; j++) {
				k[1] = speed[i]; k[2] = fig[j]
				if (!((k[1], k[2], "netstickd") in v) && !((k[1], k[2], "kernel") in v)) continue
				a = v[k[1], k[2], "netstickd"]; b = v[k[1], k[2], "kernel"]
				if (a == "") a = "n/a"
				if (b == "") b = "n/a"
				r = (a != "n/a" && b != "n/a" && b + 0 > 0) ? sprintf("%.2f", a / b) : "n/a"
				printf "| %s | %s | %s | %s | %s |\n", k[1], k[2], a, b, r
			}
		}' "$1"
}

main() {
	local rc=0
	rm -rf "$RESULTS"
	mkdir -p "$RESULTS"
	"$HERE/run-vm.sh" "${KVM[@]}" --timeout 1200 --results "$RESULTS" \
		"$HERE/bench-guest.sh" || rc=$?
	[[ -s $RESULTS/bench.tsv ]] || { echo "bench: no results (VM exit $rc)" >&2; exit 1; }
	bench_json "$RESULTS/bench.tsv" "$( ((${#KVM[@]})) && echo kvm || echo tcg)" \
		speed side figure >"$RESULTS/bench.json"
	{
		echo "Measured $(date -u +%Y-%m-%d) by tests/vm/bench.sh: QEMU $([[ ${#KVM[@]} -gt 0 ]] && echo KVM || echo TCG), dummy_hcd,"
		echo "tmpfs image, fio 1 MiB O_DIRECT sequential and 4 KiB QD1 random reads,"
		echo "${NETSTICK_BENCH_SECONDS:-5} s per job, median of ${NETSTICK_BENCH_REPS:-3} alternating runs per side."
		echo "CPU: utime+stime of netstickd, or of the kernel's file-storage thread,"
		echo "per GiB moved; guest CPU: busy time of the whole guest (both sides of"
		echo "the cable) per GiB. Compare ratios, not absolute figures (TCG guest)."
		[[ -z ${NETSTICK_VM_APPEND:-} ]] || echo "Guest kernel parameters added: \`$NETSTICK_VM_APPEND\`."
		echo
		to_markdown "$RESULTS/bench.tsv"
	} >"$RESULTS/bench.md"
	cat "$RESULTS/bench.md"
	echo
	echo "bench: $RESULTS/bench.json, $RESULTS/bench.md"
	return "$rc"
}

main
