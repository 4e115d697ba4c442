// animlib player, part 4: the per-step top-k confidence table (true class, target and the
// step's argmax marked), rewritten in place at every step from the typed arrays.

// A class name cut in the middle to fit `px` pixels of `font` ("a very long…name 7"): names
// that differ only at their end stay apart, as in the rendered frames (textmetrics.cut).
const MEASURE = { ctx: null, segmenter: null };

// The characters of `text` as shown: grapheme clusters where the browser can tell them
// (👨‍👩‍👧 is one, 🇯🇵 one), else code points.
function graphemes(text) {
  if (typeof Intl === "object" && typeof Intl.Segmenter === "function") {
    if (!MEASURE.segmenter) MEASURE.segmenter = new Intl.Segmenter(undefined, { granularity: "grapheme" });
    return Array.from(MEASURE.segmenter.segment(text), (part) => part.segment);
  }
  return Array.from(text);
}

function middleCut(text, font, px) {
  if (!MEASURE.ctx) MEASURE.ctx = document.createElement("canvas").getContext("2d");
  const ctx = MEASURE.ctx;
  ctx.font = font;
  if (ctx.measureText(text).width <= px) return text;
  const chars = graphemes(text); // (a cut never splits an emoji sequence or a flag)
  const cut = (n) => chars.slice(0, Math.ceil(n / 2)).join("") + "…" + (n > 1 ? chars.slice(chars.length - Math.floor(n / 2)).join("") : "");
  let lo = 0;
  let hi = chars.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ctx.measureText(cut(mid)).width <= px) lo = mid;
    else hi = mid - 1;
  }
  return cut(lo);
}

// The rows' class names as shown, each cut by `cut(text, row)` (row -1: in the plain weight):
// names that cut to the same text (long names that differ in their middle, one name twice) lead
// with their class number ("7: Staff…ame here"), as the video's bars do (figure/bars.py), so
// two rows never read as one class. (Told apart in the plain weight: the bold argmax row cuts
// one of them shorter, yet reads the same.)
function tellApart(labels, names, cut) {
  const plain = labels.map((c) => cut(names[c], -1));
  const count = new Map();
  for (const t of plain) count.set(t, (count.get(t) || 0) + 1);
  return labels.map((c, i) => cut(count.get(plain[i]) > 1 ? `${c}: ${names[c]}` : names[c], i));
}

class StepTable {
  constructor(run, arrays, prefix) {
    this.run = run;
    this.topk = arrays[`${prefix}topk`];
    this.topv = arrays[`${prefix}topv`];
    this.rank = arrays[`${prefix}rank`];
    this.extra = ["true", "target"]
      .filter((role) => run[role] !== null && run[role] !== undefined)
      .map((role) => ({ role, label: run[role], v: arrays[`${prefix}${role}_v`].data, r: arrays[`${prefix}${role}_r`].data }));
    this.k = run.k;
    this.table = el("table", { class: "animlib-table", "data-testid": "animlib-step-table", "data-run": run.id, "aria-label": `confidences of ${run.title} at the step shown` });
    const head = this.table.appendChild(el("thead")).appendChild(el("tr"));
    // "#" keeps a narrow compare column readable (its title says "rank")
    for (const [name, title] of [["class"], ["confidence"], ["#", "rank"], ["role"]]) head.appendChild(el("th", { scope: "col", title }, name));
    this.body = this.table.appendChild(el("tbody"));
    this.rows = [];
    this.cuts = new Map(); // "px|bold|text" -> the text as shown
    this.step = null;
    this.space = null; // measured once it shows, then again only when the table resizes
    // names cut for the space they get: again when the table first shows (drawn while hidden:
    // a collapsed section) or its column changes width (a resized window)
    if (typeof ResizeObserver === "function") {
      this.observer = new ResizeObserver(() => {
        const space = this.nameSpace();
        const same = space && this.space && space.px === this.space.px;
        if (same) return;
        this.space = space;
        if (this.step !== null) this.setStep(this.step);
      });
      this.observer.observe(this.table);
    }
    for (let i = 0; i < this.k + this.extra.length; i++) {
      const tr = el("tr");
      const name = tr.appendChild(el("th", { scope: "row", class: "animlib-class" }));
      const conf = tr.appendChild(el("td", { class: "animlib-conf" }));
      const bar = conf.appendChild(el("span", { class: "animlib-bar" }));
      const num = conf.appendChild(el("span", { class: "animlib-num" }));
      const rank = tr.appendChild(el("td", { class: "animlib-rank" }));
      const role = tr.appendChild(el("td", { class: "animlib-role" }));
      this.rows.push({ tr, name, bar, num, rank, role });
      this.body.appendChild(tr);
    }
  }

