// animlib player, part 3: confidence-over-steps curves as SVG, with a marker at the shown
// step that moves in the browser. Clicking or dragging on the chart seeks.

const ROLE_COLORS = { true: "#2ca02c", target: "#ff7f0e", rival: "#d62728", top: "#1f77b4" };
const RUN_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];
// compared runs' lines differ in dash too: a dashed line drawn over an equal one leaves gaps
// where the one below shows (two attacks with the same curve stay two lines)
const RUN_DASHES = ["", "12 6", "4 5", "16 5 3 5", "2 6", "22 8"];
// The chart is drawn in CSS pixels: its viewBox is as wide as the SVG is on the page (measured,
// drawn again when that changes), so its text keeps the page's size at any width (a fixed
// 1000-unit chart drawn at width:100% had 9-px labels on a phone and 31-px ones, 550 px tall,
// at 2560 px), and its height stays 180-230 px.
const CHART = { w: 1000, h: 230, l: 52, r: 14, t: 12, b: 34 };
const CHART_MIN_W = 200;

function niceTicks(last, count) {
  if (last <= 0) return [0];
  // the smallest whole nice step giving at most count + 1 ticks (10,000 steps at 390 px,
  // count 3, were 0 and 5000 alone, half the axis unlabelled: now 0, 2500, 5000, 7500)
  const mag = Math.pow(10, Math.floor(Math.log10(last / (count + 1))));
  const nice = [1, 2, 2.5, 5, 10, 20].map((m) => m * mag);
  const step = nice.find((s) => Number.isInteger(s) && Math.floor(last / s) <= count) || Math.ceil(last / count);
  const ticks = [];
  for (let v = 0; v <= last + 1e-9; v += step) ticks.push(Math.round(v));
  return ticks;
}

class Curves {
  // The chart's size in its own units (= CSS pixels) for an SVG ``width`` px wide.
  static sizeFor(width) {
    const w = Math.max(Math.round(width || CHART.w), CHART_MIN_W);
    return { w, h: clamp(Math.round(w / 2), 180, CHART.h) };
  }

  // series: [{label, color, dash (SVG stroke-dasharray, "" solid), values (typed array, one per
  // step of its run)}]; later series are drawn over earlier ones, their dots smaller
  // width: the pixels the chart is about to get (it measures itself once shown, and again on
  // every resize, and is drawn again for a new width)
  constructor(series, steps, onSeek, yTitle, width) {
    this.series = series;
    this.steps = Math.max(steps, 1);
    this.onSeek = onSeek;
    this.yTitle = yTitle;
    this.step = 0;
    this.root = el("div", { class: "animlib-curves", "data-testid": "animlib-curves" });
    this.svg = svgEl("svg", { class: "animlib-curves-svg", role: "img" });
    this.draw(width);
    this.root.appendChild(this.svg);
    const legend = el("div", { class: "animlib-legend" });
    for (const s of series) {
      const item = legend.appendChild(el("span", { class: "animlib-legend-item" }));
      const swatch = item.appendChild(svgEl("svg", { class: "animlib-swatch", viewBox: "0 0 24 4", width: 24, height: 4, "aria-hidden": "true" }));
      const mark = { x1: 0, x2: 24, y1: 2, y2: 2, stroke: s.color, "stroke-width": 3 };
      if (s.dash) mark["stroke-dasharray"] = s.dash.split(" ").map((d) => Number(d) / 2).join(" ");
      swatch.appendChild(svgEl("line", mark));
      item.appendChild(el("span", {}, s.label));
    }
    this.root.appendChild(legend);
    this.bindSeek();
    if (typeof ResizeObserver === "function") {
      this.observer = new ResizeObserver(() => this.fit());
      this.observer.observe(this.svg);
    }
  }

  // Drawn again when the SVG's width on the page is not the chart's (a resized window, the
  // sidebar opened, the first layout).
  fit() {
    const width = this.svg.getBoundingClientRect().width;
    if (!width || Curves.sizeFor(width).w === this.chart.w) return;
    this.draw(width);
    this.setStep(this.step);
  }

