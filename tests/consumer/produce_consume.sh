#!/usr/bin/env bash
# NDJSON -> `segstream produce` -> Kafka -> `segstream consume` -> the same NDJSON.
# Also: a bad input line fails the producer but not the other lines, and a
# Confluent-framed record is skipped (reported) unless its schema id is mapped.
set -euo pipefail
: "${SEGSTREAM_BIN:?}" "${SEGSTREAM_TESTDATA:?}"
in="$SEGSTREAM_TESTDATA/consumer/interest_changes.ndjson"
n=$(wc -l < "$in")
tmp=$(mktemp -d)
topic="segstream-script-$(date +%s)-$$"
cleanup() {
  rm -rf "$tmp"
  # The topic is throwaway; deleting it keeps repeated runs from piling up topics.
  timeout 60 "${SEGSTREAM_ROOT:-.}/deploy/kafka/kafka.sh" class org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "${SEGSTREAM_BROKERS:-127.0.0.1:9092}" --delete --topic "$topic" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"$SEGSTREAM_BIN" produce --topic "$topic" --create-topic 3 < "$in"
"$SEGSTREAM_BIN" consume --topic "$topic" --from-beginning --max "$n" --timeout 30 > "$tmp/out"
# Partitions interleave: compare as sets of lines, byte for byte.
diff <(sort "$in") <(sort "$tmp/out")
echo "round trip: $n records identical"

# A bad line: reported with its number, exit status 1, the good line still delivered.
{ echo '{"event_id":"bad","user_id":"u","event_time":1,"op":"REPLACE"}'; tail -n 1 "$in"; } > "$tmp/mixed"
if "$SEGSTREAM_BIN" produce --topic "$topic" < "$tmp/mixed" 2> "$tmp/err"; then
  echo "produce accepted an invalid line"; exit 1
fi
grep -q 'line 1: InterestChange: field op' "$tmp/err" || { cat "$tmp/err"; exit 1; }
grep -q '1 delivered' "$tmp/err" || { cat "$tmp/err"; exit 1; }

# Confluent framing: unknown schema id -> skipped with partition/offset; mapped -> decoded.
head -n 1 "$in" | "$SEGSTREAM_BIN" produce --topic "$topic" --framing confluent --schema-id 99
"$SEGSTREAM_BIN" consume --topic "$topic" --from-beginning --to-end --timeout 30 > "$tmp/all" 2> "$tmp/err"
grep -q 'offset [0-9]*: skipped: unknown schema id 99' "$tmp/err" || { cat "$tmp/err"; exit 1; }
[ "$(wc -l < "$tmp/all")" -eq $((n + 1)) ] || { echo "expected $((n + 1)) records"; exit 1; }
"$SEGSTREAM_BIN" consume --topic "$topic" --from-beginning --to-end --timeout 30 \
  --schema-id 99=interest_change > "$tmp/all" 2> "$tmp/err"
[ "$(wc -l < "$tmp/all")" -eq $((n + 2)) ] || { cat "$tmp/err"; echo "expected $((n + 2)) records"; exit 1; }
grep -c "$(head -n 1 "$in")" "$tmp/all" | grep -qx 2
echo "bad lines and Confluent framing handled"
