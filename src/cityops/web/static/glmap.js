// The city map in WebGL with MapLibre GL (from npm, bundled in /static/vendor/ by
// tools/build_web.py). Every source is the city pack's own data as GeoJSON or an image made
// in the page: no tile server, no glyphs or sprites from anywhere (district names are HTML
// markers, so there is no symbol layer), and nothing leaves this server.
// The same interface as the 2D-canvas CityMap (map.js), which stays the fallback.
import * as maplibregl from "/static/vendor/maplibre-gl.mjs";
import { pick } from "/static/i18n.js";
import { MapBase, STATUS_COLOURS, OVERDUE_COLOUR, GAUGE_COLOURS, DETECTOR_COLOURS, WARNING_COLOURS, WATER_COLOUR, hatch, labelPx, latticeRasters, gridCanvas, patrolEdges, homeBounds } from "/static/map.js";

// MapLibre's own styles (markers, canvas container), needed only on this path.
if (!document.querySelector("link[href='/static/vendor/maplibre-gl.css']")) {
  const css = document.createElement("link"); css.rel = "stylesheet"; css.href = "/static/vendor/maplibre-gl.css"; document.head.append(css);
}

const EMPTY = { type: "FeatureCollection", features: [] };
const fc = (features) => ({ type: "FeatureCollection", features });
const point = (lon, lat, properties) => ({ type: "Feature", geometry: { type: "Point", coordinates: [lon, lat] }, properties });
const pairs = (flat) => { const out = []; for (let i = 0; i < flat.length; i += 2) out.push([flat[i], flat[i + 1]]); return out; };
const byLevel = (colours) => ["match", ["get", "level"], ...colours.flatMap((c, k) => [k, c]), colours[0]];
const STATUS_MATCH = ["match", ["get", "s"], ...Object.entries(STATUS_COLOURS).flat(), "#ffffff"];
// Sizes grow with the screen like the labels (× 1 on a 1366 laptop, × ~2.3 on a 4K wall).
const zoomed = (lo, hi) => { const k = labelPx() / 13; return ["interpolate", ["linear"], ["zoom"], 9, lo * k, 15, hi * k]; };

export class GLMap extends MapBase {
  constructor(container) {
    super(); this.kind = "webgl"; this.dpr = 1;  // hit testing in CSS pixels, as map.project gives
    this.container = container; this.layerIds = {}; this.labels = [];
    this.map = new maplibregl.Map({
      container, style: { version: 8, sources: {}, layers: [] }, attributionControl: false,
      renderWorldCopies: false, dragRotate: false, pitchWithRotate: false, maxPitch: 0, fadeDuration: 0,
      localIdeographFontFamily: "'Noto Sans CJK SC', 'WenQuanYi Micro Hei', 'Microsoft YaHei', sans-serif",
      canvasContextAttributes: { antialias: true },
    });
    this.map.touchZoomRotate.disableRotation(); this.map.keyboard.disableRotation();
    this.canvas = this.map.getCanvas();
    this.canvas.setAttribute("aria-label", "city map: arrow keys pan, + and - zoom, 0 the whole city");
    this.canvas.addEventListener("keydown", (e) => { if (e.key === "0") { e.preventDefault(); this.home(); } });
    this.loaded = new Promise((resolve) => this.map.once("load", resolve));
  }

