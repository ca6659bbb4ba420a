// Small line charts in plain SVG (no library, nothing fetched): each series a polyline over a
// shared time axis, with a text summary for screen readers.

const NS = "http://www.w3.org/2000/svg";
const COLORS = ["#3451b2", "#b42318", "#067647", "#9e4a00", "#6941c6", "#155b75"];

function svg(tag, attrs = {}) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/**
 * Draws `series` ({name, points: [[time ms, value], ...]}) into `container`, replacing what was
 * there. `format` turns a value into text for the axis and the summary.
 */
export function lineChart(container, series, { format = (v) => String(Math.round(v * 100) / 100), label = "", empty = "no data yet" } = {}) {
  const width = 360;
  const height = 160;
  const pad = { left: 48, right: 8, top: 8, bottom: 22 };
  const all = series.flatMap((s) => s.points);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", width: "100%" });
  const title = svg("title");
  root.append(title);
  if (all.length === 0) {
    title.textContent = `${label}: ${empty}`;
    const text = svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle", fill: "#475467", "font-size": 12 });
    text.textContent = empty;
    root.append(text);
    container.replaceChildren(root);
    return;
  }
  const t0 = Math.min(...all.map((p) => p[0]));
  const t1 = Math.max(...all.map((p) => p[0]), t0 + 1);
  const vmax = Math.max(...all.map((p) => p[1]), 0) || 1;
  const x = (t) => pad.left + ((t - t0) / (t1 - t0)) * (width - pad.left - pad.right);
  const y = (v) => height - pad.bottom - (v / vmax) * (height - pad.top - pad.bottom);
  root.append(svg("line", { x1: pad.left, y1: y(0), x2: width - pad.right, y2: y(0), stroke: "#98a2b3" }));
  root.append(svg("line", { x1: pad.left, y1: pad.top, x2: pad.left, y2: y(0), stroke: "#98a2b3" }));
  for (const [value, yy] of [[vmax, y(vmax)], [0, y(0)]]) {
    const tick = svg("text", { x: pad.left - 4, y: yy + 4, "text-anchor": "end", fill: "#475467", "font-size": 10 });
    tick.textContent = format(value);
    root.append(tick);
  }
  const span = svg("text", { x: width - pad.right, y: height - 6, "text-anchor": "end", fill: "#475467", "font-size": 10 });
  span.textContent = `${Math.round((t1 - t0) / 1000)} s`;
  root.append(span);
  const summary = [];
  series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const color = COLORS[i % COLORS.length];
    const points = s.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    root.append(svg("polyline", { points, fill: "none", stroke: color, "stroke-width": 2, "data-series": s.name }));
    const last = s.points[s.points.length - 1][1];
    summary.push(`${s.name} ${format(last)}`);
  });
  title.textContent = `${label}: ${summary.join(", ")}`;
  const legend = document.createElement("p");
  legend.className = "legend";
  series.forEach((s, i) => {
    const item = document.createElement("span");
    item.style.setProperty("--swatch", COLORS[i % COLORS.length]);
    item.textContent = s.name;
    legend.append(item);
  });
  container.replaceChildren(root, legend);
}
