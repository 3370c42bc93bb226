// Menus and popovers that open beside a button and stay inside the window at any width.

import { h, uniqueId } from "./dom.js";

const MARGIN = 8;
const GAP = 6;

/**
 * Keep `popup` (position: fixed, so no scrolling box clips it) under `anchor` while it is open:
 * its right edge on the anchor's when there is room to the left, else its left edge on the
 * anchor's, always within the window, and above the anchor when the window has no room below.
 * Follows the anchor as the page scrolls or the window changes size; returns the function
 * that stops that.
 */
export function follow(popup, anchor) {
  const place = () => {
    const viewport = { width: document.documentElement.clientWidth, height: window.innerHeight };
    const around = anchor.getBoundingClientRect();
    popup.style.minWidth = `${Math.min(around.width, viewport.width - 2 * MARGIN)}px`;
    const { width, height } = popup.getBoundingClientRect();
    let left = around.right - width;
    if (left < MARGIN) left = around.left;
    left = Math.min(Math.max(left, MARGIN), viewport.width - MARGIN - width);
    const roomBelow = viewport.height - around.bottom - GAP - MARGIN;
    const above = height > roomBelow && around.top - GAP - MARGIN > roomBelow;
    popup.style.left = `${left}px`;
    popup.style.top = `${above ? around.top - GAP - height : around.bottom + GAP}px`;
  };
  place();
  window.addEventListener("scroll", place, { capture: true, passive: true });
  window.addEventListener("resize", place);
  return () => {
    window.removeEventListener("scroll", place, { capture: true });
    window.removeEventListener("resize", place);
  };
}

/**
 * A button that shows `content` in a small popover under it (a disclosure: Escape, a click
 * elsewhere or the button again closes it).
 */
export function popoverButton({ label, text, content, className = "" }) {
  const id = uniqueId("popover");
  const button = h("button", { type: "button", class: `popover-button ${className}`, "aria-expanded": "false", "aria-controls": id, "aria-label": label }, text);
  const panel = h("div", { id, class: "popover", hidden: true }, content);
  const wrapper = h("span", { class: "popover-anchor" }, button, panel);

  let unfollow = () => {};

  function outside(event) {
    if (!wrapper.contains(event.target)) toggle(false);
  }

  function toggle(open) {
    panel.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    unfollow();
    if (open) {
      unfollow = follow(panel, button);
      document.addEventListener("pointerdown", outside, true);
    } else {
      unfollow = () => {};
      document.removeEventListener("pointerdown", outside, true);
    }
  }

  button.addEventListener("click", () => toggle(panel.hidden));
  // A link or button inside acts (and may redraw the page): the popover has done its job.
  panel.addEventListener("click", (event) => {
    if (event.target.closest("a, button")) toggle(false);
  });
  wrapper.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !panel.hidden) {
      event.preventDefault();
      toggle(false);
      button.focus();
    }
  });
  return wrapper;
}
