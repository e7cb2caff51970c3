import { strict as assert } from "assert";
import { AwsAccount } from "./harness/awsStandIn";
import { Release, migrationsDir, runnerFilesOf, runnerImage, settings } from "./fixtures/aws-lifecycle/releases";

// What an operator lives through on a real account, one stack at a time:
// first deploy -> release 2 with a new migration -> release 3 whose gate
// fails -> release 4 that passes the gate but trips an alarm in the bake
// window -> rollback to release 2's config. The account is a stand-in that
// refuses what AWS refuses (tests/harness/awsStandIn.ts, RULES); the engine's
// bookkeeping is the executing harness's, kept between the runs.
for (const { stack, app } of [
    { stack: "prod", app: "kifu" as const },
    { stack: "routine-prod", app: "routine" as const },
]) {
    describe(`AWS lifecycle of ${stack} (executing harness, AWS stand-in)`, () => {
        const account = new AwsAccount(app);
        const r1: Release = { release: "r1", liveSlot: "blue", image: "r1", migrations: migrationsDir({}) };
        const r2: Release = { release: "r2", liveSlot: "green", image: "r2", standby: "r1", migrations: migrationsDir({ "023_lifecycle_notes.sql": "CREATE TABLE lifecycle_notes (id bigint PRIMARY KEY);\n" }) };
        const r3: Release = {
            release: "r3",
            liveSlot: "blue",
            image: "r3-broken",
            standby: "r2",
            migrations: migrationsDir({ "023_lifecycle_notes.sql": "CREATE TABLE lifecycle_notes (id bigint PRIMARY KEY);\n", "024_lifecycle_more.sql": "CREATE TABLE lifecycle_more (id bigint PRIMARY KEY);\n" }),
        };
        const r4: Release = {
            release: "r4",
            liveSlot: "blue",
            image: "r4-under-load",
            standby: "r2",
            migrations: migrationsDir({
                "023_lifecycle_notes.sql": "CREATE TABLE lifecycle_notes (id bigint PRIMARY KEY);\n",
                "024_lifecycle_more.sql": "CREATE TABLE lifecycle_more (id bigint PRIMARY KEY);\n",
                "025_lifecycle_bake.sql": "CREATE TABLE lifecycle_bake (id bigint PRIMARY KEY);\n",
            }),
        };
        // Each kifu release's runner image carries that release's migration files.
        account.runnerFiles = runnerFilesOf([r1, r2, r3, r4]);
        // routine's images know alembic revisions by tag: r1 -> 1, r2 -> 2, r3 -> 3, r4 -> 4.
        account.alembicHead = (image) => Number(/:r(\d)/.exec(image)?.[1] ?? 0);
        const backend = (slot: string) => account.image(`${app}-backend-${slot}`);
        const tag = (image?: string) => image?.split(":").pop();
        const up = (r: Release) => account.up(stack, { set: settings(app, r), stackName: `${stack}-lifecycle` });
        const noDuplicates = () => assert.deepEqual(account.creates.filter((c, i) => account.creates.indexOf(c) !== i), [], "something was created twice");
        const migrated = () => (app === "kifu" ? account.appliedFiles.filter((f) => f > "019") : [`alembic revision ${account.alembicRevision}`]);
        const traffic = () => ({ slot: account.production("/api/x")?.slot, image: tag(account.production("/api/x")?.image), ...(app === "kifu" ? { page: tag(account.production("/")?.image) } : {}) });
        const promotions = () => JSON.parse(account.ssm.get(`/gatehouse/${app}/promotions`) ?? "[]").map((p: any) => p.release);
        // routine rehearses on a scratch copy (Pulumi.routine-prod.yaml): every scratch instance is gone after each update.
        const noScratchLeft = () => {
            assert.deepEqual(account.scratchInstances(), [], "a scratch instance outlived its update");
            assert.deepEqual(account.deletedInstances, account.restores.map((r) => r.id), "a restored scratch instance was not deleted");
        };
        const rehearsed = (release: string) => account.taskRuns.filter((t) => t.release === release && t.database !== "live").length > 0;

        it("first deploy: migrations wait for their role and secret; every slot attached; traffic on blue", async () => {
            const run = await up(r1);
            // The live slot's alarms count its own target group (the stand-in computes arnSuffix as AWS does).
            const fivexx = run.get("aws:cloudwatch/metricAlarm:MetricAlarm", `${app}-backend-blue-target-5xx`).inputs;
            assert.deepEqual(fivexx.dimensions, { LoadBalancer: `app/${app}-alb/0123456789abcdef`, TargetGroup: `targetgroup/${app}-backend-blue/0123456789abcdef` });
            assert.deepEqual({ slot: account.production("/api/x")?.slot, image: tag(account.production("/api/x")?.image) }, { slot: "blue", image: "r1" });
            assert.deepEqual([tag(backend("blue")), tag(backend("green"))], ["r1", "r1"]);
            assert.deepEqual(migrated(), app === "kifu" ? ["020_guided_review.sql", "021_ai_allowlist.sql", "022_create_runs_and_summary_packs.sql"] : ["alembic revision 1"]);
            assert.deepEqual([...account.snapshots], [`${app}-r1`]);
            assert.equal(rehearsed("r1"), app === "routine");
            noScratchLeft();
            noDuplicates();
        });

        it("release 2 with a new migration: green takes traffic, blue keeps r1", async () => {
            await up(r2);
            assert.deepEqual({ slot: account.production("/api/x")?.slot, image: tag(account.production("/api/x")?.image) }, { slot: "green", image: "r2" });
            assert.deepEqual([tag(backend("blue")), tag(backend("green"))], ["r1", "r2"]);
            assert.deepEqual(migrated(), app === "kifu" ? ["020_guided_review.sql", "021_ai_allowlist.sql", "022_create_runs_and_summary_packs.sql", "023_lifecycle_notes.sql"] : ["alembic revision 2"]);
            assert.deepEqual([...account.snapshots].sort(), [`${app}-r1`, `${app}-r2`]);
            assert.equal(rehearsed("r2"), app === "routine");
            noScratchLeft();
            noDuplicates();
        });

        it("release 3 whose gate fails: the update fails, traffic stays on green (r2)", async () => {
            await assert.rejects(up(r3), /not promoted/);
            assert.deepEqual({ slot: account.production("/api/x")?.slot, image: tag(account.production("/api/x")?.image) }, { slot: "green", image: "r2" });
            assert.deepEqual([tag(backend("blue")), tag(backend("green"))], ["r3-broken", "r2"]);
            // Migrations run before the gate: release 3's are applied (never reverted).
            assert.deepEqual(migrated(), app === "kifu" ? ["020_guided_review.sql", "021_ai_allowlist.sql", "022_create_runs_and_summary_packs.sql", "023_lifecycle_notes.sql", "024_lifecycle_more.sql"] : ["alembic revision 3"]);
            assert.deepEqual([...account.snapshots].sort(), [`${app}-r1`, `${app}-r2`, `${app}-r3`]);
            noDuplicates();
        });

        it("release 4 passes its gate but trips its slot's 5xx alarm in the bake window: traffic back on green (r2), the update fails", async () => {
            const changes = account.ruleChanges.length;
            await assert.rejects(up(r4), (err: Error) => {
                assert.match(err.message, /bake window: release r4 tripped .*backend-blue-target-5xx/);
                assert.match(err.message, /switched back to slot green \(release r2\)/);
                return true;
            });
            assert.deepEqual(traffic(), { slot: "green", image: "r2", ...(app === "kifu" ? { page: "r2" } : {}) });
            // Every production rule went back (backend, and kifu's frontend), each to exactly one target group.
            assert.equal(account.ruleChanges.length - changes, app === "kifu" ? 2 : 1);
            assert.deepEqual([tag(backend("blue")), tag(backend("green"))], ["r4-under-load", "r2"]);
            assert.deepEqual(migrated(), app === "kifu" ? ["020_guided_review.sql", "021_ai_allowlist.sql", "022_create_runs_and_summary_packs.sql", "023_lifecycle_notes.sql", "024_lifecycle_more.sql", "025_lifecycle_bake.sql"] : ["alembic revision 4"]);
            assert.deepEqual([...account.snapshots].sort(), [`${app}-r1`, `${app}-r2`, `${app}-r3`, `${app}-r4`]);
            assert.deepEqual(promotions(), ["r1", "r2"], "a release whose bake failed was recorded as promoted");
            noScratchLeft();
            noDuplicates();
        });

        it("release 4's config again: refused, production stays on green (the bake switched it back)", async () => {
            const changes = account.ruleChanges.length;
            await assert.rejects(up(r4), /forwards to .*not to the slot this release promoted/);
            assert.deepEqual(traffic(), { slot: "green", image: "r2", ...(app === "kifu" ? { page: "r2" } : {}) });
            assert.equal(account.ruleChanges.length, changes);
            assert.deepEqual(promotions(), ["r1", "r2"]);
            noDuplicates();
        });

        it("rollback to release 2's config: a flip, no snapshot, no migration, green not redeployed", async () => {
            const tasksBefore = account.taskRuns.length;
            const greenDeployments = account.deployments(`${app}-backend-green`);
            const createsBefore = account.creates.length;
            const result = await up(r2);
            assert.deepEqual(traffic(), { slot: "green", image: "r2", ...(app === "kifu" ? { page: "r2" } : {}) });
            assert.equal(account.taskRuns.length, tasksBefore, `tasks ran on rollback: ${JSON.stringify(account.taskRuns.slice(tasksBefore))}`);
            assert.equal(account.deployments(`${app}-backend-green`), greenDeployments, "green already ran r2 and was redeployed");
            assert.deepEqual(account.creates.slice(createsBefore).filter((c) => c.startsWith("snapshot:")), [], "a snapshot was created on rollback");
            assert.deepEqual([...account.snapshots].sort(), [`${app}-r1`, `${app}-r2`, `${app}-r3`, `${app}-r4`]);
            assert.equal(result.registrations.some((r) => r.type === "pulumi-nodejs:dynamic/gatehouse:HealthGate"), false, "a rollback is not gated again");
            assert.equal(result.registrations.some((r) => r.type === "pulumi-nodejs:dynamic/gatehouse:BakeWindow"), false, "a rollback does not bake");
            // The standby goes back to what release 2's config says it runs; migrations are never reverted.
            assert.deepEqual([tag(backend("blue")), tag(backend("green"))], ["r1", "r2"]);
            assert.deepEqual(migrated(), app === "kifu" ? ["020_guided_review.sql", "021_ai_allowlist.sql", "022_create_runs_and_summary_packs.sql", "023_lifecycle_notes.sql", "024_lifecycle_more.sql", "025_lifecycle_bake.sql"] : ["alembic revision 4"]);
            assert.deepEqual(promotions(), ["r1", "r2"]);
            noScratchLeft();
            noDuplicates();
        });
    });
}

