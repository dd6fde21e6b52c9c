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

say() { printf '[bench] %s\n' "$*" >&2; }

if ! command -v smtp-source >/dev/null || ! command -v postfix >/dev/null; then
  say "installing Debian's postfix (for smtp-source, smtp-sink and the reference relay)"
  apt-get update -qq
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
fi
PATH=$PATH:/usr/sbin

say "building facteur (release)"
cargo build --release -p facteur -q

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; say "port $1 did not open"; return 1; }
rss_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  [ -d "$WORK/postfix/etc" ] && postfix -c "$WORK/postfix/etc" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
rm -rf "$WORK"; mkdir -p "$WORK"

# ---------- Postfix, configured as a private instance under $WORK ----------
setup_postfix() {
  local port=$1 sink=$2 pf=$WORK/postfix
  mkdir -p "$pf/etc" "$pf/spool" "$pf/data"
  chown postfix:postfix "$pf/data"
  cp /etc/postfix/master.cf "$pf/etc/master.cf"
  cat > "$pf/etc/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $pf/spool
data_directory = $pf/data
mail_owner = postfix
setgid_group = postdrop
myhostname = bench-postfix.localdomain
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relayhost = [127.0.0.1]:$sink
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtputf8_enable = no
maillog_file_prefixes = $pf
maillog_file = $pf/maillog
default_process_limit = 200
smtp_destination_concurrency_limit = 20
smtpd_client_connection_count_limit = 0
CF
  # The default instance must list this config directory before postfix -c accepts it.
  touch /etc/postfix/main.cf
  postconf -e "alternate_config_directories = $pf/etc"
  postconf -c "$pf/etc" -M# smtp/inet >/dev/null 2>&1 || true
  postconf -c "$pf/etc" -M "127.0.0.1:$port/inet = 127.0.0.1:$port inet n - n - - smtpd"
  postconf -c "$pf/etc" -F '*/*/chroot = n'
  postfix -c "$pf/etc" set-permissions >/dev/null 2>&1 || true
  postfix -c "$pf/etc" check
  postfix -c "$pf/etc" start >/dev/null 2>&1
}

postfix_rss_kb() {
  local total=0
  for p in $(pgrep -f "$WORK/postfix" || true); do total=$((total + $(rss_kb "$p"))); done
  # smtpd/cleanup/smtp children do not carry the path on their command line: add them.
  for p in $(pgrep -u postfix || true); do total=$((total + $(rss_kb "$p"))); done
  echo "$total"
}

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

# run_load NAME PORTS SINKPORT COUNT SIZE → prints "accept_rate e2e_rate"; PORTS is a
# comma-separated list of relays that share the sessions and the messages equally.
run_load() {
  local name=$1 ports=$2 sink=$3 count=$4 size=$5
  IFS=, read -r -a port_list <<< "$ports"
  local k=${#port_list[@]}
  # smtp-sink refuses to run as root without a user to switch to.
  smtp-sink -u postfix -M "$count" -m 1000 "127.0.0.1:$sink" 1000 >"$WORK/sink-$name.log" 2>&1 &
  local sink_pid=$!
  wait_port "$sink"
  local t0 t1 t2
  t0=$(now)
  local sources=()
  for port in "${port_list[@]}"; do
    smtp-source -s $((SESSIONS / k)) -m $((count / k)) -l "$size" -f bench@sender.test -t user@example.net "127.0.0.1:$port" &
    sources+=($!)
  done
  for p in "${sources[@]}"; do wait "$p"; done
  t1=$(now)
  local deadline=$(( $(date +%s) + 900 ))
  while kill -0 "$sink_pid" 2>/dev/null; do
    if [ "$(date +%s)" -gt "$deadline" ]; then say "$name: sink did not get $count messages in 15 minutes"; kill "$sink_pid"; return 1; fi
    sleep 0.05
  done
  t2=$(now)
  python3 -c "print(f'{$count/($t1-$t0):.0f} {$count/($t2-$t0):.0f}')"
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
