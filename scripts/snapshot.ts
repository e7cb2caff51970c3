import * as fs from "fs";
import { RehearsalWork, dropScratch, prepareScratch } from "../components/release/rehearsal";
import { revisionTableFrom } from "../components/release/revision";
import { listSnapshots, sha256File, takeSnapshot } from "../components/release/snapshot";
import { UsageError, databaseUrlFrom, parseCli, releaseId, required, runCli, usageChecked } from "./lib/cli";
import { CliHelp } from "./lib/flags";

const HELP: CliHelp = {
    usage: [
        "npm run snapshot -- --out <dir> --release <id> [--database-url <url>] [--keep <n>] [--reuse]",
        "            [--prepare-rehearsal (--dir <dir> [--baseline <version>] | --head <revision> [--revision-table <t>] [--revision-column <c>])]",
    ].join("\n"),
    about: "pg_dump of the database into --out, verified readable (pg_restore --list) and recorded with its size and sha256\nbefore it counts; nothing half-written is left. The last line printed is the snapshot's path.",
    flags: {
        out: { value: "<dir>", meaning: "the snapshot directory (the stack's snapshotDir)" },
        release: { note: "names the snapshot (required)" },
        "database-url": { note: "default DATABASE_URL" },
        keep: { value: "<n>", meaning: "keep this many verified snapshots in --out, delete older ones (default 10)" },
        reuse: { meaning: "a release that already has a snapshot that still verifies keeps it (a rollback, or a release run again)" },
        "prepare-rehearsal": {
            meaning:
                "beside the dump, create the rehearsal's scratch database for --release when there is something to rehearse:\n" +
                "a pending file in --dir (runner mode), or a revision other than --head (command mode)",
        },
        dir: { value: "<dir>", meaning: "with --prepare-rehearsal: the migration files (runner mode)" },
        baseline: { value: "<version>", meaning: "with --prepare-rehearsal: files up to this version count as applied" },
        head: { value: "<revision>", meaning: "with --prepare-rehearsal: the release's head (command mode)" },
        "revision-table": { value: "<t>", meaning: "with --head: where the tool records the revision (default alembic_version)" },
        "revision-column": { value: "<c>", meaning: "with --head: its column (default version_num)" },
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
        "prepare-rehearsal": { type: "boolean" },
        dir: { type: "string" },
        baseline: { type: "string" },
        head: { type: "string" },
        "revision-table": { type: "string" },
        "revision-column": { type: "string" },
    });
    const outDir = required(values.out, "--out", USAGE);
    if (fs.existsSync(outDir) && !fs.statSync(outDir).isDirectory()) throw new Error(`--out ${outDir} is a file, not a directory: snapshots need a directory of their own`);
    const release = releaseId(required(values.release, "--release", USAGE), USAGE);
    const keep = values.keep === undefined ? undefined : Number(values.keep);
    if (keep !== undefined && !(Number.isInteger(keep) && keep >= 1)) throw new UsageError(`--keep must be a whole number of snapshots, at least 1, got ${JSON.stringify(values.keep)}\nusage: ${USAGE}`);
    const work = values["prepare-rehearsal"] ? rehearsalWork(values) : noRehearsalFlags(values);
    // A snapshot reused needs no database; one taken, or a scratch prepared, does.
    const databaseUrl = () => databaseUrlFrom(values["database-url"], USAGE);
    // Beside the dump, which does not wait for it. Best effort: where it fails (null), the rehearsal creates the database itself.
    const scratch = work
        ? prepareScratch(databaseUrl(), release, work).catch((err: Error) => {
              console.log(`the rehearsal's scratch database was not prepared (${err.message}); the rehearsal will create it`);
              return null;
          })
        : undefined;
    let file: string;
    try {
        file = await snapshotOf(databaseUrl, outDir, release, keep, values.reuse === true);
    } catch (err) {
        // The release stops here: no rehearsal will use or drop the scratch database.
        const made = await scratch;
        if (made) await dropScratch(databaseUrl(), made).catch(() => undefined);
        throw err;
    }
    const made = await scratch;
    if (made) console.log(`the rehearsal's scratch database ${made} was created beside the dump`);
    else if (made === undefined && work) console.log("nothing to rehearse: no scratch database prepared");
    // Last line: the snapshot's path (the release pipeline reads it).
    console.log(file);
});

async function snapshotOf(databaseUrl: () => string, outDir: string, release: string, keep: number | undefined, reuse: boolean): Promise<string> {
    // --reuse: a release id that already has a verified snapshot (a return to a
    // released version, or a failed release run again) keeps it: the database
    // state before that release is what a restore would need, and a rollback
    // migrates nothing that a new dump would protect.
    const existing = reuse ? listSnapshots(outDir).find((r) => r.label === release) : undefined;
    if (existing && (await sha256File(existing.file)) === existing.sha256) {
        console.log(`snapshot of release ${release} already taken at ${existing.createdAt} and still verifies (sha256 ${existing.sha256}); reused, not re-taken`);
        return existing.file;
    }
    const record = await takeSnapshot({ databaseUrl: databaseUrl(), outDir, label: release, keep });
    console.log(`snapshot verified: ${record.tables} table(s), ${record.sizeBytes} bytes, sha256 ${record.sha256}`);
    return record.file;
}

function noRehearsalFlags(values: Record<string, unknown>): undefined {
    const given = ["dir", "baseline", "head", "revision-table", "revision-column"].filter((f) => values[f] !== undefined);
    if (given.length > 0) throw new UsageError(`--${given[0]} is a flag of --prepare-rehearsal, which was not given\nusage: ${USAGE}`);
    return undefined;
}

/** --prepare-rehearsal's test: runner mode's files (--dir) or command mode's head (--head), as the rehearse CLI takes them. */
function rehearsalWork(values: { dir?: string; baseline?: string; head?: string; "revision-table"?: string; "revision-column"?: string }): RehearsalWork {
    if (values.dir !== undefined && values.head !== undefined) throw new UsageError(`--prepare-rehearsal takes --dir (runner mode) or --head (command mode), not both\nusage: ${USAGE}`);
    if (values.dir !== undefined) return { dir: values.dir, baseline: values.baseline };
    if (values.head !== undefined) return { head: values.head, revision: usageChecked(() => revisionTableFrom(values), USAGE) };
    throw new UsageError(`--prepare-rehearsal needs --dir (runner mode) or --head (command mode) to tell whether there is anything to rehearse\nusage: ${USAGE}`);
}
