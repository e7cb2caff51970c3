import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

describe("npm run up:local", function () {
    this.timeout(60_000);

    it("without a Pulumi CLI, says exactly what to install and exits non-zero", () => {
        const home = fs.mkdtempSync(path.join(os.tmpdir(), "gh-home-"));
        const result = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "scripts/up-local.ts"], {
            cwd: path.join(__dirname, ".."),
            env: { PATH: path.dirname(process.execPath), HOME: home, GATEHOUSE_NO_PULUMI_INSTALL: "1" },
            encoding: "utf8",
        });
        assert.equal(result.status, 1, result.stderr);
        assert.match(result.stderr, /^up:local: the Pulumi CLI is missing/);
        assert.match(result.stderr, /Install the Pulumi CLI \(3\.x\): `curl -fsSL https:\/\/get\.pulumi\.com \| sh`/);
        assert.match(result.stderr, /then run `scripts\/node22\.sh npm run up:local` again/);
    });
});
