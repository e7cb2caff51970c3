import { spawn } from "child_process";
import * as path from "path";
import { Client } from "pg";
import { z } from "zod";
import { pgToolPath } from "./pgTools";
import { readYamlFile } from "./yamlFile";

const name = z.string().min(1);
const columnList = z.array(name).min(1);

const uniqueExpectation = z
    .object({
        columns: columnList,
        /**
         * index (the default): any unique index on exactly these columns without
         * a WHERE clause; a constraint's or primary key's own index counts, as it
         * enforces the same (an app that creates uniqueness with
         * `op.create_index(..., unique=True)` has no constraint). constraint: a
         * UNIQUE constraint in pg_constraint, only where the app needs one by
         * name, e.g. an upsert `ON CONFLICT ON CONSTRAINT <name>`, which accepts
         * no index; `because` says which.
         */
        kind: z.enum(["constraint", "index"], { error: "must be constraint or index (the default)" }).default("index"),
        because: z.string().min(1).optional(),
    })
    .strict()
    .refine((u) => u.kind !== "constraint" || u.because !== undefined, {
        error: "kind: constraint needs `because`: what in the app needs a constraint rather than any unique index (e.g. an upsert ON CONFLICT ON CONSTRAINT <name>)",
    });

const tableExpectation = z
    .object({
        columns: z.array(name).default([]),
        primaryKey: columnList.optional(),
        unique: z.array(uniqueExpectation, { error: "must be a list of { columns: [...] } (kind: constraint with because, where the app needs one)" }).default([]),
    })
    .strict();

const indexExpectation = z
    .object({
        table: name,
        /** The index name; omit to match by columns, or to require any index at all. */
        name: z.string().optional(),
        /** Indexed columns in order. */
        columns: columnList.optional(),
        unique: z.boolean().optional(),
    })
    .strict();

/** A named set of checks: one of the checklist's queries, or one app-specific extra. */
const group = z
    .object({
        tables: z.record(name, tableExpectation.nullish().transform((t) => t ?? { columns: [], unique: [] })).default({}),
        /** As the checklists' pg_indexes queries list them: a primary key's index counts. */
        indexes: z.array(indexExpectation).default([]),
    })
    .strict();

/**
 * Schema expectations as data: the checklist's verification queries, and
 * app-specific extras kept apart, each group named so a failure says which
 * promise broke. Row counts (the checklists' COUNT(*) queries) are reported
 * before and after, never failed: a count says nothing about a correct schema.
 */
export const expectationSchema = z
    .object({
        schema: z.string().default("public"),
        checklist: z.record(name, group).default({}),
        extras: z.record(name, group).default({}),
        rowCounts: z.array(name).default([]),
    })
    .strict();

export type Expectations = z.infer<typeof expectationSchema>;
type Group = z.infer<typeof group>;

/** Reads an expectations file, naming the file and field on any mistake. */
export function readExpectations(file: string): Expectations {
    return readYamlFile(file, expectationSchema, "schema expectations file", (e) =>
        Object.keys(e.checklist).length + Object.keys(e.extras).length === 0 ? ["(top): no checks: add groups under checklist: (and extras:)"] : [],
    );
}

/** What the release plan says about an expectations file. */
export function describeExpectations(e: Expectations, file: string): string[] {
    const line = (origin: string, groupName: string, g: Group) => {
        const counts = [`${Object.keys(g.tables).length} table(s)`, `${g.indexes.length} index(es)`];
        return `    ${origin}: ${groupName} (${counts.join(", ")})`;
    };
    return [
        `  ${file}: ${Object.keys(e.checklist).length} checklist check(s), ${Object.keys(e.extras).length} app-specific extra(s)`,
        ...Object.entries(e.checklist).map(([n, g]) => line("checklist", n, g)),
        ...Object.entries(e.extras).map(([n, g]) => line("extra", n, g)),
        ...(e.rowCounts.length > 0 ? [`    row counts reported before and after (never failed): ${e.rowCounts.join(", ")}`] : []),
    ];
}

export interface RowCount {
    table: string;
    /** Rows in the release snapshot (before this release's migrations); undefined = not known, null = no such table. */
    before?: number | null;
    /** Rows now; null = no such table. */
    after: number | null;
}

export interface VerificationResult {
    checked: number;
    missing: string[];
    rowCounts: RowCount[];
}

export class SchemaVerificationError extends Error {
    constructor(
        readonly missing: string[],
        readonly rowCounts: RowCount[] = [],
    ) {
        const counts = rowCounts.length > 0 ? `\n${formatRowCounts(rowCounts).join("\n")}` : "";
        super(`schema verification failed, ${missing.length} expectation(s) not met (the deploy step will not run):\n  ${missing.join("\n  ")}${counts}`);
        this.name = "SchemaVerificationError";
    }
}

