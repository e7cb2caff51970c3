import * as pulumi from "@pulumi/pulumi";

/** One production rule the bake window may switch back. */
export interface BakeRule {
    /** For messages: `kifu-backend`. */
    service: string;
    ruleArn: string;
    /** What the rule forwards to after the promotion (the live slot's target group). */
    liveTargetGroupArn: string;
    /** Where it goes back to: the previous release's slot; absent when there is none (first deploy). */
    previousTargetGroupArn?: string;
}

export interface BakeWindowArgs {
    region: string;
    release: string;
    /** How long the live slots are watched after the last production rule switched. */
    bakeSeconds: number;
    /** Seconds between two looks at the alarms. @default 10 */
    pollSeconds?: number;
    /** The live slots' own alarms: 5xx, connection errors and unhealthy hosts per target group, p95 latency. */
    alarmNames: pulumi.Input<string>[];
    rules: pulumi.Input<BakeRule>[];
    /** For messages: the slot and release production goes back to. */
    previous: { slot: string; release: string } | undefined;
}

interface BakeInputs {
    region: string;
    release: string;
    bakeSeconds: number;
    pollSeconds?: number;
    alarmNames: string[];
    rules: BakeRule[];
    previous?: { slot: string; release: string };
}

/** The CloudWatch and ELBv2 calls the bake window makes (the SDK clients, or a stand-in). */
export interface BakeClients {
    cloudwatch: { send(command: any): Promise<any> };
    elb: { send(command: any): Promise<any> };
    /** @aws-sdk/client-cloudwatch and @aws-sdk/client-elastic-load-balancing-v2: their command classes. */
    cw: any;
    elbv2: any;
    sleep(ms: number): Promise<void>;
    now(): number;
}

/**
 * The bake window (CodeDeploy's "bake time", Argo Rollouts' analysis) with
 * what the stack already has: the live slots' CloudWatch alarms, polled with
 * DescribeAlarms, and the production listener rules, switched back with
 * ModifyRule. An alarm counts as firing when it entered ALARM after the
 * window opened (StateUpdatedTimestamp), or is still in ALARM when it closes:
 * one left in ALARM by an earlier version on the same slot (a failed gate's
 * requests) gets the window to recover. OK and INSUFFICIENT_DATA (the state
 * of a new alarm, or of a metric with no data) never fire.
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Alarms.html#alarm-evaluation
 */
export async function watchBakeWindow(inputs: BakeInputs, c: BakeClients): Promise<{ checks: number }> {
    const opened = c.now();
    // A retry of an update whose bake switched production back must not record
    // the release as promoted while users are on the previous one.
    const { Rules } = await c.elb.send(new c.elbv2.DescribeRulesCommand({ RuleArns: inputs.rules.map((r) => r.ruleArn) }));
    for (const rule of inputs.rules) {
        const now = forwardedTo(Rules?.find((r: any) => r.RuleArn === rule.ruleArn));
        if (now !== rule.liveTargetGroupArn) {
            throw new Error(
                `bake window of release ${inputs.release}: the production rule of ${rule.service} forwards to ${now ?? "nothing"}, not to the slot this release promoted; ` +
                    `an earlier bake window switched it back. To try this version again give it a new \`release\` id (a full release: gate and bake); to stay where you are, return to the previous config.`,
            );
        }
    }
    const deadline = opened + inputs.bakeSeconds * 1000;
    const poll = (inputs.pollSeconds ?? 10) * 1000;
    let checks = 0;
    for (;;) {
        const closing = c.now() >= deadline;
        const { MetricAlarms } = await c.cloudwatch.send(new c.cw.DescribeAlarmsCommand({ AlarmNames: inputs.alarmNames, AlarmTypes: ["MetricAlarm"] }));
        checks++;
        const firing = (MetricAlarms ?? []).filter(
            (a: any) => a.StateValue === "ALARM" && (closing || new Date(a.StateUpdatedTimestamp).getTime() >= opened),
        );
        if (firing.length > 0) await switchBack(inputs, c, firing, Math.round((c.now() - opened) / 1000));
        if (closing) return { checks };
        await c.sleep(Math.min(poll, Math.max(0, deadline - c.now())));
    }
}

async function switchBack(inputs: BakeInputs, c: BakeClients, firing: any[], afterSeconds: number): Promise<never> {
    const reasons = firing.map((a) => `${a.AlarmName} (${a.StateReason ?? "ALARM"})`).join("; ");
    const back = inputs.rules.filter((r) => r.previousTargetGroupArn);
    for (const rule of back) {
        await c.elb.send(new c.elbv2.ModifyRuleCommand({ RuleArn: rule.ruleArn, Actions: [{ Type: "forward", TargetGroupArn: rule.previousTargetGroupArn }] }));
    }
    const where =
        back.length > 0 && inputs.previous
            ? `Production traffic is switched back to slot ${inputs.previous.slot} (release ${inputs.previous.release}).`
            : "There is no previous release to switch back to (first deploy): production stays on this release; fix it and release again.";
    throw new Error(
        `bake window: release ${inputs.release} tripped ${reasons} ${afterSeconds} s after promotion. ${where} ` +
            `The update failed and the release is not recorded as promoted; return to the previous config to make that the stack's state, or fix and release again.`,
    );
}

function forwardedTo(rule: any): string | undefined {
    const forward = (rule?.Actions ?? []).find((a: any) => a.Type === "forward");
    return forward?.TargetGroupArn ?? forward?.ForwardConfig?.TargetGroups?.[0]?.TargetGroupArn;
}

// Serialized into the state; the SDKs are required inside the method, never captured.
const bakeWindowProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: BakeInputs): Promise<pulumi.dynamic.CreateResult> {
        const cw = require("@aws-sdk/client-cloudwatch");
        const elbv2 = require("@aws-sdk/client-elastic-load-balancing-v2");
        const { checks } = await watchBakeWindow(inputs, {
            cloudwatch: new cw.CloudWatchClient({ region: inputs.region }),
            elb: new elbv2.ElasticLoadBalancingV2Client({ region: inputs.region }),
            cw,
            elbv2,
            sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
            now: () => Date.now(),
        });
        return { id: `bake-${inputs.release}`, outs: { ...inputs, checks } };
    },
    async diff(_id: string, olds: BakeInputs, news: BakeInputs): Promise<pulumi.dynamic.DiffResult> {
        // A new release (or a different set of rules or alarms) bakes again; the same config does not.
        const replaces = (["release", "rules", "alarmNames"] as const).filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
        return { changes: replaces.length > 0, replaces, deleteBeforeReplace: true };
    },
};

/**
 * Watches the live slots after promotion and switches production back when
 * one of their alarms fires; `pulumi up` then fails with a message saying so.
 */
export class BakeWindow extends pulumi.dynamic.Resource {
    declare readonly checks: pulumi.Output<number>;

    constructor(name: string, args: BakeWindowArgs, opts?: pulumi.CustomResourceOptions) {
        super(bakeWindowProvider, name, { ...args, checks: undefined }, opts, "gatehouse", "BakeWindow");
    }
}
