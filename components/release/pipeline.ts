import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import { ReleaseSettings } from "../config";
import { CLI_BUILD_DIR, ensureCliBuild } from "./cliBuild";
import { HealthGate } from "./healthGate";
import { localCommand } from "./localCommand";
import { commandMigrationFlags } from "./revision";
import { shellQuote } from "./shell";

/** What the target (local or AWS) does for the deploy step. */
export interface DeployStep {
    /** The resources that put the new version in place; the gate waits for all of them. */
    resources: pulumi.Resource[];
    /** Where the new version answers before it takes traffic. */
    candidateUrl: pulumi.Input<string>;
    /** Why the gate need not run its checks (the candidate was promoted before); "" = run them. */
    skipGateBecause?: pulumi.Input<string>;
    /** Where users get the live version, with its health path: probed when the gate fails (HealthGateArgs.liveUrl). */
    liveUrl?: pulumi.Input<string>;
}

export interface ReleasePipelineArgs {
    /** The release id: keys the snapshot, verification, gate and promotion. */
    release: string;
    /**
     * A return to a release promoted before. In command mode neither the
     * rehearsal nor the app's migration command is declared: the database
     * stays at its newest revision, and an older release's tool may not even
     * know that revision (node-pg-migrate refuses to run with an applied file
     * missing; alembic cannot find the revision). Runner mode needs nothing:
     * each file's step is keyed by its checksum and does not run again.
     */
    rollback?: boolean;
    /**
     * A rollback with nothing to migrate, and the snapshot its release took when
     * it was promoted (from the ledger): no snapshot, rehearsal or schema
     * verification is declared, since nothing in the database changes.
     */
    switchOnly?: { snapshotFile: string };
    /** The database the release migrates. A Pulumi secret. */
    databaseUrl: pulumi.Input<string>;
    /** Where snapshots are kept. */
    snapshotDir: string;
    steps: ReleaseSettings;
    /** Starts the new version where users do not reach it yet, once the migrations ran (schema verification runs beside it). */
    deploy: (after: pulumi.Resource[]) => DeployStep;
    /** Switches traffic to the new version, after the gate. */
    promote: (after: pulumi.Resource[], snapshotFile: pulumi.Output<string>, candidateUrl: pulumi.Input<string>) => pulumi.Resource;
}

/**
 * One release, as ordered resources: snapshot -> rehearsal -> migrations
 * (one resource per file) -> schema verification and, beside it, the deploy
 * to the idle slot -> health gate -> promotion. Each step depends on the ones
 * before, so the first failure stops everything after it, and nothing users
 * see changes before the gate passes.
 */
export class ReleasePipeline extends pulumi.ComponentResource {
    /** Path of this release's snapshot. */
    readonly snapshotFile: pulumi.Output<string>;
    /** Migration files this program manages, in order (preview shows the pending ones as creates). */
    readonly migrationFiles: string[];
    readonly gate: HealthGate;
    readonly promotion: pulumi.Resource;

    constructor(name: string, args: ReleasePipelineArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gatehouse:release:ReleasePipeline", name, {}, opts);
        ensureCliBuild();
        const env = { DATABASE_URL: pulumi.secret(args.databaseUrl) };
        const step = (id: string, create: pulumi.Input<string>, after: pulumi.Resource[], extra: Partial<command.local.CommandArgs> = {}, stepOpts: pulumi.CustomResourceOptions = {}) =>
            localCommand(`${name}-${id}`, { create, environment: env, triggers: [args.release], ...extra }, { parent: this, dependsOn: after, ...stepOpts });

        this.migrationFiles = args.steps.migrations.mode === "runner" ? args.steps.migrations.files.map((f) => f.file) : [];
        let migrated: pulumi.Resource[];
        let verified: pulumi.Resource[];
        if (args.switchOnly) {
            this.snapshotFile = pulumi.output(args.switchOnly.snapshotFile);
            // Runner mode: the applied files' steps stay declared (unchanged, they run nothing), so the
            // next release's preview still lists only what is pending.
            migrated = verified = this.migrate(args, step, undefined, this.snapshotFile, env);
        } else {
            const snapshot = step("snapshot", gatehouseCli("snapshot", ["--out", args.snapshotDir, "--release", args.release, "--keep", String(args.steps.snapshotKeep), "--reuse", ...prepareRehearsalFlags(args)]), []);
            this.snapshotFile = snapshot.stdout.apply(lastLine);
            migrated = this.migrate(args, step, snapshot, this.snapshotFile, env);
            verified = args.steps.expectationsFile
                ? [step("verify-schema", pulumi.interpolate`${gatehouseCli("migrate", ["verify", "--expect", relative(args.steps.expectationsFile)])} --snapshot ${this.snapshotFile}`, migrated)]
                : migrated;
        }

        // The new version starts on its idle slot while the schema is verified: no user reaches
        // that slot before the gate, and the gate waits for both. A failed verification leaves
        // the started candidate idle, as a failed gate does.
        const deployed = args.deploy(migrated);
        this.gate = new HealthGate(
            `${name}-gate`,
            { baseUrl: deployed.candidateUrl, spec: args.steps.gate, release: args.release, skipBecause: deployed.skipGateBecause ?? "", liveUrl: deployed.liveUrl ?? "" },
            { parent: this, dependsOn: [...deployed.resources, ...verified] },
        );
        this.promotion = args.promote([this.gate], this.snapshotFile, deployed.candidateUrl);

        this.registerOutputs({ snapshotFile: this.snapshotFile, migrationFiles: this.migrationFiles });
    }

