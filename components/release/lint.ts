import * as path from "path";
import { MigrationFile, readMigrationDir } from "./migrationFiles";
import { SqlStatement, loadSqlParser, outsideTransactionOnly, splitStatements } from "./sqlStatements";
import { ColumnType, Domain, TypeChangeVerdict, columnType, isUtcZone, judgeTypeChange, typeText } from "./typeChange";

/** An operation in a pending migration that locks a busy table or destroys data. */
export interface LintFinding {
    file: string;
    line: number;
    operation: string;
    /** What it does to production, in a reviewer's words, and the fix. */
    risk: string;
    /** Destroys data, rewrites a table, or may (the lint cannot tell): fails the preview unless the file is marked reviewed. */
    destructive: boolean;
    /** For ALTER COLUMN … TYPE: what PostgreSQL will do, judged from the migration files. */
    typeChange?: TypeChangeVerdict;
}

export interface LintOptions {
    /**
     * Every file of the directory in apply order, pending ones included: what
     * earlier files declare (column types, domains) decides the type-change
     * rules. Default: read from the directory of the pending files.
     */
    history?: MigrationFile[];
}

// Defaults PostgreSQL must compute per row, which turns ADD COLUMN into a full
// table rewrite under an ACCESS EXCLUSIVE lock (constant and stable defaults
// such as now() are stored once in the catalog since PostgreSQL 11).
const VOLATILE_DEFAULTS = new Set(["gen_random_uuid", "uuid_generate_v4", "random", "clock_timestamp", "timeofday", "nextval"]);

/**
 * Reads pending migrations with the real PostgreSQL parser and names every
 * operation a reviewer must see: DROP TABLE/COLUMN, TRUNCATE, column type
 * changes (judged by PostgreSQL's rewrite rules, see typeChange.ts), NOT NULL
 * without a default, renames, a non-concurrent index on a table that already
 * exists, a table rewrite. Files before and between the pending ones are read
 * too, only to learn the column types and domains they declare.
 */
export async function lintMigrations(pending: MigrationFile[], options: LintOptions = {}): Promise<LintFinding[]> {
    await loadSqlParser();
    const linted = new Set(pending.map((f) => path.resolve(f.path)));
    const order = applyOrder(options.history ?? historyOf(pending), pending);
    const last = Math.max(...order.map((f, i) => (linted.has(path.resolve(f.path)) ? i : -1)));
    const schema = new Schema();
    const findings: LintFinding[] = [];
    for (const file of order.slice(0, last + 1)) {
        const lint = linted.has(path.resolve(file.path));
        const statements = splitStatements(file.sql);
        if (!Array.isArray(statements)) {
            if (lint) findings.push({ file: file.file, line: statements.line, operation: "syntax error", risk: statements.error, destructive: true });
            continue; // an applied file that does not parse here teaches nothing
        }
        const state: FileState = { file, createdNow: new Set(), lint, inTransaction: runsInOneTransaction(file, statements) };
        for (const s of statements) findings.push(...visitStatement(state, s, schema));
    }
    return findings;
}

/** The pending files' directory in apply order; just the pending files when it cannot be read. */
function historyOf(pending: MigrationFile[]): MigrationFile[] {
    const dirs = [...new Set(pending.map((f) => path.dirname(f.path)))];
    try {
        return dirs.flatMap((dir) => readMigrationDir(dir));
    } catch {
        return pending;
    }
}

/** History in its order, with any pending file it lacks at the end. */
function applyOrder(history: MigrationFile[], pending: MigrationFile[]): MigrationFile[] {
    const known = new Set(history.map((f) => path.resolve(f.path)));
    return [...history, ...pending.filter((f) => !known.has(path.resolve(f.path)))];
}

/** What a file's earlier statements established. */
interface FileState {
    file: MigrationFile;
    /**
     * A table created earlier in the same file is new and unused: locking it is harmless. One
     * created in an earlier file may have been live for months, so it counts as existing.
     */
    createdNow: Set<string>;
    /** `SET [LOCAL] TIME ZONE 'UTC'` ran earlier in this file (a session setting: never carried across files). */
    timeZone?: "utc";
    lint: boolean;
    /** The runner wraps the file in one transaction, so a SET LOCAL holds until its end. */
    inTransaction: boolean;
}

