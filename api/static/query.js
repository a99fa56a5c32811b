"use strict";
// The query page: YASGUI pointed at this server's /sparql, with the example queries.
// The query and the chosen view live in the URL (/#query=...&view=table, or ?query=...), so a
// reload or a shared link reopens and runs it; /#example=<name> opens an example.
(function () {
  const examples = JSON.parse(document.getElementById("example-data").textContent);
  // The result views, in the order the view files registered them (query-plugins.js and the rest).
  const VIEWS = [...Yasgui.Yasr.defaults.pluginOrder];
  // Read before YASGUI starts. ?query= (a form or another tool) and #query= (this page) both work.
  const params = new URLSearchParams(location.search);
  for (const [k, v] of new URLSearchParams(location.hash.slice(1))) params.set(k, v);
  const wanted = params.get("example");
  const linkedQuery = params.get("query");
  const linkedView = params.get("view") || params.get("outputFormat"); // outputFormat: YASGUI's name

  const endpoint = new URL("sparql", document.baseURI).href;
  const yasgui = new Yasgui(document.getElementById("yasgui"), {
    requestConfig: { endpoint: endpoint, method: "POST" },
    copyEndpointOnNewTab: true,
    persistenceId: null,          // start clean: no queries left over from another session
    populateFromUrl: false,       // the URL is read here: a link cannot point the page elsewhere
    endpointCatalogueOptions: { getData: () => [{ endpoint: endpoint }] },
    yasqe: { value: examples.length ? examples[0].query : "SELECT * WHERE { ?s ?p ?o } LIMIT 10" },
    yasr: { pluginOrder: VIEWS, defaultPlugin: "table" },
  });
  window.geokbYasgui = yasgui;

  // YASQE's share button copies the same plain link.
  const Tab = Object.getPrototypeOf(yasgui.getTab());
  Tab.getShareableLink = function () {
    return linkFor(this.getQuery(), this.getYasr().getSelectedPluginName());
  };

  function linkFor(query, view) {
    const hash = new URLSearchParams({ query: query });
    if (view && view !== "table") hash.set("view", view);
    return location.origin + location.pathname + "#" + hash.toString();
  }

  function remember(tab) {
    const link = linkFor(tab.getQuery(), tab.getYasr().getSelectedPluginName());
    if (link !== location.href) history.replaceState(null, "", link);
  }

  // Layout numbers, for the browser tests (chromium --dump-dom shows them).
  function measure() {
    const root = document.getElementById("yasgui");
    const table = root.querySelector(".yasr_results table, .yasr_results svg, .yasr_results ol");
    root.dataset.viewportWidth = String(document.documentElement.clientWidth);
    root.dataset.pageWidth = String(document.documentElement.scrollWidth);
    if (table) {
      const box = table.getBoundingClientRect();
      root.dataset.resultsLeft = String(Math.round(box.left));
      root.dataset.resultsRight = String(Math.round(box.right));
    }
    root.dataset.view = yasgui.getTab().getYasr().getSelectedPluginName() || "";
  }

  function watch(tab) {
    if (tab.geokbWatched) return;
    tab.geokbWatched = true;
    tab.on("queryResponse", () => remember(tab));
    const yasr = tab.getYasr();
    yasr.on("drawn", () => {
      remember(tab);
      setTimeout(measure, 50);
    });
  }
  watch(yasgui.getTab());
  yasgui.on("tabSelect", (_y, id) => setTimeout(() => { const t = yasgui.getTab(id); if (t) watch(t); }, 0));
  window.addEventListener("resize", () => setTimeout(measure, 300));

  const list = document.getElementById("example-list");
  examples.forEach((ex) => {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = ex.title;
    button.dataset.example = ex.name;
    button.addEventListener("click", () => run(ex.query));
    li.appendChild(button);
    list.appendChild(li);
  });

  function run(query, view) {
    const tab = yasgui.getTab();
    tab.setQuery(query);
    if (view && VIEWS.includes(view)) tab.getYasr().selectPlugin(view);
    tab.query();
    remember(tab);
  }

  // A link to an example (…/#example=01-transfers-iran-to-russia) or to a query opens and runs it.
  const linked = examples.find((ex) => ex.name === wanted);
  if (linkedQuery) run(linkedQuery, linkedView);
  else if (linked) run(linked.query, linkedView);
})();
