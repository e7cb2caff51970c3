import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { commandAfterDashDash } from "../components/release/shell";
import { parseCli, required, runCli } from "./lib/cli";

// The local target's promotion: run the configured promote command (if any),
// then append the release to the ledger. Runs only after the gate passed.
const USAGE = "npm run promote -- --ledger <file> --release <id> [--snapshot <file>] [--base-url <url>] [-- <promote command>]";

runCli("promote", async () => {
    const dashdash = process.argv.indexOf("--");
    const ours = dashdash >= 0 ? process.argv.slice(2, dashdash) : process.argv.slice(2);
    const command = commandAfterDashDash(process.argv);
    const { values } = parseCli(USAGE, {
        ledger: { type: "string" },
        release: { type: "string" },
        snapshot: { type: "string" },
        "base-url": { type: "string" },
    }, ours);
    const ledger = required(values.ledger, "--ledger", USAGE);
    const release = required(values.release, "--release", USAGE);
    if (command) execFileSync("/bin/sh", ["-c", command], { stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, GATEHOUSE_RELEASE: release } });
    const entry = { release, promotedAt: new Date().toISOString(), snapshot: values.snapshot ?? null, baseUrl: values["base-url"] ?? null };
    fs.mkdirSync(path.dirname(ledger), { recursive: true });
    fs.appendFileSync(ledger, `${JSON.stringify(entry)}\n`);
    console.log(`promoted release ${release} (ledger: ${ledger})`);
});
