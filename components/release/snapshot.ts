import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { libpqTarget, redactUrl, runTool, withClient } from "./pgTools";

/** What a snapshot is, recorded next to it as `<file>.json`. */
export interface SnapshotRecord {
    file: string;
    label: string;
    database: string;
    sizeBytes: number;
    sha256: string;
    createdAt: string;
    /** Tables whose data the dump holds, from `pg_restore --list`. */
    tables: number;
}

export interface SnapshotOptions {
    databaseUrl: string;
    outDir: string;
    /** Names the snapshot: the release id. */
    label: string;
    /** Keep this many verified snapshots in outDir; older ones are deleted. @default 10 */
    keep?: number;
}

/**
 * `pg_dump -Fc` into outDir, checked readable with `pg_restore --list` before it
 * counts, recorded with size and sha256. A dump that fails the check is
 * deleted and the release stops; older snapshots are pruned only after a new
 * one is verified, and the newest good one is never pruned.
 */
export async function takeSnapshot(options: SnapshotOptions): Promise<SnapshotRecord> {
    fs.mkdirSync(options.outDir, { recursive: true });
    const label = options.label.replace(/[^A-Za-z0-9._-]/g, "_");
    const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
    const file = path.join(options.outDir, `${label}_${stamp}.dump`);
    const partial = `${file}.partial`;
    const { url, env } = libpqTarget(options.databaseUrl);
    try {
        await runTool("pg_dump", ["--format=custom", "--file", partial, url], env);
        const tables = await countTableData(partial);
        fs.renameSync(partial, file);
        const record: SnapshotRecord = {
            file,
            label: options.label,
            database: redactUrl(options.databaseUrl),
            sizeBytes: fs.statSync(file).size,
            sha256: await sha256File(file),
            createdAt: new Date().toISOString(),
            tables,
        };
        fs.writeFileSync(`${file}.json`, JSON.stringify(record, null, 2));
        pruneSnapshots(options.outDir, options.keep ?? 10);
        return record;
    } catch (err: any) {
        fs.rmSync(partial, { force: true });
        throw new Error(`snapshot of ${redactUrl(options.databaseUrl)} failed, so the release stops before any migration: ${err.message}`);
    }
}

async function countTableData(dumpFile: string): Promise<number> {
    const { stdout } = await runTool("pg_restore", ["--list", dumpFile], process.env);
    return stdout.split("\n").filter((line) => / TABLE DATA /.test(line)).length;
}

export function sha256File(file: string): Promise<string> {
    return new Promise((resolve, reject) => {
        const hash = crypto.createHash("sha256");
        fs.createReadStream(file)
            .on("data", (chunk) => hash.update(chunk))
            .on("error", reject)
            .on("end", () => resolve(hash.digest("hex")));
    });
}

/** The verified snapshots in a directory, newest first. */
export function listSnapshots(dir: string): SnapshotRecord[] {
    if (!fs.existsSync(dir)) return [];
    return fs
        .readdirSync(dir)
        .filter((f) => f.endsWith(".dump.json"))
        .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) as SnapshotRecord)
        .filter((r) => fs.existsSync(r.file))
        .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}

function pruneSnapshots(dir: string, keep: number): void {
    for (const old of listSnapshots(dir).slice(Math.max(1, keep))) {
        fs.rmSync(old.file, { force: true });
        fs.rmSync(`${old.file}.json`, { force: true });
    }
}

/**
 * Restores a snapshot into an EMPTY database, in one transaction. Refuses a
 * database that has tables: a restore never overwrites a live database.
 */
export async function restoreSnapshot(options: { snapshot: string; databaseUrl: string }): Promise<{ tables: number }> {
    if (!fs.existsSync(options.snapshot)) throw new Error(`snapshot ${options.snapshot} does not exist`);
    const manifest = `${options.snapshot}.json`;
    if (fs.existsSync(manifest)) {
        const record = JSON.parse(fs.readFileSync(manifest, "utf8")) as SnapshotRecord;
        const actual = await sha256File(options.snapshot);
        if (actual !== record.sha256) {
            throw new Error(`snapshot ${options.snapshot} does not match its recorded sha256 (${record.sha256.slice(0, 12)} vs ${actual.slice(0, 12)}); it is damaged`);
        }
    }
    const existing = await userTableCount(options.databaseUrl);
    if (existing > 0) {
        throw new Error(
            `${redactUrl(options.databaseUrl)} already has ${existing} table(s); restore only into a new, empty database ` +
                `(e.g. createdb <name>_restored) and never over a live one`,
        );
    }
    const { url, env } = libpqTarget(options.databaseUrl);
    await runTool("pg_restore", ["--exit-on-error", "--single-transaction", "--no-owner", "--no-privileges", "--dbname", url, options.snapshot], env);
    return { tables: await userTableCount(options.databaseUrl) };
}

async function userTableCount(databaseUrl: string): Promise<number> {
    return withClient(databaseUrl, async (client) => {
        const { rows } = await client.query(
            "SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace " +
                "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'",
        );
        return rows[0].n;
    });
}
