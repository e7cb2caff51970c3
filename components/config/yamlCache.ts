import * as fs from "fs";
import * as YAML from "yaml";

const parsed = new Map<string, unknown>();
const MAX_TEXTS = 64;

/**
 * YAML.parse of a file, parsed once per distinct content: one evaluation of
 * the program reads Pulumi.yaml (16 KB, ~13 ms to parse) and the gate spec
 * more than once, and the test harness evaluates it hundreds of times in one
 * process. Keyed by the text itself, so an edited file is never served stale;
 * each caller gets its own copy to change as it likes.
 */
export function parseYamlFile(file: string): unknown {
    const text = fs.readFileSync(file, "utf8");
    if (!parsed.has(text)) {
        if (parsed.size >= MAX_TEXTS) parsed.clear();
        parsed.set(text, YAML.parse(text));
    }
    return structuredClone(parsed.get(text));
}
