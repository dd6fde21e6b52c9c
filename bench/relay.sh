#!/usr/bin/env bash
# Relay throughput on loopback, Facteur side by side with Postfix, same load, same run:
#   smtp-source (N messages, S parallel sessions, a new connection per message)
#     → relay under test (durable queue) → smtp-sink (exits after N messages).
# Accept rate = N / time smtp-source took; end-to-end rate = N / time until the sink got all N.
# Prints both, the ratios and peak RSS, and writes docs/benchmarks.md.
#
# Needs root (Postfix), Debian's postfix package (smtp-source, smtp-sink) — installed if missing.
# With PostgreSQL reachable (BENCH_POSTGRES, default postgres://postgres@127.0.0.1:5432/postgres
# when pg_isready answers), the 2 KB load also runs with Facteur on PostgreSQL, one node and two
# nodes sharing the database (each node gets half the sessions and half the messages).
# Usage: bench/relay.sh            (N2K=10000 N100K=2000 SESSIONS=20 override the load)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N2K=${N2K:-10000}
N100K=${N100K:-2000}
SESSIONS=${SESSIONS:-20}
WORK=${WORK:-/tmp/facteur-bench}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/facteur-target}"
BIN="$CARGO_TARGET_DIR/release/facteur"

source "$ROOT/bench/lib.sh"

