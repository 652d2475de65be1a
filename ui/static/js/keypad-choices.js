/* Kiosk: the physical number keypad on the resident's main choices, with voice, as bank ATMs
   offer (the PIN screen has its own keypad handling in resident-help.js).

   A screen opts in with `data-keys` on <main> (its "+" help: `data-keys-help`) and marks its
   choices with `data-key`: a digit ("1".."9", "0"), "Enter", or "Back" (Backspace, Delete and
   "-"). A key clicks the marked element, so the keypad does exactly what a touch does. A
   digit on a checkbox ticks or unticks it and says which number (`data-key-chosen` /
   `data-key-removed`); "+" (or "*") says what the keys do on this screen. After a key has
   taken the resident to another screen, that screen says its keys (or its instruction) by
   itself, for as long as the keypad is in use. Only instructions and numbers are spoken. */
(function () {
  "use strict";
  var main = document.getElementById("main");
  if (!main || !window.sessionStorage) { return; }
  var FLAG = "kiosk-keypad-used";
  var KEEP_MS = 180000; // about the idle timeout: the next resident does not inherit the voice

  function say(url) { if (url && window.kioskSay) { window.kioskSay(url); } }
  function keypadInUse() {
    var at = Number(sessionStorage.getItem(FLAG) || 0);
    return at > 0 && Date.now() - at < KEEP_MS;
  }
  function markUsed() { sessionStorage.setItem(FLAG, String(Date.now())); }

  // What this screen's keys do, else (a screen without choices: card, payment under way)
  // its read-aloud instruction.
  function screenHelp() {
    var readAloud = document.getElementById("read-aloud");
    return main.getAttribute("data-keys-help") || (readAloud && readAloud.getAttribute("data-read-aloud"));
  }
  // Arrived here by the keypad: say it without being asked.
  if (keypadInUse()) { say(screenHelp()); }
  var choices = main.hasAttribute("data-keys");

  var leaving = false;
  function visible(id) { var el = document.getElementById(id); return el && !el.hidden; }
  // Keys typed into a field, the on-screen keyboard or a picker stay theirs (a choice's own
  // checkbox, focused by a touch, is not a field).
  function typing(t) {
    if (!t || !t.tagName) { return false; }
    if (t.isContentEditable || t.tagName === "TEXTAREA" || t.tagName === "SELECT") { return true; }
    if (t.tagName === "INPUT") { return !t.hasAttribute("data-key"); }
    return !!(t.closest && t.closest("#osk, [role=dialog], [role=alertdialog]"));
  }
  // A keypad with Num Lock off sends "End", "ArrowDown"...: its key's place (code) is what counts.
  var NUMPAD = { NumpadEnter: "Enter", NumpadAdd: "+", NumpadSubtract: "-", NumpadMultiply: "*", NumpadDecimal: "." };
  function keyOf(e) {
    var m = /^Numpad([0-9])$/.exec(e.code || "");
    return m ? m[1] : (NUMPAD[e.code] || e.key);
  }
  function keyName(k) {
    if (/^[0-9]$/.test(k)) { return k; }
    if (k === "Enter") { return "Enter"; }
    if (k === "Backspace" || k === "Delete" || k === "-") { return "Back"; }
    if (k === "+" || k === "*") { return "Help"; }
    return null;
  }

  document.addEventListener("keydown", function (e) {
    if (e.defaultPrevented || e.ctrlKey || e.altKey || e.metaKey || typing(e.target)) { return; }
    var name = keyName(keyOf(e));
    if (!name || (!choices && name !== "Help")) { return; }
    // Enter on a focused link or button (keyboard navigation) keeps doing what it does.
    if (name === "Enter" && e.target && (e.target.tagName === "A" || e.target.tagName === "BUTTON")) { return; }
    e.preventDefault();
    if (leaving || visible("busy") || visible("idle")) { return; }
    markUsed();
    var help = screenHelp();
    if (name === "Help") { say(help); return; }
    var target = main.querySelector("[data-key='" + name + "']");
    if (!target || target.disabled) { say(help); return; }
    if (target.type === "checkbox") {
      target.click();
      say(target.getAttribute(target.checked ? "data-key-chosen" : "data-key-removed"));
      return;
    }
    if (target.hasAttribute("data-key-end")) { sessionStorage.removeItem(FLAG); }
    leaving = true;
    // A confirm dialog may keep the resident here (kiosk.js); then keys work again.
    setTimeout(function () { leaving = false; }, 3000);
    target.click();
  }, false);
})();
