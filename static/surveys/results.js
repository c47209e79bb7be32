// Survey results: draws the two distributions from the json_script data.
// Redrawn after htmx swaps the results in (filters change without reload).
(function () {
  "use strict";
  const charts = {};
  // Colours from the shared theme (static/js/chart-theme.js).
  const p = window.BoussoleCharts ? window.BoussoleCharts.palette : { good: "#116329", warn: "#7a5200", bad: "#a11a12" };
  const colours = {
    nps: (i) => (i >= 9 ? p.good : i >= 7 ? p.warn : p.bad),
    csat: (i) => (i >= 4 ? p.good : i === 3 ? p.warn : p.bad),
  };

  function draw() {
    const node = document.getElementById("survey-chart-data");
    if (!node || typeof Chart === "undefined") return;
    const data = JSON.parse(node.textContent);
    for (const key of ["nps", "csat"]) {
      const canvas = document.getElementById(key + "-chart");
      if (!canvas) continue;
      if (charts[key]) charts[key].destroy();
      charts[key] = new Chart(canvas, {
        type: "bar",
        data: {
          labels: data[key].labels,
          datasets: [{
            label: data.label,
            data: data[key].counts,
            backgroundColor: data[key].labels.map((l) => colours[key](Number(l))),
          }],
        },
        options: {
          maintainAspectRatio: false,
          animation: false,
          plugins: { legend: { display: false } },
          scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
        },
      });
    }
  }

  document.addEventListener("DOMContentLoaded", draw);
  document.body.addEventListener("htmx:afterSettle", draw);
})();
