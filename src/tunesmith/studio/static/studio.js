// tunesmith studio: the page's behaviour, plain JavaScript (no build step, no framework).
// The server renders every piece of HTML (forms, cards, the gallery); this file asks for
// those fragments, sends the forms as JSON and follows jobs over Server-Sent Events.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
const FINAL = ["done", "failed", "stopped", "rejected"];

// The token arrives once in the address (?token=...); the server answered with a cookie,
// so the address bar need not keep it.
if (new URLSearchParams(location.search).has("token")) {
  history.replaceState(null, "", location.pathname + location.hash);
}

class ApiError extends Error {
  constructor(message, status, field) { super(message); this.status = status; this.field = field; }
}

async function api(method, url, body) {
  const init = { method, headers: {} };
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(url, init);
  if (res.status === 204) return null;
  const type = res.headers.get("content-type") || "";
  const data = type.includes("json") ? await res.json() : await res.text();
  if (!res.ok) {
    const msg = (data && data.error) || `${res.status} ${res.statusText}`;
    throw new ApiError(msg, res.status, data && data.field);
  }
  return data;
}

async function fragment(url) {
  const res = await fetch(url);
  if (!res.ok) throw new ApiError(`${res.status}`, res.status);
  const tpl = document.createElement("template");
  tpl.innerHTML = (await res.text()).trim();
  return tpl.content;
}

function show(el, text) { el.textContent = text || ""; el.hidden = !text; }

// --- jobs ---------------------------------------------------------------------------------
function follow(jobId, handlers) {
  const source = new EventSource(`/api/jobs/${jobId}/events`);
  for (const kind of ["status", "progress", "piece", "log", "sample", ...FINAL]) {
    source.addEventListener(kind, (e) => {
      const data = JSON.parse(e.data || "{}");
      if (handlers[kind]) handlers[kind](data);
      if (FINAL.includes(kind)) {
        source.close();
        if (handlers.end) handlers.end(kind, data);
      }
    });
  }
  source.onerror = () => {
    // the server closed the stream after the final event, or went away: ask once
    if (source.readyState === EventSource.CLOSED) return;
    api("GET", `/api/jobs/${jobId}`).then((job) => {
      if (FINAL.includes(job.status)) {
        source.close();
        if (handlers.end) handlers.end(job.status, { error: job.error, ...job.result });
      }
    }).catch(() => source.close());
  };
  return source;
}

// --- tabs ---------------------------------------------------------------------------------
function openTab(name) {
  for (const tab of $$(".tab")) tab.classList.toggle("active", tab.dataset.tab === name);
  for (const panel of $$(".panel")) panel.classList.toggle("active", panel.id === `tab-${name}`);
  if (name === "gallery" && galleryStale) refreshGallery();
  if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
}

// --- compose ------------------------------------------------------------------------------
let primerUpload = null;

function modelId() { return $("#model").value; }

async function loadForm(id) {
  for (const info of $$("#model-info .info")) info.hidden = info.dataset.model !== id;
  primerUpload = null;
  const frag = await fragment(`/fragments/form/${encodeURIComponent(id)}`);
  const box = $("#form-fields");
  box.replaceChildren(frag);
  bindForm(box);
}

function bindForm(box) {
  const text = $("textarea[data-field=primer]", box);
  if (text) {
    const preview = $(".abc-preview", box);
    text.addEventListener("input", () => drawAbc(preview, text.value ? `X:1\n${text.value}` : ""));
  }
  for (const input of $$(".primer-file", box)) {
    input.addEventListener("change", () => uploadPrimer(input));
  }
}

