import { strict as assert } from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { dumpSchema, firstDifference, rehearseCommand } from "../components/release/rehearsal";
import { MigrationRevisionError, RevisionTable, commandMigrationFlags, readRevision, readRevisionState, revertOneStep, runCommandMigration } from "../components/release/revision";
import { migrateUp } from "../components/release/runner";
import { takeSnapshot } from "../components/release/snapshot";
import { readExpectations, verifySchema } from "../components/release/verify";
import { gatehouseCli } from "../components/release/pipeline";
import { EngineState, Executed, executingAnswer } from "./harness/executor";
import { runStack } from "./harness/program";
import { REPO_ROOT } from "./harness/stackConfig";
import { alembicOrSkip, alembicProject } from "./helpers/alembic";
import { freeStackPorts } from "./helpers/ports";
import { freshDatabase, sql } from "./helpers/postgres";

// Command mode with a real up/down tool (node-pg-migrate, demo/routine-pgm)
// and the rehearsal's round trip: upgrade, one step down, upgrade, schema
// compared. Real PostgreSQL; nothing here measures time.
const ROOT = path.join(__dirname, "..");
const PGM_DIR = path.join(ROOT, "demo", "routine-pgm");
const NAMES = ["001_initial_persistence_schema", "002_add_operability_fields", "003_workout_plans"];
const HEAD = NAMES[2];
const PGMIGRATIONS: RevisionTable = { table: "pgmigrations", column: "name" };
const pgm = (args: string, dir = PGM_DIR) => `node_modules/.bin/node-pg-migrate ${args} -m '${dir}' --no-verbose`;

/** demo/routine-pgm plus extra migration files, in a temporary directory. */
function pgmDirWith(extra: Record<string, string>): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gh-pgm-"));
    fs.cpSync(PGM_DIR, dir, { recursive: true });
    for (const [file, text] of Object.entries(extra)) fs.writeFileSync(path.join(dir, file), text);
    return dir;
}

/** node-pg-migrate itself, as a developer would run it. */
function pgmOk(databaseUrl: string, args: string, dir = PGM_DIR): void {
    const r = spawnSync("/bin/sh", ["-c", pgm(args, dir)], { cwd: ROOT, env: { ...process.env, DATABASE_URL: databaseUrl }, encoding: "utf8" });
    assert.equal(r.status, 0, r.stdout + r.stderr);
}

// A 004 whose down step forgets the index its up step creates. The up names
// no index, so PostgreSQL names it (notifications_user_id_idx), and the
// second upgrade adds another (…_idx1) instead of failing: the schema after
// the round trip has an index more than after the first upgrade.
const FORGETFUL_004 = `-- Up Migration
ALTER TABLE notifications ADD COLUMN channel text;
CREATE INDEX ON notifications (user_id);

-- Down Migration
ALTER TABLE notifications DROP COLUMN channel;
`;

