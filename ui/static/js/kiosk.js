/* Kiosk screens: PIN pad, steppers, live card and payment state, inactivity wipe, call staff.
   Plain JavaScript, no framework, no build step; every page also works as plain HTML forms. */
(function () {
  "use strict";
  var body = document.body;
  var live = document.getElementById("live");

  function announce(text) { if (live) { live.textContent = ""; setTimeout(function () { live.textContent = text; }, 50); } }
  function post(url, data) {
    return fetch(url, { method: "POST", body: data || new FormData(), credentials: "same-origin",
      headers: { "Accept": "application/json", "X-Requested-With": "fetch" } });
  }
  function showBusy(text) {
    var busy = document.getElementById("busy");
    if (!busy) { return; }
    if (text) { document.getElementById("busy-text").textContent = text; }
    busy.hidden = false;
  }

  /* --- forms: confirm, busy overlay ------------------------------------------------- */
  document.querySelectorAll("[data-confirm]").forEach(function (btn) {
    btn.addEventListener("click", function (e) { if (!window.confirm(btn.getAttribute("data-confirm"))) { e.preventDefault(); } });
  });
  document.querySelectorAll("form[data-busy]").forEach(function (form) {
    form.addEventListener("submit", function () { showBusy(form.getAttribute("data-busy")); });
  });
  document.querySelectorAll("[data-print]").forEach(function (btn) {
    btn.addEventListener("click", function () { window.print(); });
  });

  /* --- call staff -------------------------------------------------------------------- */
  document.querySelectorAll("form[data-call-staff]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      post(form.action, new FormData(form)).then(function (r) { return r.json(); }).then(function (d) {
        var toast = document.getElementById("toast");
        toast.textContent = d.message; toast.hidden = false;
        setTimeout(function () { toast.hidden = true; }, 8000);
        document.dispatchEvent(new CustomEvent("kiosk:staff-called", { detail: d }));
      }).catch(function () { form.submit(); });
    });
  });

  /* --- read aloud: the screen's instruction, spoken by the service (offline) ------------ */
  var readAloud = document.getElementById("read-aloud");
  if (readAloud) {
    // One audio element for the page: a new press replaces (and so stops) what it says.
    var voice = new Audio();
    voice.preload = "none";
    var state = function (s) {
      readAloud.setAttribute("data-state", s);
      readAloud.classList.toggle("is-speaking", s !== "idle");
    };
    voice.addEventListener("playing", function () { state("speaking"); });
    voice.addEventListener("ended", function () { state("idle"); });
    voice.addEventListener("error", function () {
      if (!voice.getAttribute("src")) { return; }
      state("idle");
      announce(readAloud.getAttribute("data-unavailable"));
    });
    readAloud.addEventListener("click", function () {
      voice.pause();
      voice.src = readAloud.getAttribute("data-read-aloud");
      state("loading");
      var playing = voice.play();
      if (playing && playing.catch) { playing.catch(function () { state("idle"); }); }
    });
    window.addEventListener("pagehide", function () { voice.pause(); });
  }

  /* --- steppers ---------------------------------------------------------------------- */
  document.querySelectorAll("[data-step]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var input = document.getElementById(btn.getAttribute("data-target"));
      var v = parseInt(input.value || "0", 10) + parseInt(btn.getAttribute("data-step"), 10);
      var min = parseInt(input.min || "0", 10), max = parseInt(input.max || "99", 10);
      input.value = Math.max(min, Math.min(max, v));
      announce(input.value);
    });
  });

  /* --- PIN pads (a PIN never leaves this form except in its one POST) ------------------- */
  // One stage per PIN: the card's PIN, then (when a procedure wants the JPKI check) the PIN of
  // the user authentication certificate. Without JavaScript every stage shows at once.
  var pinForm = document.querySelector("form.pin-form");
  if (pinForm) {
    var stages = Array.prototype.slice.call(pinForm.querySelectorAll("[data-pin-stage]"));
    var extras = document.querySelectorAll("[data-pin-stage-extra]");
    var showStage = function (index) {
      if (stages.length < 2) { return; }
      stages.forEach(function (stage, i) { stage.hidden = i !== index; });
      extras.forEach(function (el) { el.hidden = String(index) !== el.getAttribute("data-pin-stage-extra"); });
      var heading = stages[index].querySelector("h1");
      if (heading) { announce(heading.textContent); }
      window.scrollTo(0, 0);
    };
    var pads = stages.map(function (stage, index) {
      var input = stage.querySelector(".pin-input");
      var dots = stage.querySelectorAll(".pin-dots span");
      var ok = stage.querySelector("[data-pin-ok]");
      var render = function () {
        dots.forEach(function (d, i) { d.classList.toggle("filled", i < input.value.length); });
        ok.disabled = input.value.length !== 4;
      };
      stage.querySelectorAll(".pinpad [data-digit]").forEach(function (key) {
        key.addEventListener("click", function () {
          if (input.value.length < 4) { input.value += key.getAttribute("data-digit"); }
          render(); announce(input.value.length + " / 4");
        });
      });
      stage.querySelector(".pinpad [data-clear]").addEventListener("click", function () { input.value = ""; render(); announce("0 / 4"); });
      stage.querySelector(".pinpad [data-back]").addEventListener("click", function () { input.value = input.value.slice(0, -1); render(); announce(input.value.length + " / 4"); });
      input.addEventListener("input", function () { input.value = input.value.replace(/\D/g, "").slice(0, 4); render(); });
      var next = stage.querySelector("[data-pin-next]");
      if (next) { next.addEventListener("click", function () { if (input.value.length === 4) { showStage(index + 1); } }); }
      var back = stage.querySelector("[data-pin-back]");
      // Back starts that PIN again: neither PIN stays typed in the page longer than needed.
      if (back) { back.addEventListener("click", function () { pads[index].clear(); pads[index - 1].clear(); showStage(index - 1); }); }
      return { clear: function () { input.value = ""; render(); } };
    });
    window.addEventListener("pageshow", function () { pads.forEach(function (p) { p.clear(); }); showStage(0); });
    pads.forEach(function (p) { p.clear(); });
    showStage(0);
  }

  /* --- live card reader state ---------------------------------------------------------- */
  var cardState = document.getElementById("card-state");
  if (cardState) {
    var lastState = null;
    var pollCard = function () {
      fetch(cardState.getAttribute("data-url"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (d) {
          if (d.state === "ended") { location.href = d.redirect; return; }
          if (d.state !== lastState) {
            lastState = d.state;
            cardState.setAttribute("data-state", d.state);
            var text = cardState.getAttribute("data-text-" + d.state) || "";
            cardState.querySelector(".state-text").textContent = text;
            cardState.querySelector(".state-icon").textContent =
              { waiting: "…", present: "✓", reading: "⟳", removed: "⚠", from_earlier: "⚠", no_reader: "✕" }[d.state] || "…";
            document.dispatchEvent(new CustomEvent("kiosk:card-state", { detail: d.state }));
          }
          if (d.state === "present") { setTimeout(function () { location.href = cardState.getAttribute("data-next"); }, 400); return; }
          setTimeout(pollCard, 500);
        })
        .catch(function () { setTimeout(pollCard, 1000); });
    };
    pollCard();
  }

  /* --- payment progress ---------------------------------------------------------------- */
  var payProgress = document.getElementById("pay-progress");
  if (payProgress) {
    var pollPay = function () {
      fetch(payProgress.getAttribute("data-url"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (d) {
          if (d.redirect) {
            if (d.state === "succeeded") { payProgress.querySelector(".state-text").textContent = payProgress.getAttribute("data-text-succeeded"); }
            location.href = d.redirect; return;
          }
          setTimeout(pollPay, 700);
        })
        .catch(function () { setTimeout(pollPay, 1500); });
    };
    pollPay();
  }

  /* --- a screen outside a visit left in another language: back to Japanese ------------- */
  var resetAfter = parseInt(body.getAttribute("data-reset-after") || "0", 10);
  if (resetAfter > 0) {
    var touched = Date.now();
    ["pointerdown", "keydown", "touchstart"].forEach(function (t) {
      document.addEventListener(t, function () { touched = Date.now(); }, true);
    });
    setInterval(function () {
      if (Date.now() - touched >= resetAfter * 1000) { location.replace(body.getAttribute("data-reset-url")); }
    }, 1000);
  }

  /* --- inactivity: warn, then wipe ------------------------------------------------------ */
  var timeout = parseInt(body.getAttribute("data-idle-timeout") || "0", 10);
  if (timeout > 0) {
    var warning = parseInt(body.getAttribute("data-idle-warning") || "20", 10);
    var idle = document.getElementById("idle");
    var count = document.getElementById("idle-count");
    var keepaliveUrl = body.getAttribute("data-keepalive-url");
    var wipeUrl = body.getAttribute("data-wipe-url");
    var last = Date.now(), lastPing = Date.now(), warned = false, wiping = false;
    var wipe = function () {
      if (wiping) { return; }
      wiping = true;
      document.querySelectorAll("main, .steps").forEach(function (el) { el.innerHTML = ""; });
      var data = new FormData(); data.append("reason", "timeout");
      post(wipeUrl, data).then(function (r) { return r.json(); })
        .then(function (d) { location.replace(d.redirect); })
        .catch(function () { location.replace("/kiosk/?ended=1"); });
    };
    var activity = function () {
      if (wiping) { return; }
      last = Date.now();
      if (warned) { warned = false; idle.hidden = true; }
      if (Date.now() - lastPing > 10000) { lastPing = Date.now(); post(keepaliveUrl); }
    };
    ["pointerdown", "keydown", "touchstart"].forEach(function (t) { document.addEventListener(t, activity, true); });
    document.getElementById("idle-continue").addEventListener("click", function () {
      warned = false; idle.hidden = true; last = Date.now(); lastPing = Date.now(); post(keepaliveUrl);
      announce(document.getElementById("idle-continue").textContent);
    });
    setInterval(function () {
      var left = timeout - Math.floor((Date.now() - last) / 1000);
      if (left <= 0) { wipe(); return; }
      if (left <= warning) {
        count.textContent = left;
        if (!warned) {
          warned = true; idle.hidden = false;
          document.getElementById("idle-continue").focus();
          announce(document.getElementById("idle-title").textContent + " " + document.getElementById("idle-text").textContent);
        }
      }
    }, 250);
  }
})();
