// The "log a deal" dialog: htmx loads the form into it, this opens/closes it.
(function () {
  document.addEventListener("htmx:afterSwap", function (event) {
    // A form that came back with errors: focus its first invalid field, not the page body.
    if (event.detail.target && event.detail.target.id === "deal-dialog-body") {
      var invalid = event.detail.target.querySelector("[aria-invalid=true], .has-error input, .has-error select");
      if (invalid) { invalid.focus(); return; }
    }
    var opener = event.detail.requestConfig && event.detail.requestConfig.elt;
    var id = opener && opener.getAttribute && opener.getAttribute("data-open-dialog");
    if (id) {
      var dialog = document.getElementById(id);
      if (!dialog.open) dialog.showModal();
      var first = dialog.querySelector("input:not([type=hidden]), select, textarea");
      if (first) first.focus();
    }
  });
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-close-dialog]")) {
      var dialog = event.target.closest("dialog");
      if (dialog) dialog.close();
    }
  });
})();
