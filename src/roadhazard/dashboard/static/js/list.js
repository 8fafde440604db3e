// The list of the reports in the map's view, newest first, paged with the API's cursor. A
// refresh reloads as many rows as are shown and keeps the scroll position and the focus.

import { ApiError, getJson, isAbort } from "./api.js";
import { el, formatDateTime, humanState, percent, replaceChildren } from "./dom.js";
import { severityKey } from "./palette.js";

const PAGE = 25;
const MOST = 200; // the API's largest page

export class ReportList {
  constructor({ list, more, note, scroller, palette, onSelect }) {
    Object.assign(this, { list, more, note, scroller, palette, onSelect });
    this.reports = [];
    this.cursor = null;
    this.params = null;
    this.selected = null;
    this.controller = null;
    more.addEventListener("click", () => this.loadMore());
  }

  // A new query (the view or the filters changed): the first page, from the top.
  async load(params) {
    this.params = params;
    const page = await this.fetch({ ...params, limit: PAGE });
    if (!page) return;
    this.show(page.reports, page.next_cursor);
    this.scroller.scrollTop = 0;
  }

  // The same query again: as many rows as are shown, in place.
  async refresh() {
    if (!this.params) return;
    const limit = Math.min(MOST, Math.max(PAGE, this.reports.length));
    const page = await this.fetch({ ...this.params, limit }, { background: true });
    if (!page) return;
    const top = this.scroller.scrollTop;
    const focused = this.list.contains(document.activeElement) ? document.activeElement.dataset.id : null;
    this.show(page.reports, page.next_cursor);
    this.scroller.scrollTop = top;
    if (focused) this.list.querySelector(`[data-id="${CSS.escape(focused)}"]`)?.focus({ preventScroll: true });
  }

  async loadMore() {
    if (!this.cursor) return;
    const page = await this.fetch({ ...this.params, limit: PAGE, cursor: this.cursor });
    if (!page) return;
    const first = page.reports.length ? page.reports[0].service_request_id : null;
    this.show([...this.reports, ...page.reports], page.next_cursor);
    if (first) this.list.querySelector(`[data-id="${CSS.escape(first)}"]`)?.focus();
  }

  // A background refresh gives way to a load the user asked for; the user's newest wins.
  async fetch(params, { background = false } = {}) {
    if (background && this.controller) return null;
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    try {
      return await getJson("v1/reports", { params, signal: controller.signal });
    } catch (error) {
      if (!isAbort(error)) this.showProblem(error);
      return null;
    } finally {
      if (this.controller === controller) this.controller = null;
    }
  }

  showProblem(error) {
    this.reports = [];
    this.cursor = null;
    this.list.replaceChildren();
    this.more.hidden = true;
    const tooMany = error instanceof ApiError && error.status === 422 && /area|zoom|smaller/i.test(error.message);
    this.note.textContent = tooMany
      ? `Too many reports in this view to list them: zoom in. (${error.message})`
      : `The list could not be loaded: ${error.message}`;
  }

  show(reports, cursor) {
    this.reports = reports;
    this.cursor = cursor;
    replaceChildren(this.list, reports.map((report) => this.row(report)));
    this.more.hidden = !cursor;
    this.note.textContent = reports.length
      ? `${reports.length} report${reports.length === 1 ? "" : "s"} shown${cursor ? "; more below" : ""}.`
      : "No reports match the filters in this view.";
  }

  row(report) {
    const id = report.service_request_id;
    const severity = severityKey(report.severity);
    const swatch = el("span", { class: `swatch sev-${severity}`, "aria-hidden": "true" });
    swatch.style.setProperty("--class-colour", this.palette.colour(report.service_code));
    const where = report.address ?? (report.lat === null ? "no position" : `${report.lat.toFixed(5)}, ${report.long.toFixed(5)}`);
    const button = el("button", {
      type: "button", class: "report-row", "data-id": id,
      "aria-current": id === this.selected ? "true" : null,
      onclick: () => this.onSelect(id),
    },
    swatch,
    el("span", { class: "row-title", text: `${this.palette.name(report.service_code, report.service_name)}` }),
    el("span", { class: `badge state-${report.state}`, text: humanState(report.state) }),
    el("span", { class: "row-meta", text: `${severity} severity · ${percent(report.detection?.confidence)} · ${formatDateTime(report.requested_datetime)}` }),
    el("span", { class: "row-where", text: where }),
    report.description ? el("span", { class: "row-description", text: report.description }) : null);
    return el("li", {}, button);
  }

  highlight(id) {
    this.selected = id;
    for (const button of this.list.querySelectorAll("button[data-id]")) {
      if (button.dataset.id === id) button.setAttribute("aria-current", "true");
      else button.removeAttribute("aria-current");
    }
  }

  rowFor(id) {
    return this.list.querySelector(`[data-id="${CSS.escape(id)}"]`);
  }
}
