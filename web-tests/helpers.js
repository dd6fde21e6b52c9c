// Shared by the browser tests: Debian's chromium launched by playwright-core (never a browser
// of its own), one fresh context per scenario with the canaries (an `alert` dialog, a script
// error, a CSP violation in the app's own pages fail the test), sign-in, screenshots in
// FACTEUR_ARTIFACTS, and the REST API with the account's key for setting up data.
//
// The Rust driver (crates/facteur/tests/browser.rs) starts the nodes and sets:
//   FACTEUR_SETUP_URL   the owner's one-time link on a node no one can sign in to yet
//   FACTEUR_FRESH_URL   that node's base URL
//   FACTEUR_URL         the base URL of a node with a person of every role
//   FACTEUR_PEOPLE      {"owner": {"email", "password", "name"}, "manager": …} on that node
//   FACTEUR_API_KEY, FACTEUR_API_SECRET   that node's account key
//   FACTEUR_ARTIFACTS   where screenshots go

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

export { assert };

/** An environment variable the driver sets. */
export function env(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run the browser tests with \`cargo test -p facteur --test browser\``);
  }
  return value;
}

export const ROLES = ["owner", "manager", "developer", "marketer", "designer", "accountant"];

/** The person with `role` on the FACTEUR_URL node: {email, password, name}. */
export function person(role) {
  const people = JSON.parse(env("FACTEUR_PEOPLE"));
  assert.ok(people[role], `no ${role} in FACTEUR_PEOPLE`);
  return people[role];
}

// As root, headless, no GPU; nothing in the background. Every request that is not to the
// loopback goes to a proxy on a closed loopback port, so e-mail previews that point at remote
// images never leave the machine (Chromium always bypasses the proxy for loopback).
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--proxy-server=http://127.0.0.1:9",
  "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
];

/** Chromium (a fresh temporary profile each launch). */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ARGS,
    headless: true,
    timeout: 30_000,
  });
}

function slug(text) {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, "-").slice(0, 48).replace(/^-+|-+$/g, "");
}

/** Console messages that are the app's fault: a CSP violation, a script error. Messages from
 * e-mail content (a sandboxed frame refusing the script an e-mail carries) are the defences
 * working, and failed loads of remote images are this machine having no network. */
function appProblem(msg) {
  if (msg.type() !== "error") return null;
  const text = msg.text();
  const where = msg.location()?.url ?? "";
  const emailContent = where === "about:srcdoc" || /\/thumbnail(\?|$)|\/app\/(messages|captured)\/\d+\/html|\/app\/requests\/\d+\/frame\/|\/blocks\/preview$/.test(where);
  if (emailContent || /sandboxed and the 'allow-scripts' permission is not set/.test(text)) return null;
  if (/Content Security Policy|Uncaught|SyntaxError|TypeError|ReferenceError|Failed to load module/i.test(text)) {
    return `console error at ${where}: ${text}`;
  }
  return null;
}

/**
 * One scenario's browser state: a context (its own cookies), its page, what went wrong.
 * `problems` collects alerts, page errors and CSP violations; `confirms` the confirm()
 * questions, which are accepted.
 */
export class Session {
  constructor(context, page, name) {
    this.context = context;
    this.page = page;
    this.name = name;
    this.problems = [];
    this.confirms = [];
    this.shots = 0;
    context.on("dialog", (dialog) => this.#dialog(dialog));
    context.on("console", (msg) => {
      if (process.env.FACTEUR_WEB_DEBUG) console.log(`[${name}] console.${msg.type()} at ${msg.location()?.url}: ${msg.text()}`);
      const problem = appProblem(msg);
      if (problem) this.problems.push(problem);
    });
    context.on("weberror", (e) => this.problems.push(`page error: ${e.error().message}`));
  }

  async #dialog(dialog) {
    const type = dialog.type();
    if (type === "alert") {
      // The XSS canary: the app never calls alert() unless something failed, and no markup a
      // person or an e-mail brings may call it.
      this.problems.push(`alert(${JSON.stringify(dialog.message())}) on ${this.page.url()}`);
      await dialog.dismiss();
    } else if (type === "confirm") {
      this.confirms.push(dialog.message());
      await dialog.accept();
    } else if (type === "beforeunload") {
      await dialog.accept();
    } else {
      this.problems.push(`unexpected ${type} dialog: ${dialog.message()}`);
      await dialog.dismiss();
    }
  }

