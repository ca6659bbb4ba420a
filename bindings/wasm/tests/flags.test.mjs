// Every test of every Unleash specification file (tests/data/unleash-spec/, the files the Rust
// tests run) through the package, under several seeds, with the expectations of the Rust tests;
// plus details, the missing-flag hook and the atomic reload.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { smsbatch, dataJson } from "./support.mjs";

const files = readdirSync(new URL("../../../tests/data/unleash-spec/", import.meta.url)).filter((f) => f.endsWith(".json")).sort();
const now = "2026-03-16T12:00:00Z";

test("the specification has its 16 files", () => {
  assert.equal(files.length, 16);
});

for (const file of files) {
  test(`unleash spec ${file}`, () => {
    const doc = dataJson(`unleash-spec/${file}`);
    const engine = new smsbatch.FlagEngine(doc.state);
    let checked = 0;
    for (const seed of [1, 2, 3]) {
      for (const t of doc.tests ?? []) {
        assert.equal(engine.isEnabled(t.toggleName, t.context, { now, seed }), t.expectedResult, `${file}: ${t.description}`);
        checked++;
      }
      for (const t of doc.variantTests ?? []) {
        assert.deepEqual(engine.variant(t.toggleName, t.context, { now, seed }), t.expectedResult, `${file}: ${t.description}`);
        checked++;
      }
    }
    assert.ok(checked > 0);
  });
}

const state = {
  version: 2,
  features: [
    {
      name: "new-batch-system",
      enabled: true,
      strategies: [{ name: "flexibleRollout", parameters: { rollout: "20", stickiness: "default", groupId: "new-batch-system" } }],
    },
    { name: "kill-switch", enabled: false, strategies: [{ name: "default" }] },
  ],
};

test("details: reasons, error codes and the missing-flag hook", () => {
  const engine = new smsbatch.FlagEngine(JSON.stringify(state));
  const missing = [];
  engine.onMissing((key) => missing.push(key));
  const unknown = engine.evaluate("not-there", true, { userId: "u1" });
  assert.deepEqual(unknown, { value: true, reason: "error", errorCode: "flagNotFound", errorMessage: unknown.errorMessage });
  assert.match(unknown.errorMessage, /not-there/);
  assert.equal(engine.isEnabled("not-there"), false);
  assert.deepEqual(missing, ["not-there", "not-there"]);
  engine.onMissing(null);
  engine.isEnabled("also-not-there");
  assert.equal(missing.length, 2);
  assert.deepEqual(engine.evaluate("kill-switch", true), { value: false, reason: "disabled" });
  const users = Array.from({ length: 50 }, (_, i) => ({ userId: `user-${i}` }));
  const inside = users.find((u) => engine.isEnabled("new-batch-system", u));
  const outside = users.find((u) => !engine.isEnabled("new-batch-system", u));
  assert.deepEqual(engine.evaluate("new-batch-system", false, inside), { value: true, reason: "split" });
  assert.deepEqual(engine.evaluate("new-batch-system", true, outside), { value: false, reason: "default" });
});

test("a rollout puts about 20% of users in, the same users every time", () => {
  const engine = new smsbatch.FlagEngine(state);
  const users = Array.from({ length: 5000 }, (_, i) => `user-${i}`);
  const inRollout = users.filter((u) => engine.isEnabled("new-batch-system", { userId: u }));
  assert.ok(inRollout.length > 900 && inRollout.length < 1100, `${inRollout.length}`);
  assert.deepEqual(users.filter((u) => engine.isEnabled("new-batch-system", { userId: u })), inRollout);
});

test("load swaps the state in; a broken state throws and keeps the old one", () => {
  const engine = new smsbatch.FlagEngine(state);
  assert.equal(engine.isEnabled("kill-switch"), false);
  engine.load({ version: 2, features: [{ name: "kill-switch", enabled: true, strategies: [{ name: "default" }] }] });
  assert.equal(engine.isEnabled("kill-switch"), true);
  assert.throws(() => engine.load({ features: "nope" }), (e) => e.kind === "invalidFlagState");
  assert.equal(engine.isEnabled("kill-switch"), true);
  assert.throws(() => engine.isEnabled("kill-switch", {}, { now: "yesterday" }), (e) => e.kind === "invalidInput");
});

test("the missing-flag callback may unregister itself (regression: it panicked re-entering)", () => {
  const engine = new smsbatch.FlagEngine(state);
  const seen = [];
  engine.onMissing((key) => {
    seen.push(key);
    engine.onMissing(null);
  });
  engine.isEnabled("first-missing");
  engine.isEnabled("second-missing");
  assert.deepEqual(seen, ["first-missing"]);
  assert.equal(engine.isEnabled("kill-switch"), false, "the engine still works");
});

test("a state without features is refused, not read as all flags off", () => {
  assert.throws(() => new smsbatch.FlagEngine({ featurs: [] }), (e) => e.kind === "invalidFlagState" && /features/.test(e.message));
});
