// Entry point: maps URLs to pages (the server serves index.html for the same paths) and wires
// the header's Register button.

import { UNAUTHENTICATED_EVENT, isAbort, signOut, signedIn } from "./api.js";
import { errorBox } from "./components.js";
import { replace } from "./dom.js";
import { openRegisterDialog } from "./register-dialog.js";
import { onNavigate, refresh } from "./router.js";
import { signInForm } from "./sign-in.js";
import { modelsPage } from "./pages/models.js";
import { modelPage } from "./pages/model.js";
import { versionPage } from "./pages/version.js";
import { comparePage } from "./pages/compare.js";
import { notFoundPage, unreachablePage } from "./pages/missing.js";
import { deletedModelsPage } from "./restore.js";

// The server serves index.html for these paths with 200, and for any other with 404.
const ROUTES = [
  [/^\/$/, modelsPage, []],
  [/^\/models\/([^/]+)$/, modelPage, ["name"]],
  [/^\/models\/([^/]+)\/versions\/([^/]+)$/, versionPage, ["name", "version"]],
  [/^\/models\/([^/]+)\/compare$/, comparePage, ["name"]],
  [/^\/deleted$/, deletedModelsPage, []],
  [/^/, notFoundPage, []],
];

const main = document.getElementById("main");
// Aborted when the next page starts, so a slow answer never draws over a newer page.
let pageRequests = null;

async function render({ focus }) {
  pageRequests?.abort();
  pageRequests = new AbortController();
  const { signal } = pageRequests;
  const [pattern, page, names] = ROUTES.find(([candidate]) => candidate.test(location.pathname));
  const values = pattern.exec(location.pathname).slice(1).map(decodeURIComponent);
  const drawn = page({
    main,
    signal,
    params: Object.fromEntries(names.map((name, index) => [name, values[index]])),
    query: new URLSearchParams(location.search),
    state: history.state,
  });
  // The heading is drawn at once; moving focus there tells screen readers the page changed.
  if (focus) {
    main.querySelector("h1")?.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }
  try {
    await drawn;
  } catch (error) {
    // Unless a newer page took over.
    if (!isAbort(error) && !signal.aborted) {
      if (error.status === 0) unreachablePage(main, error);
      else replace(main, errorBox(error, { title: "This page could not be shown", retry: refresh }));
    }
  }
  signOutButton.hidden = !signedIn();
}

// A refused call anywhere (a page, a dialog) replaces the page with the sign-in form; the page
// is drawn again once a token is given.
window.addEventListener(UNAUTHENTICATED_EVENT, () => {
  pageRequests?.abort();
  document.querySelector("dialog[open]")?.close();
  replace(main, signInForm({ signedInAgain: refresh }));
  main.querySelector("input")?.focus();
  signOutButton.hidden = !signedIn();
});

const signOutButton = document.getElementById("sign-out-button");
signOutButton.addEventListener("click", () => {
  signOut();
  refresh();
});

// Whichever page is behind the dialog may show the new version: draw it again.
document.getElementById("register-button").addEventListener("click", () => openRegisterDialog({ registered: refresh }));
onNavigate(render);
render({ focus: false });
