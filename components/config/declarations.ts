import * as path from "path";
import { parseYamlFile } from "./yamlCache";

/** The project file, next to index.ts. */
export const PROJECT_FILE = path.join(__dirname, "..", "..", "Pulumi.yaml");

export type DeclaredType = "string" | "integer" | "boolean" | "array";

/** A key as Pulumi.yaml declares it (the CLI's project config schema). */
export interface KeyDeclaration {
    type: DeclaredType;
    description: string;
    default?: unknown;
    secret?: boolean;
}

export interface ProjectFile {
    name: string;
    declarations: Record<string, KeyDeclaration>;
}

/** Reads Pulumi.yaml: the project name and its declared config keys. */
export function readProjectFile(file: string = PROJECT_FILE): ProjectFile {
    const doc = parseYamlFile(file) as { name: string; config?: Record<string, any> };
    const declarations: Record<string, KeyDeclaration> = {};
    for (const [key, decl] of Object.entries<any>(doc.config ?? {})) {
        declarations[key] = {
            type: decl.type,
            description: decl.description ?? "",
            default: decl.default,
            secret: decl.secret === true,
        };
    }
    return { name: doc.name, declarations };
}

export type DecodedValue = string | number | boolean | unknown[];

/**
 * Turns the string Pulumi hands the program (arrays arrive as JSON) into a
 * value of the declared type, or says why it cannot.
 */
export function decodeValue(type: DeclaredType, raw: string): { value: DecodedValue } | { error: string } {
    switch (type) {
        case "string":
            return { value: raw };
        case "integer": {
            const n = Number(raw);
            return raw.trim() !== "" && Number.isInteger(n)
                ? { value: n }
                : { error: `must be a whole number, got ${JSON.stringify(raw)}` };
        }
        case "boolean":
            return raw === "true" || raw === "false"
                ? { value: raw === "true" }
                : { error: `must be true or false, got ${JSON.stringify(raw)}` };
        case "array": {
            try {
                const parsed = JSON.parse(raw);
                if (Array.isArray(parsed)) return { value: parsed };
            } catch {
                // fall through to the error below
            }
            return { error: `must be a list, got ${JSON.stringify(raw)}` };
        }
    }
}
