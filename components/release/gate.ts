// The health gate's engine. It runs inside the serialized dynamic provider, so
// it uses Node built-ins only (fetch, AbortSignal): nothing to resolve when the
// provider host loads it from state.

export interface GateCheck {
    name: string;
    request: {
        method?: string;
        path: string;
        headers?: Record<string, string>;
        /** An object is sent as JSON; a string as is. */
        body?: unknown;
    };
    expect: {
        status?: number | number[];
        /** JSON path into the response body -> expected value, or { present: boolean }. */
        json?: Record<string, unknown>;
        /** Substring the raw body must contain. */
        bodyContains?: string;
    };
    /** Variable name -> JSON path; later checks use it as ${name}. */
    capture?: Record<string, string>;
    /** Consecutive passes required; a failure in between starts the count again. @default 1 */
    repeat?: number;
    /** Per-request timeout. @default 5000 */
    timeoutMs?: number;
}

export interface GateSpec {
    /** Whole-gate deadline. @default 60 */
    deadlineSeconds?: number;
    /** Wait between attempts of a failing check. @default 250 */
    intervalMs?: number;
    /** Headers sent with every request (e.g. the smoke-test marker). */
    headers?: Record<string, string>;
    /** Variables available to every check, e.g. a per-release smoke account. */
    vars?: Record<string, string>;
    checks: GateCheck[];
}

export interface Attempt {
    status?: number;
    latencyMs: number;
    bodyExcerpt?: string;
    error?: string;
    /** Why the response did not meet expectations; absent when it did. */
    failure?: string;
}

export interface CheckReport {
    name: string;
    result: "passed" | "failed" | "not run";
    attempts: number;
    passes: number;
    last?: Attempt;
}

export interface GateReport {
    passed: boolean;
    durationMs: number;
    checks: CheckReport[];
}

/**
 * Runs the checks in order against baseUrl until every one passes or the
 * deadline passes. A failing check is retried every intervalMs; `repeat`
 * needs that many consecutive passes.
 */
export async function runGate(baseUrl: string, spec: GateSpec, builtins: Record<string, string> = {}): Promise<GateReport> {
    const started = Date.now();
    // ${run} is unique per gate run, so smoke data a retried gate creates never collides.
    builtins = { run: `${started.toString(36)}${Math.random().toString(36).slice(2, 6)}`, ...builtins };
    const deadline = started + (spec.deadlineSeconds ?? 60) * 1000;
    const interval = spec.intervalMs ?? 250;
    const vars: Record<string, string> = { ...builtins };
    for (const [k, v] of Object.entries(spec.vars ?? {})) vars[k] = substitute(v, vars);
    const reports: CheckReport[] = spec.checks.map((c) => ({ name: c.name, result: "not run", attempts: 0, passes: 0 }));

    for (const [i, check] of spec.checks.entries()) {
        const report = reports[i];
        const needed = check.repeat ?? 1;
        while (report.passes < needed) {
            const remaining = deadline - Date.now();
            if (remaining <= 0) {
                report.result = "failed";
                return { passed: false, durationMs: Date.now() - started, checks: reports };
            }
            const timeout = Math.min(check.timeoutMs ?? 5000, remaining);
            const attempt = await attemptCheck(baseUrl, check, spec.headers ?? {}, vars, timeout);
            report.attempts++;
            // An attempt the gate's deadline cut short says nothing about the app; the
            // report keeps the last complete one (status, body) when there is one.
            const cutShort = timeout < (check.timeoutMs ?? 5000) && attempt.attempt.error?.startsWith("timed out");
            if (!cutShort || report.last === undefined) report.last = attempt.attempt;
            if (attempt.attempt.failure === undefined && attempt.attempt.error === undefined) {
                report.passes++;
                Object.assign(vars, attempt.captured);
            } else {
                report.passes = 0;
                await sleep(Math.min(interval, Math.max(0, deadline - Date.now())));
            }
        }
        report.result = "passed";
    }
    return { passed: true, durationMs: Date.now() - started, checks: reports };
}

