// The city map on a <canvas>: our own equirectangular projection, no tiles, no network.
// Static layers are Path2D objects built once in world units and drawn through a transform;
// unit grids are one raster (a pixel a grid) scaled by drawImage; many live objects are
// written straight into an ImageData (typed arrays), so 100,000 of them cost one loop a frame.
import { t, pick } from "/static/i18n.js";

export const STATUS_COLOURS = {
  reported: "#b39dff", registered: "#4fc3f7", dispatched: "#ffd54f", disposing: "#ff9f43",
  reported_back: "#3ddc97", suspended: "#9aa5b1", closed: "#607d8b", rejected: "#455a64", merged: "#455a64",
};
export const OVERDUE_COLOUR = "#ff4d4f";
export const WATER_COLOUR = "#2ec7ff";
// Every layer has colours of its own, so a legend swatch names one thing: gauges (0 no
// reading, 1 below yellow, 2 at yellow, 3 at red) and detectors (0, free, slow, jammed) by
// level, CAP warnings in their own saturated colours (a red warning is pure red, drawn solid).
export const GAUGE_COLOURS = ["#6b7b90", "#26c6da", "#e6ee9c", "#d81b60"];
export const DETECTOR_COLOURS = ["#55606e", "#9be15d", "#ffb74d", "#a1001a"];
export const LEVEL_COLOURS = GAUGE_COLOURS;  // the point panel's depth colour
export const WARNING_COLOURS = { red: "#ff0000", orange: "#ff7f00", yellow: "#ffe600", blue: "#1e5bff" };
const SENSOR_COLOURS = { gauges: GAUGE_COLOURS, detectors: DETECTOR_COLOURS };
// Labels on the map scale with the page's root font size (13 px on a 1366 screen, up to 30 px on 4K).
export const labelPx = () => Math.round(parseFloat(getComputedStyle(document.documentElement).fontSize) || 13);
// A diagonal hatch in a warning's colour: a warned district stays recognisably red (orange …)
// over the dark map instead of a dim tint, and never turns into a solid block.
export function hatch(colour, size = 12) {
  const cv = document.createElement("canvas"); cv.width = cv.height = size; const g = cv.getContext("2d");
  g.strokeStyle = colour; g.lineWidth = 2.5; g.beginPath();
  for (const o of [-size, 0, size]) { g.moveTo(o, size); g.lineTo(o + size, 0); }
  g.stroke(); return cv;
}

export function b64(s) {
  if (Uint8Array.fromBase64) return Uint8Array.fromBase64(s).buffer;  // native where the browser has it
  const bin = atob(s), out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}

// MapLibre GL needs WebGL 2 on a graphics card. Where the browser has none, or only a
// software one (it then reports a "major performance caveat": SwiftShader, llvmpipe, as on
// old government PCs and headless servers), our 2D-canvas renderer is faster and is used.
// `?map=webgl` or `?map=canvas` (or localStorage cityops.map) chooses anyway.
export function webglAvailable() {
  const forced = new URLSearchParams(location.search).get("map") || localStorage.getItem("cityops.map");
  if (forced === "canvas") return false;
  try {
    const gl = document.createElement("canvas").getContext("webgl2", { failIfMajorPerformanceCaveat: forced !== "webgl" });
    if (!gl || forced === "webgl") return !!gl;
    const info = gl.getExtension("WEBGL_debug_renderer_info");
    const renderer = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
    gl.getExtension("WEBGL_lose_context")?.loseContext();
    return !/swiftshader|llvmpipe|softpipe|software|basic render/i.test(renderer);
  } catch { return false; }
}

