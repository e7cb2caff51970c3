import { spawn } from "child_process";
import { Client } from "pg";

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

/** Runs a PostgreSQL client tool; rejects with its stderr when it exits non-zero. */
export function runTool(tool: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
        const child = spawn(tool, args, { env, stdio: ["ignore", "pipe", "pipe"] });
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
    const client = new Client({ connectionString: databaseUrl });
    await client.connect();
    try {
        return await use(client);
    } finally {
        await client.end();
    }
}
