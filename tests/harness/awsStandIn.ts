import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import { Answer, RecordingMocks, RegistrationOptions, unwrapSecrets } from "./mocks";
import { EngineState, Executed, executingAnswer } from "./executor";
import { filesManifest, readMigrationDir } from "../../components/release/migrationFiles";
import { RunOptions, RunResult, runStack } from "./program";

// A stand-in for the AWS APIs (and the PostgreSQL roles) a prod stack talks
// to, for the executing harness: the engine's bookkeeping is the executor's
// (EngineState), and what each create, update, import and delete does to the
// account is decided here, by the rules the real services enforce. Each rule
// is named after the AWS behaviour it stands for and says where AWS documents
// it. Only what the prod programs use is modelled; anything else is accepted.

/** A refusal, worded as the service words it, with the rule's name first. */
export class AwsRuleViolation extends Error {
    constructor(readonly rule: string, message: string, readonly docs: string) {
        super(`${rule}: ${message} (${docs})`);
        this.name = "AwsRuleViolation";
    }
}

export const RULES = {
    /** CreateDBSnapshot: a snapshot identifier is unique per account and region. */
    snapshotIdUnique: "DBSnapshotAlreadyExists",
    /** A named resource (ECS service in its cluster, secret, SSM parameter, database role) exists once. */
    nameUnique: "ResourceNameAlreadyExists",
    /** ECS refuses a service whose target group is not attached to a listener or listener rule. */
    targetGroupAttached: "TargetGroupHasNoAssociatedLoadBalancer",
    /** A task does not start while a secret it names has no current (AWSCURRENT) value. */
    secretHasCurrentValue: "ResourceInitializationError.SecretWithoutCurrentValue",
    /** A task that logs in as a database role fails while the role, or its grants, do not exist. */
    databaseRoleExists: "DatabaseRoleDoesNotExist",
    /** DeleteDBInstance is refused while deletion protection is on. */
    deletionProtection: "InvalidParameterCombination.DeletionProtection",
    /** A forward action names exactly one target group. */
    forwardToOneTargetGroup: "ForwardActionTargetGroupCount",
    /** An import reads an existing resource; importing one that does not exist fails. */
    importExisting: "ImportedResourceNotFound",
    /** alembic cannot upgrade a database stamped with a revision its scripts do not know. */
    alembicUnknownRevision: "AlembicCantLocateRevision",
    /** RestoreDBInstanceFromDBSnapshot: the new instance's identifier must not exist. */
    instanceIdUnique: "DBInstanceAlreadyExists",
    /** A snapshot that does not exist cannot be described or restored. */
    snapshotExists: "DBSnapshotNotFound",
    /** DescribeDBInstances/DeleteDBInstance of an identifier that does not exist. */
    instanceExists: "DBInstanceNotFound",
    /** DeleteDBInstance needs SkipFinalSnapshot or a FinalDBSnapshotIdentifier. */
    finalSnapshotChoice: "InvalidParameterCombination.FinalSnapshot",
    /** ModifyRule/DescribeRules of a rule that does not exist. */
    ruleExists: "RuleNotFound",
    /**
     * An alarm is OK, ALARM or INSUFFICIENT_DATA (a new alarm's state until it is
     * evaluated); StateUpdatedTimestamp changes only when the state does.
     */
    alarmStates: "AlarmStateValue",
    /**
     * A service without a load balancer whose essential container has a health
     * check counts a task only once it is HEALTHY; with the circuit breaker and
     * rollback, a deployment whose tasks never get there fails and the service
     * returns to the last deployment that completed, whose tasks kept running
     * (minimumHealthyPercent 100).
     */
    containerHealthGate: "ServiceDeploymentFailed.CircuitBreaker",
} as const;

export const RULE_DOCS: Record<string, string> = {
    [RULES.snapshotIdUnique]: "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBSnapshot.html#API_CreateDBSnapshot_Errors",
    [RULES.nameUnique]:
        "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html (serviceName unique in a cluster); https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html#API_CreateSecret_Errors (ResourceExistsException); https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html#API_PutParameter_Errors (ParameterAlreadyExists); https://www.postgresql.org/docs/current/sql-createrole.html",
    [RULES.targetGroupAttached]: "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/troubleshoot-service-load-balancers.html (\"The target group ... does not have an associated load balancer\")",
    [RULES.secretHasCurrentValue]: "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/resource-initialization-error.html; https://docs.aws.amazon.com/secretsmanager/latest/userguide/whats-in-a-secret.html (AWSCURRENT)",
    [RULES.databaseRoleExists]: "https://www.postgresql.org/docs/current/client-authentication-problems.html (role does not exist); https://www.postgresql.org/docs/current/ddl-priv.html (CREATE on the schema)",
    [RULES.deletionProtection]: "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_DeleteInstance.html#USER_DeletionProtection",
    [RULES.forwardToOneTargetGroup]: "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_Action.html (TargetGroupArn: a single target group; several only through ForwardConfig)",
    [RULES.importExisting]: "https://www.pulumi.com/docs/iac/concepts/options/import/",
    [RULES.alembicUnknownRevision]: "https://alembic.sqlalchemy.org/en/latest/api/runtime.html (\"Can't locate revision identified by ...\")",
    [RULES.instanceIdUnique]: "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_RestoreDBInstanceFromDBSnapshot.html#API_RestoreDBInstanceFromDBSnapshot_Errors",
    [RULES.snapshotExists]: "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DescribeDBSnapshots.html#API_DescribeDBSnapshots_Errors",
    [RULES.instanceExists]: "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBInstance.html#API_DeleteDBInstance_Errors",
    [RULES.finalSnapshotChoice]: "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBInstance.html (FinalDBSnapshotIdentifier: required unless SkipFinalSnapshot)",
    [RULES.ruleExists]: "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_ModifyRule.html#API_ModifyRule_Errors",
    [RULES.alarmStates]: "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Alarms.html#alarm-evaluation; https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricAlarm.html",
    [RULES.containerHealthGate]:
        "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeploymentConfiguration.html (minimumHealthyPercent: services without a load balancer); https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-circuit-breaker.html",
};