  draw(width) {
    this.chart = { ...CHART, ...Curves.sizeFor(width) };
    this.svg.replaceChildren();
    this.svg.setAttribute("viewBox", `0 0 ${this.chart.w} ${this.chart.h}`);
    this.svg.appendChild(svgEl("title")).textContent = this.yTitle + " over steps";
    this.axes(this.yTitle);
    for (const s of this.series) {
      const points = [];
      for (let i = 0; i < s.values.length; i++) points.push(`${this.x(i).toFixed(1)},${this.y(s.values[i]).toFixed(1)}`);
      const line = { points: points.join(" "), fill: "none", stroke: s.color, "stroke-width": 2 };
      if (s.dash) line["stroke-dasharray"] = s.dash;
      this.svg.appendChild(svgEl("polyline", line));
    }
    this.marker = svgEl("line", { class: "animlib-marker", y1: this.chart.t, y2: this.chart.h - this.chart.b });
    this.svg.appendChild(this.marker);
    const n = this.series.length;
    this.dots = this.series.map((s, i) => this.svg.appendChild(svgEl("circle", { r: 4 + 1.5 * (n - 1 - i), fill: s.color, class: "animlib-dot" })));
  }

  x(step) {
    return this.chart.l + (step / Math.max(this.steps - 1, 1)) * (this.chart.w - this.chart.l - this.chart.r);
  }

  y(v) {
    return this.chart.t + (1 - clamp(Number.isFinite(v) ? v : 0, 0, 1)) * (this.chart.h - this.chart.t - this.chart.b);
  }

  axes(yTitle) {
    const g = this.svg.appendChild(svgEl("g", { class: "animlib-axes" }));
    for (const v of [0, 0.25, 0.5, 0.75, 1]) {
      g.appendChild(svgEl("line", { x1: this.chart.l, x2: this.chart.w - this.chart.r, y1: this.y(v), y2: this.y(v), class: "animlib-gridline" }));
      g.appendChild(svgEl("text", { x: this.chart.l - 6, y: this.y(v) + 4, "text-anchor": "end" })).textContent = String(v);
    }
    const room = this.chart.w - this.chart.l - this.chart.r;
    for (const s of niceTicks(this.steps - 1, clamp(Math.floor(room / 80), 3, 12))) {
      g.appendChild(svgEl("text", { x: this.x(s), y: this.chart.h - this.chart.b + 16, "text-anchor": "middle" })).textContent = String(s);
    }
    g.appendChild(svgEl("text", { x: this.chart.w - this.chart.r, y: this.chart.h - 3, "text-anchor": "end" })).textContent = "step";
    const title = g.appendChild(svgEl("text", { x: 14, y: this.chart.t + (this.chart.h - this.chart.t - this.chart.b) / 2, "text-anchor": "middle", transform: `rotate(-90 14 ${this.chart.t + (this.chart.h - this.chart.t - this.chart.b) / 2})` }));
    title.textContent = yTitle;
  }

  bindSeek() {
    let dragging = false;
    const seek = (ev) => {
      const box = this.svg.getBoundingClientRect();
      if (!box.width) return;
      const scale = this.chart.w / box.width; // the chart keeps its aspect ratio (meet)
      const vx = (ev.clientX - box.left) * scale;
      const frac = (vx - this.chart.l) / (this.chart.w - this.chart.l - this.chart.r);
      this.onSeek(Math.round(clamp(frac, 0, 1) * (this.steps - 1)));
    };
    this.svg.addEventListener("pointerdown", (ev) => {
      dragging = true;
      this.svg.setPointerCapture(ev.pointerId);
      seek(ev);
    });
    this.svg.addEventListener("pointermove", (ev) => { if (dragging) seek(ev); });
    const stop = () => { dragging = false; };
    this.svg.addEventListener("pointerup", stop);
    this.svg.addEventListener("pointercancel", stop);
  }

  close() {
    if (this.observer) this.observer.disconnect();
  }

  setStep(step) {
    this.step = step;
    const x = this.x(step);
    this.marker.setAttribute("x1", x);
    this.marker.setAttribute("x2", x);
    this.series.forEach((s, i) => {
      const k = Math.min(step, s.values.length - 1);
      this.dots[i].setAttribute("cx", this.x(k));
      this.dots[i].setAttribute("cy", this.y(s.values[k]));
    });
  }
}
