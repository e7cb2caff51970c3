import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { GatehouseConfig, appDatabaseUrl, frontendApiEnv } from "../config";
import { HealthGate, withDerivedEnv } from "../release/healthGate";
import { ReleasePipeline, gatehouseCli, lastLine } from "../release/pipeline";
import { promotedBefore } from "./edge";
import { embeddedDatabaseUrl } from "./embeddedPostgres";
import { Host, HostCommand, hostFor } from "./host";

/**
 * The local database's URL as plain text, for the release plan's read-only
 * status query (the program never passes it to a resource in plaintext).
 */
export function localDatabaseUrl(config: GatehouseConfig): string {
    return config.local.externalDatabase
        ? pulumi.runtime.getConfig(`gatehouse:localDatabaseUrl`)!
        : embeddedDatabaseUrl(config.local.postgresPort, config.app);
}

export interface LocalTargetArgs {
    config: GatehouseConfig;
    /** This update returns to a release promoted before (the release plan says so): no migration command runs. */
    rollback?: boolean;
    /** A rollback with nothing to migrate: no snapshot, rehearsal or verification; that release's snapshot (ReleasePipeline). */
    switchOnly?: { snapshotFile: string };
}

/** One HTTP service's slots on this machine: its edge port and state directory. */
interface LocalService {
    role: "backend" | "frontend";
    port: number;
    stateDir: string;
    healthPath: string;
    command: string;
}

/**
 * The whole release on one machine, shaped like production: for each HTTP
 * service (the backend, and the frontend where enabled) an edge on its public
 * port forwards to the live one of two slots (port+1, +2); a release starts
 * on the idle slots, is gated there (the frontend by its page), and only once
 * every gate passed do the edges switch, the backend's first. The
 * previous release keeps running as standby, so returning to the previous
 * config is a switch. The worker follows once the switched services have
 * baked. PostgreSQL from localDatabaseUrl or the embedded one. State for it
 * lives in .gatehouse/<stack>/ (the frontend's and worker's in subdirectories).
 */
export class LocalTarget extends pulumi.ComponentResource {
    readonly pipeline: ReleasePipeline;
    readonly appUrl: string;
    /** The frontend's public local URL, where enabled. */
    readonly frontendUrl: string | undefined;
    readonly stateDir: string;
    private frontendDeploy: HostCommand | undefined;
    private readonly projectDir: string;
    /** GATEHOUSE_GENERATION, read once (see readGeneration). */
    private readonly generation: Record<string, string>;
    /** Where the slots, edges and workers run (localHost); the release pipeline's own steps stay on this machine. */
    private readonly host: Host;

    constructor(name: string, args: LocalTargetArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gatehouse:local:LocalTarget", name, {}, opts);
        const config = args.config;
        this.stateDir = `.gatehouse/${config.stack}`;
        this.projectDir = config.projectDir;
        this.generation = this.readGeneration();
        this.host = hostFor(config.local.host, config.localHostPrivateKey);
        this.appUrl = `http://127.0.0.1:${config.local.appPort}`;
        const databaseUrl = config.localDatabaseUrl ?? pulumi.secret(embeddedDatabaseUrl(config.local.postgresPort, config.app));
        const backend: LocalService = {
            role: "backend",
            port: config.local.appPort,
            stateDir: this.stateDir,
            healthPath: config.services.backend.healthPath ?? "/health",
            command: config.local.appCommand,
        };
        const frontend: LocalService | undefined = config.services.frontend.enabled
            ? { role: "frontend", port: config.local.frontend.port, stateDir: `${this.stateDir}/frontend`, healthPath: config.services.frontend.healthPath ?? "/", command: config.local.frontend.command }
            : undefined;
        this.frontendUrl = frontend ? `http://127.0.0.1:${frontend.port}` : undefined;

        this.pipeline = new ReleasePipeline(
            `${name}-release`,
            {
                release: config.release,
                rollback: args.rollback,
                switchOnly: args.switchOnly,
                databaseUrl,
                snapshotDir: `${this.stateDir}/snapshots`,
                steps: config.releaseSteps,
                deploy: (after) => {
                    const deployed = this.deploy(`${name}-deploy`, config, backend, this.backendEnvironment(config, databaseUrl), after);
                    // Started beside the backend's and gated by its page beside the backend's gate.
                    this.frontendDeploy = frontend ? this.deploy(`${name}-frontend-deploy`, config, frontend, this.frontendEnvironment(config), after) : undefined;
                    // The slot's own address (the local counterpart of AWS's test listener).
                    return {
                        resources: [deployed, ...(this.frontendDeploy ? [this.frontendDeploy] : [])],
                        candidateUrl: this.candidateUrl(deployed),
                        skipGateBecause: deployed.stdout.apply(promotedBefore),
                        liveUrl: this.host.reachableUrl(`${this.appUrl}${backend.healthPath}`),
                    };
                },
                promote: (after, snapshotFile) => this.promote(name, config, { backend, frontend, databaseUrl }, after, snapshotFile),
            },
            { parent: this },
        );
        this.registerOutputs({ appUrl: this.appUrl, frontendUrl: this.frontendUrl });
    }

