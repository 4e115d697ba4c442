// animlib player, part 5: the player. One root element (data-testid="animlib-player",
// data-step = the shown step, focusable, takes the keys) drives every run's frames, tables
// and the curve marker. Nothing is sent to the server while stepping or playing: the step
// goes into the page URL (?step=) with history.replaceState, at most every 0.5 s (also while
// playing). A rerun that brings new data (a live run's new steps, other render options)
// replaces the player with one that carries on where this one was: step, speed, playing.

const SPEEDS = [0.25, 0.5, 1, 2, 4, 8];
const STALL_MS = 250; // playing this far behind its clock: a stall, not a fast speed
const URL_DELAY_MS = 500;
// the page and the run(s) the address names (a player writes its step only into its own)
function address() {
  const p = new URLSearchParams(window.location.search);
  return `${window.location.pathname}|${p.get("run") || ""}|${p.get("runs") || ""}`;
}
const SAY_MS = 300; // the step is said this long after the last key (not at every held key's repeat)
// An image's size in a square of ``target`` px, drawn nearest-neighbour (player.css), as the
// video's panels are (figure/artists.py zoom): a whole zoom when that fills at least WHOLE_ZOOM
// of what fits (every pixel the same square: 150x150 at 2x in 300 px), else fitted (151x151 at
// 300, not 1:1; 96x32 at 176x59 in 176, not 96x32); a larger image is fitted down.
const WHOLE_ZOOM = 0.8;
function displaySize(image, target) {
  const fit = target / Math.max(image.width, image.height, 1);
  const whole = Math.floor(fit + 1e-6);
  const scale = whole >= 1 && whole >= WHOLE_ZOOM * fit ? whole : fit;
  return { w: Math.round(image.width * scale), h: Math.round(image.height * scale) };
}

// A comparison's images: as large as two fit side by side in a column of a page ``width`` px
// wide (96-240 px; 150 when the width is not known yet).
function compareTarget(width, cols) {
  if (!width) return 150;
  const col = (width - 14 * (cols - 1)) / cols; // the grid's gap is 14 px
  return clamp(Math.floor((col - 8) / 2), 96, 240); // the images' gap is 8 px
}

// What a run's changing image is called: an attack's is adversarial; without a classifier (an
// image edit, say) it is the edited image, or just the image when there is no original either.
function imageName(run) {
  if (run.attacked) return "adversarial";
  return run.image && run.image.original ? "edited" : "image";
}

// A title cut in the middle to about fit a column ``width`` px wide: one line, so the images of
// a row stay in line (a long name wrapped over 4 lines pushed its run's images down), and its
// end kept (what tells compared runs apart: an eps, a rerun's "-2").
// A panel as its full-size button and view name it: "adversarial image", "perturbation of run-2"
function panelName(run, kind, compare) {
  const name = imageName(run);
  const image = name === "image" ? "image" : `${name} image`;
  const panel = { "before-after": `original and ${image}`, image, perturbation: "perturbation" }[kind] || kind;
  return compare ? `${panel} of ${run.title}` : panel;
}

function fitTitle(text, width) {
  const chars = Math.max(12, Math.floor((width || 300) / 7.5));
  if (text.length <= chars) return text;
  const tail = Math.ceil((chars - 1) / 2);
  return `${text.slice(0, chars - 1 - tail)}…${text.slice(text.length - tail)}`;
}

// The room inside the player for a parent ``width`` px wide: less its own padding, 4 px left
// and right (player.css); counted in, a comparison's two images missed their column by ~2 px
// at some widths and the second wrapped under the first.
const PAD_X = 8;
function roomOf(width) {
  return width ? Math.max(width - PAD_X, 0) : 0;
}

function columnWidth(width, cols) {
  return width ? (width - 14 * (cols - 1)) / cols : 0;
}

// How many runs a comparison shows a row: as many as fit MIN_COL px each, in balanced rows (4
// runs that fit 3 a row: 2 x 2, not 3 + 1; 6 that fit 4 or 5: 3 x 2). MIN_COL is what a
// column needs: its step table's widest cell, a bold "target, argmax" in the role column, is
// cut below ~270 px (measured in Chromium; the two images fit from 200 px). Six runs fit one
// row from a ~1,900-px window (they were capped at 3 a row: ~790-px columns at 2560 px with
// 240-px images, two rows taller than the window).
const MIN_COL = 280;
function compareCols(n, width) {
  if (!width) return n <= 3 ? n : n === 4 ? 2 : 3; // (until the page's width is known)
  const fit = clamp(Math.floor((width + 14) / (MIN_COL + 14)), 1, n);
  return Math.ceil(n / Math.ceil(n / fit));
}

