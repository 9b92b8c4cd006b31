// The workbench (工作台): role-aware queues, search and filters, paging, CSV, case detail and
// every workflow action, all through the case API (department scope is the API's own).
import { t, pick, applyText, esc, fmtTime } from "/static/i18n.js";
import { CityMap } from "/static/map.js";

const $ = (s) => document.querySelector(s);
const QUEUES = {
  reported: { status: "reported" }, registered: { status: "registered" }, inbox: { status: "dispatched,disposing" },
  verify: { status: "reported_back" }, overdue: { overdue: "true" }, extension: { status: "dispatched,disposing", pending: true }, all: {},
  triage: null,  // not a case list: the intel triage queue (GET /api/v1/triage)
};
const ROLE_QUEUES = {
  acceptor: ["reported", "triage", "all"], dispatcher: ["registered", "all"], department: ["inbox", "all"], verifier: ["verify", "all"],
  collector: ["verify", "triage", "all"], supervisor: ["overdue", "extension", "reported", "registered", "verify", "triage", "all"],
  admin: ["reported", "triage", "registered", "inbox", "verify", "overdue", "extension", "all"],
};
const REPORTERS = new Set(["collector", "acceptor", "supervisor", "admin"]);
// Photo stages (cityops.field.attachments.STAGES); any role that may see a case may attach one.
const STAGES = { before: ["处置前", "Before"], after: ["处置后", "After"], verify: ["核查", "Verification"], evidence: ["取证", "Evidence"] };
// What each action asks for (docs/workflow.md).
const FIELDS = {
  register: ["matter_code"], reject: ["reason!"], merge: ["target!", "reason"], dispatch: ["department!", "reason"], accept: [], return: ["reason!"],
  report_back: ["reason"], verify: ["passed", "reason"], request_extension: ["amount!", "unit!", "reason!"], approve_extension: ["reason"],
  deny_extension: ["reason!"], suspend: ["reason!"], resume: [], escalate: ["reason"], comment: ["reason!"],
};
// Action names: the product's one table (GET /api/v1/names), through app.js (loaded long
// before anyone opens a case; imported lazily as app.js imports this module).
let app = null; import("/static/app.js").then((m) => { app = m; });
const actionName = (a) => (app ? app.actionName(a) : a);
const COLUMNS = [["id", "c_id", "id"], ["status", "c_status"], ["matter", "c_matter"], ["district", "c_district"], ["department", "c_department"],
  ["reported_at", "c_reported", "reported_at"], ["due_at", "c_due", "due_at"], ["source", "c_source"]];
const PAGE = 50;

// A sensor case's text in the reader's language (its description carries both, zh-CN first).
const described = (c) => { const d = ((c.attributes || {}).detection || {}).text; return d && d.zh ? pick([d.zh, d.en || d.zh]) : c.description; };

