import { rehearseCommand, rehearseMigrations } from "../components/release/rehearsal";
import { COMMAND_MIGRATION_OPTIONS } from "../components/release/revision";
import { databaseUrlFrom, parseCli, required, runCli } from "./lib/cli";

const USAGE = [
    "npm run rehearse -- --snapshot <file> --dir <dir> [--baseline <version>] [--database-url <url>]",
    "       npm run rehearse -- --snapshot <file> --command <migration command> --head <revision> [--history-command <cmd>]",
    "            [--revision-table <t>] [--revision-column <c>] [--url-env <NAME>] [--url-scheme <scheme>] [--database-url <url>]",
].join("\n");

runCli("rehearse", async () => {
    const { values } = parseCli(USAGE, {
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
            revision: { table: values["revision-table"]!, column: values["revision-column"]! },
            urlEnv: values["url-env"],
            urlScheme: values["url-scheme"],
            log,
        });
        return;
    }
    await rehearseMigrations({ databaseUrl, snapshot, dir: required(values.dir, "--dir", USAGE), baseline: values.baseline, release: values.release, log });
});
