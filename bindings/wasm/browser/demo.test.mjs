// The demo page in a real browser (Debian's headless Chromium driven by playwright-core): load it,
// pick a template, type one with a variable and an emoji with real key events and watch the
// preview, segments and cost change, build a filter and watch the matching count change, check a
// flag; no console error anywhere. Keeps a screenshot in test-results/demo.png and prints how long
// one preview update takes for the 1,000-customer sample.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = fileURLToPath(new URL("..", import.meta.url));
const CHROMIUM_ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

let server;
let base;
let context;
let page;
let profile;
const problems = [];

/** Serves bindings/wasm on an ephemeral port (python's http.server sends .wasm as application/wasm). */
function serve() {
  return new Promise((resolve, reject) => {
    const child = spawn("python3", ["-u", "-m", "http.server", "0", "--bind", "127.0.0.1"], { cwd: here, stdio: ["ignore", "pipe", "pipe"] });
    child.on("error", reject);
    child.stdout.on("data", (chunk) => {
      const m = /port (\d+)/.exec(String(chunk));
      if (m) resolve({ child, url: `http://127.0.0.1:${m[1]}` });
    });
  });
}

before(async () => {
  ({ child: server, url: base } = await serve());
  profile = mkdtempSync(join(tmpdir(), "smsbatch-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1400, height: 1800 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (msg) => {
    if (msg.type() === "error" || msg.type() === "warning") problems.push(`console.${msg.type()}: ${msg.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("requestfailed", (req) => problems.push(`request failed: ${req.url()}`));
  page.on("response", (res) => {
    if (res.status() >= 400) problems.push(`HTTP ${res.status()}: ${res.url()}`);
  });
  await page.goto(`${base}/demo/index.html`);
  await page.waitForSelector('#status[data-state="ready"]', { timeout: 30_000 });
});

after(async () => {
  await context?.close();
  server?.kill();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

const text = (selector) => page.textContent(selector);

test("the page loads the package and shows the first template's preview", async () => {
  assert.equal(await text("#customer-total"), "1000");
  assert.equal(await text("#match-count"), "1000");
  assert.match(await text("#template-meta"), /first_name/);
  // The welcome message is marketing: only customers who opted in (and did not opt out).
  assert.equal(await page.inputValue("#purpose"), "marketing");
  const recipients = Number(await text("#sum-recipients"));
  const excluded = Number(await text("#sum-excluded"));
  assert.ok(recipients > 600 && recipients < 800, `${recipients} recipients`);
  assert.equal(recipients + excluded, 1000);
  assert.match(await text("#summary"), /noConsent \d+/);
  assert.match(await text("#postgrest-query"), /no filter/);
});

test("the purpose decides whose consent a message needs", async () => {
  const marketing = Number(await text("#sum-recipients"));
  await page.selectOption("#purpose", "transactional");
  await page.waitForFunction((n) => Number(document.querySelector("#sum-recipients").textContent) !== n, marketing);
  const transactional = Number(await text("#sum-recipients"));
  assert.ok(transactional > 850 && transactional > marketing, `${transactional} transactional, ${marketing} marketing`);
  assert.doesNotMatch(await text("#summary"), /noConsent/);
  // Costs are exact decimals, shown as the package gives them.
  assert.match(await text("#sum-cost"), /^\d+(\.\d+)? USD$/);
  await page.selectOption("#purpose", "marketing");
  await page.waitForFunction((n) => Number(document.querySelector("#sum-recipients").textContent) === n, marketing);
});

test("template search finds accents without typing them", async () => {
  await page.fill("#template-search", "expedition");
  await page.waitForFunction(() => document.querySelectorAll("#template-list .card").length === 1);
  assert.match(await text("#template-list"), /Expédition/);
  await page.click("#template-list .card");
  assert.match(await page.inputValue("#template-editor"), /votre commande/);
  await page.fill("#template-search", "");
});

test("typing a template with a variable and an emoji updates the preview, segments and cost", async () => {
  const editor = page.locator("#template-editor");
  await editor.click();
  await page.keyboard.press("Control+A");
  await page.keyboard.press("Delete");
  // About 100 characters of GSM-7 text: one segment each; an emoji makes it UCS-2 (70 per
  // single part), so two segments and twice the cost.
  await page.keyboard.type("Hi {{default first_name \"there\"}}, your order is ready for pickup at our store until 6pm today.", { delay: 2 });
  await page.waitForFunction(() => document.querySelector("#template-editor").value.endsWith("today."));
  await page.waitForFunction(() => document.querySelector("#preview-table tbody td:nth-child(3)")?.textContent.includes("6pm today."));
  const gsm = {
    encoding: await text("#sum-encoding"),
    segments: Number(await text("#sum-segments")),
    cost: await text("#sum-cost"),
  };
  const gsmRecipients = Number(await text("#sum-recipients"));
  assert.ok(gsm.segments >= gsmRecipients, "every message takes at least one segment");
  await page.keyboard.type(" 🎉", { delay: 5 });
  await page.waitForFunction((before) => document.querySelector("#sum-cost").textContent !== before, gsm.cost);
  const emoji = {
    encoding: await text("#sum-encoding"),
    segments: Number(await text("#sum-segments")),
    cost: await text("#sum-cost"),
  };
  assert.notEqual(emoji.encoding, gsm.encoding);
  assert.match(emoji.encoding, /GSM-7 0 /, "the emoji makes every message UCS-2");
  assert.ok(emoji.segments >= gsm.segments);
  assert.notEqual(emoji.cost, gsm.cost);
  // The emoji is highlighted as the character that forced UCS-2, in every shown message.
  const marks = await page.$$eval("#preview-table mark", (nodes) => nodes.map((n) => n.textContent));
  assert.ok(marks.length > 0 && marks.every((m) => m === "🎉" || m.length <= 2), JSON.stringify(marks.slice(0, 5)));
  // Excluded recipients are listed with their reasons.
  assert.match(await text("#excluded-table"), /noPhone|invalidPhone|optedOut|duplicatePhone/);
});

test("a filter changes the matching count and the PostgREST query", async () => {
  const before = Number(await text("#match-count"));
  await page.click("#add-condition");
  await page.selectOption("#conditions .condition:last-child select.field", "city");
  await page.selectOption("#conditions .condition:last-child select.op", "contains");
  await page.locator("#conditions .condition:last-child input.value").pressSequentially("lyon", { delay: 10 });
  await page.waitForFunction((n) => Number(document.querySelector("#match-count").textContent) !== n, before);
  const after = Number(await text("#match-count"));
  assert.ok(after > 0 && after < before, `${after} of ${before}`);
  assert.match(await text("#postgrest-query"), /city=ilike\.\*lyon\*/);
  assert.equal(Number(await text("#sum-recipients")) <= after, true);
  // A negative condition keeps customers whose city is empty or unknown.
  await page.selectOption("#conditions .condition:last-child select.op", "notContains");
  await page.waitForFunction(() => document.querySelector("#postgrest-query").textContent.includes("is.null"));
  const negated = Number(await text("#match-count"));
  assert.equal(negated + after, before, "notContains is the exact complement of contains");
});

test("the flag check answers with Unleash's bucketing", async () => {
  await page.selectOption("#flag-name", "smart-encoding");
  await page.fill("#flag-user", "zoe");
  await page.waitForFunction(() => document.querySelector("#flag-result").dataset.enabled === "true");
  assert.match(await text("#flag-result"), /on for user zoe/);
  await page.fill("#flag-user", "somebody-else");
  await page.waitForFunction(() => document.querySelector("#flag-result").dataset.enabled === "false");
});

test("one preview update of the 1,000-customer sample, timed in the browser", async () => {
  // Back to every customer, then time ten updates of the whole preview.
  await page.click("#conditions .condition:last-child .remove");
  await page.waitForFunction(() => document.querySelector("#match-count").textContent === "1000");
  const timings = await page.evaluate(() => {
    const editor = document.querySelector("#template-editor");
    const start = window.__previewTimings.length;
    for (let i = 0; i < 10; i++) {
      editor.value = `Hi {{default first_name "there"}} #${i}, your order is ready 🎉`;
      editor.dispatchEvent(new Event("input"));
    }
    return window.__previewTimings.slice(start);
  });
  assert.equal(timings.length, 10);
  const sorted = [...timings].sort((a, b) => a - b);
  const median = sorted[5];
  console.log(`preview update for 1,000 customers: median ${median.toFixed(1)} ms, min ${sorted[0].toFixed(1)} ms, max ${sorted[9].toFixed(1)} ms`);
  assert.ok(median > 0);
});

