// One report in full: its images, address, confidence, state history, duplicates and
// confirmations, and the actions an admin may take on it.

import { apiUrl, getJson, imageBlobUrl, isAbort, postJson } from "./api.js";
import { el, humanState, percent, replaceChildren, timeElement } from "./dom.js";
import { currentKey } from "./key.js";
import { severityKey } from "./palette.js";

// The moves the API allows from each state (reports/states.py); others answer 409.
const ACTIONS = [
  { action: "confirm", label: "Confirm", from: ["new"], done: "confirmed" },
  { action: "start", label: "Start work", from: ["confirmed"], done: "marked in progress" },
  { action: "fix", label: "Mark fixed", from: ["in_progress"], done: "marked fixed" },
  { action: "dismiss", label: "Dismiss", from: ["new", "confirmed", "in_progress"], done: "dismissed" },
];
const IMAGE_TEXT = {
  original: ["Photo", "The photo the report was made from"],
  annotated: ["Detection", "The same photo with the detected hazard boxed"],
};

export class DetailPanel {
  constructor(root, { palette, config, linkTo, onNavigate, onChanged, onSession }) {
    Object.assign(this, { root, palette, config, linkTo, onNavigate, onChanged, onSession });
    this.body = root.querySelector("[data-detail-body]");
    this.heading = root.querySelector("h2");
    this.close = root.querySelector("[data-detail-close]");
    this.report = null;
    this.shownJson = null;
    this.controller = null;
    this.loading = false;
    this.blobUrls = [];
  }

  // `keepPlace`: a refresh, which gives way to a report the user asked for.
  async show(id, { keepPlace = false } = {}) {
    if (keepPlace && this.loading) return;
    this.controller?.abort();
    this.controller = new AbortController();
    this.loading = !keepPlace;
    let report;
    try {
      report = await getJson(`v1/reports/${encodeURIComponent(id)}`, { signal: this.controller.signal });
    } catch (error) {
      // A refresh that fails keeps what is shown, unless the report is gone.
      if (isAbort(error) || (keepPlace && error.status !== 404)) return;
      this.loading = false;
      this.showMessage(error.status === 404 ? "This report no longer exists." : `The report could not be loaded: ${error.message}`);
      return;
    }
    this.loading = false;
    const json = JSON.stringify(report);
    if (keepPlace && json === this.shownJson) return;
    this.shownJson = json;
    this.render(report, { keepPlace });
  }

  clear() {
    this.controller?.abort();
    this.loading = false;
    this.report = null;
    this.shownJson = null;
    this.heading.textContent = "Report";
    this.close.hidden = true;
    replaceChildren(this.body, el("p", { class: "hint", text: "Select a report on the map or in the list." }));
  }

  showMessage(text) {
    this.report = null;
    this.shownJson = null;
    replaceChildren(this.body, el("p", { class: "hint", role: "alert", text }));
  }

  render(report, { keepPlace }) {
    const scroll = this.body.scrollTop;
    this.report = report;
    this.releaseImages();
    const name = this.palette.name(report.service_code, report.service_name);
    this.heading.textContent = `${name} (${report.service_code})`;
    this.close.hidden = false;
    replaceChildren(this.body,
      el("p", { class: "badges" },
        el("span", { class: `badge state-${report.state}`, text: humanState(report.state) }),
        el("span", { class: "badge", text: `${severityKey(report.severity)} severity` }),
        el("span", { class: "badge", text: report.status })),
      this.actions(report),
      this.images(report),
      this.facts(report),
      el("h3", { text: "History" }),
      el("ol", { class: "timeline" }, report.history.map((step) =>
        el("li", {}, el("strong", { text: humanState(step.state) }), " ", timeElement(step.at)))),
      el("h3", { text: "Duplicates and confirmations" }),
      this.related(report));
    if (keepPlace) this.body.scrollTop = scroll;
  }

  actions(report) {
    const needKey = this.config.actions_need_key && !currentKey();
    const note = el("p", { class: "actions-note", id: "actions-note", role: "status" });
    if (needKey) note.textContent = "Actions need an admin API key: enter it above. It is kept for this tab only.";
    else if (report.status === "closed") note.textContent = `This report is ${humanState(report.state)}: it is closed, so no action applies.`;
    const buttons = ACTIONS.map(({ action, label, from, done }) => el("button", {
      type: "button", "data-action": action,
      disabled: needKey || !from.includes(report.state),
      "aria-describedby": "actions-note",
      onclick: () => this.act(report.service_request_id, action, done, note),
    }, label));
    return el("div", { class: "actions", role: "group", "aria-label": "Actions" }, buttons, note);
  }

