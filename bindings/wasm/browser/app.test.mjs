// The web app (`smsbatch serve`) in a real browser: Debian's headless Chromium driven by
// playwright-core. The same flow runs on the in-memory store (the sample loaded, one fixed user)
// and once on PostgreSQL (a fresh database, requests carrying a signed JWT): build a filter and
// check the live count against the API; preview in the page (WebAssembly) and check it against
// the server's preview; an invalid filter shows an alert; saved filters are saved, shared,
// exported and imported; a batch is created and followed on the dashboard; pause/resume,
// cancel and the CSV export; axe-core finds no serious or critical violation on either page.
// Screenshots are kept in test-results/.
//
// Needs the `smsbatch` binary (cargo build --all-features --bin smsbatch; SMSBATCH_BIN overrides
// its path) and the built package (build.sh). The PostgreSQL run uses DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/postgres) and is skipped, saying so, when no server answers
// (unless SMSBATCH_REQUIRE_DB=1).
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const here = fileURLToPath(new URL("..", import.meta.url));
const root = fileURLToPath(new URL("../../..", import.meta.url));
const BIN = process.env.SMSBATCH_BIN ?? join(root, "target", "debug", "smsbatch");
const AXE = require.resolve("axe-core/axe.min.js");
const RESULTS = join(here, "test-results");
const CHROMIUM_ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
const DEMO_USER = "00000000-0000-4000-8000-000000000001";
const OTHER_USER = "00000000-0000-4000-8000-000000000002";
const JWT_SECRET = "web-app-test-secret-of-at-least-32-characters";

mkdirSync(RESULTS, { recursive: true });

/** Starts `smsbatch serve` on a free port; resolves once it prints its address. */
function startServer(args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, ["serve", "--port", "0", "--assets", here, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env },
    });
    let err = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`smsbatch serve did not start within 60 s: ${err}`));
    }, 60_000);
    child.on("error", (e) => { clearTimeout(timer); reject(e); });
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`smsbatch serve exited with ${code}: ${err}`)); });
    child.stderr.on("data", (chunk) => { err += chunk; });
    child.stdout.on("data", (chunk) => {
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(String(chunk));
      if (m) {
        clearTimeout(timer);
        child.removeAllListeners("exit");
        resolve({ child, url: m[1] });
      }
    });
  });
}

function b64url(text) {
  return Buffer.from(text).toString("base64url");
}

/** An HS256 JWT, as Supabase signs them. */
function sign(claims) {
  const head = `${b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${b64url(JSON.stringify(claims))}`;
  return `${head}.${createHmac("sha256", JWT_SECRET).update(head).digest("base64url")}`;
}

