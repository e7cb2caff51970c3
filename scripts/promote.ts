import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { markPromoted } from "../components/local/edge";
import { commandAfterDashDash } from "../components/release/shell";
import { baseUrl, parseCli, releaseId, required, runCli } from "./lib/cli";
import { CliHelp } from "./lib/flags";

// The local target's promotion: run the configured promote command (if any),
// then append the release to the ledger. Runs only after the gate passed.
const HELP: CliHelp = {
    usage: "npm run promote -- --ledger <file> --release <id> [--mark-slot <state-dir>]... [--snapshot <file>] [--base-url <url>] [-- <promote command>]",
    about: [
        "Marks each --mark-slot edge's live slot (it must run --release) as promoted, runs the promote command (sh -c, with",
        "GATEHOUSE_RELEASE set), then appends one line for the release to the ledger; when anything fails, nothing is appended.",
        "The release pipeline runs it after the gates, switches and bake windows passed.",
    ].join("\n"),
    flags: {
        ledger: { value: "<file>", meaning: "the promotions ledger (JSON lines), e.g. .gatehouse/local/releases.jsonl" },
        release: { note: "required" },
        "mark-slot": { value: "<state-dir>", meaning: "a local edge's state directory whose live slot this release promoted (a rollback to it later needs no gate or bake)", note: "repeatable" },
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
        "mark-slot": { type: "string", multiple: true },
        snapshot: { type: "string" },
        "base-url": { type: "string" },
    }, ours);
    const ledger = required(values.ledger, "--ledger", USAGE);
    const release = releaseId(required(values.release, "--release", USAGE), USAGE);
    if (values["base-url"] !== undefined) baseUrl(values["base-url"], USAGE);
    // Checked before the command runs: a promotion that ran must not fail to be recorded.
    if (fs.existsSync(ledger) && !fs.statSync(ledger).isFile()) throw new Error(`--ledger ${ledger} is not a file; nothing was promoted`);
    // One process for the whole promotion (marks, command, ledger): a release's last step is on its critical path.
    for (const stateDir of values["mark-slot"] ?? []) {
        const marked = markPromoted(stateDir, release);
        console.log(`marked ${marked.slot} in ${stateDir} (release ${release}, pid ${marked.pid}) as promoted`);
    }
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
