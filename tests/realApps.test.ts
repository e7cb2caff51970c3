import { strict as assert } from "assert";
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { readProjectFile } from "../components/config/declarations";
import { runGate } from "../components/release/gate";
import { bindGateSpec } from "../components/release/gateBinding";
import { GateReport, formatGateReport } from "../components/release/gateReport";
import type { GateSpec } from "../components/release/gateSchema";
import { readGateSpec } from "../components/release/gateSpec";
import { filesManifest, readMigrationDir } from "../components/release/migrationFiles";
import { migrateUp } from "../components/release/runner";
import { revertOneStep, runCommandMigration } from "../components/release/revision";
import { readExpectations, verifySchema } from "../components/release/verify";
import { runStack } from "./harness/program";
import { REPO_ROOT } from "./harness/stackConfig";
import { freshDatabase, sql } from "./helpers/postgres";
import { shellQuote } from "../components/release/shell";
import { bindable } from "../components/local/embeddedPostgres";
import { Engine } from "../scripts/lib/engine";
import { EngineStack, engineOrSkip } from "./helpers/engine";
import { freeStackPorts, stopLocalStack } from "./helpers/ports";
import { RealApps, Started, inRoutineRoot, realApps, startApp, unmountRoutine } from "./helpers/realApps";

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

/** A shipped spec bound as a stack binds it (config keys it reads, the service's plain env). */
function boundSpec(file: string, config: Record<string, unknown>, env: Record<string, string>): GateSpec {
    const defaults = Object.fromEntries(Object.entries(readProjectFile().declarations).map(([key, decl]) => [key, decl.default]));
    const bound = bindGateSpec(readGateSpec(path.join(REPO_ROOT, "checks", file)), { config: { ...defaults, ...config }, env, hiddenEnv: [] });
    assert.deepEqual(bound.problems, []);
    return bound.spec;
}
const results = (report: GateReport) => Object.fromEntries(report.checks.map((c) => [c.name, c.result]));
/** What a stack file sets for a key, as the repo ships it. */
const shipped = (stack: string, key: string) => (YAML.parse(fs.readFileSync(path.join(REPO_ROOT, `Pulumi.${stack}.yaml`), "utf8")).config ?? {})[`gatehouse:${key}`];
const KIFU_ENV = { APP_ENV: "development", AI_REQUIRE_ALLOWLIST: "true" };

