import * as path from "path";
import { Client } from "pg";
import { MigrationFile, compareFileNames, compareVersions, filesManifest, readMigrationDir } from "./migrationFiles";
import { SqlStatement, loadSqlParser, outsideTransactionOnly, splitStatements, transactionEffect } from "./sqlStatements";

/** The tracking table: one row per applied (or baselined) file, keyed by file name. */
export const TRACKING_TABLE = "gatehouse_migrations";

// One key for every Gatehouse runner on a database: two releases never apply
// the same file twice, whichever starts first.
const LOCK_KEY = "hashtext('gatehouse:migrations')";

export interface RunnerOptions {
    databaseUrl: string;
    dir: string;
    /** Release id recorded with each applied file. */
    release?: string;
    /** Record every file whose prefix is at or below this version as applied without running it (applied by hand before tracking). */
    baseline?: string;
    /**
     * Apply pending files up to and including the last file (in file-name order)
     * whose prefix is at or below this version. Kept for older callers; with
     * shared prefixes it cannot name one file: use throughFile.
     */
    through?: string;
    /** Apply pending files up to and including this file, in file-name order (one release resource per file). */
    throughFile?: string;
    /**
     * The manifest of the files above the baseline, up to throughFile where
     * given, as the release plan showed them (filesManifest). Where given, a
     * directory whose files differ refuses the run before anything is applied:
     * the AWS runner image carries its own copy of the app's files, which must
     * be the reviewed ones.
     */
    expectedManifest?: string;
    /** How long to wait for another runner's lock, in ms. @default 600000 */
    lockWaitMs?: number;
    /** lock_timeout for each migration's own statements, so a blocked ALTER fails instead of queueing traffic behind it. @default "10s" */
    statementLockTimeout?: string;
    log?: (line: string) => void;
}

export interface AppliedFile {
    version: string;
    file: string;
    durationMs: number;
    /** Run statement by statement outside the runner's transaction, and why. */
    outsideTransaction?: string;
}

export interface RunResult {
    applied: AppliedFile[];
    baselined: string[];
    /** Files already applied (or baselined) with the same checksum. */
    skipped: string[];
    /** Applied files found under a new name (same checksum), now tracked under it. */
    renamed?: Array<{ from: string; to: string }>;
}

/** A migration that failed, or a directory the runner refuses; `tookEffect` lists the lines of statements that stay applied. */
export class MigrationError extends Error {
    constructor(
        readonly file: string,
        readonly line: number | undefined,
        readonly sqlError: string,
        message: string,
        readonly tookEffect: number[] = [],
    ) {
        super(message);
        this.name = "MigrationError";
    }
}

interface TrackedRow {
    file: string;
    version: string;
    name: string;
    sha256: string;
    applied_at: Date;
    duration_ms: number;
    release_id: string | null;
    baseline: boolean;
    /** The name the file had when it was applied, once it was renamed. */
    applied_as: string | null;
}

interface Tracking {
    rows: TrackedRow[];
    /** Written by Gatehouse before file-name tracking: keyed by version, upgraded by the next `up`. */
    keyedByVersion: boolean;
}

/** The files on disk against the tracking table. */
interface Reconciled {
    /** The row of each file on disk that has one: by name, or by checksum after a rename. */
    rowOf: Map<string, TrackedRow>;
    renames: Array<{ row: TrackedRow; to: MigrationFile }>;
    drifted: MigrationFile[];
    /** Applied files no longer on disk under any name. */
    gone: TrackedRow[];
}

/** How a file runs: in the runner's transaction, or statement by statement as `psql -f` runs it. */
export type Execution = { inTransaction: true } | { inTransaction: false; reason: string };

interface FilePlan {
    file: MigrationFile;
    statements: SqlStatement[];
    execution: Execution;
}

/**
 * Applies pending migration files in file-name order under an advisory lock:
 * each in its own transaction, or statement by statement where the file cannot
 * run in one (see executionOf). Every pending file is parsed before the first
 * one runs. Stops at the first error; later files stay untouched.
 */