class Player {
  constructor(payload, parent, carried) {
    this.width = roomOf(parent.clientWidth);
    this.header = payload.header;
    this.arrays = payload.arrays;
    this.runs = this.header.runs;
    this.compare = this.header.mode === "compare";
    this.steps = Math.max(...this.runs.map((r) => r.steps), 1);
    this.fps = this.header.fps || 10;
    this.speed = 1;
    this.playing = false;
    this.direction = 1;
    this.targets = []; // {r, kind, canvas, tag}
    this.tables = [];
    this.labels = [];
    this.timers = new Set();
    this.zoomButtons = new Map(); // "r:kind" -> the button that shows that panel at full size
    // a rerun's player (a live run's new step, a changed option) keeps the divider where it was
    if (carried && carried.ids === this.runs.map((r) => r.id).join("\n")) this.split = carried.split;
    this.frames = this.runs.map((run) => (run.image ? new Frames(run.image, run.steps, this.runs.length, () => this.draw()) : null));
    // a group of controls that steps runs (screen readers drop a name on a plain div), named
    // after its run(s) and its keys
    const who = this.compare ? `${this.runs.length} runs compared` : this.runs[0].title;
    this.root = el("div", { class: "animlib-player", "data-testid": "animlib-player", tabindex: 0, "data-step": 0, "data-mode": this.header.mode, role: "group", "aria-roledescription": "step player" });
    this.root.setAttribute("aria-label", `${who}: arrow keys step, Home/End jump, space plays`);
    this.root.setAttribute("aria-keyshortcuts", "ArrowLeft ArrowRight Shift+ArrowLeft Shift+ArrowRight PageUp PageDown Home End Space");
    this.root.appendChild(this.toolbar());
    // the step shown, said politely once the keys rest (a held key or playback says nothing)
    this.said = this.root.appendChild(el("div", { class: "animlib-sr", role: "status", "aria-live": "polite", "aria-atomic": "true", "data-testid": "animlib-announce" }));
    this.root.appendChild(this.compare ? this.compareBody() : this.viewerBody());
    this.curves = this.makeCurves(parent.clientWidth);
    if (this.curves) this.root.appendChild(this.curves.root);
    this.root.addEventListener("keydown", (ev) => this.onKey(ev));
    parent.appendChild(this.root);
    if (typeof ResizeObserver === "function") {
      this.observer = new ResizeObserver(() => this.resized(roomOf(parent.clientWidth)));
      this.observer.observe(parent);
    }
    this.step = -1;
    const same = carried && carried.ids === this.runs.map((r) => r.id).join("\n");
    // at the last step of a live run, the new last step (as a log's tail follows it)
    const fromUrl = this.urlStep();
    const asked = new URLSearchParams(window.location.search).get("step");
    // a run put beside the ones shown, or taken away (the compare picker's link has no step):
    // the step looked at stays (Back, whose link has one, goes to that step)
    const ids = carried ? carried.ids.split("\n") : [];
    const kept = !same && asked === null && this.runs.some((r) => ids.includes(r.id));
    const step = same ? (carried.atEnd ? this.steps - 1 : carried.step) : kept ? Math.min(carried.step, this.steps - 1) : fromUrl;
    this.setStep(step);
    if (!same || step === fromUrl) this.cancelUrl(); // the URL says where we are
    if (!same && asked !== null && asked !== String(step)) this.scheduleUrl(); // ?step=abc, =-3
    if (same) {
      if (carried.canvases) this.paintCarried(carried.canvases);
      this.setSpeed(carried.speed);
      if (carried.playing) this.play();
      if (carried.zoom && carried.zoom.r < this.runs.length && this.runs[carried.zoom.r].image) this.openZoom(carried.zoom);
    }
    if (document.activeElement === document.body || !document.activeElement) this.root.focus({ preventScroll: true });
    // the page writes its own parameters (render options) from what the server knows, which
    // is the address it was opened at: a step lost or gone back that way is written again
    this.home = address(); // the page and run(s) this player shows: no step goes elsewhere
    this.urlWatch = setInterval(() => {
      if (this.root.isConnected && address() === this.home && this.urlStep() !== this.step) this.scheduleUrl();
    }, URL_DELAY_MS * 2);
  }

