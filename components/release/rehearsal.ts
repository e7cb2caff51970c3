import * as crypto from "crypto";
import type { Client } from "pg";
import { databaseName, libpqTarget, runTool, urlForDatabase, withClient } from "./pgTools";
import { compareVersions } from "./migrationFiles";
import { RunResult, migrateUp, migrationStatus } from "./runner";
import { ALEMBIC, CommandMigrationOptions, MigrationRevisionError, RevisionReader, RevisionTable, describeRevision, isAtHead, readRevision, revertOneStep, runCommandMigration } from "./revision";
import { restoreSnapshot } from "./snapshot";

/**
 * The scratch copy's database for a release: named from the target database
 * and the release id, so the snapshot step can create it beside its pg_dump
 * (prepareScratch) and the rehearsal finds it ready. Without a release (a
 * rehearsal run by hand), a name of its own.
 */
export function scratchDatabaseName(databaseUrl: string, release?: string): string {
    const suffix = release === undefined ? crypto.randomBytes(4).toString("hex") : crypto.createHash("sha256").update(release).digest("hex").slice(0, 8);
    return `${databaseName(databaseUrl).slice(0, 30)}_rehearsal_${suffix}`;
}

/**
 * The second checklist's migration dry-run: restore the release snapshot into
 * a scratch database on the same server, run `rehearse` against it, drop it.
 * A failure here stops the release before the real database changes. The
 * scratch database of `release` is used where the snapshot step already made
 * it (prepareScratch), else created here.
 */
export async function withScratchCopy<T>(
    databaseUrl: string,
    snapshot: string,
    rehearse: (scratchUrl: string) => Promise<T>,
    options: { release?: string; log?: (line: string) => void } = {},
): Promise<T> {
    const scratch = scratchDatabaseName(databaseUrl, options.release);
    const how = await withClient(databaseUrl, (client) => takeScratch(client, databaseUrl, scratch, options.release !== undefined));
    options.log?.(`scratch copy: database ${scratch} (${how}), restoring ${snapshot} into it`);
    try {
        const scratchUrl = urlForDatabase(databaseUrl, scratch);
        await restoreSnapshot({ snapshot, databaseUrl: scratchUrl });
        return await rehearse(scratchUrl);
    } catch (err: any) {
        throw new Error(`rehearsal failed on a copy of the release snapshot, the real database was not touched: ${err.message}`);
    } finally {
        await dropScratch(databaseUrl, scratch);
    }
}

/** Drops a scratch copy, whatever is connected to it. */
export async function dropScratch(databaseUrl: string, scratch: string): Promise<void> {
    await adminQuery(databaseUrl, dropStatement(scratch));
}

/** CREATE DATABASE for a scratch copy; where the role may not, the error says how to allow it or do without. */
async function createScratch(client: Client, databaseUrl: string, scratch: string): Promise<void> {
    try {
        await client.query(`CREATE DATABASE "${scratch}"`);
    } catch (err: any) {
        const role = decodeURIComponent(new URL(databaseUrl).username) || "<role>";
        throw new Error(
            `cannot create the rehearsal's scratch database ${scratch}: ${err.message}. The rehearsal restores the release snapshot into a database ` +
                `of its own on the same server: let the role create databases (ALTER ROLE "${role}" CREATEDB), or turn the rehearsal off ` +
                `(pulumi config set rehearsal false); the real database was not touched`,
        );
    }
}

/**
 * What the snapshot step writes on the scratch database it prepared, and the
 * rehearsal clears as it takes it: only a scratch nobody has used yet is
 * restored into as it is. One that a killed rehearsal of the same release left
 * (half restored, half migrated) is made anew, since the snapshot step, done
 * in the interrupted update, does not run again to prepare one.
 */
const PREPARED_NOTE = "gatehouse: prepared for a rehearsal, empty";

/** Makes the scratch database ready to restore into; says how, for the log. */
async function takeScratch(client: Client, databaseUrl: string, scratch: string, mayBePrepared: boolean): Promise<string> {
    if (mayBePrepared) {
        const found = await client.query("SELECT shobj_description(oid, 'pg_database') AS note FROM pg_database WHERE datname = $1", [scratch]);
        if (found.rows[0]?.note === PREPARED_NOTE) {
            await client.query(`COMMENT ON DATABASE "${scratch}" IS NULL`);
            return "created beside the snapshot";
        }
        if (found.rowCount) {
            await recreateScratch(client, databaseUrl, scratch);
            return "made anew: an interrupted rehearsal of this release had left it";
        }
    }
    await createScratch(client, databaseUrl, scratch);
    return "created now";
}