describe("command mode with node-pg-migrate (demo/routine-pgm), real PostgreSQL", function () {
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    const lines: string[] = [];
    const log = (line: string) => lines.push(line);
    beforeEach(async () => {
        db = await freshDatabase("pgm");
        lines.length = 0;
    });
    afterEach(async () => {
        await db?.drop();
    });

    const settings = (extra: Partial<Parameters<typeof rehearseCommand>[0]> = {}) => ({
        databaseUrl: db.url,
        command: pgm("up"),
        downCommand: pgm("down"),
        head: HEAD,
        revision: PGMIGRATIONS,
        cwd: ROOT,
        log,
        ...extra,
    });
    const snapshotOf = async (url: string) => (await takeSnapshot({ databaseUrl: url, outDir: fs.mkdtempSync(path.join(os.tmpdir(), "gh-snapshots-")), label: "r" })).file;
    const scratchCopies = async () => sql(db.url, "SELECT datname FROM pg_database WHERE datname LIKE '%rehearsal%'");

    it("migrates an empty database to the routine schema: checks/routine.schema.yaml holds, and it is the runner's schema exactly", async () => {
        const report = await runCommandMigration(settings({ urlScheme: "postgresql+psycopg" }));
        assert.equal(report.before, undefined);
        assert.deepEqual(report.after, [HEAD]);
        assert.deepEqual((await verifySchema(db.url, readExpectations(path.join(ROOT, "checks/routine.schema.yaml")))).missing, []);

        // demo/routine-migrations (runner mode) makes the same schema, tracking tables aside.
        const runnerDb = await freshDatabase("pgm_runner");
        try {
            await migrateUp({ databaseUrl: runnerDb.url, dir: path.join(ROOT, "demo", "routine-migrations") });
            const dump = (url: string) => dumpSchema(url, ["--exclude-table=pgmigrations*", "--exclude-table=gatehouse_migrations*"]);
            assert.equal(firstDifference(await dump(runnerDb.url), await dump(db.url)), undefined);
        } finally {
            await runnerDb.drop();
        }
    });

    it("reads the revision from pgmigrations: the last applied migration, by id", async () => {
        assert.deepEqual(await readRevisionState(db.url, PGMIGRATIONS), { current: undefined });
        pgmOk(db.url, "up 1");
        pgmOk(db.url, "up");
        // Both later migrations ran in one transaction: the same run_on, told apart by id.
        const runOn = await sql(db.url, "SELECT DISTINCT run_on FROM pgmigrations WHERE id > 1");
        assert.equal(runOn.length, 1);
        assert.deepEqual(await readRevisionState(db.url, PGMIGRATIONS), { current: [HEAD], applied: NAMES });
        pgmOk(db.url, "down");
        assert.deepEqual(await readRevision(db.url, PGMIGRATIONS), [NAMES[1]]);
        pgmOk(db.url, "down 2");
        assert.deepEqual(await readRevisionState(db.url, PGMIGRATIONS), { current: [], applied: [] });

        const cli = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "scripts/migration-revision.ts", "current", "--revision-table", "pgmigrations", "--revision-column", "name"], {
            cwd: ROOT,
            env: { ...process.env, DATABASE_URL: db.url },
            encoding: "utf8",
        });
        assert.equal(cli.status, 0, cli.stderr);
        assert.equal(cli.stdout, "revision (pgmigrations.name): none (pgmigrations is empty: at base)\n");
    });

    it("the round trip passes for the good migrations, on a scratch copy, the real database untouched", async () => {
        pgmOk(db.url, "up 1");
        await rehearseCommand({ ...settings({ urlScheme: "postgresql+psycopg" }), snapshot: await snapshotOf(db.url) });
        assert.ok(lines.includes(`rehearsal: the migration command brings a copy of the release snapshot to ${HEAD}`), lines.join("\n"));
        const progress = lines.filter((l) => l.startsWith("round trip ["));
        assert.deepEqual(
            progress.map((l) => l.replace(/^round trip \[\d+\.\d s\]: /, "").replace(/\(\d+ lines\)/, "(N lines)")),
            [
                `schema after the upgrade dumped (N lines); one step down: ${pgm("down")}`,
                `one step back, at ${NAMES[1]}; upgrading again: ${pgm("up")}`,
                `at ${HEAD} again; schema dumped (N lines), comparing`,
                "passed: the schema after the round trip is the same as after the first upgrade",
            ],
        );
        assert.ok(lines.includes(`down step checked: pgmigrations.name went back exactly one step, from ${HEAD} to ${NAMES[1]}`));
        assert.deepEqual(await readRevisionState(db.url, PGMIGRATIONS), { current: [NAMES[0]], applied: [NAMES[0]] }, "the real database is untouched");
        assert.deepEqual(await scratchCopies(), []);
    });

    it("the round trip catches a down step that forgets an index, naming the first differing lines; the real database is untouched", async () => {
        const dir = pgmDirWith({ "004_notification_channel.sql": FORGETFUL_004 });
        pgmOk(db.url, "up 3", dir);
        const before = await dumpSchema(db.url);
        await assert.rejects(
            rehearseCommand({ ...settings({ command: pgm("up", dir), downCommand: pgm("down", dir), head: "004_notification_channel" }), snapshot: await snapshotOf(db.url) }),
            (err: any) => {
                assert.match(err.message, /^rehearsal failed on a copy of the release snapshot, the real database was not touched: /);
                assert.match(err.message, /the round trip \(upgrade, .* down .*, upgrade\) leaves the schema different from the schema after the first upgrade, so the down step of 004_notification_channel does not undo exactly what its upgrade does \(pg_dump --schema-only, first difference at line \d+\):/);
                assert.match(err.message, /after the first upgrade:\n    \(nothing\)\n  after the round trip:\n    -- Name: notifications_user_id_idx1; Type: INDEX;.*\n    CREATE INDEX notifications_user_id_idx1 ON public\.notifications USING btree \(user_id\);/);
                return true;
            },
        );
        assert.deepEqual(await readRevision(db.url, PGMIGRATIONS), [HEAD]);
        assert.equal(firstDifference(before, await dumpSchema(db.url)), undefined, "the real database's schema is unchanged");
        assert.deepEqual(await scratchCopies(), []);
    });

    it("the AWS runner's comparison from the catalog (migration-revision schema-save, schema-compare) catches the forgetful down step and passes a good one", async () => {
        // As the AWS rehearsal's tasks run them on the scratch copy: the app's tool up, the runner saves,
        // the app's tool down and up again, the runner compares. No pg_dump in between.
        const revisionCli = (action: string) =>
            spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "scripts/migration-revision.ts", action], { cwd: ROOT, env: { ...process.env, DATABASE_URL: db.url }, encoding: "utf8" });
        const roundTrip = (dir: string) => {
            pgmOk(db.url, "up", dir);
            const saved = revisionCli("schema-save");
            assert.equal(saved.status, 0, saved.stdout + saved.stderr);
            assert.match(saved.stdout, /schema after the upgrade described from the catalog \(\d+ lines\) and kept in public\.gatehouse_rehearsal_schema/);
            pgmOk(db.url, "down", dir);
            pgmOk(db.url, "up", dir);
            return revisionCli("schema-compare");
        };
        const forgetful = pgmDirWith({ "004_notification_channel.sql": FORGETFUL_004 });
        const caught = roundTrip(forgetful);
        assert.equal(caught.status, 1, caught.stdout + caught.stderr);
        assert.match(caught.stderr, /the round trip \(upgrade, one step down, upgrade\) leaves the schema different .*\(the catalog's description, first difference at line \d+\):/);
        assert.match(caught.stderr, /after the round trip:\n    index public\.notifications_user_id_idx1 CREATE INDEX notifications_user_id_idx1 ON public\.notifications USING btree \(user_id\)/);
        assert.ok(!caught.stderr.includes("    at "), "no stack trace");

        const good = pgmDirWith({ "004_notification_channel.sql": FORGETFUL_004.replace("CREATE INDEX ON", "CREATE INDEX ix_notifications_user ON").replace("DROP COLUMN channel;", "DROP COLUMN channel;\nDROP INDEX ix_notifications_user;") });
        const fresh = await freshDatabase("pgm_catalog");
        try {
            pgmOk(fresh.url, "up", good);
            const save = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "scripts/migration-revision.ts", "schema-save", "--database-url", fresh.url], { cwd: ROOT, encoding: "utf8" });
            assert.equal(save.status, 0, save.stderr);
            pgmOk(fresh.url, "down", good);
            pgmOk(fresh.url, "up", good);
            const passed = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "scripts/migration-revision.ts", "schema-compare", "--database-url", fresh.url], { cwd: ROOT, encoding: "utf8" });
            assert.equal(passed.status, 0, passed.stdout + passed.stderr);
            assert.match(passed.stdout, /round trip passed: the schema \(\d+ lines from the catalog\) is the same as after the first upgrade/);
        } finally {
            await fresh.drop();
        }
        // Nothing saved: the comparison refuses rather than passing.
        const unsaved = await freshDatabase("pgm_unsaved");
        try {
            const r = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "scripts/migration-revision.ts", "schema-compare", "--database-url", unsaved.url], { cwd: ROOT, encoding: "utf8" });
            assert.equal(r.status, 1);
            assert.match(r.stderr, /no schema was saved in this database/);
        } finally {
            await unsaved.drop();
        }
    });

    it("a down command that does not move the revision back, or moves it two steps, is caught", async () => {
        pgmOk(db.url, "up 2");
        const snapshot = await snapshotOf(db.url);
        await assert.rejects(
            rehearseCommand({ ...settings({ downCommand: "true" }), snapshot }),
            /the real database was not touched: `true` exited 0 but did not move the revision back: it is still 003_workout_plans; one step back from 003_workout_plans is 002_add_operability_fields\. migrationDownCommand must revert exactly one revision/,
        );
        await assert.rejects(
            rehearseCommand({ ...settings({ downCommand: pgm("down 2") }), snapshot }),
            /`.*down 2 .*` exited 0 but left pgmigrations\.name at 001_initial_persistence_schema; one step back from 003_workout_plans is 002_add_operability_fields/,
        );
        await assert.rejects(rehearseCommand({ ...settings({ downCommand: "echo no such step >&2; exit 3" }), snapshot }), /`echo no such step >&2; exit 3` exited with 3; pgmigrations\.name is 003_workout_plans: no such step/);
        assert.deepEqual(await readRevision(db.url, PGMIGRATIONS), [NAMES[1]]);
    });

    it("names where two dumps first differ, and finds none in equal dumps", () => {
        assert.equal(firstDifference(["a", "b"], ["a", "b"]), undefined);
        assert.equal(firstDifference(["a", "b", "c", "d"], ["a", "x", "", "c", "d"]), "first difference at line 2):\n  after the first upgrade:\n    b\n  after the round trip:\n    x");
        assert.equal(firstDifference(["a"], ["a", "b"]), "first difference at line 2):\n  after the first upgrade:\n    (nothing)\n  after the round trip:\n    b");
    });

    it("the pipeline passes --down-command to the rehearsal (and the migration step, which ignores it)", () => {
        const flags = commandMigrationFlags({
            command: pgm("up"),
            head: HEAD,
            historyCommand: "",
            downCommand: pgm("down"),
            revision: PGMIGRATIONS,
            databaseUrl: { env: "DATABASE_URL", scheme: "postgres" },
        });
        assert.deepEqual(flags.slice(4, 6), ["--down-command", pgm("down")]);
        assert.ok(!commandMigrationFlags({ command: "c", head: "h", historyCommand: "", revision: PGMIGRATIONS, databaseUrl: { env: "D", scheme: "postgres" } }).includes("--down-command"));
    });

    describe("through the rehearse CLI and the whole program", function () {
        this.timeout(180_000);

        it("npm run rehearse: exit 1 on the forgetful down step, exit 0 on the good migrations", async () => {
            const dir = pgmDirWith({ "004_notification_channel.sql": FORGETFUL_004 });
            pgmOk(db.url, "up");
            const snapshot = await snapshotOf(db.url);
            const rehearse = (args: string[]) =>
                spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "scripts/rehearse.ts", "--snapshot", snapshot, ...args], {
                    cwd: ROOT,
                    env: { ...process.env, DATABASE_URL: db.url },
                    encoding: "utf8",
                });
            const flags = (d: string, head: string) =>
                commandMigrationFlags({ command: pgm("up", d), downCommand: pgm("down", d), head, historyCommand: "", revision: PGMIGRATIONS, databaseUrl: { env: "DATABASE_URL", scheme: "postgres" } });
            const bad = rehearse(flags(dir, "004_notification_channel"));
            assert.equal(bad.status, 1, bad.stdout + bad.stderr);
            assert.match(bad.stderr, /^rehearse: rehearsal failed on a copy of the release snapshot, the real database was not touched: .*leaves the schema different/);
            assert.ok(!bad.stderr.includes("    at "), "no stack trace");
            assert.match(bad.stdout, /round trip \[\d+\.\d s\]: one step back, at 003_workout_plans/);
            fs.rmSync(path.join(dir, "004_notification_channel.sql"));
            fs.writeFileSync(path.join(dir, "004_notification_channel.sql"), FORGETFUL_004.replace("CREATE INDEX ON", "CREATE INDEX ix_notifications_user ON").replace("DROP COLUMN channel;", "DROP COLUMN channel;\nDROP INDEX ix_notifications_user;"));
            const good = rehearse(flags(dir, "004_notification_channel"));
            assert.equal(good.status, 0, good.stdout + good.stderr);
            assert.match(good.stdout, /round trip \[\d+\.\d s\]: passed/);
            assert.deepEqual(await readRevision(db.url, PGMIGRATIONS), [HEAD]);
        });

        it("a release whose 004 forgets its index in the down step stops at the rehearsal: nothing after it runs, the real database is unchanged", async () => {
            const dir = pgmDirWith({ "004_notification_channel.sql": FORGETFUL_004 });
            pgmOk(db.url, "up 3", dir);
            const before = await dumpSchema(db.url);
            const stackName = `local-test-${crypto.randomBytes(3).toString("hex")}`;
            const executed: Executed[] = [];
            const port = await freeStackPorts();
            try {
                await assert.rejects(
                    runStack("local", {
                        stackName,
                        answer: executingAnswer(executed, new EngineState()),
                        set: {
                            release: "r2",
                            localAppPort: port,
                            bakeSeconds: 1,
                            migrationMode: "command",
                            migrationCommand: pgm("up", dir),
                            migrationDownCommand: pgm("down", dir),
                            migrationHead: "004_notification_channel",
                            migrationRevisionTable: "pgmigrations",
                            migrationRevisionColumn: "name",
                            schemaExpectations: "checks/routine.schema.yaml",
                        },
                        secrets: { localDatabaseUrl: db.url },
                    }),
                    /rehearsal failed on a copy of the release snapshot, the real database was not touched: .*the round trip .* leaves the schema different.*notifications_user_id_idx1/s,
                );
                const names = executed.map((e) => e.name);
                assert.deepEqual(names.filter((n) => n.startsWith("kifu-release-")), ["kifu-release-snapshot", "kifu-release-rehearsal"], names.join(", "));
                for (const step of ["migrate", "verify-schema", "deploy", "gate", "promote"]) {
                    assert.ok(!names.some((n) => n.endsWith(`-${step}`)), `${step} ran after the failed rehearsal: ${names.join(", ")}`);
                }
                assert.deepEqual(await readRevision(db.url, PGMIGRATIONS), [HEAD]);
                assert.equal(firstDifference(before, await dumpSchema(db.url)), undefined, "the real database's schema is unchanged");
            } finally {
                const stop = gatehouseCli("local-app", ["stop", "--state-dir", `.gatehouse/${stackName}`, "--port", String(port)]);
                execFileSync("/bin/sh", ["-c", stop], { cwd: REPO_ROOT, stdio: "ignore" });
                fs.rmSync(path.join(REPO_ROOT, ".gatehouse", stackName), { recursive: true, force: true });
            }
        });
    });
});

