// The "log a deal" dialog: htmx loads the form into it, this opens/closes it.
(function () {
  document.addEventListener("htmx:afterSwap", function (event) {
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
