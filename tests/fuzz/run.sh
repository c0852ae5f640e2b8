#!/usr/bin/env bash
# tests/fuzz/run.sh - build the libFuzzer targets (clang, ASan + UBSan) in
# build-fuzz and run each for FUZZ_SECONDS, then print a table of
# executions and coverage.  Exits non-zero when any target found a crash,
# a leak, a sanitizer report or a hang, and prints the reproducer.
#
#   tests/fuzz/run.sh                      every target, 30 s each (CI)
#   FUZZ_SECONDS=600 tests/fuzz/run.sh     the longer run
#   FUZZ_TARGETS="http jsonp" ...          only these targets
#   tests/fuzz/run.sh http                 the same, as arguments
#
# Each run starts from a fresh corpus in a temporary directory: the seeds
# are made there from the fixtures (tests/fixtures, schemas/examples) and
# tests/fuzz/seeds/<target>/; nothing generated is kept in the tree.  The
# directory is removed after a clean run and kept (its path printed) when
# something was found.  Reproduce a finding with
#   build-fuzz/tests/fuzz/fuzz_<target> <reproducer>
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/tests/fuzz
build=$top/build-fuzz
seconds=${FUZZ_SECONDS:-30}
targets=(${FUZZ_TARGETS:-envelope definition expr jsonp http open_steps})
if (($# > 0)); then targets=("$@"); fi
jobs=$(nproc 2>/dev/null || echo 2)

cc=${FUZZ_CC:-}
if [[ -z $cc ]]; then
	for c in clang clang-14; do
		if command -v "$c" >/dev/null; then cc=$c; break; fi
	done
fi
if [[ -z $cc ]]; then
	echo "fuzz: clang not found (deploy/install-deps.sh installs it)" >&2
	exit 1
fi

cmake -S "$top" -B "$build" -DCMAKE_C_COMPILER="$cc" -DORC_FUZZ=ON \
	-DORC_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$jobs" --target fuzz >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/orc-fuzz.XXXXXX")
bin=$build/tests/fuzz

# seeds/<target>: the fixtures that fit the target's input, plus its own
# hand-written seeds.
make_seeds() {
	local t=$1 dir=$2 f
	mkdir -p "$dir"
	if [[ -d $here/seeds/$t ]]; then
		cp "$here/seeds/$t"/* "$dir"/ 2>/dev/null || true
	fi
	case $t in
	envelope)
		"$bin/seed_envelope" "$dir" "$top"/tests/fixtures/events/*.json
		;;
	definition | expr)
		for f in "$top"/tests/fixtures/definitions/*/*.json \
			"$top"/schemas/examples/*.json; do
			cp "$f" "$dir/$(basename "$(dirname "$f")")_$(basename "$f")"
		done
		;;
	jsonp)
		for f in "$top"/tests/fixtures/events/*.json; do
			{ printf '/data\n'; cat "$f"; } >"$dir/event_$(basename "$f")"
		done
		;;
	esac
}

# The dictionaries a target's input is made of.
dicts() {
	case $1 in
	envelope) echo json envelope ;;
	definition | expr | jsonp) echo json expr ;;
	open_steps) echo json ;;
	http) echo http ;;
	esac
}

# A field of libFuzzer's last status line ("#N DONE cov: C ft: F ...").
field() {
	grep -E '^#[0-9]+' "$1" | tail -n 1 |
		awk -v k="$2:" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }'
}

failed=()
rows=()
for t in "${targets[@]}"; do
	exe=$bin/fuzz_$t
	if [[ ! -x $exe ]]; then
		echo "fuzz: no target fuzz_$t" >&2
		exit 2
	fi
	d=$work/$t
	mkdir -p "$d/corpus" "$d/artifacts"
	make_seeds "$t" "$d/seeds"
	for k in $(dicts "$t"); do cat "$here/dict/$k.dict"; done >"$d/dict"
	n_seeds=$(find "$d/seeds" -type f | wc -l)
	printf 'fuzz: %-10s %3s s, %d seeds\n' "$t" "$seconds" "$n_seeds"
	rc=0
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-max_len=8192 -print_final_stats=1 -dict="$d/dict" \
		-artifact_prefix="$d/artifacts/" "$d/corpus" "$d/seeds" \
		>"$d/log" 2>&1 || rc=$?
	execs=$(awk '/stat::number_of_executed_units/ { print $NF }' "$d/log")
	rate=$(awk '/stat::average_exec_per_sec/ { print $NF }' "$d/log")
	cov=$(field "$d/log" cov)
	ft=$(field "$d/log" ft)
	corp=$(field "$d/log" corp)
	result=ok
	if ((rc != 0)) || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$d/log"; then
		result=FAILED
		failed+=("$t")
	fi
	rows+=("$(printf '%-10s %10s %8s %6s %7s %12s  %s' "$t" "${execs:-?}" \
		"${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result")")
done

printf '\n%-10s %10s %8s %6s %7s %12s  %s\n' target execs exec/s cov ft corpus result
printf '%s\n' "${rows[@]}"

if ((${#failed[@]} > 0)); then
	for t in "${failed[@]}"; do
		echo
		echo "fuzz: fuzz_$t found a problem; log: $work/$t/log"
		grep -E 'SUMMARY|check failed|runtime error' "$work/$t/log" | head -n 5 || true
		for a in "$work/$t/artifacts"/*; do
			[[ -e $a ]] || continue
			echo "  reproducer: $a"
			echo "  rerun:      $bin/fuzz_$t $a"
		done
	done
	exit 1
fi
rm -rf "$work"