function refuse(rule: string, message: string): never {
    throw new AwsRuleViolation(rule, message, RULE_DOCS[rule]);
}

interface TaskDefinition {
    arn: string;
    family: string;
    image: string;
    command?: string[];
    secrets: string[];
    /** The essential container's health check (["CMD-SHELL", cmd]), if any. */
    healthCheck?: string[];
}

interface Service {
    name: string;
    targetGroupArn?: string;
    taskDefinitionArn: string;
    /** Every deployment ECS started for it (create and each change of task definition). */
    deployments: string[];
    /** Tasks of its current (last completed) deployment that are running. */
    running: number;
}

interface Rule {
    arn: string;
    listenerArn: string;
    priority: number;
    conditions: any[];
    targetGroupArn: string;
}

/** What a one-off task ran: the release, the image, the command and the database instance it reached. */
export interface TaskRun {
    release: string;
    image: string;
    command: string[];
    database: string;
}

/** What a PostgreSQL database holds, as far as the prod programs care: roles, applied files, the alembic revision. */
interface DbContents {
    roles: Map<string, Set<string>>;
    appliedFiles: string[];
    alembicRevision: number;
    /** Objects down steps left behind (a down that forgets what its upgrade made: the next upgrade makes them again). */
    leftovers: number;
    /** What `migration-revision schema-save` kept in this database (the catalog's description, modelled). */
    savedSchema?: string;
}

function copyContents(c: DbContents): DbContents {
    return { roles: new Map([...c.roles].map(([k, v]) => [k, new Set(v)])), appliedFiles: [...c.appliedFiles], alembicRevision: c.alembicRevision, leftovers: c.leftovers, savedSchema: c.savedSchema };
}

/** The schema as the catalog describes it, modelled: the revision's objects and whatever down steps left behind. */
function describedSchema(db: DbContents): string {
    return `revision ${db.alembicRevision}, ${db.leftovers} object(s) left by down steps`;
}

interface DbInstance {
    id: string;
    status: "creating" | "available" | "deleting";
    deletionProtection: boolean;
    instanceClass?: string;
    subnetGroup?: string;
    securityGroups: string[];
    parameterGroup?: string;
    multiAz: boolean;
    publiclyAccessible: boolean;
    address: string;
    port: number;
    tags: Record<string, string>;
    contents: DbContents;
}

type AlarmState = "OK" | "ALARM" | "INSUFFICIENT_DATA";

interface Alarm {
    name: string;
    metricName: string;
    targetGroupSuffix?: string;
    state: AlarmState;
    updated: Date;
    reason: string;
}

/**
 * The account one prod stack deploys into. `answer()` is the mocks' answer
 * (the executor plus these rules); `run()` runs the program as `pulumi up`
 * with this account behind it and keeps the engine state between runs.
 */
export class AwsAccount {
    readonly state = new EngineState();
    readonly log: Executed[] = [];
    /** Every create the account performed, as `<kind>:<physical id>` (imports and updates are not creates). */
    readonly creates: string[] = [];
    readonly snapshots = new Set<string>();
    readonly taskRuns: TaskRun[] = [];
    /** The app's database (the stack's RDS instance). */
    private readonly live: DbContents = { roles: new Map(), appliedFiles: [], alembicRevision: 0, leftovers: 0 };
    /** Migration files the runner applied to the app's database, in order (runner mode). */
    get appliedFiles(): string[] {
        return this.live.appliedFiles;
    }
    /** The alembic revision the app's database is at (command mode). */
    get alembicRevision(): number {
        return this.live.alembicRevision;
    }
    /** Every RestoreDBInstanceFromDBSnapshot, with what it asked for. */
    readonly restores: { id: string; snapshot: string; subnetGroup?: string; securityGroups: string[]; publiclyAccessible: boolean; deletionProtection: boolean }[] = [];
    /** Every DeleteDBInstance the account accepted. */
    readonly deletedInstances: string[] = [];
    /** Every ModifyRule: the rule and the target group it forwards to since. */
    readonly ruleChanges: { ruleArn: string; targetGroupArn: string }[] = [];
    readonly services = new Map<string, Service>();
    readonly ssm = new Map<string, string>();
    /** The deployer's address, as the load balancer sees the health gate's requests. */
    deployerCidr = "203.0.113.10/32";
    /** Whether an image's app answers its health checks (the gate's requests). */
    appHealthy: (image: string) => boolean = (image) => !image.includes("broken");
    /** The newest alembic revision an image's scripts know (command mode). */
    alembicHead: (image: string) => number = (image) => Number(/:r(\d+)/.exec(image)?.[1] ?? 0);
    /** Whether an image's alembic migration fails (exit 1, the database unchanged). */
    migrationFails: (image: string) => boolean = (image) => image.includes("bad-migration");
    /** Whether an image's downgrade forgets something its upgrade creates (an index, say): the round trip leaves it twice. */
    downgradeForgets: (image: string) => boolean = (image) => image.includes("forgetful-down");
    /** Whether an image answers production traffic with 5xx beyond its slot's alarm threshold (the gate's few requests stay below it). */
    failsUnderLoad: (image: string) => boolean = (image) => image.includes("under-load");
    /**
     * The directory of the app's migration files a runner image carries
     * (scripts/runner-image.sh builds one per release from the app's checkout);
     * undefined: none.
     */
    runnerFiles: (image: string) => string | undefined = () => undefined;
    /** Whether an image's container health check (its CMD-SHELL command) ever passes. */
    containerHealthy: (image: string) => boolean = (image) => !image.includes("never-healthy");

