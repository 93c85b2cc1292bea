// The scenario in force, editable in place: the server's validation errors are shown at the
// line of the field they are about, and a rejected edit leaves the old scenario in force.
const text = document.getElementById("scenario-text");
const gutter = document.getElementById("gutter");
const errors = document.getElementById("scenario-errors");
const result = document.getElementById("scenario-result");

async function load() {
  const s = await (await fetch("api/scenario")).json();
  document.getElementById("scenario-name").textContent = s.name;
  text.value = s.yaml;
  const builtin = document.getElementById("builtin");
  builtin.replaceChildren(...s.builtins.map((n) => new Option(n, n, false, n === s.name)));
  errors.replaceChildren();
  gutter.replaceChildren();
}

function show(problems) {
  errors.replaceChildren();
  gutter.replaceChildren();
  for (const p of problems) {
    const div = document.createElement("div");
    div.className = "field-error";
    div.dataset.path = p.path;
    div.dataset.line = p.line ?? "";
    const code = document.createElement("code");
    code.textContent = p.path || "(scenario)";
    div.append(p.line ? `line ${p.line}, ` : "", code, `: ${p.problem}`);
    errors.append(div);
    if (p.line) {
      const mark = document.createElement("span");
      mark.className = "mark";
      mark.title = p.problem;
      mark.textContent = "✖";
      mark.style.top = `${(p.line - 1) * 16 + 2}px`;
      gutter.append(mark);
    }
  }
  if (problems[0]?.line) text.scrollTop = (problems[0].line - 3) * 16;
}

async function send(url, method, body, type) {
  const res = await fetch(url, { method, body, headers: { "content-type": type } });
  return [res.ok, await res.json()];
}

export function setupScenario(tenant) {
  const form = document.getElementById("inject-form");
  form.elements.tenant.value = tenant;
  text.addEventListener("scroll", () => { gutter.style.marginTop = `${-text.scrollTop}px`; });
  document.getElementById("save-scenario").addEventListener("click", async () => {
    const [ok, body] = await send("api/scenario", "PUT", text.value, "application/yaml");
    if (ok) { result.textContent = `in force: ${body.name}`; await load(); } else {
      result.textContent = "rejected: the scenario in force is unchanged";
      show(body.errors);
    }
  });
  document.getElementById("use-builtin").addEventListener("click", async () => {
    const name = document.getElementById("builtin").value;
    const [ok, body] = await send("api/builtin", "POST", JSON.stringify({ name }), "application/json");
    result.textContent = ok ? `in force: ${body.name}` : body.error;
    await load();
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = form.elements;
    const [kind, name] = f.what.value.split(":");
    const doc = { count: Number(f.count.value), [kind]: name };
    if (kind === "error" && f.retry_after.value) doc.retry_after = Number(f.retry_after.value);
    const base = location.pathname.replace(/^\/t\/[^/]+/, "");
    const t = f.tenant.value || "default";
    const url = (t === "default" ? "" : `/t/${encodeURIComponent(t)}`) + base + "api/inject";
    const [ok, body] = await send(url, "POST", JSON.stringify(doc), "application/json");
    document.getElementById("inject-result").textContent = ok
      ? `the next ${body.count} request(s) of ${t} get ${kind} ${name}` : body.error;
    await load();
  });
  load();
}