async function uploadPrimer(input) {
  const file = input.files[0];
  const field = input.closest(".field");
  field.classList.remove("invalid");
  const info = $(".upload-info", field);
  if (!file) return;
  const body = new FormData();
  body.append("file", file);
  try {
    const up = await api("POST", "/api/uploads", body);
    if (input.dataset.for === "text") {
      if (!up.primer_text) throw new ApiError(`${up.name}: this model's primer is ABC text: upload an ABC file`, 400, "primer");
      const area = $("#form-fields textarea[data-field=primer]");
      area.value = up.primer_text;
      area.dispatchEvent(new Event("input"));
    } else {
      primerUpload = up.id;
      $("input[name=primer-choice][value=upload]", field).checked = true;
      if (info) info.textContent = `${up.name}: ${up.format}, ${up.notes} notes, ${up.seconds} s`;
    }
    show($("#compose-error"), "");
  } catch (err) {
    input.value = "";
    primerUpload = null;
    field.classList.add("invalid");
    if (info) info.textContent = "";
    show($("#compose-error"), err.message);
  }
}

function collectOptions() {
  const options = {};
  const heads = {};
  for (const el of $$("#form-fields [data-field]")) {
    const name = el.dataset.field, kind = el.dataset.kind;
    if (kind === "bool") {
      // a negated setting (constrain: "Unconstrained") is off when its box is ticked
      if (el.checked) options[name] = el.dataset.negate !== "true";
      continue;
    }
    const raw = el.value.trim();
    if (raw === "") continue;
    let value = raw;
    if (kind === "int") value = Number.isInteger(Number(raw)) ? Number(raw) : raw;
    else if (kind === "float") value = Number.isFinite(Number(raw)) ? Number(raw) : raw;
    if (el.dataset.head) {
      (heads[name] = heads[name] || {})[el.dataset.head] = value;
    } else {
      options[name] = value;
    }
  }
  Object.assign(options, heads);
  const body = { model: modelId(), options };
  const choice = $("input[name=primer-choice]:checked");
  if (choice) {
    if (choice.value === "corpus") options.primer = "corpus";
    if (choice.value === "upload") {
      if (!primerUpload) throw new ApiError("choose a file for the primer first", 400, "primer");
      body.primer_upload = primerUpload;
    }
  }
  return body;
}

function markField(name) {
  for (const el of $$("#form-fields .field")) el.classList.remove("invalid");
  if (!name) return;
  const el = $(`#form-fields [data-field="${CSS.escape(name)}"]`) ||
             (name === "primer_upload" ? $("#form-fields .primer-file") : null);
  if (el) el.closest(".field").classList.add("invalid");
}

async function compose(event) {
  event.preventDefault();
  const button = $("#compose-button"), status = $("#compose-status");
  show($("#compose-error"), "");
  show($("#compose-notes"), "");
  markField(null);
  let body;
  try {
    body = collectOptions();
  } catch (err) {
    show($("#compose-error"), err.message);
    markField(err.field);
    return;
  }
  button.disabled = true;
  status.textContent = "sending…";
  let job;
  try {
    job = await api("POST", "/api/compose", body);
  } catch (err) {
    button.disabled = false;
    status.textContent = "";
    show($("#compose-error"), err.status === 429 ? `Busy: ${err.message}` : err.message);
    markField(err.field);
    return;
  }
  watchCompose(job.job);
}

