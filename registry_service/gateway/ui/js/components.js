// Small pieces every page shows the same way.

import { localTime, relativeTime, stageName, utcTime } from "./format.js";
import { h, uniqueId } from "./dom.js";
import { versionUrl } from "./router.js";

export function loading(what) {
  return h("div", { class: "loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), `Loading ${what}…`);
}

/** A server error in place: what failed, the server's own message and its error code. */
export function errorBox(error, { title = "Something went wrong", retry } = {}) {
  return h(
    "div",
    { class: "error-box", role: "alert" },
    h("p", { class: "error-title" }, title),
    h("p", { class: "error-message" }, error.message),
    error.code ? h("p", { class: "error-code" }, h("code", {}, error.code)) : null,
    retry ? h("button", { type: "button", class: "button", onclick: retry }, "Try again") : null,
  );
}

/** A one-line error beside a form, emptied when the next attempt starts. */
export function inlineError() {
  const element = h("p", { class: "inline-error", role: "alert", hidden: true });
  return {
    element,
    show(error) {
      element.textContent = error.code ? `${error.message} (${error.code})` : error.message;
      element.hidden = false;
    },
    clear() {
      element.textContent = "";
      element.hidden = true;
    },
  };
}

/** "16 minutes ago", with the moment in UTC and local time on hover. */
export function timeAgo(milliseconds) {
  if (!milliseconds) return h("span", { class: "muted" }, "—");
  return h(
    "time",
    { datetime: new Date(Number(milliseconds)).toISOString(), title: `${utcTime(milliseconds)}\n${localTime(milliseconds)}` },
    relativeTime(milliseconds),
  );
}

/** The moment written out: UTC, then local time, then how long ago. */
export function fullTime(milliseconds) {
  if (!milliseconds) return muted("Not recorded");
  return h(
    "span",
    { class: "full-time" },
    h("time", { datetime: new Date(Number(milliseconds)).toISOString() }, utcTime(milliseconds)),
    h("span", { class: "muted" }, ` · ${localTime(milliseconds)} · ${relativeTime(milliseconds)}`),
  );
}

export function stageBadge(stage) {
  const name = stageName(stage);
  return h("span", { class: `stage stage-${name.toLowerCase()}` }, name);
}

export function aliasChip(alias, { name, version } = {}) {
  const label = h("span", { class: "alias-name" }, `@${alias}`);
  if (version === undefined) return h("span", { class: "chip alias" }, label);
  return h(
    "a",
    { class: "chip alias", href: versionUrl(name, version), title: `Alias ${alias} points at version ${version}` },
    label,
    h("span", { class: "alias-version" }, `v${version}`),
  );
}

export function muted(text) {
  return h("span", { class: "muted" }, text);
}

/**
 * A table whose rows become labelled cards in a narrow window. A heading is its text, or
 * {label, content, sort} for one whose cell holds more (a sort button) or is sorted.
 */
export function table(caption, headings, rows) {
  const columns = headings.map((heading) => (typeof heading === "string" ? { label: heading } : heading));
  for (const row of rows) {
    [...row.children].forEach((cell, index) => {
      cell.dataset.label = columns[index].label;
    });
  }
  return h(
    "div",
    { class: "table-wrap stacked" },
    h(
      "table",
      {},
      h("caption", { class: "visually-hidden" }, caption),
      h(
        "thead",
        {},
        h("tr", {}, columns.map(({ label, content, sort }) => h("th", { scope: "col", "aria-sort": sort }, content ?? label))),
      ),
      h("tbody", {}, rows),
    ),
  );
}

export function section(title, ...children) {
  const id = uniqueId("section");
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

let toastTimer = 0;

/** A short confirmation of a change, read out by screen readers, gone after a few seconds. */
export function announce(text) {
  let toast = document.getElementById("toast");
  if (!toast) {
    toast = h("div", { id: "toast", class: "toast", role: "status", "aria-live": "polite" });
    document.body.append(toast);
  }
  toast.textContent = text;
  toast.classList.add("shown");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => toast.classList.remove("shown"), 4000);
}

export function breadcrumbs(...items) {
  return h(
    "nav",
    { class: "breadcrumbs", "aria-label": "Breadcrumb" },
    h(
      "ol",
      {},
      items.map(([label, href], index) =>
        h("li", {}, index === items.length - 1 ? h("span", { "aria-current": "page" }, label) : h("a", { href }, label)),
      ),
    ),
  );
}
