// The health gate's engine. It runs inside the serialized dynamic provider, so
// it uses Node built-ins only (fetch, FormData, Blob, AbortSignal, URL): nothing
// to resolve when the provider host loads it from state. The spec's shape is
// declared once, as a zod schema, in gateSpec.ts; only its types come from there.
import type { Condition, FactValue, GateCheck, GateSpec, VarChoice } from "./gateSpec";

export type { Condition, GateCheck, GateSpec, StackFacts } from "./gateSpec";

export interface GateRunOptions {
    /** The release id, ${release}. */
    release?: string;
    /** The id of this gate run, ${run}; unique by default. */
    run?: string;
    /** Secret values by config key, for vars bound to secrets. They never appear in a report. */
    secrets?: Record<string, string>;
    /** Whether this machine reaches the internet; unset = probe spec.internetProbe once. */
    online?: boolean;
}

export interface Attempt {
    status?: number;
    latencyMs: number;
    bodyExcerpt?: string;
    error?: string;
    /** Why the response did not meet expectations; absent when it did. */
    failure?: string;
}

/**
 * passed / failed; "skipped": its `when` does not hold for this stack;
 * "not run": it could not or need not run here (reason says which).
 */
export type CheckResult = "passed" | "failed" | "skipped" | "not run";

export interface CheckReport {
    name: string;
    result: CheckResult;
    attempts: number;
    passes: number;
    last?: Attempt;
    /** Why it was skipped, not run, or failed the way it did. */
    reason?: string;
}

export interface GateReport {
    passed: boolean;
    durationMs: number;
    checks: CheckReport[];
    /** Data this gate run created in the app and did not remove (the app offers no way to). */
    leftovers: string[];
    /** Why the gate could not start at all (e.g. a secret it needs was not given). */
    problem?: string;
}

/** Variables every gate has: the release id, an id unique to each gate run (for smoke data), and its start time. */
export const GATE_BUILTINS = ["release", "run", "now"] as const;

const DEFAULT_PROBE = "https://www.gstatic.com/generate_204";
const MAX_BODY_BYTES = 1_000_000;

/**
 * Runs the checks in order against baseUrl. Idempotent checks (GET, HEAD,
 * OPTIONS unless the spec says otherwise) are retried every intervalMs until
 * they pass `repeat` times in a row or the deadline passes: the leading ones
 * wait for the app. Every other check is sent exactly once, because a retry
 * could act twice (a second registration, a second import). The first
 * failure ends the gate.
 */
export async function runGate(baseUrl: string, spec: GateSpec, options: GateRunOptions = {}): Promise<GateReport> {
    const started = Date.now();
    const deadline = started + (spec.deadlineSeconds ?? 60) * 1000;
    const secretValues: string[] = [];
    const vars: Record<string, string> = {
        run: options.run ?? `${started.toString(36)}${Math.random().toString(36).slice(2, 6)}`,
        now: new Date(started).toISOString().replace(/\.\d{3}Z$/, "Z"),
    };
    if (options.release !== undefined) vars.release = options.release;
    const reports: CheckReport[] = spec.checks.map((c) => ({ name: c.name, result: "not run", attempts: 0, passes: 0 }));
    const leftovers: string[] = [];
    const finish = (passed: boolean, problem?: string): GateReport =>
        maskReport({ passed, durationMs: Date.now() - started, checks: reports, leftovers, problem }, secretValues);

    try {
        resolveVars(spec, options.secrets ?? {}, vars, secretValues);
    } catch (err: any) {
        return finish(false, err.message);
    }
    let internet: Promise<{ ok: boolean; detail: string }> | undefined;
    const capturedBy: Record<string, string> = {};

    for (const [i, check] of spec.checks.entries()) {
        const report = reports[i];
        const skip = await whyNotRun(spec, check, vars, capturedBy, () => (internet ??= probeInternet(spec.internetProbe ?? DEFAULT_PROBE, options.online)));
        if (skip) {
            report.result = skip.result;
            report.reason = skip.reason;
            continue;
        }
        const passed = isIdempotent(check)
            ? await untilPasses(baseUrl, spec, check, report, vars, secretValues, deadline)
            : await exactlyOnce(baseUrl, spec, check, report, vars, secretValues, deadline);
        if (!passed) {
            report.result = "failed";
            // A request sent once may have acted before it answered wrongly: say what it may have left.
            if (!isIdempotent(check) && check.creates !== undefined && report.attempts > 0) leftovers.push(`maybe ${fillKnown(check.creates, vars)} (the check failed after sending)`);
            return finish(false);
        }
        report.result = "passed";
        for (const name of Object.keys(check.capture ?? {})) capturedBy[name] = check.name;
        recordData(check, vars, leftovers);
    }
    return finish(true);
}

