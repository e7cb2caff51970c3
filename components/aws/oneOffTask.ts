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

// Serialized into the state and run by the dynamic-provider host on the
// deployer's machine; the AWS SDK is required inside the method (resolved
// from the project's node_modules there), never captured.
const oneOffTaskProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: TaskInputs): Promise<pulumi.dynamic.CreateResult> {
        const { ECSClient, RunTaskCommand, DescribeTasksCommand } = require("@aws-sdk/client-ecs");
        const ecs = new ECSClient({ region: inputs.region });
        const started = await ecs.send(
            new RunTaskCommand({
                cluster: inputs.cluster,
                taskDefinition: inputs.taskDefinition,
                launchType: "FARGATE",
                startedBy: "gatehouse",
                networkConfiguration: { awsvpcConfiguration: { subnets: inputs.subnets, securityGroups: inputs.securityGroups, assignPublicIp: "DISABLED" } },
                overrides: {
                    containerOverrides: [
                        {
                            name: "app",
                            command: inputs.command,
                            environment: Object.entries(inputs.environment ?? {}).map(([name, value]) => ({ name, value })),
                        },
                    ],
                },
            }),
        );
        const task = started.tasks?.[0];
        if (!task?.taskArn) {
            const reasons = (started.failures ?? []).map((f: any) => `${f.arn ?? ""} ${f.reason}`).join("; ");
            throw new Error(`${inputs.description}: ECS did not start the task (${reasons || "no reason given"}); nothing ran`);
        }
        const deadline = Date.now() + (inputs.timeoutMinutes ?? 30) * 60_000;
        for (;;) {
            const { tasks } = await ecs.send(new DescribeTasksCommand({ cluster: inputs.cluster, tasks: [task.taskArn] }));
            const current = tasks?.[0];
            if (current?.lastStatus === "STOPPED") {
                const container = current.containers?.find((c: any) => c.name === "app");
                const taskId = task.taskArn.split("/").pop();
                if (container?.exitCode === 0) {
                    return { id: task.taskArn, outs: { ...inputs, taskArn: task.taskArn, exitCode: 0 } };
                }
                throw new Error(
                    `${inputs.description} failed (exit ${container?.exitCode ?? "none"}: ${container?.reason ?? current.stoppedReason ?? "unknown"}); ` +
                        `later steps did not run. Logs: CloudWatch group ${inputs.logGroup}, stream app/app/${taskId}`,
                );
            }
            if (Date.now() > deadline) throw new Error(`${inputs.description} still running after ${inputs.timeoutMinutes ?? 30} min (task ${task.taskArn}); stop it or raise the timeout`);
            await new Promise((r) => setTimeout(r, 3000));
        }
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
