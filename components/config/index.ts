import * as pulumi from "@pulumi/pulumi";
import { ConfigError } from "./problems";
import * as path from "path";
import { PROJECT_FILE, readProjectFile } from "./declarations";
import { Settings, validateConfig } from "./validate";
import { databaseUrlForApp } from "./databaseUrl";

export { ConfigError, ConfigProblem } from "./problems";
export { Role, ROLES, ServiceSettings, Settings, ReleaseSettings, MigrationSettings, CommandMigrationSettings, LocalSettings, LocalHost, AwsSettings, Slot, validateConfig, neededSecrets, secretsNamedByStackFile } from "./validate";
export { readProjectFile, PROJECT_FILE } from "./declarations";
export { databaseUrlForApp } from "./databaseUrl";

/** The stack's validated configuration; secret values only as Pulumi secrets. */
export interface GatehouseConfig extends Settings {
    secrets: Record<string, pulumi.Output<string>>;
    /** Absolute path of the project (relative config paths start here). */
    projectDir: string;
    /** localDatabaseUrl as a secret, when set. */
    localDatabaseUrl?: pulumi.Output<string>;
    /** localRedisUrl as a secret, when set (up:local sets it for stacks with redisEnabled). */
    localRedisUrl?: pulumi.Output<string>;
    /** localHostPrivateKey as a secret, when localHost is an SSH host. */
    localHostPrivateKey?: pulumi.Output<string>;
}

// The SDK keeps "which keys were stored encrypted" behind this internal
// function; the public Config API marks any value secret on request and so
// cannot tell an operator's plaintext JWT_SECRET from an encrypted one.
const { isConfigSecret } = require("@pulumi/pulumi/runtime/config") as { isConfigSecret(key: string): boolean };

/**
 * Reads the stack's configuration, validates all of it, and throws one
 * ConfigError listing every problem with the command that fixes it.
 */
export function readConfig(): GatehouseConfig {
    const project = readProjectFile();
    const prefix = `${project.name}:`;
    const values: Record<string, string> = {};
    const secretKeys = new Set<string>();
    for (const [fullKey, value] of Object.entries(pulumi.runtime.allConfig())) {
        if (!fullKey.startsWith(prefix)) continue;
        const key = fullKey.slice(prefix.length);
        values[key] = value;
        if (isConfigSecret(fullKey)) secretKeys.add(key);
    }
    const stack = pulumi.getStack();
    const projectDir = path.dirname(PROJECT_FILE);
    const { settings, problems } = validateConfig({ stack, project, values, secretKeys, projectDir });
    if (problems.length > 0) throw new ConfigError(stack, problems);
    // A deliberate break of a production rule is never silent: every preview and update says so.
    for (const o of settings.productionOverrides) pulumi.log.warn(`production rule overridden: ${o.rule} (${o.where}); reason: ${o.reason}`);
    // So is a declared app defect the gate will not fail on.
    for (const d of settings.knownDefects) pulumi.log.warn(`known app defect declared (gateKnownDefects): "${d.check}" answering ${d.status} with ${d.contains} does not fail the gate; reason: ${d.reason}`);

    const config = new pulumi.Config(project.name);
    const secrets = Object.fromEntries(settings.secretNames.map((name) => [name, config.requireSecret(name)]));
    const localDatabaseUrl = settings.local.externalDatabase ? config.requireSecret("localDatabaseUrl") : undefined;
    const localRedisUrl = values.localRedisUrl ? config.requireSecret("localRedisUrl") : undefined;
    const localHostPrivateKey = settings.local.host.kind === "ssh" ? config.requireSecret("localHostPrivateKey") : undefined;
    return { ...settings, secrets, projectDir, localDatabaseUrl, localRedisUrl, localHostPrivateKey };
}

/**
 * The database URL in the app's form (databaseUrlForApp with the stack's
 * databaseUrlScheme), for a URL that may not be known yet. Stays secret when
 * the URL is: an Output keeps its secret flag through `apply`.
 */
export function appDatabaseUrl(config: Pick<Settings, "databaseUrlScheme">, url: pulumi.Input<string>): pulumi.Output<string> {
    return pulumi.output(url).apply((u) => databaseUrlForApp(u, config.databaseUrlScheme));
}

/**
 * The env the frontend gets for the backend it calls: apiBaseUrlEnv set to the
 * backend's public URL with apiBaseUrlPath (kifu's client wants .../api), or
 * nothing where the stack names no such env. One place for the local edge's
 * URL and the load balancer's, for the slots and for the gate that compares it.
 */
export function frontendApiEnv(config: Pick<Settings, "apiBaseUrlEnv" | "apiBaseUrlPath">, backendPublicUrl: pulumi.Input<string>): Record<string, pulumi.Input<string>> {
    return config.apiBaseUrlEnv ? { [config.apiBaseUrlEnv]: pulumi.interpolate`${backendPublicUrl}${config.apiBaseUrlPath}` } : {};
}
