// The block editor with real-time co-editing (docs/collab.md). The server is the authority:
// the page keeps `confirmed` (the document as the server last told it) and `pending` (our
// operations it has not acknowledged yet); what is drawn is confirmed with pending applied.
// Whoever works in a section holds its lease; others see it locked in that person's colour.
// Undo and redo are stacks of inverse operations, sent as ordinary operations.
import { api, parseJson } from "./app.js";
import { h, render } from "./vendor/preact.module.js";
import { useEffect, useLayoutEffect, useRef, useState } from "./vendor/preact-hooks.module.js";
import htm from "./vendor/htm.module.js";
import Sortable from "./vendor/sortable.esm.js";

const html = htm.bind(h);
const $ = (id) => document.getElementById(id);
const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content ?? "";
const root = $("blocks");
const id = root.dataset.id;
const clone = (x) => structuredClone(x);

// ---------------------------------------------------------------------------------------------
// The document and its operations

const KINDS = { text: "Text", image: "Image", button: "Button", divider: "Divider", spacer: "Spacer", social: "Social links", raw: "Raw HTML", mjml: "MJML", if: "If", for: "For each" };
const CONTENT_FIELDS = { image: ["src", "alt", "href"], button: ["text", "href"], social: ["facebook", "x", "linkedin", "instagram", "youtube"], raw: ["html"], mjml: ["source"], if: ["expr"], for: ["expr"] };
const STYLE_FIELDS = {
  text: ["color", "font-size", "align", "padding"], image: ["width", "align"],
  button: ["background-color", "color", "align", "border-radius"], divider: ["border-color", "border-width"],
  spacer: ["height"], social: ["align"], section: ["background-color", "padding"], body: ["background-color", "width"],
};
const LABELS = { src: "Image URL", alt: "Alternative text", href: "Link (URL)", text: "Button text", facebook: "Facebook", x: "X", linkedin: "LinkedIn", instagram: "Instagram", youtube: "YouTube", html: "HTML", source: "MJML source", expr: "Condition" };
const MULTILINE = new Set(["html", "source"]);
const isLogic = (b) => b && (b.kind === "if" || b.kind === "for");

/** A new id: 10 characters of [a-z0-9]. */
function newId() {
  const abc = "abcdefghijklmnopqrstuvwxyz0123456789";
  return Array.from(crypto.getRandomValues(new Uint8Array(10)), (x) => abc[x % 36]).join("");
}

function newBlock(kind) {
  const content = { text: { html: "<p>New text</p>" }, button: { text: "Button" }, if: { expr: 'var:vip == "yes"' }, for: { expr: "item in var:items" } }[kind];
  const style = { spacer: { height: "20px" } }[kind];
  return { id: newId(), kind, content: { ...content }, style: { ...style }, children: [] };
}

function newColumn(width) {
  return { id: newId(), style: width ? { width } : {}, blocks: [] };
}

function newSection(columns) {
  const width = `${Number((100 / columns).toFixed(2))}%`;
  return { id: newId(), kind: "section", style: {}, content: {}, lock: { style: false, content: false }, columns: Array.from({ length: columns }, () => newColumn(width)) };
}

/** A deep copy of a block, column or section with new ids throughout (duplicate). */
function renew(node) {
  const copy = clone(node);
  const walk = (n) => { n.id = newId(); (n.columns || []).forEach(walk); (n.blocks || []).forEach(walk); (n.children || []).forEach(walk); };
  walk(copy);
  if (copy.lock) copy.lock = { style: false, content: false };
  return copy;
}

/** Where `nodeId` is in `doc`: {type, node, list, index, section, parentId}; null if nowhere. */
function locate(doc, nodeId) {
  const inBlocks = (list, parentId, section) => {
    for (let i = 0; i < list.length; i++) {
      const b = list[i];
      if (b.id === nodeId) return { type: "block", node: b, list, index: i, section, parentId };
      const found = b.children?.length && inBlocks(b.children, b.id, section);
      if (found) return found;
    }
    return null;
  };
  for (let i = 0; i < doc.sections.length; i++) {
    const s = doc.sections[i];
    if (s.id === nodeId) return { type: "section", node: s, list: doc.sections, index: i, section: s, parentId: null };
    for (let j = 0; j < (s.columns || []).length; j++) {
      const c = s.columns[j];
      if (c.id === nodeId) return { type: "column", node: c, list: s.columns, index: j, section: s, parentId: s.id };
      const found = inBlocks(c.blocks || (c.blocks = []), c.id, s);
      if (found) return found;
    }
  }
  return null;
}

/** The list of blocks a column or an if/for block holds. */
function blocksOf(doc, into) {
  const at = locate(doc, into);
  if (at?.type === "column") return at.node.blocks;
  if (at?.type === "block" && isLogic(at.node)) return (at.node.children ??= []);
  return null;
}

const clamp = (i, list) => Math.max(0, Math.min(Number(i) || 0, list.length));

/** Applies `op` to `doc` in place (the semantics of docs/collab.md). An operation that no
 * longer fits the document (its target is gone) changes nothing: the server refuses it. */
export function apply(doc, op) {
  doc.sections ??= [];
  switch (op.op) {
    case "set": {
      let bag;
      if (op.target === "body") bag = (doc.attributes ??= {});
      else {
        const at = locate(doc, op.target);
        if (!at) return doc;
        bag = (at.node[op.group] ??= {});
      }
      if (op.value === null || op.value === undefined) delete bag[op.key];
      else bag[op.key] = op.value;
      break;
    }
    case "insert_block": {
      const list = blocksOf(doc, op.into);
      if (list && !locate(doc, op.block.id)) list.splice(clamp(op.index, list), 0, clone(op.block));
      break;
    }
    case "move_block": {
      const at = locate(doc, op.block);
      // Never into itself or one of its own children.
      if (!at || op.into === op.block || (isLogic(at.node) && locate({ sections: [{ columns: [{ blocks: [at.node] }] }] }, op.into))) break;
      const list = blocksOf(doc, op.into);
      if (!list) break;
      at.list.splice(at.index, 1);
      list.splice(clamp(op.index, list), 0, at.node);
      break;
    }
    case "delete_block":
    case "delete_section":
    case "delete_column": {
      const at = locate(doc, op.block ?? op.section ?? op.column);
      if (at) at.list.splice(at.index, 1);
      break;
    }
    case "insert_section":
      if (!locate(doc, op.section.id)) doc.sections.splice(clamp(op.index, doc.sections), 0, clone(op.section));
      break;
    case "move_section": {
      const at = locate(doc, op.section);
      if (at?.type !== "section") break;
      doc.sections.splice(at.index, 1);
      doc.sections.splice(clamp(op.index, doc.sections), 0, at.node);
      break;
    }
    case "insert_column": {
      const at = locate(doc, op.section);
      if (at?.type === "section" && !locate(doc, op.column.id)) {
        const cols = (at.node.columns ??= []);
        cols.splice(clamp(op.index, cols), 0, clone(op.column));
      }
      break;
    }
    case "lock": {
      const at = locate(doc, op.section);
      if (at?.type === "section") at.node.lock = { style: !!op.style, content: !!op.content };
      break;
    }
  }
  return doc;
}

/** The operation that undoes `op` on `doc` (computed before `op` is applied); null when `op`
 * has nothing to act on. */