  // What a player replacing this one on a rerun carries on with (same runs only): the step (the
  // new last one when it was at the last: a live run's new steps are followed), speed, playback
  // and the panel shown at full size.
  carried() {
    const atEnd = !this.playing && this.steps > 1 && this.step === this.steps - 1;
    const zoom = this.overlay ? this.zoomed : null; // a panel shown at full size stays so
    const canvases = this.targets.map(({ r, kind, canvas }) => ({ r, kind, canvas }));
    return { ids: this.runs.map((r) => r.id).join("\n"), step: this.step, speed: this.speed, playing: this.playing, atEnd, zoom, canvases, split: this.split };
  }

  // A drag on the slider or the divider in progress: a rerun's new player (a live run's new
  // steps, every ~2 s) would remove the element under the pressed pointer and end the drag, so
  // the rebuild waits for the release (afterRelease; the newest data then).
  hold() {
    if (this.held) return;
    this.held = true;
    // (a release the page never sees: another window took it, a menu opened on the press)
    const moved = (ev) => { if (ev.buttons === 0) release(); };
    const release = () => {
      window.removeEventListener("pointerup", release, true);
      window.removeEventListener("pointercancel", release, true);
      window.removeEventListener("pointermove", moved, true);
      window.removeEventListener("blur", release);
      this.held = false;
      const then = this.onRelease;
      this.onRelease = null;
      if (then) setTimeout(then, 0); // (after the slider's last input event)
    };
    this.unhold = release;
    window.addEventListener("pointerup", release, true);
    window.addEventListener("pointercancel", release, true);
    window.addEventListener("pointermove", moved, true);
    window.addEventListener("blur", release);
  }

  afterRelease(then) {
    this.onRelease = then;
  }

  // Until their strips arrive, the new canvases show what the old ones drew (dimmed, as
  // loading): a live run's player, rebuilt on every new step, does not blink blank.
  paintCarried(canvases) {
    for (const t of this.targets) {
      if (!t.canvas.classList.contains("is-loading")) continue;
      const old = canvases.find((c) => c.r === t.r && c.kind === t.kind);
      if (!old || !old.canvas.width || !old.canvas.height) continue;
      t.canvas.width = old.canvas.width;
      t.canvas.height = old.canvas.height;
      t.canvas.getContext("2d").drawImage(old.canvas, 0, 0);
    }
  }

  // -- building ------------------------------------------------------------------------------
  toolbar() {
    const bar = el("div", { class: "animlib-toolbar" });
    bar.appendChild(button("first", "first step (Home)", () => this.setStep(0)));
    bar.appendChild(button("prev", "previous step (←)", () => this.move(-1)));
    this.playButton = bar.appendChild(button("play", "play (space)", () => this.toggle()));
    bar.appendChild(button("next", "next step (→)", () => this.move(1)));
    bar.appendChild(button("last", "last step (End)", () => this.setStep(this.steps - 1)));
    this.slider = bar.appendChild(el("input", { type: "range", min: 0, max: this.steps - 1, step: 1, value: 0, class: "animlib-slider", "aria-label": "step", "data-testid": "animlib-slider" }));
    this.slider.addEventListener("input", () => this.setStep(Number(this.slider.value)));
    this.slider.addEventListener("pointerdown", (ev) => { if (ev.button === 0 && ev.isPrimary) this.hold(); });
    this.stepLabel = bar.appendChild(el("span", { class: "animlib-step-label", "data-testid": "animlib-step-label" }));
    this.speedSelect = bar.appendChild(el("select", { class: "animlib-speed", "aria-label": "speed", title: "playback speed", "data-testid": "animlib-speed" }));
    for (const s of SPEEDS) this.speedSelect.appendChild(el("option", { value: s, selected: s === 1 }, `${s}× (${fmtGain(this.fps * s)} fps)`));
    this.speedSelect.addEventListener("change", () => { this.speed = Number(this.speedSelect.value); });
    return bar;
  }

  setSpeed(speed) {
    if (!SPEEDS.includes(speed)) return;
    this.speed = speed;
    this.speedSelect.value = String(speed);
  }

  canvas(r, kind, size, testid) {
    const c = el("canvas", { class: "animlib-canvas", "data-testid": testid, "data-run": this.runs[r].id, width: this.runs[r].image.width, height: this.runs[r].image.height });
    c.style.width = `${size.w}px`;
    c.style.height = `${size.h}px`;
    this.targets.push({ r, kind, canvas: c });
    return c;
  }

