import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ensureCliBuild } from "../components/release/cliBuild";
import { gatehouseCli } from "../components/release/pipeline";
import { urlForDatabase } from "../components/release/pgTools";
import { prepareScratch, scratchDatabaseName } from "../components/release/rehearsal";
import { adminUrl, freshDatabase, sql } from "./helpers/postgres";

const ROOT = path.join(__dirname, "..");

/** Runs a CLI exactly as a release step does. */
function cli(script: string, args: string[], env: Record<string, string> = {}) {
    const result = spawnSync("/bin/sh", ["-c", gatehouseCli(script, args)], { cwd: ROOT, env: { ...process.env, ...env }, encoding: "utf8" });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("command-line entry points", function () {
    this.timeout(60_000);
    let source: Awaited<ReturnType<typeof freshDatabase>>;
    let target: Awaited<ReturnType<typeof freshDatabase>>;
    before(() => ensureCliBuild());
    beforeEach(async () => {
        source = await freshDatabase("cli_src");
        target = await freshDatabase("cli_dst");
    });
    afterEach(async () => {
        await source.drop();
        await target.drop();
    });

    it("migrate status/up/verify, snapshot and restore work end to end, with DATABASE_URL as the fallback", () => {
        let r = cli("migrate", ["status", "--dir", "demo/migrations"], { DATABASE_URL: source.url });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /pending +001_initial_schema\.sql[\s\S]*4 pending/);

        r = cli("migrate", ["up", "--dir", "demo/migrations", "--release", "cli-1", "--database-url", source.url]);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /applied 020_guided_review\.sql in \d+ ms[\s\S]*applied 4, already applied 0/);

        r = cli("migrate", ["verify", "--expect", "checks/kifu.schema.yaml"], { DATABASE_URL: source.url });
        assert.equal(r.status, 0, r.stderr);

        const out = fs.mkdtempSync(path.join(os.tmpdir(), "gh-cli-"));
        r = cli("snapshot", ["--database-url", source.url, "--out", out, "--release", "cli-1"]);
        assert.equal(r.status, 0, r.stderr);
        const file = r.stdout.trim().split("\n").pop()!;
        assert.ok(fs.existsSync(file) && file.startsWith(out), `last line is the snapshot path: ${file}`);

        r = cli("restore", ["--snapshot", file, "--database-url", target.url]);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /restored .* \d+ table\(s\)\nnext steps:/);

        r = cli("restore", ["--snapshot", file, "--database-url", target.url]);
        assert.equal(r.status, 1);
        assert.match(r.stderr, /^restore: .* already has \d+ table\(s\); restore only into a new, empty database/);
    });

    it("snapshot --prepare-rehearsal makes the scratch database beside the dump only when there is something to rehearse; the rehearsal uses it and drops it", async () => {
        const scratches = async () => (await sql(await adminUrl(), "SELECT datname FROM pg_database WHERE datname LIKE $1", [`${source.name.slice(0, 30)}_rehearsal_%`])).map((r) => r.datname);
        const out = fs.mkdtempSync(path.join(os.tmpdir(), "gh-cli-"));
        // Every file pending: the scratch is made.
        let r = cli("snapshot", ["--database-url", source.url, "--out", out, "--release", "cli-2", "--prepare-rehearsal", "--dir", "demo/migrations"]);
        assert.equal(r.status, 0, r.stderr);
        const scratch = scratchDatabaseName(source.url, "cli-2");
        assert.match(r.stdout, new RegExp(`the rehearsal's scratch database ${scratch} was created beside the dump\n.*\.dump\n$`));
        assert.deepEqual(await scratches(), [scratch]);
        const file = r.stdout.trim().split("\n").pop()!;

        r = cli("rehearse", ["--dir", "demo/migrations", "--release", "cli-2", "--snapshot", file, "--database-url", source.url]);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`scratch copy: database ${scratch} \\(created beside the snapshot\\)`));
        assert.match(r.stdout, /rehearsal: 4 pending migration\(s\) apply cleanly/);
        assert.deepEqual(await scratches(), [], "the rehearsal dropped the scratch copy");
        assert.deepEqual(await sql(source.url, "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'"), [{ n: 0 }], "the database itself was not touched");

        // Nothing pending: nothing is made.
        assert.equal(cli("migrate", ["up", "--dir", "demo/migrations", "--database-url", source.url]).status, 0);
        r = cli("snapshot", ["--database-url", source.url, "--out", out, "--release", "cli-3", "--prepare-rehearsal", "--dir", "demo/migrations"]);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /nothing to rehearse: no scratch database prepared/);
        assert.deepEqual(await scratches(), []);

        // A snapshot that fails stops the release: the scratch made beside it is dropped, not left behind.
        fs.writeFileSync(path.join(out, "a-file"), "");
        r = cli("snapshot", ["--database-url", target.url, "--out", path.join(out, "a-file", "snaps"), "--release", "cli-4", "--prepare-rehearsal", "--dir", "demo/migrations"]);
        assert.equal(r.status, 1);
        assert.match(r.stderr, /^snapshot: .*a-file/);
        assert.deepEqual(await sql(await adminUrl(), "SELECT datname FROM pg_database WHERE datname = $1", [scratchDatabaseName(target.url, "cli-4")]), []);
    });

    it("a scratch database left by a killed run of the same release is made anew, empty", async () => {
        const scratch = scratchDatabaseName(source.url, "cli-5");
        await sql(await adminUrl(), `CREATE DATABASE "${scratch}"`);
        const scratchUrl = urlForDatabase(source.url, scratch);
        await sql(scratchUrl, "CREATE TABLE half_restored (id int)");
        try {
            assert.equal(await prepareScratch(source.url, "cli-5", { dir: "demo/migrations" }), scratch);
            assert.deepEqual(await sql(scratchUrl, "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'"), [{ n: 0 }]);
        } finally {
            await sql(await adminUrl(), `DROP DATABASE IF EXISTS "${scratch}" WITH (FORCE)`);
        }
    });

    it("a rehearsal interrupted after it took the prepared scratch: the retry, with no snapshot step to prepare another, makes the leftover anew", async () => {
        const out = fs.mkdtempSync(path.join(os.tmpdir(), "gh-cli-"));
        let r = cli("snapshot", ["--database-url", source.url, "--out", out, "--release", "cli-7", "--prepare-rehearsal", "--dir", "demo/migrations"]);
        assert.equal(r.status, 0, r.stderr);
        const file = r.stdout.trim().split("\n").pop()!;
        const scratch = scratchDatabaseName(source.url, "cli-7");
        const scratchUrl = urlForDatabase(source.url, scratch);
        // What a rehearsal killed halfway leaves: the prepared scratch, taken (its note cleared), half restored.
        await sql(await adminUrl(), `COMMENT ON DATABASE "${scratch}" IS NULL`);
        await sql(scratchUrl, "CREATE TABLE users (id int)");
        try {
            r = cli("rehearse", ["--dir", "demo/migrations", "--release", "cli-7", "--snapshot", file, "--database-url", source.url]);
            assert.equal(r.status, 0, r.stderr);
            assert.match(r.stdout, new RegExp(`scratch copy: database ${scratch} \\(made anew: an interrupted rehearsal of this release had left it\\)`));
            assert.match(r.stdout, /rehearsal: 4 pending migration\(s\) apply cleanly/);
            assert.deepEqual(await sql(await adminUrl(), "SELECT datname FROM pg_database WHERE datname = $1", [scratch]), [], "dropped after the rehearsal");
        } finally {
            await sql(await adminUrl(), `DROP DATABASE IF EXISTS "${scratch}" WITH (FORCE)`);
        }
    });

    it("a role that may not create databases: the snapshot still succeeds, and the rehearsal stops the release naming the fix", async () => {
        const role = `gh_nocreatedb_${source.name.slice(-8)}`;
        const admin = await adminUrl();
        await sql(admin, `CREATE ROLE ${role} LOGIN NOCREATEDB`);
        await sql(admin, `ALTER DATABASE ${target.name} OWNER TO ${role}`);
        try {
            const url = new URL(target.url);
            url.username = role;
            url.password = "";
            const out = fs.mkdtempSync(path.join(os.tmpdir(), "gh-cli-"));
            let r = cli("snapshot", ["--database-url", url.toString(), "--out", out, "--release", "cli-6", "--prepare-rehearsal", "--dir", "demo/migrations"]);
            assert.equal(r.status, 0, r.stderr);
            assert.match(r.stdout, /the rehearsal's scratch database was not prepared \(cannot create the rehearsal's scratch database \S+: permission denied to create database\. .*\); the rehearsal will create it/);
            assert.doesNotMatch(r.stdout, /nothing to rehearse/);
            const file = r.stdout.trim().split("\n").pop()!;
            r = cli("rehearse", ["--dir", "demo/migrations", "--release", "cli-6", "--snapshot", file, "--database-url", url.toString()]);
            assert.equal(r.status, 1);
            assert.match(r.stderr, new RegExp(`permission denied to create database\\. .*ALTER ROLE "${role}" CREATEDB\\), or turn the rehearsal off \\(pulumi config set rehearsal false\\); the real database was not touched`));
            assert.deepEqual(await sql(target.url, "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'"), [{ n: 0 }]);
        } finally {
            await sql(admin, `ALTER DATABASE ${target.name} OWNER TO CURRENT_USER`);
            await sql(admin, `DROP ROLE ${role}`);
        }
    });

    it("fails with one line naming what is wrong: missing database, unknown flag (both usage errors: exit 2), failing verification (exit 1)", () => {
        const env = { DATABASE_URL: "" };
        let r = cli("migrate", ["status", "--dir", "demo/migrations"], env);
        assert.equal(r.status, 2);
        assert.match(r.stderr, /^migrate: no database: pass --database-url <url> or set DATABASE_URL/);

        r = cli("snapshot", ["--bogus"], env);
        assert.equal(r.status, 2);
        assert.match(r.stderr, /^snapshot: Unknown option '--bogus'[\s\S]*usage: npm run snapshot/);

        r = cli("migrate", ["verify", "--expect", "checks/kifu.schema.yaml", "--database-url", source.url]);
        assert.equal(r.status, 1);
        assert.match(r.stderr, /^migrate: schema verification failed, \d+ expectation\(s\) not met[\s\S]*table public\.users is missing/);

        const spec = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "gh-cli-")), "gate.yaml");
        fs.writeFileSync(spec, "deadlineSeconds: 0.5\nchecks:\n  - name: health\n    request: { path: /health }\n");
        r = cli("gate", ["--base-url", "http://127.0.0.1:9", "--spec", spec, "--release", "x"]);
        assert.equal(r.status, 1);
        // The target it assumed, then the report.
        assert.match(r.stderr, /^gate: no --config target=aws\|local given: assumed target=aws [^\n]*\ngate: health gate FAILED[\s\S]*FAIL health: failed/);
    });
});
