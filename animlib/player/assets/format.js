// animlib player, part 1: payload decoding, number formatting and DOM helpers.
// The five asset files are concatenated into one ES module (see component.py); only
// player.js exports. User strings (run and class names) only ever go into textContent.

const MAGIC = "ANLP";
const PAYLOAD_VERSION = 1;
const TYPED = { f4: Float32Array, i4: Int32Array };

// Decode the binary payload made by animlib/player/payload.py: a JSON header and typed-array
// views on the array data (no copy per array: one copy of the whole buffer, for alignment).
function parsePayload(bytes) {
  if (!(bytes instanceof Uint8Array)) throw new Error("player payload missing");
  const buf = bytes.slice().buffer; // own buffer, offset 0: typed views need aligned offsets
  const magic = new TextDecoder("ascii").decode(new Uint8Array(buf, 0, 4));
  const view = new DataView(buf);
  const version = view.getUint32(4, true);
  if (magic !== MAGIC || version !== PAYLOAD_VERSION) throw new Error("unknown player payload");
  const n = view.getUint32(8, true);
  const header = JSON.parse(new TextDecoder("utf-8").decode(new Uint8Array(buf, 12, n)));
  const base = 12 + n + ((8 - ((12 + n) % 8)) % 8);
  const arrays = {};
  for (const [name, spec] of Object.entries(header.arrays || {})) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    arrays[name] = { data: new TYPED[spec.dtype](buf, base + spec.offset, count), shape: spec.shape };
  }
  return { header, arrays };
}

// f"{x:.4f}" exactly as Python prints it. toFixed rounds an exact tie up, Python to even;
// a 4-decimal tie needs x * 10^4 = n + 1/2, which a binary float reaches only when x * 32
// is an odd integer (e.g. 0.03125), so only those are adjusted.
function fmt4(x) {
  if (!Number.isFinite(x)) return x > 0 ? "inf" : x < 0 ? "-inf" : "nan";
  const t = Math.abs(x) * 32;
  if (Number.isInteger(t) && t % 2 === 1) {
    const n = Math.floor(Math.abs(x) * 10000);
    const even = n % 2 === 0 ? n : n + 1;
    return (x < 0 ? "-" : "") + (even / 10000).toFixed(4);
  }
  return x.toFixed(4);
}

// A confidence as the tables show it: fmt4, or "2.0e-9" where fmt4 would read 0.0000 (after an
// attack the true class is often at 1e-9). Same text as animlib.text.confidence_text.
function fmtConf(x) {
  if (Number.isFinite(x) && x !== 0 && Math.abs(x) < 0.00005) {
    const [mantissa, exponent] = x.toExponential(1).split("e");
    return `${mantissa}e${Number(exponent)}`;
  }
  return fmt4(x);
}

function fmtGain(g) {
  return Number(g.toPrecision(3)).toString();
}

// The query `search` with step=N, every other parameter as it was written (URLSearchParams
// would rewrite runs=a,b as runs=a%2Cb, and the link users paste into notes stays readable).
function withStep(search, step) {
  const parts = search.replace(/^\?/, "").split("&").filter((p) => p !== "");
  const at = parts.findIndex((p) => p === "step" || p.startsWith("step="));
  if (at < 0) parts.push(`step=${step}`);
  else parts[at] = `step=${step}`;
  return `?${parts.join("&")}`;
}

// A new element with attributes; text (if any) goes in as textContent, never as HTML.
function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? "" : String(v));
  }
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";

function svgEl(tag, attrs) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  return node;
}

function clamp(v, lo, hi) {
  return Math.min(Math.max(v, lo), hi);
}

// "2nd", "3rd", "11th", "21st": how often an image is kept
function ordinal(n) {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? "th" : { 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th";
  return `${n}${suffix}`;
}

// toolbar buttons and captions of the player (part 5)
const ICONS = {
  first: "M3 3h2v10H3zM13 3v10L6 8z",
  prev: "M12 3v10L5 8z",
  play: "M4 2.5v11L13.5 8z",
  pause: "M4 3h3v10H4zM9 3h3v10H9z",
  next: "M4 3v10l7-5z",
  last: "M11 3h2v10h-2zM3 3v10l7-5z",
  zoom: "M2 2h5v2H4v3H2zM9 2h5v5h-2V4H9zM2 9h2v3h3v2H2zM12 9h2v5H9v-2h3z",
  close: "M3.4 2 8 6.6 12.6 2 14 3.4 9.4 8 14 12.6 12.6 14 8 9.4 3.4 14 2 12.6 6.6 8 2 3.4z",
};

function icon(name) {
  const svg = svgEl("svg", { viewBox: "0 0 16 16", width: 16, height: 16, "aria-hidden": "true" });
  svg.appendChild(svgEl("path", { d: ICONS[name], fill: "currentColor" }));
  return svg;
}

// the caption of an image at step s whose drawn image is of step shown
function imageStep(s, shown) {
  return shown === s ? `step ${s}` : `step ${shown} (the image kept for step ${s})`;
}

function button(name, label, onClick) {
  const b = el("button", { type: "button", class: "animlib-btn", "aria-label": label, title: label, "data-action": name });
  b.appendChild(icon(name));
  b.addEventListener("click", onClick);
  return b;
}
