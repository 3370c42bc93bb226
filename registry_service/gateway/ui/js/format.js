// Times and other values as a person reads them.

const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const UNITS = [
  ["year", 365 * 24 * 3600],
  ["month", 30 * 24 * 3600],
  ["week", 7 * 24 * 3600],
  ["day", 24 * 3600],
  ["hour", 3600],
  ["minute", 60],
];

export function absoluteTime(milliseconds) {
  return absolute.format(new Date(Number(milliseconds)));
}

export function relativeTime(milliseconds, now = Date.now()) {
  const seconds = (Number(milliseconds) - now) / 1000;
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) return relative.format(Math.round(seconds / size), unit);
  }
  return "just now";
}

export const STAGES = ["None", "Staging", "Production", "Archived"];

/** The canonical spelling of a stage as the server returns it. */
export function stageName(stage) {
  return STAGES.find((name) => name.toLowerCase() === String(stage ?? "None").toLowerCase()) ?? stage;
}
