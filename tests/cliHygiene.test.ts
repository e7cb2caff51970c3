import { strict as assert } from "assert";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import { ENTRY_POINTS, invocation, runEntryPoint, runEntryPointAsync } from "./helpers/entryPoints";
import { spawnSync } from "child_process";
import { adminUrl, freshDatabase, sql } from "./helpers/postgres";

// Every `npm run <cli>` as an operator meets it: --help, a wrong flag, and
// wrong, missing, malformed and hostile input. The table is the record of what
// was tried: one clear message each, the exit code (2 bad usage, 1 a failed
// operation), no stack trace, no password echoed, nothing half-written.

const PASSWORD = "s3cret-pass";
const UNREACHABLE_DB = `postgres://operator:${PASSWORD}@127.0.0.1:1/app`;
const noStackTrace = (text: string) => assert.doesNotMatch(text, /\n\s+at .+:\d+:\d+\)?\n/, `a stack trace:\n${text}`);

interface Ctx {
    tmp: string;
    /** A fresh, empty database (URL without a password: the test server trusts). */
    db: string;
    dbName: string;
    /** A loopback port nothing listens on. */
    closedPort: number;
}

interface Case {
    entry: string;
    what: string;
    args: (c: Ctx) => string[];
    status: number;
    /** What the one message (stderr, or stdout for a success) must say. */
    says: RegExp;
    env?: Record<string, string>;
    /** Nothing half-written: checked after the run. */
    after?: (c: Ctx) => Promise<void> | void;
    /** Tried, and not fixed here: why (the test is pending). */
    pending?: string;
}

/** The test database's URL with a password, naming another database. */
function withPassword(url: string, database: string): string {
    const u = new URL(url);
    u.password = PASSWORD;
    u.pathname = `/${database}`;
    return u.toString();
}

