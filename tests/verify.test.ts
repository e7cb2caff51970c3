import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Expectations, SchemaVerificationError, countRowsInSnapshot, readExpectations, verifySchema } from "../components/release/verify";
import { migrateUp } from "../components/release/runner";
import { takeSnapshot } from "../components/release/snapshot";
import { freshDatabase, sql } from "./helpers/postgres";

const ROOT = path.join(__dirname, "..");
const KIFU = path.join(ROOT, "checks/kifu.schema.yaml");
const ROUTINE = path.join(ROOT, "checks/routine.schema.yaml");

/** Expectations with one checklist group, as a file would give them. */
function oneGroup(group: Partial<Expectations["checklist"][string]>, rowCounts: string[] = []): Expectations {
    return { schema: "public", checklist: { "the group": { tables: {}, indexes: [], ...group } }, extras: {}, rowCounts };
}

function writeTemp(text: string): string {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "gh-expect-")), "schema.yaml");
    fs.writeFileSync(file, text);
    return file;
}

describe("schema verification (real PostgreSQL)", () => {
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    beforeEach(async () => {
        db = await freshDatabase("verify");
    });
    afterEach(async () => {
        await db.drop();
    });

    it("the first app's migrations satisfy its checklist's checks and its named extras", async () => {
        await migrateUp({ databaseUrl: db.url, dir: path.join(ROOT, "demo", "migrations") });
        const result = await verifySchema(db.url, readExpectations(KIFU));
        assert.deepEqual(result.missing, []);
        assert.equal(result.checked, 12);
        assert.deepEqual(result.rowCounts, [
            { table: "runs", after: 0 },
            { table: "summary_packs", after: 0 },
        ]);
        // The checklist's own 2-1 queries, verbatim.
        const column = await sql(db.url, "SELECT column_name FROM information_schema.columns WHERE table_schema='public' AND table_name='users' AND column_name='ai_allowlisted'");
        assert.equal(column.length, 1);
        const tables = await sql(db.url, "SELECT table_name FROM information_schema.tables WHERE table_schema='public' AND table_name IN ('runs','summary_packs','guided_reviews','guided_review_items','user_streaks')");
        assert.equal(tables.length, 5);
    });

    it("the first app's expectations demand nothing beyond what its real 020-022 are known to create", async () => {
        // Only the facts read from the real files: runs(run_id), summary_packs(pack_id),
        // idx_users_ai_allowlisted_true, users.ai_allowlisted, the five tables. No runs.kind, no position.
        await sql(
            db.url,
            `CREATE TABLE users (id uuid PRIMARY KEY, ai_allowlisted boolean NOT NULL DEFAULT false);
             CREATE INDEX idx_users_ai_allowlisted_true ON users (ai_allowlisted) WHERE ai_allowlisted = true;
             CREATE TABLE runs (run_id uuid PRIMARY KEY);
             CREATE TABLE summary_packs (pack_id uuid PRIMARY KEY, source_run_id uuid REFERENCES runs (run_id));
             CREATE TABLE guided_reviews (id uuid);
             CREATE TABLE guided_review_items (id uuid);
             CREATE TABLE user_streaks (user_id uuid);`,
        );
        assert.deepEqual((await verifySchema(db.url, readExpectations(KIFU))).missing, []);
    });

    it("names each unmet expectation with its group, checklist apart from extras", async () => {
        await sql(db.url, "CREATE TABLE users (id uuid PRIMARY KEY); CREATE TABLE runs (id uuid PRIMARY KEY)");
        await assert.rejects(verifySchema(db.url, readExpectations(KIFU)), (err: any) => {
            assert.ok(err instanceof SchemaVerificationError);
            assert.deepEqual(err.missing, [
                '[checklist "2-1 users.ai_allowlisted exists"] column users.ai_allowlisted is missing',
                '[checklist "2-1 runs, summary_packs, guided_reviews, guided_review_items, user_streaks exist"] table public.summary_packs is missing',
                '[checklist "2-1 runs, summary_packs, guided_reviews, guided_review_items, user_streaks exist"] table public.guided_reviews is missing',
                '[checklist "2-1 runs, summary_packs, guided_reviews, guided_review_items, user_streaks exist"] table public.guided_review_items is missing',
                '[checklist "2-1 runs, summary_packs, guided_reviews, guided_review_items, user_streaks exist"] table public.user_streaks is missing',
                '[extra "022 primary keys runs(run_id), summary_packs(pack_id)"] primary key of runs is (id), expected (run_id)',
                '[extra "022 primary keys runs(run_id), summary_packs(pack_id)"] table public.summary_packs is missing',
                '[extra "021 allowlist index"] index idx_users_ai_allowlisted_true on users is missing',
            ]);
            // Row counts are reported with the failure, never a reason for it.
            assert.match(err.message, /row counts \(reported, never failed\):\n {2}runs: before not known, after 0\n {2}summary_packs: before not known, after \(no table\)/);
            return true;
        });
    });

    it("the second app's expectations pass on its schema and name what an unfinished migration lacks", async () => {
        const expectations = readExpectations(ROUTINE);
        const fixtures = path.join(ROOT, "tests/fixtures/routine-migrations");
        await migrateUp({ databaseUrl: db.url, dir: fixtures, through: "001" });
        await assert.rejects(verifySchema(db.url, expectations), (err: any) => {
            assert.deepEqual(err.missing, [
                '[checklist "GOD-33 step 5 v2 operability columns"] column notifications.reason_code is missing',
                '[checklist "GOD-33 step 5 v2 operability columns"] column notifications.provider_response_code is missing',
                '[checklist "GOD-33 step 5 v2 operability columns"] column notifications.failure_reason is missing',
                '[checklist "GOD-33 step 5 v2 operability columns"] column notifications.last_error_at is missing',
                '[checklist "GOD-33 step 5 v2 operability columns"] column webhook_events.schema_version is missing',
                '[checklist "GOD-33 step 5 v2 operability columns"] column webhook_events.signature_state is missing',
                '[checklist "GOD-33 step 5 v2 operability columns"] column webhook_events.retry_count is missing',
            ]);
            return true;
        });
        await migrateUp({ databaseUrl: db.url, dir: fixtures });
        assert.deepEqual((await verifySchema(db.url, expectations)).missing, []);
    });

    it("a unique check says what it needs: a constraint, or any unique index", async () => {
        await sql(
            db.url,
            `CREATE TABLE t (a int, b int, c int, d int);
             ALTER TABLE t ADD CONSTRAINT t_a_key UNIQUE (a);
             CREATE UNIQUE INDEX t_b_idx ON t (b);
             CREATE UNIQUE INDEX t_c_partial ON t (c) WHERE c > 0;`,
        );
        const check = (columns: string[], kind: "constraint" | "index") =>
            verifySchema(db.url, oneGroup({ tables: { t: { columns: [], unique: [{ columns, kind, because: kind === "constraint" ? "an upsert names it" : undefined }] } } })).then(
                () => "ok",
                (err: SchemaVerificationError) => err.missing[0].replace('[checklist "the group"] ', ""),
            );
        assert.equal(await check(["a"], "constraint"), "ok");
        assert.equal(await check(["a"], "index"), "ok", "a constraint's own index is a unique index");
        assert.equal(await check(["b"], "index"), "ok");
        assert.equal(await check(["b"], "constraint"), "unique constraint on t (b) is missing: the unique index t_b_idx enforces it, but the check asks for a constraint (kind: constraint)");
        assert.equal(await check(["c"], "index"), "unique index on t (c) is missing (a unique constraint would do too)", "a partial unique index is unique only among some rows");
        assert.equal(await check(["d"], "constraint"), "unique constraint on t (d) is missing");
    });

    it("names a missing table, primary key and index", async () => {
        await sql(db.url, "CREATE TABLE users (id int, email text)");
        await assert.rejects(
            verifySchema(db.url, oneGroup({ tables: { users: { columns: ["id", "email"], primaryKey: ["id"], unique: [] }, runs: { columns: [], unique: [] } }, indexes: [{ table: "users", columns: ["email"] }] })),
            (err: any) => {
                assert.deepEqual(
                    err.missing.map((m: string) => m.replace('[checklist "the group"] ', "")),
                    ["table users has no primary key, expected (id)", "table public.runs is missing", "index on (email) on users is missing"],
                );
                return true;
            },
        );
    });

    it("an index check counts a primary key's index, as the checklist's pg_indexes query lists it", async () => {
        await sql(db.url, "CREATE TABLE exercise_set_states (id bigserial PRIMARY KEY)");
        assert.deepEqual((await verifySchema(db.url, oneGroup({ indexes: [{ table: "exercise_set_states" }] }))).missing, []);
    });

    it("reports row counts before (from the release snapshot) and after, and never fails on them", async () => {
        await sql(db.url, "CREATE TABLE runs (run_id int PRIMARY KEY); INSERT INTO runs SELECT g FROM generate_series(1, 3) g");
        const outDir = fs.mkdtempSync(path.join(os.tmpdir(), "gh-snapshots-"));
        const snapshot = (await takeSnapshot({ databaseUrl: db.url, outDir, label: "r1" })).file;
        await sql(db.url, "INSERT INTO runs SELECT g FROM generate_series(4, 5) g; CREATE TABLE summary_packs (pack_id int PRIMARY KEY)");
        const result = await verifySchema(db.url, oneGroup({ tables: { runs: { columns: [], unique: [] } } }, ["runs", "summary_packs", "no_such_table"]), { snapshot });
        assert.deepEqual(result.rowCounts, [
            { table: "runs", before: 3, after: 5 },
            { table: "summary_packs", before: null, after: 0 },
            { table: "no_such_table", before: null, after: null },
        ]);
    });

    it("counts rows in a snapshot exactly, values with newlines and tabs included", async () => {
        await sql(db.url, `CREATE TABLE notes (body text); INSERT INTO notes VALUES (E'line 1\\nline 2'), (E'a\\tb'), (''), (NULL), ('\\.')`);
        const outDir = fs.mkdtempSync(path.join(os.tmpdir(), "gh-snapshots-"));
        const snapshot = (await takeSnapshot({ databaseUrl: db.url, outDir, label: "notes" })).file;
        assert.equal(await countRowsInSnapshot(snapshot, "public", "notes"), 5);
        assert.equal(await countRowsInSnapshot(snapshot, "public", "missing"), null);
    });

    it("rejects a malformed expectations file naming the file and field", () => {
        const bad = writeTemp("checklist:\n  keys:\n    tables:\n      users:\n        primaryKey: []\n");
        assert.throws(() => readExpectations(bad), new RegExp(`${bad}: not a valid schema expectations file:\\n  checklist\\.keys\\.tables\\.users\\.primaryKey`));
    });

    it("takes any unique index by default, asks why where a check demands a constraint, and refuses the old ungrouped form", () => {
        const noKind = writeTemp("checklist:\n  keys:\n    tables:\n      users: { unique: [{ columns: [email] }] }\n");
        assert.equal(readExpectations(noKind).checklist.keys.tables.users.unique[0].kind, "index");
        const unexplained = writeTemp("checklist:\n  keys:\n    tables:\n      users: { unique: [{ columns: [email], kind: constraint }] }\n");
        assert.throws(() => readExpectations(unexplained), /checklist\.keys\.tables\.users\.unique\.0: kind: constraint needs `because`: what in the app needs a constraint rather than any unique index/);
        const explained = writeTemp("checklist:\n  keys:\n    tables:\n      users: { unique: [{ columns: [email], kind: constraint, because: \"upserts ON CONFLICT ON CONSTRAINT users_email_key\" }] }\n");
        assert.equal(readExpectations(explained).checklist.keys.tables.users.unique[0].kind, "constraint");
        const bare = writeTemp("checklist:\n  keys:\n    tables:\n      users: { unique: [[email]] }\n");
        assert.throws(() => readExpectations(bare), /checklist\.keys\.tables\.users\.unique\.0: .*expected object/);
        const old = writeTemp("tables:\n  users: { primaryKey: [id] }\n");
        assert.throws(() => readExpectations(old), /\(top\): Unrecognized key: "tables"/);
        const empty = writeTemp("schema: public\n");
        assert.throws(() => readExpectations(empty), /no checks: add groups under checklist:/);
    });
});