  /** A full-page screenshot `<test>-<nn>-<step>.png` in FACTEUR_ARTIFACTS. */
  async shot(step, page = this.page) {
    const dir = env("FACTEUR_ARTIFACTS");
    mkdirSync(dir, { recursive: true });
    this.shots += 1;
    const file = path.join(dir, `${this.name}-${String(this.shots).padStart(2, "0")}-${slug(step)}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  }

  /** Fails when a canary went off. */
  assertClean() {
    assert.deepEqual(this.problems, [], `problems in ${this.name}`);
  }
}

/** The chromium of one test file: `browser.run(t, fn)` runs one scenario in a new context. */
export class Browser {
  constructor(file) {
    this.file = file;
    this.browser = null;
  }

  async start() {
    this.browser = await launch();
  }

  async stop() {
    await this.browser?.close();
  }

  /** A new context and page (viewport wide enough for the editor's two panes). */
  async session(name) {
    const context = await this.browser.newContext({ viewport: { width: 1440, height: 900 } });
    context.setDefaultTimeout(15_000);
    const page = await context.newPage();
    return new Session(context, page, `${this.file}-${slug(name)}`);
  }

  /** Runs `fn(session)` (screenshots named `<file>-<name>-<nn>-<step>.png`); then the
   * canaries must be quiet. A failure leaves a screenshot. */
  async run(name, fn) {
    const s = await this.session(name);
    try {
      await fn(s);
      s.assertClean();
    } catch (e) {
      await s.shot("failure").catch(() => {});
      if (s.problems.length) e.message += `\nalso: ${s.problems.join("\n")}`;
      throw e;
    } finally {
      await s.context.close();
    }
  }
}

/** Signs `who` ({email, password}) in on `base`; lands on /app (or `next`). */
export async function signIn(page, base, who, next = "") {
  await page.goto(`${base}/app/sign-in${next ? `?next=${encodeURIComponent(next)}` : ""}`);
  await page.fill('input[name="email"]', who.email);
  await page.fill('input[name="password"]', who.password);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith("/app/sign-in")), page.click("#sign-in")]);
  assert.equal(new URL(page.url()).pathname, next ? new URL(next, base).pathname : "/app");
}

/** The REST API of FACTEUR_URL with the account's key: the parsed JSON answer. */
export async function api(method, apiPath, body) {
  const key = Buffer.from(`${env("FACTEUR_API_KEY")}:${env("FACTEUR_API_SECRET")}`).toString("base64");
  const res = await fetch(`${env("FACTEUR_URL")}${apiPath}`, {
    method,
    headers: { Authorization: `Basic ${key}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${apiPath}: ${res.status} ${text}`);
  return text ? parseJson(text) : null;
}

/** JSON.parse keeping the store's 64-bit ids (past 2^53) exact, as strings (as app.js does). */
export function parseJson(text) {
  return JSON.parse(text.replace(/("(?:[^"\\]|\\.)*")|(?<![\w.+-])(-?\d{16,})(?=\s*[,}\]])/g,
    (m, string, int) => string ?? (Number.isSafeInteger(Number(int)) ? int : `"${int}"`)));
}

/** A template made through the API: MJML with a From header, saved as a draft. Its id. */
export async function makeTemplate(name, { mjml, subject = "Hello {{var:name:\"there\"}}", from = "Facteur Tests <tests@example.com>", values, publish = false } = {}) {
  const created = await api("POST", "/v3/REST/template", { Name: name, EditMode: 4 });
  const id = created.Data[0].ID;
  await api("PUT", `/v3/REST/template/${id}/draft`, {
    MJMLContent: mjml ?? MJML,
    Headers: { Subject: subject, From: from },
  });
  if (values) await api("POST", `/v3/REST/template/${id}/preview`, { ...values, Save: true });
  if (publish) await api("POST", `/v3/REST/template/${id}/publish`, {});
  return id;
}

/** A small MJML document reading one variable (line 5 holds the mj-text). */
export const MJML = `<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text>Hello {{var:name:"there"}}</mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
`;

/** The text of the body of the frame `selector` once it contains `text` (or a timeout). */
export async function frameText(page, selector, text) {
  const body = page.frameLocator(selector).locator("body");
  await body.filter({ hasText: text }).waitFor({ timeout: 15_000 });
  return body.innerText();
}
