// Registered Models: search in the filter language (or plain text for names), paging, the
// latest version in each stage and the aliases of every model.

import { api, containsPattern } from "../api.js";
import { h, replace } from "../dom.js";
import { aliasChip, errorBox, loading, muted, stageBadge, table, timeAgo } from "../components.js";
import { modelUrl, navigate, refresh, versionUrl } from "../router.js";
import { openRegisterDialog } from "../register-dialog.js";
import { unreachablePage } from "./missing.js";
import { chipProps, tagCell, tagFilter, tagText } from "../tags.js";

const ORDERS = {
  name: { label: "Name (A–Z)", orderBy: "name ASC" },
  updated: { label: "Recently updated", orderBy: "last_updated_timestamp DESC" },
  created: { label: "Recently created", orderBy: "creation_timestamp DESC" },
};
const PAGE_SIZES = [10, 25, 50, 100];
const DEFAULT_PAGE_SIZE = 25;
// Operators, quotes or LIKE/IN mean the text is already a filter; anything else is a name part.
const FILTER_SYNTAX = /[=<>!'"`]|\bI?LIKE\b|\bIN\s*\(/i;
const SHOWN_ALIASES = 4;

function toFilter(search) {
  if (!search) return "";
  return FILTER_SYNTAX.test(search) ? search : `name ILIKE ${containsPattern(search)}`;
}

export async function modelsPage({ main, signal, query, state }) {
  document.title = "Registered models · Model Registry";
  const search = query.get("search") ?? "";
  const order = Object.hasOwn(ORDERS, query.get("order")) ? query.get("order") : "name";
  const pageSize = PAGE_SIZES.includes(Number(query.get("size"))) ? Number(query.get("size")) : DEFAULT_PAGE_SIZE;
  const pageToken = query.get("page_token") ?? "";
  // The tokens of the pages before this one, kept in the history entry for "Previous".
  const previous = Array.isArray(state?.previous) ? state.previous : [];
  const filter = toFilter(search);

  function go(changes, earlier = []) {
    const params = new URLSearchParams({ search, order, size: String(pageSize), page_token: pageToken, ...changes });
    for (const [key, value] of [...params]) {
      const isDefault = value === "" || (key === "order" && value === "name") || (key === "size" && value === String(DEFAULT_PAGE_SIZE));
      if (isDefault) params.delete(key);
    }
    const text = params.toString();
    navigate(text ? `/?${text}` : "/", { state: { previous: earlier } });
  }

  const input = h("input", {
    type: "search",
    id: "model-search",
    name: "search",
    value: search,
    placeholder: "Name, or a filter such as tag.team = 'risk'",
    autocomplete: "off",
    spellcheck: "false",
    "aria-describedby": "search-hint",
  });
  const sort = h(
    "select",
    { id: "model-order", onchange: () => go({ order: sort.value, page_token: "" }) },
    Object.entries(ORDERS).map(([key, { label }]) => h("option", { value: key, selected: key === order }, label)),
  );
  const size = h(
    "select",
    { id: "model-page-size", onchange: () => go({ size: size.value, page_token: "" }) },
    PAGE_SIZES.map((option) => h("option", { value: option, selected: option === pageSize }, `${option} per page`)),
  );
  const results = h("div", { class: "results", "aria-busy": "true" }, loading("models"));

  replace(
    main,
    h("div", { class: "page-head" }, h("h1", { tabindex: "-1" }, "Registered models")),
    h(
      "div",
      { class: "toolbar" },
      h(
        "form",
        {
          role: "search",
          class: "search-bar",
          onsubmit(event) {
            event.preventDefault();
            go({ search: input.value.trim(), page_token: "" });
          },
        },
        h("label", { for: "model-search", class: "visually-hidden" }, "Search models"),
        input,
        h("button", { type: "submit", class: "button" }, "Search"),
      ),
      h(
        "div",
        { class: "toolbar-options" },
        h("label", { for: "model-order", class: "visually-hidden" }, "Sort by"),
        sort,
        h("label", { for: "model-page-size", class: "visually-hidden" }, "Models per page"),
        size,
      ),
    ),
    h("p", { id: "search-hint", class: "hint" }, searchHint(search, filter)),
    results,
  );

  let page;
  try {
    page = await api.searchModels({ filter, pageSize, pageToken, orderBy: ORDERS[order].orderBy }, signal);
  } catch (error) {
    results.removeAttribute("aria-busy");
    if (error.status === 0) {
      unreachablePage(main, error);
      return;
    }
    const title = error.status === 400 ? "The search could not be run" : "The models could not be loaded";
    replace(results, errorBox(error, { title, retry: error.status === 400 ? null : refresh }));
    return;
  }
  results.removeAttribute("aria-busy");
  const models = page.registered_models ?? [];
  if (models.length === 0 && !pageToken) {
    replace(results, search ? noMatches(search, () => go({ search: "", page_token: "" })) : firstModel());
    return;
  }
  const next = page.next_page_token ?? "";
  const count = `${models.length} ${models.length === 1 ? "model" : "models"}`;
  const onePage = !pageToken && !next;
  replace(
    results,
    table(
      "Registered models",
      ["Name", "Latest versions", "Aliases", "Tags", "Last updated"],
      models.map((model) => modelRow(model)),
    ),
    onePage
      ? h("p", { class: "pager-status" }, count)
      : h(
          "nav",
          { class: "pager", "aria-label": "Pages" },
          h(
            "button",
            {
              type: "button",
              class: "button",
              disabled: !pageToken,
              onclick: () => go({ page_token: previous.at(-1) ?? "" }, previous.slice(0, -1)),
            },
            "← Previous",
          ),
          h("span", { class: "pager-status" }, `Page ${previous.length + 1} · ${count}`),
          h(
            "button",
            { type: "button", class: "button", disabled: !next, onclick: () => go({ page_token: next }, [...previous, pageToken]) },
            "Next →",
          ),
        ),
  );
}

function searchHint(search, filter) {
  if (!search) {
    return [
      "Type part of a name, or a filter: ",
      h("code", {}, "tag.team = 'risk'"),
      ", ",
      h("code", {}, "name LIKE 'fraud%'"),
      ", ",
      h("code", {}, "alias = 'champion'"),
      ".",
    ];
  }
  return filter === search ? ["Filter: ", h("code", {}, filter)] : [`Names containing “${search}” · filter `, h("code", {}, filter)];
}

function modelRow(model) {
  const latest = model.latest_versions ?? [];
  const aliases = (model.aliases ?? []).slice().sort((a, b) => a.alias.localeCompare(b.alias));
  const firstLine = (model.description ?? "").split("\n")[0];
  return h(
    "tr",
    {},
    h(
      "td",
      {},
      h("a", { class: "model-link", href: modelUrl(model.name) }, model.name),
      firstLine ? h("div", { class: "subtle clamp", title: model.description }, firstLine) : null,
    ),
    h(
      "td",
      {},
      latest.length
        ? h(
            "ul",
            { class: "latest" },
            latest.map((version) =>
              h(
                "li",
                {},
                h(
                  "a",
                  { href: versionUrl(model.name, version.version), class: "latest-link" },
                  stageBadge(version.current_stage),
                  h("span", { class: "version-number" }, `v${version.version}`),
                ),
              ),
            ),
          )
        : muted("No versions"),
    ),
    h(
      "td",
      {},
      aliases.length
        ? h(
            "ul",
            { class: "chips" },
            aliases.slice(0, SHOWN_ALIASES).map((alias) => h("li", {}, aliasChip(alias.alias, { name: model.name, version: alias.version }))),
            aliases.length > SHOWN_ALIASES ? h("li", { class: "muted" }, `+${aliases.length - SHOWN_ALIASES} more`) : null,
          )
        : muted("—"),
    ),
    h("td", {}, tagCell(model.tags, tagLink)),
    h("td", { class: "nowrap" }, timeAgo(model.last_updated_timestamp)),
  );
}

// A tag links to the models that carry it, its filter written into the search box.
function tagLink(key, value) {
  return h("a", { ...chipProps(key, value), href: `/?${new URLSearchParams({ search: tagFilter(key, value) })}` }, tagText(key, value));
}

function noMatches(search, clear) {
  return h(
    "div",
    { class: "empty" },
    h("h2", {}, "No models match"),
    h("p", {}, "Nothing matches ", h("code", {}, search), ". Check the spelling or try a broader search."),
    h("button", { type: "button", class: "button", onclick: clear }, "Clear search"),
  );
}

function firstModel() {
  return h(
    "div",
    { class: "empty" },
    h("h2", {}, "No models registered yet"),
    h(
      "p",
      {},
      "Register a model to track its versions, move them from Staging to Production and point aliases such as ",
      h("code", {}, "champion"),
      " at them.",
    ),
    h(
      "button",
      { type: "button", class: "button primary", onclick: () => openRegisterDialog({ registered: refresh }) },
      "Register your first model",
    ),
    h("p", { class: "hint" }, "Or register from a training run with the mlflow client:"),
    h(
      "pre",
      { class: "code" },
      `export MLFLOW_REGISTRY_URI=${location.origin}\n`,
      `python -c 'import mlflow; mlflow.register_model("runs:/<run_id>/model", "my-model")'`,
    ),
  );
}
