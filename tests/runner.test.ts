import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { filesManifest, readMigrationDir } from "../components/release/migrationFiles";
import { MigrationError, migrateUp, migrationStatus } from "../components/release/runner";
import { migrationDir } from "./helpers/migrations";
import { freshDatabase, sql } from "./helpers/postgres";


async function tableNames(url: string): Promise<string[]> {
    const rows = await sql(url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1");
    return rows.map((r) => r.table_name);
}

async function trackedVersions(url: string): Promise<string[]> {
    return (await sql(url, "SELECT version FROM gatehouse_migrations ORDER BY version")).map((r) => r.version);
}

describe("migration runner (real PostgreSQL)", function () {
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    beforeEach(async () => {
        db = await freshDatabase("runner");
    });
    afterEach(async () => {
        await db.drop();
    });

    const threeFiles = {
        "001_accounts.sql": "CREATE TABLE accounts (id serial PRIMARY KEY, email text NOT NULL);",
        "002_orders.sql": "CREATE TABLE orders (id serial PRIMARY KEY, account_id int REFERENCES accounts (id));",
        "010_order_notes.sql": "ALTER TABLE orders ADD COLUMN note text;",
    };

    it("applies files in version order and records version, name, checksum, duration and release", async () => {
        const dir = migrationDir(threeFiles);
        const result = await migrateUp({ databaseUrl: db.url, dir, release: "r1" });
        assert.deepEqual(result.applied.map((a) => a.file), ["001_accounts.sql", "002_orders.sql", "010_order_notes.sql"]);
        const rows = await sql(db.url, "SELECT version, name, sha256, duration_ms, release_id, baseline, applied_at FROM gatehouse_migrations ORDER BY applied_at, version");
        assert.deepEqual(rows.map((r) => [r.version, r.name, r.release_id, r.baseline]), [
            ["001", "accounts", "r1", false],
            ["002", "orders", "r1", false],
            ["010", "order_notes", "r1", false],
        ]);
        for (const r of rows) {
            assert.match(r.sha256, /^[0-9a-f]{64}$/);
            assert.ok(r.duration_ms >= 0);
        }
        assert.deepEqual(await tableNames(db.url), ["accounts", "gatehouse_migrations", "orders"]);
    });

    describe("with the manifest the release plan showed (the AWS runner's copy of the app's files)", () => {
        const manifestOf = (files: Record<string, string>, baseline?: string) => filesManifest(readMigrationDir(migrationDir(files)), baseline);

        it("applies the files when the directory holds exactly the reviewed ones", async () => {
            const result = await migrateUp({ databaseUrl: db.url, dir: migrationDir(threeFiles), expectedManifest: manifestOf(threeFiles) });
            assert.equal(result.applied.length, 3);
        });

        it("refuses a directory whose files differ, before applying anything, listing its files with their sha256", async () => {
            const changed = { ...threeFiles, "002_orders.sql": "CREATE TABLE orders (id serial PRIMARY KEY);" };
            const dir = migrationDir(changed);
            const [, orders] = readMigrationDir(dir);
            await assert.rejects(migrateUp({ databaseUrl: db.url, dir, expectedManifest: manifestOf(threeFiles) }), (err: Error) => {
                assert.match(err.message, /are not the ones the release plan showed \(manifest [0-9a-f]{16} here, [0-9a-f]{16} in the plan\); nothing was applied/);
                assert.match(err.message, new RegExp(`  002_orders\\.sql  sha256 ${orders.sha256.slice(0, 16)}\n`));
                assert.match(err.message, /fix: build the runner image from this release's checkout of the app \(scripts\/runner-image\.sh/);
                return true;
            });
            assert.deepEqual(await tableNames(db.url), [], "nothing applied, not even the tracking table");
        });

        it("for one release step, covers the files up to its own: a later file does not change it, its own file missing refuses", async () => {
            const two = { "001_accounts.sql": threeFiles["001_accounts.sql"], "002_orders.sql": threeFiles["002_orders.sql"] };
            const step = filesManifest(readMigrationDir(migrationDir(two)), undefined, "002_orders.sql");
            assert.equal(filesManifest(readMigrationDir(migrationDir(threeFiles)), undefined, "002_orders.sql"), step);
            const result = await migrateUp({ databaseUrl: db.url, dir: migrationDir(threeFiles), throughFile: "002_orders.sql", expectedManifest: step });
            assert.deepEqual(result.applied.map((a) => a.file), ["001_accounts.sql", "002_orders.sql"]);
            const lacking = migrationDir({ "001_accounts.sql": threeFiles["001_accounts.sql"] });
            await assert.rejects(migrateUp({ databaseUrl: db.url, dir: lacking, throughFile: "002_orders.sql", expectedManifest: step }), /002_orders\.sql is not there, [0-9a-f]{16} in the plan\); nothing was applied/);
        });

        it("refuses an extra file the plan did not list, and counts only files above the baseline", async () => {
            const extra = { ...threeFiles, "011_more.sql": "CREATE TABLE more (id int);" };
            await assert.rejects(migrateUp({ databaseUrl: db.url, dir: migrationDir(extra), expectedManifest: manifestOf(threeFiles) }), /nothing was applied/);
            assert.deepEqual(await tableNames(db.url), []);
            // A baselined file is not part of the release: the plan's manifest above 001 matches a directory whose 001 differs.
            const otherBaselined = { ...threeFiles, "001_accounts.sql": "CREATE TABLE accounts (id serial PRIMARY KEY);" };
            assert.equal(manifestOf(otherBaselined, "001"), manifestOf(threeFiles, "001"));
            assert.notEqual(manifestOf(otherBaselined), manifestOf(threeFiles));
        });
    });

    it("is idempotent: a second run applies nothing", async () => {
        const dir = migrationDir(threeFiles);
        await migrateUp({ databaseUrl: db.url, dir, release: "r1" });
        const again = await migrateUp({ databaseUrl: db.url, dir, release: "r2" });
        assert.deepEqual(again.applied, []);
        assert.equal(again.skipped.length, 3);
        assert.deepEqual((await sql(db.url, "SELECT DISTINCT release_id FROM gatehouse_migrations")).map((r) => r.release_id), ["r1"]);
    });

    it("refuses a file whose checksum changed after it was applied, and applies nothing", async () => {
        const dir = migrationDir(threeFiles);
        await migrateUp({ databaseUrl: db.url, dir });
        fs.writeFileSync(path.join(dir, "002_orders.sql"), "CREATE TABLE orders (id bigserial PRIMARY KEY);");
        fs.writeFileSync(path.join(dir, "011_later.sql"), "CREATE TABLE later (id int);");
        await assert.rejects(migrateUp({ databaseUrl: db.url, dir }), (err: any) => {
            assert.ok(err instanceof MigrationError);
            assert.equal(err.file, "002_orders.sql");
            assert.match(err.message, /002_orders\.sql changed after it was applied/);
            return true;
        });
        assert.ok(!(await tableNames(db.url)).includes("later"));
        const status = await migrationStatus({ databaseUrl: db.url, dir });
        assert.deepEqual(status.map((s) => [s.file, s.state]), [
            ["001_accounts.sql", "applied"],
            ["002_orders.sql", "drifted"],
            ["010_order_notes.sql", "applied"],
            ["011_later.sql", "pending"],
        ]);
    });

    it("rolls a failing file back whole, names file, line and SQL error, and leaves later files unapplied", async () => {
        const dir = migrationDir({
            "001_accounts.sql": threeFiles["001_accounts.sql"],
            "002_broken.sql": [
                "CREATE TABLE half_done (id int);",
                "INSERT INTO half_done VALUES (1);",
                "",
                "-- the next statement fails on its second line",
                "ALTER TABLE accounts",
                "    ADD COLUMN nope integer REFERENCES missing_table (id);",
            ].join("\n"),
            "003_after.sql": "CREATE TABLE after_broken (id int);",
        });
        await assert.rejects(migrateUp({ databaseUrl: db.url, dir }), (err: any) => {
            assert.ok(err instanceof MigrationError);
            assert.equal(err.file, "002_broken.sql");
            assert.equal(err.line, 5);
            assert.match(err.sqlError, /relation "missing_table" does not exist \(SQLSTATE 42P01\)/);
            assert.match(err.message, /^002_broken\.sql:5: .*the file was rolled back; later files were not applied/);
            return true;
        });
        assert.deepEqual(await tableNames(db.url), ["accounts", "gatehouse_migrations"]);
        assert.deepEqual(await trackedVersions(db.url), ["001"]);
    });

    it("reports the line of a syntax error before running any statement of the file", async () => {
        const dir = migrationDir({
            "001_bad_syntax.sql": "CREATE TABLE fine (id int);\n\nCREATE TABEL oops (id int);\n",
        });
        await assert.rejects(migrateUp({ databaseUrl: db.url, dir }), (err: any) => {
            assert.equal(err.line, 3);
            assert.match(err.message, /^001_bad_syntax\.sql:3: syntax error/);
            return true;
        });
        assert.deepEqual(await tableNames(db.url), ["gatehouse_migrations"]);
    });

    it("two runners started at once apply each file exactly once", async () => {
        const dir = migrationDir({
            "001_log.sql": "CREATE TABLE apply_log (file text NOT NULL);",
            "002_slow.sql": "SELECT pg_sleep(0.3); INSERT INTO apply_log VALUES ('002');",
            "003_slow.sql": "SELECT pg_sleep(0.2); INSERT INTO apply_log VALUES ('003');",
        });
        const [a, b] = await Promise.all([
            migrateUp({ databaseUrl: db.url, dir, release: "a" }),
            migrateUp({ databaseUrl: db.url, dir, release: "b" }),
        ]);
        assert.equal(a.applied.length + b.applied.length, 3);
        assert.ok(a.applied.length === 0 || b.applied.length === 0, "one runner did all the work, the other waited");
        assert.deepEqual((await sql(db.url, "SELECT file FROM apply_log ORDER BY file")).map((r) => r.file), ["002", "003"]);
        assert.deepEqual(await trackedVersions(db.url), ["001", "002", "003"]);
    });

    it("baselines files applied by hand before tracking existed, then applies the rest", async () => {
        await sql(db.url, "CREATE TABLE accounts (id serial PRIMARY KEY, email text NOT NULL)");
        await sql(db.url, "CREATE TABLE orders (id serial PRIMARY KEY, account_id int REFERENCES accounts (id))");
        const dir = migrationDir(threeFiles);
        const result = await migrateUp({ databaseUrl: db.url, dir, baseline: "002", release: "first-tracked" });
        assert.deepEqual(result.baselined, ["001_accounts.sql", "002_orders.sql"]);
        assert.deepEqual(result.applied.map((a) => a.file), ["010_order_notes.sql"]);
        const rows = await sql(db.url, "SELECT version, baseline FROM gatehouse_migrations ORDER BY version");
        assert.deepEqual(rows.map((r) => [r.version, r.baseline]), [["001", true], ["002", true], ["010", false]]);
        const columns = await sql(db.url, "SELECT column_name FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'note'");
        assert.equal(columns.length, 1);
    });

    it("runs a file with CREATE INDEX CONCURRENTLY outside a transaction, with or without the no-transaction marker", async () => {
        const concurrently = "CREATE INDEX CONCURRENTLY IF NOT EXISTS accounts_email_idx ON accounts (email);";
        const unmarked = migrationDir({ "001_accounts.sql": threeFiles["001_accounts.sql"], "002_index.sql": concurrently });
        const lines: string[] = [];
        const result = await migrateUp({ databaseUrl: db.url, dir: unmarked, log: (l) => lines.push(l) });
        assert.deepEqual(result.applied.map((a) => [a.file, a.outsideTransaction]), [
            ["001_accounts.sql", undefined],
            ["002_index.sql", "CREATE INDEX CONCURRENTLY (line 1) cannot run inside a transaction block"],
        ]);
        assert.ok(lines.includes("002_index.sql runs statement by statement outside a transaction, as psql -f runs it: CREATE INDEX CONCURRENTLY (line 1) cannot run inside a transaction block"), lines.join("\n"));
        assert.equal((await sql(db.url, "SELECT indexname FROM pg_indexes WHERE indexname = 'accounts_email_idx'")).length, 1);

        fs.writeFileSync(path.join(unmarked, "003_index.sql"), `-- gatehouse:no-transaction\n${concurrently.replace(/accounts_email_idx/, "accounts_email2_idx")}\n`);
        const again = await migrateUp({ databaseUrl: db.url, dir: unmarked });
        assert.deepEqual(again.applied.map((a) => a.outsideTransaction), ["CREATE INDEX CONCURRENTLY (line 2) cannot run inside a transaction block"]);
    });

    it("handles dollar-quoted bodies with semicolons, comments and several statements per file", async () => {
        const dir = migrationDir({
            "001_functions.sql": [
                "-- 한국어 주석; with a semicolon",
                "/* block; comment */",
                "CREATE TABLE counters (name text PRIMARY KEY, n int NOT NULL DEFAULT 0);",
                "CREATE FUNCTION bump(key text) RETURNS int LANGUAGE plpgsql AS $fn$",
                "DECLARE result int;",
                "BEGIN",
                "  INSERT INTO counters VALUES (key, 1) ON CONFLICT (name) DO UPDATE SET n = counters.n + 1 RETURNING n INTO result;",
                "  RETURN result; -- ; inside",
                "END;",
                "$fn$;",
                "INSERT INTO counters VALUES ('semi;colon', 41);",
                "SELECT bump('semi;colon');",
            ].join("\n"),
        });
        await migrateUp({ databaseUrl: db.url, dir });
        const rows = await sql(db.url, "SELECT n FROM counters WHERE name = 'semi;colon'");
        assert.equal(rows[0].n, 42);
    });

    it("runs a file with its own BEGIN/COMMIT as written, and records it in the file's own last transaction", async () => {
        const dir = migrationDir({ "001_tx.sql": "-- written for psql -f\nBEGIN;\nCREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\nCOMMIT;\n" });
        const result = await migrateUp({ databaseUrl: db.url, dir });
        assert.deepEqual(result.applied.map((a) => a.outsideTransaction), ["the file controls its own transactions (BEGIN at line 2), and runs as written"]);
        assert.deepEqual(await tableNames(db.url), ["gatehouse_migrations", "t"]);
        const [row] = await sql(db.url, "SELECT xmin::text AS tracked, (SELECT xmin::text FROM t) AS created FROM gatehouse_migrations WHERE file = '001_tx.sql'");
        assert.equal(row.tracked, row.created, "the tracking row committed with the file's own transaction");
    });

    it("applies only up to --through, so one release resource applies one file", async () => {
        const dir = migrationDir(threeFiles);
        const first = await migrateUp({ databaseUrl: db.url, dir, through: "002" });
        assert.deepEqual(first.applied.map((a) => a.version), ["001", "002"]);
        const rest = await migrateUp({ databaseUrl: db.url, dir, through: "010" });
        assert.deepEqual(rest.applied.map((a) => a.version), ["010"]);
    });
});