describe("AWS release of prod whose runner image was built from another checkout (executing harness, AWS stand-in)", () => {
    it("stops at the first migration task: nothing applied, the slots and traffic stay on the live release", async () => {
        const account = new AwsAccount("kifu");
        const r1: Release = { release: "r1", liveSlot: "blue", image: "r1", migrations: migrationsDir({}) };
        const r2: Release = { release: "r2", liveSlot: "green", image: "r2", standby: "r1", migrations: migrationsDir({ "023_lifecycle_notes.sql": "CREATE TABLE lifecycle_notes (id bigint PRIMARY KEY);\n" }) };
        // r2's runner image was built from r1's checkout: it lacks 023, which r2's plan lists.
        account.runnerFiles = (image) => (image === runnerImage(r1) || image === runnerImage(r2) ? r1.migrations : undefined);
        const up = (r: Release) => account.up("prod", { set: settings("kifu", r), stackName: "prod-stale-runner" });
        await up(r1);
        await assert.rejects(up(r2), /migration 023_lifecycle_notes\.sql/);
        assert.deepEqual(account.appliedFiles.filter((f) => f > "019"), ["020_guided_review.sql", "021_ai_allowlist.sql", "022_create_runs_and_summary_packs.sql"]);
        assert.equal(account.production("/api/x")?.slot, "blue");
        assert.match(account.production("/api/x")?.image ?? "", /:r1$/);
        assert.match(account.image("kifu-backend-green") ?? "", /:r1$/, "the idle slot was not deployed");
    });
});
