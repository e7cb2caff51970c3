import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { Slot } from "../config";
import type { GateSpec } from "../release/gateSchema";
import { HealthGate } from "../release/healthGate";
import { slotAlarms } from "./monitoring";
import { appTaskDefinition, executionRole } from "./taskDefinition";

// Fast-deploy settings, against AWS's defaults:
// - target health check every 5 s, healthy after 2 passes: a task takes
//   traffic ~10 s after it answers, instead of 30 s x 5 = 150 s;
// - unhealthy after 2 failures (10 s) instead of 2 x 30 s;
// - deregistration delay 15 s instead of 300 s: API calls finish in well
//   under a second, so 15 s drains them and a switch or rollback is not held
//   five minutes;
// - grace period 30 s: the container's own start-up, during which failing
//   health checks do not kill it (the policy pack bounds all of these).
export const TARGET_HEALTH = { interval: 5, timeout: 4, healthyThreshold: 2, unhealthyThreshold: 2 } as const;
export const DEREGISTRATION_DELAY_SECONDS = 15;
export const HEALTH_CHECK_GRACE_SECONDS = 30;

export interface BlueGreenServiceArgs {
    region: string;
    vpcId: pulumi.Input<string>;
    clusterArn: pulumi.Input<string>;
    subnetIds: pulumi.Input<string>[];
    securityGroupId: pulumi.Input<string>;
    port: number;
    healthPath: string;
    /** Image per slot; the live slot's is the release's new image. */
    images: Record<Slot, string>;
    liveSlot: Slot;
    desiredCount: number;
    environment: Record<string, pulumi.Input<string>>;
    /** Env var name -> Secrets Manager ARN. */
    secrets: Record<string, pulumi.Input<string>>;
    logGroupName: pulumi.Input<string>;
    loadBalancerArn: pulumi.Input<string>;
    certificateArn: string;
    /** The production HTTPS listener; the promotion is a rule on it. */
    productionListenerArn: pulumi.Input<string>;
    /** Paths this service answers on the production listener. */
    pathPatterns: string[];
    rulePriority: number;
    /** Where the gate reaches the new version: a test listener on this port. */
    testPort: number;
    publicHostname: string;
    gate: pulumi.Input<GateSpec>;
    release: string;
    /** The load balancer's ARN suffix (CloudWatch dimension of the per-slot alarms). */
    loadBalancerSuffix: pulumi.Input<string>;
    /** Where the per-slot alarms notify. */
    alarmTopicArn: pulumi.Input<string>;
    /** What must finish before the new slot changes. */
    after: pulumi.Resource[];
    /**
     * The release was promoted before (a rollback): the production rule flips to
     * the live slot without a gate; the slot itself changes only if a later
     * release replaced what it runs.
     */
    returning: boolean;
}

/**
 * A service as two slots behind one load balancer. A release puts the new
 * image on the slot that becomes live, waits for it to be steady, gates it
 * through a test listener, and only then points the production rule at it.
 * The other slot keeps the previous version running: going back is a rule
 * change, not a redeploy.
 */
export class BlueGreenService extends pulumi.ComponentResource {
    readonly services: Record<Slot, aws.ecs.Service>;
    readonly targetGroups: Record<Slot, aws.lb.TargetGroup>;
    /** Absent on a rollback (see BlueGreenServiceArgs.returning). */
    readonly gate: HealthGate | undefined;
    /** Per slot: the alarms that roll its ECS deployments back (its own target group's 5xx, connection errors, unhealthy hosts). */
    readonly alarms: Record<Slot, aws.cloudwatch.MetricAlarm[]>;
    /** The production rule's switch to the live slot: made by promote(), once every gate of the release passed. */
    promotion!: aws.lb.ListenerRule;
    /** What the switch waits for of this service: its gate, or on a rollback its live slot. */
    readonly ready: pulumi.Resource[];
    private readonly productionRule: { listenerArn: pulumi.Input<string>; priority: number; pathPatterns: string[] };
    private readonly serviceName: string;
    private readonly liveSlot: Slot;

