import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { CLI_BUILD_DIR, ensureCliBuild } from "../components/release/cliBuild";
import { REPO_ROOT } from "./harness/stackConfig";

// The engine runs the program from its esbuild bundle (scripts/program.js), not through ts-node:
// tests/engine.test.ts runs it for real; these pin how Pulumi is led there and that the bundle follows the sources.
describe("the program the engine runs", () => {
    it("is index.ts's bundle: Pulumi.yaml's main is the project directory, whose package.json main is scripts/program.js, with TypeScript off", () => {
        const project = YAML.parse(fs.readFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), "utf8"));
        assert.equal(project.main, ".");
        assert.equal(project.runtime.options.typescript, false);
        assert.equal(JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")).main, "scripts/program.js");
        // Pulumi runs the exported function (index.ts: `export = async function gatehouse()`).
        const program = require(path.join(REPO_ROOT, "scripts", "program.js"));
        assert.equal(typeof program, "function");
        assert.equal(program.name, "gatehouse");
    });

    it("is rebuilt when index.ts is newer than the build", () => {
        ensureCliBuild();
        const stamp = path.join(REPO_ROOT, CLI_BUILD_DIR, ".built-at");
        const indexChanged = Math.ceil(fs.statSync(path.join(REPO_ROOT, "index.ts")).mtimeMs);
        // As if index.ts had been saved after the last build.
        fs.writeFileSync(stamp, String(indexChanged - 1));
        ensureCliBuild();
        assert.ok(Number(fs.readFileSync(stamp, "utf8")) >= indexChanged, "the build is stamped with index.ts's time or later");
        assert.ok(fs.statSync(path.join(REPO_ROOT, CLI_BUILD_DIR, "program.js")).mtimeMs >= indexChanged);
    });
});
