import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { bindable } from "../components/local/embeddedPostgres";
import { PROMOTED_BEFORE, SLOTS, SlotName, SlotRecord, answersHealthy, describe, edgeFiles, edgeRequest, markPromoted, readEdgeState, readSlotRecord, serveEdge } from "../components/local/edge";
import { commandAfterDashDash } from "../components/release/shell";
import { UsageError, parseCli, releaseId, required, runCli } from "./lib/cli";
import { CliHelp } from "./lib/flags";
import { alive, sleep, stopProcessGroup } from "../components/local/processes";

// The local target's process control, run where the app runs (this machine;
// the same commands over SSH for a remote host): an edge on the public port
// and two slots on the next two ports. `deploy` starts the release on the idle
// slot and prints its address for the gate; `switch` points the edge at it
// once the gate passed; the other slot keeps running as standby.
const HELP: CliHelp = {
    usage:
        "npm run local-app -- (deploy|switch|bake|promoted|status|stop|edge|worker) --state-dir <dir> [--port <port>] [--release <id>] [--fingerprint <hash>] [--health-path <path>] [--bake-seconds <n>] [--health-command <cmd>] [-- <start command>]",
    about: [
        "  deploy   start <start command> for --release on the idle slot (port+1 or port+2), unless a slot",
        "           already runs that release; prints the slot's address last (the gate checks it there)",
        "  switch   point the edge at the slot that runs --release (refused unless --health-path answers 2xx);",
        "           with --bake-seconds N, then bake as below",
        "  bake     watch the live slot (it must run --release) for --bake-seconds N and switch the edge back",
        "           to the slot it served before if it turns unhealthy; exits 1 then",
        "  status   what the edge serves and what each slot runs (and the worker, in a worker's state dir)",
        "  promoted mark the live slot (it must run --release) as promoted: a later deploy that keeps it says so,",
        "           and the gate and the bake window of a rollback to it are skipped",
        "  stop     stop both slots, the edge and the worker (data is kept)",
        "  edge     run the edge in the foreground (deploy starts it in the background when it is not running)",
        "  worker   start <start command> as the worker of --release (no port, no edge); once it is alive",
        "           (--health-command exits 0, or it has run 5 s), stop the previous worker. Until then the",
        "           previous one keeps working; if the new one never gets there, it is stopped and this fails",
    ].join("\n"),
    flags: {
        "state-dir": { note: "required; one per service (the frontend's and the worker's are subdirectories)" },
        port: { value: "<port>", meaning: "the edge's public port; the slots use the next two", note: "required except for worker" },
        release: { note: "required for deploy, switch, bake and worker" },
        fingerprint: { value: "<hash>", meaning: "what the release runs beyond its id (start command and env, hashed): the same id with other settings is another deployment" },
        "health-path": { value: "<path>", meaning: "the path a slot must answer 2xx on", note: "default /health" },
        "bake-seconds": { value: "<n>", meaning: "the bake window in seconds; 0 = none", note: "default 0" },
        "health-command": { value: "<cmd>", meaning: "exits 0 once the new worker is alive (the stack's workerHealthCommand)" },
    },
    example: "npm run local-app -- deploy --state-dir .gatehouse/local --port 8181 --release r2 -- node .gatehouse/build/demo-server.js",
};
const USAGE = HELP.usage;


/** The two slots of one stack: blue on port+1, green on port+2. */
class Slots {
    constructor(private readonly stateDir: string, private readonly edgePort: number) {}

    port(slot: SlotName): number {
        return this.edgePort + 1 + SLOTS.indexOf(slot);
    }

    record(slot: SlotName): SlotRecord | undefined {
        return readSlotRecord(this.stateDir, slot);
    }

    running(): SlotRecord[] {
        return SLOTS.map((s) => this.record(s)).filter((r): r is SlotRecord => r !== undefined && alive(r.pid));
    }

