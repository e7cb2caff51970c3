import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface AppTaskArgs {
    image: pulumi.Input<string>;
    port?: number;
    command?: string[];
    /** Plain env only. */
    environment: Record<string, pulumi.Input<string>>;
    /** Env var name -> Secrets Manager ARN, injected by ECS at start. */
    secrets: Record<string, pulumi.Input<string>>;
    cpu: number;
    memory: number;
    logGroupName: pulumi.Input<string>;
    region: string;
    executionRoleArn: pulumi.Input<string>;
    taskRoleArn?: pulumi.Input<string>;
    /**
     * Shell command that exits 0 while the container is alive: the container's
     * ECS health check (CMD-SHELL). ECS counts a task with one as healthy only
     * once it passes, for deployments and steady state alike.
     */
    healthCommand?: string;
}

/** Every 10 s, 3 failures to be unhealthy, 60 s of start-up during which failures do not count (ECS: interval 5-300, retries 1-10, startPeriod 0-300). */
export const CONTAINER_HEALTH = { interval: 10, timeout: 5, retries: 3, startPeriod: 60 } as const;

/** A Fargate task definition whose secrets are references, never values. */
export function appTaskDefinition(name: string, args: AppTaskArgs, opts: pulumi.CustomResourceOptions): aws.ecs.TaskDefinition {
    const containerDefinitions = pulumi
        .all([args.image, args.logGroupName, pulumi.output(args.environment), pulumi.output(args.secrets)])
        .apply(([image, logGroup, environment, secrets]) =>
            JSON.stringify([
                {
                    name: "app",
                    image,
                    essential: true,
                    command: args.command && args.command.length > 0 ? args.command : undefined,
                    portMappings: args.port ? [{ containerPort: args.port, protocol: "tcp" }] : [],
                    environment: Object.entries(environment).sort().map(([n, value]) => ({ name: n, value })),
                    secrets: Object.entries(secrets).sort().map(([n, valueFrom]) => ({ name: n, valueFrom })),
                    logConfiguration: { logDriver: "awslogs", options: { "awslogs-group": logGroup, "awslogs-region": args.region, "awslogs-stream-prefix": name } },
                    healthCheck: args.healthCommand ? { command: ["CMD-SHELL", args.healthCommand], ...CONTAINER_HEALTH } : undefined,
                    readonlyRootFilesystem: false,
                },
            ]),
        );
    return new aws.ecs.TaskDefinition(
        name,
        {
            family: name,
            requiresCompatibilities: ["FARGATE"],
            networkMode: "awsvpc",
            cpu: String(args.cpu),
            memory: String(args.memory),
            executionRoleArn: args.executionRoleArn,
            taskRoleArn: args.taskRoleArn,
            runtimePlatform: { operatingSystemFamily: "LINUX", cpuArchitecture: "X86_64" },
            containerDefinitions,
        },
        opts,
    );
}

/** An execution role that may pull images, write logs, and read exactly these secrets. */
export function executionRole(name: string, secretArns: pulumi.Input<string>[], opts: pulumi.CustomResourceOptions): aws.iam.Role {
    const role = new aws.iam.Role(
        name,
        {
            assumeRolePolicy: JSON.stringify({
                Version: "2012-10-17",
                Statement: [{ Effect: "Allow", Principal: { Service: "ecs-tasks.amazonaws.com" }, Action: "sts:AssumeRole" }],
            }),
        },
        opts,
    );
    new aws.iam.RolePolicyAttachment(`${name}-base`, { role: role.name, policyArn: "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy" }, opts);
    if (secretArns.length > 0) {
        new aws.iam.RolePolicy(
            `${name}-secrets`,
            {
                role: role.id,
                policy: pulumi.jsonStringify({
                    Version: "2012-10-17",
                    Statement: [{ Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: secretArns }],
                }),
            },
            opts,
        );
    }
    return role;
}
