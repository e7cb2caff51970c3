import * as fs from "fs";
import * as path from "path";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import * as YAML from "yaml";
import { ensureLocalPostgres } from "../components/local/embeddedPostgres";
import { ensureLocalRedis } from "../components/local/redis";
import { UsageError, parseCli, releaseId, runCli, stackName } from "./lib/cli";
import { CliHelp } from "./lib/flags";
import { PROJECT_DIR, STATE_DIR, engineEnv, engineFailure, localProject, provideEngine } from "./lib/engine";
import { generateLocalSecrets } from "./lib/localSecrets";
import { alive } from "../components/local/processes";
import { edgeFiles } from "../components/local/edge";

// The main job: a whole release of a local stack on this machine (the first
// app's `local` by default, the second app's `routine-local`).
const HELP: CliHelp = {
    usage: "npm run up:local -- [--stack <name>] [--release <id>] [--preview]",
    about: [
        "A whole release of a local stack on this machine: starts the embedded PostgreSQL (unless localDatabaseUrl is set)",
        "and Redis where the stack uses it, generates missing local secrets, then runs `pulumi up` (snapshot, migrations,",
        "verification, the apps on their idle slots, the gates, the switches, the bake window, the worker, the ledger).",
        "It does not ask: run --preview first.",
    ].join("\n"),
    flags: {
        stack: { note: "a local stack of this repo: local (the first app, default) or routine-local (the second)" },
        release: { note: "sets the stack's release before the update; default the one in its config" },
        preview: {},
    },
    example: "scripts/node22.sh npm run up:local -- --stack routine-local --release r42 --preview",
};

runCli("up:local", async () => {
    const { values } = parseCli(HELP, { stack: { type: "string" }, release: { type: "string" }, preview: { type: "boolean" } });
    const STACK = localStack(values.stack ?? "local");
    if (values.release !== undefined) releaseId(values.release, HELP.usage);
    const engine = await provideEngine();

    const workDir = localProject(STACK, { notes: (line) => console.log(`stack file: ${line}`) });
    const stackConfig = YAML.parse(fs.readFileSync(path.join(workDir, `Pulumi.${STACK}.yaml`), "utf8")).config ?? {};
    const get = (key: string) => stackConfig[`gatehouse:${key}`];
    if (!get("localDatabaseUrl")) {
        const port = Number(get("localPostgresPort") ?? 54329);
        await ensureLocalPostgres({ dataDir: path.join(STATE_DIR, STACK, "pg"), port, database: get("app") });
        console.log(`embedded PostgreSQL is running on 127.0.0.1:${port} (data in .gatehouse/${STACK}/pg)`);
    }

    const stack = await LocalWorkspace.createOrSelectStack(
        { stackName: STACK, workDir },
        {
            pulumiCommand: engine.command,
            envVars: engineEnv(engine),
        },
    );
    await generateLocalSecrets(stack, stackConfig, (line) => console.log(line));
    if (get("redisEnabled") === true || get("redisEnabled") === "true") {
        // A URL up:local set itself (remembered in redis.auto) is found again each run; one the operator set is used as is.
        const stateDir = path.join(STATE_DIR, STACK);
        const auto = path.join(stateDir, "redis.auto");
        const configured = (await stack.getAllConfig())["gatehouse:localRedisUrl"]?.value;
        const operators = configured && !(fs.existsSync(auto) && fs.readFileSync(auto, "utf8") === configured) ? configured : undefined;
        const redis = await ensureLocalRedis({ configuredUrl: operators, stateDir });
        if (redis.source !== "configured") {
            await stack.setConfig("gatehouse:localRedisUrl", { value: redis.url, secret: true });
            fs.writeFileSync(auto, redis.url, { mode: 0o600 });
        }
        console.log(`Redis: ${redis.source === "machine" ? "the machine's, on 127.0.0.1:6379" : redis.source === "started" ? `redis-server started for this stack (data in .gatehouse/${STACK}/redis)` : "localRedisUrl"}`);
    }

    const stopped = countRestartIfStopped(path.join(STATE_DIR, STACK));
    const onOutput = (out: string) => process.stdout.write(out);
    const before = (await stack.getConfig("gatehouse:release")).value;
    if (stopped && !values.preview && values.release && values.release !== before) {
        // Users first: the edge comes back pointing at the release that was live, which must run
        // again before a new release is tried; a new release whose gate fails then leaves users on it.
        console.log(`bringing release ${before} back first, as it was live before the stop; release ${values.release} follows`);
        await stack.up({ onOutput }).catch((err: unknown) => {
            throw new Error(`could not bring release ${before} back after the stop, so release ${values.release} was not started and nothing is live:\n${engineFailure(err).message}`);
        });
    }
    if (values.release) await stack.setConfig("gatehouse:release", { value: values.release });
    if (values.preview) {
        await stack.preview({ onOutput, diff: true }).catch((err) => Promise.reject(engineFailure(err)));
        return;
    }
    const result = await stack.up({ onOutput }).catch((err) => Promise.reject(engineFailure(err)));
    const outputs = Object.fromEntries(Object.entries(result.outputs).map(([k, v]) => [k, v.value]));
    const frontend = outputs.frontendUrl ? `, its frontend at ${outputs.frontendUrl}` : "";
    console.log(`\nrelease ${outputs.release} is live at ${outputs.appUrl}${frontend} (snapshot ${outputs.snapshotFile}; ledger .gatehouse/${STACK}/releases.jsonl)`);
});

/**
 * After down:local or a reboot the stack's state says "deployed" while nothing
 * runs, so the same config would change nothing. A new start is counted in
 * .gatehouse/<stack>/generation, which the program puts into every process's
 * env: the release starts again on a slot, is gated, and the edges switch.
 */
function countRestartIfStopped(stateDir: string): boolean {
    const pidFile = edgeFiles(stateDir).pid;
    const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, "utf8")) : 0;
    if (!fs.existsSync(path.join(stateDir, "releases.jsonl")) || alive(pid)) return false;
    const file = path.join(stateDir, "generation");
    const next = (fs.existsSync(file) ? Number(fs.readFileSync(file, "utf8")) || 0 : 0) + 1;
    fs.writeFileSync(file, String(next));
    console.log(`the stack's processes are not running (down:local, a reboot): its slots, edges and worker start again and are gated (start ${next})`);
    return true;
}

/** A stack this command can run: one of the repo's stack files whose target is local (never a name joined into a path unchecked). */
function localStack(name: string): string {
    stackName(name, HELP.usage);
    const local = fs
        .readdirSync(PROJECT_DIR)
        .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
        .filter((s): s is string => s !== undefined && YAML.parse(fs.readFileSync(path.join(PROJECT_DIR, `Pulumi.${s}.yaml`), "utf8"))?.config?.["gatehouse:target"] === "local")
        .sort();
    if (!local.includes(name)) throw new UsageError(`--stack ${name} is not a local stack of this repo (local stacks: ${local.join(", ")})\nusage: ${HELP.usage}`);
    return name;
}
