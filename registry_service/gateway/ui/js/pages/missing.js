// Pages for what cannot be shown: an unknown path, a missing model or version (with close
// matches), a registry that does not answer. The heading says which; the body says what.

import { api, containsPattern, filterString, isAbort } from "../api.js";
import { h, replace } from "../dom.js";
import { errorBox } from "../components.js";
import { modelUrl, refresh, versionUrl } from "../router.js";

const MATCHES = 5;
// Name parts shorter than this match too much to be a hint.
const SHORTEST_PART = 3;

/** Any path the UI has no page for. */
export function notFoundPage({ main }) {
  document.title = "Page not found · Model Registry";
  replace(
    main,
    h("div", { class: "page-head" }, h("h1", { tabindex: "-1" }, "Page not found")),
    h(
      "div",
      { class: "card missing" },
      h("p", {}, "There is no page at ", h("code", {}, location.pathname), "."),
      h("p", {}, h("a", { href: "/" }, "Browse the registered models"), " or search them by name."),
    ),
  );
}

/** The registry did not answer at all (stopped, restarting, or the network is down). */
export function unreachablePage(main, error) {
  document.title = "Registry unreachable · Model Registry";
  replace(
    main,
    h("div", { class: "page-head" }, h("h1", { tabindex: "-1" }, "The registry cannot be reached")),
    h(
      "div",
      { class: "card missing", role: "alert" },
      h("p", {}, error.message),
      h("p", { class: "hint" }, "Nothing was changed. When the server is back, try again."),
      h("button", { type: "button", class: "button primary", onclick: refresh }, "Try again"),
    ),
  );
}

/**
 * A model or version page whose first call failed: a missing one gets its own heading and close
 * matches, an unreachable registry its page, anything else the error with a retry.
 */
export async function loadFailure({ main, body, error, signal, model, version }) {
  if (error.status === 0) {
    unreachablePage(main, error);
    return;
  }
  if (!error.notFound) {
    const what = version === undefined ? "model" : "version";
    replace(body, errorBox(error, { title: `The ${what} could not be loaded`, retry: refresh }));
    return;
  }
  const modelMissing = version === undefined || !(await exists(model, signal));
  main.querySelector("h1").textContent = modelMissing ? "Model not found" : "Version not found";
  document.title = `${modelMissing ? "Model" : "Version"} not found · Model Registry`;
  replace(body, h("div", { class: "card missing" }, h("p", { class: "missing-what" }, ...missingText(model, version, modelMissing)), h("p", {}, "Loading close matches…")));
  let matches;
  try {
    matches = modelMissing ? await similarModels(model, signal) : await latestVersions(model, signal);
  } catch (failure) {
    if (isAbort(failure)) throw failure;
    matches = [];
  }
  replace(
    body,
    h(
      "div",
      { class: "card missing" },
      h("p", { class: "missing-what" }, ...missingText(model, version, modelMissing)),
      matches.length
        ? [
            h("h2", {}, modelMissing ? "Models with a similar name" : `Versions of ${model}`),
            h("ul", { class: "matches" }, matches.map(([label, href]) => h("li", {}, h("a", { href }, label)))),
          ]
        : h("p", {}, modelMissing ? "No model has a similar name." : "It has no versions."),
      h("p", {}, h("a", { href: modelMissing ? "/" : modelUrl(model) }, modelMissing ? "Browse the registered models" : `Open ${model}`)),
    ),
  );
}

function missingText(model, version, modelMissing) {
  const name = h("strong", { class: "break" }, model);
  if (version === undefined) return ["There is no registered model named ", name, "."];
  if (modelMissing) return ["There is no registered model named ", name, ", so no version ", version, " of it."];
  return [name, ` has no version ${version}.`];
}

async function exists(model, signal) {
  try {
    await api.getModel(model, signal);
    return true;
  } catch (error) {
    if (error.notFound) return false;
    throw error;
  }
}

/** Models whose name holds the missing name or one of its parts, case aside. */
async function similarModels(model, signal) {
  const parts = model.split(/[^\p{L}\p{N}]+/u).filter((part) => part.length >= SHORTEST_PART);
  const patterns = [...new Set([model, ...parts])].slice(0, MATCHES + 1);
  const filter = patterns.map((part) => `name ILIKE ${containsPattern(part)}`).join(" OR ");
  const found = await api.searchModels({ filter, pageSize: MATCHES, orderBy: "name ASC" }, signal);
  return (found.registered_models ?? []).map((item) => [item.name, modelUrl(item.name)]);
}

async function latestVersions(model, signal) {
  const found = await api.searchVersions(
    { filter: `name = ${filterString(model)}`, pageSize: MATCHES, orderBy: ["version_number DESC"] },
    signal,
  );
  return (found.model_versions ?? []).map((item) => [`Version ${item.version}`, versionUrl(model, item.version)]);
}
