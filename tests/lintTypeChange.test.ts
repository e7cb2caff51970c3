import { strict as assert } from "assert";
import * as path from "path";
import { Client } from "pg";
import { lintMigrations } from "../components/release/lint";
import { readMigrationDir } from "../components/release/migrationFiles";
import { Tristate, TypeChangeVerdict, UTC_ZONE_NAMES, isUtcZone } from "../components/release/typeChange";
import { migrationDir } from "./helpers/migrations";
import { freshDatabase } from "./helpers/postgres";

// Every rule of the type-change lint, proven on the real server: each case
// declares a column in an earlier migration file, alters it in a pending one,
// and the lint's verdict must be what PostgreSQL does with the same two files
// on a table with rows. Rewrite = pg_relation_filenode changed. Narrowing = a
// row that fits the old type but not the new one fails the ALTER or comes out
// changed; where the lint says "no narrowing", rows at the old type's limits
// must come out unchanged.

interface Case {
    name: string;
    /** The column's type in the earlier file (`CREATE TABLE t (id int, c <old>)`). */
    old: string;
    /** Statements of the earlier file before the table (domains). */
    prelude?: string;
    /** The pending file. */
    alter: string;
    /** Values that fit the old type; rows at its limits, so that "no narrowing" means something. */
    fits: string[];
    /** A value that fits the old type but not the new one, and what PostgreSQL does with it. */
    misfit?: { value: string; effect: "fails" | "changes" };
    /** How to compare a value before and after (its text in the new type may differ: 1.50 vs 1.5000). */
    compare: "numeric" | "text" | "timestamp";
    /** The server session's TimeZone while the file runs (in production: the server, database or role default). */
    session?: string;
    expect: { rewrite: Tristate; narrowing: Tristate };
    /**
     * For an "unknown" verdict: situations the migration files cannot tell
     * apart, in which PostgreSQL does different things.
     */
    variants?: { label: string; old: string; session?: string; values?: string[]; compare?: Case["compare"] }[];
    /** The earlier file does not declare the column (it was created before the first file). */
    undeclared?: boolean;
}

