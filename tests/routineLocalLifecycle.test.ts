import { strict as assert } from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { EngineState, Executed, executingAnswer } from "./harness/executor";
import { runStack } from "./harness/program";
import { REPO_ROOT } from "./harness/stackConfig";
import { ClientLoop } from "./helpers/clientLoop";
import { localStackLifecycle, serving, slotRecords, workerRecord } from "./helpers/localStack";
import { localPorts } from "./helpers/ports";
import { sql } from "./helpers/postgres";
import { alive } from "../components/local/processes";

// The second app's local stack (Pulumi.routine-local.yaml) as an operator
// lives through it: API behind an edge with two slots, the worker/scheduler,
// PostgreSQL and the machine's Redis, migrations in command mode with
// node-pg-migrate (the rehearsal runs the round trip). Release 1, release 2
// with a new migration, release 3 whose API fails its gate, then back to
// release 2's config. Users (a client loop through the edge) never see a
// failed request or an ungated release, and the worker keeps writing each
// day's notification exactly once throughout.
describe("the routine local stack across releases: API slots, worker, command-mode migrations (executing harness)", function () {
    this.timeout(300_000);
    const stackName = `routine-life-${crypto.randomBytes(3).toString("hex")}`;
    const life = localStackLifecycle(stackName, "routine_life");
    const stateDir = life.stateDir;
    const prefix = `gatehouse-test-${crypto.randomBytes(4).toString("hex")}:`;
    const engine = new EngineState();
    const executed: Executed[] = [];
    // A copy of the stand-in's node-pg-migrate files, so release 2 can add one.
    const migrations = fs.mkdtempSync(path.join(os.tmpdir(), "gh-routine-pgm-"));
    for (const f of fs.readdirSync(path.join(REPO_ROOT, "demo/routine-pgm"))) fs.copyFileSync(path.join(REPO_ROOT, "demo/routine-pgm", f), path.join(migrations, f));

    const release = (id: string, head: string, set: Record<string, unknown> = {}) => {
        executed.length = 0;
        return runStack("routine-local", {
            stackName,
            answer: executingAnswer(executed, engine),
            set: {
                release: id,
                ...localPorts(life.port),
                bakeSeconds: 1,
                migrationCommand: `node_modules/.bin/node-pg-migrate up -m ${migrations} --no-verbose`,
                migrationDownCommand: `node_modules/.bin/node-pg-migrate down -m ${migrations} --no-verbose`,
                migrationHead: head,
                // The scheduler ticks often and every key lives under this run's prefix in the machine's Redis.
                workerEnv: ["SCHEDULER_INTERVAL_MS=200", `REDIS_KEY_PREFIX=${prefix}`],
                ...set,
            },
            secrets: { localDatabaseUrl: life.db.url, localRedisUrl: "redis://127.0.0.1:6379" },
        });
    };
    const api = () => `http://127.0.0.1:${life.port}`;
    const applied = async () => (await sql(life.db.url, "SELECT name FROM pgmigrations ORDER BY id")).map((r) => r.name);
    /** A new user, and the day's notification the worker writes for it (the worker is working). */
    const workerServesNewUser = async (kakaoId: string) => {
        const [user] = await sql(life.db.url, "INSERT INTO users (kakao_user_id, name) VALUES ($1, $1) RETURNING id", [kakaoId]);
        const deadline = Date.now() + 30_000;
        while (Date.now() < deadline) {
            const rows = await sql(life.db.url, "SELECT idempotency_key FROM notifications WHERE user_id = $1", [user.id]);
            if (rows.length > 0) return rows.map((r) => r.idempotency_key);
            await new Promise((r) => setTimeout(r, 100));
        }
        assert.fail(`the worker wrote no notification for user ${kakaoId} in 30 s`);
    };
    const noDuplicates = async () => {
        const [row] = await sql(life.db.url, "SELECT count(*)::int AS rows, count(DISTINCT (user_id, idempotency_key))::int AS distinct_rows FROM notifications");
        assert.equal(row.rows, row.distinct_rows);
    };

    it("release 1: migrated by node-pg-migrate (round trip rehearsed), gated, switched; the worker writes notifications", async () => {
        await release("r1", "003_workout_plans");
        assert.deepEqual(await serving(`${api()}/healthz`), { status: 200, slot: "blue", release: "r1" });
        assert.deepEqual(await applied(), ["001_initial_persistence_schema", "002_add_operability_fields", "003_workout_plans"]);
        assert.match(executed.find((e) => e.name.endsWith("rehearsal"))!.stdout, /round trip/);
        assert.equal(workerRecord(stateDir)?.release, "r1");
        const keys = await workerServesNewUser("kakao-1");
        assert.equal(keys.length, 1);
        assert.match(keys[0], /^daily:[0-9a-f-]{36}:\d{4}-\d{2}-\d{2}$/);
        life.users = new ClientLoop([`${api()}/healthz`]);
    });

    it("release 2 with a new migration: the API switches after its gate, then the worker changes over without a gap", async () => {
        const before = workerRecord(stateDir)!;
        fs.writeFileSync(
            path.join(migrations, "004_release_notes.sql"),
            "-- Up Migration\nCREATE TABLE release_notes (id bigserial PRIMARY KEY, body text NOT NULL);\n-- Down Migration\nDROP TABLE release_notes;\n",
        );
        await release("r2", "004_release_notes");
        assert.deepEqual(await serving(`${api()}/healthz`), { status: 200, slot: "green", release: "r2" });
        assert.equal(slotRecords(stateDir).blue?.release, "r1", "release 1 stays as standby");
        assert.deepEqual((await applied()).slice(-1), ["004_release_notes"]);
        const worker = workerRecord(stateDir)!;
        assert.equal(worker.release, "r2");
        assert.ok(!alive(before.pid), "the previous worker was stopped once the new one was alive");
        await workerServesNewUser("kakao-2");
        await noDuplicates();
    });

    it("release 3, whose API cannot reach Redis, fails its gate: the edge, the live slot and the worker stay as they were", async () => {
        const before = { live: slotRecords(stateDir).green, worker: workerRecord(stateDir), applied: await applied() };
        // /readyz checks Redis for real; the gate waits for it (5 s here instead of the spec's 90).
        const spec = path.join(migrations, "..", `${path.basename(migrations)}-gate.yaml`);
        fs.writeFileSync(spec, fs.readFileSync(path.join(REPO_ROOT, "checks/routine.smoke.yaml"), "utf8").replace(/^deadlineSeconds: \d+$/m, "deadlineSeconds: 5"));
        await assert.rejects(
            release("r3", "004_release_notes", { localAppCommand: "env REDIS_URL=redis://127.0.0.1:1 node .gatehouse/build/demo-routine.js", gateSpec: spec }),
            /FAIL readyz[\s\S]*Release r3 is not promoted/,
        );
        assert.deepEqual(await serving(`${api()}/healthz`), { status: 200, slot: "green", release: "r2" });
        assert.deepEqual(slotRecords(stateDir).green, before.live);
        assert.deepEqual(workerRecord(stateDir), before.worker);
        assert.ok(alive(before.worker!.pid), "release 2's worker still runs");
        assert.deepEqual(await applied(), before.applied);
        await workerServesNewUser("kakao-3");
    });

    it("back to release 2's config: a switch; no migration command, no restart, the worker untouched", async () => {
        const before = { live: slotRecords(stateDir).green, worker: workerRecord(stateDir), applied: await applied() };
        const run = await release("r2", "004_release_notes");
        assert.match(run.outputs.releasePlan, /ROLLBACK: release r2 was promoted before/);
        assert.match(run.outputs.releasePlan, /neither the rehearsal nor the migration command runs/);
        assert.deepEqual(executed.filter((e) => /snapshot|rehearsal|migrate|verify-schema/.test(e.name)).map((e) => e.name), []);
        assert.match(run.outputs.gateReport, /health gate skipped/);
        assert.deepEqual(await serving(`${api()}/healthz`), { status: 200, slot: "green", release: "r2" });
        assert.deepEqual(slotRecords(stateDir).green, before.live, "same process");
        assert.deepEqual(workerRecord(stateDir), before.worker, "the worker was not restarted");
        assert.deepEqual(await applied(), before.applied);
        await workerServesNewUser("kakao-4");
        await noDuplicates();
    });

    it("the users' loop through the edge: no request failed, and only gated releases answered", async () => {
        await life.usersSawOnly(["r1", "r2"]);
    });
});
