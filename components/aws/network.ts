import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface NetworkArgs {
    /** A /16; each zone gets a public and a private /20 from it. */
    cidr: string;
    /** At least two. */
    availabilityZones: string[];
    /** Ports the services listen on, for the load balancer -> task rules. */
    ports: { backend: number; frontend?: number };
    /** Who may reach the test listeners (the health gate runs from the deployer). */
    gateSourceCidrs: string[];
    /** Test listener ports: the idle slot's address before promotion. */
    testPorts: { backend: number; frontend?: number };
}

/**
 * A VPC over the given zones: public subnets hold only the load balancer,
 * private subnets hold tasks, database and cache. One security group per
 * role, each rule the least that role needs.
 */
export class Network extends pulumi.ComponentResource {
    readonly vpcId: pulumi.Output<string>;
    readonly publicSubnetIds: pulumi.Output<string>[];
    readonly privateSubnetIds: pulumi.Output<string>[];
    readonly securityGroups: {
        loadBalancer: aws.ec2.SecurityGroup;
        backend: aws.ec2.SecurityGroup;
        frontend: aws.ec2.SecurityGroup;
        worker: aws.ec2.SecurityGroup;
        migration: aws.ec2.SecurityGroup;
        database: aws.ec2.SecurityGroup;
        cache: aws.ec2.SecurityGroup;
    };

    constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gatehouse:aws:Network", name, {}, opts);
        const vpc = new aws.ec2.Vpc(`${name}-vpc`, { cidrBlock: args.cidr, enableDnsHostnames: true, enableDnsSupport: true, tags: { Name: `${name}-vpc` } }, { parent: this });
        this.vpcId = vpc.id;
        const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id }, { parent: this });
        const publicRoutes = new aws.ec2.RouteTable(`${name}-public`, { vpcId: vpc.id, routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: igw.id }] }, { parent: this });

        const [a, b] = args.cidr.split(".").map(Number);
        const subnet = (kind: "public" | "private", zone: string, index: number) =>
            new aws.ec2.Subnet(
                `${name}-${kind}-${zone}`,
                {
                    vpcId: vpc.id,
                    availabilityZone: zone,
                    // public: x.y.0.0/20, x.y.16.0/20 ...; private: x.y.128.0/20, x.y.144.0/20 ...
                    cidrBlock: `${a}.${b}.${(kind === "public" ? 0 : 128) + index * 16}.0/20`,
                    mapPublicIpOnLaunch: false,
                    tags: { Name: `${name}-${kind}-${zone}`, tier: kind },
                },
                { parent: this },
            );
        const publicSubnets = args.availabilityZones.map((zone, i) => subnet("public", zone, i));
        const privateSubnets = args.availabilityZones.map((zone, i) => subnet("private", zone, i));
        publicSubnets.forEach((s, i) => new aws.ec2.RouteTableAssociation(`${name}-public-${args.availabilityZones[i]}`, { subnetId: s.id, routeTableId: publicRoutes.id }, { parent: this }));

        // Private tasks pull images and read secrets through one NAT gateway.
        const natIp = new aws.ec2.Eip(`${name}-nat`, { domain: "vpc" }, { parent: this });
        const nat = new aws.ec2.NatGateway(`${name}-nat`, { subnetId: publicSubnets[0].id, allocationId: natIp.id }, { parent: this, dependsOn: [igw] });
        const privateRoutes = new aws.ec2.RouteTable(`${name}-private`, { vpcId: vpc.id, routes: [{ cidrBlock: "0.0.0.0/0", natGatewayId: nat.id }] }, { parent: this });
        privateSubnets.forEach((s, i) => new aws.ec2.RouteTableAssociation(`${name}-private-${args.availabilityZones[i]}`, { subnetId: s.id, routeTableId: privateRoutes.id }, { parent: this }));
        this.publicSubnetIds = publicSubnets.map((s) => s.id);
        this.privateSubnetIds = privateSubnets.map((s) => s.id);

        const group = (role: string, description: string) =>
            new aws.ec2.SecurityGroup(`${name}-${role}`, { vpcId: vpc.id, description, tags: { Name: `${name}-${role}` } }, { parent: this });
        const sg = {
            loadBalancer: group("alb", "Load balancer: HTTPS from anywhere, HTTP only to redirect"),
            backend: group("backend", "Backend tasks: from the load balancer only"),
            frontend: group("frontend", "Frontend tasks: from the load balancer only"),
            worker: group("worker", "Worker/scheduler tasks: no inbound"),
            migration: group("migration", "One-off migration tasks: no inbound"),
            database: group("db", "PostgreSQL: from the app's own tasks only"),
            cache: group("cache", "Redis: from the app's own tasks only"),
        };
        this.securityGroups = sg;

        const ingress = (id: string, to: aws.ec2.SecurityGroup, port: number, from: { cidr: string } | { group: aws.ec2.SecurityGroup }, description: string) =>
            new aws.vpc.SecurityGroupIngressRule(
                `${name}-${id}`,
                {
                    securityGroupId: to.id,
                    ipProtocol: "tcp",
                    fromPort: port,
                    toPort: port,
                    description,
                    ...("cidr" in from ? { cidrIpv4: from.cidr } : { referencedSecurityGroupId: from.group.id }),
                },
                { parent: this },
            );
        ingress("alb-https", sg.loadBalancer, 443, { cidr: "0.0.0.0/0" }, "HTTPS");
        ingress("alb-http", sg.loadBalancer, 80, { cidr: "0.0.0.0/0" }, "HTTP, redirected to HTTPS");
        for (const cidr of args.gateSourceCidrs) {
            ingress(`alb-gate-backend-${cidr.replace(/[./]/g, "-")}`, sg.loadBalancer, args.testPorts.backend, { cidr }, "health gate: backend test listener");
            if (args.testPorts.frontend) ingress(`alb-gate-frontend-${cidr.replace(/[./]/g, "-")}`, sg.loadBalancer, args.testPorts.frontend, { cidr }, "health gate: frontend test listener");
        }
        ingress("backend-from-alb", sg.backend, args.ports.backend, { group: sg.loadBalancer }, "load balancer to backend");
        if (args.ports.frontend) ingress("frontend-from-alb", sg.frontend, args.ports.frontend, { group: sg.loadBalancer }, "load balancer to frontend");
        for (const client of ["backend", "worker", "migration"] as const) {
            ingress(`db-from-${client}`, sg.database, 5432, { group: sg[client] }, `PostgreSQL from ${client}`);
        }
        for (const client of ["backend", "worker"] as const) {
            ingress(`cache-from-${client}`, sg.cache, 6379, { group: sg[client] }, `Redis from ${client}`);
        }
        // Outbound: everything from tasks (images, Secrets Manager, the database); the data layer needs none.
        for (const role of ["loadBalancer", "backend", "frontend", "worker", "migration"] as const) {
            new aws.vpc.SecurityGroupEgressRule(`${name}-${role}-egress`, { securityGroupId: sg[role].id, ipProtocol: "-1", cidrIpv4: "0.0.0.0/0" }, { parent: this });
        }
        this.registerOutputs({ vpcId: this.vpcId });
    }
}
