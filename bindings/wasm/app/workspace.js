// The batch workspace: template selection, customer configuration (filter builder, live count,
// saved filters, the customer list) and the preview, computed in the page by the smsbatch core in
// WebAssembly with the server's own preview configuration, so it is exactly what the server
// previews, sends and bills. Then the batch is created through the API.
import init, { Previewer, Rows, Segmenter, Template } from "/pkg/web/smsbatch.js";
import { alertUser, api, describe, download, el, guarded, session } from "/app/api.js";

const $ = (selector) => document.querySelector(selector);

const OPS = {
  string: ["contains", "notContains", "equals", "notEquals", "startsWith", "notStartsWith", "endsWith", "notEndsWith", "in", "notIn", "isEmpty", "isNotEmpty"],
  number: ["gt", "gte", "lt", "lte", "equals", "notEquals", "between", "notBetween", "in", "notIn", "isEmpty", "isNotEmpty"],
  date: ["withinLastDays", "notWithinLastDays", "gt", "gte", "lt", "lte", "between", "notBetween", "equals", "notEquals", "isEmpty", "isNotEmpty"],
  timestamp: ["withinLastDays", "notWithinLastDays", "gt", "gte", "lt", "lte", "between", "notBetween", "equals", "notEquals", "isEmpty", "isNotEmpty"],
  boolean: ["isTrue", "isFalse", "isNotTrue", "isNotFalse", "isEmpty", "isNotEmpty"],
};
const VALUELESS = new Set(["isEmpty", "isNotEmpty", "isTrue", "isFalse", "isNotTrue", "isNotFalse"]);
const SHOWN_MESSAGES = 25;
const SHOWN_EXCLUDED = 50;
const PAGE_SIZE = 20;
// The page previews audiences up to the API's largest page in the browser; past that, the
// server's preview gives the totals.
const MAX_AUDIENCE = 10_000;

const state = {
  fields: [],
  conditions: [],
  templates: [],
  template: null,
  config: null,
  audience: [],
  audienceTotal: 0,
  rows: null,
  segmenter: null,
  saved: [],
  page: 0,
  timings: [],
  generation: 0,
  pageTicket: 0,
  templateTicket: 0,
  exactTicket: 0,
};
window.__previewTimings = state.timings;

function setStatus(text, kind) {
  const status = $("#status");
  status.textContent = text;
  status.dataset.state = kind;
}

/** Runs `fn` at most once per `ms`, after the last call. */
function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// --- 1. Template selection -----------------------------------------------------------------

async function loadTemplates() {
  const query = $("#template-search").value.trim();
  const ticket = ++state.templateTicket;
  const found = await guarded("templates", () => api("GET", `/api/templates${query ? `?q=${encodeURIComponent(query)}` : ""}`));
  if (!found || ticket !== state.templateTicket) return;
  if (!query) state.templates = found;
  const list = $("#template-list");
  list.replaceChildren(
    ...found.map((record) =>
      el("li", {},
        el("button", { type: "button", className: "card", onclick: () => selectTemplate(record) },
          el("strong", {}, record.name),
          el("span", { className: "muted" }, record.description ?? ""),
          el("span", { className: "tags" }, (record.tags ?? []).join(" · ")),
        ),
      ),
    ),
  );
  if (found.length === 0) list.append(el("li", { className: "muted" }, "No template matches."));
}

function selectTemplate(record) {
  state.template = record;
  const meta = record.metadata ?? {};
  $("#template-meta").replaceChildren(
    el("dt", {}, "Template"), el("dd", {}, record.name),
    el("dt", {}, "Variables"), el("dd", {}, (meta.variables ?? []).join(", ") || "none"),
    el("dt", {}, "Encoding of the static text"), el("dd", {}, meta.encoding ?? "–"),
    el("dt", {}, "Minimum segments"), el("dd", {}, String(meta.minSegments ?? "–")),
    el("dt", {}, "Updated"), el("dd", {}, record.updatedAt ?? "–"),
  );
  $("#template-editor").value = record.body;
  $("#purpose").value = record.tags?.includes("orders") ? "transactional" : "marketing";
  updatePreview();
}

