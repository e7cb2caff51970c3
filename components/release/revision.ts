import { spawnSync } from "child_process";
import { Client } from "pg";
import { databaseUrlForApp } from "../config/databaseUrl";

/**
 * Command mode (the app's own migration tool, e.g. alembic): what the tool
 * did is read back from the target database itself. An exit code 0 proves
 * nothing: the second app's env.py falls back to a local SQLite file when
 * DATABASE_URL is missing, so `alembic upgrade head` can succeed having
 * touched no PostgreSQL at all.
 */

/** Where the tool records the database's revision (alembic: alembic_version.version_num). */
export interface RevisionTable {
    /** [schema.]table */
    table: string;
    column: string;
}

export const ALEMBIC: RevisionTable = { table: "alembic_version", column: "version_num" };

/**
 * What the revision table says. Two kinds of table are read:
 * - a state table (alembic_version: version_num only): its rows are the
 *   current revision(s), one per branch head;
 * - a log (node-pg-migrate's pgmigrations: id, name, run_on): one row per
 *   applied migration, added as each is applied and deleted as each is
 *   reverted. A table with an `id` column is read as a log, ordered by id,
 *   and the database's revision is the last applied one. node-pg-migrate
 *   itself orders by run_on, then id; run_on is NOW() of the transaction
 *   (the same for every migration one run applies) and id is a serial, so id
 *   alone is the order the migrations were applied in.
 */
export interface RevisionState {
    /** The current revision(s), sorted; [] at base; undefined when the table does not exist (never migrated). */
    current: string[] | undefined;
    /** A log table only: every applied revision, oldest first. */
    applied?: string[];
}

export async function readRevisionState(databaseUrl: string, where: RevisionTable): Promise<RevisionState> {
    const reader = new RevisionReader(databaseUrl, where);
    try {
        return await reader.state();
    } finally {
        await reader.close();
    }
}

/**
 * Reads the revision over one connection, opened on the first read and kept
 * for the reads around each tool run (before, after; the round trip makes
 * six): a new connection costs ~5 ms here, a read on an open one ~0.5 ms.
 * Between reads the connection is idle outside any transaction, so it holds
 * no lock a migration could wait for. A connection the server closes (a
 * scratch copy dropped WITH (FORCE)) is opened anew on the next read.
 */
export class RevisionReader {
    private client?: Promise<Client>;

    constructor(
        readonly databaseUrl: string,
        readonly where: RevisionTable,
    ) {}

    async state(): Promise<RevisionState> {
        this.client ??= this.connect();
        const client = await this.client;
        const found = await client.query(
            `SELECT to_regclass($1) IS NOT NULL AS found,
                    EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'id' AND attnum > 0 AND NOT attisdropped) AS log`,
            [this.where.table],
        );
        if (!found.rows[0].found) return { current: undefined };
        const table = this.where.table.split(".").map(quoteIdent).join(".");
        const column = quoteIdent(this.where.column);
        if (found.rows[0].log && this.where.column !== "id") {
            const rows = await client.query(`SELECT ${column}::text AS revision FROM ${table} ORDER BY id`);
            const applied = rows.rows.map((r) => r.revision as string);
            return { current: applied.slice(-1), applied };
        }
        const rows = await client.query(`SELECT ${column}::text AS revision FROM ${table}`);
        return { current: rows.rows.map((r) => r.revision as string).sort() };
    }

    async current(): Promise<string[] | undefined> {
        return (await this.state()).current;
    }

    async close(): Promise<void> {
        const client = this.client;
        this.client = undefined;
        if (client) await (await client).end();
    }

    private async connect(): Promise<Client> {
        const client = new Client({ connectionString: this.databaseUrl, application_name: "gatehouse-revision" });
        client.on("error", () => {
            this.client = undefined;
        });
        try {
            await client.connect();
        } catch (err) {
            this.client = undefined;
            throw err;
        }
        return client;
    }
}

/** The database's current revision(s) (see RevisionState): sorted; undefined when the table does not exist (never migrated). */
export async function readRevision(databaseUrl: string, where: RevisionTable): Promise<string[] | undefined> {
    return (await readRevisionState(databaseUrl, where)).current;
}

