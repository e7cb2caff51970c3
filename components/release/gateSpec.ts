import { z } from "zod";
import { GateSpec, jsonPath } from "./gate";
import { readYamlFile } from "./yamlFile";

const headers = z.record(z.string(), z.string());

const checkSchema = z.object({
    name: z.string().min(1),
    request: z.object({
        method: z.enum(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]).default("GET"),
        path: z.string().startsWith("/", { error: "must start with /" }),
        headers: headers.optional(),
        body: z.unknown().optional(),
    }),
    expect: z
        .object({
            status: z.union([z.number().int(), z.array(z.number().int()).min(1)]).optional(),
            json: z.record(z.string(), z.unknown()).optional(),
            bodyContains: z.string().optional(),
        })
        .default({}),
    capture: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).optional(),
    repeat: z.number().int().min(1).default(1),
    timeoutMs: z.number().int().min(1).max(120_000).optional(),
});

export const gateSpecSchema = z.object({
    deadlineSeconds: z.number().positive().max(3600).default(60),
    intervalMs: z.number().int().min(10).max(60_000).default(250),
    headers: headers.optional(),
    vars: z.record(z.string(), z.string()).optional(),
    checks: z.array(checkSchema).min(1, { error: "needs at least one check" }),
});

/** Variables every gate has: the release id, and an id unique to each gate run (for smoke data). */
export const GATE_BUILTINS = ["release", "run"] as const;

/**
 * Reads and checks a gate spec: its shape, its JSON paths, and that every
 * ${variable} is known by the time its check runs. Mistakes show up in
 * `pulumi preview`, not halfway through a release.
 */
export function readGateSpec(file: string): GateSpec {
    return readYamlFile(file, gateSpecSchema, "gate spec", (spec) => checkVariablesAndPaths(spec as GateSpec)) as GateSpec;
}

function checkVariablesAndPaths(spec: GateSpec): string[] {
    const problems: string[] = [];
    const known = new Set<string>([...GATE_BUILTINS, ...Object.keys(spec.vars ?? {})]);
    const used = (where: string, value: unknown) => {
        const text = typeof value === "string" ? value : JSON.stringify(value ?? "");
        for (const m of text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
            if (!known.has(m[1])) problems.push(`${where}: \${${m[1]}} is not a built-in, a var, or captured by an earlier check`);
        }
    };
    used("headers", spec.headers);
    spec.checks.forEach((check, i) => {
        const where = `checks[${i}] (${check.name})`;
        used(`${where}.request`, check.request);
        used(`${where}.expect`, check.expect);
        for (const path of [...Object.keys(check.expect.json ?? {}), ...Object.values(check.capture ?? {})]) {
            try {
                jsonPath({}, path);
            } catch (err: any) {
                problems.push(`${where}: ${err.message}`);
            }
        }
        for (const name of Object.keys(check.capture ?? {})) known.add(name);
    });
    return problems;
}
