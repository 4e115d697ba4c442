// animlib player, part 4: the per-step top-k confidence table (true class, target and the
// step's argmax marked), rewritten in place at every step from the typed arrays.

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
    this.table = el("table", { class: "animlib-table", "data-testid": "animlib-step-table", "data-run": run.id });
    const head = this.table.appendChild(el("thead")).appendChild(el("tr"));
    // "#" keeps a narrow compare column readable (its title says "rank")
    for (const [name, title] of [["class"], ["confidence"], ["#", "rank"], ["role"]]) head.appendChild(el("th", { scope: "col", title }, name));
    this.body = this.table.appendChild(el("tbody"));
    this.rows = [];
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

  setStep(step) {
    const argmax = this.topk.data[step * this.k];
    const entries = this.entries(step);
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
      row.name.textContent = this.run.classes[label];
      row.name.title = this.run.classes[label]; // the full name where the column cuts it
      row.num.textContent = fmtConf(value);
      row.bar.style.width = `${(clamp(value, 0, 1) * 100).toFixed(1)}%`;
      row.rank.textContent = String(rank);
      row.role.textContent = roles.join(", ");
      row.role.title = row.role.textContent;
    });
    this.table.setAttribute("data-step", String(step));
  }
}
