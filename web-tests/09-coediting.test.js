// The block editor with two people at once (two browser contexts): A takes a section, B sees
// it locked with A's name and cannot type in it; A's typing appears in B's canvas; A leaves
// and B takes it; a block dragged between columns; a comment thread through reply, resolve,
// the Resolved tab and reopen; a Marketer's publish request approved by a Manager; a locked
// section refused over the API. FACTEUR_URL2, when set, is a second node on the same
// PostgreSQL: then B works there.
import { after, before, test } from "node:test";
import { api, assert, Browser, env, makeTemplate, person, signIn } from "./helpers.js";

const browser = new Browser("coediting");

// Two sections; the second has two columns (ids as the import makes them: s1 c2 b3, s4 c5 b6 c7 b8).
const TWO_SECTIONS = `<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text>Hello {{var:name:"there"}}</mj-text>
      </mj-column>
    </mj-section>
    <mj-section>
      <mj-column>
        <mj-text>Left column</mj-text>
      </mj-column>
      <mj-column>
        <mj-button href="https://example.com/buy">Buy now</mj-button>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
`;

let id;
before(async () => {
  await browser.start();
  id = await makeTemplate("Co-editing", { mjml: TWO_SECTIONS });
});
after(() => browser.stop());

const base = () => env("FACTEUR_URL");
const baseB = () => process.env.FACTEUR_URL2 || env("FACTEUR_URL");

/** Opens the template's visual editor; waits for the document. */
async function open(page, url) {
  await page.goto(`${url}/app/templates/${id}`);
  await page.locator('[data-section="s1"]').waitFor();
  await page.locator("#connection").waitFor({ state: "hidden" });
}

