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

  // Below 1100 px the contact pane opens over the conversation (a drawer): the header's
  // person button and the pane's close button toggle it; Escape closes it; focus goes in
  // and comes back.
  function setContactOpen(open) {
    var panes = document.querySelector(".panes");
    if (!panes) return;
    panes.classList.toggle("contact-open", open);
    document.querySelectorAll(".contact-toggle").forEach(function (b) { b.setAttribute("aria-expanded", String(open)); });
    var target = open ? document.querySelector("#contact .contact-close") : document.querySelector(".contact-toggle");
    if (target) target.focus();
  }

  document.addEventListener("click", function (e) {
    if (e.target.closest("[data-contact-toggle]")) {
      var panes = document.querySelector(".panes");
      setContactOpen(!(panes && panes.classList.contains("contact-open")));
    }
  });

  document.addEventListener("keydown", function (e) {
    var panes = document.querySelector(".panes.contact-open");
    if (e.key === "Escape" && panes && panes.querySelector("#contact").contains(document.activeElement)) {
      setContactOpen(false);
    }
  });

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
