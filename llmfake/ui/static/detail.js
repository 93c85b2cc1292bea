// One exchange in full: request (secrets masked by the server), response, stream timeline.
const box = document.getElementById("detail");
const secs = (s) => (s == null ? "-" : `${(s * 1000).toFixed(1)} ms`);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

// Each write of the stream as a bar at the time it went out, over a hollow bar at the time
// the scenario's schedule asked for: a gap between the two is the server running late.
export function timeline(sent, duration) {
  const end = Math.max(duration, ...sent.map((s) => Math.max(s[0], s[1])), 0.001);
  const w = 600, h = 60, x = (t) => 4 + (t / end) * (w - 8);
  const root = svg("svg", { viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: "none" });
  for (const [at, planned, chunks] of sent) {
    root.append(svg("rect", { class: "planned", x: x(planned) - 1, y: 6, width: 3, height: 20 }));
    const bar = svg("rect", { class: "chunk", x: x(at) - 1, y: 30, width: 3, height: 20 });
    bar.append(svg("title", {}));
    bar.firstChild.textContent = `${chunks} chunk(s) at ${secs(at)} (planned ${secs(planned)})`;
    root.append(bar);
  }
  return root;
}

export async function showDetail(summary, chain) {
  const url = `api/exchange?tenant=${encodeURIComponent(summary.tenant)}&seq=${summary.seq}`;
  const res = await fetch(url);
  const e = await res.json();
  if (!res.ok) { box.replaceChildren(el("h2", {}, "Exchange"), el("p", {}, e.error)); return; }
  const rows = [["tenant", e.tenant], ["request", `${e.method} ${e.path}`], ["model", e.model],
    ["status", e.status || "no response"], ["outcome", e.outcome], ["decided by", e.source],
    ["attempt", `${e.attempt + 1} of ${chain.length}`], ["retry-after given", e.retry_after ?? "-"],
    ["time to first byte", secs(e.ttfb)], ["duration", secs(e.duration)],
    ["chunks", e.chunks], ["bytes sent", e.bytes_sent],
    ["client", e.client_disconnected ? "went away" : "stayed"]];
  const table = el("table", { class: "facts" });
  for (const [k, v] of rows) table.append(el("tr", {}, el("th", {}, k), el("td", {}, String(v ?? "-"))));
  const seqs = chain.map((x) => x.seq).join(",");
  const exportLink = el("a", { id: "export-test", download: "",
    href: `api/export?tenant=${encodeURIComponent(e.tenant)}&seqs=${seqs}` },
  `export ${chain.length > 1 ? "the chain" : "it"} as a pytest test`);
  const parts = [el("h2", {}, `Exchange ${e.tenant} #${e.seq}`), table, el("p", {}, exportLink)];
  if (e.sent && e.sent.length) {
    const writes = el("table", { id: "chunks" }, el("tr", {}, el("th", {}, "sent"), el("th", {}, "planned"), el("th", {}, "chunks")));
    for (const [at, planned, chunks] of e.sent) {
      writes.append(el("tr", {}, el("td", {}, secs(at)), el("td", {}, secs(planned)), el("td", {}, String(chunks))));
    }
    parts.push(el("h3", {}, "Stream timeline"), el("div", { id: "timeline" }, timeline(e.sent, e.duration)),
      el("details", {}, el("summary", {}, `${e.sent.length} writes`), writes));
  }
  parts.push(el("h3", {}, "Request headers"), el("pre", {}, JSON.stringify(e.headers, null, 2)),
    el("h3", {}, "Request body"), el("pre", {}, JSON.stringify(e.body, null, 2)));
  if (e.response_text != null) parts.push(el("h3", {}, "Reply text"), el("pre", {}, e.response_text));
  box.replaceChildren(...parts);
}
