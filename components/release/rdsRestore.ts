// Database recovery on AWS: a release snapshot restored into a NEW instance
// beside the live one, never over it, with the live instance's network,
// parameters and protections. Migrations are never reverted automatically.

export interface RdsLike {
    send(command: any): Promise<any>;
}

export interface RdsRestoreOptions {
    /** The release snapshot, e.g. kifu-2026-11-22-1. */
    snapshotId: string;
    /** The instance to create; must not exist. */
    newInstanceId: string;
    region: string;
    /** @default true (a recovery copy); the AWS rehearsal's scratch instance is deleted by Gatehouse itself. */
    deletionProtection?: boolean;
    /** @default the source instance's */
    multiAz?: boolean;
    /** Tags on the new instance (the rehearsal marks its scratch copies so a leftover is easy to find). */
    tags?: Record<string, string>;
}

/** Starts the restore and returns the steps that make the copy the app's database. */
export async function restoreRdsSnapshot(options: RdsRestoreOptions, rds?: RdsLike): Promise<{ nextSteps: string[] }> {
    const sdk = require("@aws-sdk/client-rds");
    const client: RdsLike = rds ?? new sdk.RDSClient({ region: options.region });
    const { DBSnapshots } = await client.send(new sdk.DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: options.snapshotId })).catch((err: any) => {
        throw new Error(`snapshot ${options.snapshotId} not found in ${options.region}: ${err.message}`);
    });
    const snapshot = DBSnapshots?.[0];
    if (!snapshot) throw new Error(`snapshot ${options.snapshotId} not found in ${options.region}`);
    if (snapshot.Status !== "available") throw new Error(`snapshot ${options.snapshotId} is ${snapshot.Status}, not available yet`);
    const live = snapshot.DBInstanceIdentifier as string;
    if (options.newInstanceId === live) {
        throw new Error(`${live} is the live instance the snapshot came from; restore into a new instance (e.g. ${live}-restored), never over the live one`);
    }
    const existing = await client.send(new sdk.DescribeDBInstancesCommand({ DBInstanceIdentifier: options.newInstanceId })).then(
        (r: any) => r.DBInstances ?? [],
        (err: any) => {
            if (err?.name === "DBInstanceNotFoundFault") return [];
            throw err;
        },
    );
    if (existing.length > 0) throw new Error(`an instance named ${options.newInstanceId} already exists; choose a new name`);
    const source = (await client.send(new sdk.DescribeDBInstancesCommand({ DBInstanceIdentifier: live }))).DBInstances?.[0];
    if (!source) throw new Error(`the snapshot's source instance ${live} no longer exists; pass the network settings by hand`);
    await client.send(
        new sdk.RestoreDBInstanceFromDBSnapshotCommand({
            DBInstanceIdentifier: options.newInstanceId,
            DBSnapshotIdentifier: options.snapshotId,
            DBInstanceClass: source.DBInstanceClass,
            DBSubnetGroupName: source.DBSubnetGroup?.DBSubnetGroupName,
            VpcSecurityGroupIds: (source.VpcSecurityGroups ?? []).map((g: any) => g.VpcSecurityGroupId),
            DBParameterGroupName: source.DBParameterGroups?.[0]?.DBParameterGroupName,
            MultiAZ: options.multiAz ?? source.MultiAZ,
            PubliclyAccessible: false,
            DeletionProtection: options.deletionProtection ?? true,
            CopyTagsToSnapshot: true,
            ...(options.tags ? { Tags: Object.entries(options.tags).map(([Key, Value]) => ({ Key, Value })) } : {}),
        }),
    );
    return {
        nextSteps: [
            `aws rds wait db-instance-available --region ${options.region} --db-instance-identifier ${options.newInstanceId}`,
            `check the restored data through the VPN/bastion (endpoint: aws rds describe-db-instances --db-instance-identifier ${options.newInstanceId})`,
            `to make it the app's database, swap names during a maintenance window: rename ${live} to ${live}-old, then ${options.newInstanceId} to ${live} (aws rds modify-db-instance --new-db-instance-identifier ... --apply-immediately)`,
            "then `pulumi refresh` and `pulumi up`: the stack keeps managing the instance under its name; drop the -old instance yourself once you are sure",
        ],
    };
}
