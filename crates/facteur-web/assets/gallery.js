// The gallery's actions, through the REST API: star, duplicate, delete (confirmed), create
// (blank, from a starter, from MJML/HTML), import, versions (list, restore, new template from
// a version).
import { api, say } from "./app.js";

// Thumbnails: a sandboxed frame of the template's own URL, made only when its card comes near
// the viewport (a thousand frames at once cost the browser seconds; cards are cheap).
const thumbnails = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (!entry.isIntersecting) continue;
    const link = entry.target;
    thumbnails.unobserve(link);
    const frame = document.createElement("iframe");
    frame.setAttribute("sandbox", "");
    frame.tabIndex = -1;
    frame.title = link.dataset.title;
    frame.src = link.dataset.thumb;
    link.append(frame);
  }
}, { rootMargin: "600px 0px" });
for (const link of document.querySelectorAll("[data-thumb]")) thumbnails.observe(link);

const card = (el) => el.closest(".card");
const idOf = (el) => card(el).dataset.id;

document.getElementById("gallery")?.addEventListener("click", async (e) => {
  const button = e.target.closest("button[data-action]");
  if (!button) return;
  const id = idOf(button);
  const name = card(button).dataset.name;
  try {
    switch (button.dataset.action) {
      case "star": {
        const on = button.getAttribute("aria-pressed") !== "true";
        await api("PUT", `/v3/REST/template/${id}`, { IsStarred: on });
        button.setAttribute("aria-pressed", String(on));
        button.classList.toggle("on", on);
        break;
      }
      case "duplicate": {
        const r = await api("POST", `/v3/REST/template/${id}/duplicate`, {});
        location.href = `/app/templates/${r.Data[0].ID}`;
        break;
      }
      case "delete":
        if (!confirm(`Delete "${name}" and all its versions? This cannot be undone.`)) return;
        await api("DELETE", `/v3/REST/template/${id}`);
        card(button).remove();
        break;
      case "versions":
        await showVersions(id, name);
        break;
    }
  } catch (err) {
    alert(err.message);
  }
});

for (const b of document.querySelectorAll("[data-dialog]")) {
  b.addEventListener("click", () => document.getElementById(b.dataset.dialog).showModal());
}

const BLANK_MJML = `<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text>Hello {{var:name:"there"}}</mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
`;
const BLANK_HTML = `<!doctype html>
<html><body><p>Hello {{var:name:"there"}}</p></body></html>
`;

document.getElementById("create-form")?.addEventListener("submit", async (e) => {
  const form = e.target;
  if (e.submitter?.value !== "create") return;
  e.preventDefault();
  const error = form.querySelector("[data-error]");
  const name = form.name.value.trim();
  const from = form.from.value;
  try {
    let id;
    if (from.startsWith("starter:")) {
      const r = await api("POST", `/v3/REST/gallery/${encodeURIComponent(from.slice(8))}/use`, { Name: name });
      id = r.Data[0].ID;
    } else {
      const source = from === "source" ? form.source.value : from === "blank-html" ? BLANK_HTML : BLANK_MJML;
      const mjml = source.trimStart().startsWith("<mjml");
      const r = await api("POST", "/v3/REST/template", { Name: name, EditMode: mjml ? 4 : 2 });
      id = r.Data[0].ID;
      try {
        await api("PUT", `/v3/REST/template/${id}/draft`, mjml ? { MJMLContent: source } : { "Html-part": source });
      } catch (err) {
        // The template exists: open it in the editor, which shows the error again on save.
        location.href = `/app/templates/${id}`;
        return;
      }
    }
    location.href = `/app/templates/${id}`;
  } catch (err) {
    say(error, err.message);
  }
});

document.getElementById("import-form")?.addEventListener("submit", async (e) => {
  const form = e.target;
  if (e.submitter?.value !== "import") return;
  e.preventDefault();
  const file = form.file.files[0];
  if (!file) return;
  try {
    await api("POST", "/v3/REST/template/import", file);
    location.reload();
  } catch (err) {
    say(form.querySelector("[data-error]"), err.message);
  }
});

const versions = document.getElementById("versions-dialog");
versions?.querySelector("[data-close]").addEventListener("click", () => versions.close());

async function showVersions(id, name) {
  versions.querySelector("[data-name]").textContent = name;
  const rows = versions.querySelector("tbody");
  rows.replaceChildren();
  const r = await api("GET", `/v3/REST/template/${id}/versions`);
  for (const v of r.Data) {
    const tr = document.createElement("tr");
    const cell = (text) => { const td = document.createElement("td"); td.textContent = text; tr.append(td); return td; };
    cell(`v${v.Number}`);
    cell(v.Status);
    cell((v.CreatedAt ?? "").replace("T", " ").slice(0, 16));
    cell(Object.entries(v.Changes ?? {}).map(([part, c]) => `${part} +${c.Added} −${c.Removed}`).join(", ") || "no change");
    const actions = cell("");
    const restore = document.createElement("button");
    restore.className = "link";
    restore.textContent = "Restore as draft";
    restore.addEventListener("click", async () => {
      try {
        await api("POST", `/v3/REST/template/${id}/versions/${v.Number}/restore`);
        location.href = `/app/templates/${id}`;
      } catch (err) { say(versions.querySelector("[data-error]"), err.message); }
    });
    const copy = document.createElement("button");
    copy.className = "link";
    copy.textContent = "New template from it";
    copy.addEventListener("click", async () => {
      try {
        const c = await api("POST", `/v3/REST/template/${id}/duplicate`, { Name: `${name} (v${v.Number})` });
        const newId = c.Data[0].ID;
        // The copy starts from the current content: this version becomes its draft.
        await api("PUT", `/v3/REST/template/${newId}/draft`, v.Content);
        location.href = `/app/templates/${newId}`;
      } catch (err) { say(versions.querySelector("[data-error]"), err.message); }
    });
    actions.append(restore, " ", copy);
    rows.append(tr);
  }
  versions.showModal();
}