const tables = async (c: Ctx) => (await sql(c.db, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).map((r) => r.tablename);
const noTables = async (c: Ctx) => assert.deepEqual(await tables(c), [], "the database was written to");
const absent = (file: (c: Ctx) => string) => (c: Ctx) => assert.ok(!fs.existsSync(file(c)), `${file(c)} was written`);

const CASES: Case[] = [
    // migrate
    { entry: "migrate", what: "no database given", args: () => ["status", "--dir", "demo/migrations"], status: 2, says: /no database: pass --database-url <url> or set DATABASE_URL/ },
    { entry: "migrate", what: "unreachable host, password in the URL", args: () => ["status", "--dir", "demo/migrations", "--database-url", UNREACHABLE_DB], status: 1, says: /cannot use the database postgres:\/\/operator:\*\*\*@127\.0\.0\.1:1\/app .*ECONNREFUSED/ },
    { entry: "migrate", what: "malformed database URL holding a password", args: () => ["status", "--dir", "demo/migrations", "--database-url", `operator:${PASSWORD}@db`], status: 2, says: /--database-url is not a database URL of the form postgres:\/\// },
    { entry: "migrate", what: "DATABASE_URL malformed", args: () => ["status", "--dir", "demo/migrations"], env: { DATABASE_URL: "not a url" }, status: 2, says: /DATABASE_URL is not a database URL/ },
    { entry: "migrate", what: "a database that does not exist", args: (c) => ["status", "--dir", "demo/migrations", "--database-url", withPassword(c.db, "gh_no_such_db")], status: 1, says: /cannot use the database .*gh_no_such_db.*does not exist/ },
    { entry: "migrate", what: "missing migrations directory", args: (c) => ["up", "--dir", "no/such/dir", "--database-url", c.db], status: 1, says: /no\/such\/dir/, after: noTables },
    { entry: "migrate", what: "unknown command", args: () => ["frobnicate"], status: 2, says: /unknown command "frobnicate"/ },
    { entry: "migrate", what: "--baseline not a version", args: (c) => ["up", "--dir", path.join(c.tmp, "mig"), "--baseline", "abc", "--database-url", c.db], status: 2, says: /--baseline must be a version prefix such as 019, got "abc"/, after: noTables },
    { entry: "migrate", what: "--through not a version", args: (c) => ["up", "--dir", path.join(c.tmp, "mig"), "--through", "1; drop", "--database-url", c.db], status: 2, says: /--through must be a version prefix/, after: noTables },
    { entry: "migrate", what: "--release with quotes", args: (c) => ["up", "--dir", path.join(c.tmp, "mig"), "--release", "r1'; drop table x; --", "--database-url", c.db], status: 2, says: /--release "r1'; drop table x; --" must be letters, digits/, after: noTables },
    { entry: "migrate", what: "--through-file with path separators", args: (c) => ["up", "--dir", path.join(c.tmp, "mig"), "--through-file", "../../etc/passwd", "--database-url", c.db], status: 1, says: /--through-file \.\.\/\.\.\/etc\/passwd: no migration file of that name/, after: noTables },
    { entry: "migrate", what: "verify: missing expectations file", args: (c) => ["verify", "--expect", path.join(c.tmp, "nosuch.yaml"), "--database-url", c.db], status: 1, says: /nosuch\.yaml.*no such file/ },
    { entry: "migrate", what: "verify: bad YAML", args: (c) => ["verify", "--expect", path.join(c.tmp, "bad.yaml"), "--database-url", c.db], status: 1, says: /bad\.yaml: .*line 2/ },
    { entry: "migrate", what: "verify: unknown key", args: (c) => ["verify", "--expect", path.join(c.tmp, "expect-unknown.yaml"), "--database-url", c.db], status: 1, says: /expect-unknown\.yaml: not a valid schema expectations file:\n.*Unrecognized key: "tablez"/ },
    { entry: "migrate", what: "verify: wrong type", args: (c) => ["verify", "--expect", path.join(c.tmp, "expect-type.yaml"), "--database-url", c.db], status: 1, says: /expect-type\.yaml: not a valid schema expectations file:\n\s+checklist: .*expected record, received number/ },
    { entry: "migrate", what: "a file named with quotes and spaces", args: (c) => ["up", "--dir", path.join(c.tmp, "quoted"), "--database-url", c.db], status: 1, says: /001_o'brien "x" y\.sql: not named NNN_name\.sql/, after: noTables },

    // migrate lint
    { entry: "migrate lint", what: "missing directory", args: () => ["--dir", "no/such/dir"], status: 2, says: /migrations directory no\/such\/dir does not exist/ },
    { entry: "migrate lint", what: "--baseline not a version", args: (c) => ["--dir", path.join(c.tmp, "mig"), "--baseline", "abc"], status: 2, says: /--baseline must be a version prefix such as 019/ },
    { entry: "migrate lint", what: "unreachable host, password in the URL", args: (c) => ["--dir", path.join(c.tmp, "mig"), "--database-url", UNREACHABLE_DB], status: 2, says: /cannot read the tracking table at postgres:\/\/operator:\*\*\*@127\.0\.0\.1:1/ },

    // snapshot
    { entry: "snapshot", what: "no arguments", args: () => [], status: 2, says: /--out is required/ },
    { entry: "snapshot", what: "no --out", args: () => ["--database-url", UNREACHABLE_DB], status: 2, says: /--out is required/ },
    { entry: "snapshot", what: "--release with path separators", args: (c) => ["--out", path.join(c.tmp, "snaps-sep"), "--release", "../../etc/x", "--database-url", c.db], status: 2, says: /--release "\.\.\/\.\.\/etc\/x" must be letters/, after: absent((c) => path.join(c.tmp, "snaps-sep")) },
    { entry: "snapshot", what: "--keep not a number", args: (c) => ["--out", path.join(c.tmp, "snaps-keep"), "--release", "r1", "--keep", "all", "--database-url", c.db], status: 2, says: /--keep must be a whole number of snapshots, at least 1, got "all"/, after: absent((c) => path.join(c.tmp, "snaps-keep")) },
    {
        entry: "snapshot",
        what: "unreachable host, password in the URL: no partial dump left",
        args: (c) => ["--out", path.join(c.tmp, "snaps-down"), "--release", "r1", "--database-url", UNREACHABLE_DB],
        status: 1,
        says: /snapshot of postgres:\/\/operator:\*\*\*@127\.0\.0\.1:1\/app failed, so the release stops before any migration/,
        after: (c) => assert.deepEqual(fs.readdirSync(path.join(c.tmp, "snaps-down")), []),
    },
    { entry: "snapshot", what: "a rehearsal flag without --prepare-rehearsal", args: (c) => ["--out", path.join(c.tmp, "snaps-dir"), "--release", "r1", "--dir", "demo/migrations", "--database-url", c.db], status: 2, says: /--dir is a flag of --prepare-rehearsal, which was not given/, after: absent((c) => path.join(c.tmp, "snaps-dir")) },
    { entry: "snapshot", what: "--prepare-rehearsal with nothing to test", args: (c) => ["--out", path.join(c.tmp, "snaps-prep"), "--release", "r1", "--prepare-rehearsal", "--database-url", c.db], status: 2, says: /--prepare-rehearsal needs --dir \(runner mode\) or --head \(command mode\)/, after: absent((c) => path.join(c.tmp, "snaps-prep")) },
    { entry: "snapshot", what: "--out is a file", args: (c) => ["--out", path.join(c.tmp, "a-file"), "--release", "r1", "--database-url", c.db], status: 1, says: /--out .*a-file is a file, not a directory/ },

    // restore
    { entry: "restore", what: "missing snapshot file", args: (c) => ["--snapshot", path.join(c.tmp, "nosuch.dump"), "--database-url", c.db], status: 1, says: /nosuch\.dump/, after: noTables },
    { entry: "restore", what: "a snapshot that is not a dump, into an empty database", args: (c) => ["--snapshot", path.join(c.tmp, "garbage.dump"), "--database-url", c.db], status: 1, says: /garbage\.dump|not appear to be a valid archive/, after: noTables },
    { entry: "restore", what: "unreachable host, password in the URL", args: (c) => ["--snapshot", path.join(c.tmp, "garbage.dump"), "--database-url", UNREACHABLE_DB], status: 1, says: /cannot use the database postgres:\/\/operator:\*\*\*@127\.0\.0\.1:1\/app/ },
    { entry: "restore", what: "host that does not resolve", args: (c) => ["--snapshot", path.join(c.tmp, "garbage.dump"), "--database-url", `postgres://operator:${PASSWORD}@nosuchhost.invalid/app`], status: 1, says: /cannot use the database postgres:\/\/operator:\*\*\*@nosuchhost\.invalid\/app .*ENOTFOUND/ },
    { entry: "restore", what: "AWS: --rds-snapshot without --new-instance", args: () => ["--rds-snapshot", "snap-1"], status: 2, says: /--new-instance is required/ },

    // rehearse
    { entry: "rehearse", what: "no --snapshot", args: (c) => ["--dir", path.join(c.tmp, "mig"), "--database-url", c.db], status: 2, says: /--snapshot is required/ },
    {
        entry: "rehearse",
        what: "a snapshot that is not a dump: no scratch copy left, the database untouched",
        args: (c) => ["--snapshot", path.join(c.tmp, "garbage.dump"), "--dir", path.join(c.tmp, "mig"), "--database-url", c.db],
        status: 1,
        says: /rehearsal failed on a copy of the release snapshot, the real database was not touched/,
        after: async (c) => {
            await noTables(c);
            assert.deepEqual(await sql(await adminUrl(), "SELECT datname FROM pg_database WHERE datname LIKE $1", [`${c.dbName.slice(0, 30)}_rehearsal_%`]), []);
        },
    },
    { entry: "rehearse", what: "unreachable host, password in the URL", args: (c) => ["--snapshot", path.join(c.tmp, "garbage.dump"), "--dir", path.join(c.tmp, "mig"), "--database-url", UNREACHABLE_DB], status: 1, says: /cannot use the database postgres:\/\/operator:\*\*\*@127\.0\.0\.1:1/ },
    { entry: "rehearse", what: "command mode without --head", args: (c) => ["--snapshot", path.join(c.tmp, "garbage.dump"), "--command", "alembic upgrade head", "--database-url", c.db], status: 2, says: /--head is required/ },

    // migration-revision
    { entry: "migration-revision", what: "no command", args: () => [], status: 2, says: /a command is required: run, current, check, schema-save or schema-compare/ },
    { entry: "migration-revision", what: "check without --head", args: (c) => ["check", "--database-url", c.db], status: 2, says: /--head is required for check/ },
    { entry: "migration-revision", what: "unreachable host, password in the URL", args: () => ["current", "--database-url", UNREACHABLE_DB], status: 1, says: /cannot use the database postgres:\/\/operator:\*\*\*@127\.0\.0\.1:1/ },
    {
        entry: "migration-revision",
        what: "--revision-table with quotes",
        args: (c) => ["current", "--revision-table", 'x"; drop table y; --', "--database-url", c.db],
        status: 2,
        says: /--revision-table must be a table name, optionally schema-qualified \(e\.g\. alembic_version\), got "x\\"; drop table y; --"/,
        after: noTables,
    },

    // gate
    { entry: "gate", what: "missing spec file", args: (c) => ["--base-url", "http://127.0.0.1:1", "--spec", path.join(c.tmp, "nosuch.yaml")], status: 1, says: /nosuch\.yaml/ },
    { entry: "gate", what: "bad YAML", args: (c) => ["--base-url", "http://127.0.0.1:1", "--spec", path.join(c.tmp, "bad.yaml")], status: 1, says: /bad\.yaml/ },
    { entry: "gate", what: "unknown key", args: (c) => ["--base-url", "http://127.0.0.1:1", "--spec", path.join(c.tmp, "gate-unknown.yaml")], status: 1, says: /gate-unknown\.yaml[\s\S]*frobnicate/ },
    { entry: "gate", what: "wrong type", args: (c) => ["--base-url", "http://127.0.0.1:1", "--spec", path.join(c.tmp, "gate-type.yaml")], status: 1, says: /gate-type\.yaml[\s\S]*deadlineSeconds/ },
    { entry: "gate", what: "nothing listens at the address: fails by the spec's deadline", args: (c) => ["--base-url", `http://127.0.0.1:${c.closedPort}`, "--spec", path.join(c.tmp, "gate-health.yaml")], status: 1, says: /health gate FAILED against http:\/\/127\.0\.0\.1:\d+[\s\S]*ECONNREFUSED/ },
    { entry: "gate", what: "a port fetch refuses to use", args: (c) => ["--base-url", "http://127.0.0.1:1", "--spec", path.join(c.tmp, "gate-health.yaml")], status: 1, says: /health gate FAILED against http:\/\/127\.0\.0\.1:1[\s\S]*fetch failed: bad port/ },
    { entry: "gate", what: "--base-url with a password", args: (c) => ["--base-url", `http://smoke:${PASSWORD}@127.0.0.1:1`, "--spec", path.join(c.tmp, "gate-health.yaml")], status: 2, says: /--base-url must not carry credentials/ },
    { entry: "gate", what: "--base-url not a URL", args: (c) => ["--base-url", "127.0.0.1:8181", "--spec", path.join(c.tmp, "gate-health.yaml")], status: 2, says: /--base-url must be an http\(s\) address/ },
    { entry: "gate", what: "--config without =", args: (c) => ["--base-url", "http://127.0.0.1:1", "--spec", path.join(c.tmp, "gate-health.yaml"), "--config", "environment"], status: 2, says: /--config "environment": expected <name>=<value>/ },
    { entry: "gate", what: "--release with path separators", args: (c) => ["--base-url", "http://127.0.0.1:1", "--spec", path.join(c.tmp, "gate-health.yaml"), "--release", "a/../b"], status: 2, says: /--release "a\/\.\.\/b" must be letters/ },

    // promote
    { entry: "promote", what: "no --ledger", args: () => ["--release", "r1"], status: 2, says: /--ledger is required/ },
    { entry: "promote", what: "--release with quotes and separators: no ledger line", args: (c) => ["--ledger", path.join(c.tmp, "ledger-q.jsonl"), "--release", `r1"/../x`], status: 2, says: /--release "r1\\"\/\.\.\/x" must be letters/, after: absent((c) => path.join(c.tmp, "ledger-q.jsonl")) },
    { entry: "promote", what: "a failing promote command: no ledger line", args: (c) => ["--ledger", path.join(c.tmp, "ledger-f.jsonl"), "--release", "r1", "--", "false"], status: 1, says: /the promote command exited with 1; release r1 is not recorded in/, after: absent((c) => path.join(c.tmp, "ledger-f.jsonl")) },
    { entry: "promote", what: "--ledger is a directory: the command does not run", args: (c) => ["--ledger", c.tmp, "--release", "r1", "--", `touch ${path.join(c.tmp, "promoted")}`], status: 1, says: /--ledger .* is not a file; nothing was promoted/, after: absent((c) => path.join(c.tmp, "promoted")) },
    { entry: "promote", what: "--base-url with a password", args: (c) => ["--ledger", path.join(c.tmp, "ledger-u.jsonl"), "--release", "r1", "--base-url", `http://u:${PASSWORD}@127.0.0.1:8181`], status: 2, says: /--base-url must not carry credentials/, after: absent((c) => path.join(c.tmp, "ledger-u.jsonl")) },

    // rollback, up:local, down:local (stopped before the engine starts)
    { entry: "rollback", what: "--to not a number", args: () => ["--stack", "local", "--to", "three"], status: 2, says: /--to must be an update number, got "three"/ },
    { entry: "rollback", what: "no --stack", args: () => ["--preview"], status: 2, says: /--stack is required/ },
    { entry: "rollback", what: "--stack with path separators", args: () => ["--stack", "../../etc/passwd"], status: 2, says: /--stack "\.\.\/\.\.\/etc\/passwd" is not a stack name/ },
    { entry: "up:local", what: "--release with quotes", args: () => ["--release", "r1'; rm -rf /", "--preview"], status: 2, says: /--release "r1'; rm -rf \/" must be letters/ },
    { entry: "down:local", what: "--stack with path separators: no process outside .gatehouse/ is touched", args: () => ["--stack", "../../../run"], status: 2, says: /--stack "\.\.\/\.\.\/\.\.\/run" is not a stack name/ },
    { entry: "down:local", what: "--stack with quotes", args: () => ["--stack", "lo'cal"], status: 2, says: /--stack "lo'cal" is not a stack name/ },
    { entry: "down:local", what: "a stack that does not exist", args: () => ["--stack", "no-such-stack"], status: 1, says: /no local stack "no-such-stack"/ },

    // local-app (scripts/local-app.ts)
    { entry: "local-app", what: "--port not a port, --state-dir hostile", args: () => ["deploy", "--state-dir", "/tmp/x'; rm -rf /", "--port", "not-a-port"], status: 2, says: /--port must be a port number/ },
    { entry: "local-app", what: "unknown command", args: (c) => ["teleport", "--state-dir", path.join(c.tmp, "la"), "--port", "8181"], status: 2, says: /unknown command "teleport"/ },
    { entry: "local-app", what: "deploy without --release", args: (c) => ["deploy", "--state-dir", path.join(c.tmp, "la"), "--port", "8181", "--", "true"], status: 2, says: /--release is required/ },
    { entry: "local-app", what: "deploy without a start command", args: (c) => ["deploy", "--state-dir", path.join(c.tmp, "la"), "--port", "8181", "--release", "r1"], status: 2, says: /deploy needs the app's start command after --/ },
    { entry: "local-app", what: "--bake-seconds not a number", args: (c) => ["switch", "--state-dir", path.join(c.tmp, "la"), "--port", "8181", "--release", "r1", "--bake-seconds", "soon"], status: 2, says: /--bake-seconds must be a whole number of seconds, got soon/ },

    // bench (checked before anything is measured)
    { entry: "bench", what: "BENCH_ONLY names no row", args: () => [], env: { BENCH_ONLY: "nope" }, status: 2, says: /BENCH_ONLY="nope": expected one of release, routine, lint, engine, switch, rollback/ },
    { entry: "bench", what: "BENCH_TRIALS not a number", args: () => [], env: { BENCH_TRIALS: "many" }, status: 2, says: /BENCH_TRIALS="many": expected a whole number/ },
];

function fixtures(tmp: string): void {
    fs.mkdirSync(path.join(tmp, "mig"));
    fs.writeFileSync(path.join(tmp, "mig", "001_t.sql"), "CREATE TABLE t (a int);\n");
    fs.mkdirSync(path.join(tmp, "quoted"));
    fs.writeFileSync(path.join(tmp, "quoted", `001_o'brien "x" y.sql`), "CREATE TABLE quoted (a int);\n");
    fs.writeFileSync(path.join(tmp, "bad.yaml"), "checks: [ { name: x\n  : : :\n");
    fs.writeFileSync(path.join(tmp, "expect-unknown.yaml"), "tablez:\n  users:\n");
    fs.writeFileSync(path.join(tmp, "expect-type.yaml"), "checklist: 5\n");
    fs.writeFileSync(path.join(tmp, "gate-unknown.yaml"), "deadlineSeconds: 1\nfrobnicate: 1\nchecks:\n  - { name: health, request: { path: /health } }\n");
    fs.writeFileSync(path.join(tmp, "gate-type.yaml"), "deadlineSeconds: soon\nchecks:\n  - { name: health, request: { path: /health } }\n");
    fs.writeFileSync(path.join(tmp, "gate-health.yaml"), "deadlineSeconds: 2\nchecks:\n  - { name: health, request: { path: /health }, timeoutMs: 500, expect: { status: 200 } }\n");
    fs.writeFileSync(path.join(tmp, "garbage.dump"), "not a pg_dump archive\n");
    fs.writeFileSync(path.join(tmp, "a-file"), "");
}

describe("command-line entry points", function () {
    this.timeout(120_000);

    it("each entry point is tested as package.json starts it", () => {
        const scripts = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "package.json"), "utf8")).scripts as Record<string, string>;
        for (const entry of Object.keys(ENTRY_POINTS).filter((e) => e !== "migrate lint")) {
            assert.equal(scripts[entry], ["node", ...invocation(entry, [])].join(" "), `npm run ${entry}`);
        }
        const usage = runEntryPointWith(["scripts/built.js"]);
        assert.equal(usage.status, 2, "scripts/built.js without a CLI's name is a usage error");
        assert.match(usage.stderr, /usage: node scripts\/built\.js <cli>/);
    });

    for (const entry of Object.keys(ENTRY_POINTS)) {
        it(`${entry}: --help prints usage and exits 0; an unknown flag exits 2 with the usage, no stack trace`, () => {
            const help = runEntryPoint(entry, ["--help"]);
            assert.equal(help.status, 0, help.stderr);
            assert.match(help.stdout, /usage/i);
            const wrong = runEntryPoint(entry, ["--no-such-flag"]);
            assert.equal(wrong.status, 2, `${wrong.stdout}\n${wrong.stderr}`);
            assert.match(wrong.stderr, /no-such-flag/);
            assert.match(wrong.stderr, /usage/i);
            noStackTrace(wrong.stderr);
        });
    }

    describe("wrong, missing, malformed and hostile input", () => {
        const ctx = {} as Ctx;
        let drop: () => Promise<void>;
        before(async () => {
            ctx.tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gh-cli-"));
            fixtures(ctx.tmp);
            const db = await freshDatabase("cli_hygiene");
            Object.assign(ctx, { db: db.url, dbName: db.name });
            drop = db.drop;
            const probe = net.createServer();
            await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
            ctx.closedPort = (probe.address() as AddressInfo).port;
            await new Promise((resolve) => probe.close(resolve));
        });
        // Each case starts from an empty database.
        afterEach(async () => {
            for (const t of await tables(ctx)) await sql(ctx.db, `DROP TABLE "${t}"`);
        });
        after(async () => {
            await drop?.();
            fs.rmSync(ctx.tmp, { recursive: true, force: true });
        });

        for (const c of CASES) {
            const title = `${c.entry}, ${c.what}: exits ${c.status} with one clear message`;
            if (c.pending) {
                it(`${title} (pending: ${c.pending})`);
                continue;
            }
            it(title, async () => {
                const result = runEntryPoint(c.entry, c.args(ctx), c.env);
                assert.equal(result.status, c.status, `${result.stdout}\n${result.stderr}`);
                assert.match(c.status === 0 ? result.stdout : result.stderr, c.says);
                assert.doesNotMatch(result.stderr + result.stdout, new RegExp(PASSWORD), "a password was echoed");
                noStackTrace(result.stderr);
                await c.after?.(ctx);
            });
        }
    });

    describe("gate against servers that misbehave", () => {
        let tmp: string;
        let server: http.Server;
        let base: string;
        before(async () => {
            tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gh-gate-"));
            // /hang accepts and never answers; /huge streams JSON-looking bytes without end.
            server = http.createServer((req, res) => {
                if (req.url === "/hang") return;
                res.writeHead(200, { "content-type": "application/json" });
                const chunk = Buffer.alloc(64 * 1024, "[");
                const pump = () => {
                    while (res.write(chunk));
                };
                res.on("drain", pump);
                pump();
            });
            await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
            base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        });
        after(() => {
            server.closeAllConnections();
            server.close();
            fs.rmSync(tmp, { recursive: true, force: true });
        });

        it("never picks a target silently: says which it assumed and which defaults the spec read, and counts what ran in the report's first line", async () => {
            const app = http.createServer((_req, res) => res.end("{}"));
            await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve));
            try {
                const url = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
                const spec = path.join(tmp, "assumed.yaml");
                fs.writeFileSync(spec, "deadlineSeconds: 5\nconditions: { onAws: { config: { target: aws } } }\nchecks:\n  - { name: health, request: { path: /health } }\n  - { name: ready, needs: readyz, request: { path: /readyz } }\n  - { name: aws only, when: onAws, request: { path: /x } }\n");
                const assumed = await runEntryPointAsync("gate", ["--base-url", url, "--spec", spec]);
                assert.equal(assumed.status, 0, assumed.stderr);
                assert.equal(
                    assumed.stderr,
                    "gate: no --config target=aws|local given: assumed target=aws (Pulumi.yaml's default)\ngate: the spec reads, not given with --config, Pulumi.yaml's defaults: appFeatures=[]\n",
                );
                assert.match(assumed.stdout, /^health gate passed against http:\/\/127\.0\.0\.1:\d+ in \d+ ms — 3 checks: 2 run, 2 passed, 1 not run:\n/);
                const told = await runEntryPointAsync("gate", ["--base-url", url, "--spec", spec, "--config", "target=local", "--config", 'appFeatures=["readyz"]']);
                assert.equal(told.stderr, "");
                assert.match(told.stdout, /^health gate passed against \S+ in \d+ ms — 3 checks: 2 run, 2 passed, 1 skipped, 0 not run:\n/);
                const wrong = await runEntryPointAsync("gate", ["--base-url", url, "--spec", spec, "--config", "appFeatures=readyz"]);
                assert.equal(wrong.status, 2);
                assert.match(wrong.stderr, /--config appFeatures: must be a list, got "readyz" \(a JSON list, e\.g\. appFeatures='\["a","b"\]'\)/);
                const defect = await runEntryPointAsync("gate", ["--base-url", url, "--spec", spec, "--config", "gateKnownDefects=[\"nosuch -> 500 X: y\"]"]);
                assert.equal(defect.status, 2);
                assert.match(defect.stderr, /--config gateKnownDefects: "nosuch -> 500 X: y" names no check of .*assumed\.yaml/);
            } finally {
                app.close();
            }
        });

        it("a server that hangs: the gate ends by its deadline and says the check timed out", async () => {
            const spec = path.join(tmp, "hang.yaml");
            fs.writeFileSync(spec, "deadlineSeconds: 3\nchecks:\n  - { name: health, request: { path: /hang }, timeoutMs: 1000 }\n");
            const result = await runEntryPointAsync("gate", ["--base-url", base, "--spec", spec]);
            assert.equal(result.status, 1, result.stderr);
            assert.match(result.stderr, /health gate FAILED[\s\S]*health[\s\S]*timed out after \d+ ms/);
            noStackTrace(result.stderr);
            // start-up (ts-node) plus the 3 s deadline, not the per-request timeouts piled up
            assert.ok(result.ms < 20_000, `took ${result.ms} ms`);
        });

        it("a server that sends a body without end: the gate reads a capped part, stays small and fails the check", async () => {
            const spec = path.join(tmp, "huge.yaml");
            fs.writeFileSync(spec, "deadlineSeconds: 5\nchecks:\n  - { name: huge, request: { path: /huge }, timeoutMs: 4000, expect: { json: { \"$.ok\": true } } }\n");
            const result = await runEntryPointAsync("gate", ["--base-url", base, "--spec", spec]);
            assert.equal(result.status, 1, result.stderr);
            // ts-node and the gate take ~200 MB; loopback delivers gigabytes in the 5 s an uncapped read would have
            assert.ok(result.peakRssMb < 500, `the gate grew to ${result.peakRssMb.toFixed(0)} MB`);
            assert.match(result.stderr, /health gate FAILED[\s\S]*huge[\s\S]*body is not JSON \(read up to \d+ bytes\)/);
            noStackTrace(result.stderr);
        });
    });
});

/** node with these arguments, from the repository. */
function runEntryPointWith(args: string[]): { status: number | null; stderr: string } {
    const result = spawnSync(process.execPath, args, { cwd: path.join(__dirname, ".."), encoding: "utf8" });
    return { status: result.status, stderr: result.stderr };
}
