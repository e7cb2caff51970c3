import * as fs from "fs";
import * as path from "path";
import { REPO_ROOT } from "../harness/stackConfig";

/** Resources of a Pulumi state as `pulumi stack export` writes them. */
interface Resource {
    type: string;
    urn: string;
    inputs?: Record<string, unknown>;
    outputs?: Record<string, unknown>;
}
type Deployment = { deployment: { resources: Resource[] } };

/** What Gatehouse's former command-provider stand-in wrote for a `local` stack (see the fixture's `about`). */
const WRITTEN_BY_THE_STAND_IN = path.join(REPO_ROOT, "tests", "fixtures", "standin-state", "local.json");

/**
 * A state exported under Pulumi's own command provider, turned into what the
 * former stand-in would have written for the same commands: every key the
 * stand-in's commands have in their inputs or outputs and these lack is
 * added, with the stand-in's value. The difference is read from the fixture,
 * not restated here, and returned so a test can say what it was; a key the
 * official provider writes and the stand-in did not is refused (the fixture
 * would then not describe a state the stand-in left).
 */
export function asTheStandInWroteIt(exported: Deployment): { state: Deployment; added: { inputs: string[]; outputs: string[] } } {
    const fixture = (JSON.parse(fs.readFileSync(WRITTEN_BY_THE_STAND_IN, "utf8")) as { resources: Resource[] }).resources.filter(isCommand);
    const state = structuredClone(exported);
    const commands = state.deployment.resources.filter(isCommand);
    const byName = new Map(fixture.map((r) => [nameOf(r), r]));
    const added = { inputs: new Set<string>(), outputs: new Set<string>() };
    for (const part of ["inputs", "outputs"] as const) {
        for (const live of commands) {
            const theirs = byName.get(nameOf(live));
            if (!theirs) continue;
            const ours = Object.keys(live[part] ?? {});
            const onlyOurs = ours.filter((k) => !(k in (theirs[part] ?? {})));
            if (onlyOurs.length) throw new Error(`${nameOf(live)}'s ${part} have ${onlyOurs.join(", ")}, which the stand-in never wrote`);
            for (const key of Object.keys(theirs[part] ?? {})) if (!ours.includes(key)) added[part].add(key);
        }
        for (const key of added[part]) {
            const values = new Set(fixture.map((r) => JSON.stringify(r[part]?.[key])));
            if (values.size !== 1) throw new Error(`the stand-in wrote ${part}.${key} with different values: ${[...values].join(", ")}`);
            const value = JSON.parse([...values][0]);
            for (const live of commands) live[part] = { ...live[part], [key]: value };
        }
    }
    return { state, added: { inputs: [...added.inputs].sort(), outputs: [...added.outputs].sort() } };
}

const isCommand = (r: Resource) => r.type === "command:local:Command";
const nameOf = (r: Resource) => r.urn.split("::").pop()!;
