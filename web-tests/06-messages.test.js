// The message log as a Marketer: a test sent from the editor is listed; a search by recipient
// narrows the list; the message's page shows its timeline (queued, then sent: the team
// node runs in capture mode, so the message is kept rather than relayed) and its
// HTML in a sandboxed frame.
import { after, before, test } from "node:test";
import { api, assert, Browser, env, makeTemplate, person, signIn } from "./helpers.js";

const browser = new Browser("messages");
let id;
before(async () => {
  await browser.start();
  id = await makeTemplate("Log check", { subject: 'Log check {{var:name:"there"}}' });
  // Someone else's message, which the search by recipient leaves out.
  await api("POST", "/v3.1/send", {
    Messages: [{
      From: { Email: "tests@example.com" },
      To: [{ Email: "someone.else@example.org" }],
      Subject: "Not for the marketer",
      TextPart: "Hello",
      HTMLPart: "<p>Hello</p>",
    }],
  });
});
after(() => browser.stop());

test("a test send shows in the log, is found by recipient, and has its timeline and content", () =>
  browser.run("log", async (s) => {
    const base = env("FACTEUR_URL");
    const page = s.page;
    const me = person("marketer");
    await signIn(page, base, me);
    await page.goto(`${base}/app/templates/${id}`);
    await page.click("#send-test");
    await page.locator("#editor-notice").filter({ hasText: `Test queued for ${me.email}` }).waitFor();

    await page.goto(`${base}/app/messages`);
    const rows = page.locator("#messages tbody tr");
    const recipients = () => rows.locator("td:nth-child(2)").allTextContents();
    const all = await recipients();
    assert.ok(all.includes(me.email), `listed: ${all}`);
    assert.ok(all.includes("someone.else@example.org"), `listed: ${all}`);
    await s.shot("log");

    await page.fill('input[name="recipient"]', me.email);
    await Promise.all([page.waitForURL(/recipient=/), page.getByRole("button", { name: "Search" }).click()]);
    const found = await recipients();
    assert.ok(found.length >= 1 && found.length < all.length, `narrowed: ${found}`);
    assert.deepEqual([...new Set(found)], [me.email]);
    await s.shot("search-by-recipient");

    // The message's page: its timeline reaches "sent" once captured.
    const row = rows.filter({ hasText: "Log check there" }).first();
    await Promise.all([page.waitForURL(/\/app\/messages\/\d+$/), row.getByRole("link", { name: me.email }).click()]);
    const timeline = page.locator("#timeline");
    for (let i = 0; i < 50 && !(await timeline.locator(".status.sent").count()); i++) {
      await page.waitForTimeout(200);
      await page.reload();
    }
    const kinds = await timeline.locator(".status").allTextContents();
    assert.deepEqual(kinds.slice(0, 2), ["queued", "sent"], `timeline: ${kinds}`);
    assert.equal((await page.locator("dl.facts .status").textContent()).trim(), "sent");
    assert.equal(await page.locator("dl.facts dd").nth(2).textContent(), "Log check there");
    const frame = page.locator("iframe.message-html");
    assert.equal(await frame.getAttribute("sandbox"), "");
    assert.match(await frame.getAttribute("src"), /^\/app\/messages\/\d+\/html$/);
    await page.frameLocator("iframe.message-html").locator("body").filter({ hasText: "Hello there" }).waitFor();
    await s.shot("message");
  }));
