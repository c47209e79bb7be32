/* "What changed": draw the waterfall the page put in json_script. Floating
   bars: each step goes from the running level before it to the level after. */
(function () {
  "use strict";
  var chart = null;
  var COLOURS = { base: "#1f5fbf", good: "#1a7f37", bad: "#b42318", neutral: "#8a94a6" };

  function format(d) {
    if (d.unit === "money" || d.unit === "money_per_day") {
      var fmt = new Intl.NumberFormat(document.documentElement.lang || "en", {
        style: "currency", currency: d.currency, maximumFractionDigits: 0,
      });
      return function (v) { return fmt.format(v); };
    }
    if (d.unit === "percent") return function (v) { return v.toFixed(1) + " %"; };
    return function (v) { return Number(v).toLocaleString(); };
  }

  function draw() {
    var el = document.getElementById("waterfall-data");
    var canvas = document.getElementById("waterfall-chart");
    if (chart) { chart.destroy(); chart = null; }
    if (!el || !canvas || typeof Chart === "undefined") return;
    var d = JSON.parse(el.textContent);
    var fmt = format(d);
    chart = new Chart(canvas, {
      type: "bar",
      data: {
        labels: d.labels,
        datasets: [{
          label: d.label,
          data: d.bars,
          backgroundColor: d.tones.map(function (t) { return COLOURS[t] || COLOURS.neutral; }),
          borderRadius: 3,
        }],
      },
      options: {
        maintainAspectRatio: false, animation: false,
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: function (c) {
            var bar = c.raw; return fmt(bar[1] - bar[0]);
          } } },
        },
        scales: { y: { ticks: { callback: function (v) { return fmt(v); } } } },
      },
    });
    canvas.setAttribute("data-drawn", "true");
  }

  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
})();
