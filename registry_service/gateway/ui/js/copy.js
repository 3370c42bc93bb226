// Copy buttons: a value people paste elsewhere (a source, a run id, a models:/ URI, a snippet).

import { h } from "./dom.js";
import { announce } from "./components.js";

/** A small button that copies `text`; `what` names it for screen readers and the toast. */
export function copyButton(text, what) {
  return h(
    "button",
    {
      type: "button",
      class: "button small copy-button",
      "aria-label": `Copy ${what}`,
      title: `Copy ${what}`,
      async onclick() {
        announce((await copy(text)) ? `Copied ${what}` : `Could not copy ${what}: select it and copy by hand`);
      },
    },
    "Copy",
  );
}

/** A value in monospace with its copy button. */
export function copyable(text, what) {
  return h("span", { class: "copyable" }, h("code", { class: "copy-text" }, text), copyButton(text, what));
}

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // The Clipboard API exists in secure contexts only (https, localhost): a registry served
    // over plain http elsewhere needs the older way.
    return copyBySelection(text);
  }
}

function copyBySelection(text) {
  const area = h("textarea", { readonly: true, class: "visually-hidden", "aria-hidden": "true", tabindex: "-1" });
  area.value = text;
  document.body.append(area);
  area.select();
  try {
    return document.execCommand("copy");
  } finally {
    area.remove();
  }
}
