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
    /** Wall time of the command. */
    durationMs: number;
}

/** What the engine reports for a resource in one update (`pulumi up` shows the same words). */
export type Operation = "create" | "update" | "same" | "replace" | "delete" | "failed";

interface Kept {
    type: string;
    inputs: Record<string, any>;
    outputs: Record<string, any>;
    /**
     * Deleted for a delete-before-replace whose replacement then failed: the
     * engine keeps the old state marked pendingReplacement and replaces the
     * resource in the next update even if its inputs match the old ones
     * (pkg/resource/deploy/step_generator.go, PendingReplacement; the state field is documented at https://www.pulumi.com/docs/iac/concepts/state-and-backends/).
     */
    pendingReplacement?: boolean;
}

/**
 * What the engine keeps between two `pulumi up`s of one stack: each resource's
 * last inputs and outputs. Pass the same state to consecutive runs and
 * unchanged resources are left alone, as the engine leaves them; call
 * beginRun() before and endRun() after each run to get the operation the
 * engine would report for every resource, deletions included.
 */
export class EngineState {
    readonly resources = new Map<string, Kept>();
    /** The last run's operation per resource, keyed `type::name` like the engine's events. */
    operations: Record<string, Operation> = {};
    private registered = new Set<string>();

    beginRun(): void {
        this.operations = {};
        this.registered = new Set();
    }

    /**
     * After a run: resources the program no longer declares are deleted, but
     * only when the update succeeded (a failed update stops before the
     * engine's delete steps). https://www.pulumi.com/docs/iac/concepts/how-pulumi-works/
     */
    async endRun(succeeded: boolean, log: Executed[] = []): Promise<Record<string, Operation>> {
        if (!succeeded) return this.operations;
        for (const [key, kept] of [...this.resources]) {
            if (this.registered.has(key)) continue;
            if (kept.type === "command:local:Command" && kept.inputs.delete) await runCommand(key.split("::")[1], kept.inputs.delete, kept.inputs, kept.outputs, log);
            if (kept.type.startsWith("pulumi-nodejs:dynamic") && !kept.pendingReplacement) await deleteDynamic(kept);
            this.resources.delete(key);
            this.operations[key] = "delete";
        }
        return this.operations;
    }

    /** @internal */
    markRegistered(key: string): void {
        this.registered.add(key);
    }
}

/**
 * Mocks that do what the engine and its providers would: a command resource
 * runs its `create` with /bin/sh -c (as @pulumi/command does), a dynamic
 * resource loads its serialized `__provider` and calls `create`, as the
 * dynamic-provider host does. With an EngineState, a resource whose inputs
 * did not change since the last run (ignoring its ignoreChanges; for dynamic
 * resources, as the provider's diff decides) is not run again; a changed one
 * is updated or replaced by the provider's rules (see diffCommand). Because
 * the answer is asynchronous, a resource starts only after every resource it
 * depends on has finished, so a failing step stops everything after it.
 */
export function executingAnswer(log: Executed[] = [], state = new EngineState()): Answer {
    return async (args: pulumi.runtime.MockResourceArgs, options: RegistrationOptions) => {
        const key = `${args.type}::${args.name}`;
        state.markRegistered(key);
        const inputs = unwrapSecrets(args.inputs);
        const previous = state.resources.get(key);
        let outputs: Record<string, any>;
        let operation: Operation;
        try {
            if (previous?.pendingReplacement) {
                operation = "replace";
                outputs = args.type.startsWith("pulumi-nodejs:dynamic") ? await runDynamic(inputs) : await runCommand(args.name, inputs.create, inputs, undefined, log);
            } else if (args.type === "command:local:Command") {
                operation = previous ? diffCommand(previous.inputs, inputs, options) : "create";
                if (operation === "same") outputs = previous!.outputs;
                else if (operation === "update") outputs = await runCommand(args.name, inputs.update ?? inputs.create, inputs, previous!.outputs, log);
                else {
                    if (operation === "replace" && options.deleteBeforeReplace) previous!.pendingReplacement = true;
                    outputs = await runCommand(args.name, inputs.create, inputs, undefined, log);
                    // Create-before-delete: the replaced resource's delete runs after its replacement exists.
                    if (operation === "replace" && !options.deleteBeforeReplace && previous!.inputs.delete) await runCommand(args.name, previous!.inputs.delete, previous!.inputs, previous!.outputs, log);
                }
            } else if (args.type.startsWith("pulumi-nodejs:dynamic")) {
                // The engine applies ignoreChanges before the provider sees the inputs.
                const news = previous ? withIgnoredFromOld(previous.inputs, inputs, options) : inputs;
                const diff = previous ? await diffDynamic(previous.inputs, news) : { operation: "create" as Operation, deleteBeforeReplace: false };
                operation = diff.operation;
                const deleteFirst = diff.deleteBeforeReplace || options.deleteBeforeReplace;
                if (operation === "same") outputs = previous!.outputs;
                else if (operation === "update") outputs = await updateDynamic(previous!, news);
                else {
                    if (operation === "replace" && deleteFirst) {
                        await deleteDynamic(previous!);
                        previous!.pendingReplacement = true; // the old one is gone before its replacement exists
                    }
                    outputs = await runDynamic(news);
                    if (operation === "replace" && !deleteFirst) await deleteDynamic(previous!);
                }
            } else {
                // Component resources and the rest: inputs are their state.
                operation = !previous ? "create" : relevant(previous.inputs, options) === relevant(inputs, options) ? "same" : "update";
                outputs = { ...args.inputs };
            }
        } catch (err) {
            state.operations[key] = "failed";
            throw err;
        }
        state.operations[key] = operation;
        state.resources.set(key, { type: args.type, inputs, outputs });
        return outputs;
    };
}

