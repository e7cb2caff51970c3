import { strict as assert } from "assert";
import * as path from "path";
import { SchemaVerificationError, readExpectations, verifySchema } from "../components/release/verify";
import { migrateUp } from "../components/release/runner";
import { freshDatabase, sql } from "./helpers/postgres";

const ROOT = path.join(__dirname, "..");

describe("schema verification (real PostgreSQL)", () => {
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    beforeEach(async () => {
        db = await freshDatabase("verify");
    });
    afterEach(async () => {
        await db.drop();
    });

    it("the first app's migrations satisfy its checklist's verification queries", async () => {
        await migrateUp({ databaseUrl: db.url, dir: path.join(ROOT, "migrations") });
        const result = await verifySchema(db.url, readExpectations(path.join(ROOT, "checks/kifu.schema.yaml")));
        assert.equal(result.missing.length, 0);
        assert.ok(result.checked >= 30);
        // The seed's own queries, verbatim in spirit.
        const column = await sql(db.url, "SELECT column_name FROM information_schema.columns WHERE table_schema='public' AND table_name='users' AND column_name='ai_allowlisted'");
        assert.equal(column.length, 1);
        const tables = await sql(db.url, "SELECT table_name FROM information_schema.tables WHERE table_schema='public' AND table_name IN ('runs','summary_packs','guided_reviews','guided_review_items','user_streaks')");
        assert.equal(tables.length, 5);
        assert.deepEqual(await sql(db.url, "SELECT COUNT(*)::int AS runs_count FROM runs"), [{ runs_count: 0 }]);
    });

    it("the second app's expectations pass on its schema and name what an unfinished migration lacks", async () => {
        const expectations = readExpectations(path.join(ROOT, "checks/routine.schema.yaml"));
        const fixtures = path.join(ROOT, "tests/fixtures/routine-migrations");
        await migrateUp({ databaseUrl: db.url, dir: fixtures, through: "001" });
        await assert.rejects(verifySchema(db.url, expectations), (err: any) => {
            assert.ok(err instanceof SchemaVerificationError);
            assert.deepEqual(err.missing, [
                "column notifications.reason_code is missing",
                "column notifications.provider_response_code is missing",
                "column notifications.failure_reason is missing",
                "column notifications.last_error_at is missing",
                "column webhook_events.schema_version is missing",
                "column webhook_events.signature_state is missing",
                "column webhook_events.retry_count is missing",
            ]);
            return true;
        });
        await migrateUp({ databaseUrl: db.url, dir: fixtures });
        assert.equal((await verifySchema(db.url, expectations)).missing.length, 0);
    });

    it("names a missing table, primary key, unique constraint and index", async () => {
        await sql(db.url, "CREATE TABLE users (id int, email text)");
        await assert.rejects(
            verifySchema(db.url, {
                schema: "public",
                tables: {
                    users: { columns: ["id", "email"], primaryKey: ["id"], unique: [["email"]] },
                    runs: { columns: [], unique: [] },
                },
                indexes: [{ table: "users", columns: ["email"] }],
            }),
            (err: any) => {
                assert.deepEqual(err.missing, [
                    "table users has no primary key, expected (id)",
                    "unique constraint on users (email) is missing",
                    "table public.runs is missing",
                    "index on (email) on users is missing",
                ]);
                return true;
            },
        );
    });

    it("rejects a malformed expectations file naming the file and field", () => {
        const fs = require("fs");
        const file = path.join(require("os").tmpdir(), `gh-bad-${process.pid}.yaml`);
        fs.writeFileSync(file, "tables:\n  users:\n    primaryKey: []\n");
        assert.throws(() => readExpectations(file), new RegExp(`${file}: not a valid schema expectations file:\\n  tables\\.users\\.primaryKey`));
    });
});
