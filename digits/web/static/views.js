// The answers as HTML, from the results dict that the browser's models and the server both
// make (see digits/web/__init__.py, RESULTS). The one place this HTML is written: the app
// inlines this function into its gr.HTML templates, the static page calls it directly.
// No backticks, no dollar-brace and no double braces here: the app puts this source inside a
// JS template string that Gradio also reads as Handlebars.
function digitsRender(v, part) {
  "use strict";
  var UNSURE_BELOW = 0.8;
  var SHORT_OF_CERTAIN = 0.9995; // from here to 1, a probability shows as ">99.9%"
  var REFUSAL = "That doesn't look like a digit";
  var esc = function (s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  };
  // A probability as a visitor reads it: whole percents, but one short of certain never reads
  // as 100% (99.7% stays 99.7%, 0.9999 is ">99.9%"), nor a small one as 0% ("<1%"). ui/views.percent.
  // Text, not HTML: escaped where it goes into the page, like every other text.
  var pct = function (p) {
    var whole = Math.round(100 * p);
    if (whole >= 100 && p < 1) return p < SHORT_OF_CERTAIN ? (100 * p).toFixed(1) + "%" : ">99.9%";
    return whole <= 0 && p > 0 ? "<1%" : whole + "%";
  };
  var pct1 = function (p) {  // one decimal, for the table and the top three
    if (p > 0 && p < 1 - SHORT_OF_CERTAIN) return "<0.1%";
    return p < 1 && p >= SHORT_OF_CERTAIN ? ">99.9%" : (100 * p).toFixed(1) + "%";
  };
  var argmax = function (a) { var b = 0; for (var i = 1; i < a.length; i++) if (a[i] > a[b]) b = i; return b; };
  var ranked = function (a) { return a.map(function (p, d) { return [d, p]; }).sort(function (x, y) { return y[1] - x[1]; }); };
  v = v || {};
  var number = v.mode === "number";
  var where = v.where ? "<div class='where'>answered " + (v.where === "browser" ? "in your browser" : "on the server") + "</div>" : "";
  var hint = number ? "Write a number" : "Draw a digit";

  function seenSvg(img) {
    var rects = [];
    for (var i = 0; i < img.length; i++) {
      if (img[i] > 0.02) {
        var g = Math.round(255 * (1 - Math.min(1, img[i])));
        rects.push("<rect x='" + (i % 28) + "' y='" + Math.floor(i / 28) + "' width='1.02' height='1.02' fill='rgb(" + g + "," + g + "," + g + ")'/>");
      }
    }
    return "<svg class='seen28' viewBox='0 0 28 28' shape-rendering='crispEdges' role='img' aria-label='the 28x28 image the models see'>" +
      "<rect width='28' height='28' fill='#fff'/>" + rects.join("") + "</svg>";
  }

  var models = v.models || [];
  var chosen = models.filter(function (m) { return m.name === v.selected; })[0] || models[0];

  function answerBlock() {
    if (v.error) return "<div id='answer' class='answer error'><div class='hint'>" + esc(v.error) + "</div></div>";
    if (v.empty || !chosen && !number) {
      var why = v.empty && v.empty !== "no ink" ? " (" + esc(v.empty) + ")" : "";
      return "<div id='answer' class='answer empty'><div class='hint'>✍️ " + hint + why + "</div></div>";
    }
    if (number) {
      var r = (v.readings || []).filter(function (x) { return x.name === v.selected; })[0] || (v.readings || [])[0];
      if (!r) return "<div id='answer' class='answer empty'><div class='hint'>✍️ " + hint + "</div></div>";
      if (r.refused) {
        return "<div id='answer' class='answer refused'><div class='refusal'>" + REFUSAL + "</div><div class='note'>" +
          esc(r.display) + ": " + esc(r.why || "") + "</div></div>";
      }
      return "<div id='answer' class='answer'><div class='digit'>" + esc(r.text) + "</div><div class='note'>" + esc(r.display) +
        ": " + r.digits + " digit" + (r.digits === 1 ? "" : "s") + ", " + esc(pct(r.confidence)) + " sure" +
        (r.digits > 1 ? " of them all" : "") + "</div></div>";
    }
    var best = argmax(chosen.probs), top = chosen.probs[best];
    if (chosen.refused) {
      var several = !v.several ? "" : "<div class='note number-hint'>Several digits? " +
        (v.numbers === false ? "This page reads one digit at a time." : "Choose “A number” under Write.") + "</div>";
      return "<div id='answer' class='answer refused'><div class='refusal'>" + REFUSAL + "</div><div class='note'>" +
        esc(chosen.display) + ": best guess " + best + " (" + esc(pct(top)) + ")</div>" + several + "</div>";
    }
    var unsure = top < UNSURE_BELOW;
    return "<div id='answer' class='answer" + (unsure ? " unsure" : "") + "'><div class='digit'>" + best +
      "</div><div class='note'>" + esc(chosen.display) + ": " + (unsure ? "not sure: maybe " + best : esc(pct(top)) + " sure") + "</div></div>";
  }

  function probsBlock() {
    if (number || !chosen || v.empty || chosen.refused) return "";
    return "<div class='probs'>" + ranked(chosen.probs).slice(0, 3).map(function (x) {
      return "<div class='prob'><span class='d'>" + x[0] + "</span><span class='bar'><span style='width:" +
        (100 * x[1]).toFixed(1) + "%'></span></span><span class='p'>" + esc(pct1(x[1])) + "</span></div>";
    }).join("") + "</div>";
  }

  function seenBlock() {
    if (v.empty) return "";
    if (number && v.picture) return "<figure class='seen'><img class='reading' src='" + v.picture + "' alt='your number with each digit boxed'/><figcaption>Each digit's box, and the 28×28 each model saw</figcaption></figure>";
    if (!v.seen) return "";
    return "<figure class='seen'>" + seenSvg(v.seen) + "<figcaption>What the models see (28×28)</figcaption></figure>";
  }

  function tableBlock() {
    var rows = [], verdict;
    if (number) {
      var texts = (v.readings || []).map(function (r) { return r.refused ? "not a digit" : r.text; });
      var maj = majority(texts, texts[(v.readings || []).map(function (r) { return r.name; }).indexOf(v.selected)]);
      (v.readings || []).forEach(function (r, i) {
        rows.push([r.display, texts[i] || "–", r.refused ? null : r.confidence, r.digits + " digit" + (r.digits === 1 ? "" : "s"), r.ms, texts[i] !== maj]);
      });
      verdict = !texts.length ? "" : rows.every(function (x) { return !x[5]; }) ?
        (maj === "not a digit" ? "No model reads a number here." : "All models read the same number.") :
        "The models disagree: " + rows.filter(function (x) { return x[5]; }).length + " of " + rows.length + " read it otherwise.";
      return table(["model", "reading", "confidence", "digits", "latency"], rows, verdict);
    }
    var said = models.map(function (m) { return m.refused ? "not a digit" : String(argmax(m.probs)); });
    var m2 = majority(said, said[models.indexOf(chosen)]);
    models.forEach(function (m, i) {
      var r = ranked(m.probs), other = m.refused ? r[0] : r[1];
      rows.push([m.display, said[i], r[0][1], (m.refused ? "guess " : "") + other[0] + " (" + pct(other[1]) + ")", m.ms, said[i] !== m2]);
    });
    var odd = rows.filter(function (x) { return x[5]; }).length;
    (v.unavailable || []).forEach(function (u) { rows.push([u.display, "–", 0, "unavailable: " + u.why, 0, false]); });
    verdict = odd ? "The models disagree: " + odd + " of " + rows.length + " say otherwise." :
      m2 === "not a digit" ? "No model thinks this is a digit." : "All models agree.";
    return table(["model", "answer", "confidence", "runner-up", "latency"], rows, verdict);
  }

  // What most models say; on a tie, what the answer above says (shown), so that the rows
  // marked as reading it otherwise never include the model whose answer is shown large.
  function majority(xs, shown) {
    var count = {};
    xs.forEach(function (x) { count[x] = (count[x] || 0) + 1; });
    var best = shown in count ? shown : xs[0];
    xs.forEach(function (x) { if (count[x] > count[best]) best = x; });
    return best;
  }

  // A confidence as a bar in its cell; none for a number no model claims (a piece is not a digit).
  function confCell(p) {
    if (p === null) return "<td class='conf'>–</td>";
    var w = (100 * p).toFixed(1);
    return "<td class='conf' style='background:linear-gradient(90deg, rgba(99,102,241,.25) " + w + "%, transparent " + w + "%)'>" + esc(pct1(p)) + "</td>";
  }

  function table(head, rows, verdict) {
    if (v.empty || !rows.length) return "<div class='compare empty'>Every model's answer appears here as you draw.</div>";
    return "<div class='compare'><div class='verdict'>" + verdict + "</div><table id='compare'><thead><tr>" +
      head.map(function (h) { return "<th>" + h + "</th>"; }).join("") + "</tr></thead><tbody>" +
      rows.map(function (x) {
        return "<tr class='" + (x[5] ? "differs" : "") + "'><td>" + esc(x[0]) + "</td><td class='said'>" + esc(x[1]) +
          "</td>" + confCell(x[2]) + "<td>" + esc(x[3]) +
          "</td><td>" + Number(x[4]).toFixed(2) + " ms</td></tr>";
      }).join("") + "</tbody></table></div>";
  }

  if (part === "line") {
    var a = answerBlock().replace("id='answer' ", "");
    return "<div class='answer-line-box'>" + a + "</div>";
  }
  return "<div class='answers'><div class='top'>" + answerBlock() + probsBlock() + seenBlock() + "</div>" + tableBlock() + where + "</div>";
}
