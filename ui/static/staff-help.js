// Staff console: the kiosks' calls for staff, on every page. Follows the event server's
// stream (data-stream; a signed key in its query) or asks data-poll every 5 s without one;
// a new call rings a three-tone alert (Web Audio, no sound file) and is announced to screen
// readers; it rings again every minute while a call is open. Acknowledging posts the form.
(function () {
  "use strict";
  var box = document.getElementById("help-alerts");
  if (!box) { return; }
  var list = document.getElementById("help-list");
  var announce = document.getElementById("help-announce");
  var soundButton = document.getElementById("help-sound");
  var audio = null;
  var known = {};
  var lastRing = 0;
  var KEY = "kiosk.help.rung";

  function rung() {
    try { return JSON.parse(window.sessionStorage.getItem(KEY) || "[]"); } catch (e) { return []; }
  }
  function remember(ids) {
    try { window.sessionStorage.setItem(KEY, JSON.stringify(ids.slice(-50))); } catch (e) { /* private mode */ }
  }
  // The live stream sends the alerts as the domain has them (codes, UTC times): the words
  // for a screen come with the page, and times are shown in the ward's time zone.
  var labels = JSON.parse(box.getAttribute("data-labels") || "{}");
  function label(alert) { return alert.screen_label || labels[alert.screen] || labels.other || ""; }
  function clock(shown, iso) {
    if (shown) { return shown; }
    if (!iso) { return ""; }
    return new Date(iso).toLocaleTimeString("ja-JP", { timeZone: "Asia/Tokyo", hour12: false });
  }
  function text(name, values) {
    var t = box.getAttribute("data-text-" + name) || "";
    Object.keys(values || {}).forEach(function (k) { t = t.split("{" + k + "}").join(values[k]); });
    return t;
  }

  function ctx() {
    if (!audio) {
      var AC = window.AudioContext || window.webkitAudioContext;
      if (!AC) { return null; }
      audio = new AC();
    }
    return audio;
  }
  function ring() {
    var ac = ctx();
    lastRing = Date.now();
    if (!ac) { return; }
    if (ac.state === "suspended") {
      ac.resume().catch(function () {});
      if (ac.state === "suspended") { soundButton.hidden = false; return; }
    }
    var t = ac.currentTime;
    [[659.25, 0], [880, 0.22], [1174.66, 0.44]].forEach(function (tone) {
      var osc = ac.createOscillator();
      var gain = ac.createGain();
      osc.type = "triangle";
      osc.frequency.value = tone[0];
      gain.gain.setValueAtTime(0.0001, t + tone[1]);
      gain.gain.exponentialRampToValueAtTime(0.5, t + tone[1] + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + tone[1] + 0.5);
      osc.connect(gain).connect(ac.destination);
      osc.start(t + tone[1]);
      osc.stop(t + tone[1] + 0.6);
    });
    document.body.setAttribute("data-help-rung", String(Number(document.body.getAttribute("data-help-rung") || 0) + 1));
  }
  soundButton.addEventListener("click", function () {
    var ac = ctx();
    if (ac) { ac.resume().then(function () { soundButton.hidden = true; ring(); }); }
  });

  function item(alert) {
    var li = document.createElement("li");
    li.setAttribute("data-id", String(alert.id));
    var kiosk = document.createElement("strong");
    kiosk.textContent = alert.kiosk_id;
    if (alert.acknowledged_at) {
      li.className = "s-help-done";
      li.appendChild(document.createTextNode("✓ "));
      li.appendChild(kiosk);
      var going = document.createElement("span");
      going.textContent = " " + text("going", { name: alert.acknowledged_by || "", time: clock(alert.acknowledged_time, alert.acknowledged_at) });
      li.appendChild(going);
      return li;
    }
    li.className = "s-help-open";
    var bell = document.createElement("span");
    bell.className = "s-help-bell"; bell.setAttribute("aria-hidden", "true"); bell.textContent = "!";
    kiosk.className = "s-help-kiosk";
    var screen = document.createElement("span");
    screen.className = "s-help-screen"; screen.textContent = label(alert);
    var since = document.createElement("span");
    since.className = "s-help-since"; since.textContent = text("since", { time: clock(alert.raised_time, alert.raised_at) });
    var form = document.createElement("form");
    form.method = "post"; form.className = "s-inline";
    form.action = box.getAttribute("data-ack").replace(/\/0\/acknowledge$/, "/" + alert.id + "/acknowledge");
    [["csrf_token", box.getAttribute("data-csrf")], ["next", box.getAttribute("data-next")]].forEach(function (f) {
      var input = document.createElement("input");
      input.type = "hidden"; input.name = f[0]; input.value = f[1];
      form.appendChild(input);
    });
    var button = document.createElement("button");
    button.type = "submit"; button.className = "s-btn s-btn-primary"; button.textContent = text("ack");
    form.appendChild(button);
    [bell, kiosk, screen, since, form].forEach(function (el) { li.appendChild(el); li.appendChild(document.createTextNode(" ")); });
    return li;
  }

  function show(alerts) {
    var open = alerts.filter(function (a) { return !a.acknowledged_at; });
    var before = rung();
    var fresh = open.filter(function (a) { return before.indexOf(a.id) < 0; });
    list.textContent = "";
    alerts.forEach(function (a) { list.appendChild(item(a)); });
    box.classList.toggle("s-help-active", open.length > 0);
    if (fresh.length) {
      remember(before.concat(fresh.map(function (a) { return a.id; })));
      announce.textContent = fresh.map(function (a) { return text("new", { kiosk: a.kiosk_id }) + " " + label(a); }).join(" ");
      ring();
    }
    known = {};
    open.forEach(function (a) { known[a.id] = true; });
    document.body.setAttribute("data-help-open", String(open.length));
  }

  // The calls rendered with the page count as seen if they were rung on an earlier page.
  var initial = [];
  Array.prototype.forEach.call(list.querySelectorAll("li.s-help-open"), function (li) { initial.push(Number(li.getAttribute("data-id"))); });
  var before = rung();
  var unrung = initial.filter(function (id) { return before.indexOf(id) < 0; });
  if (unrung.length) { remember(before.concat(unrung)); ring(); }
  initial.forEach(function (id) { known[id] = true; });
  document.body.setAttribute("data-help-open", String(initial.length));

  // A call that stays open rings again every minute.
  setInterval(function () {
    if (Object.keys(known).length && Date.now() - lastRing > 60000) { ring(); }
  }, 5000);

  var polling = null;
  function poll() {
    fetch(box.getAttribute("data-poll"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d) { show(d.alerts); } })
      .catch(function () {});
  }
  function startPolling() {
    if (polling) { return; }
    document.body.setAttribute("data-help-live", "poll");
    polling = setInterval(poll, 5000);
  }
  var streamUrl = box.getAttribute("data-stream");
  if (streamUrl && window.EventSource) {
    var source = new EventSource(streamUrl);
    source.addEventListener("help", function (e) {
      document.body.setAttribute("data-help-live", "stream");
      show(JSON.parse(e.data).alerts);
    });
    source.addEventListener("error", function () {
      if (source.readyState === EventSource.CLOSED) { startPolling(); }
    });
  } else {
    startPolling();
  }
})();
