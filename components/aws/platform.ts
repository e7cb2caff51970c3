import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import { GatehouseConfig, appDatabaseUrl, frontendApiEnv } from "../config";
import { BlueGreenService } from "./blueGreenService";
import { Cache } from "./cache";
import { Database } from "./database";
import { Monitoring } from "./monitoring";
import { Network } from "./network";
import { OneOffTask } from "./oneOffTask";
import { BakeWindow } from "./bakeWindow";
import { AwsRehearsal, RehearsalStep } from "./rehearsal";
import { ReleaseHistory, ledgerParameter, releaseKind } from "./releaseLedger";
import { SecretStore } from "./secretStore";
import { appTaskDefinition, executionRole } from "./taskDefinition";
import { withDerivedEnv } from "../release/healthGate";
import { filesManifest } from "../release/migrationFiles";

export interface AwsPlatformArgs {
    config: GatehouseConfig;
    region: string;
    /** Every earlier promotion (readReleaseHistory): a release id found there is a rollback. */
    history: ReleaseHistory;
}

/** The env var the migration task reads its database URL from (the migrator role's). */
const MIGRATION_URL = "GATEHOUSE_MIGRATION_DATABASE_URL";
/** The migrator's URL in the app's form (databaseUrlScheme), for the app's own migration command. */
const MIGRATION_APP_URL = "GATEHOUSE_MIGRATION_APP_DATABASE_URL";
export const TEST_PORTS = { backend: 8443, frontend: 9443 } as const;

/**
 * Everything the app runs on in production, and one release through it, in
 * order: data layer -> snapshot -> migrations (one-off tasks inside the VPC)
 * -> schema verification -> backend new slot -> gate -> promotion -> frontend
 * new slot -> gate -> promotion -> worker.
 */
export class AwsPlatform extends pulumi.ComponentResource {
    readonly url: string;
    readonly snapshotId: pulumi.Output<string>;
    readonly loadBalancerDns: pulumi.Output<string>;
    readonly alarmTopicArn: pulumi.Output<string>;

