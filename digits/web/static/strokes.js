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

  // {strokes, width, height, pen} -> {image: Float32Array(784)} or {empty: reason}
  function strokesTo28(value) {
    const clip = (v, hi) => (v < 0 ? 0 : v > hi ? hi : v); // points stay on the pad, as in Python
    const strokes = (value.strokes || []).filter((s) => s.length > 0)
      .map((s) => s.map(([x, y]) => [clip(x, value.width), clip(y, value.height)]));
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

  root.digitsStrokes = { strokesTo28, SIZE };
})(typeof window !== "undefined" ? window : globalThis);