test("a hostile template is refused and the next preview still works (issue 10, item 1)", async () => {
  // Before the fix these overflowed the stack inside the module: `memory access out of bounds`,
  // and every later preview failed the same way until the page was reloaded.
  const deep = (n) => `{{upper ${"(upper ".repeat(n)}first_name${")".repeat(n)}}}`;
  const hostile = [
    deep(3000),
    `{{default [a"] ${"(upper ".repeat(8000)}first_name${")".repeat(8000)}}}`,
    `{{!-- x }} ${deep(8000)}`,
  ];
  for (const body of hostile) {
    await page.evaluate((value) => {
      const editor = document.querySelector("#template-editor");
      editor.value = value;
      editor.dispatchEvent(new Event("input"));
    }, body);
    assert.match(await text("#template-error"), /nested more than 32 deep/);
  }
  await page.evaluate(() => {
    const editor = document.querySelector("#template-editor");
    editor.value = "Hi {{default first_name \"there\"}}";
    editor.dispatchEvent(new Event("input"));
  });
  assert.equal(await text("#template-error"), "");
  assert.ok(Number(await text("#sum-recipients")) > 0);
  assert.match(await text("#preview-table"), /Hi /);
});

test("no console error, failed request or page error; a screenshot is kept", async () => {
  mkdirSync(join(here, "test-results"), { recursive: true });
  await page.screenshot({ path: join(here, "test-results", "demo.png"), fullPage: true });
  assert.deepEqual(problems, []);
});
