import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, readConfig, readProjectFile, validateConfig } from "../components/config";
import { configSchema } from "../components/config/schema";
import { parseYamlFile } from "../components/config/yamlCache";
import { findSecretLeaks } from "./harness/mocks";
import { prepareStack, runStack } from "./harness/program";
import { loadStackConfig } from "./harness/stackConfig";

/** Runs the program and returns the ConfigError it threw. */
async function configErrorOf(stack: string, options: Parameters<typeof runStack>[1]): Promise<ConfigError> {
    try {
        await runStack(stack, options);
    } catch (err) {
        if (err instanceof ConfigError) return err;
        throw err;
    }
    throw new Error("the program accepted the configuration");
}

/** validateConfig over a stack file with overrides, without running Pulumi. */
function validateStack(
    stack: string,
    options: Parameters<typeof loadStackConfig>[1] = {},
    rawValues: Record<string, string> = {},
) {
    const loaded = loadStackConfig(stack, options);
    const prefix = `${loaded.project}:`;
    const values = Object.fromEntries(
        Object.entries(loaded.config)
            .filter(([k]) => k.startsWith(prefix))
            .map(([k, v]) => [k.slice(prefix.length), v]),
    );
    // Raw strings the CLI would have refused already; the program must refuse them too.
    Object.assign(values, rawValues);
    const secretKeys = new Set(loaded.secretKeys.map((k) => k.slice(prefix.length)));
    return validateConfig({ stack, project: readProjectFile(), values, secretKeys, projectDir: path.join(__dirname, "..") });
}

