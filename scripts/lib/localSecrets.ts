import type { Stack } from "@pulumi/pulumi/automation";
import { DEFAULT_LOCAL_SECRET, SecretFormat, describe, generateSecret, parseSecretFormat } from "../../components/config/secretFormats";
import { secretsNamedByStackFile } from "../../components/config/validate";

/**
 * A local stack's secrets that are not set yet (JWT_SECRET, KIFU_ENC_KEY, ...)
 * become random values in the form the stack file declares (secretFormats),
 * set encrypted once; values already set are kept.
 */
export async function generateLocalSecrets(stack: Stack, stackConfig: Record<string, any>, log: (line: string) => void = () => {}): Promise<void> {
    const formats = new Map<string, SecretFormat>();
    for (const entry of (stackConfig["gatehouse:secretFormats"] ?? []) as string[]) {
        const parsed = parseSecretFormat(entry);
        if (!("error" in parsed)) formats.set(parsed.name, parsed.format); // a bad entry is the program's error to report
    }
    const existing = await stack.getAllConfig();
    for (const name of secretsNamedByStackFile(stackConfig, "gatehouse")) {
        if (existing[`gatehouse:${name}`]) continue;
        const format = formats.get(name) ?? DEFAULT_LOCAL_SECRET;
        await stack.setConfig(`gatehouse:${name}`, { value: generateSecret(format), secret: true });
        log(`generated a local ${name}, ${describe(format)} (encrypted in the stack file of ${stack.workspace.workDir}, outside the repo)`);
    }
}
