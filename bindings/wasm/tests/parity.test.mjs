// Property-style parity with the native library: thousands of generated texts, rows and filters go
// through the package and through the `smsbatch` command line (the native build of the same core),
// and every answer must be identical.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { smsbatch } from "./support.mjs";

const root = fileURLToPath(new URL("../../../", import.meta.url));

/** The native command line, built once (cargo is a no-op when it is up to date), from wherever
 * cargo puts build output (CARGO_TARGET_DIR may move it out of `target/`). */
function cli() {
  execFileSync("cargo", ["build", "--quiet", "--features", "cli", "--bin", "smsbatch"], { cwd: root, stdio: "inherit" });
  const metadata = JSON.parse(execFileSync("cargo", ["metadata", "--format-version", "1", "--no-deps"], { cwd: root, encoding: "utf8", maxBuffer: 1 << 26 }));
  return join(metadata.target_directory, "debug/smsbatch");
}

function runCli(args, input) {
  const out = execFileSync(cli(), args, { input, encoding: "utf8", maxBuffer: 1 << 28 });
  return out.trim().split("\n").map((line) => JSON.parse(line));
}

/** mulberry32: a small seeded generator, so a failure can be replayed. */
export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1));
  const pick = (items) => items[Math.floor(next() * items.length)];
  return { next, int, pick };
}

const PIECES = [
  "a", "Hello ", "world", " ", "é", "Ç", "ç", "€", "[", "]", "{", "}", "~", "^", "|", "\\", "\f", "\n", "\r\n",
  "😀", "👍🏽", "🇬🇧", "👨‍👩‍👧", "❤️‍🔥", "e\u0301", "क्षि", "中文", "Привет", "Şişli", "ã", "“", "”", "…", "\u00a0", "\t", "`",
  "\u200d", "\ufe0f", "ΔΦΓ", "Α", "\u001b", "x".repeat(70), "y".repeat(150),
];

function randomText(r) {
  const n = r.int(0, 40);
  let s = "";
  for (let i = 0; i < n; i++) s += r.pick(PIECES);
  return s;
}

test("segment counts and parts equal the native library's for 3,000 generated texts", () => {
  const r = rng(2024);
  const texts = Array.from({ length: 3000 }, () => randomText(r));
  const input = texts.map((t) => JSON.stringify(t)).join("\n") + "\n";
  for (const [options, args] of [
    [{}, []],
    [{ split: "codePoints" }, ["--split", "code-points"]],
    [{ nationalLanguages: ["tr", "es", "pt"], smartEncoding: true, ref16: true }, ["--national-languages", "tr,es,pt", "--smart-encoding", "--ref16"]],
  ]) {
    const native = runCli(["segments", ...args], input);
    const segmenter = new smsbatch.Segmenter(options);
    texts.forEach((text, i) => {
      assert.deepEqual(segmenter.segment(text), native[i], `text ${JSON.stringify(text)} with ${JSON.stringify(options)}`);
    });
  }
});

const STRINGS = ["", " ", "Anna", "anna", "ANNA ", " Zoë", "O'Brien", "a,b", "(x)", '"q"', "50%", "_x_", "*", "\\", "+44 7700", "İstanbul", "ß", "中文", "😀"];
const FIELDS = {
  first_name: "string", city: "string", phone: "string", email: "string",
  total_spent: "number", orders_count: "number", birthday: "date", date_create: "timestamp", opted_in: "boolean",
};

function randomValue(r, type) {
  switch (type) {
    case "string": return r.pick(STRINGS);
    case "number": return r.pick([0, 1, -3.5, 10, 99.99, 1000]);
    case "date": return r.pick(["2024-01-01", "2024-02-29", "1990-12-31", "2025-06-15"]);
    case "timestamp": return r.pick(["2024-01-01T00:00:00Z", "2024-06-01T12:30:00+02:00", "2025-06-15T10:00:00Z", "2024-02-29"]);
    default: return r.pick([true, false]);
  }
}

function randomRow(r, id) {
  const row = { id };
  for (const [field, type] of Object.entries(FIELDS)) {
    const roll = r.next();
    if (roll < 0.2) row[field] = null;
    else if (roll < 0.3) continue;
    else if (type === "timestamp" && r.next() < 0.5) row[field] = r.pick(["2024-01-01T00:00:00Z", "2024-03-10T08:00:00Z", "2025-06-14T23:59:59Z"]);
    else row[field] = type === "date" || type === "timestamp" ? r.pick(["2024-01-01", "2024-02-29", "1990-12-31", "2025-06-15"]) + (type === "timestamp" ? "T10:00:00Z" : "") : randomValue(r, type);
  }
  return row;
}

