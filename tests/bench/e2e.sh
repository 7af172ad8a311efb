#!/usr/bin/env bash
# End-to-end benchmarks (issue 4): `bash tests/bench/e2e.sh` from anywhere in the repo.
#
# Builds the release binaries and the standard rules module, then runs
# `tests/src/bin/usersync-e2e-bench.rs`, which starts every part as its own process
# (`usersync serve`, `confluence-emulator`, and itself as the SCIM clients):
# 1. provisioning throughput: PROVISIONINGS × (POST /Users + three PATCH /Groups/{id} adding
#    the user), CONC clients, through the host with the standard rules module
#    (username_regex "@.*$", on_the_fly = true). A provisioning counts as done once the
#    emulator has the user and its three memberships. Baseline in the same run: the same
#    traffic to the same host with no [confluence] (decisions stored, nothing applied).
# 2. Synchronize: USERS SCIM users in SYNC_GROUPS SCIM groups (3 each) seeded into the host, the
#    same people and groups seeded into the emulator with drift (1% of users missing, 1%
#    renamed, ~1% of memberships missing, a stray member in every 50th group), then
#    `/usr/bin/time -v usersync sync --config … --app bench` in-process: wall time, peak
#    RSS, phases from its progress lines, and a check that the drift was repaired exactly.
# 4. Directory (issue 13): slapd seeded with LDAP_USERS people in LDAP_GROUPS groups, a
#    directory app's full sync into the emulator (wall time, peak RSS; baseline: ldapsearch
#    paging the same entries), then one change's latency with refreshAndPersist and with
#    refreshOnly polled every 5 s.
# 3. Bulk: one SCIM Bulk request of BULK_OPERATIONS creates, answered by a host without
#    [confluence] (baseline) and by one with the emulator at BULK_LATENCY_MS per request:
#    when the Bulk is answered, and when Confluence has every user.
# Prints markdown tables and exits non-zero when the Synchronize target (60 s, 500 MB) is
# missed or anything fails. Method and figures: BENCHMARKS.md.
#
#   bash tests/bench/e2e.sh                               # 100,000 users, 5,000 groups
#   USERS=10000 SYNC_GROUPS=500 PROVISIONINGS=2000 bash tests/bench/e2e.sh   # a quicker look
#
# Knobs (environment):
#   PROVISIONINGS=10000 POOL_GROUPS=300   provisionings per run; SCIM groups they join
#   USERS=100000 SYNC_GROUPS=5000         size of the Synchronize (not GROUPS: bash reserves it)
#   CONC=16                               SCIM clients
#   MAX_CONCURRENCY=4                     [confluence] max_concurrency (the default)
#   RULES_DEADLINE_MS=50                  [apps.rules_limits] deadline_ms of the measured hosts
#                                         (seeding, not measured, runs with 10000)
#   MAX_SECS=60 MAX_RSS_MB=500            the Synchronize target
#   SKIP_PROVISION=1, SKIP_BULK=1, SKIP_SYNC=1   skip a scenario
#   BULK_OPERATIONS=1000 BULK_LATENCY_MS=20  scenario 3: one Bulk of N creates; Confluence latency
#   LDAP_USERS=10000 LDAP_GROUPS=1000 LDAP_MEMBERS=10   scenario 4 (issue 13): slapd's size
#                                         (needs slapd: bash tests/ldap/install.sh); SKIP_LDAP=1
#   KEEP=1                                keep the temporary directory (configs, logs, db)
#   SEEDED_DB=<kept dir>/sync/usersync.db the host's store from a kept run of the same size:
#                                         copied instead of seeding the host (saves minutes)
#   USERSYNC_BIN, EMULATOR_BIN, E2E_BENCH_BIN, STANDARD_WASM   use these instead of building
set -euo pipefail

log() { printf '== %s\n' "$*" >&2; }
die() {
    printf 'e2e.sh: %s\n' "$*" >&2
    exit 1
}
[[ -x /usr/bin/time ]] || die "/usr/bin/time (GNU time) is required (apt-get install time)"

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"

# The commit the binaries are built from (others may commit while this runs).
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo ", uncommitted changes" || true)

