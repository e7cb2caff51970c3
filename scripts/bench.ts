// npm run bench: measures, in one run on the same machine, database server and
// app, Gatehouse against the procedure it replaces, and writes BENCHMARKS.md.
// Ratios compare with a baseline measured in the same run; absolute numbers
// depend on the machine.
import { execFileSync, spawn, spawnSync } from "child_process";
import { freeStackPorts, localPorts, stopLocalStack } from "../tests/helpers/ports";
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { freePort } from "../components/local/embeddedPostgres";
import { ensureCliBuild } from "../components/release/cliBuild";
import { runGate } from "../components/release/gate";
import { gatehouseCli } from "../components/release/pipeline";
import { EngineState, executingAnswer } from "../tests/harness/executor";
import { Answer } from "../tests/harness/mocks";
import { runStack } from "../tests/harness/program";
import { ClientLoop } from "../tests/helpers/clientLoop";
import { freshDatabase, stopTestPostgres } from "../tests/helpers/postgres";
import { EngineStack } from "../tests/helpers/engine";
import { HarnessTwin } from "../tests/helpers/harnessTwin";
import { UsageError, parseCli, runCli } from "./lib/cli";
import { provideEngine } from "./lib/engine";
import { CliHelp } from "./lib/flags";

const ROOT = path.join(__dirname, "..");
const TRIALS = Number(process.env.BENCH_TRIALS ?? 3);
// The same app commands and backend env as Pulumi.local.yaml and
// Pulumi.routine-local.yaml, so both sides start the same apps the same way.
const KIFU_APP = ["node", ".gatehouse/build/demo-server.js"];
const KIFU_FRONTEND = ["node", ".gatehouse/build/demo-frontend.js"];
const KIFU_ENV = { APP_ENV: "development", AI_REQUIRE_ALLOWLIST: "true", AI_SERVICE_MONTHLY_CAP: "100", AI_RATE_LIMIT_RPM: "30", AI_RATE_LIMIT_BURST: "10", JWT_SECRET: "bench", KIFU_ENC_KEY: Buffer.alloc(32, 7).toString("base64") };
const ROUTINE_APP = ["node", ".gatehouse/build/demo-routine.js"];
// Issue 8's goals. "Gatehouse takes at most 0.8× the script's time" is G/S ≤ 0.8, ratio ≥ 1.25;
// read in this file's convention (as "today 0.55–0.62×" is) it is ratio ≥ 0.8: both are reported.
const RELEASE_GOALS = [
    { ratio: 1.25, says: "the issue's words, Gatehouse at most 0.8× the script's time" },
    { ratio: 0.8, says: "read as a ratio in this file's convention, at least 0.8× (Gatehouse at most 1.25× the script's time)" },
];
const ROLLBACK_GOALS = [{ ratio: 10, says: "a rollback at most 0.1× the time of a full redeploy" }];
/** The machine's Redis, as the routine local stack finds it. */
const REDIS_URL = "redis://127.0.0.1:6379";

interface Row {
    what: string;
    gatehouse: number[];
    baseline: number[];
    baselineName: string;
    unit: string;
    /** Items one measurement handles (files): the row also shows the median per item. */
    perItem?: { count: number; name: string };
    /** The issue's goal for this row, as the least ratio (baseline ÷ Gatehouse) that meets it; one entry per reading of it. */
    goals?: { ratio: number; says: string }[];
}

// BENCH_ONLY=<row> measures that row alone and prints it, leaving BENCHMARKS.md as it is.
const ONLY: Record<string, () => Promise<Row[]>> = {
    release: async () => [await kifuRelease(true), await kifuRelease(false)],
    routine: async () => [...(await routineRelease(true)), ...(await routineRelease(false))],
    lint: async () => [await lintHistory()],
    engine: () => engineOverhead(),
    switch: () => rollbackBySwitch(),
    rollback: () => engineRollback(),
};

const HELP: CliHelp = {
    usage: "[BENCH_TRIALS=<n>] [BENCH_ONLY=<row>] npm run bench",
    about: [
        "Measures Gatehouse against the procedure it replaces, on this machine, and writes BENCHMARKS.md (minutes).",
        `BENCH_TRIALS: measurements per row (default 3). BENCH_ONLY (${Object.keys(ONLY).join(", ")}): that row alone, printed; BENCHMARKS.md is left as it is.`,
    ].join("\n"),
    flags: {},
    example: "BENCH_ONLY=lint scripts/node22.sh npm run bench",
};

const BENCH_START = Date.now();

/**
 * Runs one group of rows, saying on stderr what it measures and, when it
 * ends, how long it took: a whole run takes tens of minutes, and its rows
 * print only at the end.
 */
async function measuring<T>(label: string, measure: () => Promise<T>): Promise<T> {
    const since = () => `${Math.round((Date.now() - BENCH_START) / 1000)}`.padStart(5);
    const started = Date.now();
    console.error(`bench [${since()} s] measuring: ${label} (BENCH_TRIALS=${TRIALS}) ...`);
    const result = await measure();
    console.error(`bench [${since()} s] measured: ${label} in ${Math.round((Date.now() - started) / 1000)} s`);
    return result;
}

async function main(): Promise<void> {
    const only = process.env.BENCH_ONLY;
    if (!(Number.isInteger(TRIALS) && TRIALS >= 1)) throw new UsageError(`BENCH_TRIALS=${JSON.stringify(process.env.BENCH_TRIALS)}: expected a whole number, at least 1`);
    if (only && !ONLY[only]) throw new UsageError(`BENCH_ONLY=${JSON.stringify(only)}: expected one of ${Object.keys(ONLY).join(", ")}`);
    ensureCliBuild();
    if (only) {
        console.log(`One process start on this machine (median of 20): ${processStarts()}`);
        const rows = await measuring(only, ONLY[only]);
        for (const row of rows) console.log(renderRow(row));
        console.log(timeGoes().join("\n"));
        await stopTestPostgres();
        return;
    }
    const groups: [string, () => Promise<Row | Row[]>][] = [
        ["first app's release, fresh database", () => kifuRelease(true)],
        ["first app's release, nothing pending", () => kifuRelease(false)],
        ["second app's release and its floor, fresh database", () => routineRelease(true)],
        ["second app's release, nothing pending", () => routineRelease(false)],
        ["time to detect health", gateDetection],
        ["500 migration files", manyMigrations],
        ["migrate lint on 500 files", lintHistory],
        ["the prod program under mocks", prodEvaluation],
        ["the engine's overhead", engineOverhead],
        ["rollback by switch, through the harness", rollbackBySwitch],
        ["rollback under the engine", engineRollback],
    ];
    const starts = processStarts();
    const rows: Row[] = [];
    for (const [label, measure] of groups) rows.push(...[await measuring(label, measure)].flat());
    const suites = await measuring("the test suites' wall time", async () => [toolchainCachedRun(), ...testSuiteTimes()]);
    const report = render(rows, suites, starts);
    console.log(report);
    fs.writeFileSync(path.join(ROOT, "BENCHMARKS.md"), report);
    await stopTestPostgres();
}