    private readonly names = new Set<string>();
    private readonly secrets = new Map<string, { name: string; current?: string }>();
    private readonly secretArnById = new Map<string, string>();
    private get roles(): Map<string, Set<string>> {
        return this.live.roles;
    }
    private readonly taskDefinitions = new Map<string, TaskDefinition>();
    private readonly targetGroups = new Map<string, string>();
    private readonly listeners = new Map<string, { port: number; defaultTargetGroupArn?: string }>();
    private readonly rules = new Map<string, Rule>();
    private readonly ingress: { port: number; cidr?: string }[] = [];
    private readonly instances = new Map<string, DbInstance>();
    private readonly snapshotSource = new Map<string, { instance: string; contents: DbContents }>();
    private readonly alarms = new Map<string, Alarm>();
    private readonly targetGroupBySuffix = new Map<string, string>();
    /** Per engine key: what the account holds for it (physical id, kind), for updates and deletes. */
    private readonly physical = new Map<string, { kind: string; id: string; retain: boolean }>();
    private readonly kept = new Map<string, Record<string, any>>();
    private release = "";

    constructor(readonly app: string) {}

    /** Runs the stack as `pulumi up` against this account; resolves with the result, rejects as the update would fail. */
    async up(stack: string, options: RunOptions = {}): Promise<RunResult> {
        this.state.beginRun();
        this.release = String(options.set?.release ?? "");
        const restore = this.intercept();
        try {
            const result = await runStack(stack, { ...options, answer: this.answer() });
            await this.endRun(true);
            return result;
        } catch (err) {
            await this.endRun(false);
            throw err;
        } finally {
            restore();
        }
    }

    /** Where production traffic for `path` goes: the image behind the production listener's matching rule. */
    production(path: string): { slot: string; image: string } | undefined {
        const https = [...this.listeners.entries()].find(([, l]) => l.port === 443);
        if (!https) return undefined;
        const rules = [...this.rules.values()].filter((r) => r.listenerArn === https[0]).sort((a, b) => a.priority - b.priority);
        const rule = rules.find((r) => r.conditions.some((c) => (c.pathPattern?.values ?? []).some((p: string) => globMatch(p, path))));
        return rule ? this.behind(rule.targetGroupArn) : undefined;
    }

    /** The image a service (`kifu-backend-blue`) runs now. */
    image(service: string): string | undefined {
        const s = this.services.get(service);
        return s ? this.taskDefinitions.get(s.taskDefinitionArn)?.image : undefined;
    }

    deployments(service: string): number {
        return this.services.get(service)?.deployments.length ?? 0;
    }

    private behind(targetGroupArn: string): { slot: string; image: string } | undefined {
        const service = [...this.services.values()].find((s) => s.targetGroupArn === targetGroupArn);
        if (!service) return undefined;
        return { slot: service.name.split("-").pop()!, image: this.taskDefinitions.get(service.taskDefinitionArn)!.image };
    }

    private attached(targetGroupArn: string): boolean {
        return [...this.listeners.values()].some((l) => l.defaultTargetGroupArn === targetGroupArn) || [...this.rules.values()].some((r) => r.targetGroupArn === targetGroupArn);
    }

    /** The mocks' answer: the executor decides create/update/same; this account does what AWS would for it. */
    answer(): Answer {
        const engine = executingAnswer(this.log, this.state);
        return async (args: pulumi.runtime.MockResourceArgs, options: RegistrationOptions) => {
            const key = `${args.type}::${args.name}`;
            const known = this.state.resources.has(key);
            const outputs = await engine(args, options);
            if (args.type.startsWith("pulumi-nodejs:dynamic") || !args.custom) return outputs;
            const operation = this.state.operations[key];
            try {
                const computed = operation === "same" ? this.kept.get(key)! : this.apply(key, args, unwrapSecrets(args.inputs), operation, options, !known && !!args.id);
                this.kept.set(key, computed);
                return { ...outputs, ...computed };
            } catch (err) {
                this.state.operations[key] = "failed";
                if (!known) this.state.resources.delete(key);
                throw err;
            }
        };
    }

    /** After a run: what the engine deleted, the account deletes too (unless retained), by the same rules. */
    private async endRun(succeeded: boolean): Promise<void> {
        const operations = await this.state.endRun(succeeded, this.log);
        for (const [key, op] of Object.entries(operations)) {
            if (op !== "delete") continue;
            const held = this.physical.get(key);
            this.physical.delete(key);
            this.kept.delete(key);
            if (!held || held.retain) continue;
            if (held.kind === "rds-instance" && this.instances.get(held.id)?.deletionProtection) refuse(RULES.deletionProtection, `cannot delete DB instance ${held.id} while deletion protection is enabled`);
            this.names.delete(`${held.kind}:${held.id}`);
            if (held.kind === "snapshot") this.snapshots.delete(held.id);
            if (held.kind === "listener-rule") this.rules.delete(held.id);
            if (held.kind === "ecs-service") this.services.delete(held.id);
        }
        // A DeleteDBInstance accepted during the run has finished by the next one.
        for (const [id, instance] of this.instances) if (instance.status === "deleting") this.instances.delete(id);
    }