  xy(lon, lat) { const p = this.map.project([lon, lat]); return [p.x, p.y]; }
  surface() { this.map.redraw(); return this.canvas; }  // read in the same task, before the buffer is cleared
  resize() { this.map.resize(); }
  fit(b) { this.bounds = b; this.map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { animate: false, padding: 8 }); }
  home() { this.fit(this.bounds); }
  panBy(dx, dy) { this.map.panBy([-dx, -dy], { animate: false }); }
  frame(dx, dy) { this.panBy(dx, dy); const t0 = performance.now(); this.map.redraw(); return performance.now() - t0; }
  whenDrawn() { return new Promise((resolve) => this.map.once("idle", resolve)); }

  // A source and its layers, registered under a switch id (the layer boxes).
  add(id, source, layers) {
    this.map.addSource(id, source);
    for (const l of layers) this.map.addLayer({ source: id, ...l });
    this.layerIds[id] = [...(this.layerIds[id] || []), ...layers.map((l) => l.id)];
  }
  set(id, data, make) { const s = this.map.getSource(id); if (s) s.setData(data); else make(); this.draw(); }

  async setBase(bm) {
    await this.loaded;
    const L = bm.lattice, { area, patrol } = latticeRasters(L);
    const districts = fc(bm.districts.flatMap((d) => d.rings.map((r) => ({ type: "Feature", properties: { code: d.code }, geometry: { type: "Polygon", coordinates: [pairs(r)] } }))));
    this.add("districts", { type: "geojson", data: districts }, [
      { id: "districts-fill", type: "fill", paint: { "fill-color": "rgba(16,46,88,0.55)" } }]);
    const lon = (c) => L.origin_lon + c * L.deg_lon, lat = (r) => L.origin_lat - r * L.deg_lat;
    if (L.grids) {
      this.add("grids", { type: "image", url: gridCanvas(L, area, patrol).toDataURL(), coordinates: [[lon(0), lat(0)], [lon(L.cols), lat(0)], [lon(L.cols), lat(L.rows)], [lon(0), lat(L.rows)]] },
        [{ id: "grids", type: "raster", paint: { "raster-resampling": "nearest", "raster-fade-duration": 0 } }]);
      const lines = []; patrolEdges(L, patrol, (x0, y0, x1, y1) => lines.push([[lon(x0), lat(y0)], [lon(x1), lat(y1)]]));
      this.add("patrols", { type: "geojson", data: { type: "Feature", properties: {}, geometry: { type: "MultiLineString", coordinates: lines } } },
        [{ id: "patrols", type: "line", paint: { "line-color": "rgba(120,220,255,0.55)", "line-width": zoomed(0.4, 1.2) } }]);
    }
    this.add("roads", { type: "geojson", data: fc((bm.roads || []).map((r) => ({ type: "Feature", properties: {}, geometry: { type: "LineString", coordinates: pairs(r) } }))) },
      [{ id: "roads", type: "line", paint: { "line-color": "rgba(150,170,190,0.7)", "line-width": 1.2 } }]);
    this.map.addLayer({ id: "districts-glow", source: "districts", type: "line", paint: { "line-color": "#3fb6ff", "line-width": 5, "line-blur": 5, "line-opacity": 0.5 } });
    this.map.addLayer({ id: "districts-line", source: "districts", type: "line", paint: { "line-color": "rgba(63,182,255,0.95)", "line-width": 1.6 } });
    this.layerIds.districts.push("districts-glow", "districts-line");
    const w = bm.waterlogging; this.water = { lon: Float64Array.from(w.lon), lat: Float64Array.from(w.lat), name: w.name, code: w.code || [] };
    this.add("waterlogging", { type: "geojson", data: fc(w.lon.map((x, i) => point(x, w.lat[i], {}))) },
      [{ id: "waterlogging", type: "circle", paint: { "circle-color": WATER_COLOUR, "circle-radius": zoomed(1.5, 4) } }]);
    // Labels as HTML: no glyph server, and the browser's own CJK fonts.
    this.labels = bm.districts.map((d) => {
      const el = document.createElement("div"); el.className = "maplabel"; el.dataset.names = JSON.stringify([d.name, d.name_en]);
      el.textContent = pick([d.name, d.name_en]);
      return new maplibregl.Marker({ element: el }).setLngLat(d.label).addTo(this.map);
    });
    this.bm = bm;
    this.fit(homeBounds(bm)); this.draw();
  }

  casesChanged() {
    const C = this.cases; if (!this.bm) return;
    const features = [];
    for (let i = 0; i < C.n; i++) features.push(point(C.lonA[i], C.latA[i], { i, s: C.statuses[C.statusA[i]], o: C.overdueA[i] }));
    this.set("cases", fc(features), () => {
      this.add("cases", { type: "geojson", data: fc(features) }, [
        { id: "cases", type: "circle", filter: ["==", ["get", "o"], 0],
          paint: { "circle-color": STATUS_MATCH, "circle-radius": zoomed(3, 6), "circle-stroke-width": 1, "circle-stroke-color": "rgba(5,11,24,0.9)" } }]);
      this.map.addLayer({ id: "overdue-glow", source: "cases", type: "circle", filter: ["==", ["get", "o"], 1], paint: { "circle-color": OVERDUE_COLOUR, "circle-radius": zoomed(8, 12), "circle-blur": 1 } });
      this.map.addLayer({ id: "overdue", source: "cases", type: "circle", filter: ["==", ["get", "o"], 1],
        paint: { "circle-color": OVERDUE_COLOUR, "circle-radius": zoomed(4, 8), "circle-stroke-width": 1.2, "circle-stroke-color": "#ffffff" } });
      this.layerIds.overdue = ["overdue-glow", "overdue"];
    });
  }

  // Sensor layers (hundreds of points), coloured by level.
  setSensors(name, cols) {
    const data = fc(cols.lon.map((x, i) => point(x, cols.lat[i], { level: cols.level[i] })));
    this.sensors.set(name, cols);
    this.set(name, data, () => this.add(name, { type: "geojson", data }, [{ id: name, type: "circle",
      paint: { "circle-color": byLevel(name === "detectors" ? DETECTOR_COLOURS : GAUGE_COLOURS), "circle-radius": zoomed(name === "detectors" ? 2.5 : 3, 6), "circle-stroke-width": name === "detectors" ? 2 : 1, "circle-stroke-color": "rgba(5,11,24,0.9)" } }]));
  }
  // Warnings: each warned district once, hatched in its level's colour; a warning for one
  // point is a triangle there (an icon drawn in the page: no sprite server).
  setAreas(name, cols) {
    for (const [lv, colour] of Object.entries(WARNING_COLOURS)) {
      if (this.map.hasImage("hatch-" + lv)) continue;
      const h = hatch(colour, 12), g = h.getContext("2d");
      this.map.addImage("hatch-" + lv, g.getImageData(0, 0, h.width, h.height));
      const r = 18, tri = document.createElement("canvas"); tri.width = tri.height = 2 * r; const c = tri.getContext("2d");
      c.beginPath(); c.moveTo(r, 2); c.lineTo(2 * r - 2, 2 * r - 4); c.lineTo(2, 2 * r - 4); c.closePath();
      c.fillStyle = colour; c.fill(); c.lineWidth = 2.5; c.strokeStyle = "#ffffff"; c.stroke();
      this.map.addImage("warn-" + lv, c.getImageData(0, 0, 2 * r, 2 * r), { pixelRatio: 2 });
    }
    const data = fc([
      ...(cols.areas || []).map((a) => ({ type: "Feature", properties: { level: a.level, colour: WARNING_COLOURS[a.level] || WARNING_COLOURS.red },
        geometry: { type: "MultiPolygon", coordinates: a.rings.map((r) => [pairs(r)]) } })),
      ...(cols.lon || []).flatMap((lon, k) => lon === null ? [] : [point(lon, cols.lat[k], { level: cols.level[k] })]),
    ]);
    this.areas.set(name, cols);
    const polygons = ["has", "colour"], points = ["!", ["has", "colour"]];  // areas carry their colour
    this.set(name, data, () => this.add(name, { type: "geojson", data }, [
      { id: name + "-fill", type: "fill", filter: polygons, paint: { "fill-color": ["get", "colour"], "fill-opacity": 0.12 } },
      { id: name + "-hatch", type: "fill", filter: polygons, paint: { "fill-pattern": ["concat", "hatch-", ["get", "level"]], "fill-opacity": 0.85 } },
      { id: name + "-line", type: "line", filter: polygons, paint: { "line-color": ["get", "colour"], "line-width": 3 } },
      { id: name + "-points", type: "symbol", filter: points, layout: { "icon-image": ["concat", "warn-", ["get", "level"]], "icon-allow-overlap": true, "icon-ignore-placement": true } }]));
  }
  // Many objects of one colour (vehicles, the 100,000-object test): MapLibre clusters them in its worker.
  setPoints(name, lon, lat, colour) {
    if (!lon) { this.extra.delete(name); this.set(name, EMPTY, () => {}); return; }
    this.extra.set(name, { lon, lat, n: lon.length });
    const features = new Array(lon.length); for (let i = 0; i < lon.length; i++) features[i] = point(lon[i], lat[i], null);
    this.set(name, fc(features), () => this.add(name, { type: "geojson", data: fc(features), cluster: true, clusterRadius: 30, clusterMaxZoom: 14 }, [
      { id: name + "-clusters", type: "circle", filter: ["has", "point_count"],
        paint: { "circle-color": colour, "circle-opacity": 0.75, "circle-radius": ["interpolate", ["linear"], ["get", "point_count"], 2, 3, 100, 9, 2000, 18] } },
      { id: name, type: "circle", filter: ["!", ["has", "point_count"]], paint: { "circle-color": colour, "circle-radius": 1.5 } }]));
    this.layerIds.stress = this.layerIds[name];
  }

  // Layer switches and label language.
  draw() {
    if (!this.bm) return;
    for (const [id, ids] of Object.entries(this.layerIds)) {
      const on = this.visible[id] !== false ? "visible" : "none";
      for (const l of ids) if (this.map.getLayer(l) && this.map.getLayoutProperty(l, "visibility") !== on) this.map.setLayoutProperty(l, "visibility", on);
    }
    for (const m of this.labels) m.getElement().hidden = !this.visible.districts;
  }
  relabel() { for (const m of this.labels) m.getElement().textContent = pick(JSON.parse(m.getElement().dataset.names)); }
}
