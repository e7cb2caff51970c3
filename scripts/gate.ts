import { KeyDeclaration, decodeValue, readProjectFile } from "../components/config/declarations";
import { runGate } from "../components/release/gate";
import { bindGateSpec } from "../components/release/gateBinding";
import { parseKnownDefect } from "../components/release/gateDefects";
import { formatGateReport } from "../components/release/gateReport";
import type { GateSpec } from "../components/release/gateSchema";
import { readGateSpec } from "../components/release/gateSpec";
import { UsageError, baseUrl as checkedBaseUrl, parseCli, releaseId, required, runCli } from "./lib/cli";
import { CliHelp } from "./lib/flags";

const HELP: CliHelp = {
    usage: "npm run gate -- --base-url <url> --spec <file> [--release <id>] [--config <key>=<value>]... [--env <NAME>=<value>]... [--offline]",
    about: [
        "Runs a gate spec's checks against the app, as the release's health gate does; exit 1 with the report when one fails",
        "or the spec's deadline passes. Secrets the spec's vars name (e.g. KIFU_SMOKE_PASSWORD) are read from the environment",
        "variable of the same name, never from a flag (a flag shows in the process list).",
    ].join("\n"),
    flags: {
        "base-url": { note: "required" },
        spec: { value: "<file>", meaning: "the gate spec (YAML), e.g. checks/kifu.smoke.yaml" },
        release: { note: "the spec's ${release}; default GATEHOUSE_RELEASE, else manual" },
        config: {
            value: "<key>=<value>",
            meaning: "a stack config value the spec reads: target, environment, appFeatures='[\"readyz\"]', gateKnownDefects (a list as JSON); unset keys take Pulumi.yaml's defaults, and the run says which it assumed; repeatable",
        },
        env: { value: "<NAME>=<value>", meaning: "a backend env value the spec's `when`s read (not given: unset); repeatable" },
        offline: { meaning: "report external checks as not run without probing the internet" },
    },
    example: "KIFU_SMOKE_EMAIL=... KIFU_SMOKE_PASSWORD=... npm run gate -- --base-url https://kifu.example.com:8443 --spec checks/kifu.smoke.yaml --env AI_REQUIRE_ALLOWLIST=true",
};
const USAGE = HELP.usage;

runCli("gate", async () => {
    const { values } = parseCli(HELP, {
        "base-url": { type: "string" },
        spec: { type: "string" },
        release: { type: "string" },
        config: { type: "string", multiple: true },
        env: { type: "string", multiple: true },
        offline: { type: "boolean" },
    });
    const baseUrl = checkedBaseUrl(required(values["base-url"], "--base-url", USAGE), USAGE);
    const specFile = required(values.spec, "--spec", USAGE);
    const declarations = readProjectFile().declarations;
    const defaults = Object.fromEntries(Object.entries(declarations).map(([key, decl]) => [key, decl.default]));
    const release = values.release !== undefined ? releaseId(values.release, USAGE) : process.env.GATEHOUSE_RELEASE ?? "manual";
    const given = configValues(pairs(values.config ?? [], "--config"), declarations);
    const spec = readGateSpec(specFile);
    checkKnownDefects(given.gateKnownDefects, spec, specFile);
    // As the stack binds it: the frontend's build is the release's unless frontendBuildId says otherwise.
    const bound = bindGateSpec(spec, { config: { ...defaults, frontendBuildId: release, ...given }, env: pairs(values.env ?? [], "--env"), hiddenEnv: [] });
    if (bound.problems.length > 0) throw new Error(`${specFile}: ${bound.problems.join("; ")}`);
    // Never a silent target: which stack the run stands for decides what runs (the AWS defaults once ran 1 check of 7 and said "passed").
    for (const line of assumptions(given, defaults, bound.spec)) process.stderr.write(`gate: ${line}\n`);
    const missing = bound.secrets.filter((key) => !process.env[key]);
    if (missing.length > 0) throw new Error(`${specFile} needs the secret(s) ${missing.join(", ")} here: set the environment variable(s) of the same name (never a flag: it would show in the process list)`);
    const secrets = Object.fromEntries(bound.secrets.map((key) => [key, process.env[key]!]));
    const report = await runGate(baseUrl, bound.spec, { release, secrets, online: values.offline ? false : undefined });
    const text = formatGateReport(baseUrl, report);
    if (!report.passed) throw new Error(text);
    console.log(text);
});

/** The --config values decoded by their declared type (a list as JSON: --config 'appFeatures=["readyz"]'). */
function configValues(raw: Record<string, string>, declarations: Record<string, KeyDeclaration>): Record<string, unknown> {
    return Object.fromEntries(
        Object.entries(raw).map(([key, value]) => {
            const decl = declarations[key];
            if (!decl) throw new UsageError(`--config ${key}: not a Gatehouse config key (Pulumi.yaml declares them)\nusage: ${USAGE}`);
            const decoded = decodeValue(decl.type, value);
            if ("error" in decoded) throw new UsageError(`--config ${key}: ${decoded.error}${decl.type === "array" ? ` (a JSON list, e.g. ${key}='["a","b"]')` : ""}\nusage: ${USAGE}`);
            return [key, decoded.value];
        }),
    );
}

/** A declared defect that names no check of this spec, or is not of the form, would excuse nothing: refused, as the stack's validation does. */
function checkKnownDefects(entries: unknown, spec: GateSpec, specFile: string): void {
    for (const entry of Array.isArray(entries) ? entries : []) {
        const parsed = parseKnownDefect(String(entry));
        if ("error" in parsed) throw new UsageError(`--config gateKnownDefects: ${JSON.stringify(entry)} ${parsed.error}\nusage: ${USAGE}`);
        if (!spec.checks.some((c) => c.name === parsed.defect.check)) throw new UsageError(`--config gateKnownDefects: ${JSON.stringify(entry)} names no check of ${specFile}`);
    }
}

/** What the run assumed, where --config did not say: the target always, and every other config value the spec reads. */
function assumptions(given: Record<string, unknown>, defaults: Record<string, unknown>, spec: GateSpec): string[] {
    const lines = "target" in given ? [] : [`no --config target=aws|local given: assumed target=${defaults.target} (Pulumi.yaml's default)`];
    const read = [...Object.keys(spec.stack?.config ?? {}), ...(spec.stack?.features !== undefined ? ["appFeatures"] : [])].filter((k) => k !== "target" && !(k in given));
    if (read.length > 0) lines.push(`the spec reads, not given with --config, Pulumi.yaml's defaults: ${read.map((k) => `${k}=${JSON.stringify(defaults[k])}`).join(", ")}`);
    return lines;
}

function pairs(entries: string[], flag: string): Record<string, string> {
    return Object.fromEntries(
        entries.map((entry) => {
            const at = entry.indexOf("=");
            if (at <= 0) throw new UsageError(`${flag} ${JSON.stringify(entry)}: expected <name>=<value>\nusage: ${USAGE}`);
            return [entry.slice(0, at), entry.slice(at + 1)];
        }),
    );
}
