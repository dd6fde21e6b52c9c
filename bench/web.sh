#!/usr/bin/env bash
# The web app's page weight and time to first render (issue 13), in Debian's chromium:
#   `facteur serve` (release, capture mode) on a fresh data dir; the owner made through the
#   printed one-time link; TEMPLATES templates copied from the starters through the REST API
#   with the printed key (names, descriptions, locales, categories, purposes, stars varied; a
#   third with a draft), MESSAGES captured messages, 3 API keys, 4 webhook URLs
#   (bench/web_seed.py). Then bench/web.mjs loads each screen (sign-in, home, gallery, code
#   editor, message log, people, API keys, webhooks, captured) LOADS times, each in a fresh
#   browser context, and takes the median of what the page measured (resource, paint and
#   navigation timing). Reference side by side in the same run: the same gallery page saved as
#   static HTML (page.content() after load) with its thumbnails, served with the app's assets
#   by a private nginx (gzip on for HTML, JS, CSS), loaded the same way.
# Writes docs/benchmarks.md (section "web").
# Needs root for apt (nginx-light; chromium if missing). Never leaves 127.0.0.1.
# Usage: bench/web.sh    (TEMPLATES=1000 MESSAGES=100 LOADS=5 override)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TEMPLATES=${TEMPLATES:-1000}
MESSAGES=${MESSAGES:-100}
LOADS=${LOADS:-5}
WORK=${WORK:-/tmp/facteur-bench-web}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/facteur-target}"
BIN="$CARGO_TARGET_DIR/release/facteur"
T0=$(date +%s)
BENCH_NO_POSTFIX=1 source "$ROOT/bench/lib.sh"

if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  say "installing Debian's nginx"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null \
    || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
fi
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  say "installing Debian's chromium"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ ! -d "$ROOT/web-tests/node_modules/playwright-core" ]; then
  say "installing playwright-core for web-tests (npm ci)"
  (cd "$ROOT/web-tests" && npm ci --silent)
fi

# ---------- Facteur ----------
say "starting facteur serve (capture mode) on a fresh data dir"
FACTEUR_LOG=warn "$BIN" serve --data "$WORK/facteur" --http 127.0.0.1:0 --smtp 127.0.0.1:0 \
  --capture --webhook-allow-private true >"$WORK/facteur.out" 2>"$WORK/facteur.err" &
FACTEUR_PID=$!; PIDS+=("$FACTEUR_PID")
for _ in $(seq 1 200); do grep -q '/app/setup/' "$WORK/facteur.out" 2>/dev/null && break; sleep 0.1; done
grep -q '/app/setup/' "$WORK/facteur.out" || { say "serve printed no setup link"; cat "$WORK/facteur.out" "$WORK/facteur.err" >&2; exit 1; }
HTTP=$(awk -F= '/^listening http=/ {print $2; exit}' "$WORK/facteur.out")
KEY=$(awk '/api_key *=/ {print $3; exit}' "$WORK/facteur.out")
SECRET=$(awk '/secret_key *=/ {print $3; exit}' "$WORK/facteur.out")
SETUP_PATH=$(grep -o '/app/setup/[^[:space:]]*' "$WORK/facteur.out" | head -1)
case "$HTTP" in 127.0.0.1:*) ;; *) say "unexpected http listener '$HTTP'"; exit 1 ;; esac
BASE="http://$HTTP"
say "facteur at $BASE, account key ${KEY:0:8}…"

say "making $TEMPLATES templates and $MESSAGES messages through the REST API"
seed_s=$(python3 "$ROOT/bench/web_seed.py" "$HTTP" "$KEY" "$SECRET" "$TEMPLATES" "$MESSAGES" 4)
say "data made in ${seed_s} s"

# ---------- nginx: the saved gallery, its thumbnails and the app's assets ----------
NGINX=$(free_port)
mkdir -p "$WORK/nginx" "$WORK/static"
cat > "$WORK/nginx/nginx.conf" <<CF
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 1024; }
http {
  include /etc/nginx/mime.types;
  access_log off;
  client_body_temp_path $WORK/nginx;
  proxy_temp_path $WORK/nginx; fastcgi_temp_path $WORK/nginx; uwsgi_temp_path $WORK/nginx; scgi_temp_path $WORK/nginx;
  gzip on;
  gzip_comp_level 9;
  gzip_min_length 512;
  gzip_vary on;
  gzip_types text/css application/javascript text/javascript;
  server {
    listen 127.0.0.1:$NGINX;
    root $WORK/static;
    location = /app/templates { try_files /gallery.html =404; }
    location = /app/templates-noframes { try_files /gallery-noframes.html =404; }
    location /app/templates/ { default_type "text/html; charset=utf-8"; }
    location /app/assets/ { alias $ROOT/crates/facteur-web/assets/; }
  }
}
CF
nginx -c "$WORK/nginx/nginx.conf"
stop_nginx() { [ -f "$WORK/nginx/nginx.pid" ] && kill "$(cat "$WORK/nginx/nginx.pid")" 2>/dev/null || true; }
trap 'stop_nginx; cleanup' EXIT
wait_port "$NGINX"

