import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { databaseUrlForApp } from "../components/config/databaseUrl";
import { rehearseCommand } from "../components/release/rehearsal";
import { MigrationRevisionError, RevisionReader, checkHistory, commandEnv, parseHistory, readRevision, runCommandMigration } from "../components/release/revision";
import { takeSnapshot } from "../components/release/snapshot";
import { readExpectations, verifySchema } from "../components/release/verify";
import { alembicOrSkip, alembicProject } from "./helpers/alembic";
import { freshDatabase, sql } from "./helpers/postgres";

const ROOT = path.join(__dirname, "..");
const HEAD = "002_add_operability_fields";
const FIRST = "001_initial_persistence_schema";
// Debian's SQLAlchemy 1.4 with psycopg2; the second app's own is postgresql+psycopg (psycopg 3).
const SCHEME = "postgresql+psycopg2";
const ALEMBIC = { table: "alembic_version", column: "version_num" };

describe("database URLs in the app's form", () => {
    it("changes only the scheme: user, password, host, database and query stay", () => {
        assert.equal(databaseUrlForApp("postgres://app:p%40ss@db.internal:5432/routine?sslmode=require", "postgresql+psycopg"), "postgresql+psycopg://app:p%40ss@db.internal:5432/routine?sslmode=require");
        assert.equal(databaseUrlForApp("postgresql://u@h/d", "postgres"), "postgres://u@h/d");
        assert.equal(databaseUrlForApp("postgresql+psycopg2://u@h/d", "postgresql+psycopg"), "postgresql+psycopg://u@h/d");
    });

    it("refuses what is not a PostgreSQL URL without printing its password", () => {
        assert.throws(() => databaseUrlForApp("mysql://root:hunter2@h/d", "postgresql+psycopg"), (err: any) => {
            assert.match(err.message, /not a PostgreSQL URL/);
            assert.ok(!err.message.includes("hunter2"));
            return true;
        });
    });

    it("the migration tool gets the URL only under the app's own name and in its form", () => {
        const env = commandEnv("postgres://u:pw@h:5432/d", "APP_DB", "postgresql+psycopg", { DATABASE_URL: "postgres://gatehouse-own", PATH: "/bin" });
        assert.deepEqual(env, { APP_DB: "postgresql+psycopg://u:pw@h:5432/d", PATH: "/bin" });
    });
});

