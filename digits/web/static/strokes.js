// The browser's twin of digits/recognition/strokes.py: a pad's strokes -> the 28x28 the
// models see. Same constants, same arithmetic (float64), so both give the same image; the
// tests hold the two to each other. Also the answer from the models' probabilities.
(function (root) {
  "use strict";
  const SIZE = 28;
  const INK_BOX = 20;
  const FIELD_CENTRE = 14.0;
  const MNIST_STROKE_LOW = 1.25;
  const MNIST_STROKE_MEDIAN = 2.25;
  const MNIST_STROKE_HIGH = 4.02;
  const MIN_DIGIT_FRACTION = 0.04;
  const STRAY_SIZE = 0.3; // stray.py: a small mark ...
  const STRAY_GAP = 0.05; // ... apart from the rest's box is a tap beside the drawing

  function segments(strokes) {
    const a = [], b = [];
    for (const pts of strokes) {
      if (pts.length === 1) { a.push(pts[0]); b.push(pts[0]); }
      for (let i = 1; i < pts.length; i++) { a.push(pts[i - 1]); b.push(pts[i]); }
    }
    return [a, b];
  }

  // clip(radius + 0.5 - distance to the nearest segment, 0, 1) at each pixel index (x, y).
  function draw28(a, b, radius, sx, sy) {
    const out = new Float64Array(SIZE * SIZE);
    const n = a.length;
    const ax = new Float64Array(n), ay = new Float64Array(n), dx = new Float64Array(n),
      dy = new Float64Array(n), l2 = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      ax[i] = a[i][0] + sx; ay[i] = a[i][1] + sy;
      dx[i] = b[i][0] - a[i][0]; dy[i] = b[i][1] - a[i][1];
      l2[i] = dx[i] * dx[i] + dy[i] * dy[i];
    }
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        let best = Infinity;
        for (let i = 0; i < n; i++) {
          const px = x - ax[i], py = y - ay[i];
          let t = l2[i] > 0 ? (px * dx[i] + py * dy[i]) / l2[i] : 0;
          t = t < 0 ? 0 : t > 1 ? 1 : t;
          const ex = px - t * dx[i], ey = py - t * dy[i];
          const d2 = ex * ex + ey * ey;
          if (d2 < best) best = d2;
        }
        const v = radius + 0.5 - Math.sqrt(best);
        out[y * SIZE + x] = v < 0 ? 0 : v > 1 ? 1 : v;
      }
    }
    return out;
  }

  function centreOfMass(img) {
    let total = 0, sx = 0, sy = 0;
    for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) {
      const v = img[y * SIZE + x]; total += v; sx += x * v; sy += y * v;
    }
    return [sx / total, sy / total];
  }

  // stray.py's rule on boxes [x0, y0, x1, y1]: the stray marks, in the order dropped.
  function strayMarks(boxes) {
    const alive = boxes.map(() => true), dropped = [];
    const unionOf = (ks) => [Math.min(...ks.map((k) => boxes[k][0])), Math.min(...ks.map((k) => boxes[k][1])),
      Math.max(...ks.map((k) => boxes[k][2])), Math.max(...ks.map((k) => boxes[k][3]))];
    const longer = (b) => Math.max(b[2] - b[0], b[3] - b[1]);
    const gap = (a, b) => Math.max(b[0] - a[2], a[0] - b[2], b[1] - a[3], a[1] - b[3], 0);
    for (;;) {
      const live = boxes.map((_, k) => k).filter((k) => alive[k]);
      if (live.length < 2) break;
      const whole = unionOf(live);
      let best = -1, bestShare = 0;
      for (const k of live) {
        const b = boxes[k];
        if (!(b[0] === whole[0] || b[1] === whole[1] || b[2] === whole[2] || b[3] === whole[3])) continue;
        const rest = unionOf(live.filter((i) => i !== k)), reach = longer(rest);
        const share = reach > 0 ? gap(b, rest) / reach : 0;
        if (longer(b) < STRAY_SIZE * reach && share >= STRAY_GAP && share > bestShare) { best = k; bestShare = share; }
      }
      if (best < 0) break;
      alive[best] = false; dropped.push(best);
    }
    return dropped;
  }

  // The strokes less any tap beside the drawing (strokes.without_strays).
  function withoutStrays(strokes, pen) {
    if (strokes.length < 2) return strokes;
    const r = pen / 2;
    const boxes = strokes.map((s) => [Math.min(...s.map((p) => p[0])) - r, Math.min(...s.map((p) => p[1])) - r,
      Math.max(...s.map((p) => p[0])) + r, Math.max(...s.map((p) => p[1])) + r]);
    const drop = new Set(strayMarks(boxes));
    return strokes.filter((_, k) => !drop.has(k));
  }

  // {strokes, width, height, pen} -> {image: Float32Array(784)} or {empty: reason}
  function strokesTo28(value) {
    const clip = (v, hi) => (v < 0 ? 0 : v > hi ? hi : v); // points stay on the pad, as in Python
    const strokes = withoutStrays((value.strokes || []).filter((s) => s.length > 0)
      .map((s) => s.map(([x, y]) => [clip(x, value.width), clip(y, value.height)])), value.pen);
    if (!strokes.length) return { empty: "no ink" };
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const s of strokes) for (const [x, y] of s) {
      if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y;
    }
    const pen = value.pen, extent = Math.max(x1 - x0, y1 - y0);
    if (extent + pen < MIN_DIGIT_FRACTION * Math.max(value.width, value.height)) {
      return { empty: "ink too small to be a digit" };
    }
    let scale = INK_BOX / (extent + pen);
    let width = pen * scale;
    if (!(width >= MNIST_STROKE_LOW && width <= MNIST_STROKE_HIGH) && extent > 0) {
      width = MNIST_STROKE_MEDIAN;
      scale = (INK_BOX - width) / extent;
    }
    const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
    const [a, b] = segments(strokes);
    const sa = a.map(([x, y]) => [(x - cx) * scale, (y - cy) * scale]);
    const sb = b.map(([x, y]) => [(x - cx) * scale, (y - cy) * scale]);
    const first = draw28(sa, sb, width / 2, FIELD_CENTRE, FIELD_CENTRE);
    const [mx, my] = centreOfMass(first);
    const image = draw28(sa, sb, width / 2, 2 * FIELD_CENTRE - mx, 2 * FIELD_CENTRE - my);
    return { image: Float32Array.from(image) };
  }

  root.digitsStrokes = { strokesTo28, strayMarks, SIZE };
})(typeof window !== "undefined" ? window : globalThis);
