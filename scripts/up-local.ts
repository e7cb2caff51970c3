import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LocalWorkspace, PulumiCommand } from "@pulumi/pulumi/automation";
import * as YAML from "yaml";
import { secretsNamedByStackFile } from "../components/config";
import { ensureLocalPostgres } from "../components/local/embeddedPostgres";
import { parseCli, runCli } from "./lib/cli";

// The main job: a whole release of the `local` stack on this machine.
const USAGE = "npm run up:local -- [--release <id>] [--preview] [--yes]";
const PROJECT_DIR = path.join(__dirname, "..");
const STATE_DIR = path.join(PROJECT_DIR, ".gatehouse");
const STACK = "local";

export const INSTALL_HINT =
    "Install the Pulumi CLI (3.x): `curl -fsSL https://get.pulumi.com | sh` and put ~/.pulumi/bin on PATH " +
    "(or see https://www.pulumi.com/docs/iac/download-install/), then run `scripts/node22.sh npm run up:local` again.";

runCli("up:local", async () => {
    const { values } = parseCli(USAGE, { release: { type: "string" }, preview: { type: "boolean" }, yes: { type: "boolean" } });
    const pulumiCommand = await findOrInstallPulumi();

    const stackConfig = YAML.parse(fs.readFileSync(path.join(PROJECT_DIR, `Pulumi.${STACK}.yaml`), "utf8")).config ?? {};
    const get = (key: string) => stackConfig[`gatehouse:${key}`];
    if (!get("localDatabaseUrl")) {
        const port = Number(get("localPostgresPort") ?? 54329);
        await ensureLocalPostgres({ dataDir: path.join(STATE_DIR, STACK, "pg"), port, database: get("app") });
        console.log(`embedded PostgreSQL is running on 127.0.0.1:${port} (data in .gatehouse/${STACK}/pg)`);
    }

    const stack = await LocalWorkspace.createOrSelectStack(
        { stackName: STACK, workDir: PROJECT_DIR },
        {
            pulumiCommand,
            envVars: {
                PULUMI_BACKEND_URL: `file://${path.join(STATE_DIR, "state")}`,
                PULUMI_CONFIG_PASSPHRASE_FILE: passphraseFile(),
                PULUMI_SKIP_UPDATE_CHECK: "true",
            },
        },
    );
    if (values.release) await stack.setConfig("gatehouse:release", { value: values.release });
    await generateMissingSecrets(stack, stackConfig);

    const onOutput = (out: string) => process.stdout.write(out);
    if (values.preview) {
        await stack.preview({ onOutput, diff: true });
        return;
    }
    const result = await stack.up({ onOutput });
    const outputs = Object.fromEntries(Object.entries(result.outputs).map(([k, v]) => [k, v.value]));
    console.log(`\nrelease ${outputs.release} is live at ${outputs.appUrl} (snapshot ${outputs.snapshotFile}; ledger .gatehouse/${STACK}/releases.jsonl)`);
});

async function findOrInstallPulumi(): Promise<PulumiCommand> {
    try {
        return await PulumiCommand.get();
    } catch {
        // not on PATH: install it into ~/.pulumi through the Automation API
    }
    // Tests (and air-gapped machines) skip the download attempt.
    if (process.env.GATEHOUSE_NO_PULUMI_INSTALL) throw new Error(`the Pulumi CLI is missing (not on PATH; GATEHOUSE_NO_PULUMI_INSTALL is set).\n${INSTALL_HINT}`);
    try {
        console.log("the Pulumi CLI is not on PATH; installing it through the Automation API ...");
        return await PulumiCommand.install({ root: path.join(os.homedir(), ".pulumi") });
    } catch (err: any) {
        throw new Error(`the Pulumi CLI is missing and could not be installed automatically (${err.message}).\n${INSTALL_HINT}`);
    }
}

/** A local passphrase for the local stack's secrets, created once, readable only by you. */
function passphraseFile(): string {
    const file = path.join(STATE_DIR, "passphrase");
    if (!fs.existsSync(file)) {
        fs.mkdirSync(STATE_DIR, { recursive: true });
        fs.writeFileSync(file, crypto.randomBytes(24).toString("base64url"), { mode: 0o600 });
    }
    return file;
}

/** Local secrets (e.g. the demo's JWT_SECRET) are random values, set encrypted once. */
async function generateMissingSecrets(stack: Awaited<ReturnType<typeof LocalWorkspace.createOrSelectStack>>, stackConfig: Record<string, any>): Promise<void> {
    const names = secretsNamedByStackFile(stackConfig, "gatehouse");
    const existing = await stack.getAllConfig();
    for (const name of names) {
        if (existing[`gatehouse:${name}`]) continue;
        await stack.setConfig(`gatehouse:${name}`, { value: crypto.randomBytes(32).toString("base64url"), secret: true });
        console.log(`generated a local ${name} (encrypted in Pulumi.${STACK}.yaml; do not commit it)`);
    }
}
