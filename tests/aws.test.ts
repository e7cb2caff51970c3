import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { filesManifest, readMigrationDir } from "../components/release/migrationFiles";
import { violations } from "../policy/rules";
import { Registration, cloud, findSecretLeaks, isSecretValue, unwrapSecrets } from "./harness/mocks";
import { RunResult, runStack } from "./harness/program";
import { REPO_ROOT, loadStackConfig } from "./harness/stackConfig";

// The prod stacks' AWS resources under mocks whose outputs look like a cloud
// provider's: every assertion is on what the engine would be asked to create.
const ROUTINE_WITH_REDIS_AND_WORKER = { redisEnabled: true, workerEnabled: true };

describe("AWS platform (mocks over the real prod stack files)", () => {
    let prod: RunResult;
    let routine: RunResult;
    const generated: Record<string, string> = {};
    before(async () => {
        prod = await runStack("prod", { answer: cloud(0, generated) });
        // The shipped routine stack runs neither Redis nor a worker (its app uses none yet); the platform's are tested with both on.
        routine = await runStack("routine-prod", { answer: cloud(0, generated), set: ROUTINE_WITH_REDIS_AND_WORKER });
    });
    const of = (run: RunResult, type: string) => run.ofType(type);
    const inputs = (r: Registration) => unwrapSecrets(r.inputs);
    const containers = (r: Registration) => JSON.parse(inputs(r).containerDefinitions);

    it("builds a VPC over two zones: public subnets for the load balancer, private for the rest", () => {
        assert.equal(of(prod, "aws:ec2/vpc:Vpc")[0].inputs.cidrBlock, "10.40.0.0/16");
        const subnets = of(prod, "aws:ec2/subnet:Subnet").map((s) => [s.name, s.inputs.availabilityZone, s.inputs.cidrBlock, s.inputs.mapPublicIpOnLaunch]);
        assert.deepEqual(subnets, [
            ["kifu-public-ap-northeast-2a", "ap-northeast-2a", "10.40.0.0/20", false],
            ["kifu-public-ap-northeast-2c", "ap-northeast-2c", "10.40.16.0/20", false],
            ["kifu-private-ap-northeast-2a", "ap-northeast-2a", "10.40.128.0/20", false],
            ["kifu-private-ap-northeast-2c", "ap-northeast-2c", "10.40.144.0/20", false],
        ]);
        const alb = of(prod, "aws:lb/loadBalancer:LoadBalancer")[0];
        assert.deepEqual(alb.inputs.subnets, ["kifu-public-ap-northeast-2a-id", "kifu-public-ap-northeast-2c-id"]);
        for (const db of of(prod, "aws:rds/subnetGroup:SubnetGroup")) assert.deepEqual(db.inputs.subnetIds, ["kifu-private-ap-northeast-2a-id", "kifu-private-ap-northeast-2c-id"]);
    });

    it("opens exactly the ingress each role needs", () => {
        const rules = (run: RunResult) =>
            of(run, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").map((r) => `${r.inputs.securityGroupId} <- ${r.inputs.cidrIpv4 ?? r.inputs.referencedSecurityGroupId}:${r.inputs.fromPort}`).sort();
        assert.deepEqual(rules(routine), [
            "routine-alb-id <- 0.0.0.0/0:443",
            "routine-alb-id <- 0.0.0.0/0:80",
            "routine-alb-id <- 203.0.113.10/32:8443",
            "routine-backend-id <- routine-alb-id:8000",
            "routine-cache-id <- routine-backend-id:6379",
            "routine-cache-id <- routine-worker-id:6379",
            "routine-db-id <- routine-backend-id:5432",
            "routine-db-id <- routine-migration-id:5432",
            "routine-db-id <- routine-worker-id:5432",
        ]);
        assert.ok(rules(prod).includes("kifu-frontend-id <- kifu-alb-id:3000"));
        assert.ok(rules(prod).includes("kifu-alb-id <- 203.0.113.10/32:9443"));
        const egress = of(prod, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule").map((r) => r.inputs.securityGroupId);
        assert.ok(!egress.includes("kifu-db-id") && !egress.includes("kifu-cache-id"), "the data layer has no outbound rules");
    });

    it("runs PostgreSQL encrypted, private, TLS-only, backed up and protected", () => {
        const db = prod.get("aws:rds/instance:Instance", "kifu-db");
        const i = inputs(db);
        assert.equal(i.storageEncrypted, true);
        assert.equal(i.publiclyAccessible, false);
        assert.equal(i.deletionProtection, true);
        assert.equal(i.skipFinalSnapshot, false);
        assert.equal(i.finalSnapshotIdentifier, "kifu-final");
        assert.equal(i.multiAz, true);
        assert.ok(i.backupRetentionPeriod >= 7);
        assert.equal(db.options.protect, true);
        assert.ok(isSecretValue(db.inputs.password), "the master password is a secret");
        const params = prod.get("aws:rds/parameterGroup:ParameterGroup", "kifu-params").inputs;
        assert.equal(params.family, "postgres16");
        assert.deepEqual(params.parameters.find((p: any) => p.name === "rds.force_ssl"), { name: "rds.force_ssl", value: "1" });
        const roles = of(prod, "postgresql:index/role:Role").map((r) => r.inputs.name);
        assert.deepEqual(roles, ["kifu_migrator", "kifu_app"]);
        const appTables = prod.get("postgresql:index/defaultPrivileges:DefaultPrivileges", "kifu-app-tables").inputs;
        assert.deepEqual(appTables.privileges, ["SELECT", "INSERT", "UPDATE", "DELETE"]);
    });

    it("runs Redis with TLS, encryption at rest, a secret auth token and failover (second app)", () => {
        const redis = routine.get("aws:elasticache/replicationGroup:ReplicationGroup", "routine-redis");
        assert.equal(redis.inputs.transitEncryptionEnabled, true);
        assert.equal(redis.inputs.atRestEncryptionEnabled, true);
        assert.equal(redis.inputs.automaticFailoverEnabled, true);
        assert.equal(redis.inputs.numCacheClusters, 2);
        assert.ok(isSecretValue(redis.inputs.authToken));
        assert.deepEqual(of(prod, "aws:elasticache/replicationGroup:ReplicationGroup"), [], "the first app has no Redis");
    });

    it("keeps every secret in Secrets Manager and gives it to containers only by reference", () => {
        const names = of(prod, "aws:secretsmanager/secret:Secret").map((s) => s.inputs.name).sort();
        assert.deepEqual(names, ["kifu/DATABASE_URL", "kifu/GATEHOUSE_MIGRATION_DATABASE_URL", "kifu/JWT_SECRET", "kifu/KIFU_ENC_KEY", "kifu/OPENAI_API_KEY"]);
        for (const v of of(prod, "aws:secretsmanager/secretVersion:SecretVersion")) assert.ok(isSecretValue(v.inputs.secretString), `${v.name} is not a secret`);
        const live = containers(prod.get("aws:ecs/taskDefinition:TaskDefinition", "kifu-backend-blue"))[0];
        assert.deepEqual(live.secrets.map((s: any) => s.name), ["DATABASE_URL", "JWT_SECRET", "KIFU_ENC_KEY", "OPENAI_API_KEY"]);
        for (const s of live.secrets) assert.match(s.valueFrom, /^arn:aws:mock:.*:secret\/kifu-/);
        assert.deepEqual(live.environment.map((e: any) => e.name), ["AI_RATE_LIMIT_BURST", "AI_RATE_LIMIT_RPM", "AI_REQUIRE_ALLOWLIST", "AI_SERVICE_MONTHLY_CAP", "APP_ENV", "GATEHOUSE_SLOT"]);
        const frontend = containers(prod.get("aws:ecs/taskDefinition:TaskDefinition", "kifu-frontend-blue"))[0];
        assert.deepEqual(frontend.environment, [
            { name: "GATEHOUSE_SLOT", value: "blue" },
            { name: "NEXT_PUBLIC_API_BASE_URL", value: "https://kifu.example.com/api" },
            { name: "NEXT_PUBLIC_APP_MODE", value: "prod" },
        ]);
        assert.deepEqual(frontend.secrets, []);
    });

    it("lets each execution role read exactly its service's secrets", () => {
        const policy = (name: string) => JSON.parse(unwrapSecrets(prod.get("aws:iam/rolePolicy:RolePolicy", name).inputs.policy));
        const [statement] = policy("kifu-backend-exec-secrets").Statement;
        assert.deepEqual([statement.Effect, statement.Action], ["Allow", ["secretsmanager:GetSecretValue"]]);
        assert.deepEqual(
            [...statement.Resource].sort(),
            ["kifu-database-url", "kifu-jwt-secret", "kifu-kifu-enc-key", "kifu-openai-api-key"].map((n) => `arn:aws:mock:ap-northeast-2:123456789012:secret/${n}`),
        );
        assert.deepEqual(policy("kifu-migration-exec-secrets").Statement[0].Resource, ["arn:aws:mock:ap-northeast-2:123456789012:secret/kifu-gatehouse-migration-database-url"]);
        assert.throws(() => prod.get("aws:iam/rolePolicy:RolePolicy", "kifu-frontend-exec-secrets"), /no aws:iam\/rolePolicy:RolePolicy named kifu-frontend-exec-secrets/);
    });

    it("no secret or generated password appears in plaintext in any input or output", () => {
        for (const run of [prod, routine]) {
            const secrets = { ...run.stack.secretValues, ...generated };
            assert.deepEqual(findSecretLeaks(run.registrations, secrets), []);
            assert.deepEqual(findSecretLeaks([{ type: "stack", name: "outputs", inputs: run.outputs }], secrets), []);
        }
    });

    it("runs the live slot on the new image and keeps the standby on the previous one", () => {
        const image = (slot: string) => containers(prod.get("aws:ecs/taskDefinition:TaskDefinition", `kifu-backend-${slot}`))[0].image;
        assert.match(image("blue"), /kifu-backend:2026-11-22\.1$/);
        const run = runStack("prod", { set: { backendStandbyImage: "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/kifu-backend:2026-11-15.1", liveSlot: "green" }, answer: cloud() });
        return run.then((r) => {
            const img = (slot: string) => containers(r.get("aws:ecs/taskDefinition:TaskDefinition", `kifu-backend-${slot}`))[0].image;
            assert.match(img("green"), /kifu-backend:2026-11-22\.1$/);
            assert.match(img("blue"), /kifu-backend:2026-11-15\.1$/);
            const rule = r.get("aws:lb/listenerRule:ListenerRule", "kifu-backend-live").inputs;
            assert.equal(rule.actions[0].targetGroupArn, "arn:aws:mock:ap-northeast-2:123456789012:targetgroup/kifu-backend-green");
        });
    });

    it("chooses fast-deploy settings and rolls deployments back on failure and on the rollback alarms", () => {
        for (const tg of of(prod, "aws:lb/targetGroup:TargetGroup")) {
            assert.deepEqual(
                { interval: tg.inputs.healthCheck.interval, healthy: tg.inputs.healthCheck.healthyThreshold, unhealthy: tg.inputs.healthCheck.unhealthyThreshold, drain: tg.inputs.deregistrationDelay },
                { interval: 5, healthy: 2, unhealthy: 2, drain: 15 },
            );
        }
        for (const svc of of(prod, "aws:ecs/service:Service")) {
            assert.deepEqual(svc.inputs.deploymentCircuitBreaker, { enable: true, rollback: true });
            assert.equal(svc.inputs.networkConfiguration.assignPublicIp, false);
            assert.equal(svc.inputs.waitForSteadyState, true);
            assert.equal(svc.inputs.alarms.rollback, true);
        }
        // Each slot's deployments roll back on its own target group's alarms, not the whole load balancer's.
        assert.deepEqual(prod.get("aws:ecs/service:Service", "kifu-backend-green").inputs.alarms.alarmNames, [
            "kifu-backend-green-target-5xx",
            "kifu-backend-green-connection-errors",
            "kifu-backend-green-unhealthy-hosts",
        ]);
    });

    it("watches Redis per node, as ElastiCache publishes it (CacheClusterId), never by ReplicationGroupId", () => {
        const redis = of(routine, "aws:cloudwatch/metricAlarm:MetricAlarm").filter((a) => a.inputs.namespace === "AWS/ElastiCache");
        assert.deepEqual(redis.map((a) => Object.keys(a.inputs.dimensions)), [["CacheClusterId"], ["CacheClusterId"], ["CacheClusterId"], ["CacheClusterId"]]);
        assert.deepEqual([...new Set(redis.map((a) => a.inputs.dimensions.CacheClusterId))], ["routine-redis-id-001", "routine-redis-id-002"]);
    });

    it("attaches every slot's target group to the test listener before its service exists", async () => {
        const run = await runStack("prod", { answer: cloud(15) });
        for (const slot of ["blue", "green"]) {
            const rule = run.get("aws:lb/listenerRule:ListenerRule", `kifu-backend-test-${slot}`);
            assert.equal(rule.inputs.actions.length, 1);
            assert.ok(run.get("aws:ecs/service:Service", `kifu-backend-${slot}`).start >= rule.end!, `kifu-backend-${slot} started before its target group was attached`);
        }
    });

    it("starts every migration and verification task only after the migrator role, its grants and the secret version it reads exist", async () => {
        for (const stack of ["prod", "routine-prod"]) {
            const run = await runStack(stack, { answer: cloud(15) });
            const app = run.stack.config["gatehouse:app"];
            const needed = [
                run.get("postgresql:index/role:Role", `${app}-migrator`),
                run.get("postgresql:index/grant:Grant", `${app}-migrator-db`),
                run.get("postgresql:index/grant:Grant", `${app}-migrator-schema`),
                run.get("aws:secretsmanager/secretVersion:SecretVersion", `${app}-gatehouse-migration-database-url`),
            ];
            const tasks = run.ofType("pulumi-nodejs:dynamic/gatehouse:OneOffTask");
            assert.ok(tasks.length > 0);
            for (const task of tasks) for (const n of needed) assert.ok(task.start >= n.end!, `${task.name} started at ${task.start}, before ${n.name} finished at ${n.end}`);
        }
    });

    it("serves HTTPS with a current TLS policy and redirects HTTP", () => {
        const listeners = of(prod, "aws:lb/listener:Listener").map((l) => [l.name, l.inputs.port, l.inputs.protocol, l.inputs.sslPolicy ?? null]);
        assert.deepEqual(listeners, [
            ["kifu-http", 80, "HTTP", null],
            ["kifu-https", 443, "HTTPS", "ELBSecurityPolicy-TLS13-1-2-2021-06"],
            ["kifu-backend-test", 8443, "HTTPS", "ELBSecurityPolicy-TLS13-1-2-2021-06"],
            ["kifu-frontend-test", 9443, "HTTPS", "ELBSecurityPolicy-TLS13-1-2-2021-06"],
        ]);
        assert.deepEqual(prod.get("aws:lb/listener:Listener", "kifu-http").inputs.defaultActions[0].redirect, { protocol: "HTTPS", port: "443", statusCode: "HTTP_301" });
    });

    it("keeps each release's snapshot when the next release supersedes it", () => {
        const snapshot = prod.get("aws:rds/snapshot:Snapshot", "kifu-snapshot-2026-11-22.1");
        assert.equal(snapshot.inputs.dbSnapshotIdentifier, "kifu-2026-11-22-1");
        assert.equal(snapshot.options.retainOnDelete, true);
    });

    it("watches the checklist's signals and mails them", () => {
        const alarms = of(prod, "aws:cloudwatch/metricAlarm:MetricAlarm").map((a) => a.inputs.metricName);
        for (const metric of ["HTTPCode_Target_5XX_Count", "HTTPCode_ELB_502_Count", "TargetResponseTime", "CPUUtilization", "MemoryUtilization", "DatabaseConnections", "FreeStorageSpace"]) {
            assert.ok(alarms.includes(metric), `no alarm on ${metric}`);
        }
        assert.ok(of(routine, "aws:cloudwatch/metricAlarm:MetricAlarm").some((a) => a.inputs.metricName === "DatabaseMemoryUsagePercentage"), "Redis is watched");
        assert.deepEqual(of(prod, "aws:sns/topicSubscription:TopicSubscription").map((s) => [s.inputs.protocol, s.inputs.endpoint]), [["email", "oncall@example.com"]]);
        assert.equal(of(prod, "aws:cloudwatch/dashboard:Dashboard").length, 1);
    });

    it("releases in order: snapshot, migrations, verification, both new slots and their gates, then the switches, then the worker", async () => {
        const run = await runStack("routine-prod", { answer: cloud(15), set: { ...ROUTINE_WITH_REDIS_AND_WORKER, frontendEnabled: true, frontendImage: "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/routine-web:1" } });
        const step = (type: string, name: string) => run.get(type, name);
        const chain = [
            step("aws:rds/snapshot:Snapshot", "routine-snapshot-2026-11-22.1"),
            step("pulumi-nodejs:dynamic/gatehouse:OneOffTask", "routine-revision-before"),
            step("pulumi-nodejs:dynamic/gatehouse:OneOffTask", "routine-migrate"),
            step("pulumi-nodejs:dynamic/gatehouse:OneOffTask", "routine-revision-check"),
            step("pulumi-nodejs:dynamic/gatehouse:OneOffTask", "routine-verify-schema"),
            step("aws:ecs/service:Service", "routine-backend-blue"),
            step("pulumi-nodejs:dynamic/gatehouse:HealthGate", "routine-backend-gate"),
            step("aws:lb/listenerRule:ListenerRule", "routine-backend-live"),
            step("aws:lb/listenerRule:ListenerRule", "routine-frontend-live"),
            step("aws:ecs/service:Service", "routine-worker"),
        ];
        for (let i = 1; i < chain.length; i++) {
            assert.ok(chain[i].start >= chain[i - 1].end!, `${chain[i].name} started at ${chain[i].start}, before ${chain[i - 1].name} finished at ${chain[i - 1].end}`);
        }
        // The frontend's new slot and its page gate run beside the backend's; nothing switches before both gates passed.
        const [service, gate, rule, task] = ["aws:ecs/service:Service", "pulumi-nodejs:dynamic/gatehouse:HealthGate", "aws:lb/listenerRule:ListenerRule", "pulumi-nodejs:dynamic/gatehouse:OneOffTask"];
        const after = (later: [string, string], earlier: [string, string]) => {
            const [a, b] = [step(...later), step(...earlier)];
            assert.ok(a.start >= b.end!, `${later[1]} started at ${a.start}, before ${earlier[1]} finished at ${b.end}`);
        };
        after([service, "routine-frontend-blue"], [task, "routine-verify-schema"]);
        after([gate, "routine-frontend-gate"], [service, "routine-frontend-blue"]);
        after([rule, "routine-backend-live"], [gate, "routine-frontend-gate"]);
        after([rule, "routine-backend-live"], [gate, "routine-backend-gate"]);
        assert.equal(step("aws:rds/snapshot:Snapshot", "routine-snapshot-2026-11-22.1").start >= step("aws:rds/instance:Instance", "routine-db").end!, true);
        assert.deepEqual(inputs(step("pulumi-nodejs:dynamic/gatehouse:OneOffTask", "routine-migrate")).command, [
            "/bin/sh",
            "-c",
            ".venv/bin/alembic -c apps/backend/alembic.ini history && .venv/bin/alembic -c apps/backend/alembic.ini upgrade head",
        ]);
        assert.equal(inputs(step("pulumi-nodejs:dynamic/gatehouse:HealthGate", "routine-backend-gate")).baseUrl, "https://routine.example.com:8443");
    });

    it("applies the app's migration files one task per file, after baseline 019, each only as the copy the plan showed", () => {
        const tasks = of(prod, "pulumi-nodejs:dynamic/gatehouse:OneOffTask").map((t) => [t.name, inputs(t).command.slice(3).join(" ")]);
        // Tests read the stand-in of the app's files (tests/harness/stackConfig.ts); the runner image carries them in app-migrations.
        const files = readMigrationDir(path.join(REPO_ROOT, "demo", "migrations"));
        const step = (file: string) => `up --dir app-migrations --baseline 019 --through-file ${file} --manifest ${filesManifest(files, "019", file)}`;
        assert.deepEqual(tasks, [
            ["kifu-migration-001-initial_schema", step("001_initial_schema.sql")],
            ["kifu-migration-020-guided_review", step("020_guided_review.sql")],
            ["kifu-migration-021-ai_allowlist", step("021_ai_allowlist.sql")],
            ["kifu-migration-022-create_runs_and_summary_packs", step("022_create_runs_and_summary_packs.sql")],
            ["kifu-verify-schema", "verify --expect checks/kifu.schema.yaml"],
        ]);
    });

    it("names the app's own migrations in Pulumi.prod.yaml and refuses a runner-mode stack that names none", async () => {
        assert.equal(loadStackConfig("prod", {}).config["gatehouse:migrationsDir"], "demo/migrations", "the harness reads the stand-in of the app's checkout");
        assert.match(fs.readFileSync(path.join(REPO_ROOT, "Pulumi.prod.yaml"), "utf8"), /^  gatehouse:migrationsDir: \.\.\/kifu\/backend\/migrations$/m);
        await assert.rejects(runStack("prod", { remove: ["migrationsDir"], answer: cloud() }), (err: any) => {
            assert.deepEqual(err.problems.map((p: any) => p.key), ["migrationsDir"]);
            assert.match(err.message, /migrationsDir: is required while migrationMode is runner: the directory of the app's own NNN_name\.sql files/);
            assert.match(err.message, /fix: pulumi config set --stack prod migrationsDir/);
            return true;
        });
    });

    it("the policy pack finds no violation on either prod stack", () => {
        for (const run of [prod, routine]) {
            const resources = run.registrations.map((r) => ({ type: r.type, name: r.name, props: inputs(r), options: r.options }));
            assert.deepEqual(violations(resources), []);
        }
    });

    it("the policy pack catches a public database, a plaintext secret env var, an open port and slow health checks", () => {
        const resources = prod.registrations.map((r) => ({ type: r.type, name: r.name, props: inputs(r), options: r.options }));
        const broken = resources.map((r) => {
            if (r.type === "aws:rds/instance:Instance") return { ...r, props: { ...r.props, publiclyAccessible: true, storageEncrypted: false }, options: { ...r.options, protect: false } };
            if (r.name === "kifu-backend-blue" && r.type === "aws:ecs/taskDefinition:TaskDefinition") {
                const defs = JSON.parse(r.props.containerDefinitions);
                defs[0].environment.push({ name: "JWT_SECRET", value: "plain" });
                return { ...r, props: { ...r.props, containerDefinitions: JSON.stringify(defs) } };
            }
            if (r.name === "kifu-backend-from-alb") return { ...r, props: { ...r.props, referencedSecurityGroupId: undefined, cidrIpv4: "0.0.0.0/0" } };
            if (r.name === "kifu-backend-blue" && r.type === "aws:lb/targetGroup:TargetGroup") return { ...r, props: { ...r.props, deregistrationDelay: 300, healthCheck: { interval: 30, healthyThreshold: 5 } } };
            return r;
        });
        assert.deepEqual(violations(broken).map((v) => v.split(":")[0]).sort(), [
            "deletion-protection",
            "encryption-at-rest",
            "health-check-timing",
            "health-check-timing",
            "least-privilege-ingress",
            "nothing-public-but-the-load-balancer",
            "secrets-by-reference",
        ]);
    });

    it("refuses an aws stack missing its platform keys in one error", async () => {
        await assert.rejects(runStack("prod", { set: { availabilityZones: ["ap-northeast-2a"], certificateArn: "", gateSourceCidrs: [] } }), (err: any) => {
            assert.deepEqual(err.problems.map((p: any) => p.key), ["availabilityZones", "certificateArn", "gateSourceCidrs"]);
            return true;
        });
    });
});