function quoteIdent(name: string): string {
    return `"${name.replace(/"/g, '""')}"`;
}

/** Exactly one current revision, and it is the head. */
export function isAtHead(revisions: string[] | undefined, head: string): boolean {
    return revisions?.length === 1 && revisions[0] === head;
}

export function describeRevision(revisions: string[] | undefined, where: RevisionTable): string {
    if (revisions === undefined) return `none (no ${where.table} table: the tool never migrated this database)`;
    if (revisions.length === 0) return `none (${where.table} is empty: at base)`;
    return revisions.join(", ");
}

/** One line of `alembic history`: `<parents> -> <revision> [(head)] ..., <message>`. */
export interface HistoryEntry {
    revision: string;
    /** Empty for the first revision (`<base>`); two or more for a merge. */
    parents: string[];
}

/**
 * Parses `alembic history` (the default format; it reads only the scripts,
 * never the database). Lines without " -> " (blank lines, log output) are skipped.
 */
export function parseHistory(text: string): HistoryEntry[] {
    const entries: HistoryEntry[] = [];
    for (const raw of text.split("\n")) {
        const line = raw.trim();
        if (!line.includes(" -> ")) continue;
        const m = /^(.+?) -> ([^\s,()]+)(?: \([^)]*\))*(?:,.*)?$/.exec(line);
        if (!m) throw new Error(`cannot read this history line: ${JSON.stringify(line)}`);
        const parents = m[1] === "<base>" ? [] : m[1].split(",").map((p) => p.trim().replace(/^\(|\)$/g, ""));
        entries.push({ revision: m[2], parents });
    }
    if (entries.length === 0) throw new Error("the history command printed no revision (expected lines like `<base> -> 001_initial, message`)");
    return entries;
}

export interface HistoryCheck {
    /** Every revision from base to the head, parents first. */
    chain: string[];
    /** The revisions the migration will apply to this database, parents first. */
    pending: string[];
}

/**
 * The checklist's continuity check (`alembic history`: 001 -> 002): every
 * parent exists, the history has exactly one head and it is the expected one,
 * and the database's revision lies on the way to it. Throws naming the break.
 */
export function checkHistory(entries: HistoryEntry[], before: string[] | undefined, head: string): HistoryCheck {
    const byRevision = new Map(entries.map((e) => [e.revision, e]));
    for (const e of entries) {
        for (const p of e.parents) {
            if (!byRevision.has(p)) throw new Error(`the history is not continuous: ${e.revision} revises ${p}, which the history does not contain`);
        }
    }
    const hasChild = new Set(entries.flatMap((e) => e.parents));
    const heads = entries.map((e) => e.revision).filter((r) => !hasChild.has(r));
    if (heads.length !== 1) throw new Error(`the history has ${heads.length} heads (${heads.join(", ")}); merge them (alembic merge heads) so one revision is the head`);
    if (heads[0] !== head) {
        throw new Error(`the release's history ends at ${heads[0]} but migrationHead is ${head}: set migrationHead to the release's head, or release the code that contains ${head}`);
    }
    const chain = ancestry(byRevision, [head]);
    const done = new Set(ancestry(byRevision, (before ?? []).filter((r) => byRevision.has(r))));
    for (const r of before ?? []) {
        if (!byRevision.has(r)) {
            throw new Error(`the database is at ${r}, which the release's history does not contain (a revision of a newer release, or of another app?); the migration would not know where to start`);
        }
    }
    return { chain, pending: chain.filter((r) => !done.has(r)) };
}

/** The revisions and all their ancestors, parents before children. */
function ancestry(byRevision: Map<string, HistoryEntry>, from: string[]): string[] {
    const out: string[] = [];
    const seen = new Set<string>();
    const visit = (r: string) => {
        if (seen.has(r)) return;
        seen.add(r);
        for (const p of byRevision.get(r)?.parents ?? []) visit(p);
        out.push(r);
    };
    from.forEach(visit);
    return out;
}

