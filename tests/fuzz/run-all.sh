#!/usr/bin/env bash
# tests/fuzz/run-all.sh - builds the libFuzzer targets with clang (ASan +
# UBSan + libFuzzer) in their own build folder and runs each for a bounded
# time from its seed corpus; fails on any crash, leak, UB report, timeout or
# out-of-memory, and prints where the failing input was kept.
#
#   tests/fuzz/run-all.sh [TARGET...]      default: every target
#
# Environment: SEGSTREAM_FUZZ_SECONDS per target (default 30),
# SEGSTREAM_FUZZ_BUILD (default build-fuzz/), SEGSTREAM_FUZZ_OUT (default
# $SEGSTREAM_FUZZ_BUILD/fuzz-out: grown corpora and failing inputs),
# SEGSTREAM_JOBS (build jobs, default nproc), SEGSTREAM_MODEL_DIR (for the
# tokenizer; default: what tools/fetch-model prints).
#
# Main design choice: each run starts from the committed seeds plus the
# corpus the previous runs grew in the output folder (never written back
# into the source tree), so repeated runs go deeper while CI stays bounded.
# A failing input is fixed by a code change and then committed under
# tests/fuzz/regressions/TARGET/, where ctest replays it in every build.
set -euo pipefail
. "$(dirname "$0")/../../tools/lib.sh"

targets=(codec json avro_file config pipeline_snapshot model_log cluster_snapshot safetensors tokenizer)
[ $# -eq 0 ] || targets=("$@")
seconds="${SEGSTREAM_FUZZ_SECONDS:-30}"
build="${SEGSTREAM_FUZZ_BUILD:-$SEGSTREAM_ROOT/build-fuzz}"
out="${SEGSTREAM_FUZZ_OUT:-$build/fuzz-out}"
jobs="${SEGSTREAM_JOBS:-$(nproc)}"
src="$SEGSTREAM_ROOT/tests/fuzz"

command -v clang >/dev/null || die "fuzz: clang not found (tools/setup installs it)"
t0=$SECONDS
CC=clang CXX=clang++ cmake -S "$SEGSTREAM_ROOT" -B "$build" -G Ninja -DSEGSTREAM_FUZZ=ON >/dev/null \
  || die "fuzz: cmake configure of $build failed"
ninja -C "$build" -j "$jobs" fuzz_targets >/dev/null || die "fuzz: build of the fuzz targets failed"
log "fuzz: built the targets in $build in $((SECONDS - t0))s"

if [ -z "${SEGSTREAM_MODEL_DIR:-}" ]; then
  SEGSTREAM_MODEL_DIR="$("$SEGSTREAM_ROOT/tools/fetch-model")" || die "fuzz: tools/fetch-model failed"
fi
export SEGSTREAM_MODEL_DIR
# leaks are checked by libFuzzer itself (-detect_leaks=1, its default)
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=()
summary=()
for t in "${targets[@]}"; do
  bin="$build/tests/fuzz/fuzz_$t"
  [ -x "$bin" ] || die "fuzz: no target $t ($bin)"
  mkdir -p "$out/corpus/$t" "$out/crashes"
  seeds=("$src/corpus/$t")
  [ ! -d "$src/regressions/$t" ] || seeds+=("$src/regressions/$t")
  log_file="$out/$t.log"
  rc=0
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb/-malloc_limit_mb:
  # a forged count that makes the parser allocate 2 GiB is a bug too.
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$out/crashes/$t-" \
    "$out/corpus/$t" "${seeds[@]}" >"$log_file" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log_file" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log_file" | tail -1 || true)
  if [ "$rc" = 0 ]; then
    summary+=("$(printf '%-18s ok      %ss  %s execs  %s' "$t" "$seconds" "${execs:-?}" "$cov")")
  else
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log_file" | tail -1)
    summary+=("$(printf '%-18s FAILED  exit %s, input: %s' "$t" "$rc" "${artifact:-none (see $log_file)}")")
    failed+=("$t")
    echo "==== fuzz: $t failed; the end of $log_file:" >&2
    tail -n 60 "$log_file" >&2
    [ -z "$artifact" ] || echo "==== fuzz: reproduce: $bin $artifact" >&2
  fi
done

echo "==== fuzz: summary (logs and grown corpora in $out)"
printf '  %s\n' "${summary[@]}"
[ ${#failed[@]} = 0 ] || die "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}"
