import { strict as assert } from "assert";
import { OneOffTask } from "../components/aws/oneOffTask";
import { executingAnswer } from "./harness/executor";
import { runStack } from "./harness/program";

// The one-off task provider as the dynamic-provider host runs it (serialized,
// loaded from its string), against a stand-in for the ECS API: the SDK module
// the provider requires is replaced by one whose tasks stop with a chosen exit code.
const Module = require("module");

function fakeEcs(behaviour: { started?: boolean; exitCode?: number; reason?: string }) {
    const sent: any[] = [];
    class RunTaskCommand { constructor(readonly input: any) {} }
    class DescribeTasksCommand { constructor(readonly input: any) {} }
    class ECSClient {
        constructor(readonly config: any) {}
        async send(command: any) {
            sent.push(command);
            if (command instanceof RunTaskCommand) {
                return behaviour.started === false
                    ? { tasks: [], failures: [{ arn: "arn:task-def", reason: "RESOURCE:MEMORY" }] }
                    : { tasks: [{ taskArn: "arn:aws:ecs:ap-northeast-2:123456789012:task/kifu-cluster/0f1e2d" }] };
            }
            return { tasks: [{ lastStatus: "STOPPED", stoppedReason: "Essential container in task exited", containers: [{ name: "app", exitCode: behaviour.exitCode, reason: behaviour.reason }] }] };
        }
    }
    return { module: { ECSClient, RunTaskCommand, DescribeTasksCommand }, sent };
}

async function runTask(fake: ReturnType<typeof fakeEcs>) {
    const original = Module._load;
    Module._load = function (request: string, ...rest: any[]) {
        return request === "@aws-sdk/client-ecs" ? fake.module : original.call(this, request, ...rest);
    };
    try {
        return await runStack("prod", {
            answer: executingAnswer(),
            program: async () => {
                const task = new OneOffTask("kifu-migration-020-guided_review", {
                    description: "migration 020_guided_review.sql",
                    region: "ap-northeast-2",
                    cluster: "arn:cluster",
                    taskDefinition: "arn:task-def",
                    subnets: ["subnet-a"],
                    securityGroups: ["sg-migration"],
                    command: ["node", "--liftoff-only", ".gatehouse/build/migrate.js", "up", "--through", "020"],
                    triggers: ["sha"],
                    environment: { GATEHOUSE_RELEASE: "r1" },
                    logGroup: "kifu-logs",
                });
                return { exitCode: task.exitCode };
            },
        });
    } finally {
        Module._load = original;
    }
}

describe("one-off ECS task provider (serialized, against a stand-in ECS API)", () => {
    it("runs the task in the private subnets with the release id and succeeds on exit 0", async () => {
        const fake = fakeEcs({ exitCode: 0 });
        const run = await runTask(fake);
        assert.equal(run.outputs.exitCode, 0);
        const started = fake.sent[0].input;
        assert.deepEqual(started.networkConfiguration, { awsvpcConfiguration: { subnets: ["subnet-a"], securityGroups: ["sg-migration"], assignPublicIp: "DISABLED" } });
        assert.deepEqual(started.overrides.containerOverrides[0].environment, [{ name: "GATEHOUSE_RELEASE", value: "r1" }]);
        assert.equal(started.launchType, "FARGATE");
    });

    it("fails the release on a non-zero exit, naming the step and where its logs are", async () => {
        await assert.rejects(runTask(fakeEcs({ exitCode: 1 })), /migration 020_guided_review\.sql failed \(exit 1: Essential container in task exited\); later steps did not run\. Logs: CloudWatch group kifu-logs, stream app\/app\/0f1e2d/);
    });

    it("fails clearly when ECS cannot start the task", async () => {
        await assert.rejects(runTask(fakeEcs({ started: false })), /migration 020_guided_review\.sql: ECS did not start the task \(arn:task-def RESOURCE:MEMORY\); nothing ran/);
    });

    it("is serialized without capturing the AWS SDK (it is required at run time)", async () => {
        const run = await runStack("prod", { program: async () => ({ t: new OneOffTask("t", { description: "d", region: "r", cluster: "c", taskDefinition: "t", subnets: [], securityGroups: [], command: [], triggers: [], logGroup: "l" }).urn }) });
        const provider: string = run.get("pulumi-nodejs:dynamic/gatehouse:OneOffTask", "t").inputs.__provider;
        assert.match(provider, /require\("@aws-sdk\/client-ecs"\)/);
        assert.ok(!provider.includes("ECSClient.prototype"), "the SDK is not serialized into the state");
    });
});
