// The template gallery as a Manager: create from a starter and blank MJML (the dialog),
// thumbnails (sandboxed frames whose documents are served), star and unstar (kept after a
// reload), search, sort by name, the starred filter, duplicate, delete (confirmed), versions
// (listed, copied to a new template, restored as the draft).
import { after, before, test } from "node:test";
import { api, assert, Browser, env, makeTemplate, person, signIn } from "./helpers.js";

const browser = new Browser("gallery");
before(() => browser.start());
after(() => browser.stop());

const base = () => env("FACTEUR_URL");
const card = (page, name) => page.locator(`li.card[data-name="${name}"]`);
const names = (page) => page.locator("#gallery li.card").evaluateAll((cards) => cards.map((c) => c.dataset.name));

/** The gallery with these query parameters. */
async function gallery(page, query = {}) {
  const res = await page.goto(`${base()}/app/templates?${new URLSearchParams(query)}`);
  assert.equal(res.status(), 200);
}

/** Creates a template with the "New template" dialog; its id (from the editor's URL). */
async function create(s, name, from) {
  const page = s.page;
  await gallery(page);
  await page.click("#new-template");
  const dialog = page.locator("#create-dialog");
  await dialog.waitFor();
  await dialog.locator('input[name="name"]').fill(name);
  await dialog.locator(`input[name="from"][value="${from}"]`).check();
  await s.shot(`create-dialog-${from}`);
  await Promise.all([page.waitForURL(/\/app\/templates\/\d+$/), page.click("#create-submit")]);
  await page.locator("#preview-desktop").waitFor();
  return new URL(page.url()).pathname.split("/").pop();
}

