// The registry's JSON API: MLflow's routes for models and versions, and the registry's own
// ListEvents route for the History panel, and the transition requests' routes
// (transition-requests.js, through apiCall). Nothing else is fetched.

const BASE = "/api/2.0/mlflow";
const EVENTS = "/api/2.0/modelregistry/events/list";
// The access token of a server run with --auth token. Kept for this tab only (sessionStorage):
// closing the tab signs out, and other sites' pages cannot read it.
const TOKEN_KEY = "registry-token";
// Dispatched on window when the server refuses a call for want of a valid token.
export const UNAUTHENTICATED_EVENT = "registry-unauthenticated";
// Dispatched on window after every change the UI makes (any call but a GET that succeeded).
export const CHANGED_EVENT = "registry-changed";

export function signedIn() {
  return sessionStorage.getItem(TOKEN_KEY) !== null;
}

export function signIn(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** A failed call, carrying the server's {error_code, message} when it sent one. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }

  get notFound() {
    return this.status === 404;
  }

}

export function isAbort(error) {
  return error?.name === "AbortError";
}

/** A call of the JSON API, with the tab's token; modules with routes of their own use it. */
export async function apiCall(method, path, options) {
  return call(method, path, options);
}

async function call(method, path, { query, body, signal } = {}) {
  let url = path.startsWith("/api/") ? path : BASE + path;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      for (const item of [value].flat()) {
        if (item !== undefined && item !== null && item !== "") params.append(key, item);
      }
    }
    const text = params.toString();
    if (text) url += `?${text}`;
  }
  const headers = body ? { "Content-Type": "application/json" } : {};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(url, {
      method,
      signal,
      headers,
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (error) {
    if (isAbort(error)) throw error;
    throw new ApiError(0, "NETWORK_ERROR", "Could not reach the registry. Check that it is running and try again.");
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    // A proxy's HTML error page, for instance: fall through to the status line.
  }
  if (response.status === 401) {
    // Whatever asked, the answer is the same: the whole page turns into the sign-in form.
    window.dispatchEvent(new Event(UNAUTHENTICATED_EVENT));
  }
  if (!response.ok) {
    const message = data?.message || `The server answered ${response.status} ${response.statusText}.`;
    throw new ApiError(response.status, data?.error_code || "", message);
  }
  if (data === null) throw new ApiError(response.status, "", "The server's answer is not JSON.");
  if (method !== "GET") window.dispatchEvent(new Event(CHANGED_EVENT));
  return data;
}

/** MLflow's tag list as [key, value] pairs, sorted by key. */
export function tagPairs(tags) {
  return (tags ?? []).map((tag) => [tag.key, tag.value ?? ""]).sort(([a], [b]) => a.localeCompare(b));
}

/** A quoted string literal of the filter language. */
export function filterString(text) {
  return `'${text.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;
}

/** A LIKE pattern that matches `text` literally anywhere. */
export function containsPattern(text) {
  return filterString(`%${text.replace(/[\\%_]/g, "\\$&")}%`);
}

export const api = {
  searchModels: ({ filter, pageSize, pageToken, orderBy }, signal) =>
    call("GET", "/registered-models/search", {
      query: { filter, max_results: pageSize, page_token: pageToken, order_by: orderBy },
      signal,
    }),
  getModel: async (name, signal) =>
    (await call("GET", "/registered-models/get", { query: { name }, signal })).registered_model,
  createModel: async (name) =>
    (await call("POST", "/registered-models/create", { body: { name } })).registered_model,
  renameModel: async (name, newName) =>
    (await call("POST", "/registered-models/rename", { body: { name, new_name: newName } }))
      .registered_model,
  updateModel: async (name, description) =>
    (await call("PATCH", "/registered-models/update", { body: { name, description } }))
      .registered_model,
  deleteModel: (name) => call("DELETE", "/registered-models/delete", { body: { name } }),
  setModelTag: (name, key, value) =>
    call("POST", "/registered-models/set-tag", { body: { name, key, value } }),
  deleteModelTag: (name, key) =>
    call("DELETE", "/registered-models/delete-tag", { body: { name, key } }),
  setAlias: (name, alias, version) =>
    call("POST", "/registered-models/alias", { body: { name, alias, version: String(version) } }),
  deleteAlias: (name, alias) =>
    call("DELETE", "/registered-models/alias", { body: { name, alias } }),

  searchVersions: ({ filter, pageSize, pageToken, orderBy }, signal) =>
    call("GET", "/model-versions/search", {
      query: { filter, max_results: pageSize, page_token: pageToken, order_by: orderBy },
      signal,
    }),
  getVersion: async (name, version, signal) =>
    (await call("GET", "/model-versions/get", { query: { name, version }, signal })).model_version,
  createVersion: async ({ name, source, runId }) =>
    (await call("POST", "/model-versions/create", { body: { name, source, run_id: runId } }))
      .model_version,
  updateVersion: async (name, version, description) =>
    (await call("PATCH", "/model-versions/update", { body: { name, version, description } }))
      .model_version,
  transition: async (name, version, stage, archiveExistingVersions) =>
    (
      await call("POST", "/model-versions/transition-stage", {
        body: { name, version, stage, archive_existing_versions: archiveExistingVersions },
      })
    ).model_version,
  deleteVersion: (name, version) =>
    call("DELETE", "/model-versions/delete", { body: { name, version } }),
  setVersionTag: (name, version, key, value) =>
    call("POST", "/model-versions/set-tag", { body: { name, version, key, value } }),
  deleteVersionTag: (name, version, key) =>
    call("DELETE", "/model-versions/delete-tag", { body: { name, version, key } }),

  /** One page of a model's (or one version's) events, newest first. */
  listEvents: ({ name, version, types, pageSize, pageToken }, signal) =>
    call("GET", EVENTS, {
      query: {
        model_names: name,
        version,
        event_types: types,
        page_size: pageSize,
        page_token: pageToken,
        newest_first: "true",
      },
      signal,
    }),
};

/** A call to the registry's own API (/api/2.0/modelregistry/…), with the same token and errors. */
export function registryCall(method, path, options = {}) {
  return call(method, "/api/2.0/modelregistry" + path, options);
}
