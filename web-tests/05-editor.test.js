// The code editor as a Developer: an MJML error is shown at its line and column and selected
// in the source; the fix saves the draft; publishing; the previews (600 and 375 px, sandboxed,
// the rendered HTML); test values in Normal mode (a field per variable) and Expert mode (JSON,
// with its errors), saved with the template; "Send me a test".
import { after, before, test } from "node:test";
import { assert, Browser, env, makeTemplate, MJML, person, signIn } from "./helpers.js";

const browser = new Browser("editor");
let id;
before(async () => {
  await browser.start();
  id = await makeTemplate("Editor check");
});
after(() => browser.stop());

/** Waits until both previews show `text`. */
async function previewsShow(page, text) {
  for (const frame of ["#preview-desktop", "#preview-mobile"]) {
    await page.frameLocator(frame).locator("body").filter({ hasText: text }).waitFor();
  }
}

/** The 1-based line of the source's selection start. */
const selectedLine = (page) =>
  page.locator("#source").evaluate((el) => el.value.slice(0, el.selectionStart).split("\n").length);

test("the editor saves, points at errors, publishes, previews with test values and sends a test", () =>
  browser.run("editor", async (s) => {
    const base = env("FACTEUR_URL");
    const page = s.page;
    const me = person("developer");
    await signIn(page, base, me);
    await page.goto(`${base}/app/templates/${id}`);
    await previewsShow(page, "Hello there");
    assert.equal(await page.textContent("#preview-subject"), "Hello there");
    await s.shot("opened");

    // The previews: sandboxed frames, 600 and 375 px wide inside, showing the rendered HTML.
    for (const [frame, width] of [["#preview-desktop", 600], ["#preview-mobile", 375]]) {
      const el = page.locator(frame);
      assert.equal(await el.getAttribute("sandbox"), "", `${frame} is sandboxed`);
      assert.equal(await el.evaluate((f) => f.clientWidth), width, `${frame} is ${width} px wide inside`);
      const doc = await (await el.elementHandle()).contentFrame();
      assert.equal(await doc.evaluate(() => window.innerWidth), width, `${frame}'s document is ${width} px wide`);
      assert.match(await doc.content(), /<table[^>]*role="presentation"/i, "rendered email HTML, not MJML");
      assert.doesNotMatch(await doc.content(), /<mj-/);
    }

    // MJML errors: the message names the line and column, and the source's selection moves
    // there (from the first line, where it is put before saving).
    const error = page.locator("#editor-error");
    async function saveBroken(source, step) {
      await page.fill("#source", source);
      await page.locator("#source").evaluate((el) => el.setSelectionRange(0, 0));
      // The previous error's text must not be taken for this one's.
      await error.evaluate((el) => { el.textContent = ""; el.hidden = true; });
      await page.click("#save");
      await error.filter({ hasText: /line \d+, column \d+/ }).waitFor();
      const text = await error.textContent();
      const [, line, column] = /line (\d+), column (\d+)/.exec(text).map(Number);
      assert.equal(await selectedLine(page), line, `the selection is on the error's line: ${text}`);
      assert.equal(await page.locator("#editor").getAttribute("data-error-line"), String(line));
      assert.ok(await page.locator("#source").evaluate((el) => document.activeElement === el), "the source has the focus");
      await s.shot(step);
      return { line, column, text };
    }
    // The tag of line 5 left open: an unclosed element shows where the document ends.
    const unclosed = await saveBroken(MJML.replace("</mj-text>", ""), "mjml-error-unclosed");
    assert.equal(unclosed.line, MJML.split("\n").length, unclosed.text);
    // A malformed conditional comment: its own line and column.
    const misplaced = MJML.replace("<mjml>\n", "<mjml>\n  <mj-raw><!--[if mso]x</mj-raw>\n");
    const at = await saveBroken(misplaced, "mjml-error-misplaced");
    assert.deepEqual([at.line, at.column], [2, 11], at.text);

    // Fixed: saved as a draft.
    await page.fill("#source", MJML);
    await page.click("#save");
    await page.locator("#editor-notice").filter({ hasText: /^Draft saved \(version \d+\)\.$/ }).waitFor();
    assert.ok(await error.isHidden(), "the error is gone");
    assert.equal(await page.textContent("#status"), "draft");
    await s.shot("draft-saved");

    // Publish.
    await page.click("#publish");
    await page.locator("#editor-notice").filter({ hasText: /^Published as version \d+\.$/ }).waitFor();
    assert.equal(await page.textContent("#status"), "published");
    await s.shot("published");

    // Normal mode: a field per variable; typing changes the preview (on a fresh page: no
    // preview is pending from the edits above), and so does Enter, which stays on the page.
    await page.reload();
    await previewsShow(page, "Hello there");
    const field = page.locator('input[data-var="var:name"]');
    await field.fill("Léa");
    await previewsShow(page, "Hello Léa");
    await page.locator("#preview-subject").filter({ hasText: "Hello Léa" }).waitFor();
    await s.shot("normal-values");
    const url = page.url();
    await field.fill("Zoé");
    await field.press("Enter");
    await previewsShow(page, "Hello Zoé");
    assert.equal(page.url(), url, "Enter keeps the page");
    assert.equal(await field.inputValue(), "Zoé");

    // Expert mode: JSON, its error shown; valid JSON updates the preview.
    await page.click("#mode-expert");
    assert.equal(await page.getAttribute("#mode-expert", "aria-selected"), "true");
    const json = page.locator("#values-json");
    await json.fill('{"Variables": {"name": ');
    const jsonError = page.locator("#json-error");
    await jsonError.waitFor();
    assert.match(await jsonError.textContent(), /JSON|Unexpected|Expected/);
    await s.shot("expert-json-error");
    await json.fill('{"Variables": {"name": "Expert Value"}}');
    await jsonError.waitFor({ state: "hidden" });
    await previewsShow(page, "Hello Expert Value");
    await s.shot("expert-values");

    // Saved with the template: there after a reload, in both modes.
    await page.click("#save-values");
    await page.locator("#editor-notice").filter({ hasText: "Test values saved." }).waitFor();
    await page.reload();
    assert.match(await page.inputValue("#values-json"), /"name": "Expert Value"/);
    assert.equal(await field.inputValue(), "Expert Value");
    await previewsShow(page, "Hello Expert Value");
    await s.shot("values-after-reload");

    // Send me a test.
    await page.click("#send-test");
    await page.locator("#editor-notice").filter({ hasText: `Test queued for ${me.email}` }).waitFor();
    assert.match(await page.textContent("#editor-notice"), /^Test queued for \S+ \(message \d+\)\.$/);
    await s.shot("test-queued");
  }));
