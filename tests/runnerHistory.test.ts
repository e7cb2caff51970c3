import { strict as assert } from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { MigrationError, migrateUp, migrationStatus } from "../components/release/runner";
import { migrationDir } from "./helpers/migrations";
import { freshDatabase, sql } from "./helpers/postgres";

// The tracking table as Gatehouse wrote it before file-name tracking (runner.ts at 7b36bf5): keyed by version.
const VERSION_KEYED_TABLE = `
    CREATE TABLE gatehouse_migrations (
        version     text PRIMARY KEY,
        name        text        NOT NULL,
        sha256      text        NOT NULL,
        applied_at  timestamptz NOT NULL DEFAULT now(),
        duration_ms integer     NOT NULL,
        release_id  text,
        baseline    boolean     NOT NULL DEFAULT false
    )`;

const sha256 = (text: string) => crypto.createHash("sha256").update(text).digest("hex");
const logged = (file: string) => `INSERT INTO apply_log (file) VALUES ('${file}');`;

async function trackedFiles(url: string): Promise<string[]> {
    return (await sql(url, `SELECT file FROM gatehouse_migrations ORDER BY file COLLATE "C"`)).map((r) => r.file);
}

async function appliedOrder(url: string): Promise<string[]> {
    return (await sql(url, "SELECT file FROM apply_log ORDER BY n")).map((r) => r.file);
}

async function relationExists(url: string, name: string): Promise<boolean> {
    return (await sql(url, "SELECT to_regclass($1) IS NOT NULL AS present", [name]))[0].present;
}

