// Tags shown compactly in a table cell: a few chips, the rest behind "+N". Each chip is built
// by the page, since clicking one filters by it and each page filters in its own place.

import { filterString, tagPairs } from "./api.js";
import { h } from "./dom.js";
import { muted } from "./components.js";
import { popoverButton } from "./popover.js";

const SHOWN_TAGS = 3;
const PLAIN_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The filter clause that matches one tag: tag.key = 'value' (the key quoted when it must be). */
export function tagFilter(key, value) {
  const name = PLAIN_NAME.test(key) ? key : `\`${key.replaceAll("`", "``")}\``;
  return `tag.${name} = ${filterString(value)}`;
}

/** The text of a chip: "key=value", or the key alone for an empty value. */
export function tagText(key, value) {
  return value ? `${key}=${value}` : key;
}

/** `tags` (MLflow's list) as chips made by `chip(key, value)`; the overflow behind "+N". */
export function tagCell(tags, chip) {
  const pairs = tagPairs(tags);
  if (pairs.length === 0) return muted("—");
  const shown = pairs.slice(0, SHOWN_TAGS);
  const rest = pairs.slice(SHOWN_TAGS);
  return h(
    "ul",
    { class: "chips tag-chips" },
    shown.map(([key, value]) => h("li", {}, chip(key, value))),
    rest.length
      ? h(
          "li",
          {},
          popoverButton({
            text: `+${rest.length}`,
            label: `${rest.length} more ${rest.length === 1 ? "tag" : "tags"}`,
            className: "chip more",
            content: h("ul", { class: "chips popover-chips" }, rest.map(([key, value]) => h("li", {}, chip(key, value)))),
          }),
        )
      : null,
  );
}

/** The chip's own attributes: the full text on hover, and what a click does for screen readers. */
export function chipProps(key, value) {
  return { class: "chip tag", title: `${tagText(key, value)} · show only these`, "aria-label": `Filter by tag ${tagText(key, value)}` };
}
