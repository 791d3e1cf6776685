// The browser's twin of the reader's first two steps (digits/recognition/pieces.py: strokes,
// group_pieces, attach_fragments): does a pad hold groups of ink side by side, as a number's
// digits are? The static page asks it after a refusal, with no server to ask. Same rules,
// same numbers; the tests hold it to `pieces.several_digits` on the same drawings.
(function (root) {
  "use strict";
  const SPECK_SHARE = 0.02; // PieceRules.speck_share
  const INSIDE_SHARE = 0.6; // PieceRules.inside_share
  const FRAGMENT_HEIGHT = 0.35; // PieceRules.fragment_height
  const FRAGMENT_INK = 0.25; // PieceRules.fragment_ink

  // The pad's ink as `strokes.render_pad` draws it: each pixel's four sub-pixels, inked within
  // the pen's radius of a stroke; clear ink (BBOX_LEVEL, 30%) is two of the four.
  function inkOf(pad) {
    const w = Math.max(1, Math.round(pad.width)), h = Math.max(1, Math.round(pad.height)), r = pad.pen / 2;
    const cover = new Uint8Array(w * h), ink = new Uint8Array(w * h);
    for (const pts of pad.strokes || []) {
      for (let i = 0; i < pts.length; i++) {
        const a = pts[Math.max(0, i - 1)], b = pts[i];
        const x0 = Math.max(0, Math.floor(Math.min(a[0], b[0]) - r)), x1 = Math.min(w - 1, Math.ceil(Math.max(a[0], b[0]) + r));
        const y0 = Math.max(0, Math.floor(Math.min(a[1], b[1]) - r)), y1 = Math.min(h - 1, Math.ceil(Math.max(a[1], b[1]) + r));
        const dx = b[0] - a[0], dy = b[1] - a[1], l2 = dx * dx + dy * dy;
        for (let y = y0; y <= y1; y++) {
          for (let x = x0; x <= x1; x++) {
            for (let sub = 0; sub < 4; sub++) {
              const px = x + 0.25 + 0.5 * (sub & 1) - a[0], py = y + 0.25 + 0.5 * (sub >> 1) - a[1];
              const t = l2 > 0 ? Math.min(1, Math.max(0, (px * dx + py * dy) / l2)) : 0;
              const ex = px - t * dx, ey = py - t * dy;
              if (ex * ex + ey * ey <= r * r) cover[y * w + x] |= 1 << sub;
            }
          }
        }
      }
    }
    const bits = [0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4]; // sub-pixels inked, by bit pattern
    for (let k = 0; k < w * h; k++) ink[k] = bits[cover[k]] >= 2 ? 1 : 0;
    return { ink: ink, w: w, h: h };
  }

  // Connected pieces (8-connectivity), specks dropped: each {x0, y0, x1, y1, ink}, boxes with exclusive ends.
  function pieces(map) {
    const { ink, w, h } = map, seen = new Uint8Array(w * h), out = [], stack = [];
    for (let start = 0; start < w * h; start++) {
      if (!ink[start] || seen[start]) continue;
      const p = { x0: w, y0: h, x1: 0, y1: 0, ink: 0 };
      seen[start] = 1; stack.push(start);
      while (stack.length) {
        const k = stack.pop(), x = k % w, y = (k - x) / w;
        p.ink++; p.x0 = Math.min(p.x0, x); p.x1 = Math.max(p.x1, x + 1); p.y0 = Math.min(p.y0, y); p.y1 = Math.max(p.y1, y + 1);
        for (let yy = Math.max(0, y - 1); yy <= Math.min(h - 1, y + 1); yy++) {
          for (let xx = Math.max(0, x - 1); xx <= Math.min(w - 1, x + 1); xx++) {
            const n = yy * w + xx;
            if (ink[n] && !seen[n]) { seen[n] = 1; stack.push(n); }
          }
        }
      }
      out.push(p);
    }
    const most = Math.max(0, ...out.map((p) => p.ink));
    return byCentre(out.filter((p) => p.ink >= SPECK_SHARE * most));
  }

  const byCentre = (ps) => ps.sort((a, b) => (a.x0 + a.x1) - (b.x0 + b.x1));
  const join = (a, b) => ({ x0: Math.min(a.x0, b.x0), y0: Math.min(a.y0, b.y0), x1: Math.max(a.x1, b.x1),
    y1: Math.max(a.y1, b.y1), ink: a.ink + b.ink });
  const gap = (a, b) => Math.max(0, Math.max(a.x0, b.x0) - Math.min(a.x1, b.x1));

  function belongTogether(a, b) {
    const [narrow, wide] = (a.x1 - a.x0) <= (b.x1 - b.x0) ? [a, b] : [b, a];
    const overlap = Math.min(narrow.x1, wide.x1) - Math.max(narrow.x0, wide.x0);
    return overlap >= INSIDE_SHARE * (narrow.x1 - narrow.x0);
  }

  function groupPieces(ps) {
    const groups = ps.slice();
    for (let merged = true; merged;) {
      merged = false;
      for (let i = 0; i < groups.length && !merged; i++) {
        for (let j = i + 1; j < groups.length && !merged; j++) {
          if (belongTogether(groups[i], groups[j])) { groups[i] = join(groups[i], groups[j]); groups.splice(j, 1); merged = true; }
        }
      }
    }
    return byCentre(groups);
  }

  function median(xs) {
    const s = xs.slice().sort((a, b) => a - b), m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  }

  function attachFragments(groups) {
    const tallest = Math.max(0, ...groups.map((g) => g.y1 - g.y0));
    const small = groups.map((g, k) => (g.y1 - g.y0) < FRAGMENT_HEIGHT * tallest ||
      groups.length > 1 && g.ink < FRAGMENT_INK * median(groups.filter((_, i) => i !== k).map((o) => o.ink)));
    const out = groups.filter((_, k) => !small[k]);
    groups.forEach((piece, k) => {
      if (!small[k]) return;
      if (!out.length) { out.push(piece); return; }
      let near = 0;
      out.forEach((o, i) => { if (gap(piece, o) < gap(piece, out[near])) near = i; });
      out[near] = join(out[near], piece);
    });
    return byCentre(out);
  }

  // Each digit's ink with its fragments, left to right (boxes), as `pieces.digit_groups`.
  function digitGroups(pad) {
    return attachFragments(groupPieces(pieces(inkOf(pad))));
  }

  const several = (pad) => digitGroups(pad).length > 1;

  // The hint's question, asked only where it can matter: the chosen model refused a drawing
  // of several strokes. Does it hold digits side by side (a number written in one-digit mode)?
  function severalAfterRefusal(results, pad) {
    const models = results.models || [];
    const chosen = models.find((m) => m.name === results.selected) || models[0];
    return Boolean(chosen && chosen.refused && pad.strokes.length > 1) && several(pad);
  }

  root.digitsGroups = { digitGroups: digitGroups, several: several, severalAfterRefusal: severalAfterRefusal };
})(typeof window !== "undefined" ? window : globalThis);
