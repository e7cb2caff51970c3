import { bindable } from "../../components/local/embeddedPostgres";

/**
 * A local stack's ports for a test: the edge's and its two slots' (port, +1,
 * +2), all free, below Linux's ephemeral range (32768-60999). Ports from the
 * ephemeral range can be taken at any moment as the local port of some
 * outgoing connection, which makes a slot's later listen fail.
 */
export async function freeStackPorts(): Promise<number> {
    for (let attempt = 0; attempt < 200; attempt++) {
        const base = 20_000 + Math.floor(Math.random() * 12_000);
        if ((await Promise.all([base, base + 1, base + 2].map(bindable))).every(Boolean)) return base;
    }
    throw new Error("no three consecutive free ports between 20000 and 32000");
}
