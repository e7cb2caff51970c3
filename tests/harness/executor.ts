import { spawn } from "child_process";
import * as pulumi from "@pulumi/pulumi";
import { Answer, RegistrationOptions, unwrapSecrets } from "./mocks";
import { REPO_ROOT } from "./stackConfig";

// Pulumi's dynamic-provider host loads a provider exactly like this.
const requireFromString: (code: string) => any = require("require-from-string");

/** A command the executor ran, with what it printed. */
export interface Executed {
    name: string;
    command: string;
    exitCode: number;
    stdout: string;
    stderr: string;
}

/**
 * What the engine keeps between two `pulumi up`s of one stack: each resource's
 * last inputs and outputs. Pass the same state to consecutive runs and
 * unchanged resources are left alone, as the engine leaves them.
 */
export class EngineState {
    readonly resources = new Map<string, { inputs: Record<string, any>; outputs: Record<string, any> }>();
}

/**
 * Mocks that do what the engine and its providers would: a command resource
 * runs its `create` with /bin/sh -c (as @pulumi/command does), a dynamic
 * resource loads its serialized `__provider` and calls `create`, as the
 * dynamic-provider host does. With an EngineState, a resource whose inputs
 * did not change since the last run (ignoring its ignoreChanges; for dynamic
 * resources, as the provider's diff decides) is not run again. Because the
 * answer is asynchronous, a resource starts only after every resource it
 * depends on has finished, so a failing step stops everything after it.
 */
export function executingAnswer(log: Executed[] = [], state = new EngineState()): Answer {
    return async (args: pulumi.runtime.MockResourceArgs, options: RegistrationOptions) => {
        const key = `${args.type}::${args.name}`;
        const inputs = unwrapSecrets(args.inputs);
        const previous = state.resources.get(key);
        let outputs: Record<string, any>;
        if (previous && !(await changed(args.type, previous.inputs, inputs, options))) {
            outputs = previous.outputs;
        } else if (args.type === "command:local:Command") {
            outputs = await runCommand(args.name, inputs, log);
        } else if (args.type.startsWith("pulumi-nodejs:dynamic")) {
            outputs = await runDynamic(inputs);
        } else {
            outputs = { ...args.inputs };
        }
        state.resources.set(key, { inputs, outputs });
        return outputs;
    };
}

async function changed(type: string, olds: Record<string, any>, news: Record<string, any>, options: RegistrationOptions): Promise<boolean> {
    if (type.startsWith("pulumi-nodejs:dynamic")) {
        const provider = requireFromString(news.__provider).handler();
        if (provider.diff) return (await provider.diff("", olds, news)).changes !== false;
    }
    const relevant = (o: Record<string, any>) =>
        JSON.stringify(Object.fromEntries(Object.entries(o).filter(([k]) => !options.ignoreChanges.includes(k)).sort()));
    return relevant(olds) !== relevant(news);
}

async function runCommand(name: string, inputs: Record<string, any>, log: Executed[]): Promise<Record<string, any>> {
    const [shell, ...shellArgs] = inputs.interpreter ?? ["/bin/sh", "-c"];
    const result = await new Promise<Executed>((resolve, reject) => {
        const child = spawn(shell, [...shellArgs, inputs.create], {
            cwd: inputs.dir ?? REPO_ROOT,
            env: { ...process.env, ...(inputs.environment ?? {}) },
            stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.on("error", reject);
        child.on("close", (code) => resolve({ name, command: inputs.create, exitCode: code ?? -1, stdout, stderr }));
    });
    log.push(result);
    if (result.exitCode !== 0) {
        // The command provider's own wording for a failed create.
        throw new Error(`exit status ${result.exitCode}: running ${JSON.stringify(inputs.create)}:\n${result.stdout}${result.stderr}`);
    }
    return { ...inputs, stdout: result.stdout.replace(/\n$/, ""), stderr: result.stderr.replace(/\n$/, "") };
}

async function runDynamic(inputs: Record<string, any>): Promise<Record<string, any>> {
    const provider = requireFromString(inputs.__provider).handler();
    let news = inputs;
    if (provider.check) {
        const checked = await provider.check({}, inputs);
        if (checked.failures?.length) throw new Error(checked.failures.map((f: any) => `${f.property}: ${f.reason}`).join("; "));
        news = checked.inputs;
    }
    const result = await provider.create(news);
    return { ...result.outs, __provider: inputs.__provider };
}
