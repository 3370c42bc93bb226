// Register Model: a new version of an existing model, or of a new model created on the way,
// as mlflow.register_model does.

import { api, containsPattern, filterString, isAbort } from "./api.js";
import { h, replace, uniqueId } from "./dom.js";
import { inlineError } from "./components.js";
import { openModal } from "./dialogs.js";
import { modelUrl, versionUrl } from "./router.js";

const SUGGESTIONS = 50;

/** `registered(version)` is told of each success, so the page behind can show it. */
export function openRegisterDialog({ model = "", registered = () => {} } = {}) {
  return openModal({
    title: "Register model",
    build(close) {
      const body = h("div");
      replace(body, registerForm(body, close, model, registered));
      return body;
    },
  });
}

function registerForm(body, close, model, registered) {
  const nameId = uniqueId("register-name");
  const listId = uniqueId("register-models");
  const hintId = uniqueId("register-name-hint");
  const sourceId = uniqueId("register-source");
  const runId = uniqueId("register-run-id");
  const suggestions = h("datalist", { id: listId });
  const hint = h("p", { id: hintId, class: "hint", "aria-live": "polite" }, "Pick an existing model or type a new name.");
  const name = h("input", {
    id: nameId,
    name: "name",
    list: listId,
    required: true,
    maxlength: 256,
    autocomplete: "off",
    spellcheck: "false",
    "aria-describedby": hintId,
    value: model,
    autofocus: !model,
  });
  const source = h("input", {
    id: sourceId,
    name: "source",
    required: true,
    maxlength: 4096,
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "runs:/<run_id>/model or s3://bucket/path",
    autofocus: Boolean(model),
  });
  const run = h("input", { id: runId, name: "run_id", maxlength: 256, autocomplete: "off", spellcheck: "false" });
  const error = inlineError();
  const submit = h("button", { type: "submit", class: "button primary" }, "Register");
  const cancel = h("button", { type: "button", class: "button", onclick: () => close(undefined) }, "Cancel");

  // Suggestions follow what is typed; only the latest answer counts.
  let lookup = null;
  let timer = 0;
  async function suggest() {
    lookup?.abort();
    lookup = new AbortController();
    const { signal } = lookup;
    const typed = name.value.trim();
    try {
      const found = await api.searchModels(
        {
          filter: typed ? `name ILIKE ${containsPattern(typed)}` : "",
          pageSize: SUGGESTIONS,
          orderBy: "name ASC",
        },
        signal,
      );
      const names = (found.registered_models ?? []).map((item) => item.name);
      replace(suggestions, names.map((item) => h("option", { value: item })));
      if (!typed) {
        hint.textContent = names.length ? "Pick an existing model or type a new name." : "Type a name for the new model.";
        return;
      }
      // A full page of suggestions may have left the exact name out.
      const exists =
        names.includes(typed) ||
        (names.length === SUGGESTIONS &&
          (await api.searchModels({ filter: `name = ${filterString(typed)}`, pageSize: 1 }, signal))
            .registered_models?.length > 0);
      hint.textContent = exists ? "Existing model: this adds its next version." : `New model: "${typed}" will be created.`;
    } catch (failure) {
      // Suggestions are a convenience; the submit reports any real problem.
      if (!isAbort(failure)) hint.textContent = "Pick an existing model or type a new name.";
    }
  }
  name.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(suggest, 150);
  });
  suggest();

  const form = h(
    "form",
    {
      class: "stack",
      async onsubmit(event) {
        event.preventDefault();
        error.clear();
        submit.disabled = true;
        submit.textContent = "Registering…";
        form.setAttribute("aria-busy", "true");
        try {
          const modelName = name.value.trim();
          await createModelUnlessExists(modelName);
          const version = await api.createVersion({ name: modelName, source: source.value.trim(), runId: run.value.trim() });
          registered(version);
          replace(body, success(version, close));
          body.querySelector("h3").focus();
        } catch (failure) {
          error.show(failure);
          submit.disabled = false;
          submit.textContent = "Register";
          form.removeAttribute("aria-busy");
        }
      },
    },
    h(
      "div",
      { class: "field" },
      h("label", { for: nameId }, "Model"),
      name,
      suggestions,
      hint,
    ),
    h("div", { class: "field" }, h("label", { for: sourceId }, "Source URI"), source),
    h(
      "div",
      { class: "field" },
      h("label", { for: runId }, "Run ID ", h("span", { class: "optional" }, "(optional)")),
      run,
    ),
    error.element,
    h("div", { class: "modal-actions" }, cancel, submit),
  );
  return form;
}

async function createModelUnlessExists(name) {
  try {
    await api.createModel(name);
  } catch (failure) {
    if (failure.code !== "RESOURCE_ALREADY_EXISTS") throw failure;
  }
}

function success(version, close) {
  const versionLink = h("a", { class: "button primary", href: versionUrl(version.name, version.version) }, `Open version ${version.version}`);
  const modelLink = h("a", { class: "button", href: modelUrl(version.name) }, "Open model");
  for (const link of [versionLink, modelLink]) link.addEventListener("click", () => close(version));
  return h(
    "div",
    { class: "stack success" },
    h("h3", { tabindex: "-1" }, h("span", { class: "check", "aria-hidden": "true" }, "✓"), ` Registered ${version.name}, version ${version.version}`),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Stage"),
      h("dd", {}, version.current_stage ?? "None"),
      h("dt", {}, "Source"),
      h("dd", { class: "mono" }, version.source ?? ""),
      version.run_id ? [h("dt", {}, "Run ID"), h("dd", { class: "mono" }, version.run_id)] : null,
    ),
    h(
      "div",
      { class: "modal-actions" },
      h("button", { type: "button", class: "button", onclick: () => close(version) }, "Close"),
      modelLink,
      versionLink,
    ),
  );
}