export class Workbench {
  constructor({ api, state, toast, map, refreshDashboard }) {
    Object.assign(this, { api, state, toast, basemap: map, refreshDashboard });
    this.role = state.me.role; this.queues = ROLE_QUEUES[this.role] || ["all"]; this.queue = this.queues[0];
    this.offset = 0; this.order = "-id"; this.rows = []; this.total = 0; this.selected = null;
    this.fillFilters(); this.bind(); this.renderQueues(); this.renderHead();
    $("#new-case").hidden = !REPORTERS.has(this.role);
  }
  fill(sel, items, blank = true) { sel.innerHTML = (blank ? `<option value="">${esc(t("all"))}</option>` : "") + items.map(([v, l]) => `<option value="${esc(v)}">${esc(l)}</option>`).join(""); }
  fillFilters() {
    const f = $("#filters"), S = this.state;
    import("/static/app.js").then(({ statusList, statusLabel }) => this.fill(f.status, statusList().map((s) => [s, statusLabel(s)])));
    this.fill(f.district, S.districts.map((d) => [d.code, pick([d.name, d.name_en])]));
    const depts = this.role === "department" ? S.departments.filter((d) => d.code === S.me.department) : S.departments;
    this.fill(f.department, depts.map((d) => [d.code, pick([d.name, d.name_en])]));
    // Channels: exactly those the cases you may see came in by, with their counts (GET /api/v1/channels).
    const keep = f.source.value;
    this.api("/api/v1/channels").then((r) => {
      this.fill(f.source, r.channels.map((c) => [c.code, `${pick(c.label)} (${c.count})`])); f.source.value = keep;
    }).catch(() => {});
    $("#matters").innerHTML = [...S.matters.values()].filter((m) => m.kind === "matter").map((m) => `<option value="${esc(m.code)}">${esc(pick([m.name, m.name_en]))}</option>`).join("");
  }
  bind() {
    if (this.bound) return; this.bound = true;
    this.onSubmit = (e) => { e.preventDefault(); this.offset = 0; this.load(); };
    $("#filters").addEventListener("submit", this.onSubmit);
    $("#prev").onclick = () => { if (this.offset > 0) { this.offset = Math.max(0, this.offset - PAGE); this.load(); } };
    $("#next").onclick = () => { if (this.offset + PAGE < this.total) { this.offset += PAGE; this.load(); } };
    $("#csv").onclick = () => this.csv();
    $("#new-case").onclick = () => this.newCase();
  }
  reset() { $("#filters").removeEventListener("submit", this.onSubmit); $("#cases tbody").innerHTML = ""; $("#detail").innerHTML = ""; this.dropPhotos(); const tq = $("#triage"); if (tq) tq.remove(); }
  relang() { this.fillFilters(); this.renderQueues(); this.renderHead(); this.renderRows(); if (this.queue === "triage") this.loadTriage(); if (this.selected) this.open(this.selected); }
  show() { if (!this.loaded) { this.loaded = true; this.load(); } }
  changed(cases) { if (!$("#view-work").hidden) { clearTimeout(this.reload); this.reload = setTimeout(() => this.load(), 800); } }

