// The meaning of every flag more than one entry point could use, written once.
// `--help` prints a shared flag as `--name <value>  <meaning>[; <this CLI's note>]`;
// tests/cliFlags.test.ts reads every CLI's --help and fails when a flag's value
// form or meaning differs from this list, or when two CLIs share a flag not in it.

export interface SharedFlag {
    /** The value's form in usage and help, e.g. "<url>"; absent for a boolean flag. */
    value?: string;
    meaning: string;
}

export const SHARED_FLAGS: Record<string, SharedFlag> = {
    "database-url": { value: "<url>", meaning: "the target database, postgres://user:password@host:port/name (a password is never printed)" },
    dir: { value: "<dir>", meaning: "the migrations directory (NNN_name.sql files)" },
    baseline: { value: "<version>", meaning: "files at or below this prefix were applied by hand before tracking (the stack's migrationBaseline)" },
    release: { value: "<id>", meaning: "the release id (the stack's release)" },
    snapshot: { value: "<file>", meaning: "a snapshot file written by `npm run snapshot` (pg_dump custom format)" },
    "base-url": { value: "<url>", meaning: "the app's address, e.g. http://127.0.0.1:8181" },
    stack: { value: "<name>", meaning: "the stack (e.g. local, prod)" },
    "state-dir": { value: "<dir>", meaning: "a local stack's state directory (.gatehouse/<stack>)" },
    preview: { meaning: "show what would change (`pulumi preview`) and change nothing" },
    yes: { meaning: "do not ask before changing the stack" },
    json: { meaning: "print the result as one JSON object on stdout" },
    // Command-mode migrations (the app's own tool, e.g. alembic): rehearse and migration-revision.
    command: { value: "<cmd>", meaning: "the app's migration command (sh -c), e.g. alembic upgrade head" },
    head: { value: "<revision>", meaning: "the revision the database must be at afterwards (the stack's migrationHead)" },
    "history-command": { value: "<cmd>", meaning: "prints the revision history (alembic history); checked before migrating" },
    "down-command": { value: "<cmd>", meaning: "reverts one revision (the stack's migrationDownCommand)" },
    "revision-table": { value: "<t>", meaning: "[schema.]table the tool records its revision in" },
    "revision-column": { value: "<c>", meaning: "its column" },
    "url-env": { value: "<NAME>", meaning: "env var the command gets the database URL in" },
    "url-scheme": { value: "<scheme>", meaning: "the URL's scheme for the app, e.g. postgresql+psycopg" },
    help: { meaning: "this text" },
};

/** A flag as one CLI's help shows it: the shared meaning (or its own, for a flag only it has) and a note. */
export interface FlagHelp {
    /** Only for a flag not in SHARED_FLAGS. */
    value?: string;
    meaning?: string;
    /** This CLI's default, "required", or what it does with the flag. */
    note?: string;
}

export interface CliHelp {
    /** The usage line(s), without "usage: ". */
    usage: string;
    /** What the command does, in a few lines. */
    about?: string;
    /** Every flag the command takes (--help is added), in the order to show them. */
    flags: Record<string, FlagHelp>;
    /** One command line an operator could run. */
    example: string;
}

/** The --help text: usage, what it does, one line per flag, an example. */
export function helpText(help: CliHelp): string {
    const rows = Object.entries<FlagHelp>({ ...help.flags, help: {} }).map(([name, f]) => {
        const shared = SHARED_FLAGS[name];
        const value = shared ? shared.value : f.value;
        const meaning = shared ? shared.meaning : f.meaning ?? "(undocumented)";
        const left = `${name === "help" ? "-h, " : ""}--${name}${value ? ` ${value}` : ""}`;
        return [left, f.note ? `${meaning}; ${f.note}` : meaning];
    });
    const width = Math.max(...rows.map(([left]) => left.length)) + 3;
    return [
        `usage: ${help.usage}`,
        "",
        ...(help.about ? [help.about, ""] : []),
        ...rows.map(([left, text]) => `  ${left.padEnd(width)}${text}`),
        "",
        ...(help.example ? [`example: ${help.example}`, ""] : []),
    ].join("\n");
}
