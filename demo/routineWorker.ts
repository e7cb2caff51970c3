// The routine stand-in's scheduler/worker (`node demo-routine.js worker`) and
// its health check (`worker-check`). Every worker process also schedules;
// several may run at once (the old release's worker keeps running until the
// new one is alive), and no notification is written twice:
//
// - Scheduler, every SCHEDULER_INTERVAL_MS (60000): for each user without
//   today's (UTC) notification, job `daily:<user_id>:<date>` is pushed onto
//   the queue once: SET NX of a marker and LPUSH in one Lua script, so two
//   schedulers ticking at once enqueue it once.
// - Worker: BLMOVE queue -> its own processing list (a job is never only in a
//   worker's memory), INSERT INTO notifications (idempotency_key = the job)
//   ON CONFLICT DO NOTHING, then LREM. The unique idempotency_key is what
//   guarantees one row per user and day; the queue discipline only keeps
//   repeats rare. A job taken by a worker whose heartbeat expired (killed,
//   hung) is moved back onto the queue by any live worker, and written by
//   whoever takes it next; a repeat of a written job writes nothing.
// - Heartbeat, every third of WORKER_HEARTBEAT_TTL_MS (15000): after a
//   database query answers, `heartbeat:<GATEHOUSE_RELEASE>` (and the worker's
//   own key) are set with that TTL. `worker-check` exits 0 while the key of
//   its release exists, 1 with one line saying why otherwise.
// - NOTIFICATION_SEND_CAP (the checklist's send-cap guardrail, section 4; it
//   names no variable, so this name is ours; Gatehouse's notificationSendCap:
//   notifications per hour, 0 or unset = no cap): counted per UTC hour in Redis
//   across all workers; a job over the cap goes back onto the queue until the
//   next hour.
//
// Env: DATABASE_URL, REDIS_URL, GATEHOUSE_RELEASE (dev), the three above,
// REDIS_KEY_PREFIX (routine:, every key starts with it), WORKER_JOB_DELAY_MS
// (0; tests hold each taken job this long to stop a worker in mid-job).
// SIGTERM: the job in hand is finished, then the worker exits (0). A lost
// Redis connection ends it with 1, for its supervisor to start a fresh one.
import * as crypto from "crypto";
import { setTimeout as sleep } from "timers/promises";
import { Pool } from "pg";
import { RedisConnection, env, envInt, openPool } from "./routineLib";

/** Redis keys under one prefix (tests give each run its own). */
export function routineKeys(prefix: string) {
    return {
        queue: `${prefix}queue:daily`,
        enqueued: (job: string) => `${prefix}enqueued:${job}`,
        processing: (worker: string) => `${prefix}processing:${worker}`,
        workers: `${prefix}workers`,
        worker: (worker: string) => `${prefix}worker:${worker}`,
        heartbeat: (release: string) => `${prefix}heartbeat:${release}`,
        sent: (hour: string) => `${prefix}sent:${hour}`,
    };
}
type Keys = ReturnType<typeof routineKeys>;

const ENQUEUE_ONCE = "if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then redis.call('LPUSH', KEYS[2], ARGV[1]) return 1 end return 0";
const DELETE_IF_MINE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
// The user id is a UUID, as users.id is.
const JOB = /^daily:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}):(\d{4}-\d{2}-\d{2})$/;

interface WorkerSettings {
    release: string;
    keys: Keys;
    intervalMs: number;
    ttlMs: number;
    sendCap: number;
    jobDelayMs: number;
}

function settings(): WorkerSettings {
    return {
        release: env("GATEHOUSE_RELEASE", "dev"),
        keys: routineKeys(env("REDIS_KEY_PREFIX", "routine:")),
        intervalMs: envInt("SCHEDULER_INTERVAL_MS", 60_000),
        ttlMs: envInt("WORKER_HEARTBEAT_TTL_MS", 15_000, 300),
        sendCap: envInt("NOTIFICATION_SEND_CAP", 0, 0),
        jobDelayMs: envInt("WORKER_JOB_DELAY_MS", 0, 0),
    };
}

