import { redactUrl } from "../components/release/pgTools";
import { restoreRdsSnapshot } from "../components/release/rdsRestore";
import { restoreSnapshot } from "../components/release/snapshot";
import { databaseUrlFrom, parseCli, required, runCli } from "./lib/cli";
import { CliHelp } from "./lib/flags";

const HELP: CliHelp = {
    usage: [
        "npm run restore -- --snapshot <file> [--database-url <url>]",
        "       npm run restore -- --rds-snapshot <id> --new-instance <id> --region <region>",
    ].join("\n"),
    about: "Restores a release snapshot into an empty database (one with tables is refused), in one transaction:\na failed restore leaves the database as it was. On AWS: an RDS snapshot into a new instance beside the live one.",
    flags: {
        snapshot: { note: "required" },
        "database-url": { note: "it must be empty; default DATABASE_URL" },
        "rds-snapshot": { value: "<id>", meaning: "AWS: the RDS snapshot to restore" },
        "new-instance": { value: "<id>", meaning: "AWS: the new instance's identifier" },
        region: { value: "<region>", meaning: "AWS: the region" },
    },
    example: "npm run restore -- --snapshot .gatehouse/local/snapshots/r41_20250101T000000Z.dump --database-url postgres://app@127.0.0.1:5432/app_restored",
};
const USAGE = HELP.usage;

runCli("restore", async () => {
    const { values } = parseCli(HELP, {
        snapshot: { type: "string" },
        "database-url": { type: "string" },
        "rds-snapshot": { type: "string" },
        "new-instance": { type: "string" },
        region: { type: "string" },
    });
    if (values["rds-snapshot"]) {
        const { nextSteps } = await restoreRdsSnapshot({
            snapshotId: values["rds-snapshot"],
            newInstanceId: required(values["new-instance"], "--new-instance", USAGE),
            region: required(values.region, "--region", USAGE),
        });
        console.log(`restoring ${values["rds-snapshot"]} into the new instance ${values["new-instance"]}; next steps:`);
        nextSteps.forEach((step, i) => console.log(`  ${i + 1}. ${step}`));
        return;
    }
    const databaseUrl = databaseUrlFrom(values["database-url"], USAGE);
    const snapshot = required(values.snapshot, "--snapshot", USAGE);
    const { tables } = await restoreSnapshot({ snapshot, databaseUrl });
    console.log(`restored ${snapshot} into ${redactUrl(databaseUrl)}: ${tables} table(s)`);
    console.log("next steps:");
    console.log(`  1. check the restored data: psql '${redactUrl(databaseUrl)}'`);
    console.log("  2. point the stack at it (local target): pulumi config set --stack <stack> localDatabaseUrl '<url>' (add --secret if the URL has a password)");
    console.log("  3. release: pulumi up --stack <stack>; the old database is left untouched until you drop it yourself");
});
