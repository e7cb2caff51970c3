import * as path from "path";
import { bindGateSpec } from "../release/gateBinding";
import { KnownDefect, parseKnownDefects } from "../release/gateDefects";
import { checkAppFeatures, checkKnownDefects } from "./gateConfig";
import type { GateSpec } from "../release/gateSchema";
import { readGateSpec } from "../release/gateSpec";
import { MigrationFile, readMigrationDir } from "../release/migrationFiles";
import { readExpectations } from "../release/verify";
import { ConfigProblem, FixCommands } from "./problems";
import { DecodedValue, PROJECT_FILE, ProjectFile, decodeValue, readProjectFile } from "./declarations";
import { PlainConfig, configSchema } from "./schema";
import { formatProblem, generateCommand, parseSecretFormat } from "./secretFormats";

export type Role = "backend" | "worker" | "frontend";
export const ROLES: readonly Role[] = ["backend", "worker", "frontend"];

/** What one service gets: plain env, and the names it receives by reference. */
export interface ServiceSettings {
    role: Role;
    enabled: boolean;
    image: string;
    port: number | undefined;
    healthPath: string | undefined;
    command: string[];
    /** Shell command that exits 0 once the service is alive (workerHealthCommand; the worker's gate). */
    healthCommand: string;
    /** Plain env, guardrail flags included. Never a secret. */
    env: Record<string, string>;
    /** Env var names whose values are secrets (config secrets), given by reference. */
    secretEnv: string[];
    /** Env var names Gatehouse fills in from what it provisions (database, cache, backend URL). */
    derivedEnv: string[];
}

/** The validated configuration, everything but secret values. */
export interface Settings {
    stack: string;
    app: string;
    target: PlainConfig["target"];
    environment: PlainConfig["environment"];
    release: string;
    services: Record<Role, ServiceSettings>;
    databaseUrlEnv: string;
    /** Scheme of the database URL the app gets (databaseUrlForApp), e.g. postgresql+psycopg. */
    databaseUrlScheme: string;
    redis: { enabled: boolean; urlEnv: string };
    apiBaseUrlEnv: string;
    /** Appended to the backend's public URL in apiBaseUrlEnv (kifu: /api). */
    apiBaseUrlPath: string;
    guardrails: {
        llmEnabled: boolean;
        ruleFallbackForced: boolean;
        notificationSendCap: number;
        /** The env var that carries each guardrail to the app; "" = none does. */
        env: { llmEnabled: string; ruleFallbackForced: string; notificationSendCap: string };
    };
    /** Checklist items the deployed version does not support yet, "item: why" (the plan lists them). */
    checklistGaps: string[];
    /** Every secret config key the stack needs, sorted. */
    secretNames: string[];
    /** Production rules this stack breaks on purpose (productionOverrides): logged, and listed by the plan. */
    productionOverrides: ProductionOverride[];
    /** The app's acknowledged defects the gates report instead of failing on (gateKnownDefects): listed by the plan. */
    knownDefects: KnownDefect[];
    releaseSteps: ReleaseSettings;
    local: LocalSettings;
    aws: AwsSettings;
}

export type Slot = "blue" | "green";

export interface AwsSettings {
    liveSlot: Slot;
    /** Image per slot after this release: the live slot runs the new image, the standby keeps the previous one. */
    backendImages: Record<Slot, string>;
    frontendImages: Record<Slot, string>;
    desiredCount: Record<Role, number>;
    vpcCidr: string;
    availabilityZones: string[];
    publicHostname: string;
    certificateArn: string;
    gateSourceCidrs: string[];
    database: { instanceClass: string; allocatedStorage: number; multiAz: boolean; engineVersion: string };
    redis: { nodeType: string; failover: boolean };
    migrationRunnerImage: string;
    alertEmail: string;
}

export type MigrationSettings =
    | { mode: "runner"; dir: string; files: MigrationFile[]; baseline?: string }
    | CommandMigrationSettings
    | { mode: "none" };

/** The app's own migration tool (e.g. alembic), and how Gatehouse checks what it did. */
export interface CommandMigrationSettings {
    mode: "command";
    command: string;
    /** The revision the database must be at afterwards. */
    head: string;
    /** Reverts one revision (alembic downgrade -1); where set, the rehearsal runs the upgrade -> downgrade -> upgrade round trip. */
    downCommand: string;
    /** Prints the tool's revision history (alembic history); empty = not checked. */
    historyCommand: string;
    /** Where the tool records the database's revision. */
    revision: { table: string; column: string };
    /** The env var and scheme the command gets the database URL in (the app's own). */
    databaseUrl: { env: string; scheme: string };
}

/** A production rule broken deliberately for an incident. */
export interface ProductionOverride {
    /** The env var, e.g. NEXT_PUBLIC_APP_MODE. */
    name: string;
    /** Where it is set, e.g. frontendEnv[0]. */
    where: string;
    /** The rule it breaks and the value it has instead. */
    rule: string;
    /** Why, from productionOverrides: the incident and who decided. */
    reason: string;
}

