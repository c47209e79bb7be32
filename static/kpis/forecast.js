/* Forecast charts: draw what the page put in json_script, nothing more.
   A fan per granularity (won so far, the P10–P90 band, P50, the target) and
   the accuracy of past forecasts (the same band against the actual). Runs on
   load and again after each htmx swap of the page body. */
(function () {
  "use strict";
  var charts = {};

  function data(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function money(currency) {
    var fmt = new Intl.NumberFormat(document.documentElement.lang || "en", {
      style: "currency", currency: currency, maximumFractionDigits: 0,
    });
    return function (v) { return fmt.format(v); };
  }

  function draw(canvas, config) {
    if (charts[canvas.id]) { charts[canvas.id].destroy(); delete charts[canvas.id]; }
    if (typeof Chart === "undefined") return;
    charts[canvas.id] = new Chart(canvas, config);
    // A mark people do not see: the browser tests wait on it (no script
    // evaluation, which the page's CSP forbids).
    canvas.dataset.drawn = "true";
  }

  function chart(canvas, withActual) {
    var d = data(canvas.id + "-data");
    if (!d) return;
    var fmt = money(d.currency);
    var sets = [
      { type: "line", label: "P10", data: d.p10, borderColor: "rgba(31,95,191,.35)", pointRadius: 0, fill: false },
      { type: "line", label: d.names.band, data: d.p90, borderColor: "rgba(31,95,191,.35)", pointRadius: 0,
        backgroundColor: "rgba(31,95,191,.15)", fill: "-1" },
      { type: "line", label: d.names.p50, data: d.p50, borderColor: "#1f5fbf", borderWidth: 2, fill: false },
    ];
    if (withActual) {
      sets.push({ type: "line", label: d.names.actual, data: d.actual, borderColor: "#14213d",
        backgroundColor: "#ffbf47", pointRadius: 5, pointStyle: "rectRot", showLine: false });
    } else {
      sets.unshift({ type: "bar", label: d.names.won, data: d.won, backgroundColor: "#9cc3a0", order: 3 });
    }
    if (d.target.some(function (v) { return v !== null; })) {
      sets.push({ type: "line", label: d.names.target, data: d.target, borderColor: "#c0392b",
        borderDash: [6, 4], pointRadius: 0, fill: false, spanGaps: false });
    }
    draw(canvas, {
      data: { labels: d.labels, datasets: sets },
      options: {
        maintainAspectRatio: false, animation: false,
        plugins: {
          legend: { labels: { filter: function (item) { return item.text !== "P10"; } } },
          tooltip: { callbacks: { label: function (c) { return c.dataset.label + ": " + fmt(c.parsed.y); } } },
        },
        scales: { y: { beginAtZero: true, ticks: { callback: function (v) { return fmt(v); } } } },
      },
    });
  }

  function drawAll() {
    document.querySelectorAll("canvas.forecast-fan").forEach(function (c) { chart(c, false); });
    document.querySelectorAll("canvas.forecast-accuracy").forEach(function (c) { chart(c, true); });
  }

  document.addEventListener("DOMContentLoaded", drawAll);
  document.addEventListener("htmx:afterSettle", drawAll);
})();
