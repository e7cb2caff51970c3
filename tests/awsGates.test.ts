import { strict as assert } from "assert";
import { AwsAccount } from "./harness/awsStandIn";
import { ECR, settings } from "./fixtures/aws-lifecycle/releases";

// The worker's gate and the AWS rehearsal, each on its own stand-in account
// (tests/harness/awsStandIn.ts: ECS container health checks and the circuit
// breaker; RDS restore and delete), through the executing harness.
const tag = (image?: string) => image?.split(":").pop();

describe("AWS worker gate (routine-prod with a worker, stand-in)", () => {
    const account = new AwsAccount("routine");
    account.alembicHead = (image) => Number(/:r(\d)/.exec(image)?.[1] ?? 0);
    const HEALTH = "python -m app.worker_check --max-age 60";
    const up = (release: string, liveSlot: "blue" | "green", image: string, standby: string | undefined, worker: string) =>
        account.up("routine-prod", {
            stackName: "routine-prod-worker",
            set: {
                ...settings("routine", { release, liveSlot, image, standby }),
                rehearsal: false,
                workerEnabled: true,
                workerImage: `${ECR}/routine-worker:${worker}`,
                workerCommand: ["python", "-m", "app.worker"],
                workerHealthCommand: HEALTH,
            },
        });

    it("a worker that shows it is alive: deployed after the promotion, its health check is the app's own command", async () => {
        const run = await up("r1", "blue", "r1", undefined, "w1");
        const definition = JSON.parse(run.get("aws:ecs/taskDefinition:TaskDefinition", "routine-worker").inputs.containerDefinitions)[0];
        assert.deepEqual(definition.healthCheck.command, ["CMD-SHELL", HEALTH]);
        const service = run.get("aws:ecs/service:Service", "routine-worker").inputs;
        assert.deepEqual(
            { min: service.deploymentMinimumHealthyPercent, breaker: service.deploymentCircuitBreaker, steady: service.waitForSteadyState },
            { min: 100, breaker: { enable: true, rollback: true }, steady: true },
        );
        assert.equal(tag(account.image("routine-worker")), "w1");
    });

    it("a worker whose health check never passes fails the update; the previous worker keeps running", async () => {
        await assert.rejects(up("r2", "green", "r2", "r1", "w2-never-healthy"), /ServiceDeploymentFailed.*routine-worker.*failed container health checks.*rolled back to .*w1/s);
        assert.equal(tag(account.image("routine-worker")), "w1");
        assert.ok((account.services.get("routine-worker")?.running ?? 0) > 0, "the previous worker stopped");
        // The web release itself was promoted and baked before the worker changed.
        assert.deepEqual({ slot: account.production("/api/x")?.slot, image: tag(account.production("/api/x")?.image) }, { slot: "green", image: "r2" });
    });
});

describe("AWS rehearsal (routine-prod, stand-in)", () => {
    const account = new AwsAccount("routine");
    account.alembicHead = (image) => Number(/:r(\d)/.exec(image)?.[1] ?? 0);
    const DOWN = ".venv/bin/alembic -c apps/backend/alembic.ini downgrade -1";
    const up = (release: string, liveSlot: "blue" | "green", image: string, standby?: string) =>
        account.up("routine-prod", { stackName: "routine-prod-rehearsal", set: { ...settings("routine", { release, liveSlot, image, standby }), migrationDownCommand: DOWN } });
    const scratchRuns = (release: string) => account.taskRuns.filter((t) => t.release === release && t.database !== "live");
    const liveRuns = (release: string) => account.taskRuns.filter((t) => t.release === release && t.database === "live");

    it("a passing rehearsal: the round trip on a scratch copy inside the VPC, then the real migration; the copy is deleted", async () => {
        await up("r1", "blue", "r1");
        assert.equal(account.restores.length, 1);
        const [restore] = account.restores;
        assert.equal(restore.snapshot, "routine-r1");
        // Beside the live instance: its subnet group and security groups, never public, deletable.
        assert.ok(restore.subnetGroup && restore.securityGroups.length > 0, `restored outside the VPC: ${JSON.stringify(restore)}`);
        assert.deepEqual({ publiclyAccessible: restore.publiclyAccessible, deletionProtection: restore.deletionProtection }, { publiclyAccessible: false, deletionProtection: false });
        const onScratch = scratchRuns("r1");
        assert.ok(onScratch.every((t) => t.database === restore.id));
        // The round trip as locally: upgrade; the runner keeps the schema's description; down one step and up
        // again in the app's image; the runner compares; then the revision check and the schema verification.
        assert.deepEqual(
            onScratch.map((t) => t.command.join(" ").replace(/^.*exec "\$@" sh /, "")),
            [
                "/bin/sh -c .venv/bin/alembic -c apps/backend/alembic.ini history && .venv/bin/alembic -c apps/backend/alembic.ini upgrade head",
                "node --liftoff-only .gatehouse/build/migration-revision.js schema-save",
                "/bin/sh -c .venv/bin/alembic -c apps/backend/alembic.ini downgrade -1 && .venv/bin/alembic -c apps/backend/alembic.ini upgrade head",
                "node --liftoff-only .gatehouse/build/migration-revision.js schema-compare",
                "node --liftoff-only .gatehouse/build/migration-revision.js check --head 1 --revision-table alembic_version --revision-column version_num",
                "node --liftoff-only .gatehouse/build/migrate.js verify --expect checks/routine.schema.yaml",
            ],
        );
        // The real migration runs once, without the round trip, after the rehearsal.
        assert.equal(liveRuns("r1").filter((t) => t.command.join(" ").includes("downgrade")).length, 0);
        assert.ok(account.taskRuns.indexOf(onScratch[onScratch.length - 1]) < account.taskRuns.indexOf(liveRuns("r1")[0]));
        assert.equal(account.alembicRevision, 1);
        assert.deepEqual(account.deletedInstances, [restore.id]);
        assert.deepEqual(account.scratchInstances(), []);
    });

    it("a failing rehearsal stops the release before the real migration; the scratch copy is deleted; production untouched", async () => {
        await assert.rejects(up("r2", "green", "r2-bad-migration", "r1"), /rehearsal of release r2 failed: .*migration command.* failed \(exit 1.*The real database was not touched/s);
        assert.equal(account.restores.length, 2);
        assert.ok(scratchRuns("r2").length > 0);
        assert.deepEqual(liveRuns("r2"), [], "a task ran against the real database");
        assert.equal(account.alembicRevision, 1);
        assert.deepEqual(account.deletedInstances, account.restores.map((r) => r.id));
        assert.deepEqual(account.scratchInstances(), []);
        assert.deepEqual({ slot: account.production("/api/x")?.slot, image: tag(account.production("/api/x")?.image) }, { slot: "blue", image: "r1" });
        assert.equal(tag(account.image("routine-backend-green")), "r1", "the new slot changed before the rehearsal passed");
    });

    it("a down step that leaves the schema different fails the rehearsal at the comparison, before the real migration", async () => {
        const restores = account.restores.length;
        await assert.rejects(up("r2", "green", "r2-forgetful-down", "r1"), /rehearsal of release r2 failed: .*round trip: the schema is the same as after the upgrade.* failed \(exit 1.*The real database was not touched/s);
        assert.equal(account.restores.length, restores + 1);
        assert.deepEqual(liveRuns("r2"), [], "a task ran against the real database");
        assert.equal(account.alembicRevision, 1);
        assert.deepEqual(account.scratchInstances(), []);
        assert.equal(tag(account.image("routine-backend-green")), "r1", "the new slot changed before the rehearsal passed");
    });
});
