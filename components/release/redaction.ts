// What a gate report may show of what it saw: credentials never.
import type { GateReport } from "./gateReport";
import type { GateCheck } from "./gateSchema";
import { jsonPathAll, jsonPathTokens, parseJson, tokenKey } from "./jsonPath";

// Keys whose values are credentials in any API: never shown in a body excerpt.
const SECRET_KEY = /token|password|secret|api[_-]?key|authorization|cookie/i;

/**
 * What the report shows of a body: 200 characters, with the values of
 * credential-like keys and of the check's secret captures replaced.
 */
export function excerpt(text: string, check: GateCheck): string | undefined {
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
    const key = tokenKey(last);
    if ((parent as any)[key] !== undefined) (parent as any)[key] = "***";
}

/** Replaces every secret value wherever the report could show it. */
export function maskReport(report: GateReport, secretValues: string[]): GateReport {
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
