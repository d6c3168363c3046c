#!/bin/bash
# bench-net.sh — a remote image read through the USB host: netstickd (http://
# and nbd:// LUNs) vs the kernel's stack (nbdkit curl plugin -> nbd-client ->
# f_mass_storage), and curl for the link's ceiling, over a loopback with
# 0, 10 and 25 ms added each way, in one VM boot; netstickd http:// also
# behind the cache layer (cold, then warm) and serving the local file (the
# USB side's ceiling) (tests/vm/bench-net-guest.sh
# does the measuring; its header lists the environment variables).
#
#   tests/vm/bench-net.sh [--kvm] [--results DIR]
#
# NETSTICK_BENCH_SPEED=super runs at SuperSpeed (default: high speed, the
# harness default).  Writes DIR/bench-net.tsv, .json, .md and .png (default
# build/vm-results/bench-net).  Figures are only comparable within one run.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench-lib.sh
source "$HERE/bench-lib.sh"
RESULTS=$(cd "$HERE/../.." && pwd)/build/vm-results/bench-net
KVM=()
SPEED=${NETSTICK_BENCH_SPEED:-high}
STACK_COLS="curl nbdkit-stack netstickd-http netstickd-nbd netstickd-http-cold netstickd-http-warm netstickd-local-file netstickd-http-pcache netstickd-http-bare netstickd-nbd-bare"

bench_args "$@"
case $SPEED in
high) SPEED_ARG=() ;;
super) SPEED_ARG=(--super-speed) ;;
*) echo "NETSTICK_BENCH_SPEED: high or super" >&2; exit 2 ;;
esac

