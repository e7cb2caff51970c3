import { strict as assert } from "assert";
import * as path from "path";
import { readGateSpec } from "../components/release/gateSpec";
import { echo, isSecretValue } from "./harness/mocks";
import { runStack } from "./harness/program";

// The release pipeline's resources as `pulumi preview` would list them, under
// plain mocks (nothing executes here; tests/localRelease.test.ts runs it).
describe("release pipeline resources", () => {
    const COMMAND = "command:local:Command";

    it("lists one migration resource per file, in order, each after the one before", async () => {
        const run = await runStack("local", { answer: echo(5) });
        const names = run.ofType(COMMAND).map((r) => r.name);
        const chain = [
            "kifu-release-snapshot",
            "kifu-release-rehearsal",
            "kifu-release-migration-001-initial_schema",
            "kifu-release-migration-020-guided_review",
            "kifu-release-migration-021-ai_allowlist",
            "kifu-release-migration-022-create_runs_and_summary_packs",
            "kifu-release-verify-schema",
        ];
        assert.deepEqual(names.slice(0, chain.length), chain);
        assert.deepEqual(names.slice(chain.length).sort(), ["kifu-bake", "kifu-deploy", "kifu-frontend-bake", "kifu-frontend-deploy", "kifu-frontend-switch", "kifu-promote", "kifu-switch"]);
        for (let i = 1; i < chain.length; i++) {
            assert.ok(run.get(COMMAND, chain[i]).start >= run.get(COMMAND, chain[i - 1]).end!, `${chain[i]} started before ${chain[i - 1]} finished`);
        }
        // What each step waits for: the deploys for the migrations (the schema is verified beside
        // them), each gate for its deploy and the verification, the switches for both gates (nothing
        // users see changes before both passed), the ledger for all.
        const resource = (name: string) => (name.endsWith("gate") ? run.get("pulumi-nodejs:dynamic/gatehouse:HealthGate", name) : run.get(COMMAND, name));
        const lastMigration = "kifu-release-migration-022-create_runs_and_summary_packs";
        const waits: [string, string[]][] = [
            ["kifu-deploy", [lastMigration]],
            ["kifu-frontend-deploy", [lastMigration]],
            ["kifu-release-gate", ["kifu-deploy", "kifu-release-verify-schema"]],
            ["kifu-frontend-gate", ["kifu-frontend-deploy"]],
            ["kifu-switch", ["kifu-release-gate", "kifu-frontend-gate"]],
            ["kifu-bake", ["kifu-switch"]],
            ["kifu-frontend-switch", ["kifu-release-gate", "kifu-frontend-gate"]],
            ["kifu-frontend-bake", ["kifu-frontend-switch"]],
            ["kifu-promote", ["kifu-bake", "kifu-frontend-bake"]],
        ];
        for (const [step, before] of waits) {
            for (const b of before) assert.ok(resource(step).start >= resource(b).end!, `${step} started before ${b} finished`);
        }
    });

    it("keys each migration by its checksum and passes the release only in the ignored environment", async () => {
        const run = await runStack("local");
        const m020 = run.get(COMMAND, "kifu-release-migration-020-guided_review");
        assert.equal(m020.inputs.create, "node --liftoff-only .gatehouse/build/migrate.js up --dir demo/migrations --through-file 020_guided_review.sql");
        assert.equal(m020.inputs.triggers.length, 1);
        assert.match(m020.inputs.triggers[0], /^[0-9a-f]{64}$/);
        assert.ok(isSecretValue(m020.inputs.environment), "the environment carrying DATABASE_URL is secret");
        assert.equal(m020.inputs.environment.value.GATEHOUSE_RELEASE, "local-1");
        const snapshot = run.get(COMMAND, "kifu-release-snapshot");
        assert.deepEqual(snapshot.inputs.triggers, ["local-1"]);
        // The rehearsal's scratch database is made beside the dump where files are pending (the rehearsal's own test).
        assert.equal(snapshot.inputs.create, "node --liftoff-only .gatehouse/build/snapshot.js --out .gatehouse/local/snapshots --release local-1 --keep 10 --reuse --prepare-rehearsal --dir demo/migrations");
        assert.match(run.get(COMMAND, "kifu-release-rehearsal").inputs.create, /^node --liftoff-only \.gatehouse\/build\/rehearse\.js --dir demo\/migrations --release local-1 --snapshot /);
    });

    it("runs the app's own migration command in command mode through the revision check, rehearsed on the snapshot", async () => {
        const run = await runStack("local", {
            set: {
                migrationMode: "command",
                migrationCommand: "uv run alembic upgrade head",
                migrationHistoryCommand: "uv run alembic history",
                migrationHead: "002_add_operability_fields",
                databaseUrlScheme: "postgresql+psycopg",
            },
        });
        const names = run.ofType(COMMAND).map((r) => r.name);
        assert.deepEqual(names.slice(0, 3), ["kifu-release-snapshot", "kifu-release-rehearsal", "kifu-release-migrate"]);
        const flags =
            "--command 'uv run alembic upgrade head' --head 002_add_operability_fields --history-command 'uv run alembic history' " +
            "--revision-table alembic_version --revision-column version_num --url-env DATABASE_URL --url-scheme postgresql+psycopg";
        assert.equal(run.get(COMMAND, "kifu-release-migrate").inputs.create, `node --liftoff-only .gatehouse/build/migration-revision.js run ${flags}`);
        assert.equal(run.get(COMMAND, "kifu-release-rehearsal").inputs.create.startsWith(`node --liftoff-only .gatehouse/build/rehearse.js ${flags} --release local-1 --snapshot `), true);
        // The snapshot step makes the scratch copy's database when the database is not at the head.
        assert.match(run.get(COMMAND, "kifu-release-snapshot").inputs.create, / --reuse --prepare-rehearsal --head 002_add_operability_fields --revision-table alembic_version --revision-column version_num$/);
    });

    it("refuses command mode without the head the database must reach, naming the key and its fix", async () => {
        await assert.rejects(runStack("local", { set: { migrationMode: "command", migrationCommand: "uv run alembic upgrade head" } }), (err: any) => {
            assert.deepEqual(err.problems.map((p: any) => [p.key, p.fix]), [["migrationHead", "pulumi config set --stack local migrationHead <revision>"]]);
            return true;
        });
    });

    it("passes the gate spec, release and the candidate slot's address to the health gate", async () => {
        // The deploy step prints the idle slot's address last; the gate checks the candidate there, not on the edge.
        const run = await runStack("local", {
            answer: (args) => (args.name === "kifu-deploy" ? { ...args.inputs, stdout: "started release local-1 on green\nhttp://127.0.0.1:8183" } : { ...args.inputs }),
        });
        const gate = run.get("pulumi-nodejs:dynamic/gatehouse:HealthGate", "kifu-release-gate");
        assert.equal(gate.inputs.baseUrl, "http://127.0.0.1:8183");
        assert.equal(gate.inputs.release, "local-1");
        assert.equal(gate.inputs.spec.checks[0].name, "health");
        assert.equal(gate.inputs.spec.checks.length, readGateSpec(path.join(__dirname, "..", "checks", "kifu.smoke.yaml")).checks.length);
        // Bound to the stack: the facts its `when`s read, as Pulumi.local.yaml sets them.
        assert.deepEqual(gate.inputs.spec.stack, { config: { environment: "development" }, env: { AI_REQUIRE_ALLOWLIST: "true", APP_ENV: "development" } });
        // The local stack registers its own smoke user: no secret needed, still passed as a (empty) secret.
        assert.ok(isSecretValue(gate.inputs.secrets));
        assert.deepEqual(gate.inputs.secrets.value, {});
        assert.equal(typeof gate.inputs.__provider, "string");
    });

    it("refuses a stack whose gate spec or expectations file is broken, naming the key and file", async () => {
        await assert.rejects(runStack("local", { set: { gateSpec: "checks/missing.yaml", schemaExpectations: "migrations" } }), (err: any) => {
            assert.deepEqual(err.problems.map((p: any) => p.key), ["schemaExpectations", "gateSpec"]);
            assert.match(err.message, /gateSpec: .*checks\/missing\.yaml: ENOENT/);
            return true;
        });
    });

    it("releases the worker after the gate: beside the switch without a bake window, after the bake window with one", async () => {
        const waitsFor = (run: Awaited<ReturnType<typeof runStack>>, name: string) =>
            run.get(COMMAND, "routine-worker").options.dependencies.some((urn) => urn.endsWith(`::${name}`));
        const noBake = await runStack("routine-local", { set: { bakeSeconds: 0 }, secrets: { localRedisUrl: "redis://127.0.0.1:6379" } });
        assert.ok(waitsFor(noBake, "routine-release-gate"), "the worker waits for the gate");
        assert.ok(!waitsFor(noBake, "routine-switch"), "without a bake window the worker starts beside the switch");
        const baked = await runStack("routine-local", { set: { bakeSeconds: 30 }, secrets: { localRedisUrl: "redis://127.0.0.1:6379" } });
        assert.ok(waitsFor(baked, "routine-bake"), "the worker waits for the bake window, which can still switch users back");
        assert.ok(baked.get(COMMAND, "routine-promote").options.dependencies.some((urn) => urn.endsWith("::routine-worker")), "the ledger records the release after the worker");
    });
});
