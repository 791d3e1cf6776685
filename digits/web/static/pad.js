// The drawing pad: pointer events (mouse, touch, pen) -> strokes of points in the pad's own
// units, drawn with a round pen. Its value is {strokes, width, height, pen}. The body of a
// gr.HTML js_on_load: `element`, `props`, `trigger` and `watch` come from Gradio, or from the
// static page's shim (digits/web/static/page.js). No dollar-brace or double braces here.
const MIN_STEP = 0.75; // pad units between kept points: smooth, and a short JSON
const ROUND = 10; // points are kept to a tenth of a unit
const NOTIFY_MS = 50; // the pad's change event waits at most this long for the answer
const surface = element.querySelector(".pad-surface");
const canvas = element.querySelector("canvas.pad-canvas");
const ctx = canvas.getContext("2d");
const empty = (v) => !v || !v.strokes || v.strokes.length === 0;
let value = Object.assign({ strokes: [], width: 336, height: 336, pen: 28 }, props.value || {});
let current = null;
let lastSeen = JSON.stringify(props.value || {}); // the last value we gave or took: echoes of it are ignored

function fit() {
  surface.style.aspectRatio = value.width + " / " + value.height;
  const rect = canvas.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.max(1, Math.round(rect.width * dpr));
  canvas.height = Math.max(1, Math.round(rect.height * dpr));
  redraw();
}

function scale() { return canvas.width / value.width; }

function redraw() {
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const k = scale();
  ctx.setTransform(k, 0, 0, k, 0, 0);
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.lineWidth = value.pen;
  ctx.strokeStyle = ctx.fillStyle = "#111";
  for (const s of value.strokes) paint(s, 0);
  element.classList.toggle("has-ink", !empty(value));
}

function paint(s, from) {
  if (s.length === 1) {
    ctx.beginPath();
    ctx.arc(s[0][0], s[0][1], value.pen / 2, 0, 2 * Math.PI);
    ctx.fill();
    return;
  }
  ctx.beginPath();
  ctx.moveTo(s[Math.max(0, from - 1)][0], s[Math.max(0, from - 1)][1]);
  for (let i = Math.max(1, from); i < s.length; i++) ctx.lineTo(s[i][0], s[i][1]);
  ctx.stroke();
}

function toPad(ev) {
  const rect = canvas.getBoundingClientRect();
  const x = (ev.clientX - rect.left) * value.width / rect.width;
  const y = (ev.clientY - rect.top) * value.height / rect.height;
  const clamp = (v, hi) => Math.round(Math.min(hi, Math.max(0, v)) * ROUND) / ROUND;
  return [clamp(x, value.width), clamp(y, value.height)];
}

function commit() {
  value = Object.assign({}, value, { strokes: value.strokes.map((s) => s.slice()) });
  element.classList.toggle("has-ink", !empty(value));
  const notify = () => {
    lastSeen = JSON.stringify(value);
    props.value = value;
    trigger("change");
    if (window.digitsWhyOpen) trigger("input"); // the explanations panel is open: the server explains
  };
  if (!window.digitsAnswer) return notify();
  // Answered at once; the page's own events wait until then (at most NOTIFY_MS), so they do not
  // run between the models' steps.
  const answered = window.digitsAnswer(value);
  Promise.race([answered, new Promise((r) => setTimeout(r, NOTIFY_MS))]).then(notify, notify);
}

canvas.addEventListener("pointerdown", (ev) => {
  if (ev.pointerType === "mouse" && ev.button !== 0) return;
  ev.preventDefault();
  canvas.setPointerCapture(ev.pointerId);
  current = [toPad(ev)];
  value.strokes.push(current);
  redraw();
});

canvas.addEventListener("pointermove", (ev) => {
  if (!current) return;
  ev.preventDefault();
  const events = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [ev];
  const before = current.length;
  for (const e of events.length ? events : [ev]) {
    const p = toPad(e), last = current[current.length - 1];
    if (Math.hypot(p[0] - last[0], p[1] - last[1]) >= MIN_STEP) current.push(p);
  }
  if (current.length > before) {
    const k = scale();
    ctx.setTransform(k, 0, 0, k, 0, 0);
    paint(current, before);
  }
});

const finish = (ev) => {
  if (!current) return;
  current = null;
  if (ev && canvas.hasPointerCapture && canvas.hasPointerCapture(ev.pointerId)) canvas.releasePointerCapture(ev.pointerId);
  commit();
};
canvas.addEventListener("pointerup", finish);
canvas.addEventListener("pointercancel", finish);
canvas.addEventListener("lostpointercapture", finish);

element.querySelector(".pad-undo").addEventListener("click", () => {
  if (empty(value)) return;
  value.strokes.pop();
  redraw();
  commit();
});
element.querySelector(".pad-clear").addEventListener("click", () => {
  value.strokes = [];
  redraw();
  commit();
});

const samples = element.querySelector(".pad-samples");
(props.samples || []).forEach((sample) => {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "pad-btn pad-sample";
  b.textContent = sample.label;
  b.title = "Draw a sample " + sample.label;
  b.addEventListener("click", () => {
    const k = 0.7 * Math.min(value.width, value.height) / sample.height; // the digit fills 70% of the pad
    const dx = (value.width - sample.width * k) / 2, dy = (value.height - sample.height * k) / 2;
    value.strokes = sample.strokes.map((s) => s.map(([x, y]) => [Math.round((dx + x * k) * ROUND) / ROUND, Math.round((dy + y * k) * ROUND) / ROUND]));
    redraw();
    commit();
  });
  samples.appendChild(b);
});

// A new value from outside (the mode's pad size and pen, a cleared pad): take it and redraw.
watch("value", () => {
  const v = props.value || {};
  const seen = JSON.stringify(v);
  if (seen === lastSeen || seen === JSON.stringify(value)) return; // our own value, or a late echo of it
  lastSeen = seen;
  value = Object.assign({ strokes: [], width: value.width, height: value.height, pen: value.pen }, v);
  value.strokes = (value.strokes || []).map((s) => s.slice());
  current = null;
  fit();
});

new ResizeObserver(() => fit()).observe(surface);
fit();
element.querySelector(".pad").classList.add("ready"); // listening: strokes from now on are kept