  renderQueues() {
    const box = $("#queues"); box.innerHTML = "";
    for (const q of this.queues) {
      const b = document.createElement("button"); b.setAttribute("role", "tab"); b.dataset.queue = q; b.setAttribute("aria-selected", q === this.queue);
      b.textContent = t("q_" + q); b.onclick = () => { this.queue = q; this.offset = 0; this.renderQueues(); this.load(); }; box.append(b);
    }
  }
  renderHead() {
    $("#cases thead").innerHTML = "<tr>" + COLUMNS.map(([k, label, order]) => {
      const sort = order && this.order.replace("-", "") === order ? (this.order.startsWith("-") ? "descending" : "ascending") : "none";
      return `<th scope="col" data-col="${k}" ${order ? `data-order="${order}" tabindex="0" aria-sort="${sort}"` : ""}>${esc(t(label))}</th>`;
    }).join("") + "</tr>";
    for (const th of document.querySelectorAll("#cases th[data-order]")) {
      const go = () => { const o = th.dataset.order; this.order = this.order === "-" + o ? o : "-" + o; this.offset = 0; this.renderHead(); this.load(); };
      th.onclick = go; th.onkeydown = (e) => { if (e.key === "Enter") go(); };
    }
  }
  params() {
    const f = new FormData($("#filters")), p = new URLSearchParams(), Q = QUEUES[this.queue];
    for (const [k, v] of Object.entries(Q)) if (k !== "pending") p.set(k, v);
    for (const k of ["q", "status", "matter", "district", "department", "source"]) { const v = String(f.get(k) || "").trim(); if (v) p.set(k, v); }
    const zone = this.state.offset || "+08:00";  // the city's UTC offset, from its time zone
    if (f.get("from")) p.set("from", f.get("from") + "T00:00:00" + zone);
    if (f.get("to")) p.set("to", f.get("to") + "T23:59:59" + zone);
    if (f.get("overdue")) p.set("overdue", "true");
    p.set("limit", PAGE); p.set("offset", this.offset); p.set("order", this.order);
    return p;
  }
  async load() {
    const triage = this.queue === "triage";
    $("#filters").hidden = triage; $("#cases").closest(".tablewrap").hidden = triage; $(".pager").hidden = triage;
    if (triage) return this.loadTriage();
    const tq = $("#triage"); if (tq) tq.hidden = true;
    try {
      const r = await this.api("/api/v1/cases?" + this.params());
      this.rows = r.cases.filter((c) => !QUEUES[this.queue].pending || c.pending_extension);
      this.total = r.total; this.renderRows();
    } catch (e) { this.toast(e.message, true); }
  }
  cell(c, k) {
    const S = this.state; const { matterName, districtName, departmentName } = this.names;
    switch (k) {
      case "status": return pick(c.status_label) + (c.escalated ? " · " + t("escalated") : "");
      case "matter": return `${c.matter_code} ${matterName(c.matter_code)}`;
      case "district": return districtName(c.district);
      case "department": return departmentName(c.department);
      case "reported_at": case "due_at": return fmtTime(c[k], S.tz);
      case "source": return pick([c.source_name, c.source_name_en]) || c.source;
      default: return c[k] ?? "";
    }
  }
  renderRows() {
    import("/static/app.js").then((m) => {
      this.names = m; const tb = $("#cases tbody");
      tb.innerHTML = this.rows.map((c) => `<tr data-id="${Number(c.id)}" tabindex="0" class="${c.id === this.selected ? "sel" : ""}">` + COLUMNS.map(([k]) =>
        `<td class="${k === "due_at" && c.overdue ? "overdue" : ""}">${esc(this.cell(c, k))}</td>`).join("") + "</tr>").join("");
      for (const tr of tb.querySelectorAll("tr")) { const go = () => this.open(Number(tr.dataset.id)); tr.onclick = go; tr.onkeydown = (e) => { if (e.key === "Enter") go(); }; }
      const a = this.total ? this.offset + 1 : 0, b = Math.min(this.offset + PAGE, this.total);
      $("#pageinfo").textContent = t("page", { a, b, n: this.total });
    });
  }
  csv() {
    const head = COLUMNS.map(([, l]) => t(l)), lines = [head, ...this.rows.map((c) => COLUMNS.map(([k]) => this.cell(c, k)))];
    const text = "\ufeff" + lines.map((r) => r.map((v) => `"${String(v).replace(/"/g, '""')}"`).join(",")).join("\r\n");
    const a = document.createElement("a"); a.href = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
    a.download = `cases_${this.queue}_${this.offset / PAGE + 1}.csv`; document.body.append(a); a.click(); a.remove();
  }

