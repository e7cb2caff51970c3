import { featuresOf } from "../release/gateConditions";
import { KNOWN_DEFECT_FORM, parseKnownDefect } from "../release/gateDefects";
import type { GateSpec } from "../release/gateSchema";
import { ConfigProblem, FixCommands } from "./problems";
import { PlainConfig } from "./schema";

// The config keys that speak about the stack's gate specs (appFeatures,
// gateKnownDefects), checked against the specs themselves.

/** A gate spec of the stack and the file (config value) it came from; "" = the default health gate. */
export type NamedSpec = { file: string; spec: GateSpec };

const specNames = (specs: NamedSpec[]) => specs.map((s) => s.file).filter(Boolean).join(" or ") || "the default health gate";

/**
 * gateKnownDefects: each entry in its form, with a status and a reason, naming
 * a check of the stack's gate specs (a defect declared for no check would
 * excuse nothing, and hide a typo).
 */
export function checkKnownDefects(cfg: PlainConfig, specs: NamedSpec[], fix: FixCommands, problems: ConfigProblem[]): void {
    cfg.gateKnownDefects.forEach((entry, index) => {
        const key = `gateKnownDefects[${index}]`;
        const parsed = parseKnownDefect(entry);
        const problem = "error" in parsed ? parsed.error : undefined;
        const named = "defect" in parsed && specs.some((s) => s.spec.checks.some((c) => c.name === parsed.defect.check));
        if (problem === undefined && named) return;
        const checks = specs.map((s) => `${s.file || "the default health gate"}: ${s.spec.checks.map((c) => c.name).join(", ")}`).join("; ");
        problems.push({
            key,
            problem: problem ?? `names the check "${"defect" in parsed ? parsed.defect.check : ""}", which no gate spec of this stack has (${checks})`,
            fix: fix.setPath(key, KNOWN_DEFECT_FORM),
        });
    });
}

/** Every feature appFeatures lists is one a check of the stack's gate specs needs: a misspelt one would leave its checks not run. */
export function checkAppFeatures(cfg: PlainConfig, specs: NamedSpec[], fix: FixCommands, problems: ConfigProblem[]): void {
    const needed = [...new Set(specs.flatMap((s) => s.spec.checks.flatMap(featuresOf)))].sort();
    cfg.appFeatures.forEach((feature, index) => {
        if (needed.includes(feature)) return;
        problems.push({
            key: `appFeatures[${index}]`,
            problem: `no check of ${specNames(specs)} needs ${feature} (${needed.length ? `they need: ${needed.join(", ")}` : "none needs a feature"})`,
            fix: fix.removePath(`appFeatures[${index}]`),
        });
    });
}
