// Customer display: follow the counter desk by long-polling its state and reload when it
// changed (unless the resident is typing the PIN); tell the server when the page goes away
// so the staff screen knows the display was closed.
(function () {
  "use strict";
  var body = document.body;
  var url = body.getAttribute("data-state-url");
  if (!url) { return; }
  var version = body.getAttribute("data-version");
  var pin = document.getElementById("pin");
  var leaving = false;  // the page goes on (a reload, a language switch, a form): not closed
  function poll() {
    fetch(url + "?since=" + encodeURIComponent(version), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (d) {
        if (String(d.version) !== String(version)) {
          if (pin && pin.value.length > 0 && d.step === "pin") { version = d.version; poll(); return; }
          leaving = true;
          window.location.reload();
          return;
        }
        poll();
      })
      .catch(function () { setTimeout(poll, 2000); });
  }
  poll();
  document.addEventListener("submit", function () { leaving = true; });
  document.addEventListener("click", function (e) {
    if (e.target.closest && e.target.closest("a[href]")) { leaving = true; }
  });
  window.addEventListener("pagehide", function () {
    if (leaving || !navigator.sendBeacon) { return; }
    var data = new FormData();
    data.append("csrf_token", body.getAttribute("data-csrf") || "");
    navigator.sendBeacon(body.getAttribute("data-closed-url"), data);
  });
})();