/** GET, HEAD and OPTIONS are idempotent unless the check says otherwise; everything else is sent once. */
export function isIdempotent(check: Pick<GateCheck, "idempotent" | "request">): boolean {
    return check.idempotent ?? ["GET", "HEAD", "OPTIONS"].includes(check.request.method ?? "GET");
}

/** Skipped by `when`, not supported by the deployed app, needs the internet, or needs a value an earlier check did not capture. */
async function whyNotRun(
    spec: GateSpec,
    check: GateCheck,
    vars: Record<string, string>,
    capturedBy: Record<string, string>,
    internet: () => Promise<{ ok: boolean; detail: string }>,
): Promise<{ result: CheckResult; reason: string } | undefined> {
    if (check.when !== undefined && !conditionHolds(spec, check.when)) {
        return { result: "skipped", reason: `when ${describeCondition(check.when)} does not hold for this stack` };
    }
    if (check.unsupported && conditionHolds(spec, check.unsupported.when)) {
        return { result: "not run", reason: `the deployed app does not support it yet: ${check.unsupported.reason}` };
    }
    const own = Object.keys(check.capture ?? {});
    const missing = variablesIn([check.request, check.expect, check.creates, check.removes]).filter((name) => !(name in vars) && !own.includes(name));
    if (missing.length > 0) {
        return { result: "not run", reason: `needs ${missing.map((m) => `\${${m}}`).join(", ")}, which no earlier check captured (one was skipped or not run)` };
    }
    if (check.external) {
        const route = await internet();
        if (!route.ok) return { result: "not run", reason: `external: this machine has no route to the internet (${route.detail})` };
    }
    return undefined;
}

/** Retries an idempotent check until it passes `repeat` times in a row or the deadline passes. */
async function untilPasses(
    baseUrl: string,
    spec: GateSpec,
    check: GateCheck,
    report: CheckReport,
    vars: Record<string, string>,
    secretValues: string[],
    deadline: number,
): Promise<boolean> {
    const needed = check.repeat ?? 1;
    const interval = spec.intervalMs ?? 250;
    const perRequest = check.timeoutMs ?? 5000;
    while (report.passes < needed) {
        const remaining = deadline - Date.now();
        if (remaining <= 0) return false;
        const timeout = Math.min(perRequest, remaining);
        const { attempt, captured } = await attemptCheck(baseUrl, check, spec.headers ?? {}, vars, secretValues, timeout);
        report.attempts++;
        // An attempt the gate's deadline cut short says nothing about the app; the
        // report keeps the last complete one (status, body) when there is one.
        const cutShort = timeout < perRequest && attempt.error?.startsWith("timed out");
        if (!cutShort || report.last === undefined) report.last = attempt;
        if (attempt.failure === undefined && attempt.error === undefined) {
            report.passes++;
            Object.assign(vars, captured);
        } else {
            report.passes = 0;
            await sleep(Math.min(interval, Math.max(0, deadline - Date.now())));
        }
    }
    return true;
}

/** Sends a non-idempotent check once: whatever it answers is the verdict. */
async function exactlyOnce(
    baseUrl: string,
    spec: GateSpec,
    check: GateCheck,
    report: CheckReport,
    vars: Record<string, string>,
    secretValues: string[],
    deadline: number,
): Promise<boolean> {
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
        report.reason = "the deadline passed before it could be sent";
        return false;
    }
    const { attempt, captured } = await attemptCheck(baseUrl, check, spec.headers ?? {}, vars, secretValues, Math.min(check.timeoutMs ?? 5000, remaining));
    report.attempts = 1;
    report.last = attempt;
    if (attempt.failure !== undefined || attempt.error !== undefined) {
        report.reason = `not retried: ${check.request.method} is not idempotent, a second attempt could act twice`;
        return false;
    }
    report.passes = 1;
    Object.assign(vars, captured);
    return true;
}

