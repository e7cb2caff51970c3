import { formatGateReport, runGate } from "../components/release/gate";
import { readGateSpec } from "../components/release/gateSpec";
import { parseCli, required, runCli } from "./lib/cli";

const USAGE = "npm run gate -- --base-url <url> --spec <file> [--release <id>]";

runCli("gate", async () => {
    const { values } = parseCli(USAGE, { "base-url": { type: "string" }, spec: { type: "string" }, release: { type: "string" } });
    const baseUrl = required(values["base-url"], "--base-url", USAGE);
    const report = await runGate(baseUrl, readGateSpec(required(values.spec, "--spec", USAGE)), { release: values.release ?? "manual" });
    const text = formatGateReport(baseUrl, report);
    if (!report.passed) throw new Error(text);
    console.log(text);
});
