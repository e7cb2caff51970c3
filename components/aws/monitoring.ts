import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

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

export interface SlotAlarmsArgs {
    /** The load balancer's ARN suffix; target group metrics carry both dimensions. */
    loadBalancerSuffix: pulumi.Input<string>;
    /** The slot's target group's ARN suffix (`targetgroup/<name>/<id>`). */
    targetGroupSuffix: pulumi.Input<string>;
    topicArn: pulumi.Input<string>;
    parent: pulumi.Resource;
}

/**
 * The alarms that mean "roll this slot back" (checklist section 7: 5xx surge,
 * 502s, targets failing), on the slot's own target group: the ALB publishes
 * HTTPCode_Target_5XX_Count, TargetConnectionErrorCount (what the client sees
 * as a 502), UnHealthyHostCount and TargetResponseTime per TargetGroup +
 * LoadBalancer
 * (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html).
 * Counting the whole load balancer would blame the new slot for the old one's
 * errors, and the standby's for the live one's. The slot's ECS deployments
 * watch them (deployment alarms).
 */
export function slotAlarms(name: string, args: SlotAlarmsArgs): aws.cloudwatch.MetricAlarm[] {
    const common = {
        ...alarmDefaults(args.topicArn),
        namespace: "AWS/ApplicationELB",
        dimensions: { LoadBalancer: args.loadBalancerSuffix, TargetGroup: args.targetGroupSuffix },
        // Two minutes: fast enough to roll a deployment back, not a single blip.
        evaluationPeriods: 2,
    };
    const alarm = (id: string, a: Partial<aws.cloudwatch.MetricAlarmArgs>) =>
        new aws.cloudwatch.MetricAlarm(`${name}-${id}`, { ...common, name: `${name}-${id}`, ...a } as aws.cloudwatch.MetricAlarmArgs, { parent: args.parent });
    return [
        alarm("target-5xx", { metricName: "HTTPCode_Target_5XX_Count", statistic: "Sum", threshold: 20, alarmDescription: `${name}: 5xx surge from this slot's targets: roll back (checklist 7)` }),
        alarm("connection-errors", { metricName: "TargetConnectionErrorCount", statistic: "Sum", threshold: 5, alarmDescription: `${name}: connections refused by this slot's targets (502s): roll back (checklist 6, 7)` }),
        alarm("unhealthy-hosts", { metricName: "UnHealthyHostCount", statistic: "Maximum", threshold: 0, alarmDescription: `${name}: a target of this slot fails its health check` }),
    ];
}

export interface MonitoringArgs {
    topicArn: pulumi.Input<string>;
    loadBalancerSuffix: pulumi.Input<string>;
    clusterName: pulumi.Input<string>;
    /** ECS service names to watch (both slots of each service, and the worker). */
    serviceNames: string[];
    databaseId: pulumi.Input<string>;
    /** Redis node (cache cluster) ids, when the app has Redis: ElastiCache publishes its metrics per node. */
    redisNodeIds?: pulumi.Input<string>[];
    region: string;
    /** The live slot's alarms, per service (on the dashboard; they also roll its deployments back). */
    slotAlarms: aws.cloudwatch.MetricAlarm[];
    /** Target group suffixes of the live slots, for the latency alarm per slot. */
    liveTargetGroups: { service: string; suffix: pulumi.Input<string> }[];
}

/** The hour of monitoring after a release (checklist section 6) as alarms and one dashboard. */
export class Monitoring extends pulumi.ComponentResource {
    readonly alarmNames: pulumi.Output<string>[];
    /** The live slots' p95 latency alarms (the bake window watches them with the slots' own). */
    readonly latencyAlarms: aws.cloudwatch.MetricAlarm[];

    constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gatehouse:aws:Monitoring", name, {}, opts);
        const alarm = (id: string, a: Partial<aws.cloudwatch.MetricAlarmArgs>) =>
            new aws.cloudwatch.MetricAlarm(
                `${name}-${id}`,
                { ...alarmDefaults(args.topicArn), name: `${name}-${id}`, evaluationPeriods: 5, ...a } as aws.cloudwatch.MetricAlarmArgs,
                { parent: this },
            );
        this.latencyAlarms = args.liveTargetGroups.map((tg) =>
            alarm(`${tg.service}-p95-latency`, { namespace: "AWS/ApplicationELB", metricName: "TargetResponseTime", extendedStatistic: "p95", threshold: 1.5, dimensions: { LoadBalancer: args.loadBalancerSuffix, TargetGroup: tg.suffix }, alarmDescription: `${tg.service} live slot: p95 response time above 1.5 s` }),
        );
        const alarms = [
            ...this.latencyAlarms,
            // 502s the load balancer itself generates are published per load balancer only.
            alarm("elb-502", { namespace: "AWS/ApplicationELB", metricName: "HTTPCode_ELB_502_Count", statistic: "Sum", threshold: 5, evaluationPeriods: 2, dimensions: { LoadBalancer: args.loadBalancerSuffix }, alarmDescription: "502 / connection refused from targets (checklist 6, 7)" }),
            ...args.serviceNames.flatMap((service) => [
                alarm(`${service}-cpu`, { namespace: "AWS/ECS", metricName: "CPUUtilization", statistic: "Average", threshold: 80, dimensions: { ClusterName: args.clusterName, ServiceName: service }, alarmDescription: `${service} CPU above 80%` }),
                alarm(`${service}-memory`, { namespace: "AWS/ECS", metricName: "MemoryUtilization", statistic: "Average", threshold: 85, dimensions: { ClusterName: args.clusterName, ServiceName: service }, alarmDescription: `${service} memory above 85%` }),
            ]),
            alarm("db-connections", { namespace: "AWS/RDS", metricName: "DatabaseConnections", statistic: "Maximum", threshold: 150, dimensions: { DBInstanceIdentifier: args.databaseId }, alarmDescription: "database connections near the app role's limit" }),
            alarm("db-cpu", { namespace: "AWS/RDS", metricName: "CPUUtilization", statistic: "Average", threshold: 80, dimensions: { DBInstanceIdentifier: args.databaseId }, alarmDescription: "database CPU above 80%" }),
            alarm("db-free-storage", { namespace: "AWS/RDS", metricName: "FreeStorageSpace", statistic: "Minimum", threshold: 5 * 1024 ** 3, comparisonOperator: "LessThanThreshold", dimensions: { DBInstanceIdentifier: args.databaseId }, alarmDescription: "database free storage below 5 GiB" }),
        ];
        // ElastiCache publishes host and engine metrics per node, with the
        // CacheClusterId dimension (a replication group's member cluster), not per
        // replication group
        // (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/CacheMetrics.html): one alarm per node.
        (args.redisNodeIds ?? []).forEach((nodeId, i) => {
            const node = `redis-${String(i + 1).padStart(3, "0")}`;
            alarms.push(
                alarm(`${node}-cpu`, { namespace: "AWS/ElastiCache", metricName: "EngineCPUUtilization", statistic: "Average", threshold: 75, dimensions: { CacheClusterId: nodeId }, alarmDescription: `Redis node ${i + 1}: engine CPU above 75%` }),
                alarm(`${node}-memory`, { namespace: "AWS/ElastiCache", metricName: "DatabaseMemoryUsagePercentage", statistic: "Average", threshold: 80, dimensions: { CacheClusterId: nodeId }, alarmDescription: `Redis node ${i + 1}: memory above 80%` }),
            );
        });
        const all = [...args.slotAlarms, ...alarms];
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
