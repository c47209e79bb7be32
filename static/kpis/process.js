/* The Process page's charts (issue 12): draw what the page put in the
   "process-data" json_script, nothing more. Runs on load and again after each
   htmx swap of the page body. */
(function () {
  "use strict";
  var charts = {};
  var COLOURS = ["#1f5fbf", "#ffbf47", "#b42318", "#2e7d32", "#6a1b9a", "#5f6b7a", "#00838f", "#ef6c00"];

  function data() {
    var el = document.getElementById("process-data");
    return el ? JSON.parse(el.textContent) : null;
  }

  function draw(id, config) {
    if (charts[id]) { charts[id].destroy(); delete charts[id]; }
    var canvas = document.getElementById(id);
    if (!canvas || typeof Chart === "undefined") return;
    charts[id] = new Chart(canvas, config);
  }

  function bars(id, labels, series, stacked) {
    draw(id, {
      type: "bar",
      data: {
        labels: labels,
        datasets: series.map(function (s, i) {
          return { label: s.label, data: s.values, backgroundColor: COLOURS[i % COLOURS.length], borderRadius: 3 };
        }),
      },
      options: {
        maintainAspectRatio: false, animation: false,
        scales: { x: { stacked: stacked }, y: { stacked: stacked, beginAtZero: true } },
      },
    });
  }

  function drawAll() {
    var d = data();
    if (!d) return;
    bars("stage-time-chart", d.stages, d.series, false);
    bars("lost-rep-chart", d.lost_by_rep.labels, d.lost_by_rep.series, true);
    bars("lost-stage-chart", d.lost_by_stage.labels, d.lost_by_stage.series, true);
  }

  document.addEventListener("DOMContentLoaded", drawAll);
  document.addEventListener("htmx:afterSettle", drawAll);
})();
