// The production invariants as plain functions over one resource's type and
// inputs: the policy pack wraps them, and tests run them over the mocked
// prod stack without the engine.

export interface Resource {
    type: string;
    name: string;
    props: Record<string, any>;
    options?: { protect?: boolean; retainOnDelete?: boolean };
}

export interface Rule {
    name: string;
    description: string;
    check(r: Resource): string[];
}

const is = (r: Resource, type: string) => r.type === type;
const SECRETISH = /(SECRET|PASSWORD|TOKEN|API_KEY|PRIVATE_KEY|ENC_KEY|DATABASE_URL|REDIS_URL)/;
const CURRENT_TLS = /^ELBSecurityPolicy-TLS13-/;

export const rules: Rule[] = [
    {
        name: "encryption-at-rest",
        description: "Databases, caches and their snapshots are encrypted at rest; Redis also in transit.",
        check: (r) => {
            if (is(r, "aws:rds/instance:Instance") && r.props.storageEncrypted !== true) return ["RDS storage must be encrypted (storageEncrypted: true)"];
            if (is(r, "aws:elasticache/replicationGroup:ReplicationGroup")) {
                const out: string[] = [];
                if (r.props.atRestEncryptionEnabled !== true) out.push("Redis must be encrypted at rest");
                if (r.props.transitEncryptionEnabled !== true) out.push("Redis must use TLS in transit");
                if (!r.props.authToken) out.push("Redis must require an auth token");
                return out;
            }
            return [];
        },
    },
    {
        name: "nothing-public-but-the-load-balancer",
        description: "Only the load balancer is reachable from the internet.",
        check: (r) => {
            if (is(r, "aws:rds/instance:Instance") && r.props.publiclyAccessible === true) return ["the database must not be publicly accessible"];
            if (is(r, "aws:ec2/subnet:Subnet") && r.props.mapPublicIpOnLaunch === true) return ["subnets must not hand out public IPs"];
            if (is(r, "aws:ecs/service:Service") && r.props.networkConfiguration?.assignPublicIp === true) return ["tasks must not get public IPs"];
            return [];
        },
    },
    {
        name: "deletion-protection",
        description: "The database is protected from deletion and replacement, and leaves a final snapshot; release snapshots are kept.",
        check: (r) => {
            const out: string[] = [];
            if (is(r, "aws:rds/instance:Instance")) {
                if (r.props.deletionProtection !== true) out.push("RDS deletionProtection must be true");
                if (r.props.skipFinalSnapshot === true || !r.props.finalSnapshotIdentifier) out.push("RDS must take a final snapshot on deletion");
                if (!(r.props.backupRetentionPeriod > 0)) out.push("RDS automated backups must be on");
                if (r.options && r.options.protect !== true) out.push("the RDS instance must be Pulumi-protected");
            }
            if (is(r, "aws:rds/snapshot:Snapshot") && r.options && r.options.retainOnDelete !== true) out.push("release snapshots must be retained when superseded (retainOnDelete)");
            return out;
        },
    },
    {
        name: "secrets-by-reference",
        description: "No secret value in a task definition's environment; containers get secrets by reference.",
        check: (r) => {
            if (!is(r, "aws:ecs/taskDefinition:TaskDefinition")) return [];
            const containers = typeof r.props.containerDefinitions === "string" ? JSON.parse(r.props.containerDefinitions) : r.props.containerDefinitions ?? [];
            const out: string[] = [];
            for (const c of containers) {
                for (const e of c.environment ?? []) {
                    if (SECRETISH.test(e.name) && !/^NEXT_PUBLIC_/.test(e.name)) out.push(`${c.name}: ${e.name} is in environment; pass it in secrets (valueFrom)`);
                    if (/^(postgres(ql)?|rediss?):\/\/[^/]*:[^/@]+@/.test(String(e.value))) out.push(`${c.name}: ${e.name} holds a URL with a password`);
                }
                for (const s of c.secrets ?? []) {
                    if (!String(s.valueFrom ?? "").startsWith("arn:")) out.push(`${c.name}: secret ${s.name} must be a Secrets Manager ARN`);
                }
            }
            return out;
        },
    },
    {
        name: "https-only",
        description: "Listeners serve HTTPS with a current TLS policy; plain HTTP only redirects.",
        check: (r) => {
            if (!is(r, "aws:lb/listener:Listener")) return [];
            if (r.props.protocol === "HTTP") {
                const redirects = (r.props.defaultActions ?? []).every((a: any) => a.type === "redirect" && a.redirect?.protocol === "HTTPS");
                return redirects ? [] : ["an HTTP listener may only redirect to HTTPS"];
            }
            if (r.props.protocol !== "HTTPS") return [`listener protocol ${r.props.protocol} is not HTTPS`];
            return CURRENT_TLS.test(r.props.sslPolicy ?? "") ? [] : [`TLS policy ${r.props.sslPolicy} is not a current TLS 1.3 policy`];
        },
    },
    {
        name: "least-privilege-ingress",
        description: "Only the load balancer accepts traffic from anywhere, on 80 and 443; everything else from named security groups or the gate's CIDRs.",
        check: (r) => {
            if (!is(r, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")) return [];
            if (r.props.cidrIpv4 === "0.0.0.0/0" || r.props.cidrIpv6 === "::/0") {
                // Only the load balancer listens on 80/443; tasks listen on their app ports.
                const webPort = [80, 443].includes(r.props.fromPort) && r.props.fromPort === r.props.toPort;
                return webPort ? [] : [`${r.name}: port ${r.props.fromPort}-${r.props.toPort} open to the internet`];
            }
            if (r.props.ipProtocol === "-1") return [`${r.name}: all protocols allowed`];
            return [];
        },
    },
    {
        name: "health-check-timing",
        description: "Target health checks decide within 30 s and drains finish within 60 s, so a switch or rollback is fast.",
        check: (r) => {
            if (!is(r, "aws:lb/targetGroup:TargetGroup")) return [];
            const hc = r.props.healthCheck ?? {};
            const out: string[] = [];
            if ((hc.interval ?? 30) * (hc.healthyThreshold ?? 5) > 30) out.push(`healthy after ${(hc.interval ?? 30) * (hc.healthyThreshold ?? 5)} s (interval x healthyThreshold); keep it within 30 s`);
            if ((r.props.deregistrationDelay ?? 300) > 60) out.push(`deregistration delay ${r.props.deregistrationDelay ?? 300} s; keep it within 60 s`);
            return out;
        },
    },
];

/** Every violation in a set of resources, as `rule: resource: message`. */
export function violations(resources: Resource[]): string[] {
    return resources.flatMap((r) => rules.flatMap((rule) => rule.check(r).map((m) => `${rule.name}: ${r.type} ${r.name}: ${m}`)));
}
