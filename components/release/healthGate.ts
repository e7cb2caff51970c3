import * as pulumi from "@pulumi/pulumi";
import { runGate } from "./gate";
import { formatGateReport } from "./gateReport";
import type { GateSpec } from "./gateSchema";
import { gateSecretKeys } from "./gateVars";

export interface HealthGateArgs {
    /** Where the new version answers before it takes traffic. */
    baseUrl: pulumi.Input<string>;
    /** The spec, bound to the stack (its `stack` facts decide every `when`). */
    spec: pulumi.Input<GateSpec>;
    /** Keys the gate: every release re-runs it. */
    release: pulumi.Input<string>;
    /**
     * Why the checks need not run, when they need not: the candidate is the very
     * process that passed this gate when its release was promoted (a rollback to
     * the standby). Empty means run them.
     */
    skipBecause?: pulumi.Input<string>;
    /**
     * Where users get the live version now, with its health path (the local
     * edge). Probed when the gate fails, so the failure says whether users
     * still get a working version instead of assuming it; empty: not probed,
     * and the message says only that production was not switched.
     */
    liveUrl?: pulumi.Input<string>;
}

interface GateInputs {
    baseUrl: string;
    spec: GateSpec;
    release: string;
    skipBecause?: string;
    liveUrl?: string;
    /** Values of the secret config keys the spec's vars name; a Pulumi secret, never in the outputs. */
    secrets?: Record<string, string>;
}

// The provider object is serialized into the state and run by Pulumi's
// dynamic-provider host; runGate/formatGateReport are captured by value and
// use Node built-ins only, so nothing needs resolving there.
const healthGateProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: GateInputs): Promise<pulumi.dynamic.CreateResult> {
        const { secrets, ...visible } = inputs;
        if (inputs.skipBecause) {
            const text = `health gate skipped against ${inputs.baseUrl}: ${inputs.skipBecause}`;
            return { id: `gate-${inputs.release}`, outs: { ...visible, durationMs: 0, checks: [], leftovers: [], report: text } };
        }
        const report = await runGate(inputs.baseUrl, inputs.spec, { release: inputs.release, secrets: secrets ?? {} });
        const text = formatGateReport(inputs.baseUrl, report);
        if (!report.passed) {
            throw new Error(
                `${text}\nRelease ${inputs.release} is not promoted: ${await whatUsersGet(inputs.liveUrl)} ` +
                    `Fix the failing check(s) and run \`pulumi up\` again, or return to the previous config to roll back.`,
            );
        }
        return {
            id: `gate-${inputs.release}`,
            outs: {
                ...visible,
                durationMs: report.durationMs,
                checks: report.checks.map((c) => ({ name: c.name, result: c.result, attempts: c.attempts, latencyMs: c.last?.latencyMs ?? 0, ...(c.reason ? { reason: c.reason } : {}) })),
                leftovers: report.leftovers,
                report: text,
            },
        };
    },
    async diff(_id: string, olds: GateInputs, news: GateInputs): Promise<pulumi.dynamic.DiffResult> {
        // Secrets are left out on purpose: rotating the smoke password does not re-run the gate.
        const replaces = (["release", "baseUrl", "spec", "skipBecause"] as const).filter(
            (k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]),
        );
        return { changes: replaces.length > 0, replaces, deleteBeforeReplace: true };
    },
};

/**
 * What users get while a release is refused, from the live address itself:
 * after down:local or a crash the edge may point at a version that is not
 * running, and saying "users still get the previous version" would be false.
 * Node built-ins only (the provider is serialized).
 */
async function whatUsersGet(liveUrl: string | undefined): Promise<string> {
    if (!liveUrl) return "production was not switched to it.";
    try {
        const res = await fetch(liveUrl, { signal: AbortSignal.timeout(3000) });
        await res.arrayBuffer();
        if (res.ok) return `users still get the previous version (${liveUrl} answers ${res.status}).`;
        return `users get NO working version either: ${liveUrl} answers ${res.status} (nothing healthy is live; was the stack stopped?).`;
    } catch (err: any) {
        return `users get NO working version either: ${liveUrl} does not answer (${err?.cause?.code ?? err?.name ?? err}); nothing is live.`;
    }
}

/**
 * Checks the new version before it takes traffic. `pulumi up` fails with a
 * report naming every failing check, and what depends on the gate (the
 * promotion) does not happen.
 */
export class HealthGate extends pulumi.dynamic.Resource {
    declare readonly durationMs: pulumi.Output<number>;
    declare readonly checks: pulumi.Output<{ name: string; result: string; attempts: number; latencyMs: number; reason?: string }[]>;
    declare readonly leftovers: pulumi.Output<string[]>;
    declare readonly report: pulumi.Output<string>;

    constructor(name: string, args: HealthGateArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            healthGateProvider,
            name,
            { ...args, secrets: gateSecrets(args.spec), durationMs: undefined, checks: undefined, leftovers: undefined, report: undefined },
            opts,
            "gatehouse",
            "HealthGate",
        );
    }
}

/**
 * The secret config keys the bound spec's vars need (e.g. the production smoke
 * account), read from the stack's config as Pulumi secrets: encrypted in the
 * state, handed to the provider only to run the gate.
 */
function gateSecrets(spec: pulumi.Input<GateSpec>): pulumi.Output<Record<string, string>> {
    return pulumi.secret(
        pulumi.output(spec).apply((s) => {
            const config = new pulumi.Config(pulumi.getProject());
            return pulumi.all(Object.fromEntries(gateSecretKeys(s as GateSpec).map((key) => [key, config.requireSecret(key)])));
        }),
    );
}

/**
 * The spec with the env values Gatehouse derives for the gated service (e.g.
 * the frontend's API base URL, known only once the load balancer or the local
 * edge exists) filled into its facts, for the vars that read them.
 */
export function withDerivedEnv(spec: GateSpec, derived: Record<string, pulumi.Input<string>>): pulumi.Output<GateSpec> {
    const wanted = Object.fromEntries(Object.entries(derived).filter(([name]) => spec.stack?.env[name] === null));
    return pulumi.all(wanted).apply((values) => (spec.stack ? { ...spec, stack: { ...spec.stack, env: { ...spec.stack.env, ...values } } } : spec));
}