export interface CommandMigrationOptions {
    /** The target database, as Gatehouse reaches it (postgres://). */
    databaseUrl: string;
    command: string;
    /** The revision the database must be at afterwards. */
    head: string;
    /** Prints the revision history (alembic history); checked before the command runs. */
    historyCommand?: string;
    revision?: RevisionTable;
    /** The env var the app reads its database URL from. @default DATABASE_URL */
    urlEnv?: string;
    /** The app's URL scheme (postgresql+psycopg). @default postgres */
    urlScheme?: string;
    cwd?: string;
    log?: (line: string) => void;
    /** Reads the revision of databaseUrl over a connection the caller keeps (and closes); else one is opened for this run. */
    reader?: RevisionReader;
}

export interface CommandMigrationReport {
    before: string[] | undefined;
    after: string[] | undefined;
    history?: HistoryCheck;
}

export class MigrationRevisionError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "MigrationRevisionError";
    }
}

/**
 * Runs the app's migration command against one database and proves from that
 * database that it worked: records the revision before, checks the history's
 * continuity (before anything changes), runs the command with the URL in the
 * app's own env var and form, then reads the revision again. The release
 * fails unless the command exits 0 AND the database is at the expected head.
 */
export async function runCommandMigration(options: CommandMigrationOptions): Promise<CommandMigrationReport> {
    return withReader(options, (reader) => runCommandMigrationWith(options, reader));
}

/** options.reader, or a reader of options.databaseUrl for this call only. */
async function withReader<T>(options: CommandMigrationOptions, use: (reader: RevisionReader) => Promise<T>): Promise<T> {
    if (options.reader) {
        const where = options.revision ?? ALEMBIC;
        if (options.reader.databaseUrl !== options.databaseUrl || options.reader.where.table !== where.table || options.reader.where.column !== where.column) {
            throw new Error("the revision reader reads another database or table than the one being migrated");
        }
        return use(options.reader);
    }
    const reader = new RevisionReader(options.databaseUrl, options.revision ?? ALEMBIC);
    try {
        return await use(reader);
    } finally {
        await reader.close();
    }
}

async function runCommandMigrationWith(options: CommandMigrationOptions, reader: RevisionReader): Promise<CommandMigrationReport> {
    const where = options.revision ?? ALEMBIC;
    const log = options.log ?? (() => {});
    const env = commandEnv(options.databaseUrl, options.urlEnv ?? "DATABASE_URL", options.urlScheme ?? "postgres");
    const label = `${where.table}.${where.column}`;

    const before = await reader.current();
    log(`revision before (${label}): ${describeRevision(before, where)}`);

    let history: HistoryCheck | undefined;
    if (options.historyCommand) {
        const out = runShell(options.historyCommand, env, options.cwd);
        if (out.status !== 0) throw new MigrationRevisionError(`\`${options.historyCommand}\` exited with ${out.status}; the migration did not run: ${tail(out.output)}`);
        try {
            history = checkHistory(parseHistory(out.output), before, options.head);
        } catch (err: any) {
            throw new MigrationRevisionError(`${err.message} (from \`${options.historyCommand}\`); the migration did not run`);
        }
        log(`history (${options.historyCommand}): <base> -> ${history.chain.join(" -> ")} (head), continuous`);
        log(`pending for this database: ${history.pending.length > 0 ? history.pending.join(" -> ") : "none"}`);
    }

    log(`running: ${options.command}  (${options.urlEnv ?? "DATABASE_URL"} as ${options.urlScheme ?? "postgres"}://...)`);
    const run = runShell(options.command, env, options.cwd);
    if (run.output.trim()) log(run.output.trim());
    const after = await reader.current();
    log(`revision after (${label}): ${describeRevision(after, where)}`);

    if (run.status !== 0) {
        throw new MigrationRevisionError(`\`${options.command}\` exited with ${run.status}; the database is at ${describeRevision(after, where)} (expected ${options.head}): ${tail(run.output)}`);
    }
    if (!isAtHead(after, options.head)) {
        const found = `\`${options.command}\` exited 0, but ${label} in the target database is ${describeRevision(after, where)}, not the expected head ${options.head}`;
        const moved = JSON.stringify(before ?? []) !== JSON.stringify(after ?? []);
        throw new MigrationRevisionError(
            moved
                ? `${found}: the command moved it from ${describeRevision(before, where)}; is migrationHead the head of the code it ran?`
                : `${found}: the command did not migrate this database. Does the tool read its URL from ${options.urlEnv ?? "DATABASE_URL"}? ` +
                      `(an env.py that falls back to another database when it is missing exits 0 having touched nothing)`,
        );
    }
    log(`revision check passed: the database is at the expected head ${options.head}`);
    return { before, after, history };
}