/** Notes what a passed check created, and strikes what it removed. */
function recordData(check: GateCheck, vars: Record<string, string>, leftovers: string[]): void {
    if (check.creates !== undefined) leftovers.push(substitute(check.creates, vars));
    if (check.removes !== undefined) {
        const at = leftovers.indexOf(substitute(check.removes, vars));
        if (at >= 0) leftovers.splice(at, 1);
    }
}

/** Fills every var: the first alternative whose `when` holds; a secret one from options.secrets. */
function resolveVars(spec: GateSpec, secrets: Record<string, string>, vars: Record<string, string>, secretValues: string[]): void {
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

/** Whether this machine reaches the internet: any HTTP answer from the probe says yes. */
async function probeInternet(url: string, online: boolean | undefined): Promise<{ ok: boolean; detail: string }> {
    if (online !== undefined) return { ok: online, detail: online ? "" : "the gate was told it is offline" };
    if (process.env.GATEHOUSE_OFFLINE === "1") return { ok: false, detail: "GATEHOUSE_OFFLINE=1" };
    try {
        const response = await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(3000), redirect: "manual" });
        await response.body?.cancel();
        return { ok: true, detail: "" };
    } catch (err: any) {
        const reason = err?.name === "TimeoutError" ? "no answer in 3 s" : describeFetchError(err);
        return { ok: false, detail: `probe ${url}: ${reason}` };
    }
}

async function attemptCheck(
    baseUrl: string,
    check: GateCheck,
    commonHeaders: Record<string, string>,
    vars: Record<string, string>,
    secretValues: string[],
    timeoutMs: number,
): Promise<{ attempt: Attempt; captured: Record<string, string> }> {
    const t0 = Date.now();
    let status: number | undefined;
    let text = "";
    try {
        const { url, init } = buildRequest(baseUrl, check, commonHeaders, vars);
        const response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
        status = response.status;
        text = await readCapped(response, MAX_BODY_BYTES);
        if (check.request.withScripts) text += await sameOriginScripts(url, text, timeoutMs - (Date.now() - t0));
    } catch (err: any) {
        const reason = err?.name === "TimeoutError" ? `timed out after ${timeoutMs} ms` : describeFetchError(err);
        return { attempt: { status, latencyMs: Date.now() - t0, error: reason, bodyExcerpt: excerpt(text, check) }, captured: {} };
    }
    const latencyMs = Date.now() - t0;
    const failure = judge(check, status, text, vars);
    const captured: Record<string, string> = {};
    if (failure === undefined) {
        for (const [name, spec] of Object.entries(check.capture ?? {})) {
            const { path, secret } = typeof spec === "string" ? { path: spec, secret: false } : spec;
            const [value] = jsonPathAll(parseJson(text), path);
            if (value === undefined) {
                return { attempt: { status, latencyMs, bodyExcerpt: excerpt(text, check), failure: `capture ${name}: ${path} not found in the body` }, captured: {} };
            }
            captured[name] = typeof value === "string" ? value : JSON.stringify(value);
            if (secret) secretValues.push(captured[name]);
        }
    }
    return { attempt: { status, latencyMs, bodyExcerpt: excerpt(text, check), failure }, captured };
}

/** The request a check describes: JSON (an object body), text (a string body) or multipart form data. */
function buildRequest(baseUrl: string, check: GateCheck, commonHeaders: Record<string, string>, vars: Record<string, string>): { url: URL; init: RequestInit } {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...commonHeaders, ...(check.request.headers ?? {}) })) headers[k] = substitute(v, vars);
    const hasContentType = Object.keys(headers).some((h) => h.toLowerCase() === "content-type");
    let body: string | FormData | undefined;
    if (check.request.multipart !== undefined) {
        // fetch writes the multipart boundary into Content-Type itself.
        body = new FormData();
        for (const [field, value] of Object.entries(check.request.multipart)) {
            if (typeof value === "string") body.append(field, substitute(value, vars));
            else body.append(field, new Blob([substitute(value.content, vars)], { type: value.contentType ?? "application/octet-stream" }), value.filename);
        }
    } else if (check.request.body !== undefined) {
        const filled = substituteDeep(check.request.body, vars);
        body = typeof filled === "string" ? filled : JSON.stringify(filled);
        if (typeof filled !== "string" && !hasContentType) headers["Content-Type"] = "application/json";
    }
    return { url: new URL(substitute(check.request.path, vars), baseUrl), init: { method: check.request.method ?? "GET", headers, body } };
}

