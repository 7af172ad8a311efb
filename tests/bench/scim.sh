#!/usr/bin/env bash
# SCIM load benchmark (issue 2): `bash tests/bench/scim.sh` from anywhere in the repo.
#
# Builds the release binaries, starts a fresh server on a temporary SQLite file, seeds
# 100,000 users, and measures GET by id, `filter=userName eq`, and POST create with 16
# concurrent keep-alive clients, against a bare axum server serving the bytes of a real
# GET /Users/{id} response in the same run. Every scenario runs in ROUNDS rounds of
# SECS/ROUNDS s: the baseline, GETs and filters alternate, and so do creates without and
# with the standard rules module, so a shared machine's drift falls on both sides of each
# ratio alike. Samples the server's resident memory,
# kills it with SIGKILL in the middle of a create run and checks that every user it had
# acknowledged is still there after a restart. Prints a markdown table and checks the
# targets: reads >= 40% of the baseline, creates >= 2,000/s, peak RSS <= 200 MB, no
# errors, no lost acknowledged create. Exits non-zero when a target is missed or the
# server cannot be started. Method and figures: BENCHMARKS.md.
#
#   bash tests/bench/scim.sh                      # 100,000 users, 3 rounds of 3 s per scenario
#   USERS=20000 SECS=6 bash tests/bench/scim.sh   # a quicker look (3 rounds of 2 s)
#
# Knobs (environment):
#   USERS=100000 SECS=10 WARMUP=2 CONC=16   users seeded; measured and warm-up seconds; clients
#   ROUNDS=3         rounds of each scenario (the first warms up WARMUP s, the others 1 s;
#                    each measures SECS/ROUNDS s, at least 1)
#   GEN_THREADS=1    generator runtime threads (1 leaves most of a core to the server)
#   PORT, BPORT      server and baseline ports (default: free ones picked at random)
#   CRASH=1          0 skips the SIGKILL durability check
#   KEEP=1           keep the temporary directory (database, logs, JSON lines)
#   READY_SECS=120   how long to wait for /healthz after a (re)start
#   USERSYNC_BIN, USERSYNC_BENCH_BIN   use these binaries instead of building (both needed)
set -euo pipefail

users=${USERS:-100000}
secs=${SECS:-10}
warmup=${WARMUP:-2}
rounds=${ROUNDS:-3}
concurrency=${CONC:-16}
threads=${GEN_THREADS:-1}
crash=${CRASH:-1}
ready_secs=${READY_SECS:-120}

# Targets from the issue.
min_read_ratio=0.40
min_creates=2000
max_rss_mb=200

log() { printf '== %s\n' "$*" >&2; }
die() {
    printf 'scim.sh: %s\n' "$*" >&2
    exit 1
}
for tool in curl jq awk; do
    command -v "$tool" >/dev/null || die "$tool is required (apt-get install $tool)"
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"

if [[ -n ${USERSYNC_BIN:-} && -n ${USERSYNC_BENCH_BIN:-} ]]; then
    server_bin=$USERSYNC_BIN
    bench_bin=$USERSYNC_BENCH_BIN
else
    log "building release binaries (cargo build --release -p usersync -p usersync-tests --bins)"
    cargo build --release -p usersync -p usersync-tests --bins
    # Honours CARGO_TARGET_DIR and any .cargo/config target-dir.
    target_dir=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
    server_bin=$target_dir/release/usersync
    bench_bin=$target_dir/release/usersync-bench
fi
[[ -x $server_bin && -x $bench_bin ]] || die "missing binaries: $server_bin $bench_bin"

work=$(mktemp -d "${TMPDIR:-/tmp}/usersync-bench.XXXXXX")
server_pid=
baseline_pid=
load_pid=
cleanup() {
    local status=$?
    for pid in $load_pid $baseline_pid $server_pid; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in $load_pid $baseline_pid $server_pid; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ $status -ne 0 && -s $work/server.log ]]; then
        printf '\n-- last lines of the server log (%s) --\n' "$work/server.log" >&2
        tail -n 20 "$work/server.log" >&2
    fi
    if [[ ${KEEP:-0} == 1 ]]; then
        log "kept $work"
    else
        rm -rf "$work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A loopback port nothing listens on (a refused connect means free).
