#!/usr/bin/env bash
# tests/run.sh - the whole test suite, from a fresh machine: install what is
# missing, build with warnings as errors, run the unit tests under
# ASan+UBSan, check the JSON Schemas with ajv, then start a real local
# Kafka + PostgreSQL (deploy/local/stack.sh) and run unit and integration
# tests against it.  Exits non-zero on any failure; the stack is stopped
# whatever happens.
#
#   tests/run.sh            everything
#   ORC_SKIP_ASAN=1 ...     skip the sanitizer build (local iteration only)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)
t0=$(date +%s)
step() { printf '\n==> %s (%ss)\n' "$*" "$(( $(date +%s) - t0 ))"; }

step "installing dependencies"
bash deploy/install-deps.sh

step "building (warnings are errors; on jemalloc, as the release is)"
cmake -S . -B build -DORC_WERROR=ON -DORC_MALLOC=jemalloc \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"

step "README's settings table matches the binary's"
build/orchestrator config --markdown > build/config-table.md
if ! awk '/<!-- config-table -->/{on=1;next} /<!-- \/config-table -->/{on=0} on' README.md |
	diff -u - build/config-table.md; then
	echo "README.md is out of date: paste 'orchestrator config --markdown' between the config-table markers" >&2
	exit 1
fi

if [ "${ORC_SKIP_ASAN:-0}" != 1 ]; then
	step "unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
	cmake -S . -B build-asan -DORC_WERROR=ON -DORC_SANITIZE=ON \
		-DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build build-asan -j"$jobs"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --test-dir build-asan -L unit --output-on-failure -j"$jobs"

	# The parsers' libFuzzer targets (clang, ASan + UBSan), 30 s each;
	# FUZZ_SECONDS=600 tests/fuzz/run.sh is the longer run.
	step "fuzzing the parsers (tests/fuzz, 30 s per target)"
	FUZZ_SECONDS=30 tests/fuzz/run.sh
fi

step "deployment files (compose, Dockerfile, Kubernetes, systemd)"
bash deploy/validate.sh

step "JSON Schemas, examples and fixtures (ajv)"
(cd tests/schema && npm ci --no-audit --no-fund --loglevel=error && node check.mjs)

step "unit and integration tests against a real Kafka and PostgreSQL"
deploy/local/stack.sh run -- ctest --test-dir build --output-on-failure \
	-L 'unit|integration'

# The chaos command, short: kill -9, a Kafka and a PostgreSQL restart and
# every kind of poison event during 300 sagas, then the invariants (a stack
# of its own); `tests/chaos/run.sh` alone is the full run.
step "chaos, short (CHAOS_QUICK=1 tests/chaos/run.sh)"
CHAOS_QUICK=1 CHAOS_BUILD_DIR=build CHAOS_NO_BUILD=1 tests/chaos/run.sh

step "all tests passed"