    /**
     * The release on a slot: the slot that already runs it and answers (a
     * rollback to the standby, or the same release again) is kept as it is;
     * otherwise the idle slot, never the live one, is (re)started.
     */
    async deploy({ release, fingerprint }: { release: string; fingerprint: string }, command: string, healthPath: string): Promise<{ record: SlotRecord; started: boolean }> {
        for (const r of this.running().filter((r) => r.release === release && r.fingerprint === fingerprint)) {
            if ((await answersHealthy(`http://127.0.0.1:${r.port}${healthPath}`)).ok) {
                console.log(`release ${release} already runs on ${r.slot} (port ${r.port}); not restarted`);
                // The marker the gate reads: this process passed its gate when the release was promoted.
                if (r.promotedAt) console.log(`${PROMOTED_BEFORE} ${r.promotedAt}`);
                return { record: r, started: false };
            }
        }
        const live = readEdgeState(this.stateDir).live;
        const slot: SlotName = live?.slot === "blue" ? "green" : "blue";
        await this.stop(slot);
        const port = this.port(slot);
        await waitForFreePort(port);
        const log = fs.openSync(path.join(this.stateDir, `slot-${slot}.log`), "a");
        const child = spawn("/bin/sh", ["-c", `exec ${command}`], {
            detached: true,
            stdio: ["ignore", log, log],
            env: { ...process.env, PORT: String(port), GATEHOUSE_RELEASE: release, GATEHOUSE_SLOT: slot },
        });
        child.unref();
        await waitUntilListening(child.pid!, port, path.join(this.stateDir, `slot-${slot}.log`));
        const record: SlotRecord = { slot, port, release, fingerprint, pid: child.pid!, healthPath };
        fs.writeFileSync(path.join(this.stateDir, `slot-${slot}.pid`), String(record.pid));
        fs.writeFileSync(path.join(this.stateDir, `slot-${slot}.json`), JSON.stringify(record));
        console.log(`started release ${release} on ${slot} (port ${port}, pid ${record.pid}, log ${path.join(this.stateDir, `slot-${slot}.log`)}); the edge still serves ${live ? `${live.slot} (release ${live.release})` : "nothing yet"}`);
        return { record, started: true };
    }

    async stop(slot: SlotName): Promise<void> {
        const r = this.record(slot);
        if (r && alive(r.pid)) {
            await stopProcessGroup(r.pid);
            console.log(`stopped ${slot} (release ${r.release}, pid ${r.pid})`);
        }
        fs.rmSync(path.join(this.stateDir, `slot-${slot}.json`), { force: true });
        fs.rmSync(path.join(this.stateDir, `slot-${slot}.pid`), { force: true });
    }
}

/**
 * The bake window: the promoted slot is probed every 250 ms for `seconds`;
 * three failed probes in a row (one is a blip, three are an outage of at
 * least half a second) switch the edge back to the previous slot and fail the
 * step, so `pulumi up` fails and says why. The operator sees it there, in
 * `local-app status` (the edge serves the previous release) and in the ledger
 * (no promotion entry for the release).
 */
async function bake(stateDir: string, promoted: SlotRecord, previous: { slot: SlotName; port: number; release: string } | null, healthPath: string, seconds: number): Promise<void> {
    const started = Date.now();
    let failures = 0;
    let last = "";
    console.log(`bake window: watching ${promoted.slot} (release ${promoted.release}) for ${seconds} s`);
    while (Date.now() - started < seconds * 1000) {
        const probe = await answersHealthy(`http://127.0.0.1:${promoted.port}${healthPath}`, 1000);
        failures = probe.ok ? 0 : failures + 1;
        last = probe.detail;
        if (failures >= 3) break;
        await sleep(250);
    }
    if (failures < 3) return void console.log(`bake window passed: release ${promoted.release} stayed healthy for ${seconds} s`);
    const after = ((Date.now() - started) / 1000).toFixed(1);
    if (!previous) throw new Error(`bake window FAILED: release ${promoted.release} turned unhealthy ${after} s after promotion (${healthPath}: ${last}) and there is no previous release to switch back to`);
    const back = await edgeRequest(stateDir, "POST", "/switch", { ...previous, healthPath });
    if (back.status !== 200) throw new Error(`bake window FAILED: release ${promoted.release} turned unhealthy ${after} s after promotion (${healthPath}: ${last}), and switching back to ${previous.slot} was refused: ${back.body.message}`);
    fs.appendFileSync(path.join(stateDir, "deploys.jsonl"), `${JSON.stringify({ release: previous.release, slot: previous.slot, deployedAt: new Date().toISOString(), event: "switched back by the bake window" })}\n`);
    throw new Error(
        `bake window FAILED: release ${promoted.release} turned unhealthy ${after} s after promotion (${healthPath}: ${last}); ` +
            `the edge switched back to ${previous.slot} (release ${previous.release}). Release ${promoted.release} is not promoted.`,
    );
}

