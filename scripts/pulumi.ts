import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { UsageError, runCli } from "./lib/cli";
import { LOCAL_PROJECT_DIR, engineEnv, provideEngine } from "./lib/engine";

// The Pulumi CLI on the local stacks, as up:local runs it: from the generated
// project directory (.gatehouse/project), with the file backend and the
// passphrase in .gatehouse/ and the engine from scripts/pulumi-toolchain.sh.
// A bare `pulumi config set` there fails ("PULUMI_ACCESS_TOKEN must be set"):
// the CLI does not know the backend or the passphrase.
const USAGE = "npm run pulumi -- <pulumi command and its arguments>";

runCli("pulumi", async () => {
    const args = process.argv.slice(2);
    if (args.length === 0 || (args.length === 1 && ["-h", "--help"].includes(args[0]))) {
        process.stdout.write(
            [
                `usage: ${USAGE}`,
                "",
                "Runs Pulumi's CLI on the local stacks (local, routine-local) with what up:local gives it: the project",
                "directory .gatehouse/project, the file backend .gatehouse/state and the passphrase .gatehouse/passphrase",
                "(unless PULUMI_BACKEND_URL or PULUMI_CONFIG_PASSPHRASE[_FILE] name others). Every argument but a lone --help is",
                "pulumi's (npm run pulumi -- <command> --help). Exits 0 when pulumi succeeds, 2 for arguments pulumi does not take, else 1.",
                "",
                "examples:",
                "  npm run pulumi -- config set --stack local bakeSeconds 10",
                "  npm run pulumi -- config set --stack local --secret JWT_SECRET \"$(head -c 32 /dev/urandom | base64)\"",
                "  npm run pulumi -- stack history --stack local",
                "  npm run pulumi -- preview --stack routine-local --diff",
                "",
                "flags:",
                "  -h, --help  this text",
                "",
                "example: scripts/node22.sh npm run pulumi -- config set --stack local bakeSeconds 10",
                "",
            ].join("\n"),
        );
        return;
    }
    if (!fs.existsSync(path.join(LOCAL_PROJECT_DIR, "Pulumi.yaml"))) {
        throw new UsageError(`no local stack yet (${LOCAL_PROJECT_DIR} does not exist), so \`pulumi ${args[0]}${args.length > 1 ? " ..." : ""}\` was not run: run \`scripts/node22.sh npm run up:local\` first\nusage: ${USAGE}`);
    }
    const engine = await provideEngine({ quiet: true });
    // stderr is read as well as shown: Pulumi exits 1 for a mistyped flag or command too, which is bad usage (2) here.
    const result = spawnSync(path.join(engine.binDir, "pulumi"), args, { cwd: LOCAL_PROJECT_DIR, env: { ...process.env, ...engineEnv(engine) }, stdio: ["inherit", "inherit", "pipe"], encoding: "utf8" });
    if (result.error) throw result.error;
    process.stderr.write(result.stderr);
    if (/^error: unknown (shorthand )?(flag|command)/m.test(result.stderr)) throw new UsageError(`pulumi did not take those arguments (above)\nusage: ${USAGE}`);
    if (result.status !== 0) process.exit(1);
});
