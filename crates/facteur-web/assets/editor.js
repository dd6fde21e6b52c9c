// The code editor: MJML or HTML in a textarea with line numbers; saving writes the draft
// (the server validates it and answers an error at line:column, which the editor selects);
// previews at 600 and 375 px in sandboxed frames, with test values from a form of the
// template's variables (Normal) or a JSON document (Expert); a test send to oneself.
import { api, say } from "./app.js";

const root = document.getElementById("editor");
const id = root.dataset.id;
const language = root.dataset.language;
const readonly = root.dataset.readonly === "true";
const source = document.getElementById("source");
const gutter = document.getElementById("gutter");
const subject = document.getElementById("subject");
const from = document.getElementById("from");
const textPart = document.getElementById("text-part");
const errorEl = document.getElementById("editor-error");
const noticeEl = document.getElementById("editor-notice");
const statusEl = document.getElementById("status");
const headers = JSON.parse(root.dataset.headers || "{}");
let mode = "normal";
let dirty = false;

function drawGutter() {
  const lines = source.value.split("\n").length;
  let text = "";
  for (let i = 1; i <= lines; i++) text += i + "\n";
  gutter.textContent = text;
  gutter.scrollTop = source.scrollTop;
}
source.addEventListener("scroll", () => { gutter.scrollTop = source.scrollTop; });
drawGutter();

/** Selects line `line`, column `column` (1-based) of the source, and marks its number. */
function goTo(line, column) {
  const lines = source.value.split("\n");
  let offset = 0;
  for (let i = 0; i < Math.min(line - 1, lines.length); i++) offset += lines[i].length + 1;
  offset += Math.max(0, column - 1);
  source.focus();
  source.setSelectionRange(offset, Math.min(offset + 1, source.value.length));
  const lineHeight = source.scrollHeight / Math.max(lines.length, 1);
  source.scrollTop = Math.max(0, (line - 5) * lineHeight);
  root.dataset.errorLine = String(line);
}

function showError(err) {
  const where = /line (\d+), column (\d+)/.exec(err.info || "");
  say(errorEl, err.message + (err.info ? ` (${err.info})` : ""));
  say(noticeEl, "");
  if (where && /MJMLContent|Html-part/.test(err.info)) goTo(Number(where[1]), Number(where[2]));
}

function content() {
  const h = { ...headers, Subject: subject.value };
  if (from && from.value.trim()) h.From = from.value.trim(); else if (from) delete h.From;
  const body = { Headers: h, "Text-part": textPart.value };
  if (language === "mjml") body.MJMLContent = source.value; else body["Html-part"] = source.value;
  return body;
}

async function save() {
  if (readonly) return true;
  try {
    const body = content();
    const r = await api("PUT", `/v3/REST/template/${id}/draft`, body);
    Object.assign(headers, body.Headers);
    dirty = false;
    delete root.dataset.errorLine;
    say(errorEl, "");
    statusEl.textContent = "draft";
    const warnings = r.Warnings || [];
    if (warnings.length === 0) {
      say(noticeEl, `Draft saved (version ${r.Draft}).`);
    } else {
      // MJML validation findings (node mjml's soft level): saved, but worth a look.
      const list = warnings.slice(0, 5).map((w) => (w.Line ? `line ${w.Line}, column ${w.Column}: ` : "") + w.Message);
      say(noticeEl, `Draft saved (version ${r.Draft}), with ${warnings.length} MJML warning${warnings.length > 1 ? "s" : ""}: ${list.join("; ")}${warnings.length > 5 ? "; …" : ""}`);
      if (warnings[0].Line) goTo(warnings[0].Line, warnings[0].Column);
    }
    return true;
  } catch (err) {
    showError(err);
    return false;
  }
}

// Test values: Normal mode reads the form, Expert mode the JSON.
function values() {
  if (mode === "expert") {
    const text = document.getElementById("values-json").value.trim();
    const parsed = text ? JSON.parse(text) : {};
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new Error("The test values are a JSON object: {\"Variables\": {…}, \"ContactProperties\": {…}}");
    }
    return parsed;
  }
  const vars = {}, data = {};
  for (const input of document.querySelectorAll("[data-var]")) {
    if (input.value === "") continue;
    const [ns, ...rest] = input.dataset.var.split(":");
    const name = rest.join(":").split(".")[0];
    if (ns === "data") data[name] = input.value; else vars[name] = input.value;
  }
  return { Variables: vars, ContactProperties: data };
}

function checkJson() {
  const el = document.getElementById("json-error");
  try { values(); say(el, ""); return true; } catch (err) { say(el, err.message); return false; }
}

