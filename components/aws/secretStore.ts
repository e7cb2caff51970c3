import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface SecretStoreArgs {
    /** Env var name -> secret value (a Pulumi secret). */
    values: Record<string, pulumi.Input<string>>;
}

/**
 * One Secrets Manager secret per secret env var. Containers get them by
 * reference (`valueFrom`), so no value appears in a task definition.
 */
export class SecretStore extends pulumi.ComponentResource {
    /** Env var name -> secret ARN, resolved after the secret's value exists. */
    readonly arns: Record<string, pulumi.Output<string>>;

    constructor(name: string, args: SecretStoreArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gatehouse:aws:SecretStore", name, {}, opts);
        this.arns = {};
        for (const [envName, value] of Object.entries(args.values)) {
            const id = `${name}-${envName.toLowerCase().replace(/_/g, "-")}`;
            const secret = new aws.secretsmanager.Secret(id, { name: `${name}/${envName}`, recoveryWindowInDays: 7 }, { parent: this });
            const version = new aws.secretsmanager.SecretVersion(id, { secretId: secret.id, secretString: pulumi.secret(value) }, { parent: this });
            // Handed out only once the secret has a current value: ECS refuses to
            // start a task whose `valueFrom` secret has no AWSCURRENT version, so
            // everything that names the ARN (task definitions, the tasks they run)
            // waits for the version by data, not by luck.
            this.arns[envName] = pulumi.all([secret.arn, version.id]).apply(([arn]) => arn);
        }
        this.registerOutputs({});
    }

    /** The subset a service uses: exactly what its execution role may read. */
    pick(names: string[]): Record<string, pulumi.Output<string>> {
        return Object.fromEntries(names.map((n) => {
            if (!this.arns[n]) throw new Error(`no secret named ${n} in the store`);
            return [n, this.arns[n]];
        }));
    }
}
