import { conditionHolds, runsHere } from "./gateConditions";
import type { GateSpec, VarChoice } from "./gateSchema";

/**
 * Variables every gate has: the release id, an id unique to each gate run (for
 * smoke data), its start time, and a calendar date unique to the minute it
 * started (runDate).
 */
export const GATE_BUILTINS = ["release", "run", "now", "runDate"] as const;

const DAY_MS = 86_400_000;
const FIRST_RUN_DATE = Date.UTC(2100, 0, 1);
const RUN_DATES = (Date.UTC(9999, 11, 31) - FIRST_RUN_DATE) / DAY_MS + 1;

/**
 * ${runDate}: YYYY-MM-DD, 2100-01-01 plus one day per minute since 2026-01-01,
 * so no two gate runs started in different minutes share it for five and a
 * half years (then it wraps). For an API that keeps one record per user and
 * date (routine's plans), with a smoke user that outlives the gate runs.
 */
export function runDate(startedMs: number): string {
    const minutes = Math.floor((startedMs - Date.UTC(2026, 0, 1)) / 60_000);
    const offset = ((minutes % RUN_DATES) + RUN_DATES) % RUN_DATES;
    return new Date(FIRST_RUN_DATE + offset * DAY_MS).toISOString().slice(0, 10);
}

const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Replaces ${name} with a variable; an unknown name is an error that names it. */
export function substitute(template: string, vars: Record<string, string>): string {
    return template.replace(VARIABLE, (_, name: string) => {
        if (!(name in vars)) throw new Error(`unknown variable \${${name}} (not captured by an earlier check)`);
        return vars[name];
    });
}

/** Like substitute, for a report: a ${name} nobody captured is named as missing instead of printed as a template. */
export function fillOrName(template: string, vars: Record<string, string>): string {
    return template.replace(VARIABLE, (_, name: string) => (name in vars ? vars[name] : `<${name}: not captured>`));
}

export function substituteDeep(value: unknown, vars: Record<string, string>): unknown {
    if (typeof value === "string") return substitute(value, vars);
    if (Array.isArray(value)) return value.map((v) => substituteDeep(v, vars));
    if (value && typeof value === "object") {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteDeep(v, vars)]));
    }
    return value;
}

/** The ${names} anything (strings, arrays, objects, nested) refers to. */
export function variablesIn(value: unknown): string[] {
    const text = typeof value === "string" ? value : JSON.stringify(value ?? "");
    return [...new Set([...text.matchAll(VARIABLE)].map((m) => m[1]))];
}

type SpecView = Pick<GateSpec, "conditions" | "stack" | "checks">;

export function varChoices(def: NonNullable<GateSpec["vars"]>[string]): VarChoice[] {
    return typeof def === "string" ? [{ value: def }] : Array.isArray(def) ? def : [def];
}

/** The alternative of a var that applies to this stack: the first whose `when` holds, or whose capturing check runs here. */
export function selectedVarChoice(spec: SpecView, def: NonNullable<GateSpec["vars"]>[string]): VarChoice | undefined {
    return varChoices(def).find((c) => {
        if (c.capture === undefined) return c.when === undefined || conditionHolds(spec, c.when);
        const check = spec.checks.find((k) => k.name === c.capture);
        return check !== undefined && runsHere(spec, check);
    });
}

/**
 * Vars that a check running here would capture although the var takes another
 * value here (a secret, a value): the capture would silently replace it. The
 * capture alternative must be the one that applies wherever its check runs.
 */
export function captureConflicts(spec: SpecView & Pick<GateSpec, "vars">): string[] {
    const conflicts: string[] = [];
    for (const [name, def] of Object.entries(spec.vars ?? {})) {
        const chosen = selectedVarChoice(spec, def);
        for (const check of spec.checks) {
            if (check.capture === undefined || !(name in check.capture) || chosen?.capture === check.name || !runsHere(spec, check)) continue;
            const takes = chosen === undefined ? "no alternative" : chosen.secret !== undefined ? `secret ${chosen.secret}` : chosen.capture !== undefined ? `the capture of "${chosen.capture}"` : "another value";
            conflicts.push(`var ${name} takes ${takes} here, and "${check.name}", which captures it, runs here too: its capture would replace the var (give the check a when that excludes this stack, or put its { capture } alternative first)`);
        }
    }
    return conflicts;
}

/**
 * The vars something that may run here uses: the headers, the checks that run
 * on this stack (their when holds, the deployed version has what they need),
 * and the vars those refer to. A var only checks that do not run here use
 * (e.g. the smoke user of plan checks the deployed version lacks) is not
 * filled, so its secret need not be set.
 */
export function varsNeededHere(spec: SpecView & Pick<GateSpec, "vars" | "headers">): Set<string> {
    const needed = new Set<string>();
    const visit = (value: unknown) => {
        for (const name of variablesIn(value)) {
            const def = spec.vars?.[name];
            if (needed.has(name) || def === undefined) continue;
            needed.add(name);
            varChoices(def).forEach((c) => visit(c.value));
        }
    };
    visit(spec.headers);
    for (const check of spec.checks) if (runsHere(spec, check)) visit([check.request, check.expect, check.creates, check.removes]);
    return needed;
}

/** The secret config keys the spec's vars need on this stack. */
export function gateSecretKeys(spec: SpecView & Pick<GateSpec, "vars" | "headers">): string[] {
    const keys = new Set<string>();
    let needed: Set<string>;
    try {
        needed = varsNeededHere(spec);
    } catch {
        return []; // an unknown condition: the spec's own check reports it
    }
    for (const [name, def] of Object.entries(spec.vars ?? {})) {
        if (!needed.has(name)) continue;
        try {
            const secret = selectedVarChoice(spec, def)?.secret;
            if (secret !== undefined) keys.add(secret);
        } catch {
            // an unknown condition: the spec's own check reports it
        }
    }
    return [...keys].sort();
}

/**
 * Fills every var from the alternative that applies: a secret one from
 * `secrets` (and noted in secretValues, to be masked); a capture one is left
 * for its check to fill.
 */
export function resolveVars(spec: GateSpec, secrets: Record<string, string>, vars: Record<string, string>, secretValues: string[]): void {
    const [conflict] = captureConflicts(spec);
    if (conflict !== undefined) throw new Error(conflict);
    const needed = varsNeededHere(spec);
    for (const [name, def] of Object.entries(spec.vars ?? {})) {
        if (!needed.has(name)) continue;
        const choice = selectedVarChoice(spec, def);
        if (choice === undefined) throw new Error(`var ${name}: none of its alternatives applies to this stack`);
        if (choice.capture !== undefined) continue;
        if (choice.secret !== undefined) {
            const value = secrets[choice.secret];
            if (value === undefined || value === "") {
                throw new Error(`var ${name}: secret ${choice.secret} was not given to the gate`);
            }
            vars[name] = value;
            secretValues.push(value);
        } else if (choice.env !== undefined || choice.config !== undefined) {
            const [where, key] = choice.env !== undefined ? (["env", choice.env] as const) : (["config", choice.config!] as const);
            const value = spec.stack?.[where][key];
            if (value === undefined || value === null || value === "") throw new Error(`var ${name}: ${where} ${key} has no value on this stack`);
            vars[name] = value;
        } else {
            vars[name] = substitute(choice.value ?? "", vars);
        }
    }
}
