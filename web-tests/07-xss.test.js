// Hostile text everywhere a person or an e-mail can put it: a template named like markup,
// test values and e-mail HTML carrying scripts, a person named like markup. No alert may fire
// on any screen (the canary in helpers.js fails the test on one), and what people typed shows
// as the text they typed.
import { after, before, test } from "node:test";
import { api, assert, Browser, env, makeTemplate, person, signIn } from "./helpers.js";

const browser = new Browser("xss");
const NAME = "<img src=x onerror=alert(1)>";
const VALUE = "<script>alert(2)</script>";
// E-mail HTML with scripts of its own: harmless only because previews are sandboxed.
const MJML = `<mjml>
  <mj-body>
    <mj-raw><script>alert(5)</script><img src="x" onerror="alert(6)"></mj-raw>
    <mj-section>
      <mj-column>
        <mj-text>Hi {{var:name:"there"}}</mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
`;
let id;
before(async () => {
  await browser.start();
  id = await makeTemplate(NAME, {
    mjml: MJML,
    subject: 'Hi {{var:name:"there"}}',
    values: { Variables: { name: VALUE } },
  });
  await api("PUT", `/v3/REST/template/${id}`, { Description: VALUE });
});
after(() => browser.stop());

/** Lets a page's late handlers (an image's onerror) run before moving on. */
const settle = (page) => page.waitForTimeout(300);

test("markup in names, test values and e-mail HTML never runs", () =>
  browser.run("everywhere", async (s) => {
    const base = env("FACTEUR_URL");
    const page = s.page;
    const owner = person("owner");
    await signIn(page, base, owner);

    // A template created in the gallery with a hostile name and hostile HTML of its own.
    await page.goto(`${base}/app/templates`);
    await page.click("#new-template");
    await page.fill('#create-form input[name="name"]', "<svg onload=alert(3)>");
    await page.check('#create-form input[name="from"][value="source"]');
    await page.fill('#create-form textarea[name="source"]', "<!doctype html><html><body><p>Own HTML</p><script>alert(4)</script></body></html>");
    await Promise.all([page.waitForURL(/\/app\/templates\/\d+$/), page.click("#create-submit")]);
    await page.frameLocator("#preview-desktop").locator("body").filter({ hasText: "Own HTML" }).waitFor();
    await settle(page);
    await s.shot("created-from-html");

    // The gallery: names as text, thumbnails sandboxed.
    await page.goto(`${base}/app/templates`);
    const card = page.locator("li.card").filter({ has: page.locator("a.name", { hasText: NAME }) });
    assert.equal(await card.locator("a.name").textContent(), NAME);
    assert.equal(await page.locator("li.card a.name", { hasText: "<svg onload=alert(3)>" }).count(), 1);
    await page.frameLocator(`li.card[data-id="${id}"] iframe`).locator("body").filter({ hasText: "Hi" }).waitFor();
    await settle(page);
    await s.shot("gallery");
    await card.getByRole("button", { name: "Versions" }).click();
    assert.equal(await page.locator("#versions-dialog [data-name]").textContent(), NAME);
    await s.shot("versions");
    await page.locator("#versions-dialog").getByRole("button", { name: "Close" }).click();
    // A hostile search is echoed as text.
    await page.goto(`${base}/app/templates?q=${encodeURIComponent(VALUE)}`);
    assert.equal(await page.inputValue('input[name="q"]'), VALUE);
    await settle(page);

    // The editor: the name, the subject and the values as text; previews sandboxed.
    await page.goto(`${base}/app/templates/${id}`);
    await page.locator("h1", { hasText: NAME }).waitFor();
    await page.locator("#preview-subject").filter({ hasText: `Hi ${VALUE}` }).waitFor();
    assert.equal(await page.inputValue('input[data-var="var:name"]'), VALUE);
    const preview = page.frameLocator("#preview-desktop").locator("body");
    await preview.filter({ hasText: `Hi ${VALUE}` }).waitFor();
    await settle(page);
    await s.shot("editor");
    await page.click("#mode-expert");
    await page.fill("#values-json", JSON.stringify({ Variables: { name: "<img src=x onerror=alert(7)>" } }));
    await preview.filter({ hasText: "Hi <img src=x onerror=alert(7)>" }).waitFor();
    await settle(page);
    await s.shot("editor-expert");

    // A test send, then the message log and the message.
    await page.click("#mode-normal");
    await page.fill('input[data-var="var:name"]', VALUE);
    await page.click("#save-values");
    await page.locator("#editor-notice").filter({ hasText: "Test values saved." }).waitFor();
    await page.click("#send-test");
    await page.locator("#editor-notice").filter({ hasText: "Test queued for" }).waitFor();
    await page.goto(`${base}/app/messages?recipient=${encodeURIComponent(owner.email)}`);
    const row = page.locator("#messages tbody tr", { hasText: `Hi ${VALUE}` }).first();
    assert.equal(await row.locator("td:nth-child(3)").textContent(), `Hi ${VALUE}`);
    await settle(page);
    await s.shot("log");
    await Promise.all([page.waitForURL(/\/app\/messages\/\d+$/), row.getByRole("link").click()]);
    assert.equal(await page.locator("dl.facts dd").nth(2).textContent(), `Hi ${VALUE}`);
    await page.frameLocator("iframe.message-html").locator("body").filter({ hasText: `Hi ${VALUE}` }).waitFor();
    await settle(page);
    await s.shot("message");
    await page.goto(`${base}/app/messages?recipient=${encodeURIComponent(VALUE)}`);
    assert.equal(await page.inputValue('input[name="recipient"]'), VALUE);
    await settle(page);

    // A person named like markup, on the people page.
    await page.goto(`${base}/app/people`);
    await page.fill('form[action="/app/people/invite"] input[name="email"]', "xss.person@example.com");
    await Promise.all([page.waitForURL(/\/app\/people\/invite$/), page.click("#invite")]);
    const link = (await page.locator("#invitation-link").textContent()).trim();
    const other = await browser.session("xss-invitee");
    try {
      await other.page.goto(link);
      await other.page.fill('input[name="name"]', "<img src=x onerror=alert(10)>");
      await other.page.fill('input[name="password"]', "xss person password");
      await Promise.all([other.page.waitForURL(`${base}/app`), other.page.click("#accept")]);
      assert.equal(await other.page.locator(".me").textContent(), "<img src=x onerror=alert(10)> · marketer");
      await settle(other.page);
      await other.shot("home");
      other.assertClean();
    } finally {
      await other.context.close();
    }
    await page.goto(`${base}/app/people`);
    assert.equal(await page.locator('tr[data-email="xss.person@example.com"] td').first().textContent(), "<img src=x onerror=alert(10)>");
    await settle(page);
    await s.shot("people");
  }));
