// `npm run migrate -- lint`: the migration lint of `pulumi preview`, for an
// app's own CI, so a risky migration is caught in the pull request that adds it.
// Exit codes: 0 nothing blocks, 1 blocking findings, 2 the lint could not run
// (bad usage, missing directory, unreadable file, database not reachable).
import * as fs from "fs";
import { parseArgs } from "util";
import { LintFinding, blockingFindings, lintMigrations } from "../components/release/lint";
import { MigrationFile, compareVersions, readMigrationDir } from "../components/release/migrationFiles";
import { helpText } from "./lib/flags";

const HELP = helpText({
    usage: "npm run migrate -- lint --dir <dir> [--baseline <version>] [--database-url <url>] [--json]",
    about: [
        "Lints migration files exactly as `pulumi preview` does: drops, truncates, renames,",
        "NOT NULL without a default, non-concurrent indexes on existing tables, and column type",
        "changes judged by PostgreSQL's rewrite rules (from what earlier files in the directory",
        "declared). A blocking finding fails unless the file carries the line -- gatehouse:reviewed.",
        "Exit: 0 nothing blocks (warnings allowed), 1 blocking findings, 2 the lint could not run.",
    ].join("\n"),
    flags: {
        dir: { note: "required" },
        baseline: { note: "those files are not linted" },
        "database-url": { note: "files its tracking table records as applied are not linted; DATABASE_URL is NOT read: pass it explicitly" },
        json: { note: "the findings" },
    },
    example: "npm run migrate -- lint --dir migrations --baseline 019   (an app's CI, before any database exists)",
});
const USAGE = "npm run migrate -- lint --dir <dir> [--baseline <version>] [--database-url <url>] [--json]";

class CannotLint extends Error {}

interface Skipped {
    file: string;
    reason: "baseline" | "applied";
}

/** Runs the lint command; resolves to the exit code. Throws CannotLint (exit 2) when it cannot lint. */
export async function lintCommand(args: string[], out: (text: string) => void = (t) => process.stdout.write(t)): Promise<number> {
    const flags = parseFlags(args);
    if (flags.help) {
        out(HELP);
        return 0;
    }
    const files = readDir(flags.dir);
    const skipped = await skippedFiles(flags.dir, files, flags.baseline, flags.databaseUrl);
    const skip = new Set(skipped.map((s) => s.file));
    const linted = files.filter((f) => !skip.has(f.file));
    const findings = await lintMigrations(linted, { history: files });
    const blocking = new Set(blockingFindings(findings, linted));
    const reviewed = new Set(files.filter((f) => f.reviewed).map((f) => f.file));
    out(flags.json ? jsonReport(flags.dir, linted, skipped, findings, blocking, reviewed) : textReport(linted, skipped, findings, blocking, reviewed));
    return blocking.size > 0 ? 1 : 0;
}

/** Entry point from scripts/migrate.ts: one message on stderr, never a stack trace. */
export function runLintCli(args: string[]): void {
    lintCommand(args).then(
        // Exit once stdout is flushed: a report of hundreds of lines into a pipe is written asynchronously.
        (code) => process.stdout.write("", () => process.exit(code)),
        (err: any) => {
            process.stderr.write(`migrate lint: ${err?.message ?? err}\n`);
            process.exit(2);
        },
    );
}

function parseFlags(args: string[]) {
    let parsed;
    try {
        parsed = parseArgs({
            args,
            allowPositionals: true,
            strict: true,
            options: {
                dir: { type: "string" },
                baseline: { type: "string" },
                "database-url": { type: "string" },
                json: { type: "boolean" },
                help: { type: "boolean", short: "h" },
            },
        });
    } catch (err: any) {
        throw new CannotLint(`${err.message}\nusage: ${USAGE} (--help for more)`);
    }
    const { values, positionals } = parsed;
    if (values.help) return { help: true as const, dir: "", json: false };
    if (positionals.length > 0) throw new CannotLint(`unexpected argument ${JSON.stringify(positionals[0])}\nusage: ${USAGE}`);
    if (!values.dir) throw new CannotLint(`--dir is required\nusage: ${USAGE}`);
    if (values.baseline !== undefined && !/^\d+$/.test(values.baseline)) throw new CannotLint(`--baseline must be a version prefix such as 019, got ${JSON.stringify(values.baseline)}`);
    return { help: false as const, dir: values.dir, baseline: values.baseline, databaseUrl: values["database-url"], json: values.json ?? false };
}