export async function migrateUp(options: RunnerOptions): Promise<RunResult> {
    const log = options.log ?? (() => {});
    const files = readMigrationDir(options.dir);
    if (options.expectedManifest !== undefined) refuseUnreviewedFiles(files, options);
    const last = lastFileToApply(files, options);
    // Checked before connecting: the tracking table is not created for a run that cannot start.
    if (options.baseline !== undefined && !/^\d+$/.test(options.baseline)) throw new Error(`--baseline ${options.baseline}: not a version number; pass the numeric prefix of the last file applied by hand, e.g. 019`);
    await loadSqlParser();
    const client = new Client({ connectionString: options.databaseUrl, application_name: "gatehouse-migrate" });
    await client.connect();
    try {
        await acquireLock(client, options.lockWaitMs ?? 600_000);
        try {
            await createTrackingTable(client);
            const tracking = await readTracking(client);
            const state = reconcile(files, tracking.rows);
            refuseAmbiguity(state, options.dir);
            const baselined = options.baseline === undefined ? [] : files.filter((f) => !state.rowOf.has(f.file) && compareVersions(f.version, options.baseline!) <= 0);
            // Every pending file is parsed, not only those this run applies: one release step per file must
            // not apply 020 and then find that 024 cannot run.
            const plans = files.filter((f) => !state.rowOf.has(f.file) && !baselined.includes(f)).map(planFile);
            const toApply = plans.filter((p) => files.indexOf(p.file) <= last);
            await recordBookkeeping(client, tracking, state, baselined, options, log);

            const result: RunResult = {
                applied: [],
                baselined: baselined.map((f) => f.file),
                skipped: files.slice(0, last + 1).filter((f) => state.rowOf.has(f.file) || baselined.includes(f)).map((f) => f.file),
                renamed: state.renames.map((r) => ({ from: r.row.file, to: r.to.file })),
            };
            const lastTracked = files[lastIndexWhere(files, (f) => state.rowOf.has(f.file))];
            for (const plan of toApply) {
                if (lastTracked && compareFileNames(plan.file.file, lastTracked.file) < 0) {
                    log(`note: ${plan.file.file} sorts before ${lastTracked.file}, which is already applied; applying it now (a file merged late from a parallel branch)`);
                }
                if (!plan.execution.inTransaction) log(`${plan.file.file} runs statement by statement outside a transaction, as psql -f runs it: ${plan.execution.reason}`);
                const durationMs = await applyFile(client, plan, options);
                result.applied.push({
                    version: plan.file.version,
                    file: plan.file.file,
                    durationMs,
                    ...(plan.execution.inTransaction ? {} : { outsideTransaction: plan.execution.reason }),
                });
                log(`applied ${plan.file.file} in ${durationMs} ms`);
            }
            if (result.applied.length === 0) log("no pending migrations");
            return result;
        } finally {
            await client.query(`SELECT pg_advisory_unlock(${LOCK_KEY})`);
        }
    } finally {
        await client.end();
    }
}

/** The directory holds exactly the files, with the contents, that the release plan showed. */
function refuseUnreviewedFiles(files: MigrationFile[], options: RunnerOptions): void {
    const through = options.throughFile === undefined ? undefined : path.basename(options.throughFile);
    const lacking = through !== undefined && !files.some((f) => f.file === through);
    const here = lacking ? undefined : filesManifest(files, options.baseline, through);
    if (here === options.expectedManifest) return;
    const above = options.baseline === undefined ? files : files.filter((f) => compareVersions(f.version, options.baseline!) > 0);
    throw new Error(
        `the migration files in ${options.dir} are not the ones the release plan showed (${lacking ? `${through} is not there` : `manifest ${here!.slice(0, 16)} here`}, ${options.expectedManifest!.slice(0, 16)} in the plan); nothing was applied. ` +
            `Files here${options.baseline === undefined ? "" : ` above baseline ${options.baseline}`}, to compare with the plan's list (pulumi preview):\n` +
            above.map((f) => `  ${f.file}  sha256 ${f.sha256.slice(0, 16)}\n`).join("") +
            "  fix: build the runner image from this release's checkout of the app (scripts/runner-image.sh --migrations <the app's migrations directory>), set migrationRunnerImage to it, and run pulumi up again",
    );
}

export type FileState = "applied" | "baseline" | "pending" | "drifted" | "missing-file";

export interface StatusRow {
    version: string;
    file: string;
    state: FileState;
    appliedAt?: Date;
    release?: string | null;
    /** The file is tracked under this other name with the same checksum: renamed after it was applied. */
    renamedFrom?: string;
}

