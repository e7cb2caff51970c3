import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { shellQuote } from "../../components/release/shell";

/**
 * Checkouts and runtimes of the two real apps, as scripts/real-apps.sh
 * prepares them outside this repository and prints them:
 *   GATEHOUSE_REAL_KIFU              kifu's checkout (backend/migrations, frontend/ with its next build)
 *   GATEHOUSE_REAL_KIFU_BACKEND_BIN  the backend built from it (go build ./cmd)
 *   GATEHOUSE_REAL_KIFU_BUILD_ID     the frontend build's id (.next/BUILD_ID)
 *   GATEHOUSE_REAL_KIFU_API_BASE_URL the API base URL that build inlined (NEXT_PUBLIC_API_BASE_URL)
 *   GATEHOUSE_REAL_ROUTINE           routine's develop checkout; GATEHOUSE_REAL_ROUTINE_MAIN its main
 *   GATEHOUSE_REAL_PYTHON_ROOT       a Debian 13 root with Python 3.13 and the app's modules
 */
export interface RealApps {
    kifu: { checkout: string; backendBin: string; migrations: string; frontend: string; buildId: string; apiBaseUrl: string };
    routine: { develop: string; main: string; pythonRoot: string };
}

const HOW = "prepare them with scripts/real-apps.sh and export the GATEHOUSE_REAL_* lines it prints (README, \"Testing against the real apps\")";

/** The real apps named by the environment, or undefined with why not. */
export function realApps(env: NodeJS.ProcessEnv = process.env): RealApps | { missing: string } {
    const names = ["GATEHOUSE_REAL_KIFU", "GATEHOUSE_REAL_KIFU_BACKEND_BIN", "GATEHOUSE_REAL_KIFU_BUILD_ID", "GATEHOUSE_REAL_KIFU_API_BASE_URL", "GATEHOUSE_REAL_ROUTINE", "GATEHOUSE_REAL_ROUTINE_MAIN", "GATEHOUSE_REAL_PYTHON_ROOT"];
    const unset = names.filter((n) => !env[n]);
    if (unset.length === names.length) return { missing: `no real app checkouts are named (GATEHOUSE_REAL_KIFU, ...): ${HOW}` };
    if (unset.length > 0) return { missing: `${unset.join(", ")} ${unset.length === 1 ? "is" : "are"} not set: ${HOW}` };
    if (process.getuid?.() !== 0) return { missing: "the routine runtime is a Debian 13 root entered with chroot and a bind mount, which need root" };
    const kifu = env.GATEHOUSE_REAL_KIFU!;
    return {
        kifu: {
            checkout: kifu,
            backendBin: env.GATEHOUSE_REAL_KIFU_BACKEND_BIN!,
            migrations: path.join(kifu, "backend", "migrations"),
            frontend: path.join(kifu, "frontend"),
            buildId: env.GATEHOUSE_REAL_KIFU_BUILD_ID!,
            apiBaseUrl: env.GATEHOUSE_REAL_KIFU_API_BASE_URL!,
        },
        routine: { develop: env.GATEHOUSE_REAL_ROUTINE!, main: env.GATEHOUSE_REAL_ROUTINE_MAIN!, pythonRoot: env.GATEHOUSE_REAL_PYTHON_ROOT! },
    };
}

/**
 * A shell command that runs `inner` in a routine checkout inside the Python
 * root (the checkout bind-mounted at /srv/<name>, mounted on first use), with
 * the caller's environment (DATABASE_URL, PORT, ...). Gatehouse runs it as an
 * operator's command: the app's migration command, or the slots' start command.
 */
export function inRoutineRoot(root: string, checkout: string, inner: string): string {
    const mount = path.join(root, "srv", path.basename(checkout));
    fs.mkdirSync(mount, { recursive: true });
    const mounted = `mountpoint -q ${shellQuote(mount)} || mount --bind ${shellQuote(checkout)} ${shellQuote(mount)}`;
    // The app's image sets PYTHONDONTWRITEBYTECODE; without it python writes __pycache__ into the checkout.
    // One simple command (sh -c '...'), as a start command is run with `exec` in front of it.
    const compound = `${mounted} && exec chroot ${shellQuote(root)} /usr/bin/env PYTHONDONTWRITEBYTECODE=1 /bin/sh -c ${shellQuote(`cd /srv/${path.basename(checkout)} && ${inner}`)}`;
    return `/bin/sh -c ${shellQuote(compound)}`;
}

/** Unmounts what inRoutineRoot mounted for these checkouts. */
export function unmountRoutine(root: string, checkouts: string[]): void {
    for (const checkout of checkouts) {
        const mount = path.join(root, "srv", path.basename(checkout));
        try {
            execFileSync("umount", [mount], { stdio: "ignore" });
        } catch {
            // not mounted
        }
    }
}

/** A real app started for a test: stopped (its process group) by stop(). */
export interface Started {
    url: string;
    log(): string;
    stop(): Promise<void>;
}

/** Starts `command` (a shell command) with env, and waits until `healthPath` answers 2xx. */
export async function startApp(command: string, env: Record<string, string>, port: number, healthPath: string, cwd?: string): Promise<Started> {
    const logFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "gh-realapp-")), "app.log");
    const log = fs.openSync(logFile, "a");
    const child: ChildProcess = spawn("/bin/sh", ["-c", `exec ${command}`], { cwd, env: { PATH: process.env.PATH, HOME: os.tmpdir(), ...env, PORT: String(port) }, detached: true, stdio: ["ignore", log, log] });
    const url = `http://127.0.0.1:${port}`;
    const read = () => fs.readFileSync(logFile, "utf8");
    const stop = async () => {
        try {
            process.kill(-child.pid!, "SIGTERM");
        } catch {
            return;
        }
        for (let i = 0; i < 100 && child.exitCode === null && child.signalCode === null; i++) await new Promise((r) => setTimeout(r, 50));
    };
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
        if (child.exitCode !== null) throw new Error(`${command} exited with ${child.exitCode} before it answered:\n${read().slice(-2000)}`);
        const ok = await fetch(`${url}${healthPath}`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
        if (ok) return { url, log: read, stop };
        await new Promise((r) => setTimeout(r, 250));
    }
    await stop();
    throw new Error(`${command} did not answer ${healthPath} on port ${port} within 120 s:\n${read().slice(-2000)}`);
}