test("the gallery creates, stars, finds, sorts, filters, duplicates, deletes and lists versions", () =>
  browser.run("gallery", async (s) => {
    const page = s.page;
    await signIn(page, base(), person("manager"));

    // From a starter, then a blank MJML template: each opens in the editor.
    const travel = await create(s, "Gal Travel", "starter:travel");
    assert.match(await page.inputValue("#source"), /^<mjml/);
    assert.equal((await page.locator("h1").textContent()).replace(/\s+/g, " ").trim(), "Templates / Gal Travel published", "a starter comes published");
    await s.shot("starter-in-editor");
    const blank = await create(s, "Gal Blank", "blank-mjml");
    assert.match(await page.inputValue("#source"), /<mj-text>Hello \{\{var:name:"there"\}\}<\/mj-text>/);
    await page.frameLocator("#preview-desktop").locator("body").filter({ hasText: "Hello there" }).waitFor();
    assert.notEqual(travel, blank);

    // Thumbnails: sandboxed frames of their own URL, served as a sandboxed document.
    const thumbnails = [];
    page.on("response", (r) => {
      if (/\/app\/templates\/\d+\/thumbnail/.test(r.url())) thumbnails.push(r);
    });
    await gallery(page, { q: "Gal" });
    assert.deepEqual((await names(page)).sort(), ["Gal Blank", "Gal Travel"]);
    for (const name of ["Gal Blank", "Gal Travel"]) {
      const frame = card(page, name).locator("iframe");
      assert.equal(await frame.getAttribute("sandbox"), "", `${name}: sandboxed, no permission`);
      assert.match(await frame.getAttribute("src"), /^\/app\/templates\/\d+\/thumbnail\?v=\d+$/);
    }
    await page.frameLocator('li.card[data-name="Gal Blank"] iframe').locator("body").filter({ hasText: "Hello there" }).waitFor();
    await page.frameLocator('li.card[data-name="Gal Travel"] iframe').locator("body").filter({ hasText: /\S/ }).waitFor();
    assert.ok(thumbnails.length >= 2, "the thumbnails were asked for");
    for (const r of thumbnails) {
      assert.ok([200, 304].includes(r.status()), `${r.url()}: ${r.status()}`);
      assert.match((await r.allHeaders())["content-security-policy"] ?? "", /^sandbox/);
    }
    await s.shot("gallery-with-thumbnails");

    // Star, unstar: kept across reloads.
    const star = () => card(page, "Gal Blank").locator("button.star");
    for (const on of ["true", "false", "true"]) {
      await star().click();
      await page.waitForFunction(
        ([sel, v]) => document.querySelector(sel)?.getAttribute("aria-pressed") === v,
        ['li.card[data-name="Gal Blank"] button.star', on],
      );
      await page.reload();
      assert.equal(await star().getAttribute("aria-pressed"), on, `starred=${on} after a reload`);
      assert.equal(await star().evaluate((b) => b.classList.contains("on")), on === "true");
    }
    await s.shot("starred");

    // Search by name, with the form.
    await page.fill('input[name="q"]', "gal b");
    await Promise.all([page.waitForURL(/q=gal\+b/), page.getByRole("button", { name: "Apply" }).click()]);
    assert.deepEqual(await names(page), ["Gal Blank"]);
    await s.shot("search");

    // Sort by name: the newest template is first by default, last by name.
    await makeTemplate("Gal Zulu");
    await gallery(page, { q: "Gal" });
    assert.equal((await names(page))[0], "Gal Zulu", "last edited first by default");
    await page.selectOption('select[name="sort"]', "name");
    await Promise.all([page.waitForURL(/sort=name/), page.getByRole("button", { name: "Apply" }).click()]);
    assert.deepEqual(await names(page), ["Gal Blank", "Gal Travel", "Gal Zulu"]);
    await s.shot("sorted-by-name");

    // The starred filter.
    await page.check('input[name="starred"]');
    await Promise.all([page.waitForURL(/starred=1/), page.getByRole("button", { name: "Apply" }).click()]);
    assert.deepEqual(await names(page), ["Gal Blank"]);
    await s.shot("starred-only");

    // Duplicate: the copy opens in the editor.
    await gallery(page, { q: "Gal Travel" });
    await Promise.all([
      page.waitForURL((u) => /^\/app\/templates\/\d+$/.test(u.pathname) && !u.pathname.endsWith(`/${travel}`)),
      card(page, "Gal Travel").getByRole("button", { name: "Duplicate" }).click(),
    ]);
    await page.getByRole("heading", { name: /Gal Travel \(copy\)/ }).waitFor();
    await s.shot("duplicate-in-editor");
    await gallery(page, { q: "Gal Travel", sort: "name" });
    assert.deepEqual(await names(page), ["Gal Travel", "Gal Travel (copy)"]);

    // Delete, after the confirmation.
    await card(page, "Gal Travel (copy)").getByRole("button", { name: "Delete" }).click();
    await card(page, "Gal Travel (copy)").waitFor({ state: "detached" });
    assert.match(s.confirms.at(-1), /^Delete "Gal Travel \(copy\)" and all its versions\?/);
    await page.reload();
    assert.deepEqual(await names(page), ["Gal Travel"]);
    await s.shot("deleted");

    // Versions: published v1 and a newer draft.
    await api("POST", `/v3/REST/template/${blank}/publish`, {});
    await api("PUT", `/v3/REST/template/${blank}/draft`, { Headers: { Subject: "A newer subject" } });
    await gallery(page, { q: "Gal Blank" });
    await card(page, "Gal Blank").getByRole("button", { name: "Versions" }).click();
    const dialog = page.locator("#versions-dialog");
    await dialog.waitFor();
    assert.equal(await dialog.locator("[data-name]").textContent(), "Gal Blank");
    const rows = dialog.locator("tbody tr");
    assert.ok((await rows.count()) >= 2, `versions: ${await rows.allTextContents()}`);
    const numbers = await rows.locator("td:first-child").allTextContents();
    for (const n of numbers) assert.match(n, /^v\d+$/);
    await s.shot("versions");
    await dialog.getByRole("button", { name: "Close" }).click();
    await dialog.waitFor({ state: "hidden" });

    // A version as a new template, then restored as the draft of its own.
    const v1 = () => page.locator("#versions-dialog tbody tr").filter({ has: page.locator("td:first-child", { hasText: /^v1$/ }) });
    await card(page, "Gal Blank").getByRole("button", { name: "Versions" }).click();
    await Promise.all([
      page.waitForURL((u) => /^\/app\/templates\/\d+$/.test(u.pathname) && !u.pathname.endsWith(`/${blank}`)),
      v1().getByRole("button", { name: "New template from it" }).click(),
    ]);
    await page.getByRole("heading", { name: /Gal Blank \(v1\)/ }).waitFor();
    assert.equal(await page.inputValue("#subject"), "", "v1 had no subject");
    assert.match(await page.inputValue("#source"), /<mj-text>Hello/);
    await s.shot("new-template-from-v1");
    await gallery(page, { q: "Gal Blank" });
    await card(page, "Gal Blank").getByRole("button", { name: "Versions" }).click();
    await Promise.all([page.waitForURL(`${base()}/app/templates/${blank}`), v1().getByRole("button", { name: "Restore as draft" }).click()]);
    assert.equal(await page.textContent("#status"), "draft");
    assert.equal(await page.inputValue("#subject"), "", "the draft is v1 again");
    await s.shot("v1-restored");
  }));
