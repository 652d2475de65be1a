// Enrolment of the kiosk's screen: the device key may be given after "#" in the address
// (kiosk device provision prints such a link). The fragment never reaches the server or its
// logs; it is removed from the address bar and posted once through the form.
(function () {
  "use strict";
  var form = document.getElementById("device-form");
  var key = window.location.hash.slice(1);
  if (key) {
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  if (form && key && !form.dataset.sent) {
    form.dataset.sent = "1";
    document.getElementById("credential").value = decodeURIComponent(key);
    form.submit();
  }
})();