const CASES: Case[] = [
    { name: "numeric precision up, same scale", old: "numeric(10,2)", alter: "ALTER TABLE t ALTER COLUMN c TYPE numeric(12,2);", fits: ["99999999.99", "-0.01"], compare: "numeric", expect: { rewrite: false, narrowing: false } },
    { name: "numeric precision down", old: "numeric(10,2)", alter: "ALTER TABLE t ALTER COLUMN c TYPE numeric(8,2);", fits: ["999999.99"], misfit: { value: "12345678.90", effect: "fails" }, compare: "numeric", expect: { rewrite: true, narrowing: true } },
    { name: "numeric scale up, integer digits kept", old: "numeric(10,2)", alter: "ALTER TABLE t ALTER COLUMN c TYPE numeric(12,4);", fits: ["99999999.99", "-0.01"], compare: "numeric", expect: { rewrite: true, narrowing: false } },
    { name: "numeric scale down", old: "numeric(10,4)", alter: "ALTER TABLE t ALTER COLUMN c TYPE numeric(10,2);", fits: ["1.2500"], misfit: { value: "1.2345", effect: "changes" }, compare: "numeric", expect: { rewrite: true, narrowing: true } },
    { name: "numeric typmod removed (the issue's statement)", old: "NUMERIC(30,10)", alter: "ALTER TABLE t ALTER COLUMN c TYPE NUMERIC USING c::NUMERIC;", fits: ["99999999999999999999.9999999999", "-0.0000000001"], compare: "numeric", expect: { rewrite: false, narrowing: false } },
    { name: "numeric typmod added", old: "numeric", alter: "ALTER TABLE t ALTER COLUMN c TYPE numeric(12,4);", fits: ["1.5"], misfit: { value: "1.23456", effect: "changes" }, compare: "numeric", expect: { rewrite: true, narrowing: true } },
    { name: "varchar length up", old: "varchar(10)", alter: "ALTER TABLE t ALTER COLUMN c TYPE varchar(20);", fits: ["abcdefghij"], compare: "text", expect: { rewrite: false, narrowing: false } },
    { name: "varchar length down", old: "varchar(10)", alter: "ALTER TABLE t ALTER COLUMN c TYPE varchar(5);", fits: ["abcde"], misfit: { value: "abcdefghij", effect: "fails" }, compare: "text", expect: { rewrite: true, narrowing: true } },
    { name: "varchar length down by an explicit cast in USING", old: "varchar(10)", alter: "ALTER TABLE t ALTER COLUMN c TYPE varchar(5) USING c::varchar(5);", fits: ["abcde"], misfit: { value: "abcdefghij", effect: "changes" }, compare: "text", expect: { rewrite: true, narrowing: true } },
    { name: "varchar length removed", old: "varchar(10)", alter: "ALTER TABLE t ALTER COLUMN c TYPE varchar;", fits: ["abcdefghij"], compare: "text", expect: { rewrite: false, narrowing: false } },
    { name: "varchar → text", old: "varchar(10)", alter: "ALTER TABLE t ALTER COLUMN c TYPE text;", fits: ["abcdefghij"], compare: "text", expect: { rewrite: false, narrowing: false } },
    { name: "text → varchar(n)", old: "text", alter: "ALTER TABLE t ALTER COLUMN c TYPE varchar(5);", fits: ["abcde"], misfit: { value: "abcdefghij", effect: "fails" }, compare: "text", expect: { rewrite: true, narrowing: true } },
    { name: "varchar length up through USING c::text (text has no length to compare)", old: "varchar(10)", alter: "ALTER TABLE t ALTER COLUMN c TYPE varchar(20) USING c::text;", fits: ["abcdefghij"], compare: "text", expect: { rewrite: true, narrowing: false } },
    { name: "int → bigint", old: "int", alter: "ALTER TABLE t ALTER COLUMN c TYPE bigint;", fits: ["2147483647", "-2147483648"], compare: "numeric", expect: { rewrite: true, narrowing: false } },
    { name: "smallint → int", old: "smallint", alter: "ALTER TABLE t ALTER COLUMN c TYPE int;", fits: ["32767", "-32768"], compare: "numeric", expect: { rewrite: true, narrowing: false } },
    { name: "bigint → int", old: "bigint", alter: "ALTER TABLE t ALTER COLUMN c TYPE int;", fits: ["2147483647"], misfit: { value: "2147483648", effect: "fails" }, compare: "numeric", expect: { rewrite: true, narrowing: true } },
    { name: "int → text", old: "integer", alter: "ALTER TABLE t ALTER COLUMN c TYPE text;", fits: ["-2147483648"], compare: "text", expect: { rewrite: true, narrowing: false } },
    { name: "text → int", old: "text", alter: "ALTER TABLE t ALTER COLUMN c TYPE int USING c::int;", fits: ["42"], misfit: { value: "forty-two", effect: "fails" }, compare: "text", expect: { rewrite: true, narrowing: true } },
    { name: "int4 → integer (the same type restated)", old: "int4", alter: "ALTER TABLE t ALTER COLUMN c TYPE integer;", fits: ["2147483647"], compare: "numeric", expect: { rewrite: false, narrowing: false } },
    {
        name: "timestamp → timestamptz, the file sets TimeZone UTC (server session Europe/Berlin)",
        old: "timestamp",
        alter: "SET LOCAL TIME ZONE 'UTC';\nALTER TABLE t ALTER COLUMN c TYPE timestamptz;",
        session: "Europe/Berlin",
        fits: ["2026-03-29 02:30:00", "2026-07-01 12:00:00.123456"],
        compare: "timestamp",
        expect: { rewrite: false, narrowing: false },
    },
    {
        name: "timestamp → timestamptz, the file does not set TimeZone",
        old: "timestamp",
        alter: "ALTER TABLE t ALTER COLUMN c TYPE timestamptz;",
        // 02:30 on 2026-03-29 does not exist in Berlin (DST gap): read as local time it moves.
        fits: ["2026-03-29 02:30:00"],
        compare: "timestamp",
        expect: { rewrite: "unknown", narrowing: "unknown" },
        variants: [
            { label: "session TimeZone Etc/UTC", old: "timestamp", session: "Etc/UTC" },
            { label: "session TimeZone Europe/Berlin", old: "timestamp", session: "Europe/Berlin" },
        ],
    },
    { name: "timestamp precision up", old: "timestamp(3)", alter: "ALTER TABLE t ALTER COLUMN c TYPE timestamp(6);", fits: ["2026-01-01 12:00:00.123"], compare: "timestamp", expect: { rewrite: false, narrowing: false } },
    { name: "timestamp precision down", old: "timestamp", alter: "ALTER TABLE t ALTER COLUMN c TYPE timestamp(0);", fits: ["2026-01-01 12:00:00"], misfit: { value: "2026-01-01 12:00:00.75", effect: "changes" }, compare: "timestamp", expect: { rewrite: true, narrowing: true } },
    { name: "a USING that changes values", old: "numeric(10,2)", alter: "ALTER TABLE t ALTER COLUMN c TYPE numeric(12,2) USING c * 100;", fits: ["1.25"], misfit: { value: "2.50", effect: "changes" }, compare: "numeric", expect: { rewrite: true, narrowing: true } },
    { name: "a domain over the same type", prelude: "CREATE DOMAIN price_d AS numeric(30,10);", old: "numeric(30,10)", alter: "ALTER TABLE t ALTER COLUMN c TYPE price_d;", fits: ["99999999999999999999.9999999999"], compare: "numeric", expect: { rewrite: false, narrowing: false } },
    { name: "a domain over a relaxed type", prelude: "CREATE DOMAIN amount_d AS numeric;", old: "numeric(30,10)", alter: "ALTER TABLE t ALTER COLUMN c TYPE amount_d;", fits: ["99999999999999999999.9999999999"], compare: "numeric", expect: { rewrite: false, narrowing: false } },
    { name: "a domain with a CHECK over the same type", prelude: "CREATE DOMAIN positive_d AS numeric(30,10) CHECK (VALUE > 0);", old: "numeric(30,10)", alter: "ALTER TABLE t ALTER COLUMN c TYPE positive_d;", fits: ["1"], misfit: { value: "-1", effect: "fails" }, compare: "numeric", expect: { rewrite: true, narrowing: true } },
    // A domain column's typmod is -1: the cast to numeric(30,10) cannot see that the values already fit.
    { name: "a domain back to its base type, typmod restated", prelude: "CREATE DOMAIN positive_d AS numeric(30,10) CHECK (VALUE > 0);", old: "positive_d", alter: "ALTER TABLE t ALTER COLUMN c TYPE numeric(30,10);", fits: ["99999999999999999999.9999999999"], compare: "numeric", expect: { rewrite: true, narrowing: false } },
    { name: "a domain back to its base type without typmod", prelude: "CREATE DOMAIN positive_d AS numeric(30,10) CHECK (VALUE > 0);", old: "positive_d", alter: "ALTER TABLE t ALTER COLUMN c TYPE numeric;", fits: ["99999999999999999999.9999999999"], compare: "numeric", expect: { rewrite: false, narrowing: false } },
    { name: "one domain to another over the same type", prelude: "CREATE DOMAIN price_d AS numeric(30,10);\nCREATE DOMAIN cost_d AS numeric(30,10);", old: "price_d", alter: "ALTER TABLE t ALTER COLUMN c TYPE cost_d;", fits: ["99999999999999999999.9999999999"], compare: "numeric", expect: { rewrite: true, narrowing: false } },
    {
        name: "a column the files do not declare (created before the first file)",
        old: "numeric(30,10)",
        undeclared: true,
        alter: "ALTER TABLE t ALTER COLUMN c TYPE numeric;",
        fits: ["1"],
        compare: "numeric",
        expect: { rewrite: "unknown", narrowing: "unknown" },
        variants: [
            { label: "column was numeric(30,10)", old: "numeric(30,10)" },
            { label: "column was integer", old: "integer" },
            { label: "column was text", old: "text", values: ["n/a"], compare: "text" },
        ],
    },
];