  figure(caption, child, zoom) {
    const fig = el("figure", { class: "animlib-figure" });
    const box = fig.appendChild(el("div", { class: "animlib-box" }));
    box.appendChild(child);
    if (zoom) {
      const name = `Show ${panelName(this.runs[zoom.r], zoom.kind, this.compare)} at full size`;
      const z = box.appendChild(button("zoom", name, (ev) => { ev.stopPropagation(); this.openZoom(zoom); }));
      z.classList.add("animlib-zoom");
      this.zoomButtons.set(`${zoom.r}:${zoom.kind}`, z); // (where the focus goes back to)
    }
    fig.appendChild(el("figcaption", {}, caption));
    return fig;
  }

  beforeAfter(r, size, zoomable) {
    const box = el("div", { class: "animlib-ba", "data-testid": "animlib-before-after", "data-run": this.runs[r].id });
    box.style.width = `${size.w}px`;
    box.style.height = `${size.h}px`;
    box.appendChild(this.canvas(r, "original", size, "animlib-original"));
    const over = box.appendChild(this.canvas(r, "image", size, "animlib-image"));
    over.classList.add("animlib-over");
    const divider = box.appendChild(el("div", { class: "animlib-divider", role: "slider", tabindex: 0, "aria-label": "before/after divider", "aria-valuemin": 0, "aria-valuemax": 100, "data-testid": "animlib-divider" }));
    box.appendChild(el("span", { class: "animlib-tag animlib-tag-left" }, "original"));
    const tag = box.appendChild(el("span", { class: "animlib-tag animlib-tag-right" }));
    this.labels.push({ r, node: tag, text: (s, shown) => imageStep(s, shown) });
    const show = (v) => {
      box.style.setProperty("--split", `${v}%`);
      divider.setAttribute("aria-valuenow", v.toFixed(0));
      box.dataset.split = v.toFixed(1);
    };
    // one split for the page's divider and the full-size view's: moving one moves both
    this.splits = (this.splits || []).filter((f) => f.box.isConnected);
    this.splits.push({ box, show });
    const set = (pct) => {
      this.split = clamp(pct, 0, 100);
      for (const f of this.splits) f.show(this.split);
    };
    show(this.split === undefined ? 50 : this.split);
    const fromEvent = (ev) => {
      const rect = box.getBoundingClientRect();
      set(((ev.clientX - rect.left) / rect.width) * 100);
    };
    let drag = false;
    box.addEventListener("pointerdown", (ev) => { if (ev.target.closest(".animlib-zoom")) return; drag = true; if (ev.button === 0 && ev.isPrimary) this.hold(); box.setPointerCapture(ev.pointerId); fromEvent(ev); });
    box.addEventListener("pointermove", (ev) => { if (drag) fromEvent(ev); });
    box.addEventListener("pointerup", () => { drag = false; });
    box.addEventListener("pointercancel", () => { drag = false; });
    divider.addEventListener("keydown", (ev) => {
      const delta = { ArrowLeft: -5, ArrowRight: 5, Home: -100, End: 100 }[ev.key];
      if (delta === undefined) return;
      ev.preventDefault();
      ev.stopPropagation();
      set(Number(box.dataset.split) + delta);
    });
    return zoomable ? this.figure(`original | ${imageName(this.runs[r])}: drag the divider`, box, { r, kind: "before-after" }) : box;
  }

  viewerBody() {
    const run = this.runs[0];
    const body = el("div", { class: "animlib-body" });
    const panels = body.appendChild(el("div", { class: "animlib-panels" }));
    if (run.image) {
      const size = displaySize(run.image, 300);
      if (run.image.original) {
        panels.appendChild(this.beforeAfter(0, size, true));
      } else {
        const fig = panels.appendChild(this.figure("", this.canvas(0, "image", size, "animlib-image"), { r: 0, kind: "image" }));
        this.labels.push({ r: 0, node: fig.querySelector("figcaption"), text: (s, shown) => imageStep(s, shown) });
      }
      if (run.image.perturbation) {
        const g = run.image.gain;
        const caption = `perturbation ×${fmtGain(g)} (colours ±${fmtGain(1 / g)})`;  // the colour range, not a budget
        const fig = panels.appendChild(this.figure(caption, this.canvas(0, "perturbation", size, "animlib-perturbation"), { r: 0, kind: "perturbation" }));
        fig.classList.add("animlib-pert-fig"); // (after the table on a narrow page: player.css)
      }
      if (run.image.stride > 1) panels.appendChild(el("p", { class: "animlib-note" }, `Images of every ${ordinal(run.image.stride)} step and of the last are kept (a long run); the table is exact at every step.`));
    }
    if (run.classes) {
      const side = body.appendChild(el("div", { class: "animlib-side" }));
      side.appendChild(el("div", { class: "animlib-side-title" }, "Confidences"));
      const table = new StepTable(run, this.arrays, "0.");
      this.tables.push({ r: 0, table });
      side.appendChild(table.table);
    } else {
      body.appendChild(el("p", { class: "animlib-note" }, "This run logged no confidences."));
    }
    return body;
  }

