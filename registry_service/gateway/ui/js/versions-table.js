// The versions table of a model page: filter by stage and by any filter (a tag clicked in the
// table fills it in), sort by clicking a column heading, pick two versions to compare. What is
// shown is kept in the URL's query, so a reload or a shared link shows the same.

import { api, filterString, isAbort } from "./api.js";
import { h, replace, safeHref, uniqueId } from "./dom.js";
import { aliasChip, errorBox, loading, muted, section, stageBadge, table, timeAgo } from "./components.js";
import { STAGES } from "./format.js";
import { openRegisterDialog } from "./register-dialog.js";
import { compareUrl, modelUrl, showUrl, versionUrl } from "./router.js";
import { chipProps, tagCell, tagFilter, tagText } from "./tags.js";

const PAGE_SIZE = 50;
// The columns the server can order by: heading, order_by key.
const SORTS = { version: ["Version", "version_number"], created: ["Created", "creation_timestamp"] };
const DEFAULT_VIEW = { stage: "", sort: "version", dir: "desc", filter: "" };

/** The view the query asks for, each part checked; unknown values fall back to the default. */
function viewOf(query) {
  const stage = query.get("stage") ?? "";
  const sort = query.get("sort") ?? "";
  return {
    stage: STAGES.includes(stage) ? stage : DEFAULT_VIEW.stage,
    sort: Object.hasOwn(SORTS, sort) ? sort : DEFAULT_VIEW.sort,
    dir: query.get("dir") === "asc" ? "asc" : DEFAULT_VIEW.dir,
    filter: query.get("filter") ?? DEFAULT_VIEW.filter,
  };
}

