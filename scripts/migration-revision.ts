// `npm run migration-revision`: command-mode migrations (the app's own tool,
// e.g. alembic) with the revision read back from the target database itself.
// Exit codes: 0 done, 1 the migration or the check failed, 2 bad usage.
import { COMMAND_MIGRATION_OPTIONS, MigrationRevisionError, RevisionTable, describeRevision, revisionTableFrom, readRevision, runCommandMigration } from "../components/release/revision";
import { SAVED_SCHEMA_TABLE, compareSavedSchema, saveSchema } from "../components/release/schemaCatalog";
import { UsageError, databaseUrlFrom, parseCli, runCli, usageChecked } from "./lib/cli";

const USAGE = [
    "npm run migration-revision -- run --command <cmd> --head <revision> [--history-command <cmd>] [revision and URL flags]",
    "       npm run migration-revision -- current [--revision-table <t>] [--revision-column <c>] [--database-url <url>]",
    "       npm run migration-revision -- check --head <revision> [--revision-table <t>] [--revision-column <c>] [--database-url <url>]",
    "       npm run migration-revision -- (schema-save | schema-compare) [--database-url <url>]",
].join("\n");

const HELP = `usage: ${USAGE}

run      records the database's revision, checks the history's continuity (--history-command),
         runs the migration command with the database URL in the app's env var and form, then
         reads the revision again: fails unless the command exits 0 AND the database is at --head.
current  prints the database's revision (the checklist's \`alembic current\`, read from the table).
check    fails unless the database is at --head (AWS: after the migration task).
schema-save     on a rehearsal's scratch copy after the first upgrade: describes the schema from the catalog
                and keeps the description in the copy (table public.${SAVED_SCHEMA_TABLE}).
schema-compare  after the round trip (down one step, upgrade again): fails, naming the first differing
                lines, unless the schema is described the same as when it was saved. The AWS rehearsal
                runs both in the runner image, which has no pg_dump.

  --command <cmd>           the app's migration command (sh -c), e.g. alembic upgrade head
  --head <revision>         the revision the database must be at afterwards (the stack's migrationHead)
  --history-command <cmd>   prints the revision history (alembic history); checked before migrating
  --down-command <cmd>      reverts one revision (the stack's migrationDownCommand); used by the rehearsal's
                            round trip (npm run rehearse), accepted and not used here
  --revision-table <t>      [schema.]table the tool records its revision in; default alembic_version
  --revision-column <c>     its column; default version_num
  --url-env <NAME>          env var the command gets the database URL in; default DATABASE_URL
  --url-scheme <scheme>     the URL's scheme for the app, e.g. postgresql+psycopg; default postgres
  --database-url <url>      the target database, postgres://user:password@host:port/name (a password is never printed); default DATABASE_URL
  -h, --help                this text

Example:
  npm run migration-revision -- run --database-url postgres://postgres@127.0.0.1:5432/routine \\
    --command 'uv run alembic -c apps/backend/alembic.ini upgrade head' \\
    --history-command 'uv run alembic -c apps/backend/alembic.ini history' \\
    --head 002_add_operability_fields --url-scheme postgresql+psycopg
`;

async function main(args: string[]): Promise<void> {
    const { values, positionals } = parseCli(
        `${USAGE}\n(--help for details)`,
        {
            ...COMMAND_MIGRATION_OPTIONS,
            "database-url": { type: "string" },
            help: { type: "boolean", short: "h" },
        },
        args,
    );
    if (values.help) {
        process.stdout.write(HELP);
        return;
    }
    const action = positionals[0];
    if (!["run", "current", "check", "schema-save", "schema-compare"].includes(action ?? "")) {
        throw new UsageError(`${action ? `unknown command ${JSON.stringify(action)}` : "a command is required: run, current, check, schema-save or schema-compare"}\nusage: ${USAGE}`);
    }
    const databaseUrl = databaseUrlFrom(values["database-url"], USAGE);
    const where: RevisionTable = usageChecked(() => revisionTableFrom(values), USAGE);
    const need = (value: string | undefined, flag: string) => {
        if (!value) throw new UsageError(`${flag} is required for ${action}\nusage: ${USAGE}`);
        return value;
    };
    const log = (line: string) => console.log(line);

    if (action === "schema-save") {
        log(`schema after the upgrade described from the catalog (${await saveSchema(databaseUrl)} lines) and kept in public.${SAVED_SCHEMA_TABLE}`);
        return;
    }
    if (action === "schema-compare") {
        const { lines, difference } = await compareSavedSchema(databaseUrl);
        if (difference) {
            throw new MigrationRevisionError(
                `the round trip (upgrade, one step down, upgrade) leaves the schema different from the schema after the first upgrade, ` +
                    `so the down step does not undo exactly what its upgrade does (the catalog's description, ${difference}`,
            );
        }
        log(`round trip passed: the schema (${lines} lines from the catalog) is the same as after the first upgrade`);
        return;
    }
    if (action === "current") {
        log(`revision (${where.table}.${where.column}): ${describeRevision(await readRevision(databaseUrl, where), where)}`);
        return;
    }
    if (action === "check") {
        const head = need(values.head, "--head");
        const revision = await readRevision(databaseUrl, where);
        log(`revision (${where.table}.${where.column}): ${describeRevision(revision, where)}`);
        if (!(revision?.length === 1 && revision[0] === head)) {
            throw new Error(`the database is not at the expected head ${head} (${where.table}.${where.column}: ${describeRevision(revision, where)}): the migration did not reach this database`);
        }
        log(`revision check passed: the database is at the expected head ${head}`);
        return;
    }
    await runCommandMigration({
        databaseUrl,
        command: need(values.command, "--command"),
        head: need(values.head, "--head"),
        historyCommand: values["history-command"],
        revision: where,
        urlEnv: values["url-env"],
        urlScheme: values["url-scheme"],
        log,
    });
}

runCli("migration-revision", () => main(process.argv.slice(2)));
