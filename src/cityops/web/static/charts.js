// Small canvas charts for the panels: a line chart and paired horizontal bars.
function prep(canvas) {
  const dpr = Math.min(window.devicePixelRatio || 1, 2);
  const w = Math.max(1, Math.round(canvas.clientWidth * dpr)), h = Math.max(1, Math.round(canvas.clientHeight * dpr));
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  const c = canvas.getContext("2d"); c.setTransform(1, 0, 0, 1, 0, 0); c.clearRect(0, 0, w, h);
  const font = getComputedStyle(document.body).fontFamily;
  return { c, w, h, dpr, font };
}

// series: [{name, colour, values}], labels: x labels (same length as values).
export function lineChart(canvas, labels, series) {
  const { c, w, h, dpr, font } = prep(canvas);
  const L = 38 * dpr, R = 10 * dpr, T = 24 * dpr, B = 22 * dpr;
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const n = labels.length, x = (i) => L + (n > 1 ? (i * (w - L - R)) / (n - 1) : 0), y = (v) => h - B - (v / max) * (h - T - B);
  c.font = `${11 * dpr}px ${font}`; c.fillStyle = "#8aa4c8"; c.strokeStyle = "rgba(28,63,110,0.8)"; c.lineWidth = 1;
  for (let k = 0; k <= 4; k++) { const v = (max * k) / 4, yy = y(v); c.beginPath(); c.moveTo(L, yy); c.lineTo(w - R, yy); c.stroke(); c.textAlign = "right"; c.fillText(String(Math.round(v)), L - 4 * dpr, yy + 4 * dpr); }
  c.textAlign = "center"; const every = Math.max(1, Math.ceil(n / 8));
  for (let i = 0; i < n; i += every) c.fillText(labels[i], x(i), h - 6 * dpr);
  series.forEach((s, k) => {
    c.strokeStyle = s.colour; c.lineWidth = 2 * dpr; c.beginPath();
    s.values.forEach((v, i) => (i ? c.lineTo(x(i), y(v)) : c.moveTo(x(i), y(v)))); c.stroke();
    const g = c.createLinearGradient(0, T, 0, h - B); g.addColorStop(0, s.colour + "55"); g.addColorStop(1, s.colour + "00");
    c.lineTo(x(n - 1), y(0)); c.lineTo(x(0), y(0)); c.closePath(); c.fillStyle = g; c.fill();
    c.fillStyle = s.colour; c.fillRect(L + k * 90 * dpr, 6 * dpr, 10 * dpr, 10 * dpr);
    c.fillStyle = "#dcecff"; c.textAlign = "left"; c.font = `${12 * dpr}px ${font}`; c.fillText(s.name, L + k * 90 * dpr + 14 * dpr, 15 * dpr);
  });
}

// rows: [{label, a, b}] bars a (main) and b (alarm); fmtA formats a's value.
export function barChart(canvas, rows, { colourA = "#3fb6ff", colourB = "#ff4d4f", maxA, fmtA = String, nameA = "", nameB = "" } = {}) {
  const { c, w, h, dpr, font } = prep(canvas);
  const top = 20 * dpr, rowH = Math.min(26 * dpr, (h - top) / Math.max(1, rows.length));
  const labelW = Math.min(140 * dpr, w * 0.34), barW = w - labelW - 70 * dpr;
  const mA = maxA || Math.max(1, ...rows.map((r) => r.a)), mB = Math.max(1, ...rows.map((r) => r.b));
  c.font = `${11 * dpr}px ${font}`; c.textBaseline = "middle";
  c.fillStyle = colourA; c.fillRect(labelW, 4 * dpr, 10 * dpr, 10 * dpr); c.fillStyle = "#8aa4c8"; c.fillText(nameA, labelW + 14 * dpr, 9 * dpr);
  c.fillStyle = colourB; c.fillRect(labelW + 110 * dpr, 4 * dpr, 10 * dpr, 10 * dpr); c.fillStyle = "#8aa4c8"; c.fillText(nameB, labelW + 124 * dpr, 9 * dpr);
  c.font = `${Math.min(13 * dpr, rowH * 0.55)}px ${font}`;
  rows.forEach((r, i) => {
    const y = top + i * rowH, mid = y + rowH / 2;
    let label = r.label;  // long names are shortened to fit, the full name stays in the table
    while (label.length > 2 && c.measureText(label).width > labelW - 8 * dpr) label = label.slice(0, -2) + "…";
    c.fillStyle = "#dcecff"; c.textAlign = "right"; c.fillText(label, labelW - 6 * dpr, mid);
    c.fillStyle = "rgba(63,182,255,0.12)"; c.fillRect(labelW, y + rowH * 0.18, barW, rowH * 0.4);
    const g = c.createLinearGradient(labelW, 0, labelW + barW, 0); g.addColorStop(0, colourA + "66"); g.addColorStop(1, colourA);
    c.fillStyle = g; c.fillRect(labelW, y + rowH * 0.18, (barW * r.a) / mA, rowH * 0.4);
    c.fillStyle = colourB; c.fillRect(labelW, y + rowH * 0.62, (barW * r.b) / mB, rowH * 0.2);
    c.textAlign = "left"; c.fillStyle = "#fff"; c.fillText(`${fmtA(r.a)}${r.b ? "  ·  " + r.b : ""}`, labelW + barW + 6 * dpr, mid);
  });
}
