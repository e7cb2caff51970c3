import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { GatehouseConfig, Slot } from "../config";

/** One promotion: the release that took production traffic, on which slot, with which backend image. */
export interface Promotion {
    release: string;
    liveSlot: Slot;
    backendImage: string;
}

/**
 * Every promotion of this app, oldest first, as the SSM parameter
 * `/gatehouse/<app>/promotions` holds it. It lives in the account, not on the
 * deployer's machine: whoever runs the next `pulumi up` (a person, CI) sees
 * the same history, and a release whose gate failed never appears in it
 * (the parameter is written only after the last promotion of an update).
 */
export type ReleaseHistory = Promotion[];

export const ledgerParameterName = (app: string) => `/gatehouse/${app}/promotions`;

/**
 * Reads the history at the start of the program (an invoke: works in preview
 * too). A missing parameter is a first deploy; anything unreadable is treated
 * as no history, which is the safe side (a full release with snapshot,
 * migrations and gate).
 */
export async function readReleaseHistory(app: string): Promise<ReleaseHistory> {
    try {
        const parameter = await aws.ssm.getParameter({ name: ledgerParameterName(app) });
        const parsed = JSON.parse(parameter.value ?? "[]");
        return Array.isArray(parsed) ? parsed.filter((p) => p && typeof p.release === "string") : [];
    } catch {
        return [];
    }
}

/** What this update is, read from the history: a new release, or a return to one already promoted. */
export interface ReleaseKind {
    /** The release id was promoted before: no snapshot, no migration, no gate; the production rule flips. */
    returning: boolean;
    /** The promotion of this release id the update returns to (the latest one). */
    earlier?: Promotion;
    /** What takes production traffic now (the last promotion), if anything. */
    current?: Promotion;
}

export function releaseKind(config: GatehouseConfig, history: ReleaseHistory): ReleaseKind {
    const earlier = [...history].reverse().find((p) => p.release === config.release);
    return { returning: earlier !== undefined, earlier, current: history[history.length - 1] };
}

/**
 * The history after this update: this release appended, unless it is already
 * the last entry (the same config again changes nothing, not even the ledger).
 */
export function historyAfter(config: GatehouseConfig, history: ReleaseHistory): ReleaseHistory {
    const entry: Promotion = { release: config.release, liveSlot: config.aws.liveSlot, backendImage: config.aws.backendImages[config.aws.liveSlot] };
    const last = history[history.length - 1];
    if (last && JSON.stringify(last) === JSON.stringify(entry)) return history;
    // Bounded: SSM standard parameters hold 4 KB; the last 20 promotions are plenty to roll back to.
    return [...history, entry].slice(-20);
}

/** Records the promotion, after every production rule switched (and only then). */
export function ledgerParameter(name: string, config: GatehouseConfig, history: ReleaseHistory, after: pulumi.Resource[], parent: pulumi.Resource): aws.ssm.Parameter {
    return new aws.ssm.Parameter(
        `${name}-promotions`,
        { name: ledgerParameterName(config.app), type: "String", value: JSON.stringify(historyAfter(config, history)), description: "Gatehouse: promoted releases, oldest first (read to recognise a rollback)" },
        { parent, dependsOn: after },
    );
}

/**
 * The lines `pulumi preview` shows for an AWS update that returns to a
 * release promoted before (empty for a new release). For plan.ts: call it
 * where the local target's ROLLBACK block is built, with the history that
 * index.ts read (readReleaseHistory), and push the lines after the title.
 */
export function awsRollbackPlanLines(config: GatehouseConfig, history: ReleaseHistory): string[] {
    const kind = releaseKind(config, history);
    if (!kind.returning) return [];
    const slot = config.aws.liveSlot;
    const now = kind.current!;
    const traffic =
        now.release === config.release && now.liveSlot === slot
            ? `  Production traffic is on release ${config.release} (slot ${slot}) already: the production rule does not change.`
            : `  Production traffic is on release ${now.release} (slot ${now.liveSlot}); this update points the production rule(s) back at slot ${slot}.`;
    return [
        "",
        `ROLLBACK: release ${config.release} was promoted before (on slot ${kind.earlier!.liveSlot}, backend ${kind.earlier!.backendImage}).`,
        traffic,
        `  Slot ${slot} is not redeployed while it still runs ${config.aws.backendImages[slot]} (its service shows as \`same\`); if a later release replaced it, ECS redeploys it and the switch waits until it is steady.`,
        `  It takes no snapshot (release ${config.release}'s RDS snapshot, kept from its first run, is adopted by id: import, never CreateDBSnapshot), runs no migration and no schema verification`,
        `  (a rollback never reverts a migration: the database stays at its newest schema), and skips the health gate (the release passed it when it was promoted).`,
    ];
}
