import { spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { parseCli, required, runCli } from "./lib/cli";

// The local target's deploy step: stop the running app (pidfile), start the
// new release with the same command, detached, logging to <state>/app.log.
// The health gate, not this script, decides whether the new version is good.
const USAGE = "npm run local-app -- (deploy|stop) --state-dir <dir> --port <port> [--release <id>] [-- <start command>]";

runCli("local-app", async () => {
    const dashdash = process.argv.indexOf("--");
    const ours = dashdash >= 0 ? process.argv.slice(2, dashdash) : process.argv.slice(2);
    const command = dashdash >= 0 ? process.argv.slice(dashdash + 1).join(" ") : "";
    const { values, positionals } = parseCli(USAGE, { "state-dir": { type: "string" }, port: { type: "string" }, release: { type: "string" } }, ours);
    const stateDir = required(values["state-dir"], "--state-dir", USAGE);
    const port = Number(required(values.port, "--port", USAGE));
    fs.mkdirSync(stateDir, { recursive: true });
    const pidFile = path.join(stateDir, "app.pid");
    await stopPrevious(pidFile, port);
    if (positionals[0] === "stop") return;
    if (positionals[0] !== "deploy") throw new Error(`unknown command ${JSON.stringify(positionals[0] ?? "")}\nusage: ${USAGE}`);
    if (!command) throw new Error(`deploy needs the app's start command after --\nusage: ${USAGE}`);
    const log = fs.openSync(path.join(stateDir, "app.log"), "a");
    const child = spawn("/bin/sh", ["-c", command], {
        detached: true,
        stdio: ["ignore", log, log],
        env: { ...process.env, PORT: String(port), GATEHOUSE_RELEASE: values.release ?? "" },
    });
    fs.writeFileSync(pidFile, String(child.pid));
    child.unref();
    console.log(`started release ${values.release ?? "?"} as pid ${child.pid} on port ${port} (log: ${path.join(stateDir, "app.log")})`);
});

async function stopPrevious(pidFile: string, port: number): Promise<void> {
    if (fs.existsSync(pidFile)) {
        const pid = Number(fs.readFileSync(pidFile, "utf8"));
        if (alive(pid)) {
            signalGroup(pid, "SIGTERM");
            const deadline = Date.now() + 10_000;
            while (alive(pid) && Date.now() < deadline) await sleep(50);
            if (alive(pid)) signalGroup(pid, "SIGKILL");
            console.log(`stopped previous app (pid ${pid})`);
        }
        fs.rmSync(pidFile, { force: true });
    }
    const deadline = Date.now() + 10_000;
    while (await portInUse(port)) {
        if (Date.now() > deadline) throw new Error(`port ${port} is still in use by another process; stop it or set localAppPort`);
        await sleep(50);
    }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
    try {
        process.kill(-pid, signal);
    } catch {
        try {
            process.kill(pid, signal);
        } catch {
            // already gone
        }
    }
}

function alive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
}

function portInUse(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const socket = net.connect(port, "127.0.0.1");
        socket.once("connect", () => (socket.destroy(), resolve(true)));
        socket.once("error", () => resolve(false));
    });
}

function sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
}