// --- 2. Customer configuration -------------------------------------------------------------

function fieldType(name) {
  return state.fields.find((f) => f.name === name)?.type ?? "string";
}

function parseScalar(type, text) {
  const trimmed = text.trim();
  if (type === "number") return trimmed === "" ? null : Number(trimmed);
  if (type === "boolean") return trimmed === "true";
  return text;
}

function conditionNode(c) {
  const type = fieldType(c.field);
  const node = { field: c.field, op: c.op };
  if (VALUELESS.has(c.op)) return node;
  if (c.op === "in" || c.op === "notIn") {
    node.value = c.value.split(",").map((v) => v.trim()).filter((v) => v !== "").map((v) => parseScalar(type, v));
  } else if (c.op === "between" || c.op === "notBetween") {
    node.value = [parseScalar(type, c.value), parseScalar(type, c.value2)];
  } else if (c.op.endsWith("LastDays")) {
    // Sent as typed: the server says what is wrong with "abc" or "2.5".
    node.value = /^\d+$/.test(c.value.trim()) ? Number(c.value.trim()) : c.value;
  } else {
    node.value = parseScalar(type, c.value);
  }
  return node;
}

function currentFilter() {
  if (state.conditions.length === 0) return null;
  return { [$("#filter-combinator").value]: state.conditions.map(conditionNode) };
}

/** Fills the builder from a filter node (a saved filter, a preset): conditions one level deep. */
function loadFilter(node) {
  const where = node?.where ?? node;
  let combinator = "and";
  let items = [];
  if (!where) items = [];
  else if (where.and) items = where.and;
  else if (where.or) { combinator = "or"; items = where.or; }
  else items = [where];
  const flat = items.every((n) => n.field);
  if (!flat) {
    alertUser("filter", "This filter nests groups the builder cannot show; its conditions were not loaded.");
    return;
  }
  $("#filter-combinator").value = combinator;
  state.conditions = items.map((n) => ({
    field: n.field,
    op: n.op,
    value: Array.isArray(n.value) && (n.op === "between" || n.op === "notBetween") ? String(n.value[0] ?? "") : Array.isArray(n.value) ? n.value.join(", ") : n.value === undefined ? "" : String(n.value),
    value2: Array.isArray(n.value) && (n.op === "between" || n.op === "notBetween") ? String(n.value[1] ?? "") : "",
  }));
  renderConditions();
  audienceChanged();
}

function renderConditions() {
  $("#conditions").replaceChildren(
    ...state.conditions.map((c, i) => {
      const type = fieldType(c.field);
      const n = i + 1;
      const field = el("select", { className: "field", attrs: { "aria-label": `Field of condition ${n}` } },
        ...state.fields.map((f) => el("option", { value: f.name, selected: f.name === c.field }, f.name)));
      field.onchange = () => {
        c.field = field.value;
        if (!OPS[fieldType(c.field)].includes(c.op)) c.op = OPS[fieldType(c.field)][0];
        renderConditions();
        audienceChanged();
      };
      const op = el("select", { className: "op", attrs: { "aria-label": `Operator of condition ${n}` } },
        ...OPS[type].map((o) => el("option", { value: o, selected: o === c.op }, o)));
      op.onchange = () => {
        c.op = op.value;
        renderConditions();
        audienceChanged();
      };
      const inputs = [];
      if (!VALUELESS.has(c.op)) {
        const value = el("input", { className: "value", value: c.value, placeholder: c.op === "in" || c.op === "notIn" ? "a, b, c" : "value", attrs: { "aria-label": `Value of condition ${n}` } });
        value.oninput = () => { c.value = value.value; audienceChanged(); };
        inputs.push(value);
        if (c.op === "between" || c.op === "notBetween") {
          const value2 = el("input", { className: "value2", value: c.value2, placeholder: "and", attrs: { "aria-label": `Upper bound of condition ${n}` } });
          value2.oninput = () => { c.value2 = value2.value; audienceChanged(); };
          inputs.push(value2);
        }
      }
      const remove = el("button", { type: "button", className: "remove", attrs: { "aria-label": `Remove condition ${n}` } }, "×");
      remove.onclick = () => {
        state.conditions.splice(i, 1);
        renderConditions();
        audienceChanged();
      };
      return el("div", { className: "condition" }, field, op, ...inputs, remove);
    }),
  );
}