// A compose job's progress, pieces and end on the page: the one just sent, or one still
// running when the page was (re)loaded (its events replay from the start).
function watchCompose(jobId) {
  const button = $("#compose-button"), status = $("#compose-status");
  const bar = $("#compose-progress");
  button.disabled = true;
  status.textContent = "composing…";
  bar.hidden = false;
  bar.removeAttribute("value");
  const stop = $("#compose-stop");
  stop.hidden = false;
  stop.disabled = false;
  stop.onclick = async () => {
    // said before the request: a job that stops at once ends (its "stopped" event) before
    // the answer to this request arrives, and "stopping…" must not then cover that
    stop.disabled = true;
    status.textContent = "stopping…";
    try { await api("POST", `/api/jobs/${jobId}/stop`); }
    catch (err) {
      show($("#compose-error"), err.message);
      stop.disabled = false;
      status.textContent = "composing…";
    }
  };
  let count = 0;
  follow(jobId, {
    progress: (p) => {
      if (stop.disabled) return;  // "stopping…" stays until the job ends
      if (p.task === "sampling") {  // tokens or frames of the pieces being drawn
        status.textContent = `composing… ${p.done} ${p.unit || ""}`;
        return;
      }
      if (p.total) { bar.max = p.total; bar.value = p.done; }
      status.textContent = `composing… ${p.done}${p.total ? " / " + p.total : ""} ${p.unit || ""}`;
    },
    piece: async (p) => {
      count += 1;
      const counted = document.querySelector(`.card[data-id="${p.id}"]`) !== null;
      await addCard(p.id, $("#results"), true, !counted);  // (a replayed piece: counted)
      $("#results-empty").hidden = true;
      galleryStale = true;
    },
    end: (kind, data) => {
      button.disabled = false;
      bar.hidden = true;
      stop.hidden = true;
      // what the composer said on the way: the primer's tempo kept, tunes resampled ...
      show($("#compose-notes"), (data.notes || []).join(" · "));
      if (kind === "done") {
        status.textContent = `${count} piece${count === 1 ? "" : "s"} composed`;
      } else if (kind === "stopped") {
        status.textContent = `stopped: ${count} piece${count === 1 ? "" : "s"} composed`;
      } else {
        status.textContent = "";
        show($("#compose-error"), data.error || kind);
        markField(data.field);
      }
    },
  });
}

async function addCard(id, where, first, bump = true) {
  const frag = await fragment(`/fragments/composition/${id}`);
  const card = frag.firstElementChild;
  if (first) where.prepend(frag); else where.append(frag);
  if (bump) bumpCount(1);
  return card;
}

function bumpCount(n) {
  const el = $("#gallery-count");
  el.textContent = String(Math.max(0, Number(el.textContent || 0) + n));
}

// --- cards: star, rename, delete, ABC ----------------------------------------------------
async function replaceCards(id) {
  for (const card of $$(`.card[data-id="${id}"]`)) {
    const frag = await fragment(`/fragments/composition/${id}`);
    card.replaceWith(frag);
  }
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest(".card header button");
  if (!button) return;
  const card = button.closest(".card"), id = card.dataset.id;
  try {
    if (button.classList.contains("star")) {
      const starred = button.getAttribute("aria-pressed") !== "true";
      await api("PATCH", `/api/compositions/${id}`, { starred });
      await replaceCards(id);
    } else if (button.classList.contains("rename")) {
      const title = prompt("New name", $(".title", card).textContent);
      if (title === null || !title.trim()) return;
      await api("PATCH", `/api/compositions/${id}`, { title });
      await replaceCards(id);
    } else if (button.classList.contains("delete")) {
      if (!confirm(`Delete “${$(".title", card).textContent}” and its files?`)) return;
      await api("DELETE", `/api/compositions/${id}`);
      for (const c of $$(`.card[data-id="${id}"]`)) c.remove();
      bumpCount(-1);
    }
  } catch (err) {
    alert(err.message);
  }
});

function drawAbc(el, text) {
  if (!el) return;
  if (!window.ABCJS || !text) { el.replaceChildren(); return; }
  try { window.ABCJS.renderAbc(el, text, { responsive: "resize", add_classes: true }); }
  catch (_) { el.replaceChildren(); }
}

document.addEventListener("toggle", (event) => {
  const details = event.target;
  if (!(details instanceof HTMLDetailsElement) || !details.open) return;
  const el = $(".abcjs", details);
  if (el && !el.dataset.drawn) { drawAbc(el, el.dataset.abc); el.dataset.drawn = "1"; }
}, true);

// --- gallery ------------------------------------------------------------------------------
let galleryStale = false;
let galleryTimer = null;