/**
 * Whether the whole file surely runs in the runner's one transaction. A file
 * marked no-transaction, one with a statement PostgreSQL refuses in a
 * transaction, or one with its own BEGIN/COMMIT may not: there a SET LOCAL may
 * do nothing, so the lint does not count on it.
 */
function runsInOneTransaction(file: MigrationFile, statements: SqlStatement[]): boolean {
    return !file.noTransaction && !statements.some((s) => s.kind === "TransactionStmt" || outsideTransactionOnly(s));
}

/** Column types and domains as the files declared them so far. */
class Schema {
    readonly columns = new Map<string, ColumnType>();
    readonly domains = new Map<string, Domain>();

    setColumn(table: string, column: string, typeName: any): void {
        const type = columnType(typeName);
        if (type) this.columns.set(`${table}.${column}`, type);
        else this.columns.delete(`${table}.${column}`);
    }

    dropTable(table: string): void {
        for (const key of [...this.columns.keys()]) if (key.startsWith(`${table}.`)) this.columns.delete(key);
    }

    renameTable(from: string, to: string): void {
        for (const [key, type] of [...this.columns]) {
            if (!key.startsWith(`${from}.`)) continue;
            this.columns.delete(key);
            this.columns.set(`${to}.${key.slice(from.length + 1)}`, type);
        }
    }
}

/** A table's key: its name, schema-qualified unless public. */
function tableKey(relation: any): string {
    return relation.schemaname && relation.schemaname !== "public" ? `${relation.schemaname}.${relation.relname}` : relation.relname;
}

/** Lints one statement (when its file is linted) and learns what it declares. */
function visitStatement(state: FileState, s: SqlStatement, schema: Schema): LintFinding[] {
    const t = s.tree;
    if (s.kind === "AlterTableStmt") {
        // Subcommands apply in order: ADD COLUMN x …, ALTER COLUMN x TYPE … in one statement.
        const table = tableKey(t.relation);
        return (t.cmds ?? []).flatMap((c: any) => {
            const found = state.lint && !state.createdNow.has(t.relation.relname) ? lintAlter(state, s, table, c.AlterTableCmd, schema) : [];
            learnAlter(schema, table, c.AlterTableCmd);
            return found;
        });
    }
    const found = state.lint ? lintStatement(state.file, s, state.createdNow) : [];
    learn(state, s, schema);
    return found;
}

function learn(state: FileState, s: SqlStatement, schema: Schema): void {
    const t = s.tree;
    switch (s.kind) {
        case "CreateStmt": {
            const table = tableKey(t.relation);
            state.createdNow.add(t.relation.relname);
            schema.dropTable(table);
            for (const e of t.tableElts ?? []) if (e.ColumnDef) schema.setColumn(table, e.ColumnDef.colname, e.ColumnDef.typeName);
            return;
        }
        case "RenameStmt":
            if (t.renameType === "OBJECT_COLUMN" && t.relation) {
                const table = tableKey(t.relation);
                const type = schema.columns.get(`${table}.${t.subname}`);
                schema.columns.delete(`${table}.${t.subname}`);
                if (type) schema.columns.set(`${table}.${t.newname}`, type);
            } else if (t.renameType === "OBJECT_TABLE" && t.relation) {
                schema.renameTable(tableKey(t.relation), t.relation.schemaname && t.relation.schemaname !== "public" ? `${t.relation.schemaname}.${t.newname}` : t.newname);
            }
            return;
        case "DropStmt":
            if (t.removeType === "OBJECT_TABLE") for (const o of t.objects ?? []) schema.dropTable(qualifiedName(o));
            if (t.removeType === "OBJECT_DOMAIN") for (const o of t.objects ?? []) schema.domains.delete(lastName(o.TypeName?.names));
            return;
        case "CreateDomainStmt": {
            const base = columnType(t.typeName);
            const name = lastName(t.domainname);
            const constrained = (t.constraints ?? []).some((c: any) => ["CONSTR_CHECK", "CONSTR_NOTNULL"].includes(c.Constraint?.contype));
            if (base) schema.domains.set(name, { base, constrained });
            else schema.domains.delete(name);
            return;
        }
        case "AlterDomainStmt": {
            // C: ADD CONSTRAINT, O: SET NOT NULL. A dropped constraint may leave others: stay constrained.
            const domain = schema.domains.get(lastName(t.typeName));
            if (domain && (t.subtype === "C" || t.subtype === "O")) domain.constrained = true;
            return;
        }
        case "VariableSetStmt":
            if (t.name === "timezone") state.timeZone = timeZoneOf(t, state.inTransaction);
            return;
    }
}

