/*
 * The rule test chart (monitoring/alert_views.py rule_test): the expression's value over the
 * last hour, the threshold as a dashed line and the periods the rule would have fired as shaded
 * spans. The data comes in a json_script element next to the chart (no inline script: CSP).
 */
(function () {
  "use strict";

  var FONT = { family: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size: 11, color: "#3b4452" };

  function draw(root) {
    if (!window.Plotly) { return; }
    (root || document).querySelectorAll("[data-chart-json]").forEach(function (el) {
      if (el.getAttribute("data-drawn")) { return; }
      var source = document.getElementById(el.getAttribute("data-chart-json"));
      if (!source) { return; }
      var data = JSON.parse(source.textContent);
      el.setAttribute("data-drawn", "1");
      window.Plotly.newPlot(el, data.traces, {
        margin: { l: 50, r: 10, t: 10, b: 35 },
        font: FONT,
        showlegend: data.traces.length > 1 && data.traces.length <= 10,
        legend: { orientation: "h", y: -0.25 },
        shapes: data.shapes,
        xaxis: { type: "date", range: data.range },
        yaxis: { zeroline: false }
      }, { displaylogo: false, responsive: true, displayModeBar: "hover" });
    });
  }

  document.addEventListener("htmx:afterSettle", function (event) { draw(event.target); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { draw(document); });
  } else {
    draw(document);
  }
})();
