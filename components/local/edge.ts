import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { alive } from "./processes";

// The local edge: one long-running reverse proxy that holds the public port
// and forwards each request to the live slot. Node's own http, not a proxy
// library: the one thing a switch needs is that every request picks its
// upstream when it arrives, which is a variable read here; http-proxy (the
// usual library) has had no release since 2020 and would add nothing but
// its own error handling around the same http.request.
//
// A switch never fails an in-flight request: a request already forwarded
// finishes on the slot it started on (that slot keeps running as standby),
// and only requests that arrive after the switch go to the new slot.

export type SlotName = "blue" | "green";

/**
 * What `local-app deploy` prints when it keeps a slot whose process was
 * promoted before (a rollback to the standby); the gate reads it and does
 * not run its checks again against that process.
 */
export const PROMOTED_BEFORE = "this process was promoted before, at";

/** Why a deploy's candidate needs no gate: its output says the process was promoted before; "" otherwise. */
export function promotedBefore(deployOutput: string | undefined): string {
    const line = (deployOutput ?? "").split("\n").find((l) => l.startsWith(PROMOTED_BEFORE));
    return line ? `the candidate is the process that passed this gate when its release was promoted (${line.slice(PROMOTED_BEFORE.length).trim()}) and has run since` : "";
}
export const SLOTS: SlotName[] = ["blue", "green"];

/** What local-app records of a slot in slot-<slot>.json (written by its deploy, read by switch-back and status). */
export interface SlotRecord {
    slot: SlotName;
    port: number;
    release: string;
    /** The deployment's command and environment, hashed: the same release id with other settings is another deployment. */
    fingerprint: string;
    pid: number;
    /** Set by `promoted` once the release got through its gates, switch and bake: this very process served users. */
    promotedAt?: string;
    /** Where the edge checks it before switching to it. */
    healthPath?: string;
}

/** A slot's record, if local-app started one there. */
export function readSlotRecord(stateDir: string, slot: SlotName): SlotRecord | undefined {
    const file = path.join(stateDir, `slot-${slot}.json`);
    return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : undefined;
}

/**
 * Marks the live slot, which must run `release`, as promoted: it passed its
 * gates, switch and bake and served users, so a rollback to it later needs no
 * gate and no bake. The first promotion of a process is the one that counts.
 */
export function markPromoted(stateDir: string, release: string): SlotRecord {
    const state = readEdgeState(stateDir);
    const record = state.live ? readSlotRecord(stateDir, state.live.slot) : undefined;
    if (!record || record.release !== release || !alive(record.pid)) {
        throw new Error(`the edge in ${stateDir} does not serve release ${release} (it serves ${describe(state)}); nothing to mark`);
    }
    const marked = { ...record, promotedAt: record.promotedAt ?? new Date().toISOString() };
    fs.writeFileSync(path.join(stateDir, `slot-${record.slot}.json`), JSON.stringify(marked));
    return marked;
}

/** What the edge forwards to, persisted so a restarted edge serves the same slot. */
export interface EdgeState {
    live: LiveSlot | null;
    /** What it served before the last switch: where the bake window goes back to. */
    previous?: LiveSlot | null;
}

export interface LiveSlot {
    slot: SlotName;
    port: number;
    release: string;
}

export const edgeFiles = (stateDir: string) => ({
    state: path.join(stateDir, "edge.json"),
    socket: path.join(stateDir, "edge.sock"),
    pid: path.join(stateDir, "edge.pid"),
    log: path.join(stateDir, "edge.log"),
});

export function readEdgeState(stateDir: string): EdgeState {
    const file = edgeFiles(stateDir).state;
    return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : { live: null };
}

function writeEdgeState(stateDir: string, state: EdgeState): void {
    const file = edgeFiles(stateDir).state;
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(state));
    fs.renameSync(`${file}.tmp`, file); // atomic: a crash never leaves half a state file
}

