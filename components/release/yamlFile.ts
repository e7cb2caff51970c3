import { z } from "zod";
import { parseYamlFile } from "../config/yamlCache";

/**
 * Reads a YAML file and checks it against a schema; every mistake is named by
 * file and field in one error. `extraChecks` adds rules the schema cannot say.
 */
export function readYamlFile<S extends z.ZodType>(file: string, schema: S, what: string, extraChecks: (value: z.infer<S>) => string[] = () => []): z.infer<S> {
    let doc: unknown;
    try {
        doc = parseYamlFile(file);
    } catch (err: any) {
        throw new Error(`${file}: ${err.message}`);
    }
    const parsed = schema.safeParse(doc);
    const problems = parsed.success ? extraChecks(parsed.data) : parsed.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`);
    if (problems.length > 0) throw new Error(`${file}: not a valid ${what}:\n  ${problems.join("\n  ")}`);
    return parsed.data as z.infer<S>;
}
