// Deal list bulk bar: "select all" for this page's rows, and only the fields
// the chosen action needs (the server checks them all the same).
(function () {
  function sync(form) {
    var action = form.querySelector("select[name=action]");
    if (!action) return;
    form.querySelectorAll("[data-for-action]").forEach(function (field) {
      field.hidden = field.dataset.forAction !== action.value;
    });
  }
  function syncAll() { document.querySelectorAll("form.bulk").forEach(sync); }
  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest("form.bulk");
    if (!form) return;
    if (event.target.matches("[data-select-all]")) {
      form.querySelectorAll("input[name=deals]").forEach(function (box) { box.checked = event.target.checked; });
    }
    if (event.target.name === "action") sync(form);
  });
  document.addEventListener("DOMContentLoaded", syncAll);
  document.addEventListener("htmx:afterSettle", syncAll);
})();