/** Starts this stack's edge in the background unless it runs; fails clearly when the port is someone else's. */
async function ensureEdge(stateDir: string, port: number): Promise<void> {
    const files = edgeFiles(stateDir);
    if (alive(pidOf(files.pid)) && (await edgeRequest(stateDir, "GET", "/status").then((r) => r.status === 200, () => false))) return;
    if (!(await bindable(port))) throw new Error(`port ${port} is in use by another process, not this stack's edge; stop it or set localAppPort`);
    const log = fs.openSync(files.log, "a");
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1], "edge", "--state-dir", stateDir, "--port", String(port)], { detached: true, stdio: ["ignore", log, log] });
    child.unref();
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
        if (await edgeRequest(stateDir, "GET", "/status").then((r) => r.status === 200, () => false)) return;
        if (!alive(child.pid!)) break;
        await sleep(10);
    }
    const tail = fs.readFileSync(files.log, "utf8").trim().split("\n").slice(-3).join("\n  ");
    throw new Error(`the edge did not start on port ${port}; its log (${files.log}) ends:\n  ${tail}`);
}

function pidOf(file: string): number {
    return fs.existsSync(file) ? Number(fs.readFileSync(file, "utf8")) : 0;
}

async function waitForFreePort(port: number): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!(await bindable(port))) {
        if (Date.now() > deadline) throw new Error(`port ${port} is in use by another process; stop it or set localAppPort (the slots use localAppPort+1 and +2)`);
        await sleep(50);
    }
}

/**
 * Waits until the started app listens, or fails at once when it exits first
 * (with its log's last lines) instead of leaving the gate to time out. An app
 * that is still starting after `graceMs` is left to the gate.
 */
async function waitUntilListening(pid: number, port: number, log: string, graceMs = 10_000): Promise<void> {
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline) {
        if (await portInUse(port)) return;
        if (!alive(pid)) {
            const tail = fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n").slice(-5).join("\n  ") : "(no log)";
            throw new Error(`the app exited before it listened on port ${port}; the end of ${log}:\n  ${tail}`);
        }
        await sleep(10);
    }
}

function portInUse(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const socket = net.connect(port, "127.0.0.1");
        socket.once("connect", () => (socket.destroy(), resolve(true)));
        socket.once("error", () => resolve(false));
    });
}

function seconds(value: string | undefined): number {
    const n = Number(value ?? 0);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`--bake-seconds must be a whole number of seconds, got ${value}\nusage: ${USAGE}`);
    return n;
}

interface WorkerRecord {
    release: string;
    fingerprint: string;
    pid: number;
}

function readWorker(stateDir: string): WorkerRecord | undefined {
    const file = path.join(stateDir, "worker.json");
    return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : undefined;
}

async function stopWorker(stateDir: string, worker: WorkerRecord | undefined): Promise<void> {
    if (worker && alive(worker.pid)) {
        await stopProcessGroup(worker.pid);
        console.log(`stopped the worker of release ${worker.release} (pid ${worker.pid})`);
    }
}

/**
 * The worker's release, gated like a slot: the new worker starts beside the
 * running one and must show it is alive before the old one is stopped, so
 * scheduled work never pauses and a broken worker never replaces a working
 * one. Both run for a moment; the app's idempotency key (routine:
 * notifications.idempotency_key, unique) makes sure nothing is sent twice.
 */