const relevant = (o: Record<string, any>, options: RegistrationOptions) =>
    JSON.stringify(Object.fromEntries(Object.entries(o).filter(([k]) => !options.ignoreChanges.includes(k)).sort()));

/**
 * @pulumi/command's diff for command:local:Command: a change to `triggers`
 * replaces the resource (the SDK declares replaceOnChanges on it), any other
 * change is an update, which runs `update` or else `create` again.
 * https://www.pulumi.com/registry/packages/command/api-docs/local/command/
 * The engine applies ignoreChanges before the provider diffs.
 */
function diffCommand(olds: Record<string, any>, news: Record<string, any>, options: RegistrationOptions): Operation {
    if (relevant(olds, options) === relevant(news, options)) return "same";
    if (!options.ignoreChanges.includes("triggers") && JSON.stringify(olds.triggers ?? null) !== JSON.stringify(news.triggers ?? null)) return "replace";
    return "update";
}

/** The dynamic provider's own diff decides (as the dynamic-provider host asks it); without one, any change replaces. */
async function diffDynamic(olds: Record<string, any>, news: Record<string, any>): Promise<{ operation: Operation; deleteBeforeReplace: boolean }> {
    const provider = requireFromString(news.__provider).handler();
    if (!provider.diff) return { operation: JSON.stringify(olds) === JSON.stringify(news) ? "same" : "replace", deleteBeforeReplace: false };
    const diff = await provider.diff("", olds, news);
    if (diff.changes === false) return { operation: "same", deleteBeforeReplace: false };
    return { operation: diff.replaces?.length ? "replace" : "update", deleteBeforeReplace: diff.deleteBeforeReplace === true };
}

/**
 * Runs one of a command resource's commands as the provider does: /bin/sh -c
 * (or `interpreter`), in `dir`, with `environment`; update and delete see the
 * previous run's output as PULUMI_COMMAND_STDOUT / PULUMI_COMMAND_STDERR.
 */
async function runCommand(
    name: string,
    command: string,
    inputs: Record<string, any>,
    previous: Record<string, any> | undefined,
    log: Executed[],
): Promise<Record<string, any>> {
    const [shell, ...shellArgs] = inputs.interpreter ?? ["/bin/sh", "-c"];
    const previousOutput = previous && inputs.addPreviousOutputInEnv !== false ? { PULUMI_COMMAND_STDOUT: previous.stdout ?? "", PULUMI_COMMAND_STDERR: previous.stderr ?? "" } : {};
    const started = performance.now();
    const result = await new Promise<Executed>((resolve, reject) => {
        const child = spawn(shell, [...shellArgs, command], {
            cwd: inputs.dir ?? REPO_ROOT,
            env: { ...process.env, ...(inputs.environment ?? {}), ...previousOutput },
            stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.on("error", reject);
        child.on("close", (code) => resolve({ name, command, exitCode: code ?? -1, stdout, stderr, durationMs: performance.now() - started }));
    });
    log.push(result);
    if (result.exitCode !== 0) {
        // The command provider's own wording for a failed command.
        throw new Error(`exit status ${result.exitCode}: running ${JSON.stringify(command)}:\n${result.stdout}${result.stderr}`);
    }
    return { ...inputs, stdout: result.stdout.replace(/\n$/, ""), stderr: result.stderr.replace(/\n$/, "") };
}

/** Inputs with every ignoreChanges key set back to its old value (how the engine applies ignoreChanges). */
function withIgnoredFromOld(olds: Record<string, any>, news: Record<string, any>, options: RegistrationOptions): Record<string, any> {
    const effective = { ...news };
    for (const key of options.ignoreChanges) {
        if (key in olds) effective[key] = olds[key];
        else delete effective[key];
    }
    return effective;
}

/** The dynamic-provider host's Update: the provider's own update, with the old outputs; without one, the engine fails as it would. */
async function updateDynamic(previous: Kept, news: Record<string, any>): Promise<Record<string, any>> {
    const provider = requireFromString(news.__provider).handler();
    if (!provider.update) throw new Error(`the dynamic provider of ${previous.type} has no update(); its diff must replace instead`);
    const result = await provider.update(previous.outputs.id ?? "", previous.outputs, news);
    return { ...previous.outputs, ...(result?.outs ?? {}), __provider: news.__provider };
}

/** The dynamic-provider host's Delete: the provider's own delete, if it has one. */
async function deleteDynamic(kept: Kept): Promise<void> {
    const provider = requireFromString(kept.inputs.__provider).handler();
    if (provider.delete) await provider.delete(kept.outputs.id ?? "", kept.outputs);
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
