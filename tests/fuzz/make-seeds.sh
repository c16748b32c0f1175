#!/usr/bin/env bash
# tests/fuzz/make-seeds.sh - regenerates the seed corpora that come from code
# (tests/fuzz/corpus/{codec,json,avro_file,cluster_snapshot,
# pipeline_snapshot,model_log,safetensors,tokenizer}) with the make_seeds program of a
# build folder (default build/; built here if needed). corpus/config holds
# hand-written properties files and is left alone. Deterministic: rerunning
# it changes nothing unless the formats changed.
set -euo pipefail
. "$(dirname "$0")/../../tools/lib.sh"

build="${1:-$SEGSTREAM_ROOT/build}"
ninja -C "$build" make_seeds >/dev/null || die "make-seeds: cannot build make_seeds in $build"
corpus="$SEGSTREAM_ROOT/tests/fuzz/corpus"
for t in codec json avro_file cluster_snapshot pipeline_snapshot model_log safetensors tokenizer; do
  rm -rf "${corpus:?}/$t"
done
"$build/tests/fuzz/make_seeds" "$corpus" "$SEGSTREAM_ROOT/tests/data"
log "make-seeds: $(find "$corpus" -type f | wc -l) seeds, $(du -sh "$corpus" | cut -f1) in $corpus"
