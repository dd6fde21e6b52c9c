#!/usr/bin/env bash
# Template benchmarks (issue 4), written to docs/benchmarks.md:
# - renders per second of a transactional template (10 order lines, 3 conditions) through the
#   templating language alone;
# - MJML → HTML per second for each starter template, mrml (Facteur) side by side with the
#   official node mjml on the same documents in the same run, and the ratio.
# Needs node and npm (the mjml package is installed under ~/.cache/facteur-bench-node).
# Usage: bench/templates.sh   (ITERATIONS=2000 NODE_ITERATIONS=200 RENDERS=200000 override)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/facteur-target}"
ITERATIONS=${ITERATIONS:-2000}
NODE_ITERATIONS=${NODE_ITERATIONS:-200}
RENDERS=${RENDERS:-200000}
NODE_DIR=${NODE_DIR:-$HOME/.cache/facteur-bench-node}
say() { printf '[bench] %s\n' "$*" >&2; }

say "building the examples (release)"
cargo build --release -q -p facteur-template --examples
if [ ! -d "$NODE_DIR/node_modules/mjml" ]; then
  say "installing node mjml into $NODE_DIR"
  mkdir -p "$NODE_DIR" && (cd "$NODE_DIR" && npm init -y >/dev/null && npm install --silent mjml >/dev/null 2>&1)
fi
MJML_VERSION=$(node -e "console.log(require('$NODE_DIR/node_modules/mjml/package.json').version)")

say "language: $RENDERS renders"
render_line=$("$CARGO_TARGET_DIR/release/examples/render_bench" "$RENDERS")
renders_per_s=$(echo "$render_line" | sed -E 's/.*: ([0-9]+) renders\/s.*/\1/')
say "$render_line"

say "MJML: mrml, $ITERATIONS compilations per starter"
mrml_out=$("$CARGO_TARGET_DIR/release/examples/mjml_bench" "$ITERATIONS")
say "MJML: node mjml $MJML_VERSION, $NODE_ITERATIONS compilations per starter"
node_out=$(NODE_PATH="$NODE_DIR/node_modules" ITERATIONS=$NODE_ITERATIONS node "$ROOT/bench/mjml-node.js" "$ROOT"/crates/facteur-template/starters/*.mjml)

{
  echo "## Templates (issue 4)"
  echo
  echo "Written by \`bench/templates.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores; one thread each."
  echo
  echo "**Templating language:** $renders_per_s renders/s of a transactional template (10 order lines,"
  echo "3 conditions, FormatNumberLocale on each line, HTML escaping), parsed once"
  echo "(\`crates/facteur-template/examples/render_bench.rs\`). Target: ≥ 100,000."
  echo
  echo "**MJML → HTML**, starter templates, mrml 6 in Facteur against node mjml $MJML_VERSION"
  echo "(\`mjml2html\`, validation off) on the same documents in the same run. Target: ≥ 50×."
  echo
  echo "| starter | Facteur (mrml) docs/s | node mjml docs/s | ratio | HTML bytes (mrml / node) |"
  echo "|---|---|---|---|---|"
  while read -r slug rate bytes; do
    read -r _ nrate nbytes < <(echo "$node_out" | grep "^$slug ")
    ratio=$(python3 -c "print(f'{$rate/$nrate:.0f}')")
    echo "| $slug | $rate | $nrate | ${ratio}× | $bytes / $nbytes |"
  done <<< "$mrml_out"
} | python3 "$ROOT/bench/section.py" templates
sed -n "/<!-- templates:begin -->/,/<!-- templates:end -->/p" "$ROOT/docs/benchmarks.md"
