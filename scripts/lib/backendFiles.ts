import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { HistoryEntry, chooseTarget } from "../../components/rollback";

// A local stack's update history and config, read from its file backend's
// files without starting `pulumi`: what `npm run rollback` picks the users'
// early switch from, in milliseconds instead of the seconds a `pulumi` process
// and the Automation API take. The layout is the file backend's (Pulumi's
// pkg/backend/diy: `.pulumi/history/<project>/<stack>/<stack>-<unix ns>.history.json`
// written when an update ends, `.pulumi/locks/<project>/<stack>/` held while one
// runs). Anything unexpected means no early switch, never a guess: the
// rollback then reads `pulumi stack history` as before and switches after it.

/** The update a rollback returns to, as the backend's files say, or why they cannot say. */
export type EarlyTarget = { version: number; config: HistoryEntry["config"] } | { unknown: string };

/**
 * What `chooseTarget` would answer from `pulumi stack history`, read from the
 * files: only for a file backend, with no update running, and with the
 * stack's config file exactly as the current update released it (otherwise
 * the rollback refuses later, and users must not have moved).
 */
export function earlyTarget(options: { backendUrl: string; workDir: string; stack: string; to?: number }): EarlyTarget {
    if (!options.backendUrl.startsWith("file://")) return { unknown: "the backend is not a local file backend" };
    try {
        const root = path.join(options.backendUrl.slice("file://".length), ".pulumi");
        const projectFile = YAML.parse(fs.readFileSync(path.join(options.workDir, "Pulumi.yaml"), "utf8")) ?? {};
        const project = String(projectFile.name ?? "");
        const locks = path.join(root, "locks", project, options.stack);
        if (fs.existsSync(locks) && fs.readdirSync(locks).length > 0) return { unknown: "an update holds the stack's lock" };
        const files = fs.readdirSync(path.join(root, "history", project, options.stack)).filter((f) => f.endsWith(".history.json"));
        const recorded = files
            .map((f) => ({ f, at: BigInt(/-(\d+)\.history\.json$/.exec(f)?.[1] ?? "0") }))
            .sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0))
            .map(({ f }) => JSON.parse(fs.readFileSync(path.join(root, "history", project, options.stack, f), "utf8")) as RecordedUpdate);
        // Numbered as `pulumi stack history` numbers a file backend's entries: by position, newest first.
        const history: HistoryEntry[] = recorded.map((u) => ({ version: 0, kind: u.kind, startTime: new Date(u.startTime * 1000), result: u.result, config: historyConfig(u.config) }));
        const { current, target } = chooseTarget(history, options.to);
        const released = recorded[history.length - current.version].config;
        // What an update of the stack now would run with: Pulumi.yaml's defaults under the stack file's values.
        const stackFile = YAML.parse(fs.readFileSync(path.join(options.workDir, `Pulumi.${options.stack}.yaml`), "utf8"))?.config ?? {};
        const configured: Record<string, unknown> = { ...projectDefaults(project, projectFile.config ?? {}), ...stackFile };
        const changed = [...new Set([...Object.keys(released), ...Object.keys(configured)])].filter((k) => raw(released[k]) !== raw(configured[k]));
        if (changed.length > 0) return { unknown: `the stack's config differs from what update ${current.version} released (${changed.join(", ")})` };
        return { version: target.version, config: target.config };
    } catch (err: any) {
        return { unknown: `the backend's files could not be read as expected (${err.message})` };
    }
}

/** An update as the file backend records it: config values as in the stack file (strings, lists, objects, `{ secure }`). */
interface RecordedUpdate {
    kind: string;
    startTime: number;
    result?: string;
    config: Record<string, unknown>;
}

/** Pulumi.yaml's config defaults, by full key (a key without a namespace is the project's). */
function projectDefaults(project: string, declared: Record<string, unknown>): Record<string, unknown> {
    const defaults: Record<string, unknown> = {};
    for (const [key, declaration] of Object.entries(declared)) {
        const full = key.includes(":") ? key : `${project}:${key}`;
        const isSchema = declaration !== null && typeof declaration === "object" && !Array.isArray(declaration);
        if (!isSchema) defaults[full] = declaration; // the short form: the value is the default
        else if ("default" in declaration) defaults[full] = (declaration as { default: unknown }).default;
    }
    return defaults;
}

function historyConfig(config: Record<string, unknown>): HistoryEntry["config"] {
    return Object.fromEntries(
        Object.entries(config ?? {}).map(([key, v]) => {
            if (isSecure(v)) return [key, { secret: true }];
            if (v !== null && typeof v === "object") return [key, { value: JSON.stringify(v), objectValue: v, secret: false }];
            return [key, { value: String(v), secret: false }];
        }),
    );
}

function isSecure(v: unknown): v is { secure: string } {
    return v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 1 && "secure" in v;
}

/** A value compared as written: a secret by its ciphertext (a re-encrypted equal secret counts as changed, which only means no early switch). */
function raw(v: unknown): string | undefined {
    return v === undefined ? undefined : typeof v === "object" && v !== null ? JSON.stringify(v) : String(v);
}