accel() { ((${#KVM[@]})) && echo kvm || echo tcg; }
accel_name() { ((${#KVM[@]})) && echo KVM || echo TCG; }

# bench-net.tsv -> markdown: a row per delay and figure, a column per stack,
# then netstickd / the kernel stack, the cache's cold pass / the lower of
# curl and the local file, and its warm pass / the local file.  netstickd
# http and nbd are the default configuration (network_layers: a 32 MiB
# read cache with read-ahead); "bare" is the LUN with network_layers: [].
to_markdown() {
	echo "| delay each way (RTT) | figure | curl | nbdkit stack | netstickd http | netstickd nbd | http + cache, cold | http + cache, warm | netstickd local file | http + pcache, after restart | http bare | nbd bare | http / stack | nbd / stack | http bare / stack | nbd bare / stack | cold / min(curl, local) | warm / local | restart / local |"
	echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	awk -F'\t' -v cols="$STACK_COLS" '
		BEGIN {
			nf = split("seq-MBps rand-4k-IOPS seq-req-per-MiB rand-req-per-MiB rand-read-amplification rss-MiB hwm-MiB connect-ms", fig, " ")
			split(cols, col, " ")
		}
		!($1 in seen) { seen[$1] = 1; delay[++nd] = $1 }
		{ v[$1, $3, $2] = $4; have[$1, $3] = 1 }
		function cell(d, f, s) { return ((d, f, s) in v) ? v[d, f, s] : "" }
		function ratio(a, b) { return (a != "" && a != "n/a" && b != "" && b != "n/a" && b + 0 > 0) ? sprintf("%.2f", a / b) : "" }
		END {
			for (i = 1; i <= nd; i++) for (j = 1; j <= nf; j++) {
				d = delay[i]; f = fig[j]
				if (!((d, f) in have)) continue
				printf "| %s ms (%s ms) | %s |", d, 2 * d, f
				for (c = 1; c <= 10; c++) printf " %s |", cell(d, f, col[c])
				b = cell(d, f, col[2])
				printf " %s | %s |", ratio(cell(d, f, col[3]), b), ratio(cell(d, f, col[4]), b)
				printf " %s | %s |", ratio(cell(d, f, col[9]), b), ratio(cell(d, f, col[10]), b)
				# The lower ceiling: curl (sequential only) and the local file.
				lo = cell(d, f, col[7]); cu = cell(d, f, col[1])
				if (cu != "" && cu != "n/a" && (lo == "" || lo == "n/a" || cu + 0 < lo + 0)) lo = cu
				printf " %s | %s | %s |\n", ratio(cell(d, f, col[5]), lo), ratio(cell(d, f, col[6]), cell(d, f, col[7])), ratio(cell(d, f, col[8]), cell(d, f, col[7]))
			}
		}' "$1"
}

# plot_data TSV FIGURE: "rtt curl stack http nbd cold warm local http-bare
# nbd-bare" a line per delay, "?" for what is missing.
plot_data() {
	awk -F'\t' -v f="$2" -v cols="$STACK_COLS" '
		BEGIN { split(cols, col, " ") }
		!($1 in seen) { seen[$1] = 1; delay[++nd] = $1 }
		$3 == f && $4 != "n/a" { v[$1, $2] = $4 }
		END {
			for (i = 1; i <= nd; i++) {
				printf "%s", 2 * delay[i]
				# col[8] (pcache) is not drawn; the bare LUNs are.
				for (c = 1; c <= 10; c++) if (c != 8) printf " %s", ((delay[i], col[c]) in v) ? v[delay[i], col[c]] : "?"
				print ""
			}
		}' "$1"
}

# Two panels, sequential MB/s and 4 KiB IOPS per round trip and stack; log
# scale, as the figures fall by an order of magnitude with latency.
plot() {
	local dir=$1 title=$2
	command -v gnuplot >/dev/null || { echo "bench-net: gnuplot not installed, no plot" >&2; return 0; }
	plot_data "$dir/bench-net.tsv" seq-MBps >"$dir/seq.dat"
	plot_data "$dir/bench-net.tsv" rand-4k-IOPS >"$dir/iops.dat"
	gnuplot <<-EOF
	set terminal pngcairo noenhanced size 1000,480 font "sans,10"
	set output "$dir/bench-net.png"
	set datafile missing "?"
	set multiplot layout 1,2 title "$title"
	set style data histograms
	set style histogram clustered gap 1
	set style fill solid 0.85 border -1
	set boxwidth 0.9
	set logscale y
	set yrange [0.1:*]
	set grid ytics
	set key below
	set ylabel "MB/s"
	set title "1 MiB sequential read, O_DIRECT"
	plot "$dir/seq.dat" using 2:xtic(sprintf("RTT +%s ms", strcol(1))) title "curl (the link)" lc rgb "#999999", \
		'' using 3 title "nbdkit curl + nbd-client + f_mass_storage" lc rgb "#4477aa", \
		'' using 4 title "netstickd http:// (default: read cache)" lc rgb "#ee6677", \
		'' using 5 title "netstickd nbd:// (default: read cache)" lc rgb "#228833", \
		'' using 6 title "netstickd http:// + cache, cold" lc rgb "#ccbb44", \
		'' using 7 title "netstickd http:// + cache, warm" lc rgb "#aa3377", \
		'' using 8 title "netstickd local file (USB ceiling)" lc rgb "#66ccee", \
		'' using 9 title "netstickd http://, no layers" lc rgb "#bbbbbb", \
		'' using 10 title "netstickd nbd://, no layers" lc rgb "#555555", \
		for [c=2:10] '' using (\$0 + (c - 6) * 0.09):c:c with labels offset 0,0.6 font ",6" notitle
	set ylabel "IOPS"
	set yrange [1:*]
	set title "4 KiB random read, QD1, O_DIRECT"
	plot "$dir/iops.dat" using 3:xtic(sprintf("RTT +%s ms", strcol(1))) title "nbdkit curl + nbd-client + f_mass_storage" lc rgb "#4477aa", \
		'' using 4 title "netstickd http:// (default: read cache)" lc rgb "#ee6677", \
		'' using 5 title "netstickd nbd:// (default: read cache)" lc rgb "#228833", \
		'' using 6 title "netstickd http:// + cache, cold" lc rgb "#ccbb44", \
		'' using 7 title "netstickd http:// + cache, warm" lc rgb "#aa3377", \
		'' using 8 title "netstickd local file (USB ceiling)" lc rgb "#66ccee", \
		'' using 9 title "netstickd http://, no layers" lc rgb "#bbbbbb", \
		'' using 10 title "netstickd nbd://, no layers" lc rgb "#555555", \
		for [c=3:10] '' using (\$0 + (c - 6.5) * 0.1):c:c with labels offset 0,0.6 font ",6" notitle
	unset multiplot
	EOF
}

meta() { awk -F'\t' -v k="$1" '$1 == k { print $2 }' "$RESULTS/meta.tsv" 2>/dev/null; }

report() {
	echo "Measured $(date -u +%Y-%m-%d) by tests/vm/bench-net.sh: QEMU $(accel_name), dummy_hcd at"
	echo "$(meta speed) speed, guest kernel $(meta kernel), a $(meta mib) MiB random image on tmpfs served on"
	echo "127.0.0.1 by nginx (HTTP) and nbdkit's file plugin (NBD), tc netem delay on lo"
	echo "(each way; the round trip is twice that). fio on the host's disk: 1 MiB"
	echo "O_DIRECT sequential read (one pass at most, $(meta seconds) s) and 4 KiB QD1 O_DIRECT"
	echo "random read ($(meta seconds) s), page cache dropped before each job; median of $(meta reps) run(s)."
	echo "curl: the whole image from nginx to /dev/null. Requests per MiB: seen by"
	echo "nginx (curl, nbdkit stack, netstickd http) or by nbdkit's log filter"
	echo "(netstickd nbd) during the job; rand-read-amplification: bytes the server"
	echo "sent per byte the host read. RSS/HWM: netstickd's VmRSS/VmHWM at the end"
	echo "of its runs. connect-ms: curl's time to connect, to see the delay is there"
	echo "(the guest's own latency under TCG adds to it). Compare ratios, not"
	echo "absolute figures (TCG guest)."
	echo
	to_markdown "$RESULTS/bench-net.tsv"
}

main() {
	local rc=0 t0=$SECONDS
	rm -rf "$RESULTS"
	mkdir -p "$RESULTS"
	# 3 GiB: the image on tmpfs and the cache column's 640 MiB cache.
	"$HERE/run-vm.sh" "${KVM[@]}" "${SPEED_ARG[@]}" --mem 3072 --timeout "${NETSTICK_BENCH_TIMEOUT:-2400}" \
		--results "$RESULTS" "$HERE/bench-net-guest.sh" || rc=$?
	[[ -s $RESULTS/bench-net.tsv ]] || { echo "bench-net: no results (VM exit $rc)" >&2; exit 1; }
	bench_json "$RESULTS/bench-net.tsv" "$(accel)" delay_ms_each_way stack figure >"$RESULTS/bench-net.json"
	report >"$RESULTS/bench-net.md"
	plot "$RESULTS" "netstick bench-net: $(meta speed) speed, $(accel_name), $(date -u +%Y-%m-%d)"
	cat "$RESULTS/bench-net.md"
	echo
	echo "bench-net: $RESULTS/bench-net.{tsv,json,md,png} ($((SECONDS - t0)) s)"
	return "$rc"
}

main
