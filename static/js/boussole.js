// Every page (templates/base.html). The Content-Security-Policy allows no
// inline script, handler or style attribute, so what templates used to say
// inline lives here:
// - data-width="NN" sets a bar's width to NN% and data-height="NN" a box's
//   height to NN px (style set from script is allowed; style="" is not);
// - a <select data-autosubmit> submits its form when it changes;
// - a change made before htmx was ready is sent once it is (see below).
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
  // A choice made while htmx was not listening fired its change event into
  // the void: before htmx was ready (the scripts are deferred: a fast hand,
  // a slow connection), or between an htmx swap and its settle (the new
  // content is processed ~20 ms after it appears). When htmx has processed
  // content (htmx:load: the page at start, then each swap), a form in it that
  // htmx sends on change and whose controls no longer hold their initial
  // values is sent now, so no choice is lost. Without htmx, a changed
  // data-autosubmit select submits its form.
  function differs(el) {
    if (el.tagName === "SELECT") {
      if (el.multiple) {
        return Array.prototype.some.call(el.options, function (o) { return o.selected !== o.defaultSelected; });
      }
      var initial = 0;
      for (var i = 0; i < el.options.length; i++) {
        if (el.options[i].defaultSelected) { initial = i; break; }
      }
      return el.options.length > 0 && el.selectedIndex !== initial;
    }
    if (el.type === "checkbox" || el.type === "radio") return el.checked !== el.defaultChecked;
    if (/^(hidden|submit|button|reset|file)$/.test(el.type)) return false;
    return typeof el.defaultValue === "string" && el.value !== el.defaultValue;
  }
  function replay(root, withHtmx) {
    if (!root || !root.querySelectorAll) return;
    var forms = Array.prototype.slice.call(root.querySelectorAll("form"));
    if (root.tagName === "FORM") forms.push(root);
    forms.forEach(function (form) {
      var changed = Array.prototype.filter.call(form.elements, differs);
      if (!changed.length) return;
      var trigger = form.getAttribute("hx-trigger") || "";
      if (withHtmx && /(^|[\s,])change\b/.test(trigger)) {
        window.htmx.trigger(form, "change");
      } else if (!withHtmx && changed.some(function (el) { return el.matches("select[data-autosubmit]"); })) {
        form.submit();
      }
    });
  }
  document.addEventListener("htmx:load", function (event) { replay(event.target, true); });
  document.addEventListener("DOMContentLoaded", function () { replay(document, false); });
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select.matches && select.matches("select[data-autosubmit]") && select.form) select.form.submit();
  });
})();