export async function runWorker(): Promise<void> {
    const s = settings();
    const redisUrl = env("REDIS_URL");
    const id = `${s.release}:${process.pid}:${crypto.randomBytes(3).toString("hex")}`;
    const pool = openPool();
    // Commands on one connection; BLMOVE blocks its connection, so it has its own.
    const redis = await RedisConnection.open(redisUrl);
    const blocking = await RedisConnection.open(redisUrl, 10_000);
    await pool.query("SELECT 1 FROM notifications LIMIT 0");
    const stop = new AbortController();
    const worker = new Worker(id, s, pool, redis, blocking);

    await worker.beat();
    const every = (ms: number, what: string, task: () => Promise<unknown>) => {
        const run = () => task().catch((err) => console.error(`${what}: ${err.message}`));
        const timer = setInterval(run, ms);
        return { timer, run };
    };
    const heartbeat = every(Math.max(100, Math.floor(s.ttlMs / 3)), "heartbeat", () => worker.beat());
    const scheduler = every(s.intervalMs, "scheduler", () => worker.schedule());
    await scheduler.run();
    console.log(`routine worker ${id} started: scheduler every ${s.intervalMs} ms, heartbeat TTL ${s.ttlMs} ms, send cap ${s.sendCap || "none"}`);

    for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => stop.abort());
    while (!stop.signal.aborted) {
        try {
            const pause = await worker.takeOne();
            if (pause) await sleep(pause, undefined, { signal: stop.signal }).catch(() => {});
        } catch (err: any) {
            if (stop.signal.aborted) break;
            // Redis went away: exit and let the supervisor start a fresh worker; the job in hand stays in the processing list for the others.
            const lost = redis.lost ?? blocking.lost;
            if (lost) throw new Error(`lost Redis: ${lost.message}`);
            console.error(`worker: ${err.message}`);
            await sleep(1000, undefined, { signal: stop.signal }).catch(() => {});
        }
    }
    clearInterval(heartbeat.timer);
    clearInterval(scheduler.timer);
    await worker.leave();
    redis.close();
    blocking.close();
    await pool.end();
    console.log(`routine worker ${id} stopped`);
}

class Worker {
    private readonly processing: string;

    constructor(
        private readonly id: string,
        private readonly s: WorkerSettings,
        private readonly pool: Pool,
        private readonly redis: RedisConnection,
        private readonly blocking: RedisConnection,
    ) {
        this.processing = s.keys.processing(id);
    }

    /** Alive only while the database answers; then requeues the jobs of workers that are not. */
    async beat(): Promise<void> {
        await this.pool.query("SELECT 1");
        const { keys, ttlMs, release } = this.s;
        await this.redis.call("SET", keys.worker(this.id), release, "PX", ttlMs);
        await this.redis.call("SADD", keys.workers, this.id);
        await this.redis.call("SET", keys.heartbeat(release), this.id, "PX", ttlMs);
        for (const other of (await this.redis.call("SMEMBERS", keys.workers)) as string[]) {
            if (other === this.id || (await this.redis.call("EXISTS", keys.worker(other)))) continue;
            let moved = 0;
            // LMOVE is atomic: when two workers reap at once, each job moves once.
            while ((await this.redis.call("LMOVE", keys.processing(other), keys.queue, "RIGHT", "RIGHT")) !== null) moved++;
            await this.redis.call("SREM", keys.workers, other);
            console.log(`worker ${other} has no heartbeat: ${moved} job(s) it had taken put back on the queue`);
        }
    }

    async schedule(): Promise<void> {
        const date = new Date().toISOString().slice(0, 10);
        const { rows } = await this.pool.query<{ job: string }>(
            "SELECT 'daily:' || u.id || ':' || $1 AS job FROM users u WHERE NOT EXISTS (SELECT 1 FROM notifications n WHERE n.idempotency_key = 'daily:' || u.id || ':' || $1) ORDER BY u.id",
            [date],
        );
        let enqueued = 0;
        for (const { job } of rows) enqueued += (await this.redis.call("EVAL", ENQUEUE_ONCE, 2, this.s.keys.enqueued(job), this.s.keys.queue, job, 2 * 86_400)) as number;
        if (enqueued) console.log(`scheduler: ${enqueued} daily notification job(s) for ${date} enqueued`);
    }

