// Modal dialogs on the native <dialog>: showModal() makes the rest of the page inert, so focus
// stays inside, and Escape closes it.

import { h, uniqueId } from "./dom.js";
import { inlineError } from "./components.js";

/** Open a modal; `build(close)` returns its body. Resolves with the value given to close(). */
export function openModal({ title, build }) {
  const opener = document.activeElement;
  const titleId = uniqueId("dialog-title");
  const dialog = h("dialog", { class: "modal", "aria-labelledby": titleId });
  let result;
  const close = (value) => {
    result = value;
    dialog.close();
  };
  dialog.append(
    h(
      "div",
      { class: "modal-head" },
      h("h2", { id: titleId }, title),
      h("button", { type: "button", class: "icon-button", "aria-label": "Close", onclick: () => close(undefined) }, "×"),
    ),
    build(close),
  );
  // A click on the backdrop lands on the dialog element itself, outside its box.
  dialog.addEventListener("click", (event) => {
    if (event.target !== dialog) return;
    const box = dialog.getBoundingClientRect();
    const inside =
      event.clientX >= box.left && event.clientX <= box.right && event.clientY >= box.top && event.clientY <= box.bottom;
    if (!inside) close(undefined);
  });
  // The inert page alone lets Tab leave for the browser's own controls; wrap around instead.
  dialog.addEventListener("keydown", (event) => {
    if (event.key !== "Tab") return;
    const focusable = [...dialog.querySelectorAll("a[href], button, input, select, textarea")].filter(
      (element) => !element.disabled && element.getClientRects().length > 0,
    );
    const first = focusable[0];
    const last = focusable.at(-1);
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      dialog.remove();
      // Unless a link in the dialog already moved on to another page.
      const stayed = document.activeElement === document.body || document.activeElement === null;
      if (stayed && opener instanceof HTMLElement && opener.isConnected) opener.focus();
      resolve(result);
    });
  });
}

/**
 * Ask before a change. `action(form)` runs on Confirm; its error is shown in the dialog, which
 * stays open for another try. Resolves with the action's result, or undefined when cancelled.
 */
export function confirmDialog({ title, message, confirmLabel, danger = false, extra = null, action }) {
  return openModal({
    title,
    build(close) {
      const error = inlineError();
      // A destructive change starts on Cancel, so Enter alone never deletes.
      const confirm = h(
        "button",
        { type: "submit", class: `button ${danger ? "danger" : "primary"}`, autofocus: !danger },
        confirmLabel,
      );
      const cancel = h(
        "button",
        { type: "button", class: "button", autofocus: danger, onclick: () => close(undefined) },
        "Cancel",
      );
      const form = h(
        "form",
        {
          method: "dialog",
          async onsubmit(event) {
            event.preventDefault();
            error.clear();
            confirm.disabled = true;
            cancel.disabled = true;
            form.setAttribute("aria-busy", "true");
            try {
              close(await action(form));
            } catch (failure) {
              error.show(failure);
              confirm.disabled = false;
              cancel.disabled = false;
              form.removeAttribute("aria-busy");
              confirm.focus();
            }
          },
        },
        h("div", { class: "modal-body" }, h("p", {}, message), extra),
        error.element,
        h("div", { class: "modal-actions" }, cancel, confirm),
      );
      return form;
    },
  });
}
