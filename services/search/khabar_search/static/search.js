// Search as you type: where JavaScript runs, the page asks the server for the
// same page while the reader types (debounced) and swaps in its results,
// sort order, active filters, pages and facets. The markup comes from the one
// template that also serves readers without JavaScript, so both always show
// the same page; the search box itself is left alone (focus, caret, typing).
(function () {
  "use strict";
  var form = document.getElementById("search-form");
  var input = document.getElementById("q");
  if (!form || !input || !window.fetch || !window.DOMParser) return;
  var timer = null, latest = 0;

  function query() {
    var data = new URLSearchParams(new FormData(form));
    data.delete("page"); // a new query starts on its first page
    return data.toString();
  }

  // The results keep their element, an aria-live region: screen readers announce a change
  // inside a live region, not a region that replaces another.
  function swap(fresh, selector) {
    var mine = document.querySelector(selector), theirs = fresh.querySelector(selector);
    if (mine && theirs) mine.replaceChildren.apply(mine, Array.from(theirs.childNodes));
    else if (theirs) document.querySelector("main").appendChild(document.adoptNode(theirs));
    else if (mine) mine.remove();
  }

  function show(html, address) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    if (!fresh.querySelector("main")) return;
    swap(fresh, ".results");
    swap(fresh, "#facets");
    document.title = fresh.title;
    document.documentElement.dir = fresh.documentElement.dir;
    document.documentElement.lang = fresh.documentElement.lang;
    history.replaceState(null, "", address);
  }

  function search() {
    if (!input.value.trim()) return;
    var ticket = ++latest;
    var address = "/search?" + query();
    fetch(address, { headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html !== null && ticket === latest) show(html, address); // not an older answer
      })
      .catch(function () { /* the form still works */ });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(search, 250);
  });
})();
