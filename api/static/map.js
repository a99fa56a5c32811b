"use strict";
// Small maps with no tile server: the Natural Earth country outlines of world-atlas (1:110m,
// vendored in static/vendor/map/) projected with d3-geo, states outlined by their ISO numeric
// code, places marked at their points and linked to their pages. Entity pages give what to
// draw in a figure's data-map (api/maps.py); the query page's Map view calls geokbMap.draw.
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const WIDTH = 640;
  const HEIGHT = 360;
  const PAD = 18;
  const atlases = new Map(); // url -> Promise of the topology, fetched once per page

  function atlas(url) {
    if (!atlases.has(url)) {
      atlases.set(url, fetch(url).then((r) => {
        if (!r.ok) throw new Error(`atlas ${url}: HTTP ${r.status}`);
        return r.json();
      }));
    }
    return atlases.get(url);
  }

  function node(name, attrs, text) {
    const el = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function linked(href, title, child) {
    const a = href ? node("a", { href: href }) : node("g");
    a.appendChild(node("title", {}, title));
    a.appendChild(child);
    return a;
  }

  // Draw spec = {atlas, points: [{lat, lon, label, href}], states: [{code, label, href, role}]}
  // into container (first child); resolves to the svg.
  async function draw(container, spec) {
    const topology = await atlas(spec.atlas);
    const countries = topojson.feature(topology, topology.objects.countries).features;
    const byCode = new Map(countries.filter((f) => f.id).map((f) => [String(f.id), f]));
    const states = (spec.states || []).filter((s) => byCode.has(s.code));
    const points = (spec.points || []).filter((p) => Number.isFinite(p.lat) && Number.isFinite(p.lon));
    // The frame holds the outlined states and a margin of a few degrees around each place.
    const radius = points.length > 1 || states.length ? 1.5 : 6;
    const focus = {
      type: "FeatureCollection",
      features: [
        ...states.map((s) => byCode.get(s.code)),
        ...points.map((p) => ({
          type: "Feature",
          geometry: d3.geoCircle().center([p.lon, p.lat]).radius(radius)(),
        })),
      ],
    };
    const projection = d3.geoNaturalEarth1();
    if (focus.features.length) {
      // centred on what is shown, so a state across the antimeridian is not cut in two
      projection.rotate([-d3.geoCentroid(focus)[0], 0]);
      projection.fitExtent([[PAD, PAD], [WIDTH - PAD, HEIGHT - PAD]], focus);
    } else {
      projection.fitExtent([[PAD, PAD], [WIDTH - PAD, HEIGHT - PAD]], { type: "Sphere" });
    }
    const path = d3.geoPath(projection);
    const svg = node("svg", {
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      class: "geokb-map-svg",
      role: "img",
      "aria-label": spec.title || "Map",
    });
    svg.appendChild(node("rect", { class: "sea", x: 0, y: 0, width: WIDTH, height: HEIGHT }));
    const land = node("g", { class: "countries" });
    for (const f of countries) {
      const d = path(f);
      if (d) land.appendChild(node("path", { d: d, class: "country" }));
    }
    svg.appendChild(land);
    for (const s of states) {
      const d = path(byCode.get(s.code));
      if (d) svg.appendChild(linked(s.href, s.label, node("path", { d: d, class: `state role-${s.role}` })));
    }
    const marks = node("g", { class: "places" });
    for (const p of points) {
      const xy = projection([p.lon, p.lat]);
      if (!xy) continue;
      const [x, y] = xy.map((n) => Math.round(n * 10) / 10);
      const g = node("g", { class: "place" });
      g.appendChild(node("circle", { cx: x, cy: y, r: 4.5 }));
      if (points.length <= 40) {
        // a label near the right edge goes on the point's left, so the frame does not cut it
        const left = x > WIDTH * 0.7;
        g.appendChild(node("text", { x: left ? x - 7 : x + 7, y: y + 4, "text-anchor": left ? "end" : "start" }, p.label));
      }
      marks.appendChild(linked(p.href, `${p.label} (${p.lat}, ${p.lon})`, g));
    }
    svg.appendChild(marks);
    container.insertBefore(svg, container.firstChild);
    container.dataset.drawn = String(marks.childNodes.length); // places drawn, for tests
    return svg;
  }

  window.geokbMap = { draw: draw };

  // The entity pages' figures.
  for (const figure of document.querySelectorAll("figure.geokb-map[data-map]")) {
    let spec;
    try {
      spec = JSON.parse(figure.dataset.map);
    } catch (e) {
      console.warn("geokb: unreadable map", e);
      continue;
    }
    draw(figure, spec).catch((e) => {
      figure.dataset.drawn = "failed";
      console.warn("geokb: map not drawn", e);
    });
  }
})();