    private apply(key: string, args: pulumi.runtime.MockResourceArgs, inputs: Record<string, any>, operation: string, options: RegistrationOptions, isImport: boolean): Record<string, any> {
        const kind = args.type.split(":").pop()!;
        const arn = `arn:aws:standin:ap-northeast-2:123456789012:${kind.toLowerCase()}/${args.name}`;
        const out: Record<string, any> = { arn, id: `${args.name}-id`, name: inputs.name ?? args.name };
        const hold = (k: string, id: string) => this.physical.set(key, { kind: k, id, retain: options.retainOnDelete });
        const createOnce = (k: string, id: string, rule: string = RULES.nameUnique) => {
            if (operation !== "create") return;
            if (this.names.has(`${k}:${id}`)) refuse(rule, `${k} ${id} already exists`);
            this.names.add(`${k}:${id}`);
            this.creates.push(`${k}:${id}`);
            hold(k, id);
        };
        switch (args.type) {
            case "random:index/randomPassword:RandomPassword":
                out.result = this.kept.get(key)?.result ?? `standin-${args.name}-${Math.random().toString(36).slice(2, 10)}`;
                break;
            case "aws:rds/instance:Instance":
                createOnce("rds-instance", args.name);
                this.instances.set(args.name, {
                    id: args.name,
                    status: "available",
                    deletionProtection: inputs.deletionProtection === true,
                    instanceClass: inputs.instanceClass,
                    subnetGroup: inputs.dbSubnetGroupName,
                    securityGroups: inputs.vpcSecurityGroupIds ?? [],
                    parameterGroup: inputs.parameterGroupName,
                    multiAz: inputs.multiAz === true,
                    publiclyAccessible: inputs.publiclyAccessible === true,
                    address: `${args.name}.standin.rds.amazonaws.com`,
                    port: 5432,
                    tags: {},
                    contents: this.live,
                });
                Object.assign(out, { address: `${args.name}.standin.rds.amazonaws.com`, port: 5432, identifier: args.name });
                break;
            case "aws:rds/snapshot:Snapshot": {
                const id = inputs.dbSnapshotIdentifier;
                if (isImport) {
                    if (!this.snapshots.has(id)) refuse(RULES.importExisting, `no DB snapshot ${id} to import`);
                    hold("snapshot", id);
                } else {
                    createOnce("snapshot", id, RULES.snapshotIdUnique);
                    this.snapshots.add(id);
                    // A snapshot holds the whole instance as it is now: roles included.
                    this.snapshotSource.set(id, { instance: inputs.dbInstanceIdentifier, contents: copyContents(this.live) });
                }
                break;
            }
            case "aws:secretsmanager/secret:Secret":
                createOnce("secret", inputs.name);
                this.secrets.set(arn, { name: inputs.name });
                this.secretArnById.set(out.id, arn);
                break;
            case "aws:secretsmanager/secretVersion:SecretVersion": {
                const secret = this.secrets.get(this.secretArnById.get(inputs.secretId) ?? "");
                if (secret) secret.current = inputs.secretString;
                out.versionId = `v-${Date.now()}`;
                break;
            }
            case "postgresql:index/role:Role":
                createOnce("db-role", inputs.name);
                this.roles.set(inputs.name, new Set());
                break;
            case "postgresql:index/grant:Grant":
                this.roles.get(inputs.role)?.add(`${inputs.objectType}:${(inputs.privileges ?? []).join(",")}`);
                break;
            case "aws:elasticache/replicationGroup:ReplicationGroup":
                Object.assign(out, { primaryEndpointAddress: `${args.name}.standin.cache.amazonaws.com`, memberClusters: Array.from({ length: inputs.numCacheClusters ?? 1 }, (_, i) => `${args.name}-id-00${i + 1}`) });
                break;
            case "aws:lb/loadBalancer:LoadBalancer":
                Object.assign(out, { dnsName: `${args.name}.standin.elb.amazonaws.com`, arnSuffix: `app/${args.name}/0123456789abcdef` });
                break;
            case "aws:lb/targetGroup:TargetGroup":
                this.targetGroups.set(arn, args.name);
                out.arnSuffix = `targetgroup/${args.name}/0123456789abcdef`;
                this.targetGroupBySuffix.set(out.arnSuffix, arn);
                break;
            case "aws:lb/listener:Listener": {
                const forward = (inputs.defaultActions ?? []).find((a: any) => a.type === "forward");
                this.listeners.set(arn, { port: inputs.port, defaultTargetGroupArn: forward ? oneTargetGroup(forward, args.name) : undefined });
                break;
            }
            case "aws:lb/listenerRule:ListenerRule": {
                const forward = (inputs.actions ?? []).find((a: any) => a.type === "forward");
                this.rules.set(arn, { arn, listenerArn: inputs.listenerArn, priority: inputs.priority, conditions: inputs.conditions ?? [], targetGroupArn: oneTargetGroup(forward, args.name) });
                hold("listener-rule", arn);
                break;
            }
            case "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
                if (String(inputs.securityGroupId).includes("-alb")) this.ingress.push({ port: inputs.fromPort, cidr: inputs.cidrIpv4 });
                break;
            case "aws:ecs/taskDefinition:TaskDefinition": {
                const [container] = JSON.parse(inputs.containerDefinitions);
                const revision = [...this.taskDefinitions.values()].filter((t) => t.family === inputs.family).length + 1;
                out.arn = `arn:aws:ecs:ap-northeast-2:123456789012:task-definition/${inputs.family}:${revision}`;
                this.taskDefinitions.set(out.arn, { arn: out.arn, family: inputs.family, image: container.image, command: container.command, secrets: (container.secrets ?? []).map((s: any) => s.valueFrom), healthCheck: container.healthCheck?.command });
                break;
            }
            case "aws:ecs/service:Service": {
                if (operation === "create") createOnce("ecs-service", inputs.name);
                hold("ecs-service", inputs.name);
                const targetGroupArn = inputs.loadBalancers?.[0]?.targetGroupArn;
                if (targetGroupArn && !this.attached(targetGroupArn)) {
                    refuse(RULES.targetGroupAttached, `the target group with targetGroupArn ${targetGroupArn} does not have an associated load balancer (service ${inputs.name})`);
                }
                const definition = this.taskDefinitions.get(inputs.taskDefinition)!;
                this.checkSecrets(definition, `service ${inputs.name}`);
                const previous = this.services.get(inputs.name);
                const deployments = previous ? [...previous.deployments] : [];
                const deploying = !previous || previous.taskDefinitionArn !== inputs.taskDefinition;
                if (deploying) deployments.push(definition.image);
                if (deploying && !targetGroupArn && definition.healthCheck && !this.containerHealthy(definition.image)) {
                    // The new tasks never turn HEALTHY: the old ones keep running and the circuit breaker
                    // returns the service to its last completed deployment (none on a first deploy).
                    const rolledBackTo = previous?.taskDefinitionArn;
                    this.services.set(inputs.name, { name: inputs.name, targetGroupArn, taskDefinitionArn: rolledBackTo ?? inputs.taskDefinition, deployments, running: previous?.running ?? 0 });
                    refuse(
                        RULES.containerHealthGate,
                        `service ${inputs.name}: deployment of ${definition.image} failed: tasks failed container health checks (${definition.healthCheck.slice(1).join(" ")}); ` +
                            (rolledBackTo ? `rolled back to ${this.taskDefinitions.get(rolledBackTo)!.image}` : "no earlier deployment to roll back to"),
                    );
                }
                this.services.set(inputs.name, { name: inputs.name, targetGroupArn, taskDefinitionArn: inputs.taskDefinition, deployments, running: inputs.desiredCount ?? 1 });
                break;
            }
            case "aws:cloudwatch/metricAlarm:MetricAlarm": {
                const existing = this.alarms.get(inputs.name);
                // A new alarm is INSUFFICIENT_DATA until CloudWatch first evaluates it.
                this.alarms.set(inputs.name, {
                    name: inputs.name,
                    metricName: inputs.metricName,
                    targetGroupSuffix: inputs.dimensions?.TargetGroup,
                    state: existing?.state ?? "INSUFFICIENT_DATA",
                    updated: existing?.updated ?? new Date(),
                    reason: existing?.reason ?? "Unchecked: Initial alarm creation",
                });
                break;
            }
            case "aws:ssm/parameter:Parameter":
                createOnce("ssm-parameter", inputs.name);
                this.ssm.set(inputs.name, inputs.value);
                break;
        }
        return out;
    }

