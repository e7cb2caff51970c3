import { strict as assert } from "assert";
import { SHARED_FLAGS } from "../scripts/lib/flags";
import { ENTRY_POINTS, runEntryPoint } from "./helpers/entryPoints";

// The flag table: every entry point's --help, read as an operator reads it.
// A flag two CLIs share means one thing (scripts/lib/flags.ts); a CLI may add
// a note after "; " (its default, "required", what it does with the value).

interface HelpFlag {
    value?: string;
    text: string;
}

interface ParsedHelp {
    usageFlags: Map<string, string | undefined>;
    flags: Map<string, HelpFlag>;
}

/** The usage block's `--name <value>`s and the flag lines `  --name <value>   text` (continuation lines joined). */
function parseHelp(text: string): ParsedHelp {
    const lines = text.split("\n");
    const usageEnd = lines.findIndex((l, i) => i > 0 && l.trim() === "");
    const usageFlags = new Map<string, string | undefined>();
    for (const m of lines.slice(0, usageEnd).join("\n").matchAll(/--([a-z][a-z-]*)(?: (<[^>]+>(?:=<[^>]+>)?))?/g)) usageFlags.set(m[1], m[2]);
    const flags = new Map<string, HelpFlag>();
    let last: HelpFlag | undefined;
    for (const line of lines.slice(usageEnd)) {
        const m = /^\s+(?:-h, )?--([a-z][a-z-]*)(?: (\S+))?\s{2,}(\S.*)$/.exec(line);
        if (m) flags.set(m[1], (last = { value: m[2], text: m[3].trim() }));
        else if (last && /^\s{10,}\S/.test(line)) last.text += ` ${line.trim()}`;
        else last = undefined;
    }
    return { usageFlags, flags };
}

// Names that would be a second spelling of a shared flag.
const SYNONYMS: Record<string, string> = {
    db: "database-url",
    database: "database-url",
    url: "database-url",
    "migrations-dir": "dir",
    label: "release",
    "release-id": "release",
    "snapshot-file": "snapshot",
    "dry-run": "preview",
    force: "yes",
    "assume-yes": "yes",
    output: "json",
    state: "state-dir",
};

// Help texts that list commands but not their flags: reported, owned elsewhere.
const FLAGS_NOT_DESCRIBED = new Set<string>([]);

describe("flags: one name, one meaning, in every entry point's --help", function () {
    this.timeout(180_000);
    const helps = new Map<string, ParsedHelp>();
    const texts = new Map<string, string>();
    before(() => {
        for (const entry of Object.keys(ENTRY_POINTS)) {
            const r = runEntryPoint(entry, ["--help"]);
            assert.equal(r.status, 0, `${entry} --help: ${r.stderr}`);
            texts.set(entry, r.stdout);
            helps.set(entry, parseHelp(r.stdout));
        }
    });

    it("every entry point's --help shows an example and, where it takes flags, a line for each (-h, --help at least)", () => {
        for (const [entry, text] of texts) {
            assert.match(text, /^example:?\s+\S/im, entry);
            if (!FLAGS_NOT_DESCRIBED.has(entry)) assert.ok(helps.get(entry)!.flags.has("help"), `${entry}: no flag lines`);
        }
    });

    it("a shared flag has the value form and the meaning of the canonical list, in usage and in the flag lines", () => {
        const wrong: string[] = [];
        for (const [entry, help] of helps) {
            for (const [name, value] of help.usageFlags) {
                const shared = SHARED_FLAGS[name];
                if (shared && value !== shared.value) wrong.push(`${entry}: usage has --${name} ${value ?? "(no value)"}, the list says ${shared.value ?? "(no value)"}`);
                const line = help.flags.get(name);
                if (line && line.value !== value) wrong.push(`${entry}: --${name} is ${value} in usage and ${line.value} in the flag lines`);
            }
            for (const [name, line] of help.flags) {
                const shared = SHARED_FLAGS[name];
                if (!shared) continue;
                if (line.value !== shared.value) wrong.push(`${entry}: --${name} ${line.value}, the list says ${shared.value}`);
                if (line.text !== shared.meaning && !line.text.startsWith(`${shared.meaning}; `)) wrong.push(`${entry}: --${name} says "${line.text}", the list says "${shared.meaning}"`);
            }
        }
        assert.deepEqual(wrong, []);
    });

    it("every flag in usage is described, and none is undocumented", () => {
        const missing: string[] = [];
        for (const [entry, help] of helps) {
            if (FLAGS_NOT_DESCRIBED.has(entry)) continue;
            for (const name of help.usageFlags.keys()) if (!help.flags.has(name)) missing.push(`${entry}: --${name}`);
            for (const [name, line] of help.flags) if (line.text.includes("(undocumented)")) missing.push(`${entry}: --${name} (undocumented)`);
        }
        assert.deepEqual(missing, []);
    });

    it("a flag that two entry points take is in the canonical list", () => {
        const users = new Map<string, string[]>();
        for (const [entry, help] of helps) for (const name of new Set([...help.usageFlags.keys(), ...help.flags.keys()])) users.set(name, [...(users.get(name) ?? []), entry]);
        const unlisted = [...users].filter(([name, entries]) => new Set(entries.map((e) => e.split(" ")[0])).size > 1 && !SHARED_FLAGS[name]).map(([name, entries]) => `--${name}: ${entries.join(", ")}`);
        assert.deepEqual(unlisted, []);
    });

    it("no entry point takes a second spelling of a shared flag", () => {
        const found = [...helps].flatMap(([entry, help]) => [...help.usageFlags.keys(), ...help.flags.keys()].filter((n) => SYNONYMS[n]).map((n) => `${entry}: --${n} (use --${SYNONYMS[n]})`));
        assert.deepEqual(found, []);
    });
});