function queryOf(view) {
  // Whatever else the page keeps in the URL (the History panel's filter) stays.
  const params = new URLSearchParams(location.search);
  for (const key of Object.keys(DEFAULT_VIEW)) params.delete(key);
  const sorted = view.sort !== DEFAULT_VIEW.sort || view.dir !== DEFAULT_VIEW.dir;
  for (const [key, value] of Object.entries(view)) {
    // Sort and direction go together, so the URL says what it is sorted by.
    const shown = key === "sort" || key === "dir" ? sorted : value !== DEFAULT_VIEW[key];
    if (shown) params.set(key, value);
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** The filter the server runs: this model's versions, the stage, and the typed filter. */
function serverFilter(name, view) {
  const clauses = [`name = ${filterString(name)}`];
  if (view.stage) clauses.push(`current_stage = ${filterString(view.stage)}`);
  if (view.filter.trim()) clauses.push(`(${view.filter.trim()})`);
  return clauses.join(" AND ");
}

export function versionsSection(name, query, signal) {
  let view = viewOf(query);
  let rows = [];
  const selected = new Set();
  const content = h("div");
  const filterId = uniqueId("version-filter");
  const stageId = uniqueId("version-stage");
  const sortId = uniqueId("version-sort");
  const hintId = uniqueId("version-filter-hint");
  const filterInput = h("input", {
    type: "search",
    id: filterId,
    value: view.filter,
    placeholder: "e.g. tag.validated = 'yes'",
    autocomplete: "off",
    spellcheck: "false",
    "aria-describedby": hintId,
  });
  const stageSelect = h(
    "select",
    { id: stageId, onchange: () => change({ stage: stageSelect.value }) },
    h("option", { value: "" }, "All stages"),
    STAGES.map((stage) => h("option", { value: stage, selected: stage === view.stage }, stage)),
  );
  // Where the headings are hidden (narrow windows), the same orders from a drop-down.
  const sortSelect = h(
    "select",
    {
      id: sortId,
      onchange() {
        const [sort, dir] = sortSelect.value.split(" ");
        change({ sort, dir });
      },
    },
    Object.entries(SORTS).flatMap(([key, [label]]) =>
      ["desc", "asc"].map((dir) =>
        h("option", { value: `${key} ${dir}`, selected: key === view.sort && dir === view.dir }, `${label}, ${dir === "desc" ? "newest first" : "oldest first"}`),
      ),
    ),
  );
  const hint = h("p", { id: hintId, class: "hint" });
  const compareLink = h("a", { class: "button", "aria-disabled": "true" }, "Compare");
  const compareStatus = h("span", { class: "hint", "aria-live": "polite" });
  const controls = h(
    "div",
    { class: "versions-controls" },
    h(
      "form",
      {
        role: "search",
        class: "search-bar",
        onsubmit(event) {
          event.preventDefault();
          change({ filter: filterInput.value.trim() });
        },
      },
      h("label", { for: filterId, class: "visually-hidden" }, "Filter versions"),
      filterInput,
      h("button", { type: "submit", class: "button" }, "Filter"),
    ),
    h("div", { class: "field-inline" }, h("label", { for: stageId }, "Stage"), stageSelect),
    h("div", { class: "field-inline narrow-only" }, h("label", { for: sortId }, "Sort"), sortSelect),
    h("div", { class: "compare-bar" }, compareLink, compareStatus),
  );
  const element = section("Versions", controls, hint, content);
  element.classList.add("versions");

  /** Show another view: into the URL, then the table again, focus back on what was used. */
  function change(changes, focusAfter) {
    view = { ...view, ...changes };
    filterInput.value = view.filter;
    stageSelect.value = view.stage;
    sortSelect.value = `${view.sort} ${view.dir}`;
    showUrl(modelUrl(name) + queryOf(view));
    reload().then(() => focusAfter?.());
  }

  function updateCompare() {
    const numbers = [...selected].sort((a, b) => a - b);
    const ready = numbers.length === 2;
    compareLink.toggleAttribute("href", ready);
    if (ready) compareLink.href = compareUrl(name, numbers[0], numbers[1]);
    compareLink.setAttribute("aria-disabled", String(!ready));
    compareStatus.textContent = ready
      ? `Versions ${numbers[0]} and ${numbers[1]} selected`
      : `Select two versions to compare (${numbers.length} selected)`;
  }

  async function load(pageToken) {
    const { dir, sort } = view;
    const page = await api.searchVersions(
      { filter: serverFilter(name, view), pageSize: PAGE_SIZE, pageToken, orderBy: [`${SORTS[sort][1]} ${dir.toUpperCase()}`] },
      signal,
    );
    return { items: page.model_versions ?? [], next: page.next_page_token ?? "" };
  }

  function sortHeading(key) {
    const [label] = SORTS[key];
    const sorted = view.sort === key;
    const next = sorted && view.dir === "desc" ? "asc" : "desc";
    const button = h(
      "button",
      {
        type: "button",
        class: "sort-button",
        "data-sort": key,
        onclick: () => change({ sort: key, dir: next }, () => content.querySelector(`[data-sort="${key}"]`)?.focus()),
      },
      label,
      h("span", { class: "sort-mark", "aria-hidden": "true" }, sorted ? (view.dir === "desc" ? "▼" : "▲") : "↕"),
    );
    return { label, content: button, sort: sorted ? (view.dir === "desc" ? "descending" : "ascending") : undefined };
  }

  function tagButton(key, value) {
    return h(
      "button",
      { type: "button", ...chipProps(key, value), onclick: () => change({ filter: tagFilter(key, value) }, () => filterInput.focus()) },
      tagText(key, value),
    );
  }

  function versionRow(version) {
    const number = Number(version.version);
    const firstLine = (version.description ?? "").split("\n")[0];
    const pick = h("input", {
      type: "checkbox",
      class: "pick",
      "aria-label": `Select version ${number} to compare`,
      checked: selected.has(number),
      onchange(event) {
        if (event.target.checked) selected.add(number);
        else selected.delete(number);
        updateCompare();
      },
    });
    return h(
      "tr",
      {},
      h("td", { class: "pick-cell" }, pick),
      h(
        "td",
        {},
        h("a", { class: "nowrap", href: versionUrl(version.name, version.version) }, `Version ${version.version}`),
        firstLine ? h("div", { class: "subtle clamp description-snippet", title: version.description }, firstLine) : null,
      ),
      h("td", {}, stageBadge(version.current_stage)),
      h(
        "td",
        {},
        version.aliases?.length ? h("ul", { class: "chips" }, version.aliases.map((alias) => h("li", {}, aliasChip(alias)))) : muted("—"),
      ),
      h("td", {}, tagCell(version.tags, tagButton)),
      h("td", { class: "source-cell mono", title: version.source ?? "" }, version.source ?? ""),
      h("td", { class: "run-cell" }, runCell(version)),
      h("td", { class: "nowrap" }, timeAgo(version.creation_timestamp)),
    );
  }

  function draw(next) {
    hint.replaceChildren("Filter: ", h("code", {}, serverFilter(name, view)));
    if (rows.length === 0) {
      const filtered = view.stage || view.filter;
      replace(
        content,
        filtered
          ? h(
              "div",
              { class: "empty small" },
              h("p", {}, "No version matches this filter."),
              h("button", { type: "button", class: "button", onclick: () => change({ stage: "", filter: "" }, () => filterInput.focus()) }, "Show all versions"),
            )
          : h(
              "div",
              { class: "empty small" },
              h("p", {}, "This model has no versions yet."),
              h("button", { type: "button", class: "button primary", onclick: () => openRegisterDialog({ model: name, registered: reload }) }, "Register a version"),
            ),
      );
      return;
    }
    const more = next
      ? h(
          "button",
          {
            type: "button",
            class: "button",
            async onclick() {
              more.disabled = true;
              try {
                const page = await load(next);
                rows = [...rows, ...page.items];
                draw(page.next);
              } catch (error) {
                more.replaceWith(errorBox(error, { title: "More versions could not be loaded", retry: reload }));
              }
            },
          },
          "Show more versions",
        )
      : null;
    const headings = [{ label: "Compare", content: h("span", { class: "visually-hidden" }, "Compare") }, sortHeading("version"), "Stage", "Aliases", "Tags", "Source", "Run", sortHeading("created")];
    replace(content, table("Versions", headings, rows.map(versionRow)), more);
  }

  async function reload() {
    content.setAttribute("aria-busy", "true");
    if (rows.length === 0) replace(content, loading("versions"));
    try {
      const page = await load("");
      rows = page.items;
      draw(page.next);
    } catch (error) {
      if (isAbort(error)) return;
      const title = error.status === 400 ? "The filter could not be run" : "The versions could not be loaded";
      replace(content, errorBox(error, { title, retry: error.status === 400 ? null : reload }));
    } finally {
      content.removeAttribute("aria-busy");
    }
  }

  updateCompare();
  reload();
  return { element, reload };
}

function runCell(version) {
  const runHref = version.run_link ? safeHref(version.run_link) : null;
  if (runHref) {
    return h("a", { href: runHref, target: "_blank", rel: "noopener noreferrer", class: "mono" }, version.run_id || "Open run");
  }
  return version.run_id ? h("span", { class: "mono" }, version.run_id) : muted("—");
}