# ---------- the browser ----------
say "chromium: every screen, $LOADS loads each after a warm-up; then the static gallery"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
FACTEUR_BASE="$BASE" SETUP_URL="$BASE$SETUP_PATH" STATIC_BASE="http://127.0.0.1:$NGINX" \
  STATIC_ROOT="$WORK/static" CARDS="$TEMPLATES" LOADS="$LOADS" OUT="$WORK/web.json" \
  node "$ROOT/bench/web.mjs"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
f_rss=$(rss_kb "$FACTEUR_PID")

# ---------- docs/benchmarks.md ----------
python3 - "$WORK/web.json" "$TEMPLATES" "$MESSAGES" "$(nginx -v 2>&1 | sed 's|.*/||')" "$load_before" "$load_after" \
  "$((f_rss / 1024))" "$(( $(date +%s) - T0 ))" <<'PY' | tee "$WORK/section.md" | python3 "$ROOT/bench/section.py" web
import json, subprocess, sys, time
r = json.load(open(sys.argv[1]))
templates, messages, nginx_v, load_before, load_after, rss_mib, run_s = sys.argv[2:9]
kb = lambda b: f"{b / 1024:.1f}"
ms = lambda x: "—" if x is None else f"{x:.0f}"
cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
mem = next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal"))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print("## Web app: page weight and first render (issue 13)")
print()
print(f"Written by `bench/web.sh` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {cores} cores ({cpu}), "
      f"{int(mem) // 1048576} GiB; load average {load_before} before the browser runs, {load_after} after "
      f"(the machine is shared with other builds). Whole run {run_s} s.")
print()
print(f"Method: `facteur serve` (release build, capture mode, SQLite) on a fresh data dir; the owner made "
      f"through the printed one-time link; {templates} templates copied from the five MJML starters through "
      f"the REST API (names, descriptions, 8 locales, 12 categories, purposes and stars varied; a third with "
      f"a draft on top), {messages} captured messages, 3 API keys, 4 webhook URLs. Debian's Chromium "
      f"{r['chromium']} (headless, driven by playwright-core {json.load(open('web-tests/node_modules/playwright-core/package.json'))['version']}, "
      f"viewport {r['viewport']['width']}×{r['viewport']['height']}) loads each screen once to warm the server, "
      f"then {r['loads']} times, **each load in a fresh browser context** (empty HTTP cache, only the session "
      f"cookie), and the median of each figure over those loads is shown. Chromium sends "
      f"`Accept-Encoding: {r['acceptEncoding']}`. Bytes are the bodies on the wire (`encodedBodySize` of "
      f"resource and navigation timing: compressed where the server compressed; response headers not "
      f"counted); decoded sizes in brackets. Frames are the gallery's thumbnails (sandboxed lazy iframes, "
      f"loaded near the view; their body bytes from the browser's network events, as resource timing gives "
      f"none for an opaque origin); the remote images of e-mail content are sent to a closed loopback port "
      f"and fail at once. Requests count the page, its assets and frames. FCP = first-contentful-paint; "
      f"DCL = DOMContentLoaded end; load = load event end (it waits for the frames in view); times from "
      f"navigation start.")
print()
print("| screen | JS KB | CSS KB | JS + CSS KB | HTML KB | frames (KB) | requests | FCP ms | DCL ms | load ms |")
print("|---|---|---|---|---|---|---|---|---|---|")
for s in r["screens"]:
    m = s["median"]
    print(f"| {s['name']} (`{s['path'].rsplit('/', 1)[0] + '/{id}' if s['name'] == 'code editor' else s['path']}`) "
          f"| {kb(m['js']['encoded'])} ({kb(m['js']['decoded'])}) | {kb(m['css']['encoded'])} ({kb(m['css']['decoded'])}) "
          f"| **{kb(m['js']['encoded'] + m['css']['encoded'])}** | {kb(m['html']['encoded'])} ({kb(m['html']['decoded'])}) "
          f"| {m['frames']['n']:.0f} ({kb(m['frames']['encoded'])}) | {m['requests']:.0f} | {ms(m['fcp'])} | {ms(m['dcl'])} | {ms(m['load'])} |")
print()
g = next(s for s in r["screens"] if s["name"] == "gallery")
ref, bare = r["reference"], r["noFrames"]
gm, rm, bm = g["median"], ref["median"], bare["median"]
ratio = lambda a, b: "—" if not a or not b else f"{a / b:.2f}×"
print(f"**Gallery of {templates} templates, side by side.** Reference: the same page saved as static HTML "
      f"(`page.content()` after a load: the same DOM and asset URLs), its {templates} thumbnails saved as "
      f"Facteur served them, and the app's assets, served by a private nginx {nginx_v} (one worker, access "
      f"log off, `gzip on` for HTML, JS and CSS at level 9, the level Facteur compresses its assets at), "
      f"loaded the same way, the loads of the three pages taking turns (Facteur, static, static without frames, "
      f"Facteur, …) so that the machine's other load weighs on each alike. A third column loads that static page with the thumbnails' `<iframe>` elements "
      f"removed (the cards otherwise unchanged), to tell what the page costs the browser from what the "
      f"server costs. \"Cards in DOM\" is the moment the {templates}-th card exists (a MutationObserver; "
      f"every load had all {templates} at DOMContentLoaded); \"drawn\" is the first frame after "
      f"DOMContentLoaded (requestAnimationFrame, then a task).")
