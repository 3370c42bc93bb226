// "Use this version" on the version page: the models:/ URIs serving code needs, and the two
// calls that load it, each with a copy button.

import { h } from "./dom.js";
import { section } from "./components.js";
import { copyButton, copyable } from "./copy.js";

// The registry's default gRPC port (--port); the HTTP page cannot know the one in use.
const GRPC_PORT = 50051;

export function usage(version) {
  const { name } = version;
  const aliases = [...(version.aliases ?? [])].sort();
  const byNumber = `models:/${name}/${version.version}`;
  // Serving code that follows an alias picks up the next champion without a change.
  const preferred = aliases.length ? `models:/${name}@${aliases[0]}` : byNumber;
  const python = (text) => JSON.stringify(text);
  const mlflowSnippet = [
    "import mlflow",
    "",
    `mlflow.set_registry_uri(${python(location.origin)})`,
    `model = mlflow.pyfunc.load_model(${python(preferred)})`,
  ].join("\n");
  const lookup = aliases.length
    ? `registry.get_model_version_by_alias(${python(name)}, ${python(aliases[0])})`
    : `registry.get_model_version(${python(name)}, ${version.version})`;
  const clientSnippet = [
    "from registry_service.client import RegistryClient",
    "",
    `with RegistryClient(${python(`${location.hostname}:${GRPC_PORT}`)}) as registry:`,
    `    version = ${lookup}`,
    "    print(version.source)",
  ].join("\n");
  return section(
    "Use this version",
    h(
      "ul",
      { class: "uris" },
      h("li", {}, copyable(byNumber, `URI ${byNumber}`)),
      aliases.map((alias) => h("li", {}, copyable(`models:/${name}@${alias}`, `URI models:/${name}@${alias}`))),
    ),
    snippet("Load it with MLflow", mlflowSnippet, "MLflow snippet"),
    snippet("Look it up with RegistryClient (gRPC)", clientSnippet, "RegistryClient snippet"),
  );
}

function snippet(title, code, what) {
  return h(
    "div",
    { class: "snippet" },
    h("div", { class: "snippet-head" }, h("h3", {}, title), copyButton(code, what)),
    h("pre", { class: "code", tabindex: "0" }, code),
  );
}
