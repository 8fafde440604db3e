// Starts the dashboard: reads its configuration, builds the map, list, detail and stats, keeps
// the address bar in step, and refreshes on the configured interval without moving the view.

import { ApiError, getJson, isAbort } from "./api.js";
import { CoverageLayer } from "./coverage.js";
import { DetailPanel } from "./detail.js";
import { fillFilterForm, watchFilterForm, writeFilterForm } from "./filters.js";
import { currentKey, setupKeyForm } from "./key.js";
import { ReportList } from "./list.js";
import { showLegend } from "./legend.js";
import { ReportMap } from "./map.js";
import { Palette } from "./palette.js";
import { StatsPanel } from "./stats.js";
import { apiFilters, locationSearch, readLocation, writeLocation } from "./urlstate.js";

const $ = (selector) => document.querySelector(selector);

function say(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

class Dashboard {
  constructor(config) {
    this.config = config;
    this.palette = new Palette(config.classes);
    this.status = $("#status");
    const here = readLocation();
    this.filters = here.filters;
    this.selected = here.report;
    this.refreshing = false;
    this.clusterController = null;

    const form = $("#filters");
    fillFilterForm(form, config.classes);
    writeFilterForm(form, this.filters);
    watchFilterForm(form, (filters) => this.setFilters(filters));
    setupKeyForm($("#key-form"), () => this.keyChanged());
    showLegend($("#legend"), this.palette);

    this.list = new ReportList({
      list: $("#report-list"), more: $("#more"), note: $("#list-note"), scroller: $("#list-scroller"),
      palette: this.palette, onSelect: (id) => this.select(id, { focus: true }),
    });
    this.detail = new DetailPanel($("#detail"), {
      palette: this.palette, config,
      linkTo: (id) => `${window.location.pathname}${locationSearch(this.locationState(id))}`,
      onNavigate: (id) => this.select(id, { focus: true }),
      onChanged: () => this.refresh(),
      onSession: (id) => this.setFilters({ ...this.filters, session_id: id }, { syncForm: true }),
    });
    this.stats = new StatsPanel($("#stats"), { palette: this.palette });
    this.map = new ReportMap($("#map"), {
      tiles: config.tiles, palette: this.palette, note: $("#tiles-note"),
      onSelect: (id) => this.select(id, { focus: true }),
      onMove: () => this.viewChanged(),
    });
    this.coverage = new CoverageLayer(this.map.map, {
      toggle: $("#coverage-toggle"), trackButton: $("#show-track"), legend: $("#coverage-legend"),
      note: $("#coverage-note"),
    });
    this.coverage.onShown = () => this.coverage.load(this.map.bbox());
    document.addEventListener("keydown", (event) => {
      const typing = event.target.closest?.("input, select, textarea");
      if (event.key === "Escape" && this.selected && !typing) this.unselect();
    });
    $("#detail-close").addEventListener("click", () => this.unselect());
    this.list.selected = this.selected;
    this.map.selected = this.selected;
    this.start(here.view);
  }

  locationState(report = this.selected) {
    return { filters: this.filters, view: this.map?.view() ?? null, report };
  }

  remember() {
    writeLocation(this.locationState());
  }

  async start(view) {
    if (this.blockedByKey()) return;
    this.timer = window.setInterval(() => this.refresh(), this.config.refresh_s * 1000);
    if (this.selected) this.detail.show(this.selected);
    else this.detail.clear();
    this.stats.refresh();
    // Without a view in the address, the map frames the newest reports that match.
    this.map.setView(view ?? (await this.newestExtent()));
  }

  async newestExtent() {
    try {
      const page = await getJson("v1/reports", { params: { ...apiFilters(this.filters), limit: 100 } });
      return this.map.viewAround(page.reports.filter((r) => r.lat !== null).map((r) => [r.lat, r.long]));
    } catch (error) {
      say(this.status, `The reports could not be loaded: ${error.message}`);
      return null;
    }
  }

  blockedByKey() {
    const blocked = this.config.reads_need_key && !currentKey();
    say(this.status, blocked ? "This service needs an API key to show reports: enter one above." : "");
    return blocked;
  }

  keyChanged() {
    if (!this.timer) {
      this.start(readLocation().view);
      return;
    }
    if (this.blockedByKey()) return;
    this.refresh();
    if (this.selected) this.detail.show(this.selected);
  }

  params() {
    return { ...apiFilters(this.filters), bbox: this.map.bbox() };
  }

  async loadClusters() {
    this.clusterController?.abort();
    this.clusterController = new AbortController();
    const params = { ...this.params(), zoom: this.map.zoom() };
    try {
      const collection = await getJson("v1/reports/clusters", { params, signal: this.clusterController.signal });
      say($("#map-note"), collection.features.length ? "" : "No reports match the filters in this view.");
      this.map.render(collection);
    } catch (error) {
      if (isAbort(error)) return;
      say($("#map-note"), error instanceof ApiError && error.status === 422
        ? `The map cannot show this: ${error.message}`
        : `The map could not be loaded: ${error.message}`);
    }
  }

  async viewChanged() {
    this.remember();
    this.coverage.offerTrack(this.filters.session_id);
    await Promise.all([
      this.loadClusters(), this.list.load(this.params()), this.coverage.load(this.map.bbox()),
    ]);
  }

  setFilters(filters, { syncForm = false } = {}) {
    this.filters = filters;
    if (syncForm) writeFilterForm($("#filters"), filters);
    this.remember();
    this.loadClusters();
    this.list.load(this.params());
    this.coverage.offerTrack(filters.session_id);
  }

  select(id, { focus = false } = {}) {
    this.selected = id;
    this.remember();
    this.list.highlight(id);
    this.map.highlight(id);
    this.detail.show(id).then(() => {
      if (focus) $("#detail h2").focus();
    });
  }

  unselect() {
    const id = this.selected;
    this.selected = null;
    this.remember();
    this.list.highlight(null);
    this.map.highlight(null);
    this.detail.clear();
    if (id) this.list.rowFor(id)?.focus();
  }

  // The periodic refresh: the same view, filters and selection, fresh data.
  async refresh() {
    if (this.refreshing || document.hidden || this.blockedByKey()) return;
    this.refreshing = true;
    try {
      await Promise.all([
        this.loadClusters(),
        this.coverage.load(this.map.bbox()),
        this.list.refresh(),
        this.selected ? this.detail.show(this.selected, { keepPlace: true }) : null,
        this.stats.refresh(),
      ]);
    } finally {
      this.refreshing = false;
    }
  }
}

async function boot() {
  try {
    const config = await getJson("dashboard/config.json");
    new Dashboard(config); // eslint-disable-line no-new
  } catch (error) {
    say($("#status"), `The dashboard could not start: ${error.message}`);
  }
}

boot();
