// One registered model: description, tags, aliases, its versions, rename and delete.

import { api } from "../api.js";
import { h, replace, uniqueId } from "../dom.js";
import { announce, breadcrumbs, loading, timeAgo } from "../components.js";
import { aliasesEditor, descriptionEditor, tagsEditor } from "../editors.js";
import { confirmDialog } from "../dialogs.js";
import { openRegisterDialog } from "../register-dialog.js";
import { modelUrl, navigate, refresh } from "../router.js";
import { versionsSection } from "../versions-table.js";
import { requestsPanel } from "../transition-requests.js";
import { historySection } from "../history.js";
import { deletedVersionsSection } from "../restore.js";
import { loadFailure } from "./missing.js";

export async function modelPage({ main, signal, params, query }) {
  const { name } = params;
  document.title = `${name} · Model Registry`;
  const actions = h("div", { class: "head-actions" });
  const body = h("div", { "aria-busy": "true" }, loading("model"));
  replace(
    main,
    breadcrumbs(["Registered models", "/"], [name]),
    h("div", { class: "page-head" }, h("div", {}, h("p", { class: "kicker" }, "Registered model"), h("h1", { tabindex: "-1" }, name)), actions),
    body,
  );

  let model;
  try {
    model = await api.getModel(name, signal);
  } catch (error) {
    body.removeAttribute("aria-busy");
    await loadFailure({ main, body, error, signal, model: name });
    return;
  }
  body.removeAttribute("aria-busy");

  const versions = versionsSection(name, query, signal);
  replace(
    actions,
    h("button", { type: "button", class: "button primary", onclick: () => openRegisterDialog({ model: name, registered: () => versions.reload() }) }, "Register version"),
    h("button", { type: "button", class: "button", onclick: () => rename(name) }, "Rename"),
    h("button", { type: "button", class: "button danger-outline", onclick: () => remove(name) }, "Delete"),
  );
  replace(
    body,
    h(
      "p",
      { class: "meta" },
      "Created ",
      timeAgo(model.creation_timestamp),
      " · Last updated ",
      timeAgo(model.last_updated_timestamp),
      model.user_id ? ` · by ${model.user_id}` : null,
    ),
    requestsPanel({ name, signal, changed: () => refresh() }),
    h(
      "div",
      { class: "layout" },
      h(
        "div",
        { class: "main-column" },
        descriptionEditor({
          description: model.description,
          save: async (description) => {
            await api.updateModel(name, description);
            announce("Description saved");
          },
        }),
        tagsEditor({
          tags: model.tags,
          set: (key, value) => api.setModelTag(name, key, value),
          remove: (key) => api.deleteModelTag(name, key),
        }),
      ),
      h(
        "div",
        { class: "side-column" },
        aliasesEditor({
          name,
          aliases: (model.aliases ?? []).map((alias) => [alias.alias, alias.version]),
          versions: (model.latest_versions ?? []).map((version) => Number(version.version)).sort((a, b) => b - a),
          set: async (alias, version) => {
            await api.setAlias(name, alias, version);
            announce(`Alias ${alias} now points at version ${version}`);
            versions.reload();
          },
          remove: async (alias) => {
            await api.deleteAlias(name, alias);
            announce(`Alias ${alias} removed`);
            versions.reload();
          },
        }),
      ),
    ),
    versions.element,
    deletedVersionsSection(name, signal, { restored: () => versions.reload() }),
    historySection({ name, query, signal }).element,
  );
}

async function rename(name) {
  const id = uniqueId("new-name");
  const renamed = await confirmDialog({
    title: "Rename model",
    message: "Its versions, tags and aliases move with it. Clients that still use the old name will not find it.",
    confirmLabel: "Rename",
    extra: h(
      "div",
      { class: "field" },
      h("label", { for: id }, "New name"),
      h("input", { id, name: "new_name", value: name, required: true, maxlength: 256, autocomplete: "off", spellcheck: "false", autofocus: true }),
    ),
    action: (form) => api.renameModel(name, form.elements.new_name.value.trim()),
  });
  if (renamed) {
    navigate(modelUrl(renamed.name), { replace: true });
    announce(`Renamed to ${renamed.name}`);
  }
}

async function remove(name) {
  const deleted = await confirmDialog({
    title: "Delete model",
    message: h(
      "span",
      {},
      "Delete ",
      h("strong", {}, name),
      " with all its versions, tags and aliases? It can be restored from Recently deleted until it is purged.",
    ),
    confirmLabel: "Delete model",
    danger: true,
    action: async () => {
      await api.deleteModel(name);
      return true;
    },
  });
  if (deleted) {
    navigate("/", { replace: true });
    announce(`Deleted ${name}`);
  }
}