/**
 * The text of every same-origin script a page loads (`<script src>`), each
 * prefixed by a newline, at most 50 of them and MAX_BODY_BYTES each. A Next.js
 * build writes NEXT_PUBLIC_* values and its build id into these files, so a
 * page check can see which build and which settings the browser would get.
 */
async function sameOriginScripts(page: URL, html: string, timeoutMs: number): Promise<string> {
    const sources = [...html.matchAll(/<script\b[^>]*\bsrc\s*=\s*["']([^"']+)["']/gi)].map((m) => new URL(m[1].replace(/&amp;/g, "&"), page));
    let text = "";
    for (const src of sources.filter((u) => u.origin === page.origin).slice(0, 50)) {
        const response = await fetch(src, { signal: AbortSignal.timeout(Math.max(1, timeoutMs)), redirect: "manual" });
        if (response.status !== 200) {
            await response.body?.cancel();
            throw new Error(`script ${src.pathname} answered ${response.status}`);
        }
        text += `\n${await readCapped(response, MAX_BODY_BYTES)}`;
    }
    return text;
}

/** Reads at most `limit` bytes of a body: a huge answer cannot exhaust the gate's memory. */
async function readCapped(response: Response, limit: number): Promise<string> {
    if (!response.body) return "";
    const reader = response.body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        size += value.byteLength;
        if (size >= limit) {
            await reader.cancel();
            break;
        }
    }
    return Buffer.concat(chunks).subarray(0, limit).toString("utf8");
}

function judge(check: GateCheck, status: number, text: string, vars: Record<string, string>): string | undefined {
    const wanted = check.expect?.status === undefined ? [200] : ([] as number[]).concat(check.expect.status);
    if (!wanted.includes(status)) return `status ${status}, expected ${wanted.join(" or ")}`;
    for (const template of ([] as string[]).concat(check.expect?.bodyContains ?? [])) {
        const needle = substitute(template, vars);
        if (!text.includes(needle)) return `${check.request.withScripts ? "the page and its scripts do" : "body does"} not contain ${JSON.stringify(needle)}`;
    }
    if (check.expect?.json) {
        const body = parseJson(text);
        if (body === undefined) return text.length >= MAX_BODY_BYTES ? `body is not JSON (read up to ${MAX_BODY_BYTES} bytes)` : "body is not JSON";
        for (const [path, template] of Object.entries(check.expect.json)) {
            const problem = expectAt(body, path, substituteDeep(template, vars));
            if (problem) return problem;
        }
    }
    return undefined;
}

/** Matchers an expectation may use instead of a literal value: an object with exactly one of these keys. */
export const MATCHERS = ["present", "type", "length", "minLength", "oneOf", "matches", "includes"] as const;

export function matcherOf(value: unknown): { kind: (typeof MATCHERS)[number]; arg: any } | undefined {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
    const keys = Object.keys(value);
    if (keys.length !== 1 || !(MATCHERS as readonly string[]).includes(keys[0])) return undefined;
    return { kind: keys[0] as (typeof MATCHERS)[number], arg: (value as any)[keys[0]] };
}

/**
 * One expectation. A path with [*] selects every element: a matcher or value
 * must then hold for each (and there must be at least one), except
 * `includes`, which looks for the value among them.
 */
function expectAt(body: unknown, path: string, want: unknown): string | undefined {
    const wildcard = path.includes("[*]");
    const found = jsonPathAll(body, path).filter((v) => v !== undefined);
    const matcher = matcherOf(want);
    const show = (v: unknown) => (v === undefined ? "absent" : JSON.stringify(v));
    if (matcher?.kind === "includes") {
        const pool = wildcard ? found : Array.isArray(found[0]) ? found[0] : [];
        return pool.some((v) => JSON.stringify(v) === JSON.stringify(matcher.arg)) ? undefined : `${path} does not include ${JSON.stringify(matcher.arg)}`;
    }
    if (matcher?.kind === "present" && !wildcard) {
        return (found.length > 0) === matcher.arg ? undefined : `${path} is ${found.length > 0 ? "present" : "absent"}, expected ${matcher.arg ? "present" : "absent"}`;
    }
    if (wildcard && found.length === 0) return `${path} matches nothing`;
    const values = wildcard ? found : [found[0]];
    for (const [i, got] of values.entries()) {
        const where = wildcard ? `${path} (match ${i + 1})` : path;
        const problem = matcher ? checkMatcher(matcher, got) : JSON.stringify(got) === JSON.stringify(want) ? undefined : `expected ${JSON.stringify(want)}`;
        if (problem) return `${where} is ${show(got)}, ${problem}`;
    }
    return undefined;
}

