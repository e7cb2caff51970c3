// Known, acknowledged defects of the app, declared in the stack
// (gateKnownDefects): a check that fails exactly as declared does not fail
// the gate, and the report says so with the real answer; any other failure of
// it still does. Pure functions: config validation parses the entries, and the
// gate (inside the serialized provider) matches answers against them.

export interface KnownDefect {
    /** The check's name in the stack's gate spec. */
    check: string;
    /** The status the defective answer has. */
    status: number;
    /** Text the defective answer's body contains (e.g. the app's error code). */
    contains: string;
    /** Why it is acknowledged: the app's bug, where, who decided. */
    reason: string;
}

export const KNOWN_DEFECT_FORM = "<check name> -> <status> <text the answer contains>: <reason>";

/**
 * Reads one gateKnownDefects entry, `<check name> -> <status> <text>: <reason>`:
 * the text runs to the first ": ", the reason is the rest.
 */
export function parseKnownDefect(entry: string): { defect: KnownDefect } | { error: string } {
    const arrow = entry.indexOf(" -> ");
    if (arrow <= 0) return { error: `must be "${KNOWN_DEFECT_FORM}": names no check before " -> "` };
    const check = entry.slice(0, arrow).trim();
    const rest = entry.slice(arrow + 4);
    const status = /^([1-5]\d\d)(?: |$)/.exec(rest);
    if (!status) return { error: `must be "${KNOWN_DEFECT_FORM}": names no HTTP status after " -> "` };
    const afterStatus = rest.slice(status[0].length);
    const colon = afterStatus.indexOf(": ");
    const contains = (colon < 0 ? afterStatus.replace(/:$/, "") : afterStatus.slice(0, colon)).trim();
    const reason = colon < 0 ? "" : afterStatus.slice(colon + 2).trim();
    if (!contains) return { error: `must be "${KNOWN_DEFECT_FORM}": names no text the answer contains after the status` };
    if (!reason) return { error: `must be "${KNOWN_DEFECT_FORM}": gives no reason after ": " (the app's bug, where it is, who decided)` };
    return { defect: { check, status: Number(status[1]), contains, reason } };
}

/** The entries that parse; the others are config problems, reported by the validation. */
export function parseKnownDefects(entries: readonly unknown[]): KnownDefect[] {
    return entries.flatMap((e) => {
        const parsed = typeof e === "string" ? parseKnownDefect(e) : undefined;
        return parsed && "defect" in parsed ? [parsed.defect] : [];
    });
}

/** Whether an answer is the declared defect: exactly its status, and its text in the body. */
export function isDeclaredDefect(defect: KnownDefect, answer: { status: number; text: string } | undefined): boolean {
    return answer !== undefined && answer.status === defect.status && answer.text.includes(defect.contains);
}

export function describeDefect(defect: KnownDefect): string {
    return `${defect.status} ${defect.contains}`;
}
