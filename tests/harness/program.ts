import * as pulumi from "@pulumi/pulumi";
import { Answer, RecordingMocks, Registration, echo } from "./mocks";
import { LoadedStack, StackConfigOptions, loadStackConfig } from "./stackConfig";

export interface RunOptions extends StackConfigOptions {
    /** Computes each resource's outputs; the default echoes inputs back at once. */
    answer?: Answer;
    /** Run as `pulumi preview` instead of `pulumi up`. */
    preview?: boolean;
    /** The program to run; index.ts unless a harness test brings its own. */
    program?: () => Promise<Record<string, any>>;
    /** Run the stack file under another stack name (keeps .gatehouse/<stack>/ of tests apart). */
    stackName?: string;
    /** Keep ts-node's source-mapped stack traces while the program runs (slow; the benchmark's baseline). */
    mappedStackTraces?: boolean;
}

/** A run that failed; carries what was registered up to the failure. */
export class RunFailure extends Error {
    constructor(message: string, readonly registrations: Registration[]) {
        super(message);
        this.name = "RunFailure";
    }
}

export interface RunResult {
    stack: LoadedStack;
    /** The program's stack outputs, fully resolved. */
    outputs: Record<string, any>;
    registrations: Registration[];
    /** Registrations of one resource type, in registration order. */
    ofType(type: string): Registration[];
    /** The one registration with this type and name (throws if absent). */
    get(type: string, name: string): Registration;
}

/**
 * Runs the real program (index.ts) on a stack under recording mocks, waits for
 * every registration to finish, and rejects if any failed: mocha would
 * otherwise swallow the unhandled rejection and pass the test.
 */
export async function runStack(stack: string, options: RunOptions = {}): Promise<RunResult> {
    const failures: unknown[] = [];
    const onRejection = (reason: unknown) => failures.push(reason);
    process.on("unhandledRejection", onRejection);
    // Pulumi records a full stack trace per resource (for source positions);
    // ts-node maps every frame through source maps, which is most of a prod
    // run's time under mocks. V8's own formatting is enough while the program
    // runs; test failures afterwards still get mapped traces.
    const mapStackTrace = Error.prepareStackTrace;
    if (!options.mappedStackTraces) (Error as { prepareStackTrace?: unknown }).prepareStackTrace = undefined;
    try {
        const { loaded, mocks } = await prepareStack(stack, options);
        const program: () => Promise<Record<string, any>> = options.program ?? require("../../index");
        let outputs: Record<string, any> = {};
        try {
            outputs = await resolveDeep(await program());
        } catch (err) {
            failures.push(err);
        }
        await pulumi.runtime.disconnect();
        // Let rejections of registrations nobody awaited reach the listener.
        await new Promise((r) => setImmediate(r));
        const failed = mocks.registrations.filter((r) => r.error);
        if (failed.length > 0 || failures.length > 0) {
            const lines = [
                ...failed.map((r) => `${r.type} ${r.name}: ${r.error!.message}`),
                ...failures.map((f) => (f instanceof Error ? f.message : String(f))),
            ];
            // A config error is the program's own message; keep its type for tests.
            const configError = failures.find((f: any) => f?.name === "ConfigError");
            if (configError && failed.length === 0) throw configError;
            throw new RunFailure(`registration failed:\n${[...new Set(lines)].join("\n")}`, mocks.registrations);
        }
        return {
            stack: loaded,
            outputs,
            registrations: mocks.registrations,
            ofType: (type) => mocks.registrations.filter((r) => r.type === type),
            get: (type, name) => {
                const found = mocks.registrations.find((r) => r.type === type && r.name === name);
                if (!found) {
                    const names = mocks.registrations.filter((r) => r.type === type).map((r) => r.name);
                    throw new Error(`no ${type} named ${name}; registered: ${names.join(", ") || "none"}`);
                }
                return found;
            },
        };
    } finally {
        Error.prepareStackTrace = mapStackTrace;
        process.off("unhandledRejection", onRejection);
    }
}

/**
 * Fresh mocks and the stack's configuration, as the CLI would hand them to the
 * program. Exported for tests that call a module (e.g. readConfig) directly.
 */
export async function prepareStack(
    stack: string,
    options: RunOptions = {},
): Promise<{ loaded: LoadedStack; mocks: RecordingMocks }> {
    const loaded = loadStackConfig(stack, options);
    const mocks = new RecordingMocks(options.answer ?? echo());
    await pulumi.runtime.setMocks(mocks, loaded.project, options.stackName ?? stack, options.preview ?? false);
    mocks.captureOptions(pulumi.runtime.getMonitor());
    pulumi.runtime.setAllConfig(loaded.config, loaded.secretKeys);
    return { loaded, mocks };
}

/**
 * The value of an Output, rejecting when it fails. (The docs' `apply(resolve)`
 * helper never settles when the Output rejects, which hangs the test instead
 * of failing it.)
 */
export async function valueOf<T>(output: pulumi.Input<T>): Promise<T> {
    const o = pulumi.output(output) as any;
    // promise() is the SDK's own way to await an Output and see its error.
    return o.promise();
}

/** Resolves every Output inside plain objects and arrays. */
export async function resolveDeep(value: any): Promise<any> {
    if (pulumi.Output.isInstance(value)) return resolveDeep(await valueOf(value));
    if (Array.isArray(value)) return Promise.all(value.map(resolveDeep));
    if (value && typeof value === "object" && value.constructor === Object) {
        const entries = await Promise.all(Object.entries(value).map(async ([k, v]) => [k, await resolveDeep(v)]));
        return Object.fromEntries(entries);
    }
    return value;
}