/** The filter changed: count, list and preview again (debounced while typing). */
const audienceChanged = debounce(() => {
  state.page = 0;
  refreshAudience();
}, 200);

async function refreshAudience() {
  const generation = ++state.generation;
  const where = currentFilter();
  try {
    const [{ count }, audience] = await Promise.all([
      api("POST", "/api/customers/count", { where }),
      api("POST", "/api/customers/query", { where, limit: MAX_AUDIENCE, count: true }),
    ]);
    if (generation !== state.generation) return;
    $("#filter-error").textContent = "";
    alertUser("filter", null);
    $("#match-count").textContent = String(count);
    state.audience = audience.rows;
    state.audienceTotal = audience.total;
    // Converted into WebAssembly once per audience; each keystroke then previews them in place.
    state.rows?.free();
    state.rows = new Rows(audience.rows);
  } catch (e) {
    if (generation !== state.generation) return;
    $("#filter-error").textContent = describe(e);
    $("#match-count").textContent = "–";
    return;
  }
  await Promise.all([loadCustomerPage(), Promise.resolve(updatePreview())]);
}

async function loadCustomerPage() {
  const sort = $("#customer-sort").value;
  const search = $("#customer-search").value.trim();
  const body = {
    where: currentFilter(),
    limit: PAGE_SIZE,
    offset: state.page * PAGE_SIZE,
    count: true,
  };
  if (search) body.search = search;
  if (sort) body.sort = [{ field: sort, direction: $("#customer-direction").value, nulls: "last" }];
  // Only the latest request's answer is shown (an earlier one may arrive after it).
  const ticket = ++state.pageTicket;
  const page = await guarded("customers", () => api("POST", "/api/customers/query", body));
  if (!page || ticket !== state.pageTicket) return;
  $("#customer-table tbody").replaceChildren(
    ...page.rows.map((c) => el("tr", {},
      el("td", {}, String(c.id)),
      el("td", {}, `${c.first_name ?? ""} ${c.last_name ?? ""}`.trim() || "–"),
      el("td", {}, c.phone ?? "–"),
      el("td", {}, c.city ?? "–"),
      el("td", {}, c.opted_in === null || c.opted_in === undefined ? "unknown" : c.opted_in ? "yes" : "no"),
      el("td", {}, (c.date_create ?? "").slice(0, 10)),
    )),
  );
  const pages = Math.max(1, Math.ceil(page.total / PAGE_SIZE));
  $("#page-info").textContent = `Page ${state.page + 1} of ${pages}`;
  $("#customer-caption").textContent = `${page.total} customers${search ? ` matching “${search}”` : ""}`;
  $("#page-prev").disabled = state.page === 0;
  $("#page-next").disabled = state.page + 1 >= pages;
}

// --- saved filters -------------------------------------------------------------------------

async function loadSaved(selectId) {
  const saved = await guarded("saved", () => api("GET", "/api/saved-filters"));
  if (!saved) return;
  state.saved = saved;
  const visibility = (f) => f.visibility.type === "shared" ? ` (shared with ${f.visibility.users.length})` : f.visibility.type === "team" ? " (team)" : "";
  $("#saved-select").replaceChildren(
    el("option", { value: "" }, "choose a saved filter…"),
    ...saved.map((f) => el("option", { value: f.id, selected: f.id === selectId }, `${f.name}${visibility(f)}`)),
  );
}

function selectedSaved() {
  const id = $("#saved-select").value;
  const saved = state.saved.find((f) => f.id === id);
  if (!saved) alertUser("saved", "Choose a saved filter first.");
  return saved;
}

