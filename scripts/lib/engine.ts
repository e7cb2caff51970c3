import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { PulumiCommand } from "@pulumi/pulumi/automation";

export const PROJECT_DIR = path.join(__dirname, "..", "..");
/** Local stacks' state, passphrase and per-stack working files. */
export const STATE_DIR = path.join(PROJECT_DIR, ".gatehouse");

/** The Pulumi engine as scripts/pulumi-toolchain.sh provides it. */
export interface Engine {
    /** Directory with pulumi, its language host, launchers and the command provider. */
    binDir: string;
    command: PulumiCommand;
}

export class EngineUnavailable extends Error {
    constructor(message: string) {
        super(message);
        this.name = "EngineUnavailable";
    }
}

/**
 * Runs scripts/pulumi-toolchain.sh (a no-op once its cache is warm) and returns
 * the engine it provides. Its progress goes to stderr as it happens; its last
 * stdout line is the directory to put first on PATH.
 */
export async function provideEngine(options: { quiet?: boolean } = {}): Promise<Engine> {
    const result = spawnSync(path.join(PROJECT_DIR, "scripts", "pulumi-toolchain.sh"), [], {
        cwd: PROJECT_DIR,
        stdio: ["ignore", "pipe", options.quiet ? "pipe" : "inherit"],
        encoding: "utf8",
    });
    if (result.status !== 0) {
        const said = options.quiet ? (result.stderr ?? "").trim().split("\n").filter((l) => !l.startsWith("pulumi-toolchain [")).join("\n") : "";
        throw new EngineUnavailable(`the Pulumi engine could not be provided (scripts/pulumi-toolchain.sh exited ${result.status ?? result.signal})${said ? `:\n${said}` : "; see above"}`);
    }
    const binDir = result.stdout.trim().split("\n").pop()!;
    const command = await PulumiCommand.get({ root: path.dirname(binDir) });
    return { binDir, command };
}

/**
 * The environment every engine process of a local stack gets: the toolchain
 * first on PATH, a file backend and a passphrase kept in .gatehouse/, and
 * nothing that reaches for the network (no update check, no plugin downloads).
 */
export function engineEnv(engine: Engine, stateDir = STATE_DIR): Record<string, string> {
    fs.mkdirSync(path.join(stateDir, "state"), { recursive: true });
    return {
        PATH: `${engine.binDir}${path.delimiter}${process.env.PATH ?? ""}`,
        PULUMI_BACKEND_URL: `file://${path.join(stateDir, "state")}`,
        PULUMI_CONFIG_PASSPHRASE_FILE: passphraseFile(stateDir),
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        // Resource providers come from the plugin cache at the version the
        // program asks for, not from whatever binary of that name is on PATH.
        PULUMI_IGNORE_AMBIENT_PLUGINS: "true",
    };
}

/** A local passphrase for the local stacks' secrets, created once, readable only by you. */
export function passphraseFile(stateDir = STATE_DIR): string {
    const file = path.join(stateDir, "passphrase");
    if (!fs.existsSync(file)) {
        fs.mkdirSync(stateDir, { recursive: true });
        fs.writeFileSync(file, crypto.randomBytes(24).toString("base64url"), { mode: 0o600 });
    }
    return file;
}
