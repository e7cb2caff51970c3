import { readProjectFile } from "../components/config/declarations";
import { runGate } from "../components/release/gate";
import { bindGateSpec } from "../components/release/gateBinding";
import { formatGateReport } from "../components/release/gateReport";
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
        config: { value: "<key>=<value>", meaning: "a stack config value the spec's `when`s read (unset keys take Pulumi.yaml's defaults); repeatable" },
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
    const defaults = Object.fromEntries(Object.entries(readProjectFile().declarations).map(([key, decl]) => [key, decl.default]));
    const bound = bindGateSpec(readGateSpec(specFile), {
        config: { ...defaults, ...pairs(values.config ?? [], "--config") },
        env: pairs(values.env ?? [], "--env"),
        hiddenEnv: [],
    });
    if (bound.problems.length > 0) throw new Error(`${specFile}: ${bound.problems.join("; ")}`);
    const missing = bound.secrets.filter((key) => !process.env[key]);
    if (missing.length > 0) throw new Error(`${specFile} needs the secret(s) ${missing.join(", ")} here: set the environment variable(s) of the same name (never a flag: it would show in the process list)`);
    const secrets = Object.fromEntries(bound.secrets.map((key) => [key, process.env[key]!]));
    const report = await runGate(baseUrl, bound.spec, { release: values.release !== undefined ? releaseId(values.release, USAGE) : process.env.GATEHOUSE_RELEASE ?? "manual", secrets, online: values.offline ? false : undefined });
    const text = formatGateReport(baseUrl, report);
    if (!report.passed) throw new Error(text);
    console.log(text);
});

function pairs(entries: string[], flag: string): Record<string, string> {
    return Object.fromEntries(
        entries.map((entry) => {
            const at = entry.indexOf("=");
            if (at <= 0) throw new UsageError(`${flag} ${JSON.stringify(entry)}: expected <name>=<value>\nusage: ${USAGE}`);
            return [entry.slice(0, at), entry.slice(at + 1)];
        }),
    );
}