async function refreshGallery() {
  const form = $("#gallery-filter");
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(form).entries()) if (v) params.set(k, v);
  try {
    const frag = await fragment(`/fragments/gallery?${params}`);
    $("#gallery-list").replaceChildren(frag);
    galleryStale = false;
  } catch (err) {
    $("#gallery-list").textContent = `The gallery could not be read (${err.message}).`;
  }
}

// --- training -----------------------------------------------------------------------------
let trainables = [];
let trainJob = null, trainRun = null, curveTimer = null;

function fillSelect(select, values, selected) {
  select.replaceChildren(...values.map((v) => {
    const o = document.createElement("option");
    o.value = o.textContent = v;
    if (v === selected) o.selected = true;
    return o;
  }));
}

function syncTrainForm() {
  const fam = trainables.find((t) => t.family === $("#train-family").value) || trainables[0];
  if (!fam) return;
  const arch = $("#train-arch");
  const keep = arch.value;
  fillSelect(arch, fam.archs.map((a) => a.arch), keep);
  const a = fam.archs.find((x) => x.arch === arch.value) || fam.archs[0];
  const presets = a ? a.presets : [];
  fillSelect($("#train-preset"), presets, presets.includes("small") ? "small" : presets[0]);
}

async function startTraining(event) {
  event.preventDefault();
  const form = $("#train-form");
  const body = {};
  for (const [k, v] of new FormData(form).entries()) {
    if (v === "") continue;
    body[k] = k === "steps" ? (Number.isInteger(Number(v)) ? Number(v) : v) : v;
  }
  show($("#train-error"), "");
  try {
    const job = await api("POST", "/api/train", body);
    watchTraining(job.job, job.run, true);
  } catch (err) {
    show($("#train-error"), err.message);
  }
}

function watchTraining(jobId, run, fresh) {
  trainJob = jobId;
  trainRun = run;
  if (fresh) {
    $("#train-log").textContent = "";
    $("#train-samples").replaceChildren();
  }
  $("#train-state").textContent = "running";
  $("#train-stop").hidden = false;
  $("#train-button").disabled = true;
  const bar = $("#train-progress");
  follow(jobId, {
    progress: (p) => {
      if (p.total) { bar.max = p.total; bar.value = p.done; }
      const info = Object.entries(p.info || {}).map(([k, v]) => `${k} ${v}`).join(", ");
      $("#train-step").textContent = `${p.task}: ${p.done}${p.total ? " / " + p.total : ""} ${p.unit}${info ? " — " + info : ""}`;
      if (String(p.task).startsWith("train")) scheduleCurves();
    },
    log: (l) => {
      const log = $("#train-log");
      log.textContent += `${l.message}\n`;
      log.scrollTop = log.scrollHeight;
    },
    sample: (s) => { addCard(s.id, $("#train-samples"), true); galleryStale = true; },
    end: (kind, data) => {
      $("#train-state").textContent = kind;
      $("#train-stop").hidden = true;
      $("#train-button").disabled = false;
      if (data.error) show($("#train-error"), data.error);
      trainJob = null;
      drawCurves(trainRun);
      refreshRuns();
      refreshModels();
    },
  });
  drawCurves(run);
  setTimeout(refreshRuns, 3000);  // the new run's folder is there once its data is read
}

function scheduleCurves() {
  if (curveTimer) return;
  curveTimer = setTimeout(() => { curveTimer = null; drawCurves(trainRun); }, 1500);
}

