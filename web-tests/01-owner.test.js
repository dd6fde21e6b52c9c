// The first start: the owner is created through the one-time setup link, signs out, signs in
// (a wrong password is refused with the error on the form), and signs out everywhere (every
// session of theirs ends, in another browser too).
import { after, before, test } from "node:test";
import { assert, Browser, env } from "./helpers.js";

const browser = new Browser("owner");
before(() => browser.start());
after(() => browser.stop());

const owner = { name: "Olga Owner", email: "olga@fresh.example", password: "owner password 123" };

test("the owner is created with the setup link, signs out, signs in, signs out everywhere", () =>
  browser.run("setup-sign-in", async (s) => {
    const base = env("FACTEUR_FRESH_URL");
    const page = s.page;

    // No one can sign in yet: the sign-in page says how the owner is made.
    await page.goto(`${base}/app/sign-in`);
    await page.getByText("No one can sign in yet").waitFor();
    await s.shot("nobody-yet");

    await page.goto(env("FACTEUR_SETUP_URL"));
    await s.shot("setup");
    await page.fill('input[name="name"]', owner.name);
    await page.fill('input[name="email"]', owner.email);
    await page.fill('input[name="password"]', owner.password);
    await Promise.all([page.waitForURL(`${base}/app`), page.click("#create-owner")]);
    await page.getByText(`Signed in as ${owner.email}, owner of this account.`).waitFor();
    assert.equal(await page.locator(".me").textContent(), `${owner.name} · owner`);
    await s.shot("home");

    // The link works once.
    const other = await browser.session("owner-link-again");
    try {
      await other.page.goto(env("FACTEUR_SETUP_URL"));
      await other.page.fill('input[name="email"]', "mallory@fresh.example");
      await other.page.fill('input[name="password"]', "another password");
      await other.page.click("#create-owner");
      await other.page.locator("main .error").waitFor();
      assert.match(new URL(other.page.url()).pathname, /^\/app\/setup\//);
      await s.shot("setup-link-used", other.page);
      other.assertClean();
    } finally {
      await other.context.close();
    }

    // Sign out: the app is closed again.
    await Promise.all([page.waitForURL(/\/app\/sign-in\?done=out$/), page.click("#sign-out")]);
    await page.getByText("You are signed out.").waitFor();
    await s.shot("signed-out");
    await page.goto(`${base}/app/templates`);
    assert.equal(new URL(page.url()).pathname, "/app/sign-in");
    assert.equal(new URL(page.url()).searchParams.get("next"), "/app/templates");

    // A wrong password: the form again, with the error and the address kept.
    await page.fill('input[name="email"]', owner.email);
    await page.fill('input[name="password"]', "not the password");
    await page.click("#sign-in");
    const error = page.locator('main .error[role="alert"]');
    await error.waitFor();
    assert.match(await error.innerText(), /not right/);
    assert.equal(await page.inputValue('input[name="email"]'), owner.email);
    await s.shot("wrong-password");

    // The right one: to the page asked for first... here /app, as the form was posted again.
    await page.fill('input[name="password"]', owner.password);
    await Promise.all([page.waitForURL((u) => !u.pathname.startsWith("/app/sign-in")), page.click("#sign-in")]);
    assert.equal(new URL(page.url()).pathname, "/app/templates");
    await page.goto(`${base}/app`);
    await page.getByText(`Signed in as ${owner.email}`).waitFor();
    await s.shot("signed-in");

    // A second browser signed in as the owner too; "Sign out everywhere" ends both.
    const second = await browser.session("owner-second-browser");
    try {
      await second.page.goto(`${base}/app/sign-in`);
      await second.page.fill('input[name="email"]', owner.email);
      await second.page.fill('input[name="password"]', owner.password);
      await Promise.all([second.page.waitForURL(`${base}/app`), second.page.click("#sign-in")]);

      await Promise.all([
        page.waitForURL(/\/app\/sign-in\?done=out$/),
        page.getByRole("button", { name: "Sign out everywhere" }).click(),
      ]);
      await s.shot("signed-out-everywhere");
      await second.page.reload();
      assert.equal(new URL(second.page.url()).pathname, "/app/sign-in", "the other session ended too");
      await s.shot("second-browser-signed-out", second.page);
      second.assertClean();
    } finally {
      await second.context.close();
    }
  }));
