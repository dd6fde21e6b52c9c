// Capture mode (the team node runs with it on): a test sent from the editor never leaves; the
// Captured page lists it as it would have left, shows its HTML in a sandboxed frame, its text
// and headers, finds it by subject and deletes it. The editor's content advice names what is
// wrong in the previewed HTML, and follows a fix.
import { after, before, test } from "node:test";
import { assert, Browser, env, makeTemplate, person, signIn } from "./helpers.js";

const browser = new Browser("capture");
let id;
const ADVISED = `<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text>Hello {{var:name:"there"}}, our new collection is here.</mj-text>
        <mj-image src="http://127.0.0.1:9/hero.png" width="300px" height="200px"></mj-image>
        <mj-button href="https://shop.example/new">Click here</mj-button>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
`;
before(async () => {
  await browser.start();
  id = await makeTemplate("Capture check", { mjml: ADVISED, subject: 'Captured {{var:name:"there"}}' });
});
after(() => browser.stop());

test("a captured test is listed, read and deleted; the editor's advice names each problem", () =>
  browser.run("capture", async (s) => {
    const base = env("FACTEUR_URL");
    const page = s.page;
    const me = person("developer");
    await signIn(page, base, me);
    await page.goto(`${base}/app/templates/${id}`);

    // Content advice of the previewed HTML: the image has no alt text, the button says nothing.
    const advice = page.locator("#advice li");
    await advice.filter({ hasText: "alt" }).first().waitFor();
    const codes = await advice.evaluateAll((items) => items.map((li) => li.dataset.code));
    for (const code of ["image-missing-alt", "cta-vague", "preheader-missing"]) {
      assert.ok(codes.includes(code), `${code} in ${codes}`);
    }
    assert.match(await advice.filter({ hasText: "alt" }).first().textContent(), /hero\.png/, "names the image");
    await s.shot("advice");
    // Fixed in the source: the advice follows.
    const fixed = ADVISED.replace('height="200px">', 'height="200px" alt="The new collection">').replace("Click here", "Discover the collection");
    await page.fill("#source", fixed);
    await page.click("#save");
    await page.locator("#editor-notice").filter({ hasText: "Draft saved" }).waitFor();
    for (let i = 0; i < 50; i++) {
      const now = await advice.evaluateAll((items) => items.map((li) => li.dataset.code));
      if (!now.includes("image-missing-alt") && !now.includes("cta-vague")) break;
      await page.waitForTimeout(100);
    }
    const after = await advice.evaluateAll((items) => items.map((li) => li.dataset.code));
    assert.ok(!after.includes("image-missing-alt") && !after.includes("cta-vague"), `after the fix: ${after}`);

    // A test send is captured, not sent.
    await page.click("#send-test");
    await page.locator("#editor-notice").filter({ hasText: `Test queued for ${me.email}` }).waitFor();
    await page.goto(`${base}/app/captured`);
    await page.getByText("Capture mode is on").waitFor();
    const row = page.locator("#captured tbody tr").filter({ hasText: "Captured there" });
    for (let i = 0; i < 50 && !(await row.count()); i++) {
      await page.waitForTimeout(200);
      await page.reload();
    }
    assert.equal(await row.count(), 1, "the captured test is listed");
    await s.shot("captured-list");
    await page.fill('input[name="q"]', "Captured there");
    await Promise.all([page.waitForURL(/q=/), page.getByRole("button", { name: "Search" }).click()]);
    assert.equal(await page.locator("#captured tbody tr").filter({ hasText: "Captured there" }).count(), 1);

    await Promise.all([page.waitForURL(/\/app\/captured\/\d+$/), row.getByRole("link", { name: me.email }).click()]);
    const frame = page.locator("iframe.message-html");
    assert.equal(await frame.getAttribute("sandbox"), "", "sandboxed");
    await page.frameLocator("iframe.message-html").locator("body").filter({ hasText: "new collection" }).waitFor();
    assert.match(await page.locator("#captured-text").textContent(), /new collection/);
    await s.shot("captured-message");

    // Deleted (after the confirmation): no longer listed.
    await Promise.all([page.waitForURL(/\/app\/captured$/), page.getByRole("button", { name: "Delete" }).click()]);
    assert.equal(await page.locator("#captured tbody tr").filter({ hasText: "Captured there" }).count(), 0);
  }));