  async open(id) {
    this.selected = id;
    for (const tr of document.querySelectorAll("#cases tbody tr")) tr.classList.toggle("sel", Number(tr.dataset.id) === id);
    const box = $("#detail");
    try {
      const [c, h, v, s] = await Promise.all([this.api(`/api/v1/cases/${id}`), this.api(`/api/v1/cases/${id}/history`), this.api(`/api/v1/cases/${id}/history/verify`),
        this.api(`/api/v1/cases/${id}/summary`).catch(() => null)]);
      // The draft reply to the citizen (intel.summary) is shown once the case is closed.
      const reply = c.status === "closed" ? await this.api(`/api/v1/cases/${id}/reply-draft`).catch(() => null) : null;
      const texts = (title, r) => r ? `<section class="summary"><h3>${esc(t(title))}</h3><p>${esc(pick([r.text_zh, r.text_en]))}</p></section>` : "";
      let suggested = [];
      if (c.allowed_actions.includes("dispatch")) suggested = (await this.api(`/api/v1/cases/${id}/departments`)).departments;
      this.current = { c, suggested };
      const m = this.names || (await import("/static/app.js"));
      const row = (k, val) => `<dt>${esc(t(k))}</dt><dd>${val}</dd>`;
      box.innerHTML = `<h3>#${c.id} ${esc(c.matter_code)} ${esc(m.matterName(c.matter_code))}</h3>
        <dl>${row("c_status", esc(pick(c.status_label)) + (c.overdue ? ` <b class="chain bad">${esc(t("overdue"))}</b>` : "") + (c.escalated ? ` <b class="chain bad">${esc(t("escalated"))}</b>` : ""))}
        ${row("c_desc", esc(described(c)))}${c.address ? row("c_address", esc(c.address)) : ""}
        ${row("c_district", esc(m.districtName(c.district)))}${row("c_grid", esc(c.grid))}
        ${row("c_department", esc(m.departmentName(c.department)) || "—")}${row("c_due", esc(this.cell(c, "due_at")) || "—")}
        ${row("c_source", esc(this.cell(c, "source")))}${row("c_reports", esc(c.report_count))}
        ${c.pending_extension ? row("c_pending_ext", esc(c.pending_extension)) : ""}
        ${suggested.length ? row("c_suggested", suggested.map((d) => esc(pick([d.name, d.name_en]))).join(" → ")) : ""}</dl>
        ${texts("summary", s)}${texts("reply_draft", reply)}
        <div class="actions">${c.allowed_actions.filter((a) => a !== "comment" || true).map((a) => `<button data-action="${esc(a)}">${esc(actionName(a))}</button>`).join("")}</div>
        <section id="photos" class="photos"><h3>${esc(t("photos"))}</h3><div class="thumbs" id="thumbs"></div>
          <form id="photo-form" class="photo-form"><label><span>${esc(t("photo_stage"))}</span><select name="stage">${Object.entries(STAGES).map(([k, l]) =>
            `<option value="${k}" ${k === this.defaultStage(c) ? "selected" : ""}>${esc(pick(l))}</option>`).join("")}</select></label>
          <label><span>${esc(t("add_photo"))}</span><input type="file" name="file" id="photo-file" accept="image/jpeg,image/png,image/*"></label></form></section>
        <canvas id="minimap" aria-label="case location"></canvas>
        <h3>${esc(t("history"))} <span class="chain ${v.intact ? "ok" : "bad"}" id="chain">${esc(t(v.intact ? "chain_ok" : "chain_bad"))}</span></h3>
        <ol class="hist">${h.entries.map((e) => `<li><b>${esc(fmtTime(e.at, this.state.tz))}</b> ${esc(pick(e.action_label))} · ${esc(m.vocab("actor", e.actor))} (${esc(pick(e.role_label))}) ${e.from_label ? esc(pick(e.from_label)) + " → " : ""}${esc(pick(e.to_label))} ${e.reason ? "· " + esc(e.reason) : ""}</li>`).join("")}</ol>`;
      for (const b of box.querySelectorAll("[data-action]")) b.onclick = () => this.act(b.dataset.action);
      $("#photo-file").onchange = () => this.upload(id);
      this.loadPhotos(id);
      if (c.lon !== null) {
        const mm = new CityMap($("#minimap"), { interactive: false }); mm.setBase(this.basemap);
        mm.highlight = [c.lon, c.lat]; mm.centreOn(c.lon, c.lat, 12000); mm.visible.patrols = true;
      }
    } catch (e) { box.innerHTML = `<p class="error">${esc(e.message)}</p>`; }
  }

