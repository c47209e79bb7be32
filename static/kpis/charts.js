/* Performance charts: draw what the page put in json_script, nothing more.
   Runs on load and again after each htmx swap of the page body. */
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

  function formatter(d) {
    if (d.unit === "money" || d.unit === "money_per_day") return money(d.currency);
    if (d.unit === "percent") return function (v) { return v.toFixed(1) + " %"; };
    return function (v) { return Number(v).toLocaleString(); };
  }

  function draw(id, config) {
    if (charts[id]) { charts[id].destroy(); delete charts[id]; }
    var canvas = document.getElementById(id);
    if (!canvas || typeof Chart === "undefined") return;
    charts[id] = new Chart(canvas, config);
  }

  function leaderboard() {
    var d = data("leaderboard-data");
    if (!d) return;
    var fmt = formatter(d);
    draw("leaderboard-chart", {
      type: "bar",
      data: {
        labels: d.labels,
        datasets: [{
          label: d.label,
          data: d.values,
          backgroundColor: d.labels.map(function (_, i) {
            if (d.mine[i]) return "#ffbf47";
            return d.low[i] ? "#b8c4d9" : "#1f5fbf";
          }),
          borderRadius: 4,
        }],
      },
      options: {
        indexAxis: "y", maintainAspectRatio: false, animation: false,
        plugins: { legend: { display: false }, tooltip: { callbacks: { label: function (c) { return fmt(c.parsed.x); } } } },
        scales: { x: { beginAtZero: true, ticks: { callback: function (v) { return fmt(v); } } } },
      },
    });
  }

  function trend() {
    var d = data("trend-data");
    if (!d) return;
    var fmt = money(d.currency);
    draw("trend-chart", {
      data: {
        labels: d.labels,
        datasets: [
          { type: "bar", label: d.revenue_label, data: d.revenue, backgroundColor: "#1f5fbf", borderRadius: 4, order: 2 },
          { type: "line", label: d.target_label, data: d.target, borderColor: "#b42318", backgroundColor: "#b42318",
            borderDash: [6, 4], pointRadius: 3, spanGaps: false, order: 1 },
        ],
      },
      options: {
        maintainAspectRatio: false, animation: false,
        plugins: { tooltip: { callbacks: { label: function (c) { return c.dataset.label + ": " + fmt(c.parsed.y); } } } },
        scales: { y: { beginAtZero: true, ticks: { callback: function (v) { return fmt(v); } } } },
      },
    });
  }

  function drawAll() { leaderboard(); trend(); }
  document.addEventListener("DOMContentLoaded", drawAll);
  document.addEventListener("htmx:afterSettle", drawAll);
})();
