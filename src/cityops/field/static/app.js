// 城管通: the inspector's phone page. No libraries, nothing from the internet.
// Reports and photos go to an IndexedDB outbox first and are sent when the network is there;
// each report carries its outbox key as Idempotency-Key, and a photo is content-addressed on
// the server, so a resend after a lost answer never makes a second case or photo.
"use strict";

const $ = (s) => document.querySelector(s);
const state = { token: localStorage.getItem("token"), matters: [], chosen: null, pos: null, flushing: false,
                track: [], trackSince: Date.now(),
                trackEvery: Number(localStorage.getItem("trackEveryMs")) || 120000 };

// ---- IndexedDB outbox ------------------------------------------------------------------
function db() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open("cityops-field", 1);
    req.onupgradeneeded = () => req.result.createObjectStore("outbox", { keyPath: "key" });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}
async function tx(mode, fn) {
  const d = await db();
  return new Promise((resolve, reject) => {
    const t = d.transaction("outbox", mode);
    const out = fn(t.objectStore("outbox"));
    t.oncomplete = () => resolve(out && out.result);
    t.onerror = () => reject(t.error);
  });
}
const putItem = (item) => tx("readwrite", (s) => s.put(item));
const delItem = (key) => tx("readwrite", (s) => s.delete(key));
const allItems = () => tx("readonly", (s) => s.getAll());

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

// ---- HTTP ---------------------------------------------------------------------------------
class Retry extends Error {}
async function api(path, opts = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + state.token }, opts.headers || {});
  let resp;
  try {
    resp = await fetch(path, Object.assign({}, opts, { headers }));
  } catch (e) {
    throw new Retry("network");  // offline or the answer was lost: try again later
  }
  if (resp.status === 401) { logout(); throw new Retry("login"); }
  if (resp.status >= 500 || resp.status === 429) throw new Retry(String(resp.status));
  const body = resp.headers.get("content-type")?.includes("json") ? await resp.json() : await resp.blob();
  if (!resp.ok) { const e = new Error(body.message_zh ? body.message_zh + " / " + body.message : resp.status); e.body = body; throw e; }
  return body;
}

async function sendPhoto(caseId, blob, stage) {
  const form = new FormData();
  form.append("file", blob, blob.name || "upload");  // the server sniffs the type from the bytes
  form.append("stage", stage);
  return api(`/api/v1/cases/${caseId}/attachments`, { method: "POST", body: form });
}

async function send(item) {
  if (item.kind === "report") {
    if (!item.caseId) {
      const c = await api("/api/v1/cases", {
        method: "POST", body: JSON.stringify(item.body),
        headers: { "Content-Type": "application/json", "Idempotency-Key": item.key },
      });
      item.caseId = c.id;
      await putItem(item);
    }
    if (item.photo) await sendPhoto(item.caseId, item.photo, "before");
    note(`已上报 reported: 案卷 case ${item.caseId}`);
  } else if (item.kind === "track") {
    await api("/api/v1/patrols/tracks", {
      method: "POST", body: JSON.stringify({ points: item.points }),
      headers: { "Content-Type": "application/json", "Idempotency-Key": item.key },
    });
  } else if (item.kind === "verify") {
    await sendPhoto(item.caseId, item.photo, "verify");
    const c = await api(`/api/v1/cases/${item.caseId}`);
    if (c.status === "reported_back") {
      await api(`/api/v1/cases/${item.caseId}/actions/verify`, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ passed: true, reason: "现场核查通过 / verified on site" }),
      });
    }
    note(`已核查 verified: 案卷 case ${item.caseId}`);
    loadVerify();
  }
}

async function flush() {
  if (state.flushing || !state.token) return;
  state.flushing = true;
  try {
    const items = (await allItems()).sort((a, b) => a.created - b.created);
    for (const item of items) {
      if (item.error) continue;
      try {
        await send(item);
        await delItem(item.key);
      } catch (e) {
        if (e instanceof Retry) break;
        item.error = e.message;  // refused: keep it visible, never resend blindly
        await putItem(item);
        note("失败 failed: " + e.message, true);
      }
    }
  } finally {
    state.flushing = false;
    await showCount();
  }
}

async function enqueue(item) {
  item.key = uuid();
  item.created = Date.now();
  await putItem(item);
  await showCount();
  flush();
}

