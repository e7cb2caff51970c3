import * as fs from "fs";
import * as path from "path";
import { EngineState, Executed, Operation, executingAnswer } from "../harness/executor";
import { RunResult, runStack } from "../harness/program";
import { REPO_ROOT } from "../harness/stackConfig";
import { localPorts, stopLocalStack } from "./ports";

/**
 * The same stack run by the executing harness instead of the engine, step for
 * step, with its own database, ports and state directory: the engine tests
 * compare what both report (the engine is right where they differ).
 */
export class HarnessTwin {
    readonly state = new EngineState();
    readonly executed: Executed[] = [];
    private config: Record<string, unknown>;

    constructor(
        readonly stackName: string,
        port: number,
        private readonly secrets: Record<string, string>,
        initial: Record<string, unknown>,
    ) {
        this.config = { ...initial, ...localPorts(port) };
    }

    /** One `pulumi up` with these config changes; the operations, and the outputs or the error. */
    async release(changes: Record<string, unknown> = {}): Promise<{ ops: Record<string, Operation>; outputs?: Record<string, any>; error?: Error }> {
        this.config = { ...this.config, ...changes };
        this.state.beginRun();
        let run: RunResult | undefined;
        let error: Error | undefined;
        try {
            run = await runStack("local", { stackName: this.stackName, answer: executingAnswer(this.executed, this.state), set: this.config, secrets: this.secrets });
        } catch (err) {
            error = err as Error;
        }
        const ops = await this.state.endRun(!error, this.executed);
        return { ops: withoutStack(ops), outputs: run?.outputs, error };
    }

    /** `pulumi destroy`: every resource deleted, delete commands run. */
    async destroy(): Promise<Record<string, Operation>> {
        this.state.beginRun();
        return withoutStack(await this.state.endRun(true, this.executed));
    }

    cleanUp(): void {
        stopLocalStack(`.gatehouse/${this.stackName}`, REPO_ROOT);
        fs.rmSync(path.join(REPO_ROOT, ".gatehouse", this.stackName), { recursive: true, force: true });
    }
}

function withoutStack(ops: Record<string, Operation>): Record<string, Operation> {
    return Object.fromEntries(Object.entries(ops).filter(([k]) => !k.startsWith("pulumi:pulumi:Stack::")));
}

/** Counts per operation, as `pulumi stack history` reports an update's resource changes. */
export function countOperations(ops: Record<string, Operation>): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const op of Object.values(ops)) counts[op] = (counts[op] ?? 0) + 1;
    return counts;
}
