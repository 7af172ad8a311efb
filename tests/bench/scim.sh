#!/usr/bin/env bash
# SCIM service load benchmark (issue 2).
#
#   bash tests/bench/scim.sh            # 100,000 users, 10 s per scenario
#   USERS=20000 SECS=5 bash tests/bench/scim.sh
#
# Builds release binaries, starts `usersync serve` on a fresh SQLite file, seeds USERS users
# with 16 concurrent clients, then measures GET by id, `filter=userName eq`, and POST create,
# each with 16 concurrent keep-alive clients. In the same run it serves the exact bytes of one
# real `GET /Users/{id}` response from a bare axum handler and measures that as the baseline.
# Prints a markdown table: throughput, ratio to the baseline, latency, and the server's RSS.
set -euo pipefail
cd "$(dirname "$0")/../.."

USERS=${USERS:-100000}
SECS=${SECS:-10}
CONC=${CONC:-16}
PORT=${PORT:-18080}
BPORT=${BPORT:-18081}

cargo build --release -q -p usersync -p usersync-tests --bins
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
BIN="$TARGET/release"

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

cat > "$WORK/usersync.toml" <<TOML
[server]
listen = "127.0.0.1:$PORT"
public_url = "http://127.0.0.1:$PORT"
database = "$WORK/usersync.db"

[[apps]]
name = "bench"
kind = "generic"
TOML

TOKEN=$("$BIN/usersync" token create --config "$WORK/usersync.toml" --app bench 2>/dev/null | tail -n 1)
export USERSYNC_BENCH_TOKEN="$TOKEN"
BASE="http://127.0.0.1:$PORT/scim/v2/bench"

USERSYNC_LOG=usersync=warn "$BIN/usersync" serve --config "$WORK/usersync.toml" &
SERVER=$!
PIDS+=("$SERVER")
for _ in $(seq 1 200); do
    curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.05
done
curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null || { echo "the server did not start" >&2; exit 1; }

rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$SERVER/status"; }

echo "seeding $USERS users..." >&2
"$BIN/usersync-bench" seed --url "$BASE" --users "$USERS" --concurrency "$CONC" --ids-out "$WORK/ids" > "$WORK/seed.json"
RSS_SEEDED=$(rss)

for scenario in get filter create; do
    echo "measuring $scenario..." >&2
    "$BIN/usersync-bench" load --url "$BASE" --scenario "$scenario" --concurrency "$CONC" \
        --duration-secs "$SECS" --ids-file "$WORK/ids" > "$WORK/$scenario.json"
done
RSS_END=$(rss)

# The baseline: a bare axum handler returning the same bytes as one real GET /Users/{id}.
curl -fsS -H "Authorization: Bearer $TOKEN" "$BASE/Users/$(head -n 1 "$WORK/ids")" > "$WORK/body.json"
"$BIN/usersync-bench" baseline --listen "127.0.0.1:$BPORT" --body-file "$WORK/body.json" 2>/dev/null &
PIDS+=("$!")
for _ in $(seq 1 200); do
    curl -fsS "http://127.0.0.1:$BPORT/Users/x" >/dev/null 2>&1 && break
    sleep 0.05
done
echo "measuring baseline..." >&2
"$BIN/usersync-bench" load --url "http://127.0.0.1:$BPORT" --scenario baseline --concurrency "$CONC" \
    --duration-secs "$SECS" --ids-file "$WORK/ids" > "$WORK/baseline.json"

python3 - "$WORK" "$USERS" "$RSS_SEEDED" "$RSS_END" <<'PY'
import json, sys
work, users, rss_seeded, rss_end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
load = lambda name: json.loads(open(f"{work}/{name}.json").read().strip().splitlines()[-1])
seed = load("seed")
base = load("baseline")
rows = [("GET /Users/{id}", load("get")), ("GET /Users?filter=userName eq", load("filter")),
        ("POST /Users (durable)", load("create")), ("baseline: bare axum, same bytes", base)]
print(f"{users:,} users stored; seeded at {seed['per_sec']:,.0f}/s; 16 concurrent clients.\n")
print("| scenario | req/s | vs baseline | p50 µs | p99 µs | errors |")
print("|---|---:|---:|---:|---:|---:|")
for name, r in rows:
    ratio = r["throughput_per_sec"] / base["throughput_per_sec"] if base["throughput_per_sec"] else 0
    print(f"| {name} | {r['throughput_per_sec']:,.0f} | {ratio:.0%} | {r['p50_us']:,} | {r['p99_us']:,} | {r['errors']} |")
print(f"\nServer RSS: {rss_seeded} MB after seeding, {rss_end} MB at the end (max {max(rss_seeded, rss_end)} MB).")
PY
