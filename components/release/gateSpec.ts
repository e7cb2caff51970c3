import { z } from "zod";
import { GATE_BUILTINS, MATCHERS, conditionHolds, describeCondition, gateSecretKeys, isIdempotent, jsonPathTokens, matcherOf, selectedVarChoice, variablesIn } from "./gate";
import { readYamlFile } from "./yamlFile";

// The gate spec language, declared once: this schema checks every spec file,
// and the engine (gate.ts) takes its types from here. Every object refuses
// keys it does not know, so a typo is an error naming the file and the key,
// never a check that silently does less than it says.

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const name = (what: string) => z.string().regex(NAME, { error: `must be a ${what} name (letters, digits, _)` });
const headers = z.record(z.string(), z.string());
const scalar = z.union([z.string(), z.number(), z.boolean()]);
const factValue = z.union([scalar, z.null(), z.array(z.union([scalar, z.null()])).min(1)], {
    error: "must be a value, null (unset), or a list of them (any matches)",
});
export type FactValue = z.infer<typeof factValue>;

/** A `when`: a named condition (`!name` negates it) or an object whose parts must all hold. */
export type Condition = string | ConditionObject;
export interface ConditionObject {
    /** Stack config keys (e.g. environment, target) and the value(s) that satisfy them. */
    config?: Record<string, FactValue>;
    /** The backend's plain env; null = unset. */
    env?: Record<string, FactValue>;
    not?: Condition;
    anyOf?: Condition[];
    allOf?: Condition[];
}

const conditionSchema: z.ZodType<Condition, Condition> = z.lazy(() =>
    z.union(
        [
            z.string().regex(/^!?[A-Za-z_][A-Za-z0-9_]*$/, { error: "must name a condition (! in front negates it)" }),
            z
                .strictObject({
                    config: z.record(z.string(), factValue).optional(),
                    env: z.record(z.string(), factValue).optional(),
                    not: conditionSchema.optional(),
                    anyOf: z.array(conditionSchema).min(1).optional(),
                    allOf: z.array(conditionSchema).min(1).optional(),
                })
                .refine((c) => Object.keys(c).length > 0, { error: "an empty condition says nothing; use config, env, not, anyOf or allOf" }),
        ],
        { error: "must be a condition name or an object with config, env, not, anyOf or allOf" },
    ),
);

const varChoice = z
    .strictObject({
        when: conditionSchema.optional(),
        value: z.string().optional(),
        /** A secret config key of the stack (`pulumi config set --secret <key>`); its value is masked in every report. */
        secret: name("config key").optional(),
        /** An env var of the service the gate checks, plain or derived by Gatehouse (e.g. the frontend's API base URL); never a secret one. */
        env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, { error: "must be an env var name" }).optional(),
        /** A Gatehouse config key of the stack (e.g. frontendBuildId). */
        config: name("config key").optional(),
    })
    .refine((c) => [c.value, c.secret, c.env, c.config].filter((v) => v !== undefined).length === 1, { error: "needs exactly one of value, secret, env or config" });
export type VarChoice = z.input<typeof varChoice>;

const multipartField = z.union([
    z.string(),
    z.strictObject({ content: z.string(), filename: z.string().min(1), contentType: z.string().optional() }),
]);

const requestSchema = z
    .strictObject({
        method: z.enum(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]).default("GET"),
        path: z.string().startsWith("/", { error: "must start with /" }),
        headers: headers.optional(),
        /** An object is sent as JSON; a string as is. */
        body: z.unknown().optional(),
        /** multipart/form-data: a field is a string, or a file { content, filename, contentType }. */
        multipart: z.record(z.string(), multipartField).optional(),
        /**
         * The answer is a page: fetch the same-origin scripts it loads and match bodyContains
         * against the page and them together (a Next.js build inlines NEXT_PUBLIC_* values into its scripts).
         */
        withScripts: z.boolean().optional(),
    })
    .refine((r) => r.body === undefined || r.multipart === undefined, { error: "has both body and multipart; a request has one body" });

const captureSchema = z.union([z.string(), z.strictObject({ path: z.string(), secret: z.boolean().optional() })]);

const checkSchema = z.strictObject({
    name: z.string().min(1),
    request: requestSchema,
    expect: z
        .strictObject({
            status: z.union([z.number().int(), z.array(z.number().int()).min(1)]).optional(),
            /** JSON path -> expected value, or a matcher ({ present }, { type }, { length }, ...). */
            json: z.record(z.string(), z.unknown()).optional(),
            /** Substring(s) the raw body (with its scripts, for withScripts) must contain, each. */
            bodyContains: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
        })
        .default({}),
    /** Variable -> JSON path (or { path, secret: true }); later checks use it as ${name}. */
    capture: z.record(name("variable"), captureSchema).optional(),
    /** Consecutive passes required; a failure in between starts the count again. */
    repeat: z.number().int().min(1).default(1),
    /** Per-request timeout. @default 5000 */
    timeoutMs: z.number().int().min(1).max(120_000).optional(),
    /** Whether a retry is harmless. Default: GET, HEAD, OPTIONS yes; others no (sent exactly once). */
    idempotent: z.boolean().optional(),
    /** The app needs the internet to answer it: not run (and said so) where this machine has no route out. */
    external: z.boolean().optional(),
    /** Runs only where this holds for the stack; reported as skipped elsewhere. */
    when: conditionSchema.optional(),
    /** Where this holds, the deployed app does not implement the check yet: reported as not run, with the reason. */
    unsupported: z.strictObject({ when: conditionSchema, reason: z.string().min(1) }).optional(),
    /** What a pass leaves in the app (e.g. "bubble ${bubble_id}"): listed in the report unless a later check removes it. */
    creates: z.string().min(1).optional(),
    /** The `creates` text of an earlier check whose data this check deletes. */
    removes: z.string().min(1).optional(),
});

