import { PolicyPack } from "@pulumi/policy";
import { rules } from "./rules";

// `pulumi preview --policy-pack policy` runs these on every resource of a stack.
new PolicyPack("gatehouse-production", {
    policies: rules.map((rule) => ({
        name: rule.name,
        description: rule.description,
        enforcementLevel: "mandatory" as const,
        validateResource: (args, reportViolation) => {
            for (const message of rule.check({ type: args.type, name: args.name, props: args.props, options: { protect: args.opts.protect, retainOnDelete: (args.opts as any).retainOnDelete } })) {
                reportViolation(message);
            }
        },
    })),
});
