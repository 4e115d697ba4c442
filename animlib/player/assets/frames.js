// animlib player, part 2: frame strips. Each run's images come as PNG strips (a few steps
// stacked vertically) from the dashboard's own /media/ route; a strip is fetched when a
// step in it (or next to it) is about to be shown, decoded once into an ImageBitmap, and
// frames are cut out of it with drawImage: a step change draws from memory.

const DECODED_BUDGET = 256 * 1024 * 1024; // bytes of decoded strips kept, shared by the runs
const BITMAP_OPTIONS = { colorSpaceConversion: "none", premultiplyAlpha: "none" };
const MISSING_RETRY_MS = [0, 250, 750, 1500]; // waits before asking again for a strip not found

class Frames {
  constructor(image, steps, share, onReady) {
    this.image = image; // header entry: height, width, stride, per_strip, strips, perturbation, original
    this.steps = steps;
    this.onReady = onReady;
    this.strips = new Map(); // index -> {state, image, perturbation}
    this.original = null;
    this.closed = false;
    const stripBytes = image.width * image.height * image.per_strip * 4 * (image.perturbation ? 2 : 1);
    this.keep = Math.max(4, Math.floor(DECODED_BUDGET / share / Math.max(stripBytes, 1)));
    if (image.original) {
      this.fetchBitmap(image.original).then((bm) => {
        if (this.closed) return bm.close();
        this.original = bm;
        this.onReady();
      }).catch(() => {});
    }
  }

  // The stored step shown at `step`, and where it is: {shown, strip, row}.
  // With a stride, the last step's image is stored after the strided ones.
  locate(step) {
    const last = this.steps - 1;
    const stride = this.image.stride;
    const s = clamp(step, 0, last);
    const extra = last % stride !== 0 && s === last;
    const stored = extra ? Math.ceil(this.steps / stride) : Math.floor(s / stride);
    return {
      shown: extra ? last : stored * stride,
      strip: Math.floor(stored / this.image.per_strip),
      row: stored % this.image.per_strip,
    };
  }

  // A strip missing for a moment (404) is asked for again at once, then after a while: the
  // server's media store drops a session's files while its page script reruns, when another
  // session's run ends in that gap, and has them again when the rerun gets to them (a live
  // run's viewer reruns every 2 s; with several sessions, its frames went blank for seconds).
  async fetchBitmap(url) {
    for (let attempt = 0; ; attempt++) {
      const response = await fetch(url, { credentials: "same-origin" });
      if (response.ok) return createImageBitmap(await response.blob(), BITMAP_OPTIONS);
      if (response.status !== 404 || attempt >= MISSING_RETRY_MS.length || this.closed) {
        throw new Error(`HTTP ${response.status} for ${url}`);
      }
      await new Promise((resolve) => setTimeout(resolve, MISSING_RETRY_MS[attempt]));
    }
  }

  load(index) {
    if (index < 0 || index >= this.image.strips.length || this.strips.has(index)) return;
    const entry = { state: "loading", image: null, perturbation: null, used: performance.now() };
    this.strips.set(index, entry);
    const urls = [this.image.strips[index]];
    if (this.image.perturbation) urls.push(this.image.perturbation[index]);
    Promise.all(urls.map((u) => this.fetchBitmap(u))).then(([img, pert]) => {
      if (this.closed || this.strips.get(index) !== entry) {
        img.close();
        if (pert) pert.close();
        return;
      }
      entry.image = img;
      entry.perturbation = pert || null;
      entry.state = "ready";
      this.onReady(index);
    }).catch(() => {
      entry.state = "error";
      setTimeout(() => { if (this.strips.get(index) === entry) this.strips.delete(index); }, 2000);
      this.onReady(index);
    });
  }

  // Fetch what `step` needs and what comes next in the direction of travel; drop far strips.
  want(step, direction, ahead) {
    const { strip } = this.locate(step);
    this.load(strip);
    for (let i = 1; i <= ahead; i++) this.load(strip + (direction < 0 ? -i : i));
    this.load(strip + (direction < 0 ? 1 : -1));
    const entry = this.strips.get(strip);
    if (entry) entry.used = performance.now();
    if (this.strips.size > this.keep) this.evict(strip);
  }

  evict(current) {
    const far = [...this.strips.entries()]
      .filter(([i, e]) => Math.abs(i - current) > 2 && e.state !== "loading")
      .sort((a, b) => a[1].used - b[1].used);
    while (this.strips.size > this.keep && far.length) {
      const [i, e] = far.shift();
      if (e.image) e.image.close();
      if (e.perturbation) e.perturbation.close();
      this.strips.delete(i);
    }
  }

  ready(step) {
    const entry = this.strips.get(this.locate(step).strip);
    return !!entry && entry.state === "ready";
  }

  // Draw `kind` ("image" | "perturbation" | "original") of `step` into `canvas`;
  // returns the stored step drawn, or -1 if its strip is not there yet.
  draw(canvas, kind, step) {
    const { height: h, width: w } = this.image;
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    const ctx = canvas.getContext("2d");
    if (kind === "original") {
      if (!this.original) return -1;
      ctx.clearRect(0, 0, w, h);
      ctx.drawImage(this.original, 0, 0);
      return 0;
    }
    const where = this.locate(step);
    const entry = this.strips.get(where.strip);
    const bitmap = entry && entry.state === "ready" ? entry[kind] : null;
    if (!bitmap) return -1;
    entry.used = performance.now();
    ctx.clearRect(0, 0, w, h);
    ctx.drawImage(bitmap, 0, where.row * h, w, h, 0, 0, w, h);
    return where.shown;
  }

  close() {
    this.closed = true;
    for (const e of this.strips.values()) {
      if (e.image) e.image.close();
      if (e.perturbation) e.perturbation.close();
    }
    this.strips.clear();
    if (this.original) this.original.close();
  }
}