/** "utc" when a SET TIME ZONE makes the session UTC for the statements after it in this file. */
function timeZoneOf(t: any, inTransaction: boolean): "utc" | undefined {
    const value = t.kind === "VAR_SET_VALUE" ? t.args?.[0]?.A_Const?.sval?.sval : undefined;
    // SET LOCAL outside a transaction does nothing: it counts only in a file that surely runs in one.
    if (t.is_local && !inTransaction) return undefined;
    return typeof value === "string" && isUtcZone(value) ? "utc" : undefined;
}

function learnAlter(schema: Schema, table: string, cmd: any): void {
    if (cmd.subtype === "AT_AddColumn") schema.setColumn(table, cmd.def.ColumnDef.colname, cmd.def.ColumnDef.typeName);
    if (cmd.subtype === "AT_AlterColumnType") schema.setColumn(table, cmd.name, cmd.def.ColumnDef.typeName);
    if (cmd.subtype === "AT_DropColumn") schema.columns.delete(`${table}.${cmd.name}`);
}

/** A type's name without schema, lower-cased as columnType() keys types. */
function lastName(names: any[] | undefined): string {
    return ((names ?? []).map((n: any) => n.String?.sval).filter(Boolean).pop() ?? "").toLowerCase();
}

function qualifiedName(o: any): string {
    const parts: string[] = (o.List?.items ?? [o]).map((i: any) => i.String?.sval).filter(Boolean);
    return parts.length > 1 && parts[0] !== "public" ? parts.join(".") : parts[parts.length - 1] ?? "";
}

function lintStatement(file: MigrationFile, s: SqlStatement, createdNow: Set<string>): LintFinding[] {
    const found = (operation: string, risk: string, destructive: boolean): LintFinding => ({ file: file.file, line: s.line, operation, risk, destructive });
    const t = s.tree;
    switch (s.kind) {
        case "DropStmt":
            if (t.removeType === "OBJECT_TABLE") return [found(`DROP TABLE ${names(t.objects)}`, "deletes the table and all its rows", true)];
            if (t.removeType === "OBJECT_SCHEMA") return [found(`DROP SCHEMA ${names(t.objects)}`, "deletes the schema and everything in it", true)];
            if (t.removeType === "OBJECT_INDEX" && !t.concurrent) return [found(`DROP INDEX ${names(t.objects)}`, "locks the table against writes and reads while it runs; use DROP INDEX CONCURRENTLY", false)];
            return [];
        case "TruncateStmt":
            return [found(`TRUNCATE ${(t.relations ?? []).map((r: any) => r.RangeVar.relname).join(", ")}`, "deletes every row", true)];
        case "RenameStmt":
            if (createdNow.has(t.relation?.relname)) return [];
            return [found(`RENAME ${t.subname ?? t.relation?.relname} TO ${t.newname}`, "the version still running uses the old name and fails until it is replaced", true)];
        case "IndexStmt":
            if (t.concurrent || createdNow.has(t.relation.relname)) return [];
            return [found(`CREATE INDEX ${t.idxname ?? ""} ON ${t.relation.relname}`.replace("  ", " "), "blocks writes to an existing table while the index builds; use CREATE INDEX CONCURRENTLY in a -- gatehouse:no-transaction file", false)];
        default:
            return [];
    }
}