function inverse(doc, op) {
  const at = (nodeId) => locate(doc, nodeId);
  switch (op.op) {
    case "set": {
      if (op.target === "body") return { ...op, value: doc.attributes?.[op.key] ?? null };
      const t = at(op.target);
      return t && { ...op, value: t.node[op.group]?.[op.key] ?? null };
    }
    case "insert_block": return { op: "delete_block", block: op.block.id };
    case "insert_section": return { op: "delete_section", section: op.section.id };
    case "insert_column": return { op: "delete_column", column: op.column.id };
    case "delete_block": { const t = at(op.block); return t && { op: "insert_block", into: t.parentId, index: t.index, block: clone(t.node) }; }
    case "delete_section": { const t = at(op.section); return t && { op: "insert_section", index: t.index, section: clone(t.node) }; }
    case "delete_column": { const t = at(op.column); return t && { op: "insert_column", section: t.parentId, index: t.index, column: clone(t.node) }; }
    case "move_block": { const t = at(op.block); return t && { op: "move_block", block: op.block, into: t.parentId, index: t.index }; }
    case "move_section": { const t = at(op.section); return t && { op: "move_section", section: op.section, index: t.index }; }
    case "lock": { const t = at(op.section); return t && { op: "lock", section: op.section, style: !!t.node.lock?.style, content: !!t.node.lock?.content }; }
  }
  return null;
}

/** In words, for a refusal: "Could not <describe>: <the server's reason>". */
function describe(op) {
  const what = { insert_block: "add the block", move_block: "move the block", delete_block: "delete the block", insert_section: "add the section", move_section: "move the section", delete_section: "delete the section", insert_column: "add the column", delete_column: "delete the column", lock: "change the section's locks" };
  if (op?.op === "set") return op.key === "html" ? "save your text" : `change ${op.key}`;
  return what[op?.op] ?? "apply your change";
}

// ---------------------------------------------------------------------------------------------
// State

/** The insertable variables: the test values' keys (and those of a nested "vars"). */
function variables(text) {
  let values;
  try { values = parseJson(text || "{}"); } catch { return []; }
  if (!values || typeof values !== "object" || Array.isArray(values)) return [];
  const names = new Set();
  const keysOf = (obj, ns) => { if (obj && typeof obj === "object" && !Array.isArray(obj)) for (const k of Object.keys(obj)) names.add(`${ns}:${k}`); };
  for (const [k, v] of Object.entries(values)) {
    if (k === "vars" || k === "Variables") keysOf(v, "var");
    else if (k === "ContactProperties") keysOf(v, "data");
    else names.add(`var:${k}`);
  }
  return [...names];
}
const VARS = variables(root.dataset.testValues);

const S = {
  confirmed: { attributes: {}, head: "", sections: [] },
  seq: null,          // the last sequence number applied to `confirmed`
  pending: [],        // [{cid, op, conn}]: sent (on connection `conn`) or waiting, not acknowledged
  undo: [], redo: [], // [{cid, op, at, key}]: inverse operations
  me: { user: root.dataset.meId, name: root.dataset.meName, conn: null },
  can: { edit: root.dataset.canEdit === "true", lock: root.dataset.canLock === "true", publish: root.dataset.canPublish === "true" },
  leases: [], people: [], comments: [], commentsError: "",
  selected: null,     // the id of the selected block or section; null: the e-mail's body
  column: null,       // the column last clicked (where a clicked palette item goes)
  held: null,         // the section whose lease we hold or asked for
  online: false, ready: false, welcomed: false, catchUp: null, conn: 0,
  dragging: null,     // {from, next} while SortableJS drags (drawing waits until it ends)
  tab: "open", composing: null, messages: [], refocus: null,
  forceHtml: new Set(), // text blocks to redraw even while focused (after our own undo)
};
const clientId = newId().slice(0, 6);
let counter = 0;

let viewCache = null;
/** What is drawn: the confirmed document with our pending operations applied. */
function view() {
  if (!viewCache) {
    viewCache = clone(S.confirmed);
    for (const p of S.pending) apply(viewCache, p.op);
  }
  return viewCache;
}
function changed() { viewCache = null; draw(); }

const big = (n) => { try { return BigInt(String(n)); } catch { return 0n; } };
const newer = (a, b) => b === null || b === undefined || big(a) > big(b);
const same = (a, b) => a !== null && a !== undefined && String(a) === String(b);
const leaseOf = (sectionId) => S.leases.find((l) => l.section === sectionId);
/** The lease of a section when someone else holds it. */
const heldByOther = (sectionId) => { const l = leaseOf(sectionId); return l && !same(l.user, S.me.user) ? l : null; };
/** Whether the person may change `group` ("content" or "style") of section `s` now. */
const may = (s, group) => !!(S.can.edit && s && !heldByOther(s.id) && !s.lock?.[group]);

let noteId = 0;
/** A message for the person in #messages: errors stay until dismissed, notices 8 s. */
function note(kind, text, code = null, link = null) {
  const m = { id: ++noteId, kind, text, code, link };
  S.messages = [...S.messages.slice(-4), m];
  if (kind === "notice") setTimeout(() => { S.messages = S.messages.filter((x) => x !== m); draw(); }, 8000);
  draw();
}

// ---------------------------------------------------------------------------------------------
// The live connection

let ws = null;
let attempt = 0;
let requestSentAt = 0;