  // ---- photos: fetched with the bearer token as blobs (an <img src> cannot send it) ----
  defaultStage(c) { return c.status === "reported_back" ? "after" : ["dispatched", "disposing"].includes(c.status) ? "before" : c.status === "reported" ? "evidence" : "verify"; }
  dropPhotos() { for (const u of this.urls || []) URL.revokeObjectURL(u); this.urls = []; }
  async blobURL(url) { const r = await this.api(url, { raw: true }); const u = URL.createObjectURL(await r.blob()); (this.urls ||= []).push(u); return u; }
  async loadPhotos(id) {
    this.dropPhotos();
    const box = $("#thumbs"); if (!box) return;
    try {
      const list = (await this.api(`/api/v1/cases/${id}/attachments`)).attachments;
      if (this.selected !== id) return;
      if (!list.length) { box.innerHTML = `<p class="muted">${esc(t("no_photos"))}</p>`; return; }
      box.innerHTML = list.map((a) => `<figure class="thumb${a.flagged ? " flagged" : ""}" data-att="${esc(a.id)}">
        <button type="button" class="thumb-open" title="${esc(t("open_photo"))}"><img alt="${esc(pick(a.stage_label))}"></button>
        <figcaption><b>${esc(pick(a.stage_label))}</b> · ${esc(a.uploaded_by)}${a.taken_at ? " · " + esc(fmtTime(a.taken_at, this.state.tz)) : ""}
        ${a.distance_m !== null ? ` · ${esc(t("photo_distance", { m: a.distance_m }))}` : ""}
        ${a.flags.map((f) => `<span class="chain bad" title="${esc(f.code)}">${esc(pick([f.message_zh, f.message]))}</span>`).join("")}</figcaption></figure>`).join("");
      for (const a of list) {
        const fig = box.querySelector(`[data-att="${a.id}"]`);
        fig.querySelector(".thumb-open").onclick = () => this.showPhoto(a);
        this.blobURL(a.thumbnail_url).then((u) => { fig.querySelector("img").src = u; }).catch(() => {});
      }
    } catch (e) { box.innerHTML = `<p class="error">${esc(e.message)}</p>`; }
  }
  async showPhoto(a) {
    let dlg = $("#photo-dialog");
    if (!dlg) { dlg = document.createElement("dialog"); dlg.id = "photo-dialog"; dlg.className = "photo-dialog"; document.body.append(dlg); dlg.onclick = () => dlg.close(); }
    try {
      const u = await this.blobURL(a.url);
      dlg.innerHTML = `<img src="${esc(u)}" alt="${esc(pick(a.stage_label))}"><p>${esc(pick(a.stage_label))} · ${esc(a.width)}×${esc(a.height)} · ${esc(t("close_hint"))}</p>`;
      dlg.showModal();
    } catch (e) { this.toast(e.message, true); }
  }
  async upload(id) {
    const form = $("#photo-form"), fd = new FormData(form);
    if (!fd.get("file") || !fd.get("file").size) return;
    try {
      const a = await this.api(`/api/v1/cases/${id}/attachments`, { method: "POST", body: fd });
      this.toast(`#${id} ${t("photo_added")} · ${pick(a.stage_label)}` + (a.flagged ? " · " + a.flags.map((f) => pick([f.message_zh, f.message])).join("; ") : ""), a.flagged);
      form.reset(); if (this.selected === id) this.loadPhotos(id);
    } catch (e) { this.toast(e.message, true); }
  }

  // ---- triage queue (分拣队列): low-confidence free-text reports, a person picks the code ----
  async loadTriage() {
    let box = $("#triage");
    if (!box) { box = document.createElement("div"); box.id = "triage"; box.className = "triage"; $("#queues").after(box); }
    box.hidden = false;
    try {
      const r = await this.api("/api/v1/triage?limit=100");
      if (this.queue !== "triage") return;
      const { matterName } = this.names || (await import("/static/app.js"));
      const pct = (x) => x === null || x === undefined ? "—" : Math.round(x * 100) + "%";
      box.innerHTML = `<p class="muted">${esc(t("triage_head", { n: r.total, th: pct(r.threshold) }))}</p>` + (r.items.length ? r.items.map((it) => `
        <form class="triage-item" data-item="${esc(it.id)}"><p><b>#${esc(it.id)}</b> ${esc((this.names || {}).vocab ? this.names.vocab("source", String(it.source).split(":")[0]) : it.source)} · ${esc(fmtTime(new Date(it.created_at * 1000), this.state.tz))}
          ${it.address ? " · " + esc(it.address) : ""}</p><blockquote>${esc(it.text)}</blockquote>
          <div class="sugg">${it.top_k.map(([code, conf]) => `<button type="button" data-code="${esc(code)}">${esc(code)} ${esc(matterName(code))} <small>${pct(conf)}</small></button>`).join("")}</div>
          <label><span>${esc(t("matter_code"))}</span><input name="matter_code" list="matters" required value="${esc(it.suggested || "")}"></label>
          ${it.lon === null || it.lat === null ? `<label><span>${esc(t("lon"))}</span><input name="lon" type="number" step="any" required></label><label><span>${esc(t("lat"))}</span><input name="lat" type="number" step="any" required></label>` : ""}
          <button type="submit" class="primary">${esc(t("triage_ok"))}</button></form>`).join("") : `<p class="muted">${esc(t("triage_empty"))}</p>`);
      for (const f of box.querySelectorAll("form.triage-item")) {
        for (const b of f.querySelectorAll("[data-code]")) b.onclick = () => { f.matter_code.value = b.dataset.code; f.matter_code.focus(); };
        f.onsubmit = async (e) => {
          e.preventDefault();
          try {
            const c = await this.api(`/api/v1/triage/${f.dataset.item}`, { method: "POST", body: {
              matter_code: f.matter_code.value.trim(), ...(f.lon ? { lon: Number(f.lon.value), lat: Number(f.lat.value) } : {}) } });
            this.toast(`#${c.id} · ${t("triage_done")}`); this.loadTriage(); this.open(c.id); this.refreshDashboard();
          } catch (err) { this.toast(err.message, true); }
        };
      }
    } catch (e) { box.innerHTML = `<p class="error">${esc(e.message)}</p>`; }
  }

