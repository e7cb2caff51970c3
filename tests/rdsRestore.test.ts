import { strict as assert } from "assert";
import { restoreRdsSnapshot } from "../components/release/rdsRestore";

/** A stand-in for the RDS API: one live instance, one available snapshot of it. */
function fakeRds(overrides: { snapshotStatus?: string; existing?: string[] } = {}) {
    const sent: any[] = [];
    const instances: Record<string, any> = {
        "kifu-db": { DBInstanceIdentifier: "kifu-db", DBInstanceClass: "db.t4g.medium", MultiAZ: true, DBSubnetGroup: { DBSubnetGroupName: "kifu-subnets" }, VpcSecurityGroups: [{ VpcSecurityGroupId: "sg-db" }], DBParameterGroups: [{ DBParameterGroupName: "kifu-params" }] },
    };
    for (const id of overrides.existing ?? []) instances[id] = { DBInstanceIdentifier: id };
    return {
        sent,
        async send(command: any) {
            sent.push(command);
            const kind = command.constructor.name;
            if (kind === "DescribeDBSnapshotsCommand") return { DBSnapshots: [{ DBSnapshotIdentifier: command.input.DBSnapshotIdentifier, Status: overrides.snapshotStatus ?? "available", DBInstanceIdentifier: "kifu-db" }] };
            if (kind === "DescribeDBInstancesCommand") {
                const found = instances[command.input.DBInstanceIdentifier];
                if (!found) throw Object.assign(new Error("not found"), { name: "DBInstanceNotFoundFault" });
                return { DBInstances: [found] };
            }
            if (kind === "RestoreDBInstanceFromDBSnapshotCommand") return { DBInstance: { DBInstanceIdentifier: command.input.DBInstanceIdentifier } };
            throw new Error(`unexpected ${kind}`);
        },
    };
}

describe("restoring a release's RDS snapshot", () => {
    it("restores into a new instance with the live one's network, parameters and protection", async () => {
        const rds = fakeRds();
        const { nextSteps } = await restoreRdsSnapshot({ snapshotId: "kifu-2026-11-22-1", newInstanceId: "kifu-db-restored", region: "ap-northeast-2" }, rds);
        const restore = rds.sent.find((c) => c.constructor.name === "RestoreDBInstanceFromDBSnapshotCommand").input;
        assert.deepEqual(restore, {
            DBInstanceIdentifier: "kifu-db-restored",
            DBSnapshotIdentifier: "kifu-2026-11-22-1",
            DBInstanceClass: "db.t4g.medium",
            DBSubnetGroupName: "kifu-subnets",
            VpcSecurityGroupIds: ["sg-db"],
            DBParameterGroupName: "kifu-params",
            MultiAZ: true,
            PubliclyAccessible: false,
            DeletionProtection: true,
            CopyTagsToSnapshot: true,
        });
        assert.match(nextSteps[0], /aws rds wait db-instance-available --region ap-northeast-2 --db-instance-identifier kifu-db-restored/);
    });

    it("never restores over the live instance or an existing one, nor from a snapshot still being taken", async () => {
        await assert.rejects(restoreRdsSnapshot({ snapshotId: "s", newInstanceId: "kifu-db", region: "r" }, fakeRds()), /kifu-db is the live instance the snapshot came from; restore into a new instance/);
        await assert.rejects(restoreRdsSnapshot({ snapshotId: "s", newInstanceId: "kifu-db-old", region: "r" }, fakeRds({ existing: ["kifu-db-old"] })), /an instance named kifu-db-old already exists/);
        await assert.rejects(restoreRdsSnapshot({ snapshotId: "s", newInstanceId: "x", region: "r" }, fakeRds({ snapshotStatus: "creating" })), /snapshot s is creating, not available yet/);
    });
});
