#!/usr/bin/env bash
# tests/bench/wal-by-table.sh - where a benchmark run's WAL goes: every WAL
# record of one throughput run, grouped by table (and index) and by record
# type, from pg_walinspect (PostgreSQL 15).  The README's "Where the WAL
# goes" comes from it.
#
#   tests/bench/wal-by-table.sh            scenario (a), quick windows
#   WAL_SCENARIO=c tests/bench/wal-by-table.sh
#
# It starts a stack of its own (deploy/local/stack.sh), keeps all WAL
# (wal_keep_size) so that none of the run's is recycled, runs
# tests/bench/run-bench.sh on it for one quick throughput run
# (BENCH_USE_STACK=1; the BENCH_* knobs pass through), and reads the
# records from the WAL position before the run to the end, keeping those
# of the run's database.  Output: a report on stdout and in
# $BENCH_OUT/wal-by-table.txt.  Needs a Release build (BENCH_BUILD_DIR,
# default build/; BENCH_NO_BUILD=1 is set).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SCEN=${WAL_SCENARIO:-a}
OUT=${BENCH_OUT:-$ROOT/bench-results/wal}
STACK=$(mktemp -d /tmp/orc-wal.XXXXXX)
mkdir -p "$OUT"

cleanup() { "$ROOT/deploy/local/stack.sh" stop "$STACK" >/dev/null 2>&1 || true; }
trap cleanup EXIT

"$ROOT/deploy/local/stack.sh" start "$STACK" >"$OUT/stack.log" 2>&1 ||
	{ cat "$OUT/stack.log" >&2; exit 1; }
# shellcheck disable=SC1091
source "$STACK/stack.env"
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }
psql "$ORC_PG_DSN" -c "ALTER SYSTEM SET wal_keep_size = '8GB'" \
	-c "SELECT pg_reload_conf()" >/dev/null
start=$(psql "$ORC_PG_DSN" -Atc "SELECT pg_current_wal_lsn()")

BENCH_USE_STACK=1 BENCH_NO_BUILD=1 BENCH_QUICK=1 BENCH_SCENARIOS=$SCEN \
	BENCH_MODES=throughput BENCH_SWEEP= BENCH_PGBENCH_S=0 BENCH_ECHO=0 \
	BENCH_WARMUP_STACK_S=${BENCH_WARMUP_STACK_S:-0} \
	BENCH_PRELOAD_SAGAS=${BENCH_PRELOAD_SAGAS:-20000} \
	BENCH_WARMUP_S=${BENCH_WARMUP_S:-10} BENCH_WINDOW_S=${BENCH_WINDOW_S:-20} \
	BENCH_OUT="$OUT" "$ROOT/tests/bench/run-bench.sh" >"$OUT/bench.out" 2>&1 ||
	{ tail -20 "$OUT/bench.out" >&2; exit 1; }

db=$(psql "$ORC_PG_DSN" -Atc "SELECT datname FROM pg_database
	WHERE datname LIKE 'bench\_%\_${SCEN}\_throughput' ORDER BY oid DESC LIMIT 1")
[[ -n $db ]] || { echo "wal-by-table: the run's database is missing" >&2; exit 1; }
dsn=${ORC_PG_DSN%/*}/$db
psql "$dsn" -c "CREATE EXTENSION IF NOT EXISTS pg_walinspect" >/dev/null

{
	grep -E "run ${SCEN}-throughput: [0-9]" "$OUT/bench.out" || true
	psql "$dsn" -v start="$start" <<'EOF'
CREATE TEMP TABLE w AS
SELECT resource_manager AS rm, record_type AS rt, record_length AS len,
       fpi_length AS fpi,
       (regexp_match(block_ref, 'rel \d+/(\d+)/(\d+)'))[1]::oid AS db,
       (regexp_match(block_ref, 'rel \d+/(\d+)/(\d+)'))[2]::oid AS node
  FROM pg_get_wal_records_info(:'start', pg_current_wal_lsn());
DELETE FROM w WHERE db IS DISTINCT FROM
       (SELECT oid FROM pg_database WHERE datname = current_database());
CREATE TEMP VIEW r AS
SELECT coalesce(pg_filenode_relation(0, node)::text, node::text) AS rel, *
  FROM w;
\echo 'WAL of the run''s database'
SELECT count(*) AS records, pg_size_pretty(sum(len)) AS bytes,
       pg_size_pretty(sum(fpi)) AS "of which full-page images" FROM w;
\echo 'by table or index'
SELECT rel, count(*) AS records, sum(len) AS bytes,
       round(100.0 * sum(len) / (SELECT sum(len) FROM w), 1) AS "%",
       sum(fpi) AS fpi_bytes
  FROM r GROUP BY rel ORDER BY bytes DESC LIMIT 25;
\echo 'by table or index and record type'
SELECT rel, rm, rt, count(*) AS records, sum(len) AS bytes,
       round(100.0 * sum(len) / (SELECT sum(len) FROM w), 1) AS "%",
       round(avg(len)) AS avg_bytes
  FROM r GROUP BY rel, rm, rt ORDER BY bytes DESC LIMIT 40;
EOF
} | tee "$OUT/wal-by-table.txt"
