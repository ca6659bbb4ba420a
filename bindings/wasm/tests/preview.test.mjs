// Templates and the batch preview through the package: the preview cases of
// tests/data/preview/cases.json and the consent rule of tests/data/preview/consent.json (the same
// files the Rust tests run), exact money, templates, metadata, search, samples and errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { smsbatch, dataJson } from "./support.mjs";

/** Every field of `expected` is in `actual` with the same value (recursively for objects). */
function contains(actual, expected) {
  if (expected && typeof expected === "object" && !Array.isArray(expected)) {
    return actual && typeof actual === "object" && Object.entries(expected).every(([k, v]) => contains(actual[k], v));
  }
  return JSON.stringify(actual) === JSON.stringify(expected);
}

test("every preview case of tests/data/preview/cases.json", () => {
  const cases = dataJson("preview/cases.json");
  assert.ok(cases.length >= 6);
  for (const c of cases) {
    const previewer = new smsbatch.Previewer(new smsbatch.Template(c.template), c.config);
    const preview = previewer.preview(c.rows);
    assert.equal(preview.recipients.length, c.expect.length, c.name);
    preview.recipients.forEach((got, i) => {
      assert.ok(contains(got, c.expect[i]), `${c.name}: row ${i}\n got  ${JSON.stringify(got)}\n want ${JSON.stringify(c.expect[i])}`);
    });
    assert.ok(contains(preview.summary, c.summary), `${c.name}: summary\n got ${JSON.stringify(preview.summary)}`);
  }
});

test("consent: every combination of opted_in and opted_out, suppressed or not, for both purposes", () => {
  const cases = dataJson("preview/consent.json");
  assert.equal(cases.rows.length, 32);
  const template = new smsbatch.Template(cases.template);
  const outcome = (r) => r.excluded ?? (r.text !== undefined ? "included" : `error ${r.error?.kind}`);
  for (const purpose of ["marketing", "transactional"]) {
    const previewer = new smsbatch.Previewer(template, { purpose, suppress: cases.suppress });
    const preview = previewer.preview(cases.rows);
    assert.deepEqual(preview.recipients.map(outcome), cases.expect[purpose], purpose);
    const count = (what) => cases.expect[purpose].filter((w) => w === what).length;
    assert.equal(preview.summary.recipients, count("included"), purpose);
    assert.equal(preview.summary.excluded.noConsent, count("noConsent"), purpose);
    assert.equal(preview.summary.excluded.optedOut, count("optedOut"), purpose);
  }
  // Marketing is the default; without the suppression list the second half is like the first.
  const byDefault = new smsbatch.Previewer(template).preview(cases.rows).recipients.map(outcome);
  assert.deepEqual(byDefault, cases.rows.map((_, i) => cases.expect.marketing[i % 16]));
  // The field names are options too.
  const renamed = new smsbatch.Previewer(template, { idField: "key", phoneField: "mobile", optedInField: "ok", optedOutField: "stop" });
  const got = renamed.preview([
    { key: "a", mobile: "+447400123456", name: "A", ok: "yes" },
    { key: "b", mobile: "+447400123457", name: "B", ok: true, stop: true },
    { key: "c", mobile: "+447400123458", name: "C", opted_in: true },
  ]).recipients;
  assert.deepEqual(got.map(outcome), ["included", "optedOut", "noConsent"]);
  assert.equal(got[0].id, "a");
  assert.throws(() => new smsbatch.Previewer(template, { purpose: "promotional" }), (e) => e.kind === "invalidInput");
});

