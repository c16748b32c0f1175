# Shared by the shell tools: where caches live (outside the source tree, so
# several checkouts share one model, one venv and one set of Kafka jars).
SEGSTREAM_CACHE="${SEGSTREAM_CACHE:-$HOME/.cache/segstream}"
SEGSTREAM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SEGSTREAM_CACHE SEGSTREAM_ROOT
log() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
