/*
 * Change pages (no inline script: the CSP forbids it).
 * - Countdowns (<time data-countdown-due="ISO">): the formal-request and review clocks tick.
 * - Weekly review charts: each [data-chart-url][data-chart-key] element fetches the figure
 *   JSON once (one request per URL) and draws its key with Plotly (SVG traces only).
 */
(function () {
  "use strict";

  function format(seconds) {
    var sign = seconds < 0 ? "overdue by " : "in ";
    seconds = Math.abs(seconds);
    var h = Math.floor(seconds / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    return sign + h + " h " + String(m).padStart(2, "0") + " min";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-countdown-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-countdown-due"));
      if (isNaN(due)) { return; }
      el.textContent = format(Math.round((due - now) / 1000));
      el.classList.toggle("text-danger", due < now);
    });
  }

  var figures = {};
  function charts() {
    if (typeof Plotly === "undefined") { return; }
    document.querySelectorAll("[data-chart-url]").forEach(function (el) {
      var url = el.getAttribute("data-chart-url");
      if (!figures[url]) {
        figures[url] = fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); });
      }
      figures[url].then(function (fig) {
        var part = fig[el.getAttribute("data-chart-key")];
        if (!part) { return; }
        var layout = Object.assign({ margin: { t: 40, r: 10, b: 40, l: 40 }, height: 300,
          legend: { orientation: "h" } }, part.layout);
        Plotly.react(el, part.data, layout, { displayModeBar: false, responsive: true });
        el.setAttribute("data-drawn", "1");
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
    charts();
  });
  document.body && document.body.addEventListener("htmx:afterSwap", tick);
})();
