// Design system behaviour, loaded in <head> on every page (no inline code:
// the Content-Security-Policy forbids it).
// - html.js: CSS may collapse the navigation only when this script runs.
// - Menus (<details data-menu>): one open at a time; Escape and clicks
//   outside close them, Escape returns focus to the menu's button.
// - The narrow-screen navigation toggle.
// - select[data-autosubmit] submits its form on change (the language select).
// - Toasts: [data-dismiss] removes its message.
// - Scrolling tables get a tab stop.
// - Dialogs: [data-show-dialog=id] opens one, [data-close-dialog] closes it.
document.documentElement.classList.add("js");
(function () {
  function openMenus() {
    return document.querySelectorAll("details[data-menu][open]");
  }
  function closeAll(except) {
    openMenus().forEach(function (menu) {
      if (menu !== except) menu.removeAttribute("open");
    });
  }
  document.addEventListener("toggle", function (event) {
    var menu = event.target;
    if (menu.matches && menu.matches("details[data-menu]") && menu.open) closeAll(menu);
  }, true);
  document.addEventListener("click", function (event) {
    var inside = event.target.closest && event.target.closest("details[data-menu]");
    closeAll(inside);
    var dismiss = event.target.closest && event.target.closest("[data-dismiss]");
    if (dismiss && dismiss.parentElement) dismiss.parentElement.remove();
    // Browsers with Invoker Commands open [commandfor] dialogs themselves.
    var opener = event.target.closest && event.target.closest("[data-show-dialog]");
    var native = opener && opener.hasAttribute("commandfor") && "command" in HTMLButtonElement.prototype;
    if (opener && !native) {
      var target = document.getElementById(opener.getAttribute("data-show-dialog"));
      if (target && !target.open) target.showModal();
    }
    var closer = event.target.closest && event.target.closest("[data-close-dialog]");
    if (closer && closer.closest("dialog")) closer.closest("dialog").close();
    var toggle = event.target.closest && event.target.closest(".nav-toggle");
    if (toggle) {
      var nav = document.getElementById(toggle.getAttribute("aria-controls"));
      var open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      nav.classList.toggle("open", open);
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var menus = openMenus();
    if (!menus.length) return;
    var focused = document.activeElement;
    menus.forEach(function (menu) {
      menu.removeAttribute("open");
      if (menu.contains(focused)) menu.querySelector("summary").focus();
    });
  });
  // A table wider than its box scrolls: make that box reachable by keyboard
  // (and named, from the table's caption or the section's heading).
  function markScrollables() {
    document.querySelectorAll(".table-wrap").forEach(function (box) {
      var scrolls = box.scrollWidth > box.clientWidth + 1;
      if (scrolls && !box.hasAttribute("tabindex")) {
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", "group");
        var section = box.closest("section, article");
        var title = box.querySelector("caption") || (section && section.querySelector("h1, h2, h3"));
        if (title && title.textContent.trim()) box.setAttribute("aria-label", title.textContent.trim());
        else box.setAttribute("aria-label", document.title);
      } else if (!scrolls && box.getAttribute("role") === "group") {
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
        box.removeAttribute("aria-label");
      }
    });
  }
  document.addEventListener("DOMContentLoaded", markScrollables);
  // A dialog whose form came back with errors opens again, focus on its first error.
  document.addEventListener("DOMContentLoaded", function () {
    // ...and so does the dialog a link named (the board's "Won…" goes to #won-dialog).
    var named = location.hash.length > 1 && document.getElementById(location.hash.slice(1));
    var dialog = document.querySelector("dialog[data-open-on-load]") || (named && named.tagName === "DIALOG" && named);
    if (!dialog) return;
    dialog.showModal();
    var bad = dialog.querySelector("[aria-invalid=true], .has-error input, .has-error select, .has-error textarea");
    if (bad) bad.focus();
  });
  document.addEventListener("htmx:afterSettle", markScrollables);
  window.addEventListener("resize", markScrollables);

  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("select[data-autosubmit]")) event.target.form.submit();
  });
})();
