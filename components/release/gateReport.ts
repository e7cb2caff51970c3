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
 * passed / failed; "known defect": it failed exactly as the stack declared
 * (gateKnownDefects), which does not fail the gate; "skipped": its `when` does not hold for this stack;
 * "not run": it could not or need not run here (reason says which).
 */
export type CheckResult = "passed" | "failed" | "known defect" | "skipped" | "not run";

export interface CheckReport {
    name: string;
    result: CheckResult;
    attempts: number;
    passes: number;
    last?: Attempt;
    /** Why it was skipped, not run, or failed the way it did. */
    reason?: string;
    /** Something an operator should act on although it passed (a declared defect that no longer reproduces). */
    note?: string;
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
        const after = c.attempts ? ` after ${c.attempts} attempt(s)` : "";
        // The real answer, beside the reason it was declared.
        if (c.result === "known defect") return `  defect ${c.name}: ${c.reason}${after} — ${detail}`;
        const mark = c.result === "passed" ? "ok  " : c.result === "failed" ? "FAIL" : "skip";
        const why = c.result === "failed" ? [detail, c.reason].filter(Boolean).join("; ") : c.result === "passed" ? c.note ?? "" : c.reason ?? "";
        return `  ${mark} ${c.name}: ${c.result}${after}` + (why ? ` — ${why}` : "");
    });
    const out = [`health gate ${report.passed ? "passed" : "FAILED"} against ${baseUrl} in ${report.durationMs} ms — ${countChecks(report)}:`];
    if (report.problem) out.push(`  the gate could not start: ${report.problem}`);
    out.push(...lines);
    if (report.leftovers.length > 0) {
        out.push("  data this gate run left in the app (it offers no way to remove it; smoke data, marked as such):", ...report.leftovers.map((l) => `    - ${l}`));
    }
    return out.join("\n");
}

/**
 * "7 checks: 3 run, 2 passed, 1 failed, 4 not run": a gate that passed having
 * run 1 of 7 checks says so in its first line. Failed and skipped are named
 * only when there are any; on a failure, "not run" includes every check after it.
 */
export function countChecks(report: Pick<GateReport, "checks">): string {
    const count = (result: CheckResult) => report.checks.filter((c) => c.result === result).length;
    const ran = report.checks.filter((c) => c.result === "passed" || c.result === "failed" || c.result === "known defect").length;
    const parts = [`${ran} run`, `${count("passed")} passed`];
    if (count("failed")) parts.push(`${count("failed")} failed`);
    if (count("known defect")) parts.push(`${count("known defect")} known defect${count("known defect") === 1 ? "" : "s"}`);
    if (count("skipped")) parts.push(`${count("skipped")} skipped`);
    parts.push(`${count("not run")} not run`);
    return `${report.checks.length} check${report.checks.length === 1 ? "" : "s"}: ${parts.join(", ")}`;
}
