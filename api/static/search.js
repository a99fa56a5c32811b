// The header's search box: suggestions from /search.json after two keystrokes.
// Arrow keys move through them, Enter opens one, Escape closes them. Without this script the
// box is a plain GET form to /search.
(function () {
  "use strict";
  var MIN = 2, LIMIT = 8, DELAY = 120;

  function setUp(form) {
    var input = form.querySelector('input[name="q"]');
    if (!input) return;
    var list = document.createElement("ul");
    list.className = "suggestions-box";
    list.id = "search-suggestions";
    list.setAttribute("role", "listbox");
    list.hidden = true;
    form.appendChild(list);
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", list.id);
    input.setAttribute("aria-expanded", "false");
    var timer = null, active = -1, asked = "", controller = null;

    function items() { return list.querySelectorAll("li"); }

    function close() {
      list.hidden = true;
      list.textContent = "";
      active = -1;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }

    function highlight(n) {
      var all = items();
      if (!all.length) return;
      active = (n + all.length) % all.length;
      for (var i = 0; i < all.length; i++) {
        all[i].setAttribute("aria-selected", i === active ? "true" : "false");
      }
      input.setAttribute("aria-activedescendant", all[active].id);
    }

    function show(results) {
      list.textContent = "";
      active = -1;
      results.forEach(function (r, i) {
        var li = document.createElement("li");
        li.id = "search-suggestion-" + i;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        var a = document.createElement("a");
        a.href = r.url;
        a.textContent = r.label;
        var kind = document.createElement("span");
        kind.className = "tag";
        kind.textContent = " " + r.kind_label;
        a.appendChild(kind);
        li.appendChild(a);
        li.addEventListener("mousedown", function (e) { e.preventDefault(); });
        list.appendChild(li);
      });
      list.hidden = results.length === 0;
      input.setAttribute("aria-expanded", results.length ? "true" : "false");
    }

    function fetchSuggestions() {
      var q = input.value.trim();
      if (q.length < MIN) { asked = ""; close(); return; }
      if (q === asked) return;
      asked = q;
      if (controller) controller.abort();
      controller = new AbortController();
      fetch("/search.json?" + new URLSearchParams({ q: q, limit: String(LIMIT) }), {
        headers: { Accept: "application/json" },
        signal: controller.signal,
      })
        .then(function (r) { return r.ok ? r.json() : { results: [] }; })
        .then(function (data) { if (input.value.trim() === q) show(data.results || []); })
        .catch(function () { /* aborted or offline: the form still works */ });
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(fetchSuggestions, DELAY);
    });
    input.addEventListener("keydown", function (e) {
      if (list.hidden) {
        if (e.key === "ArrowDown" && input.value.trim().length >= MIN) { asked = ""; fetchSuggestions(); }
        return;
      }
      if (e.key === "ArrowDown") { e.preventDefault(); highlight(active + 1); }
      else if (e.key === "ArrowUp") { e.preventDefault(); highlight(active - 1); }
      else if (e.key === "Escape") { close(); }
      else if (e.key === "Enter" && active >= 0) {
        e.preventDefault();
        window.location.href = items()[active].querySelector("a").href;
      }
    });
    input.addEventListener("blur", function () { setTimeout(close, 150); });
  }

  function start() {
    var forms = document.querySelectorAll("form.search");
    for (var i = 0; i < forms.length; i++) setUp(forms[i]);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
