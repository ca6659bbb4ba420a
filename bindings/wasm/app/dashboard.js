// The monitoring dashboard: every batch with its state (newest first), and the chosen batch's
// live progress (counts, rate, ETA, cost so far), charts of throughput, errors per category and
// cost over time (from the server's report, so they cover the whole batch however long ago the
// page was opened), pause/resume/cancel/retry-failed, the CSV export and the message history
// with search. Polls the API (once a second for the chosen batch), so it updates without a
// reload.
import { alertUser, api, describe, download, el, guarded, session } from "/app/api.js";
import { lineChart } from "/app/charts.js";

const $ = (selector) => document.querySelector(selector);
const ACTIVE = new Set(["requested", "preparing", "scheduled", "sending", "paused", "verifying"]);
const MAX_SAMPLES = 600;
// The charts' resolution: about this many windows over the batch's span.
const CHART_WINDOWS = 40;

const state = {
  selected: null,
  samples: [],
  messagesAfter: null,
  polling: false,
  messageTicket: 0,
};

function setStatus(text, kind) {
  const status = $("#status");
  status.textContent = text;
  status.dataset.state = kind;
}

const total = (counts) => Object.values(counts ?? {}).reduce((a, b) => a + b, 0);
const done = (c) => (c.sent ?? 0) + (c.delivered ?? 0) + (c.undelivered ?? 0) + (c.failed ?? 0) + (c.cancelled ?? 0);
const shortId = (id) => id.slice(0, 8);

async function loadBatches() {
  const filter = $("#state-filter").value;
  const batches = await guarded("batches", () => api("GET", `/api/batches${filter ? `?state=${filter}` : ""}`));
  if (!batches) return;
  $("#batch-table tbody").replaceChildren(
    ...batches.map((b) => {
      const counts = b.progress?.counts;
      const open = el("button", { type: "button", className: "link", onclick: () => select(b.id) }, shortId(b.id));
      return el("tr", { className: b.id === state.selected ? "selected" : "", attrs: { "data-id": b.id, "data-state": b.state } },
        el("td", {}, open),
        el("td", {}, b.createdAt.slice(0, 19).replace("T", " ")),
        el("td", {}, el("span", { className: `badge state-${b.state}` }, b.state)),
        el("td", {}, b.purpose),
        el("td", {}, b.templateId ?? (b.templateBody ?? "").slice(0, 30)),
        el("td", {}, counts ? `${done(counts)} of ${total(counts)}` : "–"),
      );
    }),
  );
  if (batches.length === 0) $("#batch-table tbody").append(el("tr", {}, el("td", { colSpan: 6, className: "muted" }, "No batch yet: create one in the workspace.")));
}

function select(id) {
  if (state.selected !== id) {
    state.selected = id;
    state.samples = [];
    state.messagesAfter = null;
    history.replaceState(null, "", `#${id}`);
  }
  $("#detail").hidden = false;
  state.report = null;
  refreshDetail();
  loadMessages(true);
  loadLog();
  loadReport();
}

function money(amount, currency) {
  return `${amount ?? "0"} ${currency ?? ""}`.trim();
}

