import { strict as assert } from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { filesManifest, readMigrationDir } from "../components/release/migrationFiles";
import { migrateUp } from "../components/release/runner";
import { revertOneStep, runCommandMigration } from "../components/release/revision";
import { readExpectations, verifySchema } from "../components/release/verify";
import { runStack } from "./harness/program";
import { REPO_ROOT } from "./harness/stackConfig";
import { freshDatabase, sql } from "./helpers/postgres";
import { RealApps, inRoutineRoot, realApps, unmountRoutine } from "./helpers/realApps";

// Gatehouse against the two real apps, built and run outside this repository
// (scripts/real-apps.sh; tests/helpers/realApps.ts says what it names). Where
// they are not named, every test here is skipped, saying why and how.
const apps = realApps();
const describeReal = "missing" in apps ? describe.skip : describe;
if ("missing" in apps) {
    describe("the real apps", () => {
        it(`are skipped: ${apps.missing}`, function () {
            this.skip();
        });
    });
}
const real = apps as RealApps;

describeReal("kifu, the real app: its own migrations as the prod stack applies them", function () {
    this.timeout(300_000);
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    before(async () => {
        db = await freshDatabase("real_kifu_mig");
    });
    after(async () => db?.drop());

    it("the prod stack's plan lists the app's files above the baseline with their sha256, and its runner tasks carry their manifest", async () => {
        const files = readMigrationDir(real.kifu.migrations);
        const run = await runStack("prod", { set: { migrationsDir: real.kifu.migrations } });
        const plan: string = run.outputs.releasePlan;
        const released = files.filter((f) => f.version > "019");
        assert.ok(released.length >= 3, `the app has files above 019: ${released.map((f) => f.file)}`);
        for (const f of released) assert.match(plan, new RegExp(`  ${f.file.replace(/\./g, "\\.")}  sha256 ${f.sha256.slice(0, 16)}\\n`));
        for (const f of files.filter((f) => f.version <= "019")) assert.ok(!plan.includes(f.file), `${f.file} is baselined, not released`);
        const tasks = run.ofType("pulumi-nodejs:dynamic/gatehouse:OneOffTask").filter((t) => t.name.startsWith("kifu-migration-"));
        assert.equal(tasks.length, files.length);
        const last = files[files.length - 1];
        const task = tasks.find((t) => t.name === `kifu-migration-${last.version}-${last.name}`)!;
        assert.deepEqual(task.inputs.command.slice(3), ["up", "--dir", "app-migrations", "--baseline", "019", "--through-file", last.file, "--manifest", filesManifest(files, "019", last.file)]);
    });

    it("a database that ran 001-015 by hand: the runner applies the rest in order from the app's files, and the schema expectations hold", async () => {
        const files = readMigrationDir(real.kifu.migrations);
        // The history before Gatehouse: psql -f, file by file, in name order (the checklist's way).
        for (const f of files.filter((f) => f.version <= "019")) execFileSync("psql", [db.url, "-q", "-v", "ON_ERROR_STOP=1", "-f", f.path], { stdio: "pipe" });
        const result = await migrateUp({ databaseUrl: db.url, dir: real.kifu.migrations, baseline: "019", release: "real-1", expectedManifest: filesManifest(files, "019") });
        assert.deepEqual(result.applied.map((a) => a.file), files.filter((f) => f.version > "019").map((f) => f.file));
        const verified = await verifySchema(db.url, readExpectations(path.join(REPO_ROOT, "checks", "kifu.schema.yaml")));
        assert.deepEqual(verified.missing, []);
        const tracked = await sql(db.url, "SELECT name, baseline FROM gatehouse_migrations WHERE NOT baseline ORDER BY 1");
        assert.equal(tracked.length, result.applied.length);
        assert.ok(fs.existsSync(real.kifu.backendBin));
    });
});

describeReal("routine, the real app: its own alembic migrations in command mode", function () {
    this.timeout(300_000);
    const ALEMBIC = "python3 -m alembic -c apps/backend/alembic.ini";
    const DEVELOP_HEAD = "005_god33_weight_columns_float";
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    beforeEach(async () => {
        db = await freshDatabase("real_routine_mig");
    });
    afterEach(async () => db?.drop());
    after(() => unmountRoutine(real.routine.pythonRoot, [real.routine.develop, real.routine.main]));

    const migration = (checkout: string, head: string) => ({
        databaseUrl: db.url,
        command: inRoutineRoot(real.routine.pythonRoot, checkout, `${ALEMBIC} upgrade head`),
        historyCommand: inRoutineRoot(real.routine.pythonRoot, checkout, `${ALEMBIC} history`),
        head,
        urlScheme: "postgresql+psycopg",
    });
    const schema = () => execFileSync("pg_dump", ["--schema-only", "--no-owner", db.url], { encoding: "utf8" }).replace(/^\\(un)?restrict .*$/gm, "");

    it("develop: history checked, upgraded to its head as read back from alembic_version, the schema expectations hold, and the round trip leaves the same schema", async () => {
        const report = await runCommandMigration(migration(real.routine.develop, DEVELOP_HEAD));
        assert.deepEqual(report.before, undefined);
        assert.deepEqual(report.after, [DEVELOP_HEAD]);
        assert.equal(report.history?.chain[report.history.chain.length - 1], DEVELOP_HEAD);
        assert.deepEqual((await verifySchema(db.url, readExpectations(path.join(REPO_ROOT, "checks", "routine.schema.yaml")))).missing, []);
        const migrated = schema();
        const back = await revertOneStep({ ...migration(real.routine.develop, DEVELOP_HEAD), downCommand: inRoutineRoot(real.routine.pythonRoot, real.routine.develop, `${ALEMBIC} downgrade -1`) });
        assert.deepEqual(back, ["004_add_summary_aggregates"]);
        await runCommandMigration(migration(real.routine.develop, DEVELOP_HEAD));
        assert.equal(schema(), migrated, "upgrade, downgrade -1, upgrade: the same schema");
    });

    it("a stale migrationHead (main's 002 against develop's scripts) stops before the migration runs, naming both", async () => {
        await assert.rejects(runCommandMigration(migration(real.routine.develop, "002_add_operability_fields")), (err: Error) => {
            assert.match(err.message, new RegExp(`the release's history ends at ${DEVELOP_HEAD} but migrationHead is 002_add_operability_fields`));
            assert.match(err.message, /the migration did not run/);
            return true;
        });
        assert.deepEqual(await sql(db.url, "SELECT to_regclass('alembic_version') AS t"), [{ t: null }], "nothing ran");
    });

    it("main: upgraded to its own head 002 with its own scripts", async () => {
        const report = await runCommandMigration(migration(real.routine.main, "002_add_operability_fields"));
        assert.deepEqual(report.after, ["002_add_operability_fields"]);
        assert.deepEqual((await verifySchema(db.url, readExpectations(path.join(REPO_ROOT, "checks", "routine.schema.yaml")))).missing, []);
    });
});