/** What one resource's step took in a release through the harness: when it started (ms after the update began) and how long it ran. */
interface StepTime {
    name: string;
    startMs: number;
    ms: number;
}

/** The measured releases' steps, by release (for "Where a local release's time goes"). */
const STEPS: Record<string, StepTime[][]> = {};

/**
 * The executing harness's answer, timing every resource: the harness answers
 * a resource once everything it depends on has finished, so the time from
 * the call to the answer is its own step (a command, a gate, a switch).
 */
function timedAnswer(engine: EngineState, steps: StepTime[], began: () => number): Answer {
    const inner = executingAnswer([], engine);
    return async (args, options) => {
        const started = performance.now();
        try {
            return await inner(args, options);
        } finally {
            steps.push({ name: args.name, startMs: started - began(), ms: performance.now() - started });
        }
    };
}

/**
 * One local stack released through the executing harness (bakeSeconds 0) on
 * its own ports and state directory; after `previous` releases, the measured
 * one. Everything it started is stopped and its state directory removed.
 */
async function harnessRelease(stack: string, options: { set?: Record<string, unknown>; secrets: Record<string, string>; previous?: string; release: string }): Promise<{ ms: number; steps: StepTime[] }> {
    const port = await freeStackPorts();
    const stackName = `bench-${crypto.randomBytes(3).toString("hex")}`;
    const engine = new EngineState();
    const steps: StepTime[] = [];
    let began = performance.now();
    const release = (id: string) =>
        runStack(stack, { stackName, answer: timedAnswer(engine, steps, () => began), set: { release: id, ...localPorts(port), bakeSeconds: 0, ...options.set }, secrets: options.secrets });
    try {
        if (options.previous) await release(options.previous);
        steps.length = 0;
        began = performance.now();
        await release(options.release);
        const ms = performance.now() - began;
        // BENCH_TRACE=1: every step of every measured release, in start order (where the time goes, one trial at a time).
        if (process.env.BENCH_TRACE === "1") console.error([`${stack} ${options.release}: ${Math.round(ms)} ms`, ...[...steps].sort((a, b) => a.startMs - b.startMs).map((s) => `  ${String(Math.round(s.startMs)).padStart(5)} +${String(Math.round(s.ms)).padStart(4)}  ${s.name}`)].join("\n"));
        return { ms, steps: [...steps] };
    } finally {
        stopLocalStack(`.gatehouse/${stackName}`, ROOT);
        fs.rmSync(path.join(ROOT, ".gatehouse", stackName), { recursive: true, force: true });
    }
}

/**
 * A hand-run checklist script (scripts/bench/manual-release*.sh): its wall
 * time. The processes it left running (its *.pid files) are the caller's to
 * stop with stopManual, as a person's app keeps running after the script.
 */
function manualRelease(script: string, args: string[], env: Record<string, string>): number {
    const t0 = performance.now();
    const result = spawnSync("bash", [script, ...args], { cwd: ROOT, env: { ...process.env, ...env }, encoding: "utf8" });
    const ms = performance.now() - t0;
    if (result.status !== 0) throw new Error(`${script} failed (${result.status ?? result.signal}): ${result.stderr}`);
    return ms;
}

/** Stops what the manual scripts started in `dir` and removes it. */
function stopManual(dir: string): void {
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".pid"))) {
        try {
            process.kill(Number(fs.readFileSync(path.join(dir, file), "utf8")), "SIGTERM");
        } catch {
            // already gone
        }
    }
    fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * A whole local release of the first app (backend and frontend: snapshot →
 * rehearsal → migrations → verification → both slots → both gates → both
 * switches → ledger) vs its checklist scripted by hand: on a fresh database
 * (all four files pending), or as a second release with no new migration
 * file (the common case: a new app version).
 */
async function kifuRelease(freshDb: boolean): Promise<Row> {
    const row: Row = {
        what: freshDb
            ? "first app (kifu), whole local release, fresh database (001, 020-022 pending, verify, backend and frontend slots, both gates, both switches)"
            : "first app (kifu), whole local release, nothing pending (snapshot, verify, backend and frontend slots, both gates, both switches)",
        gatehouse: [],
        baseline: [],
        baselineName: `checklist by hand, scripted (${freshDb ? "pg_dump, psql -f per file" : "pg_dump, no file to apply"}, verification queries, backend restarted in place, the smoke spec's calls with curl, frontend restarted in place, its page read)`,
        unit: "ms",
        goals: RELEASE_GOALS,
    };
    const steps = (STEPS[freshDb ? "first app (kifu), fresh database" : "first app (kifu), nothing pending"] = [] as StepTime[][]);
    for (const i of trialsAfterWarmUp()) {
        const keep = i >= 0;
        const db = await freshDatabase("bench_release");
        try {
            const run = await harnessRelease("local", { secrets: { localDatabaseUrl: db.url }, previous: freshDb ? undefined : `bench-${i}-previous`, release: `bench-${i}` });
            if (keep) {
                row.gatehouse.push(run.ms);
                steps.push(run.steps);
            }
        } finally {
            await db.drop();
        }

        const manualDb = await freshDatabase("bench_manual");
        const port = await freeStackPorts();
        const work = fs.mkdtempSync(path.join(os.tmpdir(), "gh-bench-manual-"));
        const manual = (release: string, files?: string) =>
            manualRelease("scripts/bench/manual-release.sh", [manualDb.url, String(port), String(port + 3), work, release, ...KIFU_APP, "--", ...KIFU_FRONTEND], { ...KIFU_ENV, ...(files === undefined ? {} : { MANUAL_MIGRATIONS: files }) });
        try {
            if (!freshDb) manual(`manual-${i}-previous`);
            const ms = manual(`manual-${i}`, freshDb ? undefined : "");
            if (keep) row.baseline.push(ms);
        } finally {
            stopManual(work);
            await manualDb.drop();
        }
    }
    return row;
}

/**
 * A whole local release of the second app (snapshot → rehearsal with the
 * round trip → node-pg-migrate → verification → API slot → gate → switch →
 * worker changed over → ledger) vs its checklist scripted by hand: on a fresh
 * database, or as a second release with no new migration (a new app version:
 * Gatehouse's rehearsal finds the database at the head and is skipped; the
 * script skips the checklist's round trip, having nothing new to take back).
 * Both use the machine's Redis, each run under its own key prefix.
 */