    /** Takes and handles one job; answers how long to pause before the next (0: none). */
    async takeOne(): Promise<number> {
        const { keys, sendCap, jobDelayMs } = this.s;
        const job = (await this.blocking.call("BLMOVE", keys.queue, this.processing, "RIGHT", "LEFT", 1)) as string | null;
        if (job === null) return 0;
        const match = JOB.exec(job);
        if (!match) {
            console.error(`worker: dropped job ${JSON.stringify(job)}: not daily:<user_id>:<date>`);
            await this.redis.call("LREM", this.processing, 1, job);
            return 0;
        }
        if (jobDelayMs) await sleep(jobDelayMs);
        const hour = keys.sent(new Date().toISOString().slice(0, 13));
        if (sendCap) {
            const sent = (await this.redis.call("INCR", hour)) as number;
            await this.redis.call("EXPIRE", hour, 7200);
            if (sent > sendCap) {
                await this.redis.call("DECR", hour);
                await this.giveBack();
                console.log(`worker: send cap of ${sendCap} per hour reached; ${job} waits for the next hour`);
                return Math.min(this.s.intervalMs, 3_600_000 - (Date.now() % 3_600_000));
            }
        }
        let written: boolean;
        try {
            const result = await this.pool.query("INSERT INTO notifications (user_id, idempotency_key, reason_code) VALUES ($1, $2, 'daily') ON CONFLICT (idempotency_key) DO NOTHING", [match[1], job]);
            written = result.rowCount === 1;
        } catch (err: any) {
            if (sendCap) await this.redis.call("DECR", hour);
            if (err.code !== "23503") {
                await this.giveBack();
                throw new Error(`${job} put back on the queue: ${err.message}`);
            }
            console.error(`worker: dropped ${job}: user ${match[1]} does not exist`);
            await this.redis.call("LREM", this.processing, 1, job);
            return 0;
        }
        if (!written && sendCap) await this.redis.call("DECR", hour);
        console.log(`worker ${this.id}: ${job} ${written ? "written" : "already written, nothing to do"}`);
        await this.redis.call("LREM", this.processing, 1, job);
        return 0;
    }

    /** The job in hand (the processing list's newest) back to the queue's consuming end. */
    private async giveBack(): Promise<void> {
        await this.redis.call("LMOVE", this.processing, this.s.keys.queue, "LEFT", "RIGHT");
    }

    async leave(): Promise<void> {
        const { keys, release } = this.s;
        await this.redis.call("EVAL", DELETE_IF_MINE, 1, keys.heartbeat(release), this.id);
        await this.redis.call("DEL", keys.worker(this.id));
        await this.redis.call("SREM", keys.workers, this.id);
    }
}

/** Exit code of `worker-check`: 0 while a worker of GATEHOUSE_RELEASE has a fresh heartbeat, else 1; one line either way. */
export async function workerCheck(): Promise<number> {
    const release = env("GATEHOUSE_RELEASE", "dev");
    const keys = routineKeys(env("REDIS_KEY_PREFIX", "routine:"));
    const redisUrl = env("REDIS_URL");
    let redis: RedisConnection | undefined;
    try {
        redis = await RedisConnection.open(redisUrl, 2000);
        const worker = await redis.call("GET", keys.heartbeat(release));
        if (worker === null) {
            console.log(`worker-check: no live worker of release ${release} (no heartbeat at ${keys.heartbeat(release)})`);
            return 1;
        }
        console.log(`worker-check: release ${release} alive (worker ${worker})`);
        return 0;
    } catch (err: any) {
        console.log(`worker-check: Redis did not answer: ${err.message}`);
        return 1;
    } finally {
        redis?.close();
    }
}