  compareBody() {
    const cols = compareCols(this.runs.length, this.width);
    const target = compareTarget(this.width, cols);
    this.cols = cols;
    this.sized = []; // {canvas, image}: the images resized with the page
    const grid = el("div", { class: "animlib-grid", style: `--cols:${cols}` });
    this.grid = grid;
    this.titleLinks = []; // {link, text}: cut again for a resized page
    this.runs.forEach((run, r) => {
      const col = grid.appendChild(el("div", { class: "animlib-col", "data-run": run.id }));
      // the title opens the run in the viewer at the step shown (inside the running app: see
      // animlib/in_app_links.py; a new tab with Ctrl or a middle click)
      const title = col.appendChild(el("div", { class: "animlib-col-title" }));
      // (run.title: its name, with its id where another compared run has the same name)
      const link = title.appendChild(el("a", { href: `viewer?run=${encodeURIComponent(run.id)}`, title: `${run.title}: open it in the viewer`, target: "_top", "data-animlib-nav": "" }, fitTitle(run.title, columnWidth(this.width, cols))));
      this.titleLinks.push({ link, text: run.title, r });
      const label = col.appendChild(el("div", { class: "animlib-col-step" }));
      this.labels.push({ r, node: label, text: (s) => `step ${s} of ${run.steps - 1}${s < this.step ? " (its last)" : ""}` });
      if (run.image) {
        const size = displaySize(run.image, target);
        const pics = col.appendChild(el("div", { class: "animlib-pics" }));
        const image = this.canvas(r, "image", size, "animlib-image");
        this.sized.push({ canvas: image, image: run.image });
        pics.appendChild(this.figure(imageName(run), image, { r, kind: "image" }));
        if (run.image.perturbation) {
          const delta = this.canvas(r, "perturbation", size, "animlib-perturbation");
          this.sized.push({ canvas: delta, image: run.image });
          pics.appendChild(this.figure(`Δ ×${fmtGain(run.image.gain)}`, delta, { r, kind: "perturbation" }));
        }
      }
      if (run.classes) {
        const table = new StepTable(run, this.arrays, `${r}.`);
        this.tables.push({ r, table });
        col.appendChild(table.table);
      } else {
        col.appendChild(el("p", { class: "animlib-note" }, "No confidences."));
      }
    });
    return grid;
  }

  makeCurves(width) {
    const series = [];
    if (this.compare) {
      this.runs.forEach((run, r) => {
        const c = run.curves.find((x) => x.role === "true");
        if (c) series.push({ label: run.title, color: RUN_COLORS[r % RUN_COLORS.length], dash: RUN_DASHES[r % RUN_DASHES.length], values: this.arrays[c.array].data });
      });
    } else {
      for (const c of this.runs[0].curves) series.push({ label: c.label, color: ROLE_COLORS[c.role], values: this.arrays[c.array].data });
    }
    if (!series.length) return null;
    const title = this.compare ? "true-class confidence" : "confidence";
    return new Curves(series, this.steps, (s) => this.setStep(s), title, width);
  }

  // -- stepping -------------------------------------------------------------------------------
  runStep(r) {
    return Math.min(this.step, this.runs[r].steps - 1);
  }

  setStep(value, fromPlay) {
    const step = clamp(Math.round(Number(value) || 0), 0, this.steps - 1);
    if (!fromPlay && this.playing) this.pause();
    if (step === this.step) return;
    this.direction = step >= this.step ? 1 : -1;
    if (this.step >= 0 && !fromPlay) this.saySoon(); // (not the first step: nothing changed)
    this.step = step;
    this.root.setAttribute("data-step", String(step));
    this.slider.value = String(step);
    this.stepLabel.textContent = `step ${step} / ${this.steps - 1}`;
    for (const { r, table } of this.tables) table.setStep(this.runStep(r));
    this.showLabels();
    if (this.curves) this.curves.setStep(step);
    this.draw();
    this.scheduleUrl();
    if (this.titleLinks) this.linkSteps();
  }

