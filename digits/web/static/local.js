// The four models in the visitor's browser: onnxruntime-web (WebAssembly, one thread) runs the
// ONNX files exported from the shipped weights, with each card's temperature and refusal
// threshold, and the models' panel that judges one drawing with all four.
// `digitsLocal.answer(pad, selected)` gives the same results dict as the server.
(function (root) {
  "use strict";
  const state = { ready: false, failed: null, manifest: null, sessions: {}, loadMs: null };

  async function init(runtimeBase, modelsBase) {
    const start = performance.now();
    try {
      if (typeof WebAssembly !== "object" || typeof root.ort === "undefined") {
        throw new Error("this browser cannot run WebAssembly models");
      }
      root.ort.env.wasm.wasmPaths = runtimeBase;
      root.ort.env.wasm.numThreads = 1; // no cross-origin isolation needed
      const response = await fetch(modelsBase + "models.json");
      if (!response.ok) throw new Error("models.json: HTTP " + response.status);
      const manifest = await response.json();
      const sessions = {};
      for (const m of manifest.models) {
        sessions[m.name] = await root.ort.InferenceSession.create(modelsBase + m.file, { executionProviders: ["wasm"] });
      }
      const blank = new root.ort.Tensor("float32", new Float32Array(28 * 28), [1, 1, 28, 28]);
      for (const m of manifest.models) await sessions[m.name].run({ [manifest.input]: blank }); // warm up
      state.manifest = manifest;
      state.sessions = sessions;
      state.ready = true;
      state.loadMs = performance.now() - start;
    } catch (err) {
      state.failed = String(err && err.message || err);
      console.warn("digits: answering on the server:", state.failed);
    }
    return state.ready;
  }

  // Calibrated probabilities, and the energy score T * logsumexp(logits / T) (trust.py).
  function calibrated(logits, temperature) {
    let top = -Infinity;
    const z = Array.from(logits, (v) => v / temperature);
    for (const v of z) top = Math.max(top, v);
    const e = z.map((v) => Math.exp(v - top));
    const sum = e.reduce((a, b) => a + b, 0);
    return { probs: e.map((v) => v / sum), energy: temperature * (top + Math.log(sum)) };
  }

  async function answer(pad, selected) {
    const prepared = root.digitsStrokes.strokesTo28(pad || {});
    const results = { mode: "digit", where: "browser", selected: selected };
    if (prepared.empty) return Object.assign(results, { empty: prepared.empty });
    const m = state.manifest;
    const x = new Float32Array(prepared.image.length);
    for (let i = 0; i < x.length; i++) x[i] = (prepared.image[i] - m.mean) / m.std;
    const input = new root.ort.Tensor("float32", x, [1, 1, 28, 28]);
    results.seen = Array.from(prepared.image, (v) => Math.round(v * 1000) / 1000);
    results.models = [];
    const energies = {};
    for (const spec of m.models) {
      const t = performance.now();
      const out = await state.sessions[spec.name].run({ [m.input]: input });
      const { probs, energy } = calibrated(out[m.output].data, spec.temperature);
      energies[spec.name] = energy;
      const refused = spec.energy_threshold === null || spec.energy_threshold === undefined
        ? Math.max.apply(null, probs) < spec.threshold : energy < spec.energy_threshold;
      results.models.push({ name: spec.name, display: spec.display, probs: probs, refused: refused,
        ms: performance.now() - t });
    }
    const panelRefuses = panelVerdict(m.panel, energies);
    if (panelRefuses !== null) for (const r of results.models) r.refused = panelRefuses;
    return results;
  }

  // The models' panel (trust.Panel): not a digit when the sum of their energies is below its
  // threshold; null when there is no panel or one of its members did not load.
  function panelVerdict(panel, energies) {
    if (!panel || !panel.members.every((name) => name in energies)) return null;
    const sum = panel.members.reduce((total, name) => total + energies[name], 0);
    return sum < panel.energy_threshold;
  }

  root.digitsLocal = { state: state, init: init, answer: answer, get ready() { return state.ready; } };
})(typeof window !== "undefined" ? window : globalThis);
