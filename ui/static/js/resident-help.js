/* Kiosk: help that reaches a resident who cannot read the screen or does not see what to do:
   "Please take your card" (said aloud until the card is gone), a card from before the visit
   (said aloud), the answer to "Call staff" (live), the printed ticket's state, and the
   physical number keypad with voice. Plain JavaScript, no framework, no build step. */
(function () {
  "use strict";

  /* --- voice: one audio element per page; a new text replaces what is being said -------- */
  var voice = null;
  function say(url) {
    if (!url) { return; }
    if (!voice) { voice = new Audio(); voice.preload = "none"; }
    voice.pause();
    voice.src = url;
    document.body.setAttribute("data-spoken", url);
    var playing = voice.play();
    if (playing && playing.catch) { playing.catch(function () {}); } // autoplay refused: the text is on screen
  }
  window.kioskSay = say;
  window.addEventListener("pagehide", function () { if (voice) { voice.pause(); } });

  function getJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); });
  }

  /* --- "Please take your card": until the reader is empty, then the welcome screen ------ */
  var takeCard = document.getElementById("take-card");
  if (takeCard) {
    var spoken = 0;
    var sayAgain = function () {
      if (spoken >= 4) { return; }
      spoken += 1;
      say(takeCard.getAttribute("data-voice"));
      setTimeout(sayAgain, 15000);
    };
    sayAgain();
    var pollTake = function () {
      getJson(takeCard.getAttribute("data-url"))
        .then(function (d) {
          if (!d.card_present) { location.replace(takeCard.getAttribute("data-next")); return; }
          setTimeout(pollTake, 500);
        })
        .catch(function () { setTimeout(pollTake, 1500); });
    };
    setTimeout(pollTake, 500);
  }

  /* --- the card screen: a card from before the visit is said aloud once --------------- */
  var cardState = document.getElementById("card-state");
  if (cardState) {
    document.addEventListener("kiosk:card-state", function (e) {
      var url = cardState.getAttribute("data-voice-" + e.detail);
      if (url) { say(url); }
    });
  }
})();

/* --- "Call staff": the resident sees (and hears) when someone is coming ---------------- */
(function () {
  "use strict";
  var bar = document.getElementById("help-status");
  if (!bar) { return; }
  var text = bar.querySelector(".help-status-text");
  var icon = bar.querySelector(".help-status-icon");
  var following = null;
  var saidComing = false;

  function show(d) {
    document.body.setAttribute("data-help", d.state);
    if (d.state === "none") { bar.hidden = true; return; }
    bar.hidden = false;
    bar.setAttribute("data-state", d.state);
    text.textContent = d.message || "";
    icon.textContent = d.state === "acknowledged" ? "✓" : "…";
    if (d.state === "acknowledged" && !saidComing) {
      saidComing = true;
      if (window.kioskSay && d.voice) { window.kioskSay(d.voice); }
    }
  }
  function check() {
    return fetch(bar.getAttribute("data-url"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (d) { show(d); if (d.state === "open") { follow(d); } return d; })
      .catch(function () { return null; });
  }
  function follow(d) {
    if (following) { return; }
    if (d.stream && window.EventSource) {
      following = new EventSource(d.stream);
      document.body.setAttribute("data-help-live", "stream");
      following.addEventListener("help", function (e) {
        if (JSON.parse(e.data).state === "acknowledged") { following.close(); check(); }
      });
      following.addEventListener("error", function () {
        if (following.readyState === EventSource.CLOSED) { following = null; poll(); }
      });
    } else {
      following = "poll";
      poll();
    }
  }
  function poll() {
    document.body.setAttribute("data-help-live", "poll");
    setTimeout(function () {
      check().then(function (d) { if (d && d.state === "open") { poll(); } });
    }, 3000);
  }
  check();
  document.addEventListener("kiosk:staff-called", function () { check(); });
})();

/* --- the printed ticket: printing, printed, or "photograph the QR code / ask staff" ---- */
(function () {
  "use strict";
  var box = document.getElementById("print-state");
  if (!box) { return; }
  var again = document.getElementById("print-again-form");
  var saidFailure = box.getAttribute("data-state") === "failed";
  function show(d) {
    if (d.state === "no_printer") { box.hidden = true; return; }
    box.setAttribute("data-state", d.state);
    box.setAttribute("data-problem", d.problem || "");
    box.textContent = d.message || "";
    if (again) { again.hidden = !d.may_print_again; }
    if (d.state === "failed" && !saidFailure) {
      saidFailure = true;
      if (window.kioskSay) { window.kioskSay(box.getAttribute("data-voice-failed")); }
    }
  }
  function poll() {
    fetch(box.getAttribute("data-url"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (d) {
        show(d);
        if (d.state === "queued" || d.state === "printing") { setTimeout(poll, 700); }
      })
      .catch(function () { setTimeout(poll, 2000); });
  }
  if (box.getAttribute("data-state") === "failed") {
    if (window.kioskSay) { window.kioskSay(box.getAttribute("data-voice-failed")); }
  }
  if (box.getAttribute("data-state") !== "printed") { poll(); }
})();

/* --- the physical number keypad on the PIN screen, with voice (as bank ATMs offer) -------
   A USB keypad arrives as key events: digits type on the PIN pad, Backspace/Delete erase one
   digit, "-" clears, Enter confirms four digits, "+" (or "*") says how to use the keypad.
   After each key the kiosk says how many digits are in, never which. */
(function () {
  "use strict";
  var form = document.querySelector("form[data-keypad]");
  if (!form) { return; }
  // The PIN stage on screen (the card's PIN, then maybe the certificate's: kiosk.js).
  function stage() {
    var stages = form.querySelectorAll("[data-pin-stage]");
    for (var i = 0; i < stages.length; i += 1) { if (!stages[i].hidden) { return stages[i]; } }
    return form;
  }
  function press(selector) {
    var key = stage().querySelector(selector);
    if (key) { key.click(); }
  }
  function sayCount() {
    var input = stage().querySelector(".pin-input");
    var n = input ? input.value.length : 0;
    if (window.kioskSay) { window.kioskSay(form.getAttribute("data-voice-digits-" + n)); }
  }
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.altKey || e.metaKey) { return; }
    // A keypad with Num Lock off sends "End", "ArrowDown"...: its key's place (code) counts.
    var numpad = /^Numpad([0-9])$/.exec(e.code || "");
    var k = numpad ? numpad[1] : ({ NumpadEnter: "Enter", NumpadAdd: "+", NumpadSubtract: "-", NumpadMultiply: "*", NumpadDecimal: "." }[e.code] || e.key);
    var t = e.target;
    // Enter on a focused link or button (keyboard navigation) keeps doing what it does.
    if (k === "Enter" && t && (t.tagName === "A" || (t.tagName === "BUTTON" && !t.closest(".pinpad")))) { return; }
    if (/^[0-9]$/.test(k)) {
      press(".pinpad [data-digit='" + k + "']");
      sayCount();
    } else if (k === "Backspace" || k === "Delete") {
      press(".pinpad [data-back]");
      sayCount();
    } else if (k === "-") {
      press(".pinpad [data-clear]");
      sayCount();
    } else if (k === "Enter") {
      var input = stage().querySelector(".pin-input");
      var ok = stage().querySelector("[data-pin-ok]");
      if (input && input.value.length === 4 && ok && !ok.disabled) { ok.click(); } else { sayCount(); }
    } else if (k === "+" || k === "*") {
      if (window.kioskSay) { window.kioskSay(form.getAttribute("data-voice-keypad")); }
    } else {
      return;
    }
    e.preventDefault();
  }, true);
})();