async function routineRelease(freshDb: boolean): Promise<Row[]> {
    const row: Row = {
        what: freshDb
            ? "second app (routine), whole local release, fresh database (node-pg-migrate 001-003 with the round trip rehearsed, verify, API slot, gate, switch, worker)"
            : "second app (routine), whole local release, nothing pending (snapshot, the migration command and revision check, verify, API slot, gate, switch, worker)",
        gatehouse: [],
        baseline: [],
        baselineName: freshDb
            ? "checklist by hand, scripted as the seed lists its steps (node-pg-migrate up --dry-run, pg_dump, up, the history check, constraint queries, down one step and up again, v2 column queries, API and worker restarted in place, /healthz and /readyz twice, plan generation calls with curl)"
            : "the same script with nothing to migrate (dry-run, pg_dump, up, the history check and the queries; no round trip; API and worker restarted in place, the same smoke calls)",
        unit: "ms",
        goals: RELEASE_GOALS,
    };
    // The floor: the same script against only the programs a release must run, back to back, in the same trials.
    const floor: Row = {
        what: "second app (routine), fresh database: **the floor**, only the programs the release must run, back to back with no Gatehouse process between them (pg_dump and its check, the scratch copy's createdb, restore, node-pg-migrate up, down, up, two schema dumps and dropdb, up on the database, the API started until /readyz answers, the smoke calls, the worker started until worker-check passes): the most any tool doing these steps could reach against the script",
        gatehouse: [],
        baseline: row.baseline,
        baselineName: "the hand-run script of the row above (the same trials)",
        unit: "ms",
    };
    const steps = (STEPS[freshDb ? "second app (routine), fresh database" : "second app (routine), nothing pending"] = [] as StepTime[][]);
    for (const i of trialsAfterWarmUp()) {
        const keep = i >= 0;
        const prefix = `gatehouse-bench-${crypto.randomBytes(4).toString("hex")}:`;
        const db = await freshDatabase("bench_routine");
        try {
            const run = await harnessRelease("routine-local", {
                set: { workerEnv: ["SCHEDULER_INTERVAL_MS=60000", `REDIS_KEY_PREFIX=${prefix}`] },
                secrets: { localDatabaseUrl: db.url, localRedisUrl: REDIS_URL },
                previous: freshDb ? undefined : `bench-${i}-previous`,
                release: `bench-${i}`,
            });
            if (keep) {
                row.gatehouse.push(run.ms);
                steps.push(run.steps);
            }
        } finally {
            await db.drop();
        }

        const manualDb = await freshDatabase("bench_routine_manual");
        const port = await freeStackPorts();
        const work = fs.mkdtempSync(path.join(os.tmpdir(), "gh-bench-routine-"));
        const manual = (release: string) =>
            manualRelease("scripts/bench/manual-release-routine.sh", [manualDb.url, REDIS_URL, String(port), work, release, "demo/routine-pgm", ...ROUTINE_APP], {
                REDIS_KEY_PREFIX: `${prefix}manual:`,
                SCHEDULER_INTERVAL_MS: "60000",
                NOTIFICATION_SEND_CAP: "100",
            });
        try {
            if (!freshDb) manual(`manual-${i}-previous`);
            const ms = manual(`manual-${i}`);
            if (keep) row.baseline.push(ms);
        } finally {
            stopManual(work);
            await manualDb.drop();
            dropRedisKeys(prefix);
        }
        const floorMs = freshDb ? await routineFloor(prefix, i) : 0;
        if (freshDb && keep) floor.gatehouse.push(floorMs);
    }
    return freshDb ? [row, floor] : [row];
}

/**
 * The whole releases' trials, after one that is not counted (-1): the first
 * run of a kind pays for cold caches (the harness compiling the program, the
 * tools' first start), and Gatehouse ran first in every trial, so without it
 * the cold start fell on its side only.
 */
function trialsAfterWarmUp(): number[] {
    return [-1, ...Array.from({ length: TRIALS }, (_, i) => i)];
}

/** scripts/bench/floor-release-routine.sh once, on its own database, ports and Redis prefix. */
async function routineFloor(prefix: string, trial: number): Promise<number> {
    const db = await freshDatabase("bench_routine_floor");
    const port = await freeStackPorts();
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "gh-bench-floor-"));
    try {
        return manualRelease("scripts/bench/floor-release-routine.sh", [db.url, REDIS_URL, String(port), work, `floor-${trial}`, "demo/routine-pgm", ...ROUTINE_APP], {
            REDIS_KEY_PREFIX: `${prefix}floor:`,
            SCHEDULER_INTERVAL_MS: "60000",
            NOTIFICATION_SEND_CAP: "100",
        });
    } finally {
        stopManual(work);
        await db.drop();
        dropRedisKeys(prefix);
    }
}

/** Removes the keys a run wrote under its prefix in the machine's Redis. */
function dropRedisKeys(prefix: string): void {
    spawnSync("/bin/sh", ["-c", `redis-cli -u "$1" --scan --pattern "$2*" | xargs -r redis-cli -u "$1" del > /dev/null`, "sh", REDIS_URL, prefix], { stdio: "ignore" });
}

