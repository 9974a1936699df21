// The Switchyard dashboard: reads GET /admin/overview every couple of seconds and
// draws it. No libraries: the charts are SVG polylines built here. Every chart marks
// how many points it drew (data-points) and every breaker its state (data-state), so a
// test (or a script) can read the page from the DOM.
"use strict";

const PALETTE = ["#58a6ff", "#f0883e", "#3fb950", "#bc8cff", "#ff7b72", "#d29922",
  "#39c5cf", "#e3b341", "#8b949e", "#a5d6ff", "#ffa198", "#7ee787"];
const CLASS_COLORS = { invalid: "#8b949e", auth: "#bc8cff", rate_limited: "#d29922",
  budget: "#e3b341", client_gone: "#39c5cf", shed: "#f0883e", upstream: "#f85149", gateway: "#ff7b72" };
const SVG = "http://www.w3.org/2000/svg";

let range = "5m";
let paused = false;
let timer = null;
let last = null;

const $ = (sel, root = document) => root.querySelector(sel);
const fmt = (x, digits = 1) => x == null || !isFinite(x) ? "–" :
  Math.abs(x) >= 1000 ? Math.round(x).toLocaleString() : x.toFixed(digits);
const ms = (x) => x == null ? "–" : x >= 1000 ? (x / 1000).toFixed(2) + " s" : Math.round(x) + " ms";
const usd = (x) => x == null ? "–" : "$" + (x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toFixed(4));
const pct = (x, digits = 3) => x == null ? "–" : (x * 100).toFixed(digits) + "%";

function el(tag, attrs = {}, text) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text != null) e.textContent = text;
  return e;
}

// The latest non-null value of a column, looking back a few points (the newest
// point may be a second that has just begun).
function latest(values, back = 3) {
  for (let i = values.length - 1; i >= Math.max(0, values.length - back); i--) {
    if (values[i] != null) return values[i];
  }
  return null;
}

// Mean of the last `n` points (rates), skipping nulls.
function recent(values, n = 5) {
  const xs = values.slice(-n - 1, -1).filter((v) => v != null);
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
}

function clock(t) {
  const d = new Date(t * 1000);
  return d.toTimeString().slice(0, range === "24h" || range === "6h" ? 5 : 8);
}

