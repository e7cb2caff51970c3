/** One thing wrong with a stack's configuration, and the command that fixes it. */
export interface ConfigProblem {
    /** The config key (or `key[index]` inside an array) that is wrong. */
    key: string;
    /** What is wrong, in words an operator acts on. */
    problem: string;
    /** The exact command that fixes it. */
    fix: string;
}

/**
 * Every configuration problem of a stack in one error, so an operator fixes
 * them all in one go instead of meeting them one `pulumi up` at a time.
 */
export class ConfigError extends Error {
    readonly problems: ConfigProblem[];

    constructor(stack: string, problems: ConfigProblem[]) {
        const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
        const lines = problems.map((p) => `  - ${p.key}: ${p.problem}\n      fix: ${p.fix}`);
        super(`Gatehouse configuration of stack "${stack}" has ${count}:\n${lines.join("\n")}`);
        this.name = "ConfigError";
        this.problems = problems;
    }
}

/** Builds the `pulumi config ...` commands quoted for a POSIX shell. */
export class FixCommands {
    constructor(private readonly stack: string) {}

    set(key: string, value: string): string {
        return `pulumi config set --stack ${this.stack} ${quoteIfNeeded(key)} ${quoteIfNeeded(value)}`;
    }

    setSecret(key: string): string {
        return `pulumi config set --stack ${this.stack} --secret ${quoteIfNeeded(key)} <value>`;
    }

    /** Sets a secret to what a shell command prints (a value never typed, never in the shell's history). */
    setSecretFromCommand(key: string, command: string): string {
        return `pulumi config set --stack ${this.stack} --secret ${quoteIfNeeded(key)} "$(${command})"`;
    }

    /** A multi-line secret (a key file): `pulumi config set` reads the value from stdin. */
    setSecretFromFile(key: string, file: string): string {
        return `pulumi config set --stack ${this.stack} --secret ${quoteIfNeeded(key)} < ${file}`;
    }

    setPath(path: string, value: string): string {
        return `pulumi config set --stack ${this.stack} --path '${path}' ${quoteIfNeeded(value)}`;
    }

    remove(key: string): string {
        return `pulumi config rm --stack ${this.stack} ${quoteIfNeeded(key)}`;
    }

    removePath(path: string): string {
        return `pulumi config rm --stack ${this.stack} --path '${path}'`;
    }
}

function quoteIfNeeded(word: string): string {
    return /^[A-Za-z0-9_./:=@-]+$/.test(word) || /^<[a-z|]+>$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}
