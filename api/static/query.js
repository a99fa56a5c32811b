"use strict";
// The query page: YASGUI pointed at this server's /sparql, with the example queries.
(function () {
  const examples = JSON.parse(document.getElementById("example-data").textContent);
  // Read before YASGUI starts: it rewrites the URL with its own state.
  const wanted = new URLSearchParams(location.hash.slice(1)).get("example");
  const endpoint = new URL("sparql", document.baseURI).href;
  const yasgui = new Yasgui(document.getElementById("yasgui"), {
    requestConfig: { endpoint: endpoint, method: "POST" },
    copyEndpointOnNewTab: true,
    persistenceId: null,          // start clean: no queries left over from another session
    populateFromUrl: true,
    endpointCatalogueOptions: { getData: () => [{ endpoint: endpoint }] },
    yasqe: { value: examples.length ? examples[0].query : "SELECT * WHERE { ?s ?p ?o } LIMIT 10" },
  });
  window.geokbYasgui = yasgui;
  const list = document.getElementById("example-list");
  examples.forEach((ex) => {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = ex.title;
    button.dataset.example = ex.name;
    button.addEventListener("click", () => run(ex));
    li.appendChild(button);
    list.appendChild(li);
  });

  function run(ex) {
    const tab = yasgui.getTab();
    tab.setQuery(ex.query);
    tab.query();
    history.replaceState(null, "", "#example=" + encodeURIComponent(ex.name));
  }

  // A link to an example (…/#example=01-transfers-iran-to-russia) opens it and runs it.
  const linked = examples.find((ex) => ex.name === wanted);
  if (linked) run(linked);
})();