async function drawCurves(run) {
  if (!run) return;
  let rows;
  try { rows = (await api("GET", `/api/runs/${run}/metrics`)).rows; } catch (_) { return; }
  const svg = $("#curves");
  const W = 640, H = 260, L = 46, R = 12, T = 12, B = 28;
  const pts = (split) => rows.filter((r) => r.split === split && Number.isFinite(r.loss));
  const train = pts("train"), valid = pts("valid");
  const all = train.concat(valid);
  const ns = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  if (!all.length) return;
  const xs = all.map((r) => r.step), ys = all.map((r) => r.loss);
  const x0 = Math.min(0, ...xs), x1 = Math.max(...xs, 1);
  let y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (y1 - y0 < 1e-6) { y0 -= 0.5; y1 += 0.5; }
  const sx = (x) => L + (x - x0) / (x1 - x0) * (W - L - R);
  const sy = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const el = (name, attrs, text) => {
    const e = document.createElementNS(ns, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.append(e);
    return e;
  };
  el("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B });
  el("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B });
  for (const y of [y0, (y0 + y1) / 2, y1]) {
    el("text", { x: 4, y: sy(y) + 4 }, y.toFixed(2));
  }
  el("text", { x: L, y: H - 8 }, String(x0));
  el("text", { x: W - R - 40, y: H - 8 }, `step ${x1}`);
  const path = (rs) => rs.map((r, i) => `${i ? "L" : "M"}${sx(r.step).toFixed(1)},${sy(r.loss).toFixed(1)}`).join("");
  if (train.length) el("path", { class: "train", d: path(train) });
  if (valid.length) {
    el("path", { class: "valid", d: path(valid) });
    for (const r of valid) el("circle", { class: "valid-dot", cx: sx(r.step), cy: sy(r.loss), r: 3 });
  }
}

async function refreshRuns() {
  let runs;
  try { runs = (await api("GET", "/api/runs")).runs; } catch (_) { return; }
  const body = $("#runs tbody");
  body.replaceChildren(...runs.map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.run = r.id;
    const cells = [r.name, r.family, `${r.step ?? ""}${r.steps ? " / " + r.steps : ""}`];
    for (const text of cells) { const td = document.createElement("td"); td.textContent = text; tr.append(td); }
    const td = document.createElement("td");
    if (r.can_resume) td.append(button("Resume", "resume", r.id));
    td.append(button("Curves", "curves", r.id));
    tr.append(td);
    return tr;
  }));
}

function button(text, cls, run) {
  const b = document.createElement("button");
  b.type = "button"; b.className = cls; b.dataset.run = run; b.textContent = text;
  return b;
}

async function refreshModels() {
  // a finished run's best checkpoint becomes a model: a reload shows it in the lists
  try {
    const { models } = await api("GET", "/api/models");
    const select = $("#model");
    const known = new Set($$("option", select).map((o) => o.value));
    let group = $("optgroup[label='Your runs']", select);
    for (const m of models) {
      if (known.has(m.id) || m.error) continue;
      if (!group) { group = document.createElement("optgroup"); group.label = "Your runs"; select.append(group); }
      const o = document.createElement("option");
      o.value = m.id; o.textContent = `${m.label} — ${m.family}${m.corpus ? ", " + m.corpus : ""}`;
      group.append(o);
      const e = document.createElement("option");
      e.value = m.id; e.textContent = `${m.label} — ${m.family}`;
      $("#eval-model").append(e);
    }
  } catch (_) { /* the lists stay as they are */ }
}

// --- evaluate -----------------------------------------------------------------------------
async function showEvalModel() {
  const id = $("#eval-model").value;
  for (const info of $$("#eval-figures .info")) info.hidden = info.dataset.model !== id;
  const link = $("#eval-report");
  link.hidden = true;
  try {
    const m = await api("GET", `/api/models/${id}`);
    if (m.report) { link.href = `/api/models/${id}/report`; link.hidden = false; }
  } catch (_) { /* no figures */ }
}

async function evaluate(kind) {
  const id = $("#eval-model").value, status = $("#eval-status"), bar = $("#eval-progress");
  show($("#eval-error"), "");
  let job;
  try {
    job = await api("POST", "/api/evaluate", { model: id, kind });
  } catch (err) {
    show($("#eval-error"), err.message);
    return;
  }
  status.textContent = kind === "music" ? "composing and comparing…" : "reading the corpus…";
  bar.hidden = false;
  follow(job.job, {
    progress: (p) => {
      if (p.total) { bar.max = p.total; bar.value = p.done; }
      status.textContent = `${p.task}: ${p.done}${p.total ? " / " + p.total : ""}`;
    },
    end: (k, data) => {
      bar.hidden = true;
      status.textContent = k;
      if (k !== "done") { show($("#eval-error"), data.error || k); return; }
      if (data.report) {
        const link = $("#eval-report");
        link.href = data.report; link.hidden = false;
      }
      if (data.results) showResults(data);
    },
  });
}

function showResults(data) {
  const table = document.createElement("table");
  table.className = "results";
  const metrics = ["loss", "bits", "ppl", "accuracy"];
  const head = document.createElement("tr");
  for (const h of ["split", ...metrics, "items"]) { const th = document.createElement("th"); th.textContent = h; head.append(th); }
  table.append(head);
  for (const [split, values] of Object.entries(data.results)) {
    const tr = document.createElement("tr");
    const cells = [split, ...metrics.map((m) => values[m] === undefined ? "" : Number(values[m]).toFixed(3)), data.items[split] ?? ""];
    for (const c of cells) { const td = document.createElement("td"); td.textContent = c; tr.append(td); }
    table.append(tr);
  }
  const box = $("#eval-results");
  box.replaceChildren(table);
  if (data.validity !== null && data.validity !== undefined) {
    const p = document.createElement("p");
    p.textContent = `valid raw samples: ${(100 * data.validity).toFixed(1)}%`;
    box.append(p);
  }
}

// --- start --------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  for (const tab of $$(".tab")) tab.addEventListener("click", () => openTab(tab.dataset.tab));
  const wanted = location.hash.slice(1);
  if (["compose", "gallery", "train", "evaluate"].includes(wanted)) openTab(wanted);

  $("#model").addEventListener("change", () => loadForm(modelId()).catch((err) => show($("#compose-error"), err.message)));
  bindForm($("#form-fields"));
  $("#compose-form").addEventListener("submit", compose);

  const filter = $("#gallery-filter");
  filter.addEventListener("input", () => { clearTimeout(galleryTimer); galleryTimer = setTimeout(refreshGallery, 250); });
  filter.addEventListener("submit", (e) => { e.preventDefault(); refreshGallery(); });

  trainables = JSON.parse($("#trainables").textContent || "[]");
  $("#train-family").addEventListener("change", syncTrainForm);
  $("#train-arch").addEventListener("change", syncTrainForm);
  syncTrainForm();
  $("#train-form").addEventListener("submit", startTraining);
  $("#train-stop").addEventListener("click", async () => {
    if (!trainJob) return;
    try { await api("POST", `/api/train/${trainJob}/stop`); $("#train-state").textContent = "stopping…"; }
    catch (err) { show($("#train-error"), err.message); }
  });
  $("#runs").addEventListener("click", async (event) => {
    const b = event.target.closest("button");
    if (!b) return;
    if (b.classList.contains("curves")) { trainRun = b.dataset.run; drawCurves(b.dataset.run); return; }
    if (b.classList.contains("resume")) {
      const more = prompt("Go on until step (empty: the run's own end)", "");
      if (more === null) return;
      const body = { run: b.dataset.run };
      if (more.trim()) body.steps = Number.isInteger(Number(more)) ? Number(more) : more;
      try {
        const job = await api("POST", "/api/train/resume", body);
        watchTraining(job.job, job.run, true);
      } catch (err) { show($("#train-error"), err.message); }
    }
  });
  const composing = $("#compose-job");
  if (composing.dataset.job) watchCompose(composing.dataset.job);
  const live = $("#train-job");
  if (live.dataset.job) watchTraining(live.dataset.job, live.dataset.run, false);
  else if (live.dataset.run) drawCurves(live.dataset.run);

  $("#eval-model").addEventListener("change", showEvalModel);
  $("#eval-likelihood").addEventListener("click", () => evaluate("likelihood"));
  $("#eval-music").addEventListener("click", () => evaluate("music"));
  if ($("#eval-model").value) showEvalModel();
});
