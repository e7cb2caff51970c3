import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import type { Client } from "pg";

/**
 * A libpq target for pg_dump/pg_restore/psql without the password on the
 * command line (where `ps` and error messages would show it): the URL without
 * its password, and PGPASSWORD in the child's environment.
 */
export function libpqTarget(databaseUrl: string): { url: string; env: NodeJS.ProcessEnv } {
    const u = new URL(databaseUrl);
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (u.password) {
        env.PGPASSWORD = decodeURIComponent(u.password);
        u.password = "";
    }
    return { url: u.toString(), env };
}

/** A database URL with its password masked, for messages and logs. */
export function redactUrl(databaseUrl: string): string {
    try {
        const u = new URL(databaseUrl);
        if (u.password) u.password = "***";
        return u.toString();
    } catch {
        return "<unparseable database URL>";
    }
}

/** The database name in a URL. */
export function databaseName(databaseUrl: string): string {
    return decodeURIComponent(new URL(databaseUrl).pathname.replace(/^\//, "")) || "postgres";
}

/** The same server, another database. */
export function urlForDatabase(databaseUrl: string, database: string): string {
    const u = new URL(databaseUrl);
    u.pathname = `/${encodeURIComponent(database)}`;
    return u.toString();
}

const resolvedTools = new Map<string, string>();

/**
 * The program to run for a PostgreSQL client tool. On Debian, /usr/bin/pg_dump
 * (pg_restore, psql) is pg_wrapper, a Perl script that picks a version and
 * execs /usr/lib/postgresql/<version>/bin/<tool>; starting Perl costs ~30 ms
 * a call, and a release makes five or more. Where exactly one version is
 * installed, pg_wrapper can only exec that one (pg_wrapper(1)), so it is run
 * directly; with several, the choice stays pg_wrapper's.
 */
export function pgToolPath(tool: string, searchPath = process.env.PATH ?? ""): string {
    const key = `${tool}\0${searchPath}`;
    let resolved = resolvedTools.get(key);
    if (resolved === undefined) {
        resolved = tool;
        const onPath = searchPath.split(path.delimiter).map((dir) => path.join(dir, tool)).find((file) => fs.existsSync(file));
        const root = "/usr/lib/postgresql";
        if (onPath && path.basename(fs.realpathSync(onPath)) === "pg_wrapper" && fs.existsSync(root)) {
            const versions = fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, "bin", tool)));
            if (versions.length === 1) resolved = path.join(root, versions[0], "bin", tool);
        }
        resolvedTools.set(key, resolved);
    }
    return resolved;
}

/** Runs a PostgreSQL client tool; rejects with its stderr when it exits non-zero. */
export function runTool(tool: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
        const child = spawn(pgToolPath(tool), args, { env, stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.on("error", (err: any) =>
            reject(err.code === "ENOENT" ? new Error(`${tool} is not installed; install the PostgreSQL client tools (Debian: apt-get install postgresql-client)`) : err),
        );
        child.on("close", (code) => {
            if (code === 0) resolve({ stdout, stderr });
            else reject(new Error(`${tool} exited with ${code}: ${stderr.trim() || stdout.trim()}`));
        });
    });
}

/** One connection for `use`, closed afterwards whatever happens. */
export async function withClient<T>(databaseUrl: string, use: (client: Client) => Promise<T>): Promise<T> {
    // Loaded here: the CLIs that import this module only for redactUrl (local-app, promote) start ~25 ms sooner without pg.
    const pg = require("pg") as typeof import("pg");
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
        return await use(client);
    } finally {
        await client.end();
    }
}
