// Behaviour of the design system's shared components (ui/static/app.css).
//
// Menus, <details class="menu"><summary>…</summary><div class="menu-panel">…</div></details>:
// one open at a time; closed by a click outside, by Escape (focus back on its button) and
// by a choice (a button or link in the panel, unless inside [data-keep-open], e.g. a list of
// label checkboxes); opened upwards or right-aligned when the panel would leave the window.
(function () {
  "use strict";

  function openMenus() { return document.querySelectorAll("details.menu[open]"); }

  document.addEventListener("click", function (e) {
    openMenus().forEach(function (menu) {
      if (!menu.contains(e.target)) { menu.open = false; return; }
      var choice = e.target.closest(".menu-panel button, .menu-panel a");
      // After the click's own work (a form's submit, htmx's request) has started.
      if (choice && !choice.closest("[data-keep-open]")) setTimeout(function () { menu.open = false; }, 0);
    });
  });

  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") return;
    openMenus().forEach(function (menu) {
      menu.open = false;
      if (menu.contains(document.activeElement)) menu.querySelector("summary").focus();
    });
  });

  document.addEventListener("toggle", function (e) {  // toggle does not bubble: caught on the way down
    var menu = e.target;
    if (!(menu instanceof HTMLDetailsElement) || !menu.classList.contains("menu") || !menu.open) return;
    var panel = menu.querySelector(".menu-panel");
    if (!panel) return;
    panel.classList.remove("up", "flip");
    var box = panel.getBoundingClientRect();
    if (box.right > window.innerWidth - 8 && !panel.classList.contains("end")) panel.classList.add("flip");
    if (box.bottom > window.innerHeight - 8 && menu.getBoundingClientRect().top > box.height + 8) panel.classList.add("up");
    openMenus().forEach(function (other) { if (other !== menu) other.open = false; });
  }, true);
})();