    /**
     * The address a deploy step printed last (its slot, http://127.0.0.1:<port>
     * on the host), as the gates on this machine reach it. For an SSH host
     * only the host name is rewritten, which is not enough yet: local-app
     * binds its edges to loopback and leaves the slot's address to the app
     * (both usually loopback), so a gate here reaches a remote slot only once
     * local-app learns to bind beyond loopback (a --bind flag) or the gate
     * goes through an SSH tunnel (ssh -L) to the host.
     */
    private candidateUrl(deployed: HostCommand): pulumi.Output<string> {
        return deployed.stdout.apply((stdout) => this.host.reachableUrl(lastLine(stdout)));
    }

    /** The backend's env: the URL in the form the app's driver needs (databaseUrlScheme) and the Redis up:local found, as on AWS. */
    private backendEnvironment(config: GatehouseConfig, databaseUrl: pulumi.Input<string>, role: "backend" | "worker" = "backend"): Record<string, pulumi.Input<string>> {
        const service = config.services[role];
        const environment: Record<string, pulumi.Input<string>> = { ...service.env, [config.databaseUrlEnv]: pulumi.secret(appDatabaseUrl(config, databaseUrl)) };
        if (config.redis.enabled && config.localRedisUrl) environment[config.redis.urlEnv] = config.localRedisUrl;
        for (const secret of service.secretEnv) environment[secret] = config.secrets[secret];
        return { ...environment, ...this.generation };
    }

    /**
     * GATEHOUSE_GENERATION, where `up:local` found the stack's processes stopped
     * (down:local, a reboot) and counted a new start: the state still says
     * "deployed", so the same config would change nothing. In every process's
     * env (its fingerprint changes, so a slot starts anew and is gated) and in
     * every switch step's triggers. Updates, never replacements: replacing a
     * step would run its old delete (local-app stop) after the new start.
     */
    private readGeneration(): Record<string, string> {
        const file = path.join(this.projectDir, this.stateDir, "generation");
        return fs.existsSync(file) ? { GATEHOUSE_GENERATION: fs.readFileSync(file, "utf8").trim() } : {};
    }

    /** The frontend's env: it calls the backend at the backend's public local URL (its edge), as on AWS at the load balancer. */
    private frontendEnvironment(config: GatehouseConfig): Record<string, pulumi.Input<string>> {
        const frontend = config.services.frontend;
        const environment: Record<string, pulumi.Input<string>> = { ...frontend.env, ...frontendApiEnv(config, this.appUrl) };
        for (const secret of frontend.secretEnv) environment[secret] = config.secrets[secret];
        return { ...environment, ...this.generation };
    }

    /**
     * Starts the release on a service's idle slot (its edge keeps serving the
     * live one) and answers with the slot's address, where the gate checks
     * it. No triggers: a new release is an update of this resource (its
     * command changed), so the delete command runs only when the stack is
     * destroyed, never between two releases.
     */
    private deploy(name: string, config: GatehouseConfig, service: LocalService, environment: Record<string, pulumi.Input<string>>, after: pulumi.Resource[]): HostCommand {
        const deploy = pulumi.interpolate`${gatehouseCli("local-app", ["deploy", ...slotArgs(service), "--release", config.release])} --fingerprint ${fingerprint(environment, service.command)} -- ${service.command}`;
        return this.host.command(
            name,
            { create: deploy, update: deploy, delete: gatehouseCli("local-app", ["stop", ...slotArgs(service)]), environment },
            { parent: this, dependsOn: after },
        );
    }

