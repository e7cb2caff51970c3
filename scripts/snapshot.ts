import { listSnapshots, sha256File, takeSnapshot } from "../components/release/snapshot";
import { databaseUrlFrom, parseCli, required, runCli } from "./lib/cli";

const USAGE = "npm run snapshot -- --database-url <url> --out <dir> --label <label> [--keep <n>] [--reuse]";

runCli("snapshot", async () => {
    const { values } = parseCli(USAGE, {
        "database-url": { type: "string" },
        out: { type: "string" },
        label: { type: "string" },
        keep: { type: "string" },
        reuse: { type: "boolean" },
    });
    const outDir = required(values.out, "--out", USAGE);
    const label = required(values.label, "--label", USAGE);
    // --reuse: a release id that already has a verified snapshot (a return to a
    // released version, or a failed release run again) keeps it: the database
    // state before that release is what a restore would need, and a rollback
    // migrates nothing that a new dump would protect.
    const existing = values.reuse ? listSnapshots(outDir).find((r) => r.label === label) : undefined;
    if (existing && (await sha256File(existing.file)) === existing.sha256) {
        console.log(`snapshot of release ${label} already taken at ${existing.createdAt} and still verifies (sha256 ${existing.sha256}); reused, not re-taken`);
        console.log(existing.file);
        return;
    }
    const record = await takeSnapshot({
        databaseUrl: databaseUrlFrom(values["database-url"], USAGE),
        outDir,
        label,
        keep: values.keep ? Number(values.keep) : undefined,
    });
    console.log(`snapshot verified: ${record.tables} table(s), ${record.sizeBytes} bytes, sha256 ${record.sha256}`);
    // Last line: the snapshot's path (the release pipeline reads it).
    console.log(record.file);
});