describe("type-change lint against PostgreSQL's own behaviour (pg_relation_filenode before and after)", function () {
    this.timeout(120_000);
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    before(async () => {
        db = await freshDatabase("lint_types");
    });
    after(async () => {
        await db?.drop();
    });

    for (const [i, c] of CASES.entries()) {
        it(`${c.name}: ${verdictText(c.expect)}`, async () => {
            const verdict = await lintVerdict(c);
            assert.equal(verdict.rewrite, c.expect.rewrite, `lint rewrite: ${verdict.because}`);
            assert.equal(verdict.narrowing, c.expect.narrowing, `lint narrowing: ${verdict.because}`);

            if (c.variants) {
                // The files cannot tell these situations apart, and PostgreSQL treats them differently.
                const outcomes: { label: string; rewrote?: boolean; narrowed: boolean }[] = [];
                for (const [j, v] of c.variants.entries()) {
                    const o = await applyOnServer(db.url, `c${i}v${j}`, { ...c, old: v.old, session: v.session, compare: v.compare ?? c.compare }, v.values ?? c.fits);
                    outcomes.push({ label: v.label, rewrote: o.rewrote, narrowed: o.error !== undefined || o.changed > 0 });
                }
                const seen = (key: "rewrote" | "narrowed") => new Set(outcomes.filter((o) => o[key] !== undefined).map((o) => o[key]));
                assert.deepEqual(seen("rewrote"), new Set([true, false]), `variants: ${JSON.stringify(outcomes)}`);
                if (c.expect.narrowing === "unknown") assert.deepEqual(seen("narrowed"), new Set([true, false]), `variants: ${JSON.stringify(outcomes)}`);
                return;
            }

            const kept = await applyOnServer(db.url, `c${i}`, c, c.fits);
            assert.equal(kept.error, undefined, `the ALTER failed on rows that fit: ${kept.error}`);
            assert.equal(kept.rewrote, c.expect.rewrite, `PostgreSQL ${kept.rewrote ? "rewrote" : "did not rewrite"} the table`);
            if (!c.misfit) {
                assert.equal(c.expect.narrowing, false, "a narrowing case needs a misfit row");
                assert.equal(kept.changed, 0, "rows at the old type's limits came out changed");
                return;
            }
            assert.equal(c.expect.narrowing, true, "a misfit row only makes sense for a narrowing case");
            const misfit = await applyOnServer(db.url, `c${i}m`, c, [...c.fits, c.misfit.value]);
            const effect = misfit.error ? "fails" : misfit.changed > 0 ? "changes" : "neither";
            assert.equal(effect, c.misfit.effect, `PostgreSQL on the misfit row: ${misfit.error ?? `${misfit.changed} changed`}`);
            assert.ok(verdict.misfit === "fails or changes" || verdict.misfit === c.misfit.effect, `lint says a misfit row ${verdict.misfit}`);
        });
    }

    it("the lint reads the declaration through renames and earlier ALTER TYPEs, and warns (not blocks) on a relaxation", async () => {
        const dir = migrationDir({
            "001_trades.sql": "CREATE TABLE trade (id int, amount numeric(12,2));\n",
            "002_rename.sql": "ALTER TABLE trade RENAME TO trades;\nALTER TABLE trades RENAME COLUMN amount TO price;\nALTER TABLE trades ALTER COLUMN price TYPE numeric(30,10);\n",
            "003_relax.sql": "ALTER TABLE trades ALTER COLUMN price TYPE NUMERIC USING price::NUMERIC;\n",
        });
        const files = readMigrationDir(dir);
        const findings = await lintMigrations(files.slice(2));
        assert.deepEqual(
            findings.map((f) => [f.file, f.line, f.operation, f.destructive]),
            [["003_relax.sql", 1, "ALTER COLUMN trades.price TYPE numeric", false]],
        );
        assert.match(findings[0].risk, /^no table rewrite \(numeric\(30,10\) → numeric drops the typmod: every old value fits\); still takes an ACCESS EXCLUSIVE lock on trades/);
    });
    it("every zone name the lint takes for UTC spares timestamp → timestamptz the rewrite; another zone does not", async () => {
        const zones = [...UTC_ZONE_NAMES, "Europe/London"];
        for (const [i, zone] of zones.entries()) {
            const c = CASES.find((k) => k.name.startsWith("timestamp → timestamptz, the file sets"))!;
            const withZone: Case = { ...c, alter: `SET LOCAL TIME ZONE '${zone}';\nALTER TABLE t ALTER COLUMN c TYPE timestamptz;`, expect: isUtcZone(zone) ? c.expect : { rewrite: "unknown", narrowing: "unknown" } };
            assert.equal((await lintVerdict(withZone)).rewrite, isUtcZone(zone) ? false : "unknown", zone);
            const server = await applyOnServer(db.url, `z${i}`, withZone, c.fits);
            assert.equal(server.rewrote, !isUtcZone(zone), `${zone}: PostgreSQL ${server.rewrote ? "rewrote" : "did not rewrite"}`);
        }
    });

    it("learns from the statements before it in the same file; a SET LOCAL in a file that may run outside a transaction does not count", async () => {
        const dir = migrationDir({
            "001_events.sql": "CREATE TABLE events (id int);\n",
            "002_label.sql": "ALTER TABLE events ADD COLUMN label varchar(20), ADD COLUMN at timestamp;\nALTER TABLE events ALTER COLUMN label TYPE varchar(40);\nSET LOCAL TIME ZONE 'UTC';\nALTER TABLE events ALTER COLUMN at TYPE timestamptz;\n",
            "003_back.sql": "-- gatehouse:no-transaction\nSET LOCAL TIME ZONE 'UTC';\nALTER TABLE events ALTER COLUMN at TYPE timestamp;\n",
        });
        const files = readMigrationDir(dir);
        const findings = await lintMigrations(files.slice(1));
        assert.deepEqual(
            findings.map((f) => [f.file, f.line, f.operation, f.destructive, f.typeChange?.rewrite]),
            [
                ["002_label.sql", 2, "ALTER COLUMN events.label TYPE varchar(40)", false, false],
                ["002_label.sql", 4, "ALTER COLUMN events.at TYPE timestamptz", false, false],
                ["003_back.sql", 3, "ALTER COLUMN events.at TYPE timestamp", true, "unknown"],
            ],
        );
        assert.match(findings[2].risk, /rewrites unless the session TimeZone is UTC, which the file does not establish/);
    });
});