test("money is exact: costs are decimal strings, totals never drift, overflow is an error", () => {
  const template = new smsbatch.Template("{{msg}}");
  const rows = Array.from({ length: 1000 }, (_, i) => ({ id: i, phone: `+4474001${String(i).padStart(5, "0")}`, msg: "hi", opted_in: true }));
  const tenth = new smsbatch.Previewer(template, { prices: { currency: "USD", default: { "GSM-7": 0.1, "UCS-2": "0.1" } } });
  const preview = tenth.preview(rows);
  assert.equal(preview.recipients[0].cost, "0.1");
  // A thousand × 0.1 in doubles is 99.9999999999986; here it is exactly 100.
  assert.equal(preview.summary.cost, "100");
  assert.equal(preview.summary.byEncoding["GSM-7"].cost, "100");
  const huge = new smsbatch.Previewer(template, { prices: { currency: "XTS", default: { "GSM-7": "18446744073709551615", "UCS-2": 1 } } });
  assert.equal(huge.preview(rows.slice(0, 3)).summary.cost, "55340232221128654845");
  const tooBig = new smsbatch.Previewer(template, { prices: { currency: "XTS", default: { "GSM-7": "200000000000000000000000000000", "UCS-2": 1 } } });
  assert.throws(() => tooBig.preview(rows.slice(0, 2)), (e) => e.kind === "amountOverflow" && /largest amount/.test(e.message));
  assert.throws(
    () => new smsbatch.Previewer(template, { prices: { currency: "USD", default: { "GSM-7": 0.12345678901234567, "UCS-2": 1 } } }),
    (e) => e.kind === "invalidInput" && /significant digits|decimal places/.test(e.message),
  );
});

test("templates: plain text, variables, syntax errors with line and column", () => {
  const t = new smsbatch.Template("Hi {{capitalize first_name}} & co <b>, {{#if vip}}VIP {{/if}}code {{code}}");
  assert.deepEqual(t.variables, ["first_name", "vip", "code"]);
  assert.equal(t.render({ first_name: "zoë", vip: true, code: 7 }), "Hi Zoë & co <b>, VIP code 7");
  assert.throws(() => t.render({ first_name: "a" }), (e) => e.kind === "missingVariable" && e.variable === "code");
  assert.throws(
    () => new smsbatch.Template("Hi {{first_name}},\nyour code is {{code}"),
    (e) => e.name === "SmsbatchError" && e.kind === "templateSyntax" && e.line === 2 && e.column === 20,
  );
  const meta = t.metadata({ smartEncoding: false });
  assert.equal(meta.minSegments, 1);
  assert.equal(meta.encoding, "GSM-7");
});

test("template search ignores case and accents, name matches first", () => {
  const at = "2025-01-01T00:00:00Z";
  const records = [
    { id: "1", name: "Order shipped", body: "Votre commande est expédiée", createdAt: at, updatedAt: at },
    { id: "2", name: "Expedition update", body: "Hi {{first_name}}", createdAt: at, updatedAt: at },
    { id: "3", name: "Birthday", body: "Happy birthday!", createdAt: at, updatedAt: at },
  ];
  assert.deepEqual(smsbatch.searchTemplates(records, "EXPEDI").map((r) => r.id), ["2", "1"]);
  assert.deepEqual(smsbatch.searchTemplates(records, "nothing"), []);
});

test("seeded samples pick the same recipients every time, in input order", () => {
  const rows = Array.from({ length: 500 }, (_, i) => ({ id: i, phone: `+4474001${String(i).padStart(5, "0")}`, name: `n${i}`, opted_in: true }));
  const previewer = new smsbatch.Previewer(new smsbatch.Template("Hi {{name}}"));
  const a = previewer.sample(rows, { seeded: { size: 20, seed: 42 } });
  const b = previewer.sample(rows, { seeded: { size: 20, seed: 42 } });
  const c = previewer.sample(rows, { seeded: { size: 20, seed: 43 } });
  const ids = (p) => p.recipients.map((r) => r.id);
  assert.deepEqual(ids(a), ids(b));
  assert.notDeepEqual(ids(a), ids(c));
  assert.equal(a.recipients.length, 20);
  assert.deepEqual(ids(a), [...ids(a)].sort((x, y) => x - y));
  assert.deepEqual(ids(previewer.sample(rows, { first: 3 })), [0, 1, 2]);
});

test("the browser build accepts only E.164 phones, and says why", () => {
  const previewer = new smsbatch.Previewer(new smsbatch.Template("Hi"), { purpose: "transactional" });
  const { recipients } = previewer.preview([
    { id: 1, phone: "07400 123456" },
    { id: 2, phone: "+447400123456" },
  ]);
  assert.equal(recipients[0].excluded, "invalidPhone");
  assert.match(recipients[0].detail, /E\.164/);
  assert.equal(recipients[1].phone, "+447400123456");
});

