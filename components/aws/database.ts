import * as aws from "@pulumi/aws";
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";

export interface DatabaseArgs {
    /** Database name (and role name prefix). */
    name: string;
    subnetIds: pulumi.Input<string>[];
    securityGroupId: pulumi.Input<string>;
    instanceClass: string;
    allocatedStorage: number;
    multiAz: boolean;
    /** e.g. "16.4"; the major version picks the parameter group family. */
    engineVersion: string;
}

/**
 * The app's PostgreSQL: encrypted, private, TLS-only, backed up, protected from
 * deletion three ways (deletion protection, a final snapshot, Pulumi protect).
 * Two least-privilege roles: the app's (data only) and the migrator's (owns
 * the schema). Their URLs are secrets.
 */
export class Database extends pulumi.ComponentResource {
    readonly instance: aws.rds.Instance;
    /** URL for the app's role. Secret. */
    readonly appUrl: pulumi.Output<string>;
    /** URL for the migration role. Secret. */
    readonly migrationUrl: pulumi.Output<string>;
    /** The migrator role and its grants: what a migration needs before it can log in and create tables. */
    readonly migratorReady: pulumi.Resource[];

    constructor(name: string, args: DatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gatehouse:aws:Database", name, {}, opts);
        const major = args.engineVersion.split(".")[0];
        const subnets = new aws.rds.SubnetGroup(`${name}-subnets`, { subnetIds: args.subnetIds }, { parent: this });
        const parameters = new aws.rds.ParameterGroup(
            `${name}-params`,
            {
                family: `postgres${major}`,
                parameters: [
                    { name: "rds.force_ssl", value: "1" },
                    { name: "log_min_duration_statement", value: "1000" },
                ],
            },
            { parent: this },
        );
        const masterPassword = new random.RandomPassword(`${name}-master`, { length: 32, special: false }, { parent: this });
        this.instance = new aws.rds.Instance(
            `${name}-db`,
            {
                engine: "postgres",
                engineVersion: args.engineVersion,
                instanceClass: args.instanceClass,
                allocatedStorage: args.allocatedStorage,
                maxAllocatedStorage: args.allocatedStorage * 4,
                storageType: "gp3",
                storageEncrypted: true,
                dbName: args.name,
                username: "gatehouse_admin",
                password: masterPassword.result,
                dbSubnetGroupName: subnets.name,
                vpcSecurityGroupIds: [args.securityGroupId],
                parameterGroupName: parameters.name,
                publiclyAccessible: false,
                multiAz: args.multiAz,
                backupRetentionPeriod: 14,
                deletionProtection: true,
                skipFinalSnapshot: false,
                finalSnapshotIdentifier: `${name}-final`,
                copyTagsToSnapshot: true,
                performanceInsightsEnabled: true,
                autoMinorVersionUpgrade: true,
                applyImmediately: false,
            },
            { parent: this, protect: true },
        );

        const admin = new postgresql.Provider(
            `${name}-admin`,
            {
                host: this.instance.address,
                port: this.instance.port,
                username: this.instance.username,
                password: masterPassword.result,
                database: args.name,
                sslmode: "require",
                superuser: false,
            },
            { parent: this },
        );
        const role = (id: string, extra: Partial<postgresql.RoleArgs> = {}) => {
            const password = new random.RandomPassword(`${name}-${id}`, { length: 32, special: false }, { parent: this });
            const r = new postgresql.Role(`${name}-${id}`, { name: `${args.name}_${id}`, login: true, password: password.result, ...extra }, { parent: this, provider: admin });
            return { role: r, password: password.result };
        };
        const migrator = role("migrator");
        const app = role("app", { connectionLimit: 200 });
        const onAdmin = { parent: this, provider: admin };
        const migratorGrants = [
            new postgresql.Grant(`${name}-migrator-db`, { database: args.name, role: migrator.role.name, objectType: "database", privileges: ["CONNECT", "CREATE", "TEMPORARY"] }, onAdmin),
            new postgresql.Grant(`${name}-migrator-schema`, { database: args.name, schema: "public", role: migrator.role.name, objectType: "schema", privileges: ["USAGE", "CREATE"] }, onAdmin),
        ];
        const appGrants = [
            new postgresql.Grant(`${name}-app-db`, { database: args.name, role: app.role.name, objectType: "database", privileges: ["CONNECT"] }, onAdmin),
            new postgresql.Grant(`${name}-app-schema`, { database: args.name, schema: "public", role: app.role.name, objectType: "schema", privileges: ["USAGE"] }, onAdmin),
            // Whatever the migrator creates, the app may read and write, but never alter or drop.
            new postgresql.DefaultPrivileges(`${name}-app-tables`, { database: args.name, schema: "public", owner: migrator.role.name, role: app.role.name, objectType: "table", privileges: ["SELECT", "INSERT", "UPDATE", "DELETE"] }, onAdmin),
            new postgresql.DefaultPrivileges(`${name}-app-sequences`, { database: args.name, schema: "public", owner: migrator.role.name, role: app.role.name, objectType: "sequence", privileges: ["USAGE", "SELECT"] }, onAdmin),
        ];

        // A URL is usable only once its role can log in and holds its grants, so
        // each URL resolves after exactly those resources: whatever stores it (the
        // Secrets Manager version) and whatever runs with it (migration tasks,
        // services) waits for them by data. Without this a first deploy started
        // the migration task before the migrator role existed.
        const url = (role: postgresql.Role, password: pulumi.Input<string>, grants: pulumi.Resource[]) =>
            pulumi.secret(
                pulumi
                    .all([role.name, password, this.instance.address, this.instance.port, pulumi.all(grants.map((g) => (g as pulumi.CustomResource).id))])
                    .apply(([user, pass, host, port]) => `postgres://${user}:${pass}@${host}:${port}/${args.name}?sslmode=require`),
            );
        this.appUrl = url(app.role, app.password, appGrants);
        this.migrationUrl = url(migrator.role, migrator.password, migratorGrants);
        this.migratorReady = [migrator.role, ...migratorGrants];
        this.registerOutputs({ endpoint: this.instance.address });
    }
}
