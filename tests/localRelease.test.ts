import { strict as assert } from "assert";
import { freeStackPorts, localPorts, stopLocalStack } from "./helpers/ports";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { EngineState, Executed, executingAnswer } from "./harness/executor";
import { findSecretLeaks } from "./harness/mocks";
import { RunFailure, RunOptions, runStack } from "./harness/program";
import { REPO_ROOT } from "./harness/stackConfig";
import { shippedMigrationsWith } from "./helpers/migrations";
import { freshDatabase, sql } from "./helpers/postgres";

// The whole program on the local stack, with mocks that execute every command
// resource and the serialized health-gate provider, against real PostgreSQL
// and the demo app.
describe("a local release, executed for real", function () {
    this.timeout(180_000);
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    let stackName: string;
    let port: number;
    let executed: Executed[];
    let engine: EngineState;

    beforeEach(async () => {
        db = await freshDatabase("release");
        stackName = `local-test-${crypto.randomBytes(3).toString("hex")}`;
        port = await freeStackPorts();
        executed = [];
        engine = new EngineState();
    });
    afterEach(async () => {
        stopLocalStack(`.gatehouse/${stackName}`, REPO_ROOT);
        fs.rmSync(path.join(REPO_ROOT, ".gatehouse", stackName), { recursive: true, force: true });
        await db.drop();
    });

    const release = (id: string, options: RunOptions = {}) =>
        runStack("local", {
            stackName,
            answer: executingAnswer(executed, engine),
            ...options,
            set: { release: id, ...localPorts(port), bakeSeconds: 1, ...(options.set ?? {}) },
            secrets: { localDatabaseUrl: db.url, ...(options.secrets ?? {}) },
        });

    const ran = (fragment: string) => executed.filter((e) => e.name.includes(fragment));
    const trackedFiles = async () =>
        (await sql(db.url, "SELECT version, release_id FROM gatehouse_migrations ORDER BY version")).map((r) => `${r.version}@${r.release_id}`);

    it("applies 020-022 in order, verifies the schema, passes the gate and promotes", async () => {
        const run = await release("r1");
        assert.deepEqual(await trackedFiles(), ["001@r1", "020@r1", "021@r1", "022@r1"]);
        assert.deepEqual(run.outputs.migrationFiles, ["001_initial_schema.sql", "020_guided_review.sql", "021_ai_allowlist.sql", "022_create_runs_and_summary_packs.sql"]);

        // Each step started only after the ones it waits for finished: the deploy to the idle slot
        // runs beside the schema verification, and the gate waits for both.
        const step = (s: string) => {
            const r = run.registrations.find((reg) => reg.name === `kifu-${s}` || reg.name === `kifu-release-${s}` || reg.name.startsWith(`kifu-release-${s}-`));
            assert.ok(r, `no ${s} step registered`);
            return { step: s, start: r.start, end: r.end! };
        };
        const order: [string, string][] = [
            ["rehearsal", "snapshot"], ["migration-001", "rehearsal"], ["migration-020", "migration-001"], ["migration-021", "migration-020"], ["migration-022", "migration-021"],
            ["verify-schema", "migration-022"], ["deploy", "migration-022"], ["frontend-deploy", "migration-022"],
            // The backend's gate waits for the verification too; the frontend's page gate (no database) for its slot only.
            ["release-gate", "verify-schema"], ["release-gate", "deploy"], ["frontend-gate", "frontend-deploy"], ["promote", "release-gate"], ["promote", "frontend-gate"],
        ];
        for (const [later, earlier] of order) {
            assert.ok(step(later).start >= step(earlier).end, `${later} started before ${earlier} finished`);
        }

        assert.ok(fs.existsSync(path.join(REPO_ROOT, run.outputs.snapshotFile)), "the release snapshot exists");
        assert.match(ran("verify-schema")[0].stdout, /schema verified: \d+ expectation\(s\) from checks\/kifu\.schema\.yaml hold/);
        assert.match(run.outputs.gateReport, /health gate passed/);
        const ledger = fs.readFileSync(path.join(REPO_ROOT, ".gatehouse", stackName, "releases.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
        assert.deepEqual(ledger.map((e) => e.release), ["r1"]);
        assert.equal(ledger[0].snapshot, run.outputs.snapshotFile);

        // The smoke checks' data is marked as such.
        const smokeUsers = await sql(db.url, "SELECT smoke_test_release FROM users");
        assert.deepEqual(smokeUsers.map((u) => u.smoke_test_release), ["r1"]);
        assert.deepEqual(findSecretLeaks(run.registrations, run.stack.secretValues), []);
    });

    it("a second release with no changes applies nothing", async () => {
        await release("r1");
        const before = await sql(db.url, "SELECT version, applied_at FROM gatehouse_migrations ORDER BY version");
        executed.length = 0;
        await release("r2");
        assert.deepEqual(await sql(db.url, "SELECT version, applied_at FROM gatehouse_migrations ORDER BY version"), before);
        // The engine leaves applied files' resources alone: their inputs did not change.
        assert.deepEqual(ran("migration-"), []);
        assert.match(ran("rehearsal")[0].stdout, /rehearsal skipped: no pending migrations/);
        assert.deepEqual(executed.map((e) => e.name.replace(/^kifu-(release-)?/, "")).sort(), ["bake", "deploy", "frontend-bake", "frontend-deploy", "frontend-switch", "promote", "rehearsal", "snapshot", "switch", "verify-schema"]);
        const ledger = fs.readFileSync(path.join(REPO_ROOT, ".gatehouse", stackName, "releases.jsonl"), "utf8").trim().split("\n");
        assert.deepEqual(ledger.map((l) => JSON.parse(l).release), ["r1", "r2"], "the new release is gated again and promoted");
    });

    it("running the same release again changes nothing at all", async () => {
        await release("r1");
        executed.length = 0;
        await release("r1");
        assert.deepEqual(executed, []);
    });

    it("a failing migration stops before the deploy step with nothing half-applied", async () => {
        const dir = shippedMigrationsWith({
            "023_broken.sql": "CREATE TABLE pack_tags (id int);\nALTER TABLE summary_packs ADD COLUMN tag_id int REFERENCES no_such_table (id);\n",
        });
        const err = await release("r1", { set: { migrationsDir: dir, rehearsal: false } }).then(
            () => assert.fail("the release succeeded"),
            (e) => e,
        );
        assert.ok(err instanceof RunFailure, String(err));
        assert.match(err.message, /023_broken\.sql:2: relation "no_such_table" does not exist .*the file was rolled back; later files were not applied/);
        assert.deepEqual(await trackedFiles(), ["001@r1", "020@r1", "021@r1", "022@r1"]);
        assert.equal((await sql(db.url, "SELECT to_regclass('pack_tags') IS NULL AS absent"))[0].absent, true);
        for (const step of ["verify-schema", "deploy", "promote"]) assert.deepEqual(ran(step), [], `${step} ran`);
        assert.ok(!err.registrations.some((r: any) => r.name.endsWith("-gate")), "the gate was not even registered");
    });

    it("the rehearsal catches a failing migration before the real database changes at all", async () => {
        await release("r1");
        const dir = shippedMigrationsWith({ "023_broken.sql": "ALTER TABLE nowhere ADD COLUMN x int;\n" });
        executed.length = 0;
        await assert.rejects(release("r2", { set: { migrationsDir: dir } }), /rehearsal failed on a copy of the release snapshot, the real database was not touched: 023_broken\.sql:1/);
        assert.deepEqual(ran("migration-"), []);
        assert.deepEqual(ran("deploy"), []);
        assert.deepEqual(await trackedFiles(), ["001@r1", "020@r1", "021@r1", "022@r1"]);
    });

    it("after down:local (processes stopped, state kept), the same config starts the release again and gates it", async () => {
        await release("r1");
        stopLocalStack(`.gatehouse/${stackName}`, REPO_ROOT);
        await assert.rejects(fetch(`http://127.0.0.1:${port}/health`));
        // What up:local writes when it finds the edge stopped (scripts/up-local.ts, countRestartIfStopped).
        fs.writeFileSync(path.join(REPO_ROOT, ".gatehouse", stackName, "generation"), "1");
        executed.length = 0;
        const run = await release("r1");
        assert.match(run.outputs.gateReport, /health gate passed/);
        assert.deepEqual(executed.filter((e) => /deploy|switch|promote/.test(e.name)).map((e) => e.name).sort(), ["kifu-deploy", "kifu-frontend-deploy", "kifu-frontend-switch", "kifu-promote", "kifu-switch"]);
        assert.deepEqual(ran("migration-"), [], "nothing migrates");
        const health = await fetch(`http://127.0.0.1:${port}/health`);
        assert.equal(((await health.json()) as { release: string }).release, "r1");
    });

    it("after down:local, a new release whose gate fails: up:local's order (the live release back first) leaves users on it; without it, the failure says nothing is live", async () => {
        const teapot = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "gh-spec-")), "gate.yaml");
        fs.writeFileSync(teapot, "deadlineSeconds: 2\nintervalMs: 100\nchecks:\n  - name: teapot\n    request: { path: /health }\n    expect: { status: 418 }\n");
        await release("r1");
        stopLocalStack(`.gatehouse/${stackName}`, REPO_ROOT);
        fs.writeFileSync(path.join(REPO_ROOT, ".gatehouse", stackName, "generation"), "1");
        // Straight to r2: the edge comes back pointing at r1's slot, which nothing restarted.
        await assert.rejects(release("r2", { set: { gateSpec: teapot } }), (err: any) => {
            assert.match(err.message, new RegExp(`Release r2 is not promoted: users get NO working version either: http://127\\.0\\.0\\.1:${port}/health answers 50\\d`));
            assert.doesNotMatch(err.message, /users still get the previous version/);
            return true;
        });
        // up:local's order: r1 again first (gated, switched), then r2.
        stopLocalStack(`.gatehouse/${stackName}`, REPO_ROOT);
        fs.writeFileSync(path.join(REPO_ROOT, ".gatehouse", stackName, "generation"), "2");
        await release("r1");
        await assert.rejects(release("r2", { set: { gateSpec: teapot } }), new RegExp(`users still get the previous version \\(http://127\\.0\\.0\\.1:${port}/health answers 200\\)`));
        const health = await fetch(`http://127.0.0.1:${port}/health`);
        assert.equal(((await health.json()) as { release: string }).release, "r1");
    });

    it("a failing gate blocks promotion and names the failing check", async () => {
        const spec = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "gh-spec-")), "gate.yaml");
        fs.writeFileSync(spec, "deadlineSeconds: 2\nintervalMs: 100\nchecks:\n  - name: teapot\n    request: { path: /health }\n    expect: { status: 418 }\n");
        await assert.rejects(release("r1", { set: { gateSpec: spec } }), (err: any) => {
            assert.match(err.message, /health gate FAILED against http:\/\/127\.0\.0\.1:\d+/);
            assert.match(err.message, /FAIL teapot: failed after \d+ attempt\(s\) — status 200/);
            assert.match(err.message, /Release r1 is not promoted/);
            return true;
        });
        assert.deepEqual(ran("promote"), []);
        assert.ok(!fs.existsSync(path.join(REPO_ROOT, ".gatehouse", stackName, "releases.jsonl")), "no ledger entry");
    });

    it("a candidate that crashes during the bake window is switched away from automatically, and the update fails", async () => {
        await release("r1");
        // Passes its gate, then dies 3 s after it started: inside the 8 s bake window.
        const crashing = "sh -c 'node .gatehouse/build/demo-server.js & app=$!; sleep 3; kill $app'";
        await assert.rejects(release("r2", { set: { localAppCommand: crashing, bakeSeconds: 8 } }), (err: any) => {
            assert.match(err.message, /bake window FAILED: release r2 turned unhealthy [\d.]+ s after promotion \(\/health: ECONNREFUSED\); the edge switched back to blue \(release r1\)\. Release r2 is not promoted\./);
            return true;
        });
        const health = await fetch(`http://127.0.0.1:${port}/health`);
        assert.equal(((await health.json()) as { release: string }).release, "r1");
        assert.equal(health.headers.get("x-gatehouse-slot"), "blue");
        const ledger = fs.readFileSync(path.join(REPO_ROOT, ".gatehouse", stackName, "releases.jsonl"), "utf8").trim().split("\n");
        assert.deepEqual(ledger.map((l) => JSON.parse(l).release), ["r1"], "r2 never made it into the ledger");
    });
});
