// Building the page's DOM from data. Every text goes in as a text node (textContent), never as
// markup, so whatever a report says is shown as text.

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = String(value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function replaceChildren(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dayOnly = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeZone: "UTC" });

export function formatDateTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : dateTime.format(date);
}

export function formatDay(isoDay) {
  const date = new Date(`${isoDay}T00:00:00Z`);
  return Number.isNaN(date.getTime()) ? String(isoDay) : dayOnly.format(date);
}

export function timeElement(iso) {
  return el("time", { datetime: iso, text: formatDateTime(iso) });
}

export function humanState(state) {
  return String(state ?? "unknown").replaceAll("_", " ");
}

export function percent(value) {
  return typeof value === "number" ? `${Math.round(value * 100)} %` : "not detected";
}

function parseUrl(text) {
  try {
    return new URL(text);
  } catch {
    return null;
  }
}

// A link that inserts no markup: "[text](https://...)" becomes an <a>, the rest stays text.
export function linkedText(text) {
  const nodes = [];
  const pattern = /\[([^\[\]]+)\]\(([^()\s]+)\)/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    nodes.push(text.slice(last, match.index));
    const url = parseUrl(match[2]);
    const safe = url?.protocol === "https:" || url?.protocol === "http:";
    nodes.push(safe ? el("a", { href: url.href, rel: "noreferrer", text: match[1] }) : match[0]);
    last = match.index + match[0].length;
  }
  nodes.push(text.slice(last));
  return nodes.filter((node) => node !== "");
}
