import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

/** A migration file on disk, `NNN_name.sql`. */
export interface MigrationFile {
    /** The numeric prefix as written (`020`), which orders files and keys the tracking table. */
    version: string;
    /** The part after the prefix (`guided_review`). */
    name: string;
    file: string;
    path: string;
    sha256: string;
    sql: string;
    /** Declared with `-- gatehouse:no-transaction` (e.g. CREATE INDEX CONCURRENTLY). */
    noTransaction: boolean;
    /** Declared with `-- gatehouse:reviewed` after a person accepted its destructive operations. */
    reviewed: boolean;
}

const FILE_PATTERN = /^(\d+)_([A-Za-z0-9_.-]+)\.sql$/;
const NO_TRANSACTION = /^--\s*gatehouse:no-transaction\b/m;
const REVIEWED = /^--\s*gatehouse:reviewed\b/m;

/**
 * Lists the migration files of a directory in version order. Refuses a
 * directory with stray `.sql` files or two files of one version, since either
 * would make the applied order a guess.
 */
export function readMigrationDir(dir: string): MigrationFile[] {
    if (!fs.existsSync(dir)) throw new Error(`migrations directory ${dir} does not exist`);
    const files: MigrationFile[] = [];
    const problems: string[] = [];
    for (const file of fs.readdirSync(dir).sort()) {
        if (!file.endsWith(".sql")) continue;
        const match = FILE_PATTERN.exec(file);
        if (!match) {
            problems.push(`${file}: not named NNN_name.sql, so its place in the order is unknown; rename it`);
            continue;
        }
        const full = path.join(dir, file);
        const bytes = fs.readFileSync(full);
        const sql = bytes.toString("utf8");
        files.push({
            version: match[1],
            name: match[2],
            file,
            path: full,
            sha256: crypto.createHash("sha256").update(bytes).digest("hex"),
            sql,
            noTransaction: NO_TRANSACTION.test(sql),
            reviewed: REVIEWED.test(sql),
        });
    }
    files.sort((a, b) => compareVersions(a.version, b.version));
    for (let i = 1; i < files.length; i++) {
        if (compareVersions(files[i - 1].version, files[i].version) === 0) {
            problems.push(`${files[i - 1].file} and ${files[i].file} share version ${files[i].version}; renumber one`);
        }
    }
    if (problems.length > 0) throw new Error(`${dir}:\n  ${problems.join("\n  ")}`);
    return files;
}

/** Orders versions numerically, so 100 follows 099 and 1000 follows 999. */
export function compareVersions(a: string, b: string): number {
    const diff = BigInt(a) - BigInt(b);
    return diff < 0n ? -1 : diff > 0n ? 1 : 0;
}
