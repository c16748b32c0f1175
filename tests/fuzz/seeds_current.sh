#!/usr/bin/env bash
# seeds_current.sh MAKE_SEEDS - checks that the committed seed corpora are
# what make_seeds writes today. A format change (schema, snapshot layout)
# that leaves old seeds behind would quietly weaken fuzzing: the seeds would
# stop decoding and the fuzzer would start from errors. Fix: run
# tests/fuzz/make-seeds.sh and commit the result. Avro container files are
# compared by name only: avro-c draws each file's sync marker at random.
set -euo pipefail
make_seeds="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$make_seeds" "$tmp" "$SEGSTREAM_TESTDATA"
corpus="$SEGSTREAM_ROOT/tests/fuzz/corpus"
rc=0
for t in "$tmp"/*; do
  if [ "$(basename "$t")" = avro_file ]; then
    diff <(ls "$t") <(ls "$corpus/avro_file") >/dev/null && continue
  fi
  diff -r "$t" "$corpus/$(basename "$t")" >/dev/null || {
    echo "seeds of $(basename "$t") differ from what make_seeds writes now: run tests/fuzz/make-seeds.sh" >&2
    diff -rq "$t" "$corpus/$(basename "$t")" >&2 || true
    rc=1
  }
done
[ $rc = 0 ] && echo "seed corpora are current ($(find "$tmp" -type f | wc -l) files)"
exit $rc
