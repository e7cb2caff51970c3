import * as readline from "readline/promises";
import type { ConfigMap, Stack } from "@pulumi/pulumi/automation";
import { HistoryEntry, RollbackRefused, chooseTarget, configDifference, formatDifference, refuseUncommittedChanges } from "../components/rollback";
import { UsageError, parseCli, required, runCli, stackName as checkedStackName } from "./lib/cli";
import { CliHelp } from "./lib/flags";
import * as fs from "fs";
import * as path from "path";
import { LOCAL_PROJECT_DIR, PROJECT_DIR, backendUrl, engineEnv, provideEngine } from "./lib/engine";
import { earlyTarget } from "./lib/backendFiles";
import { LiveSlot, edgeRequest, readEdgeState, readSlotRecord, switchBackToPromoted } from "../components/local/edge";

// Rolling back is returning the stack to the config of an earlier successful
// update and running `up`: on AWS that flips liveSlot back (a listener
// switch to the slot still running the previous version); relaxed AI limits
// or a reset frontend mode come back the same way. Migrations are never
// reverted: see `npm run restore`.
const HELP: CliHelp = {
    usage: "npm run rollback -- --stack <name> [--to <n>] [--preview] [--yes]",
    about: [
        "Returns a stack to the config of an earlier successful update (by default the last one before the",
        "current update) and runs `pulumi up`: on the local target the edge switches back to the slot that",
        "still runs that release; on AWS the listener switches back. Migrations are never reverted.",
    ].join("\n"),
    flags: {
        stack: { note: "required" },
        to: { value: "<n>", meaning: "the update number to return to (see `pulumi stack history`)" },
        preview: { note: "the stack's config is put back afterwards" },
        yes: { note: "without it, the difference is shown and `pulumi up` waits for y" },
    },
    example: "scripts/node22.sh npm run rollback -- --stack local --preview",
};
const USAGE = HELP.usage;

runCli("rollback", async () => {
    const { values } = parseCli(HELP, {
        stack: { type: "string" },
        to: { type: "string" },
        preview: { type: "boolean" },
        yes: { type: "boolean" },
    });
    const stackName = checkedStackName(required(values.stack, "--stack", USAGE), USAGE);
    const to = values.to === undefined ? undefined : Number(values.to);
    if (to !== undefined && !Number.isInteger(to)) throw new UsageError(`--to must be an update number, got ${JSON.stringify(values.to)}\nusage: ${USAGE}`);

    // Local stacks run from their generated project (see localProject); others from the repo.
    const workDir = process.env.GATEHOUSE_PROJECT_DIR ?? (fs.existsSync(path.join(LOCAL_PROJECT_DIR, `Pulumi.${stackName}.yaml`)) ? LOCAL_PROJECT_DIR : PROJECT_DIR);
    // Confirmed on the command line: users go back before any `pulumi` process starts, from the
    // backend's own files; what `pulumi stack history` says below is checked against it.
    let early = values.yes && !values.preview ? await switchUsersBackEarly(stackName, workDir, to) : undefined;

    // Loaded only now (~0.4 s): users are back already. require, as in provideEngine.
    const { LocalWorkspace } = require("@pulumi/pulumi/automation") as typeof import("@pulumi/pulumi/automation");
    let stack: Stack;
    let stackConfig: Record<string, { value: string; secret: boolean }>;
    let current: HistoryEntry;
    let target: HistoryEntry;
    try {
        const engine = await provideEngine();
        stack = await LocalWorkspace.selectStack({ stackName, workDir }, { pulumiCommand: engine.command, envVars: engineEnv(engine) });
        // Both reads at once (each is a `pulumi` process). Secrets are read to compare them and to
        // restore them; they are never printed.
        let history: HistoryEntry[];
        [history, stackConfig] = await Promise.all([
            stack.history(undefined, undefined, true).then(
                (h) => h as unknown as HistoryEntry[],
                (err: any) => {
                    throw new RollbackRefused(`cannot read the update history of stack ${stackName}: ${err.message}`);
                },
            ),
            stack.getAllConfig() as Promise<Record<string, { value: string; secret: boolean }>>,
        ]);
        ({ current, target } = chooseTarget(history, to));
        refuseUncommittedChanges(stackConfig, current);
        if (early && early.release !== releaseOf(target.config)) {
            console.log(`pulumi stack history names update ${target.version} (release ${releaseOf(target.config)}), not what the backend's files said (release ${early.release}): users go back to what they had, then the rollback goes on`);
            await early.undo();
            early = undefined;
        }
    } catch (err) {
        // The rollback does not happen: users go back to what they had before it started.
        await early?.undo();
        throw err;
    }
    console.log(formatDifference(current, target, configDifference(current.config, target.config)));

    if (values.preview) {
        const saved = stackConfig;
        // The stack file is put back byte for byte: setting the secrets again would re-encrypt them,
        // and a later `rollback --yes` could no longer tell from the files that nothing changed.
        const stackFile = path.join(workDir, `Pulumi.${stackName}.yaml`);
        const savedFile = fs.existsSync(stackFile) ? fs.readFileSync(stackFile) : undefined;
        await restoreConfig(stack, stackConfig, target.config);
        try {
            await stack.preview({ onOutput: (out) => process.stdout.write(out), diff: true, message: `rollback to update ${target.version} (preview)` });
        } finally {
            if (savedFile) fs.writeFileSync(stackFile, savedFile);
            else await restoreConfig(stack, (await stack.getAllConfig()) as typeof stackConfig, Object.fromEntries(Object.entries(saved).map(([k, v]) => [k, historyValue(v)])));
        }
        console.log(`preview only: the config of ${stackName} is back as it was; run without --preview to roll back`);
        return;
    }
    if (!values.yes) {
        const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
        const answer = await rl.question(`Restore update ${target.version}'s config and run \`pulumi up\` on ${stackName}? [y/N] `);
        rl.close();
        if (!/^y(es)?$/i.test(answer.trim())) throw new Error("not confirmed; nothing changed");
    }
    const started = Date.now();
    if (!early) await switchUsersBackFirst(stackName, target.config);
    await restoreConfig(stack, stackConfig, target.config);
    await stack.up({ onOutput: (out) => process.stdout.write(out), message: `rollback to update ${target.version}` });
    console.log(`rolled back ${stackName} to update ${target.version}'s config in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

const releaseOf = (config: HistoryEntry["config"]) => config["gatehouse:release"]?.value;

/** Users switched back before the rollback's checks finished, and how to put them where they were. */
interface SwitchedBack {
    release: string;
    undo: () => Promise<void>;
}

/**
 * On a local stack whose processes run on this machine, users go back first:
 * each edge (the backend's, the frontend's) switches to the standby slot
 * that served the release when it was promoted, then `pulumi up` brings the
 * stack's config and state along (it finds those slots live). Elsewhere
 * (AWS, an SSH host) the update itself switches. Answers how to undo it.
 */
async function switchUsersBackFirst(stackName: string, config: HistoryEntry["config"]): Promise<SwitchedBack | undefined> {
    const value = (key: string) => config[`gatehouse:${key}`]?.value;
    const release = value("release");
    if (value("target") !== "local" || value("localHost") || !release) return undefined;
    const stateDir = path.join(PROJECT_DIR, ".gatehouse", stackName);
    const before: { dir: string; live: LiveSlot }[] = [];
    for (const [service, dir] of [["backend", stateDir], ["frontend", path.join(stateDir, "frontend")]]) {
        const live = readEdgeState(dir).live;
        const switched = await switchBackToPromoted(dir, release);
        if (!switched) continue;
        if (live && switched.ms > 0) before.push({ dir, live });
        console.log(`${service}: users are on release ${release} again (${switched.slot} slot${switched.ms ? `, switched in ${switched.ms} ms` : ", already live"}); the update below brings the stack along`);
    }
    return {
        release,
        undo: async () => {
            for (const { dir, live } of before) {
                const healthPath = readSlotRecord(dir, live.slot)?.healthPath;
                const answer = await edgeRequest(dir, "POST", "/switch", { ...live, healthPath }).catch((err) => ({ status: 0, body: { message: err.message } }));
                console.log(answer.status === 200 ? `users are back on release ${live.release} (${live.slot} slot), as before the rollback` : `could not switch users back to release ${live.release} (${live.slot} slot): ${answer.body.message}; \`npm run local-app -- status --state-dir ${dir}\` shows what the edge serves`);
            }
        },
    };
}