describe("migration runner: order and identity as the psql -f loop had them (real PostgreSQL)", function () {
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    beforeEach(async () => {
        db = await freshDatabase("identity");
    });
    afterEach(async () => {
        await db.drop();
    });

    // Three branches picked 007; nobody picked 008 or 009.
    const branches = {
        "001_log.sql": "CREATE TABLE apply_log (n serial, file text NOT NULL);",
        "007_b_orders.sql": logged("007_b_orders.sql"),
        "007_a_tags.sql": logged("007_a_tags.sql"),
        "007_Z_upper.sql": logged("007_Z_upper.sql"),
        "010_notes.sql": logged("010_notes.sql"),
    };
    const inGlobOrder = ["001_log.sql", "007_Z_upper.sql", "007_a_tags.sql", "007_b_orders.sql", "010_notes.sql"];

    it("applies in full file-name byte order (a C-locale glob), shared prefixes and gaps included, and tracks each file by name", async () => {
        const dir = migrationDir(branches);
        const result = await migrateUp({ databaseUrl: db.url, dir, release: "r1" });
        assert.deepEqual(result.applied.map((a) => a.file), inGlobOrder);
        assert.deepEqual(await appliedOrder(db.url), inGlobOrder.slice(1));
        const rows = await sql(db.url, `SELECT file, version, name FROM gatehouse_migrations ORDER BY file COLLATE "C"`);
        assert.deepEqual(rows.map((r) => [r.file, r.version, r.name]), [
            ["001_log.sql", "001", "log"],
            ["007_Z_upper.sql", "007", "Z_upper"],
            ["007_a_tags.sql", "007", "a_tags"],
            ["007_b_orders.sql", "007", "b_orders"],
            ["010_notes.sql", "010", "notes"],
        ]);
        const status = await migrationStatus({ databaseUrl: db.url, dir });
        assert.deepEqual(status.map((s) => [s.file, s.state]), inGlobOrder.map((f) => [f, "applied"]));
    });

    it("--through-file applies everything pending up to and including one file; --through <version> still works for older callers", async () => {
        const dir = migrationDir(branches);
        const first = await migrateUp({ databaseUrl: db.url, dir, throughFile: "007_a_tags.sql" });
        assert.deepEqual(first.applied.map((a) => a.file), ["001_log.sql", "007_Z_upper.sql", "007_a_tags.sql"]);
        const applied = await migrateUp({ databaseUrl: db.url, dir, throughFile: "007_a_tags.sql" });
        assert.deepEqual(applied.applied, [], "an applied file's step is a no-op");
        const next = await migrateUp({ databaseUrl: db.url, dir, throughFile: path.join(dir, "007_b_orders.sql") });
        assert.deepEqual(next.applied.map((a) => a.file), ["007_b_orders.sql"]);

        await assert.rejects(migrateUp({ databaseUrl: db.url, dir, throughFile: "008_missing.sql" }), /--through-file 008_missing\.sql: no migration file of that name in /);
        await assert.rejects(migrateUp({ databaseUrl: db.url, dir, through: "010", throughFile: "010_notes.sql" }), /give --through-file or --through, not both/);
        await assert.rejects(migrateUp({ databaseUrl: db.url, dir, through: "010_notes.sql" }), /--through 010_notes\.sql: not a version number/);
        assert.deepEqual(await appliedOrder(db.url), ["007_Z_upper.sql", "007_a_tags.sql", "007_b_orders.sql"]);

        const older = await freshDatabase("through");
        try {
            const byVersion = await migrateUp({ databaseUrl: older.url, dir, through: "007" });
            assert.deepEqual(byVersion.applied.map((a) => a.file), inGlobOrder.slice(0, 4), "--through 007 covers every 007 file");
        } finally {
            await older.drop();
        }
    });

    it("a baseline covers every file whose prefix is at or below it, and warns about a file that appears under it later", async () => {
        await sql(db.url, "CREATE TABLE apply_log (n serial, file text NOT NULL)");
        const dir = migrationDir(branches);
        const result = await migrateUp({ databaseUrl: db.url, dir, baseline: "7", release: "takeover" });
        assert.deepEqual(result.baselined, inGlobOrder.slice(0, 4));
        assert.deepEqual(result.applied.map((a) => a.file), ["010_notes.sql"]);
        assert.deepEqual(await appliedOrder(db.url), ["010_notes.sql"]);

        fs.writeFileSync(path.join(dir, "007_c_late.sql"), logged("007_c_late.sql"));
        const lines: string[] = [];
        const later = await migrateUp({ databaseUrl: db.url, dir, baseline: "7", log: (l) => lines.push(l) });
        assert.deepEqual(later.baselined, ["007_c_late.sql"]);
        assert.ok(lines.some((l) => l.startsWith("warning: 007_c_late.sql is new but at or below baseline 7, so it was recorded, not run")), lines.join("\n"));
    });

    it("notes a pending file that sorts before an applied one (merged late from a branch) and applies it", async () => {
        const dir = migrationDir({ "001_log.sql": branches["001_log.sql"], "010_notes.sql": branches["010_notes.sql"] });
        await migrateUp({ databaseUrl: db.url, dir });
        fs.writeFileSync(path.join(dir, "007_a_tags.sql"), branches["007_a_tags.sql"]);
        const lines: string[] = [];
        const result = await migrateUp({ databaseUrl: db.url, dir, log: (l) => lines.push(l) });
        assert.deepEqual(result.applied.map((a) => a.file), ["007_a_tags.sql"]);
        assert.ok(lines.includes("note: 007_a_tags.sql sorts before 010_notes.sql, which is already applied; applying it now (a file merged late from a parallel branch)"), lines.join("\n"));
    });

    it("upgrades a version-keyed tracking table in place, once, keeping every row; a file tracked as '20' is found as 020_… by its checksum", async () => {
        const files = { ...branches, "020_later.sql": logged("020_later.sql") };
        await sql(db.url, "CREATE TABLE apply_log (n serial, file text NOT NULL)");
        await sql(db.url, VERSION_KEYED_TABLE);
        for (const [version, name, file] of [["001", "log", "001_log.sql"], ["007", "b_orders", "007_b_orders.sql"], ["20", "later", "020_later.sql"]]) {
            await sql(db.url, "INSERT INTO gatehouse_migrations VALUES ($1, $2, $3, '2026-01-01T00:00:00Z', 5, 'old', false)", [version, name, sha256((files as any)[file])]);
        }
        const dir = migrationDir(files);

        // Status only reads: the table keeps its old shape until a runner holds the lock.
        const status = await migrationStatus({ databaseUrl: db.url, dir });
        assert.deepEqual(status.map((s) => [s.file, s.state, s.renamedFrom]), [
            ["001_log.sql", "applied", undefined],
            ["007_Z_upper.sql", "pending", undefined],
            ["007_a_tags.sql", "pending", undefined],
            ["007_b_orders.sql", "applied", undefined],
            ["010_notes.sql", "pending", undefined],
            ["020_later.sql", "applied", "20_later.sql"],
        ]);
        assert.equal(await relationExists(db.url, "gatehouse_migrations"), true);
        assert.deepEqual(await sql(db.url, "SELECT column_name FROM information_schema.columns WHERE table_name = 'gatehouse_migrations' AND column_name = 'file'"), []);

        const lines: string[] = [];
        const result = await migrateUp({ databaseUrl: db.url, dir, release: "r2", log: (l) => lines.push(l) });
        assert.ok(lines.includes("upgraded gatehouse_migrations to track files by name (3 row(s) kept)"), lines.join("\n"));
        assert.deepEqual(result.renamed, [{ from: "20_later.sql", to: "020_later.sql" }]);
        assert.deepEqual(result.applied.map((a) => a.file), ["007_Z_upper.sql", "007_a_tags.sql", "010_notes.sql"]);
        assert.deepEqual(await appliedOrder(db.url), ["007_Z_upper.sql", "007_a_tags.sql", "010_notes.sql"]);
        const kept = await sql(db.url, `SELECT file, version, applied_at, release_id, applied_as FROM gatehouse_migrations WHERE release_id = 'old' ORDER BY file COLLATE "C"`);
        assert.deepEqual(kept.map((r) => [r.file, r.version, r.applied_at.toISOString(), r.applied_as]), [
            ["001_log.sql", "001", "2026-01-01T00:00:00.000Z", null],
            ["007_b_orders.sql", "007", "2026-01-01T00:00:00.000Z", null],
            ["020_later.sql", "020", "2026-01-01T00:00:00.000Z", "20_later.sql"],
        ]);
        const key = await sql(db.url, "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) WHERE i.indrelid = 'gatehouse_migrations'::regclass AND i.indisprimary");
        assert.deepEqual(key.map((r) => r.attname), ["file"]);

        lines.length = 0;
        const again = await migrateUp({ databaseUrl: db.url, dir, log: (l) => lines.push(l) });
        assert.deepEqual(again.applied, []);
        assert.ok(!lines.some((l) => l.startsWith("upgraded")), "the upgrade runs once");
    });

    it("the upgrade is one transaction: a failure in it leaves the version-keyed table as it was", async () => {
        const files = { "001_log.sql": branches["001_log.sql"], "020_later.sql": logged("020_later.sql") };
        await sql(db.url, "CREATE TABLE apply_log (n serial, file text NOT NULL)");
        await sql(db.url, VERSION_KEYED_TABLE);
        await sql(db.url, "INSERT INTO gatehouse_migrations VALUES ('001', 'log', $1, now(), 5, 'old', false), ('20', 'later', $2, now(), 5, 'old', false)", [
            sha256(files["001_log.sql"]),
            sha256(files["020_later.sql"]),
        ]);
        // Fails the rename ('20' -> '020'), which runs after the rekeying in the same transaction.
        await sql(
            db.url,
            `CREATE FUNCTION refuse_version_change() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN IF NEW.version <> OLD.version THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$`,
        );
        await sql(db.url, "CREATE TRIGGER refuse BEFORE UPDATE ON gatehouse_migrations FOR EACH ROW EXECUTE FUNCTION refuse_version_change()");
        const dir = migrationDir(files);
        await assert.rejects(migrateUp({ databaseUrl: db.url, dir }), /injected failure/);
        assert.deepEqual(await sql(db.url, "SELECT column_name FROM information_schema.columns WHERE table_name = 'gatehouse_migrations' AND column_name IN ('file', 'applied_as')"), []);
        assert.deepEqual((await sql(db.url, "SELECT version FROM gatehouse_migrations ORDER BY version")).map((r) => r.version), ["001", "20"]);

        await sql(db.url, "DROP TRIGGER refuse ON gatehouse_migrations");
        const result = await migrateUp({ databaseUrl: db.url, dir });
        assert.deepEqual(result.applied, []);
        assert.deepEqual(await trackedFiles(db.url), ["001_log.sql", "020_later.sql"]);
    });

    it("recognises a file renamed after it was applied (same checksum): tracked under the new name, not applied twice", async () => {
        const create = "CREATE TABLE widgets (id int);";
        const dir = migrationDir({ "001_log.sql": branches["001_log.sql"], "002_create.sql": create });
        await migrateUp({ databaseUrl: db.url, dir, release: "r1" });
        fs.renameSync(path.join(dir, "002_create.sql"), path.join(dir, "002_widgets.sql"));
        fs.writeFileSync(path.join(dir, "003_more.sql"), logged("003_more.sql"));

        const status = await migrationStatus({ databaseUrl: db.url, dir });
        assert.deepEqual(status.map((s) => [s.file, s.state, s.renamedFrom]), [
            ["001_log.sql", "applied", undefined],
            ["002_widgets.sql", "applied", "002_create.sql"],
            ["003_more.sql", "pending", undefined],
        ]);
        const lines: string[] = [];
        const result = await migrateUp({ databaseUrl: db.url, dir, release: "r2", log: (l) => lines.push(l) });
        assert.deepEqual(result.renamed, [{ from: "002_create.sql", to: "002_widgets.sql" }]);
        assert.deepEqual(result.applied.map((a) => a.file), ["003_more.sql"]);
        assert.ok(lines.includes("002_widgets.sql is 002_create.sql renamed after it was applied (same checksum): now tracked under the new name, not applied again"), lines.join("\n"));

        // Renamed once more: the row keeps the name it was applied under.
        fs.renameSync(path.join(dir, "002_widgets.sql"), path.join(dir, "004_widgets.sql"));
        await migrateUp({ databaseUrl: db.url, dir });
        const rows = await sql(db.url, `SELECT file, version, release_id, applied_as FROM gatehouse_migrations ORDER BY file COLLATE "C"`);
        assert.deepEqual(rows.map((r) => [r.file, r.version, r.release_id, r.applied_as]), [
            ["001_log.sql", "001", "r1", null],
            ["003_more.sql", "003", "r2", null],
            ["004_widgets.sql", "004", "r1", "002_create.sql"],
        ]);
    });

    it("refuses two files whose names compare equal (zero padding, letter case), naming both, before touching the database", async () => {
        for (const [a, b] of [["7_tags.sql", "007_tags.sql"], ["007_Tags.sql", "007_tags.sql"]]) {
            const dir = migrationDir({ "001_log.sql": branches["001_log.sql"], [a]: "SELECT 1;", [b]: "SELECT 2;" });
            await assert.rejects(migrateUp({ databaseUrl: db.url, dir }), (err: any) => {
                const [first, second] = [a, b].sort();
                assert.match(err.message, new RegExp(`${first.replace(".", "\\.")} and ${second.replace(".", "\\.")} name the same migration`));
                assert.match(err.message, /delete the copy that is not meant, or rename one to a name of its own/);
                return true;
            });
        }
        assert.equal(await relationExists(db.url, "gatehouse_migrations"), false);
        assert.equal(await relationExists(db.url, "apply_log"), false);
    });

    it("refuses an applied file that is gone (not renamed), with what to do, and applies nothing", async () => {
        const dir = migrationDir({ "001_log.sql": branches["001_log.sql"], "002_create.sql": "CREATE TABLE widgets (id int);" });
        await migrateUp({ databaseUrl: db.url, dir, release: "r1" });
        fs.rmSync(path.join(dir, "002_create.sql"));
        // Renamed and edited is not a rename: the content that ran is gone.
        fs.writeFileSync(path.join(dir, "002_widgets.sql"), "CREATE TABLE widgets (id bigint);");
        fs.writeFileSync(path.join(dir, "003_more.sql"), logged("003_more.sql"));

        await assert.rejects(migrateUp({ databaseUrl: db.url, dir }), (err: any) => {
            assert.ok(err instanceof MigrationError);
            assert.equal(err.file, "002_create.sql");
            assert.match(err.message, /^refusing to migrate, nothing was applied:\n  002_create\.sql was applied \(release r1\) but is not in .*, and no file there has its checksum/);
            assert.match(err.message, /restore it \(git log --diff-filter=D -- '\*002_create\.sql' finds its removal\), or if it was removed on purpose, forget it with: DELETE FROM gatehouse_migrations WHERE file = '002_create\.sql'/);
            return true;
        });
        assert.deepEqual(await appliedOrder(db.url), []);
        assert.deepEqual(await trackedFiles(db.url), ["001_log.sql", "002_create.sql"]);
        const status = await migrationStatus({ databaseUrl: db.url, dir });
        assert.deepEqual(status.map((s) => [s.file, s.state]), [
            ["001_log.sql", "applied"],
            ["002_create.sql", "missing-file"],
            ["002_widgets.sql", "pending"],
            ["003_more.sql", "pending"],
        ]);
    });
});

