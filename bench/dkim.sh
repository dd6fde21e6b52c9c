#!/usr/bin/env bash
# Relay throughput with DKIM signing (issue 11), side by side in the same run:
#   Facteur signing with its own RSA-2048 key for the sender's domain, and
#   Postfix with Debian's OpenDKIM as a milter (RSA-2048, relaxed/relaxed, the same headers
#   oversigned), under the load of bench/relay.sh (smtp-source → relay → smtp-sink).
# Also prints the bounce reader's throughput over the corpus. Writes docs/benchmarks.md.
# Needs root; installs postfix, opendkim and opendkim-tools if missing.
# Usage: bench/dkim.sh            (N2K=10000 N100K=2000 SESSIONS=20 override the load)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N2K=${N2K:-10000}
N100K=${N100K:-2000}
SESSIONS=${SESSIONS:-20}
WORK=${WORK:-/tmp/facteur-bench-dkim}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/facteur-target}"
BIN="$CARGO_TARGET_DIR/release/facteur"

source "$ROOT/bench/lib.sh"

if ! command -v opendkim >/dev/null || ! command -v opendkim-genkey >/dev/null; then
  say "installing Debian's opendkim and opendkim-tools"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq opendkim opendkim-tools >/dev/null
fi

# OpenDKIM as a milter on MILTER_PORT, signing sender.test with a fresh 2048-bit key.
setup_opendkim() {
  local port=$1 dir=$WORK/opendkim
  mkdir -p "$dir/keys"
  opendkim-genkey -b 2048 -d sender.test -s bench -D "$dir/keys"
  chown -R opendkim:opendkim "$dir" 2>/dev/null || true
  cat > "$dir/opendkim.conf" <<CONF
Mode s
Domain sender.test
Selector bench
KeyFile $dir/keys/bench.private
Socket inet:$port@127.0.0.1
Canonicalization relaxed/relaxed
SignatureAlgorithm rsa-sha256
OversignHeaders From,Subject,To,Date,Message-ID
Syslog no
# The key lives under the bench's work directory (in /tmp, world-writable above it).
RequireSafeKeys false
Background no
UserID opendkim
PidFile $dir/opendkim.pid
CONF
  opendkim -x "$dir/opendkim.conf" &
  PIDS+=($!)
  OPENDKIM_PID=$!
  wait_port "$port"
}

