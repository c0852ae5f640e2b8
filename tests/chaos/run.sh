#!/usr/bin/env bash
# run.sh - the chaos command: thousands of sagas on the real local stack
# (deploy/local) while the orchestrator is killed with SIGKILL at random
# moments, Kafka and PostgreSQL are restarted under it, and poison events of
# every kind are sent; at the end the invariants are checked from the
# services' side and from SQL, a table is printed, and the exit status is
# non-zero when any invariant fails.
#
#   tests/chaos/run.sh                 # full run: 3000 sagas, 60 kills (~10 min)
#   CHAOS_QUICK=1 tests/chaos/run.sh   # short run for CI: 300 sagas, 5 kills
#
# What it does, in order:
#   1. builds Release in build-chaos/ (orchestrator, responder, loadgen,
#      kafka_echo, poison), unless CHAOS_NO_BUILD=1;
#   2. starts a throw-away stack with `deploy/local/stack.sh run`, migrates,
#      loads tests/bench/definitions/bench_comp3.json (three steps, two
#      compensations; the responder fails the last step for 10% of the
#      sagas, which then compensate) under topics of its own;
#   3. runs the responder and `orchestrator run`, each under a supervisor
#      that restarts it at once whenever it exits (recording every exit
#      status; the responder's idempotent producer can fail for good across
#      a broker restart, as any service's can), and the load generator at a
#      fixed rate;
#   4. the chaos: CHAOS_KILLS times, after a random pause, kill -9 of one
#      live orchestrator process; a second process joins the same group at
#      the first third of the kills and stays; Kafka is restarted
#      (stack.sh kafka-stop / kafka-start) and PostgreSQL too (pg-stop /
#      pg-start), at even spacing among the kills, and while each is away
#      one more process is killed (its restart meets the outage); the poison events
#      (tests/tools/poison: a NUL byte in a header value, a ~1 MB value,
#      not JSON, invalid UTF-8, 200 headers, a reply for an unknown saga, a
#      reply with an unknown sagastep) are sent CHAOS_POISON_ROUNDS times,
#      spread over the run;
#   5. waits until every saga is terminal (or quarantined), reads the
#      command topic back (kafka_echo tap), and checks:
#        kills        every kill -9 was followed by a restart, and every
#                     exit of an orchestrator process was one of our kills
#        alive        every orchestrator process answers at the end
#                     (/healthz 200), the responder runs (its restarts are
#                     counted); the load generator's events were all
#                     acknowledged
#        sagas        one saga per trigger sent, each terminal, or
#                     quarantined with a reason
#        commands     every command the sagas' history says was sent
#                     (step.started / compensation.started, with its
#                     attempt: the stable id saga/step/kind/attempt) is on
#                     the command topic at least once; no outbox row left
#        once         no step applied twice: no two step.succeeded,
#                     step.failed or compensation.succeeded entries for the
#                     same saga, step and attempt
#        poison       every poison event is dead-lettered (dead_letters
#                     has its topic, partition and offset), or, for the
#                     reply with an unknown sagastep to a live saga,
#                     recorded in the saga's history as ignored with its
#                     reason (unknown_step), nothing else, and no inbox row
#                     (replies are deduplicated by their step)
#   6. prints the table, writes results.json and the logs into
#      bench-results/chaos-<UTC timestamp>/ (never committed).
#
# Environment knobs (quick defaults in brackets after the full ones):
#   CHAOS_SAGAS [3000|300]        sagas started (the load generator's count)
#   CHAOS_RATE [20|10]            sagas/s offered
#   CHAOS_KILLS [60|5]            kill -9 of an orchestrator process
#   CHAOS_KAFKA_RESTARTS [2|1]    CHAOS_PG_RESTARTS [2|1]
#   CHAOS_POISON_ROUNDS [3|1]     each poison kind this many times
#   CHAOS_PAUSE_MS [300-4000|1000-4000]  random pause before each kill
#                                 (CHAOS_PAUSE_MIN_MS, CHAOS_PAUSE_MAX_MS)
#   CHAOS_DRAIN_S [300|120]       longest wait for the sagas to finish
#   CHAOS_SEED [random]           seed of the pauses and of who is killed
#   CHAOS_BUILD_DIR [build-chaos] CHAOS_NO_BUILD=1  CHAOS_OUT [bench-results]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
QUICK=${CHAOS_QUICK:-0}
if [[ $QUICK == 1 ]]; then
  d_sagas=300 d_rate=10 d_kills=5 d_kafka=1 d_pg=1 d_rounds=1 d_min=1000 d_max=4000 d_drain=120