    private checkSecrets(definition: TaskDefinition, what: string): void {
        for (const arn of definition.secrets) {
            const secret = this.secrets.get(arn);
            if (!secret?.current) refuse(RULES.secretHasCurrentValue, `${what}: unable to retrieve secret ${arn}: it has no AWSCURRENT value`);
        }
    }

    /**
     * ECS and the program's invokes, replaced for the duration of one run:
     * the OneOffTask provider's `require("@aws-sdk/client-ecs")` gets this
     * account's RunTask/DescribeTasks (and the rehearsal's and bake window's
     * RDS, CloudWatch and ELBv2 clients theirs), the health gate's fetch reaches the
     * load balancer's test listener here, and aws:ssm/getParameter reads here.
     */
    private intercept(): () => void {
        const Module = require("module");
        const load = Module._load;
        const account = this;
        Module._load = function (request: string, ...rest: any[]) {
            if (request === "@aws-sdk/client-ecs") return account.ecsClientModule();
            if (request === "@aws-sdk/client-rds") return account.rdsClientModule();
            if (request === "@aws-sdk/client-cloudwatch") return account.cloudWatchClientModule();
            if (request === "@aws-sdk/client-elastic-load-balancing-v2") return account.elbClientModule();
            return load.call(this, request, ...rest);
        };
        const realFetch = globalThis.fetch;
        globalThis.fetch = (async (input: any, init?: any) => this.fetchThroughTestListener(new URL(String(input instanceof URL ? input.href : input)), init)) as typeof fetch;
        const call = RecordingMocks.prototype.call;
        RecordingMocks.prototype.call = (args: pulumi.runtime.MockCallArgs) => account.call(args);
        return () => {
            Module._load = load;
            globalThis.fetch = realFetch;
            RecordingMocks.prototype.call = call;
        };
    }

    /** Answers the program's invokes (the release history). */
    call(args: pulumi.runtime.MockCallArgs): Record<string, any> {
        if (args.token === "aws:ssm/getParameter:getParameter") {
            const value = this.ssm.get(args.inputs.name);
            if (value === undefined) throw new Error(`ParameterNotFound: ${args.inputs.name}`);
            return { name: args.inputs.name, value, type: "String" };
        }
        return args.inputs;
    }

