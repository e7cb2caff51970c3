import { StatusRow, migrateUp, migrationStatus } from "../components/release/runner";
import { UsageError, databaseUrlFrom, parseCli, releaseId, required, runCli, versionPrefix } from "./lib/cli";
import { CliHelp } from "./lib/flags";

const HELP: CliHelp = {
    usage: [
        "npm run migrate -- status --dir <dir> [--database-url <url>]",
        "       npm run migrate -- up --dir <dir> [--database-url <url>] [--release <id>] [--baseline <version>] [--through-file <file> | --through <version>] [--manifest <sha256>]",
        "       npm run migrate -- verify --expect <file> [--snapshot <file>] [--database-url <url>]",
        "       npm run migrate -- lint --help",
    ].join("\n"),
    about: [
        "status  each file's state (applied, pending, baseline, drifted, missing-file); fails on drifted or missing files",
        "up      applies the pending files in file-name order, each in its transaction, tracked by file name",
        "verify  checks the schema expectations file against the database and reports the row counts it names",
        "lint    the migration lint of `pulumi preview`, for an app's CI (flags of its own: migrate lint --help)",
    ].join("\n"),
    flags: {
        dir: { note: "status and up (required)" },
        "database-url": { note: "default DATABASE_URL" },
        release: { note: "up: recorded with each file applied; default GATEHOUSE_RELEASE" },
        baseline: {},
        "through-file": { value: "<file>", meaning: "up: stop after this file (one release step per file)" },
        through: { value: "<version>", meaning: "up: stop after the files of this version prefix" },
        manifest: {
            value: "<sha256>",
            meaning: "up: the manifest of the files above the baseline as the release plan showed them; other files here refuse the run before anything is applied",
        },
        expect: { value: "<file>", meaning: "verify: the schema expectations (YAML), e.g. checks/kifu.schema.yaml" },
        snapshot: { note: "verify: the release snapshot, where the row counts before the migrations are read" },
    },
    example: "npm run migrate -- up --dir migrations --database-url postgres://app@127.0.0.1:5432/app --release r42",
};
const USAGE = HELP.usage;

// `lint` has flags and exit codes of its own (0 clean, 1 blocking, 2 cannot lint): scripts/migrate-lint.ts.
if (process.argv[2] === "lint") require("./migrate-lint").runLintCli(process.argv.slice(3));
else runCli("migrate", async () => {
    const { values, positionals } = parseCli(HELP, {
        dir: { type: "string" },
        "database-url": { type: "string" },
        release: { type: "string" },
        baseline: { type: "string" },
        through: { type: "string" },
        "through-file": { type: "string" },
        manifest: { type: "string" },
        expect: { type: "string" },
        snapshot: { type: "string" },
    });
    // The command first: a misspelt one is a usage error, whatever else is missing.
    if (!["status", "up", "verify"].includes(positionals[0] ?? "")) throw new UsageError(`unknown command ${JSON.stringify(positionals[0] ?? "")}\nusage: ${USAGE}`);
    const databaseUrl = databaseUrlFrom(values["database-url"], USAGE);
    switch (positionals[0]) {
        case "status": {
            const rows = await migrationStatus({ databaseUrl, dir: required(values.dir, "--dir", USAGE) });
            for (const r of rows) {
                const when = r.appliedAt ? `  ${r.appliedAt.toISOString()}${r.release ? ` (release ${r.release})` : ""}` : "";
                const renamed = r.renamedFrom ? `  (applied as ${r.renamedFrom}; recorded under the new name by the next \`migrate up\`)` : "";
                console.log(`${r.state.padEnd(12)} ${r.file}${when}${renamed}`);
            }
            for (const note of sharedPrefixNotes(rows)) console.log(note);
            const pending = rows.filter((r) => r.state === "pending").length;
            console.log(`${pending} pending`);
            if (rows.some((r) => r.state === "drifted")) throw new Error("a file changed after it was applied (state: drifted)");
            if (rows.some((r) => r.state === "missing-file")) throw new Error("an applied file is no longer in the directory (state: missing-file); `migrate up` says what to do");
            return;
        }
        case "up": {
            const result = await migrateUp({
                databaseUrl,
                dir: required(values.dir, "--dir", USAGE),
                // The release pipeline passes the id in the environment (see pipeline.ts).
                release: values.release !== undefined ? releaseId(values.release, USAGE) : process.env.GATEHOUSE_RELEASE,
                baseline: versionPrefix(values.baseline, "--baseline", USAGE),
                through: versionPrefix(values.through, "--through", USAGE),
                throughFile: values["through-file"],
                expectedManifest: values.manifest !== undefined ? sha256Flag(values.manifest, "--manifest") : undefined,
                log: (line) => console.log(line),
            });
            const renamed = result.renamed?.length ? `, renamed ${result.renamed.length}` : "";
            console.log(`applied ${result.applied.length}, already applied ${result.skipped.length}${renamed}`);
            return;
        }
        case "verify": {
            // Loaded here only: zod and yaml cost every `up` step ~150 ms at start-up.
            const { formatRowCounts, readExpectations, verifySchema } = await import("../components/release/verify");
            const file = required(values.expect, "--expect", USAGE);
            // --snapshot: the release snapshot, where the row counts before the migrations are read.
            const result = await verifySchema(databaseUrl, readExpectations(file), { snapshot: values.snapshot });
            console.log(`schema verified: ${result.checked} expectation(s) from ${file} hold`);
            if (result.rowCounts.length > 0) formatRowCounts(result.rowCounts).forEach((line) => console.log(line));
            return;
        }
        default:
            throw new UsageError(`unknown command ${JSON.stringify(positionals[0] ?? "")}\nusage: ${USAGE}`);
    }
});

function sha256Flag(value: string, flag: string): string {
    if (!/^[0-9a-f]{64}$/.test(value)) throw new UsageError(`${flag} ${value}: must be a sha256 as 64 hex digits\nusage: ${USAGE}`);
    return value;
}

/** Files that share a version prefix: accepted, applied in file-name order; said once so nobody takes them for a mistake. */
function sharedPrefixNotes(rows: StatusRow[]): string[] {
    const byVersion = new Map<string, string[]>();
    for (const r of rows) {
        if (r.state === "missing-file") continue;
        const version = BigInt(r.version).toString();
        byVersion.set(version, [...(byVersion.get(version) ?? []), r.file]);
    }
    return [...byVersion.values()].filter((files) => files.length > 1).map((files) => `shared prefix: ${files.join(", ")} (applied in file-name order)`);
}
