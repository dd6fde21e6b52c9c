#!/usr/bin/env python3
"""Load for the Send API benchmark: THREADS keep-alive connections post /v3.1/send calls of
BATCH messages (about SIZE bytes each) until COUNT messages were accepted. Prints the seconds
taken until the last HTTP 200. Usage: send_load.py HOST:PORT KEY SECRET COUNT BATCH THREADS SIZE"""
import base64
import http.client
import json
import sys
import threading
import time

addr, key, secret, count, batch, threads, size = sys.argv[1:8]
count, batch, threads, size = int(count), int(batch), int(threads), int(size)
host, port = addr.rsplit(":", 1)
auth = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()
text = ("Bonjour, votre commande est en route. " * (size // 38 + 1))[:size]
calls = count // batch
lock = threading.Lock()
next_call = [0]
failures = []


def body(call):
    return json.dumps({"Messages": [{
        "From": {"Email": "bench@sender.test", "Name": "Bench"},
        "To": [{"Email": f"user{call}-{i}@example.net"}],
        "Subject": f"Order {call}-{i}",
        "TextPart": text,
        "CustomID": f"bench-{call}-{i}",
    } for i in range(batch)]})


def worker():
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    while True:
        with lock:
            call = next_call[0]
            next_call[0] += 1
        if call >= calls:
            return
        payload = body(call)
        conn.request("POST", "/v3.1/send", payload, {"Authorization": auth, "Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        if r.status != 200:
            failures.append((r.status, data[:300]))
            return


start = time.monotonic()
ts = [threading.Thread(target=worker) for _ in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
elapsed = time.monotonic() - start
if failures:
    sys.exit(f"send failed: {failures[0]}")
print(f"{elapsed:.3f}")
