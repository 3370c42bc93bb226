// The stage drop-down of the version page: a menu button whose items open a confirm dialog.
// A menu rather than a <select>, because a select fires "change" on every arrow key press.

import { h, uniqueId } from "./dom.js";
import { STAGES, stageName } from "./format.js";
import { confirmDialog } from "./dialogs.js";
import { follow } from "./popover.js";

/** `transition(stage, archive)` makes the change; `changed(version)` gets the updated version. */
export function stageMenu({ version, transition, changed }) {
  const stage = stageName(version.current_stage);
  const menuId = uniqueId("stage-menu");
  const button = h(
    "button",
    {
      type: "button",
      class: `button stage-button stage-${stage.toLowerCase()}`,
      "aria-haspopup": "menu",
      "aria-expanded": "false",
      "aria-controls": menuId,
      "aria-label": `Stage: ${stage}. Change stage`,
    },
    h("span", { class: "stage-button-label" }, "Stage"),
    h("span", { class: "stage-button-value" }, stage),
    h("span", { class: "caret", "aria-hidden": "true" }, "▾"),
  );
  const items = STAGES.filter((target) => target !== stage).map((target) =>
    h(
      "button",
      { type: "button", role: "menuitem", tabindex: "-1", class: "menu-item", "data-stage": target },
      h("span", { class: `dot stage-${target.toLowerCase()}`, "aria-hidden": "true" }),
      `Transition to ${target}`,
    ),
  );
  const menu = h("div", { id: menuId, class: "menu", role: "menu", "aria-label": "Change stage", hidden: true }, items);
  const wrapper = h("div", { class: "stage-menu" }, button, menu);

  let unfollow = () => {};

  function open(focusIndex = 0) {
    menu.hidden = false;
    unfollow = follow(menu, button);
    button.setAttribute("aria-expanded", "true");
    items[(focusIndex + items.length) % items.length].focus();
    document.addEventListener("pointerdown", outside, true);
  }

  function shut({ focusButton = true } = {}) {
    menu.hidden = true;
    unfollow();
    button.setAttribute("aria-expanded", "false");
    document.removeEventListener("pointerdown", outside, true);
    if (focusButton) button.focus();
  }

  function outside(event) {
    if (!wrapper.contains(event.target)) shut({ focusButton: false });
  }

  button.addEventListener("click", () => (menu.hidden ? open() : shut()));
  button.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      open(event.key === "ArrowDown" ? 0 : -1);
    }
  });
  menu.addEventListener("keydown", (event) => {
    const index = items.indexOf(document.activeElement);
    const moves = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: items.length - 1 };
    if (event.key in moves) {
      event.preventDefault();
      items[(moves[event.key] + items.length) % items.length].focus();
    } else if (event.key === "Escape") {
      event.preventDefault();
      shut();
    } else if (event.key === "Tab") {
      shut({ focusButton: false });
    }
  });
  for (const item of items) {
    item.addEventListener("click", () => {
      shut();
      confirmTransition(item.dataset.stage);
    });
  }

  async function confirmTransition(target) {
    // Archiving others only means something when moving into Staging or Production, as in MLflow.
    const archivable = target === "Staging" || target === "Production";
    const checkboxId = uniqueId("archive");
    const extra = archivable
      ? h(
          "div",
          { class: "checkbox" },
          h("input", { type: "checkbox", id: checkboxId, name: "archive" }),
          h("label", { for: checkboxId }, `Archive existing versions in ${target}`),
          h("p", { class: "hint" }, `Every other version now in ${target} moves to Archived.`),
        )
      : null;
    const updated = await confirmDialog({
      title: "Change stage",
      message: h(
        "span",
        {},
        `Move version ${version.version} of `,
        h("strong", {}, version.name),
        ` from ${stage} to ${target}?`,
      ),
      confirmLabel: `Move to ${target}`,
      extra,
      action: (form) => transition(target, archivable && form.elements.archive.checked),
    });
    if (updated) changed(updated);
  }

  return wrapper;
}
