import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import { REPO_ROOT } from "../harness/stackConfig";

/** Every `npm run <cli>` (package.json "scripts"), by the name an operator types, and the arguments that start it. */
export const ENTRY_POINTS: Record<string, string[]> = {
    migrate: ["scripts/migrate.ts"],
    "migrate lint": ["scripts/migrate.ts", "lint"],
    snapshot: ["scripts/snapshot.ts"],
    restore: ["scripts/restore.ts"],
    rehearse: ["scripts/rehearse.ts"],
    "migration-revision": ["scripts/migration-revision.ts"],
    gate: ["scripts/gate.ts"],
    promote: ["scripts/promote.ts"],
    "local-app": ["scripts/local-app.ts"],
    // From their bundles: an operator waits for their start (scripts/built.js).
    rollback: ["scripts/built.js", "rollback"],
    "up:local": ["scripts/built.js", "up-local"],
    "down:local": ["scripts/built.js", "down-local"],
    pulumi: ["scripts/built.js", "pulumi"],
    bench: ["scripts/bench.ts"],
};

export interface CliResult {
    status: number | null;
    stdout: string;
    stderr: string;
}

/** node's arguments for an entry point, as its package.json script gives them (TypeScript through ts-node). */
export function invocation(entry: string, args: string[]): string[] {
    const start = ENTRY_POINTS[entry];
    return [...(start[0].endsWith(".ts") ? ["-r", "ts-node/register/transpile-only"] : []), ...start, ...args];
}

/** Runs an entry point as `npm run` would, DATABASE_URL unset unless given. */
export function runEntryPoint(entry: string, args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
    const result = spawnSync(process.execPath, invocation(entry, args), { cwd: REPO_ROOT, env: { ...process.env, DATABASE_URL: "", ...env }, encoding: "utf8", timeout: 60_000 });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * The same without blocking this process: for servers the test itself runs.
 * `nodeOptions` go before the script (e.g. a heap limit); peakRssMb is the
 * largest resident size seen (sampled every 50 ms from /proc).
 */
export function runEntryPointAsync(entry: string, args: string[], nodeOptions: string[] = []): Promise<CliResult & { ms: number; peakRssMb: number }> {
    const started = Date.now();
    const child: ChildProcess = spawn(process.execPath, [...nodeOptions, ...invocation(entry, args)], { cwd: REPO_ROOT, env: { ...process.env, DATABASE_URL: "" } });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    let peakRssMb = 0;
    const sampler = setInterval(() => {
        try {
            const kb = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${child.pid}/status`, "utf8"))?.[1] ?? 0);
            peakRssMb = Math.max(peakRssMb, kb / 1024);
        } catch {
            // exited between samples
        }
    }, 50);
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    return new Promise((resolve) =>
        child.on("close", (status) => {
            clearTimeout(timer);
            clearInterval(sampler);
            resolve({ status, stdout, stderr, ms: Date.now() - started, peakRssMb });
        }),
    );
}
