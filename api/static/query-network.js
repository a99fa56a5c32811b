"use strict";
// The Network result view of the query page: rows that pair two IRIs (a supplier and a
// recipient, a claimant and a territory) drawn as a graph, an arrow from the first column's
// entity to the second's, laid out by d3-force (vendored in static/vendor/d3-force/). A number
// column, if there is one, sets the edges' widths. Registered with YASR before YASGUI starts.
(function () {
  const Yasr = Yasgui.Yasr;
  const { ENTITY, isNumeric, entityPage, fetchLabels, plainText } = window.geokbViews;
  const SVG = "http://www.w3.org/2000/svg";
  const MAX_EDGES = 2000; // rows drawn; the rest are counted in a note
  const TICKS = 300; // layout steps, run at once: the picture is drawn still, not animated
  const WIDTH = 900;
  const HEIGHT = 560;

  // The two IRI columns (the first two whose bound values are mostly IRIs) and a number column.
  function networkColumns(results) {
    if (!results || results.getType() !== "json" || !results.getVariables) return null;
    const rows = results.getBindings() || [];
    if (!rows.length) return null;
    const vars = results.getVariables() || [];
    const iriColumns = vars.filter((v) => {
      const bound = rows.filter((r) => r[v]);
      const iris = bound.filter((r) => r[v].type === "uri").length;
      return iris > 0 && iris * 2 >= bound.length;
    });
    if (iriColumns.length < 2) return null;
    const weight = vars.find((v) => rows.every((r) => isNumeric(r[v]))) || null;
    return { from: iriColumns[0], to: iriColumns[1], weight };
  }

  function graphOf(results, columns, labels, prefixes) {
    const nodes = new Map();
    const edges = new Map();
    const node = (b) => {
      if (!nodes.has(b.value)) {
        nodes.set(b.value, { id: b.value, label: plainText(b, labels, prefixes), degree: 0 });
      }
      return nodes.get(b.value);
    };
    let skipped = 0;
    for (const r of results.getBindings()) {
      const a = r[columns.from];
      const b = r[columns.to];
      if (!a || !b || a.type !== "uri" || b.type !== "uri") continue;
      const key = a.value + "\u0000" + b.value;
      if (!edges.has(key) && edges.size >= MAX_EDGES) {
        skipped += 1;
        continue;
      }
      const w = columns.weight ? Number(r[columns.weight].value) : 1;
      const edge = edges.get(key) || { source: node(a), target: node(b), weight: 0 };
      edge.weight += Number.isFinite(w) ? w : 1;
      edges.set(key, edge);
    }
    for (const e of edges.values()) {
      e.source.degree += 1;
      e.target.degree += 1;
    }
    return { nodes: [...nodes.values()], edges: [...edges.values()], skipped };
  }

  function layout(graph) {
    const sim = d3.forceSimulation(graph.nodes)
      .force("link", d3.forceLink(graph.edges).distance(90))
      .force("charge", d3.forceManyBody().strength(-320))
      .force("collide", d3.forceCollide(22))
      .force("x", d3.forceX(0).strength(0.06))
      .force("y", d3.forceY(0).strength(0.09))
      .stop();
    for (let i = 0; i < TICKS; i += 1) sim.tick();
  }

  function svgElement(name, attrs) {
    const el = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    return el;
  }

  function draw(graph) {
    const xs = graph.nodes.map((n) => n.x);
    const ys = graph.nodes.map((n) => n.y);
    const pad = 90;
    const box = [Math.min(...xs) - pad, Math.min(...ys) - 30, Math.max(...xs) + pad, Math.max(...ys) + 30];
    const scale = Math.min(1, WIDTH / (box[2] - box[0]), HEIGHT / (box[3] - box[1]));
    const svg = svgElement("svg", {
      class: "geokb-network",
      viewBox: `${box[0]} ${box[1]} ${box[2] - box[0]} ${box[3] - box[1]}`,
      width: Math.round((box[2] - box[0]) * scale),
      height: Math.round((box[3] - box[1]) * scale),
      role: "img",
    });
    const title = svgElement("title", {});
    title.textContent = `${graph.nodes.length} entities, ${graph.edges.length} links`;
    svg.appendChild(title);
    const defs = svgElement("defs", {});
    const marker = svgElement("marker", {
      id: "geokb-arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
      markerWidth: 6, markerHeight: 6, orient: "auto-start-reverse",
    });
    marker.appendChild(svgElement("path", { d: "M 0 0 L 10 5 L 0 10 z" }));
    defs.appendChild(marker);
    svg.appendChild(defs);
    const heaviest = Math.max(...graph.edges.map((e) => e.weight));
    const radius = (n) => 4 + Math.min(8, Math.sqrt(n.degree) * 2);
    for (const e of graph.edges) {
      // stop the line at the target's circle, so the arrow head shows
      const dx = e.target.x - e.source.x;
      const dy = e.target.y - e.source.y;
      const len = Math.hypot(dx, dy) || 1;
      const r = radius(e.target) + 2;
      const line = svgElement("line", {
        class: "edge", x1: e.source.x, y1: e.source.y,
        x2: e.target.x - (dx / len) * r, y2: e.target.y - (dy / len) * r,
        "stroke-width": 1 + (3 * e.weight) / heaviest, "marker-end": "url(#geokb-arrow)",
      });
      const tip = svgElement("title", {});
      tip.textContent = `${e.source.label} → ${e.target.label}` + (e.weight !== 1 ? ` (${e.weight})` : "");
      line.appendChild(tip);
      svg.appendChild(line);
    }
    for (const n of graph.nodes) {
      const link = svgElement("a", { href: n.id.startsWith(ENTITY) ? entityPage(n.id) : n.id });
      link.appendChild(svgElement("circle", { class: "node", cx: n.x, cy: n.y, r: radius(n) }));
      const text = svgElement("text", { x: n.x + radius(n) + 3, y: n.y + 4, class: "node-label" });
      text.textContent = n.label;
      const tip = svgElement("title", {});
      tip.textContent = n.id;
      link.appendChild(tip);
      link.appendChild(text);
      svg.appendChild(link);
    }
    return svg;
  }

  class Network {
    constructor(yasr) {
      this.yasr = yasr;
      this.priority = 3;
      this.label = "Network";
    }
    canHandleResults() {
      return !!networkColumns(this.yasr.results);
    }
    getIcon() {
      const icon = document.createElement("div");
      icon.className = "svgImg plugin_icon";
      icon.innerHTML = '<svg viewBox="0 0 16 16" width="16" height="16" aria-hidden="true">' +
        '<circle cx="3" cy="8" r="2.5"/><circle cx="13" cy="3" r="2.5"/><circle cx="13" cy="13" r="2.5"/>' +
        '<path d="M3 8 L13 3 M3 8 L13 13" stroke="currentColor" stroke-width="1.2"/></svg>';
      return icon;
    }
    async draw() {
      const results = this.yasr.results;
      const columns = networkColumns(results);
      if (!columns) return;
      const labels = await fetchLabels(results);
      const graph = graphOf(results, columns, labels, this.yasr.getPrefixes());
      if (!graph.edges.length) return;
      layout(graph);
      const figure = document.createElement("figure");
      figure.className = "geokb-network-view";
      figure.appendChild(draw(graph));
      const caption = document.createElement("figcaption");
      caption.textContent = `An arrow from ?${columns.from} to ?${columns.to}` +
        (columns.weight ? `, thicker for a larger ?${columns.weight}` : "") +
        `: ${graph.nodes.length} entities, ${graph.edges.length} links.` +
        (graph.skipped ? ` The first ${MAX_EDGES} links are drawn; ${graph.skipped} more rows are in the table.` : "");
      figure.appendChild(caption);
      this.yasr.resultsEl.appendChild(figure);
    }
  }

  Yasr.registerPlugin("network", Network);
  const order = Yasr.defaults.pluginOrder;
  order.splice(Math.max(0, order.indexOf("response")), 0, "network");
})();
