import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { PulumiCommand } from "@pulumi/pulumi/automation";
import * as YAML from "yaml";

export const PROJECT_DIR = path.join(__dirname, "..", "..");
/** Local stacks' state, passphrase and per-stack working files. */
export const STATE_DIR = path.join(PROJECT_DIR, ".gatehouse");

/** The Pulumi engine as scripts/pulumi-toolchain.sh provides it. */
export interface Engine {
    /** The distribution directory: pulumi, its language host and launchers (the command provider is in the plugin cache). */
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
export async function provideEngine(options: { quiet?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<Engine> {
    const env = options.env ?? process.env;
    const result = spawnSync(path.join(PROJECT_DIR, "scripts", "pulumi-toolchain.sh"), [], {
        cwd: PROJECT_DIR,
        env,
        stdio: ["ignore", "pipe", options.quiet ? "pipe" : "inherit"],
        encoding: "utf8",
    });
    if (result.status !== 0) {
        const said = options.quiet ? (result.stderr ?? "").trim().split("\n").filter((l) => !l.startsWith("pulumi-toolchain [")).join("\n") : "";
        throw new EngineUnavailable(`the Pulumi engine could not be provided (scripts/pulumi-toolchain.sh exited ${result.status ?? result.signal})${said ? `:\n${said}` : "; see above"}`);
    }
    const binDir = result.stdout.trim().split("\n").pop()!;
    // Loaded here, not at the top: a CLI that needs no engine yet (the rollback's early switch) starts without it.
    // require, not import(): in the esbuild bundle import() stays an ES module import, which cannot load this directory.
    const { PulumiCommand } = require("@pulumi/pulumi/automation") as typeof import("@pulumi/pulumi/automation");
    const command = await PulumiCommand.get({ root: installationRoot(binDir, env) });
    return { binDir, command };
}

/**
 * The Automation API runs `<root>/bin/pulumi`, but a distribution may live in
 * a directory of any name (the toolchain prints the one the CLI really sits
 * in). For such a directory, a root whose `bin` links to it: the engine then
 * still finds its language host beside the binary it resolves to.
 */
export function installationRoot(binDir: string, env: NodeJS.ProcessEnv = process.env): string {
    if (path.basename(binDir) === "bin") return path.dirname(binDir);
    const cache = env.GATEHOUSE_TOOLCHAIN_CACHE ?? path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "gatehouse", "toolchain");
    const root = path.join(cache, "roots", crypto.createHash("sha256").update(binDir).digest("hex").slice(0, 16));
    const link = path.join(root, "bin");
    if (linkTarget(link) !== binDir) {
        fs.mkdirSync(root, { recursive: true });
        fs.rmSync(link, { force: true });
        fs.symlinkSync(binDir, link);
    }
    return root;
}

function linkTarget(link: string): string | undefined {
    try {
        return fs.readlinkSync(link);
    } catch {
        return undefined;
    }
}

/**
 * The environment every engine process of a local stack gets: the toolchain
 * first on PATH, a file backend and a passphrase kept in .gatehouse/ (unless
 * the operator's environment names its own), and nothing that reaches for
 * the network (no update check, no plugin downloads).
 */
export function engineEnv(engine: Engine, stateDir = STATE_DIR, inherited: NodeJS.ProcessEnv = process.env): Record<string, string> {
    const backend = backendUrl(stateDir, inherited);
    if (backend.startsWith("file://")) fs.mkdirSync(backend.slice("file://".length), { recursive: true });
    const passphrase: Record<string, string> =
        inherited.PULUMI_CONFIG_PASSPHRASE !== undefined || inherited.PULUMI_CONFIG_PASSPHRASE_FILE !== undefined
            ? {}
            : { PULUMI_CONFIG_PASSPHRASE_FILE: passphraseFile(stateDir) };
    return {
        PATH: `${engine.binDir}${path.delimiter}${inherited.PATH ?? ""}`,
        PULUMI_BACKEND_URL: backend,
        ...passphrase,
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        // Resource providers come from the plugin cache at the version the
        // program asks for, not from whatever binary of that name is on PATH.
        PULUMI_IGNORE_AMBIENT_PLUGINS: "true",
        // ts-node without type-checking for what the engine still runs as TypeScript (the policy pack; the
        // program runs from its bundle, scripts/program.js): `npm test` type-checks (tsc --noEmit).
        PULUMI_NODEJS_TRANSPILE_ONLY: "true",
    };
}

/** Where local stacks keep their state: the operator's PULUMI_BACKEND_URL, else a file backend in .gatehouse/state. */
export function backendUrl(stateDir = STATE_DIR, inherited: NodeJS.ProcessEnv = process.env): string {
    return inherited.PULUMI_BACKEND_URL ?? `file://${path.join(stateDir, "state")}`;
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

/** Where local stacks' project and stack files live: generated, outside what git tracks. */
export const LOCAL_PROJECT_DIR = path.join(STATE_DIR, "project");

/**
 * The project directory a local stack runs from. Its stack file holds the
 * passphrase provider's salt and the encrypted local secrets, so it lives
 * here, not in the repo: created from the repo's Pulumi.<template>.yaml on
 * first use. Later the repo's file is merged in three ways, against the copy
 * of it merged last time (kept beside, `.Pulumi.<stack>.template.yaml`): a key
 * it gained is added, a value the stack still has as the repo had it takes the
 * repo's new value, and a value the stack changed (release, a rollback's
 * config, the operator's own) is kept. Its Pulumi.yaml is the repo's with
 * `main` pointing back at the repo, so the program, its providers and their
 * commands still run from the repo's directory. `notes` says what was taken
 * and where the stack keeps a value the repo no longer has.
 */
export function localProject(stack: string, options: { dir?: string; template?: string; set?: Record<string, unknown>; notes?: (line: string) => void } = {}): string {
    const dir = options.dir ?? LOCAL_PROJECT_DIR;
    fs.mkdirSync(dir, { recursive: true });
    const project = fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.yaml"), "utf8").replace(/^main: .*$/m, `main: ${path.relative(dir, PROJECT_DIR) || "."}`);
    fs.writeFileSync(path.join(dir, "Pulumi.yaml"), project);
    const stackFile = path.join(dir, `Pulumi.${stack}.yaml`);
    const lastTemplateFile = path.join(dir, `.Pulumi.${stack}.template.yaml`);
    const templateText = fs.readFileSync(path.join(PROJECT_DIR, `Pulumi.${options.template ?? stack}.yaml`), "utf8");
    const template: Record<string, unknown> = YAML.parse(templateText)?.config ?? {};
    const last: Record<string, unknown> | undefined = fs.existsSync(lastTemplateFile) ? (YAML.parse(fs.readFileSync(lastTemplateFile, "utf8"))?.config ?? {}) : undefined;
    const existed = fs.existsSync(stackFile);
    const doc = existed ? YAML.parseDocument(fs.readFileSync(stackFile, "utf8")) : new YAML.Document({ config: {} });
    // `pulumi config set` stores scalars as strings: "false" and false are the same setting.
    const canonical = (v: unknown) => JSON.stringify(v !== null && typeof v === "object" ? v : String(v));
    const same = (a: unknown, b: unknown) => canonical(a) === canonical(b);
    for (const [key, value] of Object.entries(template)) {
        if (!doc.hasIn(["config", key])) {
            doc.setIn(["config", key], value);
            continue;
        }
        const current = (doc.getIn(["config", key]) as { toJSON?: () => unknown })?.toJSON?.() ?? doc.getIn(["config", key]);
        if (same(current, value)) continue;
        if (last && key in last && same(current, last[key])) {
            doc.setIn(["config", key], value);
            options.notes?.(`${key}: took the repo's new value from Pulumi.${options.template ?? stack}.yaml (the stack had the repo's earlier one)`);
        } else if (!last && existed) {
            options.notes?.(
                `${key}: the stack keeps ${JSON.stringify(current)}; the repo's Pulumi.${options.template ?? stack}.yaml says ${JSON.stringify(value)}. ` +
                    `To take the repo's: npm run pulumi -- config rm --stack ${stack} ${key}, then up:local again`,
            );
        }
    }
    for (const [key, value] of Object.entries(options.set ?? {})) doc.setIn(["config", `gatehouse:${key}`], value);
    fs.writeFileSync(stackFile, doc.toString());
    fs.writeFileSync(lastTemplateFile, templateText);
    return dir;
}

/**
 * What an operator needs of a failed `pulumi preview`/`up` run through the
 * Automation API: its error lines. The API's CommandError repeats the whole
 * output (already shown as it ran) with the command line and `code: -2`.
 */
export function engineFailure(err: unknown): Error {
    const stderr: string | undefined = (err as { commandResult?: { stderr?: string } })?.commandResult?.stderr;
    if (typeof stderr !== "string") return err instanceof Error ? err : new Error(String(err));
    // From the first error line to where the CLI starts repeating the run's display.
    const lines = stderr.split("\n").filter((l) => !/^Command failed with exit code \d+: /.test(l));
    const first = lines.findIndex((l) => /^error: /.test(l));
    const from = first >= 0 ? lines.slice(first) : lines;
    const end = from.findIndex((l) => /^(Previewing update|Updating|Destroying) \(/.test(l));
    return new Error(`pulumi failed:\n${(end >= 0 ? from.slice(0, end) : from).join("\n").trim()}`);
}