const OPS = {
  string: ["equals", "notEquals", "in", "notIn", "isEmpty", "isNotEmpty", "contains", "notContains", "startsWith", "notStartsWith", "endsWith", "notEndsWith"],
  number: ["equals", "notEquals", "in", "notIn", "isEmpty", "isNotEmpty", "gt", "gte", "lt", "lte", "between", "notBetween"],
  date: ["equals", "notEquals", "gt", "gte", "lt", "lte", "between", "notBetween", "withinLastDays", "notWithinLastDays", "isEmpty"],
  timestamp: ["equals", "notEquals", "gt", "gte", "lt", "lte", "between", "notBetween", "withinLastDays", "notWithinLastDays", "isNotEmpty"],
  boolean: ["equals", "notEquals", "isTrue", "isFalse", "isNotTrue", "isNotFalse", "isEmpty"],
};

function randomCondition(r) {
  const field = r.pick(Object.keys(FIELDS));
  const type = FIELDS[field];
  const op = r.pick(OPS[type]);
  const condition = { field, op };
  if (["in", "notIn"].includes(op)) condition.value = Array.from({ length: r.int(0, 3) }, () => randomValue(r, type));
  else if (["between", "notBetween"].includes(op)) condition.value = [randomValue(r, type), randomValue(r, type)].sort();
  else if (op.endsWith("LastDays")) condition.value = r.int(0, 800);
  else if (!op.startsWith("is")) condition.value = randomValue(r, type === "timestamp" ? "timestamp" : type);
  return condition;
}

function randomFilter(r, depth = 0) {
  const roll = r.next();
  if (depth > 2 || roll < 0.5) return randomCondition(r);
  if (roll < 0.65) return { not: randomFilter(r, depth + 1) };
  const kids = Array.from({ length: r.int(1, 3) }, () => randomFilter(r, depth + 1));
  return roll < 0.83 ? { and: kids } : { or: kids };
}