/** Drops whatever is left under the scratch's name and creates it empty. */
async function recreateScratch(client: Client, databaseUrl: string, scratch: string): Promise<void> {
    await client.query(dropStatement(scratch));
    await createScratch(client, databaseUrl, scratch);
}

function dropStatement(scratch: string): string {
    return `DROP DATABASE IF EXISTS "${scratch}" WITH (FORCE)`;
}

/** What tells whether a release has migrations to rehearse: runner mode's files, or command mode's head. */
export type RehearsalWork = { dir: string; baseline?: string } | { head: string; revision: RevisionTable };

/**
 * Whether the database has anything to rehearse: a pending (or drifted) file
 * in runner mode; in command mode, a revision other than the head. The same
 * test skips the rehearsal and decides whether its scratch is prepared.
 */
export async function hasWorkToRehearse(databaseUrl: string, work: RehearsalWork): Promise<boolean> {
    if ("head" in work) return !isAtHead(await readRevision(databaseUrl, work.revision), work.head);
    return pendingFiles(await migrationStatus({ databaseUrl, dir: work.dir }), work.baseline);
}

function pendingFiles(status: Awaited<ReturnType<typeof migrationStatus>>, baseline: string | undefined): boolean {
    return status.some((s) => s.state === "drifted" || (s.state === "pending" && (baseline === undefined || compareVersions(s.version, baseline) > 0)));
}

/**
 * Creates the rehearsal's scratch database of `release` ahead of the
 * rehearsal, when there is something to rehearse. The snapshot step runs it
 * beside pg_dump: CREATE DATABASE copies template1 (~300 files), which took
 * 20 to 250 ms here from one minute to the next (file creation on this
 * disk), and otherwise sits at the start of the rehearsal. A scratch left by
 * an earlier run of the same release (a killed rehearsal) is dropped first,
 * so what the rehearsal finds is empty, and marked as prepared (PREPARED_NOTE).
 * Returns the name, or undefined when nothing was created.
 */
export async function prepareScratch(databaseUrl: string, release: string, work: RehearsalWork): Promise<string | undefined> {
    if (!(await hasWorkToRehearse(databaseUrl, work))) return undefined;
    const scratch = scratchDatabaseName(databaseUrl, release);
    // One connection for all three: the snapshot step waits for this, and a connection costs ~5 ms.
    await withClient(databaseUrl, async (client) => {
        await recreateScratch(client, databaseUrl, scratch);
        await client.query(`COMMENT ON DATABASE "${scratch}" IS '${PREPARED_NOTE}'`);
    });
    return scratch;
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
    if (!pendingFiles(status, options.baseline)) {
        options.log?.("rehearsal skipped: no pending migrations");
        return { applied: [], baselined: [], skipped: status.map((s) => s.file) };
    }
    return withScratchCopy(options.databaseUrl, options.snapshot, async (scratchUrl) => {
        const result = await migrateUp({ databaseUrl: scratchUrl, dir: options.dir, baseline: options.baseline, release: options.release });
        options.log?.(`rehearsal: ${result.applied.length} pending migration(s) apply cleanly to a copy of the release snapshot`);
        return result;
    }, options);
}

/**
 * The app's own migration command (e.g. alembic upgrade head) against a
 * scratch copy, with the same proof as the real step (revision.ts): the
 * history is continuous, and afterwards the copy itself is at the expected
 * head. A command that migrates some other database (an env.py falling back to
 * SQLite) fails here, before the real database is touched. With a down
 * command, the copy then makes the round trip (roundTrip).
 */
