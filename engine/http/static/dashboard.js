// The dashboard: polls the engine every second and steers it. No framework; DOM built with
// textContent only (chat text is never parsed as HTML).
"use strict";

const POLL_MS = 1000;
const HISTORY_MS = 5000;
const $ = (id) => document.getElementById(id);
const state = { access: document.documentElement.dataset.access, queue: null, recent: [],
  status: null, history: null, charts: {}, logins: new Map(), paused: false };
window.dashboard = state;  // read by the tests

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  const data = await resp.json().catch(() => ({}));
  if (resp.status === 403 && data.error && data.error.code === "token_required") {
    noAccess();
  }
  if (!resp.ok) {
    const message = (data.error && data.error.message) || `${resp.status} ${resp.statusText}`;
    throw Object.assign(new Error(message), { status: resp.status, data });
  }
  return data;
}

function noAccess() {
  state.access = "no_token";
  $("access-banner").hidden = false;
  for (const b of document.querySelectorAll("[data-steer]")) b.disabled = true;
}

function showError(err) {
  const banner = $("error-banner");
  banner.textContent = err ? String(err.message || err) : "";
  banner.hidden = !err;
}

async function steer(method, path, body) {
  try {
    const result = await api(method, path, body);
    showError(null);
    poll();
    return result;
  } catch (err) {
    showError(err);
    return null;
  }
}

const control = (command) => steer("POST", "/v1/control", { command });
const moderate = (body) => steer("POST", "/v1/moderation", body);
const mute = (login, seconds) => moderate({ action: "mute", login, seconds });

function loginOf(item) {
  return state.logins.get(item.id) || item.login || (item.user || "").toLowerCase();
}

function muteButtons(item) {
  const login = loginOf(item);
  if (!login) return null;
  return el("span", {},
    el("button", { class: "mini mute10", title: `mute ${login} for 10 minutes`, "data-steer": "",
      onclick: () => mute(login, 600) }, "10m"),
    el("button", { class: "mini muteban danger", title: `mute ${login} for good`, "data-steer": "",
      onclick: () => mute(login, null) }, "ban"));
}

function ago(t) {
  const s = Math.max(0, Date.now() / 1000 - t);
  return s < 60 ? `${s.toFixed(0)} s ago` : s < 3600 ? `${(s / 60).toFixed(0)} min ago`
    : `${(s / 3600).toFixed(1)} h ago`;
}

function renderQueue(q) {
  const stage = q.stage || {};
  const now = stage.now_playing;
  $("now-text").textContent = now ? now.text : "Nothing";
  $("now-text").classList.toggle("muted", !now);
  $("now-meta").textContent = now ? [now.user, now.source].filter(Boolean).join(" · ") : "";
  state.paused = !!(q.queue && q.queue.paused);
  $("btn-pause").textContent = state.paused ? "Resume" : "Pause";
  $("listeners").textContent = `OBS: ${stage.listeners || 0}`;
  $("queue-count").textContent = String((q.items || []).length);
  const list = $("queue-list");
  list.replaceChildren(...(q.items || []).map((item) => el("li", { dataset: { id: item.id } },
    el("div", { class: "body" }, el("span", { class: "tag" }, item.priority),
      el("span", {}, item.text),
      el("div", { class: "meta" }, [item.user, item.source].filter(Boolean).join(" · "))),
    muteButtons(item),
    el("button", { class: "mini remove", title: "remove from the queue", "data-steer": "",
      onclick: () => moderate({ action: "remove", utterance: item.id }) }, "✕"))));
  if (!list.children.length) list.append(el("li", { class: "muted" }, "Empty"));
  renderSources(q.sources || {});
  renderModeration(q.moderation || { muted: [], blocked_words: [] });
}

function renderRecent(data) {
  state.recent = data.recent || [];
  for (const o of state.recent) if (o.login) state.logins.set(o.id, o.login);
  const list = $("recent-list");
  list.replaceChildren(...state.recent.map((o) => {
    const meta = [o.user, o.source, o.backend, o.cached === null ? null : (o.cached ? "cached" : "synthesized"),
      o.first_audio_ms === null ? null : `${Math.round(o.first_audio_ms)} ms to first audio`, ago(o.at)];
    return el("li", { class: `state-${o.state}`, dataset: { id: o.id, state: o.state } },
      el("div", { class: "body" }, el("span", { class: "tag state" }, o.state),
        el("span", {}, o.text),
        el("div", { class: "meta" }, meta.filter((m) => m !== null && m !== "" && m !== undefined).join(" · ")),
        o.reason ? el("div", { class: "reason" }, o.reason) : null),
      muteButtons(o));
  }));
  if (!list.children.length) list.append(el("li", { class: "muted" }, "Nothing yet"));
}

function renderSources(sources) {
  const names = Object.keys(sources);
  $("sources-list").replaceChildren(...names.map((name) => {
    const s = sources[name];
    return el("li", { dataset: { source: name, state: s.state } }, el("div", { class: "body" },
      el("span", { class: "tag" }, s.state), el("b", {}, name),
      el("div", { class: "meta" }, `${s.detail || ""} · ${s.events} events, ${s.errors} errors`)));
  }));
  if (!names.length) $("sources-list").append(el("li", { class: "muted" }, "No source enabled (Settings)"));
}

