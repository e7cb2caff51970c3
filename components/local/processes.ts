import * as fs from "fs";

/**
 * Whether a process runs: signal 0 checks it exists without sending anything,
 * and on Linux an exited process its parent has not reaped yet (a zombie) does
 * not count. The slots and workers local-app starts outlive it, so their
 * parent becomes init, which may reap them seconds later (or, as PID 1 in a
 * container without an init, never): a stop would wait that long for nothing.
 */
export function alive(pid: number): boolean {
    // 0 and negative numbers name process groups, not a process.
    if (!Number.isInteger(pid) || pid <= 0) return false;
    try {
        process.kill(pid, 0);
    } catch (err: any) {
        // EPERM: it exists but belongs to someone else.
        return err?.code === "EPERM";
    }
    return !isZombie(pid);
}

/** /proc/<pid>/stat's state field (after the command name in parentheses) is Z; false where /proc is not there. */
function isZombie(pid: number): boolean {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
    } catch {
        return false;
    }
}

/** Sends a signal to a process group (detached children lead their own), else to the process. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
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

/** SIGTERM, up to `graceMs` to exit, then SIGKILL. */
export async function stopProcessGroup(pid: number, graceMs = 10_000): Promise<void> {
    signalGroup(pid, "SIGTERM");
    const deadline = Date.now() + graceMs;
    while (alive(pid) && Date.now() < deadline) await sleep(50);
    if (alive(pid)) signalGroup(pid, "SIGKILL");
}

export function sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
}
