import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { gatehouseCli } from "../../components/release/pipeline";
import { bindable } from "../../components/local/embeddedPostgres";

/**
 * A local stack's ports for a test: the backend's edge and its two slots'
 * (port, +1, +2) and the frontend's (+3, +4, +5; see localPorts), all free,
 * below Linux's ephemeral range (32768-60999). Ports from the
 * ephemeral range can be taken at any moment as the local port of some
 * outgoing connection, which makes a slot's later listen fail.
 */
export async function freeStackPorts(): Promise<number> {
    for (let attempt = 0; attempt < 200; attempt++) {
        const base = 20_000 + Math.floor(Math.random() * 12_000);
        if ((await Promise.all([0, 1, 2, 3, 4, 5].map((i) => bindable(base + i)))).every(Boolean)) return base;
    }
    throw new Error("no six consecutive free ports between 20000 and 32000");
}

/** The stack settings that put a local stack on the ports freeStackPorts found. */
export function localPorts(base: number): { localAppPort: number; localFrontendPort: number } {
    return { localAppPort: base, localFrontendPort: base + 3 };
}

/**
 * Stops everything a local stack started (its edges, slots and worker) by the
 * same command the stack's delete steps run, whatever state a test left it in.
 */
export function stopLocalStack(stateDir: string, cwd: string): void {
    for (const dir of [stateDir, path.join(stateDir, "frontend"), path.join(stateDir, "worker")]) {
        if (!fs.existsSync(path.join(cwd, dir))) continue;
        execFileSync("/bin/sh", ["-c", gatehouseCli("local-app", ["stop", "--state-dir", dir, "--port", "1"])], { cwd, stdio: "ignore" });
    }
}
