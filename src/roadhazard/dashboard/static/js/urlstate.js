// What the address bar keeps, so a view can be shared: the filters, the map's view and the
// selected report. The API key is never part of it.

export const STATES = ["new", "confirmed", "in_progress", "fixed", "dismissed", "duplicate"];
export const STATUSES = ["open", "closed"];
export const SEVERITIES = ["low", "medium", "high"];
export const FILTER_NAMES = [
  "state", "service_code", "severity", "since", "until", "session_id", "min_confidence",
];

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const SESSION = /^[A-Za-z0-9_.-]{1,128}$/;
const REPORT = /^[0-9A-Za-z]{1,64}$/;

const CHECKS = {
  state: (v) => STATES.includes(v) || STATUSES.includes(v),
  service_code: (v) => v.length <= 64,
  severity: (v) => SEVERITIES.includes(v),
  since: (v) => DAY.test(v),
  until: (v) => DAY.test(v),
  session_id: (v) => SESSION.test(v),
  min_confidence: (v) => /^(0(\.\d+)?|1(\.0+)?)$/.test(v),
};

// Only values the API would accept: a hand-edited address cannot make the page send junk.
export function cleanFilters(raw) {
  const filters = {};
  for (const name of FILTER_NAMES) {
    const value = String(raw[name] ?? "").trim();
    if (value && CHECKS[name](value)) filters[name] = value;
  }
  return filters;
}

function parseView(text) {
  const parts = (text ?? "").split(",").map(Number);
  if (parts.length !== 3 || !parts.every(Number.isFinite)) return null;
  const [lat, lon, zoom] = parts;
  if (Math.abs(lat) > 85.05 || Math.abs(lon) > 180 || zoom < 0 || zoom > 19) return null;
  return { lat, lon, zoom };
}

export function readLocation(search = window.location.search) {
  const query = new URLSearchParams(search);
  const raw = Object.fromEntries(FILTER_NAMES.map((name) => [name, query.get(name)]));
  const report = query.get("report");
  return {
    filters: cleanFilters(raw),
    view: parseView(query.get("map")),
    report: report && REPORT.test(report) ? report : null,
  };
}

export function locationSearch({ filters, view, report }) {
  const query = new URLSearchParams();
  for (const name of FILTER_NAMES) if (filters[name]) query.set(name, filters[name]);
  if (view) query.set("map", `${view.lat.toFixed(5)},${view.lon.toFixed(5)},${view.zoom}`);
  if (report) query.set("report", report);
  const text = query.toString();
  return text ? `?${text}` : "";
}

export function writeLocation(state) {
  const url = `${window.location.pathname}${locationSearch(state)}`;
  window.history.replaceState(null, "", url);
}

function nextDay(day) {
  const date = new Date(`${day}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + 1);
  return date.toISOString().slice(0, 10);
}

// The filters as the reports API takes them: a status or a state, and whole UTC days (the
// "to" day included, so `until` is the next midnight: the API's `until` is exclusive).
export function apiFilters(filters) {
  const params = {};
  if (filters.state) params[STATUSES.includes(filters.state) ? "status" : "state"] = filters.state;
  for (const name of ["service_code", "severity", "session_id", "min_confidence"]) {
    if (filters[name]) params[name] = filters[name];
  }
  if (filters.since) params.since = `${filters.since}T00:00:00Z`;
  if (filters.until) params.until = `${nextDay(filters.until)}T00:00:00Z`;
  return params;
}
