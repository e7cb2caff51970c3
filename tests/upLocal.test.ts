import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { invocation } from "./helpers/entryPoints";

describe("npm run up:local", function () {
    this.timeout(60_000);

    it("where the engine cannot be provided (no Pulumi on PATH, no cache, no network, no plugin directory), says what is missing and exits 1", () => {
        const home = fs.mkdtempSync(path.join(os.tmpdir(), "gh-home-"));
        const result = spawnSync(process.execPath, invocation("up:local", []), {
            cwd: path.join(__dirname, ".."),
            env: {
                PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin`,
                HOME: home,
                GATEHOUSE_TOOLCHAIN_CACHE: path.join(home, "cache"),
                GATEHOUSE_TOOLCHAIN_FROM_PATH: "0",
                GATEHOUSE_TOOLCHAIN_OFFICIAL: "0",
            },
            encoding: "utf8",
        });
        assert.equal(result.status, 1, result.stderr);
        assert.match(result.stderr, /pulumi-toolchain: Pulumi's Node\.js language host could not be provided; tried:/);
        assert.match(result.stderr, /- GATEHOUSE_PULUMI_PLUGINS is not set/);
        assert.match(result.stderr, /fix: put a Pulumi distribution on PATH/);
        assert.match(result.stderr, /^up:local: the Pulumi engine could not be provided \(scripts\/pulumi-toolchain\.sh exited 1\); see above$/m);
        assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
    });
});