async function preview(saveValues = false) {
  if (!checkJson()) return;
  if (dirty && !(await save())) return;
  try {
    const body = { ...values(), Version: readonly ? "published" : "draft" };
    if (saveValues) body.Save = true;
    const r = await api("POST", `/v3/REST/template/${id}/preview`, body);
    const out = r.Data[0];
    document.getElementById("preview-subject").textContent = out.Subject;
    for (const frame of ["preview-desktop", "preview-mobile"]) {
      document.getElementById(frame).srcdoc = out["Html-part"];
    }
    if (saveValues) say(noticeEl, "Test values saved.");
    await advise(body);
  } catch (err) {
    showError(err);
  }
}

/** Content advice on what the preview shows: each advice with its severity and element. */
async function advise(body) {
  const list = document.getElementById("advice");
  const count = document.getElementById("advice-count");
  try {
    const r = await api("POST", `/v3/REST/template/${id}/check`, { ...body, Save: undefined });
    list.replaceChildren();
    for (const a of r.Data) {
      const li = document.createElement("li");
      li.className = `advice-${a.Severity}`;
      li.dataset.code = a.Code;
      const sev = document.createElement("strong");
      sev.textContent = a.Severity;
      li.append(sev, " ", a.Message);
      if (a.Element) {
        const el = document.createElement("code");
        el.textContent = a.Element;
        li.append(" ", el);
      }
      list.append(li);
    }
    count.textContent = r.Total ? String(r.Total) : "none";
  } catch (err) {
    count.textContent = "";
    list.replaceChildren();
  }
}

let timer = 0;
function previewSoon(ms) {
  clearTimeout(timer);
  timer = setTimeout(() => preview(), ms);
}
for (const el of [source, subject, textPart, from].filter(Boolean)) {
  el.addEventListener("input", () => {
    dirty = true;
    if (el === source) drawGutter();
    previewSoon(1200);
  });
}
// The preview follows the test values as they are typed (Expert mode: once the JSON parses);
// Enter in a field previews rather than sending the form (which would reload the page).
document.getElementById("normal-values").addEventListener("input", () => previewSoon(400));
document.getElementById("normal-values").addEventListener("submit", (e) => { e.preventDefault(); preview(); });
document.getElementById("values-json").addEventListener("input", () => { if (checkJson()) previewSoon(400); });

document.getElementById("save")?.addEventListener("click", async () => { await save(); await preview(); });
document.getElementById("publish")?.addEventListener("click", async () => {
  if (!(await save())) return;
  try {
    const r = await api("POST", `/v3/REST/template/${id}/publish`, {});
    statusEl.textContent = "published";
    say(noticeEl, `Published as version ${r.Published ?? r.Number ?? ""}.`.replace(" .", "."));
  } catch (err) { showError(err); }
});
document.getElementById("send-test")?.addEventListener("click", async () => {
  if (dirty && !(await save())) return;
  try {
    const r = await api("POST", `/v3/REST/template/${id}/test`, { To: root.dataset.me, Version: readonly ? "published" : "draft" });
    say(noticeEl, `Test queued for ${root.dataset.me} (message ${r.MessageID}).`);
    say(errorEl, "");
  } catch (err) { showError(err); }
});
document.getElementById("preview-button").addEventListener("click", () => preview());
document.getElementById("save-values").addEventListener("click", () => preview(true));

for (const tab of document.querySelectorAll("[data-mode]")) {
  tab.addEventListener("click", () => {
    mode = tab.dataset.mode;
    for (const t of document.querySelectorAll("[data-mode]")) t.setAttribute("aria-selected", String(t === tab));
    document.getElementById("normal-values").hidden = mode !== "normal";
    document.getElementById("expert-values").hidden = mode !== "expert";
  });
}

// Normal mode starts from the saved test values.
try {
  const saved = JSON.parse(document.getElementById("values-json").value || "{}") || {};
  const vars = saved.Variables ?? (saved.ContactProperties ? {} : saved);
  const data = saved.ContactProperties ?? {};
  for (const input of document.querySelectorAll("[data-var]")) {
    const [ns, ...rest] = input.dataset.var.split(":");
    const v = (ns === "data" ? data : vars)[rest.join(":").split(".")[0]];
    if (v !== undefined && typeof v !== "object") input.value = String(v);
  }
} catch { /* shown by checkJson when Expert mode is used */ }

document.addEventListener("keydown", (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key === "s") { e.preventDefault(); save().then((ok) => ok && preview()); }
});
window.addEventListener("beforeunload", (e) => { if (dirty) e.preventDefault(); });

preview();
