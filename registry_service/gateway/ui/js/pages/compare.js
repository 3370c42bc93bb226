// Two versions of a model side by side: stage, aliases, source, run and lineage, tags (added,
// removed and changed marked in words as well as colour) and descriptions.

import { api, tagPairs } from "../api.js";
import { h, replace } from "../dom.js";
import { aliasChip, breadcrumbs, loading, muted, stageBadge, timeAgo } from "../components.js";
import { modelUrl, versionUrl } from "../router.js";
import { loadFailure } from "./missing.js";

// Each row: its label and how a version shows it.
const FACTS = [
  ["Stage", (version) => stageBadge(version.current_stage)],
  ["Aliases", (version) => (version.aliases?.length ? h("ul", { class: "chips" }, version.aliases.map((alias) => h("li", {}, aliasChip(alias)))) : muted("—"))],
  ["Source", (version) => text(version.source, "mono")],
  ["Run ID", (version) => text(version.run_id, "mono")],
  ["Run link", (version) => text(version.run_link)],
  ["Experiment ID", (version) => text(version.experiment_id, "mono")],
  ["Logged model", (version) => text(version.model_id, "mono")],
  ["Registered", (version) => timeAgo(version.creation_timestamp)],
  ["Description", (version) => (version.description ? h("div", { class: "description-text" }, version.description) : muted("No description"))],
];
const CHANGE_WORDS = { added: "Added", removed: "Removed", changed: "Changed" };

function text(value, className) {
  return value ? h("span", { class: `break ${className ?? ""}` }, value) : muted("—");
}

export async function comparePage({ main, signal, params, query }) {
  const { name } = params;
  const numbers = [query.get("a"), query.get("b")].filter(Boolean).sort((a, b) => Number(a) - Number(b));
  document.title = `${name}: versions ${numbers.join(" and ")} · Model Registry`;
  const body = h("div", { "aria-busy": "true" }, loading("versions"));
  replace(
    main,
    breadcrumbs(["Registered models", "/"], [name, modelUrl(name)], ["Compare"]),
    h(
      "div",
      { class: "page-head" },
      h("div", {}, h("p", { class: "kicker" }, h("a", { href: modelUrl(name) }, name)), h("h1", { tabindex: "-1" }, `Versions ${numbers.join(" and ")}`)),
    ),
    body,
  );
  if (numbers.length !== 2) {
    body.removeAttribute("aria-busy");
    replace(body, h("p", { class: "card missing" }, "Pick two versions on the ", h("a", { href: modelUrl(name) }, "model's page"), " to compare them."));
    return;
  }
  let versions;
  try {
    versions = await Promise.all(numbers.map((number) => api.getVersion(name, number, signal)));
  } catch (error) {
    body.removeAttribute("aria-busy");
    const missing = error.notFound ? await firstMissing(name, numbers, signal) : numbers[0];
    await loadFailure({ main, body, error, signal, model: name, version: missing });
    return;
  }
  body.removeAttribute("aria-busy");
  replace(body, comparison(versions));
}

async function firstMissing(name, numbers, signal) {
  for (const number of numbers) {
    try {
      await api.getVersion(name, number, signal);
    } catch (error) {
      if (error.notFound) return number;
      throw error;
    }
  }
  return numbers[0];
}

function comparison([older, newer]) {
  const heading = (version) =>
    h("th", { scope: "col" }, h("a", { href: versionUrl(version.name, version.version) }, `Version ${version.version}`));
  const factRows = FACTS.map(([label, show]) => {
    const differs = show(older).textContent !== show(newer).textContent;
    return h(
      "tr",
      { class: differs ? "differs" : null },
      h("th", { scope: "row" }, label, differs ? h("span", { class: "visually-hidden" }, " (differs)") : null),
      h("td", {}, show(older)),
      h("td", {}, show(newer)),
    );
  });
  return h(
    "div",
    { class: "compare" },
    h("p", { class: "hint" }, "Highlighted rows differ between the two versions."),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "compare-table" },
        h("caption", { class: "visually-hidden" }, `Version ${older.version} and version ${newer.version}`),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Field")), heading(older), heading(newer))),
        h("tbody", {}, factRows),
      ),
    ),
    tagComparison(older, newer),
  );
}

/** Every tag key of either version, with what happened to it from the older to the newer. */
function tagComparison(older, newer) {
  const before = new Map(tagPairs(older.tags));
  const after = new Map(tagPairs(newer.tags));
  const keys = [...new Set([...before.keys(), ...after.keys()])].sort((a, b) => a.localeCompare(b));
  const changeOf = (key) => {
    if (!before.has(key)) return "added";
    if (!after.has(key)) return "removed";
    return before.get(key) === after.get(key) ? null : "changed";
  };
  const value = (map, key) => (map.has(key) ? map.get(key) || muted("(empty)") : muted("—"));
  const rows = keys.map((key) => {
    const change = changeOf(key);
    return h(
      "tr",
      { class: change ? `tag-${change}` : null },
      h("th", { scope: "row", class: "tag-key" }, key),
      h("td", { class: "tag-value" }, value(before, key)),
      h("td", { class: "tag-value" }, value(after, key)),
      h("td", {}, change ? h("span", { class: `change change-${change}` }, CHANGE_WORDS[change]) : muted("Same")),
    );
  });
  return h(
    "section",
    { class: "card", "aria-labelledby": "compare-tags" },
    h("h2", { id: "compare-tags" }, "Tags"),
    keys.length
      ? h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "compare-table tags-diff" },
            h("caption", { class: "visually-hidden" }, "Tags compared"),
            h(
              "thead",
              {},
              h("tr", {}, h("th", { scope: "col" }, "Key"), h("th", { scope: "col" }, `Version ${older.version}`), h("th", { scope: "col" }, `Version ${newer.version}`), h("th", { scope: "col" }, "Change")),
            ),
            h("tbody", {}, rows),
          ),
        )
      : h("p", { class: "muted" }, "Neither version has tags."),
  );
}
