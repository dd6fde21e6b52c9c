// Shared by every page: the REST API with the session's CSRF token, forms that submit on
// change, and confirmations before destructive forms.

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content ?? "";

/** JSON.parse, but integers past 2^53 (the store's ids are 64-bit) come as strings rather
 * than as the nearest double, which names another template or message. */
export function parseJson(text) {
  return JSON.parse(text.replace(/("(?:[^"\\]|\\.)*")|(?<![\w.+-])(-?\d{16,})(?=\s*[,}\]])/g,
    (m, string, int) => string ?? (Number.isSafeInteger(Number(int)) ? int : `"${int}"`)));
}

/** Calls the REST API as the signed-in person: JSON in and out, the CSRF token and the
 * account of the page sent along. Resolves to the parsed body; rejects with an Error whose
 * message is the API's ErrorMessage (and `info`, its ErrorInfo: e.g. "MJMLContent, line 3,
 * column 7"). */
export async function api(method, path, body) {
  const headers = { "X-CSRF-Token": meta("csrf"), "X-Facteur-Account": meta("account") };
  let payload;
  if (body instanceof Blob || body instanceof ArrayBuffer) {
    payload = body;
    headers["Content-Type"] = "application/octet-stream";
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  const res = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  const text = await res.text();
  let data = null;
  try { data = text ? parseJson(text) : null; } catch { data = text; }
  if (!res.ok) {
    const err = new Error((data && data.ErrorMessage) || `${res.status} ${res.statusText}`);
    err.info = (data && data.ErrorInfo) || "";
    err.status = res.status;
    throw err;
  }
  return data;
}

/** Shows `message` in element `el` (a <p hidden>), or hides it when empty. */
export function say(el, message) {
  if (!el) return;
  el.textContent = message || "";
  el.hidden = !message;
}

document.addEventListener("change", (e) => {
  const form = e.target.closest("form[data-autosubmit]");
  if (form && e.target.matches("select")) form.requestSubmit();
});

document.addEventListener("submit", (e) => {
  const q = e.target.getAttribute("data-confirm");
  if (q && !window.confirm(q)) e.preventDefault();
});
