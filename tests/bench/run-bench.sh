#!/usr/bin/env bash
# run-bench.sh - the end-to-end benchmark of the orchestrator on the real local
# stack (deploy/local): one command, from a fresh machine to a results table,
# bench-results/<timestamp>/results.json and two charts.
#
#   tests/bench/run-bench.sh               # full run (30 s windows, ~9 min)
#   BENCH_QUICK=1 tests/bench/run-bench.sh # quick run (10 s windows, ~5 min)
#
# What it does, in order:
#   1. installs what is missing (deploy/install-deps.sh), builds Release in
#      build/ (orchestrator, responder, loadgen, kafka_echo);
#   2. starts a throw-away stack with `deploy/local/stack.sh run` and turns on
#      track_commit_timestamp (PostgreSQL restart), so every transition's
#      commit time can be read back: pg_xact_commit_timestamp(xmin) of its
#      saga_transitions rows (that table is append-only);
#   3. a template database holding 100,000 completed sagas (tables of a
#      realistic size, analyzed), copied for every run;
#   4. warms the whole stack before anything is measured, so that the order
#      of the runs changes no figure: a Kafka echo, then throw-away runs of
#      scenario (a) (closed loop, short windows, databases and topics of
#      their own) until two in a row agree on steps/s within 10% (at most 5
#      runs, none started after BENCH_WARMUP_STACK_S); their figures are in
#      results.json under meta.warmup_stack;
#   5. the machine's limits: pgbench doing one saga step's SQL per
#      transaction (1 and 16 clients) and 50 steps per transaction in
#      set-based statements (tests/bench/pgbench/), synchronous_commit on;
#      then the batch-size sweep: scenario (a) at ORC_BATCH_SIZE 1, 10, 100,
#      500 (short windows);
#   6. per scenario - (a) 3 sequential steps, (b) 10 steps with a fan-out of
#      4, (c) 3 steps whose last fails for 10% of the sagas (responder
#      random:10, fixed seed) and compensates, (d) a map of the trigger's
#      100 items (max_concurrency 10) then one step - a throughput run (sagas
#      started as fast as the system accepts them) and a latency run (a fixed
#      offered rate: 50% of the sagas/s the throughput run completed);
#   7. the Kafka produce->consume echo round trip (tests/bench/kafka_echo.c)
#      through the same broker, at the step rate of the latency run of (a);
#   8. prints the tables, writes results.json, throughput-vs-batch.png and
#      latency.png (gnuplot) into bench-results/<UTC timestamp>/.
#
# Definitions (also in results.json under "definitions"):
#   window        [first saga.started commit + warm-up, + window], cut at the
#                 end of the offered load; all rates are counted in it
#   step          a command answered and applied: step.succeeded, step.failed
#                 or compensation.succeeded history entries committed in the
#                 window; sagas/s: terminal entries (saga.completed,
#                 .compensated, .failed) committed in the window
#   map item      (d) each item of a map is a step: its own step.started /
#                 step.succeeded entries (with "item" in the detail) count
#                 as a step's; the map's own entries (the map started, the
#                 map succeeded) are not commands and are left out; items/s,
#                 WAL and CPU per item count the items alone (map.* in
#                 metrics.json)
#   step latency  commit of the transition that wrote the command to the
#                 outbox (its step.started / compensation.started entry) ->
#                 commit of the transition that applied the reply; both are
#                 PostgreSQL commit timestamps (taken as the commit record is
#                 written, just before its WAL flush), for steps whose reply
#                 was applied in the window
#   latency parts where an action step's latency goes: command commit ->
#                 command appended by the broker (outbox lag) -> reply
#                 appended (the service: consume, answer, produce) -> the
#                 worker starts the batch that applies it (saga_transitions.at:
#                 consume, batch linger, the loop's other work) -> that
#                 transaction commits; both topics are tapped after the run
#   outbox lag    that same command commit -> the broker appending the
#                 command (LogAppendTime; the command topics are created with
#                 message.timestamp.type=LogAppendTime and read back after
#                 the run with `kafka_echo tap`); broker timestamps are whole
#                 ms, 0.5 ms is added
#   throughput    a closed loop keeps a backlog of triggers on the topic
#                 (granting loadgen --credits; progress read by probing a
#                 few business keys in the unique index, not by counting),
#                 so the orchestrator is never short of new sagas and never
#                 buried under a pile of them; the number of sagas is what it
#                 accepted in warm-up + window
#   sub-windows   the window cut into whole sub-windows of BENCH_SUB_WINDOW_S
#                 (a partial last one is left out): steps/s of each, their
#                 median, min, max and spread = (max - min) / median
#   CPU           utime+stime (/proc/<pid>/stat) over the window; postgres is
#                 the postmaster and all its children; "other" = machine busy
#                 minus the listed processes (the feeder, other tenants);
#                 us/step = CPU microseconds per step applied in the samples
#                 enclosing the window; cores of each orchestrator process
#   WAL           pg_stat_wal (wal_bytes, wal_records, wal_fpi) read just
#                 before the load starts and again after the drain, once the
#                 orchestrators stopped and their backends reported, divided
#                 by the steps applied in between: all the run's (its
#                 database starts with none of its definition); per saga:
#                 by the run's sagas that finished.  pg_stat_wal is
#                 cluster-wide: nothing else writes during a run (the feeder
#                 only reads), but autovacuum and checkpoints are counted,
#                 and so are the full-page images that follow the CHECKPOINT
#                 before the run
#   HOT           n_tup_hot_upd / n_tup_upd of the sagas and saga_step_rows
#                 tables in pg_stat_user_tables of the run's database, over
#                 that same interval (a new database's counters start at 0)
#   RSS           VmHWM of each orchestrator process at the end of its run
#   partitions    which process owns which partitions of each topic at the
#                 end of the window (runs/<run>/assignment.tsv, and a line
#                 per process in the log, with its outbox lanes); with
#                 BENCH_PROCS > 1 the load starts once the consumer group
#                 has settled (every process a member with partitions)
#
# Environment knobs (defaults in brackets; BENCH_QUICK changes the windows):
#   BENCH_QUICK=1           10 s windows, 8 s warm-up, shorter pgbench/echo,
#                           2 s sub-windows, a shorter warm-up of the stack
#   BENCH_WINDOW_S [30]     measuring window of the scenario runs
#   BENCH_WARMUP_S [10]     warm-up before the window (the closed loop
#                           takes about 10 s to reach its plateau)
#   BENCH_SWEEP [1,10,100,500]  batch sizes of the sweep ("" = no sweep)
#   BENCH_SWEEP_WINDOW_S [8]    window of each sweep run (warm-up 3 s)
#   BENCH_SUB_WINDOW_S [5]  sub-windows of every run's window (quick: 2)
#   BENCH_WARMUP_STACK_S [90]   the stack's warm-up: no new throw-away run
#                           after that many seconds (quick: 50; 0 = none)
#   BENCH_WARMUP_STACK_WINDOW_S [8]  window of each warm-up run (quick: 4)
#   BENCH_SCENARIOS [a,b,c,d] scenarios to run
#   BENCH_MODES [throughput,latency]
#   BENCH_PROCS [1]         orchestrator processes per run
#   BENCH_BATCH_SIZE        ORC_BATCH_SIZE of the scenario runs (default: the
#                           orchestrator's own default)
#   BENCH_ORCH_ENV          more NAME=VALUE words for the orchestrators' own
#                           environment only, for A/B runs (e.g.
#                           GLIBC_TUNABLES=glibc.malloc.mxfast=0)
#   BENCH_LATENCY_LOAD [0.5]  offered rate of the latency runs, as a fraction
#                           of the throughput run's sagas/s
#   BENCH_PGBENCH_S [10]    seconds per pgbench run (0 = skip pgbench)
#   BENCH_ECHO [1]          0 = skip the Kafka echo
#   BENCH_PROFILE=1         profile the throughput run of the first scenario
#                           over its window, into runs/<run>/: perf record -a
#                           (perf-by-process.txt, perf-postgres.txt), perf
#                           record of the orchestrator with DWARF call graphs
#                           (perf-orchestrator*.txt), perf trace -s of its main
#                           thread (perf-trace-orchestrator.txt: wall time in
#                           poll() = waiting for PostgreSQL, futex() = for
#                           librdkafka), pg_stat_statements, pg_stat_wal and
#                           table counters (pg_stat_statements.txt); the
#                           figures of that run carry the profilers' overhead
#   BENCH_PRELOAD_SAGAS [100000]  completed sagas (of another definition) in
#                           every run's database before it starts, copied from
#                           a template; 0 = start from empty tables
#   BENCH_DB_SETUP_SQL      an SQL file run in every run's database after the
#                           migrations (search_path orchestrator), for what-if
#                           experiments (indexes, autovacuum settings)
#   BENCH_BUILD_DIR [build] BENCH_OUT [bench-results]  BENCH_NO_BUILD=1
#   BENCH_USE_STACK=1       use the stack in the environment (ORC_PG_DSN,
#                           ORC_KAFKA_BROKERS, ORC_STACK_DIR from stack.env)
#                           instead of starting one; it is restarted once
#                           (track_commit_timestamp) and keeps its databases
#   ORC_*                   passed to the orchestrator processes as usual
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/tests/bench
QUICK=${BENCH_QUICK:-0}
if [[ $QUICK == 1 ]]; then
  d_window=10 d_warmup=8 d_sweep_window=4 d_sweep_warmup=2 d_pgbench=4 d_echo_s=4 d_echo_n=20000
  d_sub=2 d_stack=50
else
  d_window=30 d_warmup=10 d_sweep_window=8 d_sweep_warmup=3 d_pgbench=10 d_echo_s=10 d_echo_n=50000
  d_sub=5 d_stack=90
fi
WINDOW=${BENCH_WINDOW_S:-$d_window}
WARMUP=${BENCH_WARMUP_S:-$d_warmup}
SWEEP=${BENCH_SWEEP-1,10,100,500}
SWEEP_WINDOW=${BENCH_SWEEP_WINDOW_S:-$d_sweep_window}
SWEEP_WARMUP=${BENCH_SWEEP_WARMUP_S:-$d_sweep_warmup}
SUB_WINDOW=${BENCH_SUB_WINDOW_S:-$d_sub}
WARMUP_STACK=${BENCH_WARMUP_STACK_S:-$d_stack}
WARMUP_STACK_WINDOW=${BENCH_WARMUP_STACK_WINDOW_S:-$d_sweep_window}
WARMUP_STACK_TRIES=5
SCENARIOS=${BENCH_SCENARIOS:-a,b,c,d}
MODES=${BENCH_MODES:-throughput,latency}
PROCS=${BENCH_PROCS:-1}
BATCH=${BENCH_BATCH_SIZE:-}
LOAD=${BENCH_LATENCY_LOAD:-0.5}
PGBENCH_S=${BENCH_PGBENCH_S:-$d_pgbench}
ECHO=${BENCH_ECHO:-1}
PROFILE=${BENCH_PROFILE:-0}
BUILD=${BENCH_BUILD_DIR:-$ROOT/build}
OUT_BASE=${BENCH_OUT:-$ROOT/bench-results}
PG_BIN=${ORC_PG_BIN:-/usr/lib/postgresql/15/bin}
DRAIN_TIMEOUT=${BENCH_DRAIN_TIMEOUT_S:-180}
PRELOAD=${BENCH_PRELOAD_SAGAS:-100000}
SEED=42
INSTANCES=100000 # pgbench instance rows
TARGET_STEPS=10000 TARGET_P50=10 TARGET_P99=50 TARGET_LAG50=3 TARGET_RSS_MB=32
TARGET_PG_US=80 TARGET_WAL_B=1536 TARGET_ORCH_US=30 TARGET_OVER_SET16=0.25

ORCH=$BUILD/orchestrator
RESPONDER=$BUILD/tests/tools/responder
LOADGEN=$BUILD/tests/tools/loadgen
ECHO_BIN=$BUILD/tests/bench/kafka_echo
DATA_TEMPLATE='{"id":"{key}","total":{i},"customer":"c-42","currency":"EUR","sent_ms":{ts_ms}}'
MAP_ITEMS=100 # items in the trigger of scenario (d)

say() { printf '%s run-bench: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 1; }
now_s() { printf '%s' "${EPOCHREALTIME/,/.}"; }

# ------------------------------------------------------------ outside the stack

prepare() {
  local need=0 c
  for c in cmake cc java gnuplot psql "$PG_BIN/pgbench" "$PG_BIN/initdb"; do
    command -v "$c" >/dev/null 2>&1 || need=1
  done
  pkg-config --exists rdkafka jansson libpq 2>/dev/null || need=1
  if ((need)); then
    say "installing dependencies (deploy/install-deps.sh)"
    "$ROOT/deploy/install-deps.sh"
  fi
  if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
    say "building Release in $BUILD"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j"$(nproc)" --target orchestrator responder loadgen kafka_echo >/dev/null
  fi
  for c in "$ORCH" "$RESPONDER" "$LOADGEN" "$ECHO_BIN"; do
    [[ -x $c ]] || die "$c not built"
  done
}

# ------------------------------------------------------------ helpers (inside)

PIDS=()   # every process this script started and has not reaped
cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]}"; do
    wait "$p" 2>/dev/null || true
  done
}

