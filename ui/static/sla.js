// SLA timers (ui/templates/sla.html): every [data-sla-due] on the page ticks on every 30 s
// with no request, in the words the server rendered it with (ui/pages/sla.py countdown()).
// It counts from the server's time of rendering ([data-sla-now]), not the browser's clock,
// which need not agree: the offset between the two is taken when the timer enters the page.
// Past its due time a timer is marked breached here at once; the server says so too (its
// sla.breached event re-renders the panes, app.js), and its render replaces this one.
(function () {
  "use strict";
  var UNITS = [[1440, "day"], [60, "h"], [1, "min"]];

  // Two adjacent units at most: "<1 min", "12 min", "1 h 5 min", "1 day", "2 days 3 h";
  // up: the minutes rounded up (the time left), else down (the time overdue).
  function duration(seconds, up) {
    var minutes = (up ? Math.ceil : Math.floor)(Math.max(seconds, 0) / 60), parts = [], started = false;
    if (minutes < 1) return "<1 min";
    for (var i = 0; i < UNITS.length; i++) {
      var count = Math.floor(minutes / UNITS[i][0]);
      minutes -= count * UNITS[i][0];
      if (started && (!count || parts.length === 2)) break;
      started = started || count > 0;
      if (count) parts.push(count + " " + UNITS[i][1] + (UNITS[i][1] === "day" && count > 1 ? "s" : ""));
    }
    return parts.join(" ");
  }

  function phrase(seconds) {
    return seconds >= 0 ? "due in " + duration(seconds, true) : "overdue by " + duration(-seconds, false);
  }

  function stamp() {
    document.querySelectorAll("[data-sla-due]:not([data-sla-skew])").forEach(function (el) {
      var server = Date.parse(el.dataset.slaNow);
      el.dataset.slaSkew = String(isNaN(server) ? 0 : server - Date.now());
    });
  }

  var LOCAL = {weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit"};
  function tick() {
    stamp();
    document.querySelectorAll("[data-sla-due]").forEach(function (el) {
      var due = Date.parse(el.dataset.slaDue);
      if (isNaN(due)) return;
      var left = (due - Date.now() - Number(el.dataset.slaSkew)) / 1000, text = phrase(left);
      if (el.hasAttribute("data-sla-cap")) text = text.charAt(0).toUpperCase() + text.slice(1);
      if (el.textContent !== text) el.textContent = text;
      var box = el.closest("[data-sla-state]");
      if (!box) return;
      var local = new Date(due).toLocaleString([], LOCAL), title = box.title.replace(/ due .*$/, " due " + local);
      if (box.title && box.title !== title) box.title = title;
      if (left < 0 && box.dataset.slaState !== "breached") {
        box.dataset.slaState = "breached";
        var use = box.querySelector("svg use");
        if (use) use.setAttribute("href", "/static/icons.svg#alert-triangle");
      }
    });
  }

  window.inboxSlaTick = tick;  // the browser tests tick it now instead of waiting
  setInterval(tick, 30000);
  // A live re-render puts fresh timers in the page: take their offset as they arrive, and
  // say their due time in the agent's zone (one pass for a burst of changes).
  var soon = null;
  function arrived() {
    stamp();
    if (soon === null) soon = setTimeout(function () { soon = null; tick(); }, 0);
  }
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    new MutationObserver(arrived).observe(document.body, {childList: true, subtree: true});
  });
})();