    constructor(name: string, args: AwsPlatformArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gatehouse:aws:Platform", name, {}, opts);
        const { config, region } = args;
        const { returning, current } = releaseKind(config, args.history);
        const aws_ = config.aws;
        const child = { parent: this };
        const backend = config.services.backend;
        const frontend = config.services.frontend;
        const worker = config.services.worker;
        this.url = `https://${aws_.publicHostname}`;

        const network = new Network(
            name,
            {
                cidr: aws_.vpcCidr,
                availabilityZones: aws_.availabilityZones,
                ports: { backend: backend.port!, frontend: frontend.enabled ? frontend.port : undefined },
                gateSourceCidrs: aws_.gateSourceCidrs,
                testPorts: { backend: TEST_PORTS.backend, frontend: frontend.enabled ? TEST_PORTS.frontend : undefined },
            },
            child,
        );
        const sg = network.securityGroups;

        // Data layer.
        const database = new Database(
            name,
            {
                name: config.app.replace(/-/g, "_"),
                subnetIds: network.privateSubnetIds,
                securityGroupId: sg.database.id,
                ...aws_.database,
            },
            child,
        );
        const cache = config.redis.enabled
            ? new Cache(name, { subnetIds: network.privateSubnetIds, securityGroupId: sg.cache.id, ...aws_.redis }, child)
            : undefined;

        // Every secret env var, and the derived URLs, as Secrets Manager secrets.
        // The app gets its URL in its own form (postgresql+psycopg:// for SQLAlchemy); Gatehouse's runner keeps postgres://.
        const secretValues: Record<string, pulumi.Input<string>> = { ...config.secrets, [config.databaseUrlEnv]: appDatabaseUrl(config, database.appUrl), [MIGRATION_URL]: database.migrationUrl };
        if (config.releaseSteps.migrations.mode === "command") secretValues[MIGRATION_APP_URL] = appDatabaseUrl(config, database.migrationUrl);
        if (cache) secretValues[config.redis.urlEnv] = cache.url;
        const store = new SecretStore(name, { values: secretValues }, child);
        const secretsOf = (names: string[], derived: string[]) => store.pick([...names, ...derived.filter((d) => d in secretValues)]);

        const cluster = new aws.ecs.Cluster(`${name}-cluster`, { settings: [{ name: "containerInsights", value: "enabled" }] }, child);
        const logs = new aws.cloudwatch.LogGroup(`${name}-logs`, { retentionInDays: 90 }, child);
        const topic = new aws.sns.Topic(`${name}-alarms`, {}, child);
        if (aws_.alertEmail) new aws.sns.TopicSubscription(`${name}-alarms-email`, { topic: topic.arn, protocol: "email", endpoint: aws_.alertEmail }, child);
        this.alarmTopicArn = topic.arn;

        const alb = new aws.lb.LoadBalancer(
            `${name}-alb`,
            { loadBalancerType: "application", internal: false, subnets: network.publicSubnetIds, securityGroups: [sg.loadBalancer.id], dropInvalidHeaderFields: true, idleTimeout: 60 },
            child,
        );
        this.loadBalancerDns = alb.dnsName;
        new aws.lb.Listener(
            `${name}-http`,
            { loadBalancerArn: alb.arn, port: 80, protocol: "HTTP", defaultActions: [{ type: "redirect", redirect: { protocol: "HTTPS", port: "443", statusCode: "HTTP_301" } }] },
            child,
        );
        const https = new aws.lb.Listener(
            `${name}-https`,
            {
                loadBalancerArn: alb.arn,
                port: 443,
                protocol: "HTTPS",
                sslPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06",
                certificateArn: aws_.certificateArn,
                defaultActions: [{ type: "fixed-response", fixedResponse: { contentType: "text/plain", statusCode: "404", messageBody: "not found" } }],
            },
            child,
        );
        // The release: snapshot first, kept when the next release supersedes it.
        // A snapshot id exists once in an account: returning to a release that was
        // promoted before adopts its snapshot (import: the engine reads it, never
        // calls CreateDBSnapshot) instead of declaring a new one, and nothing
        // waits on it.
        const snapshotIdentifier = `${name}-${config.release}`.toLowerCase().replace(/[^a-z0-9-]/g, "-");
        // Taken once the migrator role and its grants exist: the rehearsal's scratch
        // copy logs in as that role, and roles are part of the snapshot.
        const snapshot = new aws.rds.Snapshot(
            `${name}-snapshot-${config.release}`,
            { dbInstanceIdentifier: database.instance.identifier, dbSnapshotIdentifier: snapshotIdentifier },
            { parent: this, retainOnDelete: true, dependsOn: database.migratorReady, ...(returning ? { import: snapshotIdentifier } : {}) },
        );
        this.snapshotId = snapshot.dbSnapshotIdentifier;
        // A rollback runs no migration (the database stays at its newest schema; an
        // old image's `alembic upgrade head` would fail against a newer revision) and
        // re-verifies nothing: the switch waits only for the slot.
        const verified = returning ? [] : this.migrateAndVerify(name, config, region, { cluster, logs, network, store, snapshot, migratorReady: database.migratorReady });

        // What both blue/green services share: the cluster, the load balancer, the release.
        const shared = {
            region,
            vpcId: network.vpcId,
            clusterArn: cluster.arn,
            subnetIds: network.privateSubnetIds,
            liveSlot: aws_.liveSlot,
            logGroupName: logs.name,
            loadBalancerArn: alb.arn,
            certificateArn: aws_.certificateArn,
            productionListenerArn: https.arn,
            publicHostname: aws_.publicHostname,
            release: config.release,
            loadBalancerSuffix: alb.arnSuffix,
            alarmTopicArn: topic.arn,
            returning,
        };
        const backendService = new BlueGreenService(
            `${name}-backend`,
            {
                ...shared,
                securityGroupId: sg.backend.id,
                port: backend.port!,
                healthPath: backend.healthPath!,
                images: aws_.backendImages,
                desiredCount: aws_.desiredCount.backend,
                environment: backend.env,
                secrets: secretsOf(backend.secretEnv, backend.derivedEnv),
                pathPatterns: frontend.enabled ? ["/api/*", backend.healthPath!] : ["/*"],
                rulePriority: 10,
                testPort: TEST_PORTS.backend,
                gate: config.releaseSteps.gate,
                after: verified,
            },
            child,
        );
        const blueGreen = [{ service: `${name}-backend`, slots: backendService }];
        const serviceNames = [`${name}-backend-blue`, `${name}-backend-green`];
        const live = aws_.liveSlot;
        const slotAlarms = [...backendService.alarms[live]];
        const liveTargetGroups = [{ service: `${name}-backend`, suffix: backendService.targetGroups[live].arnSuffix }];

        if (frontend.enabled) {
            // Derived: the frontend calls the backend at the app's public URL.
            const frontendDerived = frontendApiEnv(config, this.url);
            const frontendEnvironment = { ...frontend.env, ...frontendDerived };
            const frontendService = new BlueGreenService(
                `${name}-frontend`,
                {
                    ...shared,
                    securityGroupId: sg.frontend.id,
                    port: frontend.port!,
                    healthPath: frontend.healthPath!,
                    images: aws_.frontendImages,
                    desiredCount: aws_.desiredCount.frontend,
                    environment: frontendEnvironment,
                    secrets: secretsOf(frontend.secretEnv, []),
                    pathPatterns: ["/*"],
                    rulePriority: 100,
                    testPort: TEST_PORTS.frontend,
                    // The page gate compares the served build with the API base URL the slot was given.
                    gate: withDerivedEnv(config.releaseSteps.frontendGate, frontendDerived),
                    // Started beside the backend's new slot and gated by its page there (it needs
                    // nothing of the new backend to show its build, API base URL and mode).
                    after: verified,
                },
                child,
            );
            blueGreen.push({ service: `${name}-frontend`, slots: frontendService });
            serviceNames.push(`${name}-frontend-blue`, `${name}-frontend-green`);
            slotAlarms.push(...frontendService.alarms[live]);
            liveTargetGroups.push({ service: `${name}-frontend`, suffix: frontendService.targetGroups[live].arnSuffix });
        }

        // Nothing users see changes before every gate passed: the backend's rule
        // switches once both gates did, the frontend's right after it.
        let promoted: pulumi.Resource[] = [];
        const ready = blueGreen.flatMap(({ slots }) => slots.ready);
        for (const { slots } of blueGreen) promoted = [slots.promote([...ready, ...promoted])];

        if (worker.enabled) serviceNames.push(`${name}-worker`);
        const monitoring = new Monitoring(
            name,
            {
                topicArn: topic.arn,
                loadBalancerSuffix: alb.arnSuffix,
                clusterName: cluster.name,
                serviceNames,
                databaseId: database.instance.identifier,
                redisNodeIds: cache?.nodeIds,
                region,
                slotAlarms,
                liveTargetGroups,
            },
            child,
        );
        // The bake window: after the last production rule switched, the live slots'
        // own alarms are watched for bakeSeconds; one that fires switches every
        // rule back to the previous release's slot and fails the update. Not on a
        // rollback (it returns to a release that baked when it was promoted, and
        // the slot it would go back to is the one being left), nor when 0.
        const other = live === "blue" ? "green" : "blue";
        const previous = current && current.liveSlot !== live ? { slot: current.liveSlot, release: current.release } : undefined;
        const bakeSeconds = config.releaseSteps.bakeSeconds;
        const settled: pulumi.Resource[] =
            returning || bakeSeconds === 0
                ? promoted
                : [
                      new BakeWindow(
                          `${name}-bake`,
                          {
                              region,
                              release: config.release,
                              bakeSeconds,
                              alarmNames: [...slotAlarms, ...monitoring.latencyAlarms].map((a) => a.name),
                              rules: blueGreen.map(({ service, slots }) =>
                                  pulumi.all([slots.promotion.arn, slots.targetGroups[live].arn, slots.targetGroups[other].arn]).apply(([ruleArn, liveArn, previousArn]) => ({
                                      service,
                                      ruleArn,
                                      liveTargetGroupArn: liveArn,
                                      ...(previous ? { previousTargetGroupArn: previousArn } : {}),
                                  })),
                              ),
                              previous,
                          },
                          { parent: this, dependsOn: promoted },
                      ),
                  ];

        if (worker.enabled) {
            const workerSecrets = secretsOf(worker.secretEnv, worker.derivedEnv);
            const role = executionRole(`${name}-worker-exec`, Object.values(workerSecrets), child);
            const task = appTaskDefinition(
                `${name}-worker`,
                { image: worker.image, command: worker.command, healthCommand: worker.healthCommand || undefined, environment: worker.env, secrets: workerSecrets, cpu: 256, memory: 512, logGroupName: logs.name, region, executionRoleArn: role.arn },
                { parent: this, dependsOn: settled },
            );
            new aws.ecs.Service(
                `${name}-worker`,
                {
                    name: `${name}-worker`,
                    cluster: cluster.arn,
                    taskDefinition: task.arn,
                    desiredCount: aws_.desiredCount.worker,
                    launchType: "FARGATE",
                    networkConfiguration: { subnets: network.privateSubnetIds, securityGroups: [sg.worker.id], assignPublicIp: false },
                    // The worker's gate is the app's own check (workerHealthCommand) as the
                    // container's ECS health check: with minimum 100 % the previous worker
                    // keeps running until the new tasks are HEALTHY, the circuit breaker
                    // rolls a worker that never gets there back to the previous task
                    // definition, and waitForSteadyState fails the update meanwhile. Both
                    // run side by side for a moment: a scheduled notification is still sent
                    // once because the app inserts it under notifications.idempotency_key's
                    // unique constraint before sending (checks/routine.schema.yaml checks it).
                    // Without a health command ECS counts a task 40 s after it is RUNNING.
                    deploymentMinimumHealthyPercent: 100,
                    deploymentMaximumPercent: 200,
                    deploymentCircuitBreaker: { enable: true, rollback: true },
                    waitForSteadyState: true,
                },
                { parent: this, dependsOn: settled },
            );
        }

        // Written only after every production rule switched and baked: a release
        // whose gate or bake failed never enters the history, so returning to it
        // is not a rollback.
        ledgerParameter(name, config, args.history, settled, this);
        this.registerOutputs({ url: this.url, snapshotId: this.snapshotId });
    }

