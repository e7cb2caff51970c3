#!/usr/bin/env node
// Runs one of Gatehouse's CLIs from its bundle (.gatehouse/build, rebuilt
// first when a source is newer): `node scripts/built.js rollback --stack local`.
// For the CLIs whose start an operator waits on: under ts-node a start costs
// ~0.5 s more (the TypeScript compiler loads), and a rollback's users wait
// for every part of it.
"use strict";
const path = require("path");
const { CLI_BUILD_DIR, ensureCliBuild } = require("../components/release/cliBuild");

const [name] = process.argv.splice(2, 1);
if (!name || !/^[a-z-]+$/.test(name)) {
    console.error("usage: node scripts/built.js <cli> [flags...]   (e.g. rollback)");
    process.exit(2);
}
ensureCliBuild();
require(path.join(__dirname, "..", CLI_BUILD_DIR, `${name}.js`));
