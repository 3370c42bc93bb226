// modelregistry.v1 loaded from protos/ at run time (no generated code), for every scenario here.
//
// Imports resolve from protos/ and protos/third_party/googleapis: the two modules of
// protos/buf.yaml (`make googleapis` fills the second).
"use strict";

const path = require("node:path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const PROTOS = path.resolve(__dirname, "../../../protos");
const INCLUDE_DIRS = [PROTOS, path.join(PROTOS, "third_party/googleapis")];

// The ModelRegistryService client constructor.
function loadService() {
  const definition = protoLoader.loadSync("modelregistry/v1/registry_service.proto", {
    includeDirs: INCLUDE_DIRS,
    keepCase: true, // field names as in the protos: run_id, current_stage
    longs: String, // int64 version numbers, sequences and timestamps as decimal strings
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition).modelregistry.v1.ModelRegistryService;
}

module.exports = { INCLUDE_DIRS, loadService };
