import { strict as assert } from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { EngineState, Executed, executingAnswer } from "./harness/executor";
import { RunOptions, runStack } from "./harness/program";
import { REPO_ROOT } from "./harness/stackConfig";
import { ClientLoop } from "./helpers/clientLoop";
import { localStackLifecycle, serving, slotRecords } from "./helpers/localStack";
import { shippedMigrationsWith } from "./helpers/migrations";
import { localPorts } from "./helpers/ports";
import { sql } from "./helpers/postgres";

// The first app's local stack as an operator lives through it (issue 8):
// release 1, release 2 with a new migration, release 3 whose backend fails its
// gate, release 4 whose frontend serves a stale build, then back to release
// 2's config. Backend and frontend each sit behind their own edge with two
// slots. A client loop plays users through both edges the whole time: no
// request may fail, and no answer may come from a version that did not pass
// its gates. Every command resource and the gate providers run for real
// (executing harness), against real PostgreSQL and the stand-ins.
describe("the kifu local stack across releases: edges, slots, gates, rollback (executing harness)", function () {
    this.timeout(300_000);
    const stackName = `local-life-${crypto.randomBytes(3).toString("hex")}`;
    const stateDir = `.gatehouse/${stackName}`;
    const life = localStackLifecycle(stackName, "lifecycle");
    const engine = new EngineState();
    const executed: Executed[] = [];
    const migrations = shippedMigrationsWith({});

    const release = (id: string, set: Record<string, unknown> = {}, options: RunOptions = {}) => {
        executed.length = 0;
        return runStack("local", {
            stackName,
            answer: executingAnswer(executed, engine),
            ...options,
            set: { release: id, ...localPorts(life.port), migrationsDir: migrations, bakeSeconds: 1, ...set },
            secrets: { localDatabaseUrl: life.db.url },
        });
    };
    const backendUrl = () => `http://127.0.0.1:${life.port}`;
    const frontendUrl = () => `http://127.0.0.1:${localPorts(life.port).localFrontendPort}`;
    const slots = (dir: string) => slotRecords(path.join(REPO_ROOT, dir));
    const tracked = async () => (await sql(life.db.url, "SELECT version, release_id FROM gatehouse_migrations ORDER BY version")).map((r) => `${r.version}@${r.release_id}`);
    const snapshots = () => fs.readdirSync(path.join(REPO_ROOT, stateDir, "snapshots")).filter((f) => f.endsWith(".dump")).sort();

    it("release 1: both edges serve it once both gates passed", async () => {
        const run = await release("r1");
        assert.deepEqual(await serving(`${backendUrl()}/health`), { status: 200, slot: "blue", release: "r1" });
        assert.deepEqual(await serving(`${frontendUrl()}/`), { status: 200, slot: "blue", release: "r1" });
        assert.deepEqual(await tracked(), ["001@r1", "020@r1", "021@r1", "022@r1"]);
        assert.match(run.outputs.gateReport, /health gate passed/);
        // The page the frontend serves is the release's build and calls the backend's public edge.
        const page = await (await fetch(`${frontendUrl()}/`)).text();
        assert.ok(page.includes('\\"b\\":\\"r1\\"'), "the build id in the page's RSC payload");
        assert.match(page, /backend: healthy/);
        life.users = new ClientLoop([`${backendUrl()}/health`, `${frontendUrl()}/`]);
    });

    it("release 2 with a new migration: started on the idle slots, gated there, then switched; release 1 stays as standby", async () => {
        fs.writeFileSync(path.join(migrations, "023_release_notes.sql"), "CREATE TABLE release_notes (id bigint PRIMARY KEY, body text NOT NULL);\n");
        await release("r2");
        assert.deepEqual(await serving(`${backendUrl()}/health`), { status: 200, slot: "green", release: "r2" });
        assert.deepEqual(await serving(`${frontendUrl()}/`), { status: 200, slot: "green", release: "r2" });
        assert.deepEqual(await tracked(), ["001@r1", "020@r1", "021@r1", "022@r1", "023@r2"]);
        const backend = slots(stateDir);
        assert.equal(backend.blue?.release, "r1", "release 1 keeps running on blue as standby");
        assert.equal(backend.green?.release, "r2");
        assert.equal(slots(`${stateDir}/frontend`).blue?.release, "r1");
    });

    it("release 3, whose backend does not follow the stack's AI policy, fails its gate: users stay on release 2", async () => {
        const before = { backend: slots(stateDir), tracked: await tracked() };
        // The new version ignores AI_REQUIRE_ALLOWLIST=true; the gate reads the stack's policy and expects 403.
        const broken = "env AI_REQUIRE_ALLOWLIST=false node .gatehouse/build/demo-server.js";
        await assert.rejects(release("r3", { localAppCommand: broken }), /FAIL ai one-shot refused by the allowlist: failed after 1 attempt\(s\) — status 200[\s\S]*Release r3 is not promoted/);
        assert.deepEqual(await serving(`${backendUrl()}/health`), { status: 200, slot: "green", release: "r2" });
        assert.deepEqual(await serving(`${frontendUrl()}/`), { status: 200, slot: "green", release: "r2" });
        assert.deepEqual(await tracked(), before.tracked);
        assert.deepEqual(slots(stateDir).green, before.backend.green, "the live slot was not touched");
        assert.deepEqual(executed.filter((e) => /switch|promote/.test(e.name)), [], "nothing was switched");
    });

    it("release 4, whose frontend serves a stale build, fails the page gate before anything is switched", async () => {
        const liveBackend = slots(stateDir).green;
        // The shipped spec waits up to 120 s for a slot that is still coming up; a stale build does not come up.
        const spec = path.join(migrations, "..", "frontend-gate.yaml");
        fs.writeFileSync(spec, fs.readFileSync(path.join(REPO_ROOT, "checks/kifu.frontend.yaml"), "utf8").replace(/^deadlineSeconds: \d+$/m, "deadlineSeconds: 5"));
        await assert.rejects(release("r4", { frontendEnv: ["NEXT_PUBLIC_APP_MODE=prod", "DEMO_BUILD_ID=r2"], frontendGateSpec: spec }), (err: any) => {
            assert.match(err.message, /FAIL the page is this release's build: failed after \d+ attempt\(s\) — status 200, \d+ ms, body does not contain "r4"/);
            return true;
        });
        assert.deepEqual(await serving(`${backendUrl()}/health`), { status: 200, slot: "green", release: "r2" });
        assert.deepEqual(await serving(`${frontendUrl()}/`), { status: 200, slot: "green", release: "r2" });
        assert.deepEqual(slots(stateDir).green, liveBackend);
        assert.deepEqual(executed.filter((e) => /switch|promote/.test(e.name)), [], "nothing was switched");
    });

    it("back to release 2's config: a switch; nothing migrates, no snapshot is taken, no gate or bake runs again, nothing restarts", async () => {
        const before = { backend: slots(stateDir).green, frontend: slots(`${stateDir}/frontend`).green, snapshots: snapshots(), tracked: await tracked() };
        const run = await release("r2");
        assert.match(run.outputs.releasePlan, /ROLLBACK: release r2 was promoted before/);
        // The processes that serve are the ones that passed both gates when r2 was promoted.
        assert.match(run.outputs.gateReport, /health gate skipped against http:\/\/127\.0\.0\.1:\d+: the candidate is the process that passed this gate when its release was promoted/);
        assert.deepEqual(executed.filter((e) => /snapshot|rehearsal|migration-|verify-schema/.test(e.name)).map((e) => e.name), []);
        // r2 is still live (r3 and r4 never switched): a bake step runs only if its release changed, and then skips.
        assert.deepEqual(executed.filter((e) => /bake/.test(e.name) && !/bake window skipped: green \(release r2\) baked when it was promoted/.test(e.stdout)).map((e) => e.name), []);
        assert.deepEqual(await serving(`${backendUrl()}/health`), { status: 200, slot: "green", release: "r2" });
        assert.deepEqual(await serving(`${frontendUrl()}/`), { status: 200, slot: "green", release: "r2" });
        assert.deepEqual(slots(stateDir).green, before.backend, "same process");
        assert.deepEqual(slots(`${stateDir}/frontend`).green, before.frontend, "same process");
        assert.deepEqual(await tracked(), before.tracked);
        assert.deepEqual(snapshots(), before.snapshots, "release 2's snapshot is reused");

    });

    it("the users' loop through both edges: no request failed, and only gated releases answered", async () => {
        await life.usersSawOnly(["r1", "r2"]);
    });
});
