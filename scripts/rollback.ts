import * as path from "path";
import * as readline from "readline/promises";
import { ConfigMap, LocalWorkspace } from "@pulumi/pulumi/automation";
import { HistoryEntry, RollbackRefused, chooseTarget, configDifference, formatDifference, refuseUncommittedChanges } from "../components/rollback";
import { parseCli, required, runCli } from "./lib/cli";

// Rolling back is returning the stack to the config of an earlier successful
// update and running `up`: on AWS that flips liveSlot back (a listener
// switch to the slot still running the previous version); relaxed AI limits
// or a reset frontend mode come back the same way. Migrations are never
// reverted: see `npm run restore`.
const USAGE = "npm run rollback -- --stack <name> [--to <update number>] [--yes]";

runCli("rollback", async () => {
    const { values } = parseCli(USAGE, { stack: { type: "string" }, to: { type: "string" }, yes: { type: "boolean" } });
    const stackName = required(values.stack, "--stack", USAGE);
    const to = values.to === undefined ? undefined : Number(values.to);
    if (to !== undefined && !Number.isInteger(to)) throw new Error(`--to must be an update number, got ${values.to}`);

    const stack = await LocalWorkspace.selectStack({ stackName, workDir: path.join(__dirname, "..") });
    let history: HistoryEntry[];
    try {
        // Secrets are read to compare them and to restore them; they are never printed.
        history = (await stack.history(undefined, undefined, true)) as unknown as HistoryEntry[];
    } catch (err: any) {
        throw new RollbackRefused(`cannot read the update history of stack ${stackName}: ${err.message}`);
    }
    const { current, target } = chooseTarget(history, to);
    const stackConfig = (await stack.getAllConfig()) as Record<string, { value: string; secret: boolean }>;
    refuseUncommittedChanges(stackConfig, current);
    console.log(formatDifference(current, target, configDifference(current.config, target.config)));

    if (!values.yes) {
        const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
        const answer = await rl.question(`Restore update ${target.version}'s config and run \`pulumi up\` on ${stackName}? [y/N] `);
        rl.close();
        if (!/^y(es)?$/i.test(answer.trim())) throw new Error("not confirmed; nothing changed");
    }
    const plain: ConfigMap = {};
    const lists: ConfigMap = {};
    for (const [key, v] of Object.entries(target.config)) {
        if (Array.isArray(v.objectValue)) {
            // Lists are restored element by element (--path), or they would come back as one JSON string.
            v.objectValue.forEach((item, i) => (lists[`${key}[${i}]`] = { value: String(item), secret: v.secret }));
        } else {
            plain[key] = { value: v.objectValue !== undefined ? JSON.stringify(v.objectValue) : v.value ?? "", secret: v.secret };
        }
    }
    const replaced = Object.keys(stackConfig).filter((k) => !(k in target.config) || Array.isArray(target.config[k].objectValue));
    if (replaced.length > 0) await stack.removeAllConfig(replaced);
    await stack.setAllConfig(plain);
    if (Object.keys(lists).length > 0) await stack.setAllConfig(lists, true);
    const started = Date.now();
    await stack.up({ onOutput: (out) => process.stdout.write(out), message: `rollback to update ${target.version}` });
    console.log(`rolled back ${stackName} to update ${target.version}'s config in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});
