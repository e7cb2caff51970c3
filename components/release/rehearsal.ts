import * as crypto from "crypto";
import { Client } from "pg";
import { databaseName, urlForDatabase } from "./pgTools";
import { RunResult, migrateUp } from "./runner";
import { restoreSnapshot } from "./snapshot";

export interface RehearsalOptions {
    /** The real database; the scratch copy is created on the same server. */
    databaseUrl: string;
    /** The release snapshot to restore into the scratch copy. */
    snapshot: string;
    dir: string;
    baseline?: string;
    release?: string;
    log?: (line: string) => void;
}

/**
 * The second checklist's migration dry-run: restore the release snapshot into
 * a scratch database, apply the pending migrations there, drop it. A failure
 * here stops the release before the real database changes.
 */
export async function rehearseMigrations(options: RehearsalOptions): Promise<RunResult> {
    const log = options.log ?? (() => {});
    const scratch = `${databaseName(options.databaseUrl).slice(0, 30)}_rehearsal_${crypto.randomBytes(4).toString("hex")}`;
    await adminQuery(options.databaseUrl, `CREATE DATABASE "${scratch}"`);
    try {
        const scratchUrl = urlForDatabase(options.databaseUrl, scratch);
        await restoreSnapshot({ snapshot: options.snapshot, databaseUrl: scratchUrl });
        const result = await migrateUp({
            databaseUrl: scratchUrl,
            dir: options.dir,
            baseline: options.baseline,
            release: options.release,
        });
        log(`rehearsal: ${result.applied.length} pending migration(s) apply cleanly to a copy of the release snapshot`);
        return result;
    } catch (err: any) {
        throw new Error(`rehearsal failed on a copy of the release snapshot, the real database was not touched: ${err.message}`);
    } finally {
        await adminQuery(options.databaseUrl, `DROP DATABASE IF EXISTS "${scratch}" WITH (FORCE)`);
    }
}

async function adminQuery(databaseUrl: string, text: string): Promise<void> {
    const client = new Client({ connectionString: databaseUrl });
    await client.connect();
    try {
        await client.query(text);
    } finally {
        await client.end();
    }
}
