// The map's legend: each class's colour, each severity's size, open and closed, and a group.

import { el, replaceChildren } from "./dom.js";
import { PIN_SIZE } from "./map.js";
import { OTHER_COLOUR } from "./palette.js";

export function showLegend(root, palette) {
  const pin = (classes, colour, size) => {
    const dot = el("span", { class: `rh-pin ${classes}`, "aria-hidden": "true" });
    dot.style.setProperty("--class-colour", colour);
    dot.style.width = `${size}px`;
    dot.style.height = `${size}px`;
    return dot;
  };
  const item = (symbol, text) => el("li", {}, symbol, el("span", { text }));
  replaceChildren(root,
    el("h3", { text: "Class" }),
    el("ul", {}, palette.classes.map((c) => item(pin("sev-unknown", palette.colour(c.code), 14), `${c.name} (${c.code})`))),
    el("h3", { text: "Severity" }),
    el("ul", {}, ["high", "medium", "low"].map((s) => item(pin(`sev-${s}`, OTHER_COLOUR, PIN_SIZE[s]), s))),
    el("h3", { text: "State" }),
    el("ul", {},
      item(pin("sev-unknown", OTHER_COLOUR, 14), "open: filled"),
      item(pin("sev-unknown is-closed", OTHER_COLOUR, 14), "closed: hollow"),
      item(el("span", { class: "rh-cluster legend-cluster", "aria-hidden": "true" }, el("span", { class: "rh-cluster-count", text: "9" })), "a group of reports: its share of each class")));
}
