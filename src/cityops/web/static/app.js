// The big screen (驾驶舱): map, indicators, trend, replay, live feed; login; view switching.
import { t, pick, applyText, getLang, setLang, esc, fmtTime } from "/static/i18n.js";
import { CityMap, webglAvailable, STATUS_COLOURS, OVERDUE_COLOUR, WARNING_COLOURS, GAUGE_COLOURS, DETECTOR_COLOURS, WATER_COLOUR } from "/static/map.js";
import { lineChart, barChart, preload as preloadCharts, optionOf } from "/static/charts.js";
import { Workbench } from "/static/workbench.js";

const $ = (s) => document.querySelector(s);
export const state = { token: sessionStorage.getItem("cityops.token"), me: null, city: null, districts: [], departments: [], matters: new Map(),
  period: "today", trendBucket: "hour", live: null, replay: null, tz: "Asia/Shanghai", day: null, autoPeriod: true };

export function toast(msg, bad = false) {
  const el = document.createElement("div"); el.className = "toast" + (bad ? " bad" : ""); el.textContent = msg; el.setAttribute("role", "status");
  document.body.append(el); setTimeout(() => el.remove(), 3500);
}

export async function api(path, { method = "GET", body, raw = false } = {}) {
  const headers = {}; if (state.token) headers.authorization = "Bearer " + state.token;
  // A FormData body (a photo upload) goes as multipart; the browser writes its boundary.
  const form = body instanceof FormData; if (body !== undefined && !form) headers["content-type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined || form ? body : JSON.stringify(body) });
  if (r.status === 401 && state.token) { logout(); throw new Error(t("login")); }
  if (!r.ok) { let m = r.statusText; try { const j = await r.json(); m = getLang() === "zh" ? (j.message_zh || j.message) + " (" + j.message + ")" : j.message; } catch {} throw new Error(m); }
  return raw ? r : r.json();
}

// City time: the offset of the city's zone now, so ISO times carry it.
function tzOffset() {
  const now = new Date(); const loc = new Date(now.toLocaleString("en-US", { timeZone: state.tz })), utc = new Date(now.toLocaleString("en-US", { timeZone: "UTC" }));
  const m = Math.round((loc - utc) / 60000), sign = m >= 0 ? "+" : "-", a = Math.abs(m);
  return `${sign}${String(Math.floor(a / 60)).padStart(2, "0")}:${String(a % 60).padStart(2, "0")}`;
}
export const cityDate = (d = new Date()) => d.toLocaleDateString("en-CA", { timeZone: state.tz });
export const iso = (date, time = "00:00:00") => `${date}T${time}${tzOffset()}`;
function addDays(date, n) { const d = new Date(date + "T12:00:00Z"); d.setUTCDate(d.getUTCDate() + n); return d.toISOString().slice(0, 10); }
export const districtName = (code) => { const d = state.districts.find((x) => x.code === code); return d ? pick([d.name, d.name_en]) : code || t("no_district"); };
export const departmentName = (code) => { const d = state.departments.find((x) => x.code === code); return d ? pick([d.name, d.name_en]) : code || ""; };
export const matterName = (code) => { const m = state.matters.get(code); return m ? pick([m.name, m.name_en]) : code; };
// A rate with nothing to divide by (the API's null) reads "—", never 0.0 %.
const pct = (v) => (v === null || v === undefined || Number.isNaN(v) ? "—" : (v * 100).toFixed(1) + "%");
// A name from the product's one table of names (GET /api/v1/names): kind "source", "role", "status" …
export const vocab = (kind, code) => { const pair = state.names && state.names[kind] && state.names[kind][code]; return pair ? pick(pair) : code ?? ""; };

// The map: MapLibre GL (WebGL) where the browser has WebGL 2, else our 2D-canvas renderer
// (old government PCs), chosen here at run time; both answer the same calls.
let map = null;
async function makeMap() {
  const box = $("#map");
  if (webglAvailable()) {
    try { const { GLMap } = await import("/static/glmap.js"); return new GLMap(box); } catch (e) { console.warn("WebGL map unavailable, drawing on a 2D canvas", e); box.replaceChildren(); }
  }
  const cv = document.createElement("canvas"); cv.tabIndex = 0; cv.setAttribute("aria-label", "city map: arrow keys pan, + and - zoom"); box.append(cv);
  return new CityMap(cv);
}
let workbench = null;

async function start() {
  setLang(getLang()); applyText(); $("#lang").textContent = getLang() === "zh" ? "EN" : "中文";
  setInterval(() => { $("#clock").textContent = fmtTime(new Date(), state.tz, true); }, 1000);
  state.namesReady = fetch("/api/v1/names").then((r) => r.json()).then((n) => { state.names = n; }).catch(() => {});
  // The map's library, the base map and the layer list load in parallel (the base map is
  // public and fetched without a token, as index.html preloads it).
  const mark = (k) => { window.cityops.marks[k] = Math.round(performance.now()); };
  const [bm, layers, m] = await Promise.all([fetch("/api/v1/dashboard/basemap").then((r) => r.json()).finally(() => mark("basemap")),
    api("/api/v1/dashboard/layers"), makeMap().finally(() => mark("map_library"))]);
  map = m; state.basemap = bm; state.layers = layers.layers; await state.namesReady;  // the legend names statuses
  $("#city-name").textContent = pick([bm.city.name, bm.city.name_en]) + " ";
  await map.setBase(bm); mark("base_set"); buildToggles(); legend(); loadSensorLayers();
  // First meaningful paint: the city drawn, from navigation start. The charts' library loads after it.
  map.whenDrawn().then(() => { mark("drawn"); window.cityops.firstPaintMs = performance.now(); (window.requestIdleCallback || setTimeout)(() => preloadCharts()); });
  $("#replay-date").value = cityDate();
  if (state.token) await afterLogin(); else { showLoggedOut(); connectFeed(); }
  if (location.hash === "#work") showView("work");
}

function buildToggles() {
  const box = $("#layer-toggles"); box.innerHTML = "";
  for (const l of [...state.layers, { id: "stress", name: t("l_stress") }]) {
    if (l.id === "stress" && !map.extra.size) continue;
    if (l.id === "roads" && !state.basemap.roads.length) continue;
    if (!(l.id in map.visible)) map.visible[l.id] = true;  // a layer added by a later feature
    const lab = document.createElement("label"); const cb = document.createElement("input"); cb.type = "checkbox"; cb.checked = map.visible[l.id]; cb.dataset.layer = l.id;
    cb.addEventListener("change", () => { map.visible[l.id] = cb.checked; map.draw(); });
    lab.append(cb, t("l_" + l.id) !== "l_" + l.id ? t("l_" + l.id) : pick([l.name, l.name_en])); box.append(lab);
  }
}

function legend() {
  if (!map) return; const C = map.cases; const counts = {}; let overdue = 0;
  if (C) for (let i = 0; i < C.n; i++) { if (C.overdueA[i]) overdue++; else { const s = C.statuses[C.statusA[i]]; counts[s] = (counts[s] || 0) + 1; } }
  const labels = Object.fromEntries(["reported", "registered", "dispatched", "disposing", "reported_back", "suspended"].map((s) => [s, [statusLabel(s), statusLabel(s)]]));
  // Each row: data-k names what it counts (tests read it), the swatch its layer's own colour and shape.
  // Built as elements (no HTML, no inline style attribute: the page's CSP may forbid them).
  const row = (k, colour, label, n, style = "") => {
    const div = document.createElement("div"), i = document.createElement("i"), b = document.createElement("b");
    div.dataset.k = k; i.style.cssText = style; i.style.background = colour; b.textContent = n;
    div.append(i, label, b); return div;
  };
  const rows = Object.entries(labels).map(([s, l]) => row(s, STATUS_COLOURS[s], pick(l), counts[s] || 0));
  rows.push(row("overdue", OVERDUE_COLOUR, t("overdue"), overdue, `box-shadow: 0 0 6px ${OVERDUE_COLOUR}`));
  // Open cases without a place: counted, so the rows add up to the case API's open cases.
  const unplaced = (state.replay ? 0 : (state.live && state.live.unplaced) || 0);
  if (unplaced) rows.push(row("unplaced", "transparent", t("not_on_map"), unplaced, "border: 1px dashed #8aa4c8"));
  rows.push(row("waterlogging", WATER_COLOUR, t("l_waterlogging"), map.water ? map.water.lon.length : 0));
  const S = state.sensorData || {}, count = (a, v) => a.reduce((n, x) => n + (x === v), 0);
  const g = S.gauges; if (g && g.level.length) [["g_red", 3], ["g_yellow", 2], ["g_normal", 1], ["g_none", 0]].forEach(([k, v]) => rows.push(row(k, GAUGE_COLOURS[v], t(k), count(g.level, v))));
  const d = S.detectors; if (d && d.level.length) [["d_jam", 3], ["d_slow", 2], ["d_free", 1]].forEach(([k, v]) => rows.push(row(k, DETECTOR_COLOURS[v], t(k), count(d.level, v), "border-radius:0")));
  const w = S.warnings; if (w) for (const lv of ["red", "orange", "yellow", "blue"]) { const n = count(w.level, lv); if (n) rows.push(row("w_" + lv, WARNING_COLOURS[lv], t("w_" + lv), n, "border-radius:0;clip-path:polygon(50% 0,100% 100%,0 100%)")); }
  $("#legend").replaceChildren(...rows);
  // 在办案件 counts now (the indicators panel is not replayed): every open case, placed or not.
  $("#k-open").textContent = state.live ? state.live.id.length + (state.live.unplaced || 0) : "–";
  $("#mapstat").textContent = state.replay ? `${t("replaying")} ${state.replay}` : (state.token ? "" : t("login_hint"));
}

function showLoggedOut() {
  $("#login-open").hidden = false; $("#logout").hidden = true; $("#who").textContent = ""; legend();
}

async function afterLogin() {
  try { state.me = await api("/api/v1/me"); } catch { return; }
  await state.namesReady;
  $("#login-open").hidden = true; $("#logout").hidden = false;
  $("#who").textContent = `${state.me.name} · ${pick(state.me.role_label)}`;
  const [city, districts, departments, matters] = await Promise.all([api("/api/v1/city"), api("/api/v1/city/districts"), api("/api/v1/city/departments"), api("/api/v1/catalogue/matters")]);
  state.city = city; state.tz = city.timezone || state.tz; state.offset = tzOffset(); state.districts = districts; state.departments = departments;
  for (const m of matters) state.matters.set(m.code, m);
  await findActiveDay(); replayBounds();
  await Promise.all([loadCases(), loadIndicators(), loadTrend()]);
  lastSeq = null; connectFeed();  // the scoped stream now, with the cases
  workbench = new Workbench({ api, state, toast, map: state.basemap, refreshDashboard: () => { loadCases(); loadIndicators(); } });
  if (!$("#view-work").hidden) workbench.show();  // the workbench tab was chosen while loading
  state.ready = true;
}

// The last day with reports (the demo plays a day some working days back): replay and trend default to it.
async function findActiveDay() {
  const today = cityDate();
  const tr = await api(`/api/v1/dashboard/trend?bucket=day&from=${encodeURIComponent(iso(addDays(today, -29)))}&to=${encodeURIComponent(iso(addDays(today, 1)))}`);
  let last = tr.reported.length - 1; while (last > 0 && !tr.reported[last]) last--;
  state.day = addDays(today, last - 29); state.daily = tr;
  $("#replay-date").value = state.day;
}

// Layers other features registered (gauges, detectors, warnings): public columns, loaded once;
// their changes then arrive over the event stream (`event: layer`).
async function loadSensorLayers() {
  state.sensorData = state.sensorData || {};
  await Promise.all(state.layers.filter((l) => l.kind === "points" || l.kind === "polygons").map(async (l) => {
    let cols; try { cols = await api(l.url); } catch { return; }
    if (!(l.id in state.sensorData)) showLayer(l.id, cols);  // unless the stream was first
  }));
  legend();
}
function showLayer(id, cols) {
  const l = (state.layers || []).find((x) => x.id === id); if (!l) return;
  state.sensorData[id] = cols;
  if (l.kind === "points") map.setSensors(id, cols); else map.setAreas(id, cols);
}

// A waterlogging point's panel: latest depth, thresholds and how far its warnings can be trusted.
async function pointPanel(k, tip, prefix = "") {
  const W = map.water, code = W.code[k], g = (state.sensorData || {}).gauges;
  const j = g ? g.point.indexOf(code) : -1, fmt = (v) => (v === null || v === undefined ? "–" : v);
  const depth = j < 0 ? t("p_no_gauge") : `<span style="color:${GAUGE_COLOURS[g.level[j]]}">${esc(fmt(g.value[j]))} cm</span>`;
  const head = prefix + `<b>${esc(W.name[k])}</b> <small>${esc(code || "")}</small><br>${t("p_depth")}: ${depth}` + (j < 0 ? "" : `<br>${t("p_thresholds")}: ${esc(g.yellow[j])} / ${esc(g.red[j])} cm`);
  tip.innerHTML = head + `<br>${t("p_skill")}: …`; tip.dataset.point = code || "";
  let skill = null; try { skill = code ? (await api(`/api/v1/warnings/points/${encodeURIComponent(code)}/skill`)).skill : null; } catch { skill = null; }
  if (tip.dataset.point !== (code || "")) return;  // another click meanwhile
  const s = skill && (skill.find((x) => x.forecast === "none") || skill[0]);
  tip.innerHTML = head + `<br>${t("p_skill")}: ` + (s ? `${t("p_events")} ${s.events} · ${t("p_recall")} ${pct(s.recall)} · ${t("p_precision")} ${pct(s.precision)} · ${t("p_lead")} ${Math.round(s.median_lead_min)} ${t("minutes")}` : `<span class="skill-none">${t("p_no_skill")}</span>`);
}

async function loadCases() {
  if (state.replay) return;
  const cols = await api("/api/v1/dashboard/cases"); state.live = cols; map.setCases(cols); legend(); departmentBars();
}

function periodRange() {
  const today = cityDate();
  if (state.period === "today") return [iso(today), iso(addDays(today, 1))];
  return [iso(addDays(today, state.period === "week" ? -6 : -29)), iso(addDays(today, 1))];
}

async function loadIndicators() {
  for (const b of document.querySelectorAll("[data-period]")) b.classList.toggle("on", b.dataset.period === state.period);
  const [from, to] = periodRange(), q = `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
  // Flows over the chosen period; overdue is a stock: every case overdue now, the same count as
  // the 超期督办 queue (the case API's overdue=true), the map's legend and the district bars.
  const [city, dist, now, overdue] = await Promise.all([api(`/api/v1/indicators?by=city&${q}`), api(`/api/v1/indicators?by=district&${q}`),
    api("/api/v1/indicators?by=district"), api("/api/v1/cases?overdue=true&limit=1")]);
  const row = city.rows[0] || {};
  if (state.autoPeriod && state.period === "today" && !row.accepted) { state.autoPeriod = false; state.period = "week"; return loadIndicators(); }
  for (const k of ["accepted", "registered", "closed"]) $("#k-" + k).textContent = row[k] ?? 0;
  for (const k of ["close_rate", "on_time_close_rate", "rework_rate"]) $("#k-" + k).textContent = pct(row[k]);
  $("#k-overdue_pending").textContent = overdue.total;
  // Every district of the city (none left out for having no cases): its close rate over the
  // period, "—" where nothing was due, and its overdue cases now.
  const rate = new Map(dist.rows.map((r) => [r.district, r.close_rate])), over = new Map(now.rows.map((r) => [r.district, r.overdue_pending]));
  const codes = state.districts.map((d) => d.code);
  for (const c of [...rate.keys(), ...over.keys()]) if (!codes.includes(c) && (over.get(c) || rate.get(c) !== undefined && rate.get(c) !== null)) codes.push(c);
  const rows = codes.map((code) => ({ code, a: rate.get(code) ?? null, b: over.get(code) || 0 }));
  rows.sort((x, y) => (y.a ?? -1) - (x.a ?? -1) || y.b - x.b);
  state.districtRows = rows; state.indicatorsAt = { from, to, as_of: now.as_of }; districtBars();
}
function districtBars() {
  if (!state.districtRows) return;
  barChart($("#bars-district"), state.districtRows.map((r) => ({ ...r, label: districtName(r.code) })), { maxA: 1, fmtA: pct, nameA: t("close_rate"), nameB: t("overdue_pending") });
}

function departmentBars() {
  const C = map && map.cases; if (!C) return;
  const by = new Map();
  for (let i = 0; i < C.n; i++) { const d = C.department[i]; if (!d) continue; const r = by.get(d) || { a: 0, b: 0 }; r.a++; if (C.overdueA[i]) r.b++; by.set(d, r); }
  const rows = [...by.entries()].map(([d, r]) => ({ label: departmentName(d).replace(/^武汉市/, "").replace(/^Wuhan /, ""), ...r })).sort((x, y) => y.b - x.b || y.a - x.a).slice(0, 12);
  barChart($("#bars-department"), rows, { colourA: "#ffb300", nameA: t("open_now"), nameB: t("overdue") });
}

async function loadTrend() {
  if (!state.token) return;
  for (const b of document.querySelectorAll("[data-trend]")) b.classList.toggle("on", b.dataset.trend === state.trendBucket);
  let tr, labels;
  if (state.trendBucket === "hour") {
    const day = $("#replay-date").value || state.day;
    tr = await api(`/api/v1/dashboard/trend?bucket=hour&from=${encodeURIComponent(iso(day))}&to=${encodeURIComponent(iso(addDays(day, 1)))}`);
    labels = tr.reported.map((_, i) => `${i}:00`);
  } else {
    const today = cityDate();
    tr = await api(`/api/v1/dashboard/trend?bucket=day&from=${encodeURIComponent(iso(addDays(today, -29)))}&to=${encodeURIComponent(iso(addDays(today, 1)))}`);
    labels = tr.reported.map((_, i) => addDays(today, i - 29).slice(5));
  }
  state.trend = [labels, tr]; drawTrend();
}
function drawTrend() {
  if (!state.trend) return; const [labels, tr] = state.trend;
  lineChart($("#trend"), labels, [{ name: t("accepted"), colour: "#3fb6ff", values: tr.reported }, { name: t("registered"), colour: "#ffb300", values: tr.registered }, { name: t("closed"), colour: "#3ddc97", values: tr.closed }]);
}

// History replay: the open cases as they stood at the end of the chosen hour (now, for the
// hour under way). Only hours that have begun are offered: the date stops at today, the hour
// at the current one. The map, its legend and the department bars replay; the indicators,
// the trend and the district bars stay live, and say so while a replay is on.
function replayBounds() {
  const today = cityDate(), hour = Number(new Date().toLocaleString("en-GB", { timeZone: state.tz, hour: "2-digit", hour12: false })) % 24;
  $("#replay-date").max = today;
  const date = $("#replay-date").value, slider = $("#replay-hour");
  slider.max = date === today ? String(hour) : "23";
  if (Number(slider.value) > Number(slider.max)) slider.value = slider.max;
  return { today, hour };
}
async function replay() {
  const { today, hour } = replayBounds();
  const date = $("#replay-date").value, hn = Number($("#replay-hour").value), h = String(hn).padStart(2, "0");
  $("#replay-out").textContent = `${h}:00`;
  if (!state.token || !date) return;
  if (date > today) { toast(t("replay_future"), true); $("#replay-date").value = today; return replay(); }
  const current = date === today && hn === hour, label = current ? `${date} ${new Date().toLocaleTimeString("en-GB", { timeZone: state.tz, hour12: false }).slice(0, 5)}` : `${date} ${h}:59`;
  state.replay = label; $("#replay-live").classList.remove("on"); document.body.classList.add("replaying"); setLive(state.liveOn);
  const at = current ? new Date().toISOString() : iso(date, h + ":59:59");
  let snap; try { snap = await api(`/api/v1/dashboard/snapshot?at=${encodeURIComponent(at)}`); } catch (e) { toast(e.message, true); return; }
  if (state.replay === label) { map.setCases(snap); legend(); departmentBars(); }
}
async function backToLive() {
  state.replay = null; $("#replay-live").classList.add("on"); document.body.classList.remove("replaying"); setLive(state.liveOn);
  if (state.live) { map.setCases(state.live); legend(); departmentBars(); }
  await loadCases();
}

// Server-Sent Events over fetch (so the bearer token travels in a header, not the URL).
let feedAbort = null, refreshTimer = null, lastSeq = null;
async function connectFeed() {
  if (feedAbort) feedAbort.abort();
  const ctl = new AbortController(); feedAbort = ctl; let clean = false;
  try {
    // Logged in: case changes (scoped by the server) and the public layers; logged out: the layers only.
    const headers = { accept: "text/event-stream" }; if (state.token) headers.authorization = "Bearer " + state.token;
    if (lastSeq !== null) headers["last-event-id"] = String(lastSeq);
    const r = await fetch(state.token ? "/api/v1/dashboard/events" : "/api/v1/dashboard/layer-events", { headers, signal: ctl.signal });
    if (!r.ok) throw new Error(String(r.status));
    setLive(!!state.token);
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader(); let buf = "";
    for (;;) {
      const { value, done } = await reader.read(); if (done) break;
      buf += value; let k;
      while ((k = buf.indexOf("\n\n")) >= 0) { const block = buf.slice(0, k); buf = buf.slice(k + 2); onEvent(block); }
    }
    clean = true;  // the server ends a stream now and then; reconnect at once, missing nothing
  } catch (e) { if (ctl.signal.aborted) return; }
  if (!clean) setLive(false);
  if (feedAbort === ctl) setTimeout(() => { if (feedAbort === ctl) connectFeed(); }, clean ? 50 : 2000);
}
// The dot says what the screen shows: live (pushed), offline, or a replay (the map is not live then).
function setLive(on) {
  state.liveOn = on; const key = state.replay ? "replay_on" : on ? "live_on" : "live_off";
  $("#live").classList.toggle("off", !on && !state.replay); $("#live").classList.toggle("replay", !!state.replay);
  $("#live b").textContent = t(key); $("#live b").dataset.i18n = key;
}

function onEvent(block) {
  let event = "message", data = "";
  for (const line of block.split("\n")) { if (line.startsWith("event:")) event = line.slice(6).trim(); else if (line.startsWith("data:")) data += line.slice(5).trim(); }
  if (event === "hello") { const h = JSON.parse(data); if (h.reload && lastSeq !== null && state.token) loadCases(); lastSeq = h.seq; return; }
  if (event === "layer") { const msg = JSON.parse(data); window.cityops.layerEvents.push(msg.layer); lastSeq = Math.max(lastSeq ?? 0, msg.seq); showLayer(msg.layer, msg.data); legend(); return; }
  if (event !== "cases") return;
  const msg = JSON.parse(data); window.cityops.events.push(msg); lastSeq = msg.seq;
  const L = state.live; if (!L) return;
  const idx = new Map(L.id.map((id, i) => [id, i])), statusIdx = new Map(L.statuses.map((s, i) => [s, i]));
  const final = new Set(["closed", "rejected", "merged"]); const drop = new Set();
  for (const c of msg.cases) {
    const i = idx.get(c.id);
    if (final.has(c.status) || c.lon === null) { if (i !== undefined) drop.add(i); continue; }
    const vals = { id: c.id, status: statusIdx.get(c.status), lon: c.lon, lat: c.lat, matter: c.matter, department: c.department, district: c.district, overdue: c.overdue ? 1 : 0, escalated: c.escalated ? 1 : 0 };
    if (i === undefined) for (const k in vals) L[k].push(vals[k]); else for (const k in vals) L[k][i] = vals[k];
  }
  if (drop.size) for (const k of ["id", "status", "lon", "lat", "matter", "department", "district", "overdue", "escalated"]) L[k] = L[k].filter((_, i) => !drop.has(i));
  if (!state.replay) { map.setCases(L); legend(); departmentBars(); }
  state.ticker = msg.cases.slice(-3); ticker();
  clearTimeout(refreshTimer); refreshTimer = setTimeout(loadIndicators, 1500);
  if (workbench) workbench.changed(msg.cases);
}
// Statuses and actions are named by the product's one table (GET /api/v1/names), as the API names them.
export const statusLabel = (s) => vocab("status", s);
export const statusList = () => Object.keys((state.names && state.names.status) || {});
export const actionName = (a) => vocab("action", a);

async function login(ev) {
  ev.preventDefault();
  const username = $("#username").value.trim(), password = $("#password").value;
  try {
    const r = await fetch("/api/v1/auth/token", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username, password }) });
    if (!r.ok) throw new Error(t("login_failed"));
    state.token = (await r.json()).access_token; sessionStorage.setItem("cityops.token", state.token);
    $("#login-dialog").close(); $("#password").value = ""; $("#login-error").textContent = "";
    await afterLogin();
    if (state.pendingView) { showView(state.pendingView); state.pendingView = null; }
  } catch (e) { $("#login-error").textContent = e.message; }
}
function logout() {
  if (state.token) fetch("/api/v1/auth/logout", { method: "POST", headers: { authorization: "Bearer " + state.token } }).catch(() => {});
  state.token = null; state.me = null; state.ready = false; sessionStorage.removeItem("cityops.token"); if (feedAbort) feedAbort.abort(); feedAbort = null; lastSeq = null; setLive(false); connectFeed();
  map.setCases({ id: [], status: [], lon: [], lat: [], overdue: [], statuses: [], department: [] }); state.live = null;
  if (workbench) workbench.reset(); workbench = null; showView("dash"); showLoggedOut();
}

function showView(v) {
  if (v === "work" && !state.token) { state.pendingView = "work"; $("#login-dialog").showModal(); return; }
  $("#view-dash").hidden = v !== "dash"; $("#view-work").hidden = v !== "work";
  $("#tab-dash").setAttribute("aria-selected", v === "dash"); $("#tab-work").setAttribute("aria-selected", v === "work");
  if (v === "work" && workbench) workbench.show(); else { if (map) { map.resize(); map.draw(); } districtBars(); departmentBars(); drawTrend(); }
}

// The last changes, in the page's language (re-drawn when it changes). Names come from the catalogue and city pack.
function ticker() {
  $("#ticker").innerHTML = (state.ticker || []).map((c) => `<b>#${Number(c.id)}</b> ${esc(matterName(c.matter))} → ${esc(statusLabel(c.status))}`).join("　");
}

function relang() {
  setLang(getLang() === "zh" ? "en" : "zh"); applyText(); $("#lang").textContent = getLang() === "zh" ? "EN" : "中文";
  if (state.basemap) $("#city-name").textContent = pick([state.basemap.city.name, state.basemap.city.name_en]) + " ";
  document.title = t("title") + " · cityops";
  if (state.me) $("#who").textContent = `${state.me.name} · ${pick(state.me.role_label)}`;
  buildToggles(); legend(); if (map) map.relabel(); districtBars(); departmentBars(); drawTrend(); setLive(state.liveOn);
  ticker(); $("#tip").hidden = true;  // a tooltip shown in the other language goes until the next hover
  if (workbench) workbench.relang();
}

$("#login-form").addEventListener("submit", login);
$("#login-cancel").addEventListener("click", () => $("#login-dialog").close());
$("#login-open").addEventListener("click", () => $("#login-dialog").showModal());
$("#logout").addEventListener("click", logout);
$("#lang").addEventListener("click", relang);
for (const b of document.querySelectorAll("[data-view]")) b.addEventListener("click", () => showView(b.dataset.view));
for (const b of document.querySelectorAll("[data-period]")) b.addEventListener("click", () => { state.period = b.dataset.period; state.autoPeriod = false; loadIndicators(); });
for (const b of document.querySelectorAll("[data-trend]")) b.addEventListener("click", () => { state.trendBucket = b.dataset.trend; loadTrend(); });
$("#replay-hour").addEventListener("input", replay);
$("#replay-date").addEventListener("change", () => { replay(); loadTrend(); });
$("#replay-hour").addEventListener("focus", replayBounds);
$("#replay-live").addEventListener("click", backToLive);
// A click (not the end of a drag) on a case or a waterlogging point shows its panel.
let downAt = null;
$("#map").addEventListener("pointerdown", (e) => { downAt = [e.clientX, e.clientY]; });
$("#map").addEventListener("click", (e) => {
  if (!map || !downAt || Math.abs(e.clientX - downAt[0]) + Math.abs(e.clientY - downAt[1]) > 4) return;
  const r = $("#map").getBoundingClientRect(), px = (e.clientX - r.left) * map.dpr, py = (e.clientY - r.top) * map.dpr, i = map.hit(px, py), tip = $("#tip");
  const k = map.hitWater(px, py);
  if (i < 0 && k < 0) { tip.hidden = true; return; }
  tip.hidden = false; tip.style.left = e.clientX - r.left + 12 + "px"; tip.style.top = e.clientY - r.top + 12 + "px";
  if (i < 0) { pointPanel(k, tip); return; }
  const C = map.cases; tip.dataset.point = "";
  const caseHtml = `<b>#${esc(C.id[i])}</b> ${esc(matterName(C.matter[i]))}<br>${esc(statusLabel(C.statuses[C.statusA[i]]))}${C.overdueA[i] ? ` · <span style="color:${OVERDUE_COLOUR}">${t("overdue")}</span>` : ""}<br>${esc(districtName(C.district[i]))} · ${esc(departmentName(C.department[i]))}`;
  tip.innerHTML = caseHtml;
  if (k >= 0) pointPanel(k, tip, caseHtml + "<hr>");  // a gauge case sits on its point: show both
});
window.addEventListener("resize", () => { districtBars(); departmentBars(); drawTrend(); });
// Figures "now" age without any write (a case falls overdue when its due time passes): the
// live cases and the indicators are read again every minute.
setInterval(() => { if (state.ready && !state.replay) { loadCases(); loadIndicators(); } }, 60_000);

// Hooks for tests and for the people tuning the wall screen.
window.cityops = {
  get map() { return map; }, state, events: [], layerEvents: [], marks: {},
  chart: (id) => optionOf(document.getElementById(id)),
  stress(n, seed = 1) {
    const [x0, y0, x1, y1] = state.basemap.bounds; const lon = new Float64Array(n), lat = new Float64Array(n);
    let s = seed >>> 0; const rnd = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296);
    for (let i = 0; i < n; i++) { lon[i] = x0 + (x1 - x0) * rnd(); lat[i] = y0 + (y1 - y0) * rnd(); }
    map.setPoints("stress", n ? lon : null, n ? lat : null, "#7cf5ff"); buildToggles(); return n;
  },
  // Pans `frames` animation frames, each drawn at once: frame intervals and drawing times.
  panTest(frames = 120, dx = 6, dy = 3) {
    return new Promise((resolve) => {
      const times = [], renders = []; let last = null, k = 0;
      const step = (ts) => {
        if (last !== null) times.push(ts - last); last = ts;
        renders.push(map.frame(k < frames / 2 ? dx : -dx, k < frames / 2 ? dy : -dy));
        if (++k < frames) { requestAnimationFrame(step); return; }
        times.sort((a, b) => a - b); renders.sort((a, b) => a - b);
        const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
        resolve({ renderer: map.kind, frames: k, mean_ms: mean(times), median_ms: times[Math.floor(times.length / 2)], p95_ms: times[Math.floor(times.length * 0.95)], max_ms: times[times.length - 1], render_mean_ms: mean(renders), render_p95_ms: renders[Math.floor(renders.length * 0.95)] });
      };
      requestAnimationFrame(step);
    });
  },
};
start();
