// Judges `ALTER TABLE … ALTER COLUMN … TYPE …` by PostgreSQL's own rules, from
// the migration files alone (the lint never sees the database).
//
// The rule, from the Notes of the ALTER TABLE reference page (PostgreSQL 15):
//   "Adding a column with a volatile DEFAULT or changing the type of an existing
//    column will require the entire table and its indexes to be rewritten. As an
//    exception, when changing the type of an existing column, if the USING clause
//    does not change the column contents and the old type is either binary
//    coercible to the new type or an unconstrained domain over the new type, a
//    table rewrite is not needed."
// The server decides it in tablecmds.c (ATColumnChangeRequiresRewrite) after
// planning the conversion expression: a binary-coercible cast is a relabel, and
// the length-coercion functions of varchar, numeric and timestamp(tz) fold away
// when the new typmod admits every old value (their planner support functions),
// so those typmod relaxations do not rewrite either. timestamp <-> timestamptz
// does not rewrite when the session TimeZone is UTC (PostgreSQL 12+). Every rule
// below is measured against a real server in tests/lintTypeChange.test.ts.
//
// What the lint cannot know (a column declared before the first file, a type it
// has no rule for, the session TimeZone) it reports as "unknown", which blocks
// like a rewrite: a person has to look.

/** A column type reduced to what the rewrite rules look at. */
export interface ColumnType {
    /** Canonical name (`int4`, `numeric`, `varchar`, `timestamptz`, …) or a user type's own name. */
    name: string;
    /** Type modifiers as written: numeric(30,10) → [30, 10]; empty when unconstrained. */
    typmods: number[];
    array: boolean;
}

export interface Domain {
    base: ColumnType;
    /** Has a CHECK or NOT NULL constraint: PostgreSQL 15 then checks every row by rewriting. */
    constrained: boolean;
}

/** "unknown": the migration files do not say; blocks like `true`. */
export type Tristate = boolean | "unknown";

export interface TypeChangeVerdict {
    /** The type before the statement, as declared in the files; undefined when they do not declare it. */
    from?: string;
    to: string;
    rewrite: Tristate;
    /** Can fail on, or change, existing rows (narrowing, rounding, a USING that computes new values). */
    narrowing: Tristate;
    /** What happens to a row that does not fit, when narrowing. */
    misfit?: "fails" | "changes" | "fails or changes";
    /** Why, in a reviewer's words. */
    because: string;
}

export interface TypeContext {
    domains: Map<string, Domain>;
    /** The session TimeZone the file sets before the statement: "utc", or undefined when it does not say. */
    timeZone?: "utc";
}

const ALIASES: Record<string, string> = {
    int: "int4", integer: "int4", serial: "int4", serial4: "int4",
    smallint: "int2", smallserial: "int2", serial2: "int2",
    bigint: "int8", bigserial: "int8", serial8: "int8",
    decimal: "numeric", boolean: "bool", real: "float4",
};

