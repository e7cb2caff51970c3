// The JSON-path subset the gate specs use: `$`, `.key`, `["key"]`, `[index]`
// (negative counts from the end) and `[*]` (every element of an array).
// Written here rather than taken from a library because the gate runs inside
// the serialized dynamic provider, with Node built-ins only.

/** The path's steps after `$`; throws naming the path when it is not of the subset. */
export function jsonPathTokens(path: string): string[] {
    if (!path.startsWith("$")) throw new Error(`JSON path ${path} must start with $`);
    const tokens = path.slice(1).match(/\.[^.[\]]+|\[-?\d+\]|\[\*\]|\["[^"]*"\]/g) ?? [];
    if (tokens.join("") !== path.slice(1)) throw new Error(`unsupported JSON path ${path} (use $, .key, ["key"], [0], [-1], [*])`);
    return tokens;
}

/** Every value a path selects (one at most without [*]); absent ones are undefined. */
export function jsonPathAll(value: unknown, path: string): unknown[] {
    let current: unknown[] = [value];
    for (const token of jsonPathTokens(path)) {
        const next: unknown[] = [];
        for (const v of current) {
            if (v === null || typeof v !== "object") {
                next.push(undefined);
            } else if (token === "[*]") {
                if (Array.isArray(v)) next.push(...v);
            } else if (token.startsWith("[") && !token.startsWith('["')) {
                const index = Number(token.slice(1, -1));
                next.push(Array.isArray(v) ? v[index < 0 ? v.length + index : index] : undefined);
            } else {
                next.push(Object.prototype.hasOwnProperty.call(v, tokenKey(token)) ? (v as any)[tokenKey(token)] : undefined);
            }
        }
        current = next;
    }
    return current;
}

/** The key a `.key` or `["key"]` step names, or the index of a `[n]` step. */
export function tokenKey(token: string): string | number {
    if (token.startsWith(".")) return token.slice(1);
    if (token.startsWith('["')) return token.slice(2, -2);
    return Number(token.slice(1, -1));
}

export function parseJson(text: string): unknown {
    try {
        return JSON.parse(text);
    } catch {
        return undefined;
    }
}