    private async fetchThroughTestListener(url: URL, _init?: any): Promise<Response> {
        const port = Number(url.port);
        const listener = [...this.listeners.values()].find((l) => l.port === port);
        const open = this.ingress.some((i) => i.port === port && i.cidr === this.deployerCidr);
        if (!listener || !open) throw new TypeError(`fetch failed: connect ETIMEDOUT ${url.host} (no listener on ${port} open to ${this.deployerCidr})`);
        const behind = listener.defaultTargetGroupArn ? this.behind(listener.defaultTargetGroupArn) : undefined;
        if (!behind) return new Response("no healthy targets", { status: 503 });
        const healthy = this.appHealthy(behind.image);
        return new Response(JSON.stringify({ ok: healthy, image: behind.image }), { status: healthy ? 200 : 500, headers: { "content-type": "application/json" } });
    }

    private ecsClientModule(): any {
        const account = this;
        class RunTaskCommand {
            constructor(readonly input: any) {}
        }
        class DescribeTasksCommand {
            constructor(readonly input: any) {}
        }
        const finished = new Map<string, number>();
        class ECSClient {
            async send(command: any): Promise<any> {
                if (command instanceof RunTaskCommand) {
                    const exitCode = account.runTask(command.input);
                    const taskArn = `arn:aws:ecs:ap-northeast-2:123456789012:task/${account.taskRuns.length}`;
                    finished.set(taskArn, exitCode);
                    return { tasks: [{ taskArn }], failures: [] };
                }
                if (command instanceof DescribeTasksCommand) {
                    const taskArn = command.input.tasks[0];
                    return { tasks: [{ taskArn, lastStatus: "STOPPED", containers: [{ name: "app", exitCode: finished.get(taskArn) }] }] };
                }
                throw new Error(`stand-in ECS: ${command?.constructor?.name} not modelled`);
            }
        }
        return { ECSClient, RunTaskCommand, DescribeTasksCommand };
    }

    /** RunTask: refused (thrown) before it starts, or run to an exit code. */
    private runTask(input: any): number {
        const definition = this.taskDefinitions.get(input.taskDefinition);
        if (!definition) throw new Error(`ClientException: unable to find task definition ${input.taskDefinition}`);
        this.checkSecrets(definition, `task ${definition.family}`);
        const override = input.overrides?.containerOverrides?.[0] ?? {};
        const env = (name: string): string | undefined => override.environment?.find((e: any) => e.name === name)?.value;
        const command: string[] = override.command ?? definition.command ?? [];
        const release = env("GATEHOUSE_RELEASE") ?? this.release;
        // The database the task reaches: the app's, or the instance at the host its command puts in the URL.
        const host = env("GATEHOUSE_SCRATCH_HOST");
        const instance = host ? [...this.instances.values()].find((i) => `${i.address}:${i.port}` === host) : undefined;
        this.taskRuns.push({ release, image: definition.image, command, database: host ? (instance?.id ?? host) : "live" });
        if (host && instance?.status !== "available") return 2; // could not connect: no such server
        const db = instance?.contents ?? this.live;
        // The migrator logs in with the URL its secret holds: the role must exist and may create tables.
        for (const arn of definition.secrets) {
            const url = this.secrets.get(arn)?.current;
            if (!url?.startsWith("postgres")) continue;
            const user = decodeURIComponent(new URL(url).username);
            const grants = db.roles.get(user);
            if (!grants) refuse(RULES.databaseRoleExists, `FATAL: role "${user}" does not exist (task ${definition.family})`);
            if (![...grants].some((g) => g.startsWith("schema:") && g.includes("CREATE"))) refuse(RULES.databaseRoleExists, `permission denied for schema public: role "${user}" has no CREATE (task ${definition.family})`);
        }
        const script = command.join(" ");
        const through = command.indexOf("--through-file");
        const up = script.match(/migrate\.js up --dir (\S+)/);
        // Gatehouse's runner (components/release/runner.ts) reads the image's copy of the app's files
        // and, before applying anything, exits 1 unless they are the ones the plan showed (--manifest).
        const files = up ? this.runnerFiles(definition.image) : undefined;
        if (up && !files) return 1; // the image holds no migrations directory
        const manifest = /--manifest ([0-9a-f]{64})/.exec(script)?.[1];
        const throughFile = through >= 0 ? command[through + 1] : undefined;
        if (files && manifest && (throughFile && !fs.existsSync(`${files}/${throughFile}`) ? true : filesManifest(readMigrationDir(files), /--baseline (\S+)/.exec(script)?.[1], throughFile) !== manifest)) return 1;
        if (through >= 0 && !db.appliedFiles.includes(command[through + 1])) db.appliedFiles.push(command[through + 1]);
        if (up && through < 0) {
            // `migrate up` without --through-file: every pending file after the baseline, in file-name order.
            const baseline = /--baseline (\S+)/.exec(script)?.[1] ?? "";
            for (const f of fs.readdirSync(files!).filter((f) => f.endsWith(".sql")).sort()) {
                if (f.split("_")[0] > baseline && !db.appliedFiles.includes(f)) db.appliedFiles.push(f);
            }
        }
        // The runner's round-trip comparison (scripts/migration-revision.ts): keep the description, later compare it.
        if (script.includes("migration-revision.js schema-save")) db.savedSchema = describedSchema(db);
        if (script.includes("migration-revision.js schema-compare")) return db.savedSchema !== undefined && db.savedSchema === describedSchema(db) ? 0 : 1;
        for (const step of script.match(/upgrade head|downgrade -1/g) ?? []) {
            if (step === "downgrade -1") {
                db.alembicRevision = Math.max(0, db.alembicRevision - 1);
                if (this.downgradeForgets(definition.image)) db.leftovers++;
                continue;
            }
            const head = this.alembicHead(definition.image);
            if (db.alembicRevision > head) refuse(RULES.alembicUnknownRevision, `Can't locate revision identified by '${db.alembicRevision}' (image ${definition.image} knows up to ${head})`);
            if (this.migrationFails(definition.image)) return 1;
            db.alembicRevision = head;
        }
        return 0;
    }