async function releaseWorker(stateDir: string, next: { release: string; fingerprint: string }, command: string, healthCommand: string | undefined): Promise<void> {
    const current = readWorker(stateDir);
    if (current && alive(current.pid) && current.release === next.release && current.fingerprint === next.fingerprint) {
        return void console.log(`the worker of release ${next.release} already runs (pid ${current.pid}); not restarted`);
    }
    const logFile = path.join(stateDir, `worker-${next.release.replace(/[^A-Za-z0-9_.-]/g, "_")}.log`);
    const log = fs.openSync(logFile, "a");
    const env = { ...process.env, GATEHOUSE_RELEASE: next.release };
    const child = spawn("/bin/sh", ["-c", `exec ${command}`], { detached: true, stdio: ["ignore", log, log], env });
    child.unref();
    const pid = child.pid!;
    console.log(`started the worker of release ${next.release} (pid ${pid}, log ${logFile}); ${current && alive(current.pid) ? `release ${current.release}'s worker keeps running until it is alive` : "no worker ran before"}`);
    const started = Date.now();
    const verdict = await untilWorkerAlive(pid, healthCommand, env);
    if (!verdict.ok) {
        await stopProcessGroup(pid);
        const tail = fs.readFileSync(logFile, "utf8").trim().split("\n").slice(-5).join("\n  ");
        throw new Error(
            `the worker of release ${next.release} did not show it is alive: ${verdict.detail}; it was stopped, ` +
                `${current && alive(current.pid) ? `release ${current.release}'s worker keeps working` : "no worker runs"}. The end of ${logFile}:\n  ${tail}`,
        );
    }
    fs.writeFileSync(path.join(stateDir, "worker.pid"), String(pid));
    fs.writeFileSync(path.join(stateDir, "worker.json"), JSON.stringify({ ...next, pid }));
    console.log(`the worker of release ${next.release} is alive after ${((Date.now() - started) / 1000).toFixed(1)} s (${verdict.detail})`);
    if (current && current.pid !== pid) await stopWorker(stateDir, current);
}

/**
 * Alive: the health command exits 0 (tried for 60 s, a try starting at most every 25 ms: the
 * release waits on this, and a try is itself a process start of ~40 ms, so the next one starts
 * as the last one ends; ~20 ms sooner than a pause after each), or without one, the worker is
 * still running after 5 s.
 */
async function untilWorkerAlive(pid: number, healthCommand: string | undefined, env: NodeJS.ProcessEnv): Promise<{ ok: boolean; detail: string }> {
    const deadline = Date.now() + (healthCommand ? 60_000 : 5_000);
    let last = "not tried yet";
    while (Date.now() < deadline) {
        if (!alive(pid)) return { ok: false, detail: "it exited" };
        const tried = Date.now();
        if (healthCommand) {
            const check = spawnSync("/bin/sh", ["-c", healthCommand], { env, encoding: "utf8", timeout: 10_000 });
            if (check.status === 0) return { ok: true, detail: `${healthCommand} exited 0` };
            last = `${healthCommand} exited ${check.status ?? check.signal}: ${`${check.stdout}${check.stderr}`.trim().split("\n").pop() ?? ""}`;
        }
        await sleep(Math.max(0, (healthCommand ? 25 : 250) - (Date.now() - tried)));
    }
    return healthCommand ? { ok: false, detail: `for 60 s ${last}` } : alive(pid) ? { ok: true, detail: "it ran 5 s without exiting" } : { ok: false, detail: "it exited" };
}

// Last: main runs synchronously up to its first await and uses the classes above.
runCli("local-app", async () => {
    const dashdash = process.argv.indexOf("--");
    const ours = dashdash >= 0 ? process.argv.slice(2, dashdash) : process.argv.slice(2);
    const command = commandAfterDashDash(process.argv);
    const { values, positionals } = parseCli(
        HELP,
        {
            "state-dir": { type: "string" },
            port: { type: "string" },
            release: { type: "string" },
            fingerprint: { type: "string" },
            "health-path": { type: "string" },
            "bake-seconds": { type: "string" },
            "health-command": { type: "string" },
        },
        ours,
    );
    // Checked before anything changes: a typo must not mean "no bake window" after the switch.
    const bakeSeconds = seconds(values["bake-seconds"]);
    const stateDir = required(values["state-dir"], "--state-dir", USAGE);
    // A worker has no port; everything else serves on the edge's.
    const port = positionals[0] === "worker" ? 0 : Number(required(values.port, "--port", USAGE));
    if (positionals[0] !== "worker" && (!Number.isInteger(port) || port < 1 || port > 65533)) throw new UsageError(`--port must be a port number below 65534 (the slots use the next two), got ${values.port}\nusage: ${USAGE}`);
    const healthPath = values["health-path"] ?? "/health";
    fs.mkdirSync(stateDir, { recursive: true });
    const slots = new Slots(stateDir, port);

    switch (positionals[0]) {
        case "edge":
            await serveEdge({ stateDir, port });
            return new Promise<void>(() => {}); // serves until SIGTERM

        case "deploy": {
            const release = releaseId(required(values.release, "--release", USAGE), USAGE);
            if (!command) throw new UsageError(`deploy needs the app's start command after --\nusage: ${USAGE}`);
            // A stack's first deploy also starts its edge: both are a process start, so they start together.
            // An edge that cannot start leaves nothing behind: the slot this started is stopped again.
            const edge = ensureEdge(stateDir, port).then(() => undefined, (err: Error) => err);
            const { record, started } = await slots.deploy({ release, fingerprint: values.fingerprint ?? "" }, command, healthPath).catch(async (err) => {
                // The edge's port taken is what the operator must fix first; the app may have failed only for it.
                throw (await edge) ?? err;
            });
            const edgeFailed = await edge;
            if (edgeFailed) {
                if (started) await slots.stop(record.slot);
                throw edgeFailed;
            }
            // The deploy log: with the ledger of promotions, it tells the release plan when an update returns to an earlier release.
            fs.appendFileSync(path.join(stateDir, "deploys.jsonl"), `${JSON.stringify({ release, slot: record.slot, deployedAt: new Date().toISOString() })}\n`);
            console.log(`http://127.0.0.1:${record.port}`);
            return;
        }
        case "switch": {
            const release = releaseId(required(values.release, "--release", USAGE), USAGE);
            const record = slots.running().find((r) => r.release === release);
            if (!record) throw new Error(`no slot runs release ${release}; deploy it first (the edge still serves ${describe(readEdgeState(stateDir))})`);
            await ensureEdge(stateDir, port);
            const answer = await edgeRequest(stateDir, "POST", "/switch", { slot: record.slot, port: record.port, release, healthPath });
            if (answer.status !== 200) throw new Error(`the edge refused to switch: ${answer.body.message}`);
            const previous = answer.body.previous as { slot: SlotName; port: number; release: string } | null;
            console.log(`edge on port ${port} now serves ${record.slot} (release ${release}), ${previous ? `from ${previous.slot} (release ${previous.release})` : "first release"}`);
            if (bakeSeconds > 0) await bake(stateDir, record, previous?.slot === record.slot ? null : previous, healthPath, bakeSeconds);
            return;
        }
        case "bake": {
            const release = releaseId(required(values.release, "--release", USAGE), USAGE);
            const state = readEdgeState(stateDir);
            const record = slots.running().find((r) => r.release === release && r.slot === state.live?.slot);
            if (!record) throw new Error(`the edge does not serve release ${release} (it serves ${describe(state)}); switch to it first`);
            const previous = state.previous && state.previous.slot !== record.slot ? state.previous : null;
            // A rollback to the standby: this process baked when it was promoted and has served since.
            if (record.promotedAt) return void console.log(`bake window skipped: ${record.slot} (release ${release}) baked when it was promoted, at ${record.promotedAt}`);
            if (bakeSeconds > 0) await bake(stateDir, record, previous, healthPath, bakeSeconds);
            return;
        }
        case "promoted": {
            const release = releaseId(required(values.release, "--release", USAGE), USAGE);
            const marked = markPromoted(stateDir, release);
            console.log(`marked ${marked.slot} (release ${release}, pid ${marked.pid}) as promoted`);
            return;
        }
        case "worker": {
            const release = releaseId(required(values.release, "--release", USAGE), USAGE);
            if (!command) throw new UsageError(`worker needs the worker's start command after --\nusage: ${USAGE}`);
            await releaseWorker(stateDir, { release, fingerprint: values.fingerprint ?? "" }, command, values["health-command"]);
            return;
        }
        case "status": {
            console.log(`edge: ${alive(pidOf(edgeFiles(stateDir).pid)) ? `running on port ${port}, serving ${describe(readEdgeState(stateDir))}` : "not running"}`);
            for (const slot of SLOTS) {
                const r = slots.record(slot);
                console.log(`${slot}: ${r && alive(r.pid) ? `release ${r.release} on port ${r.port} (pid ${r.pid})` : "idle"}`);
            }
            const worker = readWorker(stateDir);
            if (worker) console.log(`worker: ${alive(worker.pid) ? `release ${worker.release} (pid ${worker.pid})` : "not running"}`);
            return;
        }
        case "stop": {
            await stopWorker(stateDir, readWorker(stateDir));
            for (const slot of SLOTS) await slots.stop(slot);
            const edgePid = pidOf(edgeFiles(stateDir).pid);
            if (alive(edgePid)) {
                await stopProcessGroup(edgePid);
                console.log(`stopped the edge (pid ${edgePid})`);
            }
            fs.rmSync(edgeFiles(stateDir).pid, { force: true });
            return;
        }
        default:
            throw new UsageError(`unknown command ${JSON.stringify(positionals[0] ?? "")}\nusage: ${USAGE}`);
    }
});