describe("the round trip with alembic (a state table: the step back comes from the history)", function () {
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    before(function () {
        alembicOrSkip(this);
    });
    afterEach(async () => {
        await db?.drop();
    });

    it("passes with downgrade -1 and the history; without a history command it cannot tell one step and says so", async () => {
        db = await freshDatabase("alembic_rt");
        const project = alembicProject();
        const common = { databaseUrl: db.url, command: project.alembic("upgrade head"), head: "002_add_operability_fields", urlScheme: "postgresql+psycopg2" };
        const lines: string[] = [];
        // From an empty database: both revisions are pending; one step back from 002 is its parent 001.
        await rehearseCommand({ ...common, snapshot: await snapshot(db.url), historyCommand: project.alembic("history"), downCommand: project.alembic("downgrade -1"), log: (l) => lines.push(l) });
        assert.ok(lines.includes("down step checked: alembic_version.version_num went back exactly one step, from 002_add_operability_fields to 001_initial_persistence_schema"), lines.join("\n"));
        assert.ok(lines.some((l) => /^round trip \[\d+\.\d s\]: passed/.test(l)));

        await runCommandMigration(common);
        await assert.rejects(revertOneStep({ ...common, downCommand: project.alembic("downgrade -1") }), (err: any) => {
            assert.ok(err instanceof MigrationRevisionError);
            assert.match(err.message, /cannot check that `.*downgrade -1` goes back exactly one step: alembic_version holds only the current revision, and without migrationHistoryCommand the revision before 002_add_operability_fields is unknown/);
            return true;
        });
        assert.deepEqual(await readRevision(db.url, { table: "alembic_version", column: "version_num" }), ["002_add_operability_fields"], "nothing ran");
    });

    const snapshot = async (url: string) => (await takeSnapshot({ databaseUrl: url, outDir: fs.mkdtempSync(path.join(os.tmpdir(), "gh-snapshots-")), label: "r" })).file;
});