  // Rows of `step`: [classIndex, confidence, rank] for the top-k, then true/target if missing.
  entries(step) {
    const out = [];
    const base = step * this.k;
    for (let j = 0; j < this.k; j++) out.push([this.topk.data[base + j], this.topv.data[base + j], this.rank.data[base + j]]);
    for (const x of this.extra) {
      if (!out.some((e) => e[0] === x.label)) out.push([x.label, x.v[step], x.r[step]]);
    }
    return out;
  }

  // The pixels a class name may take: its column's (a comparison's fixed layout), else the
  // column's widest (CSS max-width).
  nameSpace() {
    const cell = this.rows[0] && this.rows[0].name;
    if (!cell || !cell.isConnected) return null;
    const style = getComputedStyle(cell);
    const pad = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
    const fixed = getComputedStyle(this.table).tableLayout === "fixed";
    const width = fixed ? cell.clientWidth : parseFloat(style.maxWidth);
    // (the shorthand `font` of a computed style may be empty: built from its parts)
    const font = `${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    const bold = `${style.fontStyle} 700 ${style.fontSize} ${style.fontFamily}`; // the argmax row's
    return width > pad + 1 ? { px: width - pad - 1, font, bold } : null; // (1: rounding)
  }

  // a name (or "7: name") as it fits the column, measured in the row's font (the argmax row is
  // bold: cut for the normal weight, the browser would cut its end off again)
  className(name, space, bold) {
    if (!space) return name;
    const key = `${space.px}|${bold ? 1 : 0}|${name}`;
    if (!this.cuts.has(key)) {
      if (this.cuts.size > 5000) this.cuts.clear();
      this.cuts.set(key, middleCut(name, bold ? space.bold : space.font, space.px));
    }
    return this.cuts.get(key);
  }

  setStep(step) {
    const argmax = this.topk.data[step * this.k];
    const entries = this.entries(step);
    if (!this.space) this.space = this.nameSpace(); // (no layout read per step once known)
    const space = this.space;
    this.step = step;
    const labels = entries.map((e) => e[0]);
    const shown = tellApart(labels, this.run.classes, (text, i) => this.className(text, space, i >= 0 && labels[i] === argmax));
    this.rows.forEach((row, i) => {
      const e = entries[i];
      row.tr.hidden = !e;
      if (!e) return;
      const [label, value, rank] = e;
      const roles = [];
      if (label === this.run.true) roles.push("true");
      if (label === this.run.target) roles.push("target");
      if (label === argmax) roles.push("argmax");
      row.tr.className = roles.map((r) => `is-${r}`).join(" ");
      row.name.textContent = shown[i];
      row.name.title = this.run.classes[label]; // the full name where the column cuts it
      row.num.textContent = fmtConf(value);
      row.bar.style.width = `${(clamp(value, 0, 1) * 100).toFixed(1)}%`;
      row.rank.textContent = String(rank);
      row.role.textContent = roles.join(", ");
      row.role.title = row.role.textContent;
    });
    this.table.setAttribute("data-step", String(step));
  }

  // the shown step's top class as a screen reader says it
  said() {
    if (this.step === null) return "";
    return `top class ${this.run.classes[this.topk.data[this.step * this.k]]}, ${fmtConf(this.topv.data[this.step * this.k])}`;
  }

  close() {
    if (this.observer) this.observer.disconnect();
  }
}
