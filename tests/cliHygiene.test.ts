import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { REPO_ROOT } from "./harness/stackConfig";

// Every `npm run <cli>` as an operator meets it: --help, a wrong flag, missing
// arguments, and hostile input. The table is the record of what was tried.
const ENTRY_POINTS: Record<string, string> = {
    migrate: "scripts/migrate.ts",
    "migrate lint": "scripts/migrate.ts",
    snapshot: "scripts/snapshot.ts",
    restore: "scripts/restore.ts",
    rehearse: "scripts/rehearse.ts",
    "migration-revision": "scripts/migration-revision.ts",
    gate: "scripts/gate.ts",
    promote: "scripts/promote.ts",
    "local-app": "scripts/local-app.ts",
    rollback: "scripts/rollback.ts",
    "up:local": "scripts/up-local.ts",
    "down:local": "scripts/down-local.ts",
};

function run(entry: string, args: string[], env: NodeJS.ProcessEnv = {}) {
    const script = ENTRY_POINTS[entry];
    const lead = entry === "migrate lint" ? ["lint"] : [];
    const result = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", script, ...lead, ...args], {
        cwd: REPO_ROOT,
        env: { ...process.env, DATABASE_URL: "", ...env },
        encoding: "utf8",
        timeout: 60_000,
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const noStackTrace = (text: string) => assert.doesNotMatch(text, /\n\s+at .+:\d+:\d+\)?\n/, `a stack trace:\n${text}`);

describe("command-line entry points", function () {
    this.timeout(120_000);

    for (const entry of Object.keys(ENTRY_POINTS)) {
        it(`${entry}: --help prints usage and exits 0; an unknown flag exits 2 with the usage, no stack trace`, () => {
            const help = run(entry, ["--help"]);
            assert.equal(help.status, 0, help.stderr);
            assert.match(help.stdout, /usage/i);
            const wrong = run(entry, ["--no-such-flag"]);
            assert.equal(wrong.status, 2, `${wrong.stdout}\n${wrong.stderr}`);
            assert.match(wrong.stderr, /no-such-flag/);
            assert.match(wrong.stderr, /usage/i);
            noStackTrace(wrong.stderr);
        });
    }

    // What was tried: [entry, arguments, expected exit code, what the one message must say].
    const unreadable = path.join(os.tmpdir(), `gh-no-such-${process.pid}.yaml`);
    const badYaml = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "gh-cli-")), "bad.yaml");
    fs.writeFileSync(badYaml, "checks: [ { name: x\n  : : :\n");
    const hostile: [string, string[], number, RegExp][] = [
        ["snapshot", [], 2, /--out is required/],
        ["migrate", ["status", "--dir", "migrations"], 2, /no database: pass --database-url <url> or set DATABASE_URL/],
        ["snapshot", ["--database-url", "postgres://u:pw@127.0.0.1:5432/x"], 2, /--out is required/],
        ["migrate", ["status", "--dir", "migrations", "--database-url", "postgres://operator:s3cret-pass@127.0.0.1:1/app"], 1, /127\.0\.0\.1:1/],
        ["migrate", ["up", "--dir", "no/such/dir", "--database-url", "postgres://postgres@127.0.0.1:5432/postgres"], 1, /no\/such\/dir/],
        ["migrate", ["frobnicate"], 2, /unknown command "frobnicate"/],
        ["gate", ["--base-url", "http://127.0.0.1:1", "--spec", unreadable], 1, new RegExp(path.basename(unreadable))],
        ["gate", ["--base-url", "http://127.0.0.1:1", "--spec", badYaml], 1, /bad\.yaml/],
        ["local-app", ["deploy", "--state-dir", "/tmp/x'; rm -rf /", "--port", "not-a-port"], 2, /--port must be a port number/],
        ["local-app", ["teleport", "--state-dir", os.tmpdir(), "--port", "8181"], 2, /unknown command "teleport"/],
        ["rollback", ["--stack", "local", "--to", "three"], 2, /--to must be an update number, got three/],
        ["restore", ["--snapshot", unreadable, "--database-url", "postgres://postgres@127.0.0.1:5432/postgres"], 1, new RegExp(path.basename(unreadable))],
    ];
    for (const [entry, args, status, says] of hostile) {
        it(`${entry} ${args.join(" ")}: exits ${status} with one clear message`, () => {
            const result = run(entry, args);
            assert.equal(result.status, status, `${result.stdout}\n${result.stderr}`);
            assert.match(result.stderr, says);
            assert.doesNotMatch(result.stderr + result.stdout, /s3cret-pass/, "a password was echoed");
            noStackTrace(result.stderr);
        });
    }
});