/** Each file's state against the tracking table, in file-name order, plus tracked files no longer on disk. Read-only. */
export async function migrationStatus(options: Pick<RunnerOptions, "databaseUrl" | "dir"> & { connectTimeoutMs?: number }): Promise<StatusRow[]> {
    const files = readMigrationDir(options.dir);
    const client = new Client({ connectionString: options.databaseUrl, application_name: "gatehouse-migrate", connectionTimeoutMillis: options.connectTimeoutMs });
    await client.connect();
    try {
        const state = reconcile(files, (await readTracking(client)).rows);
        const rows: StatusRow[] = files.map((f) => {
            const row = state.rowOf.get(f.file);
            if (!row) return { version: f.version, file: f.file, state: "pending" };
            const fileState: FileState = row.sha256 !== f.sha256 ? "drifted" : row.baseline ? "baseline" : "applied";
            const renamed = row.file !== f.file ? { renamedFrom: row.file } : {};
            return { version: f.version, file: f.file, state: fileState, appliedAt: row.applied_at, release: row.release_id, ...renamed };
        });
        for (const row of state.gone) rows.push({ version: row.version, file: row.file, state: "missing-file", appliedAt: row.applied_at, release: row.release_id });
        return rows.sort((a, b) => compareFileNames(a.file, b.file));
    } finally {
        await client.end();
    }
}

/**
 * How the runner will run a file, decided from its parse tree (for the release
 * plan: "outside a transaction" whether or not the file carries the marker). Throws a MigrationError for a file that cannot run as written.
 */
export async function executionOf(file: MigrationFile): Promise<Execution> {
    await loadSqlParser();
    return planFile(file).execution;
}

// --- which files --------------------------------------------------------------------------------

/** Index of the last file the run may apply (-1: none), from throughFile or through. */
function lastFileToApply(files: MigrationFile[], options: RunnerOptions): number {
    if (options.through !== undefined && options.throughFile !== undefined) {
        throw new Error("give --through-file or --through, not both (--through-file names one file; --through is the older form)");
    }
    if (options.throughFile !== undefined) {
        const name = path.basename(options.throughFile);
        const index = files.findIndex((f) => f.file === name);
        if (index < 0) throw new Error(`--through-file ${options.throughFile}: no migration file of that name in ${options.dir}; pass a file name as \`ls ${options.dir}\` shows it`);
        return index;
    }
    if (options.through !== undefined) {
        if (!/^\d+$/.test(options.through)) throw new Error(`--through ${options.through}: not a version number; pass a file's numeric prefix, or name the file with --through-file`);
        return lastIndexWhere(files, (f) => compareVersions(f.version, options.through!) <= 0);
    }
    return files.length - 1;
}

function lastIndexWhere<T>(items: T[], test: (item: T) => boolean): number {
    for (let i = items.length - 1; i >= 0; i--) if (test(items[i])) return i;
    return -1;
}

// --- identity: file names, renames, drift -------------------------------------------------------

/**
 * Matches files to rows by name; a row whose file is gone is matched to an
 * untracked file with the same checksum (renamed after it was applied). Equal
 * contents are interchangeable, so several candidates pair up in name order.
 */
function reconcile(files: MigrationFile[], rows: TrackedRow[]): Reconciled {
    const byName = new Map(rows.map((r) => [r.file, r]));
    const onDisk = new Set(files.map((f) => f.file));
    const rowOf = new Map<string, TrackedRow>();
    const drifted: MigrationFile[] = [];
    for (const f of files) {
        const row = byName.get(f.file);
        if (!row) continue;
        rowOf.set(f.file, row);
        if (row.sha256 !== f.sha256) drifted.push(f);
    }
    const renames: Reconciled["renames"] = [];
    const gone: TrackedRow[] = [];
    for (const row of rows.filter((r) => !onDisk.has(r.file)).sort((a, b) => compareFileNames(a.file, b.file))) {
        const to = files.find((f) => f.sha256 === row.sha256 && !rowOf.has(f.file));
        if (!to) {
            gone.push(row);
            continue;
        }
        rowOf.set(to.file, row);
        renames.push({ row, to });
    }
    return { rowOf, renames, drifted, gone };
}

