// The A4 application: a print button (no inline script: the console's CSP forbids it).
document.addEventListener("DOMContentLoaded", function () {
  var b = document.getElementById("print-now");
  if (b) b.addEventListener("click", function () { window.print(); });
});
