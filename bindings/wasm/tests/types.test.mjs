// The TypeScript declarations (src/types.rs and wasm-bindgen's own) checked against real results:
// every value below comes from the package, is written into a TypeScript file as an object literal
// typed with the declared interface, and `tsc --strict` must accept it. Excess properties (a field
// the declarations lack) and missing required ones both fail, so declarations cannot drift from
// the core's serde shapes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { smsbatch, dataJson } from "./support.mjs";

/** [TypeScript type, value] pairs to check. Each area of the package adds its own. */
export function typedSamples() {
  const plain = new smsbatch.Segmenter();
  const rich = new smsbatch.Segmenter({ nationalLanguages: ["tr", "pt"], smartEncoding: true, split: "codePoints" });
  const samples = [
    ["SegmentCount", plain.count("Hello 😀")],
    ["Segmentation", plain.segment("Hello 😀 ça")],
    ["Segmentation", rich.segment("“Şişli” ç")],
    ["Segmentation", rich.segment("Şişli 😀")],
    ["Required<SegmentOptions>", rich.options],
  ];
  const filter = new smsbatch.Filter(
    { and: [{ field: "city", op: "notContains", value: "x" }, { field: "date_create", op: "withinLastDays", value: 7 }] },
    { now: "2025-01-01T00:00:00Z" },
  );
  const rows = new smsbatch.Rows([{ id: 1, city: "Lyon" }, { id: 2, city: null }]);
  const query = { where: { field: "city", op: "isNotEmpty" }, sort: [{ field: "city", direction: "desc" }], limit: 1, count: true };
  samples.push(
    ["Schema", smsbatch.customerSchema()],
    ["SqlWhere", filter.sqlWhere()],
    ["QueryPage", smsbatch.runQuery(query, rows)],
    ["QueryPage", smsbatch.runQuery({ search: "zz" }, rows)],
    ["PostgrestRequest", smsbatch.postgrestRequest(query)],
    ["FilterDocument", { version: 1, where: { not: { or: [{ field: "opted_in", op: "isTrue" }] } } }],
  );
  const template = new smsbatch.Template("Hi {{default first_name \"there\"}} {{code}}");
  const previewer = new smsbatch.Previewer(template, {
    prices: { currency: "EUR", default: { "GSM-7": 0.05, "UCS-2": "0.07" }, byCountry: { "44": { "GSM-7": 0.04, "UCS-2": 0.04 } } },
    parts: true,
    suppress: ["+447400123459"],
  });
  const at = "2025-01-01T00:00:00Z";
  samples.push(
    ["TemplateMetadata", template.metadata()],
    ["TemplateRecord[]", smsbatch.searchTemplates([{ id: "1", name: "n", body: "b", createdAt: at, updatedAt: at }], "n")],
    ["Preview", previewer.preview([
      { id: 1, phone: "+447400123456", first_name: "Zoë 🎉", code: 1, opted_in: true },
      { id: 2, phone: "+33612345678", code: 2, opted_in: true },
      { id: 7, phone: "+33612345679", code: 7 },
      { id: 3, phone: "+447400123459", code: 3 },
      { id: 4, phone: "+447400123458" },
      { phone: "+447400123457" },
      "not an object",
    ])],
    ["Preview", previewer.sample([], { seeded: { size: 2, seed: 1 } })],
  );
  const flagState = dataJson("unleash-spec/16-strategy-variants.json").state;
  const flags = new smsbatch.FlagEngine(flagState);
  const broken = new smsbatch.FlagEngine(dataJson("unleash-spec/13-constraint-operators.json").state);
  const name = flagState.features[0].name;
  samples.push(
    ["Variant", flags.variant(name, { userId: "1" })],
    ["EvaluationDetails<boolean>", flags.evaluate(name, false, { userId: "1" })],
    ["EvaluationDetails<boolean>", flags.evaluate("missing", true)],
    ["EvaluationDetails<Variant>", flags.evaluateVariant(name, undefined, { userId: "2" })],
    ["FlagWarning[]", broken.warnings],
  );
  const analytics = dataJson("analytics/batch.json");
  samples.push(
    ["BatchAnalysis", smsbatch.analyze(analytics.messages, analytics.options)],
    ["BatchAnalysis", smsbatch.analyze([], { batch: analytics.messages[0].batchId, now: at })],
  );
  // Inputs: each is first accepted by the package, then type-checked against its declaration.
  const inputs = [
    ["SegmentOptions", { split: "codePoints", ref16: true, nationalLanguages: ["es"], smartEncoding: true, maxSegments: 4 }, (v) => new smsbatch.Segmenter(v)],
    ["PreviewOptions", { purpose: "transactional", segments: { maxSegments: 3 }, e164Only: true, prices: { currency: "GBP", default: { "GSM-7": "0.04", "UCS-2": 0.05 } }, suppress: ["+447400123456"], missing: "fail", parts: true, listLimit: 5, idField: "key", phoneField: "mobile", optedInField: "ok", optedOutField: "stop" }, (v) => new smsbatch.Previewer(template, v)],
    ["Sample", { seeded: { size: 3, seed: 9 } }, (v) => previewer.sample([], v)],
    ["Sample", { first: 2 }, (v) => previewer.sample([], v)],
    ["FilterContext", { schema: smsbatch.customerSchema(), now: "2025-01-01T00:00:00Z" }, (v) => new smsbatch.Filter({ field: "id", op: "gt", value: 1 }, v)],
    ["Query", { where: { field: "city", op: "isEmpty" }, search: "ana lyon", sort: [{ field: "last_name", direction: "asc", nulls: "first" }], limit: 10, offset: 5, count: true }, (v) => smsbatch.runQuery(v, rows)],
    ["FilterNode", { not: { and: [{ field: "total_spent", op: "between", value: [10, 20] }, { field: "opted_in", op: "isTrue" }] } }, (v) => smsbatch.validateFilter(v)],
    ["FlagContext", { userId: "u", sessionId: "s", remoteAddress: "10.0.0.1", environment: "production", appName: "web", currentTime: "2025-01-01T00:00:00Z", properties: { plan: "pro" }, tenant: "acme" }, (v) => flags.isEnabled(name, v)],
    ["EvaluationOptions", { now: "2025-01-01T00:00:00Z", seed: 7 }, (v) => flags.isEnabled(name, {}, v)],
    ["UnleashState", flagState, (v) => new smsbatch.FlagEngine(v)],
    ["Message[]", analytics.messages, (v) => smsbatch.analyze(v)],
    ["AnalyzeOptions", { ...analytics.options, batch: analytics.messages[0].batchId, currency: "USD", startedAt: at, sla: { ...analytics.options.sla, minDeliveryRate: 0.9, maxCostOverEstimate: 0.1, maxErrorRate: { rate: 0.5, windowSeconds: 60, minMessages: 2 } } }, (v) => smsbatch.analyze(analytics.messages, v)],
  ];
  for (const [type, value, accept] of inputs) {
    accept(value);
    samples.push([type, value]);
  }
  try {
    plain.validate("");
  } catch (e) {
    samples.push(["SmsbatchError", { name: e.name, kind: e.kind, message: e.message }]);
  }
  return samples;
}

