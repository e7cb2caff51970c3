import { rehearseCommand, rehearseMigrations } from "../components/release/rehearsal";
import { databaseUrlFrom, parseCli, required, runCli } from "./lib/cli";

const USAGE = "npm run rehearse -- --snapshot <file> (--dir <dir> [--baseline <version>] | --command <migration command>) [--database-url <url>]";

runCli("rehearse", async () => {
    const { values } = parseCli(USAGE, {
        snapshot: { type: "string" },
        dir: { type: "string" },
        baseline: { type: "string" },
        command: { type: "string" },
        release: { type: "string" },
        "database-url": { type: "string" },
    });
    const databaseUrl = databaseUrlFrom(values["database-url"], USAGE);
    const snapshot = required(values.snapshot, "--snapshot", USAGE);
    const log = (line: string) => console.log(line);
    if (values.command) {
        await rehearseCommand({ databaseUrl, snapshot, command: values.command, log });
        return;
    }
    await rehearseMigrations({ databaseUrl, snapshot, dir: required(values.dir, "--dir", USAGE), baseline: values.baseline, release: values.release, log });
});
