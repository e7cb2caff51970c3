import { Client } from "pg";
import { MigrationFile, compareVersions, readMigrationDir } from "./migrationFiles";
import { SqlStatement, loadSqlParser, splitStatements } from "./sqlStatements";

/** The tracking table: one row per applied (or baselined) file. */
export const TRACKING_TABLE = "gatehouse_migrations";

// One key for every Gatehouse runner on a database: two releases never apply
// the same file twice, whichever starts first.
const LOCK_KEY = "hashtext('gatehouse:migrations')";

export interface RunnerOptions {
    databaseUrl: string;
    dir: string;
    /** Release id recorded with each applied file. */
    release?: string;
    /** Record files up to this version as applied without running them (applied by hand before tracking). */
    baseline?: string;
    /** Apply pending files only up to and including this version (one release resource per file). */
    through?: string;
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
}

export interface RunResult {
    applied: AppliedFile[];
    baselined: string[];
    /** Files already applied with the same checksum. */
    skipped: string[];
}

/** A migration that failed; the file was rolled back (unless it runs outside a transaction). */
export class MigrationError extends Error {
    constructor(
        readonly file: string,
        readonly line: number | undefined,
        readonly sqlError: string,
        message: string,
    ) {
        super(message);
        this.name = "MigrationError";
    }
}

interface TrackedRow {
    version: string;
    name: string;
    sha256: string;
    applied_at: Date;
    duration_ms: number;
    release_id: string | null;
    baseline: boolean;
}

/**
 * Applies pending migration files in order, each in its own transaction,
 * under an advisory lock. Stops at the first error with that file rolled back
 * and later files untouched.
 */