function psql(url, sql) {
  const r = spawnSync("psql", [url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`psql: ${r.stderr || r.error}`);
  return r.stdout.trim();
}

function cli(args) {
  const r = spawnSync(BIN, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`smsbatch ${args.join(" ")}: ${r.stdout} ${r.stderr}`);
  return r.stdout;
}

/** A fresh database with the schema and the sample in team "demo"; returns its URL and a dropper. */
function tempDatabase() {
  const admin = process.env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres";
  const probe = spawnSync("psql", [admin, "-qAtc", "select 1"], { encoding: "utf8" });
  if (probe.status !== 0) return null;
  const name = `smsbatch_web_${process.pid}_${Date.now()}`;
  psql(admin, `CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'`);
  const u = new URL(admin);
  u.pathname = `/${name}`;
  const url = u.toString();
  const drop = () => {
    spawnSync("psql", [admin, "-qAtc", `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]);
  };
  try {
    cli(["migrate", "--database-url", url]);
    cli(["customers", "import", join(here, "demo/data/customers.json"), "--team", "demo", "--database-url", url]);
    cli(["templates", "import", join(here, "demo/data/templates.json"), "--team", "demo", "--database-url", url]);
  } catch (e) {
    drop();
    throw e;
  }
  return { url, drop };
}

/** Parses CSV (RFC 4180: quoted fields, doubled quotes, line breaks inside quotes). */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") { row.push(field); field = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field); rows.push(row); row = []; field = "";
    } else field += c;
  }
  if (field !== "" || row.length > 0) { row.push(field); rows.push(row); }
  return rows;
}

/** Runs axe-core in the page; returns the serious and critical violations. */
async function axeViolations(page) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
}

function flow(label, setup) {
  describe(`the web app on the ${label} store`, () => {
    let server;
    let base;
    let context;
    let page;
    let profile;
    let database;
    let headers = {};
    let skip = null;
    const problems = [];
    const expectedErrors = new Set();

    /** The API, called directly (what the page must agree with). */
    async function call(method, path, body) {
      const r = await fetch(`${base}${path}`, {
        method,
        headers: { ...headers, ...(body ? { "Content-Type": "application/json" } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await r.text();
      return { status: r.status, body: text ? JSON.parse(text) : null };
    }

    before(async () => {
      const s = await setup();
      if (!s) {
        skip = "no PostgreSQL server answers";
        if (process.env.SMSBATCH_REQUIRE_DB === "1") throw new Error(skip);
        return;
      }
      ({ database, headers } = s);
      ({ child: server, url: base } = await startServer(s.args, s.env));
      profile = mkdtempSync(join(tmpdir(), "smsbatch-app-chromium-"));
      context = await chromium.launchPersistentContext(profile, {
        executablePath: "/usr/bin/chromium",
        headless: true,
        args: CHROMIUM_ARGS,
        viewport: { width: 1400, height: 1800 },
        acceptDownloads: true,
      });
      if (s.token) await context.addInitScript((t) => localStorage.setItem("smsbatch.jwt", t), s.token);
      page = context.pages()[0] ?? (await context.newPage());
      page.on("console", (msg) => {
        if (msg.type() !== "error" && msg.type() !== "warning") return;
        // The browser logs each refused request; those the test provokes are expected.
        if (/Failed to load resource: the server responded with a status of 4\d\d/.test(msg.text()) && expectedErrors.size > 0) return;
        problems.push(`console.${msg.type()}: ${msg.text()}`);
      });
      page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
      page.on("requestfailed", (req) => {
        // Polls cut short by a navigation are not failures.
        if (!/net::ERR_ABORTED/.test(req.failure()?.errorText ?? "")) problems.push(`request failed: ${req.url()}`);
      });
      page.on("response", (res) => {
        if (res.status() >= 400 && ![...expectedErrors].some((p) => res.url().includes(p))) problems.push(`HTTP ${res.status()}: ${res.url()}`);
      });
      await page.goto(`${base}/`);
      await page.waitForSelector('#status[data-state="ready"]', { timeout: 60_000 });
    });

    after(async () => {
      await context?.close();
      server?.kill("SIGTERM");
      if (profile) rmSync(profile, { recursive: true, force: true });
      database?.drop();
    });

    const text = (selector) => page.textContent(selector);
    const t = (name, fn) => test(name, (ctx) => (skip ? ctx.skip(skip) : fn()));

    t("the workspace loads templates, the schema and every customer", async () => {
      assert.match(await text("#template-list"), /Welcome/);
      assert.match(await text("#template-meta"), /first_name/);
      assert.equal(await text("#match-count"), "1000");
      await page.waitForFunction(() => document.querySelector("#customer-caption").textContent.startsWith("1000 customers"));
      assert.equal(await page.locator("#customer-table tbody tr").count(), 20);
      await page.click("#page-next");
      await page.waitForFunction(() => document.querySelector("#page-info").textContent.startsWith("Page 2 of 50"));
    });

    t("template search is the server's (accents optional)", async () => {
      await page.fill("#template-search", "expedition");
      await page.waitForFunction(() => document.querySelectorAll("#template-list .card").length === 1);
      assert.match(await text("#template-list"), /Expédition/);
      await page.fill("#template-search", "");
      await page.waitForFunction(() => document.querySelectorAll("#template-list .card").length > 1);
    });

    t("a filter built in the page gives the API's live count", async () => {
      await page.click("#add-condition");
      await page.selectOption("#conditions .condition:last-child select.field", "city");
      await page.selectOption("#conditions .condition:last-child select.op", "contains");
      await page.locator("#conditions .condition:last-child input.value").pressSequentially("lyon", { delay: 20 });
      await page.waitForFunction(() => Number(document.querySelector("#match-count").textContent) < 1000);
      const shown = Number(await text("#match-count"));
      const api = await call("POST", "/api/customers/count", { where: { and: [{ field: "city", op: "contains", value: "lyon" }] } });
      assert.equal(api.status, 200);
      assert.equal(shown, api.body.count);
      assert.ok(shown > 0);
      // The customer list follows the filter; search and sort narrow and order it.
      await page.waitForFunction((n) => document.querySelector("#customer-caption").textContent.startsWith(`${n} customers`), shown);
      await page.selectOption("#customer-sort", "first_name");
      await page.selectOption("#customer-direction", "asc");
      const sorted = await call("POST", "/api/customers/query", {
        where: { and: [{ field: "city", op: "contains", value: "lyon" }] },
        sort: [{ field: "first_name", direction: "asc", nulls: "last" }], limit: 20, offset: 0, count: true,
      });
      const expected = sorted.body.rows.map((r) => String(r.id)).join(",");
      await page.waitForFunction((ids) => [...document.querySelectorAll("#customer-table tbody tr td:first-child")].map((td) => td.textContent).join(",") === ids, expected);
      // Search narrows the list (and leaves the audience alone).
      await page.fill("#customer-search", "zoë");
      await page.waitForFunction(() => /matching “zoë”/.test(document.querySelector("#customer-caption").textContent));
      const found = await call("POST", "/api/customers/query", { where: { and: [{ field: "city", op: "contains", value: "lyon" }] }, search: "zoë", count: true, limit: 1 });
      assert.match(await text("#customer-caption"), new RegExp(`^${found.body.total} customers`));
      assert.equal(await text("#match-count"), String(shown));
      await page.fill("#customer-search", "");
    });

    t("the page's preview (WebAssembly) is exactly the server's", async () => {
      const template = await page.inputValue("#template-editor");
      const purpose = await page.inputValue("#purpose");
      await page.waitForFunction((n) => Number(document.querySelector("#sum-recipients").textContent) + Number(document.querySelector("#sum-excluded").textContent) === n, Number(await text("#match-count")));
      const server = await call("POST", "/api/preview", { template, purpose, where: { and: [{ field: "city", op: "contains", value: "lyon" }] } });
      assert.equal(server.status, 200, JSON.stringify(server.body));
      const s = server.body.summary;
      assert.equal(Number(await text("#sum-recipients")), s.recipients);
      assert.equal(Number(await text("#sum-segments")), s.segments);
      assert.equal(await text("#sum-cost"), `${s.cost} ${s.currency}`);
      // Typing an emoji makes every message UCS-2 in the page and on the server alike.
      const editor = page.locator("#template-editor");
      await editor.click();
      await page.keyboard.press("End");
      await page.keyboard.type(" 🎉", { delay: 10 });
      await page.waitForFunction(() => /GSM-7 0 /.test(document.querySelector("#sum-encoding").textContent));
      const emoji = await call("POST", "/api/preview", { template: await page.inputValue("#template-editor"), purpose, where: { and: [{ field: "city", op: "contains", value: "lyon" }] } });
      assert.equal(await text("#sum-cost"), `${emoji.body.summary.cost} ${emoji.body.summary.currency}`);
      assert.ok((await page.$$eval("#preview-table mark", (n) => n.length)) > 0, "the emoji is highlighted");
      assert.match(await text("#excluded-table"), /noConsent|optedOut|noPhone|invalidPhone|duplicatePhone|missingVariable/);
    });

    t("an invalid filter shows an alert a person understands", async () => {
      expectedErrors.add("/api/customers/");
      await page.click("#add-condition");
      await page.selectOption("#conditions .condition:last-child select.field", "date_create");
      await page.selectOption("#conditions .condition:last-child select.op", "withinLastDays");
      await page.locator("#conditions .condition:last-child input.value").pressSequentially("soon", { delay: 20 });
      const alert = page.locator("#filter-error[role=alert]");
      await alert.filter({ hasText: /not valid/ }).waitFor();
      assert.match(await alert.textContent(), /The filter is not valid: .*days/i);
      await page.click("#conditions .condition:last-child .remove");
      await page.waitForFunction(() => document.querySelector("#filter-error").textContent === "");
      expectedErrors.clear();
    });

    t("saved filters: save, share, export and import", async () => {
      await page.fill("#saved-name", `Lyon ${label}`);
      await page.click("#saved-save");
      await page.waitForFunction(() => /Saved/.test(document.querySelector("#saved-result").textContent));
      await page.fill("#share-users", OTHER_USER);
      await page.click("#saved-share");
      await page.waitForFunction(() => /shared with 1/.test(document.querySelector("#saved-result").textContent));
      const listed = await call("GET", "/api/saved-filters");
      const mine = listed.body.find((f) => f.name === `Lyon ${label}`);
      assert.deepEqual(mine.visibility, { type: "shared", users: [OTHER_USER] });
      const [download] = await Promise.all([page.waitForEvent("download"), page.click("#saved-export")]);
      const file = JSON.parse(readFileSync(await download.path(), "utf8"));
      assert.equal(file.format, "smsbatch.savedFilters");
      assert.ok(file.filters.some((f) => f.name === `Lyon ${label}`));
      const path = join(profile, "import.json");
      writeFileSync(path, JSON.stringify(file));
      await page.setInputFiles("#saved-import", path);
      await page.waitForFunction(() => /Imported 1 filter/.test(document.querySelector("#saved-result").textContent));
      assert.equal((await call("GET", "/api/saved-filters")).body.filter((f) => f.name === `Lyon ${label}`).length, 2);
      // Loading a saved filter fills the builder and the count.
      await page.click("#conditions .condition:last-child .remove");
      await page.waitForFunction(() => document.querySelector("#match-count").textContent === "1000");
      await page.selectOption("#saved-select", { label: `Lyon ${label} (shared with 1)` });
      await page.waitForFunction(() => Number(document.querySelector("#match-count").textContent) < 1000);
    });

    t("axe-core: no serious or critical violation on the workspace", async () => {
      await page.screenshot({ path: join(RESULTS, `workspace-${label}.png`), fullPage: true });
      assert.deepEqual(await axeViolations(page), []);
    });

    /** Creates a batch of every customer with the order message from the workspace. */
    async function createBatch(options) {
      await page.goto(`${base}/`);
      await page.waitForSelector('#status[data-state="ready"]');
      await page.waitForFunction(() => document.querySelector("#match-count").textContent === "1000");
      await page.click("#template-list .card >> text=Order ready for pickup");
      await page.waitForFunction(() => document.querySelector("#purpose").value === "transactional");
      await page.waitForFunction(() => Number(document.querySelector("#sum-recipients").textContent) > 500);
      const recipients = Number(await text("#sum-recipients"));
      const cost = await text("#sum-cost");
      await page.click("#step-preview details summary");
      await page.fill("#send-options", JSON.stringify(options));
      await page.click("#send");
      await page.waitForSelector("#send-result[data-batch]");
      const id = await page.getAttribute("#send-result", "data-batch");
      return { id, recipients, cost };
    }

    t("a batch of 500+ is sent and the dashboard follows it to completed", async () => {
      // Fast fake-provider settings: no rate limit, verification at once.
      const { id, recipients, cost } = await createBatch({ verifyAfterSeconds: 0 });
      assert.ok(recipients >= 500, `${recipients} recipients`);
      await page.click("#batch-link");
      await page.waitForSelector('#status[data-state="ready"]');
      await page.waitForFunction((b) => document.querySelector(`#batch-table tr[data-id="${b}"]`), id);
      await page.waitForFunction(() => document.querySelector("#detail-state").dataset.state === "completed", null, { timeout: 120_000 });
      // One more poll, then the page's numbers are the API's.
      await page.waitForTimeout(1500);
      const api = (await call("GET", `/api/batches/${id}`)).body;
      assert.equal(api.batch.state, "completed");
      assert.equal(api.counts.delivered, recipients, "every previewed recipient got the message");
      assert.equal(Number(await text("#d-total")), recipients);
      assert.equal(Number(await text("#d-delivered")), api.counts.delivered);
      assert.equal(Number(await text("#d-failed")), api.counts.failed);
      assert.equal(Number(await text("#d-excluded")), Object.values(api.excluded).reduce((a, b) => a + b, 0));
      assert.equal(1000 - recipients, Number(await text("#d-excluded")), "the exclusions are the preview's");
      // The cost so far is exactly the preview's estimate once everything is sent.
      assert.equal(`${await text("#d-cost")}`, cost);
      assert.equal(await page.getAttribute(".progress", "aria-valuenow"), "100");
      // The history searches.
      await page.fill("#message-search", "+44");
      await page.waitForFunction(() => {
        const phones = [...document.querySelectorAll("#message-table tbody tr td:nth-child(3)")].map((td) => td.textContent);
        return phones.length > 0 && phones.every((p) => p.includes("+44"));
      });
      // The service level is met, objective by objective, as the API's report says.
      await page.waitForFunction(() => document.querySelector("#sla-status").dataset.status === "met", null, { timeout: 30_000 });
      // The charts are drawn from that report (it covers the whole batch).
      assert.ok(await page.locator("#chart-throughput polyline").count() > 0);
      const report = (await call("GET", `/api/batches/${id}/report`)).body;
      assert.equal(report.report.sla.met, true);
      assert.equal(await page.locator("#sla-objectives li[data-status=met]").count(), report.report.sla.objectives.length);
      assert.equal(report.report.cost.estimated, cost.split(" ")[0]);
      // The CSV export downloads and parses: one row per message, all delivered.
      const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export")]);
      const [header, ...rows] = parseCsv(readFileSync(await download.path(), "utf8"));
      assert.deepEqual(header.slice(0, 4), ["id", "batchId", "customerId", "phone"]);
      assert.equal(rows.length, recipients);
      assert.ok(rows.every((r) => r.length === header.length), "every row has every column");
      const col = (name) => header.indexOf(name);
      assert.ok(rows.every((r) => r[col("status")] === "delivered"));
      assert.ok(rows.every((r) => r[col("batchId")] === id));
      assert.ok(rows.every((r) => r[col("body")].includes("your order is ready")));
      assert.equal(new Set(rows.map((r) => r[col("phone")])).size, recipients, "one message per number");
      // The excluded recipients export too.
      await page.selectOption("#export-what", "excluded");
      const [excludedFile] = await Promise.all([page.waitForEvent("download"), page.click("#export")]);
      assert.equal(parseCsv(readFileSync(await excludedFile.path(), "utf8")).length - 1, 1000 - recipients);
      await page.screenshot({ path: join(RESULTS, `dashboard-${label}.png`), fullPage: true });
    });

    t("a second batch is paused and resumed from the dashboard", async () => {
      // Slow enough to catch while sending: 25 segments a second.
      const { id } = await createBatch({ verifyAfterSeconds: 0, rate: { segmentsPerSecond: 25 } });
      await page.click("#batch-link");
      await page.waitForSelector('#status[data-state="ready"]');
      await page.waitForFunction(() => document.querySelector("#detail-state").dataset.state === "sending", null, { timeout: 60_000 });
      await page.waitForFunction(() => Number(document.querySelector("#d-delivered").textContent) + Number(document.querySelector("#d-sent").textContent) > 0, null, { timeout: 60_000 });
      await page.click("#pause");
      await page.waitForFunction(() => document.querySelector("#detail-state").dataset.state === "paused");
      const paused = (await call("GET", `/api/batches/${id}`)).body;
      assert.equal(paused.batch.state, "paused");
      assert.equal(paused.batch.pauseReason, "operator");
      assert.ok(paused.counts.pending > 0, "paused before the end");
      await page.waitForTimeout(1500);
      const still = (await call("GET", `/api/batches/${id}`)).body;
      assert.equal(still.counts.pending, paused.counts.pending, "nothing is claimed while paused");
      await page.click("#resume");
      await page.waitForFunction(() => document.querySelector("#detail-state").dataset.state === "sending");
      await page.waitForFunction((n) => Number(document.querySelector("#d-pending").textContent) < n, paused.counts.pending + paused.counts.processing, { timeout: 60_000 });
      // Cancel the rest (the sends under way finish, nothing else is sent).
      await page.click("#cancel");
      await page.waitForFunction(() => document.querySelector("#detail-state").dataset.state === "cancelled");
      await page.waitForFunction(() => Number(document.querySelector("#d-cancelled").textContent) > 0);
      const done = (await call("GET", `/api/batches/${id}`)).body;
      assert.equal(done.batch.state, "cancelled");
      assert.equal(done.counts.pending, 0);
    });

    t("axe-core: no serious or critical violation on the dashboard", async () => {
      assert.deepEqual(await axeViolations(page), []);
    });

    t("no unexpected console error, failed request or page error", async () => {
      assert.deepEqual(problems, []);
    });
  });
}