# ---------- Facteur ----------
# setup_facteur PORT SINK [DATABASE_URL [KEY]]: starts a node; sets FACTEUR_PID and KEY.
setup_facteur() {
  local port=$1 sink=$2 database=${3:-} dir=$WORK/facteur-$1
  local db_args=(--data "$dir")
  [ -n "$database" ] && db_args+=(--database "$database")
  KEY=${4:-$("$BIN" account create --name bench --json "${db_args[@]}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')}
  FACTEUR_LOG=warn "$BIN" serve "${db_args[@]}" --relay "127.0.0.1:$port" --http 127.0.0.1:0 \
    --trusted-networks 127.0.0.0/8 --trusted-account "$KEY" --relay-host "127.0.0.1:$sink" \
    --destination-concurrency 20 --max-connections-per-ip 1000 >"$WORK/facteur-$port.out" 2>"$WORK/facteur-$port.err" &
  FACTEUR_PID=$!
  PIDS+=("$FACTEUR_PID")
}

declare -A RESULT
for size_name in 2k 100k; do
  if [ "$size_name" = 2k ]; then size=2048; count=$N2K; else size=102400; count=$N100K; fi
  for system in facteur postfix; do
    port=$(free_port); sink=$(free_port)
    if [ "$system" = facteur ]; then
      setup_facteur "$port" "$sink"
    else
      postfix -c "$WORK/postfix/etc" stop >/dev/null 2>&1 || true
      rm -rf "$WORK/postfix"; setup_postfix "$port" "$sink"
    fi
    wait_port "$port"
    say "$system, $size_name messages: $count messages, $SESSIONS sessions"
    read -r acc e2e < <(run_load "$system" "$port" "$sink" "$count" "$size")
    if [ "$system" = facteur ]; then
      rss=$(rss_kb "$FACTEUR_PID"); kill "$FACTEUR_PID"; wait "$FACTEUR_PID" 2>/dev/null || true
    else
      rss=$(postfix_rss_kb); postfix -c "$WORK/postfix/etc" stop >/dev/null 2>&1 || true
    fi
    RESULT[$system.$size_name]="$acc $e2e $rss"
    say "$system $size_name: accepted $acc msg/s, delivered end to end $e2e msg/s, peak RSS $((rss / 1024)) MiB"
  done
done

# ---------- Facteur on PostgreSQL: one node, then two nodes sharing the database ----------
PG_URL=${BENCH_POSTGRES:-}
if [ -z "$PG_URL" ] && pg_isready -q -h 127.0.0.1 2>/dev/null; then
  PG_URL=postgres://postgres@127.0.0.1:5432/postgres
fi
PG_ROWS=()
if [ -n "$PG_URL" ]; then
  server=${PG_URL%/*}
  for nodes in 1 2; do
    psql "$PG_URL" -qc "DROP DATABASE IF EXISTS facteur_bench WITH (FORCE)" -c "CREATE DATABASE facteur_bench" >/dev/null
    db="$server/facteur_bench"
    sink=$(free_port); ports=(); node_pids=(); KEY=
    for _ in $(seq 1 "$nodes"); do
      port=$(free_port); setup_facteur "$port" "$sink" "$db" "$KEY"; wait_port "$port"
      ports+=("$port"); node_pids+=("$FACTEUR_PID")
    done
    say "facteur on PostgreSQL, $nodes node(s), 2k messages: $N2K messages, $SESSIONS sessions"
    read -r acc e2e < <(run_load "facteur-pg-$nodes" "$(IFS=,; echo "${ports[*]}")" "$sink" "$N2K" 2048)
    rss=0; for p in "${node_pids[@]}"; do rss=$((rss + $(rss_kb "$p"))); kill "$p"; wait "$p" 2>/dev/null || true; done
    PG_ROWS+=("$nodes $acc $e2e $rss")
    say "facteur on PostgreSQL, $nodes node(s): accepted $acc msg/s, delivered end to end $e2e msg/s, peak RSS $((rss / 1024)) MiB"
  done
  psql "$PG_URL" -qc "DROP DATABASE IF EXISTS facteur_bench WITH (FORCE)" >/dev/null
fi

ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
{
  echo "## Relay throughput (issue 2)"
  echo
  echo "Written by \`bench/relay.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB."
  echo "Load: Postfix's \`smtp-source\` ($SESSIONS parallel sessions, a new connection per message) → relay"
  echo "under test → \`smtp-sink\` (exits after the last message), all on 127.0.0.1, plain SMTP, the relay"
  echo "trusting loopback (no AUTH). Both relays keep a durable queue: Facteur SQLite WAL with"
  echo "\`synchronous=FULL\` and group commit; Postfix $(postconf -d -h mail_version) with its queue files fsynced."
  echo "Accepted = messages / time until smtp-source finished (every message got its 250)."
  echo "End to end = messages / time until smtp-sink had received them all."
  echo
  echo "| message | messages | system | accepted msg/s | end-to-end msg/s | peak RSS |"
  echo "|---|---|---|---|---|---|"
  for size_name in 2k 100k; do
    n=$N2K; [ "$size_name" = 100k ] && n=$N100K
    for system in facteur postfix; do
      read -r acc e2e rss <<< "${RESULT[$system.$size_name]}"
      echo "| ${size_name^^}B | $n | $system | $acc | $e2e | $((rss / 1024)) MiB |"
    done
  done
  echo
  echo "| message | accepted: Facteur / Postfix | end to end: Facteur / Postfix |"
  echo "|---|---|---|"
  for size_name in 2k 100k; do
    read -r fa fe _ <<< "${RESULT[facteur.$size_name]}"
    read -r pa pe _ <<< "${RESULT[postfix.$size_name]}"
    echo "| ${size_name^^}B | $(ratio "$fa" "$pa")× | $(ratio "$fe" "$pe")× |"
  done
  echo
  echo "Postfix's peak RSS is the sum over its processes (master, smtpd, cleanup, qmgr, smtp, …)."
  echo "Target (issue 2): Facteur end to end ≥ 3× Postfix at 2 KB."
  if [ ${#PG_ROWS[@]} -gt 0 ]; then
    read -r _ pe _ <<< "${RESULT[postfix.2k]}"
    echo
    echo "## Facteur on PostgreSQL (issue 5)"
    echo
    echo "Same 2 KB load, Facteur's queue in PostgreSQL $(psql "$PG_URL" -Atc 'show server_version' | cut -d' ' -f1) on the same machine"
    echo "(\`synchronous_commit = on\`). With two nodes, each node gets half the sessions and half the"
    echo "messages; both share one database and one sink. Everything (load generator, sink, nodes,"
    echo "PostgreSQL) shares the same 2 cores and disk, so the two-node row measures the cost of sharing"
    echo "one queue, not scale-out: that needs nodes on separate machines."
    echo
    echo "| nodes | messages | accepted msg/s | end-to-end msg/s | peak RSS (all nodes) | end to end vs Postfix |"
    echo "|---|---|---|---|---|---|"
    for row in "${PG_ROWS[@]}"; do
      read -r nodes acc e2e rss <<< "$row"
      echo "| $nodes | $N2K | $acc | $e2e | $((rss / 1024)) MiB | $(ratio "$e2e" "$pe")× |"
    done
  fi
} | python3 "$ROOT/bench/section.py" relay
sed -n "/<!-- relay:begin -->/,/<!-- relay:end -->/p" "$ROOT/docs/benchmarks.md"
