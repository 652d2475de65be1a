// Counter desk: follow the desk by long-polling its state; reload the page when it changed
// (the prefilled form appears as soon as the resident's PIN was read), unless staff are
// typing in a form.
(function () {
  "use strict";
  var desk = document.getElementById("desk");
  if (!desk) { return; }
  var url = desk.getAttribute("data-state-url");
  var version = desk.getAttribute("data-version");
  function typing() {
    var a = document.activeElement;
    return a && (a.tagName === "INPUT" || a.tagName === "SELECT" || a.tagName === "TEXTAREA") && a.value !== "";
  }
  function poll() {
    fetch(url + "?since=" + encodeURIComponent(version), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (d) {
        if (String(d.version) !== String(version)) {
          if (typing()) { version = d.version; setTimeout(poll, 500); return; }
          window.location.reload();
          return;
        }
        poll();
      })
      .catch(function () { setTimeout(poll, 2000); });
  }
  poll();
})();