forget_pid() {
  local p keep=()
  for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# stop_pid PID [timeout_s]: TERM, wait, KILL
stop_pid() {
  local pid=$1 t=${2:-30} i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < t * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  forget_pid "$pid"
}

q() { # q DB SQL: one value per line
  "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"
}

dsn_for() { # the ORC_PG_DSN of the stack with another database name
  local base=${BASE_DSN%%\?*} query=
  [[ $BASE_DSN == *\?* ]] && query="?${BASE_DSN#*\?}"
  printf '%s/%s%s' "${base%/*}" "$1" "$query"
}

# put SECTION NAME FILE: store a JSON document for the final assembly
put() {
  "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d bench_results \
    -v section="$1" -v name="$2" -v doc="$(cat "$3")" <<'EOF'
INSERT INTO results (section, name, doc) VALUES (:'section', :'name', :'doc'::jsonb)
ON CONFLICT (section, name) DO UPDATE SET doc = EXCLUDED.doc;
EOF
}

get() { # get SQL-on-results: one value
  "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d bench_results -c "$1"
}

pg_postmaster() { head -n1 "$ORC_STACK_DIR/pg/data/postmaster.pid"; }
kafka_pid() { cat "$ORC_STACK_DIR/kafka/kafka.pid"; }

restart_pg() {
  "$ROOT/deploy/local/stack.sh" pg-stop "$ORC_STACK_DIR" >/dev/null 2>&1
  "$ROOT/deploy/local/stack.sh" pg-start "$ORC_STACK_DIR" >/dev/null 2>&1
  local i
  for ((i = 0; i < 100; i++)); do
    q postgres 'select 1' >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "postgres did not come back after the restart"
}

# ------------------------------------------------------------ CPU sampler

ticks_of() { # utime+stime of a pid (clock ticks), nothing if gone
  local f
  read -r -a f 2>/dev/null <"/proc/$1/stat" || return 0
  # fields 14, 15 (1-based): utime, stime; comm has no spaces here
  printf '%s' $((f[13] + f[14]))
}

pg_ticks() { # the postmaster with its reaped and live children
  local pm=$1 f total c kids=()
  read -r -a f 2>/dev/null <"/proc/$pm/stat" || return 0
  total=$((f[13] + f[14] + f[15] + f[16]))
  read -r -a kids 2>/dev/null <"/proc/$pm/task/$pm/children" || true
  for c in "${kids[@]}"; do
    read -r -a f 2>/dev/null <"/proc/$c/stat" || continue
    total=$((total + f[13] + f[14]))
  done
  printf '%s' "$total"
}

# sampler FILE NAME:PID...: every 0.5 s, "t<TAB>name<TAB>ticks" lines;
# "postgres:PID" is the postmaster tree, "system" is the machine's busy
# ticks; "orchestrator/N" is the Nth orchestrator process.
sampler() {
  local out=$1 spec name pid t v u n s irq sirq steal
  shift
  while :; do
    t=$(now_s)
    {
      for spec in "$@"; do
        name=${spec%%:*} pid=${spec#*:}
        if [[ $name == postgres ]]; then v=$(pg_ticks "$pid"); else v=$(ticks_of "$pid"); fi
        [[ -n $v ]] && printf '%s\t%s\t%s\n' "$t" "$name" "$v"
      done
      read -r _ u n s _ _ irq sirq steal _ </proc/stat
      printf '%s\tsystem\t%s\n' "$t" $((u + n + s + irq + sirq + steal))
    } >>"$out"
    sleep 0.5
  done
}

# ------------------------------------------------------------ setup of a run

# map_items_json N: a JSON array of N items {"sku":"s<i>"}
map_items_json() {
  local n=$1 k out=
  for ((k = 0; k < n; k++)); do out+="${out:+,}{\"sku\":\"s$k\"}"; done
  printf '[%s]' "$out"
}

# definition file, trigger topic suffix, trigger type, responder args; the
# trigger's data template (SDATA) and the items of its map steps (SITEMS, 0
# without one)
scenario_def() {
  SDATA=$DATA_TEMPLATE SITEMS=0
  case $1 in
    a) SDEF=bench_seq3.json SNAME=bench_seq3 STOPIC=seq3.start STYPE=bench_seq3.requested
       SRULES=(--default succeed:service.succeeded) ;;
    b) SDEF=bench_fan10.json SNAME=bench_fan10 STOPIC=fan10.start STYPE=bench_fan10.requested
       SRULES=(--default succeed:service.succeeded) ;;
    c) SDEF=bench_comp3.json SNAME=bench_comp3 STOPIC=comp3.start STYPE=bench_comp3.requested
       SRULES=(--default succeed:service.succeeded
               --rule bench_comp3.ship=random:10:service.failed:service.succeeded) ;;
    d) SDEF=bench_map100.json SNAME=bench_map100 STOPIC=map100.start STYPE=bench_map100.requested
       SRULES=(--default succeed:service.succeeded)
       SITEMS=$MAP_ITEMS SDATA="${DATA_TEMPLATE%\}},\"items\":$(map_items_json "$SITEMS")}" ;;
    *) die "unknown scenario $1 (a, b, c or d)" ;;
  esac
}

scenario_title() {
  case $1 in
    a) echo "(a) 3 steps in sequence" ;;
    b) echo "(b) 10 steps, fan-out of 4" ;;
    c) echo "(c) 3 steps, 10% fail at the last and compensate" ;;
    d) echo "(d) a map of $MAP_ITEMS items, concurrency 10, then 1 step" ;;
  esac
}

# wait_lanes LOG...: until the relays own all 16 outbox lanes (at most 15 s)
wait_lanes() {
  local i owned
  for ((i = 0; i < 150; i++)); do
    # (the logs may not exist yet: the processes open them)
    owned=$({ cat "$@" 2>/dev/null || true; } |
      sed -n 's/.*relay claimed outbox lanes.* owned=\([0-9,]*\).*/\1/p' |
      tr ',' '\n' | sort -un | wc -l)
    ((owned >= 16)) && return 0
    sleep 0.1
  done
  say "warning: the relays own $owned of 16 outbox lanes after 15 s"
}