/** Refuses, before anything runs, a changed applied file and an applied file that is gone: one error naming each. */
function refuseAmbiguity(state: Reconciled, dir: string): void {
    const lines = [
        ...state.drifted.map((f) => {
            const applied = state.rowOf.get(f.file)!.sha256;
            return (
                `${f.file} changed after it was applied (applied sha256 ${applied.slice(0, 12)}, file now ${f.sha256.slice(0, 12)}); ` +
                `restore the applied version (git log -- ${f.file}) and put the change in a new file`
            );
        }),
        ...state.gone.map(
            (row) =>
                `${row.file} was applied${row.release_id ? ` (release ${row.release_id})` : ""} but is not in ${dir}, and no file there has its checksum ` +
                `(sha256 ${row.sha256.slice(0, 12)}), so it was neither kept nor only renamed; restore it (git log --diff-filter=D -- '*${row.file}' finds its removal), ` +
                `or if it was removed on purpose, forget it with: DELETE FROM ${TRACKING_TABLE} WHERE file = '${row.file.replace(/'/g, "''")}'`,
        ),
    ];
    if (lines.length === 0) return;
    const first = state.drifted[0]?.file ?? state.gone[0].file;
    const kind = state.drifted.length > 0 ? "checksum drift" : "applied file missing";
    throw new MigrationError(first, undefined, kind, `refusing to migrate, nothing was applied:\n  ${lines.join("\n  ")}`);
}

// --- the tracking table -------------------------------------------------------------------------

async function createTrackingTable(client: Client): Promise<void> {
    await client.query(`
        CREATE TABLE IF NOT EXISTS ${TRACKING_TABLE} (
            file        text PRIMARY KEY,
            version     text        NOT NULL,
            name        text        NOT NULL,
            sha256      text        NOT NULL,
            applied_at  timestamptz NOT NULL DEFAULT now(),
            duration_ms integer     NOT NULL,
            release_id  text,
            baseline    boolean     NOT NULL DEFAULT false,
            applied_as  text
        )`);
}

/** The tracked rows, whichever shape the table has (none, keyed by version, keyed by file). */
async function readTracking(client: Client): Promise<Tracking> {
    const { rows: shape } = await client.query(
        `SELECT to_regclass($1) IS NOT NULL AS present,
                EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'file' AND NOT attisdropped) AS keyed_by_file`,
        [TRACKING_TABLE],
    );
    if (!shape[0].present) return { rows: [], keyedByVersion: false };
    const { rows } = await client.query(`SELECT * FROM ${TRACKING_TABLE}`);
    if (shape[0].keyed_by_file) return { rows, keyedByVersion: false };
    // Before file names, the row said version and name; the file was `<version>_<name>.sql` as written on disk.
    return { rows: rows.map((r) => ({ ...r, file: `${r.version}_${r.name}.sql`, applied_as: null })), keyedByVersion: true };
}

/**
 * Everything the run records without running a file, in one transaction: the
 * upgrade of a version-keyed table (once), renames, baselined files.
 */
async function recordBookkeeping(
    client: Client,
    tracking: Tracking,
    state: Reconciled,
    baselined: MigrationFile[],
    options: RunnerOptions,
    log: (line: string) => void,
): Promise<void> {
    if (!tracking.keyedByVersion && state.renames.length === 0 && baselined.length === 0) return;
    const baselineTakenBefore = tracking.rows.some((r) => r.baseline);
    await client.query("BEGIN");
    try {
        if (tracking.keyedByVersion) await upgradeTrackingTable(client);
        for (const { row, to } of state.renames) {
            await client.query(`UPDATE ${TRACKING_TABLE} SET file = $1, version = $2, name = $3, applied_as = COALESCE(applied_as, file) WHERE file = $4`, [
                to.file,
                to.version,
                to.name,
                row.file,
            ]);
        }
        for (const f of baselined) {
            await client.query(
                `INSERT INTO ${TRACKING_TABLE} (file, version, name, sha256, duration_ms, release_id, baseline) VALUES ($1, $2, $3, $4, 0, $5, true)`,
                [f.file, f.version, f.name, f.sha256, options.release ?? null],
            );
        }
        await client.query("COMMIT");
    } catch (err) {
        await client.query("ROLLBACK");
        throw err;
    }
    if (tracking.keyedByVersion) log(`upgraded ${TRACKING_TABLE} to track files by name (${tracking.rows.length} row(s) kept)`);
    for (const { row, to } of state.renames) log(`${to.file} is ${row.file} renamed after it was applied (same checksum): now tracked under the new name, not applied again`);
    for (const f of baselined) {
        log(`baselined ${f.file} (recorded as applied before tracking existed)`);
        // A baseline is usually taken once; a file that appears under it later may never have run anywhere.
        if (baselineTakenBefore) log(`warning: ${f.file} is new but at or below baseline ${options.baseline}, so it was recorded, not run; if it never ran on this database, apply it by hand`);
    }
}

