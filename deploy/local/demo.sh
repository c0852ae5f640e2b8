#!/usr/bin/env bash
# deploy/local/demo.sh - the main job, from a fresh machine: install what is
# missing, build, start a local Kafka + PostgreSQL (stack.sh), create the
# schema, and print how to look inside.  The stack keeps running; stop it
# with `deploy/local/stack.sh stop`.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"

bash deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null

envfile=$(deploy/local/stack.sh start)
# shellcheck disable=SC1090
source "$envfile"
build/orchestrator migrate

cat <<MSG

The local stack is up:
  PostgreSQL  $ORC_PG_DSN
  Kafka       $ORC_KAFKA_BROKERS

Look inside:
  source $envfile
  psql -c '\dt orchestrator.*'
  psql -c 'SELECT * FROM orchestrator.overdue_sagas'

Stop it:
  deploy/local/stack.sh stop
MSG
