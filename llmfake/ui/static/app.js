// The dashboard: the live journal (Server-Sent Events), filters, retry chains, charts.
// Plain ES modules served as they are: no build step, nothing fetched from outside.
import { showDetail } from "./detail.js";
import { drawCharts, limitSeries } from "./charts.js";
import { setupScenario } from "./scenario.js";

const ROWS = 300;          // rows in the table: the newest that pass the filters
const RENDER = 250;        // ms between redraws of the table
let lastRender = -Infinity;
const FIELDS = ["tenant", "provider", "endpoint", "status", "outcome"];
const all = [];            // every exchange pushed, oldest first
const chains = new Map();  // exchange -> its chain (an array of exchanges, first try first)
const openChain = new Map(); // tenant + body key -> the newest chain of that request
const seen = Object.fromEntries(FIELDS.map((f) => [f, new Set()]));
const filters = document.getElementById("filters");
const tbody = document.querySelector("#journal tbody");
let dropped = 0;
let pending = false;
let selected = null;
const picked = new Set();   // exchanges ticked for export

const byId = new Map();     // tenant, seq and arrival -> the exchange (in flight, then ended)

function add(e) {
  const uid = `${e.tenant}\u0000${e.seq}\u0000${e.started}`;
  const known = byId.get(uid);
  if (known) {  // it ended: same row, same chain
    Object.assign(known, e);
    note(known);
    return;
  }
  byId.set(uid, e);
  all.push(e);
  const id = e.tenant + "\u0000" + e.key;
  let chain = e.key ? openChain.get(id) : undefined;
  if (!chain || !continues(chain[chain.length - 1], e)) { chain = []; openChain.set(id, chain); }
  chain.push(e);
  chains.set(e, chain);
  note(e);
}

// Whether ``e`` is another attempt of the request whose latest attempt is ``last``: the
// journal's rule (Journal.requests), with the tenant journal's ``attempts_by`` (``e.by``).
const RETRY_WINDOW = 60;
const failed = (x) => x.status >= 400 || x.status === 0 || !x.completed;
function continues(last, e) {
  if (e.retry_count != null && (e.by === "header" || e.retry_count > 0)) return e.retry_count > 0;
  if (e.attempt > 0) return true;
  if (e.by === "header" || last.ended == null || !failed(last)) return false;
  const gap = e.started - last.ended;
  return gap >= -0.001 && gap <= RETRY_WINDOW;
}

// Offer each value seen in the filters' menus.
function note(e) {
  if (e.ended == null) return;  // in flight: its outcome is not known yet
  for (const f of FIELDS) {
    const v = String(e[f] ?? "");
    if (!seen[f].has(v)) {
      seen[f].add(v);
      const sel = filters.elements[f];
      sel.add(new Option(v || "(none)", v));
    }
  }
}

function passes(e) {
  for (const f of FIELDS) {
    const want = filters.elements[f].value;
    if (want && String(e[f] ?? "") !== want) return false;
  }
  return true;
}

const secs = (s) => (s == null ? "" : s < 1 ? `${(s * 1000).toFixed(0)} ms` : `${s.toFixed(2)} s`);

function row(e, chain, member) {
  const tr = document.createElement("tr");
  tr.dataset.seq = e.seq;
  tr.dataset.tenant = e.tenant;
  if (member) tr.className = "chain-member";
  if (selected && selected.seq === e.seq && selected.tenant === e.tenant) tr.classList.add("selected");
  let attempts = "";
  const i = chain.indexOf(e);
  if (!member && chain.length > 1) attempts = `${chain.length} attempts`;
  if (i > 0) {
    const prev = chain[i - 1];
    const gap = e.started - (prev.ended ?? prev.started);
    const ra = prev.retry_after != null ? `, retry-after ${secs(prev.retry_after)}` : "";
    attempts = `retry ${i} after ${secs(gap)}${ra}`;
  }
  const cells = [e.seq, e.tenant, e.started.toFixed(3), `${e.method} ${e.path}${e.stream ? " (stream)" : ""}`,
    e.ended == null ? "…" : e.status || "cut", e.ended == null ? "in flight" : e.outcome,
    secs(e.ttfb), e.ended == null ? "" : secs(e.duration), attempts];
  for (const c of cells) {
    const td = document.createElement("td");
    td.textContent = c;
    tr.append(td);
  }
  tr.cells[4].className = "s" + String(e.status)[0];
  if (i > 0) tr.cells[8].className = "gap";
  const tick = document.createElement("input");
  tick.type = "checkbox";
  tick.className = "pick";
  tick.checked = picked.has(e);
  tick.title = "select for export";
  tick.addEventListener("click", (ev) => {
    ev.stopPropagation();
    if (tick.checked) picked.add(e); else picked.delete(e);
    exportBar();
  });
  tr.cells[0].prepend(tick);
  tr.addEventListener("click", () => {
    selected = e;
    for (const s of tbody.querySelectorAll("tr.selected")) s.classList.remove("selected");
    tr.classList.add("selected");
    showDetail(e, chain);
  });
  return tr;
}

