#!/usr/bin/env python3
"""Data for the web app benchmark, made through the REST API with the account's key:
COUNT templates copied from the starters (POST /v3/REST/gallery/{slug}/use: the starter's MJML
compiled, published as version 1, its test values saved), each then given its own name,
description, locale, categories, purposes and star (PUT /v3/REST/template/{id}), a third of
them with a draft on top (PUT .../draft); MESSAGES messages sent through /v3.1/send (kept by
capture mode: they fill the message log and the captured mailbox); a few API keys
(sub-accounts) and webhook URLs. Prints progress on stderr.
Usage: web_seed.py HOST:PORT KEY SECRET COUNT MESSAGES [THREADS]"""
import base64
import http.client
import json
import sys
import threading
import time

addr, key, secret, count, messages = sys.argv[1:6]
threads = int(sys.argv[6]) if len(sys.argv) > 6 else 4
count, messages = int(count), int(messages)
host, port = addr.rsplit(":", 1)
auth = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()

STARTERS = ["newsletter", "ecommerce", "event", "travel", "sport"]
LOCALES = ["en_US", "en_GB", "fr_FR", "de_DE", "es_ES", "it_IT", "nl_NL", "pt_BR"]
CATEGORIES = ["promotions", "onboarding", "receipts", "events", "digest", "loyalty",
              "announcements", "seasonal", "b2b", "retention", "surveys", "alerts"]
PURPOSES = ["marketing", "transactional", "automation"]
WORDS = ["Spring", "Summer", "Autumn", "Winter", "Weekly", "Monthly", "VIP", "Flash",
         "Welcome", "Reminder", "Last chance", "Members", "Preview", "Launch", "Thank you"]


def call(conn, method, path, body=None):
    payload = None if body is None else json.dumps(body)
    conn.request(method, path, payload, {"Authorization": auth, "Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status not in (200, 201, 204):
        raise SystemExit(f"{method} {path}: {r.status} {data[:300]!r}")
    return json.loads(data) if data else None


def say(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


lock = threading.Lock()
next_i = [0]
done = [0]
failures = []


def template(conn, i):
    slug = STARTERS[i % len(STARTERS)]
    word = WORDS[(i * 7) % len(WORDS)]
    name = f"{word} {slug} #{i:04d}"
    t = call(conn, "POST", f"/v3/REST/gallery/{slug}/use", {"Name": name})["Data"][0]
    meta = {
        "Description": f"{word} campaign for segment {i % 37}: {slug} layout, {LOCALES[i % len(LOCALES)]}",
        "Locale": LOCALES[i % len(LOCALES)],
        "Categories": [slug, CATEGORIES[i % len(CATEGORIES)]],
        "Purposes": [PURPOSES[i % len(PURPOSES)]],
        "IsStarred": i % 10 == 0,
    }
    call(conn, "PUT", f"/v3/REST/template/{t['ID']}", meta)
    if i % 3 == 0:
        # A draft on top of the published version: the MJML edited.
        content = call(conn, "GET", f"/v3/REST/template/{t['ID']}/detailcontent")["Data"][0]
        mjml = content.get("MJMLContent") or ""
        if mjml:
            call(conn, "PUT", f"/v3/REST/template/{t['ID']}/draft",
                 {"MJMLContent": mjml.replace("</mj-body>", f"<mj-section><mj-column><mj-text>Edited {i}</mj-text></mj-column></mj-section></mj-body>", 1),
                  "Headers": {"Subject": name, "From": "News <news@example.com>"}})


def worker():
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    while True:
        with lock:
            i = next_i[0]
            next_i[0] += 1
        if i >= count or failures:
            return
        try:
            template(conn, i)
        except BaseException as e:  # noqa: BLE001 (reported below)
            failures.append(str(e))
            return
        with lock:
            done[0] += 1
            if done[0] % 100 == 0 or done[0] == count:
                say(f"templates: {done[0]}/{count} ({time.monotonic() - start:.1f} s)")


start = time.monotonic()
ts = [threading.Thread(target=worker) for _ in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
if failures:
    sys.exit(f"making templates failed: {failures[0]}")

conn = http.client.HTTPConnection(host, int(port), timeout=60)
html = ("<h1>Your order is on its way</h1><p>" + "Thank you for shopping with us. " * 30 + "</p>"
        "<p><a href=\"https://shop.example.com/orders\">Follow your parcel</a></p>")
sent = 0
while sent < messages:
    batch = min(50, messages - sent)
    call(conn, "POST", "/v3.1/send", {"Messages": [{
        "From": {"Email": "orders@example.com", "Name": "Shop"},
        "To": [{"Email": f"customer{sent + j}@example.net", "Name": f"Customer {sent + j}"}],
        "Subject": f"Order {10000 + sent + j} shipped",
        "TextPart": "Your order is on its way.",
        "HTMLPart": html,
        "CustomID": f"order-{10000 + sent + j}",
    } for j in range(batch)]})
    sent += batch
say(f"messages: {sent} sent (kept by capture mode)")

for n in ("Newsletter tool", "Shop backend", "Staging"):
    call(conn, "POST", "/v3/REST/apikey", {"Name": n})
for ev in ("bounce", "spam", "blocked", "unsub"):
    # A closed port on the loopback: these events do not happen in capture mode anyway.
    call(conn, "POST", "/v3/REST/eventcallbackurl", {"EventType": ev, "Url": f"http://127.0.0.1:9/hooks/{ev}"})
say("3 API keys and 4 webhook URLs made")
print(f"{time.monotonic() - start:.1f}")
