// The filter form: filled from the taxonomy, kept in step with the address bar.

import { el, humanState } from "./dom.js";
import { cleanFilters, FILTER_NAMES, SEVERITIES, STATES, STATUSES } from "./urlstate.js";

function options(values, label) {
  return values.map((value) => el("option", { value, text: label(value) }));
}

export function fillFilterForm(form, classes) {
  const state = form.elements.state;
  state.append(
    el("optgroup", { label: "Status" }, options(STATUSES, (s) => `${s} (any state)`)),
    el("optgroup", { label: "State" }, options(STATES, humanState)),
  );
  form.elements.service_code.append(
    ...options(classes.map((c) => c.code), (code) => {
      const found = classes.find((c) => c.code === code);
      return `${found.name} (${code})`;
    }),
  );
  form.elements.severity.append(...options(SEVERITIES, (s) => s));
}

export function readFilterForm(form) {
  return cleanFilters(Object.fromEntries(FILTER_NAMES.map((n) => [n, form.elements[n].value])));
}

export function writeFilterForm(form, filters) {
  for (const name of FILTER_NAMES) form.elements[name].value = filters[name] ?? "";
}

// Calls `onChange(filters)` when a filter changes; typing waits for a pause.
export function watchFilterForm(form, onChange) {
  let timer = null;
  const fire = () => {
    window.clearTimeout(timer);
    onChange(readFilterForm(form));
  };
  form.addEventListener("change", fire);
  form.addEventListener("input", (event) => {
    if (event.target.type !== "text" && event.target.type !== "number") return;
    window.clearTimeout(timer);
    timer = window.setTimeout(fire, 400);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    fire();
  });
  form.addEventListener("reset", () => window.setTimeout(fire, 0));
}