function render() {
  pending = false;
  const grouped = filters.elements.chains.checked;
  const rows = [];
  const done = new Set();
  let shown = 0;
  for (let i = all.length - 1; i >= 0 && shown < ROWS; i--) {
    const e = all[i];
    if (!passes(e)) continue;
    const chain = chains.get(e);
    if (grouped) {
      if (done.has(chain)) continue;
      done.add(chain);
      rows.push(row(chain[0], chain, false));
      for (const m of chain.slice(1)) rows.push(row(m, chain, true));
    } else {
      rows.push(row(e, chain, e !== chain[0]));
    }
    shown++;
  }
  tbody.replaceChildren(...rows);
  document.getElementById("count").textContent = `${all.length} exchanges`;
  document.getElementById("more").textContent = (all.length > ROWS ? `the newest ${ROWS} matching are shown. ` : "")
    + (dropped ? `${dropped} older exchanges left the journal.` : "");
  drawCharts(() => all.filter(passes));
  lastRender = performance.now();
}

// Redrawn at most every RENDER ms: under 100 requests a second the page stays responsive.
function later() {
  if (pending) return;
  pending = true;
  const wait = Math.max(0, lastRender + RENDER - performance.now());
  setTimeout(() => requestAnimationFrame(render), wait);
}

// The ticked exchanges, one tenant's, in journal order, as a cassette or a pytest test.
function exportBar() {
  const bar = document.getElementById("export-bar");
  const list = [...picked].sort((a, b) => a.seq - b.seq);
  const tenants = new Set(list.map((e) => e.tenant));
  const note = bar.querySelector(".muted");
  for (const a of bar.querySelectorAll("a")) a.hidden = tenants.size !== 1;
  if (tenants.size !== 1) {
    note.textContent = list.length ? "select exchanges of one tenant to export them" : "tick exchanges to export them";
    return;
  }
  const query = `tenant=${encodeURIComponent(list[0].tenant)}&seqs=${list.map((e) => e.seq).join(",")}`;
  note.textContent = `${list.length} selected:`;
  document.getElementById("export-selected-cassette").href = `api/cassette?${query}`;
  document.getElementById("export-selected-test").href = `api/export?${query}`;
}
exportBar();

filters.addEventListener("change", () => { lastRender = -Infinity; later(); });

const scopeMatch = location.pathname.match(/^\/t\/([^/]+)\//);
const scope = scopeMatch ? decodeURIComponent(scopeMatch[1]) : null;
document.getElementById("scope").textContent = scope ? `tenant ${scope}` : "all tenants";
setupScenario(scope ?? "default");

const status = document.getElementById("status");
const source = new EventSource("events");
source.addEventListener("open", () => { status.textContent = "live"; status.className = "status live"; });
source.addEventListener("error", () => { status.textContent = "reconnecting"; status.className = "status down"; });
source.addEventListener("snapshot", (ev) => {
  const snap = JSON.parse(ev.data);
  all.length = 0; chains.clear(); openChain.clear(); byId.clear(); picked.clear(); exportBar();
  dropped = snap.dropped;
  for (const e of snap.exchanges) add(e);
  later();
});
source.addEventListener("exchanges", (ev) => {
  for (const e of JSON.parse(ev.data)) add(e);
  later();
});
window.llmfake = { all, chains, picked, limits: () => limitSeries(all.filter(passes)) };  // for the browser tests and the curious
