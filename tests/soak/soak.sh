#!/usr/bin/env bash
# soak.sh - does the orchestrator run for ever in constant space?  Not a test
# (CI does not run it): a long run with a short retention that shows, sampled
# every few seconds, that row counts and table sizes level off while
# throughput does not decay.
#
#   tests/soak/soak.sh                        # 300,000 sagas at 300/s (~18 min)
#   SOAK_SAGAS=50000 SOAK_RATE=400 tests/soak/soak.sh
#
# What it does: on a throw-away stack (deploy/local/stack.sh run, unless
# ORC_PG_DSN and ORC_KAFKA_BROKERS are set already) a fresh database gets the
# definition soak_seq2.json beside this file (two command steps in sequence,
# "retention": "20s"); one `orchestrator run` (roles worker, relay, timers,
# so it does housekeeping too, every SOAK_HOUSEKEEPING_MS), a responder that
# answers every command at once, and loadgen offering SOAK_SAGAS triggers at
# SOAK_RATE per second (open loop: a slower orchestrator would show as a
# growing backlog, not as a slower feeder).  Every SOAK_SAMPLE_S seconds it
# records the sagas finished and deleted (the orchestrator's /metrics), the
# rows of each table (count(*)), their sizes (the storage_usage view of
# migration 010) and the database's size.  After the last trigger it goes
# on sampling for SOAK_TAIL_S seconds, while the last sagas finish and
# expire.
#
# Out, in SOAK_OUT (default bench-results/soak-<UTC time>/):
#   samples.csv    one line per sample (header line first)
#   summary.json   the run's parameters and figures (summary.py): sagas/s
#                  and rows per third of the load, the largest row counts
#                  and sizes, and the ratios that say whether they levelled
#                  off
#   soak.png       rows, sizes and throughput against time (gnuplot), when
#                  gnuplot is there; an ASCII chart on stdout in any case
#
# The inbox is the one table that does not level off within a soak: its ids
# are kept inbox_ttl (at least 1h, default 7d: README, "Retention and
# housekeeping"), so it holds every trigger of the run.  It levels off at
# rate x inbox_ttl, which a soak of minutes cannot show.
#
# Knobs: SOAK_SAGAS [300000] SOAK_RATE [300] SOAK_SAMPLE_S [5] SOAK_TAIL_S
# [40] SOAK_HOUSEKEEPING_MS [1000] SOAK_BUILD_DIR [build] SOAK_OUT
# ORC_PG_BIN [/usr/lib/postgresql/15/bin].  Needs a built orchestrator,
# responder and loadgen in SOAK_BUILD_DIR (cmake --build <dir>).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${SOAK_BUILD_DIR:-$ROOT/build}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
SAGAS=${SOAK_SAGAS:-300000}
RATE=${SOAK_RATE:-300}
SAMPLE_S=${SOAK_SAMPLE_S:-5}
TAIL_S=${SOAK_TAIL_S:-40}
HK_MS=${SOAK_HOUSEKEEPING_MS:-1000}
PG_BIN=${ORC_PG_BIN:-/usr/lib/postgresql/15/bin}
ORCH=$BUILD/orchestrator
RESPONDER=$BUILD/tests/tools/responder
LOADGEN=$BUILD/tests/tools/loadgen

