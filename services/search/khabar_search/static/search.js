// Search as you type: where JavaScript runs, the page asks /v1/search while the
// reader types (debounced) and redraws results and filters. Without JavaScript
// the form and links do the same through full page loads.
(function () {
  "use strict";
  var form = document.getElementById("search-form");
  var input = document.getElementById("q");
  if (!form || !input || !window.fetch) return;
  var timer = null, latest = 0;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function params(extra) {
    var data = new URLSearchParams(new FormData(form));
    Object.keys(extra || {}).forEach(function (k) {
      if (extra[k] === null) data.delete(k); else data.set(k, extra[k]);
    });
    return data;
  }

  function section() {
    var found = document.querySelector(".results");
    var main = document.querySelector("main");
    if (!found) { found = el("section", { "class": "results", "aria-live": "polite" }); main.appendChild(found); }
    return found;
  }

  function render(result) {
    var results = section();
    results.textContent = "";
    var summary = el("div", { "class": "summary" });
    summary.appendChild(el("p", { "class": "total", id: "total" },
      result.total + (document.dir === "rtl" ? " نتيجة" : " results")));
    results.appendChild(summary);
    var list = el("ol", { "class": "hits", id: "hits" });
    result.hits.forEach(function (hit) {
      var item = el("li", { "class": "hit" });
      var h2 = el("h2"); h2.appendChild(el("a", { href: hit.url }, hit.headline));
      item.appendChild(h2);
      item.appendChild(el("p", { "class": "meta" },
        [hit.source, hit.published_at.slice(0, 10), hit.category].join(" · ")));
      var snippet = el("p", { "class": "snippet" });
      snippet.innerHTML = hit.snippet; // escaped by the server; only <mark> is markup
      item.appendChild(snippet);
      list.appendChild(item);
    });
    results.appendChild(list);
    renderFacets(result);
  }

  function renderFacets(result) {
    var old = document.getElementById("facets");
    if (old) old.remove();
    var aside = el("aside", { "class": "facets", id: "facets" });
    var titles = document.dir === "rtl"
      ? { category: "القسم", tag: "الوسوم", source: "المصدر" }
      : { category: "Section", tag: "Tags", source: "Source" };
    ["category", "tag", "source"].forEach(function (name) {
      var counts = result.facets[name] || {};
      var values = Object.keys(counts).sort(function (a, b) { return counts[b] - counts[a]; }).slice(0, 12);
      if (!values.length) return;
      var box = el("section", { "class": "facet", "data-facet": name });
      box.appendChild(el("h3", {}, titles[name]));
      var ul = el("ul");
      values.forEach(function (value) {
        var li = el("li");
        var extra = { page: null }; extra[name] = value;
        li.appendChild(el("a", { href: "/search?" + params(extra).toString() },
          name === "tag" ? (result.tag_names[value] || value) : value));
        li.appendChild(el("span", { "class": "count" }, String(counts[value])));
        ul.appendChild(li);
      });
      box.appendChild(ul);
      aside.appendChild(box);
    });
    document.querySelector("main").appendChild(aside);
  }

  function search() {
    var q = input.value.trim();
    if (!q) return;
    var ticket = ++latest;
    var query = params({ page: null });
    fetch("/v1/search?" + query.toString(), { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (result) {
        if (!result || ticket !== latest) return; // an older answer arriving late
        render(result);
        history.replaceState(null, "", "/search?" + query.toString());
      })
      .catch(function () { /* the form still works */ });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(search, 250);
  });
})();
