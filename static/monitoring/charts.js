/*
 * Dashboard charts (no inline script: the CSP forbids it).
 *
 * Every `.chart[data-chart-url]` fetches its panel's JSON (monitoring/views.py chart_data) once
 * the page is up, a few at a time, and draws it with Plotly as SVG (`scatter`, `bar`,
 * `heatmap`: no WebGL contexts at all). Live: console/live.js dispatches `live-message` on
 * <body> for the page's topic; time series then ask only for the points after their last one
 * (`since`) and extend their traces, keeping the window's length; snapshot panels (bars,
 * distributions) re-fetch at most every 15 s. `live-resync` (reconnect, gap, or polling while
 * the socket is down) does the same. An annotation (new or ended) or a settings change re-draws
 * everything.
 */
(function () {
  "use strict";

  var COLORS = ["#2f6fdb", "#26a69a", "#7e57c2", "#ef6c00", "#5c6bc0", "#8d6e63", "#d81b60",
    "#00897b", "#9e9d24", "#546e7a"];
  var LEVEL_COLOR = { warning: "#d39e00", critical: "#c0392b" };
  var SNAPSHOT = { bars: true, queues: true, histogram: true, matrix: true, heatmap: true, polls: true };
  var CONFIG = {
    displaylogo: false, responsive: true, displayModeBar: "hover",
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"]
  };
  var FONT = { family: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size: 11, color: "#3b4452" };
  var MAX_PARALLEL = 3;

  var grid = document.querySelector("[data-chart-range]");
  if (!grid || !window.Plotly) { return; }
  var range = grid.getAttribute("data-chart-range");
  var charts = [];
  var queue = [];
  var running = 0;

  function escapeHtml(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function url(chart, since) {
    var params = new URLSearchParams({ range: range });
    if (chart.module) { params.set("module", chart.module); }
    if (since !== undefined) { params.set("since", String(since)); }
    return chart.url + "?" + params.toString();
  }

  function getJSON(address) {
    return fetch(address, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      });
  }

  // --- a few requests at a time: a page of six charts must not queue up the server --------
  function enqueue(task) {
    queue.push(task);
    pump();
  }

  function pump() {
    while (running < MAX_PARALLEL && queue.length) {
      var task = queue.shift();
      running += 1;
      task().catch(function () { /* shown on the chart */ }).then(function () {
        running -= 1;
        pump();
      });
    }
  }

  // --- figures ------------------------------------------------------------------------------
  function styleTrace(t, i, data) {
    var color = COLORS[i % COLORS.length];
    var unit = t.axis === "y2" ? data.unit2 : data.unit;
    var trace = {
      name: t.name, x: t.x, y: t.y, type: "scatter", mode: "lines",
      line: { color: color, width: 1.8 },
      hovertemplate: "%{y:,.4~g} " + escapeHtml(unit || "") + "<extra>" + escapeHtml(t.name) + "</extra>",
      connectgaps: false
    };
    if (t.axis === "y2") { trace.yaxis = "y2"; }
    switch (t.style) {
      case "dash":
        trace.line.dash = "dot";
        trace.line.width = 1.4;
        break;
      case "area":
        trace.fill = "tozeroy";
        trace.fillcolor = color + "22";
        break;
      case "stack":
        trace.stackgroup = t.axis === "y2" ? "two" : "one";
        trace.line.width = 1;
        break;
      case "bar":
        trace.type = "bar";
        trace.marker = { color: color };
        delete trace.mode; delete trace.line; delete trace.connectgaps;
        break;
      case "markers":
        trace.mode = "markers";
        trace.marker = { color: "#c0392b", size: 6, symbol: "x" };
        break;
    }
    return trace;
  }

  function buildTraces(data) {
    var traces = data.traces || [];
    if (data.kind === "heatmap") {
      if (!traces.length) { return []; }
      return [{
        type: "heatmap", x: traces[0].x, y: traces.map(function (t) { return t.name; }),
        z: traces.map(function (t) { return t.y; }), colorscale: "YlOrRd", reversescale: true, hoverongaps: false,
        colorbar: { title: { text: data.unit, side: "right" }, thickness: 10 },
        hovertemplate: "%{y}<br>%{x}<br>%{z:,.2f} " + escapeHtml(data.unit) + "<extra></extra>"
      }];
    }
    if (data.kind === "matrix") {
      return traces.filter(function (t) { return t.y.length; }).map(function (t) {
        return {
          type: "heatmap", x: t.x, y: t.y, z: t.z, colorscale: "YlOrRd", reversescale: true, hoverongaps: false,
          texttemplate: "%{z:,.0f}", colorbar: { thickness: 10 },
          hovertemplate: "%{y} · %{x}: %{z:,.0f}<extra></extra>"
        };
      });
    }
    if (data.kind === "queues") {
      return traces.filter(function (t) { return t.y.length; }).map(function (t) {
        return {
          type: "bar", orientation: "h", x: t.x, y: t.y, text: t.text, textposition: "outside", cliponaxis: false,
          marker: { color: t.levels.map(function (l) { return l === "critical" ? "#c0392b" : l === "warning" ? "#e0a800" : "#2f6fdb"; }) },
          hovertemplate: "%{y}: %{x:.1f}% (%{text})<extra></extra>", name: t.name
        };
      });
    }
    if (data.kind === "histogram") {
      return traces.map(function (t) {
        return { type: "bar", x: t.x, y: t.y, width: t.width, name: t.name, marker: { color: "#26a69a" },
          hovertemplate: "score ≈ %{x}: %{y:,.0f} records<extra></extra>" };
      });
    }
    if (data.kind === "bars") {
      return traces.map(function (t, i) {
        return { type: "bar", x: t.x, y: t.y, name: t.name, marker: { color: COLORS[i % COLORS.length] },
          hovertemplate: "%{x} " + escapeHtml(t.name) + ": %{y:,.1f} " + escapeHtml(data.unit) + "<extra></extra>" };
      });
    }
    return traces.map(function (t, i) { return styleTrace(t, i, data); });
  }

  function hasData(traces) {
    return traces.some(function (t) {
      var values = t.z || (t.orientation === "h" ? t.x : t.y) || [];
      return values.some(function (v) {
        return Array.isArray(v) ? v.some(function (w) { return w !== null; }) : v !== null;
      });
    });
  }

  function axisMax(traces, axis, stacked) {
    var max = null;
    var sums = {};
    traces.forEach(function (t) {
      if ((t.yaxis || "y") !== axis || !t.y) { return; }
      var stacks = stacked || t.stackgroup;
      t.y.forEach(function (v, i) {
        if (v === null || v === undefined) { return; }
        if (stacks) { sums[i] = (sums[i] || 0) + v; v = sums[i]; }
        if (max === null || v > max) { max = v; }
      });
    });
    return max;
  }

  function annotationShapes(data, shapes, notes) {
    var from = Date.parse(data.start), to = Date.parse(data.end);
    (data.annotations || []).forEach(function (a) {
      // A note starting near the right edge is labelled leftwards, so it is not cut off.
      var share = (Date.parse(a.start) - from) / ((to - from) || 1);
      var anchor = share > 0.6 ? "right" : "left";
      shapes.push({ type: "rect", xref: "x", yref: "paper", x0: a.start, x1: a.end, y0: 0, y1: 1,
        fillcolor: "rgba(126, 87, 194, 0.09)", line: { width: 0 }, layer: "below" });
      shapes.push({ type: "line", xref: "x", yref: "paper", x0: a.start, x1: a.start, y0: 0, y1: 1,
        line: { color: "#7e57c2", width: 1.5 } });
      var text = a.text.length > 42 ? a.text.slice(0, 41) + "…" : a.text;
      notes.push({ x: a.start, xref: "x", y: 1, yref: "paper", xanchor: anchor, yanchor: "top",
        text: "✎ " + escapeHtml(text), hovertext: escapeHtml(a.text + " — " + a.author + (a.metric ? " (" + a.metric + ")" : "")),
        showarrow: false, font: { size: 10, color: "#5e35b1" }, bgcolor: "rgba(255, 255, 255, 0.85)" });
    });
  }

  function buildLayout(data, traces, el) {
    var timeseries = !SNAPSHOT[data.kind] || data.kind === "heatmap" || data.kind === "polls";
    var hasY2 = traces.some(function (t) { return t.yaxis === "y2"; });
    var legend = traces.length > 1 && data.kind !== "heatmap" && data.kind !== "matrix";
    var percent = /%/.test(data.unit || "") && data.y_max === null;
    var layout = {
      height: el.clientHeight || 270,
      margin: { l: data.kind === "queues" ? 150 : 56, r: hasY2 ? 58 : 16, t: legend ? 30 : 10, b: 34 },
      font: FONT, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      showlegend: legend,
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", font: { size: 10 } },
      hovermode: timeseries && data.kind !== "heatmap" ? "x unified" : "closest",
      barmode: data.stack ? "stack" : "group",
      bargap: data.kind === "histogram" ? 0.04 : 0.15,
      xaxis: { gridcolor: "#eef1f5", linecolor: "#d5dae1", automargin: true },
      yaxis: { title: { text: /^(queues|heatmap|matrix)$/.test(data.kind) ? "" : escapeHtml(data.unit), font: { size: 10 } },
        gridcolor: "#eef1f5", zeroline: false, rangemode: percent ? "normal" : "tozero", automargin: true },
      shapes: [], annotations: []
    };
    if (timeseries) {
      layout.xaxis.type = "date";
      layout.xaxis.range = [data.start, data.end];
    }
    if (data.kind === "queues") {
      layout.xaxis.range = [0, 100];
      layout.xaxis.title = { text: "% of capacity", font: { size: 10 } };
      layout.xaxis.ticksuffix = "%";
    }
    if (data.kind === "histogram") { layout.xaxis.title = { text: "quality score", font: { size: 10 } }; }
    if (data.y_max !== null && data.y_max !== undefined) { layout.yaxis.range = [0, data.y_max * 1.02]; }
    if (hasY2) {
      layout.yaxis2 = { overlaying: "y", side: "right", showgrid: false, zeroline: false, rangemode: /%/.test(data.unit2) ? "normal" : "tozero",
        title: { text: escapeHtml(data.unit2), font: { size: 10 } }, automargin: true };
    }
    // Threshold lines; one far above the data would squash it, so such lines are named in the
    // chart's footer instead of drawn.
    var maxes = { y: axisMax(traces, "y", data.stack), y2: axisMax(traces, "y2", data.stack) };
    (data.thresholds || []).forEach(function (line) {
      var color = LEVEL_COLOR[line.level] || "#6c757d";
      if (line.axis === "x") {
        layout.shapes.push({ type: "line", xref: "x", yref: "paper", x0: line.value, x1: line.value, y0: 0, y1: 1,
          line: { color: color, width: 1.5, dash: "dash" } });
        return;
      }
      var max = line.axis === "y2" ? maxes.y2 : maxes.y;
      var top = data.y_max !== null && data.y_max !== undefined && line.axis === "y" ? data.y_max : null;
      if (max === null || (top === null && line.value > max * 1.6 + 1e-9) || (top !== null && line.value > top)) { return; }
      var yref = line.axis === "y2" ? "y2" : "y";
      layout.shapes.push({ type: "line", xref: "paper", yref: yref, x0: 0, x1: 1, y0: line.value, y1: line.value,
        line: { color: color, width: 1.2, dash: "dash" } });
      layout.annotations.push({ xref: "paper", yref: yref, x: line.axis === "y2" ? 0 : 1, y: line.value,
        xanchor: line.axis === "y2" ? "left" : "right", yanchor: "bottom", showarrow: false,
        text: escapeHtml(line.label || line.level), font: { size: 9, color: color } });
    });
    if (data.baseline !== null && data.baseline !== undefined) {
      layout.shapes.push({ type: "line", xref: "paper", yref: "y", x0: 0, x1: 1, y0: data.baseline, y1: data.baseline,
        line: { color: "#6c757d", width: 1, dash: "dot" } });
      layout.annotations.push({ xref: "paper", yref: "y", x: 0, y: data.baseline, xanchor: "left", yanchor: "bottom",
        showarrow: false, text: "7-day average", font: { size: 9, color: "#6c757d" } });
    }
    if (timeseries) { annotationShapes(data, layout.shapes, layout.annotations); }
    if (!hasData(traces)) {
      layout.annotations.push({ xref: "paper", yref: "paper", x: 0.5, y: 0.5, showarrow: false,
        text: "No data in this range yet", font: { size: 13, color: "#8a9096" } });
      layout.yaxis.range = [0, 1];
      layout.yaxis.showticklabels = false;
    }
    return layout;
  }

  function clock() {
    var now = new Date();
    return [now.getHours(), now.getMinutes(), now.getSeconds()].map(function (n) {
      return String(n).padStart(2, "0");
    }).join(":");
  }

  function setMeta(chart, data, failed) {
    var meta = chart.card.querySelector("[data-chart-meta]");
    var stale = chart.card.querySelector("[data-chart-stale]");
    if (failed) {
      if (meta) { meta.textContent = "could not load (" + failed + ")"; }
      return;
    }
    var step = data.step >= 3600 ? data.step / 3600 + " h" : data.step >= 60 ? data.step / 60 + " min" : data.step + " s";
    if (meta) { meta.textContent = (data.resolution === "raw" ? "raw" : data.resolution + " roll-ups") + " · " + step + " · " + clock(); }
    chart.card.classList.toggle("is-stale", !!data.stale);
    if (stale) { stale.classList.toggle("d-none", !data.stale); }
    var bands = chart.card.querySelector("[data-chart-bands]");
    if (bands && data.bands) {
      bands.textContent = "";
      data.bands.forEach(function (b) {
        var span = document.createElement("span");
        span.className = "band";
        span.textContent = b.name + ": normal " + b.normal + ", warning " + b.warning + ", critical " + b.critical;
        bands.appendChild(span);
      });
    }
  }

  function draw(chart, data) {
    var traces = buildTraces(data);
    chart.data = data;
    chart.keys = {};
    (data.traces || []).forEach(function (t, i) { chart.keys[t.query + "|" + t.name] = i; });
    chart.loadedAt = Date.now();
    setMeta(chart, data);
    chart.el.setAttribute("data-points", String(data.points || 0));
    chart.el.setAttribute("data-drawn", "1");
    return Plotly.react(chart.el, traces, buildLayout(data, traces, chart.el), CONFIG);
  }

  // --- loading and live updates -----------------------------------------------------------
  function load(chart) {
    chart.pendingFull = true;
    enqueue(function () {
      chart.pendingFull = false;
      return getJSON(url(chart)).then(function (data) { return draw(chart, data); })
        .catch(function (error) { setMeta(chart, null, error.message); });
    });
  }

  function extend(chart) {
    var data = chart.data;
    if (!data) { if (!chart.pendingFull) { load(chart); } return; }
    if (SNAPSHOT[data.kind]) {
      if (Date.now() - chart.loadedAt > 15000 && !chart.pendingFull) { load(chart); }
      return;
    }
    // Steps are aligned: nothing new can exist before the next one is due.
    if (Date.now() / 1000 < data.end_ts + data.step || chart.extending || chart.pendingFull) { return; }
    chart.extending = true;
    enqueue(function () {
      return getJSON(url(chart, data.end_ts)).then(function (more) {
        if (chart.data !== data) { return; }  // re-drawn meanwhile (range changed)
        var indices = [], xs = [], ys = [];
        for (var i = 0; i < more.traces.length; i++) {
          var t = more.traces[i];
          var index = chart.keys[t.query + "|" + t.name];
          if (index === undefined) { load(chart); return; }  // a new series: draw afresh
          if (!t.x.length) { continue; }
          indices.push(index); xs.push(t.x); ys.push(t.y);
        }
        data.end_ts = more.end_ts; data.start = more.start; data.end = more.end;
        (data.annotations || []).forEach(function (a) { if (a.open) { a.end = more.end; } });
        setMeta(chart, Object.assign({}, data, { stale: more.stale }));
        if (!indices.length) { return; }
        Plotly.extendTraces(chart.el, { x: xs, y: ys }, indices, data.points || undefined);
        var shapes = [], notes = [];
        var layout = buildLayout(data, chart.el.data, chart.el);
        shapes = layout.shapes; notes = layout.annotations;
        return Plotly.relayout(chart.el, { "xaxis.range": [more.start, more.end], shapes: shapes, annotations: notes });
      }).catch(function (error) { setMeta(chart, null, error.message); })
        .then(function () { chart.extending = false; });
    });
  }

  function pageTopic(topic) {
    return topic === "overview" || topic.indexOf("module.") === 0;
  }

  document.body.addEventListener("live-message", function (event) {
    var detail = event.detail || {};
    if (!pageTopic(detail.topic || "")) { return; }
    if (/^annotation\./.test(detail.event || "") || detail.event === "module.changed") {
      charts.forEach(load);
      return;
    }
    charts.forEach(extend);
  });
  document.body.addEventListener("live-resync", function () { charts.forEach(extend); });

  // --- the time range picker --------------------------------------------------------------
  document.querySelectorAll("#range-picker [data-range]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      event.preventDefault();
      range = button.getAttribute("data-range");
      document.querySelectorAll("#range-picker [data-range]").forEach(function (b) {
        var active = b === button;
        b.classList.toggle("active", active);
        if (active) { b.setAttribute("aria-current", "true"); } else { b.removeAttribute("aria-current"); }
      });
      var address = new URL(location.href);
      address.searchParams.set("range", range);
      history.replaceState(null, "", address.toString());
      charts.forEach(function (chart) { chart.data = null; load(chart); });
    });
  });

  document.querySelectorAll(".chart[data-chart-url]").forEach(function (el) {
    var chart = {
      el: el, card: el.closest(".chart-panel") || el, url: el.getAttribute("data-chart-url"),
      module: el.getAttribute("data-chart-module"), data: null
    };
    charts.push(chart);
    load(chart);
  });

  window.consoleCharts = {
    charts: charts,
    range: function () { return range; }
  };
})();
