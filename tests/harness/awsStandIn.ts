import * as pulumi from "@pulumi/pulumi";
import { Answer, RecordingMocks, RegistrationOptions, unwrapSecrets } from "./mocks";
import { EngineState, Executed, executingAnswer } from "./executor";
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
}

interface Service {
    name: string;
    targetGroupArn?: string;
    taskDefinitionArn: string;
    /** Every deployment ECS started for it (create and each change of task definition). */
    deployments: string[];
}

interface Rule {
    arn: string;
    listenerArn: string;
    priority: number;
    conditions: any[];
    targetGroupArn: string;
}

/** What a one-off task ran: the release, the image and the command. */
export interface TaskRun {
    release: string;
    image: string;
    command: string[];
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
    /** Migration files the runner applied, in order (runner mode). */
    readonly appliedFiles: string[] = [];
    /** The alembic revision the database is at (command mode). */
    alembicRevision = 0;
    readonly services = new Map<string, Service>();
    readonly ssm = new Map<string, string>();
    /** The deployer's address, as the load balancer sees the health gate's requests. */
    deployerCidr = "203.0.113.10/32";
    /** Whether an image's app answers its health checks (the gate's requests). */
    appHealthy: (image: string) => boolean = (image) => !image.includes("broken");
    /** The newest alembic revision an image's scripts know (command mode). */
    alembicHead: (image: string) => number = (image) => Number(/:r(\d+)/.exec(image)?.[1] ?? 0);

    private readonly names = new Set<string>();
    private readonly secrets = new Map<string, { name: string; current?: string }>();
    private readonly secretArnById = new Map<string, string>();
    private readonly roles = new Map<string, Set<string>>();
    private readonly taskDefinitions = new Map<string, TaskDefinition>();
    private readonly targetGroups = new Map<string, string>();
    private readonly listeners = new Map<string, { port: number; defaultTargetGroupArn?: string }>();
    private readonly rules = new Map<string, Rule>();
    private readonly ingress: { port: number; cidr?: string }[] = [];
    private readonly instances = new Map<string, { deletionProtection: boolean }>();
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
                this.instances.set(args.name, { deletionProtection: inputs.deletionProtection === true });
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
                this.taskDefinitions.set(out.arn, { arn: out.arn, family: inputs.family, image: container.image, command: container.command, secrets: (container.secrets ?? []).map((s: any) => s.valueFrom) });
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
                if (!previous || previous.taskDefinitionArn !== inputs.taskDefinition) deployments.push(definition.image);
                this.services.set(inputs.name, { name: inputs.name, targetGroupArn, taskDefinitionArn: inputs.taskDefinition, deployments });
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
     * account's RunTask/DescribeTasks, the health gate's fetch reaches the
     * load balancer's test listener here, and aws:ssm/getParameter reads here.
     */
    private intercept(): () => void {
        const Module = require("module");
        const load = Module._load;
        const account = this;
        Module._load = function (request: string, ...rest: any[]) {
            if (request === "@aws-sdk/client-ecs") return account.ecsClientModule();
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
        // The migrator logs in with the URL its secret holds: the role must exist and may create tables.
        for (const arn of definition.secrets) {
            const url = this.secrets.get(arn)?.current;
            if (!url?.startsWith("postgres")) continue;
            const user = decodeURIComponent(new URL(url).username);
            const grants = this.roles.get(user);
            if (!grants) refuse(RULES.databaseRoleExists, `FATAL: role "${user}" does not exist (task ${definition.family})`);
            if (![...grants].some((g) => g.startsWith("schema:") && g.includes("CREATE"))) refuse(RULES.databaseRoleExists, `permission denied for schema public: role "${user}" has no CREATE (task ${definition.family})`);
        }
        const command: string[] = input.overrides?.containerOverrides?.[0]?.command ?? definition.command ?? [];
        const release = input.overrides?.containerOverrides?.[0]?.environment?.find((e: any) => e.name === "GATEHOUSE_RELEASE")?.value ?? this.release;
        this.taskRuns.push({ release, image: definition.image, command });
        const through = command.indexOf("--through-file");
        if (through >= 0 && !this.appliedFiles.includes(command[through + 1])) this.appliedFiles.push(command[through + 1]);
        if (command.join(" ").includes("alembic") && command.join(" ").includes("upgrade head")) {
            const head = this.alembicHead(definition.image);
            if (this.alembicRevision > head) refuse(RULES.alembicUnknownRevision, `Can't locate revision identified by '${this.alembicRevision}' (image ${definition.image} knows up to ${head})`);
            this.alembicRevision = head;
        }
        return 0;
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
