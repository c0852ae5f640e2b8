#!/usr/bin/env bash
# stack.sh - a throw-away local Kafka 3.9.1 (KRaft, single node) + PostgreSQL 15
# stack on free loopback ports, for tests, CI and benchmarks. No Docker needed.
#
# Usage:
#   deploy/local/stack.sh run [--] CMD...   start a stack, run CMD with its env,
#                                           stop it whatever happened; exits with
#                                           CMD's status (what CI and tests use)
#   deploy/local/stack.sh start [DIR]       start a stack (state in DIR, default a
#                                           new /tmp/orc-stack.XXXXXX); prints the
#                                           env file to `source`
#   deploy/local/stack.sh stop [DIR|ENVFILE]  stop that stack (default: the current
#                                           one) and delete its state dir
#   deploy/local/stack.sh status [DIR]      liveness and memory (RSS) of each service
#   deploy/local/stack.sh kafka-stop DIR [--kill]   stop / restart one service on
#   deploy/local/stack.sh kafka-start DIR           the same ports and data (for
#   deploy/local/stack.sh pg-stop DIR [--kill]      fault-injection tests; --kill =
#   deploy/local/stack.sh pg-start DIR              SIGKILL / pg_ctl -m immediate)
#   deploy/local/stack.sh fetch             only fetch the Kafka jars (needs mvn)
#
#   source "$(deploy/local/stack.sh start)"     # or, from any other shell:
#   source ~/.cache/orchestrator/current-stack.env
#
# The env file exports ORC_PG_DSN, ORC_KAFKA_BROKERS, ORC_STACK_DIR and
# PGHOST/PGPORT/PGUSER/PGDATABASE. `run` does not move the current-stack pointer.
#
# Environment knobs:
#   ORC_CACHE_DIR     jar cache + port reservations (default ~/.cache/orchestrator);
#                     the Kafka jars go to $ORC_CACHE_DIR/kafka-3.9.1/libs, fetched
#                     once per machine by Maven from deploy/local/pom.xml
#   ORC_KEEP_STACK=1  keep the state dir (logs, data) on stop / failed start
#   ORC_STACK_TIMEOUT seconds to wait for the services (default 90)
#   ORC_KAFKA_HEAP    Kafka JVM heap flags (default "-Xmx384m -Xms384m")
#   ORC_KAFKA_CDS=0   do not use/record a class-data-sharing archive for Kafka
#   ORC_PG_BIN        PostgreSQL binaries (default /usr/lib/postgresql/15/bin)
#   ORC_STACK_PG_TLS=1  PostgreSQL takes TLS too (ssl = on, a certificate for
#                     127.0.0.1 and localhost signed by a throw-away CA);
#                     exports ORC_STACK_PG_TLS_DSN (sslmode=verify-full) and
#                     ORC_STACK_TLS_CA (the CA, PEM)
#   ORC_STACK_KAFKA_SASL=1  Kafka listens with SASL_SSL too (PLAIN, user orc,
#                     the same CA) on a port of its own; exports
#                     ORC_STACK_KAFKA_SASL_BROKERS, ORC_STACK_KAFKA_SASL_USER,
#                     ORC_STACK_KAFKA_SASL_PASSWORD and ORC_STACK_TLS_CA.
#                     Both are opt-in; the plaintext ports stay as they are.
#
# Needs: bash, java 17, mvn (first fetch only), PostgreSQL 15 server binaries,
# util-linux (setsid, flock, runuser), procps; openssl and keytool (the JDK's)
# for the TLS options. See deploy/install-deps.sh.
# As root, PostgreSQL runs as the `postgres` OS user; otherwise as the caller.
set -euo pipefail