// The unit-grid raster (a pixel a grid, coloured by area class, patrols told apart by a
// slight shade) and the patrol boundaries (cell edges where the patrol changes, in lattice
// units: edge(x0, y0, x1, y1)), shared by both renderers.
export function latticeRasters(L) {
  return { district: new Uint8Array(b64(L.district)), area: new Uint8Array(b64(L.area)), patrol: new Int16Array(b64(L.patrol)) };
}
export function gridCanvas(L, area, patrol) {
  const img = new ImageData(L.cols, L.rows), px = new Uint32Array(img.data.buffer);
  const alpha = [0, 70, 46, 30];
  for (let i = 0; i < px.length; i++) {
    const a = area[i]; if (!a) continue;
    const shade = patrol[i] >= 0 ? (patrol[i] * 37) % 5 : 0;
    const r = 20 + shade * 6, g = 110 + shade * 12, b = 200 + shade * 8;
    px[i] = (alpha[a] << 24) | (b << 16) | (g << 8) | r;
  }
  const cv = document.createElement("canvas"); cv.width = L.cols; cv.height = L.rows;
  cv.getContext("2d").putImageData(img, 0, 0); return cv;
}
export function patrolEdges(L, patrol, edge) {
  // Runs of edges along a row or a column join into one segment (a tenth of the segments).
  const C = L.cols, R = L.rows, differs = (p, q) => p !== q && (p >= 0 || q >= 0);
  for (let r = 0; r + 1 < R; r++) {  // horizontal edges between row r and r + 1
    let start = -1;
    for (let c = 0; c <= C; c++) {
      const on = c < C && differs(patrol[r * C + c], patrol[(r + 1) * C + c]);
      if (on && start < 0) start = c; else if (!on && start >= 0) { edge(start, r + 1, c, r + 1); start = -1; }
    }
  }
  for (let c = 0; c + 1 < C; c++) {  // vertical edges between column c and c + 1
    let start = -1;
    for (let r = 0; r <= R; r++) {
      const on = r < R && differs(patrol[r * C + c], patrol[r * C + c + 1]);
      if (on && start < 0) start = r; else if (!on && start >= 0) { edge(c + 1, start, c + 1, r); start = -1; }
    }
  }
}
// The lattice's extent with a margin: the view a map opens on.
export function homeBounds(bm) {
  const L = bm.lattice; if (!L.grids) return bm.bounds;
  const lb = [L.origin_lon, L.origin_lat - L.rows * L.deg_lat, L.origin_lon + L.cols * L.deg_lon, L.origin_lat];
  const m = 0.35 * (lb[2] - lb[0]);
  return [lb[0] - m, lb[1] - m / 2, lb[2] + m, lb[3] + m / 2];
}

// What both renderers share: layer switches, the data they hold, hit testing in screen
// pixels (through each renderer's own xy(lon, lat)) and the pan-frame measure.
export class MapBase {
  constructor() {
    this.visible = { districts: true, grids: true, patrols: true, waterlogging: true, roads: true, cases: true, overdue: true, stress: true };
    this.cases = null; this.extra = new Map(); this.sensors = new Map(); this.areas = new Map(); this.filter = () => true;
  }
  // Cases: parallel columns from /api/v1/dashboard/cases (or a replay snapshot).
  setCases(cols) {
    const n = cols.id.length;
    this.cases = { ...cols, n, lonA: Float64Array.from(cols.lon), latA: Float64Array.from(cols.lat), statusA: Uint8Array.from(cols.status), overdueA: Uint8Array.from(cols.overdue) };
    this.casesChanged(); this.draw();
  }
  casesChanged() {}
  nearest(lon, lat, n, px, py, radius, keep = () => true) {
    let best = -1, bd = radius * radius;
    for (let i = 0; i < n; i++) {
      if (!keep(i)) continue;
      const [x, y] = this.xy(lon[i], lat[i]), dx = x - px, dy = y - py, d = dx * dx + dy * dy;
      if (d < bd) { bd = d; best = i; }
    }
    return best;
  }
  // The case under a click (index into this.cases), or -1.
  hit(px, py) {
    const C = this.cases; if (!C || !this.visible.cases && !this.visible.overdue) return -1;
    return this.nearest(C.lonA, C.latA, C.n, px, py, 9 * this.dpr, (i) => this.filter(C, i));
  }
  // The waterlogging point under a click (index into the base map's list), or -1.
  hitWater(px, py) {
    if (!this.water || !this.visible.waterlogging && !this.visible.gauges) return -1;
    return this.nearest(this.water.lon, this.water.lat, this.water.lon.length, px, py, 8 * this.dpr);
  }
  // Pixels of the drawn map that are not transparent (tests: the map is painted).
  painted() {
    const src = this.surface(), c = document.createElement("canvas"); c.width = src.width; c.height = src.height;
    const g = c.getContext("2d"); g.drawImage(src, 0, 0); const d = g.getImageData(0, 0, c.width, c.height).data;
    let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n;
  }
}

