import type { Condition, FactValue, GateCheck, GateSpec } from "./gateSchema";

/**
 * Evaluates a `when`: a condition's name (`!name` negates it) or an object
 * whose parts must all hold: `config` and `env` compare the stack's values
 * (null = unset, a list = any of them), `not`, `anyOf`, `allOf`.
 */
export function conditionHolds(spec: Pick<GateSpec, "conditions" | "stack">, condition: Condition, seen: string[] = []): boolean {
    if (typeof condition === "string") {
        const negate = condition.startsWith("!");
        const name = negate ? condition.slice(1) : condition;
        const named = spec.conditions?.[name];
        if (named === undefined) throw new Error(`unknown condition ${name}`);
        if (seen.includes(name)) throw new Error(`condition ${name} refers to itself (${[...seen, name].join(" -> ")})`);
        return conditionHolds(spec, named, [...seen, name]) !== negate;
    }
    const facts = spec.stack ?? { config: {}, env: {} };
    const matches = (actual: string | null | undefined, want: FactValue) =>
        ([] as unknown[]).concat(want).some((w) => (w === null ? actual === null || actual === undefined : actual !== null && actual !== undefined && String(w) === actual));
    return (
        Object.entries(condition.config ?? {}).every(([key, want]) => matches(facts.config[key], want)) &&
        Object.entries(condition.env ?? {}).every(([name, want]) => matches(facts.env[name], want)) &&
        (condition.not === undefined || !conditionHolds(spec, condition.not, seen)) &&
        (condition.anyOf === undefined || condition.anyOf.some((c) => conditionHolds(spec, c, seen))) &&
        (condition.allOf === undefined || condition.allOf.every((c) => conditionHolds(spec, c, seen)))
    );
}

export function describeCondition(condition: Condition): string {
    return typeof condition === "string" ? condition : JSON.stringify(condition);
}

/** The features a check needs that the stack does not say the deployed version has (appFeatures). */
export function missingFeatures(spec: Pick<GateSpec, "stack">, check: Pick<GateCheck, "needs">): string[] {
    const have = spec.stack?.features ?? [];
    return featuresOf(check).filter((f) => !have.includes(f));
}

export function featuresOf(check: Pick<GateCheck, "needs">): string[] {
    return check.needs === undefined ? [] : ([] as string[]).concat(check.needs);
}

export function lacksReason(missing: string[]): string {
    return `the deployed version lacks ${missing.join(", ")} (appFeatures)`;
}

/** Whether a check runs on this stack as far as the stack decides it: its `when` holds and the deployed version has what it needs. */
export function runsHere(spec: Pick<GateSpec, "conditions" | "stack">, check: Pick<GateCheck, "when" | "needs">): boolean {
    return (check.when === undefined || conditionHolds(spec, check.when)) && missingFeatures(spec, check).length === 0;
}