test("bad options and missing-variable failures throw", () => {
  const template = new smsbatch.Template("Hi {{name}}");
  assert.throws(() => new smsbatch.Previewer(template, { missng: "fail" }), (e) => e.kind === "invalidInput");
  const strict = new smsbatch.Previewer(template, { missing: "fail" });
  assert.throws(() => strict.preview([{ id: "c-1", phone: "+447400123456", opted_in: true }]), (e) => e.kind === "missingVariable" && e.id === "c-1");
});

test("previewRows over rows converted once gives the same preview as the array", () => {
  const customers = Array.from({ length: 60 }, (_, i) => ({ id: i, phone: `+4474001${String(i % 50).padStart(5, "0")}`, first_name: i % 7 ? `n${i}` : null, city: i % 3 ? "Lyon" : "Köln" }));
  const rows = new smsbatch.Rows(customers);
  const previewer = new smsbatch.Previewer(new smsbatch.Template("Hi {{default first_name \"you\"}} in {{city}}"));
  assert.deepEqual(previewer.previewRows(rows), previewer.preview(customers));
  const filter = new smsbatch.Filter({ field: "city", op: "equals", value: "Köln" });
  const selection = filter.select(rows);
  assert.deepEqual(previewer.previewRows(rows, selection), previewer.preview(selection.map((i) => customers[i])));
  assert.deepEqual(previewer.previewRows(rows, Uint32Array.from(selection)), previewer.preview(selection.map((i) => customers[i])));
  assert.throws(() => previewer.previewRows(rows, [60]), (e) => e.kind === "invalidInput" && /past the 60 rows/.test(e.message));
});

test("a deeply nested template is a syntax error, and the module keeps working (regression)", () => {
  const n = 1500;
  for (const body of [
    `{{upper ${"(lower ".repeat(n)}x${")".repeat(n)}}}`,
    `${"{{#if a}}".repeat(n)}x${"{{/if}}".repeat(n)}`,
  ]) {
    assert.throws(() => new smsbatch.Template(body), (e) => e.kind === "templateSyntax" && /nested more than 32/.test(e.message));
  }
  assert.equal(new smsbatch.Template("Hi {{name}}").render({ name: "Ana" }), "Hi Ana");
});

test("hostile templates: hidden nesting, huge output and nested loops are bounded (issue 10)", () => {
  const n = 8000;
  for (const body of [
    `{{default [a"] ${"(upper ".repeat(n)}name${")".repeat(n)}}}`,
    `{{!-- x }} {{upper ${"(upper ".repeat(n)}name${")".repeat(n)}}}`,
  ]) {
    assert.throws(() => new smsbatch.Template(body), (e) => e.kind === "templateSyntax" && /nested more than 32/.test(e.message));
  }
  const big = "x".repeat(1 << 20);
  assert.throws(() => new smsbatch.Template("{{x}}".repeat(10000)).render({ x: big }), (e) => e.kind === "renderTooLong" && e.maxBytes === 262144);
  const loops = `${"{{#each @root.a}}".repeat(5)}${"{{/each}}".repeat(5)}`;
  const a = Array.from({ length: 100 }, (_, i) => i);
  assert.throws(() => new smsbatch.Template(loops).render({ a }), (e) => e.kind === "renderBudget" && e.maxSteps === 100000);
  assert.equal(new smsbatch.Template("Hi {{name}}").render({ name: "Ana" }), "Hi Ana");
});

test("a render past the output cap excludes the recipient as tooManySegments naming the cap; the other rows keep their lines (issue 10, item 2)", () => {
  const big = "x".repeat(100_000);
  for (const body of ["{{x}}{{x}}{{x}}", "{{#if x}}{{x}}{{x}}{{x}}{{/if}}"]) {
    const previewer = new smsbatch.Previewer(new smsbatch.Template(body));
    const row = (id, x) => ({ id, phone: `+44740012345${id}`, opted_in: true, x });
    const preview = previewer.preview([row(1, "a"), row(2, big), row(3, "b")]);
    const [first, capped, last] = preview.recipients;
    assert.equal(first.text, "aaa", body);
    assert.equal(capped.excluded, "tooManySegments", body);
    assert.match(capped.detail, /262144/, body);
    assert.equal(last.text, "bbb", body);
    assert.equal(preview.summary.excluded.tooManySegments, 1, body);
    assert.equal(preview.summary.recipients, 2, body);
  }
});