interface CatalogIndex {
    table: string;
    name: string;
    columns: string[];
    unique: boolean;
    primary: boolean;
    /** Has a WHERE clause: unique only among some rows. */
    partial: boolean;
}

interface CatalogConstraint {
    table: string;
    name: string;
    columns: string[];
}

interface Catalog {
    tables: Set<string>;
    columns: Map<string, Set<string>>;
    indexes: CatalogIndex[];
    uniqueConstraints: CatalogConstraint[];
}

export interface VerifyOptions {
    /** The release snapshot (pg_dump -Fc): row counts before the migrations are read from it. */
    snapshot?: string;
}

/** Checks expectations against the live catalog; throws naming everything missing, by group. */
export async function verifySchema(databaseUrl: string, expectations: Expectations, options: VerifyOptions = {}): Promise<VerificationResult> {
    const client = new Client({ connectionString: databaseUrl, application_name: "gatehouse-verify" });
    await client.connect();
    let missing: string[];
    let checked: number;
    let rowCounts: RowCount[];
    try {
        const catalog = await readCatalog(client, expectations.schema);
        ({ missing, checked } = checkAll(catalog, expectations));
        rowCounts = await countRows(client, expectations, catalog);
    } finally {
        await client.end();
    }
    if (options.snapshot && rowCounts.length > 0) {
        for (const c of rowCounts) c.before = await countRowsInSnapshot(options.snapshot, expectations.schema, c.table);
    }
    if (missing.length > 0) throw new SchemaVerificationError(missing, rowCounts);
    return { checked, missing, rowCounts };
}

async function readCatalog(client: Client, schema: string): Promise<Catalog> {
    const tables = new Set<string>(
        (await client.query("SELECT table_name FROM information_schema.tables WHERE table_schema = $1", [schema])).rows.map((r) => r.table_name),
    );
    const columns = new Map<string, Set<string>>();
    for (const r of (await client.query("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = $1", [schema])).rows) {
        if (!columns.has(r.table_name)) columns.set(r.table_name, new Set());
        columns.get(r.table_name)!.add(r.column_name);
    }
    const indexes: CatalogIndex[] = (
        await client.query(
            `SELECT t.relname AS table, i.relname AS name, ix.indisunique AS unique, ix.indisprimary AS primary, ix.indpred IS NOT NULL AS partial,
                    array(SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY k(attnum, n)
                          JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.n)::text[] AS columns
               FROM pg_index ix
               JOIN pg_class i ON i.oid = ix.indexrelid
               JOIN pg_class t ON t.oid = ix.indrelid
               JOIN pg_namespace n ON n.oid = t.relnamespace
              WHERE n.nspname = $1`,
            [schema],
        )
    ).rows;
    const uniqueConstraints: CatalogConstraint[] = (
        await client.query(
            `SELECT t.relname AS table, c.conname AS name,
                    array(SELECT a.attname FROM unnest(c.conkey) k(attnum) JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum)::text[] AS columns
               FROM pg_constraint c
               JOIN pg_class t ON t.oid = c.conrelid
               JOIN pg_namespace n ON n.oid = t.relnamespace
              WHERE n.nspname = $1 AND c.contype = 'u'`,
            [schema],
        )
    ).rows;
    return { tables, columns, indexes, uniqueConstraints };
}

function checkAll(catalog: Catalog, expectations: Expectations): { missing: string[]; checked: number } {
    const missing: string[] = [];
    let checked = 0;
    const groups: [string, Group][] = [
        ...Object.entries(expectations.checklist).map(([n, g]) => [`checklist "${n}"`, g] as [string, Group]),
        ...Object.entries(expectations.extras).map(([n, g]) => [`extra "${n}"`, g] as [string, Group]),
    ];
    for (const [label, g] of groups) {
        for (const problem of checkGroup(catalog, expectations.schema, g, () => checked++)) missing.push(`[${label}] ${problem}`);
    }
    return { missing, checked };
}