# pg_counters DB [after]: the cluster's WAL counters and the update counters
# of DB's sagas and saga_step_rows tables, as a PostgreSQL array literal
# {wal_bytes,wal_records,wal_fpi,sagas_upd,sagas_hot,steps_upd,steps_hot}.
# A backend reports its counters at most once a second and at its exit:
# "after" (the orchestrators stopped) first waits, at most 5 s, until no
# other client of DB is left.
pg_counters() {
  local db=$1 i
  for ((i = 0; i < 50 && $# > 1; i++)); do
    (($(q "$db" "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                  AND backend_type = 'client backend' AND pid <> pg_backend_pid()") == 0)) && break
    sleep 0.1
  done
  q "$db" "SELECT pg_stat_clear_snapshot();
    SELECT format('{%s,%s,%s,%s,%s,%s,%s}', w.wal_bytes, w.wal_records, w.wal_fpi,
                  coalesce(s.n_tup_upd, 0), coalesce(s.n_tup_hot_upd, 0),
                  coalesce(t.n_tup_upd, 0), coalesce(t.n_tup_hot_upd, 0))
      FROM pg_stat_wal w
      LEFT JOIN pg_stat_user_tables s ON s.schemaname = 'orchestrator' AND s.relname = 'sagas'
      LEFT JOIN pg_stat_user_tables t ON t.schemaname = 'orchestrator' AND t.relname = 'saga_step_rows'" |
    tail -n1
}

# run_one TAG SCENARIO MODE BATCH RATE: one orchestrator run, metrics in
# $OUT/runs/TAG/metrics.json.  MODE: throughput (closed loop, then drain),
# latency (fixed RATE sagas/s, then drain), sweep (closed loop, time-boxed,
# no drain) or warmup (a sweep run of its own window whose metrics are kept
# under "warmup", not with the results).
run_one() {
  local tag=$1 scen=$2 mode=$3 batch=$4 rate=$5
  local dir=$OUT/runs/$tag db=bench_${RUNID}_${tag//-/_} topic_prefix=bench.$RUNID.$tag
  local warm=$WARMUP window=$WINDOW dsn i pid orch_pids=() samp_pid resp_pid lg_pid
  local specs=() hwm=() orch_logs=() t_stop cap_ms sent c0 c1 section=run
  local boxed=0 # time-boxed: no drain, no tap, the database is dropped
  case $mode in
    sweep) warm=$SWEEP_WARMUP window=$SWEEP_WINDOW boxed=1 ;;
    # the window after the runs' own warm-up: before it, the closed loop
    # is still ramping up and two windows agree without being steady
    warmup) warm=$WARMUP window=$WARMUP_STACK_WINDOW boxed=1 section=warmup ;;
  esac
  scenario_def "$scen"
  mkdir -p "$dir"
  say "run $tag: scenario $scen, $mode, batch size ${batch:-default}${rate:+, $rate sagas/s}"

  if [[ -n $TEMPLATE_DB ]]; then
    q postgres "CREATE DATABASE $db TEMPLATE $TEMPLATE_DB STRATEGY FILE_COPY" >/dev/null
  else
    q postgres "CREATE DATABASE $db" >/dev/null
  fi
  dsn=$(dsn_for "$db")
  ORC_PG_DSN=$dsn "$ORCH" migrate >"$dir/migrate.log" 2>&1 || die "migrate failed: $dir/migrate.log"
  sed "s/\"topic\": \"bench\./\"topic\": \"$topic_prefix./" "$HERE/definitions/$SDEF" >"$dir/$SDEF"
  ORC_PG_DSN=$dsn "$ORCH" definitions load "$dir/$SDEF" >>"$dir/migrate.log" 2>&1 ||
    die "definitions load failed: $dir/migrate.log"
  if [[ -n ${BENCH_DB_SETUP_SQL:-} ]]; then
    PGOPTIONS="-c search_path=orchestrator" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$db" \
      -f "$BENCH_DB_SETUP_SQL" >>"$dir/migrate.log" 2>&1 || die "$BENCH_DB_SETUP_SQL failed: $dir/migrate.log"
  fi
  if [[ $PROFILE == 1 && $tag == "$PROFILE_TAG" ]]; then
    q "$db" "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
  fi
  "$ECHO_BIN" topics --config message.timestamp.type=LogAppendTime \
    "$topic_prefix.$STOPIC" "$topic_prefix.commands" "$topic_prefix.replies" >/dev/null
  q "$db" "CHECKPOINT" >/dev/null

  "$RESPONDER" --brokers "$ORC_KAFKA_BROKERS" --topics "$topic_prefix.commands" \
    --group "responder-$RUNID-$tag" --seed "$SEED" "${SRULES[@]}" \
    >"$dir/responder.out" 2>"$dir/responder.log" &
  resp_pid=$!
  PIDS+=("$resp_pid")
  for ((i = 1; i <= PROCS; i++)); do
    env ORC_PG_DSN="$dsn" ORC_GROUP="orc-$RUNID-$tag" ORC_REPLY_TOPIC="$topic_prefix.replies" \
      ORC_HTTP_PORT=0 ${batch:+ORC_BATCH_SIZE=$batch} ORC_KAFKA_CLIENT_ID="orchestrator-$i" \
      ${BENCH_ORCH_ENV:-} "$ORCH" run >"$dir/orchestrator-$i.out" 2>"$dir/orchestrator-$i.log" &
    orch_logs+=("$dir/orchestrator-$i.log")
    orch_pids+=("$!")
    PIDS+=("$!")
  done
  wait_lanes "${orch_logs[@]}"
  wait_group "orc-$RUNID-$tag" "$dir"
  for i in "${!orch_pids[@]}"; do specs+=("orchestrator/$((i + 1)):${orch_pids[$i]}"); done
  specs+=("responder:$resp_pid" "postgres:$(pg_postmaster)" "kafka:$(kafka_pid)")

  if [[ $PROFILE == 1 && $tag == "$PROFILE_TAG" ]]; then
    q "$db" "SELECT pg_stat_statements_reset(); SELECT pg_stat_reset_shared('wal');
             SELECT pg_stat_reset()" >/dev/null
  fi
  c0=$(pg_counters "$db")
  if [[ $mode == latency ]]; then
    local count
    count=$(awk -v r="$rate" -v s="$((warm + window + 1))" 'BEGIN { printf "%d", r * s }')
    "$LOADGEN" --topic "$topic_prefix.$STOPIC" --type "$STYPE" --prefix "$RUNID-$tag" \
      --count "$count" --rate "$rate" --data "$SDATA" \
      --json "$dir/loadgen.json" >"$dir/loadgen.out" 2>&1 &
    lg_pid=$!
    PIDS+=("$lg_pid")
    specs+=("loadgen:$lg_pid")
    sampler "$dir/samples.tsv" "${specs[@]}" &
    samp_pid=$!
    PIDS+=("$samp_pid")
    maybe_profile "$tag" "$dir" "$warm" "$window" "${orch_pids[0]}"
    wait "$lg_pid" || die "loadgen failed: $dir/loadgen.out"
    forget_pid "$lg_pid"
  else
    sampler "$dir/samples.tsv" "${specs[@]}" &
    samp_pid=$!
    PIDS+=("$samp_pid")
    maybe_profile "$tag" "$dir" "$warm" "$window" "${orch_pids[0]}"
    feed_closed "$db" "$dir" "$topic_prefix.$STOPIC" "$STYPE" "$RUNID-$tag" "$SNAME" \
      "$((warm + window + 1))"
  fi
  t_stop=$(now_s)
  group_spread "orc-$RUNID-$tag" "$dir" "$topic_prefix"
  cap_ms=$(awk -v t="$t_stop" 'BEGIN { printf "%.0f", t * 1000 }')
  if [[ $mode == latency ]]; then
    cap_ms=$(sed -n 's/.*"last_sent_ms": \([0-9]*\).*/\1/p' "$dir/loadgen.json")
  fi
  sent=$(sed -n 's/.*"acked": \([0-9]*\).*/\1/p' "$dir/loadgen.json")

  if ((!boxed)); then
    wait_drained "$db" "$sent" "$DRAIN_TIMEOUT" "$SNAME"
  fi
  for pid in "${orch_pids[@]}"; do
    hwm+=("$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)")
  done
  stop_pid "$samp_pid" 1
  [[ -n ${PROFILE_PID:-} ]] && { wait "$PROFILE_PID" 2>/dev/null || true; forget_pid "$PROFILE_PID"; PROFILE_PID=; }
  for pid in "${orch_pids[@]}"; do stop_pid "$pid" 30; done
  stop_pid "$resp_pid" 30
  c1=$(pg_counters "$db" after)
  printf 'before %s\nafter  %s\n' "$c0" "$c1" >"$dir/pg_counters.txt"

  : >"$dir/tap.tsv"
  if ((!boxed)); then
    "$ECHO_BIN" tap --topics "$topic_prefix.commands,$topic_prefix.replies" --out "$dir/tap.tsv" \
      2>>"$dir/tap.log" || say "warning: tap of $topic_prefix.commands failed (no outbox lag)"
  fi
  if [[ $PROFILE == 1 && $tag == "$PROFILE_TAG" ]]; then
    profile_report "$db" "$dir"
  fi
  metrics "$db" "$dir" "$tag" "$scen" "$mode" "${batch:-default}" "$rate" "$warm" "$window" \
    "$cap_ms" "$sent" "$(IFS=,; echo "${hwm[*]}")" "$topic_prefix" "$c0" "$c1"
  put "$section" "$tag" "$dir/metrics.json"
  gzip -f "$dir/tap.tsv" 2>/dev/null || true # tens of MB as text
  if ((boxed)); then q postgres "DROP DATABASE $db" >/dev/null; fi
  summary_line "$section" "$tag"
}

# wait_group GROUP DIR: until the consumer group of the orchestrators has
# settled (at most 30 s): Stable, every process a member with partitions,
# and all partitions of the topics they subscribe assigned (4 per topic:
# the benchmark creates its topics with 4, and the stack's brokers create
# the others with num.partitions=4).  Processes join one after the other,
# and a cooperative rebalance moves partitions in two rounds a heartbeat
# apart (3 s): measured without this, two processes spent the first 6 s of
# the run with 6 of 12 partitions owned by nobody for 3 s of it.
wait_group() {
  local group=$1 dir=$2 i topics want have="" t0
  ((PROCS > 1)) || return 0
  topics=$(sed -n 's/.*msg=running .* topics=\([0-9]*\).*/\1/p' "$dir/orchestrator-1.log" | head -n1)
  want="$PROCS members, $((4 * ${topics:-0})) partitions"
  t0=$(now_s)
  for ((i = 0; i < 60; i++)); do
    have=$("$ECHO_BIN" group --group "$group" 2>/dev/null | awk -F'\t' '
      /^# state / { st = $0; sub(/^# state /, "", st); sub(/,.*/, "", st); next }
      $2 == "-" { empty++; members[$1] = 1; next }
      { members[$1] = 1; n++ }
      END { m = 0; for (x in members) m++
            printf "%s%s members, %d partitions", (st == "Stable" && !empty) ? "" : "unsettled ", m, n }')
    [[ $have == "$want" ]] && break
    sleep 0.5
  done
  say "  consumer group: $have after $(awk -v a="$t0" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }') s"
  [[ $have == "$want" ]] || say "warning: consumer group $group not settled ($have, want $want)"
}

# group_spread GROUP DIR PREFIX: at the end of the window, which process owns
# which partitions of each topic (the members' client ids are
# orchestrator-<i>), into DIR/assignment.tsv; one line per process in the
# log: its partitions per topic (the run's own topics without PREFIX.), how
# often it was assigned partitions during the run, and its outbox lanes
group_spread() {
  local group=$1 dir=$2 prefix=$3. i line
  "$ECHO_BIN" group --group "$group" >"$dir/assignment.tsv" 2>>"$dir/tap.log" ||
    { say "warning: consumer group $group not described"; return 0; }
  for ((i = 1; i <= PROCS; i++)); do
    line=$(awk -F'\t' -v id="orchestrator-$i" -v pre="$prefix" '$1 == id && $2 != "-" {
        t = $2; if (index(t, pre) == 1) t = substr(t, length(pre) + 1); n[t]++ }
      END { for (t in n) out = out (out == "" ? "" : ", ") t " " n[t]; print out == "" ? "none" : out }' \
      "$dir/assignment.tsv")
    say "  orchestrator-$i: partitions $line; assigned $(grep -c 'partitions assigned' \
      "$dir/orchestrator-$i.log" || true)x, revoked $(grep -c 'partitions revoked' \
      "$dir/orchestrator-$i.log" || true)x; outbox lanes $(sed -n \
      's/.*relay claimed outbox lanes.* owned=\([0-9,]*\).*/\1/p' "$dir/orchestrator-$i.log" | tail -n1)"
  done
}

# feed_closed DB DIR TOPIC TYPE PREFIX DEFINITION SECONDS: keep a backlog of
# triggers that the orchestrator has not started yet: about a quarter second
# of its recent start rate (at least 50), for SECONDS from the first saga it
# was seen to start (so that a slow start cuts no window short; at most 60 s
# are given to that start).
feed_closed() {
  local db=$1 dir=$2 topic=$3 type=$4 prefix=$5 def=$6 seconds=$7
  local sent=0 started=0 prev_started=0 prev_t t rate=0 target=50 backlog grant cred probes top
  local deadline armed=0
  exec {cred}> >(exec "$LOADGEN" --topic "$topic" --type "$type" --prefix "$prefix" \
    --credits --count 100000000 --data "$SDATA" \
    --json "$dir/loadgen.json" >"$dir/loadgen.out" 2>&1)
  local lg=$!
  coproc FEEDQ { "$PG_BIN/psql" -X -q -At -d "$db" 2>&1; }
  prev_t=$(now_s)
  deadline=$(awk -v t="$prev_t" 'BEGIN { printf "%.3f", t + 60 }')
  while :; do
    t=$(now_s)
    if ((!armed && started > 0)); then
      deadline=$(awk -v t="$t" -v s="$seconds" 'BEGIN { printf "%.3f", t + s }')
      armed=1
    fi
    awk -v t="$t" -v d="$deadline" 'BEGIN { exit !(t < d) }' || break
    # How far the orchestrator got: the newest of a few keys sent (from
    # the newest back to 4 backlogs ago) that has a saga.  A handful of
    # index lookups instead of a count of the table, so the feeder costs
    # PostgreSQL next to nothing; approximate (the trigger topic's
    # partitions are consumed side by side), which a controller can live with.
    if ((sent > 0)); then
      probes=$(awk -v s="$sent" -v t="$target" -v lo="$started" 'BEGIN {
        n = split("0 0.125 0.25 0.5 1 2 4", f, " ")
        for (k = 1; k <= n; k++) { i = int(s - 1 - t * f[k]); if (i >= lo) out = out (out == "" ? "" : ",") i }
        print out }')
      if [[ -n $probes ]]; then
        # two lookups per probe, in the partial indexes of a key's open and
        # ended sagas (migration 012; correlated LIMIT 1 subqueries: the
        # planner cannot turn them into a scan of the table)
        echo "SELECT coalesce(max(i), -1) FROM unnest('{$probes}'::int[]) AS i
               WHERE (SELECT true FROM orchestrator.sagas WHERE definition_name = '$def'
                         AND business_key = '$prefix-' || i
                         AND status IN ('running', 'compensating', 'stuck') LIMIT 1)
                  OR (SELECT true FROM orchestrator.sagas WHERE definition_name = '$def'
                         AND business_key = '$prefix-' || i
                         AND status NOT IN ('running', 'compensating', 'stuck') LIMIT 1);" >&"${FEEDQ[1]}"
        read -r -t 10 top <&"${FEEDQ[0]}" || die "feeder: no answer from postgres"
        [[ $top =~ ^-?[0-9]+$ ]] || die "feeder: $top"
        if ((top + 1 > started)); then started=$((top + 1)); fi
      fi
    fi
    rate=$(awk -v r="$rate" -v a="$started" -v b="$prev_started" -v t="$t" -v p="$prev_t" \
      'BEGIN { x = (a - b) / (t - p); printf "%.1f", r == 0 ? x : 0.7 * r + 0.3 * x }')
    prev_started=$started prev_t=$t
    target=$(awk -v r="$rate" 'BEGIN { x = r / 4; printf "%d", x < 50 ? 50 : x }')
    backlog=$((sent - started))
    if ((backlog < target)); then
      grant=$((target - backlog))
      echo "$grant" >&"$cred"
      sent=$((sent + grant))
    fi
    sleep 0.2
  done
  exec {cred}>&-
  echo '\q' >&"${FEEDQ[1]}"
  wait "$FEEDQ_PID" 2>/dev/null || true
  # the loadgen ends at the end of its input; wait for its summary
  local i
  for ((i = 0; i < 600; i++)); do
    [[ -s $dir/loadgen.json ]] && break
    sleep 0.1
  done
  wait "$lg" 2>/dev/null || true
  [[ -s $dir/loadgen.json ]] || die "loadgen did not finish: $dir/loadgen.out"
}

# wait_drained DB SENT TIMEOUT: until every saga sent is terminal
wait_drained() {
  local db=$1 sent=$2 timeout=$3 def=$4 t0 left
  t0=$(date +%s)
  while :; do
    left=$(q "$db" "SELECT $sent - count(*) FILTER (WHERE status IN ('completed',
      'compensated', 'failed', 'cancelled', 'timed_out')) FROM orchestrator.sagas
      WHERE definition_name = '$def'")
    ((left <= 0)) && return 0
    if (($(date +%s) - t0 > timeout)); then
      say "warning: $left sagas not finished after ${timeout}s"
      return 0
    fi
    sleep 0.5
  done
}

PROFILE_TAG="" PROFILE_PID=""
# maybe_profile TAG DIR WARMUP WINDOW ORCH_PID: over the window of the
# profiled run, perf record (system wide, call graphs) and perf trace -s of
# the orchestrator's main thread (its wall time by system call: poll() is
# libpq waiting for PostgreSQL, futex() is librdkafka's queues - the
# consumer poll and the relay's wait for delivery reports)
maybe_profile() {
  local tag=$1 dir=$2 warm=$3 window=$4 orch=$5
  [[ $PROFILE == 1 && $tag == "$PROFILE_TAG" ]] || return 0
  command -v perf >/dev/null || { say "warning: perf not installed (apt-get install linux-perf)"; return 0; }
  (
    sleep "$warm"
    perf trace -s -t "$orch" -o "$dir/perf-trace-orchestrator.txt" -- sleep "$window" \
      >/dev/null 2>"$dir/perf-trace.log" &
    perf record --call-graph dwarf,16384 -F 299 -p "$orch" -o "$dir/perf-orchestrator.data" \
      -- sleep "$window" >"$dir/perf-record-orchestrator.log" 2>&1 &
    perf record -a -F 499 -o "$dir/perf.data" -- sleep "$window" >"$dir/perf-record.log" 2>&1
    wait
  ) &
  PROFILE_PID=$!
  PIDS+=("$PROFILE_PID")
}

profile_report() {
  local db=$1 dir=$2
  if [[ -s $dir/perf.data ]]; then
    perf report -i "$dir/perf.data" --stdio --sort comm,dso \
      --percent-limit 0.5 >"$dir/perf-by-process.txt" 2>/dev/null || true
    perf report -i "$dir/perf.data" --stdio --comm postgres --sort symbol --percentage relative \
      --percent-limit 0.5 >"$dir/perf-postgres.txt" 2>/dev/null || true
  fi
  if [[ -s $dir/perf-orchestrator.data ]]; then
    perf report -i "$dir/perf-orchestrator.data" --stdio --no-children --sort dso,symbol \
      -g none --percent-limit 0.5 >"$dir/perf-orchestrator.txt" 2>/dev/null || true
    perf report -i "$dir/perf-orchestrator.data" --stdio --children --sort symbol \
      -g caller,2,callee,function,percent --percent-limit 3 \
      >"$dir/perf-orchestrator-callers.txt" 2>/dev/null || true
  fi
  "$PG_BIN/psql" -X -q -d "$db" >"$dir/pg_stat_statements.txt" 2>&1 <<'EOF'
\pset pager off
SELECT calls, round(total_exec_time::numeric, 1) AS total_ms,
       round(mean_exec_time::numeric, 3) AS mean_ms, rows,
       round((100 * total_exec_time / sum(total_exec_time) OVER ())::numeric, 1) AS pct,
       shared_blks_hit + shared_blks_read AS blks, wal_bytes,
       left(regexp_replace(query, '\s+', ' ', 'g'), 160) AS query
  FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 25;
SELECT wal_records, wal_fpi, pg_size_pretty(wal_bytes) AS wal, wal_write, wal_sync,
       round(wal_sync_time::numeric, 1) AS wal_sync_ms, stats_reset FROM pg_stat_wal;
SELECT xact_commit, xact_rollback, blks_read, blks_hit, tup_inserted, tup_updated,
       tup_deleted, temp_bytes FROM pg_stat_database WHERE datname = current_database();
SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del, n_dead_tup, autovacuum_count
  FROM pg_stat_user_tables ORDER BY relname;
EOF
}

# ------------------------------------------------------------ metrics

metrics() {
  local db=$1 dir=$2 tag=$3 scen=$4 mode=$5 batch=$6 rate=$7 warm=$8 window=$9
  local cap_ms=${10} sent=${11} hwm_csv=${12} prefix=${13} c0=${14} c1=${15}
  # \copy takes its arguments verbatim (no psql variables): its lines are
  # printed here, the rest of the SQL is a quoted here-document
  {
    cat <<'EOF'
SET search_path = orchestrator;
SET work_mem = '256MB';
-- the map steps of the run's definition
CREATE TEMP TABLE mapsteps AS
SELECT st->>'name' AS name FROM saga_definitions d, jsonb_array_elements(d.body -> 'steps') st
 WHERE d.name = :'defname' AND st ? 'map';
-- the run's history; a map's items are steps of their own ("unit" names
-- one: "reserve[17]", as in its commands' ce_id and sagastep), the map's own
-- entries (it started, it succeeded) are no command and are left out
-- (saga_history is a view of the transitions' entries; xmin is the table's:
-- this run's transitions first, then their entries)
CREATE TEMP TABLE ht AS
SELECT t.saga_id, t.kind, t.step_name, t.detail, t.more, t.at,
       pg_xact_commit_timestamp(t.xmin) AS ct, t.xmin::text::bigint AS x
  FROM saga_transitions t
 WHERE t.saga_id IN (SELECT id FROM sagas WHERE definition_name = :'defname');
CREATE TEMP TABLE h AS
SELECT saga_id, kind, step_name, (detail->>'item')::int AS item,
       step_name || coalesce('[' || (detail->>'item') || ']', '') AS unit,
       ct, x, at
  FROM (SELECT saga_id, kind, step_name, detail, ct, x, at FROM ht
        UNION ALL
        SELECT ht.saga_id, e->>'kind', e->>'step', e->'detail', ht.ct, ht.x, ht.at
          FROM ht, jsonb_array_elements(ht.more) e
         WHERE ht.more IS NOT NULL) e
 WHERE NOT coalesce(detail->>'item' IS NULL AND step_name IN (SELECT name FROM mapsteps), false);
DROP TABLE ht;
-- this run's sagas (the database may hold preloaded ones of bench_history)
CREATE TEMP VIEW rs AS SELECT * FROM sagas WHERE definition_name = :'defname';
CREATE INDEX ON h (saga_id, unit, kind);
ANALYZE h;
CREATE TEMP TABLE tap (ce_id text, ts_ms bigint, tstype text, topic text, part int, off bigint,
                       sagaid text, step text);
CREATE TEMP TABLE samples (t float8, comp text, ticks bigint);
EOF
    printf "\\copy tap FROM '%s'\n" "$dir/tap.tsv"
    printf "\\copy samples FROM '%s'\n" "$dir/samples.tsv"
    cat <<'EOF'

-- the window
SELECT extract(epoch FROM min(ct) FILTER (WHERE kind = 'saga.started')) AS t_first,
       coalesce(extract(epoch FROM max(ct) FILTER (WHERE kind IN ('saga.completed',
         'saga.compensated', 'saga.failed', 'saga.cancelled', 'saga.timed_out'))), 0) AS t_last
  FROM h \gset
SELECT :t_first + :warm AS w0,
       least(:t_first + :warm + :window,
             CASE WHEN :cap_ms > 0 THEN :cap_ms / 1000.0 ELSE 'infinity' END) AS w1 \gset

-- steps: commands answered and applied; their latency
CREATE TEMP TABLE lat AS
WITH s AS (
  SELECT saga_id, unit,
         min(ct) FILTER (WHERE kind = 'step.started') AS a_start,
         min(ct) FILTER (WHERE kind IN ('step.succeeded', 'step.failed')) AS a_end,
         min(ct) FILTER (WHERE kind = 'compensation.started') AS c_start,
         min(ct) FILTER (WHERE kind = 'compensation.succeeded') AS c_end
    FROM h WHERE step_name IS NOT NULL
   GROUP BY 1, 2)
SELECT a_end AS done, extract(epoch FROM a_end - a_start) * 1000 AS ms, 'action' AS what
  FROM s WHERE a_end IS NOT NULL AND a_start IS NOT NULL
UNION ALL
SELECT c_end, extract(epoch FROM c_end - c_start) * 1000, 'compensation'
  FROM s WHERE c_end IS NOT NULL AND c_start IS NOT NULL;

CREATE TEMP TABLE win AS
SELECT * FROM lat WHERE done >= to_timestamp(:w0) AND done < to_timestamp(:w1);

-- outbox lag: command commit -> broker append
CREATE TEMP TABLE lag AS
SELECT (t.ts_ms + 0.5) - extract(epoch FROM h.ct) * 1000 AS ms, t.tstype
  FROM tap t
  JOIN h ON t.topic = :'prefix' || '.commands'
        AND h.saga_id = split_part(t.ce_id, '/', 1)::uuid
        AND h.unit = split_part(t.ce_id, '/', 2)
        AND h.kind = CASE split_part(t.ce_id, '/', 3) WHEN 'action' THEN 'step.started'
                                                      ELSE 'compensation.started' END
 WHERE split_part(t.ce_id, '/', 4) = '1'
   AND h.ct >= to_timestamp(:w0) AND h.ct < to_timestamp(:w1);

-- where an action step's latency goes: command commit -> command appended
-- (outbox lag) -> reply appended (the service: consume, answer, produce) ->
-- the worker starts the batch that applies it (consume, linger, wait for the
-- loop) -> that transaction commits
CREATE TEMP TABLE parts AS
WITH st AS (
  SELECT saga_id, unit,
         min(ct) FILTER (WHERE kind = 'step.started') AS t0,
         min(ct) FILTER (WHERE kind IN ('step.succeeded', 'step.failed')) AS t3,
         min(at) FILTER (WHERE kind IN ('step.succeeded', 'step.failed')) AS t_apply
    FROM h WHERE step_name IS NOT NULL GROUP BY 1, 2),
cmd AS (
  SELECT split_part(ce_id, '/', 1)::uuid AS saga_id, split_part(ce_id, '/', 2) AS unit,
         min(ts_ms) AS ts
    FROM tap WHERE topic = :'prefix' || '.commands' AND split_part(ce_id, '/', 3) = 'action'
   GROUP BY 1, 2),
rep AS (
  SELECT sagaid::uuid AS saga_id, step AS unit, min(ts_ms) AS ts
    FROM tap WHERE topic = :'prefix' || '.replies' AND sagaid <> '' GROUP BY 1, 2)
SELECT (cmd.ts + 0.5) - extract(epoch FROM st.t0) * 1000 AS outbox_lag,
       (rep.ts - cmd.ts)::float8 AS service,
       extract(epoch FROM st.t_apply) * 1000 - (rep.ts + 0.5) AS to_batch,
       extract(epoch FROM st.t3 - st.t_apply) * 1000 AS transaction
  FROM st JOIN cmd USING (saga_id, unit) JOIN rep USING (saga_id, unit)
 WHERE st.t3 >= to_timestamp(:w0) AND st.t3 < to_timestamp(:w1);

-- CPU over the samples that enclose the window
CREATE TEMP TABLE cpu AS
WITH full_samples AS (  -- complete samples ("system" is written last; the last may be cut)
  SELECT t FROM samples WHERE comp = 'system'),
b AS (
  SELECT coalesce((SELECT max(t) FROM full_samples WHERE t <= :w0),
                  (SELECT min(t) FROM full_samples)) AS s0,
         coalesce((SELECT min(t) FROM full_samples WHERE t >= :w1),
                  (SELECT max(t) FROM full_samples)) AS s1),
d AS (
  SELECT comp, sum(ticks) FILTER (WHERE t = b.s1) - sum(ticks) FILTER (WHERE t = b.s0) AS ticks
    FROM samples, b WHERE t IN (b.s0, b.s1) GROUP BY comp)
SELECT b.s0, b.s1, split_part(d.comp, '/', 1) AS comp, d.comp AS proc,
       d.ticks::float8 / :clk AS cpu_s FROM b, d;
SELECT coalesce(min(s0), :w0) AS s0, coalesce(min(s1), :w1) AS s1 FROM cpu \gset
SELECT count(*) AS cpu_steps,
       count(*) FILTER (WHERE item IS NOT NULL AND kind = 'step.succeeded') AS cpu_items FROM h
 WHERE kind IN ('step.succeeded', 'step.failed', 'compensation.succeeded')
   AND ct >= to_timestamp(:s0) AND ct < to_timestamp(:s1) \gset

-- the window's whole sub-windows (a partial last one is left out)
SELECT floor((:w1 - :w0) / :sub)::int AS nsub \gset
CREATE TEMP TABLE sub AS
WITH n AS (
  SELECT floor((extract(epoch FROM ct) - :w0) / :sub)::int AS i, count(*) AS steps FROM h
   WHERE kind IN ('step.succeeded', 'step.failed', 'compensation.succeeded')
     AND ct >= to_timestamp(:w0) AND ct < to_timestamp(:w0 + :sub * :nsub)
   GROUP BY 1)
SELECT g AS i, coalesce(n.steps, 0) / :sub::numeric AS v
  FROM generate_series(0, :nsub - 1) AS g LEFT JOIN n ON n.i = g;

-- the counters read before the load and after the orchestrators stopped
CREATE TEMP TABLE counters AS
SELECT c1[1] - c0[1] AS wal_bytes, c1[2] - c0[2] AS wal_records, c1[3] - c0[3] AS wal_fpi,
       c1[4] - c0[4] AS sagas_upd, c1[5] - c0[5] AS sagas_hot,
       c1[6] - c0[6] AS steps_upd, c1[7] - c0[7] AS steps_hot,
       (SELECT count(*) FROM h WHERE kind IN ('step.succeeded', 'step.failed',
                                              'compensation.succeeded')) AS steps,
       (SELECT count(*) FROM h WHERE item IS NOT NULL AND kind = 'step.succeeded') AS items,
       (SELECT count(*) FROM h WHERE kind IN ('saga.completed', 'saga.compensated', 'saga.failed',
                                              'saga.cancelled', 'saga.timed_out')) AS sagas
  FROM (SELECT :'c0'::numeric[] AS c0, :'c1'::numeric[] AS c1) a;

SELECT jsonb_build_object(
  'tag', :'tag', 'scenario', :'scen', 'mode', :'mode', 'batch_size', :'batch',
  'procs', :procs, 'offered_sagas_per_s', nullif(:rate, 0),
  'definition', :'defname', 'preloaded_sagas', :preload,
  'sagas_sent', :sent,
  'window', jsonb_build_object('start', to_timestamp(:w0), 'end', to_timestamp(:w1),
                               'seconds', round((:w1 - :w0)::numeric, 3),
                               'warmup_s', :warm),
  'run_seconds', round((:t_last - :t_first)::numeric, 3),
  'throughput', (
    SELECT jsonb_build_object(
      'steps', count(*) FILTER (WHERE kind IN ('step.succeeded', 'step.failed', 'compensation.succeeded')),
      'sagas', count(*) FILTER (WHERE kind IN ('saga.completed', 'saga.compensated', 'saga.failed')),
      'started', count(*) FILTER (WHERE kind = 'saga.started'),
      'steps_per_s', round(count(*) FILTER (WHERE kind IN ('step.succeeded', 'step.failed',
                       'compensation.succeeded')) / (:w1 - :w0)::numeric, 1),
      'sagas_per_s', round(count(*) FILTER (WHERE kind IN ('saga.completed', 'saga.compensated',
                       'saga.failed')) / (:w1 - :w0)::numeric, 1),
      'started_per_s', round(count(*) FILTER (WHERE kind = 'saga.started') / (:w1 - :w0)::numeric, 1),
      'events_per_s', round(count(*) FILTER (WHERE kind IN ('saga.started', 'step.succeeded',
                       'step.failed', 'compensation.succeeded')) / (:w1 - :w0)::numeric, 1),
      'transactions_per_s', round(count(DISTINCT x) / (:w1 - :w0)::numeric, 1),
      'events_per_transaction', round(count(*) FILTER (WHERE kind IN ('saga.started',
                       'step.succeeded', 'step.failed', 'compensation.succeeded'))
                       / nullif(count(DISTINCT x), 0)::numeric, 1))
      FROM h WHERE ct >= to_timestamp(:w0) AND ct < to_timestamp(:w1))
    || jsonb_build_object('sub_windows', (
    SELECT CASE WHEN count(*) > 0 THEN jsonb_build_object('seconds', :sub,
      'steps_per_s', jsonb_agg(round(v, 1) ORDER BY i),
      'median', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY v)::numeric, 1),
      'min', round(min(v), 1), 'max', round(max(v), 1),
      'spread', round((max(v) - min(v))
                      / nullif(percentile_cont(0.5) WITHIN GROUP (ORDER BY v), 0)::numeric, 3)) END
      FROM sub)),
  'step_latency_ms', (
    SELECT jsonb_build_object('n', count(*),
      'p50', round(percentile_cont(0.50) WITHIN GROUP (ORDER BY ms)::numeric, 2),
      'p95', round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 2),
      'p99', round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2),
      'max', round(max(ms)::numeric, 2), 'mean', round(avg(ms)::numeric, 2),
      'compensation_steps', count(*) FILTER (WHERE what = 'compensation'))
      FROM win),
  'outbox_lag_ms', (
    SELECT jsonb_build_object('n', count(*),
      'p50', round(percentile_cont(0.50) WITHIN GROUP (ORDER BY ms)::numeric, 2),
      'p95', round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 2),
      'p99', round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2),
      'max', round(max(ms)::numeric, 2),
      'broker_timestamp', CASE WHEN bool_and(tstype = 'L') THEN 'LogAppendTime'
                               WHEN count(*) > 0 THEN 'CreateTime (produce call)' END)
      FROM lag),
  'step_latency_parts_ms', (
    SELECT jsonb_build_object('n', count(*),
      'outbox_lag', jsonb_build_object(
          'p50', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY outbox_lag)::numeric, 2),
          'p99', round(percentile_cont(0.99) WITHIN GROUP (ORDER BY outbox_lag)::numeric, 2),
          'mean', round(avg(outbox_lag)::numeric, 2)),
      'service', jsonb_build_object(
          'p50', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY service)::numeric, 2),
          'p99', round(percentile_cont(0.99) WITHIN GROUP (ORDER BY service)::numeric, 2),
          'mean', round(avg(service)::numeric, 2)),
      'reply_to_batch', jsonb_build_object(
          'p50', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY to_batch)::numeric, 2),
          'p99', round(percentile_cont(0.99) WITHIN GROUP (ORDER BY to_batch)::numeric, 2),
          'mean', round(avg(to_batch)::numeric, 2)),
      'apply_transaction', jsonb_build_object(
          'p50', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY transaction)::numeric, 2),
          'p99', round(percentile_cont(0.99) WITHIN GROUP (ORDER BY transaction)::numeric, 2),
          'mean', round(avg(transaction)::numeric, 2)))
      FROM parts),
  'apply_transaction_ms', (
    SELECT jsonb_build_object('n', count(*),
      'p50', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2),
      'p99', round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2),
      'mean', round(avg(ms)::numeric, 2))
      FROM (SELECT extract(epoch FROM max(ct) - min(at)) * 1000 AS ms FROM h
             WHERE ct >= to_timestamp(:w0) AND ct < to_timestamp(:w1) GROUP BY x) y),
  'saga_duration_ms', (
    SELECT jsonb_build_object('n', count(*),
      'p50', round(percentile_cont(0.50) WITHIN GROUP (ORDER BY ms)::numeric, 2),
      'p99', round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2))
      FROM (SELECT extract(epoch FROM max(ct) FILTER (WHERE kind IN ('saga.completed',
                     'saga.compensated', 'saga.failed'))
                   - min(ct) FILTER (WHERE kind = 'saga.started')) * 1000 AS ms,
                   max(ct) FILTER (WHERE kind IN ('saga.completed', 'saga.compensated',
                     'saga.failed')) AS done
              FROM h GROUP BY saga_id) x
     WHERE done >= to_timestamp(:w0) AND done < to_timestamp(:w1)),
  'trigger_to_start_ms', (
    SELECT jsonb_build_object('n', count(*),
      'p50', round(percentile_cont(0.50) WITHIN GROUP (ORDER BY ms)::numeric, 2),
      'p99', round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2))
      FROM (SELECT extract(epoch FROM h.ct) * 1000 - (s.context #>> '{input,sent_ms}')::float8 AS ms
              FROM rs s JOIN h ON h.saga_id = s.id AND h.kind = 'saga.started'
             WHERE h.ct >= to_timestamp(:w0) AND h.ct < to_timestamp(:w1)) x),
  'cpu', (
    SELECT jsonb_build_object(
      'seconds', round((:s1 - :s0)::numeric, 2),
      'orchestrator_s', round(sum(cpu_s) FILTER (WHERE comp = 'orchestrator')::numeric, 2),
      'steps', :cpu_steps,
      'orchestrator_s_per_1000_steps', round((1000 * sum(cpu_s) FILTER (WHERE comp = 'orchestrator')
          / nullif(:cpu_steps, 0))::numeric, 3),
      'postgres_s_per_1000_steps', round((1000 * sum(cpu_s) FILTER (WHERE comp = 'postgres')
          / nullif(:cpu_steps, 0))::numeric, 3),
      'orchestrator_us_per_step', round((1e6 * sum(cpu_s) FILTER (WHERE comp = 'orchestrator')
          / nullif(:cpu_steps, 0))::numeric, 1),
      'postgres_us_per_step', round((1e6 * sum(cpu_s) FILTER (WHERE comp = 'postgres')
          / nullif(:cpu_steps, 0))::numeric, 1),
      'cores_used', jsonb_build_object(
        'orchestrator', round((sum(cpu_s) FILTER (WHERE comp = 'orchestrator') / (:s1 - :s0))::numeric, 2),
        'orchestrator_per_process', (
            SELECT jsonb_agg(round((cpu_s / (:s1 - :s0))::numeric, 2)
                             ORDER BY split_part(proc, '/', 2)::int)
              FROM cpu WHERE comp = 'orchestrator'),
        'postgres', round((sum(cpu_s) FILTER (WHERE comp = 'postgres') / (:s1 - :s0))::numeric, 2),
        'kafka', round((sum(cpu_s) FILTER (WHERE comp = 'kafka') / (:s1 - :s0))::numeric, 2),
        'responder', round((sum(cpu_s) FILTER (WHERE comp = 'responder') / (:s1 - :s0))::numeric, 2),
        'loadgen', round((coalesce(sum(cpu_s) FILTER (WHERE comp = 'loadgen'), 0) / (:s1 - :s0))::numeric, 2),
        'other', round(((sum(cpu_s) FILTER (WHERE comp = 'system')
                        - sum(cpu_s) FILTER (WHERE comp <> 'system')) / (:s1 - :s0))::numeric, 2),
        'machine', round((sum(cpu_s) FILTER (WHERE comp = 'system') / (:s1 - :s0))::numeric, 2),
        'of', :ncpu))
      FROM cpu),
  'wal', (
    SELECT jsonb_build_object('bytes', wal_bytes, 'records', wal_records, 'fpi', wal_fpi,
      'steps', steps, 'sagas', sagas,
      'bytes_per_step', round(wal_bytes / nullif(steps, 0), 1),
      'records_per_step', round(wal_records / nullif(steps, 0), 2),
      'fpi_per_step', round(wal_fpi / nullif(steps, 0), 3),
      'bytes_per_saga', round(wal_bytes / nullif(sagas, 0), 1))
      FROM counters),
  'hot', (
    SELECT jsonb_build_object(
      'sagas', jsonb_build_object('updates', sagas_upd, 'hot', sagas_hot,
                                  'ratio', round(sagas_hot / nullif(sagas_upd, 0), 3)),
      'saga_steps', jsonb_build_object('updates', steps_upd, 'hot', steps_hot,
                                       'ratio', round(steps_hot / nullif(steps_upd, 0), 3)))
      FROM counters),
  'rss', jsonb_build_object('vmhwm_kb', to_jsonb(:'hwm'::int[]),
                            'max_mb', round((SELECT max(x) FROM unnest(:'hwm'::int[]) x) / 1024.0, 1)),
  -- map steps (scenario d): items are counted as steps above; here alone
  'map', CASE WHEN EXISTS (SELECT FROM mapsteps) THEN jsonb_build_object(
      'steps', (SELECT jsonb_agg(name ORDER BY name) FROM mapsteps),
      'items_per_saga', :items,
      'steps_count_items', true,
      'items', (SELECT count(*) FROM h WHERE item IS NOT NULL AND kind = 'step.succeeded'
                   AND ct >= to_timestamp(:w0) AND ct < to_timestamp(:w1)),
      'items_per_s', (SELECT round(count(*) / (:w1 - :w0)::numeric, 1) FROM h
                       WHERE item IS NOT NULL AND kind = 'step.succeeded'
                         AND ct >= to_timestamp(:w0) AND ct < to_timestamp(:w1)),
      'item_latency_ms', (
          SELECT jsonb_build_object('n', count(*),
            'p50', round(percentile_cont(0.50) WITHIN GROUP (ORDER BY ms)::numeric, 2),
            'p99', round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2))
            FROM (SELECT extract(epoch FROM min(ct) FILTER (WHERE kind = 'step.succeeded')
                                 - min(ct) FILTER (WHERE kind = 'step.started')) * 1000 AS ms,
                         min(ct) FILTER (WHERE kind = 'step.succeeded') AS done
                    FROM h WHERE item IS NOT NULL GROUP BY saga_id, unit) y
           WHERE done >= to_timestamp(:w0) AND done < to_timestamp(:w1)),
      -- Little's law: the mean number in flight over the window
      'sagas_in_flight', (
          SELECT round((sum(greatest(0, extract(epoch FROM least(coalesce(te, to_timestamp(:w1)),
                                                                 to_timestamp(:w1))
                                                     - greatest(ts, to_timestamp(:w0)))))
                        / (:w1 - :w0))::numeric, 1)
            FROM (SELECT min(ct) FILTER (WHERE kind = 'saga.started') AS ts,
                         min(ct) FILTER (WHERE kind IN ('saga.completed', 'saga.compensated',
                           'saga.failed', 'saga.cancelled', 'saga.timed_out')) AS te
                    FROM h GROUP BY saga_id) y WHERE ts IS NOT NULL),
      'items_in_flight', (
          SELECT round((sum(greatest(0, extract(epoch FROM least(coalesce(te, to_timestamp(:w1)),
                                                                 to_timestamp(:w1))
                                                     - greatest(ts, to_timestamp(:w0)))))
                        / (:w1 - :w0))::numeric, 1)
            FROM (SELECT min(ct) FILTER (WHERE kind = 'step.started') AS ts,
                         min(ct) FILTER (WHERE kind IN ('step.succeeded', 'step.failed')) AS te
                    FROM h WHERE item IS NOT NULL GROUP BY saga_id, unit) y WHERE ts IS NOT NULL),
      'cpu_items', :cpu_items,
      'orchestrator_us_per_item', (SELECT round((1e6 * sum(cpu_s) FILTER (WHERE comp = 'orchestrator')
                                     / nullif(:cpu_items, 0))::numeric, 1) FROM cpu),
      'postgres_us_per_item', (SELECT round((1e6 * sum(cpu_s) FILTER (WHERE comp = 'postgres')
                                 / nullif(:cpu_items, 0))::numeric, 1) FROM cpu),
      'wal_items', (SELECT items FROM counters),
      'wal_bytes_per_item', (SELECT round(wal_bytes / nullif(items, 0), 1) FROM counters),
      'wal_records_per_item', (SELECT round(wal_records / nullif(items, 0), 2) FROM counters)) END,
  'checks', (
    WITH term AS (
      SELECT saga_id, count(*) AS n FROM h
       WHERE kind IN ('saga.completed', 'saga.compensated', 'saga.failed', 'saga.cancelled',
                      'saga.timed_out') GROUP BY 1),
    per_step AS (  -- a map's item is a step of its own
      SELECT saga_id, unit,
             count(*) FILTER (WHERE kind = 'step.started') AS started,
             count(*) FILTER (WHERE kind = 'step.succeeded') AS succeeded,
             count(*) FILTER (WHERE kind = 'compensation.succeeded') AS compensated
        FROM h WHERE step_name IS NOT NULL GROUP BY 1, 2),
    -- the successes a completed saga has: one per step, a map's one per item
    nsteps AS (SELECT name, jsonb_array_length(body -> 'steps')
                            + (SELECT count(*) FROM mapsteps) * (:items - 1) AS n
                 FROM saga_definitions),
    mi AS (SELECT i.* FROM saga_map_items i JOIN rs s ON s.id = i.saga_id),
    -- a started map step always has a row of its own (migration 021)
    ms AS (SELECT t.* FROM saga_step_rows t JOIN rs s ON s.id = t.saga_id
            WHERE t.step_name IN (SELECT name FROM mapsteps))
    SELECT jsonb_build_object(
      'sagas', (SELECT count(*) FROM rs),
      'by_status', (SELECT jsonb_object_agg(status, n) FROM (SELECT status, count(*) AS n
                     FROM rs GROUP BY 1) x),
      'unfinished', (SELECT count(*) FROM rs WHERE status IN ('running', 'compensating', 'stuck')),
      'terminal_entry_not_exactly_one', (SELECT count(*) FROM rs s LEFT JOIN term t ON t.saga_id = s.id
                     WHERE s.status NOT IN ('running', 'compensating', 'stuck') AND coalesce(t.n, 0) <> 1),
      'step_started_twice', (SELECT count(*) FROM per_step WHERE started > 1),
      'step_succeeded_twice', (SELECT count(*) FROM per_step WHERE succeeded > 1),
      'step_compensated_twice', (SELECT count(*) FROM per_step WHERE compensated > 1),
      'completed_sagas_missing_a_success', (
          SELECT count(*) FROM rs s JOIN nsteps d ON d.name = s.definition_name
            LEFT JOIN (SELECT saga_id, count(*) FILTER (WHERE succeeded = 1) AS n
                         FROM per_step GROUP BY 1) p ON p.saga_id = s.id
           WHERE s.status = 'completed' AND coalesce(p.n, 0) <> d.n),
      'map_item_rows', (SELECT count(*) FROM mi),
      'map_item_rows_expected', (SELECT count(*) FROM rs) * (SELECT count(*) FROM mapsteps) * :items,
      'map_items_not_succeeded_once', (SELECT count(*) FROM mi
                                        WHERE status <> 'succeeded' OR attempt <> 1),
      'map_steps_not_whole', (SELECT count(*) FROM ms
                               WHERE status <> 'succeeded' OR map_items IS DISTINCT FROM :items
                                  OR map_succeeded IS DISTINCT FROM :items
                                  OR jsonb_array_length(output) IS DISTINCT FROM :items),
      'map_results_out_of_order', (SELECT count(*) FROM ms, jsonb_array_elements(ms.output)
                                          WITH ORDINALITY AS e(v, n)
                                    WHERE e.v->>'command_id' IS DISTINCT FROM
                                          ms.saga_id || '/' || ms.step_name || '[' || (e.n - 1)
                                          || ']/action/1'),
      'outbox_left', (SELECT count(*) FROM outbox),
      'dead_letters', (SELECT count(*) FROM dead_letters),
      'replies_ignored', (SELECT count(*) FROM h WHERE kind = 'reply.ignored'),
      'commands_published', (SELECT count(*) FROM tap),
      'commands_published_twice', (SELECT count(*) - count(DISTINCT ce_id) FROM tap)))
) \g (format=unaligned tuples_only=on) :out