/** Rekeys a table written before file-name tracking; runs inside recordBookkeeping's transaction, under the lock. */
async function upgradeTrackingTable(client: Client): Promise<void> {
    await client.query(`ALTER TABLE ${TRACKING_TABLE} ADD COLUMN file text, ADD COLUMN applied_as text`);
    await client.query(`UPDATE ${TRACKING_TABLE} SET file = version || '_' || name || '.sql'`);
    const { rows } = await client.query(`SELECT conname FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'p'`, [TRACKING_TABLE]);
    for (const r of rows) await client.query(`ALTER TABLE ${TRACKING_TABLE} DROP CONSTRAINT "${r.conname.replace(/"/g, '""')}"`);
    await client.query(`ALTER TABLE ${TRACKING_TABLE} ALTER COLUMN file SET NOT NULL, ADD PRIMARY KEY (file)`);
}

async function acquireLock(client: Client, waitMs: number): Promise<void> {
    // Advisory lock waits obey lock_timeout, which turns "wait forever" into a clear error.
    await client.query(`SET lock_timeout = ${Math.max(1, Math.round(waitMs))}`);
    try {
        await client.query(`SELECT pg_advisory_lock(${LOCK_KEY})`);
    } catch (err: any) {
        if (err.code === "55P03") {
            throw new Error(
                `another release holds the migration lock on this database (waited ${waitMs} ms); ` +
                    `find it with: SELECT pid, application_name FROM pg_locks JOIN pg_stat_activity USING (pid) WHERE locktype = 'advisory'`,
            );
        }
        throw err;
    } finally {
        await client.query("RESET lock_timeout");
    }
}

// --- how a file runs ----------------------------------------------------------------------------

/** Parses a file and decides how it runs; refuses what would fail halfway for a reason known now. */
function planFile(file: MigrationFile): FilePlan {
    const parsed = splitStatements(file.sql);
    if ("error" in parsed) {
        throw new MigrationError(file.file, parsed.line, parsed.error, `${file.file}:${parsed.line}: syntax error: ${parsed.error}; nothing was applied`);
    }
    refuseBrokenTransactionBlocks(file, parsed);
    return { file, statements: parsed, execution: decideExecution(file, parsed) };
}

/**
 * A file written for `psql -f` runs in autocommit, so a statement that cannot
 * run in a transaction block, BEGIN/COMMIT of its own, or an enum value used
 * after the ALTER TYPE that adds it all work there. Such a file runs the same
 * way here; any other file runs in one transaction of the runner's.
 */
function decideExecution(file: MigrationFile, statements: SqlStatement[]): Execution {
    for (const s of statements) {
        const outside = outsideTransactionOnly(s);
        if (outside) return { inTransaction: false, reason: `${outside.what} (line ${s.line}) cannot run inside a transaction block` };
    }
    const control = statements.find((s) => s.kind === "TransactionStmt");
    if (control) return { inTransaction: false, reason: `the file controls its own transactions (${firstWord(control)} at line ${control.line}), and runs as written` };
    const addValue = statements.findIndex((s) => s.kind === "AlterEnumStmt" && s.tree.newVal !== undefined);
    if (addValue >= 0 && addValue < statements.length - 1) {
        return { inTransaction: false, reason: `ALTER TYPE … ADD VALUE (line ${statements[addValue].line}) is followed by statements that may use the new value, which a transaction would refuse` };
    }
    if (file.noTransaction) return { inTransaction: false, reason: "marked -- gatehouse:no-transaction" };
    return { inTransaction: true };
}