  dialog(title, fields, onOk) {
    const dlg = $("#act-dialog"), form = $("#act-form"), S = this.state;
    const input = (f) => {
      const name = f.replace("!", ""), req = f.endsWith("!") ? "required" : "";
      if (name === "department") {
        const sug = (this.current?.suggested || []).map((d) => d.code), all = [...sug, ...S.departments.map((d) => d.code).filter((c) => !sug.includes(c))];
        return `<label><span>${esc(t("department"))}</span><select name="department" ${req}>${all.map((c) => `<option value="${esc(c)}">${esc(pick([S.departments.find((d) => d.code === c)?.name || c, S.departments.find((d) => d.code === c)?.name_en || c]))}</option>`).join("")}</select></label>`;
      }
      if (name === "passed") return `<label class="chk"><span>${esc(t("passed"))}</span><input type="checkbox" name="passed" checked></label>`;
      if (name === "unit") return `<label><span>${esc(t("unit"))}</span><select name="unit"><option value="working_days">工作日 working days</option><option value="working_hours">工作小时 working hours</option><option value="calendar_hours">自然小时 calendar hours</option></select></label>`;
      const type = ["target", "amount", "lon", "lat"].includes(name) ? `type="number" step="any"` : "";
      const list = name === "matter_code" ? `list="matters"` : "";
      return `<label><span>${esc(t(name))}</span><input name="${name}" ${type} ${list} ${req}></label>`;
    };
    form.innerHTML = `<h2>${esc(title)}</h2>${fields.map(input).join("")}<p class="error" id="act-error" role="alert"></p>
      <div class="row"><button type="submit" class="primary" id="act-submit">${esc(t("ok"))}</button><button type="button" id="act-cancel">${esc(t("cancel"))}</button></div>`;
    $("#act-cancel").onclick = () => dlg.close();
    form.onsubmit = async (e) => {
      e.preventDefault(); const fd = new FormData(form), body = {};
      for (const f of fields) { const n = f.replace("!", ""); if (n === "passed") body.passed = fd.get("passed") === "on"; else { const v = String(fd.get(n) ?? "").trim(); if (v) body[n] = ["target", "amount", "lon", "lat"].includes(n) ? Number(v) : v; } }
      try { await onOk(body); dlg.close(); } catch (err) { $("#act-error").textContent = err.message; }
    };
    dlg.showModal(); const first = form.querySelector("input,select"); if (first) first.focus();
  }
  act(action) {
    const id = this.selected, fields = FIELDS[action] || ["reason"];
    const go = async (body) => {
      await this.api(`/api/v1/cases/${id}/actions/${action}`, { method: "POST", body });
      this.toast(`#${id} ${actionName(action)} · ${t("done")}`); this.load(); this.open(id); this.refreshDashboard();
    };
    if (!fields.length) go({}).catch((e) => this.toast(e.message, true)); else this.dialog(actionName(action) + ` · #${id}`, fields, go);
  }
  newCase() {
    this.dialog(t("new_case"), ["matter_code!", "description!", "lon!", "lat!"], async (body) => {
      const c = await this.api("/api/v1/cases", { method: "POST", body: { ...body, source: "inspector" } });
      this.toast(`#${c.id} · ${t("done")}`); this.load(); this.open(c.id); this.refreshDashboard();
    });
  }
}
