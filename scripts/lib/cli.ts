import { parseArgs, ParseArgsConfig } from "util";

/**
 * Runs a command-line entry point: exit 0 on success; on failure one message
 * on stderr (naming the file, check or key) and exit 1.
 */
export function runCli(name: string, main: () => Promise<void>): void {
    main().then(
        () => process.exit(0),
        (err: any) => {
            process.stderr.write(`${name}: ${err?.message ?? err}\n`);
            process.exit(1);
        },
    );
}

/** node:util parseArgs with strict checking and a usage line in every error. */
export function parseCli<T extends NonNullable<ParseArgsConfig["options"]>>(usage: string, options: T, args = process.argv.slice(2)) {
    try {
        return parseArgs({ args, options, allowPositionals: true, strict: true });
    } catch (err: any) {
        throw new Error(`${err.message}\nusage: ${usage}`);
    }
}

/** --database-url, else DATABASE_URL, else an error saying both. */
export function databaseUrlFrom(value: string | undefined, usage: string): string {
    const url = value ?? process.env.DATABASE_URL;
    if (!url) throw new Error(`no database: pass --database-url <url> or set DATABASE_URL\nusage: ${usage}`);
    return url;
}

export function required(value: string | undefined, flag: string, usage: string): string {
    if (!value) throw new Error(`${flag} is required\nusage: ${usage}`);
    return value;
}