export class CityMap extends MapBase {
  constructor(canvas, { interactive = true } = {}) {
    super(); this.kind = "canvas";
    this.canvas = canvas; this.ctx = canvas.getContext("2d");
    this.dpr = Math.min(window.devicePixelRatio || 1, 2);
    this.s = 1; this.tx = 0; this.ty = 0; this.kx = 1;
    this.base = null; this.cache = document.createElement("canvas"); this.cacheKey = "";
    this.points = document.createElement("canvas"); this.pixels = null;
    this.pending = false; this.highlight = null;
    new ResizeObserver(() => this.resize()).observe(canvas);
    this.resize();
    if (interactive) this.bind();
  }

  resize() {
    const w = Math.max(1, Math.round(this.canvas.clientWidth * this.dpr)), h = Math.max(1, Math.round(this.canvas.clientHeight * this.dpr));
    if (w === this.canvas.width && h === this.canvas.height) return;
    const cx = this.canvas.width / 2, cy = this.canvas.height / 2;
    this.canvas.width = w; this.canvas.height = h; this.cache.width = w; this.cache.height = h;
    this.points.width = w; this.points.height = h; this.pixels = null;
    this.tx += w / 2 - cx; this.ty += h / 2 - cy; this.cacheKey = "";
    if (this.bounds && !this.userMoved) this.fit(this.bounds); else this.draw();
  }

  // World units: X = lon·cos(lat0), Y = −lat. Screen = world·s + t (device pixels).
  X(lon) { return lon * this.kx; }
  Y(lat) { return -lat; }
  sx(lon) { return lon * this.kx * this.s + this.tx; }
  sy(lat) { return -lat * this.s + this.ty; }
  lonAt(px) { return (px - this.tx) / this.s / this.kx; }
  latAt(py) { return -(py - this.ty) / this.s; }

  fit(b, pad = 0.04) {
    this.bounds = b;
    const [x0, y0, x1, y1] = b; this.kx = Math.cos(((y0 + y1) / 2) * Math.PI / 180);
    const w = this.canvas.width, h = this.canvas.height;
    const dx = (x1 - x0) * this.kx, dy = y1 - y0;
    this.s = Math.min(w / dx, h / dy) * (1 - 2 * pad);
    this.tx = w / 2 - this.X((x0 + x1) / 2) * this.s; this.ty = h / 2 - this.Y((y0 + y1) / 2) * this.s;
    this.cacheKey = ""; this.draw();
  }
  centreOn(lon, lat, s) { if (s) this.s = s; this.tx = this.canvas.width / 2 - this.X(lon) * this.s; this.ty = this.canvas.height / 2 - this.Y(lat) * this.s; this.cacheKey = ""; this.draw(); }

  setBase(bm) {
    this.bm = bm; const kx = Math.cos(((bm.bounds[1] + bm.bounds[3]) / 2) * Math.PI / 180); this.kx = kx;
    const districts = new Path2D();
    this.labels = [];
    for (const d of bm.districts) {
      for (const r of d.rings) { districts.moveTo(r[0] * kx, -r[1]); for (let i = 2; i < r.length; i += 2) districts.lineTo(r[i] * kx, -r[i + 1]); districts.closePath(); }
      this.labels.push(d);
    }
    this.districtPath = districts;
    const roads = new Path2D();
    for (const r of bm.roads || []) { roads.moveTo(r[0] * kx, -r[1]); for (let i = 2; i < r.length; i += 2) roads.lineTo(r[i] * kx, -r[i + 1]); }
    this.roadPath = roads;
    const L = bm.lattice; this.lattice = L;
    const { district: dist, area, patrol } = latticeRasters(L);
    this.patrolRaster = patrol; this.districtRaster = dist;
    this.gridImage = gridCanvas(L, area, patrol);
    const edges = new Path2D();
    patrolEdges(L, patrol, (x0, y0, x1, y1) => { edges.moveTo(x0, y0); edges.lineTo(x1, y1); });
    this.patrolPath = edges;
    const w = bm.waterlogging; this.water = { lon: Float64Array.from(w.lon), lat: Float64Array.from(w.lat), name: w.name, code: w.code || [] };
    this.fit(homeBounds(bm));
  }

