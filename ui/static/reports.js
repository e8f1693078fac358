// The reports' time zone (ui/templates/reports.html): when the address names none, the
// browser's own, if the list has it, instead of the server's default (the first inbox
// calendar's zone, else UTC). Everything else on the page is links and a GET form, and a
// heatmap cell clicked opens its messages (the same link as its number in the table, which
// is the way there from the keyboard).
document.addEventListener("click", function (e) {
  var cell = e.target.closest && e.target.closest(".heat-area rect[data-href]");
  if (cell) window.location.assign(cell.getAttribute("data-href"));
});
(function () {
  "use strict";
  var select = document.getElementById("report-tz");
  if (!select || select.getAttribute("data-named") === "true") return;
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!zone || zone === select.value) return;
  var known = Array.prototype.some.call(select.options, function (o) { return o.value === zone; });
  if (!known) return;
  var url = new URL(window.location.href);
  url.searchParams.set("tz", zone);
  window.location.replace(url.toString());
})();
