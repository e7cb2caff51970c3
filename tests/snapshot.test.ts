import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { rehearseMigrations } from "../components/release/rehearsal";
import { migrateUp } from "../components/release/runner";
import { pgToolPath } from "../components/release/pgTools";
import { listSnapshots, restoreSnapshot, takeSnapshot } from "../components/release/snapshot";
import { shippedMigrationsWith } from "./helpers/migrations";
import { freshDatabase, sql } from "./helpers/postgres";

const MIGRATIONS = path.join(__dirname, "..", "demo", "migrations");

/** Tables with row counts and a checksum of their full contents. */
async function fingerprint(url: string): Promise<Record<string, { rows: number; md5: string }>> {
    const tables = await sql(url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1");
    const out: Record<string, { rows: number; md5: string }> = {};
    for (const { table_name } of tables) {
        const [r] = await sql(url, `SELECT count(*)::int AS rows, coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') AS md5 FROM "${table_name}" t`);
        out[table_name] = r;
    }
    return out;
}

async function seedData(url: string): Promise<void> {
    await sql(url, `INSERT INTO users (email, password_hash, display_name, ai_allowlisted)
                    VALUES ('a@example.com', 'x', '김철수', true), ('b@example.com', 'y', NULL, false)`);
    await sql(url, `INSERT INTO trades (user_id, exchange, symbol, side, price, quantity, executed_at)
                    SELECT id, 'upbit', 'KRW-BTC', 'buy', 91234567.12345678, 0.001, now() - (g || ' hours')::interval
                      FROM users, generate_series(1, 500) g`);
    await sql(url, `INSERT INTO runs (user_id, status) SELECT id, 'succeeded' FROM users`);
    await sql(url, `INSERT INTO summary_packs (user_id, source_run_id, range, payload) SELECT user_id, run_id, '30d', '{"pnl": 1.5, "note": "세미콜론;"}' FROM runs`);
}

describe("snapshots (real pg_dump / pg_restore)", () => {
    let source: Awaited<ReturnType<typeof freshDatabase>>;
    let target: Awaited<ReturnType<typeof freshDatabase>>;
    let outDir: string;
    beforeEach(async () => {
        source = await freshDatabase("snap_src");
        target = await freshDatabase("snap_dst");
        outDir = fs.mkdtempSync(path.join(os.tmpdir(), "gh-snapshots-"));
        await migrateUp({ databaseUrl: source.url, dir: MIGRATIONS });
        await seedData(source.url);
    });
    afterEach(async () => {
        await source.drop();
        await target.drop();
    });

    it("restoring into an empty database gives the same tables, row counts and per-table checksums", async () => {
        const record = await takeSnapshot({ databaseUrl: source.url, outDir, label: "2026-11-22.1" });
        assert.ok(path.basename(record.file).startsWith("2026-11-22.1_"));
        assert.ok(record.sizeBytes > 0);
        assert.match(record.sha256, /^[0-9a-f]{64}$/);
        assert.ok(record.tables >= 10, `dump lists ${record.tables} tables`);
        await restoreSnapshot({ snapshot: record.file, databaseUrl: target.url });
        const [before, after] = [await fingerprint(source.url), await fingerprint(target.url)];
        assert.deepEqual(after, before);
        assert.equal(after.trades.rows, 1000);
    });

    it("never restores over a database that has tables", async () => {
        const record = await takeSnapshot({ databaseUrl: source.url, outDir, label: "r" });
        await assert.rejects(restoreSnapshot({ snapshot: record.file, databaseUrl: source.url }), /already has \d+ table\(s\); restore only into a new, empty database/);
    });

    it("refuses a damaged snapshot", async () => {
        const record = await takeSnapshot({ databaseUrl: source.url, outDir, label: "r" });
        const fd = fs.openSync(record.file, "r+");
        fs.writeSync(fd, Buffer.from("garbage"), 0, 7, 100);
        fs.closeSync(fd);
        await assert.rejects(restoreSnapshot({ snapshot: record.file, databaseUrl: target.url }), /does not match its recorded sha256/);
    });

    it("keeps the last N snapshots and leaves nothing behind when a dump fails", async () => {
        for (const label of ["r1", "r2", "r3"]) {
            await takeSnapshot({ databaseUrl: source.url, outDir, label, keep: 2 });
            await new Promise((r) => setTimeout(r, 5));
        }
        assert.deepEqual(listSnapshots(outDir).map((s) => s.label), ["r3", "r2"]);
        const bad = source.url.replace(/\/[^/]+$/, "/no_such_database");
        await assert.rejects(takeSnapshot({ databaseUrl: bad, outDir, label: "r4" }), /snapshot of .* failed, so the release stops before any migration/);
        assert.deepEqual(listSnapshots(outDir).map((s) => s.label), ["r3", "r2"]);
        assert.deepEqual(fs.readdirSync(outDir).filter((f) => f.includes("r4")), []);
    });

    it("rehearses pending migrations on a scratch copy and drops it, leaving the real database alone", async () => {
        const dir = shippedMigrationsWith({ "023_streak_badges.sql": "ALTER TABLE user_streaks ADD COLUMN badge text;" });
        const record = await takeSnapshot({ databaseUrl: source.url, outDir, label: "r" });
        const before = await sql(source.url, "SELECT datname FROM pg_database WHERE starts_with(datname, current_database()) ORDER BY 1");
        const result = await rehearseMigrations({ databaseUrl: source.url, snapshot: record.file, dir });
        assert.deepEqual(result.applied.map((a) => a.file), ["023_streak_badges.sql"]);
        assert.deepEqual(await sql(source.url, "SELECT datname FROM pg_database WHERE starts_with(datname, current_database()) ORDER BY 1"), before);
        const badge = await sql(source.url, "SELECT 1 FROM information_schema.columns WHERE table_name = 'user_streaks' AND column_name = 'badge'");
        assert.equal(badge.length, 0, "the real database must not change");

        fs.writeFileSync(path.join(dir, "024_broken.sql"), "ALTER TABLE nowhere ADD COLUMN x int;");
        await assert.rejects(rehearseMigrations({ databaseUrl: source.url, snapshot: record.file, dir }), /rehearsal failed .* 024_broken\.sql:1: relation "nowhere" does not exist/);
        assert.deepEqual(await sql(source.url, "SELECT datname FROM pg_database WHERE starts_with(datname, current_database()) ORDER BY 1"), before);
    });
});

// The rehearsal of an app's own migration command (alembic): tests/revision.test.ts.

describe("the PostgreSQL client tools a release runs", () => {
    const bin = (dir: string, name: string, target?: string) => {
        const file = path.join(dir, name);
        if (target) fs.symlinkSync(target, file);
        else fs.writeFileSync(file, "#!/bin/sh\n", { mode: 0o755 });
        return file;
    };

    it("runs Debian's pg_wrapper's only choice directly, and leaves any other pg_dump (or several versions) to PATH", function () {
        const wrapper = "/usr/share/postgresql-common/pg_wrapper";
        const versions = fs.existsSync("/usr/lib/postgresql") ? fs.readdirSync("/usr/lib/postgresql").filter((v) => fs.existsSync(`/usr/lib/postgresql/${v}/bin/pg_dump`)) : [];
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgtools-"));
        const other = fs.mkdtempSync(path.join(os.tmpdir(), "pgtools-"));
        try {
            // Not the wrapper (a distribution's own binary, a Homebrew or EDB install): found on PATH as it is.
            bin(other, "pg_dump");
            assert.equal(pgToolPath("pg_dump", other), "pg_dump");
            assert.equal(pgToolPath("pg_dump", path.join(dir, "nowhere")), "pg_dump");
            if (!fs.existsSync(wrapper) || versions.length === 0) return this.skip();
            bin(dir, "pg_dump", wrapper);
            // pg_wrapper(1): with the connection given as a URL it picks a version; with one installed, that one.
            assert.equal(pgToolPath("pg_dump", dir), versions.length === 1 ? `/usr/lib/postgresql/${versions[0]}/bin/pg_dump` : "pg_dump");
            // First match on PATH wins, as for the shell.
            assert.equal(pgToolPath("pg_dump", [other, dir].join(path.delimiter)), "pg_dump");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
            fs.rmSync(other, { recursive: true, force: true });
        }
    });
});
