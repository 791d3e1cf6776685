// The static page: the pad (pad.js, as the app's gr.HTML runs it) and the answers (views.js),
// with the models in this browser. No server beyond the files.
(async function () {
  "use strict";
  const sketch = document.getElementById("sketch");
  const answers = document.getElementById("answers");
  const line = document.getElementById("answer-line");
  const select = document.getElementById("model-dd");
  const status = document.getElementById("status");
  const listeners = {};
  const watchers = [];
  const props = { value: { strokes: [], width: 336, height: 336, pen: 28 }, samples: window.DIGITS_SAMPLES };
  let shown = { mode: "digit", empty: "no ink" };
  const show = (results) => {
    shown = results;
    answers.innerHTML = digitsRender(results);
    line.innerHTML = digitsRender(results, "line");
  };
  show(shown);
  const padCode = await (await fetch("pad.js")).text();
  new Function("element", "trigger", "props", "server", "upload", "watch", padCode)(
    sketch, (name) => (listeners[name] || []).forEach((f) => f()), props, {}, null,
    (name, cb) => watchers.push(cb));
  status.textContent = "Loading the models…";
  const ok = await digitsLocal.init("./", "models/");
  const m = digitsLocal.state.manifest;
  status.textContent = ok ? "The models run in your browser (" + Math.round(digitsLocal.state.loadMs) + " ms to load)."
    : "The models could not load here: " + digitsLocal.state.failed;
  if (!ok) return;
  m.models.forEach((spec) => {
    const o = document.createElement("option");
    o.value = spec.name;
    o.textContent = spec.display + (spec.test_accuracy ? " · " + (100 * spec.test_accuracy).toFixed(2) + "%" : "");
    select.appendChild(o);
  });
  select.value = m.models.some((s) => s.name === "modern") ? "modern" : m.models[0].name;
  const answer = async (pad) => {
    const drawn = pad || props.value, results = await digitsLocal.answer(drawn, select.value);
    // A number? This page has no number mode: the hint says it reads one digit.
    show(Object.assign(results, { several: digitsGroups.severalAfterRefusal(results, drawn), numbers: false }));
  };
  window.digitsAnswer = answer; // the pad calls it after every stroke, Undo and Clear
  select.addEventListener("change", () => answer());
  answer();
})();