/** GET healthUrl answers 2xx within timeoutMs. */
export function answersHealthy(url: string, timeoutMs = 2000): Promise<{ ok: boolean; detail: string }> {
    return new Promise((resolve) => {
        const req = http.get(url, { timeout: timeoutMs }, (res) => {
            res.resume();
            const ok = (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300;
            resolve({ ok, detail: `status ${res.statusCode}` });
        });
        req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
        req.on("error", (err: any) => resolve({ ok: false, detail: err.code ?? err.message }));
    });
}

/**
 * Runs the edge in this process: the public port forwards to the live slot;
 * a Unix socket in the state directory takes switch and status requests
 * (only this machine's user can reach it).
 */
export async function serveEdge(options: { stateDir: string; port: number }): Promise<void> {
    const files = edgeFiles(options.stateDir);
    let state = readEdgeState(options.stateDir);

    const proxy = http.createServer((req, res) => {
        const live = state.live;
        if (!live) {
            res.writeHead(503, { "Content-Type": "application/json" });
            return void res.end(JSON.stringify({ code: "NO_LIVE_SLOT", message: "no release has been promoted yet" }));
        }
        const forwarded = http.request(
            {
                host: "127.0.0.1",
                port: live.port,
                method: req.method,
                path: req.url,
                headers: { ...req.headers, "x-forwarded-for": req.socket.remoteAddress ?? "", "x-forwarded-host": req.headers.host ?? "" },
                // A connection per request (cheap on loopback): a pooled one can be closed by the
                // slot's keep-alive timeout just as it is reused, which would fail a user's request,
                // and none is left open to a slot the edge switched away from.
                agent: false,
            },
            (answer) => {
                res.writeHead(answer.statusCode ?? 502, { ...answer.headers, "x-gatehouse-slot": live.slot, "x-gatehouse-release": live.release });
                answer.pipe(res);
            },
        );
        forwarded.on("error", (err: any) => {
            if (res.headersSent) return void res.destroy(err);
            res.writeHead(502, { "Content-Type": "application/json" });
            res.end(JSON.stringify({ code: "SLOT_UNREACHABLE", message: `${live.slot} (port ${live.port}): ${err.code ?? err.message}` }));
        });
        req.pipe(forwarded);
    });

    const control = http.createServer(async (req, res) => {
        const reply = (status: number, body: unknown) => {
            res.writeHead(status, { "Content-Type": "application/json" });
            res.end(JSON.stringify(body));
        };
        if (req.method === "GET" && req.url === "/status") return reply(200, state);
        if (req.method === "POST" && req.url === "/switch") {
            let body = "";
            for await (const chunk of req) body += chunk;
            const { slot, port, release, healthPath } = JSON.parse(body);
            // Refuse to send users to a slot that is not up.
            const health = await answersHealthy(`http://127.0.0.1:${port}${healthPath}`);
            if (!health.ok) return reply(409, { message: `slot ${slot} (port ${port}) is not up: ${healthPath} answered ${health.detail}; the edge still serves ${describe(state)}` });
            const previous = state.live;
            state = { live: { slot, port, release }, previous };
            writeEdgeState(options.stateDir, state);
            return reply(200, { previous, live: state.live });
        }
        reply(404, { message: `unknown control request ${req.method} ${req.url}` });
    });

    fs.rmSync(files.socket, { force: true });
    await new Promise<void>((resolve, reject) => {
        proxy.once("error", reject);
        proxy.listen(options.port, "127.0.0.1", () => resolve());
    });
    await new Promise<void>((resolve) => control.listen(files.socket, () => resolve()));
    fs.writeFileSync(files.pid, String(process.pid));
    console.log(`edge listening on http://127.0.0.1:${options.port}, serving ${describe(state)}`);
    const stop = () => {
        proxy.close();
        control.close();
        fs.rmSync(files.socket, { force: true });
        process.exit(0);
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
}

export function describe(state: EdgeState): string {
    return state.live ? `${state.live.slot} (release ${state.live.release}, port ${state.live.port})` : "nothing yet";
}

/** A request to the running edge's control socket. */
export function edgeRequest(stateDir: string, method: "GET" | "POST", url: string, body?: unknown): Promise<{ status: number; body: any }> {
    return new Promise((resolve, reject) => {
        const req = http.request({ socketPath: edgeFiles(stateDir).socket, method, path: url, headers: { "Content-Type": "application/json" }, timeout: 10_000 }, (res) => {
            let text = "";
            res.on("data", (d) => (text += d));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : {} }));
        });
        req.on("timeout", () => req.destroy(new Error("the edge did not answer within 10 s")));
        req.on("error", reject);
        req.end(body === undefined ? undefined : JSON.stringify(body));
    });
}

/**
 * A rollback's first move, before the engine reconciles the stack: the edge
 * goes back to the slot whose process served `release` when it was promoted
 * and still runs (the standby). Users are back on it in the time of one
 * switch; the update that follows finds the slot live and changes nothing
 * they see. Answers what it did, or undefined when there is no such slot
 * (then the update deploys, gates and switches as usual).
 */
export async function switchBackToPromoted(stateDir: string, release: string): Promise<{ slot: SlotName; ms: number } | undefined> {
    const started = Date.now();
    if (!fs.existsSync(edgeFiles(stateDir).socket)) return undefined;
    for (const slot of SLOTS) {
        const record = readSlotRecord(stateDir, slot);
        if (!record || record.release !== release || !record.promotedAt || !record.healthPath) continue;
        if (readEdgeState(stateDir).live?.slot === slot) return { slot, ms: 0 };
        const answer = await edgeRequest(stateDir, "POST", "/switch", { slot, port: record.port, release, healthPath: record.healthPath }).catch(() => undefined);
        return answer?.status === 200 ? { slot, ms: Date.now() - started } : undefined;
    }
    return undefined;
}
