// The lead's board (ui/templates/queue.html). #queue is re-rendered whole, by app.js on every
// live event and by htmx after an assignment or a filter; what the lead is doing survives it:
// the conversations they ticked, each column's scroll, the agents folded or not, the card
// whose "Assign to…" they used (the focus goes to the card that took its place). The waited
// times tick on between renders. A card (or every ticked card, when it is one of them) dragged
// onto an agent is assigned to them; the card's "Assign to…" menu does the same from the
// keyboard, with the choices of the one <template id="assign-options">.
(function () {
  "use strict";
  var ticked = new Set(), scrolls = {}, folded = null, refocus = null, dragged = null, current = null;
  var NARROW = "(max-width: 760px)";

  function cards() { return Array.prototype.slice.call(document.querySelectorAll("#queue .qcard")); }
  function boxes() { return Array.prototype.slice.call(document.querySelectorAll("#queue .qcard > input[type=checkbox]")); }

  // The same words as ui/pages/agent.py waited().
  function waited(s) {
    var m = Math.floor(s / 60);
    if (m < 1) return "<1 min";
    if (m < 60) return m + " min";
    if (m < 1440) return Math.floor(m / 60) + " h" + (m % 60 ? " " + (m % 60) + " min" : "");
    return Math.floor(m / 1440) + " d " + Math.floor(m / 60) % 24 + " h";
  }

  // From the seconds the server counted when it rendered the card, on by the browser's clock
  // since (the server's clock and the browser's need not agree).
  function tick() {
    var now = performance.now();
    document.querySelectorAll("#queue [data-waited]").forEach(function (el) {
      var base = Number(el.dataset.waited);
      if (!isFinite(base)) return;
      if (!el.dataset.t0) el.dataset.t0 = String(now);
      var text = waited(base + (now - Number(el.dataset.t0)) / 1000);
      if (el.textContent !== text) el.textContent = text;
    });
  }
  window.inboxQueueTick = tick;  // the browser tests tick it now instead of waiting
  setInterval(tick, 5000);

  function count() {
    var all = boxes(), on = all.filter(function (b) { return b.checked; }).length;
    var label = document.getElementById("selected-count"), every = document.getElementById("select-all");
    if (label) label.textContent = on ? on + " selected" : "Select all";
    if (every) {
      every.checked = on > 0 && on === all.length;
      every.indeterminate = on > 0 && on < all.length;
      every.closest("label").hidden = all.length === 0;
    }
  }

  // A fresh #queue: put back what the lead was doing.
  function restore() {
    var board = document.getElementById("queue");
    if (!board || board === current) return;
    current = board;
    var present = new Set();
    boxes().forEach(function (b) {
      present.add(b.value);
      if (ticked.has(b.value)) b.checked = true;
      else if (b.checked) ticked.add(b.value);  // kept by app.js, or by the browser on a reload
    });
    ticked.forEach(function (id) { if (!present.has(id)) ticked.delete(id); });  // assigned since
    var agents = document.getElementById("board-agents");
    if (agents && folded === null && matchMedia(NARROW).matches) folded = true;  // a phone starts with the list
    if (agents && folded !== null) agents.open = !folded;
    ["board-waiting", "board-agents"].forEach(function (id) {
      var el = document.getElementById(id);
      if (el && scrolls[id]) el.scrollTop = scrolls[id];
    });
    if (refocus !== null) {
      var all = cards(), card = all[Math.min(refocus, all.length - 1)];
      var target = card ? card.querySelector(".assign-menu summary") : document.getElementById("queue-total");
      if (target) { if (!card) target.tabIndex = -1; target.focus({preventScroll: true}); }
      refocus = null;
    }
    count();
    tick();
  }
  new MutationObserver(restore).observe(document.body, {childList: true});  // #queue is a child of <body>
  document.addEventListener("DOMContentLoaded", restore);

  document.addEventListener("change", function (e) {
    var box = e.target;
    if (box.id === "select-all") {
      boxes().forEach(function (b) { b.checked = box.checked; if (box.checked) ticked.add(b.value); else ticked.delete(b.value); });
    } else if (box.matches(".qcard > input[type=checkbox]")) {
      if (box.checked) ticked.add(box.value); else ticked.delete(box.value);
    } else return;
    count();
  });

  document.addEventListener("scroll", function (e) {
    var el = e.target;
    if (el.id === "board-waiting" || el.id === "board-agents") scrolls[el.id] = el.scrollTop;
  }, true);

  // A card's "Assign to…" gets the choices as it opens: on the click (or Enter) that opens it,
  // before ui.js measures where the panel fits; or when a refresh opens it again (keepOpen).
  function fill(d) {
    var panel = d.querySelector(".menu-panel"), options = document.getElementById("assign-options");
    if (!panel || !options || panel.dataset.filled) return;
    var form = options.content.firstElementChild.cloneNode(true);
    form.querySelector("input[name=conversation]").value = d.closest(".qcard").dataset.conversation;
    panel.replaceChildren(form);
    panel.dataset.filled = "1";
    htmx.process(panel);
  }
  document.addEventListener("click", function (e) {
    var summary = e.target.closest && e.target.closest("#queue .assign-menu > summary");
    if (summary) fill(summary.parentElement);
  }, true);
  document.addEventListener("toggle", function (e) {  // the agents' fold is remembered too
    var d = e.target;
    if (d.id === "board-agents") { folded = !d.open; return; }
    if (!(d instanceof HTMLDetailsElement) || !d.classList.contains("assign-menu") || !d.open) return;
    fill(d);
    var first = d.querySelector(".menu-panel button");
    if (first && d.contains(document.activeElement)) first.focus();  // from the keyboard: into the choices
  }, true);

  document.addEventListener("htmx:beforeRequest", function (e) {
    var card = e.detail.elt.closest && e.detail.elt.closest(".qcard");
    if (card) refocus = cards().indexOf(card);
  });

  function assign(ids, assignee) {
    var values = {conversation: ids, assignee: assignee};
    document.querySelectorAll("#queue-bulk input[type=hidden]:not([name=csrf_token])").forEach(function (i) { values[i.name] = i.value; });
    htmx.ajax("POST", "/queue/assign", {source: "#queue", target: "#queue", swap: "outerHTML", values: values});
  }

  // Drag and drop: a card onto an agent of the board.
  function dropTarget(e) { return e.target.closest && e.target.closest("#queue [data-drop]"); }
  function clearOver() { document.querySelectorAll("#queue .drop-over").forEach(function (el) { el.classList.remove("drop-over"); }); }
  document.addEventListener("dragstart", function (e) {
    var card = e.target.closest && e.target.closest("#queue .qcard");
    if (!card) return;
    var id = card.dataset.conversation, box = card.querySelector("input[type=checkbox]");
    dragged = box && box.checked ? Array.from(ticked) : [id];
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", dragged.join(","));
    (box && box.checked ? cards().filter(function (c) { return ticked.has(c.dataset.conversation); }) : [card])
      .forEach(function (c) { c.classList.add("dragging"); });
  });
  document.addEventListener("dragend", function () {
    dragged = null;
    clearOver();
    document.querySelectorAll("#queue .dragging").forEach(function (c) { c.classList.remove("dragging"); });
  });
  document.addEventListener("dragover", function (e) {
    var target = dropTarget(e);
    if (!target || !dragged) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "move";
    if (!target.classList.contains("drop-over")) { clearOver(); target.classList.add("drop-over"); }
  });
  document.addEventListener("dragleave", function (e) {
    var target = dropTarget(e);
    if (target && !target.contains(e.relatedTarget)) target.classList.remove("drop-over");
  });
  document.addEventListener("drop", function (e) {
    var target = dropTarget(e);
    if (!target || !dragged) return;
    e.preventDefault();
    var ids = dragged;
    clearOver();
    assign(ids, target.dataset.drop);
  });
})();