async function showCount() {
  const items = await allItems();
  $("#outbox-count").textContent = items.filter((i) => !i.error).length;
}

function note(text, bad) {
  const li = document.createElement("li");
  li.textContent = text;
  if (bad) li.className = "error";
  $("#sent").prepend(li);
}

function showNet() {
  const on = navigator.onLine;
  $("#net").textContent = on ? "在线 online" : "离线 offline";
  $("#net").className = on ? "online" : "offline";
}

// ---- login ---------------------------------------------------------------------------------
async function login() {
  $("#login-error").textContent = "";
  try {
    const r = await fetch("/api/v1/auth/token", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: $("#username").value, password: $("#password").value }),
    });
    const body = await r.json();
    if (!r.ok) throw new Error((body.message_zh || "") + " / " + (body.message || r.status));
    state.token = body.access_token;
    localStorage.setItem("token", state.token);
    start();
  } catch (e) {
    $("#login-error").textContent = "登录失败 login failed: " + e.message;
  }
}

function logout() {
  state.token = null;
  localStorage.removeItem("token");
  $("#main").hidden = true;
  $("#login").hidden = false;
}

// ---- patrol map (canvas) -----------------------------------------------------------------
async function loadPatrol() {
  let p;
  try { p = await api("/api/v1/patrols/today"); localStorage.setItem("patrol", JSON.stringify(p)); }
  catch (e) { p = JSON.parse(localStorage.getItem("patrol") || "null"); }
  if (!p) return;
  state.patrol = p;
  $("#patrol-title").textContent = `今日巡查 ${p.name} · ${p.name_en} (${p.day})`;
  $("#patrol-info").textContent = `路线 route: ${p.route.length} 个航点 waypoints`;
  drawMap();
}

