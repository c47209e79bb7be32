/* The team pulse trend: draw what the page put in json_script, nothing more. */
(function () {
  "use strict";
  function draw() {
    var el = document.getElementById("pulse-data");
    var canvas = document.getElementById("pulse-chart");
    if (!el || !canvas || typeof Chart === "undefined") return;
    var d = JSON.parse(el.textContent);
    new Chart(canvas, {
      type: "line",
      data: { labels: d.labels, datasets: [{ label: "eNPS", data: d.values, borderColor: "#1f5fbf", spanGaps: false }] },
      options: {
        maintainAspectRatio: false, animation: false,
        plugins: { legend: { display: false } },
        scales: { y: { min: -100, max: 100 } },
      },
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
