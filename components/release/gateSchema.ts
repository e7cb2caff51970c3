import { z } from "zod";
import type { KnownDefect } from "./gateDefects";

// The gate spec language, declared once: this schema checks every spec file
// (gateSpec.ts reads them), and the engine takes its types from here. Every
// object refuses keys it does not know, so a typo is an error naming the file
// and the key, never a check that silently does less than it says. Only zod
// is imported: the engine's modules import nothing but types from here.

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const name = (what: string) => z.string().regex(NAME, { error: `must be a ${what} name (letters, digits, _)` });
const headers = z.record(z.string(), z.string());
/** A feature of the app a check needs; the stack's appFeatures lists those its deployed version has. */
export const FEATURE = /^[a-z][a-z0-9-]*$/;
const feature = z.string().regex(FEATURE, { error: "must be a feature name (lower-case letters, digits, -), e.g. plan-generation" });
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
        /**
         * The name of the check that captures this var: the alternative applies where that check runs on
         * the stack (its when holds, the deployed version has what it needs), and the var is filled when it passes.
         */
        capture: z.string().min(1).optional(),
    })
    .refine((c) => [c.value, c.secret, c.env, c.config, c.capture].filter((v) => v !== undefined).length === 1, { error: "needs exactly one of value, secret, env, config or capture" })
    .refine((c) => c.capture === undefined || c.when === undefined, { error: "a capture alternative applies where its check runs: put the condition on the check, not here" });
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
    /**
     * What the deployed version must support for the check to run (e.g. plan-generation), as the stack
     * declares it in appFeatures: where it is not listed, the check is reported as not run, never passed.
     */
    needs: z.union([feature, z.array(feature).min(1)]).optional(),
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

/** What the stack says about itself, for `when` and `needs`: the config keys and backend env the spec refers to (null = unset). */
export interface StackFacts {
    config: Record<string, string | null>;
    env: Record<string, string | null>;
    /** Of the features the spec's checks need, those the deployed version has (appFeatures); absent = none. */
    features?: string[];
    /** The app's acknowledged defects the stack declares for this spec's checks (gateKnownDefects). */
    knownDefects?: KnownDefect[];
}

/** A gate spec as written (defaults may be left out), plus the facts Gatehouse binds from the stack. */
export type GateSpec = z.input<typeof gateSpecSchema> & { stack?: StackFacts };
export type GateCheck = GateSpec["checks"][number];

/** A spec and a check as the schema hands them over, defaults applied. */
export type ParsedGateSpec = z.output<typeof gateSpecSchema>;
export type ParsedGateCheck = z.output<typeof checkSchema>;
