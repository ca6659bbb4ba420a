// The batch workspace demo: template selection, customer configuration and preview, all computed
// by the smsbatch core compiled to WebAssembly (../pkg/web). No framework; every update is a
// direct call into the package.
import init, {
  FlagEngine, Filter, Previewer, Rows, Segmenter, Template, customerSchema, searchTemplates,
} from "../pkg/web/smsbatch.js";

const $ = (selector) => document.querySelector(selector);
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

// The page passes its clock in; the library never reads one.
const NOW = new Date().toISOString();
const PRICES = {
  currency: "USD",
  default: { "GSM-7": 0.0079, "UCS-2": 0.0079 },
  byCountry: { "44": { "GSM-7": 0.04, "UCS-2": 0.04 }, "33": { "GSM-7": 0.075, "UCS-2": 0.075 }, "90": { "GSM-7": 0.02, "UCS-2": 0.02 } },
};
const SHOWN_MESSAGES = 25;
const SHOWN_EXCLUDED = 50;

const OPS = {
  string: ["contains", "notContains", "equals", "notEquals", "startsWith", "notStartsWith", "endsWith", "notEndsWith", "in", "notIn", "isEmpty", "isNotEmpty"],
  number: ["gt", "gte", "lt", "lte", "equals", "notEquals", "between", "notBetween", "in", "notIn", "isEmpty", "isNotEmpty"],
  date: ["withinLastDays", "notWithinLastDays", "gt", "gte", "lt", "lte", "between", "notBetween", "equals", "notEquals", "isEmpty", "isNotEmpty"],
  timestamp: ["withinLastDays", "notWithinLastDays", "gt", "gte", "lt", "lte", "between", "notBetween", "equals", "notEquals", "isEmpty", "isNotEmpty"],
  boolean: ["isTrue", "isFalse", "isNotTrue", "isNotFalse", "isEmpty", "isNotEmpty"],
};
const VALUELESS = new Set(["isEmpty", "isNotEmpty", "isTrue", "isFalse", "isNotTrue", "isNotFalse"]);

const state = {
  customers: [],
  rows: null,
  templates: [],
  fields: [],
  conditions: [],
  audience: [],
  selection: null,
  timings: [],
  segmenter: null,
};
// Read by the browser test.
window.__previewTimings = state.timings;

function setStatus(text, kind) {
  const status = $("#status");
  status.textContent = text;
  status.dataset.state = kind;
}

// --- 1. Template selection -----------------------------------------------------------------

function renderTemplateList() {
  const query = $("#template-search").value;
  const found = query.trim() ? searchTemplates(state.templates, query) : state.templates;
  const list = $("#template-list");
  list.replaceChildren(
    ...found.map((record) =>
      el("li", {},
        el("button", { type: "button", className: "card", onclick: () => selectTemplate(record) },
          el("strong", {}, record.name),
          el("span", { className: "muted" }, record.description ?? ""),
        ),
      ),
    ),
  );
  if (found.length === 0) list.append(el("li", { className: "muted" }, "No template matches."));
}

function selectTemplate(record) {
  const template = new Template(record.body);
  try {
    const meta = template.metadata();
    $("#template-meta").replaceChildren(
      el("dt", {}, "Template"), el("dd", {}, record.name),
      el("dt", {}, "Variables"), el("dd", {}, meta.variables.join(", ") || "none"),
      el("dt", {}, "Encoding of the static text"), el("dd", {}, meta.encoding),
      el("dt", {}, "Minimum segments"), el("dd", {}, String(meta.minSegments)),
    );
  } finally {
    template.free();
  }
  $("#template-editor").value = record.body;
  // Order updates are transactional; everything else in the sample is marketing, which needs
  // the customer's opt-in.
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
    node.value = c.value.split(",").map((v) => parseScalar(type, v.trim())).filter((v) => v !== "" && v !== null);
  } else if (c.op === "between" || c.op === "notBetween") {
    node.value = [parseScalar(type, c.value), parseScalar(type, c.value2)];
  } else if (c.op.endsWith("LastDays")) {
    node.value = Number(c.value);
  } else {
    node.value = parseScalar(type, c.value);
  }
  return node;
}

function renderConditions() {
  const container = $("#conditions");
  container.replaceChildren(
    ...state.conditions.map((c, i) => {
      const type = fieldType(c.field);
      const field = el("select", { className: "field", "aria-label": "Field" },
        ...state.fields.map((f) => el("option", { value: f.name, selected: f.name === c.field }, f.name)));
      field.onchange = () => {
        c.field = field.value;
        if (!OPS[fieldType(c.field)].includes(c.op)) c.op = OPS[fieldType(c.field)][0];
        renderConditions();
        updateAudience();
      };
      const op = el("select", { className: "op", "aria-label": "Operator" },
        ...OPS[type].map((o) => el("option", { value: o, selected: o === c.op }, o)));
      op.onchange = () => {
        c.op = op.value;
        renderConditions();
        updateAudience();
      };
      const inputs = [];
      if (!VALUELESS.has(c.op)) {
        const value = el("input", { className: "value", value: c.value, placeholder: c.op === "in" || c.op === "notIn" ? "a, b, c" : "value", "aria-label": "Value" });
        value.oninput = () => { c.value = value.value; updateAudience(); };
        inputs.push(value);
        if (c.op === "between" || c.op === "notBetween") {
          const value2 = el("input", { className: "value2", value: c.value2, placeholder: "and", "aria-label": "Upper bound" });
          value2.oninput = () => { c.value2 = value2.value; updateAudience(); };
          inputs.push(value2);
        }
      }
      const remove = el("button", { type: "button", className: "remove", title: "Remove condition" }, "×");
      remove.onclick = () => {
        state.conditions.splice(i, 1);
        renderConditions();
        updateAudience();
      };
      return el("div", { className: "condition" }, field, op, ...inputs, remove);
    }),
  );
}