/** App turns healthy → gate passes, vs a hand-written `until curl; do sleep 1; done`. */
async function gateDetection(): Promise<Row> {
    const row: Row = { what: "time to detect health: app turns healthy → check passes", gatehouse: [], baseline: [], baselineName: "until curl -sf .../health; do sleep 1; done", unit: "ms" };
    let healthyAt = Infinity;
    const server = http.createServer((_req, res) => {
        res.writeHead(Date.now() >= healthyAt ? 200 : 503);
        res.end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as any).port}`;
    const flipAfter = () => 200 + Math.random() * 1000;
    for (let i = 0; i < TRIALS * 5; i++) {
        healthyAt = Date.now() + flipAfter();
        await runGate(url, { deadlineSeconds: 30, intervalMs: 250, checks: [{ name: "health", request: { path: "/health" }, expect: { status: 200 } }] });
        row.gatehouse.push(Date.now() - healthyAt);

        healthyAt = Date.now() + flipAfter();
        while ((await fetch(`${url}/health`)).status !== 200) await new Promise((r) => setTimeout(r, 1000));
        row.baseline.push(Date.now() - healthyAt);
    }
    server.close();
    return row;
}

/** The runner on 500 small files vs `psql -f` once per file. */
async function manyMigrations(): Promise<Row> {
    const row: Row = { what: "500 small migration files on an empty database", gatehouse: [], baseline: [], baselineName: "psql -v ON_ERROR_STOP=1 -f, once per file", unit: "ms" };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gh-bench-500-"));
    for (let i = 1; i <= 500; i++) {
        const v = String(i).padStart(3, "0");
        fs.writeFileSync(path.join(dir, `${v}_t${v}.sql`), `CREATE TABLE t${v} (id int PRIMARY KEY, v text);\nINSERT INTO t${v} VALUES (1, 'x');\n`);
    }
    for (let i = 0; i < TRIALS; i++) {
        const a = await freshDatabase("bench_runner");
        let t0 = performance.now();
        execFileSync("/bin/sh", ["-c", gatehouseCli("migrate", ["up", "--dir", dir])], { cwd: ROOT, env: { ...process.env, DATABASE_URL: a.url }, stdio: "ignore" });
        row.gatehouse.push(performance.now() - t0);
        await a.drop();

        const b = await freshDatabase("bench_psql");
        t0 = performance.now();
        execFileSync("bash", ["-c", `for f in "${dir}"/*.sql; do psql "$DATABASE_URL" -q -v ON_ERROR_STOP=1 -f "$f"; done`], { env: { ...process.env, DATABASE_URL: b.url }, stdio: "ignore" });
        row.baseline.push(performance.now() - t0);
        await b.drop();
    }
    return row;
}

/**
 * `migrate lint` on a generated 500-file history (tables, added columns,
 * indexes, typmod relaxations that it must trace back to their declarations)
 * vs a dry run of the same files with `psql -f` into a scratch database, the
 * way to check a history without a lint.
 */
async function lintHistory(): Promise<Row> {
    const count = 500;
    const row: Row = {
        what: `\`migrate lint\` on a generated ${count}-file history (whole directory, one process)`,
        gatehouse: [],
        baseline: [],
        baselineName: "dry run: psql -v ON_ERROR_STOP=1 -f per file into a scratch database",
        unit: "ms",
        perItem: { count, name: "file" },
    };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gh-bench-lint-"));
    for (let i = 1; i <= count; i++) fs.writeFileSync(path.join(dir, `${String(i).padStart(3, "0")}_step.sql`), historyFile(i));
    for (let i = 0; i < TRIALS; i++) {
        let t0 = performance.now();
        execFileSync("/bin/sh", ["-c", gatehouseCli("migrate", ["lint", "--dir", dir])], { cwd: ROOT, stdio: "ignore" });
        row.gatehouse.push(performance.now() - t0);

        const db = await freshDatabase("bench_dry_run");
        t0 = performance.now();
        execFileSync("bash", ["-c", `for f in "${dir}"/*.sql; do psql "$DATABASE_URL" -q -v ON_ERROR_STOP=1 -f "$f"; done`], { env: { ...process.env, DATABASE_URL: db.url }, stdio: "ignore" });
        row.baseline.push(performance.now() - t0);
        await db.drop();
    }
    fs.rmSync(dir, { recursive: true, force: true });
    return row;
}

/** File i of the generated history: a table every 4 files, then a column, an index and a relaxation on it. */
function historyFile(i: number): string {
    const t = `t${Math.ceil(i / 4)}`;
    const comment = `-- step ${i}: generated for the lint benchmark\n`;
    switch (i % 4) {
        case 1:
            return `${comment}CREATE TABLE ${t} (\n    id bigint PRIMARY KEY,\n    name varchar(50) NOT NULL,\n    amount numeric(12,2),\n    created_at timestamp NOT NULL DEFAULT now()\n);\n`;
        case 2:
            return `${comment}ALTER TABLE ${t} ADD COLUMN note text;\nCOMMENT ON COLUMN ${t}.note IS 'free text; see step ${i}';\n`;
        case 3:
            return `${comment}CREATE INDEX ${t}_created_idx ON ${t} (created_at);\nALTER TABLE ${t} ALTER COLUMN name TYPE varchar(100);\n`;
        default:
            return `${comment}ALTER TABLE ${t} ALTER COLUMN amount TYPE numeric(16,2);\nINSERT INTO ${t} (id, name, amount) VALUES (1, 'seed', 1.50);\n`;
    }
}

/** The prod program (AWS platform, ~130 resources) evaluated under the unit tests' mocks. */
async function prodEvaluation(): Promise<Row> {
    const row: Row = { what: "evaluate the prod program under mocks (unit tests' harness)", gatehouse: [], baseline: [], baselineName: "same, with ts-node's source-mapped stack traces (the harness before its fix)", unit: "ms" };
    await runStack("prod"); // warm module caches for both sides
    for (let i = 0; i < TRIALS * 2; i++) {
        let t0 = performance.now();
        await runStack("prod");
        row.gatehouse.push(performance.now() - t0);
        t0 = performance.now();
        await runStack("prod", { mappedStackTraces: true });
        row.baseline.push(performance.now() - t0);
    }
    return row;
}

/**
 * The engine's overhead: a release (new release id, nothing pending) under the
 * real `pulumi up` against the same steps run by the release CLIs directly
 * (the executing harness, no engine); and `pulumi preview` with nothing
 * pending against one evaluation of the program under mocks.
 */
async function engineOverhead(): Promise<Row[]> {
    const engine = await provideEngine({ quiet: true });
    const release: Row = { what: "a release under the real engine (`pulumi up`, new release id, nothing pending)", gatehouse: [], baseline: [], baselineName: "the same steps run by the release CLIs directly (executing harness, no engine)", unit: "ms" };
    const preview: Row = { what: "`pulumi preview` with nothing pending", gatehouse: [], baseline: [], baselineName: "the program evaluated once under mocks (harness preview)", unit: "ms" };
    const secrets = { JWT_SECRET: "bench-jwt" };
    const db = await freshDatabase("bench_engine");
    const twinDb = await freshDatabase("bench_twin");
    const port = await freeStackPorts();
    const name = `bench-engine-${crypto.randomBytes(3).toString("hex")}`;
    const stack = await EngineStack.create(engine, { name, from: "local", set: { release: "warm", ...localPorts(port), bakeSeconds: 0 }, secrets: { ...secrets, localDatabaseUrl: db.url } });
    const twin = new HarnessTwin(`bench-twin-${name.slice(13)}`, await freeStackPorts(), { ...secrets, localDatabaseUrl: twinDb.url }, { release: "warm", bakeSeconds: 0 });
    try {
        const warm = await stack.up();
        if (warm.error) throw warm.error;
        await twin.release();
        for (let i = 0; i < TRIALS; i++) {
            await stack.set({ release: `b${i}` });
            let t0 = performance.now();
            const r = await stack.up();
            if (r.error) throw r.error;
            release.gatehouse.push(performance.now() - t0);
            t0 = performance.now();
            await twin.release({ release: `b${i}` });
            release.baseline.push(performance.now() - t0);

            t0 = performance.now();
            await stack.preview();
            preview.gatehouse.push(performance.now() - t0);
            t0 = performance.now();
            await runStack("local", { preview: true, set: { release: `b${i}`, ...localPorts(port) }, secrets: { ...secrets, localDatabaseUrl: db.url } });
            preview.baseline.push(performance.now() - t0);
        }
    } finally {
        await stack.destroy().catch(() => {});
        await stack.remove();
        fs.rmSync(path.join(ROOT, ".gatehouse", name), { recursive: true, force: true });
        twin.cleanUp();
        await db.drop();
        await twinDb.drop();
    }
    return [release, preview];
}

/** Users of both edges of a local stack on `port` (backend /health, frontend /), with a 5 ms pause so they leave the cores to the release. */
function usersOf(port: number): { loop: ClientLoop; backend: string } {
    const backend = `http://127.0.0.1:${port}/health`;
    return { loop: new ClientLoop([backend, `http://127.0.0.1:${port + 3}/`], { pauseMs: 5 }), backend };
}

/** performance.now() of the first answer through `url` after `since` from `release` (the loop keeps asking). */
async function firstAnswerFrom(loop: ClientLoop, url: string, release: string, since: number, timeoutMs = 180_000): Promise<number> {
    let seen = 0;
    while (performance.now() - since < timeoutMs) {
        for (; seen < loop.answers.length; seen++) {
            const a = loop.answers[seen];
            if (a.url === url && a.at > since && a.release === release) return a.at;
        }
        await new Promise((r) => setTimeout(r, 2));
    }
    throw new Error(`no answer from release ${release} through ${url} in ${timeoutMs / 1000} s`);
}

/**
 * The local target's switch through the harness: a rollback to the previous
 * release (the whole update: both edges go back to their standby slots)
 * against a full redeploy of that release (a new release id: started on the
 * idle slots, gated, switched); and the time from "gate passed" to "the edge
 * serves the new release", with users on both edges counting failed requests
 * across every switch.
 */
async function rollbackBySwitch(): Promise<Row[]> {
    const rollback: Row = {
        what: "local rollback to the previous release, the whole update through the harness (both edges go back to their standby slots)",
        gatehouse: [],
        baseline: [],
        baselineName: "a full redeploy of that release (the whole update: started on the idle slots, gated, switched)",
        unit: "ms",
        goals: ROLLBACK_GOALS,
    };
    const promote: Row = { what: "gate passed → the edge serves the new release (the backend's switch step: `local-app switch`, which checks the slot's health path and switches the edge)", gatehouse: [], baseline: [], baselineName: "restart in place, as before the edge (start the app, wait until /health answers)", unit: "ms" };
    const db = await freshDatabase("bench_switch");
    const port = await freeStackPorts();
    const twin = new HarnessTwin(`bench-switch-${crypto.randomBytes(3).toString("hex")}`, port, { JWT_SECRET: "bench", localDatabaseUrl: db.url }, { release: "s0", bakeSeconds: 0 });
    let users: ClientLoop | undefined;
    // Both gates passed → this step → users on the new release (the frontend's switch follows; the ledger after both).
    const switchSteps = () => twin.executed.filter((e) => e.name.endsWith("-switch") && !e.name.endsWith("-frontend-switch"));
    const ok = async (changes: Record<string, unknown>) => {
        const r = await twin.release(changes);
        if (r.error) throw r.error;
    };
    try {
        await ok({}); // before the first promotion the edges rightly answer 503: users arrive after it
        users = usersOf(port).loop;
        for (let i = 0; i < TRIALS; i++) {
            await ok({ release: `a${i}` });
            await ok({ release: `b${i}` }); // live: b, standby: a
            promote.gatehouse.push(switchSteps()[switchSteps().length - 1].durationMs);
            let t0 = performance.now();
            await ok({ release: `a${i}` }); // back to a: its slots still run it
            rollback.gatehouse.push(performance.now() - t0);
            t0 = performance.now();
            await ok({ release: `a${i}-redeployed` }); // the same version deployed anew, on b's slots
            rollback.baseline.push(performance.now() - t0);

            const own = await freePort();
            t0 = performance.now();
            const app = spawn(KIFU_APP[0], KIFU_APP.slice(1), { cwd: ROOT, env: { ...process.env, ...KIFU_ENV, PORT: String(own), DATABASE_URL: db.url }, stdio: "ignore" });
            while ((await fetch(`http://127.0.0.1:${own}/health`).then((r) => r.status, () => 0)) !== 200) await new Promise((r) => setTimeout(r, 10));
            promote.baseline.push(performance.now() - t0);
            app.kill("SIGTERM");
        }
    } finally {
        await users?.stop();
        twin.cleanUp();
        await db.drop();
    }
    promote.what += ` — users on both edges (backend and frontend) through every switch of this row and the one above: ${users!.failed().length} of ${users!.answers.length} requests failed`;
    return [rollback, promote];
}

/**
 * Time until users are back on the previous release under the real engine:
 * `npm run rollback -- --stack <s> --yes` (which switches both edges back
 * first, then runs the `pulumi up` that brings the stack along) from its
 * start to the first answer through the backend's edge from the previous
 * release; against a full redeploy of that release (a new release id, `pulumi
 * up`) from its start to the first answer from it. Users on both edges
 * throughout.
 */
async function engineRollback(): Promise<Row[]> {
    const whole: Row = {
        what: "the whole rollback under the real engine: `npm run rollback -- --stack <s> --yes` started → it exits (history read, config restored, the `pulumi up` that brings the stack along)",
        gatehouse: [],
        baseline: [],
        baselineName: "a full redeploy of that release under the real engine (`pulumi up`, new release id) started → it finished",
        unit: "ms",
    };
    const row: Row = {
        what: "users back on the previous release under the real engine: `npm run rollback -- --stack <s> --yes` started → first answer from that release through the edge",
        gatehouse: [],
        baseline: [],
        baselineName: "a full redeploy of that release under the real engine (`pulumi up`, new release id) started → first answer from it through the edge",
        unit: "ms",
        goals: ROLLBACK_GOALS,
    };
    const engine = await provideEngine({ quiet: true });
    const db = await freshDatabase("bench_engine_rollback");
    const port = await freeStackPorts();
    const name = `bench-rollback-${crypto.randomBytes(3).toString("hex")}`;
    const stack = await EngineStack.create(engine, { name, from: "local", set: { release: "w", ...localPorts(port), bakeSeconds: 0 }, secrets: { JWT_SECRET: "bench-jwt", localDatabaseUrl: db.url } });
    const up = async () => {
        const r = await stack.up();
        if (r.error) throw new Error(`${r.error.message}\n${r.output.slice(-3000)}`);
    };
    let users: ReturnType<typeof usersOf> | undefined;
    try {
        await up();
        users = usersOf(port);
        for (let i = 0; i < TRIALS; i++) {
            await stack.set({ release: `a${i}` });
            await up();
            await stack.set({ release: `b${i}` });
            await up(); // live: b, standby: a
            let t0 = performance.now();
            const cli = spawnAsync("npm", ["run", "--silent", "rollback", "--", "--stack", name, "--yes"], { ...process.env, ...stack.env });
            row.gatehouse.push((await firstAnswerFrom(users.loop, users.backend, `a${i}`, t0)) - t0);
            const result = await cli;
            if (result.status !== 0) throw new Error(`npm run rollback failed (${result.status}):\n${result.output.slice(-3000)}`);
            whole.gatehouse.push(performance.now() - t0);

            await stack.set({ release: `a${i}-redeployed` });
            t0 = performance.now();
            const redeploy = up();
            row.baseline.push((await firstAnswerFrom(users.loop, users.backend, `a${i}-redeployed`, t0)) - t0);
            await redeploy;
            whole.baseline.push(performance.now() - t0);
        }
    } finally {
        await users?.loop.stop();
        await stack.destroy().catch(() => {});
        await stack.remove();
        stopLocalStack(`.gatehouse/${name}`, ROOT);
        fs.rmSync(path.join(ROOT, ".gatehouse", name), { recursive: true, force: true });
        await db.drop();
    }
    row.what += ` — users on both edges throughout: ${users!.loop.failed().length} of ${users!.loop.answers.length} requests failed`;
    return [row, whole];
}

/** A child process run to its end without blocking the event loop (the users' loop keeps running). */
function spawnAsync(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; output: string }> {
    return new Promise((resolve, reject) => {
        const child = spawn(command, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
        let output = "";
        child.stdout.on("data", (d) => (output += d));
        child.stderr.on("data", (d) => (output += d));
        child.on("error", reject);
        child.on("close", (status) => resolve({ status, output }));
    });
}

/** A cached run of scripts/pulumi-toolchain.sh (what every engine command pays first). */
function toolchainCachedRun(): { what: string; ms: number } {
    spawnSync("scripts/pulumi-toolchain.sh", [], { cwd: ROOT, stdio: "ignore" });
    const t0 = performance.now();
    const r = spawnSync("scripts/pulumi-toolchain.sh", [], { cwd: ROOT, stdio: "ignore" });
    if (r.status !== 0) throw new Error("scripts/pulumi-toolchain.sh failed");
    return { what: "scripts/pulumi-toolchain.sh with its cache warm (the engine is already built)", ms: performance.now() - t0 };
}

/** Wall time of the unit suite (mocks only) and of the whole `npm test`, one run each; BENCH_NPM_TEST=0 keeps the previous file's `npm test` figure, marked so. */
function testSuiteTimes(): { what: string; ms?: number; text?: string }[] {
    const time = (what: string, args: string[]) => {
        const t0 = performance.now();
        const r = spawnSync(args[0], args.slice(1), { cwd: ROOT, encoding: "utf8" });
        // A failing suite is reported in the table, not thrown: the rows measured before it are kept.
        if (r.status !== 0) return { what, text: `failed (exit ${r.status}): ${(r.stdout + r.stderr).trim().split("\n").slice(-1)[0]}` };
        return { what, ms: performance.now() - t0 };
    };
    const mocha = ["npx", "mocha", "--no-config", "--require", "ts-node/register/transpile-only", "--require", "tests/helpers/hooks.ts", "--timeout", "60000", "--reporter", "dot"];
    const whole = "whole `npm test` (tsc --noEmit, then every test incl. real PostgreSQL, HTTP and local releases)";
    const previous = /\| whole `npm test` [^|]*\| ([^|]+) \|/.exec(previousReport())?.[1].replace(/ \(not re-measured.*$/, "");
    return [
        time("unit suite: config, harness, pipeline and AWS tests (mocks only)", [...mocha, "tests/config.test.ts", "tests/harness.test.ts", "tests/pipeline.test.ts", "tests/aws.test.ts"]),
        process.env.BENCH_NPM_TEST === "0" ? { what: whole, text: `${previous ?? "?"} (not re-measured in this run: BENCH_NPM_TEST=0; from an earlier run)` } : time(whole, ["npm", "test", "--silent"]),
    ];
}

function median(xs: number[]): number {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const ratioOf = (r: Row) => median(r.baseline) / median(r.gatehouse);

function renderRow(r: Row): string {
    const fmt = (n: number) => `${Math.round(n)}`;
    const g = median(r.gatehouse);
    const b = median(r.baseline);
    const per = r.perItem ? `, ${(g / r.perItem.count).toFixed(2)} ${r.unit} per ${r.perItem.name}` : "";
    return `| ${r.what} | ${fmt(g)} ${r.unit} (n=${r.gatehouse.length}, max ${fmt(Math.max(...r.gatehouse))}${per}) | ${r.baselineName}: ${fmt(b)} ${r.unit} (max ${fmt(Math.max(...r.baseline))}) | **${ratioOf(r).toFixed(2)}×** |`;
}

/** Each row with a goal, met or not, from this run's medians. */
function goals(rows: Row[]): string[] {
    const lines: string[] = [];
    for (const r of rows) {
        const ratio = ratioOf(r);
        const readings = (r.goals ?? []).map((g) => `${g.says} (ratio ≥ ${g.ratio}×): **${ratio >= g.ratio ? "met" : "not met"}**`);
        if (readings.length > 0) lines.push(`- ${r.what.split(" — ")[0]}: Gatehouse takes ${(1 / ratio).toFixed(2)}× the baseline's time (ratio ${ratio.toFixed(2)}×). Goal: ${readings.join("; ")}.`);
        const failed = / — (.*): (\d+) of (\d+) requests failed/.exec(r.what);
        if (failed) lines.push(`- requests failed during switches (${failed[1]}): ${failed[2]} of ${failed[3]}. Goal: 0: **${failed[2] === "0" ? "met" : "not met"}**.`);
    }
    return lines;
}

/** One runner process per migration file: counted as one step, from the first file's start to the last one's end. */
function withMigrationsTogether(steps: StepTime[]): StepTime[] {
    const files = steps.filter((s) => /-migration-/.test(s.name));
    if (files.length === 0) return steps;
    const startMs = Math.min(...files.map((f) => f.startMs));
    const name = `${files[0].name.replace(/-migration-.*$/, "")}-migration-* (${files.length} files, one process each)`;
    return [...steps.filter((s) => !files.includes(s)), { name, startMs, ms: Math.max(...files.map((f) => f.startMs + f.ms)) - startMs }];
}

/** Where the measured releases' time went: each row's costliest steps, medians over its trials. */
function timeGoes(): string[] {
    const lines: string[] = [];
    for (const [what, trials] of Object.entries(STEPS)) {
        if (trials.length === 0) continue;
        const byName = new Map<string, { ms: number[]; start: number[] }>();
        for (const steps of trials)
            for (const s of withMigrationsTogether(steps)) {
                const entry = byName.get(s.name) ?? { ms: [], start: [] };
                entry.ms.push(s.ms);
                entry.start.push(s.startMs);
                byName.set(s.name, entry);
            }
        const ranked = [...byName.entries()].map(([name, e]) => ({ name, ms: median(e.ms), start: median(e.start) })).sort((a, b) => b.ms - a.ms);
        const firstStart = Math.min(...ranked.filter((s) => s.ms >= 20).map((s) => s.start));
        lines.push("", `**${what}** (n=${trials.length}; a step starts once every step it depends on has finished, so the gates and the two services' steps overlap):`, "", "| step | median | starts at |", "|---|---|---|");
        lines.push(`| the program until its first step with work (evaluation, registrations) | ${Math.round(firstStart)} ms | 0 ms |`);
        for (const s of ranked.filter((s) => s.ms >= 20).slice(0, 8)) lines.push(`| \`${s.name}\` | ${Math.round(s.ms)} ms | ${Math.round(s.start)} ms |`);
    }
    return lines;
}

/**
 * What one process start costs here, median of 20: a whole release's ratio
 * moves with it from one machine to the next. Gatehouse starts a Node.js
 * process per step (command resources, which can as well run on another host
 * over SSH); the hand-run script starts mostly C tools and waits fixed
 * seconds, which no machine makes faster.
 */
function processStarts(): string {
    // Debian's newest client by its full path (as the floor script takes it), else psql from PATH.
    const debian = fs.existsSync("/usr/lib/postgresql") ? fs.readdirSync("/usr/lib/postgresql").sort((a, b) => parseFloat(a) - parseFloat(b)) : [];
    const pgBin = debian.map((v) => `/usr/lib/postgresql/${v}/bin/psql`).filter((f) => fs.existsSync(f)).pop() ?? "psql";
    const starts: [string, string[]][] = [
        ["`node -e 0`", [process.execPath, "-e", "0"]],
        ["a Gatehouse step's CLI (`promote --help`, from its bundle)", [process.execPath, "--liftoff-only", path.join(ROOT, ".gatehouse/build/promote.js"), "--help"]],
        ["`psql --version`", [pgBin, "--version"]],
        ["`curl --version`", ["curl", "--version"]],
    ];
    return starts
        .map(([what, [cmd, ...args]]) => {
            const ms = Array.from({ length: 20 }, () => {
                const t0 = performance.now();
                spawnSync(cmd, args, { cwd: ROOT, stdio: "ignore" });
                return performance.now() - t0;
            });
            return `${what} ${Math.round(median(ms))} ms`;
        })
        .join(", ");
}

/** The file as it is now (sections measured by hand are kept from it). */
function previousReport(): string {
    const file = path.join(ROOT, "BENCHMARKS.md");
    return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
}

/** A section of the current file, from its heading to the next `## ` heading, or "" when it is not there. */
function keptSection(heading: string, untilEnd = false): string {
    const text = previousReport();
    const start = text.indexOf(`\n${heading}`);
    if (start < 0) return "";
    const next = untilEnd ? -1 : text.indexOf("\n## ", start + 1);
    return text.slice(start + 1, next < 0 ? undefined : next + 1).trimEnd() + "\n";
}

function render(rows: Row[], suites: { what: string; ms?: number; text?: string }[], starts: string): string {
    return [
        "# Benchmarks",
        "",
        `Measured by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)} (${os.cpus().length} cores, ${os.cpus()[0]?.model ?? "unknown CPU"}, Node ${process.version}, PostgreSQL on loopback, the machine's Redis), every row in one run, BENCH_TRIALS=${TRIALS}.`,
        "Each ratio is baseline ÷ Gatehouse, both measured in the same run against the same database server and app; above 1× means Gatehouse is faster. Medians.",
        `One process start on this machine in the same run (median of 20): ${starts}. The whole-release ratios move with these from one machine to the next: Gatehouse starts a Node.js process per step, the hand-run scripts mostly C tools and fixed one-second waits.`,
        "",
        "| measurement | Gatehouse | baseline | ratio |",
        "|---|---|---|---|",
        ...rows.map(renderRow),
        "",
        "### Against the goals of issue 8",
        "",
        ...goals(rows),
        "",
        "| test suite or step | wall time |",
        "|---|---|",
        ...suites.map((s) => `| ${s.what} | ${s.text ?? `${(s.ms! / 1000).toFixed(1)} s`} |`),
        "",
        "## Where a local release's time goes",
        "",
        "From the measured releases above: every resource's step timed in the executing harness (commands, gates, switches), median over the trials.",
        ...timeGoes(),
        "",
        "## How to reproduce",
        "",
        "```bash",
        "scripts/node22.sh npm run bench          # BENCH_TRIALS=5 for more trials; rewrites this file (BENCH_NPM_TEST=0: without timing `npm test`)",
        `BENCH_ONLY=release scripts/node22.sh npm run bench   # one group of rows, printed; this file is left alone. Groups: ${Object.keys(ONLY).join(", ")}`,
        "BENCH_ONLY=engine scripts/node22.sh npm run bench    # the engine rows (engine, rollback) need scripts/pulumi-toolchain.sh",
        "bash scripts/bench/manual-release.sh <database-url> <port> <frontend-port> <dir> <release> node .gatehouse/build/demo-server.js -- node .gatehouse/build/demo-frontend.js",
        "bash scripts/bench/manual-release-routine.sh <database-url> redis://127.0.0.1:6379 <port> <dir> <release> demo/routine-pgm node .gatehouse/build/demo-routine.js",
        "bash scripts/bench/floor-release-routine.sh <database-url> redis://127.0.0.1:6379 <port> <dir> <release> demo/routine-pgm node .gatehouse/build/demo-routine.js",
        "BENCH_TRACE=1 BENCH_ONLY=routine scripts/node22.sh npm run bench   # also every measured release's steps, in start order, one trial at a time",
        "```",
        "",
        keptSection("## The engine's first build"),
        "## What is measured",
        "",
        "- **Whole local release, first app**: the real program on the `local` stack through the executing test harness (every command resource and the serialized health-gate providers run for real: snapshot with pg_dump + pg_restore --list, rehearsal on a restored scratch copy, one runner process per migration file, schema verification and beside it backend and frontend started on their idle slots, the backend's smoke gate (`checks/kifu.smoke.yaml`; klines is `external` and not run on a machine without a route out) and the frontend's page gate, both edges switched, ledger; `bakeSeconds` 0). The Pulumi engine's own overhead is not included here (see the engine rows). The baseline (`scripts/bench/manual-release.sh`) is the checklist as a person's script: pg_dump, psql -f per new file, the checklist's verification queries, the backend stopped and restarted in place (downtime, and users see the new version before any check), then exactly the calls of `checks/kifu.smoke.yaml` with curl (same paths, bodies and expected statuses; klines only where the exchange answers, as the gate decides), then the frontend restarted in place and its page read. No rehearsal, snapshot check or ledger; health polled once a second as a hand-written loop does. A restart in place waits until the old process has exited, as `systemctl restart` does (the backend stand-in takes about 2 s to close its database pool): on a fresh database there is nothing to stop, in the nothing-pending row there is, which is most of the difference between the two baselines.",
        "- **Whole local release, second app**: the `routine-local` stack the same way (node-pg-migrate in command mode with the rehearsal's round trip on a scratch copy, the schema checks of `checks/routine.schema.yaml`, the API slot, `checks/routine.smoke.yaml`, the switch, the worker started beside the previous one until `worker-check` passes). The baseline (`scripts/bench/manual-release-routine.sh`) does the migration steps the seed lists, in its order: section 1's dry-run (`node-pg-migrate up --dry-run`, alembic's `upgrade head --sql`), pg_dump, then the GOD-33 checklist: upgrade, the history's continuity (the revision table in order), the constraint and index queries, step 4's `down` one step and `up` again (where the checklist runs it: on the database being released, with no schema comparison), the v2 column queries; then API and worker restarted in place, `worker-check` polled once a second, /healthz and /readyz twice, the five plan-generation calls. Both run the app's migration tool four times (Gatehouse: up, down, up on the scratch copy, up on the database; the script: dry-run, up, down, up); Gatehouse also creates the scratch copy (beside the snapshot's pg_dump, where something is pending: CREATE DATABASE took 20–340 ms on the same machine from one minute to the next, so this row moves with it), restores it, drops it and compares two schema dumps. The nothing-pending row is a second release, a new app version with no new migration: Gatehouse's rehearsal finds the database at the head and is skipped (the migration command still runs once, with its revision check); the script skips step 4, having nothing new to take back, and stops the running API and worker before starting the new ones.",
        "- **Warm-up**: the whole-release rows (both apps, and the floor) run one trial of every side first and do not count it: the first run in a process pays for cold caches (the harness compiling the program, each tool's first start), and Gatehouse runs first in each trial.",
        "- **The floor under the second app's release**: `scripts/bench/floor-release-routine.sh` runs only the programs that release must run, back to back, with nothing between them: pg_dump and pg_restore --list; createdb, pg_restore, node-pg-migrate up, pg_dump --schema-only, down, up, pg_dump --schema-only, cmp, dropdb; up on the database; the API started and /readyz polled every 10 ms; the smoke spec's calls with curl; the worker started and worker-check run until it passes. No snapshot record, revision checks, schema verification, edge, switch or ledger, and the client tools by their full path. Its ratio to the hand-run script is the most any tool doing the release's steps could reach; the release's own ratio against the 1.25× goal is to be read against it.",
        "- **Time to detect health**: a loopback server turns healthy at a random moment; the gate (intervalMs 250) against a `sleep 1` poll loop.",
        "- **500 migration files**: one `migrate up` process (advisory lock, tracking table, one transaction per file) against one `psql` process per file.",
        "- **`migrate lint` on a 500-file history**: one `migrate lint --dir` process over a generated history (a table every 4 files, then an added column, an index and two typmod relaxations the lint traces back to the table's declaration; every file parsed by libpg-query) against a dry run of the same files with `psql -f` into a scratch database. The dry run proves the files apply to an empty database; the lint says what they would do to a live one. Per file: the median divided by 500, start-up included.",
        "- **Engine overhead**: the `local` stack under the real `pulumi up` (Pulumi's own programs from scripts/pulumi-toolchain.sh: CLI v3.274.1, Node.js language host v3.259.0, command provider v1.2.1; the program runs from its esbuild bundle, scripts/program.js) against the executing harness running the same commands in-process, each on its own database and ports, one release id after another; `pulumi preview` with nothing pending against one evaluation of the program under mocks.",
        "- **Rollback through the harness**: release a, release b, then back to a (its slots still run it: a switch; nothing to migrate, so no snapshot, rehearsal or verification step, and the gates are skipped for slots promoted before) against deploying the same version anew (a new release id: started on the idle slots, gated, switched). Gate passed → users on the new release: the backend's switch step (it starts once both gates passed; the frontend's switch, the promoted marks and the ledger come after it) against restarting the app in place. Users (`tests/helpers/clientLoop.ts`, a new connection per request, 5 ms apart) ask both edges, backend `/health` and frontend `/`, during all of it.",
        "- **Users back on the previous release under the real engine**: an `EngineStack` (as tests/engine.test.ts drives it) releases a, then b; `npm run rollback -- --stack <s> --yes` runs as an operator types it (npm, node with the CLI's bundle via scripts/built.js, the target update read from the file backend's files, both edges switched back; then `pulumi stack history`, the config restored and the `pulumi up` that brings the stack along); the time is from its start to the first answer through the backend's edge carrying a's `x-gatehouse-release`, seen by users polling both edges. The baseline is a full redeploy of a under the same engine (a new release id, `pulumi up`) until the edge serves it. The next row times both commands to their end: the rollback's update runs no migration, snapshot, rehearsal or gate, but its `pulumi` processes (history, config, up) are most of it.",
        "- **Prod program under mocks**: `runStack(\"prod\")` of the test harness, ~130 resources; the baseline keeps ts-node's source-map stack-trace hook, which Pulumi invokes for every resource's source position.",
        "",
        keptSection("## AWS: promotion and rollback", true),
    ].join("\n");
}

runCli("bench", async () => {
    parseCli(HELP, {});
    await main();
});
