// The sign-in form a server run with --auth token gets instead of a page it refused.

import { signIn, signedIn } from "./api.js";
import { h, uniqueId } from "./dom.js";

/** A form that keeps a pasted access token for this tab, then draws the page again. */
export function signInForm({ signedInAgain }) {
  const id = uniqueId("token");
  const token = h("input", { id, type: "password", autocomplete: "off", required: true, spellcheck: "false" });
  const rejected = signedIn();
  return h(
    "form",
    {
      class: "sign-in",
      "aria-labelledby": `${id}-heading`,
      onsubmit(event) {
        event.preventDefault();
        signIn(token.value.trim());
        signedInAgain();
      },
    },
    h("h1", { id: `${id}-heading`, tabindex: "-1" }, "Sign in"),
    h("p", {}, "This registry needs an access token. An admin makes one with ", h("code", {}, "registry tokens create"), "."),
    rejected ? h("p", { class: "inline-error", role: "alert" }, "That token was not accepted: it is unknown or revoked.") : null,
    h("div", { class: "field" }, h("label", { for: id }, "Access token"), token),
    h("button", { type: "submit", class: "button primary" }, "Sign in"),
  );
}
