// The colour theme: light, dark or the system's ("system", the default), kept in
// localStorage. Loaded in <head> without defer, so data-theme is on <html> before the page
// is first painted (no flash of the other theme) without an inline script, which the
// Content-Security-Policy (script-src 'self') forbids. No data-theme: app.css follows
// prefers-color-scheme. The toggle is ui/templates/ui.html's theme_toggle().
(function () {
  "use strict";
  var KEY = "inbox-theme", root = document.documentElement;

  function stored() {
    try { return localStorage.getItem(KEY) || "system"; } catch (e) { return "system"; }  // storage may be off
  }

  function apply(choice) {
    if (choice === "light" || choice === "dark") root.setAttribute("data-theme", choice);
    else root.removeAttribute("data-theme");
    document.querySelectorAll("[data-theme-choice]").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-theme-choice") === choice));
    });
  }

  apply(stored());
  // The toggle's buttons exist only once the body is parsed (and again after a swap).
  document.addEventListener("DOMContentLoaded", function () { apply(stored()); });
  document.addEventListener("htmx:afterSettle", function () { apply(stored()); });
  document.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest("[data-theme-choice]");
    if (!b) return;
    var choice = b.getAttribute("data-theme-choice");
    try { localStorage.setItem(KEY, choice); } catch (err) { /* this tab only, then */ }
    apply(choice);
  });
  window.addEventListener("storage", function (e) { if (e.key === KEY) apply(stored()); });  // another tab chose
})();