describe("configuration", () => {
    it("Pulumi.yaml declares exactly the keys the schema checks, each with a description", () => {
        const declared = readProjectFile().declarations;
        assert.deepEqual(Object.keys(declared).sort(), Object.keys(configSchema.shape).sort());
        for (const [key, decl] of Object.entries(declared)) {
            assert.ok(decl.description.length > 10, `${key} has no description`);
            assert.ok(["string", "integer", "boolean", "array"].includes(decl.type), `${key} has no type`);
        }
    });

    it("the prod stack loads with no config error and registers its resources", async () => {
        const run = await runStack("prod");
        assert.equal(run.outputs.app, "kifu");
        assert.equal(run.outputs.release, "2026-11-22.1");
        const app = run.get("gatehouse:app:App", "kifu");
        assert.ok(app.end !== undefined);
        assert.deepEqual(Object.keys(run.outputs.envNames).sort(), ["backend", "frontend"]);
        assert.deepEqual(run.outputs.envNames.backend.secret, ["JWT_SECRET", "KIFU_ENC_KEY", "OPENAI_API_KEY"]);
        assert.deepEqual(run.outputs.envNames.backend.derived, ["DATABASE_URL"]);
        assert.deepEqual(run.outputs.envNames.frontend.derived, ["NEXT_PUBLIC_API_BASE_URL"]);
    });

    it("the second app's stack file loads too, passing only what its deployed version reads", async () => {
        const run = await runStack("routine-prod");
        assert.equal(run.outputs.app, "routine");
        // No worker, no Redis, no invented env names: the deployed version has none of them (checklistGaps says so).
        assert.deepEqual(Object.keys(run.outputs.envNames).sort(), ["backend"]);
        assert.deepEqual(run.outputs.envNames.backend.derived, ["DATABASE_URL"]);
        const { settings } = validateStack("routine-prod");
        assert.deepEqual(settings.services.backend.env, {});
        assert.deepEqual(settings.secretNames, []);
        assert.equal(settings.databaseUrlScheme, "postgresql+psycopg");
        assert.ok(settings.checklistGaps.some((g) => g.startsWith("REDIS_URL")));
    });

    it("dropping three required secrets yields one error naming all three, each with its fix command", async () => {
        const err = await configErrorOf("prod", { omitSecrets: ["JWT_SECRET", "KIFU_ENC_KEY", "OPENAI_API_KEY"] });
        assert.deepEqual(
            err.problems.map((p) => [p.key, p.fix]),
            [
                ["JWT_SECRET", "pulumi config set --stack prod --secret JWT_SECRET <value>"],
                ["KIFU_ENC_KEY", "pulumi config set --stack prod --secret KIFU_ENC_KEY <value>"],
                ["OPENAI_API_KEY", "pulumi config set --stack prod --secret OPENAI_API_KEY <value>"],
            ],
        );
        assert.match(err.message, /has 3 problems/);
        for (const name of ["JWT_SECRET", "KIFU_ENC_KEY", "OPENAI_API_KEY"]) {
            assert.ok(err.message.includes(`pulumi config set --stack prod --secret ${name} <value>`));
        }
    });

    it("rejects a secret stored in plaintext", async () => {
        const err = await configErrorOf("prod", { plaintext: { JWT_SECRET: "hunter2" } });
        assert.deepEqual(err.problems, [
            {
                key: "JWT_SECRET",
                problem: "is stored in plaintext in Pulumi.prod.yaml; secrets must be encrypted",
                fix: "pulumi config set --stack prod --secret JWT_SECRET <value>",
            },
        ]);
        assert.ok(!err.message.includes("hunter2"), "the error must not print the plaintext secret");
    });

    it("rejects NEXT_PUBLIC_APP_MODE other than prod in production", async () => {
        const err = await configErrorOf("prod", { set: { frontendEnv: ["NEXT_PUBLIC_APP_MODE=demo"] } });
        assert.deepEqual(err.problems, [
            {
                key: "frontendEnv[0]",
                problem: 'NEXT_PUBLIC_APP_MODE must be "prod" in production (productionEnv), got "demo"',
                fix: "pulumi config set --stack prod --path 'frontendEnv[0]' NEXT_PUBLIC_APP_MODE=prod",
            },
        ]);
    });

    it("allows another NEXT_PUBLIC_APP_MODE outside production", () => {
        const { problems } = validateStack("prod", {
            set: { environment: "staging", frontendEnv: ["NEXT_PUBLIC_APP_MODE=demo", "NEXT_PUBLIC_DEMO_USER=a"] },
        });
        assert.deepEqual(problems, []);
    });

    it("rejects a NEXT_PUBLIC_DEMO_* override in production", async () => {
        const err = await configErrorOf("prod", {
            set: { frontendEnv: ["NEXT_PUBLIC_APP_MODE=prod", "NEXT_PUBLIC_DEMO_ACCOUNT=guest"] },
        });
        assert.deepEqual(err.problems, [
            {
                key: "frontendEnv[1]",
                problem: "NEXT_PUBLIC_DEMO_ACCOUNT must not be overridden in production (productionForbiddenEnv)",
                fix: "pulumi config rm --stack prod --path 'frontendEnv[1]'",
            },
        ]);
    });

    it("every secret reaches the program as a Pulumi secret and no input leaks one", async () => {
        const { loaded } = await prepareStack("prod");
        const config = readConfig();
        assert.deepEqual(Object.keys(config.secrets).sort(), ["JWT_SECRET", "KIFU_ENC_KEY", "OPENAI_API_KEY"]);
        for (const [name, output] of Object.entries(config.secrets)) {
            assert.equal(await pulumi.isSecret(output), true, `${name} is not a Pulumi secret`);
        }
        const run = await runStack("prod");
        assert.deepEqual(findSecretLeaks(run.registrations, loaded.secretValues), []);
        assert.deepEqual(findSecretLeaks(run.registrations, run.stack.secretValues), []);
    });

    it("the leak scan finds a secret in plaintext but not inside a Pulumi secret", () => {
        const secret = "gh-test-value-1234";
        const wrapped = { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", value: secret };
        const registrations = [
            { type: "t:a", name: "plain", inputs: { env: [{ name: "X", value: `prefix-${secret}` }] }, custom: true, start: 0 },
            { type: "t:b", name: "b64", inputs: { data: Buffer.from(secret).toString("base64") }, custom: true, start: 0 },
            { type: "t:c", name: "wrapped", inputs: { value: wrapped }, custom: true, start: 0 },
        ];
        assert.deepEqual(findSecretLeaks(registrations, { X: secret }), [
            "t:a plain.env[0].value contains X",
            "t:b b64.data contains X (base64)",
        ]);
    });

    it("refuses env vars that Gatehouse derives, typed in by hand", () => {
        const { problems } = validateStack("prod", {
            set: { backendEnv: ["APP_ENV=production", "AI_REQUIRE_ALLOWLIST=true", "AI_SERVICE_MONTHLY_CAP=1", "AI_RATE_LIMIT_RPM=1", "AI_RATE_LIMIT_BURST=1", "DATABASE_URL=postgres://x"] },
        });
        assert.deepEqual(problems.map((p) => [p.key, p.problem, p.fix]), [
            [
                "backendEnv[5]",
                "DATABASE_URL is derived by Gatehouse (the managed database's URL); it must not be typed in",
                "pulumi config rm --stack prod --path 'backendEnv[5]'",
            ],
        ]);
    });

    it("refuses a plaintext env var that looks like a credential, and a missing required env var", () => {
        const { problems } = validateStack("prod", {
            set: { backendEnv: ["APP_ENV=production", "AI_REQUIRE_ALLOWLIST=true", "AI_SERVICE_MONTHLY_CAP=1", "AI_RATE_LIMIT_RPM=x", "STRIPE_API_KEY=sk_live"] },
        });
        assert.deepEqual(problems.map((p) => p.key), ["backendEnv[3]", "backendEnv[4]", "backendRequiredEnv"]);
        assert.match(problems[0].problem, /AI_RATE_LIMIT_RPM must be a whole number/);
        assert.equal(
            problems[1].fix,
            "pulumi config rm --stack prod --path 'backendEnv[4]' && pulumi config set --stack prod --path 'backendSecrets[2]' STRIPE_API_KEY && pulumi config set --stack prod --secret STRIPE_API_KEY <value>",
        );
        assert.equal(problems[2].problem, "the backend requires AI_RATE_LIMIT_BURST but no plain, secret or derived value provides it");
        assert.equal(problems[2].fix, "pulumi config set --stack prod --path 'backendEnv[5]' 'AI_RATE_LIMIT_BURST=<value>'");
    });

    it("reports bad types, bad values and unknown keys together, each with a fix", () => {
        const { problems } = validateStack("prod", { set: { target: "gcp", backendEnvs: ["X=1"] } }, { backendPort: "eighty" });
        assert.deepEqual(problems.map((p) => [p.key, p.fix]), [
            ["target", "pulumi config set --stack prod target <aws|local>"],
            ["backendPort", "pulumi config set --stack prod backendPort <number>"],
            ["backendEnvs", "pulumi config rm --stack prod backendEnvs"],
        ]);
    });

    it("requires images on the aws target", () => {
        const { problems } = validateStack("prod", { set: { backendImage: "", frontendImage: "" } });
        assert.deepEqual(problems.map((p) => p.key), ["backendImage", "frontendImage"]);
    });

    it("demands the LLM key once the guardrail switches the LLM back on", () => {
        const { problems } = validateStack("routine-prod", { set: { llmEnabled: true, llmProviderKeys: ["OPENAI_API_KEY"] }, omitSecrets: ["OPENAI_API_KEY"] });
        assert.deepEqual(problems.map((p) => [p.key, p.fix]), [
            ["OPENAI_API_KEY", "pulumi config set --stack routine-prod --secret OPENAI_API_KEY <value>"],
        ]);
    });
});

describe("configuration the gate specs read", () => {
    it("appFeatures: a feature no check of the stack's gate spec needs is refused, naming what they need", () => {
        assert.deepEqual(validateStack("routine-local").problems, []);
        const { problems } = validateStack("routine-local", { set: { appFeatures: ["readyz", "plan-generaton"] } });
        assert.deepEqual(problems.map((p) => [p.key, p.problem, p.fix]), [
            ["appFeatures[1]", "no check of checks/routine.smoke.yaml needs plan-generaton (they need: auth-resolve, plan-generation, readyz)", "pulumi config rm --stack routine-local --path 'appFeatures[1]'"],
        ]);
        assert.deepEqual(validateStack("routine-local", { set: { appFeatures: ["readyz", "Readyz"] } }).problems.map((p) => [p.key, p.problem, p.fix]), [
            ["appFeatures[1]", "must be a feature name (lower-case letters, digits, -), e.g. plan-generation", "pulumi config set --stack routine-local --path 'appFeatures[1]' <value>"],
        ]);
        assert.deepEqual(validateStack("prod", { set: { appFeatures: ["readyz"] } }).problems.map((p) => p.problem), [
            "no check of checks/kifu.smoke.yaml or checks/kifu.frontend.yaml needs readyz (none needs a feature)",
        ]);
    });
});

describe("the routine smoke user, a secret only where a check that uses it runs", () => {
    it("routine-prod with develop's plan generation needs ROUTINE_SMOKE_USER_ID, set as a secret; with main (appFeatures []) none", () => {
        assert.deepEqual(validateStack("routine-prod", { set: { appFeatures: [] }, omitSecrets: ["ROUTINE_SMOKE_USER_ID"] }).problems, []);
        assert.deepEqual(validateStack("routine-prod", { omitSecrets: ["ROUTINE_SMOKE_USER_ID"] }).problems.map((p) => [p.key, p.problem, p.fix]), [
            ["ROUTINE_SMOKE_USER_ID", "secret is not set", "pulumi config set --stack routine-prod --secret ROUTINE_SMOKE_USER_ID <value>"],
        ]);
        assert.deepEqual(validateStack("routine-prod", {}).problems, [], "given as a secret");
        assert.deepEqual(validateStack("routine-local", { omitSecrets: ["ROUTINE_SMOKE_USER_ID"] }).problems, [], "the local stack resolves its own");
    });
});

describe("gateKnownDefects: the app's acknowledged defects, declared in the stack", () => {
    const PACK = "generate pack -> 500 PACK_SAVE_FAILED: the pack service stores a nil normalization_warnings (summary_pack_service.go)";
    const FIX = (i: number) => `pulumi config set --stack local --path 'gateKnownDefects[${i}]' '<check name> -> <status> <text the answer contains>: <reason>'`;

    it("an entry naming a check of the stack's spec, with status, text and reason, is accepted and reaches the gate and the plan", async () => {
        const { problems, settings } = validateStack("local", { set: { gateKnownDefects: [PACK] } });
        assert.deepEqual(problems, []);
        const defect = { check: "generate pack", status: 500, contains: "PACK_SAVE_FAILED", reason: "the pack service stores a nil normalization_warnings (summary_pack_service.go)" };
        assert.deepEqual(settings.knownDefects, [defect]);
        assert.deepEqual(settings.releaseSteps.gate.stack?.knownDefects, [defect], "bound to the backend's spec");
        assert.equal(settings.releaseSteps.frontendGate.stack?.knownDefects, undefined, "not to the frontend's, which has no such check");
        const run = await runStack("local", { preview: true, set: { gateKnownDefects: [PACK] } });
        assert.match(run.outputs.releasePlan, /\nKNOWN APP DEFECTS \(gateKnownDefects, declared: .*\):\n  generate pack -> 500 PACK_SAVE_FAILED\n    reason: the pack service stores a nil normalization_warnings \(summary_pack_service\.go\)\n/);
        assert.match(run.outputs.releasePlan, /POST \/api\/v1\/packs\/generate -> 200  \(generate pack\)  \[once; known defect declared: 500 PACK_SAVE_FAILED; creates summary pack \$\{pack_id\}\]/);
    });

    it("refuses, in one error, an entry naming no check of the stack's specs, or lacking the status, the text or the reason", () => {
        const { problems } = validateStack("local", {
            set: { gateKnownDefects: ["generate pak -> 500 PACK_SAVE_FAILED: typo", "generate pack -> PACK_SAVE_FAILED: no status", "generate pack -> 500 PACK_SAVE_FAILED", "generate pack -> 500 : no text", "generate pack 500 X: no arrow"] },
        });
        assert.deepEqual(problems.map((p) => p.key), [0, 1, 2, 3, 4].map((i) => `gateKnownDefects[${i}]`));
        assert.deepEqual(problems.map((p) => p.fix), [0, 1, 2, 3, 4].map(FIX));
        assert.match(problems[0].problem, /^names the check "generate pak", which no gate spec of this stack has \(checks\/kifu\.smoke\.yaml: health, .*generate pack, latest pack, pack by id; checks\/kifu\.frontend\.yaml: .*\)$/);
        assert.equal(problems[1].problem, 'must be "<check name> -> <status> <text the answer contains>: <reason>": names no HTTP status after " -> "');
        assert.equal(problems[2].problem, 'must be "<check name> -> <status> <text the answer contains>: <reason>": gives no reason after ": " (the app\'s bug, where it is, who decided)');
        assert.equal(problems[3].problem, 'must be "<check name> -> <status> <text the answer contains>: <reason>": names no text the answer contains after the status');
        assert.equal(problems[4].problem, 'must be "<check name> -> <status> <text the answer contains>: <reason>": names no check before " -> "');
    });
});

describe("YAML files parsed once per content", () => {
    it("serves an edited file fresh, and each caller its own copy", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gh-yaml-"));
        const file = path.join(dir, "spec.yaml");
        fs.writeFileSync(file, "checks:\n  - name: health\n");
        const first = parseYamlFile(file) as { checks: { name: string }[] };
        first.checks.push({ name: "changed by a caller" });
        assert.deepEqual(parseYamlFile(file), { checks: [{ name: "health" }] }, "a caller's change does not reach the next one");
        // Same size, written within the same millisecond: only the content tells them apart.
        fs.writeFileSync(file, "checks:\n  - name: healtH\n");
        assert.deepEqual(parseYamlFile(file), { checks: [{ name: "healtH" }] });
    });
});