  // each compared run's title opens it in the viewer at its step shown (kept in the href: a
  // middle click, "open in new tab" and "copy link address" take it too)
  linkSteps() {
    for (const { link, r } of this.titleLinks) {
      link.href = `viewer?run=${encodeURIComponent(this.runs[r].id)}&step=${this.runStep(r)}`;
    }
  }

  // each label at its run's step; those under an image name the step whose image is drawn
  // (a long run keeps every n-th image: step 5001 shows step 5000's)
  showLabels() {
    for (const { r, node, text } of this.labels) {
      const s = this.runStep(r);
      const f = this.frames[r];
      node.textContent = text(s, f ? f.locate(s).shown : s);
    }
  }

  saySoon() {
    clearTimeout(this.sayTimer);
    this.sayTimer = setTimeout(() => {
      const t = !this.compare && this.tables[0] && this.tables[0].table;
      this.said.textContent = `step ${this.step} of ${this.steps - 1}${t ? `, ${t.said()}` : ""}`;
    }, SAY_MS);
  }

  move(delta) {
    this.setStep(this.step + delta);
  }

  draw() {
    this.frames.forEach((f, r) => { if (f) f.want(this.runStep(r), this.direction, this.playing ? 3 : 1); });
    for (const t of this.targets) {
      const f = this.frames[t.r];
      const shown = f.draw(t.canvas, t.kind, this.runStep(t.r));
      t.canvas.classList.toggle("is-loading", shown < 0);
      if (shown >= 0) t.canvas.setAttribute("data-step", String(shown));
    }
  }

  urlStep() {
    const raw = new URLSearchParams(window.location.search).get("step");
    // no step asked: the first, or the newest of a run being written (as a log's tail opens)
    if (raw === null) return this.header.live ? this.steps - 1 : 0;
    const v = Number(raw); // ("1e3" is step 1000, "abc" step 0)
    return Number.isFinite(v) ? clamp(Math.trunc(v), 0, this.steps - 1) : 0;
  }

  // The step goes into the URL at most every URL_DELAY_MS (the step of that moment), so the
  // address keeps up while playing too and the last change always lands.
  scheduleUrl() {
    if (this.urlTimer) return;
    this.urlTimer = setTimeout(() => {
      this.urlTimer = null;
      const url = new URL(window.location.href);
      if (address() !== this.home) return; // navigated meanwhile: that page's address is its own
      if (url.searchParams.get("step") === String(this.step)) return;
      url.search = withStep(url.search, this.step);
      window.history.replaceState(window.history.state, "", url.toString());
    }, URL_DELAY_MS);
  }

  cancelUrl() {
    clearTimeout(this.urlTimer);
    this.urlTimer = null;
  }

  // -- playing --------------------------------------------------------------------------------
  toggle() {
    if (this.playing) this.pause();
    else this.play();
  }

  play() {
    if (this.step >= this.steps - 1) this.setStep(0);
    this.playing = true;
    this.root.setAttribute("data-playing", "");
    this.playButton.replaceChildren(icon("pause"));
    this.playButton.setAttribute("aria-label", "pause (space)");
    let last = performance.now();
    const tick = (now) => {
      if (!this.playing) return;
      const interval = 1000 / (this.fps * this.speed);
      const behind = now - last;
      if (behind >= interval) {
        if (this.step >= this.steps - 1) return this.pause();
        // the steps due: several a frame above the screen's rate (8x of 10 fps is 80 steps a
        // second on a 60 Hz screen); after a stall (a hidden tab, a slow frame) one, then on time
        const stalled = behind > STALL_MS;
        const due = stalled ? 1 : Math.floor(behind / interval);
        const next = Math.min(this.step + due, this.steps - 1);
        if (this.frames.every((f, r) => !f || f.ready(Math.min(next, this.runs[r].steps - 1)))) {
          this.setStep(next, true);
          last = stalled ? now : last + due * interval;
        } else {
          this.frames.forEach((f, r) => { if (f) f.want(Math.min(next, this.runs[r].steps - 1), 1, 3); });
        }
      }
      this.raf = requestAnimationFrame(tick);
    };
    this.raf = requestAnimationFrame(tick);
  }

