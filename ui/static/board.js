// Display board: server-sent events from the event server (data-events), or polling
// data-state every few seconds when there is no stream or it was refused; a synthesized two-tone chime
// (Web Audio, no sound file, no network) on every new call or recall, then the call spoken
// in each language of data-voice-langs (WAVs from this service, synthesized offline),
// played on the same audio clock so chime and voices never overlap.
(function () {
  "use strict";
  var script = document.getElementById("board-js");
  var calls = document.getElementById("calls");
  var waiting = document.getElementById("waiting");
  var live = document.getElementById("live");
  var soundButton = document.getElementById("sound");
  var seen = {};
  var audio = null;
  var voiceUrl = script.getAttribute("data-voice");
  var voiceLangs = (script.getAttribute("data-voice-langs") || "").split(",").filter(Boolean);
  var voiceAt = 0; // audio-clock time when the last scheduled sound ends
  var voiceQueue = Promise.resolve();

  Array.prototype.forEach.call(calls.querySelectorAll("[data-key]"), function (li) {
    seen[li.getAttribute("data-key")] = true;
  });

  function ctx() {
    if (!audio) {
      var AC = window.AudioContext || window.webkitAudioContext;
      if (!AC) return null;
      audio = new AC();
    }
    return audio;
  }

  function chime() {
    var ac = ctx();
    if (!ac) return;
    if (ac.state === "suspended") { soundButton.hidden = false; return; }
    var t = ac.currentTime;
    [[880, 0], [659.25, 0.45]].forEach(function (tone) {
      var osc = ac.createOscillator();
      var gain = ac.createGain();
      osc.type = "sine";
      osc.frequency.value = tone[0];
      gain.gain.setValueAtTime(0.0001, t + tone[1]);
      gain.gain.exponentialRampToValueAtTime(0.4, t + tone[1] + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + tone[1] + 1.2);
      osc.connect(gain).connect(ac.destination);
      osc.start(t + tone[1]);
      osc.stop(t + tone[1] + 1.3);
    });
    voiceAt = Math.max(voiceAt, t + 1.5);
    document.body.setAttribute("data-chimed", String(Date.now()));
  }

  // One call in every configured language, in order; a language whose audio cannot be
  // had (no voice on the server: 503) is skipped, the chime has already sounded.
  function announce(call) {
    var ac = ctx();
    if (!ac || ac.state !== "running" || !voiceUrl || !voiceLangs.length) return;
    var fetches = voiceLangs.map(function (lang) {
      var url = voiceUrl + "?number=" + encodeURIComponent(call.number) +
        "&counter=" + encodeURIComponent(call.counter) + "&lang=" + encodeURIComponent(lang);
      return fetch(url)
        .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.arrayBuffer(); })
        .then(function (data) { return ac.decodeAudioData(data); })
        .catch(function () { return null; });
    });
    voiceQueue = voiceQueue.then(function () {
      return Promise.all(fetches).then(function (buffers) {
        buffers.forEach(function (buffer) {
          if (!buffer) return;
          var source = ac.createBufferSource();
          source.buffer = buffer;
          source.connect(ac.destination);
          var start = Math.max(voiceAt, ac.currentTime + 0.05);
          source.start(start);
          voiceAt = start + buffer.duration + 0.4;
        });
        if (buffers.some(Boolean)) document.body.setAttribute("data-announced", call.number);
      });
    });
  }

  soundButton.addEventListener("click", function () {
    var ac = ctx();
    if (ac) ac.resume().then(function () { soundButton.hidden = true; chime(); });
  });

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function bilingual(outer, names, fallback) {
    var ja = el("span", null, names.ja || fallback);
    ja.lang = "ja";
    var en = el("small", null, names.en || "");
    en.lang = "en";
    outer.appendChild(ja);
    outer.appendChild(en);
    return outer;
  }

  function render(state) {
    var newCalls = [];
    calls.textContent = "";
    if (!state.calls.length) calls.appendChild(el("li", "b-empty", "—"));
    state.calls.forEach(function (c, i) {
      var key = c.number + "@" + c.called_at;
      var li = el("li", "b-call" + (i === 0 ? " b-latest" : ""));
      li.setAttribute("data-key", key);
      li.appendChild(el("span", "b-number", c.number));
      var arrow = el("span", "b-arrow", "→");
      arrow.setAttribute("aria-hidden", "true");
      li.appendChild(arrow);
      li.appendChild(bilingual(el("span", "b-counter"), c.counter_names, c.counter));
      if (!seen[key]) { seen[key] = true; newCalls.push(c); li.classList.add("b-flash"); }
      calls.appendChild(li);
    });
    waiting.textContent = "";
    state.waiting.forEach(function (q) {
      var li = el("li");
      li.appendChild(el("span", "b-prefix", q.prefix));
      li.appendChild(bilingual(el("span", "b-qname"), q.names, q.queue));
      var n = el("span", "b-count", String(q.waiting));
      n.setAttribute("data-queue", q.queue);
      li.appendChild(n);
      waiting.appendChild(li);
    });
    // Numbers routed on to their next queue (one ticket through several counters).
    var moving = document.getElementById("moving-on");
    if (moving) {
      var movingOn = state.moving_on || [];
      moving.textContent = "";
      movingOn.forEach(function (m) {
        var li = el("li");
        li.appendChild(el("span", "b-number b-moving-number", m.number));
        li.appendChild(bilingual(el("span", "b-qname"), m.names, m.queue));
        moving.appendChild(li);
      });
      document.getElementById("moving-on-box").hidden = !movingOn.length;
    }
    if (newCalls.length) {
      chime();
      newCalls.reverse().forEach(announce); // oldest first, as they were called
    }
  }

  var eventsUrl = script.getAttribute("data-events");
  var stateUrl = script.getAttribute("data-state");
  var pollTimer = null;

  function poll() {
    fetch(stateUrl, { cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (state) {
        if (state && pollTimer) { render(state); live.setAttribute("data-state", "polling"); }
      })
      .catch(function () { live.setAttribute("data-state", "lost"); });
  }

  function startPolling() {
    if (pollTimer) return;
    pollTimer = setInterval(poll, 5000);
    poll();
  }

  function stopPolling() {
    if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
  }

  // A refused or broken stream (503/429 answers close it for good) falls back to polling
  // and tries the stream again after 10-20 s, so boards opened together do not return together.
  function connect() {
    if (!eventsUrl || !window.EventSource) { startPolling(); return; }
    var source = new EventSource(eventsUrl);
    source.addEventListener("open", function () { stopPolling(); live.setAttribute("data-state", "live"); });
    source.addEventListener("board", function (e) { render(JSON.parse(e.data)); });
    source.addEventListener("bye", function () { live.setAttribute("data-state", "connecting"); });
    source.addEventListener("error", function () {
      if (source.readyState === 2) {
        startPolling();
        setTimeout(connect, 10000 + Math.random() * 10000);
      } else if (!pollTimer) {
        live.setAttribute("data-state", "connecting");
      }
    });
  }

  function tick() {
    var d = new Date();
    document.getElementById("clock").textContent =
      String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
  }
  tick();
  setInterval(tick, 10000);
  if (ctx() && audio.state === "suspended") soundButton.hidden = false;
  connect();
})();
