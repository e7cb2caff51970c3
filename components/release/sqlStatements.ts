// Splits SQL with the real PostgreSQL parser (libpg-query, WASM): dollar-quoted
// bodies, strings with semicolons, nested comments and E'' escapes all behave
// exactly as they do in the server, which a hand-written splitter would only
// approximate.
type PgQuery = { loadModule(): Promise<void>; parseSync(sql: string): any };
// Required on first use: the command-mode steps (rehearse, migration-revision) load this module and never parse SQL.
let pgQuery: PgQuery | undefined;

export interface SqlStatement {
    /** The statement as written, leading comments included, without its `;`. */
    text: string;
    /** 1-based line in the file of the statement's first token. */
    line: number;
    /** Lines of comments/blank space in `text` before the first token. */
    leadingLines: number;
    /** Parse-tree node type, e.g. `CreateStmt`, `IndexStmt`, `TransactionStmt`. */
    kind: string;
    /** The parse tree of the statement, for lint rules. */
    tree: any;
}

let loaded: Promise<void> | undefined;

/** Loads the parser once per process (~40 ms). */
export function loadSqlParser(): Promise<void> {
    pgQuery ??= require("libpg-query") as PgQuery;
    loaded ??= pgQuery.loadModule();
    return loaded;
}

/** Splits a file into statements, or says where it fails to parse. */
export async function parseSql(sql: string): Promise<SqlStatement[] | { error: string; line: number }> {
    await loadSqlParser();
    return splitStatements(sql);
}

/** As parseSql; the parser must already be loaded (loadSqlParser). */
export function splitStatements(sql: string): SqlStatement[] | { error: string; line: number } {
    const bytes = Buffer.from(sql, "utf8");
    if (!pgQuery) throw new Error("splitStatements before loadSqlParser: the SQL parser is not loaded");
    let tree: any;
    try {
        tree = pgQuery.parseSync(sql);
    } catch (err: any) {
        const at = err?.sqlDetails?.cursorPosition;
        const line = typeof at === "number" ? lineAt(bytes.subarray(0, Math.max(0, at)).toString("utf8")) : 1;
        return { error: String(err?.message ?? err), line };
    }
    return (tree.stmts ?? []).map((s: any) => {
        // Locations are byte offsets into the UTF-8 text (comments may be Korean).
        const start = s.stmt_location ?? 0;
        const end = s.stmt_len ? start + s.stmt_len : bytes.length;
        const text = bytes.subarray(start, end).toString("utf8");
        const leading = text.length - stripLeadingComments(text).length;
        const leadingLines = lineAt(text.slice(0, leading)) - 1;
        const line = lineAt(bytes.subarray(0, start).toString("utf8")) + leadingLines;
        const kind = Object.keys(s.stmt)[0];
        return { text, line, leadingLines, kind, tree: s.stmt[kind] };
    });
}

function lineAt(prefix: string): number {
    let lines = 1;
    for (let i = prefix.indexOf("\n"); i >= 0; i = prefix.indexOf("\n", i + 1)) lines++;
    return lines;
}

function stripLeadingComments(text: string): string {
    let rest = text;
    for (;;) {
        const trimmed = rest.replace(/^\s+/, "");
        if (trimmed.startsWith("--")) {
            const eol = trimmed.indexOf("\n");
            rest = eol < 0 ? "" : trimmed.slice(eol + 1);
        } else if (trimmed.startsWith("/*")) {
            const close = trimmed.indexOf("*/");
            rest = close < 0 ? "" : trimmed.slice(close + 2);
        } else {
            return trimmed;
        }
    }
}

/** A statement PostgreSQL refuses inside a transaction block. */
export interface OutsideTransaction {
    /** What it is, in a reviewer's words (`CREATE INDEX CONCURRENTLY`). */
    what: string;
    /**
     * A CONCURRENTLY form: it waits for other transactions instead of blocking
     * them, so a lock_timeout would only make it fail (and leave an invalid index).
     */
    concurrent: boolean;
}

/**
 * The statements that fail with "cannot run inside a transaction block"
 * (PreventInTransactionBlock in the server), read from the parse tree.
 */
export function outsideTransactionOnly(s: SqlStatement): OutsideTransaction | undefined {
    const t = s.tree;
    switch (s.kind) {
        case "IndexStmt":
            return t.concurrent ? { what: "CREATE INDEX CONCURRENTLY", concurrent: true } : undefined;
        case "DropStmt":
            return t.concurrent ? { what: "DROP INDEX CONCURRENTLY", concurrent: true } : undefined;
        case "ReindexStmt": {
            if ((t.params ?? []).some((p: any) => p.DefElem?.defname === "concurrently")) return { what: "REINDEX … CONCURRENTLY", concurrent: true };
            if (t.kind === "REINDEX_OBJECT_DATABASE" || t.kind === "REINDEX_OBJECT_SYSTEM") return { what: `REINDEX ${t.kind.slice("REINDEX_OBJECT_".length)}`, concurrent: false };
            return undefined;
        }
        case "VacuumStmt":
            // ANALYZE alone is the same node and may run in a transaction.
            return t.is_vacuumcmd ? { what: "VACUUM", concurrent: false } : undefined;
        case "AlterTableStmt":
            return (t.cmds ?? []).some((c: any) => c.AlterTableCmd?.subtype === "AT_DetachPartition" && c.AlterTableCmd.def?.PartitionCmd?.concurrent)
                ? { what: "DETACH PARTITION … CONCURRENTLY", concurrent: true }
                : undefined;
        case "ClusterStmt":
            return t.relation ? undefined : { what: "CLUSTER (every table)", concurrent: false };
        case "CreatedbStmt":
            return { what: "CREATE DATABASE", concurrent: false };
        case "DropdbStmt":
            return { what: "DROP DATABASE", concurrent: false };
        case "CreateTableSpaceStmt":
            return { what: "CREATE TABLESPACE", concurrent: false };
        case "DropTableSpaceStmt":
            return { what: "DROP TABLESPACE", concurrent: false };
        case "AlterSystemStmt":
            return { what: "ALTER SYSTEM", concurrent: false };
        case "CreateSubscriptionStmt":
            return { what: "CREATE SUBSCRIPTION", concurrent: false };
        case "DropSubscriptionStmt":
            return { what: "DROP SUBSCRIPTION", concurrent: false };
        case "TransactionStmt":
            return t.kind === "TRANS_STMT_COMMIT_PREPARED" || t.kind === "TRANS_STMT_ROLLBACK_PREPARED"
                ? { what: t.kind === "TRANS_STMT_COMMIT_PREPARED" ? "COMMIT PREPARED" : "ROLLBACK PREPARED", concurrent: false }
                : undefined;
        default:
            return undefined;
    }
}

/** How a transaction-control statement moves a session in or out of a transaction block. */
export function transactionEffect(s: SqlStatement): "opens" | "closes" | "none" {
    if (s.kind !== "TransactionStmt") return "none";
    switch (s.tree.kind) {
        case "TRANS_STMT_BEGIN":
        case "TRANS_STMT_START":
            return "opens";
        case "TRANS_STMT_COMMIT":
        case "TRANS_STMT_ROLLBACK":
            // COMMIT AND CHAIN starts the next transaction at once.
            return s.tree.chain ? "none" : "closes";
        case "TRANS_STMT_PREPARE":
            return "closes";
        default:
            return "none";
    }
}
