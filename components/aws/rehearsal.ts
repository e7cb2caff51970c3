import * as pulumi from "@pulumi/pulumi";
import { restoreRdsSnapshot } from "../release/rdsRestore";
import { runTaskToCompletion } from "./oneOffTask";

/** One rehearsal step: a container run against the scratch copy. */
export interface RehearsalStep {
    description: string;
    taskDefinition: pulumi.Input<string>;
    command: string[];
    /** The env var that holds the database URL in this task (its secret); the step points it at the scratch instance. */
    urlEnv: string;
}

export interface AwsRehearsalArgs {
    region: string;
    release: string;
    /** The release snapshot (its id); the scratch instance is restored from it. */
    snapshotId: pulumi.Input<string>;
    /** Scratch instance ids start with this (`routine-rehearsal`); each attempt gets its own suffix. */
    scratchPrefix: string;
    cluster: pulumi.Input<string>;
    subnets: pulumi.Input<string>[];
    securityGroups: pulumi.Input<string>[];
    logGroup: pulumi.Input<string>;
    steps: RehearsalStep[];
    /** Seconds between two DescribeDBInstances while the restore runs. @default 30 (the CLI waiter's interval) */
    pollSeconds?: number;
}

interface RehearsalInputs {
    region: string;
    release: string;
    snapshotId: string;
    scratchPrefix: string;
    cluster: string;
    subnets: string[];
    securityGroups: string[];
    logGroup: string;
    steps: { description: string; taskDefinition: string; command: string[]; urlEnv: string }[];
    pollSeconds?: number;
}

/** The env var a rehearsal task reads the scratch instance's `host:port` from (not a secret). */
export const SCRATCH_HOST_ENV = "GATEHOUSE_SCRATCH_HOST";

/**
 * The step's command, run with its database URL pointed at the scratch
 * instance. The URL is a secret the task gets from Secrets Manager; only the
 * host changes, inside the container, so the password never appears in the
 * task's overrides (which DescribeTasks shows). The migrator's password is the
 * same on the copy: roles are part of the snapshot.
 */
export function onScratch(step: { command: string[]; urlEnv: string }): string[] {
    const v = step.urlEnv;
    const script = `${v}="$(printf '%s' "$${v}" | sed -E 's#@[^/]*/#@'"$${SCRATCH_HOST_ENV}"'/#')" && export ${v} && exec "$@"`;
    return ["/bin/sh", "-c", script, "sh", ...step.command];
}

/** The RDS, ECS and clock the rehearsal uses (the SDKs, or a stand-in). */
export interface RehearsalClients {
    rds: { send(command: any): Promise<any> };
    rdsSdk: any;
    ecs: { send(command: any): Promise<any> };
    ecsSdk: any;
    sleep(ms: number): Promise<void>;
    /** Makes the attempt's scratch id unique (a deleted instance keeps its id for minutes while it is deleting). */
    suffix(): string;
}

/**
 * Restores the release snapshot into a scratch instance beside the live one
 * (same subnet group and security groups: inside the VPC, reachable by the
 * migration tasks only), runs the steps there in order, and deletes the
 * instance whatever happened. Any failure throws: the real migration depends
 * on the rehearsal, so production is not touched.
 */
