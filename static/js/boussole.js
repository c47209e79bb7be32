// Every page (templates/base.html). The Content-Security-Policy allows no
// inline script, handler or style attribute, so what templates used to say
// inline lives here:
// - data-width="NN" sets a bar's width to NN% and data-height="NN" a box's
//   height to NN px (style set from script is allowed; style="" is not);
// - a <select data-autosubmit> submits its form when it changes.
(function () {
  function size(root) {
    var scope = root && root.querySelectorAll ? root : document;
    scope.querySelectorAll("[data-width]").forEach(function (el) {
      el.style.width = Math.max(0, Math.min(100, parseFloat(el.dataset.width) || 0)) + "%";
    });
    scope.querySelectorAll("[data-height]").forEach(function (el) {
      el.style.height = (parseFloat(el.dataset.height) || 0) + "px";
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { size(document); });
  } else {
    size(document);
  }
  // Content htmx swaps in (a period switch, a filtered list).
  document.addEventListener("htmx:afterSettle", function (event) { size(event.target); });
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select.matches && select.matches("select[data-autosubmit]") && select.form) select.form.submit();
  });
})();