async function refreshDetail() {
  const id = state.selected;
  if (!id) return;
  const detail = await guarded("detail", () => api("GET", `/api/batches/${id}`));
  if (!detail || id !== state.selected) return;
  const { batch, counts, excluded, spent } = detail;
  state.batch = batch;
  // The status's progress: counts and money fresh from the store, rate, ETA and errors as the
  // worker last wrote them.
  const progress = detail.status?.progress ?? batch.progress ?? {};
  const all = total(counts);
  const finished = done(counts);
  const pct = all === 0 ? 0 : Math.round((finished / all) * 100);
  $("#detail-id").textContent = shortId(batch.id);
  $("#detail-state").textContent = batch.state;
  $("#detail-state").className = `badge state-${batch.state}`;
  $("#detail-state").dataset.state = batch.state;
  $("#detail-reason").textContent = batch.pauseReason ? `(paused: ${batch.pauseReason})` : batch.sendAt && batch.state === "scheduled" ? `(sends at ${batch.sendAt})` : "";
  $(".progress").setAttribute("aria-valuenow", String(pct));
  $("#progress-bar").style.width = `${pct}%`;

  const now = Date.now();
  const currency = progress.cost?.currency ?? batch.currency ?? "";
  // What the provider charged when it prices messages, else the estimates of those sent.
  const costSoFar = spent.priced > 0 ? spent.charged : spent.estimated;
  const last = state.samples[state.samples.length - 1];
  const rate = last && now > last.t ? Math.max(0, (finished - last.done) / ((now - last.t) / 1000)) : 0;
  state.samples.push({ t: now, done: finished, rate, cost: Number(costSoFar), errors: Object.fromEntries((progress.errors ?? []).map((e) => [e.category, e.count])) });
  if (state.samples.length > MAX_SAMPLES) state.samples.shift();

  const excludedTotal = Object.values(excluded ?? {}).reduce((a, b) => a + b, 0);
  const shownRate = ACTIVE.has(batch.state) ? progress.messagesPerSecond ?? rate : 0;
  $("#detail-summary").replaceChildren(
    el("div", {}, el("span", {}, "Messages"), el("strong", { id: "d-total" }, String(all))),
    el("div", {}, el("span", {}, "Done"), el("strong", { id: "d-done" }, `${finished} (${pct}%)`)),
    el("div", {}, el("span", {}, "Pending"), el("strong", { id: "d-pending" }, String((counts.pending ?? 0) + (counts.processing ?? 0)))),
    el("div", {}, el("span", {}, "Delivered"), el("strong", { id: "d-delivered" }, String(counts.delivered ?? 0))),
    el("div", {}, el("span", {}, "Sent"), el("strong", { id: "d-sent" }, String(counts.sent ?? 0))),
    el("div", {}, el("span", {}, "Failed"), el("strong", { id: "d-failed" }, String(counts.failed ?? 0))),
    el("div", {}, el("span", {}, "In doubt"), el("strong", { id: "d-indoubt" }, String(counts.inDoubt ?? 0))),
    el("div", {}, el("span", {}, "Cancelled"), el("strong", { id: "d-cancelled" }, String(counts.cancelled ?? 0))),
    el("div", {}, el("span", {}, "Excluded"), el("strong", { id: "d-excluded" }, String(excludedTotal))),
    el("div", {}, el("span", {}, "Rate"), el("strong", { id: "d-rate" }, `${shownRate.toFixed(1)} msg/s`)),
    el("div", {}, el("span", {}, "ETA"), el("strong", { id: "d-eta" }, !ACTIVE.has(batch.state) ? "done" : progress.eta ? progress.eta.slice(11, 19) : "–")),
    el("div", {}, el("span", {}, "Cost so far"), el("strong", { id: "d-cost" }, money(costSoFar, currency))),
  );
  $("#pause").disabled = batch.state !== "sending" && batch.state !== "scheduled";
  $("#retry").disabled = !(counts.failed > 0) || !["sending", "paused", "verifying", "completed"].includes(batch.state);
  $("#resume").disabled = batch.state !== "paused";
  $("#cancel").disabled = !ACTIVE.has(batch.state);

  $("#error-table tbody").replaceChildren(
    ...(progress.errors ?? []).map((e) => el("tr", {},
      el("td", {}, e.category), el("td", {}, String(e.count)), el("td", {}, e.samples?.[0]?.message ?? "–"))),
  );
}

/** The report's window length for the batch: about CHART_WINDOWS windows over its span. */
function chartWindow(batch) {
  if (!batch?.startedAt) return 60;
  const end = batch.completedAt ? Date.parse(batch.completedAt) : Date.now();
  const span = Math.max(0, (end - Date.parse(batch.startedAt)) / 1000);
  return Math.min(3600, Math.max(1, Math.ceil(span / CHART_WINDOWS)));
}

/** The charts, from the report: its series (throughput, cumulative cost) and error trend. */
function drawCharts() {
  const series = state.report?.series ?? { windows: [], windowSeconds: 60, currency: "" };
  const seconds = series.windowSeconds || 60;
  const perSecond = series.windows.map((w) => [Date.parse(w.start), w.accepted / seconds]);
  lineChart($("#chart-throughput"), [{ name: "messages/s", points: perSecond }], { label: "Throughput", empty: "nothing sent yet" });
  // The error trend: errors per category in each window of the batch.
  const windows = state.report?.errorTrend?.windows ?? [];
  const categories = [...new Set(windows.flatMap((w) => Object.keys(w.byCategory)))];
  lineChart($("#chart-errors"), categories.map((c) => ({ name: c, points: windows.map((w) => [Date.parse(w.start), w.byCategory[c]?.count ?? 0]) })), { label: "Errors per category", format: (v) => String(Math.round(v)), empty: "no errors so far" });
  // The running cost at each window's end: the estimates of what was accepted, and what the
  // provider charged once it prices messages.
  const cost = [{ name: `estimated (${series.currency})`, points: series.windows.map((w) => [Date.parse(w.end), Number(w.estimatedCost)]) }];
  if (series.windows.some((w) => Number(w.actualCost) > 0)) {
    cost.push({ name: `charged (${series.currency})`, points: series.windows.map((w) => [Date.parse(w.end), Number(w.actualCost)]) });
  }
  lineChart($("#chart-cost"), cost, { label: "Cost over time", format: (v) => v.toFixed(4), empty: "nothing spent yet" });
  $("#chart-window").textContent = `${seconds} s`;
}

const OBJECTIVE_TEXT = {
  doneWithinSeconds: (o) => `done within ${o.limit} s${o.observed !== null && o.observed !== undefined ? ` (so far ${Math.round(o.observed)} s)` : ""}`,
  maxErrorRate: (o) => `error rate at most ${(o.limit * 100).toFixed(1)}%${o.observed !== null && o.observed !== undefined ? ` (worst window ${(o.observed * 100).toFixed(1)}%)` : ""}`,
  minDeliveryRate: (o) => `delivery rate at least ${(o.limit * 100).toFixed(1)}%${o.observed !== null && o.observed !== undefined ? ` (now ${(o.observed * 100).toFixed(1)}%)` : ""}`,
  maxCostOverEstimate: (o) => `cost at most ${(o.limit * 100).toFixed(1)}% over the estimate${o.observed !== null && o.observed !== undefined ? ` (now ${(o.observed * 100).toFixed(1)}%)` : ""}`,
};

