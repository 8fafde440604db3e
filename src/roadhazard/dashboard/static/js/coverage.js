// Scan coverage over the map: the cells sessions drove through, shaded by how recently (a layer
// the user turns on), and the GPS track of the session the list is filtered to, on demand.

import * as L from "../vendor/leaflet/leaflet-src.esm.js";
import { getJson, isAbort } from "./api.js";
import { el, replaceChildren } from "./dom.js";

const DAY_MS = 86_400_000;
// Newest first: a cell takes the first band its age fits.
export const AGE_BANDS = [
  { days: 1, colour: "#1a9850", label: "within a day" },
  { days: 7, colour: "#91cf60", label: "within a week" },
  { days: 30, colour: "#fee08b", label: "within 30 days" },
  { days: Infinity, colour: "#d73027", label: "longer ago" },
];

export function ageBand(lastScanned, now = Date.now()) {
  const age = now - Date.parse(lastScanned);
  return AGE_BANDS.find((band) => age < band.days * DAY_MS);
}

export class CoverageLayer {
  constructor(map, { toggle, trackButton, legend, note }) {
    this.map = map;
    this.trackButton = trackButton;
    trackButton.addEventListener("click", () => this.showTrack());
    this.note = note;
    this.cells = L.geoJSON(null, { style: (f) => this.cellStyle(f), interactive: false });
    this.track = L.geoJSON(null, { style: { color: "#2b6cb0", weight: 4, opacity: 0.85, className: "coverage-track" }, interactive: false });
    this.track.addTo(map);
    this.controller = null;
    this.trackOf = null;
    this.toggle = toggle;
    toggle.addEventListener("change", () => this.setShown(toggle.checked));
    replaceChildren(legend, el("h3", { text: "Scanned" }),
      el("ul", {}, AGE_BANDS.map((band) => {
        const swatch = el("span", { class: "coverage-swatch", "aria-hidden": "true" });
        swatch.style.background = band.colour;
        return el("li", {}, swatch, el("span", { text: band.label }));
      })));
    this.legend = legend;
    legend.hidden = true;
  }

  cellStyle(feature) {
    const colour = ageBand(feature.properties.last_scanned_at).colour;
    return { color: colour, fillColor: colour, weight: 1, fillOpacity: 0.35, className: "coverage-cell" };
  }

  setShown(shown) {
    this.legend.hidden = !shown;
    if (shown) {
      this.cells.addTo(this.map);
      this.onShown?.();
    } else {
      this.controller?.abort();
      this.cells.remove();
      this.cells.clearLayers();
      this.note.textContent = "";
    }
  }

  get shown() {
    return this.toggle.checked;
  }

  async load(bbox) {
    if (!this.shown) return;
    this.controller?.abort();
    this.controller = new AbortController();
    try {
      const collection = await getJson("v1/coverage", { params: { bbox }, signal: this.controller.signal });
      this.cells.clearLayers();
      this.cells.addData(collection);
      this.note.textContent = collection.features.length ? "" : "No session has scanned this view.";
    } catch (error) {
      if (!isAbort(error)) this.note.textContent = `The coverage could not be loaded: ${error.message}`;
    }
  }

  // While the list shows one session's reports, its track is offered (a button): a session's
  // track is kept only while the session is (its idle TTL), so it is asked for on demand.
  offerTrack(sessionId) {
    const id = sessionId || null;
    if (id === this.trackOf) return;
    this.trackOf = id;
    this.track.clearLayers();
    this.trackButton.hidden = !id;
  }

  async showTrack() {
    const id = this.trackOf;
    if (!id) return;
    try {
      const feature = await getJson(`v1/sessions/${encodeURIComponent(id)}/track`);
      if (this.trackOf !== id) return;
      this.track.clearLayers();
      this.note.textContent = feature.geometry ? "" : "This session has no GPS track.";
      if (feature.geometry) this.track.addData(feature);
    } catch (error) {
      if (this.trackOf === id) this.note.textContent = `The session's track is not shown: ${error.message}`;
    }
  }
}
