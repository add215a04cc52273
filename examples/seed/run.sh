#!/usr/bin/env bash
# Runs the seed example end to end on this machine, from the repository root:
# MariaDB and PostgreSQL on loopback (started by scripts/services.sh where
# missing), a catcher standing in for the mail server and a downstream HTTP
# service, Braid running examples/seed/pipeline.yaml, then a load of website
# events. It stops Braid once every sink delivered what the sources produced,
# and verifies the audit chain. Everything lands under data/seed/.
set -euo pipefail
cd "$(dirname "$0")/../.."

DATA=data/seed
OUT=$DATA/out
N=${SEED_TRANSACTIONS:-500}
BATCHES=20 SIZE=50
export SEED_INTERACTIONS=${SEED_INTERACTIONS:-1000}
export SEED_OUT=$OUT
API=${SEED_API_ADDR:-127.0.0.1:8093}

say() { printf '\n== %s\n' "$*"; }

say "building bin/braid, bin/smtpcatcher, bin/seedload"
go build -o bin/braid ./cmd/braid
go build -o bin/smtpcatcher ./examples/seed/cmd/smtpcatcher
go build -o bin/seedload ./examples/seed/cmd/seedload

say "MariaDB and PostgreSQL on loopback"
./scripts/services.sh

rm -rf "$DATA"
mkdir -p "$OUT"
bin/seedload prepare -n "$N"

pids=()
stop_all() {
	for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	pids=()
}
trap stop_all EXIT

bin/smtpcatcher -dir "$OUT/catcher" 2>"$DATA/catcher.log" &
pids+=($!)
# A port already taken shows here rather than as a timeout later.
for _ in $(seq 1 50); do
	grep -q 'msg=catching' "$DATA/catcher.log" && break
	if ! kill -0 "${pids[0]}" 2>/dev/null; then cat "$DATA/catcher.log" >&2; exit 1; fi
	sleep 0.1
done
say "braid run (log: $DATA/braid.log, REST API: http://$API)"
bin/braid run -f examples/seed/pipeline.yaml --data-dir "$DATA/log" --http "$API" --watch=false >"$DATA/braid.log" 2>&1 &
braid_pid=$!
pids=("$braid_pid" "${pids[@]}")

braid_failed() {
	echo "$1; the last lines of $DATA/braid.log:" >&2
	tail -n 30 "$DATA/braid.log" >&2
	exit 1
}

say "posting $((BATCHES * SIZE)) website events to the webhook"
bin/seedload web -batches "$BATCHES" -size "$SIZE" || braid_failed "the webhook did not take the events"

say "waiting for every sink"
bin/seedload wait -n "$N" -events $((BATCHES * SIZE)) -interactions "$SEED_INTERACTIONS" -out "$OUT" ||
	braid_failed "the sinks did not deliver everything"
stop_all

say "audit chain"
bin/braid audit verify "$OUT/audit"

say "what landed where"
echo "emails (one per payment above 1000): $(find "$OUT/catcher/mail" -name '*.eml' | wc -l) in $OUT/catcher/mail/"
grep -h '^Subject:' "$OUT"/catcher/mail/*.eml | head -n 3
echo "HTTP batches to the recommender:    $(find "$OUT/catcher/http" -name '*.json' | wc -l) in $OUT/catcher/http/"
echo "Parquet files:                      $(find "$OUT/lake" -name '*.parquet' | wc -l) under $OUT/lake/"
echo "PostgreSQL:   psql -h 127.0.0.1 -U postgres test -c 'SELECT * FROM seed_prices ORDER BY sku'"
