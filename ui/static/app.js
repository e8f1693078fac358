// Live updates for the agent UI: listen on /ws (the session cookie authenticates) and
// have the server re-render whatever an event touches. After a reconnect every pane is
// re-rendered, so nothing missed while offline stays stale.
(function () {
  "use strict";
  var lastId = null, retry = 500, pending = {};

  function open() { var c = document.getElementById("conversation"); return c && c.dataset.conversation; }

  // Re-render one pane from the server. Every event starts a new request (none is dropped
  // while another is in flight) and only the newest answer is put in the page, so a pane
  // always ends up at least as fresh as the last event.
  // The answer may hold several elements (the timeline and the reply state): each replaces
  // the element of the page with its id.
  var generation = {};
  function load(url, id) {
    var n = generation[id] = (generation[id] || 0) + 1;
    fetch(url, {credentials: "same-origin", headers: {"HX-Request": "true"}})
      .then(function (r) {
        if (r.status === 404 && id !== "list-rows" && id !== "queue") gone();
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (html === null || n !== generation[id]) return;
        var t = document.createElement("template");
        t.innerHTML = html.trim();
        Array.prototype.slice.call(t.content.children).forEach(function (fresh) {
          var el = fresh.id && document.getElementById(fresh.id);
          if (!el) return;
          if (fresh.id === "queue") carryOver(el, fresh);
          keepOpen(el, fresh);
          var refocus = focusFinder(el);
          var scroll = fresh.id === "timeline" ? keepEarlier(el, fresh) : null;
          el.replaceWith(fresh);
          if (scroll !== null) fresh.scrollTop = scroll === "bottom" ? fresh.scrollHeight : scroll;
          htmx.process(fresh);
          refocus(fresh);
        });
        swapped();
      });
  }

  // A keyboard user stays where they were when a live re-render replaces the pane around
  // them (the row, the timeline, a menu's button, a Retry): the focused element is found
  // again in the fresh pane by its nearest keyed ancestor (an id, data-key, data-keep or
  // data-conversation) and its place among that ancestor's controls.
  var CONTROLS = "a[href], button, input, select, textarea, summary, [tabindex]";
  function focusFinder(el) {
    var active = document.activeElement;
    if (!active || !el.contains(active)) return function () {};
    var keyed = active.closest("[id], [data-key], [data-keep], [data-conversation]");
    var attr = ["id", "data-key", "data-keep", "data-conversation"].find(function (a) { return keyed.hasAttribute(a); });
    var selector = "[" + attr + "='" + CSS.escape(keyed.getAttribute(attr)) + "']";
    var index = keyed === active ? -1 : Array.prototype.indexOf.call(keyed.querySelectorAll(CONTROLS), active);
    return function (fresh) {
      var again = fresh.matches(selector) ? fresh : fresh.querySelector(selector);
      if (again && index >= 0) again = again.querySelectorAll(CONTROLS)[index];
      if (again) again.focus({preventScroll: true});
    };
  }

  // A live re-render of the timeline holds its newest page: what the agent loaded before it
  // ("Load earlier") is kept above it, and an agent reading back is not moved to the bottom.
  // Answers where to scroll the fresh timeline to.
  function keepEarlier(old, fresh) {
    var nearBottom = old.scrollHeight - old.scrollTop - old.clientHeight < 80;
    var first = fresh.querySelector(":scope > li[data-key]");
    var same = first && old.querySelector(":scope > li[data-key='" + CSS.escape(first.dataset.key) + "']");
    if (same) {
      var earlier = fresh.querySelector(":scope > li.earlier");
      if (earlier) earlier.remove();
      var before = [];
      for (var li = same.previousElementSibling; li; li = li.previousElementSibling) before.unshift(li);
      before.forEach(function (li) { fresh.insertBefore(li, first); });
    }
    return nearBottom ? "bottom" : old.scrollTop;
  }

  // The open conversation was taken out of this agent's sight (a colleague took it): say so
  // and stop the composer, but leave what they typed there to copy.
  function gone() {
    var c = document.getElementById("conversation");
    if (!c || c.dataset.gone) return;
    c.dataset.gone = "1";
    var p = document.createElement("p");
    p.className = "error";
    p.setAttribute("role", "alert");
    p.textContent = "This conversation was assigned to someone else and is no longer yours: your reply can't be sent. What you typed is still here to copy.";
    var header = document.getElementById("conversation-header");
    if (header) header.after(p);
    c.querySelectorAll(".composer button[type=submit], .composer input[type=file]").forEach(function (b) { b.disabled = true; });
  }

  // What a lead is doing in the queue survives its refresh: the conversations they ticked,
  // whom they picked to assign them to, and the notice of what they just did.
  function carryOver(old, fresh) {
    old.querySelectorAll("input[type=checkbox]:checked").forEach(function (box) {
      var same = fresh.querySelector("input[type=checkbox][name='" + CSS.escape(box.name) + "'][value='" +
                                     CSS.escape(box.value) + "']");
      if (same) same.checked = true;
    });
    old.querySelectorAll("select[name]").forEach(function (sel) {
      var same = fresh.querySelector("select[name='" + CSS.escape(sel.name) + "']");
      if (same && Array.prototype.some.call(same.options, function (o) { return o.value === sel.value; })) {
        same.value = sel.value;
      }
    });
    old.querySelectorAll("[role=status], [role=alert]").forEach(function (note) {
      if (!fresh.querySelector("[role=" + note.getAttribute("role") + "]")) fresh.prepend(note);
    });
  }

  // A re-rendered timeline keeps what the agent opened in it (a formatted email, quoted
  // history, remote images they chose to load): an event arriving while they read must not
  // undo it under them.
  function keepOpen(old, fresh) {
    old.querySelectorAll("details[data-keep][open]").forEach(function (d) {  // a header menu in use
      var same = fresh.querySelector("details[data-keep='" + CSS.escape(d.dataset.keep) + "']");
      if (!same) return;
      same.open = true;
      d.querySelectorAll("input[name]:not([type=hidden])").forEach(function (input) {
        var twin = same.querySelector("input[name='" + CSS.escape(input.name) + "']" +
                                      (input.type === "checkbox" ? "[value='" + CSS.escape(input.value) + "']" : ""));
        if (twin && input.type === "checkbox") twin.checked = input.checked;
        else if (twin) twin.value = input.value;
      });
    });
    old.querySelectorAll("[data-message] details[open]").forEach(function (d) {
      if (!d.classList[0]) return;
      var msg = d.closest("[data-message]").dataset.message;
      var same = fresh.querySelector("[data-message='" + CSS.escape(msg) + "'] details." + CSS.escape(d.classList[0] || ""));
      if (!same) return;
      same.open = true;
      if (d.dataset.remoteLoaded) loadRemoteImages(same);
    });
  }

  function refresh(what) {  // coalesce bursts of events into one request per pane
    if (pending[what]) return;
    pending[what] = setTimeout(function () {
      delete pending[what];
      var list = document.getElementById("list-rows"), queue = document.getElementById("queue"), id = open();
      if (what === "list" && queue) load(queue.dataset.refresh, "queue");
      else if (what === "list" && list) load(list.dataset.refresh, "list-rows");
      else if (id && what === "timeline") load("/ui/conversations/" + id + "?part=timeline", "timeline");
      else if (id && what === "header") load("/ui/conversations/" + id + "?part=state", "conversation-state");
    }, 50);
  }

  function refreshAll() { refresh("list"); refresh("timeline"); refresh("header"); }

  function conversationOf(ev) {
    var d = ev.data || {};
    return (d.conversation && d.conversation.id) || (d.message && d.message.conversation_id) ||
      d.conversation_id || null;
  }

  function toast(text, href) {  // a short notice, e.g. for an @mention
    var box = document.getElementById("toasts");
    if (!box) return;
    var a = document.createElement(href ? "a" : "div");
    if (href) a.href = href;
    a.className = "toast";
    a.textContent = text;
    box.appendChild(a);
    setTimeout(function () { a.remove(); }, 15000);
  }

  function onEvent(ev) {
    // "ready" comes once the server is subscribed for us (and has replayed what we missed):
    // re-render from then on, so nothing committed before it is left out of the page.
    if (ev.type === "ready" || ev.type === "resync") {
      if (ev.type === "ready" && lastId === null) lastId = ev.data.last_event_id;
      refreshAll();
      document.dispatchEvent(new CustomEvent("inbox:ready"));  // for what lives outside the panes (presence.js)
      return;
    }
    lastId = ev.id;
    // Other scripts (notifications.js) hear every event through this DOM event.
    document.dispatchEvent(new CustomEvent("inbox:event", {detail: ev}));
    var me = Number(document.body.dataset.user || 0);
    // Made away (by inactivity, or elsewhere): the very next input here says "back".
    if (ev.type === "agent.presence_changed" && ev.data.user_id === me && ev.data.status !== "online") lastActivity = 0;
    if (ev.type === "note.created" && ev.data.note.author_id !== me && (ev.data.note.mentions || []).indexOf(me) >= 0) {
      toast("You were mentioned in a note: " + ev.data.note.text.slice(0, 80),
            "/inbox?tab=all&c=" + ev.data.conversation_id);
    }
    refresh("list");
    if (ev.data && ev.data.read_by) return;  // read: only unread counts changed, in the list
    var cid = conversationOf(ev);
    if (cid && String(cid) === open()) {
      refresh("timeline");
      // the header's state: who owns it, its status... and its SLA timers (a warning, a breach)
      if (ev.type.indexOf("conversation.") === 0 || ev.type.indexOf("sla.") === 0) refresh("header");
    }
  }

  function connect() {
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws" +
      (lastId !== null ? "?after=" + lastId : "");
    var ws = new WebSocket(url);
    window.inboxSocket = ws;  // for the browser tests' simulated network drop
    ws.onopen = function () { retry = 500; };
    ws.onmessage = function (m) { onEvent(JSON.parse(m.data)); };
    ws.onclose = function (e) {
      if (e.code === 4401) { location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search); return; }
      setTimeout(connect, retry); retry = Math.min(retry * 2, 10000);
    };
  }

  function ago(iso) {
    var s = (Date.now() - Date.parse(iso)) / 1000;
    if (s < 60) return "now";
    if (s < 3600) return Math.floor(s / 60) + "m";
    if (s < 86400) return Math.floor(s / 3600) + "h";
    return Math.floor(s / 86400) + "d";
  }

  function decorate() {  // readable times, newest message in view, the agent's time zone for snoozes
    document.querySelectorAll("input[name=tz_offset]").forEach(function (i) {
      i.value = String(new Date().getTimezoneOffset());
    });
    document.querySelectorAll("time[datetime]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      t.title = d.toLocaleString();
      var time = d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
      // .with-day: a time that may be on another day (an SLA's due time) says which, unless today
      if (t.classList.contains("with-day") && d.toDateString() !== new Date().toDateString()) {
        time = d.toLocaleDateString([], {weekday: "short", day: "numeric", month: "short"}) + ", " + time;
      }
      t.textContent = t.classList.contains("ago") ? ago(t.getAttribute("datetime")) : time;
    });
    var tl = document.getElementById("timeline");
    if (tl) dayDividers(tl);
  }

  function toNewest() { var tl = document.getElementById("timeline"); if (tl) tl.scrollTop = tl.scrollHeight; }

  // "Load earlier messages" puts a page above: what the agent was looking at stays in place.
  var fromBottom = null;
  document.addEventListener("htmx:beforeSwap", function (e) {
    var tl = document.getElementById("timeline");
    fromBottom = tl && e.detail.target && e.detail.target.classList.contains("earlier") ? tl.scrollHeight - tl.scrollTop : null;
  });
  document.addEventListener("htmx:afterSwap", function () {
    var tl = document.getElementById("timeline");
    if (tl && fromBottom !== null) tl.scrollTop = tl.scrollHeight - fromBottom;
    fromBottom = null;
  });

  // A divider where the day changes, in the agent's own time zone (which only the browser knows).
  function dayDividers(tl) {
    var last = null, today = new Date().toDateString(), yesterday = new Date(Date.now() - 864e5).toDateString();
    tl.querySelectorAll(":scope > li.day").forEach(function (li) { li.remove(); });
    tl.querySelectorAll(":scope > li[data-at]").forEach(function (li) {
      var d = new Date(li.dataset.at), day = d.toDateString();
      if (isNaN(d) || day === last) return;
      last = day;
      var divider = document.createElement("li");
      divider.className = "day";  // a list item, not role=separator: an <ol> holds only items
      divider.textContent = day === today ? "Today" : day === yesterday ? "Yesterday" :
        d.toLocaleDateString([], {weekday: "long", day: "numeric", month: "long", year: d.getFullYear() === new Date().getFullYear() ? undefined : "numeric"});
      li.before(divider);
    });
  }

  // SMS segments as carriers count them: GSM-7 (160 a message, 153 a part; the extension
  // characters cost two) unless any character is outside it, then UCS-2 (70 / 67, in UTF-16 units).
  var GSM = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var GSM_EXT = "^{}\\[~]|€\f";
  function smsSegments(text) {
    var septets = 0, gsm = true;
    for (var ch of text) {
      if (GSM.indexOf(ch) >= 0) septets += 1;
      else if (GSM_EXT.indexOf(ch) >= 0) septets += 2;
      else { gsm = false; break; }
    }
    if (gsm) return {encoding: "GSM-7", length: septets, segments: septets <= 160 ? 1 : Math.ceil(septets / 153)};
    var units = text.length;  // UTF-16 code units: an emoji counts two
    return {encoding: "UCS-2", length: units, segments: units <= 70 ? 1 : Math.ceil(units / 67)};
  }

  // What the chosen channel allows, from the reply state the server re-renders live: open,
  // only a template (a closed WhatsApp window), or nothing (opted out, a closed window
  // without templates). Shown before the agent types; a blocked reply cannot be sent.
  function replyChannel(inboxId) {
    return document.querySelector("#reply-state li[data-inbox='" + CSS.escape(inboxId || "") + "']");
  }

  function composerHint() {
    var text = document.getElementById("composer-text"), channel = document.getElementById("composer-channel");
    var hint = document.getElementById("composer-hint"), picker = document.getElementById("template-picker");
    if (!text || !channel || !hint) return;
    var form = text.form, note = form.querySelector("input[name=mode][value=note]:checked") !== null;
    var option = channel.selectedOptions[0], kind = option ? option.dataset.kind : "";
    var state = replyChannel(channel.value), send = document.getElementById("composer-send");
    var mode = !state || state.dataset.available ? "open" : state.dataset.templateRequired ? "template" : "blocked";
    form.dataset.state = mode;
    var blocked = document.getElementById("reply-blocked");
    if (blocked && state) {
      blocked.hidden = mode === "open";
      blocked.querySelector(".reason").textContent = mode === "open" ? "" :
        (mode === "template" ? "Only a template can go out: " : "You can't reply: ") + state.dataset.reason;
    }
    text.placeholder = note ? "Write a private note… only agents see it (Enter adds it)" :
      mode === "blocked" ? "You can't reply here. Switch to Private note to write to your colleagues." :
      mode === "template" ? "Pick a template above: free text can't be sent now." :
      "Write a reply… (Enter sends, Shift+Enter for a new line)";
    text.disabled = !note && mode !== "open";
    if (send && !document.getElementById("conversation").dataset.gone) send.disabled = !note && mode === "blocked";
    if (picker) {
      picker.hidden = note || mode !== "template";
      if (mode === "template" && picker.dataset.loaded !== channel.value) loadTemplates(channel.value, picker);
    }
    if (note) { hint.textContent = ""; return; }  // nothing of a reply applies to a note
    if (kind === "sms" && text.value && mode === "open") {
      var s = smsSegments(text.value);
      hint.textContent = s.length + " characters · " + s.segments + " segment" + (s.segments > 1 ? "s" : "") + " (" + s.encoding + ")";
    } else if (kind === "email" && option.dataset.subject) {
      hint.textContent = "Subject: " + option.dataset.subject;
    } else if (state && state.dataset.windowCloses) {
      hint.textContent = "Reply window open until " + new Date(state.dataset.windowCloses).toLocaleString([], {dateStyle: "medium", timeStyle: "short"});
    } else hint.textContent = "";
  }

  // Drafts are kept per conversation (this browser, this agent) across switches and reloads,
  // and dropped once the reply or note has gone out.
  function draftKey(form) { return "inbox:draft:" + (document.body.dataset.user || "") + ":" + form.dataset.conversation; }
  function saveDraft(text) {
    var form = text.form, mode = form.querySelector("input[name=mode]:checked");
    try {
      if (text.value.trim()) localStorage.setItem(draftKey(form), JSON.stringify({text: text.value, mode: mode ? mode.value : "reply"}));
      else localStorage.removeItem(draftKey(form));
    } catch (ignored) { /* storage full or disabled: the draft lives as long as the page */ }
  }
  // A draft leaves storage when its send starts; a refused send comes back in the box (the
  // server returns the text) and one that never reached the server is saved again.
  document.addEventListener("htmx:beforeRequest", function (e) {
    var form = e.detail.elt;
    if (form.classList && form.classList.contains("composer")) {
      try { localStorage.removeItem(draftKey(form)); } catch (ignored) { /* nothing stored */ }
    }
  });
  ["htmx:sendError", "htmx:responseError"].forEach(function (name) {
    document.addEventListener(name, function (e) {
      var form = e.detail.elt, text = form.querySelector && form.querySelector("#composer-text");
      if (text) saveDraft(text);
    });
  });

  function restoreDraft() {
    var text = document.getElementById("composer-text");
    if (!text || !text.form.dataset.conversation) return;
    var saved = null;
    try { saved = JSON.parse(localStorage.getItem(draftKey(text.form)) || "null"); } catch (ignored) { saved = null; }
    if (!text.value && saved && saved.text) {
      text.value = saved.text;
      var radio = text.form.querySelector("input[name=mode][value=" + (saved.mode === "note" ? "note" : "reply") + "]");
      if (radio) radio.checked = true;
    } else if (text.dataset.returned) {  // the text of a refused send, given back by the server
      delete text.dataset.returned;
      saveDraft(text);
    }
  }

  function loadTemplates(inboxId, picker) {
    picker.dataset.loaded = inboxId;
    fetch("/api/inboxes/" + inboxId + "/templates", {credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (body) {
        var select = document.getElementById("template-select");
        select.replaceChildren();
        (body.items || []).forEach(function (t) {
          var o = document.createElement("option");
          o.value = t.name + "|" + (t.language || "en_US");
          o.textContent = t.name + " (" + (t.language || "en_US") + ")";
          o.dataset.text = t.text || "";
          select.appendChild(o);
        });
        templatePreview();
      });
  }

  // What the customer will read: the template's text with the parameters put in.
  function templatePreview() {
    var select = document.getElementById("template-select"), out = document.getElementById("template-preview");
    if (!select || !out) return;
    var option = select.selectedOptions[0], params = (select.form.elements.template_params.value || "").split(",");
    var text = option ? option.dataset.text || "" : "", n = 0;
    out.textContent = text.replace(/\{\{\s*(\w+)\s*\}\}/g, function (all) {
      var p = (params[n++] || "").trim();
      return p || all;
    });
  }

  // Canned responses and macros: "/" and a short code (or a macro's name) at the start of
  // the composer offers matches; Enter, Tab or a click puts a response's text in place of
  // what was typed, or runs the macro on the open conversation (the pane comes back).
  var canned = null, macros = [], suggestions = [], picked = 0;
  function slug(name) { return name.toLowerCase().replace(/[^\w]+/g, "-"); }
  function suggest(text) {
    var box = document.getElementById("canned-suggest"), m = /^\/([\w-]*)$/.exec(text.value);
    if (!box) return;
    if (!m) { box.hidden = true; suggestions = []; return; }
    if (canned === null) {
      canned = [];
      var get = function (url) {
        return fetch(url, {credentials: "same-origin"}).then(function (r) { return r.ok ? r.json() : {items: []}; });
      };
      Promise.all([get("/api/canned_responses"), get("/api/macros")]).then(function (b) {
        canned = b[0].items || []; macros = b[1].items || []; suggest(text);
      });
      return;
    }
    var typed = m[1].toLowerCase();
    suggestions = canned.filter(function (c) { return c.short_code.indexOf(typed) === 0; })
      .concat(macros.filter(function (x) { return slug(x.name).indexOf(typed) === 0; })
        .map(function (x) { return {macro: x}; }));
    picked = 0;
    box.replaceChildren.apply(box, suggestions.map(function (c, i) {
      var li = document.createElement("li");
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", i === picked ? "true" : "false");
      if (c.macro) { li.dataset.macro = c.macro.id; li.textContent = "Run macro · " + c.macro.name; }
      else li.textContent = "/" + c.short_code + " · " + c.text;
      li.addEventListener("mousedown", function (ev) { ev.preventDefault(); choose(text, c); });
      return li;
    }));
    box.hidden = suggestions.length === 0;
  }
  function choose(text, c) {
    if (c.macro) {
      var id = open();
      text.value = "";
      saveDraft(text);
      suggest(text);
      if (id) htmx.ajax("POST", "/ui/conversations/" + id + "/macro", {target: "#conversation", swap: "outerHTML",
                                                                      values: {macro_id: c.macro.id}});
      return;
    }
    text.value = c.text;
    suggest(text);
    composerHint();
    text.focus();
  }
  document.addEventListener("keydown", function (e) {
    var box = document.getElementById("canned-suggest");
    if (e.target.id !== "composer-text" || !box || box.hidden || !suggestions.length) return;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      picked = (picked + (e.key === "ArrowDown" ? 1 : suggestions.length - 1)) % suggestions.length;
      box.querySelectorAll("li").forEach(function (li, i) { li.setAttribute("aria-selected", i === picked ? "true" : "false"); });
    } else if (e.key === "Enter" || e.key === "Tab") {
      e.preventDefault();
      e.stopImmediatePropagation();  // choosing a canned response does not send it
      choose(e.target, suggestions[picked]);
    }
  }, true);

  document.addEventListener("input", function (e) {
    if (e.target.id === "composer-text") { composerHint(); suggest(e.target); saveDraft(e.target); }
    if (e.target.name === "template_params") templatePreview();
  });
  document.addEventListener("change", function (e) {
    if (e.target.id === "composer-channel" || e.target.name === "mode") composerHint();
    if (e.target.name === "mode") { var t = document.getElementById("composer-text"); if (t) saveDraft(t); }
    if (e.target.id === "template-select") templatePreview();
  });

  function reading() { return document.visibilityState === "visible" && open(); }

  // The open conversation is the selected row, whichever way it was opened (a click swaps
  // only the conversation pane, a live refresh only the list). While the agent is looking at
  // it, what the customer writes there is read: no badge, not counted in the title, and
  // marked read on the server (which tells every other tab and process).
  // The row last clicked or moved to, until its conversation is the open one: a live
  // re-render of the list meanwhile keeps it selected (not the conversation still shown),
  // so "k k" moves twice even when the list re-renders between the two.
  var choosing = null;
  document.addEventListener("click", function (e) {
    var row = e.target.closest && e.target.closest("#list .row");
    if (row) choosing = row.dataset.conversation || null;
  }, true);

  function markSelected() {
    if (choosing && choosing === open()) choosing = null;
    var id = choosing || open();
    document.querySelectorAll("#list .row").forEach(function (row) {
      var selected = !!id && row.dataset.conversation === id, link = row.querySelector("a");
      row.classList.toggle("selected", selected);
      if (link) { if (selected) link.setAttribute("aria-current", "true"); else link.removeAttribute("aria-current"); }
      if (selected && reading() && Number(row.dataset.unread || 0) > 0) {
        row.classList.remove("unread");
        var badge = row.querySelector(".badge");
        if (badge) badge.remove();
        readSoon();
      }
    });
  }

  var readPending = null;
  function readSoon() {  // one POST for a burst of customer messages
    if (readPending) return;
    readPending = setTimeout(function () {
      readPending = null;
      var id = open();
      if (id) htmx.ajax("POST", "/ui/conversations/" + id + "/read", {swap: "none"});
    }, 100);
  }

  function updateTitle() {
    var list = document.getElementById("list-rows"), n = list ? Number(list.dataset.unread || 0) : 0;
    var selected = list && list.querySelector(".row.selected");
    if (selected && reading()) n -= Number(selected.dataset.unread || 0);  // being read
    document.title = (n > 0 ? "(" + n + ") " : "") + "inbox";
  }

  function typing(el) { return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable); }

  function moveSelection(step) {
    var rows = Array.prototype.slice.call(document.querySelectorAll("#list .row a"));
    if (!rows.length) return;
    // From the row last moved to, so that j j moves twice before the first pane arrives.
    var current = rows.findIndex(function (a) { return a.parentElement.classList.contains("selected"); });
    var next = rows[Math.max(0, Math.min(rows.length - 1, current + step))];
    if (!next) return;
    rows.forEach(function (a) { a.parentElement.classList.toggle("selected", a === next); });
    next.click();
  }

  document.addEventListener("keydown", function (e) {  // single-key shortcuts, listed in the "?" dialog
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "Escape" && typing(document.activeElement)) { document.activeElement.blur(); return; }
    if (typing(e.target)) return;
    var click = function (sel) { var el = document.querySelector(sel); if (el) { e.preventDefault(); el.click(); } };
    var focusComposer = function (mode) {
      var radio = document.querySelector('.composer input[name=mode][value=' + mode + ']'), text = document.getElementById("composer-text");
      if (radio && text) { e.preventDefault(); radio.checked = true; composerHint(); text.focus(); }
    };
    switch (e.key) {
      case "?": e.preventDefault(); document.getElementById("shortcuts").showModal(); break;
      case "j": e.preventDefault(); moveSelection(1); break;
      case "k": e.preventDefault(); moveSelection(-1); break;
      case "ArrowDown": case "ArrowUp":  // in the list only: elsewhere the arrows scroll
        if (e.target.closest && e.target.closest("#list")) { e.preventDefault(); moveSelection(e.key === "ArrowDown" ? 1 : -1); }
        break;
      case "r": focusComposer("reply"); break;
      case "n": focusComposer("note"); break;
      case "e": click("#resolve-button"); break;
      case "a": click("#conversation-header button[name=assignee][value=me]"); break;
      case "/": var q = document.querySelector(".filters input[type=search]"); if (q) { e.preventDefault(); q.focus(); } break;
    }
  });

  document.addEventListener("click", function (e) {
    if (e.target.id === "shortcuts-button") document.getElementById("shortcuts").showModal();
  });

  // An email's remote images, held back by the server (ui/api/media.py viewable_html), on the
  // agent's request: the frame's document is rebuilt with them put back. DOMParser's
  // document is inert, so nothing loads before the frame gets the new source.
  // Remembered on the message's <details>, so a live re-render loads them again (keepOpen).
  function loadRemoteImages(details) {
    var frame = details.querySelector("iframe"), button = details.querySelector("button.load-remote-images");
    if (!frame || !button) return;
    details.dataset.remoteLoaded = "1";
    var doc = new DOMParser().parseFromString(frame.srcdoc, "text/html");
    ["src", "srcset", "background", "poster", "style"].forEach(function (name) {
      doc.querySelectorAll("[data-remote-" + name + "]").forEach(function (el) {
        el.setAttribute(name, el.getAttribute("data-remote-" + name));
        el.removeAttribute("data-remote-" + name);
      });
    });
    frame.srcdoc = "<!doctype html>" + doc.documentElement.outerHTML;
    button.parentNode.remove();
  }

  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("button.load-remote-images");
    if (button) loadRemoteImages(button.closest(".email-html"));
  });

  document.addEventListener("keydown", function (e) {  // Enter sends, Shift+Enter is a new line
    if (e.target.id === "composer-text" && e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      var picker = document.getElementById("template-picker"), file = e.target.form.querySelector("input[type=file]");
      var note = e.target.form.querySelector("input[name=mode][value=note]:checked") !== null;
      if (e.target.value.trim() || (!note && ((picker && !picker.hidden) || (file && file.files.length)))) {
        e.target.form.requestSubmit();
      }
    }
  });

  document.addEventListener("htmx:afterSwap", function () { swapped(); });
  document.addEventListener("htmx:oobAfterSwap", function () { swapped(); });  // the list's filters

  document.addEventListener("input", function (e) {  // a snooze's end, in the agent's own time zone, as UTC
    if (e.target.name !== "until_at") return;
    var when = new Date(e.target.value);
    e.target.form.elements.until_utc.value = isNaN(when) ? "" : when.toISOString();
  });

  document.addEventListener("htmx:responseError", function (e) {  // refused (e.g. an expired form): say why
    var xhr = e.detail.xhr, text = "The server refused that (" + xhr.status + ").";
    try { text = JSON.parse(xhr.responseText).error.message; } catch (ignored) { /* not our JSON error */ }
    toast(text);
  });

  function swapped() {
    markSelected();
    updateTitle();
    decorate();
    restoreDraft();
    composerHint();
    var c = document.getElementById("conversation");
    if (c && Number(c.dataset.unread || 0) > 0 && reading()) {
      c.dataset.unread = "0";
      readSoon();  // the same POST as the row's check: opening reads once
    }
  }

  // The heartbeat is htmx's (conversation.html, #viewers): the browser tests beat it now
  // instead of waiting 15 s.
  window.inboxHeartbeat = function () { var v = document.getElementById("viewers"); if (v) htmx.trigger(v, "beat"); };
  // The composer's mode survives the pane's re-render after a send: an agent adding notes
  // must not find the next one silently turned into a reply.
  var keptMode = null;
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (!e.detail || !e.detail.target || e.detail.target.id !== "conversation") return;
    var checked = document.querySelector(".composer input[name=mode]:checked");
    keptMode = checked ? {conversation: open(), mode: checked.value} : null;
  });
  document.addEventListener("htmx:afterSwap", function (e) {
    if (!e.detail || !e.detail.target || e.detail.target.id !== "conversation") return;
    toNewest();
    if (keptMode && keptMode.conversation === open()) {
      var radio = document.querySelector(".composer input[name=mode][value=" + keptMode.mode + "]");
      if (radio) { radio.checked = true; composerHint(); }
    }
    keptMode = null;
  });

  document.addEventListener("visibilitychange", function () { markSelected(); updateTitle(); });

  document.addEventListener("DOMContentLoaded", function () {
    markSelected();
    updateTitle();
    decorate();
    toNewest();
    restoreDraft();
    composerHint();
    // Every signed-in page keeps the socket: it is what makes the user present (an agent
    // reading /settings must not turn offline).
    if (document.body.dataset.user) connect();
  });

  // Input in the app says the user is at work (the server sets them away after their
  // away_after_minutes without it): at most one frame every 30 s, on the open socket. The
  // server compares the text as it is.
  var lastActivity = 0;
  function active() {
    var ws = window.inboxSocket, now = Date.now();
    if (!ws || ws.readyState !== WebSocket.OPEN || now - lastActivity < 30000) return;
    lastActivity = now;
    ws.send('{"type":"activity"}');
  }
  ["keydown", "pointerdown", "wheel", "scroll", "touchstart"].forEach(function (name) {
    document.addEventListener(name, active, {capture: true, passive: true});
  });
})();
