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
// the scenario's schedule asked for each event: a gap between the two is the server running
// late. A fault that cut the stream shows where it struck: the events it kept from going out
// are faded, a red line marks the cut, a hatched span the time a stall held the connection.
export function timeline(e) {
  const sent = e.sent, schedule = e.schedule ?? sent.map((s) => [s[1], true]);
  const cut = e.fault && !e.completed ? e.fault : null;
  const end = Math.max(e.duration, ...sent.map((s) => Math.max(s[0], s[1])),
    ...schedule.map((s) => s[0]), 0.001);
  const w = 600, h = 64, x = (t) => 4 + (t / end) * (w - 8);
  const root = svg("svg", { viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: "none" });
  let content = 0;
  let strikeAt = null;
  for (const [planned, chunk] of schedule) {
    if (chunk) content++;
    // Every event from the first content chunk past those sent: the fault struck before it.
    const unsent = cut && (strikeAt != null || (chunk && content > e.chunks));
    if (unsent && strikeAt == null) strikeAt = planned;
    const bar = svg("rect", { class: unsent ? "planned unsent" : "planned", x: x(planned) - 1, y: 6, width: 3, height: 20 });
    bar.append(svg("title", {}));
    bar.firstChild.textContent = `${chunk ? "chunk" : "framing"} planned at ${secs(planned)}${unsent ? ", never sent" : ""}`;
    root.append(bar);
  }
  for (const [at, planned, chunks] of sent) {
    const bar = svg("rect", { class: "chunk", x: x(at) - 1, y: 30, width: 3, height: 20 });
    bar.append(svg("title", {}));
    bar.firstChild.textContent = `${chunks} chunk(s) at ${secs(at)} (planned ${secs(planned)})`;
    root.append(bar);
  }
  if (cut) {
    const from = strikeAt ?? (sent.length ? sent[sent.length - 1][0] : 0);
    if (cut.name === "stall" || cut.name === "hang") {
      const span = svg("rect", { class: "stall", x: x(from), y: 28, width: Math.max(x(e.duration) - x(from), 2), height: 24 });
      span.append(svg("title", {}));
      span.firstChild.textContent = `stalled from ${secs(from)} until the cut at ${secs(e.duration)}`;
      root.append(span);
    }
    const line = svg("line", { class: "cut", x1: x(e.duration), x2: x(e.duration), y1: 2, y2: h - 2 });
    line.append(svg("title", {}));
    line.firstChild.textContent = `fault ${cut.name} cut the stream at ${secs(e.duration)} after ${e.chunks} chunk(s)`;
    root.append(line);
  }
  return root;
}

function limitText(l, kind) {
  if (l[`${kind}_limit`] == null) return null;
  return `${l[`${kind}_remaining`]} of ${l[`${kind}_limit`]} left, full again in ${secs(l[`${kind}_reset`])}`;
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
  if (e.fault) rows.splice(5, 0, ["fault", [e.fault.name, e.fault.after_chunks != null ? `after ${e.fault.after_chunks} chunks` : "",
    e.fault.duration != null ? `for ${e.fault.duration} s` : ""].filter(Boolean).join(" ")]);
  if (e.limits) {
    for (const kind of ["requests", "tokens"]) {
      const text = limitText(e.limits, kind);
      if (text) rows.push([`${kind} limit after it`, text]);
    }
  }
  const table = el("table", { class: "facts" });
  for (const [k, v] of rows) table.append(el("tr", {}, el("th", {}, k), el("td", {}, String(v ?? "-"))));
  const seqs = chain.map((x) => x.seq).join(",");
  const exportLink = el("a", { id: "export-test", download: "",
    href: `api/export?tenant=${encodeURIComponent(e.tenant)}&seqs=${seqs}` },
  `export ${chain.length > 1 ? "the chain" : "it"} as a pytest test`);
  const cassetteLink = el("a", { id: "export-cassette", download: "",
    href: `api/cassette?tenant=${encodeURIComponent(e.tenant)}&seqs=${seqs}` },
  `as a cassette`);
  const parts = [el("h2", {}, `Exchange ${e.tenant} #${e.seq}`), table,
    el("p", {}, exportLink, " · ", cassetteLink)];
  if ((e.sent && e.sent.length) || e.schedule) {
    const writes = el("table", { id: "chunks" }, el("tr", {}, el("th", {}, "sent"), el("th", {}, "planned"), el("th", {}, "chunks")));
    for (const [at, planned, chunks] of e.sent) {
      writes.append(el("tr", {}, el("td", {}, secs(at)), el("td", {}, secs(planned)), el("td", {}, String(chunks))));
    }
    parts.push(el("h3", {}, "Stream timeline"), el("div", { id: "timeline" }, timeline(e)),
      el("details", {}, el("summary", {}, `${e.sent.length} writes`), writes));
  }
  parts.push(el("h3", {}, "Request headers"), el("pre", {}, JSON.stringify(e.headers, null, 2)),
    el("h3", {}, "Request body"), el("pre", {}, JSON.stringify(e.body, null, 2)));
  if (e.response_text != null) parts.push(el("h3", {}, "Reply text"), el("pre", {}, e.response_text));
  box.replaceChildren(...parts);
}
