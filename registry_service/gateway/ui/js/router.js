// History-API navigation: links carry real URLs, so they open in new tabs and survive reloads.

let renderCurrent = () => {};

export function onNavigate(render) {
  renderCurrent = render;
  window.addEventListener("popstate", () => render({ focus: true }));
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[href]");
    if (
      !link ||
      event.defaultPrevented ||
      event.button !== 0 ||
      event.metaKey ||
      event.ctrlKey ||
      event.shiftKey ||
      event.altKey ||
      link.target ||
      link.origin !== location.origin ||
      link.pathname.startsWith("/api/") ||
      link.pathname.startsWith("/ui/")
    ) {
      return;
    }
    event.preventDefault();
    navigate(link.pathname + link.search);
  });
}

/** Show `url`; `state` rides along in the history entry (the models page keeps its paging there). */
export function navigate(url, { replace = false, state = null } = {}) {
  if (replace) history.replaceState(state, "", url);
  else history.pushState(state, "", url);
  renderCurrent({ focus: true });
}

/** Put `url` in the address bar and history without drawing the page again (the caller does). */
export function showUrl(url) {
  history.pushState(history.state, "", url);
}

/** Draw the current URL again, e.g. after a change the page shows. */
export function refresh() {
  renderCurrent({ focus: false });
}

export function modelUrl(name) {
  return `/models/${encodeURIComponent(name)}`;
}

export function versionUrl(name, version) {
  return `${modelUrl(name)}/versions/${encodeURIComponent(version)}`;
}

export function compareUrl(name, a, b) {
  return `${modelUrl(name)}/compare?${new URLSearchParams({ a, b })}`;
}
