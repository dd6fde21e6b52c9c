// Invitations: the owner invites a Designer on the people page; the link shown there opens in
// another browser, where the invitee chooses a name and a password and lands signed in; the
// owner sees them in the list and makes them a Marketer, which takes effect on their next page.
import { after, before, test } from "node:test";
import { assert, Browser, env, person, signIn } from "./helpers.js";

const browser = new Browser("invitation");
before(() => browser.start());
after(() => browser.stop());

const navLinks = (page) => page.locator("header.top nav a").allTextContents();

test("an invited Designer joins, and the owner makes them a Marketer", () =>
  browser.run("invite-designer", async (s) => {
    const base = env("FACTEUR_URL");
    const page = s.page;
    const invitee = { email: "ines.invited@example.com", name: "Inès Invitée", password: "invitee password" };

    await signIn(page, base, person("owner"));
    await page.goto(`${base}/app/people`);
    await s.shot("people");
    await page.fill('form[action="/app/people/invite"] input[name="email"]', invitee.email);
    await page.selectOption('form[action="/app/people/invite"] select[name="role"]', "designer");
    await Promise.all([page.waitForURL(`${base}/app/people/invite`), page.click("#invite")]);
    await page.getByText(`Invitation mailed to ${invitee.email} as designer.`).waitFor();
    const link = (await page.locator("#invitation-link").textContent()).trim();
    assert.match(link, new RegExp(`^${base}/app/invitation/[A-Za-z0-9_-]+$`));
    await s.shot("invited");

    // The invitee, in a browser of their own.
    const other = await browser.session("invitee");
    try {
      const p = other.page;
      await p.goto(link);
      await other.shot("invitation");
      await p.fill('input[name="name"]', invitee.name);
      await p.fill('input[name="password"]', invitee.password);
      await Promise.all([p.waitForURL(`${base}/app`), p.click("#accept")]);
      await p.getByText(`Signed in as ${invitee.email}, designer of this account.`).waitFor();
      assert.deepEqual(await navLinks(p), ["Templates"], "a Designer sees the templates only");
      await other.shot("signed-in-as-designer");

      // The owner's list shows them, as Designer; the owner makes them a Marketer.
      await page.goto(`${base}/app/people`);
      const row = page.locator(`tr[data-email="${invitee.email}"]`);
      assert.equal((await row.locator("td").first().textContent()).trim(), invitee.name);
      const role = page.getByLabel(`Role of ${invitee.email}`);
      assert.equal(await role.inputValue(), "designer");
      await s.shot("people-with-invitee");
      // The select sends its form on change; the answer sends the browser to the list again.
      await Promise.all([page.waitForEvent("load"), role.selectOption("marketer")]);
      assert.equal(await page.getByLabel(`Role of ${invitee.email}`).inputValue(), "marketer");
      await s.shot("role-changed");

      // It takes effect on the invitee's next page: the messages are theirs to see now.
      await p.reload();
      await p.getByText(`Signed in as ${invitee.email}, marketer of this account.`).waitFor();
      assert.deepEqual(await navLinks(p), ["Templates", "Messages", "Captured"]);
      const res = await p.goto(`${base}/app/messages`);
      assert.equal(res.status(), 200);
      await p.getByRole("heading", { name: /^Messages/ }).waitFor();
      await other.shot("marketer-messages");
      other.assertClean();
    } finally {
      await other.context.close();
    }
  }));
