import { migrateUp, migrationStatus } from "../components/release/runner";
import { databaseUrlFrom, parseCli, required, runCli } from "./lib/cli";

const USAGE = [
    "npm run migrate -- status --dir <dir> [--database-url <url>]",
    "       npm run migrate -- up --dir <dir> [--database-url <url>] [--release <id>] [--baseline <version>] [--through <version>]",
    "       npm run migrate -- verify --expect <file> [--database-url <url>]",
].join("\n");

runCli("migrate", async () => {
    const { values, positionals } = parseCli(USAGE, {
        dir: { type: "string" },
        "database-url": { type: "string" },
        release: { type: "string" },
        baseline: { type: "string" },
        through: { type: "string" },
        expect: { type: "string" },
    });
    const databaseUrl = databaseUrlFrom(values["database-url"], USAGE);
    switch (positionals[0]) {
        case "status": {
            const rows = await migrationStatus({ databaseUrl, dir: required(values.dir, "--dir", USAGE) });
            for (const r of rows) {
                const when = r.appliedAt ? `  ${r.appliedAt.toISOString()}${r.release ? ` (release ${r.release})` : ""}` : "";
                console.log(`${r.state.padEnd(12)} ${r.file}${when}`);
            }
            const pending = rows.filter((r) => r.state === "pending").length;
            console.log(`${pending} pending`);
            if (rows.some((r) => r.state === "drifted")) throw new Error("a file changed after it was applied (state: drifted)");
            return;
        }
        case "up": {
            const result = await migrateUp({
                databaseUrl,
                dir: required(values.dir, "--dir", USAGE),
                // The release pipeline passes the id in the environment (see pipeline.ts).
                release: values.release ?? process.env.GATEHOUSE_RELEASE,
                baseline: values.baseline,
                through: values.through,
                log: (line) => console.log(line),
            });
            console.log(`applied ${result.applied.length}, already applied ${result.skipped.length}`);
            return;
        }
        case "verify": {
            // Loaded here only: zod and yaml cost every `up` step ~150 ms at start-up.
            const { readExpectations, verifySchema } = await import("../components/release/verify");
            const file = required(values.expect, "--expect", USAGE);
            const result = await verifySchema(databaseUrl, readExpectations(file));
            console.log(`schema verified: ${result.checked} expectation(s) from ${file} hold`);
            return;
        }
        default:
            throw new Error(`unknown command ${JSON.stringify(positionals[0] ?? "")}\nusage: ${USAGE}`);
    }
});