    private migrate(
        args: ReleasePipelineArgs,
        step: (id: string, create: pulumi.Input<string>, after: pulumi.Resource[], extra?: Partial<command.local.CommandArgs>, stepOpts?: pulumi.CustomResourceOptions) => command.local.Command,
        snapshot: command.local.Command | undefined,
        snapshotArg: pulumi.Output<string>,
        env: Record<string, pulumi.Input<string>>,
    ): pulumi.Resource[] {
        const migrations = args.steps.migrations;
        const start = snapshot ? [snapshot] : [];
        if (migrations.mode === "none") return start;
        if (migrations.mode === "command" && (args.rollback || !snapshot)) return start;
        if (migrations.mode === "command") {
            // Both run the app's command through Gatehouse, which reads the revision back from the database (revision.ts).
            const flags = commandMigrationFlags(migrations);
            const rehearsed = args.steps.rehearsal ? [step("rehearsal", pulumi.interpolate`${gatehouseCli("rehearse", [...flags, "--release", args.release])} --snapshot ${snapshotArg}`, start)] : start;
            return [step("migrate", gatehouseCli("migration-revision", ["run", ...flags]), rehearsed)];
        }
        const baseline = migrations.baseline ? ["--baseline", migrations.baseline] : [];
        let previous: pulumi.Resource[] = start;
        if (args.steps.rehearsal && snapshot) {
            const checksums = migrations.files.map((f) => `${f.file}:${f.sha256}`);
            previous = [
                step("rehearsal", pulumi.interpolate`${gatehouseCli("rehearse", ["--dir", migrations.dir, ...baseline, "--release", args.release])} --snapshot ${snapshotArg}`, start, {
                    triggers: [args.release, ...checksums],
                }),
            ];
        }
        for (const file of migrations.files) {
            // Keyed by the file's checksum, not the release: an applied file's resource
            // stays unchanged in later releases, so preview lists only pending files.
            // The release id rides in the environment, which later releases ignore.
            previous = [
                step(
                    `migration-${file.version}-${file.name}`,
                    gatehouseCli("migrate", ["up", "--dir", migrations.dir, "--through-file", file.file, ...baseline]),
                    previous,
                    { triggers: [file.sha256], environment: { ...env, GATEHOUSE_RELEASE: args.release } },
                    { ignoreChanges: ["environment"] },
                ),
            ];
        }
        return previous;
    }
}

/**
 * What the snapshot step needs to create the rehearsal's scratch database
 * beside its dump (rehearsal.ts prepareScratch): the same test the rehearsal
 * uses to skip, so nothing is created when there is nothing to rehearse. None
 * where no rehearsal follows (rehearsal off, no migrations, a command-mode
 * rollback).
 */
function prepareRehearsalFlags(args: ReleasePipelineArgs): string[] {
    const migrations = args.steps.migrations;
    if (!args.steps.rehearsal || migrations.mode === "none") return [];
    if (migrations.mode === "command") {
        if (args.rollback) return [];
        return ["--prepare-rehearsal", "--head", migrations.head, "--revision-table", migrations.revision.table, "--revision-column", migrations.revision.column];
    }
    return ["--prepare-rehearsal", "--dir", migrations.dir, ...(migrations.baseline ? ["--baseline", migrations.baseline] : [])];
}

/**
 * The command that runs one of Gatehouse's own CLIs (built by ensureCliBuild)
 * from the project directory. --liftoff-only: V8 otherwise optimizes the SQL
 * parser's WebAssembly in the background and holds the exit ~350 ms for it,
 * which a short-lived step never gains back.
 */
export function gatehouseCli(script: string, args: string[]): string {
    return ["node", "--liftoff-only", `${CLI_BUILD_DIR}/${script}.js`, ...args].map(shellQuote).join(" ");
}


function relative(file: string): string {
    return path.relative(path.join(__dirname, "..", ".."), file);
}

export function lastLine(stdout: string | undefined): string {
    const lines = (stdout ?? "").trim().split("\n");
    return lines[lines.length - 1];
}
