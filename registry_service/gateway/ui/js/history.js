// The History panel of the model and version pages: the registry's events for the model (or one
// version), newest first, read from ListEvents page by page: who made each change, what it was,
// when, and the values before and after it. The type filter is kept in the URL (?history=).

import { CHANGED_EVENT, api, isAbort } from "./api.js";
import { h, replace, uniqueId } from "./dom.js";
import { errorBox, loading, muted, section, timeAgo } from "./components.js";
import { showUrl, versionUrl } from "./router.js";

const PAGE_SIZE = 20;
const PARAM = "history";
// Event type as the API names it, as the URL names it (the webhook name), its label, and
// whether it concerns a version (the only ones a version page lists).
const TYPES = [
  ["REGISTERED_MODEL_CREATED", "registered_model.created", "Model created", false],
  ["REGISTERED_MODEL_RENAMED", "registered_model.renamed", "Model renamed", false],
  ["REGISTERED_MODEL_UPDATED", "registered_model.updated", "Model description changed", false],
  ["REGISTERED_MODEL_TAG_SET", "registered_model_tag.set", "Model tag set", false],
  ["REGISTERED_MODEL_TAG_DELETED", "registered_model_tag.deleted", "Model tag deleted", false],
  ["MODEL_VERSION_CREATED", "model_version.created", "Version created", true],
  ["MODEL_VERSION_UPDATED", "model_version.updated", "Version description changed", true],
  ["MODEL_VERSION_STAGE_CHANGED", "model_version.stage_changed", "Stage changed", true],
  ["MODEL_VERSION_DELETED", "model_version.deleted", "Version deleted", true],
  ["MODEL_VERSION_TAG_SET", "model_version_tag.set", "Version tag set", true],
  ["MODEL_VERSION_TAG_DELETED", "model_version_tag.deleted", "Version tag deleted", true],
  ["MODEL_VERSION_ALIAS_CREATED", "model_version_alias.created", "Alias created", true],
  ["MODEL_VERSION_ALIAS_MOVED", "model_version_alias.moved", "Alias moved", true],
  ["MODEL_VERSION_ALIAS_DELETED", "model_version_alias.deleted", "Alias deleted", true],
];
// Fields that say nothing a history line does not already show.
const UNSHOWN = new Set(["creation_timestamp"]);

