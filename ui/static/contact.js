// The contact pane: the customer's local time kept current, and the merge confirmation's
// Cancel. The server renders the time once (with the app's clock); this keeps it ticking.
(function () {
  "use strict";

  function tick() {
    document.querySelectorAll("[data-time-zone]").forEach(function (el) {
      var clock = el.querySelector(".clock");
      if (!clock) return;
      try {
        clock.textContent = new Intl.DateTimeFormat([], {hour: "2-digit", minute: "2-digit", hourCycle: "h23",
          timeZone: el.getAttribute("data-time-zone")}).format(new Date());
      } catch (e) { /* a zone this browser does not know: the server's reading stays */ }
    });
  }

  function everyMinute() {  // on the minute, so the shown time never lags a minute behind
    tick();
    setTimeout(everyMinute, 60000 - (Date.now() % 60000) + 50);
  }

  document.addEventListener("click", function (e) {
    var cancel = e.target.closest("[data-merge-cancel]");
    if (!cancel) return;
    var box = document.getElementById("merge-confirm");
    if (box) box.replaceChildren();
    var search = document.querySelector("#contact .merge-search input");
    if (search) search.focus();
  });

  document.addEventListener("htmx:afterSwap", function (e) {
    if (e.target.id === "merge-confirm") {  // the question, read out and in reach of the keyboard
      var question = e.target.querySelector(".merge-confirm");
      if (question) question.focus();
    }
    tick();
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", everyMinute);
  else everyMinute();
})();
