// Pending transition requests of a model (or of one version), each with its comment and Approve
// and Reject buttons. Approving needs MANAGE on the model, and someone else's request; the
// server decides and says why when it refuses (shown in the dialog). See docs/security.md.

import { apiCall } from "./api.js";
import { h, replace, uniqueId } from "./dom.js";
import { announce, section, stageBadge, timeAgo } from "./components.js";
import { confirmDialog } from "./dialogs.js";
import { versionUrl } from "./router.js";

const BASE = "/api/2.0/modelregistry/transition-requests";

export const requestsApi = {
  pending: async (name, version, signal) =>
    (
      await apiCall("GET", `${BASE}/list`, {
        query: { name, version: version || undefined, state: "PENDING", page_size: 100 },
        signal,
      })
    ).transition_requests ?? [],
  approve: (request, comment) =>
    apiCall("POST", `${BASE}/approve`, { body: { id: request.id, etag: request.etag, comment } }),
  reject: (request, comment) =>
    apiCall("POST", `${BASE}/reject`, { body: { id: request.id, etag: request.etag, comment } }),
};

/** What a request asks for, as words and a badge. */
function change(request, withVersion, linked = true) {
  const label = `Version ${request.version}`;
  const version = !withVersion ? "This version" : linked ? h("a", { href: versionUrl(request.name, request.version) }, label) : label;
  if (request.stage) {
    return [version, " to ", stageBadge(request.stage), request.archive_existing_versions ? ", archiving the others there" : null];
  }
  if (request.delete_alias) return ["Delete alias ", h("strong", {}, request.alias), ` (on version ${request.version})`];
  return ["Point alias ", h("strong", {}, request.alias), " at ", withVersion ? version : "this version"];
}

/**
 * A card listing the pending requests of model `name` (or of its `version`), hidden while there
 * are none. `changed()` runs after an approval, which changed the model.
 */
export function requestsPanel({ name, version = 0, signal, changed = () => {} }) {
  const list = h("ul", { class: "transition-requests" });
  const card = section("Pending requests", list);
  card.classList.add("requests-card");
  card.hidden = true;

  async function load() {
    let pending;
    try {
      pending = await requestsApi.pending(name, version, signal);
    } catch {
      // A server without the RPC, or a reader refused: the page works without the panel.
      card.hidden = true;
      return;
    }
    card.hidden = pending.length === 0;
    replace(list, pending.map((request) => item(request)));
  }

  function item(request) {
    return h(
      "li",
      { class: "transition-request" },
      h("p", { class: "request-change" }, change(request, !version)),
      h("p", { class: "request-meta muted" }, `#${request.id} asked by ${request.user_id || "anonymous"} `, timeAgo(request.creation_timestamp)),
      request.comment ? h("blockquote", { class: "request-comment" }, request.comment) : null,
      h(
        "div",
        { class: "request-actions" },
        h("button", { type: "button", class: "button primary", onclick: () => answer(request, "approve") }, "Approve"),
        h("button", { type: "button", class: "button danger-outline", onclick: () => answer(request, "reject") }, "Reject"),
      ),
    );
  }

  async function answer(request, verb) {
    const id = uniqueId("request-comment");
    const approving = verb === "approve";
    const done = await confirmDialog({
      title: approving ? `Approve request #${request.id}` : `Reject request #${request.id}`,
      message: h("span", {}, change(request, true, false), approving ? ": the change is made now." : ": nothing changes."),
      confirmLabel: approving ? "Approve" : "Reject",
      danger: !approving,
      extra: h(
        "div",
        { class: "field" },
        h("label", { for: id }, "Comment"),
        h("textarea", { id, name: "comment", rows: 3, maxlength: 5000 }),
      ),
      action: async (form) => {
        const comment = form.elements.comment.value.trim();
        return approving ? requestsApi.approve(request, comment) : requestsApi.reject(request, comment);
      },
    });
    if (!done) return;
    announce(approving ? `Request #${request.id} approved` : `Request #${request.id} rejected`);
    await load();
    if (approving) changed();
  }

  load();
  return card;
}