  // Many objects (sensors, vehicles, the 100k stress test): typed arrays, one colour.
  setPoints(name, lon, lat, colour) {
    if (!lon) { this.extra.delete(name); this.draw(); return; }
    const rgb = parseInt(colour.slice(1), 16);
    this.extra.set(name, { lon, lat, n: lon.length, abgr: 0xff000000 | ((rgb & 0xff) << 16) | (rgb & 0xff00) | (rgb >> 16) });
    this.draw();
  }

  // Sensor layers (hundreds of points): columns from /api/v1/dashboard/{gauges,detectors}, coloured by level.
  setSensors(name, cols) {
    this.sensors.set(name, { lon: Float64Array.from(cols.lon), lat: Float64Array.from(cols.lat), level: Uint8Array.from(cols.level), n: cols.lon.length });
    this.draw();
  }
  // Warnings: each warned district once (cols.areas, at its most severe level) as a Path2D in
  // world units, hatched in its level's colour; a warning for one point is a marker there.
  setAreas(name, cols) {
    const kx = this.kx, list = [];
    for (const a of cols.areas || []) {
      const p = new Path2D();
      for (const r of a.rings) { p.moveTo(r[0] * kx, -r[1]); for (let i = 2; i < r.length; i += 2) p.lineTo(r[i] * kx, -r[i + 1]); p.closePath(); }
      const colour = WARNING_COLOURS[a.level] || WARNING_COLOURS.red;
      list.push({ path: p, colour, pattern: this.ctx.createPattern(hatch(colour, 12 * this.dpr), "repeat") });
    }
    const marks = [];
    (cols.lon || []).forEach((lon, k) => { if (lon !== null) marks.push({ lon, lat: cols.lat[k], colour: WARNING_COLOURS[cols.level[k]] || WARNING_COLOURS.red }); });
    this.areas.set(name, { list, marks }); this.draw();
  }

  draw() { if (this.pending) return; this.pending = true; requestAnimationFrame((ts) => { this.pending = false; this.render(ts); }); }

  renderBase() {
    const c = this.cache.getContext("2d"), w = this.cache.width, h = this.cache.height, s = this.s, dpr = this.dpr;
    c.setTransform(1, 0, 0, 1, 0, 0); c.clearRect(0, 0, w, h);
    if (!this.bm) return;
    const world = () => c.setTransform(s, 0, 0, s, this.tx, this.ty);
    if (this.visible.districts) { world(); c.fillStyle = "rgba(16,46,88,0.55)"; c.fill(this.districtPath, "evenodd"); }
    const L = this.lattice;
    const lat = () => c.setTransform(L.deg_lon * this.kx * s, 0, 0, L.deg_lat * s, L.origin_lon * this.kx * s + this.tx, -L.origin_lat * s + this.ty);
    const cell = L.deg_lat * s;
    if (this.visible.grids) {
      lat(); c.imageSmoothingEnabled = false; c.drawImage(this.gridImage, 0, 0);
      if (cell >= 7) this.gridLines(c, cell);
    }
    if (this.visible.patrols) { lat(); c.lineWidth = Math.min(0.25, 1.1 * dpr / cell); c.strokeStyle = "rgba(120,220,255,0.55)"; c.stroke(this.patrolPath); }
    if (this.visible.roads && this.bm.roads.length) { world(); c.lineWidth = 1.2 * dpr / s; c.strokeStyle = "rgba(150,170,190,0.7)"; c.stroke(this.roadPath); }
    if (this.visible.districts) {
      world(); c.lineWidth = 1.6 * dpr / s; c.strokeStyle = "rgba(63,182,255,0.95)"; c.shadowColor = "#3fb6ff"; c.shadowBlur = 6 * dpr;
      c.stroke(this.districtPath); c.shadowBlur = 0;
    }
    c.setTransform(1, 0, 0, 1, 0, 0);
    if (this.visible.waterlogging) {
      c.fillStyle = WATER_COLOUR; c.beginPath(); const r = Math.max(1.5, Math.min(4, s / 2000)) * dpr;
      for (let i = 0; i < this.water.lon.length; i++) { const x = this.sx(this.water.lon[i]), y = this.sy(this.water.lat[i]); c.moveTo(x + r, y); c.arc(x, y, r, 0, 6.2832); }
      c.fill();
    }
    if (this.visible.districts) {
      this.labelFont = labelPx();  // CSS px (tests read it)
      c.font = `${Math.round(this.labelFont * dpr)}px ${getComputedStyle(document.body).fontFamily}`; c.textAlign = "center"; c.textBaseline = "middle";
      for (const d of this.labels) {
        const x = this.sx(d.label[0]), y = this.sy(d.label[1]); const text = pick([d.name, d.name_en]);
        c.lineWidth = 3 * dpr; c.strokeStyle = "rgba(5,11,24,0.9)"; c.strokeText(text, x, y); c.fillStyle = "#dcecff"; c.fillText(text, x, y);
      }
    }
  }

