/*
 * Incident pages (no inline script: the CSP forbids it).
 * - Countdowns: the server renders each clock's text and its due time
 *   (<time data-countdown-due="ISO">); this ticks the text every second.
 * - Toasts: when the notification inbox re-renders with unread items newer than the last one
 *   this browser showed, a Bootstrap toast says so.
 * - Charts: chart fragments carry their Plotly figure as JSON (json_script); draw them once
 *   they are swapped in (figures are loaded lazily, hx-trigger="load").
 */
(function () {
  "use strict";

  function format(seconds) {
    var sign = seconds < 0 ? "-" : "";
    seconds = Math.abs(seconds);
    var h = Math.floor(seconds / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    var mm = h ? String(m).padStart(2, "0") : String(m);
    return sign + (h ? h + ":" : "") + mm + ":" + String(s).padStart(2, "0");
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-countdown-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-countdown-due"));
      if (isNaN(due)) { return; }
      var seconds = Math.round((due - now) / 1000);
      el.textContent = format(seconds);
      var row = el.closest(".countdown");
      if (row) { row.classList.toggle("overdue", seconds < 0); }
    });
  }

  function toasts(root) {
    // The first inbox this browser tab sees is the baseline; only newer items toast.
    var stored = sessionStorage.getItem("incident-toast-last");
    var items = (root || document).querySelectorAll("[data-toast-id]");
    var last = stored === null ? null : parseInt(stored, 10);
    var newest = last === null ? 0 : last;
    var host = document.getElementById("incident-toasts");
    items.forEach(function (item) {
      var id = parseInt(item.getAttribute("data-toast-id"), 10);
      if (id > newest) { newest = id; }
      if (last === null || id <= last || !host || !window.bootstrap) { return; }
      var toast = document.createElement("div");
      toast.className = "toast align-items-center text-bg-dark border-0";
      toast.setAttribute("role", "status");
      var body = document.createElement("div");
      body.className = "toast-body";
      body.textContent = item.getAttribute("data-toast-text");
      toast.appendChild(body);
      host.appendChild(toast);
      new bootstrap.Toast(toast, { delay: 8000 }).show();
    });
    if (document.getElementById("incident-inbox")) {
      sessionStorage.setItem("incident-toast-last", String(newest));
    }
  }

  function charts(root) {
    (root || document).querySelectorAll("[data-plotly-figure]").forEach(function (el) {
      if (el.getAttribute("data-drawn") || !window.Plotly) { return; }
      var source = document.getElementById(el.getAttribute("data-plotly-figure"));
      if (!source) { return; }
      var figure = JSON.parse(source.textContent);
      el.setAttribute("data-drawn", "1");
      Plotly.newPlot(el, figure.data, figure.layout, { responsive: true, displaylogo: false });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
    toasts(document);
    charts(document);
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.target.closest && event.target.closest("form[data-reset-on-success]");
    var message = document.getElementById("action-result-message");
    if (form && event.detail.successful && message && message.classList.contains("alert-success")) {
      form.reset();
    }
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    tick();
    toasts(event.target);
    charts(event.target);
  });
})();
