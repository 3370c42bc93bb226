// One model version: the stage drop-down, description, tags, aliases and lineage.

import { api } from "../api.js";
import { h, replace, safeHref } from "../dom.js";
import { announce, breadcrumbs, fullTime, loading, muted, section } from "../components.js";
import { copyButton } from "../copy.js";
import { aliasesEditor, descriptionEditor, tagsEditor } from "../editors.js";
import { confirmDialog } from "../dialogs.js";
import { stageMenu } from "../stage-menu.js";
import { modelUrl, navigate, refresh } from "../router.js";
import { usage } from "../usage.js";
import { requestsPanel } from "../transition-requests.js";
import { loadFailure } from "./missing.js";
import { historySection } from "../history.js";

export async function versionPage({ main, signal, params, query }) {
  const { name, version: number } = params;
  document.title = `${name} version ${number} · Model Registry`;
  const stage = h("div", { class: "head-actions" });
  const body = h("div", { "aria-busy": "true" }, loading("version"));
  replace(
    main,
    breadcrumbs(["Registered models", "/"], [name, modelUrl(name)], [`Version ${number}`]),
    h(
      "div",
      { class: "page-head" },
      h("div", {}, h("p", { class: "kicker" }, h("a", { href: modelUrl(name) }, name)), h("h1", { tabindex: "-1" }, `Version ${number}`)),
      stage,
    ),
    body,
  );

  let version;
  try {
    version = await api.getVersion(name, number, signal);
  } catch (error) {
    body.removeAttribute("aria-busy");
    await loadFailure({ main, body, error, signal, model: name, version: number });
    return;
  }
  body.removeAttribute("aria-busy");

  function draw(current) {
    replace(
      stage,
      stageMenu({
        version: current,
        transition: (target, archive) => api.transition(name, current.version, target, archive),
        changed(updated) {
          draw(updated);
          stage.querySelector("button").focus();
          announce(`Version ${updated.version} moved to ${updated.current_stage}`);
        },
      }),
    );
    replace(body, requestsPanel({ name, version: current.version, signal, changed: () => refresh() }), details(current));
  }
  draw(version);
  main.append(historySection({ name, version: version.version, query, signal }).element);
}

function details(version) {
  const { name } = version;
  return [
    h(
      "dl",
      { class: "meta times" },
      h("dt", {}, "Registered"),
      h("dd", {}, fullTime(version.creation_timestamp), version.user_id ? ` by ${version.user_id}` : null),
      h("dt", {}, "Last updated"),
      h("dd", {}, fullTime(version.last_updated_timestamp)),
      version.status && version.status !== "READY"
        ? [h("dt", {}, "Status"), h("dd", {}, version.status, version.status_message ? ` (${version.status_message})` : null)]
        : null,
    ),
    h(
      "div",
      { class: "layout" },
      h(
        "div",
        { class: "main-column" },
        descriptionEditor({
          description: version.description,
          save: async (description) => {
            await api.updateVersion(name, version.version, description);
            announce("Description saved");
          },
        }),
        usage(version),
        lineage(version),
        tagsEditor({
          tags: version.tags,
          set: (key, value) => api.setVersionTag(name, version.version, key, value),
          remove: (key) => api.deleteVersionTag(name, version.version, key),
        }),
      ),
      h(
        "div",
        { class: "side-column" },
        aliasesEditor({
          name,
          version: version.version,
          aliases: (version.aliases ?? []).map((alias) => [alias, version.version]),
          set: async (alias) => {
            await api.setAlias(name, alias, version.version);
            announce(`Alias ${alias} now points at version ${version.version}`);
          },
          remove: async (alias) => {
            await api.deleteAlias(name, alias);
            announce(`Alias ${alias} removed`);
          },
        }),
        section(
          "Delete version",
          h("p", { class: "hint" }, "Removes this version and any alias pointing at it. Its number is never reused."),
          h("button", { type: "button", class: "button danger-outline", onclick: () => remove(version) }, `Delete version ${version.version}`),
        ),
      ),
    ),
  ];
}

function lineage(version) {
  const runHref = version.run_link ? safeHref(version.run_link) : null;
  const pages = trackingPages(version);
  const notRecorded = muted("Not recorded");
  const linked = (text, href) =>
    href ? h("a", { href, target: "_blank", rel: "noopener noreferrer" }, text) : text;
  return section(
    "Lineage",
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Source URI"),
      h(
        "dd",
        { class: "mono break with-copy" },
        version.source ? [h("span", {}, version.source), copyButton(version.source, "source URI")] : notRecorded.cloneNode(true),
      ),
      h("dt", {}, "Run ID"),
      h(
        "dd",
        { class: "mono break with-copy" },
        version.run_id ? [linked(version.run_id, runHref), copyButton(version.run_id, "run ID")] : notRecorded.cloneNode(true),
      ),
      h("dt", {}, "Run link"),
      h(
        "dd",
        { class: "break" },
        runHref ? linked(version.run_link, runHref) : version.run_link || notRecorded.cloneNode(true),
      ),
      h("dt", {}, "Experiment ID"),
      h(
        "dd",
        { class: "mono break" },
        version.experiment_id
          ? linked(version.experiment_id, pages && pages.experiment)
          : notRecorded.cloneNode(true),
      ),
      h("dt", {}, "Logged model"),
      h(
        "dd",
        { class: "mono break" },
        version.model_id ? linked(version.model_id, pages && pages.model) : notRecorded.cloneNode(true),
      ),
    ),
  );
}

// The tracking server's pages for the version's experiment and logged model, read off a run link
// of MLflow's form "<tracking>/#/experiments/<experiment>/runs/<run>" (the one the registry
// records from --tracking-uri); null for a link to another system.
function trackingPages(version) {
  const match = /^(https?:\/\/.*)\/#\/experiments\/([^/?#]+)\/runs\/[^/?#]+$/.exec(
    version.run_link || "",
  );
  if (!match) return null;
  const experiment = `${match[1]}/#/experiments/${match[2]}`;
  return {
    experiment: safeHref(experiment),
    model: version.model_id
      ? safeHref(`${experiment}/models/${encodeURIComponent(version.model_id)}`)
      : null,
  };
}

async function remove(version) {
  const deleted = await confirmDialog({
    title: "Delete version",
    message: h(
      "span",
      {},
      `Delete version ${version.version} of `,
      h("strong", {}, version.name),
      "? Aliases pointing at it are removed too. It can be restored from the model page until it is purged.",
    ),
    confirmLabel: `Delete version ${version.version}`,
    danger: true,
    action: async () => {
      await api.deleteVersion(version.name, version.version);
      return true;
    },
  });
  if (deleted) {
    navigate(modelUrl(version.name), { replace: true });
    announce(`Deleted version ${version.version} of ${version.name}`);
  }
}
