import { strict as assert } from "assert";
import * as path from "path";
import { readProjectFile, validateConfig } from "../components/config";
import { checklistGapLines } from "../components/release/checklistGaps";
import { loadStackConfig } from "./harness/stackConfig";
import { Registration, cloud, isSecretValue, unwrapSecrets } from "./harness/mocks";
import { RunResult, runStack } from "./harness/program";

// Issue 14, items 5 and 6: the database URL in each app's own form on both
// targets, command-mode migrations checked from the database, and stack
// settings that say what the deployed version does not read.

function problemsOf(stack: string, set: Record<string, unknown>) {
    const loaded = loadStackConfig(stack, { set });
    const prefix = `${loaded.project}:`;
    const values = Object.fromEntries(Object.entries(loaded.config).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
    const secretKeys = new Set(loaded.secretKeys.map((k) => k.slice(prefix.length)));
    return validateConfig({ stack, project: readProjectFile(), values, secretKeys, projectDir: path.join(__dirname, "..") }).problems;
}

describe("database URL scheme and command-mode migrations on AWS (mocks over the real prod stack files)", () => {
    let routine: RunResult;
    let kifu: RunResult;
    before(async () => {
        routine = await runStack("routine-prod", { answer: cloud() });
        kifu = await runStack("prod", { answer: cloud() });
    });
    const secretValue = (run: RunResult, name: string) => {
        const version = run.get("aws:secretsmanager/secretVersion:SecretVersion", name);
        assert.ok(isSecretValue(version.inputs.secretString), `${name} is not a Pulumi secret`);
        return unwrapSecrets(version.inputs.secretString) as string;
    };
    const task = (run: RunResult, name: string) => unwrapSecrets(run.get("pulumi-nodejs:dynamic/gatehouse:OneOffTask", name).inputs);
    const containers = (r: Registration) => JSON.parse(unwrapSecrets(r.inputs).containerDefinitions);

    it("stores the app's DATABASE_URL in the app's form; Gatehouse's runner keeps postgres://", () => {
        assert.match(secretValue(routine, "routine-database-url"), /^postgresql\+psycopg:\/\/routine_app:[^@]+@routine-db\.mock\.rds\.amazonaws\.com:5432\/routine\?sslmode=require$/);
        assert.match(secretValue(routine, "routine-gatehouse-migration-database-url"), /^postgres:\/\/routine_migrator:/);
        assert.match(secretValue(routine, "routine-gatehouse-migration-app-database-url"), /^postgresql\+psycopg:\/\/routine_migrator:[^@]+@routine-db\.mock\.rds\.amazonaws\.com:5432\/routine\?sslmode=require$/);
        assert.match(secretValue(kifu, "kifu-database-url"), /^postgres:\/\/kifu_app:/, "the first app keeps the default form");
        assert.throws(() => kifu.get("aws:secretsmanager/secretVersion:SecretVersion", "kifu-gatehouse-migration-app-database-url"), /no aws:secretsmanager/, "runner mode needs no app-form migrator URL");
    });

    it("the migration command's task gets the migrator's URL in the app's env var and form, and its role reads only that", () => {
        const [container] = containers(routine.get("aws:ecs/taskDefinition:TaskDefinition", "routine-migrate"));
        assert.deepEqual(container.secrets, [{ name: "DATABASE_URL", valueFrom: "arn:aws:mock:ap-northeast-2:123456789012:secret/routine-gatehouse-migration-app-database-url" }]);
        const policy = JSON.parse(unwrapSecrets(routine.get("aws:iam/rolePolicy:RolePolicy", "routine-migrate-exec-secrets").inputs.policy));
        assert.deepEqual(policy.Statement[0].Resource, ["arn:aws:mock:ap-northeast-2:123456789012:secret/routine-gatehouse-migration-app-database-url"]);
    });

    it("reads the revision before migrating and checks the head after it, in the runner image, whatever the command's exit code", () => {
        const runner = "node --liftoff-only .gatehouse/build/migration-revision.js";
        assert.equal(task(routine, "routine-revision-before").command.join(" "), `${runner} current --revision-table alembic_version --revision-column version_num`);
        assert.equal(task(routine, "routine-revision-check").command.join(" "), `${runner} check --head 005_god33_weight_columns_float --revision-table alembic_version --revision-column version_num`);
        const definition = (name: string) => `arn:aws:mock:ap-northeast-2:123456789012:taskdefinition/${name}`;
        assert.equal(task(routine, "routine-revision-before").taskDefinition, definition("routine-runner"));
        assert.equal(task(routine, "routine-migrate").taskDefinition, definition("routine-migrate"), "the app's own image runs its tool");
        assert.equal(task(routine, "routine-revision-check").taskDefinition, definition("routine-runner"));
        const start = (name: string) => routine.get("pulumi-nodejs:dynamic/gatehouse:OneOffTask", name);
        assert.ok(start("routine-migrate").start >= start("routine-revision-before").end!);
        assert.ok(start("routine-revision-check").start >= start("routine-migrate").end!);
        assert.ok(start("routine-verify-schema").start >= start("routine-revision-check").end!);
    });
});

describe("stack settings the app really reads, and the preview saying what it does not", () => {
    it("the routine plan lists the checklist items its deployed version does not support, and the command-mode checks", async () => {
        const plan: string = (await runStack("routine-prod")).outputs.releasePlan;
        assert.match(plan, /Not supported by the deployed version \(checklist items it does not read yet\):\n {2}worker\/scheduler \(section 2, step 3\): this version has none/);
        for (const item of ["REDIS_URL", "Kakao token", "LLM key", "release guardrails", "/readyz"]) assert.ok(plan.includes(`\n  ${item} (`), `the plan does not mention ${item}`);
        assert.match(
            plan,
            /Migrations:\n {2}command: \.venv\/bin\/alembic -c apps\/backend\/alembic\.ini upgrade head\n {2}gets DATABASE_URL as postgresql\+psycopg:\/\/\.\.\.\n {2}history: \.venv\/bin\/alembic -c apps\/backend\/alembic\.ini history \(printed into the migration task's log before it migrates\)\n {2}then alembic_version\.version_num must be 005_god33_weight_columns_float: read from the database itself, whatever the command's exit code\n/,
        );
        assert.match(plan, /\d+\. migration command, then revision check \(005_god33_weight_columns_float\)\n/);
    });

    it("the first app's plan has no such section: its stack sets nothing its app does not read", async () => {
        const plan: string = (await runStack("prod")).outputs.releasePlan;
        assert.ok(!plan.includes("Not supported by the deployed version"));
    });

    it("a guardrail set without an env var to carry it is named as not in force", () => {
        const lines = checklistGapLines({
            checklistGaps: [],
            guardrails: { llmEnabled: false, ruleFallbackForced: true, notificationSendCap: 200, env: { llmEnabled: "", ruleFallbackForced: "", notificationSendCap: "SEND_CAP" } },
        });
        assert.deepEqual(lines.slice(2), [
            "  guardrail llmEnabled=false: no flag reaches the app (llmEnabledEnv is empty); only the LLM provider keys are withheld",
            "  guardrail ruleFallbackForced=true: not in force, no flag reaches the app (ruleFallbackEnv is empty)",
        ]);
        assert.deepEqual(checklistGapLines({ checklistGaps: [], guardrails: { llmEnabled: true, ruleFallbackForced: false, notificationSendCap: 0, env: { llmEnabled: "", ruleFallbackForced: "", notificationSendCap: "" } } }), []);
    });

    it("refuses a URL scheme, revision table or gap line it cannot use, each with its fix", () => {
        const problems = problemsOf("routine-prod", {
            databaseUrlScheme: "postgres+psycopg",
            migrationRevisionTable: "alembic version",
            migrationRevisionColumn: "version-num",
            checklistGaps: ["Redis"],
            migrationHead: "",
        });
        assert.deepEqual(
            problems.map((p) => [p.key, p.problem, p.fix]),
            [
                ["databaseUrlScheme", "must be postgres, postgresql or postgresql+<driver> (e.g. postgresql+psycopg)", "pulumi config set --stack routine-prod databaseUrlScheme <value>"],
                ["checklistGaps[0]", 'must be "item: why", e.g. "REDIS_URL: this version uses no Redis"', "pulumi config set --stack routine-prod --path 'checklistGaps[0]' <value>"],
                ["migrationRevisionTable", "must be a table name, optionally schema-qualified (e.g. alembic_version)", "pulumi config set --stack routine-prod migrationRevisionTable <value>"],
                ["migrationRevisionColumn", "must be a column name (e.g. version_num)", "pulumi config set --stack routine-prod migrationRevisionColumn <value>"],
                [
                    "migrationHead",
                    "is required while migrationMode is command: the revision the database must be at afterwards (e.g. alembic heads prints it); the command's exit code alone cannot tell",
                    "pulumi config set --stack routine-prod migrationHead <revision>",
                ],
            ],
        );
    });

    it("command mode on aws needs the runner image: it reads the revision inside the VPC", () => {
        const problems = problemsOf("routine-prod", { migrationRunnerImage: "", schemaExpectations: "" });
        assert.deepEqual(problems.map((p) => p.key), ["migrationRunnerImage"]);
        assert.match(problems[0].problem, /reads the revision a migration command left/);
    });
});