    constructor(name: string, args: BlueGreenServiceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gatehouse:aws:BlueGreenService", name, {}, opts);
        this.serviceName = name;
        this.liveSlot = args.liveSlot;
        const child = { parent: this };
        const execRole = executionRole(`${name}-exec`, Object.values(args.secrets), child);
        const taskRole = new aws.iam.Role(
            `${name}-task`,
            { assumeRolePolicy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: "ecs-tasks.amazonaws.com" }, Action: "sts:AssumeRole" }] }) },
            child,
        );

        const slots: Slot[] = ["blue", "green"];
        const live = args.liveSlot;
        this.targetGroups = {} as Record<Slot, aws.lb.TargetGroup>;
        for (const slot of slots) {
            this.targetGroups[slot] = new aws.lb.TargetGroup(
                `${name}-${slot}`,
                {
                    vpcId: args.vpcId,
                    port: args.port,
                    protocol: "HTTP",
                    targetType: "ip",
                    deregistrationDelay: DEREGISTRATION_DELAY_SECONDS,
                    healthCheck: { path: args.healthPath, matcher: "200-399", ...TARGET_HEALTH },
                },
                child,
            );
        }

        // Every slot's target group is attached to a listener before its service
        // exists (ECS refuses a service whose target group has no load balancer):
        // the test listener forwards to the candidate (the slot going live) by
        // default, and each slot also answers there by name
        // (`X-Gatehouse-Slot: blue|green`), so either slot can be created, gated
        // and switched to in any order. The listener is reachable only from
        // gateSourceCidrs (the load balancer's security group).
        const testListener = new aws.lb.Listener(
            `${name}-test`,
            {
                loadBalancerArn: args.loadBalancerArn,
                port: args.testPort,
                protocol: "HTTPS",
                sslPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06",
                certificateArn: args.certificateArn,
                defaultActions: [{ type: "forward", targetGroupArn: this.targetGroups[live].arn }],
            },
            child,
        );
        const attached = {} as Record<Slot, pulumi.Output<string>>;
        slots.forEach((slot, i) => {
            const bySlot = new aws.lb.ListenerRule(
                `${name}-test-${slot}`,
                {
                    listenerArn: testListener.arn,
                    priority: i + 1,
                    conditions: [{ httpHeader: { httpHeaderName: "X-Gatehouse-Slot", values: [slot] } }],
                    actions: [{ type: "forward", targetGroupArn: this.targetGroups[slot].arn }],
                },
                child,
            );
            // The ARN the service gets resolves only once the slot is attached, so
            // the order is forced by data.
            const attachments: pulumi.Output<string>[] = [bySlot.arn, ...(slot === live ? [testListener.arn] : [])];
            attached[slot] = pulumi.all([this.targetGroups[slot].arn, ...attachments]).apply(([arn]) => arn);
        });

        this.alarms = {} as Record<Slot, aws.cloudwatch.MetricAlarm[]>;
        this.services = {} as Record<Slot, aws.ecs.Service>;
        for (const slot of slots) {
            const isLive = slot === live;
            // Each slot's deployments roll back on its own target group's signals, not the whole load balancer's.
            this.alarms[slot] = slotAlarms(`${name}-${slot}`, {
                loadBalancerSuffix: args.loadBalancerSuffix,
                targetGroupSuffix: this.targetGroups[slot].arnSuffix,
                topicArn: args.alarmTopicArn,
                parent: this,
            });
            const taskDefinition = appTaskDefinition(
                `${name}-${slot}`,
                {
                    image: args.images[slot],
                    port: args.port,
                    environment: { ...args.environment, GATEHOUSE_SLOT: slot },
                    secrets: args.secrets,
                    cpu: 512,
                    memory: 1024,
                    logGroupName: args.logGroupName,
                    region: args.region,
                    executionRoleArn: execRole.arn,
                    taskRoleArn: taskRole.arn,
                },
                // Only the slot that goes live waits for the data layer's release steps.
                { parent: this, dependsOn: isLive ? args.after : [] },
            );
            this.services[slot] = new aws.ecs.Service(
                `${name}-${slot}`,
                {
                    name: `${name}-${slot}`,
                    cluster: args.clusterArn,
                    taskDefinition: taskDefinition.arn,
                    desiredCount: args.desiredCount,
                    launchType: "FARGATE",
                    networkConfiguration: { subnets: args.subnetIds, securityGroups: [args.securityGroupId], assignPublicIp: false },
                    loadBalancers: [{ targetGroupArn: attached[slot], containerName: "app", containerPort: args.port }],
                    healthCheckGracePeriodSeconds: HEALTH_CHECK_GRACE_SECONDS,
                    deploymentMinimumHealthyPercent: 100,
                    deploymentMaximumPercent: 200,
                    deploymentCircuitBreaker: { enable: true, rollback: true },
                    alarms: { alarmNames: this.alarms[slot].map((a) => a.name), enable: true, rollback: true },
                    waitForSteadyState: true,
                    propagateTags: "SERVICE",
                },
                { parent: this, dependsOn: isLive ? args.after : [] },
            );
        }

        // A rollback flips to a slot that passed the gate when its release was
        // promoted; a new release is gated through the test listener first.
        this.gate = args.returning
            ? undefined
            : new HealthGate(
                  `${name}-gate`,
                  { baseUrl: `https://${args.publicHostname}:${args.testPort}`, spec: args.gate, release: args.release },
                  { parent: this, dependsOn: [this.services[live], testListener] },
              );
        this.ready = this.gate ? [this.gate] : [this.services[live]];
        this.productionRule = { listenerArn: args.productionListenerArn, priority: args.rulePriority, pathPatterns: args.pathPatterns };
        this.registerOutputs({});
    }

    /**
     * Points the production rule at the live slot once `after` finished: the
     * platform passes every service's gate (and the services promoted before
     * this one), so nothing users see changes before the whole release passed.
     */
    promote(after: pulumi.Resource[]): aws.lb.ListenerRule {
        const live = this.liveSlot;
        this.promotion = new aws.lb.ListenerRule(
            `${this.serviceName}-live`,
            {
                listenerArn: this.productionRule.listenerArn,
                priority: this.productionRule.priority,
                conditions: [{ pathPattern: { values: this.productionRule.pathPatterns } }],
                actions: [{ type: "forward", targetGroupArn: this.targetGroups[live].arn }],
            },
            { parent: this, dependsOn: [...this.ready, ...after] },
        );
        return this.promotion;
    }
}
