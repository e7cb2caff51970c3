import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { LocalSettings } from "../config";
import { localCommand } from "../release/localCommand";
import { shellQuote } from "../release/shell";

/** One of the local target's process-control commands (local-app, promote), wherever it runs. */
export interface HostCommandArgs {
    create: pulumi.Input<string>;
    /** @default create */
    update?: pulumi.Input<string>;
    /** Run when the resource is deleted (the stack destroyed). */
    delete?: pulumi.Input<string>;
    /** The command's env. May hold secrets (the database URL, the app's secrets). */
    environment?: Record<string, pulumi.Input<string>>;
    triggers?: pulumi.Input<any[]>;
}

/** Both providers' Command have `stdout`; that is all the target reads back. */
export type HostCommand = command.local.Command | command.remote.Command;

/** Where the local target's slots, edges and workers run. */
export interface Host {
    /** Declares one command that runs on this host. */
    command(name: string, args: HostCommandArgs, opts: pulumi.CustomResourceOptions): HostCommand;
    /**
     * A URL `local-app` printed on the host (http://127.0.0.1:<port>) as the
     * deployer, where the health gates run, must address it.
     */
    reachableUrl(url: string): string;
}

/** This machine: commands run from the project directory, as child processes of the Pulumi engine's provider. */
export const thisMachine: Host = {
    command: (name, args, opts) => localCommand(name, args, opts),
    reachableUrl: (url) => url,
};

export interface SshHostArgs {
    /** The SSH connection; privateKey must be a Pulumi secret. */
    connection: { host: string; port: number; user: string; privateKey: pulumi.Input<string> };
    /** A Gatehouse checkout on the host with `.gatehouse/build` built; relative to the user's home, or absolute. */
    projectDir: string;
}

/**
 * A host over SSH (@pulumi/command's remote.Command). Every command runs as
 * `cd <projectDir> && <command>`.
 *
 * The environment is NOT passed as remote.Command's `environment`: the
 * provider sends it with SSH "env" requests (SetEnv), which sshd honours only
 * for names its AcceptEnv lists (Debian's and Ubuntu's default is `LANG LC_*`),
 * and the provider ignores a refused request, so DATABASE_URL and the app's
 * secrets would be dropped without a word. Instead the variables go to the
 * command's stdin (remote.Command has `stdin` in 1.2.x) as `export NAME='value'`
 * lines, which the command evaluates before it runs: nothing in sshd's config
 * to change, nothing on the command line (where `ps` would show it), and stdin
 * is a secret input whenever a value is.
 *
 * Not verified: the server's host key (ConnectionArgs.hostKey is left unset,
 * which the provider documents as "the host key will be ignored").
 */
export function sshHost(args: SshHostArgs): Host {
    const connection = { host: args.connection.host, port: args.connection.port, user: args.connection.user, privateKey: pulumi.secret(args.connection.privateKey) };
    const hostname = args.connection.host.includes(":") ? `[${args.connection.host}]` : args.connection.host;
    return {
        command: (name, { create, update, delete: del, environment, triggers }, opts) => {
            const prefix = `cd ${shellQuote(args.projectDir)} && ${environment ? 'eval "$(cat)" && ' : ""}`;
            const onHost = (cmd: pulumi.Input<string> | undefined) => (cmd === undefined ? undefined : pulumi.interpolate`${prefix}${cmd}`);
            return new command.remote.Command(
                name,
                { connection, create: onHost(create), update: onHost(update), delete: onHost(del), stdin: environment ? exportLines(environment) : undefined, triggers },
                opts,
            );
        },
        reachableUrl: (url) => url.replace(/^(https?:\/\/)(127\.0\.0\.1|localhost)(?=[:/]|$)/, `$1${hostname}`),
    };
}

/** The host the stack's config names (localHost): this machine, or an SSH host with its key (a secret). */
export function hostFor(settings: LocalSettings["host"], privateKey: pulumi.Input<string> | undefined): Host {
    if (settings.kind === "this-machine") return thisMachine;
    if (privateKey === undefined) throw new Error("localHost is an SSH host but localHostPrivateKey was not read");
    return sshHost({ connection: { host: settings.hostname, port: settings.port, user: settings.user, privateKey }, projectDir: settings.projectDir });
}

function exportLines(environment: Record<string, pulumi.Input<string>>): pulumi.Output<string> {
    return pulumi.all(environment).apply((env) =>
        Object.entries(env)
            .map(([name, value]) => `export ${name}=${shellQuote(value)}\n`)
            .join(""),
    );
}