export interface ReleaseSettings {
    migrations: MigrationSettings;
    rehearsal: boolean;
    /** Absolute path of the schema expectations file, if any. */
    expectationsFile?: string;
    gate: GateSpec;
    /** The frontend's gate (frontendGateSpec, or GET frontendHealthPath twice), bound to the frontend's env. */
    frontendGate: GateSpec;
    /** The build the frontend must serve (frontendBuildId, else the release id). */
    frontendBuildId: string;
    snapshotKeep: number;
    /**
     * Bake window: seconds the promoted version is watched before the update
     * succeeds (local: probes; aws: the live slots' alarms); 0 = off. Both
     * targets switch back to the previous version when it turns bad.
     */
    bakeSeconds: number;
}

export interface LocalSettings {
    /** True when localDatabaseUrl is set (read it as a secret); false means the embedded PostgreSQL. */
    externalDatabase: boolean;
    postgresPort: number;
    appCommand: string;
    appPort: number;
    promoteCommand: string;
    /** The frontend's start command and edge port (its slots use the next two); used when frontendEnabled. */
    frontend: { command: string; port: number };
    /** The worker's start command; used when workerEnabled. */
    workerCommand: string;
    /** Where the slots, edges and workers run (localHost); the key is read as a secret (localHostPrivateKey). */
    host: LocalHost;
}

export type LocalHost = { kind: "this-machine" } | { kind: "ssh"; user: string; hostname: string; port: number; projectDir: string };

export interface ConfigInput {
    stack: string;
    project: ProjectFile;
    /** Project-namespace config as Pulumi hands it over: key (no `project:` prefix) to string. */
    values: Record<string, string>;
    /** Project-namespace keys whose values are stored encrypted. */
    secretKeys: ReadonlySet<string>;
    /** Where relative paths in config (migrationsDir, gateSpec, ...) start. */
    projectDir: string;
}

// Names that hold credentials by convention. A plain value under such a name is
// almost always a secret typed into the wrong list.
const LOOKS_SECRET = /(SECRET|PASSWORD|PASSWD|TOKEN|API_KEY|PRIVATE_KEY|ENC_KEY|CREDENTIAL)/;
const BROWSER_VISIBLE = /^NEXT_PUBLIC_/;

/**
 * Checks a stack's whole configuration and reports every problem at once.
 * Pure: tests call it with plain maps, the program with Pulumi's config.
 */
export function validateConfig(input: ConfigInput): { settings: Settings; problems: ConfigProblem[] } {
    const fix = new FixCommands(input.stack);
    const problems: ConfigProblem[] = [];
    const cfg = decodeAll(input, fix, problems);
    const services = collectServices(cfg);

    checkServiceEnv(cfg, services, fix, problems);
    const productionOverrides = checkProductionRules(cfg, services, fix, problems);
    checkAwsTarget(cfg, fix, problems);

    const secretNames = neededSecrets(cfg);
    checkSecretValues(input, secretNames, fix, problems);
    checkSecretFormats(input, cfg.secretFormats, secretNames, fix, problems);
    // Read first, reported after the unknown keys as before: the gate spec names secret keys of its own.
    const releaseProblems: ConfigProblem[] = [];
    const releaseSteps = readReleaseSettings(input, cfg, fix, releaseProblems);
    const gateSecrets = bindGateToStack(input, cfg, services, releaseSteps, fix, releaseProblems);
    checkUnknownKeys(input, cfg, fix, problems, gateSecrets);
    problems.push(...releaseProblems);
    checkLocalTarget(input, cfg, fix, problems);

    return {
        problems,
        settings: {
            stack: input.stack,
            app: cfg.app,
            target: cfg.target,
            environment: cfg.environment,
            release: cfg.release,
            services: Object.fromEntries(services.map((s) => [s.role, s.settings])) as Record<Role, ServiceSettings>,
            databaseUrlEnv: cfg.databaseUrlEnv,
            databaseUrlScheme: cfg.databaseUrlScheme,
            redis: { enabled: cfg.redisEnabled, urlEnv: cfg.redisUrlEnv },
            apiBaseUrlEnv: cfg.apiBaseUrlEnv,
            apiBaseUrlPath: cfg.apiBaseUrlPath,
            guardrails: {
                llmEnabled: cfg.llmEnabled,
                ruleFallbackForced: cfg.ruleFallbackForced,
                notificationSendCap: cfg.notificationSendCap,
                env: { llmEnabled: cfg.llmEnabledEnv, ruleFallbackForced: cfg.ruleFallbackEnv, notificationSendCap: cfg.notificationSendCapEnv },
            },
            checklistGaps: cfg.checklistGaps,
            secretNames,
            productionOverrides,
            knownDefects: parseKnownDefects(cfg.gateKnownDefects),
            releaseSteps,
            aws: {
                liveSlot: cfg.liveSlot,
                backendImages: slotImages(cfg.liveSlot, cfg.backendImage, cfg.backendStandbyImage),
                frontendImages: slotImages(cfg.liveSlot, cfg.frontendImage, cfg.frontendStandbyImage),
                desiredCount: { backend: cfg.backendDesiredCount, frontend: cfg.frontendDesiredCount, worker: cfg.workerDesiredCount },
                vpcCidr: cfg.vpcCidr,
                availabilityZones: cfg.availabilityZones,
                publicHostname: cfg.publicHostname,
                certificateArn: cfg.certificateArn,
                gateSourceCidrs: cfg.gateSourceCidrs,
                database: { instanceClass: cfg.dbInstanceClass, allocatedStorage: cfg.dbAllocatedStorage, multiAz: cfg.dbMultiAz, engineVersion: cfg.dbEngineVersion },
                redis: { nodeType: cfg.redisNodeType, failover: cfg.redisFailover },
                migrationRunnerImage: cfg.migrationRunnerImage,
                alertEmail: cfg.alertEmail,
            },
            local: {
                externalDatabase: cfg.localDatabaseUrl !== "",
                postgresPort: cfg.localPostgresPort,
                appCommand: cfg.localAppCommand,
                appPort: cfg.localAppPort,
                promoteCommand: cfg.localPromoteCommand,
                frontend: { command: cfg.localFrontendCommand, port: cfg.localFrontendPort },
                workerCommand: cfg.localWorkerCommand,
                host: localHost(cfg),
            },
        },
    };
}

