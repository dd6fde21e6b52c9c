# Shared by the benchmark scripts: helpers and a private Postfix instance under $WORK.
# Sourced after WORK and CARGO_TARGET_DIR are set.
say() { printf '[bench] %s\n' "$*" >&2; }

# BENCH_NO_POSTFIX=1: a benchmark that needs no mail tools (bench/web.sh) skips installing them.
if [ "${BENCH_NO_POSTFIX:-}" != 1 ] && { ! command -v smtp-source >/dev/null || ! command -v postfix >/dev/null; }; then
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

