// Charts read at a glance (uPlot, vendored): answers per second by status class, the
// distributions of time to first byte and of duration, and the rate-limit windows.
/* global uPlot */
const charts = {};
let last = -Infinity;
let latest = null;
let timer = null;

function put(id, opts, data) {
  const host = document.getElementById(id);
  const width = host.clientWidth || 320;
  if (!charts[id] || charts[id].width !== width) {
    charts[id]?.destroy();
    charts[id] = new uPlot({ ...opts, width, height: 150 }, data, host);
  } else {
    charts[id].setData(data);
  }
}

// Drawn once a second at most: the newest data waits for the next draw, never dropped.
// ``exchanges`` is a function: the filtering is done only when a draw happens.
export function drawCharts(exchanges) {
  latest = exchanges;
  const wait = last + 1000 - performance.now();
  if (wait > 0) {
    timer ??= setTimeout(() => { timer = null; drawCharts(latest); }, wait);
    return;
  }
  last = performance.now();
  if (typeof uPlot !== "undefined") draw(exchanges().filter((e) => e.ended != null));
}

function draw(exchanges) {
  const perSecond = new Map();
  for (const e of exchanges) {
    const t = Math.floor(e.started);
    const c = perSecond.get(t) ?? [0, 0, 0];
    c[e.status >= 200 && e.status < 400 && e.completed ? 0 : e.status >= 400 && e.status < 500 ? 1 : 2]++;
    perSecond.set(t, c);
  }
  const xs = [...perSecond.keys()].sort((a, b) => a - b);
  put("chart-status", {
    title: "answers per second",
    scales: { x: { time: false } },
    series: [{ label: "s" }, { label: "2xx", stroke: "#1f8a4c" }, { label: "4xx", stroke: "#b7791f" },
      { label: "5xx / cut", stroke: "#c53030" }],
  }, [xs, ...[0, 1, 2].map((i) => xs.map((x) => perSecond.get(x)[i]))]);
  const edges = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
  const hist = (values) => {  // one pass: each value into the first bucket that holds it
    const counts = edges.map(() => 0);
    for (const v of values) {
      let i = 0;
      while (i < edges.length - 1 && v > edges[i]) i++;
      counts[i]++;
    }
    return counts;
  };
  const bars = uPlot.paths.bars({ size: [0.6, 40] });
  put("chart-times", {
    title: "time to first byte and duration (count per bucket, seconds)",
    scales: { x: { time: false, distr: 2 } },
    series: [{ label: "≤ s" }, { label: "ttfb", stroke: "#3b82f6", paths: bars, fill: "#3b82f680" },
      { label: "duration", stroke: "#9333ea", paths: bars, fill: "#9333ea40" }],
  }, [edges, hist(exchanges.filter((e) => e.ttfb != null).map((e) => e.ttfb)), hist(exchanges.map((e) => e.duration))]);
  drawLimits(exchanges);
}

// How full each tenant's rate-limit window is (% of its requests, and of its tokens, per
// minute): each request fills it by what it took; between requests it drains at the rate that
// empties it by the reset time the limiter gave, as the buckets refill continuously.
export function limitSeries(exchanges) {
  const byTenant = new Map();
  for (const e of exchanges) {
    if (!e.limits) continue;
    if (!byTenant.has(e.tenant)) byTenant.set(e.tenant, []);
    byTenant.get(e.tenant).push(e);
  }
  const series = [];
  for (const [tenant, list] of byTenant) {
    list.sort((a, b) => a.started - b.started);
    for (const kind of ["requests", "tokens"]) {
      if (list[0].limits[`${kind}_limit`] == null) continue;
      const points = [];
      let prev = null;
      for (const e of list) {
        const l = e.limits, t = e.started;
        const used = 100 * (1 - l[`${kind}_remaining`] / l[`${kind}_limit`]);
        if (prev) {
          const full = prev.t + prev.reset;
          if (full < t) points.push([full, 0]);
          else points.push([t - 1e-6, prev.used * (prev.reset > 0 ? 1 - (t - prev.t) / prev.reset : 0)]);
        }
        points.push([t, used]);
        prev = { t, used, reset: l[`${kind}_reset`] };
      }
      if (prev) points.push([prev.t + prev.reset, 0]);
      series.push({ label: `${tenant} ${kind}`, points });
    }
  }
  return series;
}

const COLOURS = ["#3b82f6", "#c53030", "#1f8a4c", "#9333ea", "#b7791f", "#0891b2"];

function drawLimits(exchanges) {
  const series = limitSeries(exchanges);
  const host = document.getElementById("chart-limits");
  host.dataset.series = JSON.stringify(series.map((s) => s.label));
  if (!series.length) {
    charts["chart-limits"]?.destroy();
    delete charts["chart-limits"];
    host.textContent = "";
    return;
  }
  // One x axis for all: each series has values at its own times and gaps elsewhere.
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const ys = series.map((s) => {
    const y = xs.map(() => null);
    for (const [x, v] of s.points) y[index.get(x)] = v;
    return y;
  });
  const labels = series.map((s) => s.label).join("|");
  if (charts["chart-limits"] && host.dataset.labels !== labels) {
    charts["chart-limits"].destroy();
    delete charts["chart-limits"];
  }
  host.dataset.labels = labels;
  put("chart-limits", {
    title: "rate-limit window used (%), per tenant",
    scales: { x: { time: false }, y: { range: [0, 100] } },
    series: [{ label: "s" }, ...series.map((s, i) => ({ label: s.label, spanGaps: true,
      stroke: COLOURS[i % COLOURS.length], dash: s.label.endsWith("tokens") ? [4, 3] : undefined }))],
  }, [xs, ...ys]);
}