/**
 * The early switch of a confirmed rollback: the target read from the file
 * backend's files (backendFiles.ts), before any `pulumi` process. When the
 * files cannot say (another backend, an update running, config not yet
 * released), users wait for `pulumi stack history` as before.
 */
async function switchUsersBackEarly(stackName: string, workDir: string, to: number | undefined): Promise<SwitchedBack | undefined> {
    const found = earlyTarget({ backendUrl: backendUrl(), workDir, stack: stackName, to });
    if ("unknown" in found) {
        console.log(`no early switch (${found.unknown}): on a local stack users go back once \`pulumi stack history\` is read`);
        return undefined;
    }
    return switchUsersBackFirst(stackName, found.config);
}

/** Makes the stack's config exactly `config` (as history records it). */
async function restoreConfig(stack: Stack, current: Record<string, { value: string; secret: boolean }>, config: HistoryEntry["config"]): Promise<void> {
    const plain: ConfigMap = {};
    const lists: ConfigMap = {};
    for (const [key, v] of Object.entries(config)) {
        if (Array.isArray(v.objectValue)) {
            // Lists are restored element by element (--path), or they would come back as one JSON string.
            v.objectValue.forEach((item, i) => (lists[`${key}[${i}]`] = { value: String(item), secret: v.secret }));
        } else {
            plain[key] = { value: v.objectValue !== undefined ? JSON.stringify(v.objectValue) : v.value ?? "", secret: v.secret };
        }
    }
    const replaced = Object.keys(current).filter((k) => !(k in config) || Array.isArray(config[k].objectValue));
    if (replaced.length > 0) await stack.removeAllConfig(replaced);
    await stack.setAllConfig(plain);
    if (Object.keys(lists).length > 0) await stack.setAllConfig(lists, true);
}

/** A config value as `pulumi config --json` gives it, in history's shape (lists come back as their JSON). */
function historyValue(v: { value: string; secret: boolean }): HistoryEntry["config"][string] {
    try {
        const parsed = JSON.parse(v.value);
        if (Array.isArray(parsed)) return { value: v.value, objectValue: parsed, secret: v.secret };
    } catch {
        // a plain string
    }
    return { value: v.value, secret: v.secret };
}