function drawMap() {
  const p = state.patrol, cv = $("#map"), g = cv.getContext("2d");
  if (!p) return;
  const pts = p.outline.flat().concat(p.route);
  const xs = pts.map((q) => q[0]), ys = pts.map((q) => q[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const k = Math.cos((y0 + y1) / 2 * Math.PI / 180);
  const s = (cv.width - 20) / Math.max((x1 - x0) * k, y1 - y0);
  const at = (q) => [10 + (q[0] - x0) * k * s, cv.height - 10 - (q[1] - y0) * s];
  g.clearRect(0, 0, cv.width, cv.height);
  g.fillStyle = "#e3eefb"; g.strokeStyle = "#0b5cad"; g.lineWidth = 1.5;
  for (const ring of p.outline) {
    g.beginPath(); ring.forEach((q, i) => g[i ? "lineTo" : "moveTo"](...at(q))); g.closePath(); g.fill(); g.stroke();
  }
  g.strokeStyle = "#e65100"; g.lineWidth = 2; g.beginPath();
  p.route.forEach((q, i) => g[i ? "lineTo" : "moveTo"](...at(q))); g.stroke();
  if (state.pos) {
    const [x, y] = at([state.pos.lon, state.pos.lat]);
    g.fillStyle = "#2e7d32"; g.beginPath(); g.arc(x, y, 6, 0, 7); g.fill();
  }
}

// ---- matter picker ---------------------------------------------------------------------------
async function loadMatters() {
  try {
    const r = await fetch("/m/catalogue.json");
    const body = await r.json();
    localStorage.setItem("matters", JSON.stringify(body.matters));
    state.matters = body.matters;
  } catch (e) {
    state.matters = JSON.parse(localStorage.getItem("matters") || "[]");
  }
}

function searchMatters() {
  const q = $("#matter-q").value.trim().toLowerCase();
  const list = $("#matter-list");
  list.innerHTML = "";
  if (!q) return;
  const hits = state.matters.filter((m) => m.name.includes(q) || m.py.startsWith(q) || m.code.startsWith(q)
    || m.name_en.toLowerCase().includes(q)).slice(0, 20);
  for (const m of hits) {
    const li = document.createElement("li");
    li.dataset.code = m.code;
    li.textContent = `${m.name} ${m.name_en} (${m.code})`;
    li.onclick = () => { state.chosen = m; $("#matter-chosen").textContent = `${m.name} ${m.code}`; list.innerHTML = ""; };
    list.append(li);
  }
}

// ---- report ----------------------------------------------------------------------------------
async function report() {
  const msg = $("#report-msg");
  if (!state.chosen) { msg.textContent = "请选择事项 choose a matter"; return; }
  if (!state.pos) { msg.textContent = "尚未定位 no position yet"; return; }
  const photo = $("#photo").files[0] || null;
  await enqueue({
    kind: "report", photo,
    body: { matter_code: state.chosen.code, description: $("#desc").value || state.chosen.name,
            lon: state.pos.lon, lat: state.pos.lat, source: "inspector" },
  });
  msg.textContent = navigator.onLine ? "已提交 submitted" : "已保存，联网后自动发送 saved; it will be sent when online";
  $("#desc").value = ""; $("#photo").value = "";
}

// ---- verification ----------------------------------------------------------------------------
async function loadVerify() {
  let found;
  try { found = await api("/api/v1/cases?status=reported_back&limit=50"); } catch (e) { return; }
  const list = $("#verify-list");
  list.innerHTML = "";
  for (const c of found.cases) {
    const li = document.createElement("li");
    li.dataset.case = c.id;
    // The citizen's words go in as text, never as HTML (docs/operations.md, "Browser security").
    const head = document.createElement("b"); head.textContent = `案卷 ${c.id}`;
    li.append(head, " ", c.description || "");
    li.insertAdjacentHTML("beforeend", `<br><img class="before" alt="处置前 before">`
      + `<label>处置后照片或视频 after-photo or video <input type="file" accept="image/*,video/*" capture="environment" class="after"></label>`
      + `<button class="pass">核查通过 Verified</button>`);
    list.append(li);
    li.querySelector(".pass").onclick = async () => {
      const f = li.querySelector(".after").files[0];
      if (!f) { alert("请先拍处置后照片 take the after-photo first"); return; }
      await enqueue({ kind: "verify", caseId: c.id, photo: f });
    };
    api(`/api/v1/cases/${c.id}/attachments`).then(async (a) => {
      const before = a.attachments.find((x) => x.stage === "before");
      if (before) li.querySelector(".before").src = URL.createObjectURL(await api(before.thumbnail_url));
    }).catch(() => {});
  }
}

// ---- GPS track (巡查轨迹): kept while logged in, queued in chunks like reports ------------------
function recordTrack(pos) {
  if (!state.token) return;
  state.track.push([pos.lon, pos.lat, Date.now()]);
  if (state.track.length >= 2 && Date.now() - state.trackSince >= state.trackEvery) {
    const points = state.track;
    state.track = [points[points.length - 1]];  // the next chunk starts where this one ended
    state.trackSince = Date.now();
    enqueue({ kind: "track", points });
  }
}

// ---- start -----------------------------------------------------------------------------------
function tab(name) {
  document.querySelectorAll(".tab").forEach((t) => { t.hidden = t.id !== "tab-" + name; });
  document.querySelectorAll("nav button[data-tab]").forEach((b) => b.classList.toggle("on", b.dataset.tab === name));
  if (name === "verify") loadVerify();
}

function start() {
  $("#login").hidden = true;
  $("#main").hidden = false;
  loadMatters();
  loadPatrol();
  showCount();
  flush();
}

function init() {
  $("#login-btn").onclick = login;
  $("#logout-btn").onclick = logout;
  $("#report-btn").onclick = report;
  $("#matter-q").oninput = searchMatters;
  document.querySelectorAll("nav button[data-tab]").forEach((b) => { b.onclick = () => tab(b.dataset.tab); });
  window.addEventListener("online", () => { showNet(); flush(); });
  window.addEventListener("offline", showNet);
  setInterval(flush, 5000);
  showNet();
  if ("geolocation" in navigator) {
    navigator.geolocation.watchPosition((p) => {
      state.pos = { lon: p.coords.longitude, lat: p.coords.latitude };
      recordTrack(state.pos);
      $("#gps").textContent = `${state.pos.lat.toFixed(5)}, ${state.pos.lon.toFixed(5)} (±${Math.round(p.coords.accuracy)} m)`;
      drawMap();
    }, (e) => { $("#gps").textContent = "无法定位 no position: " + e.message; }, { enableHighAccuracy: true });
  }
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/m/sw.js", { scope: "/m/" }).catch(() => {});
  if (state.token) start();
}

init();
