import { strict as assert } from "assert";
import { freeStackPorts, localPorts, stopLocalStack } from "./helpers/ports";
import { execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Engine } from "../scripts/lib/engine";
import { REPO_ROOT } from "./harness/stackConfig";
import { EngineStack, Operations, UpResult, engineOrSkip } from "./helpers/engine";
import { HarnessTwin, countOperations } from "./helpers/harnessTwin";
import { shippedMigrationsWith } from "./helpers/migrations";
import { asTheStandInWroteIt } from "./helpers/standInState";
import { getJson } from "./helpers/http";
import { freshDatabase, sql } from "./helpers/postgres";

// The local stack's release lifecycle under the real Pulumi engine (Pulumi's
// CLI, Node.js language host, command provider and dynamic-provider launcher,
// from scripts/pulumi-toolchain.sh), as one sequence: each step starts
// from what the step before left, and after each we look at what users get
// from the edge, which slots run what, and what the database holds.
describe("the local stack under the real engine: release, no-op, migrate, fail, fail the gate, roll back, destroy", function () {
    this.timeout(300_000);
    let engine: Engine;
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    let stack: EngineStack;
    let port: number;
    let migrations: string;
    let stateDir: string;
    let twin: HarnessTwin;
    let twinDb: Awaited<ReturnType<typeof freshDatabase>>;
    const secrets = { JWT_SECRET: `gh-test-jwt-${crypto.randomBytes(6).toString("hex")}` };

    before(async function () {
        // A first build of the engine on a fresh machine takes minutes (scripts/pulumi-toolchain.sh prints its progress).
        this.timeout(1_200_000);
        engine = await engineOrSkip(this);
        db = await freshDatabase("engine");
        port = await freeStackPorts();
        migrations = shippedMigrationsWith({});
        const name = `engine-${crypto.randomBytes(3).toString("hex")}`;
        stateDir = path.join(REPO_ROOT, ".gatehouse", name);
        stack = await EngineStack.create(engine, {
            name,
            from: "local",
            set: { release: "r1", ...localPorts(port), migrationsDir: migrations, bakeSeconds: 1 },
            secrets: { ...secrets, localDatabaseUrl: db.url },
        });
        twinDb = await freshDatabase("twin");
        twin = new HarnessTwin(`twin-${name.slice(7)}`, await freeStackPorts(), { ...secrets, localDatabaseUrl: twinDb.url }, { release: "r1", migrationsDir: migrations, bakeSeconds: 1 });
    });
    after(async () => {
        if (!stack) return;
        stopLocalStack(path.relative(REPO_ROOT, stateDir), REPO_ROOT);
        await stack.remove();
        fs.rmSync(stateDir, { recursive: true, force: true });
        await db.drop();
        twin?.cleanUp();
        await twinDb?.drop();
    });

    /**
     * The executing harness runs the same step on its own copy and must report
     * the same operation for every resource, and the same outputs where they
     * do not name the stack, its port or a time.
     */
    const agrees = async (engine: UpResult, changes: Record<string, unknown> = {}) => {
        const harness = await twin.release(changes);
        assert.deepEqual(harness.ops, engine.ops, "the harness and the engine disagree on what this update does");
        assert.equal(Boolean(harness.error), Boolean(engine.error), `the harness ${harness.error ? `failed: ${harness.error.message}` : "succeeded"}`);
        if (harness.outputs) {
            const stable = (o: Record<string, any>) => ({ keys: Object.keys(o).sort(), app: o.app, release: o.release, target: o.target, migrationFiles: o.migrationFiles, envNames: o.envNames });
            assert.deepEqual(stable(harness.outputs), stable(engine.outputs));
        }
    };
    /** For updates the rollback CLI ran: the counts `pulumi stack history` keeps (the stack itself is one more `same`). */
    const agreesInCounts = async (changes: Record<string, unknown>) => {
        const harness = await twin.release(changes);
        assert.equal(harness.error, undefined, harness.error?.message);
        const engine = await stack.lastChanges();
        engine.same -= 1;
        if (engine.same === 0) delete engine.same;
        assert.deepEqual(countOperations(harness.ops), engine);
    };

    /** What a user gets from the edge right now. */
    const served = () => getJson(`http://127.0.0.1:${port}/health`);
    const slot = (color: string) => {
        const file = path.join(stateDir, `slot-${color}.json`);
        return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as { release: string; pid: number }) : undefined;
    };
    const tracked = async () => (await sql(db.url, "SELECT version FROM gatehouse_migrations ORDER BY version")).map((r) => r.version);
    // pg_dump 15.14+ writes a random \restrict key into every dump: not part of the schema.
    const schema = () => execFileSync("pg_dump", ["--schema-only", "--no-owner", db.url], { encoding: "utf8" }).replace(/^\\(un)?restrict .*$/gm, "");
    const ok = (r: UpResult) => assert.equal(r.error, undefined, `the update failed:\n${r.error?.message}\n${r.output.slice(-3000)}`);
    const opsOf = (ops: Operations, fragment: string) => Object.entries(ops).filter(([k]) => k.includes(fragment)).map(([, op]) => op);
    let snapshotCount = 0;

    it("release 1: every step is created, the edge serves r1 from the blue slot", async () => {
        const r = await stack.up();
        ok(r);
        assert.deepEqual([...new Set(Object.values(r.ops))], ["create"]);
        assert.equal(Object.keys(r.ops).length, 19, JSON.stringify(r.ops, null, 1));
        assert.deepEqual(await tracked(), ["001", "020", "021", "022"]);
        const answer = await served();
        assert.equal(answer.body.release, "r1");
        assert.equal(answer.headers["x-gatehouse-slot"], "blue");
        assert.match(r.outputs.gateReport, /health gate passed against http:\/\/127\.0\.0\.1:\d+/);
        assert.equal(r.outputs.appUrl, `http://127.0.0.1:${port}`);
        snapshotCount = fs.readdirSync(path.join(stateDir, "snapshots")).filter((f) => f.endsWith(".dump")).length;
        assert.equal(snapshotCount, 1);
        await agrees(r);
    });

    it("the same config again: every resource is `same` and no step runs", async () => {
        const before = { deploys: fs.readFileSync(path.join(stateDir, "deploys.jsonl"), "utf8"), ledger: fs.readFileSync(path.join(stateDir, "releases.jsonl"), "utf8"), pid: slot("blue")!.pid };
        const r = await stack.up();
        ok(r);
        assert.deepEqual([...new Set(Object.values(r.ops))], ["same"], JSON.stringify(r.ops, null, 1));
        assert.equal(fs.readFileSync(path.join(stateDir, "deploys.jsonl"), "utf8"), before.deploys, "no deploy ran");
        assert.equal(fs.readFileSync(path.join(stateDir, "releases.jsonl"), "utf8"), before.ledger, "no promotion ran");
        assert.equal(slot("blue")!.pid, before.pid);
        assert.equal(fs.readdirSync(path.join(stateDir, "snapshots")).filter((f) => f.endsWith(".dump")).length, snapshotCount, "no snapshot taken");
        await agrees(r);
    });

    it("the same config again from the state Gatehouse's former command-provider stand-in wrote: every resource `same`, no step runs", async () => {
        const { state, added } = asTheStandInWroteIt((await stack.stack.exportStack()) as any);
        assert.deepEqual(added, { inputs: ["addPreviousOutputInEnv"], outputs: ["addPreviousOutputInEnv"] }, "what the stand-in wrote and Pulumi's provider does not");
        await stack.stack.importStack(state as any);
        const before = { deploys: fs.readFileSync(path.join(stateDir, "deploys.jsonl"), "utf8"), pid: slot("blue")!.pid, tracked: await tracked() };
        const r = await stack.up();
        ok(r);
        assert.deepEqual([...new Set(Object.values(r.ops))], ["same"], JSON.stringify(r.ops, null, 1));
        assert.equal(fs.readFileSync(path.join(stateDir, "deploys.jsonl"), "utf8"), before.deploys, "no deploy ran");
        assert.equal(slot("blue")!.pid, before.pid);
        assert.deepEqual(await tracked(), before.tracked);
        assert.equal(fs.readdirSync(path.join(stateDir, "snapshots")).filter((f) => f.endsWith(".dump")).length, snapshotCount, "no snapshot taken");
    });

    it("release 2 with a new migration: preview shows the plan and the one new file; up applies it and switches to green", async () => {
        fs.writeFileSync(path.join(migrations, "023_pack_tags.sql"), "CREATE TABLE pack_tags (id bigserial PRIMARY KEY, name text NOT NULL);\n");
        await stack.set({ release: "r2" });
        const preview = await stack.preview();
        assert.equal(preview.error, undefined, preview.output);
        assert.match(preview.output, /Release r2 of kifu \(local, development\)/);
        assert.match(preview.output, /023_pack_tags\.sql {2}sha256 [0-9a-f]{16} {2}pending/);
        assert.match(preview.output, /1 pending/);
        assert.deepEqual(opsOf(preview.ops, "migration-").filter((op) => op !== "same"), ["create"], "only the new file is a step to run");
        assert.equal((await served()).body.release, "r1", "a preview changes nothing users see");

        const r = await stack.up();
        ok(r);
        assert.deepEqual(opsOf(r.ops, "migration-023"), ["create"]);
        assert.deepEqual(opsOf(r.ops, "migration-0").filter((op) => op !== "same").length, 1, "applied files' steps are left alone");
        assert.deepEqual(await tracked(), ["001", "020", "021", "022", "023"]);
        const answer = await served();
        assert.equal(answer.body.release, "r2");
        assert.equal(answer.headers["x-gatehouse-slot"], "green");
        assert.equal(slot("blue")!.release, "r1", "the previous release keeps running as standby");
        await agrees(r, { release: "r2" });
    });

    it("release 3 whose migration fails halfway: the update fails; tracking table, schema and what users get are as after release 2", async () => {
        fs.writeFileSync(
            path.join(migrations, "024_broken.sql"),
            "CREATE TABLE pack_notes (id bigserial PRIMARY KEY);\nALTER TABLE summary_packs ADD COLUMN note_id bigint REFERENCES no_such_table (id);\n",
        );
        // No rehearsal, so the failure happens on the real database, halfway through the file.
        await stack.set({ release: "r3", rehearsal: false });
        const schemaBefore = schema();
        const slotsBefore = { blue: slot("blue"), green: slot("green") };
        const r = await stack.up();
        assert.ok(r.error, "the update failed");
        assert.match(r.error!.message, /024_broken\.sql:2: relation "no_such_table" does not exist/);
        assert.deepEqual(opsOf(r.ops, "migration-024"), ["failed"]);
        for (const step of ["verify-schema", "deploy", "gate", "promote"]) assert.ok(!Object.keys(r.ops).some((k) => k.endsWith(step) && r.ops[k] !== "same"), `${step} ran`);
        assert.deepEqual(await tracked(), ["001", "020", "021", "022", "023"]);
        assert.equal(schema(), schemaBefore, "the schema is exactly as before");
        assert.equal((await served()).body.release, "r2");
        assert.deepEqual({ blue: slot("blue"), green: slot("green") }, slotsBefore);
        await agrees(r, { release: "r3", rehearsal: false });
    });

    it("release 4 whose candidate fails its gate: the update fails and nothing users see changes", async () => {
        fs.rmSync(path.join(migrations, "024_broken.sql"));
        const spec = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "gh-spec-")), "gate.yaml");
        fs.writeFileSync(spec, "deadlineSeconds: 2\nintervalMs: 100\nchecks:\n  - name: teapot\n    request: { path: /health }\n    expect: { status: 418 }\n");
        await stack.set({ release: "r4", rehearsal: true, gateSpec: spec });
        const live = slot("green")!;
        const r = await stack.up();
        assert.ok(r.error, "the update failed");
        assert.match(r.error!.message, /health gate FAILED against http:\/\/127\.0\.0\.1:(\d+)/);
        assert.match(r.error!.message, new RegExp(`Release r4 is not promoted: users still get the previous version \\(http://127\\.0\\.0\\.1:${port}/health answers 200\\)`));
        assert.deepEqual(opsOf(r.ops, "promote"), [], "no promotion");
        for (let i = 0; i < 5; i++) assert.equal((await served()).body.release, "r2");
        assert.deepEqual(slot("green"), live, "the live slot was not touched");
        assert.equal(slot("blue")!.release, "r4", "the candidate ran on the idle slot");
        await agrees(r, { release: "r4", rehearsal: true, gateSpec: spec });
    });

    const rollback = (...args: string[]) =>
        // As `npm run rollback` runs it: from its bundle (scripts/built.js).
        spawnSync(process.execPath, ["scripts/built.js", "rollback", "--stack", stack.name, ...args], {
            cwd: REPO_ROOT,
            env: { ...process.env, ...stack.env },
            encoding: "utf8",
        });

    it("npm run rollback --preview reads the real history, shows a rollback to release 2, and leaves the config as it was", async () => {
        const before = await stack.stack.getAllConfig();
        const result = rollback("--preview");
        assert.equal(result.status, 0, result.stderr + result.stdout.slice(-2000));
        assert.match(result.stdout, /Roll back from update 6 \(failed\) to update 4 \(succeeded/);
        assert.match(result.stdout, /ROLLBACK: release r2 was promoted before/);
        assert.match(result.stdout, /The edge still serves it/);
        assert.deepEqual(await stack.stack.getAllConfig(), before);
    });

    it("npm run rollback returns to release 2's config: no migration, no new snapshot, no restart", async () => {
        const live = slot("green")!;
        snapshotCount = fs.readdirSync(path.join(stateDir, "snapshots")).filter((f) => f.endsWith(".dump")).length;
        const applied = await sql(db.url, "SELECT version, applied_at FROM gatehouse_migrations ORDER BY version");
        const result = rollback("--yes");
        assert.equal(result.status, 0, result.stderr + result.stdout.slice(-2000));
        assert.match(result.stdout, /rolled back engine-[0-9a-f]+ to update 4's config/);
        assert.equal((await served()).body.release, "r2");
        assert.deepEqual(slot("green"), live, "r2's slot kept running");
        // Nothing to migrate: a switch. No snapshot, rehearsal or verification step runs, the gates are skipped for the processes that passed them.
        assert.doesNotMatch(result.stdout, /kifu-release-(snapshot|rehearsal|verify-schema) (creating|updating|created)/);
        assert.match(result.stdout, /health gate skipped against/);
        assert.equal(fs.readdirSync(path.join(stateDir, "snapshots")).filter((f) => f.endsWith(".dump")).length, snapshotCount, "no snapshot taken");
        assert.deepEqual(await sql(db.url, "SELECT version, applied_at FROM gatehouse_migrations ORDER BY version"), applied, "no migration ran");
        assert.equal((await stack.stack.getConfig("gatehouse:release")).value, "r2");
        await agreesInCounts({ release: "r2", gateSpec: "checks/kifu.smoke.yaml" });
    });

    it("release 5, then a rollback to release 2 is a switch back to the standby slot", async () => {
        await stack.set({ release: "r5" });
        const r5 = await stack.up();
        ok(r5);
        await agrees(r5, { release: "r5" });
        assert.equal((await served()).body.release, "r5");
        const standby = slot("green")!;
        assert.equal(standby.release, "r2");

        const preview = rollback("--preview");
        assert.match(preview.stdout, /ROLLBACK: release r2 was promoted before .*\n.*The edge serves release r5 now; this update switches it back/);

        // A rollback that fails after the early switch (here: `pulumi stack history` cannot decrypt
        // with a wrong passphrase) puts users back where they were.
        const wrongPassphrase = path.join(os.tmpdir(), `gh-wrong-passphrase-${process.pid}`);
        fs.writeFileSync(wrongPassphrase, "not the stack's passphrase");
        const refused = spawnSync(process.execPath, ["scripts/built.js", "rollback", "--stack", stack.name, "--yes"], {
            cwd: REPO_ROOT,
            env: { ...process.env, ...stack.env, PULUMI_CONFIG_PASSPHRASE_FILE: wrongPassphrase },
            encoding: "utf8",
        });
        fs.rmSync(wrongPassphrase);
        assert.equal(refused.status, 1, refused.stdout + refused.stderr);
        assert.match(refused.stdout, /backend: users are on release r2 again[\s\S]*users are back on release r5 \(blue slot\), as before the rollback/);
        assert.equal((await served()).body.release, "r5");
        assert.deepEqual(slot("green"), standby);

        const result = rollback("--yes");
        assert.equal(result.status, 0, result.stderr + result.stdout.slice(-2000));
        const answer = await served();
        assert.equal(answer.body.release, "r2");
        assert.equal(answer.headers["x-gatehouse-slot"], "green");
        assert.deepEqual(slot("green"), standby, "the standby was switched to, not restarted");
        assert.match(result.stdout, /release r2 already runs on green .*not restarted/);
        // Users went back before the engine started: the rollback CLI switched the edge first, from
        // the backend's files, before `pulumi stack history` was read (the difference is printed after it),
        // and the history named the same update.
        const switchedAt = result.stdout.search(/backend: users are on release r2 again \(green slot, switched in \d+ ms\)/);
        assert.ok(switchedAt >= 0, result.stdout);
        assert.ok(switchedAt < result.stdout.indexOf("Roll back from update"), `the switch came after the history read:\n${result.stdout}`);
        assert.doesNotMatch(result.stdout, /not what the backend's files said|no early switch/);
        await agreesInCounts({ release: "r2" });
    });

    it("pulumi preview --policy-pack policy runs the real policy pack on the local stack", async () => {
        const preview = await stack.preview([path.join(REPO_ROOT, "policy")]);
        assert.equal(preview.error, undefined, preview.output);
        assert.match(preview.output, /Policy Packs run:\s+Name\s+Version\s+gatehouse-production\|local\|.*\/policy\s+0\.1\.0/);
        assert.doesNotMatch(preview.output, /mandatory|advisory/, "no violation on the local stack");
    });

    it("pulumi destroy stops the app and the edge, and keeps every snapshot and the database", async () => {
        const snapshots = fs.readdirSync(path.join(stateDir, "snapshots")).sort();
        const ops = await stack.destroy();
        assert.deepEqual([...new Set(Object.values(ops))], ["delete"]);
        assert.deepEqual(await twin.destroy(), ops, "the harness and the engine disagree on what destroy does");
        await assert.rejects(served(), /ECONNREFUSED/);
        assert.deepEqual(fs.readdirSync(path.join(stateDir, "snapshots")).sort(), snapshots);
        assert.deepEqual(await tracked(), ["001", "020", "021", "022", "023"]);
    });
});
