/** Whether a process exists (signal 0 checks without sending anything). */
export function alive(pid: number): boolean {
    // 0 and negative numbers name process groups, not a process.
    if (!Number.isInteger(pid) || pid <= 0) return false;
    try {
        process.kill(pid, 0);
        return true;
    } catch (err: any) {
        // EPERM: it exists but belongs to someone else.
        return err?.code === "EPERM";
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