function verdictText(e: Case["expect"]): string {
    const say = (v: Tristate, yes: string, no: string) => (v === "unknown" ? `${yes}?` : v ? yes : no);
    return `${say(e.rewrite, "rewrite", "no rewrite")}, ${say(e.narrowing, "narrowing", "no narrowing")}`;
}

/** The lint's verdict on the case's ALTER, with the earlier file as history. */
async function lintVerdict(c: Case): Promise<TypeChangeVerdict> {
    const dir = migrationDir({
        "001_earlier.sql": c.undeclared ? "-- the table was created before this history starts\n" : declaration(c),
        "002_alter.sql": c.alter + "\n",
    });
    const files = readMigrationDir(dir);
    const findings = await lintMigrations(files.filter((f) => f.file === "002_alter.sql"));
    const typeChanges = findings.filter((f) => f.typeChange);
    assert.equal(typeChanges.length, 1, JSON.stringify(findings));
    assert.equal(typeChanges[0].destructive, c.expect.rewrite !== false || c.expect.narrowing !== false, "blocking unless neither rewrite nor narrowing");
    assert.equal(path.basename(typeChanges[0].file), "002_alter.sql");
    return typeChanges[0].typeChange!;
}

function declaration(c: Pick<Case, "prelude" | "old">): string {
    return `${c.prelude ? `${c.prelude}\n` : ""}CREATE TABLE t (id int PRIMARY KEY, c ${c.old});\n`;
}