    /** Migrations and schema verification as one-off tasks inside the VPC: the private database is reachable only there. */
    private migrateAndVerify(
        name: string,
        config: GatehouseConfig,
        region: string,
        r: { cluster: aws.ecs.Cluster; logs: aws.cloudwatch.LogGroup; network: Network; store: SecretStore; snapshot: aws.rds.Snapshot; migratorReady: pulumi.Resource[] },
    ): pulumi.Resource[] {
        const steps = config.releaseSteps;
        const migrations = steps.migrations;
        const secrets = { DATABASE_URL: r.store.arns[MIGRATION_URL] };
        const role = executionRole(`${name}-migration-exec`, Object.values(secrets), { parent: this });
        const taskDefinition = (id: string, image: string) =>
            appTaskDefinition(`${name}-${id}`, { image, environment: {}, secrets, cpu: 256, memory: 512, logGroupName: r.logs.name, region, executionRoleArn: role.arn }, { parent: this });
        const runner = config.aws.migrationRunnerImage ? taskDefinition("runner", config.aws.migrationRunnerImage) : undefined;
        const task = (id: string, description: string, definition: aws.ecs.TaskDefinition, command: string[], triggers: string[], after: pulumi.Resource[]) =>
            new OneOffTask(
                `${name}-${id}`,
                {
                    description,
                    region,
                    cluster: r.cluster.arn,
                    taskDefinition: definition.arn,
                    subnets: r.network.privateSubnetIds,
                    securityGroups: [r.network.securityGroups.migration.id],
                    command,
                    triggers,
                    environment: { GATEHOUSE_RELEASE: config.release },
                    logGroup: r.logs.name,
                },
                { parent: this, dependsOn: after },
            );

        // The migrator's URL (its secret) already resolves only after the role and
        // grants exist; naming them here too keeps the order visible in the graph.
        let previous: pulumi.Resource[] = [r.snapshot, ...r.migratorReady];
        const expect = steps.expectationsFile ? path.relative(config.projectDir, steps.expectationsFile) : undefined;
        const verify = expect ? runnerCommand("migrate", ["verify", "--expect", expect]) : undefined;
        const rehearse = (rehearsal: RehearsalStep[]) => {
            // The same commands on a scratch copy of the release snapshot, before the real database.
            if (!steps.rehearsal || rehearsal.length === 0) return;
            if (verify) rehearsal.push({ description: `schema verification (${expect})`, taskDefinition: runner!.arn, command: verify, urlEnv: "DATABASE_URL" });
            previous = [
                new AwsRehearsal(
                    `${name}-rehearsal`,
                    {
                        region,
                        release: config.release,
                        snapshotId: r.snapshot.dbSnapshotIdentifier,
                        scratchPrefix: `${name}-rehearsal`,
                        cluster: r.cluster.arn,
                        subnets: r.network.privateSubnetIds,
                        securityGroups: [r.network.securityGroups.migration.id],
                        logGroup: r.logs.name,
                        steps: rehearsal,
                    },
                    { parent: this, dependsOn: previous },
                ),
            ];
        };
        if (migrations.mode === "runner") {
            const baseline = migrations.baseline ? ["--baseline", migrations.baseline] : [];
            // The runner applies its image's copy of the app's files, and only if they are the ones the plan showed.
            const up = (through?: string) => [
                ...["up", "--dir", RUNNER_MIGRATIONS_DIR, ...baseline],
                ...(through ? ["--through-file", through] : []),
                ...["--manifest", filesManifest(migrations.files, migrations.baseline, through)],
            ];
            rehearse([{ description: "pending migrations", taskDefinition: runner!.arn, command: runnerCommand("migrate", up()), urlEnv: "DATABASE_URL" }]);
            for (const file of migrations.files) {
                // Keyed by checksum, like the local target: preview lists only pending files.
                previous = [task(`migration-${file.version}-${file.name}`, `migration ${file.file}`, runner!, runnerCommand("migrate", up(file.file)), [file.sha256], previous)];
            }
        } else if (migrations.mode === "command") {
            // The app's image runs its own tool with the migrator's URL in the app's env var and form. Its exit code
            // proves nothing (a tool may migrate some other database), so the runner reads the revision before and
            // after from the database itself (components/release/revision.ts). The history goes into the task's log.
            const appSecrets = { [migrations.databaseUrl.env]: r.store.arns[MIGRATION_APP_URL] };
            const appRole = executionRole(`${name}-migrate-exec`, Object.values(appSecrets), { parent: this });
            const app = appTaskDefinition(
                `${name}-migrate`,
                { image: config.aws.backendImages[config.aws.liveSlot], environment: {}, secrets: appSecrets, cpu: 256, memory: 512, logGroupName: r.logs.name, region, executionRoleArn: appRole.arn },
                { parent: this },
            );
            const where = ["--revision-table", migrations.revision.table, "--revision-column", migrations.revision.column];
            const script = migrations.historyCommand ? `${migrations.historyCommand} && ${migrations.command}` : migrations.command;
            const check = runnerCommand("migration-revision", ["check", "--head", migrations.head, ...where]);
            // Where a down command is set the rehearsal also proves the way back, as locally: upgrade; the runner keeps
            // the schema's description (from the catalog: the runner image has no pg_dump); one step down and upgrade
            // again in the app's image; the runner fails the release unless the schema is described the same; then
            // the revision check and schema verification after the round trip.
            const onCopy = (description: string, definition: pulumi.Input<string>, command: string[], urlEnv: string): RehearsalStep => ({ description, taskDefinition: definition, command, urlEnv });
            const back = migrations.downCommand
                ? [
                      onCopy("schema after the upgrade, kept for the round trip", runner!.arn, runnerCommand("migration-revision", ["schema-save"]), "DATABASE_URL"),
                      onCopy("round trip: one step down, upgrade again", app.arn, ["/bin/sh", "-c", `${migrations.downCommand} && ${migrations.command}`], migrations.databaseUrl.env),
                      onCopy("round trip: the schema is the same as after the upgrade", runner!.arn, runnerCommand("migration-revision", ["schema-compare"]), "DATABASE_URL"),
                  ]
                : [];
            rehearse([
                onCopy("migration command", app.arn, ["/bin/sh", "-c", script], migrations.databaseUrl.env),
                ...back,
                onCopy(`revision check (expected ${migrations.head})`, runner!.arn, check, "DATABASE_URL"),
            ]);
            previous = [task("revision-before", "reading the revision before migrating", runner!, runnerCommand("migration-revision", ["current", ...where]), [config.release], previous)];
            previous = [task("migrate", `migration command \`${migrations.command}\``, app, ["/bin/sh", "-c", script], [config.release], previous)];
            previous = [task("revision-check", `revision check (expected ${migrations.head})`, runner!, check, [config.release], previous)];
        }
        if (verify) {
            previous = [task("verify-schema", `schema verification (${expect})`, runner!, verify, [config.release], previous)];
        }
        return previous;
    }
}

/** The runner image runs Gatehouse's CLIs from the repository root, as the local steps do. */
/**
 * Where the runner image holds the app's migration files (components/aws/runner.Dockerfile
 * copies them there; scripts/runner-image.sh stages them from the app's checkout).
 */
export const RUNNER_MIGRATIONS_DIR = "app-migrations";

function runnerCommand(script: string, args: string[]): string[] {
    return ["node", "--liftoff-only", `.gatehouse/build/${script}.js`, ...args];
}

