import { MAX_BODY_BYTES } from "./gateHttp";
import type { GateCheck } from "./gateSchema";
import { substitute, substituteDeep } from "./gateVars";
import { jsonPathAll, parseJson } from "./jsonPath";

/** Why an answer does not meet the check's expectations (status, bodyContains, json), or undefined when it does. */
export function judge(check: GateCheck, status: number, text: string, vars: Record<string, string>): string | undefined {
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
            // A list: any of them (e.g. [array, "null"], for a Go nil slice).
            const wanted: string[] = ([] as string[]).concat(matcher.arg);
            const actual = got === null ? "null" : Array.isArray(got) ? "array" : typeof got;
            return wanted.includes(actual) ? undefined : `expected ${wanted.map((t) => (t === "null" ? "null" : `${/^[aeiou]/.test(t) ? "an" : "a"} ${t}`)).join(" or ")}`;
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