  gridLines(c, cell) {
    const L = this.lattice, w = this.cache.width, h = this.cache.height;
    const c0 = Math.max(0, Math.floor((this.lonAt(0) - L.origin_lon) / L.deg_lon)), c1 = Math.min(L.cols, Math.ceil((this.lonAt(w) - L.origin_lon) / L.deg_lon));
    const r0 = Math.max(0, Math.floor((L.origin_lat - this.latAt(0)) / L.deg_lat)), r1 = Math.min(L.rows, Math.ceil((L.origin_lat - this.latAt(h)) / L.deg_lat));
    const p = new Path2D();
    for (let col = c0; col <= c1; col++) { p.moveTo(col, r0); p.lineTo(col, r1); }
    for (let row = r0; row <= r1; row++) { p.moveTo(c0, row); p.lineTo(c1, row); }
    c.lineWidth = 0.6 * this.dpr / cell; c.strokeStyle = "rgba(63,182,255,0.25)"; c.stroke(p);
  }

  render(ts) {
    const t0 = performance.now();
    this.ui = labelPx() / 13;  // markers grow with the screen like the labels (1 on a laptop, ~2.3 on 4K)
    const ctx = this.ctx, w = this.canvas.width, h = this.canvas.height;
    const key = `${this.s}|${this.tx}|${this.ty}|${w}|${h}|${JSON.stringify(this.visible)}|${document.documentElement.lang}`;
    ctx.setTransform(1, 0, 0, 1, 0, 0); ctx.clearRect(0, 0, w, h);
    if (key !== this.cacheKey) {
      // While panning only the offset changes: shift the cached base and redraw it once the
      // pan rests, so a pan frame never repaints 17,000 patrol edges.
      const sameScale = this.cacheKey && this.cacheS === this.s && this.panning;
      if (sameScale) { ctx.drawImage(this.cache, this.tx - this.cacheTx, this.ty - this.cacheTy); clearTimeout(this.rebase); this.rebase = setTimeout(() => { this.panning = false; this.cacheKey = ""; this.draw(); }, 150); }
      else { this.renderBase(); this.cacheKey = key; this.cacheS = this.s; this.cacheTx = this.tx; this.cacheTy = this.ty; ctx.drawImage(this.cache, 0, 0); }
    } else ctx.drawImage(this.cache, 0, 0);
    this.renderAreas(ctx);
    this.renderPixels(ctx, w, h);
    this.renderSensors(ctx);
    this.renderCases(ctx);
    this.renderWarnedPoints(ctx);
    if (this.highlight) {
      const x = this.sx(this.highlight[0]), y = this.sy(this.highlight[1]), d = this.dpr;
      ctx.strokeStyle = "#ffd54f"; ctx.fillStyle = "#ffd54f"; ctx.lineWidth = 2.5 * d;
      ctx.beginPath(); ctx.arc(x, y, 11 * d, 0, 6.2832); ctx.stroke(); ctx.beginPath(); ctx.arc(x, y, 4 * d, 0, 6.2832); ctx.fill();
    }
    this.lastRenderMs = performance.now() - t0;
  }

