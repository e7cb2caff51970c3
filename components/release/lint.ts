import { MigrationFile } from "./migrationFiles";
import { SqlStatement, parseSql } from "./sqlStatements";

/** An operation in a pending migration that locks a busy table or destroys data. */
export interface LintFinding {
    file: string;
    line: number;
    operation: string;
    /** What it does to production, in a reviewer's words. */
    risk: string;
    /** Destroys data or rewrites a table: fails the preview unless the file is marked reviewed. */
    destructive: boolean;
}

// Defaults PostgreSQL must compute per row, which turns ADD COLUMN into a full
// table rewrite under an ACCESS EXCLUSIVE lock (constant and stable defaults
// such as now() are stored once in the catalog since PostgreSQL 11).
const VOLATILE_DEFAULTS = new Set(["gen_random_uuid", "uuid_generate_v4", "random", "clock_timestamp", "timeofday", "nextval"]);

/**
 * Reads pending migrations with the real PostgreSQL parser and names every
 * operation a reviewer must see: DROP TABLE/COLUMN, TRUNCATE, column type
 * changes, NOT NULL without a default, renames, a non-concurrent index on a
 * table that already exists, a table rewrite.
 */
export async function lintMigrations(pending: MigrationFile[]): Promise<LintFinding[]> {
    const findings: LintFinding[] = [];
    for (const file of pending) {
        // A table created earlier in the same file is new and unused: locking it is harmless. One
        // created in an earlier file may have been live for months, so it counts as existing.
        const createdNow = new Set<string>();
        const statements = await parseSql(file.sql);
        if (!Array.isArray(statements)) {
            findings.push({ file: file.file, line: statements.line, operation: "syntax error", risk: statements.error, destructive: true });
            continue;
        }
        for (const s of statements) findings.push(...lintStatement(file, s, createdNow));
    }
    return findings;
}

function lintStatement(file: MigrationFile, s: SqlStatement, createdNow: Set<string>): LintFinding[] {
    const found = (operation: string, risk: string, destructive: boolean): LintFinding => ({ file: file.file, line: s.line, operation, risk, destructive });
    const t = s.tree;
    switch (s.kind) {
        case "CreateStmt":
            createdNow.add(t.relation.relname);
            return [];
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
        case "AlterTableStmt": {
            const table = t.relation.relname;
            if (createdNow.has(table)) return [];
            return (t.cmds ?? []).flatMap((c: any) => lintAlter(table, c.AlterTableCmd, found));
        }
        default:
            return [];
    }
}

function lintAlter(table: string, cmd: any, found: (op: string, risk: string, destructive: boolean) => LintFinding): LintFinding[] {
    switch (cmd.subtype) {
        case "AT_DropColumn":
            return [found(`DROP COLUMN ${table}.${cmd.name}`, "deletes the column's data; the running version may still read it", true)];
        case "AT_AlterColumnType":
            return [found(`ALTER COLUMN ${table}.${cmd.name} TYPE`, "rewrites the table under an exclusive lock (reads and writes wait)", true)];
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

function names(objects: any[]): string {
    return (objects ?? []).map((o) => (o.List?.items ?? [o]).map((i: any) => i.String?.sval).filter(Boolean).join(".")).join(", ");
}

/** The findings that block a release: destructive ones in files not marked `-- gatehouse:reviewed`. */
export function blockingFindings(findings: LintFinding[], files: MigrationFile[]): LintFinding[] {
    const reviewed = new Set(files.filter((f) => f.reviewed).map((f) => f.file));
    return findings.filter((f) => f.destructive && !reviewed.has(f.file));
}