export interface DownStepOptions extends CommandMigrationOptions {
    /** Reverts one revision (alembic downgrade -1, node-pg-migrate down); same env as the command. */
    downCommand: string;
}

/**
 * The down half of the rehearsal's round trip, on a database at the head:
 * runs the down command with the URL as the migration command gets it, then
 * proves from the database that it went back exactly one step, whatever its
 * exit code. The step before the head comes from the log (a table with an id
 * column: the applied revisions without the last) or, for a state table such
 * as alembic_version, from the history command (the head's parents); with
 * neither it cannot be known, and this fails before running anything.
 * Returns the revision(s) the database went back to ([] = base).
 */
export async function revertOneStep(options: DownStepOptions): Promise<string[]> {
    return withReader(options, (reader) => revertOneStepWith(options, reader));
}

async function revertOneStepWith(options: DownStepOptions, reader: RevisionReader): Promise<string[]> {
    const where = options.revision ?? ALEMBIC;
    const log = options.log ?? (() => {});
    const env = commandEnv(options.databaseUrl, options.urlEnv ?? "DATABASE_URL", options.urlScheme ?? "postgres");
    const label = `${where.table}.${where.column}`;
    const describe = (revisions: string[] | undefined) => describeRevision(revisions, where);

    const start = await reader.state();
    if (!isAtHead(start.current, options.head)) {
        throw new MigrationRevisionError(`the down step starts at the head ${options.head}, but ${label} is ${describe(start.current)}`);
    }
    let expected: string[];
    if (start.applied) {
        expected = start.applied.slice(-2, -1);
    } else if (options.historyCommand) {
        const out = runShell(options.historyCommand, env, options.cwd);
        if (out.status !== 0) throw new MigrationRevisionError(`\`${options.historyCommand}\` exited with ${out.status}; the down step did not run: ${tail(out.output)}`);
        const head = parseHistory(out.output).find((e) => e.revision === options.head);
        if (!head) throw new MigrationRevisionError(`\`${options.historyCommand}\` does not list the head ${options.head}; the down step did not run`);
        expected = [...head.parents].sort();
    } else {
        throw new MigrationRevisionError(
            `cannot check that \`${options.downCommand}\` goes back exactly one step: ${where.table} holds only the current revision, and without ` +
                `migrationHistoryCommand the revision before ${options.head} is unknown. Set migrationHistoryCommand (e.g. alembic history), ` +
                `or record revisions in a log table with an id column (node-pg-migrate's pgmigrations)`,
        );
    }

    log(`running the down command: ${options.downCommand}  (one step back from ${options.head} is ${describe(expected)})`);
    const run = runShell(options.downCommand, env, options.cwd);
    if (run.output.trim()) log(run.output.trim());
    const after = await reader.state();
    log(`revision after the down command (${label}): ${describe(after.current)}`);
    if (run.status !== 0) {
        throw new MigrationRevisionError(`\`${options.downCommand}\` exited with ${run.status}; ${label} is ${describe(after.current)}: ${tail(run.output)}`);
    }
    const oneStep = sameList(after.current, expected) && (!start.applied || sameList(after.applied, start.applied.slice(0, -1)));
    if (!oneStep) {
        const what = sameList(after.current, start.current) && sameList(after.applied, start.applied) ? `did not move the revision back: it is still ${options.head}` : `left ${label} at ${describe(after.current)}`;
        throw new MigrationRevisionError(
            `\`${options.downCommand}\` exited 0 but ${what}; one step back from ${options.head} is ${describe(expected)}. ` +
                `migrationDownCommand must revert exactly one revision (alembic downgrade -1, node-pg-migrate down)`,
        );
    }
    log(`down step checked: ${label} went back exactly one step, from ${options.head} to ${describe(expected)}`);
    return expected;
}