const here = fileURLToPath(new URL(".", import.meta.url));
const dir = `${here}../test-results/types`;

/** Type-checks `samples` with tsc; returns its diagnostics ("" when the file is accepted). */
function typecheck(name, samples) {
  mkdirSync(dir, { recursive: true });
  const types = [...new Set(samples.map(([t]) => t.replace(/^Required<(.*)>$/, "$1").replace(/\[\]$/, "").replace(/<.*>$/, "")))];
  const lines = [`import type { ${types.join(", ")} } from "../../pkg/web/smsbatch";`];
  samples.forEach(([type, value], i) => {
    lines.push(`export const v${i}: ${type} = ${JSON.stringify(value, null, 1)};`);
  });
  const file = `${dir}/${name}.ts`;
  writeFileSync(file, lines.join("\n") + "\n");
  try {
    return execFileSync(
      `${here}../node_modules/.bin/tsc`,
      ["--noEmit", "--strict", "--exactOptionalPropertyTypes", "--target", "esnext", "--lib", "esnext,dom",
        "--module", "esnext", "--moduleResolution", "bundler", file],
      { encoding: "utf8" },
    ).trim();
  } catch (e) {
    return `${e.stdout}${e.stderr}`.trim();
  }
}

test("declared types accept every real result, exactly", () => {
  const diagnostics = typecheck("check", typedSamples());
  assert.equal(diagnostics, "", `tsc rejected real results:\n${diagnostics}`);
});

test("the check itself catches a field the declarations lack, and a missing one", () => {
  const extra = typecheck("extra", [["SegmentCount", { encoding: "GSM-7", units: 1, segments: 1, cost: 2 }]]);
  assert.match(extra, /cost.*does not exist in type 'SegmentCount'/);
  const missing = typecheck("missing", [["SegmentCount", { encoding: "GSM-7", units: 1 }]]);
  assert.match(missing, /segments.*is missing/);
});
