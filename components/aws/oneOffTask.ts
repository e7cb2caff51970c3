import * as pulumi from "@pulumi/pulumi";

export interface OneOffTaskArgs {
    /** What the task does, for messages ("migration 020_guided_review.sql"). */
    description: string;
    region: string;
    cluster: pulumi.Input<string>;
    taskDefinition: pulumi.Input<string>;
    subnets: pulumi.Input<string>[];
    securityGroups: pulumi.Input<string>[];
    command: string[];
    /** Re-run when any of these change (e.g. the release id, a file's checksum). */
    triggers: pulumi.Input<string>[];
    /** Plain env added to the container (the release id). */
    environment?: Record<string, pulumi.Input<string>>;
    /** Log group and stream prefix, for the failure message. */
    logGroup: pulumi.Input<string>;
    /** @default 30 */
    timeoutMinutes?: number;
}

interface TaskInputs {
    description: string;
    region: string;
    cluster: string;
    taskDefinition: string;
    subnets: string[];
    securityGroups: string[];
    command: string[];
    triggers: string[];
    environment?: Record<string, string>;
    logGroup: string;
    timeoutMinutes?: number;
}

/** One container run: what RunTask needs, and what the failure message names. */
export interface TaskRunSpec {
    description: string;
    cluster: string;
    taskDefinition: string;
    subnets: string[];
    securityGroups: string[];
    command: string[];
    environment?: Record<string, string>;
    logGroup: string;
    timeoutMinutes?: number;
}

/**
 * Runs one task inside the VPC and waits for it to stop; throws on a refusal,
 * a non-zero exit or the timeout. `sdk` is @aws-sdk/client-ecs (its command
 * classes), `ecs` a client of it. Shared by the OneOffTask provider and the
 * AWS rehearsal, which runs the same migration commands on a scratch instance.
 */
export async function runTaskToCompletion(sdk: any, ecs: { send(command: any): Promise<any> }, spec: TaskRunSpec, pollMs = 3000): Promise<{ taskArn: string }> {
    const started = await ecs.send(
        new sdk.RunTaskCommand({
            cluster: spec.cluster,
            taskDefinition: spec.taskDefinition,
            launchType: "FARGATE",
            startedBy: "gatehouse",
            networkConfiguration: { awsvpcConfiguration: { subnets: spec.subnets, securityGroups: spec.securityGroups, assignPublicIp: "DISABLED" } },
            overrides: {
                containerOverrides: [
                    {
                        name: "app",
                        command: spec.command,
                        environment: Object.entries(spec.environment ?? {}).map(([name, value]) => ({ name, value })),
                    },
                ],
            },
        }),
    );
    const task = started.tasks?.[0];
    if (!task?.taskArn) {
        const reasons = (started.failures ?? []).map((f: any) => `${f.arn ?? ""} ${f.reason}`).join("; ");
        throw new Error(`${spec.description}: ECS did not start the task (${reasons || "no reason given"}); nothing ran`);
    }
    const deadline = Date.now() + (spec.timeoutMinutes ?? 30) * 60_000;
    for (;;) {
        const { tasks } = await ecs.send(new sdk.DescribeTasksCommand({ cluster: spec.cluster, tasks: [task.taskArn] }));
        const current = tasks?.[0];
        if (current?.lastStatus === "STOPPED") {
            const container = current.containers?.find((c: any) => c.name === "app");
            const taskId = task.taskArn.split("/").pop();
            if (container?.exitCode === 0) return { taskArn: task.taskArn };
            throw new Error(
                `${spec.description} failed (exit ${container?.exitCode ?? "none"}: ${container?.reason ?? current.stoppedReason ?? "unknown"}); ` +
                    `later steps did not run. Logs: CloudWatch group ${spec.logGroup}, stream app/app/${taskId}`,
            );
        }
        if (Date.now() > deadline) throw new Error(`${spec.description} still running after ${spec.timeoutMinutes ?? 30} min (task ${task.taskArn}); stop it or raise the timeout`);
        await new Promise((r) => setTimeout(r, pollMs));
    }
}

// Serialized into the state and run by the dynamic-provider host on the
// deployer's machine; the AWS SDK is required inside the method (resolved
// from the project's node_modules there), never captured.
const oneOffTaskProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: TaskInputs): Promise<pulumi.dynamic.CreateResult> {
        const sdk = require("@aws-sdk/client-ecs");
        const { taskArn } = await runTaskToCompletion(sdk, new sdk.ECSClient({ region: inputs.region }), inputs);
        return { id: taskArn, outs: { ...inputs, taskArn, exitCode: 0 } };
    },
    async diff(_id: string, olds: TaskInputs, news: TaskInputs): Promise<pulumi.dynamic.DiffResult> {
        const changed = JSON.stringify(olds.triggers) !== JSON.stringify(news.triggers) || JSON.stringify(olds.command) !== JSON.stringify(news.command);
        return { changes: changed, replaces: changed ? ["triggers"] : [], deleteBeforeReplace: true };
    },
};

/** Runs a container to completion inside the VPC (migrations, schema checks) and fails the release on a non-zero exit. */
export class OneOffTask extends pulumi.dynamic.Resource {
    declare readonly taskArn: pulumi.Output<string>;
    declare readonly exitCode: pulumi.Output<number>;

    constructor(name: string, args: OneOffTaskArgs, opts?: pulumi.CustomResourceOptions) {
        super(oneOffTaskProvider, name, { ...args, taskArn: undefined, exitCode: undefined }, opts, "gatehouse", "OneOffTask");
    }
}