  pause() {
    if (this.playing) this.saySoon(); // where playback stopped
    this.playing = false;
    cancelAnimationFrame(this.raf);
    this.root.removeAttribute("data-playing");
    this.playButton.replaceChildren(icon("play"));
    this.playButton.setAttribute("aria-label", "play (space)");
  }

  // -- keys -----------------------------------------------------------------------------------
  onKey(ev) {
    const target = ev.target;
    if (target instanceof HTMLSelectElement) return;
    if (target instanceof HTMLButtonElement && ev.key === "Enter") return; // (the button's own)
    // space plays wherever the focus is (on a button the browser would click it again): the
    // focus goes to the player first, so the key's release clicks nothing
    if (target instanceof HTMLButtonElement && ev.key === " ") (this.overlay || this.root).focus({ preventScroll: true });
    const big = ev.shiftKey ? 10 : 1;
    const actions = {
      ArrowRight: () => this.move(big),
      ArrowLeft: () => this.move(-big),
      PageDown: () => this.move(10),
      PageUp: () => this.move(-10),
      Home: () => this.setStep(0),
      End: () => this.setStep(this.steps - 1),
      " ": () => this.toggle(),
      k: () => this.toggle(),
      Escape: () => this.closeZoom(),
    };
    const action = actions[ev.key];
    if (!action || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    ev.preventDefault();
    ev.stopPropagation();
    action();
  }

  // -- zoom -----------------------------------------------------------------------------------
  openZoom(what) {
    this.closeZoom();
    this.zoomed = what;
    const image = this.runs[what.r].image;
    // a whole zoom (every pixel the same square), or an image larger than the window fitted
    // to it (a 1024-px image in an 800-px window was cut off, its note out of reach)
    const fit = Math.min((window.innerWidth * 0.92) / image.width, (window.innerHeight * 0.82) / image.height);
    const f = fit >= 1 ? Math.floor(fit) : fit;
    const size = { w: Math.max(1, Math.floor(image.width * f)), h: Math.max(1, Math.floor(image.height * f)) };
    const scale = f >= 1 ? `each pixel ${f}×${f} on screen` : `shown at ${Math.floor(f * 100)} %`;
    const count = this.targets.length;
    this.zoomLabels = this.labels.length;
    const content = what.kind === "before-after" ? this.beforeAfter(what.r, size, false) : this.canvas(what.r, what.kind, size, `animlib-zoom-${what.kind}`);
    this.zoomTargets = this.targets.slice(count);
    const overlay = el("div", { class: "animlib-overlay", "data-testid": "animlib-zoom", role: "dialog", "aria-modal": "true", "aria-label": `${panelName(this.runs[what.r], what.kind, this.compare)} at full size`, tabindex: -1 });
    overlay.appendChild(content);
    const close = overlay.appendChild(button("close", "close the full-size view (Esc)", () => this.closeZoom()));
    close.classList.add("animlib-overlay-close");
    // which panel at which step (the page's step counter is behind the overlay); the zoom
    // said as a display size, not written like the perturbation's gain
    const run = this.runs[what.r];
    const name = imageName(run);
    // (the gain only for the perturbation: a run without an original has none, and formatting
    // it for every panel threw, so no panel of such a run opened)
    const panels = { "before-after": () => `original | ${name}`, image: () => name, perturbation: () => `perturbation ×${fmtGain(image.gain)}` };
    const panel = panels[what.kind] ? panels[what.kind]() : what.kind;
    const who = this.runs.length > 1 ? `${run.id} · ` : "";
    const note = overlay.appendChild(el("div", { class: "animlib-overlay-note", "data-testid": "animlib-zoom-note" }));
    this.labels.push({ r: what.r, node: note, text: (s, shown) => `${who}${panel} · ${imageStep(s, shown)} of ${run.steps - 1} · ${scale} · ← → step · Esc or click outside closes` });
    overlay.addEventListener("pointerdown", (ev) => { if (ev.target === overlay) this.closeZoom(); });
    overlay.addEventListener("keydown", (ev) => this.trapTab(ev));
    this.root.appendChild(overlay);
    this.overlay = overlay;
    this.trap(true);
    overlay.focus({ preventScroll: true });
    this.showLabels();
    this.draw();
  }

  closeZoom() {
    if (!this.overlay) return;
    this.trap(false);
    this.targets = this.targets.filter((t) => !this.zoomTargets.includes(t));
    this.labels.length = this.zoomLabels;
    this.overlay.remove();
    this.overlay = null;
    // back to the button that shows this panel (as a dialog gives the focus back to its opener)
    const opener = this.zoomButtons.get(`${this.zoomed.r}:${this.zoomed.kind}`);
    (opener && opener.isConnected ? opener : this.root).focus({ preventScroll: true });
  }

  // The full-size view is modal: the page under it is hidden, so Tab cycles through the view's
  // own controls, focus moved out of it (a script, the page's own widgets) comes back, and
  // Escape closes it wherever the focus is (the player's keys listen only on its root).
  trap(on) {
    if (!this.trapped) {
      this.trapped = {
        focusin: (ev) => { if (this.overlay && !this.overlay.contains(ev.target)) this.overlay.focus({ preventScroll: true }); },
        keydown: (ev) => { if (this.overlay && ev.key === "Escape" && !this.root.contains(ev.target)) { ev.preventDefault(); this.closeZoom(); } },
      };
    }
    for (const [name, fn] of Object.entries(this.trapped)) {
      if (on) document.addEventListener(name, fn, true);
      else document.removeEventListener(name, fn, true);
    }
  }

  trapTab(ev) {
    if (ev.key !== "Tab" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    ev.preventDefault();
    const stops = [...this.overlay.querySelectorAll("button, input, select, a[href], [tabindex='0']")].filter((n) => !n.disabled);
    if (!stops.length) return;
    const at = stops.indexOf(document.activeElement);
    const next = ev.shiftKey ? (at <= 0 ? stops.length - 1 : at - 1) : (at + 1) % stops.length;
    stops[next].focus({ preventScroll: true });
  }

  // A comparison's images follow the page's width (a resized window, the sidebar opened; the
  // curves watch their own width and are drawn again for it).
  resized(width) {
    if (!width || width === this.width) return;
    this.width = width;
    if (!this.compare) return;
    const cols = compareCols(this.runs.length, width);
    if (cols !== this.cols && this.grid) {  // (a phone turned, a window narrowed)
      this.cols = cols;
      this.grid.style.setProperty("--cols", String(cols));
    }
    const target = compareTarget(width, this.cols);
    for (const { link, text } of this.titleLinks) link.textContent = fitTitle(text, columnWidth(width, this.cols));
    for (const { canvas, image } of this.sized) {
      const size = displaySize(image, target);
      canvas.style.width = `${size.w}px`;
      canvas.style.height = `${size.h}px`;
    }
  }

  destroy() {
    if (this.held && this.unhold) { this.onRelease = null; this.unhold(); }
    if (this.observer) this.observer.disconnect();
    if (this.curves) this.curves.close();
    this.pause();
    this.cancelUrl();
    if (this.overlay) this.trap(false);
    clearTimeout(this.sayTimer);
    clearInterval(this.urlWatch);
    for (const f of this.frames) if (f) f.close();
    for (const { table } of this.tables) table.close();
    this.root.remove();
  }
}

// Streamlit calls this again with the new data when a rerun changes it, without calling the
// previous cleanup first (that runs only on unmount): so replace the player mounted here.
const MOUNTED = new WeakMap();

export default function ({ data, parentElement }) {
  const previous = MOUNTED.get(parentElement);
  if (previous && previous.held && previous.held()) {
    previous.later(() => { if (MOUNTED.get(parentElement) === previous) mount(data, parentElement); });
  } else {
    mount(data, parentElement);
  }
  return () => { const current = MOUNTED.get(parentElement); if (current) current(); };
}

function mount(data, parentElement) {
  const previous = MOUNTED.get(parentElement);
  const carried = previous && previous.carried ? previous.carried() : null;
  if (previous) previous();
  let cleanup;
  let carry = null;
  let held = null;
  let later = null;
  try {
    const player = new Player(parsePayload(data), parentElement, carried);
    cleanup = () => player.destroy();
    carry = () => player.carried();
    held = () => player.held;
    later = (then) => player.afterRelease(then);
  } catch (err) {
    const box = el("div", { class: "animlib-error", role: "alert" }, `The player cannot start: ${err && err.message ? err.message : err}`);
    parentElement.appendChild(box);
    cleanup = () => box.remove();
  }
  let done = false;
  const once = () => {
    if (done) return;
    done = true;
    if (MOUNTED.get(parentElement) === once) MOUNTED.delete(parentElement);
    cleanup();
  };
  once.carried = carry;
  once.held = held;
  once.later = later;
  MOUNTED.set(parentElement, once);
}
