// The keys and webhooks pages' actions, through the REST API.
import { api, say } from "./app.js";

document.getElementById("new-key")?.addEventListener("submit", async (e) => {
  e.preventDefault();
  const error = document.getElementById("keys-error");
  try {
    const r = await api("POST", "/v3/REST/apikey", { Name: e.target.name.value.trim() });
    const key = r.Data[0];
    const box = document.getElementById("new-secret");
    box.querySelector("[data-key]").textContent = key.APIKey;
    box.querySelector("[data-secret]").textContent = key.SecretKey;
    box.hidden = false;
    say(error, "");
    e.target.reset();
  } catch (err) { say(error, err.message); }
});

document.getElementById("keys")?.addEventListener("click", async (e) => {
  const b = e.target.closest("[data-action=toggle-key]");
  if (!b) return;
  const id = b.closest("tr").dataset.id;
  const active = b.dataset.active === "true";
  if (active && !confirm("Suspend this key? Its SMTP and API clients will be refused.")) return;
  try {
    await api("PUT", `/v3/REST/apikey/${id}`, { IsActive: !active });
    location.reload();
  } catch (err) { say(document.getElementById("keys-error"), err.message); }
});

document.getElementById("new-hook")?.addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    await api("POST", "/v3/REST/eventcallbackurl", { EventType: e.target.event.value, Url: e.target.url.value.trim() });
    location.reload();
  } catch (err) { say(document.getElementById("hooks-error"), err.message); }
});

document.addEventListener("click", async (e) => {
  const b = e.target.closest("[data-action=delete-hook]");
  if (!b) return;
  if (!confirm("Delete this webhook? Its waiting calls are dropped.")) return;
  try {
    await api("DELETE", `/v3/REST/eventcallbackurl/${b.closest("[data-id]").dataset.id}`);
    location.reload();
  } catch (err) { say(document.getElementById("hooks-error"), err.message); }
});