print()
print("| | Facteur | static (nginx) | Facteur / static | static, no thumbnail frames |")
print("|---|---|---|---|---|")
def row(label, f, fmt=ms, show_ratio=True):
    a, b, c = f(gm), f(rm), f(bm)
    return (label, fmt(a), fmt(b), ratio(a, b) if show_ratio else "", fmt(c))
count = lambda x: f"{x:.0f}"
rows = [
    row("HTML on the wire, KB", lambda m: m['html']['encoded'], kb),
    row("HTML decoded, KB", lambda m: m['html']['decoded'], kb),
    row("JS + CSS on the wire, KB", lambda m: m['js']['encoded'] + m['css']['encoded'], kb),
    row("thumbnail frames loaded (near the view)", lambda m: m['frames']['n'], count, False),
    row("thumbnail frames on the wire, KB", lambda m: m['frames']['encoded'], kb),
    row("requests", lambda m: m['requests'], count, False),
    row("HTML response end, ms", lambda m: m['responseEnd']),
    row("first-contentful-paint, ms", lambda m: m['fcp']),
    row(f"{templates} cards in DOM, ms", lambda m: m['cardsAt']),
    row("DOMContentLoaded, ms", lambda m: m['dcl']),
    row("drawn after DOMContentLoaded, ms", lambda m: m['rendered']),
    row("load event, ms", lambda m: m['load']),
]
for x in rows:
    print("| " + " | ".join(x) + " |")
print()
sv = r["server"]
print(f"The gallery's HTML alone, outside the browser (a new connection each time, gzip accepted, median of "
      f"{r['loads']}): Facteur answers its first byte in {sv['facteur']['ttfb']:.1f} ms and its last in "
      f"{sv['facteur']['total']:.1f} ms ({sv['facteur']['bytes'] / 1024:.0f} KB, {sv['facteur']['encoding']}); nginx "
      f"{sv['nginx']['ttfb']:.1f} ms and {sv['nginx']['total']:.1f} ms ({sv['nginx']['bytes'] / 1024:.0f} KB, "
      f"{sv['nginx']['encoding']}): {sv['facteur']['total'] / sv['nginx']['total']:.1f}× the static file's time.")
print()
weight = (gm['js']['encoded'] + gm['css']['encoded']) / 1024
shown = max(x for x in (gm['fcp'], gm['cardsAt'], gm['rendered']) if x is not None)
shown_static = max(x for x in (rm['fcp'], rm['cardsAt'], rm['rendered']) if x is not None)
shown_bare = max(x for x in (bm['fcp'], bm['cardsAt'], bm['rendered']) if x is not None)
for label, s in (("Facteur", g), ("static", ref), ("static, no frames", bare)):
    print(f"Each load, gallery ({label}): " + "; ".join(
        f"FCP {ms(x['fcp'])}, drawn {ms(x['rendered'])}, load {ms(x['load'])}" for x in s["runs"]) + " ms.")
print()
print("Targets (issue 13):")
print(f"- ≤ 150 KB of JS + CSS, compressed, for the gallery: {weight:.1f} KB — "
      f"{'met' if weight <= 150 else 'NOT met'}. With its HTML the gallery weighs "
      f"{(gm['js']['encoded'] + gm['css']['encoded'] + gm['html']['encoded']) / 1024:.0f} KB on the wire: "
      f"Facteur {'does not compress' if gm['html']['encoded'] >= gm['html']['decoded'] else 'compresses'} its pages "
      f"({kb(gm['html']['encoded'])} KB; nginx's gzip makes {kb(rm['html']['encoded'])} KB of the same page).")
print(f"- ≤ 1 s to show a gallery of {templates} templates: all {templates} cards in the DOM and drawn at "
      f"{shown:.0f} ms (median; FCP {ms(gm['fcp'])} ms) — {'met' if shown <= 1000 else 'NOT met'}. "
      f"The static copy takes {shown_static:.0f} ms, the static copy without the thumbnails' iframes "
      f"{shown_bare:.0f} ms" + (f": most of the time goes to the browser building {templates} iframes (lazy ones "
      f"too), not to the server." if shown_bare < 0.5 * shown_static and shown < 2 * shown_static else "."))
print(f"Facteur's peak RSS over the run: {rss_mib} MiB. Speed is measured here, never asserted in tests.")
PY
say "done in $(( $(date +%s) - T0 )) s"