function slotImages(live: Slot, image: string, standby: string): Record<Slot, string> {
    const other: Slot = live === "blue" ? "green" : "blue";
    return { [live]: image, [other]: standby || image } as Record<Slot, string>;
}

/** Reads the files the release steps use, turning each file's error into a problem on its key. */
function readReleaseSettings(input: ConfigInput, cfg: PlainConfig, fix: FixCommands, problems: ConfigProblem[]): ReleaseSettings {
    const resolve = (p: string) => path.resolve(input.projectDir, p);
    const attempt = <T>(key: string, value: string, read: () => T): T | undefined => {
        try {
            return read();
        } catch (err: any) {
            problems.push({ key, problem: err.message.split("\n").join("\n        "), fix: fix.set(key, value || "<file>") });
            return undefined;
        }
    };
    let migrations: MigrationSettings = { mode: "none" };
    if (cfg.migrationMode === "runner" && !cfg.migrationsDir) {
        // No default: a runner-mode app that forgot it would silently get another app's files.
        problems.push({
            key: "migrationsDir",
            problem: "is required while migrationMode is runner: the directory of the app's own NNN_name.sql files, from the checkout of the release (e.g. ../kifu/backend/migrations)",
            fix: fix.set("migrationsDir", "<the app's checkout>/<its migrations directory>"),
        });
    } else if (cfg.migrationMode === "runner") {
        const files = attempt("migrationsDir", cfg.migrationsDir, () => readMigrationDir(resolve(cfg.migrationsDir))) ?? [];
        migrations = { mode: "runner", dir: cfg.migrationsDir, files, baseline: cfg.migrationBaseline || undefined };
    } else if (cfg.migrationMode === "command") {
        if (!cfg.migrationCommand) {
            problems.push({ key: "migrationCommand", problem: "is required while migrationMode is command", fix: fix.set("migrationCommand", "'<command>'") });
        }
        if (!cfg.migrationHead) {
            problems.push({
                key: "migrationHead",
                problem: "is required while migrationMode is command: the revision the database must be at afterwards (e.g. alembic heads prints it); the command's exit code alone cannot tell",
                fix: fix.set("migrationHead", "<revision>"),
            });
        }
        migrations = {
            mode: "command",
            command: cfg.migrationCommand,
            head: cfg.migrationHead,
            downCommand: cfg.migrationDownCommand,
            historyCommand: cfg.migrationHistoryCommand,
            revision: { table: cfg.migrationRevisionTable, column: cfg.migrationRevisionColumn },
            databaseUrl: { env: cfg.databaseUrlEnv, scheme: cfg.databaseUrlScheme },
        };
    }
    const expectationsFile = cfg.schemaExpectations ? resolve(cfg.schemaExpectations) : undefined;
    if (expectationsFile) attempt("schemaExpectations", cfg.schemaExpectations, () => readExpectations(expectationsFile));
    const gate: GateSpec = (cfg.gateSpec ? attempt("gateSpec", cfg.gateSpec, () => readGateSpec(resolve(cfg.gateSpec))) : undefined) ?? {
        deadlineSeconds: 60,
        intervalMs: 250,
        checks: [{ name: "health", request: { method: "GET", path: cfg.backendHealthPath }, expect: { status: 200 }, repeat: 2 }],
    };
    const frontendGate: GateSpec = (cfg.frontendGateSpec ? attempt("frontendGateSpec", cfg.frontendGateSpec, () => readGateSpec(resolve(cfg.frontendGateSpec))) : undefined) ?? {
        deadlineSeconds: 60,
        intervalMs: 500,
        checks: [{ name: "frontend", request: { method: "GET", path: cfg.frontendHealthPath }, expect: { status: 200 }, repeat: 2 }],
    };
    return { migrations, rehearsal: cfg.rehearsal, expectationsFile, gate, frontendGate, frontendBuildId: cfg.frontendBuildId || cfg.release, snapshotKeep: cfg.snapshotKeep, bakeSeconds: cfg.bakeSeconds };
}

