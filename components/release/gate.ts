// The health gate's check loop. It runs inside the serialized dynamic
// provider, so it and every module it imports use Node built-ins only: nothing
// to resolve when the provider host loads it from state. The spec's shape is
// declared once, as a zod schema, in gateSchema.ts; only its types come from there.
import { conditionHolds, describeCondition, lacksReason, missingFeatures } from "./gateConditions";
import { judge } from "./gateExpect";
import { describeDefect, isDeclaredDefect } from "./gateDefects";
import { fetchAnswer, probeInternet } from "./gateHttp";
import type { Attempt, CheckReport, CheckResult, GateReport } from "./gateReport";
import type { GateCheck, GateSpec } from "./gateSchema";
import { fillOrName, resolveVars, runDate, substitute, variablesIn } from "./gateVars";
import { jsonPathAll, parseJson } from "./jsonPath";
import { excerpt, maskReport } from "./redaction";

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

const DEFAULT_PROBE = "https://www.gstatic.com/generate_204";

/**
 * An app that gives the same wrong answer (status and body) this many times
 * in a row is up and means it: the check stops there instead of retrying until
 * the deadline. An app that is starting or flapping keeps being retried.
 */
const IDENTICAL_FAILURES = 3;

// What an edge or a load balancer answers while the app behind it is not there yet.
const EDGE_STATUSES = [502, 503, 504];

/**
 * Runs the checks in order against baseUrl. Idempotent checks (GET, HEAD,
 * OPTIONS unless the spec says otherwise) are retried every intervalMs until
 * they pass `repeat` times in a row or the deadline passes: the leading ones
 * wait for the app. Every other check is sent exactly once, because a retry
 * could act twice (a second registration, a second import). The first
 * failure ends the gate, unless the stack declared it as the app's known
 * defect (exactly that status, that text in the answer).
 */
export async function runGate(baseUrl: string, spec: GateSpec, options: GateRunOptions = {}): Promise<GateReport> {
    const started = Date.now();
    const deadline = started + (spec.deadlineSeconds ?? 60) * 1000;
    const secretValues: string[] = [];
    const vars: Record<string, string> = {
        run: options.run ?? `${started.toString(36)}${Math.random().toString(36).slice(2, 6)}`,
        now: new Date(started).toISOString().replace(/\.\d{3}Z$/, "Z"),
        runDate: runDate(started),
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

    for (const [i, check] of spec.checks.entries()) {
        const report = reports[i];
        const skip = await whyNotRun(spec, i, reports, vars, () => (internet ??= probeInternet(spec.internetProbe ?? DEFAULT_PROBE, options.online)));
        if (skip) {
            report.result = skip.result;
            report.reason = skip.reason;
            continue;
        }
        const { passed, answered } = isIdempotent(check)
            ? await untilPasses(baseUrl, spec, check, report, vars, secretValues, deadline)
            : await exactlyOnce(baseUrl, spec, check, report, vars, secretValues, deadline);
        const defect = spec.stack?.knownDefects?.find((d) => d.check === check.name);
        if (passed) {
            report.result = "passed";
            if (defect) report.note = `the declared known defect (${describeDefect(defect)}) no longer reproduces: remove it from gateKnownDefects`;
            recordData(check, vars, leftovers);
            continue;
        }
        // A request sent once may have acted before it answered wrongly: say what it may have left.
        if (!isIdempotent(check) && check.creates !== undefined && report.attempts > 0) leftovers.push(`maybe ${fillOrName(check.creates, vars)} (the check failed after sending)`);
        if (defect && isDeclaredDefect(defect, answered)) {
            // Acknowledged in the stack: reported with the real answer, and the gate goes on.
            report.result = "known defect";
            report.reason = `KNOWN DEFECT (declared: ${defect.reason})`;
            continue;
        }
        report.result = "failed";
        return finish(false);
    }
    return finish(true);
}

/** GET, HEAD and OPTIONS are idempotent unless the check says otherwise; everything else is sent once. */
export function isIdempotent(check: Pick<GateCheck, "idempotent" | "request">): boolean {
    return check.idempotent ?? ["GET", "HEAD", "OPTIONS"].includes(check.request.method ?? "GET");
}

/** Skipped by `when`, needs a feature the deployed version lacks, needs a value an earlier check did not capture, or needs the internet. */
async function whyNotRun(
    spec: GateSpec,
    index: number,
    reports: CheckReport[],
    vars: Record<string, string>,
    internet: () => Promise<{ ok: boolean; detail: string }>,
): Promise<{ result: CheckResult; reason: string } | undefined> {
    const check = spec.checks[index];
    if (check.when !== undefined && !conditionHolds(spec, check.when)) {
        return { result: "skipped", reason: `when ${describeCondition(check.when)} does not hold for this stack` };
    }
    const lacking = missingFeatures(spec, check);
    if (lacking.length > 0) return { result: "not run", reason: lacksReason(lacking) };
    const own = Object.keys(check.capture ?? {});
    const missing = variablesIn([check.request, check.expect, check.creates, check.removes]).filter((name) => !(name in vars) && !own.includes(name));
    if (missing.length > 0) return { result: "not run", reason: `needs ${missing.map((name) => whoCaptures(spec, index, reports, name)).join("; ")}` };
    if (check.external) {
        const route = await internet();
        if (!route.ok) return { result: "not run", reason: `external: this machine has no route to the internet (${route.detail})` };
    }
    return undefined;
}

/** "${pack_id}, which "generate pack" would have captured (it is a known defect)": the missing variable and the check that did not give it. */
function whoCaptures(spec: GateSpec, index: number, reports: CheckReport[], name: string): string {
    const by = spec.checks.findLastIndex((c, j) => j < index && c.capture !== undefined && name in c.capture);
    if (by < 0) return `\${${name}}, which no earlier check captured`;
    const state = { skipped: "was skipped", "not run": "was not run", "known defect": "is a known defect", failed: "failed", passed: "passed" }[reports[by].result];
    return `\${${name}}, which "${spec.checks[by].name}" would have captured (it ${state})`;
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
): Promise<Verdict> {
    const needed = check.repeat ?? 1;
    const interval = spec.intervalMs ?? 250;
    const perRequest = check.timeoutMs ?? 5000;
    let previous: string | undefined;
    let identical = 0;
    let answered: Answered | undefined;
    while (report.passes < needed) {
        const remaining = deadline - Date.now();
        if (remaining <= 0) return { passed: false, answered };
        const timeout = Math.min(perRequest, remaining);
        const { attempt, captured, answer } = await attemptCheck(baseUrl, check, spec.headers ?? {}, vars, secretValues, timeout);
        report.attempts++;
        answered = answer ?? answered;
        // An attempt the gate's deadline cut short says nothing about the app; the
        // report keeps the last complete one (status, body) when there is one.
        const cutShort = timeout < perRequest && attempt.error?.startsWith("timed out");
        if (!cutShort || report.last === undefined) report.last = attempt;
        if (attempt.failure === undefined && attempt.error === undefined) {
            report.passes++;
            Object.assign(vars, captured);
            [previous, identical] = [undefined, 0];
        } else {
            report.passes = 0;
            const settled = answer !== undefined && !EDGE_STATUSES.includes(answer.status) ? `${answer.status}\n${answer.text}` : undefined;
            identical = settled !== undefined && settled === previous ? identical + 1 : settled !== undefined ? 1 : 0;
            previous = settled;
            if (identical >= IDENTICAL_FAILURES) {
                report.reason = `stopped after ${IDENTICAL_FAILURES} identical answers in a row (status ${attempt.status}, the same body): the app answers, and retrying until the deadline would not change it`;
                return { passed: false, answered };
            }
            await sleep(Math.min(interval, Math.max(0, deadline - Date.now())));
        }
    }
    return { passed: true, answered };
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
): Promise<Verdict> {
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
        report.reason = "the deadline passed before it could be sent";
        return { passed: false };
    }
    const { attempt, captured, answer } = await attemptCheck(baseUrl, check, spec.headers ?? {}, vars, secretValues, Math.min(check.timeoutMs ?? 5000, remaining));
    report.attempts = 1;
    report.last = attempt;
    if (attempt.failure !== undefined || attempt.error !== undefined) {
        report.reason = `not retried: ${check.request.method} is not idempotent, a second attempt could act twice`;
        return { passed: false, answered: answer };
    }
    report.passes = 1;
    Object.assign(vars, captured);
    return { passed: true, answered: answer };
}