describeReal("kifu, the real app: the shipped gate specs against its backend and its Next.js build", function () {
    this.timeout(300_000);
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    let backend: Started;
    let frontend: Started;
    before(async () => {
        db = await freshDatabase("real_kifu_gate");
        await migrateUp({ databaseUrl: db.url, dir: real.kifu.migrations });
        const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "gh-kifu-")); // the binary reads a .env from its cwd
        backend = await startApp(
            real.kifu.backendBin,
            { ...KIFU_ENV, OUTCOME_CALC_ENABLED: "false", DATABASE_URL: `${db.url}?sslmode=disable`, JWT_SECRET: crypto.randomBytes(24).toString("base64"), KIFU_ENC_KEY: crypto.randomBytes(32).toString("base64") },
            await freeStackPorts(),
            "/health",
            cwd,
        );
        frontend = await startApp(`node_modules/.bin/next start -H 127.0.0.1`, { NODE_ENV: "production", NEXT_TELEMETRY_DISABLED: "1" }, await freeStackPorts(), "/", real.kifu.frontend);
    });
    after(async () => {
        await backend?.stop();
        await frontend?.stop();
        await db?.drop();
    });

    it("kifu.smoke.yaml passes: a new user's null arrays accepted, the declared pack defect reported as such, the checks that need a pack not run, klines not run offline", async () => {
        const spec = boundSpec("kifu.smoke.yaml", { environment: "development", target: "local", gateKnownDefects: shipped("prod", "gateKnownDefects") }, KIFU_ENV);
        const report = await runGate(backend.url, spec, { release: "real-kifu" });
        const text = formatGateReport(backend.url, report);
        assert.ok(report.passed, text);
        const r = results(report);
        assert.equal(r["trades summary"], "passed");
        assert.equal(r["generate pack"], "known defect", text);
        assert.match(text, /KNOWN DEFECT \(declared: kifu's pack service stores a nil normalization_warnings/);
        assert.match(text, /500/);
        assert.equal(r["pack by id"], "not run");
        for (const name of ["health", "register a smoke user (not in production)", "login", "me", "create bubble", "delete bubble", "ai one-shot refused by the allowlist", "import trades (run id)"]) assert.equal(r[name], "passed", `${name}:\n${text}`);
    });

    it("without the declaration, the same spec fails at the pack defect: the gate catches what it exists to catch", async () => {
        const spec = boundSpec("kifu.smoke.yaml", { environment: "development", target: "local", gateKnownDefects: [] }, KIFU_ENV);
        const report = await runGate(backend.url, spec, { release: "real-kifu" });
        assert.ok(!report.passed);
        assert.equal(results(report)["generate pack"], "failed");
    });

    it("kifu.frontend.yaml passes against the real build for its API base URL, mode and build id, and fails a stale build id", async () => {
        const env = { NEXT_PUBLIC_API_BASE_URL: real.kifu.apiBaseUrl, NEXT_PUBLIC_APP_MODE: "prod" };
        const passing = await runGate(frontend.url, boundSpec("kifu.frontend.yaml", { frontendBuildId: real.kifu.buildId }, env), { release: "real-kifu" });
        assert.ok(passing.passed, formatGateReport(frontend.url, passing));
        const stale = await runGate(frontend.url, boundSpec("kifu.frontend.yaml", { frontendBuildId: "an-earlier-build-id" }, env), { release: "real-kifu" });
        assert.ok(!stale.passed, "another build id fails");
        const demo = await runGate(frontend.url, boundSpec("kifu.frontend.yaml", { frontendBuildId: real.kifu.buildId }, { ...env, NEXT_PUBLIC_APP_MODE: "demo" }), { release: "real-kifu" });
        assert.ok(!demo.passed, "a build for another mode fails");
    });
});