  renderPixels(ctx, w, h) {
    const layers = [...this.extra.values()].filter(() => this.visible.stress);
    if (!layers.length) return;
    if (!this.pixels) { this.pixels = this.points.getContext("2d").createImageData(w, h); this.pixel32 = new Uint32Array(this.pixels.data.buffer); }
    const buf = this.pixel32; buf.fill(0);
    const a = this.kx * this.s, b = this.tx, d = -this.s, e = this.ty;
    for (const L of layers) {
      const lon = L.lon, lat = L.lat, col = L.abgr;
      for (let i = 0; i < L.n; i++) {
        const x = (lon[i] * a + b) | 0, y = (lat[i] * d + e) | 0;
        if (x < 0 || y < 0 || x >= w - 1 || y >= h - 1) continue;
        const k = y * w + x; buf[k] = col; buf[k + 1] = col; buf[k + w] = col; buf[k + w + 1] = col;
      }
    }
    this.points.getContext("2d").putImageData(this.pixels, 0, 0);
    ctx.drawImage(this.points, 0, 0);
  }

  renderAreas(ctx) {
    const d = this.dpr;
    for (const [name, { list }] of this.areas) {
      if (!this.visible[name]) continue;
      for (const a of list) {
        ctx.setTransform(this.s, 0, 0, this.s, this.tx, this.ty);
        ctx.save(); ctx.clip(a.path, "evenodd"); ctx.setTransform(1, 0, 0, 1, 0, 0);
        ctx.globalAlpha = 0.12; ctx.fillStyle = a.colour; ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
        ctx.globalAlpha = 0.85; ctx.fillStyle = a.pattern; ctx.fillRect(0, 0, this.canvas.width, this.canvas.height); ctx.restore();
        ctx.globalAlpha = 1; ctx.setTransform(this.s, 0, 0, this.s, this.tx, this.ty); ctx.lineWidth = 3 * d / this.s; ctx.strokeStyle = a.colour; ctx.stroke(a.path);
      }
      ctx.setTransform(1, 0, 0, 1, 0, 0);
    }
  }

  // Warned points: a solid triangle in the level's colour with a white rim, above everything.
  renderWarnedPoints(ctx) {
    const d = this.dpr * this.ui, r = 9 * d;
    for (const [name, { marks }] of this.areas) {
      if (!this.visible[name]) continue;
      for (const m of marks) {
        const x = this.sx(m.lon), y = this.sy(m.lat);
        ctx.beginPath(); ctx.moveTo(x, y - r); ctx.lineTo(x + r * 0.95, y + r * 0.7); ctx.lineTo(x - r * 0.95, y + r * 0.7); ctx.closePath();
        ctx.fillStyle = m.colour; ctx.fill(); ctx.lineWidth = 1.5 * d; ctx.strokeStyle = "#ffffff"; ctx.stroke();
      }
    }
  }

  renderSensors(ctx) {
    const d = this.dpr * this.ui, r = Math.max(2.5, Math.min(5, this.s / 1800)) * d;
    for (const [name, S] of this.sensors) {
      if (!this.visible[name]) continue;
      const colours = SENSOR_COLOURS[name] || GAUGE_COLOURS, paths = colours.map(() => new Path2D()), sq = name === "detectors";
      for (let i = 0; i < S.n; i++) {
        const x = this.sx(S.lon[i]), y = this.sy(S.lat[i]); const p = paths[S.level[i]] || paths[0];
        if (sq) p.rect(x - r, y - r, 2 * r, 2 * r); else { p.moveTo(x + r, y); p.arc(x, y, r, 0, 6.2832); }
      }
      ctx.lineWidth = 1 * d; ctx.strokeStyle = "rgba(5,11,24,0.9)";
      paths.forEach((p, k) => { ctx.fillStyle = colours[k]; ctx.fill(p); ctx.stroke(p); });
    }
  }