/**
 * Binds the gate spec to this stack (the facts its `when`s read: config keys
 * and the backend's plain env) and checks the secrets its vars need here.
 * Returns every secret key the spec names, which are Gatehouse keys of this stack.
 */
function bindGateToStack(input: ConfigInput, cfg: PlainConfig, services: ServiceDraft[], steps: ReleaseSettings, fix: FixCommands, problems: ConfigProblem[]): string[] {
    const backend = services.find((s) => s.role === "backend")!.settings;
    const bound = bindGateSpec(steps.gate, { config: cfg, env: backend.env, hiddenEnv: [...backend.secretEnv, ...backend.derivedEnv], derivedEnv: backend.derivedEnv });
    steps.gate = bound.spec;
    for (const problem of bound.problems) problems.push({ key: "gateSpec", problem: `${cfg.gateSpec}: ${problem}`, fix: `edit ${cfg.gateSpec}` });
    const frontend = services.find((s) => s.role === "frontend")!.settings;
    const frontendBound = bindGateSpec(steps.frontendGate, {
        config: { ...cfg, frontendBuildId: steps.frontendBuildId },
        env: frontend.env,
        hiddenEnv: [...frontend.secretEnv, ...frontend.derivedEnv],
        derivedEnv: frontend.derivedEnv,
    });
    steps.frontendGate = frontendBound.spec;
    if (frontend.enabled) for (const problem of frontendBound.problems) problems.push({ key: "frontendGateSpec", problem: `${cfg.frontendGateSpec}: ${problem}`, fix: `edit ${cfg.frontendGateSpec}` });
    checkSecretValues(input, frontend.enabled ? [...new Set([...bound.secrets, ...frontendBound.secrets])] : bound.secrets, fix, problems);
    const specs = frontend.enabled ? [{ file: cfg.gateSpec, spec: steps.gate }, { file: cfg.frontendGateSpec, spec: steps.frontendGate }] : [{ file: cfg.gateSpec, spec: steps.gate }];
    checkAppFeatures(cfg, specs, fix, problems);
    checkKnownDefects(cfg, specs, fix, problems);
    return [...new Set([...bound.allSecrets, ...frontendBound.allSecrets])];
}

function checkLocalTarget(input: ConfigInput, cfg: PlainConfig, fix: FixCommands, problems: ConfigProblem[]): void {
    if (cfg.localDatabaseUrl && !input.secretKeys.has("localDatabaseUrl")) {
        let password = "";
        try {
            password = new URL(cfg.localDatabaseUrl).password;
        } catch {
            // the schema already reported a malformed URL
        }
        if (password) {
            problems.push({ key: "localDatabaseUrl", problem: "holds a password in plaintext; set it as a secret", fix: fix.setSecret("localDatabaseUrl") });
        }
    }
    if (cfg.localRedisUrl && !input.secretKeys.has("localRedisUrl")) {
        problems.push({ key: "localRedisUrl", problem: "is a connection string; set it as a secret", fix: fix.setSecret("localRedisUrl") });
    }
    if (cfg.target === "local" && !cfg.localAppCommand) {
        problems.push({ key: "localAppCommand", problem: "is required on the local target (the command that starts the app)", fix: fix.set("localAppCommand", "'<command>'") });
    }
    checkLocalHost(input, cfg, fix, problems);
}

function checkLocalHost(input: ConfigInput, cfg: PlainConfig, fix: FixCommands, problems: ConfigProblem[]): void {
    const keyFix = fix.setSecretFromFile("localHostPrivateKey", "<private key file>");
    if (cfg.localHostPrivateKey && !input.secretKeys.has("localHostPrivateKey")) {
        problems.push({ key: "localHostPrivateKey", problem: "is an SSH private key stored in plaintext; set it as a secret", fix: keyFix });
    }
    if (!cfg.localHost) return;
    if (!parseSshUrl(cfg.localHost)) {
        problems.push({ key: "localHost", problem: `must be ssh://user@host[:port] (or empty for this machine), got ${JSON.stringify(cfg.localHost)}`, fix: fix.set("localHost", "ssh://<user>@<host>") });
    } else if (!cfg.localHostPrivateKey) {
        problems.push({ key: "localHostPrivateKey", problem: `is required when localHost is set (the SSH key for ${cfg.localHost})`, fix: keyFix });
    }
}

