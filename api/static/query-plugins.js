"use strict";
// Result views for the query page, registered with YASR's own plugin API before YASGUI starts:
// a table that names geokb entities by their labels, a bar chart and a timeline.
(function () {
  const Yasr = Yasgui.Yasr;
  const ENTITY = "https://w3id.org/geokb/id/";
  const XSD = "http://www.w3.org/2001/XMLSchema#";
  const NUMERIC = new Set(["integer", "decimal", "double", "float", "int", "long", "short",
    "nonNegativeInteger", "positiveInteger", "negativeInteger", "nonPositiveInteger",
    "unsignedInt", "unsignedLong"].map((t) => XSD + t));
  const DATES = new Set(["date", "dateTime", "gYear", "gYearMonth"].map((t) => XSD + t));
  const MAX_LABELS = 1000; // IRIs named in the one label query
  const CHART_ROWS = 40; // bars a chart draws

  const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) =>
    ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const isNumeric = (b) => !!b && b.type !== "uri" && NUMERIC.has(b.datatype);
  const isDate = (b) => !!b && b.type !== "uri" && DATES.has(b.datatype);
  const entityPage = (iri) => new URL("id/" + iri.slice(ENTITY.length), document.baseURI).href;

  // ---- labels: one extra query per result, cached on the results object ----
  const labelCache = new WeakMap();
  async function fetchLabels(results) {
    if (!results || labelCache.has(results)) return labelCache.get(results);
    const labels = new Map();
    labelCache.set(results, labels);
    const iris = new Set();
    for (const row of results.getBindings() || []) {
      for (const b of Object.values(row)) {
        if (b && b.type === "uri" && b.value.startsWith(ENTITY) && !/[<>"{}|\\^`\s]/.test(b.value)) {
          iris.add(b.value);
        }
      }
    }
    if (!iris.size) return labels;
    // The names the pages give: a label, a source's title, or a title composed from a record's
    // fields (a claim, an administration ... has no label of its own). See api/names.py.
    const body = new URLSearchParams();
    [...iris].slice(0, MAX_LABELS).forEach((i) => body.append("iri", i));
    try {
      const answer = await fetch(new URL("names", document.baseURI), { method: "POST", body });
      if (!answer.ok) return labels;
      const names = await answer.json();
      for (const [iri, name] of Object.entries(names)) labels.set(iri, name);
    } catch (e) {
      console.warn("geokb: no labels", e);
    }
    return labels;
  }
  const labelsOf = (results) => (results && labelCache.get(results)) || new Map();

  // The text a cell shows (and sorts and filters by).
  function plainText(b, labels, prefixes) {
    if (!b) return "";
    if (b.type === "uri") {
      if (labels.has(b.value)) return labels.get(b.value);
      for (const [p, ns] of Object.entries(prefixes || {})) {
        if (ns && b.value.startsWith(ns) && b.value.length > ns.length) return p + ":" + b.value.slice(ns.length);
      }
      return b.value;
    }
    return b.value;
  }

  // ---- the table: YASR's own, with labels and plain literals ----
  class GeokbTable extends Yasr.plugins.table {
    async draw(config) {
      await fetchLabels(this.yasr.results);
      const drawn = super.draw(config);
      this.fit();
      this.dataTable?.on("draw", () => this.fit());
      // a narrower window after the table is drawn: share the new width out again
      if (!this.refit) {
        let pending = 0;
        this.refit = () => {
          clearTimeout(pending);
          pending = setTimeout(() => this.fit(), 100);
        };
        window.addEventListener("resize", this.refit);
      }
      return drawn;
    }
    // The column resizer fixes each column's width in px, from the header cells' natural widths,
    // and their sum may pass the space there is (long URLs): share the width out in percent.
    fit() {
      const table = this.tableEl;
      if (!table || !table.isConnected) return;
      const cols = [...table.querySelectorAll("colgroup > col")];
      const ths = [...table.querySelectorAll("thead > tr > th")];
      const widths = ths.map((th) => th.getBoundingClientRect().width);
      const total = widths.reduce((a, b) => a + b, 0);
      const room = this.yasr.resultsEl.clientWidth;
      if (!total || !room || (total <= room && table.getBoundingClientRect().width <= room)) return;
      widths.forEach((w, i) => {
        const pct = (100 * w) / total + "%";
        if (cols[i]) cols[i].style.width = pct;
        ths[i].style.width = pct;
      });
      table.style.width = "100%";
      const grips = table.previousElementSibling;
      if (grips && grips.classList.contains("grip-container")) grips.style.width = "100%";
    }
    getSizeFirstColumn() {
      return String(this.yasr.results?.getBindings()?.length || 0).length * 9 + 14;
    }
    getCellContent(b) {
      const labels = labelsOf(this.yasr.results);
      const text = escapeHtml(plainText(b, labels, this.yasr.getPrefixes()));
      if (b.type === "uri") {
        if (b.value.startsWith(ENTITY)) {
          const cls = labels.has(b.value) ? "iri entity" : "iri";
          return `<div><a class="${cls}" href="${escapeHtml(entityPage(b.value))}" title="${escapeHtml(b.value)}">${text}</a></div>`;
        }
        return `<div><a class="iri" href="${escapeHtml(b.value)}" title="${escapeHtml(b.value)}" rel="noopener">${text}</a></div>`;
      }
      const note = b["xml:lang"] ? "@" + b["xml:lang"] : b.datatype ? b.datatype.replace(XSD, "xsd:") : "";
      const cls = isNumeric(b) ? "nonIri num" : "nonIri";
      return `<div><span class="${cls}"${note ? ` title="${escapeHtml(note)}"` : ""}>${text}</span></div>`;
    }
    getColumns() {
      const columns = super.getColumns();
      const prefixes = this.yasr.getPrefixes();
      return columns.map((col, i) => {
        if (i === 0) return col;
        const render = col.render;
        return {
          ...col,
          render: (b, type, row, meta) => {
            if (b === "" || b === undefined) return "";
            if (type === "sort" || type === "type") {
              if (isNumeric(b)) return Number(b.value);
              return plainText(b, labelsOf(this.yasr.results), prefixes).toLowerCase();
            }
            if (type === "filter") return plainText(b, labelsOf(this.yasr.results), prefixes) + " " + b.value;
            return render(b, type, row, meta);
          },
        };
      });
    }
  }
  GeokbTable.prototype.label = "Table";

  // ---- a bar chart: one text column and one number column ----
  function chartColumns(results) {
    if (!results || results.getType() !== "json" || !results.getVariables) return null;
    const vars = results.getVariables() || [];
    const rows = results.getBindings() || [];
    if (!rows.length || rows.length > 100000) return null;
    const value = vars.find((v) => rows.every((r) => isNumeric(r[v])));
    const label = vars.find((v) => v !== value && rows.some((r) => r[v]) &&
      rows.every((r) => !isNumeric(r[v])));
    return value && label ? { label, value } : null;
  }

  class Chart {
    constructor(yasr) {
      this.yasr = yasr;
      this.priority = 5;
      this.label = "Chart";
      this.helpReference = undefined;
    }
    canHandleResults() {
      return !!chartColumns(this.yasr.results);
    }
    getIcon() {
      const icon = document.createElement("div");
      icon.className = "svgImg plugin_icon";
      icon.innerHTML = '<svg viewBox="0 0 16 16" width="16" height="16" aria-hidden="true">' +
        '<rect x="1" y="2" width="11" height="3"/><rect x="1" y="7" width="14" height="3"/>' +
        '<rect x="1" y="12" width="6" height="3"/></svg>';
      return icon;
    }
    async draw() {
      const results = this.yasr.results;
      const cols = chartColumns(results);
      if (!cols) return;
      const labels = await fetchLabels(results);
      const prefixes = this.yasr.getPrefixes();
      const all = results.getBindings();
      const rows = all.slice(0, CHART_ROWS).map((r) => ({
        text: r[cols.label] ? plainText(r[cols.label], labels, prefixes) : "(none)",
        iri: r[cols.label] && r[cols.label].type === "uri" ? r[cols.label].value : null,
        n: Number(r[cols.value].value),
      }));
      const max = Math.max(...rows.map((r) => Math.abs(r.n)), 1);
      const NS = "http://www.w3.org/2000/svg";
      const barH = 22, gap = 6, labelW = 300, barW = 380, numW = 70;
      const svg = document.createElementNS(NS, "svg");
      const height = rows.length * (barH + gap);
      svg.setAttribute("viewBox", `0 0 ${labelW + barW + numW} ${height}`);
      svg.setAttribute("class", "geokb-chart");
      svg.setAttribute("role", "img");
      svg.setAttribute("aria-label", `${cols.value} by ${cols.label}`);
      rows.forEach((r, i) => {
        const y = i * (barH + gap);
        const g = document.createElementNS(NS, "g");
        const name = document.createElementNS(NS, "text");
        name.setAttribute("x", labelW - 8);
        name.setAttribute("y", y + barH * 0.7);
        name.setAttribute("text-anchor", "end");
        name.textContent = r.text.length > 34 ? r.text.slice(0, 33) + "…" : r.text;
        let nameEl = name;
        if (r.iri && r.iri.startsWith(ENTITY)) {
          nameEl = document.createElementNS(NS, "a");
          nameEl.setAttribute("href", entityPage(r.iri));
          nameEl.appendChild(name);
        }
        const title = document.createElementNS(NS, "title");
        title.textContent = `${r.text}: ${r.n}`;
        const bar = document.createElementNS(NS, "rect");
        bar.setAttribute("x", labelW);
        bar.setAttribute("y", y);
        bar.setAttribute("height", barH);
        bar.setAttribute("width", Math.max(1, (Math.abs(r.n) / max) * barW));
        bar.setAttribute("class", "bar");
        const num = document.createElementNS(NS, "text");
        num.setAttribute("x", labelW + (Math.abs(r.n) / max) * barW + 6);
        num.setAttribute("y", y + barH * 0.7);
        num.textContent = String(r.n);
        g.append(title, nameEl, bar, num);
        svg.appendChild(g);
      });
      const wrap = document.createElement("div");
      wrap.className = "geokb-chart-wrap";
      wrap.appendChild(svg);
      this.yasr.resultsEl.appendChild(wrap);
      if (all.length > rows.length) {
        const note = document.createElement("p");
        note.className = "geokb-chart-note";
        note.textContent = `The first ${rows.length} of ${all.length} rows, in the query's order.`;
        this.yasr.resultsEl.appendChild(note);
      }
    }
    download() {
      return undefined;
    }
  }

  // ---- a timeline: rows ordered by their first date column ----
  function dateColumn(results) {
    if (!results || results.getType() !== "json" || !results.getVariables) return null;
    const rows = results.getBindings() || [];
    if (!rows.length) return null;
    // a column whose values are mostly dates ("unknown" and the like are left out)
    return (results.getVariables() || []).find((v) => {
      const dated = rows.filter((r) => isDate(r[v])).length;
      return dated > 0 && dated * 2 >= rows.filter((r) => r[v]).length;
    }) || null;
  }

  class Timeline {
    constructor(yasr) {
      this.yasr = yasr;
      this.priority = 4;
      this.label = "Timeline";
    }
    canHandleResults() {
      return !!dateColumn(this.yasr.results);
    }
    getIcon() {
      const icon = document.createElement("div");
      icon.className = "svgImg plugin_icon";
      icon.innerHTML = '<svg viewBox="0 0 16 16" width="16" height="16" aria-hidden="true">' +
        '<rect x="3" y="1" width="2" height="14"/><circle cx="4" cy="4" r="2.5"/>' +
        '<circle cx="4" cy="11" r="2.5"/><rect x="8" y="3" width="7" height="2"/>' +
        '<rect x="8" y="10" width="7" height="2"/></svg>';
      return icon;
    }
    async draw() {
      const results = this.yasr.results;
      const when = dateColumn(results);
      if (!when) return;
      const labels = await fetchLabels(results);
      const prefixes = this.yasr.getPrefixes();
      const vars = results.getVariables().filter((v) => v !== when);
      const rows = results.getBindings().filter((r) => isDate(r[when]))
        .sort((a, b) => (a[when].value < b[when].value ? -1 : a[when].value > b[when].value ? 1 : 0));
      const list = document.createElement("ol");
      list.className = "timeline geokb-timeline";
      for (const r of rows) {
        const li = document.createElement("li");
        const time = document.createElement("time");
        time.dateTime = r[when].value;
        time.textContent = r[when].value;
        time.title = r[when].datatype.replace(XSD, "xsd:");
        li.appendChild(time);
        vars.forEach((v, i) => {
          const b = r[v];
          if (!b) return;
          if (i) li.appendChild(document.createTextNode(" · "));
          const text = plainText(b, labels, prefixes);
          let el;
          if (b.type === "uri") {
            el = document.createElement("a");
            el.href = b.value.startsWith(ENTITY) ? entityPage(b.value) : b.value;
            el.title = b.value;
          } else {
            el = document.createElement("span");
            if (b["xml:lang"] || b.datatype) el.title = b["xml:lang"] ? "@" + b["xml:lang"] : b.datatype;
          }
          el.textContent = text;
          li.appendChild(el);
        });
        list.appendChild(li);
      }
      this.yasr.resultsEl.appendChild(list);
      const undated = results.getBindings().length - rows.length;
      if (undated) {
        const note = document.createElement("p");
        note.className = "geokb-undated";
        note.textContent = `${undated} row${undated > 1 ? "s" : ""} without a date (see the table).`;
        this.yasr.resultsEl.appendChild(note);
      }
    }
  }

  // For views kept in files of their own (query-network.js): the shared label and text helpers.
  window.geokbViews = { ENTITY, escapeHtml, isNumeric, entityPage, fetchLabels, plainText };

  Yasr.registerPlugin("table", GeokbTable);
  Yasr.registerPlugin("chart", Chart);
  Yasr.registerPlugin("timeline", Timeline);
  Yasr.defaults.pluginOrder = ["table", "chart", "timeline", "response"];
  window.geokbLabels = fetchLabels;
})();
