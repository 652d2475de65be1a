/* On-screen keyboard for the kiosk's free-text fields (no physical keyboard, no native one).
   Fields marked data-osk open it on tap; keys type at the end of the field. Taps on keys do
   not move the focus away from the field (its caret stays visible); Tab from an open field
   moves into the keyboard, Escape or "done" closes it and returns to the field.
   Kana: 50-音 table; ゛ ゜ 小 change the last character; the katakana tab types katakana. */
(function () {
  "use strict";
  var osk = document.getElementById("osk");
  if (!osk) { return; }
  var fieldName = document.getElementById("osk-field");
  var valueView = document.getElementById("osk-value");
  var live = document.getElementById("live");
  var target = null, layout = null, shift = false;

  // Pairs "plain, marked" (hiragana; katakana is converted on the way in and out).
  var DAKUTEN = "かがきぎくぐけげこごさざしじすずせぜそぞただちぢつづてでとどはばひびふぶへべほぼうゔ";
  var HANDAKUTEN = "はぱひぴふぷへぺほぽ";
  var SMALL = "あぁいぃうぅえぇおぉつっやゃゆゅよょわゎ";

  function toKata(s) {
    return s.replace(/[\u3041-\u3096]/g, function (c) { return String.fromCharCode(c.charCodeAt(0) + 0x60); });
  }
  function toHira(s) {
    return s.replace(/[\u30a1-\u30f6]/g, function (c) { return String.fromCharCode(c.charCodeAt(0) - 0x60); });
  }
  function pairMap(pairs) {
    var plain = {}, marked = {};
    for (var i = 0; i < pairs.length; i += 2) { plain[pairs[i]] = pairs[i + 1]; marked[pairs[i + 1]] = pairs[i]; }
    return { plain: plain, marked: marked };
  }
  var daku = pairMap(DAKUTEN), handaku = pairMap(HANDAKUTEN), small = pairMap(SMALL);

  // ゛ on か gives が and on が gives か back; ゛ on ぱ gives ば; ゜ likewise.
  function applyMark(ch, mark) {
    var kata = /[\u30a1-\u30f6]/.test(ch);
    var h = toHira(ch), out = null;
    if (mark === "dakuten") {
      out = daku.plain[h] || daku.marked[h] || (handaku.marked[h] && daku.plain[handaku.marked[h]]) || null;
    } else if (mark === "handakuten") {
      out = handaku.plain[h] || handaku.marked[h] || (daku.marked[h] && handaku.plain[daku.marked[h]]) || null;
    } else {
      out = small.plain[h] || small.marked[h] || null;
    }
    if (!out) { return null; }
    return kata ? toKata(out) : out;
  }

  function announce(text) {
    if (live) { live.textContent = ""; setTimeout(function () { live.textContent = text; }, 30); }
  }
  function labelOf(input) {
    var label = input.id ? document.querySelector("label[for='" + input.id + "']") : null;
    return label ? label.textContent.replace(/\s+/g, " ").trim() : "";
  }
  function render() {
    valueView.textContent = target ? target.value : "";
  }
  function setValue(value) {
    var max = target.maxLength > 0 ? target.maxLength : 1000;
    target.value = value.slice(0, max);
    target.dispatchEvent(new Event("input", { bubbles: true }));
    render();
  }

  function showLayout(name) {
    layout = name;
    osk.querySelectorAll(".osk-tab").forEach(function (tab) {
      tab.setAttribute("aria-pressed", String(tab.getAttribute("data-layout") === name));
    });
    osk.querySelectorAll(".osk-layout").forEach(function (group) {
      group.hidden = group.getAttribute("data-for").split(" ").indexOf(name) < 0;
    });
    var kata = name === "kata";
    osk.querySelectorAll(".osk-table [data-char]").forEach(function (key) {
      var ch = key.getAttribute("data-char");
      key.textContent = kata ? toKata(ch) : ch;
    });
  }
  function setShift(on) {
    shift = on;
    var btn = osk.querySelector("[data-shift]");
    if (btn) { btn.setAttribute("aria-pressed", String(on)); }
    osk.querySelectorAll("[data-latin]").forEach(function (key) {
      var ch = key.getAttribute("data-char");
      key.textContent = on ? ch.toUpperCase() : ch;
    });
  }

  function open(input) {
    if (target && target !== input) { target.classList.remove("osk-target"); }
    target = input;
    target.classList.add("osk-target");
    fieldName.textContent = labelOf(input);
    if (osk.hidden) {
      showLayout(input.getAttribute("data-osk") || osk.getAttribute("data-default-layout") || "kana");
      setShift(false);
      osk.hidden = false;
      document.body.classList.add("osk-open");
      document.body.style.setProperty("--osk-height", osk.offsetHeight + "px");
    }
    render();
    // Keep the field in sight above the keyboard (centred in the free space).
    var rect = input.getBoundingClientRect();
    var free = window.innerHeight - osk.offsetHeight;
    if (rect.top < 8 || rect.bottom > free - 8) {
      window.scrollBy(0, rect.top - Math.max(8, (free - rect.height) / 2));
    }
  }
  function close(refocus) {
    if (!target) { return; }
    var input = target;
    osk.hidden = true;
    document.body.classList.remove("osk-open");
    input.classList.remove("osk-target");
    target = null;
    if (refocus) { input.focus({ preventScroll: true }); }
  }

  document.querySelectorAll("input[data-osk]").forEach(function (input) {
    input.addEventListener("click", function () { open(input); });
    input.addEventListener("keydown", function (e) {
      if ((e.key === "Enter" || e.key === "ArrowDown") && osk.hidden) { e.preventDefault(); open(input); }
      else if (e.key === "Escape" && !osk.hidden) { e.preventDefault(); close(true); }
      else if (e.key === "Tab" && !e.shiftKey && !osk.hidden) {
        e.preventDefault();
        osk.querySelector(".osk-tab[aria-pressed=true]").focus();
      }
    });
  });
  osk.addEventListener("keydown", function (e) {
    if (e.key === "Escape") { e.preventDefault(); close(true); }
  });

  // A tap on a key keeps the focus (and the caret) in the field.
  osk.addEventListener("mousedown", function (e) {
    if (target && e.target.closest("button")) { e.preventDefault(); }
  });
  osk.addEventListener("click", function (e) {
    var key = e.target.closest("button");
    if (!key || !target) { return; }
    var value = target.value;
    if (key.hasAttribute("data-layout")) {
      showLayout(key.getAttribute("data-layout"));
      announce(key.textContent);
    } else if (key.hasAttribute("data-shift")) {
      setShift(!shift);
    } else if (key.hasAttribute("data-char")) {
      var ch = key.getAttribute("data-char");
      if (layout === "kata" && key.closest(".osk-table")) { ch = toKata(ch); }
      if (shift && key.hasAttribute("data-latin")) { ch = ch.toUpperCase(); setShift(false); }
      setValue(value + ch);
      announce(ch);
    } else if (key.hasAttribute("data-mark")) {
      var last = value.slice(-1);
      var changed = last ? applyMark(last, key.getAttribute("data-mark")) : null;
      if (changed) { setValue(value.slice(0, -1) + changed); announce(changed); }
    } else if (key.hasAttribute("data-back")) {
      setValue(Array.from(value).slice(0, -1).join(""));
      announce(target.value.slice(-1) || key.getAttribute("aria-label"));
    } else if (key.hasAttribute("data-space")) {
      setValue(value + (layout === "kana" || layout === "kata" ? "\u3000" : " "));
      announce(key.textContent);
    } else if (key.hasAttribute("data-clear")) {
      setValue("");
      announce(key.textContent);
    } else if (key.hasAttribute("data-done")) {
      close(true);
    }
  });

  // A tap outside the keyboard and outside any text field closes it.
  document.addEventListener("pointerdown", function (e) {
    if (!target || osk.contains(e.target) || (e.target.closest && e.target.closest("input[data-osk]"))) { return; }
    close(false);
  }, true);
})();