/** ssh://user@host[:port] (port 22 unless given), or undefined when the value is not of that form. */
export function parseSshUrl(value: string): { user: string; hostname: string; port: number } | undefined {
    let url: URL;
    try {
        url = new URL(value);
    } catch {
        return undefined;
    }
    const bare = url.pathname === "" || url.pathname === "/";
    if (url.protocol !== "ssh:" || !url.username || url.password || !url.hostname || !bare || url.search || url.hash) return undefined;
    return { user: decodeURIComponent(url.username), hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"), port: url.port ? Number(url.port) : 22 };
}

function localHost(cfg: PlainConfig): LocalHost {
    const ssh = cfg.localHost ? parseSshUrl(cfg.localHost) : undefined;
    return ssh ? { kind: "ssh", ...ssh, projectDir: cfg.localHostProjectDir } : { kind: "this-machine" };
}

/**
 * Decodes and checks each declared key on its own, so one bad key does not hide
 * the others. A bad key falls back to its declared default for the checks that
 * follow (its own problem is already reported).
 */
function decodeAll(input: ConfigInput, fix: FixCommands, problems: ConfigProblem[]): PlainConfig {
    const decoded: Record<string, unknown> = {};
    const shape = configSchema.shape as Record<string, any>;
    for (const [key, decl] of Object.entries(input.project.declarations)) {
        const raw = input.values[key];
        let value: DecodedValue | undefined;
        if (raw === undefined) {
            if (decl.default === undefined) {
                problems.push({ key, problem: `is required: ${decl.description}`, fix: fix.set(key, "<value>") });
            }
            value = decl.default as DecodedValue | undefined;
        } else {
            const result = decodeValue(decl.type, raw);
            if ("error" in result) {
                problems.push({ key, problem: result.error, fix: fix.set(key, exampleFor(decl.type)) });
                value = decl.default as DecodedValue | undefined;
            } else {
                value = result.value;
            }
        }
        if (decl.secret && raw !== undefined && !input.secretKeys.has(key)) {
            problems.push({ key, problem: "is a secret but is stored in plaintext", fix: fix.setSecret(key) });
        }
        const rule = shape[key];
        if (!rule) {
            throw new Error(`Pulumi.yaml declares "${key}" but components/config/schema.ts has no rule for it`);
        }
        const checked = rule.safeParse(value);
        if (checked.success) {
            decoded[key] = checked.data;
        } else if (value !== undefined) {
            for (const issue of checked.error.issues) {
                const where = issueKey(key, issue.path);
                problems.push({ key: where, problem: issue.message, fix: fixForIssue(fix, key, where, rule) });
            }
            const fallback = rule.safeParse(decl.default);
            decoded[key] = fallback.success ? fallback.data : undefined;
        }
    }
    for (const key of Object.keys(shape)) {
        if (!(key in input.project.declarations)) {
            throw new Error(`components/config/schema.ts has a rule for "${key}" but Pulumi.yaml does not declare it`);
        }
    }
    return decoded as PlainConfig;
}

function issueKey(key: string, path: PropertyKey[]): string {
    return path.reduce<string>((acc, part) => (typeof part === "number" ? `${acc}[${part}]` : `${acc}.${String(part)}`), key);
}

function fixForIssue(fix: FixCommands, key: string, where: string, rule: any): string {
    if (where !== key) return fix.setPath(where, "<value>");
    const options: string[] | undefined = rule.options;
    return fix.set(key, options ? `<${options.join("|")}>` : "<value>");
}

function exampleFor(type: string): string {
    return type === "integer" ? "<number>" : type === "boolean" ? "<true|false>" : "<value>";
}

/** A service's env as the stack file spells it, with each entry's position for fix commands. */
interface ServiceDraft {
    role: Role;
    settings: ServiceSettings;
    envEntries: { name: string; value: string; index: number }[];
    secretList: string[];
    requiredEnv: string[];
}

function collectServices(cfg: PlainConfig): ServiceDraft[] {
    const guardrailEnv: Record<string, string> = {};
    if (cfg.llmEnabledEnv) guardrailEnv[cfg.llmEnabledEnv] = String(cfg.llmEnabled);
    if (cfg.ruleFallbackEnv) guardrailEnv[cfg.ruleFallbackEnv] = String(cfg.ruleFallbackForced);
    if (cfg.notificationSendCapEnv) guardrailEnv[cfg.notificationSendCapEnv] = String(cfg.notificationSendCap);

    const draft = (
        role: Role,
        enabled: boolean,
        image: string,
        port: number | undefined,
        healthPath: string | undefined,
        command: string[],
        envList: string[] = [],
        secretList: string[] = [],
        requiredEnv: string[] = [],
    ): ServiceDraft => {
        const envEntries = envList.map((entry, index) => {
            const at = entry.indexOf("=");
            return { name: entry.slice(0, at), value: entry.slice(at + 1), index };
        });
        // The frontend gets the backend's URL; backend and worker get the data layer's.
        const derivedEnv =
            role === "frontend"
                ? cfg.apiBaseUrlEnv ? [cfg.apiBaseUrlEnv] : []
                : [cfg.databaseUrlEnv, ...(cfg.redisEnabled ? [cfg.redisUrlEnv] : [])];
        const env: Record<string, string> = {};
        for (const e of envEntries) env[e.name] = e.value;
        if (role !== "frontend") Object.assign(env, guardrailEnv);
        const secretEnv = [...secretList];
        if (role === "backend" || role === "worker") {
            if (cfg.llmEnabled) secretEnv.push(...cfg.llmProviderKeys.filter((k) => !secretEnv.includes(k)));
        }
        return {
            role,
            envEntries,
            secretList,
            requiredEnv,
            settings: { role, enabled, image, port, healthPath, command, healthCommand: role === "worker" ? cfg.workerHealthCommand : "", env, secretEnv, derivedEnv },
        };
    };

    return [
        draft("backend", true, cfg.backendImage, cfg.backendPort, cfg.backendHealthPath, [], cfg.backendEnv, cfg.backendSecrets, cfg.backendRequiredEnv),
        draft("worker", cfg.workerEnabled, cfg.workerImage || cfg.backendImage, undefined, undefined, cfg.workerCommand ?? [], cfg.workerEnv, cfg.workerSecrets, cfg.workerRequiredEnv),
        draft("frontend", cfg.frontendEnabled, cfg.frontendImage, cfg.frontendPort, cfg.frontendHealthPath, [], cfg.frontendEnv, cfg.frontendSecrets, cfg.frontendRequiredEnv),
    ];
}

function checkServiceEnv(cfg: PlainConfig, services: ServiceDraft[], fix: FixCommands, problems: ConfigProblem[]): void {
    const guardrailNames = [cfg.llmEnabledEnv, cfg.ruleFallbackEnv, cfg.notificationSendCapEnv].filter(Boolean);
    for (const s of services) {
        const envKey = `${s.role}Env`;
        const secretsKey = `${s.role}Secrets`;
        const seen = new Set<string>();
        for (const e of s.envEntries) {
            const where = `${envKey}[${e.index}]`;
            if (seen.has(e.name)) {
                problems.push({ key: where, problem: `sets ${e.name} a second time`, fix: fix.removePath(where) });
            }
            seen.add(e.name);
            if (s.settings.derivedEnv.includes(e.name)) {
                problems.push({
                    key: where,
                    problem: `${e.name} is derived by Gatehouse (${derivedFrom(cfg, e.name)}); it must not be typed in`,
                    fix: fix.removePath(where),
                });
            } else if (s.role !== "frontend" && guardrailNames.includes(e.name)) {
                problems.push({
                    key: where,
                    problem: `${e.name} carries a release guardrail; set the guardrail key instead of the env var`,
                    fix: fix.removePath(where),
                });
            } else if (s.secretList.includes(e.name) || cfg.llmProviderKeys.includes(e.name)) {
                problems.push({
                    key: where,
                    problem: `${e.name} is a secret but this entry gives it a plaintext value`,
                    fix: fix.removePath(where),
                });
            } else if (LOOKS_SECRET.test(e.name) && !BROWSER_VISIBLE.test(e.name)) {
                problems.push({
                    key: where,
                    problem: `${e.name} looks like a secret but is set in plaintext; secrets come from encrypted config`,
                    fix: [
                        fix.removePath(where),
                        fix.setPath(`${secretsKey}[${s.secretList.length}]`, e.name),
                        fix.setSecret(e.name),
                    ].join(" && "),
                });
            }
            checkTypedValue(cfg, e, where, fix, problems);
        }
        s.secretList.forEach((name, index) => {
            const where = `${secretsKey}[${index}]`;
            if (s.settings.derivedEnv.includes(name)) {
                problems.push({
                    key: where,
                    problem: `${name} is derived by Gatehouse (${derivedFrom(cfg, name)}); it must not be typed in`,
                    fix: fix.removePath(where),
                });
            } else if (BROWSER_VISIBLE.test(name)) {
                problems.push({
                    key: where,
                    problem: `${name} is shipped to every browser, so it can never be a secret`,
                    fix: fix.removePath(where),
                });
            }
        });
        if (!s.settings.enabled) continue;
        const provided = new Set([
            ...Object.keys(s.settings.env),
            ...s.settings.secretEnv,
            ...s.settings.derivedEnv,
        ]);
        for (const name of s.requiredEnv) {
            if (provided.has(name)) continue;
            const addSecret = [fix.setPath(`${secretsKey}[${s.secretList.length}]`, name), fix.setSecret(name)].join(" && ");
            problems.push({
                key: `${s.role}RequiredEnv`,
                problem: `the ${s.role} requires ${name} but no plain, secret or derived value provides it`,
                fix: LOOKS_SECRET.test(name) ? addSecret : fix.setPath(`${envKey}[${s.envEntries.length}]`, `${name}=<value>`),
            });
        }
    }
}

function checkTypedValue(
    cfg: PlainConfig,
    e: { name: string; value: string },
    where: string,
    fix: FixCommands,
    problems: ConfigProblem[],
): void {
    if (cfg.integerEnv.includes(e.name) && !/^-?\d+$/.test(e.value)) {
        problems.push({
            key: where,
            problem: `${e.name} must be a whole number (integerEnv), got ${JSON.stringify(e.value)}`,
            fix: fix.setPath(where, `${e.name}=<number>`),
        });
    }
    if (cfg.booleanEnv.includes(e.name) && e.value !== "true" && e.value !== "false") {
        problems.push({
            key: where,
            problem: `${e.name} must be true or false (booleanEnv), got ${JSON.stringify(e.value)}`,
            fix: fix.setPath(where, `${e.name}=<true|false>`),
        });
    }
}

function derivedFrom(cfg: PlainConfig, name: string): string {
    if (name === cfg.databaseUrlEnv) return "the managed database's URL";
    if (name === cfg.redisUrlEnv) return "the managed Redis URL";
    return "the backend's public URL";
}

/**
 * The production rules (productionEnv, productionForbiddenEnv). A broken rule
 * is a problem unless productionOverrides names its variable with a reason:
 * then it is returned, to be logged and shown in the plan. An override that
 * breaks nothing is a problem too, so none outlives its incident.
 */
function checkProductionRules(cfg: PlainConfig, services: ServiceDraft[], fix: FixCommands, problems: ConfigProblem[]): ProductionOverride[] {
    const overrides = new Map(cfg.productionOverrides.map((entry, index) => [entry.slice(0, entry.indexOf(":")), { reason: entry.slice(entry.indexOf(":") + 1).trim(), index, used: false }]));
    const applied: ProductionOverride[] = [];
    const broken: { name: string; problem: ConfigProblem }[] = [];
    if (cfg.environment === "production") checkProductionEnv(cfg, services, fix, (name, problem) => broken.push({ name, problem }));
    for (const { name, problem } of broken) {
        const override = overrides.get(name);
        if (!override) {
            problems.push(problem);
            continue;
        }
        override.used = true;
        applied.push({ name, where: problem.key, rule: problem.problem, reason: override.reason });
    }
    for (const [name, o] of overrides) {
        if (o.used) continue;
        problems.push({
            key: `productionOverrides[${o.index}]`,
            problem: `${name} breaks no production rule${cfg.environment === "production" ? "" : ` (environment is ${cfg.environment})`}; remove the override`,
            fix: fix.removePath(`productionOverrides[${o.index}]`),
        });
    }
    return applied;
}

function checkProductionEnv(cfg: PlainConfig, services: ServiceDraft[], fix: FixCommands, report: (name: string, problem: ConfigProblem) => void): void {
    const expected = new Map(
        cfg.productionEnv.map((entry) => {
            const at = entry.indexOf("=");
            return [entry.slice(0, at), entry.slice(at + 1)] as const;
        }),
    );
    const forbidden = cfg.productionForbiddenEnv.map(globToRegExp);
    for (const s of services) {
        if (!s.settings.enabled) continue;
        for (const e of s.envEntries) {
            const where = `${s.role}Env[${e.index}]`;
            const want = expected.get(e.name);
            if (want !== undefined && e.value !== want) {
                report(e.name, {
                    key: where,
                    problem: `${e.name} must be ${JSON.stringify(want)} in production (productionEnv), got ${JSON.stringify(e.value)}`,
                    fix: fix.setPath(where, `${e.name}=${want}`),
                });
            }
            if (forbidden.some((re) => re.test(e.name))) {
                report(e.name, {
                    key: where,
                    problem: `${e.name} must not be overridden in production (productionForbiddenEnv)`,
                    fix: fix.removePath(where),
                });
            }
        }
        s.secretList.forEach((name, index) => {
            if (forbidden.some((re) => re.test(name))) {
                const where = `${s.role}Secrets[${index}]`;
                report(name, {
                    key: where,
                    problem: `${name} must not be overridden in production (productionForbiddenEnv)`,
                    fix: fix.removePath(where),
                });
            }
        });
    }
}

function globToRegExp(pattern: string): RegExp {
    return new RegExp(`^${pattern.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
}

function checkAwsTarget(cfg: PlainConfig, fix: FixCommands, problems: ConfigProblem[]): void {
    if (cfg.target !== "aws") return;
    const requireKey = (key: keyof PlainConfig, missing: boolean, what: string, example: string) => {
        if (missing) problems.push({ key, problem: `is required on the aws target: ${what}`, fix: fix.set(key, example) });
    };
    requireKey("availabilityZones", cfg.availabilityZones.length < 2, "at least two availability zones", "--path 'availabilityZones[0]' <zone>");
    requireKey("publicHostname", !cfg.publicHostname, "the app's public host name", "<host>");
    requireKey("certificateArn", !cfg.certificateArn, "the ACM certificate of publicHostname", "<arn>");
    requireKey("gateSourceCidrs", cfg.gateSourceCidrs.length === 0, "the deployer's CIDR, so the health gate can reach the test listeners", "--path 'gateSourceCidrs[0]' <cidr>");
    requireKey(
        "migrationRunnerImage",
        (cfg.migrationMode !== "none" || cfg.schemaExpectations !== "") && !cfg.migrationRunnerImage,
        "the runner's image, which applies migration files, reads the revision a migration command left and verifies the schema inside the VPC (the private database is reachable only there)",
        "<image>",
    );
    if (!cfg.backendImage) {
        problems.push({ key: "backendImage", problem: "is required on the aws target", fix: fix.set("backendImage", "<image>") });
    }
    if (cfg.frontendEnabled && !cfg.frontendImage) {
        problems.push({
            key: "frontendImage",
            problem: "is required on the aws target while frontendEnabled is true",
            fix: fix.set("frontendImage", "<image>"),
        });
    }
}

/** The secret config keys this configuration needs: every listed secret, and the LLM keys while the LLM is on. */
export function neededSecrets(cfg: Pick<PlainConfig, "backendSecrets" | "workerSecrets" | "frontendSecrets" | "workerEnabled" | "frontendEnabled" | "llmEnabled" | "llmProviderKeys">): string[] {
    const names = new Set<string>(cfg.backendSecrets ?? []);
    if (cfg.workerEnabled) (cfg.workerSecrets ?? []).forEach((n) => names.add(n));
    if (cfg.frontendEnabled) (cfg.frontendSecrets ?? []).forEach((n) => names.add(n));
    if (cfg.llmEnabled) (cfg.llmProviderKeys ?? []).forEach((n) => names.add(n));
    return [...names].sort();
}

/**
 * The secrets a stack file names, read straight from its `config:` map (full
 * keys, values as YAML gives them), for tools that run before the program:
 * the test harness and `npm run up:local`. Unset keys take Pulumi.yaml's defaults.
 */
export function secretsNamedByStackFile(stackConfig: Record<string, unknown>, projectName: string, projectDir = path.dirname(PROJECT_FILE)): string[] {
    const get = (key: string) => stackConfig[`${projectName}:${key}`];
    const list = (key: string) => (Array.isArray(get(key)) ? (get(key) as string[]) : []);
    const flag = (key: string, byDefault: boolean) => (get(key) === undefined ? byDefault : get(key) === true || get(key) === "true");
    const named = neededSecrets({
        backendSecrets: list("backendSecrets"),
        workerSecrets: list("workerSecrets"),
        frontendSecrets: list("frontendSecrets"),
        workerEnabled: flag("workerEnabled", false),
        frontendEnabled: flag("frontendEnabled", false),
        llmEnabled: flag("llmEnabled", true),
        llmProviderKeys: list("llmProviderKeys"),
    });
    return [...new Set([...named, ...gateSecretsOfStackFile(get, list, projectDir)])].sort();
}

/** The secrets the stack's gate spec needs on this stack (e.g. the production smoke account); a broken spec names none (the program reports it). */
function gateSecretsOfStackFile(get: (key: string) => unknown, list: (key: string) => string[], projectDir: string): string[] {
    const file = get("gateSpec");
    if (typeof file !== "string" || file === "") return [];
    try {
        const spec = readGateSpec(path.resolve(projectDir, file));
        const config = Object.fromEntries(Object.entries(readProjectFile().declarations).map(([key, decl]) => [key, get(key) ?? decl.default]));
        const env = Object.fromEntries(list("backendEnv").map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
        return bindGateSpec(spec, { config, env, hiddenEnv: [] }).secrets;
    } catch {
        return [];
    }
}

function checkSecretValues(input: ConfigInput, secretNames: string[], fix: FixCommands, problems: ConfigProblem[]): void {
    for (const name of secretNames) {
        if (input.project.declarations[name]) {
            problems.push({
                key: name,
                problem: "is declared as a plain key in Pulumi.yaml and cannot also name a secret env var",
                fix: "rename the env var in the stack's *Secrets list",
            });
        } else if (input.values[name] === undefined) {
            problems.push({ key: name, problem: "secret is not set", fix: fix.setSecret(name) });
        } else if (!input.secretKeys.has(name)) {
            problems.push({
                key: name,
                problem: `is stored in plaintext in Pulumi.${input.stack}.yaml; secrets must be encrypted`,
                fix: fix.setSecret(name),
            });
        }
    }
}

/** Each declared secret format names a secret of this stack, and its value (when set) is in that form. */
function checkSecretFormats(input: ConfigInput, entries: string[], secretNames: string[], fix: FixCommands, problems: ConfigProblem[]): void {
    entries.forEach((entry, index) => {
        const parsed = parseSecretFormat(entry);
        if ("error" in parsed) return; // reported by the schema
        const { name, format } = parsed;
        if (!secretNames.includes(name)) {
            problems.push({ key: `secretFormats[${index}]`, problem: `names ${name}, which is not a secret of this stack (${secretNames.join(", ") || "none"})`, fix: fix.setPath(`secretFormats[${index}]`, "<NAME>=<encoding>:<bytes>") });
            return;
        }
        const value = input.values[name];
        const problem = typeof value === "string" && input.secretKeys.has(name) ? formatProblem(value, format) : undefined;
        if (problem) problems.push({ key: name, problem: `${problem} (secretFormats)`, fix: fix.setSecretFromCommand(name, generateCommand(format)) });
    });
}

function checkUnknownKeys(input: ConfigInput, cfg: PlainConfig, fix: FixCommands, problems: ConfigProblem[], gateSecrets: string[] = []): void {
    // A leftover LLM key stays legal while the guardrail has the LLM switched off;
    // so is a secret the gate spec names for another environment (e.g. the production smoke account).
    const known = new Set([...neededSecrets(cfg), ...(cfg.llmProviderKeys ?? []), ...gateSecrets]);
    for (const key of Object.keys(input.values)) {
        if (input.project.declarations[key] || known.has(key)) continue;
        problems.push({
            key,
            problem: "is not a Gatehouse key (a typo, or a secret no *Secrets list names any more)",
            fix: fix.remove(key),
        });
    }
}
