#!/usr/bin/env bash
# Builds every fuzz target and runs each for N seconds (default 10); exits non-zero when a
# target crashes (panic, failed invariant, timeout, OOM) or a regression input fails.
#
#   fuzz/run-all.sh [SECONDS] [TARGET...]
#
# Environment:
#   FUZZ_TOOLCHAIN  rustup toolchain for cargo fuzz (default: nightly)
#   FUZZ_SANITIZER  address | none | ... (default: none; the crates forbid unsafe code, so the
#                   sanitizer mostly costs speed; use address for the C code of sqlite/aws-lc)
#   FUZZ_JOBS       parallel libFuzzer workers per target (default 1)
#   FUZZ_RSS_MB     libFuzzer -rss_limit_mb (default 2048)
set -euo pipefail

cd "$(dirname "$0")"
seconds="${1:-10}"
shift || true
toolchain="${FUZZ_TOOLCHAIN:-nightly}"
sanitizer="${FUZZ_SANITIZER:-none}"
jobs="${FUZZ_JOBS:-1}"
rss="${FUZZ_RSS_MB:-2048}"

if ! cargo "+$toolchain" fuzz --version >/dev/null 2>&1; then
    echo "run-all.sh: cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
    exit 2
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo "+$toolchain" fuzz list)
fi

build=(cargo "+$toolchain" fuzz build --debug-assertions --sanitizer "$sanitizer")
run=(cargo "+$toolchain" fuzz run --debug-assertions --sanitizer "$sanitizer")
parallel=()
if [ "$jobs" -gt 1 ]; then
    parallel=(-jobs="$jobs" -workers="$jobs")
fi
echo "== building ${#targets[@]} targets (${build[*]})"
"${build[@]}"

# Seed corpora from the shared vectors (corpora are not committed).
if [ ! -d corpus ] || [ -z "$(ls -A corpus 2>/dev/null)" ]; then
    echo "== writing seed corpora"
    cargo "+$toolchain" run --quiet --no-default-features --example seeds -- corpus
fi

failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    # Replay the regression inputs first: they must not crash any more.
    if [ -d "regressions/$t" ] && [ -n "$(ls -A "regressions/$t")" ]; then
        echo "== $t: replaying regressions"
        if ! "${run[@]}" "$t" "regressions/$t" -- -runs=0 \
            -rss_limit_mb="$rss" >"artifacts/$t/regressions.log" 2>&1; then
            echo "!! $t: a regression input crashes (see fuzz/artifacts/$t/regressions.log)"
            failed+=("$t(regression)")
        fi
    fi
    echo "== $t: fuzzing for ${seconds}s"
    if ! "${run[@]}" "$t" "corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb="$rss" -timeout=10 -max_len=65536 \
        "${parallel[@]}" -print_final_stats=1 \
        -artifact_prefix="artifacts/$t/" >"artifacts/$t/fuzz.log" 2>&1; then
        echo "!! $t: crash (see fuzz/artifacts/$t/ and fuzz/artifacts/$t/fuzz.log)"
        tail -n 30 "artifacts/$t/fuzz.log" >&2 || true
        failed+=("$t")
    else
        grep -E '^stat::(number_of_executed_units|peak_rss_mb)|cov: ' "artifacts/$t/fuzz.log" \
            | tail -n 3 || true
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "run-all.sh: failures: ${failed[*]}" >&2
    exit 1
fi
echo "run-all.sh: ${#targets[@]} targets ran ${seconds}s each without a crash"
