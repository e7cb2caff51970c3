import { conditionHolds, describeCondition, featuresOf, lacksReason, missingFeatures } from "./gateConditions";
import { isIdempotent } from "./gate";
import { describeDefect, parseKnownDefects } from "./gateDefects";
import type { Condition, GateSpec, StackFacts, VarChoice } from "./gateSchema";
import { captureConflicts, gateSecretKeys, selectedVarChoice } from "./gateVars";

// A spec bound to a stack: the facts its conditions and vars read, taken from
// the stack's config and the gated service's env, and what the release plan
// says about its checks.

/** Every config key and env name the spec's conditions read, and those its vars take values from. */
function factsReferenced(spec: GateSpec): { config: string[]; env: string[]; varEnv: string[]; varConfig: string[] } {
    const config = new Set<string>();
    const env = new Set<string>();
    const visit = (c: Condition | undefined) => {
        if (c === undefined || typeof c === "string") return;
        Object.keys(c.config ?? {}).forEach((k) => config.add(k));
        Object.keys(c.env ?? {}).forEach((k) => env.add(k));
        visit(c.not);
        c.anyOf?.forEach(visit);
        c.allOf?.forEach(visit);
    };
    Object.values(spec.conditions ?? {}).forEach(visit);
    const choices = Object.values(spec.vars ?? {}).flatMap((def) => (typeof def === "string" ? [] : ([] as VarChoice[]).concat(def)));
    choices.forEach((c) => visit(c.when));
    spec.checks.forEach((check) => visit(check.when));
    const defined = <T>(values: (T | undefined)[]) => [...new Set(values.filter((v): v is T => v !== undefined))].sort();
    return { config: [...config].sort(), env: [...env].sort(), varEnv: defined(choices.map((c) => c.env)), varConfig: defined(choices.map((c) => c.config)) };
}

/** What the stack offers a spec to read. */
export interface GateStackView {
    /** The stack's plain config, decoded (key -> value); secrets are not in it. */
    config: Record<string, unknown>;
    /** The backend's plain env, as it will receive it. */
    env: Record<string, string>;
    /** Env names whose values are secret or derived by Gatehouse: no condition may read them. */
    hiddenEnv: string[];
    /** Of hiddenEnv, those Gatehouse derives (e.g. the API base URL): a var may read them; the component fills them in with withDerivedEnv. */
    derivedEnv?: string[];
}

/**
 * Binds a spec to a stack: the facts its conditions read (and only those),
 * so the gate decides `when` exactly as the preview shows, and the secrets
 * its vars need here. Problems name what the spec asks that the stack
 * cannot answer.
 */
export function bindGateSpec(spec: GateSpec, view: GateStackView): { spec: GateSpec; problems: string[]; secrets: string[]; allSecrets: string[] } {
    const problems: string[] = [];
    const wanted = factsReferenced(spec);
    const facts: StackFacts = { config: {}, env: {} };
    for (const key of wanted.config) {
        const value = view.config[key];
        if (!(key in view.config)) problems.push(`a condition reads config key ${key}, which is not a Gatehouse key`);
        else if (value !== null && typeof value === "object") problems.push(`a condition reads config key ${key}, which is a list; conditions compare single values`);
        else facts.config[key] = value === undefined || value === null ? null : String(value);
    }
    for (const envName of wanted.env) {
        if (view.hiddenEnv.includes(envName)) problems.push(`a condition reads env ${envName}, whose value is a secret or derived; a condition can read only plain env`);
        else facts.env[envName] = view.env[envName] ?? null;
    }
    for (const key of wanted.varConfig) {
        const value = view.config[key];
        if (!(key in view.config)) problems.push(`a var reads config key ${key}, which is not a Gatehouse key`);
        else if (value !== null && typeof value === "object") problems.push(`a var reads config key ${key}, which is a list`);
        else facts.config[key] = value === undefined || value === null ? null : String(value);
    }
    for (const envName of wanted.varEnv) {
        if (view.derivedEnv?.includes(envName)) facts.env[envName] = null; // filled in by the component (withDerivedEnv)
        else if (view.hiddenEnv.includes(envName)) problems.push(`a var reads env ${envName}, whose value is a secret; use { secret: <config key> } instead`);
        else facts.env[envName] = view.env[envName] ?? null;
    }
    const needed = [...new Set(spec.checks.flatMap(featuresOf))].sort();
    if (needed.length > 0) {
        // Only the features this spec's checks need: the bound spec changes when one of them does, not with every feature the stack lists.
        const listed = view.config.appFeatures;
        if (!Array.isArray(listed)) problems.push(`checks need ${needed.join(", ")}, and the stack's config has no appFeatures list saying what the deployed version supports`);
        else facts.features = needed.filter((f) => listed.includes(f));
    }
    const names = spec.checks.map((c) => c.name);
    const defects = parseKnownDefects(Array.isArray(view.config.gateKnownDefects) ? view.config.gateKnownDefects : []).filter((d) => names.includes(d.check));
    if (defects.length > 0) facts.knownDefects = defects;
    const bound: GateSpec = { ...spec, stack: facts };
    if (problems.length === 0) {
        for (const [n, def] of Object.entries(spec.vars ?? {})) {
            if (selectedVarChoice(bound, def) === undefined) problems.push(`vars.${n}: none of its alternatives applies to this stack (end the list with one without when)`);
        }
        problems.push(...captureConflicts(bound));
    }
    const allSecrets = [...new Set(Object.values(spec.vars ?? {}).flatMap((d) => (typeof d === "string" ? [] : ([] as VarChoice[]).concat(d).map((c) => c.secret).filter((s): s is string => s !== undefined))))].sort();
    return { spec: bound, problems, secrets: problems.length ? [] : gateSecretKeys(bound), allSecrets };
}

/** The gate's checks as the release plan lists them: what runs here, what runs once, what is skipped and why. */
export function describeGateChecks(spec: GateSpec): string[] {
    return spec.checks.map((c) => {
        const notes: string[] = [];
        if (!isIdempotent(c)) notes.push("once");
        if (c.external) notes.push("external");
        try {
            if (c.when !== undefined && !conditionHolds(spec, c.when)) notes.push(`skipped here: when ${describeCondition(c.when)}`);
            const lacking = missingFeatures(spec, c);
            if (lacking.length > 0) notes.push(`not run here: ${lacksReason(lacking)}`);
        } catch {
            // the spec's own check reports an unknown condition
        }
        const defect = spec.stack?.knownDefects?.find((d) => d.check === c.name);
        if (defect) notes.push(`known defect declared: ${describeDefect(defect)}`);
        if (c.creates !== undefined) notes.push(`creates ${c.creates}`);
        if (c.removes !== undefined) notes.push(`removes ${c.removes}`);
        const repeat = (c.repeat ?? 1) > 1 ? ` x${c.repeat}` : "";
        return `  ${c.request.method ?? "GET"} ${c.request.path} -> ${JSON.stringify(c.expect?.status ?? 200)}${repeat}  (${c.name})${notes.length ? `  [${notes.join("; ")}]` : ""}`;
    });
}
