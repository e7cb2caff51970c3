import { Settings } from "../config";

/**
 * The release plan's section on what the deployed version does not support
 * yet: the stack's own list (checklistGaps), and every guardrail set to
 * something other than "off" that no env var carries to the app, so the
 * preview never suggests a flag is in force when the app cannot see it.
 */
export function checklistGapLines(config: Pick<Settings, "checklistGaps" | "guardrails">): string[] {
    const uncarried: string[] = [];
    const g = config.guardrails;
    if (!g.llmEnabled && !g.env.llmEnabled) {
        uncarried.push("guardrail llmEnabled=false: no flag reaches the app (llmEnabledEnv is empty); only the LLM provider keys are withheld");
    }
    if (g.ruleFallbackForced && !g.env.ruleFallbackForced) {
        uncarried.push("guardrail ruleFallbackForced=true: not in force, no flag reaches the app (ruleFallbackEnv is empty)");
    }
    if (g.notificationSendCap > 0 && !g.env.notificationSendCap) {
        uncarried.push(`guardrail notificationSendCap=${g.notificationSendCap}: not in force, no cap reaches the app (notificationSendCapEnv is empty)`);
    }
    const lines = [...config.checklistGaps, ...uncarried];
    if (lines.length === 0) return [];
    return ["", "Not supported by the deployed version (checklist items it does not read yet):", ...lines.map((l) => `  ${l}`)];
}
