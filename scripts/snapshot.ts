import * as fs from "fs";
import { listSnapshots, sha256File, takeSnapshot } from "../components/release/snapshot";
import { UsageError, databaseUrlFrom, parseCli, releaseId, required, runCli } from "./lib/cli";
import { CliHelp } from "./lib/flags";

const HELP: CliHelp = {
    usage: "npm run snapshot -- --out <dir> --release <id> [--database-url <url>] [--keep <n>] [--reuse]",
    about: "pg_dump of the database into --out, verified readable (pg_restore --list) and recorded with its size and sha256\nbefore it counts; nothing half-written is left. The last line printed is the snapshot's path.",
    flags: {
        out: { value: "<dir>", meaning: "the snapshot directory (the stack's snapshotDir)" },
        release: { note: "names the snapshot (required)" },
        "database-url": { note: "default DATABASE_URL" },
        keep: { value: "<n>", meaning: "keep this many verified snapshots in --out, delete older ones (default 10)" },
        reuse: { meaning: "a release that already has a snapshot that still verifies keeps it (a rollback, or a release run again)" },
    },
    example: "npm run snapshot -- --out .gatehouse/local/snapshots --release r42 --database-url postgres://app@127.0.0.1:5432/app",
};
const USAGE = HELP.usage;

runCli("snapshot", async () => {
    const { values } = parseCli(HELP, {
        "database-url": { type: "string" },
        out: { type: "string" },
        release: { type: "string" },
        keep: { type: "string" },
        reuse: { type: "boolean" },
    });
    const outDir = required(values.out, "--out", USAGE);
    if (fs.existsSync(outDir) && !fs.statSync(outDir).isDirectory()) throw new Error(`--out ${outDir} is a file, not a directory: snapshots need a directory of their own`);
    const release = releaseId(required(values.release, "--release", USAGE), USAGE);
    const keep = values.keep === undefined ? undefined : Number(values.keep);
    if (keep !== undefined && !(Number.isInteger(keep) && keep >= 1)) throw new UsageError(`--keep must be a whole number of snapshots, at least 1, got ${JSON.stringify(values.keep)}\nusage: ${USAGE}`);
    // --reuse: a release id that already has a verified snapshot (a return to a
    // released version, or a failed release run again) keeps it: the database
    // state before that release is what a restore would need, and a rollback
    // migrates nothing that a new dump would protect.
    const existing = values.reuse ? listSnapshots(outDir).find((r) => r.label === release) : undefined;
    if (existing && (await sha256File(existing.file)) === existing.sha256) {
        console.log(`snapshot of release ${release} already taken at ${existing.createdAt} and still verifies (sha256 ${existing.sha256}); reused, not re-taken`);
        console.log(existing.file);
        return;
    }
    const record = await takeSnapshot({
        databaseUrl: databaseUrlFrom(values["database-url"], USAGE),
        outDir,
        label: release,
        keep,
    });
    console.log(`snapshot verified: ${record.tables} table(s), ${record.sizeBytes} bytes, sha256 ${record.sha256}`);
    // Last line: the snapshot's path (the release pipeline reads it).
    console.log(record.file);
});