\pset fieldsep '\t'
\o :cdf
SELECT round((p * 100)::numeric, 1), round(v::numeric, 3)
  FROM unnest((SELECT percentile_cont((SELECT array_agg(x) FROM (
                 SELECT g / 200.0 AS x FROM generate_series(0, 199) g
                 UNION ALL SELECT unnest(ARRAY[0.9925, 0.995, 0.9975, 0.999, 1.0])) y))
               WITHIN GROUP (ORDER BY ms) FROM win))
       WITH ORDINALITY AS v(v, i)
  JOIN (SELECT row_number() OVER (ORDER BY x) AS i, x AS p FROM (
          SELECT g / 200.0 AS x FROM generate_series(0, 199) g
          UNION ALL SELECT unnest(ARRAY[0.9925, 0.995, 0.9975, 0.999, 1.0])) y) ps USING (i)
 ORDER BY 1;
\o
EOF
  } | "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$db" \
    -v tag="$tag" -v scen="$scen" -v mode="$mode" -v batch="$batch" -v rate="${rate:-0}" \
    -v warm="$warm" -v window="$window" -v cap_ms="${cap_ms:-0}" -v sent="${sent:-0}" \
    -v hwm="{${hwm_csv}}" -v procs="$PROCS" -v clk="$(getconf CLK_TCK)" -v ncpu="$(nproc)" \
    -v prefix="$prefix" -v defname="$SNAME" -v preload="$PRELOAD" -v items="$SITEMS" \
    -v sub="$SUB_WINDOW" -v c0="$c0" -v c1="$c1" \
    -v out="$dir/metrics.json" -v cdf="$dir/latency_cdf.tsv" \
    >"$dir/metrics.log" 2>&1 ||
    die "metrics failed: $dir/metrics.log"
  # the checks verdict, added here so that the SQL stays readable
  local ok
  ok=$("$PG_BIN/psql" -X -q -At -v doc="$(cat "$dir/metrics.json")" -d bench_results <<'EOF'
SELECT CASE WHEN d->>'mode' IN ('sweep', 'warmup') THEN
         (c->>'step_succeeded_twice')::int = 0 AND (c->>'step_started_twice')::int = 0
         AND (c->>'terminal_entry_not_exactly_one')::int = 0
       ELSE (c->>'sagas')::int = (d->>'sagas_sent')::int AND (c->>'unfinished')::int = 0
         AND (c->>'terminal_entry_not_exactly_one')::int = 0
         AND (c->>'step_started_twice')::int = 0 AND (c->>'step_succeeded_twice')::int = 0
         AND (c->>'step_compensated_twice')::int = 0
         AND (c->>'completed_sagas_missing_a_success')::int = 0
         AND (c->>'map_item_rows')::int = (c->>'map_item_rows_expected')::int
         AND (c->>'map_items_not_succeeded_once')::int = 0
         AND (c->>'map_steps_not_whole')::int = 0 AND (c->>'map_results_out_of_order')::int = 0
         AND (c->>'outbox_left')::int = 0 AND (c->>'dead_letters')::int = 0 END
  FROM (SELECT :'doc'::jsonb AS d) x, LATERAL (SELECT d->'checks' AS c) y
EOF
)
  "$PG_BIN/psql" -X -q -At -v doc="$(cat "$dir/metrics.json")" -v ok="$ok" -d bench_results \
    >"$dir/metrics.json.tmp" <<'EOF'