free_port() {
    local port
    for _ in $(seq 50); do
        port=$((20000 + RANDOM % 20000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    die "no free loopback port found"
}

port=${PORT:-$(free_port)}
public_url=http://127.0.0.1:$port
scim=$public_url/scim/v2/bench
cat >"$work/usersync.toml" <<EOF
[server]
listen = "127.0.0.1:$port"
public_url = "$public_url"
database = "$work/usersync.db"

[[apps]]
name = "bench"
kind = "generic"

# The same app with the standard rules module: every create is decided by it.
[[apps]]
name = "rules"
kind = "generic"
rules = "rules/standard.wasm"
[apps.settings]
username_regex = "@.*\$"
username_replacement = ""
default_groups_new = ["confluence-users"]
default_groups_all = ["staff"]
on_the_fly = true
keep_existing_groups = true
[apps.settings.group_mapping]
Engineering = "confluence-developers"
EOF
log "building the standard rules module (usersync rules build sample-rules/standard)"
mkdir -p "$work/rules" # a folder of its own: the module's watcher hears every file in its folder
"$server_bin" rules build sample-rules/standard --out "$work/rules/standard.wasm" 2>>"$work/server.log" ||
    die "usersync rules build failed (is the wasm32-unknown-unknown target installed?)"

token=$("$server_bin" token create --config "$work/usersync.toml" --app bench \
    2>>"$work/server.log" | tail -n 1)
[[ -n $token ]] || die "usersync token create printed no token"
rules_token=$("$server_bin" token create --config "$work/usersync.toml" --app rules \
    2>>"$work/server.log" | tail -n 1)
[[ -n $rules_token ]] || die "usersync token create printed no token for the rules app"
# The generator reads the token from the environment, curl from a header file: not in `ps`.
export USERSYNC_BENCH_TOKEN=$token
auth_header=$work/auth.header
(umask 077 && printf 'Authorization: Bearer %s\n' "$token" >"$auth_header")

# Polls `url` until it answers 2xx; fails when `pid` exits or after READY_SECS.
wait_ready() {
    local pid=$1 url=$2 what=$3 deadline=$((SECONDS + ready_secs))
    until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || die "$what exited before answering $url"
        ((SECONDS < deadline)) || die "$what did not answer $url within ${ready_secs}s"
        sleep 0.1
    done
}

start_server() {
    USERSYNC_LOG=${USERSYNC_LOG:-usersync=warn} \
        "$server_bin" serve --config "$work/usersync.toml" 2>>"$work/server.log" >&2 &
    server_pid=$!
    wait_ready "$server_pid" "$public_url/healthz" "the server"
}

now_ms() { date +%s%3N; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
clk_tck=$(getconf CLK_TCK)
max_rss_kb=0
sample_rss() {
    local kb
    kb=$(rss_kb "$server_pid")
    if ((kb > max_rss_kb)); then max_rss_kb=$kb; fi
    log "server VmRSS after $1: $((kb / 1024)) MB"
}

# run_round NAME R URL PID EXTRA...: round R of scenario NAME (the generator's scenario
# $SCENARIO, default NAME) against the process PID: WARMUP s of warm-up in the first round,
# 1 s in the others, then $round_secs measured. Keeps its JSON line in $work/NAME.R.json,
# and the process's CPU ticks, the wall milliseconds and the successful requests meanwhile
# (warm-up included on both sides) in $work/NAME.R.raw.
run_round() {
    local name=$1 round=$2 url=$3 pid=$4
    shift 4
    local ticks0 t0 ticks1 t1 round_warmup=1 out=$work/$name.$round
    ((round == 1)) && round_warmup=$warmup
    log "$name, round $round: ${round_warmup}s warm-up + ${round_secs}s measured, $concurrency clients"
    ticks0=$(cpu_ticks "$pid")
    t0=$(now_ms)
    "$bench_bin" load --url "$url" --scenario "${SCENARIO:-$name}" --concurrency "$concurrency" \
        --threads "$threads" --warmup-secs "$round_warmup" --duration-secs "$round_secs" "$@" \
        >"$out.json"
    ticks1=$(cpu_ticks "$pid")
    t1=$(now_ms)
    echo "$((ticks1 - ticks0)) $((t1 - t0)) $(jq -r .ok_total "$out.json")" >"$out.raw"
    cat "$out.json" >&2
}

# combine NAME: merges the rounds $work/NAME.1 … NAME.$rounds into $work/NAME.json and, in
# NAME.cpu, the CPU the process used: requests, errors, seconds and CPU summed (so
# throughput and CPU per request are over all rounds), p50 and p90 the median of the
# rounds', p99 and max the worst round's.
combine() {
    local name=$1 files=() r
    for r in $(seq "$rounds"); do files+=("$work/$name.$r.json"); done
    jq -s -c '
        def median: sort | .[(length - 1) / 2 | floor];
        { scenario: .[0].scenario, concurrency: .[0].concurrency, rounds: length,
          measured_secs: (map(.measured_secs) | add), requests: (map(.requests) | add),
          errors: (map(.errors) | add), ok_total: (map(.ok_total) | add),
          throughput_per_sec: (((map(.requests) | add) / (map(.measured_secs) | add)) * 100 | round / 100),
          p50_us: (map(.p50_us) | median), p90_us: (map(.p90_us) | median),
          p99_us: (map(.p99_us) | max), max_us: (map(.max_us) | max),
          first_error: (map(.first_error) | map(select(. != null)) | first) }' \
        "${files[@]}" >"$work/$name.json"
    # The rounds' "ticks ms ok" lines, summed: cores busy on average, µs of CPU per request.
    for r in $(seq "$rounds"); do cat "$work/$name.$r.raw"; done |
        awk -v hz="$clk_tck" '{ d += $1; ms += $2; ok += $3 }
            END { printf "%.2f %.1f\n", d / hz / (ms / 1000), (ok > 0 ? d / hz / ok * 1e6 : 0) }' \
            >"$work/$name.cpu"
}

log "starting the server on $public_url"
start_server

log "seeding $users users with $concurrency clients"
"$bench_bin" seed --url "$scim" --users "$users" --concurrency "$concurrency" \
    --threads "$threads" --ids-out "$work/ids.txt" >"$work/seed.json"
cat "$work/seed.json" >&2
sample_rss "seeding"
seeded_rss_kb=$max_rss_kb

# The baseline serves the exact bytes of a real response.
first_id=$(head -n 1 "$work/ids.txt")
curl -fsS -H @"$auth_header" -H 'Accept: application/scim+json' \
    -o "$work/user.json" "$scim/Users/$first_id"
bport=${BPORT:-$(free_port)}
"$bench_bin" baseline --listen "127.0.0.1:$bport" --body-file "$work/user.json" \
    2>>"$work/baseline.log" &
baseline_pid=$!
wait_ready "$baseline_pid" "http://127.0.0.1:$bport/" "the baseline"

# Every scenario runs in ROUNDS rounds: the reads alternate with the baseline, and the
# creates without rules with those with rules, so drift on a shared machine falls on both
# sides of each ratio alike. The first round of each warms up WARMUP s, the others 1 s.
round_secs=$((secs / rounds))
((round_secs >= 1)) || round_secs=1
for r in $(seq "$rounds"); do
    run_round baseline "$r" "http://127.0.0.1:$bport/scim/v2/bench" "$baseline_pid" --ids-file "$work/ids.txt"
    run_round get "$r" "$scim" "$server_pid" --ids-file "$work/ids.txt"
    sample_rss "get (round $r)"
    run_round filter "$r" "$scim" "$server_pid" --ids-file "$work/ids.txt"
    sample_rss "filter (round $r)"
done
combine baseline
combine get
combine filter
kill "$baseline_pid" && wait "$baseline_pid" 2>/dev/null || true
baseline_pid=
# The memory target is for the seeded users: take the peak before creates add more.
peak_kb=$(hwm_kb "$server_pid")
if ((peak_kb < max_rss_kb)); then peak_kb=$max_rss_kb; fi
# Creates, and the same creates through the standard rules module (a decision per create,
# stored with the user in one transaction), on the same server.
for r in $(seq "$rounds"); do
    run_round create "$r" "$scim" "$server_pid"
    SCENARIO=create USERSYNC_BENCH_TOKEN=$rules_token \
        run_round create_rules "$r" "$public_url/scim/v2/rules" "$server_pid"
done
combine create
combine create_rules
end_rss_kb=$(rss_kb "$server_pid")
stored_at_end=$((users + $(jq -r .ok_total "$work/create.json") + $(jq -r .ok_total "$work/create_rules.json")))

durability="skipped (CRASH=0)"
restart_ms=
crash_ok=1
if [[ $crash == 1 ]]; then
    log "durability: SIGKILL the server 3 s into a create run, restart, look up every acknowledged user"
    "$bench_bin" load --url "$scim" --scenario create --concurrency "$concurrency" \
        --threads "$threads" --warmup-secs 0 --duration-secs 6 \
        --acked-out "$work/acked.txt" >"$work/crash.json" &
    load_pid=$!
    sleep 3
    kill -KILL "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=
    wait "$load_pid" || die "the create run during the crash failed"
    load_pid=
    t0=$(now_ms)
    start_server
    restart_ms=$(($(now_ms) - t0))
    restart_rss_kb=$(rss_kb "$server_pid")
    acked=$(wc -l <"$work/acked.txt")
    if "$bench_bin" verify --url "$scim" --concurrency "$concurrency" --threads "$threads" \
        --names-file "$work/acked.txt" >"$work/verify.json" && ((acked > 0)); then
        durability="all $acked creates acknowledged before the SIGKILL were found after restart"
    else
        crash_ok=0
        durability="FAILED: $(cat "$work/verify.json" 2>/dev/null) of $acked acknowledged"
    fi
    log "$durability"
fi

# ---- report ----
field() { jq -r ".$2" "$work/$1.json"; }
base_rps=$(field baseline throughput_per_sec)
ratio() { awk -v a="$1" -v b="$base_rps" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

failures=()
printf '\n### SCIM benchmark: %s users, %s clients, %ss measured per scenario\n\n' \
    "$users" "$concurrency" "$((rounds * round_secs))"
printf 'Each scenario ran in %s rounds of %ss (the first after %ss of warm-up, the others after 1 s), alternating baseline, get and filter, then create and create_rules (p50 and p90: the median round; p99: the worst).\n\n' \
    "$rounds" "$round_secs" "$warmup"
printf '| scenario | requests/s | vs baseline | p50 µs | p90 µs | p99 µs | errors | server cores | server CPU µs/req |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for name in baseline get filter create create_rules; do
    rps=$(field "$name" throughput_per_sec)
    errors=$(field "$name" errors)
    vs=$(ratio "$rps")
    [[ $name == create ]] && vs="—"
    # Rules on, as a ratio to the same creates with rules off.
    [[ $name == create_rules ]] &&
        vs=$(awk -v a="$rps" -v b="$(field create throughput_per_sec)" 'BEGIN { printf "%.2f of create", a / b }')
    read -r cores cpu_us <"$work/$name.cpu"
    printf '| %s | %.0f | %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$rps" "$vs" \
        "$(field "$name" p50_us)" "$(field "$name" p90_us)" "$(field "$name" p99_us)" \
        "$errors" "$cores" "$cpu_us"
    if ((errors > 0)); then
        failures+=("$name had $errors errors; first: $(field "$name" first_error)")
    fi
done
printf '\n'
printf -- '- seeding: %s users in %s s (%.0f creates/s)\n' \
    "$(field seed seeded)" "$(field seed secs)" "$(field seed per_sec)"
printf -- '- server resident memory with %s users: %s MB after seeding, %s MB max after reads, %s MB peak (VmHWM, seeding included)\n' \
    "$users" "$((seeded_rss_kb / 1024))" "$((max_rss_kb / 1024))" "$((peak_kb / 1024))"
printf -- '- after the create run (%s users stored): %s MB\n' "$stored_at_end" "$((end_rss_kb / 1024))"
printf -- '- durability: %s\n' "$durability"
if [[ -n $restart_ms ]]; then
    printf -- '- restart with about %s users stored: /healthz after %s ms, then %s MB resident\n' \
        "$((stored_at_end + acked))" "$restart_ms" "$((restart_rss_kb / 1024))"
fi
printf -- '- machine: %s cores (%s), generator threads %s; commit %s\n' "$(nproc)" \
    "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" "$threads" \
    "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"

for name in get filter; do
    ge "$(ratio "$(field "$name" throughput_per_sec)")" "$min_read_ratio" ||
        failures+=("$name is below ${min_read_ratio} of the baseline")
done
ge "$(field create throughput_per_sec)" "$min_creates" ||
    failures+=("creates are below ${min_creates}/s")
((peak_kb <= max_rss_mb * 1024)) || failures+=("peak RSS with $users users is above ${max_rss_mb} MB")
((crash_ok == 1)) || failures+=("acknowledged creates were lost in the crash")

printf '\n'
if ((${#failures[@]} == 0)); then
    printf 'All targets met.\n'
else
    printf 'Targets missed:\n'
    printf -- '- %s\n' "${failures[@]}"
    exit 1
fi
