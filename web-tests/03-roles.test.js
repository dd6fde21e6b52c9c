// Each role in the UI: the navigation it is shown, the pages it gets or is refused (as
// role_allows in crates/facteur-http/src/auth.rs says), Publish in the editor only for the
// roles that may publish, and "Send me a test" for everyone who edits templates, to
// themselves only unless their role may send mail.
import { after, before, test } from "node:test";
import { assert, Browser, env, makeTemplate, person, ROLES, signIn } from "./helpers.js";

const browser = new Browser("roles");
let templateId;
before(async () => {
  await browser.start();
  templateId = await makeTemplate("Roles check");
});
after(() => browser.stop());

// What each role may do, as the server's role table says.
const may = {
  templates: ["owner", "manager", "developer", "marketer", "designer"],
  messages: ["owner", "manager", "developer", "marketer"],
  captured: ["owner", "manager", "developer", "marketer"],
  keys: ["owner", "manager", "developer"],
  webhooks: ["owner", "manager", "developer"],
  people: ["owner", "manager"],
  publish: ["owner", "manager", "developer"],
  send: ["owner", "manager", "developer"],
};
const NAV = {
  templates: "Templates",
  messages: "Messages",
  captured: "Captured",
  keys: "API keys",
  webhooks: "Webhooks",
  people: "People",
};

for (const role of ROLES) {
  test(`${role}: navigation, pages, editor actions`, () =>
    browser.run(role, async (s) => {
      const base = env("FACTEUR_URL");
      const page = s.page;
      const me = person(role);
      await signIn(page, base, me);
      await page.getByText(`Signed in as ${me.email}, ${role} of this account.`).waitFor();

      const shown = await page.locator("header.top nav a").allTextContents();
      const expected = Object.keys(NAV).filter((k) => may[k].includes(role)).map((k) => NAV[k]);
      assert.deepEqual(shown, expected, "navigation links");
      await s.shot("home");

      for (const what of Object.keys(NAV)) {
        const res = await page.goto(`${base}/app/${what}`);
        const h1 = (await page.locator("h1").first().textContent()).trim();
        if (may[what].includes(role)) {
          assert.equal(res.status(), 200, `${role} gets /app/${what}`);
          assert.doesNotMatch(h1, /^403/);
        } else {
          assert.equal(res.status(), 403, `${role} is refused /app/${what}`);
          assert.equal(h1, "403 Forbidden");
          assert.match(await page.locator("p.error").textContent(), /\S/, "the page says why");
          await page.getByRole("link", { name: "Back to the app" }).waitFor();
        }
        await s.shot(`${what}-${may[what].includes(role) ? "page" : "refused"}`);
      }

      if (!may.templates.includes(role)) {
        const res = await page.goto(`${base}/app/templates/${templateId}`);
        assert.equal(res.status(), 403, "nor the editor");
        return;
      }
      await page.goto(`${base}/app/templates/${templateId}`);
      await page.frameLocator("#preview-desktop").locator("body").filter({ hasText: "Hello there" }).waitFor();
      assert.equal(await page.locator("#save").count(), 1, "Save draft");
      assert.equal(await page.locator("#publish").count(), may.publish.includes(role) ? 1 : 0, "Publish");
      await s.shot("editor");

      // Send me a test: queued, to their own address.
      await page.click("#send-test");
      const notice = page.locator("#editor-notice");
      await notice.filter({ hasText: "Test queued for" }).waitFor();
      assert.match(await notice.textContent(), new RegExp(`^Test queued for ${me.email.replace(".", "\\.")} \\(message \\d+\\)\\.$`));
      await s.shot("test-sent");

      // To someone else: only a role that may send mail.
      const other = await page.evaluate(async (id) => {
        const { api } = await import("/app/assets/app.js");
        try {
          await api("POST", `/v3/REST/template/${id}/test`, { To: "someone.else@example.org", Version: "draft" });
          return { ok: true };
        } catch (err) {
          return { ok: false, status: err.status, message: err.message };
        }
      }, templateId);
      if (may.send.includes(role)) {
        assert.deepEqual(other, { ok: true }, `${role} may send a test to another address`);
      } else {
        assert.equal(other.status, 403, JSON.stringify(other));
        assert.match(other.message, new RegExp(`\\(${role}\\) sends tests to your own address`));
      }
    }));
}
