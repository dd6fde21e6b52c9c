// The browser side of bench/web.sh: Debian's chromium, launched by web-tests/helpers.js
// (playwright-core, headless, every request off the loopback sent to a closed port), loads
// each screen of the web app LOADS times, each load in a fresh browser context (an empty HTTP
// cache; the session cookie only), after one warm-up load that is not counted, and reads
// what the page itself measured: resource timing (bytes on the wire per JS, CSS, HTML and
// frame), paint timing (first-contentful-paint), navigation timing (DOMContentLoaded, load),
// and for the gallery the moment the expected number of cards is in the DOM and the frame
// drawn after DOMContentLoaded. The same gallery page, saved as static HTML with its
// thumbnails, is loaded the same way from nginx (the reference), and once more without the
// thumbnails' iframes; the loads of these three pages take turns.
//
// Environment (set by bench/web.sh):
//   FACTEUR_BASE   http://127.0.0.1:PORT of `facteur serve`
//   SETUP_URL      its one-time owner link
//   STATIC_BASE    http://127.0.0.1:PORT of the private nginx
//   STATIC_ROOT    the directory nginx serves (this script writes the saved page there)
//   CARDS          how many templates the gallery must show
//   LOADS          measured loads per screen (default 5)
//   OUT            where the results go (JSON)
import { mkdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { launch } from "../web-tests/helpers.js";

const need = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set (run bench/web.sh)`);
  return v;
};
const BASE = need("FACTEUR_BASE");
const STATIC_BASE = need("STATIC_BASE");
const STATIC_ROOT = need("STATIC_ROOT");
const CARDS = Number(need("CARDS"));
const LOADS = Number(process.env.LOADS || 5);
const OUT = need("OUT");
const log = (m) => process.stderr.write(`[bench] ${m}\n`);

const owner = { name: "Olga Owner", email: "owner@bench.example", password: "owner password 123" };
const VIEWPORT = { width: 1440, height: 900 };

// Runs in the page before any of its scripts: room for every resource entry, the moment the
// CARDS-th card is in the DOM, the frame drawn after DOMContentLoaded.
const PROBE = (cards) => {
  performance.setResourceTimingBufferSize(10000);
  window.__bench = { cardsAt: null, cardsAtDcl: null, renderedAt: null };
  if (cards > 0) {
    const live = document.getElementsByClassName("card");
    const check = () => {
      if (window.__bench.cardsAt === null && live.length >= cards) {
        window.__bench.cardsAt = performance.now();
        obs.disconnect();
      }
    };
    const obs = new MutationObserver(check);
    obs.observe(document, { childList: true, subtree: true });
    document.addEventListener("DOMContentLoaded", () => {
      window.__bench.cardsAtDcl = live.length;
      check();
    });
  }
  document.addEventListener("DOMContentLoaded", () => {
    requestAnimationFrame(() => setTimeout(() => { window.__bench.renderedAt = performance.now(); }, 0));
  });
};

function kind(entry) {
  const p = new URL(entry.name).pathname;
  if (entry.initiatorType === "iframe" || p.endsWith("/thumbnail") || p.endsWith("/html")) return "frame";
  if (/\.m?js$/.test(p)) return "js";
  if (/\.css$/.test(p)) return "css";
  return "other";
}

let acceptEncoding = null;

/** One load of `url` in a new context; what the page measured. */
async function load(browser, url, { state, cards = 0 }) {
  const context = await browser.newContext({ viewport: VIEWPORT, storageState: state });
  try {
    const page = await context.newPage();
    await page.addInitScript(PROBE, cards);
    page.on("request", (r) => {
      if (!acceptEncoding && /\.css$/.test(new URL(r.url()).pathname)) {
        r.allHeaders().then((h) => { acceptEncoding = h["accept-encoding"] ?? null; }).catch(() => {});
      }
    });
    // Frames (the thumbnails) are documents of their own whose sizes resource timing does not
    // give (0: an opaque origin): those come from the browser's network events.
    const frames = [];
    let failed = 0;
    page.on("requestfinished", (r) => {
      if (r.isNavigationRequest() && r.frame() !== page.mainFrame()) frames.push(r);
    });
    page.on("requestfailed", () => { failed += 1; });
    const res = await page.goto(url, { waitUntil: "load", timeout: 60_000 });
    if (!res || res.status() !== 200) throw new Error(`${url}: ${res?.status()}`);
    if (new URL(page.url()).pathname !== new URL(url).pathname) throw new Error(`${url} went to ${page.url()}`);
    await page.waitForLoadState("networkidle", { timeout: 15_000 }).catch(() => {});
    await page.waitForFunction(() => window.__bench.renderedAt !== null, null, { timeout: 15_000 });
    const m = await page.evaluate(() => {
      const nav = performance.getEntriesByType("navigation")[0];
      const fcp = performance.getEntriesByName("first-contentful-paint")[0];
      return {
        nav: { transfer: nav.transferSize, encoded: nav.encodedBodySize, decoded: nav.decodedBodySize,
               dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd, responseEnd: nav.responseEnd },
        fcp: fcp ? fcp.startTime : null,
        bench: window.__bench,
        resources: performance.getEntriesByType("resource").map((r) => ({
          name: r.name, initiatorType: r.initiatorType, transfer: r.transferSize,
          encoded: r.encodedBodySize, decoded: r.decodedBodySize,
        })),
      };
    });
    const sum = { js: [0, 0, 0, 0], css: [0, 0, 0, 0], frame: [0, 0, 0, 0], other: [0, 0, 0, 0] };
    for (const r of m.resources) {
      const s = sum[kind(r)];
      s[0] += 1; s[1] += r.transfer; s[2] += r.encoded; s[3] += r.decoded;
    }
    const frameSizes = await Promise.all(frames.map((r) => r.sizes()));
    sum.frame[2] = frameSizes.reduce((a, z) => a + z.responseBodySize, 0);
    sum.frame[1] = frameSizes.reduce((a, z) => a + z.responseBodySize + z.responseHeadersSize, 0);
    return {
      html: { transfer: m.nav.transfer, encoded: m.nav.encoded, decoded: m.nav.decoded },
      js: { n: sum.js[0], transfer: sum.js[1], encoded: sum.js[2], decoded: sum.js[3] },
      css: { n: sum.css[0], transfer: sum.css[1], encoded: sum.css[2], decoded: sum.css[3] },
      frames: { n: sum.frame[0], transfer: sum.frame[1], encoded: sum.frame[2], decoded: sum.frame[3] },
      other: { n: sum.other[0], transfer: sum.other[1], encoded: sum.other[2], decoded: sum.other[3] },
      requests: 1 + m.resources.length,
      failed,
      fcp: m.fcp,
      dcl: m.nav.dcl,
      load: m.nav.load,
      responseEnd: m.nav.responseEnd,
      cardsAt: m.bench.cardsAt,
      cardsAtDcl: m.bench.cardsAtDcl,
      rendered: m.bench.renderedAt,
      assets: m.resources.filter((r) => kind(r) === "js" || kind(r) === "css")
        .map((r) => ({ path: new URL(r.name).pathname, encoded: r.encoded, decoded: r.decoded })),
    };
  } finally {
    await context.close();
  }
}

const median = (xs) => {
  const v = xs.filter((x) => x !== null && x !== undefined).sort((a, b) => a - b);
  if (!v.length) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
};

/** Median over the loads of every number in the results (same shape as one load). */
function medians(runs) {
  const out = {};
  for (const k of Object.keys(runs[0])) {
    const v = runs[0][k];
    if (typeof v === "number" || v === null) out[k] = median(runs.map((r) => r[k]));
    else if (Array.isArray(v)) out[k] = v;
    else if (typeof v === "object") out[k] = medians(runs.map((r) => r[k]));
  }
  return out;
}

/** The medians of `runs` (loads of `url`), checked and logged. */
function summary(name, url, opts, runs) {
  const m = medians(runs);
  if (opts.cards && runs.some((r) => r.cardsAtDcl !== opts.cards)) {
    throw new Error(`${name}: ${runs.map((r) => r.cardsAtDcl).join(",")} cards at DOMContentLoaded, expected ${opts.cards}`);
  }
  log(`${name}: JS ${m.js.encoded} B, CSS ${m.css.encoded} B, HTML ${m.html.encoded} B, ${m.requests} requests, `
    + `FCP ${m.fcp?.toFixed(0)} ms, DCL ${m.dcl.toFixed(0)} ms, load ${m.load.toFixed(0)} ms`
    + (opts.cards ? `, cards ${m.cardsAt?.toFixed(0)} ms, drawn ${m.rendered.toFixed(0)} ms` : ""));
  return { name, path: new URL(url).pathname, loads: runs.length, median: m, runs };
}

/** One warm-up load of `url`, then LOADS measured ones. */
async function screen(browser, name, url, opts) {
  log(`${name}: ${url} (1 warm-up + ${LOADS} loads)`);
  await load(browser, url, opts);
  const runs = [];
  for (let i = 0; i < LOADS; i++) runs.push(await load(browser, url, opts));
  return summary(name, url, opts, runs);
}

/** Like `screen` for several pages whose loads take turns (A, B, C, A, B, C, …), so that a
 * change in the machine's other load during the run weighs on each alike. */
async function interleaved(browser, variants) {
  for (const v of variants) {
    log(`${v.name}: ${v.url} (1 warm-up + ${LOADS} loads, taking turns with ${variants.length - 1} other page(s))`);
    await load(browser, v.url, v.opts);
  }
  const runs = variants.map(() => []);
  for (let i = 0; i < LOADS; i++) {
    for (const [k, v] of variants.entries()) runs[k].push(await load(browser, v.url, v.opts));
  }
  return variants.map((v, k) => summary(v.name, v.url, v.opts, runs[k]));
}

const browser = await launch();
try {
  const started = Date.now();
  // The owner, through the one-time link; its session is reused by every signed-in load.
  const ctx = await browser.newContext({ viewport: VIEWPORT });
  const page = await ctx.newPage();
  await page.goto(need("SETUP_URL"));
  await page.fill('input[name="name"]', owner.name);
  await page.fill('input[name="email"]', owner.email);
  await page.fill('input[name="password"]', owner.password);
  await Promise.all([page.waitForURL(`${BASE}/app`), page.click("#create-owner")]);
  const state = await ctx.storageState();
  log("owner created and signed in");

  await page.goto(`${BASE}/app/templates`);
  const ids = await page.$$eval("#gallery > li.card", (lis) => lis.map((li) => li.dataset.id));
  if (ids.length !== CARDS) throw new Error(`the gallery shows ${ids.length} templates, expected ${CARDS}`);
  const edited = await page.$eval("#gallery > li.card", (li) => li.dataset.id);

  const screens = [];
  screens.push(await screen(browser, "sign-in", `${BASE}/app/sign-in`, { state: undefined }));
  screens.push(await screen(browser, "home", `${BASE}/app`, { state }));
  screens.push(null); // the gallery: measured below, taking turns with its static copies
  screens.push(await screen(browser, "code editor", `${BASE}/app/templates/${edited}`, { state }));
  screens.push(await screen(browser, "message log", `${BASE}/app/messages`, { state }));
  screens.push(await screen(browser, "people", `${BASE}/app/people`, { state }));
  screens.push(await screen(browser, "API keys", `${BASE}/app/keys`, { state }));
  screens.push(await screen(browser, "webhooks", `${BASE}/app/webhooks`, { state }));
  screens.push(await screen(browser, "captured", `${BASE}/app/captured`, { state }));

  // The reference: the gallery as the browser had it after load (page.content(), the same
  // asset URLs), and every thumbnail as Facteur served it, written where nginx serves them.
  await page.goto(`${BASE}/app/templates`, { waitUntil: "load" });
  await page.waitForLoadState("networkidle").catch(() => {});
  const html = await page.content();
  mkdirSync(STATIC_ROOT, { recursive: true });
  writeFileSync(path.join(STATIC_ROOT, "gallery.html"), html);
  log(`saved the gallery: ${html.length} bytes of HTML; saving the ${ids.length} thumbnails`);
  let saved = 0;
  const queue = [...ids];
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (queue.length) {
      const id = queue.shift();
      const r = await ctx.request.get(`${BASE}/app/templates/${id}/thumbnail`);
      if (!r.ok()) throw new Error(`thumbnail ${id}: ${r.status()}`);
      const dir = path.join(STATIC_ROOT, "app", "templates", String(id));
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, "thumbnail"), await r.body());
      if (++saved % 250 === 0) log(`thumbnails saved: ${saved}/${ids.length}`);
    }
  }));
  // To tell the page's own cost from the server's: the same static page without the
  // thumbnails' iframes (the cards otherwise unchanged).
  const bare = html.replace(/<iframe\b[^>]*><\/iframe>/g, "");
  writeFileSync(path.join(STATIC_ROOT, "gallery-noframes.html"), bare);
  const [gallery, reference, noFrames] = await interleaved(browser, [
    { name: "gallery", url: `${BASE}/app/templates`, opts: { state, cards: CARDS } },
    { name: "gallery (static, nginx)", url: `${STATIC_BASE}/app/templates`, opts: { state: undefined, cards: CARDS } },
    { name: "gallery (static, nginx, no thumbnail frames)", url: `${STATIC_BASE}/app/templates-noframes`, opts: { state: undefined, cards: CARDS } },
  ]);
  screens[screens.indexOf(null)] = gallery;

  // The HTML alone, outside the browser: time to the first byte and to the last, over a new
  // connection each time, as Chromium asks (gzip accepted), median of LOADS after a warm-up.
  const cookie = state.cookies.map((c) => `${c.name}=${c.value}`).join("; ");
  async function fetchTimes(url, headers) {
    const once = () => new Promise((resolve, reject) => {
      const t0 = performance.now();
      const req = http.get(url, { agent: false, headers: { "Accept-Encoding": "gzip, deflate, br, zstd", ...headers } }, (res) => {
        const ttfb = performance.now() - t0;
        let bytes = 0;
        res.on("data", (d) => { bytes += d.length; });
        res.on("end", () => res.statusCode === 200
          ? resolve({ ttfb, total: performance.now() - t0, bytes, encoding: res.headers["content-encoding"] ?? "identity" })
          : reject(new Error(`${url}: ${res.statusCode}`)));
      });
      req.on("error", reject);
    });
    await once();
    const runs = [];
    for (let i = 0; i < LOADS; i++) runs.push(await once());
    return { ttfb: median(runs.map((x) => x.ttfb)), total: median(runs.map((x) => x.total)), bytes: runs[0].bytes, encoding: runs[0].encoding };
  }
  const server = {
    facteur: await fetchTimes(`${BASE}/app/templates`, { Cookie: cookie }),
    nginx: await fetchTimes(`${STATIC_BASE}/app/templates`, {}),
  };
  log(`gallery HTML alone: facteur ${JSON.stringify(server.facteur)}; nginx ${JSON.stringify(server.nginx)}`);

  const result = {
    chromium: browser.version(),
    acceptEncoding,
    loads: LOADS,
    cards: CARDS,
    viewport: VIEWPORT,
    seconds: (Date.now() - started) / 1000,
    screens,
    reference,
    noFrames,
    server,
  };
  writeFileSync(OUT, JSON.stringify(result, null, 1));
  log(`results in ${OUT}`);
} finally {
  await browser.close();
}
