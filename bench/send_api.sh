#!/usr/bin/env bash
# Send API throughput on loopback: N messages of about 2 KB through POST /v3.1/send in calls of
# 50 (THREADS keep-alive connections), each message spooled durably before the 200, then
# delivered to smtp-sink. Side by side in the same run, the reference: Postfix accepting and
# relaying the same number of 2 KB messages from smtp-source (20 sessions) to smtp-sink.
# Accepted = messages / time until the last 200 (Facteur) or 250 (Postfix); end to end =
# messages / time until the sink had them all. Writes its section of docs/benchmarks.md.
# Usage: bench/send_api.sh        (N=20000 THREADS=8 SESSIONS=20 override the load)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${N:-20000}
THREADS=${THREADS:-8}
SESSIONS=${SESSIONS:-20}
WORK=${WORK:-/tmp/facteur-bench-send}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/facteur-target}"
BIN="$CARGO_TARGET_DIR/release/facteur"
source "$ROOT/bench/lib.sh"

# ---------- Facteur: the Send API ----------
http=$(free_port); sink=$(free_port); dir=$WORK/facteur
read -r KEY SECRET < <("$BIN" account create --name bench --json --data "$dir" | python3 -c 'import json,sys; a=json.load(sys.stdin); print(a["api_key"], a["secret_key"])')
FACTEUR_LOG=warn "$BIN" serve --data "$dir" --smtp 127.0.0.1:0 --http "127.0.0.1:$http" \
  --relay-host "127.0.0.1:$sink" --destination-concurrency 20 >"$WORK/facteur.out" 2>"$WORK/facteur.err" &
FACTEUR_PID=$!; PIDS+=("$FACTEUR_PID")
wait_port "$http"
smtp-sink -u postfix -M "$N" -m 1000 "127.0.0.1:$sink" 1000 >"$WORK/sink-facteur.log" 2>&1 &
sink_pid=$!
wait_port "$sink"
say "facteur: $N messages through /v3.1/send, 50 a call, $THREADS connections"
t0=$(now)
secs=$(python3 "$ROOT/bench/send_load.py" "127.0.0.1:$http" "$KEY" "$SECRET" "$N" 50 "$THREADS" 2048)
deadline=$(( $(date +%s) + 900 ))
while kill -0 "$sink_pid" 2>/dev/null; do
  if [ "$(date +%s)" -gt "$deadline" ]; then say "sink did not get $N messages in 15 minutes"; exit 1; fi
  sleep 0.05
done
t2=$(now)
f_acc=$(python3 -c "print(f'{$N/$secs:.0f}')")
f_e2e=$(python3 -c "print(f'{$N/($t2-$t0):.0f}')")
f_rss=$(rss_kb "$FACTEUR_PID"); kill "$FACTEUR_PID"; wait "$FACTEUR_PID" 2>/dev/null || true
say "facteur send API: accepted $f_acc msg/s, delivered end to end $f_e2e msg/s, peak RSS $((f_rss / 1024)) MiB"

# ---------- Postfix: the same messages over SMTP ----------
port=$(free_port); sink=$(free_port)
setup_postfix "$port" "$sink"
wait_port "$port"
say "postfix: $N messages from smtp-source, $SESSIONS sessions"
read -r p_acc p_e2e < <(run_load postfix "$port" "$sink" "$N" 2048)
p_rss=$(postfix_rss_kb); postfix -c "$WORK/postfix/etc" stop >/dev/null 2>&1 || true
say "postfix: accepted $p_acc msg/s, delivered end to end $p_e2e msg/s"

ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
{
  echo "## Send API throughput (issue 3)"
  echo
  echo "Written by \`bench/send_api.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB."
  echo "Facteur: $N messages of about 2 KB (text part, one recipient each, a CustomID) posted to"
  echo "\`/v3.1/send\` in calls of 50 over $THREADS keep-alive connections by a Python client"
  echo "(\`bench/send_load.py\`); every message is validated, built as MIME (mail-builder) and spooled"
  echo "durably (SQLite, \`synchronous=FULL\`, group commit) before its call answers 200, then relayed"
  echo "to \`smtp-sink\`. Reference in the same run: Postfix $(postconf -d -h mail_version) accepting the same number"
  echo "of 2 KB messages from \`smtp-source\` ($SESSIONS sessions, a connection per message) and relaying them"
  echo "to \`smtp-sink\` (Postfix has no HTTP API: its SMTP intake is the nearest equivalent)."
  echo
  echo "| system | messages | accepted msg/s | end-to-end msg/s | peak RSS |"
  echo "|---|---|---|---|---|"
  echo "| Facteur, /v3.1/send | $N | $f_acc | $f_e2e | $((f_rss / 1024)) MiB |"
  echo "| Postfix, SMTP | $N | $p_acc | $p_e2e | $((p_rss / 1024)) MiB |"
  echo
  echo "Facteur / Postfix: accepted $(ratio "$f_acc" "$p_acc")×, end to end $(ratio "$f_e2e" "$p_e2e")×."
  echo "Target (issue 3): ≥ 5,000 accepted messages/s."
} | python3 "$ROOT/bench/section.py" send-api
sed -n "/<!-- send-api:begin -->/,/<!-- send-api:end -->/p" "$ROOT/docs/benchmarks.md"