else
  d_sagas=3000 d_rate=20 d_kills=60 d_kafka=2 d_pg=2 d_rounds=3 d_min=300 d_max=4000 d_drain=300
fi
SAGAS=${CHAOS_SAGAS:-$d_sagas}
RATE=${CHAOS_RATE:-$d_rate}
KILLS=${CHAOS_KILLS:-$d_kills}
KAFKA_RESTARTS=${CHAOS_KAFKA_RESTARTS:-$d_kafka}
PG_RESTARTS=${CHAOS_PG_RESTARTS:-$d_pg}
ROUNDS=${CHAOS_POISON_ROUNDS:-$d_rounds}
PAUSE_MIN=${CHAOS_PAUSE_MIN_MS:-$d_min}
PAUSE_MAX=${CHAOS_PAUSE_MAX_MS:-$d_max}
DRAIN_S=${CHAOS_DRAIN_S:-$d_drain}
SEED=${CHAOS_SEED:-$((RANDOM * 32768 + RANDOM))}
BUILD=${CHAOS_BUILD_DIR:-$ROOT/build-chaos}
OUT_BASE=${CHAOS_OUT:-$ROOT/bench-results}
PG_BIN=${ORC_PG_BIN:-/usr/lib/postgresql/15/bin}
POISON_KINDS=(nul-header big not-json bad-utf8 many-headers unknown-saga unknown-step)

ORCH=$BUILD/orchestrator
RESPONDER=$BUILD/tests/tools/responder
LOADGEN=$BUILD/tests/tools/loadgen
POISON=$BUILD/tests/tools/poison
ECHO_BIN=$BUILD/tests/bench/kafka_echo
DATA_TEMPLATE='{"id":"{key}","total":{i},"customer":"c-42","sent_ms":{ts_ms}}'

say() { printf '%s chaos: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 2; }

# ------------------------------------------------------------ outside the stack

prepare() {
  if [[ ${CHAOS_NO_BUILD:-0} != 1 ]]; then
    say "building Release in $BUILD"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j"$(nproc)" \
      --target orchestrator responder loadgen kafka_echo poison >/dev/null
  fi
  local c
  for c in "$ORCH" "$RESPONDER" "$LOADGEN" "$POISON" "$ECHO_BIN"; do
    [[ -x $c ]] || die "$c not built"
  done
}

# ------------------------------------------------------------ inside the stack

PIDS=() # background processes of this script (supervisors, tools)
cleanup() { # the supervised processes first (their supervisors stop on $OUT/stop)
  local p
  [[ -n ${OUT:-} ]] || return 0
  touch "$OUT/stop"
  for p in orch-1 orch-2 responder; do
    if [[ -s $OUT/$p.pid ]]; then kill -TERM "$(cat "$OUT/$p.pid")" 2>/dev/null || true; fi
  done
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}

q() { "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$ORC_PG_DSN" -c "$1"; }

sleep_ms() { sleep "$(awk -v m="$1" 'BEGIN { printf "%.3f", m / 1000 }')"; }

# supervise NAME CMD...: run CMD again at once whenever it exits, until
# $OUT/stop exists (the orchestrator; the responder too, as any service's
# supervisor would: librdkafka's idempotent producer can fail for good
# across a broker restart).  Its output goes to $OUT/NAME.log, every exit
# as "pid<TAB>status<TAB>time" to $OUT/NAME.exits, every pid started to
# $OUT/NAME.starts, the current one to $OUT/NAME.pid.
supervise() {
  local name=$1 pid rc
  shift
  while [[ ! -f $OUT/stop ]]; do
    "$@" >>"$OUT/$name.log" 2>&1 &
    pid=$!
    echo "$pid" >"$OUT/$name.pid"
    echo "$pid" >>"$OUT/$name.starts"
    rc=0
    wait "$pid" || rc=$?
    printf '%s\t%s\t%s\n' "$pid" "$rc" "$(date +%s)" >>"$OUT/$name.exits"
    [[ -f $OUT/stop ]] || sleep 0.1
  done
}

start_slot() { # start_slot N: orchestrator process N (1 or 2), supervised
  supervise "orch-$1" env ORC_GROUP="$GROUP" ORC_REPLY_TOPIC="$PREFIX.replies" \
    ORC_INSTANCE_ID="$GROUP-$1" ORC_HTTP_PORT="${HTTP_PORTS[$1]}" "$ORCH" run \
    2>>"$OUT/supervisor.log" &
  PIDS+=("$!")
  SUPERVISORS[$1]=$!
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s $OUT/orch-$1.pid ]] && return 0
    sleep 0.1
  done
}