say() { printf 'soak: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

for b in "$ORCH" "$RESPONDER" "$LOADGEN"; do
  [[ -x $b ]] || die "$b is missing: build it (cmake --build $BUILD)"
done

if [[ -z ${ORC_PG_DSN:-} || -z ${ORC_KAFKA_BROKERS:-} ]]; then
  exec "$ROOT/deploy/local/stack.sh" run -- "${BASH_SOURCE[0]}" "$@"
fi

OUT=${SOAK_OUT:-$ROOT/bench-results/soak-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
RUNID=soak$$
DB=$RUNID
BASE=${ORC_PG_DSN%%\?*}
DSN="${BASE%/*}/$DB"
PREFIX=soak.$RUNID
PIDS=()

cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

q() { "$PG_BIN/psql" -X -q -At -F, -v ON_ERROR_STOP=1 -d "$DSN" -c "$1"; }

# the value of sample NAME (labels as rendered) in the /metrics text $2
metric() {
  awk -v n="$1" '$1 == n { v = $2 } END { printf "%d", v + 0 }' <<<"$2"
}

"$PG_BIN/psql" -X -q -d "$ORC_PG_DSN" -c "CREATE DATABASE $DB" >/dev/null
ORC_PG_DSN=$DSN "$ORCH" migrate >"$OUT/migrate.log" 2>&1 || die "migrate failed: $OUT/migrate.log"
sed "s/\"topic\": \"soak\./\"topic\": \"$PREFIX./" "$HERE/soak_seq2.json" >"$OUT/soak_seq2.json"
ORC_PG_DSN=$DSN "$ORCH" definitions load "$OUT/soak_seq2.json" >>"$OUT/migrate.log" 2>&1 ||
  die "definitions load failed: $OUT/migrate.log"

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
env ORC_PG_DSN="$DSN" ORC_GROUP="$RUNID" ORC_REPLY_TOPIC="$PREFIX.replies" \
  ORC_HTTP_PORT="$PORT" ORC_HTTP_ADDRESS=127.0.0.1 \
  ORC_HOUSEKEEPING_INTERVAL_MS="$HK_MS" \
  "$ORCH" run >"$OUT/orchestrator.out" 2>"$OUT/orchestrator.log" &
PIDS+=("$!")
for ((i = 0; i < 300; i++)); do
  grep -q 'msg=running' "$OUT/orchestrator.log" 2>/dev/null && break
  sleep 0.1
done
grep -q 'msg=running' "$OUT/orchestrator.log" || die "orchestrator did not start: $OUT/orchestrator.log"
"$RESPONDER" --brokers "$ORC_KAFKA_BROKERS" --topics "$PREFIX.commands" \
  --reply-topic "$PREFIX.replies" --group "$RUNID-responder" \
  --default succeed:service.succeeded >"$OUT/responder.out" 2>"$OUT/responder.log" &
PIDS+=("$!")
sleep 3

say "$SAGAS sagas at $RATE/s into database $DB; samples every ${SAMPLE_S}s in $OUT"
T0=${EPOCHREALTIME/,/.}
"$LOADGEN" --topic "$PREFIX.start" --type soak_seq2.requested --prefix "$RUNID" \
  --count "$SAGAS" --rate "$RATE" --data '{"id":"{key}","total":{i}}' \
  --json "$OUT/loadgen.json" >"$OUT/loadgen.out" 2>&1 &
LG=$!
PIDS+=("$LG")

echo "t_s,phase,completed,deleted,sagas_per_s,sagas,unfinished,steps,history,inbox,outbox,sagas_bytes,steps_bytes,history_bytes,inbox_bytes,outbox_bytes,db_bytes" \
  >"$OUT/samples.csv"
prev_t=0 prev_c=0 phase=load tail_until=
while :; do
  sleep "$SAMPLE_S"
  now=${EPOCHREALTIME/,/.}
  t=$(awk -v a="$now" -v b="$T0" 'BEGIN { printf "%.1f", a - b }')
  m=$(curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics" || true)
  c=$(metric 'orchestrator_sagas_finished_total{status="completed"}' "$m")
  d=$(metric 'orchestrator_housekeeping_deleted_total{kind="sagas"}' "$m")
  rate=$(awk -v c="$c" -v pc="$prev_c" -v t="$t" -v pt="$prev_t" \
    'BEGIN { printf "%.1f", (c - pc) / (t - pt) }')
  rows=$(q "SELECT (SELECT count(*) FROM orchestrator.sagas),
      (SELECT count(*) FROM orchestrator.sagas WHERE status IN ('running', 'compensating', 'stuck')),
      (SELECT count(*) FROM orchestrator.saga_step_rows), (SELECT count(*) FROM orchestrator.saga_transitions),
      (SELECT count(*) FROM orchestrator.inbox), (SELECT count(*) FROM orchestrator.outbox),
      (SELECT string_agg(total_bytes::text, ',' ORDER BY array_position(ARRAY['sagas',
         'saga_step_rows', 'saga_transitions', 'inbox', 'outbox']::name[], table_name))
         FROM orchestrator.storage_usage
        WHERE table_name IN ('sagas', 'saga_step_rows', 'saga_transitions', 'inbox', 'outbox')),
      pg_database_size(current_database())")
  echo "$t,$phase,$c,$d,$rate,$rows" >>"$OUT/samples.csv"
  say "t=${t}s $phase completed=$c deleted=$d sagas/s=$rate rows(sagas,unfinished,steps,history,inbox,outbox,...)=$rows"
  prev_t=$t prev_c=$c
  if [[ $phase == load ]] && ! kill -0 "$LG" 2>/dev/null; then
    wait "$LG" || die "loadgen failed: $OUT/loadgen.out"
    phase=tail
    tail_until=$(awk -v t="$t" -v s="$TAIL_S" 'BEGIN { printf "%d", t + s }')
  fi
  if [[ $phase == tail ]] && awk -v t="$t" -v u="$tail_until" 'BEGIN { exit !(t >= u) }'; then
    break
  fi
done

# ---- the figures: thirds of the load phase, and what levelled off
if command -v python3 >/dev/null; then
  python3 "$HERE/summary.py" "$OUT" "$SAGAS" "$RATE"
else
  say "python3 not found: no summary.json (samples.csv is complete)"
fi

if command -v gnuplot >/dev/null; then
  gnuplot -e "in='$OUT/samples.csv'; out='$OUT/soak.png'" "$HERE/soak.gnuplot" 2>"$OUT/gnuplot.log" ||
    say "gnuplot failed: $OUT/gnuplot.log"
  [[ -s $OUT/soak.png ]] && say "chart: $OUT/soak.png"
fi

# an ASCII chart of the saga rows and the throughput, for the terminal
awk -F, 'NR > 1 { t[NR] = $1; s[NR] = $6; r[NR] = $5; if ($6 > ms) ms = $6; if ($5 > mr) mr = $5; n = NR }
  END {
    printf "\n  t(s)   sagas rows (max %d)                         sagas/s (max %.0f)\n", ms, mr
    step = int((n - 1) / 40) + 1
    for (i = 2; i <= n; i += step) {
      a = ms ? int(s[i] * 40 / ms) : 0; b = mr ? int(r[i] * 30 / mr) : 0
      bar1 = sprintf("%*s", a, ""); gsub(/ /, "#", bar1)
      bar2 = sprintf("%*s", b, ""); gsub(/ /, "=", bar2)
      printf "%6.0f  %-40s  %s\n", t[i], bar1, bar2
    }
  }' "$OUT/samples.csv"
say "done: $OUT"