/** The directory's files, or one clear sentence on why they cannot be read. */
function readDir(dir: string): MigrationFile[] {
    const stat = fs.statSync(dir, { throwIfNoEntry: false });
    if (!stat) throw new CannotLint(`migrations directory ${dir} does not exist`);
    if (!stat.isDirectory()) throw new CannotLint(`${dir} is not a directory`);
    let files: MigrationFile[];
    try {
        files = readMigrationDir(dir);
    } catch (err: any) {
        const reasons: Record<string, string> = { EACCES: "permission denied", ENOENT: "no such file (a dangling link?)", EISDIR: "it is a directory", ELOOP: "too many symbolic links" };
        throw new CannotLint(err?.code && err.path ? `cannot read ${err.path}: ${reasons[err.code] ?? err.code}` : String(err?.message ?? err));
    }
    if (files.length === 0) throw new CannotLint(`no NNN_name.sql files in ${dir}: nothing to lint (wrong --dir?)`);
    return files;
}

/** Files not to lint: at or below the baseline, or recorded in the tracking table (an applied file cannot be reviewed any more). */
async function skippedFiles(dir: string, files: MigrationFile[], baseline: string | undefined, databaseUrl: string | undefined): Promise<Skipped[]> {
    const skipped: Skipped[] = baseline === undefined ? [] : files.filter((f) => compareVersions(f.version, baseline) <= 0).map((f) => ({ file: f.file, reason: "baseline" as const }));
    if (!databaseUrl) return skipped;
    const { migrationStatus } = await import("../components/release/runner");
    let rows;
    try {
        rows = await migrationStatus({ databaseUrl, dir, connectTimeoutMs: 5000 });
    } catch (err: any) {
        throw new CannotLint(`cannot read the tracking table at ${redacted(databaseUrl)}: ${err?.message ?? err}`);
    }
    const done = new Set(skipped.map((s) => s.file));
    for (const r of rows) {
        if ((r.state === "applied" || r.state === "baseline") && !done.has(r.file)) skipped.push({ file: r.file, reason: r.state === "baseline" ? "baseline" : "applied" });
    }
    return skipped;
}

function redacted(url: string): string {
    try {
        const u = new URL(url);
        if (u.password) u.password = "***";
        return u.toString();
    } catch {
        return "the given --database-url";
    }
}

function severity(f: LintFinding, blocking: Set<LintFinding>, reviewed: Set<string>): "BLOCKING" | "reviewed" | "warning" {
    return blocking.has(f) ? "BLOCKING" : f.destructive && reviewed.has(f.file) ? "reviewed" : "warning";
}

function textReport(linted: MigrationFile[], skipped: Skipped[], findings: LintFinding[], blocking: Set<LintFinding>, reviewed: Set<string>): string {
    const lines = findings.map((f) => `${f.file}:${f.line}: ${severity(f, blocking, reviewed)}: ${f.operation}: ${f.risk}`);
    const count = (reason: Skipped["reason"]) => skipped.filter((s) => s.reason === reason).length;
    const skips = [count("baseline") && `${count("baseline")} at or below the baseline`, count("applied") && `${count("applied")} already applied`].filter(Boolean);
    const warnings = findings.filter((f) => severity(f, blocking, reviewed) === "warning").length;
    const accepted = findings.filter((f) => severity(f, blocking, reviewed) === "reviewed").length;
    lines.push(
        `linted ${linted.length} file(s)${skips.length ? ` (skipped ${skips.join(", ")})` : ""}: ${blocking.size} blocking, ${warnings} warning(s)${accepted ? `, ${accepted} accepted in reviewed files` : ""}`,
    );
    if (blocking.size > 0) lines.push(`blocked: change the migration, or have it reviewed and add the line "-- gatehouse:reviewed" to the file`);
    return lines.join("\n") + "\n";
}

function jsonReport(dir: string, linted: MigrationFile[], skipped: Skipped[], findings: LintFinding[], blocking: Set<LintFinding>, reviewed: Set<string>): string {
    const report = {
        dir,
        linted: linted.map((f) => f.file),
        skipped,
        blocking: blocking.size,
        findings: findings.map((f) => ({
            file: f.file,
            line: f.line,
            severity: f.destructive ? "blocking" : "warning",
            reviewed: reviewed.has(f.file),
            blocks: blocking.has(f),
            operation: f.operation,
            risk: f.risk,
            ...(f.typeChange ? { typeChange: f.typeChange } : {}),
        })),
    };
    return JSON.stringify(report, null, 2) + "\n";
}
