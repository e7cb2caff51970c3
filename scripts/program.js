// The Pulumi program as Pulumi runs it (Pulumi.yaml's main): index.ts from
// its esbuild bundle, rebuilt first when a source is newer. Under ts-node the
// TypeScript compiler loads and transpiles every module before the program
// starts, which every `pulumi preview`, `up` and rollback paid (~1.5 s here).
// @pulumi/* stay in node_modules, so the program and Pulumi's runtime share
// one SDK. The bundle sits two directories below the project, as the sources
// do, so their __dirname-relative paths hold in it.
"use strict";
const path = require("path");
const { CLI_BUILD_DIR, ensureCliBuild } = require("../components/release/cliBuild");

ensureCliBuild();
module.exports = require(path.join(__dirname, "..", CLI_BUILD_DIR, "program.js"));
