// Every vector of tests/data/segments/vectors.json through the package, under both split policies,
// with the same expectations as the Rust test (tests/segment.rs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { smsbatch, dataJson } from "./support.mjs";

const vectors = dataJson("segments/vectors.json");

test("there are 64 vectors", () => {
  assert.equal(vectors.length, 64);
});

test("code-point policy: encoding, units, segments and units per part", () => {
  const segmenter = new smsbatch.Segmenter({ split: "codePoints" });
  for (const v of vectors) {
    const full = segmenter.segment(v.text);
    assert.equal(full.encoding, v.encoding, v.id);
    assert.equal(full.units, v.units, v.id);
    assert.equal(full.segments, v.segments, v.id);
    assert.deepEqual(full.segmentUnits, v.segment_units, v.id);
    assert.equal(full.parts.join(""), v.text, v.id);
    assert.deepEqual(segmenter.count(v.text), { encoding: v.encoding, units: v.units, segments: v.segments }, v.id);
  }
});

test("default grapheme policy: segments_grapheme_safe where given", () => {
  const segmenter = new smsbatch.Segmenter();
  for (const v of vectors) {
    const expected = v.segments_grapheme_safe ?? v.segments;
    const full = segmenter.segment(v.text);
    assert.equal(full.segments, expected, v.id);
    assert.equal(full.units, v.units, v.id);
    assert.equal(segmenter.count(v.text).segments, expected, v.id);
    assert.equal(full.parts.join(""), v.text, v.id);
  }
});

test("UTF-16 indexes of the characters that forced UCS-2 index JavaScript strings", () => {
  const text = "Hi 😀 ça";
  const { nonGsm } = new smsbatch.Segmenter().segment(text);
  for (const { char, index } of nonGsm) {
    assert.equal(text.slice(index, index + char.length), char);
  }
  assert.deepEqual(nonGsm.map((c) => c.char), ["😀", "ç"]);
});

test("validation throws SmsbatchError with the core's kind", () => {
  const segmenter = new smsbatch.Segmenter({ maxSegments: 1 });
  assert.throws(() => segmenter.validate(""), (e) => e.name === "SmsbatchError" && e.kind === "emptyMessage");
  assert.throws(
    () => segmenter.validate("x".repeat(161)),
    (e) => e.kind === "tooManySegments" && e.segments === 2 && e.max === 1 && e instanceof Error,
  );
  assert.deepEqual(segmenter.validate("ok"), { encoding: "GSM-7", units: 2, segments: 1 });
});

test("bad options are reported, not ignored", () => {
  assert.throws(() => new smsbatch.Segmenter({ split: "words" }), (e) => e.kind === "invalidInput" && /segment options/.test(e.message));
  assert.throws(() => new smsbatch.Segmenter({ nationalLanguages: ["fr"] }), (e) => e.kind === "invalidInput");
  assert.throws(() => new smsbatch.Segmenter({ smartEncodng: true }), (e) => e.kind === "invalidInput");
});

test("options round-trip with defaults filled in", () => {
  const s = new smsbatch.Segmenter({ nationalLanguages: ["tr"], smartEncoding: true });
  assert.deepEqual(s.options, { split: "graphemes", ref16: false, nationalLanguages: ["tr"], smartEncoding: true, maxSegments: 10 });
});