function sameList(a: string[] | undefined, b: string[] | undefined): boolean {
    return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The migration tool's environment: the database URL only under the app's own
 * name and in its form. Gatehouse's own DATABASE_URL (postgres://) is removed,
 * so a tool that reads another name finds nothing, as it would in production.
 */
export function commandEnv(databaseUrl: string, urlEnv: string, scheme: string, inherited: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
    const env = { ...inherited };
    delete env.DATABASE_URL;
    env[urlEnv] = databaseUrlForApp(databaseUrl, scheme);
    return env;
}

function runShell(command: string, env: NodeJS.ProcessEnv, cwd?: string): { status: number; output: string } {
    // One stream, in the order the tool wrote it (its errors among its progress lines).
    const r = spawnSync("/bin/sh", ["-c", `exec 2>&1\n${command}`], { env, cwd, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 64 * 1024 * 1024 });
    if (r.error) return { status: 127, output: r.error.message };
    return { status: r.status ?? 128, output: r.stdout ?? "" };
}

function tail(output: string): string {
    const lines = output.trim().split("\n");
    return lines.slice(-15).join("\n") || "(no output)";
}

/**
 * --revision-table and --revision-column as the readers take them: names as
 * the stack's config allows them (migrationRevisionTable/Column), checked
 * before any SQL is written with them; the CLIs report a throw as bad usage.
 */
export function revisionTableFrom(values: { "revision-table"?: string; "revision-column"?: string }): RevisionTable {
    const table = values["revision-table"] ?? "alembic_version";
    const column = values["revision-column"] ?? "version_num";
    if (!/^([A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*$/.test(table)) throw new Error(`--revision-table must be a table name, optionally schema-qualified (e.g. alembic_version), got ${JSON.stringify(table)}`);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(column)) throw new Error(`--revision-column must be a column name (e.g. version_num), got ${JSON.stringify(column)}`);
    return { table, column };
}

/**
 * The flags commandMigrationFlags writes, as the CLIs that read them declare
 * them (node:util parseArgs): one definition for the writer and both readers
 * (migration-revision and rehearse), so a flag cannot drift between them.
 */
export const COMMAND_MIGRATION_OPTIONS = {
    command: { type: "string" },
    head: { type: "string" },
    "history-command": { type: "string" },
    "down-command": { type: "string" },
    "revision-table": { type: "string", default: "alembic_version" },
    "revision-column": { type: "string", default: "version_num" },
    "url-env": { type: "string", default: "DATABASE_URL" },
    "url-scheme": { type: "string", default: "postgres" },
} as const;

/** The flags the migration-revision and rehearse CLIs take for a command-mode migration. */
export function commandMigrationFlags(m: {
    command: string;
    head: string;
    historyCommand: string;
    downCommand?: string;
    revision: RevisionTable;
    databaseUrl: { env: string; scheme: string };
}): string[] {
    return [
        "--command", m.command,
        "--head", m.head,
        ...(m.historyCommand ? ["--history-command", m.historyCommand] : []),
        ...(m.downCommand ? ["--down-command", m.downCommand] : []),
        "--revision-table", m.revision.table,
        "--revision-column", m.revision.column,
        "--url-env", m.databaseUrl.env,
        "--url-scheme", m.databaseUrl.scheme,
    ];
}

/** What the release plan says about a command-mode migration. */
export function commandMigrationLines(
    m: { command: string; head: string; historyCommand: string; revision: RevisionTable; databaseUrl: { env: string; scheme: string } },
    target: "aws" | "local",
): string[] {
    const history = !m.historyCommand
        ? "  history: not checked (migrationHistoryCommand is empty)"
        : target === "aws"
          ? `  history: ${m.historyCommand} (printed into the migration task's log before it migrates)`
          : `  history: ${m.historyCommand} (recorded; must be continuous up to the head, checked before migrating)`;
    return [
        `  command: ${m.command}`,
        `  gets ${m.databaseUrl.env} as ${m.databaseUrl.scheme}://...`,
        history,
        `  then ${m.revision.table}.${m.revision.column} must be ${m.head}: read from the database itself, whatever the command's exit code`,
    ];
}
