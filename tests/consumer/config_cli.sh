#!/usr/bin/env bash
# config_cli.sh - `segstream config`: --list matches the README's reference,
# --show applies file < environment < --set and never prints a secret, bad
# configurations fail with status 1 and a message naming the key, bad usage 2.
set -euo pipefail
bin=${SEGSTREAM_BIN:?}
root=${SEGSTREAM_ROOT:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# The README's table is the current --list.
"$bin" config --list > "$tmp/list.md"
sed -n '/<!-- segstream config --list: begin -->/,/<!-- segstream config --list: end -->/p' "$root/README.md" \
    | sed '1d;$d' > "$tmp/readme.md"
diff -u "$tmp/readme.md" "$tmp/list.md" || fail "README.md's configuration table differs from 'segstream config --list' (run tools/update-config-reference)"

# Precedence and redaction.
printf 'cluster.k=8\ncluster.seed=7\nkafka.sasl.username=alice\n' > "$tmp/a.properties"
printf 'file-secret-value\n' > "$tmp/pw"
SEGSTREAM_CLUSTER_K=9 SEGSTREAM_KAFKA_SASL_PASSWORD=hunter2-env SEGSTREAM_KAFKA_SSL_KEY_PASSWORD_FILE="$tmp/pw" \
    "$bin" config --show -c "$tmp/a.properties" --set cluster.seed=11 > "$tmp/show" 2> "$tmp/err"
grep -qx 'cluster.k=9' "$tmp/show" || fail "environment should beat the file"
grep -qx 'cluster.seed=11' "$tmp/show" || fail "--set should beat the file"
grep -qx 'kafka.sasl.username=alice' "$tmp/show" || fail "kafka.* keys are shown"
grep -qx 'kafka.sasl.password=\*\*\*' "$tmp/show" || fail "the password is redacted"
grep -qx 'kafka.ssl.key.password=\*\*\*' "$tmp/show" || fail "the password from a file is redacted"
grep -qx '# from SEGSTREAM_CLUSTER_K' "$tmp/show" || fail "the origin of a value is shown"
if grep -q -e hunter2 -e file-secret-value "$tmp/show" "$tmp/err"; then fail "a secret was printed"; fi
# The output loads back.
"$bin" config --show -c "$tmp/show" > "$tmp/show2" || fail "--show output does not load back"
grep -qx "cluster.seed=11" "$tmp/show2" || fail "--show output loads back with other values"

# Errors: status 1, the key, the value and the accepted form.
set +e
"$bin" config --show --set cluster.windw=1d 2> "$tmp/err"; rc=$?
set -e
[ "$rc" = 1 ] || fail "unknown key: status $rc"
grep -q 'unknown key cluster.windw (did you mean cluster.window?)' "$tmp/err" || fail "no suggestion: $(cat "$tmp/err")"
set +e
SEGSTREAM_KAFKA_SASL_PASSWORD=hunter2 "$bin" config --show --set kafka.sasl.password.x=hunter2 2> "$tmp/err"; rc=$?
set -e
[ "$rc" = 1 ] || fail "bad kafka key: status $rc"
grep -q 'kafka.sasl.password.x = \*\*\*: librdkafka: No such configuration property' "$tmp/err" || fail "$(cat "$tmp/err")"
if grep -q hunter2 "$tmp/err"; then fail "a secret in an error message"; fi
set +e
"$bin" config --show -c "$tmp/missing.properties" 2> "$tmp/err"; rc=$?
"$bin" config 2> /dev/null; rc2=$?
set -e
[ "$rc" = 1 ] && grep -q 'missing.properties: No such file' "$tmp/err" || fail "missing file: $rc $(cat "$tmp/err")"
[ "$rc2" = 2 ] || fail "no action: status $rc2"
echo "config_cli: ok"