/** What the app answered (no connection error, no timeout): its status and whole body. */
interface Answered {
    status: number;
    text: string;
}

/** Whether a check passed, and the last answer the app gave it (to compare with a declared defect). */
interface Verdict {
    passed: boolean;
    answered?: Answered;
}

/** One request: the answer judged against the check, and what it captures when it passes. */
async function attemptCheck(
    baseUrl: string,
    check: GateCheck,
    commonHeaders: Record<string, string>,
    vars: Record<string, string>,
    secretValues: string[],
    timeoutMs: number,
): Promise<{ attempt: Attempt; captured: Record<string, string>; answer?: Answered }> {
    const { status, text, error, latencyMs } = await fetchAnswer(baseUrl, check, commonHeaders, vars, timeoutMs);
    if (error !== undefined || status === undefined) return { attempt: { status, latencyMs, error, bodyExcerpt: excerpt(text, check) }, captured: {} };
    const answer = { status, text };
    const failure = judge(check, status, text, vars);
    const captured: Record<string, string> = {};
    if (failure === undefined) {
        for (const [name, spec] of Object.entries(check.capture ?? {})) {
            const { path, secret } = typeof spec === "string" ? { path: spec, secret: false } : spec;
            const [value] = jsonPathAll(parseJson(text), path);
            if (value === undefined) {
                return { attempt: { status, latencyMs, bodyExcerpt: excerpt(text, check), failure: `capture ${name}: ${path} not found in the body` }, captured: {}, answer };
            }
            captured[name] = typeof value === "string" ? value : JSON.stringify(value);
            if (secret) secretValues.push(captured[name]);
        }
    }
    return { attempt: { status, latencyMs, bodyExcerpt: excerpt(text, check), failure }, captured, answer };
}

/** Notes what a passed check created, and strikes what it removed. */
function recordData(check: GateCheck, vars: Record<string, string>, leftovers: string[]): void {
    if (check.creates !== undefined) leftovers.push(substitute(check.creates, vars));
    if (check.removes !== undefined) {
        const at = leftovers.indexOf(substitute(check.removes, vars));
        if (at >= 0) leftovers.splice(at, 1);
    }
}

function sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
}
