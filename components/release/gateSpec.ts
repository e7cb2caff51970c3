import { z } from "zod";
import { conditionHolds } from "./gateConditions";
import { MATCHERS, matcherOf } from "./gateExpect";
import { isIdempotent } from "./gate";
import { Condition, GateSpec, ParsedGateCheck, ParsedGateSpec, gateSpecSchema } from "./gateSchema";
import { GATE_BUILTINS, varChoices, variablesIn } from "./gateVars";
import { jsonPathTokens } from "./jsonPath";
import { readYamlFile } from "./yamlFile";

// Reading a spec file: its shape by the schema (gateSchema.ts), then the rules
// a schema cannot say, every problem in one error naming the file.

/**
 * Reads and checks a gate spec: its shape (unknown keys refused), its JSON
 * paths and matchers, its conditions, and that every ${variable} is known by
 * the time its check runs. Mistakes show up in `pulumi preview`, not halfway
 * through a release.
 */
export function readGateSpec(file: string): GateSpec {
    const doc = readYamlFile(file, z.unknown(), "gate spec");
    const parsed = gateSpecSchema.safeParse(doc);
    const problems = parsed.success ? checkSpec(parsed.data) : parsed.error.issues.map(describeIssue);
    if (problems.length > 0) throw new Error(`${file}: not a valid gate spec:\n  ${problems.join("\n  ")}`);
    return parsed.data as GateSpec;
}

function describeIssue(issue: z.core.$ZodIssue): string {
    const where = issue.path.reduce<string>((acc, p) => (typeof p === "number" ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), "");
    if (issue.code === "unrecognized_keys") {
        return issue.keys.map((k) => `${where ? `${where}.` : ""}${k}: unknown key`).join("\n  ");
    }
    return `${where || "(top)"}: ${issue.message}`;
}

/** The rules a schema cannot say. */
function checkSpec(spec: ParsedGateSpec): string[] {
    const problems: string[] = [];
    const conditionNames = new Set(Object.keys(spec.conditions ?? {}));
    const knownCondition = (where: string, c: Condition | undefined) => {
        for (const ref of conditionRefs(c)) if (!conditionNames.has(ref)) problems.push(`${where}: unknown condition ${ref} (conditions: ${[...conditionNames].join(", ") || "none"})`);
    };
    for (const [n, c] of Object.entries(spec.conditions ?? {})) {
        knownCondition(`conditions.${n}`, c);
        try {
            conditionHolds({ conditions: spec.conditions }, n);
        } catch (err: any) {
            if (/refers to itself/.test(err.message)) problems.push(`conditions.${n}: ${err.message}`);
        }
    }

    const known = new Set<string>(GATE_BUILTINS);
    const used = (where: string, value: unknown) => {
        for (const v of variablesIn(value)) if (!known.has(v)) problems.push(`${where}: \${${v}} is not a built-in, a var, or captured by an earlier check`);
    };
    for (const [n, def] of Object.entries(spec.vars ?? {})) {
        varChoices(def).forEach((c, i) => {
            knownCondition(`vars.${n}`, c.when);
            used(Array.isArray(def) ? `vars.${n}[${i}]` : `vars.${n}`, c.value);
        });
        // A var one of whose alternatives is a capture is known only after its check, wherever it takes its value.
        if (!varChoices(def).some((c) => c.capture !== undefined)) known.add(n);
    }
    problems.push(...checkVarCaptures(spec));
    used("headers", spec.headers);

    const created: string[] = [];
    spec.checks.forEach((check, i) => {
        const where = `checks[${i}] (${check.name})`;
        knownCondition(`${where}.when`, check.when);
        used(`${where}.request`, check.request);
        used(`${where}.expect`, check.expect);
        // What a check creates may name what it captured (e.g. the new bubble's id).
        for (const n of Object.keys(check.capture ?? {})) known.add(n);
        used(`${where}.creates`, check.creates);
        used(`${where}.removes`, check.removes);
        problems.push(...checkPaths(where, check));
        problems.push(...checkOrdering(where, i, check));
        if (check.removes !== undefined && !created.includes(check.removes)) {
            problems.push(`${where}.removes: no earlier check creates ${JSON.stringify(check.removes)} (it must repeat that check's creates exactly)`);
        }
        if (check.creates !== undefined) created.push(check.creates);
    });
    return problems;
}

/**
 * A var and a capture of the same name must say so on both sides: a capture
 * alternative names a check that captures the var, and a check that captures
 * a var is named by one of its alternatives. Otherwise one would silently
 * shadow the other.
 */
