import { rehearseCommand, rehearseMigrations } from "../components/release/rehearsal";
import { COMMAND_MIGRATION_OPTIONS, revisionTableFrom } from "../components/release/revision";
import { databaseUrlFrom, parseCli, required, runCli, usageChecked } from "./lib/cli";
import { CliHelp } from "./lib/flags";

const USAGE = [
    "npm run rehearse -- --snapshot <file> --dir <dir> [--baseline <version>] [--database-url <url>]",
    "       npm run rehearse -- --snapshot <file> --command <cmd> --head <revision> [--history-command <cmd>] [--down-command <cmd>]",
    "            [--revision-table <t>] [--revision-column <c>] [--url-env <NAME>] [--url-scheme <scheme>] [--database-url <url>]",
].join("\n");
const HELP: CliHelp = {
    usage: USAGE,
    about: "The migrations of the release, applied first to a scratch copy of the release snapshot restored beside the\ntarget database, which is not touched; the copy is dropped afterwards. A failure here stops the release.",
    flags: {
        snapshot: { note: "required" },
        "database-url": { note: "the scratch copy is made on its server; default DATABASE_URL" },
        release: { note: "names the scratch copy (the snapshot step may have created it: snapshot --prepare-rehearsal); runner mode records it in the copy's tracking table" },
    },
    example: "npm run rehearse -- --snapshot .gatehouse/local/snapshots/r42_20250101T000000Z.dump --dir migrations --database-url postgres://app@127.0.0.1:5432/app",
};

runCli("rehearse", async () => {
    const { values } = parseCli(HELP, {
        snapshot: { type: "string" },
        dir: { type: "string" },
        baseline: { type: "string" },
        ...COMMAND_MIGRATION_OPTIONS,
        release: { type: "string" },
        "database-url": { type: "string" },
    });
    const databaseUrl = databaseUrlFrom(values["database-url"], USAGE);
    const snapshot = required(values.snapshot, "--snapshot", USAGE);
    const log = (line: string) => console.log(line);
    if (values.command) {
        // Command mode: the same revision check as the real migration step, on the scratch copy.
        await rehearseCommand({
            databaseUrl,
            snapshot,
            command: values.command,
            head: required(values.head, "--head", USAGE),
            historyCommand: values["history-command"],
            // Where set: upgrade, one step down, upgrade again; the schema must come back the same.
            downCommand: values["down-command"],
            release: values.release,
            revision: usageChecked(() => revisionTableFrom(values), USAGE),
            urlEnv: values["url-env"],
            urlScheme: values["url-scheme"],
            log,
        });
        return;
    }
    await rehearseMigrations({ databaseUrl, snapshot, dir: required(values.dir, "--dir", USAGE), baseline: values.baseline, release: values.release, log });
});
