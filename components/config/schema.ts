import { z } from "zod";
import { RELEASE_ID, RELEASE_ID_RULE } from "./releaseId";
import { parseSecretFormat } from "./secretFormats";

// The typed shape of every key Pulumi.yaml declares. Values arrive already
// decoded to their declared type; this adds the rules a type cannot say.

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;

const envName = z.string().regex(ENV_NAME, { error: "must be an env var name (A-Z, 0-9, _)" });
const envNames = z.array(envName);
const optionalEnvName = z.union([z.literal(""), envName]);
const envEntries = z.array(
    z.string().regex(/^[A-Z_][A-Z0-9_]*=/, { error: "must be NAME=value with NAME in A-Z, 0-9, _" }),
);
const port = z.number().int().min(1).max(65535);
const urlPath = z.string().startsWith("/", { error: "must start with /" });

export const configSchema = z.object({
    app: z.string().regex(/^[a-z][a-z0-9-]{0,20}$/, {
        error: "must be lowercase letters, digits and -, starting with a letter, at most 21 characters",
    }),
    target: z.enum(["aws", "local"]),
    environment: z.enum(["production", "staging", "development"]),
    release: z.string().regex(RELEASE_ID, { error: RELEASE_ID_RULE }),

    backendImage: z.string(),
    backendPort: port,
    backendHealthPath: urlPath,
    backendEnv: envEntries,
    backendSecrets: envNames,
    backendRequiredEnv: envNames,

    workerEnabled: z.boolean(),
    workerImage: z.string(),
    workerCommand: z.array(z.string()),
    workerHealthCommand: z.string(),
    workerEnv: envEntries,
    workerSecrets: envNames,
    workerRequiredEnv: envNames,

    frontendEnabled: z.boolean(),
    frontendImage: z.string(),
    frontendPort: port,
    frontendHealthPath: urlPath,
    frontendEnv: envEntries,
    frontendSecrets: envNames,
    frontendRequiredEnv: envNames,
    apiBaseUrlEnv: optionalEnvName,
    apiBaseUrlPath: z.union([z.literal(""), z.string().regex(/^\/[A-Za-z0-9._~\/-]*[^/]$/, { error: "must be a path such as /api (starting with /, not ending with /)" })]),

    databaseUrlEnv: envName,
    // SQLAlchemy names the dialect "postgresql" (its "postgres" alias is gone since 1.4), optionally with a driver.
    databaseUrlScheme: z.string().regex(/^(postgres|postgresql(\+[a-z][a-z0-9_]*)?)$/, {
        error: "must be postgres, postgresql or postgresql+<driver> (e.g. postgresql+psycopg)",
    }),
    redisEnabled: z.boolean(),
    redisUrlEnv: envName,

    integerEnv: envNames,
    booleanEnv: envNames,
    productionEnv: z.array(
        z.string().regex(/^[A-Z_][A-Z0-9_]*=.*$/, { error: "must be NAME=value" }),
    ),
    productionForbiddenEnv: z.array(
        z.string().regex(/^[A-Z_*][A-Z0-9_*]*$/, { error: "must be an env var name pattern (A-Z, 0-9, _, *)" }),
    ),
    productionOverrides: z.array(
        z.string().regex(/^[A-Z_][A-Z0-9_]*: \S.*$/, { error: 'must be "NAME: reason" (the incident, and who decided)' }),
    ),

    llmEnabled: z.boolean(),
    llmProviderKeys: envNames,
    llmEnabledEnv: optionalEnvName,
    ruleFallbackForced: z.boolean(),
    ruleFallbackEnv: optionalEnvName,
    notificationSendCap: z.number().int().min(0),
    notificationSendCapEnv: optionalEnvName,
    secretFormats: z.array(
        z.string().superRefine((entry, ctx) => {
            const parsed = parseSecretFormat(entry);
            if ("error" in parsed) ctx.addIssue({ code: "custom", message: parsed.error });
        }),
    ),
    checklistGaps: z.array(z.string().regex(/^[^:\n]+: \S[^\n]*$/, { error: 'must be "item: why", e.g. "REDIS_URL: this version uses no Redis"' })),

    migrationMode: z.enum(["runner", "command", "none"]),
    migrationsDir: z.string(),
    migrationCommand: z.string(),
    migrationDownCommand: z.string(),
    migrationHead: z.string().regex(/^[A-Za-z0-9_.-]*$/, { error: "must be a revision id (letters, digits, _ . -), e.g. 002_add_operability_fields" }),
    migrationHistoryCommand: z.string(),
    migrationRevisionTable: z.string().regex(/^([A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*$/, { error: "must be a table name, optionally schema-qualified (e.g. alembic_version)" }),
    migrationRevisionColumn: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "must be a column name (e.g. version_num)" }),
    migrationBaseline: z.union([z.literal(""), z.string().regex(/^\d+$/, { error: "must be a migration version number, e.g. 019" })]),
    rehearsal: z.boolean(),
    schemaExpectations: z.string(),
    gateSpec: z.string(),
    frontendGateSpec: z.string(),
    frontendBuildId: z.string().regex(/^[A-Za-z0-9_.-]*$/, { error: "must be a build id (letters, digits, _ . -)" }),
    // Each entry's form and check name are checked against the stack's gate specs in validate.ts.
    gateKnownDefects: z.array(z.string()),
    appFeatures: z.array(z.string().regex(/^[a-z][a-z0-9-]*$/, { error: "must be a feature name (lower-case letters, digits, -), e.g. plan-generation" })),
    snapshotKeep: z.number().int().min(1),

    localDatabaseUrl: z.union([z.literal(""), z.string().regex(/^postgres(ql)?:\/\//, { error: "must be a postgres:// URL" })]),
    localRedisUrl: z.union([z.literal(""), z.string().regex(/^rediss?:\/\//, { error: "must be a redis:// or rediss:// URL" })]),
    localPostgresPort: port,
    localAppCommand: z.string(),
    localAppPort: port,
    localFrontendCommand: z.string(),
    localFrontendPort: port,
    localWorkerCommand: z.string(),
    localPromoteCommand: z.string(),
    localHost: z.string(),
    localHostPrivateKey: z.string(),
    localHostProjectDir: z.string().regex(/^[^~\s]\S*$/, { error: "must be a path relative to the SSH user's home, or absolute (no ~, no spaces), e.g. gatehouse" }),
    bakeSeconds: z.number().int().min(0).max(3600),

    liveSlot: z.enum(["blue", "green"]),
    backendStandbyImage: z.string(),
    frontendStandbyImage: z.string(),
    backendDesiredCount: z.number().int().min(1).max(100),
    frontendDesiredCount: z.number().int().min(1).max(100),
    workerDesiredCount: z.number().int().min(0).max(100),
    vpcCidr: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/16$/, { error: "must be an IPv4 /16, e.g. 10.40.0.0/16" }),
    availabilityZones: z.array(z.string().regex(/^[a-z]{2}-[a-z]+-\d[a-z]$/, { error: "must be an availability zone, e.g. ap-northeast-2a" })),
    publicHostname: z.union([z.literal(""), z.string().regex(/^[a-z0-9.-]+\.[a-z]{2,}$/, { error: "must be a host name, e.g. kifu.example.com" })]),
    certificateArn: z.union([z.literal(""), z.string().startsWith("arn:aws:acm:", { error: "must be an ACM certificate ARN" })]),
    gateSourceCidrs: z.array(z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, { error: "must be an IPv4 CIDR" })),
    dbInstanceClass: z.string().startsWith("db.", { error: "must be an RDS instance class, e.g. db.t4g.medium" }),
    dbAllocatedStorage: z.number().int().min(20).max(65536),
    dbMultiAz: z.boolean(),
    dbEngineVersion: z.string().regex(/^\d{2}(\.\d+)?$/, { error: "must be a PostgreSQL version, e.g. 16.4" }),
    redisNodeType: z.string().startsWith("cache.", { error: "must be an ElastiCache node type, e.g. cache.t4g.small" }),
    redisFailover: z.boolean(),
    migrationRunnerImage: z.string(),
    alertEmail: z.union([z.literal(""), z.email()]),
});

export type PlainConfig = z.infer<typeof configSchema>;