function typeLabel(type) {
  const known = TYPES.find(([apiName]) => apiName === type);
  if (known) return known[2];
  // A type newer than this page: its own name, readable.
  const words = String(type ?? "change").replace(/^EVENT_TYPE_/, "").toLowerCase().replaceAll("_", " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/**
 * The panel for model `name`, or for its version `version`; `query` is the page's URL query.
 * Returns {element}; it reloads itself after every change the UI makes until `signal` aborts.
 */
export function historySection({ name, version, query, signal }) {
  const types = TYPES.filter(([, , , ofVersion]) => !version || ofVersion);
  let filter = types.find(([, urlName]) => urlName === query.get(PARAM)) ?? null;
  let token = "";
  let requests = null;

  const selectId = uniqueId("history-type");
  const select = h(
    "select",
    { id: selectId, onchange: () => choose(select.value) },
    h("option", { value: "" }, "All changes"),
    types.map(([, urlName, label]) => h("option", { value: urlName }, label)),
  );
  select.value = filter ? filter[1] : "";
  const list = h("ol", { class: "history-list", "aria-label": "Changes, newest first" });
  const status = h("div", { class: "history-status" });
  const more = h("button", { type: "button", class: "button", hidden: true, onclick: () => load(true) }, "Load older changes");
  // A failure to load older changes shows beside the button that asked for them.
  const moreStatus = h("div");
  const element = section(
    "History",
    h("div", { class: "history-controls" }, h("div", { class: "field-inline" }, h("label", { for: selectId }, "Show"), select)),
    status,
    list,
    h("div", { class: "history-more" }, moreStatus, more),
  );
  element.classList.add("history");

  function choose(urlName) {
    filter = types.find(([, candidate]) => candidate === urlName) ?? null;
    const params = new URLSearchParams(location.search);
    if (filter) params.set(PARAM, filter[1]);
    else params.delete(PARAM);
    const text = params.toString();
    showUrl(location.pathname + (text ? `?${text}` : ""));
    load(false);
  }

  /** The first page again, or (`older`) the page after the ones shown. */
  async function load(older) {
    requests?.abort();
    requests = new AbortController();
    const mine = requests;
    const abort = () => mine.abort();
    signal.addEventListener("abort", abort, { once: true });
    replace(moreStatus);
    if (!older) {
      token = "";
      list.replaceChildren();
      replace(status, loading("history"));
    } else {
      more.disabled = true;
      more.textContent = "Loading older changes…";
    }
    list.setAttribute("aria-busy", "true");
    try {
      const page = await api.listEvents(
        { name, version, types: filter ? [filter[0]] : undefined, pageSize: PAGE_SIZE, pageToken: token || undefined },
        mine.signal,
      );
      const events = page.events ?? [];
      token = page.next_page_token ?? "";
      const items = events.map((event) => entry(event, name, !version));
      list.append(...items);
      if (!older) {
        replace(
          status,
          items.length ? null : h("p", { class: "muted history-empty" }, filter ? `No “${filter[2]}” changes recorded.` : "No changes recorded yet."),
        );
      }
      more.hidden = !token;
      if (older) items[0]?.focus();
    } catch (error) {
      if (isAbort(error) || mine.signal.aborted) return;
      const retry = () => load(older);
      if (older) replace(moreStatus, errorBox(error, { title: "Older changes could not be loaded", retry }));
      else replace(status, errorBox(error, { title: "The history could not be loaded", retry }));
    } finally {
      signal.removeEventListener("abort", abort);
      if (requests === mine) {
        list.removeAttribute("aria-busy");
        more.disabled = false;
        more.textContent = "Load older changes";
      }
    }
  }

  // Changes made on this page (an edit, a transition, a tag) show at the top at once.
  let pending = 0;
  const changed = () => {
    clearTimeout(pending);
    pending = setTimeout(() => load(false), 150);
  };
  window.addEventListener(CHANGED_EVENT, changed);
  signal.addEventListener("abort", () => {
    window.removeEventListener(CHANGED_EVENT, changed);
    clearTimeout(pending);
    requests?.abort();
  });

  load(false);
  return { element };
}

/** One event: what, which version (on a model page), who, when, then before → after. */
function entry(event, name, showVersion) {
  const number = Number(event.version ?? 0);
  const what = typeLabel(event.event_type);
  const rows = changes(event);
  // A creation has nothing before it: only the values it wrote are shown.
  const created = Object.keys(event.before ?? {}).length === 0 && !String(event.event_type).includes("_TAG_");
  return h(
    "li",
    { class: "history-item", tabindex: "-1", "data-type": event.event_type },
    h(
      "p",
      { class: "history-head" },
      h("span", { class: "history-what" }, what),
      showVersion && number
        ? h(
            "span",
            { class: "history-version" },
            event.event_type === "MODEL_VERSION_DELETED"
              ? `Version ${number}`
              : h("a", { href: versionUrl(name, number) }, `Version ${number}`),
          )
        : null,
      h(
        "span",
        { class: "history-who" },
        event.actor ? ["by ", h("strong", {}, event.actor)] : muted("no user recorded"),
      ),
      h("span", { class: "history-when" }, timeAgo(event.timestamp)),
    ),
    rows.length
      ? h(
          "dl",
          { class: "history-changes" },
          rows.map(([field, before, after]) =>
            h(
              "div",
              { class: "history-change" },
              h("dt", {}, field),
              created
                ? h("dd", {}, h("span", { class: "history-after" }, value(after)))
                : h(
                    "dd",
                    {},
                    h("span", { class: "history-before" }, value(before)),
                    h("span", { class: "history-arrow", "aria-hidden": "true" }, " → "),
                    h("span", { class: "visually-hidden" }, " changed to "),
                    h("span", { class: "history-after" }, value(after)),
                  ),
            ),
          ),
        )
      : null,
  );
}

/** [field, before, after] for each value the event changed. */
function changes(event) {
  const before = event.before ?? {};
  const after = event.after ?? {};
  const type = String(event.event_type ?? "");
  if (type.includes("_TAG_")) {
    return [[`tag ${after.key ?? before.key ?? ""}`, before.value, after.value]];
  }
  if (type.includes("_ALIAS_")) {
    const version = (side) => (side.version === undefined ? undefined : `version ${side.version}`);
    return [[`@${after.alias ?? before.alias ?? ""}`, version(before), version(after)]];
  }
  const keys = [...new Set([...Object.keys(after), ...Object.keys(before)])];
  return keys
    .filter((key) => !UNSHOWN.has(key) && !(empty(before[key]) && empty(after[key])))
    .filter((key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]))
    .map((key) => [key.replaceAll("_", " "), before[key], after[key]]);
}

function empty(item) {
  return item === undefined || item === null || item === "" || (typeof item === "object" && Object.keys(item).length === 0);
}

function value(item) {
  if (empty(item)) return muted("none");
  if (typeof item === "object") {
    return Object.entries(item)
      .map(([key, inner]) => `${key}=${typeof inner === "object" ? JSON.stringify(inner) : inner}`)
      .join(", ");
  }
  return String(item);
}
