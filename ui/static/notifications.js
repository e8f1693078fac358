// The notification centre in the top bar (topbar.html, notifications.html): the bell opens
// the panel; notification.created (heard through app.js's "inbox:event") refreshes the
// count from the server and, if the user opted in (/settings), shows a desktop
// notification and plays a short beep, except for the conversation they are looking at.
// A conversation on screen has its notifications marked read.
(function () {
  "use strict";

  function badge() { return document.getElementById("notification-badge"); }
  function panel() { return document.getElementById("notifications-panel"); }
  function button() { return document.getElementById("notifications-button"); }
  function openConversation() { var c = document.getElementById("conversation"); return c && c.dataset.conversation; }
  function looking(cid) { return document.visibilityState === "visible" && String(cid) === openConversation(); }

  function setOpen(open) {
    var p = panel(), b = button();
    if (!p || !b) return;
    p.hidden = !open;
    b.setAttribute("aria-expanded", open ? "true" : "false");
  }

  function refreshCount() { htmx.trigger(document.body, "notifications-changed"); }

  // The conversation on screen: its unread notifications are read now. The badge lists
  // the conversations that have some, so this posts only when there is something to mark.
  function readShown() {
    var b = badge(), cid = openConversation();
    if (!b || !cid || document.visibilityState !== "visible") return;
    if ((b.dataset.conversations || "").split(" ").indexOf(cid) < 0) return;
    htmx.ajax("POST", "/ui/notifications/read", {values: {conversation_id: cid}, target: "#notifications-panel",
                                                 swap: "innerHTML"});
  }

  var audio = null;
  function beep() {  // a short two-tone chime, made here: no sound file to fetch
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      [880, 660].forEach(function (hz, i) {
        var osc = audio.createOscillator(), gain = audio.createGain(), at = audio.currentTime + i * 0.12;
        osc.frequency.value = hz;
        gain.gain.setValueAtTime(0.15, at);
        gain.gain.exponentialRampToValueAtTime(0.001, at + 0.11);
        osc.connect(gain).connect(audio.destination);
        osc.start(at); osc.stop(at + 0.12);
      });
    } catch (ignored) { /* no audio here: the badge still counts */ }
  }

  function title(n) {
    if (n.kind === "assigned") return (n.actor_name || "Someone") + " assigned you " + (n.contact_name || "a conversation");
    if (n.kind === "mentioned") return (n.actor_name || "Someone") + " mentioned you";
    if (n.kind === "new_message") return (n.contact_name || "A customer") + " wrote";
    if (n.kind === "sla_warning") return "SLA due soon: " + (n.contact_name || "a conversation");
    if (n.kind === "sla_breached") return "SLA missed: " + (n.contact_name || "a conversation");
    return "inbox";
  }

  function announce(n) {
    var b = badge();
    if (!b || looking(n.conversation_id)) return;  // on screen already: no popup, no sound
    if (b.dataset.desktop === "true" && "Notification" in window && Notification.permission === "granted") {
      var shown = new Notification(title(n), {body: n.preview || "", tag: "inbox-notification-" + n.id});
      shown.onclick = function () { window.focus(); location.href = "/inbox?c=" + n.conversation_id; };
    }
    if (b.dataset.sound === "true") beep();
  }

  document.addEventListener("inbox:event", function (e) {
    var ev = e.detail;
    if (ev.type !== "notification.created") return;
    refreshCount();
    var p = panel();
    if (p && !p.hidden) htmx.ajax("GET", "/ui/notifications", {target: "#notifications-panel", swap: "innerHTML"});
    announce(ev.data.notification);
  });

  document.addEventListener("click", function (e) {
    var b = button(), p = panel();
    if (!b || !p) return;
    if (b.contains(e.target)) { setOpen(p.hidden); return; }  // htmx loads the panel's content
    var link = e.target.closest && e.target.closest("a[data-notification]");
    if (link && link.dataset.unread === "true") {  // read, then open its conversation
      e.preventDefault();
      htmx.ajax("POST", "/ui/notifications/read", {values: {id: link.dataset.notification},
                                                   target: "#notifications-panel", swap: "innerHTML"})
        .then(function () { location.href = link.href; });
      return;
    }
    if (!p.hidden && !p.contains(e.target)) setOpen(false);
  });

  document.addEventListener("keydown", function (e) {
    var p = panel();
    if (e.key === "Escape" && p && !p.hidden) { setOpen(false); button().focus(); }
  });

  // A new badge (loaded, refreshed, or out of band with the panel) or another conversation
  // on screen: mark what is shown read.
  document.addEventListener("htmx:load", function (e) {
    if (e.target.id === "notification-badge" || e.target.id === "conversation") readShown();
  });
  document.addEventListener("visibilitychange", readShown);

  // /settings: the browser's permission, asked for only when the user presses the button.
  document.addEventListener("click", function (e) {
    if (e.target.id !== "desktop-permission") return;
    var state = document.getElementById("desktop-permission-state");
    if (!("Notification" in window)) { state.textContent = "This browser cannot show desktop notifications."; return; }
    Notification.requestPermission().then(function (answer) {
      state.textContent = answer === "granted" ? "Allowed." : "Not allowed (" + answer + ").";
      if (answer === "granted") document.getElementById("pref-desktop").checked = true;
    });
  });
  document.addEventListener("DOMContentLoaded", function () {
    var state = document.getElementById("desktop-permission-state");
    if (state && "Notification" in window) state.textContent = "Now: " + Notification.permission + ".";
  });
})();
