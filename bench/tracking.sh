#!/usr/bin/env bash
# Click redirects per second, each one recorded durably (issue 12), side by side in the same
# run with Debian's nginx answering a static 302 (the practical ceiling for a tiny response):
#   a tracked message is sent through Facteur's Send API to a small SMTP receiver; its click
#   link is taken from the received HTML; wrk (keep-alive) then follows it for DURATION
#   seconds, and follows nginx's static 302 as long. Clicks recorded = the rise of
#   facteur_clicks_total (counted once the group commit holding each click has committed).
# Also prints the per-recipient rewriting rate of a 20 KB newsletter with 15 links (one core).
# Writes docs/benchmarks.md (section "tracking").
# Needs root for apt (nginx, wrk, postfix's smtp tools are installed if missing).
# Usage: bench/tracking.sh   (DURATION=10 CONNECTIONS=64 THREADS=2 override)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
WORK=${WORK:-/tmp/facteur-bench-tracking}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/facteur-target}"
BIN="$CARGO_TARGET_DIR/release/facteur"

source "$ROOT/bench/lib.sh"

if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
  say "installing Debian's wrk and nginx"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light >/dev/null \
    || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx >/dev/null
fi

# ---------- a receiver that keeps the one message it gets ----------
SINK=$(free_port)
python3 - "$SINK" "$WORK/received.eml" <<'PY' &
import socket, sys
port, out = int(sys.argv[1]), sys.argv[2]
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(8)
while True:
    c, _ = srv.accept(); f = c.makefile("rb")
    c.sendall(b"220 sink ESMTP\r\n")
    data = None
    while True:
        line = f.readline()
        if not line: break
        cmd = line.upper()
        if data is not None:
            if line == b".\r\n":
                open(out, "wb").write(b"".join(data)); data = None
                c.sendall(b"250 2.0.0 kept\r\n")
            else:
                data.append(line[1:] if line.startswith(b".") else line)
        elif cmd.startswith(b"EHLO") or cmd.startswith(b"HELO"):
            c.sendall(b"250-sink\r\n250 8BITMIME\r\n")
        elif cmd.startswith(b"DATA"):
            data = []; c.sendall(b"354 go\r\n")
        elif cmd.startswith(b"QUIT"):
            c.sendall(b"221 bye\r\n"); break
        else:
            c.sendall(b"250 ok\r\n")
    c.close()
PY
PIDS+=($!)
wait_port "$SINK"

# ---------- Facteur ----------
HTTP=$(free_port); RELAY=$(free_port)
creds=$("$BIN" account create --name bench --json --data "$WORK/facteur")
KEY=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["api_key"])' "$creds")
SECRET=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secret_key"])' "$creds")
FACTEUR_LOG=warn "$BIN" serve --data "$WORK/facteur" --relay "127.0.0.1:$RELAY" --http "127.0.0.1:$HTTP" \
  --relay-host "127.0.0.1:$SINK" --max-connections-per-ip 1000 >"$WORK/facteur.out" 2>"$WORK/facteur.err" &
FACTEUR_PID=$!
PIDS+=("$FACTEUR_PID")
wait_port "$HTTP"
say "sending one tracked message"
curl -s -u "$KEY:$SECRET" -H 'Content-Type: application/json' "http://127.0.0.1:$HTTP/v3.1/send" -d '{
  "Messages": [{"From": {"Email": "news@example.com"}, "To": [{"Email": "reader@example.net"}],
    "Subject": "Spring", "TrackClicks": "enabled", "TrackOpens": "enabled",
    "HTMLPart": "<p><a href=\"https://shop.example.com/spring?ref=mail\">Shop</a></p>"}]}' >/dev/null
