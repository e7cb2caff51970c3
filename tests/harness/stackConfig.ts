import * as crypto from "crypto";
import * as path from "path";
import { readProjectFile, secretsNamedByStackFile } from "../../components/config";
import { SecretFormat, generateSecret, parseSecretFormat } from "../../components/config/secretFormats";
import { parseYamlFile } from "../../components/config/yamlCache";

export const REPO_ROOT = path.join(__dirname, "..", "..");

export interface StackConfigOptions {
    /** Plain keys to set or replace, as the stack file would spell them (arrays stay arrays). */
    set?: Record<string, unknown>;
    /** Keys to drop from the stack file before loading. */
    remove?: string[];
    /** Secret values to use instead of generated test values (or in addition to them). */
    secrets?: Record<string, string>;
    /** Secrets the harness must not supply, as if the operator never set them. */
    omitSecrets?: string[];
    /** Keys to set in plaintext, as if the operator forgot `--secret`. */
    plaintext?: Record<string, string>;
}

export interface LoadedStack {
    stack: string;
    project: string;
    /** Full keys (`gatehouse:app`) to the strings the program receives. */
    config: Record<string, string>;
    /** Full keys whose values are secret. */
    secretKeys: string[];
    /** Secret env var name to the test value supplied for it. */
    secretValues: Record<string, string>;
}

/**
 * Loads Pulumi.yaml and Pulumi.<stack>.yaml the way the CLI does before it
 * starts the program: declared defaults applied, declared types checked,
 * missing required keys refused, and values turned into the strings the
 * program sees (lists as JSON). Secrets get generated test values, marked secret.
 */
/**
 * A production stack file names the app's own migrations in the app's
 * checkout beside the project (Pulumi.prod.yaml: ../kifu/backend/migrations),
 * which no test machine has: tests read the stand-in of those files instead
 * (tests/realApps.test.ts reads the real ones). A test may still set its own.
 */
const APP_CHECKOUT_STAND_INS: Record<string, string> = { "../kifu/backend/migrations": "demo/migrations" };

export function loadStackConfig(stack: string, options: StackConfigOptions = {}): LoadedStack {
    const project = readProjectFile(path.join(REPO_ROOT, "Pulumi.yaml"));
    const stackFile = path.join(REPO_ROOT, `Pulumi.${stack}.yaml`);
    const raw: Record<string, unknown> = { ...((parseYamlFile(stackFile) as { config?: Record<string, unknown> } | null)?.config ?? {}) };
    const prefix = `${project.name}:`;
    const full = (key: string) => (key.includes(":") ? key : prefix + key);

    const appFiles = raw[full("migrationsDir")];
    if (typeof appFiles === "string" && APP_CHECKOUT_STAND_INS[appFiles]) raw[full("migrationsDir")] = APP_CHECKOUT_STAND_INS[appFiles];
    for (const key of options.remove ?? []) delete raw[full(key)];
    for (const [key, value] of Object.entries(options.set ?? {})) raw[full(key)] = value;

    for (const [key, value] of Object.entries(raw)) {
        if (value !== null && typeof value === "object" && "secure" in (value as object)) {
            throw new Error(`${path.basename(stackFile)} holds an encrypted value for ${key}; stack files in the repo hold no secrets`);
        }
    }

    const missing: string[] = [];
    for (const [key, decl] of Object.entries(project.declarations)) {
        const value = raw[prefix + key];
        if (value === undefined) {
            if (decl.default === undefined) missing.push(key);
            else raw[prefix + key] = decl.default;
        } else if (!matchesDeclaredType(decl.type, value)) {
            throw new Error(`Stack '${stack}' with configuration key '${key}' must be of type '${decl.type}'`);
        }
    }
    if (missing.length > 0) {
        throw new Error(`Stack '${stack}' is missing configuration value(s) ${missing.map((k) => `'${k}'`).join(", ")}`);
    }

    const config: Record<string, string> = {};
    for (const [key, value] of Object.entries(raw)) config[key] = toConfigString(value);

    const names = secretsNamedByStackFile(raw, project.name);
    const formats = secretFormatsOf(raw[prefix + "secretFormats"]);
    const secretValues: Record<string, string> = {};
    for (const name of names) secretValues[name] = testSecretValue(name, formats.get(name));
    Object.assign(secretValues, options.secrets ?? {});
    for (const name of options.omitSecrets ?? []) delete secretValues[name];

    const secretKeys: string[] = [];
    for (const [name, value] of Object.entries(secretValues)) {
        config[full(name)] = value;
        secretKeys.push(full(name));
    }
    for (const [name, value] of Object.entries(options.plaintext ?? {})) {
        config[full(name)] = value;
        const at = secretKeys.indexOf(full(name));
        if (at >= 0) secretKeys.splice(at, 1);
        delete secretValues[name];
    }
    return { stack, project: project.name, config, secretKeys, secretValues };
}

const testSecrets = new Map<string, string>();

/**
 * A value no real config would contain, so a leak scan that finds it found a
 * leak. Stable per name within a test run, as an operator's secret is stable
 * between two `pulumi up`s.
 */
export function testSecretValue(name: string, format?: SecretFormat): string {
    // A secret with a declared form gets a random value in it (random enough that no real config contains it).
    if (!testSecrets.has(name)) testSecrets.set(name, format ? generateSecret(format) : `gh-test-${name.toLowerCase()}-${crypto.randomBytes(6).toString("hex")}`);
    return testSecrets.get(name)!;
}

function secretFormatsOf(entries: unknown): Map<string, SecretFormat> {
    const formats = new Map<string, SecretFormat>();
    for (const entry of Array.isArray(entries) ? entries : []) {
        const parsed = parseSecretFormat(String(entry));
        if (!("error" in parsed)) formats.set(parsed.name, parsed.format);
    }
    return formats;
}

function matchesDeclaredType(type: string, value: unknown): boolean {
    switch (type) {
        case "string":
            return typeof value === "string";
        case "integer":
            return Number.isInteger(value) || (typeof value === "string" && /^-?\d+$/.test(value));
        case "boolean":
            return typeof value === "boolean" || value === "true" || value === "false";
        case "array":
            return Array.isArray(value);
        default:
            return false;
    }
}

function toConfigString(value: unknown): string {
    return typeof value === "string" ? value : typeof value === "object" ? JSON.stringify(value) : String(value);
}