async function attemptCheck(
    baseUrl: string,
    check: GateCheck,
    commonHeaders: Record<string, string>,
    vars: Record<string, string>,
    timeoutMs: number,
): Promise<{ attempt: Attempt; captured: Record<string, string> }> {
    const t0 = Date.now();
    let status: number | undefined;
    let text = "";
    try {
        const path = substitute(check.request.path, vars);
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries({ ...commonHeaders, ...(check.request.headers ?? {}) })) headers[k] = substitute(v, vars);
        let body: string | undefined;
        if (check.request.body !== undefined) {
            const filled = substituteDeep(check.request.body, vars);
            body = typeof filled === "string" ? filled : JSON.stringify(filled);
            if (typeof filled !== "string" && !Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) {
                headers["Content-Type"] = "application/json";
            }
        }
        const response = await fetch(new URL(path, baseUrl), {
            method: check.request.method ?? "GET",
            headers,
            body,
            signal: AbortSignal.timeout(timeoutMs),
            redirect: "manual",
        });
        status = response.status;
        text = await response.text();
    } catch (err: any) {
        const reason = err?.name === "TimeoutError" ? `timed out after ${timeoutMs} ms` : describeFetchError(err);
        return { attempt: { status, latencyMs: Date.now() - t0, error: reason, bodyExcerpt: excerpt(text) }, captured: {} };
    }
    const latencyMs = Date.now() - t0;
    const failure = judge(check, status, text, vars);
    const captured: Record<string, string> = {};
    if (failure === undefined) {
        for (const [name, path] of Object.entries(check.capture ?? {})) {
            const value = jsonPath(parseJson(text), path);
            if (value === undefined) {
                return { attempt: { status, latencyMs, bodyExcerpt: excerpt(text), failure: `capture ${name}: ${path} not found in the body` }, captured: {} };
            }
            captured[name] = typeof value === "string" ? value : JSON.stringify(value);
        }
    }
    return { attempt: { status, latencyMs, bodyExcerpt: excerpt(text), failure }, captured };
}

function judge(check: GateCheck, status: number, text: string, vars: Record<string, string>): string | undefined {
    const wanted = check.expect.status === undefined ? [200] : ([] as number[]).concat(check.expect.status);
    if (!wanted.includes(status)) return `status ${status}, expected ${wanted.join(" or ")}`;
    if (check.expect.bodyContains !== undefined && !text.includes(check.expect.bodyContains)) {
        return `body does not contain ${JSON.stringify(check.expect.bodyContains)}`;
    }
    if (check.expect.json) {
        const body = parseJson(text);
        if (body === undefined) return "body is not JSON";
        for (const [path, template] of Object.entries(check.expect.json)) {
            const got = jsonPath(body, path);
            const want = substituteDeep(template, vars);
            if (isPresenceCheck(want)) {
                if ((got !== undefined) !== want.present) return `${path} is ${got === undefined ? "absent" : "present"}, expected ${want.present ? "present" : "absent"}`;
            } else if (JSON.stringify(got) !== JSON.stringify(want)) {
                return `${path} is ${got === undefined ? "absent" : JSON.stringify(got)}, expected ${JSON.stringify(want)}`;
            }
        }
    }
    return undefined;
}

function isPresenceCheck(v: unknown): v is { present: boolean } {
    return typeof v === "object" && v !== null && Object.keys(v).length === 1 && typeof (v as any).present === "boolean";
}

function parseJson(text: string): unknown {
    try {
        return JSON.parse(text);
    } catch {
        return undefined;
    }
}

/**
 * The JSON-path subset the specs use: `$`, `.key`, `["key"]`, `[index]`.
 * Written here because the gate must run with built-ins only inside the
 * serialized provider; filters and wildcards are not needed.
 */
export function jsonPath(value: unknown, path: string): unknown {
    if (!path.startsWith("$")) throw new Error(`JSON path ${path} must start with $`);
    const tokens = path.slice(1).match(/\.[^.[\]]+|\[\d+\]|\["[^"]*"\]/g) ?? [];
    if (tokens.join("") !== path.slice(1)) throw new Error(`unsupported JSON path ${path}`);
    let current: any = value;
    for (const token of tokens) {
        if (current === null || typeof current !== "object") return undefined;
        const key = token.startsWith(".") ? token.slice(1) : token.startsWith('["') ? token.slice(2, -2) : Number(token.slice(1, -1));
        current = current[key as any];
    }
    return current;
}

/** Replaces ${name} with a variable; an unknown name is an error that names it. */
export function substitute(template: string, vars: Record<string, string>): string {
    return template.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
        if (!(name in vars)) throw new Error(`unknown variable \${${name}} (not captured by an earlier check)`);
        return vars[name];
    });
}

function substituteDeep(value: unknown, vars: Record<string, string>): unknown {
    if (typeof value === "string") return substitute(value, vars);
    if (Array.isArray(value)) return value.map((v) => substituteDeep(v, vars));
    if (value && typeof value === "object") {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteDeep(v, vars)]));
    }
    return value;
}

function describeFetchError(err: any): string {
    const cause = err?.cause;
    if (cause?.code) return `${cause.code}${cause.message ? `: ${cause.message}` : ""}`;
    return String(err?.message ?? err);
}

function excerpt(text: string): string | undefined {
    if (!text) return undefined;
    const flat = text.replace(/\s+/g, " ").trim();
    return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
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
        return `  ${c.result === "passed" ? "ok  " : c.result === "failed" ? "FAIL" : "skip"} ${c.name}: ${c.result}` +
            (c.attempts ? ` after ${c.attempts} attempt(s)` : "") + (detail && c.result !== "passed" ? ` — ${detail}` : "");
    });
    const verdict = report.passed ? "passed" : "FAILED";
    return `health gate ${verdict} against ${baseUrl} in ${report.durationMs} ms:\n${lines.join("\n")}`;
}
