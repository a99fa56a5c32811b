"use strict";
// The Map result view of the query page: rows with a place, as a GeoSPARQL WKT point
// ("POINT(lon lat)"^^geo:wktLiteral, e.g. ?t geo:hasGeometry/geo:asWKT ?where) or as a pair
// of latitude and longitude columns, drawn as points over the Natural Earth outlines
// (static/map.js), each labelled by the row's first entity and linked to its page.
(function () {
  const Yasr = Yasgui.Yasr;
  const { ENTITY, isNumeric, entityPage, fetchLabels, plainText } = window.geokbViews;
  const WKT = "http://www.opengis.net/ont/geosparql#wktLiteral";
  const POINT = /^\s*(?:<[^>]*>\s*)?POINT\s*\(\s*(-?[\d.]+(?:e-?\d+)?)\s+(-?[\d.]+(?:e-?\d+)?)\s*\)\s*$/i;
  const MAX_POINTS = 2000;

  const isPoint = (b) => !!b && b.type !== "uri" && (b.datatype === WKT || !b.datatype) && POINT.test(b.value);

  // Where a row's place is: a WKT column, or latitude and longitude columns.
  function mapColumns(results) {
    if (!results || results.getType() !== "json" || !results.getVariables) return null;
    const rows = results.getBindings() || [];
    if (!rows.length) return null;
    const vars = results.getVariables() || [];
    const wkt = vars.find((v) => rows.some((r) => isPoint(r[v])));
    const lat = vars.find((v) => /^lat(itude)?$/i.test(v) && rows.some((r) => isNumeric(r[v])));
    const lon = vars.find((v) => /^(lon|long|lng|longitude)$/i.test(v) && rows.some((r) => isNumeric(r[v])));
    if (!wkt && !(lat && lon)) return null;
    const taken = new Set([wkt, lat, lon]);
    const name = vars.find((v) => !taken.has(v) && rows.some((r) => r[v] && r[v].type === "uri")) ||
      vars.find((v) => !taken.has(v) && rows.some((r) => r[v]));
    return { wkt: wkt || null, lat: wkt ? null : lat, lon: wkt ? null : lon, name: name || null };
  }

  function where(row, cols) {
    if (cols.wkt) {
      const m = row[cols.wkt] && POINT.exec(row[cols.wkt].value);
      return m ? { lat: Number(m[2]), lon: Number(m[1]) } : null;
    }
    const lat = row[cols.lat] && Number(row[cols.lat].value);
    const lon = row[cols.lon] && Number(row[cols.lon].value);
    return Number.isFinite(lat) && Number.isFinite(lon) ? { lat, lon } : null;
  }

  class MapView {
    constructor(yasr) {
      this.yasr = yasr;
      this.priority = 6;
      this.label = "Map";
    }
    canHandleResults() {
      return !!mapColumns(this.yasr.results);
    }
    getIcon() {
      const icon = document.createElement("div");
      icon.className = "svgImg plugin_icon";
      icon.innerHTML = '<svg viewBox="0 0 16 16" width="16" height="16" aria-hidden="true">' +
        '<path d="M8 1a5 5 0 0 0-5 5c0 4 5 9 5 9s5-5 5-9a5 5 0 0 0-5-5zm0 7a2 2 0 1 1 0-4 2 2 0 0 1 0 4z"/></svg>';
      return icon;
    }
    async draw() {
      const results = this.yasr.results;
      const cols = mapColumns(results);
      if (!cols) return;
      const labels = await fetchLabels(results);
      const prefixes = this.yasr.getPrefixes();
      const points = [];
      const seen = new Set();
      let without = 0;
      for (const row of results.getBindings()) {
        const at = where(row, cols);
        if (!at || Math.abs(at.lat) > 90 || Math.abs(at.lon) > 180) {
          without += 1;
          continue;
        }
        const b = cols.name ? row[cols.name] : null;
        const label = b ? plainText(b, labels, prefixes) : `${at.lat}, ${at.lon}`;
        const href = b && b.type === "uri" ? (b.value.startsWith(ENTITY) ? entityPage(b.value) : b.value) : "";
        const key = `${label}\u0000${at.lat}\u0000${at.lon}`;
        if (seen.has(key) || points.length >= MAX_POINTS) continue; // a place once, however many rows
        seen.add(key);
        points.push({ lat: at.lat, lon: at.lon, label: label, href: href });
      }
      const figure = document.createElement("figure");
      figure.className = "geokb-map-view";
      const caption = document.createElement("figcaption");
      caption.textContent = `${points.length} place${points.length === 1 ? "" : "s"} from ?` +
        (cols.wkt || `${cols.lat} and ?${cols.lon}`) + (cols.name ? `, named by ?${cols.name}` : "") +
        (without ? `; ${without} row${without === 1 ? "" : "s"} without a point (see the table)` : "") +
        ". Outlines: Natural Earth (1:110m).";
      figure.appendChild(caption);
      this.yasr.resultsEl.appendChild(figure);
      const atlas = new URL("static/vendor/map/countries-110m.json", document.baseURI).href;
      await window.geokbMap.draw(figure, { atlas: atlas, points: points, states: [], title: "Map of the results" });
    }
    download() {
      return undefined;
    }
  }

  Yasr.registerPlugin("map", MapView);
  const order = Yasr.defaults.pluginOrder;
  order.splice(Math.max(0, order.indexOf("response")), 0, "map");
})();
