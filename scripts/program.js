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
const program = require(path.join(__dirname, "..", CLI_BUILD_DIR, "program.js"));

// An operator's mistake (bad config, an unreviewed destructive migration) ends
// the run with its message only: Pulumi prints a RunError without the program's
// source and stack trace, which it prints for any other exception.
const OPERATORS_MISTAKES = new Set(["ConfigError", "DestructiveMigrationError"]);
module.exports = async function gatehouse() {
    try {
        return await program();
    } catch (err) {
        if (!OPERATORS_MISTAKES.has(err && err.name)) throw err;
        const { RunError } = require("@pulumi/pulumi");
        throw new RunError(err.message);
    }
};
