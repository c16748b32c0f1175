#!/usr/bin/env bash
# Regression: the stage reads every SEGSTREAM_KAFKA_X_Y variable as the
# librdkafka key kafka.x.y and refuses unknown ones, so the broker scripts'
# own settings (once SEGSTREAM_KAFKA_DATA, exported by .ci/run) made every
# configuration load fail. Scripts that are not the stage must keep out of
# that namespace.
set -euo pipefail
root="${SEGSTREAM_ROOT:?}"
hits=$(grep -rnoE 'SEGSTREAM_KAFKA_[A-Z0-9_]+' "$root/deploy" "$root/tools" "$root/.ci" \
        --include='*.sh' --include='run' --include='setup' --include='test' --include='demo' |
       grep -vE 'SEGSTREAM_KAFKA_(SASL|SSL|SECURITY)_' || true)
if [ -n "$hits" ]; then
  echo "scripts use SEGSTREAM_KAFKA_* names that the stage would read as librdkafka keys:"
  echo "$hits"
  exit 1
fi
# And the stage accepts a configuration while the broker scripts' variables are set.
SEGSTREAM_BROKER_DATA=/tmp/x SEGSTREAM_BROKER_PORT=19092 "${SEGSTREAM_BIN:?}" config --show >/dev/null
echo "ok"