export async function rehearseOnScratch(inputs: RehearsalInputs, c: RehearsalClients): Promise<{ scratchInstanceId: string }> {
    const scratch = `${inputs.scratchPrefix}-${inputs.release}-${c.suffix()}`.toLowerCase().replace(/[^a-z0-9-]/g, "-").replace(/-+/g, "-").slice(0, 63).replace(/-$/, "");
    await restoreRdsSnapshot(
        { snapshotId: inputs.snapshotId, newInstanceId: scratch, region: inputs.region, deletionProtection: false, multiAz: false, tags: { "gatehouse:rehearsal": inputs.release } },
        c.rds,
    );
    let failure: unknown;
    try {
        const endpoint = await waitAvailable(inputs, c, scratch);
        for (const step of inputs.steps) {
            await runTaskToCompletion(c.ecsSdk, c.ecs, {
                description: `rehearsal on ${scratch}: ${step.description}`,
                cluster: inputs.cluster,
                taskDefinition: step.taskDefinition,
                subnets: inputs.subnets,
                securityGroups: inputs.securityGroups,
                command: onScratch(step),
                environment: { GATEHOUSE_RELEASE: inputs.release, [SCRATCH_HOST_ENV]: endpoint },
                logGroup: inputs.logGroup,
            });
        }
    } catch (err) {
        failure = err;
    }
    // Deleted in both outcomes; a delete that fails is a failure too (an instance left running costs money).
    let cleanup: unknown;
    try {
        await c.rds.send(new c.rdsSdk.DeleteDBInstanceCommand({ DBInstanceIdentifier: scratch, SkipFinalSnapshot: true, DeleteAutomatedBackups: true }));
    } catch (err) {
        cleanup = err;
    }
    if (failure || cleanup) {
        const parts = [
            failure ? `${(failure as Error).message}` : "",
            cleanup ? `the scratch instance ${scratch} could not be deleted (${(cleanup as Error).message}): delete it by hand (aws rds delete-db-instance --db-instance-identifier ${scratch} --skip-final-snapshot)` : `the scratch instance ${scratch} is being deleted`,
        ];
        throw new Error(`rehearsal of release ${inputs.release} failed: ${parts.filter(Boolean).join("; ")}. The real database was not touched: no migration ran on it.`);
    }
    return { scratchInstanceId: scratch };
}

async function waitAvailable(inputs: RehearsalInputs, c: RehearsalClients, id: string): Promise<string> {
    // RDS documents a restore in minutes, not seconds; the CLI waiter gives it 60 x 30 s.
    for (let attempt = 0; attempt < 60; attempt++) {
        const { DBInstances } = await c.rds.send(new c.rdsSdk.DescribeDBInstancesCommand({ DBInstanceIdentifier: id }));
        const instance = DBInstances?.[0];
        if (instance?.DBInstanceStatus === "available") return `${instance.Endpoint.Address}:${instance.Endpoint.Port}`;
        if (["failed", "incompatible-restore", "incompatible-parameters", "storage-full"].includes(instance?.DBInstanceStatus)) {
            throw new Error(`the scratch instance ${id} is ${instance.DBInstanceStatus}, not available`);
        }
        await c.sleep((inputs.pollSeconds ?? 30) * 1000);
    }
    throw new Error(`the scratch instance ${id} was not available after 30 min`);
}

// Serialized into the state; the SDKs are required inside the method, never captured.
const rehearsalProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: RehearsalInputs): Promise<pulumi.dynamic.CreateResult> {
        const rdsSdk = require("@aws-sdk/client-rds");
        const ecsSdk = require("@aws-sdk/client-ecs");
        const { scratchInstanceId } = await rehearseOnScratch(inputs, {
            rds: new rdsSdk.RDSClient({ region: inputs.region }),
            rdsSdk,
            ecs: new ecsSdk.ECSClient({ region: inputs.region }),
            ecsSdk,
            sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
            suffix: () => Date.now().toString(36),
        });
        return { id: `rehearsal-${inputs.release}`, outs: { ...inputs, scratchInstanceId } };
    },
    async diff(_id: string, olds: RehearsalInputs, news: RehearsalInputs): Promise<pulumi.dynamic.DiffResult> {
        // Once per release and set of steps (a changed migration file changes its step's command or definition).
        const replaces = (["release", "snapshotId", "steps"] as const).filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
        return { changes: replaces.length > 0, replaces, deleteBeforeReplace: true };
    },
};

/**
 * The AWS rehearsal: the release's pending migrations on a scratch copy of the
 * release snapshot, before the real database is touched.
 */
export class AwsRehearsal extends pulumi.dynamic.Resource {
    declare readonly scratchInstanceId: pulumi.Output<string>;

    constructor(name: string, args: AwsRehearsalArgs, opts?: pulumi.CustomResourceOptions) {
        super(rehearsalProvider, name, { ...args, scratchInstanceId: undefined }, opts, "gatehouse", "AwsRehearsal");
    }
}
