#!/usr/bin/env bash
# Mutation fuzzing of every parser that reads outside input (crates/facteur-fuzz): CASES cases
# per target (a million by default), release build, progress on stderr. Exits non-zero when a
# case panics, aborts or is slow; the failing input is written to fuzz-crashes/ with the command
# that replays it. Writes its section of docs/benchmarks.md (cases, time, slowest case).
# Usage: bench/fuzz.sh [TARGET…]      CASES=20000 bench/fuzz.sh   (a brief run, as in CI)
#        SEED=7 bench/fuzz.sh          (another sequence of inputs)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CASES=${CASES:-1000000}
SEED=${SEED:-1}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/facteur-target}"
echo "[fuzz] building facteur-fuzz (release)" >&2
cargo build --release -q -p facteur-fuzz
BIN="$CARGO_TARGET_DIR/release/facteur-fuzz"
out=$(mktemp)
status=0
"$BIN" --cases "$CASES" --seed "$SEED" "$@" | tee "$out" || status=$?
{
  echo "## Fuzzing (issue 9)"
  echo
  echo "Written by \`bench/fuzz.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores. Mutation fuzzing"
  echo "(seeded PRNG over each target's seed corpus and grammar dictionary; rustc 1.95 stable has no"
  echo "coverage-guided \`-Zsanitizer=fuzzer\`), $CASES cases per target, seed $SEED. A case fails on a"
  echo "panic, an abort (stack overflow, allocation failure) or when it takes over 2 s."
  echo
  echo "| target | result |"
  echo "|---|---|"
  grep -E '^[a-z0-9-]+: [0-9]+ cases' "$out" | sed -E 's/^([a-z0-9-]+): (.*)$/| `\1` | \2 |/'
  if [ "$status" -ne 0 ]; then
    echo
    echo "**The run failed** (exit $status); see fuzz-crashes/."
  fi
} | python3 "$ROOT/bench/section.py" fuzz
rm -f "$out"
exit "$status"
