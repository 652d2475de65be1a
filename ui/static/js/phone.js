/* Phone status page: follow the ticket live from the event server (data-events), redrawing
   it in place from each event with the page's own words (#ticket-words); without a stream
   (none served, refused, lost) refresh the ticket in place every data-refresh seconds and
   try the stream again a minute later. No page reload: nothing moves under the reader's
   finger and the live region announces only changes. Without JavaScript the "update now"
   link does the same by hand. */
(function () {
  "use strict";
  var box = document.getElementById("ticket-live");
  if (!box || !window.fetch || !window.DOMParser) { return; }
  var seconds = parseInt(box.getAttribute("data-refresh") || "15", 10);
  var eventsUrl = box.getAttribute("data-events");
  var wordsEl = document.getElementById("ticket-words");
  var words = wordsEl ? JSON.parse(wordsEl.textContent) : null;
  var live = false;
  var finished = false;
  var shown = null;

  function refresh() {
    if (live || finished) { return; }
    fetch(location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html && !live) {
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("ticket-live");
          if (fresh && fresh.innerHTML !== box.innerHTML) { box.innerHTML = fresh.innerHTML; }
        }
      })
      .catch(function () { /* offline for a moment: try again at the next tick */ })
      .then(function () { if (!live) { setTimeout(refresh, seconds * 1000); } });
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function fill(template, key, value) {
    var type = (key === "num" || key === "low" || key === "high") ? "d" : "s";
    return template.split("%(" + key + ")" + type).join(String(value));
  }

  // The same words as ui.i18n.wait_range for WaitEstimate.minutes().
  function waitText(minutes) {
    var low = minutes ? minutes[0] : 0, high = minutes ? minutes[1] : 0;
    if (high <= 0) { return words.next_in_line; }
    if (low === high) { return plural(words.minutes, low); }
    return fill(fill(words.minutes_range, "low", low), "high", high);
  }

  // The queue the ticket waits in now and the one after it (a ticket routed on changes both).
  function renderQueues(view) {
    var queue = document.getElementById("ticket-queue");
    if (queue && view.queue) { queue.textContent = localized(view.queue); }
    var next = document.getElementById("ticket-next");
    if (!next) { return; }
    var after = view.route && view.route[view.stop + 1];
    var going = ["waiting", "held", "called", "serving"].indexOf(view.status) >= 0;
    next.hidden = !(after && going);
    next.textContent = after ? fill(words.next_queue, "queue", localized(after)) : "";
  }

  function plural(forms, n) { return fill(forms[n === 1 ? 0 : 1], "num", n); }

  function localized(names) {
    if (!names) { return ""; }
    return names[words.lang] || names.ja || names[Object.keys(names)[0]] || "";
  }

  function fact(label, value) {
    var div = el("div");
    div.appendChild(el("dt", null, label));
    div.appendChild(el("dd", null, value));
    return div;
  }

  // The same markup as the page's template (phone/status.html) for each status.
  function render(view) {
    var key = JSON.stringify(view);
    if (key === shown) { return; }
    shown = key;
    var state = document.getElementById("ticket-state");
    if (!state) { return; }
    var out = document.createDocumentFragment();
    if (view.status === "called" && view.counter) {
      var p = el("p", "called");
      p.setAttribute("role", "alert");
      var bell = document.getElementById("bell-icon");
      if (bell) { p.appendChild(bell.content.cloneNode(true)); }
      p.appendChild(document.createTextNode(" " + fill(words.called, "counter", localized(view.counter))));
      out.appendChild(p);
    } else if (view.status === "waiting" || view.status === "held") {
      var dl = el("dl", "ticket-facts");
      dl.appendChild(fact(words.ahead_label, plural(words.people, view.people_ahead)));
      dl.appendChild(fact(words.wait_label, waitText(view.wait_minutes)));
      out.appendChild(dl);
    } else {
      var text = words[view.status] || words.invalid;
      out.appendChild(el("p", "called", text));
    }
    state.textContent = "";
    state.appendChild(out);
    state.setAttribute("data-status", view.status);
    renderQueues(view);
  }

  function connect() {
    var source = new EventSource(eventsUrl);
    source.addEventListener("open", function () { live = true; });
    source.addEventListener("ticket", function (e) { render(JSON.parse(e.data)); });
    source.addEventListener("end", function () { finished = true; source.close(); });
    source.addEventListener("error", function () {
      if (source.readyState === 2 && !finished) {
        live = false;
        setTimeout(refresh, seconds * 1000);
        setTimeout(connect, 60000);
      }
    });
  }

  if (eventsUrl && window.EventSource && words) {
    connect();
  } else {
    setTimeout(refresh, seconds * 1000);
  }
})();
