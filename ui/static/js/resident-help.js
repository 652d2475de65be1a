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