/** BEGIN without COMMIT, or a statement that cannot run in the block the file opened: psql -f fails (or discards) there too. */
function refuseBrokenTransactionBlocks(file: MigrationFile, statements: SqlStatement[]): void {
    let openedAt: SqlStatement | undefined;
    for (const s of statements) {
        const outside = outsideTransactionOnly(s);
        if (outside && openedAt) {
            throw new MigrationError(
                file.file,
                s.line,
                "cannot run inside a transaction block",
                `${file.file}:${s.line}: ${outside.what} cannot run inside a transaction block, and the file's own ${firstWord(openedAt)} at line ${openedAt.line} opens one; ` +
                    `move it after the COMMIT; nothing was applied`,
            );
        }
        const effect = transactionEffect(s);
        if (effect === "opens") openedAt ??= s;
        if (effect === "closes") openedAt = undefined;
    }
    if (openedAt) {
        throw new MigrationError(
            file.file,
            openedAt.line,
            "transaction never committed",
            `${file.file}:${openedAt.line}: the file opens a transaction (${firstWord(openedAt)}) that it never commits; psql -f would have rolled it back when it exited, ` +
                `so what the author meant is unclear: add COMMIT where the transaction ends (or remove the ${firstWord(openedAt)}); nothing was applied`,
        );
    }
}

async function applyFile(client: Client, plan: FilePlan, options: RunnerOptions): Promise<number> {
    const durationMs = plan.execution.inTransaction
        ? await applyInTransaction(client, plan, options)
        : await applyStatementByStatement(client, plan, plan.execution.reason, options);
    // Each psql -f starts a new session: what a file SETs does not reach the next file.
    await client.query("RESET ALL; RESET ROLE");
    return durationMs;
}

/** Records a file as applied; settings the file made (search_path, role) must not redirect the insert. */
async function recordApplied(client: Client, file: MigrationFile, durationMs: number, options: RunnerOptions): Promise<void> {
    await client.query("RESET ALL; RESET ROLE");
    await client.query(`INSERT INTO ${TRACKING_TABLE} (file, version, name, sha256, duration_ms, release_id) VALUES ($1, $2, $3, $4, $5, $6)`, [
        file.file,
        file.version,
        file.name,
        file.sha256,
        durationMs,
        options.release ?? null,
    ]);
}

async function applyInTransaction(client: Client, plan: FilePlan, options: RunnerOptions): Promise<number> {
    const started = Date.now();
    await client.query("BEGIN");
    try {
        await client.query(`SET LOCAL lock_timeout = '${options.statementLockTimeout ?? "10s"}'`);
        for (const statement of plan.statements) {
            try {
                await client.query(statement.text);
            } catch (err) {
                throw failure(plan.file, statement, err, "the file was rolled back; ");
            }
        }
        const durationMs = Date.now() - started;
        await recordApplied(client, plan.file, durationMs, options);
        await client.query("COMMIT");
        return durationMs;
    } catch (err) {
        await client.query("ROLLBACK");
        throw err;
    }
}

/**
 * Runs each statement on its own, as psql -f does: autocommit, except inside
 * a BEGIN … COMMIT of the file's own. The file is recorded as applied only
 * once its last statement succeeded; where that statement is the COMMIT of the
 * file's own transaction, the record goes into that transaction, so the file's
 * last block and its record commit together.
 */
async function applyStatementByStatement(client: Client, plan: FilePlan, reason: string, options: RunnerOptions): Promise<number> {
    const started = Date.now();
    const lockTimeout = `SET lock_timeout = '${options.statementLockTimeout ?? "10s"}'`;
    const done: SqlStatement[] = [];
    let committed = 0;
    let recorded = false;
    await client.query(lockTimeout);
    for (const [i, statement] of plan.statements.entries()) {
        const closesOwnLast = i === plan.statements.length - 1 && statement.tree.kind === "TRANS_STMT_COMMIT" && !statement.tree.chain;
        // CONCURRENTLY waits for other transactions rather than blocking them; a timeout would only leave an invalid index.
        const concurrent = outsideTransactionOnly(statement)?.concurrent === true;
        try {
            if (closesOwnLast && client.getTransactionStatus() === "T") {
                await recordApplied(client, plan.file, Date.now() - started, options);
                recorded = true;
            }
            if (concurrent) await client.query("SET lock_timeout = 0");
            await client.query(statement.text);
            if (concurrent) await client.query(lockTimeout);
        } catch (err) {
            throw await partialFailure(client, plan, statement, err, done, committed, reason);
        }
        done.push(statement);
        if (client.getTransactionStatus() === "I") committed = done.length;
    }
    const durationMs = Date.now() - started;
    if (!recorded) await recordApplied(client, plan.file, durationMs, options);
    return durationMs;
}