describeReal("routine, the real app: the shipped smoke spec against develop and main", function () {
    this.timeout(300_000);
    const ALEMBIC = "python3 -m alembic -c apps/backend/alembic.ini";
    const started: { db: Awaited<ReturnType<typeof freshDatabase>>; app: Started }[] = [];
    const appOf = async (checkout: string, head: string) => {
        const db = await freshDatabase("real_routine_gate");
        const urlEnv = { DATABASE_URL: db.url.replace(/^postgres:/, "postgresql+psycopg:") };
        await runCommandMigration({ databaseUrl: db.url, command: inRoutineRoot(real.routine.pythonRoot, checkout, `${ALEMBIC} upgrade head`), head, urlScheme: "postgresql+psycopg" });
        const app = await startApp(inRoutineRoot(real.routine.pythonRoot, checkout, "exec python3 apps/backend/main.py"), { ...urlEnv, HOST: "127.0.0.1" }, await freeStackPorts(), "/healthz");
        started.push({ db, app });
        return { db, app };
    };
    let develop: { db: Awaited<ReturnType<typeof freshDatabase>>; app: Started };
    let main: { db: Awaited<ReturnType<typeof freshDatabase>>; app: Started };
    before(async () => {
        develop = await appOf(real.routine.develop, "005_god33_weight_columns_float");
        main = await appOf(real.routine.main, "002_add_operability_fields");
    });
    after(async () => {
        for (const s of started) {
            await s.app.stop();
            await s.db.drop();
        }
        unmountRoutine(real.routine.pythonRoot, [real.routine.develop, real.routine.main]);
    });

    it("develop, as the local stack binds it: the smoke user resolved by the app, plan generation 201/409/400/400, /readyz not run", async () => {
        const spec = boundSpec("routine.smoke.yaml", { environment: "development", target: "local", appFeatures: ["plan-generation", "auth-resolve"] }, {});
        const report = await runGate(develop.app.url, spec, { release: "real-routine" });
        const text = formatGateReport(develop.app.url, report);
        assert.ok(report.passed, text);
        assert.equal(results(report).readyz, "not run");
        assert.ok(report.checks.filter((c) => c.result === "passed").length >= 6, text);
    });

    it("develop, as routine-prod binds it: the smoke user a person made once (a secret), twice in a row (a persistent user never turns the 201 into a 409)", async () => {
        const [{ id }] = await sql(develop.db.url, "INSERT INTO users (id, kakao_user_id, name) VALUES (gen_random_uuid(), $1, 'Gatehouse smoke') RETURNING id::text AS id", [`gatehouse-smoke-${crypto.randomBytes(4).toString("hex")}`]);
        const spec = boundSpec("routine.smoke.yaml", { environment: "production", target: "aws", appFeatures: shipped("routine-prod", "appFeatures") }, {});
        for (const run of ["a", "b"]) {
            const report = await runGate(develop.app.url, spec, { release: `real-routine-${run}`, secrets: { ROUTINE_SMOKE_USER_ID: id } });
            assert.ok(report.passed, formatGateReport(develop.app.url, report));
            await new Promise((r) => setTimeout(r, 61_000 * Number(run === "a"))); // ${runDate} is unique to the minute
        }
    });

    it("main with appFeatures [] passes on /healthz and reports the rest as not run; declared as having plan generation it fails (501)", async () => {
        const none = await runGate(main.app.url, boundSpec("routine.smoke.yaml", { environment: "development", target: "local", appFeatures: [] }, {}), { release: "real-routine-main" });
        assert.ok(none.passed, formatGateReport(main.app.url, none));
        assert.equal(results(none).healthz, "passed");
        assert.ok(none.checks.filter((c) => c.name !== "healthz").every((c) => c.result === "not run" || c.result === "skipped"), formatGateReport(main.app.url, none));
        const [{ id }] = await sql(main.db.url, "INSERT INTO users (id, kakao_user_id, name) VALUES (gen_random_uuid(), 'gatehouse-smoke-main', 'Gatehouse smoke') RETURNING id::text AS id");
        const claimed = await runGate(main.app.url, boundSpec("routine.smoke.yaml", { environment: "development", target: "local", appFeatures: ["plan-generation"] }, {}), { release: "real-routine-main", secrets: { ROUTINE_SMOKE_USER_ID: id } });
        assert.ok(!claimed.passed);
        assert.match(formatGateReport(main.app.url, claimed), /status 501/);
    });
});

/** What users get from an edge now. */
async function edge(url: string): Promise<{ status: number; release: string | null; body: string }> {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, release: res.headers.get("x-gatehouse-release"), body: await res.text() };
}