function lintAlter(state: FileState, s: SqlStatement, table: string, cmd: any, schema: Schema): LintFinding[] {
    const found = (operation: string, risk: string, destructive: boolean): LintFinding => ({ file: state.file.file, line: s.line, operation, risk, destructive });
    switch (cmd.subtype) {
        case "AT_DropColumn":
            return [found(`DROP COLUMN ${table}.${cmd.name}`, "deletes the column's data; the running version may still read it", true)];
        case "AT_AlterColumnType":
            return [lintTypeChange(state, s, table, cmd, schema)];
        case "AT_SetNotNull":
            return [found(`SET NOT NULL on ${table}.${cmd.name}`, "scans the whole table under an exclusive lock, and fails on existing NULLs", false)];
        case "AT_AddColumn": {
            const column = cmd.def.ColumnDef;
            const constraints = (column.constraints ?? []).map((c: any) => c.Constraint);
            const notNull = constraints.some((c: any) => c.contype === "CONSTR_NOTNULL");
            const dflt = constraints.find((c: any) => c.contype === "CONSTR_DEFAULT");
            if (notNull && !dflt) return [found(`ADD COLUMN ${table}.${column.colname} NOT NULL without a default`, "fails on a table with rows, and breaks inserts of the running version", true)];
            const fn = dflt?.raw_expr?.FuncCall?.funcname?.map((n: any) => n.String.sval).pop();
            if (fn && VOLATILE_DEFAULTS.has(fn)) return [found(`ADD COLUMN ${table}.${column.colname} DEFAULT ${fn}()`, "a volatile default rewrites the whole table under an exclusive lock", true)];
            return [];
        }
        default:
            return [];
    }
}

/** ALTER COLUMN … TYPE: a warning when PostgreSQL only changes the catalog, else blocking (see typeChange.ts). */
function lintTypeChange(state: FileState, s: SqlStatement, table: string, cmd: any, schema: Schema): LintFinding {
    const def = cmd.def.ColumnDef;
    const to = columnType(def.typeName);
    const operation = `ALTER COLUMN ${table}.${cmd.name} TYPE ${to ? typeText(to) : "(type with computed modifiers)"}`;
    const verdict: TypeChangeVerdict = to
        ? judgeTypeChange(cmd.name, schema.columns.get(`${table}.${cmd.name}`), to, def.raw_default, { domains: schema.domains, timeZone: state.timeZone })
        : { to: "?", rewrite: "unknown", narrowing: "unknown", because: "the new type's modifiers are not constants" };
    const destructive = verdict.rewrite !== false || verdict.narrowing !== false;
    return { file: state.file.file, line: s.line, operation, risk: typeChangeRisk(table, verdict, Boolean(def.collClause)), destructive, typeChange: verdict };
}

function typeChangeRisk(table: string, v: TypeChangeVerdict, collate: boolean): string {
    const change = v.because;
    const indexes = collate ? "; the new collation rebuilds the column's indexes under that lock" : "";
    if (v.rewrite === false && v.narrowing === false) {
        return `no table rewrite (${change}); still takes an ACCESS EXCLUSIVE lock on ${table} for a moment, so it waits for, and queues queries behind, long transactions on it${indexes}`;
    }
    const what = [
        v.rewrite === true ? `rewrites ${table} and its indexes under an ACCESS EXCLUSIVE lock (reads and writes wait until it ends)` : v.rewrite === "unknown" ? `may rewrite ${table} and its indexes under an ACCESS EXCLUSIVE lock` : `locks ${table} (ACCESS EXCLUSIVE)`,
        v.narrowing === true ? `${v.misfit === "changes" ? "changes" : v.misfit === "fails" ? "fails on" : "fails on or changes"} existing rows that do not fit` : v.narrowing === "unknown" ? "may fail on or change existing rows" : "",
    ].filter(Boolean);
    return `${what.join(", and ")} (${change})${indexes}; fix: ${typeChangeFix(table, v)}`;
}

function typeChangeFix(table: string, v: TypeChangeVerdict): string {
    if (!v.from) return `check the column's current type (\\d ${table}); if this only relaxes it (a larger varchar or numeric precision, dropping a typmod), the change is safe: mark the file -- gatehouse:reviewed`;
    if (v.narrowing !== false) return `count the rows that do not fit before releasing (or keep the type and add a CHECK … NOT VALID, then VALIDATE it), then mark the file -- gatehouse:reviewed`;
    return `on a large table add a new column, backfill it in batches and switch over in a later release; on a small one mark the file -- gatehouse:reviewed`;
}

function names(objects: any[]): string {
    return (objects ?? []).map((o) => (o.List?.items ?? [o]).map((i: any) => i.String?.sval).filter(Boolean).join(".")).join(", ");
}

/** The findings that block a release: destructive ones in files not marked `-- gatehouse:reviewed`. */
export function blockingFindings(findings: LintFinding[], files: MigrationFile[]): LintFinding[] {
    const reviewed = new Set(files.filter((f) => f.reviewed).map((f) => f.file));
    return findings.filter((f) => f.destructive && !reviewed.has(f.file));
}