/**
 * The report of a file that failed outside the runner's transaction: which
 * statement, what stays applied, what its own open transaction rolled back,
 * and how to release again. The file is not recorded, so it runs again whole.
 */
async function partialFailure(
    client: Client,
    plan: FilePlan,
    statement: SqlStatement,
    err: any,
    done: SqlStatement[],
    committed: number,
    reason: string,
): Promise<MigrationError> {
    if (client.getTransactionStatus() !== "I") await client.query("ROLLBACK");
    await client.query("RESET ALL; RESET ROLE");
    // BEGIN/COMMIT lines say nothing about what changed; list the statements that did.
    const lines = (list: SqlStatement[]) => list.filter((s) => s.kind !== "TransactionStmt").map((s) => s.line);
    const kept = lines(done.slice(0, committed));
    const rolledBack = lines(done.slice(committed));
    const effect = [
        `it runs statement by statement outside a transaction (${reason}): `,
        kept.length > 0 ? `the statement(s) at line(s) ${kept.join(", ")} took effect and stay; ` : "no earlier statement of it took effect; ",
        rolledBack.length > 0 ? `the statement(s) at line(s) ${rolledBack.join(", ")} in the file's own open transaction were rolled back; ` : "",
        await leftoverIndexNote(client, statement),
        `the file is not recorded as applied and `,
    ].join("");
    const recovery =
        `The next release runs it again from its first statement: ` +
        (kept.length > 0 ? `make what took effect safe to run again (IF NOT EXISTS) or undo it by hand, then fix the file and release again.` : `fix the file and release again.`);
    const error = failure(plan.file, statement, err, effect, recovery);
    return new MigrationError(error.file, error.line, error.sqlError, error.message, kept);
}

/** A failed CREATE INDEX / REINDEX CONCURRENTLY leaves an INVALID index that IF NOT EXISTS would then skip. */
async function leftoverIndexNote(client: Client, statement: SqlStatement): Promise<string> {
    if (statement.kind === "ReindexStmt" && outsideTransactionOnly(statement)?.concurrent) {
        return "a failed REINDEX CONCURRENTLY may leave INVALID indexes named *_ccnew (SELECT indexrelid::regclass FROM pg_index WHERE NOT indisvalid): drop them with DROP INDEX CONCURRENTLY; ";
    }
    if (statement.kind !== "IndexStmt" || !statement.tree.concurrent || !statement.tree.idxname) return "";
    const quote = (id: string) => `"${id.replace(/"/g, '""')}"`;
    const name = statement.tree.relation?.schemaname ? `${quote(statement.tree.relation.schemaname)}.${quote(statement.tree.idxname)}` : quote(statement.tree.idxname);
    const { rows } = await client.query("SELECT NOT indisvalid AS invalid FROM pg_index WHERE indexrelid = to_regclass($1)", [name]);
    return rows[0]?.invalid ? `it left the INVALID index ${name}, which IF NOT EXISTS would skip: drop it first with DROP INDEX CONCURRENTLY ${name}; ` : "";
}

/** The statement's first keyword (BEGIN, START), past its leading comments. */
function firstWord(s: SqlStatement): string {
    return s.text.split("\n").slice(s.leadingLines).join("\n").trim().split(/\s+/)[0].toUpperCase();
}

function failure(file: MigrationFile, statement: SqlStatement, err: any, effect: string, recovery = "Fix the file and release again."): MigrationError {
    const position = Number(err?.position);
    const line = Number.isFinite(position) && position > 0
        ? statement.line + statement.text.slice(0, position - 1).split("\n").length - 1 - statement.leadingLines
        : statement.line;
    const sqlError = `${err?.message ?? err}${err?.code ? ` (SQLSTATE ${err.code})` : ""}`;
    return new MigrationError(
        file.file,
        line,
        sqlError,
        `${file.file}:${line}: ${sqlError}; ${effect}later files were not applied. ${recovery}`,
    );
}