async function saveFilter() {
  const name = $("#saved-name").value.trim();
  if (!name) {
    alertUser("saved", "Give the filter a name before saving it.");
    return;
  }
  const where = currentFilter() ?? { and: [] };
  const saved = await guarded("saved", () => api("POST", "/api/saved-filters", { name, filter: { version: 1, where } }));
  if (!saved) return;
  $("#saved-result").textContent = `Saved “${saved.name}”.`;
  await loadSaved(saved.id);
}

async function share(visibility) {
  const saved = selectedSaved();
  if (!saved) return;
  const updated = await guarded("saved", () => api("PUT", `/api/saved-filters/${encodeURIComponent(saved.id)}`, { visibility }));
  if (!updated) return;
  $("#saved-result").textContent = visibility.type === "team" ? `“${updated.name}” is visible to your team.` : `“${updated.name}” is shared with ${visibility.users.length} user(s).`;
  await loadSaved(updated.id);
}

// --- 3. Preview ------------------------------------------------------------------------------

/** The message's parts, with each character that forced UCS-2 highlighted. */
function partsView(text) {
  const full = state.segmenter.segment(text);
  const culprits = new Set(full.nonGsm.map((c) => c.index));
  let offset = 0;
  return el("ol", { className: "parts" },
    ...full.parts.map((part, k) => {
      const item = el("li", { title: `part ${k + 1}: ${full.segmentUnits[k]} of ${full.capacity} units` });
      let utf16 = offset;
      for (const ch of part) {
        item.append(culprits.has(utf16) ? el("mark", { title: "forces UCS-2" }, ch) : ch);
        utf16 += ch.length;
      }
      offset = utf16;
      return item;
    }),
  );
}

// Amounts are exact decimal strings ("0.0079"): shown as they are, never through a float.
function money(amount, currency) {
  return currency === "credits" ? `${amount} credits` : `${amount} ${currency}`;
}

function renderSummary(summary, ms) {
  const histogram = Object.entries(summary.histogram).map(([segments, n]) => `${n} × ${segments}`).join(", ") || "–";
  const excluded = Object.entries(summary.excluded).filter(([, n]) => n > 0).map(([why, n]) => `${why} ${n}`).join(", ") || "none";
  $("#summary").replaceChildren(
    el("div", {}, el("span", {}, "Recipients"), el("strong", { id: "sum-recipients" }, String(summary.recipients))),
    el("div", {}, el("span", {}, "Excluded"), el("strong", { id: "sum-excluded" }, String(summary.total - summary.recipients)), el("small", {}, excluded)),
    el("div", {}, el("span", {}, "Segments (credits)"), el("strong", { id: "sum-segments" }, String(summary.segments)), el("small", {}, `messages × segments: ${histogram}`)),
    el("div", {}, el("span", {}, "Estimated cost"), el("strong", { id: "sum-cost" }, money(summary.cost, summary.currency))),
    el("div", {}, el("span", {}, "Encoding"), el("strong", { id: "sum-encoding" },
      `GSM-7 ${summary.byEncoding["GSM-7"].recipients} · UCS-2 ${summary.byEncoding["UCS-2"].recipients}`),
      el("small", {}, `${summary.pushedToUcs2.count} pushed to UCS-2 by their own data, ${summary.pushedToExtraSegment.count} to an extra segment`)),
  );
  const partial = state.audienceTotal > state.audience.length;
  $("#timing").textContent = partial
    ? `Preview of the first ${summary.total} of ${state.audienceTotal} customers, computed in the browser in ${ms.toFixed(1)} ms; the batch covers all of them.`
    : `Preview of ${summary.total} customers computed in the browser in ${ms.toFixed(1)} ms.`;
}

/**
 * The audience is larger than the page holds: the server previews every customer (the same
 * core, over the store) and its totals are the exact cost of the batch. Debounced, since the
 * template changes with each keystroke; only the latest answer is shown.
 */