work=$(mktemp -d "${TMPDIR:-/tmp}/usersync-e2e.XXXXXX")
cleanup() {
    local status=$?
    if [[ ${KEEP:-0} == 1 ]]; then
        log "kept $work"
    else
        rm -rf "$work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -n ${USERSYNC_BIN:-} && -n ${EMULATOR_BIN:-} && -n ${E2E_BENCH_BIN:-} ]]; then
    usersync_bin=$USERSYNC_BIN
    emulator_bin=$EMULATOR_BIN
    bench_bin=$E2E_BENCH_BIN
else
    log "building release binaries (cargo build --release -p usersync -p usersync-tests --bins)"
    cargo build --release -p usersync -p usersync-tests --bins
    # Honours CARGO_TARGET_DIR and any .cargo/config target-dir.
    target_dir=$(cargo metadata --format-version 1 --no-deps |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    [[ -n $target_dir ]] || die "cannot find cargo's target directory"
    usersync_bin=$target_dir/release/usersync
    emulator_bin=$target_dir/release/confluence-emulator
    bench_bin=$target_dir/release/usersync-e2e-bench
fi
for bin in "$usersync_bin" "$emulator_bin" "$bench_bin"; do
    [[ -x $bin ]] || die "missing binary: $bin"
done

if [[ -n ${STANDARD_WASM:-} ]]; then
    module=$STANDARD_WASM
else
    log "building the standard rules module (usersync rules build sample-rules/standard)"
    "$usersync_bin" rules build sample-rules/standard --out "$work/standard.wasm" ||
        die "usersync rules build failed (is the wasm32-unknown-unknown target installed?)"
    module=$work/standard.wasm
fi
[[ -s $module ]] || die "missing module: $module"

common=(
    --usersync "$usersync_bin"
    --emulator "$emulator_bin"
    --module "$module"
    --work "$work"
    --clients "${CONC:-16}"
    --max-concurrency "${MAX_CONCURRENCY:-4}"
    --rules-deadline-ms "${RULES_DEADLINE_MS:-50}"
)

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
status=0
if [[ ${SKIP_PROVISION:-0} != 1 ]]; then
    log "scenario 1: provisioning throughput (load average $(loadavg))"
    RUST_LIB_BACKTRACE=0 "$bench_bin" provision "${common[@]}" --provisionings "${PROVISIONINGS:-10000}" \
        --groups "${POOL_GROUPS:-300}" >"$work/provision.out" || status=$?
    grep -v '^json: ' "$work/provision.out" || true
    ((status == 0)) || die "the provisioning benchmark failed (status $status)"
fi
if [[ ${SKIP_SYNC:-0} != 1 ]]; then
    log "scenario 2: Synchronize (load average $(loadavg))"
    RUST_LIB_BACKTRACE=0 "$bench_bin" sync "${common[@]}" --users "${USERS:-100000}" --groups "${SYNC_GROUPS:-5000}" \
        --max-secs "${MAX_SECS:-60}" --max-rss-mb "${MAX_RSS_MB:-500}" ${SEEDED_DB:+--seeded-db "$SEEDED_DB"} \
        >"$work/sync.out" || status=$?
    grep -v '^json: ' "$work/sync.out" || true
fi

if [[ ${SKIP_BULK:-0} != 1 ]]; then
    log "scenario 3: one Bulk request (load average $(loadavg))"
    bulk_status=0
    RUST_LIB_BACKTRACE=0 "$bench_bin" bulk "${common[@]}" --operations "${BULK_OPERATIONS:-1000}" \
        --latency-ms "${BULK_LATENCY_MS:-20}" >"$work/bulk.out" || bulk_status=$?
    cat "$work/bulk.out"
    ((bulk_status == 0)) || die "the Bulk benchmark failed (status $bulk_status)"
fi

if [[ ${SKIP_LDAP:-0} != 1 ]]; then
    log "scenario 4: a directory app, full sync from slapd and one change's latency (load average $(loadavg))"
    ldap_status=0
    RUST_LIB_BACKTRACE=0 "$bench_bin" ldap "${common[@]}" --users "${LDAP_USERS:-10000}" \
        --groups "${LDAP_GROUPS:-1000}" --members "${LDAP_MEMBERS:-10}" >"$work/ldap.out" || ldap_status=$?
    cat "$work/ldap.out"
    case $ldap_status in
        0) ;;
        2) die "a directory target was missed (full sync 10 s, 300 MB)" ;;
        *) die "the directory benchmark failed (status $ldap_status)" ;;
    esac
fi

printf -- '\n- machine: %s cores (%s); load average after the run %s; built from commit %s%s; %s\n' "$(nproc)" \
    "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" "$(loadavg)" "$commit" "$dirty" "$(date -u +%F)"

case $status in
    0) printf '\nAll targets met.\n' ;;
    2)
        printf '\nTarget missed: the Synchronize took longer than %s s or more than %s MB.\n' \
            "${MAX_SECS:-60}" "${MAX_RSS_MB:-500}"
        exit 1
        ;;
    *) die "the Synchronize benchmark failed (status $status)" ;;
esac