KAFKA_VERSION=3.9.1
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
POM="$SCRIPT_DIR/pom.xml"
CACHE_DIR=${ORC_CACHE_DIR:-$HOME/.cache/orchestrator}
LIBS="$CACHE_DIR/kafka-$KAFKA_VERSION/libs"
PORTS_DIR="$CACHE_DIR/ports"
POINTER="$CACHE_DIR/current-stack.env"
PG_BIN=${ORC_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_OS_USER=${ORC_PG_OS_USER:-postgres}
TIMEOUT=${ORC_STACK_TIMEOUT:-90}
KAFKA_HEAP=${ORC_KAFKA_HEAP:--Xmx384m -Xms384m}

log() { printf 'stack.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------- jars

fetch_jars() {
  local stamp="$LIBS/.complete" sum
  sum=$(sha256sum "$POM" | cut -d' ' -f1)
  if [[ -f $stamp && $(<"$stamp") == "$sum" ]]; then
    log "kafka $KAFKA_VERSION jars: cached in $LIBS"
    return 0
  fi
  mkdir -p "$CACHE_DIR"
  # One fetch per machine even when several stacks start at once.
  exec {lockfd}>"$CACHE_DIR/.fetch.lock"
  flock "$lockfd"
  if [[ -f $stamp && $(<"$stamp") == "$sum" ]]; then
    exec {lockfd}>&-
    log "kafka $KAFKA_VERSION jars: cached in $LIBS"
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (run deploy/install-deps.sh)"
  local t0 tmp
  t0=$(now)
  tmp="$LIBS.tmp.$$"
  rm -rf "$tmp"
  log "kafka $KAFKA_VERSION jars: fetching with Maven into $LIBS ..."
  if ! mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
      -Dorc.libs.dir="$tmp" >"$CACHE_DIR/fetch.log" 2>&1; then
    cat "$CACHE_DIR/fetch.log" >&2
    rm -rf "$tmp"
    exec {lockfd}>&-
    die "Maven could not fetch the Kafka jars"
  fi
  rm -rf "$LIBS" "$CACHE_DIR/kafka-$KAFKA_VERSION"/cds-*.jsa
  mv "$tmp" "$LIBS"
  printf '%s\n' "$sum" >"$stamp"
  rm -f "$CACHE_DIR/fetch.log"
  exec {lockfd}>&-
  log "kafka $KAFKA_VERSION jars: $(find "$LIBS" -name '*.jar' | wc -l) jars fetched into $LIBS in $(elapsed "$t0") s"
}

# ---------------------------------------------------------------- ports

# true when nothing on this machine uses TCP port $1 (any state, v4 or v6)
port_unused() {
  local hex
  hex=$(printf '%04X' "$1")
  if awk -v p="$hex" 'FNR > 1 { split($2, a, ":"); if (a[length(a)] == p) found = 1 }
                      END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
    return 1
  fi
  local py
  py=$(command -v /usr/bin/python3 python3 | head -n1 || true)
  if [[ -n $py ]]; then
    "$py" -c 'import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)' "$1" 2>/dev/null || return 1
  fi
  return 0
}

# Reserve a free port for stack dir $1: random, below the ephemeral range, bind
# tested, and claimed with an atomic mkdir so two stacks starting at the same
# time never get the same port. Prints the port.
claim_port() {
  local dir=$1 lo=15000 hi ephemeral_lo span port owner i
  read -r ephemeral_lo _ </proc/sys/net/ipv4/ip_local_port_range || ephemeral_lo=32768
  hi=$((ephemeral_lo - 1))
  ((hi > lo + 1000)) || { lo=20000; hi=29999; }
  span=$((hi - lo + 1))
  mkdir -p "$PORTS_DIR"
  for ((i = 0; i < 200; i++)); do
    port=$((lo + (RANDOM * 32768 + RANDOM) % span))
    if ! mkdir "$PORTS_DIR/$port" 2>/dev/null; then
      owner=$(cat "$PORTS_DIR/$port/owner" 2>/dev/null || true)
      # a reservation whose stack dir is gone is stale: drop it, try another
      if [[ -n $owner && ! -d $owner ]]; then rm -rf "${PORTS_DIR:?}/$port"; fi
      continue
    fi
    printf '%s\n' "$dir" >"$PORTS_DIR/$port/owner"
    if port_unused "$port"; then
      printf '%s\n' "$port"
      return 0
    fi
    rm -rf "${PORTS_DIR:?}/$port"
  done
  die "no free port found"
}

# Drop every port reservation held by stack dir $1.
release_ports() {
  local dir=$1 f
  for f in "$PORTS_DIR"/*/owner; do
    [[ -f $f && $(<"$f") == "$dir" ]] && rm -rf "$(dirname "$f")"
  done
  return 0
}

# ---------------------------------------------------------------- helpers

# Resolve DIR or ENVFILE (or the current-stack pointer) to a stack dir.
resolve_dir() {
  local arg=${1:-}
  if [[ -z $arg ]]; then
    [[ -e $POINTER ]] || die "no current stack ($POINTER missing); give DIR"
    arg=$(readlink -f "$POINTER")
  fi
  [[ -f $arg ]] && arg=$(dirname "$arg")
  [[ -d $arg ]] || die "no such stack dir: $arg"
  arg=$(cd "$arg" && pwd -P)
  [[ -f $arg/stack.conf ]] || die "$arg is not a stack dir (no stack.conf)"
  printf '%s\n' "$arg"
}

load_conf() {
  # shellcheck source=/dev/null
  source "$1/stack.conf"
}

as_pg() {
  if ((EUID == 0)); then
    (cd "$DIR/pg" && runuser -u "$PG_OS_USER" -- "$@")
  else
    (cd "$DIR/pg" && "$@")
  fi
}

# pid of this stack's Kafka JVM if it is alive (checked against its command line)
kafka_pid() {
  local pid
  pid=$(cat "$DIR/kafka/kafka.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$DIR/kafka/server.properties" || return 1
  printf '%s\n' "$pid"
}

# pid of this stack's postmaster if it is alive
pg_pid() {
  local pid
  pid=$(head -n1 "$DIR/pg/data/postmaster.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ && -d /proc/$pid ]] || return 1
  [[ $(readlink "/proc/$pid/cwd" 2>/dev/null) == "$DIR/pg/data" ]] || return 1
  printf '%s\n' "$pid"
}

# Kafka Metadata v0 request over bash /dev/tcp; succeeds when the broker
# answers with at least one live broker in the cluster metadata.
kafka_metadata_ok() {
  local port=$1 out
  # shellcheck disable=SC2016 # expanded by the inner bash
  out=$(timeout 5 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    # size=17 | api_key=3 (Metadata) v0 | correlation_id=42 | client_id "orc" | topics=[] (all)
    printf "\x00\x00\x00\x11\x00\x03\x00\x00\x00\x00\x00\x2a\x00\x03orc\x00\x00\x00\x00" >&3
    head -c 12 <&3 | od -An -tu1' _ "$port" 2>/dev/null) || return 1
  read -r -a b <<<"$out"
  ((${#b[@]} == 12)) || return 1
  # bytes 4..7: correlation id 42; bytes 8..11: number of brokers
  ((b[4] == 0 && b[5] == 0 && b[6] == 0 && b[7] == 42)) || return 1
  (((b[8] << 24 | b[9] << 16 | b[10] << 8 | b[11]) >= 1))
}

tail_logs() {
  local f
  for f in "$DIR/kafka/logs/server.log" "$DIR/kafka/kafka.out" "$DIR/pg/postgres.log"; do
    [[ -s $f ]] || continue
    log "---- last lines of $f"
    tail -n 30 "$f" >&2
  done
}

# ---------------------------------------------------------------- kafka

kafka_write_config() {
  local k=$DIR/kafka
  mkdir -p "$k/data" "$k/logs"
  cat >"$k/server.properties" <<EOF
# generated by deploy/local/stack.sh
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CPORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$k/data
num.partitions=4
default.replication.factor=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
# a killed broker's old registration expires sooner (faster kafka-start)
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=1000
num.network.threads=2
num.io.threads=4
EOF
  [[ -z ${KAFKA_SPORT:-} ]] || kafka_sasl_config >>"$k/server.properties"
  cat >"$k/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$k/logs/server.log
log4j.appender.file.Append=true
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.common.utils.AppInfoParser=WARN
EOF
  cat >"$k/tools-log4j.properties" <<EOF
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
}

# The SASL_SSL listener (ORC_STACK_KAFKA_SASL=1): PLAIN over TLS, its users
# in the listener's JAAS config; brokers talk to each other in plaintext.
kafka_sasl_config() {
  local t=$DIR/tls
  cat <<EOF
# ---- ORC_STACK_KAFKA_SASL=1: a SASL_SSL listener next to PLAINTEXT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CPORT,SASL_SSL://127.0.0.1:$KAFKA_SPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,SASL_SSL://127.0.0.1:$KAFKA_SPORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$TLS_PASS" user_admin="$TLS_PASS" user_orc="$TLS_PASS";
ssl.keystore.type=PKCS12
ssl.keystore.location=$t/server.p12
ssl.keystore.password=$TLS_PASS
ssl.key.password=$TLS_PASS
ssl.truststore.type=PKCS12
ssl.truststore.location=$t/truststore.p12
ssl.truststore.password=$TLS_PASS
ssl.client.auth=none
EOF
}

# A throw-away CA and a server certificate for 127.0.0.1 and localhost in
# $DIR/tls (ORC_STACK_PG_TLS=1 or ORC_STACK_KAFKA_SASL=1); for Kafka also a
# PKCS12 keystore (openssl) and a truststore of the CA (keytool).
tls_make() {
  local t=$DIR/tls
  command -v openssl >/dev/null || die "openssl not found (run deploy/install-deps.sh)"
  mkdir -p "$t"
  {
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=orc-stack throw-away CA" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
      -keyout "$t/ca.key" -out "$t/ca.crt" &&
      openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
        -keyout "$t/server.key" -out "$t/server.csr" &&
      printf '%s\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1' 'basicConstraints=CA:FALSE' \
        'keyUsage=critical,digitalSignature,keyEncipherment' 'extendedKeyUsage=serverAuth' \
        >"$t/server.ext" &&
      openssl x509 -req -in "$t/server.csr" -CA "$t/ca.crt" -CAkey "$t/ca.key" \
        -CAcreateserial -days 2 -extfile "$t/server.ext" -out "$t/server.crt"
  } >"$t/tls.log" 2>&1 || { cat "$t/tls.log" >&2; die "openssl could not make the certificates"; }
  [[ -z ${KAFKA_SPORT:-} ]] && return 0
  command -v keytool >/dev/null || die "keytool not found (it comes with the JDK)"
  {
    openssl pkcs12 -export -name server -in "$t/server.crt" -inkey "$t/server.key" \
      -certfile "$t/ca.crt" -passout "pass:$TLS_PASS" -out "$t/server.p12" &&
      keytool -importcert -noprompt -alias ca -file "$t/ca.crt" -storetype PKCS12 \
        -keystore "$t/truststore.p12" -storepass "$TLS_PASS"
  } >>"$t/tls.log" 2>&1 || { cat "$t/tls.log" >&2; die "could not make the Kafka keystores"; }
}

kafka_format() {
  local id=-
  # 16 random bytes, base64url without padding = 22 chars; no leading '-'
  while [[ $id == -* ]]; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
  done
  java -Dlog4j.configuration="file:$DIR/kafka/tools-log4j.properties" -cp "$LIBS/*" \
    kafka.tools.StorageTool format -t "$id" -c "$DIR/kafka/server.properties" \
    >"$DIR/kafka/format.log" 2>&1 || { cat "$DIR/kafka/format.log" >&2; die "kafka storage format failed"; }
}

# Class-data-sharing archive of the Kafka classes, one per machine, JDK and jar
# set: it cuts the broker's start-up by ~0.8 s and its RSS by ~40 MB. The first
# broker started without one records it at exit; kafka_stop adopts it.
cds_archive() {
  local java_bin key
  java_bin=$(readlink -f "$(command -v java)")
  key=$(stat -L -c '%s %Y' "$java_bin" "$(dirname "$java_bin")/../lib/server/libjvm.so" \
    "$LIBS/.complete" 2>/dev/null | cksum | cut -d' ' -f1)
  printf '%s\n' "$CACHE_DIR/kafka-$KAFKA_VERSION/cds-$key.jsa"
}

cds_adopt() {
  local rec=$DIR/kafka/cds.jsa archive
  [[ -s $rec ]] || return 0
  archive=$(cds_archive)
  if [[ ! -f $archive ]]; then
    cp "$rec" "$archive.tmp.$$" && mv -f "$archive.tmp.$$" "$archive" &&
      log "kafka class-data archive saved to $archive"
  fi
  rm -f "$rec"
}

# Launch the JVM detached (own session) and record its pid.
kafka_launch() {
  local k=$DIR/kafka heap cds=() archive
  read -r -a heap <<<"$KAFKA_HEAP"
  if [[ ${ORC_KAFKA_CDS:-1} == 1 ]]; then
    archive=$(cds_archive)
    if [[ -f $archive ]]; then
      cds=(-XX:SharedArchiveFile="$archive")
    else
      cds=(-XX:ArchiveClassesAtExit="$k/cds.jsa")
    fi
  fi
  KAFKA_LOG_OFFSET=$(stat -c %s "$k/logs/server.log" 2>/dev/null || echo 0)
  # shellcheck disable=SC2016 # expanded by the inner bash
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$k/kafka.pid" \
    java "${heap[@]}" "${cds[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$k/log4j.properties" -Dkafka.logs.dir="$k/logs" \
    -cp "$LIBS/*" kafka.Kafka "$k/server.properties" \
    >>"$k/kafka.out" 2>&1 </dev/null &
  disown "$!" 2>/dev/null || true # no "Killed" job notices from this shell
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s $k/kafka.pid ]] && return 0
    sleep 0.05
  done
  die "kafka did not start"
}

kafka_wait() {
  local deadline=$1 log=$DIR/kafka/logs/server.log
  while :; do
    kafka_pid >/dev/null || { tail_logs; die "kafka exited during start-up"; }
    if [[ -f $log ]] && tail -c +"$((KAFKA_LOG_OFFSET + 1))" "$log" | grep -q 'Kafka Server started' &&
      kafka_metadata_ok "$KAFKA_PORT"; then
      return 0
    fi
    (($(date +%s) < deadline)) || { tail_logs; die "kafka not ready after ${TIMEOUT}s"; }
    sleep 0.1
  done
}

kafka_stop() {
  local mode=${1:-term} pid i
  pid=$(kafka_pid) || return 0
  if [[ $mode == kill ]]; then
    kill -KILL "$pid" 2>/dev/null || true
  else
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "kafka (pid $pid) still alive after 20 s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  rm -f "$DIR/kafka/kafka.pid"
  [[ $mode == kill ]] || cds_adopt || true
}

# ---------------------------------------------------------------- postgres

pg_init() {
  mkdir -p "$DIR/pg" "$PG_SOCK_DIR"
  if ((EUID == 0)); then chown -R "$PG_OS_USER:" "$DIR/pg" "$PG_SOCK_DIR"; fi
  chmod 700 "$PG_SOCK_DIR"
  as_pg "$PG_BIN/initdb" -D "$DIR/pg/data" --auth=trust -U postgres --encoding=UTF8 \
    --locale=C.UTF-8 --no-sync >"$DIR/pg/initdb.log" 2>&1 ||
    { cat "$DIR/pg/initdb.log" >&2; die "initdb failed"; }
  cat >>"$DIR/pg/data/postgresql.conf" <<EOF

# ---- deploy/local/stack.sh
port = $PG_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_SOCK_DIR'
max_connections = 200
shared_buffers = 128MB
# fsync and synchronous_commit stay on (defaults): commits are durable
EOF
  [[ ${ORC_STACK_PG_TLS:-0} == 1 ]] || return 0
  cp "$DIR/tls/server.crt" "$DIR/tls/server.key" "$DIR/pg/data/"
  chmod 600 "$DIR/pg/data/server.key"
  if ((EUID == 0)); then chown "$PG_OS_USER:" "$DIR/pg/data/server.crt" "$DIR/pg/data/server.key"; fi
  cat >>"$DIR/pg/data/postgresql.conf" <<EOF
# ORC_STACK_PG_TLS=1: TLS too (server.crt / server.key, signed by $DIR/tls/ca.crt)
ssl = on
EOF
}

pg_start() {
  if ((EUID == 0)); then
    (cd "$DIR/pg" && setsid -w runuser -u "$PG_OS_USER" -- "$PG_BIN/pg_ctl" -D "$DIR/pg/data" \
      -l "$DIR/pg/postgres.log" -w -t "$TIMEOUT" start >/dev/null) ||
      { tail_logs; die "postgres did not start"; }
  else
    (cd "$DIR/pg" && setsid -w "$PG_BIN/pg_ctl" -D "$DIR/pg/data" \
      -l "$DIR/pg/postgres.log" -w -t "$TIMEOUT" start >/dev/null) ||
      { tail_logs; die "postgres did not start"; }
  fi
}

pg_stop() {
  local mode=${1:-fast}
  pg_pid >/dev/null || return 0
  as_pg "$PG_BIN/pg_ctl" -D "$DIR/pg/data" -m "$mode" -w -t 60 stop >/dev/null 2>&1 || {
    log "pg_ctl stop failed; killing the postmaster"
    local pid
    if pid=$(pg_pid); then kill -KILL "$pid" 2>/dev/null || true; fi
  }
}

psql_q() {
  "$PG_BIN/psql" -X -q -At -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"
}

# ---------------------------------------------------------------- commands

STARTING_DIR="" CREATED_DIR=0 START_OK=0 RUN_DIR="" RUN_CHILD=""

on_start_exit() {
  local rc=$?
  ((START_OK)) && return 0
  [[ -n $STARTING_DIR ]] || exit "$rc"
  log "start failed; stopping what was started in $STARTING_DIR"
  DIR=$STARTING_DIR
  kafka_stop kill || true
  pg_stop immediate || true
  release_ports "$DIR"
  [[ -z ${PG_SOCK_DIR:-} || $PG_SOCK_DIR == "$DIR"/* ]] || rm -rf "$PG_SOCK_DIR"
  if ((CREATED_DIR)) && [[ ${ORC_KEEP_STACK:-0} != 1 ]]; then
    rm -rf "$DIR"
  else
    log "state kept in $DIR"
  fi
  exit $((rc ? rc : 1))
}

# start_stack [DIR] [pointer=1]; sets DIR and prints nothing on stdout
start_stack() {
  local t0 deadline
  t0=$(now)
  command -v java >/dev/null || die "java not found (run deploy/install-deps.sh)"
  [[ -x $PG_BIN/initdb ]] || die "PostgreSQL binaries not found in $PG_BIN"

  trap on_start_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  if [[ -n ${1:-} ]]; then
    DIR=$1
    if [[ -e $DIR ]]; then
      [[ -d $DIR && -z $(ls -A "$DIR") ]] || die "$DIR exists and is not empty"
    else
      mkdir -p "$DIR"
      CREATED_DIR=1
    fi
  else
    DIR=$(mktemp -d /tmp/orc-stack.XXXXXX)
    CREATED_DIR=1
  fi
  DIR=$(cd "$DIR" && pwd -P)
  STARTING_DIR=$DIR
  chmod 755 "$DIR" # the postgres OS user must be able to reach pg/

  fetch_jars
  deadline=$(($(date +%s) + TIMEOUT))

  KAFKA_PORT=$(claim_port "$DIR")
  KAFKA_CPORT=$(claim_port "$DIR")
  PG_PORT=$(claim_port "$DIR")
  KAFKA_SPORT="" TLS_PASS=""
  if [[ ${ORC_STACK_KAFKA_SASL:-0} == 1 ]]; then KAFKA_SPORT=$(claim_port "$DIR"); fi
  if [[ ${ORC_STACK_KAFKA_SASL:-0} == 1 || ${ORC_STACK_PG_TLS:-0} == 1 ]]; then
    TLS_PASS=$(head -c 12 /dev/urandom | base64 | tr -d '+/=\n')
  fi
  # Unix socket paths are limited to 107 bytes: fall back to a short dir.
  PG_SOCK_DIR=$DIR/pg/run
  if ((${#PG_SOCK_DIR} > 80)); then PG_SOCK_DIR=$(mktemp -d /tmp/orc-pgsock.XXXXXX); fi
  cat >"$DIR/stack.conf" <<EOF
KAFKA_PORT=$KAFKA_PORT
KAFKA_CPORT=$KAFKA_CPORT
PG_PORT=$PG_PORT
PG_SOCK_DIR='$PG_SOCK_DIR'
KAFKA_SPORT='$KAFKA_SPORT'
EOF
  log "state in $DIR (kafka 127.0.0.1:$KAFKA_PORT, controller :$KAFKA_CPORT, postgres :$PG_PORT)"

  [[ -z $TLS_PASS ]] || tls_make
  kafka_write_config
  kafka_format
  kafka_launch
  # PostgreSQL comes up while the JVM warms up.
  pg_init
  pg_start
  psql_q -d postgres -c 'CREATE DATABASE orchestrator' >/dev/null
  psql_q -d orchestrator -c 'select 1' >/dev/null
  kafka_wait "$deadline"

  cat >"$DIR/stack.env" <<EOF
# generated by deploy/local/stack.sh; stop with: deploy/local/stack.sh stop $DIR
export ORC_PG_DSN='postgresql://postgres@127.0.0.1:$PG_PORT/orchestrator'
export ORC_KAFKA_BROKERS='127.0.0.1:$KAFKA_PORT'
export ORC_STACK_DIR='$DIR'
export PGHOST='127.0.0.1'
export PGPORT='$PG_PORT'
export PGUSER='postgres'
export PGDATABASE='orchestrator'
EOF
  if [[ -n $TLS_PASS ]]; then
    printf "export ORC_STACK_TLS_CA='%s'\n" "$DIR/tls/ca.crt" >>"$DIR/stack.env"
  fi
  if [[ ${ORC_STACK_PG_TLS:-0} == 1 ]]; then
    printf "export ORC_STACK_PG_TLS_DSN='host=127.0.0.1 port=%s user=postgres dbname=orchestrator sslmode=verify-full sslrootcert=%s'\n" \
      "$PG_PORT" "$DIR/tls/ca.crt" >>"$DIR/stack.env"
  fi
  if [[ -n $KAFKA_SPORT ]]; then
    cat >>"$DIR/stack.env" <<EOF
export ORC_STACK_KAFKA_SASL_BROKERS='127.0.0.1:$KAFKA_SPORT'
export ORC_STACK_KAFKA_SASL_USER='orc'
export ORC_STACK_KAFKA_SASL_PASSWORD='$TLS_PASS'
EOF
  fi
  if [[ ${2:-1} == 1 ]]; then
    mkdir -p "$CACHE_DIR"
    ln -sfn "$DIR/stack.env" "$POINTER"
  fi
  START_OK=1
  trap - EXIT INT TERM
  log "stack up in $(elapsed "$t0") s: source $DIR/stack.env"
}

stop_stack() {
  DIR=$1
  load_conf "$DIR"
  kafka_stop term
  pg_stop fast
  release_ports "$DIR"
  [[ -z ${PG_SOCK_DIR:-} || $PG_SOCK_DIR == "$DIR"/* ]] || rm -rf "$PG_SOCK_DIR"
  if [[ -L $POINTER && $(readlink "$POINTER") == "$DIR/stack.env" ]]; then
    rm -f "$POINTER"
  fi
  if [[ ${ORC_KEEP_STACK:-0} == 1 ]]; then
    log "stopped; state kept in $DIR"
  else
    rm -rf "$DIR"
    log "stopped and removed $DIR"
  fi
}

# RSS of a pid in kB (0 if gone)
rss_kb() { awk '/^VmRSS:/ { print $2; f = 1 } END { if (!f) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0; }
pss_kb() { awk '/^Pss:/ { print $2; f = 1 } END { if (!f) print 0 }' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }

cmd_status() {
  DIR=$(resolve_dir "${1:-}")
  load_conf "$DIR"
  local pid pids rss=0 pss=0 p n=0 rc=0
  echo "stack $DIR"
  if pid=$(kafka_pid); then
    printf 'kafka     alive  pid %-7s 127.0.0.1:%-5s RSS %s\n' "$pid" "$KAFKA_PORT" "$(mb "$(rss_kb "$pid")")"
  else
    printf 'kafka     DOWN               127.0.0.1:%s\n' "$KAFKA_PORT"
    rc=1
  fi
  if pid=$(pg_pid); then
    pids="$pid $(pgrep -P "$pid" | tr '\n' ' ')"
    for p in $pids; do
      rss=$((rss + $(rss_kb "$p")))
      pss=$((pss + $(pss_kb "$p")))
      n=$((n + 1))
    done
    printf 'postgres  alive  pid %-7s 127.0.0.1:%-5s RSS %s (%d processes; PSS %s)\n' \
      "$pid" "$PG_PORT" "$(mb "$rss")" "$n" "$(mb "$pss")"
  else
    printf 'postgres  DOWN               127.0.0.1:%s\n' "$PG_PORT"
    rc=1
  fi
  return "$rc"
}

cmd_run() {
  [[ ${1:-} == -- ]] && shift
  (($#)) || die "usage: stack.sh run [--] CMD..."
  start_stack "" 0
  RUN_DIR=$DIR
  trap 'stop_stack "$RUN_DIR"' EXIT
  trap 'run_signal INT 130' INT
  trap 'run_signal TERM 143' TERM
  # shellcheck source=/dev/null
  source "$RUN_DIR/stack.env"
  # CMD runs as a background job (same process group, same stdin) so that a
  # signal to this script is handled at once: it is passed on to CMD, then the
  # stack is stopped.
  local rc=0 stdin_fd
  exec {stdin_fd}<&0
  "$@" <&"$stdin_fd" &
  RUN_CHILD=$!
  wait "$RUN_CHILD" || rc=$?
  exit "$rc"
}

run_signal() {
  local i
  if [[ -n ${RUN_CHILD:-} ]]; then
    kill -"$1" "$RUN_CHILD" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      kill -0 "$RUN_CHILD" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$RUN_CHILD" 2>/dev/null || true
  fi
  exit "$2"
}

service_cmd() {
  local cmd=$1 mode
  DIR=$(resolve_dir "${2:?usage: stack.sh $cmd DIR}")
  mode=${3:-}
  load_conf "$DIR"
  case "$cmd" in
    kafka-stop)
      if [[ $mode == --kill ]]; then kafka_stop kill; else kafka_stop term; fi
      log "kafka stopped" ;;
    kafka-start)
      ! kafka_pid >/dev/null || die "kafka already running"
      local t0
      t0=$(now)
      trap 'kafka_stop kill' EXIT # do not leave a half-started broker behind
      kafka_launch
      kafka_wait $(($(date +%s) + TIMEOUT))
      trap - EXIT
      log "kafka up in $(elapsed "$t0") s on 127.0.0.1:$KAFKA_PORT" ;;
    pg-stop)
      if [[ $mode == --kill ]]; then pg_stop immediate; else pg_stop fast; fi
      log "postgres stopped" ;;
    pg-start)
      ! pg_pid >/dev/null || die "postgres already running"
      pg_start
      log "postgres up on 127.0.0.1:$PG_PORT" ;;
  esac
}

main() {
  local cmd=${1:-help}
  (($#)) && shift
  case "$cmd" in
    start)
      start_stack "${1:-}" 1
      printf '%s\n' "$DIR/stack.env" ;;
    stop)
      stop_stack "$(resolve_dir "${1:-}")" ;;
    status)
      cmd_status "${1:-}" ;;
    run)
      cmd_run "$@" ;;
    kafka-stop | kafka-start | pg-stop | pg-start)
      service_cmd "$cmd" "$@" ;;
    fetch)
      fetch_jars ;;
    help | -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
    *)
      die "unknown command: $cmd (try: stack.sh help)" ;;
  esac
}

main "$@"
