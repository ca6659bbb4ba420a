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
import { smsbatch } from "./support.mjs";

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
    ["SqlWhere", filter.sql()],
    ["QueryPage", smsbatch.runQuery(query, rows)],
    ["QueryPage", smsbatch.runQuery({ search: "zz" }, rows)],
    ["PostgrestRequest", smsbatch.postgrestRequest(query)],
    ["FilterDocument", { version: 1, where: { not: { or: [{ field: "opted_in", op: "isTrue" }] } } }],
  );
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
  const types = [...new Set(samples.map(([t]) => t.replace(/^Required<(.*)>$/, "$1")))];
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