# probe_signed NAME PORT SINK: one message through the relay into a dumping sink; fails unless
# it arrived with a DKIM signature for sender.test (so both systems really sign).
probe_signed() {
  local name=$1 port=$2 sink=$3 dump=$WORK/probe-$1
  mkdir -p "$dump"; chown postfix "$dump"
  smtp-sink -u postfix -d "$dump/%H%M%S." -M 1 "127.0.0.1:$sink" 10 >/dev/null 2>&1 &
  local pid=$!
  wait_port "$sink"
  smtp-source -m 1 -f bench@sender.test -t user@example.net "127.0.0.1:$port"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if ! grep -qs "d=sender.test" "$dump"/*; then
    say "$name: the probe message arrived unsigned"; ls -l "$dump" >&2; return 1
  fi
  say "$name signs: $(grep -ho 'a=rsa-sha256' "$dump"/* | head -1), $(grep -ho 'c=relaxed/relaxed' "$dump"/* | head -1)"
}

declare -A RESULT
for size_name in 2k 100k; do
  if [ "$size_name" = 2k ]; then size=2048; count=$N2K; else size=102400; count=$N100K; fi
  for system in facteur postfix; do
    port=$(free_port); sink=$(free_port)
    if [ "$system" = facteur ]; then
      dir=$WORK/facteur-$port
      KEY=$("$BIN" account create --name bench --json --data "$dir" | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
      "$BIN" domain add sender.test --account "$KEY" --keys rsa --data "$dir" >/dev/null
      FACTEUR_LOG=warn "$BIN" serve --data "$dir" --relay "127.0.0.1:$port" --http 127.0.0.1:0 \
        --trusted-networks 127.0.0.0/8 --trusted-account "$KEY" --relay-host "127.0.0.1:$sink" \
        --destination-concurrency 20 --max-connections-per-ip 1000 >"$WORK/facteur-$port.out" 2>"$WORK/facteur-$port.err" &
      FACTEUR_PID=$!; PIDS+=("$FACTEUR_PID")
    else
      postfix -c "$WORK/postfix/etc" stop >/dev/null 2>&1 || true
      [ -n "${OPENDKIM_PID:-}" ] && kill "$OPENDKIM_PID" 2>/dev/null || true
      rm -rf "$WORK/postfix" "$WORK/opendkim"
      milter=$(free_port); setup_opendkim "$milter"
      setup_postfix "$port" "$sink"
      postconf -c "$WORK/postfix/etc" -e "smtpd_milters = inet:127.0.0.1:$milter" "milter_default_action = tempfail"
      postfix -c "$WORK/postfix/etc" reload >/dev/null 2>&1
    fi
    wait_port "$port"
    probe_signed "$system" "$port" "$sink"
    say "$system with DKIM, $size_name messages: $count messages, $SESSIONS sessions"
    read -r acc e2e < <(run_load "$system-dkim" "$port" "$sink" "$count" "$size")
    if [ "$system" = facteur ]; then
      kill "$FACTEUR_PID"; wait "$FACTEUR_PID" 2>/dev/null || true
    else
      postfix -c "$WORK/postfix/etc" stop >/dev/null 2>&1 || true
      kill "$OPENDKIM_PID" 2>/dev/null || true
    fi
    RESULT[$system.$size_name]="$acc $e2e"
    say "$system $size_name with DKIM: accepted $acc msg/s, delivered end to end $e2e msg/s"
  done
done

# The bounce reader over the corpus, in release.
say "bounce parsing over the corpus"
files=("$ROOT"/crates/facteur-message/tests/bounces/*.eml)
parse_rate=$(cd "$ROOT" && cargo run --release -q -p facteur-message --example bounce_rate -- "${files[@]}")

ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
{
  echo "## Relay with DKIM signing (issue 11)"
  echo
  echo "Written by \`bench/dkim.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores. The load of the relay benchmark"
  echo "(smtp-source, $SESSIONS sessions, a connection per message → relay → smtp-sink), every message signed:"
  echo "Facteur with its own RSA-2048 key for the sender's domain (\`facteur domain add\`), Postfix"
  echo "$(postconf -d -h mail_version) with OpenDKIM $(opendkim -V 2>/dev/null | head -1 | awk '{print $NF}') as a milter (RSA-2048, relaxed/relaxed, From, Subject, To, Date, Message-ID oversigned)."
  echo
  echo "| message | messages | system | accepted msg/s | end-to-end msg/s |"
  echo "|---|---|---|---|---|"
  for size_name in 2k 100k; do
    n=$N2K; [ "$size_name" = 100k ] && n=$N100K
    for system in facteur postfix; do
      read -r acc e2e <<< "${RESULT[$system.$size_name]}"
      echo "| ${size_name^^}B | $n | $system + DKIM | $acc | $e2e |"
    done
  done
  echo
  echo "| message | accepted: Facteur / Postfix+OpenDKIM | end to end: Facteur / Postfix+OpenDKIM |"
  echo "|---|---|---|"
  for size_name in 2k 100k; do
    read -r fa fe <<< "${RESULT[facteur.$size_name]}"
    read -r pa pe <<< "${RESULT[postfix.$size_name]}"
    echo "| ${size_name^^}B | $(ratio "$fa" "$pa")× | $(ratio "$fe" "$pe")× |"
  done
  echo
  echo "Targets (issue 11): end to end ≥ 3× at 2 KB, ≥ 2× at 100 KB."
  echo
  echo "Bounce reading: $parse_rate over the ${#files[@]} messages of \`crates/facteur-message/tests/bounces/\`"
  echo "(one process, each message parsed and its recipients classified, release build)."
} | python3 "$ROOT/bench/section.py" dkim
sed -n "/<!-- dkim:begin -->/,/<!-- dkim:end -->/p" "$ROOT/docs/benchmarks.md"
