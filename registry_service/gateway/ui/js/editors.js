// Editable sections shared by the model and version pages. Each keeps its own state, saves
// through the callbacks it is given and shows their errors in place.

import { h, replace, uniqueId } from "./dom.js";
import { aliasChip, inlineError, muted, section } from "./components.js";
import { tagPairs } from "./api.js";
import { markdown } from "./markdown.js";

/** Run `action` with `button` showing it is busy; errors go to `error`. True on success. */
async function busy(button, error, action) {
  error.clear();
  button.disabled = true;
  const label = button.textContent;
  button.textContent = `${label}…`;
  try {
    await action();
    return true;
  } catch (failure) {
    error.show(failure);
    return false;
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

export function descriptionEditor({ description, save }) {
  let text = description ?? "";
  const body = h("div", { class: "description" });
  const container = section("Description", body);

  function show() {
    const edit = h("button", { type: "button", class: "button small", onclick: startEditing }, "Edit description");
    replace(
      body,
      text ? h("div", { class: "description-text markdown" }, markdown(text)) : h("p", { class: "muted" }, "No description yet."),
      h("div", { class: "row-actions" }, edit),
    );
    return edit;
  }

  function startEditing() {
    const id = uniqueId("description");
    const error = inlineError();
    const area = h("textarea", { id, rows: 6, maxlength: 65536 });
    area.value = text;
    const saveButton = h("button", { type: "submit", class: "button primary small" }, "Save");
    const cancel = h("button", { type: "button", class: "button small", onclick: () => show().focus() }, "Cancel");
    const form = h(
      "form",
      {
        class: "stack",
        async onsubmit(event) {
          event.preventDefault();
          const value = area.value;
          if (await busy(saveButton, error, () => save(value))) {
            text = value;
            show().focus();
          }
        },
        onkeydown(event) {
          if (event.key === "Escape") {
            event.preventDefault();
            show().focus();
          }
        },
      },
      h("label", { for: id, class: "visually-hidden" }, "Description"),
      area,
      error.element,
      h("div", { class: "row-actions" }, cancel, saveButton),
    );
    replace(body, form);
    area.focus();
  }

  show();
  return container;
}

export function tagsEditor({ tags, set, remove }) {
  const pairs = new Map(tagPairs(tags));
  const list = h("div");
  const error = inlineError();
  const keyId = uniqueId("tag-key");
  const valueId = uniqueId("tag-value");
  const key = h("input", { id: keyId, name: "key", required: true, maxlength: 250, autocomplete: "off" });
  const value = h("input", { id: valueId, name: "value", maxlength: 5000, autocomplete: "off" });
  const add = h("button", { type: "submit", class: "button" }, "Add tag");

  function draw() {
    if (pairs.size === 0) {
      replace(list, h("p", { class: "muted" }, "No tags yet."));
      return;
    }
    const rows = [...pairs].sort(([a], [b]) => a.localeCompare(b)).map(([tagKey, tagValue]) => {
      const removeButton = h(
        "button",
        { type: "button", class: "button small quiet", "aria-label": `Remove tag ${tagKey}` },
        "Remove",
      );
      removeButton.addEventListener("click", async () => {
        if (await busy(removeButton, error, () => remove(tagKey))) {
          pairs.delete(tagKey);
          draw();
          key.focus();
        }
      });
      return h(
        "tr",
        {},
        h("th", { scope: "row", class: "tag-key" }, tagKey),
        h("td", { class: "tag-value" }, tagValue || muted("(empty)")),
        h("td", { class: "actions" }, removeButton),
      );
    });
    replace(list, h("div", { class: "table-wrap" }, h("table", { class: "tags" }, h("tbody", {}, rows))));
  }

  const form = h(
    "form",
    {
      class: "inline-form",
      async onsubmit(event) {
        event.preventDefault();
        const newKey = key.value.trim();
        const newValue = value.value;
        if (await busy(add, error, () => set(newKey, newValue))) {
          pairs.set(newKey, newValue);
          key.value = "";
          value.value = "";
          draw();
          key.focus();
        }
      },
    },
    h("div", { class: "field" }, h("label", { for: keyId }, "Key"), key),
    h("div", { class: "field grow" }, h("label", { for: valueId }, "Value"), value),
    add,
  );
  draw();
  return section("Tags", list, form, error.element);
}

/**
 * Aliases of a model (each with its version) or of one version. `version` fixes the version new
 * aliases point at; without it the form asks for one.
 */
export function aliasesEditor({ name, aliases, version, set, remove, versions = [] }) {
  // alias -> version number as a string, as the JSON API spells versions.
  const current = new Map(aliases);
  const list = h("div");
  const error = inlineError();
  const aliasId = uniqueId("alias");
  const versionId = uniqueId("alias-version");
  const alias = h("input", {
    id: aliasId,
    required: true,
    maxlength: 255,
    autocomplete: "off",
    placeholder: "e.g. champion",
  });
  const versionField =
    version === undefined
      ? h("input", { id: versionId, type: "number", min: 1, required: true, inputmode: "numeric", value: versions[0] ?? "" })
      : null;
  const add = h("button", { type: "submit", class: "button" }, "Add alias");

  function draw() {
    if (current.size === 0) {
      replace(list, h("p", { class: "muted" }, version === undefined ? "No aliases yet." : "No alias points at this version."));
      return;
    }
    const chips = [...current].sort(([a], [b]) => a.localeCompare(b)).map(([aliasName, aliasVersion]) => {
      const removeButton = h(
        "button",
        { type: "button", class: "chip-remove", "aria-label": `Remove alias ${aliasName}`, title: "Remove alias" },
        "×",
      );
      removeButton.addEventListener("click", async () => {
        if (await busy(removeButton, error, () => remove(aliasName))) {
          current.delete(aliasName);
          draw();
          alias.focus();
        }
      });
      const chip = version === undefined ? aliasChip(aliasName, { name, version: aliasVersion }) : aliasChip(aliasName);
      return h("li", { class: "chip-group" }, chip, removeButton);
    });
    replace(list, h("ul", { class: "chips", "aria-label": "Aliases" }, chips));
  }

  const form = h(
    "form",
    {
      class: "inline-form",
      async onsubmit(event) {
        event.preventDefault();
        const newAlias = alias.value.trim();
        const target = version ?? versionField.value;
        if (await busy(add, error, () => set(newAlias, target))) {
          current.set(newAlias, String(target));
          alias.value = "";
          draw();
          alias.focus();
        }
      },
    },
    h("div", { class: "field grow" }, h("label", { for: aliasId }, "Alias"), alias),
    versionField ? h("div", { class: "field narrow" }, h("label", { for: versionId }, "Version"), versionField) : null,
    add,
  );
  draw();
  return section("Aliases", list, form, error.element);
}