// Built-in types whose casts the lint knows: between two different ones of these
// PostgreSQL runs a cast function or I/O conversion (a rewrite), except for the
// binary-coercible pair text <-> varchar (pg_cast.castmethod = 'b') and
// timestamp <-> timestamptz (see timestampStep).
const KNOWN = new Set(["int2", "int4", "int8", "numeric", "float4", "float8", "text", "varchar", "bool", "date", "timestamp", "timestamptz", "uuid", "json", "jsonb", "bytea"]);
const INTEGER_DIGITS: Record<string, number> = { int2: 5, int4: 10, int8: 19 };
const STRINGS = new Set(["text", "varchar"]);
/** Zone names PostgreSQL resolves to a fixed zero offset: no rewrite for timestamp <-> timestamptz. */
export const UTC_ZONE_NAMES = ["UTC", "Etc/UTC", "GMT", "Etc/GMT", "UCT", "Etc/UCT", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu", "GMT0", "Etc/GMT0"];
const UTC_ZONES = new Set(UTC_ZONE_NAMES.map((z) => z.toLowerCase()));

/** A parse tree's TypeName as a ColumnType, or undefined when its modifiers are not constants. */
export function columnType(typeName: any): ColumnType | undefined {
    const names: string[] = (typeName?.names ?? []).map((n: any) => n.String?.sval);
    const raw = names[names.length - 1]?.toLowerCase();
    if (!raw) return undefined;
    const typmods: number[] = [];
    for (const m of typeName.typmods ?? []) {
        if (!m.A_Const || !("ival" in m.A_Const)) return undefined;
        typmods.push(m.A_Const.ival.ival ?? 0); // protobuf leaves 0 out
    }
    return { name: ALIASES[raw] ?? raw, typmods, array: (typeName.arrayBounds ?? []).length > 0 };
}

/** numeric(10,2), varchar(20), integer[], … as a reviewer writes them. */
export function typeText(t: ColumnType): string {
    const shown: Record<string, string> = { int2: "smallint", int4: "integer", int8: "bigint", float4: "real", float8: "double precision", bool: "boolean" };
    return `${shown[t.name] ?? t.name}${t.typmods.length ? `(${t.typmods.join(",")})` : ""}${t.array ? "[]" : ""}`;
}

/** Whether a `SET [LOCAL] TIME ZONE` value names UTC. */
export function isUtcZone(value: string): boolean {
    return UTC_ZONES.has(value.toLowerCase());
}

/**
 * The verdict on one ALTER COLUMN TYPE: `from` is what the files declared
 * (undefined: not declared), `using` the USING expression's parse tree.
 */
export function judgeTypeChange(column: string, from: ColumnType | undefined, to: ColumnType, using: any, ctx: TypeContext): TypeChangeVerdict {
    const shown = { from: from && typeText(from), to: typeText(to) };
    const chain = using === undefined ? [] : castChain(using, column);
    if (chain === undefined) {
        // Anything but the column itself (through casts) is computed per row: PostgreSQL always rewrites.
        return { ...shown, rewrite: true, narrowing: true, misfit: "changes", because: "the USING expression computes a new value for every row" };
    }
    if (!from) {
        // No target type is safe from every source: `numeric` keeps numeric(30,10) in place but
        // rewrites an integer column; `text` keeps varchar but rewrites integer. So: unknown.
        return { ...shown, rewrite: "unknown", narrowing: "unknown", because: "the migration files do not declare the column's type before this statement (created before the first file, or by a statement the lint does not follow)" };
    }
    // The conversion is the USING casts in order, then the implicit (assignment) cast to the new type.
    // Whether a step rewrites depends on the expression's type so far; whether it can fail on a row
    // depends on the tightest type every value is known to fit (varchar(10)::text::varchar(20)
    // rewrites, since text has no length to compare, yet no value is too long).
    const steps = [...chain, { type: to, explicit: false }];
    let expr = from;
    let bound = from;
    const parts: Step[] = [];
    // A value of a domain type has the domain's base type, but no typmod as far as a cast can see
    // (the column's atttypmod is -1): domain numeric(30,10) → numeric(30,10) rewrites. Its values
    // do fit the base type's typmod, so narrowing is judged against that.
    const asExpr = (t: ColumnType) => (ctx.domains.has(t.name) ? { ...ctx.domains.get(t.name)!.base, typmods: [] } : t);
    const asBound = (t: ColumnType) => ctx.domains.get(t.name)?.base ?? t;
    for (const s of steps) {
        if (sameType(expr, s.type)) continue; // PostgreSQL adds no conversion at all
        const r = convert(asExpr(expr), s.type, s.explicit, ctx);
        const n = convert(asBound(bound), s.type, s.explicit, ctx);
        parts.push({ rewrite: r.rewrite, because: r.because, narrowing: n.narrowing, misfit: n.misfit, loss: n.loss });
        if (n.narrowing !== false) bound = s.type;
        expr = s.type;
    }
    return { ...shown, ...(parts.length ? combine(parts) : none(`the column is already ${typeText(to)}`)) };
}

interface Step {
    rewrite: Tristate;
    /** Why it rewrites or not. */
    because: string;
    narrowing: Tristate;
    misfit?: TypeChangeVerdict["misfit"];
    /** What it does to rows that do not fit, when narrowing. */
    loss?: string;
}

/** The casts a USING expression applies to the column, innermost first; undefined when it computes anything else. */
function castChain(expr: any, column: string): { type: ColumnType; explicit: boolean }[] | undefined {
    if (expr.ColumnRef) {
        const fields = expr.ColumnRef.fields.map((f: any) => f.String?.sval);
        return fields[fields.length - 1] === column ? [] : undefined;
    }
    if (expr.TypeCast) {
        const inner = castChain(expr.TypeCast.arg, column);
        const type = columnType(expr.TypeCast.typeName);
        return inner && type ? [...inner, { type, explicit: true }] : undefined;
    }
    return undefined;
}

function combine(parts: Step[]): Omit<TypeChangeVerdict, "from" | "to"> {
    const or = (xs: Tristate[]): Tristate => (xs.includes(true) ? true : xs.includes("unknown") ? "unknown" : false);
    const unique = <T>(xs: (T | undefined)[]) => [...new Set(xs.filter((x): x is T => x !== undefined))];
    const rewrite = or(parts.map((p) => p.rewrite));
    const narrowing = or(parts.map((p) => p.narrowing));
    const misfits = unique(parts.map((p) => p.misfit));
    const misfit = misfits.length === 0 ? undefined : misfits.length === 1 ? misfits[0] : "fails or changes";
    const because = [unique(parts.map((p) => p.because)).join("; then "), ...unique(parts.map((p) => p.loss))].join("; ");
    return { rewrite, narrowing, ...(narrowing !== false && misfit ? { misfit } : {}), because };
}

const none = (because: string): Step => ({ rewrite: false, because, narrowing: false });
const unknown = (because: string): Step => ({ rewrite: "unknown", because, narrowing: "unknown" });

/** One conversion from → to (explicit: a cast in USING; else the assignment cast ALTER applies); `from` is never a domain. */
function convert(from: ColumnType, to: ColumnType, explicit: boolean, ctx: TypeContext): Step {
    if (sameType(from, to)) return none(`${typeText(from)} is already ${typeText(to)}`);
    const domain = ctx.domains.get(to.name);
    if (domain) {
        const toBase = convert(from, domain.base, explicit, ctx);
        if (!domain.constrained) return { ...toBase, because: `${to.name} is an unconstrained domain over ${typeText(domain.base)}: ${toBase.because}` };
        return {
            rewrite: true,
            because: `${to.name} is a domain with constraints: PostgreSQL 15 rewrites the table to check every row`,
            narrowing: true,
            misfit: "fails",
            loss: "a row that violates the domain's constraints fails the statement",
        };
    }
    if (from.array || to.array) return unknown(`no rule for ${typeText(from)} → ${typeText(to)} (arrays)`);
    if (STRINGS.has(from.name) && STRINGS.has(to.name)) return stringStep(from, to, explicit);
    if (from.name === "numeric" && to.name === "numeric") return numericStep(from, to);
    if (isTimestamp(from) && isTimestamp(to)) return timestampStep(from, to, ctx);
    if (!KNOWN.has(from.name) || !KNOWN.has(to.name) || from.name === to.name) return unknown(`no rule for ${typeText(from)} → ${typeText(to)}`);
    return { rewrite: true, because: `${typeText(from)} → ${typeText(to)} is not binary coercible: every row is converted`, ...lossOfCast(from, to) };
}

function sameType(a: ColumnType, b: ColumnType): boolean {
    return a.name === b.name && a.array === b.array && a.typmods.join(",") === b.typmods.join(",");
}

/** text and varchar are binary coercible; varchar(n) folds away when n admits every old value. */
function stringStep(from: ColumnType, to: ColumnType, explicit: boolean): Step {
    const limit = (t: ColumnType) => (t.name === "varchar" && t.typmods.length ? t.typmods[0] : Infinity);
    if (limit(to) >= limit(from)) return none(`${typeText(from)} → ${typeText(to)} is binary coercible and admits every old value`);
    return {
        rewrite: true,
        because: `${typeText(from)} → ${typeText(to)} checks every row's length`,
        narrowing: true,
        misfit: explicit ? "changes" : "fails",
        loss: explicit ? `the explicit cast silently truncates values longer than ${limit(to)}` : `a value longer than ${limit(to)} fails the statement`,
    };
}

/** numeric(p,s): a larger precision at the same scale, or dropping the typmod, folds away. */
function numericStep(from: ColumnType, to: ColumnType): Step {
    if (to.typmods.length === 0) return none(`${typeText(from)} → numeric drops the typmod: every old value fits`);
    const [p2, s2 = 0] = to.typmods;
    const unconstrained = from.typmods.length === 0;
    const [p1, s1 = 0] = from.typmods;
    if (!unconstrained && s2 === s1 && p2 >= p1) return none(`${typeText(from)} → ${typeText(to)} raises the precision at the same scale: every old value fits`);
    const rounds = unconstrained || s2 < s1;
    const overflows = unconstrained || p2 - s2 < p1 - s1;
    const misfit = rounds && overflows ? "fails or changes" : rounds ? "changes" : overflows ? "fails" : undefined;
    const losses = [rounds && `rounds values to ${s2} decimal place(s)`, overflows && `fails on values with more than ${p2 - s2} integer digit(s)`].filter(Boolean);
    return {
        rewrite: true,
        because: `${typeText(from)} → ${typeText(to)} ${from.typmods.length === 0 ? "adds a typmod" : s2 !== s1 ? "changes the scale" : "lowers the precision"}: every row is converted`,
        narrowing: misfit !== undefined,
        ...(misfit ? { misfit, loss: `it ${losses.join(" and ")}` } : {}),
    };
}

function isTimestamp(t: ColumnType): boolean {
    return t.name === "timestamp" || t.name === "timestamptz";
}

/**
 * timestamp(p) precision: a larger (or no) precision folds away; a smaller one
 * rounds. Between timestamp and timestamptz, PostgreSQL 12+ skips the rewrite
 * only when the session TimeZone is UTC: the lint knows that only when the file
 * sets it before the statement.
 */
function timestampStep(from: ColumnType, to: ColumnType, ctx: TypeContext): Step {
    const precision = (t: ColumnType) => (t.typmods.length ? Math.min(t.typmods[0], 6) : 6);
    const rounding: Partial<Step> =
        precision(to) < precision(from) ? { rewrite: true, narrowing: true, misfit: "changes", loss: `it rounds every value to ${precision(to)} fractional digit(s)` } : {};
    if (from.name === to.name) {
        return rounding.rewrite ? { ...(rounding as Step), because: `${typeText(from)} → ${typeText(to)} lowers the precision: every row is converted` } : none(`${typeText(from)} → ${typeText(to)} keeps every fractional digit`);
    }
    if (ctx.timeZone !== "utc") {
        return {
            rewrite: "unknown",
            because: `${from.name} → ${to.name} rewrites unless the session TimeZone is UTC, which the file does not establish (SET LOCAL TIME ZONE 'UTC' before the statement, in a file that runs in one transaction)`,
            narrowing: "unknown",
            misfit: "changes",
            loss: "outside UTC every value is reinterpreted as local time, and times in a DST gap shift",
        };
    }
    const zone = `${from.name} → ${to.name} under TimeZone UTC (set in this file) is binary`;
    return rounding.rewrite ? { ...(rounding as Step), because: `${zone}, but the precision drops: every row is converted` } : none(`${zone} and keeps every value`);
}

/** Whether a conversion between two different known types can fail on, or change, existing values. */
function lossOfCast(from: ColumnType, to: ColumnType): Pick<Step, "narrowing" | "misfit" | "loss"> {
    const fromDigits = INTEGER_DIGITS[from.name];
    const toDigits = INTEGER_DIGITS[to.name];
    if (fromDigits && toDigits) {
        return toDigits >= fromDigits ? { narrowing: false } : { narrowing: true, misfit: "fails", loss: `a value outside the range of ${typeText(to)} fails the statement` };
    }
    if (fromDigits && to.name === "numeric" && to.typmods.length === 0) return { narrowing: false };
    if ((fromDigits || from.name === "numeric") && STRINGS.has(to.name) && to.typmods.length === 0) return { narrowing: false };
    if (STRINGS.has(from.name) && !STRINGS.has(to.name)) return { narrowing: true, misfit: "fails", loss: `a value that does not parse as ${typeText(to)} fails the statement` };
    return { narrowing: "unknown", loss: `the lint has no rule for whether ${typeText(from)} → ${typeText(to)} can fail` };
}