// Draw `lines` ([{name, values, color}]) over times `t` into figure `fig`.
function chart(fig, t, lines, opts = {}) {
  const plot = $(".plot", fig);
  plot.replaceChildren();
  // Drawn at the plot's own width, so text keeps its size on wide and narrow charts.
  const W = Math.max(300, Math.round(plot.clientWidth || 600)), H = 180, L = 52, R = 8, T = 8, B = 20;
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H });
  let max = 0, points = 0, drawn = 0;
  for (const line of lines) for (const v of line.values) if (v != null && v > max) max = v;
  if (opts.max != null) max = Math.max(max, opts.max);
  if (max <= 0) max = 1;
  const nice = Math.pow(10, Math.floor(Math.log10(max)));
  max = Math.ceil(max / nice) * nice;
  const x = (i) => L + (W - L - R) * (t.length > 1 ? i / (t.length - 1) : 0);
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const any = lines.some((line) => line.values.some((v) => v != null));
  for (let k = 0; k <= 4; k++) {
    const v = max * k / 4;
    svg.append(el("svg:line", { class: "grid", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
    if (any) svg.append(el("svg:text", { x: L - 4, y: y(v) + 3, "text-anchor": "end" }, opts.format ? opts.format(v) : fmt(v, v < 10 ? 1 : 0)));
  }
  if (t.length) {
    for (const i of [0, Math.floor((t.length - 1) / 2), t.length - 1]) {
      svg.append(el("svg:text", { x: x(i), y: H - 4, "text-anchor": i === 0 ? "start" : i === t.length - 1 ? "end" : "middle" }, clock(t[i])));
    }
  }
  const legend = el("div", { class: "legend" });
  lines.forEach((line, n) => {
    const color = line.color || PALETTE[n % PALETTE.length];
    let d = "", pen = false, count = 0;
    line.values.forEach((v, i) => {
      if (v == null) { pen = false; return; }
      d += (pen ? "L" : "M") + x(i).toFixed(1) + "," + y(v).toFixed(1);
      pen = true; count++;
    });
    if (count) {
      svg.append(el("svg:path", { class: "line", d, stroke: color, "data-name": line.name }));
      drawn++;
    }
    points += count;
    const item = el("span");
    // The newest point is a period still running: the legend shows the one before.
    const shown = latest(line.values.slice(0, -1));
    item.append(el("i", { style: `background:${color}` }), `${line.name} ${opts.format ? opts.format(shown) : fmt(shown)}`);
    legend.append(item);
  });
  if (!points) svg.append(el("svg:text", { class: "empty", x: W / 2, y: H / 2, "text-anchor": "middle" }, "no traffic in this range"));
  plot.append(svg, legend);
  fig.dataset.points = String(points);
  fig.dataset.lines = String(drawn);
}

function tile(name, value, sub, level) {
  const t = $(`[data-tile="${name}"]`);
  $(".value", t).textContent = value;
  if (sub != null && $(".sub", t)) $(".sub", t).textContent = sub;
  t.classList.remove("good", "warn", "bad");
  if (level) t.classList.add(level);
}

function drawTiles(o) {
  const a = o.series.all;
  const rps = recent(a.rps);
  const errs = a.errors_per_s;
  const fivexx = recent(errs.shed.map((v, i) => v + errs.upstream[i] + errs.gateway[i]));
  const share = rps ? fivexx / rps : 0;
  tile("rps", fmt(rps, 1));
  tile("errors", rps ? pct(share, 2) : "–", null, share > 0.01 ? "bad" : share > 0 ? "warn" : "good");
  tile("p99", ms(latest(a.p99_ms)));
  tile("ttft", ms(latest(a.ttft_p99_ms)));
  tile("tokens", fmt(recent(a.tokens_per_s), 0));
  tile("inflight", `${o.in_flight} / ${o.max_concurrency}`);
  const s = o.slo;
  const hours = s.since ? Math.max(1, Math.round((o.now - s.since) / 3600)) : 0;
  const held = hours < 48 ? `${hours} h` : `${Math.round(hours / 24)} d`;
  tile("availability", pct(s.availability, 3), `target ${pct(s.target, 1)} over ${s.window_days} d` + (s.since && hours < s.window_days * 24 ? ` (${held} of data so far)` : ""),
    s.availability == null ? null : s.availability >= s.target ? "good" : "bad");
  tile("budget", s.error_budget_left == null ? "–" : pct(s.error_budget_left, 1), `${s.failed.toLocaleString()} failed of ${s.requests.toLocaleString()}`,
    s.error_budget_left == null ? null : s.error_budget_left <= 0 ? "bad" : s.error_budget_left < 0.25 ? "warn" : "good");
  const b = s.burn_rate;
  tile("burn", [b["5m"], b["1h"], b["6h"]].map((v) => fmt(v, 1)).join(" · "), null,
    (b["1h"] ?? 0) >= 14.4 || (b["6h"] ?? 0) >= 6 ? "bad" : (b["5m"] ?? 0) > 1 ? "warn" : "good");
  return { rps, share };
}

function drawStatus(o, now) {
  const open = o.breakers.filter((b) => b.state !== "closed");
  const st = $("#status");
  st.className = "status";
  if (open.length) {
    st.classList.add("outage");
    st.textContent = `${open.length} deployment${open.length > 1 ? "s" : ""} down: ` +
      open.map((b) => `${b.provider}/${b.deployment} (${b.state.replace("_", "-")})`).join(", ");
  } else if (now.share > 0.01) {
    st.classList.add("degraded");
    st.textContent = `errors at ${pct(now.share, 1)} of requests`;
  } else {
    st.classList.add("ok");
    st.textContent = "all deployments up";
  }
}

function drawBreakers(o) {
  const box = $("#breakers");
  box.replaceChildren(...o.breakers.map((b) => {
    const card = el("div", { class: "breaker", "data-state": b.state, "data-deployment": `${b.provider}/${b.deployment}` });
    const head = el("div", { class: "head" });
    head.append(el("span", { class: "name" }, `${b.provider}/${b.deployment}`), el("span", { class: "state" }, b.state.replace("_", "-")));
    card.append(head);
    let why = "";
    if (b.state !== "closed") {
      why = b.opened_because || "";
      if (b.reopens_in_s != null) why += ` · trial in ${Math.ceil(b.reopens_in_s)} s`;
    } else {
      why = `${b.successes} ok · ${b.failures} failed` + (b.warmth < 1 ? ` · warming ${Math.round(b.warmth * 100)}%` : "");
    }
    card.append(el("div", { class: "reason" }, why));
    return card;
  }));
}

function drawCharts(o) {
  const s = o.series, t = s.t, a = s.all;
  const classes = Object.entries(a.errors_per_s)
    .filter(([, v]) => v.some((x) => x > 0))
    .map(([name, values]) => ({ name, values, color: CLASS_COLORS[name] }));
  chart($('[data-chart="traffic"]'), t, [{ name: "requests", values: a.rps, color: "#58a6ff" }, ...classes]);
  chart($('[data-chart="latency"]'), t, [
    { name: "p50", values: a.p50_ms }, { name: "p95", values: a.p95_ms }, { name: "p99", values: a.p99_ms }], { format: ms });
  chart($('[data-chart="ttft"]'), t, [
    { name: "p50", values: a.ttft_p50_ms }, { name: "p95", values: a.ttft_p95_ms }, { name: "p99", values: a.ttft_p99_ms }], { format: ms });
  chart($('[data-chart="tokens"]'), t, [{ name: "tokens/s", values: a.tokens_per_s }]);
  const by = $("#breakdown-by").value, metric = $("#breakdown-metric").value;
  const split = Object.entries(s[by]).map(([name, lines]) => ({ name, values: lines[metric] }));
  const isMs = metric.endsWith("_ms");
  chart($('[data-chart="breakdown"]'), t, split, isMs ? { format: ms } : metric === "error_ratio" ? { format: (v) => pct(v, 0), max: 1 } : {});
  chart($('[data-chart="failing"]'), t,
    Object.entries(s.deployments).map(([name, lines]) => ({ name, values: lines.error_ratio })), { format: (v) => pct(v, 0), max: 1 });
  chart($('[data-chart="resilience"]'), t, Object.entries(a.events_per_s).map(([name, values]) => ({ name: name.replace("_", " "), values })));
  chart($('[data-chart="inflight"]'), t, [{ name: "in flight (most per point)", values: a.in_flight }]);
}

function budgetCell(used, text) {
  const td = el("td", {}, text);
  if (used != null) {
    td.className = used >= 1 ? "over" : used >= 0.8 ? "near" : "";
    td.append(el("span", { class: "bar", style: `width:${Math.min(60, Math.round(used * 60))}px` }));
  }
  return td;
}

function drawSpend(o) {
  const rows = (id, list, cells) => {
    const body = $(`#${id} tbody`);
    if (!list.length) {
      const columns = $(`#${id} thead tr`).children.length;
      body.replaceChildren(el("tr", {}, ""));
      body.firstChild.append(el("td", { colspan: columns, class: "none" }, id === "spend-models" ? "nothing spent yet"
        : "no spend by key yet (or gateway keys are off: [keys] enabled)"));
      return;
    }
    body.replaceChildren(...list.slice(0, 50).map((r) => {
      const tr = el("tr");
      tr.append(...cells(r));
      return tr;
    }));
  };
  rows("spend-keys", o.spend.keys, (k) => [
    el("td", {}, k.name ? `${k.name} (${k.key})` : k.key), el("td", {}, k.team || ""),
    el("td", {}, usd(k.today_usd)), el("td", {}, usd(k.month_usd)),
    k.budget_usd == null ? el("td", {}, "none")
      : budgetCell(k.budget_used, `${usd(k.period_spent_usd)} of ${usd(k.budget_usd)} / ${k.budget_period}`)]);
  rows("spend-teams", o.spend.teams, (t) => [
    el("td", {}, t.team), el("td", {}, usd(t.today_usd)), el("td", {}, usd(t.month_usd)),
    t.month_budget_usd != null ? budgetCell(t.month_usd / t.month_budget_usd, `${usd(t.month_budget_usd)} / month`)
      : t.day_budget_usd != null ? budgetCell(t.today_usd / t.day_budget_usd, `${usd(t.day_budget_usd)} / day`) : el("td", {}, "none")]);
  rows("spend-models", o.spend.models, (m) => [el("td", {}, m.model), el("td", {}, usd(m.today_usd)), el("td", {}, usd(m.month_usd))]);
}

function draw(o) {
  last = o;
  const now = drawTiles(o);
  drawStatus(o, now);
  drawBreakers(o);
  drawCharts(o);
  drawSpend(o);
  $("#updated").textContent = "updated " + new Date(o.now * 1000).toTimeString().slice(0, 8);
  document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
}

async function refresh() {
  if (paused) return;
  try {
    const r = await fetch(`/admin/overview?range=${range}&points=300`, { credentials: "same-origin", cache: "no-store" });
    if (r.status === 401 || r.status === 403) { location.href = "/dashboard"; return; }
    if (!r.ok) throw new Error(`the gateway answered ${r.status}`);
    draw(await r.json());
  } catch (e) {
    const st = $("#status");
    st.className = "status unknown";
    st.textContent = `cannot reach the gateway: ${e.message}`;
  }
}

function schedule() {
  clearInterval(timer);
  timer = setInterval(refresh, range === "6h" || range === "24h" ? 10000 : 2000);
}

document.addEventListener("DOMContentLoaded", () => {
  for (const b of document.querySelectorAll("#ranges button")) {
    b.addEventListener("click", () => {
      range = b.dataset.range;
      for (const o of document.querySelectorAll("#ranges button")) o.classList.toggle("on", o === b);
      schedule();
      refresh();
    });
  }
  $("#pause").addEventListener("click", () => {
    paused = !paused;
    $("#pause").textContent = paused ? "resume" : "pause";
    if (!paused) refresh();
  });
  for (const s of ["#breakdown-by", "#breakdown-metric"]) $(s).addEventListener("change", () => last && drawCharts(last));
  schedule();
  refresh();
});