    /** RDS: the calls the rehearsal makes (describe the snapshot and instances, restore, delete). */
    private rdsClientModule(): any {
        const account = this;
        const commands = ["DescribeDBSnapshotsCommand", "DescribeDBInstancesCommand", "RestoreDBInstanceFromDBSnapshotCommand", "DeleteDBInstanceCommand"] as const;
        const sdk: Record<string, any> = {};
        for (const name of commands) sdk[name] = class {
            readonly kind = name;
            constructor(readonly input: any) {}
        };
        const fault = (rule: string, name: string, message: string) => Object.assign(new AwsRuleViolation(rule, message, RULE_DOCS[rule]), { name });
        class RDSClient {
            async send(command: any): Promise<any> {
                const input = command.input;
                switch (command.kind as (typeof commands)[number]) {
                    case "DescribeDBSnapshotsCommand": {
                        const source = account.snapshotSource.get(input.DBSnapshotIdentifier);
                        if (!source || !account.snapshots.has(input.DBSnapshotIdentifier)) throw fault(RULES.snapshotExists, "DBSnapshotNotFoundFault", `DBSnapshot ${input.DBSnapshotIdentifier} not found`);
                        return { DBSnapshots: [{ DBSnapshotIdentifier: input.DBSnapshotIdentifier, Status: "available", DBInstanceIdentifier: source.instance }] };
                    }
                    case "DescribeDBInstancesCommand": {
                        const i = account.instances.get(input.DBInstanceIdentifier);
                        if (!i) throw fault(RULES.instanceExists, "DBInstanceNotFoundFault", `DBInstance ${input.DBInstanceIdentifier} not found`);
                        // A restore finishes between the call that started it and the next look (on AWS: minutes, not modelled).
                        if (i.status === "creating") i.status = "available";
                        return {
                            DBInstances: [
                                {
                                    DBInstanceIdentifier: i.id,
                                    DBInstanceStatus: i.status,
                                    DBInstanceClass: i.instanceClass,
                                    DBSubnetGroup: { DBSubnetGroupName: i.subnetGroup },
                                    VpcSecurityGroups: i.securityGroups.map((g) => ({ VpcSecurityGroupId: g })),
                                    DBParameterGroups: i.parameterGroup ? [{ DBParameterGroupName: i.parameterGroup }] : [],
                                    MultiAZ: i.multiAz,
                                    Endpoint: { Address: i.address, Port: i.port },
                                },
                            ],
                        };
                    }
                    case "RestoreDBInstanceFromDBSnapshotCommand": {
                        const source = account.snapshotSource.get(input.DBSnapshotIdentifier);
                        if (!source) throw fault(RULES.snapshotExists, "DBSnapshotNotFoundFault", `DBSnapshot ${input.DBSnapshotIdentifier} not found`);
                        if (account.instances.has(input.DBInstanceIdentifier)) throw fault(RULES.instanceIdUnique, "DBInstanceAlreadyExistsFault", `DB instance ${input.DBInstanceIdentifier} already exists`);
                        const id = input.DBInstanceIdentifier;
                        account.instances.set(id, {
                            id,
                            status: "creating",
                            deletionProtection: input.DeletionProtection === true,
                            instanceClass: input.DBInstanceClass,
                            subnetGroup: input.DBSubnetGroupName,
                            securityGroups: input.VpcSecurityGroupIds ?? [],
                            parameterGroup: input.DBParameterGroupName,
                            multiAz: input.MultiAZ === true,
                            publiclyAccessible: input.PubliclyAccessible === true,
                            address: `${id}.standin.rds.amazonaws.com`,
                            port: 5432,
                            tags: Object.fromEntries((input.Tags ?? []).map((t: any) => [t.Key, t.Value])),
                            contents: copyContents(source.contents),
                        });
                        account.restores.push({ id, snapshot: input.DBSnapshotIdentifier, subnetGroup: input.DBSubnetGroupName, securityGroups: input.VpcSecurityGroupIds ?? [], publiclyAccessible: input.PubliclyAccessible === true, deletionProtection: input.DeletionProtection === true });
                        return { DBInstance: { DBInstanceIdentifier: id, DBInstanceStatus: "creating" } };
                    }
                    case "DeleteDBInstanceCommand": {
                        const i = account.instances.get(input.DBInstanceIdentifier);
                        if (!i) throw fault(RULES.instanceExists, "DBInstanceNotFoundFault", `DBInstance ${input.DBInstanceIdentifier} not found`);
                        if (i.deletionProtection) throw fault(RULES.deletionProtection, "InvalidParameterCombination", `cannot delete DB instance ${i.id} while deletion protection is enabled`);
                        if (!input.SkipFinalSnapshot && !input.FinalDBSnapshotIdentifier) throw fault(RULES.finalSnapshotChoice, "InvalidParameterCombination", "FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified");
                        i.status = "deleting";
                        account.deletedInstances.push(i.id);
                        return { DBInstance: { DBInstanceIdentifier: i.id, DBInstanceStatus: "deleting" } };
                    }
                }
                throw new Error(`stand-in RDS: ${command?.constructor?.name} not modelled`);
            }
        }
        return { RDSClient, ...sdk };
    }

