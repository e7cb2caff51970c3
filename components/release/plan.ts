import * as fs from "fs";
import * as path from "path";
import { GatehouseConfig } from "../config";
import { checklistGapLines } from "./checklistGaps";
import { describeGateChecks } from "./gateBinding";
import { describeDefect } from "./gateDefects";
import { commandMigrationLines } from "./revision";
import { describeExpectations, readExpectations } from "./verify";
import { LintFinding, blockingFindings, lintMigrations } from "./lint";
import { compareVersions } from "./migrationFiles";
import { FileState, migrationStatus } from "./runner";

/** What a reviewer reads in `pulumi preview`: the release in a page. */
export interface ReleasePlan {
    text: string;
    /** The steps as a Mermaid graph (also a stack output). */
    mermaid: string;
    findings: LintFinding[];
    /** This update returns to a release promoted before (local: the ledger; AWS: the promotion history). */
    rollback: boolean;
    /** Migration files this update applies (runner mode, where the database answered); 0 in command mode. */
    pending: number;
    /** Local rollback: the snapshot its release took when it was promoted (the ledger's). */
    rollbackSnapshot?: string;
}

export class DestructiveMigrationError extends Error {
    constructor(readonly findings: LintFinding[]) {
        super(
            `release blocked: ${findings.length} destructive operation(s) in migrations not marked as reviewed:\n` +
                findings.map((f) => `  - ${f.file}:${f.line}: ${f.operation}: ${f.risk}`).join("\n") +
                `\nIf this is intended, have it reviewed and add the line "-- gatehouse:reviewed" to the file, then preview again.`,
        );
        this.name = "DestructiveMigrationError";
    }
}

/**
 * Builds the release plan and lints the migrations it manages (every file
 * newer than migrationBaseline; the reviewed marker stays in the file once a
 * person accepted it). Throws when a destructive operation is unreviewed, so
 * `pulumi preview` fails before anything is created.
 */
/** What the AWS release history says about this update (components/aws/releaseLedger.ts reads it). */
export interface AwsRollback {
    /** This release id was promoted before: the update flips traffic back instead of releasing. */
    returning: boolean;
    /** The plan's lines saying so. */
    lines: string[];
}