function checkVarCaptures(spec: ParsedGateSpec): string[] {
    const problems: string[] = [];
    for (const [n, def] of Object.entries(spec.vars ?? {})) {
        varChoices(def).forEach((c, i) => {
            if (c.capture === undefined) return;
            const where = Array.isArray(def) ? `vars.${n}[${i}]` : `vars.${n}`;
            const check = spec.checks.find((k) => k.name === c.capture);
            if (check === undefined) problems.push(`${where}: capture names "${c.capture}", which is no check of this spec`);
            else if (!(n in (check.capture ?? {}))) problems.push(`${where}: capture names "${c.capture}", which does not capture ${n}`);
        });
    }
    spec.checks.forEach((check, i) => {
        for (const n of Object.keys(check.capture ?? {})) {
            const def = spec.vars?.[n];
            if (def === undefined || varChoices(def).some((c) => c.capture === check.name)) continue;
            problems.push(`checks[${i}] (${check.name}).capture.${n}: ${n} is a var, which the capture would silently replace: add { capture: ${JSON.stringify(check.name)} } to its alternatives, or capture under another name`);
        }
    });
    return problems;
}

function checkPaths(where: string, check: ParsedGateCheck): string[] {
    const problems: string[] = [];
    const valid = (path: string) => {
        try {
            jsonPathTokens(path);
            return true;
        } catch (err: any) {
            problems.push(`${where}: ${err.message}`);
            return false;
        }
    };
    for (const [path, want] of Object.entries(check.expect.json ?? {})) {
        if (!valid(path)) continue;
        const matcher = matcherOf(want);
        const bad = matcher ? badMatcher(matcher) : undefined;
        if (bad) problems.push(`${where}.expect.json["${path}"]: ${bad} (matchers: ${MATCHERS.join(", ")})`);
    }
    for (const [n, c] of Object.entries(check.capture ?? {})) {
        const path = typeof c === "string" ? c : c.path;
        if (valid(path) && path.includes("[*]")) problems.push(`${where}.capture.${n}: ${path} selects many values; a capture needs one`);
    }
    return problems;
}

const jsonType = z.enum(["string", "number", "boolean", "object", "array", "null"]);
const regex = z.string().refine((r) => {
    try {
        new RegExp(r);
        return true;
    } catch {
        return false;
    }
});

/** What each matcher takes, and what a spec is told when it gives something else. */
const MATCHER_ARGS = {
    present: [z.boolean(), "present takes true or false"],
    type: [z.union([jsonType, z.array(jsonType).min(1)]), "type is one of string, number, boolean, object, array, null, or a list of them (any matches)"],
    length: [z.number().int().min(0), "length takes a whole number"],
    minLength: [z.number().int().min(0), "minLength takes a whole number"],
    oneOf: [z.array(z.unknown()).min(1), "oneOf takes a non-empty list"],
    matches: [regex, "matches takes a regular expression as a string"],
    includes: [z.unknown(), ""],
} satisfies Record<(typeof MATCHERS)[number], [z.ZodType, string]>;

function badMatcher(m: { kind: (typeof MATCHERS)[number]; arg: unknown }): string | undefined {
    const [schema, problem] = MATCHER_ARGS[m.kind];
    if (schema.safeParse(m.arg).success) return undefined;
    if (m.kind === "matches" && typeof m.arg === "string") {
        try {
            new RegExp(m.arg);
        } catch (err: any) {
            return `matches: ${err.message}`;
        }
    }
    return problem;
}

/**
 * The gate waits for the app with idempotent checks; a non-idempotent one is
 * sent once, so the first check must be one that can wait (and always runs),
 * and a non-idempotent check cannot ask for repeats.
 */
function checkOrdering(where: string, i: number, check: ParsedGateCheck): string[] {
    const problems: string[] = [];
    const idempotent = isIdempotent(check);
    if (i === 0 && (!idempotent || check.when !== undefined || check.needs !== undefined || check.external)) {
        problems.push(`${where}: the first check must be idempotent and unconditional (e.g. GET /health): the gate waits for the app with it before anything is sent once`);
    }
    if (!idempotent && check.repeat > 1) {
        problems.push(`${where}: repeat ${check.repeat} on a non-idempotent ${check.request.method}: it is sent exactly once (set idempotent: true if a repeat is harmless)`);
    }
    return problems;
}

function conditionRefs(c: Condition | undefined): string[] {
    if (c === undefined) return [];
    if (typeof c === "string") return [c.replace(/^!/, "")];
    return [...conditionRefs(c.not), ...(c.anyOf ?? []).flatMap(conditionRefs), ...(c.allOf ?? []).flatMap(conditionRefs)];
}
