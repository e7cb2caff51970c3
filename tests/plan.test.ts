import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { blockingFindings, lintMigrations } from "../components/release/lint";
import { readMigrationDir } from "../components/release/migrationFiles";
import { runStack } from "./harness/program";
import { migrationDir, shippedMigrationsWith } from "./helpers/migrations";


describe("migration lint (libpg-query) and the release plan", () => {
    it("flags every locking or destructive operation, with file and line", async () => {
        const dir = migrationDir({
            "030_risky.sql": [
                "CREATE TABLE fresh (id int);",
                "CREATE INDEX fresh_id_idx ON fresh (id);",
                "DROP TABLE old_reports;",
                "ALTER TABLE users DROP COLUMN legacy_flag;",
                "ALTER TABLE trades ALTER COLUMN price TYPE numeric(30,10);",
                "ALTER TABLE users ADD COLUMN tier text NOT NULL;",
                "ALTER TABLE users ADD COLUMN nickname text NOT NULL DEFAULT '';",
                "ALTER TABLE bubbles ADD COLUMN token uuid DEFAULT gen_random_uuid();",
                "ALTER TABLE runs ALTER COLUMN kind SET NOT NULL;",
                "CREATE INDEX runs_status_idx ON runs (status);",
                "TRUNCATE ai_usage_monthly;",
                "ALTER TABLE summary_packs RENAME COLUMN range TO period;",
            ].join("\n"),
        });
        const files = readMigrationDir(dir);
        const findings = await lintMigrations(files);
        assert.deepEqual(findings.map((f) => [f.line, f.operation, f.destructive]), [
            [3, "DROP TABLE old_reports", true],
            [4, "DROP COLUMN users.legacy_flag", true],
            [5, "ALTER COLUMN trades.price TYPE numeric(30,10)", true], // type not declared in the files: may rewrite
            [6, "ADD COLUMN users.tier NOT NULL without a default", true],
            [8, "ADD COLUMN bubbles.token DEFAULT gen_random_uuid()", true],
            [9, "SET NOT NULL on runs.kind", false],
            [10, "CREATE INDEX runs_status_idx ON runs", false],
            [11, "TRUNCATE ai_usage_monthly", true],
            [12, "RENAME range TO period", true],
        ]);
        assert.equal(blockingFindings(findings, files).length, 7);
    });

    it("a file marked reviewed passes; a concurrent index passes", async () => {
        const dir = migrationDir({
            "031_drop.sql": "-- gatehouse:reviewed (jane, 2026-11-20: reports moved to the warehouse)\nDROP TABLE old_reports;\n",
            "032_index.sql": "-- gatehouse:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS runs_status_idx ON runs (status);\n",
        });
        const files = readMigrationDir(dir);
        const findings = await lintMigrations(files);
        assert.deepEqual(findings.map((f) => f.operation), ["DROP TABLE old_reports"]);
        assert.deepEqual(blockingFindings(findings, files), []);
    });

    it("the shipped migrations have nothing destructive", async () => {
        const files = readMigrationDir(path.join(__dirname, "..", "demo", "migrations"));
        const findings = await lintMigrations(files);
        assert.deepEqual(blockingFindings(findings, files), []);
        assert.deepEqual(findings.map((f) => `${f.file}:${f.line} ${f.operation}`), ["021_ai_allowlist.sql:7 CREATE INDEX idx_users_ai_allowlisted_true ON users"]);
    });

    it("fails the preview on an unreviewed destructive migration, naming file, line and the fix", async () => {
        const dir = shippedMigrationsWith({ "023_drop_streaks.sql": "ALTER TABLE user_streaks DROP COLUMN longest_streak;\n" });
        await assert.rejects(runStack("local", { preview: true, set: { migrationsDir: dir } }), (err: any) => {
            assert.match(err.message, /release blocked: 1 destructive operation\(s\) in migrations not marked as reviewed:\n  - 023_drop_streaks\.sql:1: DROP COLUMN user_streaks\.longest_streak/);
            assert.match(err.message, /add the line "-- gatehouse:reviewed" to the file/);
            return true;
        });
    });

    it("a typmod relaxation on a column a baselined file declared is a warning: the preview goes through (issue 13)", async () => {
        const dir = shippedMigrationsWith({
            "015_trades.sql": "CREATE TABLE trades (id bigint PRIMARY KEY, price NUMERIC(30,10) NOT NULL);\n",
            "023_trades_price.sql": "ALTER TABLE trades ALTER COLUMN price TYPE NUMERIC USING price::NUMERIC;\n",
        });
        const run = await runStack("prod", { set: { migrationsDir: dir } });
        const plan: string = run.outputs.releasePlan;
        assert.match(plan, /\n  lint warning 023_trades_price\.sql:1: ALTER COLUMN trades\.price TYPE numeric: no table rewrite \(numeric\(30,10\) → numeric drops the typmod/);
        assert.ok(!plan.includes("015_trades.sql"), "the baselined file informs the lint but is not part of the release");
    });

    it("plans a release with pending migrations: images, files with checksums, expectations, gate checks, steps and a graph", async () => {
        const dir = shippedMigrationsWith({ "023_streak_badges.sql": "ALTER TABLE user_streaks ADD COLUMN badge text;\n" });
        const run = await runStack("prod", { set: { migrationsDir: dir } });
        const plan: string = run.outputs.releasePlan;
        assert.match(plan, /^Release 2026-11-22\.1 of kifu \(aws, production\)/);
        assert.match(plan, /backend blue: 123456789012\.dkr\.ecr\.ap-northeast-2\.amazonaws\.com\/kifu-backend:2026-11-22\.1/);
        assert.match(plan, /baseline: up to 019 applied by hand/);
        assert.match(plan, /  023_streak_badges\.sql  sha256 [0-9a-f]{16}\n/);
        assert.ok(!plan.includes("001_initial_schema.sql"), "baselined files are not part of the release");
        assert.match(plan, /checks\/kifu\.schema\.yaml: 2 checklist check\(s\), 2 app-specific extra\(s\)\n {4}checklist: 2-1 users\.ai_allowlisted exists \(1 table\(s\), 0 index\(es\)\)\n/);
        assert.match(plan, / {4}extra: 021 allowlist index \(0 table\(s\), 1 index\(es\)\)\n {4}row counts reported before and after \(never failed\): runs, summary_packs\n/);
        // Production: the allowlist is enforced (AI_REQUIRE_ALLOWLIST=true), registration is skipped, POSTs go once.
        assert.match(plan, /POST \/api\/v1\/ai\/one-shot -> 403  \(ai one-shot refused by the allowlist\)  \[once\]\n/);
        assert.match(plan, /POST \/api\/v1\/auth\/register -> 200  \(register a smoke user \(not in production\)\)  \[once; skipped here: when !production; creates user \$\{email\}\]/);
        assert.match(plan, /GET \/api\/v1\/market\/klines\?symbol=BTCUSDT&interval=1d&limit=5 -> 200  \(market klines\)  \[external\]/);
        // The real app's pack defect, declared in the stack: listed with its reason, and on its check.
        assert.match(plan, /\nKNOWN APP DEFECTS \(gateKnownDefects, .*\):\n  generate pack -> 500 PACK_SAVE_FAILED\n    reason: kifu's pack service stores a nil normalization_warnings in a NOT NULL column \(internal\/services\/summary_pack_service\.go\) unless the pack has a warning\n/);
        assert.match(plan, /POST \/api\/v1\/packs\/generate -> 200  \(generate pack\)  \[once; known defect declared: 500 PACK_SAVE_FAILED; creates summary pack \$\{pack_id\}\]/);
        assert.match(plan, /Steps, in order:\n  1\. RDS snapshot \(kept\)\n  2\. migration 020_guided_review\.sql\n  3\. migration 021_ai_allowlist\.sql\n  4\. migration 022_create_runs_and_summary_packs\.sql\n  5\. migration 023_streak_badges\.sql\n  6\. schema verification\n  7\. backend blue slot\n  8\. backend health gate\n  9\. backend promotion/);
        assert.match(run.outputs.releaseGraph, /^graph TD\n  s1\["RDS snapshot \(kept\)"\]/);
        assert.match(run.outputs.releaseGraph, /  s5 --> s6/);
    });
});

describe("the release plan against a database the deployer reaches (local target)", () => {
    it("marks applied and pending files, and lints only the pending ones", async () => {
        const { freshDatabase } = await import("./helpers/postgres");
        const { migrateUp } = await import("../components/release/runner");
        const db = await freshDatabase("plan");
        try {
            const dir = shippedMigrationsWith({ "023_drop_longest.sql": "ALTER TABLE user_streaks DROP COLUMN longest_streak;\n" });
            // 023 was reviewed and applied long ago; its marker has since been lost: applied files are not linted again.
            await migrateUp({ databaseUrl: db.url, dir });
            fs.writeFileSync(path.join(dir, "024_badges.sql"), "ALTER TABLE user_streaks ADD COLUMN badge text;\n");
            const runs = await runStack("local", { set: { migrationsDir: dir }, secrets: { localDatabaseUrl: db.url } });
            const plan: string = runs.outputs.releasePlan;
            assert.match(plan, /  022_create_runs_and_summary_packs\.sql  sha256 [0-9a-f]{16}  applied\n/);
            assert.match(plan, /  023_drop_longest\.sql  sha256 [0-9a-f]{16}  applied\n/);
            assert.match(plan, /  024_badges\.sql  sha256 [0-9a-f]{16}  pending\n  1 pending\n/);
            assert.ok(!plan.includes("DESTRUCTIVE"), plan);
        } finally {
            await db.drop();
        }
    });
});