function renderModeration(m) {
  $("muted-list").replaceChildren(...m.muted.map((u) => el("li", {}, el("div", { class: "body" },
    `muted: ${u.login} ${u.until === null ? "for good" : "until " + new Date(u.until * 1000).toLocaleTimeString()}`),
    el("button", { class: "mini", "data-steer": "", onclick: () => moderate({ action: "unmute", login: u.login }) }, "unmute"))));
  $("words-list").replaceChildren(...m.blocked_words.map((w) => el("li", {}, el("div", { class: "body" }, `blocked: ${w}`),
    el("button", { class: "mini", "data-steer": "", onclick: () => moderate({ action: "unblock_word", word: w }) }, "unblock"))));
}

function renderStatus(s) {
  const alerts = s.alerts || [];
  $("alerts-list").replaceChildren(...alerts.map((a) => el("li", { class: "alert", dataset: { alert: a.name } },
    `⚠ ${a.message}`)));
  if (!alerts.length) $("alerts-list").append(el("li", { class: "muted" }, "None"));
  const cost = s.cost || {};
  const money = (v) => (v === null || v === undefined ? null : `${cost.currency || ""}${Number(v).toFixed(3)}`);
  const parts = [];
  if (cost.power_w !== undefined && cost.power_w !== null) parts.push(`${Number(cost.power_w).toFixed(0)} W now`);
  if (cost.energy_today_kwh !== undefined) parts.push(`${Number(cost.energy_today_kwh).toFixed(3)} kWh today`);
  if (money(cost.cost_today)) parts.push(`${money(cost.cost_today)} today`);
  if (money(cost.cost_per_day_projected)) parts.push(`~${money(cost.cost_per_day_projected)}/day`);
  for (const [name, b] of Object.entries(cost.backends || {})) {
    if (money(b.cost_per_1000_messages)) parts.push(`${name}: ${money(b.cost_per_1000_messages)} per 1000 messages`);
  }
  $("cost").textContent = parts.join(" · ");
}

// -- charts (uPlot, vendored by install.py) -------------------------------------------------------
const CHARTS = {
  latency: { series: [["p50", "#6ea8fe", (x) => x.latency_p50_ms], ["p95", "#f0a33e", (x) => x.latency_p95_ms]] },
  queue: { series: [["queue", "#8ddb8c", (x) => x.queue_length]] },
  cache: { series: [["hit %", "#c297ff", (x) => (x.cache_hit_rate === null ? null : x.cache_hit_rate * 100)]] },
  gpu: { series: [["°C", "#ff7b72", (x) => x.gpu_temperature_c],
    ["VRAM GiB", "#79c0ff", (x) => (x.vram_used_bytes === null ? null : x.vram_used_bytes / 2 ** 30)],
    ["W", "#e3b341", (x) => x.gpu_power_w]] },
};

function renderHistory(h) {
  state.history = h;
  const samples = h.samples || [];
  const xs = samples.map((x) => x.t);
  for (const [name, spec] of Object.entries(CHARTS)) {
    const data = [xs, ...spec.series.map(([, , f]) => samples.map((x) => { const v = f(x); return v === undefined ? null : v; }))];
    const box = $(`chart-${name}`);
    if (typeof uPlot === "undefined") {
      box.textContent = "Charts need uPlot: run python3 install.py";
      continue;
    }
    const width = Math.max(200, box.clientWidth || 300);
    if (!state.charts[name]) {
      state.charts[name] = new uPlot({ width, height: 110, legend: { show: true }, cursor: { show: true },
        axes: [{ stroke: "#9096a3", grid: { stroke: "#3a3e4a" } }, { stroke: "#9096a3", grid: { stroke: "#3a3e4a" }, size: 52 }],
        series: [{}, ...spec.series.map(([label, stroke]) => ({ label, stroke, width: 1.5, spanGaps: true, points: { size: 4 } }))],
      }, data, box);
    } else {
      state.charts[name].setData(data);
      if (Math.abs(state.charts[name].width - width) > 4) state.charts[name].setSize({ width, height: 110 });
    }
  }
}

// -- the loop --------------------------------------------------------------------------------------
async function poll() {
  const steerable = state.access !== "no_token";
  const jobs = [api("GET", "/v1/status").then((s) => { state.status = s; renderStatus(s); })];
  if (steerable) {
    jobs.push(api("GET", "/v1/queue").then((q) => { state.queue = q; renderQueue(q); }));
    jobs.push(api("GET", "/v1/recent").then(renderRecent));
  }
  const results = await Promise.allSettled(jobs);
  $("conn").classList.toggle("ok", results.some((r) => r.status === "fulfilled"));
}

async function pollHistory() {
  try { renderHistory(await api("GET", "/v1/history?minutes=60")); } catch (err) { /* next round */ }
}

function wire() {
  if (state.access === "no_token" || state.access === "wrong_token") noAccess();
  $("btn-skip").onclick = () => control("skip");
  $("btn-pause").onclick = () => control(state.paused ? "resume" : "pause");
  $("btn-clear").onclick = () => control("clear");
  $("btn-replay").onclick = () => steer("POST", "/v1/replay");
  $("word-form").onsubmit = (e) => {
    e.preventDefault();
    const word = $("word-input").value.trim();
    if (word) moderate({ action: "block_word", word }).then((r) => { if (r) $("word-input").value = ""; });
  };
  $("mute-form").onsubmit = (e) => {
    e.preventDefault();
    const login = $("mute-input").value.trim().replace(/^@/, "");
    const seconds = e.submitter && e.submitter.dataset.seconds ? Number(e.submitter.dataset.seconds) : null;
    if (login) mute(login, seconds).then((r) => { if (r) $("mute-input").value = ""; });
  };
  window.addEventListener("resize", () => state.history && renderHistory(state.history));
}

wire();
poll();
pollHistory();
setInterval(poll, POLL_MS);
setInterval(pollHistory, HISTORY_MS);
