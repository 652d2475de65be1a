/* Touch pickers of the fields screen (ui/templates/kiosk/_date_picker.html and
   _address_picker.html): no native date input, no kanji typing. The markup is radio buttons
   and text inputs that work as a plain form; this script only shows one calendar page and
   one 50-音 row at a time, keeps the 丁目 choices to the chosen town's, names 番・号 or
   番地 for the town's numbering, types 番 and 号 on its own number pad and previews the
   address as the ward writes it (the domain writes the stored one). */
(function () {
  "use strict";
  var live = document.getElementById("live");
  function announce(text) {
    if (live && text) { live.textContent = ""; setTimeout(function () { live.textContent = text; }, 30); }
  }
  // Taps on the pickers' own buttons keep the focus where it is (a number box keeps its caret).
  function keepFocus(container) {
    container.addEventListener("mousedown", function (e) {
      if (e.target.closest("button")) { e.preventDefault(); }
    });
  }

  /* --- dates -------------------------------------------------------------------------- */
  document.querySelectorAll("[data-datepick]").forEach(function (picker) {
    var pages = Array.prototype.slice.call(picker.querySelectorAll(".datepick-page"));
    var nav = picker.querySelector("[data-datepick-nav]");
    var chosen = picker.querySelector("[data-chosen]");
    var current = 0;
    function show(index) {
      current = Math.max(0, Math.min(pages.length - 1, index));
      pages.forEach(function (page, i) { page.hidden = i !== current; });
      if (nav) {
        nav.querySelector("[data-page-step='-1']").disabled = current === 0;
        nav.querySelector("[data-page-step='1']").disabled = current === pages.length - 1;
      }
    }
    if (pages.length > 1) {
      var checked = picker.querySelector("input[type=radio]:checked");
      var start = checked ? checked.closest(".datepick-page") : picker.querySelector("[data-page='" + picker.getAttribute("data-start") + "']");
      nav.hidden = false;
      show(Math.max(0, pages.indexOf(start)));
      nav.addEventListener("click", function (e) {
        var step = e.target.closest("[data-page-step]");
        if (!step) { return; }
        show(current + parseInt(step.getAttribute("data-page-step"), 10));
        announce(pages[current].querySelector(".datepick-title").textContent);
      });
      keepFocus(nav);
    }
    picker.addEventListener("change", function (e) {
      if (e.target.type !== "radio") { return; }
      chosen.textContent = e.target.getAttribute("data-label");
      announce(chosen.textContent);
    });
  });

  /* --- a new address in the ward ------------------------------------------------------ */
  document.querySelectorAll("[data-addrpick]").forEach(function (picker) {
    var prefix = picker.getAttribute("data-prefix");
    var preview = picker.querySelector("[data-addr-preview]");
    var keys = picker.querySelectorAll("[data-kana-row]");
    var rows = picker.querySelectorAll("[data-town-row]");
    var chosenName = picker.querySelector("[data-town-chosen]");
    var chomeStep = picker.querySelector("[data-addr-step='chome']");
    var numbersStep = picker.querySelector("[data-addr-step='numbers']");
    var boxes = Array.prototype.slice.call(picker.querySelectorAll("[data-numbox]"));
    var pad = picker.querySelector("[data-numpad]");
    var building = picker.querySelector("[data-addr-step='building'] input");
    var active = boxes[0];

    function town() { return picker.querySelector("input[name$='.town']:checked"); }
    function chome() { return picker.querySelector("input[name$='.chome']:checked"); }
    function showRow(row) {
      rows.forEach(function (r) { r.hidden = r.getAttribute("data-town-row") !== row; });
      keys.forEach(function (k) { k.setAttribute("aria-pressed", String(k.getAttribute("data-kana-row") === row)); });
    }

    function numbering() { var t = town(); return t ? t.getAttribute("data-numbering") : "jukyo"; }
    function render() {
      var t = town();
      var kind = numbering();
      picker.querySelectorAll("[data-numbering-text]").forEach(function (el) {
        el.textContent = el.getAttribute("data-" + kind);
      });
      chosenName.textContent = t ? t.value : "";
      if (!t) { preview.textContent = preview.getAttribute("data-none"); return; }
      var c = chome();
      var text = prefix + t.value;
      if (c && c.value) { text += c.closest("label").getAttribute("data-chome-text"); }
      var ban = boxes[0].value, go = boxes[1].value;
      if (ban) { text += ban + (kind === "jukyo" ? "番" : "番地"); }
      if (go) { text += go + (kind === "jukyo" ? "号" : ""); }
      if (building && building.value.trim()) { text += "\u3000" + building.value.trim(); }
      preview.textContent = text;
    }

    // Only the 丁目 the chosen town has; one alone is chosen for the resident, none is "no 丁目".
    function fitChome() {
      var t = town();
      var allowed = t ? t.getAttribute("data-chome").split(" ").filter(Boolean) : [];
      picker.querySelectorAll("[data-chome-n]").forEach(function (chip) {
        var ok = allowed.indexOf(chip.getAttribute("data-chome-n")) >= 0;
        chip.hidden = !ok;
        if (!ok) { chip.querySelector("input").checked = false; }
      });
      var none = picker.querySelector("[data-chome-none]");
      // Without a town there is nothing to choose yet; a town without 丁目 shows "no 丁目".
      none.hidden = !t || allowed.length > 0;
      picker.querySelector("[data-chome-hint]").hidden = t !== null;
      if (allowed.length === 0) { none.querySelector("input").checked = true; }
      else if (allowed.length === 1) { picker.querySelector("[data-chome-n='" + allowed[0] + "'] input").checked = true; }
      else { none.querySelector("input").checked = false; }
    }

    keys.forEach(function (key) {
      key.addEventListener("click", function () {
        showRow(key.getAttribute("data-kana-row"));
        announce(key.textContent);
      });
    });
    picker.addEventListener("change", function (e) {
      var name = e.target.name || "";
      if (/\.town$/.test(name)) {
        showRow(null);
        fitChome();
        render();
        announce(e.target.value);
        var chips = picker.querySelectorAll("[data-chome-n]:not([hidden])").length;
        (chips > 1 ? chomeStep : numbersStep).scrollIntoView({ block: "start", behavior: "smooth" });
      } else {
        render();
      }
    });

    // 番 and 号 on the kiosk's own pad (a physical keypad types digits too).
    function activate(box) {
      active = box;
      boxes.forEach(function (b) { b.classList.toggle("is-active", b === box); });
    }
    boxes.forEach(function (box) {
      box.setAttribute("inputmode", "none");
      box.addEventListener("focus", function () { activate(box); });
      box.addEventListener("click", function () { activate(box); });
      box.addEventListener("input", function () {
        var digits = box.value.replace(/[^0-9]/g, "").slice(0, box.maxLength > 0 ? box.maxLength : 4);
        if (digits !== box.value) { box.value = digits; }
        render();
      });
    });
    pad.hidden = false;
    keepFocus(pad);
    pad.addEventListener("click", function (e) {
      var key = e.target.closest("button");
      if (!key) { return; }
      if (key.hasAttribute("data-num")) {
        if (active.value.length < (active.maxLength > 0 ? active.maxLength : 4)) {
          active.value += key.getAttribute("data-num");
        }
        announce(active.value);
      } else if (key.hasAttribute("data-num-back")) {
        active.value = active.value.slice(0, -1);
        announce(active.value || key.getAttribute("aria-label"));
      } else if (key.hasAttribute("data-num-next")) {
        var i = boxes.indexOf(active);
        if (i < boxes.length - 1) { activate(boxes[i + 1]); boxes[i + 1].focus({ preventScroll: true }); }
        else if (building) { building.focus(); }
        announce((document.querySelector("label[for='" + active.id + "']") || {}).textContent || "");
      }
      render();
    });
    if (building) { building.addEventListener("input", render); }

    showRow(null);
    fitChome();
    activate(boxes[0]);
    render();
  });
})();
