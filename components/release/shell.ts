/** One word for /bin/sh: left bare when it is plainly safe, single-quoted otherwise. */
export function shellQuote(word: string): string {
    return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}

/**
 * The command after `--` as the shell gave it to us, quoted back into one
 * command line: joining argv with spaces would lose the quoting of
 * `sh -c 'a; b'` and run something else.
 */
export function commandAfterDashDash(argv: string[]): string {
    const at = argv.indexOf("--");
    return at >= 0 ? argv.slice(at + 1).map(shellQuote).join(" ") : "";
}
