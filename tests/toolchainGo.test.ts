import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as path from "path";
import { REPO_ROOT } from "./harness/stackConfig";

// The Go parts of the engine toolchain that are ours (the Node.js language
// host and the command-provider stand-in) have Go tests: `npm test` runs them.
describe("the toolchain's Go code (go test ./toolchain/cmd/...)", function () {
    this.timeout(900_000); // a cold Go build cache compiles the Pulumi SDK first

    it("passes go vet and go test", function () {
        const go = spawnSync("go", ["version"], { encoding: "utf8" });
        if (go.status !== 0) {
            if (process.env.CI === "true") assert.fail("Go is not installed: the engine toolchain needs Go 1.26 (https://go.dev/dl/)");
            console.log("      skipped: no Go on PATH (the engine toolchain needs Go 1.26)");
            return this.skip();
        }
        const cwd = path.join(REPO_ROOT, "toolchain");
        for (const args of [["vet", "./cmd/..."], ["test", "./cmd/..."]]) {
            const result = spawnSync("go", args, { cwd, encoding: "utf8", env: { ...process.env, GOFLAGS: "-mod=readonly" } });
            assert.equal(result.status, 0, `go ${args.join(" ")}:\n${result.stdout}\n${result.stderr}`);
        }
    });
});
