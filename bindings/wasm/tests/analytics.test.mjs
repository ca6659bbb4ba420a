// Batch analytics through the package: the hand-worked batch of tests/data/analytics/batch.json
// (the same file tests/analytics/spec.rs runs through the core), the options, and the errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { smsbatch, dataJson } from "./support.mjs";

/** Every field of `expected` is in `actual` with the same value (recursively for objects and arrays). */
function contains(actual, expected, path = "") {
  if (expected && typeof expected === "object") {
    assert.ok(actual && typeof actual === "object", `${path}: got ${JSON.stringify(actual)}`);
    if (Array.isArray(expected)) assert.equal(actual.length, expected.length, `${path}: length`);
    for (const [k, v] of Object.entries(expected)) contains(actual[k], v, `${path}.${k}`);
    return;
  }
  assert.equal(actual, expected, path);
}

test("the hand-worked batch of tests/data/analytics/batch.json", () => {
  const spec = dataJson("analytics/batch.json");
  const analysis = smsbatch.analyze(spec.messages, spec.options);
  contains(analysis, spec.expect);
  // The report is exactly the command line's JSON contract, field for field.
  assert.deepEqual(Object.keys(analysis.report).sort(), [
    "batch", "byState", "cost", "deliveryRate", "errors", "latency", "messages", "segments", "sla",
    "successRate", "throughput", "variants",
  ]);
  // Plain objects, not Maps: the page reads them like the JSON API's.
  assert.equal(Object.getPrototypeOf(analysis.credits.byCountry), Object.prototype);
  // Order does not matter.
  const reversed = smsbatch.analyze([...spec.messages].reverse(), { ...spec.options, logs: [...spec.options.logs].reverse() });
  assert.deepEqual(reversed, analysis);
});

test("options: currency, start, window, no SLA, the page's clock", () => {
  const { messages } = dataJson("analytics/batch.json");
  // Another report currency: the USD prices are set apart, never added.
  const eur = smsbatch.analyze(messages, { currency: "EUR", now: "2025-05-01T11:00:00Z" });
  assert.equal(eur.report.cost.currency, "EUR");
  assert.equal(eur.report.cost.actual, "0");
  assert.deepEqual(eur.credits.otherCurrencies, { USD: "0.21" });
  assert.equal(eur.report.sla, null);
  // The span of the throughput starts when the batch started, when given.
  const started = smsbatch.analyze(messages, { startedAt: "2025-05-01T09:59:57.5Z" });
  assert.equal(started.report.throughput.seconds, 5);
  assert.equal(started.report.throughput.messagesPerSecond, 1);
  // One window of ten minutes holds every settled message.
  const wide = smsbatch.analyze(messages, { windowSeconds: 600 });
  assert.equal(wide.errorTrend.windows.length, 1);
  assert.equal(wide.errorTrend.windows[0].messages, 7);
  assert.equal(wide.errorTrend.windows[0].errors, 3);
  // A batch still sending is judged as of `now`: before its deadline the objective is met so
  // far; without `now`, as of the page's clock, long after the deadline: violated.
  const sending = messages.map((m) => (m.id === 8 ? { ...m, status: "pending", claimedAt: null } : m));
  const early = smsbatch.analyze(sending, { now: "2025-05-01T10:00:40Z", sla: { doneWithinSeconds: 60 } });
  assert.equal(early.unfinished, 1);
  assert.equal(early.doneAt, null);
  assert.deepEqual(early.report.sla.objectives[0], { objective: "doneWithinSeconds", status: "met", limit: 60, observed: 40 });
  const late = smsbatch.analyze(sending, { sla: { doneWithinSeconds: 60 } });
  assert.equal(late.report.sla.objectives[0].status, "violated");
  const elapsed = (Date.now() - Date.parse("2025-05-01T10:00:00Z")) / 1000;
  assert.ok(Math.abs(late.report.sla.objectives[0].observed - elapsed) < 60, `${late.report.sla.objectives[0].observed} vs ${elapsed}`);
  // An empty batch, named by the options.
  const empty = smsbatch.analyze([], { batch: "00000000-0000-0000-0000-0000000000b2", now: "2025-05-01T11:00:00Z" });
  assert.equal(empty.report.batch, "00000000-0000-0000-0000-0000000000b2");
  assert.equal(empty.report.messages, 0);
  assert.equal(empty.report.successRate, null);
  assert.equal(empty.report.latency.claimToAccepted, null);
});

test("bad input is an SmsbatchError naming what is wrong", () => {
  const { messages, options } = dataJson("analytics/batch.json");
  const throwsInvalid = (f, pattern) =>
    assert.throws(f, (e) => {
      assert.equal(e.name, "SmsbatchError");
      assert.equal(e.kind, "invalidInput");
      assert.match(e.message, pattern);
      return true;
    });
  throwsInvalid(() => smsbatch.analyze([]), /no messages and no `batch`/);
  throwsInvalid(() => smsbatch.analyze("not an array"), /invalid messages: expected an array/);
  const { status, ...noStatus } = messages[2];
  throwsInvalid(() => smsbatch.analyze([messages[0], messages[1], noStatus]), /invalid message 2: missing field `status`/);
  throwsInvalid(() => smsbatch.analyze([messages[0], { ...messages[1], status: "lost" }]), /invalid message 1: unknown variant `lost`/);
  const other = { ...messages[1], batchId: "00000000-0000-0000-0000-0000000000b9" };
  throwsInvalid(() => smsbatch.analyze([messages[0], other]), /belongs to batch 00000000-0000-0000-0000-0000000000b9/);
  throwsInvalid(() => smsbatch.analyze(messages, { windowSeconds: 0 }), /`windowSeconds` must be at least 1/);
  throwsInvalid(() => smsbatch.analyze(messages, { window: 60 }), /unknown field `window`/);
  throwsInvalid(() => smsbatch.analyze(messages, { now: "yesterday" }), /invalid analyze options/);
  throwsInvalid(() => smsbatch.analyze(messages, { sla: { minDeliveryRate: 1.5 } }), /minDeliveryRate.*between 0 and 1/);
  const log = { ...options.logs[0], batchId: "00000000-0000-0000-0000-0000000000b9" };
  throwsInvalid(() => smsbatch.analyze(messages, { logs: [log] }), /log event 1 belongs to batch/);
});
