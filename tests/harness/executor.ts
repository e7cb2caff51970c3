import { spawn } from "child_process";
import * as pulumi from "@pulumi/pulumi";
import { Answer, unwrapSecrets } from "./mocks";
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
 * Mocks that do what the engine's providers would: run command resources'
 * `create` with /bin/sh -c (as @pulumi/command does) and load each dynamic
 * resource's serialized `__provider` and call its create, as the
 * dynamic-provider host does. Because the answer is asynchronous, a resource
 * starts only after every resource it depends on has finished, so a failing
 * step stops everything after it, as in `pulumi up`.
 */
export function executingAnswer(log: Executed[] = []): Answer {
    return async (args: pulumi.runtime.MockResourceArgs) => {
        const inputs = unwrapSecrets(args.inputs);
        if (args.type === "command:local:Command") return runCommand(args.name, inputs, log);
        if (args.type.startsWith("pulumi-nodejs:dynamic")) return runDynamic(inputs);
        return { ...args.inputs };
    };
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
