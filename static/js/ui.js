// Design system behaviour, loaded in <head> on every page (no inline code:
// the Content-Security-Policy forbids it).
// - html.js: CSS may collapse the navigation only when this script runs.
// - Menus (<details data-menu>): one open at a time; Escape and clicks
//   outside close them, Escape returns focus to the menu's button.
// - The narrow-screen navigation toggle.
// - select[data-autosubmit] submits its form on change (the language select).
// - Toasts: [data-dismiss] removes its message.
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
    var opener = event.target.closest && event.target.closest("[data-show-dialog]");
    if (opener) document.getElementById(opener.getAttribute("data-show-dialog")).showModal();
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
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("select[data-autosubmit]")) event.target.form.submit();
  });
})();