describe("migration runner: files written for psql -f that cannot run in one transaction (real PostgreSQL)", function () {
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    beforeEach(async () => {
        db = await freshDatabase("psqlfiles");
    });
    afterEach(async () => {
        await db.drop();
    });

    it("runs VACUUM, REINDEX … CONCURRENTLY and DROP INDEX CONCURRENTLY statement by statement", async () => {
        const dir = migrationDir({
            "001_items.sql": "CREATE TABLE items (id int, sku text);\nCREATE INDEX items_sku_idx ON items (sku);\nINSERT INTO items SELECT g, 'sku' || g FROM generate_series(1, 100) g;",
            "002_maintenance.sql": "VACUUM (ANALYZE) items;\nREINDEX INDEX CONCURRENTLY items_sku_idx;\nDROP INDEX CONCURRENTLY items_sku_idx;\n",
        });
        const result = await migrateUp({ databaseUrl: db.url, dir });
        assert.deepEqual(result.applied.map((a) => a.outsideTransaction), [undefined, "VACUUM (line 1) cannot run inside a transaction block"]);
        assert.equal(await relationExists(db.url, "items_sku_idx"), false);
    });

    it("runs a file that uses an enum value right after adding it, as psql -f does", async () => {
        const dir = migrationDir({
            "001_runs.sql": "CREATE TYPE run_state AS ENUM ('open', 'done');\nCREATE TABLE runs (state run_state NOT NULL);\nINSERT INTO runs VALUES ('done');",
            "002_archived.sql": "ALTER TYPE run_state ADD VALUE 'archived';\nUPDATE runs SET state = 'archived' WHERE state = 'done';\n",
        });
        const result = await migrateUp({ databaseUrl: db.url, dir });
        assert.match(result.applied[1].outsideTransaction!, /^ALTER TYPE … ADD VALUE \(line 1\) is followed by statements that may use the new value/);
        assert.deepEqual((await sql(db.url, "SELECT state::text FROM runs")).map((r) => r.state), ["archived"]);
    });

    it("a failure halfway names the statement, what took effect and what its own transaction rolled back; the file is recorded only once it completes", async () => {
        const half = (failing: string) =>
            [
                "CREATE TABLE IF NOT EXISTS extra (id int);",
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS items_sku_idx ON items (sku);",
                "BEGIN;",
                "INSERT INTO extra VALUES (1);",
                failing,
                "COMMIT;",
            ].join("\n");
        const dir = migrationDir({
            "001_items.sql": "CREATE TABLE items (id int, sku text);",
            "002_half.sql": half("INSERT INTO nowhere VALUES (1);"),
            "003_after.sql": "CREATE TABLE after_half (id int);",
        });
        await assert.rejects(migrateUp({ databaseUrl: db.url, dir }), (err: any) => {
            assert.ok(err instanceof MigrationError);
            assert.equal(err.file, "002_half.sql");
            assert.equal(err.line, 5);
            assert.deepEqual(err.tookEffect, [1, 2]);
            assert.equal(
                err.message,
                `002_half.sql:5: relation "nowhere" does not exist (SQLSTATE 42P01); it runs statement by statement outside a transaction ` +
                    `(CREATE INDEX CONCURRENTLY (line 2) cannot run inside a transaction block): the statement(s) at line(s) 1, 2 took effect and stay; ` +
                    `the statement(s) at line(s) 4 in the file's own open transaction were rolled back; the file is not recorded as applied and later files were not applied. ` +
                    `The next release runs it again from its first statement: make what took effect safe to run again (IF NOT EXISTS) or undo it by hand, then fix the file and release again.`,
            );
            return true;
        });
        assert.equal(await relationExists(db.url, "items_sku_idx"), true);
        assert.deepEqual(await sql(db.url, "SELECT * FROM extra"), []);
        assert.equal(await relationExists(db.url, "after_half"), false);
        assert.deepEqual(await trackedFiles(db.url), ["001_items.sql"]);

        // The recovery the message describes: the file is already safe to re-run; fix the failing line and release again.
        fs.writeFileSync(path.join(dir, "002_half.sql"), half("INSERT INTO items VALUES (1, 'a');"));
        const result = await migrateUp({ databaseUrl: db.url, dir });
        assert.deepEqual(result.applied.map((a) => a.file), ["002_half.sql", "003_after.sql"]);
        assert.deepEqual((await sql(db.url, "SELECT id FROM extra")).map((r) => r.id), [1]);
        assert.deepEqual(await trackedFiles(db.url), ["001_items.sql", "002_half.sql", "003_after.sql"]);
    });

    it("a failed CREATE INDEX CONCURRENTLY names the INVALID index it left behind", async () => {
        const dir = migrationDir({
            "001_dupes.sql": "CREATE TABLE dupes (v int);\nINSERT INTO dupes VALUES (1), (1);",
            "002_unique.sql": "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS dupes_v_key ON dupes (v);",
        });
        await assert.rejects(migrateUp({ databaseUrl: db.url, dir }), (err: any) => {
            assert.match(err.message, /^002_unique\.sql:1: could not create unique index "dupes_v_key"/);
            assert.match(err.message, /no earlier statement of it took effect; it left the INVALID index "dupes_v_key", which IF NOT EXISTS would skip: drop it first with DROP INDEX CONCURRENTLY "dupes_v_key"; /);
            return true;
        });
    });

    it("refuses, before any file runs (even in a step that applies only an earlier file), a file that never commits its own BEGIN, a concurrent statement inside its own BEGIN, and a syntax error", async () => {
        const cases: Array<[string, RegExp]> = [
            ["BEGIN;\nCREATE TABLE never (id int);\n", /^002_bad\.sql:1: the file opens a transaction \(BEGIN\) that it never commits; psql -f would have rolled it back when it exited/],
            [
                "CREATE TABLE t (id int);\nSTART TRANSACTION;\nCREATE INDEX CONCURRENTLY t_idx ON t (id);\nCOMMIT;\n",
                /^002_bad\.sql:3: CREATE INDEX CONCURRENTLY cannot run inside a transaction block, and the file's own START at line 2 opens one; move it after the COMMIT; nothing was applied$/,
            ],
            ["CREATE TABLE fine (id int);\nCREATE TABEL oops (id int);\n", /^002_bad\.sql:2: syntax error: .*; nothing was applied$/],
        ];
        for (const [body, message] of cases) {
            const dir = migrationDir({ "001_first.sql": "CREATE TABLE first (id int);", "002_bad.sql": body });
            await assert.rejects(migrateUp({ databaseUrl: db.url, dir, throughFile: "001_first.sql" }), (err: any) => {
                assert.ok(err instanceof MigrationError);
                assert.match(err.message, message);
                return true;
            });
            assert.equal(await relationExists(db.url, "first"), false, "the earlier file did not run either");
            assert.deepEqual(await trackedFiles(db.url), []);
        }
    });

    it("what a file SETs does not reach the tracking record or the next file (each psql -f was a session of its own)", async () => {
        const dir = migrationDir({
            "001_elsewhere.sql": "CREATE SCHEMA elsewhere;\nSET search_path = elsewhere;\nCREATE TABLE placed (id int);",
            "002_plain.sql": "CREATE TABLE plain (id int);",
        });
        await migrateUp({ databaseUrl: db.url, dir });
        assert.equal(await relationExists(db.url, "elsewhere.placed"), true);
        assert.equal(await relationExists(db.url, "public.plain"), true);
        assert.deepEqual(await trackedFiles(db.url), ["001_elsewhere.sql", "002_plain.sql"]);
    });
});
