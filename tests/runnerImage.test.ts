import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { readMigrationDir } from "../components/release/migrationFiles";
import { RUNNER_MIGRATIONS_DIR } from "../components/aws/platform";
import { REPO_ROOT } from "./harness/stackConfig";

// scripts/runner-image.sh stages the AWS runner image's build context: this
// checkout's CLIs and the app's migration files of the release. docker build
// itself needs a registry this machine does not reach; what the Dockerfile
// copies is checked against the staged context instead.
describe("scripts/runner-image.sh", () => {
    const SCRIPT = path.join(REPO_ROOT, "scripts", "runner-image.sh");
    const run = (...args: string[]) => spawnSync(SCRIPT, args, { cwd: REPO_ROOT, encoding: "utf8" });
    const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "gh-runner-image-"));

    it("stages the app's files where the runner tasks read them, with the sha256 the release plan shows", () => {
        const context = path.join(tmp(), "context");
        const app = path.join(REPO_ROOT, "demo", "migrations");
        const r = run("--migrations", app, "--context-only", context);
        assert.equal(r.status, 0, r.stderr);
        const staged = readMigrationDir(path.join(context, RUNNER_MIGRATIONS_DIR));
        assert.deepEqual(staged, readMigrationDir(app).map((f) => ({ ...f, path: path.join(context, RUNNER_MIGRATIONS_DIR, f.file) })));
        for (const f of staged) assert.match(r.stdout, new RegExp(`  ${f.file.replace(/\./g, "\\.")}  sha256 ${f.sha256.slice(0, 16)}\\n`));
    });

    it("stages everything the Dockerfile copies", () => {
        const context = path.join(tmp(), "context");
        assert.equal(run("--migrations", path.join(REPO_ROOT, "demo", "migrations"), "--context-only", context).status, 0);
        const dockerfile = fs.readFileSync(path.join(REPO_ROOT, "components", "aws", "runner.Dockerfile"), "utf8");
        const sources = [...dockerfile.matchAll(/^COPY (.+) \S+$/gm)].flatMap((m) => m[1].split(/\s+/));
        assert.ok(sources.includes(RUNNER_MIGRATIONS_DIR), `the Dockerfile copies ${RUNNER_MIGRATIONS_DIR}`);
        for (const source of sources) assert.ok(fs.existsSync(path.join(context, source)), `${source} is in the staged context`);
    });

    it("refuses a directory without migration files, and bad usage", () => {
        const empty = tmp();
        const r = run("--migrations", empty, "--context-only", path.join(tmp(), "c"));
        assert.equal(r.status, 1);
        assert.match(r.stderr, /holds no NNN_name\.sql files/);
        const usage = run("--context-only", path.join(tmp(), "c"));
        assert.equal(usage.status, 2);
        assert.match(usage.stderr, /--migrations <the app's migrations directory> is required/);
        assert.equal(run("--help").status, 0);
    });
});