/**
 * Runs the case's two files as the runner does (the pending one in a
 * transaction) in a schema of its own, with these rows. Returns whether the
 * table got a new relfilenode, how many rows changed value, or the error.
 */
async function applyOnServer(url: string, schema: string, c: Case, values: string[]): Promise<{ rewrote?: boolean; changed: number; error?: string }> {
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
        await client.query(`CREATE SCHEMA ${schema}; SET search_path TO ${schema}`);
        if (c.session) await client.query(`SET TIME ZONE '${c.session}'`);
        await client.query(declaration(c));
        for (const [i, v] of values.entries()) await client.query("INSERT INTO t (id, c) VALUES ($1, $2)", [i + 1, v]);
        await client.query(`CREATE TABLE before AS SELECT id, c::${c.compare} AS v FROM t`);
        const node = async () => (await client.query("SELECT pg_relation_filenode('t') AS n")).rows[0].n;
        const filenode = await node();
        try {
            await client.query(`BEGIN;\n${c.alter}`);
        } catch (err: any) {
            await client.query("ROLLBACK");
            return { changed: 0, error: err.message };
        }
        // Compared before COMMIT: under the TimeZone the file set (SET LOCAL), the one the conversion used.
        const changed = (await client.query(`SELECT count(*)::int AS n FROM before b JOIN t USING (id) WHERE b.v IS DISTINCT FROM t.c::${c.compare}`)).rows[0].n;
        await client.query("COMMIT");
        return { rewrote: (await node()) !== filenode, changed };
    } finally {
        await client.end();
    }
}