    /** Scratch instances (every instance but the stack's own) that exist now, deleting or not. */
    scratchInstances(): { id: string; status: string }[] {
        return [...this.instances.values()].filter((i) => i.contents !== this.live).map((i) => ({ id: i.id, status: i.status }));
    }

    /**
     * CloudWatch evaluates each alarm from its metric: a slot's target 5xx alarm
     * breaches while production traffic reaches an image that fails under load;
     * a metric without data is not breaching (treatMissingData notBreaching), so
     * every other alarm the stand-in knows is OK once evaluated. Evaluation runs
     * at each DescribeAlarms, as if the alarm's periods had elapsed.
     */
    private evaluateAlarm(alarm: Alarm): void {
        let state: AlarmState = "OK";
        let reason = "Threshold Crossed: no datapoint was breaching";
        if (alarm.metricName === "HTTPCode_Target_5XX_Count" && alarm.targetGroupSuffix) {
            const targetGroupArn = this.targetGroupBySuffix.get(alarm.targetGroupSuffix);
            const behind = targetGroupArn && this.servesProduction(targetGroupArn) ? this.behind(targetGroupArn) : undefined;
            if (behind && this.failsUnderLoad(behind.image)) {
                state = "ALARM";
                reason = `Threshold Crossed: 2 datapoints were greater than the threshold (${behind.image} answers production traffic with 5xx)`;
            }
        }
        if (state !== alarm.state) Object.assign(alarm, { state, reason, updated: new Date() });
    }

    /** Sets an alarm's state by hand, as SetAlarmState does (until its next evaluation). */
    setAlarmState(name: string, state: AlarmState, reason: string): void {
        const alarm = this.alarms.get(name);
        if (!alarm) throw new Error(`ResourceNotFound: alarm ${name}`);
        Object.assign(alarm, { state, reason, updated: new Date() });
    }

    alarmState(name: string): AlarmState | undefined {
        return this.alarms.get(name)?.state;
    }

    private servesProduction(targetGroupArn: string): boolean {
        const https = [...this.listeners.entries()].find(([, l]) => l.port === 443)?.[0];
        return [...this.rules.values()].some((r) => r.listenerArn === https && r.targetGroupArn === targetGroupArn);
    }

    private cloudWatchClientModule(): any {
        const account = this;
        class DescribeAlarmsCommand {
            constructor(readonly input: any) {}
        }
        class CloudWatchClient {
            async send(command: any): Promise<any> {
                if (!(command instanceof DescribeAlarmsCommand)) throw new Error(`stand-in CloudWatch: ${command?.constructor?.name} not modelled`);
                // Names that match no alarm are left out of the answer, as DescribeAlarms does.
                const alarms = (command.input.AlarmNames as string[]).map((n) => account.alarms.get(n)).filter((a): a is Alarm => !!a);
                for (const a of alarms) account.evaluateAlarm(a);
                return { MetricAlarms: alarms.map((a) => ({ AlarmName: a.name, StateValue: a.state, StateReason: a.reason, StateUpdatedTimestamp: a.updated })) };
            }
        }
        return { CloudWatchClient, DescribeAlarmsCommand };
    }

    private elbClientModule(): any {
        const account = this;
        class DescribeRulesCommand {
            constructor(readonly input: any) {}
        }
        class ModifyRuleCommand {
            constructor(readonly input: any) {}
        }
        const rule = (arn: string): Rule => account.rules.get(arn) ?? refuse(RULES.ruleExists, `RuleNotFound: rule ${arn} not found`);
        class ElasticLoadBalancingV2Client {
            async send(command: any): Promise<any> {
                if (command instanceof DescribeRulesCommand) {
                    return { Rules: (command.input.RuleArns as string[]).map((arn) => ({ RuleArn: arn, Priority: String(rule(arn).priority), Actions: [{ Type: "forward", TargetGroupArn: rule(arn).targetGroupArn }] })) };
                }
                if (command instanceof ModifyRuleCommand) {
                    const r = rule(command.input.RuleArn);
                    // Actions replace the rule's actions; a forward names exactly one target group.
                    const forward = (command.input.Actions ?? []).find((a: any) => a.Type === "forward");
                    r.targetGroupArn = oneTargetGroup({ targetGroupArn: forward?.TargetGroupArn, forward: forward?.ForwardConfig && { targetGroups: forward.ForwardConfig.TargetGroups.map((t: any) => ({ arn: t.TargetGroupArn })) } }, r.arn);
                    account.ruleChanges.push({ ruleArn: r.arn, targetGroupArn: r.targetGroupArn });
                    return { Rules: [{ RuleArn: r.arn }] };
                }
                throw new Error(`stand-in ELBv2: ${command?.constructor?.name} not modelled`);
            }
        }
        return { ElasticLoadBalancingV2Client, DescribeRulesCommand, ModifyRuleCommand };
    }
}

/** A forward action's one target group; a forward to none or to several is refused. */
function oneTargetGroup(forward: any, name: string): string {
    const groups = forward?.targetGroupArn ? [forward.targetGroupArn] : (forward?.forward?.targetGroups ?? []).map((t: any) => t.arn);
    if (groups.length !== 1) refuse(RULES.forwardToOneTargetGroup, `${name}: a forward action must name exactly one target group, got ${groups.length}`);
    return groups[0];
}

function globMatch(pattern: string, path: string): boolean {
    const re = new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`);
    return re.test(path);
}