/** The batch's report: the SLA objectives' status (violations raise an alert) and the error trend. */
async function loadReport() {
  const id = state.selected;
  if (!id) return;
  const seconds = chartWindow(state.batch?.id === id ? state.batch : null);
  const analysis = await guarded("report", () => api("GET", `/api/batches/${id}/report?window=${seconds}`));
  if (!analysis || id !== state.selected) return;
  state.report = analysis;
  drawCharts();
  const sla = analysis.report.sla;
  const status = !sla || sla.objectives.length === 0 ? "none" : sla.met ? (sla.objectives.every((o) => o.status === "pending") ? "pending" : "met") : "violated";
  $("#sla-status").textContent = status;
  $("#sla-status").dataset.status = status;
  $("#sla-status").className = `badge sla-${status}`;
  $("#sla-objectives").replaceChildren(...(sla?.objectives ?? []).map((o) =>
    el("li", { attrs: { "data-objective": o.objective, "data-status": o.status } }, `${o.status}: ${(OBJECTIVE_TEXT[o.objective] ?? ((x) => x.objective))(o)}`)));
  const open = (sla?.violations ?? []).filter((v) => !v.endedAt);
  alertUser(`sla-${id}`, open.length > 0 ? `Batch ${shortId(id)} misses its service level: ${open.map((v) => v.message).join("; ")}` : null);
}

async function loadMessages(reset) {
  const id = state.selected;
  if (!id) return;
  if (reset) state.messagesAfter = null;
  const params = new URLSearchParams({ limit: "50" });
  const search = $("#message-search").value.trim();
  const status = $("#message-status").value;
  if (search) params.set("search", search);
  if (status) params.set("status", status);
  if (state.messagesAfter !== null) params.set("after", String(state.messagesAfter));
  const ticket = ++state.messageTicket;
  const page = await guarded("messages", () => api("GET", `/api/batches/${id}/messages?${params}`));
  if (!page || ticket !== state.messageTicket) return;
  const rows = page.rows.map((m) => el("tr", {},
    el("td", {}, String(m.id)),
    el("td", {}, String(m.customerId)),
    el("td", {}, m.phone),
    el("td", {}, m.status),
    el("td", {}, String(m.segments)),
    el("td", {}, m.price ?? m.estimatedCost),
    el("td", {}, m.errorMessage ?? m.errorCode ?? ""),
  ));
  if (reset) $("#message-table tbody").replaceChildren(...rows);
  else $("#message-table tbody").append(...rows);
  state.messagesAfter = page.next ?? null;
  $("#messages-more").disabled = page.next === null || page.next === undefined;
}

async function loadLog() {
  const id = state.selected;
  if (!id) return;
  const entries = await guarded("log", () => api("GET", `/api/batches/${id}/logs`));
  if (!entries || id !== state.selected) return;
  $("#log").replaceChildren(...entries.slice(-100).map((l) => el("li", {}, `${l.at.slice(11, 19)} ${l.level} ${l.event}: ${l.message}`)));
}

async function act(action) {
  const id = state.selected;
  const detail = await guarded("action", () => api("POST", `/api/batches/${id}/${action}`));
  if (detail) {
    await refreshDetail();
    await loadBatches();
    await loadReport();
  }
}

async function poll() {
  if (state.polling) return;
  state.polling = true;
  try {
    await loadBatches();
    await refreshDetail();
    state.ticks = (state.ticks ?? 0) + 1;
    if (state.ticks % 5 === 0) await loadLog();
    if (state.ticks % 3 === 0) await loadReport();
  } finally {
    state.polling = false;
  }
}

async function main() {
  await session();
  $("#state-filter").addEventListener("change", loadBatches);
  $("#pause").addEventListener("click", () => act("pause"));
  $("#resume").addEventListener("click", () => act("resume"));
  $("#cancel").addEventListener("click", () => act("cancel"));
  $("#retry").addEventListener("click", () => act("retry-failed"));
  $("#export").addEventListener("click", () => guarded("export", () => download(`/api/batches/${state.selected}/export?what=${$("#export-what").value}`, "batch.csv")));
  let searchTimer;
  $("#message-search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => loadMessages(true), 200);
  });
  $("#message-status").addEventListener("change", () => loadMessages(true));
  $("#messages-more").addEventListener("click", () => loadMessages(false));
  await loadBatches();
  const fromHash = location.hash.slice(1);
  if (fromHash) select(fromHash);
  // A link to another batch of this page (`/dashboard#id`) changes only the hash: follow it.
  window.addEventListener("hashchange", () => {
    const id = location.hash.slice(1);
    if (id && id !== state.selected) select(id);
  });
  setInterval(poll, 1000);
  setStatus("ready", "ready");
}

main().catch((e) => {
  setStatus("failed", "failed");
  alertUser("start", `The dashboard could not start: ${describe(e)}`);
  console.error(e);
});
