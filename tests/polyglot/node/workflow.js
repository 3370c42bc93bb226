// A Node.js client of modelregistry.v1, built at run time from protos/ (no generated code), that
// runs the registry's basic workflow against a live server and prints what it saw as JSON.
//
//   node workflow.js HOST:PORT [MODEL_NAME]
//
// protos.js loads the service; progress goes to stderr; the summary is one JSON object on stdout.
// Any unexpected answer exits 1.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const grpc = require("@grpc/grpc-js");
const protobuf = require("protobufjs");
const { INCLUDE_DIRS, loadService } = require("./protos");

const DEADLINE_MS = 10000;

// google.rpc.Status and ErrorInfo, to read the details the server sends in the
// grpc-status-details-bin trailer of a failed call.
function loadErrorTypes() {
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    for (const dir of INCLUDE_DIRS) {
      const candidate = path.join(dir, target);
      if (fs.existsSync(candidate)) return candidate;
    }
    return protobuf.util.path.resolve(origin, target); // google/protobuf/*: bundled with protobufjs
  };
  root.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"]);
  return {
    Status: root.lookupType("google.rpc.Status"),
    ErrorInfo: root.lookupType("google.rpc.ErrorInfo"),
  };
}

function call(client, method, request) {
  return new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + DEADLINE_MS);
    client[method](request, { deadline }, (error, response) => {
      if (error) reject(error);
      else resolve(response);
    });
  });
}

// The failed call's canonical code, and every ErrorInfo in its google.rpc.Status details.
function describeError(error, types) {
  const trailer = error.metadata ? error.metadata.get("grpc-status-details-bin") : [];
  if (trailer.length !== 1) {
    throw new Error(`expected one grpc-status-details-bin trailer, got ${trailer.length}`);
  }
  const status = types.Status.decode(trailer[0]);
  const infos = status.details
    .filter((any) => any.type_url === "type.googleapis.com/google.rpc.ErrorInfo")
    .map((any) => types.ErrorInfo.toObject(types.ErrorInfo.decode(any.value)));
  if (infos.length !== 1) throw new Error(`expected one ErrorInfo detail, got ${infos.length}`);
  return {
    code: error.code,
    code_name: grpc.status[error.code],
    message: error.details,
    status_code: status.code,
    status_message: status.message,
    reason: infos[0].reason,
    domain: infos[0].domain,
    metadata: infos[0].metadata,
  };
}

function expect(condition, what) {
  if (!condition) throw new Error(`unexpected answer: ${what}`);
}

function log(message) {
  process.stderr.write(`node client: ${message}\n`);
}

async function workflow(target, name) {
  const Service = loadService();
  const types = loadErrorTypes();
  const client = new Service(target, grpc.credentials.createInsecure());
  const summary = {};
  try {
    const created = await call(client, "CreateRegisteredModel", {
      name,
      description: "registered from Node.js",
      tags: { team: "risk", client: "node" },
    });
    summary.model = created.registered_model;
    log(`created model ${name}`);

    summary.versions = [];
    for (const request of [
      { name, source: "runs:/0a1b2c3d/model", run_id: "0a1b2c3d", tags: { auc: "0.91" } },
      { name, source: "s3://models/fraud/2", description: "retrained on May data" },
    ]) {
      const { model_version } = await call(client, "CreateModelVersion", request);
      summary.versions.push(model_version);
      log(`registered version ${model_version.version} from ${model_version.source}`);
    }
    const second = summary.versions[1].version;

    const moved = await call(client, "TransitionModelVersionStage", {
      name,
      version: second,
      stage: "Production",
      archive_existing_versions: true,
    });
    summary.transitioned = moved.model_version;
    expect(moved.model_version.current_stage === "Production", "stage after the transition");
    log(`moved version ${second} to Production`);

    const latest = await call(client, "GetLatestVersions", { name, stages: ["Production"] });
    summary.latest_production = latest.model_versions;
    log(`latest in Production: ${latest.model_versions.map((v) => v.version).join(", ")}`);

    await call(client, "SetRegisteredModelAlias", { name, alias: "champion", version: second });
    const resolved = await call(client, "GetModelVersionByAlias", { name, alias: "champion" });
    summary.champion = resolved.model_version;
    log(`alias champion resolves to version ${resolved.model_version.version}`);

    try {
      await call(client, "GetModelVersion", { name, version: 99 });
      throw new Error("GetModelVersion of a version that does not exist succeeded");
    } catch (error) {
      if (error.code === undefined) throw error;
      summary.error = describeError(error, types);
      log(`version 99: ${summary.error.code_name} ${summary.error.reason}`);
    }
  } finally {
    client.close();
  }
  return summary;
}

async function main() {
  const [target, name = "node-fraud-detector"] = process.argv.slice(2);
  if (!target) {
    process.stderr.write("usage: node workflow.js HOST:PORT [MODEL_NAME]\n");
    process.exit(2);
  }
  const summary = await workflow(target, name);
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
}

main().catch((error) => {
  process.stderr.write(`node client failed: ${error.stack || error}\n`);
  process.exit(1);
});
