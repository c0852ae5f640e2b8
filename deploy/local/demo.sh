#!/usr/bin/env bash
# deploy/local/demo.sh - the main job, end to end, from a fresh machine:
# install what is missing, build, start a local Kafka + PostgreSQL
# (stack.sh), create the schema, load the order saga, start the
# orchestrator and four example services (inventory, payment,
# notification, shipping: some reservations and payments fail), drive a
# few hundred orders (the large ones need a manual review, approved by a
# review event), wait until every saga has finished, and print a summary
# and the queries to look inside.
#
#   deploy/local/demo.sh                 300 orders
#   DEMO_ORDERS=1000 deploy/local/demo.sh
#
# The stack keeps running afterwards so you can look around; stop it with
# `deploy/local/stack.sh stop <dir>` (printed at the end).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
orders=${DEMO_ORDERS:-300}
jobs=$(nproc 2>/dev/null || echo 2)

say() { printf '\n==> %s\n' "$*"; }

say "installing dependencies and building"
bash deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs" >/dev/null
bin=$top/build/orchestrator
svc=$top/build/tests/tools/responder
loadgen=$top/build/tests/tools/loadgen

say "starting Kafka and PostgreSQL"
envfile=$(deploy/local/stack.sh start)
# shellcheck disable=SC1090
source "$envfile"
dir=$ORC_STACK_DIR
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

say "creating the schema and loading the order saga"
"$bin" migrate
"$bin" definitions load schemas/examples/order_fulfillment.json

say "starting the orchestrator and the example services"
"$bin" run --timer-poll-ms 50 >"$dir/orchestrator.log" 2>&1 &
pids+=($!)
common=(--brokers "$ORC_KAFKA_BROKERS" --seed 7
	--kafka.topic.metadata.refresh.interval.ms=1000)
"$svc" "${common[@]}" --name inventory --topics inventory.commands \
	--rule 'inventory.reserve=random:5:inventory.unavailable:inventory.reserved+{"reservation_id":"r-1"}' \
	--rule 'inventory.release=succeed:inventory.released' \
	>"$dir/inventory.log" 2>&1 &
pids+=($!)
"$svc" "${common[@]}" --name payment --topics payment.commands \
	--rule 'payment.charge=random:10:payment.declined:payment.charged+{"payment_id":"p-1"}' \
	--rule 'payment.refund=succeed:payment.refunded' \
	>"$dir/payment.log" 2>&1 &
pids+=($!)
"$svc" "${common[@]}" --name notification --topics notifications.commands \
	--rule 'notification.send=succeed:notification.sent' \
	>"$dir/notification.log" 2>&1 &
pids+=($!)
"$svc" "${common[@]}" --name shipping --topics shipping.commands \
	--rule 'shipping.schedule=delay:20:shipping.scheduled' \
	>"$dir/shipping.log" 2>&1 &
pids+=($!)
sleep 2

say "placing $orders orders (total 1<i>: from order 100 on, over 1000, which needs a review)"
prefix="order-$(date +%s)"
"$loadgen" --topic orders.events --type order.placed --count "$orders" \
	--source /shop \
	--prefix "$prefix" --key-field order_id \
	--data '{"order_id":"{key}","customer_id":"c-{i}","total":1{i},"currency":"EUR","items":[{"sku":"sku-{i}","qty":1}],"shipping_address":{"country":"DE"}}'
# The big orders get their approval; early ones wait in the saga.
if [ "$orders" -gt 100 ]; then
	"$loadgen" --topic reviews.events --type review.approved --source /reviews \
		--count "$(( orders - 100 ))" --start 100 --prefix "$prefix" \
		--key-field order_id --data '{"order_id":"{key}","reviewer":"ops"}'
fi

say "waiting for every saga to finish"
q() { psql -XAtq -c "SET search_path TO orchestrator; $1"; }
deadline=$(( $(date +%s) + 180 ))
while :; do
	open=$(q "SELECT count(*) FROM sagas WHERE business_key LIKE '$prefix-%'
		  AND status IN ('running', 'compensating')")
	done_n=$(q "SELECT count(*) FROM sagas WHERE business_key LIKE '$prefix-%'")
	if [ -t 1 ]; then
		printf '\r  %s of %s sagas started, %s still running   ' \
			"$done_n" "$orders" "$open"
	fi
	if [ "$done_n" -ge "$orders" ] && [ "$open" -eq 0 ]; then
		break
	fi
	if [ "$(date +%s)" -ge "$deadline" ]; then
		echo
		echo "demo: sagas still running after 180 s; see $dir/orchestrator.log" >&2
		exit 1
	fi
	sleep 1
done
echo

say "summary"
psql -X -q -c "SET search_path TO orchestrator" -c "
SELECT status, count(*) AS sagas,
       round(avg(extract(epoch FROM finished_at - created_at)) * 1000) AS avg_ms,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at)) * 1000)::numeric) AS p50_ms,
       round((percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at)) * 1000)::numeric) AS p95_ms
FROM sagas WHERE business_key LIKE '$prefix-%' GROUP BY status ORDER BY 2 DESC" -c "
SELECT count(*) AS sagas,
       round(extract(epoch FROM max(finished_at) - min(created_at))::numeric, 2) AS seconds,
       round(count(*) / extract(epoch FROM max(finished_at) - min(created_at))::numeric, 1) AS sagas_per_s,
       (SELECT count(*) FROM saga_steps st JOIN sagas s2 ON s2.id = st.saga_id
         WHERE s2.business_key LIKE '$prefix-%' AND st.status IN ('succeeded', 'compensated')) AS steps_done
FROM sagas WHERE business_key LIKE '$prefix-%'"

cat <<MSG

Look inside (psql is set up by: source $envfile):
  psql -c "SELECT * FROM orchestrator.saga_status_counts"
  psql -c "SELECT * FROM orchestrator.failed_sagas LIMIT 5"
  psql -c "SELECT at, kind, step_name FROM orchestrator.saga_timeline WHERE business_key = '$prefix-250'"
  $bin list --status compensated --limit 5
  $bin status --key $prefix-250
  $bin history \$($bin list --limit 1 --json | sed -n 's/.*"id": *"\\([^"]*\\)".*/\\1/p' | head -1)

Logs: $dir/*.log
Stop the stack: deploy/local/stack.sh stop $dir
MSG