flow("memory", async () => ({ args: ["--user", DEMO_USER], headers: {} }));

// Failures, the service level, "Retry failed", scheduling and an audience larger than the page
// holds, on a server of its own: 12,000 generated customers and a fake provider failing about
// one send in ten with a retryable code (30008), so the default SLA (at least 95% delivered, at
// most 5% errors) is violated and a retry has something to requeue.
describe("the web app with failures and a large audience", () => {
  let server;
  let base;
  let context;
  let page;
  let profile;
  const problems = [];

  async function call(method, path, body) {
    const r = await fetch(`${base}${path}`, {
      method,
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  }

  async function until(what, check, ms = 60_000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = await check();
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  before(async () => {
    ({ child: server, url: base } = await startServer([
      "--user", DEMO_USER, "--sample", "12000", "--fake-fail-one-in", "10", "--fake-fail-code", "30008",
    ]));
    profile = mkdtempSync(join(tmpdir(), "smsbatch-app-chromium-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: "/usr/bin/chromium", headless: true, args: CHROMIUM_ARGS, viewport: { width: 1400, height: 1800 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    page.on("console", (msg) => { if (msg.type() === "error") problems.push(`console.error: ${msg.text()}`); });
    page.on("response", (res) => { if (res.status() >= 400) problems.push(`HTTP ${res.status()}: ${res.url()}`); });
  });

  after(async () => {
    await context?.close();
    server?.kill("SIGTERM");
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  test("a batch with failures: charts from the report, the SLA violated with an alert, Retry failed", async () => {
    // About 600 recipients at 200 segments a second: a few seconds, so the charts have windows.
    const created = await call("POST", "/api/batches", {
      templateId: "order-ready", purpose: "transactional",
      where: { field: "id", op: "lte", value: 700 },
      options: { verifyAfterSeconds: 0, maxAttempts: 1, errorRatePause: 1, rate: { segmentsPerSecond: 200 } },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id;
    await page.goto(`${base}/dashboard#${id}`);
    await page.waitForSelector('#status[data-state="ready"]');
    await page.waitForFunction(() => document.querySelector("#detail-state").dataset.state === "completed", null, { timeout: 60_000 });
    const before = (await call("GET", `/api/batches/${id}`)).body;
    assert.ok(before.counts.failed > 0, JSON.stringify(before.counts));
    // The service level is violated: the badge, an objective, and an alert a person reads.
    await page.waitForFunction(() => document.querySelector("#sla-status").dataset.status === "violated", null, { timeout: 30_000 });
    assert.ok(await page.locator("#sla-objectives li[data-status=violated]").count() > 0);
    const alert = page.locator("#alerts [role=alert]").filter({ hasText: /misses its service level/ });
    await alert.waitFor();
    assert.match(await alert.textContent(), new RegExp(`Batch ${id.slice(0, 8)} misses its service level: .+`));
    const report = (await call("GET", `/api/batches/${id}/report?window=1`)).body;
    assert.equal(report.report.sla.met, false);
    assert.ok(report.series.windows.length > 1, "the batch spans several windows");
    // The charts are drawn from the report: throughput over several windows, the errors, the cost.
    await page.waitForFunction(() => {
      const line = document.querySelector("#chart-throughput polyline");
      return line && line.getAttribute("points").trim().split(/\s+/).length > 1;
    }, null, { timeout: 15_000 });
    assert.ok(await page.locator("#chart-errors polyline").count() > 0, "the error chart has a line");
    const costPoints = await page.getAttribute("#chart-cost polyline", "points");
    assert.ok(costPoints.trim().split(/\s+/).length > 1, "the cost chart has a line");
    assert.match(await page.getAttribute("#chart-cost svg", "role"), /img/);
    await page.screenshot({ path: join(RESULTS, "dashboard-violated.png"), fullPage: true });
    // Retry failed: the failed messages go back to pending and are sent again.
    await page.waitForFunction(() => !document.querySelector("#retry").disabled);
    await page.click("#retry");
    const after = await until("the retried messages", async () => {
      const d = (await call("GET", `/api/batches/${id}`)).body;
      return d.batch.state === "completed" && d.counts.failed < before.counts.failed ? d : null;
    });
    assert.ok(after.counts.delivered > before.counts.delivered, JSON.stringify(after.counts));
    const log = (await call("GET", `/api/batches/${id}/logs`)).body;
    assert.ok(log.some((l) => l.event === "retryFailed" && new RegExp(`^${before.counts.failed} failed messages requeued`).test(l.message)), JSON.stringify(log.slice(-5)));
    await page.waitForFunction((n) => Number(document.querySelector("#d-failed").textContent) === n, after.counts.failed, { timeout: 15_000 });
  });

  test("a batch scheduled for later shows as scheduled with its time", async () => {
    const sendAt = "2099-01-01T09:00:00Z";
    const created = await call("POST", "/api/batches", { templateId: "order-ready", purpose: "transactional", sendAt, where: { field: "id", op: "lte", value: 50 } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await page.goto(`${base}/dashboard#${created.body.id}`);
    await page.waitForFunction(() => document.querySelector("#detail-state").dataset.state === "scheduled", null, { timeout: 30_000 });
    assert.match(await page.textContent("#detail-reason"), /sends at 2099-01-01T09:00:00Z/);
    // Newest first: it heads the list.
    await page.waitForFunction((b) => document.querySelector("#batch-table tbody tr")?.dataset.id === b, created.body.id);
    await call("POST", `/api/batches/${created.body.id}/cancel`);
  });

  test("past 10,000 customers the workspace shows the server's exact totals", async () => {
    await page.goto(`${base}/`);
    await page.waitForSelector('#status[data-state="ready"]', { timeout: 60_000 });
    assert.equal(await page.textContent("#match-count"), "12000");
    await page.waitForSelector('#exact[data-total="12000"]', { timeout: 30_000 });
    const template = await page.inputValue("#template-editor");
    const purpose = await page.inputValue("#purpose");
    const server = (await call("POST", "/api/preview", { template, purpose, show: 0 })).body.summary;
    assert.equal(server.total, 12000);
    assert.equal(await page.textContent("#exact-cost"), `${server.cost} ${server.currency}`);
    assert.equal(Number(await page.textContent("#exact-recipients")), server.recipients);
    // The browser's own preview covers the first 10,000 and says so.
    assert.match(await page.textContent("#timing"), /first 10000 of 12000 customers/);
  });

  test("no page error, console error or failed request", () => {
    assert.deepEqual(problems, []);
  });
});

flow("postgres", async () => {
  const database = tempDatabase();
  if (!database) return null;
  const token = sign({ sub: DEMO_USER, role: "authenticated", app_metadata: { team_id: "demo" }, exp: Math.floor(Date.now() / 1000) + 3600 });
  return {
    database,
    token,
    headers: { Authorization: `Bearer ${token}` },
    args: ["--database-url", database.url, "--jwt-secret", JWT_SECRET],
  };
});
