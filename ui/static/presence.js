// The user's own presence in the top bar (topbar.html#user_menu): the dot on their avatar and
// the Online / Away choice. The menu comes from the server again (/ui/me/presence) whenever
// their presence changes, whatever changed it (this tab, another, the server's inactivity or
// grace period); it stays open if it was. After a choice, the focus goes back to its button.
(function () {
  "use strict";
  var refocus = false;

  function reload() {
    var menu = document.getElementById("user-menu");
    if (!menu) return;
    var wasOpen = menu.open, focused = menu.contains(document.activeElement);
    htmx.ajax("GET", "/ui/me/presence", {source: menu, target: menu, swap: "outerHTML"}).then(function () {
      var fresh = document.getElementById("user-menu");
      if (!fresh || fresh === menu) return;
      if (wasOpen) fresh.open = true;
      var again = wasOpen && fresh.querySelector(".status-choice button[aria-pressed=true]");
      if (focused) (again || fresh.querySelector("summary")).focus();
    });
  }

  document.addEventListener("inbox:event", function (e) {
    var ev = e.detail;
    if (ev.type === "agent.presence_changed" && String(ev.data.user_id) === document.body.dataset.user) reload();
  });

  // Connecting is what makes the user present, and the socket does not hear its own
  // connection's change: once it is ready, the menu is read again.
  document.addEventListener("inbox:ready", reload);

  document.addEventListener("htmx:beforeRequest", function (e) {
    if (e.detail.elt.closest && e.detail.elt.closest(".status-choice")) refocus = true;
  });
  document.addEventListener("htmx:load", function (e) {
    if (!refocus || e.target.id !== "user-menu") return;
    refocus = false;
    e.target.querySelector("summary").focus();
  });
})();
