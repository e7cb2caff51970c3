import { parseArgs, ParseArgsConfig } from "util";

/** The operator called the command wrongly (exit 2), as opposed to an operation that failed (exit 1). */
export class UsageError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "UsageError";
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
            process.stderr.write(`${name}: ${err?.message ?? err}\n`);
            exit(err instanceof UsageError ? 2 : 1);
        },
    );
}

/**
 * node:util parseArgs with strict checking and a usage line in every error.
 * `--help` / `-h` prints the usage and exits 0, unless the command declares
 * its own `help` option (a longer text).
 */
export function parseCli<T extends NonNullable<ParseArgsConfig["options"]>>(usage: string, options: T, args = process.argv.slice(2)) {
    if (!("help" in options) && args.some((a) => a === "--help" || a === "-h")) {
        process.stdout.write(`usage: ${usage}\n`);
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
    return url;
}

export function required(value: string | undefined, flag: string, usage: string): string {
    if (!value) throw new UsageError(`${flag} is required\nusage: ${usage}`);
    return value;
}