export async function rehearseCommand(options: { snapshot: string; downCommand?: string; release?: string } & CommandMigrationOptions): Promise<void> {
    const { snapshot, downCommand, release, ...migration } = options;
    if (!(await hasWorkToRehearse(options.databaseUrl, { head: options.head, revision: options.revision ?? ALEMBIC }))) {
        options.log?.(`rehearsal skipped: the database is already at ${options.head}`);
        return;
    }
    return withScratchCopy(options.databaseUrl, snapshot, async (scratchUrl) => {
        const started = Date.now();
        // One connection to the copy for every revision read of the upgrade and the round trip.
        const reader = new RevisionReader(scratchUrl, options.revision ?? ALEMBIC);
        try {
            await runCommandMigration({ ...migration, databaseUrl: scratchUrl, reader });
            options.log?.(`rehearsal: the migration command brings a copy of the release snapshot to ${options.head}`);
            if (downCommand) await roundTrip({ ...migration, databaseUrl: scratchUrl, downCommand, reader }, started);
        } finally {
            await reader.close();
        }
    }, { release, log: options.log });
}

/**
 * The second checklist's downgrade -1 / upgrade head round trip, on a copy
 * already at the head: dump the schema, go back one step (checked from the
 * revision table), upgrade again (checked at the head), dump again. Fails
 * when the schema after the round trip differs from the schema after the
 * first upgrade: a down step that leaves something behind, or removes too
 * much, that the upgrade does not put back the same.
 */
async function roundTrip(options: CommandMigrationOptions & { downCommand: string }, started: number): Promise<void> {
    const log = options.log ?? (() => {});
    const progress = (line: string) => log(`round trip [${((Date.now() - started) / 1000).toFixed(1)} s]: ${line}`);
    const where = options.revision ?? ALEMBIC;
    const upgraded = await dumpSchema(options.databaseUrl);
    progress(`schema after the upgrade dumped (${upgraded.length} lines); one step down: ${options.downCommand}`);
    const back = await revertOneStep(options);
    progress(`one step back, at ${describeRevision(back, where)}; upgrading again: ${options.command}`);
    // The history was checked before the first upgrade; the second upgrade gets the same revision check.
    await runCommandMigration({ ...options, historyCommand: undefined });
    const again = await dumpSchema(options.databaseUrl);
    progress(`at ${options.head} again; schema dumped (${again.length} lines), comparing`);
    const difference = firstDifference(upgraded, again);
    if (difference) {
        throw new MigrationRevisionError(
            `the round trip (upgrade, ${options.downCommand}, upgrade) leaves the schema different from the schema after the first upgrade, ` +
                `so the down step of ${options.head} does not undo exactly what its upgrade does (pg_dump --schema-only, ${difference}`,
        );
    }
    progress(`passed: the schema after the round trip is the same as after the first upgrade`);
}

/**
 * `pg_dump --schema-only`, as lines. pg_dump 15.14+ wraps its output in
 * `\restrict <key>` / `\unrestrict <key>` with a random key per run; those
 * lines are dropped so two dumps of the same schema compare equal.
 */
export async function dumpSchema(databaseUrl: string, pgDumpArgs: string[] = []): Promise<string[]> {
    const { url, env } = libpqTarget(databaseUrl);
    const { stdout } = await runTool("pg_dump", ["--schema-only", ...pgDumpArgs, url], env);
    return stdout.split("\n").filter((line) => !/^\\(un)?restrict\b/.test(line));
}

/**
 * Where two dumps first differ: the line number and, from each side, the
 * lines that differ there (up to the rest both share), blank lines and bare
 * `--` left out. undefined when they are the same.
 */
export function firstDifference(before: string[], after: string[]): string | undefined {
    let start = 0;
    while (start < before.length && start < after.length && before[start] === after[start]) start++;
    if (start === before.length && start === after.length) return undefined;
    let endBefore = before.length;
    let endAfter = after.length;
    while (endBefore > start && endAfter > start && before[endBefore - 1] === after[endAfter - 1]) {
        endBefore--;
        endAfter--;
    }
    const show = (lines: string[], end: number) => {
        const shown = lines.slice(start, end).filter((l) => l.trim() !== "" && l.trim() !== "--");
        if (shown.length === 0) return ["    (nothing)"];
        const max = 8;
        return [...shown.slice(0, max).map((l) => `    ${l}`), ...(shown.length > max ? [`    ... ${shown.length - max} more line(s)`] : [])];
    };
    return [
        `first difference at line ${start + 1}):`,
        "  after the first upgrade:",
        ...show(before, endBefore),
        "  after the round trip:",
        ...show(after, endAfter),
    ].join("\n");
}

async function adminQuery(databaseUrl: string, text: string): Promise<void> {
    await withClient(databaseUrl, (client) => client.query(text));
}