for _ in $(seq 1 100); do [ -s "$WORK/received.eml" ] && break; sleep 0.1; done
[ -s "$WORK/received.eml" ] || { say "the tracked message did not arrive"; exit 1; }
CLICK=$(python3 - "$WORK/received.eml" <<'PY'
import email, re, sys
from email import policy
m = email.message_from_bytes(open(sys.argv[1], "rb").read(), policy=policy.default)
html = m.get_body(("html",)).get_content()
print(re.search(r'href="([^"]*/c/[^"]*)"', html).group(1))
PY
)
say "click link: ${CLICK:0:60}…"
status=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$CLICK")
[ "${status%% *}" = 302 ] || { say "the click link answered $status"; exit 1; }

# ---------- nginx: a static 302 ----------
NGINX=$(free_port)
mkdir -p "$WORK/nginx"
cat > "$WORK/nginx/nginx.conf" <<CF
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx;
  proxy_temp_path $WORK/nginx; fastcgi_temp_path $WORK/nginx; uwsgi_temp_path $WORK/nginx; scgi_temp_path $WORK/nginx;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$NGINX; location / { return 302 https://shop.example.com/spring?ref=mail; } }
}
CF
nginx -c "$WORK/nginx/nginx.conf"
wait_port "$NGINX"
stop_nginx() { [ -f "$WORK/nginx/nginx.pid" ] && kill "$(cat "$WORK/nginx/nginx.pid")" 2>/dev/null || true; }
trap 'stop_nginx; cleanup' EXIT

clicks() { curl -s "http://127.0.0.1:$HTTP/metrics" | awk '/^facteur_clicks_total / {print $2}'; }
rate() { awk '/Requests\/sec/ {printf "%.0f", $2}'; }

say "wrk on Facteur's click link: ${DURATION}s, $CONNECTIONS connections"
before=$(clicks)
f_rate=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" "$CLICK" | tee "$WORK/wrk-facteur.txt" | rate)
sleep 1
after=$(clicks)
recorded=$(( after - before ))
f_recorded=$(python3 -c "print(f'{$recorded/$DURATION:.0f}')")
say "facteur: $f_rate redirects/s, $recorded clicks recorded ($f_recorded/s)"
say "wrk on nginx's static 302"
n_rate=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:$NGINX/c/x" | tee "$WORK/wrk-nginx.txt" | rate)
say "nginx: $n_rate redirects/s"
non2xx_f=$(awk '/Non-2xx or 3xx/ {print $NF}' "$WORK/wrk-facteur.txt"); non2xx_f=${non2xx_f:-0}
rewrite=$(cd "$ROOT" && cargo run --release -q -p facteur-message --example track_rate)
say "rewriting: $rewrite"

{
  echo "## Click redirects and tracking rewrites (issue 12)"
  echo
  echo "Written by \`bench/tracking.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB."
  echo "wrk $THREADS threads, $CONNECTIONS keep-alive connections, ${DURATION} s each, on 127.0.0.1. Facteur"
  echo "answers the click link of a real tracked message (token checked, the click queued for the"
  echo "group commit on SQLite, the 302 sent without waiting for its fsync); clicks recorded counts"
  echo "only committed clicks (the rise of facteur_clicks_total). nginx answers a static 302 with"
  echo "access logs off."
  echo
  echo "| system | redirects/s | clicks recorded/s | non-3xx answers |"
  echo "|---|---|---|---|"
  echo "| facteur | $f_rate | $f_recorded | $non2xx_f |"
  echo "| nginx (static 302) | $n_rate | — | — |"
  echo
  echo "Facteur / nginx: $(python3 -c "print(f'{$f_rate/$n_rate*100:.0f}')") % (target ≥ 50 %, and ≥ 10,000 recorded clicks/s)."
  echo
  echo "Per-recipient rewriting (\`cargo run --release -p facteur-message --example track_rate\`):"
  echo "$rewrite (target ≥ 20,000 messages/s)."
} | python3 "$ROOT/bench/section.py" tracking
sed -n "/<!-- tracking:begin -->/,/<!-- tracking:end -->/p" "$ROOT/docs/benchmarks.md"
