// Starts the dashboard: reads its configuration, builds the map, list, detail and stats, keeps
// the address bar in step, and refreshes without moving the view: on the live feed's events
// (debounced), and on the configured interval while the feed is out of reach.

import { ApiError, getJson, isAbort } from "./api.js";
import { CoverageLayer } from "./coverage.js";
import { DetailPanel } from "./detail.js";
import { LiveFeed } from "./events.js";
import { fillFilterForm, watchFilterForm, writeFilterForm } from "./filters.js";
import { currentKey, setupKeyForm } from "./key.js";
import { ReportList } from "./list.js";
import { showLegend } from "./legend.js";
import { ReportMap } from "./map.js";
import { Palette } from "./palette.js";
import { StatsPanel } from "./stats.js";
import { apiFilters, locationSearch, readLocation, writeLocation } from "./urlstate.js";

const $ = (selector) => document.querySelector(selector);
// At most one refresh for the live feed's events per this long: a burst is one refresh.
const LIVE_REFRESH_MS = 1000;

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
    this.liveStatus = $("#live-status");
    this.pending = new Map(); // report id -> its newest event not yet shown
    this.liveTimer = null;
    this.lastLiveRefresh = 0;
    this.missed = false;
    this.live = new LiveFeed({
      onEvent: (event) => this.liveEvent(event),
      onOpen: ({ first, resumed }) => {
        // Reconnected without an id to resume from: whatever happened meanwhile is unknown.
        if (!first && !resumed) this.refresh();
      },
      onState: (state) => this.showLiveState(state),
    });

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
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && this.missed) this.refresh();
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
    this.timer = window.setInterval(() => this.poll(), this.config.refresh_s * 1000);
    this.live.start();
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
    if (this.blockedByKey()) {
      this.live.stop();
      return;
    }
    this.live.start();
    this.refresh();
    if (this.selected) this.detail.show(this.selected);
  }

  showLiveState(state) {
    const text = {
      live: "Live",
      reconnecting: "Reconnecting…",
      polling: `Polling every ${this.config.refresh_s} s`,
    }[state] ?? "";
    say(this.liveStatus, text);
    this.liveStatus.dataset.state = state;
  }

  // The periodic refresh: the fallback while the live feed is out of reach.
  poll() {
    if (!this.live.live) this.refresh();
  }

  liveEvent(event) {
    if (event.type === "reset") {
      this.pending.clear();
      this.refresh();
      return;
    }
    if (!event.type.startsWith("report.")) return;
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    if (typeof data?.report_id !== "string") return;
    this.pending.set(data.report_id, data);
    if (typeof data.duplicate_of === "string") this.pending.set(data.duplicate_of, data);
    if (this.liveTimer === null) {
      const wait = Math.max(0, this.lastLiveRefresh + LIVE_REFRESH_MS - Date.now());
      this.liveTimer = window.setTimeout(() => this.liveRefresh(), wait);
    }
  }

  // Reloads what the events touch: the map and list when one is in view (or listed), the
  // counts always, the open report when an event names it.
  async liveRefresh() {
    this.liveTimer = null;
    this.lastLiveRefresh = Date.now();
    const events = this.pending;
    this.pending = new Map();
    if (document.hidden) {
      this.missed = true;
      return;
    }
    if (this.blockedByKey()) return;
    const inView = this.touchesView(events);
    await Promise.all([
      inView ? this.loadClusters() : null,
      inView ? this.list.refresh() : null,
      this.stats.refresh(),
      this.selected && events.has(this.selected)
        ? this.detail.show(this.selected, { keepPlace: true })
        : null,
    ]);
  }

  touchesView(events) {
    const [west, south, east, north] = this.map.bbox().split(",").map(Number);
    for (const [id, data] of events) {
      if (this.list.rowFor(id)) return true;
      const { lat, lon } = data;
      if (typeof lat === "number" && typeof lon === "number"
        && lat >= south && lat <= north && lon >= west && lon <= east) return true;
    }
    return false;
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
    if (document.hidden) {
      this.missed = true;
      return;
    }
    if (this.refreshing || this.blockedByKey()) return;
    this.refreshing = true;
    this.missed = false;
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
