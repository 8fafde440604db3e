// Colours and sizes: each class a colour of the Okabe-Ito palette (told apart with every common
// colour-vision deficiency), severity by size and border, closed reports hollow. The legend
// explains all three, so nothing depends on colour alone.

const COLOURS = ["#0072B2", "#56B4E9", "#009E73", "#D55E00", "#CC79A7", "#E69F00", "#F0E442"];
export const OTHER_COLOUR = "#6E6E6E";
export const SEVERITY_ORDER = ["high", "medium", "low", "unknown"];
export const CLOSED_STATES = new Set(["fixed", "dismissed", "duplicate"]);

export class Palette {
  constructor(classes) {
    this.classes = classes;
    this.colours = new Map(classes.map((c, i) => [c.code, COLOURS[i % COLOURS.length]]));
    this.names = new Map(classes.map((c) => [c.code, c.name]));
  }

  colour(code) {
    return this.colours.get(code) ?? OTHER_COLOUR;
  }

  name(code, fallback) {
    return this.names.get(code) ?? fallback ?? code ?? "Unknown class";
  }

  // A cluster's classes as a pie: a conic gradient of each class's share.
  pie(byClass) {
    const entries = Object.entries(byClass ?? {}).filter(([, n]) => n > 0);
    const total = entries.reduce((sum, [, n]) => sum + n, 0);
    if (!total) return OTHER_COLOUR;
    let start = 0;
    const stops = entries.map(([code, n]) => {
      const end = start + (n / total) * 360;
      const stop = `${this.colour(code)} ${start.toFixed(1)}deg ${end.toFixed(1)}deg`;
      start = end;
      return stop;
    });
    return `conic-gradient(${stops.join(", ")})`;
  }
}

export function severityKey(severity) {
  return SEVERITY_ORDER.includes(severity) ? severity : "unknown";
}
