/* Phone status page: refresh the ticket in place every data-refresh seconds (no page reload,
   so nothing moves under the reader's finger and the live region announces only changes).
   Without JavaScript the "update now" link does the same by hand. */
(function () {
  "use strict";
  var box = document.getElementById("ticket-live");
  if (!box || !window.fetch || !window.DOMParser) { return; }
  var seconds = parseInt(box.getAttribute("data-refresh") || "15", 10);
  function refresh() {
    fetch(location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("ticket-live");
          if (fresh && fresh.innerHTML !== box.innerHTML) { box.innerHTML = fresh.innerHTML; }
        }
      })
      .catch(function () { /* offline for a moment: try again at the next tick */ })
      .then(function () { setTimeout(refresh, seconds * 1000); });
  }
  setTimeout(refresh, seconds * 1000);
})();
