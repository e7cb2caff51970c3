import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { SlotName, SlotRecord } from "../../components/local/edge";
import { REPO_ROOT } from "../harness/stackConfig";
import { ClientLoop } from "./clientLoop";
import { freeStackPorts, stopLocalStack } from "./ports";
import { freshDatabase } from "./postgres";

/** What an edge serves now: the status, slot and release of an answer through it. */
export async function serving(url: string): Promise<{ status: number; slot: string | null; release: string | null }> {
    const answer = await fetch(url);
    await answer.body?.cancel();
    return { status: answer.status, slot: answer.headers.get("x-gatehouse-slot"), release: answer.headers.get("x-gatehouse-release") };
}

/** What each slot of a service's state directory runs (local-app's records), by slot. */
export function slotRecords(stateDir: string): Record<SlotName, SlotRecord | undefined> {
    const read = (slot: SlotName) => {
        const file = path.join(stateDir, `slot-${slot}.json`);
        return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as SlotRecord) : undefined;
    };
    return { blue: read("blue"), green: read("green") };
}

/** The worker a service's state directory records (local-app worker), if any. */
export function workerRecord(stateDir: string): { release: string; pid: number } | undefined {
    const file = path.join(stateDir, "worker", "worker.json");
    return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : undefined;
}

/**
 * A local stack that lives through several releases in one describe block: a
 * fresh database and free ports before the first test; after the last, the
 * users' loop stopped and every process the stack started stopped, its state
 * directory and database removed.
 */
export function localStackLifecycle(stackName: string, databaseName: string) {
    const life = {
        stateDir: path.join(REPO_ROOT, ".gatehouse", stackName),
        db: undefined as unknown as Awaited<ReturnType<typeof freshDatabase>>,
        port: 0,
        /** Users, played by a client loop through the edges, once the first release serves them. */
        users: undefined as ClientLoop | undefined,
        /** Stops the users' loop: no request may have failed, and only these (gated) releases answered. */
        async usersSawOnly(releases: string[]): Promise<void> {
            const loop = life.users!;
            life.users = undefined;
            const answers = await loop.stop();
            assert.ok(answers.length > 0);
            const failed = loop.failed();
            assert.deepEqual(failed.slice(0, 5), [], `${failed.length} of ${answers.length} requests failed`);
            assert.deepEqual(loop.releases(), releases);
        },
    };
    before(async () => {
        life.db = await freshDatabase(databaseName);
        life.port = await freeStackPorts();
    });
    after(async () => {
        await life.users?.stop();
        stopLocalStack(path.relative(REPO_ROOT, life.stateDir), REPO_ROOT);
        fs.rmSync(life.stateDir, { recursive: true, force: true });
        await life.db.drop();
    });
    return life;
}