SELECT jsonb_set(:'doc'::jsonb, '{checks,ok}', to_jsonb(:'ok' = 't'));
EOF
  mv "$dir/metrics.json.tmp" "$dir/metrics.json"
}

summary_line() { # summary_line SECTION TAG
  get "SELECT format('run %s: %s%s steps/s (sub-windows %s), %s sagas/s over %s s; step latency p50 %s ms, p99 %s ms; outbox lag p50 %s ms; per step: WAL %s B, orchestrator %s us, postgres %s us; orchestrator %s cores, postgres %s, kafka %s, machine %s/%s; checks %s',
    name, coalesce((doc #>> '{map,items_per_s}') || ' map items/s, ', ''),
    doc->'throughput'->>'steps_per_s',
    coalesce('median ' || (doc #>> '{throughput,sub_windows,median}') || ', '
             || (doc #>> '{throughput,sub_windows,min}') || '-'
             || (doc #>> '{throughput,sub_windows,max}'), '-'),
    doc->'throughput'->>'sagas_per_s',
    doc->'window'->>'seconds', doc->'step_latency_ms'->>'p50', doc->'step_latency_ms'->>'p99',
    coalesce(doc->'outbox_lag_ms'->>'p50', '-'),
    coalesce(doc->'wal'->>'bytes_per_step', '-'), coalesce(doc->'cpu'->>'orchestrator_us_per_step', '-'),
    coalesce(doc->'cpu'->>'postgres_us_per_step', '-'),
    doc->'cpu'->'cores_used'->>'orchestrator', doc->'cpu'->'cores_used'->>'postgres',
    doc->'cpu'->'cores_used'->>'kafka', doc->'cpu'->'cores_used'->>'machine',
    doc->'cpu'->'cores_used'->>'of',
    CASE WHEN (doc->'checks'->>'ok')::bool THEN 'ok' ELSE 'FAILED' END)
    FROM results WHERE section = '$1' AND name = '$2'" | while read -r line; do say "$line"; done
}

# ------------------------------------------------------------ preload

# make_template: a database with the schema and PRELOAD completed sagas of a
# definition of their own (bench_history: 3 steps, 4 history transitions of
# 8 entries and 4 inbox ids each), vacuumed and analyzed, that every run's
# database is copied from.  A production database is not empty: tables of some size,
# with statistics, make the planner and the indexes work as they will there.
TEMPLATE_DB=""
make_template() {
  local db=bench_${RUNID}_template dsn t0
  ((PRELOAD > 0)) || return 0
  t0=$(date +%s)
  say "template database: $PRELOAD completed sagas of bench_history (3 steps each)"
  q postgres "CREATE DATABASE $db" >/dev/null
  dsn=$(dsn_for "$db")
  ORC_PG_DSN=$dsn "$ORCH" migrate >"$OUT/template.log" 2>&1 || die "migrate failed: $OUT/template.log"
  sed 's/"name": "bench_seq3"/"name": "bench_history"/; s/"bench_seq3\./"bench_history./g;
       s/"topic": "bench\./"topic": "bench.preload./' "$HERE/definitions/bench_seq3.json" \
    >"$OUT/bench_history.json"
  ORC_PG_DSN=$dsn "$ORCH" definitions load "$OUT/bench_history.json" >>"$OUT/template.log" 2>&1 ||
    die "definitions load failed: $OUT/template.log"
  PGOPTIONS="-c search_path=orchestrator" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$db" \
    -v n="$PRELOAD" >>"$OUT/template.log" 2>&1 <<'EOF' || die "preload failed: $OUT/template.log"
INSERT INTO sagas (id, definition_name, definition_version, business_key, status, context,
                   version, created_at, updated_at, finished_at, completion_seq)
SELECT md5('preload-' || i)::uuid, 'bench_history', 1, 'preload-' || i, 'completed',
       jsonb_build_object(
         'input', jsonb_build_object('id', 'preload-' || i, 'total', i, 'customer', 'c-42',
                                     'currency', 'EUR', 'sent_ms', 0),
         'saga', jsonb_build_object('id', md5('preload-' || i)::uuid, 'key', 'preload-' || i,
                                    'name', 'bench_history', 'version', 1),
         'steps', jsonb_build_object(
           'reserve', jsonb_build_object('command_id', md5('preload-' || i)::uuid || '/reserve/action/1',
                        'command_type', 'bench_history.reserve', 'responder', 'responder',
                        'ref', 'bench_history.reserve:' || md5('preload-' || i)::uuid),
           'charge', jsonb_build_object('command_id', md5('preload-' || i)::uuid || '/charge/action/1',
                        'command_type', 'bench_history.charge', 'responder', 'responder',
                        'ref', 'bench_history.charge:' || md5('preload-' || i)::uuid),
           'ship', jsonb_build_object('command_id', md5('preload-' || i)::uuid || '/ship/action/1',
                        'command_type', 'bench_history.ship', 'responder', 'responder',
                        'ref', 'bench_history.ship:' || md5('preload-' || i)::uuid))),
       4, t, t + interval '80 ms', t + interval '80 ms', 3
  FROM generate_series(1, :n) AS i,
       LATERAL (SELECT now() - interval '2 days' + i * interval '1 ms' AS t) AS x;
INSERT INTO saga_step_rows (saga_id, step_name, step_index, status, attempt, started_at, finished_at,
                        completed_seq)
SELECT s.id, st.name, st.idx, 'succeeded', 1, s.created_at + st.idx * interval '25 ms',
       s.created_at + (st.idx + 1) * interval '25 ms', st.idx + 1
  FROM sagas s, (VALUES ('reserve', 0), ('charge', 1), ('ship', 2)) AS st(name, idx)
 WHERE s.definition_name = 'bench_history';
-- one row per transition (migration 020): the trigger, then each reply
-- with what it did next
INSERT INTO saga_transitions (saga_id, at, kind, step_name, event_id, detail, more)
SELECT s.id, s.created_at + k.n * interval '25 ms', k.kind, k.step, 'preload-' || k.n,
       CASE WHEN k.step IS NULL THEN '{}'::jsonb
            ELSE '{"attempt": 1, "type": "service.succeeded"}'::jsonb END,
       jsonb_build_array(CASE WHEN k.next IS NULL
                              THEN '{"kind": "saga.completed", "step": null, "detail": {}}'::jsonb
                              ELSE jsonb_build_object('kind', 'step.started', 'step', k.next,
                                                      'detail', '{"attempt": 1}'::jsonb) END)
  FROM sagas s,
       (VALUES (0, 'saga.started', NULL, 'reserve'), (1, 'step.succeeded', 'reserve', 'charge'),
               (2, 'step.succeeded', 'charge', 'ship'),
               (3, 'step.succeeded', 'ship', NULL)) AS k(n, kind, step, next)
 WHERE s.definition_name = 'bench_history'
 ORDER BY s.created_at, k.n;
INSERT INTO inbox (consumer, message_id, received_at)
SELECT 'preload', '/responder/responder preload-' || s.business_key || '-' || g, s.created_at
  FROM sagas s, generate_series(0, 3) AS g
 WHERE s.definition_name = 'bench_history';
VACUUM (FREEZE, ANALYZE);
EOF
  TEMPLATE_DB=$db
  say "template database ready in $(($(date +%s) - t0)) s ($(q postgres \
    "SELECT pg_size_pretty(pg_database_size('$db'))"))"
}

# ------------------------------------------------------------ warm-up

# warm_stack: throw-away runs of scenario (a) (mode warmup: closed loop,
# time-boxed, databases and topics of their own), one after the other, until
# two in a row agree on steps/s within 10% (at most WARMUP_STACK_TRIES runs,
# no new one after WARMUP_STACK seconds), each measured after the same
# warm-up as a scenario run (the closed loop's ramp).  A fresh stack is slow at first -
# the broker's JVM compiles its hot paths, PostgreSQL's and the kernel's
# caches fill - and whichever run came first would pay for it.  The figures
# and whether they became steady go into meta.warmup_stack.
warm_stack() {
  local t0 i cur prev="" steady=false figures=()
  ((WARMUP_STACK > 0)) || return 0
  t0=$(date +%s)
  say "warming up the stack: scenario (a) in ${WARMUP_STACK_WINDOW}s windows until steady (at most $WARMUP_STACK_TRIES, ${WARMUP_STACK}s)"
  for ((i = 1; i <= WARMUP_STACK_TRIES; i++)); do
    run_one "warmup-$i" a warmup "$BATCH" ""
    cur=$(get "SELECT coalesce(doc->'throughput'->>'steps_per_s', '0') FROM results
                WHERE section = 'warmup' AND name = 'warmup-$i'")
    figures+=("$cur")
    if [[ -n $prev ]] && awk -v a="$prev" -v b="$cur"       'BEGIN { m = a > b ? a : b; d = a > b ? a - b : b - a; exit !(m > 0 && d <= 0.1 * m) }'; then
      steady=true
    fi
    say "warm-up window $i: $cur steps/s ($([[ $steady == true ]] && echo "steady: within 10% of the one before" || echo "not steady yet"))"
    [[ $steady == true ]] && break
    (($(date +%s) - t0 < WARMUP_STACK)) || break
    prev=$cur
  done
  [[ $steady == true ]] || say "warning: the stack did not become steady in the warm-up (${figures[*]} steps/s)"
  "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d bench_results \
    -v doc="{\"window_s\": $WARMUP_STACK_WINDOW, \"steps_per_s\": [$(IFS=,; echo "${figures[*]}")], \"steady\": $steady, \"seconds\": $(($(date +%s) - t0))}" <<'EOF'
UPDATE results SET doc = doc || jsonb_build_object('warmup_stack', :'doc'::jsonb)
 WHERE section = 'meta';
EOF
}

# ------------------------------------------------------------ pgbench

pgbench_all() {
  local db=bench_pgbench f c tps lat steps per j
  say "pgbench: setting up $INSTANCES instance rows"
  q postgres "CREATE DATABASE $db" >/dev/null
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$db" -v instances="$INSTANCES" \
    -f "$HERE/pgbench/setup.sql" >/dev/null 2>&1 || die "pgbench setup failed"
  for f in step_single step_set50; do
    per=1
    [[ $f == step_set50 ]] && per=50
    for c in 1 16; do
      q "$db" "TRUNCATE b_outbox, b_inbox" >/dev/null
      q "$db" "VACUUM ANALYZE b_instance" >/dev/null
      q "$db" "CHECKPOINT" >/dev/null
      j=$((c < $(nproc) ? c : $(nproc)))
      "$PG_BIN/pgbench" -n -M prepared -c "$c" -j "$j" -T "$PGBENCH_S" \
        -D instances="$INSTANCES" -f "$HERE/pgbench/$f.sql" "$db" \
        >"$OUT/pgbench-$f-$c.txt" 2>&1 || die "pgbench failed: $OUT/pgbench-$f-$c.txt"
      tps=$(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' "$OUT/pgbench-$f-$c.txt")
      lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$OUT/pgbench-$f-$c.txt")
      steps=$(awk -v t="$tps" -v p="$per" 'BEGIN { printf "%.1f", t * p }')
      printf '{"script": "%s", "clients": %d, "steps_per_transaction": %d, "seconds": %d,
 "tps": %s, "steps_per_s": %s, "latency_avg_ms": %s}\n' \
        "$f.sql" "$c" "$per" "$PGBENCH_S" "$tps" "$steps" "${lat:-null}" >"$OUT/pgbench-$f-$c.json"
      put pgbench "$f-$c" "$OUT/pgbench-$f-$c.json"
      say "pgbench $f.sql, $c clients: $tps TPS = $steps steps/s (latency avg ${lat:-?} ms)"
    done
  done
  q postgres "DROP DATABASE $db" >/dev/null
}

# ------------------------------------------------------------ report

report() {
  "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d bench_results \
    -v out="$OUT/results.json" -v quick="$QUICK" \
    -v t_steps="$TARGET_STEPS" -v t_p50="$TARGET_P50" -v t_p99="$TARGET_P99" \
    -v t_lag="$TARGET_LAG50" -v t_rss="$TARGET_RSS_MB" -v t_pg_us="$TARGET_PG_US" \
    -v t_wal="$TARGET_WAL_B" -v t_orch_us="$TARGET_ORCH_US" -v t_set16="$TARGET_OVER_SET16" <<'EOF'
CREATE TEMP VIEW r AS SELECT name, doc FROM results WHERE section = 'run';
CREATE TEMP VIEW set16 AS  -- the set-based pgbench ceiling, 16 clients
SELECT (doc->>'steps_per_s')::numeric AS steps_per_s FROM results
 WHERE section = 'pgbench' AND name = 'step_set50-16';
CREATE TEMP VIEW best AS   -- per scenario: the throughput and the latency run
SELECT doc->>'scenario' AS scen, doc->>'mode' AS mode, doc FROM r WHERE doc->>'mode' <> 'sweep';
SELECT jsonb_pretty(jsonb_build_object(
  'meta', (SELECT doc FROM results WHERE section = 'meta'),
  'definitions', (SELECT doc FROM results WHERE section = 'definitions'),
  'targets', jsonb_build_object('steps_per_s', :t_steps, 'latency_p50_ms', :t_p50,
                                'latency_p99_ms', :t_p99, 'outbox_lag_p50_ms', :t_lag,
                                'rss_mb', :t_rss, 'postgres_us_per_step', :t_pg_us,
                                'wal_bytes_per_step', :t_wal, 'orchestrator_us_per_step', :t_orch_us,
                                'steps_per_s_over_pgbench_set50_16', :t_set16),
  'pgbench', (SELECT jsonb_object_agg(name, doc) FROM results WHERE section = 'pgbench'),
  'kafka_echo', (SELECT doc FROM results WHERE section = 'kafka_echo'),
  'sweep', (SELECT jsonb_agg(doc ORDER BY (doc->>'batch_size')::int) FROM r WHERE doc->>'mode' = 'sweep'),
  'scenarios', (SELECT jsonb_object_agg(scen, x) FROM (
                  SELECT scen, jsonb_object_agg(mode, doc) AS x FROM best GROUP BY scen) y),
  'ratios', (
    SELECT jsonb_object_agg(scen, jsonb_build_object(
      'steps_per_s_over_pgbench_single_16', round((t.doc->'throughput'->>'steps_per_s')::numeric
          / nullif((SELECT (doc->>'steps_per_s')::numeric FROM results
                     WHERE section = 'pgbench' AND name = 'step_single-16'), 0), 3),
      'steps_per_s_over_pgbench_set50_1', round((t.doc->'throughput'->>'steps_per_s')::numeric
          / nullif((SELECT (doc->>'steps_per_s')::numeric FROM results
                     WHERE section = 'pgbench' AND name = 'step_set50-1'), 0), 3),
      'steps_per_s_over_pgbench_set50_16', round((t.doc->'throughput'->>'steps_per_s')::numeric
          / nullif((SELECT steps_per_s FROM set16), 0), 3),
      'latency_p50_over_kafka_echo_p50', round((l.doc->'step_latency_ms'->>'p50')::numeric
          / nullif((SELECT (doc->'latency'->'round_trip_ms'->>'p50')::numeric FROM results
                     WHERE section = 'kafka_echo'), 0), 2),
      'latency_p99_over_kafka_echo_p99', round((l.doc->'step_latency_ms'->>'p99')::numeric
          / nullif((SELECT (doc->'latency'->'round_trip_ms'->>'p99')::numeric FROM results
                     WHERE section = 'kafka_echo'), 0), 2)))
      FROM (SELECT scen, doc FROM best WHERE mode = 'throughput') t
      FULL JOIN (SELECT scen, doc FROM best WHERE mode = 'latency') l USING (scen)),
  'verdict', (
    SELECT jsonb_object_agg(scen, jsonb_build_object(
      'steps_per_s', jsonb_build_object('value', (t.doc->'throughput'->>'steps_per_s')::numeric,
          'target', :t_steps, 'met', (t.doc->'throughput'->>'steps_per_s')::numeric >= :t_steps),
      'latency_p50_ms', jsonb_build_object('value', (l.doc->'step_latency_ms'->>'p50')::numeric,
          'target', :t_p50, 'met', (l.doc->'step_latency_ms'->>'p50')::numeric <= :t_p50),
      'latency_p99_ms', jsonb_build_object('value', (l.doc->'step_latency_ms'->>'p99')::numeric,
          'target', :t_p99, 'met', (l.doc->'step_latency_ms'->>'p99')::numeric <= :t_p99),
      'outbox_lag_p50_ms', jsonb_build_object('value', (l.doc->'outbox_lag_ms'->>'p50')::numeric,
          'target', :t_lag, 'met', (l.doc->'outbox_lag_ms'->>'p50')::numeric <= :t_lag),
      'rss_mb', jsonb_build_object('value', greatest((t.doc->'rss'->>'max_mb')::numeric,
                                                     (l.doc->'rss'->>'max_mb')::numeric),
          'target', :t_rss, 'met', greatest((t.doc->'rss'->>'max_mb')::numeric,
                                            (l.doc->'rss'->>'max_mb')::numeric) <= :t_rss),
      'postgres_us_per_step', jsonb_build_object('value', (t.doc->'cpu'->>'postgres_us_per_step')::numeric,
          'target', :t_pg_us, 'met', (t.doc->'cpu'->>'postgres_us_per_step')::numeric <= :t_pg_us),
      'wal_bytes_per_step', jsonb_build_object('value', (t.doc->'wal'->>'bytes_per_step')::numeric,
          'target', :t_wal, 'met', (t.doc->'wal'->>'bytes_per_step')::numeric <= :t_wal),
      'orchestrator_us_per_step', jsonb_build_object(
          'value', (t.doc->'cpu'->>'orchestrator_us_per_step')::numeric, 'target', :t_orch_us,
          'met', (t.doc->'cpu'->>'orchestrator_us_per_step')::numeric <= :t_orch_us),
      'steps_per_s_over_pgbench_set50_16', jsonb_build_object(
          'value', round((t.doc->'throughput'->>'steps_per_s')::numeric
                         / nullif((SELECT steps_per_s FROM set16), 0), 3),
          'target', :t_set16,
          'met', (t.doc->'throughput'->>'steps_per_s')::numeric
                 / nullif((SELECT steps_per_s FROM set16), 0) >= :t_set16),
      'checks_ok', coalesce((t.doc->'checks'->>'ok')::bool, true)
                   AND coalesce((l.doc->'checks'->>'ok')::bool, true)))
      FROM (SELECT scen, doc FROM best WHERE mode = 'throughput') t
      FULL JOIN (SELECT scen, doc FROM best WHERE mode = 'latency') l USING (scen))
)) \g (format=unaligned tuples_only=on) :out
EOF
}

print_table() {
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d bench_results -v quick="$QUICK" <<'EOF'
\pset pager off
\pset footer off
-- a target's cell: its value and ok or MISS ("-" when not measured)
CREATE FUNCTION pg_temp.verdict(v jsonb) RETURNS text LANGUAGE sql AS $$
  SELECT CASE WHEN v->>'value' IS NULL THEN '-'
              ELSE format('%s %s', v->>'value', CASE WHEN (v->>'met')::bool THEN 'ok' ELSE 'MISS' END) END
$$;
-- the orchestrator's cores: with more than one process, each one's too
CREATE FUNCTION pg_temp.orch_cores(c jsonb) RETURNS text LANGUAGE sql AS $$
  SELECT CASE WHEN jsonb_typeof(c->'orchestrator_per_process') IS DISTINCT FROM 'array'
                THEN c->>'orchestrator'
              WHEN jsonb_array_length(c->'orchestrator_per_process') < 2 THEN c->>'orchestrator'
              ELSE format('%s (%s)', c->>'orchestrator',
                          (SELECT string_agg(x, '+' ORDER BY o)
                             FROM jsonb_array_elements_text(c->'orchestrator_per_process')
                                  WITH ORDINALITY AS e(x, o))) END
$$;
\echo
\echo '== machine limits =='
SELECT name AS run, doc->>'script' AS script, doc->>'clients' AS clients,
       doc->>'tps' AS tps, doc->>'steps_per_s' AS "steps/s", doc->>'latency_avg_ms' AS "latency ms"
  FROM results WHERE section = 'pgbench' ORDER BY name;
SELECT 'kafka echo' AS run,
       doc->'throughput'->>'msgs_per_s' AS "round trips/s (max)",
       doc->'latency'->>'rate' AS "at msg/s",
       doc->'latency'->'round_trip_ms'->>'p50' AS "rtt p50 ms",
       doc->'latency'->'round_trip_ms'->>'p99' AS "rtt p99 ms",
       doc->'latency'->'one_hop_ms'->>'p50' AS "hop p50 ms"
  FROM results WHERE section = 'kafka_echo';
\echo '== batch size sweep: scenario (a), closed loop =='
SELECT doc->>'batch_size' AS batch, doc->'throughput'->>'steps_per_s' AS "steps/s",
       doc->'throughput'->>'sagas_per_s' AS "sagas/s", doc->'throughput'->>'events_per_s' AS "events/s",
       doc->'window'->>'seconds' AS "window s", doc->'throughput'->>'events_per_transaction' AS "ev/txn",
       doc->'cpu'->>'postgres_us_per_step' AS "pg us/st", doc->'cpu'->>'orchestrator_us_per_step' AS "orch us/st",
       doc->'wal'->>'bytes_per_step' AS "WAL B/st",
       pg_temp.orch_cores(doc->'cpu'->'cores_used') AS "orch cores",
       doc->'cpu'->'cores_used'->>'postgres' AS "pg cores",
       doc->'cpu'->'cores_used'->>'other' AS "other cores",
       doc->'cpu'->'cores_used'->>'machine' AS "machine cores"
  FROM results WHERE section = 'run' AND doc->>'mode' = 'sweep'
 ORDER BY (doc->>'batch_size')::int;
\echo '== scenarios =='
SELECT doc->>'scenario' AS sc, doc->>'mode' AS mode,
       coalesce(doc->>'offered_sagas_per_s', 'max') AS "offered/s",
       doc->'throughput'->>'steps_per_s' AS "steps/s",
       doc #>> '{throughput,sub_windows,median}' AS "sub med",
       (doc #>> '{throughput,sub_windows,min}') || '-' || (doc #>> '{throughput,sub_windows,max}') AS "sub min-max",
       round(100 * (doc #>> '{throughput,sub_windows,spread}')::numeric, 1) AS "spread %",
       doc->'throughput'->>'sagas_per_s' AS "sagas/s",
       doc->'window'->>'seconds' AS "win s",
       doc->'step_latency_ms'->>'p50' AS "lat p50", doc->'step_latency_ms'->>'p95' AS "p95",
       doc->'step_latency_ms'->>'p99' AS "p99",
       doc->'outbox_lag_ms'->>'p50' AS "lag p50", doc->'outbox_lag_ms'->>'p99' AS "lag p99",
       doc->'rss'->>'max_mb' AS "RSS MB",
       doc->'cpu'->>'orchestrator_us_per_step' AS "orch us/st",
       doc->'cpu'->>'postgres_us_per_step' AS "pg us/st",
       pg_temp.orch_cores(doc->'cpu'->'cores_used') AS "orch", doc->'cpu'->'cores_used'->>'postgres' AS "pg",
       doc->'cpu'->'cores_used'->>'kafka' AS "kafka", doc->'cpu'->'cores_used'->>'other' AS "other",
       doc->'cpu'->'cores_used'->>'machine' AS "all",
       doc->'throughput'->>'events_per_transaction' AS "ev/txn",
       CASE WHEN (doc->'checks'->>'ok')::bool THEN 'ok' ELSE 'FAIL' END AS checks
  FROM results WHERE section = 'run' AND doc->>'mode' <> 'sweep'
 ORDER BY doc->>'scenario', doc->>'mode' DESC;
\echo '(sub = steps/s of the window''s sub-windows: median, min-max, spread = (max-min)/median;'
\echo ' lat = step latency, lag = outbox lag, in ms; us/st = CPU microseconds per step (orchestrator, postgres);'
\echo ' orch/pg/kafka/other/all = cores busy of 2, "other" = not ours (feeder, other tenants); ev/txn = events per apply transaction)'
\echo
\echo '== per step: WAL (cluster-wide, load start -> orchestrators stopped), CPU, HOT updates =='
SELECT doc->>'scenario' AS sc, doc->>'mode' AS mode, doc->'throughput'->>'steps_per_s' AS "steps/s",
       doc->'wal'->>'bytes_per_step' AS "WAL B/step", doc->'wal'->>'records_per_step' AS "records/step",
       doc->'wal'->>'fpi_per_step' AS "FPI/step",
       round((doc->'wal'->>'bytes_per_saga')::numeric / 1024, 2) AS "WAL KB/saga",
       doc->'cpu'->>'postgres_us_per_step' AS "pg us/step",
       doc->'cpu'->>'orchestrator_us_per_step' AS "orch us/step",
       pg_temp.orch_cores(doc->'cpu'->'cores_used') AS "orch cores",
       format('%s of %s', doc->'hot'->'sagas'->>'ratio', doc->'hot'->'sagas'->>'updates') AS "HOT sagas",
       format('%s of %s', doc->'hot'->'saga_steps'->>'ratio', doc->'hot'->'saga_steps'->>'updates') AS "HOT saga_steps"
  FROM results WHERE section = 'run' AND doc->>'mode' <> 'sweep'
 ORDER BY doc->>'scenario', doc->>'mode' DESC;
\echo '(HOT = share of the updates of the table that were heap-only, of that many updates, in the run''s database)'
\echo
SELECT count(*) > 0 AS has_map FROM results
 WHERE section = 'run' AND jsonb_typeof(doc->'map') = 'object' \gset
\if :has_map
\echo '== map scenarios: items (a map item is a step in every table above; here the items alone) =='
SELECT doc->>'scenario' AS sc, doc->>'mode' AS mode,
       coalesce(doc->>'offered_sagas_per_s', 'max') AS "offered sagas/s",
       doc->'map'->>'items_per_s' AS "items/s", doc->'throughput'->>'steps_per_s' AS "steps/s",
       doc->'throughput'->>'sagas_per_s' AS "sagas/s", doc->'map'->>'items_per_saga' AS "items/saga",
       doc->'map'->>'sagas_in_flight' AS "sagas in flight", doc->'map'->>'items_in_flight' AS "items",
       doc->'map'->'item_latency_ms'->>'p50' AS "item lat p50",
       doc->'map'->'item_latency_ms'->>'p99' AS "p99",
       doc->'saga_duration_ms'->>'p50' AS "saga ms p50", doc->'saga_duration_ms'->>'p99' AS "p99",
       doc->'map'->>'wal_bytes_per_item' AS "WAL B/item",
       round((doc->'wal'->>'bytes_per_saga')::numeric / 1024, 1) AS "WAL KB/saga",
       doc->'map'->>'postgres_us_per_item' AS "pg us/item",
       doc->'map'->>'orchestrator_us_per_item' AS "orch us/item",
       pg_temp.orch_cores(doc->'cpu'->'cores_used') AS "orch cores",
       doc->'cpu'->'cores_used'->>'postgres' AS "pg cores",
       format('%s of %s', doc->'checks'->>'map_item_rows', doc->'checks'->>'map_item_rows_expected') AS "item rows",
       CASE WHEN (doc->'checks'->>'ok')::bool THEN 'ok' ELSE 'FAIL' END AS checks
  FROM results WHERE section = 'run' AND jsonb_typeof(doc->'map') = 'object'
 ORDER BY doc->>'scenario', doc->>'mode' DESC;
\echo '(items/s = map items answered and applied per second; in flight = mean over the window (Little''s law);'
\echo ' item lat = an item''s command commit -> its reply''s commit, in ms; item rows = saga_map_items rows of the run, of sagas x items;'
\echo ' checks also: every item succeeded at its first attempt, each map''s output has its items in input order)'
\echo
\endif
\echo '== where an action step''s latency goes (latency runs; p50 / mean, ms) =='
SELECT doc->>'scenario' AS sc, doc->>'mode' AS mode,
       format('%s / %s', doc->'step_latency_ms'->>'p50', doc->'step_latency_ms'->>'mean') AS "step latency",
       format('%s / %s', doc->'step_latency_parts_ms'->'outbox_lag'->>'p50',
              doc->'step_latency_parts_ms'->'outbox_lag'->>'mean') AS "commit -> command appended",
       format('%s / %s', doc->'step_latency_parts_ms'->'service'->>'p50',
              doc->'step_latency_parts_ms'->'service'->>'mean') AS "-> reply appended",
       format('%s / %s', doc->'step_latency_parts_ms'->'reply_to_batch'->>'p50',
              doc->'step_latency_parts_ms'->'reply_to_batch'->>'mean') AS "-> batch starts",
       format('%s / %s', doc->'step_latency_parts_ms'->'apply_transaction'->>'p50',
              doc->'step_latency_parts_ms'->'apply_transaction'->>'mean') AS "-> committed",
       doc->'throughput'->>'events_per_transaction' AS "ev/txn"
  FROM results WHERE section = 'run' AND doc->>'mode' = 'latency' ORDER BY 1;
\echo '== against the targets (throughput run: steps/s, RSS, per step; latency run at 50% load: latency, lag) =='
SELECT k AS scenario,
       pg_temp.verdict(v->'steps_per_s') AS ">= 10000 steps/s",
       pg_temp.verdict(v->'steps_per_s_over_pgbench_set50_16') AS ">= 0.25 set-based pgbench (16)",
       pg_temp.verdict(v->'latency_p50_ms') AS "p50 <= 10 ms",
       pg_temp.verdict(v->'latency_p99_ms') AS "p99 <= 50 ms",
       pg_temp.verdict(v->'outbox_lag_p50_ms') AS "lag p50 <= 3 ms",
       pg_temp.verdict(v->'rss_mb') AS "RSS <= 32 MB",
       pg_temp.verdict(v->'postgres_us_per_step') AS "pg <= 80 us/step",
       pg_temp.verdict(v->'wal_bytes_per_step') AS "WAL <= 1536 B/step",
       pg_temp.verdict(v->'orchestrator_us_per_step') AS "orch <= 30 us/step",
       CASE WHEN (v->>'checks_ok')::bool THEN 'ok' ELSE 'FAIL' END AS "no loss/dup"
  FROM results, jsonb_each(doc->'verdict') AS e(k, v) WHERE section = 'final' ORDER BY 1;
\echo '== ratios =='
SELECT k AS scenario,
       v->>'steps_per_s_over_pgbench_single_16' AS "steps/s / pgbench 1-step (16 cl)",
       v->>'steps_per_s_over_pgbench_set50_1' AS "/ set-based (1 cl)",
       v->>'steps_per_s_over_pgbench_set50_16' AS "/ set-based (16 cl)",
       v->>'latency_p50_over_kafka_echo_p50' AS "p50 / echo p50",
       v->>'latency_p99_over_kafka_echo_p99' AS "p99 / echo p99"
  FROM results, jsonb_each(doc->'ratios') AS e(k, v) WHERE section = 'final' ORDER BY 1;
EOF
}

charts() {
  local sweep=$OUT/sweep.tsv cdfs=() s
  get "SELECT doc->>'batch_size', doc->'throughput'->>'steps_per_s', doc->'throughput'->>'events_per_s',
              doc->'throughput'->>'sagas_per_s'
         FROM results WHERE section = 'run' AND doc->>'mode' = 'sweep'
        ORDER BY (doc->>'batch_size')::int" | tr '|' '\t' >"$sweep"
  for s in a b c d; do
    if [[ -s $OUT/runs/$s-latency/latency_cdf.tsv ]]; then
      cdfs+=("$OUT/runs/$s-latency/latency_cdf.tsv|$(scenario_title "$s")")
    fi
  done
  local refs
  refs=$(get "SELECT concat_ws(' ',
      coalesce((SELECT doc->>'steps_per_s' FROM results WHERE section = 'pgbench' AND name = 'step_single-16'), '0'),
      coalesce((SELECT doc->>'steps_per_s' FROM results WHERE section = 'pgbench' AND name = 'step_set50-1'), '0'))")
  if ! command -v gnuplot >/dev/null; then
    say "warning: gnuplot not installed, no charts"
    return 0
  fi
  gnuplot -e "sweep='$sweep'; out_sweep='$OUT/throughput-vs-batch.png'; \
    out_lat='$OUT/latency.png'; target=$TARGET_STEPS; \
    pg_single=${refs% *}; pg_set=${refs#* }; \
    cdf1='$(cut -d'|' -f1 <<<"${cdfs[0]:-}")'; title1='$(cut -d'|' -f2 <<<"${cdfs[0]:-}")'; \
    cdf2='$(cut -d'|' -f1 <<<"${cdfs[1]:-}")'; title2='$(cut -d'|' -f2 <<<"${cdfs[1]:-}")'; \
    cdf3='$(cut -d'|' -f1 <<<"${cdfs[2]:-}")'; title3='$(cut -d'|' -f2 <<<"${cdfs[2]:-}")'; \
    cdf4='$(cut -d'|' -f1 <<<"${cdfs[3]:-}")'; title4='$(cut -d'|' -f2 <<<"${cdfs[3]:-}")'; \
    echo_cdf='$OUT/kafka-echo-cdf.tsv'" \
    "$HERE/plot.gnuplot" 2>"$OUT/gnuplot.log" || say "warning: gnuplot failed: $OUT/gnuplot.log"
}

# ------------------------------------------------------------ main (inside)

inside() {
  [[ -n ${ORC_PG_DSN:-} && -n ${ORC_KAFKA_BROKERS:-} && -n ${ORC_STACK_DIR:-} ]] ||
    die "no stack in the environment (ORC_PG_DSN, ORC_KAFKA_BROKERS, ORC_STACK_DIR)"
  export PGHOST PGPORT PGUSER
  BASE_DSN=$ORC_PG_DSN
  OUT=$OUT_BASE/$(date -u +%Y%m%dT%H%M%SZ)
  RUNID=r$(date -u +%H%M%S) # names this run's databases and topics
  mkdir -p "$OUT/runs"
  exec 2> >(tee -a "$OUT/bench.log" >&2)
  trap cleanup EXIT
  set -E
  trap 'say "error: line $LINENO: $BASH_COMMAND (status $?)"' ERR
  trap 'exit 130' INT
  trap 'exit 143' TERM
  local t0 s
  t0=$(date +%s)
  say "results in $OUT (quick=$QUICK, window ${WINDOW}s after ${WARMUP}s warm-up, $PROCS orchestrator process(es))"

  # commit timestamps (and, when profiling, pg_stat_statements) need a restart
  q postgres "ALTER SYSTEM SET track_commit_timestamp = on" >/dev/null
  if [[ $PROFILE == 1 ]]; then
    q postgres "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" >/dev/null
  fi
  say "restarting postgresql (track_commit_timestamp = on)"
  restart_pg
  q postgres "CREATE DATABASE bench_results" >/dev/null 2>&1 || true
  q bench_results "CREATE TABLE IF NOT EXISTS results (section text, name text, doc jsonb,
                   PRIMARY KEY (section, name)); TRUNCATE results" >/dev/null

  # what ran where
  {
    printf '{"started": "%s", "quick": %s, "window_s": %s, "warmup_s": %s,' \
      "$(date -u +%FT%TZ)" "$([[ $QUICK == 1 ]] && echo true || echo false)" "$WINDOW" "$WARMUP"
    printf ' "sweep_window_s": %s, "procs": %s, "batch_size": "%s", "latency_load": %s,' \
      "$SWEEP_WINDOW" "$PROCS" "${BATCH:-default}" "$LOAD"
    printf ' "sub_window_s": %s, "warmup_stack_s": %s, "warmup_stack_window_s": %s,' \
      "$SUB_WINDOW" "$WARMUP_STACK" "$WARMUP_STACK_WINDOW"
    printf ' "db_setup_sql": "%s", "build_dir": "%s", "preloaded_sagas": %s,' \
      "${BENCH_DB_SETUP_SQL:-}" "$BUILD" "$PRELOAD"
    printf ' "git": "%s", "orchestrator": "%s", "malloc": "%s",' \
      "$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)" \
      "$("$ORCH" version 2>/dev/null | head -n1 | tr -d '"')" \
      "$("$ORCH" version 2>/dev/null | sed -n 's/^malloc //p' | tr -d '"')"
    printf ' "cpu": "%s", "cores": %s, "mem_gb": %s, "kernel": "%s",' \
      "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)" "$(nproc)" \
      "$(awk '/MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)" "$(uname -r)"
    printf ' "loadavg_at_start": "%s",' "$(cut -d' ' -f1-3 /proc/loadavg)"
    printf ' "postgres": %s, "kafka": "3.9.1 (deploy/local/stack.sh)", "profile": %s}\n' \
      "$(q postgres "SELECT jsonb_build_object('version', current_setting('server_version'),
          'synchronous_commit', current_setting('synchronous_commit'), 'fsync', current_setting('fsync'),
          'shared_buffers', current_setting('shared_buffers'), 'wal_sync_method', current_setting('wal_sync_method'),
          'track_commit_timestamp', current_setting('track_commit_timestamp'),
          'max_wal_size', current_setting('max_wal_size'))")" \
      "$([[ $PROFILE == 1 ]] && echo true || echo false)"
  } >"$OUT/meta.json"
  put meta meta "$OUT/meta.json"
  cat >"$OUT/definitions.json" <<'EOF'
{"window": "[first saga.started commit + warm-up, + window], cut at the end of the offered load",
 "step": "a command answered and applied: step.succeeded, step.failed or compensation.succeeded committed in the window",
 "saga": "a terminal history entry (saga.completed, saga.compensated, saga.failed) committed in the window",
 "map_item": "scenario (d): each item of a map step is a step of its own (its step.started / step.succeeded entries carry the item; its latency, outbox lag and checks are per item); the map's own entries (started, succeeded) are no command and are not counted; map.items_per_s counts the items' step.succeeded entries committed in the window, map.*_per_item divide WAL and CPU by items instead of steps (a saga of (d) has 100 items and 1 other step)",
 "step_latency": "PostgreSQL commit timestamp of the transition that wrote the command to the outbox (its step.started or compensation.started history row) -> commit timestamp of the transition that applied the reply; steps whose reply was applied in the window",
 "outbox_lag": "commit timestamp of the command's transition -> broker LogAppendTime of the command message (+0.5 ms for the whole-ms broker clock); commands committed in the window",
 "trigger_to_start": "loadgen's wall clock when it produced the trigger -> commit of saga.started",
 "step_latency_parts": "action steps whose reply was applied in the window: outbox_lag = command commit -> command LogAppendTime; service = command LogAppendTime -> reply LogAppendTime; reply_to_batch = reply LogAppendTime -> saga_transitions.at of the applying batch (the worker's clock when it began applying the batch); apply_transaction = that -> the batch's commit timestamp",
 "apply_transaction": "per apply transaction with history rows committed in the window: commit timestamp - saga_transitions.at (the worker's clock when it began applying the batch)",
 "commit_timestamp": "pg_xact_commit_timestamp(xmin) of saga_transitions rows (track_commit_timestamp = on); taken when the commit record is written, before its WAL flush",
 "throughput_load": "closed loop: a backlog of about 0.25 s of recent saga starts (at least 50) is kept on the trigger topic",
 "latency_load": "open loop: loadgen --rate at latency_load x the sagas/s of the throughput run",
 "cpu": "utime+stime from /proc/<pid>/stat over the samples (0.5 s apart) enclosing the window; postgres = postmaster + children",
 "sub_windows": "the window cut into whole sub-windows of sub_windows.seconds (a partial last one left out): steps/s of each, median, min, max, spread = (max - min) / median",
 "cpu_per_step": "orchestrator_us_per_step, postgres_us_per_step: CPU microseconds over the samples enclosing the window / steps applied between those samples; cores_used.orchestrator_per_process: each orchestrator process",
 "wal": "pg_stat_wal (cluster-wide) read just before the load and after the drain once the orchestrators stopped and their backends reported; bytes, records and full-page images per step applied in between (all the run's steps) and per saga of the run that finished; nothing else writes during a run (the feeder only reads), autovacuum and checkpoints are included, and so are the full-page images after the CHECKPOINT before the run",
 "hot": "pg_stat_user_tables of the run's database, same interval: n_tup_upd (updates), n_tup_hot_upd (hot), ratio = hot / updates, for sagas and saga_step_rows (key saga_steps), which since migration 021 a step of a sequence inserts into once and never updates",
 "warmup_stack": "meta.warmup_stack: steps/s of the throw-away runs of scenario (a) made before anything is measured, and whether two in a row agreed within 10%",
 "rss": "VmHWM of each orchestrator process at the end of its run",
 "preload": "every run's database is a copy of a template holding preloaded_sagas completed sagas of another definition (bench_history: 3 steps, 8 history rows, 4 inbox ids each), vacuumed and analyzed; the figures count only the run's own definition"}
EOF
  put definitions definitions "$OUT/definitions.json"

  make_template

  # a fresh broker's JVM compiles its hot paths in the first seconds under
  # load, the caches are cold: let that happen before anything is measured
  say "warming up kafka"
  "$ECHO_BIN" echo --count 20000 --rate 2000 --seconds 3 >"$OUT/kafka-warmup.txt" 2>&1 ||
    say "warning: kafka warm-up reported a problem: $OUT/kafka-warmup.txt"
  warm_stack

  if [[ $PGBENCH_S != 0 ]]; then pgbench_all; fi

  if [[ -n $SWEEP ]]; then
    for s in ${SWEEP//,/ }; do run_one "sweep-b$s" a sweep "$s" ""; done
  fi
  PROFILE_TAG=$(cut -d, -f1 <<<"$SCENARIOS")-throughput
  local thr_rate lat_steps=0
  for s in ${SCENARIOS//,/ }; do
    thr_rate=""
    if [[ ,$MODES, == *,throughput,* ]]; then
      run_one "$s-throughput" "$s" throughput "$BATCH" ""
      thr_rate=$(get "SELECT doc->'throughput'->>'sagas_per_s' FROM results
                       WHERE section = 'run' AND name = '$s-throughput'")
    fi
    if [[ ,$MODES, == *,latency,* ]]; then
      if [[ -z $thr_rate || $thr_rate == 0* ]]; then
        thr_rate=${BENCH_LATENCY_RATE_BASE:-200}
        say "no throughput figure for $s: latency run offered $LOAD x $thr_rate sagas/s"
      fi
      run_one "$s-latency" "$s" latency "$BATCH" \
        "$(awk -v r="$thr_rate" -v l="$LOAD" 'BEGIN { x = r * l; printf "%.0f", x < 1 ? 1 : x }')"
      if [[ $s == a ]]; then
        lat_steps=$(get "SELECT round((doc->'throughput'->>'steps_per_s')::numeric)
                          FROM results WHERE section = 'run' AND name = 'a-latency'")
      fi
    fi
  done

  if [[ $ECHO == 1 ]]; then
    local rate=${lat_steps:-1000}
    ((rate >= 100)) || rate=1000
    ((rate <= 20000)) || rate=20000
    say "kafka echo: $d_echo_n round trips as fast as possible, then $rate/s for ${d_echo_s}s"
    "$ECHO_BIN" echo --count "$d_echo_n" --rate "$rate" --seconds "$d_echo_s" \
      --json "$OUT/kafka-echo.json" --cdf "$OUT/kafka-echo-cdf.tsv" >"$OUT/kafka-echo.txt" 2>&1 ||
      say "warning: kafka_echo reported a problem: $OUT/kafka-echo.txt"
    [[ -s $OUT/kafka-echo.json ]] && put kafka_echo echo "$OUT/kafka-echo.json"
    sed 's/^/    /' "$OUT/kafka-echo.txt" | grep 'kafka_echo:' >&2 || true
  fi

  report
  put final final "$OUT/results.json"
  charts
  print_table | tee "$OUT/table.txt"
  say "done in $(($(date +%s) - t0)) s: $OUT/results.json, $OUT/table.txt, $OUT/throughput-vs-batch.png, $OUT/latency.png"
}

main() {
  case ${1:-} in
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0 ;;
  esac
  if [[ ${BENCH_INSIDE:-0} == 1 ]]; then
    inside
    return
  fi
  prepare
  export BENCH_INSIDE=1 BENCH_NO_BUILD=1
  if [[ ${BENCH_USE_STACK:-0} == 1 ]]; then
    exec "$0" "$@"
  fi
  exec "$ROOT/deploy/local/stack.sh" run -- "$0" "$@"
}

main "$@"
