// The map: the server's clusters (a count per grid cell, by class, state and severity) and,
// at street zoom, single reports; markers are focusable and open with Enter.

import * as L from "../vendor/leaflet/leaflet-src.esm.js";
import { el, humanState, linkedText, percent } from "./dom.js";
import { CLOSED_STATES, severityKey } from "./palette.js";

export const PIN_SIZE = { high: 26, medium: 20, low: 15, unknown: 15 };
const MAX_LAT = 85.05;
const WORLD = { lat: 20, lon: 0, zoom: 2 };

function clamp(value, limit) {
  return Math.max(-limit, Math.min(limit, value));
}

function counted(counts, name) {
  return Object.entries(counts ?? {})
    .sort((a, b) => b[1] - a[1])
    .map(([key, n]) => `${n} ${name(key)}`)
    .join(", ");
}

export class ReportMap {
  constructor(container, { tiles, palette, note, onSelect, onMove }) {
    this.palette = palette;
    this.note = note;
    this.onSelect = onSelect;
    this.selected = null;
    this.markers = new Map();
    this.map = L.map(container, { minZoom: 2, maxZoom: 19, attributionControl: false });
    L.control.scale({ imperial: false, position: "bottomleft" }).addTo(this.map);
    this.layer = L.layerGroup().addTo(this.map);
    if (tiles) this.addTiles(container, tiles);
    else container.classList.add("no-tiles");
    this.map.on("moveend", () => onMove(this.view()));
  }

  addTiles(container, tiles) {
    let loaded = 0;
    let failed = 0;
    const layer = L.tileLayer(tiles.url, { maxZoom: 19 });
    layer.on("tileload", () => {
      loaded += 1;
      if (container.classList.contains("tiles-failed")) {
        container.classList.remove("tiles-failed");
        this.note.textContent = "";
      }
    });
    layer.on("tileerror", () => {
      failed += 1;
      if (loaded === 0 && failed >= 2 && !container.classList.contains("tiles-failed")) {
        container.classList.add("tiles-failed");
        this.note.textContent = "The map tiles could not be loaded: the map shows a plain background.";
      }
    });
    layer.addTo(this.map);
    const credit = L.control({ position: "bottomright" });
    credit.onAdd = () =>
      el("div", { class: "leaflet-control leaflet-control-attribution" }, linkedText(tiles.attribution));
    credit.addTo(this.map);
  }

  view() {
    const centre = this.map.getCenter();
    return { lat: centre.lat, lon: centre.lng, zoom: this.map.getZoom() };
  }

  setView(view) {
    const target = view ?? WORLD;
    this.map.setView([target.lat, target.lon], target.zoom);
  }

  zoom() {
    return Math.round(this.map.getZoom());
  }

  // The view as the API's bbox: min_lon,min_lat,max_lon,max_lat, inside what the index takes.
  bbox() {
    const b = this.map.getBounds();
    const box = [clamp(b.getWest(), 180), clamp(b.getSouth(), MAX_LAT),
      clamp(b.getEast(), 180), clamp(b.getNorth(), MAX_LAT)];
    return box.map((v) => v.toFixed(6)).join(",");
  }

  // The view that frames these [lat, lon] points (none: the whole world).
  viewAround(points) {
    if (!points.length) return null;
    const bounds = L.latLngBounds(points);
    const zoom = Math.min(15, this.map.getBoundsZoom(bounds.pad(0.05)));
    const centre = bounds.getCenter();
    return { lat: centre.lat, lon: centre.lng, zoom };
  }

  render(collection) {
    const focused = document.activeElement?.dataset?.featureId;
    this.layer.clearLayers();
    this.markers = new Map();
    for (const feature of collection.features ?? []) {
      const isCell = feature.properties?.kind === "cell";
      const made = isCell ? this.clusterMarker(feature) : this.reportMarker(feature);
      made.marker.addTo(this.layer);
      const icon = made.marker.getElement();
      icon.dataset.featureId = made.id;
      icon.setAttribute("aria-label", made.label);
      icon.addEventListener("keydown", (event) => {
        if (event.key !== "Enter" && event.key !== " ") return;
        event.preventDefault();
        made.activate();
      });
      made.marker.on("click", made.activate);
      this.markers.set(made.id, made.marker);
    }
    this.highlight(this.selected);
    if (focused) this.markers.get(focused)?.getElement()?.focus({ preventScroll: true });
  }

  clusterMarker(feature) {
    const p = feature.properties;
    const [lon, lat] = feature.geometry.coordinates;
    const size = Math.round(22 + Math.min(34, Math.log2(Math.max(1, p.count)) * 5));
    const face = el("span", { class: "rh-cluster", "aria-hidden": "true" },
      el("span", { class: "rh-cluster-count", text: p.count }));
    face.style.width = `${size}px`;
    face.style.height = `${size}px`;
    face.style.background = this.palette.pie(p.by_class);
    const icon = L.divIcon({ html: face, className: "rh-marker rh-marker-cell", iconSize: [size, size] });
    const classes = counted(p.by_class, (code) => this.palette.name(code));
    const severities = counted(p.by_severity, (s) => `${s} severity`);
    const label = `${p.count} report${p.count === 1 ? "" : "s"} here: ${classes}; ${severities}. Enter zooms in.`;
    const marker = L.marker([lat, lon], { icon, keyboard: true, title: label, riseOnHover: true });
    return { id: String(feature.id ?? `cell:${p.cell}`), marker, label, activate: () => this.zoomInto(p, lat, lon) };
  }

  reportMarker(feature) {
    const p = feature.properties;
    const [lon, lat] = feature.geometry.coordinates;
    const id = String(p.report_id ?? feature.id);
    const severity = severityKey(p.severity);
    const closed = CLOSED_STATES.has(p.state);
    const dot = el("span", { class: `rh-pin sev-${severity}${closed ? " is-closed" : ""}`, "aria-hidden": "true" });
    dot.style.setProperty("--class-colour", this.palette.colour(p.service_code));
    const size = PIN_SIZE[severity];
    const icon = L.divIcon({ html: dot, className: "rh-marker rh-marker-report", iconSize: [size, size] });
    const name = this.palette.name(p.service_code, p.service_name);
    const label = `${name}, ${humanState(p.state)}, ${severity} severity, confidence ${percent(p.confidence)}`;
    const marker = L.marker([lat, lon], { icon, keyboard: true, title: label, riseOnHover: true });
    return { id, marker, label, activate: () => this.onSelect(id) };
  }

  zoomInto(properties, lat, lon) {
    const b = properties.bounds;
    const bounds = Array.isArray(b) && b.length === 4 ? L.latLngBounds([b[1], b[0]], [b[3], b[2]]) : null;
    const current = this.map.getZoom();
    const fitting = bounds ? this.map.getBoundsZoom(bounds) : current + 2;
    const zoom = Math.min(this.map.getMaxZoom(), Math.max(fitting, current + 1));
    this.map.setView(bounds ? bounds.getCenter() : [lat, lon], zoom);
  }

  highlight(id) {
    this.selected = id;
    for (const [featureId, marker] of this.markers) {
      marker.getElement()?.classList.toggle("is-selected", featureId === id);
    }
  }
}
