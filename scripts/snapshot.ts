import { takeSnapshot } from "../components/release/snapshot";
import { databaseUrlFrom, parseCli, required, runCli } from "./lib/cli";

const USAGE = "npm run snapshot -- --database-url <url> --out <dir> --label <label> [--keep <n>]";

runCli("snapshot", async () => {
    const { values } = parseCli(USAGE, {
        "database-url": { type: "string" },
        out: { type: "string" },
        label: { type: "string" },
        keep: { type: "string" },
    });
    const record = await takeSnapshot({
        databaseUrl: databaseUrlFrom(values["database-url"], USAGE),
        outDir: required(values.out, "--out", USAGE),
        label: required(values.label, "--label", USAGE),
        keep: values.keep ? Number(values.keep) : undefined,
    });
    console.log(`snapshot verified: ${record.tables} table(s), ${record.sizeBytes} bytes, sha256 ${record.sha256}`);
    // Last line: the snapshot's path (the release pipeline reads it).
    console.log(record.file);
});