export const gateSpecSchema = z.strictObject({
    /** Whole-gate deadline. */
    deadlineSeconds: z.number().positive().max(3600).default(60),
    /** Wait between attempts of a failing idempotent check. */
    intervalMs: z.number().int().min(10).max(60_000).default(250),
    /** Headers sent with every request (e.g. the smoke-test marker). */
    headers: headers.optional(),
    /** Any HTTP answer from here means this machine reaches the internet (for external checks). */
    internetProbe: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
    /** Named conditions, used as `when: name` or `when: "!name"`. */
    conditions: z.record(name("condition"), conditionSchema).optional(),
    /** Variables for every check: a string, { value | secret, when }, or a list of those (the first whose when holds). */
    vars: z.record(name("variable"), z.union([z.string(), varChoice, z.array(varChoice).min(1)])).optional(),
    checks: z.array(checkSchema).min(1, { error: "needs at least one check" }),
});

/** What the stack says about itself, for `when`: the config keys and backend env the spec refers to (null = unset). */
export interface StackFacts {
    config: Record<string, string | null>;
    env: Record<string, string | null>;
}

/** A gate spec as written (defaults may be left out), plus the facts Gatehouse binds from the stack. */
export type GateSpec = z.input<typeof gateSpecSchema> & { stack?: StackFacts };
export type GateCheck = GateSpec["checks"][number];

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
function checkSpec(spec: z.output<typeof gateSpecSchema>): string[] {
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
        const choices = typeof def === "string" ? [{ value: def }] : Array.isArray(def) ? def : [def];
        choices.forEach((c, i) => {
            knownCondition(`vars.${n}`, c.when);
            used(Array.isArray(def) ? `vars.${n}[${i}]` : `vars.${n}`, c.value);
        });
        known.add(n);
    }
    used("headers", spec.headers);

    const created: string[] = [];
    spec.checks.forEach((check, i) => {
        const where = `checks[${i}] (${check.name})`;
        knownCondition(`${where}.when`, check.when);
        knownCondition(`${where}.unsupported.when`, check.unsupported?.when);
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

function checkPaths(where: string, check: z.output<typeof checkSchema>): string[] {
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

function badMatcher(m: { kind: string; arg: any }): string | undefined {
    switch (m.kind) {
        case "present":
            return typeof m.arg === "boolean" ? undefined : "present takes true or false";
        case "type":
            return ["string", "number", "boolean", "object", "array", "null"].includes(m.arg) ? undefined : "type is one of string, number, boolean, object, array, null";
        case "length":
        case "minLength":
            return Number.isInteger(m.arg) && m.arg >= 0 ? undefined : `${m.kind} takes a whole number`;
        case "oneOf":
            return Array.isArray(m.arg) && m.arg.length > 0 ? undefined : "oneOf takes a non-empty list";
        case "matches":
            try {
                new RegExp(m.arg);
                return typeof m.arg === "string" ? undefined : "matches takes a regular expression as a string";
            } catch (err: any) {
                return `matches: ${err.message}`;
            }
    }
    return undefined;
}

/**
 * The gate waits for the app with idempotent checks; a non-idempotent one is
 * sent once, so the first check must be one that can wait (and always runs),
 * and a non-idempotent check cannot ask for repeats.
 */
function checkOrdering(where: string, i: number, check: z.output<typeof checkSchema>): string[] {
    const problems: string[] = [];
    const idempotent = isIdempotent(check);
    if (i === 0 && (!idempotent || check.when !== undefined || check.unsupported !== undefined || check.external)) {
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
    for (const check of spec.checks) {
        visit(check.when);
        visit(check.unsupported?.when);
    }
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
    const bound: GateSpec = { ...spec, stack: facts };
    if (problems.length === 0) {
        for (const [n, def] of Object.entries(spec.vars ?? {})) {
            if (selectedVarChoice(bound, def) === undefined) problems.push(`vars.${n}: none of its alternatives applies to this stack (end the list with one without when)`);
        }
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
            if (c.unsupported && conditionHolds(spec, c.unsupported.when)) notes.push(`not run here: the deployed app does not support it yet (${c.unsupported.reason})`);
        } catch {
            // the spec's own check reports an unknown condition
        }
        if (c.creates !== undefined) notes.push(`creates ${c.creates}`);
        if (c.removes !== undefined) notes.push(`removes ${c.removes}`);
        const repeat = (c.repeat ?? 1) > 1 ? ` x${c.repeat}` : "";
        return `  ${c.request.method ?? "GET"} ${c.request.path} -> ${JSON.stringify(c.expect?.status ?? 200)}${repeat}  (${c.name})${notes.length ? `  [${notes.join("; ")}]` : ""}`;
    });
}
