// The panels' charts, drawn by ECharts (from npm, bundled in /static/vendor/echarts.js by
// tools/build_web.py). The library is loaded on first use, after the map's first paint, so
// it never delays the first screen; `preload()` fetches it while the page is idle.
import { esc } from "/static/i18n.js";

let lib = null;
export const preload = () => (lib ||= import("/static/vendor/echarts.js"));

const TEXT = "#8aa4c8", LINE = "rgba(28,63,110,0.8)";
const font = () => getComputedStyle(document.body).fontFamily;
// Sizes follow the page's root font (13 px at 1366 wide, up to 30 px on a 4K wall): px(11) is
// 11 px on a laptop and about 25 px on 3840×2160, so labels read from across the room.
const px = (n) => Math.round(n * (parseFloat(getComputedStyle(document.documentElement).fontSize) || 13) / 13);
// What a chart shows (tests compare it with the API): its option, as ECharts holds it.
export const optionOf = (el) => lib && lib.then((e) => { const c = e.getInstanceByDom(el); return c ? c.getOption() : null; });

async function chart(el) {
  const echarts = await preload();
  const c = echarts.getInstanceByDom(el) || echarts.init(el, null, { renderer: "canvas" });
  c.resize();
  return c;
}

const tooltip = () => ({ trigger: "axis", backgroundColor: "rgba(8,20,40,0.92)", borderColor: "#1c3f6e", textStyle: { color: "#dcecff", fontSize: px(12) } });

// series: [{name, colour, values}], labels: x labels (same length as values).
export async function lineChart(el, labels, series) {
  const c = await chart(el);
  c.setOption({
    animation: false, textStyle: { fontFamily: font() }, tooltip: tooltip(),
    legend: { top: 0, left: px(30), itemWidth: px(12), itemHeight: px(8), textStyle: { color: "#dcecff", fontSize: px(12) } },
    grid: { left: px(38), right: px(12), top: px(26), bottom: px(22) },
    xAxis: { type: "category", data: labels, boundaryGap: false, axisLabel: { color: TEXT, fontSize: px(11) }, axisLine: { lineStyle: { color: LINE } } },
    yAxis: { type: "value", minInterval: 1, axisLabel: { color: TEXT, fontSize: px(11) }, splitLine: { lineStyle: { color: LINE } } },
    series: series.map((s) => ({
      // null: an hour that has not begun, left out (no line, no zero).
      name: s.name, type: "line", data: s.values, showSymbol: false, connectNulls: false, lineStyle: { width: px(2), color: s.colour }, itemStyle: { color: s.colour },
      areaStyle: { color: { type: "linear", x: 0, y: 0, x2: 0, y2: 1, colorStops: [{ offset: 0, color: s.colour + "55" }, { offset: 1, color: s.colour + "00" }] } },
    })),
  }, { notMerge: true });
}

// rows: [{label, a, b}] bars a (main) and b (alarm); fmtA formats a's value.
export async function barChart(el, rows, { colourA = "#3fb6ff", colourB = "#ff4d4f", maxA, fmtA = String, nameA = "", nameB = "" } = {}) {
  const c = await chart(el);
  const labels = rows.map((r) => r.label);
  c.setOption({
    animation: false, textStyle: { fontFamily: font() },
    tooltip: { ...tooltip(), axisPointer: { type: "shadow" },
      formatter: (ps) => `${esc(ps[0].name)}<br>${esc(nameA)}: ${esc(fmtA(rows[ps[0].dataIndex].a))}<br>${esc(nameB)}: ${esc(rows[ps[0].dataIndex].b)}` },
    legend: { top: 0, right: 8, itemWidth: px(12), itemHeight: px(8), textStyle: { color: TEXT, fontSize: px(11) } },
    grid: [{ left: 8, right: px(70), top: px(22), bottom: 4, containLabel: true }],
    xAxis: [{ type: "value", max: maxA, show: false }, { type: "value", show: false, max: Math.max(1, ...rows.map((r) => r.b)) }],
    yAxis: { type: "category", data: labels, inverse: true, axisTick: { show: false }, axisLine: { show: false },
      axisLabel: { color: "#dcecff", fontSize: px(12), width: px(130), overflow: "truncate" } },
    series: [
      // a null (a rate with nothing to divide by) draws no bar; its label reads "—" (fmtA).
      { name: nameA, type: "bar", xAxisIndex: 0, data: rows.map((r) => r.a ?? 0), barWidth: "38%", barMaxWidth: px(14), barGap: "10%",
        showBackground: true, backgroundStyle: { color: "rgba(63,182,255,0.12)" },
        itemStyle: { color: { type: "linear", x: 0, y: 0, x2: 1, y2: 0, colorStops: [{ offset: 0, color: colourA + "66" }, { offset: 1, color: colourA }] } },
        label: { show: true, position: "right", color: "#fff", fontSize: px(11), formatter: (p) => `${fmtA(rows[p.dataIndex].a)}${rows[p.dataIndex].b ? "  ·  " + rows[p.dataIndex].b : ""}` } },
      { name: nameB, type: "bar", xAxisIndex: 1, data: rows.map((r) => r.b), barWidth: "18%", barMaxWidth: px(6), itemStyle: { color: colourB } },
    ],
  }, { notMerge: true });
}