function currentFilter() {
  // No condition selects everyone, whichever combinator is chosen (an empty `or` selects no one).
  const combinator = state.conditions.length === 0 ? "and" : $("#filter-combinator").value;
  return { [combinator]: state.conditions.map(conditionNode) };
}

function updateAudience() {
  const node = currentFilter();
  let filter;
  try {
    filter = new Filter(node, { now: NOW });
  } catch (e) {
    $("#filter-error").textContent = e.path ? `${e.message}` : e.message;
    return;
  }
  try {
    $("#filter-error").textContent = "";
    const selected = filter.select(state.rows);
    state.selection = Uint32Array.from(selected);
    state.audience = selected.map((i) => state.customers[i]);
    $("#match-count").textContent = String(selected.length);
    const query = filter.queryString();
    $("#postgrest-query").textContent = query ? `GET /rest/v1/customers?${query}` : "GET /rest/v1/customers (no filter)";
    const sql = filter.sqlWhere();
    $("#sql-query").textContent = `SELECT * FROM customers WHERE ${sql.where}\n-- params: ${JSON.stringify(sql.params)}`;
  } finally {
    filter.free();
  }
  updatePreview();
}

// --- 3. Preview and schedule ---------------------------------------------------------------

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
  $("#timing").textContent = `Preview of ${summary.total} customers computed in ${ms.toFixed(1)} ms.`;
}

function updatePreview() {
  const body = $("#template-editor").value;
  let template;
  try {
    template = new Template(body);
  } catch (e) {
    // The message gives the line and column itself.
    $("#template-error").textContent = e.message;
    return;
  }
  $("#template-error").textContent = "";
  let previewer;
  try {
    previewer = new Previewer(template, { prices: PRICES, purpose: $("#purpose").value });
    const started = performance.now();
    // The rows crossed into WebAssembly once, at load; each keystroke passes only positions.
    const preview = previewer.previewRows(state.rows, state.selection);
    const ms = performance.now() - started;
    state.timings.push(ms);
    renderSummary(preview.summary, ms);
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

function schedule() {
  const payload = {
    filter: { version: 1, where: currentFilter() },
    template: $("#template-editor").value,
    purpose: $("#purpose").value,
    recipients: Number($("#sum-recipients")?.textContent ?? 0),
  };
  $("#schedule-result").textContent = `Ready to hand to the server: ${JSON.stringify(payload)}`;
}

// --- Flag check ------------------------------------------------------------------------------

function updateFlag(engine) {
  const name = $("#flag-name").value;
  const userId = $("#flag-user").value.trim();
  const details = engine.evaluate(name, false, userId ? { userId } : {}, { now: NOW });
  const verdict = details.value ? "on" : "off";
  const who = userId ? `user ${userId}` : "an anonymous visitor";
  $("#flag-result").textContent = `${name} is ${verdict} for ${who} (reason: ${details.reason}${details.errorCode ? `, ${details.errorCode}` : ""}).`;
  $("#flag-result").dataset.enabled = String(details.value);
}

// --- Start -----------------------------------------------------------------------------------

async function main() {
  await init();
  const [customers, templates, flagState] = await Promise.all(
    ["data/customers.json", "data/templates.json", "data/flags.json"].map((url) => fetch(url).then((r) => r.json())),
  );
  state.customers = customers;
  state.templates = templates;
  state.rows = new Rows(customers);
  state.fields = customerSchema().fields;
  state.segmenter = new Segmenter();
  state.audience = customers;
  state.selection = Uint32Array.from(customers.keys());
  $("#customer-total").textContent = String(customers.length);

  $("#template-search").addEventListener("input", renderTemplateList);
  $("#template-editor").addEventListener("input", updatePreview);
  $("#purpose").addEventListener("change", updatePreview);
  $("#filter-combinator").addEventListener("change", updateAudience);
  $("#add-condition").addEventListener("click", () => {
    state.conditions.push({ field: "city", op: "contains", value: "", value2: "" });
    renderConditions();
    updateAudience();
  });
  $("#schedule").addEventListener("click", schedule);

  const engine = new FlagEngine(flagState);
  engine.onMissing((name) => console.info(`flag ${name} does not exist yet; a store would create it, off`));
  $("#flag-name").replaceChildren(...flagState.features.map((f) => el("option", { value: f.name }, f.name)));
  $("#flag-name").addEventListener("change", () => updateFlag(engine));
  $("#flag-user").addEventListener("input", () => updateFlag(engine));

  renderTemplateList();
  renderConditions();
  selectTemplate(templates[0]);
  updateAudience();
  updateFlag(engine);
  setStatus("ready", "ready");
}

main().catch((e) => {
  setStatus(`failed: ${e.message}`, "failed");
  console.error(e);
});