const updateExact = debounce(async () => {
  const exact = $("#exact");
  if (!(state.audienceTotal > state.audience.length)) {
    exact.hidden = true;
    exact.replaceChildren();
    delete exact.dataset.total;
    return;
  }
  const ticket = ++state.exactTicket;
  exact.hidden = false;
  exact.textContent = `Computing the exact totals of all ${state.audienceTotal} customers on the server…`;
  const body = { template: $("#template-editor").value, where: currentFilter(), purpose: $("#purpose").value, show: 0 };
  const preview = await guarded("exact", () => api("POST", "/api/preview", body));
  if (ticket !== state.exactTicket) return;
  if (!preview) {
    exact.textContent = "";
    return;
  }
  const s = preview.summary;
  exact.dataset.total = String(s.total);
  exact.replaceChildren(
    `Exact for all ${s.total} customers (computed by the server): `,
    el("strong", { id: "exact-recipients" }, String(s.recipients)), " recipients, ",
    el("strong", { id: "exact-segments" }, String(s.segments)), " segments, cost ",
    el("strong", { id: "exact-cost" }, money(s.cost, s.currency)), ".",
  );
}, 400);

function updatePreview() {
  if (!state.config || !state.segmenter || !state.rows) return;
  const body = $("#template-editor").value;
  let template;
  try {
    template = new Template(body);
  } catch (e) {
    $("#template-error").textContent = e.kind === "templateSyntax" ? `The template has a syntax error at line ${e.line}, column ${e.column}: ${e.message}` : e.message;
    return;
  }
  $("#template-error").textContent = "";
  let previewer;
  try {
    previewer = new Previewer(template, { ...state.config, purpose: $("#purpose").value });
    const started = performance.now();
    const preview = previewer.previewRows(state.rows);
    const ms = performance.now() - started;
    state.timings.push(ms);
    renderSummary(preview.summary, ms);
    updateExact();
    const included = preview.recipients.filter((r) => r.text !== undefined).slice(0, SHOWN_MESSAGES);
    $("#preview-table tbody").replaceChildren(
      ...included.map((r) => {
        const customer = state.audience[r.index];
        return el("tr", { className: r.pushedToUcs2 ? "pushed" : "" },
          el("td", {}, `${customer.first_name ?? ""} ${customer.last_name ?? ""} (#${r.id})`),
          el("td", {}, r.phone),
          el("td", {}, partsView(r.text)),
          el("td", {}, r.encoding),
          el("td", {}, String(r.segments)),
          el("td", {}, money(r.cost, preview.summary.currency)),
        );
      }),
    );
    const excluded = preview.recipients.filter((r) => r.excluded !== undefined || r.error !== undefined).slice(0, SHOWN_EXCLUDED);
    $("#excluded-table tbody").replaceChildren(
      ...excluded.map((r) => el("tr", {},
        el("td", {}, `#${r.id ?? r.index}`),
        el("td", {}, r.excluded ?? r.error.kind),
        el("td", {}, r.detail ?? r.error.message),
      )),
    );
  } catch (e) {
    $("#template-error").textContent = e.message;
  } finally {
    previewer?.free();
    template.free();
  }
}

// --- send ------------------------------------------------------------------------------------

async function createBatch() {
  const where = currentFilter();
  let options = {};
  const advanced = $("#send-options").value.trim();
  if (advanced) {
    try {
      options = JSON.parse(advanced);
    } catch (e) {
      alertUser("send", `The advanced options are not JSON: ${e.message}`);
      return;
    }
  }
  const rate = $("#send-rate").value.trim();
  if (rate) options.rate = { segmentsPerSecond: Number(rate) };
  const sendAt = $("#send-at").value;
  const body = {
    template: $("#template-editor").value,
    templateId: state.template && state.template.body === $("#template-editor").value ? state.template.id : undefined,
    where,
    purpose: $("#purpose").value,
    options,
  };
  if (sendAt) body.sendAt = new Date(sendAt).toISOString();
  $("#send").disabled = true;
  try {
    const batch = await guarded("send", () => api("POST", "/api/batches", body));
    if (!batch) return;
    const link = el("a", { href: `/dashboard#${batch.id}`, id: "batch-link" }, `batch ${batch.id.slice(0, 8)}`);
    $("#send-result").replaceChildren(`Created `, link, ` (${batch.state}${batch.sendAt ? `, sends at ${batch.sendAt}` : ""}). `, el("a", { href: "/dashboard" }, "Watch it on the dashboard."));
    $("#send-result").dataset.batch = batch.id;
  } finally {
    $("#send").disabled = false;
  }
}

