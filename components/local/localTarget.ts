import * as command from "@pulumi/command";
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { GatehouseConfig, appDatabaseUrl } from "../config";
import { ReleasePipeline, gatehouseCli, lastLine } from "../release/pipeline";
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
 * The whole release on one machine, shaped like production: an edge on
 * localAppPort forwards to the live one of two slots (localAppPort+1, +2);
 * a release starts on the idle slot, is gated there, and only then does the
 * edge switch; the previous release keeps running as standby, so returning to
 * the previous config is a switch. PostgreSQL from localDatabaseUrl or the
 * embedded one. State for it lives in .gatehouse/<stack>/.
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
                deploy: (after) => {
                    const deployed = this.deployApp(name, config, databaseUrl, after);
                    // The slot's own address (the local counterpart of AWS's test listener).
                    return { resources: [deployed], candidateUrl: deployed.stdout.apply(lastLine) };
                },
                promote: (after, snapshotFile, candidateUrl) => this.promote(name, config, after, snapshotFile, candidateUrl),
            },
            { parent: this },
        );
        this.registerOutputs({ appUrl: this.appUrl });
    }

    /**
     * Starts the release on the idle slot (the edge keeps serving the live one)
     * and answers with the slot's address, where the gate checks it. No
     * triggers: a new release is an update of this resource (its command
     * changed), so the delete command runs only when the stack is destroyed,
     * never between two releases.
     */
    private deployApp(name: string, config: GatehouseConfig, databaseUrl: pulumi.Input<string>, after: pulumi.Resource[]): command.local.Command {
        const backend = config.services.backend;
        // The URL in the form the app's driver needs (databaseUrlScheme), as on AWS.
        const environment: Record<string, pulumi.Input<string>> = { ...backend.env, [config.databaseUrlEnv]: pulumi.secret(appDatabaseUrl(config, databaseUrl)) };
        // The Redis up:local found or started (localRedisUrl), as on AWS the managed one.
        if (config.redis.enabled && config.localRedisUrl) environment[config.redis.urlEnv] = config.localRedisUrl;
        for (const secret of backend.secretEnv) environment[secret] = config.secrets[secret];
        const deploy = pulumi.interpolate`${gatehouseCli("local-app", ["deploy", ...this.slotArgs(config), "--release", config.release])} --fingerprint ${fingerprint(environment, config.local.appCommand)} -- ${config.local.appCommand}`;
        return new command.local.Command(
            `${name}-deploy`,
            {
                create: deploy,
                update: deploy,
                delete: gatehouseCli("local-app", ["stop", ...this.slotArgs(config)]),
                environment,
            },
            { parent: this, dependsOn: after },
        );
    }

    private slotArgs(config: GatehouseConfig): string[] {
        return ["--state-dir", this.stateDir, "--port", String(config.local.appPort), "--health-path", config.services.backend.healthPath ?? "/health"];
    }

    /**
     * After the gate: the edge switches to the candidate's slot and watches it
     * for the bake window (switching back if it turns unhealthy), then the
     * ledger records the release.
     */
    private promote(
        name: string,
        config: GatehouseConfig,
        after: pulumi.Resource[],
        snapshotFile: pulumi.Output<string>,
        _candidateUrl: pulumi.Input<string>,
    ): command.local.Command {
        const ledger = `${this.stateDir}/releases.jsonl`;
        const promoteCommand = config.local.promoteCommand ? ` -- ${config.local.promoteCommand}` : "";
        const switchEdge = gatehouseCli("local-app", ["switch", ...this.slotArgs(config), "--release", config.release, "--bake-seconds", String(config.releaseSteps.bakeSeconds)]);
        return new command.local.Command(
            `${name}-promote`,
            {
                create: pulumi.interpolate`${switchEdge} && ${gatehouseCli("promote", ["--ledger", ledger, "--release", config.release])} --snapshot ${snapshotFile} --base-url ${this.appUrl}${promoteCommand}`,
                triggers: [config.release],
            },
            { parent: this, dependsOn: after },
        );
    }
}

/**
 * Identifies what a slot runs beyond the release id: the start command and
 * the environment. A changed secret or env value is a new deployment even
 * under the same release id; the same config again (a rollback) finds the
 * standby that already runs it. The hash is one-way over values that include
 * secrets, so it is published as plain text on purpose.
 */
function fingerprint(environment: Record<string, pulumi.Input<string>>, appCommand: string): pulumi.Output<string> {
    return pulumi.unsecret(
        pulumi.all(environment).apply((env) => {
            const canonical = JSON.stringify([appCommand, Object.entries(env).sort(([a], [b]) => a.localeCompare(b))]);
            return crypto.createHash("sha256").update(canonical).digest("hex").slice(0, 16);
        }),
    );
}
