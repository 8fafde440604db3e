// Counts by class and by state, and new reports per day as a bar chart (uPlot). The chart is
// a picture; a sentence beside it says the same for screen readers.

import uPlot from "../vendor/uplot/uPlot.esm.js";
import { getJson, isAbort } from "./api.js";
import { el, formatDay, humanState, replaceChildren } from "./dom.js";
import { STATES } from "./urlstate.js";

const DAYS = 30;

function table(caption, what, rows) {
  return el("table", {},
    el("caption", { text: caption }),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, el("span", { class: "visually-hidden", text: what })), el("th", { scope: "col", text: "Reports" }))),
    el("tbody", {}, rows.map(([label, count, swatch]) =>
      el("tr", {}, el("th", { scope: "row" }, swatch ?? null, label), el("td", { text: count })))));
}

export class StatsPanel {
  constructor(root, { palette }) {
    this.palette = palette;
    this.tables = root.querySelector("[data-stats-tables]");
    this.chartBox = root.querySelector("[data-daily-chart]");
    this.summary = root.querySelector("[data-daily-summary]");
    this.chart = null;
    this.shown = { counts: null, daily: null };
    new ResizeObserver(() => this.chart?.setSize(this.size())).observe(this.chartBox);
  }

  async refresh() {
    await Promise.all([this.counts(), this.daily()]);
  }

  async counts() {
    let stats;
    try {
      stats = await getJson("v1/reports/stats");
    } catch (error) {
      if (!isAbort(error)) replaceChildren(this.tables, el("p", { class: "hint", text: `Counts unavailable: ${error.message}` }));
      return;
    }
    const json = JSON.stringify(stats);
    if (json === this.shown.counts) return;
    this.shown.counts = json;
    const classRows = Object.entries(stats.by_class).sort((a, b) => b[1] - a[1]).map(([code, n]) => {
      const swatch = el("span", { class: "swatch sev-unknown", "aria-hidden": "true" });
      swatch.style.setProperty("--class-colour", this.palette.colour(code));
      return [this.palette.name(code), n, swatch];
    });
    const stateRows = STATES.filter((s) => stats.by_state[s]).map((s) => [humanState(s), stats.by_state[s]]);
    replaceChildren(this.tables,
      el("p", { class: "total", text: `${stats.total} reports in all, ${stats.last_24h} in the last 24 hours.` }),
      table("By class", "Class", classRows),
      table("By state", "State", stateRows));
  }

  async daily() {
    let answer;
    try {
      answer = await getJson("v1/reports/stats/daily", { params: { days: DAYS } });
    } catch (error) {
      if (!isAbort(error)) this.summary.textContent = `New reports per day are unavailable: ${error.message}`;
      return;
    }
    const json = JSON.stringify(answer);
    if (json === this.shown.daily) return;
    this.shown.daily = json;
    const days = answer.days ?? [];
    const xs = days.map((d) => Date.parse(`${d.date}T00:00:00Z`) / 1000);
    const ys = days.map((d) => d.count);
    const total = ys.reduce((a, b) => a + b, 0);
    const busiest = days.reduce((best, d) => (d.count > (best?.count ?? 0) ? d : best), null);
    this.summary.textContent = total
      ? `${total} new reports in the last ${days.length} days; the most on ${formatDay(busiest.date)} (${busiest.count}).`
      : `No new reports in the last ${days.length} days.`;
    if (this.chart) {
      this.chart.setData([xs, ys]);
      return;
    }
    this.chart = new uPlot({
      ...this.size(),
      legend: { show: false },
      cursor: { show: false },
      // Half a day either side, so the first and last bars show whole.
      scales: {
        x: { time: true, range: (_u, min, max) => [min - 43200, max + 43200] },
        y: { range: (_u, _min, max) => [0, Math.max(1, max)] },
      },
      axes: [{ space: 60 }, { size: 40, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 10000] }],
      series: [{}, { label: "New reports", fill: "#0072B2", stroke: "#0072B2", paths: uPlot.paths.bars({ size: [0.7, 24] }), points: { show: false } }],
    }, [xs, ys], this.chartBox);
  }

  size() {
    return { width: Math.max(240, this.chartBox.clientWidth), height: 160 };
  }
}
