/* Performance charts: draw what the page put in json_script, nothing more.
   Runs on load and again after each htmx swap of the page body. */
(function () {
  "use strict";
  var charts = {};

  function data(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  // Formats and colours come from the shared theme (static/js/chart-theme.js).
  var theme = window.BoussoleCharts;

  function draw(id, config) {
    if (charts[id]) { charts[id].destroy(); delete charts[id]; }
    var canvas = document.getElementById(id);
    if (!canvas || typeof Chart === "undefined") return;
    var box = canvas.parentElement;
    if (box && box.dataset.height) box.style.height = box.dataset.height + "px";
    charts[id] = new Chart(canvas, config);
  }

  function leaderboard() {
    var d = data("leaderboard-data");
    if (!d) return;
    var fmt = theme.formatter(d.unit, false);
    var axis = theme.formatter(d.unit, true);
    draw("leaderboard-chart", {
      type: "bar",
      data: {
        labels: d.labels,
        datasets: [{
          label: d.label,
          data: d.values,
          backgroundColor: d.labels.map(function (_, i) {
            if (d.mine[i]) return theme.palette.highlight;
            return d.low[i] ? theme.palette.soft : theme.palette.accent;
          }),
        }],
      },
      options: {
        indexAxis: "y",
        plugins: { legend: { display: false }, tooltip: { callbacks: { label: function (c) { return fmt(c.parsed.x); } } } },
        scales: { x: { beginAtZero: true, ticks: { callback: function (v) { return axis(v); } } } },
      },
    });
  }

  function trend() {
    var d = data("trend-data");
    if (!d) return;
    var fmt = theme.formatter("money", false);
    var axis = theme.formatter("money", true);
    draw("trend-chart", {
      data: {
        labels: d.labels,
        datasets: [
          { type: "bar", label: d.revenue_label, data: d.revenue, backgroundColor: theme.palette.accent, order: 2 },
          { type: "line", label: d.target_label, data: d.target, borderColor: theme.palette.bad, backgroundColor: theme.palette.bad,
            borderDash: [6, 4], pointRadius: 3, spanGaps: false, order: 1 },
        ],
      },
      options: {
        plugins: { tooltip: { callbacks: { label: function (c) { return c.dataset.label + ": " + fmt(c.parsed.y); } } } },
        scales: { y: { beginAtZero: true, ticks: { callback: function (v) { return axis(v); } } } },
      },
    });
  }

  function drawAll() { leaderboard(); trend(); }
  document.addEventListener("DOMContentLoaded", drawAll);
  document.addEventListener("htmx:afterSettle", drawAll);
})();