function checkMatcher(matcher: { kind: string; arg: any }, got: unknown): string | undefined {
    switch (matcher.kind) {
        case "present":
            return got !== undefined ? undefined : "expected present";
        case "type": {
            const actual = got === null ? "null" : Array.isArray(got) ? "array" : typeof got;
            return actual === matcher.arg ? undefined : `expected a ${matcher.arg}`;
        }
        case "length":
        case "minLength": {
            const length = Array.isArray(got) || typeof got === "string" ? got.length : undefined;
            if (length === undefined) return "expected an array or a string";
            return (matcher.kind === "length" ? length === matcher.arg : length >= matcher.arg) ? undefined : `expected ${matcher.kind === "length" ? "" : "at least "}${matcher.arg} long`;
        }
        case "oneOf":
            return (matcher.arg as unknown[]).some((v) => JSON.stringify(v) === JSON.stringify(got)) ? undefined : `expected one of ${JSON.stringify(matcher.arg)}`;
        case "matches":
            return typeof got === "string" && new RegExp(matcher.arg).test(got) ? undefined : `expected a string matching /${matcher.arg}/`;
    }
    return `unknown matcher ${matcher.kind}`;
}

function parseJson(text: string): unknown {
    try {
        return JSON.parse(text);
    } catch {
        return undefined;
    }
}

/**
 * The JSON-path subset the specs use: `$`, `.key`, `["key"]`, `[index]`
 * (negative counts from the end) and `[*]` (every element of an array).
 * Written here because the gate must run with built-ins only inside the
 * serialized provider.
 */
export function jsonPathTokens(path: string): string[] {
    if (!path.startsWith("$")) throw new Error(`JSON path ${path} must start with $`);
    const tokens = path.slice(1).match(/\.[^.[\]]+|\[-?\d+\]|\[\*\]|\["[^"]*"\]/g) ?? [];
    if (tokens.join("") !== path.slice(1)) throw new Error(`unsupported JSON path ${path} (use $, .key, ["key"], [0], [-1], [*])`);
    return tokens;
}

/** Every value a path selects (one at most without [*]); absent ones are undefined. */
export function jsonPathAll(value: unknown, path: string): unknown[] {
    let current: unknown[] = [value];
    for (const token of jsonPathTokens(path)) {
        const next: unknown[] = [];
        for (const v of current) {
            if (v === null || typeof v !== "object") {
                next.push(undefined);
            } else if (token === "[*]") {
                if (Array.isArray(v)) next.push(...v);
            } else if (token.startsWith("[") && !token.startsWith('["')) {
                const index = Number(token.slice(1, -1));
                next.push(Array.isArray(v) ? v[index < 0 ? v.length + index : index] : undefined);
            } else {
                const key = token.startsWith(".") ? token.slice(1) : token.slice(2, -2);
                next.push(Object.prototype.hasOwnProperty.call(v, key) ? (v as any)[key] : undefined);
            }
        }
        current = next;
    }
    return current;
}

/** The value at a path without [*]. */
export function jsonPath(value: unknown, path: string): unknown {
    return jsonPathAll(value, path)[0];
}

/** Replaces ${name} with a variable; an unknown name is an error that names it. */
export function substitute(template: string, vars: Record<string, string>): string {
    return template.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
        if (!(name in vars)) throw new Error(`unknown variable \${${name}} (not captured by an earlier check)`);
        return vars[name];
    });
}

/** Like substitute, but leaves a ${name} nobody captured as it is. */
function fillKnown(template: string, vars: Record<string, string>): string {
    return template.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, name: string) => (name in vars ? vars[name] : whole));
}

function substituteDeep(value: unknown, vars: Record<string, string>): unknown {
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
    return [...new Set([...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]))];
}

