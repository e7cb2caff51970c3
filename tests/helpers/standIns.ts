import { ChildProcess, spawn } from "child_process";
import * as path from "path";
import { freePort } from "../../components/local/embeddedPostgres";
import { ensureCliBuild } from "../../components/release/cliBuild";
import { migrateUp } from "../../components/release/runner";
import { SHIPPED_MIGRATIONS } from "./migrations";
import { freshDatabase } from "./postgres";

const REPO_ROOT = path.join(__dirname, "..", "..");
export const ROUTINE_MIGRATIONS = path.join(REPO_ROOT, "demo", "routine-migrations");

export interface StandIn {
    url: string;
    databaseUrl: string;
    /** What the process printed, for failure messages. */
    output(): string;
    stop(): Promise<void>;
}

/**
 * A stand-in app (demo/server.ts or demo/routine.ts, as bundled for the
 * local target) as a process on a free port, with a fresh database its
 * migrations were applied to. Resolves once it listens.
 */
export async function startStandIn(app: "kifu" | "routine" | "frontend", env: Record<string, string> = {}, options: { databaseUrl?: string } = {}): Promise<StandIn> {
    ensureCliBuild();
    // The frontend stand-in keeps no data.
    const db = options.databaseUrl || app === "frontend" ? undefined : await freshDatabase(`standin_${app}`);
    const databaseUrl = options.databaseUrl ?? db?.url ?? "";
    if (db) await migrateUp({ databaseUrl, dir: app === "kifu" ? SHIPPED_MIGRATIONS : ROUTINE_MIGRATIONS });
    const port = await freePort();
    const script = path.join(REPO_ROOT, ".gatehouse", "build", { kifu: "demo-server.js", routine: "demo-routine.js", frontend: "demo-frontend.js" }[app]);
    const child = spawn(process.execPath, [script], {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH ?? "", DATABASE_URL: databaseUrl, PORT: String(port), ...(app === "kifu" ? { JWT_SECRET: "contract-test-secret", KIFU_ENC_KEY: Buffer.alloc(32, 7).toString("base64") } : {}), ...env },
        stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout!.on("data", (d) => (output += d));
    child.stderr!.on("data", (d) => (output += d));
    await new Promise<void>((resolve, reject) => {
        child.on("exit", (code) => reject(new Error(`the ${app} stand-in exited (${code}):\n${output}`)));
        child.stdout!.on("data", () => /listening on|on http:/.test(output) && resolve());
    }).catch(async (err) => {
        await db?.drop();
        throw err;
    });
    child.removeAllListeners("exit");
    return {
        url: `http://127.0.0.1:${port}`,
        databaseUrl,
        output: () => output,
        stop: async () => {
            await stopProcess(child);
            await db?.drop();
        },
    };
}

function stopProcess(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
        child.on("exit", () => resolve());
        child.kill("SIGTERM");
    });
}
