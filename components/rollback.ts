// Rollback's decisions as pure functions over the stack's update history in
// the shape `pulumi stack history --json` prints (what the Automation API's
// stack.history() returns), so they are tested without a backend.

/** One config value as history records it; `value` is absent for a secret unless secrets were shown. */
export interface HistoryConfigValue {
    value?: string;
    objectValue?: unknown;
    secret: boolean;
}

export interface HistoryEntry {
    version: number;
    kind: string;
    startTime: string | Date;
    message?: string;
    config: Record<string, HistoryConfigValue>;
    result?: string;
}

export class RollbackRefused extends Error {
    constructor(message: string) {
        super(message);
        this.name = "RollbackRefused";
    }
}

/**
 * The update to return to: the one named by `to`, or the last successful
 * update before the current (most recent) one.
 */
export function chooseTarget(history: HistoryEntry[], to?: number): { current: HistoryEntry; target: HistoryEntry } {
    const updates = numbered(history).filter((h) => h.kind === "update").sort((a, b) => b.version - a.version);
    if (updates.length === 0) throw new RollbackRefused("the stack has no update in its history: there is nothing to roll back to");
    const [current] = updates;
    if (current.result === "in-progress") {
        throw new RollbackRefused(`update ${current.version} is still in progress; wait for it (or \`pulumi cancel\`) before rolling back`);
    }
    if (to !== undefined) {
        const target = updates.find((u) => u.version === to);
        if (!target) throw new RollbackRefused(`there is no update ${to} in the stack's history (updates: ${updates.map((u) => u.version).join(", ")})`);
        if (target === current) throw new RollbackRefused(`update ${to} is the current one; name an earlier update`);
        if (target.result !== "succeeded") throw new RollbackRefused(`update ${to} ${target.result ?? "did not finish"}; roll back only to an update that succeeded`);
        return { current, target };
    }
    const target = updates.find((u) => u.version < current.version && u.result === "succeeded");
    if (!target) throw new RollbackRefused(`no successful update before update ${current.version}: there is no known-good config to return to`);
    return { current, target };
}

/**
 * History with version numbers. The file backend (`pulumi login file://`)
 * reports every entry as version 0; it lists them newest first, so they are
 * numbered by position, oldest = 1, as `pulumi stack history` counts them.
 */
function numbered(history: HistoryEntry[]): HistoryEntry[] {
    if (history.some((h) => h.version > 0)) return history;
    return history.map((h, i) => ({ ...h, version: history.length - i }));
}

export interface ConfigChange {
    key: string;
    change: "added" | "removed" | "changed";
    /** Shown values; a secret is never shown. */
    from?: string;
    to?: string;
    secret: boolean;
}

/** What returning from `from` to `to` changes, key by key. Secrets appear as changed, never with values. */
export function configDifference(from: Record<string, HistoryConfigValue>, to: Record<string, HistoryConfigValue>): ConfigChange[] {
    const keys = [...new Set([...Object.keys(from), ...Object.keys(to)])].sort();
    const changes: ConfigChange[] = [];
    for (const key of keys) {
        const a = from[key];
        const b = to[key];
        const secret = Boolean(a?.secret || b?.secret);
        const shown = (v?: HistoryConfigValue) => (v === undefined || secret ? undefined : displayValue(v));
        if (a && !b) changes.push({ key, change: "removed", from: shown(a), secret });
        else if (!a && b) changes.push({ key, change: "added", to: shown(b), secret });
        else if (a && b && comparable(a) !== comparable(b)) changes.push({ key, change: "changed", from: shown(a), to: shown(b), secret });
    }
    return changes;
}

function displayValue(v: HistoryConfigValue): string {
    return v.objectValue !== undefined ? JSON.stringify(v.objectValue) : v.value ?? "";
}

function comparable(v: HistoryConfigValue): string {
    if (v.secret && v.value === undefined) throw new RollbackRefused("the history does not include secret values (read it with secrets shown) so secrets cannot be compared");
    return JSON.stringify(v.objectValue ?? v.value ?? null);
}

/**
 * Refuses when the stack's config has changes the current update did not
 * release: rolling back would silently throw them away.
 */
export function refuseUncommittedChanges(stackConfig: Record<string, HistoryConfigValue>, current: HistoryEntry): void {
    const pending = configDifference(current.config, stackConfig);
    if (pending.length > 0) {
        throw new RollbackRefused(
            `the stack's config has changes not released by update ${current.version} (${pending.map((c) => c.key).join(", ")}); ` +
                "release them with `pulumi up` or revert them with `pulumi config` before rolling back",
        );
    }
}

/** The difference as an operator reads it before confirming. */
export function formatDifference(current: HistoryEntry, target: HistoryEntry, changes: ConfigChange[]): string {
    const lines = [`Roll back from update ${current.version} (${current.result}) to update ${target.version} (succeeded ${new Date(target.startTime).toISOString()}):`];
    if (changes.length === 0) lines.push("  no config difference (the update re-applies the same config)");
    for (const c of changes) {
        if (c.secret) lines.push(`  ~ ${c.key}: (secret ${c.change})`);
        else if (c.change === "changed") lines.push(`  ~ ${c.key}: ${c.from} -> ${c.to}`);
        else if (c.change === "added") lines.push(`  + ${c.key}: ${c.to}`);
        else lines.push(`  - ${c.key}: ${c.from}`);
    }
    return lines.join("\n");
}