export async function migrateUp(options: RunnerOptions): Promise<RunResult> {
    const log = options.log ?? (() => {});
    const files = readMigrationDir(options.dir);
    await loadSqlParser();
    const client = new Client({ connectionString: options.databaseUrl, application_name: "gatehouse-migrate" });
    await client.connect();
    try {
        await acquireLock(client, options.lockWaitMs ?? 600_000);
        try {
            await ensureTrackingTable(client);
            const tracked = await readTracked(client);
            refuseDrift(files, tracked);
            const result: RunResult = { applied: [], baselined: [], skipped: [] };
            if (options.baseline !== undefined) {
                result.baselined = await recordBaseline(client, files, tracked, options.baseline, options.release);
                for (const v of result.baselined) log(`baselined ${v} (recorded as applied before tracking existed)`);
            }
            for (const file of files) {
                if (tracked.has(normalize(file.version)) || result.baselined.includes(file.file)) {
                    result.skipped.push(file.file);
                    continue;
                }
                if (options.through !== undefined && compareVersions(file.version, options.through) > 0) break;
                const durationMs = await applyFile(client, file, options);
                result.applied.push({ version: file.version, file: file.file, durationMs });
                log(`applied ${file.file} in ${durationMs} ms`);
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

export type FileState = "applied" | "baseline" | "pending" | "drifted" | "missing-file";

export interface StatusRow {
    version: string;
    file: string;
    state: FileState;
    appliedAt?: Date;
    release?: string | null;
}

/** Each file's state against the tracking table, plus tracked files no longer on disk. */
export async function migrationStatus(options: Pick<RunnerOptions, "databaseUrl" | "dir"> & { connectTimeoutMs?: number }): Promise<StatusRow[]> {
    const files = readMigrationDir(options.dir);
    const client = new Client({ connectionString: options.databaseUrl, application_name: "gatehouse-migrate", connectionTimeoutMillis: options.connectTimeoutMs });
    await client.connect();
    try {
        const tracked = (await trackingTableExists(client)) ? await readTracked(client) : new Map<string, TrackedRow>();
        const rows: StatusRow[] = files.map((f) => {
            const row = tracked.get(normalize(f.version));
            if (!row) return { version: f.version, file: f.file, state: "pending" };
            const state: FileState = row.sha256 !== f.sha256 ? "drifted" : row.baseline ? "baseline" : "applied";
            return { version: f.version, file: f.file, state, appliedAt: row.applied_at, release: row.release_id };
        });
        for (const row of tracked.values()) {
            if (!files.some((f) => normalize(f.version) === normalize(row.version))) {
                rows.push({ version: row.version, file: `${row.version}_${row.name}.sql`, state: "missing-file", appliedAt: row.applied_at });
            }
        }
        return rows.sort((a, b) => compareVersions(a.version, b.version));
    } finally {
        await client.end();
    }
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

async function trackingTableExists(client: Client): Promise<boolean> {
    const { rows } = await client.query("SELECT to_regclass($1) IS NOT NULL AS present", [TRACKING_TABLE]);
    return rows[0].present;
}

async function ensureTrackingTable(client: Client): Promise<void> {
    await client.query(`
        CREATE TABLE IF NOT EXISTS ${TRACKING_TABLE} (
            version     text PRIMARY KEY,
            name        text        NOT NULL,
            sha256      text        NOT NULL,
            applied_at  timestamptz NOT NULL DEFAULT now(),
            duration_ms integer     NOT NULL,
            release_id  text,
            baseline    boolean     NOT NULL DEFAULT false
        )`);
}

async function readTracked(client: Client): Promise<Map<string, TrackedRow>> {
    const { rows } = await client.query<TrackedRow>(`SELECT * FROM ${TRACKING_TABLE}`);
    // Versions are compared numerically so a tracked "20" matches a file "020".
    return new Map(rows.map((r) => [normalize(r.version), r]));
}

function normalize(version: string): string {
    return BigInt(version).toString();
}

function refuseDrift(files: MigrationFile[], tracked: Map<string, TrackedRow>): void {
    const drifted = files.filter((f) => {
        const row = tracked.get(normalize(f.version));
        return row !== undefined && row.sha256 !== f.sha256;
    });
    if (drifted.length === 0) return;
    const lines = drifted.map((f) => {
        const applied = tracked.get(normalize(f.version))!.sha256;
        return (
            `${f.file} changed after it was applied (applied sha256 ${applied.slice(0, 12)}, file now ${f.sha256.slice(0, 12)}); ` +
            `restore the applied version (git log -- ${f.file}) and put the change in a new file`
        );
    });
    throw new MigrationError(drifted[0].file, undefined, "checksum drift", `refusing to migrate, nothing was applied:\n  ${lines.join("\n  ")}`);
}

async function recordBaseline(
    client: Client,
    files: MigrationFile[],
    tracked: Map<string, TrackedRow>,
    baseline: string,
    release: string | undefined,
): Promise<string[]> {
    const recorded: string[] = [];
    for (const f of files) {
        if (compareVersions(f.version, baseline) > 0) break;
        if (tracked.has(normalize(f.version))) continue;
        await client.query(
            `INSERT INTO ${TRACKING_TABLE} (version, name, sha256, duration_ms, release_id, baseline) VALUES ($1, $2, $3, 0, $4, true)`,
            [f.version, f.name, f.sha256, release ?? null],
        );
        recorded.push(f.file);
    }
    return recorded;
}

async function applyFile(client: Client, file: MigrationFile, options: RunnerOptions): Promise<number> {
    const statements = parseFile(file);
    const started = Date.now();
    const record = (durationMs: number) =>
        client.query(
            `INSERT INTO ${TRACKING_TABLE} (version, name, sha256, duration_ms, release_id) VALUES ($1, $2, $3, $4, $5)`,
            [file.version, file.name, file.sha256, durationMs, options.release ?? null],
        );
    if (file.noTransaction) {
        for (const [i, statement] of statements.entries()) {
            try {
                await client.query(statement.text);
            } catch (err) {
                throw failure(file, statement, err, i > 0 ? `statements 1-${i} of this file took effect (it runs outside a transaction); ` : "");
            }
        }
        const durationMs = Date.now() - started;
        await record(durationMs);
        return durationMs;
    }
    await client.query("BEGIN");
    try {
        await client.query(`SET LOCAL lock_timeout = '${options.statementLockTimeout ?? "10s"}'`);
        for (const statement of statements) {
            try {
                await client.query(statement.text);
            } catch (err) {
                throw failure(file, statement, err, "the file was rolled back; ");
            }
        }
        const durationMs = Date.now() - started;
        await record(durationMs);
        await client.query("COMMIT");
        return durationMs;
    } catch (err) {
        await client.query("ROLLBACK");
        throw err;
    }
}

function parseFile(file: MigrationFile): SqlStatement[] {
    const parsed = splitStatements(file.sql);
    if ("error" in parsed) {
        throw new MigrationError(file.file, parsed.line, parsed.error, `${file.file}:${parsed.line}: syntax error: ${parsed.error}; nothing was applied`);
    }
    const control = parsed.find((s) => s.kind === "TransactionStmt");
    if (control) {
        throw new MigrationError(
            file.file,
            control.line,
            "transaction control",
            `${file.file}:${control.line}: the file controls its own transaction (${control.text.trim().split(/\s+/)[0]}); ` +
                `remove BEGIN/COMMIT (the runner wraps each file in one) or mark it "-- gatehouse:no-transaction"`,
        );
    }
    return parsed;
}

function failure(file: MigrationFile, statement: SqlStatement, err: any, effect: string): MigrationError {
    const position = Number(err?.position);
    const line = Number.isFinite(position) && position > 0
        ? statement.line + statement.text.slice(0, position - 1).split("\n").length - 1 - statement.leadingLines
        : statement.line;
    const sqlError = `${err?.message ?? err}${err?.code ? ` (SQLSTATE ${err.code})` : ""}`;
    return new MigrationError(
        file.file,
        line,
        sqlError,
        `${file.file}:${line}: ${sqlError}; ${effect}later files were not applied. Fix the file and release again.`,
    );
}
