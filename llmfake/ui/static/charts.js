// Charts read at a glance (uPlot, vendored): answers per second by status class, and the
// distributions of time to first byte and of duration.
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
}
