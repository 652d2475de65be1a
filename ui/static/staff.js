// Staff console: keep the queue overview fresh (poll its JSON; reload when something changed
// and nobody is typing or choosing in a form).
(function () {
  "use strict";
  var last = null;
  function busy() {
    var a = document.activeElement;
    return a && (a.tagName === "INPUT" || a.tagName === "SELECT" || a.tagName === "TEXTAREA");
  }
  function poll() {
    fetch("tickets.json", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (text) {
        if (text === null) return;
        if (last !== null && text !== last && !busy()) { window.location.reload(); return; }
        last = text;
      })
      .catch(function () {});
  }
  poll();
  setInterval(poll, 3000);
})();
