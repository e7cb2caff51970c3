import * as pulumi from "@pulumi/pulumi";
import { readConfig } from "./components/config";
import { App } from "./components/app";
import { LocalTarget, localDatabaseUrl } from "./components/local/localTarget";
import { planRelease } from "./components/release/plan";

// Pulumi runs an exported function as the program; tests call it once per test
// under fresh mocks. Config -> components -> outputs, nothing else.
export = async function gatehouse() {
    const config = readConfig();
    // The review step: fails preview on an unreviewed destructive migration, prints the plan.
    const plan = await planRelease(config, config.target === "local" ? localDatabaseUrl(config) : undefined);
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
        const local = new LocalTarget(config.app, { config }, { parent: app });
        return {
            ...outputs,
            appUrl: local.appUrl,
            snapshotFile: local.pipeline.snapshotFile,
            migrationFiles: local.pipeline.migrationFiles,
            gateReport: local.pipeline.gate.report,
        };
    }
    // Loaded only for AWS stacks: the local target's every preview and up would otherwise pay for it.
    const { AwsPlatform } = await import("./components/aws/platform");
    const platform = new AwsPlatform(config.app, { config, region: new pulumi.Config("aws").require("region") }, { parent: app });
    return {
        ...outputs,
        appUrl: platform.url,
        liveSlot: config.aws.liveSlot,
        snapshotId: platform.snapshotId,
        loadBalancerDns: platform.loadBalancerDns,
        alarmTopicArn: platform.alarmTopicArn,
    };
};
