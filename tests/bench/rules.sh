#!/usr/bin/env bash
# Rules-engine benchmark (issue 3): `bash tests/bench/rules.sh` from anywhere in the repo.
#
# Builds the standard rules module and the hostile test guest for wasm32-unknown-unknown
# (profile `rules`, in their own target folder `$CARGO_TARGET_DIR/wasm-guests`, as the
# host's tests do) and the release benchmark binary, then runs it:
# - decision latency of the standard module (`engine.decide`: fresh instance + three calls),
#   20,000 calls after 1,000 warm-up, against the same logic called natively in the same
#   run, and against a module with trivial logic (the hostile guest in its default mode: the
#   engine's fixed cost); decisions/s with 1 and 2 threads;
# - reload latency of a ~1 MB module (file written -> new version serving), 10 times by
#   temporary file + rename and 3 times written in place.
# Prints markdown tables and the target check (decision p50 <= 30 us, p99 <= 100 us; reload
# <= 1 s), and exits non-zero when a target is missed. Method and figures: BENCHMARKS.md.
#
#   bash tests/bench/rules.sh
#   ITERATIONS=5000 RELOADS=4 bash tests/bench/rules.sh   # a quicker look
#
# Knobs (environment):
#   ITERATIONS=20000 WARMUP=1000   measured and warm-up decisions (and native calls)
#   THREADS=2 SECS=3               threads and seconds of the throughput run
#   RELOADS=10 INPLACE=3           reloads by rename, and in place
#   RELOAD_BYTES=1048576           size the reloaded module is grown to
#   KEEP_MODULES=dir               also write the two grown modules there
#   USERSYNC_RULES_BENCH_BIN, STANDARD_WASM   use these instead of building (both needed;
#                    FLOOR_WASM, the hostile guest, is then optional)
set -euo pipefail

log() { printf '== %s\n' "$*" >&2; }
die() {
    printf 'rules.sh: %s\n' "$*" >&2
    exit 1
}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"

if [[ -n ${USERSYNC_RULES_BENCH_BIN:-} && -n ${STANDARD_WASM:-} ]]; then
    bench_bin=$USERSYNC_RULES_BENCH_BIN
    standard_wasm=$STANDARD_WASM
    floor_wasm=${FLOOR_WASM:-}
else
    # Honours CARGO_TARGET_DIR and any .cargo/config target-dir.
    target_dir=$(cargo metadata --format-version 1 --no-deps |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    [[ -n $target_dir ]] || die "cannot find cargo's target directory"
    guest_dir=$target_dir/wasm-guests
    log "building the modules (cargo build --profile rules --target wasm32-unknown-unknown -p usersync-standard-rules -p usersync-hostile-guest)"
    # The host's flags (coverage, sanitizers …) are not for the guests.
    env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u CARGO_BUILD_RUSTFLAGS -u CARGO_BUILD_TARGET \
        CARGO_TARGET_DIR="$guest_dir" \
        cargo build --profile rules --target wasm32-unknown-unknown \
        -p usersync-standard-rules -p usersync-hostile-guest
    standard_wasm=$guest_dir/wasm32-unknown-unknown/rules/usersync_standard_rules.wasm
    floor_wasm=$guest_dir/wasm32-unknown-unknown/rules/usersync_hostile_guest.wasm
    log "building the benchmark (cargo build --release -p usersync-tests --bin usersync-rules-bench)"
    cargo build --release -p usersync-tests --bin usersync-rules-bench
    bench_bin=$target_dir/release/usersync-rules-bench
fi
[[ -x $bench_bin ]] || die "missing binary: $bench_bin"
[[ -s $standard_wasm ]] || die "missing module: $standard_wasm"

args=(
    --module "$standard_wasm"
    --iterations "${ITERATIONS:-20000}"
    --warmup "${WARMUP:-1000}"
    --threads "${THREADS:-2}"
    --throughput-secs "${SECS:-3}"
    --reload-rounds "${RELOADS:-10}"
    --inplace-rounds "${INPLACE:-3}"
    --reload-bytes "${RELOAD_BYTES:-1048576}"
)
if [[ -n $floor_wasm ]]; then
    [[ -s $floor_wasm ]] || die "missing module: $floor_wasm"
    args+=(--floor-module "$floor_wasm")
fi
if [[ -n ${KEEP_MODULES:-} ]]; then
    args+=(--keep-modules "$KEEP_MODULES")
fi

log "running $bench_bin ${args[*]}"
status=0
"$bench_bin" "${args[@]}" || status=$?

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain 2>/dev/null | grep -q . && echo ", uncommitted changes" || true)
printf -- '- machine: %s cores (%s); commit %s%s; %s\n' "$(nproc)" \
    "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" "$commit" "$dirty" "$(date -u +%F)"
printf -- '- command: bash tests/bench/rules.sh (ran %s %s)\n' "$(basename "$bench_bin")" "${args[*]}"
exit "$status"