function connect() {
  const sock = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/app/templates/${id}/live`);
  ws = sock;
  S.conn += 1;
  S.ready = false;
  sock.onopen = () => sock.send(JSON.stringify({ t: "hello", since: S.seq }));
  sock.onmessage = (e) => {
    let m;
    try { m = parseJson(e.data); } catch { return; }
    receive(m);
  };
  sock.onclose = () => {
    if (ws !== sock) return;
    S.online = S.ready = false;
    // Back off: 0.5 s, 1 s, 2 s … up to 15 s, with jitter so a restarted server is not stampeded.
    const delay = Math.min(15000, 500 * 2 ** attempt++) * (0.5 + Math.random() / 2);
    setTimeout(connect, delay);
    draw();
  };
}

/** Sends a control message (take, release, focus, heartbeat) if the connection is up; what
 * is lost while it is down is sent again on the next welcome. */
function transmit(msg) {
  if (ws?.readyState === WebSocket.OPEN && S.ready) ws.send(JSON.stringify(msg));
}

/** Sends a pending operation once per connection, after the catch-up. */
function sendPending(p) {
  if (ws?.readyState === WebSocket.OPEN && S.ready && p.conn !== S.conn) {
    ws.send(JSON.stringify({ t: "op", cid: p.cid, op: p.op }));
    p.conn = S.conn;
  }
}

function receive(m) {
  switch (m.t) {
    case "welcome": return welcome(m);
    case "ops": return ops(m.ops || []);
    case "refused": return refused(m);
    case "leases":
      S.leases = m.leases || [];
      if (S.held && heldByOther(S.held)) S.held = null;
      return draw();
    case "presence": S.people = m.people || []; return draw();
    case "comments": return loadComments();
    case "requests":
      // Someone asked to publish this template, or a request was decided (ours just sent is
      // already said).
      if (Date.now() - requestSentAt > 5000) note("notice", "Publish requests of this template changed.", null, { href: "/app/notifications", text: "See notifications" });
      return;
  }
}

function welcome(m) {
  attempt = 0;
  S.me = { ...S.me, ...(m.me || {}) };
  if (m.can) S.can = { edit: !!m.can.edit, lock: !!m.can.lock, publish: !!m.can.publish };
  if (m.doc) {
    S.confirmed = m.doc;
    S.seq = m.seq;
    S.catchUp = null;
    // A snapshot may already hold operations acknowledged while we were away (the
    // acknowledgement was lost with the connection): an insert whose element exists is one.
    const inserted = (op) => ({ insert_block: op.block, insert_section: op.section, insert_column: op.column })[op.op];
    S.pending = S.pending.filter((p) => !(inserted(p.op) && locate(S.confirmed, inserted(p.op).id)));
  } else {
    S.catchUp = m.seq; // the operations after our `since` follow this message
  }
  S.online = S.welcomed = true;
  if (S.catchUp === null || !newer(S.catchUp, S.seq)) ready();
  changed();
  schedulePreview();
}

/** Caught up: send what is pending (acknowledged ones left `pending` during the catch-up),
 * and take the lease and presence back. */
function ready() {
  S.catchUp = null;
  S.ready = true;
  for (const p of S.pending) sendPending(p);
  const at = S.selected && locate(view(), S.selected);
  if (S.held && !heldByOther(S.held)) transmit({ t: "take", section: S.held });
  transmit({ t: "focus", section: at ? at.section.id : null, block: at?.type === "block" ? S.selected : null });
}

function ops(list) {
  for (const o of list) {
    if (S.seq !== null && !newer(o.seq, S.seq)) continue; // already applied
    // Our own operation coming back is its acknowledgement (cids start with this page's id).
    const mine = o.cid ? S.pending.findIndex((p) => p.cid === o.cid) : -1;
    if (mine >= 0) S.pending.splice(mine, 1);
    apply(S.confirmed, o.op);
    S.seq = o.seq;
  }
  if (S.catchUp !== null && !newer(S.catchUp, S.seq)) ready();
  if (list.length) $("status").textContent = "draft";
  changed();
  forgetGone();
  schedulePreview();
}

function refused(m) {
  if (m.cid) {
    const p = S.pending.find((x) => x.cid === m.cid);
    S.pending = S.pending.filter((x) => x.cid !== m.cid);
    S.undo = S.undo.filter((x) => x.cid !== m.cid);
    S.redo = S.redo.filter((x) => x.cid !== m.cid);
    note("error", `Could not ${describe(p?.op)}: ${m.error || m.code}`, m.code);
    changed();
    forgetGone();
  } else {
    // A lease we could not take: someone was quicker. Worth saying, not worth keeping.
    if (m.section && S.held === m.section) S.held = null;
    note("notice", m.error || "This section is being edited by someone else.", m.code);
  }
}

/** The selection goes when its element does (deleted by someone, or our insert refused). */
function forgetGone() {
  if (S.selected && !locate(view(), S.selected)) select(null);
}

// ---------------------------------------------------------------------------------------------
// Changing the document

/** Sends `op` (optimistically drawn at once), keeping its inverse for undo. Returns its cid,
 * or null when there was nothing to do. */
function submit(op, { undoable = true } = {}) {
  if (!S.can.edit) { note("error", "You may not edit this template."); return null; }
  const inv = inverse(view(), op);
  if (!inv || (op.op === "set" && (inv.value ?? null) === (op.value ?? null))) return null;
  const cid = `${clientId}-${++counter}`;
  const p = { cid, op, conn: null };
  S.pending.push(p);
  if (undoable) {
    const key = op.op === "set" ? `${op.target}/${op.group}/${op.key}` : null;
    const top = S.undo[S.undo.length - 1];
    // Typing sends a set every 150 ms: one undo step per burst of changes to one property.
    if (key && top?.key === key && Date.now() - top.at < 2000) top.at = Date.now();
    else S.undo.push({ cid, op: inv, at: Date.now(), key });
    if (S.undo.length > 200) S.undo.shift();
    S.redo = [];
  }
  sendPending(p);
  changed();
  return cid;
}

/** Undo (or redo, with the stacks swapped): send the stored inverse, keep its own inverse. */
function undo(from = S.undo, to = S.redo) {
  flushTyping();
  // An entry whose change others have made moot (same value, element gone) is skipped.
  for (let entry = from.pop(); entry; entry = from.pop()) {
    const inv = inverse(view(), entry.op);
    if (entry.op.op === "set" && entry.op.key === "html") S.forceHtml.add(entry.op.target);
    const cid = submit(entry.op, { undoable: false });
    if (!cid) continue;
    if (inv) to.push({ cid, op: inv, at: 0, key: null });
    break;
  }
  draw();
}
const redo = () => undo(S.redo, S.undo);

// Rich text: a `set` of the block's html at most every 150 ms while typing (others see it
// live, without one operation per key), and once more when the block loses the focus.
let typingTimer = 0;
let typingBlock = null;
function typing(blockId) {
  if (typingBlock && typingBlock !== blockId) flushTyping();
  typingBlock = blockId;
  if (!typingTimer) typingTimer = setTimeout(flushTyping, 150);
}
function flushTyping() {
  clearTimeout(typingTimer);
  typingTimer = 0;
  const blockId = typingBlock;
  typingBlock = null;
  const el = blockId && textElement(blockId);
  if (el) submit({ op: "set", target: blockId, group: "content", key: "html", value: el.innerHTML });
}
const textElement = (blockId) => document.querySelector(`[data-text="${CSS.escape(blockId)}"]`);

/** Where a new block goes: after the selected block, into the selected if/for, or at the end
 * of the column last clicked (or the first column) of the selected or last section. */
function insertionPoint(doc) {
  const at = S.selected && locate(doc, S.selected);
  if (at?.type === "block" && isLogic(at.node)) return { into: at.node.id, index: at.node.children?.length ?? 0 };
  if (at?.type === "block") return { into: at.parentId, index: at.index + 1 };
  const s = at?.section ?? [...doc.sections].reverse().find((x) => x.columns?.length);
  if (!s?.columns?.length) return null;
  const col = s.columns.find((c) => c.id === S.column) ?? s.columns[0];
  return { into: col.id, index: col.blocks.length };
}

function addBlock(kind, where) {
  flushTyping();
  const doc = view();
  const block = newBlock(kind);
  where ??= insertionPoint(doc);
  if (!where) {
    // An empty template: a section of one column holding the block.
    const section = newSection(1);
    section.columns[0].blocks.push(block);
    if (submit({ op: "insert_section", index: doc.sections.length, section })) select(block.id, { focus: true });
    return;
  }
  if (submit({ op: "insert_block", ...where, block })) select(block.id, { focus: true });
}

function addSection(columns) {
  flushTyping();
  const doc = view();
  const at = S.selected && locate(doc, S.selected);
  const section = newSection(columns);
  if (submit({ op: "insert_section", index: at ? doc.sections.indexOf(at.section) + 1 : doc.sections.length, section })) select(section.id, { focus: true });
}

function duplicate(nodeId) {
  flushTyping();
  const at = locate(view(), nodeId);
  if (!at) return;
  const copy = renew(at.node);
  const ok = at.type === "section"
    ? submit({ op: "insert_section", index: at.index + 1, section: copy })
    : submit({ op: "insert_block", into: at.parentId, index: at.index + 1, block: copy });
  if (ok) select(copy.id, { focus: true });
}

function remove(nodeId) {
  flushTyping();
  const at = locate(view(), nodeId);
  if (!at) return;
  if (at.type === "section") {
    if (!confirm("Delete this section and everything in it?")) return;
    if (submit({ op: "delete_section", section: nodeId })) select(null);
  } else if (at.type === "block" && submit({ op: "delete_block", block: nodeId })) {
    select(at.section.id, { focus: true });
  }
}

/** Alt+ArrowUp/Down: the selected block within its list, or the selected section. */
function moveBy(delta) {
  flushTyping();
  const at = S.selected && locate(view(), S.selected);
  const index = at ? at.index + delta : -1;
  if (!at || index < 0 || index >= at.list.length) return;
  const op = at.type === "section" ? { op: "move_section", section: at.node.id, index } : { op: "move_block", block: at.node.id, into: at.parentId, index };
  if (submit(op)) S.refocus = at.node.id;
}

// ---------------------------------------------------------------------------------------------
// Selection, leases, presence

/** Selects a block or section (null: the body), taking its section's lease and releasing
 * the previous one, and tells the others where we are. */
function select(nodeId, { focus = false } = {}) {
  const at = nodeId ? locate(view(), nodeId) : null;
  S.selected = at ? nodeId : null;
  const section = at ? at.section.id : null;
  if (section !== S.held) {
    if (S.held) transmit({ t: "release", section: S.held });
    S.held = null;
    if (section && S.can.edit && !heldByOther(section)) {
      S.held = section;
      transmit({ t: "take", section });
    }
  }
  transmit({ t: "focus", section, block: at?.type === "block" ? nodeId : null });
  if (focus) S.refocus = nodeId;
  draw();
}

function release() {
  if (S.held) transmit({ t: "release", section: S.held });
  S.held = null;
}

// ---------------------------------------------------------------------------------------------
// Drawing

let drawQueued = false;
/** Redraws every island once per tick; waits while SortableJS moves elements around. */
function draw() {
  if (drawQueued) return;
  drawQueued = true;
  queueMicrotask(() => {
    drawQueued = false;
    if (S.dragging) return;
    paint();
  });
}

let lastSelected;
function paint() {
  render(html`<${Canvas} />`, $("canvas"));
  render(html`<${Properties} />`, $("properties"));
  render(html`<${Comments} />`, $("comments"));
  render(html`<${Presence} />`, $("presence"));
  render(html`<${Messages} />`, $("messages"));
  $("save-state").textContent = S.pending.length ? "Saving…" : "Saved";
  $("save-state").classList.toggle("saving", S.pending.length > 0);
  $("undo").disabled = !S.can.edit || S.undo.length === 0;
  $("redo").disabled = !S.can.edit || S.redo.length === 0;
  const banner = $("connection");
  banner.hidden = S.online;
  banner.textContent = S.welcomed ? "Reconnecting…" : "Connecting…";
  if (S.refocus) {
    const sel = `[data-block="${CSS.escape(S.refocus)}"], [data-section="${CSS.escape(S.refocus)}"]`;
    S.refocus = null;
    document.querySelector(sel)?.focus();
  }
  if (S.selected !== lastSelected) {
    lastSelected = S.selected;
    document.querySelector(".comment-group.highlight")?.scrollIntoView({ block: "nearest" });
  }
}

/** A SortableJS list on the element the returned ref is put on. */
function useSortable(options, disabled) {
  const ref = useRef(null);
  const sortable = useRef(null);
  useEffect(() => {
    sortable.current = Sortable.create(ref.current, { ...options, disabled: !!disabled });
    return () => sortable.current.destroy();
  }, []);
  useEffect(() => { sortable.current?.option("disabled", !!disabled); }, [disabled]);
  return ref;
}

// Drags: SortableJS moves the element itself; at the end it is put back where it was (so
// Preact's picture of the DOM stays true) and the move is sent as an operation, which draws
// the new order. Drawing waits for the drop.
function dragStart(evt) {
  flushTyping();
  S.dragging = { from: evt.from, next: evt.item.nextSibling };
}
function dragEnd(evt) {
  const { from, next } = S.dragging;
  if (evt.pullMode === "clone" && evt.clone?.parentNode) evt.clone.replaceWith(evt.item);
  else from.insertBefore(evt.item, next);
  S.dragging = null;
  draw();
}
/** Whether a dragged block may land in list `to` (a column's or an if/for's blocks). */
function droppable(evt) {
  if (evt.dragged.contains(evt.to)) return false;
  return may(locate(view(), evt.to.dataset.sectionOf)?.node, "content");
}
const common = { animation: 120, forceFallback: true, fallbackOnBody: true, swapThreshold: 0.65, onStart: dragStart, onMove: droppable };
const BLOCK_LIST = {
  ...common, group: { name: "blocks", pull: true, put: true }, handle: ".block-handle", draggable: "[data-block]",
  onEnd(evt) {
    const to = evt.to, index = evt.newDraggableIndex;
    const moved = evt.from !== to || evt.oldDraggableIndex !== index;
    dragEnd(evt);
    if (moved) submit({ op: "move_block", block: evt.item.dataset.block, into: to.dataset.into, index });
  },
};
const SECTION_LIST = {
  ...common, onMove: undefined, group: "sections", handle: ".section-handle", draggable: "[data-section]",
  onEnd(evt) {
    const index = evt.newDraggableIndex;
    dragEnd(evt);
    if (evt.oldDraggableIndex !== index) submit({ op: "move_section", section: evt.item.dataset.section, index });
  },
};

const styleOf = (st = {}) => ({ color: st.color, fontSize: st["font-size"], textAlign: st.align });

function Canvas() {
  const doc = view();
  const ref = useSortable(SECTION_LIST, !S.can.edit);
  return html`
    <div class="canvas-body" style=${{ backgroundColor: doc.attributes?.["background-color"] }}>
      <div class="sections" ref=${ref}>
        ${doc.sections.map((s, i) => html`<${Section} key=${s.id} s=${s} index=${i} />`)}
      </div>
      ${doc.sections.length === 0 && html`<p class="empty">This template is empty: add a section or a block from the left.</p>`}
    </div>`;
}

function Section({ s, index }) {
  const other = heldByOther(s.id);
  const cls = ["section", other && "leased", S.held === s.id && "held", S.selected === s.id && "selected"].filter(Boolean).join(" ");
  const name = `Section ${index + 1}`;
  return html`
    <div class=${cls} data-section=${s.id} tabindex="0" role="group" aria-label=${other ? `${name}, being edited by ${other.name}` : name}
         style=${{ backgroundColor: s.style?.["background-color"], borderColor: other?.color }}>
      <div class="section-bar">
        ${S.can.edit && !other && html`<span class="handle section-handle" title="Drag to move the section" aria-hidden="true">⠿</span>`}
        <span class="section-name">${name}</span>
        ${s.lock?.style && html`<span class="lock-badge" data-lock="style">Style locked</span>`}
        ${s.lock?.content && html`<span class="lock-badge" data-lock="content">Content locked</span>`}
        ${other && html`<span class="lease-owner" style=${{ backgroundColor: other.color }}>${other.name}</span>`}
      </div>
      ${s.kind === "mjml"
        ? html`<pre class="source-preview">${s.content?.source ?? ""}</pre>`
        : html`<div class="columns">${(s.columns || []).map((c) => html`<${Column} key=${c.id} c=${c} s=${s} />`)}</div>`}
    </div>`;
}

function Column({ c, s }) {
  return html`
    <div class="column" data-column=${c.id} style=${{ flexBasis: c.style?.width }}>
      <${BlockList} into=${c.id} blocks=${c.blocks || []} s=${s} />
    </div>`;
}

function BlockList({ into, blocks, s }) {
  const ref = useSortable(BLOCK_LIST, !may(s, "content"));
  return html`<div class="blocks" ref=${ref} data-into=${into} data-section-of=${s.id}>
    ${blocks.map((b) => html`<${Block} key=${b.id} b=${b} s=${s} />`)}
  </div>`;
}

function Block({ b, s }) {
  const selected = S.selected === b.id;
  const editable = may(s, "content");
  const here = S.people.filter((p) => p.block === b.id && p.conn !== S.me.conn && !same(p.user, S.me.user));
  const open = S.comments.filter((c) => c.block === b.id && c.parent == null && !c.resolved).length;
  const label = KINDS[b.kind] ?? b.kind;
  return html`
    <div class=${`block block-${b.kind}${selected ? " selected" : ""}${here.length ? " present" : ""}`} data-block=${b.id} data-kind=${b.kind}
         tabindex="0" role="group" aria-label=${`${label} block`} style=${here.length ? { outlineColor: here[0].color } : undefined}
         title=${here.length ? `${here.map((p) => p.name).join(", ")} ${here.length > 1 ? "are" : "is"} here` : undefined}>
      <div class="block-bar">
        ${editable && html`<span class="handle block-handle" title="Drag to move the block" aria-hidden="true">⠿</span>`}
        <span class="block-kind">${label}</span>
        ${open > 0 && html`<span class="comment-count" title="Open comments">${open} comment${open > 1 ? "s" : ""}</span>`}
        ${selected && html`<span class="block-actions">
          <button type="button" class="link" data-action="comment" onClick=${() => startComment(b.id)}>Comment</button>
          ${editable && html`<button type="button" class="link" data-action="duplicate" onClick=${() => duplicate(b.id)}>Duplicate</button>
          <button type="button" class="link danger" data-action="delete" onClick=${() => remove(b.id)}>Delete block</button>`}
        </span>`}
      </div>
      <${BlockBody} b=${b} s=${s} editable=${editable} selected=${selected} />
    </div>`;
}

function BlockBody({ b, s, editable, selected }) {
  const c = b.content || {}, st = b.style || {};
  switch (b.kind) {
    case "text": return html`<${TextBody} b=${b} editable=${editable} selected=${selected} />`;
    // A templated source ({{var:…}}) is shown as text: it is no URL until the e-mail is sent.
    case "image": return c.src && !c.src.includes("{{")
      ? html`<img class="image-preview" src=${c.src} alt=${c.alt ?? ""} style=${{ width: st.width }} />`
      : html`<p class="placeholder">${c.src ? `Image: ${c.src}` : "No image yet: set its URL or upload one in Properties."}</p>`;
    case "button": return html`<p class="button-row" style=${{ textAlign: st.align }}><span class="button-preview" style=${{ backgroundColor: st["background-color"], color: st.color, borderRadius: st["border-radius"] }}>${c.text || "Button"}</span></p>`;
    case "divider": return html`<hr class="divider-preview" style=${{ borderColor: st["border-color"] }} />`;
    case "spacer": return html`<div class="spacer-preview" style=${{ height: st.height }}>${st.height || "spacer"}</div>`;
    case "social": {
      const links = CONTENT_FIELDS.social.filter((k) => c[k]);
      return html`<p class="social-preview">${links.length ? links.map((k) => LABELS[k]).join(" · ") : "No links yet"}</p>`;
    }
    case "raw": return html`<pre class="source-preview">${c.html ?? ""}</pre>`;
    case "mjml": return html`<pre class="source-preview">${c.source ?? ""}</pre>`;
    case "if":
    case "for": return html`
      <code class="logic-head">{% ${b.kind} ${c.expr ?? ""} %}</code>
      <${BlockList} into=${b.id} blocks=${b.children || []} s=${s} />
      <code class="logic-head">{% end${b.kind} %}</code>`;
  }
  return html`<p class="placeholder">${b.kind}</p>`;
}

// The page's CSP refuses style attributes in markup (Chrome even logs it for DOMParser), and
// the server keeps them on span, p and div (imported templates use them). So a text block's
// HTML goes in with every style attribute renamed, then each is applied through the CSSOM,
// one declaration at a time. The server serialises attributes double-quoted and escapes `<`
// in text, so a tag and its attributes are found by these expressions.
const TAG = /<[a-zA-Z][^\s/>]*(?:\s+[^\s"'>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*\s*\/?>/g;
const ATTR = /(\s+)([^\s"'>/=]+)(\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?/g;
const DECLARATION = /(?:[^;"'(]|"[^"]*"|'[^']*'|\([^)]*\))+/g;
function setHtml(el, value) {
  el.innerHTML = value.replace(TAG, (tag) => tag.replace(ATTR, (m, space, name, rest) => (name.toLowerCase() === "style" ? `${space}data-css${rest ?? ""}` : m)));
  for (const n of el.querySelectorAll("[data-css]")) {
    for (const d of n.getAttribute("data-css").match(DECLARATION) || []) {
      const at = d.indexOf(":");
      if (at < 0) continue;
      const v = d.slice(at + 1).trim();
      const important = /!\s*important$/i.test(v);
      n.style.setProperty(d.slice(0, at).trim(), important ? v.replace(/!\s*important$/i, "").trim() : v, important ? "important" : "");
    }
    n.removeAttribute("data-css");
  }
}

/** A text block: contenteditable whose HTML Preact never touches (it has no children in the
 * virtual DOM); the server's sanitised HTML is put in by hand, except into the block the
 * person is typing in, whose caret and text stay as they are. */
function TextBody({ b, editable, selected }) {
  const ref = useRef(null);
  const shown = useRef(null); // the value last put in (null once the person typed)
  const value = b.content?.html ?? "";
  useLayoutEffect(() => {
    const el = ref.current;
    const forced = S.forceHtml.delete(b.id);
    if (document.activeElement === el && !forced) return;
    // Left alone when it already holds this HTML (just typed and sent): the selection kept
    // for the toolbar stays valid.
    if (forced || (shown.current !== value && el.innerHTML !== value)) setHtml(el, value);
    shown.current = value;
  });
  return html`
    ${selected && editable && html`<${RichToolbar} block=${b.id} />`}
    <div class="text-body" ref=${ref} data-text=${b.id} contenteditable=${editable ? "true" : "false"} role="textbox"
         aria-multiline="true" aria-label="Text" style=${styleOf(b.style)}
         onInput=${() => { shown.current = null; typing(b.id); }} onBlur=${() => { flushTyping(); draw(); }}></div>`;
}

// The selection inside the text being edited, kept while a toolbar control has the focus.
let savedRange = null;
document.addEventListener("selectionchange", () => {
  const sel = getSelection();
  if (!sel.rangeCount) return;
  const r = sel.getRangeAt(0);
  const node = r.commonAncestorContainer;
  if ((node.nodeType === 1 ? node : node.parentElement)?.closest("[data-text]")) savedRange = r.cloneRange();
});
function restoreRange(blockId) {
  const el = textElement(blockId);
  if (!el) return null;
  el.focus();
  const sel = getSelection();
  sel.removeAllRanges();
  if (savedRange && el.contains(savedRange.commonAncestorContainer)) sel.addRange(savedRange);
  else { const r = document.createRange(); r.selectNodeContents(el); r.collapse(false); sel.addRange(r); }
  return el;
}

function RichToolbar({ block }) {
  const [link, setLink] = useState(null); // the address being typed, or null
  const run = (command, arg) => { if (restoreRange(block)) { document.execCommand(command, false, arg); typing(block); } };
  const button = (label, text, command) => html`<button type="button" aria-label=${label} title=${label} onClick=${() => run(command)}>${text}</button>`;
  const applyLink = (e) => {
    e.preventDefault();
    const url = link.trim();
    if (!/^(https?:\/\/|mailto:|\{\{)/i.test(url)) { note("error", "A link starts with http://, https://, mailto: or a {{variable}}."); return; }
    setLink(null);
    run("createLink", url);
  };
  return html`
    <div class="rt-toolbar" role="toolbar" aria-label="Text formatting"
         onMouseDown=${(e) => { if (!e.target.closest("input, select")) e.preventDefault(); /* keep the text's selection */ }}>
      ${button("Bold", html`<b>B</b>`, "bold")}${button("Italic", html`<i>I</i>`, "italic")}${button("Underline", html`<u>U</u>`, "underline")}
      <button type="button" aria-label="Link" title="Link" onClick=${() => setLink("https://")}>Link</button>
      ${button("Bulleted list", "• List", "insertUnorderedList")}
      <select aria-label="Insert variable" onChange=${(e) => { const v = e.target.value; e.target.value = ""; if (v) run("insertText", `{{${v}}}`); }}>
        <option value="">Insert variable…</option>
        ${VARS.map((v) => html`<option value=${v}>${v}</option>`)}
      </select>
      ${link !== null && html`<form class="rt-link" onSubmit=${applyLink}>
        <input aria-label="Link address" value=${link} onInput=${(e) => setLink(e.target.value)} />
        <button>Apply</button><button type="button" onClick=${() => setLink(null)}>Cancel</button>
      </form>`}
    </div>`;
}

// ---------------------------------------------------------------------------------------------
// The property panel

/** One property: what the person types stays theirs until they commit it (Enter, change,
 * blur), whatever arrives meanwhile; an empty value removes the property. */
function Field({ target, group, name, value, disabled, label, fid }) {
  // A ref, not only state: a change event can follow its input event before Preact redraws.
  const draft = useRef(null);
  const [, redraw] = useState(0);
  const shown = draft.current ?? value ?? "";
  const commit = (v = draft.current) => {
    draft.current = null;
    redraw((n) => n + 1);
    if (v === null) return;
    submit({ op: "set", target, group, key: name, value: v.trim() === "" ? null : v });
  };
  const props = {
    id: fid ?? `prop-${group}-${name}`, name, disabled, "data-group": group, "data-key": name,
    onInput: (e) => { draft.current = e.target.value; redraw((n) => n + 1); }, onChange: () => commit(), onBlur: () => commit(),
  };
  let input;
  if (name === "align") {
    input = html`<select ...${props} onInput=${undefined} onChange=${(e) => commit(e.target.value)} value=${shown}>
      ${["", "left", "center", "right"].map((a) => html`<option value=${a}>${a || "(default)"}</option>`)}</select>`;
  } else if (MULTILINE.has(name)) {
    input = html`<textarea ...${props} rows="8" spellcheck="false" value=${shown}></textarea>`;
  } else {
    input = html`<input ...${props} value=${shown} onKeyDown=${(e) => { if (e.key === "Enter") commit(); }} />`;
  }
  const swatch = /color$/.test(name) && html`<input type="color" class="swatch" aria-label=${`${name} picker`} disabled=${disabled}
    value=${/^#[0-9a-f]{6}$/i.test(shown) ? shown : "#000000"} onChange=${(e) => commit(e.target.value)} />`;
  return html`<label class="field">${label ?? LABELS[name] ?? name}<span class="field-input">${input}${swatch}</span></label>`;
}

function Group({ legend, group, target, keys, bag, disabled, locked, children }) {
  return html`
    <fieldset class="group" data-group=${group}>
      <legend>${legend}${locked ? " (locked)" : ""}</legend>
      ${keys.map((k) => html`<${Field} key=${`${target}/${group}/${k}`} target=${target} group=${group} name=${k} value=${bag?.[k]} disabled=${disabled}
        label=${k === "expr" && target && locate(view(), target)?.node.kind === "for" ? "Loop (item in var:list)" : undefined} />`)}
      ${children}
    </fieldset>`;
}

async function upload(blockId, file) {
  if (!file) return;
  if (!/^image\/(png|jpeg|gif|webp)$/.test(file.type)) return note("error", "An image is a PNG, JPEG, GIF or WebP file.");
  if (file.size > 5 * 1024 * 1024) return note("error", "An image is up to 5 MB.");
  try {
    // Not api(): it would send the file as application/octet-stream.
    const res = await fetch(`/app/templates/${id}/images`, {
      method: "POST", credentials: "same-origin", body: file,
      headers: { "X-CSRF-Token": meta("csrf"), "X-Facteur-Account": meta("account"), "Content-Type": file.type },
    });
    const text = await res.text();
    let data = null;
    try { data = text ? parseJson(text) : null; } catch { data = null; }
    if (!res.ok || !data?.url) throw new Error(data?.ErrorMessage || data?.error || `${res.status} ${res.statusText}`);
    submit({ op: "set", target: blockId, group: "content", key: "src", value: data.url });
  } catch (err) {
    note("error", `The image was not uploaded: ${err.message}`);
  }
}

function Properties() {
  const doc = view();
  const at = S.selected ? locate(doc, S.selected) : null;
  if (!at) {
    return html`<h2>E-mail</h2><p class="hint">Select a section or a block to see its properties.</p>
      <${Group} legend="Style" group="style" target="body" keys=${STYLE_FIELDS.body} bag=${doc.attributes} disabled=${!S.can.edit} />`;
  }
  const s = at.section;
  const other = heldByOther(s.id);
  const busy = other && html`<p class="hint lease-note">${other.name} is editing this section.</p>`;
  if (at.type === "section") {
    const columns = s.columns || [];
    const content = may(s, "content");
    return html`<h2>Section ${at.index + 1}</h2>${busy}
      ${s.kind === "mjml"
        ? html`<${Group} legend="Content" group="content" target=${s.id} keys=${["source"]} bag=${s.content} disabled=${!content} locked=${s.lock?.content} />`
        : html`<fieldset class="group" data-group="content"><legend>Columns${s.lock?.content ? " (locked)" : ""}</legend>
            ${columns.map((c, i) => html`<div class="column-row" key=${c.id} data-column-row=${c.id}>
              <${Field} target=${c.id} group="style" name="width" label=${`Column ${i + 1} width`} fid=${`prop-column-${i + 1}-width`} value=${c.style?.width} disabled=${!may(s, "style")} />
              ${columns.length > 1 && html`<button type="button" class="link danger" disabled=${!content} onClick=${() => (!c.blocks?.length || confirm("Delete this column and its blocks?")) && submit({ op: "delete_column", column: c.id })}>Remove column</button>`}
            </div>`)}
            ${columns.length < 4 && html`<button type="button" id="add-column" disabled=${!content}
              onClick=${() => submit({ op: "insert_column", section: s.id, index: columns.length, column: newColumn() })}>Add column</button>`}
          </fieldset>`}
      ${s.kind !== "mjml" && html`<${Group} legend="Style" group="style" target=${s.id} keys=${STYLE_FIELDS.section} bag=${s.style} disabled=${!may(s, "style")} locked=${s.lock?.style} />`}
      ${S.can.lock && html`<fieldset class="group locks"><legend>Locks</legend>
        <label class="check"><input type="checkbox" id="lock-style" checked=${!!s.lock?.style} disabled=${!S.can.edit || !!other}
          onChange=${(e) => submit({ op: "lock", section: s.id, style: e.target.checked, content: !!s.lock?.content })} /> Lock style</label>
        <label class="check"><input type="checkbox" id="lock-content" checked=${!!s.lock?.content} disabled=${!S.can.edit || !!other}
          onChange=${(e) => submit({ op: "lock", section: s.id, style: !!s.lock?.style, content: e.target.checked })} /> Lock content</label>
      </fieldset>`}
      ${S.can.edit && html`<div class="actions">
        <button type="button" id="duplicate-section" disabled=${!!other} onClick=${() => duplicate(s.id)}>Duplicate section</button>
        <button type="button" id="delete-section" class="danger" disabled=${!!other || s.lock?.style || s.lock?.content} onClick=${() => remove(s.id)}>Delete section</button>
      </div>`}`;
  }
  const b = at.node;
  const content = may(s, "content");
  return html`<h2>${KINDS[b.kind] ?? b.kind}</h2>${busy}
    ${CONTENT_FIELDS[b.kind] && html`<${Group} legend="Content" group="content" target=${b.id} keys=${CONTENT_FIELDS[b.kind]} bag=${b.content} disabled=${!content} locked=${s.lock?.content}>
      ${b.kind === "image" && html`<label class="upload">Upload an image
        <input type="file" id="image-upload" accept="image/png,image/jpeg,image/gif,image/webp" disabled=${!content}
          onChange=${(e) => { upload(b.id, e.target.files[0]); e.target.value = ""; }} /></label>`}
    <//>`}
    ${b.kind === "text" && html`<p class="hint">Type in the block; select words to format them.</p>`}
    ${STYLE_FIELDS[b.kind] && html`<${Group} legend="Style" group="style" target=${b.id} keys=${STYLE_FIELDS[b.kind]} bag=${b.style} disabled=${!may(s, "style")} locked=${s.lock?.style} />`}`;
}

// ---------------------------------------------------------------------------------------------
// Presence, messages

const initials = (name = "") => name.trim().split(/\s+/).slice(0, 2).map((w) => w[0] ?? "").join("").toUpperCase() || "?";

function Presence() {
  const people = new Map();
  for (const p of S.people) if (!people.has(String(p.user))) people.set(String(p.user), p);
  return [...people.values()].map((p) => html`<span class=${`avatar${same(p.user, S.me.user) ? " me" : ""}`} data-user=${p.user}
    title=${p.name} aria-label=${p.name} role="img" style=${{ backgroundColor: p.color }}>${initials(p.name)}</span>`);
}

function Messages() {
  return S.messages.map((m) => html`<p class=${m.kind} role=${m.kind === "error" ? "alert" : "status"} data-code=${m.code ?? undefined} key=${m.id}>
    ${m.text}${m.link && html` <a href=${m.link.href}>${m.link.text}</a>`}
    <button type="button" class="link dismiss" aria-label="Dismiss" onClick=${() => { S.messages = S.messages.filter((x) => x !== m); draw(); }}>×</button>
  </p>`);
}

// ---------------------------------------------------------------------------------------------
// Comments

async function loadComments() {
  try {
    const r = await api("GET", `/app/templates/${id}/comments`);
    S.comments = r?.comments || [];
    S.commentsError = "";
  } catch (err) {
    S.commentsError = `Comments could not be loaded: ${err.message}`;
  }
  draw();
}

/** A comment call; the list is fetched again after it. Resolves to whether it worked. */
async function commentCall(method, path, body) {
  try {
    await api(method, path, body);
    await loadComments();
    return true;
  } catch (err) {
    note("error", err.message);
    return false;
  }
}

function startComment(blockId) {
  S.composing = blockId;
  S.tab = "open";
  draw();
}

function fmtTime(t) {
  const d = new Date(typeof t === "number" || /^\d+$/.test(String(t)) ? Number(t) : t);
  return Number.isNaN(d.getTime()) ? "" : d.toISOString().slice(0, 16).replace("T", " ");
}

/** "Text block: Hello Ana…": a block named by its kind and the start of its text. */
function blockName(doc, blockId) {
  const b = locate(doc, blockId)?.node;
  if (!b) return "A deleted block";
  let text = b.content?.text ?? b.content?.expr ?? "";
  if (b.kind === "text") {
    const entities = { amp: "&", lt: "<", gt: ">", quot: '"', nbsp: " ", "#39": "'" };
    text = (b.content?.html ?? "").replace(/<[^>]*>/g, " ").replace(/&(amp|lt|gt|quot|nbsp|#39);/g, (m, e) => entities[e]);
  }
  text = text.trim().replace(/\s+/g, " ");
  return `${KINDS[b.kind] ?? b.kind} block${text ? `: ${text.length > 40 ? `${text.slice(0, 40)}…` : text}` : ""}`;
}

function Compose({ label, submitLabel, initial = "", onSend, onCancel }) {
  const [text, setText] = useState(initial);
  const [busy, setBusy] = useState(false);
  const ref = useRef(null);
  useEffect(() => ref.current?.focus(), []);
  const send = async (e) => {
    e.preventDefault();
    if (!text.trim() || busy) return;
    setBusy(true);
    const ok = await onSend(text.trim());
    setBusy(false);
    if (ok) { setText(""); onCancel?.(); }
  };
  return html`<form class="compose" onSubmit=${send}>
    <textarea ref=${ref} aria-label=${label} rows="3" value=${text} placeholder="Write a comment; @name or @e-mail mentions someone"
      onInput=${(e) => setText(e.target.value)} onKeyDown=${(e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) send(e); }}></textarea>
    <div class="actions"><button class="primary" disabled=${busy}>${submitLabel}</button>${onCancel && html`<button type="button" onClick=${onCancel}>Cancel</button>`}</div>
  </form>`;
}

/** One comment: author, time, body (as text), and its actions. */
function CommentItem({ c, actions }) {
  const [editing, setEditing] = useState(false);
  return html`<div class="comment">
    <header><strong class="author">${c.author?.name ?? ""}</strong> <time>${fmtTime(c.created_at)}</time>${c.edited_at && html` <small>(edited)</small>`}</header>
    ${editing
      ? html`<${Compose} label="Edit comment" submitLabel="Save" initial=${c.body} onCancel=${() => setEditing(false)}
          onSend=${(body) => commentCall("PATCH", `/app/comments/${c.id}`, { body })} />`
      : html`<p class="body">${c.body}</p>`}
    <div class="comment-actions">
      ${actions}
      ${c.mine && !editing && html`<button type="button" class="link" onClick=${() => setEditing(true)}>Edit</button>
        <button type="button" class="link danger" onClick=${() => confirm("Delete this comment?") && commentCall("DELETE", `/app/comments/${c.id}`)}>Delete</button>`}
    </div>
  </div>`;
}

function Thread({ c, replies }) {
  const [replying, setReplying] = useState(false);
  const actions = c.resolved
    ? html`<button type="button" class="link" onClick=${() => commentCall("POST", `/app/comments/${c.id}/reopen`)}>Reopen</button>`
    : html`<button type="button" class="link" onClick=${() => setReplying(true)}>Reply</button>
      <button type="button" class="link" onClick=${() => commentCall("POST", `/app/comments/${c.id}/resolve`)}>Resolve</button>`;
  return html`<article class=${`thread${c.block === S.selected ? " highlight" : ""}`} data-comment=${c.id} data-for-block=${c.block}>
    <${CommentItem} c=${c} actions=${actions} />
    ${replies.length > 0 && html`<ol class="replies">${replies.map((r) => html`<li class="reply" key=${r.id} data-comment=${r.id}><${CommentItem} c=${r} /></li>`)}</ol>`}
    ${replying && html`<${Compose} label="Reply" submitLabel="Send" onCancel=${() => setReplying(false)}
      onSend=${(body) => commentCall("POST", `/app/templates/${id}/comments`, { block: c.block, body, parent: c.id })} />`}
  </article>`;
}

function Comments() {
  const doc = view();
  const order = new Map();
  const walk = (list) => { for (const b of list) { order.set(b.id, order.size); walk(b.children || []); } };
  for (const s of doc.sections) for (const c of s.columns || []) walk(c.blocks || []);
  const replies = new Map();
  for (const c of S.comments) if (c.parent != null) replies.set(String(c.parent), [...(replies.get(String(c.parent)) || []), c]);
  // Threads of the tab, grouped by block, in the order of the blocks in the document.
  const groups = new Map();
  for (const c of S.comments) {
    if (c.parent != null || !!c.resolved !== (S.tab === "resolved")) continue;
    groups.set(c.block, [...(groups.get(c.block) || []), c]);
  }
  const sorted = [...groups].sort(([a], [b]) => (order.get(a) ?? 1e9) - (order.get(b) ?? 1e9));
  const tab = (name, label) => html`<button type="button" role="tab" id=${`comments-${name}`} aria-selected=${S.tab === name}
    onClick=${() => { S.tab = name; draw(); }}>${label}</button>`;
  return html`
    <h2>Comments</h2>
    <div class="tabs" role="tablist" aria-label="Comment threads">${tab("open", "Open")}${tab("resolved", "Resolved")}</div>
    ${S.commentsError && html`<p class="error">${S.commentsError}</p>`}
    ${S.composing && html`<div class="new-comment" id="new-comment">
      <p class="hint">New comment on ${blockName(doc, S.composing)}</p>
      <${Compose} key=${S.composing} label="New comment" submitLabel="Post" onCancel=${() => { S.composing = null; draw(); }}
        onSend=${(body) => commentCall("POST", `/app/templates/${id}/comments`, { block: S.composing, body, parent: null })} />
    </div>`}
    ${sorted.length === 0 && html`<p class="empty">${S.tab === "open" ? "No open comments. Select a block and press Comment." : "No resolved comments."}</p>`}
    ${sorted.map(([block, threads]) => html`<div class=${`comment-group${block === S.selected ? " highlight" : ""}`} data-comments-for=${block} key=${block}>
      <h3><button type="button" class="link" onClick=${() => order.has(block) && select(block, { focus: true })}>${blockName(doc, block)}</button></h3>
      ${threads.map((t) => html`<${Thread} key=${t.id} c=${t} replies=${replies.get(String(t.id)) || []} />`)}
    </div>`)}`;
}

// ---------------------------------------------------------------------------------------------
// The page around the canvas

const canvas = $("canvas");
canvas.addEventListener("focusin", (e) => {
  const col = e.target.closest("[data-column]");
  if (col) S.column = col.dataset.column;
  const el = e.target.closest("[data-block], [data-section]");
  const nodeId = el && (el.dataset.block ?? el.dataset.section);
  if (nodeId && nodeId !== S.selected) select(nodeId);
});
canvas.addEventListener("click", (e) => {
  if (!e.target.closest("[data-section]")) select(null);
});

const palette = $("palette");
if (palette) {
  Sortable.create(palette, {
    ...common, group: { name: "blocks", pull: "clone", put: false }, sort: false, draggable: ".palette-item",
    onEnd(evt) {
      const to = evt.to, index = evt.newDraggableIndex;
      dragEnd(evt);
      if (to !== palette && to.dataset.into) addBlock(evt.item.dataset.kind, { into: to.dataset.into, index });
    },
  });
  palette.addEventListener("click", (e) => {
    const item = e.target.closest("[data-kind]");
    if (item) addBlock(item.dataset.kind);
  });
}
for (const b of document.querySelectorAll("[data-add-section]")) b.addEventListener("click", () => addSection(Number(b.dataset.addSection)));

$("undo").addEventListener("click", () => undo());
$("redo").addEventListener("click", () => redo());

document.addEventListener("keydown", (e) => {
  const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  const field = e.target.closest?.("input, textarea, select");
  const text = e.target.closest?.("[contenteditable=true]");
  if ((e.ctrlKey || e.metaKey) && !e.altKey && (key === "z" || key === "y")) {
    if (field) return; // a form field's own undo
    e.preventDefault();
    if (key === "y" || e.shiftKey) redo(); else undo();
    return;
  }
  if (text && e.key === "Escape") { text.closest("[data-block]")?.focus(); return; }
  if (field || text || e.ctrlKey || e.metaKey) return;
  const el = e.target.closest?.("[data-block], [data-section]");
  if (e.key === "Enter" && el && e.target === el) {
    e.preventDefault();
    select(el.dataset.block ?? el.dataset.section);
    if (el.dataset.kind === "text") restoreRange(el.dataset.block);
  } else if (e.key === "Escape" && S.selected) {
    select(null);
  } else if ((e.key === "Delete" || e.key === "Backspace") && S.selected && S.can.edit) {
    e.preventDefault();
    remove(S.selected);
  } else if (e.altKey && (e.key === "ArrowUp" || e.key === "ArrowDown") && S.selected && S.can.edit) {
    e.preventDefault();
    moveBy(e.key === "ArrowUp" ? -1 : 1);
  }
});

// The preview: the server's rendering of what it has, reloaded 400 ms after the last change.
let previewTimer = 0;
function schedulePreview() {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(() => { const f = $("preview"); f.src = f.getAttribute("src"); }, 400);
}
for (const b of document.querySelectorAll("[data-view]")) {
  b.addEventListener("click", () => {
    for (const x of document.querySelectorAll("[data-view]")) x.setAttribute("aria-pressed", String(x === b));
    $("preview").className = b.dataset.view;
    $("preview-width").textContent = b.dataset.view === "mobile" ? "375 px" : "600 px";
  });
}

/** Waits until the server has every change (publishing or leaving right after typing). */
async function settle() {
  flushTyping();
  const until = Date.now() + 8000;
  while (S.pending.length && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  if (!S.pending.length) return true;
  note("error", "Some changes are not saved yet (is the connection down?): try again in a moment.");
  return false;
}

$("publish")?.addEventListener("click", async () => {
  if (!(await settle())) return;
  try {
    const r = await api("POST", `/v3/REST/template/${id}/publish`, {});
    $("status").textContent = "published";
    note("notice", `Published as version ${r?.Published ?? r?.Number ?? ""}.`.replace(" .", "."));
  } catch (err) {
    note("error", err.message + (err.info ? ` (${err.info})` : ""));
  }
});

$("request-form")?.addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!(await settle())) return;
  const message = $("request-message");
  try {
    const r = await api("POST", `/app/templates/${id}/requests`, { message: message.value.trim() });
    message.value = "";
    requestSentAt = Date.now();
    note("notice", "Publish request sent.", null, r?.id != null ? { href: `/app/requests/${r.id}`, text: "See the request" } : null);
  } catch (err) {
    note("error", err.message);
  }
});

$("send-test")?.addEventListener("click", async () => {
  if (!(await settle())) return;
  try {
    const r = await api("POST", `/v3/REST/template/${id}/test`, { To: root.dataset.meEmail, Version: "draft" });
    note("notice", `Test queued for ${root.dataset.meEmail} (message ${r?.MessageID ?? ""}).`);
  } catch (err) {
    note("error", err.message);
  }
});

// Switching to the code editor waits for the last changes to reach the server.
$("code-mode").addEventListener("submit", async (e) => {
  if (!S.pending.length && !typingBlock) return;
  e.preventDefault();
  if (await settle()) e.target.submit();
});

window.addEventListener("beforeunload", (e) => { flushTyping(); if (S.pending.length) e.preventDefault(); });
window.addEventListener("pagehide", release);
// A page in the background gives its section back, and asks for it again when it returns.
document.addEventListener("visibilitychange", () => {
  if (!S.held) return;
  if (document.hidden) transmit({ t: "release", section: S.held });
  else if (!heldByOther(S.held)) transmit({ t: "take", section: S.held });
});
setInterval(() => transmit({ t: "heartbeat" }), 10000);

draw();
connect();
loadComments();
