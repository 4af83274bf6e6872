/*
 * Capacity charts (no inline script: the CSP forbids it). Each `[data-capacity-chart]` fetches
 * its JSON (monitoring/capacity_views.py chart) and draws history, the projection (dotted) and
 * the sustained maximum and headroom thresholds as horizontal lines.
 */
(function () {
  "use strict";
  if (!window.Plotly) { return; }
  var COLORS = ["#2f6fdb", "#26a69a", "#7e57c2"];
  var LINE = { max: "#3b4452", warning: "#d39e00", critical: "#c0392b" };

  function draw(el, data) {
    var traces = data.traces.map(function (t, i) {
      return {
        name: t.name, x: t.x, y: t.y, type: "scatter", mode: "lines",
        line: { color: COLORS[i % COLORS.length], width: 1.6, dash: t.style === "dash" ? "dot" : "solid" },
        hovertemplate: "%{y:,.0f} rec/s<extra>" + t.name.replace(/</g, "&lt;") + "</extra>"
      };
    });
    var shapes = [], annotations = [];
    data.lines.forEach(function (line) {
      shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, y0: line.value, y1: line.value,
        line: { color: LINE[line.level] || "#888", width: 1, dash: "dash" } });
      annotations.push({ xref: "paper", x: 0, xanchor: "left", y: line.value, yanchor: "bottom",
        text: line.label, showarrow: false, font: { size: 10, color: LINE[line.level] || "#888" } });
    });
    var layout = {
      margin: { l: 50, r: 10, t: 10, b: 30 }, height: 260, showlegend: true,
      legend: { orientation: "h", y: -0.2 }, shapes: shapes, annotations: annotations,
      yaxis: { title: { text: data.unit }, rangemode: "tozero" },
      font: { family: "system-ui, sans-serif", size: 11 }
    };
    window.Plotly.newPlot(el, traces, layout, { displaylogo: false, responsive: true }).then(function () {
      el.setAttribute("data-drawn", "1");
    });
  }

  document.querySelectorAll("[data-capacity-chart]").forEach(function (el) {
    fetch(el.getAttribute("data-capacity-chart"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (data) { draw(el, data); })
      .catch(function (err) { el.textContent = "Chart unavailable (" + err.message + ")."; });
  });
})();