export async function planRelease(config: GatehouseConfig, databaseUrl?: string, awsRollback?: AwsRollback): Promise<ReleasePlan> {
    const steps = config.releaseSteps;
    const migrations = steps.migrations;
    // Where the deployer reaches the database (local target), the plan knows which files are pending,
    // and only those are linted: an applied file cannot be reviewed any more.
    const states = migrations.mode === "runner" && databaseUrl ? await fileStates(databaseUrl, migrations.dir, config.projectDir) : undefined;
    const files = migrations.mode === "runner"
        ? migrations.files.filter(
              (f) => (migrations.baseline === undefined || compareVersions(f.version, migrations.baseline) > 0) && (!states || states.get(f.file) !== "applied"),
          )
        : [];
    const findings = await lintMigrations(files);
    const blocking = blockingFindings(findings, files);
    if (blocking.length > 0) throw new DestructiveMigrationError(blocking);

    const order = awsRollback?.returning ? rollbackSteps(config) : releaseSteps(config);
    const lines: string[] = [`Release ${config.release} of ${config.app} (${config.target}, ${config.environment})`];
    if (awsRollback) lines.push(...awsRollback.lines);
    const returning = config.target === "local" ? releasedBefore(config) : undefined;
    if (returning) {
        const migrating = files.length > 0 ? ` EXCEPT the ${files.length} pending file(s) below: a rollback never reverts a migration` : "";
        lines.push(
            "",
            `ROLLBACK: release ${config.release} was promoted before (${returning.promotedAt}).`,
            returning.live === config.release
                ? `  The edge still serves it (what was released after it never took traffic): nothing users see changes.`
                : `  The edge serves release ${returning.live} now; this update switches it back to the slot that runs ${config.release} (no restart while that slot still runs it).`,
            migrations.mode === "command"
                ? `  It reuses release ${config.release}'s snapshot; neither the rehearsal nor the migration command runs (the database stays at its newest revision).`
                : `  It reuses release ${config.release}'s snapshot and runs no migration${migrating}.`,
            files.length === 0
                ? `  Nothing to migrate: no snapshot, rehearsal or schema verification runs; the gates and the bake window are skipped for a slot whose process passed them when ${config.release} was promoted (a slot started anew is gated).`
                : `  Pending files: the snapshot, rehearsal and schema verification run as in a release.`,
        );
    }
    if (config.productionOverrides.length > 0) {
        lines.push("", "PRODUCTION RULES OVERRIDDEN (productionOverrides, deliberate, for an incident):");
        for (const o of config.productionOverrides) lines.push(`  ${o.rule} (${o.where})`, `    reason: ${o.reason}`);
    }
    if (config.knownDefects.length > 0) {
        lines.push("", "KNOWN APP DEFECTS (gateKnownDefects, declared: the gate reports each instead of failing on it; any other failure of the check still fails it):");
        for (const d of config.knownDefects) lines.push(`  ${d.check} -> ${describeDefect(d)}`, `    reason: ${d.reason}`);
    }
    lines.push("", "Images:");
    if (config.target === "aws") {
        lines.push(`  live slot after this release: ${config.aws.liveSlot}`);
        for (const [slot, image] of Object.entries(config.aws.backendImages)) lines.push(`  backend ${slot}: ${image}`);
        if (config.services.frontend.enabled) for (const [slot, image] of Object.entries(config.aws.frontendImages)) lines.push(`  frontend ${slot}: ${image}`);
    } else {
        lines.push(`  local app: ${config.local.appCommand}`);
        if (config.services.frontend.enabled) lines.push(`  local frontend: ${config.local.frontend.command} (build ${steps.frontendBuildId})`);
    }
    if (config.services.worker.enabled) lines.push(`  worker: ${config.target === "local" ? config.local.workerCommand || "(localWorkerCommand is empty: no worker runs here)" : config.services.worker.image}`);
    lines.push("", "Migrations:");
    if (migrations.mode === "runner") {
        if (migrations.baseline) lines.push(`  baseline: up to ${migrations.baseline} applied by hand (recorded, not run)`);
        for (const f of migrations.files) {
            if (migrations.baseline && compareVersions(f.version, migrations.baseline) <= 0) continue;
            const state = states ? `  ${states.get(f.file) ?? "pending"}` : "";
            lines.push(`  ${f.file}  sha256 ${f.sha256.slice(0, 16)}${state}${f.noTransaction ? "  (outside a transaction)" : ""}${f.reviewed ? "  (reviewed)" : ""}`);
        }
        lines.push(
            states
                ? `  ${files.length} pending`
                : "  (database not reachable from here: pulumi preview shows the files not yet applied as `create` steps)",
        );
    } else if (migrations.mode === "command") {
        lines.push(...commandMigrationLines(migrations, config.target));
    } else {
        lines.push("  none");
    }
    for (const f of findings) lines.push(`  lint ${f.destructive ? "DESTRUCTIVE" : "warning"} ${f.file}:${f.line}: ${f.operation}: ${f.risk}`);
    lines.push("", "Schema expectations:");
    if (steps.expectationsFile) {
        lines.push(...describeExpectations(readExpectations(steps.expectationsFile), path.relative(config.projectDir, steps.expectationsFile)));
    } else {
        lines.push("  none");
    }
    lines.push("", `Health gate (deadline ${steps.gate.deadlineSeconds ?? 60} s, idempotent checks retried every ${steps.gate.intervalMs ?? 250} ms, the rest sent once):`);
    lines.push(...describeGateChecks(steps.gate));
    if (config.services.frontend.enabled) {
        lines.push("", `Frontend gate (deadline ${steps.frontendGate.deadlineSeconds ?? 60} s; the page must be build ${steps.frontendBuildId}):`);
        lines.push(...describeGateChecks(steps.frontendGate));
    }
    lines.push(...checklistGapLines(config));
    lines.push("", "Steps, in order:", ...order.map((s, i) => `  ${i + 1}. ${s}`));

    const ids = order.map((_, i) => `s${i + 1}`);
    const mermaid = ["graph TD", ...order.map((s, i) => `  ${ids[i]}["${s.replace(/"/g, "'")}"]`), ...ids.slice(1).map((id, i) => `  ${ids[i]} --> ${id}`)].join("\n");
    return {
        text: lines.join("\n"),
        mermaid,
        findings,
        rollback: Boolean(returning) || Boolean(awsRollback?.returning),
        pending: migrations.mode === "runner" ? (states ? files.length : migrations.files.length) : 0,
        rollbackSnapshot: returning?.snapshot,
    };
}

/** A return to a release already promoted on AWS: no snapshot, migration, verification or gate; the listener flips. */
function rollbackSteps(config: GatehouseConfig): string[] {
    const out = [`backend ${config.aws.liveSlot} slot (kept as it is while it still runs the release)`, "backend promotion (listener switch)"];
    if (config.services.frontend.enabled) out.push("frontend promotion (listener switch)");
    return out;
}

