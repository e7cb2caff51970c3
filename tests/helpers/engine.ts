import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { EngineEvent, LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import * as YAML from "yaml";
import { Engine, EngineUnavailable, engineEnv, localProject, provideEngine } from "../../scripts/lib/engine";
import { generateLocalSecrets } from "../../scripts/lib/localSecrets";

/** What the engine did to each resource in one update, keyed `type::name`. */
export type Operations = Record<string, Operation>;
export type Operation = "create" | "update" | "same" | "replace" | "delete" | "read" | "failed";

let provided: Promise<Engine> | undefined;

/**
 * The real engine for tests. Where it cannot be provided: under CI a failure
 * (the engine tests must run there), elsewhere a skip that says why and how
 * to get it.
 */
export async function engineOrSkip(context: Mocha.Context): Promise<Engine> {
    // Quiet once the cache is warm; the first build's progress is worth seeing.
    provided ??= provideEngine({ quiet: false });
    try {
        return await provided;
    } catch (err) {
        if (process.env.CI === "true" || !(err instanceof EngineUnavailable)) throw err;
        console.log(`      skipped: ${(err as Error).message.split("\n")[0]}\n      get the engine with scripts/pulumi-toolchain.sh (see README, "The engine")`);
        context.skip();
        throw err; // not reached: skip() throws
    }
}

/** Collapses the engine's step events into one operation per resource. */
export function operationsFrom(events: EngineEvent[]): Operations {
    const ops: Operations = {};
    for (const event of events) {
        const meta = event.resOutputsEvent?.metadata ?? event.resOpFailedEvent?.metadata;
        if (!meta || meta.type === "pulumi:pulumi:Stack" || meta.type === "pulumi:providers:command" || meta.type.startsWith("pulumi:providers:")) continue;
        const key = `${meta.type}::${meta.urn.split("::").pop()}`;
        if (event.resOpFailedEvent) ops[key] = "failed";
        else if (["create-replacement", "replace", "delete-replaced", "create-before-replace"].includes(meta.op)) ops[key] = "replace";
        else if (ops[key] !== "replace") ops[key] = meta.op as Operation;
    }
    return ops;
}

export interface UpResult {
    ops: Operations;
    outputs: Record<string, any>;
    /** The engine's error when the update failed. */
    error?: Error;
    /** What the CLI printed. */
    output: string;
}

/**
 * A local stack under the real engine, in the project directory, with its own
 * file backend and passphrase in a temporary directory. Its stack file starts
 * as a copy of Pulumi.<from>.yaml with `set` applied; secrets are set
 * encrypted, as an operator would.
 */
export class EngineStack {
    private constructor(
        readonly name: string,
        readonly stack: Stack,
        readonly env: Record<string, string>,
        private readonly stateDir: string,
    ) {}

    static async create(engine: Engine, options: { name: string; from: string; set?: Record<string, unknown>; secrets?: Record<string, string> }): Promise<EngineStack> {
        const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "gh-engine-"));
        // A generated project, as up:local uses: its stack file (salt, encrypted secrets) stays out of the repo.
        const workDir = localProject(options.name, { dir: path.join(stateDir, "project"), template: options.from, set: options.set });
        const env = { ...engineEnv(engine, stateDir), GATEHOUSE_PROJECT_DIR: workDir };
        const stack = await LocalWorkspace.createStack({ stackName: options.name, workDir }, { pulumiCommand: engine.command, envVars: env });
        for (const [key, value] of Object.entries(options.secrets ?? {})) await stack.setConfig(`gatehouse:${key}`, { value, secret: true });
        // The rest of the stack file's secrets, as up:local makes them (each in its declared form).
        await generateLocalSecrets(stack, YAML.parse(fs.readFileSync(path.join(workDir, `Pulumi.${options.name}.yaml`), "utf8")).config ?? {});
        return new EngineStack(options.name, stack, env, stateDir);
    }

    /** Sets plain config keys (as `pulumi config set` does). */
    async set(values: Record<string, string | number | boolean>): Promise<void> {
        for (const [key, value] of Object.entries(values)) await this.stack.setConfig(`gatehouse:${key}`, { value: String(value) });
    }

    /** `pulumi up`; a failed update is returned, not thrown, with what the engine did until then. */
    async up(message?: string): Promise<UpResult> {
        const events: EngineEvent[] = [];
        let output = "";
        try {
            const result = await this.stack.up({ onEvent: (e) => events.push(e), onOutput: (o) => (output += o), message });
            const outputs = Object.fromEntries(Object.entries(result.outputs).map(([k, v]) => [k, v.value]));
            return { ops: operationsFrom(events), outputs, output };
        } catch (err) {
            return { ops: operationsFrom(events), outputs: {}, error: err as Error, output };
        }
    }

    /** `pulumi preview` with the given extra CLI arguments; returns what it printed. */
    async preview(extra: string[] = []): Promise<{ ops: Operations; output: string; error?: Error }> {
        const events: EngineEvent[] = [];
        let output = "";
        try {
            await this.stack.preview({ onEvent: (e) => events.push(e), onOutput: (o) => (output += o), diff: true, ...(extra.length ? { policyPacks: extra } : {}) });
            return { ops: previewOperations(events), output };
        } catch (err) {
            return { ops: previewOperations(events), output, error: err as Error };
        }
    }

    /** `pulumi destroy`, with what the engine did to each resource. */
    async destroy(): Promise<Operations> {
        const events: EngineEvent[] = [];
        await this.stack.destroy({ onEvent: (e) => events.push(e) });
        return operationsFrom(events);
    }

    /** The resource changes of the latest update, as `pulumi stack history` counts them. */
    async lastChanges(): Promise<Record<string, number>> {
        const [latest] = await this.stack.history(1);
        return Object.fromEntries(Object.entries(latest.resourceChanges ?? {}).filter(([, n]) => (n as number) > 0)) as Record<string, number>;
    }

    /** The stack's state as the backend stores it (secrets encrypted), not as `exportStack` shows it (decrypted). */
    storedState(): string {
        return fs.readFileSync(path.join(this.stateDir, "state", ".pulumi", "stacks", "gatehouse", `${this.name}.json`), "utf8");
    }

    /** Removes the stack (after destroy), its stack file and its state. */
    async remove(): Promise<void> {
        await this.stack.workspace.removeStack(this.name, { force: true }).catch(() => {});
        fs.rmSync(this.stateDir, { recursive: true, force: true });
    }
}

/** A preview has no outputs events: its steps are in the pre-events. */
function previewOperations(events: EngineEvent[]): Operations {
    const ops: Operations = {};
    for (const event of events) {
        const meta = event.resourcePreEvent?.metadata;
        if (!meta || meta.type === "pulumi:pulumi:Stack" || meta.type.startsWith("pulumi:providers:")) continue;
        const key = `${meta.type}::${meta.urn.split("::").pop()}`;
        if (["create-replacement", "replace", "delete-replaced", "create-before-replace"].includes(meta.op)) ops[key] = "replace";
        else if (ops[key] !== "replace") ops[key] = meta.op as Operation;
    }
    return ops;
}