function describeFetchError(err: any): string {
    const cause = err?.cause;
    if (cause?.code) return `${cause.code}${cause.message ? `: ${cause.message}` : ""}`;
    // fetch's own refusals (a bad port, a URL with credentials) carry the reason in the cause only.
    if (cause?.message) return `${err.message}: ${cause.message}`;
    return String(err?.message ?? err);
}

// Keys whose values are credentials in any API: never shown in a body excerpt.
const SECRET_KEY = /token|password|secret|api[_-]?key|authorization|cookie/i;

/**
 * What the report shows of a body: 200 characters, with the values of
 * credential-like keys and of the check's secret captures replaced.
 */
function excerpt(text: string, check: GateCheck): string | undefined {
    if (!text) return undefined;
    const parsed = parseJson(text);
    let shown = text;
    if (parsed !== undefined && typeof parsed === "object" && parsed !== null) {
        const redacted = redactKeys(parsed);
        for (const spec of Object.values(check.capture ?? {})) {
            if (typeof spec !== "string" && spec.secret) redactPath(redacted, spec.path);
        }
        shown = JSON.stringify(redacted);
    }
    const flat = shown.replace(/\s+/g, " ").trim();
    return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}

function redactKeys(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(redactKeys);
    if (value && typeof value === "object") {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_KEY.test(k) && typeof v === "string" ? "***" : redactKeys(v)]));
    }
    return value;
}

function redactPath(value: unknown, path: string): void {
    const tokens = jsonPathTokens(path);
    const last = tokens.pop();
    const [parent] = tokens.length ? jsonPathAll(value, `$${tokens.join("")}`) : [value];
    if (!last || parent === null || typeof parent !== "object") return;
    const key = last.startsWith(".") ? last.slice(1) : last.startsWith('["') ? last.slice(2, -2) : Number(last.slice(1, -1));
    if ((parent as any)[key] !== undefined) (parent as any)[key] = "***";
}

/** Replaces every secret value wherever the report could show it. */
function maskReport(report: GateReport, secretValues: string[]): GateReport {
    const secrets = secretValues.filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
    const mask = (text: string | undefined) => (text === undefined ? undefined : secrets.reduce((t, s) => t.split(s).join("***"), text));
    for (const c of report.checks) {
        c.reason = mask(c.reason);
        if (c.last) c.last = { ...c.last, bodyExcerpt: mask(c.last.bodyExcerpt), error: mask(c.last.error), failure: mask(c.last.failure) };
    }
    report.leftovers = report.leftovers.map((l) => mask(l)!);
    report.problem = mask(report.problem);
    return report;
}

function sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
}

/** The gate's report as an operator reads it in `pulumi up` output. */
export function formatGateReport(baseUrl: string, report: GateReport): string {
    const lines = report.checks.map((c) => {
        const last = c.last;
        const detail = last
            ? [
                  last.status !== undefined ? `status ${last.status}` : undefined,
                  `${last.latencyMs} ms`,
                  last.error ?? last.failure,
                  last.bodyExcerpt ? `body: ${last.bodyExcerpt}` : undefined,
              ]
                  .filter(Boolean)
                  .join(", ")
            : "";
        const mark = c.result === "passed" ? "ok  " : c.result === "failed" ? "FAIL" : "skip";
        const why = c.result === "failed" ? [detail, c.reason].filter(Boolean).join("; ") : c.result === "passed" ? "" : c.reason ?? "";
        return `  ${mark} ${c.name}: ${c.result}` + (c.attempts ? ` after ${c.attempts} attempt(s)` : "") + (why ? ` — ${why}` : "");
    });
    // On a pass, "not run" means a check that could not run here; on a failure, also every check after it.
    const notRun = report.passed ? report.checks.filter((c) => c.result === "not run").length : 0;
    const out = [`health gate ${report.passed ? "passed" : "FAILED"} against ${baseUrl} in ${report.durationMs} ms${notRun ? ` (${notRun} check(s) not run)` : ""}:`];
    if (report.problem) out.push(`  the gate could not start: ${report.problem}`);
    out.push(...lines);
    if (report.leftovers.length > 0) {
        out.push("  data this gate run left in the app (it offers no way to remove it; smoke data, marked as such):", ...report.leftovers.map((l) => `    - ${l}`));
    }
    return out.join("\n");
}