test("filter matches and PostgREST/SQL compilation equal the native library's for 2,000 generated filters", () => {
  const r = rng(7);
  const rows = Array.from({ length: 300 }, (_, i) => randomRow(r, i + 1));
  const filters = Array.from({ length: 2000 }, () => randomFilter(r));
  const now = "2025-06-15T12:00:00Z";
  const dir = mkdtempSync(join(tmpdir(), "smsbatch-parity-"));
  try {
    const rowsFile = join(dir, "rows.json");
    writeFileSync(rowsFile, JSON.stringify(rows));
    const input = filters.map((f) => JSON.stringify(f)).join("\n") + "\n";
    const nativeIds = runCli(["filter", "--now", now, "--eval", rowsFile], input);
    const nativeCompiled = runCli(["filter", "--now", now], input);
    const table = new smsbatch.Rows(rows);
    let selective = 0;
    filters.forEach((f, i) => {
      const where = JSON.stringify(f);
      if (nativeIds[i].error) {
        assert.throws(() => new smsbatch.Filter(f, { now }), (e) => e.kind === nativeIds[i].error.kind, where);
        return;
      }
      const filter = new smsbatch.Filter(f, { now });
      const ids = filter.select(table).map((k) => rows[k].id);
      assert.deepEqual(ids, nativeIds[i].ids, where);
      assert.deepEqual(filter.postgrest(), nativeCompiled[i].postgrest, where);
      assert.equal(filter.queryString(), nativeCompiled[i].query, where);
      assert.deepEqual(filter.sqlWhere(), nativeCompiled[i].sql, where);
      assert.equal(filter.count(table), ids.length);
      if (ids.length > 0 && ids.length < rows.length) selective++;
    });
    // The generator must produce filters that separate rows, or the comparison proves little.
    assert.ok(selective > 500, `only ${selective} selective filters`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const NAMES = ["Ana", "zoë", "JOSÉ", "Łukasz", "Ömer", "Renée", "李", "Ἀθηνᾶ", "O'Brien", "a&b<c>", "", " ", "😀 Sam", "Ça", "ça", "x".repeat(90)];
const TEMPLATES = [
  "Hi {{first_name}}, your code is {{code}}.",
  "{{capitalize first_name}} {{upper city}}: {{truncate note 20}} {{default nick \"friend\"}}",
  "Dear {{default first_name \"customer\"}},{{#if vip}} VIP{{/if}} order {{code}} ships {{date shipped \"%d/%m/%Y\"}} {{lower city}}",
  "{{#each items}}{{this}}; {{/each}}total {{code}} €",
  "Plain text without variables & symbols < > \"",
];

function randomCustomer(r, i) {
  const row = { id: r.next() < 0.2 ? `c-${i}` : i, phone: `+4474001${String(i).padStart(5, "0")}` };
  if (r.next() < 0.05) row.phone = `+4474001${String(r.int(0, i)).padStart(5, "0")}`;
  if (r.next() < 0.05) delete row.phone;
  if (r.next() < 0.05) row.opted_out = true;
  const maybe = (key, value) => {
    const roll = r.next();
    if (roll < 0.1) return;
    row[key] = roll < 0.15 ? null : value;
  };
  maybe("opted_in", r.next() < 0.85);
  maybe("first_name", r.pick(NAMES));
  maybe("city", r.pick(["Lyon", "São Paulo", "İzmir", "köln", ""]));
  maybe("note", r.pick(NAMES) + r.pick(NAMES));
  maybe("nick", r.pick(NAMES));
  maybe("code", r.int(0, 99999));
  maybe("vip", r.next() < 0.5);
  maybe("shipped", r.pick(["2025-06-15", "2024-02-29T10:00:00Z", "2025-01-01T23:59:59+02:00"]));
  maybe("items", Array.from({ length: r.int(0, 3) }, () => r.pick(NAMES)));
  return row;
}

test("rendered previews equal the native library's for generated templates and 4,000 rows", () => {
  const r = rng(11);
  const rows = Array.from({ length: 800 }, (_, i) => randomCustomer(r, i));
  const dir = mkdtempSync(join(tmpdir(), "smsbatch-preview-"));
  try {
    const customers = join(dir, "customers.json");
    writeFileSync(customers, JSON.stringify(rows));
    const prices = join(dir, "prices.json");
    const table = { currency: "EUR", default: { "GSM-7": 0.05, "UCS-2": 0.07 }, byCountry: { "44": { "GSM-7": 0.04, "UCS-2": 0.045 } } };
    writeFileSync(prices, JSON.stringify(table));
    let compared = 0;
    for (const [k, body] of TEMPLATES.entries()) {
      const purpose = k % 2 ? "transactional" : "marketing";
      const file = join(dir, "template.hbs");
      writeFileSync(file, body);
      const native = runCli(["preview", "--template", file, "--customers", customers, "--price", prices, "--purpose", purpose], "");
      const previewer = new smsbatch.Previewer(new smsbatch.Template(body), { prices: table, purpose });
      const preview = previewer.preview(rows);
      assert.equal(native.length, rows.length + 1, body);
      preview.recipients.forEach((got, i) => {
        const want = native[i];
        if (want.error) {
          assert.equal(got.error?.kind, want.error.kind, `${body} row ${i}`);
          return;
        }
        const keys = Object.keys(want);
        const picked = Object.fromEntries(keys.map((k) => [k, got[k]]));
        assert.deepEqual(picked, want, `${body} row ${i}: ${JSON.stringify(rows[i])}`);
        compared++;
      });
      const summary = native[rows.length].summary;
      for (const key of ["total", "recipients", "excluded", "segments", "cost", "currency", "byEncoding", "histogram"]) {
        assert.deepEqual(preview.summary[key], summary[key], `${body}: summary.${key}`);
      }
    }
    assert.ok(compared > 3000, `only ${compared} rows compared`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a seeded sample picks the same recipients in the package as on the server", () => {
  const r = rng(5);
  const rows = Array.from({ length: 700 }, (_, i) => randomCustomer(r, i));
  const dir = mkdtempSync(join(tmpdir(), "smsbatch-sample-"));
  try {
    const customers = join(dir, "customers.json");
    writeFileSync(customers, JSON.stringify(rows));
    const body = "Hi {{default first_name \"you\"}}";
    const previewer = new smsbatch.Previewer(new smsbatch.Template(body));
    for (const [size, seed] of [[20, 7], [1, 0], [50, 123456789], [700, 3]]) {
      const native = runCli(["preview", "--body", body, "--customers", customers, "--sample", String(size), "--seed", String(seed)], "");
      const nativeIds = native.slice(0, -1).map((line) => line.id ?? line.error);
      const ours = previewer.sample(rows, { seeded: { size, seed } }).recipients.map((p) => p.id);
      assert.deepEqual(ours, nativeIds, `size ${size} seed ${seed}`);
      assert.equal(ours.length, size);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
