import { parseArgs, ParseArgsConfig } from "util";
import { RELEASE_ID, RELEASE_ID_RULE } from "../../components/config/releaseId";
import { redactUrl } from "../../components/release/pgTools";
import { CliHelp, helpText } from "./flags";

/** The database this command was given (see databaseUrlFrom): a failure to reach it names it, password masked. */
let databaseInUse: string | undefined;

// Node's network errors, and PostgreSQL's connection (08), authentication (28) and unknown-database (3D000) ones.
const UNREACHABLE = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH"]);
function aboutTheDatabase(err: any): boolean {
    const code = String(err?.code ?? "");
    return UNREACHABLE.has(code) || /^(08|28)/.test(code) || code === "3D000" || /^Connection terminated|timeout expired/i.test(String(err?.message));
}

/** The operator called the command wrongly (exit 2), as opposed to an operation that failed (exit 1). */
export class UsageError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "UsageError";
    }
}

/** Runs a check of the operator's input written outside the CLIs (components/): what it throws is bad usage (exit 2). */
export function usageChecked<T>(check: () => T, usage: string): T {
    try {
        return check();
    } catch (err: any) {
        throw new UsageError(`${err.message}\nusage: ${usage}`);
    }
}

/**
 * Runs a command-line entry point: exit 0 on success; on failure one message
 * on stderr (naming the file, check or key, never a stack trace) and exit 1,
 * or 2 when the command was called wrongly.
 */
export function runCli(name: string, main: () => Promise<void>): void {
    // Exit once stdout is flushed: a long report into a pipe is written asynchronously.
    const exit = (code: number) => process.stdout.write("", () => process.exit(code));
    main().then(
        () => exit(0),
        (err: any) => {
            const where = databaseInUse && aboutTheDatabase(err) ? `cannot use the database ${redactUrl(databaseInUse)} (--database-url, else DATABASE_URL): ` : "";
            process.stderr.write(`${name}: ${where}${err?.message ?? err}\n`);
            exit(err instanceof UsageError ? 2 : 1);
        },
    );
}

/**
 * node:util parseArgs with strict checking and a usage line in every error.
 * `--help` / `-h` prints the help (usage, flags with their shared meanings,
 * example) and exits 0, unless the command declares its own `help` option.
 */
export function parseCli<T extends NonNullable<ParseArgsConfig["options"]>>(help: string | CliHelp, options: T, args = process.argv.slice(2)) {
    const usage = typeof help === "string" ? help : help.usage;
    if (!("help" in options) && args.some((a) => a === "--help" || a === "-h")) {
        // Every flag the command accepts is listed, described or not (tests/cliFlags.test.ts fails on an undescribed one).
        const described = typeof help === "string" ? {} : help.flags;
        const declared = Object.entries(options).map(([name, o]) => [name, described[name] ?? (o.default !== undefined ? { note: `default ${o.default}` } : {})]);
        const flags = { ...Object.fromEntries(declared), ...described };
        process.stdout.write(helpText(typeof help === "string" ? { usage, flags, example: "" } : { ...help, flags }));
        process.exit(0);
    }
    try {
        return parseArgs({ args, options, allowPositionals: true, strict: true });
    } catch (err: any) {
        throw new UsageError(`${err.message}\nusage: ${usage}`);
    }
}

/** --database-url, else DATABASE_URL, else an error saying both. */
export function databaseUrlFrom(value: string | undefined, usage: string): string {
    const url = value ?? process.env.DATABASE_URL;
    if (!url) throw new UsageError(`no database: pass --database-url <url> or set DATABASE_URL\nusage: ${usage}`);
    // Never echoed: a malformed URL may still hold a password.
    const form = /^postgres(ql)?:\/\//.test(url) && URL.canParse(url);
    if (!form) throw new UsageError(`${value ? "--database-url" : "DATABASE_URL"} is not a database URL of the form postgres://user:password@host:port/name\nusage: ${usage}`);
    databaseInUse = url;
    return url;
}

export function required(value: string | undefined, flag: string, usage: string): string {
    if (!value) throw new UsageError(`${flag} is required\nusage: ${usage}`);
    return value;
}

/** A release id in the form the stack's `release` takes (it names snapshot files and ledger lines). */
export function releaseId(value: string, usage: string): string {
    if (!RELEASE_ID.test(value)) throw new UsageError(`--release ${JSON.stringify(value)} ${RELEASE_ID_RULE}\nusage: ${usage}`);
    return value;
}

/** A Pulumi stack name (optionally org/project/stack): never a path out of the project or state directory. */
export function stackName(value: string, usage: string): string {
    const segments = value.split("/");
    if (segments.length > 3 || segments.some((s) => !/^[A-Za-z0-9_.-]+$/.test(s) || s === "." || s === "..")) {
        throw new UsageError(`--stack ${JSON.stringify(value)} is not a stack name (letters, digits, '-', '_', '.', optionally org/project/stack)\nusage: ${usage}`);
    }
    return value;
}

/** An http(s) address without credentials (fetch refuses them, and a ledger or report must not hold a password). */
export function baseUrl(value: string, usage: string): string {
    let url: URL;
    try {
        url = new URL(value);
    } catch {
        url = new URL("invalid:");
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`--base-url must be an http(s) address such as http://127.0.0.1:8181\nusage: ${usage}`);
    if (url.username || url.password) throw new UsageError(`--base-url must not carry credentials (user:password@${url.host}): the gate's checks take theirs from the spec's headers and secrets\nusage: ${usage}`);
    return value;
}

/** A migration file's version prefix (--baseline, --through): digits, as in 019. */
export function versionPrefix(value: string | undefined, flag: string, usage: string): string | undefined {
    if (value !== undefined && !/^\d+$/.test(value)) throw new UsageError(`${flag} must be a version prefix such as 019, got ${JSON.stringify(value)}\nusage: ${usage}`);
    return value;
}
