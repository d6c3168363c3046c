# shellcheck shell=bash
# bench-lib.sh — helpers shared by the benchmarks (bench*.sh on the build
# machine, bench*-guest.sh in the VM).  Source it after lib.sh in the guest.
#
# Guest side
#   fio_job NAME RW BS [FIO-ARGS...]   one fio job on $DEV (O_DIRECT, QD1,
#                      $FIO_SECONDS s, over $FIO_SIZE_MIB MiB); prints
#                      "MBps IOPS KiB"; fio's terse line goes to $FIO_TERSE
#   bench_put GROUP SIDE REP FIGURE VALUE   a line of $RAW
#   medians            $RAW -> "group side figure median" ("n/a" if any
#                      run said n/a); even counts take the mean of the two
#                      middle values
#   bench_turns SET_GROUP RUN_SIDE GROUP... -- SIDE...   for each GROUP:
#                      SET_GROUP GROUP, then $REPS rounds (REP=1..) of
#                      RUN_SIDE SIDE for every SIDE, so the sides take turns
# Build machine
#   bench_args "$@"    --kvm (KVM=(--kvm)) and --results DIR (RESULTS)
#   bench_json TSV ACCEL KEY...   TSV (KEY columns, then the value) as JSON

# fio_job NAME RW BS [FIO-ARGS...]
fio_job() {
	local name=$1 rw=$2 bs=$3 out
	shift 3
	out=$(timeout -k 5 $((FIO_SECONDS + 60)) fio --name="$name" --filename="$DEV" \
		--rw="$rw" --bs="$bs" --direct=1 --ioengine=psync --iodepth=1 \
		--runtime="$FIO_SECONDS" --size="${FIO_SIZE_MIB}M" "$@" \
		--output-format=terse --terse-version=3) || return 1
	echo "$out" >>"$FIO_TERSE"
	awk -F';' '{
		kib = $6 + $47; bw = $7 + $48; iops = $8 + $49
		printf "%.1f %.0f %d\n", bw * 1024 / 1e6, iops, kib }' <<<"$out"
}

bench_turns() {
	local set=$1 run=$2 groups=() g s
	shift 2
	while (($#)) && [[ $1 != -- ]]; do
		groups+=("$1")
		shift
	done
	shift
	for g in "${groups[@]}"; do
		"$set" "$g"
		for ((REP = 1; REP <= REPS; REP++)); do
			for s; do
				"$run" "$s"
			done
		done
	done
}

bench_put() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RAW"; }

medians() {
	sort -t$'\t' -k1,1 -k2,2 -k4,4 -k5,5g "$RAW" | awk -F'\t' '
		function decimals(x) { return index(x, ".") ? length(x) - index(x, ".") : 0 }
		# The mean of a and b, with as many decimals as they have (one
		# more for integers that do not divide evenly).
		function mean2(a, b,  d, m) {
			d = decimals(a) > decimals(b) ? decimals(a) : decimals(b)
			m = (a + b) / 2
			if (d == 0 && m != int(m)) d = 1
			return sprintf("%." d "f", m)
		}
		function flush(m) {
			if (!n) return
			if (n % 2) m = v[(n + 1) / 2]
			else m = mean2(v[n / 2], v[n / 2 + 1])
			print key "\t" (na ? "n/a" : m)
			n = 0; na = 0
		}
		{ k = $1 "\t" $2 "\t" $4 }
		k != key { flush(); key = k }
		{ v[++n] = $5; if ($5 == "n/a") na = 1 }
		END { flush() }'
}

# The callers read KVM and RESULTS.
# shellcheck disable=SC2034
bench_args() {
	while (($#)); do
		case $1 in
		--kvm) KVM=(--kvm) ;;
		--results) RESULTS=${2:?}; shift ;;
		*) echo "usage: $0 [--kvm] [--results DIR]" >&2; exit 2 ;;
		esac
		shift
	done
}

# bench_json TSV ACCEL KEY...: {"date", "accel", "results": [{KEY: ..., "value": N|null}]}
bench_json() {
	local tsv=$1 accel=$2
	shift 2
	awk -F'\t' -v date="$(date -u +%Y-%m-%dT%H:%M:%SZ)" -v accel="$accel" -v keys="$*" '
		BEGIN {
			nk = split(keys, key, " ")
			printf "{\n  \"date\": \"%s\",\n  \"accel\": \"%s\",\n  \"results\": [", date, accel
		}
		{
			line = ""
			for (i = 1; i <= nk; i++) line = line sprintf("\"%s\": \"%s\", ", key[i], $i)
			v = ($(nk + 1) == "n/a" || $(nk + 1) == "") ? "null" : $(nk + 1)
			printf "%s\n    {%s\"value\": %s}", sep, line, v
			sep = ","
		}
		END { print "\n  ]\n}" }' "$tsv"
}
