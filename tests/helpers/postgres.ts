import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Client } from "pg";

// Tests use the machine's PostgreSQL where one answers (127.0.0.1:5432, trust
// auth), else an embedded PostgreSQL 15 started here once per test run.
const LOCAL_URL = process.env.GATEHOUSE_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

let server: Promise<{ adminUrl: string; stop(): Promise<void> }> | undefined;

/** A superuser URL of a running PostgreSQL, starting an embedded one if needed. */
export function adminUrl(): Promise<string> {
    server ??= findOrStartServer();
    return server.then((s) => s.adminUrl);
}

async function findOrStartServer(): Promise<{ adminUrl: string; stop(): Promise<void> }> {
    if (await answers(LOCAL_URL)) return { adminUrl: LOCAL_URL, stop: async () => {} };
    const { startEmbeddedPostgres } = await import("../../components/local/embeddedPostgres");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-pg-"));
    const embedded = await startEmbeddedPostgres({ dataDir: dir, persistent: false });
    return {
        adminUrl: embedded.url,
        stop: async () => {
            await embedded.stop();
            fs.rmSync(dir, { recursive: true, force: true });
        },
    };
}

async function answers(url: string): Promise<boolean> {
    const client = new Client({ connectionString: url, connectionTimeoutMillis: 1500 });
    try {
        await client.connect();
        await client.query("SELECT 1");
        return true;
    } catch {
        return false;
    } finally {
        await client.end().catch(() => {});
    }
}

/** Stops the embedded server, if this run started one. */
export async function stopTestPostgres(): Promise<void> {
    if (server) await (await server).stop();
    server = undefined;
}

/** URL of `database` on the same server as `url`. */
export function withDatabase(url: string, database: string): string {
    const u = new URL(url);
    u.pathname = `/${database}`;
    return u.toString();
}

/** A new empty database for one suite or test; drop it with the returned function. */
export async function freshDatabase(label: string): Promise<{ url: string; name: string; drop(): Promise<void> }> {
    const admin = await adminUrl();
    const name = `gh_${label.replace(/[^a-z0-9]/gi, "_").toLowerCase()}_${crypto.randomBytes(4).toString("hex")}`;
    await sql(admin, `CREATE DATABASE ${name}`);
    return {
        url: withDatabase(admin, name),
        name,
        drop: async () => {
            await sql(admin, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        },
    };
}

/** Runs one statement and returns its rows. */
export async function sql<T extends Record<string, any> = any>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
        return (await client.query<T>(text, params)).rows;
    } finally {
        await client.end();
    }
}
