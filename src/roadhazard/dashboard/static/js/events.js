// The live feed of report events (GET v1/reports/events, Server-Sent Events), read with fetch
// and a streaming body rather than EventSource, which cannot send headers: the key goes in
// X-API-Key, never in the URL. The last event's id goes back as Last-Event-ID when the feed
// reconnects (after the server's `retry:`, then longer each time it fails), so nothing is
// missed; the server answers `reset` when that id is too old.

import { apiUrl } from "./api.js";
import { currentKey } from "./key.js";

const FIRST_RETRY_MS = 3000;
const MAX_RETRY_MS = 60_000;
// After this many failed tries in a row the page says it is polling (it keeps trying).
const FAILURES_BEFORE_POLLING = 3;
// Answers that another try would not change: the page polls until the key changes.
const FINAL_STATUSES = new Set([401, 403, 404, 422]);

// A text/event-stream parser, per the HTML standard: give it the decoded text as it arrives;
// it calls onEvent({ type, data, id }) for each event and onRetry(ms) for `retry:`.
export class EventStreamParser {
  constructor({ onEvent, onRetry = () => {} }) {
    Object.assign(this, { onEvent, onRetry });
    this.buffer = "";
    this.type = "";
    this.data = [];
    this.idBuffer = "";
    this.lastId = "";
  }

  push(text) {
    this.buffer += text;
    const breaks = /\r\n|\n|\r/g;
    let start = 0;
    let match;
    while ((match = breaks.exec(this.buffer)) !== null) {
      // A \r that ends the text may be the first half of \r\n: wait for the next piece.
      if (match[0] === "\r" && breaks.lastIndex === this.buffer.length) break;
      this.line(this.buffer.slice(start, match.index));
      start = breaks.lastIndex;
    }
    this.buffer = this.buffer.slice(start);
  }

  line(line) {
    if (line === "") {
      this.dispatch();
      return;
    }
    if (line.startsWith(":")) return; // a comment: the heartbeat
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.type = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id" && !value.includes("\0")) this.idBuffer = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.onRetry(Number(value));
  }

  dispatch() {
    this.lastId = this.idBuffer;
    const event = { type: this.type || "message", data: this.data.join("\n"), id: this.lastId };
    const hasData = this.data.length > 0;
    this.type = "";
    this.data = [];
    if (hasData) this.onEvent(event);
  }
}

// The feed, kept open: `state` is "live", "reconnecting" or "polling" (the feed is out of
// reach, or refused; the page's periodic refresh does the work meanwhile).
export class LiveFeed {
  constructor({ onEvent, onOpen = () => {}, onState = () => {} }) {
    Object.assign(this, { onEvent, onOpen, onState });
    this.lastId = "";
    this.retryMs = FIRST_RETRY_MS;
    this.failures = 0;
    this.opened = 0;
    this.state = "";
    this.controller = null;
    this.timer = null;
  }

  get live() {
    return this.state === "live";
  }

  start() {
    this.stop();
    this.failures = 0;
    this.connect();
  }

  stop() {
    this.controller?.abort();
    this.controller = null;
    window.clearTimeout(this.timer);
    this.timer = null;
    this.setState("");
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.onState(state);
  }

  headers() {
    const headers = { Accept: "text/event-stream" };
    const key = currentKey();
    if (key) headers["X-API-Key"] = key;
    if (this.lastId) headers["Last-Event-ID"] = this.lastId;
    return headers;
  }

  async connect() {
    const controller = new AbortController();
    this.controller = controller;
    let response;
    try {
      response = await fetch(apiUrl("v1/reports/events"), {
        headers: this.headers(), signal: controller.signal, cache: "no-store", credentials: "same-origin",
      });
    } catch {
      if (!controller.signal.aborted) this.retryLater();
      return;
    }
    const type = response.headers.get("Content-Type") ?? "";
    if (!response.ok || !type.startsWith("text/event-stream") || !response.body) {
      response.body?.cancel().catch(() => {});
      if (FINAL_STATUSES.has(response.status)) this.setState("polling");
      else this.retryLater();
      return;
    }
    this.failures = 0;
    this.opened += 1;
    this.setState("live");
    this.onOpen({ first: this.opened === 1, resumed: this.lastId !== "" });
    await this.read(response.body, controller);
  }

  async read(body, controller) {
    const parser = new EventStreamParser({
      onEvent: (event) => {
        this.lastId = event.id || this.lastId;
        this.onEvent(event);
      },
      onRetry: (ms) => {
        this.retryMs = Math.min(MAX_RETRY_MS, Math.max(500, ms));
      },
    });
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.push(value);
        if (parser.lastId) this.lastId = parser.lastId;
      }
    } catch {
      // the connection broke: try again below
    }
    if (!controller.signal.aborted) this.retryLater();
  }

  // The server's `retry:` first, then twice as long each time, up to a minute, with jitter.
  retryLater() {
    this.failures += 1;
    this.setState(this.failures >= FAILURES_BEFORE_POLLING ? "polling" : "reconnecting");
    const delay = Math.min(MAX_RETRY_MS, this.retryMs * 2 ** (this.failures - 1));
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => this.connect(), delay * (0.8 + Math.random() * 0.4));
  }
}
