import * as fs from "fs";
import * as path from "path";

/** What an edge serves now: the status, slot and release of an answer through it. */
export async function serving(url: string): Promise<{ status: number; slot: string | null; release: string | null }> {
    const answer = await fetch(url);
    await answer.body?.cancel();
    return { status: answer.status, slot: answer.headers.get("x-gatehouse-slot"), release: answer.headers.get("x-gatehouse-release") };
}

/** What each slot of a service's state directory runs (local-app's records), by slot. */
export function slotRecords(stateDir: string): Record<"blue" | "green", { release: string; pid: number } | undefined> {
    const read = (slot: string) => {
        const file = path.join(stateDir, `slot-${slot}.json`);
        return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as { release: string; pid: number }) : undefined;
    };
    return { blue: read("blue"), green: read("green") };
}

/** The worker a service's state directory records (local-app worker), if any. */
export function workerRecord(stateDir: string): { release: string; pid: number } | undefined {
    const file = path.join(stateDir, "worker", "worker.json");
    return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : undefined;
}
