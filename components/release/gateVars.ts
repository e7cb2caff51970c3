import { conditionHolds } from "./gateConditions";
import type { GateSpec, VarChoice } from "./gateSchema";

/** Variables every gate has: the release id, an id unique to each gate run (for smoke data), and its start time. */
export const GATE_BUILTINS = ["release", "run", "now"] as const;

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

/** The alternative of a var that applies to this stack. */
export function selectedVarChoice(spec: Pick<GateSpec, "conditions" | "stack">, def: NonNullable<GateSpec["vars"]>[string]): VarChoice | undefined {
    const choices: VarChoice[] = typeof def === "string" ? [{ value: def }] : Array.isArray(def) ? def : [def];
    return choices.find((c) => c.when === undefined || conditionHolds(spec, c.when));
}

/** The secret config keys the spec's vars need on this stack. */
export function gateSecretKeys(spec: Pick<GateSpec, "conditions" | "stack" | "vars">): string[] {
    const keys = new Set<string>();
    for (const def of Object.values(spec.vars ?? {})) {
        try {
            const secret = selectedVarChoice(spec, def)?.secret;
            if (secret !== undefined) keys.add(secret);
        } catch {
            // an unknown condition: the spec's own check reports it
        }
    }
    return [...keys].sort();
}

/** Fills every var: the first alternative whose `when` holds; a secret one from `secrets` (and noted in secretValues, to be masked). */
export function resolveVars(spec: GateSpec, secrets: Record<string, string>, vars: Record<string, string>, secretValues: string[]): void {
    for (const [name, def] of Object.entries(spec.vars ?? {})) {
        const choice = selectedVarChoice(spec, def);
        if (choice === undefined) throw new Error(`var ${name}: none of its alternatives applies to this stack`);
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