describe("alembic history: parsing and continuity", () => {
    const linear = `${FIRST} -> ${HEAD} (head), add operability fields\n<base> -> ${FIRST}, initial persistence schema\n`;

    it("reads alembic's history lines, merges and branch points included", () => {
        assert.deepEqual(parseHistory(linear), [
            { revision: HEAD, parents: [FIRST] },
            { revision: FIRST, parents: [] },
        ]);
        assert.deepEqual(parseHistory("a1, b1 -> c1 (head) (mergepoint), merge\n0 -> a1, x\n0 -> b1, y\n<base> -> 0 (branchpoint), base\n")[0], { revision: "c1", parents: ["a1", "b1"] });
    });

    it("gives the chain from base to head and what is pending for the database", () => {
        assert.deepEqual(checkHistory(parseHistory(linear), undefined, HEAD), { chain: [FIRST, HEAD], pending: [FIRST, HEAD] });
        assert.deepEqual(checkHistory(parseHistory(linear), [FIRST], HEAD), { chain: [FIRST, HEAD], pending: [HEAD] });
        assert.deepEqual(checkHistory(parseHistory(linear), [HEAD], HEAD).pending, []);
    });

    it("names every break: a missing parent, two heads, another head, a database revision the history lacks", () => {
        assert.throws(() => checkHistory(parseHistory(`${FIRST} -> ${HEAD} (head), x\n`), undefined, HEAD), /not continuous: 002_add_operability_fields revises 001_initial_persistence_schema, which the history does not contain/);
        assert.throws(() => checkHistory(parseHistory(`<base> -> a (head), x\n<base> -> b (head), y\n`), undefined, "a"), /the history has 2 heads \(a, b\); merge them/);
        assert.throws(() => checkHistory(parseHistory(linear), undefined, "003_new"), /history ends at 002_add_operability_fields but migrationHead is 003_new/);
        assert.throws(() => checkHistory(parseHistory(linear), ["009_future"], HEAD), /the database is at 009_future, which the release's history does not contain/);
        assert.throws(() => parseHistory("nothing here\n"), /printed no revision/);
    });
});

describe("command-mode migrations with a real alembic project (real PostgreSQL)", function () {
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    let project: ReturnType<typeof alembicProject>;
    before(function () {
        alembicOrSkip(this);
    });
    beforeEach(async () => {
        db = await freshDatabase("alembic");
        project = alembicProject();
    });
    afterEach(async () => {
        await db?.drop();
    });
    const lines: string[] = [];
    const log = (line: string) => lines.push(line);
    beforeEach(() => (lines.length = 0));

    /** alembic itself, with the URL passed as the app would get it. */
    const upgradeTo = (revision: string) => spawnOk(`export DATABASE_URL='${databaseUrlForApp(db.url, SCHEME)}'; ${project.alembic(`upgrade ${revision}`)}`);
    const migrate = (extra: Partial<Parameters<typeof runCommandMigration>[0]> = {}) =>
        runCommandMigration({
            databaseUrl: db.url,
            command: project.alembic("upgrade head"),
            historyCommand: project.alembic("history"),
            head: HEAD,
            urlScheme: SCHEME,
            log,
            ...extra,
        });

    it("migrates with the URL in the app's form, records the revision before and the history, and proves the head from the database", async () => {
        const report = await migrate();
        assert.equal(report.before, undefined);
        assert.deepEqual(report.after, [HEAD]);
        assert.deepEqual(report.history, { chain: [FIRST, HEAD], pending: [FIRST, HEAD] });
        assert.deepEqual(await readRevision(db.url, ALEMBIC), [HEAD]);
        assert.equal(lines[0], "revision before (alembic_version.version_num): none (no alembic_version table: the tool never migrated this database)");
        assert.ok(lines.includes(`history (${project.alembic("history")}): <base> -> ${FIRST} -> ${HEAD} (head), continuous`), lines.join("\n"));
        assert.ok(lines.includes(`revision after (alembic_version.version_num): ${HEAD}`));
        assert.equal(lines[lines.length - 1], `revision check passed: the database is at the expected head ${HEAD}`);
        assert.ok(!fs.existsSync(project.fallbackFile), "nothing went to the SQLite fallback");
        // The second app's checklist checks hold on the schema its (stand-in) alembic revisions make.
        assert.deepEqual((await verifySchema(db.url, readExpectations(path.join(ROOT, "checks/routine.schema.yaml")))).missing, []);
    });

    it("from a database at 001: pending is only 002, and a second run changes nothing and passes", async () => {
        upgradeTo(FIRST);
        const report = await migrate();
        assert.deepEqual(report.before, [FIRST]);
        assert.deepEqual(report.history?.pending, [HEAD]);
        const again = await migrate();
        assert.deepEqual([again.before, again.after, again.history?.pending], [[HEAD], [HEAD], []]);
    });

    it("given Gatehouse's postgres:// form, alembic stops with NoSuchModuleError and the release fails", async () => {
        await assert.rejects(migrate({ urlScheme: "postgres" }), (err: any) => {
            assert.ok(err instanceof MigrationRevisionError);
            assert.match(err.message, /exited with 1; the database is at none \(no alembic_version table.*\(expected 002_add_operability_fields\)/s);
            assert.match(err.message, /NoSuchModuleError: Can't load plugin: sqlalchemy\.dialects:postgres/);
            return true;
        });
    });

    it("the SQLite-fallback trap: a command that does not get the URL exits 0, and the release fails because the target database is not at head", async () => {
        // The tool reads DATABASE_URL; the stack passes the URL under another name: env.py falls back to SQLite.
        await assert.rejects(migrate({ urlEnv: "ROUTINE_DATABASE_URL" }), (err: any) => {
            assert.ok(err instanceof MigrationRevisionError);
            assert.match(err.message, /exited 0, but alembic_version\.version_num in the target database is none \(no alembic_version table.*\), not the expected head 002_add_operability_fields: the command did not migrate this database\. Does the tool read its URL from ROUTINE_DATABASE_URL\?/);
            return true;
        });
        assert.ok(fs.existsSync(project.fallbackFile), "alembic migrated the SQLite fallback instead, and exited 0");
        assert.equal(await readRevision(db.url, ALEMBIC), undefined, "the target database was never touched");
    });

    it("the same trap from a database at 001: the command drops the URL itself and exits 0; the database stays at 001 and the release fails", async () => {
        upgradeTo(FIRST);
        await assert.rejects(migrate({ command: `unset DATABASE_URL; ${project.alembic("upgrade head")}` }), /exited 0, but alembic_version\.version_num in the target database is 001_initial_persistence_schema, not the expected head 002_add_operability_fields/);
        assert.deepEqual(await readRevision(db.url, ALEMBIC), [FIRST]);
    });

    it("without a history command, a stale migrationHead fails after the command, naming where it moved the database", async () => {
        await assert.rejects(
            migrate({ historyCommand: undefined, command: project.alembic(`upgrade ${FIRST}`) }),
            /exited 0, but alembic_version\.version_num in the target database is 001_initial_persistence_schema, not the expected head 002_add_operability_fields: the command moved it from none .*; is migrationHead the head of the code it ran\?/,
        );
    });

    it("a stale migrationHead fails on the history before the command touches anything", async () => {
        await assert.rejects(migrate({ head: "003_streak_badges" }), /the release's history ends at 002_add_operability_fields but migrationHead is 003_streak_badges.*the migration did not run/);
        assert.equal(await readRevision(db.url, ALEMBIC), undefined);
    });

    it("a history alembic cannot read (a revision's parent file is gone) fails before migrating", async () => {
        fs.rmSync(path.join(project.dir, "migrations", "versions", `${FIRST}.py`));
        await assert.rejects(migrate(), (err: any) => {
            assert.match(err.message, /^`.*alembic -c alembic\.ini history` exited with 1; the migration did not run: /);
            assert.match(err.message, /001_initial_persistence_schema/);
            return true;
        });
        assert.equal(await readRevision(db.url, ALEMBIC), undefined);
    });

    it("the rehearsal catches the fallback on a scratch copy, before the real database is touched", async () => {
        upgradeTo(FIRST);
        const outDir = fs.mkdtempSync(path.join(os.tmpdir(), "gh-snapshots-"));
        const snapshot = (await takeSnapshot({ databaseUrl: db.url, outDir, label: "r" })).file;
        const settings = { databaseUrl: db.url, snapshot, command: project.alembic("upgrade head"), historyCommand: project.alembic("history"), head: HEAD, urlScheme: SCHEME, log };
        await assert.rejects(
            rehearseCommand({ ...settings, urlEnv: "ROUTINE_DATABASE_URL" }),
            /rehearsal failed on a copy of the release snapshot, the real database was not touched: .*exited 0, but alembic_version\.version_num in the target database is 001_initial_persistence_schema, not the expected head/,
        );
        await rehearseCommand(settings);
        assert.ok(lines.includes(`rehearsal: the migration command brings a copy of the release snapshot to ${HEAD}`));
        assert.deepEqual(await readRevision(db.url, ALEMBIC), [FIRST], "the real database is untouched");
        const rehearsals = await sql(db.url, "SELECT datname FROM pg_database WHERE datname LIKE '%rehearsal%'");
        assert.deepEqual(rehearsals, [], "scratch copies are dropped");
    });

    it("the rehearsal is skipped when the database is already at the head", async () => {
        await migrate();
        lines.length = 0;
        await rehearseCommand({ databaseUrl: db.url, snapshot: "/nonexistent.dump", command: "false", head: HEAD, log });
        assert.deepEqual(lines, [`rehearsal skipped: the database is already at ${HEAD}`]);
    });

    describe("npm run migration-revision", () => {
        const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
            spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "scripts/migration-revision.ts", ...args], {
                cwd: ROOT,
                env: { ...process.env, DATABASE_URL: undefined, ...env },
                encoding: "utf8",
            });

        it("run: exit 0 with the revision before, the history and the head; current and check read the same table", () => {
            const flags = ["--database-url", db.url, "--command", project.alembic("upgrade head"), "--history-command", project.alembic("history"), "--head", HEAD, "--url-scheme", SCHEME];
            const current = cli(["current", "--database-url", db.url]);
            assert.equal(current.status, 0, current.stderr);
            assert.match(current.stdout, /revision \(alembic_version\.version_num\): none \(no alembic_version table/);
            const run = cli(["run", ...flags]);
            assert.equal(run.status, 0, run.stderr);
            assert.match(run.stdout, /revision before .*: none .*\nhistory .*: <base> -> 001_initial_persistence_schema -> 002_add_operability_fields \(head\), continuous\npending for this database: 001_initial_persistence_schema -> 002_add_operability_fields\n/);
            assert.match(run.stdout, /revision check passed: the database is at the expected head 002_add_operability_fields\n$/);
            assert.equal(cli(["check", "--head", HEAD], { DATABASE_URL: db.url }).status, 0);
        });

        it("run: exit 1 naming the trap when the URL does not reach the tool; check: exit 1 off head", () => {
            const run = cli(["run", "--database-url", db.url, "--command", project.alembic("upgrade head"), "--head", HEAD, "--url-scheme", SCHEME, "--url-env", "ROUTINE_DATABASE_URL"]);
            assert.equal(run.status, 1);
            assert.match(run.stderr, /^migration-revision: `.*upgrade head` exited 0, but alembic_version\.version_num in the target database is none/);
            const check = cli(["check", "--database-url", db.url, "--head", HEAD]);
            assert.equal(check.status, 1);
            assert.match(check.stderr, /the database is not at the expected head 002_add_operability_fields/);
        });

        it("--help exits 0 with usage and an example; bad usage exits 2 and says what is missing", () => {
            const help = cli(["--help"]);
            assert.equal(help.status, 0);
            assert.match(help.stdout, /^usage: npm run migration-revision -- run/);
            assert.match(help.stdout, /Example:/);
            for (const [args, said] of [
                [[], /a command is required: run, current, check, schema-save or schema-compare/],
                [["run", "--database-url", db.url, "--head", HEAD], /--command is required for run/],
                [["check", "--database-url", db.url], /--head is required for check/],
                [["check", "--head", HEAD], /no database: pass --database-url/],
                [["current", "--database-url", db.url, "--bogus"], /Unknown option '--bogus'/],
                [["migrate"], /unknown command "migrate"/],
            ] as [string[], RegExp][]) {
                const r = cli(args);
                assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
                assert.match(r.stderr, said);
                assert.match(r.stderr, /usage: npm run migration-revision/);
            }
        });
    });
});

function spawnOk(command: string): void {
    const r = spawnSync("/bin/sh", ["-c", command], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
}

describe("the revision reader (real PostgreSQL)", () => {
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    beforeEach(async () => {
        db = await freshDatabase("reader");
    });
    afterEach(async () => {
        await db?.drop();
    });
    const readers = async () => (await sql(db.url, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'gatehouse-revision'")).map((r) => r.pid);

    it("reads over one kept connection, opens a new one after the server closed it, and holds none once closed", async () => {
        const reader = new RevisionReader(db.url, { table: "pgmigrations", column: "name" });
        assert.equal(await reader.current(), undefined, "no table yet: never migrated");
        await sql(db.url, "CREATE TABLE pgmigrations (id serial PRIMARY KEY, name text NOT NULL); INSERT INTO pgmigrations (name) VALUES ('001_a'), ('002_b')");
        assert.deepEqual(await reader.state(), { current: ["002_b"], applied: ["001_a", "002_b"] });
        assert.deepEqual(await reader.current(), ["002_b"]);
        const [pid, ...more] = await readers();
        assert.ok(pid && more.length === 0, "three reads, one connection");

        // What DROP DATABASE ... WITH (FORCE) does to it: the next read connects again.
        await sql(db.url, "SELECT pg_terminate_backend($1)", [pid]);
        await new Promise((r) => setTimeout(r, 50));
        await sql(db.url, "INSERT INTO pgmigrations (name) VALUES ('003_c')");
        assert.deepEqual(await reader.current(), ["003_c"]);
        assert.equal((await readers()).length, 1);

        await reader.close();
        assert.deepEqual(await readers(), []);
    });

    it("a run given a reader of another database refuses before running anything", async () => {
        const reader = new RevisionReader(db.url.replace(/\/[^/?]+(\?|$)/, "/postgres$1"), { table: "pgmigrations", column: "name" });
        await assert.rejects(
            runCommandMigration({ databaseUrl: db.url, command: "touch /tmp/gatehouse-must-not-run", head: "h", revision: { table: "pgmigrations", column: "name" }, reader }),
            /the revision reader reads another database or table than the one being migrated/,
        );
        assert.ok(!fs.existsSync("/tmp/gatehouse-must-not-run"));
        await reader.close();
    });
});