  renderCases(ctx) {
    const C = this.cases; if (!C || !C.n) return;
    const dpr = this.dpr * this.ui, r = Math.max(2.5, Math.min(6, this.s / 1500)) * dpr;
    const byColour = new Map(); const over = new Path2D();
    for (let i = 0; i < C.n; i++) {
      if (!this.filter(C, i)) continue;
      const x = this.sx(C.lonA[i]), y = this.sy(C.latA[i]);
      if (x < -10 || y < -10 || x > this.canvas.width + 10 || y > this.canvas.height + 10) continue;
      if (C.overdueA[i]) { if (this.visible.overdue) { over.moveTo(x + r * 1.3, y); over.arc(x, y, r * 1.3, 0, 6.2832); } continue; }
      if (!this.visible.cases) continue;
      const colour = STATUS_COLOURS[C.statuses[C.statusA[i]]] || "#fff";
      let p = byColour.get(colour); if (!p) byColour.set(colour, (p = new Path2D()));
      p.moveTo(x + r, y); p.arc(x, y, r, 0, 6.2832);
    }
    ctx.lineWidth = 1 * dpr; ctx.strokeStyle = "rgba(5,11,24,0.9)";
    for (const [colour, p] of byColour) { ctx.fillStyle = colour; ctx.fill(p); ctx.stroke(p); }
    ctx.fillStyle = OVERDUE_COLOUR; ctx.shadowColor = OVERDUE_COLOUR; ctx.shadowBlur = 10 * dpr; ctx.fill(over); ctx.shadowBlur = 0;
    ctx.strokeStyle = "#fff"; ctx.stroke(over);
  }

  xy(lon, lat) { return [this.sx(lon), this.sy(lat)]; }
  surface() { return this.canvas; }
  // One pan frame drawn now (the pan measure): its drawing time in ms.
  frame(dx, dy) {
    this.panning = true; this.tx += dx * this.dpr; this.ty += dy * this.dpr; this.userMoved = true;
    const t0 = performance.now(); this.render(t0); return performance.now() - t0;
  }
  home() { this.userMoved = false; this.fit(this.bounds); }
  whenDrawn() { return new Promise((resolve) => requestAnimationFrame(() => resolve())); }
  relabel() { this.cacheKey = ""; this.draw(); }

  panBy(dx, dy) { this.panning = true; this.tx += dx * this.dpr; this.ty += dy * this.dpr; this.userMoved = true; this.draw(); }
  zoomAt(px, py, f) {
    const s = Math.max(200, Math.min(this.s * f, 2e6)); f = s / this.s;
    this.tx = px - (px - this.tx) * f; this.ty = py - (py - this.ty) * f; this.s = s; this.userMoved = true; this.draw();
  }

  bind() {
    const cv = this.canvas; let last = null;
    cv.addEventListener("pointerdown", (e) => { last = [e.clientX, e.clientY]; cv.setPointerCapture(e.pointerId); });
    cv.addEventListener("pointermove", (e) => {
      if (!last) return; const dx = e.clientX - last[0], dy = e.clientY - last[1];
      last = [e.clientX, e.clientY]; this.panBy(dx, dy);
    });
    const up = () => { last = null; };
    cv.addEventListener("pointerup", up); cv.addEventListener("pointercancel", up);
    cv.addEventListener("wheel", (e) => { e.preventDefault(); const r = cv.getBoundingClientRect(); this.zoomAt((e.clientX - r.left) * this.dpr, (e.clientY - r.top) * this.dpr, Math.exp(-e.deltaY * 0.0015)); }, { passive: false });
    cv.addEventListener("keydown", (e) => {
      const step = 60, c = [cv.width / 2, cv.height / 2];
      const k = { ArrowLeft: () => this.panBy(step, 0), ArrowRight: () => this.panBy(-step, 0), ArrowUp: () => this.panBy(0, step), ArrowDown: () => this.panBy(0, -step),
        "+": () => this.zoomAt(...c, 1.4), "=": () => this.zoomAt(...c, 1.4), "-": () => this.zoomAt(...c, 1 / 1.4), "0": () => this.home() }[e.key];
      if (k) { e.preventDefault(); k(); }
    });
  }
}