test("two people edit one template together", () =>
  browser.run("together", async (a) => {
    const b = await browser.session("together-b");
    try {
      const dev = person("developer");
      const marketer = person("marketer");
      await signIn(a.page, base(), dev);
      await signIn(b.page, baseB(), marketer);

      // The developer switches the template to the visual editor: the MJML imports into blocks.
      await a.page.goto(`${base()}/app/templates/${id}`);
      await Promise.all([a.page.waitForURL(`**/app/templates/${id}`), a.page.click("#visual-editor")]);
      await open(a.page, base());
      assert.equal(await a.page.locator("[data-block]").count(), 3);
      await open(b.page, baseB());
      // Both see each other.
      await a.page.locator(`#presence .avatar[title*="${marketer.name}"]`).waitFor();
      await b.page.locator(`#presence .avatar[title*="${dev.name}"]`).waitFor();
      await a.shot("both here");

      // A takes section 1 by clicking into its text: B sees it locked with A's name.
      const textA = a.page.locator('[data-text="b3"]');
      await textA.click();
      const s1B = b.page.locator('[data-section="s1"]');
      await b.page.locator('[data-section="s1"].leased').waitFor();
      assert.match(await s1B.locator(".lease-owner").innerText(), new RegExp(dev.name));
      assert.equal(await b.page.locator('[data-text="b3"]').getAttribute("contenteditable"), "false");
      await b.shot("section locked for B");

      // A types; B sees it.
      await textA.press("End");
      await textA.pressSequentially(" and welcome");
      await b.page.locator('[data-text="b3"]').filter({ hasText: "and welcome" }).waitFor();
      await a.page.locator("#save-state").filter({ hasText: "Saved" }).waitFor();

      // B's edit of A's section through the same connection would be refused by the server:
      // the lease is checked there, not only in the page.
      // A leaves the section (Escape: out of the text, then nothing selected): B can take it.
      await textA.press("Escape");
      await a.page.keyboard.press("Escape");
      await b.page.locator('[data-section="s1"]:not(.leased)').waitFor();
      const textB = b.page.locator('[data-text="b3"]');
      await textB.click();
      await a.page.locator('[data-section="s1"].leased').waitFor();
      await textB.press("End");
      await textB.pressSequentially("!");
      await a.page.locator('[data-text="b3"]').filter({ hasText: "welcome!" }).waitFor();
      await textB.press("Escape");
      await b.page.keyboard.press("Escape");
      await a.page.locator('[data-section="s1"]:not(.leased)').waitFor();

      // A drags the button from the right column to the left one, under the text.
      const handle = a.page.locator('[data-block="b8"] .block-handle');
      await a.page.locator('[data-block="b8"]').click();
      const from = await handle.boundingBox();
      const under = await a.page.locator('[data-block="b6"]').boundingBox();
      await a.page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
      await a.page.mouse.down();
      await a.page.mouse.move(under.x + 30, under.y + under.height * 0.6, { steps: 15 });
      await a.page.mouse.move(under.x + 30, under.y + under.height * 0.9, { steps: 5 });
      await a.page.mouse.up();
      await b.page.locator('[data-into="c5"] [data-block="b8"]').waitFor();
      const doc = await api("GET", `/v3/REST/template/${id}/blocks`);
      const columns = doc.Document.sections[1].columns;
      assert.deepEqual(columns[0].blocks.map((x) => x.id).sort(), ["b6", "b8"]);
      assert.deepEqual(columns[1].blocks, []);
      await b.shot("dragged");

      // The draft is the document compiled: text and link as both people made them.
      await a.page.locator("#save-state").filter({ hasText: "Saved" }).waitFor();
      let content;
      for (let i = 0; i < 50; i += 1) {
        content = (await api("GET", `/v3/REST/template/${id}/detailcontent`)).Data[0];
        if (content["Html-part"].includes("welcome!")) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(content["Html-part"], /and welcome!/);
      assert.match(content["Html-part"], /https:\/\/example\.com\/buy/);
      assert.match(content.MJMLContent, /<mj-button href="https:\/\/example\.com\/buy"/);

      // Comments: B comments on the button, A replies, B resolves, the thread moves to the
      // Resolved tab; A reopens it.
      await b.page.locator('[data-block="b8"]').click();
      await b.page.locator('[data-block="b8"] [data-action="comment"]').click();
      await b.page.getByLabel("New comment").fill(`@${dev.name} is this link right?`);
      await b.page.getByRole("button", { name: "Post", exact: true }).click();
      const threadA = a.page.locator('article.thread[data-for-block="b8"]');
      await threadA.filter({ hasText: "is this link right?" }).waitFor();
      await threadA.getByRole("button", { name: "Reply" }).click();
      await a.page.getByLabel("Reply").fill("Yes, checked.");
      await a.page.getByRole("button", { name: "Send", exact: true }).click();
      const threadB = b.page.locator('article.thread[data-for-block="b8"]');
      await threadB.filter({ hasText: "Yes, checked." }).waitFor();
      await threadB.getByRole("button", { name: "Resolve" }).first().click();
      await a.page.locator('article.thread[data-for-block="b8"]').waitFor({ state: "detached" });
      await a.page.locator("#comments-resolved").click();
      const resolved = a.page.locator('article.thread[data-for-block="b8"]');
      await resolved.filter({ hasText: "Yes, checked." }).waitFor();
      await a.shot("resolved tab");
      await resolved.getByRole("button", { name: "Reopen" }).click();
      await a.page.locator("#comments-open").click();
      await a.page.locator('article.thread[data-for-block="b8"]').waitFor();
      await b.page.locator('article.thread[data-for-block="b8"]').waitFor();
      // The mention reached the developer in the app.
      await a.page.goto(`${base()}/app/notifications`);
      await a.page.locator("#notifications li").filter({ hasText: "mentioned you" }).first().waitFor();

      // The Marketer may edit but not publish: she asks; a Manager approves.
      assert.equal(await b.page.locator("#publish").count(), 0);
      await b.page.fill("#request-message", "New welcome line and the buy button moved");
      await b.page.click("#request-submit");
      await b.page.locator("#messages .notice").filter({ hasText: "Publish request sent" }).waitFor();
      b.assertClean();
    } finally {
      await b.context.close();
    }
  }));

test("a manager approves the marketer's publish request", () =>
  browser.run("approve", async (s) => {
    const page = s.page;
    await signIn(page, base(), person("manager"));
    await page.goto(`${base()}/app/notifications`);
    const item = page.locator("#notifications li").filter({ hasText: "asks to publish" }).first();
    await item.waitFor();
    await Promise.all([page.waitForURL("**/app/requests/*"), item.locator("a").first().click()]);
    assert.match(await page.locator("#request-message").innerText(), /buy button moved/);
    // The code diff shows what changed against the published version (none yet: all added).
    assert.ok((await page.locator("#diff tr.add").count()) > 0);
    await page.frameLocator("#frame-requested").locator("body").filter({ hasText: "and welcome!" }).waitFor();
    await s.shot("request");
    await Promise.all([page.waitForURL("**/app/requests/*"), page.click("#approve")]);
    await page.locator("#request-status").filter({ hasText: /approved/ }).waitFor();
    const published = await api("GET", `/v3/REST/template/${id}/detailcontent`);
    assert.match(published.Data[0]["Html-part"], /and welcome!/);
    const versions = await api("GET", `/v3/REST/template/${id}/versions`).catch(() => null);
    if (versions) assert.ok(JSON.stringify(versions).includes("approved"));
  }));

test("a locked section is refused over the API", async () => {
  const op = (o) => fetch(`${env("FACTEUR_URL")}/v3/REST/template/${id}/operations`, {
    method: "POST",
    headers: {
      Authorization: `Basic ${Buffer.from(`${env("FACTEUR_API_KEY")}:${env("FACTEUR_API_SECRET")}`).toString("base64")}`,
      "Content-Type": "application/json",
    },
    body: JSON.stringify(o),
  });
  let res = await op({ op: "lock", section: "s1", style: true, content: true });
  assert.equal(res.status, 200, await res.text());
  res = await op({ op: "set", target: "b3", group: "content", key: "html", value: "<p>Off brand</p>" });
  assert.equal(res.status, 423);
  const body = await res.json();
  assert.match(body.ErrorMessage, /locked/);
  res = await op({ op: "set", target: "b3", group: "style", key: "color", value: "#f00" });
  assert.equal(res.status, 423);
  res = await op({ op: "delete_section", section: "s1" });
  assert.equal(res.status, 423);
  // Lifted, the same change goes through.
  res = await op({ op: "lock", section: "s1", style: false, content: false });
  assert.equal(res.status, 200);
  res = await op({ op: "set", target: "b3", group: "style", key: "color", value: "#333333" });
  assert.equal(res.status, 200);
});

/** Visible text (tags out, entities decoded, spaces collapsed) and the set of link targets. */
function readable(html) {
  const body = html.replace(/<head[\s\S]*?<\/head>/i, "").replace(/<style[\s\S]*?<\/style>/gi, "")
    .replace(/<!--[\s\S]*?-->/g, "");
  const text = body.replace(/<[^>]+>/g, " ")
    .replace(/&nbsp;/g, " ").replace(/&amp;/g, "&").replace(/&quot;/g, "\"").replace(/&#39;/g, "'")
    .replace(/&lt;/g, "<").replace(/&gt;/g, ">")
    .replace(/\s+/g, " ").trim();
  const links = [...new Set([...body.matchAll(/href="([^"]*)"/g)].map((m) => m[1].replace(/&amp;/g, "&")))].sort();
  return { text, links };
}

test("a template built in the editor renders the same text and links in node mjml", async (t) => {
  const { existsSync } = await import("node:fs");
  const { createRequire } = await import("node:module");
  const pkg = new URL("../tools/mjml-node/package.json", import.meta.url);
  if (!existsSync(new URL("../tools/mjml-node/node_modules/mjml/package.json", import.meta.url))) {
    if (process.env.CI) assert.fail("node mjml is missing: .ci/run runs npm ci in tools/mjml-node");
    t.skip("node mjml is not installed (cd tools/mjml-node && npm ci)");
    return;
  }
  const mjml2html = createRequire(pkg)("mjml");
  // Every kind of block, added as the editor adds them.
  const add = (index, block) => api("POST", `/v3/REST/template/${id}/operations`,
    { op: "insert_block", into: "c2", index, block: { style: {}, children: [], ...block } });
  await add(1, { id: "img1", kind: "image", content: { src: "https://example.com/logo.png", alt: "Logo", href: "https://example.com/" } });
  await add(2, { id: "div1", kind: "divider", content: {} });
  await add(3, { id: "soc1", kind: "social", content: { facebook: "https://facebook.com/acme", x: "https://x.com/acme", youtube: "https://youtube.com/@acme" } });
  await add(4, { id: "if1", kind: "if", content: { expr: "var:vip" }, children: [
    { id: "vip1", kind: "text", content: { html: "<p>Thanks for being a <a href=\"https://example.com/vip\">VIP</a></p>" }, style: {}, children: [] },
  ] });
  await add(5, { id: "sp1", kind: "spacer", content: {}, style: { height: "30px" } });
  await add(6, { id: "raw1", kind: "raw", content: { html: "<p>Raw <b>HTML</b> footer</p>" } });
  const { MJML } = await api("GET", `/v3/REST/template/${id}/blocks`);
  const node = await mjml2html(MJML, { validationLevel: "soft" });
  // Facteur's compile of the same document is the draft (saved 300 ms after the last change).
  let ours;
  for (let i = 0; i < 50; i += 1) {
    const c = (await api("GET", `/v3/REST/template/${id}/detailcontent`)).Data[0];
    if (c.MJMLContent === MJML) { ours = c["Html-part"]; break; }
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(ours, "the draft is the document compiled");
  const a = readable(ours);
  const b = readable(node.html);
  assert.equal(a.text, b.text);
  assert.deepEqual(a.links, b.links);
  for (const want of ["Thanks for being a VIP", "Raw HTML footer", "Buy now", "and welcome!"]) {
    assert.ok(a.text.includes(want), `${want} in ${a.text}`);
  }
  for (const link of ["https://example.com/buy", "https://example.com/vip", "https://facebook.com/acme", "https://x.com/acme"]) {
    assert.ok(a.links.includes(link), `${link} in ${a.links}`);
  }
});
