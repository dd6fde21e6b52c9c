#!/usr/bin/env bash
# Co-editing benchmark (issue 14), written to docs/benchmarks.md (section "coedit"):
# - operation latency from one editor to the others (median, p95, max) with 2, 10 and 20
#   people editing one template, each in their own section, each sending 10 changes a second
#   over the editor's real WebSocket: on one node (SQLite, the default) and across two nodes
#   sharing PostgreSQL (editors spread over both; operations cross by NOTIFY and the op log);
# - the op log of a template with 10,000 operations: rows, bytes, apply rate, replay time.
# Targets: p95 ≤ 100 ms on one node and ≤ 250 ms across two nodes with 20 people.
# No other system offers this to run side by side (GrapesJS, easy-email, listmonk have no
# co-editing; Beefree and Unlayer sell theirs as a hosted service), so the reference is the
# issue's target.
# Two nodes need PostgreSQL: FACTEUR_TEST_POSTGRES (default postgres://postgres@127.0.0.1:5432/postgres).
# Usage: bench/coedit.sh    (OPS=100 per person, LOG_OPS=10000 override)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/facteur-target}"
export FACTEUR_TEST_POSTGRES="${FACTEUR_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}"
export FACTEUR_LOG=warn
OPS=${OPS:-100}
LOG_OPS=${LOG_OPS:-10000}
say() { printf '[bench] %s\n' "$*" >&2; }

say "building the benchmark (release)"
cargo build --release -q -p facteur --example coedit_bench
BIN="$CARGO_TARGET_DIR/release/examples/coedit_bench"

rows=""
for nodes in 1 2; do
  for people in 2 10 20; do
    say "latency: $people people on $nodes node(s), $OPS changes each"
    line=$("$BIN" latency "$people" "$nodes" "$OPS")
    say "$line"
    get() { echo "$line" | sed -E "s/.*$1=([^ ]+).*/\1/"; }
    target=100; [ "$nodes" = 2 ] && target=250
    p95=$(get p95_ms)
    met=$(awk -v p="$p95" -v t="$target" 'BEGIN { print (p <= t) ? "yes" : "no" }')
    store=SQLite; [ "$nodes" = 2 ] && store=PostgreSQL
    rows+="| $people | $nodes ($store) | $(get ops) | $(get deliveries) | $(get p50_ms) | $p95 | $(get max_ms) | ≤ $target ms: $met |"$'\n'
  done
done

say "op log: $LOG_OPS operations"
log=$("$BIN" log "$LOG_OPS")
say "$log"
lget() { echo "$log" | sed -E "s/.*$1=([^ ]+).*/\1/"; }

python3 bench/section.py coedit <<MD
## Co-editing (issue 14)

\`bench/coedit.sh\`, $(date -u +%Y-%m-%d), on this machine (2 cores). Each person is a real
WebSocket editor signed in as their own person, holding the lease of their own section and
sending $OPS text changes at 10 a second; latency is from a change's send to its arrival at
each other editor (every delivery counted). Two nodes share one PostgreSQL database, editors
alternate between them, and operations cross nodes by NOTIFY (ids only) and the op log.
No open system has co-editing to run beside it: the reference is the issue's target.

| people | nodes | changes | deliveries | p50 ms | p95 ms | max ms | target |
|---|---|---|---|---|---|---|---|
${rows}
Op log of one template after $(lget ops) operations (typing, style changes, section moves) applied
through the store as the server applies them (SQLite): $(lget log_bytes) bytes
($(lget bytes_per_op) bytes per operation), $(lget apply_per_s) operations applied per second by
one writer, the whole log replayed onto the starting document in $(lget replay_ms) ms (the
document itself: $(lget doc_bytes) bytes).
MD
say "written to docs/benchmarks.md (section coedit)"
