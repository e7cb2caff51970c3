import * as pulumi from "@pulumi/pulumi";

/** One resource registration as the engine received it. */
export interface Registration {
    type: string;
    name: string;
    /** Inputs as sent; secret values stay wrapped (see isSecretValue). */
    inputs: Record<string, any>;
    custom: boolean;
    provider?: string;
    /** ms since the run started: when the engine was asked, and when it answered. */
    start: number;
    end?: number;
    state?: Record<string, any>;
    error?: Error;
    /** Resource options as sent to the engine (see captureOptions). */
    options: RegistrationOptions;
}

export interface RegistrationOptions {
    protect: boolean;
    retainOnDelete: boolean;
    deleteBeforeReplace: boolean;
    ignoreChanges: string[];
    replaceOnChanges: string[];
    /** URNs of explicit and implicit dependencies. */
    dependencies: string[];
    parent: string;
}

/**
 * Computes a resource's outputs. May be async: the engine answers only when it
 * resolves, and resources that depend on this one wait until then.
 */
export type Answer = (args: pulumi.runtime.MockResourceArgs, options: RegistrationOptions) => Promise<Record<string, any>> | Record<string, any>;

/** Echoes inputs back as outputs, after `delayMs` so ordering shows in start/end times. */
export function echo(delayMs = 0): Answer {
    return async (args) => {
        if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
        return { ...args.inputs };
    };
}

/** Mocks that record every registration and its timing, and answer through `answer`. */
export class RecordingMocks implements pulumi.runtime.Mocks {
    readonly registrations: Registration[] = [];
    private readonly t0 = Date.now();
    private readonly options = new Map<string, RegistrationOptions>();

    /**
     * The Mocks interface does not see resource options (protect, ignoreChanges,
     * ...); the monitor's request does. Wraps the mock monitor's registerResource
     * to keep them, keyed by type and name, for assertions and for the executor.
     */
    captureOptions(monitor: any): void {
        const original = monitor.registerResource.bind(monitor);
        monitor.registerResource = (req: any, callback: any) => {
            this.options.set(`${req.getType()}::${req.getName()}`, {
                protect: req.getProtect() === true,
                retainOnDelete: req.getRetainondelete() === true,
                deleteBeforeReplace: req.getDeletebeforereplace() === true,
                ignoreChanges: req.getIgnorechangesList(),
                replaceOnChanges: req.getReplaceonchangesList(),
                dependencies: req.getDependenciesList(),
                parent: req.getParent(),
            });
            return original(req, callback);
        };
    }

    constructor(private readonly answer: Answer = echo()) {}

    async newResource(args: pulumi.runtime.MockResourceArgs): Promise<pulumi.runtime.MockResourceResult> {
        const registration: Registration = {
            type: args.type,
            name: args.name,
            inputs: args.inputs,
            custom: args.custom ?? false,
            provider: args.provider,
            start: Date.now() - this.t0,
            options: this.options.get(`${args.type}::${args.name}`) ?? {
                protect: false,
                retainOnDelete: false,
                deleteBeforeReplace: false,
                ignoreChanges: [],
                replaceOnChanges: [],
                dependencies: [],
                parent: "",
            },
        };
        this.registrations.push(registration);
        try {
            const state = await this.answer(args, registration.options);
            registration.state = state;
            return { id: args.custom ? `${args.name}-id` : undefined, state };
        } catch (err) {
            registration.error = err instanceof Error ? err : new Error(String(err));
            throw registration.error;
        } finally {
            registration.end = Date.now() - this.t0;
        }
    }

    call(args: pulumi.runtime.MockCallArgs): Record<string, any> {
        return args.inputs;
    }
}

// The SDK's marker for a secret value inside deserialized inputs.
const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** True when a recorded input value is a Pulumi secret. */
export function isSecretValue(value: unknown): boolean {
    return typeof value === "object" && value !== null && (value as any)[SECRET_SIG_KEY] === SECRET_SIG;
}

/** A recorded input with secret wrappers removed, for asserting on values. */
export function unwrapSecrets(value: any): any {
    if (isSecretValue(value)) return unwrapSecrets(value.value);
    if (Array.isArray(value)) return value.map(unwrapSecrets);
    if (value && typeof value === "object" && value.constructor === Object) {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapSecrets(v)]));
    }
    return value;
}

/**
 * Every place a secret value appears in plaintext: outside a secret wrapper,
 * anywhere in any recorded input (also inside JSON or base64 strings).
 */
export function findSecretLeaks(registrations: Pick<Registration, "type" | "name" | "inputs">[], secrets: Record<string, string>): string[] {
    const leaks: string[] = [];
    const needles = Object.entries(secrets).flatMap(([name, value]) => [
        { name, value },
        { name: `${name} (base64)`, value: Buffer.from(value).toString("base64") },
    ]);
    const visit = (where: string, value: unknown) => {
        if (isSecretValue(value)) return;
        if (typeof value === "string") {
            for (const n of needles) if (value.includes(n.value)) leaks.push(`${where} contains ${n.name}`);
        } else if (Array.isArray(value)) {
            value.forEach((v, i) => visit(`${where}[${i}]`, v));
        } else if (value && typeof value === "object") {
            for (const [k, v] of Object.entries(value)) visit(`${where}.${k}`, v);
        }
    };
    for (const r of registrations) visit(`${r.type} ${r.name}`, r.inputs);
    return leaks;
}

/**
 * Outputs a cloud provider would compute, so ARNs, endpoints and generated
 * passwords flow through the program as they would in `pulumi up`. Generated
 * passwords are recognisable test values: pass `generatedSecrets` to the leak
 * scan with the config secrets.
 */
export function cloud(delayMs = 0, generatedSecrets: Record<string, string> = {}): Answer {
    return async (args) => {
        if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
        const kind = args.type.split(":").pop()!;
        const arn = `arn:aws:mock:ap-northeast-2:123456789012:${kind.toLowerCase()}/${args.name}`;
        const computed: Record<string, any> = { arn, name: args.inputs.name ?? args.name, id: `${args.name}-id` };
        switch (args.type) {
            case "random:index/randomPassword:RandomPassword":
                generatedSecrets[args.name] ??= `gh-generated-${args.name}-${Math.random().toString(36).slice(2, 10)}`;
                computed.result = generatedSecrets[args.name];
                break;
            case "aws:rds/instance:Instance":
                Object.assign(computed, { address: `${args.name}.mock.rds.amazonaws.com`, port: 5432, identifier: args.name });
                break;
            case "aws:elasticache/replicationGroup:ReplicationGroup":
                computed.primaryEndpointAddress = `${args.name}.mock.cache.amazonaws.com`;
                break;
            case "aws:lb/loadBalancer:LoadBalancer":
                Object.assign(computed, { dnsName: `${args.name}.mock.elb.amazonaws.com`, arnSuffix: `app/${args.name}/0123456789abcdef` });
                break;
        }
        return { ...computed, ...args.inputs };
    };
}
