import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";

/**
 * Inputs that local stacks created before Gatehouse ran Pulumi's own command
 * provider have in their state and Pulumi's provider does not write:
 * Gatehouse's former stand-in recorded `addPreviousOutputInEnv: true` (the
 * provider's documented default) in every command's inputs and outputs, and
 * Pulumi's v1.2.1 leaves an unset input out. Read against such a state, each
 * step would show as an update and `pulumi up` would run it again: snapshot,
 * migrations, deploys, switches. Ignoring the input keeps the default in force
 * either way (tests/fixtures/standin-state/ holds a state the stand-in wrote).
 */
const WRITTEN_ONLY_BY_THE_FORMER_STAND_IN = ["addPreviousOutputInEnv"];

/** A command:local:Command, as every step Gatehouse runs on this machine is declared. */
export function localCommand(name: string, args: command.local.CommandArgs, opts: pulumi.CustomResourceOptions = {}): command.local.Command {
    return new command.local.Command(name, args, { ...opts, ignoreChanges: [...(opts.ignoreChanges ?? []), ...WRITTEN_ONLY_BY_THE_FORMER_STAND_IN] });
}