function releaseSteps(config: GatehouseConfig): string[] {
    const steps = config.releaseSteps;
    const m = steps.migrations;
    const out: string[] = [config.target === "aws" ? "RDS snapshot (kept)" : "pg_dump snapshot (verified)"];
    if (config.target === "local" && steps.rehearsal && m.mode !== "none") {
        out.push(m.mode === "command" && m.downCommand ? "rehearsal on a scratch copy, with the round trip (upgrade, downgrade one step, upgrade; schemas compared)" : "rehearsal on a scratch copy");
    }
    if (config.target === "aws" && steps.rehearsal && m.mode !== "none") {
        out.push(`rehearsal on a scratch RDS instance restored from the snapshot${m.mode === "command" && m.downCommand ? ", with the round trip (upgrade, downgrade one step, upgrade)" : ""} (deleted afterwards)`);
    }
    if (m.mode === "runner") out.push(...m.files.filter((f) => !m.baseline || compareVersions(f.version, m.baseline) > 0).map((f) => `migration ${f.file}`));
    if (m.mode === "command") out.push(`migration command, then revision check (${m.head})`);
    if (steps.expectationsFile) out.push("schema verification");
    if (config.target === "aws") {
        out.push(`backend ${config.aws.liveSlot} slot`, "backend health gate", "backend promotion (listener switch)");
        if (config.services.frontend.enabled) out.push(`frontend ${config.aws.liveSlot} slot`, "frontend health gate", "frontend promotion (listener switch)");
        if (steps.bakeSeconds > 0) out.push(`bake window: the live slots' alarms watched for ${steps.bakeSeconds} s (one firing switches back and fails the update)`);
        if (config.services.worker.enabled) out.push(`worker/scheduler (the previous one runs until the new one is healthy${config.services.worker.healthCommand ? ": workerHealthCommand" : ""})`);
    } else {
        const frontend = config.services.frontend.enabled;
        const beside = steps.expectationsFile ? "beside the schema verification; " : "";
        out.push(frontend ? `deploy on the idle slots (backend and frontend, ${beside}their edges keep serving the live ones)` : `deploy on the idle slot (${beside}the edge keeps serving the live one)`);
        out.push(frontend ? "health gates on the slots' own addresses (the backend's smoke checks, the frontend's page)" : "health gate on the slot's own address");
        out.push(`edge switch${frontend ? "es, backend and frontend at once" : ""}${steps.bakeSeconds > 0 ? `, each watched for the ${steps.bakeSeconds} s bake window` : ""}`);
        if (config.services.worker.enabled && config.local.workerCommand) out.push(`worker/scheduler (the previous one runs until the new one is alive${config.services.worker.healthCommand ? ": workerHealthCommand" : ""})`);
        out.push("promotion recorded (ledger)");
    }
    return out;
}

/**
 * When this release was promoted before and another release was deployed or
 * promoted after it (the ledger of promotions and the slots' deploy log, both
 * in .gatehouse/<stack>/), this update returns to it: a rollback.
 */
function releasedBefore(config: GatehouseConfig): { promotedAt: string; live: string; snapshot?: string } | undefined {
    const dir = path.join(config.projectDir, ".gatehouse", config.stack);
    const read = (file: string) =>
        fs.existsSync(path.join(dir, file))
            ? fs.readFileSync(path.join(dir, file), "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as { release: string; promotedAt?: string; deployedAt?: string; snapshot?: string | null })
            : [];
    const promoted = read("releases.jsonl");
    const earlier = promoted.filter((e) => e.release === config.release).pop();
    if (!earlier) return undefined;
    const later = [...promoted, ...read("deploys.jsonl")].some((e) => e.release !== config.release && (e.promotedAt ?? e.deployedAt ?? "") > earlier.promotedAt!);
    return later ? { promotedAt: earlier.promotedAt!, live: promoted[promoted.length - 1].release, snapshot: earlier.snapshot ?? undefined } : undefined;
}

/** Each file's state in the database, or undefined when the database does not answer. */
async function fileStates(databaseUrl: string, dir: string, projectDir: string): Promise<Map<string, FileState> | undefined> {
    try {
        const rows = await migrationStatus({ databaseUrl, dir: path.resolve(projectDir, dir), connectTimeoutMs: 2000 });
        return new Map(rows.map((r) => [r.file, r.state]));
    } catch {
        return undefined;
    }
}
