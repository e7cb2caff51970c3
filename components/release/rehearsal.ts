import * as crypto from "crypto";
import { Client } from "pg";
import { databaseName, urlForDatabase } from "./pgTools";
import { compareVersions } from "./migrationFiles";
import { RunResult, migrateUp, migrationStatus } from "./runner";
import { ALEMBIC, CommandMigrationOptions, readRevision, runCommandMigration } from "./revision";
import { restoreSnapshot } from "./snapshot";

/**
 * The second checklist's migration dry-run: restore the release snapshot into
 * a scratch database on the same server, run `rehearse` against it, drop it.
 * A failure here stops the release before the real database changes.
 */
export async function withScratchCopy<T>(databaseUrl: string, snapshot: string, rehearse: (scratchUrl: string) => Promise<T>): Promise<T> {
    const scratch = `${databaseName(databaseUrl).slice(0, 30)}_rehearsal_${crypto.randomBytes(4).toString("hex")}`;
    await adminQuery(databaseUrl, `CREATE DATABASE "${scratch}"`);
    try {
        const scratchUrl = urlForDatabase(databaseUrl, scratch);
        await restoreSnapshot({ snapshot, databaseUrl: scratchUrl });
        return await rehearse(scratchUrl);
    } catch (err: any) {
        throw new Error(`rehearsal failed on a copy of the release snapshot, the real database was not touched: ${err.message}`);
    } finally {
        await adminQuery(databaseUrl, `DROP DATABASE IF EXISTS "${scratch}" WITH (FORCE)`);
    }
}

export interface RehearsalOptions {
    databaseUrl: string;
    snapshot: string;
    dir: string;
    baseline?: string;
    release?: string;
    log?: (line: string) => void;
}

/**
 * Applies the pending migration files to a scratch copy of the release
 * snapshot. With nothing pending there is nothing to rehearse, and the
 * restore (the slow part) is skipped.
 */
export async function rehearseMigrations(options: RehearsalOptions): Promise<RunResult> {
    const status = await migrationStatus({ databaseUrl: options.databaseUrl, dir: options.dir });
    const pending = status.filter((s) => s.state === "pending" && (options.baseline === undefined || compareVersions(s.version, options.baseline) > 0));
    if (pending.length === 0 && !status.some((s) => s.state === "drifted")) {
        options.log?.("rehearsal skipped: no pending migrations");
        return { applied: [], baselined: [], skipped: status.map((s) => s.file) };
    }
    return withScratchCopy(options.databaseUrl, options.snapshot, async (scratchUrl) => {
        const result = await migrateUp({ databaseUrl: scratchUrl, dir: options.dir, baseline: options.baseline, release: options.release });
        options.log?.(`rehearsal: ${result.applied.length} pending migration(s) apply cleanly to a copy of the release snapshot`);
        return result;
    });
}

/**
 * The app's own migration command (e.g. alembic upgrade head) against a
 * scratch copy, with the same proof as the real step (revision.ts): the
 * history is continuous, and afterwards the copy itself is at the expected
 * head. A command that migrates some other database (an env.py falling back to
 * SQLite) fails here, before the real database is touched.
 */
export async function rehearseCommand(options: { snapshot: string } & CommandMigrationOptions): Promise<void> {
    const { snapshot, ...migration } = options;
    const current = await readRevision(options.databaseUrl, options.revision ?? ALEMBIC);
    if (current?.length === 1 && current[0] === options.head) {
        options.log?.(`rehearsal skipped: the database is already at ${options.head}`);
        return;
    }
    return withScratchCopy(options.databaseUrl, snapshot, async (scratchUrl) => {
        await runCommandMigration({ ...migration, databaseUrl: scratchUrl });
        options.log?.(`rehearsal: the migration command brings a copy of the release snapshot to ${options.head}`);
    });
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
