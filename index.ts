import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { readConfig } from "./components/config";
import { App } from "./components/app";
import { LocalTarget, localDatabaseUrl } from "./components/local/localTarget";
import { planRelease } from "./components/release/plan";

// Pulumi runs an exported function as the program; tests call it once per test
// under fresh mocks. Config -> components -> outputs, nothing else.
export = async function gatehouse() {
    const config = readConfig();
    // AWS: the promotions so far (an SSM parameter) tell a new release from a return to an earlier one.
    // Loaded only for AWS stacks: the local target's every preview and up would otherwise pay for it.
    const aws = config.target === "aws" ? await import("./components/aws/releaseLedger") : undefined;
    const history = aws ? await aws.readReleaseHistory(config.app) : undefined;
    const awsRollback = aws && history ? { returning: aws.releaseKind(config, history).returning, lines: aws.awsRollbackPlanLines(config, history) } : undefined;
    // The review step: fails preview on an unreviewed destructive migration, prints the plan.
    const plan = await planRelease(config, config.target === "local" ? localDatabaseUrl(config) : undefined, awsRollback);
    if (pulumi.runtime.isDryRun()) pulumi.log.info(plan.text);
    const app = new App(config.app, { config });
    const outputs = {
        app: config.app,
        release: config.release,
        target: config.target,
        envNames: app.envNames,
        releasePlan: plan.text,
        releaseGraph: plan.mermaid,
    };
    if (config.target === "local") {
        // A return to a promoted release with nothing to migrate is a switch: the snapshot it took then is the one to keep.
        const switchOnly = plan.rollback && plan.pending === 0 && plan.rollbackSnapshot && fs.existsSync(path.resolve(config.projectDir, plan.rollbackSnapshot)) ? { snapshotFile: plan.rollbackSnapshot } : undefined;
        const local = new LocalTarget(config.app, { config, rollback: plan.rollback, switchOnly }, { parent: app });
        return {
            ...outputs,
            appUrl: local.appUrl,
            ...(local.frontendUrl ? { frontendUrl: local.frontendUrl } : {}),
            snapshotFile: local.pipeline.snapshotFile,
            migrationFiles: local.pipeline.migrationFiles,
            gateReport: local.pipeline.gate.report,
        };
    }
    const { AwsPlatform } = await import("./components/aws/platform");
    const platform = new AwsPlatform(config.app, { config, region: new pulumi.Config("aws").require("region"), history: history ?? [] }, { parent: app });
    return {
        ...outputs,
        appUrl: platform.url,
        liveSlot: config.aws.liveSlot,
        snapshotId: platform.snapshotId,
        loadBalancerDns: platform.loadBalancerDns,
        alarmTopicArn: platform.alarmTopicArn,
    };
};