    /**
     * After the gates (the backend's, and the frontend's page gate, which runs
     * beside it): the backend's and the frontend's edges switch to their
     * candidates' slots; each switched service is watched for the bake window
     * (switched back if it turns unhealthy); then the worker; last, the ledger
     * records the release (only a release that got through all of it is in
     * the ledger). Nothing users see changes before both gates passed.
     */
    private promote(
        name: string,
        config: GatehouseConfig,
        services: { backend: LocalService; frontend: LocalService | undefined; databaseUrl: pulumi.Input<string> },
        after: pulumi.Resource[],
        snapshotFile: pulumi.Output<string>,
    ): HostCommand {
        const step = (id: string, create: pulumi.Input<string>, dependsOn: pulumi.Resource[]) =>
            this.host.command(`${name}-${id}`, { create, triggers: [config.release, ...Object.values(this.generation)] }, { parent: this, dependsOn });
        const release = ["--release", config.release];
        const bakeSeconds = config.releaseSteps.bakeSeconds;
        const switchAndBake = (prefix: string, service: LocalService, dependsOn: pulumi.Resource[]): { switched: pulumi.Resource; settled: pulumi.Resource } => {
            const switched = step(`${prefix}switch`, gatehouseCli("local-app", ["switch", ...slotArgs(service), ...release]), dependsOn);
            const settled = bakeSeconds > 0 ? step(`${prefix}bake`, gatehouseCli("local-app", ["bake", ...slotArgs(service), ...release, "--bake-seconds", String(bakeSeconds)]), [switched]) : switched;
            return { switched, settled };
        };

        const gates = [...after];
        if (services.frontend && this.frontendDeploy) {
            gates.push(
                new HealthGate(
                    `${name}-frontend-gate`,
                    {
                        baseUrl: this.candidateUrl(this.frontendDeploy),
                        spec: withDerivedEnv(config.releaseSteps.frontendGate, frontendApiEnv(config, this.appUrl)),
                        release: config.release,
                        skipBecause: this.frontendDeploy.stdout.apply(promotedBefore),
                        liveUrl: this.host.reachableUrl(`${this.frontendUrl}${services.frontend.healthPath}`),
                    },
                    { parent: this, dependsOn: [this.frontendDeploy] },
                ),
            );
        }
        const backend = switchAndBake("", services.backend, gates);
        const settled = [backend.settled];
        // Both edges switch at once: the frontend's gate checked the new page against the backend its edge served
        // then (the previous one), so no order of the two switches shows users a pair no gate has seen.
        if (services.frontend) settled.push(switchAndBake("frontend-", services.frontend, gates).settled);
        // The worker waits for whatever can still send users back to the previous release: the gates and, where
        // there is one, the bake window. Without a bake window nothing after the gates can, so it starts beside the
        // switches (a switch fails only when the candidate died after its gate; the release then fails either way).
        const workerAfter = bakeSeconds > 0 ? [...settled] : gates;
        if (config.services.worker.enabled && config.local.workerCommand) settled.push(this.releaseWorker(name, config, services.databaseUrl, workerAfter));

        const ledger = `${this.stateDir}/releases.jsonl`;
        const promoteCommand = config.local.promoteCommand ? ` -- ${config.local.promoteCommand}` : "";
        // Each live slot is marked promoted first: a rollback to it later needs no gate and no bake.
        const marks = [services.backend, ...(services.frontend ? [services.frontend] : [])].flatMap((s) => ["--mark-slot", s.stateDir]);
        return step("promote", pulumi.interpolate`${gatehouseCli("promote", ["--ledger", ledger, ...release, ...marks])} --snapshot ${snapshotFile} --base-url ${this.appUrl}${promoteCommand}`, settled);
    }

    /**
     * The worker/scheduler, released after the gates (and the bake window): it
     * starts beside the previous worker, which keeps running until the new
     * one shows it is alive (workerHealthCommand), as on AWS.
     */
    private releaseWorker(name: string, config: GatehouseConfig, databaseUrl: pulumi.Input<string>, after: pulumi.Resource[]): HostCommand {
        const environment = this.backendEnvironment(config, databaseUrl, "worker");
        const stateDir = `${this.stateDir}/worker`;
        const health = config.services.worker.healthCommand ? ["--health-command", config.services.worker.healthCommand] : [];
        const start = pulumi.interpolate`${gatehouseCli("local-app", ["worker", "--state-dir", stateDir, "--release", config.release, ...health])} --fingerprint ${fingerprint(environment, config.local.workerCommand)} -- ${config.local.workerCommand}`;
        return this.host.command(
            `${name}-worker`,
            { create: start, update: start, delete: gatehouseCli("local-app", ["stop", "--state-dir", stateDir, "--port", String(config.local.appPort)]), environment },
            { parent: this, dependsOn: after },
        );
    }
}

function slotArgs(service: LocalService): string[] {
    return ["--state-dir", service.stateDir, "--port", String(service.port), "--health-path", service.healthPath];
}

/**
 * Identifies what a slot runs beyond the release id: the start command and
 * the environment. A changed secret or env value is a new deployment even
 * under the same release id; the same config again (a rollback) finds the
 * standby that already runs it. The hash is one-way over values that include
 * secrets, so it is published as plain text on purpose.
 */
function fingerprint(environment: Record<string, pulumi.Input<string>>, appCommand: string): pulumi.Output<string> {
    return pulumi.unsecret(
        pulumi.all(environment).apply((env) => {
            const canonical = JSON.stringify([appCommand, Object.entries(env).sort(([a], [b]) => a.localeCompare(b))]);
            return crypto.createHash("sha256").update(canonical).digest("hex").slice(0, 16);
        }),
    );
}
