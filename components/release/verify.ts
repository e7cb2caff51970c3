import { Client } from "pg";
import { z } from "zod";
import { readYamlFile } from "./yamlFile";

const columnList = z.array(z.string().min(1)).min(1);

/** Schema expectations as data: what must exist after migrating. */
export const expectationSchema = z.object({
    schema: z.string().default("public"),
    tables: z.record(
        z.string(),
        z
            .object({
                columns: z.array(z.string().min(1)).default([]),
                primaryKey: columnList.optional(),
                /** Column sets with a unique constraint (or unique index) each. */
                unique: z.array(columnList).default([]),
            })
            .nullish()
            .transform((t) => t ?? { columns: [], unique: [] }),
    ),
    indexes: z
        .array(
            z.object({
                table: z.string().min(1),
                /** The index name; omit to match by columns, or to require any index at all. */
                name: z.string().optional(),
                /** Indexed columns in order. */
                columns: columnList.optional(),
                unique: z.boolean().optional(),
            }),
        )
        .default([]),
});

export type Expectations = z.infer<typeof expectationSchema>;

/** Reads an expectations file, naming the file and field on any mistake. */
export function readExpectations(file: string): Expectations {
    return readYamlFile(file, expectationSchema, "schema expectations file");
}

export interface VerificationResult {
    checked: number;
    missing: string[];
}

export class SchemaVerificationError extends Error {
    constructor(readonly missing: string[]) {
        super(`schema verification failed, ${missing.length} expectation(s) not met (the deploy step will not run):\n  ${missing.join("\n  ")}`);
        this.name = "SchemaVerificationError";
    }
}

interface CatalogIndex {
    table: string;
    name: string;
    columns: string[];
    unique: boolean;
    primary: boolean;
}

/** Checks expectations against the live catalog; throws naming everything missing. */
export async function verifySchema(databaseUrl: string, expectations: Expectations): Promise<VerificationResult> {
    const client = new Client({ connectionString: databaseUrl, application_name: "gatehouse-verify" });
    await client.connect();
    try {
        const schema = expectations.schema;
        const tables = new Set(
            (await client.query("SELECT table_name FROM information_schema.tables WHERE table_schema = $1", [schema])).rows.map((r) => r.table_name),
        );
        const columns = new Map<string, Set<string>>();
        for (const r of (await client.query("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = $1", [schema])).rows) {
            if (!columns.has(r.table_name)) columns.set(r.table_name, new Set());
            columns.get(r.table_name)!.add(r.column_name);
        }
        const indexes: CatalogIndex[] = (
            await client.query(
                `SELECT t.relname AS table, i.relname AS name, ix.indisunique AS unique, ix.indisprimary AS primary,
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

        const missing: string[] = [];
        let checked = 0;
        const expect = (ok: boolean, what: string) => {
            checked++;
            if (!ok) missing.push(what);
        };
        for (const [table, t] of Object.entries(expectations.tables)) {
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
            for (const set of t.unique) {
                const found = indexes.some((i) => i.table === table && i.unique && sameSet(i.columns, set));
                expect(found, `unique constraint on ${table} (${set.join(", ")}) is missing`);
            }
        }
        for (const want of expectations.indexes) {
            const candidates = indexes.filter((i) => i.table === want.table && !i.primary);
            const found = candidates.some(
                (i) =>
                    (want.name === undefined || i.name === want.name) &&
                    (want.columns === undefined || sameOrder(i.columns, want.columns)) &&
                    (want.unique === undefined || i.unique === want.unique),
            );
            const described = want.name ?? (want.columns ? `on (${want.columns.join(", ")})` : "(any)");
            expect(found, `index ${described} on ${want.table} is missing`);
        }
        if (missing.length > 0) throw new SchemaVerificationError(missing);
        return { checked, missing };
    } finally {
        await client.end();
    }
}

function sameOrder(a: string[], b: string[]): boolean {
    return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameSet(a: string[], b: string[]): boolean {
    return a.length === b.length && a.every((x) => b.includes(x));
}
