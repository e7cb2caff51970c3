import { execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { freePort } from "./embeddedPostgres";

/** Where a local stack's Redis comes from, and its URL. */
export interface LocalRedis {
    url: string;
    source: "configured" | "machine" | "started";
}

export class RedisUnavailable extends Error {
    constructor(message: string) {
        super(message);
        this.name = "RedisUnavailable";
    }
}

/**
 * The local stack's Redis, in the order an operator would reach for one:
 * `localRedisUrl` where given; else the machine's Redis on 127.0.0.1:6379 if
 * it answers PING; else `redis-server` from PATH, started on a free port with
 * its data under the stack's state directory (it outlives this process, like
 * the embedded PostgreSQL; `npm run down:local` stops it); else one error that
 * names the install command.
 */
export async function ensureLocalRedis(options: { configuredUrl?: string; stateDir: string; machinePort?: number }): Promise<LocalRedis> {
    if (options.configuredUrl) return { url: options.configuredUrl, source: "configured" };
    const machinePort = options.machinePort ?? 6379;
    if (await answersPing(machinePort)) return { url: `redis://127.0.0.1:${machinePort}`, source: "machine" };

    const pidFile = path.join(options.stateDir, "redis.pid");
    const portFile = path.join(options.stateDir, "redis.port");
    if (fs.existsSync(portFile)) {
        const port = Number(fs.readFileSync(portFile, "utf8"));
        if (await answersPing(port)) return { url: `redis://127.0.0.1:${port}`, source: "started" };
    }
    const server = redisServerOnPath();
    if (!server) {
        throw new RedisUnavailable(
            `no Redis for this stack: localRedisUrl is not set, nothing answers on 127.0.0.1:${machinePort}, and redis-server is not on PATH.\n` +
                `  fix: install it (Debian: apt-get install redis-server), or point the stack at one: pulumi config set --secret localRedisUrl redis://...`,
        );
    }
    const port = await freePort();
    const dataDir = path.join(options.stateDir, "redis");
    fs.mkdirSync(dataDir, { recursive: true });
    const log = fs.openSync(path.join(options.stateDir, "redis.log"), "a");
    // Loopback only, appendonly so the stack's queue survives a restart.
    const child = spawn(server, ["--bind", "127.0.0.1", "--port", String(port), "--dir", dataDir, "--appendonly", "yes", "--save", ""], { detached: true, stdio: ["ignore", log, log] });
    child.unref();
    fs.writeFileSync(pidFile, String(child.pid));
    fs.writeFileSync(portFile, String(port));
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
        if (await answersPing(port)) return { url: `redis://127.0.0.1:${port}`, source: "started" };
        await new Promise((r) => setTimeout(r, 50));
    }
    try {
        process.kill(child.pid!, "SIGTERM");
    } catch {
        // already gone
    }
    fs.rmSync(pidFile, { force: true });
    throw new RedisUnavailable(`redis-server did not answer on port ${port} within 10 s; see ${path.join(options.stateDir, "redis.log")}`);
}

function redisServerOnPath(): string | undefined {
    try {
        return execFileSync("/bin/sh", ["-c", "command -v redis-server"], { encoding: "utf8" }).trim() || undefined;
    } catch {
        return undefined;
    }
}

/** Sends PING in RESP and expects +PONG (or -NOAUTH: a Redis that wants a password is still a Redis, not ours to use). */
function answersPing(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const socket = net.connect(port, "127.0.0.1");
        let answer = "";
        const done = (ok: boolean) => {
            socket.destroy();
            resolve(ok);
        };
        socket.setTimeout(1000, () => done(false));
        socket.once("connect", () => socket.write("*1\r\n$4\r\nPING\r\n"));
        socket.on("data", (d) => {
            answer += d;
            if (answer.includes("\r\n")) done(answer.startsWith("+PONG"));
        });
        socket.once("error", () => done(false));
    });
}
