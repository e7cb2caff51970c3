import { strict as assert } from "assert";
import { ChildProcess, execFile, spawn } from "child_process";
import * as crypto from "crypto";
import * as path from "path";
import { ensureCliBuild } from "../components/release/cliBuild";
import { migrateUp } from "../components/release/runner";
import { RedisConnection } from "../demo/routineLib";
import { routineKeys } from "../demo/routineWorker";
import { freshDatabase, sql } from "./helpers/postgres";
import { ROUTINE_MIGRATIONS } from "./helpers/standIns";

// The routine stand-in's scheduler/worker as real processes (the bundle the
// local target runs) on a fresh database and the machine's Redis, each test
// under a key prefix of its own. Waits have a deadline only so a broken
// worker fails the test instead of hanging it; nothing asserts on time.

const BUNDLE = path.join(__dirname, "..", ".gatehouse", "build", "demo-routine.js");
const REDIS_URL = process.env.GATEHOUSE_TEST_REDIS_URL ?? "redis://127.0.0.1:6379/0";

interface Worker {
    child: ChildProcess;
    output(): string;
    stop(signal?: NodeJS.Signals): Promise<void>;
}

describe("routine worker: scheduled notifications through Redis, written once", function () {
    this.timeout(120_000);
    let databaseUrl: string;
    let dropDatabase: () => Promise<void>;
    let env: Record<string, string>;
    let keys: ReturnType<typeof routineKeys>;
    let redis: RedisConnection;
    const workers: Worker[] = [];

    before(() => ensureCliBuild());
    beforeEach(async () => {
        const db = await freshDatabase("routine_worker");
        [databaseUrl, dropDatabase] = [db.url, db.drop];
        await migrateUp({ databaseUrl, dir: ROUTINE_MIGRATIONS });
        const prefix = `gh-test-${crypto.randomBytes(4).toString("hex")}:`;
        keys = routineKeys(prefix);
        env = { PATH: process.env.PATH ?? "", DATABASE_URL: databaseUrl, REDIS_URL, REDIS_KEY_PREFIX: prefix, SCHEDULER_INTERVAL_MS: "100", WORKER_HEARTBEAT_TTL_MS: "900" };
        redis = await RedisConnection.open(REDIS_URL);
    });
    afterEach(async () => {
        await Promise.all(workers.splice(0).map((w) => w.stop("SIGKILL")));
        const found = (await redis.call("KEYS", `${env.REDIS_KEY_PREFIX}*`)) as string[];
        if (found.length) await redis.call("DEL", ...found);
        redis.close();
        await dropDatabase();
    });

    const startWorker = (release: string, extra: Record<string, string> = {}): Worker => {
        const child = spawn(process.execPath, [BUNDLE, "worker"], { env: { ...env, GATEHOUSE_RELEASE: release, ...extra }, stdio: ["ignore", "pipe", "pipe"] });
        let output = "";
        child.stdout!.on("data", (d) => (output += d));
        child.stderr!.on("data", (d) => (output += d));
        const worker: Worker = {
            child,
            output: () => output,
            stop: (signal = "SIGTERM") =>
                new Promise((resolve) => {
                    if (child.exitCode !== null || child.signalCode !== null) return resolve();
                    child.on("exit", () => resolve());
                    child.kill(signal);
                }),
        };
        workers.push(worker);
        return worker;
    };
    const workerCheck = (release: string) =>
        new Promise<{ code: number; line: string }>((resolve) => {
            execFile(process.execPath, [BUNDLE, "worker-check"], { env: { ...env, GATEHOUSE_RELEASE: release } }, (err, stdout) => resolve({ code: err ? Number(err.code) : 0, line: stdout.trim() }));
        });
    const addUsers = async (from: number, to: number) => {
        // Users are keyed by UUID; user i gets one that ends in i, so the notifications can be matched to it.
        await sql(databaseUrl, "INSERT INTO users (id, kakao_user_id, name) SELECT ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'kakao-' || i, 'user ' || i FROM generate_series($1::int, $2::int) AS i", [from, to]);
    };
    const notifications = async () => (await sql(databaseUrl, "SELECT count(*)::int AS n FROM notifications"))[0].n as number;
    const until = async (what: string, condition: () => Promise<boolean>, detail = () => workers.map((w) => w.output()).join("\n---\n")) => {
        const deadline = Date.now() + 60_000;
        while (!(await condition())) {
            if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}:\n${detail()}`);
            await new Promise((r) => setTimeout(r, 50));
        }
    };
    const count = (text: string, pattern: RegExp) => [...text.matchAll(pattern)].reduce((n, m) => n + (m[1] === undefined ? 1 : Number(m[1])), 0);
    /** Each user has exactly one notification, for today (UTC), keyed daily:<user>:<date>. */
    const assertOnePerUserAndDay = async (users: number) => {
        const rows = await sql(databaseUrl, "SELECT user_id::text AS user_id, count(*)::int AS n, min(idempotency_key) AS key FROM notifications GROUP BY user_id ORDER BY user_id");
        const today = new Date().toISOString().slice(0, 10);
        const id = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
        assert.deepEqual(rows, Array.from({ length: users }, (_, i) => ({ user_id: id(i + 1), n: 1, key: `daily:${id(i + 1)}:${today}` })));
    };
    /** Jobs on the queue or taken and not done. */
    const waiting = async () => {
        const processing = (await redis.call("KEYS", keys.processing("*"))) as string[];
        const lengths = (await Promise.all([keys.queue, ...processing].map((k) => redis.call("LLEN", k)))) as number[];
        return lengths.reduce((a, b) => a + b, 0);
    };
    const queuesEmpty = async () => (await waiting()) === 0;

    it("two workers of different releases, both scheduling, write every (user, day) notification exactly once, also while one stops", async () => {
        await addUsers(1, 20);
        const old = startWorker("r1", { WORKER_JOB_DELAY_MS: "10" });
        const next = startWorker("r2", { WORKER_JOB_DELAY_MS: "10" });
        await until("20 notifications", async () => (await notifications()) === 20);
        // New users while both schedulers tick.
        await addUsers(21, 40);
        await until("40 notifications", async () => (await notifications()) === 40);
        // The changeover: the old release stops, the new one goes on alone.
        await old.stop();
        await addUsers(41, 50);
        await until("50 notifications and empty queues", async () => (await notifications()) === 50 && (await queuesEmpty()));
        await assertOnePerUserAndDay(50);
        const logs = old.output() + next.output();
        assert.equal(count(logs, /scheduler: (\d+) daily notification job\(s\)/g), 50, `each (user, day) enqueued once by the two schedulers:\n${logs}`);
        assert.equal(count(logs, /: daily:[0-9a-f-]{36}:\S+ written/g), 50, logs);
        assert.equal(count(logs, /already written/g), 0, `no job was delivered twice:\n${logs}`);
        assert.match(old.output(), /routine worker r1:\d+:\w+ stopped/);
    });

    it("worker-check exits 1 before a worker of its release runs, 0 once it beats, 1 after it stops", async () => {
        const before = await workerCheck("r7");
        assert.deepEqual(before, { code: 1, line: `worker-check: no live worker of release r7 (no heartbeat at ${keys.heartbeat("r7")})` });
        const worker = startWorker("r7");
        await until("worker-check r7 to pass", async () => (await workerCheck("r7")).code === 0);
        assert.match((await workerCheck("r7")).line, /^worker-check: release r7 alive \(worker r7:\d+:\w+\)$/);
        assert.equal((await workerCheck("r8")).code, 1, "another release's worker does not count");
        await worker.stop();
        assert.equal((await workerCheck("r7")).code, 1, "a stopped worker removes its heartbeat");
        const noRedis = await new Promise<{ code: number; line: string }>((resolve) =>
            execFile(process.execPath, [BUNDLE, "worker-check"], { env: { ...env, REDIS_URL: "redis://127.0.0.1:1/0" } }, (err, stdout) => resolve({ code: Number(err?.code ?? 0), line: stdout.trim() })),
        );
        assert.equal(noRedis.code, 1);
        assert.match(noRedis.line, /^worker-check: Redis did not answer: .*ECONNREFUSED/);
    });

    it("a worker killed in mid-job loses nothing: another one puts its job back and writes it", async () => {
        await addUsers(1, 5);
        // It holds every job it takes far longer than the test runs.
        const stuck = startWorker("r1", { WORKER_JOB_DELAY_MS: "600000" });
        let held = "";
        await until("the first worker to hold a job", async () => {
            for (const id of (await redis.call("SMEMBERS", keys.workers)) as string[]) if ((await redis.call("LLEN", keys.processing(id))) === 1) held = id;
            return held !== "";
        });
        await stuck.stop("SIGKILL");
        const rescuer = startWorker("r2");
        await until("5 notifications and empty queues", async () => (await notifications()) === 5 && (await queuesEmpty()));
        await assertOnePerUserAndDay(5);
        assert.match(rescuer.output(), new RegExp(`worker ${held} has no heartbeat: 1 job\\(s\\) it had taken put back on the queue`));
        assert.doesNotMatch(stuck.output(), /written/);
        assert.deepEqual(await redis.call("SMEMBERS", keys.workers), [(rescuer.output().match(/routine worker (\S+) started/) ?? [])[1]]);
    });

    it("NOTIFICATION_SEND_CAP holds the notifications of an hour at the cap; the rest wait on the queue", async () => {
        await addUsers(1, 5);
        const worker = startWorker("r1", { NOTIFICATION_SEND_CAP: "3" });
        await until("the cap to be reached", async () => worker.output().includes("send cap of 3 per hour reached"));
        assert.equal(await notifications(), 3);
        assert.equal(await waiting(), 2, worker.output());
    });
});
