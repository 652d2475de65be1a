/* On-screen keyboard for the kiosk's free-text fields (no physical keyboard, no native one).
   Fields marked data-osk open it on tap; keys type at the field's caret, which ← → 先頭 末尾
   move (a tap in the field moves it too); ⌫ deletes the character before the caret (or the
   selected text). The caret is the field's own selection, so the keyboard keeps no copy of
   it. Taps on keys do not move the focus away from the field (its caret stays visible); Tab
   from an open field moves into the keyboard, Escape or "done" closes it and returns to the
   field. Kana: 50-音 table; ゛ ゜ 小 change the character before the caret; the katakana tab
   types katakana. */
(function () {
  "use strict";
  var osk = document.getElementById("osk");
  if (!osk) { return; }
  var fieldName = document.getElementById("osk-field");
  var preview = osk.querySelector(".osk-preview");
  var beforeView = document.getElementById("osk-before");
  var afterView = document.getElementById("osk-after");
  var caretView = osk.querySelector(".osk-caret");
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
  // The caret (and selection) in UTF-16 units, as the field holds them; a field that has
  // never had one gets it at the end.
  function selection() {
    var v = target.value;
    var start = target.selectionStart, end = target.selectionEnd;
    if (start === null || start === undefined) { start = end = v.length; }
    return { start: Math.min(start, v.length), end: Math.min(end, v.length) };
  }
  // One character before / after index i (a character outside the BMP, 𠮷, is two units).
  function prevIndex(v, i) {
    if (i <= 0) { return 0; }
    var low = v.charCodeAt(i - 1);
    if (i >= 2 && low >= 0xdc00 && low <= 0xdfff) {
      var high = v.charCodeAt(i - 2);
      if (high >= 0xd800 && high <= 0xdbff) { return i - 2; }
    }
    return i - 1;
  }
  function nextIndex(v, i) {
    if (i >= v.length) { return v.length; }
    var high = v.charCodeAt(i);
    if (high >= 0xd800 && high <= 0xdbff && i + 1 < v.length) {
      var low = v.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) { return i + 2; }
    }
    return i + 1;
  }

  function render() {
    var v = target ? target.value : "";
    var caret = target ? selection().end : 0;
    beforeView.textContent = v.slice(0, caret);
    afterView.textContent = v.slice(caret);
    // Long text scrolls inside the preview so that the caret stays in sight.
    var box = preview.getBoundingClientRect(), at = caretView.getBoundingClientRect();
    if (at.right > box.right - 16) { preview.scrollLeft += at.right - box.right + 48; }
    else if (at.left < box.left + 16) { preview.scrollLeft -= box.left - at.left + 48; }
  }
  function moveCaret(pos) {
    target.setSelectionRange(pos, pos);
    render();
  }
  // Puts value in the field with the caret at pos, as typing would (one input event).
  function setValue(value, pos) {
    target.value = value;
    target.setSelectionRange(pos, pos);
    target.dispatchEvent(new Event("input", { bubbles: true }));
    render();
  }
  // Text typed at the caret replaces the selection; what maxLength has no room for is not
  // typed (like a physical keyboard on a full field). Returns what was typed.
  function insert(text) {
    var v = target.value, sel = selection();
    var max = target.maxLength > 0 ? target.maxLength : 1000;
    var room = max - (v.length - (sel.end - sel.start));
    var typed = "", chars = Array.from(text);
    for (var i = 0; i < chars.length && typed.length + chars[i].length <= room; i++) {
      typed += chars[i];
    }
    if (!typed && sel.start === sel.end) { return ""; }
    setValue(v.slice(0, sel.start) + typed + v.slice(sel.end), sel.start + typed.length);
    return typed;
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
    input.addEventListener("input", function () { if (input === target) { render(); } });
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
      if (insert(ch)) { announce(ch); }
    } else if (key.hasAttribute("data-mark")) {
      var sel = selection(), at = prevIndex(value, sel.end);
      var before = value.slice(at, sel.end);
      var changed = before ? applyMark(before, key.getAttribute("data-mark")) : null;
      if (changed) {
        setValue(value.slice(0, at) + changed + value.slice(sel.end), at + changed.length);
        announce(changed);
      }
    } else if (key.hasAttribute("data-back")) {
      var del = selection();
      var from = del.start < del.end ? del.start : prevIndex(value, del.end);
      if (from < del.end) { setValue(value.slice(0, from) + value.slice(del.end), from); }
      announce(target.value.slice(prevIndex(target.value, from), from) || key.getAttribute("aria-label"));
    } else if (key.hasAttribute("data-move")) {
      var range = selection(), move = key.getAttribute("data-move"), pos = range.end, to;
      if (move === "start") { to = 0; }
      else if (move === "end") { to = value.length; }
      // With a selection, ← and → go to its edge (as on a physical keyboard).
      else if (range.start < range.end) { to = move === "left" ? range.start : range.end; }
      else { to = move === "left" ? prevIndex(value, pos) : nextIndex(value, pos); }
      moveCaret(to);
      // Say the character the caret stepped over; at the start or end, the key's name.
      var crossed = value.slice(Math.min(pos, to), Math.max(pos, to));
      var name = (key.getAttribute("aria-label") || key.textContent).trim();
      announce(move === "left" || move === "right" ? crossed || name : name);
    } else if (key.hasAttribute("data-space")) {
      insert(layout === "kana" || layout === "kata" ? "\u3000" : " ");
      announce(key.textContent);
    } else if (key.hasAttribute("data-clear")) {
      setValue("", 0);
      announce(key.textContent);
    } else if (key.hasAttribute("data-done")) {
      close(true);
    }
  });

  // A tap inside the field (or a physical arrow key) moves its caret: show it in the preview.
  document.addEventListener("selectionchange", function () {
    if (target && !osk.hidden) { render(); }
  });

  // A tap outside the keyboard and outside any text field closes it.
  document.addEventListener("pointerdown", function (e) {
    if (!target || osk.contains(e.target) || (e.target.closest && e.target.closest("input[data-osk]"))) { return; }
    close(false);
  }, true);
})();
