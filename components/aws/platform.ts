import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import { GatehouseConfig, appDatabaseUrl } from "../config";
import { BlueGreenService } from "./blueGreenService";
import { Cache } from "./cache";
import { Database } from "./database";
import { Monitoring } from "./monitoring";
import { Network } from "./network";
import { OneOffTask } from "./oneOffTask";
import { ReleaseHistory, ledgerParameter, releaseKind } from "./releaseLedger";
import { SecretStore } from "./secretStore";
import { appTaskDefinition, executionRole } from "./taskDefinition";

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
        const { returning } = releaseKind(config, args.history);
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
        const snapshot = new aws.rds.Snapshot(
            `${name}-snapshot-${config.release}`,
            { dbInstanceIdentifier: database.instance.identifier, dbSnapshotIdentifier: snapshotIdentifier },
            { parent: this, retainOnDelete: true, ...(returning ? { import: snapshotIdentifier } : {}) },
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
        let promoted: pulumi.Resource[] = [backendService.promotion];
        const serviceNames = [`${name}-backend-blue`, `${name}-backend-green`];
        const live = aws_.liveSlot;
        const slotAlarms = [...backendService.alarms[live]];
        const liveTargetGroups = [{ service: `${name}-backend`, suffix: backendService.targetGroups[live].arnSuffix }];

        if (frontend.enabled) {
            const frontendService = new BlueGreenService(
                `${name}-frontend`,
                {
                    ...shared,
                    securityGroupId: sg.frontend.id,
                    port: frontend.port!,
                    healthPath: frontend.healthPath!,
                    images: aws_.frontendImages,
                    desiredCount: aws_.desiredCount.frontend,
                    // Derived: the frontend calls the backend at the app's public URL.
                    environment: { ...frontend.env, ...(config.apiBaseUrlEnv ? { [config.apiBaseUrlEnv]: this.url } : {}) },
                    secrets: secretsOf(frontend.secretEnv, []),
                    pathPatterns: ["/*"],
                    rulePriority: 100,
                    testPort: TEST_PORTS.frontend,
                    gate: config.releaseSteps.frontendGate,
                    after: promoted,
                },
                child,
            );
            promoted = [frontendService.promotion];
            serviceNames.push(`${name}-frontend-blue`, `${name}-frontend-green`);
            slotAlarms.push(...frontendService.alarms[live]);
            liveTargetGroups.push({ service: `${name}-frontend`, suffix: frontendService.targetGroups[live].arnSuffix });
        }

        if (worker.enabled) {
            const workerSecrets = secretsOf(worker.secretEnv, worker.derivedEnv);
            const role = executionRole(`${name}-worker-exec`, Object.values(workerSecrets), child);
            const task = appTaskDefinition(
                `${name}-worker`,
                { image: worker.image, command: worker.command, environment: worker.env, secrets: workerSecrets, cpu: 256, memory: 512, logGroupName: logs.name, region, executionRoleArn: role.arn },
                { parent: this, dependsOn: promoted },
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
                    deploymentCircuitBreaker: { enable: true, rollback: true },
                    waitForSteadyState: true,
                },
                { parent: this, dependsOn: promoted },
            );
            serviceNames.push(`${name}-worker`);
        }

        new Monitoring(
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
        // Written only after every production rule switched: a release whose gate
        // failed never enters the history, so returning to it is not a rollback.
        ledgerParameter(name, config, args.history, promoted, this);
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
        if (migrations.mode === "runner") {
            const baseline = migrations.baseline ? ["--baseline", migrations.baseline] : [];
            for (const file of migrations.files) {
                // Keyed by checksum, like the local target: preview lists only pending files.
                previous = [task(`migration-${file.version}-${file.name}`, `migration ${file.file}`, runner!, runnerCommand("migrate", ["up", "--dir", migrations.dir, "--through-file", file.file, ...baseline]), [file.sha256], previous)];
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
            previous = [task("revision-before", "reading the revision before migrating", runner!, runnerCommand("migration-revision", ["current", ...where]), [config.release], previous)];
            previous = [task("migrate", `migration command \`${migrations.command}\``, app, ["/bin/sh", "-c", script], [config.release], previous)];
            previous = [task("revision-check", `revision check (expected ${migrations.head})`, runner!, runnerCommand("migration-revision", ["check", "--head", migrations.head, ...where]), [config.release], previous)];
        }
        if (steps.expectationsFile) {
            const expect = path.relative(config.projectDir, steps.expectationsFile);
            previous = [task("verify-schema", `schema verification (${expect})`, runner!, runnerCommand("migrate", ["verify", "--expect", expect]), [config.release], previous)];
        }
        return previous;
    }
}

/** The runner image runs Gatehouse's CLIs from the repository root, as the local steps do. */
function runnerCommand(script: string, args: string[]): string[] {
    return ["node", "--liftoff-only", `.gatehouse/build/${script}.js`, ...args];
}