kill_one() { # kill -9 a live orchestrator process of a random running slot
  local slots=(1) slot pid
  [[ -n ${SUPERVISORS[2]:-} ]] && slots+=(2)
  slot=${slots[$((RANDOM % ${#slots[@]}))]}
  pid=$(cat "$OUT/orch-$slot.pid")
  if kill -0 "$pid" 2>/dev/null; then
    printf '%s\t%s\t%s\n' "$pid" "$slot" "$(date +%s)" >>"$OUT/kills.tsv"
    kill -KILL "$pid" 2>/dev/null || true
    KILLED=$((KILLED + 1))
  fi
}

restart_kafka() {
  say "restarting Kafka"
  "$ROOT/deploy/local/stack.sh" kafka-stop "$ORC_STACK_DIR" >>"$OUT/stack.log" 2>&1
  sleep 1
  kill_one # its restart meets the broker away
  sleep 1
  "$ROOT/deploy/local/stack.sh" kafka-start "$ORC_STACK_DIR" >>"$OUT/stack.log" 2>&1 ||
    die "Kafka did not come back: $OUT/stack.log"
  KAFKA_DONE=$((KAFKA_DONE + 1))
}

restart_pg() {
  say "restarting PostgreSQL"
  "$ROOT/deploy/local/stack.sh" pg-stop "$ORC_STACK_DIR" >>"$OUT/stack.log" 2>&1
  sleep 1
  kill_one # its restart meets the database away
  sleep 1
  "$ROOT/deploy/local/stack.sh" pg-start "$ORC_STACK_DIR" >>"$OUT/stack.log" 2>&1 ||
    die "PostgreSQL did not come back: $OUT/stack.log"
  local i
  for ((i = 0; i < 100; i++)); do
    q 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.1
  done
  PG_DONE=$((PG_DONE + 1))
}

POISON_SENT=0
send_poison() { # send_poison KIND N
  local kind=$1 n=$2 topic=$PREFIX.comp3.start saga=
  case $kind in
    unknown-saga) topic=$PREFIX.replies ;;
    unknown-step)
      topic=$PREFIX.replies
      saga=$(q "SELECT id FROM orchestrator.sagas ORDER BY status <> 'running', created_at
                LIMIT 1" 2>/dev/null || true)
      [[ -n $saga ]] || { say "no saga yet for unknown-step; later"; return 1; } ;;
  esac
  if "$POISON" --brokers "$ORC_KAFKA_BROKERS" --topic "$topic" --kind "$kind" \
      --id "chaos-poison-$kind-$n" --type bench_comp3.requested ${saga:+--saga-id "$saga"} \
      >>"$OUT/poison.tsv" 2>>"$OUT/poison.log"; then
    POISON_SENT=$((POISON_SENT + 1))
    return 0
  fi
  say "warning: poison $kind not delivered ($OUT/poison.log)"
  return 1
}

wait_drained() {
  local t0 left
  t0=$(date +%s)
  while :; do
    left=$(q "SELECT $SAGAS - count(*) FILTER (WHERE status IN ('completed', 'compensated',
      'failed', 'cancelled', 'timed_out') OR quarantined_at IS NOT NULL)
      FROM orchestrator.sagas WHERE definition_name = 'bench_comp3'" 2>/dev/null || echo "$SAGAS")
    ((left <= 0)) && return 0
    if (($(date +%s) - t0 > DRAIN_S)); then
      say "warning: $left sagas not finished after ${DRAIN_S}s"
      return 0
    fi
    sleep 1
  done
}

# the checks, as one row of numbers from SQL
check_sql() {
  {
    echo 'SET search_path = orchestrator;'
    echo 'CREATE TEMP TABLE tap (ce_id text, ts_ms bigint, tstype text, topic text,
            part int, off bigint, sagaid text, step text);'
    echo 'CREATE TEMP TABLE poison (topic text, part int, off bigint, ce_id text);'
    printf "\\copy tap FROM '%s'\n" "$OUT/tap.tsv"
    printf "\\copy poison FROM '%s'\n" "$OUT/poison.tsv"
    cat <<EOF
CREATE TEMP TABLE expected AS
SELECT h.saga_id || '/' || h.step_name || '/' ||
       CASE h.kind WHEN 'step.started' THEN 'action' ELSE 'compensation' END ||
       '/' || (h.detail->>'attempt') AS id
  FROM saga_history h
 WHERE h.kind IN ('step.started', 'compensation.started');
SELECT json_build_object(
  'sagas', (SELECT count(*) FROM sagas WHERE definition_name = 'bench_comp3'),
  'completed', (SELECT count(*) FROM sagas WHERE status = 'completed'),
  'compensated', (SELECT count(*) FROM sagas WHERE status = 'compensated'),
  'failed', (SELECT count(*) FROM sagas WHERE status IN ('failed', 'timed_out', 'cancelled')),
  'not_terminal', (SELECT count(*) FROM sagas WHERE quarantined_at IS NULL AND status NOT IN
                     ('completed', 'compensated', 'failed', 'cancelled', 'timed_out')),
  'quarantined', (SELECT count(*) FROM sagas WHERE quarantined_at IS NOT NULL),
  'quarantined_no_reason', (SELECT count(*) FROM sagas WHERE quarantined_at IS NOT NULL
                              AND coalesce(quarantine_reason, '') = ''),
  'commands_sent', (SELECT count(*) FROM expected),
  'commands_on_topic', (SELECT count(DISTINCT ce_id) FROM tap),
  'command_messages', (SELECT count(*) FROM tap),
  'commands_missing', (SELECT count(*) FROM expected e
                        WHERE NOT EXISTS (SELECT 1 FROM tap t WHERE t.ce_id = e.id)
                          AND NOT EXISTS (SELECT 1 FROM outbox_quarantine o
                                           WHERE o.message_id = e.id)),
  'commands_quarantined', (SELECT count(*) FROM outbox_quarantine),
  'outbox_left', (SELECT count(*) FROM outbox),
  'applied_twice', (SELECT count(*) FROM (SELECT 1 FROM saga_history
                     WHERE kind IN ('step.succeeded', 'step.failed', 'compensation.succeeded')
                     GROUP BY saga_id, step_name, kind, detail->>'attempt'
                     HAVING count(*) > 1) d),
  'poison_sent', (SELECT count(*) FROM poison),
  'poison_dead_lettered', (SELECT count(*) FROM poison p WHERE EXISTS (
                     SELECT 1 FROM dead_letters d WHERE d.topic = p.topic
                        AND d.partition = p.part AND d."offset" = p.off)),
  'poison_ignored', (SELECT count(*) FROM poison p
                      WHERE NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.topic = p.topic
                                           AND d.partition = p.part AND d."offset" = p.off)
                        AND p.ce_id LIKE 'chaos-poison-unknown-step-%'
                        AND NOT EXISTS (SELECT 1 FROM inbox i WHERE i.consumer = '$GROUP'
                                          AND i.message_id = '/chaos/poison ' || p.ce_id)
                        AND EXISTS (SELECT 1 FROM saga_history h
                                     WHERE h.event_id = p.ce_id AND h.kind LIKE '%.ignored'
                                       AND h.detail->>'reason' <> '')
                        AND NOT EXISTS (SELECT 1 FROM saga_history h
                                         WHERE h.event_id = p.ce_id
                                           AND h.kind NOT LIKE '%.ignored')),
  'dead_letters', (SELECT count(*) FROM dead_letters));
\\pset fieldsep '\\t'
\\o $OUT/poison-fate.tsv
SELECT p.ce_id, p.topic, p.part, p.off,
       (SELECT left(d.error, 200) FROM dead_letters d WHERE d.topic = p.topic
           AND d.partition = p.part AND d."offset" = p.off),
       (SELECT string_agg(i.consumer || ':' || i.message_id, ',') FROM inbox i
         WHERE i.message_id LIKE '%' || p.ce_id),
       (SELECT string_agg(h.kind || ':' || coalesce(h.detail->>'reason', ''), ',')
          FROM saga_history h WHERE h.event_id = p.ce_id)
  FROM poison p;
EOF
  } | "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$ORC_PG_DSN" 2>"$OUT/check.log" | tail -n1
}

jget() { # jget JSON KEY: a number from a flat JSON object
  sed -n "s/.*\"$2\" *: *\([0-9-]*\).*/\1/p" <<<"$1"
}

inside() {
  local t0 ts
  t0=$(date +%s)
  ts=$(date -u +%Y%m%dT%H%M%SZ)
  OUT=$OUT_BASE/chaos-$ts
  mkdir -p "$OUT"
  trap cleanup EXIT
  RANDOM=$SEED
  RUNID=c$ts
  RUNID=${RUNID,,}
  GROUP=chaos-$RUNID
  PREFIX=chaos.$RUNID
  HTTP_PORTS=([1]=$((28000 + RANDOM % 1000)) [2]=$((29000 + RANDOM % 1000)))
  declare -gA SUPERVISORS=()
  KILLED=0 KAFKA_DONE=0 PG_DONE=0
  : >"$OUT/kills.tsv"
  : >"$OUT/poison.tsv"
  say "seed $SEED; $SAGAS sagas at $RATE/s, $KILLS kills, $KAFKA_RESTARTS Kafka and" \
    "$PG_RESTARTS PostgreSQL restarts, ${#POISON_KINDS[@]} poison kinds x $ROUNDS; $OUT"

  "$ORCH" migrate >"$OUT/migrate.log" 2>&1 || die "migrate failed: $OUT/migrate.log"
  sed "s/\"topic\": \"bench\./\"topic\": \"$PREFIX./" \
    "$ROOT/tests/bench/definitions/bench_comp3.json" >"$OUT/bench_comp3.json"
  "$ORCH" definitions load "$OUT/bench_comp3.json" >>"$OUT/migrate.log" 2>&1 ||
    die "definitions load failed: $OUT/migrate.log"
  "$ECHO_BIN" topics "$PREFIX.comp3.start" "$PREFIX.commands" "$PREFIX.replies" \
    "$GROUP.dlq" >/dev/null
  PREFIX_TRIGGER=$PREFIX.comp3.start

  supervise responder "$RESPONDER" --brokers "$ORC_KAFKA_BROKERS" --topics "$PREFIX.commands" \
    --group "responder-$RUNID" --seed 42 --default succeed:service.succeeded \
    --rule bench_comp3.ship=random:10:service.failed:service.succeeded \
    2>>"$OUT/supervisor.log" &
  PIDS+=("$!")
  RESP_SUP=$!
  start_slot 1
  sleep 2

  "$LOADGEN" --topic "$PREFIX_TRIGGER" --type bench_comp3.requested --prefix "$RUNID" \
    --count "$SAGAS" --rate "$RATE" --data "$DATA_TEMPLATE" \
    --json "$OUT/loadgen.json" >"$OUT/loadgen.out" 2>&1 &
  LG_PID=$!
  PIDS+=("$LG_PID")

  # the timeline: KILLS kills; the second process, the restarts and the
  # poison events at even spacing among them
  local k second=$((KILLS / 3)) poison_total=$((${#POISON_KINDS[@]} * ROUNDS)) p=0 r
  local -a pending=()
  for ((r = 0; r < ROUNDS; r++)); do pending+=("${POISON_KINDS[@]}"); done
  for ((k = 1; k <= KILLS; k++)); do
    sleep_ms $((PAUSE_MIN + RANDOM % (PAUSE_MAX - PAUSE_MIN + 1)))
    kill_one
    if ((k == second || (second == 0 && k == 1))) && [[ -z ${SUPERVISORS[2]:-} ]]; then
      say "a second process joins the group"
      start_slot 2
    fi
    for ((r = 1; r <= KAFKA_RESTARTS; r++)); do
      ((k == r * KILLS / (KAFKA_RESTARTS + 1))) && restart_kafka
    done
    for ((r = 1; r <= PG_RESTARTS; r++)); do
      ((k == (2 * r - 1) * KILLS / (2 * PG_RESTARTS + 1) + 1)) && restart_pg
    done
    # the poison events spread over the kills, the rest after the last
    while ((p < poison_total && p * KILLS < k * poison_total)); do
      send_poison "${pending[$p]}" "$p" || break
      p=$((p + 1))
    done
    ((k % 10 == 0)) && say "$k kills"
  done
  while ((p < poison_total)); do
    send_poison "${pending[$p]}" "$p" || sleep 1
    p=$((p + 1))
  done
  say "$KILLED kills done; waiting for the load generator"
  LG_RC=0
  wait "$LG_PID" || LG_RC=$?
  say "draining"
  wait_drained
  sleep 3 # the last replies and the poison in flight

  # the services' side: every process alive and healthy
  local slot pid alive=0 healthy=0 procs=0 code
  for slot in 1 2; do
    [[ -n ${SUPERVISORS[$slot]:-} ]] || continue
    procs=$((procs + 1))
    pid=$(cat "$OUT/orch-$slot.pid")
    kill -0 "$pid" 2>/dev/null && alive=$((alive + 1))
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${HTTP_PORTS[$slot]}/healthz" || true)
    [[ $code == 200 ]] && healthy=$((healthy + 1))
  done
  local resp_alive=0 resp_exits
  kill -0 "$(cat "$OUT/responder.pid")" 2>/dev/null && resp_alive=1
  resp_exits=0
  [[ -f $OUT/responder.exits ]] && resp_exits=$(wc -l <"$OUT/responder.exits")

  "$ECHO_BIN" tap --topics "$PREFIX.commands" --out "$OUT/tap.tsv" 2>"$OUT/tap.log" ||
    say "warning: the tap of $PREFIX.commands failed: $OUT/tap.log"
  local res
  res=$(check_sql) || die "the checks failed to run: $OUT/check.log"

  # stop; the exits so far, and which of them were ours
  touch "$OUT/stop"
  for slot in 1 2; do
    [[ -n ${SUPERVISORS[$slot]:-} ]] || continue
    kill -TERM "$(cat "$OUT/orch-$slot.pid")" 2>/dev/null || true
    wait "${SUPERVISORS[$slot]}" 2>/dev/null || true
  done
  kill -TERM "$(cat "$OUT/responder.pid")" 2>/dev/null || true
  wait "$RESP_SUP" 2>/dev/null || true
  PIDS=()
  local exits unexpected restarts nonkill nonkill_bad odd_kills
  exits=$(cat "$OUT"/orch-[12].exits 2>/dev/null | wc -l)
  # exits that were not our kills: only the final stop (status 0) of each
  nonkill=$(awk -F'\t' 'FNR == NR { killed[$1] = 1; next } !($1 in killed)' \
    "$OUT/kills.tsv" <(cat "$OUT"/orch-[12].exits) | wc -l)
  nonkill_bad=$(awk -F'\t' 'FNR == NR { killed[$1] = 1; next } !($1 in killed) && $2 != 0' \
    "$OUT/kills.tsv" <(cat "$OUT"/orch-[12].exits) | wc -l)
  unexpected=$((nonkill - procs > nonkill_bad ? nonkill - procs : nonkill_bad))
  # a killed process that did not end by SIGKILL (status 137)
  odd_kills=$(awk -F'\t' 'FNR == NR { killed[$1] = 1; next } ($1 in killed) && $2 != 137' \
    "$OUT/kills.tsv" <(cat "$OUT"/orch-[12].exits) | wc -l)
  restarts=$(($(cat "$OUT"/orch-[12].starts | wc -l) - procs))
  # why a process ended by itself, from its own log: each reason once,
  # with how often (timestamps cut off)
  grep -h 'msg="giving up"\|level=fatal\|^orchestrator run: ' "$OUT"/orch-[12].log \
    2>/dev/null | sed 's/^ts=[^ ]* //' | cut -c1-300 | sort | uniq -c | sort -rn \
    >"$OUT/exits-not-ours.txt" || true

  local -A v
  local key
  for key in sagas completed compensated failed not_terminal quarantined quarantined_no_reason \
    commands_sent commands_on_topic command_messages commands_missing commands_quarantined \
    outbox_left applied_twice poison_sent poison_dead_lettered poison_ignored dead_letters; do
    v[$key]=$(jget "$res" "$key")
    [[ -n ${v[$key]} ]] || die "no $key in the checks' answer: $res"
  done
  local acked
  acked=$(sed -n 's/.*"acked": \([0-9]*\).*/\1/p' "$OUT/loadgen.json" 2>/dev/null || echo 0)

  # the invariants
  local fails=0 rows=()
  inv() { # inv NAME OK(0/1) DETAIL
    local mark=PASS
    (($2)) || { mark=FAIL; fails=$((fails + 1)); }
    rows+=("$(printf '%-9s %-4s %s' "$1" "$mark" "$3")")
  }
  inv kills $((KILLED >= KILLS && restarts >= KILLED && odd_kills == 0 && unexpected == 0)) \
    "$KILLED kill -9 survived ($restarts restarts; $unexpected exits not ours)"
  inv outages $((KAFKA_DONE == KAFKA_RESTARTS && PG_DONE == PG_RESTARTS)) \
    "$KAFKA_DONE Kafka and $PG_DONE PostgreSQL restarts survived"
  inv alive $((alive == procs && healthy == procs && resp_alive == 1 && LG_RC == 0)) \
    "$alive/$procs orchestrators alive, $healthy /healthz 200; responder alive $resp_alive (restarted $resp_exits times); loadgen exit $LG_RC"
  inv sagas $((v[sagas] == SAGAS && acked == SAGAS && v[not_terminal] == 0 && v[quarantined_no_reason] == 0)) \
    "${v[sagas]}/$SAGAS started ($acked acked): ${v[completed]} completed, ${v[compensated]} compensated, ${v[failed]} failed, ${v[quarantined]} quarantined, ${v[not_terminal]} not terminal"
  inv commands $((v[commands_missing] == 0 && v[outbox_left] == 0)) \
    "${v[commands_sent]} sent, ${v[commands_on_topic]} ids on the topic (${v[command_messages]} messages), ${v[commands_missing]} missing, ${v[commands_quarantined]} quarantined, ${v[outbox_left]} left in the outbox"
  inv once $((v[applied_twice] == 0)) "${v[applied_twice]} steps applied twice"
  inv poison $((v[poison_sent] == POISON_SENT && POISON_SENT == poison_total &&
    v[poison_dead_lettered] + v[poison_ignored] == v[poison_sent])) \
    "$POISON_SENT/$poison_total sent, ${v[poison_dead_lettered]} dead-lettered, ${v[poison_ignored]} ignored (unknown sagastep); ${v[dead_letters]} dead letters in all"

  local secs=$(($(date +%s) - t0))
  {
    printf '{\n  "quick": %s, "seed": %s, "seconds": %s, "failures": %s,\n' \
      "$([[ $QUICK == 1 ]] && echo true || echo false)" "$SEED" "$secs" "$fails"
    printf '  "config": {"sagas": %s, "rate": %s, "kills": %s, "kafka_restarts": %s, "pg_restarts": %s, "poison_rounds": %s},\n' \
      "$SAGAS" "$RATE" "$KILLS" "$KAFKA_RESTARTS" "$PG_RESTARTS" "$ROUNDS"
    printf '  "kills": %s, "restarts": %s, "exits": %s, "exits_not_ours": %s, "killed_not_137": %s,\n' \
      "$KILLED" "$restarts" "$exits" "$unexpected" "$odd_kills"
    printf '  "kafka_restarts": %s, "pg_restarts": %s, "orchestrators": %s, "alive": %s, "healthy": %s,\n' \
      "$KAFKA_DONE" "$PG_DONE" "$procs" "$alive" "$healthy"
    printf '  "responder_alive": %s, "responder_exits": %s, "loadgen_exit": %s, "loadgen_acked": %s,\n' \
      "$resp_alive" "$resp_exits" "$LG_RC" "$acked"
    printf '  "sql": %s\n}\n' "$res"
  } >"$OUT/results.json"
  {
    printf '\nchaos run (%s, seed %s, %s s): %s\n' \
      "$([[ $QUICK == 1 ]] && echo quick || echo full)" "$SEED" "$secs" "$OUT"
    printf '%-9s %-4s %s\n' invariant ok detail
    printf '%s\n' "${rows[@]}"
    if ((unexpected > 0)); then
      printf 'exits not ours (%s):\n' "$OUT/exits-not-ours.txt"
      sed 's/^/  /' "$OUT/exits-not-ours.txt"
    fi
  } | tee "$OUT/table.txt"
  ((fails == 0)) || { say "$fails invariants failed"; exit 1; }
  say "every invariant holds"
}

main() {
  case ${1:-} in
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0 ;;
  esac
  if [[ ${CHAOS_INSIDE:-0} == 1 ]]; then
    inside
    return
  fi
  prepare
  export CHAOS_INSIDE=1 CHAOS_NO_BUILD=1 CHAOS_SEED=$SEED
  exec "$ROOT/deploy/local/stack.sh" run -- "$0" "$@"
}

main "$@"
