// Restore after delete: the "Recently deleted" page (/deleted) and a model page's "Deleted
// versions" section, over the registry's own API (/api/2.0/modelregistry/…).

import { registryCall } from "./api.js";
import { h, replace, uniqueId } from "./dom.js";
import { announce, breadcrumbs, errorBox, loading, muted, section, table, timeAgo } from "./components.js";
import { confirmDialog } from "./dialogs.js";
import { modelUrl, navigate, refresh } from "./router.js";

const PAGE_SIZE = 50;

const restoreApi = {
  listModels: (pageToken, signal) =>
    registryCall("GET", "/registered-models/deleted/list", { query: { page_size: PAGE_SIZE, page_token: pageToken }, signal }),
  listVersions: async (name, signal) =>
    (await registryCall("GET", "/model-versions/deleted/list", { query: { name }, signal })).deleted_model_versions ?? [],
  restoreModel: async (name, newName) =>
    (await registryCall("POST", "/registered-models/restore", { body: { name, new_name: newName } })).registered_model,
  restoreVersion: async (name, version) =>
    (await registryCall("POST", "/model-versions/restore", { body: { name, version } })).model_version,
};

/** Deleted models that can still be restored, newest first, each with a Restore button. */
export async function deletedModelsPage({ main, signal, query }) {
  document.title = "Recently deleted · Model Registry";
  const body = h("div", { "aria-busy": "true" }, loading("deleted models"));
  replace(
    main,
    breadcrumbs(["Registered models", "/"], ["Recently deleted"]),
    h("div", { class: "page-head" }, h("div", {}, h("h1", { tabindex: "-1" }, "Recently deleted"))),
    h("p", { class: "meta" }, "Deleted models stay restorable, with their versions, tags, aliases and permissions, until they are purged."),
    body,
  );
  const page = await restoreApi.listModels(query.get("page_token") ?? "", signal);
  body.removeAttribute("aria-busy");
  const found = page.deleted_registered_models ?? [];
  if (!found.length) {
    replace(body, h("div", { class: "card" }, h("p", {}, "No deleted models to restore.")));
    return;
  }
  const rows = found.map((deleted) => {
    const model = deleted.registered_model;
    return h(
      "tr",
      {},
      h("td", {}, h("strong", {}, model.name)),
      h("td", {}, String(deleted.version_count ?? 0)),
      h("td", {}, deleted.deleted_by || muted("—")),
      h("td", {}, timeAgo(deleted.deletion_timestamp)),
      h("td", {}, timeAgo(deleted.purge_timestamp)),
      h("td", {}, h("button", { type: "button", class: "button", "aria-label": `Restore ${model.name}`, onclick: () => restoreModel(model.name) }, "Restore")),
    );
  });
  replace(
    body,
    table("Deleted models", ["Name", "Versions", "Deleted by", "Deleted", "Purged after", "Action"], rows),
    page.next_page_token
      ? h("p", {}, h("a", { href: `/deleted?${new URLSearchParams({ page_token: page.next_page_token })}` }, "Older deletions"))
      : null,
  );
}

/** Restore the model; when its name was taken meanwhile, ask for another. */
async function restoreModel(name) {
  let restored;
  try {
    restored = await restoreApi.restoreModel(name, "");
  } catch (error) {
    if (error.code !== "RESOURCE_ALREADY_EXISTS") {
      announce(`Could not restore ${name}: ${error.message}`);
      refresh();
      return;
    }
    const id = uniqueId("restore-name");
    restored = await confirmDialog({
      title: "Restore under another name",
      message: `A model named ${name} exists now. Restore the deleted one under a new name.`,
      confirmLabel: "Restore",
      extra: h(
        "div",
        { class: "field" },
        h("label", { for: id }, "New name"),
        h("input", { id, name: "new_name", value: `${name}-restored`, required: true, maxlength: 256, autocomplete: "off", spellcheck: "false", autofocus: true }),
      ),
      action: (form) => restoreApi.restoreModel(name, form.elements.new_name.value.trim()),
    });
    if (!restored) return;
  }
  announce(`Restored ${restored.name}`);
  navigate(modelUrl(restored.name));
}

/**
 * The deleted versions of model `name` with a Restore button each; an empty element when there
 * are none. `restored()` runs after a restore (the page's versions table reloads).
 */
export function deletedVersionsSection(name, signal, { restored }) {
  const element = h("div", { class: "deleted-versions" });
  async function load() {
    let versions;
    try {
      versions = await restoreApi.listVersions(name, signal);
    } catch (error) {
      if (error.name === "AbortError") return;
      replace(element, errorBox(error, { title: "Deleted versions could not be listed" }));
      return;
    }
    if (!versions.length) {
      replace(element);
      return;
    }
    const rows = versions.map((deleted) => {
      const version = deleted.model_version;
      return h(
        "tr",
        {},
        h("td", {}, `Version ${version.version}`),
        h("td", {}, version.current_stage || "None"),
        h("td", {}, deleted.deleted_by || muted("—")),
        h("td", {}, timeAgo(deleted.deletion_timestamp)),
        h(
          "td",
          {},
          h(
            "button",
            {
              type: "button",
              class: "button",
              "aria-label": `Restore version ${version.version}`,
              async onclick() {
                try {
                  await restoreApi.restoreVersion(name, version.version);
                } catch (error) {
                  announce(`Could not restore version ${version.version}: ${error.message}`);
                  return;
                }
                announce(`Restored version ${version.version}`);
                restored();
                load();
              },
            },
            "Restore",
          ),
        ),
      );
    });
    replace(element, section("Deleted versions", table("Recently deleted of this model", ["Version", "Stage", "Deleted by", "Deleted", "Action"], rows)));
  }
  load();
  return element;
}
