// Times and other values as a person reads them.

// dateStyle and timeStyle cannot name the zone, hence the fields one by one.
const local = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "numeric",
  minute: "2-digit",
  second: "2-digit",
  timeZoneName: "short",
});
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const UNITS = [
  ["year", 365 * 24 * 3600],
  ["month", 30 * 24 * 3600],
  ["week", 7 * 24 * 3600],
  ["day", 24 * 3600],
  ["hour", 3600],
  ["minute", 60],
];

/** "2026-12-07 05:20:30 UTC": one spelling for every reader, as logs and the API's clients see it. */
export function utcTime(milliseconds) {
  return `${new Date(Number(milliseconds)).toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** The same moment in this browser's time zone and language, with the zone's name. */
export function localTime(milliseconds) {
  return local.format(new Date(Number(milliseconds)));
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
