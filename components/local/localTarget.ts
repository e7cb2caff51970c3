import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { GatehouseConfig } from "../config";
import { ReleasePipeline, gatehouseCli } from "../release/pipeline";
import { embeddedDatabaseUrl } from "./embeddedPostgres";

/**
 * The local database's URL as plain text, for the release plan's read-only
 * status query (the program never passes it to a resource in plaintext).
 */
export function localDatabaseUrl(config: GatehouseConfig): string {
    return config.local.externalDatabase
        ? pulumi.runtime.getConfig(`gatehouse:localDatabaseUrl`)!
        : embeddedDatabaseUrl(config.local.postgresPort, config.app);
}

export interface LocalTargetArgs {
    config: GatehouseConfig;
}

/**
 * The whole release on one machine: PostgreSQL from localDatabaseUrl or the
 * embedded one, the app (re)started by localAppCommand, promotion into a
 * release ledger. State for it lives in .gatehouse/<stack>/.
 */
export class LocalTarget extends pulumi.ComponentResource {
    readonly pipeline: ReleasePipeline;
    readonly appUrl: string;
    readonly stateDir: string;

    constructor(name: string, args: LocalTargetArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gatehouse:local:LocalTarget", name, {}, opts);
        const config = args.config;
        this.stateDir = `.gatehouse/${config.stack}`;
        this.appUrl = `http://127.0.0.1:${config.local.appPort}`;
        const databaseUrl = config.localDatabaseUrl ?? pulumi.secret(embeddedDatabaseUrl(config.local.postgresPort, config.app));

        this.pipeline = new ReleasePipeline(
            `${name}-release`,
            {
                release: config.release,
                databaseUrl,
                snapshotDir: `${this.stateDir}/snapshots`,
                steps: config.releaseSteps,
                deploy: (after) => ({ resources: [this.deployApp(name, config, databaseUrl, after)], candidateUrl: this.appUrl }),
                promote: (after, snapshotFile, candidateUrl) => this.promote(name, config, after, snapshotFile, candidateUrl),
            },
            { parent: this },
        );
        this.registerOutputs({ appUrl: this.appUrl });
    }

    private deployApp(name: string, config: GatehouseConfig, databaseUrl: pulumi.Input<string>, after: pulumi.Resource[]): command.local.Command {
        const backend = config.services.backend;
        const environment: Record<string, pulumi.Input<string>> = { ...backend.env, [config.databaseUrlEnv]: pulumi.secret(databaseUrl) };
        for (const secret of backend.secretEnv) environment[secret] = config.secrets[secret];
        const appArgs = ["--state-dir", this.stateDir, "--port", String(config.local.appPort)];
        return new command.local.Command(
            `${name}-deploy`,
            {
                create: `${gatehouseCli("local-app", ["deploy", ...appArgs, "--release", config.release])} -- ${config.local.appCommand}`,
                delete: gatehouseCli("local-app", ["stop", ...appArgs]),
                environment,
                triggers: [config.release],
            },
            // Stop the old app before the new one starts on the same port.
            { parent: this, dependsOn: after, deleteBeforeReplace: true },
        );
    }

    private promote(
        name: string,
        config: GatehouseConfig,
        after: pulumi.Resource[],
        snapshotFile: pulumi.Output<string>,
        candidateUrl: pulumi.Input<string>,
    ): command.local.Command {
        const ledger = `${this.stateDir}/releases.jsonl`;
        const promoteCommand = config.local.promoteCommand ? ` -- ${config.local.promoteCommand}` : "";
        return new command.local.Command(
            `${name}-promote`,
            {
                create: pulumi.interpolate`${gatehouseCli("promote", ["--ledger", ledger, "--release", config.release])} --snapshot ${snapshotFile} --base-url ${candidateUrl}${promoteCommand}`,
                triggers: [config.release],
            },
            { parent: this, dependsOn: after },
        );
    }
}