// --- start -----------------------------------------------------------------------------------

async function main() {
  await init();
  await session();
  const [schema, config, presets] = await Promise.all([
    api("GET", "/api/schema"),
    api("GET", "/api/preview-config"),
    api("GET", "/api/filter-presets"),
  ]);
  state.fields = schema.fields;
  state.config = config;
  state.segmenter = new Segmenter(config.segments);
  $("#customer-sort").replaceChildren(
    el("option", { value: "" }, "newest first (default)"),
    ...schema.fields.filter((f) => f.sortable).map((f) => el("option", { value: f.name }, f.name)),
  );
  $("#preset").append(...presets.map((p) => el("option", { value: p.key }, p.name)));
  $("#preset").onchange = () => {
    const preset = presets.find((p) => p.key === $("#preset").value);
    if (preset) loadFilter(preset.filter);
    $("#preset").value = "";
  };

  $("#template-search").addEventListener("input", debounce(loadTemplates, 150));
  $("#template-editor").addEventListener("input", updatePreview);
  $("#purpose").addEventListener("change", updatePreview);
  $("#filter-combinator").addEventListener("change", audienceChanged);
  $("#add-condition").addEventListener("click", () => {
    state.conditions.push({ field: "city", op: "contains", value: "", value2: "" });
    renderConditions();
    audienceChanged();
  });
  $("#customer-search").addEventListener("input", debounce(() => { state.page = 0; loadCustomerPage(); }, 200));
  $("#customer-sort").addEventListener("change", () => { state.page = 0; loadCustomerPage(); });
  $("#customer-direction").addEventListener("change", () => { state.page = 0; loadCustomerPage(); });
  $("#page-prev").addEventListener("click", () => { state.page = Math.max(0, state.page - 1); loadCustomerPage(); });
  $("#page-next").addEventListener("click", () => { state.page += 1; loadCustomerPage(); });
  $("#saved-select").addEventListener("change", () => {
    const saved = state.saved.find((f) => f.id === $("#saved-select").value);
    if (saved) {
      $("#saved-name").value = saved.name;
      loadFilter(saved.filter);
    }
  });
  $("#saved-save").addEventListener("click", saveFilter);
  $("#saved-share").addEventListener("click", () => {
    const users = $("#share-users").value.split(",").map((u) => u.trim()).filter(Boolean);
    if (users.length === 0) {
      alertUser("saved", "List at least one user id to share with.");
      return;
    }
    share({ type: "shared", users });
  });
  $("#saved-team").addEventListener("click", () => share({ type: "team" }));
  $("#saved-delete").addEventListener("click", async () => {
    const saved = selectedSaved();
    if (!saved) return;
    const done = await guarded("saved", () => api("DELETE", `/api/saved-filters/${encodeURIComponent(saved.id)}`));
    if (done === undefined) return;
    $("#saved-result").textContent = `Deleted “${saved.name}”.`;
    await loadSaved();
  });
  $("#saved-export").addEventListener("click", () => guarded("saved", () => download("/api/saved-filters/export", "saved-filters.json")));
  $("#saved-import").addEventListener("change", async () => {
    const file = $("#saved-import").files[0];
    if (!file) return;
    const changes = await guarded("saved", async () => api("POST", "/api/saved-filters/import?mode=copy", await file.text()));
    $("#saved-import").value = "";
    if (!changes) return;
    $("#saved-result").textContent = `Imported ${changes.created.length} filter(s) as your own copies.`;
    await loadSaved();
  });
  $("#send").addEventListener("click", createBatch);

  await loadTemplates();
  await loadSaved();
  renderConditions();
  if (state.templates.length > 0) selectTemplate(state.templates[0]);
  await refreshAudience();
  setStatus("ready", "ready");
}

main().catch((e) => {
  setStatus("failed", "failed");
  alertUser("start", `The workspace could not start: ${describe(e)}`);
  console.error(e);
});
