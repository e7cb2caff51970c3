import * as pulumi from "@pulumi/pulumi";
import { GatehouseConfig, ROLES, Role } from "./config";

export interface AppArgs {
    /** The stack's validated configuration. */
    config: GatehouseConfig;
}

/**
 * The app a stack releases: one parent for everything the stack creates, so
 * `pulumi preview` groups a release under the app's name.
 */
export class App extends pulumi.ComponentResource {
    /** Env var names each enabled service receives, by kind (values never leave the program). */
    readonly envNames: pulumi.Output<Record<string, { plain: string[]; secret: string[]; derived: string[] }>>;

    constructor(name: string, args: AppArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gatehouse:app:App", name, {}, opts);
        const enabled = ROLES.filter((role: Role) => args.config.services[role].enabled);
        this.envNames = pulumi.output(
            Object.fromEntries(
                enabled.map((role) => {
                    const s = args.config.services[role];
                    return [role, { plain: Object.keys(s.env).sort(), secret: [...s.secretEnv].sort(), derived: s.derivedEnv }];
                }),
            ),
        );
        this.registerOutputs({ envNames: this.envNames });
    }
}