  async act(id, action, done, note) {
    for (const button of this.body.querySelectorAll("[data-action]")) button.disabled = true;
    note.textContent = "Saving…";
    try {
      const report = await postJson(`v1/reports/${encodeURIComponent(id)}/${action}`);
      this.shownJson = JSON.stringify(report);
      this.render(report, { keepPlace: true });
      this.body.querySelector(".actions-note").textContent = `Report ${done}.`;
      this.onChanged();
    } catch (error) {
      if (!this.report) return; // the report went away meanwhile; its panel says so
      this.render(this.report, { keepPlace: true });
      this.body.querySelector(".actions-note").textContent = `Not done: ${error.message}`;
    }
  }

  images(report) {
    const figures = ["original", "annotated"].filter((kind) => report.images?.[kind]).map((kind) => {
      const ref = report.images[kind];
      const [caption, alt] = IMAGE_TEXT[kind];
      const img = el("img", { alt, "data-kind": kind, decoding: "async" });
      this.loadImage(img, ref);
      const state = ref.status === "stored" ? "" : ` (upload ${ref.status})`;
      return el("figure", {}, img, el("figcaption", { text: `${caption}${state}` }));
    });
    return figures.length ? el("div", { class: "images" }, figures) : el("p", { class: "hint", text: "No image." });
  }

  // Public reads: the API's URL (a stored Cloudinary image redirects). With a key needed: the
  // image store's public URL where there is one, else the image fetched with the key.
  loadImage(img, ref) {
    if (!this.config.reads_need_key) {
      img.src = apiUrl(ref.url).href;
    } else if (ref.delivery_url) {
      img.src = ref.delivery_url;
    } else {
      imageBlobUrl(ref.url, this.controller.signal).then((url) => {
        this.blobUrls.push(url);
        img.src = url;
      }, (error) => {
        if (!isAbort(error)) img.replaceWith(el("p", { class: "hint", text: `The image could not be loaded: ${error.message}` }));
      });
    }
  }

  releaseImages() {
    for (const url of this.blobUrls) URL.revokeObjectURL(url);
    this.blobUrls = [];
  }

  facts(report) {
    const where = report.lat === null ? "No position" : `${report.lat.toFixed(6)}, ${report.long.toFixed(6)}`;
    const address = report.address ?? { pending: "Looking it up…", not_found: "No address found here." }[report.address_status] ?? "No address.";
    const rows = [
      ["Address", address],
      ["Position", where],
      ["Confidence", percent(report.detection?.confidence)],
      ["Reported", timeElement(report.requested_datetime)],
      ["Updated", timeElement(report.updated_datetime)],
      ["Last seen", timeElement(report.last_seen)],
      ["Session", report.session_id ? this.sessionLink(report.session_id) : "Filed by hand"],
      ["Tags", report.tags.length ? report.tags.join(", ") : "None"],
      ["Description", report.description ?? "None"],
      ["Report id", el("code", { text: report.service_request_id })],
    ];
    return el("dl", { class: "facts" }, rows.map(([term, value]) => [el("dt", { text: term }), el("dd", { "data-fact": term.toLowerCase() }, value)]));
  }

  sessionLink(sessionId) {
    return el("button", { type: "button", class: "link", onclick: () => this.onSession(sessionId) }, `${sessionId} (show its reports)`);
  }

  reportLink(id) {
    return el("a", { href: this.linkTo(id), "data-report-link": id, onclick: (event) => {
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      this.onNavigate(id);
    } }, id);
  }

  related(report) {
    const items = [];
    if (report.duplicate_of) items.push(el("p", {}, "A duplicate of ", this.reportLink(report.duplicate_of), "."));
    const n = report.confirmations;
    items.push(el("p", { text: n ? `Confirmed by ${n} later report${n === 1 ? "" : "s"}:` : "No later report confirmed it." }));
    if (report.duplicates.length) items.push(el("ul", { class: "related" }, report.duplicates.map((id) => el("li", {}, this.reportLink(id)))));
    return items;
  }
}
