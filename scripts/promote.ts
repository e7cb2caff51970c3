import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { commandAfterDashDash } from "../components/release/shell";
import { baseUrl, parseCli, releaseId, required, runCli } from "./lib/cli";
import { CliHelp } from "./lib/flags";

// The local target's promotion: run the configured promote command (if any),
// then append the release to the ledger. Runs only after the gate passed.
const HELP: CliHelp = {
    usage: "npm run promote -- --ledger <file> --release <id> [--snapshot <file>] [--base-url <url>] [-- <promote command>]",
    about: "Runs the promote command (sh -c, with GATEHOUSE_RELEASE set), then appends one line for the release to the ledger;\nwhen the command fails, nothing is appended. The release pipeline runs it after the gate passed.",
    flags: {
        ledger: { value: "<file>", meaning: "the promotions ledger (JSON lines), e.g. .gatehouse/local/releases.jsonl" },
        release: { note: "required" },
        snapshot: { note: "recorded in the ledger: the snapshot taken before this release" },
        "base-url": { note: "recorded in the ledger" },
    },
    example: "npm run promote -- --ledger .gatehouse/local/releases.jsonl --release r42 --base-url http://127.0.0.1:8181 -- ./notify.sh",
};
const USAGE = HELP.usage;

runCli("promote", async () => {
    const dashdash = process.argv.indexOf("--");
    const ours = dashdash >= 0 ? process.argv.slice(2, dashdash) : process.argv.slice(2);
    const command = commandAfterDashDash(process.argv);
    const { values } = parseCli(HELP, {
        ledger: { type: "string" },
        release: { type: "string" },
        snapshot: { type: "string" },
        "base-url": { type: "string" },
    }, ours);
    const ledger = required(values.ledger, "--ledger", USAGE);
    const release = releaseId(required(values.release, "--release", USAGE), USAGE);
    if (values["base-url"] !== undefined) baseUrl(values["base-url"], USAGE);
    // Checked before the command runs: a promotion that ran must not fail to be recorded.
    if (fs.existsSync(ledger) && !fs.statSync(ledger).isFile()) throw new Error(`--ledger ${ledger} is not a file; nothing was promoted`);
    if (command) {
        try {
            execFileSync("/bin/sh", ["-c", command], { stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, GATEHOUSE_RELEASE: release } });
        } catch (err: any) {
            throw new Error(`the promote command ${err.status != null ? `exited with ${err.status}` : `was ended by ${err.signal ?? err.message}`}; release ${release} is not recorded in ${ledger}`);
        }
    }
    const entry = { release, promotedAt: new Date().toISOString(), snapshot: values.snapshot ?? null, baseUrl: values["base-url"] ?? null };
    fs.mkdirSync(path.dirname(ledger), { recursive: true });
    fs.appendFileSync(ledger, `${JSON.stringify(entry)}\n`);
    console.log(`promoted release ${release} (ledger: ${ledger})`);
});