describeReal("whole local releases under the real engine with the real apps in the slots", function () {
    this.timeout(900_000);
    let engine: Engine;
    const cleanups: (() => Promise<void> | void)[] = [];
    before(async function () {
        this.timeout(1_200_000);
        engine = await engineOrSkip(this);
    });
    after(async () => {
        for (const c of cleanups.reverse()) await c();
    });

    /** A local stack from a repo stack file, removed with its processes and database afterwards. */
    const stackFrom = async (from: string, set: Record<string, unknown>) => {
        const db = await freshDatabase(`real_${from.replace(/-/g, "_")}`);
        const name = `real-${from}-${crypto.randomBytes(3).toString("hex")}`;
        const stateDir = path.join(REPO_ROOT, ".gatehouse", name);
        const stack = await EngineStack.create(engine, { name, from, set, secrets: { localDatabaseUrl: db.url } });
        cleanups.push(async () => {
            stopLocalStack(path.relative(REPO_ROOT, stateDir), REPO_ROOT);
            await stack.remove();
            fs.rmSync(stateDir, { recursive: true, force: true });
            await db.drop();
        });
        return { stack, db, stateDir };
    };

    it("kifu: a database at 015 by hand as production's, the app's files above baseline 019 applied, the generated KIFU_ENC_KEY starts the real backend, both gates pass (the pack defect reported), both edges switch", async () => {
        // The frontend build inlined its API base URL: the backend's edge must be where that URL points.
        const apiPort = Number(new URL(real.kifu.apiBaseUrl).port);
        assert.ok(await bindable(apiPort), `port ${apiPort} (the build's API base URL) must be free for the backend's edge`);
        const frontendPort = await freeStackPorts();
        const { stack, db } = await stackFrom("local", {
            release: "real-1",
            localAppPort: apiPort,
            localFrontendPort: frontendPort,
            migrationsDir: real.kifu.migrations,
            migrationBaseline: "019",
            localAppCommand: real.kifu.backendBin,
            localFrontendCommand: `/bin/sh -c ${shellQuote(`cd ${shellQuote(real.kifu.frontend)} && exec node_modules/.bin/next start -H 127.0.0.1`)}`,
            frontendBuildId: real.kifu.buildId,
            gateKnownDefects: shipped("prod", "gateKnownDefects"),
            bakeSeconds: 1,
        });
        // As production's history (Pulumi.prod.yaml): 001-015 applied by hand with psql before Gatehouse tracked them.
        for (const f of readMigrationDir(real.kifu.migrations).filter((f) => f.version <= "019")) execFileSync("psql", [db.url, "-q", "-v", "ON_ERROR_STOP=1", "-f", f.path], { stdio: "pipe" });
        const r = await stack.up();
        assert.equal(r.error, undefined, `${r.error?.message}\n${r.output.slice(-4000)}`);
        const backend = await edge(`http://127.0.0.1:${apiPort}/health`);
        assert.deepEqual([backend.status, JSON.parse(backend.body), backend.release], [200, { status: "healthy" }, "real-1"]);
        assert.match(r.outputs.gateReport, /KNOWN DEFECT \(declared: kifu's pack service/);
        const page = await edge(`http://127.0.0.1:${frontendPort}/`);
        assert.equal(page.status, 200);
        assert.ok(page.body.includes(real.kifu.buildId), "the frontend edge serves the release's build");
        const applied = await sql(db.url, "SELECT name FROM gatehouse_migrations WHERE NOT baseline");
        assert.equal(applied.length, readMigrationDir(real.kifu.migrations).filter((f) => f.version > "019").length);
    });

    it("routine (develop): its own alembic through the rehearsed round trip and the revision check, the schema expectations, the real API gated and switched", async () => {
        const alembic = (args: string) => inRoutineRoot(real.routine.pythonRoot, real.routine.develop, `python3 -m alembic -c apps/backend/alembic.ini ${args}`);
        cleanups.push(() => unmountRoutine(real.routine.pythonRoot, [real.routine.develop]));
        const port = await freeStackPorts();
        const { stack, db } = await stackFrom("routine-local", {
            release: "real-1",
            localAppPort: port,
            backendRequiredEnv: ["DATABASE_URL"],
            redisEnabled: false,
            workerEnabled: false,
            appFeatures: ["plan-generation", "auth-resolve"],
            migrationCommand: alembic("upgrade head"),
            migrationDownCommand: alembic("downgrade -1"),
            migrationHistoryCommand: alembic("history"),
            migrationHead: "005_god33_weight_columns_float",
            migrationRevisionTable: "alembic_version",
            migrationRevisionColumn: "version_num",
            localAppCommand: inRoutineRoot(real.routine.pythonRoot, real.routine.develop, "exec python3 apps/backend/main.py"),
            bakeSeconds: 1,
        });
        const r = await stack.up();
        assert.equal(r.error, undefined, `${r.error?.message}\n${r.output.slice(-4000)}`);
        const health = await edge(`http://127.0.0.1:${port}/healthz`);
        assert.deepEqual([health.status, JSON.parse(health.body), health.release], [200, { status: "ok" }, "real-1"]);
        assert.deepEqual(await sql(db.url, "SELECT version_num FROM alembic_version"), [{ version_num: "005_god33_weight_columns_float" }]);
        assert.match(r.output, /round trip/i);
    });
});
