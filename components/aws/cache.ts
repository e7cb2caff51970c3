import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";

export interface CacheArgs {
    subnetIds: pulumi.Input<string>[];
    securityGroupId: pulumi.Input<string>;
    nodeType: string;
    /** Two nodes with automatic failover across zones. */
    failover: boolean;
}

/** Redis with TLS in transit, encryption at rest and an auth token; its URL is a secret. */
export class Cache extends pulumi.ComponentResource {
    readonly url: pulumi.Output<string>;
    /** The replication group's id. */
    readonly replicationGroupId: pulumi.Output<string>;
    /** Each node's cache cluster id (`<group>-001`, ...): the CacheClusterId dimension its metrics carry. */
    readonly nodeIds: pulumi.Output<string>[];

    constructor(name: string, args: CacheArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gatehouse:aws:Cache", name, {}, opts);
        const subnets = new aws.elasticache.SubnetGroup(`${name}-subnets`, { subnetIds: args.subnetIds }, { parent: this });
        const token = new random.RandomPassword(`${name}-token`, { length: 48, special: false }, { parent: this });
        const redis = new aws.elasticache.ReplicationGroup(
            `${name}-redis`,
            {
                description: `${name} Redis`,
                engine: "redis",
                engineVersion: "7.1",
                nodeType: args.nodeType,
                numCacheClusters: args.failover ? 2 : 1,
                automaticFailoverEnabled: args.failover,
                multiAzEnabled: args.failover,
                subnetGroupName: subnets.name,
                securityGroupIds: [args.securityGroupId],
                transitEncryptionEnabled: true,
                atRestEncryptionEnabled: true,
                authToken: token.result,
                snapshotRetentionLimit: 3,
                port: 6379,
            },
            { parent: this },
        );
        this.replicationGroupId = redis.id;
        const nodes = args.failover ? 2 : 1;
        // ElastiCache names a replication group's member clusters <group>-001, -002, ...; the
        // provider reports them as memberClusters once the group exists.
        this.nodeIds = Array.from({ length: nodes }, (_, i) =>
            pulumi.all([redis.id, redis.memberClusters]).apply(([id, members]) => [...(members ?? [])].sort()[i] ?? `${id}-${String(i + 1).padStart(3, "0")}`),
        );
        this.url = pulumi.secret(pulumi.interpolate`rediss://:${token.result}@${redis.primaryEndpointAddress}:6379`);
        this.registerOutputs({});
    }
}