function checkGroup(catalog: Catalog, schema: string, g: Group, count: () => void): string[] {
    const missing: string[] = [];
    const expect = (ok: boolean, what: string) => {
        count();
        if (!ok) missing.push(what);
    };
    const { tables, columns, indexes } = catalog;
    for (const [table, t] of Object.entries(g.tables)) {
        expect(tables.has(table), `table ${schema}.${table} is missing`);
        if (!tables.has(table)) continue;
        for (const column of t.columns) expect(columns.get(table)?.has(column) ?? false, `column ${table}.${column} is missing`);
        if (t.primaryKey) {
            const pk = indexes.find((i) => i.table === table && i.primary);
            expect(
                pk !== undefined && sameOrder(pk.columns, t.primaryKey),
                pk ? `primary key of ${table} is (${pk.columns.join(", ")}), expected (${t.primaryKey.join(", ")})` : `table ${table} has no primary key, expected (${t.primaryKey.join(", ")})`,
            );
        }
        for (const u of t.unique) expect(...uniqueCheck(catalog, table, u));
    }
    for (const want of g.indexes) {
        const found = indexes.some(
            (i) =>
                i.table === want.table &&
                (want.name === undefined || i.name === want.name) &&
                (want.columns === undefined || sameOrder(i.columns, want.columns)) &&
                (want.unique === undefined || i.unique === want.unique),
        );
        const described = want.name ?? (want.columns ? `on (${want.columns.join(", ")})` : "(any)");
        expect(found, `index ${described} on ${want.table} is missing`);
    }
    return missing;
}

function uniqueCheck(catalog: Catalog, table: string, u: z.infer<typeof uniqueExpectation>): [boolean, string] {
    const cols = u.columns.join(", ");
    const constraint = catalog.uniqueConstraints.find((c) => c.table === table && sameSet(c.columns, u.columns));
    const index = catalog.indexes.find((i) => i.table === table && i.unique && !i.partial && sameSet(i.columns, u.columns));
    if (u.kind === "index") return [index !== undefined, `unique index on ${table} (${cols}) is missing (a unique constraint would do too)`];
    if (constraint) return [true, ""];
    return [
        false,
        index
            ? `unique constraint on ${table} (${cols}) is missing: the unique index ${index.name} enforces it, but the check asks for a constraint (kind: constraint)`
            : `unique constraint on ${table} (${cols}) is missing`,
    ];
}

async function countRows(client: Client, expectations: Expectations, catalog: Catalog): Promise<RowCount[]> {
    const out: RowCount[] = [];
    for (const table of expectations.rowCounts) {
        if (!catalog.tables.has(table)) {
            out.push({ table, after: null });
            continue;
        }
        const { rows } = await client.query(`SELECT count(*)::bigint AS n FROM ${quoteIdent(expectations.schema)}.${quoteIdent(table)}`);
        out.push({ table, after: Number(rows[0].n) });
    }
    return out;
}

/**
 * Rows of one table in a pg_dump custom-format file: its data section is COPY
 * text, one line per row (newlines inside values are escaped), so the lines
 * between `COPY ... FROM stdin;` and `\.` are the rows. pg_restore seeks to
 * that table's data; the rest of the dump is not read. null when the dump has
 * no such table.
 */
export function countRowsInSnapshot(snapshot: string, schema: string, table: string): Promise<number | null> {
    return new Promise((resolve, reject) => {
        const child = spawn(pgToolPath("pg_restore"), ["--data-only", "--schema", schema, "--table", table, "--file", "-", snapshot], { stdio: ["ignore", "pipe", "pipe"] });
        let inCopy = false;
        let sawCopy = false;
        let rows = 0;
        let rest = "";
        let stderr = "";
        const take = (line: string) => {
            if (inCopy) {
                if (line === "\\.") inCopy = false;
                else rows++;
            } else if (line.startsWith("COPY ")) {
                inCopy = sawCopy = true;
            }
        };
        child.stdout.setEncoding("utf8");
        child.stdout.on("data", (chunk: string) => {
            const lines = (rest + chunk).split("\n");
            rest = lines.pop()!;
            lines.forEach(take);
        });
        child.stderr.on("data", (d) => (stderr += d));
        child.on("error", (err: any) => reject(err.code === "ENOENT" ? new Error("pg_restore is not installed; install the PostgreSQL client tools (Debian: apt-get install postgresql-client)") : err));
        child.on("close", (code) => {
            if (rest) take(rest);
            if (code !== 0) reject(new Error(`pg_restore could not read ${path.basename(snapshot)} (exit ${code}): ${stderr.trim()}`));
            else resolve(sawCopy ? rows : null);
        });
    });
}

export function formatRowCounts(counts: RowCount[]): string[] {
    const show = (n: number | null | undefined) => (n === undefined ? "not known" : n === null ? "(no table)" : String(n));
    return ["row counts (reported, never failed):", ...counts.map((c) => `  ${c.table}: before ${show(c.before)}, after ${show(c.after)}`)];
}

function quoteIdent(id: string): string {
    return `"${id.replace(/"/g, '""')}"`;
}

function sameOrder(a: string[], b: string[]): boolean {
    return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameSet(a: string[], b: string[]): boolean {
    return a.length === b.length && a.every((x) => b.includes(x));
}
