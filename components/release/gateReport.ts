// What a gate run found, and how an operator reads it in `pulumi up` output.

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
