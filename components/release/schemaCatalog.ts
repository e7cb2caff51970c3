import { withClient } from "./pgTools";
import { firstDifference } from "./rehearsal";

// The round trip's schema comparison where pg_dump is not at hand: the AWS
// rehearsal runs its steps as ECS tasks, the app's tool in the app's image
// and Gatehouse's CLIs in the runner image (node only, no PostgreSQL client),
// and the two tasks share nothing but the scratch database. So the runner
// describes the schema from the catalog (the definitions PostgreSQL itself
// prints: format_type, pg_get_constraintdef, pg_get_indexdef, ...), keeps the
// description after the first upgrade in a table of the scratch copy, and
// compares after the round trip. The local rehearsal compares pg_dump output.

/** Where the description after the first upgrade is kept, in the scratch copy itself (left out of every description). */
export const SAVED_SCHEMA_TABLE = "gatehouse_rehearsal_schema";

const OUTSIDE = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'`;
const NOT_OURS = `c.relname <> '${SAVED_SCHEMA_TABLE}'`;

/** One query per kind of object, each answering `line`; together, sorted, the schema. */
const DESCRIPTIONS = [
    `SELECT 'relation ' || c.relkind::text || ' ' || n.nspname || '.' || c.relname AS line FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND ${OUTSIDE} AND ${NOT_OURS}`,
    `SELECT 'column ' || n.nspname || '.' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
            || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END || COALESCE(' default ' || pg_get_expr(d.adbin, d.adrelid), '') AS line
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND ${OUTSIDE} AND ${NOT_OURS}`,
    `SELECT 'constraint ' || n.nspname || '.' || c.relname || ' ' || k.conname || ' ' || pg_get_constraintdef(k.oid) AS line
       FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ${OUTSIDE} AND ${NOT_OURS}`,
    `SELECT 'index ' || n.nspname || '.' || i.relname || ' ' || pg_get_indexdef(i.oid) AS line
       FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid JOIN pg_namespace n ON n.oid = i.relnamespace
      WHERE ${OUTSIDE} AND ${NOT_OURS}`,
    `SELECT 'view ' || n.nspname || '.' || c.relname || ' ' || pg_get_viewdef(c.oid) AS line FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('v', 'm') AND ${OUTSIDE}`,
    `SELECT 'trigger ' || n.nspname || '.' || c.relname || ' ' || pg_get_triggerdef(t.oid) AS line
       FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal AND ${OUTSIDE}`,
    `SELECT 'function ' || n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') ' || md5(pg_get_functiondef(p.oid)) AS line
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.prokind IN ('f', 'p') AND ${OUTSIDE}`,
    `SELECT 'enum ' || n.nspname || '.' || t.typname || ' ' || string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder) AS line
       FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid JOIN pg_namespace n ON n.oid = t.typnamespace GROUP BY n.nspname, t.typname`,
    `SELECT 'schema ' || n.nspname AS line FROM pg_namespace n WHERE ${OUTSIDE}`,
];

/** The database's schema as sorted lines (no rows: the revision table's contents are the revision check's business). */
export async function describeSchema(databaseUrl: string): Promise<string[]> {
    return withClient(databaseUrl, async (client) => {
        const lines: string[] = [];
        for (const query of DESCRIPTIONS) lines.push(...(await client.query<{ line: string }>(query)).rows.map((r) => r.line));
        return lines.sort();
    });
}

/** Keeps the description after the first upgrade in the scratch copy, for `compareSavedSchema` after the round trip. */
export async function saveSchema(databaseUrl: string): Promise<number> {
    const lines = await describeSchema(databaseUrl);
    await withClient(databaseUrl, async (client) => {
        await client.query(`DROP TABLE IF EXISTS public.${SAVED_SCHEMA_TABLE}`);
        await client.query(`CREATE TABLE public.${SAVED_SCHEMA_TABLE} (n int PRIMARY KEY, line text NOT NULL)`);
        await client.query(`INSERT INTO public.${SAVED_SCHEMA_TABLE} (n, line) SELECT * FROM unnest($1::int[], $2::text[])`, [lines.map((_, i) => i), lines]);
    });
    return lines.length;
}

/** undefined when the schema is as saved; else where the two descriptions first differ. Fails when nothing was saved. */
export async function compareSavedSchema(databaseUrl: string): Promise<{ lines: number; difference?: string }> {
    const saved = await withClient(databaseUrl, async (client) => {
        const exists = (await client.query(`SELECT to_regclass('public.${SAVED_SCHEMA_TABLE}') IS NOT NULL AS ok`)).rows[0].ok;
        if (!exists) throw new Error(`no schema was saved in this database (public.${SAVED_SCHEMA_TABLE}): run \`migration-revision schema-save\` after the first upgrade`);
        return (await client.query<{ line: string }>(`SELECT line FROM public.${SAVED_SCHEMA_TABLE} ORDER BY n`)).rows.map((r) => r.line);
    });
    const now = await describeSchema(databaseUrl);
    return { lines: now.length, difference: firstDifference(saved, now) };
}
