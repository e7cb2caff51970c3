import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { ensureCliBuild } from "../components/release/cliBuild";
import { gatehouseCli } from "../components/release/pipeline";
import { migrateUp } from "../components/release/runner";
import { migrationDir } from "./helpers/migrations";
import { freshDatabase } from "./helpers/postgres";

const ROOT = path.join(__dirname, "..");

/** `migrate lint` as a process, as an app's CI runs it. */
function lint(args: string[]) {
    const result = spawnSync("/bin/sh", ["-c", gatehouseCli("migrate", ["lint", ...args])], { cwd: ROOT, env: { ...process.env, DATABASE_URL: "" }, encoding: "utf8" });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const HISTORY = {
    "001_trades.sql": "CREATE TABLE trades (id int PRIMARY KEY, price numeric(30,10), note varchar(50));\n",
    "002_relax.sql": "ALTER TABLE trades ALTER COLUMN price TYPE NUMERIC USING price::NUMERIC;\n",
};

describe("npm run migrate -- lint (the preview's lint for an app's CI)", function () {
    this.timeout(60_000);
    before(() => ensureCliBuild());

    it("--help prints usage, flags and an example, exit 0", () => {
        const r = lint(["--help"]);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /^usage: npm run migrate -- lint --dir <dir> \[--baseline <version>\] \[--database-url <url>\] \[--json\]/);
        for (const flag of ["--dir", "--baseline", "--database-url", "--json", "--help"]) assert.ok(r.stdout.includes(flag), flag);
        assert.match(r.stdout, /example[\s\S]*npm run migrate -- lint --dir migrations/);
        assert.match(r.stdout, /Exit: 0 nothing blocks .*, 1 blocking findings, 2 the lint could not run/);
    });

    it("exit 0 with warnings only: a typmod relaxation on a column declared in an earlier file", () => {
        const r = lint(["--dir", migrationDir(HISTORY)]);
        assert.equal(r.status, 0, r.stdout + r.stderr);
        assert.match(r.stdout, /^002_relax\.sql:1: warning: ALTER COLUMN trades\.price TYPE numeric: no table rewrite \(numeric\(30,10\) → numeric drops the typmod/m);
        assert.match(r.stdout, /linted 2 file\(s\): 0 blocking, 1 warning\(s\)\n$/);
    });

    it("exit 1 on a blocking finding, naming file:line and the fix; exit 0 once the file is marked reviewed", () => {
        const dir = migrationDir({ ...HISTORY, "003_shrink.sql": "-- short notes only\nALTER TABLE trades ALTER COLUMN note TYPE varchar(20);\n" });
        let r = lint(["--dir", dir]);
        assert.equal(r.status, 1, r.stdout + r.stderr);
        assert.match(r.stdout, /^003_shrink\.sql:2: BLOCKING: ALTER COLUMN trades\.note TYPE varchar\(20\): rewrites trades .* fails on existing rows that do not fit .*a value longer than 20 fails the statement.*; fix: count the rows that do not fit/m);
        assert.match(r.stdout, /1 blocking, 1 warning\(s\)\nblocked: change the migration, or have it reviewed and add the line "-- gatehouse:reviewed" to the file\n$/);

        fs.writeFileSync(path.join(dir, "003_shrink.sql"), "-- gatehouse:reviewed (ops, 2026-11-25: longest note is 12 characters)\nALTER TABLE trades ALTER COLUMN note TYPE varchar(20);\n");
        r = lint(["--dir", dir]);
        assert.equal(r.status, 0, r.stdout + r.stderr);
        assert.match(r.stdout, /^003_shrink\.sql:2: reviewed: ALTER COLUMN trades\.note TYPE varchar\(20\)/m);
        assert.match(r.stdout, /0 blocking, 1 warning\(s\), 1 accepted in reviewed files\n$/);
    });

    it("--json prints one machine-readable object, with the type-change verdict; the exit code is the same", () => {
        const dir = migrationDir({ ...HISTORY, "003_bigint.sql": "ALTER TABLE trades ALTER COLUMN id TYPE bigint;\n" });
        const r = lint(["--dir", dir, "--json"]);
        assert.equal(r.status, 1, r.stderr);
        const report = JSON.parse(r.stdout);
        assert.deepEqual(report.linted, ["001_trades.sql", "002_relax.sql", "003_bigint.sql"]);
        assert.equal(report.blocking, 1);
        assert.deepEqual(
            report.findings.map((f: any) => [f.file, f.line, f.severity, f.blocks, f.operation]),
            [
                ["002_relax.sql", 1, "warning", false, "ALTER COLUMN trades.price TYPE numeric"],
                ["003_bigint.sql", 1, "blocking", true, "ALTER COLUMN trades.id TYPE bigint"],
            ],
        );
        assert.deepEqual(
            { ...report.findings[1].typeChange, because: undefined },
            { from: "integer", to: "bigint", rewrite: true, narrowing: false, because: undefined },
        );
    });

    it("--baseline skips the files at or below it, as migrationBaseline does", () => {
        const dir = migrationDir({ ...HISTORY, "001_trades.sql": HISTORY["001_trades.sql"] + "DROP TABLE legacy_reports;\n" });
        assert.equal(lint(["--dir", dir]).status, 1);
        const r = lint(["--dir", dir, "--baseline", "001"]);
        assert.equal(r.status, 0, r.stdout + r.stderr);
        // The baselined file is not linted, but what it declares still informs the type rules.
        assert.match(r.stdout, /002_relax\.sql:1: warning: .*no table rewrite/);
        assert.match(r.stdout, /linted 1 file\(s\) \(skipped 1 at or below the baseline\): 0 blocking, 1 warning\(s\)/);
    });

    it("--database-url skips the files the tracking table records as applied, as the local preview does", async () => {
        const db = await freshDatabase("lint_cli");
        try {
            const dir = migrationDir({ "001_trades.sql": HISTORY["001_trades.sql"], "002_bigint.sql": "ALTER TABLE trades ALTER COLUMN id TYPE bigint;\n" });
            await migrateUp({ databaseUrl: db.url, dir });
            fs.writeFileSync(path.join(dir, "003_relax.sql"), HISTORY["002_relax.sql"]);
            assert.equal(lint(["--dir", dir]).status, 1, "without the database, the applied 002 blocks");
            const r = lint(["--dir", dir, "--database-url", db.url, "--json"]);
            assert.equal(r.status, 0, r.stdout + r.stderr);
            const report = JSON.parse(r.stdout);
            assert.deepEqual(report.linted, ["003_relax.sql"]);
            assert.deepEqual(report.skipped, [
                { file: "001_trades.sql", reason: "applied" },
                { file: "002_bigint.sql", reason: "applied" },
            ]);
            assert.deepEqual(report.findings.map((f: any) => [f.file, f.severity]), [["003_relax.sql", "warning"]]);
        } finally {
            await db.drop();
        }
    });

    it("exit 2 with one clear line, no stack trace, when it cannot lint", () => {
        const dir = migrationDir(HISTORY);
        const broken = migrationDir(HISTORY);
        fs.symlinkSync(path.join(broken, "gone.sql.orig"), path.join(broken, "003_gone.sql"));
        const cases: [string[], RegExp][] = [
            [[], /^migrate lint: --dir is required\nusage: npm run migrate -- lint/],
            [["--dir", dir, "--verbose"], /^migrate lint: Unknown option '--verbose'[\s\S]*usage: npm run migrate -- lint/],
            [["--dir", dir, "extra"], /^migrate lint: unexpected argument "extra"/],
            [["--dir", "/nonexistent/migrations"], /^migrate lint: migrations directory \/nonexistent\/migrations does not exist\n$/],
            [["--dir", path.join(dir, "001_trades.sql")], /^migrate lint: .*001_trades\.sql is not a directory\n$/],
            [["--dir", broken], /^migrate lint: cannot read .*003_gone\.sql: no such file \(a dangling link\?\)\n$/],
            [["--dir", migrationDir({ "README.md": "" })], /^migrate lint: no NNN_name\.sql files in .*: nothing to lint \(wrong --dir\?\)\n$/],
            [["--dir", dir, "--baseline", "v19"], /^migrate lint: --baseline must be a version prefix such as 019, got "v19"\n$/],
            [["--dir", dir, "--database-url", "postgres://ci:s3cret@127.0.0.1:9/app"], /^migrate lint: cannot read the tracking table at postgres:\/\/ci:\*\*\*@127\.0\.0\.1:9\/app: .*ECONNREFUSED/],
        ];
        for (const [args, message] of cases) {
            const r = lint(args);
            assert.equal(r.status, 2, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
            assert.match(r.stderr, message);
            assert.ok(!/\n\s+at /.test(r.stderr) && !r.stderr.includes("s3cret"), r.stderr);
            assert.equal(r.stdout, "");
        }
    });

    it("prints every finding of a long history through a pipe (no output lost at exit)", () => {
        const files: Record<string, string> = { "001_trades.sql": HISTORY["001_trades.sql"] };
        for (let i = 2; i <= 400; i++) files[`${String(i).padStart(3, "0")}_idx.sql`] = `CREATE INDEX trades_idx_${i} ON trades (price);\n`;
        // Through `| cat`, as in a CI log: a reader that is not this process is where an early exit loses output.
        const command = `set -o pipefail; ${gatehouseCli("migrate", ["lint", "--dir", migrationDir(files), "--json"])} | cat`;
        const r = spawnSync("bash", ["-c", command], { cwd: ROOT, encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(JSON.parse(r.stdout).findings.length, 399);
    });

    it("runs as documented through npm (ts-node)", () => {
        const r = spawnSync("npm", ["run", "-s", "migrate", "--", "lint", "--dir", migrationDir(HISTORY)], { cwd: ROOT, encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /linted 2 file\(s\): 0 blocking, 1 warning\(s\)/);
    });
});
