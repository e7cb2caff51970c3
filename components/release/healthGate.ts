import * as pulumi from "@pulumi/pulumi";
import { GateSpec, formatGateReport, runGate } from "./gate";

export interface HealthGateArgs {
    /** Where the new version answers before it takes traffic. */
    baseUrl: pulumi.Input<string>;
    spec: pulumi.Input<GateSpec>;
    /** Keys the gate: every release re-runs it. */
    release: pulumi.Input<string>;
}

interface GateInputs {
    baseUrl: string;
    spec: GateSpec;
    release: string;
}

// The provider object is serialized into the state and run by Pulumi's
// dynamic-provider host; runGate/formatGateReport are captured by value and
// use Node built-ins only, so nothing needs resolving there.
const healthGateProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: GateInputs): Promise<pulumi.dynamic.CreateResult> {
        const report = await runGate(inputs.baseUrl, inputs.spec, { release: inputs.release });
        const text = formatGateReport(inputs.baseUrl, report);
        if (!report.passed) {
            throw new Error(
                `${text}\nRelease ${inputs.release} is not promoted: users still get the previous version. ` +
                    `Fix the failing check(s) and run \`pulumi up\` again, or return to the previous config to roll back.`,
            );
        }
        return {
            id: `gate-${inputs.release}`,
            outs: {
                ...inputs,
                durationMs: report.durationMs,
                checks: report.checks.map((c) => ({ name: c.name, attempts: c.attempts, latencyMs: c.last?.latencyMs ?? 0 })),
                report: text,
            },
        };
    },
    async diff(_id: string, olds: GateInputs, news: GateInputs): Promise<pulumi.dynamic.DiffResult> {
        const replaces = (["release", "baseUrl", "spec"] as const).filter(
            (k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]),
        );
        return { changes: replaces.length > 0, replaces, deleteBeforeReplace: true };
    },
};

/**
 * Checks the new version before it takes traffic. `pulumi up` fails with a
 * report naming every failing check, and what depends on the gate (the
 * promotion) does not happen.
 */
export class HealthGate extends pulumi.dynamic.Resource {
    declare readonly durationMs: pulumi.Output<number>;
    declare readonly checks: pulumi.Output<{ name: string; attempts: number; latencyMs: number }[]>;
    declare readonly report: pulumi.Output<string>;

    constructor(name: string, args: HealthGateArgs, opts?: pulumi.CustomResourceOptions) {
        super(healthGateProvider, name, { ...args, durationMs: undefined, checks: undefined, report: undefined }, opts, "gatehouse", "HealthGate");
    }
}
