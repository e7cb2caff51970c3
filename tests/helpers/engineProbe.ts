import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import { Engine, engineEnv } from "../../scripts/lib/engine";
import { REPO_ROOT } from "../harness/stackConfig";

/** The programs one engine run used, read from the processes themselves. */
export interface ProgramsThatRan {
    /** The executable of the language host that started the program. */
    languageHost: string;
    /** The executable of the command provider that ran a command:local:Command. */
    commandProvider: string;
}

/**
 * Runs tests/fixtures/engine-probe under the engine (`pulumi up`, then the
 * stack is removed) and returns which language host and command provider ran.
 * The probe runs from a copy in a temporary directory with the repo's
 * node_modules linked in, so nothing is written into the repo.
 */
export async function programsThatRan(engine: Engine, env: NodeJS.ProcessEnv = {}): Promise<ProgramsThatRan> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gh-probe-"));
    try {
        const project = path.join(dir, "project");
        fs.cpSync(path.join(REPO_ROOT, "tests", "fixtures", "engine-probe"), project, { recursive: true });
        fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(project, "node_modules"));
        const envVars = { ...engineEnv(engine, path.join(dir, "state"), { ...process.env, ...env }), ...definedOnly(env) };
        const stack = await LocalWorkspace.createStack({ stackName: `probe-${crypto.randomBytes(3).toString("hex")}`, workDir: project }, { pulumiCommand: engine.command, envVars });
        const result = await stack.up();
        return { languageHost: result.outputs.languageHost.value, commandProvider: result.outputs.commandProvider.value };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** sha256 of a file, hex. */
export function sha256(file: string): string {
    return crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/** The sums a plugin directory's SHA256SUMS gives, by file name. */
export function sumsOf(dir: string): Record<string, string> {
    const lines = fs.readFileSync(path.join(dir, "SHA256SUMS"), "utf8").trim().split("\n");
    return Object.fromEntries(lines.map((l) => l.trim().split(/\s+\*?/)).map(([sum, name]) => [name, sum]));
}

function definedOnly(env: NodeJS.ProcessEnv): Record<string, string> {
    return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}
