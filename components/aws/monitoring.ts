import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface RollbackAlarmsArgs {
    /** The load balancer's ARN suffix (CloudWatch dimension). */
    loadBalancerSuffix: pulumi.Input<string>;
    topicArn: pulumi.Input<string>;
}

/**
 * The alarms that mean "roll back" (checklist section 7: 5xx surge, 502s).
 * ECS deployments watch them and roll back on their own.
 */
/** What every alarm shares: one-minute periods, missing data is fine, notify the topic both ways. */
function alarmDefaults(topicArn: pulumi.Input<string>) {
    return {
        period: 60,
        comparisonOperator: "GreaterThanThreshold",
        treatMissingData: "notBreaching",
        alarmActions: [topicArn],
        okActions: [topicArn],
    };
}

export function rollbackAlarms(name: string, args: RollbackAlarmsArgs, opts: pulumi.CustomResourceOptions): aws.cloudwatch.MetricAlarm[] {
    const common = {
        ...alarmDefaults(args.topicArn),
        namespace: "AWS/ApplicationELB",
        dimensions: { LoadBalancer: args.loadBalancerSuffix },
        statistic: "Sum",
        // Two minutes: fast enough to roll a deployment back, not a single blip.
        evaluationPeriods: 2,
    };
    return [
        new aws.cloudwatch.MetricAlarm(`${name}-target-5xx`, { ...common, name: `${name}-target-5xx`, metricName: "HTTPCode_Target_5XX_Count", threshold: 20, alarmDescription: "Backend 5xx surge: roll back (checklist 7)" }, opts),
        new aws.cloudwatch.MetricAlarm(`${name}-elb-502`, { ...common, name: `${name}-elb-502`, metricName: "HTTPCode_ELB_502_Count", threshold: 5, alarmDescription: "502 / connection refused from targets: roll back (checklist 6, 7)" }, opts),
    ];
}

export interface MonitoringArgs {
    topicArn: pulumi.Input<string>;
    loadBalancerSuffix: pulumi.Input<string>;
    clusterName: pulumi.Input<string>;
    /** ECS service names to watch (both slots of each service, and the worker). */
    serviceNames: string[];
    databaseId: pulumi.Input<string>;
    /** Redis replication group id, when the app has Redis. */
    redisId?: pulumi.Input<string>;
    region: string;
    rollbackAlarms: aws.cloudwatch.MetricAlarm[];
}

/** The hour of monitoring after a release (checklist section 6) as alarms and one dashboard. */
export class Monitoring extends pulumi.ComponentResource {
    readonly alarmNames: pulumi.Output<string>[];

    constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gatehouse:aws:Monitoring", name, {}, opts);
        const alarm = (id: string, a: Partial<aws.cloudwatch.MetricAlarmArgs>) =>
            new aws.cloudwatch.MetricAlarm(
                `${name}-${id}`,
                { ...alarmDefaults(args.topicArn), name: `${name}-${id}`, evaluationPeriods: 5, ...a } as aws.cloudwatch.MetricAlarmArgs,
                { parent: this },
            );
        const alarms = [
            alarm("p95-latency", { namespace: "AWS/ApplicationELB", metricName: "TargetResponseTime", extendedStatistic: "p95", threshold: 1.5, dimensions: { LoadBalancer: args.loadBalancerSuffix }, alarmDescription: "p95 response time above 1.5 s" }),
            ...args.serviceNames.flatMap((service) => [
                alarm(`${service}-cpu`, { namespace: "AWS/ECS", metricName: "CPUUtilization", statistic: "Average", threshold: 80, dimensions: { ClusterName: args.clusterName, ServiceName: service }, alarmDescription: `${service} CPU above 80%` }),
                alarm(`${service}-memory`, { namespace: "AWS/ECS", metricName: "MemoryUtilization", statistic: "Average", threshold: 85, dimensions: { ClusterName: args.clusterName, ServiceName: service }, alarmDescription: `${service} memory above 85%` }),
            ]),
            alarm("db-connections", { namespace: "AWS/RDS", metricName: "DatabaseConnections", statistic: "Maximum", threshold: 150, dimensions: { DBInstanceIdentifier: args.databaseId }, alarmDescription: "database connections near the app role's limit" }),
            alarm("db-cpu", { namespace: "AWS/RDS", metricName: "CPUUtilization", statistic: "Average", threshold: 80, dimensions: { DBInstanceIdentifier: args.databaseId }, alarmDescription: "database CPU above 80%" }),
            alarm("db-free-storage", { namespace: "AWS/RDS", metricName: "FreeStorageSpace", statistic: "Minimum", threshold: 5 * 1024 ** 3, comparisonOperator: "LessThanThreshold", dimensions: { DBInstanceIdentifier: args.databaseId }, alarmDescription: "database free storage below 5 GiB" }),
        ];
        if (args.redisId) {
            alarms.push(
                alarm("redis-cpu", { namespace: "AWS/ElastiCache", metricName: "EngineCPUUtilization", statistic: "Average", threshold: 75, dimensions: { ReplicationGroupId: args.redisId }, alarmDescription: "Redis engine CPU above 75%" }),
                alarm("redis-memory", { namespace: "AWS/ElastiCache", metricName: "DatabaseMemoryUsagePercentage", statistic: "Average", threshold: 80, dimensions: { ReplicationGroupId: args.redisId }, alarmDescription: "Redis memory above 80%" }),
            );
        }
        const all = [...args.rollbackAlarms, ...alarms];
        this.alarmNames = all.map((a) => a.name);
        new aws.cloudwatch.Dashboard(
            `${name}-dashboard`,
            {
                dashboardName: name,
                dashboardBody: pulumi.all(all.map((a) => a.arn)).apply((arns) =>
                    JSON.stringify({
                        widgets: [
                            { type: "alarm", x: 0, y: 0, width: 24, height: 6, properties: { title: "Release watch (checklist 6)", alarms: arns } },
                        ],
                    }),
                ),
            },
            { parent: this },
        );
        this.registerOutputs({});
    }
}
